//! Uploads files to the container that an upload URL grants, as block
//! blobs, the way School Data Sync expects its CSV files.
//!
//! Each file becomes the blob named after the file: the name is appended to
//! the URL's path and the URL's query is kept byte for byte, so a `%2B` in
//! the signature stays `%2B`. A file up to [`UploadOptions::single_put_limit`]
//! goes up in one Put Blob; a larger one in blocks of
//! [`UploadOptions::block_size`] (Put Block), committed with Put Block List.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use tokio::io::AsyncReadExt as _;

/// Characters percent-encoded in a blob name inside a URL path.
const BLOB_NAME: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The Blob service version the requests ask for.
const API_VERSION: &str = "2020-10-02";

/// Sizes that decide how files are cut into requests.
#[derive(Debug, Clone, Copy)]
pub struct UploadOptions {
    /// The largest file sent in one Put Blob request.
    pub single_put_limit: u64,
    /// The size of each block of a larger file.
    pub block_size: usize,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            single_put_limit: 8 * 1024 * 1024,
            block_size: 4 * 1024 * 1024,
        }
    }
}

/// Progress of one file, reported after each request that sent bytes.
#[derive(Debug, Clone, Copy)]
pub struct UploadProgress<'a> {
    /// The file being uploaded.
    pub file: &'a Path,
    /// The blob it becomes.
    pub blob: &'a str,
    /// Bytes sent so far.
    pub sent: u64,
    /// The file's size.
    pub total: u64,
}

/// A file that was uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The file.
    pub file: PathBuf,
    /// The blob name.
    pub blob: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The number of blocks, or 0 for a single Put Blob.
    pub blocks: usize,
}

/// A failed upload.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The upload URL is not a container URL with a query.
    #[error("invalid upload URL: {0}; expected the container SAS URL that uploadUrl returned")]
    InvalidUrl(String),
    /// The folder or file could not be read.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file has no name that can be a blob name.
    #[error("invalid file name {}: a blob name needs a UTF-8 file name", path.display())]
    InvalidName {
        /// The file.
        path: PathBuf,
    },
    /// The folder has no files.
    #[error("no files to upload in {}", path.display())]
    NoFiles {
        /// The folder.
        path: PathBuf,
    },
    /// The storage service rejected a request.
    #[error("failed to upload {} as blob {blob}: {operation} returned {status} {code}: {message}", file.display())]
    Storage {
        /// The file.
        file: PathBuf,
        /// The blob name.
        blob: String,
        /// The Blob REST operation: Put Blob, Put Block or Put Block List.
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// The storage error code, such as `AuthenticationFailed`.
        code: String,
        /// The storage error message.
        message: String,
    },
    /// The storage service could not be reached.
    #[error("failed to upload {} as blob {blob}: {operation} failed", file.display())]
    Transport {
        /// The file.
        file: PathBuf,
        /// The blob name.
        blob: String,
        /// The Blob REST operation.
        operation: &'static str,
        /// The cause, without the URL.
        #[source]
        source: reqwest::Error,
    },
}

#[derive(Deserialize, Default)]
struct StorageErrorBody {
    #[serde(rename = "Code", default)]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

/// The result of uploading a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderUpload {
    /// The files uploaded, in name order.
    pub uploaded: Vec<Uploaded>,
    /// Entries that are not regular files (folders, for example) and so were
    /// not uploaded.
    pub skipped: Vec<PathBuf>,
}

/// Uploads files with one container SAS URL.
#[derive(Debug, Clone)]
pub struct Uploader {
    http: reqwest::Client,
    /// The URL up to the container, without a trailing slash.
    container: String,
    /// The query, as received.
    query: String,
    options: UploadOptions,
}

impl Uploader {
    /// Creates an uploader for `sas_url`, the `value` of an uploadUrl
    /// response.
    pub fn new(sas_url: &str, options: UploadOptions) -> Result<Self, UploadError> {
        let (container, query) = sas_url
            .split_once('?')
            .ok_or_else(|| UploadError::InvalidUrl("the URL has no query".to_string()))?;
        let parsed = url::Url::parse(container)
            .map_err(|error| UploadError::InvalidUrl(format!("the URL does not parse: {error}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || query.is_empty() {
            return Err(UploadError::InvalidUrl(
                "expected an http or https URL with a query".to_string(),
            ));
        }
        if options.block_size == 0 {
            return Err(UploadError::InvalidUrl("the block size is 0".to_string()));
        }
        let loopback = matches!(
            parsed.host(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback()
        ) || parsed.host_str() == Some("localhost");
        let mut http = reqwest::Client::builder();
        if loopback {
            http = http.no_proxy();
        }
        Ok(Uploader {
            http: http
                .build()
                .map_err(|error| UploadError::InvalidUrl(format!("no HTTP client: {error}")))?,
            container: container.trim_end_matches('/').to_string(),
            query: query.to_string(),
            options,
        })
    }

    /// Returns the URL of blob `name`: the container URL, `/`, the
    /// percent-encoded name, and the query exactly as received.
    pub fn blob_url(&self, name: &str) -> String {
        format!(
            "{}/{}?{}",
            self.container,
            utf8_percent_encode(name, BLOB_NAME),
            self.query
        )
    }

    /// Uploads every file directly in `folder` (symbolic links to files
    /// included), in name order, and lists the entries it skipped.
    pub async fn upload_folder(
        &self,
        folder: &Path,
        progress: &mut dyn FnMut(UploadProgress<'_>),
    ) -> Result<FolderUpload, UploadError> {
        let read_error = |source| UploadError::Read {
            path: folder.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        for entry in std::fs::read_dir(folder).map_err(read_error)? {
            let path = entry.map_err(read_error)?.path();
            // `metadata` follows symbolic links; a broken link is skipped.
            match std::fs::metadata(&path) {
                Ok(metadata) if metadata.is_file() => files.push(path),
                _ => skipped.push(path),
            }
        }
        if files.is_empty() {
            return Err(UploadError::NoFiles {
                path: folder.to_path_buf(),
            });
        }
        files.sort();
        skipped.sort();
        let uploaded = self.upload_files(&files, progress).await?;
        Ok(FolderUpload { uploaded, skipped })
    }

    /// Uploads each file in turn and stops at the first failure.
    pub async fn upload_files(
        &self,
        files: &[PathBuf],
        progress: &mut dyn FnMut(UploadProgress<'_>),
    ) -> Result<Vec<Uploaded>, UploadError> {
        let mut uploaded = Vec::with_capacity(files.len());
        for file in files {
            uploaded.push(self.upload_file(file, progress).await?);
        }
        Ok(uploaded)
    }

    /// Uploads one file as the block blob named after it.
    pub async fn upload_file(
        &self,
        file: &Path,
        progress: &mut dyn FnMut(UploadProgress<'_>),
    ) -> Result<Uploaded, UploadError> {
        let blob = file
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| UploadError::InvalidName {
                path: file.to_path_buf(),
            })?
            .to_string();
        let read_error = |source| UploadError::Read {
            path: file.to_path_buf(),
            source,
        };
        let mut reader = tokio::fs::File::open(file).await.map_err(read_error)?;
        let total = reader.metadata().await.map_err(read_error)?.len();
        let context = Context {
            file,
            blob: &blob,
            url: self.blob_url(&blob),
            content_type: content_type(&blob),
        };

        if total <= self.options.single_put_limit {
            let mut bytes = Vec::with_capacity(total as usize);
            reader.read_to_end(&mut bytes).await.map_err(read_error)?;
            let sent = bytes.len() as u64;
            // An empty body gets no Content-Length from the HTTP client, and
            // the Blob service rejects a Put Blob without one.
            let request = self
                .http
                .put(&context.url)
                .header("x-ms-blob-type", "BlockBlob")
                .header(reqwest::header::CONTENT_TYPE, context.content_type)
                .header(reqwest::header::CONTENT_LENGTH, sent)
                .body(bytes);
            self.send(&context, "Put Blob", request, 201).await?;
            progress(UploadProgress {
                file,
                blob: &blob,
                sent,
                total: sent,
            });
            return Ok(Uploaded {
                file: file.to_path_buf(),
                blob,
                bytes: sent,
                blocks: 0,
            });
        }

        let mut block_ids = Vec::new();
        let mut sent = 0u64;
        loop {
            let mut block = Vec::with_capacity(self.options.block_size);
            (&mut reader)
                .take(self.options.block_size as u64)
                .read_to_end(&mut block)
                .await
                .map_err(read_error)?;
            if block.is_empty() {
                break;
            }
            // Every id of one blob must have the same length.
            let id = base64::engine::general_purpose::STANDARD
                .encode(format!("block-{:08}", block_ids.len()));
            let url = format!(
                "{}&comp=block&blockid={}",
                context.url,
                utf8_percent_encode(&id, NON_ALPHANUMERIC)
            );
            let length = block.len() as u64;
            let request = self.http.put(&url).body(block);
            self.send(&context, "Put Block", request, 201).await?;
            block_ids.push(id);
            sent += length;
            progress(UploadProgress {
                file,
                blob: &blob,
                sent,
                total: total.max(sent),
            });
        }
        let mut list = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in &block_ids {
            list.push_str(&format!("<Latest>{id}</Latest>"));
        }
        list.push_str("</BlockList>");
        let request = self
            .http
            .put(format!("{}&comp=blocklist", context.url))
            .header("x-ms-blob-content-type", context.content_type)
            .header(reqwest::header::CONTENT_TYPE, "application/xml")
            .body(list);
        self.send(&context, "Put Block List", request, 201).await?;
        Ok(Uploaded {
            file: file.to_path_buf(),
            blob,
            bytes: sent,
            blocks: block_ids.len(),
        })
    }

    async fn send(
        &self,
        context: &Context<'_>,
        operation: &'static str,
        request: reqwest::RequestBuilder,
        expected: u16,
    ) -> Result<(), UploadError> {
        let response = request
            .header("x-ms-version", API_VERSION)
            .send()
            .await
            .map_err(|source| UploadError::Transport {
                file: context.file.to_path_buf(),
                blob: context.blob.to_string(),
                operation,
                // The URL carries the signature, so it stays out of errors.
                source: source.without_url(),
            })?;
        let status = response.status().as_u16();
        if status == expected {
            return Ok(());
        }
        let header_code = response
            .headers()
            .get("x-ms-error-code")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.unwrap_or_default();
        let body: StorageErrorBody =
            quick_xml::de::from_str(text.trim_start_matches('\u{feff}')).unwrap_or_default();
        let message = body.message.lines().next().unwrap_or_default().to_string();
        Err(UploadError::Storage {
            file: context.file.to_path_buf(),
            blob: context.blob.to_string(),
            operation,
            status,
            code: header_code
                .or(Some(body.code).filter(|code| !code.is_empty()))
                .unwrap_or_else(|| "-".to_string()),
            message: if message.is_empty() {
                "no message".to_string()
            } else {
                message
            },
        })
    }
}

/// The values that one file's requests share.
struct Context<'a> {
    file: &'a Path,
    blob: &'a str,
    url: String,
    content_type: &'static str,
}

fn content_type(blob: &str) -> &'static str {
    if blob.to_ascii_lowercase().ends_with(".csv") {
        "text/csv"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_url_keeps_the_query() {
        let url = "http://127.0.0.1:10000/devstoreaccount1/c?sv=2015-07-08&sig=a%2Bb%3D&sp=w";
        let uploader = Uploader::new(url, UploadOptions::default()).unwrap();
        assert_eq!(
            uploader.blob_url("School 1.csv"),
            "http://127.0.0.1:10000/devstoreaccount1/c/School%201.csv?sv=2015-07-08&sig=a%2Bb%3D&sp=w"
        );
    }

    #[test]
    fn invalid_urls_are_rejected() {
        for url in [
            "",
            "no-query",
            "ftp://x/c?sig=1",
            "http://x/c?",
            "not a url?x=1",
        ] {
            let error = Uploader::new(url, UploadOptions::default()).unwrap_err();
            assert!(
                matches!(error, UploadError::InvalidUrl(_)),
                "{url}: {error}"
            );
        }
    }
}
