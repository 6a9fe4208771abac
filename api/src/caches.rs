//! Views the resolvers derive from the graph or from an epoch, kept between requests. Each is
//! stamped with what it was derived from and rebuilt, on the first request that needs it, once
//! that has moved on:
//!
//! - the listing (masks, worlds, works) — when the graph's log position moves;
//! - search priors, communities by size, masks' trust in order — when a new epoch is published.

use crate::gql;
use graph_engine::{Engine, Graph};
use parking_lot::Mutex;
use reputation::ScoreSet;
use schema::{Id, VertexKind};
use search::PriorTable;
use std::collections::HashMap;
use std::sync::Arc;

/// Lists kept per log position.
pub struct Listing {
    seq: u64,
    /// Listed masks (public, creator, citizen; not hidden), by handle.
    pub masks: Vec<u32>,
    /// Worlds not hidden, oldest first.
    pub worlds: Vec<u32>,
    /// Works not hidden that everyone sees, oldest first.
    pub works: Vec<u32>,
    /// Works per world.
    pub works_by_world: HashMap<Id, Vec<u32>>,
}

impl Listing {
    fn of(graph: &Graph) -> Listing {
        let mut masks: Vec<(String, u32)> = Vec::new();
        let (mut worlds, mut works) = (Vec::new(), Vec::new());
        let mut works_by_world: HashMap<Id, Vec<u32>> = HashMap::new();
        for v in 0..graph.vertex_count() as u32 {
            match graph.kind_at(v) {
                VertexKind::Mask if gql::listed_mask(graph, v) => {
                    masks.push((gql::text(graph, v, "handle").unwrap_or_default(), v));
                }
                VertexKind::World if !gql::hidden(graph, v) => worlds.push(v),
                // Works everyone sees: a private mask's works are listed on the mask, for
                // those who see it.
                VertexKind::Work if !gql::hidden(graph, v) && graph.sees(None, v) => {
                    works.push(v);
                    if let Some(world) = gql::text(graph, v, "world").and_then(|w| w.parse::<Id>().ok()) {
                        works_by_world.entry(world).or_default().push(v);
                    }
                }
                _ => {}
            }
        }
        masks.sort_unstable();
        Listing {
            seq: graph.position().seq,
            masks: masks.into_iter().map(|(_, v)| v).collect(),
            worlds,
            works,
            works_by_world,
        }
    }
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
    listing: Stamped<Listing>,
    priors: Stamped<PriorTable>,
    clusters: Stamped<Communities>,
    trust_sorted: Stamped<Vec<f64>>,
}

impl Caches {
    /// The lists at the graph's current position.
    pub fn listing(&self, engine: &Engine) -> Arc<Listing> {
        let seq = engine.read().position().seq;
        let listing = self.listing.get(seq, || Listing::of(&engine.read()));
        debug_assert!(listing.seq <= engine.read().position().seq);
        listing
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
