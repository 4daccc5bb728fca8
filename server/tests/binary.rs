//! The `uploadurl-mock` binary as a user runs it: the printed curl command
//! returns 200, and invalid flags stop it with a message naming the value.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_uploadurl-mock");

/// Kills the server when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where a started binary's log goes: a new file in the folder named by
/// `UPLOADURL_TEST_LOG_DIR`, which `cargo xtask test` scans for secrets.
fn log_file() -> Stdio {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT_LOG: AtomicUsize = AtomicUsize::new(0);
    let Some(dir) = std::env::var_os("UPLOADURL_TEST_LOG_DIR") else {
        return Stdio::null();
    };
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!(
        "binary-{}-{}.log",
        std::process::id(),
        NEXT_LOG.fetch_add(1, Ordering::Relaxed)
    );
    Stdio::from(std::fs::File::create(std::path::Path::new(&dir).join(name)).unwrap())
}

/// The development key of the servers and tokens of this test binary, kept
/// below `target/` rather than in the system's temporary folder.
fn key_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("uploadurl-binary-{}.key", std::process::id()))
}

/// Starts the binary and returns it with the printed curl command's
/// Authorization header and URL.
fn start(extra: &[&str]) -> (Running, String, String) {
    start_with_stderr(extra, log_file())
}

/// As [`start`], with the server's log going to `stderr`.
fn start_with_stderr(extra: &[&str], stderr: Stdio) -> (Running, String, String) {
    let child = Command::new(BINARY)
        .args(["--listen", "127.0.0.1:0", "--signing-key"])
        .arg(key_path())
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the binary starts");
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(command) = line.trim().strip_prefix("curl ") {
            let header = command.split('\'').nth(1).unwrap().to_string();
            let url = command.split_whitespace().last().unwrap().to_string();
            return (running, header, url);
        }
        assert!(
            Instant::now() < deadline,
            "no curl command printed within 30 s"
        );
    }
    panic!("the binary exited without printing a curl command");
}

#[tokio::test]
async fn printed_curl_command_returns_200() {
    let (_server, header, url) = start(&[]);
    let (name, value) = header.split_once(": ").unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        url.contains("/beta/education/synchronizationProfiles/"),
        "{url}"
    );
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(&url)
        .header(name, value)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["@odata.context"],
        "https://graph.microsoft.com/beta/$metadata#String"
    );
    assert!(body["value"]
        .as_str()
        .unwrap()
        .starts_with("https://sdsstorage.blob.core.windows.net/"));
}

#[test]
fn invalid_flags_are_rejected_with_the_value() {
    let dir = std::env::temp_dir().join(format!("uploadurl-mock-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("profiles.json");
    std::fs::write(&broken, r#"{"value": [{"id": "abc"}]}"#).unwrap();
    let broken = broken.to_str().unwrap();
    let missing = dir.join("missing.json");
    let missing = missing.to_str().unwrap();

    let cases: &[(&[&str], &str)] = &[
        (
            &["--listen", "localhost"],
            "invalid value 'localhost' for '--listen <ADDR:PORT>': expected an IP address and port",
        ),
        (
            &["--storage-account", "Bad_Name"],
            "invalid --storage-account \"Bad_Name\"",
        ),
        (
            &["--storage-key", "***"],
            "invalid --storage-key: the value is not valid base64",
        ),
        (
            &["--blob-endpoint", "localhost:10000"],
            "invalid --blob-endpoint \"localhost:10000\"",
        ),
        (
            &["--service-root", "https://graph.microsoft.com/beta?x=1"],
            "query or fragment",
        ),
        (
            &["--profiles", broken],
            "invalid profile 0 in --profiles file",
        ),
        (
            &["--profiles", missing],
            "failed to read the --profiles file",
        ),
    ];
    for (flags, expected) in cases {
        let mut command = Command::new(BINARY);
        command.arg("--signing-key").arg(key_path());
        if !flags.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        let output = command.args(*flags).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{flags:?} started the server");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{flags:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unexpected_arguments_are_not_echoed() {
    let secret = "Zm9vYmFyU2VjcmV0S2V5VmFsdWU9PQ==";
    let cases: &[(&[&str], &str)] = &[
        (
            &[secret],
            "unexpected argument '[argument not shown]': the server takes only flags",
        ),
        (
            &["--listen", "127.0.0.1:0", secret],
            "its only subcommand is 'token'",
        ),
        (
            &[&format!("--storage-kye={secret}")],
            "unexpected argument '--storage-kye' found",
        ),
        (
            &["token", secret],
            "unexpected argument '[argument not shown]'",
        ),
        (
            &["token", &format!("--scop={secret}")],
            "unexpected argument '--scop' found",
        ),
    ];
    for (arguments, expected) in cases {
        let output = Command::new(BINARY).args(*arguments).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(stderr.contains(expected), "{arguments:?}: {stderr}");
        assert!(
            !stderr.contains("Zm9v"),
            "{arguments:?} echoed the value: {stderr}"
        );
    }
}

#[test]
fn short_stray_values_leave_the_message_whole() {
    let output = Command::new(BINARY)
        .args(["--listen", "127.0.0.1:0", "e"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: unexpected argument"), "{stderr}");
}

#[test]
fn version_is_printed() {
    let output = Command::new(BINARY).arg("--version").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.starts_with("uploadurl-mock "), "{stdout}");
}

#[test]
fn token_needs_an_existing_signing_key() {
    let missing = std::env::temp_dir().join(format!(
        "uploadurl-missing-{}/dev-signing-key",
        std::process::id()
    ));
    let output = Command::new(BINARY)
        .arg("token")
        .arg("--signing-key")
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(
        !missing.parent().unwrap().exists(),
        "the folder was created"
    );
}

#[tokio::test]
async fn closed_stdout_does_not_stop_the_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BINARY)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--signing-key"])
        .arg(key_path())
        .stdout(Stdio::piped())
        .stderr(log_file())
        .spawn()
        .unwrap();
    // Closing the read end makes the banner's write fail, as `| head -1` does.
    drop(child.stdout.take());
    let mut server = Running(child);
    let url = format!("http://127.0.0.1:{port}/beta/education");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(response) = http.get(&url).send().await {
            break response.status();
        }
        assert!(server.0.try_wait().unwrap().is_none(), "the server exited");
        assert!(Instant::now() < deadline, "no response within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 404);
}

/// Runs `uploadurl-mock token` with the test's key and returns the token.
fn mint(flags: &[&str]) -> String {
    let output = Command::new(BINARY)
        .arg("token")
        .arg("--signing-key")
        .arg(key_path())
        .args(flags)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn token_command_mints_each_case() {
    let (_server, _, url) = start(&[]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let cases: &[(&[&str], u16)] = &[
        (&[], 200),
        (&["--scope", "User.Read"], 403),
        (&["--app"], 403),
        (&["--personal"], 403),
        (&["--expires-in", "-10"], 401),
        (&["--not-before-in", "3600"], 401),
        (&["--audience", "api://other"], 401),
    ];
    for (flags, expected) in cases {
        let token = mint(flags);
        let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status().as_u16(), *expected, "{flags:?}");
    }
}

/// Sends SIGTERM to the server.
#[cfg(unix)]
fn send_sigterm(server: &Running) {
    let pid = server.0.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
}

/// Waits up to `limit` for the server to exit and returns its status;
/// fails with `message` when it is still running.
#[cfg(unix)]
async fn wait_for_exit(
    server: &mut Running,
    limit: Duration,
    message: &str,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(exit) = server.0.try_wait().unwrap() {
            return exit;
        }
        assert!(Instant::now() < deadline, "{message}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_gracefully() {
    let (mut server, header, url) = start(&[]);
    let (name, value) = header.split_once(": ").unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = http.get(&url).header(name, value).send().await.unwrap();
    assert_eq!(response.status(), 200);

    send_sigterm(&server);
    let exit = wait_for_exit(
        &mut server,
        Duration::from_secs(15),
        "still running 15 s after SIGTERM",
    )
    .await;
    assert!(exit.success(), "exit status {exit:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_waits_for_requests_in_flight() {
    // A blob service that never responds keeps a request in flight until the
    // storage time-out (10 s); SIGTERM arrives during that wait.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/devstoreaccount1", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut open_connections = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open_connections.push(stream);
        }
    });
    let flags = [
        "--storage",
        "azure",
        "--storage-account",
        "devstoreaccount1",
        "--blob-endpoint",
        &endpoint,
    ];
    let (mut server, header, url) = start(&flags);
    let (name, value) = header.split_once(": ").unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let request = tokio::spawn(http.get(&url).header(name, value).send());
    tokio::time::sleep(Duration::from_secs(1)).await;

    send_sigterm(&server);
    let response = request
        .await
        .unwrap()
        .expect("the request in flight completes");
    assert_eq!(response.status(), 503);
    let exit = wait_for_exit(
        &mut server,
        Duration::from_secs(15),
        "still running after the request completed",
    )
    .await;
    assert!(exit.success(), "exit status {exit:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_closes_silent_connections() {
    let (mut server, _header, url) = start(&[]);
    let address = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // Connections that have sent nothing have no request to finish.
    let _silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    send_sigterm(&server);
    let exit = wait_for_exit(
        &mut server,
        Duration::from_secs(5),
        "still running 5 s after SIGTERM",
    )
    .await;
    assert!(exit.success(), "exit status {exit:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn log_level_warning_leaves_out_request_lines() {
    for (level, request_lines) in [("info", 1), ("warning", 0)] {
        let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("log-level-{level}-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).unwrap();
        let (mut server, header, url) =
            start_with_stderr(&["--log-level", level], Stdio::from(file));
        let (name, value) = header.split_once(": ").unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = http.get(&url).header(name, value).send().await.unwrap();
        assert_eq!(response.status(), 200);
        send_sigterm(&server);
        let exit = wait_for_exit(&mut server, Duration::from_secs(15), "no exit").await;
        assert!(exit.success(), "exit status {exit:?}");

        let text = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(&log);
        assert_eq!(
            text.matches("\"msg\":\"request completed\"").count(),
            request_lines,
            "--log-level {level}: {text}"
        );
        if level == "warning" {
            assert!(!text.contains("\"level\":\"INFO\""), "{text}");
        }
    }
}
