//! The fonts every render uses: the files pinned in `assets/fonts`, never the system's,
//! so text renders the same on every machine. Loaded once per process and shared.

use resvg::usvg::fontdb;
use std::sync::{Arc, OnceLock};

/// The family name to use in SVG scenes.
pub const FAMILY: &str = "DejaVu Sans";

pub fn database() -> Arc<fontdb::Database> {
    static DATABASE: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    DATABASE
        .get_or_init(|| {
            let mut db = fontdb::Database::new();
            let dir = crate::project_dir().join("assets/fonts");
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files.sort();
            for file in files.iter().filter(|f| f.extension().is_some_and(|x| x == "ttf")) {
                if let Ok(data) = std::fs::read(file) {
                    db.load_font_data(data);
                }
            }
            db.set_sans_serif_family(FAMILY);
            Arc::new(db)
        })
        .clone()
}

/// usvg options that use the pinned fonts.
pub fn svg_options() -> resvg::usvg::Options<'static> {
    resvg::usvg::Options { fontdb: database(), ..Default::default() }
}
