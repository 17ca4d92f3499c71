//! Sending in an encrypted room: the outbox entry is encrypted for the group's current
//! epoch each time it goes out (its client message id stays, so the server stores it once),
//! and sent with `send_mls`.

use std::sync::Arc;

use chat_e2ee::E2eeError;
use chat_proto::{Base64Bytes, Content, Message, Request};

use crate::connection::Conn;
use crate::error::ClientError;
use crate::shared::Shared;
use crate::store::OutboxEntry;

/// What the outbox does with its next entry.
pub(crate) enum Prepared {
    /// Send this request.
    Send(Request),
    /// Not yet: the device is not in use on this connection, the group is missing (the
    /// Welcome has not come) or a commit of this device awaits the server.
    Wait,
    /// It can never be sent.
    Refuse(ClientError),
}

/// The request for an outbox entry on `conn`.
pub(crate) fn prepare(shared: &Shared, entry: &OutboxEntry, conn: &Arc<Conn>) -> Prepared {
    let room = entry.room_id;
    if !shared.e2ee.is_encrypted(room) {
        return Prepared::Send(Request::SendMessage {
            room_id: room,
            client_msg_id: entry.client_msg_id,
            body: entry.body.clone(),
        });
    }
    if let Some(error) = crate::events::lock(&shared.e2ee.unavailable).clone() {
        return Prepared::Refuse(error);
    }
    if !shared.e2ee.ready_on(conn) || crate::events::lock(&shared.e2ee.out_of_step).contains(&room) {
        return Prepared::Wait;
    }
    let encrypted = shared.e2ee.with_machine(|m| m.encrypt(room, entry.body.as_str()));
    match encrypted {
        None => Prepared::Wait,
        Some(Ok(bytes)) => match Base64Bytes::new(bytes) {
            Ok(mls) => Prepared::Send(Request::SendMls {
                room_id: room,
                client_msg_id: entry.client_msg_id,
                mls,
                welcome: None,
            }),
            Err(e) => Prepared::Refuse(e.into()),
        },
        Some(Err(E2eeError::CommitPending { .. } | E2eeError::UnknownGroup { .. })) => Prepared::Wait,
        Some(Err(e)) if e.is_retryable() => Prepared::Wait,
        Some(Err(e)) => Prepared::Refuse(ClientError::Encryption(e.to_string())),
    }
}

/// The stored message as the sender's application sees it: with its text, for an
/// encrypted one.
pub(crate) fn sent_view(entry: &OutboxEntry, message: &Message) -> Message {
    match message.content {
        Content::Mls { .. } => Message {
            content: Content::Text {
                body: entry.body.clone(),
            },
            ..message.clone()
        },
        _ => message.clone(),
    }
}
