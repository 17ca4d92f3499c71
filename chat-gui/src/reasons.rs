//! Failures in words: what the snackbar and the banner say for each client error. A user
//! should learn what went wrong and what to do, not read a type name.

use chat_client_lib::{ClientError, ConnectError};
use chat_proto::{ErrorBody, ErrorCode};

/// A sentence for a failed request.
pub fn describe(error: &ClientError) -> String {
    match error {
        ClientError::Server(body) => server(body),
        ClientError::Connect(e) => format!("Cannot reach the server: {}", connect(e)),
        ClientError::Timeout(after) => format!(
            "The server did not answer within {} s; check the connection and try again",
            after.as_secs().max(1)
        ),
        ClientError::ConnectionLost => {
            "The connection was lost before the server answered; try again".to_owned()
        }
        ClientError::Invalid(v) => capitalize(&v.message),
        ClientError::NotLoggedIn => "You are not logged in".to_owned(),
        ClientError::Store(e) => format!("Saved chats: {}", chat_client_lib::error::report(e)),
        ClientError::StillQueued => "Not sent yet; it goes out at the next login".to_owned(),
        other => capitalize(&other.to_string()),
    }
}

/// Why a connection attempt failed, as the banner says it.
pub fn connect(error: &ConnectError) -> String {
    match error {
        ConnectError::Refused { addr } => format!("connection refused by {addr} (is the server running?)"),
        ConnectError::Timeout { stage, .. } => format!("timed out during the {stage}"),
        ConnectError::Certificate(why) => {
            format!("the server's certificate is not the trusted one ({why}); check the fingerprint")
        }
        ConnectError::Resolve { host, .. } => format!("no server named {host}"),
        ConnectError::SessionRejected(_) => "the session ended; log in again".to_owned(),
        other => other.to_string(),
    }
}

fn server(body: &ErrorBody) -> String {
    let wait = body
        .retry_after_ms
        .map(|ms| format!(" Try again in {} s.", ms.div_ceil(1000)))
        .unwrap_or_default();
    match body.code {
        ErrorCode::InvalidCredentials => "Invalid username or password".to_owned(),
        ErrorCode::UsernameTaken => "That username is already taken".to_owned(),
        ErrorCode::LoginThrottled => format!("Too many failed logins.{wait}"),
        ErrorCode::RateLimited => format!("Too many requests.{wait}"),
        ErrorCode::NotFound => format!("Not found: {}", body.message),
        ErrorCode::NotMember => "You are not a member of that room".to_owned(),
        ErrorCode::Unavailable | ErrorCode::ShuttingDown => {
            format!(
                "The server is unavailable right now ({}); try again",
                body.message
            )
        }
        _ => capitalize(&body.message),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_problem() {
        let wrong = ClientError::Server(ErrorBody::new(
            ErrorCode::InvalidCredentials,
            "invalid username or password",
        ));
        assert_eq!(describe(&wrong), "Invalid username or password");
        let taken = ClientError::Server(ErrorBody::new(ErrorCode::UsernameTaken, "taken"));
        assert!(describe(&taken).contains("already taken"));
        let throttled = ClientError::Server(
            ErrorBody::new(ErrorCode::LoginThrottled, "slow down").with_retry_after_ms(2500),
        );
        assert!(describe(&throttled).ends_with("Try again in 3 s."));
        let refused = ClientError::Connect(ConnectError::Refused {
            addr: "127.0.0.1:9".into(),
        });
        assert!(describe(&refused).contains("connection refused by 127.0.0.1:9"));
        let timeout = ClientError::Timeout(std::time::Duration::from_secs(10));
        assert!(describe(&timeout).contains("within 10 s"));
    }
}
