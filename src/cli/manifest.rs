//! `nstyle batch`'s inputs: manifests (CSV with a header, or JSON lines) and the
//! cartesian product of a photos folder and a paintings folder, read into rows. A row that
//! cannot be read carries its error, so it fails alone.

use anyhow::{bail, Context, Result};
use nstyle::run::TransferOptions;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One row's job as the manifest states it.
pub(super) struct RowSpec {
    pub(super) content: Option<PathBuf>,
    pub(super) styles: Vec<PathBuf>,
    pub(super) output: PathBuf,
    /// (canonical option name, value) from the row's further columns.
    pub(super) overrides: Vec<(&'static str, String)>,
}

/// A row: its index (0-based, the shard key) and what it asks, or why it cannot be read.
pub(super) struct Row {
    pub(super) index: usize,
    pub(super) spec: std::result::Result<RowSpec, String>,
}

/// The rows, the folder relative paths are resolved against, and the default summary.
pub(super) struct Manifest {
    pub(super) rows: Vec<Row>,
    pub(super) source: String,
    pub(super) default_summary: (PathBuf, String),
}

pub(super) const KEY_COLUMNS: [&str; 3] = ["content", "style", "output"];
pub(super) const IMAGE_EXTENSIONS: [&str; 8] =
    ["png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp", "jfif"];

/// `dir/jobs.csv` -> (`dir`, `jobs`).
pub(super) fn beside(path: &Path) -> (PathBuf, String) {
    let dir = match path.parent() {
        Some(p) => p.to_path_buf(),
        None => PathBuf::new(),
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "batch".into());
    (dir, stem)
}

/// A relative path in a manifest is relative to the manifest's folder.
pub(super) fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The canonical name of a manifest column or key: one of the three key columns or a
/// transfer option (`style_weight` and `style-weight` alike).
pub(super) fn column(name: &str) -> Option<&'static str> {
    let key = name.trim().to_ascii_lowercase();
    KEY_COLUMNS
        .iter()
        .copied()
        .find(|k| *k == key)
        .or_else(|| TransferOptions::canonical_name(&key))
}

/// A row from (column, value) pairs; empty values leave the batch-wide setting.
pub(super) fn row_spec(
    base: &Path,
    cells: Vec<(&'static str, String)>,
) -> std::result::Result<RowSpec, String> {
    let mut content = None;
    let mut styles = Vec::new();
    let mut output = None;
    let mut overrides = Vec::new();
    for (name, value) in cells {
        let value = value.trim().to_string();
        if value.is_empty() {
            continue;
        }
        match name {
            "content" => content = Some(resolve(base, &value)),
            "style" => {
                styles = value
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| resolve(base, s))
                    .collect()
            }
            "output" => output = Some(resolve(base, &value)),
            // Files named in a row are relative to the manifest, like its images.
            "init" if !matches!(value.as_str(), "noise" | "content") => {
                overrides.push((name, resolve(base, &value).display().to_string()))
            }
            "weights" => overrides.push((name, resolve(base, &value).display().to_string())),
            _ => overrides.push((name, value)),
        }
    }
    let output = output.ok_or("no output given")?;
    if styles.is_empty() {
        return Err("no style image given".into());
    }
    Ok(RowSpec {
        content,
        styles,
        output,
        overrides,
    })
}

/// A CSV (with a header) or JSON-lines manifest.
pub(super) fn read_manifest(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let (base, stem) = beside(path);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let jsonl = matches!(ext.as_deref(), Some("jsonl" | "ndjson" | "json"))
        || text.trim_start().starts_with('{');
    let rows = if jsonl {
        json_rows(&text, &base)
    } else {
        csv_rows(&text, &base).with_context(|| format!("{}", path.display()))?
    };
    Ok(Manifest {
        rows,
        source: path.display().to_string(),
        default_summary: (base, stem),
    })
}

pub(super) fn csv_rows(text: &str, base: &Path) -> Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .context("cannot read the CSV header")?
        .clone();
    let mut names = Vec::new();
    for h in &header {
        match column(h) {
            Some(n) if names.contains(&n) => bail!("column '{h}' is given twice"),
            Some(n) => names.push(n),
            None => bail!(
                "column '{h}' is neither content, style, output nor a transfer option (e.g. style_weight)"
            ),
        }
    }
    for k in KEY_COLUMNS {
        if k != "content" && !names.contains(&k) {
            bail!("the header has no '{k}' column (content, style and output are expected)");
        }
    }
    Ok(reader
        .records()
        .enumerate()
        .map(|(index, rec)| Row {
            index,
            spec: rec
                .map_err(|e| format!("unreadable CSV row: {e}"))
                .and_then(|r| {
                    row_spec(
                        base,
                        names
                            .iter()
                            .copied()
                            .zip(r.iter().map(String::from))
                            .collect(),
                    )
                }),
        })
        .collect())
}

pub(super) fn json_rows(text: &str, base: &Path) -> Vec<Row> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(index, line)| Row {
            index,
            spec: json_row(line).and_then(|cells| row_spec(base, cells)),
        })
        .collect()
}

pub(super) fn json_row(line: &str) -> std::result::Result<Vec<(&'static str, String)>, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let Value::Object(map) = v else {
        return Err("not a JSON object".into());
    };
    let mut cells = Vec::new();
    for (k, v) in map {
        let name = column(&k).ok_or_else(|| {
            format!("key '{k}' is neither content, style, output nor a transfer option")
        })?;
        let text = match v {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Array(items) if name == "style" => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(String::from)
                        .ok_or("style entries must be strings")
                })
                .collect::<std::result::Result<Vec<_>, _>>()?
                .join(";"),
            other => return Err(format!("key '{k}' has an unusable value {other}")),
        };
        cells.push((name, text));
    }
    Ok(cells)
}

/// Image files in `dir`, sorted by name.
pub(super) fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    v.sort();
    if v.is_empty() {
        bail!("{}: no images (png, jpg, webp, tif, bmp)", dir.display());
    }
    Ok(v)
}

/// Every photo with every painting (photo-major, both sorted by name), written to
/// `out/PHOTO__PAINTING.png`.
pub(super) fn folders(photos: &Path, paintings: &Path, out: &Path) -> Result<Manifest> {
    let photos = images_in(photos)?;
    let paintings = images_in(paintings)?;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let stem = |p: &Path| {
        p.file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    let mut rows = Vec::new();
    for c in &photos {
        for s in &paintings {
            rows.push(Row {
                index: rows.len(),
                spec: Ok(RowSpec {
                    content: Some(c.clone()),
                    styles: vec![s.clone()],
                    output: out.join(format!("{}__{}.png", stem(c), stem(s))),
                    overrides: Vec::new(),
                }),
            });
        }
    }
    Ok(Manifest {
        rows,
        source: format!("{} x {}", photos.len(), paintings.len()),
        default_summary: (out.to_path_buf(), "batch".into()),
    })
}
