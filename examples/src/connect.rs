//! Flags that say which server to talk to and how to trust it.

use std::path::PathBuf;
use std::time::Duration;

use chat_client_lib::ClientConfig;
use clap::Args;

/// Server address and trust, shared by the CLI and the bot.
#[derive(Args, Clone, Debug)]
pub struct ConnectArgs {
    /// The server's WebSocket URL, as the server prints it.
    #[arg(long, env = "CHAT_SERVER", default_value = "wss://127.0.0.1:8443/v1/ws")]
    pub server: String,
    /// The server certificate's SHA-256 fingerprint (hex; colons and case do not matter).
    #[arg(long, env = "CHAT_FINGERPRINT", conflicts_with = "cert")]
    pub fingerprint: Option<String>,
    /// A PEM file with the server's certificate (e.g. from the server's data directory).
    #[arg(long, env = "CHAT_CERT")]
    pub cert: Option<PathBuf>,
    /// Directory for the encrypted offline cache (none by default).
    #[arg(long, env = "CHAT_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Seconds allowed for connecting and for each request.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

impl ConnectArgs {
    /// The client configuration these flags describe.
    pub fn to_config(&self) -> Result<ClientConfig, String> {
        let mut config = ClientConfig::new(self.server.clone())
            .with_connect_timeout(Duration::from_secs(self.timeout))
            .with_request_timeout(Duration::from_secs(self.timeout));
        if let Some(fingerprint) = &self.fingerprint {
            config = config.with_fingerprint(fingerprint).map_err(|e| e.to_string())?;
        }
        if let Some(cert) = &self.cert {
            config = config.with_certificate_file(cert);
        }
        if let Some(dir) = &self.cache_dir {
            config = config.with_cache_dir(dir);
        }
        Ok(config)
    }
}
