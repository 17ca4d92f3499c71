//! The JSON Schema of the protocol, generated from the Rust types. `docs/protocol.schema.json`
//! holds a copy that a test keeps current.

use schemars::{JsonSchema, Schema, generate::SchemaSettings};
use serde::Serialize;

use crate::frame::ServerFrame;
use crate::request::ClientFrame;

/// Both directions of the protocol, for schema generation only.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ProtocolV1 {
    /// A frame a client sends.
    Client(ClientFrame),
    /// A frame the server sends.
    Server(ServerFrame),
}

/// The JSON Schema (draft 2020-12) of every client and server frame, pretty-printed.
pub fn protocol_schema_json() -> String {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema: Schema = generator.into_root_schema_for::<ProtocolV1>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
