//! The servers under load: one or two `chat-server` processes started by the run (embedded
//! SQLite, or PostgreSQL + Redis shared by the nodes), or one server started by someone else
//! and named by its URL, fingerprint and PID.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::LoadError;
use crate::server::{ServerProcess, ServerSpec};
use crate::wire::{Endpoint, Pin};

/// Where the nodes keep their data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in each node's data directory, in-process fan-out (one node only).
    Embedded,
    /// PostgreSQL and Redis shared by every node. The run creates a fresh database through
    /// `pg_admin_url` and drops it at the end.
    Shared {
        /// A URL of the PostgreSQL server with the right to create databases.
        pg_admin_url: String,
        /// The Redis URL.
        redis_url: String,
    },
}

/// How to start the servers.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// The `chat-server` binary.
    pub binary: PathBuf,
    /// The core every node is pinned to, if any.
    pub core: Option<usize>,
    /// How many nodes.
    pub nodes: usize,
    /// Their storage and fan-out.
    pub backend: Backend,
    /// Flags given to every node.
    pub args: Vec<String>,
    /// The run's directory (data directories and logs go under it).
    pub dir: PathBuf,
}

/// One node.
pub struct Node {
    /// Where clients connect.
    pub endpoint: Endpoint,
    /// Its process id, for `/proc`.
    pub pid: u32,
    process: Option<ServerProcess>,
    spec: Option<ServerSpec>,
}

/// The servers of a run.
pub struct Cluster {
    nodes: Vec<Node>,
    database: Option<(String, String)>,
    /// The Redis URL and this run's key prefix, to remove its keys at the end.
    redis: Option<(String, String)>,
}

impl Cluster {
    /// Starts the nodes described by `spec`.
    pub async fn start(spec: &ClusterSpec) -> Result<Self, LoadError> {
        let mut shared_args = Vec::new();
        let mut database = None;
        let mut redis = None;
        match &spec.backend {
            Backend::Embedded if spec.nodes > 1 => {
                return Err(LoadError::Config(
                    "several nodes need the shared backend (--pg-admin-url and --redis-url)".into(),
                ));
            }
            Backend::Embedded => {}
            Backend::Shared {
                pg_admin_url,
                redis_url,
            } => {
                let name = format!("chat_load_{}", crate::setup::run_prefix());
                create_database(pg_admin_url, &name).await?;
                let url = database_url(pg_admin_url, &name)?;
                database = Some((pg_admin_url.clone(), name.clone()));
                redis = Some((redis_url.clone(), name.clone()));
                // Every node must read what any node encrypted: one at-rest key for all.
                let mut ids = crate::frames::IdGen::new(1);
                let key = format!(
                    "{}{}",
                    hex::encode(ids.uuid().as_bytes()),
                    hex::encode(ids.uuid().as_bytes())
                );
                shared_args.extend([
                    "--database-url".to_owned(),
                    url,
                    "--redis-url".to_owned(),
                    redis_url.clone(),
                    // Keys and channel of this run only, beside anything else on that Redis.
                    "--redis-prefix".to_owned(),
                    name.clone(),
                    "--at-rest-keys".to_owned(),
                    format!("1:{key}"),
                ]);
            }
        }
        let mut cluster = Self {
            nodes: Vec::new(),
            database,
            redis,
        };
        for i in 0..spec.nodes {
            let mut args = shared_args.clone();
            args.extend(spec.args.iter().cloned());
            let node_spec = ServerSpec {
                binary: spec.binary.clone(),
                core: spec.core,
                data_dir: spec.dir.join(format!("node{i}")),
                extra_args: args,
                log: spec.dir.join(format!("node{i}.log")),
            };
            eprintln!("starting node {i}: {}", node_spec.command_line());
            let node = start_node(node_spec).await;
            match node {
                Ok(node) => {
                    eprintln!("node {i}: pid {}, {:?}", node.pid, node.endpoint);
                    cluster.nodes.push(node);
                }
                Err(e) => {
                    cluster.stop().await;
                    return Err(e);
                }
            }
        }
        Ok(cluster)
    }

    /// A server someone else started.
    pub fn external(url: &str, pin: Pin, pid: u32) -> Result<Self, LoadError> {
        Ok(Self {
            nodes: vec![Node {
                endpoint: Endpoint::parse(url, pin)?,
                pid,
                process: None,
                spec: None,
            }],
            database: None,
            redis: None,
        })
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Every node's endpoint, in node order.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.nodes.iter().map(|n| n.endpoint.clone()).collect()
    }

    /// Stops every node this run started and starts it again on the same data (new ports).
    pub async fn restart(&mut self) -> Result<(), LoadError> {
        for node in &mut self.nodes {
            let (Some(process), Some(spec)) = (node.process.take(), node.spec.clone()) else {
                return Err(LoadError::Config(
                    "cannot restart a server this run did not start".into(),
                ));
            };
            process.stop().await?;
            *node = start_node(spec).await?;
        }
        Ok(())
    }

    /// Stops every node this run started, keeping their data, until [`Cluster::start_again`].
    pub async fn halt(&mut self) -> Result<(), LoadError> {
        for node in &mut self.nodes {
            if let Some(process) = node.process.take() {
                process.stop().await?;
            }
        }
        Ok(())
    }

    /// Starts the halted nodes again on their data (new ports); how long each took from
    /// its start to its announcement (listening, store open).
    pub async fn start_again(&mut self) -> Result<Vec<std::time::Duration>, LoadError> {
        let mut took = Vec::new();
        for node in &mut self.nodes {
            let Some(spec) = node.spec.clone() else {
                return Err(LoadError::Config(
                    "cannot restart a server this run did not start".into(),
                ));
            };
            let started = std::time::Instant::now();
            *node = start_node(spec).await?;
            took.push(started.elapsed());
        }
        Ok(took)
    }

    /// Node 0's data directory, when this run started it.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.nodes.first()?.spec.as_ref().map(|s| s.data_dir.clone())
    }

    /// The value node 0 was given for `flag` (`--database-url`, `--at-rest-keys`).
    pub fn node_arg(&self, flag: &str) -> Option<String> {
        let args = &self.nodes.first()?.spec.as_ref()?.extra_args;
        let at = args.iter().position(|a| a == flag)?;
        args.get(at + 1).cloned()
    }

    /// Every node's metrics, in node order (empty for a node without a metrics listener).
    pub async fn metrics(&self) -> Vec<BTreeMap<String, f64>> {
        let mut all = Vec::new();
        for node in &self.nodes {
            let m = match &node.process {
                Some(p) => p.metrics().await.unwrap_or_default(),
                None => BTreeMap::new(),
            };
            all.push(m);
        }
        all
    }

    /// Stops the nodes this run started and drops the run's database.
    pub async fn stop(self) {
        for node in self.nodes {
            if let Some(process) = node.process
                && let Err(e) = process.stop().await
            {
                eprintln!("warning: {e}");
            }
        }
        if let Some((admin, name)) = self.database
            && let Err(e) = psql(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
        {
            eprintln!("warning: dropping database {name}: {e}");
        }
        if let Some((url, prefix)) = self.redis
            && let Err(e) = drop_redis_keys(&url, &prefix).await
        {
            eprintln!("warning: removing Redis keys {prefix}*: {e}");
        }
    }
}

async fn start_node(spec: ServerSpec) -> Result<Node, LoadError> {
    let process = ServerProcess::start(&spec).await?;
    Ok(Node {
        endpoint: Endpoint::parse(&process.url, process.pin)?,
        pid: process.pid,
        process: Some(process),
        spec: Some(spec),
    })
}

/// The admin URL with its database name replaced by `name`.
fn database_url(admin: &str, name: &str) -> Result<String, LoadError> {
    let (base, _) = admin
        .rsplit_once('/')
        .filter(|(base, _)| base.contains("://") && base.len() > "postgres://".len())
        .ok_or_else(|| LoadError::Config(format!("{admin:?} is not a postgres:// URL with a database")))?;
    Ok(format!("{base}/{name}"))
}

async fn create_database(admin: &str, name: &str) -> Result<(), LoadError> {
    psql(admin, &format!("CREATE DATABASE {name}")).await
}

/// Deletes the keys under this run's prefix (the nodes' registry and presence) with the
/// `redis-cli` client.
async fn drop_redis_keys(url: &str, prefix: &str) -> Result<(), LoadError> {
    const SCRIPT: &str =
        "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 0";
    let output = tokio::process::Command::new("redis-cli")
        .args(["-u", url, "EVAL", SCRIPT, "0", &format!("{prefix}*")])
        .output()
        .await
        .map_err(|e| LoadError::io("running redis-cli", e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LoadError::Server(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

/// Runs one SQL statement with the `psql` client.
async fn psql(url: &str, sql: &str) -> Result<(), LoadError> {
    let output = tokio::process::Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .await
        .map_err(|e| LoadError::io("running psql", e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LoadError::Server(format!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// The run's directory: a fresh temporary directory under `base` (or the system's).
pub fn run_dir(base: Option<&Path>) -> Result<tempfile::TempDir, LoadError> {
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("chat-load-");
        b
    };
    match base {
        Some(base) => builder.tempdir_in(base),
        None => builder.tempdir(),
    }
    .map_err(|e| LoadError::io("creating the run directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_admin_one() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert!(database_url("nonsense", "x").is_err());
    }
}
