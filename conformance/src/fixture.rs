//! The documented example exchange of uploadUrl, read from
//! `fixtures/documented-example.json`.

use serde::Deserialize;

/// The fixture file, relative to this crate.
pub const FIXTURE_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/documented-example.json"
);

/// The documented example: request, response and the named exceptions
/// where the documentation is known to be wrong.
#[derive(Debug, Clone, Deserialize)]
pub struct DocumentedExample {
    /// Where the example comes from.
    pub source: String,
    /// The request.
    pub request: DocumentedRequest,
    /// The response.
    pub response: DocumentedResponse,
    /// Fields whose documented value is not the value to expect.
    pub exceptions: Vec<Exception>,
}

/// The documented request.
#[derive(Debug, Clone, Deserialize)]
pub struct DocumentedRequest {
    /// The request line, such as `GET https://graph.microsoft.com/beta/...`.
    pub line: String,
}

/// The documented response.
#[derive(Debug, Clone, Deserialize)]
pub struct DocumentedResponse {
    /// The status line, such as `HTTP/1.1 201 OK`.
    pub status_line: String,
    /// Header names and values, as written in the documentation.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: serde_json::Value,
}

/// A field of the example that is known to be wrong, with what to expect
/// instead and why.
#[derive(Debug, Clone, Deserialize)]
pub struct Exception {
    /// A short name for reports.
    pub name: String,
    /// The compared field it applies to: `status` or `content-length`.
    pub field: String,
    /// The value the documentation shows.
    pub documented: String,
    /// The value to expect instead, or `None` when the field is not
    /// compared.
    pub expected: Option<String>,
    /// Why the documentation is not followed here.
    pub reason: String,
}

impl DocumentedExample {
    /// Reads the fixture.
    pub fn load() -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(FIXTURE_PATH)
            .map_err(|e| anyhow::anyhow!("failed to read {FIXTURE_PATH}: {e}"))?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid fixture {FIXTURE_PATH}: {e}"))
    }

    /// The status code of the status line.
    pub fn status(&self) -> anyhow::Result<u16> {
        let code = self.response.status_line.split_whitespace().nth(1);
        code.and_then(|code| code.parse().ok()).ok_or_else(|| {
            anyhow::anyhow!(
                "status line {:?} has no status code",
                self.response.status_line
            )
        })
    }

    /// A header's documented value; names compare case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The exception for `field`, if there is one.
    pub fn exception(&self, field: &str) -> Option<&Exception> {
        self.exceptions
            .iter()
            .find(|exception| exception.field == field)
    }
}
