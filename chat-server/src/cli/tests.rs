//! Settings precedence and validation.

use std::io::Write;

use super::*;

fn parse(args: &[&str]) -> Settings {
    let mut all = vec!["chat-server"];
    all.extend_from_slice(args);
    Settings::try_parse_from(all).expect("arguments parse")
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write");
    file
}

#[test]
fn no_settings_give_the_documented_defaults() {
    let (config, log) = Settings::default().resolve().expect("defaults are valid");
    assert_eq!(config.listen.to_string(), "0.0.0.0:8443");
    assert_eq!(config.data_dir, PathBuf::from("data"));
    assert_eq!(config.tls, TlsMode::SelfSigned);
    assert_eq!(config.limits.max_frame_bytes, 1024 * 1024);
    assert_eq!(config.timeouts.idle, Duration::from_secs(60));
    assert_eq!(config.core.bcrypt_cost, 12);
    assert_eq!(
        log,
        LogSettings {
            format: LogFormat::Text,
            filter: "info".into()
        }
    );
}

#[test]
fn the_example_file_parses_to_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("chat-server.example.toml");
    let from_file = Settings::from_file(&path)
        .expect("example parses")
        .resolve()
        .expect("valid");
    let defaults = ServerConfig::default();
    assert_eq!(from_file.0.listen, defaults.listen);
    assert_eq!(
        from_file.0.limits.max_connections,
        defaults.limits.max_connections
    );
    assert_eq!(from_file.0.timeouts.shutdown, defaults.timeouts.shutdown);
    assert_eq!(from_file.0.core.session_ttl, defaults.core.session_ttl);
    assert_eq!(from_file.0.core.outbound_queue, defaults.core.outbound_queue);
}

#[test]
fn flags_win_over_the_file_and_the_file_over_defaults() {
    let file = toml_file("idle_timeout_secs = 90\nping_interval_secs = 30\nmax_connections = 5\n");
    let path = file.path().to_str().expect("utf-8 path");
    let settings = parse(&["--config", path, "--max-connections", "7", "--plain-ws"]);
    let (config, _) = settings.with_file().expect("file").resolve().expect("valid");
    assert_eq!(config.limits.max_connections, 7);
    assert_eq!(config.timeouts.idle, Duration::from_secs(90));
    assert_eq!(config.tls, TlsMode::Plain);
}

#[test]
fn unknown_keys_and_bad_values_in_the_file_are_errors() {
    let file = toml_file("idle_timeout = 90\n");
    let err = Settings::from_file(file.path()).expect_err("unknown key refused");
    assert!(err.to_string().contains("idle_timeout"), "{err}");
    let file = toml_file("listen = \"not an address\"\n");
    assert!(Settings::from_file(file.path()).is_err());
}

#[test]
fn inconsistent_settings_are_refused() {
    let cases: &[&[&str]] = &[
        &["--tls-cert", "c.pem"],
        &["--plain-ws", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
        &["--metrics-listen", "0.0.0.0:9100"],
        &["--metrics-listen", "127.0.0.1:9100", "--metrics-public"],
        &["--ping-interval-secs", "60", "--idle-timeout-secs", "60"],
        &["--bcrypt-cost", "3"],
        &["--outbound-queue", "0"],
        &["--login-first-delay-secs", "0"],
    ];
    for args in cases {
        assert!(parse(args).resolve().is_err(), "{args:?} should be refused");
    }
}

#[test]
fn lists_are_comma_separated_and_plain_ws_takes_an_optional_value() {
    let settings = parse(&[
        "--allowed-origins",
        "https://a.example,https://b.example",
        "--plain-ws=false",
    ]);
    let (config, _) = settings.resolve().expect("valid");
    assert_eq!(config.allowed_origins, ["https://a.example", "https://b.example"]);
    assert_eq!(config.tls, TlsMode::SelfSigned);
}

#[test]
fn metrics_are_local_by_default_and_public_by_flag_or_file() {
    let (config, _) = Settings::default().resolve().expect("defaults");
    assert!(!config.metrics_public);
    let (config, _) = parse(&["--metrics-public"]).resolve().expect("flag");
    assert!(config.metrics_public);
    let file = toml_file("metrics_public = true\n");
    let (config, _) = Settings::from_file(file.path())
        .expect("file")
        .resolve()
        .expect("valid");
    assert!(config.metrics_public);
    let (config, _) = parse(&["--metrics-public=false"])
        .over(Settings::from_file(file.path()).expect("file"))
        .resolve()
        .expect("valid");
    assert!(!config.metrics_public, "the flag wins over the file");
}
