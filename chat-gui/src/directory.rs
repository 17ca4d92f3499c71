//! The directory of public rooms: search by name, page through, join.

use chat_proto::Room;
use egui::{RichText, ScrollArea, Ui, vec2};

use crate::app::App;
use crate::backend::{Command, Op};
use crate::dialogs::modal;
use crate::theme::Palette;
use crate::widgets::{heading, labelled_field, spinner};

/// The directory dialog's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryDialog {
    /// The search typed so far.
    pub query: String,
    /// The search the rooms shown answer.
    pub shown_query: Option<String>,
    /// The rooms shown.
    pub rooms: Vec<Room>,
    /// Where the next page starts.
    pub next: Option<String>,
    /// Whether a first page has arrived.
    pub loaded: bool,
}

impl DirectoryDialog {
    /// Shows a page: the first replaces what is shown, a further one is added below.
    pub fn show_page(&mut self, rooms: Vec<Room>, next: Option<String>, more: bool) {
        if more {
            self.rooms.extend(rooms);
        } else {
            self.rooms = rooms;
        }
        self.next = next;
        self.loaded = true;
    }

    fn query(&self) -> Option<String> {
        Some(self.query.trim().to_owned()).filter(|q| !q.is_empty())
    }
}

/// Draws the directory. Returns whether it stays open.
pub fn show(app: &mut App, ui: &mut Ui, directory: &mut DirectoryDialog) -> bool {
    let palette = Palette::of(ui);
    let loading = app.is_pending(Op::Directory);
    if !directory.loaded && !loading {
        // The first page loads when the dialog opens.
        directory.loaded = true;
        directory.shown_query = None;
        app.request(Command::Directory {
            query: None,
            after: None,
        });
    }
    let member_of = |room: &Room| app.chats.as_ref().is_some_and(|c| c.summary(room.id).is_some());
    let mut join = None;
    let mut search = false;
    let mut more = false;
    let mut done = false;
    let close = modal(ui, "directory", 420.0, |ui| {
        ui.label(heading("Public rooms"));
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.set_width(300.0);
                let field = labelled_field(ui, "Search rooms", &mut directory.query, false, "name");
                search = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            });
            search |= ui.button("Search").clicked();
        });
        ui.add_space(6.0);
        ScrollArea::vertical().max_height(320.0).show(ui, |ui| {
            if directory.rooms.is_empty() && !loading {
                ui.label(RichText::new("No public rooms found").color(palette.muted));
            }
            for room in &directory.rooms {
                ui.horizontal(|ui| {
                    ui.vertical(|ui| {
                        ui.set_width(280.0);
                        ui.label(RichText::new(&room.name).strong());
                        let members = if room.member_count == 1 {
                            "1 member".to_owned()
                        } else {
                            format!("{} members", room.member_count)
                        };
                        let topic = room.topic.as_ref().map(|t| t.as_str().to_owned());
                        let line = match topic {
                            Some(topic) => format!("{members} · {topic}"),
                            None => members,
                        };
                        ui.label(RichText::new(line).color(palette.muted).size(12.5));
                    });
                    if member_of(room) {
                        ui.label(RichText::new("Joined").color(palette.muted));
                    } else {
                        let busy = app.is_pending(Op::JoinRoom);
                        let button = egui::Button::new("Join").min_size(vec2(70.0, 28.0));
                        let response = ui.add_enabled(!busy, button);
                        // Every row has a "Join": a screen reader says which room.
                        let label = format!("Join {}", room.name);
                        response.widget_info(|| {
                            egui::WidgetInfo::labeled(egui::accesskit::Role::Button, !busy, &label)
                        });
                        if response.clicked() {
                            join = Some(room.id);
                        }
                    }
                });
                ui.separator();
            }
        });
        if loading {
            ui.vertical_centered(|ui| spinner(ui, vec2(28.0, 28.0), "Loading rooms…"));
        } else if directory.next.is_some() {
            more = ui.button("Show more").clicked();
        }
        ui.add_space(8.0);
        done = ui.button("Close").clicked();
    });
    if let Some(room) = join {
        app.request(Command::JoinRoom(room));
    }
    if search && !loading {
        directory.shown_query = directory.query();
        app.request(Command::Directory {
            query: directory.query(),
            after: None,
        });
    }
    if more && !loading {
        app.request(Command::Directory {
            query: directory.shown_query.clone(),
            after: directory.next.clone(),
        });
    }
    !(done || close)
}
