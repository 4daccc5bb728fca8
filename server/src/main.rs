//! `uploadurl-mock`: starts the mock on 127.0.0.1 and prints how to call it.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use slog::Drain as _;
use slog::{error, info};
use uploadurl_server::config::{Cli, Command, TokenArgs};
use uploadurl_server::logging::JsonLines;
use uploadurl_server::profiles::UploadEligibility;

/// The maximum number of profiles listed at start-up; a larger set is
/// summarized in one line.
const MAX_LISTED_PROFILES: usize = 20;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    if let Some(Command::Token(args)) = &cli.command {
        return print_token(args);
    }
    let config = match cli.serve.validate() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let drain = JsonLines::new(std::io::stderr())
        .filter_level(slog::Level::Info)
        .fuse();
    let log = slog::Logger::root(drain, slog::o!("name" => "uploadurl-mock"));

    let server = match uploadurl_server::start(&config, &log) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("error: {}", with_causes(&error));
            return ExitCode::FAILURE;
        }
    };
    let address = server.local_addr();
    print_banner(address, server.state());

    let result = tokio::select! {
        result = server.wait_for_shutdown() => result,
        () = shutdown_signal() => {
            info!(log, "shutting down");
            server.close().await
        }
    };
    match result {
        Ok(()) => {
            info!(log, "stopped");
            ExitCode::SUCCESS
        }
        Err(message) => {
            error!(log, "server stopped with an error"; "error" => message);
            ExitCode::FAILURE
        }
    }
}

/// Reports a command-line error. clap quotes unexpected arguments whole,
/// and such an argument is often a secret: a key pasted without its flag,
/// or `--storage-key=KEY` with the flag misspelled. So, except in errors
/// about the value of a known flag, every value from the command line is
/// replaced before the message is printed.
fn usage_error(error: clap::Error) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            | ErrorKind::InvalidValue
            | ErrorKind::ValueValidation
    ) {
        error.exit();
    }
    let mut message = error.render().to_string();
    for argument in std::env::args_os().skip(1) {
        let argument = argument.to_string_lossy();
        let value = match argument.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') => value,
            _ if argument.starts_with('-') || argument == "token" => continue,
            _ => &argument,
        };
        if !value.is_empty() {
            message = message.replace(value, "[argument not shown]");
        }
    }
    eprint!("{}", printable_lines(&message));
    ExitCode::from(2)
}

/// [`printable`] for each line of `text`.
fn printable_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| match line.strip_suffix('\n') {
            Some(line) => printable(line) + "\n",
            None => printable(line),
        })
        .collect()
}

/// Prints the base URL, the profiles with the status each gets, and a curl
/// command that returns 200.
fn print_banner(address: std::net::SocketAddr, state: &uploadurl_server::AppState) {
    let base = format!("http://{address}{}", uploadurl_api::SERVICE_PATH);
    println!("uploadUrl mock listening on http://{address}");
    println!("base URL (as https://graph.microsoft.com/beta): {base}");
    println!();
    println!("profiles:");
    let mut ready = None;
    for (index, (id, profile)) in state.profiles.iter().enumerate() {
        let status = match profile.eligibility() {
            UploadEligibility::Ready => {
                ready.get_or_insert(*id);
                "200"
            }
            UploadEligibility::NotCsvProvider => "400",
            UploadEligibility::NotProvisioned(_) | UploadEligibility::UploadInProgress(_) => "409",
        };
        if index < MAX_LISTED_PROFILES {
            println!(
                "  {status}  {id}  {}",
                printable(&profile.record.display_name)
            );
        }
    }
    if state.profiles.len() > MAX_LISTED_PROFILES {
        println!(
            "  ... and {} more",
            state.profiles.len() - MAX_LISTED_PROFILES
        );
    }
    println!();
    let Some(id) = ready else {
        return;
    };
    let url = format!("{base}/education/synchronizationProfiles/{id}/uploadUrl");
    let minted = state.development_secret.as_ref().and_then(|secret| {
        let request = uploadurl_server::token::TokenRequest::default();
        uploadurl_server::token::mint(secret.bytes(), &request, chrono::Utc::now().timestamp()).ok()
    });
    match minted {
        Some(token) => {
            println!(
                "try (the token is valid for an hour; `uploadurl-mock token --help` mints others):"
            );
            println!("  curl -sS -H 'Authorization: Bearer {token}' {url}");
        }
        None => {
            println!("try, with a token the configured key verifies:");
            println!("  curl -sS -H \"Authorization: Bearer $TOKEN\" {url}");
        }
    }
}

/// Prints a token signed with the development key.
fn print_token(args: &TokenArgs) -> ExitCode {
    let path = args
        .signing_key
        .clone()
        .unwrap_or_else(uploadurl_server::keys::default_signing_key_path);
    let secret = match uploadurl_server::keys::load_or_create_secret(&path) {
        Ok(secret) => secret,
        Err(error) => {
            eprintln!("error: {}", with_causes(&error));
            return ExitCode::FAILURE;
        }
    };
    let now = chrono::Utc::now().timestamp();
    match uploadurl_server::token::mint(secret.bytes(), &args.request(), now) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: failed to sign the token: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Renders an error with its chain of causes.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// Escapes control characters, so that a display name from a profiles file
/// cannot move the cursor, change colours or forge a line of the listing.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(super::printable("A\u{1b}[31mB\nC"), "A\\u{1b}[31mB\\nC");
        assert_eq!(super::printable("École Ünïcode"), "École Ünïcode");
    }
}
