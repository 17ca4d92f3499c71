//! The CLI's slash commands.

use chat_proto::{RoomId, Seq};

use crate::manage::{self, Manage};

/// One command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `/login USER [PASSWORD]` (the password is the rest of the line; interactively it is
    /// asked for without echo when left out)
    Login {
        /// Username.
        username: String,
        /// Password.
        password: Option<String>,
    },
    /// `/register USER [PASSWORD]`
    Register {
        /// Username.
        username: String,
        /// Password.
        password: Option<String>,
    },
    /// `/logout`
    Logout,
    /// `/rooms`: the chat list.
    Rooms,
    /// `/create [--public] NAME...`: a private room (only invited people join) or, with
    /// `--public`, one listed in the directory.
    Create {
        /// Room name (may contain spaces).
        name: String,
        /// Listed in the directory; anyone may join.
        public: bool,
    },
    /// Invitations, links, removals, bans, roles, settings, the directory.
    Manage(Manage),
    /// `/join ROOM`: join a room and make it the current one.
    Join {
        /// Room id.
        room: RoomId,
    },
    /// `/open ROOM`: make a room of yours the current one (plain text goes there).
    Open {
        /// Room id.
        room: RoomId,
    },
    /// A line without a leading `/` (interactive only): a message to the current room.
    Say {
        /// The message.
        text: String,
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
    /// `/history [ROOM [LIMIT [BEFORE_SEQ]]]` (the current room by default)
    History {
        /// Room id; `None` for the current room.
        room: Option<RoomId>,
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
pub fn help() -> String {
    HELP.replace("{MANAGE}", manage::HELP)
}

/// The help text, with `{MANAGE}` where the room-management commands go.
const HELP: &str = "\
commands:
  /register USER [PASSWORD] create an account and log in (asks for the password)
  /login USER [PASSWORD]    log in (asks for the password without echo)
  /logout                   log out
  /rooms                    list your rooms (the saved list while offline)
  /create [--public] NAME   create a private (or public) room and open it
  /join ROOM                join a public room, or accept an invitation, and open it
  /open ROOM                open one of your rooms: plain text goes there
  TEXT                      send TEXT to the open room
  /leave ROOM               leave a room
  /dm USER                  open the direct chat with USER
  /send ROOM TEXT           send a message to a room
  /history [ROOM] [N] [SEQ] the last N messages (before SEQ); saved ones while offline
  /who ROOM                 members and who is online
  /read ROOM SEQ            mark read up to SEQ
  /wait N [SECONDS]         wait for N messages from others (for scripts)
  /ping                     check the server answers
{MANAGE}
  /help                     this text
  /quit                     leave";

/// Parses one line typed at the prompt: like [`parse`], except that a line without a
/// leading `/` is a message to the open room.
pub fn parse_interactive(line: &str) -> Result<Option<Command>, String> {
    let text = line.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.starts_with('/') {
        return parse(text);
    }
    Ok(Some(Command::Say {
        text: text.to_owned(),
    }))
}

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
            let (username, password) = match args.split_once(char::is_whitespace) {
                Some((user, password)) => (user.to_owned(), Some(password.trim().to_owned())),
                None if !args.is_empty() => (args.to_owned(), None),
                None => return Err(format!("usage: /{name} USER [PASSWORD]")),
            };
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
        "create" if !args.is_empty() => match args.strip_prefix("--public") {
            Some(name) if !name.trim().is_empty() => Command::Create {
                name: name.trim().to_owned(),
                public: true,
            },
            Some(_) => return Err("usage: /create [--public] NAME".into()),
            None => Command::Create {
                name: args.to_owned(),
                public: false,
            },
        },
        "join" => Command::Join {
            room: one_room(&words, "/join ROOM")?,
        },
        "open" => Command::Open {
            room: one_room(&words, "/open ROOM")?,
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
            [] => Command::History {
                room: None,
                limit: 20,
                before: None,
            },
            [room, ref rest @ ..] if rest.len() <= 2 => Command::History {
                room: Some(room_id(room)?),
                limit: rest.first().map_or(Ok(20), |n| number(n))?,
                before: rest.get(1).map(|s| number(s)).transpose()?,
            },
            _ => return Err("usage: /history [ROOM [LIMIT [BEFORE_SEQ]]]".into()),
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
        "create" => return Err("usage: /create [--public] NAME".into()),
        other => match manage::parse(other, args, &words) {
            Some(parsed) => Command::Manage(parsed?),
            None => return Err(format!("unknown command /{other} (try /help)")),
        },
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
                    password: Some("correct horse battery".into()),
                },
            ),
            (
                "/register bob",
                Command::Register {
                    username: "bob".into(),
                    password: None,
                },
            ),
            ("/open 4", Command::Open { room: room(4) }),
            (
                "/history",
                Command::History {
                    room: None,
                    limit: 20,
                    before: None,
                },
            ),
            (
                "/create  Team chat ",
                Command::Create {
                    name: "Team chat".into(),
                    public: false,
                },
            ),
            (
                "/create --public Open house",
                Command::Create {
                    name: "Open house".into(),
                    public: true,
                },
            ),
            (
                "/invite 3 bob",
                Command::Manage(Manage::Invite {
                    room: room(3),
                    username: "bob".into(),
                }),
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
                    room: Some(room(3)),
                    limit: 20,
                    before: None,
                },
            ),
            (
                "/history 3 5 40",
                Command::History {
                    room: Some(room(3)),
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
    fn at_the_prompt_plain_text_is_a_message_and_commands_stay_commands() {
        assert_eq!(
            parse_interactive("  hello there ").unwrap(),
            Some(Command::Say {
                text: "hello there".into()
            })
        );
        assert_eq!(parse_interactive("/rooms").unwrap(), Some(Command::Rooms));
        assert_eq!(parse_interactive("   ").unwrap(), None);
        assert!(parse("hello").is_err(), "scripts keep to commands");
    }

    #[test]
    fn explains_mistakes() {
        for bad in [
            "hello",
            "/fly",
            "/login",
            "/open",
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
