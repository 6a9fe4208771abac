//! `daira analyze`: reputation jobs on researchers' own edge lists, in memory, with rows that
//! keep the input's original ids.

use crate::progress::StderrProgress;
use anyhow::{Context, Result, bail};
use graph_engine::import::{self, Format};
use graph_engine::{Graph, Progress};
use reputation::{PageRankConfig, TrustConfig};
use schema::{IdGenerator, VertexKind};
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// Runs the job and writes `id,score` rows (to `out`, or CSV on stdout).
pub fn run(request: &Request) -> Result<()> {
    let Request { job, edges, format, seeds, out, .. } = request;
    let (job, format, seeds, out) = (*job, *format, seeds.as_deref(), out.as_deref());
    if !matches!(job, Job::Trust | Job::Contribution) && seeds.is_some() {
        bail!("--seeds applies to trust and contribution, not {job:?}");
    }
    let graph = load(edges, format, &StderrProgress::new())?;
    if job == Job::Clusters {
        let found = reputation::clusters(&graph, &reputation::ClusterConfig::default())?;
        let summary = format!("modularity {:.6}, {} communities", found.modularity, found.count);
        // The rows may be on stdout: the summary then goes to stderr.
        if out.is_some() {
            println!("{summary}");
        } else {
            eprintln!("{summary}");
        }
        let rows: Vec<(u32, String)> = masks(&graph).map(|v| (v, found.community[v as usize].to_string())).collect();
        return write_rows(&graph, "community", rows, out);
    }
    if job == Job::Alignment {
        // Masks get their viewpoint factor; judged items (proposals, works) their intercept,
        // "valued across viewpoints".
        let model = reputation::alignment(&graph, &reputation::AlignmentConfig::default())?;
        let rows: Vec<(u32, String)> = (0..graph.vertex_count() as u32)
            .filter_map(|v| match graph.kind_at(v) {
                VertexKind::Mask => Some((v, model.mask_factor[v as usize].to_string())),
                VertexKind::Proposal | VertexKind::Work if model.item_intercept[v as usize] != 0.0 => {
                    Some((v, model.item_intercept[v as usize].to_string()))
                }
                _ => None,
            })
            .collect();
        return write_rows(&graph, "score", rows, out);
    }
    let scores: Vec<f64> = if matches!(job, Job::Trust | Job::Contribution) {
        let seeds = match seeds {
            Some(path) => read_seeds(path, &graph)?,
            None => {
                eprintln!("no seeds given: trust falls back to uniform pre-trust over all masks");
                Vec::new()
            }
        };
        // Researchers' unsigned edge lists are trust statements: follows count 1.
        let config = TrustConfig { follow_weight: 1.0, ..TrustConfig::default() };
        let trust = reputation::trust(&graph, &seeds, &config)?;
        let flagged = trust.sybil.iter().filter(|&&s| s).count();
        eprintln!(
            "trust: {} iterations, last change {:.3e}, {flagged} masks flagged as likely sybils",
            trust.iterations, trust.delta
        );
        if job == Job::Contribution {
            let found = reputation::contribution(&graph, &trust, &reputation::ContributionConfig::default())?;
            found.score
        } else {
            trust.trust
        }
    } else {
        let pagerank = reputation::pagerank(&graph, &PageRankConfig::default())?;
        eprintln!("pagerank: {} iterations, last change {:.3e}", pagerank.iterations, pagerank.delta);
        pagerank.scores
    };
    let rows = masks(&graph).map(|v| (v, scores[v as usize].to_string())).collect();
    write_rows(&graph, "score", rows, out)
}

fn masks(graph: &Graph) -> impl Iterator<Item = u32> + '_ {
    (0..graph.vertex_count() as u32).filter(|&v| graph.kind_at(v) == VertexKind::Mask)
}

/// Writes `id,COLUMN` rows: CSV, or JSON objects when `out` ends in `.json`.
fn write_rows(graph: &Graph, column: &str, rows: Vec<(u32, String)>, out: Option<&Path>) -> Result<()> {
    let id = |v: u32| graph.external_at(v).map(str::to_owned).unwrap_or_else(|| graph.id_at(v).to_string());
    let json = out.is_some_and(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")));
    let mut buffer = Vec::new();
    if json {
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|(v, value)| {
                let value: serde_json::Value = match value.parse::<u64>() {
                    Ok(n) => n.into(),
                    Err(_) => value.parse::<f64>().map_or(serde_json::Value::Null, serde_json::Value::from),
                };
                serde_json::json!({ "id": id(*v), column: value })
            })
            .collect();
        serde_json::to_writer_pretty(&mut buffer, &rows)?;
        buffer.push(b'\n');
    } else {
        writeln!(buffer, "id,{column}")?;
        for (v, value) in &rows {
            let id = id(*v);
            // Quote ids that would break a CSV row.
            if id.contains([',', '"', '\n']) {
                writeln!(buffer, "\"{}\",{value}", id.replace('"', "\"\""))?;
            } else {
                writeln!(buffer, "{id},{value}")?;
            }
        }
    }
    match out {
        Some(path) => std::fs::write(path, &buffer).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().write_all(&buffer)?,
    }
    Ok(())
}
