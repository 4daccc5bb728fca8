//! The public listener, in front of dropshot.
//!
//! dropshot handles some requests itself, before any handler of ours runs,
//! and gives them its own error body. These are a path that
//! [`router::is_malformed`] (400), a method outside
//! [`router::ROUTED_METHODS`] (405, with an `Allow` header that lists eight
//! methods), and requests its hyper rejects (431 and others, with no body). Its listener also detects HTTP/2 from the first
//! bytes, and the time-out for request headers starts only after that, so
//! a connection that never sends a byte is kept open without limit.
//!
//! The gate accepts HTTP/1 connections on the public address and closes
//! those that stay silent for [`HEADER_TIMEOUT`]. It responds to malformed
//! paths and other methods with Graph's errors, and passes every other
//! request to dropshot, which listens on a loopback port of its own. A response that
//! dropshot gives without running the handler is turned into Graph's error.
//! That costs one loopback hop per request; the README gives the measured
//! price.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dropshot::{Body, HttpError, HttpResponse};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Request, Response, StatusCode, Uri, Version};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use slog::{error, info, o, warn, Logger};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uploadurl_api::{GraphResponse, ODataError, RequestIds, UploadUrlResponse};

use crate::router::{self, ROUTED_METHODS};

/// How long a new connection may stay silent, and how long a client may
/// take to send the headers of a request (hyper's default for the latter).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The header that carries the gate's request id to dropshot, so that the
/// handler's log lines name the id a caller sees when the gate responds.
pub const GATE_ID_HEADER: &str = "x-uploadurl-gate-id";

/// The time dropshot has to respond to a request passed to it.
pub const BACKEND_TIMEOUT: Duration = Duration::from_secs(60);

/// The request headers passed to dropshot: the ones the mock reads. The
/// others are dropped, so that the gate's own header cannot push a request
/// with hyper's maximum of 100 fields over that maximum at dropshot, and
/// so that the hop parses less.
const FORWARDED_HEADERS: [&str; 3] = ["authorization", "client-request-id", "host"];

/// Headers that describe one connection, not the response (RFC 9110,
/// section 7.6.1), and so are not passed between the two connections. The
/// framing headers go too: hyper writes its own.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "transfer-encoding",
];

/// The running gate.
#[derive(Debug)]
pub struct GateHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl GateHandle {
    /// Stops accepting connections, lets requests in flight finish, and
    /// returns once every connection is closed.
    pub async fn close(self) -> Result<(), String> {
        // The task may have ended already; then there is nothing to stop.
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(|error| format!("the listener stopped: {error}"))
    }
}

struct Gate {
    backend: Client<HttpConnector, Empty<Bytes>>,
    backend_authority: Authority,
    log: Logger,
}

/// Starts accepting connections on `listener` and passing requests to the
/// dropshot server at `backend`.
pub fn spawn(listener: TcpListener, backend: SocketAddr, log: Logger) -> GateHandle {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    // Without `Host`, the client would add one, and a request with hyper's
    // maximum of 100 headers would then have 101 and be rejected by dropshot.
    let backend_client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .set_host(false)
        .build(connector);
    let gate = Arc::new(Gate {
        backend: backend_client,
        backend_authority: Authority::try_from(backend.to_string().as_str())
            .expect("a socket address is a valid authority"),
        log,
    });
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(gate, listener, stopped));
    GateHandle { stop, task }
}

async fn accept_loop(gate: Arc<Gate>, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
    // HTTP/1 only: Graph serves HTTP/2 only over TLS, so no Graph client
    // speaks HTTP/2 in clear text (h2c).
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let connection = serve_connection(
                        Arc::clone(&gate),
                        Arc::clone(&builder),
                        graceful.watcher(),
                        stopped.clone(),
                        stream,
                        remote,
                    );
                    tokio::spawn(connection);
                }
                Err(error) => match error.kind() {
                    // The peer went away before the connection was accepted.
                    std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionRefused => (),
                    // Most likely out of file descriptors: wait, then retry.
                    _ => {
                        warn!(gate.log, "accept failed"; "error" => error.to_string());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            },
            _ = stopped.changed() => break,
        }
    }
    info!(
        gate.log,
        "no longer accepting connections; waiting for open ones"
    );
    graceful.shutdown().await;
}

async fn serve_connection(
    gate: Arc<Gate>,
    builder: Arc<http1::Builder>,
    watcher: hyper_util::server::graceful::Watcher,
    mut stopped: watch::Receiver<bool>,
    stream: TcpStream,
    remote: SocketAddr,
) {
    // A connection that sends nothing is closed here, and at once when the
    // server stops; once it sends a byte, hyper's header time-out applies.
    let mut first = [0u8; 1];
    let first_byte = tokio::time::timeout(HEADER_TIMEOUT, stream.peek(&mut first));
    tokio::select! {
        peeked = first_byte => match peeked {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => (),
            Err(_) => {
                info!(gate.log, "closed a connection that sent nothing";
                    "remote_addr" => remote.to_string(),
                    "timeout_s" => HEADER_TIMEOUT.as_secs(),
                );
                return;
            }
        },
        _ = stopped.changed() => return,
    }
    // Responses are written whole, so Nagle's algorithm only adds delay.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request| {
        let gate = Arc::clone(&gate);
        async move { Ok::<_, Infallible>(gate.handle(request, remote).await) }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    // Errors here come from the client (a malformed request, a reset), and
    // hyper has already responded where it could.
    let _ = watcher.watch(connection).await;
}

impl Gate {
    async fn handle(&self, request: Request<Incoming>, remote: SocketAddr) -> Response<Body> {
        let path = request.uri().path();
        if router::is_malformed(path) {
            return self.answer(&request, remote, |ids| router::malformed_path(path, ids));
        }
        let backend_uri = self.backend_uri(request.uri());
        match backend_uri {
            Some(uri) if ROUTED_METHODS.contains(request.method()) => {
                self.forward(request, uri, remote).await
            }
            // Another method, or a request target that is not a path (such
            // as `*`): the response depends only on the path.
            _ => self.answer(&request, remote, |ids| {
                router::refusal(request.method(), &router::match_path(path), ids)
            }),
        }
    }

    /// Returns the request's target on dropshot: the same path and query.
    fn backend_uri(&self, uri: &Uri) -> Option<Uri> {
        let path_and_query = uri.path_and_query()?;
        if !path_and_query.as_str().starts_with('/') {
            return None;
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.backend_authority.clone());
        parts.path_and_query = Some(PathAndQuery::clone(path_and_query));
        Uri::from_parts(parts).ok()
    }

    /// Responds to a request without dropshot, and logs it as dropshot's requests are.
    fn answer(
        &self,
        request: &Request<Incoming>,
        remote: SocketAddr,
        build: impl FnOnce(&RequestIds) -> Result<Response<Body>, HttpError>,
    ) -> Response<Body> {
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let ids = RequestIds::from_request(&request_id, request.headers());
        let log = self.request_log(request, remote, &request_id);
        let response = build(&ids).unwrap_or_else(|error| {
            error!(log, "failed to build an error response"; "error" => &error.internal_message);
            plain_error(StatusCode::INTERNAL_SERVER_ERROR)
        });
        info!(log, "request completed";
            "status" => response.status().as_u16(),
            "latency_us" => started.elapsed().as_micros() as u64,
            "profile_id" => "",
        );
        response
    }

    /// Passes a request to dropshot, without its body, and its response
    /// back. The operation reads no body, and a body that dropshot does not
    /// read would make it close the connection while the body is sent.
    async fn forward(
        &self,
        request: Request<Incoming>,
        uri: Uri,
        remote: SocketAddr,
    ) -> Response<Body> {
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let ids = RequestIds::from_request(&request_id, request.headers());
        let log = self.request_log(&request, remote, &request_id);
        let (mut parts, _body) = request.into_parts();
        parts.uri = uri;
        // The connection to dropshot is HTTP/1.1 whatever the client spoke.
        parts.version = Version::HTTP_11;
        let mut headers = HeaderMap::with_capacity(FORWARDED_HEADERS.len() + 1);
        for name in FORWARDED_HEADERS {
            for value in parts.headers.get_all(name) {
                headers.append(name, value.clone());
            }
        }
        if let Ok(value) = http::HeaderValue::from_str(&request_id) {
            headers.insert(GATE_ID_HEADER, value);
        }
        parts.headers = headers;
        let request = Request::from_parts(parts, Empty::new());
        let (status, code, message) =
            match tokio::time::timeout(BACKEND_TIMEOUT, self.backend.request(request)).await {
                Ok(Ok(response)) if response.headers().contains_key("request-id") => {
                    let (mut parts, body) = response.into_parts();
                    remove_hop_by_hop(&mut parts.headers);
                    return Response::from_parts(parts, Body::wrap(body));
                }
                Ok(Ok(response)) => {
                    // Only the handler sets `request-id`; this response came
                    // from dropshot or its hyper.
                    let status = response.status();
                    warn!(log, "dropshot rejected the request"; "status" => status.as_u16());
                    (
                        status,
                        status_code_name(status),
                        format!(
                            "The request was rejected: {}.",
                            status.canonical_reason().unwrap_or("unknown status")
                        ),
                    )
                }
                Ok(Err(error)) => {
                    error!(log, "dropshot request failed"; "error" => error.to_string());
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "serviceNotAvailable".to_string(),
                        "The mock could not handle the request; its log has the cause.".to_string(),
                    )
                }
                Err(_) => {
                    error!(log, "dropshot timed out";
                        "timeout_s" => BACKEND_TIMEOUT.as_secs());
                    (
                        StatusCode::GATEWAY_TIMEOUT,
                        "gatewayTimeout".to_string(),
                        "The mock did not respond in time; its log has the cause.".to_string(),
                    )
                }
            };
        let body = ODataError::new(&code, message, &ids);
        let response = GraphResponse::<UploadUrlResponse>::error(status, body)
            .to_result()
            .unwrap_or_else(|_| plain_error(status));
        info!(log, "request completed";
            "status" => response.status().as_u16(),
            "latency_us" => started.elapsed().as_micros() as u64,
            "profile_id" => "",
        );
        response
    }

    /// Creates the logger of one request, with the keys dropshot gives its own.
    fn request_log(&self, request: &Request<Incoming>, remote: SocketAddr, id: &str) -> Logger {
        self.log.new(o!(
            "remote_addr" => remote.to_string(),
            "req_id" => id.to_string(),
            "method" => request.method().as_str().to_string(),
            "uri" => request.uri().to_string(),
        ))
    }
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Returns an error code for a status: its reason phrase in Pascal case,
/// such as `RequestHeaderFieldsTooLarge`.
fn status_code_name(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("Error")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn plain_error(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert("connection", "close, authorization".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert("authorization", "Bearer x".parse().unwrap());
        headers.insert("content-length", "0".parse().unwrap());
        headers.insert("client-request-id", "1".parse().unwrap());
        remove_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|name| name.as_str()).collect();
        left.sort_unstable();
        // A header that `Connection` names stays, because the mock is the
        // origin server and receives what Graph's service would.
        assert_eq!(left, ["authorization", "client-request-id"]);
    }

    #[test]
    fn status_code_names() {
        let cases = [
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "RequestHeaderFieldsTooLarge",
            ),
            (StatusCode::BAD_REQUEST, "BadRequest"),
            (StatusCode::URI_TOO_LONG, "URITooLong"),
        ];
        for (status, name) in cases {
            assert_eq!(status_code_name(status), name);
        }
    }
}
