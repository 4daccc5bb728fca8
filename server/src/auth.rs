//! The `Authorization` header: extracting the bearer token.
//!
//! The scheme name is matched case-insensitively (RFC 9110 section 11.1), so
//! `bearer` is accepted as Graph's clients may send it. The token must be a
//! `token68` (RFC 9110 section 11.2), the syntax of a compact JWT.

use http::HeaderMap;

/// The reason a request's `Authorization` header was rejected (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header, or `Bearer` with no token.
    Missing,
    /// More than one `Authorization` header.
    Repeated,
    /// A scheme other than `Bearer`, or no scheme.
    NotBearer,
    /// The token has characters a `token68` cannot have.
    MalformedToken,
}

impl AuthError {
    /// Returns the message of the Graph error body.
    pub fn message(self) -> &'static str {
        match self {
            AuthError::Missing => "Access token is empty.",
            AuthError::Repeated => {
                "Access token validation failure. The request has more than one Authorization header."
            }
            AuthError::NotBearer => {
                "Access token validation failure. The Authorization header must be 'Bearer {token}'."
            }
            AuthError::MalformedToken => {
                "Access token validation failure. The access token is not a well-formed token."
            }
        }
    }
}

/// Returns the bearer token of a request.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Err(AuthError::Missing),
        (Some(_), Some(_)) => return Err(AuthError::Repeated),
        (Some(value), None) => value,
    };
    // Header values may carry any byte but controls; a valid one is ASCII.
    let value = value.to_str().map_err(|_| AuthError::MalformedToken)?;
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err(AuthError::Missing);
    }
    let (scheme, token) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim_start_matches([' ', '\t']);
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    if !is_token68(token) {
        return Err(AuthError::MalformedToken);
    }
    Ok(token)
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                http::header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    /// Header values of a request, and what `bearer_token` returns for them.
    type Case = (&'static [&'static [u8]], Result<&'static str, AuthError>);

    #[test]
    fn bearer_token_cases() {
        let cases: &[Case] = &[
            (&[b"Bearer abc.def.ghi"], Ok("abc.def.ghi")),
            (&[b"bearer abc.def.ghi"], Ok("abc.def.ghi")),
            (&[b"BEARER  abc"], Ok("abc")),
            (&[], Err(AuthError::Missing)),
            (&[b""], Err(AuthError::Missing)),
            (&[b"Bearer"], Err(AuthError::Missing)),
            (&[b"Bearer "], Err(AuthError::Missing)),
            (&[b"abc.def.ghi"], Err(AuthError::NotBearer)),
            (&[b"Basic dXNlcjpwYXNz"], Err(AuthError::NotBearer)),
            (&[b"Bearer a b"], Err(AuthError::MalformedToken)),
            (&[b"Bearer a\"b"], Err(AuthError::MalformedToken)),
            (&[b"Bearer ===="], Err(AuthError::MalformedToken)),
            (&[b"Bearer \xff\xfe"], Err(AuthError::MalformedToken)),
            (&[b"Bearer a", b"Bearer b"], Err(AuthError::Repeated)),
        ];
        for (values, expected) in cases {
            let map = headers(values);
            assert_eq!(bearer_token(&map), *expected, "{values:?}");
        }
    }
}
