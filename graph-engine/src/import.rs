//! Importers: SNAP edge lists, SNAP signed trust networks, CSV edge lists and DAIRA's JSONL
//! (see `fixtures/README.md` for the JSONL format). A file becomes one [`ImportBatch`]; errors
//! name the file and line.
//!
//! Edge lists (snap, snap-signed, csv) describe masks: an id not seen before becomes a new mask
//! with that external id; an id already imported refers to the existing vertex. Self-loops are
//! skipped and duplicate edges merged (the last line wins); the report counts both. The edge
//! lists are read by `edge_list`, which `topology` shares.

use crate::edge_list::{self, EdgeFormat, Keep, Rows, Source};
use crate::engine::Progress;
use crate::store::Graph;
use rayon::prelude::*;
use schema::{EdgeBatch, EdgeKind, F32s, I64s, Id, ImportBatch, NewVertex, Props, Rejection, Value, VertexKind};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// An import file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `src dst` per line, whitespace-separated, `#` comments → follows edges between masks.
    Snap,
    /// `src,dst,rating,time` per line (bitcoin-OTC style) → rates edges, rating −10..=10.
    SnapSigned,
    /// A header naming `src,dst` and optionally `kind,weight,time`.
    Csv,
    /// One JSON object per line: vertices and edges.
    Jsonl,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "snap" => Ok(Format::Snap),
            "snap-signed" => Ok(Format::SnapSigned),
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            _ => Err(format!("unknown format {s:?} (expected snap, snap-signed, csv or jsonl)")),
        }
    }
}

/// A malformed import or one that breaks a rule, with where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    /// The file.
    pub file: String,
    /// The line (from 1), or 0 when the error concerns the whole file.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

/// What an import contains, for the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Lines read (including comments and blanks).
    pub lines: u64,
    /// Vertices the import creates.
    pub vertices_new: u64,
    /// Existing vertices its edges use.
    pub vertices_existing: u64,
    /// Edges it adds (after merging duplicates).
    pub edges: u64,
    /// Duplicate edges merged.
    pub duplicates: u64,
    /// Self-loops skipped.
    pub self_loops: u64,
}

/// A parsed import, ready for `decide`.
#[derive(Debug)]
pub struct Parsed {
    /// The batch.
    pub batch: ImportBatch,
    /// Its summary.
    pub report: ImportReport,
    /// What it takes to explain a rejection of the batch once it is gone.
    explain: Explain,
}

/// Explains a rejection of an import by naming the file's line and ids, without holding on to
/// the batch (which moves into the command).
#[derive(Clone, Debug, Default)]
pub struct Explain {
    file: String,
    /// Lines of remix_of edges by (work, original), to explain a cycle.
    remix_lines: HashMap<(Id, Id), u64>,
    /// The file's ids of the works those edges join.
    remix_names: HashMap<Id, String>,
}

impl Parsed {
    pub(crate) fn new(
        batch: ImportBatch,
        report: ImportReport,
        file: String,
        remix_lines: HashMap<(Id, Id), u64>,
    ) -> Parsed {
        let ends: std::collections::HashSet<Id> = remix_lines.keys().flat_map(|&(a, b)| [a, b]).collect();
        let remix_names =
            batch.vertices.iter().filter(|v| ends.contains(&v.id)).map(|v| (v.id, v.external.clone())).collect();
        Parsed { batch, report, explain: Explain { file, remix_lines, remix_names } }
    }

    /// The batch, its summary, and what explains a rejection of it.
    pub fn into_parts(self) -> (ImportBatch, ImportReport, Explain) {
        (self.batch, self.report, self.explain)
    }
}

impl Explain {
    /// Turns a rejection of the batch into an error naming the line when one can be found.
    pub fn explain(&self, rejection: Rejection) -> ImportError {
        let line = match &rejection {
            Rejection::RemixCycle { work, original } => self.remix_lines.get(&(*work, *original)).copied().unwrap_or(0),
            _ => 0,
        };
        let external = |id: Id| self.remix_names.get(&id).cloned().unwrap_or_else(|| id.to_string());
        let message = match rejection {
            Rejection::RemixCycle { work, original } => {
                format!("remix_of {} -> {} would close a remix cycle", external(work), external(original))
            }
            other => other.to_string(),
        };
        ImportError { file: self.file.clone(), line, message }
    }
}

/// The most bytes one import file may have (bigger files should be split).
pub const IMPORT_BYTES_MAX: u64 = 16 << 30;

/// Reads and parses an import file (gzipped or not). `new_ids(n)` hands out ids for new
/// vertices.
pub fn parse_file(
    path: &std::path::Path,
    format: Format,
    graph: &Graph,
    new_ids: &dyn Fn(usize) -> Vec<Id>,
    progress: &dyn Progress,
) -> Result<Parsed, ImportError> {
    parse(Source::File(path), &path.display().to_string(), format, graph, new_ids, progress)
}

/// Parses an import from memory (see [`parse_file`]).
pub fn parse_bytes(
    file: &str,
    bytes: &[u8],
    format: Format,
    graph: &Graph,
    new_ids: &dyn Fn(usize) -> Vec<Id>,
    progress: &dyn Progress,
) -> Result<Parsed, ImportError> {
    parse(Source::Bytes(bytes), file, format, graph, new_ids, progress)
}

fn parse(
    source: Source<'_>,
    file: &str,
    format: Format,
    graph: &Graph,
    new_ids: &dyn Fn(usize) -> Vec<Id>,
    progress: &dyn Progress,
) -> Result<Parsed, ImportError> {
    let Some(edge_format) = format.edge_format() else {
        let bytes = match source {
            Source::Bytes(bytes) => std::borrow::Cow::Borrowed(bytes),
            Source::File(path) => std::borrow::Cow::Owned(read_whole(path, file, progress)?),
        };
        return crate::import_jsonl::parse(file, &bytes, graph, new_ids);
    };
    let rows = edge_list::read(source, file, edge_format, Keep { weight: true, time: true }, progress)?;
    into_batch(rows, file, graph, new_ids)
}

/// A JSONL file in memory (decompressed when gzipped), at most [`IMPORT_BYTES_MAX`] bytes.
fn read_whole(path: &std::path::Path, file: &str, progress: &dyn Progress) -> Result<Vec<u8>, ImportError> {
    use std::io::Read;
    let fail = |message: String| ImportError { file: file.to_owned(), line: 0, message };
    let size = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?.len();
    if size > IMPORT_BYTES_MAX {
        return Err(fail(format!("file is {size} bytes; at most {IMPORT_BYTES_MAX} per import")));
    }
    progress.update("read", 0, size);
    let mut bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    progress.update("read", size, size);
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // SNAP distributes its data sets gzipped: read them as they come.
        let mut plain = Vec::with_capacity(bytes.len() * 4);
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(IMPORT_BYTES_MAX + 1)
            .read_to_end(&mut plain)
            .map_err(|e| fail(format!("not a valid gzip file: {e}")))?;
        if plain.len() as u64 > IMPORT_BYTES_MAX {
            return Err(fail(format!("decompresses to more than {IMPORT_BYTES_MAX} bytes")));
        }
        bytes = plain;
    }
    Ok(bytes)
}

impl Format {
    /// The edge-list format this is, if it is one.
    pub(crate) fn edge_format(self) -> Option<EdgeFormat> {
        match self {
            Format::Snap => Some(EdgeFormat::Snap),
            Format::SnapSigned => Some(EdgeFormat::SnapSigned),
            Format::Csv => Some(EdgeFormat::Csv),
            Format::Jsonl => None,
        }
    }
}

/// Builds an import from an in-memory edge list with numeric external ids (what researchers'
/// tools and the benchmarks hold): new ids become masks, known ones refer to existing vertices.
pub fn from_edges(
    source: &str,
    kind: EdgeKind,
    src: Vec<u64>,
    dst: Vec<u64>,
    graph: &Graph,
    new_ids: &dyn Fn(usize) -> Vec<Id>,
) -> Result<Parsed, ImportError> {
    if src.len() != dst.len() {
        return Err(ImportError {
            file: source.to_owned(),
            line: 0,
            message: "source and target lists differ in length".into(),
        });
    }
    let lines = src.len() as u64;
    let (names, src, dst) = edge_list::densify_numbers(src, dst);
    let rows = Rows { names, kind: vec![kind], src, dst, weight: None, time_ms: None, lines };
    into_batch(rows, source, graph, new_ids)
}

fn err(file: &str, line: u64, message: impl Into<String>) -> ImportError {
    ImportError { file: file.to_owned(), line, message: message.into() }
}

/// Resolves an edge list's keys to new masks or existing vertices and sorts its edges per kind.
fn into_batch(
    rows: Rows,
    file: &str,
    graph: &Graph,
    new_ids: &dyn Fn(usize) -> Vec<Id>,
) -> Result<Parsed, ImportError> {
    let Rows { names, kind: row_kinds, mut src, mut dst, weight, time_ms, lines } = rows;
    let externals = names.into_strings();
    // Each key becomes a position in the import's table: new vertices first, then refs.
    let existing: Vec<Option<u32>> = if graph.vertex_count() == 0 {
        vec![None; externals.len()]
    } else {
        externals.par_iter().map(|e| graph.index_of_external(e)).collect()
    };
    let new_count = existing.iter().filter(|e| e.is_none()).count();
    let ids = new_ids(new_count);
    let mut position = vec![0u32; externals.len()];
    let mut vertices = Vec::with_capacity(new_count);
    let mut refs = Vec::new();
    let mut ref_kinds = Vec::new();
    for (key, external) in externals.into_iter().enumerate() {
        match existing[key] {
            None => {
                position[key] = vertices.len() as u32;
                vertices.push(NewVertex {
                    id: ids[vertices.len()],
                    kind: VertexKind::Mask,
                    external,
                    props: Props::new(),
                });
            }
            Some(v) => {
                position[key] = refs.len() as u32; // shifted below
                refs.push(graph.id_at(v));
                ref_kinds.push((external, graph.kind_at(v)));
            }
        }
    }
    for (key, p) in position.iter_mut().enumerate() {
        if existing[key].is_some() {
            *p += new_count as u32;
        }
    }
    let position_count = position.len();
    let kind_of = |p: u32| -> (VertexKind, &str) {
        match (p as usize).checked_sub(new_count) {
            None => (VertexKind::Mask, &vertices[p as usize].external),
            Some(r) => (ref_kinds[r].1, &ref_kinds[r].0),
        }
    };

    // Group rows by kind, as positions.
    let single_kind = row_kinds.len() == 1;
    let mut by_kind: Vec<Vec<usize>> = vec![Vec::new(); EdgeKind::ALL.len()];
    if !single_kind {
        for (i, &k) in row_kinds.iter().enumerate() {
            by_kind[k.index()].push(i);
        }
    }
    let mut report = ImportReport {
        lines,
        vertices_new: new_count as u64,
        vertices_existing: refs.len() as u64,
        ..ImportReport::default()
    };
    let mut edges = Vec::new();
    for &kind in EdgeKind::ALL {
        let rows: Vec<usize> = if single_kind {
            if kind != row_kinds[0] || src.is_empty() {
                continue;
            }
            Vec::new()
        } else {
            std::mem::take(&mut by_kind[kind.index()])
        };
        if !single_kind && rows.is_empty() {
            continue;
        }
        let (sources, targets) = kind.endpoints();
        // A fresh import of one kind: positions are the keys themselves.
        let (ps, pd): (Vec<u32>, Vec<u32>) = if single_kind && refs.is_empty() {
            (std::mem::take(&mut src), std::mem::take(&mut dst))
        } else if single_kind {
            (
                src.par_iter().map(|&k| position[k as usize]).collect(),
                dst.par_iter().map(|&k| position[k as usize]).collect(),
            )
        } else {
            (
                rows.par_iter().map(|&i| position[src[i] as usize]).collect(),
                rows.par_iter().map(|&i| position[dst[i] as usize]).collect(),
            )
        };
        let sorted = sort_edges(&ps, &pd, position_count, weight.is_some() || time_ms.is_some());
        drop((ps, pd));
        report.duplicates += sorted.duplicates;
        report.self_loops += sorted.self_loops;
        // Every new vertex is a mask: only refs, or kinds that do not join masks, need a look.
        if !refs.is_empty() || !sources.contains(&VertexKind::Mask) || !targets.contains(&VertexKind::Mask) {
            for (&s, &d) in sorted.src.iter().zip(&sorted.dst) {
                for (p, allowed) in [(s, sources), (d, targets)] {
                    let (k, external) = kind_of(p);
                    if !allowed.contains(&k) {
                        return Err(err(file, 0, format!("a {kind} edge cannot use {external:?}: it is a {k}")));
                    }
                }
            }
        }
        let row = |r: u32| if single_kind { r as usize } else { rows[r as usize] };
        let mut batch = EdgeBatch::new(kind);
        // A row without a weight or time keeps none (`schema::NO_WEIGHT`, `schema::NO_TIME`).
        if let Some(w) = weight.as_ref() {
            let weights: Vec<f32> = sorted.rows.par_iter().map(|&r| w[row(r)]).collect();
            if weights.iter().any(|&w| schema::weight_of(w).is_some()) {
                batch.weight = Some(F32s(weights));
            }
        }
        if let Some(t) = time_ms.as_ref() {
            let times: Vec<i64> = sorted.rows.par_iter().map(|&r| t[row(r)]).collect();
            if times.iter().any(|&t| schema::time_of(t).is_some()) {
                batch.time_ms = Some(I64s(times));
            }
        }
        batch.src = sorted.src;
        batch.dst = sorted.dst;
        if batch.weight.is_none() && kind.check_weight(None).is_err() {
            return Err(err(file, 0, format!("{kind} edges need a weight column")));
        }
        report.edges += batch.len() as u64;
        edges.push(batch);
    }
    Ok(Parsed::new(
        ImportBatch { source: file.to_owned(), vertices, refs, edges },
        report,
        file.to_owned(),
        HashMap::new(),
    ))
}

/// Edges sorted by (source, target) position, duplicates merged (the last row wins) and
/// self-loops dropped; `rows` gives each edge's row in the input (when asked for).
struct SortedEdges {
    src: Vec<u32>,
    dst: Vec<u32>,
    rows: Vec<u32>,
    duplicates: u64,
    self_loops: u64,
}

/// Vertices per parallel block when sorting edges.
const SORT_BLOCK: usize = 1 << 12;

/// A counting sort on the source, then a sort of each source's targets: linear in the edges
/// and parallel over sources, where a comparison sort of 16M pairs would dominate an import.
fn sort_edges(src: &[u32], dst: &[u32], vertices: usize, keep_rows: bool) -> SortedEdges {
    let (offsets, rows) = crate::scatter::group_by_key(src, vertices);
    let targets: Vec<u32> = rows.par_iter().map(|&r| dst[r as usize]).collect();
    let blocks: Vec<usize> = (0..vertices.div_ceil(SORT_BLOCK)).collect();
    let parts: Vec<SortedEdges> = blocks
        .par_iter()
        .map(|&b| {
            let first = b * SORT_BLOCK;
            let last = ((b + 1) * SORT_BLOCK).min(vertices);
            let mut part =
                SortedEdges { src: Vec::new(), dst: Vec::new(), rows: Vec::new(), duplicates: 0, self_loops: 0 };
            let span = offsets[last] as usize - offsets[first] as usize;
            part.src.reserve(span);
            part.dst.reserve(span);
            let mut pairs: Vec<(u32, u32)> = Vec::new();
            for v in first..last {
                let range = offsets[v] as usize..offsets[v + 1] as usize;
                if range.is_empty() {
                    continue;
                }
                pairs.clear();
                if keep_rows {
                    pairs.extend(targets[range.clone()].iter().copied().zip(rows[range].iter().copied()));
                } else {
                    pairs.extend(targets[range].iter().map(|&d| (d, 0)));
                }
                // Rows are unique, so sorting whole pairs orders equal targets by row: the
                // latest row of a duplicate comes last and wins.
                pairs.sort_unstable();
                for (i, &(d, r)) in pairs.iter().enumerate() {
                    if pairs.get(i + 1).is_some_and(|&(next, _)| next == d) {
                        part.duplicates += 1;
                        continue;
                    }
                    if d as usize == v {
                        part.self_loops += 1;
                        continue;
                    }
                    part.src.push(v as u32);
                    part.dst.push(d);
                    if keep_rows {
                        part.rows.push(r);
                    }
                }
            }
            part
        })
        .collect();
    let total: usize = parts.iter().map(|p| p.src.len()).sum();
    let mut out = SortedEdges {
        src: Vec::with_capacity(total),
        dst: Vec::with_capacity(total),
        rows: Vec::with_capacity(if keep_rows { total } else { 0 }),
        duplicates: 0,
        self_loops: 0,
    };
    for part in parts {
        out.src.extend_from_slice(&part.src);
        out.dst.extend_from_slice(&part.dst);
        out.rows.extend_from_slice(&part.rows);
        out.duplicates += part.duplicates;
        out.self_loops += part.self_loops;
    }
    out
}

/// Converts a JSON value to a property value.
pub(crate) fn json_value(value: &serde_json::Value) -> Option<Value> {
    use serde_json::Value as J;
    match value {
        J::String(s) => Some(Value::Str(s.clone())),
        J::Bool(b) => Some(Value::Bool(*b)),
        J::Number(n) => n.as_i64().map(Value::Int).or_else(|| n.as_f64().map(Value::Float)),
        J::Array(items) => {
            items.iter().map(|i| i.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>().map(Value::List)
        }
        J::Null | J::Object(_) => None,
    }
}
