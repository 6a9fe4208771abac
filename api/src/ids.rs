//! Opaque global ids. A node's id in the API is its kind and its engine id, the latter
//! encrypted with a keyed 64-bit Feistel permutation, in base64url: `node(id)` can tell the
//! kind at once, and nobody can read an id's creation time (engine ids are time-ordered) or
//! guess a neighbour's id from it — so two masks created one after the other by one user
//! cannot be paired by their ids.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schema::Id;

/// What a global id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A mask.
    Mask,
    /// A world.
    World,
    /// A work.
    Work,
    /// A cluster of one epoch: the id is `epoch << 32 | community`.
    Cluster,
    /// A governance proposal.
    Proposal,
    /// A moderation case.
    Case,
    /// A marketplace listing.
    Listing,
    /// A contract.
    Contract,
    /// A thread in a world.
    Thread,
    /// A post in a thread.
    Post,
}

impl NodeKind {
    fn tag(self) -> u8 {
        match self {
            NodeKind::Mask => b'M',
            NodeKind::World => b'W',
            NodeKind::Work => b'K',
            NodeKind::Cluster => b'C',
            NodeKind::Proposal => b'P',
            NodeKind::Case => b'X',
            NodeKind::Listing => b'L',
            NodeKind::Contract => b'N',
            NodeKind::Thread => b'T',
            NodeKind::Post => b'S',
        }
    }

    fn from_tag(tag: u8) -> Option<NodeKind> {
        Some(match tag {
            b'M' => NodeKind::Mask,
            b'W' => NodeKind::World,
            b'K' => NodeKind::Work,
            b'C' => NodeKind::Cluster,
            b'P' => NodeKind::Proposal,
            b'X' => NodeKind::Case,
            b'L' => NodeKind::Listing,
            b'N' => NodeKind::Contract,
            b'T' => NodeKind::Thread,
            b'S' => NodeKind::Post,
            _ => return None,
        })
    }
}

/// Rounds of the Feistel network, each a keyed BLAKE3 of the half-block: four rounds of a
/// pseudo-random function make a strong pseudo-random permutation (Luby–Rackoff).
const ROUNDS: u8 = 4;

/// Encodes and decodes global ids with a secret key (kept beside the sessions, so ids are
/// stable across restarts and replicas).
#[derive(Clone)]
pub struct GlobalIds {
    key: [u8; 32],
}

impl GlobalIds {
    /// Ids under `key`.
    pub fn new(key: [u8; 32]) -> GlobalIds {
        GlobalIds { key }
    }

    fn round(&self, round: u8, tag: u8, half: u32) -> u32 {
        let mut input = [0u8; 6];
        input[0] = round;
        input[1] = tag;
        input[2..].copy_from_slice(&half.to_le_bytes());
        let out = blake3::keyed_hash(&self.key, &input);
        u32::from_le_bytes(out.as_bytes()[..4].try_into().expect("4 bytes"))
    }

    fn permute(&self, tag: u8, x: u64) -> u64 {
        let (mut l, mut r) = ((x >> 32) as u32, x as u32);
        for i in 0..ROUNDS {
            (l, r) = (r, l ^ self.round(i, tag, r));
        }
        (u64::from(l) << 32) | u64::from(r)
    }

    fn unpermute(&self, tag: u8, y: u64) -> u64 {
        let (mut l, mut r) = ((y >> 32) as u32, y as u32);
        for i in (0..ROUNDS).rev() {
            (l, r) = (r ^ self.round(i, tag, l), l);
        }
        (u64::from(l) << 32) | u64::from(r)
    }

    /// The global id of `raw` as a `kind`.
    pub fn encode(&self, kind: NodeKind, raw: u64) -> String {
        let tag = kind.tag();
        let mut bytes = [0u8; 9];
        bytes[0] = tag;
        bytes[1..].copy_from_slice(&self.permute(tag, raw).to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The global id of an engine vertex.
    pub fn of(&self, kind: NodeKind, id: Id) -> String {
        self.encode(kind, id.0)
    }

    /// A keyed hash of an engine id: an order among things that tie on every public fact, which
    /// is random and cannot be turned back into the id (whose bits are its creation time).
    pub fn tie(&self, id: Id) -> u64 {
        let mut input = [0u8; 9];
        input[0] = b'T';
        input[1..].copy_from_slice(&id.0.to_le_bytes());
        let out = blake3::keyed_hash(&self.key, &input);
        u64::from_le_bytes(out.as_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// The kind and raw value of a global id, or `None` when it is not one of ours.
    pub fn decode(&self, global: &str) -> Option<(NodeKind, u64)> {
        if global.len() != 12 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(global).ok()?;
        let kind = NodeKind::from_tag(*bytes.first()?)?;
        let y = u64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?);
        Some((kind, self.unpermute(kind.tag(), y)))
    }

    /// The engine id of a global id of `kind`.
    pub fn decode_as(&self, kind: NodeKind, global: &str) -> Option<Id> {
        match self.decode(global)? {
            (k, raw) if k == kind => Some(Id(raw)),
            _ => None,
        }
    }
}

/// An opaque cursor: an offset into a list.
pub fn cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

/// The offset a cursor names.
pub fn offset_of(cursor: &str) -> Option<usize> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor.as_bytes()).ok()?).ok()?;
    text.strip_prefix("o:")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_hide_order() {
        let ids = GlobalIds::new([7; 32]);
        for raw in [0u64, 1, 2, 1 << 40, u64::MAX] {
            let g = ids.of(NodeKind::Mask, Id(raw));
            assert_eq!(g.len(), 12);
            assert_eq!(ids.decode(&g), Some((NodeKind::Mask, raw)));
            assert_eq!(ids.decode_as(NodeKind::World, &g), None);
        }
        // Consecutive engine ids do not give neighbouring global ids.
        let a = ids.of(NodeKind::Mask, Id(1000));
        let b = ids.of(NodeKind::Mask, Id(1001));
        assert_ne!(a[..8], b[..8]);
        // Another key, other ids.
        assert_ne!(GlobalIds::new([8; 32]).of(NodeKind::Mask, Id(1000)), a);
        assert_eq!(ids.decode("not-an-id"), None);
        assert_eq!(ids.decode("AAAAAAAAAAAA"), None);
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(offset_of(&cursor(42)), Some(42));
        assert_eq!(offset_of("garbage"), None);
    }
}
