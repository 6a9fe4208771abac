//! End-to-end tests of the `daira` binary: imports, stats, audit, bad input, crashes, discovery
//! and the GraphQL API.

mod abuse;
mod api;
mod cli;
mod columnar;
mod consent;
mod crash;
mod economy;
mod erasure;
mod export;
mod governance;
mod listing;
mod messages;
mod moderation;
mod order;
mod privacy;
mod private;
mod replicas;
mod search;
mod server;
mod talk;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `daira` binary under test.
pub fn daira(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_daira"));
    command.arg("--data").arg(data).env_remove("DATABASE_URL").env_remove("DAIRA_DATA");
    command
}

/// Runs `daira ARGS` and returns its output.
pub fn run(data: &Path, args: &[&str]) -> Output {
    daira(data).args(args).output().expect("daira runs")
}

/// The PostgreSQL server of the PostgreSQL tests (`DAIRA_TEST_POSTGRES_URL`), and a fresh
/// schema name there starting with `prefix`.
pub fn postgres(prefix: &str) -> (String, String) {
    let url = std::env::var("DAIRA_TEST_POSTGRES_URL").expect("DAIRA_TEST_POSTGRES_URL names the server");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    (url, format!("{prefix}_{}_{nanos}", std::process::id()))
}

/// `daira stats --json`, parsed.
pub fn stats(data: &Path) -> serde_json::Value {
    let out = run(data, &["stats", "--json"]);
    assert!(out.status.success(), "stats: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("stats JSON")
}

/// Writes `text` to a file in `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The first (only) field of a mutation's `data`: its payload.
pub fn payload(data: &serde_json::Value) -> &serde_json::Value {
    data.as_object().unwrap().values().next().unwrap()
}

/// The log's head sequence number, from `/healthz`.
pub fn log_seq(server: &server::Server) -> u64 {
    server.request("GET", "/healthz", &[], b"").json()["log_seq"].as_u64().expect("healthz names log_seq")
}

/// Runs a mutation taking `$i` as its input that must be refused: its first user error, with
/// the log unchanged.
pub fn refused(server: &server::Server, token: &str, query: &str, input: serde_json::Value) -> serde_json::Value {
    let before = log_seq(server);
    let data = server.gql(query, serde_json::json!({"i": input}), Some(token));
    let errors = &payload(&data)["userErrors"];
    assert!(errors.as_array().is_some_and(|e| !e.is_empty()), "expected a refusal: {data}");
    assert_eq!(log_seq(server), before, "a refusal leaves the log unchanged: {data}");
    errors[0].clone()
}

/// Runs a mutation taking `$i` as its input that must succeed: its payload.
pub fn ok(server: &server::Server, token: &str, query: &str, input: serde_json::Value) -> serde_json::Value {
    let data = server.gql(query, serde_json::json!({"i": input}), Some(token));
    assert_eq!(payload(&data)["userErrors"], serde_json::json!([]), "{data}");
    payload(&data).clone()
}
