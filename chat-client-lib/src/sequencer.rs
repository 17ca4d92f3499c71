//! Per-room ordering and deduplication: the application sees each message exactly once and in
//! `seq` order, whatever mix of live events, resume pages and send answers brings it.
//!
//! Every message goes through [`Sequencer::offer`]: one already delivered is dropped; one
//! that is next is delivered together with any buffered successors; one further ahead waits
//! in a buffer until the gap is filled by a resume (or declared empty by a complete resume).

use std::collections::{BTreeMap, HashMap};

use chat_proto::{Message, RoomId, Seq};

/// Messages buffered ahead of a gap, per room, before the gap is given up on. A gap that
/// large means the resume that should fill it keeps failing; delivering late beats growing
/// without bound.
const MAX_AHEAD: usize = 10_000;

#[derive(Debug, Default)]
struct RoomSeq {
    /// The highest seq delivered (everything up to it was delivered or predates tracking).
    last: Seq,
    /// Messages that arrived ahead of a gap, by seq.
    ahead: BTreeMap<Seq, Message>,
    /// Whether anything was delivered since tracking began (then the position may only
    /// move forward: going back would deliver messages twice).
    delivered_any: bool,
}

/// The ordering state of every tracked room.
#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    rooms: HashMap<RoomId, RoomSeq>,
}

impl Sequencer {
    /// Starts tracking `room` with everything up to `head` counted as seen. A room already
    /// tracked keeps its position.
    pub fn track(&mut self, room: RoomId, head: Seq) {
        self.rooms.entry(room).or_insert(RoomSeq {
            last: head,
            ahead: BTreeMap::new(),
            delivered_any: false,
        });
    }

    /// Makes `after` the room's position, so that the messages after it are delivered
    /// (once a resume fetches them). A room that already delivered messages only moves
    /// forward: going back would deliver those messages again. Returns what became
    /// deliverable.
    pub fn start_at(&mut self, room: RoomId, after: Seq) -> Vec<Message> {
        let entry = self.rooms.entry(room).or_insert(RoomSeq {
            last: after,
            ahead: BTreeMap::new(),
            delivered_any: false,
        });
        if !entry.delivered_any || after > entry.last {
            entry.last = after;
            entry.ahead.retain(|seq, _| *seq > after);
        }
        let out = drain(entry);
        entry.delivered_any |= !out.is_empty();
        out
    }

    /// Stops tracking `room` (after leaving it).
    pub fn untrack(&mut self, room: RoomId) {
        self.rooms.remove(&room);
    }

    /// Forgets everything (logout).
    pub fn clear(&mut self) {
        self.rooms.clear();
    }

    /// Offers one message; returns the messages that are now deliverable, in order. A message
    /// of an untracked room starts tracking there: a room first heard of by its message (a
    /// new direct chat, say) begins with that message.
    pub fn offer(&mut self, message: Message) -> Vec<Message> {
        let room = self.rooms.entry(message.room_id).or_insert_with(|| RoomSeq {
            last: message.seq.saturating_sub(1),
            ahead: BTreeMap::new(),
            delivered_any: false,
        });
        if message.seq <= room.last {
            return Vec::new();
        }
        room.ahead.insert(message.seq, message);
        let mut out = drain(room);
        if room.ahead.len() > MAX_AHEAD {
            out.extend(skip_gap(room));
        }
        room.delivered_any |= !out.is_empty();
        out
    }

    /// Where to resume every tracked room from: `(room, last delivered seq)`.
    pub fn resume_points(&self) -> Vec<(RoomId, Seq)> {
        self.rooms.iter().map(|(id, r)| (*id, r.last)).collect()
    }

    /// Rooms with messages waiting behind a gap, and the seq to resume from.
    pub fn gaps(&self) -> Vec<(RoomId, Seq)> {
        self.rooms
            .iter()
            .filter(|(_, r)| !r.ahead.is_empty())
            .map(|(id, r)| (*id, r.last))
            .collect()
    }

    /// The seq a room is at, if tracked.
    pub fn position(&self, room: RoomId) -> Option<Seq> {
        self.rooms.get(&room).map(|r| r.last)
    }

    /// Called when a resume of `room` came back complete: anything still behind a gap has no
    /// missing predecessor on the server, so it is delivered now.
    pub fn resume_complete(&mut self, room: RoomId) -> Vec<Message> {
        match self.rooms.get_mut(&room) {
            Some(r) if !r.ahead.is_empty() => {
                let out = skip_gap(r);
                r.delivered_any |= !out.is_empty();
                out
            }
            _ => Vec::new(),
        }
    }
}

/// Delivers the run of consecutive messages that starts right after `last`.
fn drain(room: &mut RoomSeq) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(entry) = room.ahead.first_entry() {
        if *entry.key() != room.last + 1 {
            break;
        }
        let message = entry.remove();
        room.last = message.seq;
        out.push(message);
    }
    out
}

/// Jumps over the first gap and delivers what follows it.
fn skip_gap(room: &mut RoomSeq) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some((&seq, _)) = room.ahead.first_key_value() {
        room.last = seq - 1;
        out.extend(drain(room));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::{ClientMsgId, MessageBody, MessageId, UserId, UserInfo, Username};

    fn msg(room: u64, seq: Seq) -> Message {
        Message {
            id: MessageId::new(room * 1000 + seq).unwrap(),
            room_id: RoomId::new(room).unwrap(),
            seq,
            sender: UserInfo {
                id: UserId::new(1).unwrap(),
                username: Username::parse("alice").unwrap(),
            },
            client_msg_id: ClientMsgId::random(),
            sent_at: 0,
            device_id: None,
            content: chat_proto::Content::Text {
                body: MessageBody::parse(&format!("m{seq}")).unwrap(),
            },
        }
    }

    fn seqs(ms: &[Message]) -> Vec<Seq> {
        ms.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn duplicates_are_dropped_and_order_is_restored() {
        let mut s = Sequencer::default();
        let r = RoomId::new(1).unwrap();
        s.track(r, 3);
        assert!(s.offer(msg(1, 2)).is_empty(), "before the baseline");
        assert_eq!(seqs(&s.offer(msg(1, 4))), [4]);
        assert!(s.offer(msg(1, 4)).is_empty(), "duplicate");
        assert!(s.offer(msg(1, 7)).is_empty(), "ahead of a gap");
        assert!(s.offer(msg(1, 6)).is_empty());
        assert_eq!(s.gaps(), vec![(r, 4)]);
        assert_eq!(seqs(&s.offer(msg(1, 5))), [5, 6, 7]);
        assert!(s.gaps().is_empty());
        assert_eq!(s.position(r), Some(7));
    }

    #[test]
    fn a_resume_racing_live_events_delivers_each_once_in_order() {
        let mut s = Sequencer::default();
        let r = RoomId::new(2).unwrap();
        s.track(r, 10);
        // Live events 14 and 15 arrive while the resume from 10 is in flight.
        let mut seen = Vec::new();
        seen.extend(s.offer(msg(2, 14)));
        seen.extend(s.offer(msg(2, 15)));
        for seq in 11..=15 {
            seen.extend(s.offer(msg(2, seq)));
        }
        seen.extend(s.offer(msg(2, 16)));
        assert_eq!(seqs(&seen), (11..=16).collect::<Vec<_>>());
    }

    #[test]
    fn a_complete_resume_closes_a_gap_that_the_server_does_not_have() {
        let mut s = Sequencer::default();
        let r = RoomId::new(3).unwrap();
        s.track(r, 1);
        assert!(s.offer(msg(3, 4)).is_empty());
        assert_eq!(seqs(&s.resume_complete(r)), [4]);
        assert_eq!(s.position(r), Some(4));
        assert!(s.resume_complete(r).is_empty());
    }

    #[test]
    fn untracked_rooms_start_at_their_first_message_and_tracking_keeps_position() {
        let mut s = Sequencer::default();
        let r = RoomId::new(4).unwrap();
        assert_eq!(seqs(&s.offer(msg(4, 9))), [9]);
        s.track(r, 3);
        assert_eq!(s.position(r), Some(9));
        s.untrack(r);
        assert_eq!(s.position(r), None);
        s.track(r, 3);
        assert_eq!(s.resume_points(), vec![(r, 3)]);
        s.clear();
        assert!(s.resume_points().is_empty());
    }

    #[test]
    fn a_saved_position_rewinds_a_fresh_room_but_never_redelivers() {
        let mut s = Sequencer::default();
        let r = RoomId::new(6).unwrap();
        s.track(r, 20);
        assert!(s.start_at(r, 12).is_empty());
        assert_eq!(s.position(r), Some(12), "nothing delivered yet: rewound");
        assert_eq!(seqs(&s.offer(msg(6, 13))), [13]);
        assert!(s.start_at(r, 5).is_empty());
        assert_eq!(s.position(r), Some(13), "13 was delivered: no going back");
        assert!(s.offer(msg(6, 15)).is_empty());
        assert_eq!(seqs(&s.start_at(r, 14)), [15], "forward skips and drains");
        let fresh = RoomId::new(7).unwrap();
        assert!(s.start_at(fresh, 3).is_empty());
        assert_eq!(
            s.resume_points().iter().find(|(id, _)| *id == fresh),
            Some(&(fresh, 3))
        );
    }

    #[test]
    fn an_endless_gap_is_eventually_skipped() {
        let mut s = Sequencer::default();
        s.track(RoomId::new(5).unwrap(), 0);
        let mut delivered = 0;
        for seq in 2..=(MAX_AHEAD as u64 + 2) {
            delivered += s.offer(msg(5, seq)).len();
        }
        assert_eq!(delivered, MAX_AHEAD + 1);
    }
}
