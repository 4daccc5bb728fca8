//! The whole upload flow: gets the upload URL of a synchronization profile,
//! then uploads every file of a folder of SDS CSV files to it.
//!
//! ```text
//! cargo run -p uploadurl-client --example upload_folder -- \
//!     --base-url http://127.0.0.1:8080/beta --token "$TOKEN" PROFILE_ID FOLDER
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use uploadurl_client::upload::{UploadOptions, Uploader};

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
    /// Folder of the CSV files to upload.
    folder: PathBuf,
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
    let uploader = Uploader::new(&response.value, UploadOptions::default())?;
    let result = uploader
        .upload_folder(&args.folder, &mut |progress| {
            println!(
                "{}: {} of {} bytes",
                progress.blob, progress.sent, progress.total
            );
        })
        .await?;
    for path in &result.skipped {
        println!("skipped {} (not a file)", path.display());
    }
    let bytes: u64 = result.uploaded.iter().map(|file| file.bytes).sum();
    println!(
        "uploaded {} files ({bytes} bytes) for profile {}",
        result.uploaded.len(),
        args.profile_id
    );
    Ok(())
}
