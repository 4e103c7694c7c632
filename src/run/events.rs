//! What a job tells its observers, as typed events. The CLI's progress bar, its JSONL log
//! (`--log`: exactly these events, one per line; schema in docs/EVENTS.md), `--save-every`
//! and Ctrl-C are observers; so are the web view and the Python callback.

use super::plan::Plan;
use crate::objective::{Breakdown, Role};
use crate::tensor::InputImage;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::ops::ControlFlow;

/// One thing that happened in a job.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Sizes, stages, memory and backend, decided before any work.
    Planned(Plan),
    StageStarted(StageInfo),
    /// One optimiser step; the observer is handed the current image.
    Iteration(IterationInfo),
    /// Every `snapshot_every` iterations: the observer is handed the image to keep.
    Snapshot {
        stage: usize,
        iteration: usize,
        width: usize,
        height: usize,
    },
    /// A stage ended; the observer is handed its image.
    StageFinished(Summary),
    /// The run ended by its own rule (converged, iteration cap, stalled).
    Finished(Summary),
    /// An observer asked to stop; the summary is that of the image returned.
    Stopped(Summary),
    /// The run failed with this one-line error.
    Failed {
        error: String,
    },
}

/// Which stage is running and at what size.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct StageInfo {
    /// 1-based.
    pub stage: usize,
    pub stages: usize,
    pub width: usize,
    pub height: usize,
    pub max_iterations: usize,
}

/// One optimiser step.
#[derive(Clone, Debug, Serialize)]
pub struct IterationInfo {
    pub stage: usize,
    pub width: usize,
    pub height: usize,
    /// 1-based, within the stage.
    pub iteration: usize,
    pub max_iterations: usize,
    /// Objective evaluations (forward + backward passes) so far in this stage.
    pub evaluations: usize,
    /// The optimised (scaled) objective.
    pub objective: f64,
    /// Raw values of every term at the new image, and the weighted total.
    #[serde(flatten)]
    pub losses: Breakdown,
    /// `|x_t - x_{t-1}| / |x_t|` in pixel space.
    pub relative_change: f64,
    /// Seconds since the job started.
    pub elapsed_s: f64,
    /// Seconds this step took.
    pub step_s: f64,
    /// Something the optimiser wants said (e.g. an L-BFGS memory reset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why a run (or stage) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Relative change fell below `tol`.
    Converged,
    MaxIterations,
    /// The optimiser could not decrease the objective any more.
    Stalled,
    /// An observer asked to stop (e.g. Ctrl-C).
    Interrupted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Converged => "converged (relative change below tolerance)",
            StopReason::MaxIterations => "reached the maximum number of iterations",
            StopReason::Stalled => "optimiser stalled (no further decrease)",
            StopReason::Interrupted => "interrupted",
        })
    }
}

/// How a stage or a whole job ended.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The stage this summarises (1-based; the last one run for a whole job).
    pub stage: usize,
    pub width: usize,
    pub height: usize,
    /// Iterations and evaluations (summed over the stages for a whole job).
    pub iterations: usize,
    pub evaluations: usize,
    pub stop: StopReason,
    /// Raw values at the final image.
    pub losses: Breakdown,
    /// beta' of each style method and regulariser (of the last stage for a whole job).
    #[serde(serialize_with = "by_role")]
    pub beta_primes: Vec<(Role, f64)>,
    /// The optimiser's scale factor `s`.
    pub scale: f64,
    pub elapsed_s: f64,
}

/// `{"gram": 1e-3, "tv": 2.0}`
fn by_role<S: Serializer>(v: &[(Role, f64)], s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(v.len()))?;
    for (r, x) in v {
        m.serialize_entry(&r.to_string(), x)?;
    }
    m.end()
}

/// Something that watches a job. Returning `Break` asks the job to stop: it finishes the
/// current step and returns its current image as a stopped run.
pub trait Observer {
    /// `image` is the current image for [`Event::Iteration`] and [`Event::Snapshot`].
    fn on_event(&mut self, event: &Event, image: Option<&InputImage>) -> ControlFlow<()>;
}

impl<F: FnMut(&Event, Option<&InputImage>) -> ControlFlow<()>> Observer for F {
    fn on_event(&mut self, event: &Event, image: Option<&InputImage>) -> ControlFlow<()> {
        self(event, image)
    }
}

/// Several observers as one: each sees every event; the job stops if any asks.
#[derive(Default)]
pub struct Observers<'a>(pub Vec<&'a mut dyn Observer>);

impl Observer for Observers<'_> {
    fn on_event(&mut self, event: &Event, image: Option<&InputImage>) -> ControlFlow<()> {
        let mut flow = ControlFlow::Continue(());
        for o in &mut self.0 {
            if o.on_event(event, image).is_break() {
                flow = ControlFlow::Break(());
            }
        }
        flow
    }
}

/// An observer that watches nothing (runs to the end).
pub fn ignore_events(_: &Event, _: Option<&InputImage>) -> ControlFlow<()> {
    ControlFlow::Continue(())
}
