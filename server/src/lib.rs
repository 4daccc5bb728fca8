//! A mock of Microsoft Graph beta's `educationSynchronizationProfile:
//! uploadUrl`, built on dropshot from the [`uploadurl_api`] trait.
//!
//! Modules, in the order a request meets them: [`gate`] accepts the
//! connection and passes the request to dropshot, [`router`] matches the path,
//! [`auth`] reads the bearer token, [`profiles`] finds the synchronization profile and decides whether
//! it may upload, [`sas`] signs the upload URL, and [`outcome`] turns each
//! failure into Graph's error. [`handler`] strings them together and
//! [`config`] holds the flags.

pub mod auth;
pub mod config;
pub mod gate;
pub mod handler;
pub mod keys;
pub mod logging;
pub mod outcome;
pub mod profiles;
pub mod router;
pub mod sas;
pub mod storage;
pub mod token;

use std::net::SocketAddr;

use dropshot::{ConfigDropshot, HandlerTaskMode, HttpServer, ServerBuilder, ShutdownWaitFuture};
use slog::{info, warn, Logger};

use crate::config::{Config, StorageMode, TokenKeys};
use crate::keys::Secret;
use crate::profiles::{BlobService, ProfileStore, ProfilesError};
use crate::sas::Signer;
use crate::storage::{BlobAdmin, PolicyLayout};
use crate::token::TokenPolicy;

/// The state every request handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The synchronization profiles.
    pub profiles: ProfileStore,
    /// Signs SAS URLs with the account key.
    pub signer: Signer,
    /// `@odata.context` of a successful response, built once.
    pub odata_context: String,
    /// The rules that tokens are checked against.
    pub tokens: TokenPolicy,
    /// The development key, when tokens are signed with it, so that the
    /// binary can print a token that works.
    pub development_secret: Option<Secret>,
    /// The storage service client, unless URLs are only signed.
    pub storage: Option<BlobAdmin>,
}

impl AppState {
    /// Builds the state from the configuration, loading the profiles and the
    /// token keys.
    pub fn new(config: &Config) -> Result<Self, StartError> {
        let blob = BlobService {
            endpoint: &config.blob_endpoint,
            account: &config.storage_account,
        };
        let profiles = match &config.profiles {
            Some(path) => ProfileStore::load(path, &blob)?,
            None => ProfileStore::defaults(&blob),
        };
        let (keys, development_secret) = match &config.token_keys {
            TokenKeys::Development(path) => {
                let secret = keys::load_or_create_secret(path)?;
                let key = token::development_key(secret.bytes()).map_err(|error| {
                    StartError::Api(format!("invalid development key: {error}"))
                })?;
                (Some(vec![key]), Some(secret))
            }
            TokenKeys::Public(path) => (Some(keys::load_verification_keys(path)?), None),
            TokenKeys::Unverified => (None, None),
        };
        Ok(AppState {
            profiles,
            signer: Signer::new(config.storage_key.bytes()),
            odata_context: format!("{}/$metadata#String", config.service_root),
            tokens: TokenPolicy {
                keys,
                accept_application_permission: config.accept_application_permission,
            },
            development_secret,
            storage: storage_client(config),
        })
    }
}

fn storage_client(config: &Config) -> Option<BlobAdmin> {
    let layout = match config.storage {
        StorageMode::SignOnly => return None,
        StorageMode::Azure => PolicyLayout::Graph,
        StorageMode::Azurite => PolicyLayout::Emulator,
    };
    Some(BlobAdmin::new(
        &config.blob_endpoint,
        &config.storage_account,
        config.storage_key.bytes(),
        layout,
    ))
}

/// The reason the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The profiles could not be loaded.
    #[error(transparent)]
    Profiles(#[from] ProfilesError),
    /// A token key could not be loaded.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// The API trait's description is invalid.
    #[error("invalid API description: {0}")]
    Api(String),
    /// The public address could not be listened on.
    #[error("failed to listen on {address}; pass another --listen address if the port is taken")]
    Listen {
        /// The address from `--listen`.
        address: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The dropshot server behind the gate could not start.
    #[error("failed to start the HTTP server on a loopback port")]
    Dropshot(#[source] dropshot::BuildError),
}

/// The running mock: the [`gate`] on the public address and dropshot behind
/// it on a loopback port.
pub struct MockServer {
    local_addr: SocketAddr,
    gate: gate::GateHandle,
    dropshot: HttpServer<AppState>,
}

impl MockServer {
    /// Returns the public address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Returns the state the handlers share.
    pub fn state(&self) -> &AppState {
        self.dropshot.app_private()
    }

    /// Resolves if dropshot stops on its own, which only an error makes it do.
    pub fn wait_for_shutdown(&self) -> ShutdownWaitFuture {
        self.dropshot.wait_for_shutdown()
    }

    /// Stops accepting connections, lets requests in flight finish, then
    /// stops dropshot.
    pub async fn close(self) -> Result<(), String> {
        let gate = self.gate.close().await;
        let dropshot = self.dropshot.close().await;
        gate.and(dropshot)
    }
}

/// Starts the mock on `config.listen`. Must be called within a Tokio
/// runtime.
pub fn start(config: &Config, log: &Logger) -> Result<MockServer, StartError> {
    let state = AppState::new(config)?;
    let profile_count = state.profiles.len();
    let api = router::api_description().map_err(StartError::Api)?;
    let listen_error = |source| StartError::Listen {
        address: config.listen,
        source,
    };
    let listener = std::net::TcpListener::bind(config.listen).map_err(listen_error)?;
    listener.set_nonblocking(true).map_err(listen_error)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(listen_error)?;
    let local_addr = listener.local_addr().map_err(listen_error)?;
    let dropshot_config = ConfigDropshot {
        bind_address: SocketAddr::from(([127, 0, 0, 1], 0)),
        default_request_body_max_bytes: 1024,
        default_handler_task_mode: HandlerTaskMode::Detached,
        log_headers: Vec::new(),
        compression: dropshot::CompressionConfig::None,
    };
    let dropshot = ServerBuilder::new(api, state, log.clone())
        .config(dropshot_config)
        .start()
        .map_err(StartError::Dropshot)?;
    let gate = gate::spawn(listener, dropshot.local_addr(), log.clone());
    // Logged only once the server runs, so that a start-up error printed by
    // the binary is the last line it writes.
    let source = match &config.profiles {
        Some(path) => path.display().to_string(),
        None => "built-in defaults".to_string(),
    };
    info!(log, "listening"; "address" => local_addr.to_string());
    info!(log, "profiles loaded"; "count" => profile_count, "source" => source);
    match &config.token_keys {
        TokenKeys::Development(path) => {
            info!(log, "tokens are verified with the development key"; "path" => path.display().to_string())
        }
        TokenKeys::Public(path) => {
            info!(log, "tokens are verified with public keys"; "path" => path.display().to_string())
        }
        TokenKeys::Unverified => warn!(
            log,
            "token signatures are not verified: any signature is accepted, claims are still checked"
        ),
    }
    Ok(MockServer {
        local_addr,
        gate,
        dropshot,
    })
}
