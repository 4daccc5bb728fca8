//! The token rules, held against the in-process mock with tokens minted for
//! each case. Review changed snapshots with `cargo insta review`.

use std::collections::BTreeMap;

use base64::Engine as _;
use conformance::exchange::{send, snapshot_settings, Request};
use conformance::target::{profiles, Target};
use serde::Serialize;
use uploadurl_server::token::{TokenRequest, GRAPH_AUDIENCES};

/// Status, code and message of one response.
#[derive(Serialize)]
struct Outcome {
    status: u16,
    code: Option<String>,
    message: Option<String>,
}

async fn outcome(target: &Target, token: &str) -> Outcome {
    let request = Request::authorized(target, profiles::READY)
        .with_authorization(Some(&format!("Bearer {token}")));
    let exchange = send(target, &request)
        .await
        .unwrap_or_else(|e| panic!("{token}: {e:#}"));
    let text = |pointer: &str| {
        exchange
            .body
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    Outcome {
        status: exchange.status,
        code: text("/error/code"),
        message: text("/error/message"),
    }
}

fn encode(json: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// Replaces the header of a token, keeping payload and signature.
fn with_header(token: &str, header: &str) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", encode(header))
}

/// Replaces the payload of a token, keeping header and signature.
fn with_payload(token: &str, payload: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = encode(payload);
    parts.join(".")
}

#[tokio::test]
async fn token_rules() {
    let target = Target::start_mock(&[]).await.unwrap();
    let other_key = Target::start_mock(&[]).await.unwrap();
    let mint = |request: TokenRequest| target.mint(&request).unwrap();
    let valid = mint(TokenRequest::default());
    let application = TokenRequest {
        application: true,
        ..Default::default()
    };

    let cases: Vec<(&str, String)> = vec![
        ("delegated_with_scope", valid.clone()),
        (
            "delegated_graph_app_id_audience",
            mint(TokenRequest {
                audience: GRAPH_AUDIENCES[1].into(),
                ..Default::default()
            }),
        ),
        (
            "delegated_without_scope",
            mint(TokenRequest {
                scopes: vec!["User.Read".into(), "Mail.Read".into()],
                ..Default::default()
            }),
        ),
        ("application", mint(application.clone())),
        (
            "personal_account",
            mint(TokenRequest {
                personal: true,
                ..Default::default()
            }),
        ),
        (
            "expired",
            mint(TokenRequest {
                expires_in: -60,
                ..Default::default()
            }),
        ),
        (
            "not_yet_valid",
            mint(TokenRequest {
                not_before_in: 600,
                ..Default::default()
            }),
        ),
        (
            "wrong_audience",
            mint(TokenRequest {
                audience: "api://contoso-app".into(),
                ..Default::default()
            }),
        ),
        (
            "signed_with_another_key",
            other_key.mint(&TokenRequest::default()).unwrap(),
        ),
        (
            "alg_none",
            format!(
                "{}.",
                with_header(&valid, r#"{"alg":"none","typ":"JWT"}"#)
                    .rsplit_once('.')
                    .unwrap()
                    .0
            ),
        ),
        (
            "alg_rs256",
            with_header(&valid, r#"{"alg":"RS256","typ":"JWT"}"#),
        ),
        (
            "kid_unknown",
            with_header(&valid, r#"{"alg":"HS256","typ":"JWT","kid":"no-such-key"}"#),
        ),
        (
            "payload_not_an_object",
            with_payload(&valid, "[\"EduAdministration.ReadWrite\"]"),
        ),
        (
            "payload_altered",
            with_payload(
                &valid,
                r#"{"aud":"https://graph.microsoft.com","exp":4102444800,"scp":"EduAdministration.ReadWrite"}"#,
            ),
        ),
        ("not_a_jwt", "opaque-token-value".to_string()),
    ];
    let mut outcomes = BTreeMap::new();
    for (name, token) in cases {
        outcomes.insert(name, outcome(&target, &token).await);
    }
    assert_eq!(outcomes["delegated_with_scope"].status, 200);
    assert_eq!(outcomes["delegated_without_scope"].status, 403);
    assert_eq!(outcomes["application"].status, 403);
    assert_eq!(outcomes["personal_account"].status, 403);
    for name in [
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "signed_with_another_key",
        "alg_none",
        "alg_rs256",
        "kid_unknown",
        "payload_not_an_object",
        "payload_altered",
        "not_a_jwt",
    ] {
        assert_eq!(outcomes[name].status, 401, "{name}");
    }
    snapshot_settings().bind(|| insta::assert_json_snapshot!("token_rules", outcomes));
}

#[tokio::test]
async fn application_permission_when_accepted() {
    let target = Target::start_mock(&["--accept-application-permission"])
        .await
        .unwrap();
    let application = TokenRequest {
        application: true,
        ..Default::default()
    };
    let accepted = outcome(&target, &target.mint(&application).unwrap()).await;
    assert_eq!(accepted.status, 200);
    let other_role = TokenRequest {
        roles: vec!["User.Read.All".into()],
        ..application
    };
    let denied = outcome(&target, &target.mint(&other_role).unwrap()).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.code.as_deref(), Some("Authorization_RequestDenied"));
}

#[tokio::test]
async fn skipped_signature_verification_checks_claims() {
    let issuer = Target::start_mock(&[]).await.unwrap();
    let target = Target::start_mock(&["--skip-signature-verification"])
        .await
        .unwrap();
    // The mock under test has no key, so the token of another mock stands for
    // a real Microsoft Entra ID token.
    let foreign = issuer.mint(&TokenRequest::default()).unwrap();
    assert_eq!(outcome(&target, &foreign).await.status, 200);
    let expired = issuer
        .mint(&TokenRequest {
            expires_in: -1,
            ..Default::default()
        })
        .unwrap();
    let response = outcome(&target, &expired).await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.message.as_deref(),
        Some("Access token has expired.")
    );
    let unscoped = issuer
        .mint(&TokenRequest {
            scopes: vec!["User.Read".into()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(outcome(&target, &unscoped).await.status, 403);
}

#[tokio::test]
async fn client_decodes_forbidden() {
    let target = Target::start_mock(&[]).await.unwrap();
    let token = target
        .mint(&TokenRequest {
            personal: true,
            ..Default::default()
        })
        .unwrap();
    let client = uploadurl_client::UploadUrlClient::new(&target.base_url, &token).unwrap();
    let error = client.upload_url(profiles::READY).await.unwrap_err();
    let graph = error
        .graph()
        .unwrap_or_else(|| panic!("not a Graph error: {error:#?}"));
    assert_eq!(graph.status.as_u16(), 403);
    assert_eq!(graph.code, "Authorization_RequestDenied");
    assert!(!graph.request_id.is_empty());
}
