//! Holding a success response against the documented example.
//!
//! Both the example and the response are described by the same function as
//! a list of `field: value` lines, where each dynamic value (signature,
//! times, container) is replaced by the name of its format only when it has
//! that format. Equal descriptions mean the response matches the example;
//! otherwise the report is a unified diff of the two (similar).

use chrono::{DateTime, TimeDelta, Utc};
use regex::Regex;

use crate::exchange::Exchange;
use crate::fixture::DocumentedExample;
use crate::sas_url::{is_lowercase_guid, SasUrl};

/// A described response: ordered `(field, value)` pairs.
pub type Description = Vec<(String, String)>;

/// How long a SAS URL is valid after it is issued.
pub const VALIDITY: TimeDelta = TimeDelta::hours(1);

/// Describes a response for comparison.
pub fn describe(status: u16, content_type: Option<&str>, body: &serde_json::Value) -> Description {
    let mut fields = vec![
        ("status".to_string(), status.to_string()),
        (
            "content-type".to_string(),
            media_type(content_type.unwrap_or("<missing>")),
        ),
    ];
    let keys = match body.as_object() {
        Some(object) => {
            let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
            keys.sort_unstable();
            keys.join(", ")
        }
        None => format!("<not an object: {body}>"),
    };
    fields.push(("body keys".to_string(), keys));
    let text = |name: &str| body.get(name).and_then(|v| v.as_str()).map(str::to_string);
    fields.push((
        "@odata.context".to_string(),
        text("@odata.context").unwrap_or_else(|| "<missing>".to_string()),
    ));
    match text("value").map(|value| SasUrl::parse(&value)) {
        Some(Ok(url)) => describe_url(&url, &mut fields),
        Some(Err(error)) => fields.push(("value".to_string(), format!("<{error}>"))),
        None => fields.push(("value".to_string(), "<missing>".to_string())),
    }
    fields
}

fn describe_url(url: &SasUrl, fields: &mut Description) {
    let account_host = Regex::new(r"^[a-z0-9]{3,24}\.blob\.core\.windows\.net$").unwrap();
    let mut push = |name: &str, value: String| fields.push((format!("value {name}"), value));
    push("scheme", url.scheme.clone());
    push(
        "host",
        if account_host.is_match(&url.host) {
            "<account>.blob.core.windows.net".to_string()
        } else {
            url.host.clone()
        },
    );
    push(
        "container",
        if is_lowercase_guid(&url.path) {
            "<lowercase GUID>".to_string()
        } else {
            url.path.clone()
        },
    );
    push("parameters", url.param_names().join(", "));
    for name in ["sv", "sr", "sp"] {
        push(name, url.param(name).unwrap_or("<missing>").to_string());
    }
    push(
        "si",
        match url.policy_time() {
            Some(_) => "SharedAccessPolicy_<yyyyMMddHHmmss>".to_string(),
            None => url.param("si").unwrap_or("<missing>").to_string(),
        },
    );
    push(
        "sig",
        if url.signature_is_well_formed() {
            "<base64 HMAC-SHA256, percent-encoded>".to_string()
        } else {
            url.param("sig").unwrap_or("<missing>").to_string()
        },
    );
    push(
        "se",
        match url.expiry() {
            Some(_) if url.param("se").is_some_and(|se| se.contains("%3A")) => {
                "<UTC time, whole seconds, Z, percent-encoded>".to_string()
            }
            _ => url.param("se").unwrap_or("<missing>").to_string(),
        },
    );
}

/// Returns the media type of a Content-Type value, without parameters, in
/// lowercase.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Describes the documented example with its exceptions applied. Fails when
/// an exception no longer matches what the fixture documents, so that a
/// corrected documentation page cannot leave a stale exception behind.
pub fn describe_example(example: &DocumentedExample) -> anyhow::Result<Description> {
    let mut status = example.status()?.to_string();
    if let Some(exception) = example.exception("status") {
        anyhow::ensure!(
            exception.documented == status,
            "exception {} expects documented status {}, but the fixture has {status}",
            exception.name,
            exception.documented
        );
        status = exception.expected.clone().unwrap_or(status);
    }
    if let Some(exception) = example.exception("content-length") {
        let documented = example.header("content-length").unwrap_or("<missing>");
        anyhow::ensure!(
            exception.documented == documented,
            "exception {} expects documented Content-Length {}, but the fixture has {documented}",
            exception.name,
            exception.documented
        );
    }
    Ok(describe(
        status.parse()?,
        example.header("content-type"),
        &example.response.body,
    ))
}

/// Compares a response with the documented example. On a mismatch the error
/// is a unified diff from the example to the response.
pub fn compare_with_example(
    example: &DocumentedExample,
    exchange: &Exchange,
) -> anyhow::Result<()> {
    let expected = describe_example(example)?;
    let actual = describe(
        exchange.status,
        exchange.headers.get("content-type").map(String::as_str),
        &exchange.body,
    );
    if expected == actual {
        return Ok(());
    }
    let render = |description: &Description| {
        description
            .iter()
            .map(|(field, value)| format!("{field}: {value}\n"))
            .collect::<String>()
    };
    let (expected, actual) = (render(&expected), render(&actual));
    let diff = similar::TextDiff::from_lines(&expected, &actual)
        .unified_diff()
        .header("documented example", "response")
        .to_string();
    anyhow::bail!("the response does not match the documented example:\n{diff}")
}

/// Checks that the URL names a policy issued within `issued` (inclusive,
/// whole seconds) and expires exactly one hour after it.
pub fn check_validity(
    exchange: &Exchange,
    issued: (DateTime<Utc>, DateTime<Utc>),
) -> anyhow::Result<()> {
    let value = exchange
        .body
        .get("value")
        .and_then(|v| v.as_str())
        .ok_or_else(|| anyhow::anyhow!("the body has no string value"))?;
    let url = SasUrl::parse(value).map_err(anyhow::Error::msg)?;
    let policy_time = url.policy_time().ok_or_else(|| {
        anyhow::anyhow!("si has no SharedAccessPolicy_yyyyMMddHHmmss time: {value}")
    })?;
    let expiry = url
        .expiry()
        .ok_or_else(|| anyhow::anyhow!("se is not a UTC time in whole seconds: {value}"))?;
    let (earliest, latest) = issued;
    anyhow::ensure!(
        earliest <= policy_time && policy_time <= latest,
        "si time {policy_time} is outside the request's time {earliest}..={latest}"
    );
    anyhow::ensure!(
        expiry - policy_time == VALIDITY,
        "se {expiry} is not one hour after the time of issue {policy_time}"
    );
    Ok(())
}
