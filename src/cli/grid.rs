//! `nstyle grid`: a sweep of transfers, one transfer option (or several together) varied
//! down the rows and another across the columns. Writes every cell's image
//! (DIR/cells/rI_cJ.png), a labelled contact sheet (DIR/sheet.png) and DIR/grid.json (each
//! cell's arguments, final raw losses, iterations, stop reason and time).
//!
//! Every cell's arguments are parsed and its job planned before the first one runs, so a
//! bad specification costs nothing. Cells run one after another, each on all cores. A cell
//! whose arguments match a record in DIR/grid.json with its image present is reused, so an
//! interrupted (or extended) sweep continues where it stopped when rerun with the same DIR.

use super::args::TransferArgs;
use super::error_line;
use super::grid_record::{self, Done, Placed};
use super::grid_spec::{self, clap_line, Axis, Item};
use super::progress::CtrlC;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Command, FromArgMatches};
use indicatif::{ProgressBar, ProgressStyle};
use nstyle::image_io::{self, from_network};
use nstyle::run::{Event, Job, Observer, Observers, StopReason};
use nstyle::sheet::{Labelled, Sheet, Strip};
use nstyle::tensor::InputImage;
use nstyle::{output, Vgg19Weights};
use serde_json::Value;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const GRID_HELP: &str = "\
OPTION is a long option of `nstyle --help` without its dashes (style-loss, style-weight,
style-layers, tv-weight, size, seed, init, ...), `content` or `style` (the two images), or
@NAME, a variable whose value replaces {NAME} in any argument. Values are separated by
commas, or by semicolons when a value contains a comma. Repeat --rows (or --cols) to vary
several options together, value by value. Flags (--quiet, --style-only, ...) cannot vary;
give them with the transfer arguments.

Writes DIR/sheet.png, DIR/cells/rI_cJ.png and DIR/grid.json. Rerunning the same command
with the same --out skips the cells already done (resume, or add values).

Examples:
  nstyle grid photo.jpg painting.jpg --size 256 --out sweep \\
      --rows style-loss=mmd-linear,mmd-poly,bn --cols style-weight=0.5,1,5
  nstyle grid --style-only painting.jpg --size 128 --out layers \\
      --cols 'style-layers=relu1_1;relu1_1,relu2_1;relu1_1,relu2_1,relu3_1'
  nstyle grid --size 256 --out pairs --cols style-loss=gram,bn \\
      --rows content=a.jpg,b.jpg --rows style=x.jpg,y.jpg --rows style-weight=2,5
  nstyle grid photo.jpg painting.jpg --style-loss 'bn:{w},mmd-poly:{v}' --out blend \\
      --cols @w=0.9,0.5,0.1 --cols @v=0.1,0.5,0.9";

/// Sweep transfer options over rows and columns: every cell's image, a labelled contact
/// sheet and grid.json.
#[derive(Args, Debug, Clone, Default)]
#[command(after_help = GRID_HELP)]
pub struct GridArgs {
    /// Vary transfer options down the rows (repeat to vary several together).
    #[arg(long, value_name = "OPTION=V1,V2,...")]
    pub rows: Vec<String>,
    /// Vary transfer options across the columns (repeat to vary several together).
    #[arg(long, value_name = "OPTION=V1,V2,...")]
    pub cols: Vec<String>,
    /// Directory for sheet.png, cells/ and grid.json (created; the same DIR resumes).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Labels of the rows on the sheet (default: the values).
    #[arg(long, value_name = "L1,L2,...")]
    pub row_labels: Option<String>,
    /// Labels of the columns on the sheet (default: the values).
    #[arg(long, value_name = "L1,L2,...")]
    pub col_labels: Option<String>,
    /// Title of the rows' labels (default: the options' names).
    #[arg(long, value_name = "TEXT")]
    pub row_title: Option<String>,
    /// Title over the columns' labels (default: the options' names).
    #[arg(long, value_name = "TEXT")]
    pub col_title: Option<String>,
    /// A title line at the top of the sheet.
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
    /// The transfer's arguments, as for `nstyle` (CONTENT STYLE and options) without -o.
    #[arg(
        value_name = "TRANSFER ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub transfer: Vec<String>,
}

/// One cell, parsed and planned.
pub struct Cell {
    pub row: usize,
    pub col: usize,
    /// `r0_c1`
    pub name: String,
    /// The transfer arguments, without `-o`: the cell's identity in grid.json.
    pub args: Vec<String>,
    /// What the cell varies, for messages.
    pub what: String,
    pub varies: Vec<(String, String)>,
    pub image: PathBuf,
    pub content: Option<PathBuf>,
    pub style: PathBuf,
    pub width: usize,
    pub height: usize,
    pub sixteen_bit: bool,
}

impl Cell {
    /// The cell's transfer arguments with its output, as `nstyle` takes them.
    fn argv(&self) -> Vec<String> {
        let mut v = self.args.clone();
        v.extend(["-o".to_string(), self.image.to_string_lossy().into_owned()]);
        v
    }
}

pub fn grid(a: GridArgs) -> Result<ExitCode> {
    let a = gather(a)?;
    let out = a
        .out
        .clone()
        .context("--out DIR is required (where the sheet, the cells and grid.json go)")?;
    if a.rows.is_empty() && a.cols.is_empty() {
        bail!("nothing varies: give --rows and/or --cols OPTION=V1,V2,... (e.g. --cols style-weight=0.5,1,5)");
    }
    let cmd = grid_spec::transfer_command();
    let base = grid_spec::split_base(&cmd, &a.transfer)?;
    let rows = grid_spec::parse_axis(
        &cmd,
        "--rows",
        &a.rows,
        a.row_labels.as_deref(),
        a.row_title.as_deref(),
    )?;
    let cols = grid_spec::parse_axis(
        &cmd,
        "--cols",
        &a.cols,
        a.col_labels.as_deref(),
        a.col_title.as_deref(),
    )?;
    grid_spec::check_axes(&base, &rows, &cols)?;
    let quiet = base.has("quiet");
    let say = |line: String| {
        if !quiet {
            eprintln!("{line}");
        }
    };

    // Every cell parsed and planned before anything is written.
    let mut cells = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for (i, row) in rows.items.iter().enumerate() {
        for (j, col) in cols.items.iter().enumerate() {
            let (cell, cell_notes) = plan_cell(&cmd, &base, (i, row), (j, col), &out)?;
            for n in cell_notes {
                if !notes.contains(&n) {
                    notes.push(n);
                }
            }
            cells.push(cell);
        }
    }
    for n in &notes {
        say(format!("note: {n}"));
    }
    let cells_dir = out.join("cells");
    std::fs::create_dir_all(&cells_dir)
        .with_context(|| format!("cannot create {}", cells_dir.display()))?;
    for c in &cells {
        output::check_room(&c.image, c.width, c.height, c.sixteen_bit)?;
    }

    let json_path = out.join("grid.json");
    let mut done = grid_record::reuse(&json_path, &out, &cells)?;
    // At once: images may have moved, and records of cells no longer in the sweep must not
    // point at the files the new cells will write.
    grid_record::write_json(&json_path, &a, &rows, &cols, &cells, &done, None)?;
    let n = cells.len();
    let before = done.iter().filter(|d| d.is_some()).count();
    say(format!(
        "grid: {} x {} = {n} cells ({} to compute, {before} done before) in {}",
        rows.items.len(),
        cols.items.len(),
        n - before,
        out.display()
    ));
    let mut ctrl_c = CtrlC::install(quiet);
    let mut weights: Option<(Option<PathBuf>, Vgg19Weights)> = None;
    let mut interrupted = false;
    for (k, cell) in cells.iter().enumerate() {
        let tag = format!("cell {}/{n} {} ({})", k + 1, cell.name, cell.what);
        if done[k].is_some() {
            say(format!("{tag}: skipped (done in an earlier run)"));
            continue;
        }
        if ctrl_c.pressed() {
            interrupted = true;
            break;
        }
        let ta = grid_spec::parse_transfer(&cmd, &cell.argv())?;
        let job = Job::new(ta.job_spec()?.0)?;
        if weights
            .as_ref()
            .is_none_or(|(p, _)| *p != ta.job.model.weights)
        {
            weights = Some((
                ta.job.model.weights.clone(),
                ta.job.options().load_weights()?,
            ));
        }
        let w = &weights.as_ref().expect("loaded above").1;
        let mut progress = CellProgress::new(quiet, &tag);
        let result = job.run(w, &mut Observers(vec![&mut progress, &mut ctrl_c]))?;
        if result.summary.stop == StopReason::Interrupted {
            // A stopped cell is not kept: the next run computes it again.
            interrupted = true;
            break;
        }
        let rgb = from_network(&result.image);
        output::save_or_rescue(&cell.image, &rgb, cell.sixteen_bit)?;
        let s = &result.summary;
        done[k] = Some(Done {
            image: image::DynamicImage::ImageRgb32F(rgb).to_rgb8(),
            record: grid_record::record(cell, s),
        });
        grid_record::write_json(&json_path, &a, &rows, &cols, &cells, &done, None)?;
        say(format!(
            "{tag}: {} iterations, {}, {:.1}s",
            s.iterations,
            stop_word(s.stop),
            s.elapsed_s
        ));
    }

    let sheet_path = out.join("sheet.png");
    let rendered = sheet(&a, &rows, &cols, &cells, &done)?;
    write_png(&sheet_path, &rendered.image)?;
    let placed = Placed {
        width: rendered.image.width(),
        height: rendered.image.height(),
        cells: rendered
            .cells
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect(),
    };
    grid_record::write_json(&json_path, &a, &rows, &cols, &cells, &done, Some(&placed))?;
    let finished = done.iter().filter(|d| d.is_some()).count();
    if interrupted {
        eprintln!(
            "interrupted: {finished} of {n} cells done (the sheet shows them); rerun the same command to continue"
        );
        return Ok(ExitCode::from(130));
    }
    say(format!(
        "done: wrote {} ({}x{} px), {n} cells in {}, and {}",
        sheet_path.display(),
        placed.width,
        placed.height,
        cells_dir.display(),
        json_path.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Takes the grid's own options out of the transfer arguments, so that they may come
/// after the images too (`nstyle grid photo.jpg painting.jpg --rows ...`).
fn gather(mut a: GridArgs) -> Result<GridArgs> {
    let cmd = GridArgs::augment_args(Command::new("nstyle grid").no_binary_name(true));
    let own: Vec<String> = cmd
        .get_arguments()
        .filter_map(|x| x.get_long())
        .map(|l| format!("--{l}"))
        .collect();
    let (mut mine, mut rest) = (Vec::new(), Vec::new());
    let mut tokens = std::mem::take(&mut a.transfer).into_iter();
    while let Some(t) = tokens.next() {
        if t == "--" {
            rest.push(t);
            rest.extend(tokens.by_ref());
            break;
        }
        let name = t.split_once('=').map_or(t.as_str(), |(n, _)| n);
        if own.iter().any(|o| o == name) {
            let inline = t.contains('=');
            mine.push(t);
            if !inline {
                mine.extend(tokens.next());
            }
        } else {
            rest.push(t);
        }
    }
    a.transfer = rest;
    if mine.is_empty() {
        return Ok(a);
    }
    let m = cmd
        .try_get_matches_from(&mine)
        .map_err(|e| anyhow!(clap_line(&e)))?;
    let b = GridArgs::from_arg_matches(&m).map_err(|e| anyhow!(clap_line(&e)))?;
    a.rows.extend(b.rows);
    a.cols.extend(b.cols);
    fn once<T>(slot: &mut Option<T>, v: Option<T>, flag: &str) -> Result<()> {
        match (slot.is_some(), v) {
            (true, Some(_)) => bail!("{flag} is given twice"),
            (_, Some(v)) => *slot = Some(v),
            _ => {}
        }
        Ok(())
    }
    once(&mut a.out, b.out, "--out")?;
    once(&mut a.row_labels, b.row_labels, "--row-labels")?;
    once(&mut a.col_labels, b.col_labels, "--col-labels")?;
    once(&mut a.row_title, b.row_title, "--row-title")?;
    once(&mut a.col_title, b.col_title, "--col-title")?;
    once(&mut a.title, b.title, "--title")?;
    Ok(a)
}

/// Parses one cell's arguments and plans its job (the images are decoded and dropped).
fn plan_cell(
    cmd: &Command,
    base: &grid_spec::Base,
    (i, row): (usize, &Item),
    (j, col): (usize, &Item),
    out: &Path,
) -> Result<(Cell, Vec<String>)> {
    let name = format!("r{i}_c{j}");
    let what = grid_spec::describe(row, col);
    let args = grid_spec::cell_args(base, row, col);
    let mut cell = Cell {
        row: i,
        col: j,
        image: out.join("cells").join(format!("{name}.png")),
        name,
        args,
        what,
        varies: row.options.iter().chain(&col.options).cloned().collect(),
        content: None,
        style: PathBuf::new(),
        width: 0,
        height: 0,
        sixteen_bit: false,
    };
    let context =
        |e: anyhow::Error| anyhow!("cell {} ({}): {}", cell.name, cell.what, error_line(&e));
    let ta: TransferArgs = grid_spec::parse_transfer(cmd, &cell.argv()).map_err(context)?;
    let (spec, notes) = ta.job_spec().map_err(context)?;
    let job = Job::new(spec).map_err(|e| context(e.into()))?;
    let plan = job.plan();
    cell.width = plan.width;
    cell.height = plan.height;
    cell.sixteen_bit = ta.sixteen_bit;
    // The sheet shows the first painting of a blend.
    match (ta.style_only, ta.inputs.as_slice()) {
        (true, [s, ..]) => cell.style = s.clone(),
        (false, [c, s, ..]) => (cell.content, cell.style) = (Some(c.clone()), s.clone()),
        _ => {}
    }
    let notes = notes.into_iter().chain(plan.notes.clone()).collect();
    Ok((cell, notes))
}

/// The contact sheet: labels from the axes; the photo and the painting in the header when
/// they are the same for every cell, else beside each row (or above each column) they
/// go with.
fn sheet(
    a: &GridArgs,
    rows: &Axis,
    cols: &Axis,
    cells: &[Cell],
    done: &[Option<Done>],
) -> Result<nstyle::sheet::Rendered> {
    let mut s = Sheet {
        title: a.title.clone().unwrap_or_default(),
        row_title: rows.title.clone(),
        col_title: cols.title.clone(),
        row_labels: rows.items.iter().map(|i| i.label.clone()).collect(),
        col_labels: cols.items.iter().map(|i| i.label.clone()).collect(),
        cells: done
            .iter()
            .map(|d| d.as_ref().map(|d| d.image.clone()))
            .collect(),
        ..Default::default()
    };
    let nc = cols.items.len();
    let mut cache: HashMap<PathBuf, image::RgbImage> = HashMap::new();
    let mut thumb = |p: &Path| -> Result<image::RgbImage> {
        if let Some(im) = cache.get(p) {
            return Ok(im.clone());
        }
        let im = image::DynamicImage::ImageRgb32F(image_io::load_image(p)?.image).to_rgb8();
        cache.insert(p.to_path_buf(), im.clone());
        Ok(im)
    };
    let inputs: [(&str, Vec<Option<PathBuf>>); 2] = [
        ("content", cells.iter().map(|c| c.content.clone()).collect()),
        (
            "style",
            cells.iter().map(|c| Some(c.style.clone())).collect(),
        ),
    ];
    for (what, paths) in inputs {
        let same = |idx: &dyn Fn(usize) -> usize| {
            paths.iter().enumerate().all(|(k, p)| *p == paths[idx(k)])
        };
        if paths.iter().any(Option::is_none) {
            continue;
        }
        let path = |k: usize| paths[k].clone().expect("checked above");
        if same(&|_| 0) {
            let p = path(0);
            let name = p
                .file_name()
                .map_or(p.to_string_lossy(), |n| n.to_string_lossy());
            s.header.push(Labelled {
                label: format!("{what}: {name}"),
                image: thumb(&p)?,
            });
        } else if same(&|k| k - k % nc) {
            let images = (0..rows.items.len())
                .map(|i| thumb(&path(i * nc)))
                .collect::<Result<_>>()?;
            s.row_strips.push(Strip {
                title: what.into(),
                images,
            });
        } else if same(&|k| k % nc) {
            let images = (0..nc).map(|j| thumb(&path(j))).collect::<Result<_>>()?;
            s.col_strips.push(Strip {
                title: what.into(),
                images,
            });
        }
    }
    Ok(s.render()?)
}

fn write_png(path: &Path, img: &image::RgbImage) -> Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| anyhow!("{}: cannot encode: {e}", path.display()))?;
    Ok(image_io::write_atomically(path, |w| {
        w.write_all(bytes.get_ref())
    })?)
}

fn stop_word(s: StopReason) -> &'static str {
    match s {
        StopReason::Converged => "converged",
        StopReason::MaxIterations => "iteration cap",
        StopReason::Stalled => "stalled",
        StopReason::Interrupted => "interrupted",
    }
}

/// A cell's progress: a bar on a terminal, else a line when the cell starts.
struct CellProgress {
    bar: Option<ProgressBar>,
}

impl CellProgress {
    fn new(quiet: bool, tag: &str) -> Self {
        if quiet {
            return CellProgress { bar: None };
        }
        if !std::io::stderr().is_terminal() {
            eprintln!("{tag}: running");
            return CellProgress { bar: None };
        }
        let b = ProgressBar::new(1);
        b.set_style(
            ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} [{elapsed_precise}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_prefix(tag.to_string());
        CellProgress { bar: Some(b) }
    }
}

impl Observer for CellProgress {
    fn on_event(&mut self, event: &Event, _: Option<&InputImage>) -> ControlFlow<()> {
        if let Some(b) = &self.bar {
            match event {
                Event::StageStarted(s) => {
                    b.set_length(s.max_iterations as u64);
                    b.set_position(0);
                }
                Event::Iteration(it) => b.set_position(it.iteration as u64),
                Event::Finished(_) | Event::Stopped(_) | Event::Failed { .. } => {
                    b.finish_and_clear()
                }
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }
}
