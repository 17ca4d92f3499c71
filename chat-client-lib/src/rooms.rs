//! Rooms that people control: settings, invitations, invite links, removals, bans, roles
//! and the directory of public rooms, as methods of [`Client`].
//!
//! Changes show up in every member's timeline as notices ([`chat_proto::Notice`] inside a
//! [`ClientEvent::Message`](crate::ClientEvent::Message)), in order with the messages.
//! What a role may do is the server's to decide: a refusal comes back as a
//! [`ClientError::Server`] with the code `forbidden`.

use std::time::Duration;

use chat_proto::{
    Ban, Invitation, InviteLink, InviteLinkId, InviteToken, Request, Response, Role, Room, RoomId, RoomName,
    RoomTopic, UserId, Username, Visibility,
};

use crate::client::{Client, expect, expect_ok, room_of};
use crate::error::ClientError;

/// Settings of a new group room, for [`Client::create_room_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewRoom {
    /// Its name (1 to 64 bytes).
    pub name: String,
    /// Private (only invited people join) or public (listed in the directory); fixed for
    /// the room's life.
    pub visibility: Visibility,
    /// An optional topic.
    pub topic: Option<String>,
    /// End-to-end encrypted: `None` for the server's default (private rooms are, public
    /// rooms are not and cannot be).
    pub encrypted: Option<bool>,
}

impl NewRoom {
    /// A private room: only people it invites (by name or link) can join.
    pub fn private(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            visibility: Visibility::Private,
            topic: None,
            encrypted: None,
        }
    }

    /// A public room, listed in the directory; anyone may join.
    pub fn public(name: impl Into<String>) -> Self {
        Self {
            visibility: Visibility::Public,
            ..Self::private(name)
        }
    }

    /// A private room that is not end-to-end encrypted (the server can read it).
    pub fn unencrypted(mut self) -> Self {
        self.encrypted = Some(false);
        self
    }

    /// Sets the topic.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }
}

/// One page of the public room directory.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectoryPage {
    /// Public rooms, most members first.
    pub rooms: Vec<Room>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<String>,
}

/// The text form of an invite link's token that people share: `chat-invite:` and the token.
/// [`Client::join_by_link`] takes it, or the bare token.
pub const INVITE_LINK_PREFIX: &str = "chat-invite:";

impl Client {
    /// Renames a group room and/or sets its topic (an empty topic clears it). Owner and
    /// admins only.
    pub async fn update_room(
        &self,
        room: RoomId,
        name: Option<&str>,
        topic: Option<&str>,
    ) -> Result<Room, ClientError> {
        let request = Request::UpdateRoom {
            room_id: room,
            name: name.map(RoomName::parse).transpose()?,
            topic: topic.map(RoomTopic::parse).transpose()?,
        };
        room_of(self.call(request).await?)
    }

    /// Invites a user to a group room by username. Owner and admins only.
    pub async fn invite(&self, room: RoomId, username: &str) -> Result<(), ClientError> {
        let username = Username::parse(username)?;
        expect_ok(
            self.call(Request::Invite {
                room_id: room,
                username,
            })
            .await?,
        )
    }

    /// The invitations waiting for this user's answer, newest first.
    pub async fn invitations(&self) -> Result<Vec<Invitation>, ClientError> {
        expect(
            self.call(Request::ListInvitations).await?,
            "invitations",
            |r| match r {
                Response::Invitations { invitations } => Some(invitations),
                _ => None,
            },
        )
    }

    /// Turns an invitation down. (To accept, [`Client::join_room`].)
    pub async fn decline_invitation(&self, room: RoomId) -> Result<(), ClientError> {
        expect_ok(self.call(Request::DeclineInvitation { room_id: room }).await?)
    }

    /// Makes an invite link: whoever holds its token may join while it is valid. The token
    /// is in the returned link, and only there (the server keeps its hash). Owner and admins
    /// only.
    pub async fn create_invite_link(
        &self,
        room: RoomId,
        expires_in: Option<Duration>,
        max_uses: Option<u32>,
    ) -> Result<InviteLink, ClientError> {
        let request = Request::CreateInviteLink {
            room_id: room,
            expires_in_secs: expires_in.map(|d| d.as_secs().max(1)),
            max_uses,
        };
        expect(self.call(request).await?, "invite_link", |r| match r {
            Response::InviteLink { link } => Some(link),
            _ => None,
        })
    }

    /// A room's invite links (without tokens), newest first. Owner and admins only.
    pub async fn invite_links(&self, room: RoomId) -> Result<Vec<InviteLink>, ClientError> {
        expect(
            self.call(Request::ListInviteLinks { room_id: room }).await?,
            "invite_links",
            |r| match r {
                Response::InviteLinks { links, .. } => Some(links),
                _ => None,
            },
        )
    }

    /// Stops an invite link from working. Owner and admins only.
    pub async fn revoke_invite_link(&self, room: RoomId, link: InviteLinkId) -> Result<(), ClientError> {
        expect_ok(
            self.call(Request::RevokeInviteLink {
                room_id: room,
                link_id: link,
            })
            .await?,
        )
    }

    /// Joins the room of an invite link, given as shared (`chat-invite:TOKEN`) or as the
    /// bare token.
    pub async fn join_by_link(&self, link: &str) -> Result<Room, ClientError> {
        let text = link.trim();
        let token = InviteToken::parse(text.strip_prefix(INVITE_LINK_PREFIX).unwrap_or(text))?;
        let room = room_of(self.call(Request::JoinByLink { token }).await?)?;
        self.start_tracking(&room).await;
        Ok(room)
    }

    /// Removes a member from a group room. Owner and admins, over lower roles.
    pub async fn remove_member(&self, room: RoomId, user: UserId) -> Result<(), ClientError> {
        expect_ok(
            self.call(Request::RemoveMember {
                room_id: room,
                user_id: user,
            })
            .await?,
        )
    }

    /// Bans a user from a group room (removing them if they are a member). Owner and
    /// admins, over lower roles.
    pub async fn ban(&self, room: RoomId, user: UserId) -> Result<(), ClientError> {
        expect_ok(
            self.call(Request::Ban {
                room_id: room,
                user_id: user,
            })
            .await?,
        )
    }

    /// Lifts a ban. Owner and admins only.
    pub async fn unban(&self, room: RoomId, user: UserId) -> Result<(), ClientError> {
        expect_ok(
            self.call(Request::Unban {
                room_id: room,
                user_id: user,
            })
            .await?,
        )
    }

    /// A room's bans. Owner and admins only.
    pub async fn bans(&self, room: RoomId) -> Result<Vec<Ban>, ClientError> {
        expect(
            self.call(Request::ListBans { room_id: room }).await?,
            "bans",
            |r| match r {
                Response::Bans { bans, .. } => Some(bans),
                _ => None,
            },
        )
    }

    /// Makes a member an admin, or an admin a member again. Owner only.
    pub async fn set_role(&self, room: RoomId, user: UserId, role: Role) -> Result<(), ClientError> {
        expect_ok(
            self.call(Request::SetRole {
                room_id: room,
                user_id: user,
                role,
            })
            .await?,
        )
    }

    /// Hands ownership to another member; this user becomes an admin. Owner only.
    pub async fn transfer_ownership(&self, room: RoomId, user: UserId) -> Result<(), ClientError> {
        expect_ok(
            self.call(Request::TransferOwnership {
                room_id: room,
                user_id: user,
            })
            .await?,
        )
    }

    /// One page of the public room directory, most members first; `query` keeps the rooms
    /// whose name contains it, `after` is the previous page's `next`.
    pub async fn public_rooms(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<DirectoryPage, ClientError> {
        let request = Request::ListPublicRooms {
            query: query.map(str::to_owned),
            after: after.map(str::to_owned),
            limit,
        };
        expect(self.call(request).await?, "public_rooms", |r| match r {
            Response::PublicRooms { rooms, next } => Some(DirectoryPage { rooms, next }),
            _ => None,
        })
    }
}
