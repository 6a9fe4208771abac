//! Adjacency of one edge kind: a compacted CSR base in both directions, a small delta of recent
//! changes, and tombstones for removed base edges.
//!
//! Memory per base edge: 4 bytes of target (out), 4 of source (in), 4 of the in-edge's position
//! in the out arrays (so edge properties are stored once), plus the kind's optional columns
//! (4 bytes of weight, 8 of time) and two bits of tombstone; 8 bytes per vertex per direction of
//! offsets, only for kinds that have edges. Within a vertex, base neighbours are sorted, so
//! `has_edge` is a binary search.

use hashbrown::HashMap;
use rayon::prelude::*;

/// An edge's optional properties.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EdgeProps {
    /// The kind's weight (rating, share, amount, choice).
    pub weight: Option<f32>,
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: Option<i64>,
}

/// An edge to insert in bulk, by dense vertex index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RawEdge {
    pub src: u32,
    pub dst: u32,
    pub props: EdgeProps,
}

#[derive(Clone, Copy, Debug)]
struct DeltaEdge {
    other: u32,
    props: EdgeProps,
}

/// Edges of one kind.
#[derive(Default, Clone)]
pub(crate) struct Adjacency {
    out_offsets: Vec<u64>,
    out_targets: Vec<u32>,
    in_offsets: Vec<u64>,
    in_sources: Vec<u32>,
    in_edge: Vec<u32>,
    weight: Option<Vec<f32>>,
    time_ms: Option<Vec<i64>>,
    /// Removed base edges since the last compaction, one bit per out position and per in position.
    removed_out: Vec<u64>,
    removed_in: Vec<u64>,
    removed_count: usize,
    delta_out: HashMap<u32, Vec<DeltaEdge>>,
    delta_in: HashMap<u32, Vec<u32>>,
    delta_count: usize,
}

/// Neighbours of one vertex in one direction: the base slice (skipping removed edges), then the
/// delta of edges added since the last compaction.
pub struct Neighbors<'a> {
    base: std::slice::Iter<'a, u32>,
    base_pos: usize,
    removed: Option<&'a [u64]>,
    delta: Delta<'a>,
}

enum Delta<'a> {
    Out(std::slice::Iter<'a, DeltaEdge>),
    In(std::slice::Iter<'a, u32>),
    None,
}

impl Iterator for Neighbors<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        match self.removed {
            None => {
                if let Some(&v) = self.base.next() {
                    return Some(v);
                }
            }
            Some(bits) => {
                for &v in self.base.by_ref() {
                    let pos = self.base_pos;
                    self.base_pos += 1;
                    if !bit(bits, pos) {
                        return Some(v);
                    }
                }
            }
        }
        match &mut self.delta {
            Delta::Out(it) => it.next().map(|e| e.other),
            Delta::In(it) => it.next().copied(),
            Delta::None => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let delta = match &self.delta {
            Delta::Out(it) => it.len(),
            Delta::In(it) => it.len(),
            Delta::None => 0,
        };
        let base = self.base.len();
        (if self.removed.is_some() { delta } else { base + delta }, Some(base + delta))
    }
}

#[inline]
fn bit(bits: &[u64], pos: usize) -> bool {
    bits[pos / 64] & (1 << (pos % 64)) != 0
}

#[inline]
fn set_bit(bits: &mut [u64], pos: usize, on: bool) {
    if on {
        bits[pos / 64] |= 1 << (pos % 64);
    } else {
        bits[pos / 64] &= !(1 << (pos % 64));
    }
}

#[inline]
fn segment(offsets: &[u64], v: u32) -> std::ops::Range<usize> {
    let v = v as usize;
    if v + 1 < offsets.len() { offsets[v] as usize..offsets[v + 1] as usize } else { 0..0 }
}

impl Adjacency {
    /// Live edges.
    pub fn len(&self) -> usize {
        self.out_targets.len() - self.removed_count + self.delta_count
    }

    /// Out-neighbours of `v`.
    #[inline]
    pub fn out(&self, v: u32) -> Neighbors<'_> {
        let range = segment(&self.out_offsets, v);
        Neighbors {
            base_pos: range.start,
            base: self.out_targets[range].iter(),
            removed: (self.removed_count > 0).then_some(&self.removed_out[..]),
            delta: match self.delta_out.get(&v) {
                Some(list) if self.delta_count > 0 => Delta::Out(list.iter()),
                _ => Delta::None,
            },
        }
    }

    /// The base out-neighbours of `v` as a slice, when no edge of this kind was removed or added
    /// since the last compaction (the analytics fast path).
    #[inline]
    pub fn out_slice(&self, v: u32) -> Option<&[u32]> {
        (self.removed_count == 0 && self.delta_count == 0).then(|| &self.out_targets[segment(&self.out_offsets, v)])
    }

    /// In-neighbours of `v`.
    #[inline]
    pub fn inn(&self, v: u32) -> Neighbors<'_> {
        let range = segment(&self.in_offsets, v);
        Neighbors {
            base_pos: range.start,
            base: self.in_sources[range].iter(),
            removed: (self.removed_count > 0).then_some(&self.removed_in[..]),
            delta: match self.delta_in.get(&v) {
                Some(list) => Delta::In(list.iter()),
                None => Delta::None,
            },
        }
    }

    /// Out-degree of `v`.
    pub fn out_degree(&self, v: u32) -> usize {
        if self.removed_count == 0 {
            segment(&self.out_offsets, v).len() + self.delta_out.get(&v).map_or(0, Vec::len)
        } else {
            self.out(v).count()
        }
    }

    /// In-degree of `v`.
    pub fn in_degree(&self, v: u32) -> usize {
        if self.removed_count == 0 {
            segment(&self.in_offsets, v).len() + self.delta_in.get(&v).map_or(0, Vec::len)
        } else {
            self.inn(v).count()
        }
    }

    fn base_position(&self, src: u32, dst: u32) -> Option<usize> {
        let range = segment(&self.out_offsets, src);
        let start = range.start;
        self.out_targets[range].binary_search(&dst).ok().map(|i| start + i)
    }

    fn base_in_position(&self, src: u32, dst: u32) -> Option<usize> {
        let range = segment(&self.in_offsets, dst);
        let start = range.start;
        self.in_sources[range].binary_search(&src).ok().map(|i| start + i)
    }

    /// The properties of the edge `src → dst`, if it exists.
    pub fn get(&self, src: u32, dst: u32) -> Option<EdgeProps> {
        if let Some(pos) = self.base_position(src, dst) {
            if self.removed_count > 0 && bit(&self.removed_out, pos) {
                return None;
            }
            return Some(self.base_props(pos));
        }
        self.delta_out.get(&src)?.iter().find(|e| e.other == dst).map(|e| e.props)
    }

    /// The properties of every out-edge of `v`, in the order of [`Adjacency::out`].
    pub fn out_with_props(&self, v: u32) -> impl Iterator<Item = (u32, EdgeProps)> + '_ {
        let range = segment(&self.out_offsets, v);
        let base = range
            .filter(|&p| self.removed_count == 0 || !bit(&self.removed_out, p))
            .map(|p| (self.out_targets[p], self.base_props(p)));
        base.chain(self.delta_out.get(&v).into_iter().flatten().map(|e| (e.other, e.props)))
    }

    /// The properties of every in-edge of `v` (by source), in the order of [`Adjacency::inn`].
    pub fn inn_with_props(&self, v: u32) -> impl Iterator<Item = (u32, EdgeProps)> + '_ {
        let range = segment(&self.in_offsets, v);
        let base = range
            .filter(|&p| self.removed_count == 0 || !bit(&self.removed_in, p))
            .map(|p| (self.in_sources[p], self.base_props(self.in_edge[p] as usize)));
        let delta = self.delta_in.get(&v).into_iter().flatten().map(move |&src| {
            let props = self.delta_out[&src].iter().find(|e| e.other == v).expect("a delta in-edge has its out-edge");
            (src, props.props)
        });
        base.chain(delta)
    }

    fn base_props(&self, pos: usize) -> EdgeProps {
        EdgeProps {
            weight: self.weight.as_ref().and_then(|w| schema::weight_of(w[pos])),
            time_ms: self.time_ms.as_ref().and_then(|t| schema::time_of(t[pos])),
        }
    }

    fn set_base_props(&mut self, pos: usize, props: EdgeProps) {
        let n = self.out_targets.len();
        if props.weight.is_some() || self.weight.is_some() {
            self.weight.get_or_insert_with(|| vec![schema::NO_WEIGHT; n])[pos] =
                props.weight.unwrap_or(schema::NO_WEIGHT);
        }
        if props.time_ms.is_some() || self.time_ms.is_some() {
            self.time_ms.get_or_insert_with(|| vec![schema::NO_TIME; n])[pos] =
                props.time_ms.unwrap_or(schema::NO_TIME);
        }
    }

    /// Adds `src → dst`, or replaces its properties. Returns whether the edge is new.
    pub fn upsert(&mut self, src: u32, dst: u32, props: EdgeProps) -> bool {
        if let Some(pos) = self.base_position(src, dst) {
            self.set_base_props(pos, props);
            if self.removed_count > 0 && bit(&self.removed_out, pos) {
                let in_pos = self.base_in_position(src, dst).expect("in edge of a base edge");
                set_bit(&mut self.removed_out, pos, false);
                set_bit(&mut self.removed_in, in_pos, false);
                self.removed_count -= 1;
                return true;
            }
            return false;
        }
        let list = self.delta_out.entry(src).or_default();
        if let Some(edge) = list.iter_mut().find(|e| e.other == dst) {
            edge.props = props;
            return false;
        }
        list.push(DeltaEdge { other: dst, props });
        self.delta_in.entry(dst).or_default().push(src);
        self.delta_count += 1;
        if self.delta_count > 4096 && self.delta_count > self.out_targets.len() / 8 {
            self.compact();
        }
        true
    }

    /// Removes `src → dst`. Returns whether it existed.
    pub fn remove(&mut self, src: u32, dst: u32) -> bool {
        if let Some(pos) = self.base_position(src, dst) {
            if self.removed_count > 0 && bit(&self.removed_out, pos) {
                return false;
            }
            if self.removed_out.is_empty() {
                self.removed_out = vec![0; self.out_targets.len().div_ceil(64)];
                self.removed_in = vec![0; self.in_sources.len().div_ceil(64)];
            }
            let in_pos = self.base_in_position(src, dst).expect("in edge of a base edge");
            set_bit(&mut self.removed_out, pos, true);
            set_bit(&mut self.removed_in, in_pos, true);
            self.removed_count += 1;
            if self.removed_count > 4096 && self.removed_count > self.out_targets.len() / 8 {
                self.compact();
            }
            return true;
        }
        let Some(list) = self.delta_out.get_mut(&src) else { return false };
        let Some(i) = list.iter().position(|e| e.other == dst) else { return false };
        list.swap_remove(i);
        if list.is_empty() {
            self.delta_out.remove(&src);
        }
        let sources = self.delta_in.get_mut(&dst).expect("delta in-edge");
        let j = sources.iter().position(|&s| s == src).expect("delta in-edge");
        sources.swap_remove(j);
        if sources.is_empty() {
            self.delta_in.remove(&dst);
        }
        self.delta_count -= 1;
        true
    }

    /// Every live edge, in (src, dst) order of the base then the delta.
    pub fn edges(&self) -> Vec<RawEdge> {
        let n = self.out_offsets.len().saturating_sub(1);
        let mut all = Vec::with_capacity(self.len());
        for src in 0..n as u32 {
            all.extend(self.out_with_props(src).map(|(dst, props)| RawEdge { src, dst, props }));
        }
        for (&src, list) in &self.delta_out {
            if src as usize >= n {
                all.extend(list.iter().map(|e| RawEdge { src, dst: e.other, props: e.props }));
            }
        }
        all
    }

    /// Folds the delta and tombstones into a fresh base.
    pub fn compact(&mut self) {
        let edges = self.edges();
        let vertices = self.out_offsets.len().saturating_sub(1).max(self.in_offsets.len().saturating_sub(1));
        *self = Adjacency::build(edges, vertices);
    }

    /// Adds many edges at once (a bulk import), keeping the last properties of duplicates.
    pub fn extend(&mut self, edges: Vec<RawEdge>, vertices: usize) {
        if self.len() == 0 {
            *self = Adjacency::build(edges, vertices);
        } else if edges.len() < 1024 {
            for e in edges {
                self.upsert(e.src, e.dst, e.props);
            }
        } else {
            let mut all = self.edges();
            all.extend(edges);
            *self = Adjacency::build(all, vertices);
        }
    }

    /// Builds a compacted adjacency from columns already sorted by (src, dst) without
    /// duplicates (an import's edges): the target column becomes the out-CSR as it is.
    pub fn build_sorted(
        src: &[u32],
        dst: Vec<u32>,
        weight: Option<Vec<f32>>,
        time_ms: Option<Vec<i64>>,
        vertices: usize,
    ) -> Adjacency {
        let m = dst.len();
        assert_eq!(src.len(), m);
        assert!(m < u32::MAX as usize, "at most 2^32 - 1 edges of one kind");
        debug_assert!(src.windows(2).zip(dst.windows(2)).all(|(s, d)| (s[0], d[0]) < (s[1], d[1])));
        let n = src.par_iter().chain(dst.par_iter()).map(|&v| v as usize + 1).max().unwrap_or(0).max(vertices);
        let mut out_offsets = vec![0u64; n + 1];
        for &s in src {
            out_offsets[s as usize + 1] += 1;
        }
        prefix_sum(&mut out_offsets);
        // Grouping edge positions by target, stably, leaves each in-segment sorted by source.
        let (in_offsets, in_edge) = crate::scatter::group_by_key(&dst, n);
        let in_sources: Vec<u32> = in_edge.par_iter().map(|&e| src[e as usize]).collect();
        Adjacency {
            out_offsets,
            out_targets: dst,
            in_offsets,
            in_sources,
            in_edge,
            weight: weight.filter(|w| w.iter().any(|&x| schema::weight_of(x).is_some())),
            time_ms: time_ms.filter(|t| t.iter().any(|&x| schema::time_of(x).is_some())),
            ..Adjacency::default()
        }
    }

    /// Builds a compacted adjacency from edges in any order; for duplicates the last wins.
    pub fn build(mut edges: Vec<RawEdge>, vertices: usize) -> Adjacency {
        let n = edges.iter().map(|e| e.src.max(e.dst) as usize + 1).max().unwrap_or(0).max(vertices);
        let sorted = edges.par_windows(2).all(|w| (w[0].src, w[0].dst) < (w[1].src, w[1].dst));
        if !sorted {
            // Stable, so that of duplicates the later one ends up last.
            edges.par_sort_by_key(|e| (e.src, e.dst));
            let mut deduped: Vec<RawEdge> = Vec::with_capacity(edges.len());
            for e in edges {
                match deduped.last_mut() {
                    Some(last) if (last.src, last.dst) == (e.src, e.dst) => *last = e,
                    _ => deduped.push(e),
                }
            }
            edges = deduped;
        }
        let m = edges.len();
        assert!(m < u32::MAX as usize, "at most 2^32 - 1 edges of one kind");

        let mut out_offsets = vec![0u64; n + 1];
        for e in &edges {
            out_offsets[e.src as usize + 1] += 1;
        }
        prefix_sum(&mut out_offsets);
        let out_targets: Vec<u32> = edges.par_iter().map(|e| e.dst).collect();
        let weight = edges
            .iter()
            .any(|e| e.props.weight.is_some())
            .then(|| edges.par_iter().map(|e| e.props.weight.unwrap_or(schema::NO_WEIGHT)).collect());
        let time_ms = edges
            .iter()
            .any(|e| e.props.time_ms.is_some())
            .then(|| edges.par_iter().map(|e| e.props.time_ms.unwrap_or(schema::NO_TIME)).collect());

        // Grouping edge positions by target, stably, leaves each in-segment sorted by source.
        let (in_offsets, in_edge) = crate::scatter::group_by_key(&out_targets, n);
        let in_sources: Vec<u32> = in_edge.par_iter().map(|&e| edges[e as usize].src).collect();
        Adjacency { out_offsets, out_targets, in_offsets, in_sources, in_edge, weight, time_ms, ..Adjacency::default() }
    }

    /// Bytes held, counting capacity.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.out_offsets.capacity() * 8
            + self.in_offsets.capacity() * 8
            + (self.out_targets.capacity() + self.in_sources.capacity() + self.in_edge.capacity()) * 4
            + self.weight.as_ref().map_or(0, |w| w.capacity() * 4)
            + self.time_ms.as_ref().map_or(0, |t| t.capacity() * 8)
            + (self.removed_out.capacity() + self.removed_in.capacity()) * 8
            + self.delta_out.values().map(|l| l.capacity() * size_of::<DeltaEdge>() + 48).sum::<usize>()
            + self.delta_in.values().map(|l| l.capacity() * 4 + 40).sum::<usize>()
    }

    /// The number of vertices the base covers.
    pub fn base_vertices(&self) -> usize {
        self.out_offsets.len().saturating_sub(1)
    }
}

fn prefix_sum(offsets: &mut [u64]) {
    for i in 1..offsets.len() {
        offsets[i] += offsets[i - 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(src: u32, dst: u32) -> RawEdge {
        RawEdge { src, dst, props: EdgeProps::default() }
    }

    fn out(a: &Adjacency, v: u32) -> Vec<u32> {
        let mut x: Vec<u32> = a.out(v).collect();
        x.sort();
        x
    }

    fn inn(a: &Adjacency, v: u32) -> Vec<u32> {
        let mut x: Vec<u32> = a.inn(v).collect();
        x.sort();
        x
    }

    #[test]
    fn base_delta_and_tombstones_agree() {
        let mut a = Adjacency::build(vec![e(2, 1), e(0, 1), e(0, 2), e(0, 1)], 4);
        assert_eq!(a.len(), 3);
        assert_eq!(out(&a, 0), [1, 2]);
        assert_eq!(inn(&a, 1), [0, 2]);
        assert!(a.upsert(3, 1, EdgeProps { weight: Some(2.0), time_ms: None }));
        assert!(!a.upsert(0, 1, EdgeProps { weight: Some(5.0), time_ms: Some(9) }));
        assert_eq!(a.get(0, 1).unwrap().weight, Some(5.0));
        assert_eq!(inn(&a, 1), [0, 2, 3]);
        // In-edges with their properties, base and delta, agree with the edges themselves.
        let with_props: Vec<(u32, EdgeProps)> = a.inn_with_props(1).collect();
        assert_eq!(with_props, [0, 2, 3].map(|s| (s, a.get(s, 1).unwrap())));
        assert!(a.remove(0, 1));
        assert!(!a.remove(0, 1));
        assert_eq!(out(&a, 0), [2]);
        assert_eq!(inn(&a, 1), [2, 3]);
        assert_eq!(a.inn_with_props(1).map(|(s, _)| s).collect::<Vec<_>>(), [2, 3], "a removed edge is gone");
        assert!(a.remove(3, 1));
        assert!(a.upsert(0, 1, EdgeProps::default()));
        assert_eq!(inn(&a, 1), [0, 2]);
        assert_eq!(a.get(0, 1), Some(EdgeProps::default()));
        let before: Vec<_> = (0..4).map(|v| (out(&a, v), inn(&a, v))).collect();
        a.compact();
        assert_eq!(a.out_slice(0), Some(&[1u32, 2][..]));
        let after: Vec<_> = (0..4).map(|v| (out(&a, v), inn(&a, v))).collect();
        assert_eq!(before, after);
        assert_eq!(a.len(), 3);
    }
}
