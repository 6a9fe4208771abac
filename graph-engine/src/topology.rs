//! The researcher's fast path: an edge list read straight into CSR arrays — no property graph,
//! no log, no import batch — for jobs that need only who is tied to whom (PageRank, clusters).
//!
//! It reads the file with the importer's own reader and applies the importer's rules (every id a
//! mask, self-loops skipped, duplicates merged with the last line winning, kinds that cannot
//! join two masks refused), so a job gives bit for bit what it gives on the same file loaded
//! into a [`crate::Graph`]: vertex `k` is the file's id of key `k` (numbers in increasing order,
//! text in order of first appearance), and each row is sorted.

use crate::edge_list::{self, Keep, Names, Rows, Source};
use crate::engine::Progress;
use crate::import::{Format, ImportError, ImportReport};
use crate::scatter::scatter_by_key;
use rayon::prelude::*;
use schema::{EdgeKind, VertexKind};
use std::path::Path;

/// With `DAIRA_TOPOLOGY_TRACE=1` in the environment, reading a topology prints how long each of
/// its stages took, to standard error (for tuning; nothing else changes).
struct Trace {
    last: Option<std::time::Instant>,
}

impl Trace {
    fn start() -> Trace {
        let on = std::env::var_os("DAIRA_TOPOLOGY_TRACE").is_some_and(|v| v == "1");
        Trace { last: on.then(std::time::Instant::now) }
    }

    fn stage(&mut self, what: &str) {
        if let Some(last) = self.last.as_mut() {
            eprintln!("topology: {:>8.3} s  {what}", last.elapsed().as_secs_f64());
            *last = std::time::Instant::now();
        }
    }
}

/// Which endpoint a row of a [`Topology`] gathers edges by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Row `v` lists the targets of `v`'s out-edges.
    Sources,
    /// Row `v` lists the sources of `v`'s in-edges (for pull-style iterations).
    Targets,
}

/// What a [`Topology`] keeps of an edge list.
#[derive(Clone, Debug, PartialEq)]
pub struct TopologyOptions {
    /// The edge kinds that tie vertices; edges of other kinds are read, checked and left out.
    pub kinds: Vec<EdgeKind>,
    /// Leave out `rates` edges whose rating is not positive (distrust is no tie).
    pub positive_ratings_only: bool,
    /// Keep how many kinds join each pair ([`Topology::multiplicity`]); otherwise a pair joined
    /// by several kinds is one edge.
    pub count_kinds: bool,
    /// How rows gather edges.
    pub rows: Side,
}

/// A directed graph over the file's ids as CSR arrays: row `v` is
/// `neighbours[offsets[v]..offsets[v + 1]]`, sorted, each neighbour once, never `v` itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    /// The file's id of each vertex.
    pub names: Names,
    /// `n + 1` offsets into `neighbours`.
    pub offsets: Vec<u64>,
    /// Each row's neighbours.
    pub neighbours: Vec<u32>,
    /// How many edge kinds join each pair, parallel to `neighbours` (None: one each).
    pub multiplicity: Option<Vec<u8>>,
    /// How rows gather edges.
    pub rows: Side,
    /// What the file held: lines, vertices, edges (of every kind, after merging), duplicates,
    /// self-loops.
    pub report: ImportReport,
}

/// Reads an edge list (snap, snap-signed or csv; gzipped or not) into a [`Topology`].
pub fn read_topology(
    path: &Path,
    format: Format,
    options: &TopologyOptions,
    progress: &dyn Progress,
) -> Result<Topology, ImportError> {
    build(Source::File(path), &path.display().to_string(), format, options, progress)
}

/// Reads an edge list held in memory (see [`read_topology`]).
pub fn topology_of_bytes(
    file: &str,
    bytes: &[u8],
    format: Format,
    options: &TopologyOptions,
    progress: &dyn Progress,
) -> Result<Topology, ImportError> {
    build(Source::Bytes(bytes), file, format, options, progress)
}

fn build(
    source: Source<'_>,
    file: &str,
    format: Format,
    options: &TopologyOptions,
    progress: &dyn Progress,
) -> Result<Topology, ImportError> {
    let Some(edge_format) = format.edge_format() else {
        return Err(ImportError {
            file: file.to_owned(),
            line: 0,
            message: format!("{format:?} is not an edge list: load it into a graph"),
        });
    };
    let keep = Keep { weight: options.positive_ratings_only, time: false };
    let mut trace = Trace::start();
    let rows = edge_list::read(source, file, edge_format, keep, progress)?;
    trace.stage("read and parse");
    check_kinds(&rows, file)?;
    let simple = rows.kind.len() == 1 && !(options.positive_ratings_only && rows.kind[0] == EdgeKind::Rates);
    let topology = if simple { simple_topology(rows, options, &mut trace) } else { general_topology(rows, options) };
    trace.stage("rows built");
    progress.update("topology", topology.neighbours.len() as u64, topology.neighbours.len() as u64);
    Ok(topology)
}

/// Every vertex of an edge list is a mask: a kind that cannot join two masks is refused, as the
/// import refuses it (naming the first offending id in the import's order).
fn check_kinds(rows: &Rows, file: &str) -> Result<(), ImportError> {
    let mut first: [Option<(u32, u32)>; EdgeKind::ALL.len()] = [None; EdgeKind::ALL.len()];
    let mask_to_mask =
        |k: EdgeKind| k.endpoints().0.contains(&VertexKind::Mask) && k.endpoints().1.contains(&VertexKind::Mask);
    if rows.kind.iter().all(|&k| mask_to_mask(k)) {
        return Ok(());
    }
    for i in 0..rows.src.len() {
        let kind = rows.kind_at(i);
        let pair = (rows.src[i], rows.dst[i]);
        if !mask_to_mask(kind) && pair.0 != pair.1 && first[kind.index()].is_none_or(|p| pair < p) {
            first[kind.index()] = Some(pair);
        }
    }
    for &kind in EdgeKind::ALL {
        if let Some((s, d)) = first[kind.index()] {
            let (sources, _) = kind.endpoints();
            let bad = if sources.contains(&VertexKind::Mask) { d } else { s };
            return Err(ImportError {
                file: file.to_owned(),
                line: 0,
                message: format!("a {kind} edge cannot use {:?}: it is a mask", rows.names.get(bad)),
            });
        }
    }
    Ok(())
}

/// Rows per parallel task when rows are tidied.
const BLOCK_ROWS: usize = 4096;

/// One kind, no weights to look at: group the other endpoint by the row's, then sort each row,
/// merge duplicates and drop self-loops in place.
fn simple_topology(rows: Rows, options: &TopologyOptions, trace: &mut Trace) -> Topology {
    let Rows { names, kind, src, dst, lines, .. } = rows;
    let n = names.len();
    let (keys, values) = match options.rows {
        Side::Sources => (src, dst),
        Side::Targets => (dst, src),
    };
    let (offsets, mut neighbours) = scatter_by_key(&keys, n, |i| values[i]);
    drop((keys, values));
    trace.stage("grouped by row");
    let counts = tidy_in_place(&offsets, &mut neighbours);
    trace.stage("rows sorted, duplicates merged");
    let report = ImportReport {
        lines,
        vertices_new: n as u64,
        vertices_existing: 0,
        edges: counts.edges,
        duplicates: counts.duplicates,
        self_loops: counts.self_loops,
    };
    let (offsets, neighbours) = if options.kinds.contains(&kind[0]) {
        close_gaps(offsets, neighbours, &counts.kept)
    } else {
        (vec![0; n + 1], Vec::new())
    };
    Topology { names, offsets, neighbours, multiplicity: None, rows: options.rows, report }
}

/// What tidying rows found.
struct Tidied {
    /// Entries kept, per row.
    kept: Vec<u32>,
    edges: u64,
    duplicates: u64,
    self_loops: u64,
}

/// Sorts every row, merges duplicates and drops self-loops, each row's kept entries moved to
/// its start. Blocks of rows run in parallel, each on its own stretch of `neighbours`.
fn tidy_in_place(offsets: &[u64], neighbours: &mut [u32]) -> Tidied {
    let n = offsets.len() - 1;
    let mut blocks: Vec<(usize, &mut [u32])> = Vec::with_capacity(n.div_ceil(BLOCK_ROWS));
    let mut rest = neighbours;
    for first in (0..n).step_by(BLOCK_ROWS) {
        let last = (first + BLOCK_ROWS).min(n);
        let (block, tail) = rest.split_at_mut((offsets[last] - offsets[first]) as usize);
        blocks.push((first, block));
        rest = tail;
    }
    let parts: Vec<(Vec<u32>, u64, u64)> = blocks
        .into_par_iter()
        .map(|(first, block)| {
            let last = (first + BLOCK_ROWS).min(n);
            let base = offsets[first] as usize;
            let (mut kept, mut duplicates, mut self_loops) = (Vec::with_capacity(last - first), 0, 0);
            for v in first..last {
                let (start, end) = (offsets[v] as usize - base, offsets[v + 1] as usize - base);
                let row = &mut block[start..end];
                row.sort_unstable();
                let mut write = 0;
                for read in 0..row.len() {
                    let w = row[read];
                    if read + 1 < row.len() && row[read + 1] == w {
                        duplicates += 1;
                    } else if w as usize == v {
                        self_loops += 1;
                    } else {
                        row[write] = w;
                        write += 1;
                    }
                }
                kept.push(write as u32);
            }
            (kept, duplicates, self_loops)
        })
        .collect();
    let mut tidied = Tidied { kept: Vec::with_capacity(n), edges: 0, duplicates: 0, self_loops: 0 };
    for (kept, duplicates, self_loops) in parts {
        tidied.edges += kept.iter().map(|&k| u64::from(k)).sum::<u64>();
        tidied.kept.extend(kept);
        tidied.duplicates += duplicates;
        tidied.self_loops += self_loops;
    }
    tidied
}

/// Moves each row's kept entries (at its start) next to the previous row's, and gives the new
/// offsets.
fn close_gaps(offsets: Vec<u64>, mut neighbours: Vec<u32>, kept: &[u32]) -> (Vec<u64>, Vec<u32>) {
    let n = kept.len();
    let mut new_offsets = Vec::with_capacity(n + 1);
    new_offsets.push(0u64);
    let mut to = 0usize;
    for v in 0..n {
        let from = offsets[v] as usize;
        let k = kept[v] as usize;
        if from != to {
            neighbours.copy_within(from..from + k, to);
        }
        to += k;
        new_offsets.push(to as u64);
    }
    neighbours.truncate(to);
    neighbours.shrink_to_fit();
    (new_offsets, neighbours)
}

/// Several kinds, or ratings to look at: each kind's duplicates merged (its last row wins),
/// self-loops dropped, then the pair's kinds that count added up.
fn general_topology(rows: Rows, options: &TopologyOptions) -> Topology {
    let n = rows.names.len();
    // Grouped by source: (target, row) in row order; sorting a row's entries orders them by
    // target, then by row, so the last row of a kind comes last.
    let (offsets, entries) = scatter_by_key(&rows.src, n, |i| (u64::from(rows.dst[i]) << 32) | i as u64);
    let counts = |kind: EdgeKind, row: usize| -> bool {
        options.kinds.contains(&kind)
            && !(options.positive_ratings_only
                && kind == EdgeKind::Rates
                && rows.weight.as_ref().is_some_and(|w| w[row].is_nan() || w[row] <= 0.0))
    };
    let blocks: Vec<usize> = (0..n).step_by(BLOCK_ROWS).collect();
    /// A block of rows: each row's length, the targets, their multiplicities, and the tally of
    /// edges, duplicates and self-loops.
    type Part = (Vec<u32>, Vec<u32>, Vec<u8>, [u64; 3]);
    let parts: Vec<Part> = blocks
        .into_par_iter()
        .map(|first| {
            let last = (first + BLOCK_ROWS).min(n);
            let (mut lens, mut targets, mut mult) = (Vec::with_capacity(last - first), Vec::new(), Vec::new());
            let mut tally = [0u64; 3]; // edges, duplicates, self-loops
            let mut row_entries: Vec<u64> = Vec::new();
            for v in first..last {
                row_entries.clear();
                row_entries.extend_from_slice(&entries[offsets[v] as usize..offsets[v + 1] as usize]);
                row_entries.sort_unstable();
                let before = targets.len();
                for run in row_entries.chunk_by(|a, b| a >> 32 == b >> 32) {
                    let target = (run[0] >> 32) as u32;
                    let mut last_of_kind: [Option<usize>; EdgeKind::ALL.len()] = [None; EdgeKind::ALL.len()];
                    for &e in run {
                        let row = (e & 0xffff_ffff) as usize;
                        let slot = &mut last_of_kind[rows.kind_at(row).index()];
                        if slot.is_some() {
                            tally[1] += 1;
                        }
                        *slot = Some(row);
                    }
                    let kinds = last_of_kind.iter().filter(|r| r.is_some()).count() as u64;
                    if target as usize == v {
                        tally[2] += kinds;
                        continue;
                    }
                    tally[0] += kinds;
                    let joined = last_of_kind
                        .iter()
                        .enumerate()
                        .filter(|&(k, r)| r.is_some_and(|row| counts(EdgeKind::ALL[k], row)))
                        .count();
                    if joined > 0 {
                        targets.push(target);
                        mult.push(if options.count_kinds { joined as u8 } else { 1 });
                    }
                }
                lens.push((targets.len() - before) as u32);
            }
            (lens, targets, mult, tally)
        })
        .collect();
    drop(entries);
    let total: usize = parts.iter().map(|p| p.1.len()).sum();
    let mut out_offsets = Vec::with_capacity(n + 1);
    out_offsets.push(0u64);
    let (mut neighbours, mut multiplicity) = (Vec::with_capacity(total), Vec::with_capacity(total));
    let mut report =
        ImportReport { lines: rows.lines, vertices_new: n as u64, vertices_existing: 0, ..ImportReport::default() };
    for (lens, targets, mult, tally) in parts {
        for len in lens {
            out_offsets.push(out_offsets.last().expect("non-empty") + u64::from(len));
        }
        neighbours.extend_from_slice(&targets);
        multiplicity.extend_from_slice(&mult);
        report.edges += tally[0];
        report.duplicates += tally[1];
        report.self_loops += tally[2];
    }
    let multiplicity = multiplicity.iter().any(|&m| m != 1).then_some(multiplicity);
    let topology =
        Topology { names: rows.names, offsets: out_offsets, neighbours, multiplicity, rows: Side::Sources, report };
    if options.rows == Side::Targets { topology.transpose() } else { topology }
}

impl Topology {
    /// The number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The number of edges (pairs).
    pub fn edge_count(&self) -> usize {
        self.neighbours.len()
    }

    /// Row `v`.
    pub fn row(&self, v: u32) -> &[u32] {
        &self.neighbours[self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize]
    }

    /// How many kinds join each entry of row `v` (all 1 when none is kept).
    pub fn row_multiplicity(&self, v: u32) -> Option<&[u8]> {
        let range = self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize;
        self.multiplicity.as_ref().map(|m| &m[range])
    }

    /// The same edges gathered by the other endpoint (rows sorted, as always).
    pub fn transpose(&self) -> Topology {
        let n = self.vertex_count();
        let m = self.neighbours.len();
        // Each edge's row, to scatter by the neighbour; edges in row order keep rows sorted.
        let mut row_of = vec![0u32; m];
        row_of.par_chunks_mut(1 << 16).enumerate().for_each(|(c, part)| {
            let start = c << 16;
            let mut v = self.offsets.partition_point(|&o| o as usize <= start) - 1;
            for (i, slot) in part.iter_mut().enumerate() {
                while self.offsets[v + 1] as usize <= start + i {
                    v += 1;
                }
                *slot = v as u32;
            }
        });
        let (offsets, neighbours) = scatter_by_key(&self.neighbours, n, |i| row_of[i]);
        let multiplicity = self.multiplicity.as_ref().map(|mult| scatter_by_key(&self.neighbours, n, |i| mult[i]).1);
        let rows = match self.rows {
            Side::Sources => Side::Targets,
            Side::Targets => Side::Sources,
        };
        Topology { names: self.names.clone(), offsets, neighbours, multiplicity, rows, report: self.report.clone() }
    }
}
