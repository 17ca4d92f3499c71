//! Desktop notifications for new messages in chats the user is not looking at, behind the
//! [`Notifier`] trait: the app uses the desktop's notification service (`notify-rust`),
//! tests record what would have been shown, and nothing fails where there is no desktop
//! (CI has no D-Bus).

use std::sync::Mutex;

/// Shows notifications.
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Shows one notification. Must not block the UI thread.
    fn notify(&self, title: &str, body: &str);
}

/// The desktop's notification service. Each notification is shown from its own short-lived
/// thread, since talking to the service may take a moment; a failure is logged and dropped.
#[derive(Debug, Default)]
pub struct DesktopNotifier;

impl Notifier for DesktopNotifier {
    fn notify(&self, title: &str, body: &str) {
        let (title, body) = (title.to_owned(), body.to_owned());
        let spawned = std::thread::Builder::new()
            .name("chat-gui-notify".into())
            .spawn(move || {
                let shown = notify_rust::Notification::new()
                    .appname("Chat")
                    .summary(&title)
                    .body(&body)
                    .show();
                if let Err(e) = shown {
                    tracing::debug!(error = %e, "cannot show a desktop notification");
                }
            });
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "cannot start the notification thread");
        }
    }
}

/// Remembers notifications instead of showing them (tests; runs without a desktop).
#[derive(Debug, Default)]
pub struct RecordingNotifier(Mutex<Vec<(String, String)>>);

impl RecordingNotifier {
    /// Every notification so far: (title, body).
    pub fn shown(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Notifier for RecordingNotifier {
    fn notify(&self, title: &str, body: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((title.to_owned(), body.to_owned()));
    }
}

/// A notification's body: the text on one line, cut to a readable length.
pub fn preview(text: &str) -> String {
    const MAX_CHARS: usize = 120;
    let one_line: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let mut chars = one_line.chars();
    let cut: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview("a\nb"), "a b");
        let long = "x".repeat(500);
        assert_eq!(preview(&long).chars().count(), 121);
    }
}
