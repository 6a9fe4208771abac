//! Reading researchers' edge lists — SNAP (`src dst [time]`), SNAP signed (`src,dst,rating[,time]`)
//! and CSV with a header — into [`Rows`]: dense keys per endpoint, the file's ids per key, and
//! the columns asked for. One reader serves both roads: the import into a property graph
//! (`import::parse_file`) and the researcher's fast path straight into CSR arrays
//! (`topology::read_topology`).
//!
//! The file is read in chunks that end at line ends, so it is never held in memory whole; a
//! gzipped file (SNAP's own distribution) is decompressed as it is read. SNAP lines are parsed
//! in parallel within a chunk. Ids that are all canonical decimal numbers are kept as numbers
//! (4 bytes per endpoint while they fit in `u32`) and given keys in increasing order; a file
//! with any other id is read again as text, its ids keyed in order of first appearance. CSV
//! goes through the `csv` crate: quoted fields, commas and doubled quotes in ids, CRLF, a
//! byte-order mark.

use crate::engine::Progress;
use crate::import::{IMPORT_BYTES_MAX, ImportError};
use crate::store::decimal;
use rayon::prelude::*;
use schema::{EdgeKind, NO_TIME, NO_WEIGHT};
use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

/// Bytes read and parsed at a time.
const CHUNK_BYTES: usize = 8 << 20;

/// The file's ids, one per dense key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Names {
    /// Canonical decimal numbers, in increasing order (key `k` is the `k`-th smallest id).
    Numeric(Vec<u64>),
    /// Ids as written, in order of first appearance.
    Text(Vec<String>),
}

impl Names {
    /// How many ids.
    pub fn len(&self) -> usize {
        match self {
            Names::Numeric(ids) => ids.len(),
            Names::Text(ids) => ids.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of key `k`, as written in the file.
    pub fn get(&self, k: u32) -> Cow<'_, str> {
        match self {
            Names::Numeric(ids) => Cow::Owned(ids[k as usize].to_string()),
            Names::Text(ids) => Cow::Borrowed(&ids[k as usize]),
        }
    }

    /// Appends the id of key `k` to `out`, as a CSV field (quoted when it holds a comma, a
    /// quote or a line end).
    pub fn write_csv_field(&self, k: u32, out: &mut Vec<u8>) {
        match self {
            Names::Numeric(ids) => {
                use std::io::Write;
                let _ = write!(out, "{}", ids[k as usize]);
            }
            Names::Text(ids) => {
                let id = &ids[k as usize];
                if id.contains([',', '"', '\n', '\r']) {
                    out.push(b'"');
                    out.extend_from_slice(id.replace('"', "\"\"").as_bytes());
                    out.push(b'"');
                } else {
                    out.extend_from_slice(id.as_bytes());
                }
            }
        }
    }

    /// The ids as strings.
    pub(crate) fn into_strings(self) -> Vec<String> {
        match self {
            Names::Numeric(ids) => ids.par_iter().map(u64::to_string).collect(),
            Names::Text(ids) => ids,
        }
    }
}

/// The rows of an edge list, endpoints as dense keys `0..names.len()`.
pub(crate) struct Rows {
    pub names: Names,
    /// Each row's kind; one entry when every row has the same kind.
    pub kind: Vec<EdgeKind>,
    pub src: Vec<u32>,
    pub dst: Vec<u32>,
    /// Each row's weight ([`NO_WEIGHT`] where none), when asked for and the file has them.
    pub weight: Option<Vec<f32>>,
    /// Each row's time ([`NO_TIME`] where none), when asked for and the file has them.
    pub time_ms: Option<Vec<i64>>,
    /// Lines read, comments and blanks included.
    pub lines: u64,
}

impl Rows {
    /// The kind of row `i`.
    pub fn kind_at(&self, i: usize) -> EdgeKind {
        if self.kind.len() == 1 { self.kind[0] } else { self.kind[i] }
    }
}

/// Which columns to keep besides the endpoints (every column is checked either way).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keep {
    pub weight: bool,
    pub time: bool,
}

/// The formats that are edge lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EdgeFormat {
    Snap,
    SnapSigned,
    Csv,
}

/// Where the bytes come from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

fn err(file: &str, line: u64, message: impl Into<String>) -> ImportError {
    ImportError { file: file.to_owned(), line, message: message.into() }
}

/// A reader of the source's bytes, decompressed when they are gzipped, refusing to give more
/// than [`IMPORT_BYTES_MAX`].
struct Opened<'a> {
    reader: Box<dyn Read + Send + 'a>,
    gzipped: bool,
    /// The size on disk, when known (for progress).
    size: u64,
}

impl Source<'_> {
    fn open(&self, file: &str) -> Result<Opened<'_>, ImportError> {
        let fail = |message: String| err(file, 0, message);
        let (mut reader, size): (Box<dyn Read + Send>, u64) = match self {
            Source::File(path) => {
                let size = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?.len();
                if size > IMPORT_BYTES_MAX {
                    return Err(fail(format!("file is {size} bytes; at most {IMPORT_BYTES_MAX} per import")));
                }
                (Box::new(std::fs::File::open(path).map_err(|e| fail(e.to_string()))?), size)
            }
            Source::Bytes(bytes) => (Box::new(*bytes), bytes.len() as u64),
        };
        let mut magic = [0u8; 2];
        let mut got = 0;
        while got < 2 {
            match reader.read(&mut magic[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fail(e.to_string())),
            }
        }
        let head = std::io::Cursor::new(magic[..got].to_vec());
        let whole = head.chain(reader);
        let gzipped = got == 2 && magic == [0x1f, 0x8b];
        let reader: Box<dyn Read + Send> =
            if gzipped { Box::new(flate2::read::MultiGzDecoder::new(whole)) } else { Box::new(whole) };
        // A byte-order mark (spreadsheets write one) is not part of the first line.
        let reader = SkipBom { inner: reader.take(IMPORT_BYTES_MAX + 1), checked: false, pending: Vec::new() };
        Ok(Opened { reader: Box::new(reader), gzipped, size })
    }
}

impl Opened<'_> {
    /// Calls `visit` with consecutive chunks of whole lines (the last may lack its line end),
    /// each with the number of lines before it; `visit` says how many lines its chunk held.
    /// One buffer serves every chunk: what a chunk leaves after its last line end moves to the
    /// front, and the next read fills in after it.
    fn chunks(
        &mut self,
        file: &str,
        progress: &dyn Progress,
        mut visit: impl FnMut(&[u8], u64) -> Result<u64, ImportError>,
    ) -> Result<u64, ImportError> {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        let (mut filled, mut lines, mut total) = (0usize, 0u64, 0u64);
        let mut done = false;
        while !done {
            while filled < buffer.len() {
                let n = loop {
                    match self.reader.read(&mut buffer[filled..]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) if self.gzipped => return Err(err(file, 0, format!("not a valid gzip file: {e}"))),
                        Err(e) => return Err(err(file, 0, e.to_string())),
                    }
                };
                filled += n;
                total += n as u64;
                if total > IMPORT_BYTES_MAX {
                    return Err(err(file, 0, format!("decompresses to more than {IMPORT_BYTES_MAX} bytes")));
                }
                if n == 0 {
                    done = true;
                    break;
                }
            }
            let end = match memrchr_newline(&buffer[..filled]) {
                _ if done => filled,
                Some(i) => i + 1,
                // A line longer than the buffer: make room for it.
                None => {
                    buffer.resize(buffer.len() * 2, 0);
                    continue;
                }
            };
            if end > 0 {
                lines += visit(&buffer[..end], lines)?;
            }
            buffer.copy_within(end..filled, 0);
            filled -= end;
            progress.update("parse", total, if self.gzipped { 0 } else { self.size });
        }
        Ok(lines)
    }
}

fn memrchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b == b'\n')
}

/// Reads an edge list into rows.
pub(crate) fn read(
    source: Source<'_>,
    file: &str,
    format: EdgeFormat,
    keep: Keep,
    progress: &dyn Progress,
) -> Result<Rows, ImportError> {
    match format {
        EdgeFormat::Csv => read_csv(source, file, keep, progress),
        EdgeFormat::Snap | EdgeFormat::SnapSigned => {
            let signed = format == EdgeFormat::SnapSigned;
            match read_numeric::<u32>(source, file, signed, keep, progress)? {
                Numeric::Read(rows) => Ok(rows),
                Numeric::Wide => match read_numeric::<u64>(source, file, signed, keep, progress)? {
                    Numeric::Read(rows) => Ok(rows),
                    Numeric::Wide => unreachable!("every decimal id fits in u64"),
                    Numeric::Text => read_text(source, file, signed, keep, progress),
                },
                Numeric::Text => read_text(source, file, signed, keep, progress),
            }
        }
    }
}

/// The kind of a SNAP file's rows.
fn snap_kind(signed: bool) -> EdgeKind {
    if signed { EdgeKind::Rates } else { EdgeKind::Follows }
}

/// The shape of an edge-list line, for error messages.
fn shape(signed: bool) -> &'static str {
    if signed { "src,dst,rating[,time]" } else { "src dst [time]" }
}

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

/// One SNAP line's fields, checked: the two ids, the rating (signed files) and the time, if
/// any. `Ok(None)` for a comment or a blank line.
#[allow(clippy::type_complexity)]
fn snap_line(line: &[u8], signed: bool) -> Result<Option<(&[u8], &[u8], f32, i64)>, String> {
    let text = line.trim_ascii();
    if text.is_empty() || text[0] == b'#' || text[0] == b'%' {
        return Ok(None);
    }
    let (fields, count) = split_fields(text);
    let allowed = if signed { 3..=4 } else { 2..=3 };
    if !allowed.contains(&count) {
        let found = if count > 4 { "more than 4".to_string() } else { count.to_string() };
        return Err(format!("expected {} fields ({}), found {found}", allowed.start(), shape(signed)));
    }
    if fields[0].is_empty() || fields[1].is_empty() {
        return Err("empty id".into());
    }
    let (rating, time) = if signed {
        (parse_rating(fields[2])?, (count == 4).then_some(fields[3]))
    } else {
        (NO_WEIGHT, (count == 3).then_some(fields[2]))
    };
    let time = match time {
        Some(t) => {
            parse_seconds(t).ok_or_else(|| format!("time {:?} is not epoch seconds", String::from_utf8_lossy(t)))?
        }
        None => NO_TIME,
    };
    Ok(Some((fields[0], fields[1], rating, time)))
}

fn parse_rating(rating: &[u8]) -> Result<f32, String> {
    let r: f32 = std::str::from_utf8(rating)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("rating {:?} is not a number", String::from_utf8_lossy(rating)))?;
    EdgeKind::Rates.check_weight(Some(r)).map_err(|e| e.to_string())?;
    Ok(r)
}

/// Epoch seconds (integer or fractional) → milliseconds.
pub(crate) fn parse_seconds(time: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(time).ok()?;
    if let Ok(whole) = s.parse::<i64>() {
        return whole.checked_mul(1000);
    }
    let f: f64 = s.parse().ok()?;
    seconds_f64(f)
}

/// Epoch seconds as a float → milliseconds.
pub(crate) fn seconds_f64(f: f64) -> Option<i64> {
    (f.is_finite() && f.abs() < 1e15).then(|| (f * 1000.0).round() as i64)
}

/// The columns a SNAP file's rows fill.
#[derive(Default)]
struct Columns<Id> {
    src: Vec<Id>,
    dst: Vec<Id>,
    weight: Vec<f32>,
    time_ms: Vec<i64>,
    /// Whether any row has a time.
    timed: bool,
}

impl<Id> Columns<Id> {
    /// Room for `rows` rows of the columns kept.
    fn reserve(&mut self, rows: usize) {
        self.src.reserve(rows);
        self.dst.reserve(rows);
        if !self.weight.is_empty() {
            self.weight.reserve(rows);
        }
        if !self.time_ms.is_empty() {
            self.time_ms.reserve(rows);
        }
    }

    fn push(&mut self, s: Id, d: Id, weight: f32, time: i64, keep: Keep, signed: bool) {
        self.src.push(s);
        self.dst.push(d);
        if keep.weight && signed {
            self.weight.push(weight);
        }
        if keep.time {
            self.time_ms.push(time);
            self.timed |= time != NO_TIME;
        }
    }
}

/// What went wrong in a piece of a chunk.
enum PieceError {
    /// An id that is not a canonical decimal number: the file takes the text path.
    NotNumeric,
    /// An id too large for `u32`: the file is read again with `u64` ids.
    Wide,
    /// A bad line, at a byte offset in the chunk.
    Bad { offset: usize, message: String },
}

/// A parsed piece of a chunk: numeric ids and the other columns.
struct Piece<I> {
    columns: Columns<I>,
    max: u64,
    lines: u64,
}

/// A numeric id as it is kept while reading: `u32` while every id fits (4 bytes an endpoint),
/// `u64` otherwise.
trait RawId: Copy + Default + Send + Sync + 'static {
    fn narrow(id: u64) -> Option<Self>;
    fn ids(column: Vec<Self>) -> Ids;
}

impl RawId for u32 {
    #[inline]
    fn narrow(id: u64) -> Option<u32> {
        u32::try_from(id).ok()
    }
    fn ids(column: Vec<u32>) -> Ids {
        Ids::Narrow(column)
    }
}

impl RawId for u64 {
    #[inline]
    fn narrow(id: u64) -> Option<u64> {
        Some(id)
    }
    fn ids(column: Vec<u64>) -> Ids {
        Ids::Wide(column)
    }
}

/// Parses a piece of whole lines whose ids are all decimal numbers. The usual line, `digits
/// <tabs or spaces> digits <line end>`, is read in one pass ([`fast_line`]); anything else goes
/// through [`snap_line`].
fn parse_piece<I: RawId>(piece: &[u8], base: usize, signed: bool, keep: Keep) -> Result<Piece<I>, PieceError> {
    let mut out = Piece { columns: Columns::default(), max: 0, lines: 0 };
    let estimate = piece.len() / 12;
    out.columns.src.reserve(estimate);
    out.columns.dst.reserve(estimate);
    let mut at = 0;
    while at < piece.len() {
        out.lines += 1;
        if !signed && let Some((s, d, next)) = fast_line(piece, at) {
            let (Some(ns), Some(nd)) = (I::narrow(s), I::narrow(d)) else { return Err(PieceError::Wide) };
            out.max = out.max.max(s).max(d);
            out.columns.push(ns, nd, NO_WEIGHT, NO_TIME, keep, false);
            at = next;
            continue;
        }
        let end = piece[at..].iter().position(|&b| b == b'\n').map_or(piece.len(), |i| at + i + 1);
        match snap_line(&piece[at..end], signed) {
            Ok(None) => {}
            Ok(Some((s, d, rating, time))) => {
                let (Some(s), Some(d)) = (decimal(s), decimal(d)) else { return Err(PieceError::NotNumeric) };
                let (Some(ns), Some(nd)) = (I::narrow(s), I::narrow(d)) else { return Err(PieceError::Wide) };
                out.max = out.max.max(s).max(d);
                out.columns.push(ns, nd, rating, time, keep, signed);
            }
            Err(message) => return Err(PieceError::Bad { offset: base + at, message }),
        }
        at = end;
    }
    Ok(out)
}

/// The line at `at` if it is `src<tabs or spaces>dst` with canonical decimal ids and a line end
/// (`\n`, `\r\n`, or the end of the piece): the two ids and where the next line starts. None
/// for any other line, which the general path then reads.
#[inline]
fn fast_line(bytes: &[u8], mut at: usize) -> Option<(u64, u64, usize)> {
    #[inline]
    fn number(bytes: &[u8], at: &mut usize) -> Option<u64> {
        let start = *at;
        let mut value = 0u64;
        while let Some(&b) = bytes.get(*at)
            && b.is_ascii_digit()
        {
            value = value.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            *at += 1;
        }
        let len = *at - start;
        // Canonical: 1 to 19 digits, no leading zero (19 digits always fit in u64).
        (len > 0 && len <= 19 && (len == 1 || bytes[start] != b'0')).then_some(value)
    }
    let s = number(bytes, &mut at)?;
    let gap = at;
    while let Some(b'\t' | b' ') = bytes.get(at) {
        at += 1;
    }
    if at == gap {
        return None;
    }
    let d = number(bytes, &mut at)?;
    if bytes.get(at) == Some(&b'\r') {
        at += 1;
    }
    match bytes.get(at) {
        None => Some((s, d, at)),
        Some(b'\n') => Some((s, d, at + 1)),
        Some(_) => None,
    }
}

/// Splits `bytes` into about `parts` pieces that end at line ends: (offset, piece).
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

fn line_in(chunk: &[u8], lines_before: u64, offset: usize) -> u64 {
    lines_before + chunk[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// What reading a SNAP file as numbers came to.
enum Numeric {
    Read(Rows),
    /// Some id is too large for the id type: read again with a wider one.
    Wide,
    /// Some id is not a canonical decimal number: read again as text.
    Text,
}

/// Appends the pieces of a chunk to the columns, copying them in parallel into place.
fn append_pieces<I: RawId>(columns: &mut Columns<I>, pieces: &[Piece<I>]) {
    fn append<T: Copy + Default + Send + Sync>(column: &mut Vec<T>, parts: Vec<&[T]>) {
        let start = column.len();
        column.resize(start + parts.iter().map(|p| p.len()).sum::<usize>(), T::default());
        let mut rest = &mut column[start..];
        let mut slots = Vec::with_capacity(parts.len());
        for part in &parts {
            let (slot, tail) = rest.split_at_mut(part.len());
            slots.push(slot);
            rest = tail;
        }
        slots.into_par_iter().zip(parts).for_each(|(slot, part)| slot.copy_from_slice(part));
    }
    append(&mut columns.src, pieces.iter().map(|p| &p.columns.src[..]).collect());
    append(&mut columns.dst, pieces.iter().map(|p| &p.columns.dst[..]).collect());
    append(&mut columns.weight, pieces.iter().map(|p| &p.columns.weight[..]).collect());
    append(&mut columns.time_ms, pieces.iter().map(|p| &p.columns.time_ms[..]).collect());
    columns.timed |= pieces.iter().any(|p| p.columns.timed);
}

/// Reads a SNAP file whose ids are all canonical decimal numbers that fit in `I`.
fn read_numeric<I: RawId>(
    source: Source<'_>,
    file: &str,
    signed: bool,
    keep: Keep,
    progress: &dyn Progress,
) -> Result<Numeric, ImportError> {
    let mut opened = source.open(file)?;
    let (opened_gzipped, file_size) = (opened.gzipped, opened.size);
    let mut columns: Columns<I> = Columns::default();
    let mut max = 0u64;
    let mut stop: Option<Numeric> = None;
    let parts = rayon::current_num_threads() * 4;
    let lines = opened.chunks(file, progress, |chunk, lines_before| {
        if stop.is_some() {
            return Ok(0);
        }
        let pieces = split_lines(chunk, parts);
        let parsed: Vec<Result<Piece<I>, PieceError>> =
            pieces.par_iter().map(|&(base, piece)| parse_piece(piece, base, signed, keep)).collect();
        let mut ok = Vec::with_capacity(parsed.len());
        for result in parsed {
            match result {
                Ok(piece) => ok.push(piece),
                Err(PieceError::NotNumeric) => {
                    stop = Some(Numeric::Text);
                    return Ok(0);
                }
                Err(PieceError::Wide) => {
                    stop = Some(Numeric::Wide);
                    return Ok(0);
                }
                Err(PieceError::Bad { offset, message }) => {
                    return Err(err(file, line_in(chunk, lines_before, offset), message));
                }
            }
        }
        if lines_before == 0 && !opened_gzipped && chunk.len() < file_size as usize {
            // Room for the whole file at the first chunk's density, so the columns are not
            // copied as they grow.
            let rows: usize = ok.iter().map(|p| p.columns.src.len()).sum();
            let estimate = (rows as f64 * file_size as f64 / chunk.len() as f64 * 1.02) as usize;
            columns.reserve(estimate);
        }
        append_pieces(&mut columns, &ok);
        max = ok.iter().map(|p| p.max).fold(max, u64::max);
        Ok(ok.iter().map(|p| p.lines).sum())
    })?;
    if let Some(stop) = stop {
        return Ok(stop);
    }
    let Columns { src, dst, weight, time_ms, timed } = columns;
    let (names, src, dst) = densify(I::ids(src), I::ids(dst), max);
    Ok(Numeric::Read(Rows {
        names,
        kind: vec![snap_kind(signed)],
        src,
        dst,
        weight: (keep.weight && signed).then_some(weight),
        time_ms: (keep.time && timed).then_some(time_ms),
        lines,
    }))
}

/// Numeric ids, narrow while they fit in `u32`.
enum Ids {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Ids {
    fn len(&self) -> usize {
        match self {
            Ids::Narrow(v) => v.len(),
            Ids::Wide(v) => v.len(),
        }
    }
}

/// Keys for numeric ids, in increasing id order: (the ids by key, src keys, dst keys). The keys
/// replace the ids in place when the ids are narrow.
fn densify(src: Ids, dst: Ids, max: u64) -> (Names, Vec<u32>, Vec<u32>) {
    let m = src.len();
    if m == 0 {
        return (Names::Numeric(Vec::new()), Vec::new(), Vec::new());
    }
    let small = max < (64u64 << 20).max(4 * m as u64);
    match (src, dst) {
        (Ids::Narrow(mut src), Ids::Narrow(mut dst)) if small => {
            // A direct table: mark the ids present, number them in order, map in place.
            let words = (max as usize + 1).div_ceil(64);
            let chunk = m.div_ceil(rayon::current_num_threads()).max(1 << 16);
            let mark = |part: &[u32]| {
                let mut bits = vec![0u64; words];
                for &v in part {
                    bits[v as usize / 64] |= 1 << (v % 64);
                }
                bits
            };
            let bits = src.par_chunks(chunk).chain(dst.par_chunks(chunk)).map(mark).reduce(
                || vec![0u64; words],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x |= y);
                    a
                },
            );
            let mut table = vec![u32::MAX; max as usize + 1];
            let mut ids = Vec::new();
            for (w, &word) in bits.iter().enumerate() {
                let mut word = word;
                while word != 0 {
                    let v = w * 64 + word.trailing_zeros() as usize;
                    table[v] = ids.len() as u32;
                    ids.push(v as u64);
                    word &= word - 1;
                }
            }
            src.par_iter_mut().chain(dst.par_iter_mut()).for_each(|v| *v = table[*v as usize]);
            (Names::Numeric(ids), src, dst)
        }
        (src, dst) => {
            let wide = |ids: Ids| match ids {
                Ids::Narrow(v) => v.into_iter().map(u64::from).collect::<Vec<u64>>(),
                Ids::Wide(v) => v,
            };
            let (src, dst) = (wide(src), wide(dst));
            let mut ids: Vec<u64> = src.par_iter().chain(dst.par_iter()).copied().collect();
            ids.par_sort_unstable();
            ids.dedup();
            let key = |v: &u64| ids.binary_search(v).expect("present") as u32;
            let (src, dst) = (src.par_iter().map(key).collect(), dst.par_iter().map(key).collect());
            (Names::Numeric(ids), src, dst)
        }
    }
}

/// Ids keyed in order of first appearance.
#[derive(Default)]
struct Interner {
    names: Vec<String>,
    keys: hashbrown::HashMap<String, u32>,
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

/// Reads a SNAP file whose ids are text (any id that is not a canonical decimal number).
fn read_text(
    source: Source<'_>,
    file: &str,
    signed: bool,
    keep: Keep,
    progress: &dyn Progress,
) -> Result<Rows, ImportError> {
    let mut opened = source.open(file)?;
    let mut interner = Interner::default();
    let mut columns: Columns<u32> = Columns::default();
    let lines = opened.chunks(file, progress, |chunk, lines_before| {
        let text = std::str::from_utf8(chunk)
            .map_err(|e| err(file, line_in(chunk, lines_before, e.valid_up_to()), "not UTF-8"))?;
        let mut lines = 0;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let n = lines_before + i as u64 + 1;
            lines += 1;
            let Some((s, d, rating, time)) = snap_line(line.as_bytes(), signed).map_err(|m| err(file, n, m))? else {
                continue;
            };
            // The fields are slices of a str cut at ASCII separators: still UTF-8.
            let text = |b: &[u8]| std::str::from_utf8(b).expect("a slice of a str at ASCII separators").to_owned();
            let (s, d) = (interner.key(&text(s)), interner.key(&text(d)));
            columns.push(s, d, rating, time, keep, signed);
        }
        Ok(lines)
    })?;
    Ok(Rows {
        names: Names::Text(interner.names),
        kind: vec![snap_kind(signed)],
        src: columns.src,
        dst: columns.dst,
        weight: (keep.weight && signed).then_some(columns.weight),
        time_ms: (keep.time && columns.timed).then_some(columns.time_ms),
        lines,
    })
}

/// Reads a CSV edge list: a header naming `src,dst` and optionally `kind,weight,time` (or
/// their common spellings), then one edge per record.
fn read_csv(source: Source<'_>, file: &str, keep: Keep, progress: &dyn Progress) -> Result<Rows, ImportError> {
    let opened = source.open(file)?;
    let (gzipped, size) = (opened.gzipped, opened.size);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(LastByte { inner: opened.reader, last: None });
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(0, csv::Position::line);
        let message = match e.kind() {
            csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_string(),
            csv::ErrorKind::Io(io) if gzipped => format!("not a valid gzip file: {io}"),
            csv::ErrorKind::Io(io) => io.to_string(),
            _ => e.to_string(),
        };
        err(file, line, message)
    };
    let header = reader.headers().map_err(csv_error)?.clone();
    let header_line = header.position().map_or(1, csv::Position::line);
    if header.is_empty() || header.iter().all(str::is_empty) {
        return Err(err(file, 0, "empty file: a CSV import needs a header naming src,dst"));
    }
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
    for column in &header {
        if canonical(column).is_none() {
            return Err(err(
                file,
                header_line,
                format!("unknown column {column:?} (expected src,dst and optionally kind,weight,time)"),
            ));
        }
    }
    let find = |name: &str| header.iter().position(|c| canonical(c) == Some(name));
    let (Some(src_col), Some(dst_col)) = (find("src"), find("dst")) else {
        return Err(err(file, header_line, "the header must name src and dst"));
    };
    let (kind_col, weight_col, time_col) = (find("kind"), find("weight"), find("time"));
    let mut interner = Interner::default();
    let (mut kinds, mut src, mut dst) = (Vec::new(), Vec::new(), Vec::new());
    let (mut weights, mut times) = (Vec::new(), Vec::new());
    let (mut weighted, mut timed) = (false, false);
    let mut record = csv::StringRecord::new();
    let mut records = 0u64;
    while reader.read_record(&mut record).map_err(csv_error)? {
        let n = record.position().map_or(0, csv::Position::line);
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if record.len() != header.len() {
            return Err(err(
                file,
                n,
                format!("expected {} fields as in the header, found {}", header.len(), record.len()),
            ));
        }
        let kind = match kind_col {
            Some(c) => record[c].parse::<EdgeKind>().map_err(|e| err(file, n, e.to_string()))?,
            None => EdgeKind::Follows,
        };
        if kind == EdgeKind::Owns {
            return Err(err(file, n, "owns edges cannot be imported from CSV (use JSONL with an owner)"));
        }
        let (s, d) = (&record[src_col], &record[dst_col]);
        if s.is_empty() || d.is_empty() {
            return Err(err(file, n, "empty id"));
        }
        let weight = match weight_col.map(|c| &record[c]).filter(|w| !w.is_empty()) {
            Some(w) => Some(w.parse::<f32>().map_err(|_| err(file, n, format!("weight {w:?} is not a number")))?),
            None => None,
        };
        kind.check_weight(weight).map_err(|e| err(file, n, e.to_string()))?;
        let time = match time_col.map(|c| &record[c]).filter(|t| !t.is_empty()) {
            Some(t) => {
                parse_seconds(t.as_bytes()).ok_or_else(|| err(file, n, format!("time {t:?} is not epoch seconds")))?
            }
            None => NO_TIME,
        };
        kinds.push(kind);
        src.push(interner.key(s));
        dst.push(interner.key(d));
        weighted |= weight.is_some();
        timed |= time != NO_TIME;
        if keep.weight {
            weights.push(weight.unwrap_or(NO_WEIGHT));
        }
        if keep.time {
            times.push(time);
        }
        records += 1;
        if records.is_multiple_of(1 << 16) {
            progress.update("parse", reader.position().byte(), if gzipped { 0 } else { size });
        }
    }
    // The `csv` crate counts one line more than there are line ends; a file that ends with
    // one has no line after it.
    let position = reader.position();
    let lines = position.line() - u64::from(reader.get_ref().last == Some(b'\n'));
    if kinds.iter().all(|&k| k == EdgeKind::Follows) {
        kinds = vec![EdgeKind::Follows];
    }
    Ok(Rows {
        names: Names::Text(interner.names),
        kind: kinds,
        src,
        dst,
        weight: (keep.weight && weighted).then_some(weights),
        time_ms: (keep.time && timed).then_some(times),
        lines,
    })
}

/// A reader that leaves out a UTF-8 byte-order mark at the start of its input.
struct SkipBom<R> {
    inner: R,
    checked: bool,
    /// The first bytes, read to look for the mark, not yet given.
    pending: Vec<u8>,
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.checked {
            let mut head = [0u8; 3];
            let mut got = 0;
            while got < 3 {
                match self.inner.read(&mut head[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.checked = true;
            if head[..got] != *b"\xef\xbb\xbf" {
                self.pending.extend_from_slice(&head[..got]);
            }
        }
        if !self.pending.is_empty() {
            let n = self.pending.len().min(buf.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// A reader that remembers the last byte it gave.
struct LastByte<R> {
    inner: R,
    last: Option<u8>,
}

impl<R: Read> Read for LastByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

/// Keys for in-memory numeric ids (see [`densify`]).
pub(crate) fn densify_numbers(src: Vec<u64>, dst: Vec<u64>) -> (Names, Vec<u32>, Vec<u32>) {
    let max = src.iter().chain(&dst).copied().max().unwrap_or(0);
    let ids = |v: Vec<u64>| {
        if max <= u64::from(u32::MAX) { Ids::Narrow(v.into_iter().map(|x| x as u32).collect()) } else { Ids::Wide(v) }
    };
    densify(ids(src), ids(dst), max)
}
