//! Settings from the command line, the environment (`CHAT_*`) and an optional TOML file,
//! in that order of precedence, turned into a [`ServerConfig`]. Every setting has the same
//! name in all three places: `--idle-timeout-secs`, `CHAT_IDLE_TIMEOUT_SECS`,
//! `idle_timeout_secs = 60`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::config::{ServerConfig, TlsMode};
use crate::error::ServerError;

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings, applied by the binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `chat_server=debug,info`.
    pub filter: String,
}

/// Every setting, each optional: unset ones fall back to the file, then to the default.
#[derive(Clone, Debug, Default, Parser, Deserialize)]
#[command(
    name = "chat-server",
    version,
    about = "Self-hosted real-time chat server (WebSocket over TLS).",
    after_help = "Every flag can also be set by its CHAT_* environment variable or in the TOML file given by --config (keys are the flag names with underscores). Flags win over the environment, which wins over the file."
)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// TOML configuration file.
    #[arg(long, env = "CHAT_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Listen address for WebSockets, /healthz and /metrics [default: 0.0.0.0:8443].
    #[arg(long, env = "CHAT_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Data directory: database, at-rest key, generated certificate [default: ./data].
    #[arg(long, env = "CHAT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Certificate chain (PEM) to use instead of the generated self-signed one.
    #[arg(long, env = "CHAT_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "CHAT_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Extra names (DNS or IP) for the generated certificate, comma-separated. Used only
    /// when the certificate is first generated.
    #[arg(long, env = "CHAT_TLS_NAMES", value_delimiter = ',', value_name = "NAMES")]
    pub tls_names: Option<Vec<String>>,
    /// Serve plain ws:// without TLS: only behind a TLS-terminating proxy [default: false].
    #[arg(long, env = "CHAT_PLAIN_WS", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub plain_ws: Option<bool>,
    /// Serve /metrics on this loopback address only (plain HTTP) instead of the main listener.
    #[arg(long, env = "CHAT_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve /metrics on the main listener to every client, not only to clients on this host
    /// [default: false].
    #[arg(long, env = "CHAT_METRICS_PUBLIC", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub metrics_public: Option<bool>,
    /// Allowed browser origins, comma-separated (exact match); empty allows any.
    #[arg(
        long,
        env = "CHAT_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub allowed_origins: Option<Vec<String>>,
    /// Largest WebSocket message in bytes; larger ones close with 1009 [default: 65536].
    #[arg(long, env = "CHAT_MAX_FRAME_BYTES", value_name = "BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Most connections in total [default: 10000].
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Most connections from one IP address [default: 256].
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// Requests read ahead on one connection before reading pauses, and the most sends of one
    /// connection being stored at once [default: 32].
    #[arg(long, env = "CHAT_MAX_PIPELINED_REQUESTS", value_name = "N")]
    pub max_pipelined_requests: Option<usize>,
    /// Consecutive rate-limited requests before closing with 4004 [default: 100].
    #[arg(long, env = "CHAT_RATE_LIMIT_STRIKES", value_name = "N")]
    pub rate_limit_strikes: Option<u32>,
    /// Time from the accept for the TLS handshake and the HTTP request head together
    /// [default: 10].
    #[arg(long, env = "CHAT_HANDSHAKE_TIMEOUT_SECS", value_name = "SECS")]
    pub handshake_timeout_secs: Option<u64>,
    /// Time a connection has to authenticate; then close 4001 [default: 10].
    #[arg(long, env = "CHAT_AUTH_TIMEOUT_SECS", value_name = "SECS")]
    pub auth_timeout_secs: Option<u64>,
    /// Silence after which a connection is closed with 4002 [default: 60].
    #[arg(long, env = "CHAT_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Interval of server pings [default: 20].
    #[arg(long, env = "CHAT_PING_INTERVAL_SECS", value_name = "SECS")]
    pub ping_interval_secs: Option<u64>,
    /// Longest a write to a client may block before it is dropped [default: 10].
    #[arg(long, env = "CHAT_WRITE_TIMEOUT_SECS", value_name = "SECS")]
    pub write_timeout_secs: Option<u64>,
    /// Bound of a graceful shutdown [default: 10].
    #[arg(long, env = "CHAT_SHUTDOWN_TIMEOUT_SECS", value_name = "SECS")]
    pub shutdown_timeout_secs: Option<u64>,
    /// bcrypt cost of new password hashes [default: 12].
    #[arg(long, env = "CHAT_BCRYPT_COST", value_name = "COST")]
    pub bcrypt_cost: Option<u32>,
    /// Session lifetime after login or last resume [default: 2592000 (30 days)].
    #[arg(long, env = "CHAT_SESSION_TTL_SECS", value_name = "SECS")]
    pub session_ttl_secs: Option<u64>,
    /// Frames queued per connection before it is dropped as slow (4003) [default: 1024].
    #[arg(long, env = "CHAT_OUTBOUND_QUEUE", value_name = "FRAMES")]
    pub outbound_queue: Option<usize>,
    /// Sustained requests per second per connection, bursts of twice that [default: 50].
    #[arg(long, env = "CHAT_REQUESTS_PER_SECOND", value_name = "N")]
    pub requests_per_second: Option<u32>,
    /// Failed logins per (username, address) pair within the window before that pair's
    /// attempts are delayed [default: 10].
    #[arg(long, env = "CHAT_LOGIN_FAILURES_ALLOWED", value_name = "N")]
    pub login_failures_allowed: Option<u32>,
    /// Failed logins per address, any usernames, within the window before that address's
    /// attempts are delayed [default: 50].
    #[arg(long, env = "CHAT_LOGIN_ADDRESS_FAILURES_ALLOWED", value_name = "N")]
    pub login_address_failures_allowed: Option<u32>,
    /// First delay once an allowance is used up; doubles with each further failure
    /// [default: 1].
    #[arg(long, env = "CHAT_LOGIN_FIRST_DELAY_SECS", value_name = "SECS")]
    pub login_first_delay_secs: Option<u64>,
    /// How long login failures are remembered, and the longest delay [default: 300].
    #[arg(long, env = "CHAT_LOGIN_WINDOW_SECS", value_name = "SECS")]
    pub login_window_secs: Option<u64>,
    /// Largest history or resume page [default: 200].
    #[arg(long, env = "CHAT_MAX_PAGE_SIZE", value_name = "N")]
    pub max_page_size: Option<u32>,
    /// File with the at-rest message keys (`<id>:<64 hex>` per line) instead of
    /// `<data_dir>/at-rest.keys`, which is generated on first start.
    #[arg(long, env = "CHAT_AT_REST_KEYS_FILE", value_name = "FILE")]
    pub at_rest_keys_file: Option<PathBuf>,
    /// The at-rest keys themselves (comma-separated `<id>:<hex>`), best given by the
    /// environment; wins over any key file.
    #[arg(long, env = "CHAT_AT_REST_KEYS", hide_env_values = true, value_name = "KEYS")]
    pub at_rest_keys: Option<String>,
    /// PostgreSQL URL (`postgres://user:pass@host:5432/db`) instead of the SQLite file in
    /// the data directory; migrations are applied at start.
    #[arg(long, env = "CHAT_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Redis URL (`redis://host:6379`) for fan-out, presence and login throttling shared by
    /// several nodes; needs --database-url and shared at-rest keys.
    #[arg(long, env = "CHAT_REDIS_URL", hide_env_values = true, value_name = "URL")]
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys and channel; deployments sharing a Redis differ here
    /// [default: chat].
    #[arg(long, env = "CHAT_REDIS_PREFIX", value_name = "PREFIX")]
    pub redis_prefix: Option<String>,
    /// Seconds after which the users of a node that stopped heartbeating show offline
    /// [default: 15].
    #[arg(long, env = "CHAT_PRESENCE_TTL_SECS", value_name = "SECS")]
    pub presence_ttl_secs: Option<u64>,
    /// How often, in milliseconds, a node compares each followed room's last delivered item
    /// with the database's and delivers what it missed from there (at least 10)
    /// [default: 500].
    #[arg(long, env = "CHAT_GAP_CHECK_MS", value_name = "MS")]
    pub gap_check_ms: Option<u64>,
    /// Fault injection for tests: abort right after storing a new message, before
    /// publishing it. Never set in production.
    #[arg(
        long,
        env = "CHAT_FAULT_CRASH_AFTER_STORING",
        hide = true,
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub fault_crash_after_storing: Option<bool>,
    /// Log format [default: text].
    #[arg(long, env = "CHAT_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter, such as `info` or `chat_server=debug,info` [default: info].
    #[arg(long, env = "CHAT_LOG", value_name = "FILTER")]
    pub log: Option<String>,
}

impl Settings {
    /// Reads the TOML file named by `--config`, if any, under the flags and environment.
    pub fn with_file(self) -> Result<Self, ServerError> {
        match self.config.clone() {
            Some(path) => {
                let file = Self::from_file(&path)?;
                Ok(self.over(file))
            }
            None => Ok(self),
        }
    }

    /// Parses a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ServerError> {
        let file_err = |reason: String| ServerError::ConfigFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
        toml::from_str(&text).map_err(|e| file_err(e.to_string()))
    }

    /// These settings, with `lower`'s filling the unset ones.
    pub fn over(self, lower: Self) -> Self {
        macro_rules! pick {
            ($($field:ident),* $(,)?) => { Self { $($field: self.$field.or(lower.$field)),* } };
        }
        pick!(
            config,
            listen,
            data_dir,
            tls_cert,
            tls_key,
            tls_names,
            plain_ws,
            metrics_listen,
            metrics_public,
            allowed_origins,
            max_frame_bytes,
            max_connections,
            max_connections_per_ip,
            max_pipelined_requests,
            rate_limit_strikes,
            handshake_timeout_secs,
            auth_timeout_secs,
            idle_timeout_secs,
            ping_interval_secs,
            write_timeout_secs,
            shutdown_timeout_secs,
            bcrypt_cost,
            session_ttl_secs,
            outbound_queue,
            requests_per_second,
            login_failures_allowed,
            login_address_failures_allowed,
            login_first_delay_secs,
            login_window_secs,
            max_page_size,
            at_rest_keys_file,
            at_rest_keys,
            database_url,
            redis_url,
            redis_prefix,
            presence_ttl_secs,
            gap_check_ms,
            fault_crash_after_storing,
            log_format,
            log,
        )
    }

    /// The server configuration and the log settings these settings describe.
    pub fn resolve(self) -> Result<(ServerConfig, LogSettings), ServerError> {
        let mut c = ServerConfig::default();
        let tls = match (self.plain_ws.unwrap_or(false), self.tls_cert, self.tls_key) {
            (true, None, None) => TlsMode::Plain,
            (true, _, _) => {
                return Err(ServerError::Config(
                    "plain_ws cannot be combined with tls_cert/tls_key".into(),
                ));
            }
            (false, Some(cert), Some(key)) => TlsMode::Files { cert, key },
            (false, None, None) => TlsMode::SelfSigned,
            (false, _, _) => return Err(ServerError::Config("tls_cert and tls_key go together".into())),
        };
        c.tls = tls;
        set(&mut c.listen, self.listen);
        set(&mut c.data_dir, self.data_dir);
        set(&mut c.tls_names, self.tls_names);
        c.metrics_listen = self.metrics_listen;
        set(&mut c.metrics_public, self.metrics_public);
        set(&mut c.allowed_origins, self.allowed_origins);
        let l = &mut c.limits;
        set(&mut l.max_frame_bytes, self.max_frame_bytes);
        set(&mut l.max_connections, self.max_connections);
        set(&mut l.max_connections_per_ip, self.max_connections_per_ip);
        set(&mut l.max_pipelined_requests, self.max_pipelined_requests);
        set(&mut l.rate_limit_strikes, self.rate_limit_strikes);
        let t = &mut c.timeouts;
        set(
            &mut t.handshake,
            self.handshake_timeout_secs.map(Duration::from_secs),
        );
        set(&mut t.auth, self.auth_timeout_secs.map(Duration::from_secs));
        set(&mut t.idle, self.idle_timeout_secs.map(Duration::from_secs));
        set(
            &mut t.ping_interval,
            self.ping_interval_secs.map(Duration::from_secs),
        );
        set(&mut t.write, self.write_timeout_secs.map(Duration::from_secs));
        set(
            &mut t.shutdown,
            self.shutdown_timeout_secs.map(Duration::from_secs),
        );
        let k = &mut c.core;
        set(&mut k.bcrypt_cost, self.bcrypt_cost);
        set(&mut k.session_ttl, self.session_ttl_secs.map(Duration::from_secs));
        set(&mut k.outbound_queue, self.outbound_queue);
        set(&mut k.requests_per_second, self.requests_per_second);
        set(&mut k.login_failures_allowed, self.login_failures_allowed);
        set(
            &mut k.login_address_failures_allowed,
            self.login_address_failures_allowed,
        );
        set(
            &mut k.login_first_delay,
            self.login_first_delay_secs.map(Duration::from_secs),
        );
        set(
            &mut k.login_window,
            self.login_window_secs.map(Duration::from_secs),
        );
        set(&mut k.max_page_size, self.max_page_size);
        set(
            &mut k.gap_check_interval,
            self.gap_check_ms.map(Duration::from_millis),
        );
        set(&mut k.crash_after_storing, self.fault_crash_after_storing);
        k.at_rest_keys = match (self.at_rest_keys, self.at_rest_keys_file) {
            (Some(keys), _) => Some(keys),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| ServerError::Config(format!("at_rest_keys_file {}: {e}", path.display())))?,
            ),
            (None, None) => None,
        };
        c.database_url = self.database_url;
        c.redis = self.redis_url.map(|url| {
            let mut redis = chat_core::broker::redis::RedisOptions::new(url);
            set(&mut redis.prefix, self.redis_prefix);
            set(
                &mut redis.presence_ttl,
                self.presence_ttl_secs.map(Duration::from_secs),
            );
            redis
        });
        if !(4..=31).contains(&k.bcrypt_cost) {
            return Err(ServerError::Config("bcrypt_cost must be between 4 and 31".into()));
        }
        c.validate()?;
        let log = LogSettings {
            format: self.log_format.unwrap_or_default(),
            filter: self.log.unwrap_or_else(|| "info".to_owned()),
        };
        Ok((c, log))
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

#[cfg(test)]
mod tests;
