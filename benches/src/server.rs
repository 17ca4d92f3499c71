//! The server under load as a child process: the release `chat-server` binary, pinned to a
//! core with `taskset`, on a data directory of the run's, listening on a free loopback port.
//! Its announcement on stdout gives the URL and the certificate fingerprint; its metrics
//! listener gives the core's counters at the end.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::error::LoadError;
use crate::wire::Pin;

/// How to start one server process.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// The `chat-server` binary.
    pub binary: PathBuf,
    /// The core to pin it to (`taskset -c`), if any.
    pub core: Option<usize>,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Flags after the ones every run needs.
    pub extra_args: Vec<String>,
    /// Where its stderr (the log) goes.
    pub log: PathBuf,
}

impl ServerSpec {
    /// The release binary next to the running load generator (`target/release/chat-server`).
    pub fn sibling_binary() -> PathBuf {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("chat-server")))
            .unwrap_or_else(|| PathBuf::from("target/release/chat-server"))
    }

    /// Every flag the process gets.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--data-dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(self.data_dir.display().to_string());
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// The command line, as a person would type it.
    pub fn command_line(&self) -> String {
        let mut words = Vec::new();
        if let Some(core) = self.core {
            words.push(format!("taskset -c {core}"));
        }
        words.push(self.binary.display().to_string());
        words.extend(self.args());
        words.join(" ")
    }
}

/// A started server process.
pub struct ServerProcess {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// Its `wss://` URL.
    pub url: String,
    /// Its certificate pin.
    pub pin: Pin,
    /// Its metrics listener.
    pub metrics: Option<SocketAddr>,
}

impl ServerProcess {
    /// Starts the process and waits (at most two minutes) for its announcement.
    pub async fn start(spec: &ServerSpec) -> Result<Self, LoadError> {
        if !spec.binary.exists() {
            return Err(LoadError::Server(format!(
                "{} not found; build it with `cargo build --release -p chat-server` or pass --server-bin",
                spec.binary.display()
            )));
        }
        let log = std::fs::File::create(&spec.log)
            .map_err(|e| LoadError::io(format!("creating {}", spec.log.display()), e))?;
        let mut command = match spec.core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).arg(&spec.binary);
                c
            }
            None => Command::new(&spec.binary),
        };
        command
            .args(spec.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| LoadError::io(format!("starting {}", spec.binary.display()), e))?;
        let pid = child
            .id()
            .ok_or_else(|| LoadError::Server("the server exited at once".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| LoadError::Server("no stdout".into()))?;
        let announced = tokio::time::timeout(Duration::from_secs(120), read_announcement(stdout)).await;
        let (url, pin, metrics) = match announced {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => return Err(with_log(e, spec)),
            Err(_) => return Err(with_log(LoadError::Timeout("server start-up".into()), spec)),
        };
        Ok(Self {
            child,
            pid,
            url,
            pin,
            metrics,
        })
    }

    /// Stops the process gracefully (SIGTERM), or kills it after 20 s.
    pub async fn stop(mut self) -> Result<(), LoadError> {
        signal(self.pid, libc::SIGTERM);
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(Ok(_)) => Ok(()),
            _ => {
                let _ = self.child.kill().await;
                Err(LoadError::Server(
                    "the server did not stop within 20 s; killed".into(),
                ))
            }
        }
    }

    /// The server's Prometheus counters, by metric name (labels included).
    pub async fn metrics(&self) -> Result<BTreeMap<String, f64>, LoadError> {
        match self.metrics {
            Some(addr) => scrape(addr).await,
            None => Ok(BTreeMap::new()),
        }
    }
}

fn with_log(e: LoadError, spec: &ServerSpec) -> LoadError {
    let log = std::fs::read_to_string(&spec.log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(10).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    LoadError::Server(format!("{e}; log {}:\n{}", spec.log.display(), tail.join("\n")))
}

/// Sends a signal to a process we started.
fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a pid of our own child has no memory effects.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Reads the announcement lines: `url:`, `SHA-256:` and `metrics:`.
async fn read_announcement(
    stdout: tokio::process::ChildStdout,
) -> Result<(String, Pin, Option<SocketAddr>), LoadError> {
    let mut lines = BufReader::new(stdout).lines();
    let (mut url, mut pin) = (None, None);
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| LoadError::io("reading the server's stdout", e))?
    {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("url:") {
            url = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("SHA-256:") {
            pin = Some(crate::wire::parse_pin(rest.trim())?);
        } else if line.starts_with("health:") {
            let metrics = line
                .split("http://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .and_then(|addr| addr.parse().ok());
            // Keep draining stdout so the server never blocks on a full pipe.
            tokio::task::spawn_local(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return match (url, pin) {
                (Some(url), Some(pin)) => Ok((url, pin, metrics)),
                _ => Err(LoadError::Server(
                    "the announcement lacks the URL or the fingerprint (is TLS off?)".into(),
                )),
            };
        }
    }
    Err(LoadError::Server(
        "the server exited before announcing itself".into(),
    ))
}

/// GETs `/metrics` over plain HTTP and parses `name value` lines.
pub async fn scrape(addr: SocketAddr) -> Result<BTreeMap<String, f64>, LoadError> {
    let io = |e| LoadError::io(format!("scraping http://{addr}/metrics"), e);
    let mut tcp = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
    tcp.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .map_err(io)?;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_string(&mut text))
        .await
        .map_err(|_| LoadError::Timeout("scraping metrics".into()))?
        .map_err(io)?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok(parse_metrics(body))
}

fn parse_metrics(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_lines_parse_with_labels() {
        let body = "# HELP x y\n# TYPE x counter\nchat_messages_stored_total 12\nchat_errors_total{code=\"rate_limited\"} 3\n1a\n";
        let m = parse_metrics(body);
        assert_eq!(m["chat_messages_stored_total"], 12.0);
        assert_eq!(m["chat_errors_total{code=\"rate_limited\"}"], 3.0);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn the_command_line_pins_and_lists_every_flag() {
        let spec = ServerSpec {
            binary: "/x/chat-server".into(),
            core: Some(0),
            data_dir: "/tmp/d".into(),
            extra_args: vec!["--bcrypt-cost".into(), "4".into()],
            log: "/tmp/log".into(),
        };
        let line = spec.command_line();
        assert!(
            line.starts_with("taskset -c 0 /x/chat-server --listen 127.0.0.1:0"),
            "{line}"
        );
        assert!(line.ends_with("--data-dir /tmp/d --bcrypt-cost 4"), "{line}");
    }
}
