//! `uploadurl-mock`: starts the mock on 127.0.0.1 and prints how to call it.

use std::io::Write as _;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use slog::Drain as _;
use slog::{error, info, warn};
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
        .filter_level(config.log_level.into())
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
    let banner = banner(address, server.state());
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`uploadurl-mock | head -1`) must not stop the server.
    if let Err(error) = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush())
    {
        warn!(log, "failed to print the start-up banner"; "error" => error.to_string());
    }
    drop(stdout);

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
    const HIDDEN: &str = "'[argument not shown]'";
    let mut message = error.render().to_string();
    for argument in std::env::args_os().skip(1) {
        let argument = argument.to_string_lossy();
        let value = match argument.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') => value,
            _ if argument.starts_with('-') || argument == "token" => continue,
            _ => &argument,
        };
        // clap quotes values in single quotes; only those are replaced, so
        // that a short value does not garble the rest of the message.
        if !value.is_empty() {
            message = message.replace(&format!("'{value}'"), HIDDEN);
        }
    }
    // clap takes a stray value for an unknown subcommand.
    if message.contains(&format!("subcommand {HIDDEN}")) {
        message = format!(
            "error: unexpected argument {HIDDEN}: the server takes only flags, so put each value \
             after its flag (for example --storage-key KEY); its only subcommand is 'token'\n\n\
             For more information, try '--help'.\n"
        );
    }
    eprint!("{}", printable_lines(&message));
    ExitCode::from(2)
}

/// Applies [`printable`] to each line of `text`.
fn printable_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| match line.strip_suffix('\n') {
            Some(line) => printable(line) + "\n",
            None => printable(line),
        })
        .collect()
}

/// Appends a formatted line to a `String`.
macro_rules! out {
    ($text:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($text, $($arg)*);
    }};
}

/// Returns the start-up banner: the base URL, the profiles with the status
/// each gets, and a curl command that returns 200.
fn banner(address: std::net::SocketAddr, state: &uploadurl_server::AppState) -> String {
    let mut text = String::new();
    let base = format!("http://{address}{}", uploadurl_api::SERVICE_PATH);
    out!(text, "uploadUrl mock listening on http://{address}");
    out!(
        text,
        "base URL (as https://graph.microsoft.com/beta): {base}"
    );
    text.push('\n');
    out!(text, "profiles:");
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
            out!(
                text,
                "  {status}  {id}  {}",
                printable(&profile.record.display_name)
            );
        }
    }
    if state.profiles.len() > MAX_LISTED_PROFILES {
        out!(
            text,
            "  ... and {} more",
            state.profiles.len() - MAX_LISTED_PROFILES
        );
    }
    text.push('\n');
    let Some(id) = ready else {
        return text;
    };
    let url = format!("{base}/education/synchronizationProfiles/{id}/uploadUrl");
    let minted = state.development_secret.as_ref().and_then(|secret| {
        let request = uploadurl_server::token::TokenRequest::default();
        uploadurl_server::token::mint(secret.bytes(), &request, chrono::Utc::now().timestamp()).ok()
    });
    match minted {
        Some(token) => {
            out!(
                text,
                "try (the token is valid for an hour; `uploadurl-mock token --help` mints others):"
            );
            out!(text, "  curl -sS -H 'Authorization: Bearer {token}' {url}");
        }
        None => {
            out!(text, "try, with a token the configured key verifies:");
            out!(text, "  curl -sS -H \"Authorization: Bearer $TOKEN\" {url}");
        }
    }
    text
}

/// Prints a token signed with the development key.
fn print_token(args: &TokenArgs) -> ExitCode {
    // Only the default key is created here, because a mistyped
    // --signing-key must not mint tokens with a new key that no server has.
    if let Some(path) = &args.signing_key {
        if !path.exists() {
            eprintln!(
                "error: the --signing-key file {} does not exist; pass the file the server uses \
                 (the server creates it when it first starts)",
                printable(&path.display().to_string())
            );
            return ExitCode::FAILURE;
        }
    }
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
        Ok(token) => match writeln!(std::io::stdout(), "{token}") {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: failed to print the token: {error}");
                ExitCode::FAILURE
            }
        },
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
