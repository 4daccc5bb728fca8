//! `cargo xtask schema-diff`: what changed in the OpenAPI document and
//! whether it breaks existing clients or servers, as a Markdown report for a
//! pull-request comment or as JSON.
//!
//! Oxide's `drift` crate finds and classifies the changes. This module reads
//! the two documents, maps drift's classes to the report's, and renders the
//! report with a unified text diff of the two documents.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use drift::{ChangeClass, ChangeComparison, ChangeDetails};
use serde::Serialize;
use serde_json::Value;

/// The checked-in document, relative to the workspace root.
pub const DOCUMENT: &str = "openapi/uploadurl.json";

/// Exit code when a change breaks existing clients or servers.
pub const EXIT_BREAKING: u8 = 1;

/// The maximum number of characters of an old or new value in a row.
const MAX_VALUE_CHARS: usize = 60;

/// The origin of the two documents.
#[derive(Debug, Clone)]
pub enum Source {
    /// The document at a git revision against the working tree's.
    Revision(String),
    /// Two files.
    Files {
        /// The old document.
        old: PathBuf,
        /// The new document.
        new: PathBuf,
    },
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A pull-request comment.
    Markdown,
    /// The same data for machines.
    Json,
}

/// The class of a change, from the point of view of code already deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Clients built against the old document can fail against a server of
    /// the new one.
    BreaksClients,
    /// Servers built to the old document can fail clients of the new one.
    BreaksServers,
    /// Both of the above.
    BreaksBoth,
    /// Neither.
    NonBreaking,
    /// drift could not classify it; counted as breaking.
    NotClassified,
}

impl Class {
    fn from_drift(class: ChangeClass) -> Self {
        match class {
            ChangeClass::BackwardIncompatible => Class::BreaksClients,
            ChangeClass::ForwardIncompatible => Class::BreaksServers,
            ChangeClass::Incompatible => Class::BreaksBoth,
            ChangeClass::Trivial => Class::NonBreaking,
            ChangeClass::Unhandled => Class::NotClassified,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Class::BreaksClients => "breaks existing clients",
            Class::BreaksServers => "breaks existing servers",
            Class::BreaksBoth => "breaks clients and servers",
            Class::NonBreaking => "non-breaking",
            Class::NotClassified => "not classified (counted as breaking)",
        }
    }

    fn is_breaking(self) -> bool {
        self != Class::NonBreaking
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// JSON pointer into the new document, or into the old one for a
    /// removal.
    pub pointer: String,
    /// The value in the old document, shortened, or `null`.
    pub old: Option<String>,
    /// The value in the new document, shortened, or `null`.
    pub new: Option<String>,
    /// The whole old value at the pointer, for machines; `null` when absent.
    pub old_value: Option<Value>,
    /// The whole new value at the pointer, for machines.
    pub new_value: Option<Value>,
    /// The class.
    pub class: Class,
    /// Whether the change is in a request, a response, or the document.
    pub context: &'static str,
    /// drift's description.
    pub message: String,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The number of changes in each class.
    pub counts: BTreeMap<Class, usize>,
    /// Whether any change is breaking.
    pub breaking: bool,
    /// Every change, in document order.
    pub changes: Vec<Row>,
    /// The unified diff of the two documents, keys sorted.
    pub diff: String,
}

/// Runs the command and returns its exit code.
pub fn run(root: &Path, source: &Source, format: Format) -> Result<ExitCode> {
    let (old_name, old_text, new_name, new_text) = match source {
        Source::Revision(revision) => {
            let old = git_show(root, revision)?;
            let new_path = root.join(DOCUMENT);
            let new = std::fs::read_to_string(&new_path)
                .with_context(|| format!("failed to read {}", new_path.display()))?;
            (
                format!("{revision}:{DOCUMENT}"),
                old,
                DOCUMENT.to_string(),
                new,
            )
        }
        Source::Files { old, new } => (
            old.display().to_string(),
            read(old)?,
            new.display().to_string(),
            read(new)?,
        ),
    };
    let report = compare(&old_name, &old_text, &new_name, &new_text)?;
    let text = match format {
        Format::Markdown => render_markdown(&report),
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    // A reader that stops early (`| head`) is not a failure of the diff.
    let mut stdout = std::io::stdout().lock();
    match std::io::Write::write_all(&mut stdout, text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(error).context("failed to print the report");
        }
        _ => (),
    }
    Ok(if report.breaking {
        ExitCode::from(EXIT_BREAKING)
    } else {
        ExitCode::SUCCESS
    })
}

/// Returns the merge-base of `HEAD` and `main` (or `origin/main`, where a
/// checkout has no local `main`), the default base revision.
pub fn default_base(root: &Path) -> Result<String> {
    let mut failure = String::new();
    for branch in ["main", "origin/main"] {
        let output = Command::new("git")
            .args(["merge-base", "HEAD", branch])
            .current_dir(root)
            .output()
            .context("failed to run git")?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).trim().to_string());
        }
        failure = String::from_utf8_lossy(&output.stderr).trim().to_string();
    }
    bail!("failed to find the merge-base of HEAD and main or origin/main ({failure}); pass --base REV")
}

fn git_show(root: &Path, revision: &str) -> Result<String> {
    let output = Command::new("git")
        .arg("show")
        .arg(format!("{revision}:{DOCUMENT}"))
        .current_dir(root)
        .output()
        .context("failed to run git")?;
    if !output.status.success() {
        bail!(
            "failed to read {DOCUMENT} at revision {revision:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout)
        .with_context(|| format!("{DOCUMENT} at {revision:?} is not UTF-8"))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))
}

/// Compares two documents given as text.
pub fn compare(old_name: &str, old_text: &str, new_name: &str, new_text: &str) -> Result<Report> {
    let parse = |name: &str, text: &str| -> Result<Value> {
        serde_json::from_str(text).with_context(|| format!("{name} is not valid JSON"))
    };
    let old = parse(old_name, old_text)?;
    let new = parse(new_name, new_text)?;
    let changes = drift::compare(&old, &new)
        .with_context(|| format!("failed to compare {old_name} with {new_name}"))?;

    let mut rows = Vec::new();
    for change in &changes {
        let Some(path) = change.paths.first() else {
            continue;
        };
        let (old_base, _) = path.old.base_and_subpath();
        let (new_base, _) = path.new.base_and_subpath();
        for info in &change.changes {
            let old_pointer = join(old_base, &info.old_subpath);
            let new_pointer = join(new_base, &info.new_subpath);
            let old_value = match info.details {
                ChangeDetails::Added | ChangeDetails::AddedRequired => None,
                _ => old.pointer(&old_pointer),
            };
            let new_value = match info.details {
                ChangeDetails::Removed => None,
                _ => new.pointer(&new_pointer),
            };
            let (old_shown, new_shown) = describe(old_value, new_value);
            let pointer = if new_value.is_none() && old_value.is_some() {
                old_pointer
            } else {
                new_pointer
            };
            rows.push(Row {
                pointer,
                old: old_shown,
                new: new_shown,
                old_value: old_value.cloned(),
                new_value: new_value.cloned(),
                class: Class::from_drift(info.class),
                context: match path.comparison {
                    ChangeComparison::Input => "request",
                    ChangeComparison::Output => "response",
                    ChangeComparison::Structural => "document",
                },
                message: info.message.clone(),
            });
        }
    }
    // drift does not see every change (a property that became nullable, a
    // renamed path parameter). Each difference outside the places drift
    // reported is listed too: documentation as non-breaking, anything else
    // as not classified.
    let reported: Vec<String> = rows.iter().map(|row| row.pointer.clone()).collect();
    let mut differences = Vec::new();
    differences_between(&old, &new, String::new(), &mut differences);
    for (pointer, old_value, new_value) in differences {
        // A difference inside a reported place, or around one, is drift's.
        let covered = reported.iter().any(|base| {
            pointer == *base
                || pointer.starts_with(&format!("{base}/"))
                || base.starts_with(&format!("{pointer}/"))
        });
        if covered {
            continue;
        }
        {
            let documentation = is_documentation(&pointer);
            let (old_shown, new_shown) = describe(old_value.as_ref(), new_value.as_ref());
            rows.push(Row {
                pointer,
                old: old_shown,
                new: new_shown,
                old_value,
                new_value,
                class: if documentation {
                    Class::NonBreaking
                } else {
                    Class::NotClassified
                },
                context: "document",
                message: if documentation {
                    "documentation text changed".to_string()
                } else {
                    "changed where drift reports no difference".to_string()
                },
            });
        }
    }
    rows.sort_by(|a, b| (&a.pointer, &a.message).cmp(&(&b.pointer, &b.message)));
    rows.dedup();

    let mut counts = BTreeMap::new();
    for row in &rows {
        *counts.entry(row.class).or_insert(0) += 1;
    }
    let diff = similar::TextDiff::from_lines(&canonical(&old), &canonical(&new))
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string();
    Ok(Report {
        breaking: rows.iter().any(|row| row.class.is_breaking()),
        counts,
        changes: rows,
        diff,
    })
}

/// Returns whether a difference at `pointer` is documentation only: the
/// `info` and `tags` metadata, `x-` extensions, and `description`, `summary`
/// or `title` text outside a schema's `properties`.
fn is_documentation(pointer: &str) -> bool {
    let metadata = ["/info", "/tags", "/externalDocs"]
        .iter()
        .any(|prefix| pointer == *prefix || pointer.starts_with(&format!("{prefix}/")));
    let last = pointer.rsplit('/').next().unwrap_or("");
    let text = matches!(last, "description" | "summary" | "title")
        && !pointer.ends_with(&format!("/properties/{last}"));
    metadata || last.starts_with("x-") || text
}

/// Joins drift's base pointer (`#/...`) and subpath into a JSON pointer.
fn join(base: &str, subpath: &str) -> String {
    let base = base.trim_start_matches('#');
    if subpath.is_empty() {
        base.to_string()
    } else {
        format!("{base}/{subpath}")
    }
}

/// Renders the two sides of a change. Where both are objects or arrays,
/// only what differs inside them is shown, as `subpointer: value`; where
/// both are strings, their common beginning is elided.
fn describe(old: Option<&Value>, new: Option<&Value>) -> (Option<String>, Option<String>) {
    match (old, new) {
        (Some(a), Some(b)) if a.is_object() || a.is_array() => {
            let mut found = Vec::new();
            differences_between(a, b, String::new(), &mut found);
            let mut old_parts = Vec::new();
            let mut new_parts = Vec::new();
            for (pointer, a, b) in found.iter().take(2) {
                // Only strings are described further; any other pair is the
                // outermost difference already.
                let (a, b) = match (a, b) {
                    (Some(Value::String(_)), Some(Value::String(_))) => {
                        describe(a.as_ref(), b.as_ref())
                    }
                    _ => (a.as_ref().map(shorten), b.as_ref().map(shorten)),
                };
                old_parts.push(format!(
                    "{pointer}: {}",
                    a.unwrap_or_else(|| "—".to_string())
                ));
                new_parts.push(format!(
                    "{pointer}: {}",
                    b.unwrap_or_else(|| "—".to_string())
                ));
            }
            (Some(old_parts.join("; ")), Some(new_parts.join("; ")))
        }
        (Some(Value::String(a)), Some(Value::String(b))) => {
            let common = a
                .char_indices()
                .zip(b.chars())
                .take_while(|((_, x), y)| x == y)
                .last()
                .map_or(0, |((index, x), _)| index + x.len_utf8());
            let cut = |text: &str| {
                if common > 20 {
                    format!("…{}", &text[common..])
                } else {
                    text.to_string()
                }
            };
            (
                Some(shorten(&Value::String(cut(a)))),
                Some(shorten(&Value::String(cut(b)))),
            )
        }
        (a, b) => (a.map(shorten), b.map(shorten)),
    }
}

/// A place where two documents differ: its JSON pointer and the value on
/// each side (`None` where a key is missing).
type Difference = (String, Option<Value>, Option<Value>);

/// Collects the outermost places where `old` and `new` differ, as JSON
/// pointers with the value on each side (`None` where a key is missing).
fn differences_between(old: &Value, new: &Value, pointer: String, found: &mut Vec<Difference>) {
    match (old, new) {
        (Value::Object(old_map), Value::Object(new_map)) => {
            let keys: std::collections::BTreeSet<&String> =
                old_map.keys().chain(new_map.keys()).collect();
            for key in keys {
                let child = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (old_map.get(key), new_map.get(key)) {
                    (Some(a), Some(b)) => differences_between(a, b, child, found),
                    (a, b) => found.push((child, a.cloned(), b.cloned())),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (a, b)) in a.iter().zip(b).enumerate() {
                differences_between(a, b, format!("{pointer}/{index}"), found);
            }
        }
        (a, b) if a != b => found.push((pointer, Some(a.clone()), Some(b.clone()))),
        _ => (),
    }
}

/// Returns `value` as compact JSON, shortened to [`MAX_VALUE_CHARS`].
fn shorten(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(MAX_VALUE_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Serializes `value` with object keys sorted, so that reordered keys do not
/// show in the text diff.
fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let entries: BTreeMap<&String, Value> = map
                    .iter()
                    .map(|(key, value)| (key, sorted(value)))
                    .collect();
                let mut object = serde_json::Map::new();
                for (key, value) in entries {
                    object.insert(key.clone(), value);
                }
                Value::Object(object)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
    text.push('\n');
    text
}

/// Renders the report as Markdown for a pull-request comment.
pub fn render_markdown(report: &Report) -> String {
    let mut text = String::from("## OpenAPI document changes\n\n");
    if report.changes.is_empty() {
        text.push_str("No changes to the API.\n");
        if !report.diff.is_empty() {
            push_diff(&mut text, &report.diff);
        }
        return text;
    }
    let summary: Vec<String> = report
        .counts
        .iter()
        .map(|(class, count)| format!("{count} {}", class.label()))
        .collect();
    let verdict = if report.breaking {
        "**Breaking**"
    } else {
        "Not breaking"
    };
    let _ = writeln!(text, "{verdict}: {}.\n", summary.join(", "));
    text.push_str("| pointer | old → new | class | in | change |\n");
    text.push_str("| --- | --- | --- | --- | --- |\n");
    for row in &report.changes {
        let _ = writeln!(
            text,
            "| `{}` | {} → {} | {} | {} | {} |",
            row.pointer.replace('|', "\\|"),
            cell(&row.old),
            cell(&row.new),
            row.class.label(),
            row.context,
            row.message.replace('|', "\\|").replace('\n', " "),
        );
    }
    push_diff(&mut text, &report.diff);
    text
}

fn cell(value: &Option<String>) -> String {
    match value {
        Some(value) => format!("`{}`", value.replace('|', "\\|").replace('`', "'")),
        None => "—".to_string(),
    }
}

fn push_diff(text: &mut String, diff: &str) {
    text.push_str("\n<details><summary>Text diff of the document</summary>\n\n```diff\n");
    text.push_str(diff);
    if !diff.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("```\n\n</details>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/schema-diff")
            .join(format!("{name}.json"));
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    fn report(case: &str) -> Report {
        compare(
            "base.json",
            &fixture("base"),
            &format!("{case}.json"),
            &fixture(case),
        )
        .unwrap()
    }

    const CASES: [&str; 12] = [
        "required-query-parameter",
        "removed-409",
        "removed-200",
        "property-type-changed",
        "property-optional",
        "property-nullable",
        "enum-value-added",
        "path-changed",
        "path-parameter-renamed",
        "description-only",
        "keys-reordered",
        "renamed-with-description",
    ];

    #[test]
    fn fixture_reports() {
        for case in CASES {
            let report = report(case);
            insta::assert_snapshot!(case, render_markdown(&report));
        }
    }

    #[test]
    fn breaking_verdicts() {
        let expected = [
            ("required-query-parameter", true),
            ("removed-409", true),
            ("removed-200", true),
            ("property-type-changed", true),
            ("property-optional", true),
            ("property-nullable", true),
            ("enum-value-added", true),
            ("path-changed", true),
            ("path-parameter-renamed", true),
            ("description-only", false),
            ("keys-reordered", false),
            // drift reports the description; the rename must not hide
            // behind it.
            ("renamed-with-description", true),
        ];
        for (case, breaking) in expected {
            assert_eq!(report(case).breaking, breaking, "{case}");
        }
    }

    #[test]
    fn reordered_keys_report_nothing() {
        let report = report("keys-reordered");
        assert!(report.changes.is_empty(), "{:?}", report.changes);
        assert!(report.diff.is_empty(), "{}", report.diff);
    }

    #[test]
    fn revision_diff_exit_codes() {
        let root = std::env::temp_dir().join(format!("xtask-schema-diff-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("openapi")).unwrap();
        let git = |arguments: &[&str]| {
            let status = Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(arguments)
                .current_dir(&root)
                .output()
                .unwrap();
            assert!(status.status.success(), "git {arguments:?}: {status:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(root.join(DOCUMENT), fixture("base")).unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "base"]);
        git(&["checkout", "-q", "-b", "change"]);

        std::fs::write(root.join(DOCUMENT), fixture("description-only")).unwrap();
        let base = default_base(&root).unwrap();
        let source = Source::Revision(base);
        assert_eq!(
            run(&root, &source, Format::Json).unwrap(),
            ExitCode::SUCCESS
        );

        std::fs::write(root.join(DOCUMENT), fixture("removed-200")).unwrap();
        let code = run(&root, &source, Format::Markdown).unwrap();
        assert_eq!(code, ExitCode::from(EXIT_BREAKING));

        let missing = Source::Revision("no-such-revision".to_string());
        assert!(run(&root, &missing, Format::Markdown).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn metadata_is_documentation() {
        let documentation = [
            "/info/contact",
            "/info/license",
            "/tags/0/description",
            "/x-generated-by",
            "/paths/~1a/get/summary",
            "/components/schemas/A/properties/b/description",
        ];
        for pointer in documentation {
            assert!(is_documentation(pointer), "{pointer}");
        }
        let other = [
            "/servers/0/url",
            "/components/schemas/A/properties/description",
            "/components/schemas/A/properties/b/nullable",
        ];
        for pointer in other {
            assert!(!is_documentation(pointer), "{pointer}");
        }
    }

    #[test]
    fn invalid_json_is_an_error() {
        let error = compare("old", "{", "new", "{}").unwrap_err();
        assert!(
            format!("{error:#}").contains("old is not valid JSON"),
            "{error:#}"
        );
    }
}
