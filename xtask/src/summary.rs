//! The API summary that `cargo xtask regen` writes next to the document:
//! operations, their parameters, status codes and schema names, and each
//! schema's properties, short enough that a change of the API's shape reads
//! at a glance in a pull request's diff.

use std::fmt::Write as _;

use serde_json::Value;

/// Renders the summary of an OpenAPI document.
pub fn render(document: &Value, banner: &str) -> String {
    let mut text = format!("<!-- {banner} -->\n\n# API summary\n");
    let empty = serde_json::Map::new();
    let paths = document["paths"].as_object().unwrap_or(&empty);
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, operation) in item {
            if operation.get("responses").is_none() {
                continue;
            }
            let id = operation["operationId"].as_str().unwrap_or("-");
            let _ = writeln!(
                text,
                "\n## {} {path} (`{id}`)\n",
                method.to_ascii_uppercase()
            );
            let parameters: Vec<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|parameter| {
                    format!(
                        "`{}` ({}, {}, {})",
                        parameter["name"].as_str().unwrap_or("?"),
                        parameter["in"].as_str().unwrap_or("?"),
                        if parameter["required"].as_bool() == Some(true) {
                            "required"
                        } else {
                            "optional"
                        },
                        type_name(&parameter["schema"])
                    )
                })
                .collect();
            let parameters = if parameters.is_empty() {
                "none".to_string()
            } else {
                parameters.join(", ")
            };
            let _ = writeln!(text, "Parameters: {parameters}\n");
            text.push_str("| status | body |\n| --- | --- |\n");
            let responses = operation["responses"].as_object().unwrap_or(&empty);
            for (status, response) in responses {
                let _ = writeln!(text, "| {status} | {} |", response_body(document, response));
            }
        }
    }
    text.push_str("\n## Schemas\n\n");
    let schemas = document["components"]["schemas"]
        .as_object()
        .unwrap_or(&empty);
    for (name, schema) in schemas {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let properties: Vec<String> = schema["properties"]
            .as_object()
            .unwrap_or(&empty)
            .iter()
            .map(|(property, value)| {
                let marker = if required.contains(&property.as_str()) {
                    ""
                } else {
                    "?"
                };
                format!("`{property}{marker}`: {}", type_name(value))
            })
            .collect();
        let _ = writeln!(text, "- `{name}`: {}", properties.join(", "));
    }
    text.push_str("\n`?` marks an optional property.\n");
    text
}

/// Names the body of a response: its content type and schema.
fn response_body(document: &Value, response: &Value) -> String {
    let response = match response["$ref"].as_str() {
        Some(reference) => resolve(document, reference).unwrap_or(response),
        None => response,
    };
    let content = match response["content"].as_object() {
        Some(content) if !content.is_empty() => content,
        _ => return "none".to_string(),
    };
    content
        .iter()
        .map(|(media_type, body)| format!("{} ({media_type})", type_name(&body["schema"])))
        .collect::<Vec<_>>()
        .join(", ")
}

fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    document.pointer(reference.strip_prefix('#')?)
}

/// Names a schema: the component it refers to, or its type with its format
/// (`string (uuid)`), with `| null` when it is nullable.
fn type_name(schema: &Value) -> String {
    let name = if let Some(reference) = schema["$ref"].as_str() {
        format!("`{}`", reference.rsplit('/').next().unwrap_or(reference))
    } else if let Some(items) = schema.get("items") {
        format!("array of {}", type_name(items))
    } else if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().map(Value::to_string).collect();
        format!("enum {}", values.join(" | "))
    } else if let Some(all) = schema["allOf"].as_array().filter(|all| all.len() == 1) {
        type_name(&all[0])
    } else {
        let name = schema["type"].as_str().unwrap_or("any");
        match schema["format"].as_str() {
            Some(format) => format!("{name} ({format})"),
            None => name.to_string(),
        }
    };
    if schema["nullable"].as_bool() == Some(true) {
        format!("{name} | null")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_operations_statuses_and_schemas() {
        let document = serde_json::json!({
            "paths": {"/a/{id}": {"get": {
                "operationId": "get_a",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}},
                    "4XX": {"$ref": "#/components/responses/Error"}
                }
            }}},
            "components": {
                "responses": {"Error": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/E"}}}}},
                "schemas": {
                    "A": {"properties": {"v": {"type": "string", "nullable": true}, "w": {"type": "integer"}}, "required": ["v"]},
                    "E": {"properties": {}}
                }
            }
        });
        let text = render(&document, "banner");
        assert!(text.contains("## GET /a/{id} (`get_a`)"), "{text}");
        assert!(
            text.contains("Parameters: `id` (path, required, string (uuid))"),
            "{text}"
        );
        assert!(text.contains("| 200 | `A` (application/json) |"), "{text}");
        assert!(text.contains("| 4XX | `E` (application/json) |"), "{text}");
        assert!(
            text.contains("- `A`: `v`: string | null, `w?`: integer"),
            "{text}"
        );
    }
}
