//! The delivery service of end-to-end encrypted rooms: the server orders, stores and fans
//! out MLS messages it cannot read.
//!
//! Rules:
//! - An encrypted room's group is created once, by one device of a member
//!   (`create_group`); later devices are added by a member's commit and join with its
//!   Welcome.
//! - `send_mls` takes an application message or a commit of this connection's device. The
//!   server reads its framing only: the group must be the room's, and the epoch the room's
//!   current one (`stale_epoch` otherwise: the client processes what it missed and makes the
//!   message again). A commit moves the room to the next epoch in the same transaction, so
//!   there is exactly one commit per epoch and the group never forks. Standalone proposals
//!   are refused: changes travel inside commits.
//! - A commit that adds devices carries their Welcome; each device gets it (`welcome`
//!   event, `list_welcomes`) until it acknowledges it.
//! - Plain text cannot be sent to an encrypted room (`room_encrypted`).

use chat_proto::{
    Base64Bytes, ClientMsgId, ErrorCode, Event, OutgoingWelcome, Response, RoomId, Visibility, Welcome,
};

use super::connection::{Connection, event_payload};
use super::now_ms;
use super::reply::{Reply, no_such_room, not_member, refuse, store_failed};
use super::rules;
use super::timeline::{open_item, room_event};
use crate::broker::BrokerEvent;
use crate::mls_framing::{self, MessageKind};
use crate::store::{MlsOutcome, NewMlsItem, StoreError, WelcomeRecord};

fn welcome_view(record: WelcomeRecord) -> Result<Welcome, chat_proto::ErrorBody> {
    Ok(Welcome {
        id: record.id,
        room_id: record.room_id,
        device_id: record.device_id,
        seq: record.seq,
        mls: Base64Bytes::new(record.bytes)
            .map_err(|_| refuse(ErrorCode::Internal, "a stored welcome cannot be read"))?,
    })
}

impl Connection {
    pub(super) async fn create_group(&mut self, room_id: RoomId) -> Reply {
        self.my_device()?;
        let joined = self.member_room(room_id).await?;
        rules::encrypted_only(&joined.room)?;
        let created = self
            .inner
            .store
            .create_group(room_id)
            .await
            .map_err(store_failed)?;
        if created {
            Ok(Response::Ok)
        } else {
            Err(refuse(
                ErrorCode::GroupExists,
                "this room's group exists: a member's device will add yours",
            ))
        }
    }

    pub(super) async fn send_mls(
        &mut self,
        room_id: RoomId,
        client_msg_id: ClientMsgId,
        mls: Base64Bytes,
        welcome: Option<OutgoingWelcome>,
    ) -> Reply {
        let me = self.me()?.id;
        let device = self.my_device()?;
        let framing = mls_framing::read_protocol_message(mls.as_bytes())
            .map_err(|e| refuse(ErrorCode::InvalidMls, e.to_string()))?;
        if framing.group_id != mls_framing::room_group_id(room_id) {
            return Err(refuse(
                ErrorCode::InvalidMls,
                "this MLS message is for another group",
            ));
        }
        let commit = match framing.kind {
            MessageKind::Application => false,
            MessageKind::Commit => true,
            MessageKind::Proposal => {
                return Err(refuse(
                    ErrorCode::InvalidMls,
                    "standalone proposals are not taken: put changes in a commit",
                ));
            }
        };
        let welcome = match welcome {
            Some(_) if !commit => {
                return Err(refuse(ErrorCode::InvalidMls, "only a commit carries a welcome"));
            }
            Some(welcome) => {
                mls_framing::check_welcome(welcome.mls.as_bytes())
                    .map_err(|e| refuse(ErrorCode::InvalidMls, e.to_string()))?;
                Some((welcome.mls.into_bytes(), welcome.device_ids))
            }
            None => None,
        };
        let item = NewMlsItem {
            room_id,
            sender_id: me,
            device_id: device,
            client_msg_id,
            bytes: mls.into_bytes(),
            commit,
            epoch: framing.epoch,
            welcome,
            sent_at: now_ms(),
        };
        let outcome = self.inner.store.append_mls(&item).await.map_err(|e| match e {
            StoreError::NotFound(_) => no_such_room(),
            e => store_failed(e),
        })?;
        let stored = match outcome {
            MlsOutcome::Inserted(stored) => stored,
            MlsOutcome::Existing(stored) if stored.room_id != room_id => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "this client_msg_id was already used for a message in another room",
                ));
            }
            MlsOutcome::Existing(stored) => {
                return Ok(Response::Message {
                    message: open_item(&self.inner.keys, &stored)?,
                });
            }
            MlsOutcome::NotMember(Visibility::Public) => return Err(not_member()),
            MlsOutcome::NotMember(Visibility::Private) => return Err(no_such_room()),
            MlsOutcome::NoGroup { encrypted: false } => return Err(rules::not_encrypted()),
            MlsOutcome::NoGroup { encrypted: true } => {
                return Err(refuse(
                    ErrorCode::StaleEpoch,
                    "this room's group was not created yet: create_group first",
                ));
            }
            MlsOutcome::StaleEpoch { current } => {
                return Err(refuse(
                    ErrorCode::StaleEpoch,
                    format!(
                        "the room's group is at epoch {current}, not {}: process its newer items and try again",
                        item.epoch
                    ),
                ));
            }
            MlsOutcome::NotAMemberDevice(device) => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    format!("device {device} does not belong to a member of this room"),
                ));
            }
        };
        let message = open_item(&self.inner.keys, &stored)?;
        self.inner
            .metrics
            .messages_stored
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = self
            .inner
            .broker
            .publish(room_event(&stored, message.clone()))
            .await
        {
            tracing::warn!(error = %e, room = %room_id, "an MLS message was stored but not published");
        }
        if let Some((bytes, devices)) = &item.welcome {
            self.deliver_welcomes(room_id, stored.seq, bytes, devices).await;
        }
        Ok(Response::Message { message })
    }

    /// Pushes the stored Welcomes of a commit to their devices' users (each device picks
    /// its own; the rest is in `list_welcomes`).
    async fn deliver_welcomes(
        &self,
        room_id: RoomId,
        seq: u64,
        bytes: &[u8],
        devices: &[chat_proto::DeviceId],
    ) {
        for &device in devices {
            let record = match self.inner.store.list_welcomes(device).await {
                Ok(list) => list.into_iter().find(|w| w.room_id == room_id && w.seq == seq),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a welcome back");
                    None
                }
            };
            let Some(record) = record else { continue };
            let owner = match self.inner.store.get_device(device).await {
                Ok(Some(owner)) => owner.user.id,
                _ => continue,
            };
            debug_assert_eq!(record.bytes, bytes);
            let Ok(welcome) = welcome_view(record) else {
                continue;
            };
            let event = BrokerEvent::Users {
                user_ids: vec![owner].into(),
                payload: event_payload(Event::Welcome { welcome }),
            };
            if let Err(e) = self.inner.broker.publish(event).await {
                tracing::warn!(error = %e, "a welcome was stored but not pushed");
            }
        }
    }

    pub(super) async fn list_welcomes(&mut self) -> Reply {
        self.me()?;
        let device = self.my_device()?;
        let welcomes = self
            .inner
            .store
            .list_welcomes(device)
            .await
            .map_err(store_failed)?
            .into_iter()
            .map(welcome_view)
            .collect::<Result<_, _>>()?;
        Ok(Response::Welcomes { welcomes })
    }

    pub(super) async fn ack_welcome(&mut self, welcome_id: u64) -> Reply {
        self.me()?;
        let device = self.my_device()?;
        let found = self
            .inner
            .store
            .ack_welcome(device, welcome_id)
            .await
            .map_err(store_failed)?;
        if found {
            Ok(Response::Ok)
        } else {
            Err(refuse(ErrorCode::NotFound, "no such welcome for this device"))
        }
    }
}
