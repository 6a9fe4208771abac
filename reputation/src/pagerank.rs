//! Plain PageRank over chosen edge kinds (unit weights, uniform teleport, dangling mass spread
//! uniformly): the researchers' baseline, and the kernel of trust without its rules.

use crate::power::{Walk, iterate};
use crate::{Epoch, Error, Result};
use graph_engine::{Csr, Graph, KindWeight};
use rayon::prelude::*;
use schema::EdgeKind;

/// The parameters of PageRank.
#[derive(Clone, Debug, PartialEq)]
pub struct PageRankConfig {
    /// Damping factor.
    pub damping: f64,
    /// The most iterations.
    pub iterations_max: u32,
    /// Stop when the L1 change of an iteration falls below this.
    pub tolerance: f64,
    /// The edge kinds walked.
    pub kinds: Vec<EdgeKind>,
}

/// PageRank's customary damping.
pub const DEFAULT_PAGERANK_DAMPING: f64 = 0.85;

impl Default for PageRankConfig {
    fn default() -> PageRankConfig {
        PageRankConfig {
            damping: DEFAULT_PAGERANK_DAMPING,
            iterations_max: 200,
            tolerance: 1e-10,
            kinds: EdgeKind::ALL.iter().copied().filter(|k| !k.is_private()).collect(),
        }
    }
}

/// PageRank scores per dense vertex index.
#[derive(Clone, Debug)]
pub struct PageRank {
    /// What it was computed from.
    pub epoch: Epoch,
    /// One score per vertex; they sum to 1.
    pub scores: Vec<f64>,
    /// Iterations run.
    pub iterations: u32,
    /// The last L1 change.
    pub delta: f64,
}

/// PageRank over `graph`'s edges of `config.kinds`.
pub fn pagerank(graph: &Graph, config: &PageRankConfig) -> Result<PageRank> {
    if !(0.0..1.0).contains(&config.damping) {
        return Err(Error::BadParameter { name: "damping", value: config.damping, range: "0 <= damping < 1" });
    }
    let kinds: Vec<KindWeight> = config.kinds.iter().map(|&k| KindWeight::unit(k)).collect();
    let csr = Csr::build(graph, &kinds);
    Ok(pagerank_csr(&csr, config))
}

/// PageRank over a CSR snapshot (multi-edges count once: `Csr` merges them).
pub fn pagerank_csr(csr: &Csr, config: &PageRankConfig) -> PageRank {
    let n = csr.vertex_count();
    let transposed = csr.transpose();
    let inv_out: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|u| {
            let degree = csr.offsets[u + 1] - csr.offsets[u];
            if degree > 0 { 1.0 / degree as f64 } else { 0.0 }
        })
        .collect();
    let uniform = vec![if n > 0 { 1.0 / n as f64 } else { 0.0 }; n];
    let walk = Walk {
        in_offsets: &transposed.offsets,
        sources: &transposed.targets,
        weights: None,
        inv_out: &inv_out,
        teleport: &uniform,
        dangling_to: &uniform,
        damping: config.damping,
        iterations_max: config.iterations_max,
        tolerance: config.tolerance,
    };
    let converged = iterate(&walk);
    let params = vec![
        ("damping", config.damping.to_string()),
        ("iterations_max", config.iterations_max.to_string()),
        ("tolerance", config.tolerance.to_string()),
        ("kinds", config.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join("+")),
    ];
    PageRank {
        epoch: Epoch::new("pagerank", 1, csr.position, params),
        scores: converged.scores,
        iterations: converged.iterations,
        delta: converged.delta,
    }
}
