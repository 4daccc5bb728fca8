//! The request forms that real Graph clients send: the URL forms of the
//! function and of the key, and the headers of Microsoft's SDKs. Each gets
//! the same response as the documented form.

use conformance::exchange::{send, Exchange, Request};
use conformance::sas_url::SasUrl;
use conformance::target::{profiles, Target};

/// Checks a 200 with the documented body and a URL for the ready profile.
fn assert_served(case: &str, exchange: &Exchange, container: &str) {
    assert_eq!(exchange.status, 200, "{case}: {exchange:?}");
    assert_eq!(
        exchange.body["@odata.context"], "https://graph.microsoft.com/beta/$metadata#String",
        "{case}"
    );
    let url = SasUrl::parse(exchange.body["value"].as_str().unwrap()).unwrap();
    assert!(url.path.ends_with(container), "{case}: {}", url.path);
}

async fn container_of_ready(target: &Target) -> String {
    let exchange = send(target, &Request::authorized(target, profiles::READY))
        .await
        .unwrap();
    let url = SasUrl::parse(exchange.body["value"].as_str().unwrap()).unwrap();
    url.path.rsplit('/').next().unwrap().to_string()
}

#[tokio::test]
async fn url_forms_are_served() {
    let target = Target::from_env().await.unwrap();
    let container = container_of_ready(&target).await;
    let id = profiles::READY;
    let base = "/education/synchronizationProfiles";
    let forms = [
        ("documented", format!("{base}/{id}/uploadUrl")),
        ("SDK function call", format!("{base}/{id}/uploadUrl()")),
        (
            "encoded parentheses",
            format!("{base}/{id}/uploadUrl%28%29"),
        ),
        (
            "qualified call",
            format!("{base}/{id}/microsoft.graph.uploadUrl()"),
        ),
        (
            "qualified name",
            format!("{base}/{id}/microsoft.graph.uploadUrl"),
        ),
        (
            "alias-qualified call",
            format!("{base}/{id}/graph.uploadUrl()"),
        ),
        ("key predicate", format!("{base}('{id}')/uploadUrl()")),
        (
            "encoded key predicate",
            format!("{base}(%27{id}%27)/uploadUrl"),
        ),
        ("unquoted key predicate", format!("{base}({id})/uploadUrl")),
        (
            "upper-case key",
            format!("{base}/{}/uploadUrl()", id.to_uppercase()),
        ),
        ("trailing slash", format!("{base}/{id}/uploadUrl/")),
    ];
    for (case, path) in forms {
        let request = Request::authorized(&target, id).with_path(&path);
        let exchange = send(&target, &request)
            .await
            .unwrap_or_else(|error| panic!("{case}: {error}"));
        assert_served(case, &exchange, &container);
    }
}

#[tokio::test]
async fn sdk_headers_are_accepted() {
    let target = Target::from_env().await.unwrap();
    let container = container_of_ready(&target).await;
    let long_odata = "application/json;odata.metadata=minimal;odata.streaming=true;\
                      IEEE754Compatible=false;charset=utf-8";
    let cases: [(&str, &[(&str, &str)]); 8] = [
        ("Kiota's Accept", &[("accept", "application/json")]),
        ("Accept with q", &[("accept", "application/json;q=1")]),
        (
            "Accept list with q values",
            &[(
                "accept",
                "application/json;q=0.9, text/plain;q=0.5, */*;q=0.1",
            )],
        ),
        ("long OData Accept", &[("accept", long_odata)]),
        ("any Accept", &[("accept", "*/*")]),
        (
            "Content-Type with charset",
            &[("content-type", "application/json; charset=utf-8")],
        ),
        ("long OData Content-Type", &[("content-type", long_odata)]),
        (
            "SDK telemetry headers",
            &[
                ("user-agent", "kiota-dotnet/1.17.1"),
                (
                    "sdkversion",
                    "graph-dotnet-beta/5.0.0, graph-dotnet-core/3.2.0 (featureUsage=0000000F; \
                     hostOS=Linux; hostArch=X64; runtimeEnvironment=.NETCoreApp,Version=v8.0;)",
                ),
                ("client-request-id", "4f6c2d0a-1b3e-4c5d-8e7f-9a0b1c2d3e4f"),
                ("accept-encoding", "gzip"),
                ("cache-control", "no-cache, no-store"),
            ],
        ),
    ];
    for (case, headers) in cases {
        let mut request = Request::authorized(&target, profiles::READY);
        for (name, value) in headers {
            request = request.with_header(name, value);
        }
        let exchange = send(&target, &request)
            .await
            .unwrap_or_else(|error| panic!("{case}: {error}"));
        assert_served(case, &exchange, &container);
    }
}
