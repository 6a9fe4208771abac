//! The kernel every walk-based score shares: a pull-style power iteration of personalised
//! PageRank over a transposed CSR, parallel and bitwise deterministic.
//!
//! Determinism: each vertex's new score is a sequential sum over its in-edges in CSR order, and
//! every reduction (dangling mass, the L1 change) adds fixed-size chunks in chunk order, so the
//! result does not depend on how rayon splits the work or on the number of threads.

use rayon::prelude::*;

/// Vertices per chunk of a deterministic reduction.
const CHUNK: usize = 1 << 14;

/// The inputs of one power iteration, over `n` vertices.
pub(crate) struct Walk<'a> {
    /// In-edges: `sources[in_offsets[v]..in_offsets[v + 1]]` point to `v`.
    pub in_offsets: &'a [u64],
    pub sources: &'a [u32],
    /// The weight of each in-edge (`None`: all 1).
    pub weights: Option<&'a [f32]>,
    /// 1 / (total out-weight) of each vertex, 0 for dangling vertices.
    pub inv_out: &'a [f64],
    /// The teleport (pre-trust) distribution; sums to 1.
    pub teleport: &'a [f64],
    /// Where dangling vertices' mass goes; sums to 1.
    pub dangling_to: &'a [f64],
    pub damping: f64,
    pub iterations_max: u32,
    pub tolerance: f64,
}

/// The fixed point and how it was reached.
pub(crate) struct Converged {
    pub scores: Vec<f64>,
    pub iterations: u32,
    pub delta: f64,
}

pub(crate) use schema::mix64;

/// A sum that does not depend on the thread count: chunk sums in parallel, added in order.
pub(crate) fn det_sum(n: usize, f: impl Fn(usize) -> f64 + Sync) -> f64 {
    let chunks: Vec<f64> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| (c * CHUNK..((c + 1) * CHUNK).min(n)).map(&f).sum::<f64>())
        .collect();
    chunks.iter().fold(0.0, |a, b| a + b)
}

pub(crate) fn iterate(walk: &Walk<'_>) -> Converged {
    let n = walk.teleport.len();
    let mut x: Vec<f64> = walk.teleport.to_vec();
    let mut y = vec![0f64; n];
    let mut next = vec![0f64; n];
    let mut delta = f64::INFINITY;
    let mut iterations = 0;
    while iterations < walk.iterations_max && delta > walk.tolerance {
        iterations += 1;
        y.par_iter_mut().zip(x.par_iter()).zip(walk.inv_out.par_iter()).for_each(|((y, &x), &inv)| *y = x * inv);
        let dangling = det_sum(n, |u| if walk.inv_out[u] == 0.0 { x[u] } else { 0.0 });
        let d = walk.damping;
        next.par_iter_mut().enumerate().for_each(|(v, out)| {
            let range = walk.in_offsets[v] as usize..walk.in_offsets[v + 1] as usize;
            let inflow: f64 = match walk.weights {
                None => walk.sources[range].iter().map(|&u| y[u as usize]).sum(),
                Some(w) => {
                    walk.sources[range.clone()].iter().zip(&w[range]).map(|(&u, &w)| y[u as usize] * f64::from(w)).sum()
                }
            };
            *out = d * (inflow + dangling * walk.dangling_to[v]) + (1.0 - d) * walk.teleport[v];
        });
        delta = det_sum(n, |v| (next[v] - x[v]).abs());
        std::mem::swap(&mut x, &mut next);
    }
    Converged { scores: x, iterations, delta }
}
