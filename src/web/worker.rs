//! The one worker thread: takes the next queued job, decodes its images, plans and runs
//! it on all cores with the live feed, then keeps the result (in memory, and in the data
//! directory when there is one). Jobs run one at a time.

use super::http::HttpError;
use super::jobs::{Pending, Record, State};
use super::live::LiveFeed;
use super::options;
use super::store::Files;
use super::App;
use nstyle::image_io::{encode_image, fit_long_edge, from_network, resize, OutputFormat};
use nstyle::run::Job;
use nstyle::Vgg19Weights;
use std::sync::Arc;

/// Long edge of the inputs' small copies.
const THUMB_EDGE: u32 = 160;

pub fn run(app: Arc<App>, weights: Vgg19Weights) {
    loop {
        let (id, pending, stop) = app.hub.next_job();
        let mut feed = LiveFeed::new(app.hub.clone(), id.clone(), stop, true);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_one(&app, &id, pending, &weights, &mut feed)
        }));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.msg),
            Err(_) => Some("internal error (please report this)".to_string()),
        };
        // The last event is published once the result is kept, so that a page told
        // "finished" finds it.
        let end = match (feed.take_end(), failure) {
            (Some(end), _) => end,
            (None, Some(msg)) => serde_json::json!({"event": "failed", "error": msg})
                .to_string()
                .into(),
            (None, None) => r#"{"event":"failed","error":"the job ended without a result"}"#.into(),
        };
        app.hub.publish(&id, end, None);
        save(&app, &id);
    }
}

fn run_one(
    app: &App,
    id: &str,
    pending: Pending,
    weights: &Vgg19Weights,
    feed: &mut LiveFeed,
) -> Result<(), HttpError> {
    let args = options::parse(&pending.argv)?;
    let content = pending.content.as_ref().map(|c| c.decode()).transpose()?;
    let style = pending.style.decode()?;
    let thumbs = [
        content.as_ref().map(|c| thumbnail(&c.image)),
        Some(thumbnail(&style.image)),
    ];
    app.hub.update(|j| {
        if let Some(r) = j.get_mut(id) {
            r.thumbs = thumbs;
        }
    });
    let spec = options::job_spec(&args, content.map(|c| c.image), style.image)?;
    let job = Job::new(spec).map_err(options::plan_error)?;
    // Errors of the run itself are the job's `failed` event.
    let Ok(outcome) = job.run(weights, feed) else {
        return Ok(());
    };
    let rgb = from_network(&outcome.image);
    let result = encode_image(&rgb, OutputFormat::Png, true)
        .map_err(|e| HttpError::new(500, format!("cannot encode the result: {e}")))?;
    let preview = encode_image(&rgb, OutputFormat::Png, false)
        .map_err(|e| HttpError::new(500, format!("cannot encode the result: {e}")))?;
    app.hub.update(|j| {
        if let Some(r) = j.get_mut(id) {
            r.image_version += 1;
            r.preview = Some((r.image_version, Arc::new(preview)));
            r.image = None;
            r.result = Some(Arc::new(result));
            r.has_result = true;
        }
    });
    Ok(())
}

/// A small 8-bit PNG of an input, for lists.
fn thumbnail(img: &image::Rgb32FImage) -> Arc<Vec<u8>> {
    let (w, h) = img.dimensions();
    let (tw, th) = fit_long_edge(w, h, THUMB_EDGE.min(w.max(h)));
    Arc::new(encode_image(&resize(img, tw, th), OutputFormat::Png, false).unwrap_or_default())
}

/// Writes an ended job to the data directory, if there is one.
fn save(app: &App, id: &str) {
    let Some(store) = &app.store else { return };
    // A copy of what is written, so that the lock is not held while writing.
    let (record, events, result, thumbs) = {
        let jobs = app.hub.lock();
        let Some(r) = jobs.get(id) else { return };
        if !matches!(r.state, State::Finished | State::Stopped | State::Failed) {
            return;
        }
        let mut copy = Record::new(r.id.clone(), r.settings.clone(), r.state);
        copy.created = r.created;
        copy.summary = r.summary.clone();
        copy.error = r.error.clone();
        let events = r.events.clone().unwrap_or_default();
        (copy, events, r.result.clone(), r.thumbs.clone())
    };
    let files = Files {
        events: &events,
        result: result.as_deref().map(|v| v.as_slice()),
        thumbs: [
            thumbs[0].as_deref().map(|v| v.as_slice()),
            thumbs[1].as_deref().map(|v| v.as_slice()),
        ],
    };
    if let Err(e) = store.save(&record, files) {
        super::warn(format!(
            "job {id}: cannot save to the data directory: {e:#}"
        ));
    }
}
