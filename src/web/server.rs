//! Listening and connections: which addresses may be bound, the accept loop with its
//! bound on open connections, one thread per connection with timeouts, and the checks
//! every request passes before a route sees it (Host against DNS rebinding, Origin
//! against other sites' pages). A handler's panic is a 500, not a dropped connection.

use super::http::{self, HttpError, Request, Response};
use super::routes;
use super::App;
use anyhow::{bail, Context, Result};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time to send a request head; a whole request (an upload) gets `BODY_TIME`.
const HEAD_TIME: Duration = Duration::from_secs(10);
const BODY_TIME: Duration = Duration::from_secs(120);
/// Per read or write on a socket.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr`; a non-loopback address needs `allow_remote` (and gets a warning).
pub fn bind(addr: &str, allow_remote: bool) -> Result<TcpListener> {
    let sock: SocketAddr = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("{addr}: not an address to listen on (e.g. 127.0.0.1:8080)"))?;
    if !sock.ip().is_loopback() {
        if !allow_remote {
            bail!(
                "{sock} is not a loopback address: anyone who can reach it could run and stop jobs; \
                 add --allow-remote to listen there anyway"
            );
        }
        eprintln!(
            "warning: listening on {sock}, reachable from other computers; nstyle has no login, \
             so anyone who reaches it can upload images, run and stop jobs"
        );
    }
    TcpListener::bind(sock).with_context(|| format!("cannot listen on {sock}"))
}

/// Accepts connections until the process ends, at most `app.limits.max_connections` at
/// once; one more is answered 503 at once.
pub fn accept_loop(listener: TcpListener, app: Arc<App>) {
    let open = app.open.clone();
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(_) => {
                // Out of file descriptors, most likely: let connections end.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if open.load(Ordering::SeqCst) >= app.limits.max_connections {
            refuse(
                &mut stream,
                "too many open connections; close a tab and retry",
            );
            continue;
        }
        // To answer on if no thread can be started for it.
        let Ok(mut spare) = stream.try_clone() else {
            continue;
        };
        open.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(open.clone());
        let app = app.clone();
        let spawned = std::thread::Builder::new()
            .name("nstyle-http".into())
            .spawn(move || {
                let _slot = slot;
                connection(stream, &app);
            });
        if spawned.is_err() {
            // The closure (and its slot) is dropped: the count is right again.
            refuse(&mut spare, "the server is out of threads; retry");
        }
    }
}

/// Frees its connection's place when the thread ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn refuse(stream: &mut TcpStream, msg: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    // Take the request if it is already there, so closing does not reset the connection.
    let _ = http::read_head(stream, Instant::now() + Duration::from_millis(200));
    let _ = http::write_response(stream, Response::error(&HttpError::new(503, msg)));
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn connection(mut stream: TcpStream, app: &Arc<App>) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let start = Instant::now();
    let mut req = match http::read_head(&mut stream, start + HEAD_TIME) {
        Ok(r) => r,
        Err(e) => {
            let _ = http::write_response(&mut stream, Response::error(&e));
            http::linger_close(&mut stream);
            return;
        }
    };
    let checked = check_request(&req, app).and_then(|()| {
        let limit = routes::body_limit(&req, app)?;
        http::read_body(&mut stream, &mut req, limit, start + BODY_TIME)
    });
    let response = match checked {
        Err(e) => {
            let _ = http::write_response(&mut stream, Response::error(&e));
            http::linger_close(&mut stream);
            return;
        }
        Ok(()) => {
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                routes::handle(app, &req)
            }));
            match handled {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Response::error(&e),
                Err(_) => {
                    Response::error(&HttpError::new(500, "internal error (please report this)"))
                }
            }
        }
    };
    let _ = http::write_response(&mut stream, response);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Host must name this server (DNS rebinding: another site's name resolving here is
/// refused); a request from a page (Origin) must come from this server's own pages,
/// unless it only reads.
fn check_request(req: &Request, app: &App) -> Result<(), HttpError> {
    let host = req
        .header("host")
        .ok_or_else(|| HttpError::new(400, "missing Host header"))?;
    if !host_allowed(host, app) {
        return Err(HttpError::new(
            403,
            format!(
                "Host '{host}' is not this server (open it as http://{})",
                app.addr
            ),
        ));
    }
    if req.method != "GET" {
        if let Some(origin) = req.header("origin") {
            let h = origin.strip_prefix("http://").unwrap_or("");
            if !host_allowed(h, app) {
                return Err(HttpError::new(
                    403,
                    format!("requests from pages of {origin} are not accepted"),
                ));
            }
        }
    }
    Ok(())
}

/// `localhost`, a loopback IP or the bound IP, with this server's port if any; with
/// --allow-remote any IP literal (rebinding needs a name, never a literal).
fn host_allowed(host: &str, app: &App) -> bool {
    let (name, port) = split_host(host);
    if let Some(p) = port {
        if p.parse::<u16>().ok() != Some(app.addr.port()) {
            return false;
        }
    }
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let ip: Option<IpAddr> = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name)
        .parse()
        .ok();
    match ip {
        Some(ip) => ip.is_loopback() || ip == app.addr.ip() || app.allow_remote,
        None => false,
    }
}

/// `name:port`, `[v6]:port`, `name`, `[v6]`.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        match host.rfind("]:") {
            Some(i) => (&host[..=i], Some(&host[i + 2..])),
            None => (host, None),
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_host;

    #[test]
    fn hosts_split_into_name_and_port() {
        assert_eq!(split_host("localhost:80"), ("localhost", Some("80")));
        assert_eq!(split_host("[::1]:8080"), ("[::1]", Some("8080")));
        assert_eq!(split_host("[::1]"), ("[::1]", None));
        assert_eq!(split_host("127.0.0.1"), ("127.0.0.1", None));
    }
}
