//! Turning failures into error bodies: every refusal is a [`chat_proto::ErrorBody`] with
//! the code a client can act on.

use chat_proto::{ErrorBody, ErrorCode, Response};

use crate::keyring::KeyError;
use crate::store::StoreError;

/// What a handler returns.
pub(crate) type Reply = Result<Response, ErrorBody>;

/// A refusal with a code and a human message.
pub(crate) fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message)
}

/// The answer to a request about a room the caller is not in.
pub(crate) fn not_member() -> ErrorBody {
    refuse(ErrorCode::NotMember, "you are not a member of this room")
}

/// The answer to a request about a room that does not exist.
pub(crate) fn no_such_room() -> ErrorBody {
    refuse(ErrorCode::NotFound, "no such room")
}

/// A storage failure: `unavailable` when retrying makes sense, `internal` otherwise. The
/// details go to the log, not to the client.
pub(crate) fn store_failed(e: StoreError) -> ErrorBody {
    match e {
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "storage unavailable");
            refuse(
                ErrorCode::Unavailable,
                "the storage is unavailable; try again shortly",
            )
        }
        StoreError::NotFound(detail) => refuse(ErrorCode::NotFound, detail),
        other => {
            tracing::error!(error = %other, "storage error");
            refuse(ErrorCode::Internal, "internal storage error")
        }
    }
}

/// A stored body that cannot be opened: an operator problem (missing key, tampered row).
pub(crate) fn key_failed(e: KeyError) -> ErrorBody {
    tracing::error!(error = %e, "a stored message cannot be decrypted");
    refuse(ErrorCode::Internal, "a stored message cannot be read")
}

/// A wait in whole milliseconds, rounded up (a client that waits exactly this long is not
/// refused again), and at least 1.
pub(crate) fn millis_ceil(wait: std::time::Duration) -> u64 {
    wait.as_micros().div_ceil(1000).max(1) as u64
}
