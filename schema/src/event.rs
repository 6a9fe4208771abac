//! Events: the only things that change the graph. Each is appended to the hash-chained log.

use crate::{EdgeKind, F32s, I64s, Id, Props, U32s, U64s, VertexKind};
use serde::{Deserialize, Serialize};

/// One change to the graph, as stored in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A vertex came into being. `external` is the id it had in an imported file, if any.
    VertexCreated {
        /// The new vertex.
        id: Id,
        /// Its kind.
        kind: VertexKind,
        /// Its properties (for a mask: `kind`, `handle`, `display_name`, `bio`).
        props: Props,
        /// The id it had in an imported file.
        external: Option<String>,
    },
    /// Properties of a vertex were set (keys given replace the old values).
    PropsSet {
        /// The vertex.
        id: Id,
        /// The properties that change.
        props: Props,
    },
    /// An edge was added, or its weight and time replaced if it existed.
    EdgeAdded {
        /// The edge kind.
        kind: EdgeKind,
        /// The source vertex.
        src: Id,
        /// The target vertex.
        dst: Id,
        /// The kind's weight (rating, share, amount, choice), if it has one.
        weight: Option<f32>,
        /// When it happened, in milliseconds since the Unix epoch.
        time_ms: Option<i64>,
    },
    /// An edge was removed.
    EdgeRemoved {
        /// The edge kind.
        kind: EdgeKind,
        /// The source vertex.
        src: Id,
        /// The target vertex.
        dst: Id,
    },
    /// One part of a bulk import. The parts of one import are appended in one transaction:
    /// `Begin`, then vertices and references, then edges, then `End`.
    Bulk(Bulk),
}

/// The parts of a bulk import. Edges name vertices by their position in the import's vertex
/// table: every `Vertices` and `Refs` part appends to that table, in log order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Bulk {
    /// Opens an import.
    Begin {
        /// Where the data came from (a file name), for the audit trail.
        source: String,
        /// How many vertices the import creates.
        vertices: u64,
        /// How many edges it adds.
        edges: u64,
    },
    /// New vertices of one kind.
    Vertices {
        /// Their kind.
        kind: VertexKind,
        /// Their ids.
        ids: U64s,
        /// Their ids in the imported file (same length as `ids`).
        external: Vec<String>,
        /// Their properties (empty, or the same length as `ids`).
        props: Vec<Props>,
    },
    /// Vertices that existed before the import and that its edges use.
    Refs {
        /// Their ids.
        ids: U64s,
    },
    /// Edges of one kind, sorted by (source, target) position and without duplicates.
    Edges {
        /// The edge kind.
        kind: EdgeKind,
        /// Source positions in the import's vertex table.
        src: U32s,
        /// Target positions in the import's vertex table.
        dst: U32s,
        /// Weights (absent, or one per edge).
        weight: Option<F32s>,
        /// Times in milliseconds (absent, or one per edge).
        time_ms: Option<I64s>,
    },
    /// Closes an import.
    End,
}

impl Event {
    /// How many graph elements (vertices and edges) the event touches: a measure of its size.
    pub fn weight(&self) -> u64 {
        match self {
            Event::Bulk(Bulk::Vertices { ids, .. }) | Event::Bulk(Bulk::Refs { ids }) => ids.0.len() as u64,
            Event::Bulk(Bulk::Edges { src, .. }) => src.0.len() as u64,
            _ => 1,
        }
    }
}
