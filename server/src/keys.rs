//! Token keys: the development HS256 secret, created on first use, and
//! public keys (an RSA PEM or a JWKS file) for tokens from elsewhere.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::token::VerificationKey;

/// A secret key, such as the storage account key or the development
/// signing key; its `Debug` form hides the bytes.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    /// Returns the key's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Length of a new development secret, in bytes.
const SECRET_LEN: usize = 32;

/// A key file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("failed to access the key file {path}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The folder of a `--signing-key` file does not exist. Only the default
    /// location's folder is created, so that a mistyped path fails instead
    /// of creating folders and a new key.
    #[error(
        "the folder of the --signing-key file {path} does not exist; create it, or fix the path"
    )]
    MissingFolder {
        /// The file.
        path: String,
    },
    /// The development key file does not hold a base64 secret.
    #[error(
        "invalid --signing-key file {path}: expected a base64 secret of at least {SECRET_LEN} \
         bytes; delete the file to have a new one created"
    )]
    InvalidSecret {
        /// The file.
        path: String,
    },
    /// The verification key file is neither an RSA public key nor a JWKS.
    #[error(
        "invalid --verification-key file {path}: expected an RSA public key in PEM or a JWKS \
         document ({{\"keys\": [...]}}) with RS256 keys"
    )]
    InvalidPublicKey {
        /// The file.
        path: String,
    },
}

/// Returns the default location of the development signing key:
/// `$XDG_STATE_HOME/uploadurl-mock/dev-signing-key`, else under
/// `$HOME/.local/state`, else in the working directory.
pub fn default_signing_key_path() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/state")));
    match state {
        Some(dir) => dir.join("uploadurl-mock").join("dev-signing-key"),
        None => PathBuf::from(".uploadurl-mock-dev-signing-key"),
    }
}

/// Reads the development secret from `path`, creating the file with a new
/// random secret (readable by the owner only) when it does not exist.
pub fn load_or_create_secret(path: &Path) -> Result<Secret, KeyError> {
    let io_error = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let secret = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| KeyError::InvalidSecret {
                    path: path.display().to_string(),
                })?;
            if secret.len() < SECRET_LEN {
                return Err(KeyError::InvalidSecret {
                    path: path.display().to_string(),
                });
            }
            Ok(Secret(secret))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = vec![0u8; SECRET_LEN];
            getrandom::fill(&mut secret)
                .map_err(|error| io_error(std::io::Error::other(error.to_string())))?;
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                if path == default_signing_key_path() {
                    std::fs::create_dir_all(dir).map_err(io_error)?;
                } else if !dir.is_dir() {
                    return Err(KeyError::MissingFolder {
                        path: path.display().to_string(),
                    });
                }
            }
            write_private(
                path,
                &base64::engine::general_purpose::STANDARD.encode(&secret),
            )
            .map_err(io_error)?;
            Ok(Secret(secret))
        }
        Err(error) => Err(io_error(error)),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Reads RS256 verification keys: an RSA public key in PEM, which accepts
/// any `kid`, or a JWKS document, whose keys are matched by `kid`.
pub fn load_verification_keys(path: &Path) -> Result<Vec<VerificationKey>, KeyError> {
    let invalid = || KeyError::InvalidPublicKey {
        path: path.display().to_string(),
    };
    let bytes = std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    if let Ok(set) = serde_json::from_slice::<JwkSet>(&bytes) {
        // Only RSA signing keys for RS256 are used: a key marked for
        // encryption or for another algorithm cannot verify these tokens.
        let keys: Vec<VerificationKey> = set
            .keys
            .iter()
            .filter(|jwk| {
                matches!(
                    jwk.algorithm,
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
                ) && jwk
                    .common
                    .key_algorithm
                    .is_none_or(|alg| alg == jsonwebtoken::jwk::KeyAlgorithm::RS256)
                    && jwk.common.public_key_use.as_ref().is_none_or(|key_use| {
                        *key_use == jsonwebtoken::jwk::PublicKeyUse::Signature
                    })
            })
            .filter_map(|jwk| {
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some(VerificationKey {
                    key_id: jwk.common.key_id.clone(),
                    algorithm: Algorithm::RS256,
                    key,
                })
            })
            .collect();
        return if keys.is_empty() {
            Err(invalid())
        } else {
            Ok(keys)
        };
    }
    let key = DecodingKey::from_rsa_pem(&bytes).map_err(|_| invalid())?;
    Ok(vec![VerificationKey {
        key_id: None,
        algorithm: Algorithm::RS256,
        key,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("uploadurl-keys-{}", std::process::id()));
        let path = dir.join("nested").join("dev-signing-key");
        let _ = std::fs::remove_dir_all(&dir);
        // A folder that does not exist is not created: the path is likely
        // mistyped.
        let error = load_or_create_secret(&path).unwrap_err().to_string();
        assert!(
            error.contains("the folder of the --signing-key file") && error.contains("nested"),
            "{error}"
        );
        assert!(!dir.exists());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let first = load_or_create_secret(&path).unwrap();
        let second = load_or_create_secret(&path).unwrap();
        assert_eq!(first.bytes().len(), SECRET_LEN);
        assert_eq!(first.bytes(), second.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file mode {mode:o}");
        }
        std::fs::write(&path, "short").unwrap();
        let error = load_or_create_secret(&path).unwrap_err().to_string();
        assert!(error.contains("invalid --signing-key file"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn invalid_public_key_is_rejected() {
        let dir = std::env::temp_dir().join(format!("uploadurl-pubkeys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("empty.jwks", r#"{"keys": []}"#),
            ("junk.pem", "not a key"),
            ("oct.jwks", r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#),
            (
                "encryption.jwks",
                r#"{"keys": [{"kty": "RSA", "use": "enc", "n": "sXch", "e": "AQAB"}]}"#,
            ),
            (
                "rs512.jwks",
                r#"{"keys": [{"kty": "RSA", "alg": "RS512", "n": "sXch", "e": "AQAB"}]}"#,
            ),
        ];
        for (name, text) in cases {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            let error = load_verification_keys(&path).unwrap_err().to_string();
            assert!(
                error.contains("invalid --verification-key file"),
                "{name}: {error}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
