//! A command-line chat client.
//!
//! Interactive when standard input is a terminal and no `--exec` is given: a prompt with
//! line editing and history, an open room that plain text goes to, the password asked for
//! without echo, and messages shown once each, with their time, as they arrive. Otherwise it
//! runs the `--exec` commands (or the lines of standard input) in order and exits non-zero
//! at the first failure:
//!
//! ```text
//! chat-cli --server wss://127.0.0.1:8443/v2/ws --fingerprint 3A:9F:... --user alice
//! chat-cli --fingerprint 3A:9F:... --user alice --password 'correct horse' \
//!     --exec "/join 1" --exec "/send 1 hello"
//! printf '/login bob pw-of-bob\n/history 1\n' | chat-cli --fingerprint 3A:9F:...
//! ```

use std::io::IsTerminal;

use chat_client_lib::Client;
use chat_examples::command::{Command, help};
use chat_examples::connect::ConnectArgs;
use chat_examples::interactive;
use chat_examples::output::Printer;
use chat_examples::repl::{EXIT_FAILED, EXIT_USAGE, LineOutcome, Repl};
use clap::Parser;
use tokio::io::AsyncBufReadExt;

/// Chat from the command line.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "Chat from the command line: a prompt with line editing, or a script runner with --exec or piped commands.",
    after_help = help()
)]
struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Log in as this user before anything else (asks for the password at the prompt).
    #[arg(long, env = "CHAT_USER")]
    user: Option<String>,
    /// The password for --user (better left out at the prompt: it is asked without echo).
    #[arg(long, env = "CHAT_PASSWORD", hide_env_values = true, requires = "user")]
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

fn main() {
    // The local time zone can only be read safely while the process has one thread.
    let offset = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            std::process::exit(EXIT_FAILED);
        }
    };
    let code = runtime.block_on(run(args, offset));
    std::process::exit(code);
}

async fn run(args: Args, offset: time::UtcOffset) -> i32 {
    let config = match args.connect.to_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let interactive = args.exec.is_empty() && std::io::stdin().is_terminal();
    let printer = Printer {
        json: args.json,
        offset,
    };
    let mut repl = Repl::new(Client::new(config), printer);
    if let Some(username) = args.user.clone() {
        let password = match (args.password.clone(), interactive) {
            (Some(password), _) => password,
            (None, true) => match interactive::read_password(&format!("password for {username}: ")) {
                Ok(password) => password,
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_FAILED;
                }
            },
            (None, false) => {
                eprintln!("error: --user needs --password when not at a terminal");
                return EXIT_USAGE;
            }
        };
        let password = Some(password);
        let command = if args.register {
            Command::Register { username, password }
        } else {
            Command::Login { username, password }
        };
        if let Err(e) = repl.execute(command).await {
            eprintln!("error: {e}");
            // At the prompt the saved chats can still be read; a script stops here.
            if !interactive {
                return EXIT_FAILED;
            }
        }
    }
    let code = if !args.exec.is_empty() {
        repl.run_script(args.exec.clone(), args.keep_going).await
    } else if interactive {
        interactive::run(&mut repl).await
    } else {
        run_stdin_script(&mut repl, args.keep_going).await
    };
    // Clean shutdown writes the saved chats; the outbox stays for the next run.
    let left = repl.client().outbox().len();
    if let Err(e) = repl.client().shutdown().await {
        eprintln!("warning: {}", chat_client_lib::error::report(&e));
    }
    if left > 0 {
        eprintln!("{left} message(s) not yet sent: they go out at the next login");
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
