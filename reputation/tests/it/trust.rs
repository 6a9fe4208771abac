//! Trust: determinism across thread counts, sybil resistance, explanations, collapsed masks.

use graph_engine::Graph;
use reputation::{PageRankConfig, TrustConfig, pagerank, trust};
use schema::{EdgeBatch, EdgeKind, F32s, Id, ImportBatch, NewVertex, Props, VertexKind};

/// A graph of masks (and optional owners) from explicit rating edges (src, dst, rating).
fn graph_of(masks: usize, owners: &[(usize, usize)], ratings: &[(u32, u32, f32)]) -> Graph {
    let mut vertices: Vec<NewVertex> = (0..masks)
        .map(|i| NewVertex {
            id: Id(1_000_000 + i as u64),
            kind: VertexKind::Mask,
            external: format!("m{i}"),
            props: Props::new(),
        })
        .collect();
    let users: usize = owners.iter().map(|&(u, _)| u + 1).max().unwrap_or(0);
    vertices.extend((0..users).map(|u| NewVertex {
        id: Id(9_000_000 + u as u64),
        kind: VertexKind::User,
        external: format!("u{u}"),
        props: Props::new(),
    }));
    let mut edges = Vec::new();
    if !owners.is_empty() {
        let mut owns = EdgeBatch::new(EdgeKind::Owns);
        let mut pairs: Vec<(u32, u32)> = owners.iter().map(|&(u, m)| ((masks + u) as u32, m as u32)).collect();
        pairs.sort();
        for (u, m) in pairs {
            owns.src.push(u);
            owns.dst.push(m);
        }
        edges.push(owns);
    }
    let mut sorted = ratings.to_vec();
    sorted.sort_by_key(|&(s, d, _)| (s, d));
    sorted.dedup_by_key(|e| (e.0, e.1));
    let mut rates = EdgeBatch::new(EdgeKind::Rates);
    let mut weights = Vec::new();
    for (s, d, w) in sorted {
        rates.src.push(s);
        rates.dst.push(d);
        weights.push(w);
    }
    rates.weight = Some(F32s(weights));
    edges.push(rates);
    Graph::from_import(ImportBatch { source: "test".into(), vertices, refs: vec![], edges }).unwrap()
}

/// An honest community of `honest` masks (random ratings, mostly positive), a sybil region of
/// `sybils` masks rating each other densely, and `attack` honest → sybil edges.
fn attacked(honest: usize, sybils: usize, attack: usize) -> (Graph, Vec<u32>) {
    let mut rng = schema::SplitMix64::new(7);
    let mut ratings = Vec::new();
    for u in 0..honest as u32 {
        for _ in 0..10 {
            let v = rng.below(honest as u64) as u32;
            if v != u {
                let r = if rng.below(10) == 0 { -5.0 } else { (1 + rng.below(10)) as f32 };
                ratings.push((u, v, r));
            }
        }
    }
    for s in 0..sybils as u32 {
        for _ in 0..20 {
            let t = rng.below(sybils as u64) as u32;
            if t != s {
                ratings.push((honest as u32 + s, honest as u32 + t, 10.0));
            }
        }
    }
    for _ in 0..attack {
        let (u, s) = (rng.below(honest as u64) as u32, honest as u32 + rng.below(sybils as u64) as u32);
        ratings.push((u, s, 10.0));
    }
    let graph = graph_of(honest + sybils, &[], &ratings);
    let seeds: Vec<u32> = (0..20).map(|i| graph.index_of_external(&format!("m{}", i * 37)).unwrap()).collect();
    (graph, seeds)
}

fn sybil_share(graph: &Graph, scores: &[f64], honest: usize) -> f64 {
    (0..graph.vertex_count() as u32)
        .filter(|&v| {
            graph.external_at(v).is_some_and(|e| e.starts_with('m') && e[1..].parse::<usize>().unwrap() >= honest)
        })
        .map(|v| scores[v as usize])
        .sum()
}

#[test]
fn a_sybil_region_behind_few_attack_edges_holds_little_trust() {
    for (attack, limit) in [(10, 0.005), (100, 0.03)] {
        let (graph, seeds) = attacked(5_000, 1_000, attack);
        let scores = trust(&graph, &seeds, &TrustConfig::default()).unwrap();
        let share = sybil_share(&graph, &scores.trust, 5_000);
        assert!(share <= limit, "{attack} attack edges: sybils hold {share:.4} of trust (limit {limit})");
        let total: f64 = scores.trust.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "trust sums to 1, not {total}");
        eprintln!("{attack} attack edges: sybil share {share:.5}, {} iterations", scores.iterations);
    }
}

#[test]
fn results_are_bitwise_identical_with_one_or_two_threads() {
    let (graph, seeds) = attacked(3_000, 500, 30);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let t = trust(&graph, &seeds, &TrustConfig::default()).unwrap();
            let p = pagerank(&graph, &PageRankConfig::default()).unwrap();
            (
                t.trust.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                t.sybil.clone(),
                p.scores.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            )
        })
    };
    assert_eq!(run(1), run(2));
    assert_eq!(run(2), run(3));
}

#[test]
fn explanations_add_up_and_name_the_trusting_masks() {
    let ratings = [(0, 1, 10.0), (2, 1, 5.0), (1, 0, 10.0), (3, 1, -8.0), (1, 3, 2.0), (3, 0, 4.0)];
    let graph = graph_of(4, &[], &ratings);
    let v = |i: usize| graph.index_of_external(&format!("m{i}")).unwrap();
    let scores = trust(&graph, &[v(0)], &TrustConfig::default()).unwrap();
    let e = scores.explain(v(1), 10);
    let sum: f64 = e.teleport + e.dangling + e.edges.iter().map(|(_, a)| a).sum::<f64>();
    // The contributions are one more power step from the converged scores: equal within the
    // convergence tolerance.
    assert!((sum - e.before_discount).abs() < 1e-9, "{e:?}");
    assert_eq!(e.edges[0].0, graph.id_at(v(0)), "the largest contribution comes first");
    assert_eq!(e.distrust.len(), 1);
    assert_eq!(e.distrust[0].0, graph.id_at(v(3)));
    assert_eq!(scores.epoch.job, "trust");
    assert_eq!(scores.epoch.log_seq, graph.position().seq);
    assert!(scores.epoch.params.iter().any(|(k, v)| *k == "damping" && v == "0.85"));
}

#[test]
fn scores_do_not_depend_on_who_owns_which_mask() {
    // The same ratings under two ownerships: one user owning masks 0..4 (which all rate mask
    // 10), or every mask its own user. Trust, its explanation and the sybil flags are the same:
    // anyone can read scores, so a score that depended on ownership would tell who owns what.
    let mut ratings: Vec<(u32, u32, f32)> = (0..4).map(|a| (a, 10, 10.0)).collect();
    ratings.extend([(10, 11, 10.0), (11, 10, 10.0), (5, 0, 7.0), (6, 1, -3.0), (4, 5, 2.0)]);
    let together: Vec<(usize, usize)> = (0..4).map(|m| (0, m)).chain((4..12).map(|m| (m, m))).collect();
    let apart: Vec<(usize, usize)> = (0..12).map(|m| (m, m)).collect();
    let a = graph_of(12, &together, &ratings);
    let b = graph_of(12, &apart, &ratings);
    let seeds_a: Vec<u32> = [0, 10].iter().map(|i| a.index_of_external(&format!("m{i}")).unwrap()).collect();
    let seeds_b: Vec<u32> = [0, 10].iter().map(|i| b.index_of_external(&format!("m{i}")).unwrap()).collect();
    for (sa, sb) in [(&[][..], &[][..]), (&seeds_a[..], &seeds_b[..])] {
        let x = trust(&a, sa, &TrustConfig::default()).unwrap();
        let y = trust(&b, sb, &TrustConfig::default()).unwrap();
        for m in 0..12 {
            let (va, vb) =
                (a.index_of_external(&format!("m{m}")).unwrap(), b.index_of_external(&format!("m{m}")).unwrap());
            assert!((x.trust[va as usize] - y.trust[vb as usize]).abs() < 1e-12, "mask {m}");
            assert_eq!(x.sybil[va as usize], y.sybil[vb as usize], "mask {m}");
            let (ea, eb) = (x.explain(va, 5), y.explain(vb, 5));
            assert!(
                (ea.teleport - eb.teleport).abs() < 1e-15 && (ea.before_discount - eb.before_discount).abs() < 1e-12
            );
        }
    }
    // Pre-trust is per seed (or per mask without seeds), never per user.
    let x = trust(&a, &seeds_a, &TrustConfig::default()).unwrap();
    let e = x.explain(seeds_a[0], 3);
    assert!((e.teleport - 0.15 / 2.0).abs() < 1e-12, "{e:?}");
}

#[test]
fn an_empty_graph_gives_an_empty_result() {
    let graph = Graph::new();
    let scores = trust(&graph, &[], &TrustConfig::default()).unwrap();
    assert!(scores.trust.is_empty());
    let p = pagerank(&graph, &PageRankConfig::default()).unwrap();
    assert!(p.scores.is_empty());
}

#[test]
fn pagerank_of_a_cycle_is_uniform_and_of_a_star_favours_the_centre() {
    let cycle = graph_of(5, &[], &[(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 4, 1.0), (4, 0, 1.0)]);
    let config = PageRankConfig { kinds: vec![EdgeKind::Rates], ..PageRankConfig::default() };
    let p = pagerank(&cycle, &config).unwrap();
    assert!(p.scores.iter().all(|&s| (s - 0.2).abs() < 1e-9), "{:?}", p.scores);
    let star = graph_of(5, &[], &[(1, 0, 1.0), (2, 0, 1.0), (3, 0, 1.0), (4, 0, 1.0)]);
    let p = pagerank(&star, &config).unwrap();
    let centre = star.index_of_external("m0").unwrap() as usize;
    // Known closed form: leaves (1-d)/n + d·x0/n (x0 dangling), centre adds d·4·leaf.
    let leaf = p.scores[(centre + 1) % 5];
    assert!((p.scores[centre] - (0.15 / 5.0 + 0.85 * (4.0 * leaf + p.scores[centre] / 5.0))).abs() < 1e-9);
    assert!((p.scores.iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

/// A mask with no edges and no pre-trust scores what `isolated` says, with seeds and without:
/// the API gives that to masks made after an epoch, so their newness shows nowhere.
#[test]
fn an_idle_mask_scores_what_isolated_says() {
    let ratings = [(0, 1, 5.0), (1, 2, 3.0), (2, 0, 8.0), (1, 0, -2.0), (3, 1, 4.0)];
    let g = graph_of(5, &[], &ratings);
    for seeds in [vec![], vec![0u32, 2]] {
        let scores = trust(&g, &seeds, &TrustConfig::default()).unwrap();
        let (isolated, explained) = scores.isolated();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300);
        assert!(close(isolated, scores.trust[4]), "seeds {seeds:?}: {isolated} vs {}", scores.trust[4]);
        let real = scores.explain(4, 10);
        assert!(close(explained.before_discount, real.before_discount), "{explained:?} vs {real:?}");
        assert!(close(explained.teleport, real.teleport) && close(explained.dangling, real.dangling));
        assert!(real.edges.is_empty() && real.distrust.is_empty() && explained.edges.is_empty());
        assert_eq!(isolated > 0.0, seeds.is_empty(), "seeds {seeds:?}: {isolated}");
    }
}

/// Endorsing a post is trust evidence for its writer, as endorsing a work is for its authors
/// (issue 22): the same endorsements raise the writer's trust above a twin's whose post
/// nobody endorsed — and the post itself gets no trust, being no mask.
#[test]
fn endorsing_a_post_trusts_its_writer() {
    let mut lines = Vec::new();
    for i in 0..6 {
        lines.push(format!(r#"{{"vertex":"user","id":"u{i}"}}"#));
        lines.push(format!(
            r#"{{"vertex":"mask","id":"m{i}","owner":"u{i}","props":{{"kind":"public","handle":"mask_{i}"}}}}"#
        ));
    }
    lines.push(r#"{"vertex":"world","id":"w","props":{"name":"Wekala"}}"#.into());
    lines.push(r#"{"vertex":"thread","id":"t","props":{"title":"Murals"}}"#.into());
    for p in ["p4", "p5"] {
        lines.push(format!(r#"{{"vertex":"post","id":"{p}","props":{{"body":"a post"}}}}"#));
        lines.push(format!(r#"{{"edge":"within","src":"{p}","dst":"t"}}"#));
    }
    lines.push(r#"{"edge":"within","src":"t","dst":"w"}"#.into());
    lines.push(r#"{"edge":"wrote","src":"m4","dst":"p4"}"#.into());
    lines.push(r#"{"edge":"wrote","src":"m5","dst":"p5"}"#.into());
    // A small honest ring the seeds trust; m4 and m5 are alike but for the endorsements.
    for (s, d) in [(0, 1), (1, 2), (2, 0), (0, 2), (1, 0), (2, 1), (3, 0), (0, 3)] {
        lines.push(format!(r#"{{"edge":"rates","src":"m{s}","dst":"m{d}","props":{{"rating":8}}}}"#));
    }
    for s in 0..3 {
        lines.push(format!(r#"{{"edge":"endorses","src":"m{s}","dst":"p4"}}"#));
    }
    let graph = crate::support::load_jsonl(lines.join("\n").as_bytes());
    let v = |e: &str| graph.index_of_external(e).unwrap();
    let t = trust(&graph, &[v("m0")], &TrustConfig::default()).unwrap();
    let (endorsed, twin) = (t.trust[v("m4") as usize], t.trust[v("m5") as usize]);
    assert!(endorsed > twin, "the endorsed post's writer {endorsed} > its twin {twin}");
    assert_eq!(t.trust[v("p4") as usize], 0.0, "a post holds no trust");
}
