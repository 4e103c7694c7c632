//! Observers every front end can attach: the JSONL event log and image snapshots.

use super::events::{Event, Observer};
use crate::image_io::{from_network, save_image};
use crate::tensor::InputImage;
use crate::{Error, Result};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// Writes every event as one JSON line (the `--log` file; schema in docs/EVENTS.md).
/// A write error stops the job and is kept for [`JsonlLog::finish`].
pub struct JsonlLog<W: Write> {
    out: W,
    path: PathBuf,
    error: Option<Error>,
}

impl JsonlLog<std::io::BufWriter<std::fs::File>> {
    /// A log file at `path` (created or truncated).
    pub fn create(path: &Path) -> Result<Self> {
        let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(JsonlLog {
            out: std::io::BufWriter::new(f),
            path: path.to_path_buf(),
            error: None,
        })
    }
}

impl<W: Write> JsonlLog<W> {
    /// Flushes the log; the first write error, if any.
    pub fn finish(mut self) -> Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

impl<W: Write> Observer for JsonlLog<W> {
    fn on_event(&mut self, event: &Event, _: Option<&InputImage>) -> ControlFlow<()> {
        if self.error.is_some() {
            return ControlFlow::Break(());
        }
        let line = serde_json::to_string(event).expect("events serialise");
        match writeln!(self.out, "{line}") {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(Error::io(&self.path, e));
                ControlFlow::Break(())
            }
        }
    }
}

/// Saves each snapshot beside the output: `OUT_iterN.ext`, or `OUT_stageK_iterN.ext` in a
/// multi-scale run. A save error stops the job and is kept for [`Snapshots::finish`].
pub struct Snapshots {
    output: PathBuf,
    sixteen_bit: bool,
    multiscale: bool,
    error: Option<Error>,
}

impl Snapshots {
    pub fn new(output: &Path, sixteen_bit: bool, multiscale: bool) -> Self {
        Snapshots {
            output: output.to_path_buf(),
            sixteen_bit,
            multiscale,
            error: None,
        }
    }

    /// The first save error, if any.
    pub fn finish(self) -> Result<()> {
        self.error.map_or(Ok(()), Err)
    }

    /// Where the snapshot of `stage`, `iteration` goes.
    pub fn path(&self, stage: usize, iteration: usize) -> PathBuf {
        let suffix = if self.multiscale {
            format!("_stage{stage}_iter{iteration}")
        } else {
            format!("_iter{iteration}")
        };
        sibling_path(&self.output, &suffix)
    }
}

impl Observer for Snapshots {
    fn on_event(&mut self, event: &Event, image: Option<&InputImage>) -> ControlFlow<()> {
        let (
            Event::Snapshot {
                stage, iteration, ..
            },
            Some(x),
        ) = (event, image)
        else {
            return ControlFlow::Continue(());
        };
        let path = self.path(*stage, *iteration);
        match save_image(&path, &from_network(x), self.sixteen_bit) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

/// `dir/out.png` + `_iter5` -> `dir/out_iter5.png`.
pub fn sibling_path(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("out");
    let ext = out.extension().and_then(|s| s.to_str()).unwrap_or("png");
    out.with_file_name(format!("{stem}{suffix}.{ext}"))
}
