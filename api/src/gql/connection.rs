//! Relay connections over lists held in memory: `first` or `last` (1..=100) is required.
//!
//! Lists of masks, worlds and works are ordered by something public — the time of the edge
//! that puts an item in the list, newest first, then a name everyone sees (a handle; a title or
//! a world's name, then the opaque global id) — never by the engine's vertex order, which is
//! the order things were made in: read in that order, two masks made one after the other would
//! point to one person. Their cursors name that key ([`SortKey`]), so a page holds up when items
//! are added or removed before it. Ranked lists (search hits, score changes) keep offsets.

use crate::error::{ApiError, Code};
use crate::ids::{cursor, offset_of};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{OutputType, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
        let start = match self.after.as_deref() {
            Some(START) => 0,
            _ => parse("after", &self.after)?.map_or(0, |a| a.saturating_add(1)).min(total),
        };
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

/// Where an item stands in a list ordered by public facts (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey {
    /// The edge's time negated (newest first); `i64::MAX` when the edge has none (last).
    newest_first: i64,
    /// A name everyone sees.
    name: String,
    /// The opaque global id: a tie-break that says nothing.
    global: String,
}

impl SortKey {
    /// The key of an item added to its list at `time_ms` (None: unknown), named `name`, with
    /// global id `global`.
    pub fn new(time_ms: Option<i64>, name: String, global: String) -> SortKey {
        SortKey { newest_first: time_ms.map_or(i64::MAX, |t| t.saturating_neg()), name, global }
    }

    /// The cursor that names this key.
    pub fn cursor(&self) -> String {
        let text = serde_json::json!(["k", self.newest_first, self.name, self.global]).to_string();
        URL_SAFE_NO_PAD.encode(text)
    }

    /// The key a cursor names.
    fn of_cursor(cursor: &str) -> Option<SortKey> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).ok()?;
        let (tag, newest_first, name, global): (String, i64, String, String) = serde_json::from_slice(&bytes).ok()?;
        (tag == "k").then_some(SortKey { newest_first, name, global })
    }
}

/// The page of a list ordered by [`SortKey`] (`items` sorted by key) that a connection field's
/// paging arguments select, with cursors that name the keys.
pub fn page_by_key<I: Copy, T: OutputType>(
    items: &[(SortKey, I)],
    (first, last, after, before): Paging,
    mut node: impl FnMut(I) -> T,
) -> async_graphql::Result<Conn<T>> {
    debug_assert!(items.windows(2).all(|w| w[0].0 <= w[1].0), "sorted by key");
    let key = |name: &str, c: &Option<String>| -> Result<Option<SortKey>, ApiError> {
        c.as_deref()
            .map(|c| SortKey::of_cursor(c).ok_or_else(|| ApiError::new(Code::BadUserInput, "not a cursor").field(name)))
            .transpose()
    };
    // Cursors become positions in today's list: after a key, the first item past it; before a
    // key, the first item at or past it.
    let after = key("after", &after)?.map(|k| items.partition_point(|(item, _)| *item <= k));
    let before = key("before", &before)?.map(|k| items.partition_point(|(item, _)| *item < k));
    let args = PageArgs {
        first,
        last,
        after: after.map(|p| if p == 0 { START.to_owned() } else { cursor(p - 1) }),
        before: before.map(cursor),
    };
    let (range, has_previous, has_next) = args.window(items.len())?;
    let mut connection =
        Connection::with_additional_fields(has_previous, has_next, Totals { total_count: items.len() });
    connection.edges.extend(items[range].iter().map(|(k, item)| Edge::new(k.cursor(), node(*item))));
    Ok(connection)
}

/// An offset cursor that stands before the first item.
const START: &str = "start";

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

#[cfg(test)]
mod keyed {
    use super::*;

    fn key(time: i64, name: &str) -> SortKey {
        SortKey::new(Some(time), name.to_owned(), format!("g{name}"))
    }

    fn names(conn: &Conn<&'static str>) -> Vec<&'static str> {
        conn.edges.iter().map(|e| e.node).collect()
    }

    #[test]
    fn keyed_pages_hold_when_items_come_and_go() {
        let mut items = vec![(key(30, "c"), "c"), (key(20, "b"), "b"), (key(10, "a"), "a")];
        items.sort();
        let first = page_by_key(&items, (Some(2), None, None, None), |n| n).unwrap();
        assert_eq!(names(&first), ["c", "b"], "newest first");
        let after = first.edges[1].cursor.clone();
        // A newer item arrives and "b" goes away: the next page still starts after "b".
        items.push((key(40, "d"), "d"));
        items.retain(|(_, n)| *n != "b");
        items.sort();
        let next = page_by_key(&items, (Some(2), None, Some(after.clone()), None), |n| n).unwrap();
        assert_eq!(names(&next), ["a"]);
        let before = page_by_key(&items, (None, Some(5), None, Some(after)), |n| n).unwrap();
        assert_eq!(names(&before), ["d", "c"]);
        // Equal times order by name; unknown times come last.
        let mut tied = [(key(5, "z"), "z"), (key(5, "m"), "m"), (SortKey::new(None, "a".into(), "ga".into()), "a")];
        tied.sort();
        assert_eq!(tied.iter().map(|(_, n)| *n).collect::<Vec<_>>(), ["m", "z", "a"]);
        assert!(page_by_key(&items, (Some(1), None, Some("bm90IGEgY3Vyc29y".into()), None), |n| n).is_err());
    }
}
