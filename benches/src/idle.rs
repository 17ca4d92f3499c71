//! Idle phases: many authenticated connections that only stay open (answering pings).
//! Measures the server's memory per connection and its CPU while idle.
//!
//! Accounts are made first; then (with `restart`) the server is restarted so that the
//! measured process holds nothing from the setup, its resident memory is read, every
//! account connects and authenticates with its session token, and memory and CPU are read
//! again after the connections have been idle for the plan's duration.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::error::LoadError;
use crate::plan::Plan;
use crate::report::{Report, grouped};
use crate::setup::{self, Account};
use crate::track::Tracker;
use crate::traffic::{progress_line, sample_all};

/// Runs one idle phase; may restart the cluster.
pub async fn run(cluster: &mut Cluster, plan: &Plan) -> Result<Report, LoadError> {
    let tracker = Rc::new(Tracker::new());
    let prefix = setup::run_prefix();
    let endpoints = cluster.endpoints();
    let (_rooms, made) = setup::populate(&endpoints, &tracker, &prefix, plan).await?;
    let accounts: Vec<Account> = made.iter().map(|(_, a)| a.clone()).collect();
    if plan.restart {
        for (conn, _) in &made {
            conn.close();
        }
        drop(made);
        tokio::time::sleep(Duration::from_secs(2)).await;
        eprintln!("restarting the server so that the measured process starts clean");
        cluster.restart().await?;
    }
    // Let the (re)started server settle before the baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (before, _) = sample_all(cluster)?;

    let started = Instant::now();
    let tcp_before = crate::procfs::tcp_storm_counters();
    let conns = setup::resume_clients(&cluster.endpoints(), &tracker, &accounts, plan.concurrency).await?;
    let connect_secs = started.elapsed().as_secs_f64();
    let tcp = crate::procfs::counter_deltas(&tcp_before, &crate::procfs::tcp_storm_counters());
    let (connected, _) = sample_all(cluster)?;

    let (mut prev, mut prev_own) = sample_all(cluster)?;
    let (idle_from, idle_own) = (prev.clone(), prev_own);
    let idle_started = Instant::now();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    while idle_started.elapsed() < plan.duration {
        tick.tick().await;
        let (nodes, own) = sample_all(cluster)?;
        let open = conns.iter().filter(|c| !c.is_gone()).count();
        eprintln!(
            "{} open connections {open}",
            progress_line(idle_started.elapsed(), &nodes, &prev, &own, &prev_own)
        );
        (prev, prev_own) = (nodes, own);
    }
    let (after, after_own) = sample_all(cluster)?;
    let open = conns.iter().filter(|c| !c.is_gone()).count();
    let metrics = cluster.metrics().await;
    for conn in &conns {
        conn.close();
    }

    let mut report = Report::new(&plan.title);
    report.line(
        "setup",
        format!(
            "{} accounts in {} rooms; server restarted before measuring: {}",
            plan.clients, plan.rooms, plan.restart
        ),
    );
    report.line(
        "connect + TLS + resume_session",
        format!(
            "{} connections in {connect_secs:.1} s ({}/s, {} at once)",
            grouped(conns.len() as f64),
            grouped(conns.len() as f64 / connect_secs.max(1e-9)),
            plan.concurrency
        ),
    );
    report.line("kernel TCP counters while connecting", tcp);
    report.line("still open at the end", open);
    for (i, ((b, c), a)) in before.iter().zip(&connected).zip(&after).enumerate() {
        let per_conn = |s: &crate::procfs::Sample| {
            (s.rss_kib as f64 - b.rss_kib as f64) / (conns.len() / before.len()).max(1) as f64
        };
        report.figure(
            "kib_per_connection",
            &format!("node {i} memory per idle connection"),
            per_conn(a),
            format!(
                "{:.2} KiB (RSS {:.1} MiB before, {:.1} MiB connected, {:.1} MiB after {:.0} s idle; {:.2} KiB right after connecting)",
                per_conn(a),
                b.rss_kib as f64 / 1024.0,
                c.rss_kib as f64 / 1024.0,
                a.rss_kib as f64 / 1024.0,
                plan.duration.as_secs_f64(),
                per_conn(c)
            ),
        );
    }
    for (i, (b, a)) in idle_from.iter().zip(&after).enumerate() {
        let share = a.cpu_share_since(b);
        report.figure(
            "idle_cpu",
            &format!("node {i} CPU while idle"),
            share,
            format!(
                "{:.1}% of a core ({:.2} µs of CPU per connection per second)",
                share * 100.0,
                share * 1e6 / (conns.len() / idle_from.len()).max(1) as f64
            ),
        );
    }
    report.line(
        "load generator",
        format!(
            "CPU {:.1}% of a core while idle",
            after_own.cpu_share_since(&idle_own) * 100.0
        ),
    );
    for (i, m) in metrics.iter().enumerate() {
        let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
        report.line(
            &format!("node {i} gauges"),
            format!(
                "connections {} authenticated {}",
                get("chat_connections"),
                get("chat_authenticated_connections")
            ),
        );
    }
    Ok(report)
}
