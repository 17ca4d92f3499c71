//! Preferences kept between runs: the theme the user chose.

use std::path::Path;

use egui::Theme;

/// The remembered theme, if the file exists and names one.
pub fn load_theme(path: &Path) -> Option<Theme> {
    match std::fs::read_to_string(path).ok()?.trim() {
        "dark" => Some(Theme::Dark),
        "light" => Some(Theme::Light),
        _ => None,
    }
}

/// Remembers the theme.
pub fn save_theme(path: &Path, theme: Theme) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let name = match theme {
        Theme::Dark => "dark",
        Theme::Light => "light",
    };
    std::fs::write(path, format!("{name}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_theme_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/theme.txt");
        assert_eq!(load_theme(&path), None);
        save_theme(&path, Theme::Dark).unwrap();
        assert_eq!(load_theme(&path), Some(Theme::Dark));
        save_theme(&path, Theme::Light).unwrap();
        assert_eq!(load_theme(&path), Some(Theme::Light));
    }
}
