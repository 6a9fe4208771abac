//! The acceptance table of the graph engine, peers side by side in one run:
//!
//! ```text
//! cargo run --release -p benches --bin report -- [SCALE] [PEER_SCALE]
//! ```
//!
//! Default: R-MAT scale 20 × 16 for the engine and petgraph, scale 16 × 16 for IndraDB (which
//! cannot take scale 20 in reasonable time), plus the engine at the peer scale for a same-graph
//! ratio. Prints a table; durable import and restart run through a SQLite log in a temp dir.
//! With `DAIRA_KUZU=1` it also runs Kuzu (`benches/kuzu/run.sh`, which installs it from PyPI into
//! a virtual environment) on the same edges and prints its `COPY` and query figures beside ours.

use benches::{engine_load, indradb_load, indradb_out, indradb_two_hop, petgraph_load, rmat};
use graph_engine::{Engine, EngineConfig, NoProgress};
use parking_lot_free::Lock;
use schema::{EdgeKind, Id};
use std::time::Instant;

mod parking_lot_free {
    /// The engine's readers take a read lock per request: so do these measurements.
    pub type Lock<T> = std::sync::RwLock<T>;
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() as f64 - 1.0) * p) as usize]
}

fn main() {
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let scale = args.first().copied().unwrap_or(20);
    let peer_scale = args.get(1).copied().unwrap_or(16);
    let queries = 200_000usize;
    let row = |a: &str, b: String, c: String| println!("{a:<66} {b:>10}  {c}");
    println!("threads: {}", rayon::current_num_threads());

    // --- peer scale: same graph for everyone ---
    let (ps, pd) = rmat(peer_scale, 16, 1);
    let pm = ps.len();
    let t = Instant::now();
    let small = engine_load(ps.clone(), pd.clone());
    let ours_small = pm as f64 / t.elapsed().as_secs_f64();
    drop(small);
    let t = Instant::now();
    let indra = indradb_load(1 << peer_scale, &ps, &pd);
    let indra_rate = pm as f64 / t.elapsed().as_secs_f64();
    row(&format!("bulk load, scale {peer_scale} (edges/s): engine"), format!("{:.2e}", ours_small), String::new());
    row(
        &format!("bulk load, scale {peer_scale} (edges/s): IndraDB"),
        format!("{:.2e}", indra_rate),
        format!("engine/IndraDB = {:.1}x", ours_small / indra_rate),
    );

    // --- big scale ---
    let (s, d) = rmat(scale, 16, 1);
    let m = s.len();
    let n = 1u64 << scale;
    // The engine first, three times (median), before the peers take memory.
    let mut load_times = Vec::new();
    let mut graph = None;
    for _ in 0..3 {
        drop(graph.take());
        let (s, d) = (s.clone(), d.clone());
        let t = Instant::now();
        graph = Some(engine_load(s, d));
        load_times.push(t.elapsed().as_secs_f64());
    }
    let graph = graph.expect("loaded");
    let load_s = median(load_times.clone());
    let t = Instant::now();
    let pet = petgraph_load(n, &s, &d);
    let pet_rate = m as f64 / t.elapsed().as_secs_f64();
    let live = graph.edge_count(EdgeKind::Follows);
    let rate = m as f64 / load_s;
    row(
        &format!("bulk load, scale {scale} (input edges/s): engine"),
        format!("{:.2e}", rate),
        format!("{m} input edges, {live} after merging duplicates; median of {load_times:.2?} s"),
    );
    row(
        &format!("bulk load, scale {scale} (edges/s): petgraph Csr"),
        format!("{:.2e}", pet_rate),
        format!("engine/petgraph = {:.2}x", rate / pet_rate),
    );
    row(
        "bulk load: engine scale-big rate / IndraDB scale-peer rate",
        format!("{:.1}x", rate / indra_rate),
        "target >= 20x".into(),
    );
    let bytes = graph.heap_bytes();
    row(
        "live store bytes per edge (both directions, all indexes)",
        format!("{:.1}", bytes as f64 / live as f64),
        format!("{:.0} MiB for {live} edges and {} vertices", bytes as f64 / 1048576.0, graph.vertex_count()),
    );

    // --- reads: by id, under a read lock, returning ids ---
    let lock = Lock::new(graph);
    let ids: Vec<Id> = {
        let g = lock.read().expect("lock");
        let mut rng = benches::SplitMix::new(7);
        (0..queries).map(|_| g.id_at((rng.next_u64() % g.vertex_count() as u64) as u32)).collect()
    };
    let mut hop1 = Vec::with_capacity(queries);
    let mut total = 0usize;
    for &id in &ids {
        let t = Instant::now();
        let g = lock.read().expect("lock");
        let v = g.index_of(id).expect("vertex");
        let out: Vec<Id> = g.out(EdgeKind::Follows, v).map(|w| g.id_at(w)).collect();
        drop(g);
        hop1.push(t.elapsed().as_nanos() as f64 / 1000.0);
        total += out.len();
    }
    let mut hop1_handles = Vec::with_capacity(queries);
    for &id in &ids {
        let t = Instant::now();
        let g = lock.read().expect("lock");
        let v = g.index_of(id).expect("vertex");
        let out: Vec<u32> = g.out(EdgeKind::Follows, v).collect();
        drop(g);
        hop1_handles.push(t.elapsed().as_nanos() as f64 / 1000.0);
        total += out.len();
    }
    let mut hop2 = Vec::with_capacity(queries / 10);
    for &id in ids.iter().take(queries / 10) {
        let t = Instant::now();
        let g = lock.read().expect("lock");
        let v = g.index_of(id).expect("vertex");
        let mut out: Vec<Id> = Vec::new();
        for w in g.out(EdgeKind::Follows, v) {
            out.extend(g.out(EdgeKind::Follows, w).map(|x| g.id_at(x)));
        }
        drop(g);
        hop2.push(t.elapsed().as_nanos() as f64 / 1000.0);
        total += out.len();
    }
    row(
        "1-hop out-neighbours by id -> ids, median (us): engine",
        format!("{:.3}", median(hop1.clone())),
        format!("p99 {:.3} us", percentile(hop1, 0.99)),
    );
    row(
        "1-hop out-neighbours by id -> vertex handles, median (us): engine",
        format!("{:.3}", median(hop1_handles.clone())),
        format!("p99 {:.3} us", percentile(hop1_handles, 0.99)),
    );
    row(
        "2-hop out-neighbours by id, median (us): engine",
        format!("{:.3}", median(hop2.clone())),
        format!("p99 {:.3} us", percentile(hop2, 0.99)),
    );

    let mut pet1 = Vec::with_capacity(queries);
    let mut rng = benches::SplitMix::new(7);
    for _ in 0..queries {
        let v = (rng.next_u64() % n) as u32;
        let t = Instant::now();
        let out: Vec<u32> = pet.neighbors_slice(v).to_vec();
        pet1.push(t.elapsed().as_nanos() as f64 / 1000.0);
        total += out.len();
    }
    row(
        "1-hop out-neighbours, median (us): petgraph Csr (no lock, no ids)",
        format!("{:.3}", median(pet1)),
        String::new(),
    );

    let mut indra1 = Vec::new();
    let mut indra2 = Vec::new();
    let mut rng = benches::SplitMix::new(7);
    let pn = 1u64 << peer_scale;
    for i in 0..queries / 4 {
        let v = rng.next_u64() % pn;
        let t = Instant::now();
        total += indradb_out(&indra, v).len();
        indra1.push(t.elapsed().as_nanos() as f64 / 1000.0);
        if i % 10 == 0 {
            let t = Instant::now();
            total += indradb_two_hop(&indra, v).len();
            indra2.push(t.elapsed().as_nanos() as f64 / 1000.0);
        }
    }
    row(&format!("1-hop, median (us): IndraDB at scale {peer_scale}"), format!("{:.3}", median(indra1)), String::new());
    row(&format!("2-hop, median (us): IndraDB at scale {peer_scale}"), format!("{:.3}", median(indra2)), String::new());
    drop(indra);
    drop(pet);
    let graph = lock.into_inner().expect("lock");
    drop(graph);

    // --- durable import from a SNAP file through the SQLite log, then restart ---
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("rmat.snap");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&file).expect("create"));
        for (a, b) in s.iter().zip(&d) {
            writeln!(w, "{a}\t{b}").expect("write");
        }
    }
    drop((s, d));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let data = dir.path().join("data");
    let (import_s, hash_after_import) = runtime.block_on(async {
        let engine = Engine::open(&EngineConfig::new(&data), &NoProgress).await.expect("open");
        let t = Instant::now();
        let parsed = {
            let g = engine.read();
            let parsed = graph_engine::import::parse_file(
                &file,
                graph_engine::import::Format::Snap,
                &g,
                &|k| engine.new_ids(k),
                &NoProgress,
            )
            .expect("parse");
            drop(g);
            parsed
        };
        engine.execute(schema::Command::Import(parsed.batch)).await.expect("import");
        let elapsed = t.elapsed().as_secs_f64();
        let hash = engine.read().state_hash();
        engine.shutdown().await;
        (elapsed, hash)
    });
    row(
        "durable import, SNAP file -> SQLite log (edges/s)",
        format!("{:.2e}", m as f64 / import_s),
        format!("{import_s:.2} s for {m} lines; compare Kuzu COPY in benches/kuzu"),
    );
    let (restart_s, hash_after_restart, edges_after) = runtime.block_on(async {
        let t = Instant::now();
        let engine = Engine::open(&EngineConfig::new(&data), &NoProgress).await.expect("reopen");
        let elapsed = t.elapsed().as_secs_f64();
        let out = {
            let g = engine.read();
            (elapsed, g.state_hash(), g.edge_count(EdgeKind::Follows))
        };
        engine.shutdown().await;
        out
    });
    row("restart to a ready graph (s)", format!("{restart_s:.2}"), format!("{edges_after} edges; target <= 5 s"));
    row("replay state hash == live state hash", format!("{}", hash_after_restart == hash_after_import), String::new());
    if std::env::var("DAIRA_KUZU").is_ok_and(|v| v == "1") {
        let csv = dir.path().join("rmat.csv");
        let text = std::fs::read_to_string(&file).expect("snap file");
        std::fs::write(&csv, text.replace('\t', ",")).expect("csv");
        match benches::run_peer("kuzu/run.sh", &[csv.as_os_str(), "--queries".as_ref(), "2000".as_ref()]) {
            Ok(kuzu) => {
                let kuzu_rate = kuzu.get("copy_edges_per_s");
                let ours = m as f64 / import_s;
                row(
                    "Kuzu COPY of the same edges (edges/s)",
                    format!("{kuzu_rate:.2e}"),
                    format!("engine durable import / Kuzu COPY = {:.2}x (target >= 2x)", ours / kuzu_rate),
                );
                row(
                    "Kuzu 1-hop median (us), 2-hop median (us)",
                    format!("{:.0}", kuzu.get("hop1_median_us")),
                    format!("2-hop {:.0} us (Python client, per query)", kuzu.get("hop2_median_us")),
                );
            }
            Err(e) => row("Kuzu", "failed".into(), e),
        }
    }
    std::hint::black_box(total);
}
