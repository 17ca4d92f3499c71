//! `chat-server`: reads the settings, starts the server, prints where and how to connect,
//! and shuts down gracefully on SIGINT or SIGTERM.

use std::io::Write as _;
use std::process::ExitCode;

use chat_server::{LogFormat, LogSettings, RunningServer, Settings};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::parse().with_file() {
        Ok(settings) => settings,
        Err(e) => return fail(&e),
    };
    let (config, log) = match settings.resolve() {
        Ok(resolved) => resolved,
        Err(e) => return fail(&e),
    };
    init_logging(&log);
    // Handlers go in before anyone can learn where to connect: a SIGTERM sent right after
    // the banner must shut down gracefully, not kill the process by the default action.
    let signals = match ShutdownSignals::install() {
        Ok(signals) => signals,
        Err(e) => return fail(&format!("cannot listen for shutdown signals: {e}")),
    };
    let server = match chat_server::start(config).await {
        Ok(server) => server,
        Err(e) => return fail(&e),
    };
    announce(&server);
    signals.received().await;
    tracing::info!("signal received; shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    // Not `eprintln!`, which panics when stderr is gone.
    let _ = writeln!(std::io::stderr(), "chat-server: {e}");
    ExitCode::FAILURE
}

/// Stderr for the logs, where a failed write is dropped: a server whose stderr was closed
/// (a pipe whose reader ended) keeps serving. The log layer would otherwise report the
/// failure on stderr with `eprintln!`, which panics the task that logged.
struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

fn init_logging(log: &LogSettings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, not for log files and collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStderr)
        .with_ansi(ansi);
    match log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// What a person needs to connect, on stdout, in one write. A stdout that is gone (a closed
/// pipe, a closed terminal) must not stop the server: the failure is logged and ignored.
fn announce(server: &RunningServer) {
    let text = banner(server);
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        tracing::warn!("cannot print the banner on stdout: {e}");
    }
}

fn banner(server: &RunningServer) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let data_dir = server.data_dir();
    let data_dir = std::fs::canonicalize(&data_dir).unwrap_or(data_dir);
    let _ = writeln!(out, "chat-server {} listening", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "  url:          {}", server.ws_url());
    if server.local_addr().ip().is_unspecified() {
        let _ = writeln!(
            out,
            "                (all interfaces; other machines use this host's address)"
        );
    }
    match (server.cert_fingerprint(), server.cert_path()) {
        (Some(fingerprint), Some(path)) => {
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            let note = if server.cert_generated() {
                " (generated now)"
            } else {
                ""
            };
            let _ = writeln!(out, "  certificate:  {}{note}", path.display());
            let _ = writeln!(out, "  SHA-256:      {fingerprint}");
        }
        _ => {
            let _ = writeln!(
                out,
                "  TLS:          off (plain ws; run behind a TLS-terminating proxy)"
            );
        }
    }
    let _ = writeln!(out, "  data dir:     {}", data_dir.display());
    // One line for both: tools read the metrics address from the `health:` line.
    let metrics = match server.metrics_addr() {
        Some(addr) => format!("http://{addr}/metrics (separate listener, this host only)"),
        None if server.metrics_public() => {
            "/metrics on the main listener, for every client (--metrics-public)".to_owned()
        }
        None => "/metrics on the main listener, for clients on this host only".to_owned(),
    };
    let _ = writeln!(out, "  health:       /healthz    metrics: {metrics}");
    out
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), registered up front.
struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    #[cfg(unix)]
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> std::io::Result<Self> {
        Ok(Self {})
    }

    /// Waits for the first of the signals.
    async fn received(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
