//! The printed result of a phase: named figures in order, plus the few numbers that
//! ratios between phases are computed from.

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;

use crate::procfs::Sample;

/// A phase's result.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The phase's title.
    pub title: String,
    /// Figures in the order they are printed.
    pub lines: Vec<(String, String)>,
    /// Headline numbers by key (such as `deliveries_per_sec`), for ratios.
    pub figures: BTreeMap<&'static str, f64>,
}

impl Report {
    /// An empty report.
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            ..Self::default()
        }
    }

    /// Adds a printed line.
    pub fn line(&mut self, key: &str, value: impl fmt::Display) {
        self.lines.push((key.to_owned(), value.to_string()));
    }

    /// Adds a headline number (also printed).
    pub fn figure(&mut self, key: &'static str, label: &str, value: f64, shown: impl fmt::Display) {
        self.figures.insert(key, value);
        self.line(label, shown);
    }

    /// Adds a latency histogram (µs) as p50 / p99 / p99.9 / max in milliseconds.
    pub fn latency(&mut self, label: &str, key_p99: &'static str, h: &Histogram<u64>) {
        if h.is_empty() {
            self.line(label, "no samples");
            return;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        self.figures.insert(key_p99, ms(h.value_at_quantile(0.99)));
        self.line(
            label,
            format!(
                "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms ({} samples)",
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.value_at_quantile(0.999)),
                ms(h.max()),
                h.len()
            ),
        );
    }

    /// Adds server CPU and memory for each node between two samples.
    pub fn servers(&mut self, before: &[Sample], after: &[Sample], connections: usize) {
        for (i, (b, a)) in before.iter().zip(after).enumerate() {
            let share = a.cpu_share_since(b);
            self.figures
                .insert(if i == 0 { "server0_cpu" } else { "server1_cpu" }, share);
            self.line(
                &format!("server node {i}"),
                format!(
                    "CPU {:.0}% of a core, RSS {:.1} MiB ({:.1} KiB per connection), {} threads",
                    share * 100.0,
                    a.rss_kib as f64 / 1024.0,
                    a.rss_kib as f64 / connections.max(1) as f64,
                    a.threads
                ),
            );
        }
    }

    /// Adds the differences of a few server counters between two scrapes of each node.
    pub fn counters(&mut self, before: &[BTreeMap<String, f64>], after: &[BTreeMap<String, f64>]) {
        const SHOWN: [(&str, &str); 8] = [
            ("chat_messages_stored_total", "messages stored"),
            ("chat_events_delivered_total", "events queued"),
            ("chat_slow_consumer_kicks_total", "slow-consumer kicks"),
            ("chat_gap_fill_items_total", "items read back to fill gaps"),
            ("chat_repeated_items_dropped_total", "repeats dropped"),
            ("chat_server_frames_sent_total", "frames written"),
            ("chat_server_write_batches_total", "write batches"),
            ("chat_server_frames_received_total", "frames read"),
        ];
        for (i, (b, a)) in before.iter().zip(after).enumerate() {
            if a.is_empty() {
                continue;
            }
            let delta = |k: &str| a.get(k).copied().unwrap_or(0.0) - b.get(k).copied().unwrap_or(0.0);
            let parts: Vec<String> = SHOWN
                .iter()
                .map(|(k, label)| format!("{label} {}", delta(k)))
                .collect();
            let batches = delta("chat_server_write_batches_total");
            let per_batch = if batches > 0.0 {
                delta("chat_server_frames_sent_total") / batches
            } else {
                0.0
            };
            self.line(
                &format!("node {i} counters"),
                format!("{}; {per_batch:.1} frames per write", parts.join(", ")),
            );
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== {}", self.title)?;
        let width = self.lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &self.lines {
            writeln!(f, "  {k:<width$}  {v}")?;
        }
        Ok(())
    }
}

/// A count with thousands separators, for reading large numbers at a glance.
pub fn grouped(n: f64) -> String {
    let n = n.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Lines comparing a main phase with its baseline, for the figures both have.
pub fn ratios(main: &Report, base: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    for (key, value) in &main.figures {
        if let Some(b) = base.figures.get(key)
            && *b != 0.0
        {
            lines.push(format!(
                "  {key}: {:.3} x baseline ({value:.3} vs {b:.3})",
                value / b
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0.0), "0");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(1000.0), "1,000");
        assert_eq!(grouped(2_000_000.4), "2,000,000");
        assert_eq!(grouped(-12345.0), "-12,345");
    }

    #[test]
    fn ratios_use_the_figures_both_reports_have() {
        let mut a = Report::new("main");
        a.figure("x", "x", 50.0, 50);
        a.figure("only_main", "y", 1.0, 1);
        let mut b = Report::new("base");
        b.figure("x", "x", 100.0, 100);
        let lines = ratios(&a, &b);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("0.500 x baseline"), "{}", lines[0]);
    }
}
