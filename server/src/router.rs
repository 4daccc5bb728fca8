//! Routing: which operation a request names, and Graph's errors for
//! requests that name none.
//!
//! dropshot's own router rejects an unknown path or method with its own
//! error body, before any handler runs, and cannot be given a fallback next
//! to literal path segments. So the server registers one unpublished
//! wildcard endpoint per method, matches the path here, and calls the
//! [`UploadUrlApi`] implementation for the operation. The OpenAPI document
//! still comes from the trait; this module only decides what reaches it.
//!
//! dropshot rejects two kinds of request before routing, with its own
//! error body: a path that [`is_malformed`], and a method outside
//! [`ROUTED_METHODS`]. The [`crate::gate`] in front of dropshot responds to
//! those with [`malformed_path`] and [`refusal`], so they never reach it.

use dropshot::{
    ApiDescription, ApiEndpoint, ApiEndpointVersions, Body, HttpError, HttpResponse, Path,
    RequestContext,
};
use http::{header, HeaderValue, Method, Response, StatusCode};
use percent_encoding::percent_decode_str;
use schemars::JsonSchema;
use serde::Deserialize;
use slog::{error, info};
use std::time::Instant;
use uploadurl_api::{
    GraphResponse, ODataError, ProfilePathParams, RequestIds, UploadUrlApi, UploadUrlResponse,
};

use crate::handler::MockApi;
use crate::outcome::quote;
use crate::AppState;

/// The methods the wildcard endpoint is registered for; each gets Graph's
/// 405 on the operation's path, except GET.
pub const ROUTED_METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

/// A resource the server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The uploadUrl function of the profile with this (decoded) key.
    UploadUrl {
        /// The profile key as sent, percent-decoded.
        id: String,
    },
}

/// A path that names no resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPath {
    /// The first segment, percent-decoded, that no resource has.
    pub segment: String,
}

/// The names under which the function is served: the documentation's
/// `uploadUrl`, the call `uploadUrl()` that Microsoft's current SDKs send,
/// and the namespace-qualified forms that older SDKs send and OData defines
/// (`microsoft.graph` and its alias `graph`).
pub const FUNCTION_FORMS: [&str; 6] = [
    "uploadUrl",
    "uploadUrl()",
    "microsoft.graph.uploadUrl",
    "microsoft.graph.uploadUrl()",
    "graph.uploadUrl",
    "graph.uploadUrl()",
];

/// Matches a request path (as sent, percent-encoded) against the served
/// resources. The profile key may be a path segment (key-as-segment, as in
/// the documentation) or OData's key predicate,
/// `synchronizationProfiles('{id}')`.
pub fn match_path(path: &str) -> Result<Route, UnknownPath> {
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let mut last = "";
    for literal in ["beta", "education"] {
        match segments.next() {
            Some(segment) if segment == literal => last = literal,
            Some(segment) => {
                return Err(UnknownPath {
                    segment: decode(segment),
                })
            }
            // The path stops at a collection or namespace, which this server
            // does not serve.
            None => {
                return Err(UnknownPath {
                    segment: last.to_string(),
                })
            }
        }
    }
    let collection = segments.next().map(decode);
    let id = match collection.as_deref() {
        Some("synchronizationProfiles") => segments.next().map(decode),
        Some(segment) => match key_predicate(segment) {
            Some(id) => Some(id),
            None => {
                return Err(UnknownPath {
                    segment: segment.to_string(),
                })
            }
        },
        None => {
            return Err(UnknownPath {
                segment: last.to_string(),
            })
        }
    };
    let function = segments.next().map(decode);
    // A single trailing slash is accepted, as dropshot's router accepts it.
    let rest: Vec<&str> = segments.collect();
    match (id, function, rest.as_slice()) {
        (Some(id), Some(function), [] | [""]) if FUNCTION_FORMS.contains(&function.as_str()) => {
            Ok(Route::UploadUrl { id })
        }
        (Some(_), Some(function), _) if !FUNCTION_FORMS.contains(&function.as_str()) => {
            Err(UnknownPath { segment: function })
        }
        (Some(_), Some(_), [extra, ..]) => Err(UnknownPath {
            segment: decode(extra),
        }),
        (Some(id), None, _) => Err(UnknownPath { segment: id }),
        _ => Err(UnknownPath {
            segment: "synchronizationProfiles".to_string(),
        }),
    }
}

/// Reads the key of `synchronizationProfiles('{id}')` (decoded): a quoted
/// string, with `''` for a quote, or an unquoted GUID.
fn key_predicate(segment: &str) -> Option<String> {
    let inner = segment
        .strip_prefix("synchronizationProfiles(")?
        .strip_suffix(')')?;
    match inner
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
    {
        Some(quoted) => Some(quoted.replace("''", "'")),
        None => Some(inner.to_string()),
    }
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// Returns whether dropshot's router would reject `path` (as sent) before routing:
/// a `.` or `..` segment, or a segment whose percent-encoding does not
/// decode to UTF-8. The rule is dropshot 0.18's `input_path_to_segments`.
pub fn is_malformed(path: &str) -> bool {
    path.split('/').any(|segment| {
        segment == "." || segment == ".." || percent_decode_str(segment).decode_utf8().is_err()
    })
}

/// Builds Graph's 400 for a path that [`is_malformed`].
pub fn malformed_path(path: &str, ids: &RequestIds) -> Result<Response<Body>, HttpError> {
    let message = format!(
        "The request path '{}' is not valid: it has a '.' or '..' segment, or \
         percent-encoding that is not UTF-8.",
        quote(&decode(path))
    );
    let body = ODataError::new("BadRequest", message, ids);
    GraphResponse::<UploadUrlResponse>::error(StatusCode::BAD_REQUEST, body).to_result()
}

/// Builds Graph's error for a request the operation does not serve: 405 with
/// `Allow: GET` for another method on its path, 404 for an unknown path.
pub fn refusal(
    method: &Method,
    route: &Result<Route, UnknownPath>,
    ids: &RequestIds,
) -> Result<Response<Body>, HttpError> {
    match route {
        Ok(Route::UploadUrl { .. }) => {
            let message = format!(
                "The HTTP method '{}' is not allowed for uploadUrl; use GET.",
                quote(method.as_str())
            );
            let body = ODataError::new("MethodNotAllowed", message, ids);
            let mut response =
                GraphResponse::<UploadUrlResponse>::error(StatusCode::METHOD_NOT_ALLOWED, body)
                    .to_result()?;
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            Ok(response)
        }
        Err(unknown) => {
            // NOTE: for an entity path such as `synchronizationProfiles('{id}')`
            // with no function, the first segment the mock does not serve is
            // the key, so the message names the key rather than the entity.
            let message = format!(
                "Resource not found for the segment '{}'.",
                quote(&unknown.segment)
            );
            let body = ODataError::new("ResourceNotFound", message, ids);
            GraphResponse::<UploadUrlResponse>::error(StatusCode::NOT_FOUND, body).to_result()
        }
    }
}

/// The wildcard path parameter; its value is not used, because the raw path
/// keeps empty segments that dropshot's decoding drops.
#[derive(Deserialize, JsonSchema)]
struct AnyPath {
    #[allow(dead_code)]
    path: Vec<String>,
}

/// Builds the API description the server serves: the wildcard endpoint for
/// each of [`ROUTED_METHODS`].
pub fn api_description() -> Result<ApiDescription<AppState>, String> {
    let mut api = ApiDescription::new();
    for method in ROUTED_METHODS {
        let endpoint = ApiEndpoint::new(
            "route".to_string(),
            route,
            method,
            "application/json",
            "/{path:.*}",
            ApiEndpointVersions::All,
        )
        .visible(false);
        api.register(endpoint).map_err(|error| error.to_string())?;
    }
    Ok(api)
}

/// Handles every request: the operation for a matching path and GET, and
/// Graph's 404 or 405 otherwise. Logs one line per request.
async fn route(
    mut rqctx: RequestContext<AppState>,
    _path: Path<AnyPath>,
) -> Result<Response<Body>, HttpError> {
    let started = Instant::now();
    // The gate's id for the request, so that a line here can be matched
    // with the gate's line when the gate, not dropshot, responded.
    let gate_id = rqctx
        .request
        .headers()
        .get(crate::gate::GATE_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(quote)
        .unwrap_or_default();
    rqctx.log = rqctx.log.new(slog::o!("gate_req_id" => gate_id));
    let log = rqctx.log.clone();
    let route = match_path(rqctx.request.uri().path());
    let profile_id = match &route {
        Ok(Route::UploadUrl { id }) => quote(id),
        Err(_) => String::new(),
    };
    let response = respond(rqctx, route).await;
    match &response {
        Ok(response) => info!(log, "request completed";
            "status" => response.status().as_u16(),
            "latency_us" => started.elapsed().as_micros() as u64,
            "profile_id" => profile_id,
        ),
        Err(error) => error!(log, "request failed";
            "status" => error.status_code.as_u16(),
            "latency_us" => started.elapsed().as_micros() as u64,
            "profile_id" => profile_id,
            "error" => &error.internal_message,
        ),
    }
    response
}

async fn respond(
    rqctx: RequestContext<AppState>,
    route: Result<Route, UnknownPath>,
) -> Result<Response<Body>, HttpError> {
    match route {
        Ok(Route::UploadUrl { id }) if rqctx.request.method() == Method::GET => {
            match MockApi::upload_url(rqctx, Path::from(ProfilePathParams { id })).await {
                Ok(response) => response.to_result(),
                Err(error) => {
                    GraphResponse::<UploadUrlResponse>::error(error.status.as_status(), error.body)
                        .to_result()
                }
            }
        }
        route => {
            // The operation computes its own ids; only the errors need them.
            let ids = RequestIds::from_request(&rqctx.request_id, rqctx.request.headers());
            refusal(rqctx.request.method(), &route, &ids)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload_url(id: &str) -> Result<Route, UnknownPath> {
        Ok(Route::UploadUrl { id: id.to_string() })
    }

    fn unknown(segment: &str) -> Result<Route, UnknownPath> {
        Err(UnknownPath {
            segment: segment.to_string(),
        })
    }

    #[test]
    fn match_path_cases() {
        let guid = "9cbbf4f1-5a07-4f8e-9e51-1d3c40a6a2b1";
        let base = "/beta/education/synchronizationProfiles";
        let cases = [
            (format!("{base}/{guid}/uploadUrl"), upload_url(guid)),
            (format!("{base}/{guid}/uploadUrl/"), upload_url(guid)),
            (format!("{base}//uploadUrl"), upload_url("")),
            (format!("{base}/a%2Fb/uploadUrl"), upload_url("a/b")),
            (format!("{base}/%2B-/uploadUrl"), upload_url("+-")),
            (format!("{base}/%C3%A9/uploadUrl"), upload_url("é")),
            (format!("{base}/{guid}/uploadurl"), unknown("uploadurl")),
            (format!("{base}/{guid}/uploadUrl()"), upload_url(guid)),
            (format!("{base}/{guid}/uploadUrl%28%29"), upload_url(guid)),
            (
                format!("{base}/{guid}/microsoft.graph.uploadUrl()"),
                upload_url(guid),
            ),
            (
                format!("{base}/{guid}/microsoft.graph.uploadUrl"),
                upload_url(guid),
            ),
            (format!("{base}/{guid}/graph.uploadUrl()"), upload_url(guid)),
            (
                format!("{base}/{guid}/uploadUrl(x=1)"),
                unknown("uploadUrl(x=1)"),
            ),
            (format!("{base}('{guid}')/uploadUrl()"), upload_url(guid)),
            (format!("{base}(%27{guid}%27)/uploadUrl"), upload_url(guid)),
            (format!("{base}({guid})/uploadUrl"), upload_url(guid)),
            (format!("{base}('it''s')/uploadUrl"), upload_url("it's")),
            (format!("{base}('{guid}')"), unknown(guid)),
            (
                "/beta/education/users('x')/uploadUrl".to_string(),
                unknown("users('x')"),
            ),
            (format!("{base}/{guid}/uploadUrl/x"), unknown("x")),
            (format!("{base}/{guid}"), unknown(guid)),
            (base.to_string(), unknown("synchronizationProfiles")),
            ("/v1.0/education".to_string(), unknown("v1.0")),
            ("/beta/foo".to_string(), unknown("foo")),
            ("/".to_string(), unknown("")),
            ("/beta".to_string(), unknown("beta")),
            ("/beta/education".to_string(), unknown("education")),
        ];
        for (path, expected) in cases {
            assert_eq!(match_path(&path), expected, "{path}");
        }
    }

    #[test]
    fn malformed_paths() {
        for path in [
            "/beta/./x",
            "/beta/..",
            "/../beta",
            "/beta/%FF/uploadUrl",
            "/%C3",
        ] {
            assert!(is_malformed(path), "{path}");
        }
        for path in [
            "/",
            "//",
            "/beta/.../x",
            "/beta/%2E%2E/uploadUrl",
            "/%C3%A9",
            "/a.b",
        ] {
            assert!(!is_malformed(path), "{path}");
        }
    }
}
