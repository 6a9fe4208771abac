//! Relay connections over lists held in memory: `first` or `last` (1..=100) is required, and
//! cursors are opaque offsets.

use crate::error::{ApiError, Code};
use crate::ids::{cursor, offset_of};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{OutputType, SimpleObject};

/// The largest page.
pub const LIST_MAX: usize = 100;

/// Fields every connection has besides its edges and page info.
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct Totals {
    /// How many items the whole list holds.
    pub total_count: usize,
}

/// A connection to `T`s.
pub type Conn<T> = Connection<String, T, Totals>;

/// Paging arguments as given.
#[derive(Clone, Debug, Default)]
pub struct PageArgs {
    /// From the start.
    pub first: Option<i32>,
    /// From the end.
    pub last: Option<i32>,
    /// After this cursor.
    pub after: Option<String>,
    /// Before this cursor.
    pub before: Option<String>,
}

impl PageArgs {
    /// The arguments.
    pub fn new(first: Option<i32>, last: Option<i32>, after: Option<String>, before: Option<String>) -> PageArgs {
        PageArgs { first, last, after, before }
    }

    /// The range of a list of `total` items these arguments select, with whether items lie
    /// before and after it.
    pub fn window(&self, total: usize) -> Result<(std::ops::Range<usize>, bool, bool), ApiError> {
        let size = |name: &str, n: i32| {
            if (1..=LIST_MAX as i32).contains(&n) {
                Ok(n as usize)
            } else {
                Err(ApiError::new(Code::BadUserInput, format!("{name} must be 1 to {LIST_MAX} (got {n})")).field(name))
            }
        };
        let (first, last) = match (self.first, self.last) {
            (Some(_), Some(_)) => {
                return Err(ApiError::new(Code::BadUserInput, "give first or last, not both").field("first"));
            }
            (None, None) => {
                return Err(ApiError::new(Code::BadUserInput, format!("first or last (1 to {LIST_MAX}) is required"))
                    .field("first"));
            }
            (Some(n), None) => (Some(size("first", n)?), None),
            (None, Some(n)) => (None, Some(size("last", n)?)),
        };
        let parse = |name: &str, c: &Option<String>| -> Result<Option<usize>, ApiError> {
            c.as_deref()
                .map(|c| offset_of(c).ok_or_else(|| ApiError::new(Code::BadUserInput, "not a cursor").field(name)))
                .transpose()
        };
        let start = parse("after", &self.after)?.map_or(0, |a| a.saturating_add(1)).min(total);
        let end = parse("before", &self.before)?.unwrap_or(total).min(total).max(start);
        let (mut lo, mut hi) = (start, end);
        if let Some(n) = first {
            hi = hi.min(lo + n);
        }
        if let Some(n) = last {
            lo = lo.max(hi.saturating_sub(n));
        }
        Ok((lo..hi, lo > 0, hi < total))
    }
}

/// A connection field's four paging arguments, as given: `(first, last, after, before)`.
pub type Paging = (Option<i32>, Option<i32>, Option<String>, Option<String>);

/// The page of `items` (the whole list) that a connection field's paging arguments select;
/// `node` makes each node. Every connection field answers through this.
pub fn page<I: Copy, T: OutputType>(
    items: &[I],
    (first, last, after, before): Paging,
    node: impl FnMut(I) -> T,
) -> async_graphql::Result<Conn<T>> {
    Ok(connect(items, &PageArgs::new(first, last, after, before), node)?)
}

/// A connection over `items` (the whole list), paged by `args`; `node` makes each node.
pub fn connect<I: Copy, T: OutputType>(
    items: &[I],
    args: &PageArgs,
    mut node: impl FnMut(I) -> T,
) -> Result<Conn<T>, ApiError> {
    let (range, has_previous, has_next) = args.window(items.len())?;
    let mut connection =
        Connection::with_additional_fields(has_previous, has_next, Totals { total_count: items.len() });
    connection.edges.extend(items[range.clone()].iter().zip(range).map(|(&item, i)| Edge::new(cursor(i), node(item))));
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(first: Option<i32>, last: Option<i32>, after: Option<usize>, before: Option<usize>) -> PageArgs {
        PageArgs::new(first, last, after.map(cursor), before.map(cursor))
    }

    #[test]
    fn windows() {
        assert_eq!(args(Some(2), None, None, None).window(5).unwrap(), (0..2, false, true));
        assert_eq!(args(Some(2), None, Some(1), None).window(5).unwrap(), (2..4, true, true));
        assert_eq!(args(None, Some(2), None, None).window(5).unwrap(), (3..5, true, false));
        assert_eq!(args(None, Some(2), None, Some(3)).window(5).unwrap(), (1..3, true, true));
        assert_eq!(args(Some(10), None, Some(4), None).window(5).unwrap(), (5..5, true, false));
        assert_eq!(args(Some(3), None, None, None).window(0).unwrap(), (0..0, false, false));
        assert!(args(None, None, None, None).window(5).is_err());
        assert!(args(Some(0), None, None, None).window(5).is_err());
        assert!(args(Some(1_000_000), None, None, None).window(5).is_err());
        assert!(args(Some(1), Some(1), None, None).window(5).is_err());
    }
}
