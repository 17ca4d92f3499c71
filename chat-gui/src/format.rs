//! Times and dates as the chat shows them: `14:05` in bubbles, `Today` / `Yesterday` /
//! `12 March` on day separators, and a short form in the chat list. All in the local time
//! zone, whose offset is read once at start-up (see [`LocalOffset::detect`]).

use chat_proto::TimestampMs;
use time::{Date, OffsetDateTime, UtcOffset};

/// The local time zone's offset from UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalOffset(UtcOffset);

impl LocalOffset {
    /// UTC: what tests use, so that their output does not depend on the machine.
    pub const UTC: LocalOffset = LocalOffset(UtcOffset::UTC);

    /// Reads the system's offset. Must run before any other thread starts: on Unix the
    /// offset cannot be read safely from a multi-threaded process, and then UTC is used.
    pub fn detect() -> LocalOffset {
        LocalOffset(UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC))
    }

    /// An offset of whole seconds east of UTC (clamped to what time zones use).
    pub fn from_seconds(seconds: i32) -> LocalOffset {
        LocalOffset(UtcOffset::from_whole_seconds(seconds).unwrap_or(UtcOffset::UTC))
    }

    fn at(self, ms: TimestampMs) -> OffsetDateTime {
        let nanos = i128::from(ms) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(self.0)
    }

    /// The local calendar day of a timestamp.
    pub fn day(self, ms: TimestampMs) -> Date {
        self.at(ms).date()
    }

    /// `HH:MM` of a timestamp.
    pub fn clock(self, ms: TimestampMs) -> String {
        let t = self.at(ms);
        format!("{:02}:{:02}", t.hour(), t.minute())
    }

    /// The day separator's text for the day of `ms`, seen at `now_ms`.
    pub fn day_label(self, ms: TimestampMs, now_ms: TimestampMs) -> String {
        let day = self.day(ms);
        let today = self.day(now_ms);
        if day == today {
            "Today".to_owned()
        } else if today.previous_day() == Some(day) {
            "Yesterday".to_owned()
        } else if day.year() == today.year() {
            format!("{} {}", day.day(), day.month())
        } else {
            format!("{} {} {}", day.day(), day.month(), day.year())
        }
    }

    /// The chat list's time: the clock today, the weekday this week, else the date.
    pub fn list_time(self, ms: TimestampMs, now_ms: TimestampMs) -> String {
        let day = self.day(ms);
        let today = self.day(now_ms);
        let age_days = (today - day).whole_days();
        if age_days <= 0 {
            self.clock(ms)
        } else if age_days < 7 {
            let name = day.weekday().to_string();
            name.chars().take(3).collect()
        } else {
            format!(
                "{:02}.{:02}.{:02}",
                day.day(),
                u8::from(day.month()),
                day.year() % 100
            )
        }
    }
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> TimestampMs {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// The letters an avatar shows: the initials of the first two words, or the first letter
/// of a single word.
pub fn initials(name: &str) -> String {
    let mut words = name.split(|c: char| c.is_whitespace() || c == '_' || c == '.' || c == '-');
    let first = words.find(|w| !w.is_empty()).unwrap_or("");
    let second = words.find(|w| !w.is_empty());
    let mut out: String = match second {
        Some(second) => first.chars().take(1).chain(second.chars().take(1)).collect(),
        None => first.chars().take(1).collect(),
    };
    out = out.to_uppercase();
    if out.is_empty() { "?".to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-03-12 14:05:00 UTC
    const T: TimestampMs = 1_710_252_300_000;
    const DAY: TimestampMs = 86_400_000;

    #[test]
    fn clock_follows_the_offset() {
        assert_eq!(LocalOffset::UTC.clock(T), "14:05");
        assert_eq!(LocalOffset::from_seconds(2 * 3600).clock(T), "16:05");
        assert_eq!(LocalOffset::from_seconds(-15 * 3600).clock(T), "23:05");
    }

    #[test]
    fn day_labels_name_today_yesterday_and_dates() {
        let utc = LocalOffset::UTC;
        assert_eq!(utc.day_label(T, T + 60_000), "Today");
        assert_eq!(utc.day_label(T, T + DAY), "Yesterday");
        assert_eq!(utc.day_label(T, T + 5 * DAY), "12 March");
        assert_eq!(utc.day_label(T, T + 365 * DAY), "12 March 2024");
    }

    #[test]
    fn list_times_shorten_with_age() {
        let utc = LocalOffset::UTC;
        assert_eq!(utc.list_time(T, T), "14:05");
        assert_eq!(utc.list_time(T, T + 2 * DAY), "Tue");
        assert_eq!(utc.list_time(T, T + 30 * DAY), "12.03.24");
    }

    #[test]
    fn initials_take_words_or_letters() {
        assert_eq!(initials("general"), "G");
        assert_eq!(initials("Rust Lovers"), "RL");
        assert_eq!(initials("alice_smith"), "AS");
        assert_eq!(initials("  "), "?");
        assert_eq!(initials("élan"), "É");
    }
}
