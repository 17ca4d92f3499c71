//! The subscription: one task owns the dedicated pub/sub connection, hands events from other
//! nodes to this node's hub, pings the connection, and when it is lost reconnects and
//! resubscribes with exponential backoff, for as long as the broker lives.
//!
//! Redis pub/sub keeps nothing for an absent subscriber, so whatever other nodes published
//! while the subscription was down is gone. Once it is back, the hub is asked to resync
//! ([`EventSink::resync`](crate::broker::EventSink::resync)): the node reads every room's
//! missed items from the store at once, and every local connection is told to resume (for
//! what is not in a timeline). Not after the first subscription of a start, which follows
//! nothing that could have been missed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use redis::Msg;
use tokio::sync::watch;

use super::Shared;
use crate::broker::BrokerEvent;

/// How often an idle subscription is pinged to find a dead connection.
const PING_EVERY: Duration = Duration::from_secs(2);

/// Why a subscription ended.
enum Ended {
    /// The broker was dropped.
    Stopped,
    /// The connection failed or could not be made.
    Lost(String),
}

pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let (first, last) = shared.options.reconnect_backoff;
    let mut delay = first;
    // Whether an attempt has failed or a subscription was lost since the broker started.
    let mut missed = false;
    loop {
        let ended = subscribe(&shared, &mut stop, &mut delay, first, missed).await;
        shared.subscribed.store(false, Ordering::Release);
        match ended {
            Ended::Stopped => return,
            Ended::Lost(reason) => {
                missed = true;
                tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "Redis subscription lost");
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(jitter(delay)) => {}
        }
        delay = (delay * 2).min(last);
    }
}

/// Subscribes and forwards events until the connection fails or the broker stops. `delay`
/// goes back to `first` once a ping has shown the subscription working. With `missed`,
/// events may have been lost before this subscription: the hub is told to resync once it is
/// established (so that what is published from then on arrives live).
async fn subscribe(
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
    delay: &mut Duration,
    first: Duration,
    missed: bool,
) -> Ended {
    let timeout = shared.options.command_timeout;
    let connect = async {
        let mut pubsub = shared.client.get_async_pubsub().await?;
        pubsub.subscribe(shared.channel()).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    let pubsub = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(e)) => return Ended::Lost(e.to_string()),
        Err(_) => return Ended::Lost("timed out subscribing".into()),
    };
    let (mut sink, mut stream) = pubsub.split();
    if missed && let Some(hub) = shared.sink.get() {
        hub.resync();
    }
    shared.subscribed.store(true, Ordering::Release);
    tracing::info!(channel = %shared.channel(), "subscribed to Redis");
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return Ended::Stopped,
            message = stream.next() => match message {
                Some(message) => forward(shared, &message),
                None => return Ended::Lost("the connection closed".into()),
            },
            _ = ping.tick() => {
                // A subscribed connection answers PING with an array, hence `Value`.
                match tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await {
                    // The connection works: the next loss starts the backoff afresh.
                    Ok(Ok(_)) => *delay = first,
                    Ok(Err(e)) => return Ended::Lost(e.to_string()),
                    Err(_) => return Ended::Lost("ping timed out".into()),
                }
            }
        }
    }
}

/// Hands an event from another node to the hub. Events this node published were delivered
/// locally when published.
fn forward(shared: &Shared, message: &Msg) {
    let bytes = message.get_payload_bytes();
    let Some(split) = bytes.iter().position(|&b| b == b'\n') else {
        tracing::warn!("ignoring a broker message without an origin");
        return;
    };
    let (origin, encoded) = (&bytes[..split], &bytes[split + 1..]);
    if origin == shared.options.node_id.as_bytes() {
        return;
    }
    match BrokerEvent::decode(encoded) {
        Ok(event) => shared.deliver_locally(event),
        Err(e) => tracing::warn!(error = %e, "ignoring a malformed broker message"),
    }
}

/// `delay` give or take a quarter, so that nodes do not reconnect in lockstep.
fn jitter(delay: Duration) -> Duration {
    let quarter = delay / 4;
    let spread = rand::random_range(0..=quarter.as_millis() as u64 * 2);
    delay - quarter + Duration::from_millis(spread)
}
