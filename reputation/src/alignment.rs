//! Alignment from votes and endorsements: a bridging model (per item an intercept — valued
//! across viewpoints — and a viewpoint factor; per mask a viewpoint factor), pairwise alignment
//! between masks, and the coherence of a world. The math is in `README.md`.

use crate::power::det_sum;
use crate::{Epoch, Error, Result};
use graph_engine::Graph;
use rayon::prelude::*;
use schema::{EdgeKind, Id, VertexKind};

/// Regularisation of intercepts (strong: an item must earn its intercept across viewpoints).
pub const DEFAULT_INTERCEPT_REG: f64 = 0.15;
/// Regularisation of viewpoint factors.
pub const DEFAULT_FACTOR_REG: f64 = 0.03;
/// Alternating least-squares sweeps.
pub const DEFAULT_SWEEPS: u32 = 30;

/// The parameters of the alignment job.
#[derive(Clone, Debug, PartialEq)]
pub struct AlignmentConfig {
    /// See [`DEFAULT_INTERCEPT_REG`].
    pub intercept_reg: f64,
    /// See [`DEFAULT_FACTOR_REG`].
    pub factor_reg: f64,
    /// See [`DEFAULT_SWEEPS`].
    pub sweeps: u32,
}

impl Default for AlignmentConfig {
    fn default() -> AlignmentConfig {
        AlignmentConfig { intercept_reg: DEFAULT_INTERCEPT_REG, factor_reg: DEFAULT_FACTOR_REG, sweeps: DEFAULT_SWEEPS }
    }
}

/// The fitted bridging model.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Alignment {
    /// What it was computed from.
    pub epoch: Epoch,
    /// The global mean.
    pub mean: f64,
    /// Per dense vertex: an item's intercept ("valued across viewpoints"); 0 elsewhere.
    pub item_intercept: Vec<f64>,
    /// Per dense vertex: an item's viewpoint factor; 0 elsewhere.
    pub item_factor: Vec<f64>,
    /// Per dense vertex: a mask's intercept (how readily it approves).
    pub mask_intercept: Vec<f64>,
    /// Per dense vertex: a mask's viewpoint factor; 0 for masks that never voted.
    pub mask_factor: Vec<f64>,
    /// Per mask (dense index), its judgements: (item, +1 / −1), sorted by item.
    judgements: Vec<Vec<(u32, f64)>>,
    ids: Vec<Id>,
}

/// One mask's judgements of items: votes on proposals (+1 yes, −1 no; abstentions skipped) and
/// endorsements of works (+1).
fn judgements(graph: &Graph) -> Vec<Vec<(u32, f64)>> {
    (0..graph.vertex_count() as u32)
        .into_par_iter()
        .map(|m| {
            if graph.kind_at(m) != VertexKind::Mask {
                return Vec::new();
            }
            let mut list: Vec<(u32, f64)> = graph
                .out_edges(EdgeKind::Voted, m)
                .filter_map(|(p, e)| e.weight.filter(|&w| w != 0.0).map(|w| (p, f64::from(w.signum()))))
                .chain(
                    graph
                        .out(EdgeKind::Endorses, m)
                        .filter(|&w| graph.kind_at(w) == VertexKind::Work)
                        .map(|w| (w, 1.0)),
                )
                .collect();
            list.sort_by_key(|&(i, _)| i);
            list.dedup_by_key(|&mut (i, _)| i);
            list
        })
        .collect()
}

/// A deterministic small starting factor from a vertex index.
fn start(v: usize) -> f64 {
    (crate::power::mix64(v as u64) >> 11) as f64 / (1u64 << 53) as f64 * 0.2 - 0.1
}

/// Ridge solve of `r ≈ b + f · x` over observations (x, r): returns (b, f).
fn solve(observations: impl Iterator<Item = (f64, f64)>, reg_b: f64, reg_f: f64) -> (f64, f64) {
    // Normal equations of min Σ (r − b − f x)² + reg_b b² + reg_f f².
    let (mut n, mut sx, mut sxx, mut sr, mut sxr) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (x, r) in observations {
        n += 1.0;
        sx += x;
        sxx += x * x;
        sr += r;
        sxr += x * r;
    }
    let (a11, a12, a22) = (n + reg_b, sx, sxx + reg_f);
    let det = a11 * a22 - a12 * a12;
    if n == 0.0 || det.abs() < 1e-15 {
        return (0.0, 0.0);
    }
    ((sr * a22 - a12 * sxr) / det, (a11 * sxr - a12 * sr) / det)
}

/// Fits the bridging model on `graph`'s votes and endorsements.
pub fn alignment(graph: &Graph, config: &AlignmentConfig) -> Result<Alignment> {
    for (name, value) in [("intercept_reg", config.intercept_reg), ("factor_reg", config.factor_reg)] {
        if !(value.is_finite() && value > 0.0) {
            return Err(Error::BadParameter { name, value, range: "> 0" });
        }
    }
    let n = graph.vertex_count();
    let by_mask = judgements(graph);
    // The same judgements by item.
    let mut by_item: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
    for (m, list) in by_mask.iter().enumerate() {
        for &(i, r) in list {
            by_item[i as usize].push((m as u32, r));
        }
    }
    let count = det_sum(n, |m| by_mask[m].len() as f64);
    let mean = if count > 0.0 { det_sum(n, |m| by_mask[m].iter().map(|j| j.1).sum()) / count } else { 0.0 };
    let mut mask_b = vec![0f64; n];
    let mut mask_f: Vec<f64> = (0..n).map(|m| if by_mask[m].is_empty() { 0.0 } else { start(m) }).collect();
    let mut item_b = vec![0f64; n];
    let mut item_f: Vec<f64> = (0..n).map(|i| if by_item[i].is_empty() { 0.0 } else { start(i + n) }).collect();
    for _ in 0..config.sweeps {
        // Items given masks: r − μ − b_u ≈ b_i + f_i · f_u.
        let fitted: Vec<(f64, f64)> = (0..n)
            .into_par_iter()
            .map(|i| {
                if by_item[i].is_empty() {
                    return (0.0, 0.0);
                }
                let obs = by_item[i].iter().map(|&(m, r)| (mask_f[m as usize], r - mean - mask_b[m as usize]));
                solve(obs, config.intercept_reg, config.factor_reg)
            })
            .collect();
        for (i, (b, f)) in fitted.into_iter().enumerate() {
            item_b[i] = b;
            item_f[i] = f;
        }
        // Masks given items: r − μ − b_i ≈ b_u + f_u · f_i.
        let fitted: Vec<(f64, f64)> = (0..n)
            .into_par_iter()
            .map(|m| {
                if by_mask[m].is_empty() {
                    return (0.0, 0.0);
                }
                let obs = by_mask[m].iter().map(|&(i, r)| (item_f[i as usize], r - mean - item_b[i as usize]));
                solve(obs, config.intercept_reg, config.factor_reg)
            })
            .collect();
        for (m, (b, f)) in fitted.into_iter().enumerate() {
            mask_b[m] = b;
            mask_f[m] = f;
        }
    }
    // Fix the sign so that the result does not hang on the starting point: the mask factor
    // sum is non-negative.
    if det_sum(n, |m| mask_f[m]) < 0.0 {
        mask_f.iter_mut().for_each(|f| *f = -*f);
        item_f.iter_mut().for_each(|f| *f = -*f);
    }
    let params = vec![
        ("intercept_reg", config.intercept_reg.to_string()),
        ("factor_reg", config.factor_reg.to_string()),
        ("sweeps", config.sweeps.to_string()),
    ];
    Ok(Alignment {
        epoch: Epoch::new("alignment", 1, graph.position(), params),
        mean,
        item_intercept: item_b,
        item_factor: item_f,
        mask_intercept: mask_b,
        mask_factor: mask_f,
        judgements: by_mask,
        ids: (0..n as u32).map(|v| graph.id_at(v)).collect(),
    })
}

/// How two masks align.
#[derive(Clone, Debug, PartialEq)]
pub struct Pairwise {
    /// Agreement on the items both judged, in [−1, 1] (`None` when they share none).
    pub agreement: Option<f64>,
    /// How many items both judged.
    pub common: usize,
    /// Closeness of their viewpoint factors, in [−1, 1]: 1 for the same viewpoint.
    pub viewpoint: f64,
}

impl Alignment {
    /// Alignment between masks `a` and `b` (dense indexes).
    pub fn pairwise(&self, a: u32, b: u32) -> Pairwise {
        let (ja, jb) = (&self.judgements[a as usize], &self.judgements[b as usize]);
        let (mut i, mut j, mut dot, mut common) = (0, 0, 0.0, 0usize);
        while i < ja.len() && j < jb.len() {
            match ja[i].0.cmp(&jb[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    dot += ja[i].1 * jb[j].1;
                    common += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        let (fa, fb) = (self.mask_factor[a as usize], self.mask_factor[b as usize]);
        let scale = fa.abs().max(fb.abs()).max(1e-12);
        let viewpoint = 1.0 - (fa - fb).abs() / scale;
        Pairwise { agreement: (common > 0).then(|| dot / common as f64), common, viewpoint: viewpoint.clamp(-1.0, 1.0) }
    }

    /// The coherence of a group of masks (a world's members), in (0, 1]: 1 / (1 + the variance
    /// of their viewpoint factors, relative to the variance over all voting masks).
    pub fn coherence(&self, members: &[u32]) -> f64 {
        let voting: Vec<f64> = (0..self.mask_factor.len())
            .filter(|&m| !self.judgements[m].is_empty())
            .map(|m| self.mask_factor[m])
            .collect();
        let variance = |xs: &[f64]| {
            if xs.len() < 2 {
                return 0.0;
            }
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64
        };
        let group: Vec<f64> = members
            .iter()
            .filter(|&&m| !self.judgements[m as usize].is_empty())
            .map(|&m| self.mask_factor[m as usize])
            .collect();
        let overall = variance(&voting).max(1e-12);
        1.0 / (1.0 + variance(&group) / overall)
    }

    /// The world's coherence: over the masks that are its members.
    pub fn world_coherence(&self, graph: &Graph, world: u32) -> f64 {
        let members: Vec<u32> = graph.inn(EdgeKind::MemberOf, world).collect();
        self.coherence(&members)
    }

    /// The judgements that placed mask `m`'s viewpoint: per item, the judgement, the item's
    /// factor and its share of the pull on the mask's factor
    /// (`|f_i · (r − μ − b_i − b_u)|`, normalised), largest first.
    pub fn explain(&self, m: u32, top: usize) -> Vec<(Id, f64, f64, f64)> {
        let m = m as usize;
        let pulls: Vec<(u32, f64, f64)> = self.judgements[m]
            .iter()
            .map(|&(i, r)| {
                let residual = r - self.mean - self.item_intercept[i as usize] - self.mask_intercept[m];
                (i, r, (self.item_factor[i as usize] * residual).abs())
            })
            .collect();
        let total: f64 = pulls.iter().map(|p| p.2).sum();
        let mut rows: Vec<(Id, f64, f64, f64)> = pulls
            .into_iter()
            .map(|(i, r, pull)| {
                (self.ids[i as usize], r, self.item_factor[i as usize], if total > 0.0 { pull / total } else { 0.0 })
            })
            .collect();
        rows.sort_by(|a, b| b.3.total_cmp(&a.3).then(a.0.cmp(&b.0)));
        rows.truncate(top);
        rows
    }

    /// The item with dense index `i`, its id.
    pub fn id(&self, v: u32) -> Id {
        self.ids[v as usize]
    }
}
