//! The `daira` command's library: wires schema, graph-engine, discovery, reputation and fixtures
//! into the commands a user runs (`import`, `stats`, `audit verify`, `exec`, `fixtures
//! generate`, `demo`, `search`, `analyze`), and sets up the process's structured log.
//!
//! Everything that touches stored data takes a [`DataConfig`]: the data directory and, when the
//! log lives on PostgreSQL, its URL.

pub mod analyze;
pub mod demo;
pub mod exec;
pub mod governance;
pub mod ledger;
pub mod logging;
pub mod message;
pub mod parquet_export;
pub mod progress;
pub mod recompute;
pub mod stats;

pub use discovery;
use graph_engine::EngineConfig;
use std::path::PathBuf;

/// Where the data lives.
#[derive(Clone, Debug)]
pub struct DataConfig {
    /// The data directory (default `./daira-data`, or `$DAIRA_DATA`).
    pub data: PathBuf,
    /// A `postgres://` URL for the log (or `$DATABASE_URL`).
    pub database_url: Option<String>,
    /// The PostgreSQL schema for the log (and the accounts), `$DAIRA_PG_SCHEMA`.
    pub pg_schema: Option<String>,
    /// The server's key file (default `keys.json` in the data directory), `$DAIRA_KEY_FILE`.
    pub key_file: Option<PathBuf>,
}

impl DataConfig {
    /// The engine configuration for this data.
    pub fn engine(&self) -> EngineConfig {
        let mut config = EngineConfig::new(&self.data);
        config.database_url = self.database_url.clone();
        config.pg_schema = self.pg_schema.clone();
        config.key_file = self.key_file.clone();
        config
    }
}
