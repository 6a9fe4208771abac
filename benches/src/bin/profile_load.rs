//! Times the in-memory bulk load path stage by stage (for profiling; not an acceptance bench).
use std::time::Instant;
fn main() {
    let scale: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let (s, d) = benches::rmat(scale, 16, 1);
    for _ in 0..2 {
        let (s, d) = (s.clone(), d.clone());
        let t = Instant::now();
        let mut graph = graph_engine::Graph::new();
        let mut ids = schema::IdGenerator::new(0);
        let next = std::cell::RefCell::new(&mut ids);
        let new_ids = |k: usize| {
            let mut ids = next.borrow_mut();
            (0..k).map(|_| ids.next(schema::EPOCH_MS + 1)).collect()
        };
        let parsed =
            graph_engine::import::from_edges("rmat", schema::EdgeKind::Follows, s, d, &graph, &new_ids).unwrap();
        let t1 = t.elapsed().as_secs_f64();
        let events =
            schema::decide(schema::Command::Import(parsed.batch), 0, &graph_engine::GraphView(&graph)).unwrap();
        let t2 = t.elapsed().as_secs_f64();
        let mut marks = Vec::new();
        for e in events {
            graph.apply(e).unwrap();
            marks.push(t.elapsed().as_secs_f64());
        }
        let t3 = t.elapsed().as_secs_f64();
        eprintln!(
            "from_edges {t1:.3} decide {:.3} apply {:.3} (last event {:.3}) total {t3:.3}",
            t2 - t1,
            t3 - t2,
            t3 - marks[marks.len() - 2]
        );
    }
}
