//! Alignment: bridging items rise above divisive ones; factions separate; worlds differ.

use graph_engine::Graph;
use reputation::{AlignmentConfig, alignment};

/// Two factions of 20 masks voting on divisive proposals, and a few bridging proposals both
/// approve. World wA holds faction A; wMix half of each.
fn factions() -> Graph {
    let mut lines = Vec::new();
    for side in ["a", "b"] {
        for i in 0..20 {
            lines.push(format!(r#"{{"vertex":"mask","id":"{side}{i}","props":{{"kind":"citizen"}}}}"#));
        }
    }
    for w in ["wA", "wMix"] {
        lines.push(format!(r#"{{"vertex":"world","id":"{w}","props":{{"name":"{w}"}}}}"#));
    }
    for p in ["pa0", "pa1", "pa2", "pa3", "pb0", "pb1", "pb2", "pb3", "bridge0", "bridge1"] {
        lines.push(format!(r#"{{"vertex":"proposal","id":"{p}","props":{{"title":"{p}"}}}}"#));
    }
    for side in ["a", "b"] {
        for i in 0..20 {
            for k in 0..4 {
                let own = if side == "a" { "yes" } else { "no" };
                let other = if side == "a" { "no" } else { "yes" };
                lines.push(format!(
                    r#"{{"edge":"voted","src":"{side}{i}","dst":"pa{k}","props":{{"choice":"{own}"}}}}"#
                ));
                lines.push(format!(
                    r#"{{"edge":"voted","src":"{side}{i}","dst":"pb{k}","props":{{"choice":"{other}"}}}}"#
                ));
            }
            // Bridging proposals: most of both sides approve.
            for k in 0..2 {
                let choice = if (i + k) % 5 == 0 { "no" } else { "yes" };
                lines.push(format!(
                    r#"{{"edge":"voted","src":"{side}{i}","dst":"bridge{k}","props":{{"choice":"{choice}"}}}}"#
                ));
            }
        }
    }
    for i in 0..20 {
        lines.push(format!(r#"{{"edge":"member_of","src":"a{i}","dst":"wA"}}"#));
    }
    for i in 0..10 {
        lines.push(format!(r#"{{"edge":"member_of","src":"a{i}","dst":"wMix"}}"#));
        lines.push(format!(r#"{{"edge":"member_of","src":"b{i}","dst":"wMix"}}"#));
    }
    crate::support::load_jsonl((lines.join("\n") + "\n").as_bytes())
}

#[test]
fn bridging_items_rise_and_factions_separate() {
    let graph = factions();
    let v = |e: &str| graph.index_of_external(e).unwrap();
    let model = alignment(&graph, &AlignmentConfig::default()).unwrap();
    let intercept = |e: &str| model.item_intercept[v(e) as usize];
    let bridging = intercept("bridge0").min(intercept("bridge1"));
    for p in ["pa0", "pa3", "pb0", "pb3"] {
        assert!(bridging > intercept(p) + 0.1, "bridge {bridging} vs divisive {p} {}", intercept(p));
    }
    let (fa, fb) = (model.mask_factor[v("a3") as usize], model.mask_factor[v("b7") as usize]);
    assert!(fa * fb < 0.0, "the factions sit on opposite sides: {fa} / {fb}");
    let same = model.pairwise(v("a0"), v("a1"));
    let across = model.pairwise(v("a0"), v("b0"));
    assert_eq!(same.common, 10);
    assert!(same.agreement.unwrap() > 0.5 && across.agreement.unwrap() < -0.5, "{same:?} {across:?}");
    assert!(same.viewpoint > across.viewpoint);
    let (coherent, mixed) = (model.world_coherence(&graph, v("wA")), model.world_coherence(&graph, v("wMix")));
    assert!(coherent > mixed + 0.3, "coherence {coherent} vs {mixed}");
    assert_eq!(model.epoch.job, "alignment");
    // The divisive proposals, not the bridging ones, place a mask's viewpoint.
    let why = model.explain(v("a3"), 3);
    assert_eq!(why.len(), 3);
    let bridges = [graph.id_at(v("bridge0")), graph.id_at(v("bridge1"))];
    assert!(why.iter().all(|(item, _, _, _)| !bridges.contains(item)), "{why:?}");
    let total: f64 = model.explain(v("a3"), 100).iter().map(|r| r.3).sum();
    assert!((total - 1.0).abs() < 1e-9);
}

#[test]
fn alignment_is_bitwise_identical_with_one_or_two_threads() {
    let graph = factions();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let m = alignment(&graph, &AlignmentConfig::default()).unwrap();
            m.item_intercept.iter().chain(&m.mask_factor).map(|x| x.to_bits()).collect::<Vec<_>>()
        })
    };
    assert_eq!(run(1), run(2));
}
