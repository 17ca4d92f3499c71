//! The local hub: this node's connections, indexed by room and by user, and the delivery of
//! broker events to them.
//!
//! Delivery never waits: each connection has a bounded queue fed with `try_send`. A full
//! queue means the client is not reading; the hub then drops that connection's sender (its
//! receiver ends once drained) and records [`KickReason::SlowConsumer`], so one slow client
//! never holds up a room. Payloads are `Arc<str>`: one serialization, one pointer copy per
//! delivery.
//!
//! Timeline items (events with a `seq`) go through each room's [`order`]: a connection gets
//! every item of its rooms once and in `seq` order, whether the item came live from the
//! broker, again from a retried send, or from the store through the gap filler. The hub
//! tells the gap filler where each room stands ([`LocalHub::timeline_positions`]) and when a
//! fill is wanted at once ([`LocalHub::fill_wanted`]: the broker link came back).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use chat_proto::{Event, RoomId, Seq, ServerFrame, UserId};
use tokio::sync::Notify;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::broker::{BrokerEvent, EventSink, MembershipChange, Payload, RoomEvent};
use crate::service::KickReason;
use crate::store::TokenHash;

pub(crate) mod order;

use order::{Admitted, RoomOrder};

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
///
/// Locks are taken in one order: a room's delivery order, then the room and user indexes,
/// then the map of delivery orders, then a connection's own locks.
#[derive(Default)]
pub struct LocalHub {
    next_id: AtomicU64,
    rooms: RwLock<HashMap<RoomId, Vec<Arc<Slot>>>>,
    users: RwLock<HashMap<UserId, Vec<Arc<Slot>>>>,
    /// The delivery order of every room with local subscribers (and only those).
    orders: Mutex<HashMap<RoomId, Arc<Mutex<RoomOrder>>>>,
    fill_wanted: Notify,
    delivered: AtomicU64,
    slow_kicks: AtomicU64,
    repeats_dropped: AtomicU64,
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
    /// `rooms`, each given with the store's last `seq` read before this call (the client
    /// resumes up to there; this node delivers what follows).
    pub fn attach(
        &self,
        sub: &Subscriber,
        user: UserId,
        token_hash: Option<TokenHash>,
        rooms: &[(RoomId, Seq)],
    ) {
        let slot = &sub.0;
        slot.user.store(user.get(), Ordering::Release);
        *lock(&slot.token_hash) = token_hash;
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        let conns = users.entry(user).or_default();
        if !conns.iter().any(|s| s.id == slot.id) {
            conns.push(slot.clone());
        }
        drop(users);
        for &(room, last_seq) in rooms {
            self.subscribe_slot(slot, room, Some(last_seq));
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
            self.remove_from(&mut index, room, slot.id);
        }
    }

    /// Ends a connection's queue for good (the connection is closing).
    pub fn close(&self, sub: &Subscriber) {
        self.detach(sub);
        lock(&sub.0.tx).take();
    }

    /// Subscribes every local connection of `user` to `room`. `last_seq` is where the room
    /// stands for them (the item before their joining notice, or the store's last `seq`):
    /// when the room had no local subscriber yet, this node delivers what follows it.
    pub fn subscribe_user(&self, user: UserId, room: RoomId, last_seq: Seq) {
        self.subscribe_user_at(user, room, Some(last_seq));
    }

    fn subscribe_user_at(&self, user: UserId, room: RoomId, last_seq: Option<Seq>) {
        for slot in self.slots_of(user) {
            self.subscribe_slot(&slot, room, last_seq);
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
                self.remove_from(&mut index, room, slot.id);
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

    /// Timeline items dropped because this node had delivered (or held) them already: a
    /// retry published again, or an item that came both live and from the store.
    pub fn repeats_dropped(&self) -> u64 {
        self.repeats_dropped.load(Ordering::Relaxed)
    }

    /// Every room with local subscribers and the last `seq` this node delivered in it.
    pub fn timeline_positions(&self) -> Vec<(RoomId, Seq)> {
        let orders: Vec<(RoomId, Arc<Mutex<RoomOrder>>)> = lock(&self.orders)
            .iter()
            .map(|(room, order)| (*room, order.clone()))
            .collect();
        orders
            .into_iter()
            .map(|(room, order)| (room, lock(&order).delivered()))
            .collect()
    }

    /// The last `seq` this node delivered in `room`, if it has local subscribers.
    pub fn timeline_position(&self, room: RoomId) -> Option<Seq> {
        self.order_of(room).map(|order| lock(&order).delivered())
    }

    /// Woken when the gap filler should look at every room now rather than at its next
    /// round (the broker link came back, so events may have been lost).
    pub fn fill_wanted(&self) -> &Notify {
        &self.fill_wanted
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

    /// Subscribes one connection; with `last_seq`, a room new to this node starts its
    /// delivery order there (without, at its next timeline item).
    fn subscribe_slot(&self, slot: &Arc<Slot>, room: RoomId, last_seq: Option<Seq>) {
        let mut index = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        if lock(&slot.rooms).insert(room) {
            index.entry(room).or_default().push(slot.clone());
            if let Some(last_seq) = last_seq {
                lock(&self.orders)
                    .entry(room)
                    .or_insert_with(|| Arc::new(Mutex::new(RoomOrder::new(last_seq))));
            }
        }
    }

    /// The room's delivery order, started at `last_seq` if the room has local subscribers
    /// but no order yet (they were subscribed by an event without a `seq`).
    fn order_or_start(&self, room: RoomId, last_seq: Seq) -> Option<Arc<Mutex<RoomOrder>>> {
        let index = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        let followed = index.contains_key(&room);
        let mut orders = lock(&self.orders);
        if let Some(order) = orders.get(&room) {
            return Some(order.clone());
        }
        followed.then(|| {
            orders
                .entry(room)
                .or_insert_with(|| Arc::new(Mutex::new(RoomOrder::new(last_seq))))
                .clone()
        })
    }

    /// Takes a connection out of a room's index; the room's delivery order goes with its
    /// last local subscriber.
    fn remove_from(&self, index: &mut HashMap<RoomId, Vec<Arc<Slot>>>, room: RoomId, id: u64) {
        if let Some(slots) = index.get_mut(&room) {
            if let Some(pos) = slots.iter().position(|s| s.id == id) {
                slots.swap_remove(pos);
            }
            if slots.is_empty() {
                index.remove(&room);
                lock(&self.orders).remove(&room);
            }
        }
    }

    fn order_of(&self, room: RoomId) -> Option<Arc<Mutex<RoomOrder>>> {
        lock(&self.orders).get(&room).cloned()
    }

    fn deliver_room_event(&self, event: RoomEvent) {
        match event.seq {
            Some(seq) => self.deliver_timeline_item(seq, event),
            None => self.apply(event),
        }
    }

    /// Delivers a timeline item through its room's order: once, and after the items before
    /// it. The order stays locked while the items it releases are delivered, so that two
    /// paths delivering at once (the broker's and the gap filler's) cannot interleave them.
    fn deliver_timeline_item(&self, seq: Seq, event: RoomEvent) {
        let room = event.room_id;
        let mut order = self.order_of(room);
        if order.is_none() {
            if let Some(MembershipChange::Joined(user)) = event.membership {
                // A local user joins a room nobody here follows yet: it starts at their notice.
                self.subscribe_user(user, room, seq.saturating_sub(1));
            }
            order = self.order_or_start(room, seq.saturating_sub(1));
        }
        // No local subscriber: nothing to deliver or to keep.
        let Some(order) = order else { return };
        let mut order = lock(&order);
        match order.admit(seq, event) {
            Admitted::Deliver(items) => {
                for item in items {
                    self.apply(item);
                }
            }
            Admitted::Held => {}
            Admitted::Duplicate => {
                self.repeats_dropped.fetch_add(1, Ordering::Relaxed);
            }
            Admitted::Dropped => {
                tracing::debug!(%room, seq, "too many items held; the gap filler reads it from the store");
            }
        }
    }

    /// Delivers a room event with the membership change it carries.
    fn apply(&self, event: RoomEvent) {
        if let Some(MembershipChange::Joined(user)) = event.membership {
            let before = event.seq.map(|seq| seq.saturating_sub(1));
            self.subscribe_user_at(user, event.room_id, before);
        }
        self.deliver_room(event.room_id, &event.payload, event.skip_user);
        if let Some(MembershipChange::Left(user)) = event.membership {
            self.unsubscribe_user(user, event.room_id);
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
        // Items of rooms followed here may have been lost: fill every gap now.
        self.fill_wanted.notify_one();
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
    use futures::FutureExt;

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
        hub.attach(&fast, alice, None, &[(room, 0)]);
        hub.attach(&slow, bob, None, &[(room, 0)]);
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
                seq: None,
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
        hub.attach(&in_room, alice, None, &[(room, 0), (RoomId::new(11).unwrap(), 0)]);
        hub.attach(&no_room, bob, None, &[]);
        hub.attach(&full, bob, None, &[(room, 0)]);
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
        // And the gap filler is asked to look at every room now.
        assert!(hub.fill_wanted().notified().now_or_never().is_some());
    }

    fn item(room: RoomId, seq: Seq, membership: Option<MembershipChange>) -> BrokerEvent {
        BrokerEvent::Room(RoomEvent {
            room_id: room,
            payload: format!("item {seq}").into(),
            membership,
            skip_user: None,
            seq: Some(seq),
        })
    }

    fn drain(rx: &mut mpsc::Receiver<Payload>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok().map(|p| p.to_string())).collect()
    }

    #[test]
    fn timeline_items_reach_a_connection_once_and_in_seq_order() {
        let hub = LocalHub::new();
        let (alice, bob, room) = ids();
        let (tx1, mut rx1) = mpsc::channel(32);
        let (tx2, mut rx2) = mpsc::channel(32);
        let (early, late) = (hub.subscriber(tx1), hub.subscriber(tx2));
        // Alice signed in when the room's last item was 4: she resumes up to there.
        hub.attach(&early, alice, None, &[(room, 4)]);
        assert_eq!(hub.timeline_positions(), vec![(room, 4)]);
        hub.deliver(item(room, 4, None));
        // 6 comes before 5 (two senders, or 5's event was lost): it waits.
        hub.deliver(item(room, 6, None));
        assert!(drain(&mut rx1).is_empty(), "nothing before 5");
        // 5, live or read back from the store, releases 6 after it.
        hub.deliver(item(room, 5, None));
        assert_eq!(drain(&mut rx1), ["item 5", "item 6"]);
        // Every path may bring an item again: a retried send, the store and the broker.
        hub.deliver(item(room, 5, None));
        hub.deliver(item(room, 6, None));
        assert!(drain(&mut rx1).is_empty());
        assert_eq!(hub.repeats_dropped(), 3);
        // A later connection of another user follows the room from where this node is,
        // whatever the store said when it signed in.
        hub.attach(&late, bob, None, &[(room, 2)]);
        hub.deliver(item(room, 7, None));
        assert_eq!(drain(&mut rx1), ["item 7"]);
        assert_eq!(drain(&mut rx2), ["item 7"]);
        assert_eq!(hub.timeline_position(room), Some(7));
        // Typing (no seq) is not ordered.
        hub.deliver(BrokerEvent::Room(RoomEvent {
            room_id: room,
            payload: "typing".into(),
            membership: None,
            skip_user: Some(alice),
            seq: None,
        }));
        assert!(drain(&mut rx1).is_empty());
        assert_eq!(drain(&mut rx2), ["typing"]);
    }

    #[test]
    fn a_room_is_followed_from_a_joiner_s_notice_until_its_last_local_member_leaves() {
        let hub = LocalHub::new();
        let (alice, _, room) = ids();
        let (tx, mut rx) = mpsc::channel(32);
        let sub = hub.subscriber(tx);
        hub.attach(&sub, alice, None, &[]);
        // Items of a room nobody here follows are nobody's here.
        hub.deliver(item(room, 8, None));
        assert_eq!(hub.timeline_position(room), None);
        // Alice joins on another node: her notice (9) subscribes her and starts the order.
        hub.deliver(item(room, 9, Some(MembershipChange::Joined(alice))));
        hub.deliver(item(room, 10, None));
        assert_eq!(drain(&mut rx), ["item 9", "item 10"]);
        // An item held when its predecessor is missing moves subscriptions only in turn:
        // her removal (12) waits for 11, which she still sees.
        hub.deliver(item(room, 12, Some(MembershipChange::Left(alice))));
        assert!(drain(&mut rx).is_empty());
        hub.deliver(item(room, 11, None));
        assert_eq!(drain(&mut rx), ["item 11", "item 12"]);
        // She was the last local member: the room is forgotten, and what follows is not hers.
        assert_eq!(hub.timeline_position(room), None);
        hub.deliver(item(room, 13, None));
        assert!(drain(&mut rx).is_empty());
        assert!(hub.rooms.read().unwrap().is_empty());
    }

    #[test]
    fn ending_a_session_kicks_only_its_connections() {
        let hub = LocalHub::new();
        let (alice, _, room) = ids();
        let (tx1, _rx1) = mpsc::channel(8);
        let (tx2, _rx2) = mpsc::channel(8);
        let (d1, d2) = (hub.subscriber(tx1), hub.subscriber(tx2));
        hub.attach(&d1, alice, Some([1; 32]), &[(room, 0)]);
        hub.attach(&d2, alice, Some([2; 32]), &[(room, 0)]);
        hub.deliver(BrokerEvent::SessionEnded {
            user_id: alice,
            token_hash: [1; 32],
        });
        assert_eq!(d1.kicked(), Some(KickReason::SessionEnded));
        assert_eq!(d2.kicked(), None);
    }
}
