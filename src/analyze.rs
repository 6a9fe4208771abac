//! `daira analyze`: reputation jobs on researchers' own edge lists, in memory, with rows that
//! keep the input's original ids.
//!
//! Jobs that need only who is tied to whom (PageRank, clusters) read an edge list straight into
//! CSR arrays (`graph_engine::topology`): no property graph, no import batch. The others, and
//! JSONL files, load the file into a graph with no log (`Graph::from_import`). Both roads give
//! the same rows for the same file.

use crate::progress::StderrProgress;
use anyhow::{Context, Result, bail};
use graph_engine::import::{self, Format};
use graph_engine::{Graph, Names, Progress, Side, Topology, TopologyOptions};
use rayon::prelude::*;
use reputation::{ClusterConfig, PageRankConfig, TrustConfig};
use schema::{IdGenerator, VertexKind};
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A reputation job `daira analyze` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Job {
    /// Seeded, sybil-resistant trust (EigenTrust / personalised PageRank).
    Trust,
    /// Plain PageRank.
    Pagerank,
    /// Credit over the creative graph, weighted by trust.
    Contribution,
    /// The bridging model: viewpoint factors and items' intercepts.
    Alignment,
    /// Leiden communities, with their modularity.
    Clusters,
}

/// What `daira analyze` is asked to do.
#[derive(Clone, Debug)]
pub struct Request {
    /// The job.
    pub job: Job,
    /// The edge file.
    pub edges: PathBuf,
    /// Its format.
    pub format: Format,
    /// Trust seeds (trust and contribution).
    pub seeds: Option<PathBuf>,
    /// Where the rows go (stdout when None).
    pub out: Option<PathBuf>,
    /// Report stages and peak memory on stderr.
    pub verbose: bool,
}

/// The most seeds a seeds file may hold.
pub const SEEDS_MAX: usize = 1_000_000;

/// Loads `edges` into an in-memory graph (no log): the import's rules apply as they would to a
/// data directory.
pub fn load(edges: &Path, format: Format, progress: &dyn Progress) -> Result<Graph> {
    let ids = RefCell::new(IdGenerator::new(0));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let new_ids = |n: usize| {
        let mut ids = ids.borrow_mut();
        (0..n).map(|_| ids.next(now)).collect()
    };
    let parsed = import::parse_file(edges, format, &Graph::new(), &new_ids, progress)?;
    let (batch, _, explain) = parsed.into_parts();
    match Graph::from_import(batch) {
        Ok(graph) => Ok(graph),
        Err(graph_engine::Error::Rejected(r)) => Err(explain.explain(r).into()),
        Err(e) => Err(e.into()),
    }
}

/// Reads a seeds file (one original id per line; blank lines and `#` comments skipped) and
/// resolves the ids, naming every one the graph lacks.
pub fn read_seeds(path: &Path, graph: &Graph) -> Result<Vec<u32>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading seeds {}", path.display()))?;
    let mut seeds = Vec::new();
    let mut missing = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if seeds.len() + missing.len() >= SEEDS_MAX {
            bail!("{}: at most {SEEDS_MAX} seeds", path.display());
        }
        match graph.index_of_external(line).filter(|&v| graph.kind_at(v) == VertexKind::Mask) {
            Some(v) => seeds.push(v),
            None => missing.push(line.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(reputation::Error::SeedsNotFound { missing }).with_context(|| format!("seeds {}", path.display()));
    }
    Ok(seeds)
}

/// Stage times and the process's peak memory, on stderr when `--verbose` asks.
struct Stages {
    verbose: bool,
    started: Instant,
    last: Instant,
}

impl Stages {
    fn new(verbose: bool) -> Stages {
        let now = Instant::now();
        Stages { verbose, started: now, last: now }
    }

    fn done(&mut self, what: std::fmt::Arguments<'_>) {
        if self.verbose {
            eprintln!("{:>8.3} s  {what}", self.last.elapsed().as_secs_f64());
        }
        self.last = Instant::now();
    }

    fn finish(self) {
        if self.verbose {
            eprintln!("{:>8.3} s  total", self.started.elapsed().as_secs_f64());
            match peak_rss_bytes() {
                Some(bytes) => eprintln!("peak memory (VmHWM): {:.1} MB", bytes as f64 / 1e6),
                None => eprintln!("peak memory: unknown on this system"),
            }
        }
    }
}

/// The process's peak resident set size, from `/proc/self/status` (Linux).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs the job and writes `id,score` rows (to `out`, or CSV on stdout).
pub fn run(request: &Request) -> Result<()> {
    let Request { job, edges, format, seeds, out, verbose } = request;
    let (job, format, seeds, out) = (*job, *format, seeds.as_deref(), out.as_deref());
    if !matches!(job, Job::Trust | Job::Contribution) && seeds.is_some() {
        bail!("--seeds applies to trust and contribution, not {job:?}");
    }
    let mut stages = Stages::new(*verbose);
    if matches!(job, Job::Pagerank | Job::Clusters) && format != Format::Jsonl {
        fast_path(job, edges, format, out, &mut stages)?;
        stages.finish();
        return Ok(());
    }
    let graph = load(edges, format, &StderrProgress::new())?;
    stages.done(format_args!("read and load into a graph: {} vertices", graph.vertex_count()));
    graph_path(job, &graph, seeds, out, &mut stages)?;
    stages.finish();
    Ok(())
}

/// PageRank and clusters on an edge list read straight into CSR arrays.
fn fast_path(job: Job, edges: &Path, format: Format, out: Option<&Path>, stages: &mut Stages) -> Result<()> {
    let progress = StderrProgress::new();
    if job == Job::Clusters {
        let config = ClusterConfig::default();
        let options = TopologyOptions {
            kinds: config.kinds.clone(),
            positive_ratings_only: true,
            count_kinds: true,
            rows: Side::Sources,
        };
        let topology = graph_engine::topology::read_topology(edges, format, &options, &progress)?;
        stages.done(format_args!("read into CSR arrays: {}", describe(&topology)));
        let found = reputation::clusters_of_topology(&topology, &config)?;
        stages.done(format_args!("clusters"));
        say_summary(out, &format!("modularity {:.6}, {} communities", found.modularity, found.count));
        write_named_rows(&topology.names, "community", out, |v| found.community[v].to_string())?;
        stages.done(format_args!("write rows"));
        return Ok(());
    }
    let config = PageRankConfig::default();
    let options = TopologyOptions {
        kinds: config.kinds.clone(),
        positive_ratings_only: false,
        count_kinds: false,
        rows: Side::Targets,
    };
    let topology = graph_engine::topology::read_topology(edges, format, &options, &progress)?;
    stages.done(format_args!("read into CSR arrays: {}", describe(&topology)));
    let pagerank = reputation::pagerank_topology(&topology, &config)?;
    stages.done(format_args!("pagerank"));
    eprintln!("pagerank: {} iterations, last change {:.3e}", pagerank.iterations, pagerank.delta);
    let names = topology.names;
    drop((topology.offsets, topology.neighbours));
    write_named_rows(&names, "score", out, |v| pagerank.scores[v].to_string())?;
    stages.done(format_args!("write rows"));
    Ok(())
}

fn describe(topology: &Topology) -> String {
    let r = &topology.report;
    format!(
        "{} lines, {} vertices, {} edges ({} duplicates merged, {} self-loops skipped)",
        r.lines, r.vertices_new, r.edges, r.duplicates, r.self_loops
    )
}

/// Prints a job's one-line summary: on stdout when the rows go to a file, else on stderr.
fn say_summary(out: Option<&Path>, summary: &str) {
    if out.is_some() {
        println!("{summary}");
    } else {
        eprintln!("{summary}");
    }
}

/// Rows per parallel task when rows are formatted.
const ROWS_PER_TASK: usize = 1 << 16;

/// Writes `id,COLUMN` rows for every vertex of an edge list: CSV, or JSON objects when `out`
/// ends in `.json`. Rows are formatted in parallel.
fn write_named_rows(
    names: &Names,
    column: &str,
    out: Option<&Path>,
    value: impl Fn(usize) -> String + Sync,
) -> Result<()> {
    if out.is_some_and(is_json) {
        let rows: Vec<(String, String)> =
            (0..names.len()).map(|v| (names.get(v as u32).into_owned(), value(v))).collect();
        return write_json(column, rows, out);
    }
    let parts: Vec<Vec<u8>> = (0..names.len().div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .map(|c| {
            let mut part = Vec::with_capacity(ROWS_PER_TASK * 24);
            for v in c * ROWS_PER_TASK..((c + 1) * ROWS_PER_TASK).min(names.len()) {
                names.write_csv_field(v as u32, &mut part);
                part.push(b',');
                part.extend_from_slice(value(v).as_bytes());
                part.push(b'\n');
            }
            part
        })
        .collect();
    let mut sink = sink(out)?;
    writeln!(sink, "id,{column}")?;
    for part in parts {
        sink.write_all(&part)?;
    }
    sink.flush()?;
    Ok(())
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Where rows go: the file, or stdout.
fn sink(out: Option<&Path>) -> Result<Box<dyn Write>> {
    Ok(match out {
        Some(path) => Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

/// Jobs on a graph loaded from the file: trust, contribution, alignment, and PageRank and
/// clusters on JSONL.
fn graph_path(job: Job, graph: &Graph, seeds: Option<&Path>, out: Option<&Path>, stages: &mut Stages) -> Result<()> {
    if job == Job::Clusters {
        let found = reputation::clusters(graph, &ClusterConfig::default())?;
        stages.done(format_args!("clusters"));
        say_summary(out, &format!("modularity {:.6}, {} communities", found.modularity, found.count));
        let rows: Vec<(u32, String)> = masks(graph).map(|v| (v, found.community[v as usize].to_string())).collect();
        return write_rows(graph, "community", rows, out);
    }
    if job == Job::Alignment {
        // Masks get their viewpoint factor; judged items (proposals, works) their intercept,
        // "valued across viewpoints".
        let model = reputation::alignment(graph, &reputation::AlignmentConfig::default())?;
        stages.done(format_args!("alignment"));
        let rows: Vec<(u32, String)> = (0..graph.vertex_count() as u32)
            .filter_map(|v| match graph.kind_at(v) {
                VertexKind::Mask => Some((v, model.mask_factor[v as usize].to_string())),
                VertexKind::Proposal | VertexKind::Work if model.item_intercept[v as usize] != 0.0 => {
                    Some((v, model.item_intercept[v as usize].to_string()))
                }
                _ => None,
            })
            .collect();
        return write_rows(graph, "score", rows, out);
    }
    let scores: Vec<f64> = if matches!(job, Job::Trust | Job::Contribution) {
        let seeds = match seeds {
            Some(path) => read_seeds(path, graph)?,
            None => {
                eprintln!("no seeds given: trust falls back to uniform pre-trust over all masks");
                Vec::new()
            }
        };
        // Researchers' unsigned edge lists are trust statements: follows count 1.
        let config = TrustConfig { follow_weight: 1.0, ..TrustConfig::default() };
        let trust = reputation::trust(graph, &seeds, &config)?;
        stages.done(format_args!("trust"));
        let flagged = trust.sybil.iter().filter(|&&s| s).count();
        eprintln!(
            "trust: {} iterations, last change {:.3e}, {flagged} masks flagged as likely sybils",
            trust.iterations, trust.delta
        );
        if job == Job::Contribution {
            let found = reputation::contribution(graph, &trust, &reputation::ContributionConfig::default())?;
            stages.done(format_args!("contribution"));
            found.score
        } else {
            trust.trust
        }
    } else {
        let pagerank = reputation::pagerank(graph, &PageRankConfig::default())?;
        stages.done(format_args!("pagerank"));
        eprintln!("pagerank: {} iterations, last change {:.3e}", pagerank.iterations, pagerank.delta);
        pagerank.scores
    };
    let rows = masks(graph).map(|v| (v, scores[v as usize].to_string())).collect();
    write_rows(graph, "score", rows, out)
}

fn masks(graph: &Graph) -> impl Iterator<Item = u32> + '_ {
    (0..graph.vertex_count() as u32).filter(|&v| graph.kind_at(v) == VertexKind::Mask)
}

/// Writes `id,COLUMN` rows of a graph's vertices: CSV, or JSON objects when `out` ends in
/// `.json`.
fn write_rows(graph: &Graph, column: &str, rows: Vec<(u32, String)>, out: Option<&Path>) -> Result<()> {
    let id = |v: u32| graph.external_at(v).map(str::to_owned).unwrap_or_else(|| graph.id_at(v).to_string());
    let rows: Vec<(String, String)> = rows.into_iter().map(|(v, value)| (id(v), value)).collect();
    if out.is_some_and(is_json) {
        return write_json(column, rows, out);
    }
    let mut sink = sink(out)?;
    writeln!(sink, "id,{column}")?;
    for (id, value) in &rows {
        // Quote ids that would break a CSV row.
        if id.contains([',', '"', '\n', '\r']) {
            writeln!(sink, "\"{}\",{value}", id.replace('"', "\"\""))?;
        } else {
            writeln!(sink, "{id},{value}")?;
        }
    }
    sink.flush()?;
    Ok(())
}

/// Writes rows as a JSON array of `{"id": …, COLUMN: …}`, numbers as numbers.
fn write_json(column: &str, rows: Vec<(String, String)>, out: Option<&Path>) -> Result<()> {
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(id, value)| {
            let value: serde_json::Value = match value.parse::<u64>() {
                Ok(n) => n.into(),
                Err(_) => value.parse::<f64>().map_or(serde_json::Value::Null, serde_json::Value::from),
            };
            serde_json::json!({ "id": id, column: value })
        })
        .collect();
    let mut sink = sink(out)?;
    serde_json::to_writer_pretty(&mut sink, &rows)?;
    writeln!(sink)?;
    sink.flush()?;
    Ok(())
}
