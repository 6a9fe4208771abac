//! Tallies: how the ballots of a proposal become its result. Pure and deterministic — the
//! same ballots, in any order, give the same count — so that anyone holding the log can
//! recount a proposal and get the same bytes.
//!
//! Ties are settled by rule, never by chance: instant run-off eliminates every option tied
//! for fewest votes at once (and a tie among all that remain has no winner); the other
//! methods have no winner when two options tie for most. Weights are integers (an equal vote
//! weighs 1; reputation weights are fixed-point), so no sum depends on the order of addition.

use serde::{Deserialize, Serialize};

/// How a proposal is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    /// One option per ballot; most votes wins.
    Single,
    /// Any number of options per ballot; most approvals wins.
    Approval,
    /// A ranking per ballot, counted by instant run-off.
    Ranked,
    /// A ranking per ballot, counted by the Schulze method (winning votes).
    Schulze,
    /// A score of 0 to [`SCORE_MAX`] per option; highest total wins.
    Score,
    /// Votes per option costing their square in credits, within a budget; most votes wins.
    Quadratic,
}

impl Method {
    /// Whether ballots carry an amount beside each choice.
    pub fn has_amounts(self) -> bool {
        matches!(self, Method::Score | Method::Quadratic)
    }
}

/// The most options a proposal may have.
pub const OPTIONS_MAX: usize = 64;
/// The highest score of [`Method::Score`].
pub const SCORE_MAX: u32 = 5;

/// One ballot as counted: option indexes (the ranking, for ranked methods) and, for
/// [`Method::Score`] and [`Method::Quadratic`], an amount beside each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// How much the ballot weighs.
    pub weight: u64,
    /// Option indexes, 0-based.
    pub choices: Vec<u16>,
    /// Scores or votes, beside `choices` (empty for the other methods).
    pub amounts: Vec<u32>,
}

/// Why a ballot is not valid for a proposal, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct BallotError {
    /// `choices` or `amounts`.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn bad(field: &'static str, reason: impl Into<String>) -> BallotError {
    BallotError { field, reason: reason.into() }
}

/// Checks a ballot against its proposal: `options` options, `budget` credits for quadratic
/// voting.
pub fn check_ballot(
    method: Method,
    options: usize,
    budget: u64,
    choices: &[u16],
    amounts: &[u32],
) -> Result<(), BallotError> {
    if choices.is_empty() {
        return Err(bad("choices", "choose at least one option"));
    }
    let mut seen = vec![false; options];
    for &c in choices {
        let slot = seen
            .get_mut(usize::from(c))
            .ok_or_else(|| bad("choices", format!("option {c} does not exist (there are {options})")))?;
        if std::mem::replace(slot, true) {
            return Err(bad("choices", format!("option {c} is chosen twice")));
        }
    }
    if method == Method::Single && choices.len() != 1 {
        return Err(bad("choices", "choose exactly one option"));
    }
    if !method.has_amounts() {
        return if amounts.is_empty() { Ok(()) } else { Err(bad("amounts", "this method takes no amounts")) };
    }
    if amounts.len() != choices.len() {
        return Err(bad(
            "amounts",
            format!("give one amount per choice ({} choices, {} amounts)", choices.len(), amounts.len()),
        ));
    }
    match method {
        Method::Score => match amounts.iter().find(|&&a| a > SCORE_MAX) {
            Some(a) => Err(bad("amounts", format!("a score is 0 to {SCORE_MAX}, not {a}"))),
            None => Ok(()),
        },
        _ => {
            let cost: u64 = amounts.iter().map(|&a| u64::from(a) * u64::from(a)).sum();
            if cost > budget {
                return Err(bad(
                    "amounts",
                    format!("these votes cost {cost} credits (the square of each); the budget is {budget}"),
                ));
            }
            Ok(())
        }
    }
}

/// One round of an instant run-off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// Each option's votes in this round (0 for options eliminated before it).
    pub counts: Vec<u64>,
    /// The options eliminated at its end (empty in the last round).
    pub eliminated: Vec<u16>,
}

/// What a tally found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// Each option's total: votes (SINGLE, APPROVAL), votes in the last round (RANKED), score
    /// or quadratic votes (SCORE, QUADRATIC), options it beats or ties on strongest paths
    /// (SCHULZE).
    pub counts: Vec<u64>,
    /// The winning option, or None when no option wins by the method's rules (a tie, or no
    /// votes).
    pub winner: Option<u16>,
    /// Instant run-off's rounds (empty for the other methods).
    pub rounds: Vec<Round>,
    /// The weight of the ballots counted (in the last round for RANKED: exhausted ballots no
    /// longer count).
    pub counted: u64,
    /// How many ballots there were.
    pub ballots: u64,
}

/// Counts `ballots` (already checked) for a proposal of `options` options.
pub fn tally(method: Method, options: usize, ballots: &[Ballot]) -> Count {
    match method {
        Method::Ranked => instant_runoff(options, ballots),
        Method::Schulze => schulze(options, ballots),
        _ => {
            let mut counts = vec![0u64; options];
            for b in ballots {
                for (i, &c) in b.choices.iter().enumerate() {
                    let amount =
                        if method.has_amounts() { u64::from(b.amounts.get(i).copied().unwrap_or(0)) } else { 1 };
                    if let Some(slot) = counts.get_mut(usize::from(c)) {
                        *slot = slot.saturating_add(b.weight.saturating_mul(amount));
                    }
                }
            }
            let winner = unique_max(&counts);
            let counted = ballots.iter().fold(0u64, |s, b| s.saturating_add(b.weight));
            Count { counts, winner, rounds: Vec::new(), counted, ballots: ballots.len() as u64 }
        }
    }
}

/// The one option with the most, if one has more than every other and more than nothing.
fn unique_max(counts: &[u64]) -> Option<u16> {
    let max = *counts.iter().max()?;
    let mut at = counts.iter().enumerate().filter(|&(_, &c)| c == max);
    match (at.next(), at.next()) {
        (Some((i, _)), None) if max > 0 => Some(i as u16),
        _ => None,
    }
}

/// Instant run-off. Each ballot counts for its highest-ranked option still in the race;
/// an option with more than half of the continuing votes wins; otherwise every option tied
/// for fewest is eliminated and its ballots move on. Work is proportional to the ballots'
/// total length: a ballot is looked at again only when its option is eliminated.
fn instant_runoff(options: usize, ballots: &[Ballot]) -> Count {
    let mut counts = vec![0u64; options];
    let mut alive = vec![true; options];
    let mut at = vec![0u32; ballots.len()];
    let mut holders: Vec<Vec<u32>> = vec![Vec::new(); options];
    for (b, ballot) in ballots.iter().enumerate() {
        if let Some(&c) = ballot.choices.first()
            && usize::from(c) < options
        {
            holders[usize::from(c)].push(b as u32);
            counts[usize::from(c)] = counts[usize::from(c)].saturating_add(ballot.weight);
        }
    }
    let mut rounds = Vec::new();
    let mut remaining = options;
    let winner = loop {
        let continuing = (0..options).filter(|&o| alive[o]).fold(0u64, |s, o| s.saturating_add(counts[o]));
        rounds.push(Round { counts: counts.clone(), eliminated: Vec::new() });
        if remaining == 0 {
            break None;
        }
        if let Some(o) = (0..options).find(|&o| alive[o] && u128::from(counts[o]) * 2 > u128::from(continuing)) {
            break Some(o as u16);
        }
        let min = (0..options).filter(|&o| alive[o]).map(|o| counts[o]).min().unwrap_or(0);
        let losers: Vec<usize> = (0..options).filter(|&o| alive[o] && counts[o] == min).collect();
        if losers.len() == remaining {
            break if remaining == 1 { Some(losers[0] as u16) } else { None };
        }
        for &l in &losers {
            alive[l] = false;
        }
        remaining -= losers.len();
        rounds.last_mut().expect("pushed").eliminated = losers.iter().map(|&l| l as u16).collect();
        for &l in &losers {
            counts[l] = 0;
            for b in std::mem::take(&mut holders[l]) {
                let ballot = &ballots[b as usize];
                let next = ballot.choices[at[b as usize] as usize + 1..]
                    .iter()
                    .position(|&c| usize::from(c) < options && alive[usize::from(c)]);
                if let Some(step) = next {
                    at[b as usize] += 1 + step as u32;
                    let c = usize::from(ballot.choices[at[b as usize] as usize]);
                    holders[c].push(b);
                    counts[c] = counts[c].saturating_add(ballot.weight);
                }
            }
        }
    };
    let counted = (0..options).filter(|&o| alive[o]).fold(0u64, |s, o| s.saturating_add(counts[o]));
    Count { counts, winner, rounds, counted, ballots: ballots.len() as u64 }
}

/// The Schulze method, strength by winning votes. A ballot prefers each ranked option to
/// every option ranked after it and to every option it does not rank. The winners are the
/// options whose strongest path to each other option is at least as strong as the way back;
/// one such option wins, several are a tie.
fn schulze(options: usize, ballots: &[Ballot]) -> Count {
    let n = options;
    let mut d = vec![0u64; n * n];
    let mut ranked = vec![false; n];
    for ballot in ballots {
        let choices: Vec<usize> = ballot.choices.iter().map(|&c| usize::from(c)).filter(|&c| c < n).collect();
        for (i, &a) in choices.iter().enumerate() {
            ranked[a] = true;
            for &b in &choices[i + 1..] {
                d[a * n + b] = d[a * n + b].saturating_add(ballot.weight);
            }
        }
        for &a in &choices {
            for b in (0..n).filter(|&b| !ranked[b]) {
                d[a * n + b] = d[a * n + b].saturating_add(ballot.weight);
            }
        }
        for &a in &choices {
            ranked[a] = false;
        }
    }
    let mut p = vec![0u64; n * n];
    for i in 0..n {
        for j in (0..n).filter(|&j| j != i) {
            if d[i * n + j] > d[j * n + i] {
                p[i * n + j] = d[i * n + j];
            }
        }
    }
    for i in 0..n {
        for j in (0..n).filter(|&j| j != i) {
            for k in (0..n).filter(|&k| k != i && k != j) {
                p[j * n + k] = p[j * n + k].max(p[j * n + i].min(p[i * n + k]));
            }
        }
    }
    let counts: Vec<u64> =
        (0..n).map(|i| (0..n).filter(|&j| j != i && p[i * n + j] >= p[j * n + i]).count() as u64).collect();
    let mut winners = (0..n).filter(|&i| counts[i] + 1 == n as u64);
    let winner = match (winners.next(), winners.next()) {
        (Some(w), None) if !ballots.is_empty() => Some(w as u16),
        _ => None,
    };
    let counted = ballots.iter().fold(0u64, |s, b| s.saturating_add(b.weight));
    Count { counts, winner, rounds: Vec::new(), counted, ballots: ballots.len() as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(weight: u64, choices: &[u16]) -> Ballot {
        Ballot { weight, choices: choices.to_vec(), amounts: Vec::new() }
    }

    #[test]
    fn the_tennessee_capital_by_run_off_and_by_schulze() {
        // Wikipedia's Tennessee example: 0 Memphis, 1 Nashville, 2 Chattanooga, 3 Knoxville.
        let ballots = [
            ranked(42, &[0, 1, 2, 3]),
            ranked(26, &[1, 2, 3, 0]),
            ranked(15, &[2, 3, 1, 0]),
            ranked(17, &[3, 2, 1, 0]),
        ];
        let irv = tally(Method::Ranked, 4, &ballots);
        assert_eq!(irv.winner, Some(3), "Knoxville wins the run-off");
        assert_eq!(irv.rounds[0].counts, vec![42, 26, 15, 17]);
        assert_eq!(irv.rounds[0].eliminated, vec![2]);
        assert_eq!(irv.rounds.len(), 3);
        assert_eq!(tally(Method::Schulze, 4, &ballots).winner, Some(1), "Nashville is the Condorcet winner");
    }

    #[test]
    fn ties_have_no_winner_and_empty_ballot_boxes_elect_nobody() {
        assert_eq!(tally(Method::Ranked, 2, &[ranked(1, &[0]), ranked(1, &[1])]).winner, None);
        assert_eq!(tally(Method::Single, 3, &[ranked(2, &[0]), ranked(2, &[2])]).winner, None);
        assert_eq!(tally(Method::Approval, 3, &[]).winner, None);
        assert_eq!(tally(Method::Schulze, 3, &[]).winner, None);
        assert_eq!(tally(Method::Ranked, 3, &[]).winner, None);
    }

    #[test]
    fn scores_and_quadratic_votes_are_weighed_and_checked() {
        let b = |w, c: &[u16], a: &[u32]| Ballot { weight: w, choices: c.to_vec(), amounts: a.to_vec() };
        let score = tally(Method::Score, 3, &[b(1, &[0, 1], &[5, 2]), b(2, &[1, 2], &[3, 5])]);
        assert_eq!((score.counts, score.winner), (vec![5, 8, 10], Some(2)));
        assert!(check_ballot(Method::Score, 3, 0, &[0], &[6]).is_err());
        assert!(check_ballot(Method::Quadratic, 3, 10, &[0, 1], &[3, 1]).is_ok());
        let over = check_ballot(Method::Quadratic, 3, 10, &[0, 1], &[3, 2]).unwrap_err();
        assert_eq!(over.field, "amounts");
        assert!(over.reason.contains("13 credits"), "{over}");
        assert!(check_ballot(Method::Single, 3, 0, &[0, 1], &[]).is_err());
        assert!(check_ballot(Method::Approval, 3, 0, &[0, 0], &[]).is_err());
        assert!(check_ballot(Method::Ranked, 3, 0, &[3], &[]).is_err());
        assert!(check_ballot(Method::Ranked, 3, 0, &[2, 0, 1], &[]).is_ok());
    }
}
