//! docs/PROTOCOL.md and the Rust types cannot drift: every JSON example in the document is
//! decoded with the real decoders and must re-encode to the same JSON, and every request,
//! result, event and error code must have its place in the document.

use std::collections::BTreeSet;

use chat_proto::{ErrorCode, Request, decode_client_frame, decode_server_frame};
use serde_json::Value;

const DOC: &str = include_str!("../../docs/PROTOCOL.md");

/// The fenced blocks whose info string is `json client` or `json server`.
fn examples(direction: &str) -> Vec<String> {
    let fence = format!("```json {direction}");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in DOC.lines() {
        match &mut current {
            None if line.trim() == fence => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "unclosed ```json {direction} block");
    blocks
}

#[test]
fn client_examples_decode_and_re_encode_identically() {
    let blocks = examples("client");
    let mut types = BTreeSet::new();
    for block in &blocks {
        let frame = decode_client_frame(block.as_bytes(), usize::MAX)
            .unwrap_or_else(|e| panic!("example does not decode: {e}\n{block}"));
        let original: Value = serde_json::from_str(block).unwrap();
        let again: Value = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(again, original, "example has fields the types do not:\n{block}");
        types.insert(frame.request.type_name());
    }
    let all: BTreeSet<_> = Request::TYPES.iter().copied().collect();
    let missing: Vec<_> = all.difference(&types).collect();
    assert!(
        missing.is_empty(),
        "requests without an example in PROTOCOL.md: {missing:?}"
    );
}

#[test]
fn server_examples_decode_and_re_encode_identically() {
    let blocks = examples("server");
    let mut kinds = BTreeSet::new();
    for block in &blocks {
        let frame =
            decode_server_frame(block).unwrap_or_else(|e| panic!("example does not decode: {e}\n{block}"));
        let original: Value = serde_json::from_str(block).unwrap();
        let again: Value = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(again, original, "example differs from the types:\n{block}");
        let tag = match (
            &original["kind"],
            &original["result"]["type"],
            &original["event"]["type"],
        ) {
            (Value::String(k), Value::String(t), _) if k == "response" => format!("result:{t}"),
            (Value::String(k), _, Value::String(t)) if k == "event" => format!("event:{t}"),
            (Value::String(k), _, _) => k.clone(),
            _ => unreachable!("decoded frames have a kind"),
        };
        kinds.insert(tag);
    }
    let expected = [
        "result:session",
        "result:ok",
        "result:pong",
        "result:room",
        "result:rooms",
        "result:members",
        "result:message",
        "result:messages",
        "result:resumed",
        "result:resumed_rooms",
        "result:invitations",
        "result:invite_link",
        "result:invite_links",
        "result:bans",
        "result:public_rooms",
        "result:device",
        "result:devices",
        "result:key_package_count",
        "result:key_packages",
        "result:room_devices",
        "result:welcomes",
        "event:hello",
        "event:message",
        "event:presence",
        "event:invited",
        "event:welcome",
        "event:key_packages_low",
        "event:devices_changed",
        "event:typing",
        "event:resync",
        "error",
    ];
    for tag in expected {
        assert!(kinds.contains(tag), "no server example of {tag} in PROTOCOL.md");
    }
}

#[test]
fn every_error_code_and_close_code_is_documented() {
    for code in ErrorCode::ALL {
        assert!(
            DOC.contains(&format!("| `{}` |", code.as_str())),
            "error code {code} missing from the table"
        );
    }
    use chat_proto::close::*;
    for code in [
        NORMAL,
        GOING_AWAY,
        PROTOCOL_ERROR,
        UNSUPPORTED_DATA,
        INVALID_PAYLOAD,
        POLICY,
        TOO_BIG,
        INTERNAL,
        TRY_AGAIN_LATER,
        AUTH_TIMEOUT,
        IDLE_TIMEOUT,
        SLOW_CONSUMER,
        RATE_LIMITED,
        SESSION_ENDED,
    ] {
        assert!(
            DOC.contains(&format!("| {code} |")),
            "close code {code} missing from the table"
        );
    }
    assert!(DOC.contains(chat_proto::WEBSOCKET_PATH));
}
