//! Communities: quality on Zachary's karate club and on planted communities, and connectivity.

use graph_engine::LogPosition;
use proptest::prelude::*;
use reputation::{ClusterConfig, Method, Undirected, clusters_of, nmi};

/// Zachary's karate club (78 edges), 1-based as published.
const KARATE: &[(u32, &[u32])] = &[
    (1, &[2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 18, 20, 22, 32]),
    (2, &[3, 4, 8, 14, 18, 20, 22, 31]),
    (3, &[4, 8, 9, 10, 14, 28, 29, 33]),
    (4, &[8, 13, 14]),
    (5, &[7, 11]),
    (6, &[7, 11, 17]),
    (7, &[17]),
    (9, &[31, 33, 34]),
    (10, &[34]),
    (14, &[34]),
    (15, &[33, 34]),
    (16, &[33, 34]),
    (19, &[33, 34]),
    (20, &[34]),
    (21, &[33, 34]),
    (23, &[33, 34]),
    (24, &[26, 28, 30, 33, 34]),
    (25, &[26, 28, 32]),
    (26, &[32]),
    (27, &[30, 34]),
    (28, &[34]),
    (29, &[32, 34]),
    (30, &[33, 34]),
    (31, &[33, 34]),
    (32, &[33, 34]),
    (33, &[34]),
];

fn karate() -> Undirected {
    let edges: Vec<(u32, u32, f64)> =
        KARATE.iter().flat_map(|&(u, vs)| vs.iter().map(move |&v| (u - 1, v - 1, 1.0))).collect();
    assert_eq!(edges.len(), 78);
    Undirected::from_edges(34, &edges)
}

/// Every community is one connected piece: count the pieces of each community.
fn connected(g: &Undirected, community: &[u32]) -> bool {
    let n = g.len();
    let mut seen = vec![false; n];
    let mut pieces = std::collections::HashMap::<u32, u32>::new();
    for s in 0..n {
        if seen[s] {
            continue;
        }
        *pieces.entry(community[s]).or_default() += 1;
        let mut stack = vec![s];
        seen[s] = true;
        while let Some(u) = stack.pop() {
            for v in g.neighbour_list(u) {
                if !seen[v] && community[v] == community[s] {
                    seen[v] = true;
                    stack.push(v);
                }
            }
        }
    }
    pieces.values().all(|&p| p == 1)
}

#[test]
fn karate_club_modularity_reaches_the_known_optimum_region() {
    let g = karate();
    let leiden = clusters_of(&g, &ClusterConfig::default(), LogPosition::default());
    assert!(leiden.modularity >= 0.4188, "Leiden modularity {}", leiden.modularity);
    assert!(connected(&g, &leiden.community));
    let lpa = clusters_of(
        &g,
        &ClusterConfig { method: Method::LabelPropagation, ..ClusterConfig::default() },
        LogPosition::default(),
    );
    assert!(lpa.modularity > 0.0, "label propagation modularity {}", lpa.modularity);
    assert!(connected(&g, &lpa.community));
    eprintln!(
        "karate: Leiden Q = {:.4} ({} communities), LPA Q = {:.4}",
        leiden.modularity, leiden.count, lpa.modularity
    );
}

fn planted(groups: u32, size: u32, degree: u32) -> (Undirected, Vec<u32>) {
    let mut rng = schema::SplitMix64::new(11);
    let mut next = |n: u32| rng.below(u64::from(n)) as u32;
    let n = groups * size;
    let mut edges = Vec::new();
    for u in 0..n {
        for _ in 0..degree / 2 {
            let v = if next(10) < 9 { (u / size) * size + next(size) } else { next(n) };
            if v != u {
                edges.push((u, v, 1.0));
            }
        }
    }
    let g = Undirected::from_edges(n as usize, &edges);
    let truth: Vec<u32> = (0..n).map(|u| u / size).collect();
    (g, truth)
}

#[test]
fn planted_communities_are_found() {
    // Ten planted groups of 200 nodes; 90% of each node's ties inside its group.
    let (g, truth) = planted(10, 200, 16);
    let found = clusters_of(&g, &ClusterConfig::default(), LogPosition::default());
    let score = nmi(&found.community, &truth);
    eprintln!("planted: NMI {score:.4}, modularity {:.4}, {} communities", found.modularity, found.count);
    assert!(score >= 0.9, "NMI {score}, modularity {}", found.modularity);
    assert!(connected(&g, &found.community));
}

#[test]
fn large_graphs_move_in_parallel_and_stay_deterministic() {
    // Large enough for the parallel local moving: 300 groups of 200 nodes.
    let (g, truth) = planted(300, 200, 12);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| clusters_of(&g, &ClusterConfig::default(), LogPosition::default()))
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.community, two.community);
    assert_eq!(one.modularity.to_bits(), two.modularity.to_bits());
    let score = nmi(&two.community, &truth);
    assert!(score >= 0.9, "NMI {score}");
    assert!(connected(&g, &two.community));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn no_community_is_ever_disconnected(
        n in 1usize..60,
        raw in proptest::collection::vec((0u32..60, 0u32..60, 1u32..4), 0..200),
        lpa in any::<bool>(),
    ) {
        let edges: Vec<(u32, u32, f64)> = raw.into_iter().filter(|&(u, v, _)| (u as usize) < n && (v as usize) < n && u != v).map(|(u, v, w)| (u, v, f64::from(w))).collect();
        let g = Undirected::from_edges(n, &edges);
        let method = if lpa { Method::LabelPropagation } else { Method::Leiden };
        let found = clusters_of(&g, &ClusterConfig { method, ..ClusterConfig::default() }, LogPosition::default());
        prop_assert!(connected(&g, &found.community));
        prop_assert!(found.modularity <= 1.0 && found.modularity >= -0.5);
        let again = clusters_of(&g, &ClusterConfig { method, ..ClusterConfig::default() }, LogPosition::default());
        prop_assert_eq!(found.community, again.community);
    }
}

#[test]
fn the_fixtures_planted_communities_are_found() {
    let mut bytes = Vec::new();
    let truth = fixtures::generate(fixtures::Size::Demo, 5, &mut bytes).unwrap();
    let graph = crate::support::load_jsonl(&bytes);
    let found = reputation::clusters(&graph, &ClusterConfig::default()).unwrap();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let again = pool.install(|| reputation::clusters(&graph, &ClusterConfig::default()).unwrap());
        assert_eq!(again.community, found.community, "{threads} thread(s)");
        assert_eq!(again.modularity.to_bits(), found.modularity.to_bits());
    }
    let (ours, planted): (Vec<u32>, Vec<u32>) = truth
        .communities
        .iter()
        .map(|(mask, &c)| (found.community[graph.index_of_external(mask).unwrap() as usize], c))
        .unzip();
    let score = nmi(&ours, &planted);
    eprintln!(
        "demo fixture: NMI {score:.4} over {} masks, modularity {:.4}, {} communities",
        ours.len(),
        found.modularity,
        found.count
    );
    assert!(score >= 0.9, "NMI {score}");
}
