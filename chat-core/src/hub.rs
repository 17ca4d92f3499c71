//! The local hub: this node's connections, indexed by room and by user, and the delivery of
//! broker events to them.
//!
//! Delivery never waits: each connection has a bounded queue fed with `try_send`. A full
//! queue means the client is not reading; the hub then drops that connection's sender (its
//! receiver ends once drained) and records [`KickReason::SlowConsumer`], so one slow client
//! never holds up a room. Payloads are `Arc<str>`: one serialization, one pointer copy per
//! delivery.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use chat_proto::{Event, RoomId, ServerFrame, UserId};
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::broker::{BrokerEvent, EventSink, MembershipChange, Payload, RoomEvent};
use crate::service::KickReason;
use crate::store::TokenHash;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

const NOT_KICKED: u8 = 0;
const KICKED_SLOW: u8 = 1;
const KICKED_SESSION: u8 = 2;

/// One local connection as the hub sees it.
struct Slot {
    id: u64,
    tx: Mutex<Option<mpsc::Sender<Payload>>>,
    kicked: AtomicU8,
    /// The authenticated user (0 before login), read by deliveries that skip a user.
    user: AtomicU64,
    /// The session's token hash, to close the connections of a revoked session.
    token_hash: Mutex<Option<TokenHash>>,
    /// The rooms this connection is subscribed to, to unsubscribe it in one pass.
    rooms: Mutex<HashSet<RoomId>>,
}

impl Slot {
    /// Enqueues a payload; `false` when the connection is gone or was just kicked.
    fn send(&self, payload: &Payload) -> Result<(), Kick> {
        let mut tx = lock(&self.tx);
        let Some(sender) = tx.as_ref() else {
            return Err(Kick::AlreadyGone);
        };
        match sender.try_send(payload.clone()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                *tx = None;
                let _ = self.kicked.compare_exchange(
                    NOT_KICKED,
                    KICKED_SLOW,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                Err(Kick::Now)
            }
            Err(TrySendError::Closed(_)) => {
                *tx = None;
                Err(Kick::AlreadyGone)
            }
        }
    }

    fn kick(&self, reason: u8) {
        let _ = self
            .kicked
            .compare_exchange(NOT_KICKED, reason, Ordering::AcqRel, Ordering::Acquire);
        lock(&self.tx).take();
    }
}

enum Kick {
    Now,
    AlreadyGone,
}

/// A local connection's registration with the hub. Dropping it does not detach it: call
/// [`LocalHub::detach`].
pub struct Subscriber(Arc<Slot>);

impl Subscriber {
    /// Why the hub dropped this connection's queue, if it did.
    pub fn kicked(&self) -> Option<KickReason> {
        match self.0.kicked.load(Ordering::Acquire) {
            KICKED_SLOW => Some(KickReason::SlowConsumer),
            KICKED_SESSION => Some(KickReason::SessionEnded),
            _ => None,
        }
    }

    /// The hub's id of this connection.
    pub fn id(&self) -> u64 {
        self.0.id
    }
}

/// This node's connections by room and by user.
#[derive(Default)]
pub struct LocalHub {
    next_id: AtomicU64,
    rooms: RwLock<HashMap<RoomId, Vec<Arc<Slot>>>>,
    users: RwLock<HashMap<UserId, Vec<Arc<Slot>>>>,
    delivered: AtomicU64,
    slow_kicks: AtomicU64,
}

impl LocalHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a connection's queue. It receives nothing until [`LocalHub::attach`].
    pub fn subscriber(&self, tx: mpsc::Sender<Payload>) -> Subscriber {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        Subscriber(Arc::new(Slot {
            id,
            tx: Mutex::new(Some(tx)),
            kicked: AtomicU8::new(NOT_KICKED),
            user: AtomicU64::new(0),
            token_hash: Mutex::new(None),
            rooms: Mutex::new(HashSet::new()),
        }))
    }

    /// Attaches an authenticated connection: indexes it under `user` and subscribes it to
    /// `rooms`.
    pub fn attach(&self, sub: &Subscriber, user: UserId, token_hash: Option<TokenHash>, rooms: &[RoomId]) {
        let slot = &sub.0;
        slot.user.store(user.get(), Ordering::Release);
        *lock(&slot.token_hash) = token_hash;
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        let conns = users.entry(user).or_default();
        if !conns.iter().any(|s| s.id == slot.id) {
            conns.push(slot.clone());
        }
        drop(users);
        for &room in rooms {
            self.subscribe_slot(slot, room);
        }
    }

    /// Detaches a connection from its user and all its rooms (logout, close).
    pub fn detach(&self, sub: &Subscriber) {
        let slot = &sub.0;
        let user = slot.user.swap(0, Ordering::AcqRel);
        *lock(&slot.token_hash) = None;
        if let Ok(user) = UserId::new(user) {
            let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(conns) = users.get_mut(&user) {
                conns.retain(|s| s.id != slot.id);
                if conns.is_empty() {
                    users.remove(&user);
                }
            }
        }
        let rooms: Vec<RoomId> = lock(&slot.rooms).drain().collect();
        let mut index = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        for room in rooms {
            remove_from(&mut index, room, slot.id);
        }
    }

    /// Ends a connection's queue for good (the connection is closing).
    pub fn close(&self, sub: &Subscriber) {
        self.detach(sub);
        lock(&sub.0.tx).take();
    }

    /// Subscribes every local connection of `user` to `room`.
    pub fn subscribe_user(&self, user: UserId, room: RoomId) {
        for slot in self.slots_of(user) {
            self.subscribe_slot(&slot, room);
        }
    }

    /// Unsubscribes every local connection of `user` from `room`.
    pub fn unsubscribe_user(&self, user: UserId, room: RoomId) {
        let slots = self.slots_of(user);
        if slots.is_empty() {
            return;
        }
        let mut index = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        for slot in slots {
            if lock(&slot.rooms).remove(&room) {
                remove_from(&mut index, room, slot.id);
            }
        }
    }

    /// Delivers a payload to every connection subscribed to `room`, except those of
    /// `skip_user`. Returns how many queues took it.
    pub fn deliver_room(&self, room: RoomId, payload: &Payload, skip_user: Option<UserId>) -> usize {
        let skip = skip_user.map_or(0, UserId::get);
        let rooms = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        let Some(slots) = rooms.get(&room) else {
            return 0;
        };
        let mut sent = 0;
        for slot in slots {
            if skip != 0 && slot.user.load(Ordering::Relaxed) == skip {
                continue;
            }
            sent += self.send(slot, payload);
        }
        drop(rooms);
        self.delivered.fetch_add(sent as u64, Ordering::Relaxed);
        sent
    }

    /// Delivers a payload to every local connection of these users.
    pub fn deliver_users(&self, users: &[UserId], payload: &Payload) -> usize {
        let index = self.users.read().unwrap_or_else(PoisonError::into_inner);
        let mut sent = 0;
        for user in users {
            for slot in index.get(user).into_iter().flatten() {
                sent += self.send(slot, payload);
            }
        }
        drop(index);
        self.delivered.fetch_add(sent as u64, Ordering::Relaxed);
        sent
    }

    /// Delivers a payload to every authenticated local connection (each once, whatever its
    /// rooms). Returns how many queues took it.
    pub fn deliver_all(&self, payload: &Payload) -> usize {
        let index = self.users.read().unwrap_or_else(PoisonError::into_inner);
        let mut sent = 0;
        for slot in index.values().flatten() {
            sent += self.send(slot, payload);
        }
        drop(index);
        self.delivered.fetch_add(sent as u64, Ordering::Relaxed);
        sent
    }

    /// Closes the local connections authenticated with a revoked session.
    pub fn end_session(&self, user: UserId, token_hash: &TokenHash) {
        for slot in self.slots_of(user) {
            if lock(&slot.token_hash).as_ref() == Some(token_hash) {
                slot.kick(KICKED_SESSION);
            }
        }
    }

    /// Deliveries so far (payloads taken by a queue).
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Connections kicked as slow consumers so far.
    pub fn slow_consumer_kicks(&self) -> u64 {
        self.slow_kicks.load(Ordering::Relaxed)
    }

    fn send(&self, slot: &Slot, payload: &Payload) -> usize {
        match slot.send(payload) {
            Ok(()) => 1,
            Err(Kick::Now) => {
                self.slow_kicks.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    connection = slot.id,
                    "slow consumer: outbound queue full, connection dropped"
                );
                0
            }
            Err(Kick::AlreadyGone) => 0,
        }
    }

    fn slots_of(&self, user: UserId) -> Vec<Arc<Slot>> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        users.get(&user).cloned().unwrap_or_default()
    }

    fn subscribe_slot(&self, slot: &Arc<Slot>, room: RoomId) {
        let mut index = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        if lock(&slot.rooms).insert(room) {
            index.entry(room).or_default().push(slot.clone());
        }
    }

    fn deliver_room_event(&self, event: RoomEvent) {
        if let Some(MembershipChange::Joined(user)) = event.membership {
            self.subscribe_user(user, event.room_id);
        }
        self.deliver_room(event.room_id, &event.payload, event.skip_user);
        if let Some(MembershipChange::Left(user)) = event.membership {
            self.unsubscribe_user(user, event.room_id);
        }
    }
}

fn remove_from(index: &mut HashMap<RoomId, Vec<Arc<Slot>>>, room: RoomId, id: u64) {
    if let Some(slots) = index.get_mut(&room) {
        if let Some(pos) = slots.iter().position(|s| s.id == id) {
            slots.swap_remove(pos);
        }
        if slots.is_empty() {
            index.remove(&room);
        }
    }
}

impl EventSink for LocalHub {
    fn deliver(&self, event: BrokerEvent) {
        match event {
            BrokerEvent::Room(e) => self.deliver_room_event(e),
            BrokerEvent::Users { user_ids, payload } => {
                self.deliver_users(&user_ids, &payload);
            }
            BrokerEvent::SessionEnded { user_id, token_hash } => self.end_session(user_id, &token_hash),
        }
    }

    /// Sends `resync` to every authenticated local connection, serialized once. A connection
    /// not yet logged in follows no room, so it has nothing to resume; a full queue is a slow
    /// consumer as for any event (the client resumes when it reconnects).
    fn resync(&self) {
        let payload: Payload = ServerFrame::Event { event: Event::Resync }.to_json().into();
        let sent = self.deliver_all(&payload);
        tracing::info!(
            connections = sent,
            "broker link restored: told local connections to resync"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (UserId, UserId, RoomId) {
        (
            UserId::new(1).unwrap(),
            UserId::new(2).unwrap(),
            RoomId::new(10).unwrap(),
        )
    }

    #[test]
    fn a_full_queue_kicks_only_that_connection() {
        let hub = LocalHub::new();
        let (alice, bob, room) = ids();
        let (fast_tx, mut fast_rx) = mpsc::channel(8);
        let (slow_tx, mut slow_rx) = mpsc::channel(2);
        let fast = hub.subscriber(fast_tx);
        let slow = hub.subscriber(slow_tx);
        hub.attach(&fast, alice, None, &[room]);
        hub.attach(&slow, bob, None, &[room]);
        for i in 0..5 {
            let payload: Payload = format!("m{i}").into();
            hub.deliver_room(room, &payload, None);
            assert_eq!(fast_rx.try_recv().unwrap(), payload);
        }
        assert_eq!(slow.kicked(), Some(KickReason::SlowConsumer));
        assert_eq!(fast.kicked(), None);
        assert_eq!(hub.slow_consumer_kicks(), 1);
        // The slow receiver drains what it had, then ends.
        assert_eq!(&*slow_rx.blocking_recv().unwrap(), "m0");
        assert_eq!(&*slow_rx.blocking_recv().unwrap(), "m1");
        assert!(slow_rx.blocking_recv().is_none());
    }

    #[test]
    fn membership_events_subscribe_before_and_unsubscribe_after_delivery() {
        let hub = LocalHub::new();
        let (alice, _, room) = ids();
        let (tx1, mut rx1) = mpsc::channel(8);
        let (tx2, mut rx2) = mpsc::channel(8);
        let (d1, d2) = (hub.subscriber(tx1), hub.subscriber(tx2));
        hub.attach(&d1, alice, None, &[]);
        hub.attach(&d2, alice, None, &[]);
        let event = |membership, text: &str| {
            BrokerEvent::Room(RoomEvent {
                room_id: room,
                payload: text.into(),
                membership,
                skip_user: None,
            })
        };
        hub.deliver(event(Some(MembershipChange::Joined(alice)), "joined"));
        hub.deliver(event(Some(MembershipChange::Left(alice)), "left"));
        hub.deliver(event(None, "after"));
        for rx in [&mut rx1, &mut rx2] {
            assert_eq!(&*rx.try_recv().unwrap(), "joined");
            assert_eq!(&*rx.try_recv().unwrap(), "left");
            assert!(rx.try_recv().is_err());
        }
        hub.detach(&d1);
        hub.detach(&d2);
        assert!(hub.rooms.read().unwrap().is_empty());
        assert!(hub.users.read().unwrap().is_empty());
    }

    #[test]
    fn resync_reaches_every_logged_in_connection_once() {
        let hub = LocalHub::new();
        let (alice, bob, room) = ids();
        let (tx1, mut rx1) = mpsc::channel(8);
        let (tx2, mut rx2) = mpsc::channel(8);
        let (tx3, mut rx3) = mpsc::channel(8);
        let (full_tx, _full_rx) = mpsc::channel(1);
        let in_room = hub.subscriber(tx1);
        let no_room = hub.subscriber(tx2);
        let _anonymous = hub.subscriber(tx3);
        let full = hub.subscriber(full_tx);
        hub.attach(&in_room, alice, None, &[room, RoomId::new(11).unwrap()]);
        hub.attach(&no_room, bob, None, &[]);
        hub.attach(&full, bob, None, &[room]);
        hub.deliver_room(room, &"filler".into(), None);
        let _ = rx1.try_recv();
        EventSink::resync(&hub);
        let expected = r#"{"kind":"event","event":{"type":"resync"}}"#;
        for rx in [&mut rx1, &mut rx2] {
            assert_eq!(&*rx.try_recv().unwrap(), expected);
            assert!(rx.try_recv().is_err(), "once per connection");
        }
        assert!(rx3.try_recv().is_err(), "not logged in: nothing to resume");
        // A full queue is a slow consumer, as for any event.
        assert_eq!(full.kicked(), Some(KickReason::SlowConsumer));
    }

    #[test]
    fn ending_a_session_kicks_only_its_connections() {
        let hub = LocalHub::new();
        let (alice, _, room) = ids();
        let (tx1, _rx1) = mpsc::channel(8);
        let (tx2, _rx2) = mpsc::channel(8);
        let (d1, d2) = (hub.subscriber(tx1), hub.subscriber(tx2));
        hub.attach(&d1, alice, Some([1; 32]), &[room]);
        hub.attach(&d2, alice, Some([2; 32]), &[room]);
        hub.deliver(BrokerEvent::SessionEnded {
            user_id: alice,
            token_hash: [1; 32],
        });
        assert_eq!(d1.kicked(), Some(KickReason::SessionEnded));
        assert_eq!(d2.kicked(), None);
    }
}
