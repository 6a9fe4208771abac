//! `daira ledger issue`: the operator issues money, with a reason, on the data directory (while
//! no server holds it); and the ledger's audit that `daira audit verify` runs after the chain.
//!
//! Issuance is the one act that creates money, so it is the operator's, logged with its reason
//! (sealed in the log like every transfer: balances are their owners' alone). Each grant's
//! transfer id is derived from the reason, the line and the amount, so running the same
//! issuance again — after a crash half-way through a long file, say — issues nothing twice.

use graph_engine::{Engine, GraphView, ledger_key};
use schema::ledger::{GROUP_MAX, format_egp, parse_egp};
use schema::{Command, Handle, View};

/// One grant as written: a handle and an amount, from a line of a file (or the command line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The mask's handle.
    pub handle: String,
    /// Piastres.
    pub amount: u64,
    /// Where it was written (`FILE:LINE`, or `--to`).
    pub origin: String,
}

/// Parses a file of `handle,amount` lines (EGP with at most two decimals; blank lines and
/// lines starting with `#` are skipped). Every bad line is named, with its file and line.
pub fn parse_grants(text: &str, file: &str) -> Result<Vec<Grant>, String> {
    let mut grants = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let origin = format!("{file}:{}", i + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((handle, amount)) = line.split_once(',') else {
            errors.push(format!("{origin}: expected HANDLE,AMOUNT (e.g. nour_2ahwa,100.00)"));
            continue;
        };
        match parse_egp(amount) {
            Ok(amount) => {
                grants.push(Grant { handle: handle.trim().trim_start_matches('@').to_owned(), amount, origin })
            }
            Err(e) => errors.push(format!("{origin}: {e}")),
        }
        if errors.len() >= 20 {
            errors.push("… (stopped after 20 errors)".into());
            break;
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    if grants.is_empty() {
        return Err(format!("{file}: no grants (lines of HANDLE,AMOUNT)"));
    }
    Ok(grants)
}

/// What an issuance did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Issued {
    /// Grants issued now.
    pub issued: usize,
    /// Grants already issued by an earlier run (same reason, line and amount).
    pub already: usize,
    /// Piastres issued now.
    pub piastres: u64,
}

/// Issues `grants` with `reason`: every handle is resolved first (an unknown one fails the
/// whole issuance before anything is written), then the grants go in groups of up to
/// [`GROUP_MAX`], each one durable event.
pub async fn issue(engine: &Engine, grants: &[Grant], reason: &str) -> anyhow::Result<Issued> {
    let mut resolved = Vec::with_capacity(grants.len());
    {
        let graph = engine.read();
        let view = GraphView(&graph);
        let mut unknown = Vec::new();
        for g in grants {
            let mask = Handle::parse(&g.handle).ok().and_then(|h| view.handle_holder(&h));
            match mask {
                Some(mask) => {
                    let key = format!("{reason}\0{}\0{}", g.origin, g.amount);
                    resolved.push((ledger_key("issue", mask, &key), mask, g.amount));
                }
                None => unknown.push(format!("{}: no mask has the handle {:?}", g.origin, g.handle)),
            }
        }
        if !unknown.is_empty() {
            anyhow::bail!("nothing was issued:\n{}", unknown.join("\n"));
        }
    }
    let mut report = Issued::default();
    for chunk in resolved.chunks(GROUP_MAX) {
        let before: Vec<bool> = {
            let graph = engine.read();
            chunk.iter().map(|(id, ..)| graph.economy().ledger.transfers.contains_key(id)).collect()
        };
        let command = Command::Issue { grants: chunk.to_vec(), reason: reason.to_owned() };
        engine.execute(command).await.map_err(|e| anyhow::anyhow!("issuing: {e}"))?;
        for ((_, _, amount), known) in chunk.iter().zip(before) {
            if known {
                report.already += 1;
            } else {
                report.issued += 1;
                report.piastres += amount;
            }
        }
    }
    Ok(report)
}

/// The ledger's audit on a replayed graph: the invariants (Σ debits = Σ credits, posted and
/// pending; every account equal to the sum of its transfers; none overdrawn; issuance equal
/// to what the issuance account paid; every escrow matching its milestone), and a summary.
pub fn audit(graph: &graph_engine::Graph) -> Result<String, String> {
    let economy = graph.economy();
    economy.check()?;
    let ledger = &economy.ledger;
    let pending: u64 = ledger.accounts.values().map(|a| a.debits_pending).sum();
    Ok(format!(
        "ledger balanced: {} accounts, {} transfers, {} EGP issued, {} EGP pending, {} listings, {} trades, {} contracts",
        ledger.accounts.len(),
        ledger.transfers.len(),
        format_egp(u64::try_from(economy.issued).unwrap_or(u64::MAX)),
        format_egp(pending),
        economy.listings.len(),
        economy.trades.len(),
        economy.contracts.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grants_file_is_parsed_and_every_bad_line_named() {
        let grants = parse_grants("# opening grants\nnour_2ahwa,100.00\n\n@omar_beats, 12.5\n", "grants.csv").unwrap();
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[1], Grant { handle: "omar_beats".into(), amount: 1_250, origin: "grants.csv:4".into() });
        let e = parse_grants("a,1\nb;2\nc,1.234\n", "g.csv").unwrap_err();
        assert!(e.contains("g.csv:2: expected HANDLE,AMOUNT"), "{e}");
        assert!(e.contains("g.csv:3:") && e.contains("more than two decimals"), "{e}");
        assert!(parse_grants("# nothing\n", "empty.csv").is_err());
    }
}
