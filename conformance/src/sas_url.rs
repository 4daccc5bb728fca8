//! Parsing an upload SAS URL into the parts that conformance checks look at.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The parts of a container SAS URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SasUrl {
    /// `https` or `http`.
    pub scheme: String,
    /// The host.
    pub host: String,
    /// The path without its leading `/`: the container, or with path-style
    /// endpoints (Azurite) `account/container`.
    pub path: String,
    /// The query parameters in order, with their values as sent
    /// (percent-encoded).
    pub query: Vec<(String, String)>,
}

impl SasUrl {
    /// Splits a URL without decoding its query, so that the exact bytes of
    /// each value can be checked.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e}): {text}"))?;
        let query = url.query().ok_or_else(|| format!("no query: {text}"))?;
        let query = query
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (name.to_string(), value.to_string())
            })
            .collect();
        Ok(SasUrl {
            scheme: url.scheme().to_string(),
            host: url.host_str().unwrap_or_default().to_string(),
            path: url.path().trim_start_matches('/').to_string(),
            query,
        })
    }

    /// A query parameter's raw value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The names of the query parameters in order.
    pub fn param_names(&self) -> Vec<&str> {
        self.query.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// The time in `si=SharedAccessPolicy_{yyyyMMddHHmmss}`.
    pub fn policy_time(&self) -> Option<DateTime<Utc>> {
        let stamp = self.param("si")?.strip_prefix("SharedAccessPolicy_")?;
        if stamp.len() != 14 {
            return None;
        }
        NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S")
            .ok()
            .map(|t| t.and_utc())
    }

    /// The expiry `se`, percent-decoded: whole seconds in UTC with `Z`.
    pub fn expiry(&self) -> Option<DateTime<Utc>> {
        let text = self.param("se")?.replace("%3A", ":");
        NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%SZ")
            .ok()
            .map(|t| t.and_utc())
    }

    /// Whether `sig` is a percent-encoded base64 HMAC-SHA256 (32 bytes): 44
    /// base64 characters ending in `=`, with `+`, `/` and `=` encoded.
    pub fn signature_is_well_formed(&self) -> bool {
        let Some(raw) = self.param("sig") else {
            return false;
        };
        if raw.contains(['+', '/', '=']) {
            return false;
        }
        let decoded = raw
            .replace("%2B", "+")
            .replace("%2F", "/")
            .replace("%3D", "=");
        decoded.len() == 44
            && decoded.ends_with('=')
            && !decoded[..43].contains('=')
            && decoded[..43]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    }
}

/// Whether `text` is a GUID in lowercase hyphenated form.
pub fn is_lowercase_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, len)| {
            group.len() == len
                && group
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}
