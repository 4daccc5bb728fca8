//! Hostile input over raw TCP: malformed and oversized requests that clients
//! such as reqwest would not send. None may get a 5xx, hang, or take the
//! server down.

use std::time::Duration;

use conformance::target::{profiles, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed response.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Checks Graph's error body and headers.
    fn assert_graph_error(&self, status: u16, case: &str) {
        assert_eq!(self.status, status, "{case}: {self:?}");
        let body = self.json();
        assert!(body["error"]["code"].is_string(), "{case}: {body}");
        assert!(body["error"]["message"].is_string(), "{case}: {body}");
        assert_eq!(
            body["error"]["innerError"]["request-id"].as_str(),
            self.header("request-id"),
            "{case}"
        );
    }
}

/// Reads responses from `stream` until `count` are complete or the peer
/// closes; each must have a Content-Length.
async fn read_responses(stream: &mut TcpStream, count: usize) -> Vec<RawResponse> {
    let mut buffer = Vec::new();
    let mut responses = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while responses.len() < count {
        if let Some((response, used)) = parse_response(&buffer) {
            buffer.drain(..used);
            responses.push(response);
            continue;
        }
        let mut chunk = [0u8; 8192];
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("the server answers within 20 s")
            .unwrap_or(0);
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    responses
}

fn parse_response(buffer: &[u8]) -> Option<(RawResponse, usize)> {
    let end = buffer.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.parse().unwrap())
        .unwrap_or(0);
    let start = end + 4;
    if buffer.len() < start + length {
        return None;
    }
    let body = buffer[start..start + length].to_vec();
    Some((
        RawResponse {
            status,
            headers,
            body,
        },
        start + length,
    ))
}

/// Opens a TCP connection to the target's host and port.
async fn connect(target: &Target) -> TcpStream {
    let address = target
        .base_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    TcpStream::connect(address).await.unwrap()
}

/// Sends raw bytes on a new connection and returns the first response.
async fn send_raw(target: &Target, bytes: &[u8]) -> RawResponse {
    let mut stream = connect(target).await;
    stream.write_all(bytes).await.unwrap();
    let mut responses = read_responses(&mut stream, 1).await;
    assert_eq!(
        responses.len(),
        1,
        "no response to {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
    );
    responses.remove(0)
}

fn request(path: &str, extra_headers: &[&str], token: &str) -> Vec<u8> {
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if !token.is_empty() {
        text.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for header in extra_headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("Connection: close\r\n\r\n");
    text.into_bytes()
}

fn upload_path(id: &str) -> String {
    format!("/beta/education/synchronizationProfiles/{id}/uploadUrl")
}

#[tokio::test]
async fn hostile_authorization_headers() {
    let target = Target::start_mock(&[]).await.unwrap();
    let path = upload_path(profiles::READY);
    let long_token = format!(
        "{}.{}.{}",
        "a".repeat(5000),
        "b".repeat(5000),
        "c".repeat(200)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "no scheme",
            request(&path, &[&format!("Authorization: {}", target.token)], ""),
            401,
        ),
        (
            "lower-case bearer",
            request(
                &path,
                &[&format!("Authorization: bearer {}", target.token)],
                "",
            ),
            200,
        ),
        (
            "two headers",
            request(
                &path,
                &[&format!("Authorization: Bearer {}", target.token)],
                &target.token,
            ),
            401,
        ),
        ("10 KB token", request(&path, &[], &long_token), 401),
        (
            "non-UTF-8 token",
            {
                let mut bytes = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
                    .into_bytes();
                bytes.extend_from_slice(b"\xff\xfe\xfd");
                bytes.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
                bytes
            },
            401,
        ),
    ];
    for (case, bytes, status) in cases {
        let response = send_raw(&target, &bytes).await;
        if status == 200 {
            assert_eq!(response.status, 200, "{case}: {response:?}");
        } else {
            response.assert_graph_error(status, case);
        }
    }
}

#[tokio::test]
async fn hostile_ids() {
    let target = Target::start_mock(&[]).await.unwrap();
    let long_id = "9".repeat(2048);
    let cases = [
        ("not a GUID", "not-a-guid".to_string()),
        ("empty", String::new()),
        ("encoded slash", "a%2Fb".to_string()),
        ("2 KB", long_id),
        ("Unicode", "%E2%9C%93%F0%9F%98%80".to_string()),
        ("plus and hyphen", "%2B-%2B-".to_string()),
        ("GUID in braces", format!("%7B{}%7D", profiles::READY)),
        // The log scan of `cargo xtask test` checks that neither reaches the log.
        ("token with encoded dots", target.token.replace('.', "%2E")),
        ("encoded sig", "sig%3DAbCdEfGh12345678".to_string()),
        (
            "token with double-encoded dots",
            target.token.replace('.', "%252E"),
        ),
        (
            "encoded sig with a slash",
            "sig%3DAbCd%2FEfGh12345678%3D".to_string(),
        ),
        // `{ "alg": "HS256" }` with spaces: the header starts `eyAi`.
        (
            "token with a spaced header",
            "eyAiYWxnIjogIkhTMjU2IiB9.eyJzY3AiOiJ4In0.c2lnbmF0dXJlc2ln".to_string(),
        ),
    ];
    for (case, id) in cases {
        let response = send_raw(&target, &request(&upload_path(&id), &[], &target.token)).await;
        response.assert_graph_error(400, case);
        let message = response.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.len() < 200,
            "{case}: message of {} bytes",
            message.len()
        );
    }
}

#[tokio::test]
async fn requests_with_extras_are_served() {
    let target = Target::start_mock(&[]).await.unwrap();
    let path = upload_path(profiles::READY);
    let big_body = "x".repeat(1000);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "body on GET",
            format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big_body}",
                target.token,
                big_body.len()
            )
            .into_bytes(),
        ),
        ("Content-Type on GET", request(&path, &["Content-Type: application/json"], &target.token)),
        ("OData $select", request(&format!("{path}?$select=value"), &[], &target.token)),
        ("unknown query parameter", request(&format!("{path}?foo=bar"), &[], &target.token)),
        (
            "HTTP/1.0",
            format!("GET {path} HTTP/1.0\r\nAuthorization: Bearer {}\r\n\r\n", target.token).into_bytes(),
        ),
    ];
    for (case, bytes) in cases {
        let response = send_raw(&target, &bytes).await;
        assert_eq!(response.status, 200, "{case}: {response:?}");
        assert!(
            response.json()["value"].as_str().unwrap().contains("sp=w"),
            "{case}"
        );
    }
}

#[tokio::test]
async fn oversized_headers_are_rejected_without_5xx() {
    let target = Target::start_mock(&[]).await.unwrap();
    let path = upload_path(profiles::READY);
    let huge = format!("X-Padding: {}", "p".repeat(1024 * 1024));
    let response = send_raw(&target, &request(&path, &[&huge], &target.token)).await;
    assert!((400..500).contains(&response.status), "{response:?}");
    // The server is still up.
    let response = send_raw(&target, &request(&path, &[], &target.token)).await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let target = Target::start_mock(&[]).await.unwrap();
    let mut stream = connect(&target).await;
    let ids = [
        profiles::READY,
        profiles::UNKNOWN,
        profiles::POWERSCHOOL,
        profiles::UPLOAD_IN_PROGRESS,
    ];
    let mut bytes = Vec::new();
    for id in ids {
        bytes.extend(
            format!(
                "GET {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
                upload_path(id),
                target.token
            )
            .into_bytes(),
        );
    }
    stream.write_all(&bytes).await.unwrap();
    let responses = read_responses(&mut stream, ids.len()).await;
    let statuses: Vec<u16> = responses.iter().map(|response| response.status).collect();
    assert_eq!(statuses, [200, 404, 400, 409]);
}

#[tokio::test]
async fn slow_headers_are_timed_out() {
    // hyper closes a connection whose request head is not complete 30 s after
    // it started; the test allows 40 s.
    let target = Target::start_mock(&[]).await.unwrap();
    let mut stream = connect(&target).await;
    let started = tokio::time::Instant::now();
    stream
        .write_all(b"GET /beta/education HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 1024];
    let mut sent_more = 0;
    loop {
        // Trickle one header byte every 2 s, as a slow client would.
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await {
            Ok(Ok(_)) | Ok(Err(_)) => break,
            Err(_) => {
                assert!(
                    started.elapsed() < Duration::from_secs(40),
                    "not timed out after 40 s"
                );
                if stream.write_all(b"X").await.is_err() {
                    break;
                }
                sent_more += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(25),
        "closed after {elapsed:?}, {sent_more} bytes"
    );
    assert!(
        elapsed < Duration::from_secs(40),
        "closed after {elapsed:?}"
    );
}

#[tokio::test]
async fn malformed_requests_get_graph_errors() {
    // dropshot rejects these before routing, with its own body. The gate in
    // front of it responds with Graph's instead.
    let target = Target::start_mock(&[]).await.unwrap();
    let path = upload_path(profiles::READY);
    let token = &target.token;
    let with_method = |method: &str, path: &str| {
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
            .into_bytes()
    };
    let cases = [
        (
            "dot segment",
            request(&path.replace("/education/", "/education/./"), &[], token),
            400,
        ),
        (
            "dot-dot segment",
            request(&format!("/beta/..{path}"), &[], token),
            400,
        ),
        (
            "invalid UTF-8",
            request(&upload_path("%FF%FE"), &[], token),
            400,
        ),
        ("truncated UTF-8", request("/beta/%C3", &[], token), 400),
        (
            "extension method on the operation",
            with_method("FOO", &path),
            405,
        ),
        (
            "extension method elsewhere",
            with_method("PURGE", "/beta/users"),
            404,
        ),
        ("asterisk target", with_method("OPTIONS", "*"), 404),
        (
            "absolute-form target",
            with_method("GET", "http://127.0.0.1/beta/users"),
            404,
        ),
    ];

    for (case, bytes, status) in cases {
        let response = send_raw(&target, &bytes).await;
        response.assert_graph_error(status, case);
        assert_eq!(
            response.header("content-type"),
            Some(uploadurl_api::GRAPH_JSON_CONTENT_TYPE),
            "{case}"
        );
        if status == 405 {
            assert_eq!(response.header("allow"), Some("GET"), "{case}");
        }
    }

    // An absolute-form target for the operation is served like its path.
    let absolute = format!("http://127.0.0.1{path}");
    let response = send_raw(&target, &with_method("GET", &absolute)).await;
    assert_eq!(response.status, 200, "{response:?}");
}

#[tokio::test]
async fn silent_connections_are_closed() {
    // A connection that never sends a byte is closed after 30 s (the test
    // allows 40 s), and one that sends a request after a pause is served.
    let target = Target::start_mock(&[]).await.unwrap();
    let mut silent = connect(&target).await;
    let mut paused = connect(&target).await;
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    paused
        .write_all(&request(&upload_path(profiles::READY), &[], &target.token))
        .await
        .unwrap();
    let responses = read_responses(&mut paused, 1).await;
    assert_eq!(responses[0].status, 200);
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(40), silent.read(&mut buffer))
        .await
        .expect("closed within 40 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(25),
        "closed after {elapsed:?}"
    );
}

#[tokio::test]
async fn secrets_in_paths_get_graph_errors() {
    // The log scan of `cargo xtask test` checks that none of these paths
    // reaches the log with its token or signature.
    let target = Target::start_mock(&[]).await.unwrap();
    let (head, signature) = target.token.rsplit_once('.').unwrap();
    let cases = [
        (
            "signature as its own segment",
            format!("/beta/{head}/{signature}/uploadUrl"),
            404,
        ),
        (
            "sig with a slash",
            "/beta/x/sig=AbCdEf/GhIjKl12345678%3D".to_string(),
            404,
        ),
        (
            "double-encoded token",
            format!("/beta/{}", target.token.replace('.', "%252E")),
            404,
        ),
        (
            "token with slashes for dots, as the id",
            format!(
                "/beta/education/synchronizationProfiles/{}/uploadUrl",
                target.token.replace('.', "/")
            ),
            404,
        ),
    ];
    for (case, path, status) in cases {
        let response = send_raw(&target, &request(&path, &[], &target.token)).await;
        response.assert_graph_error(status, case);
    }
}

#[tokio::test]
async fn bodies_on_the_get_are_ignored() {
    // dropshot closes a connection whose body it does not read. So the gate
    // must not pass the body on, because the request would fail mid-body.
    let target = Target::start_mock(&[]).await.unwrap();
    let path = upload_path(profiles::READY);
    for size in [65_536, 1 << 20] {
        for attempt in 0..5 {
            let body = "x".repeat(size);
            let bytes = format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 client-request-id: body-{attempt}\r\nContent-Length: {size}\r\n\
                 Connection: close\r\n\r\n{body}",
                target.token
            );
            let response = send_raw(&target, bytes.as_bytes()).await;
            assert_eq!(
                response.status, 200,
                "{size} bytes, attempt {attempt}: {response:?}"
            );
            assert_eq!(
                response.header("client-request-id"),
                Some(format!("body-{attempt}").as_str())
            );
        }
    }
    let chunked = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n10000\r\n{}\r\n0\r\n\r\n",
        target.token,
        "y".repeat(0x10000)
    );
    let response = send_raw(&target, chunked.as_bytes()).await;
    assert_eq!(response.status, 200, "chunked body: {response:?}");
}

#[tokio::test]
async fn hundred_headers_without_host_are_served() {
    // 100 header fields without Host: hyper's limit. Before the gate stopped
    // adding Host, dropshot rejected the forwarded request with an empty 431.
    let target = Target::start_mock(&[]).await.unwrap();
    let mut text = format!(
        "GET {} HTTP/1.1\r\nAuthorization: Bearer {}\r\n",
        upload_path(profiles::READY),
        target.token
    );
    for index in 0..98 {
        text.push_str(&format!("X-{index}: 1\r\n"));
    }
    text.push_str("Connection: close\r\n\r\n");
    let response = send_raw(&target, text.as_bytes()).await;
    assert_eq!(response.status, 200, "{response:?}");
}

#[tokio::test]
async fn gate_serves_hundred_header_fields() {
    // 100 fields, hyper's maximum, none of which the gate drops as
    // connection-specific: the gate's own id header must not push the
    // request past the maximum at dropshot (it got 431 when it did).
    let target = Target::start_mock(&[]).await.unwrap();
    let mut text = format!(
        "GET {} HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer {}\r\n",
        upload_path(profiles::READY),
        target.token
    );
    for index in 0..98 {
        text.push_str(&format!("X-{index}: 1\r\n"));
    }
    text.push_str("\r\n");
    let mut stream = connect(&target).await;
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .expect("a response within 10 s")
        .unwrap();
    let head = String::from_utf8_lossy(&buffer[..read]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn h2c_is_not_served() {
    // The prior-knowledge preface is not an HTTP/1 request: the connection
    // gets a 4xx or is closed, and never hangs.
    let target = Target::start_mock(&[]).await.unwrap();
    let mut stream = connect(&target).await;
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("a response or a close within 5 s")
        .unwrap_or(0);
    let head = String::from_utf8_lossy(&buffer[..read]);
    assert!(read == 0 || head.starts_with("HTTP/1.1 4"), "{head}");
}
