//! Blob service calls that make an upload URL usable: the profile's
//! container, and the stored access policy that the URL's `si` names.
//!
//! Requests use the Blob REST API with SharedKey authorization. Each call
//! has a time-out, and no error or log line carries the account key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::Method;
use serde::Deserialize;
use url::Url;

use crate::sas::Signer;

/// The most stored access policies a container may have, as in Azure.
pub const MAX_POLICIES: usize = 5;

/// The Blob service version the requests ask for.
const API_VERSION: &str = "2020-10-02";

/// The time one Blob service request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The time one uploadUrl call may spend on storage in all: waiting for
/// other calls on the same container, then its own requests. It is below the
/// gate's time-out and the 15 s of progenitor's clients, so a caller gets
/// this module's 503, never a time-out.
pub const CALL_DEADLINE: Duration = Duration::from_secs(12);

/// The fields of a new stored access policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyLayout {
    /// A start time only, as Graph's URLs need: they carry `se` and `sp`
    /// themselves, and Azure rejects a field given in both places.
    Graph,
    /// A start time and permission `w`. Azurite 3.35.0 replaces the URL's
    /// permissions with the policy's and responds 500 when the policy has
    /// none, as a test in `conformance/tests/azurite.rs` shows. Real Azure
    /// rejects this layout.
    Emulator,
}

/// A stored access policy of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The identifier that a SAS names in `si`.
    pub id: String,
    /// The start time, as the service wrote it.
    pub start: Option<String>,
    /// The expiry time, as the service wrote it.
    pub expiry: Option<String>,
    /// The permissions, such as `w`.
    pub permission: Option<String>,
}

/// A failed Blob service call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// No connection, or the connection broke.
    #[error("{operation} failed: the blob service at {endpoint} is not reachable ({detail})")]
    Unreachable {
        /// The Blob REST operation.
        operation: &'static str,
        /// The blob endpoint.
        endpoint: String,
        /// The transport error.
        detail: String,
    },
    /// No response within [`REQUEST_TIMEOUT`], or the call's storage work
    /// did not finish within [`CALL_DEADLINE`].
    #[error("{operation} timed out after {seconds} s at {endpoint}")]
    TimedOut {
        /// The Blob REST operation.
        operation: &'static str,
        /// The blob endpoint.
        endpoint: String,
        /// The time-out.
        seconds: u64,
    },
    /// The service responded with an error status.
    #[error("{operation} failed with {status} {code} at {endpoint}{hint}")]
    Rejected {
        /// The Blob REST operation.
        operation: &'static str,
        /// The blob endpoint.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The `x-ms-error-code` header, or `-`.
        code: String,
        /// A hint for the fix, starting with "; ", or empty.
        hint: &'static str,
    },
    /// The response could not be read.
    #[error("{operation} returned an invalid response at {endpoint}: {detail}")]
    InvalidResponse {
        /// The Blob REST operation.
        operation: &'static str,
        /// The blob endpoint.
        endpoint: String,
        /// The problem.
        detail: String,
    },
}

/// A client of one storage account's Blob service, authorized with the
/// account key.
pub struct BlobAdmin {
    http: reqwest::Client,
    endpoint: String,
    account: String,
    signer: Signer,
    layout: PolicyLayout,
    /// One lock per container, so that concurrent calls for one profile do
    /// not overwrite each other's policy lists.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for BlobAdmin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BlobAdmin")
            .field("endpoint", &self.endpoint)
            .field("account", &self.account)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct SignedIdentifiers {
    #[serde(rename = "SignedIdentifier", default)]
    items: Vec<SignedIdentifier>,
}

#[derive(Deserialize)]
struct SignedIdentifier {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "AccessPolicy", default)]
    policy: AccessPolicy,
}

#[derive(Deserialize, Default)]
struct AccessPolicy {
    #[serde(rename = "Start")]
    start: Option<String>,
    #[serde(rename = "Expiry")]
    expiry: Option<String>,
    #[serde(rename = "Permission")]
    permission: Option<String>,
}

impl BlobAdmin {
    /// Creates a client of the account `account` at `endpoint` (no trailing
    /// slash), keyed with the decoded account key.
    pub fn new(endpoint: &str, account: &str, key: &[u8], layout: PolicyLayout) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .expect("a reqwest client with time-outs builds");
        BlobAdmin {
            http,
            endpoint: endpoint.to_string(),
            account: account.to_string(),
            signer: Signer::new(key),
            layout,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// Makes sure that `container` exists and has the stored access policy
    /// `policy_id`, starting at `start`. When the container already has
    /// [`MAX_POLICIES`] policies, the ones with the earliest start are
    /// removed first, which revokes every URL that names them.
    pub async fn ensure_upload_policy(
        &self,
        container: &str,
        policy_id: &str,
        start: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let work = self.ensure_upload_policy_unbounded(container, policy_id, start);
        tokio::time::timeout(CALL_DEADLINE, work)
            .await
            .unwrap_or_else(|_| {
                Err(StorageError::TimedOut {
                    operation: "Preparing the container",
                    endpoint: self.endpoint.clone(),
                    seconds: CALL_DEADLINE.as_secs(),
                })
            })
    }

    async fn ensure_upload_policy_unbounded(
        &self,
        container: &str,
        policy_id: &str,
        start: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let lock = {
            let mut locks = self
                .locks
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            Arc::clone(locks.entry(container.to_string()).or_default())
        };
        let _guard = lock.lock().await;
        self.create_container(container).await?;
        let mut policies = self.get_policies(container).await?;
        if policies.iter().any(|policy| policy.id == policy_id) {
            return Ok(());
        }
        policies.sort_by_key(|policy| (start_time(policy), policy.id.clone()));
        let excess = (policies.len() + 1).saturating_sub(MAX_POLICIES);
        policies.drain(..excess);
        policies.push(Policy {
            id: policy_id.to_string(),
            start: Some(start.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            expiry: None,
            permission: match self.layout {
                PolicyLayout::Graph => None,
                PolicyLayout::Emulator => Some("w".to_string()),
            },
        });
        self.set_policies(container, &policies).await
    }

    /// Creates `container`; returns `false` when it exists already.
    pub async fn create_container(&self, container: &str) -> Result<bool, StorageError> {
        let operation = "Create Container";
        let url = self.url(container, &[("restype", "container")]);
        let response = self.send(operation, Method::PUT, url, None).await?;
        match response.status().as_u16() {
            201 => Ok(true),
            409 if error_code(&response) == "ContainerAlreadyExists" => Ok(false),
            _ => Err(self.rejected(operation, &response)),
        }
    }

    /// Reads the stored access policies of `container`.
    pub async fn get_policies(&self, container: &str) -> Result<Vec<Policy>, StorageError> {
        let operation = "Get Container ACL";
        let url = self.url(container, &[("restype", "container"), ("comp", "acl")]);
        let response = self.send(operation, Method::GET, url, None).await?;
        if response.status().as_u16() != 200 {
            return Err(self.rejected(operation, &response));
        }
        let text = response
            .text()
            .await
            .map_err(|error| self.invalid(operation, error.to_string()))?;
        let text = text.trim_start_matches('\u{feff}');
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let parsed: SignedIdentifiers = quick_xml::de::from_str(text)
            .map_err(|error| self.invalid(operation, format!("the XML does not parse: {error}")))?;
        Ok(parsed
            .items
            .into_iter()
            .map(|item| Policy {
                id: item.id,
                start: item.policy.start,
                expiry: item.policy.expiry,
                permission: item.policy.permission,
            })
            .collect())
    }

    /// Replaces the stored access policies of `container` with `policies`;
    /// the container's public access stays private.
    pub async fn set_policies(
        &self,
        container: &str,
        policies: &[Policy],
    ) -> Result<(), StorageError> {
        let operation = "Set Container ACL";
        let url = self.url(container, &[("restype", "container"), ("comp", "acl")]);
        let body = signed_identifiers_xml(policies);
        let response = self
            .send(operation, Method::PUT, url, Some(body.into_bytes()))
            .await?;
        if response.status().as_u16() != 200 {
            return Err(self.rejected(operation, &response));
        }
        Ok(())
    }

    /// Reads blob `name` of `container`, to check what was uploaded.
    pub async fn get_blob(&self, container: &str, name: &str) -> Result<Vec<u8>, StorageError> {
        let operation = "Get Blob";
        let path = format!(
            "{container}/{}",
            percent_encoding::utf8_percent_encode(name, BLOB_NAME)
        );
        let url = self.url(&path, &[]);
        let response = self.send(operation, Method::GET, url, None).await?;
        if response.status().as_u16() != 200 {
            return Err(self.rejected(operation, &response));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.invalid(operation, error.to_string()))?;
        Ok(bytes.to_vec())
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = Url::parse(&format!("{}/{path}", self.endpoint))
            .expect("the endpoint was validated as a URL");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, StorageError> {
        let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let length = body.as_ref().map_or(0, Vec::len);
        let content_type = if body.is_some() {
            "application/xml"
        } else {
            ""
        };
        let string_to_sign = shared_key_string_to_sign(
            &method,
            length,
            content_type,
            &[("x-ms-date", &date), ("x-ms-version", API_VERSION)],
            &self.account,
            &url,
        );
        let authorization = format!(
            "SharedKey {}:{}",
            self.account,
            self.signer.sign(&string_to_sign)
        );
        let mut request = self
            .http
            .request(method, url)
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION)
            .header(http::header::AUTHORIZATION, authorization);
        if let Some(body) = body {
            request = request
                .header(http::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        request.send().await.map_err(|error| {
            if error.is_timeout() {
                StorageError::TimedOut {
                    operation,
                    endpoint: self.endpoint.clone(),
                    seconds: REQUEST_TIMEOUT.as_secs(),
                }
            } else {
                StorageError::Unreachable {
                    operation,
                    endpoint: self.endpoint.clone(),
                    detail: transport_detail(&error),
                }
            }
        })
    }

    fn rejected(&self, operation: &'static str, response: &reqwest::Response) -> StorageError {
        let status = response.status().as_u16();
        let hint = match status {
            403 => "; check --storage-account and --storage-key",
            404 => "; check --blob-endpoint",
            _ => "",
        };
        StorageError::Rejected {
            operation,
            endpoint: self.endpoint.clone(),
            status,
            code: error_code(response),
            hint,
        }
    }

    fn invalid(&self, operation: &'static str, detail: String) -> StorageError {
        StorageError::InvalidResponse {
            operation,
            endpoint: self.endpoint.clone(),
            detail,
        }
    }
}

/// Characters percent-encoded in a blob name inside a URL path.
const BLOB_NAME: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn start_time(policy: &Policy) -> Option<DateTime<Utc>> {
    let start = policy.start.as_deref()?;
    DateTime::parse_from_rfc3339(start)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

fn error_code(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-ms-error-code")
        .and_then(|value| value.to_str().ok())
        .filter(|code| code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or("-")
        .to_string()
}

/// Describes a transport error with its causes, which reqwest's own message
/// leaves out.
fn transport_detail(error: &reqwest::Error) -> String {
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(cause) = source {
        if !detail.is_empty() {
            detail.push_str(": ");
        }
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    if detail.is_empty() {
        detail = "connection failed".to_string();
    }
    detail
}

/// Builds the SharedKey string-to-sign of the Blob service (versions from
/// 2015-02-21): twelve standard header fields, the `x-ms-` headers, and the
/// canonicalized resource `/{account}{path}` with the sorted query.
pub fn shared_key_string_to_sign(
    method: &Method,
    content_length: usize,
    content_type: &str,
    ms_headers: &[(&str, &str)],
    account: &str,
    url: &Url,
) -> String {
    // An empty body is signed as an empty Content-Length, not `0`.
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let mut headers: Vec<(String, &str)> = ms_headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim()))
        .collect();
    headers.sort();
    let mut text = format!("{method}\n\n\n{length}\n\n{content_type}\n\n\n\n\n\n\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}:{value}\n"));
    }
    text.push_str(&format!("/{account}{}", url.path()));
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.into_owned()))
        .collect();
    query.sort();
    for (name, value) in query {
        text.push_str(&format!("\n{name}:{value}"));
    }
    text
}

/// Serializes policies as the body of Set Container ACL.
pub fn signed_identifiers_xml(policies: &[Policy]) -> String {
    use quick_xml::escape::escape;
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers>");
    for policy in policies {
        xml.push_str(&format!(
            "<SignedIdentifier><Id>{}</Id><AccessPolicy>",
            escape(&policy.id)
        ));
        let fields = [
            ("Start", &policy.start),
            ("Expiry", &policy.expiry),
            ("Permission", &policy.permission),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                xml.push_str(&format!("<{name}>{}</{name}>", escape(value.as_str())));
            }
        }
        xml.push_str("</AccessPolicy></SignedIdentifier>");
    }
    xml.push_str("</SignedIdentifiers>");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_layout() {
        let url =
            Url::parse("http://127.0.0.1:10000/devstoreaccount1/c1?restype=container&comp=acl")
                .unwrap();
        let text = shared_key_string_to_sign(
            &Method::PUT,
            12,
            "application/xml",
            &[
                ("x-ms-version", "2020-10-02"),
                ("x-ms-date", "Fri, 04 Dec 2026 18:00:00 GMT"),
            ],
            "devstoreaccount1",
            &url,
        );
        let expected = "PUT\n\n\n12\n\napplication/xml\n\n\n\n\n\n\n\
            x-ms-date:Fri, 04 Dec 2026 18:00:00 GMT\nx-ms-version:2020-10-02\n\
            /devstoreaccount1/devstoreaccount1/c1\ncomp:acl\nrestype:container";
        assert_eq!(text, expected);
    }

    #[test]
    fn empty_body_signs_empty_length() {
        let url = Url::parse("https://a.blob.core.windows.net/c").unwrap();
        let text = shared_key_string_to_sign(&Method::GET, 0, "", &[], "a", &url);
        assert_eq!(text, "GET\n\n\n\n\n\n\n\n\n\n\n\n/a/c");
    }

    #[test]
    fn policies_round_trip_through_xml() {
        let policies = vec![
            Policy {
                id: "SharedAccessPolicy_20261204180000".to_string(),
                start: Some("2026-12-04T18:00:00Z".to_string()),
                expiry: None,
                permission: Some("w".to_string()),
            },
            Policy {
                id: "a<b&c".to_string(),
                start: None,
                expiry: Some("2026-12-05T00:00:00Z".to_string()),
                permission: None,
            },
        ];
        let xml = signed_identifiers_xml(&policies);
        assert!(xml.contains("<Id>a&lt;b&amp;c</Id>"), "{xml}");
        let parsed: SignedIdentifiers = quick_xml::de::from_str(&xml).unwrap();
        let ids: Vec<&str> = parsed.items.iter().map(|item| item.id.as_str()).collect();
        assert_eq!(ids, ["SharedAccessPolicy_20261204180000", "a<b&c"]);
        assert_eq!(parsed.items[0].policy.permission.as_deref(), Some("w"));
        assert_eq!(parsed.items[1].policy.start, None);
    }

    #[test]
    fn empty_identifier_list_parses() {
        let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers />";
        let parsed: SignedIdentifiers = quick_xml::de::from_str(xml).unwrap();
        assert!(parsed.items.is_empty());
    }
}
