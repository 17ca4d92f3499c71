//! Presence transitions of this node: a user's first connection makes them online, the
//! last one gone makes them offline, and co-members are told.
//!
//! A connection that drops and is replaced at once produces an "offline" and an "online"
//! for the same user from two tasks. Each announcement reads the store before publishing,
//! so without an order the "offline" can be published last and show a connected user
//! offline. A transition therefore holds its user's turn from the count to the publish.

use chat_proto::{Event, UserId, UserInfo};
use tokio::sync::Mutex;

use super::Inner;
use super::connection::event_payload;
use crate::broker::BrokerEvent;

/// Stripes of the per-user order. Users share a stripe by hash; a shared stripe only
/// serialises two users' transitions, it never reorders one user's.
const STRIPES: usize = 64;

/// Serialises the presence transitions of each user on this node.
pub(crate) struct PresenceTurns {
    stripes: Box<[Mutex<()>]>,
}

impl PresenceTurns {
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    fn stripe(&self, user: UserId) -> &Mutex<()> {
        let hash = {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            BuildHasherDefault::<DefaultHasher>::default().hash_one(user)
        };
        // The remainder is below STRIPES, so it fits any usize.
        let index = usize::try_from(hash % STRIPES as u64).unwrap_or(0);
        &self.stripes[index]
    }
}

/// Counts one more connection of `user`; tells co-members if it is the first.
pub(super) async fn connection_opened(inner: &Inner, user: UserInfo) {
    let _turn = inner.presence_turns.stripe(user.id).lock().await;
    match inner.broker.connection_opened(user.id).await {
        Ok(true) => announce(inner, user, true).await,
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "presence update failed"),
    }
}

/// Counts one connection of `user` closed; tells co-members if it was the last one.
pub(super) async fn connection_closed(inner: &Inner, user: UserInfo) {
    let _turn = inner.presence_turns.stripe(user.id).lock().await;
    match inner.broker.connection_closed(user.id).await {
        Ok(true) => announce(inner, user, false).await,
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "presence update failed"),
    }
}

/// Sends a `presence` event to every user who shares a room with `user`.
async fn announce(inner: &Inner, user: UserInfo, online: bool) {
    let user_ids = match inner.store.co_member_ids(user.id).await {
        Ok(ids) if ids.is_empty() => return,
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "cannot announce presence");
            return;
        }
    };
    let payload = event_payload(Event::Presence { user, online });
    let event = BrokerEvent::Users {
        user_ids: user_ids.into(),
        payload,
    };
    if let Err(e) = inner.broker.publish(event).await {
        tracing::warn!(error = %e, "cannot announce presence");
    }
}
