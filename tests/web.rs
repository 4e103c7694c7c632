//! The web app's HTTP API against the real binary on an ephemeral port (plain std
//! sockets): a 64 px job streams events, its image changes, stop keeps the image, results
//! download in every format and survive a restart with --data; every bad request is a
//! 4xx JSON error; the queue and connections are bounded; `--web` watches a CLI run.
#![cfg(feature = "web")]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn nstyle() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nstyle"));
    c.env_remove("NSTYLE_WEIGHTS");
    c
}

/// A running `nstyle serve`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

/// The port in the first line that names `http://127.0.0.1:PORT/`; the rest of the
/// output is read (and dropped) in the background.
fn port_from(r: impl Read + Send + 'static) -> u16 {
    let mut lines = BufReader::new(r).lines();
    loop {
        let line = lines.next().expect("server said where").unwrap();
        if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
            std::thread::spawn(move || lines.for_each(drop));
            return rest.split('/').next().unwrap().parse().unwrap();
        }
    }
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = nstyle()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let port = port_from(child.stdout.take().unwrap());
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// A 4xx JSON error mentioning `needle`.
    fn assert_error(&self, status: u16, needle: &str) {
        let v = self.json();
        let msg = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {v}"));
        assert_eq!(self.status, status, "{msg}");
        assert!(self.head.contains("application/json"), "{}", self.head);
        assert!(msg.contains(needle), "expected '{needle}' in '{msg}'");
    }
}

/// Sends raw bytes, reads the whole answer (every response closes the connection).
fn raw(port: u16, bytes: &[u8]) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // The server may answer (and stop reading) before a refused body is sent whole.
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head,
        body: out[end + 4..].to_vec(),
    }
}

fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(port, &bytes)
}

fn get(port: u16, path: &str) -> Reply {
    request(port, "GET", path, &[], b"")
}

fn post_json(port: u16, path: &str, v: &Value) -> Reply {
    let body = v.to_string();
    request(
        port,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn upload(port: u16, bytes: &[u8]) -> Reply {
    request(port, "POST", "/api/images?name=test.png", &[], bytes)
}

fn png(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v =
            |k: u32| ((x * (7 + k + seed) + y * (3 + 2 * k) + (x * y) % (11 + seed)) % 256) as u8;
        image::Rgb([v(0), v(1), v(2)])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A job's event stream.
struct Events {
    r: BufReader<TcpStream>,
}

impl Events {
    fn open(port: u16, id: &str) -> Events {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "GET /api/jobs/{id}/events HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"
        )
        .unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        while line != "\r\n" {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(!line.is_empty());
        }
        Events { r }
    }

    /// The next event: its name (`message` for the job's events) and data.
    fn next(&mut self) -> (String, Value) {
        let (mut name, mut data) = ("message".to_string(), String::new());
        loop {
            let mut line = String::new();
            assert!(self.r.read_line(&mut line).unwrap() > 0, "stream ended");
            let line = line.trim_end_matches('\n');
            if line.is_empty() && !data.is_empty() {
                return (name, serde_json::from_str(&data).unwrap());
            } else if let Some(n) = line.strip_prefix("event: ") {
                name = n.into();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            }
        }
    }

    /// Reads until a job event of this kind.
    fn until(&mut self, kind: &str) -> Value {
        loop {
            let (name, v) = self.next();
            if name == "message" && v["event"] == kind {
                return v;
            }
        }
    }
}

fn image_of(port: u16, path: &str) -> (Vec<u8>, image::DynamicImage) {
    let r = get(port, path);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let img = image::load_from_memory(&r.body).expect("a valid image");
    (r.body, img)
}

#[test]
fn a_job_streams_events_its_image_changes_and_stop_keeps_it() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let srv = Server::start(&["--max-queue", "1", "--data", dir]);
    let p = srv.port;
    let c = upload(p, &png(80, 60, 1)).json();
    let s = upload(p, &png(64, 64, 2)).json();
    assert_eq!(
        (c["width"].as_u64(), c["height"].as_u64()),
        (Some(80), Some(60))
    );
    let job = json!({"content": c["id"], "style": s["id"],
        "options": {"size": 64, "iterations": 1000, "tol": 0, "min-progress": 0}});
    let a = post_json(p, "/api/jobs", &job);
    assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
    let a = a.json()["id"].as_str().unwrap().to_string();
    let mut ev = Events::open(p, &a);
    assert_eq!(ev.until("planned")["width"], 64);

    // One job runs; one may wait; a third is refused.
    let b = post_json(p, "/api/jobs", &job);
    assert_eq!((b.status, b.json()["position"].as_u64()), (202, Some(1)));
    post_json(p, "/api/jobs", &job).assert_error(429, "queue is full");
    let b = b.json()["id"].as_str().unwrap().to_string();
    let list = get(p, "/api/jobs").json();
    assert_eq!(list["active"].as_array().unwrap().len(), 2, "{list}");
    let cancel = request(p, "POST", &format!("/api/jobs/{b}/stop"), &[], b"");
    assert_eq!(cancel.json()["state"], "cancelled");

    // Iterations stream, and the image changes between them.
    let first = ev.until("iteration");
    assert_eq!(
        (first["iteration"].as_u64(), first["width"].as_u64()),
        (Some(1), Some(64))
    );
    assert!(first["terms"]["gram"]["relu1_1"].as_f64().unwrap() > 0.0);
    let (bytes1, img1) = image_of(p, &format!("/api/jobs/{a}/image"));
    assert_eq!((img1.width(), img1.height()), (64, 48));
    for _ in 0..3 {
        ev.until("iteration");
    }
    let (bytes2, _) = image_of(p, &format!("/api/jobs/{a}/image"));
    assert_ne!(bytes1, bytes2, "the current image did not change");

    // Stop: the run ends as stopped, and keeps its current image as the result.
    let stop = request(p, "POST", &format!("/api/jobs/{a}/stop"), &[], b"");
    assert_eq!(stop.status, 200);
    let stopped = ev.until("stopped");
    assert_eq!(stopped["stop"], "interrupted");
    assert_eq!(ev.next().0, "end");
    // At least the four iterations seen above: a stop that lands while the fourth
    // iteration's event is being delivered ends the run right there.
    let n = stopped["iterations"].as_u64().unwrap();
    assert!((4..1000).contains(&n), "{n}");
    let (_, preview) = image_of(p, &format!("/api/jobs/{a}/image"));
    let (_, result) = image_of(p, &format!("/api/jobs/{a}/result?format=png"));
    assert_eq!(preview.to_rgb8(), result.to_rgb8());
    let (png16, deep) = image_of(p, &format!("/api/jobs/{a}/result?format=png16"));
    assert_eq!(deep.color(), image::ColorType::Rgb16);
    let (_, tiff) = image_of(p, &format!("/api/jobs/{a}/result?format=tiff16"));
    assert_eq!((tiff.color(), tiff.width()), (image::ColorType::Rgb16, 64));
    let done = get(p, &format!("/api/jobs/{a}")).json();
    assert_eq!(
        (done["state"].as_str(), done["has_result"].as_bool()),
        (Some("stopped"), Some(true))
    );
    assert!(done["events"].as_array().unwrap().len() as u64 > n);
    post_json(p, &format!("/api/jobs/{a}/stop"), &json!({})).assert_error(409, "already ended");
    drop(srv);

    // With --data the result and its settings survive a restart.
    let srv = Server::start(&["--data", dir]);
    let list = get(srv.port, "/api/jobs").json();
    let kept = &list["done"][0];
    assert_eq!(
        (kept["id"].as_str(), kept["state"].as_str()),
        (Some(a.as_str()), Some("stopped"))
    );
    assert_eq!(kept["settings"]["options"]["size"], "64");
    let (again, _) = image_of(srv.port, &format!("/api/jobs/{a}/result?format=png16"));
    assert_eq!(again, png16);
    let mut ev = Events::open(srv.port, &a);
    assert_eq!(ev.until("stopped")["iterations"].as_u64(), Some(n));
}

/// A PNG that says it is `w` x `h` (valid checksums) and holds no pixels.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for chunk in [&ihdr[..], b"IDAT", b"IEND"] {
        out.extend((chunk.len() as u32 - 4).to_be_bytes());
        out.extend(chunk);
        out.extend(crc32(chunk).to_be_bytes());
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn bad_requests_get_json_errors_with_4xx() {
    let srv = Server::start(&["--max-upload-mib", "1", "--max-connections", "4"]);
    let p = srv.port;
    let good = png(40, 30, 3);
    upload(p, b"hello, not an image").assert_error(400, "not a supported image");
    upload(p, &good[..good.len() / 2]).assert_error(400, "test.png");
    let jpeg =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("images/content/chelsea.jpg"))
            .unwrap();
    upload(p, &jpeg[..jpeg.len() / 2]).assert_error(400, "truncated JPEG");
    upload(p, &vec![0u8; 2 << 20]).assert_error(413, "above the limit of 1048576 bytes");
    upload(p, &png_header_only(20_000, 20_000)).assert_error(413, "above the limit of 100000000");
    upload(p, b"").assert_error(400, "empty upload");

    // DNS rebinding (a name that is not this server), a missing Host, another site's page.
    let info = "/api/info";
    request(
        p,
        "GET",
        info,
        &[("Host", &format!("evil.example:{p}"))],
        b"",
    )
    .assert_error(403, "is not this server");
    request(p, "GET", info, &[("Host", "127.0.0.1:1")], b"")
        .assert_error(403, "is not this server");
    raw(p, b"GET /api/info HTTP/1.0\r\n\r\n").assert_error(400, "missing Host");
    assert_eq!(
        request(p, "GET", info, &[("Host", &format!("localhost:{p}"))], b"").status,
        200
    );
    request(
        p,
        "POST",
        "/api/images",
        &[("Origin", "http://evil.example")],
        &good,
    )
    .assert_error(403, "not accepted");

    // Options: the command line's messages; nothing that reads files.
    let s = upload(p, &good).json()["id"].clone();
    let job = |opts: Value| {
        post_json(
            p,
            "/api/jobs",
            &json!({"content": s, "style": s, "options": opts}),
        )
    };
    job(json!({"size": 8})).assert_error(400, "--size must be at least 16 px");
    job(json!({"style-weight": "abc"}))
        .assert_error(400, "invalid value 'abc' for '--style-weight");
    job(json!({"style-loss": "nope"})).assert_error(400, "unknown style loss 'nope'");
    job(json!({"init": "/etc/passwd"})).assert_error(400, "--init must be noise or content");
    job(json!({"weights": "/etc/passwd"})).assert_error(400, "unknown option 'weights'");
    job(json!({"size": [1]})).assert_error(400, "--size takes a number");
    post_json(p, "/api/jobs", &json!({"content": s})).assert_error(400, "choose a painting");
    post_json(
        p,
        "/api/jobs",
        &json!({"content": s, "style": "../../etc/passwd"}),
    )
    .assert_error(404, "no such upload");
    post_json(p, "/api/jobs", &json!({"style": "example:nope"})).assert_error(404, "no example");
    request(
        p,
        "POST",
        "/api/jobs",
        &[("Content-Type", "text/plain")],
        b"{}",
    )
    .assert_error(415, "application/json");
    request(
        p,
        "POST",
        "/api/jobs",
        &[("Content-Type", "application/json")],
        b"{",
    )
    .assert_error(400, "not valid JSON");
    post_json(
        p,
        "/api/jobs",
        &json!({"style": s, "options": {"style-layers": "x".repeat(70_000)}}),
    )
    .assert_error(413, "above the limit");

    // Unknown ids and paths, bad methods, malformed requests.
    get(p, "/api/jobs/nope/image").assert_error(404, "no such job");
    get(p, "/api/jobs/..%2f..%2fetc%2fpasswd/result").assert_error(404, "no such job");
    get(p, "/api/jobs/../../etc/passwd").assert_error(404, "no such");
    get(p, "/examples/../Cargo.toml").assert_error(404, "no such");
    request(p, "DELETE", "/api/jobs", &[], b"").assert_error(405, "DELETE");
    raw(p, b"BLAH\r\n\r\n").assert_error(400, "malformed request line");
    let big = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    raw(p, big.as_bytes()).assert_error(431, "too large");
    raw(
        p,
        b"POST /api/images HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .assert_error(411, "Content-Length");

    // Connections are bounded: idle ones fill the places, one more gets a 503.
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", p)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    get(p, info).assert_error(503, "too many open connections");
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(p, info).status != 200 {
        assert!(Instant::now() < deadline, "places were not freed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_needs_allow_remote_for_a_non_loopback_address() {
    let o = nstyle()
        .args(["serve", "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: 0.0.0.0:0 is not a loopback address"),
        "{err}"
    );
    assert!(
        err.contains("--allow-remote") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn web_flag_shows_a_command_line_run_and_stops_it() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out.png");
    let img = |p: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("images").join(p);
    let mut child = nstyle()
        .arg(img("content/chelsea.jpg"))
        .arg(img("style/wave.jpg"))
        .args([
            "-o",
            out.to_str().unwrap(),
            "--size",
            "64",
            "--iterations",
            "1000",
        ])
        .args([
            "--tol",
            "0",
            "--min-progress",
            "0",
            "--quiet",
            "--web",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let p = port_from(child.stderr.take().unwrap());
    let list = get(p, "/api/jobs").json();
    let job = &list["active"][0];
    assert!(job["settings"]["command"]
        .as_str()
        .unwrap()
        .contains("--web"));
    let id = job["id"].as_str().unwrap();
    upload(p, &png(8, 8, 1)).assert_error(403, "nstyle serve");
    let mut ev = Events::open(p, id);
    ev.until("iteration");
    image_of(p, &format!("/api/jobs/{id}/image"));
    request(p, "POST", &format!("/api/jobs/{id}/stop"), &[], b"");
    assert_eq!(ev.until("stopped")["stop"], "interrupted");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(image::open(&out).unwrap().width(), 64);
}
