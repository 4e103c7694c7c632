//! `nstyle._nstyle`: the native half of the Python package. The Python half
//! (`pysrc/nstyle/__init__.py`) turns arrays into bytes and back and gives the public
//! signatures; everything else happens here, through the library's one entry point
//! ([`nstyle::run::Job`]) with the options as the command line names them
//! ([`nstyle::run::TransferOptions`]).
//!
//! Threads: the job runs on a worker thread with the GIL released; the calling thread
//! waits and polls `PyErr_CheckSignals` (only the main thread can see Ctrl-C), so
//! KeyboardInterrupt stops the job after its current step. Each event reaches the Python
//! callback with the GIL taken for the call only.

use image::{DynamicImage, Rgb32FImage, RgbImage};
use nstyle::image_io::{self, from_network, read_npy};
use nstyle::run::{
    evaluate_losses, Event, InitChoice, InitSpec, Job, LossesOptions, Observer, SizeMismatch,
    TransferOptions,
};
use nstyle::tensor::InputImage;
use nstyle::Vgg19Weights;
use pyo3::exceptions::{
    PyFileNotFoundError, PyOSError, PyRuntimeError, PyRuntimeWarning, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyTuple};
use std::ffi::OsString;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, Once};
use std::time::Duration;

/// Set in a child process created by `fork()` after this module was loaded.
static FORKED: AtomicBool = AtomicBool::new(false);
/// The one-thread-after-fork warning is given once per process.
static WARNED_FORK: AtomicBool = AtomicBool::new(false);
static AT_FORK: Once = Once::new();

extern "C" fn mark_forked() {
    FORKED.store(true, Ordering::SeqCst);
}

/// A library error as the Python exception a caller expects; options are named as
/// keywords (`style_weight must be ...`).
fn py_error(e: nstyle::Error) -> PyErr {
    use nstyle::Error as E;
    match e {
        E::InvalidValue { option, msg } => {
            PyValueError::new_err(format!("{} {msg}", option.replace('-', "_")))
        }
        E::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(e.to_string())
        }
        E::Io { .. } => PyOSError::new_err(e.to_string()),
        E::Image { .. }
        | E::Weights { .. }
        | E::InvalidOption(_)
        | E::TooLarge(_)
        | E::Shape(_) => PyValueError::new_err(e.to_string().replace('\n', " ")),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

/// An image argument: a path, or `(kind, bytes, height, width)` from the Python side with
/// kind `u8` (H x W x 3 uint8), `f32` (H x W x 3 float32 in [0, 1]) or `net` (3 x H x W
/// float32 in the network's input space).
enum ImageArg {
    Path(PathBuf),
    Raw {
        kind: String,
        data: Vec<u8>,
        height: u32,
        width: u32,
    },
}

impl ImageArg {
    fn from_py(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<ImageArg> {
        if let Ok(p) = obj.extract::<PathBuf>() {
            return Ok(ImageArg::Path(p));
        }
        let t = obj
            .cast::<PyTuple>()
            .map_err(|_| PyTypeError::new_err(format!("{name} must be a path or an array")))?;
        let kind: String = t.get_item(0)?.extract()?;
        let data = t.get_item(1)?;
        let data = data
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err(format!("{name}: array data must be bytes")))?;
        Ok(ImageArg::Raw {
            kind,
            data: data.as_bytes().to_vec(),
            height: t.get_item(2)?.extract()?,
            width: t.get_item(3)?.extract()?,
        })
    }

    fn opt(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<ImageArg>> {
        obj.filter(|o| !o.is_none())
            .map(|o| ImageArg::from_py(o, name))
            .transpose()
    }

    /// The image as RGB values in [0, 1], decoded like the command line decodes files.
    fn decode(&self, name: &str) -> PyResult<Rgb32FImage> {
        match self {
            ImageArg::Path(p) => Ok(image_io::load_image(p).map_err(py_error)?.image),
            ImageArg::Raw {
                kind,
                data,
                height,
                width,
            } => {
                let (h, w) = (*height, *width);
                if h == 0 || w == 0 {
                    return Err(PyValueError::new_err(format!(
                        "{name} has zero size ({w}x{h})"
                    )));
                }
                let n = h as usize * w as usize * 3;
                let bad_len = || {
                    PyValueError::new_err(format!("{name}: data does not hold {h}x{w}x3 values"))
                };
                match kind.as_str() {
                    "u8" => {
                        if data.len() != n {
                            return Err(bad_len());
                        }
                        let img = RgbImage::from_raw(w, h, data.clone()).ok_or_else(bad_len)?;
                        // The same conversion as decoding an 8-bit file.
                        Ok(DynamicImage::ImageRgb8(img).to_rgb32f())
                    }
                    "f32" => {
                        let v = floats(data);
                        if v.len() != n {
                            return Err(bad_len());
                        }
                        if let Some(x) = v.iter().find(|x| !(0.0..=1.0).contains(*x)) {
                            return Err(PyValueError::new_err(format!(
                                "{name}: float32 values must be in [0, 1], found {x}"
                            )));
                        }
                        Rgb32FImage::from_raw(w, h, v).ok_or_else(bad_len)
                    }
                    other => Err(PyValueError::new_err(format!(
                        "{name}: an array of kind '{other}' is not an image here"
                    ))),
                }
            }
        }
    }
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn float_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// An RGB image as H x W x 3 bytes: uint8 (as an 8-bit file would hold it) or float32.
fn rgb_bytes(img: Rgb32FImage, float_output: bool) -> Vec<u8> {
    if float_output {
        float_bytes(img.as_raw())
    } else {
        DynamicImage::ImageRgb32F(img).to_rgb8().into_raw()
    }
}

/// Options from `(name, text)` pairs; an unknown name is a TypeError, as for any
/// unexpected keyword argument.
fn transfer_options(function: &str, options: Vec<(String, String)>) -> PyResult<TransferOptions> {
    let mut o = TransferOptions::default();
    for (k, v) in options {
        if TransferOptions::canonical_name(&k).is_none() {
            return Err(PyTypeError::new_err(format!(
                "{function}() got an unexpected keyword argument '{k}'"
            )));
        }
        o.set(&k, &v).map_err(py_error)?;
    }
    Ok(o)
}

/// Weights are decoded once per source and kept: the bundled copy takes a while to upcast.
type WeightsKey = (Option<PathBuf>, Option<OsString>);
static WEIGHTS: Mutex<Option<(WeightsKey, Arc<Vgg19Weights>)>> = Mutex::new(None);

fn weights(path: Option<PathBuf>) -> PyResult<Arc<Vgg19Weights>> {
    let key = (path.clone(), std::env::var_os(nstyle::vgg::WEIGHTS_ENV));
    let mut cached = WEIGHTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((k, w)) = cached.as_ref() {
        if *k == key {
            return Ok(w.clone());
        }
    }
    let w = Arc::new(Vgg19Weights::resolve(path.as_deref()).map_err(py_error)?);
    *cached = Some((key, w.clone()));
    Ok(w)
}

/// How many threads a run gets, and whether it needs its own pool: always after a
/// `fork()` (the global pool's threads did not survive it), one thread there unless asked.
fn thread_plan(py: Python<'_>, threads: Option<usize>) -> PyResult<Option<usize>> {
    if threads == Some(0) {
        return Err(PyValueError::new_err("threads must be at least 1"));
    }
    if FORKED.load(Ordering::SeqCst) && threads.is_none() {
        if !WARNED_FORK.swap(true, Ordering::SeqCst) {
            let warnings = py.import("warnings")?;
            warnings.call_method1(
                "warn",
                (
                    "nstyle: this process was forked, so nstyle runs on one thread here (pass threads=N to use more)",
                    py.get_type::<PyRuntimeWarning>(),
                ),
            )?;
        }
        return Ok(Some(1));
    }
    Ok(threads)
}

/// Runs `f` on a worker thread (in a pool of `threads` if given) with the GIL released;
/// the calling thread polls for Ctrl-C and sets `stop` when it comes.
fn run_detached<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    stop: &AtomicBool,
    f: impl FnOnce() -> T + Send,
) -> PyResult<(T, Option<PyErr>)> {
    let pool = threads
        .map(|n| rayon::ThreadPoolBuilder::new().num_threads(n).build())
        .transpose()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start worker threads: {e}")))?;
    let mut interrupt: Option<PyErr> = None;
    let out = py.detach(|| {
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel();
            s.spawn(move || {
                let out = match &pool {
                    Some(p) => p.install(f),
                    None => f(),
                };
                let _ = tx.send(out);
            });
            loop {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(out) => return out,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if interrupt.is_none() {
                            if let Err(e) = Python::attach(|py| py.check_signals()) {
                                stop.store(true, Ordering::SeqCst);
                                interrupt = Some(e);
                            }
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        panic!("the nstyle worker thread ended without a result")
                    }
                }
            }
        })
    });
    Ok((out, interrupt))
}

/// The Python callback as a job observer: each event as JSON text, the image with
/// snapshot events; `False` or an exception stops the job.
struct Callback<'a> {
    callback: Option<&'a Py<PyAny>>,
    stop: &'a AtomicBool,
    error: &'a Mutex<Option<PyErr>>,
    float_output: bool,
}

impl Observer for Callback<'_> {
    fn on_event(&mut self, event: &Event, image: Option<&InputImage>) -> ControlFlow<()> {
        let failed = self
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        if let (Some(cb), false) = (self.callback, failed) {
            self.call(cb, event, image);
        }
        if self.stop.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl Callback<'_> {
    /// Hands one event to Python; `False` or an exception asks the job to stop (after an
    /// exception the callback hears nothing more).
    fn call(&self, cb: &Py<PyAny>, event: &Event, image: Option<&InputImage>) {
        let json = serde_json::to_string(event).expect("events serialise");
        let picture = match (event, image) {
            (Event::Snapshot { .. }, Some(x)) => Some((
                rgb_bytes(from_network(x), self.float_output),
                x.height,
                x.width,
            )),
            _ => None,
        };
        let stop = Python::attach(|py| {
            let (bytes, h, w) = match &picture {
                Some((b, h, w)) => (Some(PyByteArray::new(py, b)), *h, *w),
                None => (None, 0, 0),
            };
            match cb.call1(py, (json, bytes, h, w)) {
                Ok(r) => {
                    let r = r.bind(py);
                    r.is_instance_of::<PyBool>() && !r.is_truthy().unwrap_or(true)
                }
                Err(e) => {
                    *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    true
                }
            }
        });
        if stop {
            self.stop.store(true, Ordering::SeqCst);
        }
    }
}

/// `stylize` (see the Python docstring): returns `(bytes, height, width)` of the
/// H x W x 3 result. `styles` is a list of one or more paintings (blended by the
/// `style_blend` option).
#[pyfunction]
#[pyo3(signature = (content, styles, options, init_image=None, callback=None, callback_every=None, threads=None, float_output=false))]
#[allow(clippy::too_many_arguments)]
fn stylize<'py>(
    py: Python<'py>,
    content: Option<Bound<'py, PyAny>>,
    styles: Vec<Bound<'py, PyAny>>,
    options: Vec<(String, String)>,
    init_image: Option<Bound<'py, PyAny>>,
    callback: Option<Py<PyAny>>,
    callback_every: Option<usize>,
    threads: Option<usize>,
    float_output: bool,
) -> PyResult<(Bound<'py, PyByteArray>, usize, usize)> {
    let opts = transfer_options("stylize", options)?;
    let content = ImageArg::opt(content.as_ref(), "content")?;
    let styles = styles
        .iter()
        .map(|s| ImageArg::from_py(s, "style"))
        .collect::<PyResult<Vec<_>>>()?;
    let init_image = ImageArg::opt(init_image.as_ref(), "init")?;
    if callback_every == Some(0) {
        return Err(PyValueError::new_err("callback_every must be at least 1"));
    }
    opts.check(content.is_some()).map_err(py_error)?;
    if styles.is_empty() {
        return Err(PyValueError::new_err("style: give at least one painting"));
    }
    opts.style_weights(styles.len()).map_err(py_error)?;
    let threads = thread_plan(py, threads)?;
    let content = content.map(|c| c.decode("content")).transpose()?;
    let styles = styles
        .iter()
        .map(|s| s.decode("style"))
        .collect::<PyResult<Vec<_>>>()?;
    let init = match (init_image, opts.init_choice()) {
        (Some(img), _) => InitSpec::Image(img.decode("init")?),
        (None, InitChoice::Noise) => InitSpec::Noise,
        (None, InitChoice::Content) => InitSpec::Content,
        (None, InitChoice::File(p)) => InitSpec::Image(ImageArg::Path(p.into()).decode("init")?),
    };
    let mut spec = opts.job_spec(content, styles, init).map_err(py_error)?;
    if callback.is_some() {
        spec.snapshot_every = callback_every;
    }
    let job = Job::new(spec).map_err(py_error)?;
    let weights = weights(opts.weights.clone())?;
    let stop = AtomicBool::new(false);
    let error = Mutex::new(None);
    let mut observer = Callback {
        callback: callback.as_ref(),
        stop: &stop,
        error: &error,
        float_output,
    };
    let (result, interrupt) =
        run_detached(py, threads, &stop, || job.run(&weights, &mut observer))?;
    if let Some(e) = error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    if let Some(e) = interrupt {
        return Err(e);
    }
    let outcome = result.map_err(py_error)?;
    // Stopped by the callback's False, the image reached so far is the result.
    let (h, w) = (outcome.image.height, outcome.image.width);
    let bytes = rgb_bytes(from_network(&outcome.image), float_output);
    Ok((PyByteArray::new(py, &bytes), h, w))
}

/// `losses` (see the Python docstring): returns `(json, gradient bytes or None, height,
/// width)`.
#[pyfunction]
#[pyo3(signature = (content, style, image, options, gradient=false))]
fn losses<'py>(
    py: Python<'py>,
    content: Option<Bound<'py, PyAny>>,
    style: Bound<'py, PyAny>,
    image: Bound<'py, PyAny>,
    options: Vec<(String, String)>,
    gradient: bool,
) -> PyResult<(String, Option<Bound<'py, PyByteArray>>, usize, usize)> {
    let mut opts = LossesOptions::default();
    for (k, v) in options {
        if LossesOptions::canonical_name(&k).is_none() {
            return Err(PyTypeError::new_err(format!(
                "losses() got an unexpected keyword argument '{k}'"
            )));
        }
        opts.set(&k, &v).map_err(py_error)?;
    }
    opts.config().map_err(py_error)?;
    opts.backend().map_err(py_error)?;
    let content = ImageArg::opt(content.as_ref(), "content")?
        .map(|c| c.decode("content"))
        .transpose()?;
    let style = ImageArg::from_py(&style, "style")?.decode("style")?;
    let image = match ImageArg::from_py(&image, "image")? {
        ImageArg::Path(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) => {
            if opts.size.is_some() {
                return Err(PyValueError::new_err(
                    "size cannot be used with a .npy image (it is used as is)",
                ));
            }
            let (shape, data) = read_npy(&p).map_err(py_error)?;
            if shape.len() != 3 || shape[0] != 3 || shape[1] == 0 || shape[2] == 0 {
                return Err(PyValueError::new_err(format!(
                    "{}: .npy image must have shape [3, H, W], found {shape:?}",
                    p.display()
                )));
            }
            InputImage::new(shape[1], shape[2], data).map_err(py_error)?
        }
        ImageArg::Raw {
            kind,
            data,
            height,
            width,
        } if kind == "net" => {
            if opts.size.is_some() {
                return Err(PyValueError::new_err(
                    "size cannot be used with a [3, H, W] image (it is used as is)",
                ));
            }
            InputImage::new(height as usize, width as usize, floats(&data)).map_err(py_error)?
        }
        other => {
            let img = other.decode("image")?;
            opts.evaluation_image(&img, content.as_ref()).map_err(
                |SizeMismatch { image, content }| {
                    PyValueError::new_err(format!(
                        "image is {}x{} but the content image is {}x{}: give size= to resize both",
                        image.0, image.1, content.0, content.1
                    ))
                },
            )?
        }
    };
    let weights = weights(opts.weights.clone())?;
    let stop = AtomicBool::new(false);
    let (result, interrupt) = run_detached(py, None, &stop, || {
        evaluate_losses(&opts, &weights, content.as_ref(), &style, &image, gradient)
    })?;
    if let Some(e) = interrupt {
        return Err(e);
    }
    let values = result.map_err(py_error)?;
    let grad = values
        .gradient
        .as_deref()
        .map(|g| PyByteArray::new(py, &float_bytes(g)));
    Ok((values.json.to_string(), grad, image.height, image.width))
}

/// Decodes an image file as the command line does: `(bytes, height, width, notes)`.
#[pyfunction]
#[pyo3(signature = (path, float_output=true))]
fn load_image<'py>(
    py: Python<'py>,
    path: PathBuf,
    float_output: bool,
) -> PyResult<(Bound<'py, PyByteArray>, u32, u32, Vec<String>)> {
    let loaded = image_io::load_image(&path).map_err(py_error)?;
    let (w, h) = loaded.image.dimensions();
    let bytes = rgb_bytes(loaded.image, float_output);
    Ok((PyByteArray::new(py, &bytes), h, w, loaded.notes))
}

/// Writes an image (PNG, JPEG or TIFF by extension) atomically.
#[pyfunction]
#[pyo3(signature = (path, image, sixteen_bit=false))]
fn save_image(path: PathBuf, image: Bound<'_, PyAny>, sixteen_bit: bool) -> PyResult<()> {
    let img = ImageArg::from_py(&image, "image")?.decode("image")?;
    image_io::save_image(&path, &img, sixteen_bit).map_err(py_error)
}

/// The option names `stylize` and `losses` accept (snake_case).
#[pyfunction]
fn option_names() -> (Vec<String>, Vec<String>) {
    let snake = |names: &[&str]| names.iter().map(|n| n.replace('-', "_")).collect();
    (snake(TransferOptions::NAMES), snake(LossesOptions::NAMES))
}

#[pymodule]
fn _nstyle(m: &Bound<'_, PyModule>) -> PyResult<()> {
    AT_FORK.call_once(|| {
        // SAFETY: registers a handler that only stores to an atomic (async-signal-safe).
        unsafe {
            libc::pthread_atfork(None, None, Some(mark_forked));
        }
    });
    m.add_function(wrap_pyfunction!(stylize, m)?)?;
    m.add_function(wrap_pyfunction!(losses, m)?)?;
    m.add_function(wrap_pyfunction!(load_image, m)?)?;
    m.add_function(wrap_pyfunction!(save_image, m)?)?;
    m.add_function(wrap_pyfunction!(option_names, m)?)?;
    Ok(())
}
