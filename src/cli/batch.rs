//! `nstyle batch`: many transfers in one process, from a manifest (CSV or JSON lines) or
//! the cartesian product of two folders. Idempotent (a row whose output exists is
//! skipped; outputs are written atomically, so a killed batch reruns only what is
//! missing), shardable (row index mod N == I, from `--shard`, a Kubernetes Indexed Job or
//! a Slurm array), and one bad row fails only itself. A summary JSON is rewritten
//! (atomically) after every row.

use super::args::{load, BatchArgs};
use super::error_line;
use super::progress::CtrlC;
use anyhow::{bail, Context, Result};
use nstyle::image_io;
use nstyle::run::{InitChoice, InitSpec, Job, StopReason, Summary, TransferOptions};
use nstyle::Vgg19Weights;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use super::manifest::{folders, read_manifest, Row, RowSpec};

/// Which rows this process runs, and where that was decided.
#[derive(Debug, PartialEq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
    pub from: String,
}

pub fn batch(a: BatchArgs) -> Result<ExitCode> {
    let shard = shard_from(&a, |k| std::env::var(k).ok())?;
    if let Some(n) = a.threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("cannot set up the worker threads")?;
    }
    let base = a.job.options();
    base.check(true)?;
    let manifest = match (&a.manifest, &a.photos, &a.paintings, &a.out) {
        (Some(m), ..) => read_manifest(m)?,
        (None, Some(p), Some(q), Some(o)) => folders(p, q, o)?,
        _ => bail!("give a MANIFEST, or --photos DIR --paintings DIR --out DIR"),
    };
    let summary_path = a.summary.clone().unwrap_or_else(|| {
        let (dir, stem) = &manifest.default_summary;
        let name = if shard.count > 1 {
            format!(
                "{stem}.shard-{}-of-{}.summary.json",
                shard.index, shard.count
            )
        } else {
            format!("{stem}.summary.json")
        };
        dir.join(name)
    });
    let mine: Vec<&Row> = manifest
        .rows
        .iter()
        .filter(|r| r.index % shard.count == shard.index)
        .collect();
    if !a.quiet {
        eprintln!(
            "nstyle batch: {} of {} rows (shard {}/{}, {}); summary {}",
            mine.len(),
            manifest.rows.len(),
            shard.index,
            shard.count,
            shard.from,
            summary_path.display()
        );
    }
    let start = Instant::now();
    let ctrl_c = CtrlC::install(a.quiet);
    let mut runner = Runner {
        args: &a,
        base,
        weights: None,
        ctrl_c,
    };
    let mut report = Report {
        manifest: manifest.source.clone(),
        shard: &shard,
        rows_total: manifest.rows.len(),
        rows_in_shard: mine.len(),
        done: Vec::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
        interrupted: false,
    };
    for (k, row) in mine.iter().enumerate() {
        let outcome = runner.run(row);
        let output = row
            .spec
            .as_ref()
            .map(|s| s.output.display().to_string())
            .ok();
        let line = match &outcome {
            RowOutcome::Done(s) => {
                report.done.push(json!({
                    "row": row.index,
                    "output": output,
                    "iterations": s.iterations,
                    "evaluations": s.evaluations,
                    "stop": s.stop,
                    "total": s.losses.total,
                    "elapsed_s": s.elapsed_s,
                }));
                format!(
                    "done ({} iterations, {:.1} s, {})",
                    s.iterations, s.elapsed_s, s.stop
                )
            }
            RowOutcome::Skipped => {
                report
                    .skipped
                    .push(json!({"row": row.index, "output": output}));
                "skipped (output exists)".into()
            }
            RowOutcome::Failed(e) => {
                report
                    .failed
                    .push(json!({"row": row.index, "output": output, "error": e}));
                format!("failed: {e}")
            }
            RowOutcome::Interrupted => {
                report.interrupted = true;
                "interrupted (nothing written)".into()
            }
        };
        if !a.quiet || matches!(outcome, RowOutcome::Failed(_)) {
            eprintln!(
                "[{}/{}] row {}{}: {line}",
                k + 1,
                mine.len(),
                row.index,
                output.map(|o| format!(" -> {o}")).unwrap_or_default()
            );
        }
        report.write(&summary_path, start.elapsed().as_secs_f64())?;
        if report.interrupted {
            break;
        }
    }
    report.write(&summary_path, start.elapsed().as_secs_f64())?;
    if !a.quiet {
        eprintln!(
            "nstyle batch: {} done, {} skipped, {} failed in {:.1} s; wrote {}",
            report.done.len(),
            report.skipped.len(),
            report.failed.len(),
            start.elapsed().as_secs_f64(),
            summary_path.display()
        );
    }
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--shard I/N`, else the index a cluster scheduler gives the process, else every row.
pub fn shard_from(a: &BatchArgs, env: impl Fn(&str) -> Option<String>) -> Result<Shard> {
    let number = |what: &str, v: &str| -> Result<usize> {
        v.trim()
            .parse()
            .with_context(|| format!("{what} must be a whole number, got '{v}'"))
    };
    let checked = |index: usize, count: usize, from: String| -> Result<Shard> {
        if count == 0 || index >= count {
            bail!("shard {index} of {count} does not exist ({from}): need 0 <= I < N");
        }
        Ok(Shard { index, count, from })
    };
    if let Some(s) = &a.shard {
        let (i, n) = s
            .split_once('/')
            .with_context(|| format!("--shard must be I/N (e.g. 0/4), got '{s}'"))?;
        return checked(
            number("--shard I", i)?,
            number("--shard N", n)?,
            "--shard".into(),
        );
    }
    if let Some(i) = env("JOB_COMPLETION_INDEX") {
        let (n, from) = match (a.shard_count, env("NSTYLE_SHARD_COUNT")) {
            (Some(n), _) => (n, "--shard-count"),
            (None, Some(n)) => (number("NSTYLE_SHARD_COUNT", &n)?, "NSTYLE_SHARD_COUNT"),
            (None, None) => bail!(
                "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not the number of shards: give --shard-count N or set NSTYLE_SHARD_COUNT to the Job's completions"
            ),
        };
        let i = number("JOB_COMPLETION_INDEX", &i)?;
        return checked(i, n, format!("JOB_COMPLETION_INDEX and {from}"));
    }
    if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
        let n = match (a.shard_count, env("SLURM_ARRAY_TASK_COUNT")) {
            (Some(n), _) => n,
            (None, Some(n)) => number("SLURM_ARRAY_TASK_COUNT", &n)?,
            (None, None) => bail!("SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT"),
        };
        // An array 1-4 numbers its tasks from 1: count from the array's first id.
        let min = env("SLURM_ARRAY_TASK_MIN")
            .map(|m| number("SLURM_ARRAY_TASK_MIN", &m))
            .transpose()?
            .unwrap_or(0);
        let id = number("SLURM_ARRAY_TASK_ID", &id)?;
        let i = id.checked_sub(min).with_context(|| {
            format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}")
        })?;
        return checked(
            i,
            n,
            "SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT".into(),
        );
    }
    if a.shard_count.is_some() {
        bail!("--shard-count needs $JOB_COMPLETION_INDEX or $SLURM_ARRAY_TASK_ID (or give --shard I/N)");
    }
    Ok(Shard {
        index: 0,
        count: 1,
        from: "all rows".into(),
    })
}

enum RowOutcome {
    Done(Summary),
    Skipped,
    Failed(String),
    Interrupted,
}

struct Runner<'a> {
    args: &'a BatchArgs,
    base: TransferOptions,
    /// The last weights loaded, by the path they came from.
    weights: Option<(Option<PathBuf>, Vgg19Weights)>,
    ctrl_c: CtrlC,
}

impl Runner<'_> {
    fn run(&mut self, row: &Row) -> RowOutcome {
        if self.ctrl_c.pressed() {
            return RowOutcome::Interrupted;
        }
        let spec = match &row.spec {
            Ok(s) => s,
            Err(e) => return RowOutcome::Failed(e.clone()),
        };
        // A complete output is there to stay: outputs are renamed into place when whole.
        if spec.output.is_file() {
            return RowOutcome::Skipped;
        }
        match self.transfer(spec) {
            Ok(Some(summary)) => RowOutcome::Done(summary),
            Ok(None) => RowOutcome::Interrupted,
            Err(e) => RowOutcome::Failed(error_line(&e)),
        }
    }

    /// Runs one row and writes its output; `None` when Ctrl-C stopped it (nothing is
    /// written, so a rerun does it again).
    fn transfer(&mut self, row: &RowSpec) -> Result<Option<Summary>> {
        let mut options = self.base.clone();
        for (name, value) in &row.overrides {
            options.set(name, value)?;
        }
        options.check(row.content.is_some())?;
        options.style_weights(row.styles.len())?;
        if let Some(dir) = row.output.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        }
        image_io::check_output_path(&row.output, self.args.sixteen_bit)?;
        let content = row
            .content
            .as_deref()
            .map(load)
            .transpose()?
            .map(|l| l.image);
        let styles = row
            .styles
            .iter()
            .map(|p| Ok(load(p)?.image))
            .collect::<Result<Vec<_>>>()?;
        let init = match options.init_choice() {
            InitChoice::Noise => InitSpec::Noise,
            InitChoice::Content => InitSpec::Content,
            InitChoice::File(p) => InitSpec::Image(load(p)?.image),
        };
        let job = Job::new(options.job_spec(content, styles, init)?)?;
        if self.weights.as_ref().map(|w| &w.0) != Some(&options.weights) {
            self.weights = None;
            self.weights = Some((options.weights.clone(), options.load_weights()?));
        }
        let weights = &self.weights.as_ref().expect("loaded above").1;
        let result = job.run(weights, &mut self.ctrl_c)?;
        if result.summary.stop == StopReason::Interrupted {
            return Ok(None);
        }
        image_io::save_image(
            &row.output,
            &image_io::from_network(&result.image),
            self.args.sixteen_bit,
        )?;
        Ok(Some(result.summary))
    }
}

/// The summary file's content.
struct Report<'a> {
    manifest: String,
    shard: &'a Shard,
    rows_total: usize,
    rows_in_shard: usize,
    done: Vec<Value>,
    skipped: Vec<Value>,
    failed: Vec<Value>,
    interrupted: bool,
}

impl Report<'_> {
    fn write(&self, path: &Path, elapsed_s: f64) -> Result<()> {
        let v = json!({
            "manifest": self.manifest,
            "shard": {"index": self.shard.index, "count": self.shard.count, "from": self.shard.from},
            "rows_total": self.rows_total,
            "rows_in_shard": self.rows_in_shard,
            "counts": {
                "done": self.done.len(),
                "skipped": self.skipped.len(),
                "failed": self.failed.len(),
            },
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "interrupted": self.interrupted,
            "elapsed_s": elapsed_s,
        });
        let text = serde_json::to_string_pretty(&v)? + "\n";
        image_io::write_atomically(path, |w| w.write_all(text.as_bytes()))?;
        Ok(())
    }
}
