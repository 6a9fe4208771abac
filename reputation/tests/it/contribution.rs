//! Contribution: remix credit upstream, rings gain nothing, decay, explanations, determinism.

use graph_engine::Graph;
use reputation::{ContributionConfig, TrustConfig, contribution, trust};

const DAY: i64 = 86_400;

/// A small creative community as JSONL: honest creators h0..h9 rating each other, one original
/// work by h0 remixed by h1, endorsed by honest masks; a ring r0..r4 (separate users) endorsing
/// each other's works, vouched for by nobody honest.
fn community() -> String {
    let mut lines = Vec::new();
    let t0 = 1_700_000_000i64;
    for i in 0..10 {
        lines.push(format!(r#"{{"vertex":"user","id":"uh{i}"}}"#));
        lines.push(format!(
            r#"{{"vertex":"mask","id":"h{i}","owner":"uh{i}","props":{{"kind":"creator","handle":"honest_{i}"}}}}"#
        ));
    }
    for i in 0..5 {
        lines.push(format!(r#"{{"vertex":"user","id":"ur{i}"}}"#));
        lines.push(format!(
            r#"{{"vertex":"mask","id":"r{i}","owner":"ur{i}","props":{{"kind":"creator","handle":"ring_{i}"}}}}"#
        ));
        lines.push(format!(r#"{{"vertex":"work","id":"rw{i}","props":{{"title":"ring work {i}"}}}}"#));
    }
    lines.push(r#"{"vertex":"work","id":"original","props":{"title":"خط عربي"}}"#.to_string());
    lines.push(r#"{"vertex":"work","id":"remix","props":{"title":"mahraganat remix"}}"#.to_string());
    for i in 0..10 {
        for j in 0..10 {
            if i != j && (i + j) % 3 == 0 {
                lines.push(format!(
                    r#"{{"edge":"rates","src":"h{i}","dst":"h{j}","props":{{"rating":8,"time":{t0}}}}}"#
                ));
            }
        }
    }
    lines.push(r#"{"edge":"authored","src":"h0","dst":"original","props":{"share":1.0}}"#.to_string());
    lines.push(r#"{"edge":"authored","src":"h1","dst":"remix","props":{"share":1.0}}"#.to_string());
    lines.push(r#"{"edge":"remix_of","src":"remix","dst":"original"}"#.to_string());
    for i in 2..10 {
        lines
            .push(format!(r#"{{"edge":"endorses","src":"h{i}","dst":"remix","props":{{"time":{}}}}}"#, t0 + 100 * DAY));
    }
    for i in 0..5 {
        lines.push(format!(r#"{{"edge":"authored","src":"r{i}","dst":"rw{i}","props":{{"share":1.0}}}}"#));
        for j in 0..5 {
            if i != j {
                lines.push(format!(
                    r#"{{"edge":"endorses","src":"r{i}","dst":"rw{j}","props":{{"time":{}}}}}"#,
                    t0 + 100 * DAY
                ));
                lines.push(format!(
                    r#"{{"edge":"rates","src":"r{i}","dst":"r{j}","props":{{"rating":10,"time":{t0}}}}}"#
                ));
            }
        }
    }
    lines.join("\n") + "\n"
}

fn load(text: &str) -> Graph {
    crate::support::load_jsonl(text.as_bytes())
}

#[test]
fn credit_flows_upstream_and_rings_gain_nothing() {
    let graph = load(&community());
    let v = |e: &str| graph.index_of_external(e).unwrap();
    let seeds = [v("h2"), v("h5")];
    let t = trust(&graph, &seeds, &TrustConfig::default()).unwrap();
    let c = contribution(&graph, &t, &ContributionConfig::default()).unwrap();
    let (original, remixer) = (c.score[v("h0") as usize], c.score[v("h1") as usize]);
    assert!(original > 0.0, "the original's author earns from the remix's endorsements");
    assert!((original / (original + remixer) - 0.3).abs() < 1e-9, "30% passes upstream: {original} / {remixer}");
    let ring: f64 = (0..5).map(|i| c.score[v(&format!("r{i}")) as usize]).sum();
    assert!(ring < 1e-6 * remixer, "a ring endorsing itself earns nothing it did not earn outside: {ring}");
    let e = c.explain(v("h1"), 5);
    let sum = e.works.iter().map(|w| w.1).sum::<f64>() + e.collaborations + e.trades + e.governance;
    assert!((sum - e.total).abs() < 1e-12);
    assert_eq!(e.works[0].0, graph.id_at(v("remix")));
    assert_eq!(c.epoch.job, "contribution");
    assert!(c.epoch.params.iter().any(|(k, _)| *k == "now_ms"));
}

#[test]
fn older_endorsements_are_worth_less() {
    let text = community();
    let recent = load(&text);
    // The same endorsements, one half-life earlier (the newest event stays where it was).
    let older = load(
        &text
            .replace(
                &format!("\"time\":{}", 1_700_000_000 + 100 * DAY),
                &format!("\"time\":{}", 1_700_000_000 + 100 * DAY - 180 * DAY),
            )
            .replace(
                &format!("\"rating\":8,\"time\":{}", 1_700_000_000),
                &format!("\"rating\":8,\"time\":{}", 1_700_000_000 + 100 * DAY),
            ),
    );
    let score = |g: &Graph| {
        let v = |e: &str| g.index_of_external(e).unwrap();
        let t = trust(g, &[v("h2"), v("h5")], &TrustConfig::default()).unwrap();
        let c = contribution(g, &t, &ContributionConfig::default()).unwrap();
        c.score[v("h1") as usize]
    };
    let (new, old) = (score(&recent), score(&older));
    assert!(new > old, "{new} > {old}");
}

#[test]
fn contribution_is_bitwise_identical_with_one_or_two_threads() {
    let graph = load(&community());
    let seeds = [graph.index_of_external("h2").unwrap()];
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let t = trust(&graph, &seeds, &TrustConfig::default()).unwrap();
            contribution(&graph, &t, &ContributionConfig::default())
                .unwrap()
                .score
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(run(1), run(2));
}
