//! DAIRA's tallies (`schema::tally`) beside tallystick's: the winners of 10,000 random
//! elections each for instant run-off and Schulze must agree (a tie, where no option wins, is a
//! tally with several winners in tallystick), then both count 1,000,000 ranked ballots over
//! 10 options, alternating, timed from ballots in memory to the winner.

#[path = "../../src/ballots.rs"]
mod ballots;

use ballots::{election, popular};
use schema::SplitMix64;
use schema::tally::{Ballot, Method, tally};
use std::time::Instant;

fn only(mut winners: Vec<u16>) -> Option<u16> {
    winners.sort_unstable();
    if winners.len() == 1 { Some(winners[0]) } else { None }
}

fn peer_irv(n: usize, ballots: &[Ballot]) -> Vec<u16> {
    let mut peer = tallystick::irv::DefaultTally::with_candidates(tallystick::Transfer::Meek, (0..n as u16).collect());
    for b in ballots {
        peer.add_weighted(b.choices.clone(), b.weight);
    }
    peer.tally_winners().into_unranked()
}

fn peer_schulze(n: usize, ballots: &[Ballot]) -> Vec<u16> {
    let mut peer = tallystick::schulze::DefaultSchulzeTally::with_candidates(
        1,
        tallystick::schulze::Variant::Winning,
        (0..n as u16).collect(),
    );
    for b in ballots {
        peer.add_weighted(&b.choices, b.weight).expect("a ranking of known options");
    }
    peer.winners().into_unranked()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);

    let mut rng = SplitMix64::new(20);
    let (mut irv_decided, mut schulze_decided) = (0, 0);
    for e in 0..10_000 {
        let (n, ballots) = election(&mut rng, false);
        let ours = tally(Method::Ranked, n, &ballots).winner;
        assert_eq!(ours, only(peer_irv(n, &ballots)), "run-off {e}: {n} options, {ballots:?}");
        irv_decided += usize::from(ours.is_some());
        // Full rankings for Schulze: tallystick leaves an unranked option out of a ballot's
        // pairs, where DAIRA ranks it below every ranked one.
        let (n, ballots) = election(&mut rng, true);
        let ours = tally(Method::Schulze, n, &ballots).winner;
        assert_eq!(ours, only(peer_schulze(n, &ballots)), "Schulze {e}: {n} options, {ballots:?}");
        schulze_decided += usize::from(ours.is_some());
    }
    println!(
        "agreement with tallystick: 10,000 run-offs ({irv_decided} with a winner, the rest ties) and 10,000 Schulze elections ({schulze_decided} with a winner): every winner the same"
    );

    let options = 10;
    let ballots = popular(count, options, 7);
    let (mut ours_irv, mut theirs_irv, mut ours_s, mut theirs_s) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let t = Instant::now();
        let irv = tally(Method::Ranked, options, &ballots).winner;
        ours_irv.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut peer =
            tallystick::irv::DefaultTally::with_candidates(tallystick::Transfer::Meek, (0..options as u16).collect());
        for b in &ballots {
            peer.add_ref(&b.choices);
        }
        let peer_winners = peer.tally_winners().into_unranked();
        theirs_irv.push(t.elapsed().as_secs_f64());
        assert_eq!(irv, only(peer_winners), "the run-offs disagree");

        let t = Instant::now();
        let s = tally(Method::Schulze, options, &ballots).winner;
        ours_s.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut peer = tallystick::schulze::DefaultSchulzeTally::with_candidates(
            1,
            tallystick::schulze::Variant::Winning,
            (0..options as u16).collect(),
        );
        for b in &ballots {
            peer.add(&b.choices).expect("a ranking of known options");
        }
        let _ = peer.winners();
        theirs_s.push(t.elapsed().as_secs_f64());
        let _ = s;
    }
    println!(
        "{count} ranked ballots over {options} options, median of {runs} runs (seconds, ballots in memory to winner)"
    );
    println!("| method | DAIRA | tallystick | tallystick / DAIRA |");
    println!("| --- | --- | --- | --- |");
    let (a, b) = (median(ours_irv), median(theirs_irv));
    println!("| instant run-off | {a:.3} | {b:.3} | {:.1}x |", b / a);
    let (a, b) = (median(ours_s), median(theirs_s));
    println!("| Schulze (tallystick leaves unranked options out of pairs) | {a:.3} | {b:.3} | {:.1}x |", b / a);
}
