//! Changes to rooms (membership, roles, invitations, bans, settings) applied under the
//! room's state version, and the reads behind invitations, invite links, bans and the
//! public directory.

use chat_proto::{InviteLinkId, RoomId, UserId};
use tokio_postgres::{Client, GenericClient, Row};

use super::map_err;
use super::rooms::{add_member_row, append_notice, get_room};
use super::rows::{self, ROOM_COLUMNS, ROOM_WIDTH};
use crate::store::{
    BanRecord, DirectoryCursor, InvitationRecord, InviteLinkRecord, MemberOp, NewInviteLink, RoomChange,
    RoomRecord, StoreError, StoredMessage, TokenHash,
};

/// Why a change was not applied: the room moved on (decide again) or a real failure.
enum Refused {
    Stale,
    Failed(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Failed(e)
    }
}

impl From<tokio_postgres::Error> for Refused {
    fn from(e: tokio_postgres::Error) -> Self {
        Refused::Failed(map_err(e))
    }
}

pub(super) async fn change_room(
    c: &mut Client,
    change: &RoomChange,
) -> Result<Option<Vec<StoredMessage>>, StoreError> {
    let tx = c.transaction().await.map_err(map_err)?;
    match apply(&tx, change).await {
        Ok(notices) => {
            tx.commit().await.map_err(map_err)?;
            Ok(Some(notices))
        }
        // Dropping the transaction rolls back whatever was applied before the refusal.
        Err(Refused::Stale) => Ok(None),
        Err(Refused::Failed(e)) => Err(e),
    }
}

async fn apply(c: &impl GenericClient, change: &RoomChange) -> Result<Vec<StoredMessage>, Refused> {
    let room = change.room_id.as_i64();
    // Takes the room row's lock until commit, like a message: changes and messages of one
    // room are serialised on every node.
    let bumped = c
        .execute(
            "UPDATE rooms SET state_version = state_version + 1 WHERE id = $1 AND state_version = $2",
            &[&room, &(change.expected_version as i64)],
        )
        .await?;
    if bumped == 0 {
        return match get_room(c, change.room_id).await? {
            Some(_) => Err(Refused::Stale),
            None => Err(StoreError::NotFound(format!("room {}", change.room_id)).into()),
        };
    }
    for op in &change.ops {
        apply_op(c, change, op).await?;
    }
    let mut stored = Vec::with_capacity(change.notices.len());
    for notice in &change.notices {
        stored.push(
            append_notice(
                c,
                change.room_id,
                notice.sender,
                notice.client_msg_id,
                notice.notice.clone(),
                change.now,
            )
            .await?,
        );
    }
    Ok(stored)
}

async fn apply_op(c: &impl GenericClient, change: &RoomChange, op: &MemberOp) -> Result<(), Refused> {
    let room = change.room_id.as_i64();
    let uninvite = |user: UserId| async move {
        c.execute(
            "DELETE FROM invites WHERE room_id = $1 AND user_id = $2",
            &[&room, &user.as_i64()],
        )
        .await
    };
    match op {
        MemberOp::Add { user, role } => {
            add_member_row(c, change.room_id, *user, *role, change.now).await?;
            uninvite(*user).await?;
        }
        MemberOp::Remove { user } => {
            c.execute(
                "WITH gone AS (DELETE FROM members WHERE room_id = $1 AND user_id = $2 RETURNING room_id)
                 UPDATE rooms SET member_count = member_count - 1 WHERE id IN (SELECT room_id FROM gone)",
                &[&room, &user.as_i64()],
            )
            .await?;
        }
        MemberOp::SetRole { user, role } => {
            c.execute(
                "UPDATE members SET role = $3 WHERE room_id = $1 AND user_id = $2",
                &[&room, &user.as_i64(), &role.as_str()],
            )
            .await?;
        }
        MemberOp::Invite { user, by } => {
            c.execute(
                "INSERT INTO invites (room_id, user_id, invited_by, invited_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (room_id, user_id)
                 DO UPDATE SET invited_by = EXCLUDED.invited_by, invited_at = EXCLUDED.invited_at",
                &[&room, &user.as_i64(), &by.as_i64(), &change.now],
            )
            .await?;
        }
        MemberOp::Uninvite { user } => {
            uninvite(*user).await?;
        }
        MemberOp::Ban { user, by } => {
            c.execute(
                "INSERT INTO bans (room_id, user_id, banned_by, banned_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (room_id, user_id)
                 DO UPDATE SET banned_by = EXCLUDED.banned_by, banned_at = EXCLUDED.banned_at",
                &[&room, &user.as_i64(), &by.as_i64(), &change.now],
            )
            .await?;
            uninvite(*user).await?;
        }
        MemberOp::Unban { user } => {
            c.execute(
                "DELETE FROM bans WHERE room_id = $1 AND user_id = $2",
                &[&room, &user.as_i64()],
            )
            .await?;
        }
        MemberOp::UseLink { link } => {
            let used = c
                .execute(
                    "UPDATE invite_links SET uses = uses + 1
                     WHERE id = $1 AND room_id = $2 AND NOT revoked
                       AND (expires_at IS NULL OR expires_at > $3)
                       AND (max_uses IS NULL OR uses < max_uses)",
                    &[&link.as_i64(), &room, &change.now],
                )
                .await?;
            if used == 0 {
                return Err(Refused::Stale);
            }
        }
        MemberOp::Update { name, topic } => {
            c.execute(
                "UPDATE rooms SET name = COALESCE($2, name), topic = COALESCE($3, topic) WHERE id = $1",
                &[
                    &room,
                    &name.as_ref().map(|n| n.as_str()),
                    &topic.as_ref().map(|t| t.as_str()),
                ],
            )
            .await?;
        }
    }
    Ok(())
}

pub(super) async fn list_invitations(
    c: &impl GenericClient,
    user_id: UserId,
) -> Result<Vec<InvitationRecord>, StoreError> {
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, u.id, u.username, i.invited_at
         FROM invites i JOIN rooms r ON r.id = i.room_id JOIN users u ON u.id = i.invited_by
         WHERE i.user_id = $1 ORDER BY i.invited_at DESC, r.id"
    );
    let at = ROOM_WIDTH;
    c.query(&sql, &[&user_id.as_i64()])
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| {
            Ok(InvitationRecord {
                room: rows::room(row, 0)?,
                inviter: rows::user(row, at)?,
                invited_at: rows::get(row, at + 2)?,
            })
        })
        .collect()
}

/// The columns [`link`] reads, for `invite_links l JOIN users u ON u.id = l.created_by`.
const LINK_COLUMNS: &str =
    "l.id, l.room_id, u.id, u.username, l.created_at, l.expires_at, l.max_uses, l.uses, l.revoked";

fn link(row: &Row) -> Result<InviteLinkRecord, StoreError> {
    let count = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(InviteLinkRecord {
        id: rows::id(row, 0)?,
        room_id: rows::id(row, 1)?,
        created_by: rows::user(row, 2)?,
        created_at: rows::get(row, 4)?,
        expires_at: rows::get(row, 5)?,
        max_uses: rows::get::<Option<i64>>(row, 6)?.map(count),
        uses: count(rows::get(row, 7)?),
        revoked: rows::get(row, 8)?,
    })
}

async fn find_link(
    c: &impl GenericClient,
    condition: &str,
    arg: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<Option<InviteLinkRecord>, StoreError> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM invite_links l JOIN users u ON u.id = l.created_by WHERE {condition}"
    );
    c.query_opt(&sql, &[arg])
        .await
        .map_err(map_err)?
        .map(|row| link(&row))
        .transpose()
}

pub(super) async fn create_invite_link(
    c: &impl GenericClient,
    new: &NewInviteLink,
) -> Result<InviteLinkRecord, StoreError> {
    let row = c
        .query_opt(
            "INSERT INTO invite_links (room_id, token_hash, created_by, created_at, expires_at, max_uses)
             SELECT id, $2, $3, $4, $5, $6 FROM rooms WHERE id = $1 RETURNING id",
            &[
                &new.room_id.as_i64(),
                &&new.token_hash[..],
                &new.created_by.as_i64(),
                &new.created_at,
                &new.expires_at,
                &new.max_uses.map(i64::from),
            ],
        )
        .await
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound(format!("room {}", new.room_id)))?;
    let id: InviteLinkId = rows::id(&row, 0)?;
    find_link(c, "l.id = $1", &id.as_i64())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("invite link {id}")))
}

pub(super) async fn find_invite_link(
    c: &impl GenericClient,
    token_hash: &TokenHash,
) -> Result<Option<InviteLinkRecord>, StoreError> {
    find_link(c, "l.token_hash = $1", &&token_hash[..]).await
}

pub(super) async fn list_invite_links(
    c: &impl GenericClient,
    room_id: RoomId,
) -> Result<Vec<InviteLinkRecord>, StoreError> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM invite_links l JOIN users u ON u.id = l.created_by
         WHERE l.room_id = $1 ORDER BY l.created_at DESC, l.id DESC"
    );
    c.query(&sql, &[&room_id.as_i64()])
        .await
        .map_err(map_err)?
        .iter()
        .map(link)
        .collect()
}

pub(super) async fn revoke_invite_link(
    c: &impl GenericClient,
    room_id: RoomId,
    link: InviteLinkId,
) -> Result<bool, StoreError> {
    let n = c
        .execute(
            "UPDATE invite_links SET revoked = TRUE WHERE id = $1 AND room_id = $2",
            &[&link.as_i64(), &room_id.as_i64()],
        )
        .await
        .map_err(map_err)?;
    Ok(n > 0)
}

pub(super) async fn list_bans(c: &impl GenericClient, room_id: RoomId) -> Result<Vec<BanRecord>, StoreError> {
    c.query(
        "SELECT u.id, u.username, a.id, a.username, b.banned_at
         FROM bans b JOIN users u ON u.id = b.user_id JOIN users a ON a.id = b.banned_by
         WHERE b.room_id = $1 ORDER BY b.banned_at DESC, u.id",
        &[&room_id.as_i64()],
    )
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| {
        Ok(BanRecord {
            user: rows::user(row, 0)?,
            banned_by: rows::user(row, 2)?,
            banned_at: rows::get(row, 4)?,
        })
    })
    .collect()
}

pub(super) async fn public_rooms(
    c: &impl GenericClient,
    query: Option<&str>,
    after: Option<DirectoryCursor>,
    limit: u32,
) -> Result<Vec<RoomRecord>, StoreError> {
    // `strpos(lower(..), lower(..))` matches a plain substring: no LIKE wildcards to escape.
    let sql = format!(
        "SELECT {ROOM_COLUMNS} FROM rooms r
         WHERE r.kind = 'group' AND r.visibility = 'public'
           AND ($1::text IS NULL OR strpos(lower(r.name), lower($1::text)) > 0)
           AND ($2::bigint IS NULL OR r.member_count < $2 OR (r.member_count = $2 AND r.id > $3::bigint))
         ORDER BY r.member_count DESC, r.id
         LIMIT $4"
    );
    let (count, id) = after.map_or((None, None), |c| {
        (Some(c.member_count as i64), Some(c.room_id.as_i64()))
    });
    c.query(&sql, &[&query, &count, &id, &i64::from(limit)])
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| rows::room(row, 0))
        .collect()
}
