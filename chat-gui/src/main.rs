//! The desktop chat app's executable: reads a few flags from the environment and opens
//! the window.

use std::sync::Arc;
use std::time::Duration;

use chat_gui::{
    App, AppConfig, BackendConfig, DesktopNotifier, LocalOffset, MemorySecrets, OsKeyring, SecretStore,
    ServerAddress,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read the time zone before any thread exists: it cannot be read safely afterwards.
    let offset = LocalOffset::detect();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let dirs = directories::ProjectDirs::from("org", "chat", "chat-gui");
    let cache_dir = dirs
        .as_ref()
        .map(|d| d.cache_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("chat-gui"));
    let config = AppConfig {
        backend: BackendConfig {
            cache_dir,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            reconnect: Default::default(),
            // CHAT_NO_KEYRING=1 keeps the session for this run only (no keyring at hand).
            secrets: if std::env::var_os("CHAT_NO_KEYRING").is_some() {
                Arc::new(MemorySecrets::default()) as Arc<dyn SecretStore>
            } else {
                Arc::new(OsKeyring)
            },
        },
        offset,
        server: ServerAddress {
            url: std::env::var("CHAT_SERVER").unwrap_or_else(|_| "wss://127.0.0.1:8443/v2/ws".into()),
            fingerprint: std::env::var("CHAT_FINGERPRINT").unwrap_or_default(),
        },
        remember: dirs.as_ref().map(|d| d.config_dir().join("login.txt")),
        prefs: dirs.as_ref().map(|d| d.config_dir().join("theme.txt")),
        notifier: Arc::new(DesktopNotifier),
        theme: match std::env::var("CHAT_THEME").as_deref() {
            Ok("dark") => Some(egui::Theme::Dark),
            Ok("light") => Some(egui::Theme::Light),
            _ => None,
        },
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Chat")
            .with_inner_size([1000.0, 680.0])
            // Narrow windows get one column (see `layout`), down to a phone-like width.
            .with_min_inner_size([360.0, 420.0]),
        ..Default::default()
    };
    eframe::run_native("Chat", options, Box::new(|_cc| Ok(Box::new(App::new(config)))))
        .map_err(|e| chat_gui::GuiError::Window(e.to_string()))?;
    Ok(())
}
