//! Re-ranking text relevance with reputation.
//!
//! A query first takes the `candidates(limit)` best documents by BM25. Each gets a prior in
//! 0..=1 from the latest reputation epoch (see [`Signals`]): for a mask its trust, for a work its
//! creators' trust, for a world its vitality — each as a percentile rank, so that the blend does
//! not depend on the scale of the scores. The final score is
//!
//! ```text
//! score = (1 − w) · relevance / best_relevance + w · prior
//! ```
//!
//! with `w` = [`Blend::reputation_weight`] (default 0.25): text relevance decides, and reputation
//! orders documents that match about equally well. Ties break by id, so the order is
//! deterministic.

use schema::Id;
use std::collections::HashMap;

/// Reputation priors of documents.
pub trait Signals: Send + Sync {
    /// The prior of an entity, 0..=1, or `None` when the epoch has none for it.
    fn prior(&self, id: Id) -> Option<f32>;
}

/// No reputation: every prior is absent (0).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSignals;

impl Signals for NoSignals {
    fn prior(&self, _: Id) -> Option<f32> {
        None
    }
}

/// Priors held in a table, built once per reputation epoch.
#[derive(Clone, Debug, Default)]
pub struct PriorTable {
    priors: HashMap<Id, f32>,
    /// The epoch (log position) the priors come from.
    pub epoch_seq: u64,
}

impl PriorTable {
    /// A table from `(id, raw score)` pairs: each prior is the score's percentile rank among
    /// the pairs of the same group (the caller passes one group per kind: mask trust, work
    /// credit, world vitality), so 1.0 is the best of its kind.
    pub fn from_groups(epoch_seq: u64, groups: Vec<Vec<(Id, f64)>>) -> PriorTable {
        let mut priors = HashMap::new();
        for mut group in groups {
            group.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            let n = group.len();
            let mut i = 0;
            while i < n {
                // Equal scores share one rank (the mean of their positions).
                let mut j = i;
                while j + 1 < n && group[j + 1].1 == group[i].1 {
                    j += 1;
                }
                let rank = if n > 1 { ((i + j) as f64 / 2.0) / (n - 1) as f64 } else { 1.0 };
                for (id, _) in &group[i..=j] {
                    priors.insert(*id, rank as f32);
                }
                i = j + 1;
            }
        }
        PriorTable { priors, epoch_seq }
    }

    /// How many entities have a prior.
    pub fn len(&self) -> usize {
        self.priors.len()
    }

    /// Whether no entity has a prior.
    pub fn is_empty(&self) -> bool {
        self.priors.is_empty()
    }
}

impl Signals for PriorTable {
    fn prior(&self, id: Id) -> Option<f32> {
        self.priors.get(&id).copied()
    }
}

/// How text relevance and reputation blend.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blend {
    /// The weight of the reputation prior, 0..=1 (0: text relevance alone).
    pub reputation_weight: f32,
    /// Candidates re-ranked per requested hit.
    pub candidates_per_hit: usize,
    /// The fewest candidates re-ranked.
    pub candidates_min: usize,
}

impl Default for Blend {
    fn default() -> Self {
        Blend { reputation_weight: 0.25, candidates_per_hit: 4, candidates_min: 40 }
    }
}

impl Blend {
    /// Text relevance alone.
    pub fn text_only() -> Blend {
        Blend { reputation_weight: 0.0, ..Blend::default() }
    }

    /// How many candidates a request for `limit` hits re-ranks.
    pub fn candidates(&self, limit: usize) -> usize {
        (limit * self.candidates_per_hit).max(self.candidates_min).max(limit)
    }

    /// The blended score of a candidate with normalised relevance `relevance` (0..=1).
    pub fn score(&self, relevance: f32, prior: f32) -> f32 {
        let w = self.reputation_weight.clamp(0.0, 1.0);
        (1.0 - w) * relevance + w * prior
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_are_percentile_ranks_per_group() {
        let t = PriorTable::from_groups(
            5,
            vec![vec![(Id(1), 0.5), (Id(2), 0.1), (Id(3), 0.9)], vec![(Id(4), 100.0), (Id(5), 100.0)]],
        );
        assert_eq!(t.prior(Id(2)), Some(0.0));
        assert_eq!(t.prior(Id(1)), Some(0.5));
        assert_eq!(t.prior(Id(3)), Some(1.0));
        assert_eq!(t.prior(Id(4)), t.prior(Id(5)));
        assert_eq!(t.prior(Id(9)), None);
    }

    #[test]
    fn the_blend_keeps_relevance_first() {
        let b = Blend::default();
        // A perfect text match with no reputation beats a weak match with the best reputation.
        assert!(b.score(1.0, 0.0) > b.score(0.5, 1.0));
        // Between equal matches, reputation decides.
        assert!(b.score(0.9, 0.8) > b.score(0.9, 0.2));
        assert_eq!(Blend::text_only().score(0.7, 1.0), 0.7);
        assert_eq!(b.candidates(10), 40);
        assert_eq!(b.candidates(100), 400);
    }
}
