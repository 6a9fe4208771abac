//! Score epochs in the running system: every job recomputed in the background when enough has
//! changed, on a copy of the graph taken under a brief read lock (so neither writes nor reads
//! wait for a job), kept per epoch and diffable.

use crate::{
    Alignment, AlignmentConfig, ClusterConfig, Clusters, Contribution, ContributionConfig, TrustConfig, TrustScores,
    alignment, clusters, contribution, trust,
};
use graph_engine::{Engine, Graph, LogPosition};
use parking_lot::RwLock;
use schema::{EdgeKind, Id, VertexKind};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Epochs kept in memory (older ones can be recomputed from the log).
pub const DEFAULT_EPOCHS_KEPT: usize = 16;
/// Events that make a new epoch due.
pub const DEFAULT_MIN_EVENTS: u64 = 1_000;
/// The least time between two epochs.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(10);

/// Every score of one epoch, computed from one cut of the graph.
#[derive(Debug)]
pub struct ScoreSet {
    /// Its number, from 1.
    pub number: u64,
    /// The log position the graph was cut at.
    pub position: LogPosition,
    /// Trust, seeded by every world's moderators (founders and curators).
    pub trust: TrustScores,
    /// Contribution, weighted by that trust.
    pub contribution: Contribution,
    /// The bridging model.
    pub alignment: Alignment,
    /// Communities.
    pub clusters: Clusters,
    /// How long the jobs took.
    pub elapsed: Duration,
    ids: Vec<Id>,
}

/// One mask's change between two epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The mask.
    pub mask: Id,
    /// Trust before and after.
    pub trust: (f64, f64),
    /// Contribution before and after.
    pub contribution: (f64, f64),
}

impl ScoreSet {
    /// Computes every job on `graph`.
    pub fn compute(number: u64, graph: &Graph) -> crate::Result<ScoreSet> {
        let started = Instant::now();
        let seeds = curators(graph);
        let trust = trust(graph, &seeds, &TrustConfig::default())?;
        let contribution = contribution(graph, &trust, &ContributionConfig::default())?;
        let alignment = alignment(graph, &AlignmentConfig::default())?;
        let clusters = clusters(graph, &ClusterConfig::default())?;
        let ids = (0..graph.vertex_count() as u32).map(|v| graph.id_at(v)).collect();
        Ok(ScoreSet {
            number,
            position: graph.position(),
            trust,
            contribution,
            alignment,
            clusters,
            elapsed: started.elapsed(),
            ids,
        })
    }

    /// The masks whose trust or contribution changed most from `earlier` to this epoch,
    /// largest change of trust first, at most `limit`.
    pub fn diff(&self, earlier: &ScoreSet, limit: usize) -> Vec<Change> {
        let before: std::collections::HashMap<Id, usize> =
            earlier.ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let mut changes: Vec<Change> = self
            .ids
            .iter()
            .enumerate()
            .filter(|&(v, _)| v < self.trust.trust.len())
            .map(|(v, &id)| {
                let old = before.get(&id).copied();
                let was = |xs: &[f64]| old.map_or(0.0, |o| xs.get(o).copied().unwrap_or(0.0));
                Change {
                    mask: id,
                    trust: (was(&earlier.trust.trust), self.trust.trust[v]),
                    contribution: (was(&earlier.contribution.score), self.contribution.score[v]),
                }
            })
            .filter(|c| c.trust.0 != c.trust.1 || c.contribution.0 != c.contribution.1)
            .collect();
        changes.sort_by(|a, b| {
            let d = |c: &Change| (c.trust.1 - c.trust.0).abs();
            d(b).total_cmp(&d(a)).then(a.mask.cmp(&b.mask))
        });
        changes.truncate(limit);
        changes
    }
}

/// The masks that moderate a world: its founders and curators, trust's seeds.
pub fn curators(graph: &Graph) -> Vec<u32> {
    let mut seeds: Vec<u32> = (0..graph.vertex_count() as u32)
        .filter(|&v| graph.kind_at(v) == VertexKind::Mask && graph.out_degree(EdgeKind::Moderates, v) > 0)
        .collect();
    seeds.sort_unstable();
    seeds
}

/// The epochs computed so far, newest last.
#[derive(Default)]
pub struct Epochs {
    kept: RwLock<VecDeque<Arc<ScoreSet>>>,
}

impl Epochs {
    /// The newest epoch.
    pub fn latest(&self) -> Option<Arc<ScoreSet>> {
        self.kept.read().back().cloned()
    }

    /// Epoch `number`, if still kept.
    pub fn get(&self, number: u64) -> Option<Arc<ScoreSet>> {
        self.kept.read().iter().find(|s| s.number == number).cloned()
    }

    /// The numbers of the epochs kept, oldest first.
    pub fn numbers(&self) -> Vec<u64> {
        self.kept.read().iter().map(|s| s.number).collect()
    }

    fn push(&self, set: ScoreSet, keep: usize) {
        let mut kept = self.kept.write();
        kept.push_back(Arc::new(set));
        while kept.len() > keep.max(1) {
            kept.pop_front();
        }
    }
}

/// When to compute a new epoch.
#[derive(Clone, Copy, Debug)]
pub struct RecomputePolicy {
    /// See [`DEFAULT_MIN_EVENTS`].
    pub min_events: u64,
    /// See [`DEFAULT_MIN_INTERVAL`].
    pub min_interval: Duration,
    /// See [`DEFAULT_EPOCHS_KEPT`].
    pub keep: usize,
}

impl Default for RecomputePolicy {
    fn default() -> RecomputePolicy {
        RecomputePolicy {
            min_events: DEFAULT_MIN_EVENTS,
            min_interval: DEFAULT_MIN_INTERVAL,
            keep: DEFAULT_EPOCHS_KEPT,
        }
    }
}

/// Computes an epoch now from `engine`'s graph: the graph is copied under a read lock held only
/// for the copy, and the jobs run on the copy.
pub fn compute_now(engine: &Engine, epochs: &Epochs, policy: &RecomputePolicy) -> crate::Result<Arc<ScoreSet>> {
    let copy: Graph = engine.read().clone();
    let number = epochs.latest().map_or(1, |s| s.number + 1);
    let set = ScoreSet::compute(number, &copy)?;
    epochs.push(set, policy.keep);
    Ok(epochs.latest().expect("just pushed"))
}

/// The background recomputation; [`Recompute::stop`] ends it.
pub struct Recompute {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Recompute {
    /// Stops the thread (after the job in progress, if any) and waits for it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// How often the background thread looks for commits and for a stop.
const POLL: Duration = Duration::from_millis(20);

/// Recomputes epochs in a background thread whenever `policy.min_events` events have been
/// committed and `policy.min_interval` has passed since the last epoch.
pub fn spawn_recompute(engine: Arc<Engine>, epochs: Arc<Epochs>, policy: RecomputePolicy) -> Recompute {
    use tokio::sync::broadcast::error::TryRecvError;
    let mut commits = engine.subscribe();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("reputation-epochs".into())
        .spawn(move || {
            let mut pending = 0u64;
            let mut last = Instant::now().checked_sub(policy.min_interval).unwrap_or_else(Instant::now);
            while !flag.load(Ordering::Relaxed) {
                match commits.try_recv() {
                    Ok(batch) => pending += batch.events.len() as u64,
                    Err(TryRecvError::Lagged(missed)) => pending += missed,
                    Err(TryRecvError::Closed) => return,
                    Err(TryRecvError::Empty) => std::thread::sleep(POLL),
                }
                if pending >= policy.min_events && last.elapsed() >= policy.min_interval {
                    pending = 0;
                    last = Instant::now();
                    let _ = compute_now(&engine, &epochs, &policy);
                }
            }
        })
        .expect("spawn the epochs thread");
    Recompute { stop, thread }
}
