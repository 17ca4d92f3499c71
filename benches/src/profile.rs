//! CPU profiles of a server node with `perf record` (call graphs from DWARF, since release
//! builds keep no frame pointers), started and stopped around the measured part of a phase.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::error::LoadError;

/// A running `perf record`.
pub struct Profiler {
    child: Child,
}

impl Profiler {
    /// Starts sampling process `pid` into `out`.
    pub fn start(pid: u32, out: &Path) -> Result<Self, LoadError> {
        let child = Command::new("perf")
            .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
            .arg(out)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LoadError::io("starting perf (apt install linux-perf)", e))?;
        eprintln!("profiling pid {pid} into {}", out.display());
        Ok(Self { child })
    }

    /// Stops sampling (SIGINT lets perf write its file) and waits for it.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: kill(2) on the perf process this run started.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        if tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
