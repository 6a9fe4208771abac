//! Differential test: one R-MAT graph loaded into IndraDB's MemoryDatastore and into the
//! engine must answer the same neighbourhood queries identically.

use benches::{indradb_in, indradb_load, indradb_out, indradb_two_hop, rmat};
use schema::EdgeKind;

#[test]
fn engine_and_indradb_agree_on_neighbourhoods() {
    let scale = 11;
    let (src, dst) = rmat(scale, 8, 42);
    // IndraDB keeps self-loops; the engine's follows never hold one. Compare the same graph.
    let (src, dst): (Vec<u64>, Vec<u64>) = src.into_iter().zip(dst).filter(|(a, b)| a != b).unzip();
    let indra = indradb_load(1 << scale, &src, &dst);
    let graph = benches::engine_load(src.clone(), dst.clone());
    let number = |v: u32| graph.external_at(v).unwrap().parse::<u64>().unwrap();
    let mut compared = 0;
    for x in 0..(1u64 << scale) {
        let mut theirs_out = indradb_out(&indra, x);
        let mut theirs_in = indradb_in(&indra, x);
        theirs_out.sort_unstable();
        theirs_in.sort_unstable();
        let Some(v) = graph.index_of_external(&x.to_string()) else {
            assert!(theirs_out.is_empty() && theirs_in.is_empty(), "vertex {x} has edges in IndraDB only");
            continue;
        };
        let mut ours_out: Vec<u64> = graph.out(EdgeKind::Follows, v).map(number).collect();
        let mut ours_in: Vec<u64> = graph.inn(EdgeKind::Follows, v).map(number).collect();
        ours_out.sort_unstable();
        ours_in.sort_unstable();
        assert_eq!(ours_out, theirs_out, "out-neighbours of {x}");
        assert_eq!(ours_in, theirs_in, "in-neighbours of {x}");
        if x % 16 == 0 {
            let mut theirs2 = indradb_two_hop(&indra, x);
            let mut ours2: Vec<u64> =
                graph.out(EdgeKind::Follows, v).flat_map(|w| graph.out(EdgeKind::Follows, w).map(number)).collect();
            theirs2.sort_unstable();
            ours2.sort_unstable();
            assert_eq!(ours2, theirs2, "two-hop paths from {x}");
        }
        compared += 1;
    }
    assert!(compared > 1000, "compared {compared} vertices");
}
