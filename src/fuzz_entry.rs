//! The entry points the fuzzers drive (`fuzz/`), one per kind of untrusted input, and that
//! `tests/fuzz_corpus.rs` replays over the committed corpus: whatever the bytes, each must
//! return (an error is fine), never panic, hang or exhaust memory.

use std::path::Path;

/// An image file in any format: decoding with the limits, EXIF orientation, conversion.
pub fn image(data: &[u8]) {
    let _ = crate::image_io::decode_image(data, Path::new("fuzz"));
}

/// A weights file: safetensors parsing, names, dtypes and shapes of every tensor.
pub fn weights(data: &[u8]) {
    let _ = crate::vgg::Vgg19Weights::from_bytes(data, "fuzz");
}

/// A `.npy` array (`losses --image`, `--swd-directions`).
pub fn npy(data: &[u8]) {
    let _ = crate::image_io::parse_npy(data, Path::new("fuzz.npy"));
}

/// Option strings: style-loss specs and fusions, layer lists with weights, layer and
/// method names.
pub fn options(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = s.parse::<crate::loss::StyleSpec>();
    let _ = crate::loss::parse_layer_weights(s);
    let _ = s.parse::<crate::vgg::Layer>();
    let _ = s.parse::<crate::loss::Method>();
}

/// Bytes from a client of `nstyle serve`: the request head, its Content-Length, path
/// segments and the percent-decoded upload name, as the server reads them.
pub fn http_request(data: &[u8]) {
    if let Ok(Some(mut req)) = crate::http_request::parse_head(data) {
        let _ = req.content_length();
        let _ = req.segments();
        if let Some(name) = req.query_param("name") {
            let _ = crate::http_request::percent_decode(name);
        }
        let _ = req.take_pending();
    }
}

/// A job's options as a JSON object, the way the web page, the Python keyword arguments
/// and batch manifests give them (a string or number per name, set by
/// [`TransferOptions::set`](crate::run::options::TransferOptions::set)), then the job
/// built and planned for two small images as the server does before it queues one. A
/// `"style-only": true` entry drops the content image (style reconstruction).
pub fn job_options(data: &[u8]) {
    use crate::run::{options::TransferOptions, InitChoice, InitSpec, Job};
    use serde_json::{Map, Value};
    let Ok(mut map) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return;
    };
    let style_only = map.remove("style-only") == Some(Value::Bool(true));
    let mut options = TransferOptions::default();
    for (name, value) in &map {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return,
        };
        if options.set(name, &text).is_err() {
            return;
        }
    }
    let init = match options.init_choice() {
        InitChoice::Noise => InitSpec::Noise,
        InitChoice::Content => InitSpec::Content,
        // An initial image from a path: a file read, not what this target checks.
        InitChoice::File(_) => return,
    };
    let gradient = |w: u32, h: u32| {
        image::Rgb32FImage::from_fn(w, h, |x, y| {
            image::Rgb([x as f32 / w as f32, y as f32 / h as f32, 0.5])
        })
    };
    let content = (!style_only).then(|| gradient(40, 30));
    let Ok(spec) = options.job_spec(content, vec![gradient(30, 40)], init) else {
        return;
    };
    if let Ok(job) = Job::new(spec) {
        let _ = serde_json::to_value(job.plan());
    }
}

/// One fuzz target: bytes in, nothing out.
pub type Target = fn(&[u8]);

/// Every target by name, for the corpus replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("image", image),
    ("weights", weights),
    ("npy", npy),
    ("options", options),
    ("http_request", http_request),
    ("job_options", job_options),
];
