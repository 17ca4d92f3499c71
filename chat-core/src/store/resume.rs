//! Resuming many rooms at once ([`Store::resume_pages`](super::Store::resume_pages)): which
//! rooms need a read, and how many items each may take, decided once for every adapter.
//!
//! A room's sequence numbers have no gaps, so the room's `last_seq` tells how many items
//! follow a client's `after_seq` before anything is read: a room with nothing new costs no
//! page query at all, and the budget of items for the whole answer is shared out in the
//! order the rooms were named.

use std::collections::HashMap;

use chat_proto::{ResumePoint, RoomId, Seq};

use super::MessagePage;

/// One room's page to read: `take` items (at least 1) after `after_seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageRead {
    /// Where the page goes in the answer.
    pub index: usize,
    /// The room.
    pub room_id: RoomId,
    /// Items after this seq.
    pub after_seq: Seq,
    /// How many to read.
    pub take: u32,
}

/// The answer before any page is read: `None` for rooms the user is not a member of (or
/// that do not exist), an empty page for rooms with nothing new (complete) or beyond the
/// budget (`has_more`), and the pages still to read.
pub(crate) fn plan(
    points: &[ResumePoint],
    last_seqs: &HashMap<RoomId, Seq>,
    per_room: u32,
    total: usize,
) -> (Vec<Option<MessagePage>>, Vec<PageRead>) {
    let per_room = per_room.max(1);
    let mut left = total;
    let mut pages = Vec::with_capacity(points.len());
    let mut reads = Vec::new();
    for (index, point) in points.iter().enumerate() {
        let Some(&last_seq) = last_seqs.get(&point.room_id) else {
            pages.push(None);
            continue;
        };
        let waiting = last_seq.saturating_sub(point.after_seq);
        let has_more = waiting > 0 && left == 0;
        pages.push(Some(MessagePage {
            messages: Vec::new(),
            has_more,
        }));
        if waiting == 0 || left == 0 {
            continue;
        }
        let take = waiting.min(u64::from(per_room)).min(left as u64) as u32;
        left -= take as usize;
        reads.push(PageRead {
            index,
            room_id: point.room_id,
            after_seq: point.after_seq,
            take,
        });
    }
    (pages, reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(n: u64) -> RoomId {
        RoomId::new(n).unwrap()
    }

    fn point(n: u64, after_seq: Seq) -> ResumePoint {
        ResumePoint {
            room_id: room(n),
            after_seq,
        }
    }

    #[test]
    fn rooms_with_nothing_new_are_not_read_and_the_budget_goes_in_order() {
        let last: HashMap<RoomId, Seq> = [(room(1), 10), (room(2), 5), (room(3), 100), (room(4), 9)].into();
        let points = [point(1, 10), point(2, 0), point(9, 0), point(3, 20), point(4, 3)];
        let (pages, reads) = plan(&points, &last, 50, 60);
        // Room 1 is complete without a read; room 9 is not the user's.
        assert_eq!(pages[0].as_ref().map(|p| p.has_more), Some(false));
        assert!(pages[2].is_none());
        let taken: Vec<(usize, u32)> = reads.iter().map(|r| (r.index, r.take)).collect();
        // Room 2: 5 waiting; room 3: 80 waiting, capped at 50 per room; room 4: the 5 left.
        assert_eq!(taken, vec![(1, 5), (3, 50), (4, 5)]);
        let (pages, reads) = plan(&points, &last, 50, 55);
        assert_eq!(reads.len(), 2, "the budget ran out at room 3");
        assert_eq!(
            pages[4].as_ref().map(|p| p.has_more),
            Some(true),
            "room 4 continues later"
        );
        // A client ahead of the server (after_seq past last_seq) has nothing to read.
        let (_, reads) = plan(&[point(2, 99)], &last, 50, 10);
        assert!(reads.is_empty());
    }
}
