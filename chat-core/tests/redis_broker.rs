//! The Redis broker on its own, node against node: presence across nodes and its expiry
//! when a node dies, shared failure counters, and a Redis that is stopped and restarted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_core::broker::redis::{RedisBroker, RedisOptions};
use chat_core::broker::{Broker, BrokerEvent, EventSink, RoomEvent};
use chat_core::store::Store;
use chat_core::store::sqlite::{SqliteOptions, SqliteStore};
use chat_proto::{RoomId, UserId, Username};
use chat_test_support::{OwnRedis, Prefix};
use tokio::sync::Notify;

/// A node's hub stand-in: keeps what the broker delivers.
#[derive(Default)]
struct Collect {
    events: Mutex<Vec<BrokerEvent>>,
    /// How many times the broker asked for a resync.
    resyncs: Mutex<u32>,
    arrived: Notify,
}

impl EventSink for Collect {
    fn deliver(&self, event: BrokerEvent) {
        self.events.lock().unwrap().push(event);
        self.arrived.notify_waiters();
    }

    fn resync(&self) {
        *self.resyncs.lock().unwrap() += 1;
    }
}

impl Collect {
    /// Waits (bounded) until an event matches.
    async fn wait_for(&self, what: &str, matches: impl Fn(&BrokerEvent) -> bool) -> BrokerEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.arrived.notified();
            if let Some(found) = self.events.lock().unwrap().iter().find(|e| matches(e)) {
                return found.clone();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("no {what} within 10 s; got {:?}", self.events.lock().unwrap());
            }
        }
    }
}

/// A store with two users sharing a room, for the broker's own presence announcements.
async fn store_with_pair(dir: &std::path::Path) -> (Arc<dyn Store>, UserId, UserId) {
    let store = SqliteStore::open(&dir.join("chat.db"), SqliteOptions::default())
        .await
        .unwrap();
    let alice = store
        .create_user(&Username::parse("alice").unwrap(), "x", 0)
        .await
        .unwrap();
    let bob = store
        .create_user(&Username::parse("bob").unwrap(), "x", 0)
        .await
        .unwrap();
    // A direct chat makes them share a room.
    store
        .open_direct(alice.user.clone(), bob.user.clone(), 0)
        .await
        .unwrap();
    (Arc::new(store), alice.user.id, bob.user.id)
}

async fn node(url: &str, prefix: &str, store: Arc<dyn Store>) -> (RedisBroker, Arc<Collect>) {
    let mut options = RedisOptions::new(url);
    options.prefix = prefix.to_owned();
    options.presence_ttl = Duration::from_secs(1);
    options.breaker_pause = Duration::from_millis(200);
    let broker = RedisBroker::connect(options, store).await.unwrap();
    let sink = Arc::new(Collect::default());
    broker.start(sink.clone()).await.unwrap();
    (broker, sink)
}

fn room_event(text: &str) -> BrokerEvent {
    BrokerEvent::Room(RoomEvent {
        room_id: RoomId::new(1).unwrap(),
        payload: text.into(),
        membership: None,
        skip_user: None,
        seq: None,
    })
}

fn is_payload(event: &BrokerEvent, text: &str) -> bool {
    matches!(event, BrokerEvent::Room(e) if &*e.payload == text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_spans_nodes_and_a_dead_node_s_users_go_offline() {
    let Some(prefix) = Prefix::shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (store, alice, bob) = store_with_pair(dir.path()).await;
    let (a, a_events) = node(&prefix.url, &prefix.name, store.clone()).await;
    let (b, _) = node(&prefix.url, &prefix.name, store.clone()).await;

    // Alice on both nodes: online once, offline once.
    assert!(a.connection_opened(alice).await.unwrap());
    assert!(!b.connection_opened(alice).await.unwrap());
    assert!(!a.connection_closed(alice).await.unwrap());
    assert_eq!(a.online(&[alice]).await.unwrap(), vec![true]);
    assert!(b.connection_closed(alice).await.unwrap());
    assert_eq!(a.online(&[alice]).await.unwrap(), vec![false]);

    // Bob on node B, Alice on node A; both nodes see both.
    assert!(b.connection_opened(bob).await.unwrap());
    assert!(a.connection_opened(alice).await.unwrap());
    assert_eq!(a.online(&[alice, bob]).await.unwrap(), vec![true, true]);

    // Node B dies (its tasks stop; nothing is cleaned up): Bob goes offline by expiry, and
    // node A tells Alice.
    let b_id = b.node_id().to_owned();
    assert!(prefix.keys().iter().any(|k| k.contains(&b_id)));
    drop(b);
    let offline = a_events
        .wait_for("bob's offline presence", |e| {
            matches!(e, BrokerEvent::Users { user_ids, payload }
                if user_ids.contains(&alice) && payload.contains("\"online\":false") && payload.contains("bob"))
        })
        .await;
    assert!(matches!(offline, BrokerEvent::Users { .. }));
    assert_eq!(a.online(&[alice, bob]).await.unwrap(), vec![true, false]);
    // The dead node's records are gone from Redis.
    let keys = prefix.keys();
    assert!(keys.iter().all(|k| !k.contains(&b_id)), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_on_one_node_reach_the_others_once() {
    let Some(prefix) = Prefix::shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = store_with_pair(dir.path()).await;
    let (a, a_events) = node(&prefix.url, &prefix.name, store.clone()).await;
    let (_b, b_events) = node(&prefix.url, &prefix.name, store).await;
    a.publish(room_event("one")).await.unwrap();
    a.publish(room_event("two")).await.unwrap();
    b_events.wait_for("two", |e| is_payload(e, "two")).await;
    for sink in [&a_events, &b_events] {
        let events = sink.events.lock().unwrap();
        let texts: Vec<bool> = events.iter().map(|e| is_payload(e, "one")).collect();
        assert_eq!(texts.iter().filter(|x| **x).count(), 1, "one delivery per node");
    }
}

/// Events published one after the other without waiting (the way a connection's pipelined
/// sends publish) reach every node in that order, all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_back_to_back_arrive_in_order_everywhere() {
    let Some(prefix) = Prefix::shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = store_with_pair(dir.path()).await;
    let (a, a_events) = node(&prefix.url, &prefix.name, store.clone()).await;
    let (_b, b_events) = node(&prefix.url, &prefix.name, store).await;
    let texts: Vec<String> = (0..500).map(|i| format!("event {i}")).collect();
    let confirmations: Vec<_> = texts.iter().map(|t| a.publish(room_event(t))).collect();
    // Taken during the call: this node has them all before any confirmation is awaited.
    assert_eq!(a_events.events.lock().unwrap().len(), texts.len());
    // Confirmations awaited all at once, as independent sends would.
    for confirmed in futures::future::join_all(confirmations).await {
        confirmed.unwrap();
    }
    b_events
        .wait_for("the last event", |e| is_payload(e, "event 499"))
        .await;
    for sink in [&a_events, &b_events] {
        let got: Vec<String> = sink
            .events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                BrokerEvent::Room(r) => Some(r.payload.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(got, texts);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_counters_are_shared_and_expire() {
    let Some(prefix) = Prefix::shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = store_with_pair(dir.path()).await;
    let (a, _) = node(&prefix.url, &prefix.name, store.clone()).await;
    let (b, _) = node(&prefix.url, &prefix.name, store).await;
    let window = Duration::from_millis(500);
    assert_eq!(
        a.count_failure("login:user:carol", window).await.unwrap().count,
        1
    );
    let second = b.count_failure("login:user:carol", window).await.unwrap();
    assert_eq!(second.count, 2);
    assert!(second.retry_after > Duration::ZERO && second.retry_after <= window);
    assert_eq!(a.failure_count("login:user:carol").await.unwrap().count, 2);
    assert_eq!(b.failure_count("login:user:dave").await.unwrap().count, 0);
    tokio::time::sleep(window + Duration::from_millis(100)).await;
    assert_eq!(b.failure_count("login:user:carol").await.unwrap().count, 0);
    a.count_failure("login:user:carol", window).await.unwrap();
    b.clear_failures("login:user:carol").await.unwrap();
    assert_eq!(a.failure_count("login:user:carol").await.unwrap().count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_redis_gets_the_subscription_and_presence_back() {
    let Some(mut redis) = OwnRedis::start().await else {
        return;
    };
    let prefix = "restart";
    let dir = tempfile::tempdir().unwrap();
    let (store, alice, bob) = store_with_pair(dir.path()).await;
    let (a, a_events) = node(&redis.url(), prefix, store.clone()).await;
    let (b, b_events) = node(&redis.url(), prefix, store).await;
    assert!(a.connection_opened(alice).await.unwrap());
    assert!(b.connection_opened(bob).await.unwrap());
    // A first subscription follows no outage: nothing to resync.
    assert_eq!(*a_events.resyncs.lock().unwrap(), 0);
    assert_eq!(*b_events.resyncs.lock().unwrap(), 0);

    redis.kill();
    // Publishing fails, but this node's own subscribers still get the event.
    assert!(a.publish(room_event("while down")).await.is_err());
    assert!(
        a_events
            .events
            .lock()
            .unwrap()
            .iter()
            .any(|e| is_payload(e, "while down"))
    );
    assert!(a.ping().await.is_err());

    redis.restart().await;
    // Within a few heartbeats both nodes have resubscribed and written their presence again.
    let mut back = false;
    for _ in 0..100 {
        if a.ping().await.is_ok()
            && b.ping().await.is_ok()
            && a.online(&[alice, bob]).await.is_ok_and(|o| o == [true, true])
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "subscription and presence restored");
    // Both nodes were cut off from the others' events: each asked its hub to resync.
    assert!(*a_events.resyncs.lock().unwrap() >= 1);
    assert!(*b_events.resyncs.lock().unwrap() >= 1);
    a.publish(room_event("after")).await.unwrap();
    b_events.wait_for("after", |e| is_payload(e, "after")).await;
    assert!(
        !b_events
            .events
            .lock()
            .unwrap()
            .iter()
            .any(|e| is_payload(e, "while down"))
    );
}
