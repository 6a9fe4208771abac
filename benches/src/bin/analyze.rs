//! The researcher's whole command beside the peer's algorithm alone (issue 18's acceptance), in
//! one run:
//!
//! ```text
//! cargo build --release -p daira -p benches
//! target/release/daira fixtures rmat --scale 20 --out /tmp/rmat20.snap
//! benches/networkit/run.sh lfr --nodes 1000000 --avg-degree 20 --max-degree 200 --mu 0.3 \
//!     --seed 1 --out-edges /tmp/lfr1m.snap --out-truth /tmp/lfr1m.truth
//! target/release/analyze /tmp/rmat20.snap /tmp/lfr1m.snap /tmp/lfr1m.truth
//! ```
//!
//! - `daira analyze pagerank --edges RMAT --format snap --out FILE`, the whole process (parse,
//!   build, iterations, write), beside networkit's `PageRank.run()` alone on the graph already in
//!   memory (20 iterations, `benches/networkit/run.sh pagerank`).
//! - `daira analyze clusters --edges LFR --format snap --out FILE`, the whole process, beside
//!   networkit's `PLM.run()` alone, with and without refinement (the faster one is the bar).
//!
//! Each daira figure is the median of `DAIRA_REPEAT` (5) runs, half of them before the peer
//! runs and half after, so a drift of the machine's speed shows; each peer figure is the median
//! of as many runs on its graph in memory. Peak memory is the process's own (`VmHWM`, from
//! `--verbose`). The `daira` binary is the one beside this one (`cargo build --release`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One whole run of the `daira` command: wall seconds, peak memory in MB, and what it printed.
struct Run {
    wall_s: f64,
    peak_mb: f64,
    stdout: String,
    stderr: String,
}

fn daira_binary() -> PathBuf {
    let me = std::env::current_exe().expect("this binary's path");
    let daira = me.with_file_name("daira");
    if !daira.exists() {
        eprintln!("{} is missing: build it first (cargo build --release -p daira)", daira.display());
        std::process::exit(2);
    }
    daira
}

fn run_daira(daira: &Path, job: &str, edges: &Path, out: &Path) -> Run {
    let started = Instant::now();
    let output = Command::new(daira)
        .args(["analyze", job, "--edges"])
        .arg(edges)
        .args(["--format", "snap", "--out"])
        .arg(out)
        .arg("--verbose")
        .output()
        .expect("daira runs");
    let wall_s = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "daira analyze {job} failed: {stderr}");
    let peak_mb = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak memory (VmHWM): "))
        .and_then(|v| v.trim_end_matches(" MB").parse().ok())
        .unwrap_or(f64::NAN);
    Run { wall_s, peak_mb, stdout: String::from_utf8_lossy(&output.stdout).into_owned(), stderr }
}

/// The seconds of the stage named `what` in a `--verbose` report.
fn stage(stderr: &str, what: &str) -> f64 {
    stderr
        .lines()
        .find(|l| l.trim_start().split("  ").nth(1).is_some_and(|rest| rest.starts_with(what)))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// `repeat` runs, half before `peer` and half after; the runs and what `peer` returned.
fn around<T>(repeat: usize, mut daira: impl FnMut() -> Run, peer: impl FnOnce() -> T) -> (Vec<Run>, T) {
    let mut runs: Vec<Run> = (0..repeat.div_ceil(2)).map(|_| daira()).collect();
    let figures = peer();
    runs.extend((0..repeat / 2).map(|_| daira()));
    (runs, figures)
}

fn main() {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [rmat, lfr, truth] = &args[..] else {
        eprintln!("usage: analyze RMAT.snap LFR.snap LFR.truth");
        std::process::exit(2);
    };
    let repeat: usize = std::env::var("DAIRA_REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(5).max(1);
    let daira = daira_binary();
    let out = std::env::temp_dir().join(format!("daira-analyze-bench-{}.csv", std::process::id()));
    let repeat_arg = repeat.to_string();

    // Warm the page cache: every figure is of a file already read once.
    for file in [rmat, lfr] {
        let _ = std::fs::read(file);
    }

    println!("threads: 2 (rayon, networkit); each figure the median of {repeat} runs\n");
    let (runs, nk) = around(
        repeat,
        || run_daira(&daira, "pagerank", rmat, &out),
        || {
            benches::run_peer(
                "networkit/run.sh",
                &[
                    "pagerank".as_ref(),
                    rmat.as_os_str(),
                    "--no-igraph".as_ref(),
                    "--repeat".as_ref(),
                    repeat_arg.as_ref(),
                ],
            )
        },
    );
    let whole = median(runs.iter().map(|r| r.wall_s).collect());
    let peak = median(runs.iter().map(|r| r.peak_mb).collect());
    let iterate = median(runs.iter().map(|r| stage(&r.stderr, "pagerank")).collect());
    let read = median(runs.iter().map(|r| stage(&r.stderr, "read into CSR arrays")).collect());
    let write = median(runs.iter().map(|r| stage(&r.stderr, "write rows")).collect());
    println!("## PageRank on {} (R-MAT)", rmat.display());
    println!("| figure | seconds |");
    println!("| --- | ---: |");
    println!("| daira analyze pagerank, the whole process | {whole:.3} |");
    println!("|   of which: read and build the CSR arrays | {read:.3} |");
    println!("|   of which: the iterations (to 1e-10) | {iterate:.3} |");
    println!("|   of which: write the rows | {write:.3} |");
    println!("| peak memory (VmHWM) | {peak:.1} MB |");
    match &nk {
        Ok(nk) => {
            let peer = nk.get("networkit_pagerank_20_s");
            println!("| networkit PageRank.run(), 20 iterations, graph in memory | {peer:.3} |");
            println!("| **ratio: networkit alone / daira whole** | **{:.2}×** |", peer / whole);
        }
        Err(e) => println!("| networkit | not run: {e} |"),
    }

    let (runs, plm) = around(
        repeat,
        || run_daira(&daira, "clusters", lfr, &out),
        || {
            benches::run_peer(
                "networkit/run.sh",
                &["plm".as_ref(), lfr.as_os_str(), truth.as_os_str(), "--repeat".as_ref(), repeat_arg.as_ref()],
            )
        },
    );
    let whole = median(runs.iter().map(|r| r.wall_s).collect());
    let peak = median(runs.iter().map(|r| r.peak_mb).collect());
    let algorithm = median(runs.iter().map(|r| stage(&r.stderr, "clusters")).collect());
    let read = median(runs.iter().map(|r| stage(&r.stderr, "read into CSR arrays")).collect());
    // "modularity 0.684241, 988 communities"
    let summary = runs.last().map(|r| r.stdout.trim().to_owned()).unwrap_or_default();
    println!("\n## Clusters on {} (LFR)", lfr.display());
    println!("| figure | seconds |");
    println!("| --- | ---: |");
    println!("| daira analyze clusters, the whole process ({summary}) | {whole:.3} |");
    println!("|   of which: read and build the CSR arrays | {read:.3} |");
    println!("|   of which: the undirected view and Leiden | {algorithm:.3} |");
    println!("| peak memory (VmHWM) | {peak:.1} MB |");
    match &plm {
        Ok(plm) => {
            let (refined, plain) = (plm.get("plm_s"), plm.get("plm_norefine_s"));
            println!("| networkit PLM.run(), refine=True, graph in memory | {refined:.3} |");
            println!("| networkit PLM.run(), refine=False, graph in memory | {plain:.3} |");
            println!("| **ratio: the faster PLM alone / daira whole** | **{:.2}×** |", refined.min(plain) / whole);
            println!(
                "| modularity: PLM refine / no refine | {:.6} / {:.6} |",
                plm.get("plm_modularity"),
                plm.get("plm_norefine_modularity")
            );
        }
        Err(e) => println!("| networkit | not run: {e} |"),
    }
    let _ = std::fs::remove_file(&out);
}
