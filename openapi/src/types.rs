//! Request and response types of the operation.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Path parameters of the operation.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProfilePathParams {
    /// Key of the educationSynchronizationProfile: a GUID.
    pub id: String,
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
