//! Access tokens: verifying a bearer JWT and deciding whether it may call
//! uploadUrl, following Graph's permissions table for the operation.
//!
//! The rules, checked in this order:
//!
//! 1. The token is a compact JWS whose header and payload are JSON objects,
//!    signed with an algorithm the configured key uses (never `none`), by a
//!    known key, with a valid signature. Any failure is 401.
//! 2. `exp` is in the future, `nbf` (when present) in the past, and `aud` is
//!    Graph (`https://graph.microsoft.com` or
//!    `00000003-0000-0000-c000-000000000000`). Any failure is 401.
//! 3. A personal Microsoft account (`tid` 9188040d-6c67-4c5b-b112-36a304b66dad)
//!    is denied with 403: the token is authentic, so asking the caller to
//!    sign in again (401) cannot help, but the operation does not support
//!    the account type.
//! 4. A delegated token (`scp` present) needs `EduAdministration.ReadWrite`
//!    among its space-separated scopes; otherwise 403.
//! 5. An application token (`roles`, no `scp`) is denied with 403, unless the
//!    server accepts application permission
//!    `EduAdministration.ReadWrite.All` and the token has that role.
//!
//! Times are compared without leeway, so a token is expired from its `exp`
//! second on.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Graph's audiences: its URL and its application id. The URL is also
/// accepted with one trailing slash.
pub const GRAPH_AUDIENCES: [&str; 2] = [
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
];

/// The tenant id of personal Microsoft accounts.
pub const PERSONAL_ACCOUNT_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The delegated permission the operation requires.
pub const DELEGATED_PERMISSION: &str = "EduAdministration.ReadWrite";

/// The application permission an older copy of the documentation lists.
pub const APPLICATION_PERMISSION: &str = "EduAdministration.ReadWrite.All";

/// The key id of the development signing key.
pub const DEVELOPMENT_KEY_ID: &str = "uploadurl-mock-development";

/// The reason a token failed authentication (401 `InvalidAuthenticationToken`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a compact JWS with JSON object header and payload.
    Malformed(&'static str),
    /// The header's `alg` is `none` or not the configured key's.
    UnsupportedAlgorithm(String),
    /// The header's `kid` names no configured key.
    UnknownKey(String),
    /// The header has no `kid`, but several keys could have signed the token.
    MissingKeyId,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is missing or not a number.
    MissingExpiry,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `aud` is not Graph.
    WrongAudience,
}

impl TokenError {
    /// Returns the message of the Graph error body.
    pub fn message(&self) -> String {
        match self {
            TokenError::Malformed(detail) => {
                format!("Access token validation failure. The token is not a well-formed JWT: {detail}.")
            }
            TokenError::UnsupportedAlgorithm(alg) => format!(
                "Access token validation failure. The signing algorithm '{}' is not supported.",
                crate::outcome::quote(alg)
            ),
            TokenError::UnknownKey(kid) => format!(
                "Access token validation failure. The signing key '{}' is not known.",
                crate::outcome::quote(kid)
            ),
            TokenError::MissingKeyId => {
                "Access token validation failure. The token names no signing key (kid).".to_string()
            }
            TokenError::BadSignature => {
                "Access token validation failure. Invalid signature.".to_string()
            }
            TokenError::MissingExpiry => {
                "Access token validation failure. The token has no exp claim.".to_string()
            }
            TokenError::Expired => "Access token has expired.".to_string(),
            TokenError::NotYetValid => {
                "Access token validation failure. The token is not valid yet (nbf).".to_string()
            }
            TokenError::WrongAudience => {
                "Access token validation failure. Invalid audience.".to_string()
            }
        }
    }
}

/// The reason an authentic token may not call the operation (403
/// `Authorization_RequestDenied`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The token is a personal Microsoft account's.
    PersonalAccount,
    /// A delegated token without the required scope.
    MissingScope,
    /// An application token, which the server does not accept.
    ApplicationToken,
    /// An application token without the required role.
    MissingRole,
    /// A token with neither `scp` nor `roles`.
    NoPermissions,
}

impl Denial {
    /// Returns the message of the Graph error body.
    pub fn message(self) -> &'static str {
        match self {
            Denial::PersonalAccount => {
                "Personal Microsoft accounts are not supported for this operation."
            }
            Denial::ApplicationToken => {
                "Insufficient privileges to complete the operation. Application permissions are \
                 not supported for this operation; use a delegated token with \
                 EduAdministration.ReadWrite."
            }
            Denial::MissingScope | Denial::MissingRole | Denial::NoPermissions => {
                "Insufficient privileges to complete the operation."
            }
        }
    }
}

/// The outcome of checking a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    /// 401.
    Unauthenticated(TokenError),
    /// 403.
    Forbidden(Denial),
}

/// A key that verifies token signatures.
#[derive(Clone)]
pub struct VerificationKey {
    /// The `kid` tokens must name, or `None` to accept any `kid`.
    pub key_id: Option<String>,
    /// The algorithm the key verifies.
    pub algorithm: Algorithm,
    /// The key.
    pub key: DecodingKey,
}

/// The server's rules for tokens: keys and accepted permission types.
#[derive(Clone)]
pub struct TokenPolicy {
    /// The keys that verify signatures, or `None` when signature verification
    /// is switched off (claims are still checked).
    pub keys: Option<Vec<VerificationKey>>,
    /// Whether application tokens with `EduAdministration.ReadWrite.All` are
    /// accepted.
    pub accept_application_permission: bool,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TokenPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPolicy")
            .field("keys", &self.keys.as_ref().map(Vec::len))
            .field(
                "accept_application_permission",
                &self.accept_application_permission,
            )
            .finish()
    }
}

/// The claims the policy reads; others are ignored.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    scp: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn is_graph(&self) -> bool {
        let is_graph = |aud: &str| {
            GRAPH_AUDIENCES.contains(&aud) || aud.strip_suffix('/') == Some(GRAPH_AUDIENCES[0])
        };
        match self {
            Audience::One(aud) => is_graph(aud),
            Audience::Many(auds) => auds.iter().any(|aud| is_graph(aud)),
        }
    }
}

impl TokenPolicy {
    /// Checks `token` at `now` (seconds since the Unix epoch).
    pub fn check(&self, token: &str, now: i64) -> Result<(), TokenRejection> {
        let claims = self
            .verify(token)
            .map_err(TokenRejection::Unauthenticated)?;
        check_lifetime(&claims, now).map_err(TokenRejection::Unauthenticated)?;
        if !claims.aud.as_ref().is_some_and(Audience::is_graph) {
            return Err(TokenRejection::Unauthenticated(TokenError::WrongAudience));
        }
        self.authorize(&claims).map_err(TokenRejection::Forbidden)
    }

    /// Checks the token's form and signature and returns its claims.
    fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("expected three dot-separated parts"));
        };
        let header = decode_json_object(header).map_err(|problem| {
            TokenError::Malformed(match problem {
                PartProblem::NotBase64 => "the header is not base64url",
                PartProblem::NotJson => "the header is not valid JSON",
                PartProblem::NotObject => "the header is not a JSON object",
            })
        })?;
        let payload = decode_json_object(payload).map_err(|problem| {
            TokenError::Malformed(match problem {
                PartProblem::NotBase64 => "the payload is not base64url",
                PartProblem::NotJson => {
                    "the payload is not valid JSON (a number out of range or nesting deeper \
                     than 128 levels counts as invalid)"
                }
                PartProblem::NotObject => "the payload is not a JSON object",
            })
        })?;

        let alg = header
            .get("alg")
            .and_then(|alg| alg.as_str())
            .ok_or(TokenError::Malformed("the header has no alg"))?;
        if alg.eq_ignore_ascii_case("none") {
            return Err(TokenError::UnsupportedAlgorithm(alg.to_string()));
        }
        let kid = header.get("kid").and_then(|kid| kid.as_str());

        if let Some(keys) = &self.keys {
            let algorithm: Algorithm = alg
                .parse()
                .map_err(|_| TokenError::UnsupportedAlgorithm(alg.to_string()))?;
            let candidates: Vec<&VerificationKey> = keys
                .iter()
                .filter(|key| key.algorithm == algorithm)
                .collect();
            if candidates.is_empty() {
                return Err(TokenError::UnsupportedAlgorithm(alg.to_string()));
            }
            let key = match kid {
                Some(kid) => candidates
                    .iter()
                    .find(|key| key.key_id.as_deref().is_none_or(|id| id == kid))
                    .ok_or_else(|| TokenError::UnknownKey(kid.to_string()))?,
                None => candidates
                    .iter()
                    .find(|key| key.key_id.is_none() || candidates.len() == 1)
                    .ok_or(TokenError::MissingKeyId)?,
            };
            let mut validation = Validation::new(algorithm);
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.validate_aud = false;
            validation.required_spec_claims.clear();
            jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation).map_err(
                |error| match error.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                    _ => TokenError::Malformed("the signature or a claim cannot be decoded"),
                },
            )?;
        }

        serde_json::from_value(serde_json::Value::Object(payload))
            .map_err(|_| TokenError::Malformed("a claim has the wrong type"))
    }

    /// Applies the permission rules to authentic claims.
    fn authorize(&self, claims: &Claims) -> Result<(), Denial> {
        if claims
            .tid
            .as_deref()
            .is_some_and(|tid| tid.eq_ignore_ascii_case(PERSONAL_ACCOUNT_TENANT))
        {
            return Err(Denial::PersonalAccount);
        }
        if let Some(scopes) = &claims.scp {
            // OAuth 2.0 separates scopes with single spaces (RFC 6749 section 3.3).
            return if scopes.split(' ').any(|scope| scope == DELEGATED_PERMISSION) {
                Ok(())
            } else {
                Err(Denial::MissingScope)
            };
        }
        match &claims.roles {
            Some(_) if !self.accept_application_permission => Err(Denial::ApplicationToken),
            Some(roles) if roles.iter().any(|role| role == APPLICATION_PERMISSION) => Ok(()),
            Some(_) => Err(Denial::MissingRole),
            None => Err(Denial::NoPermissions),
        }
    }
}

fn check_lifetime(claims: &Claims, now: i64) -> Result<(), TokenError> {
    let now = now as f64;
    let exp = claims.exp.ok_or(TokenError::MissingExpiry)?;
    if now >= exp {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now < nbf) {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

/// The reason a header or payload part could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartProblem {
    NotBase64,
    NotJson,
    NotObject,
}

fn decode_json_object(
    part: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, PartProblem> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| PartProblem::NotBase64)?;
    match serde_json::from_slice(&bytes).map_err(|_| PartProblem::NotJson)? {
        serde_json::Value::Object(object) => Ok(object),
        _ => Err(PartProblem::NotObject),
    }
}

/// The claims of a token to mint.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Delegated scopes (`scp`); ignored for application tokens.
    pub scopes: Vec<String>,
    /// Whether the token is an application token (`roles`, no `scp`).
    pub application: bool,
    /// Application roles.
    pub roles: Vec<String>,
    /// Whether the token is a personal Microsoft account's.
    pub personal: bool,
    /// Seconds from now to `exp`; negative for an expired token.
    pub expires_in: i64,
    /// Seconds from now to `nbf`.
    pub not_before_in: i64,
    /// `aud`.
    pub audience: String,
}

impl Default for TokenRequest {
    fn default() -> Self {
        TokenRequest {
            scopes: vec![DELEGATED_PERMISSION.to_string()],
            application: false,
            roles: vec![APPLICATION_PERMISSION.to_string()],
            personal: false,
            expires_in: 3600,
            not_before_in: 0,
            audience: GRAPH_AUDIENCES[0].to_string(),
        }
    }
}

/// The tenant of minted work or school tokens.
const DEVELOPMENT_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

#[derive(Serialize)]
struct MintedClaims<'a> {
    aud: &'a str,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    tid: &'a str,
    oid: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a [String]>,
}

/// Mints an HS256 token signed with `secret`, with the development key id, at
/// `now` (seconds since the Unix epoch).
pub fn mint(
    secret: &[u8],
    request: &TokenRequest,
    now: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let tid = if request.personal {
        PERSONAL_ACCOUNT_TENANT
    } else {
        DEVELOPMENT_TENANT
    };
    let claims = MintedClaims {
        aud: &request.audience,
        iss: format!("https://sts.windows.net/{tid}/"),
        iat: now,
        nbf: now.saturating_add(request.not_before_in),
        exp: now.saturating_add(request.expires_in),
        tid,
        oid: "4f1c2a3b-0d5e-4e6f-8a7b-9c0d1e2f3a4b",
        scp: (!request.application).then(|| request.scopes.join(" ")),
        roles: request.application.then_some(request.roles.as_slice()),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(DEVELOPMENT_KEY_ID.to_string());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)?)
}

/// Builds the verification key of the development HS256 secret.
pub fn development_key(secret: &[u8]) -> Result<VerificationKey, jsonwebtoken::errors::Error> {
    Ok(VerificationKey {
        key_id: Some(DEVELOPMENT_KEY_ID.to_string()),
        algorithm: Algorithm::HS256,
        key: DecodingKey::from_secret(secret)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_800_000_000;

    fn policy(accept_application_permission: bool) -> TokenPolicy {
        TokenPolicy {
            keys: Some(vec![development_key(SECRET).unwrap()]),
            accept_application_permission,
        }
    }

    fn token(request: TokenRequest) -> String {
        mint(SECRET, &request, NOW).unwrap()
    }

    fn encode_part(json: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    fn unauthenticated(error: TokenError) -> Result<(), TokenRejection> {
        Err(TokenRejection::Unauthenticated(error))
    }

    fn forbidden(denial: Denial) -> Result<(), TokenRejection> {
        Err(TokenRejection::Forbidden(denial))
    }

    #[test]
    fn permission_rules() {
        let application = TokenRequest {
            application: true,
            ..Default::default()
        };
        let cases = [
            (
                "delegated with scope",
                TokenRequest::default(),
                false,
                Ok(()),
            ),
            (
                "delegated among other scopes",
                TokenRequest {
                    scopes: vec![
                        "User.Read".into(),
                        DELEGATED_PERMISSION.into(),
                        "openid".into(),
                    ],
                    ..Default::default()
                },
                false,
                Ok(()),
            ),
            (
                "delegated without scope",
                TokenRequest {
                    scopes: vec!["User.Read".into()],
                    ..Default::default()
                },
                false,
                forbidden(Denial::MissingScope),
            ),
            (
                "scope prefix is not the scope",
                TokenRequest {
                    scopes: vec!["EduAdministration.Read".into()],
                    ..Default::default()
                },
                false,
                forbidden(Denial::MissingScope),
            ),
            (
                "application refused",
                application.clone(),
                false,
                forbidden(Denial::ApplicationToken),
            ),
            ("application accepted", application.clone(), true, Ok(())),
            (
                "application without role",
                TokenRequest {
                    roles: vec!["User.Read.All".into()],
                    ..application.clone()
                },
                true,
                forbidden(Denial::MissingRole),
            ),
            (
                "personal account",
                TokenRequest {
                    personal: true,
                    ..Default::default()
                },
                false,
                forbidden(Denial::PersonalAccount),
            ),
            (
                "expired",
                TokenRequest {
                    expires_in: -1,
                    ..Default::default()
                },
                false,
                unauthenticated(TokenError::Expired),
            ),
            (
                "expires this second",
                TokenRequest {
                    expires_in: 0,
                    ..Default::default()
                },
                false,
                unauthenticated(TokenError::Expired),
            ),
            (
                "not yet valid",
                TokenRequest {
                    not_before_in: 60,
                    ..Default::default()
                },
                false,
                unauthenticated(TokenError::NotYetValid),
            ),
            (
                "wrong audience",
                TokenRequest {
                    audience: "api://other".into(),
                    ..Default::default()
                },
                false,
                unauthenticated(TokenError::WrongAudience),
            ),
            (
                "graph URL audience with a trailing slash",
                TokenRequest {
                    audience: "https://graph.microsoft.com/".into(),
                    ..Default::default()
                },
                false,
                Ok(()),
            ),
            (
                "two trailing slashes",
                TokenRequest {
                    audience: "https://graph.microsoft.com//".into(),
                    ..Default::default()
                },
                false,
                unauthenticated(TokenError::WrongAudience),
            ),
            (
                "scope after a tab",
                TokenRequest {
                    scopes: vec!["User.Read\tEduAdministration.ReadWrite".into()],
                    ..Default::default()
                },
                false,
                forbidden(Denial::MissingScope),
            ),
            (
                "overflowing lifetime",
                TokenRequest {
                    expires_in: i64::MAX,
                    ..Default::default()
                },
                false,
                Ok(()),
            ),
            (
                "overflowing not-before",
                TokenRequest {
                    not_before_in: i64::MAX,
                    ..Default::default()
                },
                false,
                unauthenticated(TokenError::NotYetValid),
            ),
            (
                "graph application id audience",
                TokenRequest {
                    audience: GRAPH_AUDIENCES[1].into(),
                    ..Default::default()
                },
                false,
                Ok(()),
            ),
        ];
        for (name, request, accept_application_permission, expected) in cases {
            let result = policy(accept_application_permission).check(&token(request), NOW);
            assert_eq!(result, expected, "{name}");
        }
    }

    #[test]
    fn forged_and_malformed_tokens() {
        let valid = token(TokenRequest::default());
        let (header, rest) = valid.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        let other_key = mint(
            b"another secret of enough length!!",
            &TokenRequest::default(),
            NOW,
        )
        .unwrap();
        let none_header = encode_part(r#"{"alg":"none","typ":"JWT"}"#);
        let rs_header = encode_part(r#"{"alg":"RS256","typ":"JWT"}"#);
        let unknown_kid = encode_part(r#"{"alg":"HS256","kid":"someone-else"}"#);
        let cases = [
            (
                "signed with another key",
                other_key,
                unauthenticated(TokenError::BadSignature),
            ),
            (
                "alg none",
                format!("{none_header}.{payload}."),
                unauthenticated(TokenError::UnsupportedAlgorithm("none".into())),
            ),
            (
                "alg of another key type",
                format!("{rs_header}.{payload}.{signature}"),
                unauthenticated(TokenError::UnsupportedAlgorithm("RS256".into())),
            ),
            (
                "unknown kid",
                format!("{unknown_kid}.{payload}.{signature}"),
                unauthenticated(TokenError::UnknownKey("someone-else".into())),
            ),
            (
                "two parts",
                format!("{header}.{payload}"),
                unauthenticated(TokenError::Malformed("expected three dot-separated parts")),
            ),
            (
                "four parts",
                format!("{valid}.x"),
                unauthenticated(TokenError::Malformed("expected three dot-separated parts")),
            ),
            (
                "payload not an object",
                format!("{header}.{}.{signature}", encode_part("[1,2]")),
                unauthenticated(TokenError::Malformed("the payload is not a JSON object")),
            ),
            (
                "payload not JSON",
                format!("{header}.{}.{signature}", encode_part("hello")),
                unauthenticated(TokenError::Malformed(
                    "the payload is not valid JSON (a number out of range or nesting deeper \
                     than 128 levels counts as invalid)",
                )),
            ),
            (
                "payload with a number out of range",
                format!("{header}.{}.{signature}", encode_part(r#"{"exp": 1e400}"#)),
                unauthenticated(TokenError::Malformed(
                    "the payload is not valid JSON (a number out of range or nesting deeper \
                     than 128 levels counts as invalid)",
                )),
            ),
            (
                "payload not base64",
                format!("{header}.!!.{signature}"),
                unauthenticated(TokenError::Malformed("the payload is not base64url")),
            ),
            (
                "header not base64",
                format!("!!.{payload}.{signature}"),
                unauthenticated(TokenError::Malformed("the header is not base64url")),
            ),
            (
                "payload altered",
                format!(
                    "{header}.{}.{signature}",
                    encode_part(
                        r#"{"aud":"https://graph.microsoft.com","exp":9999999999,"scp":"EduAdministration.ReadWrite"}"#
                    )
                ),
                unauthenticated(TokenError::BadSignature),
            ),
        ];
        for (name, token, expected) in cases {
            assert_eq!(policy(false).check(&token, NOW), expected, "{name}");
        }
    }

    #[test]
    fn skipped_signature_still_checks_claims() {
        let policy = TokenPolicy {
            keys: None,
            accept_application_permission: false,
        };
        let foreign = mint(
            b"a key the server does not have!!",
            &TokenRequest::default(),
            NOW,
        )
        .unwrap();
        assert_eq!(policy.check(&foreign, NOW), Ok(()));
        let expired = mint(
            b"a key the server does not have!!",
            &TokenRequest {
                expires_in: -5,
                ..Default::default()
            },
            NOW,
        )
        .unwrap();
        assert_eq!(
            policy.check(&expired, NOW),
            unauthenticated(TokenError::Expired)
        );
        let none = format!(
            "{}.{}.",
            encode_part(r#"{"alg":"none"}"#),
            foreign.split('.').nth(1).unwrap()
        );
        assert_eq!(
            policy.check(&none, NOW),
            unauthenticated(TokenError::UnsupportedAlgorithm("none".into()))
        );
    }
}
