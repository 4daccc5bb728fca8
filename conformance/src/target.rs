//! The server under test: the mock started in-process, or a running server
//! named by `CONFORMANCE_BASE_URL`.

use dropshot::HttpServer;

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

/// The token sent to the in-process mock, which accepts any well-formed
/// bearer token.
const IN_PROCESS_TOKEN: &str = "conformance-token";

/// A server to test and how to reach it.
pub struct Target {
    /// Base URL, as Graph's is `https://graph.microsoft.com/beta`.
    pub base_url: String,
    /// A token that the server accepts.
    pub token: String,
    http: reqwest::Client,
    /// Keeps the in-process server running.
    _server: Option<HttpServer<uploadurl_server::AppState>>,
}

impl Target {
    /// Uses `CONFORMANCE_BASE_URL` (with `CONFORMANCE_TOKEN`) when set, and
    /// otherwise starts the mock on 127.0.0.1 with a free port and its
    /// default configuration.
    pub async fn from_env() -> anyhow::Result<Self> {
        match std::env::var("CONFORMANCE_BASE_URL") {
            Ok(base_url) => {
                let token = std::env::var("CONFORMANCE_TOKEN").map_err(|_| {
                    anyhow::anyhow!("CONFORMANCE_BASE_URL is set but CONFORMANCE_TOKEN is not; set it to a token the server accepts")
                })?;
                Ok(Self::new(
                    base_url.trim_end_matches('/').to_string(),
                    token,
                    None,
                ))
            }
            Err(_) => Self::start_mock(&[]).await,
        }
    }

    /// Starts the mock in-process with extra command-line flags.
    pub async fn start_mock(flags: &[&str]) -> anyhow::Result<Self> {
        use clap::Parser as _;
        let mut argv = vec!["uploadurl-mock", "--listen", "127.0.0.1:0"];
        argv.extend_from_slice(flags);
        let config = uploadurl_server::config::Args::try_parse_from(argv)?.validate()?;
        let log = slog::Logger::root(slog::Discard, slog::o!());
        let server = uploadurl_server::start(&config, &log)?;
        let base_url = format!("http://{}/beta", server.local_addr());
        Ok(Self::new(
            base_url,
            IN_PROCESS_TOKEN.to_string(),
            Some(server),
        ))
    }

    fn new(
        base_url: String,
        token: String,
        server: Option<HttpServer<uploadurl_server::AppState>>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a plain reqwest client builds");
        Target {
            base_url,
            token,
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
