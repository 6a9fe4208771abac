//! Score epochs in the running system: every job recomputed in the background when enough has
//! changed, on a copy of the graph taken under a brief read lock (so neither writes nor reads
//! wait for a job), kept per epoch — in memory and, when opened on a folder, on disk, so they
//! outlive a restart — and diffable.

use crate::{
    Alignment, AlignmentConfig, ClusterConfig, Clusters, Contribution, ContributionConfig, TrustConfig, TrustScores,
    alignment, clusters, contribution, trust,
};
use graph_engine::{Engine, Graph, LogPosition};
use parking_lot::RwLock;
use schema::{EdgeKind, Id, VertexKind};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Epochs kept, in memory and on disk (older ones can be recomputed from the log).
pub const DEFAULT_EPOCHS_KEPT: usize = 16;
/// Events that make a new epoch due.
pub const DEFAULT_MIN_EVENTS: u64 = 1_000;
/// The least time between two epochs.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(10);

/// Every score of one epoch, computed from one cut of the graph.
#[derive(Debug, Serialize, Deserialize)]
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

/// The epochs computed so far, newest last: in memory, and in a folder when opened on one.
#[derive(Default)]
pub struct Epochs {
    kept: RwLock<VecDeque<Arc<ScoreSet>>>,
    dir: Option<PathBuf>,
}

/// The first bytes of an epoch file, and the version of its layout.
const MAGIC: &[u8; 8] = b"DAIRAEP1";
const FORMAT_VERSION: u32 = 1;

impl Epochs {
    /// Epochs kept in `dir` as well as in memory (the folder is made if missing), with the newest
    /// `keep` of those already there loaded. Each epoch is written when computed, to a temporary
    /// file that is synced and then renamed, so a crash leaves the old file or the new one,
    /// never half of one; a checksum over the contents catches one changed or cut short since.
    /// A file that cannot be read is left where it is and named in the second part of the answer.
    pub fn open(dir: &Path, keep: usize) -> crate::Result<(Epochs, Vec<String>)> {
        let store_error = |e: std::io::Error| crate::Error::Store { path: dir.to_path_buf(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(store_error)?;
        let mut numbered: Vec<(u64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(store_error)? {
            let path = entry.map_err(store_error)?.path();
            if let Some(number) = epoch_number(&path) {
                numbered.push((number, path));
            }
        }
        numbered.sort();
        let mut loaded: VecDeque<Arc<ScoreSet>> = VecDeque::new();
        let mut skipped = Vec::new();
        for (number, path) in numbered.into_iter().rev() {
            if loaded.len() >= keep.max(1) {
                break;
            }
            match read_epoch(&path) {
                Ok(set) if set.number == number => loaded.push_front(Arc::new(set)),
                Ok(set) => skipped.push(format!("{}: holds epoch {}, not {number}", path.display(), set.number)),
                Err(reason) => skipped.push(format!("{}: {reason}", path.display())),
            }
        }
        Ok((Epochs { kept: RwLock::new(loaded), dir: Some(dir.to_path_buf()) }, skipped))
    }

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

    /// Forgets epoch `number`, in memory and on disk: for an epoch found not to come from the
    /// log it would be served with.
    pub fn discard(&self, number: u64) -> crate::Result<()> {
        self.kept.write().retain(|s| s.number != number);
        if let Some(dir) = &self.dir {
            let path = epoch_path(dir, number);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(crate::Error::Store { path, reason: e.to_string() });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Keeps `set` (and at most `keep` in all), writing it to the folder if there is one. In
    /// memory whatever happens on disk.
    fn push(&self, set: ScoreSet, keep: usize) -> crate::Result<()> {
        let keep = keep.max(1);
        let number = set.number;
        let set = Arc::new(set);
        {
            let mut kept = self.kept.write();
            kept.push_back(set.clone());
            while kept.len() > keep {
                kept.pop_front();
            }
        }
        let Some(dir) = &self.dir else { return Ok(()) };
        write_epoch(dir, &set)?;
        // Files of epochs no longer kept.
        let oldest = number.saturating_sub(keep as u64 - 1);
        let entries =
            std::fs::read_dir(dir).map_err(|e| crate::Error::Store { path: dir.clone(), reason: e.to_string() })?;
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if epoch_number(&path).is_some_and(|n| n < oldest) {
                std::fs::remove_file(&path)
                    .map_err(|e| crate::Error::Store { path: path.clone(), reason: e.to_string() })?;
            }
        }
        Ok(())
    }
}

/// `DIR/epoch-000000000042.bin` for epoch 42.
fn epoch_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("epoch-{number:012}.bin"))
}

/// The epoch number in a file's name, if it is an epoch file.
fn epoch_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("epoch-")?.strip_suffix(".bin")?.parse().ok()
}

/// Writes `set` to its file: magic, layout version, BLAKE3 of the contents, the contents
/// (postcard); through a temporary file, synced, renamed over, and the folder synced.
fn write_epoch(dir: &Path, set: &ScoreSet) -> crate::Result<()> {
    use std::io::Write;
    let path = epoch_path(dir, set.number);
    let store_error = |reason: String| crate::Error::Store { path: path.clone(), reason };
    let contents = postcard::to_allocvec(set).map_err(|e| store_error(e.to_string()))?;
    let temporary = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(MAGIC)?;
        file.write_all(&FORMAT_VERSION.to_le_bytes())?;
        file.write_all(blake3::hash(&contents).as_bytes())?;
        file.write_all(&contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| store_error(e.to_string()))
}

/// Reads an epoch file, checking its magic, version and checksum.
fn read_epoch(path: &Path) -> Result<ScoreSet, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let header = MAGIC.len() + 4 + 32;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not an epoch file".into());
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("four bytes"));
    if version != FORMAT_VERSION {
        return Err(format!("layout version {version}, this build reads {FORMAT_VERSION}"));
    }
    let (sum, contents) = (&bytes[12..header], &bytes[header..]);
    if blake3::hash(contents).as_bytes() != sum {
        return Err("checksum does not match: the file was changed or cut short".into());
    }
    postcard::from_bytes(contents).map_err(|e| format!("does not decode: {e}"))
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
/// Kept in memory even when writing it to disk fails (the error says so).
pub fn compute_now(engine: &Engine, epochs: &Epochs, policy: &RecomputePolicy) -> crate::Result<Arc<ScoreSet>> {
    let copy: Graph = engine.read().clone();
    let number = epochs.latest().map_or(1, |s| s.number + 1);
    let set = ScoreSet::compute(number, &copy)?;
    epochs.push(set, policy.keep)?;
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
