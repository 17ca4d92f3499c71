//! Flags that say which server to talk to and how to trust it.

use std::path::PathBuf;
use std::time::Duration;

use chat_client_lib::{ClientConfig, ReconnectPolicy};
use clap::Args;

/// Server address and trust, shared by the CLI and the bot.
#[derive(Args, Clone, Debug)]
pub struct ConnectArgs {
    /// The server's WebSocket URL, as the server prints it.
    #[arg(long, env = "CHAT_SERVER", default_value = "wss://127.0.0.1:8443/v2/ws")]
    pub server: String,
    /// The server certificate's SHA-256 fingerprint (hex; colons and case do not matter).
    #[arg(long, env = "CHAT_FINGERPRINT", conflicts_with = "cert")]
    pub fingerprint: Option<String>,
    /// A PEM file with the server's certificate (e.g. from the server's data directory).
    #[arg(long, env = "CHAT_CERT")]
    pub cert: Option<PathBuf>,
    /// Directory of the encrypted local store (outbox, saved chats, positions, the end-to-end
    /// encryption device and the decrypted history of encrypted rooms); default: the user's
    /// cache directory.
    #[arg(long, env = "CHAT_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Keep nothing on disk (the outbox then lives in memory only, and the end-to-end
    /// encryption device is a new one at every run, removed from the account at exit: it
    /// reads encrypted rooms only once another member's device has added it).
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// Seconds allowed for connecting and for each request.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Give up reconnecting after this many attempts (default: never give up).
    #[arg(long, value_name = "N")]
    pub reconnect_attempts: Option<u32>,
    /// Longest pause between reconnect attempts, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub reconnect_max_delay_ms: u64,
    /// First pause before reconnecting, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub reconnect_base_delay_ms: u64,
}

impl ConnectArgs {
    /// The client configuration these flags describe.
    pub fn to_config(&self) -> Result<ClientConfig, String> {
        let reconnect = ReconnectPolicy::default()
            .with_max_attempts(self.reconnect_attempts)
            .with_base_delay(Duration::from_millis(self.reconnect_base_delay_ms))
            .with_max_delay(Duration::from_millis(self.reconnect_max_delay_ms));
        let mut config = ClientConfig::parse(&self.server)
            .map_err(|e| chat_client_lib::error::report(&e))?
            .with_connect_timeout(Duration::from_secs(self.timeout))
            .with_request_timeout(Duration::from_secs(self.timeout))
            .with_reconnect(reconnect);
        if let Some(fingerprint) = &self.fingerprint {
            config = config.with_fingerprint(fingerprint).map_err(|e| e.to_string())?;
        }
        if let Some(cert) = &self.cert {
            config = config.with_certificate_file(cert);
        }
        let dir = match (&self.cache_dir, self.no_cache) {
            (_, true) => None,
            (Some(dir), false) => Some(dir.clone()),
            (None, false) => default_cache_dir(),
        };
        if let Some(dir) = dir {
            config = config.with_cache_dir(dir);
        }
        Ok(config)
    }
}

/// The platform's cache directory for the examples (`~/.cache/chat-examples` on Linux).
fn default_cache_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "chat-examples").map(|d| d.cache_dir().to_path_buf())
}
