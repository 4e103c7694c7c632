//! What the binary carries for the page: its HTML, script and style (no CDN: it works
//! offline), and the example photos and paintings of `images/`. Looked up in fixed
//! tables, never by a path.

/// A bundled example image.
pub struct Example {
    /// `content` or `style`.
    pub kind: &'static str,
    pub name: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! examples {
    ($($kind:literal / $name:literal),* $(,)?) => {
        &[$(Example {
            kind: $kind,
            name: $name,
            bytes: include_bytes!(concat!("../../images/", $kind, "/", $name, ".jpg")),
        }),*]
    };
}

pub const EXAMPLES: &[Example] = examples![
    "content" / "chelsea",
    "content" / "astronaut",
    "content" / "coffee",
    "style" / "starry_night",
    "style" / "the_scream",
    "style" / "wave",
    "style" / "composition_vii",
];

pub fn example(name: &str) -> Option<&'static Example> {
    EXAMPLES.iter().find(|e| e.name == name)
}

/// The page's files: (name, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/web/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/web/app.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/web/chart.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/web/style.css"),
    ),
];

/// A page file by name (`index.html`, `app.js`, ...).
pub fn file(name: &str) -> Option<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, b)| (*t, *b))
}
