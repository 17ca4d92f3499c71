//! What a run does: a [`Plan`] per phase, and the six scenarios of the benchmark document
//! as ready-made suites of phases.

use std::time::Duration;

use crate::error::LoadError;

/// The most members an encrypted room has (the server refuses more with `room_full`).
const ENCRYPTED_ROOM_MEMBERS: usize = 400;

/// The kind of load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Senders send to rooms; every member receives.
    Traffic,
    /// Authenticated connections that only stay open.
    Idle,
    /// Connected clients all lose their connection, then reconnect and resume at once.
    Reconnect,
    /// Millions of stored messages: history pages at random depths, server start, bytes on
    /// disk, and one user resuming many rooms.
    Scale,
}

/// Which servers a phase runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Servers {
    /// One node, embedded SQLite and in-process fan-out.
    Embedded,
    /// `n` nodes on the shared PostgreSQL + Redis backend.
    Shared(usize),
}

/// One phase of a run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// What the phase is, for the report.
    pub title: String,
    /// The kind of load.
    pub mode: Mode,
    /// The servers it runs against.
    pub servers: Servers,
    /// Client connections (one account each).
    pub clients: usize,
    /// Rooms; client `i` is in room `i % rooms`.
    pub rooms: usize,
    /// Senders (clients `0..senders`).
    pub senders: usize,
    /// Messages per second per sender; `None` sends as fast as the window allows.
    pub rate: Option<f64>,
    /// Messages per sender in flight (sent, not yet delivered to every member).
    pub window: usize,
    /// How long the measured part lasts.
    pub duration: Duration,
    /// Traffic before measuring starts.
    pub warmup: Duration,
    /// Message body size in bytes.
    pub body_bytes: usize,
    /// Connections being set up at once.
    pub concurrency: usize,
    /// Idle: measure on a freshly started server process (setup traffic not in its memory).
    /// Reconnect: restart the server instead of dropping the connections.
    pub restart: bool,
    /// Reconnect: messages per room delivered before the connections drop.
    pub before: u32,
    /// Reconnect: messages per room sent while the clients are away (what they resume).
    pub during: u32,
    /// Scale: messages stored (spread evenly over the rooms) before measuring.
    pub stored_messages: u64,
    /// Traffic: the rooms are end-to-end encrypted (private, joined by invite links) and the
    /// senders send MLS ciphertext with `send_mls`.
    pub encrypted: bool,
    /// Record a CPU profile of node 0 with `perf record` into this file during the measured
    /// part (traffic) or the reconnect storm.
    pub profile: Option<std::path::PathBuf>,
}

impl Plan {
    /// A traffic plan with the defaults of the free-form command line.
    pub fn traffic(clients: usize, senders: usize) -> Self {
        Self {
            title: format!("{clients} clients, {senders} senders"),
            mode: Mode::Traffic,
            servers: Servers::Embedded,
            clients,
            rooms: 1,
            senders,
            rate: None,
            window: 32,
            duration: Duration::from_secs(15),
            warmup: Duration::from_secs(3),
            body_bytes: 100,
            concurrency: 64,
            restart: false,
            before: 5,
            during: 20,
            stored_messages: 0,
            encrypted: false,
            profile: None,
        }
    }

    /// Checks the numbers against the load generator's bounds.
    pub fn validate(&self) -> Result<(), LoadError> {
        let bad = |what: &str| Err(LoadError::Config(what.to_owned()));
        if self.clients == 0 || self.clients > 20_000 {
            return bad("clients must be between 1 and 20000");
        }
        if self.mode == Mode::Scale {
            if self.rooms < crate::scale::READER_ROOMS || self.stored_messages < self.rooms as u64 {
                return bad("scale: at least 1,000 rooms and a message per room");
            }
            return Ok(());
        }
        if self.rooms == 0 || self.rooms > self.clients {
            return bad("rooms must be between 1 and the number of clients");
        }
        if self.senders > self.clients {
            return bad("senders cannot outnumber clients");
        }
        if self.clients * self.senders > crate::track::MAX_STREAMS {
            return bad("clients x senders is too large to track each pair");
        }
        if self.duration > Duration::from_secs(600) || self.duration.is_zero() {
            return bad("duration must be between 1 s and 600 s");
        }
        if self.rate.is_some_and(|r| !(r > 0.0 && r <= 100_000.0)) {
            return bad("rate must be between 0 and 100000 messages/s per sender");
        }
        if !(24..=chat_proto::MAX_BODY_BYTES).contains(&self.body_bytes) {
            return bad("body bytes must be between 24 and 16384");
        }
        if self.window == 0 || self.window > 100_000 {
            return bad("window must be between 1 and 100000");
        }
        if self.encrypted {
            if self.mode != Mode::Traffic {
                return bad("only traffic runs can be encrypted");
            }
            // Every room's members: its share of the clients and the owner who made it.
            if self.clients.div_ceil(self.rooms) + 1 > ENCRYPTED_ROOM_MEMBERS {
                return bad("an encrypted room holds at most 400 members: use more rooms");
            }
            if self.body_bytes > chat_e2ee::MAX_TEXT_BYTES {
                return bad("body too long for an encrypted message");
            }
        }
        Ok(())
    }

    /// The same plan with fewer clients (and at most as many senders): a baseline.
    pub fn scaled_to(&self, clients: usize) -> Self {
        let mut p = self.clone();
        p.clients = clients;
        p.senders = p.senders.min(clients);
        p.rooms = p.rooms.min(clients);
        p.title = format!("baseline: {}", p.title);
        p
    }
}

/// How many scenarios there are.
pub const SCENARIOS: u32 = 7;

/// One of the benchmark document's scenarios: its phases, in order. Where a phase is a
/// baseline, the report gives the main phase's figures as ratios of it.
pub fn scenario(number: u32) -> Result<Vec<Plan>, LoadError> {
    let secs = Duration::from_secs;
    Ok(match number {
        1 => {
            let mut main = Plan::traffic(100, 10);
            main.title = "scenario 1: 100 clients in one room, 10 senders as fast as possible".into();
            // The baseline: the same senders with nobody else in the room.
            vec![main.scaled_to(10), main]
        }
        2 => {
            let mut main = Plan::traffic(1000, 1);
            main.title = "scenario 2: 1,000 clients in one room, 1 sender at 100 msg/s".into();
            main.rate = Some(100.0);
            main.window = 1000;
            vec![main.scaled_to(10), main]
        }
        3 => {
            let mut main = Plan::traffic(10_000, 0);
            main.title = "scenario 3: 10,000 idle authenticated connections".into();
            main.mode = Mode::Idle;
            main.rooms = 100;
            main.duration = secs(20);
            main.restart = true;
            vec![main]
        }
        4 => {
            let mut embedded = Plan::traffic(100, 10);
            embedded.title = "scenario 4 baseline: 1 node, embedded (scenario 1 traffic)".into();
            let mut one = embedded.clone();
            one.title = "scenario 4: 1 node on PostgreSQL + Redis".into();
            one.servers = Servers::Shared(1);
            let mut two = embedded.clone();
            two.title = "scenario 4: 2 nodes on PostgreSQL + Redis (clients split between them)".into();
            two.servers = Servers::Shared(2);
            vec![embedded, one, two]
        }
        5 => {
            let mut main = Plan::traffic(10_000, 0);
            main.title = "scenario 5: 10,000 clients reconnecting and resuming at once".into();
            main.mode = Mode::Reconnect;
            main.rooms = 100;
            let mut base = main.scaled_to(1000);
            base.rooms = 10;
            vec![base, main]
        }
        6 => {
            let mut sqlite = Plan::traffic(1, 0);
            sqlite.title = "scenario 6: 10 million stored messages in 10,000 rooms, SQLite".into();
            sqlite.mode = Mode::Scale;
            sqlite.rooms = 10_000;
            sqlite.stored_messages = 10_000_000;
            let mut postgres = sqlite.clone();
            postgres.title = "scenario 6: 10 million stored messages in 10,000 rooms, PostgreSQL".into();
            postgres.servers = Servers::Shared(1);
            vec![sqlite, postgres]
        }
        7 => {
            let mut public = Plan::traffic(100, 10);
            public.title = "scenario 7 baseline: a public room (scenario 1 traffic)".into();
            let mut encrypted = public.clone();
            encrypted.title = "scenario 7: the same room end-to-end encrypted (MLS ciphertext)".into();
            encrypted.encrypted = true;
            vec![public, encrypted]
        }
        n => {
            return Err(LoadError::Config(format!(
                "there is no scenario {n} (1 to {SCENARIOS})"
            )));
        }
    })
}

/// Server flags a phase needs beyond the defaults: room for every connection from one
/// address (all load comes from 127.0.0.1), and for traffic runs a request rate limit that
/// the senders do not hit (the limit is a policy, not part of the cost being measured).
pub fn server_flags(plan: &Plan) -> Vec<String> {
    let conns = (plan.clients + 1000).max(10_000).to_string();
    let mut flags = vec![
        "--bcrypt-cost".to_owned(),
        "4".to_owned(),
        "--max-connections".to_owned(),
        conns.clone(),
        "--max-connections-per-ip".to_owned(),
        conns,
    ];
    if (plan.mode == Mode::Traffic && plan.senders > 0) || plan.mode == Mode::Scale {
        flags.extend(["--requests-per-second".to_owned(), "1000000".to_owned()]);
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_is_valid() {
        for n in 1..=SCENARIOS {
            for plan in scenario(n).unwrap() {
                plan.validate().unwrap_or_else(|e| panic!("scenario {n}: {e}"));
            }
        }
        assert!(scenario(SCENARIOS + 1).is_err());
        assert!(scenario(0).is_err());
    }

    #[test]
    fn encrypted_rooms_stay_within_the_servers_member_limit() {
        let mut plan = Plan::traffic(400, 10);
        plan.encrypted = true;
        assert!(
            plan.validate().is_err(),
            "400 clients and the owner are 401 members"
        );
        plan.rooms = 2;
        plan.validate().unwrap();
        plan.mode = Mode::Idle;
        assert!(plan.validate().is_err());
    }

    #[test]
    fn a_window_never_exceeds_the_default_outbound_queue() {
        // Every receiver holds at most senders x window undelivered events of this run,
        // below the server's default queue of 1024 frames.
        let plan = &scenario(1).unwrap()[1];
        assert!(plan.senders * plan.window < 1024);
    }
}
