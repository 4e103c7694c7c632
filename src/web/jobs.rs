//! The server's jobs: every job it knows (queued, running, done, and those kept in the
//! data directory), the queue, and each job's events, current image and result. One lock
//! and one condition variable; event streams wait on it for what is new.

use super::http::HttpError;
use super::uploads::Input;
use nstyle::tensor::InputImage;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Jobs kept (oldest done ones are forgotten first; the data directory keeps them all).
const MAX_RECORDS: usize = 100;
/// Results kept in memory without a data directory.
const MAX_RESULT_BYTES: usize = 512 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Queued,
    Running,
    Finished,
    Stopped,
    Failed,
    Cancelled,
}

impl State {
    pub fn is_done(self) -> bool {
        !matches!(self, State::Queued | State::Running)
    }
}

/// What a job was asked to do, as the page shows it (and the data directory keeps it).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Settings {
    /// The photo's name (none: texture synthesis).
    pub content: Option<String>,
    pub style: String,
    /// Options as given (CLI names), only those set.
    pub options: BTreeMap<String, String>,
    /// A command-line run watched with --web: its command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// What a queued job needs to start.
pub struct Pending {
    pub content: Option<Input>,
    pub style: Input,
    /// The options as command-line arguments (parsed again when the job starts).
    pub argv: Vec<String>,
}

/// One job.
pub struct Record {
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    pub settings: Settings,
    pub state: State,
    pub pending: Option<Pending>,
    /// The library's events as JSON, in order (`None`: still in the data directory).
    pub events: Option<Vec<Arc<str>>>,
    /// The last `planned`/`stage_started`/`iteration` event's progress fields.
    pub progress: Option<Value>,
    pub summary: Option<Value>,
    pub error: Option<String>,
    /// The current image while running, and a counter that changes with it.
    pub image: Option<Arc<InputImage>>,
    pub image_version: usize,
    /// 8-bit PNG of `image_version`, made once for every reader.
    pub preview: Option<(usize, Arc<Vec<u8>>)>,
    /// The result as 16-bit PNG (in memory; with a data directory, on disk).
    pub result: Option<Arc<Vec<u8>>>,
    pub has_result: bool,
    /// Small PNGs of the photo and painting.
    pub thumbs: [Option<Arc<Vec<u8>>>; 2],
    pub stop: Arc<AtomicBool>,
}

impl Record {
    pub fn new(id: String, settings: Settings, state: State) -> Self {
        Record {
            id,
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            settings,
            state,
            pending: None,
            events: Some(Vec::new()),
            progress: None,
            summary: None,
            error: None,
            image: None,
            image_version: 0,
            preview: None,
            result: None,
            has_result: false,
            thumbs: [None, None],
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// What lists show: everything but events and images.
    pub fn brief(&self, position: Option<usize>) -> Value {
        serde_json::json!({
            "id": self.id,
            "created": self.created,
            "state": self.state,
            "settings": self.settings,
            "progress": self.progress,
            "summary": self.summary,
            "error": self.error,
            "has_result": self.has_result,
            "position": position,
        })
    }
}

#[derive(Default)]
pub struct Jobs {
    /// Oldest first.
    pub records: Vec<Record>,
    pub queue: VecDeque<String>,
    /// Changes with every change a list shows.
    pub version: u64,
    /// Changes with every event of any job.
    pub events_version: u64,
}

impl Jobs {
    pub fn get(&self, id: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.id == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Record> {
        self.records.iter_mut().find(|r| r.id == id)
    }

    pub fn position(&self, id: &str) -> Option<usize> {
        self.queue.iter().position(|q| q == id).map(|p| p + 1)
    }

    /// Running and queued jobs first, then the others, newest first.
    pub fn list(&self) -> Value {
        let mut active: Vec<Value> = Vec::new();
        let mut done: Vec<Value> = Vec::new();
        for r in self.records.iter().rev() {
            let b = r.brief(self.position(&r.id));
            if r.state.is_done() {
                done.push(b);
            } else {
                active.push(b);
            }
        }
        serde_json::json!({ "version": self.version, "active": active, "done": done })
    }

    /// Forgets the oldest done jobs above [`MAX_RECORDS`], and results in memory above
    /// [`MAX_RESULT_BYTES`].
    fn trim(&mut self) {
        while self.records.len() > MAX_RECORDS {
            match self.records.iter().position(|r| r.state.is_done()) {
                Some(i) => drop(self.records.remove(i)),
                None => break,
            }
        }
        let mut total = 0;
        for r in self.records.iter_mut().rev() {
            if let Some(b) = &r.result {
                total += b.len();
                if total > MAX_RESULT_BYTES {
                    r.result = None;
                }
            }
        }
    }
}

/// The jobs behind one lock, and a signal for every change.
#[derive(Default)]
pub struct Hub {
    jobs: Mutex<Jobs>,
    changed: Condvar,
}

impl Hub {
    pub fn lock(&self) -> MutexGuard<'_, Jobs> {
        // A panicking handler cannot leave the records half-changed in a way that matters
        // more than a dead server would: keep serving.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes made under `f`, then every waiting stream is woken.
    pub fn update<T>(&self, f: impl FnOnce(&mut Jobs) -> T) -> T {
        let mut jobs = self.lock();
        let out = f(&mut jobs);
        jobs.version += 1;
        jobs.trim();
        drop(jobs);
        self.changed.notify_all();
        out
    }

    /// Adds records found in the data directory (oldest first).
    pub fn restore(&self, records: Vec<Record>) {
        self.update(|j| j.records.extend(records));
    }

    /// Queues a job; refused when `max_queue` jobs already wait. Returns its position.
    pub fn submit(&self, mut record: Record, max_queue: usize) -> Result<usize, HttpError> {
        self.update(|j| {
            if j.queue.len() >= max_queue {
                return Err(HttpError::new(
                    429,
                    format!("the queue is full ({max_queue} jobs wait); try again later"),
                ));
            }
            record.state = State::Queued;
            j.queue.push_back(record.id.clone());
            j.records.push(record);
            Ok(j.queue.len())
        })
    }

    /// A job that runs outside the queue (a command-line run watched with --web).
    pub fn add_running(&self, mut record: Record) {
        record.state = State::Running;
        self.update(|j| j.records.push(record));
    }

    /// Blocks until a job is queued, and marks it running.
    pub fn next_job(&self) -> (String, Pending, Arc<AtomicBool>) {
        let mut jobs = self.lock();
        loop {
            while let Some(id) = jobs.queue.pop_front() {
                if let Some(r) = jobs.get_mut(&id) {
                    if let Some(p) = r.pending.take() {
                        r.state = State::Running;
                        let stop = r.stop.clone();
                        jobs.version += 1;
                        drop(jobs);
                        self.changed.notify_all();
                        return (id, p, stop);
                    }
                }
            }
            jobs = self.changed.wait(jobs).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Stops a running job (after its current step) or cancels a queued one.
    pub fn stop(&self, id: &str) -> Result<State, HttpError> {
        self.update(|j| {
            let r = j
                .get_mut(id)
                .ok_or_else(|| HttpError::new(404, "no such job"))?;
            match r.state {
                State::Queued => {
                    r.state = State::Cancelled;
                    r.pending = None;
                    r.events
                        .get_or_insert_with(Vec::new)
                        .push(r#"{"event":"cancelled"}"#.into());
                    j.queue.retain(|q| q != id);
                    Ok(State::Cancelled)
                }
                State::Running => {
                    r.stop.store(true, Ordering::SeqCst);
                    Ok(State::Running)
                }
                s => Err(HttpError::new(
                    409,
                    format!("the job has already ended ({})", state_name(s)),
                )),
            }
        })
    }

    /// One event of job `id` (JSON of a library event); `image` with iteration events.
    /// A terminal event (`finished`, `stopped`, `failed`) ends the job.
    pub fn publish(&self, id: &str, json: Arc<str>, image: Option<Arc<InputImage>>) {
        let parsed: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
        let kind = parsed.get("event").and_then(Value::as_str).unwrap_or("");
        let list_changes = !matches!(kind, "iteration" | "snapshot");
        let mut jobs = self.lock();
        if let Some(r) = jobs.get_mut(id) {
            match kind {
                "planned" | "stage_started" | "iteration" => {
                    merge_progress(&mut r.progress, &parsed);
                }
                "finished" => end(r, State::Finished, parsed),
                "stopped" => end(r, State::Stopped, parsed),
                "failed" => {
                    r.error = parsed.get("error").and_then(Value::as_str).map(Into::into);
                    r.state = State::Failed;
                    r.image = None;
                }
                _ => {}
            }
            if let Some(img) = image {
                r.image = Some(img);
                r.image_version += 1;
            }
            r.events.get_or_insert_with(Vec::new).push(json);
        }
        jobs.events_version += 1;
        if list_changes {
            jobs.version += 1;
        }
        drop(jobs);
        self.changed.notify_all();
    }

    /// Waits (at most `timeout`) until `f` finds something, re-checking after every change.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&mut Jobs) -> Option<T>,
    ) -> Option<T> {
        let deadline = std::time::Instant::now() + timeout;
        let mut jobs = self.lock();
        loop {
            if let Some(t) = f(&mut jobs) {
                return Some(t);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return None;
            }
            jobs = self
                .changed
                .wait_timeout(jobs, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

fn end(r: &mut Record, state: State, summary: Value) {
    r.state = state;
    r.summary = Some(summary);
}

/// Keeps what the page's status line needs from the latest progress event.
fn merge_progress(progress: &mut Option<Value>, event: &Value) {
    let p = progress.get_or_insert_with(|| serde_json::json!({}));
    let (Some(p), Some(e)) = (p.as_object_mut(), event.as_object()) else {
        return;
    };
    for key in [
        "stage",
        "stages",
        "iteration",
        "max_iterations",
        "width",
        "height",
        "elapsed_s",
        "step_s",
    ] {
        if let Some(v) = e.get(key) {
            p.insert(key.into(), v.clone());
        }
    }
    if e.get("event").and_then(Value::as_str) == Some("planned") {
        if let Some(s) = e.get("stages").and_then(Value::as_array) {
            p.insert("stages".into(), s.len().into());
        }
        p.insert("stage".into(), 0.into());
    }
}

pub fn state_name(s: State) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}
