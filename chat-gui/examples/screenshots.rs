//! Renders screenshots of the app into docs/screenshots (run by scripts/screenshots.sh).
use std::time::Duration;

use chat_gui::{App, AppConfig, BackendConfig, LocalOffset, ServerAddress};
use egui_kittest::Harness;

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "/tmp/shots".into());
    std::fs::create_dir_all(&out).unwrap();
    for (theme, name) in [(egui::Theme::Light, "light"), (egui::Theme::Dark, "dark")] {
        let config = AppConfig {
            backend: BackendConfig {
                cache_dir: std::env::temp_dir(),
                request_timeout: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(5),
            },
            offset: LocalOffset::UTC,
            server: ServerAddress {
                url: "wss://127.0.0.1:8443/v1/ws".into(),
                fingerprint: String::new(),
            },
            theme: Some(theme),
        };
        let mut harness = Harness::builder()
            .with_size(egui::vec2(1000.0, 680.0))
            .with_theme(theme)
            .build_ui_state(|ui, app: &mut App| app.ui(ui), App::new(config));
        harness.run_steps(4);
        let image = harness.render().expect("render");
        image.save(format!("{out}/login-{name}.png")).unwrap();
    }
}
