//! Accounts and sessions: register, login (throttled by `login_throttle`), resume, logout.
//!
//! Passwords are bcrypt-hashed off the async runtime. bcrypt reads at most 72 bytes of key;
//! the protocol refuses longer passwords (`password_too_long`), so every byte of an accepted
//! password counts (see `check_bcrypt_length`). A failed login answers "invalid
//! username or password" whether or not the user exists and verifies against a dummy hash
//! when it does not, so both cost one bcrypt verification. Tokens are 32 random bytes in
//! base64url; only their SHA-256 is stored.

use chat_proto::{ErrorBody, ErrorCode, Password, Response, SessionInfo, SessionToken, UserInfo, Username};

use super::connection::Connection;
use super::reply::{Reply, refuse, store_failed};
use super::secrets::{hash_secret, random_token_text};
use super::{login_throttle, now_ms};
use crate::broker::BrokerEvent;
use crate::store::{NewSession, StoreError, TokenHash, UserRecord};

/// The SHA-256 of a session token: what the store keeps.
pub fn hash_token(token: &str) -> TokenHash {
    hash_secret(token)
}

/// A fresh random token: 256 bits, base64url without padding (43 characters).
fn new_token() -> Result<SessionToken, ErrorBody> {
    SessionToken::parse(&random_token_text())
        .map_err(|_| refuse(ErrorCode::Internal, "cannot make a session token"))
}

/// The most password bytes bcrypt reads.
const BCRYPT_MAX_BYTES: usize = 72;

/// Checks that bcrypt will read every byte of `password`.
///
/// bcrypt's key is the password and a NUL terminator, cut to 72 bytes: a 72-byte password
/// loses only its terminator, and all 72 bytes count (as in OpenBSD's bcrypt). The crate's
/// "non-truncating" calls refuse that case too (they count the terminator), which refused
/// the longest passwords the protocol allows; the plain calls are used instead, behind this
/// check (which [`Password`] already guarantees) so that they never drop a password byte.
fn check_bcrypt_length(password: &Password) -> Result<(), ErrorBody> {
    if password.as_str().len() > BCRYPT_MAX_BYTES {
        return Err(refuse(
            ErrorCode::PasswordTooLong,
            "a password is at most 72 bytes (bcrypt ignores the rest)",
        ));
    }
    Ok(())
}

fn invalid_credentials() -> ErrorBody {
    refuse(ErrorCode::InvalidCredentials, "invalid username or password")
}

fn already_authenticated() -> ErrorBody {
    refuse(
        ErrorCode::AlreadyAuthenticated,
        "this connection is already logged in; log out first",
    )
}

/// Runs bcrypt on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ErrorBody> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| refuse(ErrorCode::Internal, "password hashing failed"))
}

impl Connection {
    pub(super) async fn register(&mut self, username: Username, password: Password) -> Reply {
        if self.auth.is_some() {
            return Err(already_authenticated());
        }
        let cost = self.inner.config.bcrypt_cost;
        check_bcrypt_length(&password)?;
        let hash = blocking(move || bcrypt::hash(password.as_str(), cost))
            .await?
            .map_err(|_| refuse(ErrorCode::Internal, "password hashing failed"))?;
        let record = match self.inner.store.create_user(&username, &hash, now_ms()).await {
            Ok(record) => record,
            Err(StoreError::Conflict(_)) => {
                return Err(refuse(ErrorCode::UsernameTaken, "this username is taken"));
            }
            Err(e) => return Err(store_failed(e)),
        };
        self.start_session(record.user).await
    }

    pub(super) async fn login(&mut self, username: Username, password: Password) -> Reply {
        if self.auth.is_some() {
            return Err(already_authenticated());
        }
        let scopes = login_throttle::scopes(&self.inner.config, &username, self.peer);
        self.check_login_throttle(&scopes).await?;
        let record = self
            .inner
            .store
            .find_user(&username.canonical())
            .await
            .map_err(store_failed)?;
        if !self.verify_password(record.as_ref(), password).await? {
            self.count_login_failure(&scopes).await;
            return Err(invalid_credentials());
        }
        self.clear_login_failures(&scopes).await;
        let Some(record) = record else {
            return Err(invalid_credentials());
        };
        self.start_session(record.user).await
    }

    pub(super) async fn resume_session(&mut self, token: SessionToken) -> Reply {
        if self.auth.is_some() {
            return Err(already_authenticated());
        }
        let token_hash = hash_token(token.as_str());
        let now = now_ms();
        let expires = now.saturating_add(self.inner.config.session_ttl.as_millis() as i64);
        let session = self
            .inner
            .store
            .resume_session(&token_hash, now, expires)
            .await
            .map_err(store_failed)?
            .ok_or_else(|| {
                refuse(
                    ErrorCode::InvalidSession,
                    "the session is unknown, expired or revoked; log in again",
                )
            })?;
        let rooms = self
            .inner
            .store
            .rooms_with_last_seq(session.user.id)
            .await
            .map_err(store_failed)?;
        self.sign_in(session.user.clone(), token_hash, session.expires_at, &rooms)
            .await;
        Ok(Response::Session(SessionInfo {
            user: session.user,
            token,
            expires_at: session.expires_at,
        }))
    }

    pub(super) async fn logout(&mut self) -> Reply {
        let (user_id, token_hash) = match &self.auth {
            Some(auth) => (auth.user.id, auth.token_hash),
            None => return Err(refuse(ErrorCode::Unauthenticated, "log in first")),
        };
        self.inner
            .store
            .delete_session(&token_hash)
            .await
            .map_err(store_failed)?;
        // Sign this connection out first so the revocation below only closes the others
        // that share the token.
        self.sign_out().await;
        let revoked = BrokerEvent::SessionEnded { user_id, token_hash };
        if let Err(e) = self.inner.broker.publish(revoked).await {
            tracing::warn!(error = %e, "cannot tell other nodes about a logout");
        }
        Ok(Response::Ok)
    }

    /// Issues a token for `user`, stores its hash and signs this connection in.
    async fn start_session(&mut self, user: UserInfo) -> Reply {
        let store = &self.inner.store;
        // Rooms first: if the store fails here, no session is left behind.
        let rooms = store.rooms_with_last_seq(user.id).await.map_err(store_failed)?;
        let token = new_token()?;
        let token_hash = hash_token(token.as_str());
        let now = now_ms();
        let expires_at = now.saturating_add(self.inner.config.session_ttl.as_millis() as i64);
        let session = NewSession {
            token_hash,
            user_id: user.id,
            created_at: now,
            expires_at,
        };
        store.create_session(&session).await.map_err(store_failed)?;
        self.sign_in(user.clone(), token_hash, expires_at, &rooms).await;
        Ok(Response::Session(SessionInfo {
            user,
            token,
            expires_at,
        }))
    }

    /// Verifies the password against the user's hash, or against the dummy hash when there
    /// is no such user (same cost either way). `false` for a mismatch.
    async fn verify_password(
        &self,
        record: Option<&UserRecord>,
        password: Password,
    ) -> Result<bool, ErrorBody> {
        let (hash, exists) = match record {
            Some(r) => (r.password_hash.clone(), true),
            None => (self.inner.dummy_hash.clone(), false),
        };
        check_bcrypt_length(&password)?;
        let matches = blocking(move || bcrypt::verify(password.as_str(), &hash))
            .await?
            .unwrap_or(false);
        Ok(matches && exists)
    }
}
