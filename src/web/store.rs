//! `--data DIR`: each ended job in `DIR/jobs/ID/` (its settings and summary, its events
//! as the `--log` JSON lines, the result as 16-bit PNG, small copies of its inputs), read
//! back at start so results survive a restart. Paths are made only from server-made ids.

use super::jobs::{Record, Settings, State};
use anyhow::{Context, Result};
use nstyle::image_io::write_atomically;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A job id: what the server makes (`valid_id`), the only thing a path is built from.
pub fn valid_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
}

/// What `job.json` holds.
#[derive(Serialize, Deserialize)]
struct Saved {
    id: String,
    created: u64,
    settings: Settings,
    state: State,
    summary: Option<Value>,
    error: Option<String>,
    has_result: bool,
}

pub struct Store {
    root: PathBuf,
}

/// The files of one ended job.
pub struct Files<'a> {
    pub events: &'a [Arc<str>],
    pub result: Option<&'a [u8]>,
    pub thumbs: [Option<&'a [u8]>; 2],
}

pub const THUMB_NAMES: [&str; 2] = ["content.png", "style.png"];

impl Store {
    /// Opens (and creates) `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        let root = dir.join("jobs");
        std::fs::create_dir_all(&root)
            .with_context(|| format!("{}: cannot create the data directory", root.display()))?;
        Ok(Store { root })
    }

    fn dir(&self, id: &str) -> Option<PathBuf> {
        valid_id(id).then(|| self.root.join(id))
    }

    /// Saves an ended job.
    pub fn save(&self, r: &Record, files: Files) -> Result<()> {
        let dir = self.dir(&r.id).context("bad job id")?;
        std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
        let saved = Saved {
            id: r.id.clone(),
            created: r.created,
            settings: r.settings.clone(),
            state: r.state,
            summary: r.summary.clone(),
            error: r.error.clone(),
            has_result: files.result.is_some(),
        };
        if let Some(png) = files.result {
            write_atomically(&dir.join("result.png"), |w| w.write_all(png))?;
        }
        for (name, bytes) in THUMB_NAMES.iter().zip(files.thumbs) {
            if let Some(b) = bytes {
                write_atomically(&dir.join(name), |w| w.write_all(b))?;
            }
        }
        write_atomically(&dir.join("events.jsonl"), |w| {
            files.events.iter().try_for_each(|e| writeln!(w, "{e}"))
        })?;
        // Last: a job with a job.json is whole.
        let json = serde_json::to_vec_pretty(&saved)?;
        write_atomically(&dir.join("job.json"), |w| w.write_all(&json))?;
        Ok(())
    }

    /// Every saved job, oldest first (unreadable ones are skipped with a warning).
    pub fn load(&self) -> Vec<Record> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut records = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(dir) = self.dir(&name) else { continue };
            let saved: Option<Saved> = std::fs::read(dir.join("job.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            match saved {
                Some(s) if s.id == name => {
                    let mut r = Record::new(s.id, s.settings, s.state);
                    r.created = s.created;
                    r.summary = s.summary;
                    r.error = s.error;
                    r.has_result = s.has_result;
                    r.events = None;
                    records.push(r);
                }
                _ => super::warn(format!("{}: not a saved job, skipped", dir.display())),
            }
        }
        records.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        records
    }

    pub fn events(&self, id: &str) -> Vec<Arc<str>> {
        self.dir(id)
            .and_then(|d| std::fs::read_to_string(d.join("events.jsonl")).ok())
            .map(|s| s.lines().map(Arc::from).collect())
            .unwrap_or_default()
    }

    pub fn result(&self, id: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir(id)?.join("result.png")).ok()
    }

    pub fn thumb(&self, id: &str, which: usize) -> Option<Vec<u8>> {
        std::fs::read(self.dir(id)?.join(THUMB_NAMES.get(which)?)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::valid_id;

    #[test]
    fn ids_are_plain() {
        assert!(valid_id("18a3f-2"));
        for bad in ["", "..", "a/b", "A", "a.b", &"a".repeat(41)] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
