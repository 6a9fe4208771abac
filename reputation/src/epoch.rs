//! Epochs: every score set is stamped with what it was computed from, so anyone holding the
//! log can recompute it exactly.

use graph_engine::LogPosition;
use serde::{Deserialize, Serialize};

/// What a score set was computed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    /// The job ("trust", "pagerank", …).
    pub job: String,
    /// The job's version: bumped whenever its results change for the same inputs.
    pub job_version: u32,
    /// The log position the graph was cut at.
    pub log_seq: u64,
    /// The chain hash at that position.
    pub log_hash: [u8; 32],
    /// Every parameter, by name, as text.
    pub params: Vec<(String, String)>,
}

impl Epoch {
    pub(crate) fn new(
        job: &'static str,
        job_version: u32,
        position: LogPosition,
        params: Vec<(&'static str, String)>,
    ) -> Epoch {
        Epoch {
            job: job.to_owned(),
            job_version,
            log_seq: position.seq,
            log_hash: position.hash,
            params: params.into_iter().map(|(name, value)| (name.to_owned(), value)).collect(),
        }
    }
}
