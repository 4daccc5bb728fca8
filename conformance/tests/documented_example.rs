//! Holds the success response against the documentation's example
//! exchange, with the example's known errors as named exceptions.

use chrono::{SubsecRound, Utc};
use conformance::compare::{check_validity, compare_with_example, describe, describe_example};
use conformance::exchange::{send, Request};
use conformance::fixture::DocumentedExample;
use conformance::target::{profiles, Target};

#[tokio::test]
async fn success_matches_documented_example() {
    let example = DocumentedExample::load().unwrap();
    let target = Target::from_env().await.unwrap();

    let before = Utc::now().trunc_subsecs(0);
    let exchange = send(&target, &Request::authorized(&target, profiles::READY))
        .await
        .unwrap();
    let after = Utc::now().trunc_subsecs(0);

    if let Err(error) = compare_with_example(&example, &exchange) {
        panic!("{error}");
    }
    check_validity(&exchange, (before, after)).unwrap();
}

#[test]
fn example_exceptions_are_named_and_current() {
    let example = DocumentedExample::load().unwrap();
    let status = example
        .exception("status")
        .expect("the 201-vs-200 exception is in the fixture");
    assert_eq!(status.name, "status-201-in-example");
    assert_eq!(status.documented, "201");
    assert_eq!(status.expected.as_deref(), Some("200"));
    assert!(!status.reason.is_empty());
    // The exceptions apply: the described example expects 200.
    let described = describe_example(&example).unwrap();
    assert_eq!(described[0], ("status".to_string(), "200".to_string()));
}

#[test]
fn mismatch_is_reported_as_diff() {
    let example = DocumentedExample::load().unwrap();
    let mut body = example.response.body.clone();
    body["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#String".into();
    body["value"] = body["value"]
        .as_str()
        .unwrap()
        .replace("&sp=w", "&sp=rw")
        .into();
    let exchange = conformance::exchange::Exchange {
        request: String::new(),
        request_headers: Default::default(),
        status: 201,
        headers: [("content-type".to_string(), "text/plain".to_string())].into(),
        body,
    };
    let report = compare_with_example(&example, &exchange)
        .unwrap_err()
        .to_string();
    for line in [
        "-status: 200",
        "+status: 201",
        "-content-type: application/json",
        "+content-type: text/plain",
        "-@odata.context: https://graph.microsoft.com/beta/$metadata#String",
        "+@odata.context: https://graph.microsoft.com/v1.0/$metadata#String",
        "-value sp: w",
        "+value sp: rw",
    ] {
        assert!(report.contains(line), "missing {line:?} in:\n{report}");
    }
}

#[test]
fn malformed_url_parts_are_not_hidden() {
    let cases = [
        ("sig=abc", "value sig: abc"),
        ("se=2017-07-04T08:43:01Z", "value se: 2017-07-04T08:43:01Z"),
        ("si=Policy1", "value si: Policy1"),
    ];
    let example = DocumentedExample::load().unwrap();
    let documented = example.response.body["value"].as_str().unwrap().to_string();
    for (replacement, expected) in cases {
        let name = replacement.split('=').next().unwrap();
        let value = documented
            .split('&')
            .map(|pair| {
                if pair.starts_with(&format!("{name}=")) {
                    replacement
                } else {
                    pair
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        let body = serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#String",
            "value": value,
        });
        let described = describe(200, Some("application/json"), &body);
        let line = format!(
            "{}: {}",
            described
                .iter()
                .find(|(f, _)| f == &format!("value {name}"))
                .unwrap()
                .0,
            described
                .iter()
                .find(|(f, _)| f == &format!("value {name}"))
                .unwrap()
                .1
        );
        assert_eq!(line, expected);
    }
}
