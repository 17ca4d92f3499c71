//! The ordered publisher: every event this node publishes to the other nodes goes through
//! one queue and one task, which sends whatever is queued as one pipeline of `PUBLISH`
//! commands on one connection.
//!
//! Events keep the order in which they were published (the queue and a pipeline are FIFO,
//! and one pipeline finishes before the next starts), so a sender's messages reach the
//! other nodes in the order they were stored; and a busy node pays one round trip per batch
//! instead of one per event, which also lets the receiving nodes hand many events to their
//! connections at once.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use super::Shared;
use crate::broker::BrokerError;

/// Most events sent in one pipeline.
const MAX_BATCH: usize = 256;

/// One encoded event waiting to be published, and who to tell how it went.
pub(super) struct Outgoing {
    pub(super) message: Vec<u8>,
    pub(super) done: oneshot::Sender<Result<(), BrokerError>>,
}

/// Publishes the queued events batch by batch until the broker stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            _ = stop.changed() => return,
            item = queue.recv() => match item {
                Some(item) => item,
                None => return,
            },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let channel = shared.channel();
        let mut pipe = ::redis::pipe();
        for item in &batch {
            pipe.cmd("PUBLISH").arg(&channel).arg(&item.message).ignore();
        }
        let sent = shared
            .run(|mut c| async move { pipe.query_async::<()>(&mut *c).await })
            .await;
        for item in batch {
            let _ = item.done.send(sent.clone());
        }
    }
}
