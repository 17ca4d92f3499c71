//! Runs commands against a [`Client`]: interactively (events are shown as they arrive) or from
//! a script (commands from flags or standard input; the first failure stops the script with a
//! non-zero exit code).

use std::time::Duration;

use chat_client_lib::{Client, ClientError, ClientEvent, EventStream, HistoryFrom, RoomId, SendState};

use crate::command::{Command, parse};
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

/// A client with its event stream, output style and open room.
pub struct Repl {
    client: Client,
    events: EventStream,
    printer: Printer,
    /// The room plain text goes to.
    current: Option<RoomId>,
    /// At the prompt, own messages are shown once, as they arrive, rather than with a
    /// receipt as well.
    interactive: bool,
}

impl Repl {
    /// Subscribes to the client's events right away, so nothing is missed.
    pub fn new(client: Client, printer: Printer) -> Self {
        Self {
            events: client.events(),
            client,
            printer,
            current: None,
            interactive: false,
        }
    }

    /// For the prompt: own messages are not acknowledged with a receipt, since they show
    /// up as messages anyway.
    pub fn set_interactive(&mut self, on: bool) {
        self.interactive = on;
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The printer.
    pub fn printer(&self) -> Printer {
        self.printer
    }

    /// The events not yet shown (the interactive loop shows them as they come).
    pub fn events(&mut self) -> &mut EventStream {
        &mut self.events
    }

    /// The room plain text goes to.
    pub fn current_room(&self) -> Option<RoomId> {
        self.current
    }

    /// The prompt: who is logged in and the open room, e.g. `alice #3 general> `.
    pub fn prompt(&self) -> String {
        let user = self.client.user().map(|u| u.username.to_string());
        let room = self.current.map(|id| {
            let name = self
                .client
                .cached_snapshot()
                .and_then(|s| s.room(id).map(|r| format!(" {}", r.summary.room.name)))
                .unwrap_or_default();
            format!("#{id}{name}")
        });
        match (user, room) {
            (Some(user), Some(room)) => format!("{user} {room}> "),
            (Some(user), None) => format!("{user}> "),
            (None, _) => "> ".to_owned(),
        }
    }

    /// Runs one command and prints its result.
    pub async fn execute(&mut self, command: Command) -> Result<Flow, String> {
        let c = &self.client.clone();
        let p = self.printer;
        let text = match command {
            Command::Login { username, password } => {
                let password = password.ok_or("usage: /login USER PASSWORD")?;
                let result = c.login(&username, &password).await;
                p.session(&result.map_err(|e| self.offline_note(e))?)
            }
            Command::Register { username, password } => {
                let password = password.ok_or("usage: /register USER PASSWORD")?;
                p.session(&c.register(&username, &password).await.map_err(err)?)
            }
            Command::Logout => {
                c.logout().await.map_err(err)?;
                self.current = None;
                p.ok("logged out")
            }
            Command::Rooms => match c.list_rooms().await {
                Ok(rooms) => p.rooms(&rooms),
                Err(e) => match c.cached_snapshot().filter(|_| unreachable(&e)) {
                    Some(saved) => {
                        let rooms: Vec<_> = saved.rooms.into_iter().map(|r| r.summary).collect();
                        format!("{}\n(saved list: the server cannot be reached)", p.rooms(&rooms))
                    }
                    None => return Err(err(e)),
                },
            },
            Command::Create { name, public } => {
                let new = if public {
                    chat_client_lib::NewRoom::public(name)
                } else {
                    chat_client_lib::NewRoom::private(name)
                };
                let room = c.create_room_with(new).await.map_err(err)?;
                self.current = Some(room.id);
                p.room(&room)
            }
            Command::Join { room } => {
                let room = c.join_room(room).await.map_err(err)?;
                self.current = Some(room.id);
                p.room(&room)
            }
            Command::Open { room } => {
                self.current = Some(room);
                let name = c
                    .cached_snapshot()
                    .and_then(|s| s.room(room).map(|r| r.summary.room.name.to_string()));
                p.ok(&format!(
                    "#{room} {} is open; plain text goes there",
                    name.unwrap_or_default()
                ))
            }
            Command::Leave { room } => {
                c.leave_room(room).await.map_err(err)?;
                if self.current == Some(room) {
                    self.current = None;
                }
                p.ok(&format!("left #{room}"))
            }
            Command::Dm { username } => {
                let room = c.open_direct(&username).await.map_err(err)?;
                self.current = Some(room.id);
                p.room(&room)
            }
            Command::Say { text } => {
                let room = self
                    .current
                    .ok_or("no open room: /join ROOM or /open ROOM first")?;
                self.queue(room, &text)?
            }
            Command::Send { room, text } if self.interactive => self.queue(room, &text)?,
            Command::Send { room, text } => p.sent(&c.send(room, &text).await.map_err(err)?),
            Command::History { room, limit, before } => {
                let room = room.or(self.current).ok_or("no open room: /history ROOM")?;
                let from = before.map_or(HistoryFrom::Latest, HistoryFrom::Before);
                match c.history(room, from, limit).await {
                    Ok(page) => p.messages(room, &page.messages),
                    Err(e) => match c.cached_snapshot().filter(|_| unreachable(&e)) {
                        Some(saved) => {
                            let messages = saved.room(room).map(|r| r.messages.clone()).unwrap_or_default();
                            format!(
                                "{}\n(saved messages: the server cannot be reached)",
                                p.messages(room, &messages)
                            )
                        }
                        None => return Err(err(e)),
                    },
                }
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
            Command::Help => crate::command::help(),
            Command::Manage(command) => crate::manage::execute(c, p, command).await?,
            Command::Quit => return Ok(Flow::Quit),
        };
        if !text.is_empty() {
            println!("{text}");
        }
        Ok(Flow::Continue)
    }

    /// Puts a message into the outbox; it shows up once, as a message, when stored (or as a
    /// refusal). Nothing to print now unless the connection is down.
    fn queue(&self, room: RoomId, text: &str) -> Result<String, String> {
        let handle = self.client.send(room, text);
        if let SendState::Failed(e) = handle.state() {
            return Err(err(e));
        }
        if self.client.current_state().is_connected() {
            Ok(String::new())
        } else {
            Ok("(queued: it goes out when the server is back)".to_owned())
        }
    }

    /// The error of a login the server could not answer, with a word about the saved chats
    /// that were opened instead.
    fn offline_note(&self, e: ClientError) -> String {
        let saved = self
            .client
            .cached_snapshot()
            .filter(|_| unreachable(&e))
            .is_some();
        if saved {
            format!(
                "{}; the saved chats are open read-only: /rooms, /history ROOM",
                err(e)
            )
        } else {
            err(e)
        }
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
                    // Notices of room changes are shown; only messages count.
                    if m.text().is_some() {
                        seen += 1;
                    }
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
}

/// Whether an error means the server could not be reached (so saved data is the answer).
fn unreachable(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Connect(_)
            | ClientError::Timeout(_)
            | ClientError::ConnectionLost
            | ClientError::NotLoggedIn
    )
}

fn err(e: ClientError) -> String {
    chat_client_lib::error::report(&e)
}
