//! The example programs against a real server: two users talk through the CLI's script mode,
//! scripts fail with the right exit codes, and the bot answers.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use chat_client_lib::{Client, ClientConfig, ClientEvent};
use chat_server::{RunningServer, ServerConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(30);

async fn start_server(dir: &std::path::Path) -> RunningServer {
    start_server_on(dir, 0).await
}

/// Starts a server on `port` (0 for any); a port just freed may take a moment.
async fn start_server_on(dir: &std::path::Path, port: u16) -> RunningServer {
    let mut config = ServerConfig::local(dir);
    config.listen = SocketAddr::from(([127, 0, 0, 1], port));
    config.core.bcrypt_cost = 4;
    for _ in 0..50 {
        match chat_server::start(config.clone()).await {
            Ok(server) => return server,
            Err(e) if port != 0 => {
                eprintln!("restart on port {port} not yet possible: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("server start failed: {e}"),
        }
    }
    panic!("could not restart the server on port {port}")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", std::process::id() ^ rand_bits())
}

fn rand_bits() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// `chat-cli` with the server flags, JSON output, and piped stdio.
fn cli(server: &RunningServer, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-cli"));
    command
        .args(["--server", &server.ws_url()])
        .args(["--fingerprint", &server.cert_fingerprint().unwrap()])
        .arg("--json")
        .arg("--no-cache")
        .args(args)
        .env_remove("CHAT_USER")
        .env_remove("CHAT_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// `chat-cli` like [`cli`], keeping the user's local store (and so its end-to-end
/// encryption device) in `cache` from run to run, as a person's CLI does.
fn cli_keeping(server: &RunningServer, cache: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-cli"));
    command
        .args(["--server", &server.ws_url()])
        .args(["--fingerprint", &server.cert_fingerprint().unwrap()])
        .arg("--json")
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("CHAT_USER")
        .env_remove("CHAT_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs a CLI to the end; returns exit code, JSON stdout lines and stderr.
async fn run(mut command: Command) -> (i32, Vec<Value>, String) {
    let mut child = command.spawn().unwrap();
    let pid = child.id();
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read_out = tokio::spawn(async move {
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut bytes)
            .await
            .map(|_| bytes)
    });
    let read_err = tokio::spawn(async move {
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stderr, &mut bytes)
            .await
            .map(|_| bytes)
    });
    let status = match tokio::time::timeout(WAIT, child.wait()).await {
        Ok(status) => status.unwrap(),
        Err(_) => {
            child.kill().await.unwrap();
            let err = read_err.await.unwrap().unwrap();
            let out = read_out.await.unwrap().unwrap();
            panic!(
                "the CLI (pid {pid:?}) did not exit in time; stdout: {}; stderr: {}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
    };
    let out = std::process::Output {
        status,
        stdout: read_out.await.unwrap().unwrap(),
        stderr: read_err.await.unwrap().unwrap(),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn bodies(lines: &[Value]) -> Vec<String> {
    let mut bodies = Vec::new();
    for line in lines {
        // Text messages only: notices of room changes have no body.
        if line["kind"] == "message"
            && let Some(body) = line["message"]["body"].as_str()
        {
            bodies.push(body.to_owned());
        }
        if line["kind"] == "messages" {
            for m in line["messages"].as_array().unwrap() {
                if let Some(body) = m["body"].as_str() {
                    bodies.push(body.to_owned());
                }
            }
        }
    }
    bodies
}

async fn next_json(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("output")
        .unwrap()
        .expect("a line");
    serde_json::from_str(&line).unwrap()
}

#[tokio::test]
async fn two_users_hold_a_conversation_through_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let (alice, bob) = (unique("alice"), unique("bob"));
    let cli = |server: &RunningServer, args: &[&str]| cli_keeping(server, cache.path(), args);

    let (code, out, err) = run(cli(
        &server,
        &[
            "--user",
            &alice,
            "--password",
            PASSWORD,
            "--register",
            "--exec",
            "/create lobby",
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    let room = out[1]["room"]["id"].as_str().expect("room id").to_owned();
    assert_eq!(out[1]["room"]["visibility"], "private");
    assert_eq!(out[1]["room"]["encrypted"], true);

    // The room is private: bob comes in through an invite link alice makes. It is end-to-end
    // encrypted: each user's device keeps its state in its local store between runs, and
    // alice's device adds bob's when it next comes online.
    let (code, out, err) = run(cli(
        &server,
        &[
            "--user",
            &alice,
            "--password",
            PASSWORD,
            "--exec",
            &format!("/link {room}"),
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    let token = out[1]["link"]["token"]
        .as_str()
        .expect("a new link's token")
        .to_owned();
    let (code, out, err) = run(cli(
        &server,
        &[
            "--exec",
            &format!("/register {bob} {PASSWORD}"),
            "--exec",
            &format!("/joinlink chat-invite:{token}"),
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out[1]["room"]["id"], room.as_str());

    // Bob logs in and waits for a message; alice writes once he is listening.
    let mut bob_cli: Child = cli(
        &server,
        &[
            "--user",
            &bob,
            "--password",
            PASSWORD,
            "--exec",
            "/wait 1 20",
            "--exec",
            &format!("/send {room} hi alice"),
        ],
    )
    .spawn()
    .unwrap();
    let mut bob_out = BufReader::new(bob_cli.stdout.take().unwrap()).lines();
    assert_eq!(next_json(&mut bob_out).await["kind"], "session");

    let (code, out, err) = run(cli(
        &server,
        &[
            "--user",
            &alice,
            "--password",
            PASSWORD,
            "--exec",
            &format!("/send {room} hello bob"),
            "--exec",
            "/wait 1 20",
            "--exec",
            &format!("/history {room}"),
        ],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(bodies(&out), ["hello bob", "hi alice", "hello bob", "hi alice"]);

    assert_eq!(next_json(&mut bob_out).await["message"]["body"], "hello bob");
    assert_eq!(next_json(&mut bob_out).await["message"]["body"], "hi alice");
    let status = tokio::time::timeout(WAIT, bob_cli.wait()).await.unwrap().unwrap();
    assert!(status.success());

    // Both see the same safety number, and each has one device: the one its store keeps.
    let mut numbers = Vec::new();
    for (me, them) in [(&alice, &bob), (&bob, &alice)] {
        let (code, out, err) = run(cli(
            &server,
            &[
                "--user",
                me,
                "--password",
                PASSWORD,
                "--exec",
                "/devices",
                "--exec",
                &format!("/safety {them}"),
            ],
        ))
        .await;
        assert_eq!(code, 0, "{err}");
        let devices = out[1]["devices"].as_array().expect("devices");
        assert_eq!(devices.len(), 1, "{devices:?}");
        assert_eq!(devices[0]["id"], out[1]["this_device"]);
        numbers.push(
            out[2]["safety_number"]
                .as_str()
                .expect("a safety number")
                .to_owned(),
        );
    }
    assert_eq!(numbers[0], numbers[1]);
    assert_eq!(numbers[0].split(' ').count(), 12);
}

#[tokio::test]
async fn scripts_stop_at_the_first_failure_with_a_non_zero_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let user = unique("carol");
    let (code, _, err) = run(cli(
        &server,
        &[
            "--user",
            &user,
            "--password",
            PASSWORD,
            "--register",
            "--exec",
            "/join 999999",
            "--exec",
            "/rooms",
        ],
    ))
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("not_found") || err.contains("no such"), "{err}");

    let (code, _, err) = run(cli(&server, &["--user", &user, "--password", "wrong password"])).await;
    assert_eq!(code, 1);
    assert!(err.contains("invalid_credentials"), "{err}");

    let (code, _, err) = run(cli(&server, &["--exec", "/fly"])).await;
    assert_eq!(code, 2);
    assert!(err.contains("unknown command"), "{err}");

    // Commands piped on standard input work the same as --exec.
    let mut piped = cli(&server, &[]);
    piped.stdin(Stdio::piped());
    let mut child = piped.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("/login {user} {PASSWORD}\n# a comment\n/create piped room\n/rooms\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["rooms"][0]["room"]["name"], "piped room");
}

/// The bot's process with quick reconnects, its store in `cache`.
fn bot(
    server_url: &str,
    fingerprint: &str,
    name: &str,
    room: &str,
    cache: &std::path::Path,
    register: bool,
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-bot"));
    command
        .args(["--server", server_url, "--fingerprint", fingerprint])
        .args(["--user", name, "--password", PASSWORD, "--room", room])
        .arg("--cache-dir")
        .arg(cache)
        // The default policy (never give up), with pauses short enough for a test.
        .args([
            "--reconnect-base-delay-ms",
            "20",
            "--reconnect-max-delay-ms",
            "100",
        ])
        .env_remove("CHAT_USER")
        .env_remove("CHAT_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if register {
        command.arg("--register");
    }
    command.spawn().unwrap()
}

/// Waits for the bot's "answers in" line.
async fn bot_ready(bot: &mut Child) {
    let mut out = BufReader::new(bot.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(WAIT, out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(ready.contains("answers in"), "{ready}");
}

/// The next `n` text messages from `sender` in the stream (notices skipped).
async fn from(events: &mut chat_client_lib::EventStream, sender: &str, n: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    while bodies.len() < n {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("the bot answers")
            .unwrap();
        if let ClientEvent::Message(m) = event
            && m.sender.username.as_str() == sender
            && let Some(text) = m.text()
        {
            bodies.push(text.to_string());
        }
    }
    bodies
}

fn quick(config: ClientConfig) -> ClientConfig {
    config.with_reconnect(
        chat_client_lib::ReconnectPolicy::default()
            .with_base_delay(Duration::from_millis(20))
            .with_max_delay(Duration::from_millis(100)),
    )
}

#[tokio::test]
async fn the_bot_answers_in_its_room() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let config = ClientConfig::new(server.ws_url())
        .with_fingerprint(&server.cert_fingerprint().unwrap())
        .unwrap();
    let alice = Client::new(config);
    alice.register(&unique("alice"), PASSWORD).await.unwrap();
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("bots welcome"))
        .await
        .unwrap();
    let mut events = alice.room_events(room.id);

    let bot_name = unique("bot");
    let fingerprint = server.cert_fingerprint().unwrap();
    let mut bot = bot(
        &server.ws_url(),
        &fingerprint,
        &bot_name,
        &room.id.to_string(),
        cache.path(),
        true,
    );
    bot_ready(&mut bot).await;

    alice.send(room.id, "!ping").await.unwrap();
    alice.send(room.id, "hello bot").await.unwrap();
    assert_eq!(from(&mut events, &bot_name, 2).await, ["pong", "echo: hello bot"]);
    bot.kill().await.unwrap();
}

#[tokio::test]
async fn the_bot_answers_in_an_end_to_end_encrypted_room() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let fingerprint = server.cert_fingerprint().unwrap();
    let config = ClientConfig::new(server.ws_url())
        .with_fingerprint(&fingerprint)
        .unwrap();

    // The bot's account exists before it is invited (its first device goes at shutdown).
    let bot_name = unique("bot");
    let setup = Client::new(config.clone());
    setup.register(&bot_name, PASSWORD).await.unwrap();
    setup.shutdown().await.unwrap();

    let alice = Client::new(config);
    alice.register(&unique("alice"), PASSWORD).await.unwrap();
    let room = alice.create_room("private bots").await.unwrap();
    assert!(room.encrypted);
    alice.invite(room.id, &bot_name).await.unwrap();
    let mut events = alice.room_events(room.id);

    let mut bot = bot(
        &server.ws_url(),
        &fingerprint,
        &bot_name,
        &room.id.to_string(),
        cache.path(),
        false,
    );
    bot_ready(&mut bot).await;
    // Alice's device adds the bot's device to the room's group when the bot joins.
    tokio::time::timeout(WAIT, async {
        loop {
            let added = alice
                .room_encryption(room.id)
                .is_some_and(|e| e.devices.iter().any(|d| d.user != alice.user().unwrap().id));
            if added {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the bot's device is in the room's group");

    alice.send(room.id, "!ping").await.unwrap();
    alice.send(room.id, "hello bot").await.unwrap();
    assert_eq!(from(&mut events, &bot_name, 2).await, ["pong", "echo: hello bot"]);
    bot.kill().await.unwrap();
}

#[tokio::test]
async fn the_bot_catches_up_after_a_restart_and_answers_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let fingerprint = server.cert_fingerprint().unwrap();
    let alice = Client::new(
        ClientConfig::new(server.ws_url())
            .with_fingerprint(&fingerprint)
            .unwrap(),
    );
    alice.register(&unique("alice"), PASSWORD).await.unwrap();
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("catch up"))
        .await
        .unwrap();
    let mut events = alice.room_events(room.id);
    let (bot_name, room_arg) = (unique("bot"), room.id.to_string());

    let mut first = bot(
        &server.ws_url(),
        &fingerprint,
        &bot_name,
        &room_arg,
        cache.path(),
        true,
    );
    bot_ready(&mut first).await;
    alice.send(room.id, "!ping").await.unwrap();
    assert_eq!(from(&mut events, &bot_name, 1).await, ["pong"]);
    first.kill().await.unwrap();

    // Said while the bot is away.
    alice.send(room.id, "while away 1").await.unwrap();
    alice.send(room.id, "while away 2").await.unwrap();

    let mut second = bot(
        &server.ws_url(),
        &fingerprint,
        &bot_name,
        &room_arg,
        cache.path(),
        false,
    );
    bot_ready(&mut second).await;
    assert_eq!(
        from(&mut events, &bot_name, 2).await,
        ["echo: while away 1", "echo: while away 2"],
        "caught up from the last message handled, not from the newest"
    );
    alice.send(room.id, "!ping").await.unwrap();
    assert_eq!(
        from(&mut events, &bot_name, 1).await,
        ["pong"],
        "nothing answered twice"
    );
    let page = alice
        .history(room.id, chat_client_lib::HistoryFrom::Latest, 50)
        .await
        .unwrap();
    let answers = page
        .messages
        .iter()
        .filter(|m| m.sender.username.as_str() == bot_name && m.text().is_some())
        .count();
    assert_eq!(answers, 4);
    second.kill().await.unwrap();
}

#[tokio::test]
async fn the_bot_rides_out_an_outage_longer_than_the_old_reconnect_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let port = server.local_addr().port();
    let fingerprint = server.cert_fingerprint().unwrap();
    let alice = Client::new(quick(
        ClientConfig::new(server.ws_url())
            .with_fingerprint(&fingerprint)
            .unwrap(),
    ));
    alice.register(&unique("alice"), PASSWORD).await.unwrap();
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("outage"))
        .await
        .unwrap();
    let mut events = alice.room_events(room.id);
    let bot_name = unique("bot");
    let mut bot = bot(
        &server.ws_url(),
        &fingerprint,
        &bot_name,
        &room.id.to_string(),
        cache.path(),
        true,
    );
    bot_ready(&mut bot).await;

    // Down long enough for dozens of attempts (the old default gave up after ten).
    server.kill();
    let mut states = alice.state();
    let mut attempts = 0;
    tokio::time::timeout(WAIT, async {
        while let Some(state) = states.next_state().await {
            if let chat_client_lib::ConnectionState::Reconnecting { attempt } = state {
                attempts = attempts.max(attempt);
                if attempts > 25 {
                    break;
                }
            }
        }
    })
    .await
    .expect("reconnecting");
    assert!(bot.try_wait().unwrap().is_none(), "the bot is still running");

    let server = start_server_on(dir.path(), port).await;
    // Written as soon as alice is back; it goes out from her outbox.
    alice.send(room.id, "!ping").await.unwrap();
    assert_eq!(
        from(&mut events, &bot_name, 1).await,
        ["pong"],
        "the bot answers after the outage"
    );
    bot.kill().await.unwrap();
    drop(server);
}
