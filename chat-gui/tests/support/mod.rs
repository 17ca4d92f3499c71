//! Test support: a real chat server in this process, other users driven through the client
//! library, and the app in a headless egui_kittest harness with helpers that step it in
//! real time until something appears.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use chat_client_lib::{Client, ClientConfig, ReconnectPolicy};
use std::sync::Arc;

use chat_gui::{App, AppConfig, BackendConfig, LocalOffset, MemorySecrets, RecordingNotifier, ServerAddress};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// Password every test account uses.
pub const PASSWORD: &str = "correct horse";
/// How long a wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);
/// Real time between two frames; also the harness's simulated frame time, so that the
/// app's timers (snackbar, typing) run at real speed.
const FRAME: Duration = Duration::from_millis(20);

/// A chat server on 127.0.0.1 with its own runtime and data directory.
pub struct TestServer {
    pub runtime: tokio::runtime::Runtime,
    server: Option<chat_server::RunningServer>,
    pub url: String,
    pub fingerprint: String,
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on a free port.
    pub fn start() -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let data = tempfile::tempdir().expect("temp dir");
        let server = runtime.block_on(start_on(data.path(), None));
        TestServer {
            url: server.ws_url(),
            fingerprint: server.cert_fingerprint().expect("a TLS server has a fingerprint"),
            addr: server.local_addr(),
            server: Some(server),
            runtime,
            data,
        }
    }

    /// Stops the server abruptly, as if its process died.
    pub fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            let _guard = self.runtime.enter();
            server.kill();
        }
    }

    /// Starts the server again on the same port with the same data.
    pub fn restart(&mut self) {
        let server = self.runtime.block_on(start_on(self.data.path(), Some(self.addr)));
        self.server = Some(server);
    }

    /// A client library user on this server.
    pub fn user(&self, name: &str) -> Client {
        let config = ClientConfig::new(self.url.clone())
            .with_fingerprint(&self.fingerprint)
            .expect("fingerprint");
        let _guard = self.runtime.enter();
        let client = Client::new(config);
        self.runtime
            .block_on(client.register(name, PASSWORD))
            .expect("register");
        client
    }

    /// Another client of an existing user, logged in.
    pub fn login(&self, name: &str) -> Client {
        let config = ClientConfig::new(self.url.clone())
            .with_fingerprint(&self.fingerprint)
            .expect("fingerprint");
        let _guard = self.runtime.enter();
        let client = Client::new(config);
        self.runtime
            .block_on(client.login(name, PASSWORD))
            .expect("login");
        client
    }

    /// Runs a future on the server's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn start_on(dir: &std::path::Path, addr: Option<SocketAddr>) -> chat_server::RunningServer {
    let mut config = chat_server::ServerConfig::local(dir);
    if let Some(addr) = addr {
        config.listen = addr;
    }
    config.core.bcrypt_cost = 4;
    chat_server::start(config).await.expect("server starts")
}

/// How to make a window.
#[derive(Clone)]
pub struct Options {
    pub url: String,
    pub fingerprint: String,
    pub connect_timeout: Duration,
    pub max_reconnect_delay: Duration,
    pub cache_dir: Option<std::path::PathBuf>,
    pub size: egui::Vec2,
    pub secrets: Arc<MemorySecrets>,
    pub notifier: Arc<RecordingNotifier>,
    pub remember: Option<std::path::PathBuf>,
    pub prefs: Option<std::path::PathBuf>,
    pub theme: Option<egui::Theme>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            url: String::new(),
            fingerprint: String::new(),
            connect_timeout: Duration::from_secs(3),
            max_reconnect_delay: Duration::from_millis(500),
            cache_dir: None,
            size: egui::vec2(1000.0, 680.0),
            secrets: Arc::new(MemorySecrets::default()),
            notifier: Arc::new(RecordingNotifier::default()),
            remember: None,
            prefs: None,
            theme: Some(egui::Theme::Light),
        }
    }
}

impl Options {
    /// Options for a test server.
    pub fn for_server(server: &TestServer) -> Options {
        Options {
            url: server.url.clone(),
            fingerprint: server.fingerprint.clone(),
            ..Options::default()
        }
    }
}

/// The app's window, headless.
pub struct Gui {
    pub harness: Harness<'static, App>,
    _cache: Option<tempfile::TempDir>,
}

impl Gui {
    /// A window whose login form points at `url`, pinned to `fingerprint`, with its own
    /// offline cache.
    pub fn new(url: &str, fingerprint: &str, connect_timeout: Duration) -> Gui {
        let cache = tempfile::tempdir().expect("temp dir");
        let mut gui = Gui::with_cache(url, fingerprint, connect_timeout, cache.path());
        gui._cache = Some(cache);
        gui
    }

    /// A window that keeps its offline cache in `cache_dir`.
    pub fn with_cache(url: &str, fingerprint: &str, connect_timeout: Duration, cache_dir: &Path) -> Gui {
        Gui::with_options(Options {
            url: url.to_owned(),
            fingerprint: fingerprint.to_owned(),
            connect_timeout,
            cache_dir: Some(cache_dir.to_path_buf()),
            ..Options::default()
        })
    }

    /// A window made to measure.
    pub fn with_options(options: Options) -> Gui {
        let cache = match &options.cache_dir {
            Some(_) => None,
            None => Some(tempfile::tempdir().expect("temp dir")),
        };
        let cache_dir = options
            .cache_dir
            .clone()
            .unwrap_or_else(|| cache.as_ref().expect("made above").path().to_path_buf());
        let config = AppConfig {
            backend: BackendConfig {
                cache_dir,
                request_timeout: Duration::from_secs(5),
                connect_timeout: options.connect_timeout,
                // Quick retries, so that a restarted server is found within the test.
                reconnect: ReconnectPolicy::default()
                    .with_base_delay(Duration::from_millis(100))
                    .with_max_delay(options.max_reconnect_delay),
                secrets: options.secrets.clone(),
            },
            offset: LocalOffset::UTC,
            server: ServerAddress {
                url: options.url.clone(),
                fingerprint: options.fingerprint.clone(),
            },
            theme: options.theme,
            remember: options.remember.clone(),
            prefs: options.prefs.clone(),
            notifier: options.notifier.clone(),
        };
        let harness = Harness::builder()
            .with_size(options.size)
            .with_step_dt(FRAME.as_secs_f32())
            .build_ui_state(|ui, app: &mut App| app.ui(ui), App::new(config));
        Gui {
            harness,
            _cache: cache,
        }
    }

    /// A window for a test server.
    pub fn for_server(server: &TestServer) -> Gui {
        Gui::new(&server.url, &server.fingerprint, Duration::from_secs(3))
    }

    /// Runs frames in real time until `done` holds; fails the test after a while.
    pub fn wait_for(&mut self, what: &str, done: impl Fn(&Harness<'static, App>) -> bool) {
        let start = Instant::now();
        loop {
            self.harness.step();
            if done(&self.harness) {
                return;
            }
            assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
            std::thread::sleep(FRAME);
        }
    }

    /// Runs a few frames (to let queued input through).
    pub fn frames(&mut self, n: usize) {
        for _ in 0..n {
            self.harness.step();
            std::thread::sleep(FRAME);
        }
    }

    /// Waits until a node labelled exactly `label` is shown.
    pub fn wait_for_label(&mut self, label: &str) {
        self.wait_for(label, |h| h.query_all_by_label(label).next().is_some());
    }

    /// Waits until a node whose label contains `text` is shown.
    pub fn wait_for_text(&mut self, text: &str) {
        self.wait_for(text, |h| h.query_all_by_label_contains(text).next().is_some());
    }

    /// Types into the text field labelled `label`, replacing nothing (fields start empty).
    pub fn type_into(&mut self, label: &str, text: &str) {
        let field = self.harness.get_by_label(label);
        field.focus();
        field.type_text(text);
        self.frames(3);
    }

    /// Fills the login form and presses "Log in".
    pub fn log_in(&mut self, username: &str, password: &str) {
        self.type_into("Username", username);
        self.type_into("Password", password);
        self.harness.get_by_role_and_label(Role::Button, "Log in").click();
        self.harness.step();
    }

    /// Whether a node labelled exactly `label` is shown.
    pub fn shows(&self, label: &str) -> bool {
        self.harness.query_all_by_label(label).next().is_some()
    }

    /// Clicks the button labelled `label` (waiting for it to appear first).
    pub fn click(&mut self, label: &str) {
        self.wait_for(&format!("the button {label:?}"), |h| {
            h.query_by_role_and_label(Role::Button, label).is_some()
        });
        // As a mouse does: over the button first, then the click.
        // A dialog that just grew settles in place over a frame or two.
        self.frames(2);
        self.harness.get_by_role_and_label(Role::Button, label).hover();
        self.frames(1);
        self.harness.get_by_role_and_label(Role::Button, label).click();
        self.frames(2);
    }

    /// Opens a chat from the list and waits until its composer is there.
    pub fn open_chat(&mut self, name: &str) {
        self.click(name);
        self.wait_for_label("Message");
    }

    /// Logs in and waits for the chat list.
    pub fn log_in_and_wait(&mut self, username: &str) {
        self.log_in(username, PASSWORD);
        self.wait_for_label("Menu");
    }

    /// The window's rectangle of the node labelled `label`.
    pub fn rect_of(&self, label: &str) -> egui::Rect {
        self.harness.get_by_label(label).rect()
    }

    /// Opens the ☰ menu and picks `item`.
    pub fn menu(&mut self, item: &str) {
        self.click("Menu");
        self.click(item);
    }
}
