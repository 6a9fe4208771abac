//! Shared pieces of DAIRA's benchmarks: a deterministic R-MAT generator (Graph500 parameters)
//! and loaders of the same graph into the peers (IndraDB's MemoryDatastore, petgraph).

use rayon::prelude::*;

/// Graph500's R-MAT quadrant probabilities (a, b, c; d = 1 - a - b - c).
pub const RMAT_A: f64 = 0.57;
/// See [`RMAT_A`].
pub const RMAT_B: f64 = 0.19;
/// See [`RMAT_A`].
pub const RMAT_C: f64 = 0.19;

/// A small, fast, seedable generator (SplitMix64).
#[derive(Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// An R-MAT graph: `2^scale` vertices, `edge_factor × 2^scale` directed edges (with the
/// duplicates and self-loops R-MAT makes), vertex ids randomly permuted as Graph500 does.
/// Deterministic for a seed, whatever the number of threads.
pub fn rmat(scale: u32, edge_factor: u64, seed: u64) -> (Vec<u64>, Vec<u64>) {
    let n = 1u64 << scale;
    let m = edge_factor * n;
    const CHUNK: u64 = 1 << 16;
    let (ab, abc) = (RMAT_A + RMAT_B, RMAT_A + RMAT_B + RMAT_C);
    let a_over_ab = RMAT_A / ab;
    let c_over_cd = RMAT_C / (1.0 - ab);
    let edges: Vec<(u64, u64)> = (0..m.div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|chunk| {
            let mut rng = SplitMix::new(seed ^ chunk.wrapping_mul(0xa076_1d64_78bd_642f));
            let count = CHUNK.min(m - chunk * CHUNK);
            (0..count).map(move |_| {
                let (mut u, mut v) = (0u64, 0u64);
                for level in 0..scale {
                    let r = rng.next_f64();
                    let bit = 1u64 << level;
                    if r >= ab {
                        u |= bit;
                        if rng.next_f64() >= c_over_cd {
                            v |= bit;
                        }
                    } else if rng.next_f64() >= a_over_ab {
                        v |= bit;
                    }
                }
                let _ = abc;
                (u, v)
            })
        })
        .collect();
    // Permute vertex labels (Fisher–Yates, seeded).
    let mut permutation: Vec<u64> = (0..n).collect();
    let mut rng = SplitMix::new(seed.wrapping_add(0x5eed));
    for i in (1..n as usize).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        permutation.swap(i, j);
    }
    edges.par_iter().map(|&(u, v)| (permutation[u as usize], permutation[v as usize])).unzip()
}

/// IndraDB's in-memory datastore loaded with the same edges (vertices first, as it requires).
pub fn indradb_load(n: u64, src: &[u64], dst: &[u64]) -> indradb::Database<indradb::MemoryDatastore> {
    use indradb::{BulkInsertItem, Edge, Identifier, MemoryDatastore, Vertex};
    let db = MemoryDatastore::new_db();
    let vt = Identifier::new("mask").expect("identifier");
    let et = Identifier::new("follows").expect("identifier");
    let mut items = Vec::with_capacity(n as usize + src.len());
    items.extend((0..n).map(|i| BulkInsertItem::Vertex(Vertex::with_id(indradb_id(i), vt))));
    items.extend(src.iter().zip(dst).map(|(&a, &b)| BulkInsertItem::Edge(Edge::new(indradb_id(a), et, indradb_id(b)))));
    db.bulk_insert(items).expect("indradb bulk insert");
    db
}

/// Our numeric id as an IndraDB vertex id.
pub fn indradb_id(i: u64) -> uuid::Uuid {
    uuid::Uuid::from_u64_pair(0, i + 1)
}

/// IndraDB's vertex id back to ours.
pub fn from_indradb_id(u: uuid::Uuid) -> u64 {
    u.as_u64_pair().1 - 1
}

/// Out-neighbours of `x` in IndraDB (1 hop), with duplicates as IndraDB keeps them.
pub fn indradb_out(db: &indradb::Database<indradb::MemoryDatastore>, x: u64) -> Vec<u64> {
    use indradb::{Identifier, QueryExt, QueryOutputValue, SpecificVertexQuery};
    let et = Identifier::new("follows").expect("identifier");
    let q = SpecificVertexQuery::single(indradb_id(x)).outbound().expect("query").t(et);
    match db.get(q).expect("indradb query").pop() {
        Some(QueryOutputValue::Edges(edges)) => edges.into_iter().map(|e| from_indradb_id(e.inbound_id)).collect(),
        _ => Vec::new(),
    }
}

/// In-neighbours of `x` in IndraDB.
pub fn indradb_in(db: &indradb::Database<indradb::MemoryDatastore>, x: u64) -> Vec<u64> {
    use indradb::{Identifier, QueryExt, QueryOutputValue, SpecificVertexQuery};
    let et = Identifier::new("follows").expect("identifier");
    let q = SpecificVertexQuery::single(indradb_id(x)).inbound().expect("query").t(et);
    match db.get(q).expect("indradb query").pop() {
        Some(QueryOutputValue::Edges(edges)) => edges.into_iter().map(|e| from_indradb_id(e.outbound_id)).collect(),
        _ => Vec::new(),
    }
}

/// Two-hop neighbours of `x` in IndraDB (one per path).
pub fn indradb_two_hop(db: &indradb::Database<indradb::MemoryDatastore>, x: u64) -> Vec<u64> {
    use indradb::{Identifier, QueryExt, QueryOutputValue, SpecificVertexQuery};
    let et = Identifier::new("follows").expect("identifier");
    let q = SpecificVertexQuery::single(indradb_id(x))
        .outbound()
        .expect("query")
        .t(et)
        .inbound()
        .expect("query")
        .outbound()
        .expect("query")
        .t(et);
    match db.get(q).expect("indradb query").pop() {
        Some(QueryOutputValue::Edges(edges)) => edges.into_iter().map(|e| from_indradb_id(e.inbound_id)).collect(),
        _ => Vec::new(),
    }
}

/// petgraph's CSR loaded with the same edges (sorted, as `Csr::from_sorted_edges` requires).
pub fn petgraph_load(n: u64, src: &[u64], dst: &[u64]) -> petgraph::csr::Csr<(), ()> {
    let mut edges: Vec<(u32, u32)> = src.iter().zip(dst).map(|(&a, &b)| (a as u32, b as u32)).collect();
    edges.par_sort_unstable();
    edges.dedup();
    let mut csr = petgraph::csr::Csr::from_sorted_edges(&edges).expect("sorted edges");
    while (csr.node_count() as u64) < n {
        csr.add_node(());
    }
    csr
}

/// The engine's graph loaded in memory from the same edges through the import path
/// (id mapping, sort, dedupe, validation by the rules, apply) — no log.
pub fn engine_load(src: Vec<u64>, dst: Vec<u64>) -> graph_engine::Graph {
    let mut graph = graph_engine::Graph::new();
    let mut ids = schema::IdGenerator::new(0);
    let next = std::cell::RefCell::new(&mut ids);
    let new_ids = |k: usize| {
        let mut ids = next.borrow_mut();
        (0..k).map(|_| ids.next(schema::EPOCH_MS + 1)).collect()
    };
    let parsed = graph_engine::import::from_edges("rmat", schema::EdgeKind::Follows, src, dst, &graph, &new_ids)
        .expect("rmat edges import");
    graph.execute(schema::Command::Import(parsed.batch), 0).expect("rmat import is valid");
    graph
}
