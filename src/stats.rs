//! `daira stats`: counts per vertex and edge kind, the log's length and head hash.

use graph_engine::Graph;
use schema::{EdgeKind, VertexKind};
use serde_json::{Map, Value, json};

/// The statistics of a graph as JSON.
pub fn stats_json(graph: &Graph) -> Value {
    let counts = graph.vertex_counts();
    let vertices: Map<String, Value> =
        VertexKind::ALL.iter().map(|k| (k.to_string(), json!(counts[k.index()]))).collect();
    let edges: Map<String, Value> =
        EdgeKind::ALL.iter().map(|k| (k.to_string(), json!(graph.edge_count(*k)))).collect();
    let edge_total: usize = EdgeKind::ALL.iter().map(|k| graph.edge_count(*k)).sum();
    let position = graph.position();
    json!({
        "vertices": vertices,
        "vertices_total": graph.vertex_count(),
        "edges": edges,
        "edges_total": edge_total,
        "log": { "length": position.seq, "head": graph_engine::log::hex(&position.hash) },
        "state_hash": graph_engine::log::hex(&graph.state_hash()),
        "memory_bytes": graph.heap_bytes(),
    })
}

/// The statistics as aligned text.
pub fn stats_text(graph: &Graph) -> String {
    let stats = stats_json(graph);
    let mut out = String::new();
    out.push_str("vertices\n");
    for (kind, count) in stats["vertices"].as_object().expect("object") {
        out.push_str(&format!("  {kind:<14}{count:>12}\n"));
    }
    out.push_str(&format!("  {:<14}{:>12}\n", "total", stats["vertices_total"]));
    out.push_str("edges\n");
    for (kind, count) in stats["edges"].as_object().expect("object") {
        out.push_str(&format!("  {kind:<14}{count:>12}\n"));
    }
    out.push_str(&format!("  {:<14}{:>12}\n", "total", stats["edges_total"]));
    out.push_str(&format!("log length      {}\n", stats["log"]["length"]));
    out.push_str(&format!("log head        {}\n", stats["log"]["head"].as_str().unwrap_or("")));
    out.push_str(&format!("state hash      {}\n", stats["state_hash"].as_str().unwrap_or("")));
    out.push_str(&format!("memory          {:.1} MiB\n", stats["memory_bytes"].as_f64().unwrap_or(0.0) / 1048576.0));
    out
}
