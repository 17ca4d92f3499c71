//! A bot that answers in a room: `!ping` gets `pong`, anything else is echoed back.
//!
//! ```text
//! chat-bot --server wss://127.0.0.1:8443/v1/ws --fingerprint 3A:9F:... \
//!     --user echo-bot --password 'bot password' --register --room 1
//! ```
//!
//! It reconnects by itself when the server restarts (the client library resumes the room),
//! and answers each message exactly once.

use chat_client_lib::{Client, ClientEvent};
use chat_examples::connect::ConnectArgs;
use chat_proto::RoomId;
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

/// The bot's answer to a message.
fn answer(body: &str) -> String {
    match body.trim() {
        "!ping" => "pong".to_owned(),
        other => format!("echo: {other}"),
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new(args.connect.to_config()?);
    let me = if args.register {
        client.register(&args.user, &args.password).await?
    } else {
        client.login(&args.user, &args.password).await?
    }
    .user;
    client.join_room(args.room).await?;
    let mut messages = client.room_events(args.room);
    println!("{} answers in #{}", me.username, args.room);

    while let Some(event) = messages.recv().await {
        let ClientEvent::Message(message) = event else {
            continue;
        };
        // Answer messages from others; never ourselves, never notices of room changes.
        let Some(text) = message.text().filter(|_| message.sender.id != me.id) else {
            continue;
        };
        let reply = answer(text.as_str());
        if let Err(e) = client.send(args.room, &reply).await {
            eprintln!("cannot answer message {}: {e}", message.seq);
        }
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
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::answer;

    #[test]
    fn pings_get_pong_and_the_rest_is_echoed() {
        assert_eq!(answer(" !ping "), "pong");
        assert_eq!(answer("hello"), "echo: hello");
    }
}
