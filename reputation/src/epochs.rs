//! Score epochs in the running system: every job recomputed in the background when enough has
//! changed ([`spawn_epochs`], the one epoch loop), on a copy of the graph taken under a brief
//! read lock (so neither writes nor reads wait for a job), kept per epoch — in memory and,
//! when opened on a folder, on disk, so they outlive a restart ([`Epochs::open_for`] keeps only
//! those the log confirms) — and diffable.

use crate::{
    Alignment, AlignmentConfig, ClusterConfig, Clusters, Contribution, ContributionConfig, TrustConfig, TrustScores,
    alignment, clusters, contribution, trust,
};
use graph_engine::{Engine, Graph, LogPosition, LogReader};
use parking_lot::RwLock;
use schema::{EdgeKind, Id, VertexKind};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

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

/// Trust's seeds: each world's curators as its governance designates them — the masks a
/// passed proposal named (those still members). A world founded through the write path has
/// none until then: founding a world makes its founder a moderator, never a seed. A world
/// that came in an import, with no designation, is seeded by the moderators its data names.
pub fn curators(graph: &Graph) -> Vec<u32> {
    let governance = graph.governance();
    let mut seeds: Vec<u32> = Vec::new();
    for w in (0..graph.vertex_count() as u32).filter(|&v| graph.kind_at(v) == VertexKind::World) {
        let id = graph.id_at(w);
        match governance.curators.get(&id) {
            Some(designated) => seeds.extend(
                designated
                    .iter()
                    .filter_map(|&m| graph.index_of(m))
                    .filter(|&m| graph.out(EdgeKind::MemberOf, m).any(|x| x == w)),
            ),
            None if governance.founded.contains(&id) => {}
            None => seeds.extend(graph.inn(EdgeKind::Moderates, w)),
        }
    }
    seeds.sort_unstable();
    seeds.dedup();
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

    /// Takes in an epoch another replica computed (and its folder keeps it too), unless one as
    /// new is already kept: whether it was taken.
    pub fn adopt(&self, set: ScoreSet, keep: usize) -> crate::Result<bool> {
        if self.latest().is_some_and(|l| l.number >= set.number) {
            return Ok(false);
        }
        self.push(set, keep)?;
        Ok(true)
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
    let bytes = set.to_bytes().map_err(|e| store_error(e.to_string()))?;
    let temporary = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| store_error(e.to_string()))
}

/// Reads an epoch file, checking its magic, version and checksum.
fn read_epoch(path: &Path) -> Result<ScoreSet, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    ScoreSet::from_bytes(&bytes)
}

impl ScoreSet {
    /// The epoch as files and the replicas' shared store keep it: magic, layout version,
    /// BLAKE3 of the contents, the contents (postcard).
    pub fn to_bytes(&self) -> Result<Vec<u8>, postcard::Error> {
        let contents = postcard::to_allocvec(self)?;
        let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + 32 + contents.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(blake3::hash(&contents).as_bytes());
        bytes.extend_from_slice(&contents);
        Ok(bytes)
    }

    /// Whether this epoch was cut from `engine`'s log: the engine has applied its cut, and the
    /// log's chain hash there is the epoch's.
    pub async fn is_of(&self, engine: &Engine) -> crate::Result<bool> {
        let at = self.position;
        let ours = if at.seq == 0 {
            Some([0u8; 32])
        } else if at.seq <= engine.read().position().seq {
            engine.log().get(at.seq).await?.map(|record| record.hash)
        } else {
            None
        };
        Ok(ours == Some(at.hash))
    }

    /// Reads [`ScoreSet::to_bytes`], checking its magic, version and checksum.
    pub fn from_bytes(bytes: &[u8]) -> Result<ScoreSet, String> {
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
    let pushed = epochs.push(set, policy.keep);
    let latest = epochs.latest().expect("just pushed");
    engine.set_reputation(latest.clone());
    pushed?;
    Ok(latest)
}

/// The rules judge privileges and snapshot REPUTATION weights with the latest epoch.
impl graph_engine::Reputation for ScoreSet {
    fn epoch(&self) -> u64 {
        self.number
    }

    fn scores(&self, v: u32, id: Id) -> Option<(f64, f64)> {
        let v = v as usize;
        if self.ids.get(v) != Some(&id) {
            return None;
        }
        Some((*self.trust.trust.get(v)?, *self.contribution.score.get(v)?))
    }
}

impl Epochs {
    /// The epochs kept in `dir` from earlier runs that `engine`'s log confirms: an epoch is kept
    /// only if the log holds its position with the same chain hash. Files that cannot be read,
    /// and epochs of another log, are logged and set aside.
    pub async fn open_for(engine: &Engine, dir: &Path, keep: usize) -> crate::Result<Epochs> {
        let (epochs, unreadable) = Epochs::open(dir, keep)?;
        for reason in unreadable {
            tracing::error!(detail = %reason, "epoch file left out");
        }
        for number in epochs.numbers() {
            let Some(set) = epochs.get(number) else { continue };
            let at = set.position;
            if !set.is_of(engine).await? {
                tracing::error!(epoch = number, log_seq = at.seq, "epoch of another log discarded");
                epochs.discard(number)?;
            }
        }
        if let Some(latest) = epochs.latest() {
            tracing::info!(epochs = ?epochs.numbers(), latest_log_seq = latest.position.seq, "epochs loaded");
            engine.set_reputation(latest);
        }
        Ok(epochs)
    }
}

/// The running epoch loop (see [`spawn_epochs`]).
pub struct EpochLoop {
    task: tokio::task::JoinHandle<()>,
    numbers: watch::Receiver<u64>,
    published: Arc<watch::Sender<u64>>,
}

impl EpochLoop {
    /// The number of the newest epoch, as each is published (0 before the first).
    pub fn numbers(&self) -> watch::Receiver<u64> {
        self.numbers.clone()
    }

    /// What announces an epoch taken in from elsewhere ([`Epochs::adopt`]) as this loop
    /// announces its own.
    pub fn announcer(&self) -> impl Fn(u64) + Send + Sync + 'static + use<> {
        let published = self.published.clone();
        move |number| announce(&published, number)
    }

    /// Waits for the loop to end (it ends when `stop` turns true or the engine closes; a job in
    /// progress finishes first).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// The log position the newest epoch was cut at (0 without one).
fn covered(epochs: &Epochs) -> u64 {
    epochs.latest().map_or(0, |e| e.position.seq)
}

/// How often the loop looks at the clock when no commit wakes it.
const TICK: Duration = Duration::from_millis(100);

/// Publishes epoch `number` unless a newer one was published already.
fn announce(published: &watch::Sender<u64>, number: u64) {
    published.send_if_modified(|n| {
        let newer = number > *n;
        *n = (*n).max(number);
        newer
    });
}

/// The one epoch loop of a running system: computes the first epoch at once (unless the newest
/// kept one is of the log's head already), then whenever `policy.min_events` events have been
/// committed and `policy.min_interval` has passed since the last. Jobs run on a blocking
/// thread, on a copy of the graph; every epoch and every failure is logged. With `leader`, it
/// computes only while that flag is up (replicas elect one computer; the others adopt its
/// epochs). Ends when `stop` turns true or the engine's stream closes.
pub fn spawn_epochs(
    engine: Arc<Engine>,
    epochs: Arc<Epochs>,
    policy: RecomputePolicy,
    leader: Option<Arc<std::sync::atomic::AtomicBool>>,
    mut stop: watch::Receiver<bool>,
) -> EpochLoop {
    let mut commits = engine.subscribe();
    let position = engine.read().position();
    let current = epochs.latest().is_some_and(|e| e.position == position);
    let (published, numbers) = watch::channel(epochs.latest().map_or(0, |e| e.number));
    let published = Arc::new(published);
    let announcer = published.clone();
    let leads = move || leader.as_ref().is_none_or(|l| l.load(std::sync::atomic::Ordering::Acquire));
    let task = tokio::spawn(async move {
        // Behind the log at start: compute at once. An empty log has nothing to score, and an
        // epoch computed at start would race the first writes (its cut a matter of timing).
        let mut pending = if current || position.seq == 0 { 0 } else { u64::MAX };
        let mut last: Option<Instant> = None;
        let mut tick = tokio::time::interval(TICK);
        loop {
            let due =
                pending >= policy.min_events && last.is_none_or(|t| t.elapsed() >= policy.min_interval) && leads();
            if due {
                pending = 0;
                last = Some(Instant::now());
                let (engine, epochs) = (engine.clone(), epochs.clone());
                match tokio::task::spawn_blocking(move || compute_now(&engine, &epochs, &policy)).await {
                    Ok(Ok(set)) => {
                        tracing::info!(
                            epoch = set.number,
                            log_seq = set.position.seq,
                            ms = set.elapsed.as_millis() as u64,
                            clusters = set.clusters.count,
                            modularity = set.clusters.modularity,
                            "epoch computed"
                        );
                        announce(&published, set.number);
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "epoch"),
                    Err(e) => tracing::error!(error = %e, "epoch job stopped"),
                }
            }
            tokio::select! {
                message = commits.recv() => match message {
                    // A commit the newest epoch's cut already holds (it was waiting here while
                    // the epoch was computed) makes nothing due.
                    Ok(batch) if batch.first_seq + batch.events.len() as u64 <= covered(&epochs) + 1 => {}
                    Ok(batch) => pending = pending.saturating_add(batch.events.len() as u64),
                    Err(broadcast::error::RecvError::Lagged(n)) => pending = pending.saturating_add(n),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {}
                _ = stop.wait_for(|&s| s) => return,
            }
        }
    });
    EpochLoop { task, numbers, published: announcer }
}
