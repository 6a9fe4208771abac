//! CSR snapshots: weighted, over a chosen set of edge kinds, cut at a log position.

use graph_engine::import::{Format, parse_bytes};
use graph_engine::{Csr, Graph, KindWeight, NoProgress};
use schema::EdgeKind;

#[test]
fn csr_merges_kinds_with_their_weights() {
    let text = "src,dst,kind,weight\na,b,follows,\na,b,rates,4\na,c,rates,-2\nc,a,follows,\n";
    let parsed = parse_bytes(
        "t.csv",
        text.as_bytes(),
        Format::Csv,
        &Graph::new(),
        &|n| (0..n as u64).map(|i| schema::Id(10 + i)).collect(),
        &NoProgress,
    )
    .unwrap();
    let g = Graph::from_import(parsed.batch).unwrap();
    let kinds =
        [KindWeight::unit(EdgeKind::Follows), KindWeight { kind: EdgeKind::Rates, scale: 0.5, use_edge_weight: true }];
    let csr = Csr::build(&g, &kinds);
    assert_eq!((csr.vertex_count(), csr.edge_count()), (3, 3));
    let v = |name: &str| g.index_of_external(name).unwrap();
    let (targets, weights) = csr.neighbors(v("a"));
    let mut pairs: Vec<(u32, f32)> = targets.iter().copied().zip(weights.iter().copied()).collect();
    pairs.sort_by_key(|p| p.0);
    assert_eq!(pairs, vec![(v("b"), 1.0 + 2.0), (v("c"), -1.0)], "follows 1 + rating 4 × 0.5; rating −2 × 0.5");
    assert_eq!(csr.position, g.position());
    let t = csr.transpose();
    assert_eq!(t.neighbors(v("a")).0, &[v("c")]);
    assert_eq!(t.transpose().neighbors(v("a")).0.len(), 2);
    // One unit kind takes the fast path and must agree with the general one.
    let fast = Csr::build(&g, &[KindWeight::unit(EdgeKind::Follows)]);
    let general = Csr::build(&g, &[KindWeight::unit(EdgeKind::Follows), KindWeight::unit(EdgeKind::Voted)]);
    assert_eq!(
        (fast.offsets.clone(), fast.targets.clone(), fast.weights.clone()),
        (general.offsets, general.targets, general.weights)
    );
}
