//! A bot that answers in a room: `!ping` gets `pong`, anything else is echoed back.
//!
//! ```text
//! chat-bot --server wss://127.0.0.1:8443/v2/ws --fingerprint 3A:9F:... \
//!     --user echo-bot --password 'bot password' --register --room 1
//! ```
//!
//! It never gives up on the server: an outage of any length is ridden out (the client
//! library reconnects with capped backoff and resumes the room). It remembers the last
//! message it handled in its encrypted local store, so after a restart it answers what was
//! said while it was away, and each message exactly once.
//!
//! In a private room (end-to-end encrypted), invite the bot's account first; joining accepts
//! the invitation, and a member's device adds the bot's device to the room's encryption
//! group. The device lives in the local store too: keep the same `--cache-dir` between runs.

use chat_client_lib::{Client, ClientEvent, RoomId};
use chat_examples::bot::{answer, answer_id, save_position, saved_position};
use chat_examples::connect::ConnectArgs;
use clap::Parser;

/// Answer messages in a room.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "A chat bot: joins a room, answers !ping with pong and echoes everything else."
)]
struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The bot's username.
    #[arg(long, env = "CHAT_USER")]
    user: String,
    /// The bot's password.
    #[arg(long, env = "CHAT_PASSWORD", hide_env_values = true)]
    password: String,
    /// Create the account first.
    #[arg(long)]
    register: bool,
    /// The room to join and answer in.
    #[arg(long)]
    room: RoomId,
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new(args.connect.to_config()?);
    // Subscribed before logging in, so that nothing delivered from then on is missed.
    let mut messages = client.room_events(args.room);
    let me = if args.register {
        client.register(&args.user, &args.password).await?
    } else {
        client.login(&args.user, &args.password).await?
    }
    .user;
    if let Some(seq) = saved_position(&client, args.room) {
        // Catch up with what was said while the bot was away.
        client.start_room_at(args.room, seq);
    }
    client.join_room(args.room).await?;
    println!("{} answers in #{}", me.username, args.room);

    while let Some(event) = messages.recv().await {
        let ClientEvent::Message(message) = event else {
            continue;
        };
        // Answer messages from others; never ourselves, never notices of room changes.
        if let Some(text) = message.text().filter(|_| message.sender.id != me.id) {
            let reply = answer(text.as_str());
            // Queued in the outbox before this returns; sent whenever the server is there.
            let handle = client.send_with_id(args.room, answer_id(&message), &reply);
            if let chat_client_lib::SendState::Failed(e) = handle.state() {
                eprintln!("cannot answer message {}: {e}", message.seq);
            }
        }
        save_position(&client, args.room, message.seq);
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("error: {}", chat_client_lib::error::report(e.as_ref()));
        std::process::exit(1);
    }
}
