//! What the terminal shows during a run, as an observer of the job's events: the plan, a
//! progress bar (or periodic lines when stderr is not a terminal), optimiser notes; and
//! Ctrl-C as an observer that asks the job to stop.

use indicatif::{ProgressBar, ProgressStyle};
use nstyle::colour::PreserveColors;
use nstyle::objective::Role;
use nstyle::run::memory::gib;
use nstyle::run::{Event, IterationInfo, Observer};
use nstyle::tensor::InputImage;
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `gram 1.2345e6, bn 3.2100e2`: one value per group, for progress and summary lines.
pub fn per_group<R: std::fmt::Display>(values: &[(R, f64)], sep: &str) -> String {
    let parts: Vec<String> = values.iter().map(|(m, v)| format!("{m} {v:.4e}")).collect();
    parts.join(sep)
}

/// Progress on stderr; silent with `--quiet`.
pub struct TerminalProgress {
    quiet: bool,
    bar: Option<ProgressBar>,
    multiscale: bool,
}

impl TerminalProgress {
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(1);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix}{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}] {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        TerminalProgress {
            quiet,
            bar,
            multiscale: false,
        }
    }

    /// A line above the bar (or on stderr without one).
    fn say(&self, line: String) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn iteration(&self, it: &IterationInfo) {
        let msg = format!(
            "loss {:.4e}{} | {} | change {:.4}",
            it.objective,
            it.losses
                .content()
                .map(|c| format!(" | content {c:.4e}"))
                .unwrap_or_default(),
            per_group(&it.losses.balanced(), " "),
            it.relative_change
        );
        if let Some(b) = &self.bar {
            b.set_position(it.iteration as u64);
            b.set_message(msg);
        } else if it.iteration.is_multiple_of((it.max_iterations / 20).max(1)) || it.iteration == 1
        {
            eprintln!(
                "iter {}/{} ({:.1}s): {msg}",
                it.iteration, it.max_iterations, it.elapsed_s
            );
        }
        if let Some(note) = &it.note {
            self.say(format!("note: iteration {}: {note}", it.iteration));
        }
    }
}

impl Observer for TerminalProgress {
    fn on_event(&mut self, event: &Event, _: Option<&InputImage>) -> ControlFlow<()> {
        if self.quiet {
            return ControlFlow::Continue(());
        }
        match event {
            Event::Planned(p) => {
                for n in &p.notes {
                    eprintln!("note: {n}");
                }
                // One painting: `style 64x40 px`; a blend: `styles 64x40 (0.7), 50x64 (0.3) px`.
                let styles = match p.style_sizes.as_slice() {
                    [_] => format!("style {}x{} px", p.style_width, p.style_height),
                    sizes => {
                        let each: Vec<String> = sizes
                            .iter()
                            .zip(&p.style_weights)
                            .map(|(s, w)| format!("{}x{} ({w:.3})", s.width, s.height))
                            .collect();
                        format!("styles {} px", each.join(", "))
                    }
                };
                let colours = match p.preserve_colors {
                    PreserveColors::None => String::new(),
                    c => format!(", preserving colours ({})", c.name()),
                };
                eprintln!(
                    "nstyle: {}x{} px, {styles}, {} ({}){colours}, estimated memory {}",
                    p.width,
                    p.height,
                    p.style_loss,
                    p.backend,
                    gib(p.memory_bytes as f64)
                );
                self.multiscale = p.stages.len() > 1;
                if self.multiscale {
                    let sizes: Vec<String> = p
                        .stages
                        .iter()
                        .map(|s| s.width.max(s.height).to_string())
                        .collect();
                    eprintln!(
                        "multi-scale: {} stages, long edge {} px (at most {} iterations at the first, {} at the others)",
                        p.stages.len(),
                        sizes.join(" -> "),
                        p.stages[0].max_iterations,
                        p.stages[1].max_iterations
                    );
                }
            }
            Event::StageStarted(s) => {
                if let Some(b) = &self.bar {
                    b.set_length(s.max_iterations as u64);
                    b.set_position(0);
                    b.set_prefix(format!("{}/{} ", s.stage, s.stages));
                }
                if self.multiscale {
                    self.say(format!(
                        "stage {}/{}: {}x{} px",
                        s.stage, s.stages, s.width, s.height
                    ));
                }
            }
            Event::Iteration(it) => self.iteration(it),
            Event::Finished(_) | Event::Stopped(_) | Event::Failed { .. } => {
                if let Some(b) = &self.bar {
                    b.finish_and_clear();
                }
            }
            Event::Snapshot { .. } | Event::StageFinished(_) => {}
        }
        ControlFlow::Continue(())
    }
}

/// Asks the job to stop after the current step once Ctrl-C (SIGINT), SIGTERM (what `kill`,
/// Kubernetes and Slurm send) or SIGHUP arrives; the current image is then saved. A second
/// signal quits at once (exit 130), for a user who does not want to wait for the step.
pub struct CtrlC(Arc<AtomicBool>);

impl CtrlC {
    pub fn install(quiet: bool) -> Self {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // Failing to install the handler only loses the clean stop; the run still works.
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                eprintln!("\nerror: stopped at once by a second signal; nothing was saved");
                std::process::exit(130);
            }
            if !quiet {
                eprintln!("\nnote: stopping after the current step and saving the image (signal again to quit at once)");
            }
        });
        CtrlC(flag)
    }

    /// Whether Ctrl-C was pressed since [`CtrlC::install`].
    pub fn pressed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Observer for CtrlC {
    fn on_event(&mut self, _: &Event, _: Option<&InputImage>) -> ControlFlow<()> {
        if self.0.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// `gram 1.0e-3, tv 2.0e0`
pub fn beta_primes(v: &[(Role, f64)]) -> String {
    per_group(v, ", ")
}
