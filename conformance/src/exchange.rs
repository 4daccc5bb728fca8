//! Capturing an uploadUrl exchange over raw HTTP, and snapshotting it with
//! redactions that check each dynamic value's format before replacing it.

use std::collections::BTreeMap;

use insta::internals::Content;
use regex::Regex;
use serde::Serialize;

use crate::target::Target;

/// The response headers kept in snapshots.
const SNAPSHOT_HEADERS: [&str; 5] = [
    "allow",
    "client-request-id",
    "content-length",
    "content-type",
    "request-id",
];

/// One request and its response, in the form snapshots hold.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// Method and path below the base URL, such as
    /// `GET {base}/education/synchronizationProfiles/{id}/uploadUrl`.
    pub request: String,
    /// The request headers that were sent, with the token replaced.
    pub request_headers: BTreeMap<String, String>,
    /// The response status code.
    pub status: u16,
    /// The response headers in [`SNAPSHOT_HEADERS`], lowercase names.
    pub headers: BTreeMap<String, String>,
    /// The response body as JSON.
    pub body: serde_json::Value,
}

/// A request to send: the profile id and extra headers.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The method; `None` for GET.
    pub method: Option<String>,
    /// The path below the base URL, when it is not the operation's.
    pub path: Option<String>,
    /// The path segment for `{id}`, sent as given (no encoding is added).
    pub profile_id: String,
    /// The `Authorization` header: `None` for none, `Some(value)` as given.
    pub authorization: Option<String>,
    /// Other headers.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// A request for `profile_id` with the target's bearer token.
    pub fn authorized(target: &Target, profile_id: &str) -> Self {
        Request {
            method: None,
            path: None,
            profile_id: profile_id.to_string(),
            authorization: Some(format!("Bearer {}", target.token)),
            headers: Vec::new(),
        }
    }

    /// The same request with another `Authorization` header, or none.
    pub fn with_authorization(mut self, authorization: Option<&str>) -> Self {
        self.authorization = authorization.map(str::to_string);
        self
    }

    /// The same request with another method, sent as given (case kept).
    pub fn with_method(mut self, method: &str) -> Self {
        self.method = Some(method.to_string());
        self
    }

    /// The same request for another path below the base URL.
    pub fn with_path(mut self, path: &str) -> Self {
        self.path = Some(path.to_string());
        self
    }

    /// The same request with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// Sends `request` and captures the exchange. Fails when the response breaks
/// a rule that holds for every outcome: a `Content-Length` equal to the body's
/// length and no chunked encoding, one `request-id`, `client-request-id` echoed
/// or equal to `request-id`, a JSON body, and for errors, ids in the body
/// equal to the headers.
pub async fn send(target: &Target, request: &Request) -> anyhow::Result<Exchange> {
    let exchange = capture(target, request).await?;
    crate::schema::ResponseSchemas::checked_in()
        .validate(exchange.status, &exchange.body)
        .map_err(|message| anyhow::anyhow!(message))?;
    Ok(exchange)
}

/// A response as it came, before any check: for tests of what a proxy in
/// front of the server adds or replaces.
#[derive(Debug)]
pub struct Fetched {
    /// `{method} {{base}}{path}`, as in [`Exchange::request`].
    pub request: String,
    /// The request headers that were sent, with the token replaced.
    pub request_headers: BTreeMap<String, String>,
    /// The response status code.
    pub status: u16,
    /// Every response header.
    pub headers: reqwest::header::HeaderMap,
    /// The response body.
    pub body: Vec<u8>,
}

/// Sends `request` and returns the response without checking it.
pub async fn fetch(target: &Target, request: &Request) -> anyhow::Result<Fetched> {
    let path = match &request.path {
        Some(path) => path.clone(),
        None => format!(
            "/education/synchronizationProfiles/{}/uploadUrl",
            request.profile_id
        ),
    };
    let method = request.method.as_deref().unwrap_or("GET");
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let mut builder = target
        .http()
        .request(method.clone(), format!("{}{path}", target.base_url));
    let mut request_headers = BTreeMap::new();
    if let Some(authorization) = &request.authorization {
        builder = builder.header("authorization", authorization);
        let shown = match authorization.split_once(' ') {
            Some((scheme, token)) if token == target.token => format!("{scheme} [token]"),
            _ => authorization.clone(),
        };
        request_headers.insert("authorization".to_string(), shown);
    }
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
        request_headers.insert(name.to_ascii_lowercase(), value.clone());
    }
    let response = builder.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    Ok(Fetched {
        request: format!("{method} {{base}}{path}"),
        request_headers,
        status,
        headers,
        body,
    })
}

/// Sends `request` and captures the exchange, with the checks of [`send`]
/// except the schema check, for callers that report it separately.
pub async fn capture(target: &Target, request: &Request) -> anyhow::Result<Exchange> {
    let Fetched {
        request: sent,
        request_headers,
        status,
        headers: raw_headers,
        body: bytes,
    } = fetch(target, request).await?;

    anyhow::ensure!(
        raw_headers.get("transfer-encoding").is_none(),
        "the response is sent with Transfer-Encoding {:?}; expected a Content-Length",
        raw_headers.get("transfer-encoding")
    );
    let content_length = raw_headers
        .get("content-length")
        .ok_or_else(|| anyhow::anyhow!("the response has no Content-Length"))?;
    anyhow::ensure!(
        content_length.to_str()? == bytes.len().to_string(),
        "Content-Length {content_length:?} differs from the body's {} bytes",
        bytes.len()
    );
    anyhow::ensure!(
        raw_headers.get_all("request-id").iter().count() == 1,
        "expected exactly one request-id header, got {:?}",
        raw_headers.get_all("request-id").iter().collect::<Vec<_>>()
    );

    let mut headers = BTreeMap::new();
    for name in SNAPSHOT_HEADERS {
        if let Some(value) = raw_headers.get(name) {
            headers.insert(name.to_string(), value.to_str()?.to_string());
        }
    }
    let body: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "the body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })?;

    let request_id = headers.get("request-id").cloned().unwrap_or_default();
    let sent_client_id = request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("client-request-id"))
        .map(|(_, value)| value.clone());
    let expected_client_id = sent_client_id.unwrap_or_else(|| request_id.clone());
    anyhow::ensure!(
        headers.get("client-request-id") == Some(&expected_client_id),
        "client-request-id is {:?}; expected {expected_client_id:?}",
        headers.get("client-request-id")
    );
    if let Some(inner) = body.pointer("/error/innerError") {
        anyhow::ensure!(
            inner.get("request-id").and_then(|v| v.as_str()) == Some(request_id.as_str()),
            "innerError.request-id {:?} differs from the request-id header {request_id:?}",
            inner.get("request-id")
        );
        anyhow::ensure!(
            inner.get("client-request-id").and_then(|v| v.as_str())
                == Some(expected_client_id.as_str()),
            "innerError.client-request-id {:?} differs from {expected_client_id:?}",
            inner.get("client-request-id")
        );
    }

    Ok(Exchange {
        request: sent,
        request_headers,
        status,
        headers,
        body,
    })
}

/// Snapshot settings whose redactions replace the dynamic values of an
/// [`Exchange`] after asserting their format, so that a snapshot cannot
/// hide a malformed id, date or URL.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    // Snapshots must not depend on whether serde_json keeps insertion order,
    // which another crate in the build may switch on.
    settings.set_sort_maps(true);
    settings.add_dynamic_redaction(r#".headers["request-id"]"#, |value, _| redact_guid(&value));
    settings.add_dynamic_redaction(r#".headers["client-request-id"]"#, |value, _| {
        redact_guid_if_guid(&value)
    });
    settings.add_dynamic_redaction(r#".headers["content-length"]"#, |value, _| {
        let text = value.as_str().expect("content-length is a string");
        assert!(
            text.parse::<u32>().is_ok(),
            "content-length {text:?} is not a number"
        );
        "[length of body]"
    });
    settings.add_dynamic_redaction(r#".body.error.innerError["request-id"]"#, |value, _| {
        redact_guid(&value)
    });
    settings.add_dynamic_redaction(
        r#".body.error.innerError["client-request-id"]"#,
        |value, _| redact_guid_if_guid(&value),
    );
    settings.add_dynamic_redaction(".body.error.innerError.date", |value, _| {
        let text = value.as_str().expect("date is a string");
        let format = Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$").unwrap();
        assert!(
            format.is_match(text),
            "innerError.date {text:?} is not yyyy-MM-ddTHH:mm:ss"
        );
        "[date]"
    });
    settings.add_dynamic_redaction(".body.value", |value, _| redact_sas_url(&value));
    settings
}

const GUID_PATTERN: &str = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

fn redact_guid(value: &Content) -> &'static str {
    let text = value.as_str().expect("request id is a string");
    assert!(
        Regex::new(GUID_PATTERN).unwrap().is_match(text),
        "request id {text:?} is not a GUID"
    );
    "[request-id]"
}

/// Replaces a GUID (the request id standing in for a client-request-id the
/// caller did not send); keeps a value the caller sent.
fn redact_guid_if_guid(value: &Content) -> Content {
    let text = value.as_str().expect("client-request-id is a string");
    if Regex::new(GUID_PATTERN).unwrap().is_match(text) {
        Content::from("[request-id]")
    } else {
        value.clone()
    }
}

/// Replaces `si`'s time, `sig` and `se` of an upload URL after checking the
/// whole URL's form.
pub fn redact_sas_url(value: &Content) -> String {
    let text = value.as_str().expect("value is a string");
    let format = Regex::new(
        r"^(https?://[^?]+/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\?sv=2015-07-08&sr=c&si=SharedAccessPolicy_\d{14}&sig=[A-Za-z0-9%]{44,60}&se=\d{4}-\d{2}-\d{2}T\d{2}%3A\d{2}%3A\d{2}Z&sp=w$",
    )
    .unwrap();
    let captures = format
        .captures(text)
        .unwrap_or_else(|| panic!("upload URL {text:?} does not have the documented form"));
    format!(
        "{}?sv=2015-07-08&sr=c&si=SharedAccessPolicy_[yyyyMMddHHmmss]&sig=[sig]&se=[se]&sp=w",
        &captures[1]
    )
}
