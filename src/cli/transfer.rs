//! The default command: photo + painting -> picture. Parse, build the job, attach
//! observers, run, save.

use super::args::TransferArgs;
use super::progress::{beta_primes, per_group, CtrlC, TerminalProgress};
use anyhow::Result;
use nstyle::run::checkpoint::{self, Checkpointer};
use nstyle::run::observers::{JsonlLog, Snapshots};
use nstyle::run::{Job, JobSpec, Observer, Observers, StopReason};
use nstyle::{image_io, output};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn transfer(a: TransferArgs) -> Result<ExitCode> {
    let out = a.output()?;
    let (spec, notes) = a.job_spec()?;
    if !a.quiet {
        for n in &notes {
            eprintln!("note: {n}");
        }
    }
    let (job, checkpoint_dir, fingerprint) = plan_with_checkpoint(spec, &out, a.resume, a.quiet)?;
    let plan = job.plan();
    output::check_room(&out, plan.width, plan.height, a.sixteen_bit)?;
    let weights = a.job.options().load_weights()?;
    let mut progress = TerminalProgress::new(a.quiet);
    let mut ctrl_c = CtrlC::install(a.quiet);
    let mut log = a.log.as_deref().map(JsonlLog::create).transpose()?;
    let mut snapshots = a
        .save_every
        .map(|_| Snapshots::new(&out, a.sixteen_bit, job.plan().stages.len() > 1));
    let mut checkpoints = Checkpointer::new(&checkpoint_dir, fingerprint);
    let mut observers: Vec<&mut dyn Observer> = vec![&mut progress, &mut ctrl_c, &mut checkpoints];
    if let Some(l) = &mut log {
        observers.push(l);
    }
    if let Some(s) = &mut snapshots {
        observers.push(s);
    }
    #[cfg(feature = "web")]
    let mut web = a
        .web
        .as_deref()
        .map(|addr| crate::web::Watch::start(addr, a.allow_remote))
        .transpose()?;
    #[cfg(feature = "web")]
    if let Some(w) = &mut web {
        observers.push(w);
    }
    let result = job.run(&weights, &mut Observers(observers));
    #[cfg(feature = "web")]
    if let Some(w) = &web {
        w.linger();
    }
    let result = result?;
    // The picture first: a failed snapshot or log must not cost the result.
    output::save_or_rescue(&out, &image_io::from_network(&result.image), a.sixteen_bit)?;
    if let Some(s) = snapshots {
        s.finish()?;
    }
    if let Some(l) = log {
        l.finish()?;
    }
    checkpoints.finish()?;
    let s = &result.summary;
    let interrupted = s.stop == StopReason::Interrupted;
    if !a.quiet {
        eprintln!(
            "{}: {} iterations ({} evaluations) in {:.1}s, {}; loss: content {}, style {}; beta' {}; wrote {}",
            if interrupted { "interrupted" } else { "done" },
            s.iterations,
            s.evaluations,
            s.elapsed_s,
            s.stop,
            s.losses.content().map_or("-".into(), |c| format!("{c:.4e}")),
            per_group(&s.losses.balanced(), ", "),
            beta_primes(&s.beta_primes),
            out.display()
        );
    }
    if interrupted {
        // Even a quiet run says where a stopped run's work went.
        eprintln!(
            "interrupted: the current image was written to {}; to continue, rerun the same command with --resume",
            out.display()
        );
    } else {
        // Nothing is left to resume.
        let _ = std::fs::remove_dir_all(&checkpoint_dir);
    }
    Ok(if interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// Plans the job; with `resume`, continues from the checkpoint beside `out` if there is
/// one. Returns the job, its checkpoint directory and its fingerprint.
fn plan_with_checkpoint(
    spec: JobSpec,
    out: &Path,
    resume: bool,
    quiet: bool,
) -> Result<(Job, PathBuf, String)> {
    let stem = out
        .file_stem()
        .map_or("out".into(), |s| s.to_string_lossy());
    let dir = out.with_file_name(format!("{stem}.checkpoint"));
    let mut job = Job::new(spec)?;
    let fingerprint = checkpoint::fingerprint(job.spec(), job.plan());
    if resume {
        match checkpoint::load(&dir, &fingerprint)? {
            Some(r) => {
                if !quiet {
                    eprintln!(
                        "note: resuming at stage {} after {} iterations from {}",
                        r.stage,
                        r.iterations_done,
                        dir.display()
                    );
                }
                job = job.resume_from(r)?;
            }
            None if !quiet => eprintln!("note: no checkpoint in {}; starting anew", dir.display()),
            None => {}
        }
    }
    Ok((job, dir, fingerprint))
}
