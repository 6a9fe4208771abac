//! The JSONL importer: vertices with properties and edges between them, one object per line.
//! The format is documented in `fixtures/README.md`.

use crate::import::{ImportError, ImportReport, Parsed, json_value};
use crate::store::Graph;
use schema::{EdgeBatch, EdgeKind, F32s, Handle, I64s, Id, ImportBatch, MaskKind, NewVertex, Props, Value, VertexKind};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    vertex: Option<String>,
    edge: Option<String>,
    id: Option<String>,
    owner: Option<String>,
    src: Option<String>,
    dst: Option<String>,
    #[serde(default)]
    props: serde_json::Map<String, serde_json::Value>,
}

/// An edge read from the file, by position in the import's table.
struct Edge {
    kind: EdgeKind,
    src: u32,
    dst: u32,
    weight: Option<f32>,
    time_ms: Option<i64>,
    line: u64,
}

struct State<'g> {
    file: String,
    graph: &'g Graph,
    /// New vertices: kind, external id, props, line.
    new: Vec<(VertexKind, String, Props, u64)>,
    /// Existing vertices used, by graph index → position among refs.
    refs: Vec<u32>,
    ref_position: HashMap<u32, u32>,
    /// External id → new-vertex position.
    declared: HashMap<String, u32>,
    handles: HashSet<Handle>,
    edges: Vec<Edge>,
    /// Owner (a table position, new or ref) of each new mask.
    owners: Vec<(u32, u32, u64)>,
    lines: u64,
}

/// The most new vertices one JSONL import may declare.
pub const JSONL_VERTICES_MAX: usize = 50_000_000;

pub(crate) fn parse(
    file: &str,
    bytes: &[u8],
    graph: &Graph,
    new_ids: &dyn Fn(usize) -> Vec<Id>,
) -> Result<Parsed, ImportError> {
    let mut state = State {
        file: file.to_owned(),
        graph,
        new: Vec::new(),
        refs: Vec::new(),
        ref_position: HashMap::new(),
        declared: HashMap::new(),
        handles: HashSet::new(),
        edges: Vec::new(),
        owners: Vec::new(),
        lines: 0,
    };
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let n = i as u64 + 1;
        state.lines = n;
        let raw = raw.trim_ascii();
        if raw.is_empty() {
            continue;
        }
        let line: Line = serde_json::from_slice(raw).map_err(|e| state.err(n, format!("not a valid line: {e}")))?;
        match (line.vertex.clone(), line.edge.clone()) {
            (Some(kind), None) => state.vertex(n, &kind, line)?,
            (None, Some(kind)) => state.edge(n, &kind, line)?,
            _ => return Err(state.err(n, "a line is either {\"vertex\": KIND, ...} or {\"edge\": KIND, ...}")),
        }
    }
    if bytes.ends_with(b"\n") {
        state.lines -= 1;
    }
    state.finish(new_ids)
}

impl State<'_> {
    fn err(&self, line: u64, message: impl Into<String>) -> ImportError {
        ImportError { file: self.file.clone(), line, message: message.into() }
    }

    fn vertex(&mut self, n: u64, kind: &str, line: Line) -> Result<(), ImportError> {
        let kind: VertexKind = kind.parse().map_err(|e: schema::UnknownName| self.err(n, e.to_string()))?;
        let Some(id) = line.id else { return Err(self.err(n, "a vertex needs an \"id\"")) };
        if id.is_empty() || id.len() > 256 {
            return Err(self.err(n, "an id is 1 to 256 bytes"));
        }
        if line.src.is_some() || line.dst.is_some() {
            return Err(self.err(n, "a vertex has no \"src\" or \"dst\""));
        }
        if self.declared.contains_key(&id) || self.graph.index_of_external(&id).is_some() {
            return Err(self.err(n, format!("id {id:?} is already used")));
        }
        if self.new.len() >= JSONL_VERTICES_MAX {
            return Err(self.err(n, format!("at most {JSONL_VERTICES_MAX} vertices per import")));
        }
        let mut props = Props::new();
        for (key, value) in &line.props {
            let value = json_value(value)
                .ok_or_else(|| self.err(n, format!("props.{key}: a string, number, boolean or list of strings")))?;
            props.insert(key.clone(), value);
        }
        let position = self.new.len() as u32;
        match kind {
            VertexKind::Mask => self.mask_props(n, &mut props)?,
            VertexKind::Work => {
                if let Some(Value::Str(world)) = props.get("world").cloned() {
                    let (_, k) = self.resolve(n, &world)?;
                    if k != VertexKind::World {
                        return Err(self.err(n, format!("props.world: {world:?} is a {k}, not a world")));
                    }
                }
            }
            _ => {}
        }
        if let Some(owner) = &line.owner {
            if kind != VertexKind::Mask {
                return Err(self.err(n, "only a mask has an \"owner\""));
            }
            let (p, k) = self.resolve(n, owner)?;
            if k != VertexKind::User {
                return Err(self.err(n, format!("owner {owner:?} is a {k}, not a user")));
            }
            self.owners.push((p, position, n));
        }
        schema::check_props(&props).map_err(|e| self.err(n, e.to_string()))?;
        self.declared.insert(id.clone(), position);
        self.new.push((kind, id, props, n));
        Ok(())
    }

    fn mask_props(&mut self, n: u64, props: &mut Props) -> Result<(), ImportError> {
        let kind = props.get("kind").and_then(Value::as_str).unwrap_or("public");
        let kind: MaskKind = kind.parse().map_err(|e: schema::UnknownName| self.err(n, format!("props.kind: {e}")))?;
        props.insert("kind".into(), Value::Str(kind.as_str().into()));
        if let Some(handle) = props.get("handle") {
            let Some(raw) = handle.as_str() else { return Err(self.err(n, "props.handle: must be a string")) };
            let handle = Handle::parse(raw).map_err(|e| self.err(n, format!("props.handle: {e}")))?;
            if self.graph.handle_holder(&handle).is_some() || !self.handles.insert(handle.clone()) {
                return Err(self.err(n, format!("props.handle: handle {:?} is taken", handle.as_str())));
            }
            props.insert("handle".into(), Value::Str(handle.as_str().into()));
        }
        Ok(())
    }

    /// A table position for an external id: a vertex declared earlier in the file, or an
    /// existing one. Positions of refs are offset later (they follow all new vertices).
    fn resolve(&mut self, n: u64, external: &str) -> Result<(u32, VertexKind), ImportError> {
        if let Some(&p) = self.declared.get(external) {
            return Ok((p, self.new[p as usize].0));
        }
        let Some(v) = self.graph.index_of_external(external) else {
            return Err(self.err(n, format!("unknown id {external:?}: declare the vertex on an earlier line")));
        };
        let next = self.refs.len() as u32;
        let r = *self.ref_position.entry(v).or_insert(next);
        if r == next {
            self.refs.push(v);
        }
        Ok((REF_BIT | r, self.graph.kind_at(v)))
    }

    fn edge(&mut self, n: u64, kind: &str, line: Line) -> Result<(), ImportError> {
        let kind: EdgeKind = kind.parse().map_err(|e: schema::UnknownName| self.err(n, e.to_string()))?;
        if kind == EdgeKind::Owns {
            return Err(self.err(n, "ownership is declared with a mask's \"owner\", not an owns edge"));
        }
        let (Some(src), Some(dst)) = (line.src.as_deref(), line.dst.as_deref()) else {
            return Err(self.err(n, "an edge needs \"src\" and \"dst\""));
        };
        if line.id.is_some() || line.owner.is_some() {
            return Err(self.err(n, "an edge has no \"id\" or \"owner\""));
        }
        let (s, sk) = self.resolve(n, src)?;
        let (d, dk) = self.resolve(n, dst)?;
        let (sources, targets) = kind.endpoints();
        if !sources.contains(&sk) || !targets.contains(&dk) {
            return Err(self.err(n, format!("a {kind} edge cannot go from a {sk} ({src:?}) to a {dk} ({dst:?})")));
        }
        if s == d {
            return Err(self.err(n, format!("a {kind} edge cannot join {src:?} to itself")));
        }
        let mut weight = None;
        let mut time_ms = None;
        for (key, value) in &line.props {
            if key == "time" {
                let t = value.as_f64().and_then(crate::edge_list::seconds_f64);
                time_ms = Some(t.ok_or_else(|| self.err(n, "props.time: epoch seconds"))?);
            } else if Some(key.as_str()) == kind.weight_name() {
                weight = Some(self.weight(n, kind, key, value)?);
            } else {
                let expected = kind.weight_name().map_or("time".to_string(), |w| format!("{w} and time"));
                return Err(self.err(n, format!("props.{key}: a {kind} edge has only {expected}")));
            }
        }
        kind.check_weight(weight).map_err(|e| self.err(n, e.to_string()))?;
        self.edges.push(Edge { kind, src: s, dst: d, weight, time_ms, line: n });
        Ok(())
    }

    fn weight(&self, n: u64, kind: EdgeKind, key: &str, value: &serde_json::Value) -> Result<f32, ImportError> {
        if kind == EdgeKind::Voted
            && let Some(choice) = value.as_str()
        {
            return match choice {
                "yes" => Ok(1.0),
                "no" => Ok(-1.0),
                "abstain" => Ok(0.0),
                other => Err(self.err(n, format!("props.choice: {other:?} is not yes, no or abstain"))),
            };
        }
        value.as_f64().map(|w| w as f32).ok_or_else(|| self.err(n, format!("props.{key}: must be a number")))
    }

    fn finish(mut self, new_ids: &dyn Fn(usize) -> Vec<Id>) -> Result<Parsed, ImportError> {
        let new_count = self.new.len() as u32;
        // New vertices are grouped by kind (stably) so that the log holds a few large events
        // rather than one per change of kind; `rank` maps a declaration to its table position.
        let mut order: Vec<u32> = (0..new_count).collect();
        order.sort_by_key(|&i| self.new[i as usize].0);
        let mut rank = vec![0u32; order.len()];
        for (position, &i) in order.iter().enumerate() {
            rank[i as usize] = position as u32;
        }
        let mut slots: Vec<Option<(VertexKind, String, Props, u64)>> =
            std::mem::take(&mut self.new).into_iter().map(Some).collect();
        self.new = order.iter().map(|&i| slots[i as usize].take().expect("each once")).collect();
        for p in self.declared.values_mut() {
            *p = rank[*p as usize];
        }
        let place = |p: u32| if p & REF_BIT != 0 { new_count + (p & !REF_BIT) } else { rank[p as usize] };
        let ids = new_ids(self.new.len());
        let table_id = |p: u32| {
            if p < new_count { ids[p as usize] } else { self.graph.id_at(self.refs[(p - new_count) as usize]) }
        };

        // The ownership rules, with lines: a user's masks never rate, endorse, trade with or
        // collaborate with each other.
        let mut owner: HashMap<u32, u32> = HashMap::new();
        for &(user, mask, _) in &self.owners {
            owner.insert(place(mask), place(user));
        }
        let owner_of = |p: u32| -> Option<Id> {
            match owner.get(&p) {
                Some(&u) => Some(table_id(u)),
                None if p >= new_count => {
                    let v = self.refs[(p - new_count) as usize];
                    self.graph.owner_of(v).map(|u| self.graph.id_at(u))
                }
                None => None,
            }
        };
        let mut authors: HashMap<u32, Vec<u32>> = HashMap::new();
        for e in self.edges.iter().filter(|e| e.kind == EdgeKind::Authored) {
            authors.entry(place(e.dst)).or_default().push(place(e.src));
        }
        for e in &self.edges {
            if !matches!(e.kind, EdgeKind::Rates | EdgeKind::Endorses | EdgeKind::Traded | EdgeKind::Collaborates) {
                continue;
            }
            let (s, d) = (place(e.src), place(e.dst));
            let Some(actor) = owner_of(s) else { continue };
            let mut targets = authors.get(&d).cloned().unwrap_or_default();
            targets.push(d);
            if targets.into_iter().any(|t| owner_of(t) == Some(actor)) {
                return Err(self.err(e.line, format!("masks of one user cannot {} each other", e.kind)));
            }
        }

        let vertices: Vec<NewVertex> = self
            .new
            .into_iter()
            .zip(&ids)
            .map(|((kind, external, mut props, _), &id)| {
                if let (VertexKind::Work, Some(Value::Str(world))) = (kind, props.get("world")) {
                    // Store the world's id, not the file's name for it.
                    let world = self
                        .declared
                        .get(world)
                        .map(|&p| ids[p as usize])
                        .or_else(|| self.graph.index_of_external(world).map(|v| self.graph.id_at(v)));
                    if let Some(world) = world {
                        props.insert("world".into(), Value::Str(world.to_string()));
                    }
                }
                NewVertex { id, kind, external, props }
            })
            .collect();
        let refs: Vec<Id> = self.refs.iter().map(|&v| self.graph.id_at(v)).collect();

        let mut report = ImportReport {
            lines: self.lines,
            vertices_new: vertices.len() as u64,
            vertices_existing: refs.len() as u64,
            ..ImportReport::default()
        };
        let mut remix_lines = HashMap::new();
        let mut edges: Vec<EdgeBatch> = Vec::new();
        let mut by_kind: Vec<Vec<Edge>> = (0..EdgeKind::ALL.len()).map(|_| Vec::new()).collect();
        for (user, mask, line) in self.owners {
            by_kind[EdgeKind::Owns.index()].push(Edge {
                kind: EdgeKind::Owns,
                src: place(user),
                dst: place(mask),
                weight: None,
                time_ms: None,
                line,
            });
        }
        for mut e in self.edges {
            e.src = place(e.src);
            e.dst = place(e.dst);
            if e.kind == EdgeKind::RemixOf {
                let key = (
                    vertices.get(e.src as usize).map_or_else(|| refs[(e.src - new_count) as usize], |v| v.id),
                    vertices.get(e.dst as usize).map_or_else(|| refs[(e.dst - new_count) as usize], |v| v.id),
                );
                remix_lines.insert(key, e.line);
            }
            by_kind[e.kind.index()].push(e);
        }
        for (k, mut list) in by_kind.into_iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            // Stable: of duplicates, the last line wins.
            list.sort_by_key(|e| (e.src, e.dst));
            let mut batch = EdgeBatch::new(EdgeKind::ALL[k]);
            let (mut weights, mut times) = (Vec::new(), Vec::new());
            for (i, e) in list.iter().enumerate() {
                if list.get(i + 1).is_some_and(|next| (next.src, next.dst) == (e.src, e.dst)) {
                    report.duplicates += 1;
                    continue;
                }
                batch.src.push(e.src);
                batch.dst.push(e.dst);
                weights.push(e.weight);
                times.push(e.time_ms);
            }
            // An edge without a weight or time keeps none (see `schema::NO_WEIGHT`).
            if weights.iter().any(Option::is_some) {
                batch.weight = Some(F32s(weights.into_iter().map(|w| w.unwrap_or(schema::NO_WEIGHT)).collect()));
            }
            if times.iter().any(Option::is_some) {
                batch.time_ms = Some(I64s(times.into_iter().map(|t| t.unwrap_or(schema::NO_TIME)).collect()));
            }
            report.edges += batch.len() as u64;
            edges.push(batch);
        }
        let file = self.file.clone();
        Ok(Parsed::new(ImportBatch { source: file.clone(), vertices, refs, edges }, report, file, remix_lines))
    }
}

/// Marks a table position as a ref (an existing vertex) until positions are final.
const REF_BIT: u32 = 1 << 31;
