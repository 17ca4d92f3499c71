//! Presence transitions of this node: a user's first connection makes them online, the
//! last one gone makes them offline, and co-members are told.
//!
//! A connection that drops and is replaced at once produces an "offline" and an "online"
//! for the same user from two tasks, and each announcement reads the user's co-members from
//! the store before publishing. Without care the "offline" could be published last and show
//! a connected user offline. So every transition takes a number, in the order of the
//! counts, and only the user's newest transition is announced: an older one that is still
//! reading the store when a newer one exists says nothing. Co-members may thus miss a blip
//! (offline and back within a store read), never the state the user ends in. Nothing waits
//! on another user's (or the same user's) announcement, which matters when thousands of
//! clients reconnect at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chat_proto::{Event, UserId, UserInfo};

use super::Inner;
use super::connection::event_payload;
use crate::broker::BrokerEvent;

/// The newest presence transition of each user with an announcement under way.
#[derive(Default)]
pub(crate) struct PresenceTurns {
    next: AtomicU64,
    newest: Mutex<HashMap<UserId, u64>>,
}

impl PresenceTurns {
    fn newest(&self) -> MutexGuard<'_, HashMap<UserId, u64>> {
        self.newest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers a transition of `user`; it is the newest until the next one.
    fn take(&self, user: UserId) -> u64 {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.newest().insert(user, turn);
        turn
    }

    /// Runs `publish` if `turn` is still the newest transition of `user` (and forgets it);
    /// the check and the hand-over happen under one lock, so a newer transition cannot
    /// publish in between.
    fn publish_if_newest(&self, user: UserId, turn: u64, publish: impl FnOnce()) -> bool {
        let mut newest = self.newest();
        if newest.get(&user) != Some(&turn) {
            return false;
        }
        newest.remove(&user);
        publish();
        true
    }
}

/// Counts one more connection of `user`; tells co-members if it is the first.
pub(super) async fn connection_opened(inner: &Inner, user: UserInfo) {
    match inner.broker.connection_opened(user.id).await {
        Ok(true) => {
            let turn = inner.presence_turns.take(user.id);
            announce(inner, user, true, turn).await;
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "presence update failed"),
    }
}

/// Counts one connection of `user` closed; tells co-members if it was the last one.
pub(super) async fn connection_closed(inner: &Inner, user: UserInfo) {
    match inner.broker.connection_closed(user.id).await {
        Ok(true) => {
            let turn = inner.presence_turns.take(user.id);
            announce(inner, user, false, turn).await;
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "presence update failed"),
    }
}

/// Sends a `presence` event to every user who shares a room with `user`, unless a newer
/// transition of `user` has come meanwhile.
async fn announce(inner: &Inner, user: UserInfo, online: bool, turn: u64) {
    let id = user.id;
    let user_ids = match inner.store.co_member_ids(id).await {
        Ok(ids) => ids,
        Err(e) => {
            // Forget the turn so the map does not keep it; a newer one replaces it anyway.
            inner.presence_turns.publish_if_newest(id, turn, || {});
            tracing::warn!(error = %e, "cannot announce presence");
            return;
        }
    };
    let payload = event_payload(Event::Presence { user, online });
    let mut publishing = None;
    inner.presence_turns.publish_if_newest(id, turn, || {
        if !user_ids.is_empty() {
            let event = BrokerEvent::Users {
                user_ids: user_ids.into(),
                payload,
            };
            publishing = Some(inner.broker.publish(event));
        }
    });
    if let Some(publishing) = publishing
        && let Err(e) = publishing.await
    {
        tracing::warn!(error = %e, "cannot announce presence");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_transition_of_a_user_publishes() {
        let turns = PresenceTurns::default();
        let (alice, bob) = (UserId::new(1).unwrap(), UserId::new(2).unwrap());
        let offline = turns.take(alice);
        let online = turns.take(alice);
        let bob_online = turns.take(bob);
        assert!(!turns.publish_if_newest(alice, offline, || {}), "overtaken");
        assert!(turns.publish_if_newest(alice, online, || {}));
        assert!(
            turns.publish_if_newest(bob, bob_online, || {}),
            "other users are independent"
        );
        assert!(turns.newest().is_empty(), "nothing kept once announced");
    }
}
