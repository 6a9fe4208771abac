//! Leiden (Traag, Waltman & van Eck 2019) with deterministic choices: fast local moving,
//! refinement into well-connected pieces, local moving of the pieces, aggregation, and on the
//! way back down a polish of every level (see [`leiden`] for the order and why).
//!
//! Where the time goes on a large graph is the first local moving: every node reads the
//! community of each of its neighbours, a random read per tie. Four things keep it cheap:
//! the weights per neighbouring community are summed in a small hash table that stays in the
//! L1 cache ([`Tally`]); only nodes whose neighbourhood changed are looked at again; the
//! nodes are decided in parallel in consecutive blocks ([`local_moving_blocks`]), so a pass
//! sees almost every earlier move, as the sequential algorithm does, while the result cannot
//! depend on the thread count; and the random reads of a decision are asked for a few nodes
//! ahead. After that the graph is laid out by community ([`relabel`]), so every later stage
//! reads it in order, and the pieces are moved without building their graph ([`Pieces`]).

use super::{Trace, Undirected, Weighting, group_by, label_count, renumber};
use rayon::prelude::*;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Gains closer than this are equal: ties go to the smallest community, not to rounding.
const EPS: f64 = 1e-12;
/// A pass over a large graph is cut into about this many blocks...
const BLOCKS_PER_PASS: usize = 256;
/// ...of at least and at most this many nodes.
const BLOCK_MIN: usize = 256;
const BLOCK_MAX: usize = 4096;
/// A block whose candidates have fewer entries in their rows than this is decided on the calling
/// thread, one node at a time: not worth splitting.
const BLOCK_PARALLEL_WORK: usize = 8192;
/// How many nodes ahead a decision asks for its neighbours' communities' totals (and twice as
/// far for the communities themselves).
const DECIDE_AHEAD: usize = 2;
/// Candidates per task of the block-parallel local moving.
const DECIDE_CHUNK: usize = 64;
/// The most passes of the block-parallel local moving.
const PASSES_MAX: u32 = 64;

/// Communities of `g` at resolution `gamma` (not yet split into connected pieces or renumbered
/// by the caller), in at most `rounds_max` levels:
///
/// 1. local moving of the nodes themselves;
/// 2. Leiden's refinement of those communities into well-connected sub-communities (pieces),
///    and local moving of the pieces, each starting in its community — Leiden's second level;
/// 3. above that, aggregation and local moving of whole communities, level after level, while
///    anything moves;
/// 4. back down the levels, every graph takes its aggregate's communities and is polished by
///    local moving, its settled nodes asleep (as networkit's PLM refines).
///
/// Refining at every level, as the Leiden paper does, found lower modularity on LFR graphs
/// (0.684219 against 0.684241 on the one in `benches/networkit`): once the aggregate nodes are
/// well-connected pieces of communities, moving them one at a time rarely pays, and merging
/// two communities takes every piece deciding to move. Refining only once and aggregating whole
/// communities above found the most (a refinement repeated until it settles gave Louvain's
/// 0.684237). The refinement matters where badly connected communities form, among the nodes
/// themselves; the split that follows in [`super::clusters_of`] guarantees connected
/// communities at the end whatever happens above.
pub(super) fn leiden(g: &Undirected, gamma: f64, rounds_max: u32) -> Vec<u32> {
    leiden_at(g, gamma, rounds_max, &Scale::DEFAULT)
}

/// Where the job changes its ways with the size of a graph. Only tests use other values, to
/// take the large-graph paths on small graphs.
#[derive(Clone, Copy, Debug)]
struct Scale {
    /// Graphs at least this large move their nodes in parallel blocks.
    parallel_moving_min: usize,
    /// Graphs at least this large are laid out by community after their first local moving.
    relabel_min: usize,
}

impl Scale {
    const DEFAULT: Scale = Scale { parallel_moving_min: 2_000, relabel_min: 200_000 };
}

fn leiden_at(g: &Undirected, gamma: f64, rounds_max: u32, scale: &Scale) -> Vec<u32> {
    let n = g.len();
    let mut trace = Trace::start();
    let mut partition: Vec<u32> = (0..n as u32).collect();
    let mut moved = move_nodes(g, &mut partition, gamma, 0.0, None, scale);
    trace.stage(format_args!("local moving, {n} nodes"));
    // From here on, work goes community by community: on a large graph, lay the communities
    // out contiguously first, so that it reads the graph in order.
    let (base, new_id) = if n >= scale.relabel_min {
        let (relabelled, new_id) = relabel(g, &partition);
        partition = permute(&partition, &new_id);
        trace.stage(format_args!("laid out by community"));
        (Cow::Owned(relabelled), Some(new_id))
    } else {
        (Cow::Borrowed(g), None)
    };
    // The aggregate graphs, coarsest last, and for each graph (`base` first) the node of the
    // next graph each of its nodes became.
    let mut coarse: Vec<Undirected> = Vec::new();
    let mut up: Vec<Vec<u32>> = Vec::new();
    let refinement = refine(&base, &partition, gamma);
    trace.stage(format_args!("refinement into {} sub-communities", refinement.pieces.len()));
    // Leiden's second level: the pieces move, each starting in its community. Most often few
    // pieces can gain anything, and they are moved on the graph itself; else their graph is built.
    let (settled, mut piece_community) = settled_pieces(&base, &refinement, &partition, gamma);
    let unsettled = settled.iter().filter(|&&s| !s).count();
    if unsettled * PIECES_BUILT_SHARE <= settled.len() {
        moved |= move_pieces(&base, &refinement, &mut piece_community, &settled, gamma);
        partition = refinement.labels.iter().map(|&t| piece_community[t as usize]).collect();
        renumber(&mut partition);
    } else {
        let pieces = aggregate(&base, &refinement.labels);
        moved |= move_nodes(&pieces, &mut piece_community, gamma, 0.0, Some(&settled), scale);
        up.push(refinement.labels);
        coarse.push(pieces);
        partition = piece_community;
    }
    trace.stage(format_args!("local moving of the sub-communities, {unsettled} of them awake"));
    if moved {
        for _ in 1..rounds_max {
            let graph = coarse.last().unwrap_or(&base);
            // Each community becomes one node of the next graph, starting alone.
            let next = aggregate(graph, &partition);
            trace.stage(format_args!("aggregate of {} communities, {} entries", next.len(), next.targets.len()));
            up.push(std::mem::replace(&mut partition, (0..next.len() as u32).collect()));
            coarse.push(next);
            let graph = coarse.last().expect("an aggregate graph");
            // Every level is polished on the way back down, so it may stop early on the way up.
            if !move_nodes(graph, &mut partition, gamma, UPWARD_TOLERANCE, None, scale) {
                break;
            }
            trace.stage(format_args!("local moving of {} nodes", graph.len()));
        }
    }
    // Back down the levels: each graph's nodes take their aggregate's community, and those that
    // can gain by moving move (as networkit's PLM refines).
    while let Some(map) = up.pop() {
        coarse.pop();
        let graph = coarse.last().unwrap_or(&base);
        partition = map.par_iter().map(|&m| partition[m as usize]).collect();
        let settled = settled_nodes(graph, &partition, gamma);
        move_nodes(graph, &mut partition, gamma, 0.0, Some(&settled), scale);
        trace.stage(format_args!("polish of {} nodes", graph.len()));
    }
    match new_id {
        Some(new_id) => new_id.par_iter().map(|&i| partition[i as usize]).collect(),
        None => partition,
    }
}

/// When more than one piece in this many can gain by moving, the pieces' graph is built and
/// moved in parallel; else they are moved on the graph itself ([`Pieces`]). Measured: on LFR
/// (2% of pieces awake at μ = 0.3, 28% at μ = 0.4) moving on the graph itself is faster; on
/// R-MAT (all awake) building the graph is (1.4 s against 2.3 s).
const PIECES_BUILT_SHARE: usize = 2;

/// Whether a node (or piece) with `inside` weight to the rest of its community, `outside`
/// weight to other communities and degree `k`, in a community of total degree `community`,
/// cannot gain by moving: its gain from staying is at least all its weight elsewhere, which no
/// single community can beat.
#[inline]
fn cannot_gain(inside: f64, outside: f64, k: f64, community: f64, gamma: f64, m2: f64) -> bool {
    inside - gamma * k * (community - k) / m2 >= outside
}

/// The nodes of `g` that cannot gain by moving (see [`cannot_gain`]).
fn settled_nodes(g: &Undirected, partition: &[u32], gamma: f64) -> Vec<bool> {
    let m2 = g.total.max(f64::MIN_POSITIVE);
    let tot = totals(g, partition, label_count(partition));
    (0..g.len())
        .into_par_iter()
        .map(|u| {
            let c = partition[u];
            let (mut inside, mut own) = (0.0, 0.0);
            for (v, w) in g.neighbours(u) {
                if v == u {
                    own += w;
                } else if partition[v] == c {
                    inside += w;
                }
            }
            let k = g.degree[u];
            cannot_gain(inside, k - own - inside, k, tot[c as usize], gamma, m2)
        })
        .collect()
}

/// The pieces of `refinement` that cannot gain by moving, and each piece's community.
fn settled_pieces(g: &Undirected, refinement: &Refinement, partition: &[u32], gamma: f64) -> (Vec<bool>, Vec<u32>) {
    let m2 = g.total.max(f64::MIN_POSITIVE);
    let tot = totals(g, partition, label_count(partition));
    let mut community = vec![0u32; refinement.pieces.len()];
    for (u, &t) in refinement.labels.iter().enumerate() {
        community[t as usize] = partition[u];
    }
    let settled = refinement
        .pieces
        .iter()
        .zip(&community)
        .map(|(p, &c)| cannot_gain(p.inside, p.outside, p.degree, tot[c as usize], gamma, m2))
        .collect();
    (settled, community)
}

/// A level above the pieces stops its local moving on the way up after a pass that gains less
/// modularity than this (it is polished on the way back down).
const UPWARD_TOLERANCE: f64 = 1e-6;

/// Label propagation: every node takes the label most of its neighbours' weight carries (ties to
/// the smallest label), until no label changes or `sweeps_max` sweeps. That is local moving
/// with resolution 0 (a community's size costs nothing), so it runs on the same machinery: in
/// parallel blocks on large graphs, deterministic.
pub(super) fn label_propagation(g: &Undirected, sweeps_max: u32) -> Vec<u32> {
    let mut label: Vec<u32> = (0..g.len() as u32).collect();
    if g.len() >= Scale::DEFAULT.parallel_moving_min {
        local_moving_blocks(g, &mut label, 0.0, 0.0, None, sweeps_max);
    } else {
        local_moving(g, &mut label, 0.0, None);
    }
    label
}

/// Local moving on `g` from `partition`, in parallel blocks on graphs large enough to be worth
/// it, nodes marked `asleep` not looked at until a neighbour moves; whether any node moved.
fn move_nodes(
    g: &Undirected,
    partition: &mut [u32],
    gamma: f64,
    tolerance: f64,
    asleep: Option<&[bool]>,
    scale: &Scale,
) -> bool {
    if g.len() >= scale.parallel_moving_min {
        local_moving_blocks(g, partition, gamma, tolerance, asleep, PASSES_MAX)
    } else {
        local_moving(g, partition, gamma, asleep)
    }
}

/// `labels` of nodes renumbered by `new_id` (`labels[u]` lands at `new_id[u]`).
fn permute(labels: &[u32], new_id: &[u32]) -> Vec<u32> {
    let mut moved = vec![0u32; labels.len()];
    for (u, &l) in labels.iter().enumerate() {
        moved[new_id[u] as usize] = l;
    }
    moved
}

/// `g` with its nodes renumbered so that each community's members are consecutive (communities
/// in label order, members in index order), and each node's new number. Rows keep their order,
/// so degrees and every later sum come out the same.
fn relabel(g: &Undirected, partition: &[u32]) -> (Undirected, Vec<u32>) {
    let n = g.len();
    let (_, order) = group_by(partition, label_count(partition));
    let mut new_id = vec![0u32; n];
    for (i, &u) in order.iter().enumerate() {
        new_id[u as usize] = i as u32;
    }
    let bound = |rows: std::ops::Range<usize>| order[rows].iter().map(|&u| g.work(u as usize)).sum();
    let (mut relabelled, _) = Undirected::build(n, RELABEL_CHUNK, g.weighting(), bound, |rows, writer| {
        let rows = &order[rows];
        for (i, &u) in rows.iter().enumerate() {
            // The rows come in community order, scattered over the graph: ask for them early.
            if let Some(&later) = rows.get(i + 2 * PREFETCH_AHEAD) {
                prefetch(&g.offsets, later as usize);
            }
            if let Some(&soon) = rows.get(i + PREFETCH_AHEAD) {
                prefetch_row(g, soon as usize);
            }
            for (v, w) in g.neighbours(u as usize) {
                writer.push(new_id[v], w);
            }
            writer.end_row();
        }
    });
    // The same sum as `g`'s, in `g`'s order.
    relabelled.total = g.total;
    (relabelled, new_id)
}

/// How many nodes ahead a walk in community order asks for rows (and twice as far for their
/// offsets).
const PREFETCH_AHEAD: usize = 6;

/// Asks the CPU to start loading `slice[i]` into the cache: a hint, which does nothing out of
/// bounds or off x86-64.
#[inline(always)]
fn prefetch<T>(slice: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if i < slice.len() {
        // SAFETY: `i` is in bounds, so the pointer is into `slice`; and a prefetch never faults
        // nor changes what the program reads.
        unsafe { std::arch::x86_64::_mm_prefetch(slice.as_ptr().add(i).cast::<i8>(), std::arch::x86_64::_MM_HINT_T0) }
    }
}

/// Asks for the start of `u`'s row (its offsets must be in the cache by now).
#[inline(always)]
fn prefetch_row(g: &Undirected, u: usize) {
    let start = g.offsets[u];
    prefetch(&g.targets, start);
    prefetch(&g.weights, start);
    prefetch(&g.weights, start + 8);
    // (`prefetch` ignores the weights of a unit-weight graph: there are none.)
}

/// Nodes per task of [`relabel`].
const RELABEL_CHUNK: usize = 4096;

/// Weights summed per label, in the order the labels first appear: a small open-addressing
/// table reused from node to node. It is emptied through the slots it used, so a node costs
/// its degree, not the table's size, and a table sized for the largest degree seen stays in
/// the L1 cache on graphs of ordinary degree.
///
/// When the labels come from a small range, the table is simply indexed by label: no hashing
/// and no probing, and still small enough for the cache.
#[derive(Default)]
pub(super) struct Tally {
    keys: Vec<u32>,
    sums: Vec<f64>,
    /// Used slots, in order of first use.
    used: Vec<u32>,
    /// Slots are `0..=mask` when hashed.
    mask: usize,
    /// Labels in a hashed table.
    hashed: usize,
    /// Indexed by label rather than hashed.
    direct: bool,
}

impl Tally {
    const EMPTY: u32 = u32::MAX;
    /// Labels below this many are counted in a table indexed by label.
    const DIRECT_MAX: usize = 1 << 15;

    /// Makes ready for labels below `label_bound`, about `distinct` of them (the table grows if
    /// more come). The table must be empty.
    pub(super) fn prepare(&mut self, distinct: usize, label_bound: usize) {
        debug_assert!(self.used.is_empty(), "a tally is prepared empty");
        self.direct = label_bound <= Self::DIRECT_MAX;
        self.hashed = 0;
        let capacity = if self.direct { label_bound.max(1) } else { (distinct * 2).next_power_of_two().max(16) };
        self.reserve(capacity);
        self.mask = capacity.next_power_of_two() - 1;
    }

    fn reserve(&mut self, capacity: usize) {
        if capacity > self.keys.len() {
            self.keys.resize(capacity, Self::EMPTY);
            self.sums.resize(capacity, 0.0);
        }
    }

    /// Doubles a hashed table and puts its labels back, keeping their order.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let entries: Vec<(u32, f64)> = self.iter().collect();
        self.clear();
        let capacity = (self.mask + 1) * 2;
        self.reserve(capacity);
        self.mask = capacity - 1;
        for (key, sum) in entries {
            self.add(key, sum);
        }
    }

    #[inline(always)]
    fn slot(&self, key: u32) -> usize {
        if self.direct {
            return key as usize;
        }
        (u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & self.mask
    }

    /// Adds `weight` to `key`'s sum.
    #[inline(always)]
    pub(super) fn add(&mut self, key: u32, weight: f64) {
        debug_assert!(key != Self::EMPTY, "a label is not the empty mark");
        if !self.direct && self.hashed * 2 > self.mask {
            self.grow();
        }
        let mut slot = self.slot(key);
        loop {
            let k = self.keys[slot];
            if k == key {
                self.sums[slot] += weight;
                return;
            }
            if k == Self::EMPTY {
                self.keys[slot] = key;
                self.sums[slot] = weight;
                self.used.push(slot as u32);
                self.hashed += 1;
                return;
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// `key`'s sum (0 if it never came).
    #[cfg(test)]
    fn get(&self, key: u32) -> f64 {
        let mut slot = self.slot(key);
        loop {
            match self.keys[slot] {
                k if k == key => return self.sums[slot],
                Self::EMPTY => return 0.0,
                _ => slot = (slot + 1) & self.mask,
            }
        }
    }

    /// The labels and their sums, in order of first appearance.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, f64)> + '_ {
        self.used.iter().map(|&s| (self.keys[s as usize], self.sums[s as usize]))
    }

    /// Empties the table.
    pub(super) fn clear(&mut self) {
        for &s in &self.used {
            self.keys[s as usize] = Self::EMPTY;
        }
        self.used.clear();
        self.hashed = 0;
    }
}

/// The total degree of each community, for communities labelled below `count`.
fn totals<G: Nodes>(g: &G, partition: &[u32], count: usize) -> Vec<f64> {
    let mut tot = vec![0f64; count];
    for (u, &c) in partition.iter().enumerate() {
        tot[c as usize] += g.degree(u);
    }
    tot
}

/// What local moving needs of a graph: its nodes' degrees and, node by node, the communities
/// and weights of its ties. [`Undirected`] is one; [`Pieces`] (the sub-communities of a
/// refinement, read off the graph they refine) is another.
trait Nodes: Sync {
    fn len(&self) -> usize;
    /// Communities are labelled below this (by default: below the node count).
    fn label_bound(&self) -> usize {
        self.len()
    }
    /// `2m`.
    fn total(&self) -> f64;
    fn degree(&self, u: usize) -> f64;
    /// How many ties `u` has (the work of deciding it).
    fn work(&self, u: usize) -> usize;
    /// Appends `(community, weight)` for each tie of `u` to another node.
    fn gather(&self, u: usize, partition: &[u32], out: &mut Vec<(u32, f64)>);
    /// Calls `f` with each node `u` is tied to (not `u`; some maybe more than once).
    fn each_neighbour(&self, u: usize, f: impl FnMut(usize));
    /// Asks the CPU for what deciding `u` will read first (a hint).
    fn prefetch_labels(&self, _u: usize, _partition: &[u32]) {}
    /// Asks the CPU for what deciding `u` will read next (a hint).
    fn prefetch_totals(&self, _u: usize, _partition: &[u32], _tot: &[f64]) {}
}

impl Nodes for Undirected {
    fn len(&self) -> usize {
        self.degree.len()
    }

    fn total(&self) -> f64 {
        self.total
    }

    fn degree(&self, u: usize) -> f64 {
        self.degree[u]
    }

    fn work(&self, u: usize) -> usize {
        self.offsets[u + 1] - self.offsets[u]
    }

    #[inline]
    fn gather(&self, u: usize, partition: &[u32], out: &mut Vec<(u32, f64)>) {
        let range = self.offsets[u]..self.offsets[u + 1];
        let targets = self.targets[range.clone()].iter().filter(|&&v| v as usize != u);
        if self.weights.is_empty() {
            out.extend(targets.map(|&v| (partition[v as usize], 1.0)));
        } else {
            out.extend(
                self.targets[range.clone()]
                    .iter()
                    .zip(&self.weights[range])
                    .filter(|&(&v, _)| v as usize != u)
                    .map(|(&v, &w)| (partition[v as usize], w)),
            );
        }
    }

    #[inline]
    fn each_neighbour(&self, u: usize, mut f: impl FnMut(usize)) {
        for &v in &self.targets[self.offsets[u]..self.offsets[u + 1]] {
            if v as usize != u {
                f(v as usize);
            }
        }
    }

    #[inline(always)]
    fn prefetch_labels(&self, u: usize, partition: &[u32]) {
        for &v in &self.targets[self.offsets[u]..self.offsets[u + 1]] {
            prefetch(partition, v as usize);
        }
    }

    #[inline(always)]
    fn prefetch_totals(&self, u: usize, partition: &[u32], tot: &[f64]) {
        for &v in &self.targets[self.offsets[u]..self.offsets[u + 1]] {
            prefetch(tot, partition[v as usize] as usize);
        }
    }
}

/// The pieces of a refinement as the nodes of a graph, without building that graph: a piece's
/// ties are its members' ties to other pieces, read off `g` when asked for.
struct Pieces<'a> {
    g: &'a Undirected,
    /// How many communities the pieces are in.
    communities: usize,
    /// Each node's piece.
    piece: &'a [u32],
    pieces: &'a [Piece],
    /// Members of piece `t`: `members[start[t]..start[t + 1]]`.
    start: Vec<usize>,
    members: Vec<u32>,
    /// How many ties each piece's members have.
    work: Vec<usize>,
    /// The ties of large pieces, by piece, once asked for.
    rows: Vec<std::sync::OnceLock<PieceRow>>,
}

impl<'a> Pieces<'a> {
    fn new(g: &'a Undirected, refinement: &'a Refinement, communities: usize) -> Pieces<'a> {
        let k = refinement.pieces.len();
        let (start, members) = group_by(&refinement.labels, k);
        let work = (0..k).map(|t| members[start[t]..start[t + 1]].iter().map(|&u| g.work(u as usize)).sum()).collect();
        let rows = (0..k).map(|_| std::sync::OnceLock::new()).collect();
        Pieces { g, communities, piece: &refinement.labels, pieces: &refinement.pieces, start, members, work, rows }
    }

    fn members_of(&self, t: usize) -> &[u32] {
        &self.members[self.start[t]..self.start[t + 1]]
    }

    /// Calls `f(piece, weight)` for each tie of a member of piece `t` to another piece.
    #[inline]
    fn each_tie(&self, t: usize, mut f: impl FnMut(usize, f64)) {
        for &u in self.members_of(t) {
            for (v, w) in self.g.neighbours(u as usize) {
                let p = self.piece[v] as usize;
                if p != t {
                    f(p, w);
                }
            }
        }
    }

    /// The ties of a large piece, summed by piece the first time it is asked for and kept: a
    /// piece with a hub in it may be looked at again and again, and need not cost its members'
    /// ties each time. `None` for a small piece.
    fn row(&self, t: usize) -> Option<&[(u32, f64)]> {
        if self.work(t) < PIECE_ROW_KEPT_MIN {
            return None;
        }
        let row = self.rows[t].get_or_init(|| {
            let mut tally = Tally::default();
            tally.prepare(AGGREGATE_DISTINCT_GUESS, self.pieces.len());
            self.each_tie(t, |p, w| tally.add(p as u32, w));
            tally.iter().collect()
        });
        Some(row)
    }
}

impl Nodes for Pieces<'_> {
    fn len(&self) -> usize {
        self.pieces.len()
    }

    fn label_bound(&self) -> usize {
        self.communities
    }

    fn total(&self) -> f64 {
        self.g.total
    }

    fn degree(&self, t: usize) -> f64 {
        self.pieces[t].degree
    }

    fn work(&self, t: usize) -> usize {
        self.work[t]
    }

    fn gather(&self, t: usize, partition: &[u32], out: &mut Vec<(u32, f64)>) {
        match self.row(t) {
            Some(row) => out.extend(row.iter().map(|&(p, w)| (partition[p as usize], w))),
            None => self.each_tie(t, |p, w| out.push((partition[p], w))),
        }
    }

    fn each_neighbour(&self, t: usize, mut f: impl FnMut(usize)) {
        match self.row(t) {
            Some(row) => row.iter().for_each(|&(p, _)| f(p as usize)),
            None => self.each_tie(t, |p, _| f(p)),
        }
    }
}

/// A piece's ties summed by piece: (piece, weight).
type PieceRow = Box<[(u32, f64)]>;

/// Pieces with at least this many ties keep their ties summed by piece (see [`Pieces::row`]).
const PIECE_ROW_KEPT_MIN: usize = 1 << 16;

/// What deciding a node's move needs besides the shared state: reused from node to node.
#[derive(Default)]
struct MoveScratch {
    tally: Tally,
    /// (community, weight) per neighbour, then (community, gain) per neighbouring community.
    near: Vec<(u32, f64)>,
}

/// The community `u` gains most by joining, from the state in `partition` and `tot`: a
/// neighbouring community with the largest `w(u, C) − γ K_C k_u / 2m` (`K_C` without `u`).
/// Strictly better only, so on a tie `u` stays; among equally good others the smallest id wins.
/// Also how much better than staying it is (the change of modularity times `m`).
///
/// The neighbours' communities are gathered before they are tallied, and the communities'
/// totals before any gain is compared: these are the random reads of the whole job, and done
/// apart from the table's and the comparisons' branches they overlap instead of waiting one
/// behind the other.
#[inline]
fn best_community<G: Nodes>(
    g: &G,
    u: usize,
    partition: &[u32],
    tot: &[f64],
    gamma: f64,
    m2: f64,
    scratch: &mut MoveScratch,
) -> (u32, f64) {
    let MoveScratch { tally, near } = scratch;
    near.clear();
    g.gather(u, partition, near);
    tally.prepare(near.len(), g.label_bound());
    for &(c, w) in near.iter() {
        tally.add(c, w);
    }
    near.clear();
    near.extend(tally.iter());
    tally.clear();
    let (current, k) = (partition[u], g.degree(u));
    let scale = gamma * k / m2;
    let mut best = current;
    let mut best_gain = -scale * (tot[current as usize] - k);
    for (c, w) in near.iter_mut() {
        let others = if *c == current { tot[*c as usize] - k } else { tot[*c as usize] };
        *w -= scale * others;
    }
    for &(c, gain) in near.iter() {
        if c == current {
            best_gain = gain;
            break;
        }
    }
    let stay = best_gain;
    for &(c, gain) in near.iter() {
        if c == current {
            continue;
        }
        if gain > best_gain + EPS || (gain > best_gain - EPS && best != current && c < best) {
            best = c;
            best_gain = gain;
        }
    }
    (best, best_gain - stay)
}

/// Leiden's local moving of the refined sub-communities ("pieces"), done on `g` itself rather
/// than on their graph ([`Pieces`]): for when few can gain (`settled` says which cannot; they
/// are not looked at until a neighbour moves). Pieces move whole; `community` holds each piece's.
fn move_pieces(g: &Undirected, refinement: &Refinement, community: &mut [u32], settled: &[bool], gamma: f64) -> bool {
    let communities = label_count(community);
    let view = Pieces::new(g, refinement, communities);
    // Few pieces are looked at, scattered: one at a time beats splitting the work.
    local_moving(&view, community, gamma, Some(settled))
}

/// Fast local moving, one node at a time: a queue of nodes; a node moves to the neighbouring
/// community with the largest modularity gain; its neighbours outside that community are
/// queued again. For graphs too small to be worth splitting, and for the few pieces that can
/// gain; nodes marked `asleep` are not queued at first.
fn local_moving<G: Nodes>(g: &G, partition: &mut [u32], gamma: f64, asleep: Option<&[bool]>) -> bool {
    let n = g.len();
    if g.total() == 0.0 {
        return false;
    }
    let m2 = g.total();
    let mut tot = totals(g, partition, g.len());
    let mut queue: std::collections::VecDeque<usize> = (0..n).filter(|&u| asleep.is_none_or(|a| !a[u])).collect();
    let mut queued = vec![false; n];
    for &u in &queue {
        queued[u] = true;
    }
    let mut scratch = MoveScratch::default();
    let mut moved_any = false;
    while let Some(u) = queue.pop_front() {
        queued[u] = false;
        let (best, _) = best_community(g, u, partition, &tot, gamma, m2, &mut scratch);
        let current = partition[u];
        if best == current {
            continue;
        }
        let k = g.degree(u);
        tot[current as usize] -= k;
        tot[best as usize] += k;
        partition[u] = best;
        moved_any = true;
        g.each_neighbour(u, |v| {
            if partition[v] != best && !queued[v] {
                queued[v] = true;
                queue.push_back(v);
            }
        });
    }
    renumber(partition);
    moved_any
}

/// Local moving in parallel, still deterministic. A pass walks the nodes in consecutive blocks;
/// the active nodes of a block are decided in parallel from the same state (every earlier
/// block's moves applied), then the block's moves are applied in node order. A node that moves
/// wakes its neighbours outside its new community, for later in this pass or the next.
///
/// Neighbours rarely share a block (a block is a small slice of the graph), so this makes
/// nearly the choices of the one-at-a-time pass; and since a block's decisions read only the
/// state before the block, nothing depends on the thread count. A block with little work is
/// decided one node at a time, each seeing the moves before it. Nodes marked `asleep` start
/// inactive.
fn local_moving_blocks<G: Nodes>(
    g: &G,
    partition: &mut [u32],
    gamma: f64,
    tolerance: f64,
    asleep: Option<&[bool]>,
    passes_max: u32,
) -> bool {
    let n = g.len();
    if g.total() == 0.0 {
        return false;
    }
    let m2 = g.total();
    let mut tot = totals(g, partition, g.len());
    let active: Vec<AtomicBool> = (0..n).map(|u| AtomicBool::new(asleep.is_none_or(|a| !a[u]))).collect();
    let block = (n / BLOCKS_PER_PASS).clamp(BLOCK_MIN, BLOCK_MAX);
    let mut candidates: Vec<u32> = Vec::with_capacity(block);
    let mut moved_here = vec![false; block];
    let mut scratch = MoveScratch::default();
    let mut moved_any = false;
    let wake = |u: usize, best: u32, partition: &[u32]| {
        g.each_neighbour(u, |v| {
            if partition[v] != best {
                active[v].store(true, Relaxed);
            }
        });
    };
    for _ in 0..passes_max {
        let mut moved = 0usize;
        // The modularity the pass gained, times m.
        let mut gained = 0.0;
        for start in (0..n).step_by(block) {
            candidates.clear();
            // Taken (and put to sleep) before the block is decided, so wake-ups during the
            // decisions count for the next visit, whatever the order they come in.
            candidates.extend((start..(start + block).min(n)).filter(|&u| active[u].load(Relaxed)).map(|u| u as u32));
            for &u in &candidates {
                active[u as usize].store(false, Relaxed);
            }
            let work: usize = candidates.iter().map(|&u| g.work(u as usize)).sum();
            if work < BLOCK_PARALLEL_WORK {
                for &u in &candidates {
                    let u = u as usize;
                    let (best, better) = best_community(g, u, partition, &tot, gamma, m2, &mut scratch);
                    if best != partition[u] {
                        gained += better;
                        wake(u, best, partition);
                        tot[partition[u] as usize] -= g.degree(u);
                        tot[best as usize] += g.degree(u);
                        partition[u] = best;
                        moved += 1;
                    }
                }
                continue;
            }
            let (part, tot_now) = (&*partition, &tot);
            let block_range = start as u32..(start + block).min(n) as u32;
            let moves: Vec<Move> = candidates
                .par_chunks(DECIDE_CHUNK)
                .map_init(MoveScratch::default, |scratch, chunk| {
                    let mut moves = Vec::new();
                    for (i, &u) in chunk.iter().enumerate() {
                        // The reads that decide a node are random: start them a node or two ahead.
                        if let Some(&later) = chunk.get(i + 2 * DECIDE_AHEAD) {
                            g.prefetch_labels(later as usize, part);
                        }
                        if let Some(&next) = chunk.get(i + DECIDE_AHEAD) {
                            g.prefetch_totals(next as usize, part, tot_now);
                        }
                        let u = u as usize;
                        let (best, better) = best_community(g, u, part, tot_now, gamma, m2, scratch);
                        if best != part[u] {
                            wake(u, best, part);
                            let mut near = false;
                            g.each_neighbour(u, |v| near |= block_range.contains(&(v as u32)));
                            moves.push(Move { node: u as u32, to: best, better, near });
                        }
                    }
                    moves
                })
                .flatten_iter()
                .collect();
            // Apply in node order. A mover with a neighbour that moved before it in this block
            // decides again from the state now, as the one-at-a-time pass would have: two
            // neighbours deciding together can otherwise swap communities, pass after pass.
            moved_here.iter_mut().for_each(|m| *m = false);
            for &Move { node: u, to, better, near } in &moves {
                let u = u as usize;
                let mut after_a_move = false;
                if near {
                    g.each_neighbour(u, |v| {
                        after_a_move |= block_range.contains(&(v as u32)) && moved_here[v - start];
                    });
                }
                let (to, better) = if after_a_move {
                    let (again, better) = best_community(g, u, partition, &tot, gamma, m2, &mut scratch);
                    if again != to && again != partition[u] {
                        wake(u, again, partition);
                    }
                    (again, better)
                } else {
                    (to, better)
                };
                if to == partition[u] {
                    continue;
                }
                gained += better;
                tot[partition[u] as usize] -= g.degree(u);
                tot[to as usize] += g.degree(u);
                partition[u] = to;
                moved_here[u - start] = true;
                moved += 1;
            }
        }
        moved_any |= moved > 0;
        if moved == 0 || 2.0 * gained / m2 < tolerance {
            break;
        }
    }
    renumber(partition);
    moved_any
}

/// A move decided in a block: `node` joins community `to`; `near` says whether it has a
/// neighbour in the same block.
#[derive(Clone, Copy)]
struct Move {
    node: u32,
    to: u32,
    /// How much better than staying, as [`best_community`] says.
    better: f64,
    near: bool,
}

/// For each node, its index among the members of its group (`group_by`'s output).
fn positions(start: &[usize], members: &[u32], n: usize) -> Vec<u32> {
    let mut position = vec![0u32; n];
    for group in start.windows(2) {
        for (i, &u) in members[group[0]..group[1]].iter().enumerate() {
            position[u as usize] = i as u32;
        }
    }
    position
}

/// Leiden's refinement: inside each community, nodes start alone and merge greedily into
/// well-connected sub-communities ("pieces"), which then move as wholes.
///
/// A node only ever merges with nodes of its own community, so communities are refined
/// independently, in parallel, each visiting its nodes in increasing order: the result is the
/// one a single pass over all nodes in order gives ([`refine_sequential`] in the tests), whatever
/// the thread count.
pub(super) fn refine(g: &Undirected, partition: &[u32], gamma: f64) -> Refinement {
    let n = g.len();
    let m2 = g.total.max(f64::MIN_POSITIVE);
    let k = label_count(partition);
    let community_degree = totals(g, partition, k);
    let (start, members) = group_by(partition, k);
    // On a graph laid out by community (see `relabel`) every community is a run of nodes: a
    // neighbour is a member when it falls in the run, at its offset in it.
    let laid_out = partition.windows(2).all(|pair| pair[0] <= pair[1]);
    let position = if laid_out { Vec::new() } else { positions(&start, &members, n) };
    let refined_communities: Vec<RefinedCommunity> = (0..k)
        .into_par_iter()
        .map(|c| {
            let m = &members[start[c]..start[c + 1]];
            let community = Community { members: m, degree: community_degree[c] };
            if laid_out {
                let (first, s) = (m[0] as usize, m.len());
                refine_community(g, &community, |v| v.checked_sub(first).filter(|&i| i < s), gamma, m2)
            } else {
                let c = c as u32;
                refine_community(g, &community, |v| (partition[v] == c).then(|| position[v] as usize), gamma, m2)
            }
        })
        .collect();
    let representatives: Vec<u32> = refined_communities.iter().flat_map(|(r, _)| r.iter().copied()).collect();
    // `representatives` follows `members`; put it back in node order.
    let mut labels = if laid_out { representatives } else { permute(&representatives, &members) };
    renumber(&mut labels);
    let mut pieces = vec![Piece::default(); label_count(&labels)];
    for (representative, piece) in refined_communities.into_iter().flat_map(|(_, p)| p) {
        pieces[labels[representative as usize] as usize] = piece;
    }
    Refinement { labels, pieces }
}

/// One community refined: each member's piece named by a member, and each piece by that name.
type RefinedCommunity = (Vec<u32>, Vec<(u32, Piece)>);

/// The refined partition: each node's sub-community ("piece"), and what each piece weighs.
pub(super) struct Refinement {
    pub(super) labels: Vec<u32>,
    pub(super) pieces: Vec<Piece>,
}

/// A piece of a community: its degree, and its ties to the rest of its community and to other
/// communities (ties inside the piece are neither).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Piece {
    pub(super) degree: f64,
    pub(super) inside: f64,
    pub(super) outside: f64,
}

/// One community of the partition being refined.
struct Community<'a> {
    /// In increasing order.
    members: &'a [u32],
    /// Its total degree `K_C`.
    degree: f64,
}

/// Refines one community; returns each member's sub-community, named by a member's node index,
/// and each sub-community's [`Piece`] by that name. `local(v)` is `v`'s index among the
/// members, if `v` is one.
fn refine_community(
    g: &Undirected,
    community: &Community<'_>,
    local: impl Fn(usize) -> Option<usize>,
    gamma: f64,
    m2: f64,
) -> RefinedCommunity {
    let (members, kc) = (community.members, community.degree);
    let s = members.len();
    if s == 1 {
        let u = members[0] as usize;
        let own: f64 = g.neighbours(u).filter(|&(v, _)| v == u).map(|(_, w)| w).sum();
        let piece = Piece { degree: g.degree[u], inside: 0.0, outside: g.degree[u] - own };
        return (members.to_vec(), vec![(members[0], piece)]);
    }
    // Sub-communities by local index of their first member; start alone.
    let mut refined: Vec<u32> = (0..s as u32).collect();
    let mut sub_degree: Vec<f64> = members.iter().map(|&u| g.degree[u as usize]).collect();
    // Weight from each sub-community to the rest of its community, and from each member to
    // other communities.
    let (mut external, outside): (Vec<f64>, Vec<f64>) = members
        .iter()
        .map(|&u| {
            let u = u as usize;
            let (mut inside, mut own) = (0.0, 0.0);
            for (v, w) in g.neighbours(u) {
                if v == u {
                    own += w;
                } else if local(v).is_some() {
                    inside += w;
                }
            }
            (inside, g.degree[u] - own - inside)
        })
        .unzip();
    let mut singleton = vec![true; s];
    let mut to_sub = vec![0f64; s];
    let mut touched: Vec<usize> = Vec::new();
    for i in 0..s {
        if !singleton[i] {
            continue;
        }
        let u = members[i] as usize;
        let ku = g.degree[u];
        // Only a node well connected to its community moves.
        if external[i] < gamma * ku * (kc - ku) / m2 {
            continue;
        }
        for (v, w) in g.neighbours(u) {
            let Some(j) = local(v) else { continue };
            if v != u {
                let t = refined[j] as usize;
                if to_sub[t] == 0.0 {
                    touched.push(t);
                }
                to_sub[t] += w;
            }
        }
        touched.sort_unstable();
        let mut best = i;
        let mut best_gain = 0.0;
        for &t in &touched {
            if t == i {
                continue;
            }
            // Only into a sub-community well connected to the rest of the community.
            let kt = sub_degree[t];
            if external[t] < gamma * kt * (kc - kt) / m2 {
                continue;
            }
            let gain = to_sub[t] - gamma * kt * ku / m2;
            if gain > best_gain + EPS {
                best = t;
                best_gain = gain;
            }
        }
        let link = to_sub[best];
        for &t in &touched {
            to_sub[t] = 0.0;
        }
        touched.clear();
        if best != i {
            refined[i] = best as u32;
            singleton[i] = false;
            singleton[best] = false;
            sub_degree[best] += ku;
            external[best] = external[best] + external[i] - 2.0 * link;
        }
    }
    let mut pieces: Vec<(u32, Piece)> = Vec::new();
    let mut piece_of = vec![u32::MAX; s];
    for t in 0..s {
        if refined[t] as usize == t {
            piece_of[t] = pieces.len() as u32;
            pieces.push((members[t], Piece { degree: sub_degree[t], inside: external[t], outside: 0.0 }));
        }
    }
    for i in 0..s {
        pieces[piece_of[refined[i] as usize] as usize].1.outside += outside[i];
    }
    (refined.iter().map(|&t| members[t as usize]).collect(), pieces)
}

/// How many distinct neighbours an aggregate node's table is first sized for.
const AGGREGATE_DISTINCT_GUESS: usize = 256;
/// Aggregate nodes per task of [`aggregate`].
const AGGREGATE_CHUNK: usize = 1024;

/// The graph of communities: community `C` becomes node `C`, and `A_CD = Σ_{u∈C, v∈D} A_uv`, so
/// degrees and internal weights (as self-loops) are kept. Each row is summed in a [`Tally`] in
/// member order, so the weights are the same whatever the thread count; chunks of rows are built
/// in parallel straight into the new graph.
pub(super) fn aggregate(g: &Undirected, partition: &[u32]) -> Undirected {
    let k = label_count(partition);
    let (start, members) = group_by(partition, k);
    let members_of = |c: usize| &members[start[c]..start[c + 1]];
    // A community's row has at most as many entries as its members' rows together.
    let bound = |communities: std::ops::Range<usize>| -> usize {
        members[start[communities.start]..start[communities.end]].iter().map(|&u| g.work(u as usize)).sum()
    };
    let (graph, _) = Undirected::build(k, AGGREGATE_CHUNK, Weighting::PerEntry, bound, |communities, writer| {
        let mut tally = Tally::default();
        for c in communities {
            let entries: usize = members_of(c).iter().map(|&u| g.work(u as usize)).sum();
            tally.prepare(entries.min(AGGREGATE_DISTINCT_GUESS), k);
            for &u in members_of(c) {
                for (v, w) in g.neighbours(u as usize) {
                    tally.add(partition[v], w);
                }
            }
            for (d, w) in tally.iter() {
                writer.push(d, w);
            }
            writer.end_row();
            tally.clear();
        }
    });
    graph
}

#[cfg(test)]
/// The refinement one node at a time over the whole graph: the definition [`refine`] must match.
fn refine_sequential(g: &Undirected, partition: &[u32], gamma: f64) -> Vec<u32> {
    let n = g.len();
    let m2 = g.total.max(f64::MIN_POSITIVE);
    let k = label_count(partition);
    let community_degree = totals(g, partition, k);
    // refined[u]: u's sub-community (named by a member). Start alone.
    let mut refined: Vec<u32> = (0..n as u32).collect();
    let mut sub_degree: Vec<f64> = g.degree.clone();
    // Weight from each sub-community to the rest of its community.
    let mut external: Vec<f64> = (0..n)
        .map(|u| g.neighbours(u).filter(|&(v, _)| v != u && partition[v] == partition[u]).map(|(_, w)| w).sum())
        .collect();
    let mut singleton = vec![true; n];
    let mut to_sub = vec![0f64; n];
    let mut touched = Vec::new();
    for u in 0..n {
        if !singleton[u] {
            continue;
        }
        let c = partition[u] as usize;
        let (ku, kc) = (g.degree[u], community_degree[c]);
        if external[u] < gamma * ku * (kc - ku) / m2 {
            continue;
        }
        for (v, w) in g.neighbours(u) {
            if v != u && partition[v] as usize == c {
                let s = refined[v] as usize;
                if to_sub[s] == 0.0 {
                    touched.push(s);
                }
                to_sub[s] += w;
            }
        }
        touched.sort_unstable();
        let mut best = u;
        let mut best_gain = 0.0;
        for &s in &touched {
            if s == u {
                continue;
            }
            let ks = sub_degree[s];
            if external[s] < gamma * ks * (kc - ks) / m2 {
                continue;
            }
            let gain = to_sub[s] - gamma * ks * ku / m2;
            if gain > best_gain + EPS {
                best = s;
                best_gain = gain;
            }
        }
        for &s in &touched {
            to_sub[s] = 0.0;
        }
        let link = if best != u {
            g.neighbours(u).filter(|&(v, _)| refined[v] as usize == best && v != u).map(|(_, w)| w).sum::<f64>()
        } else {
            0.0
        };
        touched.clear();
        if best != u {
            refined[u] = best as u32;
            singleton[u] = false;
            singleton[best] = false;
            sub_degree[best] += ku;
            external[best] = external[best] + external[u] - 2.0 * link;
        }
    }
    renumber(&mut refined);
    refined
}

#[cfg(test)]
/// A random graph with planted groups, and the partition local moving finds on it.
pub(super) fn planted(n: usize, seed: u64) -> (Undirected, Vec<u32>) {
    let mut edges = Vec::new();
    let mut x = seed;
    let mut next = || {
        x = crate::power::mix64(x.wrapping_add(0x9E37_79B9_7F4A_7C15));
        x
    };
    for u in 0..n as u32 {
        for _ in 0..6 {
            let r = next();
            // Mostly inside the node's group of 25, sometimes anywhere.
            let v = if r % 5 == 0 { (r >> 8) % n as u64 } else { (u as u64 / 25) * 25 + (r >> 8) % 25 } as u32;
            if (v as usize) < n && v != u {
                edges.push((u, v, 1.0 + (r >> 40) as f64 % 3.0));
            }
        }
    }
    let g = Undirected::from_edges(n, &edges);
    let mut partition: Vec<u32> = (0..n as u32).collect();
    local_moving(&g, &mut partition, 1.0, None);
    (g, partition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_refinement_is_the_sequential_refinement() {
        for (n, seed) in [(50, 1), (1_000, 2), (5_000, 3)] {
            let (g, partition) = planted(n, seed);
            for gamma in [0.5, 1.0, 2.0] {
                assert_eq!(
                    refine(&g, &partition, gamma).labels,
                    refine_sequential(&g, &partition, gamma),
                    "n {n} γ {gamma}"
                );
            }
            // Also from singletons and from one community holding everything.
            let alone: Vec<u32> = (0..n as u32).collect();
            assert_eq!(refine(&g, &alone, 1.0).labels, refine_sequential(&g, &alone, 1.0));
            let one = vec![0u32; n];
            assert_eq!(refine(&g, &one, 1.0).labels, refine_sequential(&g, &one, 1.0));
        }
    }

    #[test]
    fn a_tally_sums_per_label_in_order_of_first_appearance() {
        let mut tally = Tally::default();
        for round in 0..3 {
            // More labels each round, so the table grows between uses.
            let labels: Vec<u32> = (0..40 * (round + 1)).map(|i| (i * 7919) % 101).collect();
            // The middle round counts in a table indexed by label.
            tally.prepare(labels.len(), if round == 1 { 200 } else { usize::MAX });
            let mut expected: Vec<(u32, f64)> = Vec::new();
            for (i, &l) in labels.iter().enumerate() {
                tally.add(l, i as f64);
                match expected.iter_mut().find(|(k, _)| *k == l) {
                    Some(e) => e.1 += i as f64,
                    None => expected.push((l, i as f64)),
                }
            }
            assert_eq!(tally.iter().collect::<Vec<_>>(), expected);
            assert_eq!(tally.get(labels[3]), expected.iter().find(|e| e.0 == labels[3]).unwrap().1);
            assert_eq!(tally.get(150), 0.0);
            tally.clear();
            assert_eq!(tally.iter().count(), 0);
        }
    }

    #[test]
    fn block_moving_finds_the_groups_the_sequential_pass_finds() {
        // Large enough for several blocks; the two passes may differ in details, not in what
        // they find.
        let (g, sequential) = planted(60_000, 4);
        let mut blocks: Vec<u32> = (0..g.len() as u32).collect();
        assert!(local_moving_blocks(&g, &mut blocks, 1.0, 0.0, None, PASSES_MAX));
        let (q_seq, q_blocks) = (g.modularity(&sequential, 1.0), g.modularity(&blocks, 1.0));
        assert!(q_blocks > q_seq - 0.01, "blocks Q {q_blocks}, sequential Q {q_seq}");
        assert!(super::super::nmi(&sequential, &blocks) > 0.95);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let mut again: Vec<u32> = (0..g.len() as u32).collect();
        one.install(|| local_moving_blocks(&g, &mut again, 1.0, 0.0, None, PASSES_MAX));
        assert_eq!(again, blocks);
    }

    /// `g` with its nodes shuffled (by a hash), so that nothing is laid out by community.
    fn shuffled(g: &Undirected) -> Undirected {
        let n = g.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&u| crate::power::mix64(u64::from(u) ^ 0xD1CE));
        let mut new_id = vec![0u32; n];
        for (i, &u) in order.iter().enumerate() {
            new_id[u as usize] = i as u32;
        }
        let edges: Vec<(u32, u32, f64)> = (0..n)
            .flat_map(|u| g.neighbours(u).filter(move |&(v, _)| v >= u).map(move |(v, w)| (u, v, w)))
            .map(|(u, v, w)| (new_id[u], new_id[v], w))
            .collect();
        Undirected::from_edges(n, &edges)
    }

    /// Small enough thresholds that a graph of a few thousand nodes takes every large-graph path.
    const SMALL: Scale = Scale { parallel_moving_min: 500, relabel_min: 2_000 };

    #[test]
    fn the_large_graph_paths_give_the_same_communities_with_any_thread_count() {
        // Strong groups (few pieces can gain: they move on the graph itself) and weak ones (many
        // can: their graph is built).
        let strong = groups(8_000, 100, 5);
        let weak = sparse_random(8_000, 9);
        let awake_share = |g: &Undirected| {
            let mut partition: Vec<u32> = (0..g.len() as u32).collect();
            local_moving(g, &mut partition, 1.0, None);
            let refinement = refine(g, &partition, 1.0);
            let (settled, _) = settled_pieces(g, &refinement, &partition, 1.0);
            settled.iter().filter(|&&s| !s).count() as f64 / settled.len() as f64
        };
        let share = 1.0 / PIECES_BUILT_SHARE as f64;
        let (a, b) = (awake_share(&strong), awake_share(&weak));
        assert!(a <= share && b > share, "both ways of moving pieces are taken: {a} {b}");
        for g in [shuffled(&strong), shuffled(&weak)] {
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| leiden_at(&g, 1.0, 32, &SMALL))
            };
            let one = run(1);
            assert_eq!(run(2), one);
            assert_eq!(run(3), one);
            // And they find what the small-graph path finds, about as well.
            let small_path = leiden_at(&g, 1.0, 32, &Scale::DEFAULT);
            let (q_large, q_small) = (g.modularity(&one, 1.0), g.modularity(&small_path, 1.0));
            assert!(q_large > q_small - 0.005, "large-graph paths Q {q_large}, small-graph path Q {q_small}");
        }
    }

    /// Groups of `size` nodes, 8 ties per node of which 1 in 10 leaves the group.
    fn groups(n: usize, size: u64, seed: u64) -> Undirected {
        let edges: Vec<(u32, u32, f64)> = (0..n as u64 * 8)
            .map(|i| {
                let u = i / 8;
                let r = crate::power::mix64(i ^ (seed << 40));
                let v = if r.is_multiple_of(10) { (r >> 8) % n as u64 } else { (u / size) * size + (r >> 8) % size };
                (u as u32, v.min(n as u64 - 1) as u32, 1.0)
            })
            .filter(|&(u, v, _)| u != v)
            .collect();
        Undirected::from_edges(n, &edges)
    }

    /// A random graph of average degree 8 with no planted structure.
    fn sparse_random(n: usize, seed: u64) -> Undirected {
        let edges: Vec<(u32, u32, f64)> = (0..n as u64 * 4)
            .map(|i| {
                let r = crate::power::mix64(i ^ (seed << 40));
                ((r % n as u64) as u32, ((r >> 32) % n as u64) as u32, 1.0)
            })
            .filter(|&(u, v, _)| u != v)
            .collect();
        Undirected::from_edges(n, &edges)
    }

    #[test]
    fn laying_out_by_community_keeps_the_refinement() {
        let (planted_graph, _) = planted(3_000, 6);
        let g = shuffled(&planted_graph);
        let mut partition: Vec<u32> = (0..g.len() as u32).collect();
        local_moving(&g, &mut partition, 1.0, None);
        let (laid_out, new_id) = relabel(&g, &partition);
        let moved = permute(&partition, &new_id);
        assert!(moved.windows(2).all(|w| w[0] <= w[1]), "communities are runs of nodes");
        assert_eq!(laid_out.total.to_bits(), g.total.to_bits());
        let here = refine(&g, &partition, 1.0);
        let there = refine(&laid_out, &moved, 1.0);
        // The same pieces, whatever their names.
        let mut back: Vec<u32> = (0..g.len()).map(|u| there.labels[new_id[u] as usize]).collect();
        renumber(&mut back);
        assert_eq!(back, here.labels);
    }

    #[test]
    fn pieces_weigh_what_their_members_do_and_settled_ones_cannot_gain() {
        let (g, partition) = planted(3_000, 7);
        let refinement = refine(&g, &partition, 1.0);
        let k = refinement.pieces.len();
        let label = &refinement.labels;
        // Each piece's degree and ties, counted from the edges.
        let mut counted = vec![Piece::default(); k];
        for u in 0..g.len() {
            let t = label[u] as usize;
            counted[t].degree += g.degree[u];
            for (v, w) in g.neighbours(u) {
                if label[v] as usize == t {
                    continue;
                }
                if partition[v] == partition[u] {
                    counted[t].inside += w;
                } else {
                    counted[t].outside += w;
                }
            }
        }
        for (t, (piece, count)) in refinement.pieces.iter().zip(&counted).enumerate() {
            for (what, a, b) in [
                ("degree", piece.degree, count.degree),
                ("inside", piece.inside, count.inside),
                ("outside", piece.outside, count.outside),
            ] {
                assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "piece {t} {what}: {a} against {b}");
            }
        }
        // A settled piece's best move is to stay.
        let (settled, community) = settled_pieces(&g, &refinement, &partition, 1.0);
        let view = Pieces::new(&g, &refinement, label_count(&partition));
        let tot = totals(&view, &community, view.len());
        let mut scratch = MoveScratch::default();
        let mut settled_count = 0;
        for t in (0..k).filter(|&t| settled[t]) {
            settled_count += 1;
            let (best, _) = best_community(&view, t, &community, &tot, 1.0, g.total, &mut scratch);
            assert_eq!(best, community[t], "settled piece {t} would move");
        }
        assert!(settled_count > k / 2, "{settled_count} of {k} pieces settled");
    }
}
