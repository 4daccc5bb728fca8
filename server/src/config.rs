//! Command-line flags and environment variables, and their validation.
//!
//! Every flag has an environment variable, so the mock can be configured in
//! a test harness or a container without a command line. Values are checked
//! at start-up; an invalid one stops the server with a message that names the
//! flag, the value (except the account key, which is secret) and the fix.

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine as _;
use clap::{Parser, Subcommand};

use crate::keys::Secret;
use crate::token::TokenRequest;

/// Azurite's well-known development account key, the default key. It is
/// public, so URLs signed with it prove nothing to a real storage account.
pub const DEVELOPMENT_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The storage account in the documentation's example URL.
pub const DEFAULT_ACCOUNT: &str = "sdsstorage";

/// Azurite's development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";

/// Azurite's blob endpoint with its default host and port.
pub const AZURITE_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// Whether and how the server calls a storage service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageMode {
    /// Sign URLs only; no storage service is called.
    SignOnly,
    /// Create each profile's container and the stored access policy of each
    /// URL through the Blob REST API. The policy has a start time only, as
    /// for Graph's URLs on Azure.
    Azure,
    /// As `azure`, for Azurite: defaults to its development account and
    /// endpoint, and writes permission `w` into each policy, because Azurite
    /// 3.35.0 fails with 500 on a policy without permissions. Real Azure
    /// rejects that policy layout.
    Azurite,
}

/// The command line: without a subcommand the server runs.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "uploadurl-mock",
    about = "A mock of Microsoft Graph beta's educationSynchronizationProfile uploadUrl",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A task other than serving.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The server's flags.
    #[command(flatten)]
    pub serve: Args,
}

/// Tasks other than serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Print an access token signed with the development key.
    Token(TokenArgs),
}

/// The flags of `uploadurl-mock token`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// File of the development key, as for the server.
    #[arg(long, env = "UPLOADURL_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Delegated scope written in `scp`; repeat for more [default:
    /// EduAdministration.ReadWrite].
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Mint an application token: `roles` and no `scp`.
    #[arg(long)]
    pub app: bool,
    /// Application role written in `roles`; repeat for more [default:
    /// EduAdministration.ReadWrite.All].
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// Mint a token of a personal Microsoft account.
    #[arg(long)]
    pub personal: bool,
    /// Seconds until the token expires; negative for an expired token.
    #[arg(
        long,
        default_value_t = 86_400,
        allow_negative_numbers = true,
        value_name = "SECONDS"
    )]
    pub expires_in: i64,
    /// Seconds until the token becomes valid (`nbf`).
    #[arg(
        long,
        default_value_t = 0,
        allow_negative_numbers = true,
        value_name = "SECONDS"
    )]
    pub not_before_in: i64,
    /// Audience (`aud`).
    #[arg(
        long,
        default_value = "https://graph.microsoft.com",
        value_name = "AUDIENCE"
    )]
    pub audience: String,
}

impl TokenArgs {
    /// The claims to mint.
    pub fn request(&self) -> TokenRequest {
        let defaults = TokenRequest::default();
        TokenRequest {
            scopes: if self.scopes.is_empty() {
                defaults.scopes
            } else {
                self.scopes.clone()
            },
            application: self.app,
            roles: if self.roles.is_empty() {
                defaults.roles
            } else {
                self.roles.clone()
            },
            personal: self.personal,
            expires_in: self.expires_in,
            not_before_in: self.not_before_in,
            audience: self.audience.clone(),
        }
    }
}

/// The flags of the mock server.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "uploadurl-mock",
    about = "A mock of Microsoft Graph beta's educationSynchronizationProfile uploadUrl"
)]
pub struct Args {
    /// Address and port to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "UPLOADURL_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR:PORT",
        value_parser = parse_listen
    )]
    pub listen: SocketAddr,

    /// JSON file of synchronization profiles in Graph's shape: the response of
    /// GET /education/synchronizationProfiles, or an array of profiles.
    /// Without it, the built-in default profiles are served.
    #[arg(long, env = "UPLOADURL_PROFILES", value_name = "FILE")]
    pub profiles: Option<PathBuf>,

    /// Whether the server creates containers and stored access policies in a
    /// storage service, so that its URLs accept uploads.
    #[arg(
        long,
        env = "UPLOADURL_STORAGE",
        value_enum,
        default_value_t = StorageMode::SignOnly,
        value_name = "MODE"
    )]
    pub storage: StorageMode,

    /// Storage account name in SAS URLs and their signatures [default:
    /// sdsstorage, or devstoreaccount1 with --storage azurite].
    #[arg(long, env = "UPLOADURL_STORAGE_ACCOUNT", value_name = "NAME")]
    pub storage_account: Option<String>,

    /// Base64 storage account key that signs SAS URLs [default: Azurite's
    /// development key].
    #[arg(
        long,
        env = "UPLOADURL_STORAGE_KEY",
        value_name = "BASE64",
        hide_env_values = true
    )]
    pub storage_key: Option<String>,

    /// Blob service endpoint of the URLs, for example
    /// http://127.0.0.1:10000/devstoreaccount1 for Azurite [default:
    /// https://{account}.blob.core.windows.net, or that Azurite endpoint with
    /// --storage azurite].
    #[arg(long, env = "UPLOADURL_BLOB_ENDPOINT", value_name = "URL")]
    pub blob_endpoint: Option<String>,

    /// File of the development HS256 key that signs and verifies tokens;
    /// created with a random key when missing [default:
    /// $XDG_STATE_HOME/uploadurl-mock/dev-signing-key].
    #[arg(long, env = "UPLOADURL_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,

    /// RS256 public key (PEM) or JWKS file that verifies tokens instead of the
    /// development key, for tokens issued elsewhere.
    #[arg(
        long,
        env = "UPLOADURL_VERIFICATION_KEY",
        value_name = "FILE",
        conflicts_with = "signing_key"
    )]
    pub verification_key: Option<PathBuf>,

    /// Accept application tokens with the role EduAdministration.ReadWrite.All,
    /// which an older copy of the documentation lists.
    #[arg(long, env = "UPLOADURL_ACCEPT_APPLICATION_PERMISSION")]
    pub accept_application_permission: bool,

    /// Do not verify token signatures (claims are still checked), so that real
    /// Microsoft Entra ID tokens can be sent to the mock. Never use this where
    /// the mock guards anything.
    #[arg(long, env = "UPLOADURL_SKIP_SIGNATURE_VERIFICATION", conflicts_with_all = ["signing_key", "verification_key"])]
    pub skip_signature_verification: bool,

    /// Service root written in @odata.context as {root}/$metadata#String.
    #[arg(
        long,
        env = "UPLOADURL_SERVICE_ROOT",
        default_value = uploadurl_api::GRAPH_BETA_SERVICE_ROOT,
        value_name = "URL"
    )]
    pub service_root: String,

    /// The lowest level of the JSON log lines written to standard error.
    /// `info` writes one line per request; `warning` keeps only warnings and
    /// errors, for load tests.
    #[arg(
        long,
        env = "UPLOADURL_LOG_LEVEL",
        value_enum,
        default_value_t = LogLevel::Info
    )]
    pub log_level: LogLevel,
}

/// The lowest level of log lines that are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warning,
    /// Start-up, shutdown, one line per request and per connection, and the
    /// above.
    Info,
    /// dropshot's debug lines too.
    Debug,
}

impl From<LogLevel> for slog::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => slog::Level::Error,
            LogLevel::Warning => slog::Level::Warning,
            LogLevel::Info => slog::Level::Info,
            LogLevel::Debug => slog::Level::Debug,
        }
    }
}

/// Parses `--listen`: an IP address and a port, since a host name could
/// resolve to an address other than the one the server should bind.
fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    value.parse().map_err(|_| {
        "expected an IP address and port such as 127.0.0.1:8080, or 127.0.0.1:0 for a free port"
            .to_string()
    })
}

/// Where token keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKeys {
    /// The development HS256 secret in this file, created when missing.
    Development(PathBuf),
    /// RS256 public keys in this PEM or JWKS file.
    Public(PathBuf),
    /// No signature verification.
    Unverified,
}

/// Validated configuration of the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where token keys come from.
    pub token_keys: TokenKeys,
    /// Whether application tokens with EduAdministration.ReadWrite.All are
    /// accepted.
    pub accept_application_permission: bool,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The profiles file, or `None` for the built-in defaults.
    pub profiles: Option<PathBuf>,
    /// The storage account name.
    pub storage_account: String,
    /// The decoded account key.
    pub storage_key: Secret,
    /// The blob endpoint, without a trailing slash.
    pub blob_endpoint: String,
    /// Whether and how a storage service is called.
    pub storage: StorageMode,
    /// The service root, without a trailing slash.
    pub service_root: String,
    /// The lowest level of log lines written.
    pub log_level: LogLevel,
}

/// An invalid flag value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The account name breaks Azure's naming rule.
    #[error(
        "invalid --storage-account {0}: a storage account name is 3 to 24 lowercase letters and \
         digits, such as sdsstorage or devstoreaccount1"
    )]
    AccountName(String),
    /// The key is not base64. The decoder's own message is left out because
    /// it quotes a character of the key and its position.
    #[error(
        "invalid --storage-key: the value is not valid base64; pass the account key as the Azure \
         portal shows it (key1 or key2), or omit it to use Azurite's development key"
    )]
    AccountKeyEncoding,
    /// The key is empty.
    #[error("invalid --storage-key: the key is empty; pass the base64 account key")]
    AccountKeyEmpty,
    /// A URL flag is not an http or https URL without query or fragment.
    #[error("invalid {flag} {value:?}: {reason}; expected an http or https URL such as {example}")]
    Url {
        /// The flag.
        flag: &'static str,
        /// The value.
        value: String,
        /// What is wrong with it.
        reason: String,
        /// A valid value.
        example: &'static str,
    },
}

impl Args {
    /// Checks every value and builds the configuration.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let azurite = self.storage == StorageMode::Azurite;
        let account = self.storage_account.unwrap_or_else(|| {
            if azurite {
                AZURITE_ACCOUNT
            } else {
                DEFAULT_ACCOUNT
            }
            .to_string()
        });
        let valid_name = (3..=24).contains(&account.len())
            && account
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid_name {
            // A value that could be the account key is not echoed.
            let shown = if account.len() <= 24 && !account.contains(['+', '/', '=']) {
                format!("{account:?}")
            } else {
                "(value not shown, as it may be a key)".to_string()
            };
            return Err(ConfigError::AccountName(shown));
        }

        let key_text = self
            .storage_key
            .as_deref()
            .unwrap_or(DEVELOPMENT_ACCOUNT_KEY)
            .trim();
        let key = base64::engine::general_purpose::STANDARD
            .decode(key_text)
            .map_err(|_| ConfigError::AccountKeyEncoding)?;
        if key.is_empty() {
            return Err(ConfigError::AccountKeyEmpty);
        }

        let blob_endpoint = match self.blob_endpoint {
            Some(endpoint) => http_url(
                "--blob-endpoint",
                &endpoint,
                "http://127.0.0.1:10000/devstoreaccount1",
            )?,
            None if azurite => AZURITE_BLOB_ENDPOINT.to_string(),
            None => format!("https://{account}.blob.core.windows.net"),
        };
        let service_root = http_url(
            "--service-root",
            &self.service_root,
            uploadurl_api::GRAPH_BETA_SERVICE_ROOT,
        )?;

        let token_keys = match (
            self.skip_signature_verification,
            self.verification_key,
            self.signing_key,
        ) {
            (true, _, _) => TokenKeys::Unverified,
            (false, Some(path), _) => TokenKeys::Public(path),
            (false, None, path) => {
                TokenKeys::Development(path.unwrap_or_else(crate::keys::default_signing_key_path))
            }
        };
        Ok(Config {
            token_keys,
            accept_application_permission: self.accept_application_permission,
            listen: self.listen,
            profiles: self.profiles,
            storage_account: account,
            storage_key: Secret::new(key),
            blob_endpoint,
            storage: self.storage,
            service_root,
            log_level: self.log_level,
        })
    }
}

/// Checks that `value` is an absolute http(s) URL with a host and no query,
/// fragment or credentials, and returns it as the URL parser serializes it
/// (scheme and host in lowercase, characters outside the URL syntax
/// percent-encoded) without trailing slashes, so that it can be written into
/// responses as it is.
fn http_url(flag: &'static str, value: &str, example: &'static str) -> Result<String, ConfigError> {
    let invalid = |reason: String| {
        // Credentials in the URL are not echoed, even when the URL does not
        // parse; a key may contain `/`, so the last `@` ends them.
        let shown = match value.split_once("://") {
            Some((scheme, rest)) if rest.contains('@') => {
                let host = rest.rsplit_once('@').map_or("", |(_, host)| host);
                format!("{scheme}://***@{host}")
            }
            _ => value.to_string(),
        };
        ConfigError::Url {
            flag,
            value: shown,
            reason,
            example,
        }
    };
    let url = url::Url::parse(value).map_err(|error| invalid(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("the scheme is {:?}", url.scheme())));
    }
    if url.host().is_none() {
        return Err(invalid("the URL has no host".to_string()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL has a query or fragment".to_string()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("the URL has credentials".to_string()));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["uploadurl-mock"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        let config = args(&[]).validate().unwrap();
        assert_eq!(
            config.blob_endpoint,
            "https://sdsstorage.blob.core.windows.net"
        );
        assert_eq!(config.service_root, "https://graph.microsoft.com/beta");
        assert_eq!(config.storage_key.bytes().len(), 64);
    }

    #[test]
    fn trailing_slashes_are_removed() {
        let config = args(&[
            "--blob-endpoint",
            "http://127.0.0.1:10000/devstoreaccount1/",
        ])
        .validate()
        .unwrap();
        assert_eq!(
            config.blob_endpoint,
            "http://127.0.0.1:10000/devstoreaccount1"
        );
    }

    #[test]
    fn urls_are_normalized() {
        let config = args(&[
            "--blob-endpoint",
            "HTTP://EXAMPLE.COM/a b\"c",
            "--service-root",
            "http://x/a b",
        ])
        .validate()
        .unwrap();
        assert_eq!(config.blob_endpoint, "http://example.com/a%20b%22c");
        assert_eq!(config.service_root, "http://x/a%20b");
    }

    #[test]
    fn password_is_not_in_messages() {
        let error = args(&["--blob-endpoint", "http://user:hunter2@host/"])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(error.contains("credentials"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn keys_in_wrong_flags_are_not_echoed() {
        let key = crate::config::DEVELOPMENT_ACCOUNT_KEY;
        let unparsable = format!("http://user:{key}@host/");
        let cases = [
            args(&["--storage-account", key]),
            args(&["--blob-endpoint", &unparsable]),
            args(&["--service-root", &unparsable]),
        ];
        for case in cases {
            let error = case.validate().unwrap_err().to_string();
            assert!(!error.contains(&key[..20]), "{error}");
        }
    }

    #[test]
    fn invalid_values_are_named() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--storage-account", "SDS"],
                "invalid --storage-account \"SDS\"",
            ),
            (
                &["--storage-key", "not base64!"],
                "invalid --storage-key: the value is not valid base64",
            ),
            (
                &["--storage-key", ""],
                "invalid --storage-key: the key is empty",
            ),
            (
                &["--blob-endpoint", "ftp://x"],
                "invalid --blob-endpoint \"ftp://x\"",
            ),
            (&["--blob-endpoint", "http://x/?a=b"], "query or fragment"),
            (
                &["--service-root", "graph"],
                "invalid --service-root \"graph\"",
            ),
        ];
        for (flags, expected) in cases {
            let error = args(flags).validate().unwrap_err().to_string();
            assert!(error.contains(expected), "{flags:?}: {error}");
        }
    }

    #[test]
    fn key_is_not_in_messages() {
        let secret = "c2VjcmV0LWtleQ%%";
        let error = args(&["--storage-key", secret])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(!error.contains(secret), "{error}");
        assert!(!format!("{:?}", args(&[]).validate().unwrap()).contains("Eby8"));
    }
}
