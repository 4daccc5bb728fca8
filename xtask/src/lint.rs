//! `cargo xtask lint`: the OpenAPI document against Spectral's `spectral:oas`
//! ruleset (`.spectral.yaml`) and Redocly CLI's recommended ruleset
//! (`redocly.yaml`). A warning fails the lint as an error does, so that
//! the document stays clean.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::regen::DOCUMENT_PATH;
use crate::services::NodeTools;

/// Runs both linters and returns failure when either reports a problem.
pub fn run(root: &Path, tools: &NodeTools) -> Result<ExitCode> {
    let spectral = Command::new(&tools.spectral)
        .args(["lint", DOCUMENT_PATH, "--ruleset", ".spectral.yaml"])
        .args(["--fail-severity", "hint"])
        .current_dir(root)
        .status()
        .with_context(|| format!("failed to run {}", tools.spectral.display()))?;

    let output = Command::new(&tools.redocly)
        .args([
            "lint",
            DOCUMENT_PATH,
            "--config",
            "redocly.yaml",
            "--format",
            "json",
        ])
        .env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .env("REDOCLY_SUPPRESS_NOTIFICATIONS", "true")
        .env("DO_NOT_TRACK", "1")
        .current_dir(root)
        .output()
        .with_context(|| format!("failed to run {}", tools.redocly.display()))?;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "Redocly CLI printed no JSON report: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;
    let totals = &report["totals"];
    let problems = ["errors", "warnings"]
        .iter()
        .map(|kind| totals[kind].as_u64().unwrap_or(0))
        .sum::<u64>();
    for problem in report["problems"].as_array().into_iter().flatten() {
        let location = problem["location"][0]["pointer"].as_str().unwrap_or("");
        println!(
            "redocly: {} {}: {} ({location})",
            problem["severity"].as_str().unwrap_or("?"),
            problem["ruleId"].as_str().unwrap_or("?"),
            problem["message"].as_str().unwrap_or("?"),
        );
    }
    if report["totals"].is_null() {
        eprintln!("Redocly CLI's report has no totals; its output changed");
        return Ok(ExitCode::FAILURE);
    }
    println!("redocly: {problems} problems in {DOCUMENT_PATH}");

    Ok(
        if spectral.success() && output.status.success() && problems == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
