//! Invite links: a random token (256 bits) that lets whoever holds it join a group room,
//! as Telegram's links do. Owner and admins make, list and revoke them; a link may expire
//! and may be limited to a number of joins. The server keeps only the token's hash, so the
//! token is shown once, when the link is made. A banned user cannot join through a link.

use chat_proto::{ErrorBody, ErrorCode, InviteLink, InviteLinkId, InviteToken, Notice, Response, RoomId};

use super::connection::Connection;
use super::now_ms;
use super::reply::{Reply, no_such_room, refuse, store_failed};
use super::room_change::Decision;
use super::rules;
use super::secrets::{hash_secret, random_token_text};
use crate::store::{InviteLinkRecord, MemberOp, NewInviteLink, RoomAccess};

/// The answer for a token that does not (or no longer) let anyone join.
fn link_invalid() -> ErrorBody {
    refuse(
        ErrorCode::InviteLinkInvalid,
        "this invite link is not valid: it may have expired, been revoked or been used up",
    )
}

fn link_view(record: InviteLinkRecord, token: Option<InviteToken>) -> InviteLink {
    InviteLink {
        id: record.id,
        room_id: record.room_id,
        token,
        created_by: record.created_by,
        created_at: record.created_at,
        expires_at: record.expires_at,
        max_uses: record.max_uses,
        uses: record.uses,
        revoked: record.revoked,
    }
}

impl Connection {
    pub(super) async fn create_invite_link(
        &mut self,
        room_id: RoomId,
        expires_in_secs: Option<u64>,
        max_uses: Option<u32>,
    ) -> Reply {
        let me = self.me()?.id;
        let joined = self.member_room(room_id).await?;
        rules::group_only(&joined.room)?;
        rules::require_manager(joined.role)?;
        let token = InviteToken::parse(&random_token_text())
            .map_err(|_| refuse(ErrorCode::Internal, "cannot make an invite link"))?;
        let now = now_ms();
        let expires_at = expires_in_secs.map(|secs| now.saturating_add((secs as i64).saturating_mul(1000)));
        let record = self
            .inner
            .store
            .create_invite_link(&NewInviteLink {
                room_id,
                token_hash: hash_secret(token.as_str()),
                created_by: me,
                created_at: now,
                expires_at,
                max_uses,
            })
            .await
            .map_err(store_failed)?;
        Ok(Response::InviteLink {
            link: link_view(record, Some(token)),
        })
    }

    pub(super) async fn list_invite_links(&mut self, room_id: RoomId) -> Reply {
        let joined = self.member_room(room_id).await?;
        rules::group_only(&joined.room)?;
        rules::require_manager(joined.role)?;
        let links = self
            .inner
            .store
            .list_invite_links(room_id)
            .await
            .map_err(store_failed)?
            .into_iter()
            .map(|record| link_view(record, None))
            .collect();
        Ok(Response::InviteLinks { room_id, links })
    }

    pub(super) async fn revoke_invite_link(&mut self, room_id: RoomId, link: InviteLinkId) -> Reply {
        let joined = self.member_room(room_id).await?;
        rules::group_only(&joined.room)?;
        rules::require_manager(joined.role)?;
        let found = self
            .inner
            .store
            .revoke_invite_link(room_id, link)
            .await
            .map_err(store_failed)?;
        if found {
            Ok(Response::Ok)
        } else {
            Err(refuse(ErrorCode::NotFound, "no such invite link in this room"))
        }
    }

    pub(super) async fn join_by_link(&mut self, token: InviteToken) -> Reply {
        let me = self.me()?.clone();
        let hash = hash_secret(token.as_str());
        let link = self
            .inner
            .store
            .find_invite_link(&hash)
            .await
            .map_err(store_failed)?
            .ok_or_else(link_invalid)?;
        let room_id = link.room_id;
        let (this, me, hash) = (&*self, &me, &hash);
        this.apply_change(room_id, move || {
            Box::pin(async move {
                let room = match this.access(room_id).await? {
                    RoomAccess::Member { .. } => return Ok(None),
                    RoomAccess::NotMember { banned: true, .. } => {
                        return Err(refuse(ErrorCode::Banned, "you are banned from this room"));
                    }
                    RoomAccess::NotMember { room, .. } => room,
                    RoomAccess::NoRoom => return Err(no_such_room()),
                };
                // Read again each time: a concurrent join may have used the link up.
                let link = this
                    .inner
                    .store
                    .find_invite_link(hash)
                    .await
                    .map_err(store_failed)?
                    .filter(|link| link.usable(now_ms()))
                    .ok_or_else(link_invalid)?;
                rules::has_space(&room)?;
                Ok(Some(Decision {
                    version: room.state_version,
                    ops: vec![
                        MemberOp::UseLink { link: link.id },
                        MemberOp::Add {
                            user: me.id,
                            role: rules::joining_role(&room),
                        },
                    ],
                    notices: vec![(me.id, Notice::Joined { user: me.clone() })],
                }))
            })
        })
        .await?;
        self.current_view(room_id).await
    }
}
