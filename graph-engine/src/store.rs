//! The in-memory property graph: a vertex table with unique indexes, and one [`Adjacency`] per
//! edge kind. Changed only by [`Graph::apply`].

use crate::adjacency::{Adjacency, EdgeProps, Neighbors, RawEdge};
use crate::{Error, Result};
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use rayon::prelude::*;
use schema::{Bulk, EDGE_KIND_COUNT, ERASED, EdgeKind, Event, Handle, Id, MaskKind, Props, Value, VertexKind, mix64};
use std::hash::BuildHasher;

/// Where the graph stands in the log: the last applied sequence number and its chain hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogPosition {
    /// The last applied sequence number (0 before the first event).
    pub seq: u64,
    /// The chain hash after that event (all zeros before the first).
    pub hash: [u8; 32],
}

/// The vertex table: dense indexes `0..len` in creation order, with an id index and an index
/// of external ids (ids from imported files).
#[derive(Default, Clone)]
pub(crate) struct Vertices {
    pub(crate) ids: Vec<Id>,
    pub(crate) kinds: Vec<VertexKind>,
    /// (id, dense index) of vertices created one at a time; the id is kept in the table so a
    /// lookup touches one cache line.
    by_id: HashTable<(u64, u32)>,
    /// Vertices created in bulk: runs of consecutive ids at consecutive dense indexes, sorted
    /// by id. An import's ids come from one generator, so a million vertices make a few
    /// hundred runs, searched in cache without touching the hash table.
    runs: Vec<IdRun>,
    /// External ids, concatenated; `external_ends[i]` is where vertex i's ends.
    pub(crate) external_bytes: Vec<u8>,
    pub(crate) external_ends: Vec<u64>,
    by_external: HashTable<u32>,
    /// External ids of bulk-created vertices that are decimal numbers in increasing order (the
    /// ids of researchers' edge lists), kept as numbers instead of a million hash entries.
    numeric: Vec<NumericRun>,
    pub(crate) props: HashMap<u32, Props>,
    hasher: DefaultHashBuilder,
}

/// Vertices `first_index..first_index + values.len()` whose external ids are `values`, written
/// in decimal; `values` is strictly increasing.
#[derive(Clone, Debug)]
struct NumericRun {
    first_index: u32,
    values: Vec<u64>,
}

/// A canonical decimal number (no sign, no leading zeros, fits in u64), or None.
#[inline]
pub(crate) fn decimal(token: &[u8]) -> Option<u64> {
    if token.is_empty() || token.len() > 19 || (token.len() > 1 && token[0] == b'0') {
        return None;
    }
    let mut value = 0u64;
    for &b in token {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
    }
    Some(value)
}

/// Ids `first_id..first_id + len` at dense indexes `first_index..first_index + len`.
#[derive(Clone, Copy, Debug)]
struct IdRun {
    first_id: u64,
    first_index: u32,
    len: u32,
}

impl Vertices {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    #[inline]
    pub fn index_of(&self, id: Id) -> Option<u32> {
        if !self.runs.is_empty() {
            let i = self.runs.partition_point(|r| r.first_id <= id.0);
            if let Some(run) = i.checked_sub(1).map(|i| self.runs[i])
                && id.0 - run.first_id < u64::from(run.len)
            {
                return Some(run.first_index + (id.0 - run.first_id) as u32);
            }
        }
        let hash = self.hasher.hash_one(id.0);
        self.by_id.find(hash, |&(key, _)| key == id.0).map(|&(_, v)| v)
    }

    /// Records bulk-created ids as runs, or in the hash table where they are not consecutive
    /// or would interleave with earlier runs.
    fn index_bulk(&mut self, ids: &[u64], first: usize) {
        let mut start = 0;
        while start < ids.len() {
            let mut end = start + 1;
            while end < ids.len() && ids[end] == ids[end - 1] + 1 {
                end += 1;
            }
            let run = IdRun { first_id: ids[start], first_index: (first + start) as u32, len: (end - start) as u32 };
            let after_last = self.runs.last().is_none_or(|r| r.first_id + u64::from(r.len) <= run.first_id);
            if run.len >= 64 && after_last {
                self.runs.push(run);
            } else {
                let hasher = &self.hasher;
                for (k, &id) in ids[start..end].iter().enumerate() {
                    let v = (first + start + k) as u32;
                    self.by_id.insert_unique(hasher.hash_one(id), (id, v), |&(key, _)| hasher.hash_one(key));
                }
            }
            start = end;
        }
    }

    pub fn external(&self, v: u32) -> Option<&str> {
        let v = v as usize;
        let start = if v == 0 { 0 } else { self.external_ends[v - 1] as usize };
        let end = self.external_ends[v] as usize;
        (end > start).then(|| std::str::from_utf8(&self.external_bytes[start..end]).expect("utf-8 external id"))
    }

    pub fn by_external(&self, external: &str) -> Option<u32> {
        if !self.numeric.is_empty()
            && let Some(n) = decimal(external.as_bytes())
        {
            for run in &self.numeric {
                if let Ok(i) = run.values.binary_search(&n) {
                    return Some(run.first_index + i as u32);
                }
            }
        }
        let hash = self.hasher.hash_one(external);
        self.by_external.find(hash, |&i| self.external(i) == Some(external)).copied()
    }

    fn push(&mut self, id: Id, kind: VertexKind, external: Option<&str>) -> Result<u32> {
        if self.index_of(id).is_some() {
            return Err(Error::Corrupt(format!("vertex {id} created twice")));
        }
        if let Some(ext) = external
            && self.by_external(ext).is_some()
        {
            return Err(Error::Corrupt(format!("external id {ext:?} used twice")));
        }
        let v = u32::try_from(self.ids.len())
            .map_err(|_| Error::LimitExceeded { what: "vertices", limit: u64::from(u32::MAX) })?;
        self.ids.push(id);
        self.kinds.push(kind);
        if let Some(ext) = external {
            self.external_bytes.extend_from_slice(ext.as_bytes());
        }
        self.external_ends.push(self.external_bytes.len() as u64);
        let hasher = &self.hasher;
        self.by_id.insert_unique(hasher.hash_one(id.0), (id.0, v), |&(key, _)| hasher.hash_one(key));
        if let Some(ext) = external {
            let hash = hasher.hash_one(ext);
            let (bytes, ends) = (&self.external_bytes, &self.external_ends);
            self.by_external.insert_unique(hash, v, |&i| hasher.hash_one(external_at(bytes, ends, i)));
        }
        Ok(v)
    }

    /// Appends many vertices of one kind without properties (an import's new masks). The rules
    /// have checked that the ids are fresh and the import that external ids are new, so only
    /// the indexes are built; hashes are computed in parallel.
    fn push_many(&mut self, ids: &[u64], kind: VertexKind, external: &[String]) -> Result<std::ops::Range<u32>> {
        let first = self.ids.len();
        let last = first + ids.len();
        if last > u32::MAX as usize {
            return Err(Error::LimitExceeded { what: "vertices", limit: u64::from(u32::MAX) });
        }
        self.reserve(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            self.ids.push(Id(id));
            self.kinds.push(kind);
            if let Some(ext) = external.get(i) {
                self.external_bytes.extend_from_slice(ext.as_bytes());
            }
            self.external_ends.push(self.external_bytes.len() as u64);
        }
        self.index_bulk(ids, first);
        // Decimal external ids in increasing order (edge lists) become a numeric run.
        let numbers: Option<Vec<u64>> = external.par_iter().map(|e| decimal(e.as_bytes())).collect();
        let increasing = numbers.as_ref().is_some_and(|n| n.par_windows(2).all(|w| w[0] < w[1]));
        match numbers {
            Some(values) if increasing && external.len() == ids.len() => match self.numeric.last_mut() {
                Some(run)
                    if run.first_index as usize + run.values.len() == first && run.values.last() < values.first() =>
                {
                    run.values.extend_from_slice(&values)
                }
                _ => self.numeric.push(NumericRun { first_index: first as u32, values }),
            },
            _ => {
                let hasher = &self.hasher;
                let ext_hashes: Vec<u64> = external.par_iter().map(|e| hasher.hash_one(e.as_str())).collect();
                let (bytes, ends) = (&self.external_bytes, &self.external_ends);
                for (i, &hash) in ext_hashes.iter().enumerate() {
                    if external[i].is_empty() {
                        continue;
                    }
                    let v = (first + i) as u32;
                    self.by_external.insert_unique(hash, v, |&j| hasher.hash_one(external_at(bytes, ends, j)));
                }
            }
        }
        Ok(first as u32..last as u32)
    }

    /// Makes room for `additional` vertices in the columns. The hash indexes grow on demand:
    /// bulk vertices mostly land in runs and never touch them.
    fn reserve(&mut self, additional: usize) {
        self.ids.reserve(additional);
        self.kinds.reserve(additional);
        self.external_ends.reserve(additional);
    }

    fn heap_bytes(&self) -> usize {
        self.ids.capacity() * 8
            + self.kinds.capacity()
            + self.by_id.capacity() * 17
            + self.runs.capacity() * size_of::<IdRun>()
            + self.numeric.iter().map(|r| r.values.capacity() * 8).sum::<usize>()
            + self.external_bytes.capacity()
            + self.external_ends.capacity() * 8
            + self.by_external.capacity() * 5
            + self.props.capacity() * 64
    }
}

fn external_at<'a>(bytes: &'a [u8], ends: &[u64], v: u32) -> &'a str {
    let v = v as usize;
    let start = if v == 0 { 0 } else { ends[v - 1] as usize };
    std::str::from_utf8(&bytes[start..ends[v] as usize]).expect("utf-8 external id")
}

/// The state of an import being applied: its vertex table (positions → dense indexes) and the
/// edges staged, per kind, until its `End`.
#[derive(Default, Clone)]
struct PendingImport {
    table: Vec<u32>,
    /// Whether `table` is increasing: then sorted positions map to sorted dense indexes.
    increasing: bool,
    edges: Vec<Staged>,
    /// Edges the whole import adds (from its `Begin`), to size the staging columns once.
    edges_total: u64,
}

impl PendingImport {
    fn push_table(&mut self, v: u32) {
        if self.table.last().is_some_and(|&last| last >= v) {
            self.increasing = false;
        }
        self.table.push(v);
    }

    fn push_table_range(&mut self, vs: std::ops::Range<u32>) {
        if self.table.last().is_some_and(|&last| last >= vs.start) {
            self.increasing = false;
        }
        self.table.extend(vs);
    }

    /// Maps a column of table positions to dense indexes, in place. When the table is one
    /// run `base..base + len` (a fresh import) this is an addition, not a lookup.
    fn map(&self, mut column: Vec<u32>) -> Result<Vec<u32>> {
        let len = self.table.len() as u32;
        let base = self.table.first().copied().unwrap_or(0);
        let is_run = self.table.last().is_some_and(|&last| u64::from(last) == u64::from(base) + u64::from(len) - 1)
            && self.increasing;
        if column.par_iter().any(|&p| p >= len) {
            return Err(Error::Corrupt(format!("an import edge names a position outside its table of {len}")));
        }
        if is_run {
            if base != 0 {
                column.par_iter_mut().for_each(|p| *p += base);
            }
        } else {
            let table = &self.table;
            column.par_iter_mut().for_each(|p| *p = table[*p as usize]);
        }
        Ok(column)
    }
}

/// Edges of one kind staged by an import, as columns.
#[derive(Default, Clone)]
struct Staged {
    src: Vec<u32>,
    dst: Vec<u32>,
    weight: Option<Vec<f32>>,
    time_ms: Option<Vec<i64>>,
    /// Sorted by (src, dst) with no duplicates, so far.
    sorted: bool,
}

impl Staged {
    fn push_chunk(
        &mut self,
        src: Vec<u32>,
        dst: Vec<u32>,
        weight: Option<&[f32]>,
        time_ms: Option<&[i64]>,
        increasing: bool,
        total: u64,
    ) {
        let before = self.src.len();
        let joins_sorted = match (self.src.last(), self.dst.last(), src.first(), dst.first()) {
            (Some(&ls), Some(&ld), Some(&fs), Some(&fd)) => (ls, ld) < (fs, fd),
            _ => true,
        };
        self.sorted = (before == 0 || self.sorted) && increasing && joins_sorted;
        let n = src.len();
        if before == 0 && n as u64 >= total {
            self.src = src;
            self.dst = dst;
        } else {
            if before == 0 {
                // Sized once for the whole import; trimmed at its end if other kinds share it.
                self.src.reserve_exact(total as usize);
                self.dst.reserve_exact(total as usize);
            }
            self.src.extend_from_slice(&src);
            self.dst.extend_from_slice(&dst);
        }
        if weight.is_some() || self.weight.is_some() {
            let column = self.weight.get_or_insert_with(|| vec![schema::NO_WEIGHT; before]);
            match weight {
                Some(w) => column.extend_from_slice(w),
                None => column.resize(before + n, schema::NO_WEIGHT),
            }
        }
        if time_ms.is_some() || self.time_ms.is_some() {
            let column = self.time_ms.get_or_insert_with(|| vec![schema::NO_TIME; before]);
            match time_ms {
                Some(t) => column.extend_from_slice(t),
                None => column.resize(before + n, schema::NO_TIME),
            }
        }
    }

    fn into_raw(self) -> Vec<RawEdge> {
        (0..self.src.len())
            .map(|i| RawEdge {
                src: self.src[i],
                dst: self.dst[i],
                props: EdgeProps {
                    weight: self.weight.as_ref().and_then(|w| schema::weight_of(w[i])),
                    time_ms: self.time_ms.as_ref().and_then(|t| schema::time_of(t[i])),
                },
            })
            .collect()
    }
}

/// The property graph.
#[derive(Default, Clone)]
pub struct Graph {
    pub(crate) vertices: Vertices,
    pub(crate) edges: [Adjacency; EDGE_KIND_COUNT],
    handles: HashMap<Handle, u32>,
    /// mask → owning user. Private: used by the rules and by the owner, never shown to others.
    owners: HashMap<u32, u32>,
    masks_per_user: HashMap<u32, u32>,
    pending: Option<Box<PendingImport>>,
    position: LogPosition,
    /// Rules, proposals, ballots and delegations.
    gov: schema::governance::Governance,
    /// The ledger, listings, trades and contracts.
    econ: schema::economy::Economy,
    /// The log position of the event being applied (for governance, which records where a
    /// proposal closed).
    applying: LogPosition,
}

/// A vertex as others may see it (see `schema::visibility`).
#[derive(Clone, Debug, PartialEq)]
pub struct VertexView<'a> {
    /// The id.
    pub id: Id,
    /// The kind.
    pub kind: VertexKind,
    /// The id it had in an imported file.
    pub external: Option<&'a str>,
    /// Its properties that are public.
    pub props: Vec<(&'a str, &'a Value)>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Where the graph stands in the log.
    pub fn position(&self) -> LogPosition {
        self.position
    }

    pub(crate) fn set_position(&mut self, position: LogPosition) {
        self.position = position;
    }

    /// Governance: world rules, proposals, ballots, delegations.
    pub fn governance(&self) -> &schema::governance::Governance {
        &self.gov
    }

    /// The economy: the ledger, listings, trades, contracts.
    pub fn economy(&self) -> &schema::economy::Economy {
        &self.econ
    }

    /// Applies one event that sits at `at` in the log.
    pub(crate) fn apply_at(&mut self, event: Event, at: LogPosition) -> Result<()> {
        self.applying = at;
        self.apply(event)
    }

    /// The number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.vertices.len()
    }

    /// The number of live edges of `kind`.
    pub fn edge_count(&self, kind: EdgeKind) -> usize {
        self.edges[kind.index()].len()
    }

    /// Vertices per kind.
    pub fn vertex_counts(&self) -> [usize; VertexKind::ALL.len()] {
        let mut counts = [0; VertexKind::ALL.len()];
        for kind in &self.vertices.kinds {
            counts[kind.index()] += 1;
        }
        counts
    }

    /// The dense index of a vertex.
    pub fn index_of(&self, id: Id) -> Option<u32> {
        self.vertices.index_of(id)
    }

    /// The id at a dense index.
    pub fn id_at(&self, v: u32) -> Id {
        self.vertices.ids[v as usize]
    }

    /// The kind at a dense index.
    pub fn kind_at(&self, v: u32) -> VertexKind {
        self.vertices.kinds[v as usize]
    }

    /// The dense index of the vertex imported with external id `external`.
    pub fn index_of_external(&self, external: &str) -> Option<u32> {
        self.vertices.by_external(external)
    }

    /// The external id of the vertex at a dense index, if it was imported with one.
    pub fn external_at(&self, v: u32) -> Option<&str> {
        self.vertices.external(v)
    }

    /// The kind of a vertex.
    pub fn vertex_kind(&self, id: Id) -> Option<VertexKind> {
        self.index_of(id).map(|v| self.kind_at(v))
    }

    /// Out-neighbours of dense vertex `v` by edges of `kind`.
    #[inline]
    pub fn out(&self, kind: EdgeKind, v: u32) -> Neighbors<'_> {
        self.edges[kind.index()].out(v)
    }

    /// In-neighbours of dense vertex `v` by edges of `kind`.
    #[inline]
    pub fn inn(&self, kind: EdgeKind, v: u32) -> Neighbors<'_> {
        self.edges[kind.index()].inn(v)
    }

    /// Out-degree of `v` by edges of `kind`.
    pub fn out_degree(&self, kind: EdgeKind, v: u32) -> usize {
        self.edges[kind.index()].out_degree(v)
    }

    /// In-degree of `v` by edges of `kind`.
    pub fn in_degree(&self, kind: EdgeKind, v: u32) -> usize {
        self.edges[kind.index()].in_degree(v)
    }

    /// The properties of edge `src → dst` of `kind`, if it exists.
    pub fn edge(&self, kind: EdgeKind, src: u32, dst: u32) -> Option<EdgeProps> {
        self.edges[kind.index()].get(src, dst)
    }

    /// Out-edges of `v` with their properties.
    pub fn out_edges(&self, kind: EdgeKind, v: u32) -> impl Iterator<Item = (u32, EdgeProps)> + '_ {
        self.edges[kind.index()].out_with_props(v)
    }

    /// In-edges of `v` of `kind` with their properties, by source.
    pub fn in_edges(&self, kind: EdgeKind, v: u32) -> impl Iterator<Item = (u32, EdgeProps)> + '_ {
        self.edges[kind.index()].inn_with_props(v)
    }

    /// A vertex's public face: never a user's properties, never a mask's owner.
    pub fn public_vertex(&self, v: u32) -> Option<VertexView<'_>> {
        let kind = self.kind_at(v);
        if !schema::visibility::vertex_is_public(kind) {
            return None;
        }
        let props = self
            .vertices
            .props
            .get(&v)
            .into_iter()
            .flatten()
            .filter(|(key, _)| schema::visibility::prop_is_public(kind, key))
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        Some(VertexView { id: self.id_at(v), kind, external: self.external_at(v), props })
    }

    /// One public property of a vertex (as [`Graph::public_vertex`] would show it, without
    /// gathering the others): `None` for users, for private properties and for absent ones.
    pub fn public_prop(&self, v: u32, key: &str) -> Option<&Value> {
        let kind = self.kind_at(v);
        if !schema::visibility::vertex_is_public(kind) || !schema::visibility::prop_is_public(kind, key) {
            return None;
        }
        self.prop(v, key)
    }

    /// A property of a vertex (unfiltered: callers outside the engine use [`Graph::public_vertex`]).
    pub(crate) fn prop(&self, v: u32, key: &str) -> Option<&Value> {
        self.vertices.props.get(&v)?.get(key)
    }

    /// The mask holding a handle.
    pub fn handle_holder(&self, handle: &Handle) -> Option<u32> {
        self.handles.get(handle).copied()
    }

    /// The owner of a mask, for the rules and for the owner's own view only.
    pub(crate) fn owner_of(&self, mask: u32) -> Option<u32> {
        self.owners.get(&mask).copied()
    }

    /// Whether `user` owns `mask`. The one question about ownership the read API answers: it
    /// lets a user see their own masks, and tells nobody else anything.
    pub fn is_owned_by(&self, mask: Id, user: Id) -> bool {
        match (self.index_of(mask), self.index_of(user)) {
            (Some(m), Some(u)) => self.owners.get(&m) == Some(&u),
            _ => false,
        }
    }

    /// An opaque key that is equal for the masks of one user (and unique for a vertex no one
    /// owns). For reputation jobs, which must not let a user's masks vouch for each other; the
    /// key never leaves the process and no response may be derived from it.
    pub fn owner_key(&self, v: u32) -> u32 {
        match self.owners.get(&v) {
            Some(&user) => user,
            None => v,
        }
    }

    /// How many masks `user` owns.
    pub(crate) fn mask_count(&self, user: u32) -> usize {
        self.masks_per_user.get(&user).copied().unwrap_or(0) as usize
    }

    /// Bytes held by the store, counting capacity.
    pub fn heap_bytes(&self) -> usize {
        self.vertices.heap_bytes()
            + self.edges.iter().map(Adjacency::heap_bytes).sum::<usize>()
            + self.handles.capacity() * 48
            + self.owners.capacity() * 9
            + self.masks_per_user.capacity() * 9
    }

    /// Folds every kind's recent changes into its compacted base.
    pub fn compact(&mut self) {
        self.edges.par_iter_mut().for_each(Adjacency::compact);
    }

    fn require(&self, id: Id) -> Result<u32> {
        self.index_of(id).ok_or_else(|| Error::Corrupt(format!("event names unknown vertex {id}")))
    }

    /// Applies one event. Events come from the log, already decided, so a failure here means
    /// the log and the rules disagree: it is reported as corruption. Takes the event by value
    /// so that an import's columns move into the store instead of being copied. Crate-private:
    /// only replay and the engine's writer apply events (and [`Graph::from_import`], for a graph
    /// that has no log).
    pub(crate) fn apply(&mut self, event: Event) -> Result<()> {
        match event {
            Event::VertexCreated { id, kind, props, external } => {
                self.create_vertex(id, kind, props, external.as_deref())?;
            }
            Event::PropsSet { id, props } => {
                let v = self.require(id)?;
                self.vertices.props.entry(v).or_default().extend(props);
            }
            Event::EdgeAdded { kind, src, dst, weight, time_ms } => {
                let (s, d) = (self.require(src)?, self.require(dst)?);
                let props = EdgeProps { weight, time_ms };
                if self.edges[kind.index()].upsert(s, d, props) {
                    self.edge_added(kind, s, d);
                }
            }
            Event::EdgeRemoved { kind, src, dst } => {
                let (s, d) = (self.require(src)?, self.require(dst)?);
                if self.edges[kind.index()].remove(s, d) && kind == EdgeKind::Owns {
                    self.owners.remove(&d);
                    *self.masks_per_user.entry(s).or_default() -= 1;
                }
            }
            Event::Bulk(bulk) => self.apply_bulk(bulk)?,
            Event::Owned { owner, events } => {
                for event in events {
                    let owned = match &event {
                        Event::EdgeAdded { kind: EdgeKind::Owns, src, .. } => *src == owner,
                        Event::PropsSet { id, props } => {
                            self.index_of(*id).is_some_and(|v| self.kind_at(v) == VertexKind::Mask)
                                && props.keys().all(|k| schema::PERSONAL_PROPS.contains(&k.as_str()))
                        }
                        _ => false,
                    };
                    if !owned {
                        return Err(Error::Corrupt(format!("a sealed envelope of {owner} holds {event:?}")));
                    }
                    self.apply(event)?;
                }
            }
            Event::Erased(erasure) => self.erase(erasure)?,
            Event::Gov(gov) => {
                if let schema::governance::Gov::Proposed { proposal, .. } = &gov {
                    self.require(*proposal)?;
                }
                let LogPosition { seq, hash } = self.applying;
                self.gov.apply(gov, seq, hash).map_err(Error::Corrupt)?;
            }
            Event::Econ(econ) => {
                if let schema::economy::Econ::Listed { listing, .. } = &econ {
                    self.require(*listing)?;
                }
                self.econ.apply(&econ).map_err(Error::Corrupt)?;
            }
            Event::Confidential(events) => {
                for event in events {
                    if !matches!(event, Event::Gov(_) | Event::Econ(_)) {
                        return Err(Error::Corrupt(format!("a confidential envelope holds {event:?}")));
                    }
                    self.apply(event)?;
                }
            }
            Event::Sealed(_) => return Err(Error::Corrupt("a sealed envelope reached the graph unopened".into())),
        }
        Ok(())
    }

    /// Erases an account: the user and its masks are marked erased, the masks lose their owner
    /// link and personal text (which a replay after the user's key was destroyed never had),
    /// and, when asked, works left with only erased authors are hidden.
    fn erase(&mut self, erasure: schema::Erasure) -> Result<()> {
        let schema::Erasure { user, masks, hide_works, handles_free_at_ms } = erasure;
        let u = self.require(user)?;
        let mark = |props: &mut Props| {
            props.insert(ERASED.into(), Value::Int(handles_free_at_ms));
        };
        mark(self.vertices.props.entry(u).or_default());
        let mut marked = Vec::with_capacity(masks.len());
        for mask in masks {
            let m = self.require(mask)?;
            if self.edges[EdgeKind::Owns.index()].remove(u, m) {
                self.owners.remove(&m);
                *self.masks_per_user.entry(u).or_default() -= 1;
            }
            let props = self.vertices.props.entry(m).or_default();
            for key in schema::PERSONAL_PROPS {
                props.remove(key);
            }
            mark(props);
            marked.push(m);
        }
        if hide_works {
            let works: Vec<u32> = marked.iter().flat_map(|&m| self.out(EdgeKind::Authored, m)).collect();
            for w in works {
                if self.inn(EdgeKind::Authored, w).all(|a| self.erased_until(a).is_some()) {
                    self.vertices.props.entry(w).or_default().insert("hidden".into(), Value::Bool(true));
                }
            }
        }
        Ok(())
    }

    /// For an erased user or mask: when its handles may be taken by others.
    pub fn erased_until(&self, v: u32) -> Option<i64> {
        match self.prop(v, ERASED) {
            Some(Value::Int(t)) => Some(*t),
            _ => None,
        }
    }

    fn create_vertex(&mut self, id: Id, kind: VertexKind, props: Props, external: Option<&str>) -> Result<u32> {
        let v = self.vertices.push(id, kind, external)?;
        if kind == VertexKind::Mask
            && let Some(handle) = props.get("handle").and_then(Value::as_str)
        {
            let handle = Handle::parse(handle).map_err(|e| Error::Corrupt(e.to_string()))?;
            if let Some(old) = self.handles.insert(handle, v) {
                // The rules hand an erased mask's handle on once its cooling-off is over; the
                // erased mask keeps no handle.
                if self.erased_until(old).is_none() {
                    return Err(Error::Corrupt(format!("handle of {id} taken twice")));
                }
                if let Some(props) = self.vertices.props.get_mut(&old) {
                    props.remove("handle");
                }
            }
        }
        if !props.is_empty() {
            self.vertices.props.insert(v, props);
        }
        Ok(v)
    }

    fn edge_added(&mut self, kind: EdgeKind, src: u32, dst: u32) {
        if kind == EdgeKind::Owns {
            self.owners.insert(dst, src);
            *self.masks_per_user.entry(src).or_default() += 1;
        }
    }

    fn apply_bulk(&mut self, bulk: Bulk) -> Result<()> {
        let outside = || Error::Corrupt("import part outside an import".into());
        match bulk {
            Bulk::Begin { vertices, edges, .. } => {
                if self.pending.is_some() {
                    return Err(Error::Corrupt("import begins inside another".into()));
                }
                self.vertices.reserve(vertices as usize);
                self.pending = Some(Box::new(PendingImport {
                    table: Vec::with_capacity(vertices as usize),
                    increasing: true,
                    edges: vec![Staged::default(); EDGE_KIND_COUNT],
                    edges_total: edges,
                }));
            }
            Bulk::Vertices { kind, ids, external, props } if props.is_empty() && external.len() == ids.0.len() => {
                // The common bulk case: no properties, so no handle to index.
                let mut pending = self.pending.take().ok_or_else(outside)?;
                let added = self.vertices.push_many(&ids.0, kind, &external)?;
                pending.push_table_range(added);
                self.pending = Some(pending);
            }
            Bulk::Vertices { kind, ids, external, props } => {
                let mut pending = self.pending.take().ok_or_else(outside)?;
                let mut props = props.into_iter();
                for (i, &id) in ids.0.iter().enumerate() {
                    let ext = external.get(i).map(String::as_str).filter(|s| !s.is_empty());
                    let v = self.create_vertex(Id(id), kind, props.next().unwrap_or_default(), ext)?;
                    pending.push_table(v);
                }
                self.pending = Some(pending);
            }
            Bulk::Refs { ids } => {
                let mut pending = self.pending.take().ok_or_else(outside)?;
                pending.table.reserve(ids.0.len());
                for &id in &ids.0 {
                    let v = self
                        .vertices
                        .index_of(Id(id))
                        .ok_or_else(|| Error::Corrupt(format!("import refers to unknown vertex {}", Id(id))))?;
                    pending.push_table(v);
                }
                self.pending = Some(pending);
            }
            Bulk::Edges { kind, src, dst, weight, time_ms } => {
                let pending = self.pending.as_mut().ok_or_else(outside)?;
                let (s, d) = (pending.map(src.0)?, pending.map(dst.0)?);
                let (increasing, total) = (pending.increasing, pending.edges_total);
                pending.edges[kind.index()].push_chunk(
                    s,
                    d,
                    weight.as_ref().map(|w| &w.0[..]),
                    time_ms.as_ref().map(|t| &t.0[..]),
                    increasing,
                    total,
                );
            }
            Bulk::End => {
                let pending = self.pending.take().ok_or_else(outside)?;
                let vertices = self.vertices.len();
                for (k, staged) in pending.edges.into_iter().enumerate() {
                    if staged.src.is_empty() {
                        continue;
                    }
                    let kind = EdgeKind::ALL[k];
                    if kind == EdgeKind::Owns {
                        for (&s, &d) in staged.src.iter().zip(&staged.dst) {
                            if self.edges[k].get(s, d).is_none() {
                                self.edge_added(kind, s, d);
                            }
                        }
                    }
                    if staged.sorted && self.edges[k].len() == 0 {
                        let Staged { src, mut dst, weight, time_ms, .. } = staged;
                        if dst.capacity() > dst.len() + dst.len() / 4 {
                            dst.shrink_to_fit();
                        }
                        self.edges[k] = Adjacency::build_sorted(&src, dst, weight, time_ms, vertices);
                    } else {
                        self.edges[k].extend(staged.into_raw(), vertices);
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether an import is half applied (its `Begin` seen, its `End` not yet).
    pub(crate) fn in_import(&self) -> bool {
        self.pending.is_some()
    }

    /// The mask kind of a mask.
    pub fn mask_kind(&self, v: u32) -> Option<MaskKind> {
        if self.kind_at(v) != VertexKind::Mask {
            return None;
        }
        self.prop(v, "kind").and_then(Value::as_str).and_then(|k| k.parse().ok())
    }

    /// A hash of the whole state, independent of the order in which it was built: two graphs
    /// with the same vertices (ids, kinds, external ids, properties) and the same live edges
    /// (with properties) have the same hash, whatever their history or compaction.
    pub fn state_hash(&self) -> [u8; 32] {
        let vertex_sum = (0..self.vertices.len() as u32)
            .into_par_iter()
            .map(|v| {
                let mut h = blake3::Hasher::new();
                h.update(&self.id_at(v).0.to_le_bytes());
                h.update(&[self.kind_at(v) as u8]);
                h.update(self.external_at(v).unwrap_or("").as_bytes());
                h.update(&[0xff]);
                if let Some(props) = self.vertices.props.get(&v) {
                    h.update(&postcard::to_stdvec(props).expect("props encode"));
                }
                lanes(h.finalize().as_bytes())
            })
            .reduce(|| [0; 4], add_lanes);
        let mut total = blake3::Hasher::new();
        total.update(b"daira-state-v1");
        total.update(&(self.vertices.len() as u64).to_le_bytes());
        for lane in vertex_sum {
            total.update(&lane.to_le_bytes());
        }
        if self.gov != schema::governance::Governance::default() {
            total.update(blake3::hash(&postcard::to_stdvec(&self.gov).expect("governance encodes")).as_bytes());
        }
        if self.econ != schema::economy::Economy::default() {
            total.update(blake3::hash(&postcard::to_stdvec(&self.econ).expect("the economy encodes")).as_bytes());
        }
        for kind in EdgeKind::ALL {
            let adjacency = &self.edges[kind.index()];
            let n = adjacency.base_vertices().max(self.vertices.len());
            let sum = (0..n as u32)
                .into_par_iter()
                .map(|v| {
                    let src = self.id_at(v).0;
                    adjacency
                        .out_with_props(v)
                        .fold([0u64; 4], |acc, (d, p)| add_lanes(acc, edge_lanes(*kind, src, self.id_at(d).0, p)))
                })
                .reduce(|| [0; 4], add_lanes);
            total.update(&(adjacency.len() as u64).to_le_bytes());
            for lane in sum {
                total.update(&lane.to_le_bytes());
            }
        }
        *total.finalize().as_bytes()
    }
}

fn lanes(bytes: &[u8; 32]) -> [u64; 4] {
    std::array::from_fn(|i| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes")))
}

fn add_lanes(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    std::array::from_fn(|i| a[i].wrapping_add(b[i]))
}

/// A 256-bit hash of one edge from a fast mixer (SplitMix64 finaliser per lane): edges number
/// in the tens of millions, so a cryptographic hash per edge would dominate the state hash.
fn edge_lanes(kind: EdgeKind, src: u64, dst: u64, props: EdgeProps) -> [u64; 4] {
    let w = props.weight.map_or(u64::MAX, |w| u64::from(w.to_bits()));
    let t = props.time_ms.map_or(u64::MAX, |t| t as u64);
    let base = mix64(mix64(mix64(mix64(kind as u64 + 1) ^ src) ^ dst) ^ w) ^ t;
    std::array::from_fn(|i| mix64(base ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_ids_are_found_through_runs_and_singles_through_the_table() {
        let mut vertices = Vertices::default();
        let single = vertices.push(Id(5), VertexKind::User, None).unwrap();
        // Two runs of consecutive ids (a generator crossing a millisecond), and a short tail.
        let mut ids: Vec<u64> = (1000..1100).collect();
        ids.extend(5000..5200);
        ids.extend([9000, 9002, 9004]);
        let external: Vec<String> = ids.iter().map(|i| format!("x{i}")).collect();
        let range = vertices.push_many(&ids, VertexKind::Mask, &external).unwrap();
        assert_eq!(range, 1..304);
        assert_eq!(vertices.runs.len(), 2);
        for (k, &id) in ids.iter().enumerate() {
            assert_eq!(vertices.index_of(Id(id)), Some(1 + k as u32), "id {id}");
            assert_eq!(vertices.by_external(&format!("x{id}")), Some(1 + k as u32));
        }
        assert_eq!(vertices.index_of(Id(5)), Some(single));
        for missing in [0, 999, 1100, 4999, 5200, 9001, 9003, u64::MAX] {
            assert_eq!(vertices.index_of(Id(missing)), None, "id {missing}");
        }
        assert!(vertices.push(Id(1050), VertexKind::Mask, None).is_err(), "a run's id is taken");

        // Increasing decimal external ids become a numeric run, merged across chunks.
        let numbers: Vec<String> = (0..100u64).map(|i| (i * 3).to_string()).collect();
        let ids: Vec<u64> = (20_000..20_100).collect();
        vertices.push_many(&ids[..50], VertexKind::Mask, &numbers[..50]).unwrap();
        vertices.push_many(&ids[50..], VertexKind::Mask, &numbers[50..]).unwrap();
        assert_eq!(vertices.numeric.len(), 1);
        let first = vertices.index_of(Id(20_000)).unwrap();
        assert_eq!(vertices.by_external("0"), Some(first));
        assert_eq!(vertices.by_external("297"), Some(first + 99));
        assert_eq!(vertices.by_external("298"), None);
        assert_eq!(vertices.by_external("03"), None, "not canonical: a different id");
        assert_eq!(vertices.external(first + 99), Some("297"));
        assert!(vertices.push(Id(7), VertexKind::Mask, Some("297")).is_err(), "a numeric external id is taken");
    }
}
