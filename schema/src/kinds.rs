//! Vertex and edge kinds, and which vertex kinds each edge kind connects.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[repr(u8)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order (the order of their `u8` codes).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The lower-case name used in files, the CLI and the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The dense code of this value, `0..ALL.len()`.
            pub fn index(self) -> usize {
                self as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName {
                        what: stringify!($name),
                        name: s.chars().take(64).collect(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }
    };
}

/// A name that is not one of the known values, e.g. an unknown edge kind in an import file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?} (expected one of: {})", expected.join(", "))]
pub struct UnknownName {
    /// Which vocabulary the name was looked up in.
    pub what: &'static str,
    /// The name that was given (cut to 64 characters).
    pub name: String,
    /// The names that would have been accepted.
    pub expected: &'static [&'static str],
}

named_enum! {
    /// The kind of a vertex.
    VertexKind {
        /// A private account. Never shown to others; it acts through its masks.
        User = "user",
        /// An identity a user acts as; the only actor others ever see.
        Mask = "mask",
        /// A community space.
        World = "world",
        /// A creative work.
        Work = "work",
        /// A marketplace listing.
        Listing = "listing",
        /// A governance proposal.
        Proposal = "proposal",
        /// A micro-contract between masks.
        Contract = "contract",
        /// A conversation in a world: a title and its posts.
        Thread = "thread",
        /// A post in a thread (its first post, or a reply).
        Post = "post",
    }
}

named_enum! {
    /// The kind of a mask: how it presents its user.
    MaskKind {
        /// Public persona, openly the user's main face.
        Public = "public",
        /// Visible only to people the user admits.
        Private = "private",
        /// A creator persona that publishes works.
        Creator = "creator",
        /// A civic persona for governance.
        Citizen = "citizen",
        /// A pseudonymous mask that nothing may link to its owner.
        Shadow = "shadow",
    }
}

named_enum! {
    /// The kind of an edge. Each kind has fixed source and target vertex kinds
    /// ([`EdgeKind::endpoints`]) and at most one numeric weight whose meaning depends on the kind
    /// ([`EdgeKind::weight_name`]).
    EdgeKind {
        /// user → mask. Private: only the owner and the rules ever see it.
        Owns = "owns",
        /// mask → world.
        MemberOf = "member_of",
        /// mask → mask.
        Follows = "follows",
        /// mask → mask, with a signed rating −10..=10 as in signed trust networks.
        Rates = "rates",
        /// mask → work or mask.
        Endorses = "endorses",
        /// mask → work, with the author's share of the work (0..=1).
        Authored = "authored",
        /// work → work: the source is a remix of the target. Remix chains never form a cycle.
        RemixOf = "remix_of",
        /// mask → mask (symmetric in meaning; stored once, in the direction it was declared).
        Collaborates = "collaborates",
        /// mask → mask, with the amount traded.
        Traded = "traded",
        /// mask → proposal, with the choice (+1 yes, −1 no, 0 abstain).
        Voted = "voted",
        /// mask → mask or work.
        Reports = "reports",
        /// mask → world: a curator or moderator of the world.
        Moderates = "moderates",
        /// mask → mask: a private mask admits a viewer, who may then see it and follow it.
        /// Access, not trust: no score reads it.
        Admits = "admits",
        /// mask → work, with the share offered: a co-author named by the work's publisher,
        /// until it accepts (the edge becomes `authored`) or declines (it goes). Consent, not
        /// authorship: nothing shows it but its own owner's view, and no score reads it.
        Invited = "invited",
        /// mask → mask: asks to collaborate, until the other asks back (the two become one
        /// `collaborates` edge). Consent, not trust.
        Asks = "asks",
        /// mask → thread or post: who started a thread, who wrote a post.
        Wrote = "wrote",
        /// post → thread, thread → world: where a post or a thread belongs.
        Within = "within",
        /// post → post: a reply to an earlier post of its thread.
        RepliesTo = "replies_to",
        /// post → mask: an `@handle` in a post's body, resolved when it was written.
        Mentions = "mentions",
        /// mask → post, with the reaction's code ([`crate::talk::Reaction`]).
        Reacted = "reacted",
    }
}

/// The number of edge kinds (the size of per-kind tables).
pub const EDGE_KIND_COUNT: usize = 20;
const _: () = assert!(EdgeKind::Reacted as usize + 1 == EDGE_KIND_COUNT);

impl EdgeKind {
    /// The vertex kinds this edge kind may connect: (allowed sources, allowed targets).
    pub fn endpoints(self) -> (&'static [VertexKind], &'static [VertexKind]) {
        use VertexKind::*;
        match self {
            EdgeKind::Owns => (&[User], &[Mask]),
            EdgeKind::MemberOf | EdgeKind::Moderates => (&[Mask], &[World]),
            EdgeKind::Follows
            | EdgeKind::Rates
            | EdgeKind::Collaborates
            | EdgeKind::Traded
            | EdgeKind::Admits
            | EdgeKind::Asks => (&[Mask], &[Mask]),
            EdgeKind::Endorses | EdgeKind::Reports => (&[Mask], &[Work, Mask, Post]),
            EdgeKind::Authored | EdgeKind::Invited => (&[Mask], &[Work]),
            EdgeKind::RemixOf => (&[Work], &[Work]),
            EdgeKind::Voted => (&[Mask], &[Proposal]),
            EdgeKind::Wrote => (&[Mask], &[Thread, Post]),
            EdgeKind::Within => (&[Post, Thread], &[Thread, World]),
            EdgeKind::RepliesTo => (&[Post], &[Post]),
            EdgeKind::Mentions => (&[Post], &[Mask]),
            EdgeKind::Reacted => (&[Mask], &[Post]),
        }
    }

    /// The property name of this kind's numeric weight in files and the API, if it has one.
    pub fn weight_name(self) -> Option<&'static str> {
        match self {
            EdgeKind::Rates => Some("rating"),
            EdgeKind::Authored | EdgeKind::Invited => Some("share"),
            EdgeKind::Traded => Some("amount"),
            EdgeKind::Voted => Some("choice"),
            EdgeKind::Endorses => Some("weight"),
            EdgeKind::Reacted => Some("reaction"),
            _ => None,
        }
    }

    /// Whether the edge is private to the owner of its source (only `owns`).
    pub fn is_private(self) -> bool {
        self == EdgeKind::Owns
    }

    /// Whether the edge grants access or awaits consent and says nothing about trust or taste
    /// (`admits`, `invited`, `asks`): no score reads it, and graph analyses leave it out by
    /// default.
    pub fn is_access(self) -> bool {
        matches!(self, EdgeKind::Admits | EdgeKind::Invited | EdgeKind::Asks)
    }

    /// Checks a weight against this kind's range. `None` means "no weight given".
    pub fn check_weight(self, weight: Option<f32>) -> Result<(), WeightError> {
        let Some(w) = weight else {
            return match self {
                EdgeKind::Rates | EdgeKind::Voted | EdgeKind::Reacted => Err(WeightError::Missing { kind: self }),
                _ => Ok(()),
            };
        };
        let range = match self {
            EdgeKind::Rates => -10.0..=10.0,
            EdgeKind::Authored | EdgeKind::Invited => 0.0..=1.0,
            EdgeKind::Traded => 0.0..=f32::MAX,
            EdgeKind::Voted => -1.0..=1.0,
            EdgeKind::Endorses => -10.0..=10.0,
            EdgeKind::Reacted => 1.0..=crate::talk::Reaction::ALL.len() as f32,
            _ => return Err(WeightError::NotAllowed { kind: self }),
        };
        if !w.is_finite() || !range.contains(&w) {
            return Err(WeightError::OutOfRange { kind: self, weight: w, min: *range.start(), max: *range.end() });
        }
        if matches!(self, EdgeKind::Rates | EdgeKind::Reacted) && w.fract() != 0.0 {
            return Err(WeightError::NotInteger { kind: self, weight: w });
        }
        Ok(())
    }
}

/// A weight that does not fit its edge kind.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightError {
    /// The kind needs a weight and none was given.
    #[error("a {kind} edge needs its {}", kind.weight_name().unwrap_or("weight"))]
    Missing {
        /// The edge kind.
        kind: EdgeKind,
    },
    /// The kind carries no weight.
    #[error("a {kind} edge carries no weight")]
    NotAllowed {
        /// The edge kind.
        kind: EdgeKind,
    },
    /// The weight is outside the kind's range.
    #[error("{} {weight} is out of range {min}..={max} for a {kind} edge", kind.weight_name().unwrap_or("weight"))]
    OutOfRange {
        /// The edge kind.
        kind: EdgeKind,
        /// The weight given.
        weight: f32,
        /// Smallest allowed.
        min: f32,
        /// Largest allowed.
        max: f32,
    },
    /// The weight must be a whole number.
    #[error("{} {weight} must be a whole number for a {kind} edge", kind.weight_name().unwrap_or("weight"))]
    NotInteger {
        /// The edge kind.
        kind: EdgeKind,
        /// The weight given.
        weight: f32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in EdgeKind::ALL {
            assert_eq!(kind.as_str().parse::<EdgeKind>().unwrap(), *kind);
        }
        for (i, kind) in VertexKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(kind.as_str().parse::<VertexKind>().unwrap(), *kind);
        }
        let err = "likes".parse::<EdgeKind>().unwrap_err();
        assert!(err.to_string().contains("unknown EdgeKind \"likes\""), "{err}");
    }

    #[test]
    fn ratings_are_whole_and_in_range() {
        assert!(EdgeKind::Rates.check_weight(Some(-10.0)).is_ok());
        assert!(EdgeKind::Rates.check_weight(Some(11.0)).is_err());
        assert!(EdgeKind::Rates.check_weight(Some(1.5)).is_err());
        assert!(EdgeKind::Rates.check_weight(None).is_err());
        assert!(EdgeKind::Follows.check_weight(Some(1.0)).is_err());
        assert!(EdgeKind::Authored.check_weight(Some(f32::NAN)).is_err());
    }
}
