//! The running engine: opens the log, replays it into the graph, and runs the single writer
//! that decides commands, appends their events durably (group commit) and applies them.

use crate::keyfile::{self, KeyFile};
use crate::log::{self, AnyLog, LogReader, LogWriter, PostgresLog, Record, SqliteLog, Verification};
use crate::seal::{KeyringChange, Opened, Sealer};
use crate::store::{Graph, LogPosition};
use crate::view::{Overlay, Reputation};
use crate::{Error, Result};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use schema::{Command, Event, Id, IdGenerator};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot};

/// The most commands waiting for the writer; beyond it callers get `LimitExceeded`.
pub const WRITE_QUEUE_MAX: usize = 4096;
/// The most commands decided and committed in one group commit.
pub const GROUP_COMMIT_MAX: usize = 256;
/// The most committed batches a slow subscriber may fall behind before it misses some.
pub const SUBSCRIBER_LAG_MAX: usize = 1024;
/// How many times a group commit is decided again after another writer appended first.
pub const CONFLICT_RETRIES: u32 = 16;
/// How often a follower reads the log's head unwoken (a notification lost on the way).
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// How to open an engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The data directory (holds the SQLite log unless `database_url` is given).
    pub data_dir: PathBuf,
    /// A `postgres://` URL: the log lives on that server.
    pub database_url: Option<String>,
    /// With `database_url`: the PostgreSQL schema holding the log.
    pub pg_schema: Option<String>,
    /// This writer's node id (in generated ids).
    pub node: u16,
    /// Open for reading only: no writer, no lock on the data directory (`daira stats` beside a
    /// running server).
    pub read_only: bool,
    /// The server's key file (default `keys.json` in `data_dir`): its `seal_key` seals owner
    /// links in the log. A writer creates the file or the key when missing; a reader only
    /// reads them.
    pub key_file: Option<PathBuf>,
    /// Other processes append to this log too (replicas of one PostgreSQL log): follow what
    /// they append, and decide a group commit again when another writer appended first.
    pub follow: bool,
}

impl EngineConfig {
    /// The embedded default: a SQLite log in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_dir: data_dir.into(),
            database_url: None,
            pg_schema: None,
            node: 0,
            read_only: false,
            key_file: None,
            follow: false,
        }
    }

    /// Where the key file is.
    pub fn key_file_path(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| self.data_dir.join(keyfile::DEFAULT_FILE))
    }

    /// The server key that seals and opens owner links: made (and the key file with it) for a
    /// writer when missing; for a reader, None when there is none.
    fn seal_key(&self) -> Result<Option<[u8; 32]>> {
        let path = self.key_file_path();
        let config = |e: keyfile::KeyError| Error::Config(e.to_string());
        if self.read_only {
            return KeyFile::read(&path).map_err(config)?.map_or(Ok(None), |file| file.get(SEAL_KEY).map_err(config));
        }
        let mut file = KeyFile::read_or_new(&path).map_err(config)?;
        let key = file.get_or_make(SEAL_KEY).map_err(config)?;
        file.save().map_err(config)?;
        Ok(Some(key))
    }

    /// Opens the configured log without replaying it, for reading (`daira audit verify`): no
    /// crate but this one can append to it.
    pub async fn open_log(&self) -> Result<AnyLog> {
        match &self.database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(AnyLog::postgres(PostgresLog::open(url, self.pg_schema.as_deref()).await?))
            }
            Some(url) if url.starts_with("sqlite:") => {
                let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                Ok(AnyLog::sqlite(SqliteLog::open(std::path::Path::new(path)).await?))
            }
            Some(url) => Err(Error::Config(format!(
                "database URL must start with postgres:// or sqlite: (got {:?})",
                url.split(':').next().unwrap_or("")
            ))),
            None => {
                std::fs::create_dir_all(&self.data_dir)
                    .map_err(|source| Error::Io { path: self.data_dir.display().to_string(), source })?;
                Ok(AnyLog::sqlite(SqliteLog::open(&self.data_dir.join("log.db")).await?))
            }
        }
    }
}

/// The key file's name for the server key that seals owner links.
const SEAL_KEY: &str = "seal_key";

/// Reports progress of long work (replay, import). Implementations print or export metrics.
pub trait Progress: Send + Sync {
    /// `done` of `total` units of `stage` are finished (`total` 0 when unknown).
    fn update(&self, stage: &str, done: u64, total: u64);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _: &str, _: u64, _: u64) {}
}

/// What a successful command produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The first event's sequence number (equal to `last_seq + 1` when no event was needed).
    pub first_seq: u64,
    /// The last event's sequence number.
    pub last_seq: u64,
    /// The chain hash after the last event.
    pub hash: [u8; 32],
}

/// A committed batch, as subscribers see it.
#[derive(Debug)]
pub struct Committed {
    /// The first sequence number.
    pub first_seq: u64,
    /// The events, in order.
    pub events: Vec<Event>,
    /// When the batch was durable and applied (for latency figures: subscribers measure
    /// delivery from here).
    pub committed_at: SystemTime,
}

/// Where a job's answer goes.
type Reply = oneshot::Sender<Result<Receipt>>;

struct Job {
    command: Command,
    reply: Reply,
}

struct Shared {
    log: AnyLog,
    sealer: Mutex<Sealer>,
    graph: RwLock<Graph>,
    ids: Mutex<IdGenerator>,
    committed: broadcast::Sender<Arc<Committed>>,
    stats: Mutex<WriterStats>,
    /// The latest epoch's scores, for the rules' privileges and REPUTATION weights.
    reputation: RwLock<Option<Arc<dyn Reputation>>>,
    /// Whether other processes append to the log (see [`EngineConfig::follow`]).
    follow: bool,
    /// The last sequence number applied to the graph, for readers that wait for one.
    applied: tokio::sync::watch::Sender<u64>,
    /// The highest sequence number any writer's append announced (a follower's view of the
    /// log's head, for its lag).
    announced: Arc<std::sync::atomic::AtomicU64>,
}

/// Counters of the writer, for metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterStats {
    /// Commands accepted.
    pub commands: u64,
    /// Commands rejected by the rules.
    pub rejections: u64,
    /// Group commits written.
    pub commits: u64,
    /// Events appended.
    pub events: u64,
    /// Group commits another writer's append got ahead of (each decided again).
    pub conflicts: u64,
    /// Events other writers appended, applied here.
    pub followed: u64,
    /// Time spent reading and applying them, in nanoseconds.
    pub follow_ns: u64,
}

/// The engine: a graph kept equal to the replay of its log.
pub struct Engine {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Job>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// What wakes the follower when another process appends.
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// The data directory's writer lock, held while the engine lives (SQLite logs only).
    _lock: Option<std::fs::File>,
}

/// The file in a data directory that one writing process holds locked.
pub const WRITER_LOCK_FILE: &str = "writer.lock";

/// Takes the data directory's writer lock, or says who has it.
fn lock_data_dir(config: &EngineConfig) -> Result<Option<std::fs::File>> {
    if config.read_only || config.database_url.is_some() {
        return Ok(None);
    }
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
    let path = dir.join(WRITER_LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Config(format!(
            "another daira process is writing to {} (it holds {}); stop it, or read with a read-only command",
            dir.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Io { path: path.display().to_string(), source }),
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Engine {
    /// Opens the log, replays it into a fresh graph and starts the writer.
    pub async fn open(config: &EngineConfig, progress: &dyn Progress) -> Result<Engine> {
        let lock = lock_data_dir(config)?;
        let log = config.open_log().await?;
        // Other writers append while a follower opens: it replays through the head it read
        // before the keyring, so that every envelope it replays has its key in what it read
        // (the rest it follows afterwards).
        let until = if config.follow { log.head().await?.seq } else { u64::MAX };
        let mut sealer = Sealer::new(config.seal_key()?, log.reads().keyring().await?)?;
        let graph = replay_sealed(&log, &mut sealer, until, progress).await?;
        let last_own = (0..graph.vertex_count() as u32)
            .map(|v| graph.id_at(v))
            .filter(|id| id.node() == config.node)
            .max()
            .unwrap_or(Id(0));
        let (committed, _) = broadcast::channel(SUBSCRIBER_LAG_MAX);
        let (applied, _) = tokio::sync::watch::channel(graph.position().seq);
        let follow = config.follow && !config.read_only;
        let shared = Arc::new(Shared {
            log,
            sealer: Mutex::new(sealer),
            graph: RwLock::new(graph),
            ids: Mutex::new(IdGenerator::resume(config.node, last_own)),
            committed,
            stats: Mutex::new(WriterStats::default()),
            reputation: RwLock::new(None),
            follow,
            applied,
            announced: Arc::default(),
        });
        let (queue, jobs) = mpsc::channel(WRITE_QUEUE_MAX);
        let wake = Arc::new(tokio::sync::Notify::new());
        let watcher = if follow { shared.log.watch(wake.clone(), shared.announced.clone()) } else { None };
        let wake = follow.then_some(wake);
        // A read-only engine has no writer: its queue is closed and `execute` says so.
        let writer = (!config.read_only).then(|| tokio::spawn(write_loop(shared.clone(), jobs, wake)));
        Ok(Engine { shared, queue, writer: Mutex::new(writer), watcher, _lock: lock })
    }

    /// A consistent, read-only view of the graph. Hold it briefly: the writer waits for it to
    /// apply the next commit (deciding and the durable append do not wait).
    pub fn read(&self) -> RwLockReadGuard<'_, Graph> {
        self.shared.graph.read()
    }

    /// Hands the writer the latest epoch's scores: from now on the rules judge privileges
    /// and snapshot REPUTATION weights with them.
    pub fn set_reputation(&self, reputation: Arc<dyn Reputation>) {
        *self.shared.reputation.write() = Some(reputation);
    }

    /// The scores the writer judges with.
    pub fn reputation(&self) -> Option<Arc<dyn Reputation>> {
        self.shared.reputation.read().clone()
    }

    /// A fresh, time-ordered id for a new vertex.
    pub fn new_id(&self) -> Id {
        self.shared.ids.lock().next(now_ms() as u64)
    }

    /// Ids for `n` new vertices (an import).
    pub fn new_ids(&self, n: usize) -> Vec<Id> {
        let mut ids = self.shared.ids.lock();
        let now = now_ms() as u64;
        (0..n).map(|_| ids.next(now)).collect()
    }

    /// Decides `command`, appends its events durably and applies them. Concurrent calls are
    /// committed together (group commit). Returns after the events are durable.
    pub async fn execute(&self, command: Command) -> Result<Receipt> {
        self.submit(command)?.await
    }

    /// Queues a command for the writer now, in the order of the calls, and returns its answer
    /// to await: a client that pipelines (`daira exec`) submits many before awaiting the first,
    /// and they are decided in the order submitted, exactly as one after another.
    pub fn submit(&self, command: Command) -> Result<impl Future<Output = Result<Receipt>> + Send + use<>> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Job { command, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                Error::LimitExceeded { what: "queued writes", limit: WRITE_QUEUE_MAX as u64 }
            }
            mpsc::error::TrySendError::Closed(_) if self.writer.lock().is_none() => {
                Error::Config("this engine was opened read-only".into())
            }
            mpsc::error::TrySendError::Closed(_) => Error::Shutdown,
        })?;
        Ok(async move { answer.await.map_err(|_| Error::Shutdown)? })
    }

    /// Subscribes to committed batches, in log order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.shared.committed.subscribe()
    }

    /// The log, to read: appending is the writer's alone.
    pub fn log(&self) -> &AnyLog {
        &self.shared.log
    }

    /// The event of a stored record as the graph applied it: a sealed envelope opened with
    /// the engine's keys. None for an envelope whose key an erasure shredded.
    pub fn open_record(&self, record: &Record) -> Result<Option<Event>> {
        match record.event()? {
            Event::Sealed(sealed) => match self.shared.sealer.lock().open(&sealed, record.seq)? {
                Opened::Event(event, ..) => Ok(Some(event)),
                Opened::KeyGone(_) => Ok(None),
            },
            event => Ok(Some(event)),
        }
    }

    /// The last sequence number applied to the graph.
    pub fn applied_seq(&self) -> u64 {
        *self.shared.applied.borrow()
    }

    /// Waits until the graph has applied `seq` (a write another replica acknowledged), for at
    /// most `within`: whether it has.
    pub async fn wait_applied(&self, seq: u64, within: std::time::Duration) -> bool {
        let mut applied = self.shared.applied.subscribe();
        matches!(tokio::time::timeout(within, applied.wait_for(|&s| s >= seq)).await, Ok(Ok(_)))
    }

    /// How far the graph is behind the log's head as appends announce it (0 for the only
    /// writer; a follower's lag between a notification and its apply).
    pub fn lag(&self) -> u64 {
        self.shared.announced.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(self.applied_seq())
    }

    /// Whether this engine follows other writers of its log.
    pub fn follows(&self) -> bool {
        self.shared.follow
    }

    /// Counters of the writer.
    pub fn writer_stats(&self) -> WriterStats {
        *self.shared.stats.lock()
    }

    /// Recomputes the log's hash chain from the log alone.
    pub async fn verify(&self) -> Result<Verification> {
        log::verify(&self.shared.log).await
    }

    /// Stops taking commands, lets the writer finish what it accepted, and closes the log.
    pub async fn shutdown(self) {
        let Engine { shared, queue, writer, watcher, _lock } = self;
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        drop(queue);
        let handle = writer.lock().take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
        shared.log.close_shared().await;
    }
}

/// Replays the whole log into a fresh graph, checking the hash chain as it goes. A log that
/// holds sealed envelopes needs its keys: open it with [`Engine::open`].
pub async fn replay<L: LogReader>(log: &L, progress: &dyn Progress) -> Result<Graph> {
    replay_sealed(log, &mut Sealer::new(None, Vec::new())?, u64::MAX, progress).await
}

/// The graph as it stood at log sequence `seq` (every event up to and including it), replayed
/// from `config`'s log with its key file: for recounting what was decided there
/// (`daira governance tally`). Opens nothing for writing.
pub async fn replay_through(config: &EngineConfig, seq: u64, progress: &dyn Progress) -> Result<Graph> {
    let log = config.open_log().await?;
    let mut sealer = Sealer::new(config.seal_key()?, log.reads().keyring().await?)?;
    replay_sealed(&log, &mut sealer, seq, progress).await
}

/// Replays the log through sequence `until`, opening sealed envelopes with `sealer`.
async fn replay_sealed<L: LogReader>(
    log: &L,
    sealer: &mut Sealer,
    until: u64,
    progress: &dyn Progress,
) -> Result<Graph> {
    let head = log.head().await?;
    let head = if head.seq > until { LogPosition { seq: until, hash: head.hash } } else { head };
    let mut graph = Graph::new();
    let mut position = LogPosition::default();
    let mut last_report = Instant::now();
    log.scan(1, |record| {
        if record.seq > until {
            return Ok(());
        }
        check_link(&position, &record)?;
        match record.event()? {
            Event::Sealed(sealed) => {
                if let Some(event) = sealer.open_in_replay(&sealed, record.seq)? {
                    graph.apply_at(event, LogPosition { seq: record.seq, hash: record.hash })?;
                }
            }
            event => graph.apply_at(event, LogPosition { seq: record.seq, hash: record.hash })?,
        }
        position = LogPosition { seq: record.seq, hash: record.hash };
        if last_report.elapsed().as_millis() >= 500 {
            progress.update("replay", record.seq, head.seq);
            last_report = Instant::now();
        }
        Ok(())
    })
    .await?;
    if graph.in_import() {
        return Err(Error::Corrupt(format!("the log ends inside an import at sequence {}", position.seq)));
    }
    // A replay that stops early may meet envelopes whose keys an erasure after it shredded.
    if until == u64::MAX {
        sealer.check_replayed()?;
    }
    graph.set_position(position);
    if head.seq > 0 {
        progress.update("replay", head.seq, head.seq);
    }
    Ok(graph)
}

fn check_link(position: &LogPosition, record: &Record) -> Result<()> {
    if record.seq != position.seq + 1 {
        return Err(Error::Corrupt(format!("expected sequence {}, found {}", position.seq + 1, record.seq)));
    }
    if log::chain_hash(&position.hash, record.seq, record.time_ms, &record.payload) != record.hash {
        return Err(Error::Corrupt(format!("hash chain broken at sequence {}", record.seq)));
    }
    Ok(())
}

async fn write_loop(shared: Arc<Shared>, mut jobs: mpsc::Receiver<Job>, wake: Option<Arc<tokio::sync::Notify>>) {
    let mut batch: Vec<Job> = Vec::with_capacity(GROUP_COMMIT_MAX);
    let mut poll = tokio::time::interval(FOLLOW_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // A follower applies what other writers append between its own commits.
        let first = match &wake {
            Some(wake) => tokio::select! {
                job = jobs.recv() => job,
                _ = wake.notified() => {
                    follow_or_log(&shared).await;
                    continue;
                }
                _ = poll.tick() => {
                    follow_or_log(&shared).await;
                    continue;
                }
            },
            None => jobs.recv().await,
        };
        let Some(first) = first else { break };
        batch.push(first);
        // Imports are committed alone; everything else that is waiting joins this commit.
        if !matches!(batch[0].command, Command::Import(_)) {
            while batch.len() < GROUP_COMMIT_MAX {
                match jobs.try_recv() {
                    Ok(job) if matches!(job.command, Command::Import(_)) => {
                        commit_group(&shared, std::mem::take(&mut batch)).await;
                        batch.push(job);
                        break;
                    }
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        commit_group(&shared, std::mem::take(&mut batch)).await;
    }
}

/// Follows the log, and says so when it cannot (the next wake or tick tries again).
async fn follow_or_log(shared: &Shared) {
    if let Err(e) = follow_log(shared).await {
        tracing::warn!(error = %e, "following the log");
    }
}

/// Applies what other writers appended since the graph's position, in order, and hands it to
/// subscribers as their own commits are.
async fn follow_log(shared: &Shared) -> Result<()> {
    let from = shared.graph.read().position();
    let mut records = Vec::new();
    shared
        .log
        .scan(from.seq + 1, |record| {
            records.push(record);
            Ok(())
        })
        .await?;
    if records.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let mut keyring_read = false;
    let mut position = from;
    let mut opened = Vec::with_capacity(records.len());
    for record in &records {
        check_link(&position, record)?;
        let event = match record.event()? {
            Event::Sealed(sealed) => {
                let gone = matches!(shared.sealer.lock().open(&sealed, record.seq)?, Opened::KeyGone(_));
                if gone && !keyring_read {
                    // A user key another writer made: the keyring has it since that append.
                    let rows = shared.log.reads().keyring().await?;
                    shared.sealer.lock().learn_keyring(rows)?;
                    keyring_read = true;
                }
                shared.sealer.lock().open_in_replay(&sealed, record.seq)?
            }
            event => Some(event),
        };
        position = LogPosition { seq: record.seq, hash: record.hash };
        opened.push((position, event));
    }
    shared.sealer.lock().forget_shredded();
    // Subscribers get the events in runs of consecutive sequence numbers (an envelope whose
    // key an erasure shredded is applied as nothing).
    let copies = shared.committed.receiver_count() > 0;
    let mut runs: Vec<(u64, Vec<Event>)> = Vec::new();
    let count = opened.len() as u64;
    {
        let mut graph = shared.graph.write();
        for (at, event) in opened {
            let Some(event) = event else { continue };
            if copies {
                match runs.last_mut() {
                    Some((first, events)) if *first + events.len() as u64 == at.seq => events.push(event.clone()),
                    _ => runs.push((at.seq, vec![event.clone()])),
                }
            }
            graph.apply_at(event, at)?;
        }
        graph.set_position(position);
    }
    shared.applied.send_replace(position.seq);
    {
        let mut stats = shared.stats.lock();
        stats.followed += count;
        stats.follow_ns += started.elapsed().as_nanos() as u64;
    }
    let committed_at = SystemTime::now();
    for (first_seq, events) in runs {
        let _ = shared.committed.send(Arc::new(Committed { first_seq, events, committed_at }));
    }
    Ok(())
}

/// Decides every job against the graph plus the events staged before it, appends all staged
/// events in one transaction, applies them, then answers every job.
async fn commit_group(shared: &Shared, mut jobs: Vec<Job>) {
    if jobs.is_empty() {
        return;
    }
    let mut attempts = 0;
    // After a lost race, the writers' lock, held until this group is answered.
    let mut hold = None;
    loop {
        // A follower keeps the commands to decide them again if another writer gets ahead.
        let again = shared.follow && attempts < CONFLICT_RETRIES;
        let now = now_ms();
        let mut staged: Vec<Event> = Vec::new();
        let mut outcomes: Vec<Result<std::ops::Range<usize>>> = Vec::with_capacity(jobs.len());
        let mut rejections = 0;
        {
            let reputation = shared.reputation.read().clone();
            let graph = shared.graph.read();
            for job in &mut jobs {
                let command = if again {
                    job.command.clone()
                } else {
                    std::mem::replace(&mut job.command, Command::Import(Default::default()))
                };
                let decided = {
                    let view = Overlay::new(&graph, &staged).with_reputation(reputation.as_deref());
                    schema::decide(command, now, &view)
                };
                match decided {
                    Ok(events) => {
                        let start = staged.len();
                        staged.extend(events);
                        outcomes.push(Ok(start..staged.len()));
                    }
                    Err(rejection) => {
                        rejections += 1;
                        outcomes.push(Err(Error::Rejected(rejection)));
                    }
                }
            }
        }
        let head = shared.graph.read().position();
        let staged_count = staged.len();
        // Subscribers get their own copy; the store takes the events themselves.
        let for_subscribers = (shared.committed.receiver_count() > 0).then(|| staged.clone());
        let result = if staged.is_empty() {
            Ok(Vec::new())
        } else {
            append_and_apply(shared, head, now, staged, hold.as_mut()).await
        };
        if again && matches!(result, Err(Error::Conflict { .. })) {
            // Another writer appended first: take the writers' lock (so this group cannot lose
            // again, however busy this replica is), apply what the other wrote, then decide
            // again against the state this commit now lands on.
            attempts += 1;
            shared.stats.lock().conflicts += 1;
            if hold.is_none() {
                match shared.log.hold_writers().await {
                    Ok(held) => hold = held,
                    Err(e) => tracing::warn!(error = %e, "taking the writers' lock after a conflict"),
                }
            }
            match follow_log(shared).await {
                Ok(()) => continue,
                Err(e) => tracing::warn!(error = %e, "following the log after a conflict"),
            }
        }
        if let Some(held) = hold.take() {
            shared.log.release(held).await;
        }
        {
            let mut stats = shared.stats.lock();
            stats.rejections += rejections;
            stats.commands += outcomes.len() as u64 - rejections;
            if result.as_ref().is_ok_and(|h| !h.is_empty()) {
                stats.commits += 1;
                stats.events += staged_count as u64;
            }
        }
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            let answer = match (outcome, &result) {
                (Err(e), _) => Err(e),
                (Ok(_), Err(e)) => Err(Error::Corrupt(format!("append failed, nothing was written: {e}"))),
                (Ok(range), Ok(hashes)) => Ok(Receipt {
                    first_seq: head.seq + 1 + range.start as u64,
                    last_seq: head.seq + range.end as u64,
                    hash: range.end.checked_sub(1).map_or(head.hash, |i| hashes[i]),
                }),
            };
            let _ = job.reply.send(answer);
        }
        if let (Ok(hashes), Some(events)) = (&result, for_subscribers)
            && !hashes.is_empty()
        {
            let committed = Committed { first_seq: head.seq + 1, events, committed_at: SystemTime::now() };
            let _ = shared.committed.send(Arc::new(committed));
        }
        return;
    }
}

/// Appends the staged events and applies them; returns the chain hash after each.
async fn append_and_apply(
    shared: &Shared,
    head: LogPosition,
    now: i64,
    staged: Vec<Event>,
    hold: Option<&mut log::WriterHold>,
) -> Result<Vec<[u8; 32]>> {
    use rayon::prelude::*;
    // Encoding a bulk import is worth the pool; a group commit of a few mutations is not —
    // waking rayon's workers for it costs more than the work, and they spin-yield afterwards
    // on the cores the server needs.
    const PARALLEL_FROM: usize = 512;
    let sealed = |e: &Event| matches!(e, Event::Owned { .. } | Event::Erased(_) | Event::Confidential(_));
    let plain = |e: &Event| (!sealed(e)).then(|| log::encode(e));
    let mut payloads: Vec<Option<Vec<u8>>> = if staged.len() >= PARALLEL_FROM {
        staged.par_iter().map(plain).collect()
    } else {
        staged.iter().map(plain).collect()
    };
    // Envelopes one at a time: two in a batch may share a user's new key.
    let mut keyring = KeyringChange::default();
    if staged.iter().any(sealed) {
        let sealer = shared.sealer.lock();
        for (payload, event) in payloads.iter_mut().zip(&staged) {
            if payload.is_none() {
                *payload = Some(sealer.encode(event, &mut keyring)?);
            }
        }
    }
    let records = log::chain(head, now, payloads.into_iter().map(|p| p.expect("encoded")).collect());
    let last = records.last().map(|r| LogPosition { seq: r.seq, hash: r.hash }).expect("non-empty");
    match hold {
        Some(hold) => shared.log.append_held(hold, &records, &keyring).await?,
        None => shared.log.append(&records, &keyring).await?,
    }
    if !keyring.is_empty() {
        shared.sealer.lock().commit(keyring);
    }
    let mut graph = shared.graph.write();
    for (event, record) in staged.into_iter().zip(&records) {
        // The events were decided against this graph: failing to apply them is a bug.
        graph.apply_at(event, LogPosition { seq: record.seq, hash: record.hash }).expect("decided events apply");
    }
    graph.set_position(last);
    drop(graph);
    shared.applied.send_replace(last.seq);
    Ok(records.iter().map(|r| r.hash).collect())
}
