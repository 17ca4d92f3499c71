//! The directory of public rooms: paged, most members first, searchable by name.
//!
//! A page's `next` is an opaque cursor (the last room's member count and id) that the
//! client gives back as `after`; a cursor the server did not make is `invalid_request`.

use chat_proto::{ErrorBody, ErrorCode, Response, RoomId};

use super::connection::Connection;
use super::reply::{Reply, refuse, store_failed};
use super::rooms::room_view;
use crate::store::DirectoryCursor;

/// Parses a cursor made by [`cursor_text`].
fn parse_cursor(text: &str) -> Result<DirectoryCursor, ErrorBody> {
    let bad = || {
        refuse(
            ErrorCode::InvalidRequest,
            "`after` is not a cursor this server gave",
        )
    };
    let (count, id) = text.split_once('.').ok_or_else(bad)?;
    let member_count = count.parse::<u64>().map_err(|_| bad())?;
    let room_id = id
        .parse::<u64>()
        .ok()
        .and_then(|id| RoomId::new(id).ok())
        .ok_or_else(bad)?;
    Ok(DirectoryCursor {
        member_count,
        room_id,
    })
}

fn cursor_text(cursor: DirectoryCursor) -> String {
    format!("{}.{}", cursor.member_count, cursor.room_id)
}

impl Connection {
    pub(super) async fn list_public_rooms(
        &mut self,
        query: Option<String>,
        after: Option<String>,
        limit: u32,
    ) -> Reply {
        self.me()?;
        let after = after.as_deref().map(parse_cursor).transpose()?;
        let query = query.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let max = self.inner.config.max_page_size.max(1);
        if limit == 0 || limit > max {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                format!("`limit` must be between 1 and {max}"),
            ));
        }
        let mut found = self
            .inner
            .store
            .public_rooms(query, after, limit + 1)
            .await
            .map_err(store_failed)?;
        let more = found.len() > limit as usize;
        found.truncate(limit as usize);
        let next = match found.last() {
            Some(last) if more => Some(cursor_text(DirectoryCursor {
                member_count: last.member_count,
                room_id: last.id,
            })),
            _ => None,
        };
        Ok(Response::PublicRooms {
            rooms: found.iter().map(|room| room_view(room, None)).collect(),
            next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_survive_their_text_and_strangers_are_refused() {
        let cursor = DirectoryCursor {
            member_count: 12,
            room_id: RoomId::new(987654321).unwrap(),
        };
        assert_eq!(parse_cursor(&cursor_text(cursor)).unwrap(), cursor);
        for bad in ["", "12", "x.1", "1.0", "1.-3", "1.99999999999999999999"] {
            assert_eq!(
                parse_cursor(bad).unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{bad:?}"
            );
        }
    }
}
