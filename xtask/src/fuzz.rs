//! `cargo xtask fuzz`: runs every coverage-guided fuzz target in `fuzz/`
//! for a bounded time, installing cargo-fuzz first when it is missing.
//!
//! cargo-fuzz passes unstable compiler flags (sanitizer coverage), which the
//! stable toolchain accepts only with `RUSTC_BOOTSTRAP=1`. Only the fuzz crate
//! is built with it.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

/// The fuzz targets, as named in `fuzz/Cargo.toml`.
pub const TARGETS: [&str; 4] = ["token", "authorization", "path", "sas"];

/// Runs each target (or only `only`) for `seconds`.
pub fn run(seconds: u64, only: Option<&str>) -> Result<ExitCode> {
    if seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    let targets: Vec<&str> = match only {
        Some(name) if TARGETS.contains(&name) => vec![name],
        Some(name) => bail!(
            "unknown fuzz target {name:?}; expected one of {}",
            TARGETS.join(", ")
        ),
        None => TARGETS.to_vec(),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is below the root");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    ensure_cargo_fuzz(&cargo)?;

    for target in targets {
        // New inputs go to target/, so the checked-in seeds stay small.
        let corpus = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("failed to create {}", corpus.display()))?;
        let seeds = root.join("fuzz/seeds").join(target);
        println!("fuzzing {target} for {seconds} s");
        let status = Command::new(&cargo)
            .args(["fuzz", "run", target])
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .env("RUSTC_BOOTSTRAP", "1")
            .current_dir(root.join("fuzz"))
            .status()
            .with_context(|| format!("failed to run cargo fuzz for {target}"))?;
        if !status.success() {
            eprintln!(
                "fuzz target {target} failed; the crashing input is in fuzz/artifacts/{target}/"
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Installs cargo-fuzz from crates.io unless `cargo fuzz` already runs.
fn ensure_cargo_fuzz(cargo: &str) -> Result<()> {
    let installed = Command::new(cargo)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if installed {
        return Ok(());
    }
    println!("installing cargo-fuzz");
    let status = Command::new(cargo)
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .context("failed to run cargo install cargo-fuzz")?;
    if !status.success() {
        bail!("cargo install cargo-fuzz failed");
    }
    Ok(())
}
