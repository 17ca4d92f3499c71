//! Messages: send (idempotent, durable before the answer), history, resume, read markers,
//! typing.
//!
//! A message event goes to every connection subscribed to the room, the sender's own
//! connections included (a client recognises its own message by `client_msg_id`). Events of
//! one room can arrive out of `seq` order when members send at the same moment; a client
//! that sees a gap asks `resume_room` for it.

use std::sync::Arc;

use chat_proto::{
    ClientMsgId, Content, ErrorBody, ErrorCode, Event, MAX_PAGE_BYTES, Message, MessageBody, Response,
    RoomId, Seq, Visibility,
};
use tokio::sync::oneshot;

use super::Inner;
use super::connection::{Connection, event_payload};
use super::now_ms;
use super::reply::{Reply, no_such_room, not_member, refuse, store_failed};
use super::timeline::{open_item, room_event, wire_item};
use crate::broker::{BrokerEvent, RoomEvent};
use crate::store::{InsertOutcome, NewMessage, PageFrom, SealedBody, StoreError};

impl Connection {
    pub(super) async fn send_message(
        &mut self,
        room_id: RoomId,
        client_msg_id: ClientMsgId,
        body: MessageBody,
    ) -> Reply {
        self.start_send(room_id, client_msg_id, body).await?.await
    }

    /// The part of a send that needs the connection: membership, sealing, queueing for the
    /// store. The returned future waits for the commit, publishes and answers.
    pub(super) async fn start_send(
        &mut self,
        room_id: RoomId,
        client_msg_id: ClientMsgId,
        body: MessageBody,
    ) -> Result<impl Future<Output = Reply> + Send + 'static, ErrorBody> {
        // Membership is checked by the store, in the transaction that stores the message.
        let me = self.me()?.id;
        let sealed = self
            .inner
            .keys
            .seal(room_id, me, &client_msg_id, body.as_str().as_bytes());
        let new = NewMessage {
            room_id,
            sender_id: me,
            client_msg_id,
            body: SealedBody {
                key_id: sealed.key_id,
                nonce: sealed.nonce,
                ciphertext: sealed.ciphertext,
            },
            sent_at: now_ms(),
        };
        let queued = self.inner.store.queue_message(new);
        let inner = Arc::clone(&self.inner);
        // Sends of one connection may be in flight together and their futures polled in
        // any order; each publishes only after the one before it, so members receive a
        // sender's messages in the order they were sent (and stored).
        let (published, next) = oneshot::channel::<()>();
        let previous = self.last_publish.replace(next);
        Ok(async move {
            let outcome = queued.await;
            if let Some(previous) = previous {
                // Err: the previous send ended without publishing; nothing to wait for.
                let _ = previous.await;
            }
            finish_send(&inner, room_id, body, outcome, published).await
        })
    }

    pub(super) async fn history(
        &mut self,
        room_id: RoomId,
        before_seq: Option<Seq>,
        after_seq: Option<Seq>,
        limit: u32,
    ) -> Reply {
        self.member_room(room_id).await?;
        let from = match (before_seq, after_seq) {
            (Some(_), Some(_)) => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "history takes `before_seq` or `after_seq`, not both",
                ));
            }
            (Some(before), None) => PageFrom::Before(before),
            (None, Some(after)) => PageFrom::After(after),
            (None, None) => PageFrom::Latest,
        };
        let max = self.inner.config.max_page_size.max(1);
        if limit == 0 || limit > max {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                format!("`limit` must be between 1 and {max}"),
            ));
        }
        let (messages, has_more) = self.open_page(room_id, from, limit).await?;
        Ok(Response::Messages {
            room_id,
            messages,
            has_more,
        })
    }

    pub(super) async fn resume_room(&mut self, room_id: RoomId, after_seq: Seq) -> Reply {
        self.member_room(room_id).await?;
        let limit = self.inner.config.max_page_size.max(1);
        let (messages, has_more) = self.open_page(room_id, PageFrom::After(after_seq), limit).await?;
        Ok(Response::Resumed {
            room_id,
            messages,
            complete: !has_more,
        })
    }

    /// Reads one page from the store and decrypts it; also says whether more lie beyond.
    async fn open_page(
        &self,
        room_id: RoomId,
        from: PageFrom,
        limit: u32,
    ) -> Result<(Vec<Message>, bool), ErrorBody> {
        let page = self
            .inner
            .store
            .messages_page(room_id, from, limit)
            .await
            .map_err(store_failed)?;
        let mut messages = page
            .messages
            .iter()
            .map(|m| open_item(&self.inner.keys, m))
            .collect::<Result<Vec<_>, _>>()?;
        let cut = within_page_bytes(&mut messages, from);
        Ok((messages, page.has_more || cut))
    }

    pub(super) async fn mark_read(&mut self, room_id: RoomId, seq: Seq) -> Reply {
        let me = self.me()?.id;
        self.member_room(room_id).await?;
        let marker = self
            .inner
            .store
            .mark_read(room_id, me, seq)
            .await
            .map_err(store_failed)?;
        match marker {
            Some(_) => Ok(Response::Ok),
            // Left the room between the check and the update.
            None => Err(super::reply::not_member()),
        }
    }

    pub(super) async fn typing(&mut self, room_id: RoomId) -> Reply {
        let me = self.me()?.clone();
        self.member_room(room_id).await?;
        let event = BrokerEvent::Room(RoomEvent {
            room_id,
            payload: event_payload(Event::Typing {
                room_id,
                user: me.clone(),
            }),
            membership: None,
            skip_user: Some(me.id),
            seq: None,
        });
        if !self.inner.broker.publish_ephemeral(event) {
            self.inner
                .metrics
                .ephemeral_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Response::Ok)
    }
}

/// Answers a send from its store outcome, and publishes a newly stored message.
/// `published` is dropped once the message event is handed to the broker, which lets the
/// connection's next send publish.
async fn finish_send(
    inner: &Inner,
    room_id: RoomId,
    body: MessageBody,
    outcome: Result<InsertOutcome, StoreError>,
    published: oneshot::Sender<()>,
) -> Reply {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(StoreError::NotFound(_)) => return Err(no_such_room()),
        Err(e) => return Err(store_failed(e)),
    };
    let (event, message, fresh) = match outcome {
        InsertOutcome::Existing(stored) if stored.room_id != room_id => {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "this client_msg_id was already used for a message in another room",
            ));
        }
        // A retry of a message stored the first time. It is published again: the first
        // attempt may have ended before publishing (its node died), and every node's hub
        // drops an item it has delivered already.
        InsertOutcome::Existing(stored) => {
            let message = open_item(&inner.keys, &stored)?;
            (room_event(&stored, message.clone()), message, false)
        }
        InsertOutcome::Inserted(stored) => {
            let message = wire_item(&stored, Content::Text { body });
            (room_event(&stored, message.clone()), message, true)
        }
        // A room the sender may not see answers as a missing one.
        InsertOutcome::NotMember(Visibility::Public) => return Err(not_member()),
        InsertOutcome::NotMember(Visibility::Private) => return Err(no_such_room()),
        InsertOutcome::RoomEncrypted => {
            return Err(refuse(
                ErrorCode::RoomEncrypted,
                "this room is end-to-end encrypted: send MLS messages (send_mls), not plain text",
            ));
        }
    };
    if fresh {
        inner
            .metrics
            .messages_stored
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if inner.config.crash_after_storing {
            tracing::error!(room = %room_id, "fault injection: dying after storing, before publishing");
            std::process::abort();
        }
    }
    let publishing = inner.broker.publish(event);
    drop(published);
    // Stored is what matters: a node that misses the event reads the item back from the
    // store (the gap filler), and a client that misses it gets it by resuming.
    if let Err(e) = publishing.await {
        tracing::warn!(error = %e, room = %room_id, "message stored but not published");
    }
    Ok(Response::Message { message })
}

/// Cuts a page (ascending by `seq`) down to what fits in `MAX_PAGE_BYTES`, keeping the items
/// nearest to where the page starts from: the newest when paging back, the oldest when paging
/// forward. At least one item stays, so paging always makes progress. Says whether it cut.
fn within_page_bytes(messages: &mut Vec<Message>, from: PageFrom) -> bool {
    let fits = |items: &mut dyn Iterator<Item = &Message>| {
        let mut total = 0usize;
        items
            .take_while(|m| {
                total += m.json_size_bound();
                total <= MAX_PAGE_BYTES
            })
            .count()
            .max(1)
    };
    let keep = match from {
        PageFrom::After(_) => fits(&mut messages.iter()),
        PageFrom::Before(_) | PageFrom::Latest => fits(&mut messages.iter().rev()),
    };
    if keep >= messages.len() {
        return false;
    }
    match from {
        PageFrom::After(_) => messages.truncate(keep),
        PageFrom::Before(_) | PageFrom::Latest => {
            messages.drain(..messages.len() - keep);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use chat_proto::{Base64Bytes, MAX_MLS_BYTES, MessageId, UserId, UserInfo, Username};

    use super::*;

    fn commit(seq: u64) -> Message {
        Message {
            id: MessageId::new(seq).unwrap(),
            room_id: RoomId::new(1).unwrap(),
            seq,
            sender: UserInfo {
                id: UserId::new(1).unwrap(),
                username: Username::parse("alice").unwrap(),
            },
            client_msg_id: ClientMsgId::random(),
            sent_at: 0,
            device_id: None,
            content: Content::MlsCommit {
                mls: Base64Bytes::new(vec![7; MAX_MLS_BYTES]).unwrap(),
            },
        }
    }

    fn seqs(messages: &[Message]) -> Vec<u64> {
        messages.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn a_page_of_the_largest_items_is_cut_near_where_it_starts_and_keeps_at_least_one() {
        let page: Vec<Message> = (1..=40).map(commit).collect();
        let real_bytes: usize = page.iter().map(|m| serde_json::to_vec(m).unwrap().len()).sum();
        assert!(
            real_bytes > MAX_PAGE_BYTES,
            "the test page must be too large to begin with"
        );

        let mut forward = page.clone();
        assert!(within_page_bytes(&mut forward, PageFrom::After(0)));
        assert_eq!(forward.first().unwrap().seq, 1, "paging forward keeps the oldest");
        let sent: usize = forward.iter().map(|m| serde_json::to_vec(m).unwrap().len()).sum();
        assert!(sent <= MAX_PAGE_BYTES, "{sent} bytes");

        let mut back = page.clone();
        assert!(within_page_bytes(&mut back, PageFrom::Latest));
        assert_eq!(back.last().unwrap().seq, 40, "paging back keeps the newest");
        assert_eq!(seqs(&back).len(), seqs(&forward).len());

        let mut one = vec![commit(9)];
        assert!(!within_page_bytes(&mut one, PageFrom::Before(10)));
        assert_eq!(seqs(&one), vec![9]);
    }

    #[test]
    fn the_size_bound_is_never_below_the_real_json() {
        let mut text = commit(1);
        text.content = Content::Text {
            body: chat_proto::MessageBody::parse("\"quoted\" \\ back\tslash \n and 👋").unwrap(),
        };
        for m in [commit(2), text] {
            assert!(m.json_size_bound() >= serde_json::to_vec(&m).unwrap().len());
        }
    }
}
