//! `conformance`: runs the conformance checks against a server that is
//! already running, such as a deployment of the mock, and prints a pass or
//! fail line per check with a diff for each failure. The exit code is 0 when
//! every check passes, 1 when one fails, and 2 on a usage error.
//!
//! ```text
//! cargo run -p conformance -- --base-url http://127.0.0.1:8080/beta --token-file token.txt
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use conformance::runner;
use conformance::target::Target;

#[derive(Parser)]
#[command(
    name = "conformance",
    version,
    about = "Holds a running server to the uploadUrl contract"
)]
struct Args {
    /// Base URL of the server, as Graph's is https://graph.microsoft.com/beta.
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// File whose first line is a bearer token the server accepts.
    #[arg(long, value_name = "FILE")]
    token_file: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let token = match std::fs::read_to_string(&args.token_file) {
        Ok(text) => text.lines().next().unwrap_or("").trim().to_string(),
        Err(error) => {
            eprintln!(
                "error: failed to read --token-file {}: {error}",
                args.token_file.display()
            );
            return ExitCode::from(2);
        }
    };
    if token.is_empty() {
        eprintln!(
            "error: --token-file {} is empty; write a token the server accepts on its first line",
            args.token_file.display()
        );
        return ExitCode::from(2);
    }
    let target = match Target::remote(&args.base_url, &token) {
        Ok(target) => target,
        Err(error) => {
            eprintln!("error: invalid --base-url {:?}: {error}", args.base_url);
            return ExitCode::from(2);
        }
    };
    let checks = runner::run_all(&target).await;
    let (report, passed) = runner::render(&checks);
    print!("{report}");
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
