//! Running the phases of a scenario one after the other, each against servers of its own
//! (fresh processes on a fresh directory, or the external server), and comparing every
//! phase with the first when there are several.

use std::path::PathBuf;

use crate::cluster::{Backend, Cluster, ClusterSpec, run_dir};
use crate::error::LoadError;
use crate::plan::{Mode, Plan, Servers, server_flags};
use crate::report::{Report, ratios};
use crate::wire::Pin;
use crate::{idle, reconnect, scale, traffic};

/// The servers to put under load.
#[derive(Clone, Debug)]
pub enum Target {
    /// Start `chat-server` processes for each phase.
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The core the servers are pinned to.
        core: Option<usize>,
        /// Where run directories go (the system's temporary directory by default).
        data_base: Option<PathBuf>,
        /// Extra flags for every server, after the phase's own.
        extra_args: Vec<String>,
        /// PostgreSQL admin URL for shared-backend phases.
        pg_admin_url: String,
        /// Redis URL for shared-backend phases.
        redis_url: String,
        /// Keep the run directories (databases, logs) instead of deleting them.
        keep: bool,
    },
    /// A server someone else started.
    External {
        /// Its `wss://` URL (loopback only).
        url: String,
        /// Its certificate pin.
        pin: Pin,
        /// Its process id, for `/proc`.
        pid: u32,
    },
}

/// Runs every phase; prints each report as it completes and the ratios at the end.
pub async fn run_phases(plans: &[Plan], target: &Target) -> Result<Vec<Report>, LoadError> {
    for plan in plans {
        plan.validate()?;
    }
    let mut reports = Vec::new();
    for plan in plans {
        eprintln!("--- {}", plan.title);
        let report = run_phase(plan, target).await?;
        println!("{report}");
        reports.push(report);
    }
    if let Some((base, rest)) = reports.split_first() {
        for main in rest {
            println!("== {} compared with {}", main.title, base.title);
            for line in ratios(main, base) {
                println!("{line}");
            }
        }
    }
    Ok(reports)
}

async fn run_phase(plan: &Plan, target: &Target) -> Result<Report, LoadError> {
    match target {
        Target::External { url, pin, pid } => {
            if plan.servers != Servers::Embedded
                || (plan.restart && plan.mode != Mode::Traffic)
                || plan.mode == Mode::Scale
            {
                return Err(LoadError::Config(
                    "against an external server a phase can neither restart it nor start more nodes (use --no-restart)"
                        .into(),
                ));
            }
            let mut cluster = Cluster::external(url, *pin, *pid)?;
            dispatch(&mut cluster, plan).await
        }
        Target::Spawn {
            binary,
            core,
            data_base,
            extra_args,
            pg_admin_url,
            redis_url,
            keep,
        } => {
            let dir = run_dir(data_base.as_deref())?;
            let (nodes, backend) = match plan.servers {
                Servers::Embedded => (1, Backend::Embedded),
                Servers::Shared(n) => (
                    n,
                    Backend::Shared {
                        pg_admin_url: pg_admin_url.clone(),
                        redis_url: redis_url.clone(),
                    },
                ),
            };
            let mut args = server_flags(plan);
            args.extend(extra_args.iter().cloned());
            let spec = ClusterSpec {
                binary: binary.clone(),
                core: *core,
                nodes,
                backend,
                args,
                dir: dir.path().to_path_buf(),
            };
            let mut cluster = Cluster::start(&spec).await?;
            let result = dispatch(&mut cluster, plan).await;
            cluster.stop().await;
            if *keep || result.is_err() {
                let kept = dir.keep();
                eprintln!("run directory kept: {}", kept.display());
            }
            result
        }
    }
}

async fn dispatch(cluster: &mut Cluster, plan: &Plan) -> Result<Report, LoadError> {
    let mut report = match plan.mode {
        Mode::Traffic => traffic::run(cluster, plan).await?,
        Mode::Idle => idle::run(cluster, plan).await?,
        Mode::Reconnect => reconnect::run(cluster, plan).await?,
        Mode::Scale => scale::run(cluster, plan).await?,
    };
    let nodes = cluster.nodes().len();
    if let Some(total) = report.figures.get("deliveries_per_sec").copied() {
        report
            .figures
            .insert("deliveries_per_sec_per_node", total / nodes as f64);
    }
    Ok(report)
}
