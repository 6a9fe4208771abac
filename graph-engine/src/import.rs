//! Importers: SNAP edge lists, SNAP signed trust networks, CSV edge lists and DAIRA's JSONL
//! (see `fixtures/README.md` for the JSONL format). A file becomes one [`ImportBatch`]; errors
//! name the file and line.
//!
//! Edge lists (snap, snap-signed, csv) describe masks: an id not seen before becomes a new mask
//! with that external id; an id already imported refers to the existing vertex. Self-loops are
//! skipped and duplicate edges merged (the last line wins); the report counts both.

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

/// Reads and parses an import file. `new_ids(n)` hands out ids for new vertices.
pub fn parse_file(
    path: &std::path::Path,
    format: Format,
    graph: &Graph,
    new_ids: &dyn Fn(usize) -> Vec<Id>,
    progress: &dyn Progress,
) -> Result<Parsed, ImportError> {
    let file = path.display().to_string();
    let fail = |message: String| ImportError { file: file.clone(), line: 0, message };
    let size = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?.len();
    if size > IMPORT_BYTES_MAX {
        return Err(fail(format!("file is {size} bytes; at most {IMPORT_BYTES_MAX} per import")));
    }
    progress.update("read", 0, size);
    let mut bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    progress.update("read", size, size);
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // SNAP distributes its data sets gzipped: read them as they come.
        use std::io::Read;
        let mut plain = Vec::with_capacity(bytes.len() * 4);
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(IMPORT_BYTES_MAX + 1)
            .read_to_end(&mut plain)
            .map_err(|e| fail(format!("not a valid gzip file: {e}")))?;
        if plain.len() as u64 > IMPORT_BYTES_MAX {
            return Err(fail(format!("decompresses to more than {IMPORT_BYTES_MAX} bytes")));
        }
        bytes = plain;
        progress.update("decompress", bytes.len() as u64, bytes.len() as u64);
    }
    parse_bytes(&file, &bytes, format, graph, new_ids, progress)
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
    let rows = match format {
        Format::Snap | Format::SnapSigned => parse_edge_list(file, bytes, format == Format::SnapSigned, progress)?,
        Format::Csv => parse_csv(file, bytes)?,
        Format::Jsonl => return crate::import_jsonl::parse(file, bytes, graph, new_ids),
    };
    rows.into_batch(file, graph, new_ids)
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
        return Err(err(source, 0, "source and target lists differ in length"));
    }
    let lines = src.len() as u64;
    let (externals, src, dst) = densify_numeric(src, dst);
    let rows = Rows { externals, kind: vec![kind], src, dst, weight: None, time_ms: None, lines, self_loops: 0 };
    rows.into_batch(source, graph, new_ids)
}

/// Edge rows keyed by dense key (`0..externals.len()`), before vertices are resolved.
pub(crate) struct Rows {
    pub externals: Vec<String>,
    pub kind: Vec<EdgeKind>,
    pub src: Vec<u32>,
    pub dst: Vec<u32>,
    pub weight: Option<Vec<f32>>,
    pub time_ms: Option<Vec<i64>>,
    pub lines: u64,
    pub self_loops: u64,
}

fn err(file: &str, line: u64, message: impl Into<String>) -> ImportError {
    ImportError { file: file.to_owned(), line, message: message.into() }
}

/// Splits `bytes` into about `parts` pieces that end at line ends.
fn split_lines(bytes: &[u8], parts: usize) -> Vec<(usize, &[u8])> {
    let mut pieces = Vec::new();
    let target = bytes.len().div_ceil(parts.max(1)).max(1 << 16);
    let mut start = 0;
    while start < bytes.len() {
        let mut end = (start + target).min(bytes.len());
        while end < bytes.len() && bytes[end - 1] != b'\n' {
            end += 1;
        }
        pieces.push((start, &bytes[start..end]));
        start = end;
    }
    pieces
}

fn line_of(bytes: &[u8], offset: usize) -> u64 {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// One piece of an edge list, parsed: numeric ids, or a failure at a byte offset.
struct Piece {
    src: Vec<u64>,
    dst: Vec<u64>,
    weight: Vec<f32>,
    time_ms: Vec<i64>,
    lines: u64,
}

enum PieceError {
    /// An id that is not a canonical decimal number: the file takes the text path.
    NotNumeric,
    Bad {
        offset: usize,
        message: String,
    },
}

use crate::store::decimal;

/// Splits an edge-list line into fields: on commas (trimming white space around each field)
/// when the line has one, otherwise on runs of white space. Returns at most four fields and
/// how many there were (5 meaning "more than four").
#[inline]
fn split_fields(text: &[u8]) -> ([&[u8]; 4], usize) {
    fn keep<'a>(fields: &mut [&'a [u8]; 4], count: &mut usize, field: &'a [u8]) {
        if *count < 4 {
            fields[*count] = field;
        }
        *count += 1;
    }
    let mut fields: [&[u8]; 4] = [&[]; 4];
    let mut count = 0;
    if text.contains(&b',') {
        for field in text.split(|&b| b == b',') {
            keep(&mut fields, &mut count, field.trim_ascii());
        }
    } else {
        for field in text.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty()) {
            keep(&mut fields, &mut count, field);
        }
    }
    (fields, count.min(5))
}

/// The shape of an edge-list line, for error messages.
fn shape(signed: bool) -> &'static str {
    if signed { "src,dst,rating[,time]" } else { "src dst [time]" }
}

fn parse_piece(start: usize, piece: &[u8], signed: bool) -> Result<Piece, PieceError> {
    let mut out = Piece { src: Vec::new(), dst: Vec::new(), weight: Vec::new(), time_ms: Vec::new(), lines: 0 };
    let estimate = piece.len() / 12;
    out.src.reserve(estimate);
    out.dst.reserve(estimate);
    let mut offset = start;
    for line in piece.split_inclusive(|&b| b == b'\n') {
        out.lines += 1;
        let here = offset;
        offset += line.len();
        let text = line.trim_ascii();
        if text.is_empty() || text[0] == b'#' || text[0] == b'%' {
            continue;
        }
        let bad = |message: String| PieceError::Bad { offset: here, message };
        let (fields, count) = split_fields(text);
        let allowed = if signed { 3..=4 } else { 2..=3 };
        if !allowed.contains(&count) {
            let found = if count > 4 { "more than 4".to_string() } else { count.to_string() };
            return Err(bad(format!("expected {} fields ({}), found {found}", allowed.start(), shape(signed))));
        }
        let (Some(s), Some(d)) = (decimal(fields[0]), decimal(fields[1])) else {
            if fields[0].is_empty() || fields[1].is_empty() {
                return Err(bad("empty id".into()));
            }
            return Err(PieceError::NotNumeric);
        };
        out.src.push(s);
        out.dst.push(d);
        let time_field = if signed {
            let rating = parse_rating(fields[2]).map_err(bad)?;
            out.weight.push(rating);
            (count == 4).then_some(fields[3])
        } else {
            (count == 3).then_some(fields[2])
        };
        if let Some(field) = time_field {
            let t = parse_time(field).map_err(bad)?;
            out.time_ms.resize(out.src.len() - 1, i64::MIN);
            out.time_ms.push(t);
        }
    }
    if !out.time_ms.is_empty() {
        out.time_ms.resize(out.src.len(), i64::MIN);
    }
    Ok(out)
}

fn parse_rating(rating: &[u8]) -> Result<f32, String> {
    let r: f32 = std::str::from_utf8(rating)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("rating {:?} is not a number", String::from_utf8_lossy(rating)))?;
    EdgeKind::Rates.check_weight(Some(r)).map_err(|e| e.to_string())?;
    Ok(r)
}

fn parse_time(time: &[u8]) -> Result<i64, String> {
    parse_seconds(time).ok_or_else(|| format!("time {:?} is not epoch seconds", String::from_utf8_lossy(time)))
}

/// Epoch seconds as a float → milliseconds.
pub(crate) fn seconds_f64(f: f64) -> Option<i64> {
    (f.is_finite() && f.abs() < 1e15).then(|| (f * 1000.0).round() as i64)
}

/// Epoch seconds (integer or fractional) → milliseconds.
fn parse_seconds(time: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(time).ok()?;
    if let Ok(whole) = s.parse::<i64>() {
        return whole.checked_mul(1000);
    }
    let f: f64 = s.parse().ok()?;
    (f.is_finite() && f.abs() < 1e15).then(|| (f * 1000.0).round() as i64)
}

fn parse_edge_list(file: &str, bytes: &[u8], signed: bool, progress: &dyn Progress) -> Result<Rows, ImportError> {
    let pieces = split_lines(bytes, rayon::current_num_threads() * 8);
    let parsed: Vec<Result<Piece, PieceError>> =
        pieces.par_iter().map(|&(start, piece)| parse_piece(start, piece, signed)).collect();
    progress.update("parse", bytes.len() as u64, bytes.len() as u64);
    let mut numeric = Vec::with_capacity(parsed.len());
    for result in parsed {
        match result {
            Ok(piece) => numeric.push(piece),
            Err(PieceError::Bad { offset, message }) => return Err(err(file, line_of(bytes, offset), message)),
            Err(PieceError::NotNumeric) => return parse_edge_list_text(file, bytes, signed),
        }
    }
    let lines = numeric.iter().map(|p| p.lines).sum();
    let src: Vec<u64> = numeric.iter().flat_map(|p| p.src.iter().copied()).collect();
    let dst: Vec<u64> = numeric.iter().flat_map(|p| p.dst.iter().copied()).collect();
    let weight = signed.then(|| numeric.iter().flat_map(|p| p.weight.iter().copied()).collect());
    let time_ms = numeric.iter().any(|p| !p.time_ms.is_empty()).then(|| {
        let mut times = Vec::with_capacity(src.len());
        for p in &numeric {
            if p.time_ms.is_empty() {
                times.resize(times.len() + p.src.len(), i64::MIN);
            } else {
                times.extend_from_slice(&p.time_ms);
            }
        }
        times
    });
    drop(numeric);
    let (externals, src, dst) = densify_numeric(src, dst);
    let kind = vec![if signed { EdgeKind::Rates } else { EdgeKind::Follows }];
    Ok(Rows { externals, kind, src, dst, weight, time_ms, lines, self_loops: 0 })
}

/// Maps numeric ids to dense keys in increasing id order.
fn densify_numeric(src: Vec<u64>, dst: Vec<u64>) -> (Vec<String>, Vec<u32>, Vec<u32>) {
    let max = src.par_iter().chain(dst.par_iter()).copied().max().unwrap_or(0);
    let (distinct, key_of): (Vec<u64>, Box<dyn Fn(u64) -> u32 + Sync>) = if max < (64 << 20).max(4 * src.len() as u64) {
        // Small ids: a direct table. Each thread marks the ids it sees in its own bitset.
        let words = (max as usize + 1).div_ceil(64);
        let mark = |part: &[u64]| {
            let mut bits = vec![0u64; words];
            for &v in part {
                bits[v as usize / 64] |= 1 << (v % 64);
            }
            bits
        };
        let chunk = src.len().div_ceil(rayon::current_num_threads()).max(1 << 16);
        let bits = src.par_chunks(chunk).chain(dst.par_chunks(chunk)).map(mark).reduce(
            || vec![0u64; words],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x |= y);
                a
            },
        );
        let present: Vec<bool> = (0..=max as usize).map(|v| bits[v / 64] & (1 << (v % 64)) != 0).collect();
        let mut table = vec![u32::MAX; max as usize + 1];
        let mut distinct = Vec::new();
        for (v, &p) in present.iter().enumerate() {
            if p {
                table[v] = distinct.len() as u32;
                distinct.push(v as u64);
            }
        }
        (distinct, Box::new(move |v| table[v as usize]))
    } else {
        let mut distinct: Vec<u64> = src.par_iter().chain(dst.par_iter()).copied().collect();
        distinct.par_sort_unstable();
        distinct.dedup();
        let sorted = distinct.clone();
        (distinct, Box::new(move |v| sorted.binary_search(&v).expect("present") as u32))
    };
    let src: Vec<u32> = src.par_iter().map(|&v| key_of(v)).collect();
    let dst: Vec<u32> = dst.par_iter().map(|&v| key_of(v)).collect();
    let externals = distinct.par_iter().map(|v| v.to_string()).collect();
    (externals, src, dst)
}

/// The slower path for edge lists whose ids are not all decimal numbers: ids are interned in
/// order of first appearance.
fn parse_edge_list_text(file: &str, bytes: &[u8], signed: bool) -> Result<Rows, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| err(file, line_of(bytes, e.valid_up_to()), "not UTF-8"))?;
    let mut interner = Interner::default();
    let mut rows = Rows::empty(if signed { EdgeKind::Rates } else { EdgeKind::Follows }, signed);
    rows.time_ms = None;
    for (i, line) in text.lines().enumerate() {
        rows.lines += 1;
        let n = i as u64 + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('%') {
            continue;
        }
        let (fields, count) = split_fields(line.as_bytes());
        let allowed = if signed { 3..=4 } else { 2..=3 };
        if !allowed.contains(&count) {
            let found = if count > 4 { "more than 4".to_string() } else { count.to_string() };
            return Err(err(
                file,
                n,
                format!("expected {} fields ({}), found {found}", allowed.start(), shape(signed)),
            ));
        }
        fn text(b: &[u8]) -> &str {
            std::str::from_utf8(b).expect("a slice of a str at ASCII separators")
        }
        if fields[0].is_empty() || fields[1].is_empty() {
            return Err(err(file, n, "empty id"));
        }
        rows.src.push(interner.key(text(fields[0])));
        rows.dst.push(interner.key(text(fields[1])));
        let time_field = if signed {
            let r = parse_rating(fields[2]).map_err(|m| err(file, n, m))?;
            rows.weight.as_mut().expect("signed").push(r);
            (count == 4).then_some(fields[3])
        } else {
            (count == 3).then_some(fields[2])
        };
        if let Some(field) = time_field {
            let t = parse_time(field).map_err(|m| err(file, n, m))?;
            let times = rows.time_ms.get_or_insert_with(Vec::new);
            times.resize(rows.src.len() - 1, i64::MIN);
            times.push(t);
        }
    }
    if let Some(times) = rows.time_ms.as_mut() {
        times.resize(rows.src.len(), i64::MIN);
    }
    rows.externals = interner.names;
    Ok(rows)
}

#[derive(Default)]
struct Interner {
    names: Vec<String>,
    keys: HashMap<String, u32>,
}

impl Interner {
    fn key(&mut self, name: &str) -> u32 {
        if let Some(&k) = self.keys.get(name) {
            return k;
        }
        let k = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.keys.insert(name.to_owned(), k);
        k
    }
}

impl Rows {
    fn empty(kind: EdgeKind, weighted: bool) -> Rows {
        Rows {
            externals: Vec::new(),
            kind: vec![kind],
            src: Vec::new(),
            dst: Vec::new(),
            weight: weighted.then(Vec::new),
            time_ms: weighted.then(Vec::new),
            lines: 0,
            self_loops: 0,
        }
    }

    fn kind_at(&self, i: usize) -> EdgeKind {
        if self.kind.len() == 1 { self.kind[0] } else { self.kind[i] }
    }

    /// Resolves keys to new masks or existing vertices and sorts edges per kind.
    fn into_batch(
        mut self,
        file: &str,
        graph: &Graph,
        new_ids: &dyn Fn(usize) -> Vec<Id>,
    ) -> Result<Parsed, ImportError> {
        // Each key becomes a position in the import's table: new vertices first, then refs.
        let existing: Vec<Option<u32>> = if graph.vertex_count() == 0 {
            vec![None; self.externals.len()]
        } else {
            self.externals.par_iter().map(|e| graph.index_of_external(e)).collect()
        };
        let new_count = existing.iter().filter(|e| e.is_none()).count();
        let ids = new_ids(new_count);
        let mut position = vec![0u32; self.externals.len()];
        let mut vertices = Vec::with_capacity(new_count);
        let mut refs = Vec::new();
        let mut ref_kinds = Vec::new();
        let externals = std::mem::take(&mut self.externals);
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
        let mut by_kind: Vec<Vec<usize>> = vec![Vec::new(); EdgeKind::ALL.len()];
        let mut self_loops = self.self_loops;
        let single_kind = self.kind.len() == 1;
        if single_kind {
            by_kind[self.kind[0].index()] = Vec::new();
        }
        let mut all_rows: Option<Vec<usize>> = None;
        if single_kind {
            all_rows = Some(Vec::new());
        } else {
            for i in 0..self.src.len() {
                by_kind[self.kind_at(i).index()].push(i);
            }
        }
        let mut report = ImportReport {
            lines: self.lines,
            vertices_new: new_count as u64,
            vertices_existing: refs.len() as u64,
            ..ImportReport::default()
        };
        let mut edges = Vec::new();
        for kind in EdgeKind::ALL {
            let rows: Vec<usize> = match &mut all_rows {
                Some(all) if *kind == self.kind[0] => std::mem::take(all),
                Some(_) => continue,
                None => std::mem::take(&mut by_kind[kind.index()]),
            };
            if rows.is_empty() && (!single_kind || self.src.is_empty()) {
                continue;
            }
            let (sources, targets) = kind.endpoints();
            // A fresh import of one kind: positions are the keys themselves.
            let identity = single_kind && refs.is_empty();
            let (ps, pd): (Vec<u32>, Vec<u32>) = if identity {
                (std::mem::take(&mut self.src), std::mem::take(&mut self.dst))
            } else if single_kind {
                (
                    self.src.par_iter().map(|&k| position[k as usize]).collect(),
                    self.dst.par_iter().map(|&k| position[k as usize]).collect(),
                )
            } else {
                (
                    rows.par_iter().map(|&i| position[self.src[i] as usize]).collect(),
                    rows.par_iter().map(|&i| position[self.dst[i] as usize]).collect(),
                )
            };
            let weighted = self.weight.is_some();
            let sorted = sort_edges(&ps, &pd, position_count, weighted || self.time_ms.is_some());
            drop((ps, pd));
            report.duplicates += sorted.duplicates;
            self_loops += sorted.self_loops;
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
            let mut batch = EdgeBatch::new(*kind);
            let mut weights = Vec::new();
            let mut times = Vec::new();
            let row = |r: u32| if single_kind { r as usize } else { rows[r as usize] };
            if let Some(w) = self.weight.as_ref() {
                weights = sorted.rows.par_iter().map(|&r| w[row(r)]).collect();
            }
            if let Some(t) = self.time_ms.as_ref() {
                times = sorted.rows.par_iter().map(|&r| t[row(r)]).collect();
            }
            batch.src = sorted.src;
            batch.dst = sorted.dst;
            if weighted && weights.iter().any(|w| !w.is_nan()) {
                batch.weight = Some(F32s(weights));
            }
            if times.iter().any(|&t| t != i64::MIN) {
                batch.time_ms = Some(I64s(times));
            }
            if batch.weight.is_none() && kind.check_weight(None).is_err() {
                return Err(err(file, 0, format!("{kind} edges need a weight column")));
            }
            report.edges += batch.len() as u64;
            edges.push(batch);
        }
        report.self_loops = self_loops;
        Ok(Parsed::new(
            ImportBatch { source: file.to_owned(), vertices, refs, edges },
            report,
            file.to_owned(),
            HashMap::new(),
        ))
    }
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

fn parse_csv(file: &str, bytes: &[u8]) -> Result<Rows, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| err(file, line_of(bytes, e.valid_up_to()), "not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((h, header)) = lines.next() else {
        return Err(err(file, 0, "empty file: a CSV import needs a header naming src,dst"));
    };
    let columns: Vec<&str> = csv_fields(header);
    // Canonical names, and the spellings researchers' files commonly use for them.
    const ALIASES: [(&str, &[&str]); 5] = [
        ("src", &["src", "source", "from"]),
        ("dst", &["dst", "target", "to"]),
        ("kind", &["kind", "type"]),
        ("weight", &["weight", "rating"]),
        ("time", &["time", "timestamp"]),
    ];
    let canonical = |column: &str| {
        ALIASES.iter().find(|(_, names)| names.iter().any(|n| column.eq_ignore_ascii_case(n))).map(|(c, _)| *c)
    };
    for column in &columns {
        if canonical(column).is_none() {
            return Err(err(
                file,
                h as u64 + 1,
                format!("unknown column {column:?} (expected src,dst and optionally kind,weight,time)"),
            ));
        }
    }
    let find = |name: &str| columns.iter().position(|c| canonical(c) == Some(name));
    let (Some(src_col), Some(dst_col)) = (find("src"), find("dst")) else {
        return Err(err(file, h as u64 + 1, "the header must name src and dst"));
    };
    let (kind_col, weight_col, time_col) = (find("kind"), find("weight"), find("time"));
    let mut interner = Interner::default();
    let mut rows = Rows::empty(EdgeKind::Follows, weight_col.is_some() || time_col.is_some());
    rows.kind.clear();
    rows.lines = text.lines().count() as u64;
    for (i, line) in lines {
        let n = i as u64 + 1;
        let fields: Vec<&str> = csv_fields(line);
        if fields.len() != columns.len() {
            return Err(err(
                file,
                n,
                format!("expected {} fields as in the header, found {}", columns.len(), fields.len()),
            ));
        }
        let kind = match kind_col {
            Some(c) => fields[c].parse::<EdgeKind>().map_err(|e| err(file, n, e.to_string()))?,
            None => EdgeKind::Follows,
        };
        if kind == EdgeKind::Owns {
            return Err(err(file, n, "owns edges cannot be imported from CSV (use JSONL with an owner)"));
        }
        let (s, d) = (fields[src_col], fields[dst_col]);
        if s.is_empty() || d.is_empty() {
            return Err(err(file, n, "empty id"));
        }
        let weight = match weight_col.map(|c| fields[c]).filter(|w| !w.is_empty()) {
            Some(w) => Some(w.parse::<f32>().map_err(|_| err(file, n, format!("weight {w:?} is not a number")))?),
            None => None,
        };
        kind.check_weight(weight).map_err(|e| err(file, n, e.to_string()))?;
        let time = match time_col.map(|c| fields[c]).filter(|t| !t.is_empty()) {
            Some(t) => {
                parse_seconds(t.as_bytes()).ok_or_else(|| err(file, n, format!("time {t:?} is not epoch seconds")))?
            }
            None => i64::MIN,
        };
        rows.kind.push(kind);
        rows.src.push(interner.key(s));
        rows.dst.push(interner.key(d));
        if let Some(w) = rows.weight.as_mut() {
            w.push(weight.unwrap_or(f32::NAN));
        }
        if let Some(t) = rows.time_ms.as_mut() {
            t.push(time);
        }
    }
    rows.externals = interner.names;
    if rows.kind.iter().all(|&k| k == EdgeKind::Follows) {
        rows.kind = vec![EdgeKind::Follows];
    }
    Ok(rows)
}

/// The fields of a CSV line, trimmed, with surrounding double quotes removed.
fn csv_fields(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|f| {
            let f = f.trim();
            f.strip_prefix('"').and_then(|f| f.strip_suffix('"')).unwrap_or(f)
        })
        .collect()
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
