//! DAIRA's property graph engine.
//!
//! The [`Graph`] is an in-memory property graph: a vertex table with unique indexes (ids,
//! external ids, mask handles) and, per edge kind, a compacted CSR in both directions plus a
//! small delta. It changes only by applying [`schema::Event`]s. The [`Engine`] keeps a graph
//! equal to the replay of its durable, hash-chained event log (SQLite and PostgreSQL backends;
//! other crates read it through [`LogReader`], only the engine's writer appends): it decides each [`schema::Command`] against the graph, appends the
//! events (group commit), applies them and tells subscribers. Importers ([`import`]) turn
//! researchers' edge lists and DAIRA's JSONL into one atomic import; [`Csr`] cuts weighted CSR
//! snapshots for analytics.

mod adjacency;
mod csr;
mod engine;
mod error;
pub mod import;
mod import_jsonl;
pub mod log;
mod scatter;
mod store;
mod view;

#[cfg(test)]
mod replay_tests;

pub use adjacency::{EdgeProps, Neighbors};
pub use csr::{Csr, KindWeight};
pub use engine::{
    Committed, Engine, EngineConfig, GROUP_COMMIT_MAX, NoProgress, Progress, Receipt, WRITE_QUEUE_MAX, WriterStats,
    replay,
};
pub use error::{Error, Result};
pub use log::{AnyLog, LogReader, Record, Verification};
pub use store::{Graph, LogPosition, VertexView};
pub use view::GraphView;
