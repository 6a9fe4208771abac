//! The process's structured log: `tracing` events from every crate, written to stderr as one
//! JSON object per line — `ts` (RFC 3339, UTC), `level`, `msg`, then the event's own fields:
//!
//! ```text
//! {"ts":"2026-12-03T13:02:11.123456Z","level":"info","msg":"listening","addr":"127.0.0.1:8080",…}
//! ```
//!
//! `RUST_LOG` filters as usual (default `info`; the HTTP and SQL libraries' own events are
//! kept at `warn`).

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// What is logged when `RUST_LOG` says nothing.
const DEFAULT_FILTER: &str = "info,sqlx=warn,hyper=warn,tantivy=warn";

/// Installs the JSON-lines subscriber for the whole process (once; later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(JsonLines)
        .try_init();
}

/// The line format (see the module's documentation).
pub struct JsonLines;

/// Collects an event's fields into a JSON object.
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut ts = String::new();
        SystemTime.format_time(&mut Writer::new(&mut ts))?;
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let msg = fields.0.remove("message").unwrap_or(Value::from(""));
        let level = Value::from(event.metadata().level().as_str().to_ascii_lowercase());
        // `ts`, `level` and `msg` first, as people read a line; then the event's fields.
        let mut line = String::with_capacity(128);
        line.push('{');
        let head = [("ts".to_owned(), Value::from(ts)), ("level".to_owned(), level), ("msg".to_owned(), msg)];
        for (i, (key, value)) in head.into_iter().chain(fields.0).enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&Value::from(key).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        }
        line.push('}');
        writeln!(writer, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer that keeps what it is given.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_are_json_lines_with_ts_level_msg_and_fields() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || sink.clone()).event_format(JsonLines).finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(addr = %"127.0.0.1:8080", log_seq = 42u64, ratio = 0.5, "listening");
            tracing::warn!("no fields");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            text.starts_with("{\"ts\":\"") && text.contains("\",\"level\":\"info\",\"msg\":\"listening\","),
            "{text}"
        );
        assert_eq!(lines[0]["level"], "info");
        assert_eq!(lines[0]["msg"], "listening");
        assert_eq!(lines[0]["addr"], "127.0.0.1:8080");
        assert_eq!(lines[0]["log_seq"], 42);
        assert_eq!(lines[0]["ratio"], 0.5);
        let ts = lines[0]["ts"].as_str().unwrap();
        assert!(ts.starts_with("20") && ts.ends_with('Z') && &ts[10..11] == "T", "{ts}");
        assert_eq!(lines[1]["level"], "warn");
        assert_eq!(lines[1]["msg"], "no fields");
    }
}
