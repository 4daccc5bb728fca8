//! The reference of `cargo xtask bench`: a minimal hyper HTTP/1 server that
//! sends the same response to every request, standing for the ceiling of
//! the machine. It runs on the same tokio runtime (multi-threaded, one
//! worker per core) as the mock, so that the two differ only in the work
//! each request does.
//!
//! ```text
//! reference_server ADDR:PORT RESPONSE_FILE
//! ```
//!
//! `RESPONSE_FILE` contains the status code on its first line, then
//! `name: value` header lines, an empty line and the body, as
//! `cargo xtask bench` captures them from the mock.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A response read from a file, sent for every request.
struct Canned {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

fn parse(text: &str) -> Result<Canned, String> {
    let (head, body) = text
        .split_once("\n\n")
        .ok_or("expected the headers, an empty line and the body")?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.trim().parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or("expected a status code on the first line")?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("expected `name: value`, got {line:?}"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| e.to_string())?;
        // hyper writes Content-Length from the body itself.
        if name == http::header::CONTENT_LENGTH {
            continue;
        }
        let value = HeaderValue::from_str(value.trim()).map_err(|e| e.to_string())?;
        headers.push((name, value));
    }
    Ok(Canned {
        status,
        headers,
        body: Bytes::copy_from_slice(body.as_bytes()),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [address, file] = args.as_slice() else {
        eprintln!("usage: reference_server ADDR:PORT RESPONSE_FILE");
        return ExitCode::from(2);
    };
    let address: SocketAddr = match address.parse() {
        Ok(address) => address,
        Err(error) => {
            eprintln!("error: invalid address {address:?} ({error}); expected ADDR:PORT");
            return ExitCode::from(2);
        }
    };
    let canned = match std::fs::read_to_string(file)
        .map_err(|error| error.to_string())
        .and_then(|text| parse(&text))
    {
        Ok(canned) => std::sync::Arc::new(canned),
        Err(error) => {
            eprintln!("error: cannot use response file {file:?}: {error}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {address}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", listener.local_addr().unwrap_or(address));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let canned = canned.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let mut response = Response::new(Full::new(canned.body.clone()));
                *response.status_mut() = canned.status;
                for (name, value) in &canned.headers {
                    response.headers_mut().append(name, value.clone());
                }
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
