//! Workspace tasks, run as `cargo xtask <task>`.

mod bench;
mod fuzz;
mod lint;
mod regen;
mod schema_diff;
mod services;
mod summary;
mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Tasks of the uploadUrl workspace")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Regenerate the OpenAPI document and the progenitor client from the API
    /// trait.
    Regen {
        /// Write nothing; exit 1 with a unified diff when a generated file is
        /// stale.
        #[arg(long)]
        check: bool,
    },
    /// Run every test of the workspace, after installing and starting what
    /// the tests need, and the lint of the OpenAPI document.
    Test,
    /// Lint the OpenAPI document with Spectral and Redocly CLI (installs them
    /// when missing).
    Lint,
    /// Compare the OpenAPI document with a base revision (or two files) and
    /// print a report of each change and whether it breaks clients or
    /// servers. Exits 1 when a change is breaking and 2 on failure.
    SchemaDiff {
        /// The base revision [default: the merge-base of HEAD and main].
        #[arg(long, conflicts_with_all = ["old", "new"])]
        base: Option<String>,
        /// The old document, instead of a revision; needs --new.
        #[arg(long, requires = "new", value_name = "FILE")]
        old: Option<std::path::PathBuf>,
        /// The new document; needs --old.
        #[arg(long, requires = "old", value_name = "FILE")]
        new: Option<std::path::PathBuf>,
        /// The report's format.
        #[arg(long, value_enum, default_value_t = schema_diff::Format::Markdown)]
        format: schema_diff::Format,
    },
    /// Measure the mock in release mode under wrk against a minimal hyper
    /// server that sends the same bytes, in alternating runs, and print the
    /// table with ratios (installs wrk with apt-get when missing).
    Bench(bench::Options),
    /// Send mixed traffic (200, 401, 404, 409) to the mock in release mode
    /// and check the statuses and that resident memory stays within 10% of
    /// its value after warm-up.
    Soak {
        /// Minutes of traffic.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        minutes: u64,
        /// wrk's open connections, at least 2 because wrk runs 2 threads.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(2..))]
        connections: u32,
    },
    /// Run each coverage-guided fuzz target for a bounded time (installs
    /// cargo-fuzz when missing).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target: token, authorization, path or sas.
        #[arg(long)]
        target: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Regen { check } => regen::run(check),
        Task::Test => test::run(),
        Task::Lint => lint_command(),
        Task::SchemaDiff {
            base,
            old,
            new,
            format,
        } => schema_diff_command(base, old, new, format),
        Task::Fuzz { seconds, target } => fuzz::run(seconds, target.as_deref()),
        Task::Bench(options) => bench::run(&options),
        Task::Soak {
            minutes,
            connections,
        } => bench::soak(minutes, connections),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn schema_diff_command(
    base: Option<String>,
    old: Option<std::path::PathBuf>,
    new: Option<std::path::PathBuf>,
    format: schema_diff::Format,
) -> anyhow::Result<std::process::ExitCode> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is below the root");
    let source = match (old, new, base) {
        (Some(old), Some(new), _) => schema_diff::Source::Files { old, new },
        (_, _, Some(base)) => schema_diff::Source::Revision(base),
        _ => schema_diff::Source::Revision(schema_diff::default_base(root)?),
    };
    schema_diff::run(root, &source, format)
}

fn lint_command() -> anyhow::Result<std::process::ExitCode> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is below the root");
    let tools = services::install_node(root)?;
    lint::run(root, &tools)
}
