//! The researcher's fast path (an edge list straight into CSR arrays) gives bit for bit what the
//! same file gives loaded into a property graph: PageRank's scores and the clusters, on every
//! edge-list format and on the shapes that make the two roads differ if anything does —
//! duplicates whose last line wins, self-loops, reciprocal ties, several kinds joining one pair,
//! negative ratings, text ids.

use graph_engine::import::{Format, parse_bytes};
use graph_engine::topology::topology_of_bytes;
use graph_engine::{Graph, NoProgress, Side, TopologyOptions};
use reputation::{ClusterConfig, PageRankConfig};

fn graph(format: Format, text: &[u8]) -> Graph {
    let ids = std::cell::RefCell::new(schema::IdGenerator::new(3));
    let new_ids = |n: usize| (0..n).map(|_| ids.borrow_mut().next(schema::EPOCH_MS + 1)).collect();
    let parsed = parse_bytes("edges", text, format, &Graph::new(), &new_ids, &NoProgress).unwrap();
    Graph::from_import(parsed.batch).unwrap()
}

fn bits(xs: &[f64]) -> Vec<u64> {
    xs.iter().map(|x| x.to_bits()).collect()
}

/// Both roads on one file, for both jobs and both row sides.
fn same_on_both_roads(format: Format, text: &[u8]) {
    let g = graph(format, text);
    let pagerank = PageRankConfig::default();
    let expected = reputation::pagerank(&g, &pagerank).unwrap();
    for rows in [Side::Targets, Side::Sources] {
        let options =
            TopologyOptions { kinds: pagerank.kinds.clone(), positive_ratings_only: false, count_kinds: false, rows };
        let t = topology_of_bytes("edges", text, format, &options, &NoProgress).unwrap();
        assert_eq!(t.vertex_count(), g.vertex_count());
        for v in 0..g.vertex_count() as u32 {
            assert_eq!(t.names.get(v), g.external_at(v).unwrap(), "vertex {v} is the same id");
        }
        let got = reputation::pagerank_topology(&t, &pagerank).unwrap();
        assert_eq!(got.iterations, expected.iterations);
        assert_eq!(bits(&got.scores), bits(&expected.scores), "{format:?} pagerank, rows by {rows:?}");
    }
    let clusters = ClusterConfig::default();
    let expected = reputation::clusters(&g, &clusters).unwrap();
    let options = TopologyOptions {
        kinds: clusters.kinds.clone(),
        positive_ratings_only: true,
        count_kinds: true,
        rows: Side::Sources,
    };
    let t = topology_of_bytes("edges", text, format, &options, &NoProgress).unwrap();
    let got = reputation::clusters_of_topology(&t, &clusters).unwrap();
    assert_eq!(got.community, expected.community, "{format:?} clusters");
    assert_eq!(got.modularity.to_bits(), expected.modularity.to_bits());
}

#[test]
fn snap_edge_lists_give_the_same_scores_and_clusters() {
    let (src, dst) = fixtures::rmat(11, 8, 5);
    let mut text = Vec::new();
    fixtures::write_snap(&mut text, &src, &dst, "R-MAT scale 11, with its duplicates and self-loops").unwrap();
    text.extend_from_slice(b"5 5\n7\t9 1700000000\n9 7\n");
    same_on_both_roads(Format::Snap, &text);
}

#[test]
fn text_ids_give_the_same_scores_and_clusters() {
    let text = "alice bob\nbob carol\ncarol alice\ncarol dave\ndave erin\nerin dave\nbob bob\nalice bob\nzed 0042\n";
    same_on_both_roads(Format::Snap, text.as_bytes());
}

#[test]
fn signed_networks_tie_by_their_last_positive_rating() {
    // 1 → 2 is rated 5 and then -3 (the last wins: no tie for clusters, an edge for PageRank);
    // 3 → 4 the other way round.
    let text = "1,2,5,100\n2,3,4,101\n1,2,-3,102\n3,4,-2,103\n3,4,6,104\n4,1,0,105\n2,1,7,106\n5,5,3,107\n";
    same_on_both_roads(Format::SnapSigned, text.as_bytes());
}

#[test]
fn csv_with_several_kinds_gives_the_same_scores_and_clusters() {
    // a–b tied by follows both ways and by a positive rating; reports count for PageRank only;
    // endorses with and without weights; a duplicate whose last row wins.
    let text = "src,dst,kind,weight\n\
                a,b,follows,\nb,a,follows,\na,b,rates,4\nc,a,rates,-2\nc,a,rates,3\n\
                d,c,reports,\n\"e, the fifth\",d,endorses,\ne,d,endorses,2\nd,a,collaborates,\n\
                c,d,traded,12.5\nb,b,follows,\n";
    same_on_both_roads(Format::Csv, text.as_bytes());
}
