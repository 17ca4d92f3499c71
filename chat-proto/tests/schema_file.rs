//! docs/protocol.schema.json is generated from the Rust types; this test fails when it is
//! stale. Regenerate with `CHAT_UPDATE_SCHEMA=1 cargo test -p chat-proto --test schema_file`.

use std::path::Path;

#[test]
fn checked_in_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.schema.json");
    let generated = chat_proto::schema::protocol_schema_json();
    if std::env::var_os("CHAT_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/protocol.schema.json is stale: run CHAT_UPDATE_SCHEMA=1 cargo test -p chat-proto --test schema_file"
    );
}

#[test]
fn schema_knows_every_request_type() {
    let schema = chat_proto::schema::protocol_schema_json();
    for t in chat_proto::Request::TYPES {
        assert!(
            schema.contains(&format!("\"{t}\"")),
            "schema lacks request type {t}"
        );
    }
}
