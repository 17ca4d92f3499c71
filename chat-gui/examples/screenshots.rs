//! Renders the README's screenshots: starts a real server in this process, fills it with a
//! few users, rooms and messages through the client library, drives the app headless with
//! egui_kittest, and renders the login screen and the main view, light and dark, the
//! one-column layout of a narrow window, and an end-to-end encrypted chat with its safety
//! number and the devices page, to PNG files. Run by `chat-gui/scripts/screenshots.sh`; rendering needs a software GPU (Mesa).
//!
//! ```sh
//! cargo run -p chat-gui --example screenshots -- docs/screenshots
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chat_client_lib::{Client, ClientConfig};
use chat_gui::{App, AppConfig, BackendConfig, LocalOffset, ServerAddress};
use chat_proto::RoomId;
use egui::Theme;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

const PASSWORD: &str = "correct horse";
const SIZE: egui::Vec2 = egui::vec2(1100.0, 680.0);
const NARROW: egui::Vec2 = egui::vec2(480.0, 680.0);

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "docs/screenshots".into()),
    );
    std::fs::create_dir_all(&out)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let data = tempfile::tempdir()?;
    let mut config = chat_server::ServerConfig::local(data.path());
    config.core.bcrypt_cost = 4;
    let server = runtime.block_on(chat_server::start(config))?;
    let url = server.ws_url();
    let fingerprint = server.cert_fingerprint().ok_or("no fingerprint")?;
    // The others stay connected so that they show as online.
    let (others, general) = runtime.block_on(seed(&url, &fingerprint))?;

    for (theme, name) in [(Theme::Light, "light"), (Theme::Dark, "dark")] {
        let cache = tempfile::tempdir()?;
        let mut harness = window(&url, &fingerprint, theme, cache.path());
        settle(&mut harness, Duration::from_millis(300));
        save(&mut harness, &out.join(format!("login-{name}.png")))?;

        type_into(&mut harness, "Username", "alice");
        type_into(&mut harness, "Password", PASSWORD);
        harness.get_by_label("Log in").click();
        wait(&mut harness, |h| h.query_by_label("General").is_some())?;
        harness
            .get_by_role_and_label(egui::accesskit::Role::Button, "General")
            .click();
        wait(&mut harness, |h| {
            h.query_by_label("Sounds good, see you all there!").is_some()
        })?;
        harness.get_by_label("Room info").click();
        settle(&mut harness, Duration::from_millis(500));
        let composer = harness.get_by_label("Message");
        composer.focus();
        composer.type_text("Looks great, see you at 3");
        // Someone is typing, as in a live chat.
        runtime.block_on(others[1].typing(general))?;
        wait(&mut harness, |h| h.query_by_label("carol is typing…").is_some())?;
        save(&mut harness, &out.join(format!("main-{name}.png")))?;
        if theme == Theme::Light {
            // A narrow window: one column, the open chat with a way back to the list.
            click(&mut harness, "Close room info");
            harness.set_size(NARROW);
            settle(&mut harness, Duration::from_millis(500));
            save(&mut harness, &out.join("narrow-chat-light.png"))?;
            click(&mut harness, "Back to chats");
            settle(&mut harness, Duration::from_millis(500));
            save(&mut harness, &out.join("narrow-list-light.png"))?;
            harness.set_size(SIZE);
            encrypted_chat(&runtime, &mut harness, &others[1], &out)?;
        }
        harness.state_mut().close();
    }
    runtime.block_on(server.shutdown());
    Ok(())
}

/// The end-to-end encrypted direct chat with carol (a lock in the list and the header; the
/// message sent before this window's device existed shows as a placeholder) and its safety
/// number.
fn encrypted_chat(
    runtime: &tokio::runtime::Runtime,
    harness: &mut Harness<'static, App>,
    carol: &Client,
    out: &Path,
) -> Result<(), Error> {
    harness
        .get_by_role_and_label(egui::accesskit::Role::Button, "carol")
        .click();
    wait(harness, |h| h.query_by_label("Message").is_some())?;
    let direct = runtime.block_on(carol.open_direct("alice"))?.id;
    for text in [
        "Only the two of us can read this chat, not even the server.",
        "Let's compare our safety numbers after the review.",
    ] {
        runtime.block_on(carol.send(direct, text).outcome())?;
    }
    wait(harness, |h| {
        h.query_by_label("Let's compare our safety numbers after the review.")
            .is_some()
    })?;
    settle(harness, Duration::from_millis(500));
    save(harness, &out.join("encrypted-light.png"))?;
    click(harness, "Safety number");
    wait(harness, |h| {
        h.query_by_label(chat_gui::safety::MARK_VERIFIED).is_some()
    })?;
    settle(harness, Duration::from_millis(500));
    save(harness, &out.join("safety-light.png"))?;
    click(harness, "Close");
    settle(harness, Duration::from_millis(300));
    click(harness, "Menu");
    wait(harness, |h| h.query_by_label("Devices").is_some())?;
    click(harness, "Devices");
    wait(harness, |h| h.query_by_label("this device").is_some())?;
    settle(harness, Duration::from_millis(500));
    save(harness, &out.join("devices-light.png"))?;
    click(harness, "Close");
    Ok(())
}

/// Users, rooms and messages for the pictures.
async fn seed(url: &str, fingerprint: &str) -> Result<(Vec<Client>, RoomId), Error> {
    let user = |name: &'static str| {
        let config = ClientConfig::new(url).with_fingerprint(fingerprint);
        async move {
            let client = Client::new(config?);
            client.register(name, PASSWORD).await?;
            Ok::<_, Error>(client)
        }
    };
    let alice = user("alice").await?;
    let bob = user("bob").await?;
    let carol = user("carol").await?;
    let dave = user("dave").await?;
    let general = alice
        .create_room_with(chat_client_lib::NewRoom::public("General"))
        .await?
        .id;
    let rust = bob
        .create_room_with(chat_client_lib::NewRoom::public("Rust fans"))
        .await?
        .id;
    for c in [&bob, &carol, &dave] {
        c.join_room(general).await?;
    }
    alice.join_room(rust).await?;
    carol.join_room(rust).await?;
    bob.send(rust, "Has anyone tried the new borrow checker diagnostics?")
        .await?;
    carol.send(rust, "Yes! The suggestions got much better.").await?;
    let script: [(&Client, &str); 10] = [
        (
            &bob,
            "Morning everyone! Are we still on for the release review at 3?",
        ),
        (&carol, "Yes. I'll bring the benchmark numbers."),
        (&carol, "Throughput is up about 20% since the batching change."),
        (
            &alice,
            "Nice work! I'll share the screen with the new desktop app.",
        ),
        (&dave, "Can we also talk about the PostgreSQL migration plan?"),
        (&bob, "Good idea, I added it to the agenda."),
        (&bob, "נתראה בשלוש, תודה לכולם!"),
        (&carol, "好的，三点见！🎉"),
        (&alice, "مرحبا بالجميع 👋"),
        (&dave, "Sounds good, see you all there!"),
    ];
    for (who, text) in script {
        who.send(general, text).await?;
    }
    let direct = carol.open_direct("alice").await?.id;
    carol
        .send(direct, "Do you have a minute after the review?")
        .await?;
    alice.open_direct("bob").await?;
    alice.logout().await?;
    dave.logout().await?;
    Ok((vec![bob, carol], general))
}

fn window(url: &str, fingerprint: &str, theme: Theme, cache: &Path) -> Harness<'static, App> {
    let config = AppConfig {
        backend: BackendConfig {
            cache_dir: cache.to_path_buf(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            reconnect: Default::default(),
            secrets: std::sync::Arc::new(chat_gui::MemorySecrets::default()),
        },
        offset: LocalOffset::UTC,
        server: ServerAddress {
            url: url.to_owned(),
            fingerprint: fingerprint.to_owned(),
        },
        theme: Some(theme),
        remember: None,
        prefs: None,
        notifier: std::sync::Arc::new(chat_gui::RecordingNotifier::default()),
    };
    Harness::builder()
        .with_size(SIZE)
        .with_theme(theme)
        .with_step_dt(0.02)
        .with_render_cursor(false)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), App::new(config))
}

/// Clicks as a mouse does: over the button first.
fn click(harness: &mut Harness<'static, App>, label: &str) {
    harness.get_by_label(label).hover();
    harness.step();
    harness.get_by_label(label).click();
    harness.step();
}

fn type_into(harness: &mut Harness<'static, App>, label: &str, text: &str) {
    let field = harness.get_by_label(label);
    field.focus();
    field.type_text(text);
    settle(harness, Duration::from_millis(100));
}

/// Runs frames in real time for a while.
fn settle(harness: &mut Harness<'static, App>, time: Duration) {
    let start = Instant::now();
    while start.elapsed() < time {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait(
    harness: &mut Harness<'static, App>,
    done: impl Fn(&Harness<'static, App>) -> bool,
) -> Result<(), Error> {
    let start = Instant::now();
    while !done(harness) {
        if start.elapsed() > Duration::from_secs(20) {
            return Err("the app did not reach the expected screen".into());
        }
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    settle(harness, Duration::from_millis(200));
    Ok(())
}

fn save(harness: &mut Harness<'static, App>, path: &Path) -> Result<(), Error> {
    let image = harness.render()?;
    image.save(path)?;
    println!("wrote {}", path.display());
    Ok(())
}
