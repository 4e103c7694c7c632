//! The small part of HTTP/1.1 the page needs, on `std::net`: one request per connection
//! (every response says `Connection: close`), bodies only with `Content-Length`, bounded
//! head and body sizes and a deadline for reading them. Responses are bytes, JSON, or a
//! stream of server-sent events. Every error is a JSON `{"error": "..."}` with a status.

use nstyle::http_request::parse_head;
use serde::Serialize;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

pub use nstyle::http_request::{HttpError, Request};

/// Writes server-sent events on the connection until it returns.
pub type EventWriter = Box<dyn FnOnce(&mut TcpStream) -> io::Result<()> + Send>;

/// What a handler answers.
pub enum Body {
    Bytes(Vec<u8>),
    Static(&'static [u8]),
    /// Server-sent events: the function writes events until it returns.
    Events(EventWriter),
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Response {
    pub fn bytes(content_type: &'static str, body: Vec<u8>) -> Self {
        Response {
            status: 200,
            content_type,
            headers: Vec::new(),
            body: Body::Bytes(body),
        }
    }

    pub fn asset(content_type: &'static str, body: &'static [u8]) -> Self {
        Response {
            status: 200,
            content_type,
            headers: vec![("Cache-Control", "no-cache".into())],
            body: Body::Static(body),
        }
    }

    pub fn json(status: u16, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Response {
            status,
            content_type: "application/json",
            headers: vec![("Cache-Control", "no-store".into())],
            body: Body::Bytes(body),
        }
    }

    pub fn error(e: &HttpError) -> Self {
        Response::json(e.status, &serde_json::json!({ "error": e.msg }))
    }

    pub fn events(f: impl FnOnce(&mut TcpStream) -> io::Result<()> + Send + 'static) -> Self {
        Response {
            status: 200,
            content_type: "text/event-stream",
            headers: vec![("Cache-Control", "no-store".into())],
            body: Body::Events(Box::new(f)),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Reads the request line and headers (not the body) before `deadline`.
pub fn read_head(stream: &mut TcpStream, deadline: Instant) -> Result<Request, HttpError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(req) = parse_head(&buf)? {
            return Ok(req);
        }
        if Instant::now() > deadline {
            return Err(HttpError::new(408, "request took too long"));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(HttpError::new(400, "connection closed mid-request")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if timed_out(&e) => return Err(HttpError::new(408, "request took too long")),
            Err(e) => return Err(HttpError::new(400, format!("read error: {e}"))),
        }
    }
}

/// Reads the body (at most `limit` bytes, else 413 before reading any) before `deadline`.
pub fn read_body(
    stream: &mut TcpStream,
    req: &mut Request,
    limit: u64,
    deadline: Instant,
) -> Result<(), HttpError> {
    let len = req.content_length()?;
    if len > limit {
        return Err(HttpError::new(
            413,
            format!(
                "request body of {len} bytes is above the limit of {limit} bytes ({})",
                mib(limit)
            ),
        ));
    }
    let len = len as usize;
    let mut body = req.take_pending();
    body.truncate(len);
    body.reserve(len - body.len());
    let mut chunk = vec![0u8; 64 * 1024];
    while body.len() < len {
        if Instant::now() > deadline {
            return Err(HttpError::new(408, "request took too long"));
        }
        let want = (len - body.len()).min(chunk.len());
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return Err(HttpError::new(400, "body shorter than its Content-Length")),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if timed_out(&e) => return Err(HttpError::new(408, "request took too long")),
            Err(e) => return Err(HttpError::new(400, format!("read error: {e}"))),
        }
    }
    req.body = body;
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Writes the response (an event stream until its function returns).
pub fn write_response(stream: &mut TcpStream, resp: Response) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type
    );
    for (n, v) in &resp.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    match resp.body {
        Body::Bytes(b) => write_with_length(stream, head, &b),
        Body::Static(b) => write_with_length(stream, head, b),
        Body::Events(f) => {
            head.push_str("\r\n");
            stream.write_all(head.as_bytes())?;
            stream.flush()?;
            f(stream)
        }
    }
}

fn write_with_length(stream: &mut TcpStream, mut head: String, body: &[u8]) -> io::Result<()> {
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// One server-sent event (`id`, optional `event` name, one `data` line of JSON).
pub fn write_event(
    stream: &mut TcpStream,
    id: Option<usize>,
    name: Option<&str>,
    data: &str,
) -> io::Result<()> {
    let mut s = String::with_capacity(data.len() + 32);
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    if let Some(n) = name {
        s.push_str(&format!("event: {n}\n"));
    }
    // JSON has no raw newlines, but a stored line might: keep the frame intact anyway.
    for line in data.split('\n') {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    stream.write_all(s.as_bytes())?;
    stream.flush()
}

/// Closes after an answer sent before the request was read whole: stop writing, then
/// read and drop what the client still sends (bounded), so that it sees the answer
/// instead of a reset connection.
pub fn linger_close(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut chunk = [0u8; 64 * 1024];
    let mut total = 0usize;
    while Instant::now() < deadline && total < (512 << 20) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}
