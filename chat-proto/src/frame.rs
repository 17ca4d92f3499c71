//! Frames: what one WebSocket text frame holds in each direction, and the total decoders.
//!
//! Decoding a client frame never panics and never gives up silently: any byte string
//! becomes a [`ClientFrame`] or a [`DecodeError`] that keeps the request id whenever one
//! could be read, so the server can answer it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorBody, ErrorCode, ValidationError};
use crate::event::Event;
use crate::ids::RequestId;
use crate::limits::{
    MAX_CURSOR_BYTES, MAX_DEVICES_PER_CLAIM, MAX_INVITE_LINK_SECS, MAX_JSON_DEPTH,
    MAX_KEY_PACKAGES_PER_UPLOAD, MAX_PAGE_SIZE, MAX_ROOM_NAME_BYTES,
};
use crate::request::{ClientFrame, Request};
use crate::response::Response;
use crate::rooms::Role;

/// A frame from the server, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The successful answer to the request with this `id`.
    Response {
        /// The request's id.
        id: RequestId,
        /// The result, tagged by `type`.
        result: Response,
    },
    /// The failed answer to a request. `id` is absent only when none could be read from the
    /// request (for example when the frame was not JSON).
    Error {
        /// The request's id, when it could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// What went wrong.
        error: ErrorBody,
    },
    /// A pushed event.
    Event {
        /// The event, tagged by `type`.
        event: Event,
    },
}

impl ServerFrame {
    /// Serializes the frame to the JSON text of one WebSocket frame.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys, no
        // user-defined Serialize that errors.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

impl ClientFrame {
    /// A frame for `request` with a fresh random id.
    pub fn new(request: Request) -> Self {
        Self {
            id: RequestId::random(),
            request,
        }
    }

    /// Serializes the frame to the JSON text of one WebSocket frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Why a client frame could not be decoded, with the request id when one could be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct DecodeError {
    /// The request id, if the frame had a readable one.
    pub id: Option<RequestId>,
    /// The broken rule and the code to answer with.
    pub error: ValidationError,
}

impl DecodeError {
    /// The error frame that answers this decode error.
    pub fn to_frame(&self) -> ServerFrame {
        ServerFrame::Error {
            id: self.id,
            error: self.error.clone().into(),
        }
    }
}

/// Decodes one client frame. `max_frame_bytes` is the server's frame limit.
///
/// The error keeps the frame's `id` whenever one can be read, whatever else is wrong in the
/// frame (not JSON, a lone surrogate, nesting too deep, a wrong field): only a frame with no
/// readable `id` gets an error without one.
pub fn decode_client_frame(bytes: &[u8], max_frame_bytes: usize) -> Result<ClientFrame, DecodeError> {
    decode(bytes, max_frame_bytes).map_err(|error| DecodeError {
        id: readable_id(bytes),
        error,
    })
}

/// The frame's `id`, if it has one that is a valid request id.
fn readable_id(bytes: &[u8]) -> Option<RequestId> {
    let token = id_scan::find_id(bytes)?;
    let text: String = serde_json::from_slice(token).ok()?;
    text.parse().ok()
}

fn decode(bytes: &[u8], max_frame_bytes: usize) -> Result<ClientFrame, ValidationError> {
    if bytes.len() > max_frame_bytes {
        return Err(ValidationError::new(
            ErrorCode::FrameTooLarge,
            format!(
                "frame of {} bytes exceeds the limit of {max_frame_bytes}",
                bytes.len()
            ),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ValidationError::new(ErrorCode::MalformedFrame, "frame is not valid UTF-8"))?;
    if nesting_exceeds(text, MAX_JSON_DEPTH) {
        return Err(ValidationError::new(
            ErrorCode::TooDeep,
            format!("JSON nests deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ValidationError::new(ErrorCode::MalformedFrame, format!("frame is not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ValidationError::new(
            ErrorCode::MalformedFrame,
            "frame is not a JSON object",
        ));
    };
    let id = read_id(&map)?;
    let type_ok = match map.get("type") {
        Some(Value::String(t)) => Request::TYPES.contains(&t.as_str()),
        _ => false,
    };
    if !type_ok {
        let message = match map.get("type") {
            None => "missing field `type`".to_owned(),
            Some(Value::String(t)) => format!("unknown request type {:?}", truncate(t, 64)),
            Some(_) => "field `type` must be a string".to_owned(),
        };
        return Err(ValidationError::new(ErrorCode::UnknownType, message));
    }
    let request: Request = serde_json::from_value(Value::Object(map))
        .map_err(|e| ValidationError::from_serde_message(&e.to_string()))?;
    check_ranges(&request)?;
    Ok(ClientFrame { id, request })
}

/// Why a server frame could not be decoded (client side).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerFrameError {
    /// The frame nests deeper than the limit.
    #[error("server frame nests deeper than {MAX_JSON_DEPTH} levels")]
    TooDeep,
    /// The frame is not a frame of this protocol version.
    #[error("server frame does not match the protocol: {0}")]
    Invalid(#[from] serde_json::Error),
}

/// Decodes one server frame (for clients).
pub fn decode_server_frame(text: &str) -> Result<ServerFrame, ServerFrameError> {
    if nesting_exceeds(text, MAX_JSON_DEPTH) {
        return Err(ServerFrameError::TooDeep);
    }
    Ok(serde_json::from_str(text)?)
}

fn read_id(map: &Map<String, Value>) -> Result<RequestId, ValidationError> {
    match map.get("id") {
        None => Err(ValidationError::new(ErrorCode::InvalidId, "missing field `id`")),
        Some(Value::String(s)) => s.parse(),
        Some(_) => Err(ValidationError::new(
            ErrorCode::InvalidId,
            "field `id` must be a UUID string",
        )),
    }
}

/// Range rules that the field types alone cannot express.
fn check_ranges(request: &Request) -> Result<(), ValidationError> {
    let invalid = |message: String| Err(ValidationError::new(ErrorCode::InvalidRequest, message));
    let page_limit = |limit: u32| {
        if limit == 0 || limit > MAX_PAGE_SIZE {
            invalid(format!("`limit` must be between 1 and {MAX_PAGE_SIZE}"))
        } else {
            Ok(())
        }
    };
    match request {
        Request::History {
            before_seq: Some(_),
            after_seq: Some(_),
            ..
        } => invalid("history takes `before_seq` or `after_seq`, not both".into()),
        Request::History { limit, .. } => page_limit(*limit),
        Request::ListPublicRooms { query, after, limit } => {
            if query.as_ref().is_some_and(|q| q.len() > MAX_ROOM_NAME_BYTES) {
                return invalid(format!("`query` is at most {MAX_ROOM_NAME_BYTES} bytes"));
            }
            if after.as_ref().is_some_and(|a| a.len() > MAX_CURSOR_BYTES) {
                return invalid("`after` is not a cursor this server gave".into());
            }
            page_limit(*limit)
        }
        Request::CreateInviteLink {
            expires_in_secs,
            max_uses,
            ..
        } => {
            if expires_in_secs.is_some_and(|s| s == 0 || s > MAX_INVITE_LINK_SECS) {
                return invalid(format!(
                    "`expires_in_secs` must be between 1 and {MAX_INVITE_LINK_SECS}"
                ));
            }
            if *max_uses == Some(0) {
                return invalid("`max_uses` must be at least 1".into());
            }
            Ok(())
        }
        Request::UpdateRoom {
            name: None,
            topic: None,
            ..
        } => invalid("update_room takes a `name`, a `topic` or both".into()),
        Request::SetRole {
            role: Role::Owner, ..
        } => invalid("`role` is `admin` or `member`; ownership moves with transfer_ownership".into()),
        Request::UploadKeyPackages { key_packages, .. }
            if key_packages.len() > MAX_KEY_PACKAGES_PER_UPLOAD =>
        {
            invalid(format!(
                "at most {MAX_KEY_PACKAGES_PER_UPLOAD} key packages per upload"
            ))
        }
        Request::ClaimKeyPackages { device_ids, .. } if device_ids.len() > MAX_DEVICES_PER_CLAIM => {
            invalid(format!("at most {MAX_DEVICES_PER_CLAIM} devices per claim"))
        }
        Request::SendMls {
            welcome: Some(welcome),
            ..
        } if welcome.device_ids.is_empty() || welcome.device_ids.len() > MAX_DEVICES_PER_CLAIM => {
            invalid(format!("a welcome names 1 to {MAX_DEVICES_PER_CLAIM} devices"))
        }
        _ => Ok(()),
    }
}

/// Whether arrays and objects nest deeper than `max`, found by one pass over the text
/// (strings skipped) before any parser recurses.
fn nesting_exceeds(text: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in text.bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

mod id_scan;

#[cfg(test)]
mod tests;
