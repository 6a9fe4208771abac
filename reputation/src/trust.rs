//! Trust: EigenTrust / personalised PageRank over positive local trust, with pre-trust in
//! seeds, dangling mass returned to the seeds, a user's masks collapsed, a distrust discount
//! from negative ratings and a degree-normalised sybil flag. The math is in `README.md`.

use crate::power::{Walk, det_sum, iterate};
use crate::{Epoch, Error, Result};
use graph_engine::{Graph, LogPosition};
use rayon::prelude::*;
use schema::{EdgeKind, Id, VertexKind};

/// Damping: the share of trust that follows edges rather than returning to the seeds.
pub const DEFAULT_DAMPING: f64 = 0.85;
/// The most power iterations.
pub const DEFAULT_ITERATIONS_MAX: u32 = 200;
/// Stop when the L1 change of an iteration falls below this.
pub const DEFAULT_TOLERANCE: f64 = 1e-10;
/// Local trust per rating point (a rating of 10 gives 10 × this).
pub const DEFAULT_RATING_WEIGHT: f64 = 0.1;
/// Local trust of an endorsement (of a mask, or of a work, shared among its authors).
pub const DEFAULT_ENDORSE_WEIGHT: f64 = 0.5;
/// Local trust of a completed trade.
pub const DEFAULT_TRADE_WEIGHT: f64 = 0.5;
/// Local trust of a collaboration (both ways).
pub const DEFAULT_COLLABORATE_WEIGHT: f64 = 0.5;
/// Local trust of a follow: 0 on the platform ("reputation over vanity metrics"); researchers'
/// unsigned edge lists use 1.
pub const DEFAULT_FOLLOW_WEIGHT: f64 = 0.0;
/// How much of its trust a mask loses per unit of distrust received.
pub const DEFAULT_DISTRUST_WEIGHT: f64 = 0.5;
/// A mask is flagged when its trust per trusting in-edge is below this share of the median.
pub const DEFAULT_SYBIL_RATIO: f64 = 0.1;
/// Masks with fewer trusting in-edges than this are never flagged.
pub const DEFAULT_SYBIL_MIN_IN_DEGREE: u32 = 3;

/// The parameters of the trust job.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustConfig {
    /// See [`DEFAULT_DAMPING`].
    pub damping: f64,
    /// See [`DEFAULT_ITERATIONS_MAX`].
    pub iterations_max: u32,
    /// See [`DEFAULT_TOLERANCE`].
    pub tolerance: f64,
    /// See [`DEFAULT_RATING_WEIGHT`].
    pub rating_weight: f64,
    /// See [`DEFAULT_ENDORSE_WEIGHT`].
    pub endorse_weight: f64,
    /// See [`DEFAULT_TRADE_WEIGHT`].
    pub trade_weight: f64,
    /// See [`DEFAULT_COLLABORATE_WEIGHT`].
    pub collaborate_weight: f64,
    /// See [`DEFAULT_FOLLOW_WEIGHT`].
    pub follow_weight: f64,
    /// See [`DEFAULT_DISTRUST_WEIGHT`].
    pub distrust_weight: f64,
    /// See [`DEFAULT_SYBIL_RATIO`].
    pub sybil_ratio: f64,
    /// See [`DEFAULT_SYBIL_MIN_IN_DEGREE`].
    pub sybil_min_in_degree: u32,
}

impl Default for TrustConfig {
    fn default() -> TrustConfig {
        TrustConfig {
            damping: DEFAULT_DAMPING,
            iterations_max: DEFAULT_ITERATIONS_MAX,
            tolerance: DEFAULT_TOLERANCE,
            rating_weight: DEFAULT_RATING_WEIGHT,
            endorse_weight: DEFAULT_ENDORSE_WEIGHT,
            trade_weight: DEFAULT_TRADE_WEIGHT,
            collaborate_weight: DEFAULT_COLLABORATE_WEIGHT,
            follow_weight: DEFAULT_FOLLOW_WEIGHT,
            distrust_weight: DEFAULT_DISTRUST_WEIGHT,
            sybil_ratio: DEFAULT_SYBIL_RATIO,
            sybil_min_in_degree: DEFAULT_SYBIL_MIN_IN_DEGREE,
        }
    }
}

impl TrustConfig {
    fn check(&self) -> Result<()> {
        let checks = [
            ("damping", self.damping, 0.0..1.0, "0 <= damping < 1"),
            ("tolerance", self.tolerance, 0.0..1.0, "0 <= tolerance < 1"),
            ("distrust_weight", self.distrust_weight, 0.0..1e6, "0 <= distrust_weight"),
            ("sybil_ratio", self.sybil_ratio, 0.0..1e6, "0 <= sybil_ratio"),
        ];
        for (name, value, range, text) in checks {
            if !range.contains(&value) {
                return Err(Error::BadParameter { name, value, range: text });
            }
        }
        for (name, value) in [
            ("rating_weight", self.rating_weight),
            ("endorse_weight", self.endorse_weight),
            ("trade_weight", self.trade_weight),
            ("collaborate_weight", self.collaborate_weight),
            ("follow_weight", self.follow_weight),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::BadParameter { name, value, range: "a finite weight >= 0" });
            }
        }
        Ok(())
    }

    fn params(&self, seeds: usize) -> Vec<(&'static str, String)> {
        vec![
            ("damping", self.damping.to_string()),
            ("iterations_max", self.iterations_max.to_string()),
            ("tolerance", self.tolerance.to_string()),
            ("rating_weight", self.rating_weight.to_string()),
            ("endorse_weight", self.endorse_weight.to_string()),
            ("trade_weight", self.trade_weight.to_string()),
            ("collaborate_weight", self.collaborate_weight.to_string()),
            ("follow_weight", self.follow_weight.to_string()),
            ("distrust_weight", self.distrust_weight.to_string()),
            ("sybil_ratio", self.sybil_ratio.to_string()),
            ("sybil_min_in_degree", self.sybil_min_in_degree.to_string()),
            ("seeds", seeds.to_string()),
        ]
    }
}

/// Local trust as a weighted graph over dense vertex indexes, both directions.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct LocalTrust {
    /// In-edges (transposed): sources of `v` and the weight of each.
    pub in_offsets: Vec<u64>,
    pub sources: Vec<u32>,
    pub weights: Vec<f32>,
    /// Total positive out-weight per vertex.
    pub out_weight: Vec<f64>,
    /// Total negative (distrust) out-weight per vertex, and the negative edges.
    pub negative_out: Vec<f64>,
    pub negatives: Vec<(u32, u32, f64)>,
}

/// Vertices per parallel work unit when gathering local trust.
const BLOCK: usize = 4096;

/// One block of sources: out-degrees, merged (target, weight) pairs, negative edges.
type Block = (Vec<u32>, Vec<(u32, f64)>, Vec<(u32, u32, f64)>);

fn local_trust(graph: &Graph, config: &TrustConfig) -> LocalTrust {
    let n = graph.vertex_count();
    let is_mask = |v: u32| graph.kind_at(v) == VertexKind::Mask;
    // Out-edges per source block, merged per (src, dst); own masks never vouch for each other.
    let blocks: Vec<Block> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut degrees = Vec::with_capacity(BLOCK);
            let mut out: Vec<(u32, f64)> = Vec::new();
            let mut negatives = Vec::new();
            let mut scratch: Vec<(u32, f64)> = Vec::new();
            for u in (b * BLOCK..((b + 1) * BLOCK).min(n)).map(|u| u as u32) {
                scratch.clear();
                if is_mask(u) {
                    // No edge is weighed by who owns its ends: a score that did would tell
                    // anyone who can read scores which masks share an owner. The rules refuse
                    // a user's masks dealing with each other at the door instead.
                    let mut add = |v: u32, w: f64| {
                        if v != u && w > 0.0 && is_mask(v) {
                            scratch.push((v, w));
                        }
                    };
                    for (v, p) in graph.out_edges(EdgeKind::Rates, u) {
                        let rating = f64::from(p.weight.unwrap_or(0.0));
                        if rating > 0.0 {
                            add(v, config.rating_weight * rating);
                        } else if rating < 0.0 && v != u {
                            negatives.push((u, v, -config.rating_weight * rating));
                        }
                    }
                    for v in graph.out(EdgeKind::Endorses, u) {
                        if graph.kind_at(v) == VertexKind::Work {
                            // Endorsing a work trusts its authors, by share.
                            for (author, p) in
                                graph.inn(EdgeKind::Authored, v).map(|a| (a, graph.edge(EdgeKind::Authored, a, v)))
                            {
                                let share = p.and_then(|p| p.weight).map_or(1.0, f64::from);
                                add(author, config.endorse_weight * share);
                            }
                        } else if graph.kind_at(v) == VertexKind::Post {
                            // Endorsing a post trusts its writer, as a work its authors.
                            for writer in graph.inn(EdgeKind::Wrote, v) {
                                add(writer, config.endorse_weight);
                            }
                        } else {
                            add(v, config.endorse_weight);
                        }
                    }
                    for v in graph.out(EdgeKind::Traded, u) {
                        add(v, config.trade_weight);
                    }
                    for v in graph.out(EdgeKind::Collaborates, u).chain(graph.inn(EdgeKind::Collaborates, u)) {
                        add(v, config.collaborate_weight);
                    }
                    if config.follow_weight > 0.0 {
                        for v in graph.out(EdgeKind::Follows, u) {
                            add(v, config.follow_weight);
                        }
                    }
                }
                scratch.sort_unstable_by_key(|&(v, _)| v);
                let start = out.len();
                for &(v, w) in &scratch {
                    let merges = out.len() > start && out.last().is_some_and(|last| last.0 == v);
                    if merges {
                        out.last_mut().expect("non-empty").1 += w;
                    } else {
                        out.push((v, w));
                    }
                }
                degrees.push((out.len() - start) as u32);
            }
            (degrees, out, negatives)
        })
        .collect();
    let mut out_offsets = Vec::with_capacity(n + 1);
    out_offsets.push(0u64);
    let mut targets = Vec::new();
    let mut weights = Vec::new();
    let mut negatives = Vec::new();
    for (degrees, out, neg) in blocks {
        for d in degrees {
            out_offsets.push(out_offsets.last().copied().unwrap_or(0) + u64::from(d));
        }
        targets.extend(out.iter().map(|&(v, _)| v));
        weights.extend(out.iter().map(|&(_, w)| w as f32));
        negatives.extend(neg);
    }
    let out_weight: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|u| weights[out_offsets[u] as usize..out_offsets[u + 1] as usize].iter().map(|&w| f64::from(w)).sum())
        .collect();
    let mut negative_out = vec![0f64; n];
    for &(u, _, w) in &negatives {
        negative_out[u as usize] += w;
    }
    // Transpose: sources of each vertex, in increasing source order.
    let mut in_offsets = vec![0u64; n + 1];
    for &v in &targets {
        in_offsets[v as usize + 1] += 1;
    }
    for i in 1..=n {
        in_offsets[i] += in_offsets[i - 1];
    }
    let mut cursor = in_offsets[..n].to_vec();
    let mut sources = vec![0u32; targets.len()];
    let mut in_weights = vec![0f32; targets.len()];
    for u in 0..n {
        for e in out_offsets[u] as usize..out_offsets[u + 1] as usize {
            let slot = &mut cursor[targets[e] as usize];
            sources[*slot as usize] = u as u32;
            in_weights[*slot as usize] = weights[e];
            *slot += 1;
        }
    }
    LocalTrust { in_offsets, sources, weights: in_weights, out_weight, negative_out, negatives }
}

/// One mask's trust, explained: where it came from, in amounts that add up to its score
/// before the distrust discount.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// The trust before the distrust discount (`teleport + dangling + Σ edges`).
    pub before_discount: f64,
    /// From pre-trust (the mask is a seed, or pre-trust is uniform).
    pub teleport: f64,
    /// From dangling masks' mass returned to the seeds.
    pub dangling: f64,
    /// The largest contributions from trusting masks: (mask, amount), largest first.
    pub edges: Vec<(Id, f64)>,
    /// The distrust received, and from whom: (mask, amount), largest first.
    pub distrust: Vec<(Id, f64)>,
}

/// The result of the trust job.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TrustScores {
    /// What it was computed from.
    pub epoch: Epoch,
    /// Trust per dense vertex index (0 for vertices that are not masks); sums to 1 over masks
    /// unless nothing is trusted at all.
    pub trust: Vec<f64>,
    /// Masks flagged as likely sybils (see `README.md`).
    pub sybil: Vec<bool>,
    /// Whether pre-trust was uniform (no seeds given).
    pub uniform_pretrust: bool,
    /// Power iterations run, and the last L1 change.
    pub iterations: u32,
    /// The last L1 change.
    pub delta: f64,
    /// How long the power iterations took (diagnostics; not part of the scores).
    pub iteration_time: std::time::Duration,
    before: Vec<f64>,
    teleport: Vec<f64>,
    dangling_mass: f64,
    /// What the discounted scores were divided by to sum to 1 (0: not normalised).
    #[serde(default)]
    norm: f64,
    local: LocalTrust,
    damping: f64,
    ids: Vec<Id>,
}

/// Computes trust over `graph`, with pre-trust in `seeds` (dense vertex indexes of masks;
/// empty means uniform pre-trust over users).
pub fn trust(graph: &Graph, seeds: &[u32], config: &TrustConfig) -> Result<TrustScores> {
    config.check()?;
    let n = graph.vertex_count();
    let local = local_trust(graph, config);
    let teleport = pretrust(graph, seeds);
    let inv_out: Vec<f64> = local.out_weight.par_iter().map(|&w| if w > 0.0 { 1.0 / w } else { 0.0 }).collect();
    // Unit weights everywhere (an unsigned edge list) take the multiply-free path.
    let unit = local.weights.par_iter().all(|&w| w == 1.0);
    let walk = Walk {
        in_offsets: &local.in_offsets,
        sources: &local.sources,
        weights: (!unit).then_some(&local.weights[..]),
        inv_out: &inv_out,
        teleport: &teleport,
        dangling_to: &teleport,
        damping: config.damping,
        iterations_max: config.iterations_max,
        tolerance: config.tolerance,
    };
    let started = std::time::Instant::now();
    let converged = iterate(&walk);
    let iteration_time = started.elapsed();
    let before = converged.scores;
    let dangling_mass = det_sum(n, |u| if inv_out[u] == 0.0 { before[u] } else { 0.0 });

    // Distrust: each negative rating passes on the rater's trust, in proportion to the share
    // of the rater's judgements it is.
    let mut distrust = vec![0f64; n];
    for &(u, v, w) in &local.negatives {
        let total = local.out_weight[u as usize] + local.negative_out[u as usize];
        distrust[v as usize] += before[u as usize] * w / total;
    }
    let discounted: Vec<f64> =
        (0..n).into_par_iter().map(|v| (before[v] - config.distrust_weight * distrust[v]).max(0.0)).collect();
    let total = det_sum(n, |v| discounted[v]);
    let trust: Vec<f64> = if total > 0.0 { discounted.par_iter().map(|&t| t / total).collect() } else { discounted };

    // Sybil flag: trust per trusting in-edge far below the median of masks like it.
    let in_degree = |v: usize| (local.in_offsets[v + 1] - local.in_offsets[v]) as u32;
    let mut ratios: Vec<f64> = (0..n)
        .filter(|&v| in_degree(v) >= config.sybil_min_in_degree)
        .map(|v| trust[v] / f64::from(in_degree(v)))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios.get(ratios.len() / 2).copied().unwrap_or(0.0);
    let sybil = (0..n)
        .into_par_iter()
        .map(|v| {
            in_degree(v) >= config.sybil_min_in_degree
                && trust[v] / f64::from(in_degree(v)) < config.sybil_ratio * median
        })
        .collect();

    let ids = (0..n as u32).map(|v| graph.id_at(v)).collect();
    let epoch = Epoch::new("trust", 1, graph.position(), config.params(seeds.len()));
    Ok(TrustScores {
        epoch,
        trust,
        sybil,
        uniform_pretrust: seeds.is_empty(),
        iterations: converged.iterations,
        delta: converged.delta,
        iteration_time,
        before,
        teleport,
        dangling_mass,
        norm: if total > 0.0 { total } else { 0.0 },
        local,
        damping: config.damping,
        ids,
    })
}

/// Pre-trust: uniform over the seeds, or over all masks when there are no seeds. Per mask, not
/// per user: a split by owner would publish, through every teleport share and every score
/// downstream, which masks share an owner (a shadow mask that founded a world would halve its
/// owner's other founder's share). Seeds are designated by governance (founders, curators), so
/// making masks still makes no pre-trust on the platform.
fn pretrust(graph: &Graph, seeds: &[u32]) -> Vec<f64> {
    let n = graph.vertex_count();
    let chosen: Vec<u32> = if seeds.is_empty() {
        (0..n as u32).filter(|&v| graph.kind_at(v) == VertexKind::Mask).collect()
    } else {
        let mut s = seeds.to_vec();
        s.sort_unstable();
        s.dedup();
        s
    };
    let mut teleport = vec![0f64; n];
    let share = 1.0 / chosen.len().max(1) as f64;
    for &v in &chosen {
        teleport[v as usize] = share;
    }
    teleport
}

impl TrustScores {
    /// Where mask `v`'s trust came from: the `top` largest contributions.
    pub fn explain(&self, v: u32, top: usize) -> Explanation {
        let v = v as usize;
        let d = self.damping;
        let range = self.local.in_offsets[v] as usize..self.local.in_offsets[v + 1] as usize;
        let mut edges: Vec<(Id, f64)> = self.local.sources[range.clone()]
            .iter()
            .zip(&self.local.weights[range])
            .map(|(&u, &w)| {
                let u = u as usize;
                (self.ids[u], d * self.before[u] * f64::from(w) / self.local.out_weight[u])
            })
            .collect();
        edges.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        edges.truncate(top);
        let mut distrust: Vec<(Id, f64)> = self
            .local
            .negatives
            .iter()
            .filter(|&&(_, t, _)| t as usize == v)
            .map(|&(u, _, w)| {
                let u = u as usize;
                (self.ids[u], self.before[u] * w / (self.local.out_weight[u] + self.local.negative_out[u]))
            })
            .collect();
        distrust.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        distrust.truncate(top);
        Explanation {
            before_discount: self.before[v],
            teleport: (1.0 - d) * self.teleport[v],
            dangling: d * self.dangling_mass * self.teleport[v],
            edges,
            distrust,
        }
    }

    /// The trust, and its explanation, of a mask with no edges and no pre-trust of its own
    /// in this epoch: what an old mask that never acted has, and what a mask made after the
    /// epoch is given, so that no score tells a new mask from an idle one. Zero when there
    /// are seeds; the uniform teleport share, and its part of the dangling mass, when not.
    pub fn isolated(&self) -> (f64, Explanation) {
        let share =
            if self.uniform_pretrust { self.teleport.iter().copied().find(|&t| t > 0.0).unwrap_or(0.0) } else { 0.0 };
        let d = self.damping;
        let (teleport, dangling) = ((1.0 - d) * share, d * self.dangling_mass * share);
        let before = teleport + dangling;
        let trust = if self.norm > 0.0 { before / self.norm } else { before };
        (trust, Explanation { before_discount: before, teleport, dangling, edges: Vec::new(), distrust: Vec::new() })
    }

    /// The log position the scores were computed at.
    pub fn position(&self) -> LogPosition {
        LogPosition { seq: self.epoch.log_seq, hash: self.epoch.log_hash }
    }
}
