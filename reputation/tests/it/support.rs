//! Shared helpers of the reputation tests.

use graph_engine::Graph;

/// A graph held in memory, loaded from JSONL through the importer and the rules.
pub fn load_jsonl(text: &[u8]) -> Graph {
    let ids = std::cell::RefCell::new(schema::IdGenerator::new(4));
    let new_ids = |n: usize| (0..n).map(|_| ids.borrow_mut().next(schema::EPOCH_MS + 9)).collect();
    let parsed = graph_engine::import::parse_bytes(
        "test.jsonl",
        text,
        graph_engine::import::Format::Jsonl,
        &Graph::new(),
        &new_ids,
        &graph_engine::NoProgress,
    )
    .unwrap();
    Graph::from_import(parsed.batch).unwrap()
}
