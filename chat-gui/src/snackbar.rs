//! The snackbar: a short message at the bottom of the window that says why something
//! failed or what happened. One at a time, each for a few seconds or until dismissed; later
//! ones wait, and while they wait each is shown only briefly.

use std::collections::VecDeque;

use egui::{Align2, Area, Frame, Id, Order, RichText, Ui, vec2};

use crate::theme::Palette;

/// How long a message stays, in seconds.
pub const SHOW_SECONDS: f64 = 6.0;
/// How long a message stays when others wait behind it: news should not queue for long.
pub const SHOW_SECONDS_WHEN_QUEUED: f64 = 2.0;
/// Most messages waiting; older ones are dropped when errors pile up.
const MAX_QUEUED: usize = 4;

/// The queue of messages to show.
#[derive(Debug, Default)]
pub struct Snackbar {
    /// The message on screen and when it was first drawn.
    current: Option<(String, Option<f64>)>,
    queue: VecDeque<String>,
}

impl Snackbar {
    /// Queues a message; the same message twice in a row is shown once.
    pub fn push(&mut self, message: String) {
        let repeat =
            self.current.as_ref().is_some_and(|(m, _)| *m == message) || self.queue.back() == Some(&message);
        if repeat {
            return;
        }
        if self.current.is_none() {
            self.current = Some((message, None));
        } else {
            if self.queue.len() == MAX_QUEUED {
                self.queue.pop_front();
            }
            self.queue.push_back(message);
        }
    }

    /// The message on screen, if any.
    pub fn current(&self) -> Option<&str> {
        self.current.as_ref().map(|(m, _)| m.as_str())
    }

    fn next(&mut self) {
        self.current = self.queue.pop_front().map(|m| (m, None));
    }
}

/// Draws the current message, if any, over everything else.
pub fn show(snackbar: &mut Snackbar, ui: &mut Ui) {
    let now = ui.input(|i| i.time);
    let waiting = !snackbar.queue.is_empty();
    if let Some((_, shown_at)) = &mut snackbar.current {
        // The clock starts when the message is first drawn.
        let shown_at = *shown_at.get_or_insert(now);
        let seconds = if waiting {
            SHOW_SECONDS_WHEN_QUEUED
        } else {
            SHOW_SECONDS
        };
        let until = shown_at + seconds;
        if now >= until {
            snackbar.next();
        } else {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_secs_f64(until - now));
        }
    }
    let Some(message) = snackbar.current().map(str::to_owned) else {
        return;
    };
    let palette = Palette::of(ui);
    let mut dismissed = false;
    // Above everything, dialogs included: a dialog's dimmed backdrop must neither hide the
    // message nor swallow the click on Dismiss.
    Area::new(Id::unique("snackbar"))
        .order(Order::Tooltip)
        .anchor(Align2::CENTER_BOTTOM, vec2(0.0, -24.0))
        .show(ui.ctx(), |ui| {
            Frame::new()
                .fill(palette.snackbar_bg)
                .corner_radius(10)
                .inner_margin(vec2(16.0, 10.0))
                .shadow(egui::Shadow {
                    offset: [0, 2],
                    blur: 12,
                    spread: 0,
                    color: egui::Color32::from_black_alpha(60),
                })
                .show(ui, |ui| {
                    ui.set_max_width(520.0);
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(&message).color(palette.snackbar_text));
                        ui.add_space(8.0);
                        let close = egui::Button::new(
                            RichText::new("Dismiss")
                                .color(palette.snackbar_text)
                                .strong()
                                .underline(),
                        )
                        .frame(false);
                        dismissed = ui.add(close).clicked();
                    });
                });
        });
    if dismissed {
        snackbar.next();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_queue_without_repeats_and_bounded() {
        let mut s = Snackbar::default();
        s.push("a".into());
        s.push("a".into());
        s.push("b".into());
        s.push("b".into());
        assert_eq!(s.current(), Some("a"));
        s.next();
        assert_eq!(s.current(), Some("b"));
        s.next();
        assert_eq!(s.current(), None);
        for i in 0..10 {
            s.push(i.to_string());
        }
        s.next();
        assert_eq!(s.current(), Some("6"), "only the newest are kept");
    }
}
