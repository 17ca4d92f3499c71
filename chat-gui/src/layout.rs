//! How the window is laid out for its width: two columns (chat list and chat) when there is
//! room, one column (the list, or the open chat with a way back) below [`ONE_COLUMN_BELOW`],
//! and the room info panel docked at the right only when the conversation keeps
//! [`MIN_CONVERSATION`] next to it, else laid over the conversation.

use crate::theme::{CHAT_LIST_WIDTH, INFO_WIDTH};

/// Below this window width (points) only one column shows.
pub const ONE_COLUMN_BELOW: f32 = 800.0;
/// The narrowest the conversation may get next to a docked info panel.
pub const MIN_CONVERSATION: f32 = 480.0;

/// The layout of one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Only the list or only the open chat.
    pub one_column: bool,
    /// The info panel lies over the conversation instead of beside it.
    pub info_overlay: bool,
}

impl Layout {
    /// The layout for a window `width` points wide.
    pub fn for_width(width: f32, info_open: bool) -> Layout {
        let one_column = width < ONE_COLUMN_BELOW;
        let list = if one_column { 0.0 } else { CHAT_LIST_WIDTH };
        let info_overlay = info_open && width - list - INFO_WIDTH < MIN_CONVERSATION;
        Layout {
            one_column,
            info_overlay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_windows_get_one_column_and_an_overlay() {
        assert_eq!(
            Layout::for_width(1200.0, true),
            Layout {
                one_column: false,
                info_overlay: false
            }
        );
        assert!(Layout::for_width(900.0, true).info_overlay);
        assert!(!Layout::for_width(900.0, false).info_overlay);
        let narrow = Layout::for_width(640.0, true);
        assert!(narrow.one_column && narrow.info_overlay);
    }
}
