//! Request and response types of the operation.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Path parameters of the operation.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProfilePathParams {
    /// Key of the educationSynchronizationProfile: a GUID in its hyphenated
    /// form, in either case. The server rejects any other value with 400.
    // The field stays a `String` so that the handler, not dropshot's
    // extractor, rejects a non-GUID, with Graph's error body; the document
    // still says `format: uuid`.
    #[schemars(with = "uuid::Uuid", example = "documented_profile_id")]
    pub id: String,
}

/// Returns the profile id of the documentation page's example request.
fn documented_profile_id() -> &'static str {
    "86904b1e-c7d0-4ead-b13a-98f11fc400ee"
}

/// The body of a successful `uploadUrl` response: an OData `Edm.String`
/// value with its context URL.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub struct UploadUrlResponse {
    /// OData context URL, `{service root}/$metadata#String`.
    #[serde(rename = "@odata.context")]
    pub odata_context: String,
    /// The container SAS URL to which the CSV files are uploaded. It is
    /// write-only (`sp=w`) and expires one hour after it is issued.
    pub value: String,
}
