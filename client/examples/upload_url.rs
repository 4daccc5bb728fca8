//! Calls uploadUrl on a running mock (or Graph) and prints the SAS URL.
//!
//! ```text
//! cargo run -p uploadurl-client --example upload_url -- \
//!     --base-url http://127.0.0.1:8080/beta --token "$TOKEN" PROFILE_ID
//! ```

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Base URL of the service: Graph's is https://graph.microsoft.com/beta.
    #[arg(
        long,
        env = "UPLOADURL_BASE_URL",
        default_value = "http://127.0.0.1:8080/beta"
    )]
    base_url: String,
    /// Bearer access token.
    #[arg(long, env = "UPLOADURL_TOKEN", hide_env_values = true)]
    token: String,
    /// Id of the synchronization profile.
    profile_id: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = uploadurl_client::UploadUrlClient::new(&args.base_url, &args.token)?;
    let response = client.upload_url(&args.profile_id).await.with_context(|| {
        format!(
            "failed to get the upload URL of profile {}",
            args.profile_id
        )
    })?;
    println!("{}", response.value);
    Ok(())
}
