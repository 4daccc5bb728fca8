//! Services and tools that some tests need beside the mock: Azurite, a
//! Python with Azure's SDK, Schemathesis and Prism. `cargo xtask test`
//! installs them, starts Azurite and names them in environment variables; a
//! plain `cargo test` skips those tests with a message, unless
//! `UPLOADURL_REQUIRE_SERVICES` is set.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use uploadurl_server::config::{AZURITE_ACCOUNT, DEVELOPMENT_ACCOUNT_KEY};
use uploadurl_server::storage::{BlobAdmin, PolicyLayout};

/// A running Azurite blob service.
#[derive(Debug, Clone)]
pub struct Azurite {
    /// `http://127.0.0.1:{port}/devstoreaccount1`.
    pub endpoint: String,
    /// Azurite's debug log.
    pub debug_log: PathBuf,
}

impl Azurite {
    /// Returns the Azurite that `cargo xtask test` started, or `None` (after
    /// printing why) when the test should be skipped.
    pub fn from_env(test: &str) -> Option<Azurite> {
        let endpoint = required("UPLOADURL_AZURITE_ENDPOINT", test)?;
        let debug_log = required("UPLOADURL_AZURITE_DEBUG_LOG", test)?;
        Some(Azurite {
            endpoint,
            debug_log: PathBuf::from(debug_log),
        })
    }

    /// Creates a client of the development account, authorized with its key.
    pub fn admin(&self) -> BlobAdmin {
        let key = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            DEVELOPMENT_ACCOUNT_KEY,
        )
        .expect("the development key is base64");
        BlobAdmin::new(
            &self.endpoint,
            AZURITE_ACCOUNT,
            &key,
            PolicyLayout::Emulator,
        )
    }

    /// Returns the mock's flags for this Azurite.
    pub fn mock_flags(&self) -> [&str; 4] {
        ["--storage", "azurite", "--blob-endpoint", &self.endpoint]
    }
}

/// Returns the Python interpreter of the venv with Azure's SDK, or `None`
/// (after printing why) when the test should be skipped.
pub fn python(test: &str) -> Option<PathBuf> {
    required("UPLOADURL_TEST_PYTHON", test).map(PathBuf::from)
}

/// Returns Schemathesis's command line from the project venv, or `None`
/// (after printing why) when the test should be skipped.
pub fn schemathesis(test: &str) -> Option<PathBuf> {
    required("UPLOADURL_TEST_SCHEMATHESIS", test).map(PathBuf::from)
}

/// Returns Prism's command line from `tools/node`, or `None` (after
/// printing why) when the test should be skipped.
pub fn prism(test: &str) -> Option<PathBuf> {
    required("UPLOADURL_TEST_PRISM", test).map(PathBuf::from)
}

/// The time Prism has to load the document and start listening.
const PRISM_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Prism's handling of a violation of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrismErrors {
    /// `--errors`: a violation replaces the response with Prism's own error
    /// (401 for a missing credential, 500 for a response violation).
    Respond,
    /// No `--errors`: the response passes unchanged, and violations are
    /// listed in its `sl-violations` header.
    Report,
}

/// Prism 5 in `proxy` mode in front of an upstream server, on a free
/// loopback port; stopped when dropped.
pub struct PrismProxy {
    /// `http://127.0.0.1:{port}`: the upstream's base URL, proxied.
    pub base_url: String,
    child: Child,
}

impl PrismProxy {
    /// Starts `prism proxy {document} {upstream}` with request validation
    /// off, so that requests outside the document's parameter schemas still
    /// reach the upstream, and waits until it listens. Its output goes to
    /// `log`.
    pub async fn start(
        prism: &Path,
        document: &Path,
        upstream: &str,
        errors: PrismErrors,
        log: &Path,
    ) -> anyhow::Result<PrismProxy> {
        use anyhow::Context as _;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let output = std::fs::File::create(log)
            .with_context(|| format!("failed to create {}", log.display()))?;
        let mut command = Command::new(prism);
        command
            .arg("proxy")
            .arg(document)
            .arg(upstream)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--validate-request=false");
        if errors == PrismErrors::Respond {
            command.arg("--errors");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("failed to start {}", prism.display()))?;
        let mut proxy = PrismProxy {
            base_url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(proxy);
            }
            if let Some(status) = proxy.child.try_wait()? {
                anyhow::bail!("Prism exited with {status}; see {}", log.display());
            }
            if started.elapsed() > PRISM_START_TIMEOUT {
                anyhow::bail!(
                    "Prism did not listen on port {port} within {PRISM_START_TIMEOUT:?}; see {}",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for PrismProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn required(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var_os("UPLOADURL_REQUIRE_SERVICES").is_some() => {
            panic!("{test}: {variable} is not set, and UPLOADURL_REQUIRE_SERVICES requires it")
        }
        _ => {
            eprintln!("{test}: skipped, because {variable} is not set; run `cargo xtask test`");
            None
        }
    }
}
