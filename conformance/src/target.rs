//! The server under test: the mock started in-process, or a running server
//! named by `CONFORMANCE_BASE_URL`.

use std::sync::atomic::{AtomicUsize, Ordering};

use uploadurl_server::keys::Secret;
use uploadurl_server::token::TokenRequest;

/// Ids of the mock's built-in default profiles, one per outcome. A server
/// given by `CONFORMANCE_BASE_URL` must serve these profiles too.
pub mod profiles {
    /// Provisioned, CSV data provider, last sync succeeded: 200.
    pub const READY: &str = "9cbbf4f1-5a07-4f8e-9e51-1d3c40a6a2b1";
    /// Provisioned, CSV, `profileStatus` inProgress: 409.
    pub const UPLOAD_IN_PROGRESS: &str = "5d3e2c1b-7a64-4b2f-8c90-3e1f6a7b8c02";
    /// CSV, still provisioning: 409.
    pub const PROVISIONING: &str = "e7a1c2d3-4b5f-4e6a-9b7c-8d9e0f1a2b03";
    /// Provisioned, PowerSchool data provider: 400.
    pub const POWERSCHOOL: &str = "3f9b8a7c-6d5e-4f1a-b2c3-d4e5f6a7b804";
    /// No profile has this id: 404.
    pub const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";
}

/// The variable naming the folder where in-process servers write their logs,
/// for `cargo xtask test` to scan for secrets.
pub const LOG_DIR_VARIABLE: &str = "UPLOADURL_TEST_LOG_DIR";

/// A logger into a new file in the folder named by [`LOG_DIR_VARIABLE`], or
/// one that discards everything when it is not set.
fn test_logger() -> anyhow::Result<slog::Logger> {
    use slog::Drain as _;
    static NEXT_LOG: AtomicUsize = AtomicUsize::new(0);
    let Some(dir) = std::env::var_os(LOG_DIR_VARIABLE) else {
        return Ok(slog::Logger::root(slog::Discard, slog::o!()));
    };
    std::fs::create_dir_all(&dir)?;
    let path = std::path::Path::new(&dir).join(format!(
        "conformance-{}-{}.log",
        std::process::id(),
        NEXT_LOG.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::File::create(path)?;
    let drain = uploadurl_server::logging::JsonLines::new(file).fuse();
    Ok(slog::Logger::root(
        drain,
        slog::o!("name" => "uploadurl-mock"),
    ))
}

/// A server to test and how to reach it.
pub struct Target {
    /// Base URL, as Graph's is `https://graph.microsoft.com/beta`.
    pub base_url: String,
    /// A token that the server accepts.
    pub token: String,
    /// The in-process mock's development key, to mint other tokens.
    signing_secret: Option<Secret>,
    http: reqwest::Client,
    /// Keeps the in-process server running.
    _server: Option<uploadurl_server::MockServer>,
}

impl Target {
    /// Uses `CONFORMANCE_BASE_URL` (with `CONFORMANCE_TOKEN`) when set, and
    /// otherwise starts the mock on 127.0.0.1 with a free port and its
    /// default configuration.
    pub async fn from_env() -> anyhow::Result<Self> {
        match std::env::var("CONFORMANCE_BASE_URL") {
            Ok(base_url) => {
                let token = std::env::var("CONFORMANCE_TOKEN").map_err(|_| {
                    anyhow::anyhow!(
                        "CONFORMANCE_BASE_URL is set but CONFORMANCE_TOKEN is not; set it to a \
                         token the server accepts"
                    )
                })?;
                let base_url = base_url.trim_end_matches('/').to_string();
                Ok(Self::new(base_url, token, None, None))
            }
            Err(_) => Self::start_mock(&[]).await,
        }
    }

    /// Points at a server that is already running at `base_url` (as Graph's
    /// is `https://graph.microsoft.com/beta`) and accepts `token`.
    pub fn remote(base_url: &str, token: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(base_url)?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https"),
            "expected an http or https URL"
        );
        let base_url = base_url.trim_end_matches('/').to_string();
        Ok(Self::new(base_url, token.to_string(), None, None))
    }

    /// Starts the mock in-process with extra command-line flags and, unless
    /// the flags choose other token keys, a development key of its own.
    pub async fn start_mock(flags: &[&str]) -> anyhow::Result<Self> {
        use clap::Parser as _;
        static NEXT_KEY: AtomicUsize = AtomicUsize::new(0);
        let key_path = std::env::temp_dir().join(format!(
            "uploadurl-conformance-{}-{}.key",
            std::process::id(),
            NEXT_KEY.fetch_add(1, Ordering::Relaxed)
        ));
        let key_path = key_path
            .to_str()
            .expect("temporary paths are UTF-8")
            .to_string();
        let mut argv = vec!["uploadurl-mock", "--listen", "127.0.0.1:0"];
        let other_keys = ["--skip-signature-verification", "--verification-key"];
        if !flags.iter().any(|flag| other_keys.contains(flag)) {
            argv.extend(["--signing-key", key_path.as_str()]);
        }
        argv.extend_from_slice(flags);
        let config = uploadurl_server::config::Args::try_parse_from(argv)?.validate()?;
        let log = test_logger()?;
        let server = uploadurl_server::start(&config, &log)?;
        let _ = std::fs::remove_file(&key_path);
        let secret = server.state().development_secret.clone();
        let base_url = format!("http://{}/beta", server.local_addr());
        let mut target = Self::new(base_url, String::new(), secret, Some(server));
        if target.signing_secret.is_some() {
            target.token = target.mint(&TokenRequest::default())?;
        }
        Ok(target)
    }

    /// Mints a token with the in-process mock's development key; fails for a
    /// server given by `CONFORMANCE_BASE_URL`.
    pub fn mint(&self, request: &TokenRequest) -> anyhow::Result<String> {
        let secret = self
            .signing_secret
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("tokens can be minted only for the in-process mock"))?;
        let now = chrono::Utc::now().timestamp();
        Ok(uploadurl_server::token::mint(secret.bytes(), request, now)?)
    }

    /// Whether tokens can be minted, which tests of the token rules need.
    pub fn can_mint(&self) -> bool {
        self.signing_secret.is_some()
    }

    fn new(
        base_url: String,
        token: String,
        signing_secret: Option<Secret>,
        server: Option<uploadurl_server::MockServer>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a plain reqwest client builds");
        Target {
            base_url,
            token,
            signing_secret,
            http,
            _server: server,
        }
    }

    /// An HTTP client without default headers or proxies.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The generated client with the target's token.
    pub fn client(&self) -> uploadurl_client::UploadUrlClient {
        uploadurl_client::UploadUrlClient::new(&self.base_url, &self.token)
            .expect("the target's base URL and token are valid")
    }
}

/// Starts a server on a free loopback port that sends the same 200 to
/// every request: `headers` (each line ending in CRLF) and the JSON `body`.
/// Tests point the checks at it to show that they fail against a wrong
/// server. Returns its base URL, `http://127.0.0.1:{port}/beta`.
pub async fn start_canned_server(
    headers: &'static str,
    body: &'static str,
) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}/beta", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 8192];
                let _ = stream.read(&mut buffer).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{headers}\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(base_url)
}
