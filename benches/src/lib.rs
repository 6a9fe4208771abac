//! Shared pieces of DAIRA's benchmarks: a deterministic R-MAT generator (Graph500 parameters)
//! and loaders of the same graph into the peers (IndraDB's MemoryDatastore, petgraph).

pub mod ballots;
pub mod bare_ws;
pub mod floor;
pub mod ledger;

use rayon::prelude::*;

pub use fixtures::{SplitMix, rmat};

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
    let mut ids = schema::IdGenerator::new(0);
    let next = std::cell::RefCell::new(&mut ids);
    let new_ids = |k: usize| {
        let mut ids = next.borrow_mut();
        (0..k).map(|_| ids.next(schema::EPOCH_MS + 1)).collect()
    };
    let parsed = graph_engine::import::from_edges(
        "rmat",
        schema::EdgeKind::Follows,
        src,
        dst,
        &graph_engine::Graph::new(),
        &new_ids,
    )
    .expect("rmat edges import");
    graph_engine::Graph::from_import(parsed.batch).expect("rmat import is valid")
}

/// The figures a peer's bench script printed: its last line that is a JSON object.
pub struct PeerFigures(String);

impl PeerFigures {
    /// A numeric field, NaN when absent.
    pub fn get(&self, name: &str) -> f64 {
        self.0
            .split(&format!("\"{name}\":"))
            .nth(1)
            .and_then(|rest| rest.split([',', '}']).next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN)
    }
}

/// Runs `benches/SCRIPT` (a bash script that installs its peer into `benches/.venv`) with
/// `args`, and returns what it printed, or the last line of its errors.
pub fn run_peer(script: &str, args: &[&std::ffi::OsStr]) -> Result<PeerFigures, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = std::process::Command::new("bash").arg(&path).args(args).output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().rev().find(|l| l.trim_start().starts_with('{')) {
        Some(json) => Ok(PeerFigures(json.to_string())),
        None => Err(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no output").to_string()),
    }
}
