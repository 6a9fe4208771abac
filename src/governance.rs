//! `daira governance tally PROPOSAL`: a recount from the log, for councils that audit.
//!
//! A closed proposal is recounted on the graph replayed through the event just before its
//! close — exactly what the writer counted when it recorded the result — and the recount is
//! compared with that record. An open one is counted on the whole log, as the API shows it.

use crate::DataConfig;
use crate::progress::StderrProgress;
use anyhow::{Context, Result, bail};
use graph_engine::{Engine, GraphView};
use schema::Id;
use schema::governance::outcome;
use std::process::ExitCode;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The engine id `proposal` names: 16 hex digits, or the API's global id (decoded with the
/// key file's ids key).
fn proposal_id(config: &DataConfig, proposal: &str) -> Result<Id> {
    let proposal = proposal.trim();
    if proposal.len() == 16
        && let Ok(raw) = u64::from_str_radix(proposal, 16)
    {
        return Ok(Id(raw));
    }
    let path = config.engine().key_file_path();
    let key = graph_engine::keyfile::KeyFile::read(&path)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .and_then(|file| file.get("id_key").ok().flatten());
    let decoded = key.and_then(|key| api::ids::GlobalIds::new(key).decode_as(api::ids::NodeKind::Proposal, proposal));
    decoded.ok_or_else(|| {
        anyhow::anyhow!(
            "PROPOSAL must be the proposal's id (16 hex digits) or its global id from the API (got {proposal:?}; global ids are read with the key file {})",
            path.display()
        )
    })
}

/// Recounts `proposal` (16 hex digits, or its global id) and prints the result as JSON.
/// Exit 1 when a closed proposal's recount differs from its recorded result.
pub async fn tally(config: &DataConfig, proposal: &str) -> Result<ExitCode> {
    let id = proposal_id(config, proposal)?;
    let progress = StderrProgress::new();
    let mut engine_config = config.engine();
    engine_config.read_only = true;
    let engine =
        Engine::open(&engine_config, &progress).await.with_context(|| format!("opening {}", config.data.display()))?;
    let (closing, head) = {
        let graph = engine.read();
        let Some(state) = graph.governance().proposals.get(&id) else {
            bail!("no proposal {proposal} in this log");
        };
        (state.closed.clone(), graph.position())
    };
    let (counted, through) = match &closing {
        Some(closing) => {
            let before = graph_engine::replay_through(&engine_config, closing.seq - 1, &progress).await?;
            (outcome(&GraphView(&before), id, true), closing.seq - 1)
        }
        None => (outcome(&GraphView(&engine.read()), id, false), head.seq),
    };
    engine.shutdown().await;
    let counted = counted.context("the proposal is missing from the replayed log")?;
    let matches = closing.as_ref().map(|c| c.outcome == counted);
    let document = serde_json::json!({
        "proposal": id.to_string(),
        "counted_through_seq": through,
        "closed": closing.as_ref().map(|c| serde_json::json!({ "seq": c.seq, "log_hash": hex(&c.hash) })),
        "outcome": counted,
        "matches_recorded": matches,
    });
    println!("{}", serde_json::to_string_pretty(&document)?);
    if matches == Some(false) {
        eprintln!("the recount differs from the result recorded at sequence {}", closing.map_or(0, |c| c.seq));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
