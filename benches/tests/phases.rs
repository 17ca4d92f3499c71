//! The load generator's phases against a real server started in this process (TLS,
//! SQLite on disk, in-process hub): short, bounded runs that must lose nothing.

use std::time::Duration;

use chat_benches::plan::{Mode, Plan};
use chat_benches::run::{Target, run_phases};
use chat_benches::wire::Pin;

/// Starts a server on its own runtime; returns the runtime (keep it alive), the server and
/// the target naming it.
fn server(dir: &std::path::Path) -> (tokio::runtime::Runtime, chat_server::RunningServer, Target) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut config = chat_server::ServerConfig::local(dir);
    config.core.bcrypt_cost = 4;
    config.core.requests_per_second = 1_000_000;
    let server = rt.block_on(chat_server::start(config)).unwrap();
    let target = Target::External {
        url: server.ws_url(),
        pin: Pin::of_der(&server.cert_der().unwrap()),
        // The server runs in this process: /proc/self is its CPU and memory.
        pid: std::process::id(),
    };
    (rt, server, target)
}

fn run(plan: Plan, target: &Target) -> chat_benches::report::Report {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let mut reports = local.block_on(&rt, run_phases(&[plan], target)).unwrap();
    reports.pop().unwrap()
}

#[test]
fn a_traffic_phase_delivers_every_message_to_every_member_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, _server, target) = server(dir.path());
    let mut plan = Plan::traffic(6, 2);
    plan.rooms = 2;
    plan.window = 4;
    plan.warmup = Duration::from_millis(200);
    plan.duration = Duration::from_secs(1);
    let report = run(plan, &target);
    assert!(report.figures["deliveries_per_sec"] > 0.0, "{report}");
    assert!(report.figures["messages_per_sec"] > 0.0, "{report}");
    assert_eq!(report.figures["lost"], 0.0, "{report}");
    let duplicates = report
        .lines
        .iter()
        .find(|(k, _)| k == "duplicates / reordered")
        .unwrap();
    assert_eq!(duplicates.1, "0 / 0", "{report}");
}

#[test]
fn dropped_clients_reconnect_and_resume_exactly_what_they_missed() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, _server, target) = server(dir.path());
    let mut plan = Plan::traffic(8, 0);
    plan.mode = Mode::Reconnect;
    plan.rooms = 2;
    plan.before = 2;
    plan.during = 3;
    let report = run(plan, &target);
    assert_eq!(report.figures["resumed_clients"], 8.0, "{report}");
    assert_eq!(report.figures["resume_missing"], 0.0, "{report}");
    assert_eq!(report.figures["resume_disorder"], 0.0, "{report}");
    assert!(
        report
            .lines
            .iter()
            .any(|(_, v)| v.starts_with("24 (expected 24)")),
        "{report}"
    );
}
