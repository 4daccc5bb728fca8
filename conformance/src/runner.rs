//! The conformance checks as one list, for the `conformance` command and
//! the in-process tests alike: the documented example and the error
//! scenarios, each passing or failing with a diff.

use chrono::{SubsecRound, Utc};

use crate::compare::{check_validity, compare_with_example};
use crate::exchange::{capture, Exchange, Request};
use crate::fixture::DocumentedExample;
use crate::schema::ResponseSchemas;
use crate::target::{profiles, Target};

/// The result of one check.
#[derive(Debug)]
pub struct Check {
    /// The rule the check applies to the server.
    pub name: &'static str,
    /// `Err` with what differs, as a unified diff where one applies.
    pub outcome: Result<(), String>,
}

/// An error scenario: the request and the status and Graph error code
/// expected.
pub struct Scenario {
    /// The scenario's name in the report: what it sends and expects.
    pub name: &'static str,
    /// The request.
    pub request: Request,
    /// The expected status.
    pub status: u16,
    /// The expected Graph error code.
    pub code: &'static str,
    /// Whether the checked-in document describes the request: its path and
    /// method, with a bearer credential. A validating proxy such as Prism
    /// responds to a request outside the document itself instead of passing
    /// it on.
    pub described: bool,
}

/// Runs every check against `target`, in order.
pub async fn run_all(target: &Target) -> Vec<Check> {
    let mut checks = vec![Check {
        name: "documented example",
        outcome: documented_example(target).await,
    }];
    for scenario in scenarios(target) {
        checks.push(Check {
            name: scenario.name,
            outcome: error_scenario(target, &scenario).await,
        });
    }
    checks
}

/// Compares the response for the ready profile with the documentation
/// page's example, checks it against the document's schema and checks the
/// URL's validity window.
pub async fn documented_example(target: &Target) -> Result<(), String> {
    let example = DocumentedExample::load().map_err(|error| format!("{error:#}"))?;
    let before = Utc::now().trunc_subsecs(0);
    let exchange = capture(target, &Request::authorized(target, profiles::READY))
        .await
        .map_err(|error| format!("{error:#}"))?;
    let after = Utc::now().trunc_subsecs(0);
    compare_with_example(&example, &exchange).map_err(|error| format!("{error:#}"))?;
    schema_check(&exchange)?;
    check_validity(&exchange, (before, after)).map_err(|error| format!("{error:#}"))
}

fn schema_check(exchange: &Exchange) -> Result<(), String> {
    ResponseSchemas::checked_in().validate(exchange.status, &exchange.body)
}

/// Returns the error scenarios, with requests carrying `target`'s token.
pub fn scenarios(target: &Target) -> Vec<Scenario> {
    let authorized = |id: &str| Request::authorized(target, id);
    vec![
        Scenario {
            name: "no Authorization header: 401",
            request: authorized(profiles::READY).with_authorization(None),
            status: 401,
            code: "InvalidAuthenticationToken",
            described: false,
        },
        Scenario {
            name: "Basic scheme: 401",
            request: authorized(profiles::READY).with_authorization(Some("Basic dXNlcjpwYXNz")),
            status: 401,
            code: "InvalidAuthenticationToken",
            described: false,
        },
        Scenario {
            name: "id that is not a GUID: 400",
            request: authorized("not-a-guid"),
            status: 400,
            code: "BadRequest",
            described: true,
        },
        Scenario {
            name: "unknown profile: 404",
            request: authorized(profiles::UNKNOWN),
            status: 404,
            code: "ResourceNotFound",
            described: true,
        },
        Scenario {
            name: "upload in progress: 409",
            request: authorized(profiles::UPLOAD_IN_PROGRESS),
            status: 409,
            code: "Conflict",
            described: true,
        },
        Scenario {
            name: "profile still provisioning: 409",
            request: authorized(profiles::PROVISIONING),
            status: 409,
            code: "Conflict",
            described: true,
        },
        Scenario {
            name: "data provider other than CSV: 400",
            request: authorized(profiles::POWERSCHOOL),
            status: 400,
            code: "BadRequest",
            described: true,
        },
        Scenario {
            name: "POST: 405",
            request: authorized(profiles::READY).with_method("POST"),
            status: 405,
            code: "MethodNotAllowed",
            described: false,
        },
        Scenario {
            name: "unknown path: 404",
            request: authorized(profiles::READY).with_path("/education/nothingHere"),
            status: 404,
            code: "ResourceNotFound",
            described: false,
        },
    ]
}

/// Sends the scenario's request and compares the status and error code,
/// then the body against the document's schema.
pub async fn error_scenario(target: &Target, scenario: &Scenario) -> Result<(), String> {
    // `capture` checks the ids and the framing; the scenario adds the
    // status and the code, then the body against the document's schema.
    let exchange = capture(target, &scenario.request)
        .await
        .map_err(|error| format!("{error:#}"))?;
    let expected = format!("status: {}\ncode: {}\n", scenario.status, scenario.code);
    let actual = outcome(&exchange);
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, &actual)
            .unified_diff()
            .header("expected", "response")
            .to_string();
        return Err(match schema_check(&exchange) {
            Ok(()) => diff,
            Err(schema) => format!("{diff}{schema}"),
        });
    }
    schema_check(&exchange)
}

fn outcome(exchange: &Exchange) -> String {
    let code = exchange.body["error"]["code"].as_str().unwrap_or("(none)");
    format!("status: {}\ncode: {code}\n", exchange.status)
}

/// Renders the results, one `PASS` or `FAIL` line per check with each
/// failure's diff indented below it, and returns whether all passed.
pub fn render(checks: &[Check]) -> (String, bool) {
    let mut text = String::new();
    let mut passed = 0;
    for check in checks {
        match &check.outcome {
            Ok(()) => {
                passed += 1;
                text.push_str(&format!("PASS {}\n", check.name));
            }
            Err(diff) => {
                text.push_str(&format!("FAIL {}\n", check.name));
                for line in diff.lines() {
                    text.push_str(&format!("     {line}\n"));
                }
            }
        }
    }
    text.push_str(&format!("{passed} of {} checks passed\n", checks.len()));
    (text, passed == checks.len())
}
