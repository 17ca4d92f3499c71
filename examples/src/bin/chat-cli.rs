//! A command-line chat client.
//!
//! Interactive when standard input is a terminal and no `--exec` is given; otherwise it runs
//! the `--exec` commands (or the lines of standard input) in order and exits non-zero at the
//! first failure:
//!
//! ```text
//! chat-cli --server wss://127.0.0.1:8443/v1/ws --fingerprint 3A:9F:... \
//!     --user alice --password 'correct horse' --exec "/join 1" --exec "/send 1 hello"
//! printf '/login bob pw-of-bob\n/history 1\n' | chat-cli --fingerprint 3A:9F:...
//! ```

use std::io::IsTerminal;

use chat_client_lib::Client;
use chat_examples::command::Command;
use chat_examples::connect::ConnectArgs;
use chat_examples::output::Printer;
use chat_examples::repl::{EXIT_FAILED, EXIT_USAGE, LineOutcome, Repl};
use clap::Parser;
use tokio::io::AsyncBufReadExt;

/// Chat from the command line.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Chat from the command line: a REPL, or a script runner with --exec or piped commands."
)]
struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Log in as this user before anything else.
    #[arg(long, env = "CHAT_USER", requires = "password")]
    user: Option<String>,
    /// The password for --user.
    #[arg(long, env = "CHAT_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Create the --user account instead of logging in.
    #[arg(long, requires = "user")]
    register: bool,
    /// Run this command (repeatable), then exit; e.g. --exec "/send 1 hello".
    #[arg(long = "exec", value_name = "COMMAND")]
    exec: Vec<String>,
    /// Print results as JSON lines (for scripts).
    #[arg(long)]
    json: bool,
    /// In scripts, run the remaining commands after a failure (the exit code is still 1).
    #[arg(long)]
    keep_going: bool,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    std::process::exit(run(args).await);
}

async fn run(args: Args) -> i32 {
    let config = match args.connect.to_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let mut repl = Repl::new(Client::new(config), Printer { json: args.json });
    if let (Some(username), Some(password)) = (args.user.clone(), args.password.clone()) {
        let command = if args.register {
            Command::Register { username, password }
        } else {
            Command::Login { username, password }
        };
        if let Err(e) = repl.execute(command).await {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    }
    let code = if !args.exec.is_empty() {
        repl.run_script(args.exec.clone(), args.keep_going).await
    } else if std::io::stdin().is_terminal() {
        repl.run_interactive().await
    } else {
        run_stdin_script(&mut repl, args.keep_going).await
    };
    // Clean shutdown writes the offline cache.
    if let Err(e) = repl.client().shutdown().await {
        eprintln!("warning: {e}");
    }
    code
}

/// Runs standard input line by line as it arrives (a script may be fed by another program).
async fn run_stdin_script(repl: &mut Repl, keep_going: bool) -> i32 {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut code = 0;
    while let Ok(Some(line)) = lines.next_line().await {
        match repl.run_line(&line).await {
            LineOutcome::Continue => {}
            LineOutcome::Quit => break,
            LineOutcome::Usage => return EXIT_USAGE,
            LineOutcome::Failed => {
                code = EXIT_FAILED;
                if !keep_going {
                    break;
                }
            }
        }
    }
    code
}
