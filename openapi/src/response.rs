//! The response type of the operation: a body in Graph's wire form, with
//! Graph's content type and request id headers.

use dropshot::{
    ApiEndpointResponse, Body, HttpError, HttpResponse, HttpResponseHeaders, HttpResponseOk,
};
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use schemars::JsonSchema;
use serde::Serialize;

use crate::ODataError;

/// The content type of Graph's JSON responses.
pub const GRAPH_JSON_CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;\
     odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// The longest `client-request-id` the server echoes. Graph's clients send a
/// GUID (36 characters); longer values are replaced by the request id.
const MAX_CLIENT_REQUEST_ID_LEN: usize = 128;

/// The ids of one request, as Graph returns them in headers and error bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIds {
    /// The id the server gave the request.
    pub request_id: String,
    /// The caller's `client-request-id`, or `request_id` when the caller sent
    /// none that can be echoed.
    pub client_request_id: String,
}

impl RequestIds {
    /// Takes the server's request id and the caller's `client-request-id`
    /// header, which is echoed when it is a single header of at most 128
    /// visible ASCII characters.
    pub fn from_request(request_id: &str, headers: &HeaderMap) -> Self {
        let mut values = headers.get_all("client-request-id").iter();
        let client_request_id = match (values.next(), values.next()) {
            (Some(value), None) => value
                .to_str()
                .ok()
                .filter(|id| {
                    !id.is_empty()
                        && id.len() <= MAX_CLIENT_REQUEST_ID_LEN
                        && id.bytes().all(|b| b.is_ascii_graphic())
                })
                .map(str::to_string),
            _ => None,
        };
        RequestIds {
            request_id: request_id.to_string(),
            client_request_id: client_request_id.unwrap_or_else(|| request_id.to_string()),
        }
    }

    /// Creates ids for a request whose id the caller cannot see.
    pub fn generate() -> Self {
        let request_id = uuid::Uuid::new_v4().to_string();
        RequestIds {
            client_request_id: request_id.clone(),
            request_id,
        }
    }
}

/// The response headers Graph sends with every response, as documented in
/// the OpenAPI document.
#[derive(Serialize, JsonSchema)]
pub struct GraphResponseHeaders {
    /// The id the server gave the request.
    #[serde(rename = "request-id")]
    pub request_id: String,
    /// The caller's `client-request-id`, or the request id.
    #[serde(rename = "client-request-id")]
    pub client_request_id: String,
}

#[derive(Debug)]
enum Payload<T> {
    Success(T),
    Error(ODataError),
}

/// A response as Graph sends it: the success body `T` or Graph's error body,
/// the JSON content type Graph uses, `request-id` and `client-request-id`.
///
/// The OpenAPI document describes only the success case here; errors are
/// described through [`crate::GraphError`].
#[derive(Debug)]
pub struct GraphResponse<T> {
    status: StatusCode,
    payload: Payload<T>,
    ids: RequestIds,
}

impl<T> GraphResponse<T> {
    /// Builds a `200 OK` response.
    pub fn ok(body: T, ids: RequestIds) -> Self {
        GraphResponse {
            status: StatusCode::OK,
            payload: Payload::Success(body),
            ids,
        }
    }

    /// Builds an error response. The ids in the headers are taken from the
    /// body's `innerError`, so the two cannot differ.
    pub fn error(status: StatusCode, body: ODataError) -> Self {
        let inner = &body.error.inner_error;
        let ids = RequestIds {
            request_id: inner.request_id.clone(),
            client_request_id: inner.client_request_id.clone(),
        };
        GraphResponse {
            status,
            payload: Payload::Error(body),
            ids,
        }
    }

    /// Returns the HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl<T> HttpResponse for GraphResponse<T>
where
    T: Serialize + JsonSchema + Send + Sync + 'static,
{
    fn to_result(self) -> Result<Response<Body>, HttpError> {
        let body = match &self.payload {
            Payload::Success(value) => serde_json::to_vec(value),
            Payload::Error(error) => serde_json::to_vec(error),
        }
        .map_err(|e| HttpError::for_internal_error(format!("failed to serialize body: {e}")))?;
        let header = |value: &str| {
            HeaderValue::from_str(value).map_err(|e| {
                HttpError::for_internal_error(format!("invalid request id header: {e}"))
            })
        };
        let response = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, GRAPH_JSON_CONTENT_TYPE)
            .header("request-id", header(&self.ids.request_id)?)
            .header("client-request-id", header(&self.ids.client_request_id)?)
            .body(Body::from(body))?;
        Ok(response)
    }

    fn response_metadata() -> ApiEndpointResponse {
        <HttpResponseHeaders<HttpResponseOk<T>, GraphResponseHeaders> as HttpResponse>::response_metadata()
    }

    fn status_code(&self) -> StatusCode {
        self.status
    }
}
