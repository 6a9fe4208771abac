//! Views the resolvers derive from the graph or from an epoch, kept between requests:
//!
//! - the listing (masks, worlds, works): kept up to date from the engine's committed batches,
//!   on the first request after them, by re-placing only the vertices the batches touched (a
//!   full rebuild only after an erasure, a bulk import or a gap in the batches);
//! - search priors, communities by size, masks' trust in order: stamped with the epoch they
//!   were derived from and rebuilt, on the first request that needs them, once a new epoch is
//!   published.

use crate::gql;
use graph_engine::{Engine, Graph};
use parking_lot::Mutex;
use reputation::ScoreSet;
use schema::{Id, VertexKind};
use search::PriorTable;
use std::collections::HashMap;
use std::sync::Arc;

/// The lists (masks, worlds, works) at one log position. Each list is shared (`Arc`) with the
/// positions before it until a commit changes it, so a commit that adds none of these (a
/// follow, a vote, a payment) costs the lists nothing.
pub struct Listing {
    /// The log position the lists are at.
    pub seq: u64,
    /// Listed masks (public, creator, citizen; not hidden), by handle.
    pub masks: Arc<Vec<u32>>,
    /// Worlds not hidden, oldest first.
    pub worlds: Arc<Vec<u32>>,
    /// Works not hidden that everyone sees, oldest first.
    pub works: Arc<Vec<u32>>,
    /// Works per world.
    pub works_by_world: HashMap<Id, Arc<Vec<u32>>>,
}

/// Where a vertex belongs in the lists, judged on the graph as it is.
enum Place {
    Mask(String),
    World,
    Work(Option<Id>),
    Nowhere,
}

fn place_of(graph: &Graph, v: u32) -> Place {
    match graph.kind_at(v) {
        VertexKind::Mask if gql::listed_mask(graph, v) => {
            Place::Mask(gql::text(graph, v, "handle").unwrap_or_default())
        }
        VertexKind::World if !gql::hidden(graph, v) => Place::World,
        // Works everyone sees: a private mask's works are listed on the mask, for those who
        // see it.
        VertexKind::Work if !gql::hidden(graph, v) && graph.sees(None, v) => {
            Place::Work(gql::text(graph, v, "world").and_then(|w| w.parse::<Id>().ok()))
        }
        _ => Place::Nowhere,
    }
}

/// The lists, kept up to date from the engine's committed batches: each batch re-places only
/// the vertices its events touch (created, changed, or at an end of an edge added or removed —
/// authorship decides who sees a work). An erasure, a bulk import or a gap in the batches (a
/// lagging receiver, a write that was not broadcast) rebuilds them from the whole graph.
struct Live {
    seq: u64,
    masks: std::collections::BTreeSet<(String, u32)>,
    handle_of: HashMap<u32, String>,
    worlds: std::collections::BTreeSet<u32>,
    works: std::collections::BTreeSet<u32>,
    world_of: HashMap<u32, Option<Id>>,
    by_world: HashMap<Id, std::collections::BTreeSet<u32>>,
    snapshot: Arc<Listing>,
    dirty: Dirty,
}

#[derive(Default)]
struct Dirty {
    masks: bool,
    worlds: bool,
    works: bool,
    world_works: std::collections::HashSet<Id>,
}

impl Live {
    fn empty() -> Live {
        Live {
            seq: 0,
            masks: Default::default(),
            handle_of: HashMap::new(),
            worlds: Default::default(),
            works: Default::default(),
            world_of: HashMap::new(),
            by_world: HashMap::new(),
            snapshot: Arc::new(Listing {
                seq: 0,
                masks: Arc::default(),
                worlds: Arc::default(),
                works: Arc::default(),
                works_by_world: HashMap::new(),
            }),
            dirty: Dirty::default(),
        }
    }

    /// Every list from the whole graph.
    fn rebuild(graph: &Graph) -> Live {
        let mut live = Live::empty();
        for v in 0..graph.vertex_count() as u32 {
            live.place(graph, v);
        }
        live.seq = graph.position().seq;
        live.publish(true);
        live
    }

    /// Takes `v` out of every list and puts it where it belongs now.
    fn place(&mut self, graph: &Graph, v: u32) {
        if let Some(handle) = self.handle_of.remove(&v) {
            self.masks.remove(&(handle, v));
            self.dirty.masks = true;
        }
        if self.worlds.remove(&v) {
            self.dirty.worlds = true;
        }
        if self.works.remove(&v) {
            self.dirty.works = true;
        }
        if let Some(Some(world)) = self.world_of.remove(&v) {
            if let Some(set) = self.by_world.get_mut(&world) {
                set.remove(&v);
            }
            self.dirty.world_works.insert(world);
        }
        match place_of(graph, v) {
            Place::Mask(handle) => {
                self.masks.insert((handle.clone(), v));
                self.handle_of.insert(v, handle);
                self.dirty.masks = true;
            }
            Place::World => {
                self.worlds.insert(v);
                self.dirty.worlds = true;
            }
            Place::Work(world) => {
                self.works.insert(v);
                self.dirty.works = true;
                if let Some(world) = world {
                    self.by_world.entry(world).or_default().insert(v);
                    self.dirty.world_works.insert(world);
                }
                self.world_of.insert(v, world);
            }
            Place::Nowhere => {}
        }
    }

    /// A new snapshot at `self.seq`, sharing every list no batch changed.
    fn publish(&mut self, all: bool) {
        let dirty = std::mem::take(&mut self.dirty);
        let old = &self.snapshot;
        let masks =
            if all || dirty.masks { Arc::new(self.masks.iter().map(|&(_, v)| v).collect()) } else { old.masks.clone() };
        let worlds =
            if all || dirty.worlds { Arc::new(self.worlds.iter().copied().collect()) } else { old.worlds.clone() };
        let works = if all || dirty.works { Arc::new(self.works.iter().copied().collect()) } else { old.works.clone() };
        let works_by_world = if all {
            self.by_world.iter().map(|(&w, set)| (w, Arc::new(set.iter().copied().collect()))).collect()
        } else {
            let mut map = old.works_by_world.clone();
            for world in dirty.world_works {
                match self.by_world.get(&world).filter(|set| !set.is_empty()) {
                    Some(set) => map.insert(world, Arc::new(set.iter().copied().collect())),
                    None => map.remove(&world),
                };
            }
            map
        };
        self.snapshot = Arc::new(Listing { seq: self.seq, masks, worlds, works, works_by_world });
    }
}

/// What a batch's events ask of the lists: the vertices to re-place, or a rebuild.
fn touched(events: &[schema::Event], ids: &mut Vec<Id>) -> bool {
    use schema::Event;
    for event in events {
        match event {
            Event::VertexCreated { id, .. } | Event::PropsSet { id, .. } => ids.push(*id),
            Event::EdgeAdded { src, dst, .. } | Event::EdgeRemoved { src, dst, .. } => ids.extend([*src, *dst]),
            Event::Owned { events, .. } | Event::Confidential(events) => {
                if !touched(events, ids) {
                    return false;
                }
            }
            // Governance and payments move no vertex in or out of a list (a moderator's hide
            // is its own PropsSet).
            Event::Gov(_) | Event::Econ(_) => {}
            Event::Erased(_) | Event::Bulk(_) | Event::Sealed(_) => return false,
        }
    }
    true
}

/// The lists and the engine's committed batches they follow.
#[derive(Default)]
struct Follower {
    live: Option<Live>,
    batches: Option<tokio::sync::broadcast::Receiver<Arc<graph_engine::Committed>>>,
}

/// One cached value and the stamp (log position or epoch number) it was derived at.
struct Stamped<T>(Mutex<Option<(u64, Arc<T>)>>);

impl<T> Default for Stamped<T> {
    fn default() -> Self {
        Stamped(Mutex::new(None))
    }
}

impl<T> Stamped<T> {
    /// The value for `stamp`, derived anew by `derive` when the cached one is of another stamp.
    fn get(&self, stamp: u64, derive: impl FnOnce() -> T) -> Arc<T> {
        if let Some((at, value)) = self.0.lock().as_ref()
            && *at == stamp
        {
            return value.clone();
        }
        let value = Arc::new(derive());
        *self.0.lock() = Some((stamp, value.clone()));
        value
    }
}

/// An epoch's communities as the API reports them: by the masks everyone sees, and only those
/// of two masks or more (a mask alone, such as one that never acted, is in no community — as a
/// mask made after the epoch is in none).
pub struct Communities {
    /// Communities of two masks or more, largest first.
    pub order: Vec<u32>,
    /// Masks everyone sees, per community.
    pub sizes: Vec<usize>,
}

impl Communities {
    /// Whether `community` is reported.
    pub fn reported(&self, community: u32) -> bool {
        self.sizes.get(community as usize).is_some_and(|&n| n >= 2)
    }
}

/// The caches (see the module's documentation for when each is rebuilt).
#[derive(Default)]
pub struct Caches {
    listing: Mutex<Follower>,
    lists_rebuilt: std::sync::atomic::AtomicU64,
    priors: Stamped<PriorTable>,
    clusters: Stamped<Communities>,
    trust_sorted: Stamped<Vec<f64>>,
}

impl Caches {
    /// The lists at the graph's current position.
    pub fn listing(&self, engine: &Engine) -> Arc<Listing> {
        let mut follower = self.listing.lock();
        let follower = &mut *follower;
        let graph = engine.read();
        let head = graph.position().seq;
        if let Some(live) = follower.live.as_ref().filter(|live| live.seq == head) {
            return live.snapshot.clone();
        }
        let batches = follower.batches.get_or_insert_with(|| engine.subscribe());
        let mut followed = follower.live.take();
        let mut ids = Vec::new();
        loop {
            match batches.try_recv() {
                Ok(batch) => {
                    let Some(live) = followed.as_mut() else { continue };
                    let last = batch.first_seq + batch.events.len() as u64 - 1;
                    if last <= live.seq {
                        continue; // already in the lists (a rebuild saw it)
                    }
                    if batch.first_seq != live.seq + 1 || !touched(&batch.events, &mut ids) {
                        followed = None;
                        continue;
                    }
                    live.seq = last;
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => followed = None,
                Err(tokio::sync::broadcast::error::TryRecvError::Closed) => {
                    follower.batches = None;
                    followed = None;
                    break;
                }
            }
        }
        // Batches apply to the graph before they are sent: one may be applied and not yet
        // here, so the lists catch up only when they reach the graph's head exactly.
        let live = match followed.filter(|live| live.seq == head) {
            Some(mut live) => {
                ids.sort_unstable();
                ids.dedup();
                for id in ids {
                    if let Some(v) = graph.index_of(id) {
                        live.place(&graph, v);
                    }
                }
                live.publish(false);
                live
            }
            None => {
                self.lists_rebuilt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Live::rebuild(&graph)
            }
        };
        let snapshot = live.snapshot.clone();
        debug_assert_eq!(snapshot.seq, head);
        follower.live = Some(live);
        snapshot
    }

    /// How many times the lists were rebuilt from the whole graph.
    pub fn lists_rebuilt(&self) -> u64 {
        self.lists_rebuilt.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Search priors from an epoch's trust.
    pub fn priors(&self, engine: &Engine, set: &ScoreSet) -> Arc<PriorTable> {
        self.priors.get(set.number, || discovery::priors(&engine.read(), &set.trust.trust, &set.trust.sybil))
    }

    /// An epoch's communities, largest first.
    pub fn communities(&self, engine: &Engine, set: &ScoreSet) -> Arc<Communities> {
        self.clusters.get(set.number, || {
            let graph = engine.read();
            let mut sizes = vec![0usize; set.clusters.count as usize];
            for (v, &c) in set.clusters.community.iter().enumerate().take(graph.vertex_count()) {
                // Sized by the masks everyone sees, so the order tells nothing of private ones.
                if graph.kind_at(v as u32) == VertexKind::Mask && graph.sees(None, v as u32) {
                    sizes[c as usize] += 1;
                }
            }
            let mut order: Vec<u32> = (0..set.clusters.count).filter(|&c| sizes[c as usize] >= 2).collect();
            order.sort_by(|&a, &b| sizes[b as usize].cmp(&sizes[a as usize]).then(a.cmp(&b)));
            Communities { order, sizes }
        })
    }

    /// A trust value's percentile among the masks' trust in an epoch, 0..=100.
    pub fn trust_percentile(&self, engine: &Engine, set: &ScoreSet, t: f64) -> f64 {
        let sorted = self.trust_sorted.get(set.number, || {
            let graph = engine.read();
            let mut values: Vec<f64> = (0..set.trust.trust.len().min(graph.vertex_count()))
                .filter(|&u| graph.kind_at(u as u32) == VertexKind::Mask)
                .map(|u| set.trust.trust[u])
                .collect();
            values.sort_by(f64::total_cmp);
            values
        });
        if sorted.is_empty() {
            return 0.0;
        }
        let below = sorted.partition_point(|&x| x < t);
        100.0 * below as f64 / sorted.len() as f64
    }
}
