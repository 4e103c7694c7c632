//! Running a style transfer: a [`JobSpec`] (what every front end builds) is planned
//! ([`Plan`]: sizes, stages, memory) into a [`Job`], which runs the stages
//! ([`stage::optimize`]) and tells an [`Observer`] what happens ([`Event`]).

pub mod checkpoint;
mod colours;
pub mod events;
pub mod job;
pub mod losses;
pub mod memory;
pub mod observers;
pub mod options;
pub mod plan;
pub mod spec;
pub mod stage;

pub use events::{
    ignore_events, Event, IterationInfo, Observer, Observers, StageInfo, StopReason, Summary,
};
pub use job::{Job, Outcome};
pub use losses::{evaluate_losses, LossValues, SizeMismatch};
pub use options::{InitChoice, LossesOptions, OptimizerChoice, TransferOptions};
pub use plan::{Plan, StagePlan};
pub use spec::{InitSpec, JobSpec, Multiscale, StyleImage, TileChoice};
pub use stage::{optimize, stylize, StageContext, Stylized};
