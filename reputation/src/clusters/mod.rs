//! Communities: Leiden (local moving, refinement, aggregation) with modularity, and label
//! propagation as the fast path. Every community is connected by construction: a final pass
//! splits any community into its connected components, which can only raise modularity.
//!
//! Deterministic: nodes are visited in index order and ties go to the smallest community id;
//! on large graphs local moving decides consecutive blocks of nodes in parallel, each block from
//! the state its predecessors left, and applies a block's moves in node order. The same graph
//! always gives the same partition, whatever the thread count.

use crate::{Epoch, Error, Result};
use graph_engine::{Graph, LogPosition, Side, Topology};
use rayon::prelude::*;
use schema::{EdgeKind, VertexKind};
use std::ops::Range;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{AcqRel, Acquire};

mod leiden;

/// The modularity resolution γ (1 is standard modularity).
pub const DEFAULT_RESOLUTION: f64 = 1.0;
/// The most levels of Leiden (local moving, then aggregation, level after level).
pub const DEFAULT_ROUNDS_MAX: u32 = 32;
/// The most label-propagation sweeps.
pub const DEFAULT_LPA_SWEEPS_MAX: u32 = 30;

/// Which algorithm finds the communities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Leiden: the quality path.
    Leiden,
    /// Label propagation: the fast path.
    LabelPropagation,
}

/// The parameters of the clusters job.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterConfig {
    /// The algorithm.
    pub method: Method,
    /// See [`DEFAULT_RESOLUTION`].
    pub resolution: f64,
    /// See [`DEFAULT_ROUNDS_MAX`].
    pub rounds_max: u32,
    /// See [`DEFAULT_LPA_SWEEPS_MAX`].
    pub lpa_sweeps_max: u32,
    /// The edge kinds that tie vertices together (positive ratings only for `rates`).
    pub kinds: Vec<EdgeKind>,
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            method: Method::Leiden,
            resolution: DEFAULT_RESOLUTION,
            rounds_max: DEFAULT_ROUNDS_MAX,
            lpa_sweeps_max: DEFAULT_LPA_SWEEPS_MAX,
            kinds: vec![
                EdgeKind::Follows,
                EdgeKind::Rates,
                EdgeKind::Endorses,
                EdgeKind::Collaborates,
                EdgeKind::Traded,
                EdgeKind::MemberOf,
                EdgeKind::Moderates,
                EdgeKind::Authored,
                EdgeKind::RemixOf,
                EdgeKind::Voted,
            ],
        }
    }
}

/// A partition of the vertices into communities.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Clusters {
    /// What it was computed from.
    pub epoch: Epoch,
    /// The community of each dense vertex (communities numbered 0.. by their smallest vertex);
    /// vertices with no tie at all are communities of their own.
    pub community: Vec<u32>,
    /// How many communities.
    pub count: u32,
    /// The partition's modularity (at resolution 1).
    pub modularity: f64,
}

/// Why a vertex sits in its community: its ties, and how much of their weight stays inside.
#[derive(Clone, Debug, PartialEq)]
pub struct MembershipExplanation {
    /// The community.
    pub community: u32,
    /// The share of the vertex's tie weight that goes to its own community, in [0, 1].
    pub inside_share: f64,
    /// Its heaviest ties: (neighbour, weight, whether the neighbour is in the same community),
    /// heaviest first.
    pub ties: Vec<(schema::Id, f64, bool)>,
}

impl Clusters {
    /// Explains vertex `v`'s community from `graph`'s ties (the same `kinds` the job used).
    pub fn explain(&self, graph: &Graph, kinds: &[EdgeKind], v: u32, top: usize) -> MembershipExplanation {
        let mut weights: std::collections::BTreeMap<u32, f64> = std::collections::BTreeMap::new();
        for &kind in kinds {
            for w in graph.out(kind, v).chain(graph.inn(kind, v)) {
                if w != v && graph.kind_at(w) != VertexKind::User {
                    *weights.entry(w).or_default() += 1.0;
                }
            }
        }
        let community = self.community[v as usize];
        let total: f64 = weights.values().sum();
        let inside: f64 =
            weights.iter().filter(|&(&w, _)| self.community[w as usize] == community).map(|(_, x)| x).sum();
        let mut ties: Vec<(schema::Id, f64, bool)> =
            weights.into_iter().map(|(w, x)| (graph.id_at(w), x, self.community[w as usize] == community)).collect();
        ties.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ties.truncate(top);
        MembershipExplanation { community, inside_share: if total > 0.0 { inside / total } else { 0.0 }, ties }
    }
}

/// With `DAIRA_CLUSTERS_TRACE=1` in the environment, the clusters job prints how long each of
/// its stages took, to standard error (for tuning; nothing else changes).
pub(super) struct Trace {
    last: Option<std::time::Instant>,
}

impl Trace {
    pub(super) fn start() -> Trace {
        let on = std::env::var_os("DAIRA_CLUSTERS_TRACE").is_some_and(|v| v == "1");
        Trace { last: on.then(std::time::Instant::now) }
    }

    /// Prints the time since the last stage, if tracing.
    pub(super) fn stage(&mut self, what: std::fmt::Arguments<'_>) {
        if let Some(last) = self.last.as_mut() {
            eprintln!("clusters: {:>8.3} s  {what}", last.elapsed().as_secs_f64());
            *last = std::time::Instant::now();
        }
    }
}

/// Whether a graph being built keeps a weight per entry, or all its weights are 1 (and none is
/// kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Weighting {
    PerEntry,
    Unit,
}

/// Writes consecutive rows into one task's share of a graph's arrays (see [`Undirected::build`]).
struct RowWriter<'a> {
    targets: &'a mut [u32],
    /// Empty for a graph of unit weights.
    weights: &'a mut [f64],
    /// Entries written.
    at: usize,
    row_degree: f64,
    /// Where each finished row ends, from the share's start.
    ends: Vec<usize>,
    degrees: Vec<f64>,
}

impl RowWriter<'_> {
    /// Adds an entry to the current row.
    #[inline]
    fn push(&mut self, target: u32, weight: f64) {
        self.targets[self.at] = target;
        if self.weights.is_empty() {
            debug_assert!(weight == 1.0, "a unit-weight graph takes weights of 1");
        } else {
            self.weights[self.at] = weight;
        }
        self.at += 1;
        self.row_degree += weight;
    }

    /// Finishes the current row.
    fn end_row(&mut self) {
        self.ends.push(self.at);
        self.degrees.push(self.row_degree);
        self.row_degree = 0.0;
    }
}

/// An undirected weighted graph as a symmetric matrix `A`: an edge {u, v} is stored in both
/// rows, a self-loop once with weight `A_uu`; a node's degree is its row sum.
#[derive(Clone, Debug, Default)]
pub struct Undirected {
    offsets: Vec<usize>,
    targets: Vec<u32>,
    /// Each entry's weight; empty when every weight is 1 (most edge lists), which spares the
    /// memory and every pass over the graph two thirds of what it reads.
    weights: Vec<f64>,
    /// Weighted degree (row sum) of each node.
    degree: Vec<f64>,
    /// Σ degree = 2m.
    total: f64,
}

impl Undirected {
    /// Builds from (u, v, w) pairs (any order, duplicates added up, w > 0).
    pub fn from_edges(n: usize, edges: &[(u32, u32, f64)]) -> Undirected {
        let mut pairs: Vec<(u32, u32, f64)> = Vec::with_capacity(edges.len() * 2);
        for &(u, v, w) in edges {
            if w <= 0.0 || !w.is_finite() {
                continue;
            }
            pairs.push((u, v, w));
            if u != v {
                pairs.push((v, u, w));
            }
        }
        pairs.par_sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut offsets = vec![0usize; n + 1];
        let mut targets = Vec::with_capacity(pairs.len());
        let mut weights: Vec<f64> = Vec::with_capacity(pairs.len());
        for (i, &(u, v, w)) in pairs.iter().enumerate() {
            if i > 0 && pairs[i - 1].0 == u && pairs[i - 1].1 == v {
                *weights.last_mut().expect("a previous edge") += w;
            } else {
                targets.push(v);
                weights.push(w);
                offsets[u as usize + 1] += 1;
            }
        }
        for i in 1..=n {
            offsets[i] += offsets[i - 1];
        }
        let degree: Vec<f64> = (0..n).map(|u| weights[offsets[u]..offsets[u + 1]].iter().sum()).collect();
        let total = degree.iter().sum();
        let mut g = Undirected { offsets, targets, weights, degree, total };
        g.drop_unit_weights();
        g
    }

    /// Keeps no weights if they are all 1.
    fn drop_unit_weights(&mut self) {
        if self.weights.par_iter().all(|&w| w == 1.0) {
            self.weights = Vec::new();
        }
    }

    /// Whether every weight is 1 (and none is kept).
    fn weighting(&self) -> Weighting {
        if self.weights.is_empty() { Weighting::Unit } else { Weighting::PerEntry }
    }

    /// Builds a graph of `n` rows, `chunk` rows per task in parallel, straight into its arrays.
    /// `bound(rows)` is at least how many entries those rows have; `fill(rows, writer)` writes
    /// them, row after row, and returns what else the task found. Chunks that wrote less than
    /// their bound are closed up afterwards.
    fn build<T: Send>(
        n: usize,
        chunk: usize,
        weighting: Weighting,
        bound: impl Fn(Range<usize>) -> usize + Sync,
        fill: impl Fn(Range<usize>, &mut RowWriter<'_>) -> T + Sync,
    ) -> (Undirected, Vec<T>) {
        let ranges: Vec<Range<usize>> = (0..n).step_by(chunk.max(1)).map(|s| s..(s + chunk).min(n)).collect();
        let bounds: Vec<usize> = ranges.par_iter().map(|r| bound(r.clone())).collect();
        let room: usize = bounds.iter().sum();
        let weight_room = if weighting == Weighting::Unit { 0 } else { room };
        let (mut targets, mut weights) = (vec![0u32; room], vec![0f64; weight_room]);
        let mut shares = Vec::with_capacity(ranges.len());
        let (mut t_rest, mut w_rest) = (&mut targets[..], &mut weights[..]);
        for &b in &bounds {
            let (t, t_tail) = t_rest.split_at_mut(b);
            let (w, w_tail) = w_rest.split_at_mut(if weighting == Weighting::Unit { 0 } else { b });
            shares.push((t, w));
            (t_rest, w_rest) = (t_tail, w_tail);
        }
        let written: Vec<(usize, Vec<usize>, Vec<f64>, T)> = shares
            .into_par_iter()
            .zip(ranges)
            .map(|((targets, weights), rows)| {
                let count = rows.len();
                let mut writer = RowWriter {
                    targets,
                    weights,
                    at: 0,
                    row_degree: 0.0,
                    ends: Vec::with_capacity(count),
                    degrees: Vec::with_capacity(count),
                };
                let found = fill(rows, &mut writer);
                assert_eq!(writer.ends.len(), count, "one row per node");
                (writer.at, writer.ends, writer.degrees, found)
            })
            .collect();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0usize);
        let mut degree = Vec::with_capacity(n);
        let mut found = Vec::with_capacity(written.len());
        let (mut from, mut to) = (0, 0);
        for ((used, ends, degrees, extra), b) in written.into_iter().zip(bounds) {
            if from != to {
                targets.copy_within(from..from + used, to);
                if weighting == Weighting::PerEntry {
                    weights.copy_within(from..from + used, to);
                }
            }
            offsets.extend(ends.iter().map(|&end| to + end));
            degree.extend(degrees);
            found.push(extra);
            (from, to) = (from + b, to + used);
        }
        targets.truncate(to);
        weights.truncate(to.min(weight_room));
        targets.shrink_to_fit();
        weights.shrink_to_fit();
        let total = degree.iter().sum();
        (Undirected { offsets, targets, weights, degree, total }, found)
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.degree.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.degree.is_empty()
    }

    /// The neighbours of `u` (with `u` itself when it has a self-loop).
    pub fn neighbour_list(&self, u: usize) -> Vec<usize> {
        self.neighbours(u).map(|(v, _)| v).collect()
    }

    /// The neighbours of `u` as stored (with `u` itself when it has a self-loop).
    pub fn row(&self, u: usize) -> &[u32] {
        &self.targets[self.offsets[u]..self.offsets[u + 1]]
    }

    #[inline]
    fn neighbours(&self, u: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let range = self.offsets[u]..self.offsets[u + 1];
        let weights = if self.weights.is_empty() { None } else { Some(&self.weights[range.clone()]) };
        self.targets[range].iter().enumerate().map(move |(i, &v)| (v as usize, weights.map_or(1.0, |w| w[i])))
    }

    /// Modularity of a partition at resolution `gamma`. The weight inside communities is
    /// summed over fixed chunks of nodes in parallel and the chunks' sums added in order, so the
    /// result does not depend on the thread count.
    pub fn modularity(&self, community: &[u32], gamma: f64) -> f64 {
        let inside = self.weight_inside(community, |_, _| {});
        self.modularity_with(community, inside, gamma)
    }

    /// The weight of the ties inside communities (`Σ_C A_CC`), summed over fixed chunks of nodes
    /// in parallel and the chunks' sums added in order, so the result does not depend on the
    /// thread count; `each(u, v)` is called for every tie inside a community with `u < v`.
    fn weight_inside(&self, community: &[u32], each: impl Fn(u32, u32) + Sync) -> f64 {
        let n = self.len();
        let chunks: Vec<f64> = (0..n.div_ceil(INSIDE_CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let mut inside = 0.0;
                for u in chunk * INSIDE_CHUNK..((chunk + 1) * INSIDE_CHUNK).min(n) {
                    let c = community[u];
                    for (v, w) in self.neighbours(u) {
                        if community[v] == c {
                            inside += w;
                            if v > u {
                                each(u as u32, v as u32);
                            }
                        }
                    }
                }
                inside
            })
            .collect();
        chunks.iter().sum()
    }

    /// Modularity from the weight inside communities, which [`Undirected::weight_inside`] gives.
    fn modularity_with(&self, community: &[u32], inside: f64, gamma: f64) -> f64 {
        if self.total == 0.0 {
            return 0.0;
        }
        let k = label_count(community);
        let mut tot = vec![0f64; k];
        for (u, &c) in community.iter().enumerate() {
            tot[c as usize] += self.degree[u];
        }
        let m2 = self.total;
        inside / m2 - gamma * tot.iter().map(|t| (t / m2).powi(2)).sum::<f64>()
    }
}

/// Nodes per task when the weight inside communities is summed.
const INSIDE_CHUNK: usize = 1 << 14;

/// Vertices per task when the undirected view is built.
const ROWS_CHUNK: usize = 4096;

/// Ties between vertices of `graph` for the clusters job: each vertex's row is its out- and
/// in-neighbours over `kinds`, merged (a tie both ways weighs 2). Chunks of rows are built in
/// parallel straight from the graph's adjacency and laid end to end.
pub fn undirected(graph: &Graph, kinds: &[EdgeKind]) -> Undirected {
    let n = graph.vertex_count();
    let tie = |u: u32, v: u32, kind: EdgeKind, outward: bool| -> bool {
        if u == v || graph.kind_at(v) == VertexKind::User {
            return false;
        }
        if kind != EdgeKind::Rates {
            return true;
        }
        let (s, d) = if outward { (u, v) } else { (v, u) };
        graph.edge(kind, s, d).and_then(|p| p.weight).is_none_or(|w| w > 0.0)
    };
    let bound = |rows: Range<usize>| -> usize {
        rows.map(|u| {
            let u = u as u32;
            kinds
                .iter()
                .map(|&k| graph.out(k, u).size_hint().1.unwrap_or(0) + graph.inn(k, u).size_hint().1.unwrap_or(0))
                .sum::<usize>()
        })
        .sum()
    };
    let (mut g, _) = Undirected::build(n, ROWS_CHUNK, Weighting::PerEntry, bound, |rows, writer| {
        let mut ends: Vec<u32> = Vec::new();
        for u in rows.map(|u| u as u32) {
            ends.clear();
            // Users are private; only their masks take part.
            if graph.kind_at(u) != VertexKind::User {
                for &kind in kinds {
                    ends.extend(graph.out(kind, u).filter(|&v| tie(u, v, kind, true)));
                    ends.extend(graph.inn(kind, u).filter(|&v| tie(u, v, kind, false)));
                }
            }
            ends.sort_unstable();
            // Every tie weighs 1, so a run of equal ends weighs its length, exactly.
            for run in ends.chunk_by(|a, b| a == b) {
                writer.push(run[0], run.len() as f64);
            }
            writer.end_row();
        }
    });
    g.drop_unit_weights();
    g
}

/// Ties between the vertices of an edge list read straight into CSR arrays (the researcher's
/// fast path): row `u` merges `u`'s out- and in-neighbours, a pair weighing the number of kinds
/// that tie it each way — the same graph [`undirected`] builds from the file loaded into a
/// property graph (read the topology with `count_kinds` and the clusters job's kinds).
pub fn undirected_of_topology(topology: &Topology) -> Undirected {
    let other = topology.transpose();
    let (out, inn) = match topology.rows {
        Side::Sources => (topology, &other),
        Side::Targets => (&other, topology),
    };
    let n = topology.vertex_count();
    let bound = |rows: Range<usize>| -> usize {
        (out.offsets[rows.end] - out.offsets[rows.start] + inn.offsets[rows.end] - inn.offsets[rows.start]) as usize
    };
    let (mut g, _) = Undirected::build(n, ROWS_CHUNK, Weighting::PerEntry, bound, |rows, writer| {
        for u in rows.map(|u| u as u32) {
            // Both rows are sorted and hold each neighbour once: merge them, adding up weights.
            let (a, b) = (out.row(u), inn.row(u));
            let (wa, wb) = (out.row_multiplicity(u), inn.row_multiplicity(u));
            let weight = |w: Option<&[u8]>, i: usize| w.map_or(1.0, |w| f64::from(w[i]));
            let (mut i, mut j) = (0, 0);
            while i < a.len() || j < b.len() {
                if j == b.len() || (i < a.len() && a[i] < b[j]) {
                    writer.push(a[i], weight(wa, i));
                    i += 1;
                } else if i == a.len() || b[j] < a[i] {
                    writer.push(b[j], weight(wb, j));
                    j += 1;
                } else {
                    writer.push(a[i], weight(wa, i) + weight(wb, j));
                    i += 1;
                    j += 1;
                }
            }
            writer.end_row();
        }
    });
    g.drop_unit_weights();
    g
}

fn check(config: &ClusterConfig) -> Result<()> {
    if !(config.resolution.is_finite() && config.resolution > 0.0) {
        return Err(Error::BadParameter { name: "resolution", value: config.resolution, range: "resolution > 0" });
    }
    Ok(())
}

/// Finds communities in `graph`.
pub fn clusters(graph: &Graph, config: &ClusterConfig) -> Result<Clusters> {
    check(config)?;
    let g = undirected(graph, &config.kinds);
    Ok(clusters_of(&g, config, graph.position()))
}

/// Finds communities in an edge list read straight into CSR arrays (see
/// [`undirected_of_topology`]); the topology's kinds stand in for `config.kinds`.
pub fn clusters_of_topology(topology: &Topology, config: &ClusterConfig) -> Result<Clusters> {
    check(config)?;
    let g = undirected_of_topology(topology);
    Ok(clusters_of(&g, config, LogPosition::default()))
}

/// Finds communities in an undirected graph (researchers' graphs, tests).
pub fn clusters_of(g: &Undirected, config: &ClusterConfig, position: LogPosition) -> Clusters {
    let raw = match config.method {
        Method::Leiden => leiden::leiden(g, config.resolution, config.rounds_max),
        Method::LabelPropagation => leiden::label_propagation(g, config.lpa_sweeps_max),
    };
    let mut trace = Trace::start();
    let (community, modularity) = split_disconnected(g, &raw);
    let count = label_count(&community) as u32;
    trace.stage(format_args!("split into connected pieces, modularity"));
    let params = vec![
        ("method", format!("{:?}", config.method)),
        ("resolution", config.resolution.to_string()),
        ("rounds_max", config.rounds_max.to_string()),
        ("lpa_sweeps_max", config.lpa_sweeps_max.to_string()),
        ("kinds", config.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join("+")),
    ];
    Clusters { epoch: Epoch::new("clusters", 1, position, params), community, count, modularity }
}

/// Nodes grouped by label (`0..count`), each group in increasing node order: the group of
/// label `l` is `members[start[l]..start[l + 1]]`.
fn group_by(labels: &[u32], count: usize) -> (Vec<usize>, Vec<u32>) {
    let mut start = vec![0usize; count + 1];
    for &l in labels {
        start[l as usize + 1] += 1;
    }
    for l in 0..count {
        start[l + 1] += start[l];
    }
    let mut members = vec![0u32; labels.len()];
    let mut cursor = start.clone();
    for (u, &l) in labels.iter().enumerate() {
        members[cursor[l as usize]] = u as u32;
        cursor[l as usize] += 1;
    }
    (start, members)
}

/// Splits every community into its connected components and numbers communities by their
/// smallest node; also the modularity of the result (at resolution 1).
///
/// A union–find over the ties inside communities, in the same walk over the graph that sums
/// the weight inside communities (which splitting does not change: no tie joins two pieces of a
/// community). A root is only ever linked under a smaller root (by compare-and-swap), so every
/// component's root is its smallest node, whatever order the unions came in.
fn split_disconnected(g: &Undirected, community: &[u32]) -> (Vec<u32>, f64) {
    let n = g.len();
    let parent: Vec<AtomicU32> = (0..n as u32).map(AtomicU32::new).collect();
    let inside = g.weight_inside(community, |u, v| union(&parent, u, v));
    let mut out: Vec<u32> = (0..n as u32).into_par_iter().map(|u| find(&parent, u)).collect();
    renumber(&mut out);
    let modularity = g.modularity_with(&out, inside, 1.0);
    (out, modularity)
}

/// The root of `x`'s tree, halving the path on the way.
fn find(parent: &[AtomicU32], mut x: u32) -> u32 {
    loop {
        let p = parent[x as usize].load(Acquire);
        if p == x {
            return x;
        }
        let grandparent = parent[p as usize].load(Acquire);
        if grandparent != p {
            // Another thread may have moved `x` already; either way the path only shortens.
            let _ = parent[x as usize].compare_exchange(p, grandparent, AcqRel, Acquire);
        }
        x = grandparent;
    }
}

/// Joins the trees of `a` and `b`, the larger root under the smaller.
fn union(parent: &[AtomicU32], a: u32, b: u32) {
    let (mut a, mut b) = (a, b);
    loop {
        (a, b) = (find(parent, a), find(parent, b));
        if a == b {
            return;
        }
        let (high, low) = if a > b { (a, b) } else { (b, a) };
        // Linked only while `high` is still a root; else look again from the new roots.
        if parent[high as usize].compare_exchange(high, low, AcqRel, Acquire).is_ok() {
            return;
        }
    }
}

/// How many labels `0..` a labelling uses (one more than the largest).
fn label_count(labels: &[u32]) -> usize {
    labels.iter().map(|&c| c as usize + 1).max().unwrap_or(0)
}

/// Renames labels to 0.. in order of first appearance.
fn renumber(labels: &mut [u32]) {
    let size = label_count(labels);
    let mut map = vec![u32::MAX; size];
    let mut next = 0;
    for l in labels.iter_mut() {
        let slot = &mut map[*l as usize];
        if *slot == u32::MAX {
            *slot = next;
            next += 1;
        }
        *l = *slot;
    }
}

/// Normalised mutual information between two labellings of the same items (arithmetic-mean
/// normalisation, as networkit and scikit-learn use by default).
pub fn nmi(a: &[u32], b: &[u32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a.len() as f64;
    if a.is_empty() {
        return 1.0;
    }
    let mut joint: std::collections::HashMap<(u32, u32), f64> = std::collections::HashMap::new();
    let mut pa: std::collections::HashMap<u32, f64> = std::collections::HashMap::new();
    let mut pb: std::collections::HashMap<u32, f64> = std::collections::HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *joint.entry((x, y)).or_default() += 1.0;
        *pa.entry(x).or_default() += 1.0;
        *pb.entry(y).or_default() += 1.0;
    }
    let entropy =
        |p: &std::collections::HashMap<u32, f64>| -> f64 { p.values().map(|&c| -(c / n) * (c / n).ln()).sum() };
    let (ha, hb) = (entropy(&pa), entropy(&pb));
    let mi: f64 = joint.iter().map(|(&(x, y), &c)| (c / n) * ((c / n) / ((pa[&x] / n) * (pb[&y] / n))).ln()).sum();
    if ha + hb == 0.0 { 1.0 } else { 2.0 * mi / (ha + hb) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnected_communities_split_and_are_numbered_by_their_smallest_node() {
        // 0-1 and 3-4 share community 7 but no edge; 2 is alone in community 1.
        let g = Undirected::from_edges(5, &[(0, 1, 1.0), (3, 4, 1.0), (1, 2, 1.0)]);
        let (split, q) = split_disconnected(&g, &[7, 7, 1, 7, 7]);
        assert_eq!(split, [0, 0, 1, 2, 2]);
        assert_eq!(q.to_bits(), g.modularity(&split, 1.0).to_bits());
        let (g, partition) = leiden::planted(2_000, 9);
        let (split, q) = split_disconnected(&g, &partition);
        assert_eq!(q.to_bits(), g.modularity(&split, 1.0).to_bits());
        // Every community of the result is connected, and refines the input.
        for c in 0..split.iter().max().map_or(0, |&m| m + 1) {
            let nodes: Vec<usize> = (0..g.len()).filter(|&u| split[u] == c).collect();
            let mut seen = vec![false; g.len()];
            let mut stack = vec![nodes[0]];
            seen[nodes[0]] = true;
            while let Some(u) = stack.pop() {
                for (v, _) in g.neighbours(u) {
                    if split[v] == c && !seen[v] {
                        seen[v] = true;
                        stack.push(v);
                    }
                }
            }
            assert!(nodes.iter().all(|&u| seen[u] && partition[u] == partition[nodes[0]]));
        }
    }

    #[test]
    fn renumbering_follows_first_appearance() {
        let mut labels = vec![7, 3, 7, 0, 3, 9];
        renumber(&mut labels);
        assert_eq!(labels, [0, 1, 0, 2, 1, 3]);
    }

    #[test]
    fn a_graph_built_in_chunks_closes_up_what_chunks_did_not_write() {
        // Row u has u % 3 entries to node (u + 1) % n, weight u; every chunk of 2 rows is given
        // room for 5 entries.
        let n = 7;
        let (g, found) = Undirected::build(
            n,
            2,
            Weighting::PerEntry,
            |rows| 5 * rows.len().div_ceil(2),
            |rows, writer| {
                for u in rows.clone() {
                    for _ in 0..u % 3 {
                        writer.push(((u + 1) % n) as u32, u as f64);
                    }
                    writer.end_row();
                }
                rows.len()
            },
        );
        assert_eq!(found, [2, 2, 2, 1]);
        assert_eq!(g.offsets, [0, 0, 1, 3, 3, 4, 6, 6]);
        assert_eq!(g.targets, [2, 3, 3, 5, 6, 6]);
        assert_eq!(g.degree, [0.0, 1.0, 4.0, 0.0, 4.0, 10.0, 0.0]);
        assert_eq!(g.total, 19.0);
    }
}
