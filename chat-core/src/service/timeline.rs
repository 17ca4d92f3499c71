//! A room's timeline as clients see it: stored items (messages and notices) turned into
//! their wire form, and published to every node with the membership change a notice
//! carries.
//!
//! Every path that turns a stored item into an event goes through here (a send, a change
//! to the room, and anything that re-reads the store to deliver what was missed), so a
//! notice always moves subscriptions the same way: a member who joins is subscribed before
//! the notice is delivered (they see it), one who leaves or is removed is unsubscribed
//! after (they see it, then nothing more from that room).

use chat_proto::{Base64Bytes, Content, ErrorBody, ErrorCode, Event, Message, MessageBody, Notice};

use super::Inner;
use super::connection::event_payload;
use super::reply::{key_failed, refuse};
use crate::broker::{BrokerEvent, MembershipChange, RoomEvent};
use crate::keyring::{KeyRing, Sealed};
use crate::store::{StoredBody, StoredMessage};

/// Opens a stored item into its wire form (decrypting a text body).
pub(crate) fn open_item(keys: &KeyRing, stored: &StoredMessage) -> Result<Message, ErrorBody> {
    let content = match &stored.body {
        StoredBody::Text(body) => {
            let sealed = Sealed {
                key_id: body.key_id,
                nonce: body.nonce.clone(),
                ciphertext: body.ciphertext.clone(),
            };
            let plain = keys
                .open(stored.room_id, stored.sender.id, &stored.client_msg_id, &sealed)
                .map_err(key_failed)?;
            let body = String::from_utf8(plain)
                .ok()
                .and_then(|text| MessageBody::parse(&text).ok())
                .ok_or_else(|| refuse(ErrorCode::Internal, "a stored message cannot be read"))?;
            Content::Text { body }
        }
        StoredBody::Notice(notice) => Content::Notice {
            notice: notice.clone(),
        },
        StoredBody::Mls { bytes, commit } => {
            let mls = Base64Bytes::new(bytes.clone())
                .map_err(|_| refuse(ErrorCode::Internal, "a stored message cannot be read"))?;
            if *commit {
                Content::MlsCommit { mls }
            } else {
                Content::Mls { mls }
            }
        }
    };
    Ok(wire_item(stored, content))
}

/// The wire form of a stored item whose content is already known (a message just sent:
/// no need to decrypt what the sender gave).
pub(crate) fn wire_item(stored: &StoredMessage, content: Content) -> Message {
    Message {
        id: stored.id,
        room_id: stored.room_id,
        seq: stored.seq,
        sender: stored.sender.clone(),
        client_msg_id: stored.client_msg_id,
        sent_at: stored.sent_at,
        device_id: stored.device_id,
        content,
    }
}

/// The subscription change a timeline item makes on every node.
pub(crate) fn membership_of(stored: &StoredMessage) -> Option<MembershipChange> {
    let StoredBody::Notice(notice) = &stored.body else {
        return None;
    };
    match notice {
        Notice::Created { .. } => Some(MembershipChange::Joined(stored.sender.id)),
        Notice::Joined { user } => Some(MembershipChange::Joined(user.id)),
        Notice::Left { user } | Notice::Removed { user } | Notice::Banned { user } => {
            Some(MembershipChange::Left(user.id))
        }
        _ => None,
    }
}

/// The broker event that delivers `message` (the wire form of `stored`) to the room.
pub(crate) fn room_event(stored: &StoredMessage, message: Message) -> BrokerEvent {
    BrokerEvent::Room(RoomEvent {
        room_id: stored.room_id,
        payload: event_payload(Event::Message { message }),
        membership: membership_of(stored),
        skip_user: None,
        seq: Some(stored.seq),
    })
}

/// Publishes stored notices to every node, in order. Stored is what matters: a member who
/// misses one gets it by resuming.
pub(crate) async fn publish_notices(inner: &Inner, notices: &[StoredMessage]) {
    for stored in notices {
        let message = match open_item(&inner.keys, stored) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(error = %e, room = %stored.room_id, "a stored notice cannot be read");
                continue;
            }
        };
        if let Some(change) = membership_of(stored) {
            // This node's own connections move at once, before the event can reach them.
            match change {
                MembershipChange::Joined(user) => {
                    inner
                        .hub
                        .subscribe_user(user, stored.room_id, stored.seq.saturating_sub(1))
                }
                MembershipChange::Left(_) => {}
            }
        }
        if let Err(e) = inner.broker.publish(room_event(stored, message)).await {
            tracing::warn!(error = %e, room = %stored.room_id, "a room change was stored but not published");
        }
        if let Some(MembershipChange::Left(user)) = membership_of(stored) {
            // Also here, in case the broker could not carry the change.
            inner.hub.unsubscribe_user(user, stored.room_id);
        }
    }
}
