//! grid.json: what a sweep has done. Each finished cell's record (its arguments, the
//! options it varies, where it is on the sheet, its summary) is written after every cell;
//! a rerun reuses the cells whose arguments match a record and whose image is there.

use super::grid::{Cell, GridArgs};
use super::grid_spec::Axis;
use anyhow::{anyhow, Result};
use nstyle::image_io;
use nstyle::run::Summary;
use serde_json::{json, Value};
use std::path::Path;

/// A finished cell: its image for the sheet and its record for grid.json.
pub struct Done {
    pub image: image::RgbImage,
    pub record: Value,
}

/// The cells an earlier run finished: same arguments, image still readable. Images that
/// now belong at another position (values were added) are moved there.
pub fn reuse(json_path: &Path, out: &Path, cells: &[Cell]) -> Result<Vec<Option<Done>>> {
    let mut done: Vec<Option<Done>> = cells.iter().map(|_| None).collect();
    let text = match std::fs::read_to_string(json_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(anyhow!("{}: {e}", json_path.display())),
    };
    let old: Value = serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{}: not a grid record ({e}); remove it or choose another --out",
            json_path.display()
        )
    })?;
    let records = old["cells"].as_array().cloned().unwrap_or_default();
    let mut moved = Vec::new();
    for (k, cell) in cells.iter().enumerate() {
        let found = records.iter().find(|r| {
            r["args"] == json!(cell.args) && r["losses"].is_object() && r["image"].is_string()
        });
        let Some(r) = found else { continue };
        let path = out.join(r["image"].as_str().unwrap_or_default());
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(img) = image::load_from_memory(&bytes) else {
            continue;
        };
        if path != cell.image {
            moved.push((cell.image.clone(), bytes));
        }
        let mut record = r.clone();
        record["row"] = json!(cell.row);
        record["col"] = json!(cell.col);
        record["name"] = json!(cell.name);
        record["image"] = json!(format!("cells/{}.png", cell.name));
        done[k] = Some(Done {
            image: img.to_rgb8(),
            record,
        });
    }
    // Every old image is read before any is overwritten.
    for (path, bytes) in moved {
        image_io::write_atomically(&path, |w| w.write_all(&bytes))?;
    }
    Ok(done)
}

/// A finished cell's entry in grid.json: where it is, what it varies, its arguments, and
/// its summary's fields (iterations, stop, losses, elapsed_s, ...; docs/EVENTS.md).
pub fn record(cell: &Cell, s: &Summary) -> Value {
    let finished_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut r = json!({
        "row": cell.row,
        "col": cell.col,
        "name": cell.name,
        "image": format!("cells/{}.png", cell.name),
        "varies": cell
            .varies
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<serde_json::Map<_, _>>(),
        "args": cell.args,
        "finished_at": finished_at,
    });
    if let (Some(r), Ok(Value::Object(summary))) = (r.as_object_mut(), serde_json::to_value(s)) {
        r.extend(summary);
    }
    r
}

/// The sheet's size and where each cell went.
pub struct Placed {
    pub width: u32,
    pub height: u32,
    pub cells: Vec<Value>,
}

fn axis_json(axis: &Axis) -> Value {
    json!({
        "title": axis.title,
        "items": axis.items.iter().map(|i| json!({
            "label": i.label,
            "options": i.options.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Writes grid.json (atomically): the sweep and every finished cell.
pub fn write_json(
    path: &Path,
    a: &GridArgs,
    rows: &Axis,
    cols: &Axis,
    cells: &[Cell],
    done: &[Option<Done>],
    placed: Option<&Placed>,
) -> Result<()> {
    let records: Vec<Value> = cells
        .iter()
        .zip(done)
        .filter_map(|(_, d)| d.as_ref())
        .map(|d| d.record.clone())
        .collect();
    let mut records = records;
    if let Some(p) = placed {
        for r in &mut records {
            let k = r["row"].as_u64().unwrap_or(0) as usize * cols.items.len()
                + r["col"].as_u64().unwrap_or(0) as usize;
            r["placed"] = p.cells.get(k).cloned().unwrap_or(Value::Null);
        }
    }
    let value = json!({
        "nstyle": env!("CARGO_PKG_VERSION"),
        "title": a.title,
        "transfer": a.transfer,
        "rows": axis_json(rows),
        "cols": axis_json(cols),
        "cells_total": cells.len(),
        "sheet": placed.map(|p| json!({"image": "sheet.png", "width": p.width, "height": p.height})),
        "cells": records,
    });
    let text = serde_json::to_string_pretty(&value).expect("JSON values serialise");
    Ok(image_io::write_atomically(path, |w| {
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")
    })?)
}
