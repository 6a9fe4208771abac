//! Trust's power iteration beside a bare CSR pull power iteration written for the comparison,
//! on R-MAT (issue 9's speed target):
//!
//! ```text
//! cargo run --release -p benches --bin trust -- [SCALE]
//! ```
//!
//! The job reports the time of its power iterations apart from the rest (gathering local
//! trust, the discount, the flags); each figure is the median of 3 runs. With
//! `DAIRA_NETWORKIT=1` networkit's PageRank (20 iterations) and igraph's run on the same edges
//! (`benches/networkit/run.sh pagerank`, which installs them into a virtual environment).

use graph_engine::{Csr, KindWeight};
use rayon::prelude::*;
use reputation::TrustConfig;
use schema::EdgeKind;
use std::time::Instant;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The bare loop: x' = d · Aᵀ (x / deg) + (1 − d)/n, 20 times, no dangling handling, no checks.
fn bare(transposed: &Csr, out_degree: &[u32], iterations: u32) -> Vec<f64> {
    let n = transposed.vertex_count();
    let inv: Vec<f64> = out_degree.iter().map(|&d| if d > 0 { 1.0 / f64::from(d) } else { 0.0 }).collect();
    let mut x = vec![1.0 / n as f64; n];
    let mut y = vec![0.0; n];
    let mut next = vec![0.0; n];
    for _ in 0..iterations {
        y.par_iter_mut().zip(&x).zip(&inv).for_each(|((y, &x), &i)| *y = x * i);
        next.par_iter_mut().enumerate().for_each(|(v, out)| {
            let (sources, _) = transposed.neighbors(v as u32);
            *out = 0.85 * sources.iter().map(|&u| y[u as usize]).sum::<f64>() + 0.15 / n as f64;
        });
        std::mem::swap(&mut x, &mut next);
    }
    x
}

fn main() {
    let scale: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let (src, dst) = benches::rmat(scale, 16, 1);
    let peers_file = std::env::var("DAIRA_NETWORKIT").is_ok_and(|v| v == "1").then(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("rmat.snap");
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        fixtures::write_snap(&mut w, &src, &dst, "rmat").expect("write");
        drop(w);
        (dir, path)
    });
    let graph = benches::engine_load(src, dst);
    let m = graph.edge_count(EdgeKind::Follows);
    println!(
        "threads: {}; R-MAT scale {scale}: {} vertices, {m} edges",
        rayon::current_num_threads(),
        graph.vertex_count()
    );
    let csr = Csr::build(&graph, &[KindWeight::unit(EdgeKind::Follows)]);
    let transposed = csr.transpose();
    let out_degree: Vec<u32> = (0..csr.vertex_count()).map(|v| (csr.offsets[v + 1] - csr.offsets[v]) as u32).collect();
    let mut bare_times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        std::hint::black_box(bare(&transposed, &out_degree, 20));
        bare_times.push(t.elapsed().as_secs_f64());
    }
    let run = || {
        let config = TrustConfig { follow_weight: 1.0, iterations_max: 20, tolerance: 0.0, ..TrustConfig::default() };
        let t = Instant::now();
        let scores = reputation::trust(&graph, &[], &config).expect("trust");
        assert_eq!(scores.iterations, 20);
        let total = t.elapsed().as_secs_f64();
        (scores.iteration_time.as_secs_f64(), total - scores.iteration_time.as_secs_f64())
    };
    let runs: Vec<(f64, f64)> = (0..3).map(|_| run()).collect();
    let bare_s = median(bare_times);
    let iterate_s = median(runs.iter().map(|r| r.0).collect());
    let without_s = median(runs.iter().map(|r| r.1).collect());
    // The floor: per iteration, read every in-edge's source (4 B) and a random y (8 B), and
    // stream x, y, inv, next (32 B per vertex).
    let bytes = 20.0 * (m as f64 * 12.0 + graph.vertex_count() as f64 * 32.0);
    println!("{:<58} {:>8.3} s", "bare CSR pull power iteration, 20 iterations", bare_s);
    println!("{:<58} {:>8.3} s", "trust job, 20 iterations (iteration part)", iterate_s);
    println!("{:<58} {:>8.3} s", "trust job, setup (local trust, transpose, discount, flags)", without_s);
    println!("{:<58} {:>8.2}x (target <= 1.25x)", "trust iterations / bare loop", iterate_s / bare_s);
    println!("{:<58} {:>8.1} GB/s", "bytes touched by the iterations / their time", bytes / iterate_s / 1e9);
    // The floor: the same bytes at the machine's streaming read bandwidth (a parallel sum over
    // 512 MiB, median of 3), which the random reads of a pull iteration cannot beat.
    let big: Vec<f64> = (0..64usize << 20).into_par_iter().map(|i| i as f64).collect();
    let bandwidth = median(
        (0..3)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(big.par_iter().sum::<f64>());
                (big.len() * 8) as f64 / t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    drop(big);
    let floor_s = bytes / bandwidth;
    println!("{:<58} {:>8.1} GB/s", "streaming read bandwidth (parallel sum over 512 MiB)", bandwidth / 1e9);
    println!("{:<58} {:>8.3} s ({:.2}x of it)", "bandwidth floor of 20 iterations", floor_s, iterate_s / floor_s);
    if let Some((_dir, path)) = peers_file {
        let peers = match benches::run_peer("networkit/run.sh", &["pagerank".as_ref(), path.as_os_str()]) {
            Ok(peers) => peers,
            Err(e) => {
                println!("networkit failed: {e}");
                return;
            }
        };
        let (nk, ig) = (peers.get("networkit_pagerank_20_s"), peers.get("igraph_pagerank_s"));
        println!("{:<58} {:>8.3} s", "networkit PageRank, 20 iterations (same edges)", nk);
        println!("{:<58} {:>8.3} s", "igraph PageRank (PRPACK, to convergence)", ig);
        println!("{:<58} {:>8.2}x (target >= 3x)", "networkit / trust iterations", nk / iterate_s);
    }
}
