//! Uploaded images: checked by decoding them (by content, with the command line's limits)
//! when they arrive, kept as sent under a server-made id (never a client's name, and
//! never on disk), a bounded number and size of them. A job names its photo and painting
//! by upload id or as a bundled example.

use super::assets::{self, Example};
use super::http::HttpError;
use nstyle::image_io::{decode_image, LoadedImage};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Uploads kept at once, and their total size; the oldest go first.
const MAX_UPLOADS: usize = 32;
const MAX_TOTAL_BYTES: usize = 512 << 20;

/// Decoding a large image takes gigabytes: one at a time, whatever the connections.
static DECODING: Mutex<()> = Mutex::new(());

/// One uploaded image, as sent.
pub struct Upload {
    pub id: String,
    /// For people only (the client's file name, cleaned); never a path.
    pub name: String,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// A job's photo or painting.
#[derive(Clone)]
pub enum Input {
    Upload(Arc<Upload>),
    Example(&'static Example),
}

impl Input {
    pub fn name(&self) -> String {
        match self {
            Input::Upload(u) => u.name.clone(),
            Input::Example(e) => format!("{} (example)", e.name),
        }
    }

    /// Decodes the image (again: uploads are kept encoded).
    pub fn decode(&self) -> Result<LoadedImage, HttpError> {
        let (bytes, name) = match self {
            Input::Upload(u) => (&u.bytes[..], u.name.clone()),
            Input::Example(e) => (e.bytes, e.name.to_string()),
        };
        decode(bytes, &name)
    }
}

/// Decodes with the command line's limits; a client's mistake is a 4xx.
pub fn decode(bytes: &[u8], name: &str) -> Result<LoadedImage, HttpError> {
    let _one = DECODING.lock().unwrap_or_else(|e| e.into_inner());
    decode_image(bytes, Path::new(name)).map_err(|e| match e {
        nstyle::Error::TooLarge(m) => HttpError::new(413, m),
        e => HttpError::new(400, e.to_string().replace('\n', " ")),
    })
}

#[derive(Default)]
pub struct Uploads {
    items: Mutex<VecDeque<Arc<Upload>>>,
}

impl Uploads {
    /// Checks and keeps an upload; `name` is what the client called it.
    pub fn add(&self, bytes: Vec<u8>, name: &str, id: String) -> Result<Arc<Upload>, HttpError> {
        if bytes.is_empty() {
            return Err(HttpError::new(
                400,
                "empty upload (send the image file as the body)",
            ));
        }
        let name = clean_name(name);
        let loaded = decode(&bytes, &name)?;
        let (width, height) = loaded.image.dimensions();
        drop(loaded);
        let upload = Arc::new(Upload {
            id,
            name,
            bytes,
            width,
            height,
        });
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items.push_back(upload.clone());
        while items.len() > MAX_UPLOADS
            || items.iter().map(|u| u.bytes.len()).sum::<usize>() > MAX_TOTAL_BYTES
        {
            // Jobs already queued hold their own reference.
            items.pop_front();
        }
        Ok(upload)
    }

    /// `example:NAME` (a bundled image) or an upload's id.
    pub fn input(&self, reference: &str) -> Result<Input, HttpError> {
        if let Some(name) = reference.strip_prefix("example:") {
            return assets::example(name)
                .map(Input::Example)
                .ok_or_else(|| HttpError::new(404, format!("no example named '{name}'")));
        }
        let items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items
            .iter()
            .find(|u| u.id == reference)
            .map(|u| Input::Upload(u.clone()))
            .ok_or_else(|| {
                HttpError::new(
                    404,
                    "no such upload (uploads are kept for a while only: upload the image again)",
                )
            })
    }
}

/// A display name: printable characters, at most 80, no directory part.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(80).collect();
    if clean.trim().is_empty() {
        "upload".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn names_lose_directories_and_control_characters() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\x\\cat.jpg"), "cat.jpg");
        assert_eq!(clean_name("a\nb.png"), "ab.png");
        assert_eq!(clean_name(""), "upload");
    }
}
