//! DAIRA's property graph engine.
//!
//! The [`Graph`] is an in-memory property graph: a vertex table with unique indexes (ids,
//! external ids, mask handles) and, per edge kind, a compacted CSR in both directions plus a
//! small delta. It changes only by applying [`schema::Event`]s, and only this crate applies
//! them. The [`Engine`] keeps a graph equal to the replay of its durable, hash-chained event log
//! (SQLite or PostgreSQL): it decides each [`schema::Command`] against the graph, appends the
//! events (group commit), applies them and tells subscribers. Other crates read the log through
//! [`LogReader`]; appending is the engine's writer's alone.
//!
//! Importers ([`import`]) turn researchers' edge lists and DAIRA's JSONL into one atomic import;
//! [`Graph::from_import`] loads one into a graph that has no log. [`Csr`] cuts weighted CSR
//! snapshots of a graph for analytics, and [`topology`] reads an edge list straight into CSR
//! arrays for jobs that need nothing else (the researcher's fast path).

mod adjacency;
mod csr;
mod edge_list;
mod engine;
mod error;
pub mod import;
mod import_jsonl;
pub mod keyfile;
pub mod log;
mod scatter;
mod seal;
mod store;
pub mod topology;
mod view;

#[cfg(test)]
mod replay_tests;

pub use adjacency::{EdgeProps, Neighbors};
pub use csr::{Csr, KindWeight};
pub use edge_list::Names;
pub use engine::{
    Committed, Engine, EngineConfig, GROUP_COMMIT_MAX, NoProgress, Progress, Receipt, WRITE_QUEUE_MAX, WriterStats,
    replay, replay_through,
};
pub use error::{Error, Result};
pub use log::{AnyLog, LogReader, Record, Verification};
pub use store::{Graph, LogPosition, VertexView};
pub use topology::{Side, Topology, TopologyOptions};
pub use view::{GraphView, Reputation, view_with};

/// The ledger id of an idempotency key a client chose, keyed by the mask that chose it (and
/// what it names: `"transfer"`, `"buy"`, `"issue"`), so one mask's keys never meet another's
/// and a conflict never tells anyone that someone else used a key. The API and `daira exec`
/// name transfers the same way.
pub fn ledger_key(domain: &str, mask: schema::Id, key: &str) -> u128 {
    let mut h = blake3::Hasher::new();
    h.update(b"daira-ledger-key\0");
    h.update(domain.as_bytes());
    h.update(&[0]);
    h.update(&mask.0.to_le_bytes());
    h.update(key.as_bytes());
    u128::from_le_bytes(h.finalize().as_bytes()[..16].try_into().expect("16 bytes"))
}
