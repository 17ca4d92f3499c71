//! `chat-server`: reads the settings, starts the server, prints where and how to connect,
//! and shuts down gracefully on SIGINT or SIGTERM.

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
    eprintln!("chat-server: {e}");
    ExitCode::FAILURE
}

fn init_logging(log: &LogSettings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, not for log files and collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// What a person needs to connect, on stdout.
fn announce(server: &RunningServer) {
    let data_dir = server.data_dir();
    let data_dir = std::fs::canonicalize(&data_dir).unwrap_or(data_dir);
    println!("chat-server {} listening", env!("CARGO_PKG_VERSION"));
    println!("  url:          {}", server.ws_url());
    if server.local_addr().ip().is_unspecified() {
        println!("                (all interfaces; other machines use this host's address)");
    }
    match (server.cert_fingerprint(), server.cert_path()) {
        (Some(fingerprint), Some(path)) => {
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            let note = if server.cert_generated() {
                " (generated now)"
            } else {
                ""
            };
            println!("  certificate:  {}{note}", path.display());
            println!("  SHA-256:      {fingerprint}");
        }
        _ => println!("  TLS:          off (plain ws; run behind a TLS-terminating proxy)"),
    }
    println!("  data dir:     {}", data_dir.display());
    let metrics = match server.metrics_addr() {
        Some(addr) => format!("http://{addr}/metrics"),
        None => "/metrics on the main listener".to_owned(),
    };
    println!("  health:       /healthz    metrics: {metrics}");
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
