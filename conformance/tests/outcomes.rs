//! Snapshots of every uploadUrl outcome, over raw HTTP and through the
//! generated client.
//!
//! Review changed snapshots with `cargo insta review`.

use conformance::exchange::{send, snapshot_settings, Exchange, Request};
use conformance::target::{profiles, Target};
use serde::Serialize;

async fn exchange(target: &Target, request: Request) -> Exchange {
    send(target, &request)
        .await
        .unwrap_or_else(|error| panic!("{request:?}: {error:#}"))
}

fn assert_snapshot(name: &str, exchange: &Exchange) {
    snapshot_settings().bind(|| insta::assert_json_snapshot!(name, exchange));
}

#[tokio::test]
async fn upload_url_ok() {
    let target = Target::from_env().await.unwrap();
    let response = exchange(&target, Request::authorized(&target, profiles::READY)).await;
    assert_eq!(response.status, 200);
    assert_snapshot("upload_url_ok", &response);
}

#[tokio::test]
async fn upload_url_ok_echoes_client_request_id() {
    let target = Target::from_env().await.unwrap();
    let request = Request::authorized(&target, profiles::READY)
        .with_header("client-request-id", "7b0e3f0c-conformance-client-id");
    let response = exchange(&target, request).await;
    assert_eq!(response.status, 200);
    assert_snapshot("upload_url_ok_echoes_client_request_id", &response);
}

#[tokio::test]
async fn upload_url_bad_request_provider() {
    let target = Target::from_env().await.unwrap();
    let response = exchange(&target, Request::authorized(&target, profiles::POWERSCHOOL)).await;
    assert_eq!(response.status, 400);
    assert_snapshot("upload_url_bad_request_provider", &response);
}

#[tokio::test]
async fn upload_url_bad_request_id() {
    let target = Target::from_env().await.unwrap();
    let response = exchange(&target, Request::authorized(&target, "not-a-guid")).await;
    assert_eq!(response.status, 400);
    assert_snapshot("upload_url_bad_request_id", &response);
}

#[tokio::test]
async fn upload_url_unauthorized_missing() {
    let target = Target::from_env().await.unwrap();
    let request = Request::authorized(&target, profiles::READY).with_authorization(None);
    let response = exchange(&target, request).await;
    assert_eq!(response.status, 401);
    assert_snapshot("upload_url_unauthorized_missing", &response);
}

#[tokio::test]
async fn upload_url_unauthorized_scheme() {
    let target = Target::from_env().await.unwrap();
    let request = Request::authorized(&target, profiles::READY)
        .with_authorization(Some("Basic dXNlcjpwYXNzd29yZA=="))
        .with_header("client-request-id", "conformance-basic-auth");
    let response = exchange(&target, request).await;
    assert_eq!(response.status, 401);
    assert_snapshot("upload_url_unauthorized_scheme", &response);
}

#[tokio::test]
async fn upload_url_not_found() {
    let target = Target::from_env().await.unwrap();
    let response = exchange(&target, Request::authorized(&target, profiles::UNKNOWN)).await;
    assert_eq!(response.status, 404);
    assert_snapshot("upload_url_not_found", &response);
}

#[tokio::test]
async fn upload_url_conflict_upload_in_progress() {
    let target = Target::from_env().await.unwrap();
    let response = exchange(
        &target,
        Request::authorized(&target, profiles::UPLOAD_IN_PROGRESS),
    )
    .await;
    assert_eq!(response.status, 409);
    assert_snapshot("upload_url_conflict_upload_in_progress", &response);
}

#[tokio::test]
async fn upload_url_conflict_provisioning() {
    let target = Target::from_env().await.unwrap();
    let response = exchange(
        &target,
        Request::authorized(&target, profiles::PROVISIONING),
    )
    .await;
    assert_eq!(response.status, 409);
    assert_snapshot("upload_url_conflict_provisioning", &response);
}

/// What the generated client returns, reduced to what snapshots compare.
#[derive(Serialize)]
#[serde(tag = "result")]
enum ClientOutcome {
    Ok {
        odata_context: String,
        value: String,
    },
    GraphError {
        status: u16,
        code: String,
        message: String,
    },
}

async fn client_outcome(target: &Target, profile_id: &str) -> ClientOutcome {
    match target.client().upload_url(profile_id).await {
        Ok(response) => ClientOutcome::Ok {
            odata_context: response.odata_context,
            value: response.value,
        },
        Err(uploadurl_client::Error::Graph(error)) => {
            assert!(
                !error.request_id.is_empty(),
                "Graph error without a request id: {error}"
            );
            ClientOutcome::GraphError {
                status: error.status.as_u16(),
                code: error.code,
                message: error.message,
            }
        }
        Err(error) => panic!("the client did not decode a Graph response: {error:#?}"),
    }
}

#[tokio::test]
async fn client_decodes_every_outcome() {
    let target = Target::from_env().await.unwrap();
    let cases = [
        ("client_upload_url_ok", profiles::READY),
        (
            "client_upload_url_bad_request_provider",
            profiles::POWERSCHOOL,
        ),
        ("client_upload_url_not_found", profiles::UNKNOWN),
        (
            "client_upload_url_conflict_upload_in_progress",
            profiles::UPLOAD_IN_PROGRESS,
        ),
        (
            "client_upload_url_conflict_provisioning",
            profiles::PROVISIONING,
        ),
    ];
    for (name, profile_id) in cases {
        let outcome = client_outcome(&target, profile_id).await;
        snapshot_settings().bind(|| {
            insta::assert_json_snapshot!(name, outcome, {
                ".value" => insta::dynamic_redaction(|value, _| {
                    conformance::exchange::redact_sas_url(&value)
                }),
            })
        });
    }
}

#[tokio::test]
async fn client_decodes_unauthorized() {
    let target = Target::from_env().await.unwrap();
    let client = uploadurl_client::UploadUrlClient::new(&target.base_url, "").unwrap();
    let error = client.upload_url(profiles::READY).await.unwrap_err();
    let graph = error
        .graph()
        .unwrap_or_else(|| panic!("not a Graph error: {error:#?}"));
    let outcome = ClientOutcome::GraphError {
        status: graph.status.as_u16(),
        code: graph.code.clone(),
        message: graph.message.clone(),
    };
    snapshot_settings()
        .bind(|| insta::assert_json_snapshot!("client_upload_url_unauthorized", outcome));
}

/// The document types `id` as `format: uuid`, so the client sends only
/// hyphenated GUIDs. The raw request tests check the server's 400 for other
/// ids.
#[tokio::test]
async fn client_rejects_ids_that_are_not_guids() {
    let target = Target::from_env().await.unwrap();
    let braced = format!("{{{}}}", profiles::READY);
    let urn = format!("urn:uuid:{}", profiles::READY);
    let simple = profiles::READY.replace('-', "");
    for id in ["", ".", "..", "not-a-guid", &braced, &urn, &simple] {
        let error = target.client().upload_url(id).await.unwrap_err();
        assert!(
            matches!(error, uploadurl_client::Error::InvalidProfileId(ref rejected) if rejected == id),
            "{id:?}: {error:#?}"
        );
    }
    let upper = profiles::READY.to_ascii_uppercase();
    let response = target.client().upload_url(&upper).await.unwrap();
    assert!(response.value.contains("sv="), "{}", response.value);
}

#[tokio::test]
async fn unknown_path_not_found() {
    let target = Target::from_env().await.unwrap();
    let request = Request::authorized(&target, profiles::READY).with_path(&format!(
        "/education/synchronizationProfiles/{}/uploadurl",
        profiles::READY
    ));
    let response = exchange(&target, request).await;
    assert_eq!(response.status, 404);
    assert_snapshot("unknown_path_not_found", &response);
}

#[tokio::test]
async fn other_method_not_allowed() {
    let target = Target::from_env().await.unwrap();
    let request = Request::authorized(&target, profiles::READY).with_method("POST");
    let response = exchange(&target, request).await;
    assert_eq!(response.status, 405);
    assert_eq!(
        response.headers.get("allow").map(String::as_str),
        Some("GET")
    );
    assert_snapshot("other_method_not_allowed", &response);
}

#[tokio::test]
async fn lowercase_method_not_allowed() {
    // Method names are case-sensitive (RFC 9110 section 9.1): `get` is not GET.
    let target = Target::from_env().await.unwrap();
    let request = Request::authorized(&target, profiles::READY).with_method("get");
    let response = exchange(&target, request).await;
    assert_eq!(response.status, 405);
    assert_eq!(response.body["error"]["code"], "MethodNotAllowed");
}

#[tokio::test]
async fn empty_id_bad_request() {
    let target = Target::from_env().await.unwrap();
    let response = exchange(&target, Request::authorized(&target, "")).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body["error"]["code"], "BadRequest");
}

#[tokio::test]
async fn client_decodes_router_errors() {
    let target = Target::from_env().await.unwrap();
    // A client configured for another version of Graph reaches no resource.
    let base_url = target.base_url.replace("/beta", "/v1.0");
    let client = uploadurl_client::UploadUrlClient::new(&base_url, &target.token).unwrap();
    let error = client.upload_url(profiles::READY).await.unwrap_err();
    let graph = error
        .graph()
        .unwrap_or_else(|| panic!("not a Graph error: {error:#?}"));
    assert_eq!(graph.status.as_u16(), 404);
    assert_eq!(graph.code, "ResourceNotFound");
    assert_eq!(graph.message, "Resource not found for the segment 'v1.0'.");
}
