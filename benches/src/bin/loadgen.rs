//! `loadgen`: drives the chat server with wss connections on loopback and reports what it
//! measured. `--scenario 1..6` runs a scenario of docs/BENCHMARKS.md; the other flags make a
//! free-form run or adjust a scenario.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chat_benches::LoadError;
use chat_benches::plan::{self, Mode, Plan, Servers};
use chat_benches::procfs;
use chat_benches::run::{Target, run_phases};
use chat_benches::server::ServerSpec;
use clap::Parser;

/// Load generator for the chat server (loopback only, bounded, stops by itself).
#[derive(Debug, Parser)]
#[command(name = "loadgen")]
struct Args {
    /// Run scenario 1 to 7 of docs/BENCHMARKS.md (other flags adjust it).
    #[arg(long)]
    scenario: Option<u32>,
    /// Free-form: traffic, idle or reconnect.
    #[arg(long, default_value = "traffic")]
    mode: String,
    /// Client connections (one account each).
    #[arg(long)]
    clients: Option<usize>,
    /// Rooms; client i joins room i mod rooms.
    #[arg(long)]
    rooms: Option<usize>,
    /// Senders (the first clients).
    #[arg(long)]
    senders: Option<usize>,
    /// Messages per second per sender (default: as fast as the window allows).
    #[arg(long)]
    rate: Option<f64>,
    /// Messages in flight per sender (sent, not yet delivered to every member).
    #[arg(long)]
    window: Option<usize>,
    /// Measured seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Warm-up seconds before measuring.
    #[arg(long)]
    warmup: Option<u64>,
    /// Message body bytes.
    #[arg(long)]
    body_bytes: Option<usize>,
    /// Connections set up at once.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Free-form traffic: end-to-end encrypted rooms (MLS ciphertext through `send_mls`).
    #[arg(long)]
    encrypted: bool,
    /// Nodes on the shared PostgreSQL + Redis backend (free-form; 0 = one embedded node).
    #[arg(long, default_value_t = 0)]
    shared_nodes: usize,
    /// Also run the same plan with this many clients first, as a baseline.
    #[arg(long)]
    baseline_clients: Option<usize>,
    /// Idle: do not restart the server before measuring. Reconnect: drop connections
    /// instead of restarting the server.
    #[arg(long)]
    no_restart: bool,
    /// Reconnect: restart the server instead of dropping the connections.
    #[arg(long)]
    restart: bool,
    /// The chat-server binary [default: next to this one].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Core the server is pinned to.
    #[arg(long, default_value_t = 0)]
    server_core: usize,
    /// Core the load generator is pinned to.
    #[arg(long, default_value_t = 1)]
    loadgen_core: usize,
    /// Pin nothing.
    #[arg(long)]
    no_pin: bool,
    /// Directory under which run directories are made [default: the system's temp dir].
    #[arg(long)]
    data_base: Option<PathBuf>,
    /// Extra flag for every server (repeat for several; e.g. --server-arg=--outbound-queue=4096).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Record a perf profile of node 0 during the measured part into this file (the last
    /// phase's profile is kept when a scenario has several).
    #[arg(long)]
    perf: Option<PathBuf>,
    /// Keep the run directories.
    #[arg(long)]
    keep_data: bool,
    /// PostgreSQL URL allowed to create databases, for shared-backend phases.
    #[arg(
        long,
        env = "CHAT_TEST_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg_admin_url: String,
    /// Redis URL for shared-backend phases.
    #[arg(long, env = "CHAT_TEST_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Scale scenario: messages to store before measuring (default 10,000,000).
    #[arg(long)]
    stored_messages: Option<u64>,
    /// Target an already running server at this wss:// URL (loopback) instead.
    #[arg(long, requires_all = ["fingerprint", "pid"])]
    url: Option<String>,
    /// The external server's certificate SHA-256 fingerprint.
    #[arg(long)]
    fingerprint: Option<String>,
    /// The external server's process id (for CPU and memory).
    #[arg(long)]
    pid: Option<u32>,
}

impl Args {
    fn plans(&self) -> Result<Vec<Plan>, LoadError> {
        let mut plans = match self.scenario {
            Some(n) => plan::scenario(n)?,
            None => vec![self.free_form()?],
        };
        for p in &mut plans {
            self.adjust(p);
        }
        if let (None, Some(k)) = (self.scenario, self.baseline_clients) {
            let base = plans[0].scaled_to(k);
            plans.insert(0, base);
        }
        Ok(plans)
    }

    fn free_form(&self) -> Result<Plan, LoadError> {
        let clients = self.clients.unwrap_or(100);
        let mut p = Plan::traffic(clients, self.senders.unwrap_or(clients.min(10)));
        p.mode = match self.mode.as_str() {
            "traffic" => Mode::Traffic,
            "idle" => Mode::Idle,
            "reconnect" => Mode::Reconnect,
            other => return Err(LoadError::Config(format!("unknown mode {other:?}"))),
        };
        if p.mode != Mode::Traffic {
            p.senders = 0;
            p.restart = p.mode == Mode::Idle;
        }
        if self.shared_nodes > 0 {
            p.servers = Servers::Shared(self.shared_nodes);
        }
        p.encrypted = self.encrypted;
        p.title = format!(
            "free-form {:?}{}: {} clients, {} senders",
            p.mode,
            if p.encrypted { ", encrypted" } else { "" },
            p.clients,
            p.senders
        );
        Ok(p)
    }

    fn adjust(&self, p: &mut Plan) {
        let is_base = p.title.starts_with("baseline");
        if let (Some(c), false) = (self.clients, is_base || self.scenario.is_none()) {
            p.clients = c;
        }
        if let Some(r) = self.rooms {
            p.rooms = if p.mode == Mode::Scale {
                r
            } else {
                r.min(p.clients)
            };
        }
        if let (Some(n), Mode::Scale) = (self.stored_messages, p.mode) {
            p.stored_messages = n;
        }
        if p.mode == Mode::Scale {
            let store = p.title.rsplit(", ").next().unwrap_or_default().to_owned();
            p.title = format!(
                "scenario 6: {} stored messages in {} rooms, {store}",
                chat_benches::report::grouped(p.stored_messages as f64),
                chat_benches::report::grouped(p.rooms as f64)
            );
        }
        if let (Some(s), None) = (self.senders, self.scenario) {
            p.senders = s.min(p.clients);
        }
        if let Some(r) = self.rate {
            p.rate = Some(r);
        }
        if let Some(w) = self.window {
            p.window = w;
        }
        if let Some(d) = self.duration {
            p.duration = Duration::from_secs(d);
        }
        if let Some(w) = self.warmup {
            p.warmup = Duration::from_secs(w);
        }
        if let Some(b) = self.body_bytes {
            p.body_bytes = b;
        }
        if let Some(c) = self.concurrency {
            p.concurrency = c;
        }
        if self.no_restart {
            p.restart = false;
        }
        if self.restart {
            p.restart = true;
        }
        p.profile = self.perf.clone();
    }

    fn target(&self) -> Result<Target, LoadError> {
        if let (Some(url), Some(fp), Some(pid)) = (&self.url, &self.fingerprint, self.pid) {
            return Ok(Target::External {
                url: url.clone(),
                pin: chat_benches::wire::parse_pin(fp)?,
                pid,
            });
        }
        Ok(Target::Spawn {
            binary: self.server_bin.clone().unwrap_or_else(ServerSpec::sibling_binary),
            core: (!self.no_pin).then_some(self.server_core),
            data_base: self.data_base.clone(),
            extra_args: self.server_args.clone(),
            pg_admin_url: self.pg_admin_url.clone(),
            redis_url: self.redis_url.clone(),
            keep: self.keep_data,
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), LoadError> {
    let plans = args.plans()?;
    let target = args.target()?;
    if !args.no_pin {
        // Before the runtime starts, so that every thread it makes inherits the pin.
        procfs::pin_to_core(args.loadgen_core)?;
    }
    let most = plans.iter().map(|p| p.clients + p.rooms).max().unwrap_or(0) as u64;
    let limit = procfs::raise_open_files(most + 512)?;
    eprintln!(
        "loadgen: {} phase(s); open-files limit {limit}; server core {}, load generator core {}",
        plans.len(),
        if args.no_pin {
            "any".to_owned()
        } else {
            args.server_core.to_string()
        },
        if args.no_pin {
            "any".to_owned()
        } else {
            args.loadgen_core.to_string()
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadError::io("starting the runtime", e))?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, run_phases(&plans, &target))?;
    Ok(())
}
