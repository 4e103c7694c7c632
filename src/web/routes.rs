//! The HTTP API (the page is its only client; docs in the README's "In the browser"):
//!
//! | route | what |
//! |---|---|
//! | `GET /`, `/app.js`, `/chart.js`, `/style.css` | the page |
//! | `GET /examples/NAME` | a bundled example image |
//! | `GET /api/info` | mode, limits, examples, the options (names, defaults, help) |
//! | `POST /api/images?name=N` | an image file as the body -> `{id, width, height, name}` |
//! | `POST /api/jobs` | `{content, style, options}` (ids or `example:NAME`) -> `{id, position, plan}` |
//! | `GET /api/jobs` | running, queued and earlier jobs |
//! | `GET /api/events` | server-sent events: the job list whenever it changes |
//! | `GET /api/jobs/ID` | one job with all its events |
//! | `GET /api/jobs/ID/events` | server-sent events: the job's events, replayed, then live |
//! | `GET /api/jobs/ID/image` | the current image (8-bit PNG) |
//! | `GET /api/jobs/ID/result?format=png\|png16\|tiff\|tiff16\|jpeg` | the result, as a download |
//! | `GET /api/jobs/ID/input/content\|style` | small copies of the inputs |
//! | `POST /api/jobs/ID/stop` | stop (the current image is kept) or cancel a queued job |

use super::assets;
use super::http::{write_event, HttpError, Request, Response};
use super::jobs::{Jobs, Pending, Record, Settings};
use super::options;
use super::store::valid_id;
use super::{App, Mode};
use nstyle::http_request::percent_decode;
use nstyle::image_io::{encode_image, from_network, OutputFormat, MAX_INPUT_PIXELS};
use nstyle::run::Job;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Bodies other than uploads (a job's settings).
const MAX_JSON_BYTES: u64 = 64 * 1024;
/// A comment on idle event streams, so that dead connections are noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The largest body `req` may have (checked before it is read); refusals that need no
/// body come here too.
pub fn body_limit(req: &Request, app: &App) -> Result<u64, HttpError> {
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/api/images") => watch_only(app).map(|()| app.limits.max_upload),
        ("POST", "/api/jobs") => watch_only(app).map(|()| MAX_JSON_BYTES),
        _ => Ok(MAX_JSON_BYTES),
    }
}

pub fn handle(app: &Arc<App>, req: &Request) -> Result<Response, HttpError> {
    let seg = req.segments();
    let get = req.method == "GET";
    let post = req.method == "POST";
    match seg.as_slice() {
        [] if get => page("index.html"),
        [f @ ("app.js" | "chart.js" | "style.css")] if get => page(f),
        ["examples", name] if get => {
            let e = assets::example(name).ok_or_else(|| not_found("no such example"))?;
            Ok(Response::asset("image/jpeg", e.bytes))
        }
        ["api", "info"] if get => Ok(Response::json(200, &info(app))),
        ["api", "images"] if post => upload(app, req),
        ["api", "jobs"] if get => Ok(Response::json(200, &app.hub.lock().list())),
        ["api", "jobs"] if post => submit(app, req),
        ["api", "events"] if get => Ok(list_stream(app)),
        ["api", "jobs", id] if get => detail(app, id),
        ["api", "jobs", id, "events"] if get => job_stream(app, id, req),
        ["api", "jobs", id, "image"] if get => current_image(app, id),
        ["api", "jobs", id, "result"] if get => download(app, id, req),
        ["api", "jobs", id, "input", which] if get => input_thumb(app, id, which),
        ["api", "jobs", id, "stop"] if post => {
            known(app, id)?;
            let state = app.hub.stop(id)?;
            Ok(Response::json(200, &json!({ "id": id, "state": state })))
        }
        _ if route_exists(&seg) => Err(HttpError::new(
            405,
            format!("{} is not allowed here", req.method),
        )),
        _ => Err(not_found("no such page")),
    }
}

/// Whether some method has a route at this path.
fn route_exists(seg: &[&str]) -> bool {
    matches!(
        seg,
        [] | ["app.js" | "chart.js" | "style.css"]
            | ["examples", _]
            | ["api", "info" | "images" | "jobs" | "events"]
            | ["api", "jobs", _]
            | ["api", "jobs", _, "events" | "image" | "result" | "stop"]
            | ["api", "jobs", _, "input", _]
    )
}

fn not_found(msg: &str) -> HttpError {
    HttpError::new(404, msg)
}

fn page(name: &str) -> Result<Response, HttpError> {
    let (ctype, bytes) = assets::file(name).ok_or_else(|| not_found("no such page"))?;
    Ok(Response::asset(ctype, bytes))
}

/// An id the server made and still knows (anything else is a 404, before any lookup).
fn known(app: &App, id: &str) -> Result<(), HttpError> {
    if valid_id(id) && app.hub.lock().get(id).is_some() {
        Ok(())
    } else {
        Err(not_found("no such job"))
    }
}

fn info(app: &App) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "mode": match app.mode { Mode::Serve => "serve", Mode::Watch => "watch" },
        "address": app.addr.to_string(),
        "loopback": app.addr.ip().is_loopback(),
        "data_dir": app.store.is_some(),
        "limits": {
            "max_upload_bytes": app.limits.max_upload,
            "max_pixels": MAX_INPUT_PIXELS,
            "max_queue": app.limits.max_queue,
        },
        "examples": assets::EXAMPLES.iter().map(|e| json!({
            "kind": e.kind, "name": e.name, "url": format!("/examples/{}", e.name),
        })).collect::<Vec<_>>(),
        "options": options::schema(),
    })
}

/// Ids the server makes: time and a counter, unique across restarts.
pub fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % 4096;
    format!("{prefix}{ms:x}{n:03x}")
}

fn watch_only(app: &App) -> Result<(), HttpError> {
    match app.mode {
        Mode::Serve => Ok(()),
        Mode::Watch => Err(HttpError::new(
            403,
            "this page watches one command-line run; start jobs with `nstyle serve`",
        )),
    }
}

fn upload(app: &App, req: &Request) -> Result<Response, HttpError> {
    watch_only(app)?;
    let name = percent_decode(req.query_param("name").unwrap_or("upload"));
    let u = app.uploads.add(req.body.clone(), &name, new_id("u"))?;
    Ok(Response::json(
        201,
        &json!({ "id": u.id, "name": u.name, "width": u.width, "height": u.height }),
    ))
}

fn submit(app: &App, req: &Request) -> Result<Response, HttpError> {
    watch_only(app)?;
    let ctype = req.header("content-type").unwrap_or("");
    if !ctype.starts_with("application/json") {
        return Err(HttpError::new(415, "send the job as application/json"));
    }
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| HttpError::new(400, format!("the job is not valid JSON: {e}")))?;
    let reference = |key: &str| -> Result<Option<String>, HttpError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(HttpError::new(400, format!("'{key}' must be an image id"))),
        }
    };
    let style_ref = reference("style")?
        .ok_or_else(|| HttpError::new(400, "choose a painting (style image)"))?;
    let content_ref = reference("content")?;
    let empty = serde_json::Map::new();
    let opts = match body.get("options") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(HttpError::new(400, "'options' must be an object")),
    };
    let opts = options::normalise(opts)?;
    let argv = options::argv(&opts, content_ref.is_none());
    let args = options::parse(&argv)?;
    let style = app.uploads.input(&style_ref)?;
    let content = content_ref.map(|c| app.uploads.input(&c)).transpose()?;
    // Plan now, so that a bad value or an impossible size is refused at once.
    let spec = options::job_spec(
        &args,
        content
            .as_ref()
            .map(|c| c.decode())
            .transpose()?
            .map(|l| l.image),
        style.decode()?.image,
    )?;
    let job = Job::new(spec).map_err(options::plan_error)?;
    let plan = serde_json::to_value(job.plan()).unwrap_or(Value::Null);
    drop(job);
    let settings = Settings {
        content: content.as_ref().map(|c| c.name()),
        style: style.name(),
        options: opts,
        command: None,
    };
    let id = new_id("");
    let mut record = Record::new(id.clone(), settings, super::jobs::State::Queued);
    record.pending = Some(Pending {
        content,
        style,
        argv,
    });
    let position = app.hub.submit(record, app.limits.max_queue)?;
    Ok(Response::json(
        202,
        &json!({ "id": id, "position": position, "plan": plan }),
    ))
}

/// Loads a job's events from the data directory the first time they are asked for.
fn events_of<'a>(app: &App, jobs: &'a mut Jobs, id: &str) -> Option<&'a [Arc<str>]> {
    let r = jobs.get_mut(id)?;
    if r.events.is_none() {
        r.events = Some(app.store.as_ref().map(|s| s.events(id)).unwrap_or_default());
    }
    r.events.as_deref()
}

fn detail(app: &App, id: &str) -> Result<Response, HttpError> {
    known(app, id)?;
    let mut jobs = app.hub.lock();
    let position = jobs.position(id);
    let events: Vec<Value> = events_of(app, &mut jobs, id)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect();
    let r = jobs.get(id).ok_or_else(|| not_found("no such job"))?;
    let mut v = r.brief(position);
    v["events"] = Value::Array(events);
    Ok(Response::json(200, &v))
}

fn list_stream(app: &Arc<App>) -> Response {
    let app = app.clone();
    Response::events(move |s| {
        let mut seen = u64::MAX;
        loop {
            let next = app.hub.wait_for(KEEPALIVE, |j| {
                (j.version != seen).then(|| (j.version, j.list().to_string()))
            });
            match next {
                Some((v, list)) => {
                    seen = v;
                    write_event(s, None, Some("jobs"), &list)?;
                }
                None => write_event(s, None, Some("ping"), "{}")?,
            }
        }
    })
}

fn job_stream(app: &Arc<App>, id: &str, req: &Request) -> Result<Response, HttpError> {
    known(app, id)?;
    // A reconnecting EventSource says what it has seen.
    let mut next: usize = req
        .header("last-event-id")
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(0, |i| i + 1);
    let (app, id) = (app.clone(), id.to_string());
    Ok(Response::events(move |s| loop {
        let batch = app.hub.wait_for(KEEPALIVE, |j| {
            let events = events_of(&app, j, &id)?.get(next..)?.to_vec();
            let done = j.get(&id).is_none_or(|r| r.state.is_done());
            (!events.is_empty() || done).then_some((events, done))
        });
        match batch {
            Some((events, done)) => {
                for e in &events {
                    write_event(s, Some(next), None, e)?;
                    next += 1;
                }
                if done {
                    return write_event(s, None, Some("end"), "{}");
                }
            }
            None => write_event(s, None, Some("ping"), "{}")?,
        }
    }))
}

/// The 16-bit PNG result, from memory or the data directory.
fn result_png(app: &App, id: &str) -> Result<Arc<Vec<u8>>, HttpError> {
    let (in_memory, has) = {
        let jobs = app.hub.lock();
        let r = jobs.get(id).ok_or_else(|| not_found("no such job"))?;
        (r.result.clone(), r.has_result)
    };
    if !has {
        return Err(HttpError::new(409, "the job has no result (yet)"));
    }
    in_memory
        .or_else(|| app.store.as_ref()?.result(id).map(Arc::new))
        .ok_or_else(|| {
            HttpError::new(
                410,
                "this result is no longer kept (start the server with --data DIR to keep results)",
            )
        })
}

fn reencode(png16: &[u8], fmt: OutputFormat, sixteen_bit: bool) -> Result<Vec<u8>, HttpError> {
    let img = super::uploads::decode(png16, "result")?.image;
    encode_image(&img, fmt, sixteen_bit)
        .map_err(|e| HttpError::new(500, format!("cannot encode the image: {e}")))
}

fn current_image(app: &App, id: &str) -> Result<Response, HttpError> {
    known(app, id)?;
    let (version, cached, image) = {
        let jobs = app.hub.lock();
        let r = jobs.get(id).ok_or_else(|| not_found("no such job"))?;
        (r.image_version, r.preview.clone(), r.image.clone())
    };
    let png = match (cached, image) {
        (Some((v, png)), _) if v == version => png,
        (_, Some(img)) => {
            let png = encode_image(&from_network(&img), OutputFormat::Png, false)
                .map_err(|e| HttpError::new(500, format!("cannot encode the image: {e}")))?;
            let png = Arc::new(png);
            remember(app, id, version, &png);
            png
        }
        (_, None) => {
            let Ok(p) = result_png(app, id) else {
                return Err(not_found("no image yet"));
            };
            let png = Arc::new(reencode(&p, OutputFormat::Png, false)?);
            remember(app, id, version, &png);
            png
        }
    };
    Ok(Response::bytes("image/png", png.to_vec())
        .with_header("Cache-Control", "no-store".into())
        .with_header("X-Image-Version", version.to_string()))
}

/// Keeps an encoded preview for the next reader (unless the image changed meanwhile).
fn remember(app: &App, id: &str, version: usize, png: &Arc<Vec<u8>>) {
    let mut jobs = app.hub.lock();
    if let Some(r) = jobs.get_mut(id).filter(|r| r.image_version == version) {
        r.preview = Some((version, png.clone()));
    }
}

fn download(app: &App, id: &str, req: &Request) -> Result<Response, HttpError> {
    known(app, id)?;
    let format = req.query_param("format").unwrap_or("png");
    let (fmt, sixteen, ctype, ext) = match format {
        "png" => (OutputFormat::Png, false, "image/png", "png"),
        "png16" => (OutputFormat::Png, true, "image/png", "png"),
        "tiff" => (OutputFormat::Tiff, false, "image/tiff", "tif"),
        "tiff16" => (OutputFormat::Tiff, true, "image/tiff", "tif"),
        "jpeg" => (OutputFormat::Jpeg, false, "image/jpeg", "jpg"),
        _ => {
            return Err(HttpError::new(
                400,
                "format must be png, png16, tiff, tiff16 or jpeg",
            ))
        }
    };
    let png16 = result_png(app, id)?;
    let bytes = if format == "png16" {
        png16.to_vec()
    } else {
        reencode(&png16, fmt, sixteen)?
    };
    let suffix = if sixteen { "-16bit" } else { "" };
    Ok(Response::bytes(ctype, bytes).with_header(
        "Content-Disposition",
        format!("attachment; filename=\"nstyle-{id}{suffix}.{ext}\""),
    ))
}

fn input_thumb(app: &App, id: &str, which: &str) -> Result<Response, HttpError> {
    known(app, id)?;
    let k = match which {
        "content" => 0,
        "style" => 1,
        _ => return Err(not_found("no such input")),
    };
    let in_memory = app.hub.lock().get(id).and_then(|r| r.thumbs[k].clone());
    let png = in_memory
        .map(|p| p.to_vec())
        .or_else(|| app.store.as_ref()?.thumb(id, k))
        .ok_or_else(|| not_found("no copy of this input"))?;
    Ok(Response::bytes("image/png", png))
}
