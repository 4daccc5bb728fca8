//! The mock and the document checked by two independent tools. Schemathesis
//! generates requests from the document and checks every response. Prism,
//! as a validating proxy in front of the mock, checks the responses to every
//! conformance scenario. Each also runs against a
//! deliberately wrong server, to show that it fails there.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conformance::exchange::{fetch, Fetched, Request};
use conformance::runner;
use conformance::services::{self, PrismErrors, PrismProxy};
use conformance::target::{profiles, start_canned_server, Target};

/// How long Schemathesis may run: its bounded example count takes well
/// under a minute here.
const SCHEMATHESIS_TIMEOUT: Duration = Duration::from_secs(180);

fn document() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/uploadurl.json")
}

fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Starts a server that sends 200 with a body that lacks `@odata.context`
/// and without the `request-id` header, so that it breaks the document.
/// Returns its base URL.
async fn start_wrong_server() -> String {
    start_canned_server("", r#"{"value":5}"#).await.unwrap()
}

/// Runs Schemathesis with the checked-in settings against `base_url` and
/// returns whether it passed, with its output.
async fn run_schemathesis(schemathesis: &Path, base_url: &str, token: &str) -> (bool, String) {
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/schemathesis/schemathesis.toml");
    // Schemathesis keeps its replay cache and Hypothesis its data below
    // the working folder.
    let work = scratch(&format!("schemathesis-{}", base_url.len()));
    std::fs::create_dir_all(&work).unwrap();
    let child = tokio::process::Command::new(schemathesis)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(document())
        .args(["--url", base_url])
        .env("UPLOADURL_SCHEMATHESIS_TOKEN", token)
        .current_dir(&work)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(SCHEMATHESIS_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("Schemathesis ran longer than {SCHEMATHESIS_TIMEOUT:?}"))
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn schemathesis_finds_no_failure() {
    let Some(schemathesis) = services::schemathesis("schemathesis_finds_no_failure") else {
        return;
    };
    let mock = Target::start_mock(&[]).await.unwrap();
    let (passed, output) = run_schemathesis(&schemathesis, &mock.base_url, &mock.token).await;
    assert!(passed, "{output}");
    assert!(output.contains("No issues found"), "{output}");
}

#[tokio::test]
async fn schemathesis_fails_against_a_wrong_server() {
    let Some(schemathesis) = services::schemathesis("schemathesis_fails_against_a_wrong_server")
    else {
        return;
    };
    let base_url = start_wrong_server().await;
    let (passed, output) = run_schemathesis(&schemathesis, &base_url, "any-token").await;
    assert!(!passed, "{output}");
    assert!(output.contains("Response violates schema"), "{output}");
}

/// Returns the violations in Prism's `sl-violations` header that concern the
/// response. Those about the request (a route outside the document, a
/// missing credential) are what some scenarios test, so they are left out.
fn response_violations(fetched: &Fetched) -> Vec<serde_json::Value> {
    let Some(header) = fetched.headers.get("sl-violations") else {
        return Vec::new();
    };
    let violations: Vec<serde_json::Value> = serde_json::from_slice(header.as_bytes())
        .unwrap_or_else(|error| panic!("sl-violations is not a JSON array ({error}): {header:?}"));
    violations
        .into_iter()
        .filter(|violation| violation["location"][0] != "request")
        .collect()
}

/// Returns whether the body is one of Prism's own problem+json errors.
fn sent_by_prism(fetched: &Fetched) -> bool {
    serde_json::from_slice::<serde_json::Value>(&fetched.body)
        .ok()
        .and_then(|body| body["type"].as_str().map(str::to_string))
        .is_some_and(|kind| kind.starts_with("https://stoplight.io/prism/errors#"))
}

async fn start_proxies(prism: &Path, upstream: &str, name: &str) -> (PrismProxy, PrismProxy) {
    let document = document();
    let respond_log = scratch(&format!("prism-{name}-errors.log"));
    let report_log = scratch(&format!("prism-{name}-report.log"));
    tokio::try_join!(
        PrismProxy::start(
            prism,
            &document,
            upstream,
            PrismErrors::Respond,
            &respond_log
        ),
        PrismProxy::start(prism, &document, upstream, PrismErrors::Report, &report_log),
    )
    .unwrap()
}

#[tokio::test]
async fn prism_proxy_finds_no_violation_in_any_scenario() {
    let Some(prism) = services::prism("prism_proxy_finds_no_violation_in_any_scenario") else {
        return;
    };
    let mock = Target::start_mock(&[]).await.unwrap();
    let (strict, reporting) = start_proxies(&prism, &mock.base_url, "mock").await;
    let strict = Target::remote(&strict.base_url, &mock.token).unwrap();
    let reporting = Target::remote(&reporting.base_url, &mock.token).unwrap();
    let mut failures = Vec::new();

    for (label, target) in [("--errors", &strict), ("reporting", &reporting)] {
        if let Err(diff) = runner::documented_example(target).await {
            failures.push(format!("documented example through Prism {label}:\n{diff}"));
        }
    }
    let fetched = fetch(&reporting, &Request::authorized(&mock, profiles::READY))
        .await
        .unwrap();
    let violations = response_violations(&fetched);
    if !violations.is_empty() {
        failures.push(format!("documented example: violations {violations:?}"));
    }

    let scenarios = runner::scenarios(&mock);
    assert!(scenarios.iter().any(|scenario| !scenario.described));
    for scenario in &scenarios {
        // Without --errors, Prism passes every response on unchanged and
        // lists what it finds wrong.
        if let Err(diff) = runner::error_scenario(&reporting, scenario).await {
            failures.push(format!(
                "{} through Prism reporting:\n{diff}",
                scenario.name
            ));
        }
        let fetched = fetch(&reporting, &scenario.request).await.unwrap();
        let violations = response_violations(&fetched);
        if !violations.is_empty() {
            failures.push(format!("{}: violations {violations:?}", scenario.name));
        }

        // With --errors, a violation in the mock's response would become
        // Prism's 500; a request outside the document never reaches the
        // mock, and Prism responds to it with the same status.
        if scenario.described {
            if let Err(diff) = runner::error_scenario(&strict, scenario).await {
                failures.push(format!("{} through Prism --errors:\n{diff}", scenario.name));
            }
        } else {
            let fetched = fetch(&strict, &scenario.request).await.unwrap();
            if !sent_by_prism(&fetched) || fetched.status != scenario.status {
                failures.push(format!(
                    "{}: expected Prism's own {} for a request outside the document, got {} {}",
                    scenario.name,
                    scenario.status,
                    fetched.status,
                    String::from_utf8_lossy(&fetched.body)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn prism_proxy_reports_a_wrong_server() {
    let Some(prism) = services::prism("prism_proxy_reports_a_wrong_server") else {
        return;
    };
    let upstream = start_wrong_server().await;
    let (strict, reporting) = start_proxies(&prism, &upstream, "wrong").await;
    let strict = Target::remote(&strict.base_url, "any-token").unwrap();
    let reporting = Target::remote(&reporting.base_url, "any-token").unwrap();
    let request = Request::authorized(&strict, profiles::READY);

    let fetched = fetch(&strict, &request).await.unwrap();
    assert_eq!(fetched.status, 500, "{fetched:?}");
    assert!(sent_by_prism(&fetched), "{fetched:?}");

    let fetched = fetch(&reporting, &request).await.unwrap();
    assert_eq!(fetched.status, 200, "{fetched:?}");
    let violations = response_violations(&fetched);
    let text = serde_json::to_string(&violations).unwrap();
    assert!(text.contains("@odata.context"), "{text}");
    assert!(text.contains("request-id"), "{text}");
}
