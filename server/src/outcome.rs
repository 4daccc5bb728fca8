//! The failures of uploadUrl and the Graph error each one becomes: the one
//! place that decides status, code and message.

use http::StatusCode;
use uploadurl_api::{ODataError, RequestIds};

use crate::auth::AuthError;
use crate::profiles::{ProfileState, SyncStatus};
use crate::storage::StorageError;
use crate::token::{Denial, TokenError};

/// The maximum number of characters of a caller's value quoted in a message.
const MAX_QUOTED_CHARS: usize = 64;

/// The reason uploadUrl did not issue a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The `Authorization` header is missing or malformed.
    InvalidHeader(AuthError),
    /// The token is not authentic or not valid now.
    InvalidToken(TokenError),
    /// The token may not call the operation.
    Forbidden(Denial),
    /// The profile id in the path is not a GUID.
    InvalidId(String),
    /// No profile has this id.
    ProfileNotFound(String),
    /// The profile's data provider is not the CSV one.
    NotCsvProvider {
        /// The profile id.
        id: String,
        /// The provider's `@odata.type`.
        provider: String,
    },
    /// The profile is not provisioned.
    NotProvisioned {
        /// The profile id.
        id: String,
        /// Its state.
        state: ProfileState,
    },
    /// A previous upload is still being processed.
    UploadInProgress {
        /// The profile id.
        id: String,
        /// Its `profileStatus.status`.
        status: SyncStatus,
    },
    /// The storage service did not create the container or the policy.
    Storage(StorageError),
}

impl Failure {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::InvalidHeader(_) | Failure::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Failure::Forbidden(_) => StatusCode::FORBIDDEN,
            Failure::InvalidId(_) | Failure::NotCsvProvider { .. } => StatusCode::BAD_REQUEST,
            Failure::ProfileNotFound(_) => StatusCode::NOT_FOUND,
            Failure::NotProvisioned { .. } | Failure::UploadInProgress { .. } => {
                StatusCode::CONFLICT
            }
            Failure::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Graph's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::InvalidHeader(_) | Failure::InvalidToken(_) => "InvalidAuthenticationToken",
            Failure::Forbidden(_) => "Authorization_RequestDenied",
            Failure::InvalidId(_) | Failure::NotCsvProvider { .. } => "BadRequest",
            Failure::ProfileNotFound(_) => "ResourceNotFound",
            Failure::NotProvisioned { .. } | Failure::UploadInProgress { .. } => "Conflict",
            Failure::Storage(_) => "serviceNotAvailable",
        }
    }

    /// Graph's error message.
    pub fn message(&self) -> String {
        match self {
            Failure::InvalidHeader(error) => error.message().to_string(),
            Failure::InvalidToken(error) => error.message(),
            Failure::Forbidden(denial) => denial.message().to_string(),
            Failure::InvalidId(id) => {
                format!(
                    "Invalid object identifier '{}'. Expected a GUID.",
                    quote(id)
                )
            }
            Failure::ProfileNotFound(id) => {
                format!("Resource '{id}' of type 'educationSynchronizationProfile' does not exist.")
            }
            Failure::NotCsvProvider { id, provider } => format!(
                "The upload URL is provided only for the CSV data provider; profile '{id}' uses \
                 '{provider}'."
            ),
            Failure::NotProvisioned { id, state } => format!(
                "Uploads to profile '{id}' are blocked: the profile is in state '{}', not \
                 'provisioned'.",
                state_name(*state)
            ),
            Failure::UploadInProgress { id, status } => format!(
                "A previous request is still being processed: profile '{id}' has profileStatus \
                 '{}'. Request an upload URL after it completes.",
                status_name(*status)
            ),
            Failure::Storage(error) => {
                format!("The upload URL could not be prepared in storage: {error}.")
            }
        }
    }

    /// Graph's error body for a request with the given ids.
    pub fn body(&self, ids: &RequestIds) -> ODataError {
        ODataError::new(self.code(), self.message(), ids)
    }
}

/// Shortens a caller-supplied value for quoting in a message.
pub(crate) fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(MAX_QUOTED_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

fn state_name(state: ProfileState) -> &'static str {
    match state {
        ProfileState::Provisioning => "provisioning",
        ProfileState::Provisioned => "provisioned",
        ProfileState::ProvisioningFailed => "provisioningFailed",
        ProfileState::Deleting => "deleting",
        ProfileState::DeletionFailed => "deletionFailed",
    }
}

fn status_name(status: SyncStatus) -> &'static str {
    match status {
        SyncStatus::Paused => "paused",
        SyncStatus::InProgress => "inProgress",
        SyncStatus::Success => "success",
        SyncStatus::Error => "error",
        SyncStatus::ValidationError => "validationError",
        SyncStatus::Quarantined => "quarantined",
        SyncStatus::Extracting => "extracting",
        SyncStatus::Validating => "validating",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ids_are_shortened_in_messages() {
        let id = "x".repeat(2048);
        let message = Failure::InvalidId(id).message();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("..."));
    }
}
