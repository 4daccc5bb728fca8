//! The `conformance` command: it passes against a separately started mock
//! and fails, with diffs, against a deliberately wrong server. The checks it
//! runs are the in-process ones below.

use std::process::Command;

use conformance::runner::{render, run_all};
use conformance::target::{start_canned_server, Target};

const COMMAND: &str = env!("CARGO_BIN_EXE_conformance");

#[tokio::test]
async fn checks_pass_in_process() {
    let target = Target::from_env().await.unwrap();
    let checks = run_all(&target).await;
    let (report, passed) = render(&checks);
    assert!(passed, "{report}");
    assert!(checks.len() >= 10, "{report}");
}

/// Runs the command in a blocking thread and returns its exit code and
/// standard output.
async fn run_command(base_url: String, token: &str) -> (Option<i32>, String) {
    // Below `target/`, so that no token file is left in the system's
    // temporary folder.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("conformance-runner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join(format!("token-{}", base_url.len()));
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(COMMAND)
            .args(["--base-url", &base_url, "--token-file"])
            .arg(&token_file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn command_passes_against_the_mock() {
    let target = Target::start_mock(&[]).await.unwrap();
    let (code, stdout) = run_command(target.base_url.clone(), &target.token).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("PASS documented example"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[tokio::test]
async fn command_fails_with_diffs_against_a_wrong_server() {
    // A server that responds to every request with 200 and a body that is
    // neither the documented one nor Graph's error.
    let base_url = start_canned_server(
        "request-id: r1\r\nclient-request-id: r1\r\n",
        r#"{"value":"https://example.invalid/c?sp=rw"}"#,
    )
    .await
    .unwrap();

    let (code, stdout) = run_command(base_url, "any-token").await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("FAIL documented example"), "{stdout}");
    assert!(stdout.contains("FAIL unknown profile: 404"), "{stdout}");
    assert!(stdout.contains("-status: 404"), "{stdout}");
    assert!(stdout.contains("+status: 200"), "{stdout}");
    assert!(stdout.contains("0 of "), "{stdout}");
}

#[test]
fn command_rejects_a_missing_token_file() {
    let output = Command::new(COMMAND)
        .args([
            "--base-url",
            "http://127.0.0.1:9/beta",
            "--token-file",
            "/no/such/file",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("failed to read --token-file /no/such/file"),
        "{stderr}"
    );
}
