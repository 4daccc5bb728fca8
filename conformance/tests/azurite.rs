//! Upload URLs against a real storage service: Azurite 3.35.0, started by
//! `cargo xtask test`. The mock runs with `--storage azurite`, so each
//! uploadUrl call creates the container and the stored access policy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conformance::sas_url::SasUrl;
use conformance::services::{self, Azurite};
use conformance::target::Target;
use uploadurl_client::upload::{UploadError, UploadOptions, Uploader};
use uploadurl_server::storage::MAX_POLICIES;

/// The six files of an SDS CSV (v1) upload.
const SDS_FILES: [&str; 6] = [
    "School.csv",
    "Section.csv",
    "Student.csv",
    "StudentEnrollment.csv",
    "Teacher.csv",
    "TeacherRoster.csv",
];

fn sds_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sds")
}

/// A mock with `extra` flags that serves one ready profile, `id`. Each test
/// has a profile of its own, so that no test rotates out the policies of
/// another's URLs.
struct Mock {
    target: Target,
    profile: String,
    dir: PathBuf,
}

impl Mock {
    async fn start(id: &str, extra: &[&str]) -> Mock {
        let dir =
            std::env::temp_dir().join(format!("uploadurl-azurite-{}-{id}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let profiles_file = dir.join("profiles.json");
        std::fs::write(&profiles_file, single_ready_profile(id)).unwrap();
        let mut flags = extra.to_vec();
        flags.extend(["--profiles", profiles_file.to_str().unwrap()]);
        let target = Target::start_mock(&flags).await.unwrap();
        Mock {
            target,
            profile: id.to_string(),
            dir,
        }
    }

    async fn upload_url(&self) -> String {
        self.target
            .client()
            .upload_url(&self.profile)
            .await
            .unwrap()
            .value
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn mock(azurite: &Azurite, id: &str) -> Mock {
    Mock::start(id, &azurite.mock_flags()).await
}

/// Returns the container's name: the last segment of the URL's path.
fn container(url: &str) -> String {
    let parsed = SasUrl::parse(url).unwrap();
    parsed.path.rsplit('/').next().unwrap().to_string()
}

fn uploader(url: &str) -> Uploader {
    Uploader::new(url, UploadOptions::default()).unwrap()
}

/// Waits for the next whole second, so that the next URL names a new policy.
async fn next_second() {
    let now = chrono::Utc::now();
    let wait = 1_000 - now.timestamp_subsec_millis().min(999) + 20;
    tokio::time::sleep(Duration::from_millis(u64::from(wait))).await;
}

#[tokio::test]
async fn sds_files_round_trip() {
    let Some(azurite) = Azurite::from_env("sds_files_round_trip") else {
        return;
    };
    let mock = mock(&azurite, "7d6c5b4a-3f2e-4d1c-8b0a-000000000001").await;
    let url = mock.upload_url().await;
    let mut reports = Vec::new();
    let uploaded = uploader(&url)
        .upload_folder(&sds_folder(), &mut |progress| {
            reports.push((progress.blob.to_string(), progress.sent, progress.total));
        })
        .await
        .unwrap();

    let names: Vec<&str> = uploaded
        .uploaded
        .iter()
        .map(|file| file.blob.as_str())
        .collect();
    assert_eq!(names, SDS_FILES);
    assert!(uploaded.skipped.is_empty(), "{:?}", uploaded.skipped);
    assert_eq!(reports.len(), 6, "{reports:?}");
    let admin = azurite.admin();
    for name in SDS_FILES {
        let expected = std::fs::read(sds_folder().join(name)).unwrap();
        let stored = admin.get_blob(&container(&url), name).await.unwrap();
        assert_eq!(stored, expected, "{name}");
    }
}

#[tokio::test]
async fn large_file_goes_up_in_blocks() {
    let Some(azurite) = Azurite::from_env("large_file_goes_up_in_blocks") else {
        return;
    };
    let mock = mock(&azurite, "7d6c5b4a-3f2e-4d1c-8b0a-000000000002").await;
    let url = mock.upload_url().await;
    let dir = std::env::temp_dir().join(format!("uploadurl-blocks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("Student.csv");
    let mut content = b"SIS ID,School SIS ID,Username\r\n".to_vec();
    for index in 0..200 {
        content.extend(format!("ST{index},S1,student{index}@contoso.example\r\n").bytes());
    }
    std::fs::write(&file, &content).unwrap();
    let options = UploadOptions {
        single_put_limit: 1024,
        block_size: 1000,
    };

    let mut sent = Vec::new();
    let uploaded = Uploader::new(&url, options)
        .unwrap()
        .upload_file(&file, &mut |progress| sent.push(progress.sent))
        .await
        .unwrap();

    assert_eq!(uploaded.blocks, content.len().div_ceil(1000));
    assert_eq!(sent.last().copied(), Some(content.len() as u64));
    let stored = azurite
        .admin()
        .get_blob(&container(&url), "Student.csv")
        .await
        .unwrap();
    assert_eq!(stored, content);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn url_is_write_only() {
    let Some(azurite) = Azurite::from_env("url_is_write_only") else {
        return;
    };
    let mock = mock(&azurite, "7d6c5b4a-3f2e-4d1c-8b0a-000000000003").await;
    let url = mock.upload_url().await;
    let uploader = uploader(&url);
    let school = sds_folder().join("School.csv");
    uploader.upload_file(&school, &mut |_| ()).await.unwrap();

    let read = mock
        .target
        .http()
        .get(uploader.blob_url("School.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 403, "reading a blob");
    let list = mock
        .target
        .http()
        .get(format!("{url}&restype=container&comp=list"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 403, "listing the container");
}

#[tokio::test]
async fn altered_signature_is_rejected() {
    let Some(azurite) = Azurite::from_env("altered_signature_is_rejected") else {
        return;
    };
    let mock = mock(&azurite, "7d6c5b4a-3f2e-4d1c-8b0a-000000000004").await;
    let url = mock.upload_url().await;
    let signature = SasUrl::parse(&url)
        .unwrap()
        .param("sig")
        .unwrap()
        .to_string();
    let first = signature.chars().next().unwrap();
    let replacement = if first == 'A' { "B" } else { "A" };
    let altered = url.replace(
        &format!("sig={signature}"),
        &format!("sig={replacement}{}", &signature[1..]),
    );

    let school = sds_folder().join("School.csv");
    let error = uploader(&altered)
        .upload_file(&school, &mut |_| ())
        .await
        .unwrap_err();
    let UploadError::Storage { status, code, .. } = &error else {
        panic!("expected a storage error, got {error}");
    };
    assert_eq!(*status, 403);
    // Azure's code is AuthenticationFailed; Azurite 3.35.0 sends
    // AuthorizationFailure for the same rejection.
    assert!(
        ["AuthenticationFailed", "AuthorizationFailure"].contains(&code.as_str()),
        "{code}"
    );
    let message = error.to_string();
    assert!(message.contains("School.csv"), "{message}");
    assert!(!message.contains(&signature[1..]), "{message}");
}

#[tokio::test]
async fn removed_policy_revokes_url() {
    let Some(azurite) = Azurite::from_env("removed_policy_revokes_url") else {
        return;
    };
    let mock = mock(&azurite, "7d6c5b4a-3f2e-4d1c-8b0a-000000000005").await;
    let url = mock.upload_url().await;
    let policy = SasUrl::parse(&url)
        .unwrap()
        .param("si")
        .unwrap()
        .to_string();
    let admin = azurite.admin();
    let container = container(&url);
    let mut policies = admin.get_policies(&container).await.unwrap();
    let before = policies.len();
    policies.retain(|entry| entry.id != policy);
    assert_eq!(policies.len(), before - 1, "the URL's policy exists");
    admin.set_policies(&container, &policies).await.unwrap();

    let school = sds_folder().join("School.csv");
    let error = uploader(&url)
        .upload_file(&school, &mut |_| ())
        .await
        .unwrap_err();
    assert!(
        matches!(error, UploadError::Storage { status: 403, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn policies_rotate_after_five() {
    let Some(azurite) = Azurite::from_env("policies_rotate_after_five") else {
        return;
    };
    let mock = mock(&azurite, "7d6c5b4a-3f2e-4d1c-8b0a-000000000006").await;
    let mut urls = Vec::new();
    for _ in 0..=MAX_POLICIES {
        next_second().await;
        urls.push(mock.upload_url().await);
    }

    let policy_of = |url: &str| SasUrl::parse(url).unwrap().param("si").unwrap().to_string();
    let container = container(&urls[0]);
    let stored: Vec<String> = azurite
        .admin()
        .get_policies(&container)
        .await
        .unwrap()
        .into_iter()
        .map(|policy| policy.id)
        .collect();
    let newest: Vec<String> = urls[1..].iter().map(|url| policy_of(url)).collect();
    assert_eq!(stored, newest, "the oldest policy is replaced");

    let school = sds_folder().join("School.csv");
    let error = uploader(&urls[0])
        .upload_file(&school, &mut |_| ())
        .await
        .unwrap_err();
    assert!(
        matches!(error, UploadError::Storage { status: 403, .. }),
        "the first URL is revoked: {error}"
    );
    for url in &urls[1..] {
        uploader(url)
            .upload_file(&school, &mut |_| ())
            .await
            .unwrap();
    }
}

fn single_ready_profile(id: &str) -> String {
    serde_json::json!([{
        "id": id,
        "displayName": "Rotation test",
        "state": "provisioned",
        "dataProvider": { "@odata.type": "#microsoft.graph.educationCsvDataProvider" },
        "profileStatus": { "status": "success" }
    }])
    .to_string()
}

#[tokio::test]
async fn signature_with_plus_survives() {
    let Some(azurite) = Azurite::from_env("signature_with_plus_survives") else {
        return;
    };
    let mock = mock(&azurite, "7d6c5b4a-3f2e-4d1c-8b0a-000000000007").await;
    // About half of all signatures contain `+`; 30 seconds of URLs leave a
    // chance of one in a billion to find none.
    let mut url = mock.upload_url().await;
    for _ in 0..30 {
        if url.contains("sig=")
            && SasUrl::parse(&url)
                .unwrap()
                .param("sig")
                .unwrap()
                .contains("%2B")
        {
            break;
        }
        next_second().await;
        url = mock.upload_url().await;
    }
    let signature = SasUrl::parse(&url)
        .unwrap()
        .param("sig")
        .unwrap()
        .to_string();
    assert!(signature.contains("%2B"), "no signature with + in 30 URLs");

    let school = sds_folder().join("School.csv");
    uploader(&url)
        .upload_file(&school, &mut |_| ())
        .await
        .unwrap();
}

#[tokio::test]
async fn signature_matches_azurite() {
    let Some(azurite) = Azurite::from_env("signature_matches_azurite") else {
        return;
    };
    let mock = mock(&azurite, "7d6c5b4a-3f2e-4d1c-8b0a-000000000008").await;
    let url = mock.upload_url().await;
    let school = sds_folder().join("School.csv");
    uploader(&url)
        .upload_file(&school, &mut |_| ())
        .await
        .unwrap();

    let parsed = SasUrl::parse(&url).unwrap();
    let decode = |name: &str| {
        percent_encoding::percent_decode_str(parsed.param(name).unwrap())
            .decode_utf8()
            .unwrap()
            .into_owned()
    };
    // Azurite's debug log writes the string-to-sign as a JSON string.
    let string_to_sign = format!(
        "w\\n\\n{}\\n/blob/devstoreaccount1/{}\\n{}\\n\\n\\n2015-07-08\\n\\n\\n\\n\\n",
        decode("se"),
        container(&url),
        decode("si"),
    );
    let expected_string = format!("String to sign is: \"{string_to_sign}\"");
    let expected_signature = format!("Calculated signature is: {}", decode("sig"));
    // Azurite writes its log asynchronously, so the lines may lag the
    // response a little.
    let mut log = String::new();
    for _ in 0..50 {
        log = std::fs::read_to_string(&azurite.debug_log).unwrap();
        if log.contains(&expected_string) && log.contains(&expected_signature) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        log.contains(&expected_string),
        "Azurite computed another string-to-sign than {string_to_sign}"
    );
    assert!(
        log.contains(&expected_signature),
        "Azurite computed another signature"
    );
}

#[tokio::test]
async fn azure_sdk_uploads_with_the_url() {
    let Some(azurite) = Azurite::from_env("azure_sdk_uploads_with_the_url") else {
        return;
    };
    let Some(python) = services::python("azure_sdk_uploads_with_the_url") else {
        return;
    };
    let mock = mock(&azurite, "7d6c5b4a-3f2e-4d1c-8b0a-000000000009").await;
    let url = mock.upload_url().await;
    // One small blob in a single request, and one large enough for blocks.
    let script = r#"
import sys
from azure.storage.blob import ContainerClient
container = ContainerClient.from_container_url(
    sys.argv[1], max_single_put_size=1024, max_block_size=1024)
with open(sys.argv[2], "rb") as data:
    container.upload_blob("School.csv", data, overwrite=True)
container.upload_blob("Large.csv", b"x" * 5000, overwrite=True)
"#;
    let school = sds_folder().join("School.csv");
    let output = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&url)
        .arg(&school)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "the SDK failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let admin = azurite.admin();
    let container = container(&url);
    let stored = admin.get_blob(&container, "School.csv").await.unwrap();
    assert_eq!(stored, std::fs::read(&school).unwrap());
    let large = admin.get_blob(&container, "Large.csv").await.unwrap();
    assert_eq!(large, vec![b'x'; 5000]);
}

#[tokio::test]
async fn graph_policy_layout_fails_on_azurite() {
    // Why the emulator mode exists: with Graph's layout (a policy without
    // permissions), Azurite 3.35.0 fails the upload with 500.
    let Some(azurite) = Azurite::from_env("graph_policy_layout_fails_on_azurite") else {
        return;
    };
    let flags = [
        "--storage",
        "azure",
        "--storage-account",
        "devstoreaccount1",
        "--blob-endpoint",
        &azurite.endpoint,
    ];
    let mock = Mock::start("7d6c5b4a-3f2e-4d1c-8b0a-000000000010", &flags).await;
    let url = mock.upload_url().await;
    let policies = azurite
        .admin()
        .get_policies(&container(&url))
        .await
        .unwrap();
    assert!(
        policies.iter().all(|policy| policy.permission.is_none()),
        "{policies:?}"
    );

    let school = sds_folder().join("School.csv");
    let error = uploader(&url)
        .upload_file(&school, &mut |_| ())
        .await
        .unwrap_err();
    assert!(
        matches!(error, UploadError::Storage { status: 500, .. }),
        "{error}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn folder_entries_are_uploaded_or_listed() {
    let Some(azurite) = Azurite::from_env("folder_entries_are_uploaded_or_listed") else {
        return;
    };
    let mock = mock(&azurite, "7d6c5b4a-3f2e-4d1c-8b0a-000000000011").await;
    let url = mock.upload_url().await;
    let dir = mock.dir.join("folder");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("Empty.csv"), b"").unwrap();
    std::fs::write(dir.join("sub/Inner.csv"), b"x").unwrap();
    let school = sds_folder().join("School.csv");
    std::os::unix::fs::symlink(&school, dir.join("Linked.csv")).unwrap();

    let result = uploader(&url)
        .upload_folder(&dir, &mut |_| ())
        .await
        .unwrap();

    let names: Vec<&str> = result
        .uploaded
        .iter()
        .map(|file| file.blob.as_str())
        .collect();
    assert_eq!(names, ["Empty.csv", "Linked.csv"]);
    assert_eq!(result.skipped, [dir.join("sub")]);
    let admin = azurite.admin();
    let container = container(&url);
    assert_eq!(admin.get_blob(&container, "Empty.csv").await.unwrap(), b"");
    let linked = admin.get_blob(&container, "Linked.csv").await.unwrap();
    assert_eq!(linked, std::fs::read(&school).unwrap());
}
