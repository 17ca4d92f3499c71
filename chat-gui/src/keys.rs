//! Keyboard shortcuts of the main view, taken before the widgets see the keys:
//! Alt+Down / Ctrl+Tab open the next chat, Alt+Up / Ctrl+Shift+Tab the previous one, Ctrl+F
//! searches the open chat, and Esc closes what is open, innermost first (a dialog closes
//! itself): the search, the info panel, then, in one column, the chat.

use egui::{Key, KeyboardShortcut, Modifiers, Ui};

use crate::app::App;

const NEXT: [KeyboardShortcut; 2] = [
    KeyboardShortcut::new(Modifiers::ALT, Key::ArrowDown),
    KeyboardShortcut::new(Modifiers::CTRL, Key::Tab),
];
const PREVIOUS: [KeyboardShortcut; 2] = [
    KeyboardShortcut::new(Modifiers::ALT, Key::ArrowUp),
    KeyboardShortcut::new(Modifiers::CTRL.plus(Modifiers::SHIFT), Key::Tab),
];
const SEARCH: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::F);

/// Handles the shortcuts of this frame.
pub fn handle(app: &mut App, ui: &Ui) {
    if app.dialog.is_some() {
        return;
    }
    // The longer shortcut first: Ctrl+Shift+Tab also matches Ctrl+Tab's keys.
    let previous = PREVIOUS.iter().any(|s| consume(ui, s));
    let next = !previous && NEXT.iter().any(|s| consume(ui, s));
    if next || previous {
        step_chat(app, if next { 1 } else { -1 });
    }
    let selected = app.chats.as_ref().and_then(|c| c.selected);
    if selected.is_some() && consume(ui, &SEARCH) {
        app.search.get_or_insert_with(String::new);
    }
    if ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
        if app.search.is_some() {
            app.search = None;
        } else if app.show_info {
            app.show_info = false;
        } else if app.layout.one_column && selected.is_some() {
            app.close_room();
        }
    }
}

fn consume(ui: &Ui, shortcut: &KeyboardShortcut) -> bool {
    ui.input_mut(|i| i.consume_shortcut(shortcut))
}

/// Opens the chat `by` places below (positive) or above the open one in the list.
fn step_chat(app: &mut App, by: isize) {
    let Some(chats) = &app.chats else { return };
    if chats.list.is_empty() {
        return;
    }
    let len = chats.list.len() as isize;
    let at = chats
        .selected
        .and_then(|room| chats.list.iter().position(|s| s.room.id == room))
        .map_or(if by > 0 { -1 } else { len }, |i| i as isize);
    let target = (at + by).rem_euclid(len) as usize;
    let room = chats.list[target].room.id;
    app.open_room(room);
}
