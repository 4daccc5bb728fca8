//! `cargo xtask test`: the one command that runs every test of the
//! workspace on a fresh machine.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

/// Runs the workspace's tests; the exit code is cargo's.
pub fn run() -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(&cargo)
        .args(["test", "--workspace", "--locked"])
        .status()
        .with_context(|| format!("failed to run {cargo} test"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
