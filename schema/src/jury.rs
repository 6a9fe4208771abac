//! Juries drawn by reputation (Kleros, without tokens): one mechanism for governance appeals
//! and, later, the economy's contract disputes.
//!
//! A jury is drawn from the masks that hold the jury privilege, with probability proportional
//! to their trust, without replacement, by a generator seeded from the log's chain hash at the
//! moment the jury is called — so anyone holding the log can recompute the draw. The parties,
//! and every mask of a party's user, are excluded (the engine's private link), and once a mask
//! is drawn every other mask of its user is set aside: one user, one seat. The draw names only
//! masks. A verdict needs a majority of the seats.

use crate::{Id, SplitMix64};
use serde::{Deserialize, Serialize};

/// Jury sizes, one per level of appeal: 3, then 7, then 15.
pub const SIZES: [usize; 3] = [3, 7, 15];

/// The fixed-point scale of jury weights (a candidate of trust 1.0 weighs this).
pub const WEIGHT_SCALE: f64 = 1e12;

/// A mask that may sit on the jury.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// The mask.
    pub mask: Id,
    /// Its user (private; the mask itself for a mask without one).
    pub person: Id,
    /// Its trust (weights the draw; negative and non-finite count as zero).
    pub trust: f64,
}

/// A juror's vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// The decision stands.
    Uphold,
    /// The decision is reversed.
    Overturn,
}

/// Not enough eligible candidates for a jury of this size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a jury of {size} needs {size} eligible members of different users; there are {available}")]
pub struct TooFew {
    /// The seats.
    pub size: usize,
    /// The candidates of different users left after the exclusions.
    pub available: usize,
}

/// The generator's seed from a 32-byte chain hash.
pub fn seed_of(hash: &[u8; 32]) -> u64 {
    hash.chunks(8).fold(0u64, |s, c| crate::mix64(s ^ u64::from_le_bytes(c.try_into().expect("8 bytes"))))
}

/// Draws `size` jurors from `candidates`, none of whose user is in `excluded`. Deterministic
/// for the same candidates (in any order), exclusions, size and seed.
pub fn draw(candidates: &[Candidate], excluded: &[Id], size: usize, seed: u64) -> Result<Vec<Id>, TooFew> {
    let mut pool: Vec<(Id, Id, u64)> = candidates
        .iter()
        .filter(|c| !excluded.contains(&c.person))
        .map(|c| {
            let t = if c.trust.is_finite() && c.trust > 0.0 { c.trust } else { 0.0 };
            (c.mask, c.person, (t * WEIGHT_SCALE).round().min(u64::MAX as f64 / 4.0) as u64)
        })
        .collect();
    pool.sort_unstable_by_key(|&(mask, ..)| mask);
    pool.dedup_by_key(|&mut (mask, ..)| mask);
    let mut people: Vec<Id> = pool.iter().map(|&(_, p, _)| p).collect();
    people.sort_unstable();
    people.dedup();
    if people.len() < size {
        return Err(TooFew { size, available: people.len() });
    }
    let mut rng = SplitMix64::new(seed);
    let mut jury = Vec::with_capacity(size);
    while jury.len() < size {
        let total: u128 = pool.iter().map(|&(.., w)| u128::from(w)).sum();
        let pick = if total == 0 {
            // Nobody has trust: every candidate is as likely.
            ((u128::from(rng.next_u64()) * pool.len() as u128) >> 64) as usize
        } else {
            let mut target = (u128::from(rng.next_u64()) * total) >> 64;
            let mut at = 0;
            for (i, &(.., w)) in pool.iter().enumerate() {
                if target < u128::from(w) {
                    at = i;
                    break;
                }
                target -= u128::from(w);
            }
            at
        };
        let (mask, person, _) = pool[pick];
        jury.push(mask);
        pool.retain(|&(_, p, _)| p != person);
    }
    Ok(jury)
}

/// The verdict once a majority of `size` seats agree, if it has.
pub fn verdict(size: usize, uphold: usize, overturn: usize) -> Option<Verdict> {
    let majority = size / 2 + 1;
    if uphold >= majority {
        Some(Verdict::Uphold)
    } else if overturn >= majority {
        Some(Verdict::Overturn)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(n: u64) -> Vec<Candidate> {
        (1..=n).map(|i| Candidate { mask: Id(i), person: Id(1000 + i), trust: i as f64 / n as f64 }).collect()
    }

    #[test]
    fn a_draw_is_recomputable_and_order_free() {
        let pool = candidates(40);
        let jury = draw(&pool, &[], 7, 42).unwrap();
        assert_eq!(jury.len(), 7);
        let mut reversed = pool.clone();
        reversed.reverse();
        assert_eq!(draw(&reversed, &[], 7, 42).unwrap(), jury, "the candidates' order changes nothing");
        assert_ne!(draw(&pool, &[], 7, 43).unwrap(), jury, "another seed, another jury");
    }

    #[test]
    fn parties_and_second_masks_of_one_user_are_excluded() {
        let mut pool = candidates(6);
        // Mask 7 belongs to the same user as mask 1; mask 8 to a party's user.
        pool.push(Candidate { mask: Id(7), person: Id(1001), trust: 10.0 });
        pool.push(Candidate { mask: Id(8), person: Id(9999), trust: 10.0 });
        for seed in 0..200 {
            let jury = draw(&pool, &[Id(9999)], 5, seed).unwrap();
            assert!(!jury.contains(&Id(8)), "a party's user never sits");
            assert!(!(jury.contains(&Id(1)) && jury.contains(&Id(7))), "one user, one seat: {jury:?}");
        }
        assert_eq!(draw(&pool, &[Id(9999)], 7, 1), Err(TooFew { size: 7, available: 6 }));
    }

    #[test]
    fn trust_weighs_the_draw() {
        let pool: Vec<Candidate> =
            (1..=10).map(|i| Candidate { mask: Id(i), person: Id(i), trust: if i == 1 { 9.0 } else { 1.0 } }).collect();
        let seated = (0..2_000).filter(|&seed| draw(&pool, &[], 1, seed).unwrap() == vec![Id(1)]).count();
        // Mask 1 holds half of the trust: about half of the draws seat it.
        assert!((850..1_150).contains(&seated), "{seated}");
    }

    #[test]
    fn a_majority_decides() {
        assert_eq!(verdict(3, 2, 0), Some(Verdict::Uphold));
        assert_eq!(verdict(3, 1, 1), None);
        assert_eq!(verdict(7, 1, 4), Some(Verdict::Overturn));
        assert_eq!(verdict(15, 7, 7), None);
    }
}
