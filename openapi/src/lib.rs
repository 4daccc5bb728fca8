//! The Microsoft Graph beta operation `educationSynchronizationProfile:
//! uploadUrl`, defined once as a dropshot API trait.
//!
//! Everything else in the workspace derives from this crate: the server
//! implements [`UploadUrlApi`], `cargo xtask regen` writes the OpenAPI
//! document from [`upload_url_api_mod::stub_api_description`], and the client
//! is generated from that document.
//!
//! Paths in the trait carry Graph's service path ([`SERVICE_PATH`], `/beta`)
//! so that the mock serves exactly the URLs Graph serves: a client configured
//! with base URL `http://HOST:PORT/beta` reaches the same operation it reaches
//! at `https://graph.microsoft.com/beta`. The generation step moves that
//! prefix into the document's `servers` entry, where Graph's published
//! description keeps it.

mod error;
mod response;
mod types;

pub use error::{GraphError, InnerError, MainError, ODataError};
pub use response::{GraphResponse, GraphResponseHeaders, RequestIds, GRAPH_JSON_CONTENT_TYPE};
pub use types::{ProfilePathParams, UploadUrlResponse};

use dropshot::RequestContext;

/// The path under which Graph serves its beta endpoint.
pub const SERVICE_PATH: &str = "/beta";

/// Graph's beta service root, the `servers` entry of the OpenAPI document and
/// the default base URL of clients.
pub const GRAPH_BETA_SERVICE_ROOT: &str = "https://graph.microsoft.com/beta";

/// The title of the OpenAPI document.
pub const API_TITLE: &str = "Microsoft Graph beta: educationSynchronizationProfile uploadUrl";

/// The version of this contract, written as the document's `info.version`.
pub const API_VERSION: semver::Version = semver::Version::new(1, 0, 0);

/// The description of the OpenAPI document.
pub const API_DESCRIPTION: &str = "The `uploadUrl` function of Microsoft Graph beta's \
    `educationSynchronizationProfile`, kept as a contract: a write-only, one-hour SAS URL to which \
    School Data Sync CSV files are uploaded. Generated from a dropshot API trait.";

/// The license of the document, the workspace's.
pub const API_LICENSE: &str = "MIT";

/// The text of [`API_LICENSE`].
pub const API_LICENSE_URL: &str = "https://opensource.org/license/mit";

/// The contact of the document.
pub const API_CONTACT: &str = "Maintainers of the uploadUrl workspace";

/// Graph's `educationSynchronizationProfile: uploadUrl` operation.
#[dropshot::api_description {
    tag_config = {
        allow_other_tags = false,
        tags = {
            "education.synchronizationProfiles" = {
                description = "School Data Sync synchronization profiles of a tenant.",
            },
        },
    },
}]
pub trait UploadUrlApi {
    /// Shared state of the implementation.
    type Context;

    /// Retrieve a SAS URL for uploading School Data Sync CSV files
    ///
    /// Returns a write-only container shared access signature (SAS) URL for
    /// the synchronization profile's Azure blob storage container, valid for
    /// one hour. Only profiles whose data provider is
    /// `educationCsvDataProvider` get a URL. A profile whose previous upload is
    /// still being processed gets `409 Conflict`.
    //
    // Handlers return every outcome they decide, success or Graph error, as a
    // `GraphResponse`, because dropshot's error path cannot add response
    // headers to a custom error type and every Graph response carries
    // `request-id` and `client-request-id`. The `Err` side carries only what
    // dropshot's extractors reject before the handler's own code runs.
    #[endpoint {
        method = GET,
        path = "/beta/education/synchronizationProfiles/{id}/uploadUrl",
        operation_id = "upload_url",
        tags = ["education.synchronizationProfiles"],
    }]
    async fn upload_url(
        rqctx: RequestContext<Self::Context>,
        path: dropshot::Path<ProfilePathParams>,
    ) -> Result<GraphResponse<UploadUrlResponse>, GraphError>;
}

pub use dropshot::semver;
