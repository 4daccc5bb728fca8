//! `cargo xtask regen`: writes the OpenAPI document from the API trait and the
//! client from the document, or with `--check` compares them with what is
//! checked in.
//!
//! Both outputs are pure functions of the trait: the document is serialized
//! from openapiv3's ordered maps and the client is formatted by prettyplease,
//! so the same trait always gives byte-identical files.

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
    let root = workspace_root();
    let document = build_document()?;
    let files = [
        Generated {
            path: DOCUMENT_PATH,
            contents: render_document(&document)?,
        },
        Generated {
            path: CLIENT_PATH,
            contents: render_client(&document)?,
        },
    ];

    let mut stale = 0;
    for file in &files {
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
            print_diff(file.path, current.as_deref().unwrap_or(""), &file.contents);
        } else {
            std::fs::write(&path, &file.contents)
                .with_context(|| format!("failed to write {}", path.display()))?;
            println!("wrote {}", file.path);
        }
    }

    if stale > 0 {
        eprintln!(
            "{stale} generated file(s) are stale; run `{REGEN_COMMAND}` and commit the result"
        );
        return Ok(ExitCode::FAILURE);
    }
    if check {
        println!("all generated files are current");
    }
    Ok(ExitCode::SUCCESS)
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
/// the command that regenerates it.
fn render_document(document: &OpenAPI) -> Result<String> {
    let serde_json::Value::Object(fields) =
        serde_json::to_value(document).context("failed to serialize the document")?
    else {
        bail!("the document did not serialize to a JSON object");
    };
    let mut ordered = serde_json::Map::new();
    ordered.insert(
        "x-generated-by".to_string(),
        serde_json::Value::String(format!(
            "{REGEN_COMMAND} from the UploadUrlApi trait in openapi/src/lib.rs; do not edit by hand"
        )),
    );
    ordered.extend(fields);
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(ordered))
        .context("failed to serialize the document")?;
    text.push('\n');
    Ok(text)
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

/// Prints a unified diff from the checked-in file to the regenerated one.
fn print_diff(path: &str, current: &str, expected: &str) {
    let diff = similar::TextDiff::from_lines(current, expected);
    print!(
        "{}",
        diff.unified_diff().context_radius(3).header(
            &format!("a/{path} (checked in)"),
            &format!("b/{path} (regenerated)")
        )
    );
}
