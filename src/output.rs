//! Losing no work at the end of a run: before it starts, check that the output can be
//! written (directory writable, room for the image); if saving still fails at the end (a
//! full disk, a file system remounted read-only, permissions changed), write the result to
//! a fallback location and say where.

use crate::image_io::{check_output_path, save_image};
use crate::{Error, Result};
use image::Rgb32FImage;
use std::path::{Path, PathBuf};

/// Bytes kept free beyond the image itself (file system metadata, the temporary copy).
const MARGIN: u64 = 1 << 20;

/// Checks that an image of `width x height` can be written at `path`: the format and
/// directory (as [`check_output_path`]), a file can be created there, and the file system
/// has room for the uncompressed image.
pub fn check_room(path: &Path, width: usize, height: usize, sixteen_bit: bool) -> Result<()> {
    check_output_path(path, sixteen_bit)?;
    let dir = parent_dir(path);
    tempfile::Builder::new()
        .prefix(".nstyle-probe-")
        .tempfile_in(dir)
        .map_err(|e| Error::image(path, format!("cannot write in {}: {e}", dir.display())))?;
    let need = (width * height * 3 * if sixteen_bit { 2 } else { 1 }) as u64 + MARGIN;
    if let Some(free) = free_bytes(dir) {
        if free < need {
            return Err(Error::image(
                path,
                format!(
                    "not enough space in {} (the image needs about {} KiB, {} KiB free)",
                    dir.display(),
                    need / 1024,
                    free / 1024
                ),
            ));
        }
    }
    Ok(())
}

/// Saves `img` at `path`; if that fails, saves it at [`rescue_path`] and returns
/// [`Error::Rescued`] naming both. Only when the rescue fails too is the result lost, and
/// the error says so.
pub fn save_or_rescue(path: &Path, img: &Rgb32FImage, sixteen_bit: bool) -> Result<()> {
    let error = match save_image(path, img, sixteen_bit) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    for rescued in rescue_paths(path) {
        if save_image(&rescued, img, sixteen_bit).is_ok() {
            return Err(Error::Rescued {
                error: error.to_string(),
                rescued,
            });
        }
    }
    Err(Error::image(
        path,
        format!("{error}; no fallback location could be written either"),
    ))
}

/// Where a result goes when `out` cannot be written: the temporary directory, then the
/// current one, as `nstyle-rescued-<pid>-<name>`.
pub fn rescue_paths(out: &Path) -> Vec<PathBuf> {
    let name = out
        .file_name()
        .map_or("out.png".into(), |n| n.to_string_lossy().into_owned());
    let file = format!("nstyle-rescued-{}-{name}", std::process::id());
    let mut dirs = vec![std::env::temp_dir()];
    if let Ok(cwd) = std::env::current_dir() {
        dirs.push(cwd);
    }
    dirs.into_iter().map(|d| d.join(&file)).collect()
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Free bytes for an unprivileged writer in `dir`, where the system says.
fn free_bytes(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid NUL-terminated path and `s` a properly sized out-parameter.
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            return None;
        }
        Some(s.f_bavail as u64 * s.f_frsize as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}
