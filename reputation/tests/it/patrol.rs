//! The governance AI on the fixtures' planted sybil regions (the voting rings: dense mutual
//! ratings and endorsements behind few attack edges): its voting-ring findings are measured
//! against the planted truth, over several seeds and sizes.

use crate::support::load_jsonl;
use reputation::{PatrolConfig, Pattern, TrustConfig, curators, patrol, trust};
use std::collections::HashSet;

/// Precision and recall of the masks in voting-ring findings against the planted sybils.
fn measure(size: fixtures::Size, seed: u64) -> (f64, f64, usize, usize) {
    let mut bytes = Vec::new();
    let truth = fixtures::generate(size, seed, &mut bytes).unwrap();
    let graph = load_jsonl(&bytes);
    let scores = trust(&graph, &curators(&graph), &TrustConfig::default()).unwrap();
    let findings = patrol(&graph, &scores, &PatrolConfig::default());
    let flagged: HashSet<String> = findings
        .iter()
        .filter(|f| f.pattern == Pattern::VotingRing)
        .flat_map(|f| f.masks.iter().map(|&m| graph.external_at(m).unwrap().to_owned()))
        .collect();
    let planted: HashSet<String> = truth.sybils.iter().cloned().collect();
    let hits = flagged.intersection(&planted).count();
    let precision = if flagged.is_empty() { 0.0 } else { hits as f64 / flagged.len() as f64 };
    let recall = hits as f64 / planted.len().max(1) as f64;
    (precision, recall, flagged.len(), planted.len())
}

#[test]
fn the_patrol_finds_the_planted_rings() {
    for (size, seeds) in [(fixtures::Size::Tiny, 1..=4), (fixtures::Size::Demo, 1..=2)] {
        for seed in seeds {
            let (precision, recall, flagged, planted) = measure(size, seed);
            eprintln!(
                "{size:?} seed {seed}: precision {precision:.3} recall {recall:.3} ({flagged} flagged, {planted} planted)"
            );
            assert!(precision >= 0.9, "{size:?} seed {seed}: precision {precision:.3}");
            assert!(recall >= 0.8, "{size:?} seed {seed}: recall {recall:.3}");
        }
    }
}
