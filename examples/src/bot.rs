//! What the bot needs besides the client library: its answers, the id of each answer, and
//! where it keeps its position in a room.
//!
//! The position (the last `seq` handled) lives in the encrypted local store, so a bot that
//! restarts catches up with what was said while it was away. Each answer's client message
//! id is derived from the message it answers, so answering the same message again (after a
//! crash between sending and saving the position) stores nothing twice.

use chat_client_lib::{Client, ClientMsgId, Message, RoomId, Seq};
use sha2::{Digest, Sha256};

/// The store namespace of the bot's positions.
const NAMESPACE: &str = "chat-bot";

/// The bot's answer to a message.
pub fn answer(body: &str) -> String {
    match body.trim() {
        "!ping" => "pong".to_owned(),
        other => format!("echo: {other}"),
    }
}

/// The client message id of the answer to `message`: the same every time.
pub fn answer_id(message: &Message) -> ClientMsgId {
    let digest = Sha256::new()
        .chain_update(b"chat-bot answer\0")
        .chain_update(message.id.get().to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    ClientMsgId::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

fn key(room: RoomId) -> Vec<u8> {
    format!("position/{room}").into_bytes()
}

/// The last `seq` handled in `room`, if the store remembers one.
pub fn saved_position(client: &Client, room: RoomId) -> Option<Seq> {
    let bytes = client.store()?.get(NAMESPACE, &key(room)).ok()??;
    Some(Seq::from_le_bytes(bytes.try_into().ok()?))
}

/// Remembers that everything up to `seq` in `room` was handled.
pub fn save_position(client: &Client, room: RoomId, seq: Seq) {
    if let Some(store) = client.store()
        && let Err(e) = store.put(NAMESPACE, &key(room), &seq.to_le_bytes())
    {
        eprintln!(
            "cannot save the position in #{room}: {}",
            chat_client_lib::error::report(&e)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_client_lib::{MessageId, UserId, UserInfo};
    use chat_proto::{MessageBody, Username};

    fn message(id: u64) -> Message {
        Message {
            id: MessageId::new(id).unwrap(),
            room_id: RoomId::new(1).unwrap(),
            seq: 1,
            sender: UserInfo {
                id: UserId::new(1).unwrap(),
                username: Username::parse("alice").unwrap(),
            },
            client_msg_id: ClientMsgId::random(),
            sent_at: 0,
            device_id: None,
            content: chat_client_lib::chat_proto::Content::Text {
                body: MessageBody::parse("hi").unwrap(),
            },
        }
    }

    #[test]
    fn pings_get_pong_and_the_rest_is_echoed() {
        assert_eq!(answer(" !ping "), "pong");
        assert_eq!(answer("hello"), "echo: hello");
    }

    #[test]
    fn an_answer_has_the_same_id_every_time_and_another_message_another() {
        assert_eq!(answer_id(&message(7)), answer_id(&message(7)));
        assert_ne!(answer_id(&message(7)), answer_id(&message(8)));
        assert_eq!(answer_id(&message(7)).as_uuid().get_version_num(), 4);
    }
}
