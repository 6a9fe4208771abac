//! 64-bit, time-ordered identifiers generated without coordination.
//!
//! Layout (most significant first): 42 bits of milliseconds since [`EPOCH_MS`] (about 139 years),
//! 10 bits of node id (up to 1,024 writers), 12 bits of sequence within a millisecond. Ids from
//! one generator are strictly increasing; ids from different nodes never collide.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch of 2024-01-01T00:00:00Z, where id time starts.
pub const EPOCH_MS: u64 = 1_704_067_200_000;
/// Bits of the node field.
pub const NODE_BITS: u32 = 10;
/// Bits of the per-millisecond sequence.
pub const SEQUENCE_BITS: u32 = 12;
/// The largest node id.
pub const NODE_MAX: u16 = (1 << NODE_BITS) - 1;
const SEQUENCE_MAX: u64 = (1 << SEQUENCE_BITS) - 1;
const TIME_BITS: u32 = 64 - NODE_BITS - SEQUENCE_BITS;

/// A vertex id: 64 bits, time-ordered, unique across nodes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Id(pub u64);

impl Id {
    /// Milliseconds since the Unix epoch at which this id was generated.
    pub fn unix_ms(self) -> u64 {
        (self.0 >> (NODE_BITS + SEQUENCE_BITS)) + EPOCH_MS
    }

    /// The node that generated this id.
    pub fn node(self) -> u16 {
        ((self.0 >> SEQUENCE_BITS) & u64::from(NODE_MAX)) as u16
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({:x})", self.0)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for Id {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Id)
    }
}

/// Generates ids for one node. The caller passes the clock in, so this type does no IO.
///
/// When more than 4,096 ids are asked for in one millisecond (bulk imports), the generator
/// borrows the next millisecond instead of waiting: ids stay unique and increasing, and the
/// embedded time runs ahead of the wall clock by at most the size of the burst.
#[derive(Debug, Clone)]
pub struct IdGenerator {
    node: u64,
    last: u64,
}

impl IdGenerator {
    /// A generator for `node` (at most [`NODE_MAX`]).
    pub fn new(node: u16) -> IdGenerator {
        assert!(node <= NODE_MAX, "node id {node} exceeds {NODE_MAX}");
        IdGenerator { node: u64::from(node), last: 0 }
    }

    /// Resumes after `last`, the largest id this node has issued (found in the log).
    pub fn resume(node: u16, last: Id) -> IdGenerator {
        let mut generator = IdGenerator::new(node);
        generator.last = last.0;
        generator
    }

    /// The next id at wall-clock time `now_unix_ms`.
    pub fn next(&mut self, now_unix_ms: u64) -> Id {
        let ms = now_unix_ms.saturating_sub(EPOCH_MS).min((1 << TIME_BITS) - 1);
        let candidate = self.compose(ms, 0);
        let id = if candidate > self.last {
            candidate
        } else {
            let last_ms = self.last >> (NODE_BITS + SEQUENCE_BITS);
            let last_sequence = self.last & SEQUENCE_MAX;
            let same_ms = self.compose(last_ms, last_sequence + 1);
            if last_sequence < SEQUENCE_MAX && same_ms > self.last { same_ms } else { self.compose(last_ms + 1, 0) }
        };
        debug_assert!(id > self.last);
        self.last = id;
        Id(id)
    }

    fn compose(&self, ms: u64, sequence: u64) -> u64 {
        (ms << (NODE_BITS + SEQUENCE_BITS)) | (self.node << SEQUENCE_BITS) | sequence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_carry_node_and_time() {
        let mut generator = IdGenerator::new(7);
        let now = EPOCH_MS + 1_000_000;
        let mut previous = Id(0);
        for _ in 0..10_000 {
            let id = generator.next(now);
            assert!(id > previous);
            assert_eq!(id.node(), 7);
            assert!(id.unix_ms() >= now && id.unix_ms() <= now + 3);
            previous = id;
        }
    }

    #[test]
    fn nodes_never_collide() {
        let mut a = IdGenerator::new(1);
        let mut b = IdGenerator::new(2);
        let now = EPOCH_MS + 5;
        let xs: std::collections::HashSet<Id> = (0..5_000).map(|_| a.next(now)).collect();
        assert!((0..5_000).map(|_| b.next(now)).all(|id| !xs.contains(&id)));
    }

    #[test]
    fn clock_going_backwards_keeps_order() {
        let mut generator = IdGenerator::new(3);
        let first = generator.next(EPOCH_MS + 10_000);
        let second = generator.next(EPOCH_MS + 9_000);
        assert!(second > first);
    }
}
