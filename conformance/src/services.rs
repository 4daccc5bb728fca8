//! Services that some tests need beside the mock: Azurite and a Python with
//! Azure's SDK. `cargo xtask test` installs and starts them and names them
//! in environment variables; a plain `cargo test` skips those tests with a
//! message, unless `UPLOADURL_REQUIRE_SERVICES` is set.

use std::path::PathBuf;

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
