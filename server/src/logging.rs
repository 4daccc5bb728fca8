//! Log output: one JSON object per line, with secrets redacted.
//!
//! Every record passes through [`Redacting`], which removes query strings
//! from `uri` values, replaces anything that looks like a JWT or a SAS
//! `sig`, and drops values under keys that name a token or an
//! `Authorization` header. The router writes the per-request line, with the
//! profile id, so dropshot's own line is dropped. dropshot's line is kept for
//! the requests it rejects before routing, which carry
//! `error_message_internal`.

use std::io::Write;
use std::sync::Mutex;

use regex::Regex;
use slog::{Drain, Key, OwnedKVList, Record, KV};

/// A drain that writes each record as one JSON line.
pub struct JsonLines<W: Write> {
    writer: Mutex<W>,
    redaction: Redaction,
}

impl<W: Write> JsonLines<W> {
    /// Writes records to `writer`.
    pub fn new(writer: W) -> Self {
        JsonLines {
            writer: Mutex::new(writer),
            redaction: Redaction::new(),
        }
    }
}

impl<W: Write + Send> Drain for JsonLines<W> {
    type Ok = ();
    type Err = std::io::Error;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> std::io::Result<()> {
        let mut fields = serde_json::Map::new();
        fields.insert(
            "time".to_string(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
        fields.insert("level".to_string(), record.level().as_str().into());
        fields.insert(
            "msg".to_string(),
            self.redaction
                .value("msg", &record.msg().to_string())
                .into(),
        );
        let mut collector = Redacting {
            fields: &mut fields,
            redaction: &self.redaction,
        };
        values
            .serialize(record, &mut collector)
            .map_err(std::io::Error::other)?;
        record
            .kv()
            .serialize(record, &mut collector)
            .map_err(std::io::Error::other)?;

        let replaced_by_router = record.module().starts_with("dropshot")
            && record.msg().to_string() == "request completed"
            && !fields.contains_key("error_message_internal");
        if replaced_by_router {
            return Ok(());
        }

        let mut line = serde_json::to_vec(&serde_json::Value::Object(fields))?;
        line.push(b'\n');
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        writer.write_all(&line)?;
        writer.flush()
    }
}

/// The redaction rules.
struct Redaction {
    jwt: Regex,
    sig: Regex,
}

impl Redaction {
    fn new() -> Self {
        Redaction {
            // A JWT's header and payload are base64url JSON objects, so each
            // starts with `e`, and the header with `ey` or `ew` (`{"`, `{ `,
            // `{` and a line break). In a path, a dot may arrive
            // percent-encoded once (`%2E`) or more (`%252E`), and the
            // segments may be separated by `/` or `%2F` instead.
            jwt: Regex::new(
                r"(?i)(?-i:e[wy])[A-Za-z0-9_-]{8,}(?:\.|/|%(?:25)*2[EF])(?-i:e)[A-Za-z0-9_-]*(?:(?:\.|/|%(?:25)*2[EF])[A-Za-z0-9_-]*)?",
            )
            .unwrap(),
            // A signature contains `/` or `%2F`, so only `&` and white space
            // end it.
            sig: Regex::new(r"(?i)(sig(?:=|%(?:25)*3D))[^&\s]*").unwrap(),
        }
    }

    /// Returns `value` with secrets replaced, given its key.
    fn value(&self, key: &str, value: &str) -> String {
        let key = key.to_ascii_lowercase();
        if key.contains("authorization") || key.contains("token") || key.contains("secret") {
            return "[redacted]".to_string();
        }
        let value = if key == "uri" || key == "path" {
            match value.split_once('?') {
                Some((path, _)) => format!("{path}?[query redacted]"),
                None => value.to_string(),
            }
        } else {
            value.to_string()
        };
        let value = self.jwt.replace_all(&value, "[token redacted]");
        self.sig.replace_all(&value, "${1}[redacted]").into_owned()
    }
}

/// Collects key-value pairs into a JSON object, redacting strings.
struct Redacting<'a> {
    fields: &'a mut serde_json::Map<String, serde_json::Value>,
    redaction: &'a Redaction,
}

impl Redacting<'_> {
    fn insert(&mut self, key: Key, value: serde_json::Value) -> slog::Result {
        self.fields.insert(key.to_string(), value);
        Ok(())
    }
}

macro_rules! emit_number {
    ($($name:ident: $type:ty),*) => {
        $(fn $name(&mut self, key: Key, value: $type) -> slog::Result {
            self.insert(key, value.into())
        })*
    };
}

impl slog::Serializer for Redacting<'_> {
    fn emit_arguments(&mut self, key: Key, value: &std::fmt::Arguments<'_>) -> slog::Result {
        let text = self.redaction.value(key.as_ref(), &value.to_string());
        self.insert(key, text.into())
    }

    emit_number!(emit_u8: u8, emit_u16: u16, emit_u32: u32, emit_u64: u64, emit_i8: i8,
        emit_i16: i16, emit_i32: i32, emit_i64: i64, emit_bool: bool, emit_usize: usize,
        emit_isize: isize);

    fn emit_unit(&mut self, key: Key) -> slog::Result {
        self.insert(key, serde_json::Value::Null)
    }

    fn emit_none(&mut self, key: Key) -> slog::Result {
        self.insert(key, serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(bytes)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let buffer = Buffer::default();
        let log = slog::Logger::root(JsonLines::new(buffer.clone()).fuse(), slog::o!());
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzY3AiOiJ4In0.c2lnbmF0dXJl";
        slog::info!(log, "request";
            "uri" => "/beta/x?access_token=abc",
            "authorization" => "Bearer abc",
            "note" => format!("token {jwt} in text"),
            "value" => "https://a/c?sv=2015-07-08&sig=AbC%2B%3D&se=x",
            "encoded" => format!("/beta/{}/x", jwt.replace('.', "%2E")),
            "encoded_sig" => "/beta/sig%3DSECRETSIG/x",
            "double_encoded" => format!("/beta/{}/x", jwt.replace('.', "%252E")),
            "split" => format!("/beta/{}/x", jwt.replacen('.', "/", 2).replacen('/', ".", 1)),
            "sig_with_slash" => "/beta/x/sig%3DSECRET%2FSIG/TAIL%3D",
            "slashes" => format!("/beta/{}/uploadUrl", jwt.replace('.', "/")),
            "encoded_slashes" => format!("/beta/{}/uploadUrl", jwt.replace('.', "%2F")),
            // `{ "alg"` with a space: the header starts `eyAi`, not `eyJ`.
            "spaced_header" => "/beta/eyAiYWxnIjogIkhTMjU2IiB9.eyJzY3AiOiJ4In0.c2lnbmF0dXJl/x",
            "ordinary" => "/beta/education/synchronizationProfiles('9cbbf4f1-5a07-4f8e-9e51-1d3c40a6a2b1')/microsoft.graph.uploadUrl()",
            "status" => 200u16,
        );
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["uri"], "/beta/x?[query redacted]");
        assert_eq!(line["authorization"], "[redacted]");
        assert_eq!(line["note"], "token [token redacted] in text");
        assert_eq!(
            line["value"],
            "https://a/c?sv=2015-07-08&sig=[redacted]&se=x"
        );
        assert_eq!(line["encoded"], "/beta/[token redacted]/x");
        assert_eq!(line["encoded_sig"], "/beta/sig%3D[redacted]");
        assert_eq!(line["double_encoded"], "/beta/[token redacted]/x");
        assert_eq!(line["split"], "/beta/[token redacted]/x");
        assert_eq!(line["sig_with_slash"], "/beta/x/sig%3D[redacted]");
        assert_eq!(line["slashes"], "/beta/[token redacted]/uploadUrl");
        assert_eq!(line["encoded_slashes"], "/beta/[token redacted]/uploadUrl");
        assert_eq!(line["spaced_header"], "/beta/[token redacted]/x");
        assert_eq!(
            line["ordinary"],
            "/beta/education/synchronizationProfiles('9cbbf4f1-5a07-4f8e-9e51-1d3c40a6a2b1')/microsoft.graph.uploadUrl()"
        );
        assert_eq!(line["status"], 200);
        assert_eq!(line["level"], "INFO");
        assert!(!text.contains("abc"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(!text.contains("c2lnbmF0dXJl"), "{text}");
    }
}
