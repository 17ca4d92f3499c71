//! Right-to-left text. egui lays a line out left to right, but shapes each run of one font
//! with its script's direction (harfrust): a run of Hebrew or Arabic letters comes out
//! right to left and joined, while the order of the runs, and of the spaces, digits and
//! Latin words between them, stays as given. So each paragraph is wrapped in logical
//! order, and each wrapped row is reordered by the Unicode bidirectional algorithm
//! (`unicode-bidi`): its level runs in display order; inside a right-to-left run, the order
//! of the letter runs and of what lies between them is reversed (brackets mirrored) while
//! the letters themselves are left for the shaper. A paragraph whose first strong letter
//! is right-to-left is aligned right, as Telegram does.
//!
//! Text with no right-to-left letter keeps egui's own single galley, so that it stays
//! selectable with the mouse.

use std::ops::Range;
use std::sync::Arc;

use egui::text::LayoutJob;
use egui::{Color32, FontId, Galley, Painter, Vec2, vec2};
use unicode_bidi::BidiInfo;

/// One row as drawn: its galley and where it sits, from the text block's top left.
pub struct PlacedRow {
    /// The row, in display order.
    pub galley: Arc<Galley>,
    /// Its position inside the block.
    pub offset: Vec2,
}

/// Text laid out for display.
pub enum BidiText {
    /// Left-to-right only: one galley, as egui lays it out.
    Plain(Arc<Galley>),
    /// Text with right-to-left parts: reordered rows.
    Rows {
        /// The rows, top to bottom.
        rows: Vec<PlacedRow>,
        /// The block's size.
        size: Vec2,
    },
}

impl BidiText {
    /// The size of the laid-out block.
    pub fn size(&self) -> Vec2 {
        match self {
            BidiText::Plain(galley) => galley.size(),
            BidiText::Rows { size, .. } => *size,
        }
    }

    /// Right edge of the last row, for placing a message's time after it.
    pub fn last_row_right(&self) -> f32 {
        match self {
            BidiText::Plain(galley) => galley.rows.last().map_or(0.0, |r| r.rect().right()),
            BidiText::Rows { rows, .. } => rows.last().map_or(0.0, |r| r.offset.x + r.galley.size().x),
        }
    }

    /// Paints the block with its top left at `pos`.
    pub fn paint(&self, painter: &Painter, pos: egui::Pos2, color: Color32) {
        match self {
            BidiText::Plain(galley) => painter.galley(pos, galley.clone(), color),
            BidiText::Rows { rows, .. } => {
                for row in rows {
                    painter.galley(pos + row.offset, row.galley.clone(), color);
                }
            }
        }
    }
}

/// One line of text (newlines become spaces) in the order egui must get it to show it
/// right: for titles, previews and notices, which are cut to one line.
pub fn display_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !has_rtl(text) {
        return std::borrow::Cow::Borrowed(text);
    }
    let one_line = text.replace(['\n', '\r'], " ");
    let lines = display_lines(&one_line, |t| vec![t.chars().count()]);
    std::borrow::Cow::Owned(lines.concat())
}

/// Whether `text` holds a letter written right to left.
pub fn has_rtl(text: &str) -> bool {
    text.chars().any(is_rtl_char)
}

fn is_rtl_char(c: char) -> bool {
    matches!(c as u32,
        0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF | 0x10800..=0x10FFF | 0x1E800..=0x1EFFF)
}

/// Whether the paragraph reads right to left: its first strong letter does.
pub fn paragraph_is_rtl(paragraph: &str) -> bool {
    let info = BidiInfo::new(paragraph, None);
    info.paragraphs.first().is_some_and(|p| p.level.is_rtl())
}

/// Lays out `text` wrapped at `wrap` points, right-to-left parts in display order.
pub fn layout(painter: &Painter, text: &str, font: FontId, color: Color32, wrap: f32) -> BidiText {
    if !has_rtl(text) {
        return BidiText::Plain(painter.layout(text.to_owned(), font, color, wrap));
    }
    let mut rows = Vec::new();
    let mut y = 0.0;
    let mut width: f32 = 0.0;
    let row_height = painter.fonts_mut(|f| f.row_height(&font));
    for paragraph in text.split('\n') {
        let lines = display_lines(paragraph, |shaped| {
            let wrapped = painter.layout(shaped.to_owned(), font.clone(), color, wrap);
            wrapped.rows.iter().map(|r| r.glyphs.len()).collect::<Vec<_>>()
        });
        let rtl = paragraph_is_rtl(paragraph);
        let galleys: Vec<_> = lines
            .into_iter()
            .map(|line| painter.layout_job(LayoutJob::simple_singleline(line, font.clone(), color)))
            .collect();
        if galleys.is_empty() {
            y += row_height;
            continue;
        }
        for galley in galleys {
            width = width.max(galley.size().x);
            let height = galley.size().y.max(row_height);
            rows.push((galley, y, rtl));
            y += height;
        }
    }
    // Right-to-left paragraphs sit against the block's right edge.
    let rows = rows
        .into_iter()
        .map(|(galley, y, rtl)| {
            let x = if rtl { width - galley.size().x } else { 0.0 };
            PlacedRow {
                galley,
                offset: vec2(x, y),
            }
        })
        .collect();
    BidiText::Rows {
        rows,
        size: vec2(width, y),
    }
}

/// The rows of one paragraph, ready for egui (see the module's doc). `wrap` is given the
/// paragraph and answers how many characters each wrapped row holds.
pub fn display_lines(paragraph: &str, wrap: impl FnOnce(&str) -> Vec<usize>) -> Vec<String> {
    if paragraph.is_empty() {
        return Vec::new();
    }
    let info = BidiInfo::new(paragraph, None);
    let Some(para) = info.paragraphs.first() else {
        return vec![paragraph.to_owned()];
    };
    let mut lines = Vec::new();
    for range in row_ranges(paragraph, &wrap(paragraph)) {
        let (levels, runs) = info.visual_runs(para, range);
        let mut line = String::new();
        for run in runs {
            let text = &paragraph[run.clone()];
            if levels[run.start].is_rtl() {
                line.push_str(&rtl_run_for_shaper(text));
            } else {
                line.push_str(text);
            }
        }
        lines.push(line.trim().to_owned());
    }
    lines
}

/// A right-to-left level run as egui must get it: the letter runs (which the shaper turns
/// right to left itself) and each character between them in reverse order, brackets
/// mirrored.
fn rtl_run_for_shaper(text: &str) -> String {
    let mut pieces: Vec<String> = Vec::new();
    let mut in_letters = false;
    for c in text.chars() {
        let letter = is_rtl_char(c);
        match pieces.last_mut() {
            Some(last) if letter && in_letters => last.push(c),
            _ => pieces.push(if letter { c } else { mirror(c) }.to_string()),
        }
        in_letters = letter;
    }
    pieces.reverse();
    pieces.concat()
}

/// The mirrored form of a bracket, drawn in right-to-left text.
fn mirror(c: char) -> char {
    match c {
        '(' => ')',
        ')' => '(',
        '[' => ']',
        ']' => '[',
        '{' => '}',
        '}' => '{',
        '<' => '>',
        '>' => '<',
        '«' => '»',
        '»' => '«',
        other => other,
    }
}

/// Byte ranges of rows of `chars` characters each; whatever is left over forms a last row.
fn row_ranges(text: &str, chars_per_row: &[usize]) -> Vec<Range<usize>> {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let mut ranges = Vec::new();
    let mut start = 0;
    for &count in chars_per_row {
        let end = (start + count).min(boundaries.len() - 1);
        if end > start {
            ranges.push(boundaries[start]..boundaries[end]);
        }
        start = end;
    }
    if start < boundaries.len() - 1 {
        ranges.push(boundaries[start]..text.len());
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_row(text: &str) -> Vec<usize> {
        vec![text.chars().count()]
    }

    #[test]
    fn a_hebrew_paragraph_reads_right_to_left() {
        // One word: left to the shaper as written.
        assert_eq!(display_lines("שלום", one_row), ["שלום"]);
        // Words: the first is drawn rightmost.
        assert_eq!(display_lines("שלום עולם", one_row), ["עולם שלום"]);
        assert!(paragraph_is_rtl("שלום world"));
        assert!(!paragraph_is_rtl("hello שלום"));
    }

    #[test]
    fn numbers_and_latin_keep_their_order_inside_rtl_text() {
        // Runs of digits and of Latin letters each keep their order, placed right to left.
        assert_eq!(display_lines("שלום 123 abc", one_row), ["abc 123 שלום"]);
        assert_eq!(display_lines("שלום 2024", one_row), ["2024 שלום"]);
        // In a left-to-right paragraph, a Hebrew word stays where it was written.
        assert_eq!(display_lines("hello שלום world", one_row), ["hello שלום world"]);
    }

    #[test]
    fn one_line_previews_are_ordered_too() {
        assert_eq!(display_line("bob: مرحبا بالجميع 👍"), "bob: بالجميع مرحبا 👍");
        assert_eq!(display_line("plain"), "plain");
    }

    #[test]
    fn brackets_are_mirrored_and_arabic_words_reordered() {
        assert_eq!(display_lines("שלום (עולם)", one_row), ["(עולם) שלום"]);
        assert_eq!(display_lines("سلام عليكم", one_row), ["عليكم سلام"]);
    }

    #[test]
    fn each_wrapped_row_is_reordered_on_its_own() {
        // Two rows: the first logical words stay on the first row.
        let lines = display_lines("אבג דהו זחט", |_| vec![8, 3]);
        assert_eq!(lines, ["דהו אבג", "זחט"]);
    }

    #[test]
    fn row_ranges_cover_the_text() {
        assert_eq!(row_ranges("abcdef", &[2, 2]), vec![0..2, 2..4, 4..6]);
        assert_eq!(row_ranges("שלום", &[2, 9]), vec![0..4, 4..8]);
        assert!(!has_rtl("hello"));
        assert!(has_rtl("hi שלום"));
    }
}
