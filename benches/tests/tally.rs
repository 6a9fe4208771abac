//! DAIRA's tallies beside plain reference counts on 10,000 random ranked elections each for
//! instant run-off (recounted from scratch every round) and Schulze (the textbook matrices);
//! approval, score and quadratic voting beside a direct count; and the property that the
//! order of the ballots changes nothing.
//!
//! The independent implementation, tallystick, needs its `nightly` feature for instant run-off
//! and Schulze (`#![feature(specialization)]`), which stable Rust refuses: it is run beside
//! these tallies apart, in `benches/tallystick-peer` (built with RUSTC_BOOTSTRAP=1; CI runs it).

use benches::ballots::{election, ranking};
use proptest::prelude::*;
use schema::SplitMix64;
use schema::tally::{Ballot, Method, tally};

/// Instant run-off as its definition reads: every round, count each ballot for its highest
/// option still standing; more than half of the counted votes wins; else every option with
/// the fewest is eliminated; when all that stand are tied, nobody wins.
fn reference_runoff(n: usize, ballots: &[Ballot]) -> Option<u16> {
    let mut standing: Vec<usize> = (0..n).collect();
    loop {
        let mut counts = vec![0u64; n];
        for b in ballots {
            if let Some(&c) = b.choices.iter().find(|&&c| standing.contains(&(c as usize))) {
                counts[c as usize] += b.weight;
            }
        }
        let total: u64 = standing.iter().map(|&o| counts[o]).sum();
        if let Some(&o) = standing.iter().find(|&&o| 2 * counts[o] > total) {
            return Some(o as u16);
        }
        let min = standing.iter().map(|&o| counts[o]).min()?;
        let (out, stay): (Vec<usize>, Vec<usize>) = standing.iter().partition(|&&o| counts[o] == min);
        if stay.is_empty() {
            return if out.len() == 1 { Some(out[0] as u16) } else { None };
        }
        standing = stay;
    }
}

/// Schulze (winning votes) from its textbook matrices: d from full rankings, then strongest
/// paths, then the options unbeaten on them; exactly one of them wins.
#[allow(clippy::needless_range_loop)] // indexes, as the definition writes them
fn reference_schulze(n: usize, ballots: &[Ballot]) -> Option<u16> {
    let mut d = vec![vec![0u64; n]; n];
    for b in ballots {
        let rank = |o: usize| b.choices.iter().position(|&c| c as usize == o).unwrap_or(usize::MAX);
        for i in 0..n {
            for j in 0..n {
                if i != j && rank(i) < rank(j) {
                    d[i][j] += b.weight;
                }
            }
        }
    }
    let mut p = vec![vec![0u64; n]; n];
    for i in 0..n {
        for j in 0..n {
            if i != j && d[i][j] > d[j][i] {
                p[i][j] = d[i][j];
            }
        }
    }
    for i in 0..n {
        for j in 0..n {
            for k in 0..n {
                if i != j && i != k && j != k {
                    p[j][k] = p[j][k].max(p[j][i].min(p[i][k]));
                }
            }
        }
    }
    let winners: Vec<usize> = (0..n).filter(|&i| (0..n).all(|j| i == j || p[i][j] >= p[j][i])).collect();
    (winners.len() == 1 && !ballots.is_empty()).then(|| winners[0] as u16)
}

#[test]
fn instant_runoff_agrees_with_its_definition_on_10000_elections() {
    let mut rng = SplitMix64::new(20);
    let mut decided = 0;
    for e in 0..10_000 {
        let (n, ballots) = election(&mut rng, false);
        let ours = tally(Method::Ranked, n, &ballots).winner;
        assert_eq!(ours, reference_runoff(n, &ballots), "election {e}: {n} options, {ballots:?}");
        decided += usize::from(ours.is_some());
    }
    assert!((5_000..10_000).contains(&decided), "{decided} elections decided: too few, or no ties at all");
}

#[test]
fn schulze_agrees_with_its_definition_on_10000_elections() {
    let mut rng = SplitMix64::new(21);
    let mut decided = 0;
    for e in 0..10_000 {
        let (n, ballots) = election(&mut rng, e % 2 == 0);
        let ours = tally(Method::Schulze, n, &ballots).winner;
        assert_eq!(ours, reference_schulze(n, &ballots), "election {e}: {n} options, {ballots:?}");
        decided += usize::from(ours.is_some());
    }
    assert!((5_000..10_000).contains(&decided), "{decided} elections decided");
}

#[test]
fn approval_score_and_quadratic_are_direct_counts() {
    let mut rng = SplitMix64::new(22);
    for _ in 0..2_000 {
        let n = 2 + rng.below(6) as usize;
        let ballots: Vec<Ballot> = (0..1 + rng.below(30))
            .map(|_| {
                let len = 1 + rng.below(n as u64) as usize;
                let choices = ranking(&mut rng, n, len);
                let amounts = choices.iter().map(|_| rng.below(6) as u32).collect();
                Ballot { weight: 1 + rng.below(4), choices, amounts }
            })
            .collect();
        for method in [Method::Approval, Method::Score, Method::Quadratic] {
            let mut direct = vec![0u64; n];
            for b in &ballots {
                for (i, &c) in b.choices.iter().enumerate() {
                    direct[c as usize] +=
                        b.weight * if method == Method::Approval { 1 } else { u64::from(b.amounts[i]) };
                }
            }
            let count = tally(method, n, &ballots);
            assert_eq!(count.counts, direct, "{method:?}");
            let max = *direct.iter().max().unwrap();
            let at_max: Vec<usize> = (0..n).filter(|&o| direct[o] == max).collect();
            let expected = (at_max.len() == 1 && max > 0).then(|| at_max[0] as u16);
            assert_eq!(count.winner, expected, "{method:?}: {direct:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_order_of_the_ballots_changes_nothing(seed in any::<u64>(), shuffle in any::<u64>(), full in any::<bool>()) {
        let mut rng = SplitMix64::new(seed);
        let (n, ballots) = election(&mut rng, full);
        let mut shuffled = ballots.clone();
        let mut order = SplitMix64::new(shuffle);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, order.below(i as u64 + 1) as usize);
        }
        for method in [Method::Ranked, Method::Schulze, Method::Approval] {
            prop_assert_eq!(tally(method, n, &ballots), tally(method, n, &shuffled));
        }
    }
}
