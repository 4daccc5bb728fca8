//! Storage failures in `--storage` modes: each gives the caller Graph's 503
//! with a message that names the failed call, within the storage time-out,
//! and never the account key.

use std::time::{Duration, Instant};

use conformance::services::Azurite;
use conformance::target::{profiles, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A key that is valid base64 but not the account's.
const WRONG_KEY: &str = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmc=";

/// Calls uploadUrl and checks Graph's 503; returns the error message.
async fn storage_failure(target: &Target) -> String {
    let error = target
        .client()
        .upload_url(profiles::READY)
        .await
        .expect_err("a storage failure is an error");
    let uploadurl_client::Error::Graph(graph) = error else {
        panic!("expected a Graph error, got {error}");
    };
    assert_eq!(graph.status, 503);
    assert_eq!(graph.code, "serviceNotAvailable");
    assert!(!graph.message.contains(WRONG_KEY), "{}", graph.message);
    graph.message
}

fn azure_flags(endpoint: &str) -> Vec<String> {
    [
        "--storage",
        "azure",
        "--storage-account",
        "devstoreaccount1",
        "--blob-endpoint",
        endpoint,
    ]
    .map(str::to_string)
    .to_vec()
}

async fn start(flags: &[String]) -> Target {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Target::start_mock(&flags).await.unwrap()
}

#[tokio::test]
async fn unreachable_storage_gives_503() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let target = start(&azure_flags(&format!(
        "http://127.0.0.1:{port}/devstoreaccount1"
    )))
    .await;

    let message = storage_failure(&target).await;
    assert!(message.contains("Create Container failed"), "{message}");
    assert!(message.contains("is not reachable"), "{message}");
}

#[tokio::test]
async fn storage_server_error_gives_503() {
    // A blob service that fails every request with 500.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/devstoreaccount1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let response = "HTTP/1.1 500 Internal Server Error\r\nx-ms-error-code: \
                                InternalError\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    let target = start(&azure_flags(&endpoint)).await;

    let message = storage_failure(&target).await;
    assert!(
        message.contains("Create Container failed with 500 InternalError"),
        "{message}"
    );
}

#[tokio::test]
async fn silent_storage_times_out() {
    // A blob service that accepts connections and never responds.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/devstoreaccount1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut open_connections = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open_connections.push(stream);
        }
    });
    let target = start(&azure_flags(&endpoint)).await;

    // Calls for one container wait for each other, and each call's deadline
    // includes that wait, so every caller gets its 503 within about 12 s.
    let started = Instant::now();
    let messages = tokio::join!(
        storage_failure(&target),
        storage_failure(&target),
        storage_failure(&target),
        storage_failure(&target),
    );
    let elapsed = started.elapsed();
    let messages = [messages.0, messages.1, messages.2, messages.3];
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Create Container timed out after 10 s")),
        "{messages:?}"
    );
    for message in &messages {
        assert!(message.contains("timed out after"), "{message}");
    }
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[tokio::test]
async fn wrong_account_key_gives_503() {
    let Some(azurite) = Azurite::from_env("wrong_account_key_gives_503") else {
        return;
    };
    let mut flags = azurite.mock_flags().map(str::to_string).to_vec();
    flags.extend(["--storage-key".to_string(), WRONG_KEY.to_string()]);
    let target = start(&flags).await;

    let message = storage_failure(&target).await;
    assert!(message.contains("failed with 403"), "{message}");
    assert!(
        message.contains("check --storage-account and --storage-key"),
        "{message}"
    );
}
