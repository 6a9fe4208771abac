//! Structured log lines on stderr: one JSON object per line with `ts`, `level`, `msg` and the
//! event's fields.

use serde_json::{Map, Value, json};
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// An RFC 3339 UTC timestamp with milliseconds.
pub fn timestamp() -> String {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Writes one line at `level` with `fields` (a JSON object).
pub fn line(level: &str, msg: &str, fields: Value) {
    let mut object = Map::new();
    object.insert("ts".into(), json!(timestamp()));
    object.insert("level".into(), json!(level));
    object.insert("msg".into(), json!(msg));
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    let mut text = Value::Object(object).to_string();
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// An informational line.
pub fn info(msg: &str, fields: Value) {
    line("info", msg, fields);
}

/// A warning.
pub fn warn(msg: &str, fields: Value) {
    line("warn", msg, fields);
}

/// An internal error's detail (never sent to clients).
pub fn error(what: &str, detail: &str) {
    line("error", what, json!({ "detail": detail }));
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_look_like_rfc3339() {
        let ts = super::timestamp();
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.starts_with("20") && ts.ends_with('Z') && &ts[10..11] == "T", "{ts}");
    }
}
