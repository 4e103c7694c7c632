//! The one entry point every front end calls: a validated [`JobSpec`] becomes a [`Job`]
//! with its [`Plan`]; [`Job::run`] builds the network, runs the stages with an observer,
//! and returns the image and a summary.

use super::checkpoint::Resume;
use super::colours;
use super::events::{Event, Observer, StageInfo, StopReason, Summary};
use super::plan::Plan;
use super::spec::{InitSpec, JobSpec};
use super::stage::{optimize, StageContext, Stylized};
use crate::config::Init;
use crate::image_io::{from_network, resize, to_input};
use crate::tensor::InputImage;
use crate::vgg::Vgg19Weights;
use crate::{Error, Result};
use image::Rgb32FImage;
use std::time::Instant;

/// A planned job, ready to run.
pub struct Job {
    /// As given, with the images rewritten for the colour mode ([`super::colours`]).
    spec: JobSpec,
    plan: Plan,
    /// With `preserve-colors luminance`: the photo whose chroma the result gets.
    photo: Option<Rgb32FImage>,
}

/// What a finished (or stopped) job returns.
pub struct Outcome {
    /// At the output size, network space (see [`crate::image_io::from_network`]).
    pub image: InputImage,
    pub summary: Summary,
}

impl Job {
    /// Validates `spec` and plans it (sizes, stages, memory), and prepares its images for
    /// the colour mode; no optimisation is done yet.
    pub fn new(mut spec: JobSpec) -> Result<Job> {
        if matches!(spec.init, InitSpec::Content) && spec.content.is_none() {
            return Err(Error::invalid("init", "content needs a content image"));
        }
        if spec.snapshot_every == Some(0) {
            return Err(Error::invalid("save-every", "must be at least 1"));
        }
        let plan = Plan::new(&spec)?;
        if let Some(r) = &spec.resume {
            check_resume(r, &plan)?;
        }
        let photo = colours::prepare(&mut spec)?;
        Ok(Job { spec, plan, photo })
    }

    /// This job, continued from a checkpoint (see [`super::checkpoint`]); the plan stays.
    pub fn resume_from(mut self, r: Resume) -> Result<Job> {
        check_resume(&r, &self.plan)?;
        self.spec.resume = Some(r);
        Ok(self)
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn spec(&self) -> &JobSpec {
        &self.spec
    }

    /// Runs every stage: content and style are resized from the originals at each stage;
    /// the first starts from the initial image, later ones from the previous result
    /// upscaled. A stopped run returns its current image upscaled to the output size.
    /// With `preserve-colors luminance` the returned image (finished or stopped) has the
    /// photo's chroma; what observers are handed during the run is grey.
    /// Observers see [`Event::Planned`] first and `Finished`, `Stopped` or `Failed` last.
    pub fn run(&self, weights: &Vgg19Weights, observer: &mut dyn Observer) -> Result<Outcome> {
        let _ = observer.on_event(&Event::Planned(self.plan.clone()), None);
        let result = self.run_stages(weights, observer);
        let event = match &result {
            Ok(o) if o.summary.stop == StopReason::Interrupted => Event::Stopped(o.summary.clone()),
            Ok(o) => Event::Finished(o.summary.clone()),
            Err(e) => Event::Failed {
                error: e.to_string(),
            },
        };
        let _ = observer.on_event(&event, None);
        result
    }

    fn run_stages(&self, weights: &Vgg19Weights, observer: &mut dyn Observer) -> Result<Outcome> {
        let job_start = Instant::now();
        let mut net = self.spec.backend.build(weights);
        let (fw, fh) = (self.plan.width as u32, self.plan.height as u32);
        // The initial image at the output size; each stage resizes it to its own.
        let init = match &self.spec.init {
            InitSpec::Noise => Init::Noise,
            InitSpec::Content => Init::Content,
            InitSpec::Image(img) => Init::Image(to_input(&resize(img, fw, fh))),
        };
        let mut cfg = self.spec.config.clone();
        cfg.optimizer = self.plan.optimizer;
        let stages = self.plan.stages.len();
        let mut previous: Option<Stylized> = None;
        let (mut iterations, mut evaluations) = (0, 0);
        let resume = self.spec.resume.as_ref();
        for (k, stage) in self.plan.stages.iter().enumerate() {
            let (w, h) = (stage.width as u32, stage.height as u32);
            // A resumed job skips the stages its checkpoint finished.
            let mut max_iterations = stage.max_iterations;
            let mut stage_init = match (&previous, &init) {
                (Some(p), _) => Init::Image(upscale(&p.image, w, h)),
                (None, Init::Image(img)) => Init::Image(upscale(img, w, h)),
                (None, other) => other.clone(),
            };
            if let Some(r) = resume.filter(|r| r.stage == k + 1) {
                if (r.image.width, r.image.height) != (stage.width, stage.height) {
                    return Err(Error::Shape(
                        "the checkpoint's image is not at its stage's size".into(),
                    ));
                }
                max_iterations = max_iterations.saturating_sub(r.iterations_done);
                if r.stage_done || max_iterations == 0 {
                    previous = Some(resumed(r, stage, k + 1));
                    continue;
                }
                stage_init = Init::Image(r.image.clone());
            } else if resume.is_some_and(|r| r.stage > k + 1) {
                continue;
            }
            // Styles of weight 0 are left out (the objective would skip them).
            let styles: Vec<(InputImage, f64)> = self
                .spec
                .styles
                .iter()
                .zip(&stage.style_sizes)
                .filter(|(s, _)| s.weight > 0.0)
                .map(|(s, size)| {
                    let (w, h) = (size.width as u32, size.height as u32);
                    (to_input(&resize(&s.image, w, h)), s.weight)
                })
                .collect();
            let styles: Vec<(&InputImage, f64)> = styles.iter().map(|(s, w)| (s, *w)).collect();
            let content = self
                .spec
                .content
                .as_ref()
                .map(|c| to_input(&resize(c, w, h)));
            cfg.iterations = max_iterations;
            cfg.tile = stage.tile;
            let info = StageInfo {
                stage: k + 1,
                stages,
                width: stage.width,
                height: stage.height,
                max_iterations,
            };
            let _ = observer.on_event(&Event::StageStarted(info), None);
            let ctx = StageContext {
                info,
                job_start,
                snapshot_every: self.spec.snapshot_every,
            };
            let result = optimize(
                net.as_mut(),
                content.as_ref(),
                &styles,
                &stage_init,
                &cfg,
                &ctx,
                observer,
            )?;
            iterations += result.summary.iterations;
            evaluations += result.summary.evaluations;
            let finished = Event::StageFinished(result.summary.clone());
            let _ = observer.on_event(&finished, Some(&result.image));
            let stopped = result.summary.stop == StopReason::Interrupted;
            previous = Some(result);
            if stopped {
                break;
            }
        }
        let Stylized { mut image, summary } = previous.expect("a plan has at least one stage");
        if (image.width, image.height) != (fw as usize, fh as usize) {
            image = upscale(&image, fw, fh);
        }
        let image = colours::finish(image, self.photo.as_ref())?;
        let summary = Summary {
            width: image.width,
            height: image.height,
            iterations,
            evaluations,
            elapsed_s: job_start.elapsed().as_secs_f64(),
            ..summary
        };
        Ok(Outcome { image, summary })
    }
}

/// A checkpoint must name one of the plan's stages.
fn check_resume(r: &Resume, plan: &Plan) -> Result<()> {
    if r.stage == 0 || r.stage > plan.stages.len() {
        return Err(Error::invalid(
            "resume",
            format!(
                "finds a checkpoint of stage {} of a {}-stage job",
                r.stage,
                plan.stages.len()
            ),
        ));
    }
    Ok(())
}

/// A stage its checkpoint finished, as if it had just run (no iterations in this process).
fn resumed(r: &Resume, stage: &super::plan::StagePlan, number: usize) -> Stylized {
    Stylized {
        image: r.image.clone(),
        summary: Summary {
            stage: number,
            width: stage.width,
            height: stage.height,
            iterations: 0,
            evaluations: 0,
            stop: StopReason::Converged,
            losses: Default::default(),
            beta_primes: Vec::new(),
            scale: 1.0,
            elapsed_s: 0.0,
        },
    }
}

/// Resizes an image in network space (through RGB, Lanczos3).
fn upscale(x: &InputImage, w: u32, h: u32) -> InputImage {
    to_input(&resize(&from_network(x), w, h))
}
