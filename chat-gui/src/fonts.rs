//! The fonts the app ships so that every script people write renders: egui's defaults cover
//! Latin, Greek and Cyrillic only, and show Hebrew, Arabic and CJK as empty boxes. Noto
//! subsets for Hebrew, Arabic and common CJK characters, and colour emoji (a CBDT subset of
//! Noto Color Emoji, drawn in colour through epaint's `color_fonts`) are compiled in; see
//! `chat-gui/fonts/README.md` and `scripts/subset-fonts.py` for what each holds.

use std::sync::Arc;

use egui::{Context, FontData, FontDefinitions, FontFamily};

/// The added fonts, by the name egui knows them by, in fallback order.
const FONTS: [(&str, &[u8]); 4] = [
    (
        "NotoSansHebrew",
        include_bytes!("../fonts/NotoSansHebrew-Regular.ttf"),
    ),
    (
        "NotoSansArabic",
        include_bytes!("../fonts/NotoSansArabic-Regular.ttf"),
    ),
    ("NotoSansCJK", include_bytes!("../fonts/NotoSansCJKsc-Common.otf")),
    (
        "NotoColorEmoji",
        include_bytes!("../fonts/NotoColorEmoji-Common.ttf"),
    ),
];

/// egui's default fonts plus ours. The scripts come right after each family's primary font;
/// the colour emoji before egui's monochrome emoji fonts, so that an emoji both have is
/// drawn in colour, while symbols only the monochrome fonts have (the check and clock after
/// a message's time) stay in the text's colour.
pub fn definitions() -> FontDefinitions {
    let mut definitions = FontDefinitions::default();
    for (name, bytes) in FONTS {
        definitions
            .font_data
            .insert(name.to_owned(), Arc::new(FontData::from_static(bytes)));
    }
    for family in [FontFamily::Proportional, FontFamily::Monospace] {
        let list = definitions.families.entry(family).or_default();
        let at = 1.min(list.len());
        for (offset, (name, _)) in FONTS.iter().enumerate() {
            list.insert(at + offset, (*name).to_owned());
        }
    }
    definitions
}

/// Installs the fonts.
pub fn install(ctx: &Context) {
    ctx.set_fonts(definitions());
}

#[cfg(test)]
mod tests {
    use egui::FontId;

    use super::*;

    /// Lines in each script, as a person would write them.
    const LINES: [&str; 6] = [
        "שלום, מה שלומך?",
        "مرحبا، كيف حالك؟",
        "你好，我们明天见。",
        "こんにちは、元気ですか？",
        "안녕하세요, 반갑습니다",
        "🎉👍😀❤🔥",
    ];

    fn context() -> Context {
        let ctx = Context::default();
        install(&ctx);
        // Fonts are loaded at the start of a pass.
        ctx.run_ui(Default::default(), |_| {}).textures_delta.clear();
        ctx
    }

    #[test]
    fn every_script_has_glyphs_instead_of_boxes() {
        let ctx = context();
        for line in LINES {
            for font in [FontId::proportional(15.0), FontId::monospace(13.0)] {
                let missing: Vec<char> = line
                    .chars()
                    .filter(|c| !ctx.fonts_mut(|f| f.has_glyph(&font, *c)))
                    .collect();
                assert!(missing.is_empty(), "{line:?} lacks {missing:?} in {font:?}");
            }
        }
        // Without ours, the default fonts show these as boxes: the test means something.
        let plain = Context::default();
        plain.run_ui(Default::default(), |_| {}).textures_delta.clear();
        assert!(!plain.fonts_mut(|f| f.has_glyph(&FontId::proportional(15.0), 'ש')));
        assert!(!plain.fonts_mut(|f| f.has_glyph(&FontId::proportional(15.0), '你')));
    }

    #[test]
    fn every_icon_the_app_draws_has_a_glyph() {
        let ctx = context();
        let icons = ["☰", "⬅", "ℹ", "🔍", "×", "✔", "🕓", "…"];
        for icon in icons {
            assert!(
                ctx.fonts_mut(|f| f.has_glyphs(&FontId::proportional(16.0), icon)),
                "{icon}"
            );
        }
    }
}
