//! Accounting of a traffic run: what each sender sent and had acknowledged, what each
//! receiver got from each sender (to find lost, duplicated and reordered deliveries), the
//! latency histograms, and the senders' in-flight windows.
//!
//! Everything runs on the load generator's single thread, so plain `Cell`/`RefCell` suffice.
//!
//! A sender's window slot is freed when its message has reached every member of the room
//! (or was refused): "in flight" means not yet delivered everywhere, so a sender can never
//! run ahead of the slowest receiver and overflow the server's outbound queues by itself.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

use crate::frames::SeenMessage;

/// Most (receiver, sender) pairs tracked one by one.
pub const MAX_STREAMS: usize = 4_000_000;
/// Most missing numbers remembered per (receiver, sender) pair; beyond it gaps are only counted.
const MAX_MISSING: usize = 4096;

/// What one receiver got from one sender: the next number expected and the gaps before it.
#[derive(Clone, Debug, Default)]
struct Stream {
    next: u64,
    missing: Vec<u64>,
    /// Gaps that did not fit in `missing`.
    overflow: u64,
}

impl Stream {
    /// Records number `n`; `Some(true)` for a duplicate, `Some(false)` for a late arrival.
    fn record(&mut self, n: u64) -> Option<bool> {
        if n == self.next {
            self.next += 1;
            return None;
        }
        if n > self.next {
            for gap in self.next..n {
                if self.missing.len() < MAX_MISSING {
                    self.missing.push(gap);
                } else {
                    self.overflow += 1;
                }
            }
            self.next = n + 1;
            return None;
        }
        match self.missing.iter().position(|&m| m == n) {
            Some(i) => {
                self.missing.swap_remove(i);
                Some(false)
            }
            None => Some(true),
        }
    }

    fn distinct(&self) -> u64 {
        self.next - self.missing.len() as u64 - self.overflow
    }
}

/// One sender's state.
#[derive(Debug)]
pub struct SenderState {
    /// Index of the sender's room in the run's room list.
    pub room: usize,
    /// Connections in that room, each of which must get every message.
    pub members: u32,
    /// Free window slots.
    pub window: Rc<Semaphore>,
    remaining: Vec<u32>,
    slot_n: Vec<u64>,
    /// Messages sent.
    pub sent: u64,
    /// Messages acknowledged as stored.
    pub acked: u64,
    /// Messages refused by the server.
    pub refused: u64,
}

/// Totals of a run so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Message events received with a load marker.
    pub deliveries: u64,
    /// Of those, ones received twice by the same connection.
    pub duplicates: u64,
    /// Of those, ones that arrived after a later message of the same sender.
    pub reordered: u64,
    /// Messages sent, over all senders.
    pub sent: u64,
    /// Messages acknowledged.
    pub acked: u64,
    /// Send requests refused (error answers).
    pub refused: u64,
    /// Events other than messages (presence, membership).
    pub other_events: u64,
    /// Message events without a load marker, or for a connection outside the room.
    pub unexpected: u64,
}

/// The accounting of one run.
pub struct Tracker {
    epoch: Instant,
    recording: Cell<bool>,
    totals: Cell<Totals>,
    senders: RefCell<Vec<SenderState>>,
    receiver_room: RefCell<Vec<usize>>,
    streams: RefCell<Vec<Stream>>,
    latency: RefCell<Histogram<u64>>,
    ack_latency: RefCell<Histogram<u64>>,
    errors: RefCell<BTreeMap<String, u64>>,
}

/// A histogram of 1 µs to `max_us` at 3 significant digits.
pub fn histogram(max_us: u64) -> Histogram<u64> {
    Histogram::new_with_bounds(1, max_us.max(2), 3)
        .expect("constant bounds of at least 1..2 at 3 digits are valid")
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracker {
    /// An empty tracker whose epoch is now.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            recording: Cell::new(false),
            totals: Cell::new(Totals::default()),
            senders: RefCell::new(Vec::new()),
            receiver_room: RefCell::new(Vec::new()),
            streams: RefCell::new(Vec::new()),
            latency: RefCell::new(histogram(100_000_000)),
            ack_latency: RefCell::new(histogram(100_000_000)),
            errors: RefCell::new(BTreeMap::new()),
        }
    }

    /// Microseconds since the epoch.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// The instant `us` microseconds after the epoch.
    pub fn instant_at(&self, us: u64) -> Instant {
        self.epoch + std::time::Duration::from_micros(us)
    }

    /// Declares the traffic: each receiver's room, and each sender's room and window.
    pub fn configure(&self, receiver_room: Vec<usize>, sender_room: &[usize], window: usize) {
        let members = |room: usize| receiver_room.iter().filter(|&&r| r == room).count() as u32;
        let window = window.max(1);
        let senders = sender_room
            .iter()
            .map(|&room| SenderState {
                room,
                members: members(room),
                window: Rc::new(Semaphore::new(window)),
                remaining: vec![0; window],
                slot_n: vec![u64::MAX; window],
                sent: 0,
                acked: 0,
                refused: 0,
            })
            .collect::<Vec<_>>();
        let streams = (receiver_room.len() * senders.len()).min(MAX_STREAMS);
        *self.streams.borrow_mut() = vec![Stream::default(); streams];
        *self.senders.borrow_mut() = senders;
        *self.receiver_room.borrow_mut() = receiver_room;
    }

    /// Starts (or restarts) recording latencies, clearing what was recorded before.
    pub fn start_recording(&self) {
        self.latency.borrow_mut().reset();
        self.ack_latency.borrow_mut().reset();
        self.recording.set(true);
    }

    /// Stops recording latencies.
    pub fn stop_recording(&self) {
        self.recording.set(false);
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        self.totals.get()
    }

    fn bump(&self, f: impl FnOnce(&mut Totals)) {
        let mut t = self.totals.get();
        f(&mut t);
        self.totals.set(t);
    }

    /// The sender's window, to take a slot from before sending.
    pub fn window(&self, sender: usize) -> Rc<Semaphore> {
        self.senders.borrow()[sender].window.clone()
    }

    /// Notes that sender `sender` sent message `n` (after taking a window slot).
    pub fn sent(&self, sender: usize, n: u64) {
        let mut senders = self.senders.borrow_mut();
        let s = &mut senders[sender];
        let slot = (n % s.remaining.len() as u64) as usize;
        s.remaining[slot] = s.members;
        s.slot_n[slot] = n;
        s.sent += 1;
        drop(senders);
        self.bump(|t| t.sent += 1);
    }

    /// An answer to a tracked send arrived.
    pub fn answered(&self, sender: usize, n: u64, sent_us: u64, ok: bool) {
        let mut senders = self.senders.borrow_mut();
        let s = &mut senders[sender];
        if ok {
            s.acked += 1;
            drop(senders);
            if self.recording.get() {
                let _ = self
                    .ack_latency
                    .borrow_mut()
                    .record(self.now_us().saturating_sub(sent_us).max(1));
            }
            self.bump(|t| t.acked += 1);
        } else {
            s.refused += 1;
            // A refused message is never delivered: free its slot now.
            let slot = (n % s.remaining.len() as u64) as usize;
            if s.slot_n[slot] == n && s.remaining[slot] > 0 {
                s.remaining[slot] = 0;
                s.window.add_permits(1);
            }
            drop(senders);
            self.bump(|t| t.refused += 1);
        }
    }

    /// Counts an error answer by its code.
    pub fn error_code(&self, code: &str) {
        *self.errors.borrow_mut().entry(code.to_owned()).or_default() += 1;
    }

    /// Counts an event that is not a message.
    pub fn other_event(&self) {
        self.bump(|t| t.other_events += 1);
    }

    /// A message event reached connection `receiver`.
    pub fn message(&self, receiver: usize, seen: &SeenMessage) {
        let Some(mark) = seen.mark else {
            self.bump(|t| t.unexpected += 1);
            return;
        };
        let now = self.now_us();
        let sender = mark.sender as usize;
        let mut senders = self.senders.borrow_mut();
        let in_room = senders
            .get(sender)
            .is_some_and(|s| self.receiver_room.borrow().get(receiver) == Some(&s.room));
        if !in_room {
            drop(senders);
            self.bump(|t| t.unexpected += 1);
            return;
        }
        let s = &mut senders[sender];
        let slot = (mark.n % s.remaining.len() as u64) as usize;
        if s.slot_n[slot] == mark.n && s.remaining[slot] > 0 {
            s.remaining[slot] -= 1;
            if s.remaining[slot] == 0 {
                s.window.add_permits(1);
            }
        }
        let count = senders.len();
        drop(senders);
        let verdict = self
            .streams
            .borrow_mut()
            .get_mut(receiver * count + sender)
            .and_then(|stream| stream.record(mark.n));
        if self.recording.get() {
            let _ = self
                .latency
                .borrow_mut()
                .record(now.saturating_sub(mark.t_us).max(1));
        }
        self.bump(|t| {
            t.deliveries += 1;
            match verdict {
                Some(true) => t.duplicates += 1,
                Some(false) => t.reordered += 1,
                None => {}
            }
        });
    }

    /// Deliveries owed to connections in the room but not received: for every (receiver,
    /// sender) pair in the same room, the sender's acknowledged messages minus the distinct
    /// ones received.
    pub fn lost(&self) -> u64 {
        let senders = self.senders.borrow();
        let rooms = self.receiver_room.borrow();
        let streams = self.streams.borrow();
        let count = senders.len();
        let mut lost = 0;
        for (r, room) in rooms.iter().enumerate() {
            for (s, sender) in senders.iter().enumerate() {
                if sender.room != *room {
                    continue;
                }
                let got = streams.get(r * count + s).map_or(0, Stream::distinct);
                lost += sender.acked.saturating_sub(got);
            }
        }
        lost
    }

    /// Deliveries owed for the messages acknowledged so far.
    pub fn expected(&self) -> u64 {
        self.senders
            .borrow()
            .iter()
            .map(|s| s.acked * u64::from(s.members))
            .sum()
    }

    /// Messages sent but neither acknowledged nor refused.
    pub fn unanswered(&self) -> u64 {
        self.senders
            .borrow()
            .iter()
            .map(|s| s.sent - s.acked - s.refused)
            .sum()
    }

    /// The delivery latency histogram (µs) recorded so far.
    pub fn latency(&self) -> Histogram<u64> {
        self.latency.borrow().clone()
    }

    /// The send-to-acknowledgement histogram (µs) recorded so far.
    pub fn ack_latency(&self) -> Histogram<u64> {
        self.ack_latency.borrow().clone()
    }

    /// Error answers by code.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::Mark;

    fn seen(sender: u32, n: u64) -> SeenMessage {
        SeenMessage {
            room: 1,
            seq: n + 1,
            mark: Some(Mark { sender, n, t_us: 0 }),
        }
    }

    #[test]
    fn gaps_late_arrivals_and_duplicates_are_told_apart() {
        let mut s = Stream::default();
        assert_eq!(s.record(0), None);
        assert_eq!(s.record(2), None); // 1 is missing
        assert_eq!(s.record(1), Some(false)); // late, not lost
        assert_eq!(s.record(1), Some(true)); // twice
        assert_eq!(s.record(5), None); // 3 and 4 missing
        assert_eq!(s.distinct(), 4);
    }

    #[test]
    fn lost_counts_every_member_that_missed_an_acknowledged_message() {
        let t = Tracker::new();
        // Receivers 0 and 1 in room 0, receiver 2 in room 1; one sender in room 0.
        t.configure(vec![0, 0, 1], &[0], 4);
        for n in 0..3 {
            t.sent(0, n);
            t.answered(0, n, 0, true);
        }
        for n in 0..3 {
            t.message(0, &seen(0, n));
        }
        t.message(1, &seen(0, 0));
        t.message(1, &seen(0, 0));
        t.message(2, &seen(0, 1)); // not in the room
        assert_eq!(t.expected(), 6);
        assert_eq!(t.lost(), 2);
        let totals = t.totals();
        assert_eq!(totals.deliveries, 5);
        assert_eq!(totals.duplicates, 1);
        assert_eq!(totals.unexpected, 1);
    }

    #[test]
    fn a_window_slot_frees_when_every_member_has_the_message() {
        let t = Tracker::new();
        t.configure(vec![0, 0], &[0], 1);
        let window = t.window(0);
        window.try_acquire().unwrap().forget();
        t.sent(0, 0);
        assert_eq!(window.available_permits(), 0);
        t.message(0, &seen(0, 0));
        assert_eq!(window.available_permits(), 0);
        t.message(1, &seen(0, 0));
        assert_eq!(window.available_permits(), 1);
        // A refused send frees its slot at once.
        window.try_acquire().unwrap().forget();
        t.sent(0, 1);
        t.answered(0, 1, 0, false);
        assert_eq!(window.available_permits(), 1);
    }
}
