//! The implementation of the API trait: routing a request through the
//! checks that decide its outcome.

use chrono::{DateTime, SubsecRound, Utc};
use dropshot::{Path, RequestContext};
use http::HeaderMap;
use uploadurl_api::{
    GraphError, GraphResponse, ProfilePathParams, RequestIds, UploadUrlApi, UploadUrlResponse,
};

use crate::auth::bearer_token;
use crate::outcome::Failure;
use crate::profiles::{parse_guid, UploadEligibility};
use crate::sas::{self, Container};
use crate::token::TokenRejection;
use crate::AppState;
use slog::error;

/// The mock's implementation of [`UploadUrlApi`].
pub enum MockApi {}

impl UploadUrlApi for MockApi {
    type Context = AppState;

    async fn upload_url(
        rqctx: RequestContext<AppState>,
        path: Path<ProfilePathParams>,
    ) -> Result<GraphResponse<UploadUrlResponse>, GraphError> {
        let state = rqctx.context();
        let headers = rqctx.request.headers();
        let ids = RequestIds::from_request(&rqctx.request_id, headers);
        let id = path.into_inner().id;
        let issued_at = Utc::now().trunc_subsecs(0);
        let mut outcome = state.upload_url(headers, &id, issued_at);
        if let (Ok(grant), Some(storage)) = (&outcome, &state.storage) {
            let policy = sas::policy_id(issued_at);
            let prepared = storage
                .ensure_upload_policy(grant.container.name(), &policy, issued_at)
                .await;
            if let Err(error) = prepared {
                error!(rqctx.log, "storage call failed"; "error" => error.to_string());
                outcome = Err(Failure::Storage(error));
            }
        }
        Ok(match outcome {
            Ok(grant) => GraphResponse::ok(grant.response, ids),
            Err(failure) => GraphResponse::error(failure.status(), failure.body(&ids)),
        })
    }
}

/// An upload URL that the checks allow, and the container it is for.
#[derive(Debug)]
pub struct Grant<'a> {
    /// The response body with the URL.
    pub response: UploadUrlResponse,
    /// The profile's container.
    pub container: &'a Container,
}

impl AppState {
    /// Decides the outcome of one uploadUrl request for profile `id` at
    /// `issued_at` (whole seconds, UTC), which is also the time tokens are
    /// checked at. Checks run in the order Graph's would: authentication and
    /// permissions, then the key, then the profile.
    pub fn upload_url(
        &self,
        headers: &HeaderMap,
        id: &str,
        issued_at: DateTime<Utc>,
    ) -> Result<Grant<'_>, Failure> {
        let token = bearer_token(headers).map_err(Failure::InvalidHeader)?;
        self.tokens
            .check(token, issued_at.timestamp())
            .map_err(|rejection| match rejection {
                TokenRejection::Unauthenticated(error) => Failure::InvalidToken(error),
                TokenRejection::Forbidden(denial) => Failure::Forbidden(denial),
            })?;
        let key = parse_guid(id).ok_or_else(|| Failure::InvalidId(id.to_string()))?;
        let profile = self
            .profiles
            .get(&key)
            .ok_or_else(|| Failure::ProfileNotFound(key.to_string()))?;
        match profile.eligibility() {
            UploadEligibility::Ready => Ok(Grant {
                response: UploadUrlResponse {
                    odata_context: self.odata_context.clone(),
                    value: profile.container.upload_url(&self.signer, issued_at),
                },
                container: &profile.container,
            }),
            UploadEligibility::NotCsvProvider => Err(Failure::NotCsvProvider {
                id: key.to_string(),
                provider: profile.record.data_provider.odata_type.clone(),
            }),
            UploadEligibility::NotProvisioned(state) => Err(Failure::NotProvisioned {
                id: key.to_string(),
                state,
            }),
            UploadEligibility::UploadInProgress(status) => Err(Failure::UploadInProgress {
                id: key.to_string(),
                status,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trait_implementation_registers() {
        uploadurl_api::upload_url_api_mod::api_description::<super::MockApi>().unwrap();
    }
}
