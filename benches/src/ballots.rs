//! Random ballots for the tally checks and benchmarks, from a seeded SplitMix64 so that every
//! run (and the tallystick peer, which includes this file by path) sees the same ones. It
//! depends on `schema` only.

use schema::SplitMix64;
use schema::tally::Ballot;

/// A random ranking of `len` of the `n` options.
pub fn ranking(rng: &mut SplitMix64, n: usize, len: usize) -> Vec<u16> {
    let mut all: Vec<u16> = (0..n as u16).collect();
    for i in (1..n).rev() {
        all.swap(i, rng.below(i as u64 + 1) as usize);
    }
    all.truncate(len);
    all
}

/// A random ranked election: 2 to 7 options, 1 to 40 ballots with weights 1..=3, rankings
/// of every option (`full`) or of 1 to all of them. Small, so that ties — where
/// implementations disagree if any do — are common.
pub fn election(rng: &mut SplitMix64, full: bool) -> (usize, Vec<Ballot>) {
    let n = 2 + rng.below(6) as usize;
    let count = 1 + rng.below(40) as usize;
    let ballots = (0..count)
        .map(|_| {
            let len = if full { n } else { 1 + rng.below(n as u64) as usize };
            Ballot { weight: 1 + rng.below(3), choices: ranking(rng, n, len), amounts: Vec::new() }
        })
        .collect();
    (n, ballots)
}

/// `count` ballots with a preference structure: each voter ranks 1 to `options` options,
/// drawn by popularity (option k with weight k + 1), so run-offs take several rounds.
pub fn popular(count: usize, options: usize, seed: u64) -> Vec<Ballot> {
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| {
            let len = 1 + rng.below(options as u64) as usize;
            let mut left: Vec<u16> = (0..options as u16).collect();
            let mut choices = Vec::with_capacity(len);
            for _ in 0..len {
                let total: u64 = left.iter().map(|&o| u64::from(o) + 1).sum();
                let mut pick = rng.below(total);
                let at = left
                    .iter()
                    .position(|&o| {
                        let w = u64::from(o) + 1;
                        if pick < w {
                            true
                        } else {
                            pick -= w;
                            false
                        }
                    })
                    .expect("a pick below the total");
                choices.push(left.remove(at));
            }
            Ballot { weight: 1, choices, amounts: Vec::new() }
        })
        .collect()
}
