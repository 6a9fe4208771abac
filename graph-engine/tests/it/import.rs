//! The importers: every format, and bad input named by file and line.

use crate::support::open;
use graph_engine::import::{Format, ImportError, ImportReport, parse_bytes};
use graph_engine::{EngineConfig, Graph, NoProgress};
use schema::{Command, EdgeKind, IdGenerator, VertexKind};
use std::cell::RefCell;

/// Loads `text` into a graph of its own, as `daira analyze` does.
fn load(format: Format, text: &str) -> Result<(Graph, ImportReport), ImportError> {
    thread_local!(static IDS: RefCell<IdGenerator> = RefCell::new(IdGenerator::new(1)));
    let new_ids = |n: usize| IDS.with(|ids| (0..n).map(|_| ids.borrow_mut().next(schema::EPOCH_MS + 5)).collect());
    let parsed = parse_bytes("input", text.as_bytes(), format, &Graph::new(), &new_ids, &NoProgress)?;
    let (batch, report, explain) = parsed.into_parts();
    match Graph::from_import(batch) {
        Ok(graph) => Ok((graph, report)),
        Err(graph_engine::Error::Rejected(r)) => Err(explain.explain(r)),
        Err(e) => panic!("{e}"),
    }
}

fn error(format: Format, text: &str) -> String {
    load(format, text).err().expect("the import fails").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap_edge_lists_become_follows_between_masks() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&EngineConfig::new(dir.path())).await;
    let import = |text: &'static str| {
        let engine = &engine;
        async move {
            let parsed = {
                let graph = engine.read();
                parse_bytes("input", text.as_bytes(), Format::Snap, &graph, &|n| engine.new_ids(n), &NoProgress)
                    .unwrap()
            };
            let (batch, report, _) = parsed.into_parts();
            engine.execute(Command::Import(batch)).await.unwrap();
            report
        }
    };
    let report = import("# Directed graph: example\n# FromNodeId\tToNodeId\n0\t1\n0\t2\n1 2\n2\t0\n2\t0\n3\t3\n").await;
    assert_eq!((report.edges, report.duplicates, report.self_loops, report.vertices_new), (4, 1, 1, 4));
    {
        let g = engine.read();
        assert_eq!(g.edge_count(EdgeKind::Follows), 4);
        let zero = g.index_of_external("0").unwrap();
        assert_eq!(g.kind_at(zero), VertexKind::Mask);
        let mut out: Vec<&str> = g.out(EdgeKind::Follows, zero).map(|v| g.external_at(v).unwrap()).collect();
        out.sort();
        assert_eq!(out, ["1", "2"]);
    }
    // A second import reuses known ids.
    let report = import("1 0\n7 0\n").await;
    assert_eq!((report.vertices_new, report.vertices_existing, report.edges), (1, 2, 2));
    let g = engine.read();
    assert_eq!(g.in_degree(EdgeKind::Follows, g.index_of_external("0").unwrap()), 3);
}

#[test]
fn non_numeric_snap_ids_take_the_text_path() {
    let (g, _) = load(Format::Snap, "alice bob\nbob 0042\n").unwrap();
    assert!(g.index_of_external("0042").is_some(), "ids are kept as written");
    assert_eq!(g.edge_count(EdgeKind::Follows), 2);
}

#[test]
fn signed_networks_keep_ratings_and_times() {
    let (g, _) =
        load(Format::SnapSigned, "6,2,4,1289241911.72836\n6,5,2,1289241941\n1,15,-10,1289243140.39223\n").unwrap();
    let (a, b) = (g.index_of_external("1").unwrap(), g.index_of_external("15").unwrap());
    let edge = g.edge(EdgeKind::Rates, a, b).unwrap();
    assert_eq!(edge.weight, Some(-10.0));
    assert_eq!(edge.time_ms, Some(1_289_243_140_392));
}

#[test]
fn real_world_shapes_of_edge_lists_are_read() {
    // SNAP temporal networks carry a third column of epoch seconds.
    let (g, _) = load(Format::Snap, "# CollegeMsg\n1 2 1082008561\n2 3 1082008562\n").unwrap();
    let (a, b) = (g.index_of_external("1").unwrap(), g.index_of_external("2").unwrap());
    assert_eq!(g.edge(EdgeKind::Follows, a, b).unwrap().time_ms, Some(1_082_008_561_000));
    // Signed networks without times (Epinions, Slashdot), tab-separated, CRLF line ends.
    let (g, _) = load(Format::SnapSigned, "# FromNodeId\tToNodeId\tSign\r\n0\t1\t-1\r\n1\t2\t1\r\n").unwrap();
    let (a, b) = (g.index_of_external("0").unwrap(), g.index_of_external("1").unwrap());
    assert_eq!(g.edge(EdgeKind::Rates, a, b).unwrap(), graph_engine::EdgeProps { weight: Some(-1.0), time_ms: None });
    // CSV with a byte-order mark, quoted fields and common header spellings.
    let (g, _) = load(Format::Csv, "\u{feff}\"Source\",\"Target\",\"Weight\"\n\"a\",\"b\",\"\"\n").unwrap();
    assert_eq!(g.edge_count(EdgeKind::Follows), 1);
}

#[test]
fn csv_takes_kinds_weights_and_times_from_its_header() {
    let text = "src,dst,kind,weight,time\na,b,rates,7,1700000000\nb,a,follows,,\na,c,traded,12.5,\n";
    let (g, report) = load(Format::Csv, text).unwrap();
    assert_eq!(report.edges, 3);
    let (a, b) = (g.index_of_external("a").unwrap(), g.index_of_external("b").unwrap());
    assert_eq!(g.edge(EdgeKind::Rates, a, b).unwrap().weight, Some(7.0));
    assert_eq!(g.edge_count(EdgeKind::Traded), 1);
    assert!(g.edge(EdgeKind::Follows, b, a).is_some());
}

#[test]
fn jsonl_fixture_imports_whole() {
    let mut bytes = Vec::new();
    let truth = fixtures::generate(fixtures::Size::Tiny, 3, &mut bytes).unwrap();
    let (g, report) = load(Format::Jsonl, std::str::from_utf8(&bytes).unwrap()).unwrap();
    assert_eq!(report.vertices_new, truth.counts.vertex_total());
    assert_eq!(report.edges, truth.counts.edge_total() + truth.counts.vertices["mask"], "edges plus one owns per mask");
    // Ownership is private: no public view of a mask names its owner.
    let mask = g.index_of_external(truth.sybils.first().unwrap()).unwrap();
    let public = g.public_vertex(mask).unwrap();
    assert!(public.props.iter().all(|(k, _)| ["kind", "handle", "display_name", "bio"].contains(k)));
    let user = (0..g.vertex_count() as u32).find(|&v| g.kind_at(v) == VertexKind::User).unwrap();
    assert!(g.public_vertex(user).is_none(), "users are never shown");
}

#[test]
fn bad_input_is_named_by_file_and_line() {
    let cases: &[(Format, &str, &str)] = &[
        (Format::Snap, "1 2\n3\n", "input:2: expected 2 fields (src dst [time]), found 1"),
        (Format::Snap, "1 2\n3 4 5 6\n", "input:2: expected 2 fields (src dst [time]), found 4"),
        (Format::Snap, "1 2 100\n3 4 noon\n", "input:2: time \"noon\" is not epoch seconds"),
        (Format::SnapSigned, "1,2\n", "input:1: expected 3 fields (src,dst,rating[,time]), found 2"),
        (Format::SnapSigned, "1,2,4,100\n1,3,11,100\n", "input:2: rating 11 is out of range -10..=10"),
        (Format::SnapSigned, "1,2,x,100\n", "input:1: rating \"x\" is not a number"),
        (Format::SnapSigned, "1,2,3,yesterday\n", "input:1: time \"yesterday\" is not epoch seconds"),
        (Format::Csv, "from,to,colour\na,b,c\n", "input:1: unknown column \"colour\""),
        (Format::Csv, "src,dst,kind\na,b,likes\n", "input:2: unknown EdgeKind \"likes\""),
        (Format::Csv, "src,dst,kind,weight\na,b,rates,20\n", "input:2: rating 20 is out of range"),
        (Format::Csv, "src,dst\na\n", "input:2: expected 2 fields"),
        (Format::Jsonl, "{\"vertex\":\"mask\",\"id\":\"m1\"\n", "input:1: not a valid line"),
        (Format::Jsonl, "{\"edge\":\"follows\",\"src\":\"m1\",\"dst\":\"m2\"}\n", "input:1: unknown id \"m1\""),
        (
            Format::Jsonl,
            "{\"vertex\":\"mask\",\"id\":\"m1\",\"props\":{\"kind\":\"creator\",\"handle\":\"same_one\"}}\n{\"vertex\":\"mask\",\"id\":\"m2\",\"props\":{\"kind\":\"public\",\"handle\":\"Same_One\"}}\n",
            "input:2: props.handle: handle \"same_one\" is taken",
        ),
        (
            Format::Jsonl,
            "{\"vertex\":\"mask\",\"id\":\"m1\"}\n{\"vertex\":\"mask\",\"id\":\"m1\"}\n",
            "input:2: id \"m1\" is already used",
        ),
        (
            Format::Jsonl,
            "{\"vertex\":\"mask\",\"id\":\"m1\"}\n{\"vertex\":\"mask\",\"id\":\"m2\"}\n{\"edge\":\"rates\",\"src\":\"m1\",\"dst\":\"m2\",\"props\":{\"rating\":-11}}\n",
            "input:3: rating -11 is out of range",
        ),
        (
            Format::Jsonl,
            "{\"vertex\":\"user\",\"id\":\"u1\"}\n{\"vertex\":\"mask\",\"id\":\"m1\",\"owner\":\"u1\"}\n{\"vertex\":\"mask\",\"id\":\"m2\",\"owner\":\"u1\"}\n{\"edge\":\"rates\",\"src\":\"m1\",\"dst\":\"m2\",\"props\":{\"rating\":10}}\n",
            "input:4: masks of one user cannot rates each other",
        ),
        (
            Format::Jsonl,
            "{\"vertex\":\"work\",\"id\":\"k1\",\"props\":{\"title\":\"a\"}}\n{\"vertex\":\"work\",\"id\":\"k2\",\"props\":{\"title\":\"b\"}}\n{\"vertex\":\"work\",\"id\":\"k3\",\"props\":{\"title\":\"c\"}}\n{\"edge\":\"remix_of\",\"src\":\"k2\",\"dst\":\"k1\"}\n{\"edge\":\"remix_of\",\"src\":\"k3\",\"dst\":\"k2\"}\n{\"edge\":\"remix_of\",\"src\":\"k1\",\"dst\":\"k3\"}\n",
            "would close a remix cycle",
        ),
        (
            Format::Jsonl,
            "{\"vertex\":\"mask\",\"id\":\"m1\"}\n{\"vertex\":\"world\",\"id\":\"w1\"}\n{\"edge\":\"follows\",\"src\":\"m1\",\"dst\":\"w1\"}\n",
            "input:3: a follows edge cannot go from a mask (\"m1\") to a world (\"w1\")",
        ),
        (Format::Jsonl, "{\"vertex\":\"planet\",\"id\":\"p\"}\n", "input:1: unknown VertexKind \"planet\""),
    ];
    for (format, text, expected) in cases {
        let got = error(*format, text);
        assert!(got.contains(expected), "{format:?} {text:?}\n  expected: {expected}\n  got:      {got}");
    }
}

#[test]
fn a_remix_cycle_names_the_line_that_closes_it() {
    let text = "{\"vertex\":\"work\",\"id\":\"k1\"}\n{\"vertex\":\"work\",\"id\":\"k2\"}\n{\"edge\":\"remix_of\",\"src\":\"k2\",\"dst\":\"k1\"}\n{\"edge\":\"remix_of\",\"src\":\"k1\",\"dst\":\"k2\"}\n";
    let e = load(Format::Jsonl, text).err().expect("a cycle is refused");
    assert!(e.line == 3 || e.line == 4, "{e}");
    assert!(e.message.contains("remix cycle"), "{e}");
}

#[test]
fn unknown_formats_are_refused_by_name() {
    assert_eq!(
        "graphml".parse::<Format>().unwrap_err(),
        "unknown format \"graphml\" (expected snap, snap-signed, csv or jsonl)"
    );
}

#[test]
fn an_empty_file_imports_nothing() {
    let (g, report) = load(Format::Snap, "").unwrap();
    assert_eq!(report.edges, 0);
    assert_eq!(g.vertex_count(), 0);
}

#[test]
fn gzipped_files_are_read_as_they_come() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wiki-Vote.txt.gz");
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
    gz.write_all(b"# Directed graph (each unordered pair of nodes is saved once)\n30\t1412\n30\t3352\n3\t28\n")
        .unwrap();
    gz.finish().unwrap();
    let g = Graph::new();
    let parsed = graph_engine::import::parse_file(
        &path,
        Format::Snap,
        &g,
        &|n| (0..n as u64).map(|i| schema::Id(77 + i)).collect(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(parsed.report.edges, 3);
    let broken = dir.path().join("broken.gz");
    std::fs::write(&broken, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    let e = graph_engine::import::parse_file(&broken, Format::Snap, &g, &|_| Vec::new(), &NoProgress).unwrap_err();
    assert!(e.to_string().contains("broken.gz: not a valid gzip file"), "{e}");
}

#[test]
fn csv_ids_keep_quoted_commas_and_doubled_quotes() {
    let text = "src,dst,kind\n\"Smith, John\",b,follows\n\"say \"\"hi\"\"\",\"Smith, John\",follows\r\nb,\"line\nbreak\",follows\n";
    let (g, report) = load(Format::Csv, text).unwrap();
    assert_eq!(report.edges, 3);
    assert_eq!(report.lines, 5, "a line end inside quotes is a line of the file");
    let smith = g.index_of_external("Smith, John").expect("an id with a comma stays whole");
    let hi = g.index_of_external("say \"hi\"").expect("doubled quotes are one quote");
    assert!(g.edge(EdgeKind::Follows, hi, smith).is_some());
    assert!(g.index_of_external("line\nbreak").is_some());
    assert_eq!(g.vertex_count(), 4, "no id was split: {:?}", (0..4).map(|v| g.external_at(v)).collect::<Vec<_>>());
}

#[test]
fn a_missing_weight_means_the_same_in_csv_and_jsonl() {
    let (csv, _) = load(Format::Csv, "src,dst,kind,weight\na,b,endorses,\na,c,endorses,2\n").unwrap();
    let jsonl = "{\"vertex\":\"mask\",\"id\":\"a\"}\n{\"vertex\":\"mask\",\"id\":\"b\"}\n{\"vertex\":\"mask\",\"id\":\"c\"}\n\
                 {\"edge\":\"endorses\",\"src\":\"a\",\"dst\":\"b\"}\n{\"edge\":\"endorses\",\"src\":\"a\",\"dst\":\"c\",\"props\":{\"weight\":2}}\n";
    let (jsonl, _) = load(Format::Jsonl, jsonl).unwrap();
    for g in [&csv, &jsonl] {
        let v = |name: &str| g.index_of_external(name).unwrap();
        assert_eq!(g.edge(EdgeKind::Endorses, v("a"), v("b")).unwrap().weight, None, "no weight given, none kept");
        assert_eq!(g.edge(EdgeKind::Endorses, v("a"), v("c")).unwrap().weight, Some(2.0));
    }
}

#[test]
fn long_files_are_read_in_chunks_and_errors_name_their_line() {
    // More than one 8 MiB chunk: the edges on both sides of a chunk's end all arrive, and a bad
    // line far in is named by its number.
    let rows = 1_200_000u64;
    let mut text = String::from("# a long edge list\n");
    for i in 0..rows {
        text.push_str(&format!("{}\t{}\n", i % 100_003, (i * 7 + 1) % 100_019));
    }
    let (g, report) = load(Format::Snap, &text).unwrap();
    assert_eq!(report.lines, rows + 1);
    assert_eq!(report.edges + report.duplicates + report.self_loops, rows);
    assert!(g.index_of_external("100002").is_some());
    text.push_str("5\n");
    assert_eq!(error(Format::Snap, &text), format!("input:{}: expected 2 fields (src dst [time]), found 1", rows + 2));
    // The same far into a file of text ids, which is read a second time as text.
    let text = text.replacen("0\t1\n", "zero\t1\n", 1);
    assert_eq!(error(Format::Snap, &text), format!("input:{}: expected 2 fields (src dst [time]), found 1", rows + 2));
}
