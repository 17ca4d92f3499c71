//! The gap filler: makes every stored timeline item reach this node's connections, whatever
//! happened to its event on the way (S8, S10).
//!
//! The broker carries events best effort: a node can die between storing a message and
//! publishing it, a node's link to Redis or Redis itself can be down, a pub/sub message can
//! be dropped. Every round (`CoreConfig::gap_check_interval`, and at once when the broker
//! link comes back) this task reads, in one query, the last `seq` of every room that has
//! subscribers on this node and compares it with the last `seq` the hub delivered there.
//! A room still behind what the store held at the previous round gets the missing items
//! from the store, through the hub's ordinary path, which drops what it has delivered
//! already and keeps `seq` order. Waiting one round before reading spares the store the
//! items whose live events are merely on their way; so an item whose event was lost reaches
//! connections within two rounds and two store reads of being stored (about 1 s with the
//! default of 500 ms; the documented bound is 2 s).

use std::collections::HashMap;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chat_proto::{RoomId, Seq};

use super::Inner;
use super::timeline::{open_item, room_event};
use crate::broker::EventSink;
use crate::store::PageFrom;

/// Most rooms asked about in one store query.
const ROOMS_PER_QUERY: usize = 1000;

/// Most pages read for one room in one round, so one far-behind room cannot hold up the
/// others (the rest comes at the next round).
const PAGES_PER_ROOM: usize = 10;

/// The shortest interval between rounds.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Starts the gap filler of a node; it ends when the service is dropped.
pub(super) fn spawn(inner: Weak<Inner>, every: Duration) {
    let every = every.max(MIN_INTERVAL);
    tokio::spawn(async move {
        // What the store held at the previous round, per room.
        let mut stored_before: HashMap<RoomId, Seq> = HashMap::new();
        loop {
            let hub = match inner.upgrade() {
                Some(inner) => inner.hub.clone(),
                None => return,
            };
            let urgent = tokio::select! {
                _ = tokio::time::sleep(every) => false,
                _ = hub.fill_wanted().notified() => true,
            };
            drop(hub);
            let Some(inner) = inner.upgrade() else { return };
            stored_before = round(&inner, &stored_before, urgent).await;
        }
    });
}

/// One round: compares, fills the rooms that are due, and returns what the store holds now.
/// `urgent` (events may just have been lost) fills every room that is behind at all.
async fn round(inner: &Inner, stored_before: &HashMap<RoomId, Seq>, urgent: bool) -> HashMap<RoomId, Seq> {
    let positions = inner.hub.timeline_positions();
    let mut stored_now = HashMap::with_capacity(positions.len());
    for chunk in positions.chunks(ROOMS_PER_QUERY) {
        let rooms: Vec<RoomId> = chunk.iter().map(|(room, _)| *room).collect();
        match inner.store.last_seqs(&rooms).await {
            Ok(found) => stored_now.extend(found),
            Err(e) => {
                // The store is down: nothing can be read back now; the next round tries again.
                tracing::debug!(error = %e, "gap check: cannot read the rooms' last seq");
                return stored_before.clone();
            }
        }
    }
    for (room, delivered) in positions {
        let Some(&last) = stored_now.get(&room) else {
            continue;
        };
        let due = if urgent {
            last
        } else {
            stored_before.get(&room).copied().unwrap_or(0)
        };
        if due > delivered {
            fill(inner, room, due).await;
        }
    }
    stored_now
}

/// Delivers a room's items from the store, after what the hub delivered, up to `until`.
async fn fill(inner: &Inner, room: RoomId, until: Seq) {
    let limit = inner.config.max_page_size.max(1);
    for _ in 0..PAGES_PER_ROOM {
        // Read where the hub stands now: live events may have moved it since the check.
        let Some(from) = inner
            .hub
            .timeline_position(room)
            .filter(|&delivered| delivered < until)
        else {
            return;
        };
        let page = match inner
            .store
            .messages_page(room, PageFrom::After(from), limit)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::debug!(error = %e, %room, "gap fill: cannot read the missing items");
                return;
            }
        };
        let Some(last) = page.messages.last().map(|m| m.seq) else {
            return;
        };
        let count = page.messages.len();
        for stored in &page.messages {
            match open_item(&inner.keys, stored) {
                Ok(message) => inner.hub.deliver(room_event(stored, message)),
                Err(e) => {
                    // An item nobody can read cannot be delivered; stop here rather than
                    // deliver past it (the hub would hold everything after it anyway).
                    tracing::error!(error = %e, %room, seq = stored.seq, "gap fill: a stored item cannot be read");
                    return;
                }
            }
        }
        inner
            .metrics
            .gap_fill_items
            .fetch_add(count as u64, Ordering::Relaxed);
        tracing::debug!(%room, after = from, up_to = last, "gap filled from the store");
        if !page.has_more || last >= until {
            return;
        }
    }
}
