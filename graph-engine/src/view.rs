//! The rules' view of the graph during a group commit: the store plus the events decided
//! earlier in the same group, which are not applied yet.

use crate::store::Graph;
use schema::{EdgeKind, Event, Handle, Id, MaskKind, Value, VertexKind, View};

/// The graph overlaid with staged events (at most a group commit's worth, so scanning them is
/// cheap).
pub(crate) struct Overlay<'a> {
    graph: &'a Graph,
    staged: &'a [Event],
}

impl<'a> Overlay<'a> {
    pub fn new(graph: &'a Graph, staged: &'a [Event]) -> Overlay<'a> {
        Overlay { graph, staged }
    }

    /// The staged events as the graph will apply them: [`Event::Owned`] envelopes opened.
    fn plain(&self) -> impl DoubleEndedIterator<Item = &'a Event> + 'a {
        self.staged.iter().flat_map(|e| match e {
            Event::Owned { events, .. } => events.iter(),
            e => std::slice::from_ref(e).iter(),
        })
    }

    /// A staged erasure naming `id` (its user or one of its masks).
    fn staged_erasure(&self, id: Id) -> Option<&'a schema::Erasure> {
        self.staged.iter().find_map(|e| match e {
            Event::Erased(erasure) if erasure.user == id || erasure.masks.contains(&id) => Some(erasure),
            _ => None,
        })
    }

    fn created(&self, id: Id) -> Option<(&'a VertexKind, &'a schema::Props)> {
        self.plain().find_map(|e| match e {
            Event::VertexCreated { id: i, kind, props, .. } if *i == id => Some((kind, props)),
            _ => None,
        })
    }

    /// The latest staged word on an edge: Some(true) added, Some(false) removed.
    /// The latest staged change to an edge: `Some(Some(weight))` added, `Some(None)` removed,
    /// `None` untouched.
    fn staged_edge(&self, kind: EdgeKind, src: Id, dst: Id) -> Option<Option<Option<f32>>> {
        self.plain().rev().find_map(|e| match *e {
            Event::EdgeAdded { kind: k, src: s, dst: d, weight, .. } if (k, s, d) == (kind, src, dst) => {
                Some(Some(weight))
            }
            Event::EdgeRemoved { kind: k, src: s, dst: d } if (k, s, d) == (kind, src, dst) => Some(None),
            _ => None,
        })
    }

    /// The edge's weight (`Some(None)`: there, without one), or `None` when there is no edge.
    fn edge_props(&self, kind: EdgeKind, src: Id, dst: Id) -> Option<Option<f32>> {
        if let Some(staged) = self.staged_edge(kind, src, dst) {
            return staged;
        }
        let (s, d) = (self.graph.index_of(src)?, self.graph.index_of(dst)?);
        self.graph.edge(kind, s, d).map(|p| p.weight)
    }

    fn neighbours(&self, kind: EdgeKind, v: Id, limit: usize, outward: bool) -> Vec<Id> {
        let mut list: Vec<Id> = match self.graph.index_of(v) {
            Some(i) => {
                let it = if outward { self.graph.out(kind, i) } else { self.graph.inn(kind, i) };
                it.take(limit).map(|n| self.graph.id_at(n)).collect()
            }
            None => Vec::new(),
        };
        for e in self.plain() {
            match *e {
                Event::EdgeAdded { kind: k, src, dst, .. } if k == kind => {
                    let (this, other) = if outward { (src, dst) } else { (dst, src) };
                    if this == v && !list.contains(&other) {
                        list.push(other);
                    }
                }
                Event::EdgeRemoved { kind: k, src, dst } if k == kind => {
                    let (this, other) = if outward { (src, dst) } else { (dst, src) };
                    if this == v {
                        list.retain(|&x| x != other);
                    }
                }
                _ => {}
            }
        }
        list.truncate(limit);
        list
    }
}

impl View for Overlay<'_> {
    fn vertex_kind(&self, id: Id) -> Option<VertexKind> {
        self.created(id).map(|(k, _)| *k).or_else(|| self.graph.vertex_kind(id))
    }

    fn mask_kind(&self, mask: Id) -> Option<MaskKind> {
        if let Some((kind, props)) = self.created(mask) {
            return (*kind == VertexKind::Mask)
                .then(|| props.get("kind").and_then(Value::as_str).and_then(|k| k.parse().ok()))
                .flatten();
        }
        self.graph.index_of(mask).and_then(|v| self.graph.mask_kind(v))
    }

    fn owner_of(&self, mask: Id) -> Option<Id> {
        if self.staged_erasure(mask).is_some() {
            return None;
        }
        let staged = self.plain().find_map(|e| match *e {
            Event::EdgeAdded { kind: EdgeKind::Owns, src, dst, .. } if dst == mask => Some(src),
            _ => None,
        });
        staged.or_else(|| {
            let v = self.graph.index_of(mask)?;
            self.graph.owner_of(v).map(|u| self.graph.id_at(u))
        })
    }

    fn handle_holder(&self, handle: &Handle) -> Option<Id> {
        let staged = self.plain().find_map(|e| match e {
            Event::VertexCreated { id, kind: VertexKind::Mask, props, .. }
                if props.get("handle").and_then(Value::as_str) == Some(handle.as_str()) =>
            {
                Some(*id)
            }
            _ => None,
        });
        staged.or_else(|| self.graph.handle_holder(handle).map(|v| self.graph.id_at(v)))
    }

    fn has_edge(&self, kind: EdgeKind, src: Id, dst: Id) -> bool {
        self.edge_props(kind, src, dst).is_some()
    }

    fn edge_weight(&self, kind: EdgeKind, src: Id, dst: Id) -> Option<f32> {
        self.edge_props(kind, src, dst).flatten()
    }

    fn targets(&self, kind: EdgeKind, src: Id, limit: usize) -> Vec<Id> {
        self.neighbours(kind, src, limit, true)
    }

    fn sources(&self, kind: EdgeKind, dst: Id, limit: usize) -> Vec<Id> {
        self.neighbours(kind, dst, limit, false)
    }

    fn mask_count(&self, user: Id) -> usize {
        let staged = self
            .plain()
            .filter(|e| matches!(e, Event::EdgeAdded { kind: EdgeKind::Owns, src, .. } if *src == user))
            .count();
        staged + self.graph.index_of(user).map_or(0, |u| self.graph.mask_count(u))
    }

    fn erased_until(&self, id: Id) -> Option<i64> {
        if let Some(erasure) = self.staged_erasure(id) {
            return Some(erasure.handles_free_at_ms);
        }
        self.graph.index_of(id).and_then(|v| self.graph.erased_until(v))
    }
}

/// The rules' view of a graph with nothing staged: for deciding commands against a graph
/// held in memory, without an engine (researchers' tools, benchmarks, tests).
pub struct GraphView<'a>(pub &'a Graph);

impl View for GraphView<'_> {
    fn vertex_kind(&self, id: Id) -> Option<VertexKind> {
        Overlay::new(self.0, &[]).vertex_kind(id)
    }
    fn mask_kind(&self, mask: Id) -> Option<MaskKind> {
        Overlay::new(self.0, &[]).mask_kind(mask)
    }
    fn owner_of(&self, mask: Id) -> Option<Id> {
        Overlay::new(self.0, &[]).owner_of(mask)
    }
    fn handle_holder(&self, handle: &Handle) -> Option<Id> {
        Overlay::new(self.0, &[]).handle_holder(handle)
    }
    fn has_edge(&self, kind: EdgeKind, src: Id, dst: Id) -> bool {
        Overlay::new(self.0, &[]).has_edge(kind, src, dst)
    }
    fn edge_weight(&self, kind: EdgeKind, src: Id, dst: Id) -> Option<f32> {
        Overlay::new(self.0, &[]).edge_weight(kind, src, dst)
    }
    fn targets(&self, kind: EdgeKind, src: Id, limit: usize) -> Vec<Id> {
        Overlay::new(self.0, &[]).targets(kind, src, limit)
    }
    fn sources(&self, kind: EdgeKind, dst: Id, limit: usize) -> Vec<Id> {
        Overlay::new(self.0, &[]).sources(kind, dst, limit)
    }
    fn mask_count(&self, user: Id) -> usize {
        Overlay::new(self.0, &[]).mask_count(user)
    }
    fn erased_until(&self, id: Id) -> Option<i64> {
        Overlay::new(self.0, &[]).erased_until(id)
    }
}

impl Graph {
    /// Whether `viewer` (a signed-in user, or nobody) may see vertex `v`, by the rules of
    /// [`schema::visibility`]: a private mask only by its owner and the users it admitted, a
    /// work only when one of its authors is seen, a user by nobody. Every read of the API asks
    /// this before it shows a mask or a work. Cheap for everything but private masks' things.
    pub fn sees(&self, viewer: Option<Id>, v: u32) -> bool {
        match self.kind_at(v) {
            VertexKind::Mask => {
                self.mask_kind(v) != Some(MaskKind::Private)
                    || schema::visibility::sees_mask(&GraphView(self), viewer, self.id_at(v))
            }
            VertexKind::Work => {
                let mut authors = self.inn(EdgeKind::Authored, v).peekable();
                authors.peek().is_none()
                    || authors.any(|m| self.mask_kind(m) != Some(MaskKind::Private))
                    || schema::visibility::sees_work(&GraphView(self), viewer, self.id_at(v))
            }
            kind => schema::visibility::vertex_is_public(kind),
        }
    }

    /// A graph held only in memory, loaded from one import: for researchers' analyses
    /// (`daira analyze` on a JSONL file) and benchmarks. The import is decided by the same
    /// rules as on a data directory, and its events applied; the graph has no log, stays at log
    /// position zero and can never get a log or change again — an [`crate::Engine`] is always
    /// opened from its own log, so nothing written here could reach one.
    pub fn from_import(batch: schema::ImportBatch) -> crate::Result<Graph> {
        let mut graph = Graph::new();
        let events = schema::decide(schema::Command::Import(batch), 0, &GraphView(&graph))?;
        for event in events {
            graph.apply(event)?;
        }
        Ok(graph)
    }
}
