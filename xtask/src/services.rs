//! The tools and services that the tests need beside cargo. Azurite and Prism
//! come from `tools/node`, Azure's Python SDK and Schemathesis from
//! `tools/python`; each is
//! installed into a project folder when missing or out of date. Azurite runs
//! on a free loopback port for the length of the test run.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The time Azurite has to start listening.
const AZURITE_START_TIMEOUT: Duration = Duration::from_secs(60);

/// The installed tools.
pub struct Tools {
    /// `azurite-blob` from `tools/node`.
    pub azurite_blob: PathBuf,
    /// The Python interpreter of the project venv.
    pub python: PathBuf,
    /// Schemathesis's command line in the project venv.
    pub schemathesis: PathBuf,
    /// Prism's command line.
    pub prism: PathBuf,
}

/// Installs the Node.js packages of `tools/node` (with `npm ci`, from its
/// lock file) and a Python venv with `tools/python/requirements.txt`, unless
/// the installed copies match those files already.
pub fn install(root: &Path) -> Result<Tools> {
    let node = install_node(root)?;
    let venv = root.join("target/venv");
    let requirements_path = root.join("tools/python/requirements.txt");
    let requirements = std::fs::read(&requirements_path)
        .context("failed to read tools/python/requirements.txt")?;
    let python = venv.join("bin/python");
    let venv_marker = venv.join(".uploadurl-installed");
    if std::fs::read(&venv_marker).ok().as_deref() != Some(requirements.as_slice()) {
        println!("installing Python test tools into target/venv");
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            .context("failed to create the venv; is python3 with venv installed?")?;
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements_path))
        .context("failed to install tools/python/requirements.txt")?;
        std::fs::write(&venv_marker, &requirements)?;
    }
    Ok(Tools {
        azurite_blob: node.azurite_blob,
        schemathesis: venv.join("bin/schemathesis"),
        python,
        prism: node.prism,
    })
}

/// Node.js tools from `tools/node`.
pub struct NodeTools {
    /// Spectral's command line.
    pub spectral: PathBuf,
    /// Redocly CLI.
    pub redocly: PathBuf,
    /// `azurite-blob`.
    pub azurite_blob: PathBuf,
    /// Prism's command line.
    pub prism: PathBuf,
}

/// Installs only the Node.js packages of `tools/node`, which the lint needs.
pub fn install_node(root: &Path) -> Result<NodeTools> {
    let node = root.join("tools/node");
    let lock = std::fs::read(node.join("package-lock.json"))
        .context("failed to read tools/node/package-lock.json")?;
    let node_marker = node.join("node_modules/.uploadurl-installed");
    if std::fs::read(&node_marker).ok().as_deref() != Some(lock.as_slice()) {
        println!("installing Node.js test tools into tools/node/node_modules (npm ci)");
        // Spectral depends on @scarf/scarf, whose install script reports
        // usage unless SCARF_ANALYTICS is false.
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&node)
            .env("SCARF_ANALYTICS", "false")
            .env("DO_NOT_TRACK", "1"))
        .context("failed to install the Node.js tools; is npm installed (Node.js 20)?")?;
        std::fs::write(&node_marker, &lock)?;
    }
    Ok(NodeTools {
        spectral: node.join("node_modules/.bin/spectral"),
        redocly: node.join("node_modules/.bin/redocly"),
        azurite_blob: node.join("node_modules/.bin/azurite-blob"),
        prism: node.join("node_modules/.bin/prism"),
    })
}

/// A running Azurite blob service, stopped when dropped.
pub struct Azurite {
    child: Child,
    /// `http://127.0.0.1:{port}/devstoreaccount1`.
    pub endpoint: String,
    /// Azurite's debug log, which shows each string-to-sign it computes.
    pub debug_log: PathBuf,
}

impl Azurite {
    /// Starts Azurite on a free loopback port, in memory, without telemetry,
    /// with its output in `dir`.
    pub fn start(tools: &Tools, dir: &Path) -> Result<Azurite> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let debug_log = dir.join("debug.log");
        let output = std::fs::File::create(dir.join("azurite.log"))?;
        let child = Command::new(&tools.azurite_blob)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--skipApiVersionCheck", "--loose"])
            .arg("--disableTelemetry")
            .arg("--debug")
            .arg(&debug_log)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("failed to start {}", tools.azurite_blob.display()))?;
        let mut azurite = Azurite {
            child,
            endpoint: format!("http://127.0.0.1:{port}/devstoreaccount1"),
            debug_log,
        };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + AZURITE_START_TIMEOUT;
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if let Some(status) = azurite.child.try_wait()? {
                bail!(
                    "Azurite exited with {status} before listening; see {}",
                    dir.join("azurite.log").display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "Azurite did not listen on {address} within {} s; see {}",
                    AZURITE_START_TIMEOUT.as_secs(),
                    dir.join("azurite.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(azurite)
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("failed to find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("failed to run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} exited with {status}");
    }
    Ok(())
}
