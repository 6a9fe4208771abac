//! Contribution: credit flowing over the creative graph. A work's value comes from who values
//! it (endorsements weighted by the endorser's trust), decays with age, passes part of itself
//! upstream to what it remixes, and is shared among its authors; masks add what they earn from
//! collaborations, completed trades and governance. The math is in `README.md`.

use crate::{Epoch, Error, Result, TrustScores};
use graph_engine::Graph;
use rayon::prelude::*;
use schema::{EdgeKind, Id, VertexKind};

/// Share of a remix's value passed on to the works it remixes.
pub const DEFAULT_UPSTREAM_SHARE: f64 = 0.3;
/// Half-life of value, in days.
pub const DEFAULT_HALF_LIFE_DAYS: f64 = 180.0;
/// Credit per collaboration, times the collaborator's trust (× number of masks).
pub const DEFAULT_COLLABORATION_CREDIT: f64 = 0.5;
/// Credit per completed trade, times the counterparty's trust (× number of masks).
pub const DEFAULT_TRADE_CREDIT: f64 = 0.5;
/// Credit per vote cast in governance.
pub const DEFAULT_VOTE_CREDIT: f64 = 0.05;

/// The parameters of the contribution job.
#[derive(Clone, Debug, PartialEq)]
pub struct ContributionConfig {
    /// See [`DEFAULT_UPSTREAM_SHARE`].
    pub upstream_share: f64,
    /// See [`DEFAULT_HALF_LIFE_DAYS`].
    pub half_life_days: f64,
    /// See [`DEFAULT_COLLABORATION_CREDIT`].
    pub collaboration_credit: f64,
    /// See [`DEFAULT_TRADE_CREDIT`].
    pub trade_credit: f64,
    /// See [`DEFAULT_VOTE_CREDIT`].
    pub vote_credit: f64,
}

impl Default for ContributionConfig {
    fn default() -> ContributionConfig {
        ContributionConfig {
            upstream_share: DEFAULT_UPSTREAM_SHARE,
            half_life_days: DEFAULT_HALF_LIFE_DAYS,
            collaboration_credit: DEFAULT_COLLABORATION_CREDIT,
            trade_credit: DEFAULT_TRADE_CREDIT,
            vote_credit: DEFAULT_VOTE_CREDIT,
        }
    }
}

/// Where a mask's contribution came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContributionExplanation {
    /// The total.
    pub total: f64,
    /// Credit from works, by work, largest first: (work, amount).
    pub works: Vec<(Id, f64)>,
    /// From collaborations.
    pub collaborations: f64,
    /// From completed trades.
    pub trades: f64,
    /// From governance (votes).
    pub governance: f64,
}

/// The result of the contribution job.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Contribution {
    /// What it was computed from (including the trust epoch it used).
    pub epoch: Epoch,
    /// Contribution per dense vertex index (0 for vertices that are not masks).
    pub score: Vec<f64>,
    /// Each work's value after upstream credit (0 for vertices that are not works).
    pub work_value: Vec<f64>,
    parts: Vec<[f64; 3]>,
    ids: Vec<Id>,
    share_of: Vec<Vec<(u32, f64)>>,
}

/// Computes contribution from `graph`, weighting endorsements, collaborations and trades by
/// `trust` (computed on the same graph).
pub fn contribution(graph: &Graph, trust: &TrustScores, config: &ContributionConfig) -> Result<Contribution> {
    if !(0.0..1.0).contains(&config.upstream_share) {
        return Err(Error::BadParameter {
            name: "upstream_share",
            value: config.upstream_share,
            range: "0 <= share < 1",
        });
    }
    if config.half_life_days.is_nan() || config.half_life_days <= 0.0 {
        return Err(Error::BadParameter { name: "half_life_days", value: config.half_life_days, range: "> 0" });
    }
    let n = graph.vertex_count();
    let t = &trust.trust;
    // Trust is a distribution over masks; scale it so that an average mask weighs 1.
    let masks = (0..n as u32).filter(|&v| graph.kind_at(v) == VertexKind::Mask).count().max(1) as f64;
    let weight = |v: u32| t.get(v as usize).copied().unwrap_or(0.0) * masks;
    // "Now" is the newest edge time in the graph, not the wall clock: same log, same scores.
    let now_ms = (0..n as u32)
        .into_par_iter()
        .map(|v| {
            EdgeKind::ALL
                .iter()
                .flat_map(|&k| graph.out_edges(k, v).filter_map(|(_, p)| p.time_ms).collect::<Vec<_>>())
                .max()
                .unwrap_or(i64::MIN)
        })
        .max()
        .unwrap_or(i64::MIN);
    let decay = |time: Option<i64>| match time {
        Some(t) if now_ms > t => 0.5f64.powf((now_ms - t) as f64 / 86_400_000.0 / config.half_life_days),
        _ => 1.0,
    };

    // Base value of each work: trusted endorsements, decayed by the endorsement's age.
    let mut value: Vec<f64> = (0..n as u32)
        .into_par_iter()
        .map(|w| {
            if graph.kind_at(w) != VertexKind::Work {
                return 0.0;
            }
            graph
                .inn(EdgeKind::Endorses, w)
                .map(|e| weight(e) * decay(graph.edge(EdgeKind::Endorses, e, w).and_then(|p| p.time_ms)))
                .sum()
        })
        .collect();
    // Upstream credit along remix chains, newest first (a remix chain never has a cycle):
    // process works in an order where every remix comes before what it remixes.
    let order = remix_order(graph);
    for &w in &order {
        let originals: Vec<u32> = graph.out(EdgeKind::RemixOf, w).collect();
        if originals.is_empty() || value[w as usize] == 0.0 {
            continue;
        }
        let passed = value[w as usize] * config.upstream_share;
        value[w as usize] -= passed;
        for &o in &originals {
            value[o as usize] += passed / originals.len() as f64;
        }
    }
    // Authors share each work's value by their shares.
    let share_of: Vec<Vec<(u32, f64)>> = (0..n as u32)
        .into_par_iter()
        .map(|m| {
            if graph.kind_at(m) != VertexKind::Mask {
                return Vec::new();
            }
            graph.out_edges(EdgeKind::Authored, m).map(|(w, p)| (w, p.weight.map_or(1.0, f64::from))).collect()
        })
        .collect();
    let parts: Vec<[f64; 3]> = (0..n as u32)
        .into_par_iter()
        .map(|m| {
            if graph.kind_at(m) != VertexKind::Mask {
                return [0.0; 3];
            }
            let collaborations: f64 = graph
                .out(EdgeKind::Collaborates, m)
                .chain(graph.inn(EdgeKind::Collaborates, m))
                .map(|o| config.collaboration_credit * weight(o))
                .sum();
            let trades: f64 = graph
                .out_edges(EdgeKind::Traded, m)
                .map(|(o, p)| config.trade_credit * weight(o) * decay(p.time_ms))
                .chain(graph.inn(EdgeKind::Traded, m).map(|o| {
                    let time = graph.edge(EdgeKind::Traded, o, m).and_then(|p| p.time_ms);
                    config.trade_credit * weight(o) * decay(time)
                }))
                .sum();
            let governance = config.vote_credit * graph.out_degree(EdgeKind::Voted, m) as f64;
            [collaborations, trades, governance]
        })
        .collect();
    let score: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|m| share_of[m].iter().map(|&(w, s)| s * value[w as usize]).sum::<f64>() + parts[m].iter().sum::<f64>())
        .collect();
    let params = vec![
        ("upstream_share", config.upstream_share.to_string()),
        ("half_life_days", config.half_life_days.to_string()),
        ("collaboration_credit", config.collaboration_credit.to_string()),
        ("trade_credit", config.trade_credit.to_string()),
        ("vote_credit", config.vote_credit.to_string()),
        ("now_ms", now_ms.to_string()),
    ];
    let mut epoch = Epoch::new("contribution", 1, graph.position(), params);
    // The trust it weighs by, by the trust job's parameter names.
    epoch.params.extend(trust.epoch.params.iter().map(|(k, v)| (format!("trust.{k}"), v.clone())));
    Ok(Contribution {
        epoch,
        score,
        work_value: value,
        parts,
        ids: (0..n as u32).map(|v| graph.id_at(v)).collect(),
        share_of,
    })
}

/// Works ordered so that every remix comes before the works it remixes (Kahn's algorithm on
/// remix_of; ties by index, so the order is deterministic).
fn remix_order(graph: &Graph) -> Vec<u32> {
    let n = graph.vertex_count();
    let mut pending: Vec<u32> = (0..n as u32).map(|w| graph.in_degree(EdgeKind::RemixOf, w) as u32).collect();
    let mut ready: std::collections::BTreeSet<u32> =
        (0..n as u32).filter(|&w| graph.kind_at(w) == VertexKind::Work && pending[w as usize] == 0).collect();
    let mut order = Vec::new();
    while let Some(w) = ready.pop_first() {
        order.push(w);
        for o in graph.out(EdgeKind::RemixOf, w) {
            pending[o as usize] -= 1;
            if pending[o as usize] == 0 {
                ready.insert(o);
            }
        }
    }
    order
}

impl Contribution {
    /// Where mask `m`'s contribution came from: its `top` largest works and the other parts.
    pub fn explain(&self, m: u32, top: usize) -> ContributionExplanation {
        let m = m as usize;
        let mut works: Vec<(Id, f64)> =
            self.share_of[m].iter().map(|&(w, s)| (self.ids[w as usize], s * self.work_value[w as usize])).collect();
        works.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        works.truncate(top);
        let [collaborations, trades, governance] = self.parts[m];
        ContributionExplanation { total: self.score[m], works, collaborations, trades, governance }
    }
}
