//! Tally speed (issue 20): 1,000,000 ranked ballots over 10 options, DAIRA's instant run-off
//! and Schulze, each timed from ballots in memory to the winner; prints medians. The side-by-side
//! run with tallystick, which builds its run-off and Schulze only with RUSTC_BOOTSTRAP, is
//! `benches/tallystick-peer/run.sh`.
//!
//! `cargo run --release -p benches --bin tally [BALLOTS] [RUNS]`

use schema::SplitMix64;
use schema::tally::{Ballot, Method, tally};
use std::time::Instant;

const OPTIONS: usize = 10;

/// Ballots with a preference structure: each voter ranks 1 to 10 options, drawn by
/// popularity (option k is picked with weight k + 1), so run-offs take several rounds.
fn ballots(count: usize, seed: u64) -> Vec<Ballot> {
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| {
            let len = 1 + rng.below(OPTIONS as u64) as usize;
            let mut left: Vec<u16> = (0..OPTIONS as u16).collect();
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

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let made = Instant::now();
    let ballots = ballots(count, 7);
    let made = made.elapsed().as_secs_f64();
    let (mut irv_times, mut schulze_times) = (Vec::new(), Vec::new());
    let (mut irv, mut schulze) = (None, None);
    for _ in 0..runs {
        let t = Instant::now();
        irv = Some(tally(Method::Ranked, OPTIONS, &ballots));
        irv_times.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        schulze = Some(tally(Method::Schulze, OPTIONS, &ballots));
        schulze_times.push(t.elapsed().as_secs_f64());
    }
    let (irv, schulze) = (irv.expect("a run"), schulze.expect("a run"));
    println!("{count} ranked ballots over {OPTIONS} options (made in {made:.2} s), median of {runs} runs");
    println!("| method | seconds | winner | detail |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| instant run-off | {:.3} | {:?} | {} rounds, {} votes counted in the last |",
        median(irv_times),
        irv.winner,
        irv.rounds.len(),
        irv.counted
    );
    println!(
        "| Schulze | {:.3} | {:?} | beats-or-ties counts {:?} |",
        median(schulze_times),
        schulze.winner,
        schulze.counts
    );
}
