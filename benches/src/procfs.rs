//! CPU time and memory of a process, read from `/proc` (Linux).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::error::LoadError;

/// One reading of a process's counters.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// When it was read.
    pub at: Instant,
    /// User plus system CPU time so far, in seconds.
    pub cpu_secs: f64,
    /// Resident set size in KiB.
    pub rss_kib: u64,
    /// Threads.
    pub threads: u64,
}

impl Sample {
    /// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`.
    pub fn read(pid: u32) -> Result<Self, LoadError> {
        let at = Instant::now();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|e| LoadError::io(format!("reading /proc/{pid}/stat"), e))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| LoadError::io(format!("reading /proc/{pid}/status"), e))?;
        let ticks =
            cpu_ticks(&stat).ok_or_else(|| LoadError::Server(format!("cannot parse /proc/{pid}/stat")))?;
        Ok(Self {
            at,
            cpu_secs: ticks as f64 / clock_ticks_per_second(),
            rss_kib: status_field(&status, "VmRSS:").unwrap_or(0),
            threads: status_field(&status, "Threads:").unwrap_or(0),
        })
    }

    /// This process.
    pub fn own() -> Result<Self, LoadError> {
        Self::read(std::process::id())
    }

    /// CPU used between `earlier` and this sample, as a fraction of one core.
    pub fn cpu_share_since(&self, earlier: &Sample) -> f64 {
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        (self.cpu_secs - earlier.cpu_secs) / wall
    }
}

/// The kernel's TCP counters that tell of a connection storm (accept queue overflows, SYN
/// retransmissions, SYN cookies), from `/proc/net/netstat`. System-wide: on a machine doing
/// nothing else, the run's own.
pub fn tcp_storm_counters() -> BTreeMap<String, u64> {
    const WANTED: [&str; 4] = [
        "ListenOverflows",
        "ListenDrops",
        "TCPSynRetrans",
        "SyncookiesSent",
    ];
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = BTreeMap::new();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        if !names.starts_with("TcpExt:") {
            continue;
        }
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()).skip(1) {
            if WANTED.contains(&name) {
                out.insert(name.to_owned(), value.parse().unwrap_or(0));
            }
        }
    }
    out
}

/// `after - before` for each counter, as `name n` pairs.
pub fn counter_deltas(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> String {
    after
        .iter()
        .map(|(k, v)| format!("{k} {}", v.saturating_sub(before.get(k).copied().unwrap_or(0))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// utime + stime from a `stat` line; the command name may hold spaces and parentheses, so
/// fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3 of the line, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn status_field(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// Raises this process's open-files limit to its hard limit (at least `wanted` if allowed),
/// so that thousands of sockets fit; children inherit it. Returns the new soft limit.
pub fn raise_open_files(wanted: u64) -> Result<u64, LoadError> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write to and read from the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(LoadError::io("getrlimit", std::io::Error::last_os_error()));
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(LoadError::io("setrlimit", std::io::Error::last_os_error()));
            }
        }
    }
    let soft: u64 = limit.rlim_cur;
    if soft < wanted {
        return Err(LoadError::Config(format!(
            "the open-files limit is {soft} (hard limit), below the {wanted} this run needs; raise it with `ulimit -Hn`"
        )));
    }
    Ok(soft)
}

/// Pins the calling thread (and the threads it starts later) to one CPU core.
pub fn pin_to_core(core: usize) -> Result<(), LoadError> {
    // SAFETY: the cpu_set_t is zeroed and filled by the libc macros; the call reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(LoadError::io(
                format!("pinning to core {core}"),
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0";
        assert_eq!(cpu_ticks(line), Some(300));
    }

    #[test]
    fn tcp_counters_are_read_from_proc() {
        let counters = tcp_storm_counters();
        assert!(counters.contains_key("ListenOverflows"), "{counters:?}");
        let mut later = counters.clone();
        *later.entry("ListenOverflows".into()).or_default() += 3;
        assert!(counter_deltas(&counters, &later).contains("ListenOverflows 3"));
    }

    #[test]
    fn this_process_can_be_read() {
        let sample = Sample::own().unwrap();
        assert!(sample.rss_kib > 0);
        assert!(sample.threads >= 1);
    }
}
