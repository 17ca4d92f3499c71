//! The delivery order of one room's timeline on one node.
//!
//! Timeline items (messages and notices) carry the room's `seq`, which has no gaps. Each node
//! remembers, per room with local subscribers, the last `seq` it handed to its connections,
//! and hands over only the next one: an item seen again (a re-published retry, an item the
//! gap filler read from the store while the live event was on its way) is dropped, and an
//! item that arrives early (its predecessor is late or was lost) is held until the
//! predecessor comes, live or read back from the store. So a connection sees every item of a
//! room once, in `seq` order, whatever path brought it.

use std::collections::BTreeMap;

use chat_proto::Seq;

use crate::broker::RoomEvent;

/// Most items held back per room while waiting for an earlier one. Beyond this they are
/// dropped: the gap filler reads them from the store when it fills the gap.
pub(crate) const MAX_HELD: usize = 1024;

/// What became of an item offered to a room's order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admitted {
    /// Deliver these now, in this order (the item, then any held ones that follow it).
    Deliver(Vec<RoomEvent>),
    /// Kept until the items before it have been delivered.
    Held,
    /// Already delivered or already held: dropped.
    Duplicate,
    /// Early, and too many items are held already: dropped (the store has it).
    Dropped,
}

/// One room's delivered watermark and the items held above it.
#[derive(Debug)]
pub(crate) struct RoomOrder {
    delivered: Seq,
    held: BTreeMap<Seq, RoomEvent>,
}

impl RoomOrder {
    /// A room whose items up to `delivered` need no delivery by this node (its connections
    /// get them by resuming).
    pub(crate) fn new(delivered: Seq) -> Self {
        Self {
            delivered,
            held: BTreeMap::new(),
        }
    }

    /// The last `seq` delivered.
    pub(crate) fn delivered(&self) -> Seq {
        self.delivered
    }

    /// How many items wait for an earlier one.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }

    /// Offers the item at `seq`.
    pub(crate) fn admit(&mut self, seq: Seq, event: RoomEvent) -> Admitted {
        if seq <= self.delivered || self.held.contains_key(&seq) {
            return Admitted::Duplicate;
        }
        if seq != self.delivered + 1 {
            if self.held.len() >= MAX_HELD {
                return Admitted::Dropped;
            }
            self.held.insert(seq, event);
            return Admitted::Held;
        }
        let mut ready = vec![event];
        self.delivered = seq;
        while let Some(next) = self.held.remove(&(self.delivered + 1)) {
            ready.push(next);
            self.delivered += 1;
        }
        Admitted::Deliver(ready)
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::RoomId;

    use super::*;

    fn item(seq: Seq) -> RoomEvent {
        RoomEvent {
            room_id: RoomId::new(1).unwrap(),
            payload: format!("m{seq}").into(),
            membership: None,
            skip_user: None,
            seq: Some(seq),
        }
    }

    fn seqs(admitted: Admitted) -> Vec<Seq> {
        match admitted {
            Admitted::Deliver(items) => items.iter().map(|e| e.seq.unwrap()).collect(),
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    #[test]
    fn the_next_item_is_delivered_and_a_repeat_is_dropped() {
        let mut order = RoomOrder::new(4);
        assert_eq!(order.admit(3, item(3)), Admitted::Duplicate);
        assert_eq!(order.admit(4, item(4)), Admitted::Duplicate);
        assert_eq!(seqs(order.admit(5, item(5))), vec![5]);
        assert_eq!(order.admit(5, item(5)), Admitted::Duplicate);
        assert_eq!(order.delivered(), 5);
    }

    #[test]
    fn an_early_item_waits_for_the_gap_and_follows_it_in_order() {
        let mut order = RoomOrder::new(0);
        assert_eq!(order.admit(3, item(3)), Admitted::Held);
        assert_eq!(order.admit(2, item(2)), Admitted::Held);
        assert_eq!(
            order.admit(3, item(3)),
            Admitted::Duplicate,
            "held counts as seen"
        );
        assert_eq!(order.held(), 2);
        assert_eq!(order.delivered(), 0);
        // The missing item (live or read back from the store) releases the held ones.
        assert_eq!(seqs(order.admit(1, item(1))), vec![1, 2, 3]);
        assert_eq!(order.held(), 0);
        // A gap further on holds again; filling it item by item releases the rest.
        assert_eq!(order.admit(6, item(6)), Admitted::Held);
        assert_eq!(seqs(order.admit(4, item(4))), vec![4]);
        assert_eq!(seqs(order.admit(5, item(5))), vec![5, 6]);
        assert_eq!(order.delivered(), 6);
    }

    #[test]
    fn held_items_are_bounded() {
        let mut order = RoomOrder::new(0);
        for seq in 2..2 + MAX_HELD as Seq {
            assert_eq!(order.admit(seq, item(seq)), Admitted::Held);
        }
        let beyond = 2 + MAX_HELD as Seq;
        assert_eq!(order.admit(beyond, item(beyond)), Admitted::Dropped);
        let released = seqs(order.admit(1, item(1)));
        assert_eq!(released.len(), 1 + MAX_HELD);
        assert_eq!(order.delivered(), beyond - 1);
        // The dropped one comes again (from the store) and is delivered then.
        assert_eq!(seqs(order.admit(beyond, item(beyond))), vec![beyond]);
    }
}
