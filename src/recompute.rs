//! `daira audit recompute [--epoch N]`: a kept epoch, recomputed from the log, for councils
//! that audit reputation.
//!
//! The log is replayed through the epoch's cut (its log position), the chain hash there is
//! checked against the one the epoch recorded, and every job is computed again with the
//! parameters this binary holds; each job's parameters and every score are then compared,
//! bit for bit, with the kept epoch. Exit 0 when all match, 1 when anything differs (named).

use crate::DataConfig;
use crate::progress::StderrProgress;
use anyhow::{Context, Result, bail};
use graph_engine::log::hex;
use reputation::{Epoch, Epochs, ScoreSet};
use std::process::ExitCode;

/// Recomputes epoch `number` (the newest kept when None) and reports job by job.
pub async fn recompute(config: &DataConfig, number: Option<u64>) -> Result<ExitCode> {
    let dir = config.data.join("epochs");
    let (epochs, unreadable) = Epochs::open(&dir, usize::MAX).with_context(|| format!("reading {}", dir.display()))?;
    for file in &unreadable {
        eprintln!("skipped: {file}");
    }
    let kept = epochs.numbers();
    let set = match number {
        Some(n) => epochs.get(n),
        None => epochs.latest(),
    };
    let Some(kept_set) = set else {
        bail!(
            "{} is not kept in {} (kept: {kept:?})",
            number.map_or("no epoch".to_owned(), |n| format!("epoch {n}")),
            dir.display()
        );
    };
    let cut = kept_set.position;
    println!("epoch {}: cut at log position {}, chain hash {}", kept_set.number, cut.seq, hex(&cut.hash));
    let mut engine_config = config.engine();
    engine_config.read_only = true;
    let graph = graph_engine::replay_through(&engine_config, cut.seq, &StderrProgress::new())
        .await
        .with_context(|| format!("replaying {} through {}", config.data.display(), cut.seq))?;
    let replayed = graph.position();
    if replayed != cut {
        println!(
            "the log differs at the cut: replayed to {} with chain hash {}, the epoch recorded {} and {}",
            replayed.seq,
            hex(&replayed.hash),
            cut.seq,
            hex(&cut.hash)
        );
        return Ok(ExitCode::from(1));
    }
    println!("log replayed through {}: chain hash matches", cut.seq);
    let again = ScoreSet::compute(kept_set.number, &graph)?;
    let mut differs = 0;
    let mut report = |job: &str, kept: &Epoch, again: &Epoch, values: &[(&str, Vec<u64>, Vec<u64>)]| {
        let mut problems = Vec::new();
        if kept.job_version != again.job_version || kept.params != again.params {
            problems.push(format!(
                "parameters differ (kept v{} {:?}, this binary v{} {:?}): recompute with the binary that computed it",
                kept.job_version, kept.params, again.job_version, again.params
            ));
        }
        for (name, a, b) in values {
            if a.len() != b.len() {
                problems.push(format!("{name}: {} values kept, {} recomputed", a.len(), b.len()));
            } else if let Some(first) = a.iter().zip(b).position(|(x, y)| x != y) {
                let count = a.iter().zip(b).filter(|(x, y)| x != y).count();
                problems.push(format!("{name}: {count} values differ (the first at vertex {first})"));
            }
        }
        if problems.is_empty() {
            let n: usize = values.iter().map(|(_, a, _)| a.len()).sum();
            println!("{job}: v{} with the same parameters; {n} values identical, bit for bit", kept.job_version);
        } else {
            differs += 1;
            for p in problems {
                println!("{job}: {p}");
            }
        }
    };
    let bits = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    let ints = |xs: &[u32]| xs.iter().map(|&x| u64::from(x)).collect::<Vec<u64>>();
    let flags = |xs: &[bool]| xs.iter().map(|&x| u64::from(x)).collect::<Vec<u64>>();
    report(
        "trust",
        &kept_set.trust.epoch,
        &again.trust.epoch,
        &[
            ("trust", bits(&kept_set.trust.trust), bits(&again.trust.trust)),
            ("sybil", flags(&kept_set.trust.sybil), flags(&again.trust.sybil)),
        ],
    );
    report(
        "contribution",
        &kept_set.contribution.epoch,
        &again.contribution.epoch,
        &[
            ("score", bits(&kept_set.contribution.score), bits(&again.contribution.score)),
            ("work value", bits(&kept_set.contribution.work_value), bits(&again.contribution.work_value)),
        ],
    );
    report(
        "alignment",
        &kept_set.alignment.epoch,
        &again.alignment.epoch,
        &[
            ("mask intercept", bits(&kept_set.alignment.mask_intercept), bits(&again.alignment.mask_intercept)),
            ("mask factor", bits(&kept_set.alignment.mask_factor), bits(&again.alignment.mask_factor)),
            ("item intercept", bits(&kept_set.alignment.item_intercept), bits(&again.alignment.item_intercept)),
            ("item factor", bits(&kept_set.alignment.item_factor), bits(&again.alignment.item_factor)),
        ],
    );
    report(
        "clusters",
        &kept_set.clusters.epoch,
        &again.clusters.epoch,
        &[("community", ints(&kept_set.clusters.community), ints(&again.clusters.community))],
    );
    if differs == 0 {
        println!("epoch {} recomputed from the log: identical", kept_set.number);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("epoch {} recomputed from the log: {differs} job(s) differ", kept_set.number);
        Ok(ExitCode::from(1))
    }
}
