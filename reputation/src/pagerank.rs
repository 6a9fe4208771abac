//! Plain PageRank over chosen edge kinds (unit weights, uniform teleport, dangling mass spread
//! uniformly): the researchers' baseline, and the kernel of trust without its rules.

use crate::power::{Walk, iterate};
use crate::{Epoch, Error, Result};
use graph_engine::{Csr, Graph, KindWeight, LogPosition, Side, Topology};
use rayon::prelude::*;
use schema::EdgeKind;
use std::borrow::Cow;

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
            kinds: EdgeKind::ALL.iter().copied().filter(|k| !k.is_private() && !k.is_access()).collect(),
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
    check(config)?;
    let kinds: Vec<KindWeight> = config.kinds.iter().map(|&k| KindWeight::unit(k)).collect();
    let csr = Csr::build(graph, &kinds);
    Ok(pagerank_csr(&csr, config))
}

fn check(config: &PageRankConfig) -> Result<()> {
    if !(0.0..1.0).contains(&config.damping) {
        return Err(Error::BadParameter { name: "damping", value: config.damping, range: "0 <= damping < 1" });
    }
    Ok(())
}

/// PageRank over a CSR snapshot (multi-edges count once: `Csr` merges them).
pub fn pagerank_csr(csr: &Csr, config: &PageRankConfig) -> PageRank {
    let transposed = csr.transpose();
    let out_degree: Vec<u64> = (0..csr.vertex_count()).map(|u| csr.offsets[u + 1] - csr.offsets[u]).collect();
    pull(&transposed.offsets, &transposed.targets, &out_degree, config, csr.position)
}

/// PageRank over an edge list read straight into CSR arrays (the researcher's fast path): bit
/// for bit what [`pagerank`] gives on the same file loaded into a graph, since the in-rows come
/// out in the same order. The topology's kinds stand in for `config.kinds`.
pub fn pagerank_topology(topology: &Topology, config: &PageRankConfig) -> Result<PageRank> {
    check(config)?;
    let incoming: Cow<'_, Topology> = match topology.rows {
        Side::Targets => Cow::Borrowed(topology),
        Side::Sources => Cow::Owned(topology.transpose()),
    };
    let n = incoming.vertex_count();
    // Out-degrees: how often each vertex is a source, counted in parallel chunks.
    const CHUNK: usize = 1 << 22;
    let out_degree = incoming
        .neighbours
        .par_chunks(CHUNK)
        .fold(
            || vec![0u64; n],
            |mut degree, part| {
                for &u in part {
                    degree[u as usize] += 1;
                }
                degree
            },
        )
        .reduce(
            || vec![0u64; n],
            |mut a, b| {
                a.par_iter_mut().zip(b.par_iter()).for_each(|(x, y)| *x += y);
                a
            },
        );
    Ok(pull(&incoming.offsets, &incoming.neighbours, &out_degree, config, LogPosition::default()))
}

/// The power iteration over in-rows.
fn pull(in_offsets: &[u64], sources: &[u32], out_degree: &[u64], config: &PageRankConfig, at: LogPosition) -> PageRank {
    let n = out_degree.len();
    let inv_out: Vec<f64> =
        out_degree.par_iter().map(|&degree| if degree > 0 { 1.0 / degree as f64 } else { 0.0 }).collect();
    let uniform = vec![if n > 0 { 1.0 / n as f64 } else { 0.0 }; n];
    let walk = Walk {
        in_offsets,
        sources,
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
        epoch: Epoch::new("pagerank", 1, at, params),
        scores: converged.scores,
        iterations: converged.iterations,
        delta: converged.delta,
    }
}
