//! The observer that feeds a job's events to the page: every library event goes into the
//! job's record (and so to its event streams), iteration events with the current image;
//! a stop asked from the page ends the run after its current step, like Ctrl-C.

use super::jobs::Hub;
use nstyle::run::{Event, Observer};
use nstyle::tensor::InputImage;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct LiveFeed {
    hub: Arc<Hub>,
    id: String,
    stop: Arc<AtomicBool>,
    /// Hold the last event back (until the result is stored) instead of publishing it.
    hold_end: bool,
    end: Option<Arc<str>>,
}

impl LiveFeed {
    pub fn new(hub: Arc<Hub>, id: String, stop: Arc<AtomicBool>, hold_end: bool) -> Self {
        LiveFeed {
            hub,
            id,
            stop,
            hold_end,
            end: None,
        }
    }

    /// The held-back last event, if any.
    pub fn take_end(&mut self) -> Option<Arc<str>> {
        self.end.take()
    }
}

impl Observer for LiveFeed {
    fn on_event(&mut self, event: &Event, image: Option<&InputImage>) -> ControlFlow<()> {
        let json: Arc<str> = serde_json::to_string(event)
            .unwrap_or_else(|e| format!(r#"{{"event":"failed","error":"{e}"}}"#))
            .into();
        let terminal = matches!(
            event,
            Event::Finished(_) | Event::Stopped(_) | Event::Failed { .. }
        );
        if terminal && self.hold_end {
            self.end = Some(json);
        } else {
            let image = match event {
                Event::Iteration(_) => image.map(|x| Arc::new(x.clone())),
                _ => None,
            };
            self.hub.publish(&self.id, json, image);
        }
        if self.stop.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}
