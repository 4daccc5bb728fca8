//! `cargo xtask test`: the one command that runs every test of the
//! workspace on a fresh machine. It installs the test tools, starts Azurite,
//! runs the tests, then scans the logs the servers under test wrote for
//! secrets.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::services;
use regex::Regex;

/// The folder, below `target/`, where servers under test write their logs.
const LOG_DIR: &str = "target/test-logs";

/// Azurite's development account key (the mock's default) in part: enough
/// to recognize it, in base64 or as it would be quoted.
const DEVELOPMENT_KEY_PREFIX: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6";

/// Runs the workspace's tests and the log scan; the exit code is non-zero
/// when either fails.
pub fn run() -> Result<ExitCode> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is below the root");
    let log_dir = root.join(LOG_DIR);
    let _ = std::fs::remove_dir_all(&log_dir);
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("failed to create {}", log_dir.display()))?;

    let node_tools = services::install_node(root)?;
    if crate::lint::run(root, &node_tools)? != ExitCode::SUCCESS {
        eprintln!("the lint of the OpenAPI document failed; see above");
        return Ok(ExitCode::FAILURE);
    }
    let tools = services::install(root)?;
    // Azurite's own log is kept apart from the scanned logs: it shows the
    // signatures it checks, by design.
    let azurite = services::Azurite::start(&tools, &root.join("target/azurite"))?;
    println!("Azurite listens at {}", azurite.endpoint);

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(&cargo)
        .args(["test", "--workspace", "--locked"])
        .env("UPLOADURL_TEST_LOG_DIR", &log_dir)
        .env("UPLOADURL_AZURITE_ENDPOINT", &azurite.endpoint)
        .env("UPLOADURL_AZURITE_DEBUG_LOG", &azurite.debug_log)
        .env("UPLOADURL_TEST_PYTHON", &tools.python)
        .env("UPLOADURL_TEST_SCHEMATHESIS", &tools.schemathesis)
        .env("UPLOADURL_TEST_PRISM", &tools.prism)
        .env("UPLOADURL_REQUIRE_SERVICES", "1")
        .current_dir(root)
        .status()
        .with_context(|| format!("failed to run {cargo} test"))?;
    drop(azurite);
    if !status.success() {
        return Ok(ExitCode::FAILURE);
    }

    let findings = scan_logs(&log_dir)?;
    if findings.lines == 0 {
        eprintln!(
            "the log scan found no log lines in {}; the tests wrote no logs",
            log_dir.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    if !findings.leaks.is_empty() {
        for leak in &findings.leaks {
            eprintln!("secret in the test logs: {leak}");
        }
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "log scan: {} lines in {} files, no token, account key or SAS signature",
        findings.lines, findings.files
    );
    Ok(ExitCode::SUCCESS)
}

/// What the scan found.
#[derive(Debug, Default)]
struct Findings {
    files: usize,
    lines: usize,
    /// `file:line: kind` for each secret found; the secret itself is not
    /// repeated.
    leaks: Vec<String>,
}

/// Scans every file in `dir` for JWTs, the development account key and SAS
/// signatures that were not redacted.
fn scan_logs(dir: &Path) -> Result<Findings> {
    let patterns = [
        (
            "a JWT",
            // As the mock's redaction matches them: `ey` or `ew`, then the
            // payload after a dot or slash, encoded or not.
            Regex::new(
                r"(?i)(?-i:e[wy])[A-Za-z0-9_-]{8,}(?:\.|/|%(?:25)*2[EF])(?-i:e)[A-Za-z0-9_-]{8,}",
            )?,
        ),
        (
            "the development account key",
            Regex::new(&regex::escape(DEVELOPMENT_KEY_PREFIX))?,
        ),
        (
            "a SAS signature",
            Regex::new(r"(?i)sig(?:=|%(?:25)*3D)[A-Za-z0-9%+/=]{8,}")?,
        ),
    ];
    let mut findings = Findings::default();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("failed to read {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.path());
    for entry in entries {
        let path = entry.path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("failed to read {}", path.display()))?;
        findings.files += 1;
        for (number, line) in text.lines().enumerate() {
            findings.lines += 1;
            for (kind, pattern) in &patterns {
                if pattern.is_match(line) {
                    findings
                        .leaks
                        .push(format!("{}:{}: {kind}", path.display(), number + 1));
                }
            }
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_each_kind_of_secret() {
        let dir = std::env::temp_dir().join(format!("xtask-scan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.log"),
            "{\"msg\":\"ok\",\"uri\":\"/beta?[query redacted]\",\"value\":\"sig=[redacted]\"}\n\
             {\"token\":\"eyJhbGciOiJIUzI1NiJ9.eyJzY3AiOiJ4In0.c2ln\"}\n\
             {\"key\":\"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsu\"}\n\
             {\"url\":\"https://a/c?sig=AbCdEf%2B12345%3D&se=x\"}\n\
             {\"uri\":\"/beta/eyJhbGciOiJIUzI1NiJ9%2EeyJzY3AiOiJ4In0%2Ec2ln\"}\n\
             {\"uri\":\"/beta/eyAiYWxnIjogIkhTMjU2IiB9/eyJzY3AiOiJ4In0/c2ln/uploadUrl\"}\n",
        )
        .unwrap();
        let findings = scan_logs(&dir).unwrap();
        assert_eq!(findings.files, 1);
        assert_eq!(findings.lines, 6);
        assert_eq!(findings.leaks.len(), 5, "{:?}", findings.leaks);
        assert!(findings.leaks[0].ends_with(":2: a JWT"));
        assert!(findings.leaks[1].ends_with(":3: the development account key"));
        assert!(findings.leaks[2].ends_with(":4: a SAS signature"));
        assert!(findings.leaks[3].ends_with(":5: a JWT"));
        assert!(findings.leaks[4].ends_with(":6: a JWT"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
