//! Graph's error body and the error type that carries it through dropshot.
//!
//! Every Graph error, whatever the status, has the same body:
//! `{"error": {"code", "message", "innerError": {"request-id",
//! "client-request-id", "date"}}}`. The schema names follow Graph's own
//! OpenAPI description (`ODataError`, `MainError`, `InnerError`), so the
//! generated client's types read like Microsoft's SDKs.

use std::fmt;

use dropshot::{ErrorStatusCode, HttpError, HttpResponseError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::RequestIds;

/// Graph's error response body.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ODataError {
    /// The error.
    pub error: MainError,
}

/// The error object of Graph's error body.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct MainError {
    /// A machine-readable error code, such as `InvalidAuthenticationToken`.
    pub code: String,
    /// A human-readable description of the error.
    pub message: String,
    /// Diagnostic details: the ids of the request and the time of the error.
    #[serde(rename = "innerError")]
    pub inner_error: InnerError,
}

/// Diagnostic details of a Graph error.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct InnerError {
    /// The id the server gave the request; also in the `request-id` header.
    #[serde(rename = "request-id")]
    pub request_id: String,
    /// The caller's `client-request-id` header, or the request id when the
    /// caller sent none.
    #[serde(rename = "client-request-id")]
    pub client_request_id: String,
    /// The time of the error in UTC, as Graph writes it: without a zone
    /// offset, for example `2020-03-04T20:54:38`.
    pub date: String,
}

impl ODataError {
    /// Builds an error body for a request with the given ids, dated now.
    pub fn new(code: &str, message: impl Into<String>, ids: &RequestIds) -> Self {
        let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
        ODataError {
            error: MainError {
                code: code.to_string(),
                message: message.into(),
                inner_error: InnerError {
                    request_id: ids.request_id.clone(),
                    client_request_id: ids.client_request_id.clone(),
                    date,
                },
            },
        }
    }
}

/// The error type of the API trait: a Graph error body with its status.
///
/// Handlers send their errors as [`crate::GraphResponse`] so that the
/// response carries Graph's headers. Dropshot builds this type through
/// `From<HttpError>` when one of its extractors rejects a request before the
/// handler runs. It also gives the OpenAPI document its error schema.
#[derive(Debug)]
pub struct GraphError {
    /// The HTTP status of the error response.
    pub status: ErrorStatusCode,
    /// The response body.
    pub body: ODataError,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.body.error.code, self.body.error.message)
    }
}

impl Serialize for GraphError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.body.serialize(serializer)
    }
}

impl JsonSchema for GraphError {
    fn schema_name() -> String {
        ODataError::schema_name()
    }

    fn json_schema(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        ODataError::json_schema(generator)
    }
}

impl HttpResponseError for GraphError {
    fn status_code(&self) -> ErrorStatusCode {
        self.status
    }
}

impl From<HttpError> for GraphError {
    fn from(error: HttpError) -> Self {
        let code = match error.status_code.as_u16() {
            400 => "BadRequest",
            404 => "ResourceNotFound",
            405 => "MethodNotAllowed",
            status if status >= 500 => "InternalServerError",
            _ => "BadRequest",
        };
        // NOTE: dropshot hands extractor errors over without the request, so
        // this body gets a fresh request id that differs from dropshot's
        // `x-request-id` header, and no `client-request-id` echo.
        let ids = RequestIds::generate();
        GraphError {
            status: error.status_code,
            body: ODataError::new(code, error.external_message, &ids),
        }
    }
}
