//! Parsing an HTTP/1.1 request head from the bytes a client sent: the untrusted part of
//! the web front end (`nstyle serve`), here in the library so that the fuzzer
//! (`fuzz_entry::http_request`) reaches it. The server (`src/web/http.rs`) reads from the
//! socket with its deadlines and hands the bytes to [`parse_head`]; only
//! `Content-Length` bodies are accepted, so nothing here needs chunked decoding.

/// Longest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most headers one request may carry.
pub const MAX_HEADERS: usize = 64;

/// A failed request: a status and the message the page shows.
#[derive(Debug)]
pub struct HttpError {
    pub status: u16,
    pub msg: String,
}

impl HttpError {
    pub fn new(status: u16, msg: impl Into<String>) -> Self {
        HttpError {
            status,
            msg: msg.into(),
        }
    }
}

/// A request's head and, once read, its body.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub query: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes of the body that arrived with the head.
    pending: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `key` from the query string (`?format=png16`), undecoded.
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// The path's segments: `/api/jobs/x` -> `["api", "jobs", "x"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The declared body length (none: 0); chunked bodies are refused.
    pub fn content_length(&self) -> Result<u64, HttpError> {
        if self.header("transfer-encoding").is_some() {
            return Err(HttpError::new(
                411,
                "send the body with a Content-Length (chunked uploads are not accepted)",
            ));
        }
        match self.header("content-length") {
            None => Ok(0),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| HttpError::new(400, "bad Content-Length")),
        }
    }

    /// The body bytes that came with the head (the server reads the rest).
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

/// Parses a request head from the bytes read so far: `Ok(None)` while the blank line that
/// ends the head has not arrived (and the head is still within [`MAX_HEAD_BYTES`]); the
/// bytes after the head are kept as the start of the body.
pub fn parse_head(buf: &[u8]) -> Result<Option<Request>, HttpError> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD_BYTES {
            Err(HttpError::new(431, "request head too large"))
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEAD_BYTES {
        return Err(HttpError::new(431, "request head too large"));
    }
    let head = std::str::from_utf8(&buf[..end])
        .map_err(|_| HttpError::new(400, "request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let (method, target) = request_line(lines.next().unwrap_or_default())?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Vec::new();
    for l in lines {
        let (name, value) = l
            .split_once(':')
            .ok_or_else(|| HttpError::new(400, "malformed header"))?;
        if headers.len() == MAX_HEADERS {
            return Err(HttpError::new(431, "too many headers"));
        }
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: Vec::new(),
        pending: buf[end + 4..].to_vec(),
    }))
}

/// `GET /path?query HTTP/1.1` -> (method, target); the target must be a path.
fn request_line(line: &str) -> Result<(&str, &str), HttpError> {
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(target), Some(version), None)
            if version.starts_with("HTTP/1.") && target.starts_with('/') =>
        {
            Ok((method, target))
        }
        _ => Err(HttpError::new(400, "malformed request line")),
    }
}

/// `%41` -> `A`, `+` -> space; invalid sequences stay as they are, invalid UTF-8 is
/// replaced.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_arrives_whole_or_not_at_all() {
        let raw =
            b"POST /api/images?name=a%20b.png HTTP/1.1\r\nContent-Length: 3\r\nHost: x\r\n\r\nab";
        assert!(parse_head(&raw[..20]).unwrap().is_none());
        let mut req = parse_head(raw).unwrap().unwrap();
        assert_eq!(
            (req.method.as_str(), req.path.as_str()),
            ("POST", "/api/images")
        );
        assert_eq!(req.segments(), ["api", "images"]);
        assert_eq!(percent_decode(req.query_param("name").unwrap()), "a b.png");
        assert_eq!(req.content_length().unwrap(), 3);
        assert_eq!(req.header("host"), Some("x"));
        assert_eq!(req.take_pending(), b"ab");
    }

    #[test]
    fn bad_heads_are_4xx() {
        let status = |raw: &[u8]| parse_head(raw).unwrap_err().status;
        assert_eq!(status(b"GET\r\n\r\n"), 400);
        assert_eq!(status(b"GET http://x/ HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\n\xff: x\r\n\r\n"), 400);
        assert_eq!(status(&vec![b'a'; MAX_HEAD_BYTES + 1]), 431);
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "a: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(status(many.as_bytes()), 431);
        let chunked = parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(
            chunked
                .unwrap()
                .unwrap()
                .content_length()
                .unwrap_err()
                .status,
            411
        );
        let bad_len = parse_head(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n");
        assert_eq!(
            bad_len
                .unwrap()
                .unwrap()
                .content_length()
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn percent_decoding_keeps_what_it_cannot_decode() {
        assert_eq!(percent_decode("%41+%4"), "A %4");
        assert_eq!(percent_decode("%zz%"), "%zz%");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
