//! `cargo xtask regen`: writes the OpenAPI document from the API trait and the
//! client from the document, or with `--check` compares them with what is
//! checked in.
//!
//! Both outputs are pure functions of the trait: the document is serialized
//! from openapiv3's ordered maps and the client is formatted by prettyplease,
//! so the same trait always gives byte-identical files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use openapiv3::{OpenAPI, ReferenceOr, SecurityRequirement, SecurityScheme, Server};

/// The OpenAPI document, relative to the workspace root.
pub const DOCUMENT_PATH: &str = "openapi/uploadurl.json";

/// The generated client source, relative to the workspace root.
pub const CLIENT_PATH: &str = "client/src/generated.rs";

/// The name of the bearer-token security scheme in the document.
const SECURITY_SCHEME: &str = "bearerAuth";

const REGEN_COMMAND: &str = "cargo xtask regen";

/// A generated file: where it goes and what it must contain.
struct Generated {
    path: &'static str,
    contents: String,
}

/// Regenerates every file, or checks them when `check` is set.
pub fn run(check: bool) -> Result<ExitCode> {
    let files = generate()?;
    let mut stdout = std::io::stdout().lock();
    let stale = sync(&workspace_root(), &files, check, &mut stdout)?;
    if stale > 0 {
        eprintln!(
            "{stale} generated file(s) are stale; run `{REGEN_COMMAND}` and commit the result"
        );
        return Ok(ExitCode::FAILURE);
    }
    if check {
        writeln!(stdout, "all generated files are current")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders every generated file from the trait.
fn generate() -> Result<Vec<Generated>> {
    let document = build_document()?;
    Ok(vec![
        Generated {
            path: DOCUMENT_PATH,
            contents: render_document(&document)?,
        },
        Generated {
            path: CLIENT_PATH,
            contents: render_client(&document)?,
        },
    ])
}

/// Brings the files under `root` up to date, or with `check` only reports
/// each stale one as a unified diff on `out`. Returns the number of stale
/// files found in check mode.
fn sync(root: &Path, files: &[Generated], check: bool, out: &mut impl Write) -> Result<usize> {
    let mut stale = 0;
    for file in files {
        let path = root.join(file.path);
        let current = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(error).with_context(|| format!("failed to read {}", path.display()))
            }
        };
        if current.as_deref() == Some(file.contents.as_str()) {
            continue;
        }
        if check {
            stale += 1;
            write_diff(
                out,
                file.path,
                current.as_deref().unwrap_or(""),
                &file.contents,
            )?;
        } else {
            std::fs::write(&path, &file.contents)
                .with_context(|| format!("failed to write {}", path.display()))?;
            writeln!(out, "wrote {}", file.path)?;
        }
    }
    Ok(stale)
}

/// Returns the workspace root, the parent of this crate's folder.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Builds the document from the trait, then adds what dropshot does not emit:
/// the server URL, with the service path moved out of the paths into it, and
/// the bearer-token security scheme.
pub fn build_document() -> Result<OpenAPI> {
    let description = uploadurl_api::upload_url_api_mod::stub_api_description()
        .map_err(|errors| anyhow::anyhow!("invalid API description: {errors:?}"))?;
    let value = description
        .openapi(uploadurl_api::API_TITLE, uploadurl_api::API_VERSION)
        .json()
        .context("failed to serialize the API description")?;
    let mut document: OpenAPI = serde_json::from_value(value)
        .context("dropshot emitted a document openapiv3 cannot read")?;

    let prefix = uploadurl_api::SERVICE_PATH;
    let mut paths = openapiv3::Paths::default();
    for (path, item) in std::mem::take(&mut document.paths.paths) {
        let Some(relative) = path
            .strip_prefix(prefix)
            .filter(|rest| rest.starts_with('/'))
        else {
            bail!("path {path} of the API trait does not start with the service path {prefix}");
        };
        paths.paths.insert(relative.to_string(), item);
    }
    document.paths = paths;

    document.servers = vec![Server {
        url: uploadurl_api::GRAPH_BETA_SERVICE_ROOT.to_string(),
        description: Some("Microsoft Graph beta".to_string()),
        ..Default::default()
    }];
    let components = document.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        SECURITY_SCHEME.to_string(),
        ReferenceOr::Item(SecurityScheme::HTTP {
            scheme: "bearer".to_string(),
            bearer_format: Some("JWT".to_string()),
            description: Some(
                "An access token from the Microsoft identity platform with the delegated \
                 permission EduAdministration.ReadWrite."
                    .to_string(),
            ),
            extensions: Default::default(),
        }),
    );
    let mut requirement = SecurityRequirement::new();
    requirement.insert(SECURITY_SCHEME.to_string(), Vec::new());
    document.security = Some(vec![requirement]);
    Ok(document)
}

/// Serializes the document as pretty JSON whose first key is a banner naming
/// the command that regenerates it. JSON has no comments, and OpenAPI allows
/// `x-` extensions at the top level.
fn render_document(document: &OpenAPI) -> Result<String> {
    let text =
        serde_json::to_string_pretty(document).context("failed to serialize the document")?;
    let Some(fields) = text.strip_prefix("{\n") else {
        bail!("the document did not serialize to a JSON object");
    };
    let banner = serde_json::to_string(&format!(
        "{REGEN_COMMAND} from the UploadUrlApi trait in openapi/src/lib.rs; do not edit by hand"
    ))?;
    Ok(format!("{{\n  \"x-generated-by\": {banner},\n{fields}\n"))
}

/// Generates the client with progenitor and formats it with prettyplease.
fn render_client(document: &OpenAPI) -> Result<String> {
    let mut settings = progenitor::GenerationSettings::default();
    settings.with_interface(progenitor::InterfaceStyle::Positional);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator
        .generate_tokens(document)
        .context("progenitor failed to generate the client")?;
    let file: syn::File = syn::parse2(tokens).context("progenitor emitted invalid Rust")?;
    Ok(format!(
        "// Generated by `{REGEN_COMMAND}` from {DOCUMENT_PATH} with progenitor; do not edit by hand.\n\n{}",
        prettyplease::unparse(&file)
    ))
}

/// Writes a unified diff from the checked-in file to the regenerated one.
fn write_diff(out: &mut impl Write, path: &str, current: &str, expected: &str) -> Result<()> {
    let diff = similar::TextDiff::from_lines(current, expected);
    write!(
        out,
        "{}",
        diff.unified_diff().context_radius(3).header(
            &format!("a/{path} (checked in)"),
            &format!("b/{path} (regenerated)")
        )
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("xtask-regen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("openapi")).unwrap();
        std::fs::create_dir_all(root.join("client/src")).unwrap();
        root
    }

    #[test]
    fn generation_is_deterministic() {
        let first = generate().unwrap();
        let second = generate().unwrap();
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(
                a.contents, b.contents,
                "{} differs between two runs",
                a.path
            );
        }
    }

    #[test]
    fn generated_files_start_with_banner() {
        for file in generate().unwrap() {
            let head: String = file.contents.lines().take(2).collect::<Vec<_>>().join("\n");
            assert!(
                head.contains(REGEN_COMMAND),
                "{} starts with {head:?}",
                file.path
            );
        }
    }

    #[test]
    fn check_reports_stale_file_as_diff() {
        let root = temp_root("stale");
        let files = generate().unwrap();
        let mut out = Vec::new();
        assert_eq!(sync(&root, &files, false, &mut out).unwrap(), 0);

        let mut out = Vec::new();
        assert_eq!(sync(&root, &files, true, &mut out).unwrap(), 0);
        assert!(out.is_empty());

        // A change to the trait shows up as a difference in the document.
        let mut changed = generate().unwrap();
        changed[0].contents = changed[0].contents.replace("\"/education/", "\"/edu/");
        let mut out = Vec::new();
        assert_eq!(sync(&root, &changed, true, &mut out).unwrap(), 1);
        let diff = String::from_utf8(out).unwrap();
        assert!(
            diff.contains("--- a/openapi/uploadurl.json (checked in)"),
            "{diff}"
        );
        assert!(
            diff.contains("-    \"/education/synchronizationProfiles/{id}/uploadUrl\""),
            "{diff}"
        );
        assert!(
            diff.contains("+    \"/edu/synchronizationProfiles/{id}/uploadUrl\""),
            "{diff}"
        );

        // Check mode wrote nothing.
        let on_disk = std::fs::read_to_string(root.join(DOCUMENT_PATH)).unwrap();
        assert_eq!(on_disk, files[0].contents);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn document_has_graph_server_and_bearer_security() {
        let document = build_document().unwrap();
        assert_eq!(document.servers[0].url, "https://graph.microsoft.com/beta");
        assert!(document
            .paths
            .paths
            .contains_key("/education/synchronizationProfiles/{id}/uploadUrl"));
        assert!(document
            .security
            .as_ref()
            .is_some_and(|s| s[0].contains_key(SECURITY_SCHEME)));
        assert!(document.openapi.starts_with("3.0."));
    }
}
