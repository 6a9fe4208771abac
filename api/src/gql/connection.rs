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
use async_graphql::{Context, OutputType, SimpleObject};
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

/// Where an item stands in a list ordered by public facts (see the module's documentation), as
/// a cursor names it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SortKey {
    /// The edge's time negated (newest first); `i64::MAX` when the edge has none (last).
    newest_first: i64,
    /// A name everyone sees.
    name: String,
    /// A keyed hash of the item's id: a tie-break that says nothing (see [`Ordered`]).
    tie: u64,
}

/// The first byte of a keyed cursor.
const KEYED: u8 = b'k';

impl SortKey {
    /// The cursor that names this key: `k`, the time, the tie-break, the name, in base64.
    fn cursor(&self) -> String {
        let mut bytes = Vec::with_capacity(17 + self.name.len());
        bytes.push(KEYED);
        bytes.extend_from_slice(&self.newest_first.to_le_bytes());
        bytes.extend_from_slice(&self.tie.to_le_bytes());
        bytes.extend_from_slice(self.name.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The key a cursor names.
    fn of_cursor(cursor: &str) -> Option<SortKey> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).ok()?;
        if bytes.len() < 17 || bytes[0] != KEYED {
            return None;
        }
        Some(SortKey {
            newest_first: i64::from_le_bytes(bytes[1..9].try_into().ok()?),
            tie: u64::from_le_bytes(bytes[9..17].try_into().ok()?),
            name: String::from_utf8(bytes[17..].to_vec()).ok()?,
        })
    }
}

/// A list in its public order: by the time each item joined it, newest first (unknown times
/// last), then by its name, then — only where time and name tie — by a keyed hash of its id,
/// which orders at random and cannot be turned back into the id (whose bits are its creation
/// time). The hash is computed only for ties and for the cursors of the page asked for.
pub struct Ordered<'g, I> {
    /// (time negated, name, item), in order.
    items: Vec<(i64, &'g str, I)>,
    tie: Box<dyn Fn(I) -> u64 + 'g>,
}

impl<'g, I: Copy> Ordered<'g, I> {
    /// Orders `items`: (the time it joined the list, its name, the item); `tie` gives an item's
    /// keyed hash.
    pub fn new(items: impl Iterator<Item = (Option<i64>, &'g str, I)>, tie: impl Fn(I) -> u64 + 'g) -> Ordered<'g, I> {
        let mut items: Vec<(i64, &'g str, I)> =
            items.map(|(time, name, item)| (time.map_or(i64::MAX, i64::saturating_neg), name, item)).collect();
        items.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut start = 0;
        while start < items.len() {
            let (t, n) = (items[start].0, items[start].1);
            let end = start + items[start..].iter().take_while(|x| x.0 == t && x.1 == n).count();
            if end - start > 1 {
                items[start..end].sort_by_cached_key(|x| tie(x.2));
            }
            start = end;
        }
        Ordered { items, tie: Box::new(tie) }
    }

    /// How many items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    fn key(&self, i: usize) -> SortKey {
        let (newest_first, name, item) = self.items[i];
        SortKey { newest_first, name: name.to_owned(), tie: (self.tie)(item) }
    }

    /// Where `key` falls in today's list: the first item past it (`after`), or the first at or
    /// past it.
    fn position(&self, key: &SortKey, after: bool) -> usize {
        let wanted = (key.newest_first, key.name.as_str());
        let lo = self.items.partition_point(|x| (x.0, x.1) < wanted);
        let hi = self.items.partition_point(|x| (x.0, x.1) <= wanted);
        lo + self.items[lo..hi].partition_point(|x| {
            let tie = (self.tie)(x.2);
            if after { tie <= key.tie } else { tie < key.tie }
        })
    }
}

/// The page of a list in its public order that a connection field's paging arguments select,
/// with cursors that name each item's key — made only when the query selects them (a cursor
/// costs a keyed hash, the dearest part of a key).
pub fn page_by_key<I: Copy, T: OutputType>(
    ctx: &Context<'_>,
    list: &Ordered<'_, I>,
    paging: Paging,
    node: impl FnMut(I) -> T,
) -> async_graphql::Result<Conn<T>> {
    let cursors = ctx.look_ahead().field("edges").field("cursor").exists();
    page_of(list, paging, cursors, node)
}

fn page_of<I: Copy, T: OutputType>(
    list: &Ordered<'_, I>,
    (first, last, after, before): Paging,
    cursors: bool,
    mut node: impl FnMut(I) -> T,
) -> async_graphql::Result<Conn<T>> {
    let key = |name: &str, c: &Option<String>| -> Result<Option<SortKey>, ApiError> {
        c.as_deref()
            .map(|c| SortKey::of_cursor(c).ok_or_else(|| ApiError::new(Code::BadUserInput, "not a cursor").field(name)))
            .transpose()
    };
    // Cursors become positions in today's list, then offsets for the window.
    let after = key("after", &after)?.map(|k| list.position(&k, true));
    let before = key("before", &before)?.map(|k| list.position(&k, false));
    let args = PageArgs {
        first,
        last,
        after: after.map(|p| if p == 0 { START.to_owned() } else { cursor(p - 1) }),
        before: before.map(cursor),
    };
    let (range, has_previous, has_next) = args.window(list.len())?;
    let mut connection = Connection::with_additional_fields(has_previous, has_next, Totals { total_count: list.len() });
    connection.edges.extend(range.map(|i| {
        let cursor = if cursors { list.key(i).cursor() } else { String::new() };
        Edge::new(cursor, node(list.items[i].2))
    }));
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

    /// Items named by their first letter (the rest tells apart items of one name).
    fn list<'a>(items: &[(Option<i64>, &'a str)]) -> Ordered<'a, &'a str> {
        Ordered::new(items.iter().map(|&(t, n)| (t, &n[..1], n)), |n| {
            u64::from(n.as_bytes().last().copied().unwrap_or(0))
        })
    }

    fn names(conn: &Conn<&str>) -> Vec<String> {
        conn.edges.iter().map(|e| e.node.to_owned()).collect()
    }

    #[test]
    fn keyed_pages_hold_when_items_come_and_go() {
        let items = list(&[(Some(10), "a"), (Some(30), "c"), (Some(20), "b")]);
        let first = page_of(&items, (Some(2), None, None, None), true, |n| n).unwrap();
        assert_eq!(names(&first), ["c", "b"], "newest first");
        let after = first.edges[1].cursor.clone();
        // A newer item arrives and "b" goes away: the next page still starts after "b".
        let items = list(&[(Some(10), "a"), (Some(30), "c"), (Some(40), "d")]);
        let next = page_of(&items, (Some(2), None, Some(after.clone()), None), true, |n| n).unwrap();
        assert_eq!(names(&next), ["a"]);
        let before = page_of(&items, (None, Some(5), None, Some(after)), true, |n| n).unwrap();
        assert_eq!(names(&before), ["d", "c"]);
        // Equal times order by name; unknown times come last; a tie of both, by global id.
        let tied = list(&[(Some(5), "z"), (None, "a"), (Some(5), "m2"), (Some(5), "m1")]);
        let all = page_of(&tied, (Some(10), None, None, None), true, |n| n).unwrap();
        assert_eq!(names(&all), ["m1", "m2", "z", "a"]);
        let past_m1 = page_of(&tied, (Some(10), None, Some(all.edges[0].cursor.clone()), None), true, |n| n).unwrap();
        assert_eq!(names(&past_m1), ["m2", "z", "a"]);
        assert!(page_of(&items, (Some(1), None, Some("bm90IGEgY3Vyc29y".into()), None), true, |n| n).is_err());
    }
}
