//! `resume_rooms`: a reconnecting client catches up on all its rooms with one request,
//! as Matrix's `/sync` and Telegram's `getDifference` allow, instead of one `resume_room`
//! (and one unit of the rate limit) per room.
//!
//! The answer is bounded three ways: items per room (the request's `limit`), items in all
//! ([`MAX_RESUME_ITEMS`], so one request costs the store a bounded amount of reading) and
//! bytes ([`MAX_PAGE_BYTES`], like a page of history). A room cut short answers
//! `complete: false` and the client continues it with `resume_room`. Rooms the caller
//! cannot read are listed together, whatever the reason, so that the answer tells a private
//! room from a missing one no better than `resume_room` does.

use std::collections::HashSet;

use chat_proto::{
    DEFAULT_RESUME_ROOM_ITEMS, ErrorBody, ErrorCode, MAX_PAGE_BYTES, MAX_RESUME_ITEMS, MAX_RESUME_ROOMS,
    Message, Response, ResumePoint, ResumedRoom,
};

use super::connection::Connection;
use super::reply::{Reply, refuse, store_failed};
use super::timeline::open_item;
use crate::store::MessagePage;

/// What a room's entry adds to the answer's JSON besides its items (its id, `complete`,
/// brackets); also what an unreadable room's id costs, rounded up.
const ROOM_ENTRY_BYTES: usize = 80;

impl Connection {
    pub(super) async fn resume_rooms(&mut self, points: Vec<ResumePoint>, limit: Option<u32>) -> Reply {
        let me = self.me()?.id;
        let limit = self.check_resume(&points, limit)?;
        let pages = self
            .inner
            .store
            .resume_pages(me, &points, limit, MAX_RESUME_ITEMS)
            .await
            .map_err(store_failed)?;
        let mut rooms = Vec::with_capacity(points.len());
        let mut unreadable = Vec::new();
        let mut budget = PageBudget::new(MAX_PAGE_BYTES);
        for (point, page) in points.iter().zip(pages) {
            match page {
                None => {
                    budget.spend(ROOM_ENTRY_BYTES);
                    unreadable.push(point.room_id);
                }
                Some(page) => {
                    budget.spend(ROOM_ENTRY_BYTES);
                    let (messages, complete) = self.open_within(page, &mut budget)?;
                    rooms.push(ResumedRoom {
                        room_id: point.room_id,
                        messages,
                        complete,
                    });
                }
            }
        }
        Ok(Response::ResumedRooms { rooms, unreadable })
    }

    /// Checks the request's rules; the per-room limit to use.
    fn check_resume(&self, points: &[ResumePoint], limit: Option<u32>) -> Result<u32, ErrorBody> {
        let invalid = |message: String| refuse(ErrorCode::InvalidRequest, message);
        if points.is_empty() || points.len() > MAX_RESUME_ROOMS {
            return Err(invalid(format!(
                "`rooms` must name between 1 and {MAX_RESUME_ROOMS} rooms"
            )));
        }
        let mut seen = HashSet::with_capacity(points.len());
        if let Some(twice) = points.iter().find(|p| !seen.insert(p.room_id)) {
            return Err(invalid(format!("room {} is named twice", twice.room_id)));
        }
        let max = self.inner.config.max_page_size.max(1);
        let limit = limit.unwrap_or(DEFAULT_RESUME_ROOM_ITEMS.min(max));
        if limit == 0 || limit > max {
            return Err(invalid(format!("`limit` must be between 1 and {max}")));
        }
        Ok(limit)
    }

    /// Opens a room's page while the answer has room for it; whether the room is complete.
    fn open_within(
        &self,
        page: MessagePage,
        budget: &mut PageBudget,
    ) -> Result<(Vec<Message>, bool), ErrorBody> {
        let mut messages = Vec::with_capacity(page.messages.len());
        for stored in &page.messages {
            if budget.full {
                return Ok((messages, false));
            }
            let message = open_item(&self.inner.keys, stored)?;
            if !budget.spend(message.json_size_bound()) {
                return Ok((messages, false));
            }
            messages.push(message);
        }
        Ok((messages, !page.has_more))
    }
}

/// The bytes of JSON an answer may still take.
struct PageBudget {
    left: usize,
    /// Once an item did not fit, no later item goes in either (a client continues each
    /// room from its last `seq`, so items must not be skipped).
    full: bool,
}

impl PageBudget {
    fn new(bytes: usize) -> Self {
        Self {
            left: bytes,
            full: false,
        }
    }

    /// Takes `bytes` if they fit; once something did not fit, nothing more does.
    fn spend(&mut self, bytes: usize) -> bool {
        if self.full || bytes > self.left {
            self.full = true;
            return false;
        }
        self.left -= bytes;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::PageBudget;

    #[test]
    fn once_something_does_not_fit_nothing_later_does() {
        let mut budget = PageBudget::new(100);
        assert!(budget.spend(60));
        assert!(!budget.spend(50), "over the budget");
        assert!(
            !budget.spend(10),
            "would fit, but must not skip the item before it"
        );
        assert!(budget.full);
    }
}
