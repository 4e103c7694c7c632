//! The library's error type: every message is one line a user can act on,
//! naming the file, tensor, layer or option at fault.

use std::path::PathBuf;

/// Everything that can go wrong in nstyle's library code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An image could not be decoded, or is unusable (zero size, too large, ...).
    #[error("{path}: {msg}")]
    Image { path: PathBuf, msg: String },
    /// The weights file is not the VGG-19 this program needs.
    #[error("weights {origin}: {msg}")]
    Weights { origin: String, msg: String },
    /// A user-supplied option is impossible or malformed.
    #[error("{0}")]
    InvalidOption(String),
    /// One named option has an impossible value. `option` is the option's canonical
    /// kebab-case name (`style-weight`); each front end spells it its own way
    /// (`--style-weight`, `style_weight=`), so library messages name no front end's syntax.
    #[error("{option} {msg}")]
    InvalidValue { option: &'static str, msg: String },
    /// The requested work would not fit in memory or exceeds a documented limit.
    #[error("{0}")]
    TooLarge(String),
    /// The output could not be written, but the result was saved elsewhere.
    #[error("{error}; the result was saved to {} instead", rescued.display())]
    Rescued { error: String, rescued: PathBuf },
    /// Shapes of tensors handed to a library function do not agree.
    #[error("shape mismatch: {0}")]
    Shape(String),
}

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn image(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Image {
            path: path.into(),
            msg: msg.into(),
        }
    }
    pub(crate) fn option(msg: impl Into<String>) -> Self {
        Error::InvalidOption(msg.into())
    }
    /// `option` (canonical kebab-case name) has an impossible value; `msg` continues the
    /// sentence: `invalid("iterations", "must be at least 1")`.
    pub fn invalid(option: &'static str, msg: impl Into<String>) -> Self {
        Error::InvalidValue {
            option,
            msg: msg.into(),
        }
    }
}
