//! The public listener, in front of dropshot.
//!
//! dropshot handles three cases itself, before any handler of ours runs:
//!
//! - a path that [`router::is_malformed`]: 400 with dropshot's error body;
//! - a method outside [`router::ROUTED_METHODS`]: 405 with dropshot's body
//!   and an `Allow` header that lists eight methods;
//! - a connection that never sends a byte: kept open without limit, because
//!   its HTTP version is detected from the first bytes and the time-out for
//!   request headers starts only after that.
//!
//! The gate accepts connections on the public address, closes those that
//! stay silent for [`HEADER_TIMEOUT`], responds to the first two with
//! Graph's errors, and passes every other request to dropshot, which listens on a
//! loopback port of its own. That costs one loopback hop per request; the
//! README gives the measured price.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dropshot::{Body, HttpError, HttpResponse};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{header, HeaderMap, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use slog::{error, info, o, warn, Logger};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uploadurl_api::{GraphResponse, ODataError, RequestIds, UploadUrlResponse};

use crate::router::{self, ROUTED_METHODS};

/// How long a new connection may stay silent, and how long a client may
/// take to send the headers of a request (hyper's default for the latter).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The time dropshot has to respond to a request passed to it.
pub const BACKEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Headers that describe one connection, not the request (RFC 9110,
/// section 7.6.1), and so are not passed between the two connections.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// The running gate.
#[derive(Debug)]
pub struct GateHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl GateHandle {
    /// Stops accepting connections, lets requests in flight finish, and
    /// returns once every connection is closed.
    pub async fn close(self) -> Result<(), String> {
        // The task may have ended already; then there is nothing to stop.
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|error| format!("the listener stopped: {error}"))
    }
}

struct Gate {
    backend: Client<HttpConnector, Incoming>,
    backend_authority: Authority,
    log: Logger,
}

/// Starts accepting connections on `listener` and passing requests to the
/// dropshot server at `backend`.
pub fn spawn(listener: TcpListener, backend: SocketAddr, log: Logger) -> GateHandle {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let backend_client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector);
    let gate = Arc::new(Gate {
        backend: backend_client,
        backend_authority: Authority::try_from(backend.to_string().as_str())
            .expect("a socket address is a valid authority"),
        log,
    });
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(accept_loop(gate, listener, stopped));
    GateHandle { stop, task }
}

async fn accept_loop(gate: Arc<Gate>, listener: TcpListener, mut stopped: oneshot::Receiver<()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
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
            _ = &mut stopped => break,
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
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
    stream: TcpStream,
    remote: SocketAddr,
) {
    // A connection that sends nothing is closed here; once it sends a byte,
    // hyper's header time-out takes over.
    match tokio::time::timeout(HEADER_TIMEOUT, stream.peek(&mut [0u8; 1])).await {
        Ok(Ok(0)) | Ok(Err(_)) => return,
        Ok(Ok(_)) => (),
        Err(_) => {
            info!(gate.log, "closed a connection that sent nothing";
                "remote_addr" => remote.to_string(),
                "timeout_s" => HEADER_TIMEOUT.as_secs(),
            );
            return;
        }
    }
    // Responses are written whole, so Nagle's algorithm only adds delay.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request| {
        let gate = Arc::clone(&gate);
        async move { Ok::<_, Infallible>(gate.handle(request, remote).await) }
    });
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .into_owned();
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

    /// Passes a request to dropshot and its response back.
    async fn forward(
        &self,
        mut request: Request<Incoming>,
        uri: Uri,
        remote: SocketAddr,
    ) -> Response<Body> {
        let started = Instant::now();
        let ids = RequestIds::generate();
        let log = self.request_log(&request, remote, &ids.request_id);
        *request.uri_mut() = uri;
        // The connection to dropshot is HTTP/1.1 whatever the client spoke.
        *request.version_mut() = Version::HTTP_11;
        remove_hop_by_hop(request.headers_mut());
        let (status, message) =
            match tokio::time::timeout(BACKEND_TIMEOUT, self.backend.request(request)).await {
                Ok(Ok(response)) => {
                    let (mut parts, body) = response.into_parts();
                    remove_hop_by_hop(&mut parts.headers);
                    return Response::from_parts(parts, Body::wrap(body));
                }
                Ok(Err(error)) => {
                    error!(log, "dropshot request failed"; "error" => error.to_string());
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The mock could not handle the request; its log has the cause.",
                    )
                }
                Err(_) => {
                    error!(log, "dropshot timed out";
                        "timeout_s" => BACKEND_TIMEOUT.as_secs());
                    (
                        StatusCode::GATEWAY_TIMEOUT,
                        "The mock did not answer in time; its log has the cause.",
                    )
                }
            };
        let code = if status == StatusCode::GATEWAY_TIMEOUT {
            "gatewayTimeout"
        } else {
            "serviceNotAvailable"
        };
        let body = ODataError::new(code, message.to_string(), &ids);
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
    // Headers named by `Connection` are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        // Framing headers stay: hyper sets them from the body either way.
        if name != "content-length" && name != "transfer-encoding" {
            headers.remove(name);
        }
    }
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
        headers.insert("connection", "close, X-Secret-Hop".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert("x-secret-hop", "1".parse().unwrap());
        headers.insert("authorization", "Bearer x".parse().unwrap());
        headers.insert("content-length", "0".parse().unwrap());
        remove_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|name| name.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["authorization", "content-length"]);
    }
}
