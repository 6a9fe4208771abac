//! CSR snapshots for analytics: one compressed sparse row matrix over a chosen set of edge
//! kinds, each with a weight rule, cut at a log position.

use crate::store::{Graph, LogPosition};
use rayon::prelude::*;
use schema::{EdgeKind, Id};

/// How an edge kind contributes to a CSR snapshot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KindWeight {
    /// The edge kind.
    pub kind: EdgeKind,
    /// Multiplies every edge's weight.
    pub scale: f32,
    /// Use the edge's own weight (rating, share, amount); otherwise 1.
    pub use_edge_weight: bool,
}

impl KindWeight {
    /// Every edge of `kind` counts 1.
    pub fn unit(kind: EdgeKind) -> KindWeight {
        KindWeight { kind, scale: 1.0, use_edge_weight: false }
    }
}

/// A weighted CSR over dense vertex indexes: the out-edges of vertex `v` are
/// `targets[offsets[v]..offsets[v + 1]]`, sorted, with parallel multi-edges merged (weights
/// added).
#[derive(Clone, Debug, PartialEq)]
pub struct Csr {
    /// `n + 1` offsets into `targets`.
    pub offsets: Vec<u64>,
    /// Targets, sorted within each vertex.
    pub targets: Vec<u32>,
    /// One weight per target.
    pub weights: Vec<f32>,
    /// The id of each dense vertex (to map results back).
    pub ids: Vec<Id>,
    /// The log position the snapshot was cut at.
    pub position: LogPosition,
}

/// Vertices per parallel work unit when building.
const CHUNK: usize = 4096;

impl Csr {
    /// Cuts a CSR snapshot of `graph` over `kinds`.
    pub fn build(graph: &Graph, kinds: &[KindWeight]) -> Csr {
        let n = graph.vertex_count();
        let chunks: Vec<(Vec<u32>, Vec<u32>, Vec<f32>)> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let range = c * CHUNK..((c + 1) * CHUNK).min(n);
                let mut degrees = Vec::with_capacity(range.len());
                let mut targets = Vec::new();
                let mut weights = Vec::new();
                let mut scratch: Vec<(u32, f32)> = Vec::new();
                for v in range {
                    let v = v as u32;
                    let start = targets.len();
                    if let [only] = kinds
                        && let Some(slice) = graph.edges[only.kind.index()].out_slice(v)
                        && !only.use_edge_weight
                    {
                        // The common case: one unit-weight kind, already sorted.
                        targets.extend_from_slice(slice);
                        weights.resize(targets.len(), only.scale);
                        degrees.push((targets.len() - start) as u32);
                        continue;
                    }
                    scratch.clear();
                    for kw in kinds {
                        scratch.extend(graph.out_edges(kw.kind, v).map(|(d, p)| {
                            let w = if kw.use_edge_weight { p.weight.unwrap_or(1.0) } else { 1.0 };
                            (d, w * kw.scale)
                        }));
                    }
                    scratch.sort_unstable_by_key(|&(d, _)| d);
                    for &(d, w) in &scratch {
                        if targets.len() > start && *targets.last().expect("non-empty") == d {
                            *weights.last_mut().expect("non-empty") += w;
                        } else {
                            targets.push(d);
                            weights.push(w);
                        }
                    }
                    degrees.push((targets.len() - start) as u32);
                }
                (degrees, targets, weights)
            })
            .collect();
        let m: usize = chunks.iter().map(|c| c.1.len()).sum();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0u64);
        let mut targets = Vec::with_capacity(m);
        let mut weights = Vec::with_capacity(m);
        for (degrees, t, w) in chunks {
            for d in degrees {
                offsets.push(offsets.last().expect("non-empty") + u64::from(d));
            }
            targets.extend_from_slice(&t);
            weights.extend_from_slice(&w);
        }
        Csr { offsets, targets, weights, ids: graph.vertices.ids.clone(), position: graph.position() }
    }

    /// The number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The number of edges.
    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// Out-neighbours of `v` with weights.
    pub fn neighbors(&self, v: u32) -> (&[u32], &[f32]) {
        let range = self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize;
        (&self.targets[range.clone()], &self.weights[range])
    }

    /// The transposed matrix (in-edges as out-edges), for pull-style iterations.
    pub fn transpose(&self) -> Csr {
        let n = self.vertex_count();
        let mut offsets = vec![0u64; n + 1];
        for &t in &self.targets {
            offsets[t as usize + 1] += 1;
        }
        for i in 1..=n {
            offsets[i] += offsets[i - 1];
        }
        let mut cursor = offsets[..n].to_vec();
        let mut targets = vec![0u32; self.targets.len()];
        let mut weights = vec![0f32; self.targets.len()];
        for v in 0..n {
            let (ts, ws) = self.neighbors(v as u32);
            for (&t, &w) in ts.iter().zip(ws) {
                let slot = &mut cursor[t as usize];
                targets[*slot as usize] = v as u32;
                weights[*slot as usize] = w;
                *slot += 1;
            }
        }
        Csr { offsets, targets, weights, ids: self.ids.clone(), position: self.position }
    }
}
