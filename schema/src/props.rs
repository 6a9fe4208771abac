//! Typed properties of vertices, validated handles, and the packed columns of bulk events.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A property value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// Text (names, titles, descriptions; any script).
    Str(String),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// A flag.
    Bool(bool),
    /// A list of short texts (tags).
    List(Vec<String>),
}

impl Value {
    /// The text, if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Properties of a vertex, ordered by key so that every encoding of them is canonical.
pub type Props = BTreeMap<String, Value>;

/// The property of an erased user or mask: when its handles may be taken by others
/// (milliseconds since the Unix epoch, an `Int`). Only [`crate::Event::Erased`] sets it.
pub const ERASED: &str = "erased_until";

/// The longest text property, in bytes.
pub const TEXT_BYTES_MAX: usize = 8 * 1024;
/// The most properties on one vertex.
pub const PROPS_MAX: usize = 32;
/// The most entries in a list property.
pub const LIST_LEN_MAX: usize = 32;

/// Checks the limits every stored property set must respect.
pub fn check_props(props: &Props) -> Result<(), crate::Rejection> {
    use crate::Rejection;
    if props.len() > PROPS_MAX {
        return Err(Rejection::LimitExceeded { what: "properties", limit: PROPS_MAX as u64 });
    }
    for (key, value) in props {
        let too_long = |s: &str| s.len() > TEXT_BYTES_MAX;
        let bad = match value {
            Value::Str(s) => too_long(s),
            Value::List(items) => items.len() > LIST_LEN_MAX || items.iter().any(|s| too_long(s)),
            Value::Float(f) => !f.is_finite(),
            Value::Int(_) | Value::Bool(_) => false,
        };
        if bad || key.is_empty() || key.len() > 64 {
            return Err(Rejection::InvalidInput {
                field: format!("props.{}", key.chars().take(64).collect::<String>()),
                reason: format!("at most {TEXT_BYTES_MAX} bytes of text, {LIST_LEN_MAX} list entries, finite numbers"),
            });
        }
    }
    Ok(())
}

/// A mask handle: 3 to 32 characters of `a-z`, `0-9` and `_`, stored lower-case. Unique.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Handle(String);

impl Handle {
    /// Validates and lower-cases `raw`.
    pub fn parse(raw: &str) -> Result<Handle, crate::Rejection> {
        let handle = raw.to_ascii_lowercase();
        let ok = (3..=32).contains(&handle.len())
            && handle.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(crate::Rejection::InvalidHandle { handle: raw.chars().take(40).collect() });
        }
        Ok(Handle(handle))
    }

    /// The handle as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! packed_column {
    ($(#[$meta:meta])* $name:ident, $elem:ty, $size:expr) => {
        $(#[$meta])*
        ///
        /// Encoded as one little-endian byte string, so that millions of values cost a memcpy
        /// rather than a per-element varint.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name(pub Vec<$elem>);

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut bytes = Vec::with_capacity(self.0.len() * $size);
                for value in &self.0 {
                    bytes.extend_from_slice(&value.to_le_bytes());
                }
                serializer.serialize_bytes(&bytes)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl<'de> serde::de::Visitor<'de> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "a byte string of {}-byte values", $size)
                    }
                    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<$name, E> {
                        if bytes.len() % $size != 0 {
                            return Err(E::invalid_length(bytes.len(), &self));
                        }
                        Ok($name(
                            bytes
                                .chunks_exact($size)
                                .map(|c| <$elem>::from_le_bytes(c.try_into().expect("chunk size")))
                                .collect(),
                        ))
                    }
                    fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<$name, E> {
                        self.visit_bytes(&bytes)
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<$name, A::Error> {
                        // Self-describing formats (JSON) hand bytes over as a sequence.
                        let mut bytes = Vec::new();
                        while let Some(b) = seq.next_element::<u8>()? {
                            bytes.push(b);
                        }
                        self.visit_bytes(&bytes)
                    }
                }
                deserializer.deserialize_bytes(Visitor)
            }
        }
    };
}

packed_column!(
    /// A packed column of `u32` (vertex indexes of a bulk batch).
    U32s, u32, 4
);
packed_column!(
    /// A packed column of `u64` (vertex ids of a bulk batch).
    U64s, u64, 8
);
packed_column!(
    /// A packed column of `f32` (edge weights of a bulk batch); a row without a weight holds
    /// [`NO_WEIGHT`].
    F32s, f32, 4
);
packed_column!(
    /// A packed column of `i64` (edge times in milliseconds of a bulk batch); a row without a
    /// time holds [`NO_TIME`].
    I64s, i64, 8
);

/// In a packed weight column, a row that has no weight (NaN: no weight a rule accepts is NaN).
/// A missing weight means the same wherever it comes from (an import's empty field, a JSONL
/// edge without one, a command that gives none): the edge has no weight, and each job says
/// what that counts as.
pub const NO_WEIGHT: f32 = f32::NAN;
/// In a packed time column, a row that has no time.
pub const NO_TIME: i64 = i64::MIN;

/// A packed weight as what it means.
#[inline]
pub fn weight_of(packed: f32) -> Option<f32> {
    (!packed.is_nan()).then_some(packed)
}

/// A packed time as what it means.
#[inline]
pub fn time_of(packed: i64) -> Option<i64> {
    (packed != NO_TIME).then_some(packed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_validated_and_lowercased() {
        assert_eq!(Handle::parse("Ahmed_3adel").unwrap().as_str(), "ahmed_3adel");
        assert!(Handle::parse("ab").is_err());
        assert!(Handle::parse("has space").is_err());
        assert!(Handle::parse("عربي").is_err());
    }

    #[test]
    fn packed_columns_round_trip_through_postcard() {
        let column = U32s(vec![0, 1, u32::MAX, 77]);
        let bytes = postcard::to_stdvec(&column).unwrap();
        assert_eq!(bytes.len(), 1 + 16, "one length byte and raw values");
        assert_eq!(postcard::from_bytes::<U32s>(&bytes).unwrap(), column);
        let times = I64s(vec![-5, 1_700_000_000_000]);
        assert_eq!(postcard::from_bytes::<I64s>(&postcard::to_stdvec(&times).unwrap()).unwrap(), times);
    }
}
