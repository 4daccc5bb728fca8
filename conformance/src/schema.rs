//! Validation of response bodies against the schemas of the checked-in
//! OpenAPI document, so that the server and the document cannot drift apart
//! unnoticed. The document is compiled into the crate; each response schema
//! is checked with the `jsonschema` crate, with `$ref`s resolved inside the
//! document and nothing fetched.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{json, Value};

/// The checked-in document.
const DOCUMENT: &str = include_str!("../../openapi/uploadurl.json");

/// The operation's path in the document.
const OPERATION: &str = "/paths/~1education~1synchronizationProfiles~1{id}~1uploadUrl/get";

/// The compiled response schemas of the operation, by status key (`200`,
/// `4XX`, ...).
pub struct ResponseSchemas {
    validators: HashMap<String, jsonschema::Validator>,
}

impl ResponseSchemas {
    /// Returns the schemas of the checked-in document, compiled once.
    pub fn checked_in() -> &'static ResponseSchemas {
        static SCHEMAS: OnceLock<ResponseSchemas> = OnceLock::new();
        SCHEMAS.get_or_init(|| {
            let document: Value =
                serde_json::from_str(DOCUMENT).expect("the checked-in document is JSON");
            ResponseSchemas::from_document(&document).expect("the checked-in schemas compile")
        })
    }

    /// Compiles the JSON response schemas of the operation in `document`.
    pub fn from_document(document: &Value) -> anyhow::Result<ResponseSchemas> {
        let responses = document
            .pointer(&format!("{OPERATION}/responses"))
            .and_then(Value::as_object)
            .ok_or_else(|| anyhow::anyhow!("the document has no responses for uploadUrl"))?;
        let mut validators = HashMap::new();
        for (status, response) in responses {
            let response = match response["$ref"].as_str() {
                Some(reference) => document
                    .pointer(reference.trim_start_matches('#'))
                    .ok_or_else(|| anyhow::anyhow!("unresolved reference {reference}"))?,
                None => response,
            };
            let Some(schema) = response.pointer("/content/application~1json/schema") else {
                continue;
            };
            // The schema's `$ref`s point into the document, so the document's
            // components travel with it.
            let root = json!({
                "allOf": [schema],
                "components": document["components"],
            });
            let validator = jsonschema::validator_for(&root).map_err(|error| {
                anyhow::anyhow!("the {status} schema does not compile: {error}")
            })?;
            validators.insert(status.clone(), validator);
        }
        Ok(ResponseSchemas { validators })
    }

    /// Checks `body` against the schema for `status`: the exact status, or
    /// its class (`4XX`), or `default`.
    pub fn validate(&self, status: u16, body: &Value) -> Result<(), String> {
        let class = format!("{}XX", status / 100);
        let validator = [status.to_string(), class, "default".to_string()]
            .iter()
            .find_map(|key| self.validators.get(key))
            .ok_or_else(|| format!("the document has no JSON response for status {status}"))?;
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|error| {
                let at = error.instance_path().to_string();
                let at = if at.is_empty() { "/".to_string() } else { at };
                format!("{error} at {at}")
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the {status} body does not match the document's schema: {}",
                errors.join("; ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_bodies_pass_and_others_fail() {
        let schemas = ResponseSchemas::checked_in();
        let ok = json!({"@odata.context": "https://graph.microsoft.com/beta/$metadata#String", "value": "x"});
        assert_eq!(schemas.validate(200, &ok), Ok(()));
        let error = json!({"error": {"code": "c", "message": "m", "innerError": {
            "request-id": "r", "client-request-id": "r", "date": "2026-01-01T00:00:00"}}});
        assert_eq!(schemas.validate(404, &error), Ok(()));

        let missing = json!({"@odata.context": "x"});
        let message = schemas.validate(200, &missing).unwrap_err();
        assert!(message.contains("value"), "{message}");
        let wrong_type = json!({"@odata.context": "x", "value": 3});
        assert!(schemas.validate(200, &wrong_type).is_err());
        let dropshot_body = json!({"request_id": "r", "message": "Not Found"});
        assert!(schemas.validate(404, &dropshot_body).is_err());
    }
}
