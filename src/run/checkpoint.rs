//! Resumable runs: a checkpoint (the current image in network space, f32, and where the
//! run was) is written at the end of every stage, at every snapshot, and when a run is
//! stopped; a later run of the same job with `resume` continues from it without redoing
//! finished multi-scale stages.
//!
//! What is restored: the stage, the iterations done in it, and the image bit for bit.
//! What is not: the L-BFGS history (the resumed stage starts a fresh history, as after a
//! reset) and the random draws of stochastic losses (they continue from the seed anew).
//! beta' is recomputed at the same seeded probe, so it is the same.

use super::events::{Event, Observer};
use super::plan::Plan;
use super::spec::{InitSpec, JobSpec};
use crate::colour::PreserveColors;
use crate::image_io::{read_npy, write_atomically, write_npy};
use crate::tensor::InputImage;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// Where a stopped run was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct State {
    /// Identifies the job (images and every option that changes the result).
    fingerprint: String,
    /// 1-based.
    stage: usize,
    /// Iterations done in that stage.
    iterations: usize,
    /// The stage ended (by its own rule): the image is its result.
    stage_done: bool,
}

/// A run to continue: from `stage` (1-based) with `image` at that stage's size.
#[derive(Clone, Debug)]
pub struct Resume {
    pub stage: usize,
    pub iterations_done: usize,
    pub stage_done: bool,
    pub image: InputImage,
}

/// A hash of what defines the job's result: the images' pixels, the stage sizes and every
/// option except the iteration caps and the tolerance (a resumed run may change those).
pub fn fingerprint(spec: &JobSpec, plan: &Plan) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let styles = spec.styles.iter().map(|s| &s.image);
    for img in spec.content.iter().chain(styles) {
        img.dimensions().hash(&mut h);
        img.as_raw().iter().for_each(|v| v.to_bits().hash(&mut h));
    }
    // Only what a one-style job did not have, so that its fingerprint (and a checkpoint
    // written before blends existed) stays the same.
    if spec.colours != PreserveColors::None {
        spec.colours.name().hash(&mut h);
    }
    if spec.styles.len() > 1 {
        let weights: Vec<u64> = plan.style_weights.iter().map(|w| w.to_bits()).collect();
        let sizes: Vec<_> = plan.stages.iter().map(|s| &s.style_sizes).collect();
        format!("{weights:?}|{sizes:?}").hash(&mut h);
    }
    let c = &spec.config;
    let sizes: Vec<_> = plan
        .stages
        .iter()
        .map(|s| (s.width, s.height, s.style_width, s.style_height))
        .collect();
    let init = match &spec.init {
        InitSpec::Noise => "noise".to_string(),
        InitSpec::Content => "content".to_string(),
        InitSpec::Image(img) => format!("{:x}", {
            let mut g = std::collections::hash_map::DefaultHasher::new();
            img.as_raw().iter().for_each(|v| v.to_bits().hash(&mut g));
            g.finish()
        }),
    };
    format!(
        "{:?}|{}|{:?}|{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{}|{}|{}",
        sizes,
        c.style,
        c.style_layers,
        c.content_layer,
        c.content_weight,
        c.style_weight,
        (c.tv_weight, &c.beta_prime),
        c.loss,
        c.optimizer,
        plan.optimizer,
        c.seed,
        init,
        spec.backend.describe(),
    )
    .hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Writes checkpoints into a directory as the job's events arrive.
pub struct Checkpointer {
    dir: PathBuf,
    fingerprint: String,
    error: Option<Error>,
}

impl Checkpointer {
    pub fn new(dir: &Path, fingerprint: String) -> Self {
        Checkpointer {
            dir: dir.to_path_buf(),
            fingerprint,
            error: None,
        }
    }

    /// The first write error, if any.
    pub fn finish(self) -> Result<()> {
        self.error.map_or(Ok(()), Err)
    }

    fn write(&self, state: &State, image: &InputImage) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        write_npy(
            &self.dir.join("image.npy"),
            &[3, image.height, image.width],
            &image.data,
        )?;
        let json = serde_json::to_vec(state).expect("state serialises");
        write_atomically(&self.dir.join("state.json"), |w| w.write_all(&json))
    }
}

impl Observer for Checkpointer {
    fn on_event(&mut self, event: &Event, image: Option<&InputImage>) -> ControlFlow<()> {
        let (stage, iterations, stage_done) = match event {
            Event::Snapshot {
                stage, iteration, ..
            } => (*stage, *iteration, false),
            Event::StageFinished(s) => (
                s.stage,
                s.iterations,
                s.stop != super::StopReason::Interrupted,
            ),
            _ => return ControlFlow::Continue(()),
        };
        let (Some(image), None) = (image, &self.error) else {
            return ControlFlow::Continue(());
        };
        let state = State {
            fingerprint: self.fingerprint.clone(),
            stage,
            iterations,
            stage_done,
        };
        if let Err(e) = self.write(&state, image) {
            self.error = Some(e);
        }
        ControlFlow::Continue(())
    }
}

/// The checkpoint in `dir` for this job, `None` where there is none; an error where it
/// belongs to another job or is damaged.
pub fn load(dir: &Path, fingerprint: &str) -> Result<Option<Resume>> {
    let state_path = dir.join("state.json");
    let bytes = match std::fs::read(&state_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&state_path, e)),
    };
    let state: State = serde_json::from_slice(&bytes)
        .map_err(|e| Error::image(&state_path, format!("damaged checkpoint: {e}")))?;
    if state.fingerprint != fingerprint {
        return Err(Error::invalid(
            "resume",
            format!(
                "finds a checkpoint in {} made with other images or options",
                dir.display()
            ),
        ));
    }
    let npy = dir.join("image.npy");
    let (shape, data) = read_npy(&npy)?;
    let [3, h, w] = shape[..] else {
        return Err(Error::image(&npy, "damaged checkpoint image"));
    };
    Ok(Some(Resume {
        stage: state.stage,
        iterations_done: state.iterations,
        stage_done: state.stage_done,
        image: InputImage::new(h, w, data)?,
    }))
}
