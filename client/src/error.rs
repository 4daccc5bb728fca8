//! Errors of [`crate::UploadUrlClient`], with Graph's error responses decoded
//! into [`GraphError`].

use crate::types::ODataError;

/// An error response from Graph (or the mock), decoded from Graph's error
/// body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    /// The HTTP status of the response.
    pub status: reqwest::StatusCode,
    /// Graph's error code, such as `InvalidAuthenticationToken`.
    pub code: String,
    /// Graph's error message.
    pub message: String,
    /// The request id: the `request-id` header, or the body's
    /// `innerError.request-id` when the header is missing.
    pub request_id: String,
    /// The `client-request-id` the server returned in the body.
    pub client_request_id: String,
    /// The time of the error as the server wrote it.
    pub date: String,
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} (request-id {})",
            self.status.as_u16(),
            self.code,
            self.message,
            self.request_id
        )
    }
}

impl std::error::Error for GraphError {}

/// An error of [`crate::UploadUrlClient`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL given to the client is not a URL.
    #[error(
        "invalid base URL {base_url:?}; expected a URL such as https://graph.microsoft.com/beta"
    )]
    InvalidBaseUrl {
        /// The rejected base URL.
        base_url: String,
        /// The parse error.
        #[source]
        source: url::ParseError,
    },
    /// The token contains characters that cannot be sent in a header.
    #[error("invalid access token: it contains characters not allowed in an HTTP header")]
    InvalidToken,
    /// The profile id is not a GUID in its hyphenated form.
    #[error(
        "invalid profile id {0:?}: expected a GUID such as 86904b1e-c7d0-4ead-b13a-98f11fc400ee"
    )]
    InvalidProfileId(String),
    /// The HTTP client could not be built.
    #[error("failed to build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// The server returned Graph's error body.
    #[error("Graph returned an error: {0}")]
    Graph(Box<GraphError>),
    /// The request failed before a Graph response arrived, or the response
    /// was not one the OpenAPI document describes.
    #[error("uploadUrl request failed")]
    Request(#[source] Box<progenitor_client::Error<ODataError>>),
}

impl Error {
    /// Returns the Graph error, when the server returned one.
    pub fn graph(&self) -> Option<&GraphError> {
        match self {
            Error::Graph(error) => Some(error),
            _ => None,
        }
    }
}

impl From<progenitor_client::Error<ODataError>> for Error {
    fn from(error: progenitor_client::Error<ODataError>) -> Self {
        match error {
            progenitor_client::Error::ErrorResponse(response) => {
                let status = response.status();
                let header_request_id = response
                    .headers()
                    .get("request-id")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                let body = response.into_inner().error;
                Error::Graph(Box::new(GraphError {
                    status,
                    code: body.code,
                    message: body.message,
                    request_id: header_request_id.unwrap_or(body.inner_error.request_id),
                    client_request_id: body.inner_error.client_request_id,
                    date: body.inner_error.date,
                }))
            }
            other => Error::Request(Box::new(other)),
        }
    }
}
