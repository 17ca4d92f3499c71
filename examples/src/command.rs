//! The CLI's slash commands.

use chat_proto::{RoomId, Seq};

/// One command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `/login USER PASSWORD` (the password is the rest of the line)
    Login {
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
    /// `/register USER PASSWORD`
    Register {
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
    /// `/logout`
    Logout,
    /// `/rooms`: the chat list.
    Rooms,
    /// `/create NAME...`
    Create {
        /// Room name (may contain spaces).
        name: String,
    },
    /// `/join ROOM`
    Join {
        /// Room id.
        room: RoomId,
    },
    /// `/leave ROOM`
    Leave {
        /// Room id.
        room: RoomId,
    },
    /// `/dm USER`: open the direct chat with a user.
    Dm {
        /// The other user.
        username: String,
    },
    /// `/send ROOM TEXT...`
    Send {
        /// Room id.
        room: RoomId,
        /// The message.
        text: String,
    },
    /// `/history ROOM [LIMIT] [BEFORE_SEQ]`
    History {
        /// Room id.
        room: RoomId,
        /// Page size (default 20).
        limit: u32,
        /// Page back from this seq.
        before: Option<Seq>,
    },
    /// `/who ROOM`: members and whether they are online.
    Who {
        /// Room id.
        room: RoomId,
    },
    /// `/read ROOM SEQ`: mark read.
    Read {
        /// Room id.
        room: RoomId,
        /// Highest seq read.
        seq: Seq,
    },
    /// `/wait N [SECONDS]`: wait for N messages from other users (scripts).
    Wait {
        /// How many messages.
        count: usize,
        /// How long at most (default 10 s).
        seconds: u64,
    },
    /// `/ping`
    Ping,
    /// `/help`
    Help,
    /// `/quit`
    Quit,
}

/// The help text.
pub const HELP: &str = "\
commands:
  /register USER PASSWORD   create an account and log in
  /login USER PASSWORD      log in
  /logout                   log out
  /rooms                    list your rooms
  /create NAME              create a group room
  /join ROOM                join a room by id
  /leave ROOM               leave a room
  /dm USER                  open the direct chat with USER
  /send ROOM TEXT           send a message
  /history ROOM [N] [SEQ]   the last N messages (before SEQ)
  /who ROOM                 members and who is online
  /read ROOM SEQ            mark read up to SEQ
  /wait N [SECONDS]         wait for N messages from others (for scripts)
  /ping                     check the server answers
  /help                     this text
  /quit                     leave";

/// Parses one line. Empty lines and lines starting with `#` are `Ok(None)`.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Err(format!("commands start with '/': {line:?} (try /help)"));
    };
    let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    let words: Vec<&str> = args.split_whitespace().collect();
    let command = match name {
        "login" | "register" => {
            // The password is the rest of the line, so it may contain spaces.
            let Some((username, password)) = args.split_once(char::is_whitespace) else {
                return Err(format!("usage: /{name} USER PASSWORD"));
            };
            let (username, password) = (username.to_owned(), password.trim().to_owned());
            if name == "login" {
                Command::Login { username, password }
            } else {
                Command::Register { username, password }
            }
        }
        "logout" => no_args(&words, Command::Logout)?,
        "rooms" => no_args(&words, Command::Rooms)?,
        "ping" => no_args(&words, Command::Ping)?,
        "help" => Command::Help,
        "quit" | "exit" => Command::Quit,
        "create" if !args.is_empty() => Command::Create {
            name: args.to_owned(),
        },
        "join" => Command::Join {
            room: one_room(&words, "/join ROOM")?,
        },
        "leave" => Command::Leave {
            room: one_room(&words, "/leave ROOM")?,
        },
        "who" => Command::Who {
            room: one_room(&words, "/who ROOM")?,
        },
        "dm" => match words[..] {
            [username] => Command::Dm {
                username: username.to_owned(),
            },
            _ => return Err("usage: /dm USER".into()),
        },
        "send" => {
            let (room, text) = args
                .split_once(char::is_whitespace)
                .ok_or("usage: /send ROOM TEXT")?;
            Command::Send {
                room: room_id(room)?,
                text: text.trim().to_owned(),
            }
        }
        "history" => match words[..] {
            [room, ref rest @ ..] if rest.len() <= 2 => Command::History {
                room: room_id(room)?,
                limit: rest.first().map_or(Ok(20), |n| number(n))?,
                before: rest.get(1).map(|s| number(s)).transpose()?,
            },
            _ => return Err("usage: /history ROOM [LIMIT] [BEFORE_SEQ]".into()),
        },
        "read" => match words[..] {
            [room, seq] => Command::Read {
                room: room_id(room)?,
                seq: number(seq)?,
            },
            _ => return Err("usage: /read ROOM SEQ".into()),
        },
        "wait" => match words[..] {
            [count] => Command::Wait {
                count: number(count)?,
                seconds: 10,
            },
            [count, seconds] => Command::Wait {
                count: number(count)?,
                seconds: number(seconds)?,
            },
            _ => return Err("usage: /wait N [SECONDS]".into()),
        },
        "create" => return Err("usage: /create NAME".into()),
        other => return Err(format!("unknown command /{other} (try /help)")),
    };
    Ok(Some(command))
}

fn no_args(words: &[&str], command: Command) -> Result<Command, String> {
    if words.is_empty() {
        Ok(command)
    } else {
        Err("this command takes no arguments".into())
    }
}

fn one_room(words: &[&str], usage: &str) -> Result<RoomId, String> {
    match words {
        [room] => room_id(room),
        _ => Err(format!("usage: {usage}")),
    }
}

fn room_id(text: &str) -> Result<RoomId, String> {
    text.trim_start_matches('#')
        .parse()
        .map_err(|_| format!("{text:?} is not a room id"))
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(n: u64) -> RoomId {
        RoomId::new(n).unwrap()
    }

    #[test]
    fn parses_every_command() {
        let cases = [
            (
                "/login alice correct horse battery",
                Command::Login {
                    username: "alice".into(),
                    password: "correct horse battery".into(),
                },
            ),
            (
                "/create  Team chat ",
                Command::Create {
                    name: "Team chat".into(),
                },
            ),
            ("/join #3", Command::Join { room: room(3) }),
            (
                "/send 3 hello   there ",
                Command::Send {
                    room: room(3),
                    text: "hello   there".into(),
                },
            ),
            (
                "/history 3",
                Command::History {
                    room: room(3),
                    limit: 20,
                    before: None,
                },
            ),
            (
                "/history 3 5 40",
                Command::History {
                    room: room(3),
                    limit: 5,
                    before: Some(40),
                },
            ),
            (
                "/dm bob",
                Command::Dm {
                    username: "bob".into(),
                },
            ),
            ("/who 3", Command::Who { room: room(3) }),
            (
                "/read 3 9",
                Command::Read {
                    room: room(3),
                    seq: 9,
                },
            ),
            ("/wait 2 5", Command::Wait { count: 2, seconds: 5 }),
            ("/rooms", Command::Rooms),
            ("/quit", Command::Quit),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line).unwrap(), Some(expected), "{line}");
        }
        assert_eq!(parse("   ").unwrap(), None);
        assert_eq!(parse("# a comment").unwrap(), None);
    }

    #[test]
    fn explains_mistakes() {
        for bad in [
            "hello",
            "/fly",
            "/login alice",
            "/join x",
            "/join 0",
            "/send 3",
            "/create",
            "/rooms now",
            "/history 3 a",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
