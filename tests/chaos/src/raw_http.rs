//! HTTP/1.1 requests written byte by byte: absolute-form targets, `CONNECT`,
//! unnormalised `..` paths, forged `Host` headers and bodies larger than the
//! server accepts — the requests a well-behaved client library refuses to send.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer as it came off the wire (a chunked body is decoded).
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The stable `code` of a JSON error body (`{"error":{"code"}}`), if any.
    pub fn error_code(&self) -> Option<String> {
        let json: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        json["error"]["code"].as_str().map(str::to_owned)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("connecting to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("reading the answer: {0}")]
    Read(std::io::Error),
    #[error("the connection closed without an answer")]
    NoAnswer,
    #[error("unparsable answer: {0}")]
    Malformed(String),
}

/// Sends `head` (request line and headers, each line ending in CRLF, without
/// the blank line) with `Connection: close`, then `body`, and reads the answer.
/// The body is written while the answer is read, so a server that refuses an
/// oversized body early is heard rather than deadlocked against.
pub async fn send(addr: SocketAddr, head: &str, body: &[u8], timeout: Duration) -> Result<RawResponse, RawError> {
    let stream = TcpStream::connect(addr).await.map_err(|e| RawError::Connect(addr, e))?;
    let (mut reader, mut writer) = stream.into_split();
    let mut request = head.trim_end_matches("\r\n").as_bytes().to_vec();
    request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    let body = body.to_vec();
    let writing = tokio::spawn(async move {
        // A server may close after answering early; what it said is what counts.
        if writer.write_all(&request).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
        let _ = writer.flush().await;
        writer
    });
    // Read until the answer is complete by its own framing: a server that
    // ignores `Connection: close` must not cost the whole timeout.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    if is_complete(&answer) {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    writing.abort();
    match read {
        Err(_) if answer.is_empty() => return Err(RawError::Timeout(timeout)),
        Err(_) => {}
        // A reset after a complete early answer (an oversized body) still leaves the answer.
        Ok(Err(e)) if answer.is_empty() => return Err(RawError::Read(e)),
        Ok(_) => {}
    }
    if answer.is_empty() {
        return Err(RawError::NoAnswer);
    }
    parse(&answer)
}

/// Whether `raw` holds a whole answer: headers, and a body as long as its
/// `Content-Length` or ending its chunks. Without either, only EOF ends it.
fn is_complete(raw: &[u8]) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    let status_without_body = head.split_whitespace().nth(1).is_some_and(|s| s.starts_with('1') || s == "204" || s == "304");
    if status_without_body {
        return true;
    }
    for line in head.split("\r\n").skip(1) {
        match line.split_once(':').map(|(n, v)| (n.trim(), v.trim())) {
            Some(("content-length", value)) => return value.parse::<usize>().is_ok_and(|n| body.len() >= n),
            Some(("transfer-encoding", value)) if value.contains("chunked") => return body.ends_with(b"0\r\n\r\n"),
            _ => {}
        }
    }
    false
}

fn parse(raw: &[u8]) -> Result<RawResponse, RawError> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| RawError::Malformed(String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| RawError::Malformed(status_line.to_owned()))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_vec() };
    Ok(RawResponse { status, headers, body })
}

/// Decodes a chunked body as far as it is complete.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16) else { break };
        let data = &rest[end + 2..];
        if size == 0 || data.len() < size {
            body.extend_from_slice(&data[..size.min(data.len())]);
            break;
        }
        body.extend_from_slice(&data[..size]);
        rest = data.get(size + 2..).unwrap_or_default();
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        let plain = parse(b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nX-Edge-Region: us-east\r\n\r\n{\"error\":{\"code\":\"body_too_large\"}}").unwrap();
        assert_eq!(plain.status, 413);
        assert_eq!(plain.header("x-edge-region"), Some("us-east"));
        assert_eq!(plain.error_code().as_deref(), Some("body_too_large"));

        let chunked = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n").unwrap();
        assert_eq!(chunked.body_text(), "hello world");
    }

    #[test]
    fn knows_when_an_answer_is_complete() {
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"));
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"));
        assert!(is_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
        assert!(is_complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
        assert!(is_complete(b"HTTP/1.1 204 No Content\r\n\r\n"));
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\n\r\nuntil eof"));
    }

    #[test]
    fn refuses_what_is_not_an_answer() {
        assert!(matches!(parse(b"garbage"), Err(RawError::Malformed(_))));
        assert!(matches!(parse(b"HTTP/1.1 abc\r\n\r\n"), Err(RawError::Malformed(_))));
    }
}
