//! DAIRA's property graph engine.
//!
//! The [`Graph`] is an in-memory property graph: a vertex table with unique indexes (ids,
//! external ids, mask handles) and, per edge kind, a compacted CSR in both directions plus a
//! small delta. It changes only by applying [`schema::Event`]s. The [`Engine`] keeps a graph
//! equal to the replay of its durable, hash-chained event log ([`EventLog`], with SQLite and
//! PostgreSQL backends): it decides each [`schema::Command`] against the graph, appends the
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

pub use adjacency::{EdgeProps, Neighbors};
pub use csr::{Csr, KindWeight};
pub use engine::{
    Committed, Engine, EngineConfig, GROUP_COMMIT_MAX, NoProgress, Progress, Receipt, WRITE_QUEUE_MAX, WriterStats,
    replay,
};
pub use error::{Error, Result};
pub use log::{AnyLog, EventLog, Record, Verification};
pub use store::{Graph, LogPosition, VertexView};
pub use view::GraphView;
