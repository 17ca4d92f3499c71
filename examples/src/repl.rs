//! Runs commands against a [`Client`]: interactively (events are shown as they arrive) or from
//! a script (commands from flags or standard input; the first failure stops the script with a
//! non-zero exit code).

use std::time::Duration;

use chat_client_lib::{Client, ClientEvent, EventStream, HistoryFrom};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::command::{Command, HELP, parse};
use crate::output::Printer;

/// Exit code of a script whose command failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code of a script with a line that is not a command.
pub const EXIT_USAGE: i32 = 2;

/// What to do after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next command.
    Continue,
    /// Stop.
    Quit,
}

/// How one script line went.
#[derive(Debug, PartialEq, Eq)]
pub enum LineOutcome {
    /// Done; go on.
    Continue,
    /// `/quit`.
    Quit,
    /// The command failed (already reported).
    Failed,
    /// The line is not a command (already reported).
    Usage,
}

/// A client with its event stream and output style.
pub struct Repl {
    client: Client,
    events: EventStream,
    printer: Printer,
}

impl Repl {
    /// Subscribes to the client's events right away, so nothing is missed.
    pub fn new(client: Client, printer: Printer) -> Self {
        Self {
            events: client.events(),
            client,
            printer,
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs one command and prints its result.
    pub async fn execute(&mut self, command: Command) -> Result<Flow, String> {
        let c = &self.client;
        let p = self.printer;
        let text = match command {
            Command::Login { username, password } => {
                p.session(&c.login(&username, &password).await.map_err(err)?)
            }
            Command::Register { username, password } => {
                p.session(&c.register(&username, &password).await.map_err(err)?)
            }
            Command::Logout => {
                c.logout().await.map_err(err)?;
                p.ok("logged out")
            }
            Command::Rooms => p.rooms(&c.list_rooms().await.map_err(err)?),
            Command::Create { name } => p.room(&c.create_room(&name).await.map_err(err)?),
            Command::Join { room } => p.room(&c.join_room(room).await.map_err(err)?),
            Command::Leave { room } => {
                c.leave_room(room).await.map_err(err)?;
                p.ok(&format!("left #{room}"))
            }
            Command::Dm { username } => p.room(&c.open_direct(&username).await.map_err(err)?),
            Command::Send { room, text } => p.sent(&c.send(room, &text).await.map_err(err)?),
            Command::History { room, limit, before } => {
                let from = before.map_or(HistoryFrom::Latest, HistoryFrom::Before);
                let page = c.history(room, from, limit).await.map_err(err)?;
                p.messages(room, &page.messages)
            }
            Command::Who { room } => p.members(room, &c.members(room).await.map_err(err)?),
            Command::Read { room, seq } => {
                c.mark_read(room, seq).await.map_err(err)?;
                p.ok(&format!("#{room} read up to {seq}"))
            }
            Command::Wait { count, seconds } => self.wait_for_messages(count, seconds).await?,
            Command::Ping => {
                c.ping().await.map_err(err)?;
                p.ok("pong")
            }
            Command::Help => HELP.to_owned(),
            Command::Quit => return Ok(Flow::Quit),
        };
        if !text.is_empty() {
            println!("{text}");
        }
        Ok(Flow::Continue)
    }

    /// Prints messages from other users as they arrive, until `count` of them came.
    async fn wait_for_messages(&mut self, count: usize, seconds: u64) -> Result<String, String> {
        let me = self.client.user().map(|u| u.id);
        let mut seen = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while seen < count {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| format!("only {seen} of {count} messages within {seconds} s"))?;
            match event {
                Some(ClientEvent::Message(m)) if Some(m.sender.id) != me => {
                    println!("{}", self.printer.message(&m));
                    seen += 1;
                }
                Some(_) => {}
                None => return Err("the client stopped".into()),
            }
        }
        Ok(String::new())
    }

    /// Runs one script line, reporting failures on standard error.
    pub async fn run_line(&mut self, line: &str) -> LineOutcome {
        let command = match parse(line) {
            Ok(Some(command)) => command,
            Ok(None) => return LineOutcome::Continue,
            Err(e) => {
                eprintln!("error: {e}");
                return LineOutcome::Usage;
            }
        };
        match self.execute(command).await {
            Ok(Flow::Quit) => LineOutcome::Quit,
            Ok(Flow::Continue) => LineOutcome::Continue,
            Err(e) => {
                eprintln!("error: {line}: {e}");
                LineOutcome::Failed
            }
        }
    }

    /// Runs `lines` in order; stops at the first failure unless `keep_going`. Returns the
    /// exit code.
    pub async fn run_script(&mut self, lines: impl IntoIterator<Item = String>, keep_going: bool) -> i32 {
        let mut code = 0;
        for line in lines {
            match self.run_line(&line).await {
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

    /// Reads commands from standard input until end of input or `/quit`, showing events and
    /// connection changes as they come.
    pub async fn run_interactive(&mut self) -> i32 {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut states = self.client.state();
        println!("type /help for commands");
        loop {
            prompt().await;
            tokio::select! {
                line = lines.next_line() => {
                    let Ok(Some(line)) = line else { return 0 };
                    match parse(&line) {
                        Ok(None) => {}
                        Ok(Some(command)) => match self.execute(command).await {
                            Ok(Flow::Quit) => return 0,
                            Ok(Flow::Continue) => {}
                            Err(e) => eprintln!("error: {e}"),
                        },
                        Err(e) => eprintln!("error: {e}"),
                    }
                }
                Some(event) = self.events.recv() => {
                    if let Some(text) = self.printer.event(&event) {
                        println!("\r{text}");
                    }
                }
                Some(state) = states.next_state() => {
                    if let Some(text) = self.printer.state(&state) {
                        eprintln!("\r{text}");
                    }
                }
            }
        }
    }
}

async fn prompt() {
    let mut out = tokio::io::stdout();
    let _ = out.write_all(b"> ").await;
    let _ = out.flush().await;
}

fn err(e: chat_client_lib::ClientError) -> String {
    e.to_string()
}
