//! Discovery: a Tantivy index of worlds, works and public masks that understands Arabic,
//! Egyptian dialect, Arabizi and English, ranked with reputation.
//!
//! - [`analysis`]: the analysis chain, word by word (character folding, light stemming, dialect
//!   groups, consonant skeletons for Arabizi, English stemming), as tantivy tokenizers.
//! - [`Doc`]: what is indexed, built from an entity's public face ([`Doc::from_entity`]), and
//!   which entities an event touches ([`touched`]); the caller follows the engine's event stream.
//! - [`SearchIndex`]: the index on disk (or in memory), stamped with the log position it covers,
//!   and [`SearchIndex::search`]: text relevance re-ranked with [`Signals`] by a [`Blend`].
//! - [`stock`]: tantivy's stock analyzers on the same documents, the baselines of the
//!   evaluation and of the benchmark.
//!
//! This crate knows nothing of the graph engine, HTTP or GraphQL: it takes documents and events
//! and answers requests.

pub mod analysis;
mod doc;
mod index;
pub mod rank;
pub mod stock;

pub use analysis::Lang;
pub use doc::{Doc, DocKind, Entity, HIDDEN, mask_is_discoverable, touched};
pub use index::{
    ANALYSIS_VERSION, Hit, LIMIT_MAX, QUERY_BYTES_MAX, QUERY_WORDS_MAX, Request, SearchIndex, Stamp, WriterOptions,
};
pub use rank::{Blend, NoSignals, PriorTable, Signals};

/// What can go wrong in discovery.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is not one we can answer; the message says why.
    #[error("bad query: {0}")]
    Query(String),
    /// The index failed.
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// What happened.
        source: std::io::Error,
    },
    /// Another writer (another process) holds the index.
    #[error("another process is writing this search index")]
    Busy,
    /// A write through a read-only handle.
    #[error("this search index was opened read-only")]
    ReadOnly,
    /// A read-only open found no index of this version.
    #[error("{0} holds no search index of this version; open it for writing to rebuild it")]
    Stale(String),
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
