//! nstyle in the browser (cargo feature `web`): `nstyle serve`, a local web app that runs
//! jobs one at a time on a worker thread, and `--web`, the same live view of a
//! command-line run. A small HTTP server on `std::net` (`http`, `server`), the API
//! (`routes`), the jobs and their events (`jobs`, `live`, `worker`), uploads, options,
//! the data directory (`store`) and the page's files (`assets`, from `assets/web/`).

mod assets;
mod http;
mod jobs;
mod live;
mod options;
mod routes;
mod server;
mod store;
mod uploads;
mod worker;

use crate::cli::args::ServeArgs;
use anyhow::{Context, Result};
use jobs::{Hub, Record, Settings};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use live::LiveFeed;
use nstyle::run::{Event, Observer};
use nstyle::tensor::InputImage;
use std::ops::ControlFlow;

/// `serve`: jobs from the page; `watch`: one command-line run, shown only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Watch,
}

pub struct Limits {
    /// Bytes of one upload.
    pub max_upload: u64,
    /// Jobs waiting behind the running one.
    pub max_queue: usize,
    /// Open connections.
    pub max_connections: usize,
}

/// What every connection shares.
pub struct App {
    pub mode: Mode,
    /// The bound address (with the real port when 0 was asked).
    pub addr: SocketAddr,
    pub allow_remote: bool,
    pub limits: Limits,
    pub hub: Arc<Hub>,
    pub uploads: uploads::Uploads,
    pub store: Option<store::Store>,
    /// Connections open now.
    pub open: Arc<AtomicUsize>,
}

/// The address people open.
fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}

/// A line on stdout; a closed stdout must not stop the server.
fn say(line: String) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A warning on stderr, which may be gone (a server outlives its terminal).
fn warn(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "warning: {line}");
}

/// `nstyle serve`: loads the weights and earlier results, then serves until killed.
pub fn serve(a: ServeArgs) -> Result<ExitCode> {
    let weights = nstyle::Vgg19Weights::resolve(a.weights.as_deref())?;
    let store = a.data.as_deref().map(store::Store::open).transpose()?;
    let listener = server::bind(&a.addr, a.allow_remote)?;
    let addr = listener.local_addr()?;
    let hub = Arc::new(Hub::default());
    if let Some(s) = &store {
        hub.restore(s.load());
    }
    let app = Arc::new(App {
        mode: Mode::Serve,
        addr,
        allow_remote: a.allow_remote,
        limits: Limits {
            max_upload: a.max_upload_mib.saturating_mul(1 << 20),
            max_queue: a.max_queue,
            max_connections: a.max_connections.max(1),
        },
        hub,
        uploads: Default::default(),
        store,
        open: Default::default(),
    });
    let w = app.clone();
    std::thread::Builder::new()
        .name("nstyle-worker".into())
        .spawn(move || worker::run(w, weights))
        .context("cannot start the worker thread")?;
    say(format!("nstyle serve: open {}", url(addr)));
    say(if addr.ip().is_loopback() {
        "(listening on a loopback address: only this computer can connect; Ctrl-C stops the server)"
            .into()
    } else {
        "(listening beyond this computer; Ctrl-C stops the server)".into()
    });
    if let Some(d) = &a.data {
        say(format!("results are kept in {}", d.display()));
    }
    server::accept_loop(listener, app);
    Ok(ExitCode::SUCCESS)
}

/// A command-line run's live view (`--web`): the page, served in the background, and
/// the observer that feeds it.
pub struct Watch {
    feed: LiveFeed,
    app: Arc<App>,
}

impl Watch {
    /// Serves the view at `addr` (printing where), until the process ends.
    pub fn start(addr: &str, allow_remote: bool) -> Result<Watch> {
        let listener = server::bind(addr, allow_remote)?;
        let addr = listener.local_addr()?;
        let hub = Arc::new(Hub::default());
        let command: Vec<String> = std::env::args().collect();
        let id = routes::new_id("");
        let record = Record::new(
            id.clone(),
            Settings {
                command: Some(command.join(" ")),
                ..Settings::default()
            },
            jobs::State::Running,
        );
        let stop = record.stop.clone();
        hub.add_running(record);
        let app = Arc::new(App {
            mode: Mode::Watch,
            addr,
            allow_remote,
            limits: Limits {
                max_upload: 0,
                max_queue: 0,
                max_connections: 16,
            },
            hub: hub.clone(),
            uploads: Default::default(),
            store: None,
            open: Default::default(),
        });
        let a = app.clone();
        std::thread::Builder::new()
            .name("nstyle-http-accept".into())
            .spawn(move || server::accept_loop(listener, a))
            .context("cannot start the web server")?;
        // Said even with --quiet: it is what --web asked for.
        eprintln!("live view: {} (stop there = Ctrl-C)", url(addr));
        Ok(Watch {
            feed: LiveFeed::new(hub, id, stop, false),
            app,
        })
    }

    /// Gives open pages a moment to receive the last event before the process exits.
    pub fn linger(&self) {
        if self.app.open.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

impl Observer for Watch {
    fn on_event(&mut self, event: &Event, image: Option<&InputImage>) -> ControlFlow<()> {
        self.feed.on_event(event, image)
    }
}
