//! DAIRA's reputation jobs: scores computed from the graph, deterministic and auditable.
//!
//! Each job reads a [`graph_engine::Graph`] (or a CSR snapshot of it) and returns scores
//! stamped with an [`Epoch`]: the log position and hash they were computed at and every
//! parameter, so anyone holding the log can recompute them bit for bit. Jobs run in parallel
//! (rayon) and give bitwise the same result with one thread or many.
//!
//! - [`trust`] — EigenTrust / personalised PageRank over positive local trust, seeded,
//!   sybil-resistant, explainable ([`TrustScores::explain`]).
//! - [`pagerank`] — plain PageRank, the researchers' baseline.
//! - [`contribution`] — credit over the creative graph: trusted endorsements, remix credit
//!   upstream, shares among authors, collaborations, trades and votes, with time decay.
//! - [`alignment`] — a bridging model of votes and endorsements (item intercepts: valued across
//!   viewpoints; viewpoint factors), pairwise alignment, world coherence.
//! - [`clusters`] — Leiden communities with their modularity; label propagation as the fast
//!   path; every community connected.
//!
//! [`spawn_epochs`] keeps [`Epochs`] of every score in the running system, recomputed in the
//! background on a copy of the graph, each diffable against an earlier one ([`ScoreSet::diff`]).
//! The math is in `README.md`.

mod alignment;
mod clusters;
mod contribution;
mod epoch;
mod epochs;
mod error;
mod pagerank;
mod patrol;
mod power;
mod trust;

pub use alignment::{
    Alignment, AlignmentConfig, DEFAULT_FACTOR_REG, DEFAULT_INTERCEPT_REG, DEFAULT_SWEEPS, Pairwise, alignment,
};
pub use clusters::{
    ClusterConfig, Clusters, DEFAULT_LPA_SWEEPS_MAX, DEFAULT_RESOLUTION, DEFAULT_ROUNDS_MAX, Method, Undirected,
    clusters, clusters_of, clusters_of_topology, nmi, undirected, undirected_of_topology,
};
pub use contribution::{
    Contribution, ContributionConfig, ContributionExplanation, DEFAULT_COLLABORATION_CREDIT, DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_TRADE_CREDIT, DEFAULT_UPSTREAM_SHARE, DEFAULT_VOTE_CREDIT, contribution,
};
pub use epoch::Epoch;
pub use epochs::{
    Change, DEFAULT_EPOCHS_KEPT, DEFAULT_MIN_EVENTS, DEFAULT_MIN_INTERVAL, EpochLoop, Epochs, RecomputePolicy,
    ScoreSet, compute_now, curators, spawn_epochs,
};
pub use error::{Error, Result};
pub use pagerank::{DEFAULT_PAGERANK_DAMPING, PageRank, PageRankConfig, pagerank, pagerank_csr, pagerank_topology};
pub use patrol::{Finding, PatrolConfig, Pattern, patrol};
pub use trust::{
    DEFAULT_COLLABORATE_WEIGHT, DEFAULT_DAMPING, DEFAULT_DISTRUST_WEIGHT, DEFAULT_ENDORSE_WEIGHT,
    DEFAULT_FOLLOW_WEIGHT, DEFAULT_ITERATIONS_MAX, DEFAULT_RATING_WEIGHT, DEFAULT_SYBIL_MIN_IN_DEGREE,
    DEFAULT_SYBIL_RATIO, DEFAULT_TOLERANCE, DEFAULT_TRADE_WEIGHT, Explanation, TrustConfig, TrustScores, trust,
};
