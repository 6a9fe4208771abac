//! `daira export --format parquet --out DIR`: the graph as two Parquet files, for analytics
//! past one machine's memory (Spark, DuckDB, pandas; `benches/spark/` runs PageRank on them).
//!
//! - `vertices.parquet`: `index` (the dense index edges name, u32), `id` (DAIRA's id, u64),
//!   `kind` (mask, world, work, …), `external_id` (the id it was imported under, if any);
//! - `edges.parquet`: `src`, `dst` (dense indexes), `src_id`, `dst_id` (DAIRA's ids), `kind`
//!   (follows, endorses, …), `weight` and `time_ms` (null where the kind has none).
//!
//! Only the edge kinds PageRank walks are written: the private ones (the owner link, private
//! admissions) and access grants never leave. Written in row groups of [`ROWS`], so memory
//! stays bounded whatever the graph's size; Snappy-compressed, as Spark reads by default.

use anyhow::{Context, Result};
use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use graph_engine::Graph;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use schema::EdgeKind;
use std::path::Path;
use std::sync::Arc;

/// Rows per row group (and per batch held in memory).
pub const ROWS: usize = 1 << 20;

/// What was written.
pub struct Written {
    /// Vertices written.
    pub vertices: usize,
    /// Edges written.
    pub edges: usize,
}

fn writer(path: &Path, schema: &Arc<Schema>) -> Result<ArrowWriter<std::fs::File>> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    Ok(ArrowWriter::try_new(file, schema.clone(), Some(props))?)
}

/// Writes `graph` to `dir` (made if missing).
pub fn export(graph: &Graph, dir: &Path) -> Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let n = graph.vertex_count();

    let vertex_schema = Arc::new(Schema::new(vec![
        Field::new("index", DataType::UInt32, false),
        Field::new("id", DataType::UInt64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("external_id", DataType::Utf8, true),
    ]));
    let mut vertices = writer(&dir.join("vertices.parquet"), &vertex_schema)?;
    for start in (0..n).step_by(ROWS) {
        let range = start as u32..(start + ROWS).min(n) as u32;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(range.clone())),
            Arc::new(UInt64Array::from_iter_values(range.clone().map(|v| graph.id_at(v).0))),
            Arc::new(StringArray::from_iter_values(range.clone().map(|v| graph.kind_at(v).as_str()))),
            Arc::new(StringArray::from_iter(range.map(|v| graph.external_at(v)))),
        ];
        vertices.write(&RecordBatch::try_new(vertex_schema.clone(), columns)?)?;
    }
    vertices.close()?;

    let edge_schema = Arc::new(Schema::new(vec![
        Field::new("src", DataType::UInt32, false),
        Field::new("dst", DataType::UInt32, false),
        Field::new("src_id", DataType::UInt64, false),
        Field::new("dst_id", DataType::UInt64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("weight", DataType::Float32, true),
        Field::new("time_ms", DataType::Int64, true),
    ]));
    let mut edges = writer(&dir.join("edges.parquet"), &edge_schema)?;
    let kinds: Vec<EdgeKind> = EdgeKind::ALL.iter().copied().filter(|k| !k.is_private() && !k.is_access()).collect();
    let mut batch = EdgeBatch::default();
    let mut count = 0;
    for kind in kinds {
        for v in 0..n as u32 {
            for (dst, props) in graph.out_edges(kind, v) {
                batch.push(graph, v, dst, kind, props.weight, props.time_ms);
                if batch.src.len() >= ROWS {
                    count += batch.src.len();
                    edges.write(&batch.take(&edge_schema)?)?;
                }
            }
        }
    }
    count += batch.src.len();
    if !batch.src.is_empty() {
        edges.write(&batch.take(&edge_schema)?)?;
    }
    edges.close()?;
    Ok(Written { vertices: n, edges: count })
}

/// Edges gathered for one row group.
#[derive(Default)]
struct EdgeBatch {
    src: Vec<u32>,
    dst: Vec<u32>,
    src_id: Vec<u64>,
    dst_id: Vec<u64>,
    kind: Vec<&'static str>,
    weight: Vec<Option<f32>>,
    time_ms: Vec<Option<i64>>,
}

impl EdgeBatch {
    fn push(&mut self, graph: &Graph, src: u32, dst: u32, kind: EdgeKind, weight: Option<f32>, time_ms: Option<i64>) {
        self.src.push(src);
        self.dst.push(dst);
        self.src_id.push(graph.id_at(src).0);
        self.dst_id.push(graph.id_at(dst).0);
        self.kind.push(kind.as_str());
        self.weight.push(weight);
        self.time_ms.push(time_ms);
    }

    fn take(&mut self, schema: &Arc<Schema>) -> Result<RecordBatch> {
        let taken = std::mem::take(self);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(taken.src)),
            Arc::new(UInt32Array::from(taken.dst)),
            Arc::new(UInt64Array::from(taken.src_id)),
            Arc::new(UInt64Array::from(taken.dst_id)),
            Arc::new(StringArray::from(taken.kind)),
            Arc::new(Float32Array::from(taken.weight)),
            Arc::new(Int64Array::from(taken.time_ms)),
        ];
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}
