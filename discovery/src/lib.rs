//! Discovery wired to the engine: the Tantivy index in `DATA/search`, kept at the graph's
//! position by catching up from the log on open ([`catch_up`]) and by following the event
//! stream while the engine runs ([`follow`]); reputation priors from a trust epoch
//! ([`priors`]). Wiring, not HTTP: the server, the importer and the command line share it.
//!
//! The index is derived data. Its commits are stamped with the log position they cover
//! (sequence and chain hash). On open, a stamp that the log confirms is caught up from the
//! events after it (only the entities they touch are re-indexed); a missing stamp, a stamp the
//! log does not confirm (another log) or another analysis version rebuilds the index from the
//! graph.

use graph_engine::log::hex;
use graph_engine::{Engine, Graph, LogReader, Progress};
use parking_lot::Mutex;
use schema::{EdgeKind, Id, VertexKind};
use search::{Doc, Entity, PriorTable, SearchIndex, WriterOptions};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What can go wrong while indexing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine or its log.
    #[error(transparent)]
    Engine(#[from] graph_engine::Error),
    /// The index.
    #[error(transparent)]
    Search(#[from] search::Error),
    /// Trust for the priors.
    #[error(transparent)]
    Reputation(#[from] reputation::Error),
    /// A background indexing task stopped unexpectedly.
    #[error("indexing task: {0}")]
    Task(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The index's directory inside the data directory.
pub const SEARCH_DIR: &str = "search";

/// How often the follower commits what it has indexed: new content is searchable within this
/// (plus the commit itself, a few milliseconds).
pub const FOLLOW_COMMIT_EVERY: Duration = Duration::from_millis(250);

/// Documents handed to the index writer at a time during a rebuild.
const REBUILD_CHUNK: usize = 4096;

/// The index directory of a data directory.
pub fn index_dir(data: &Path) -> PathBuf {
    data.join(SEARCH_DIR)
}

/// Opens the index for writing, or read-only when another process (a running server) holds
/// its writer.
pub fn open_index(dir: &Path) -> Result<SearchIndex> {
    match SearchIndex::open(dir, WriterOptions::default()) {
        Ok(index) => Ok(index),
        Err(search::Error::Busy) => Ok(SearchIndex::open_read_only(dir)?),
        Err(e) => Err(e.into()),
    }
}

/// The document of vertex `v`, if it is searchable.
pub fn document(graph: &Graph, v: u32) -> Option<Doc> {
    let kind = graph.kind_at(v);
    // An erased mask is nobody's to find.
    let searchable = match kind {
        VertexKind::World | VertexKind::Work | VertexKind::Mask | VertexKind::Proposal | VertexKind::Listing => true,
        // Not hidden or removed (the document checks the post itself), nor in a thread that
        // is. A private mask's post is indexed like its works: each search shows it only to
        // those who see the mask.
        VertexKind::Thread => true,
        VertexKind::Post => graph.out(EdgeKind::Within, v).next().is_none_or(|t| {
            [schema::talk::HIDDEN, schema::talk::REMOVED]
                .iter()
                .all(|key| graph.public_prop(t, key) != Some(&schema::Value::Bool(true)))
        }),
        VertexKind::User | VertexKind::Contract => false,
    };
    if !searchable || graph.erased_until(v).is_some() {
        return None;
    }
    let view = graph.public_vertex(v)?;
    Doc::from_entity(&Entity { id: view.id, kind: view.kind, external: view.external, props: &view.props })
}

/// What [`catch_up`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatchUp {
    /// The index was at the graph's position already.
    Fresh,
    /// Entities touched since the stamp were re-indexed.
    Incremental {
        /// Entities re-indexed (or removed).
        entities: usize,
    },
    /// The index was rebuilt from the graph.
    Rebuilt {
        /// Documents indexed.
        documents: usize,
    },
    /// The index is behind but another process writes it.
    Behind,
}

/// Brings the index to the graph's position.
pub async fn catch_up(engine: &Engine, index: &SearchIndex, progress: &dyn Progress) -> Result<CatchUp> {
    let position = engine.read().position();
    let stamp = index.stamp();
    if let Some(s) = &stamp
        && s.seq == position.seq
        && s.hash == hex(&position.hash)
    {
        return Ok(CatchUp::Fresh);
    }
    if !index.writable() {
        return Ok(CatchUp::Behind);
    }
    let confirmed = match &stamp {
        Some(s) if s.seq == 0 => true,
        Some(s) if s.seq < position.seq => {
            engine.log().get(s.seq).await?.is_some_and(|record| hex(&record.hash) == s.hash)
        }
        _ => false,
    };
    if confirmed {
        let from = stamp.as_ref().map_or(1, |s| s.seq + 1);
        let mut touched = HashSet::new();
        engine
            .log()
            .scan(from, |record| {
                if let Some(event) = engine.open_record(&record)? {
                    search::touched(&event, |id| {
                        touched.insert(id);
                    });
                }
                Ok(())
            })
            .await?;
        // A large import is cheaper to rebuild than to re-index entity by entity.
        if touched.len() <= engine.read().vertex_count() / 2 {
            let entities = touched.len();
            let (seq, hash) = reindex(&engine.read(), index, touched)?;
            index.commit(seq, &hash)?;
            return Ok(CatchUp::Incremental { entities });
        }
    }
    let documents = rebuild(&engine.read(), index, progress)?;
    Ok(CatchUp::Rebuilt { documents })
}

/// Re-indexes `ids` from the graph (removing those that are gone or hidden), returning the
/// graph's position.
fn reindex(graph: &Graph, index: &SearchIndex, ids: impl IntoIterator<Item = Id>) -> Result<(u64, [u8; 32])> {
    let mut ids: Vec<Id> = ids.into_iter().collect();
    // The works an erasure hid leave with their erased authors.
    let erased_works: Vec<Id> = ids
        .iter()
        .filter_map(|&id| graph.index_of(id))
        .filter(|&v| graph.kind_at(v) == VertexKind::Mask && graph.erased_until(v).is_some())
        .flat_map(|v| graph.out(EdgeKind::Authored, v).map(|w| graph.id_at(w)))
        .collect();
    ids.extend(erased_works);
    let ids = with_posts(graph, ids);
    for id in ids {
        match graph.index_of(id).and_then(|v| document(graph, v)) {
            Some(doc) => index.upsert(&doc)?,
            None => index.remove(id)?,
        }
    }
    let position = graph.position();
    Ok((position.seq, position.hash))
}

/// `ids` and the posts of every thread among them: a thread removed (or shown again) takes
/// its posts out of search (or back).
fn with_posts(graph: &Graph, mut ids: Vec<Id>) -> Vec<Id> {
    let posts: Vec<Id> = ids
        .iter()
        .filter_map(|&id| graph.index_of(id))
        .filter(|&v| graph.kind_at(v) == VertexKind::Thread)
        .flat_map(|t| graph.inn(EdgeKind::Within, t).map(|p| graph.id_at(p)))
        .collect();
    ids.extend(posts);
    ids
}

/// Rebuilds the index from the graph and commits it at the graph's position.
pub fn rebuild(graph: &Graph, index: &SearchIndex, progress: &dyn Progress) -> Result<usize> {
    index.clear()?;
    let total = graph.vertex_count();
    let mut chunk = Vec::with_capacity(REBUILD_CHUNK);
    let mut documents = 0;
    for v in 0..total as u32 {
        if let Some(doc) = document(graph, v) {
            chunk.push(doc);
        }
        if chunk.len() == REBUILD_CHUNK {
            documents += chunk.len();
            index.add_new(&chunk)?;
            chunk.clear();
            progress.update("search index", u64::from(v) + 1, total as u64);
        }
    }
    documents += chunk.len();
    index.add_new(&chunk)?;
    let position = graph.position();
    index.commit(position.seq, &position.hash)?;
    progress.update("search index", total as u64, total as u64);
    Ok(documents)
}

/// Reputation priors for ranking, from trust over the graph (see `search::rank`): a mask's
/// trust (0 when flagged as a likely sybil); a work's creator trust (its most trusted author);
/// a world's vitality (the trust of its members plus the creator trust of its works); a
/// proposal's author's trust.
pub fn priors(graph: &Graph, trust: &[f64], sybil: &[bool]) -> PriorTable {
    let n = graph.vertex_count().min(trust.len());
    // Vertices newer than the epoch have no score yet: 0.
    let mask_trust = |v: u32| {
        if sybil.get(v as usize).copied().unwrap_or(false) {
            0.0
        } else {
            trust.get(v as usize).copied().unwrap_or(0.0)
        }
    };
    let mut masks = Vec::new();
    let mut works = Vec::new();
    let mut proposals = Vec::new();
    let mut listings = Vec::new();
    let mut talk = Vec::new();
    let mut vitality: std::collections::HashMap<u32, f64> = std::collections::HashMap::new();
    for v in 0..n as u32 {
        match graph.kind_at(v) {
            VertexKind::Mask => masks.push((graph.id_at(v), mask_trust(v))),
            VertexKind::Work => {
                let creator = graph.inn(EdgeKind::Authored, v).map(mask_trust).fold(0.0, f64::max);
                works.push((graph.id_at(v), creator));
                if let Some(world) = graph
                    .public_vertex(v)
                    .and_then(|view| view.props.iter().find(|(k, _)| *k == "world").and_then(|(_, w)| w.as_str()))
                    .and_then(|w| w.parse::<Id>().ok())
                    .and_then(|w| graph.index_of(w))
                {
                    *vitality.entry(world).or_default() += creator;
                }
            }
            VertexKind::World => {
                let members: f64 = graph.inn(EdgeKind::MemberOf, v).map(mask_trust).sum();
                *vitality.entry(v).or_default() += members;
            }
            VertexKind::Proposal => {
                let id = graph.id_at(v);
                let author = graph.governance().proposals.get(&id).and_then(|p| graph.index_of(p.spec.author));
                proposals.push((id, author.map_or(0.0, mask_trust)));
            }
            VertexKind::Thread | VertexKind::Post => {
                // A thread or post ranks by its writer's trust (a post also by reactions to
                // it: each adds a little of the reacting mask's trust).
                let writer = graph.inn(EdgeKind::Wrote, v).map(mask_trust).fold(0.0, f64::max);
                let reacted: f64 = graph.inn(EdgeKind::Reacted, v).map(mask_trust).sum();
                talk.push((graph.id_at(v), writer + 0.1 * reacted));
            }
            VertexKind::Listing => {
                // A listing ranks by its seller's trust.
                let id = graph.id_at(v);
                let seller = graph.economy().listings.get(&id).and_then(|l| graph.index_of(l.seller));
                listings.push((id, seller.map_or(0.0, mask_trust)));
            }
            _ => {}
        }
    }
    let worlds = vitality.into_iter().map(|(v, score)| (graph.id_at(v), score)).collect();
    PriorTable::from_groups(graph.position().seq, vec![masks, works, worlds, proposals, listings, talk])
}

/// Priors from a fresh trust computation on the graph (for the command line, which has no
/// running epoch).
pub fn priors_now(graph: &Graph) -> Result<PriorTable> {
    let seeds = reputation::curators(graph);
    let trust = reputation::trust(graph, &seeds, &reputation::TrustConfig::default())?;
    Ok(priors(graph, &trust.trust, &trust.sybil))
}

/// A running follower of the event stream (see [`follow`]).
pub struct Follower {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    errors: Arc<Mutex<Option<String>>>,
}

impl Follower {
    /// Stops following, after committing what was indexed.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// The last error the follower met, if any (it keeps going: the next commit retries).
    pub fn last_error(&self) -> Option<String> {
        self.errors.lock().clone()
    }
}

/// Keeps the index at the engine's position: catches up, then re-indexes the entities each
/// committed batch touches and commits every [`FOLLOW_COMMIT_EVERY`]. If it falls so far
/// behind that the stream drops batches, it rebuilds from the graph.
pub async fn follow(engine: Arc<Engine>, index: Arc<SearchIndex>) -> Result<Follower> {
    let mut stream = engine.subscribe();
    catch_up(&engine, &index, &graph_engine::NoProgress).await?;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let errors = Arc::new(Mutex::new(None));
    let last_error = errors.clone();
    let task = tokio::spawn(async move {
        let mut pending: HashSet<Id> = HashSet::new();
        let mut received: Option<u64> = None;
        let mut lagged = false;
        let mut tick = tokio::time::interval(FOLLOW_COMMIT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let finish = tokio::select! {
                message = stream.recv() => match message {
                    Ok(batch) => {
                        for event in &batch.events {
                            search::touched(event, |id| { pending.insert(id); });
                        }
                        received = Some(batch.first_seq + batch.events.len() as u64 - 1);
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => { lagged = true; continue; }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => true,
                },
                _ = tick.tick() => false,
                _ = stopped.changed() => true,
            };
            if lagged || received.is_some() {
                let result = flush(&engine, &index, std::mem::take(&mut pending), received.take(), lagged).await;
                lagged = false;
                if let Err(e) = &result {
                    tracing::error!(error = %e, "search index follower: the next commit retries");
                }
                *last_error.lock() = result.err().map(|e| e.to_string());
            }
            if finish {
                break;
            }
        }
    });
    Ok(Follower { stop, task, errors })
}

/// Indexes what the follower collected and commits it, stamped with the last sequence number
/// received (whose hash the log gives): the graph the documents come from is at least there.
async fn flush(
    engine: &Engine,
    index: &Arc<SearchIndex>,
    pending: HashSet<Id>,
    received: Option<u64>,
    lagged: bool,
) -> Result<()> {
    if lagged {
        let engine_index = index.clone();
        let graph = engine.read().clone();
        return tokio::task::spawn_blocking(move || {
            rebuild(&graph, &engine_index, &graph_engine::NoProgress).map(|_| ())
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
    }
    let Some(seq) = received else { return Ok(()) };
    let hash = engine.log().get(seq).await?.map(|r| r.hash).unwrap_or([0; 32]);
    let docs: Vec<(Id, Option<Doc>)> = {
        let graph = engine.read();
        with_posts(&graph, pending.into_iter().collect())
            .into_iter()
            .map(|id| (id, graph.index_of(id).and_then(|v| document(&graph, v))))
            .collect()
    };
    let index = index.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        for (id, doc) in docs {
            match doc {
                Some(doc) => index.upsert(&doc)?,
                None => index.remove(id)?,
            }
        }
        index.commit(seq, &hash)?;
        Ok(())
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?
}
