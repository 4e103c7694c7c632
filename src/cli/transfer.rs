//! The default command: photo + painting -> picture. Parse, build the job, attach
//! observers, run, save.

use super::args::TransferArgs;
use super::progress::{beta_primes, per_group, CtrlC, TerminalProgress};
use anyhow::Result;
use nstyle::image_io;
use nstyle::run::observers::{JsonlLog, Snapshots};
use nstyle::run::{Job, Observer, Observers, StopReason};
use std::process::ExitCode;

pub fn transfer(a: TransferArgs) -> Result<ExitCode> {
    let out = a.output()?;
    let (spec, notes) = a.job_spec()?;
    if !a.quiet {
        for n in &notes {
            eprintln!("note: {n}");
        }
    }
    let job = Job::new(spec)?;
    let weights = a.job.options().load_weights()?;
    let mut progress = TerminalProgress::new(a.quiet);
    let mut ctrl_c = CtrlC::install();
    let mut log = a.log.as_deref().map(JsonlLog::create).transpose()?;
    let mut snapshots = a
        .save_every
        .map(|_| Snapshots::new(&out, a.sixteen_bit, job.plan().stages.len() > 1));
    let mut observers: Vec<&mut dyn Observer> = vec![&mut progress, &mut ctrl_c];
    if let Some(l) = &mut log {
        observers.push(l);
    }
    if let Some(s) = &mut snapshots {
        observers.push(s);
    }
    let result = job.run(&weights, &mut Observers(observers))?;
    if let Some(s) = snapshots {
        s.finish()?;
    }
    if let Some(l) = log {
        l.finish()?;
    }
    image_io::save_image(&out, &image_io::from_network(&result.image), a.sixteen_bit)?;
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
    Ok(if interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
