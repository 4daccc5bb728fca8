//! Service shared access signatures (SAS) for a blob container, in the form
//! Graph returns from uploadUrl.
//!
//! The URL is `{endpoint}/{container}?sv=2015-07-08&sr=c&si=SharedAccessPolicy_{yyyyMMddHHmmss}&sig={sig}&se={expiry}&sp=w`,
//! with the query parameters in that order. `sig` is the base64
//! HMAC-SHA256, keyed with the decoded account key, of the 13-field
//! string-to-sign of service SAS version 2015-07-08:
//! `sp, st, se, canonicalizedresource, si, sip, spr, sv, rscc, rscd, rsce,
//! rscl, rsct`, joined by `\n`, where the canonicalized resource of a
//! container is `/blob/{account}/{container}`.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;

/// The signed version (`sv`) of every SAS the server issues.
pub const SIGNED_VERSION: &str = "2015-07-08";

/// The signed permissions (`sp`): write only.
pub const SIGNED_PERMISSIONS: &str = "w";

/// The signed resource (`sr`): a container.
pub const SIGNED_RESOURCE: &str = "c";

/// How long a SAS is valid after it is issued.
pub const VALIDITY: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Characters percent-encoded in a query value: everything but RFC 3986's
/// unreserved characters, so `+`, `/`, `=` and `:` are always encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The fields of a service SAS string-to-sign that this server fills; the
/// others are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringToSign<'a> {
    /// `sp`.
    pub permissions: &'a str,
    /// `se`, as written in the URL (`2017-07-04T08:43:01Z`).
    pub expiry: &'a str,
    /// `/blob/{account}/{container}`.
    pub canonicalized_resource: &'a str,
    /// `si`, the stored access policy's signed identifier.
    pub identifier: &'a str,
}

impl StringToSign<'_> {
    /// Renders the 13 fields of version 2015-07-08, joined by `\n`.
    pub fn render(&self) -> String {
        [
            self.permissions,
            "", // st
            self.expiry,
            self.canonicalized_resource,
            self.identifier,
            "", // sip
            "", // spr
            SIGNED_VERSION,
            "", // rscc
            "", // rscd
            "", // rsce
            "", // rscl
            "", // rsct
        ]
        .join("\n")
    }
}

/// Signs service SAS tokens with one storage account key.
#[derive(Clone)]
pub struct Signer {
    /// HMAC-SHA256 already keyed with the decoded account key; cloned for each
    /// signature so that the key schedule runs once.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { key: <redacted> }")
    }
}

impl Signer {
    /// Creates a signer from the decoded (binary) account key.
    pub fn new(key: &[u8]) -> Self {
        let keyed = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
        Signer { keyed }
    }

    /// Returns the base64 signature of a string-to-sign.
    pub fn sign(&self, string_to_sign: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(string_to_sign.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// Returns the stored access policy that a URL issued at `issued_at` names:
/// `SharedAccessPolicy_{yyyyMMddHHmmss}`.
pub fn policy_id(issued_at: DateTime<Utc>) -> String {
    format!("SharedAccessPolicy_{}", issued_at.format("%Y%m%d%H%M%S"))
}

/// A blob container for which the server issues upload URLs.
#[derive(Debug, Clone)]
pub struct Container {
    /// `{endpoint}/{container}?`, the start of every URL for this container.
    url_prefix: String,
    /// `/blob/{account}/{container}`.
    canonicalized_resource: String,
    /// The container's name.
    name: String,
}

impl Container {
    /// Describes container `name` of storage account `account`, reached at
    /// `endpoint` (no trailing slash).
    pub fn new(endpoint: &str, account: &str, name: &str) -> Self {
        Container {
            url_prefix: format!("{endpoint}/{name}?"),
            canonicalized_resource: format!("/blob/{account}/{name}"),
            name: name.to_string(),
        }
    }

    /// Returns the container's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Issues a write-only SAS URL at `issued_at`, valid for one hour, that
    /// names the stored access policy [`policy_id`] of `issued_at`.
    pub fn upload_url(&self, signer: &Signer, issued_at: DateTime<Utc>) -> String {
        let identifier = policy_id(issued_at);
        let expiry = (issued_at + VALIDITY)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let signature = signer.sign(
            &StringToSign {
                permissions: SIGNED_PERMISSIONS,
                expiry: &expiry,
                canonicalized_resource: &self.canonicalized_resource,
                identifier: &identifier,
            }
            .render(),
        );
        format!(
            "{}sv={SIGNED_VERSION}&sr={SIGNED_RESOURCE}&si={}&sig={}&se={}&sp={SIGNED_PERMISSIONS}",
            self.url_prefix,
            utf8_percent_encode(&identifier, QUERY_VALUE),
            utf8_percent_encode(&signature, QUERY_VALUE),
            utf8_percent_encode(&expiry, QUERY_VALUE),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Azurite's well-known development account key.
    const AZURITE_KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    fn azurite_signer() -> Signer {
        let key = base64::engine::general_purpose::STANDARD
            .decode(AZURITE_KEY)
            .unwrap();
        Signer::new(&key)
    }

    /// The vector was computed independently with Python's `hmac` module,
    /// and Azurite 3.35.0 accepted signatures computed the same way.
    #[test]
    fn signature_matches_independent_vector() {
        let string_to_sign = StringToSign {
            permissions: "w",
            expiry: "2017-07-04T08:43:01Z",
            canonicalized_resource: "/blob/devstoreaccount1/86904b1e-c7d0-4ead-b13a-98f11fc400ee",
            identifier: "SharedAccessPolicy_20170704044441",
        }
        .render();
        assert_eq!(string_to_sign.split('\n').count(), 13);
        assert_eq!(
            azurite_signer().sign(&string_to_sign),
            "FSean7oTn6TNsZXiOfKE5AhijfW2asxIyZSm5CDr8iQ="
        );
    }

    #[test]
    fn url_has_documented_form() {
        let container = Container::new(
            "https://sdsstorage.blob.core.windows.net",
            "sdsstorage",
            "86904b1e-c7d0-4ead-b13a-98f11fc400ee",
        );
        let issued_at = DateTime::parse_from_rfc3339("2017-07-04T07:43:01Z")
            .unwrap()
            .to_utc();
        let url = container.upload_url(&azurite_signer(), issued_at);
        let (prefix, query) = url.split_once('?').unwrap();
        assert_eq!(
            prefix,
            "https://sdsstorage.blob.core.windows.net/86904b1e-c7d0-4ead-b13a-98f11fc400ee"
        );
        let names: Vec<&str> = query
            .split('&')
            .map(|pair| pair.split('=').next().unwrap())
            .collect();
        assert_eq!(names, ["sv", "sr", "si", "sig", "se", "sp"]);
        assert!(query.starts_with("sv=2015-07-08&sr=c&si=SharedAccessPolicy_20170704074301&sig="));
        assert!(query.ends_with("&se=2017-07-04T08%3A43%3A01Z&sp=w"));
    }

    #[test]
    fn signature_is_percent_encoded() {
        // Signatures are base64, so most of them contain `+`, `/` or `=`; none
        // of those may appear raw in the query.
        let container = Container::new(
            "http://127.0.0.1:10000/devstoreaccount1",
            "devstoreaccount1",
            "c",
        );
        let start = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut saw_plus = false;
        for second in 0..200 {
            let url = container.upload_url(
                &azurite_signer(),
                start + chrono::TimeDelta::seconds(second),
            );
            let sig = url
                .split("&sig=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap();
            assert!(!sig.contains(['+', '/', '=']), "unencoded signature {sig}");
            saw_plus |= sig.contains("%2B");
        }
        assert!(
            saw_plus,
            "no signature in 200 contained `+`; the test covers nothing"
        );
    }
}
