//! Communities: Leiden (local moving, refinement, aggregation) with modularity, and label
//! propagation as the fast path. Every community is connected by construction: a final pass
//! splits any community into its connected components, which can only raise modularity.
//!
//! Deterministic: nodes are visited in index order and ties go to the smallest community id;
//! on large graphs local moving runs in parallel over colour classes of nodes, each class
//! deciding from the same state and applying its moves in node order. The same graph always
//! gives the same partition, whatever the thread count.

use crate::{Epoch, Error, Result};
use graph_engine::{Graph, LogPosition};
use rayon::prelude::*;
use schema::{EdgeKind, VertexKind};

/// The modularity resolution γ (1 is standard modularity).
pub const DEFAULT_RESOLUTION: f64 = 1.0;
/// The most Leiden rounds (local moving, refinement, aggregation).
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
#[derive(Clone, Debug)]
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

/// An undirected weighted graph as a symmetric matrix `A`: an edge {u, v} is stored in both
/// rows, a self-loop once with weight `A_uu`; a node's degree is its row sum.
#[derive(Clone, Debug, Default)]
pub struct Undirected {
    offsets: Vec<usize>,
    targets: Vec<u32>,
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
        Undirected { offsets, targets, weights, degree, total }
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

    fn neighbours(&self, u: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let range = self.offsets[u]..self.offsets[u + 1];
        self.targets[range.clone()].iter().map(|&v| v as usize).zip(self.weights[range].iter().copied())
    }

    /// Modularity of a partition at resolution `gamma`. The weight inside communities is
    /// summed over fixed chunks of nodes in parallel and the chunks' sums added in order, so the
    /// result does not depend on the thread count.
    pub fn modularity(&self, community: &[u32], gamma: f64) -> f64 {
        if self.total == 0.0 {
            return 0.0;
        }
        const CHUNK: usize = 1 << 14;
        let n = self.len();
        let chunks: Vec<f64> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let mut inside = 0.0;
                for u in chunk * CHUNK..((chunk + 1) * CHUNK).min(n) {
                    let c = community[u];
                    for (v, w) in self.neighbours(u) {
                        if community[v] == c {
                            inside += w;
                        }
                    }
                }
                inside
            })
            .collect();
        let inside: f64 = chunks.iter().sum();
        let k = community.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
        let mut tot = vec![0f64; k];
        for u in 0..n {
            tot[community[u] as usize] += self.degree[u];
        }
        let m2 = self.total;
        inside / m2 - gamma * tot.iter().map(|t| (t / m2).powi(2)).sum::<f64>()
    }
}

/// Ties between vertices of `graph` for the clusters job: each vertex's row is its out- and
/// in-neighbours over `kinds`, merged (a tie both ways weighs 2), built in parallel straight from
/// the graph's sorted adjacency.
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
    let rows: Vec<Vec<(u32, f64)>> = (0..n as u32)
        .into_par_iter()
        .map(|u| {
            if graph.kind_at(u) == VertexKind::User {
                return Vec::new(); // users are private; only their masks take part
            }
            let mut row: Vec<(u32, f64)> = Vec::new();
            for &kind in kinds {
                row.extend(graph.out(kind, u).filter(|&v| tie(u, v, kind, true)).map(|v| (v, 1.0)));
                row.extend(graph.inn(kind, u).filter(|&v| tie(u, v, kind, false)).map(|v| (v, 1.0)));
            }
            row.sort_by_key(|&(v, _)| v);
            let mut merged: Vec<(u32, f64)> = Vec::with_capacity(row.len());
            for (v, w) in row {
                match merged.last_mut() {
                    Some(last) if last.0 == v => last.1 += w,
                    _ => merged.push((v, w)),
                }
            }
            merged
        })
        .collect();
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0usize);
    let total_len: usize = rows.iter().map(Vec::len).sum();
    let mut targets = Vec::with_capacity(total_len);
    let mut weights = Vec::with_capacity(total_len);
    for row in &rows {
        targets.extend(row.iter().map(|&(v, _)| v));
        weights.extend(row.iter().map(|&(_, w)| w));
        offsets.push(targets.len());
    }
    let degree: Vec<f64> = (0..n).into_par_iter().map(|u| weights[offsets[u]..offsets[u + 1]].iter().sum()).collect();
    let total = degree.iter().sum();
    Undirected { offsets, targets, weights, degree, total }
}

/// Finds communities in `graph`.
pub fn clusters(graph: &Graph, config: &ClusterConfig) -> Result<Clusters> {
    if !(config.resolution.is_finite() && config.resolution > 0.0) {
        return Err(Error::BadParameter { name: "resolution", value: config.resolution, range: "resolution > 0" });
    }
    let g = undirected(graph, &config.kinds);
    Ok(clusters_of(&g, config, graph.position()))
}

/// Finds communities in an undirected graph (researchers' graphs, tests).
pub fn clusters_of(g: &Undirected, config: &ClusterConfig, position: LogPosition) -> Clusters {
    let raw = match config.method {
        Method::Leiden => leiden(g, config.resolution, config.rounds_max),
        Method::LabelPropagation => label_propagation(g, config.lpa_sweeps_max),
    };
    let community = split_disconnected(g, &raw);
    let count = community.iter().map(|&c| c + 1).max().unwrap_or(0);
    let modularity = g.modularity(&community, 1.0);
    let params = vec![
        ("method", format!("{:?}", config.method)),
        ("resolution", config.resolution.to_string()),
        ("rounds_max", config.rounds_max.to_string()),
        ("lpa_sweeps_max", config.lpa_sweeps_max.to_string()),
        ("kinds", config.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join("+")),
    ];
    Clusters { epoch: Epoch::new("clusters", 1, position, params), community, count, modularity }
}

/// Leiden (Traag, Waltman & van Eck 2019) with deterministic greedy choices.
fn leiden(g: &Undirected, gamma: f64, rounds_max: u32) -> Vec<u32> {
    let n = g.len();
    // membership[v]: v's node in the current aggregate graph.
    let mut membership: Vec<u32> = (0..n as u32).collect();
    let mut graph = g.clone();
    let mut partition: Vec<u32> = (0..n as u32).collect();
    for _ in 0..rounds_max {
        let moved = if graph.len() >= PARALLEL_MOVING_MIN {
            local_moving_parallel(&graph, &mut partition, gamma)
        } else {
            local_moving(&graph, &mut partition, gamma)
        };
        let refined = refine(&graph, &partition, gamma);
        let refined_count = refined.iter().map(|&c| c + 1).max().unwrap_or(0) as usize;
        if !moved && refined_count == graph.len() {
            break;
        }
        // Aggregate on the refined partition; each aggregate node starts in its parent's community.
        let (aggregate, parent) = aggregate(&graph, &refined, &partition);
        for m in membership.iter_mut() {
            *m = refined[*m as usize];
        }
        let stalled = aggregate.len() == graph.len();
        partition = parent;
        graph = aggregate;
        if stalled {
            break;
        }
    }
    membership.iter().map(|&m| partition[m as usize]).collect()
}

/// Graphs at least this large move nodes in parallel (see [`local_moving_parallel`]).
const PARALLEL_MOVING_MIN: usize = 50_000;
/// Colour classes of the parallel local moving.
const COLOURS: u64 = 8;
/// The most passes of the parallel local moving.
const PARALLEL_PASSES_MAX: u32 = 16;

/// Local moving in parallel, still deterministic: nodes fall into colour classes by a hash of
/// their index; for one class at a time every active node's best move is computed from the
/// same state in parallel, then the moves are applied in node order and the movers' neighbours
/// become active again. Nothing depends on the thread count.
fn local_moving_parallel(g: &Undirected, partition: &mut [u32], gamma: f64) -> bool {
    let n = g.len();
    if g.total == 0.0 {
        return false;
    }
    let m2 = g.total;
    let mut tot = community_totals(g, partition, n);
    let colour = |u: usize| crate::power::mix64(u as u64) % COLOURS;
    let classes: Vec<Vec<u32>> =
        (0..COLOURS).map(|c| (0..n).filter(|&u| colour(u) == c).map(|u| u as u32).collect()).collect();
    let mut active = vec![true; n];
    let mut moved_any = false;
    for _ in 0..PARALLEL_PASSES_MAX {
        let mut moved = 0usize;
        for class in &classes {
            let (tot_now, part_now, active_now) = (&tot, &*partition, &active);
            let moves: Vec<(u32, u32)> = class
                .par_iter()
                .filter(|&&u| active_now[u as usize])
                .map_init(Vec::new, |scratch: &mut Vec<(u32, f64)>, &u| {
                    let u = u as usize;
                    scratch.clear();
                    scratch.extend(g.neighbours(u).filter(|&(v, _)| v != u).map(|(v, w)| (part_now[v], w)));
                    scratch.sort_unstable_by_key(|&(c, _)| c);
                    let current = part_now[u];
                    let k = g.degree[u];
                    let gain = |c: u32, w: f64| {
                        let t = tot_now[c as usize] - if c == current { k } else { 0.0 };
                        w - gamma * t * k / m2
                    };
                    let w_current: f64 = scratch.iter().filter(|&&(c, _)| c == current).map(|&(_, w)| w).sum();
                    let (mut best, mut best_gain) = (current, gain(current, w_current));
                    let mut i = 0;
                    while i < scratch.len() {
                        let c = scratch[i].0;
                        let mut w = 0.0;
                        while i < scratch.len() && scratch[i].0 == c {
                            w += scratch[i].1;
                            i += 1;
                        }
                        let candidate = gain(c, w);
                        // Strictly better only: on ties the node stays, else the smallest id wins
                        // (the runs come in increasing community order).
                        if c != current && candidate > best_gain + 1e-12 {
                            best = c;
                            best_gain = candidate;
                        }
                    }
                    (u as u32, best)
                })
                .filter(|&(u, best)| best != part_now[u as usize])
                .collect();
            for &u in class {
                active[u as usize] = false;
            }
            for &(u, best) in &moves {
                let u = u as usize;
                let k = g.degree[u];
                tot[partition[u] as usize] -= k;
                tot[best as usize] += k;
                partition[u] = best;
                for (v, _) in g.neighbours(u) {
                    active[v] = true;
                }
            }
            moved += moves.len();
        }
        moved_any |= moved > 0;
        if moved == 0 {
            break;
        }
    }
    renumber(partition);
    moved_any
}

/// The total degree of each of `count` communities.
fn community_totals(g: &Undirected, partition: &[u32], count: usize) -> Vec<f64> {
    let mut tot = vec![0f64; count];
    for (u, &c) in partition.iter().enumerate() {
        tot[c as usize] += g.degree[u];
    }
    tot
}

/// Fast local moving: a queue of nodes; a node moves to the neighbouring community with the
/// largest modularity gain; its neighbours outside that community are queued again.
fn local_moving(g: &Undirected, partition: &mut [u32], gamma: f64) -> bool {
    let n = g.len();
    if g.total == 0.0 {
        return false;
    }
    let m2 = g.total;
    let mut tot = community_totals(g, partition, n);
    let mut queue: std::collections::VecDeque<usize> = (0..n).collect();
    let mut queued = vec![true; n];
    let mut to_community = vec![0f64; n];
    let mut touched: Vec<usize> = Vec::new();
    let mut moved_any = false;
    while let Some(u) = queue.pop_front() {
        queued[u] = false;
        let current = partition[u] as usize;
        for (v, w) in g.neighbours(u) {
            if v != u {
                let c = partition[v] as usize;
                if to_community[c] == 0.0 {
                    touched.push(c);
                }
                to_community[c] += w;
            }
        }
        let k = g.degree[u];
        tot[current] -= k;
        let gain = |c: usize, w: f64| w - gamma * tot[c] * k / m2;
        let mut best = current;
        let mut best_gain = gain(current, to_community[current]);
        // Ties go to the smallest community, whatever order the neighbours came in.
        for &c in &touched {
            let candidate = gain(c, to_community[c]);
            if candidate > best_gain + 1e-12 || (candidate > best_gain - 1e-12 && c < best && best != current) {
                best = c;
                best_gain = candidate;
            }
        }
        tot[best] += k;
        for &c in &touched {
            to_community[c] = 0.0;
        }
        touched.clear();
        if best != current {
            partition[u] = best as u32;
            moved_any = true;
            for (v, _) in g.neighbours(u) {
                if partition[v] as usize != best && !queued[v] {
                    queued[v] = true;
                    queue.push_back(v);
                }
            }
        }
    }
    renumber(partition);
    moved_any
}

/// Leiden's refinement: inside each community, nodes start alone and merge greedily into
/// well-connected sub-communities; the sub-communities are what gets aggregated, so every
/// community stays connected.
///
/// A node only ever merges with nodes of its own community, so communities are refined
/// independently, in parallel, each visiting its nodes in increasing order: the result is the
/// one a single pass over all nodes in order gives ([`refine_sequential`] in the tests), whatever
/// the thread count.
fn refine(g: &Undirected, partition: &[u32], gamma: f64) -> Vec<u32> {
    let n = g.len();
    let m2 = g.total.max(f64::MIN_POSITIVE);
    let k = partition.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    let community_degree = community_totals(g, partition, k);
    let (start, members) = group_by(partition, k);
    let representatives: Vec<u32> = (0..k)
        .into_par_iter()
        .flat_map_iter(|c| {
            let m = &members[start[c]..start[c + 1]];
            refine_community(g, partition, c as u32, m, community_degree[c], gamma, m2).into_iter()
        })
        .collect();
    // `representatives` follows `members`; put it back in node order.
    let mut refined = vec![0u32; n];
    for (&u, &r) in members.iter().zip(&representatives) {
        refined[u as usize] = r;
    }
    renumber(&mut refined);
    refined
}

/// Refines one community (its members in increasing order); returns each member's
/// sub-community, named by a member's node index.
fn refine_community(
    g: &Undirected,
    partition: &[u32],
    c: u32,
    members: &[u32],
    kc: f64,
    gamma: f64,
    m2: f64,
) -> Vec<u32> {
    let s = members.len();
    if s == 1 {
        return members.to_vec();
    }
    let local = |v: usize| members.binary_search(&(v as u32)).expect("a member of the community");
    // Sub-communities by local index of their first member; start alone.
    let mut refined: Vec<u32> = (0..s as u32).collect();
    let mut sub_degree: Vec<f64> = members.iter().map(|&u| g.degree[u as usize]).collect();
    let mut external: Vec<f64> = members
        .iter()
        .map(|&u| {
            let u = u as usize;
            g.neighbours(u).filter(|&(v, _)| v != u && partition[v] == c).map(|(_, w)| w).sum()
        })
        .collect();
    let mut singleton = vec![true; s];
    let mut to_sub = vec![0f64; s];
    let mut touched: Vec<usize> = Vec::new();
    for i in 0..s {
        if !singleton[i] {
            continue;
        }
        let u = members[i] as usize;
        let ku = g.degree[u];
        if external[i] < gamma * ku * (kc - ku) / m2 {
            continue;
        }
        for (v, w) in g.neighbours(u) {
            if v != u && partition[v] == c {
                let t = refined[local(v)] as usize;
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
            let kt = sub_degree[t];
            if external[t] < gamma * kt * (kc - kt) / m2 {
                continue;
            }
            let gain = to_sub[t] - gamma * kt * ku / m2;
            if gain > best_gain + 1e-12 {
                best = t;
                best_gain = gain;
            }
        }
        for &t in &touched {
            to_sub[t] = 0.0;
        }
        touched.clear();
        if best != i {
            let link: f64 = g
                .neighbours(u)
                .filter(|&(v, _)| v != u && partition[v] == c && refined[local(v)] as usize == best)
                .map(|(_, w)| w)
                .sum();
            refined[i] = best as u32;
            singleton[i] = false;
            singleton[best] = false;
            sub_degree[best] += ku;
            external[best] = external[best] + external[i] - 2.0 * link;
        }
    }
    refined.iter().map(|&t| members[t as usize]).collect()
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

#[cfg(test)]
/// The refinement one node at a time over the whole graph: the definition [`refine`] must match.
fn refine_sequential(g: &Undirected, partition: &[u32], gamma: f64) -> Vec<u32> {
    let n = g.len();
    let m2 = g.total.max(f64::MIN_POSITIVE);
    let k = partition.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    let community_degree = community_totals(g, partition, k);
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
        // Only a node well connected to its community moves.
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
            // Only into a sub-community well connected to the rest of the community.
            let ks = sub_degree[s];
            if external[s] < gamma * ks * (kc - ks) / m2 {
                continue;
            }
            let gain = to_sub[s] - gamma * ks * ku / m2;
            if gain > best_gain + 1e-12 {
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

/// The graph of sub-communities (`A_CD = Σ_{u∈C, v∈D} A_uv`, so degrees and internal weights
/// are kept), and the community each starts in. Members are grouped by sub-community with a
/// counting pass, and each sub-community's row is gathered and merged on its own, in parallel.
fn aggregate(g: &Undirected, refined: &[u32], partition: &[u32]) -> (Undirected, Vec<u32>) {
    let k = refined.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    let mut parent = vec![0u32; k];
    for u in 0..g.len() {
        parent[refined[u] as usize] = partition[u];
    }
    let (start, members) = group_by(refined, k);
    let rows: Vec<(Vec<u32>, Vec<f64>)> = (0..k)
        .into_par_iter()
        .map(|c| {
            let mut row: Vec<(u32, f64)> = Vec::new();
            for &u in &members[start[c]..start[c + 1]] {
                row.extend(g.neighbours(u as usize).map(|(v, w)| (refined[v], w)));
            }
            // Stable, so equal targets add up in a fixed order.
            row.sort_by_key(|&(d, _)| d);
            let mut targets = Vec::with_capacity(row.len());
            let mut weights: Vec<f64> = Vec::with_capacity(row.len());
            for (d, w) in row {
                if targets.last() == Some(&d) {
                    *weights.last_mut().expect("a weight per target") += w;
                } else {
                    targets.push(d);
                    weights.push(w);
                }
            }
            (targets, weights)
        })
        .collect();
    let mut offsets = Vec::with_capacity(k + 1);
    offsets.push(0usize);
    let mut targets = Vec::new();
    let mut weights = Vec::new();
    for (t, w) in rows {
        targets.extend_from_slice(&t);
        weights.extend_from_slice(&w);
        offsets.push(targets.len());
    }
    let degree: Vec<f64> = (0..k).map(|c| weights[offsets[c]..offsets[c + 1]].iter().sum()).collect();
    let total = degree.iter().sum();
    renumber(&mut parent);
    (Undirected { offsets, targets, weights, degree, total }, parent)
}

/// Label propagation: every node takes the label most of its neighbours' weight carries
/// (ties to the smallest label), in index order, until nothing changes.
fn label_propagation(g: &Undirected, sweeps_max: u32) -> Vec<u32> {
    let n = g.len();
    let mut label: Vec<u32> = (0..n as u32).collect();
    let mut weight_of = vec![0f64; n];
    let mut touched = Vec::new();
    for _ in 0..sweeps_max {
        let mut changed = false;
        for u in 0..n {
            for (v, w) in g.neighbours(u) {
                if v != u {
                    let l = label[v] as usize;
                    if weight_of[l] == 0.0 {
                        touched.push(l);
                    }
                    weight_of[l] += w;
                }
            }
            touched.sort_unstable();
            let current = label[u] as usize;
            let mut best = current;
            let mut best_weight = if touched.contains(&current) { weight_of[current] } else { 0.0 };
            for &l in &touched {
                if weight_of[l] > best_weight + 1e-12 {
                    best = l;
                    best_weight = weight_of[l];
                }
            }
            for &l in &touched {
                weight_of[l] = 0.0;
            }
            touched.clear();
            if best != current {
                label[u] = best as u32;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    label
}

/// Splits every community into its connected components and numbers communities by their
/// smallest node. Communities are searched independently, in parallel.
fn split_disconnected(g: &Undirected, community: &[u32]) -> Vec<u32> {
    let n = g.len();
    let k = community.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    let (start, members) = group_by(community, k);
    let representatives: Vec<u32> = (0..k)
        .into_par_iter()
        .flat_map_iter(|c| {
            let m = &members[start[c]..start[c + 1]];
            let mut component = vec![u32::MAX; m.len()];
            let mut stack = Vec::new();
            for first in 0..m.len() {
                if component[first] != u32::MAX {
                    continue;
                }
                // Members come in increasing order: `first` is its component's smallest node.
                component[first] = m[first];
                stack.push(m[first] as usize);
                while let Some(u) = stack.pop() {
                    for (v, _) in g.neighbours(u) {
                        if community[v] as usize == c {
                            let i = m.binary_search(&(v as u32)).expect("a member");
                            if component[i] == u32::MAX {
                                component[i] = m[first];
                                stack.push(v);
                            }
                        }
                    }
                }
            }
            component.into_iter()
        })
        .collect();
    let mut out = vec![0u32; n];
    for (&u, &r) in members.iter().zip(&representatives) {
        out[u as usize] = r;
    }
    renumber(&mut out);
    out
}

/// Renames labels to 0.. in order of first appearance.
fn renumber(labels: &mut [u32]) {
    let size = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
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

    /// A random graph with planted groups, and the partition local moving finds on it.
    fn planted(n: usize, seed: u64) -> (Undirected, Vec<u32>) {
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
        local_moving(&g, &mut partition, 1.0);
        (g, partition)
    }

    #[test]
    fn parallel_refinement_is_the_sequential_refinement() {
        for (n, seed) in [(50, 1), (1_000, 2), (5_000, 3)] {
            let (g, partition) = planted(n, seed);
            for gamma in [0.5, 1.0, 2.0] {
                assert_eq!(refine(&g, &partition, gamma), refine_sequential(&g, &partition, gamma), "n {n} γ {gamma}");
            }
            // Also from singletons and from one community holding everything.
            let alone: Vec<u32> = (0..n as u32).collect();
            assert_eq!(refine(&g, &alone, 1.0), refine_sequential(&g, &alone, 1.0));
            let one = vec![0u32; n];
            assert_eq!(refine(&g, &one, 1.0), refine_sequential(&g, &one, 1.0));
        }
    }

    #[test]
    fn disconnected_communities_split_and_are_numbered_by_their_smallest_node() {
        // 0-1 and 3-4 share community 7 but no edge; 2 is alone in community 1.
        let g = Undirected::from_edges(5, &[(0, 1, 1.0), (3, 4, 1.0), (1, 2, 1.0)]);
        assert_eq!(split_disconnected(&g, &[7, 7, 1, 7, 7]), [0, 0, 1, 2, 2]);
        let (g, partition) = planted(2_000, 9);
        let split = split_disconnected(&g, &partition);
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
}
