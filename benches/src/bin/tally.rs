//! Tally speed (issue 20): 1,000,000 ranked ballots over 10 options, DAIRA's instant run-off
//! and Schulze, each timed from ballots in memory to the winner; prints medians. The side-by-side
//! run with tallystick, which builds its run-off and Schulze only with RUSTC_BOOTSTRAP, is
//! `benches/tallystick-peer/run.sh`.
//!
//! `cargo run --release -p benches --bin tally [BALLOTS] [RUNS]`

use schema::tally::{Method, tally};
use std::time::Instant;

const OPTIONS: usize = 10;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let made = Instant::now();
    let ballots = benches::ballots::popular(count, OPTIONS, 7);
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
