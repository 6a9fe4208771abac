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
    /// Changes only the owner's key may read: a mask's owner link (`owns`) and its personal
    /// text (`display_name`, `bio`). The rules decide them in clear; the log stores them as a
    /// [`Event::Sealed`] envelope under `owner`'s key, and replay opens it with that key.
    Owned {
        /// The user whose key seals the events.
        owner: Id,
        /// The events: `owns` edges from `owner` and properties of its masks.
        events: Vec<Event>,
    },
    /// An account was erased. Stored sealed under the server's key (it names the account's
    /// masks together, which nobody reading the log may learn); its user's key is destroyed
    /// in the same transaction, so the account's [`Event::Owned`] envelopes can never be
    /// opened again.
    Erased(Erasure),
    /// The stored form of [`Event::Owned`] and [`Event::Erased`]: an XChaCha20-Poly1305
    /// envelope. The chain hash covers it as stored, so verifying the log needs no key;
    /// replay opens it (graph-engine's `seal` module) and never applies it as it is.
    Sealed(Sealed),
    // New variants go last: the log stores the variant's index.
    /// A governance event: rules, proposals, ballots, delegations, results.
    Gov(crate::governance::Gov),
    /// Events only the server may read, stored sealed under its key: the ballots of secret
    /// proposals. The graph applies them like any other.
    Confidential(Vec<Event>),
    /// An economy event: transfers, listings, trades, contracts. Those that move money are
    /// stored inside [`Event::Confidential`]: balances are their owners' alone.
    Econ(crate::economy::Econ),
}

/// What erasing an account does, as the rules decided it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Erasure {
    /// The account's user.
    pub user: Id,
    /// Its masks when it was erased: they lose their owner link and personal text.
    pub masks: Vec<Id>,
    /// Whether works whose every author is now erased are hidden too.
    pub hide_works: bool,
    /// When the masks' handles may be taken by others, in milliseconds since the Unix epoch.
    pub handles_free_at_ms: i64,
}

/// A sealed envelope as the log stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Which key opens it.
    pub lock: Lock,
    /// The body's XChaCha20-Poly1305 nonce.
    pub nonce: [u8; 24],
    /// The encrypted event, with its 16-byte tag.
    pub body: Vec<u8>,
}

/// Which key opens a [`Sealed`] envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lock {
    /// The server's key.
    Server,
    /// A user's key. `locator` names the key, encrypted under the server's key with a fresh
    /// nonce each time, so two envelopes of one user do not look alike to a reader of the log.
    User {
        /// Nonce and ciphertext of the key's id.
        locator: Vec<u8>,
    },
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
            Event::Owned { events, .. } | Event::Confidential(events) => events.iter().map(Event::weight).sum(),
            _ => 1,
        }
    }

    /// Calls `visit` with this event, or with each event inside it when it is
    /// [`Event::Owned`]: what the graph applies.
    pub fn for_each_plain<'a>(&'a self, visit: &mut impl FnMut(&'a Event)) {
        match self {
            Event::Owned { events, .. } | Event::Confidential(events) => {
                events.iter().for_each(|e| e.for_each_plain(visit))
            }
            event => visit(event),
        }
    }
}
