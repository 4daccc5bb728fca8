//! Workspace tasks, run as `cargo xtask <task>`.

mod fuzz;
mod regen;
mod services;
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
    /// the tests need.
    Test,
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
        Task::Fuzz { seconds, target } => fuzz::run(seconds, target.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
