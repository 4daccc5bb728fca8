//! Synchronization profiles: their Graph JSON shape, the built-in default
//! set, loading from a file, and which uploadUrl outcome each one gets.
//!
//! Profiles are read in Graph's `educationSynchronizationProfile` shape so
//! that the output of `GET /education/synchronizationProfiles` can seed the
//! mock as it is: either that response (`{"value": [...]}`) or a bare array.
//! Properties the mock does not use are ignored. One extension is read: a
//! `profileStatus` object (the navigation property, as `$expand` returns
//! it), whose `status` shows whether a previous upload is still being
//! processed.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::sas::Container;

/// The `@odata.type` of the CSV data provider, the only one that gets an
/// upload URL.
pub const CSV_DATA_PROVIDER: &str = "#microsoft.graph.educationCsvDataProvider";

/// The built-in profiles, one for each outcome of uploadUrl.
const DEFAULT_PROFILES: &str = include_str!("default_profiles.json");

/// Namespace of the UUIDv5 container names derived from profile ids.
const CONTAINER_NAMESPACE: Uuid = Uuid::from_u128(0x6d0c_5a8e_4f57_4b0e_9a43_7c1f_2b8e_d5a1);

/// The `state` of a synchronization profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProfileState {
    /// The profile is being created.
    Provisioning,
    /// The profile is ready.
    Provisioned,
    /// Creating the profile failed.
    ProvisioningFailed,
    /// The profile is being deleted.
    Deleting,
    /// Deleting the profile failed.
    DeletionFailed,
}

/// `profileStatus.status` of a synchronization profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncStatus {
    /// Synchronization is paused.
    Paused,
    /// A synchronization run is in progress.
    InProgress,
    /// The last run succeeded.
    Success,
    /// The last run failed.
    Error,
    /// The last run found invalid data.
    ValidationError,
    /// Synchronization was stopped because of too many errors.
    Quarantined,
    /// Uploaded files are being extracted.
    Extracting,
    /// Uploaded files are being validated.
    Validating,
}

impl SyncStatus {
    /// Returns whether a previous upload is still being processed, which
    /// blocks a new upload URL (409).
    pub fn is_processing(self) -> bool {
        matches!(
            self,
            SyncStatus::InProgress | SyncStatus::Extracting | SyncStatus::Validating
        )
    }
}

/// A synchronization profile as Graph serializes it; unknown properties are
/// ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileRecord {
    /// The profile's key, a GUID.
    pub id: String,
    /// The profile's name.
    pub display_name: String,
    /// The profile's life-cycle state.
    pub state: ProfileState,
    /// The data provider, identified by its `@odata.type`.
    pub data_provider: DataProvider,
    /// The status of the latest synchronization, when given.
    #[serde(default)]
    pub profile_status: Option<ProfileStatus>,
}

/// The data provider of a profile.
#[derive(Debug, Clone, Deserialize)]
pub struct DataProvider {
    /// For example `#microsoft.graph.educationCsvDataProvider`.
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
}

/// The `profileStatus` navigation property of a profile.
#[derive(Debug, Clone, Deserialize)]
pub struct ProfileStatus {
    /// The status of the latest synchronization.
    pub status: SyncStatus,
}

/// A profile ready to serve: its record and its blob container.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The record it was loaded from.
    pub record: ProfileRecord,
    /// The container name: a lowercase GUID derived from the profile id.
    pub container_name: String,
    /// The container, with the parts of its URL computed once.
    pub container: Container,
}

/// The reason the profiles could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfilesError {
    /// The file could not be read.
    #[error("failed to read the --profiles file {path}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("invalid --profiles file {path}: not JSON")]
    Json {
        /// The file.
        path: String,
        /// The JSON error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The file is JSON but not a profile array or collection response.
    #[error(
        "invalid --profiles file {path}: expected Graph's educationSynchronizationProfile JSON, \
         the response of GET /education/synchronizationProfiles ({{\"value\": [...]}}) or an \
         array of profiles"
    )]
    Shape {
        /// The file.
        path: String,
    },
    /// One profile lacks a property or has an invalid value.
    #[error(
        "invalid profile {index} in --profiles file {path} (each profile needs id, displayName, \
         state and dataProvider with its @odata.type)"
    )]
    Profile {
        /// The file.
        path: String,
        /// The profile's position in the file, from 0.
        index: usize,
        /// What is wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A profile's id is not a GUID.
    #[error(
        "invalid profile id {id:?} in --profiles file {path}: expected a GUID such as \
         86904b1e-c7d0-4ead-b13a-98f11fc400ee"
    )]
    InvalidId {
        /// The file.
        path: String,
        /// The id.
        id: String,
    },
    /// Two profiles have the same id.
    #[error("duplicate profile id {id} in --profiles file {path}: each profile needs its own id")]
    DuplicateId {
        /// The file.
        path: String,
        /// The id.
        id: String,
    },
    /// The file contains no profile.
    #[error(
        "--profiles file {path} contains no profile; add at least one, or omit --profiles to use \
         the built-in profiles"
    )]
    Empty {
        /// The file.
        path: String,
    },
}

/// A collection response, `{"value": [...]}`, with its items unparsed.
#[derive(Deserialize)]
struct Collection<'a> {
    #[serde(borrow, default)]
    value: Option<Vec<&'a RawValue>>,
}

/// The profiles the server serves, by id.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    profiles: HashMap<Uuid, Profile>,
    /// Ids in the order they were loaded, for listings.
    order: Vec<Uuid>,
}

/// Where blob containers live: what a [`Container`] needs besides its name.
#[derive(Debug, Clone)]
pub struct BlobService<'a> {
    /// The blob endpoint, without a trailing slash.
    pub endpoint: &'a str,
    /// The storage account name.
    pub account: &'a str,
}

impl ProfileStore {
    /// Loads the built-in default profiles.
    pub fn defaults(blob: &BlobService<'_>) -> Self {
        Self::parse("built-in default profiles", DEFAULT_PROFILES, blob)
            .expect("the built-in default profiles are valid")
    }

    /// Loads profiles from a JSON file.
    pub fn load(path: &Path, blob: &BlobService<'_>) -> Result<Self, ProfilesError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ProfilesError::Read {
            path: name.clone(),
            source,
        })?;
        Self::parse(&name, &text, blob)
    }

    /// Parses profiles from JSON text; `source` names the text in errors.
    pub fn parse(source: &str, text: &str, blob: &BlobService<'_>) -> Result<Self, ProfilesError> {
        // Windows PowerShell 5 writes UTF-8 files with a byte order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // The items are kept as slices of the text (`RawValue`) and each is
        // deserialized into its record, so that no tree of JSON values is
        // built: with a million profiles that tree took gigabytes.
        let document: &RawValue =
            serde_json::from_str(text).map_err(|error| ProfilesError::Json {
                path: source.to_string(),
                source: error,
            })?;
        let shape_error = || ProfilesError::Shape {
            path: source.to_string(),
        };
        let items: Vec<&RawValue> = match document.get().as_bytes().first() {
            Some(b'[') => serde_json::from_str(document.get()).map_err(|_| shape_error())?,
            Some(b'{') => serde_json::from_str::<Collection<'_>>(document.get())
                .map_err(|_| shape_error())?
                .value
                .ok_or_else(shape_error)?,
            _ => return Err(shape_error()),
        };
        let records = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                serde_json::from_str::<ProfileRecord>(item.get()).map_err(|error| {
                    ProfilesError::Profile {
                        path: source.to_string(),
                        index,
                        source: error,
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if records.is_empty() {
            return Err(ProfilesError::Empty {
                path: source.to_string(),
            });
        }

        let mut profiles = HashMap::with_capacity(records.len());
        let mut order = Vec::with_capacity(records.len());
        for record in records {
            let id = parse_guid(&record.id).ok_or_else(|| ProfilesError::InvalidId {
                path: source.to_string(),
                id: record.id.clone(),
            })?;
            let container_name = Uuid::new_v5(&CONTAINER_NAMESPACE, id.as_bytes()).to_string();
            let container = Container::new(blob.endpoint, blob.account, &container_name);
            let profile = Profile {
                record,
                container_name,
                container,
            };
            if profiles.insert(id, profile).is_some() {
                return Err(ProfilesError::DuplicateId {
                    path: source.to_string(),
                    id: id.to_string(),
                });
            }
            order.push(id);
        }
        Ok(ProfileStore { profiles, order })
    }

    /// Looks a profile up by id.
    pub fn get(&self, id: &Uuid) -> Option<&Profile> {
        self.profiles.get(id)
    }

    /// The profiles in the order they were loaded.
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &Profile)> {
        self.order.iter().map(|id| (id, &self.profiles[id]))
    }

    /// The number of profiles.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there is no profile; never true for a loaded store.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Parses a GUID in its 36-character hyphenated form, in either case. Other
/// forms that `Uuid` accepts (braces, no hyphens, `urn:uuid:`) are not keys
/// Graph uses, so they are rejected.
pub fn parse_guid(text: &str) -> Option<Uuid> {
    if text.len() != 36 {
        return None;
    }
    Uuid::try_parse(text).ok()
}

/// The outcome of uploadUrl for a profile, apart from authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadEligibility {
    /// A URL is issued (200).
    Ready,
    /// The data provider is not the CSV one (400).
    NotCsvProvider,
    /// The profile is not provisioned: it is being created or deleted, or
    /// creating or deleting it failed (409).
    NotProvisioned(ProfileState),
    /// A previous upload is still being processed (409).
    UploadInProgress(SyncStatus),
}

impl Profile {
    /// Decides the outcome of uploadUrl for this profile. The data provider
    /// is checked first because it never changes: a profile with another
    /// provider never gets a URL, whatever its state.
    pub fn eligibility(&self) -> UploadEligibility {
        let record = &self.record;
        if !is_csv_provider(&record.data_provider.odata_type) {
            return UploadEligibility::NotCsvProvider;
        }
        if record.state != ProfileState::Provisioned {
            return UploadEligibility::NotProvisioned(record.state);
        }
        match &record.profile_status {
            Some(status) if status.status.is_processing() => {
                UploadEligibility::UploadInProgress(status.status)
            }
            _ => UploadEligibility::Ready,
        }
    }
}

/// Returns whether an `@odata.type` names the CSV data provider. OData writes type
/// names with a leading `#` in payloads; the bare name is accepted too.
fn is_csv_provider(odata_type: &str) -> bool {
    odata_type.strip_prefix('#').unwrap_or(odata_type) == &CSV_DATA_PROVIDER[1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOB: BlobService<'static> = BlobService {
        endpoint: "https://sdsstorage.blob.core.windows.net",
        account: "sdsstorage",
    };

    #[test]
    fn defaults_cover_every_outcome() {
        let store = ProfileStore::defaults(&BLOB);
        let outcomes: Vec<UploadEligibility> = store.iter().map(|(_, p)| p.eligibility()).collect();
        assert!(outcomes.contains(&UploadEligibility::Ready));
        assert!(outcomes.contains(&UploadEligibility::NotCsvProvider));
        assert!(outcomes
            .iter()
            .any(|o| matches!(o, UploadEligibility::NotProvisioned(_))));
        assert!(outcomes
            .iter()
            .any(|o| matches!(o, UploadEligibility::UploadInProgress(_))));
    }

    #[test]
    fn collection_response_is_accepted() {
        let text = r##"{
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#education/synchronizationProfiles",
            "value": [{
                "id": "86904b1e-c7d0-4ead-b13a-98f11fc400ee",
                "displayName": "Contoso",
                "state": "provisioned",
                "expirationDate": "2018-07-31",
                "dataProvider": {
                    "@odata.type": "#microsoft.graph.educationCsvDataProvider",
                    "customizations": {}
                }
            }]
        }"##;
        let store = ProfileStore::parse("test", text, &BLOB).unwrap();
        assert_eq!(store.len(), 1);
        let id = parse_guid("86904B1E-C7D0-4EAD-B13A-98F11FC400EE").unwrap();
        assert_eq!(
            store.get(&id).unwrap().eligibility(),
            UploadEligibility::Ready
        );
    }

    #[test]
    fn container_name_is_stable_lowercase_guid() {
        let text = r##"[{"id": "86904b1e-c7d0-4ead-b13a-98f11fc400ee", "displayName": "A",
            "state": "provisioned",
            "dataProvider": {"@odata.type": "#microsoft.graph.educationCsvDataProvider"}}]"##;
        let first = ProfileStore::parse("test", text, &BLOB).unwrap();
        let second = ProfileStore::parse("test", text, &BLOB).unwrap();
        let (_, a) = first.iter().next().unwrap();
        let (_, b) = second.iter().next().unwrap();
        assert_eq!(a.container_name, b.container_name);
        assert!(parse_guid(&a.container_name).is_some());
        assert_eq!(a.container_name, a.container_name.to_lowercase());
    }

    /// Renders an error with its chain of causes, as the binary prints it.
    fn message(error: &ProfilesError) -> String {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }

    #[test]
    fn byte_order_mark_is_accepted() {
        let text =
            "\u{feff}[{\"id\": \"86904b1e-c7d0-4ead-b13a-98f11fc400ee\", \"displayName\": \"A\", \
            \"state\": \"provisioned\", \
            \"dataProvider\": {\"@odata.type\": \"#microsoft.graph.educationCsvDataProvider\"}}]";
        assert_eq!(ProfileStore::parse("test", text, &BLOB).unwrap().len(), 1);
    }

    #[test]
    fn invalid_files_are_rejected_with_the_value() {
        let cases = [
            ("[]", "contains no profile"),
            (
                "{",
                "invalid --profiles file test.json: not JSON: EOF while parsing",
            ),
            (
                r#"[{"id": "x"}]"#,
                "invalid profile 0 in --profiles file test.json (each profile needs id, displayName, \
                 state and dataProvider with its @odata.type): missing field `displayName`",
            ),
            (
                r#"{"profiles": []}"#,
                "expected Graph's educationSynchronizationProfile JSON",
            ),
            (
                "42",
                "expected Graph's educationSynchronizationProfile JSON",
            ),
            (
                r#"{"value": 5}"#,
                "expected Graph's educationSynchronizationProfile JSON",
            ),
            (
                r#" {"value": null} "#,
                "expected Graph's educationSynchronizationProfile JSON",
            ),
            (
                "[1, 2",
                "invalid --profiles file test.json: not JSON",
            ),
            (
                r##"[{"id": "not-a-guid", "displayName": "A", "state": "provisioned",
                  "dataProvider": {"@odata.type": "#microsoft.graph.educationCsvDataProvider"}}]"##,
                "invalid profile id \"not-a-guid\"",
            ),
            (
                r##"[{"id": "86904b1e-c7d0-4ead-b13a-98f11fc400ee", "displayName": "A", "state": "ready",
                  "dataProvider": {"@odata.type": "#microsoft.graph.educationCsvDataProvider"}}]"##,
                "unknown variant `ready`",
            ),
        ];
        for (text, expected) in cases {
            let error = message(&ProfileStore::parse("test.json", text, &BLOB).unwrap_err());
            assert!(error.contains(expected), "{text}: {error}");
            // Each cause appears once, not pasted into the message as well.
            let first_cause = error.split(": ").last().unwrap();
            assert_eq!(error.matches(first_cause).count(), 1, "{error}");
        }
        let duplicate = r##"[
            {"id": "86904b1e-c7d0-4ead-b13a-98f11fc400ee", "displayName": "A", "state": "provisioned",
             "dataProvider": {"@odata.type": "#microsoft.graph.educationCsvDataProvider"}},
            {"id": "86904B1E-C7D0-4EAD-B13A-98F11FC400EE", "displayName": "B", "state": "provisioned",
             "dataProvider": {"@odata.type": "#microsoft.graph.educationCsvDataProvider"}}]"##;
        let error = message(&ProfileStore::parse("test.json", duplicate, &BLOB).unwrap_err());
        assert!(
            error.contains("duplicate profile id 86904b1e-c7d0-4ead-b13a-98f11fc400ee"),
            "{error}"
        );
    }
}
