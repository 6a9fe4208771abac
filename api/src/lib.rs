//! The GraphQL API: `daira serve`. The only crate that knows HTTP, GraphQL and JSON on the
//! wire. Every change goes through the engine's one write path; every read through the
//! graph's public face.
//!
//! - [`gql`]: the schema (queries, mutations, subscriptions).
//! - [`http`]: GraphQL over HTTP (content negotiation, status codes, limits, rate limits),
//!   WebSockets, the explorer, `/healthz` and `/metrics`.
//! - [`auth`]: accounts (Argon2id) and sessions (opaque tokens, stored hashed).
//! - [`discovery`]: the search index kept at the log's position.

pub mod auth;
pub mod discovery;
pub mod error;
pub mod gql;
pub mod http;
pub mod ids;
pub mod log;
pub mod metrics;
pub mod ws;

use graph_engine::{Engine, EngineConfig, Graph, Progress};
use parking_lot::Mutex;
use reputation::{Epochs, RecomputePolicy, ScoreSet};
use schema::{Id, VertexKind};
use search::{Blend, PriorTable, SearchIndex};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// How `daira serve` runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The engine (data directory, log URL).
    pub engine: EngineConfig,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Request limits.
    pub limits: http::Limits,
    /// When to compute a new score epoch.
    pub epochs: RecomputePolicy,
    /// How long sessions last.
    pub session_ttl: Duration,
}

/// Lists kept per log position (recomputed when the graph moves).
pub struct Listing {
    seq: u64,
    /// Listed masks (public, creator, citizen; not hidden), by handle.
    pub masks: Vec<u32>,
    /// Worlds not hidden, oldest first.
    pub worlds: Vec<u32>,
    /// Works not hidden, oldest first.
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
                VertexKind::Work if !gql::hidden(graph, v) => {
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

/// Everything the resolvers and handlers share.
pub struct State {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The search index.
    pub index: Arc<SearchIndex>,
    /// Score epochs.
    pub epochs: Arc<Epochs>,
    /// Accounts and sessions.
    pub auth: auth::AuthStore,
    /// Global ids.
    pub ids: ids::GlobalIds,
    /// Counters.
    pub metrics: metrics::Metrics,
    epoch_numbers: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
    /// Shared subscription streams.
    pub hub: Arc<ws::Hub>,
    listing: Mutex<Option<Arc<Listing>>>,
    priors: Mutex<Option<(u64, Arc<PriorTable>)>>,
    cluster_order: Mutex<Option<(u64, Arc<Vec<u32>>)>>,
    trust_sorted: Mutex<Option<(u64, Arc<Vec<f64>>)>>,
}

impl State {
    /// The lists at the graph's current position.
    pub fn listing(&self) -> Arc<Listing> {
        let seq = self.engine.read().position().seq;
        if let Some(listing) = self.listing.lock().as_ref().filter(|l| l.seq == seq) {
            return listing.clone();
        }
        let listing = Arc::new(Listing::of(&self.engine.read()));
        *self.listing.lock() = Some(listing.clone());
        listing
    }

    /// The works of a world.
    pub fn works_of_world(&self, world: Id) -> Vec<u32> {
        self.listing().works_by_world.get(&world).cloned().unwrap_or_default()
    }

    /// Communities of an epoch, largest first.
    pub fn cluster_order(&self, set: &ScoreSet) -> Arc<Vec<u32>> {
        let mut cached = self.cluster_order.lock();
        if let Some((n, order)) = cached.as_ref()
            && *n == set.number
        {
            return order.clone();
        }
        let graph = self.engine.read();
        let mut sizes = vec![0usize; set.clusters.count as usize];
        for (v, &c) in set.clusters.community.iter().enumerate().take(graph.vertex_count()) {
            if graph.kind_at(v as u32) == VertexKind::Mask {
                sizes[c as usize] += 1;
            }
        }
        let mut order: Vec<u32> = (0..set.clusters.count).filter(|&c| sizes[c as usize] > 0).collect();
        order.sort_by(|&a, &b| sizes[b as usize].cmp(&sizes[a as usize]).then(a.cmp(&b)));
        let order = Arc::new(order);
        *cached = Some((set.number, order.clone()));
        order
    }

    /// A mask's trust as a percentile among masks, 0..=100.
    pub fn trust_percentile(&self, set: &ScoreSet, v: u32) -> f64 {
        let sorted = {
            let mut cached = self.trust_sorted.lock();
            match cached.as_ref() {
                Some((n, sorted)) if *n == set.number => sorted.clone(),
                _ => {
                    let graph = self.engine.read();
                    let mut values: Vec<f64> = (0..set.trust.trust.len().min(graph.vertex_count()))
                        .filter(|&u| graph.kind_at(u as u32) == VertexKind::Mask)
                        .map(|u| set.trust.trust[u])
                        .collect();
                    values.sort_by(f64::total_cmp);
                    let sorted = Arc::new(values);
                    *cached = Some((set.number, sorted.clone()));
                    sorted
                }
            }
        };
        let t = set.trust.trust.get(v as usize).copied().unwrap_or(0.0);
        if sorted.is_empty() {
            return 0.0;
        }
        let below = sorted.partition_point(|&x| x < t);
        100.0 * below as f64 / sorted.len() as f64
    }

    /// Searches with the latest epoch's reputation priors.
    pub async fn search(&self, request: search::Request) -> Result<Vec<search::Hit>, error::ApiError> {
        let priors = match self.epochs.latest() {
            Some(set) => {
                let mut cached = self.priors.lock();
                match cached.as_ref() {
                    Some((n, p)) if *n == set.number => Some(p.clone()),
                    _ => {
                        let p = Arc::new(discovery::priors(&self.engine.read(), &set.trust.trust, &set.trust.sybil));
                        *cached = Some((set.number, p.clone()));
                        Some(p)
                    }
                }
            }
            None => None,
        };
        let result = match &priors {
            Some(p) => self.index.search(&request, p.as_ref(), &Blend::default()),
            None => self.index.search(&request, &search::NoSignals, &Blend::default()),
        };
        result.map_err(|e| match e {
            search::Error::Query(message) => error::ApiError::new(error::Code::BadUserInput, message).field("query"),
            other => error::ApiError::internal("search", other),
        })
    }

    /// Epoch numbers as they are published.
    pub fn epoch_numbers(&self) -> watch::Receiver<u64> {
        self.epoch_numbers.subscribe()
    }

    /// Resolves when the server is shutting down.
    pub fn shutdown_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static + use<> {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|&stop| stop).await;
        }
    }
}

/// How often expired sessions are deleted while the server runs.
const SESSION_SWEEP: Duration = Duration::from_secs(3600);

/// Deletes expired sessions (they open nothing; this only reclaims their rows).
async fn sweep_sessions(auth: &auth::AuthStore) {
    match auth.sweep().await {
        Ok(0) => {}
        Ok(n) => log::info("expired sessions removed", json!({"sessions": n})),
        Err(e) => log::warn("sweeping expired sessions", json!({"error": e.to_string()})),
    }
}

/// Sweeps expired sessions every [`SESSION_SWEEP`] until shutdown (the first sweep ran at
/// startup).
fn spawn_session_sweeper(state: Arc<State>) {
    let shutdown = state.shutdown_signal();
    tokio::spawn(async move {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + SESSION_SWEEP, SESSION_SWEEP);
        loop {
            tokio::select! {
                _ = tick.tick() => sweep_sessions(&state.auth).await,
                _ = &mut shutdown => return,
            }
        }
    });
}

/// The epochs kept in `dir` from earlier runs, those computed from another log left out: an
/// epoch is kept only if this log holds its position with the same chain hash. Files that
/// cannot be read, and epochs of another log, are logged and set aside.
async fn open_epochs(engine: &Engine, dir: &std::path::Path, keep: usize) -> anyhow::Result<Epochs> {
    use graph_engine::EventLog;
    let (epochs, unreadable) = Epochs::open(dir, keep)?;
    for reason in unreadable {
        log::error("epoch file left out", &reason);
    }
    let head = engine.read().position();
    for number in epochs.numbers() {
        let Some(set) = epochs.get(number) else { continue };
        let at = set.position;
        let ours = if at.seq == 0 {
            Some([0u8; 32])
        } else if at.seq <= head.seq {
            engine.log().get(at.seq).await?.map(|record| record.hash)
        } else {
            None
        };
        if ours != Some(at.hash) {
            log::error("epoch of another log discarded", &format!("epoch {number} at log position {}", at.seq));
            epochs.discard(number)?;
        }
    }
    if let Some(latest) = epochs.latest() {
        log::info("epochs loaded", json!({"epochs": epochs.numbers(), "latest_log_seq": latest.position.seq}));
    }
    Ok(epochs)
}

/// Computes epochs in the background: the first at once (unless the newest kept one is of the
/// log's head already), then whenever `policy.min_events` events have been committed and
/// `policy.min_interval` has passed.
fn spawn_epochs(state: Arc<State>, policy: RecomputePolicy) -> tokio::task::JoinHandle<()> {
    let mut commits = state.engine.subscribe();
    let mut stop = state.shutdown.subscribe();
    let current = state.epochs.latest().is_some_and(|e| e.position == state.engine.read().position());
    tokio::spawn(async move {
        let mut pending = if current { 0 } else { u64::MAX };
        let mut last: Option<Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            let due = pending >= policy.min_events && last.is_none_or(|t| t.elapsed() >= policy.min_interval);
            if due {
                pending = 0;
                last = Some(Instant::now());
                let (engine, epochs) = (state.engine.clone(), state.epochs.clone());
                let computed =
                    tokio::task::spawn_blocking(move || reputation::compute_now(&engine, &epochs, &policy)).await;
                match computed {
                    Ok(Ok(set)) => {
                        log::info(
                            "epoch computed",
                            json!({"epoch": set.number, "log_seq": set.position.seq, "ms": set.elapsed.as_millis() as u64,
                                   "clusters": set.clusters.count, "modularity": set.clusters.modularity}),
                        );
                        let _ = state.epoch_numbers.send(set.number);
                    }
                    Ok(Err(e)) => log::error("epoch", &e.to_string()),
                    Err(e) => log::error("epoch", &e.to_string()),
                }
            }
            tokio::select! {
                message = commits.recv() => match message {
                    Ok(batch) => pending = pending.saturating_add(batch.events.len() as u64),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => pending = pending.saturating_add(n),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {}
                _ = stop.wait_for(|&s| s) => return,
            }
        }
    })
}

/// Runs the server until SIGTERM or Ctrl-C. `ready` is called with the bound address.
pub async fn serve(config: ServeConfig, progress: &dyn Progress, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    use anyhow::Context;
    let started = Instant::now();
    let engine = Arc::new(
        Engine::open(&config.engine, progress)
            .await
            .with_context(|| format!("opening {}", config.engine.data_dir.display()))?,
    );
    let auth = auth::AuthStore::open(
        &config.engine.data_dir,
        config.engine.database_url.as_deref(),
        config.engine.pg_schema.as_deref(),
        config.session_ttl,
    )
    .await
    .context("opening the account store")?;
    let key = auth.secret("global-ids").await.context("reading the id key")?;
    sweep_sessions(&auth).await;
    let index = Arc::new(discovery::open_index(&discovery::index_dir(&config.engine.data_dir))?);
    let follower = discovery::follow(engine.clone(), index.clone()).await?;
    let epochs = open_epochs(&engine, &config.engine.data_dir.join("epochs"), config.epochs.keep).await?;
    let (epoch_numbers, _) = watch::channel(epochs.latest().map_or(0, |e| e.number));
    let (shutdown, _) = watch::channel(false);
    let state = Arc::new(State {
        engine: engine.clone(),
        index,
        epochs: Arc::new(epochs),
        auth,
        ids: ids::GlobalIds::new(key),
        metrics: metrics::Metrics::default(),
        epoch_numbers,
        shutdown,
        hub: Arc::default(),
        listing: Mutex::new(None),
        priors: Mutex::new(None),
        cluster_order: Mutex::new(None),
        trust_sorted: Mutex::new(None),
    });
    let epochs = spawn_epochs(state.clone(), config.epochs);
    spawn_session_sweeper(state.clone());
    let app = http::router(
        state.clone(),
        gql::build(state.clone(), false),
        gql::build(state.clone(), true),
        config.limits.clone(),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    {
        let graph = engine.read();
        log::info(
            "listening",
            json!({"addr": addr.to_string(), "graphql": format!("http://{addr}/graphql"), "log_seq": graph.position().seq,
                   "vertices": graph.vertex_count(), "startup_ms": started.elapsed().as_millis() as u64}),
        );
    }
    ready(addr);
    let stop_state = state.clone();
    // No Nagle delay: responses and subscription events are small and latency matters.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_requested().await;
            log::info("shutting down", json!({"websockets": stop_state.metrics.websockets()}));
            let _ = stop_state.shutdown.send(true);
        })
        .await?;
    let _ = state.shutdown.send(true);
    let _ = epochs.await;
    follower.stop().await;
    drop(state);
    // Every acknowledged mutation is durable already; this lets the writer finish what it
    // accepted and closes the log cleanly.
    match Arc::try_unwrap(engine) {
        Ok(engine) => engine.shutdown().await,
        Err(_) => log::warn("engine still shared at shutdown; the log closes with the process", json!({})),
    }
    log::info("stopped", json!({}));
    Ok(())
}

async fn shutdown_requested() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
