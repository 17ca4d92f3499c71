//! The CLI's commands for rooms people control: invitations, invite links, removals, bans,
//! roles, settings and the public directory. People are named by username; the client
//! finds their id among the room's members (or its bans).

use chat_client_lib::{Client, ClientError, INVITE_LINK_PREFIX};
use chat_proto::{Role, RoomId, UserId};
use serde_json::json;

use crate::output::Printer;

/// One room-management command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manage {
    /// `/invite ROOM USER`
    Invite {
        /// The room.
        room: RoomId,
        /// Who to invite.
        username: String,
    },
    /// `/invitations`: the invitations waiting for an answer.
    Invitations,
    /// `/decline ROOM`
    Decline {
        /// The room of the invitation.
        room: RoomId,
    },
    /// `/link ROOM [HOURS [USES]]`: make an invite link.
    Link {
        /// The room.
        room: RoomId,
        /// Hours until it expires.
        hours: Option<u64>,
        /// How many joins it allows.
        uses: Option<u32>,
    },
    /// `/links ROOM`: the room's invite links.
    Links {
        /// The room.
        room: RoomId,
    },
    /// `/revoke ROOM LINK`: stop a link from working.
    Revoke {
        /// The room.
        room: RoomId,
        /// The link's id (from `/links`).
        link: u64,
    },
    /// `/joinlink LINK`: join through an invite link.
    JoinLink {
        /// The link as shared (`chat-invite:...`) or its bare token.
        link: String,
    },
    /// `/kick ROOM USER`
    Kick {
        /// The room.
        room: RoomId,
        /// The member.
        username: String,
    },
    /// `/ban ROOM USER`
    Ban {
        /// The room.
        room: RoomId,
        /// The member (or a user id, for someone not in the room).
        username: String,
    },
    /// `/unban ROOM USER`
    Unban {
        /// The room.
        room: RoomId,
        /// The banned user.
        username: String,
    },
    /// `/bans ROOM`
    Bans {
        /// The room.
        room: RoomId,
    },
    /// `/role ROOM USER admin|member`
    SetRole {
        /// The room.
        room: RoomId,
        /// The member.
        username: String,
        /// The new role.
        role: Role,
    },
    /// `/owner ROOM USER`: hand ownership over.
    Owner {
        /// The room.
        room: RoomId,
        /// The new owner.
        username: String,
    },
    /// `/rename ROOM NAME...`
    Rename {
        /// The room.
        room: RoomId,
        /// The new name.
        name: String,
    },
    /// `/topic ROOM TEXT...` (no text clears it)
    Topic {
        /// The room.
        room: RoomId,
        /// The new topic.
        topic: String,
    },
    /// `/directory [QUERY]`: public rooms, most members first.
    Directory {
        /// Text the name must contain.
        query: Option<String>,
    },
    /// `/devices [USER]`: one's own devices or a contact's, with fingerprints.
    Devices {
        /// The contact (oneself when absent).
        username: Option<String>,
    },
    /// `/safety USER`: the safety number with a contact.
    Safety {
        /// The contact.
        username: String,
    },
}

/// The help lines of these commands.
pub const HELP: &str = "\
  /invite ROOM USER         invite USER to a room (owner and admins)
  /invitations              invitations waiting for your answer (/join ROOM accepts)
  /decline ROOM             turn an invitation down
  /link ROOM [HOURS [USES]] make an invite link, optionally expiring or limited
  /links ROOM               the room's invite links
  /revoke ROOM LINK         stop an invite link from working
  /joinlink LINK            join a room through an invite link
  /kick ROOM USER           remove a member
  /ban ROOM USER            remove a member and keep them out
  /unban ROOM USER          lift a ban
  /bans ROOM                the room's bans
  /role ROOM USER ROLE      make a member an admin or a member (owner)
  /owner ROOM USER          hand ownership over (owner)
  /rename ROOM NAME         rename a room
  /topic ROOM [TEXT]        set or clear the topic
  /directory [QUERY]        public rooms, most members first
  /devices [USER]           your devices or a contact's, with their fingerprints
  /safety USER              the safety number to compare with a contact";

/// Parses a room-management command: `None` when `name` is not one.
pub fn parse(name: &str, args: &str, words: &[&str]) -> Option<Result<Manage, String>> {
    let room = |text: &str| {
        text.trim_start_matches('#')
            .parse::<RoomId>()
            .map_err(|_| format!("{text:?} is not a room id"))
    };
    let usage = |u: &str| Err(format!("usage: {u}"));
    let rest_after_room = || {
        args.split_once(char::is_whitespace)
            .map(|(r, rest)| (r, rest.trim().to_owned()))
            .unwrap_or((args, String::new()))
    };
    let parsed = match (name, words) {
        ("invite", [r, u]) => room(r).map(|room| Manage::Invite {
            room,
            username: (*u).to_owned(),
        }),
        ("invite", _) => usage("/invite ROOM USER"),
        ("invitations", []) => Ok(Manage::Invitations),
        ("decline", [r]) => room(r).map(|room| Manage::Decline { room }),
        ("decline", _) => usage("/decline ROOM"),
        ("link", [r, more @ ..]) if more.len() <= 2 => room(r).and_then(|room| {
            let number = |s: &str| s.parse().map_err(|_| format!("{s:?} is not a number"));
            Ok(Manage::Link {
                room,
                hours: more.first().map(|s| number(s)).transpose()?,
                uses: more
                    .get(1)
                    .map(|s| number(s).map(|n: u64| n as u32))
                    .transpose()?,
            })
        }),
        ("link", _) => usage("/link ROOM [HOURS [USES]]"),
        ("links", [r]) => room(r).map(|room| Manage::Links { room }),
        ("links", _) => usage("/links ROOM"),
        ("revoke", [r, l]) => room(r).and_then(|room| {
            let link = l.parse().map_err(|_| format!("{l:?} is not a link id"))?;
            Ok(Manage::Revoke { room, link })
        }),
        ("revoke", _) => usage("/revoke ROOM LINK"),
        ("joinlink", [link]) => Ok(Manage::JoinLink {
            link: (*link).to_owned(),
        }),
        ("joinlink", _) => usage("/joinlink LINK"),
        ("kick" | "ban" | "unban" | "owner", [r, u]) => room(r).map(|room| {
            let username = (*u).to_owned();
            match name {
                "kick" => Manage::Kick { room, username },
                "ban" => Manage::Ban { room, username },
                "unban" => Manage::Unban { room, username },
                _ => Manage::Owner { room, username },
            }
        }),
        ("kick" | "ban" | "unban" | "owner", _) => usage(&format!("/{name} ROOM USER")),
        ("bans", [r]) => room(r).map(|room| Manage::Bans { room }),
        ("bans", _) => usage("/bans ROOM"),
        ("role", [r, u, role]) => room(r).and_then(|room| {
            let role = match *role {
                "admin" => Role::Admin,
                "member" => Role::Member,
                other => return Err(format!("{other:?}: the role is admin or member")),
            };
            Ok(Manage::SetRole {
                room,
                username: (*u).to_owned(),
                role,
            })
        }),
        ("role", _) => usage("/role ROOM USER admin|member"),
        ("rename", [_, _, ..]) => {
            let (r, name) = rest_after_room();
            room(r).map(|room| Manage::Rename { room, name })
        }
        ("rename", _) => usage("/rename ROOM NAME"),
        ("topic", [_, ..]) => {
            let (r, topic) = rest_after_room();
            room(r).map(|room| Manage::Topic { room, topic })
        }
        ("topic", _) => usage("/topic ROOM [TEXT]"),
        ("devices", []) => Ok(Manage::Devices { username: None }),
        ("devices", [u]) => Ok(Manage::Devices {
            username: Some((*u).to_owned()),
        }),
        ("devices", _) => usage("/devices [USER]"),
        ("safety", [u]) => Ok(Manage::Safety {
            username: (*u).to_owned(),
        }),
        ("safety", _) => usage("/safety USER"),
        ("directory", _) => Ok(Manage::Directory {
            query: Some(args.to_owned()).filter(|q| !q.is_empty()),
        }),
        _ => return None,
    };
    Some(parsed)
}

/// A contact's id: a member of one of the user's rooms by username, or a number.
async fn contact(client: &Client, username: &str) -> Result<UserId, String> {
    for summary in client.list_rooms().await.map_err(err)? {
        if let Some(peer) = summary
            .room
            .peer
            .as_ref()
            .filter(|p| p.username.as_str().eq_ignore_ascii_case(username))
        {
            return Ok(peer.id);
        }
        let members = client.members(summary.room.id).await.map_err(err)?;
        if let Some(member) = members
            .iter()
            .find(|m| m.user.username.as_str().eq_ignore_ascii_case(username))
        {
            return Ok(member.user.id);
        }
    }
    username
        .parse::<UserId>()
        .map_err(|_| format!("{username} shares no room with you"))
}

/// A user's id: a member of `room` (or one of its banned users) by username, or a number.
async fn user_in(client: &Client, room: RoomId, username: &str) -> Result<UserId, String> {
    let members = client.members(room).await.map_err(err)?;
    if let Some(member) = members
        .iter()
        .find(|m| m.user.username.as_str().eq_ignore_ascii_case(username))
    {
        return Ok(member.user.id);
    }
    if let Ok(bans) = client.bans(room).await
        && let Some(ban) = bans
            .iter()
            .find(|b| b.user.username.as_str().eq_ignore_ascii_case(username))
    {
        return Ok(ban.user.id);
    }
    username
        .parse::<UserId>()
        .map_err(|_| format!("{username} is not a member of #{room}"))
}

fn err(e: ClientError) -> String {
    e.to_string()
}

/// Runs a room-management command; the text to print.
pub async fn execute(client: &Client, p: Printer, command: Manage) -> Result<String, String> {
    Ok(match command {
        Manage::Devices { username } => {
            let me = client.user().ok_or("not logged in")?;
            let user = match &username {
                Some(name) => contact(client, name).await?,
                None => me.id,
            };
            let devices = client.devices(user).await.map_err(err)?;
            let this = client.device().and_then(|(id, _)| id);
            if p.json {
                json!({"kind": "devices", "user_id": user, "devices": devices, "this_device": this})
                    .to_string()
            } else if devices.is_empty() {
                "no devices".to_owned()
            } else {
                devices
                    .iter()
                    .map(|d| {
                        let mark = if Some(d.id) == this { " (this device)" } else { "" };
                        format!("device {} {}{mark}: {}", d.id, d.name.as_str(), d.fingerprint)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        Manage::Safety { username } => {
            let user = contact(client, &username).await?;
            let number = client.safety_number(user).await.map_err(err)?;
            if p.json {
                json!({"kind": "safety_number", "user_id": user, "safety_number": number}).to_string()
            } else {
                format!(
                    "safety number with {username}:\n{number}\n(compare it with {username} over a channel you trust)"
                )
            }
        }
        Manage::Invite { room, username } => {
            client.invite(room, &username).await.map_err(err)?;
            p.ok(&format!("invited {username} to #{room}"))
        }
        Manage::Invitations => {
            let invitations = client.invitations().await.map_err(err)?;
            if p.json {
                json!({"kind": "invitations", "invitations": invitations}).to_string()
            } else if invitations.is_empty() {
                "no invitations".to_owned()
            } else {
                invitations
                    .iter()
                    .map(|i| {
                        format!(
                            "#{} {} ({} members), from {}: /join {} or /decline {}",
                            i.room.id,
                            i.room.name,
                            i.room.member_count,
                            i.inviter.username,
                            i.room.id,
                            i.room.id
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        Manage::Decline { room } => {
            client.decline_invitation(room).await.map_err(err)?;
            p.ok(&format!("declined the invitation to #{room}"))
        }
        Manage::Link { room, hours, uses } => {
            let expires = hours.map(|h| std::time::Duration::from_secs(h * 3600));
            let link = client
                .create_invite_link(room, expires, uses)
                .await
                .map_err(err)?;
            let token = link.token.as_ref().map(|t| t.as_str()).unwrap_or_default();
            if p.json {
                json!({"kind": "invite_link", "link": link}).to_string()
            } else {
                format!("{INVITE_LINK_PREFIX}{token}\n(shown once: share it with whoever may join #{room})")
            }
        }
        Manage::Links { room } => {
            let links = client.invite_links(room).await.map_err(err)?;
            if p.json {
                json!({"kind": "invite_links", "room_id": room, "links": links}).to_string()
            } else if links.is_empty() {
                format!("#{room} has no invite links")
            } else {
                links
                    .iter()
                    .map(|l| {
                        let limit = l.max_uses.map_or(String::new(), |m| format!(" of {m}"));
                        let state = if l.revoked { ", revoked" } else { "" };
                        format!(
                            "link {} by {}: {} uses{limit}{state}",
                            l.id, l.created_by.username, l.uses
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        Manage::Revoke { room, link } => {
            let link = chat_proto::InviteLinkId::new(link).map_err(|e| e.to_string())?;
            client.revoke_invite_link(room, link).await.map_err(err)?;
            p.ok(&format!("link {link} of #{room} revoked"))
        }
        Manage::JoinLink { link } => p.room(&client.join_by_link(&link).await.map_err(err)?),
        Manage::Kick { room, username } => {
            let user = user_in(client, room, &username).await?;
            client.remove_member(room, user).await.map_err(err)?;
            p.ok(&format!("removed {username} from #{room}"))
        }
        Manage::Ban { room, username } => {
            let user = user_in(client, room, &username).await?;
            client.ban(room, user).await.map_err(err)?;
            p.ok(&format!("banned {username} from #{room}"))
        }
        Manage::Unban { room, username } => {
            let user = user_in(client, room, &username).await?;
            client.unban(room, user).await.map_err(err)?;
            p.ok(&format!("lifted the ban on {username} in #{room}"))
        }
        Manage::Bans { room } => {
            let bans = client.bans(room).await.map_err(err)?;
            if p.json {
                json!({"kind": "bans", "room_id": room, "bans": bans}).to_string()
            } else if bans.is_empty() {
                format!("nobody is banned from #{room}")
            } else {
                bans.iter()
                    .map(|b| format!("{} (by {})", b.user.username, b.banned_by.username))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        Manage::SetRole { room, username, role } => {
            let user = user_in(client, room, &username).await?;
            client.set_role(room, user, role).await.map_err(err)?;
            p.ok(&format!("{username} is now {} of #{room}", role.as_str()))
        }
        Manage::Owner { room, username } => {
            let user = user_in(client, room, &username).await?;
            client.transfer_ownership(room, user).await.map_err(err)?;
            p.ok(&format!("{username} now owns #{room}"))
        }
        Manage::Rename { room, name } => {
            p.room(&client.update_room(room, Some(&name), None).await.map_err(err)?)
        }
        Manage::Topic { room, topic } => {
            p.room(&client.update_room(room, None, Some(&topic)).await.map_err(err)?)
        }
        Manage::Directory { query } => {
            let page = client
                .public_rooms(query.as_deref(), None, 50)
                .await
                .map_err(err)?;
            if p.json {
                json!({"kind": "public_rooms", "rooms": page.rooms, "next": page.next}).to_string()
            } else if page.rooms.is_empty() {
                "no public rooms found".to_owned()
            } else {
                page.rooms
                    .iter()
                    .map(|r| {
                        format!(
                            "#{} {} ({} members): /join {}",
                            r.id, r.name, r.member_count, r.id
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Option<Result<Manage, String>> {
        let (name, args) = line.split_once(' ').unwrap_or((line, ""));
        let words: Vec<&str> = args.split_whitespace().collect();
        parse(name, args, &words)
    }

    #[test]
    fn room_commands_parse_their_arguments() {
        let room = RoomId::new(7).unwrap();
        assert_eq!(
            parsed("invite #7 bob").unwrap().unwrap(),
            Manage::Invite {
                room,
                username: "bob".into()
            }
        );
        assert_eq!(
            parsed("link 7 24 5").unwrap().unwrap(),
            Manage::Link {
                room,
                hours: Some(24),
                uses: Some(5)
            }
        );
        assert_eq!(
            parsed("role 7 bob admin").unwrap().unwrap(),
            Manage::SetRole {
                room,
                username: "bob".into(),
                role: Role::Admin
            }
        );
        assert_eq!(
            parsed("topic 7 plans for the week").unwrap().unwrap(),
            Manage::Topic {
                room,
                topic: "plans for the week".into()
            }
        );
        assert_eq!(
            parsed("directory rust").unwrap().unwrap(),
            Manage::Directory {
                query: Some("rust".into())
            }
        );
        assert!(parsed("role 7 bob owner").unwrap().is_err());
        assert!(parsed("kick 7").unwrap().is_err());
        assert!(parsed("nonsense 7").is_none());
    }
}
