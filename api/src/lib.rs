//! The GraphQL API: `daira serve`. The only crate that knows HTTP, GraphQL and JSON on the
//! wire. Every change goes through the engine's one write path; every read through the
//! graph's public face.
//!
//! - [`gql`]: the schema (queries, mutations, subscriptions).
//! - [`http`]: GraphQL over HTTP (content negotiation, status codes, limits, rate limits),
//!   WebSockets, the explorer, `/healthz` and `/metrics`.
//! - [`auth`]: accounts (Argon2id) and sessions (opaque tokens, stored hashed).
//! - [`State`]: what every resolver and handler shares; [`caches`]: views derived from the graph
//!   and the epochs, and when each is rebuilt.
//! - [`error`]: the error codes, and [`error::ApiError`], the one error type, which is also an
//!   HTTP response.
//!
//! [`serve`] wires them to the engine, the search index (`discovery`) and the epoch loop
//! (`reputation::spawn_epochs`); nothing here computes scores or indexes documents.

pub mod auth;
pub mod caches;
pub mod console;
pub mod error;
pub mod export;
pub mod gql;
pub mod http;
pub mod ids;
pub mod keys;
pub mod listen;
pub mod messages;
pub mod metrics;
pub mod ratelimit;
pub mod replica;
pub mod socket;
mod state;
pub mod ws;

pub use state::State;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

use graph_engine::{Engine, EngineConfig, Progress};
use reputation::{Epochs, RecomputePolicy};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How `daira serve` runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The engine (data directory, log URL).
    pub engine: EngineConfig,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Request limits.
    pub limits: http::Limits,
    /// The key file (default: `keys.json` in the data directory).
    pub key_file: Option<std::path::PathBuf>,
    /// Where `/healthz` and `/metrics` answer, apart from the API (None: beside it).
    pub admin_listen: Option<SocketAddr>,
    /// Connection limits (header timeout, caps in all and per address).
    pub connections: listen::ConnectionLimits,
    /// When to compute a new score epoch.
    pub epochs: RecomputePolicy,
    /// How long sessions last.
    pub session_ttl: Duration,
    /// How long an erased account's handles stay held before others may take them.
    pub handle_cooling_off: Duration,
    /// The platform's fee on sales, in basis points (at most 2000).
    pub fee_bp: u16,
    /// Keep the rate limits in this Redis (`redis://…`), shared by every replica.
    pub redis_url: Option<String>,
}

/// How often expired sessions are deleted while the server runs.
const SESSION_SWEEP: Duration = Duration::from_secs(3600);

/// Deletes expired sessions (they open nothing; this only reclaims their rows).
async fn sweep_sessions(auth: &auth::AuthStore) {
    match auth.sweep().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(sessions = n, "expired sessions removed"),
        Err(e) => tracing::warn!(error = %e, "sweeping expired sessions"),
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

/// How often the governance clock looks for proposals due to close.
const GOVERNANCE_TICK: Duration = Duration::from_secs(1);
/// The most proposals the clock closes in one tick (the rest wait for the next).
const CLOSES_PER_TICK: usize = 256;

/// The governance clock: snapshots the REPUTATION weights of proposals that open now
/// (`Command::OpenProposal`), and closes every proposal whose voting time is over, within a
/// tick of `closesAt`, through the write path (`Command::CloseProposal`), so its result is
/// recorded in the log and a passed rules proposal takes effect. Ends when `stop` turns true.
fn spawn_governance_clock(engine: Arc<Engine>, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(GOVERNANCE_TICK);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|&s| s) => return,
            }
            let now = now_ms();
            let pending = schema::governance::Weighting::Reputation { epoch: schema::governance::NOT_SNAPSHOTTED };
            let (opening, due): (Vec<schema::Id>, Vec<schema::Id>) = {
                let graph = engine.read();
                let open = graph.governance().proposals.iter().filter(|(_, p)| p.closed.is_none());
                let opening = open
                    .clone()
                    .filter(|(_, p)| p.spec.weighting == pending && p.spec.opens_at_ms <= now)
                    .map(|(&id, _)| id)
                    .take(CLOSES_PER_TICK)
                    .collect();
                let due =
                    open.filter(|(_, p)| p.spec.closes_at_ms <= now).map(|(&id, _)| id).take(CLOSES_PER_TICK).collect();
                (opening, due)
            };
            // Proposals made to open later get their REPUTATION weights as they open.
            for proposal in opening {
                match engine.execute(schema::Command::OpenProposal { proposal }).await {
                    Ok(receipt) => tracing::info!(proposal = %proposal, seq = receipt.last_seq, "proposal opened"),
                    Err(graph_engine::Error::Rejected(schema::Rejection::AlreadyDone { .. })) => {}
                    Err(e) => tracing::warn!(proposal = %proposal, error = %e, "opening a proposal"),
                }
            }
            for proposal in due {
                match engine.execute(schema::Command::CloseProposal { proposal }).await {
                    Ok(receipt) => tracing::info!(proposal = %proposal, seq = receipt.last_seq, "proposal closed"),
                    // Closed already (someone asked first): nothing to do.
                    Err(graph_engine::Error::Rejected(schema::Rejection::AlreadyDone { .. })) => {}
                    Err(e) => tracing::warn!(proposal = %proposal, error = %e, "closing a proposal"),
                }
            }
            // The economy's clock: pending transfers past their timeout are voided, and
            // milestones past their grace period settle (refunded undelivered, paid delivered).
            let settling = {
                let graph = engine.read();
                let economy = graph.economy();
                (economy.ledger.expired(now, usize::MAX).len(), economy.lapsed(now, usize::MAX).len())
            };
            if settling != (0, 0) {
                match engine.execute(schema::Command::Tick).await {
                    Ok(receipt) => tracing::info!(
                        transfers = settling.0,
                        milestones = settling.1,
                        seq = receipt.last_seq,
                        "economy clock settled what was due"
                    ),
                    Err(e) => tracing::warn!(error = %e, "settling what the economy's clock says is due"),
                }
            }
        }
    })
}

/// The most cases the governance AI opens after one epoch.
const FLAGS_PER_EPOCH: usize = 200;

/// The governance AI: after each epoch, looks over a copy of the graph with that epoch's trust
/// (`reputation::patrol`) and flags what it finds to the world's moderators — one case per mask
/// and world, with every pattern's evidence — through the write path. A mask already flagged or
/// under an action in that world is not flagged again. It never decides: a moderator acts on
/// a flagged case (`moderate` naming it) or leaves it.
fn spawn_patrol(state: Arc<State>) -> tokio::task::JoinHandle<()> {
    let mut numbers = state.epoch_numbers();
    let mut stop = state.shutdown.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = numbers.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|&s| s) => return,
            }
            let number = *numbers.borrow_and_update();
            let Some(set) = state.epochs.get(number) else { continue };
            let engine = state.engine.clone();
            let flags = tokio::task::spawn_blocking(move || {
                let graph = engine.read().clone();
                flags_of(&graph, &set)
            })
            .await
            .unwrap_or_default();
            let mut opened = 0;
            for Flag { world, target, rule, reason, evidence } in flags.into_iter().take(FLAGS_PER_EPOCH) {
                let case = state.engine.new_id();
                let command = schema::Command::FlagCase { case, world, target, rule, reason, evidence };
                match state.engine.execute(command).await {
                    Ok(_) => opened += 1,
                    Err(e) => tracing::warn!(error = %e, "flagging a case"),
                }
            }
            if opened > 0 {
                tracing::info!(epoch = number, cases = opened, "the governance AI flagged cases for moderators");
            }
        }
    })
}

/// A case the governance AI opens.
struct Flag {
    world: schema::Id,
    target: schema::Id,
    rule: String,
    reason: String,
    evidence: Vec<String>,
}

/// The patterns found about one mask in one world, and their evidence.
type Patterns = (Vec<&'static str>, Vec<String>);

/// What the patrol found on `graph` with `set`'s trust, as flags: one per mask and world not
/// already flagged or acted on there.
fn flags_of(graph: &graph_engine::Graph, set: &reputation::ScoreSet) -> Vec<Flag> {
    use std::collections::BTreeMap;
    let findings = reputation::patrol(graph, &set.trust, &reputation::PatrolConfig::default());
    let mut by_mask: BTreeMap<(u32, u32), Patterns> = BTreeMap::new();
    for finding in &findings {
        let Some(world) = finding.world else { continue };
        for &m in &finding.masks {
            if graph.out(schema::EdgeKind::MemberOf, m).all(|w| w != world) {
                continue;
            }
            let entry = by_mask.entry((world, m)).or_default();
            if !entry.0.contains(&finding.pattern.rule()) {
                entry.0.push(finding.pattern.rule());
                entry.1.extend(finding.evidence.iter().cloned());
            }
        }
    }
    let governance = graph.governance();
    let known: std::collections::HashSet<(schema::Id, schema::Id)> = governance
        .cases
        .values()
        .filter(|c| c.status != schema::governance::CaseStatus::Overturned)
        .map(|c| (c.world, c.target))
        .collect();
    by_mask
        .into_iter()
        .map(|((w, m), (rules, mut evidence))| {
            evidence.truncate(schema::governance::EVIDENCE_LINES_MAX);
            let rule = rules.join("; ");
            let reason = format!("the governance AI found: {rule}. A moderator decides; nothing is done until then.");
            Flag { world: graph.id_at(w), target: graph.id_at(m), rule, reason, evidence }
        })
        .filter(|f| !known.contains(&(f.world, f.target)))
        .collect()
}

/// Runs the server until SIGTERM or Ctrl-C.
/// `ready` is called with the bound address, and the admin address when there is one.
pub async fn serve(
    config: ServeConfig,
    progress: &dyn Progress,
    ready: impl FnOnce(SocketAddr, Option<SocketAddr>),
) -> anyhow::Result<()> {
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
    let messages = messages::MessageStore::open(&config.engine.data_dir, auth.postgres())
        .await
        .context("opening the message store")?;
    let key_file = config.key_file.clone().unwrap_or_else(|| config.engine.data_dir.join(keys::DEFAULT_FILE));
    let server_keys = Arc::new(keys::Keys::load(&key_file, &auth).await?);
    let key = server_keys.id_key();
    sweep_sessions(&auth).await;
    let index = Arc::new(discovery::open_index(&discovery::index_dir(&config.engine.data_dir))?);
    let follower = discovery::follow(engine.clone(), index.clone()).await?;
    let epochs = Arc::new(Epochs::open_for(&engine, &config.engine.data_dir.join("epochs"), config.epochs.keep).await?);
    let (shutdown, stopping) = watch::channel(false);
    // Replicas elect one epoch computer; the others adopt its epochs (see `replica`).
    let replica_pool = if config.engine.follow { auth.postgres() } else { None };
    if let Some(pool) = &replica_pool {
        replica::migrate(pool).await.context("creating the replicas' tables")?;
    }
    let epoch_leader = replica_pool.as_ref().map(|_| Arc::new(std::sync::atomic::AtomicBool::new(false)));
    let epoch_loop =
        reputation::spawn_epochs(engine.clone(), epochs.clone(), config.epochs, epoch_leader.clone(), stopping);
    let state = Arc::new(State {
        engine: engine.clone(),
        index,
        epochs,
        auth,
        messages,
        ids: ids::GlobalIds::new(key),
        keys: server_keys,
        handle_cooling_off: config.handle_cooling_off,
        fee_bp: config.fee_bp.min(schema::economy::FEE_MAX_BP),
        metrics: metrics::Metrics::default(),
        caches: caches::Caches::default(),
        hub: Arc::default(),
        replica_id: config.engine.follow.then_some(config.engine.node),
        epoch_leader: epoch_leader.clone(),
        epoch_numbers: epoch_loop.numbers(),
        shutdown,
    });
    spawn_session_sweeper(state.clone());
    let clock = spawn_governance_clock(engine.clone(), state.shutdown.subscribe());
    let patrol = spawn_patrol(state.clone());
    let shared_limits = match &config.redis_url {
        Some(url) => {
            let namespace = config.engine.pg_schema.as_deref().unwrap_or("daira");
            let shared = ratelimit::SharedLimits::connect(url, namespace)
                .await
                .with_context(|| format!("connecting to Redis for the shared rate limits ({url})"))?;
            tracing::info!(namespace, "rate limits shared through Redis");
            Some(Arc::new(shared))
        }
        None => None,
    };
    let (app, admin) = http::router(
        state.clone(),
        gql::build(state.clone(), false),
        gql::build(state.clone(), true),
        config.limits.clone(),
        config.admin_listen.is_some(),
        shared_limits,
    );
    let drain = config.limits.request_timeout + Duration::from_secs(5);
    let admin_addr = match config.admin_listen {
        Some(at) => {
            let listener =
                tokio::net::TcpListener::bind(at).await.with_context(|| format!("listening (admin) on {at}"))?;
            let addr = listener.local_addr()?;
            // An operator's few scrapers: a small cap, the same header timeout.
            let limits =
                listen::ConnectionLimits { connections_max: 64, connections_per_ip: 64, ..config.connections.clone() };
            tokio::spawn(listen::serve(listener, admin, limits, state.shutdown.subscribe(), drain));
            tracing::info!(addr = %addr, "admin listening (/healthz, /metrics)");
            Some(addr)
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    {
        let graph = engine.read();
        tracing::info!(
            addr = %addr,
            graphql = %format_args!("http://{addr}/graphql"),
            log_seq = graph.position().seq,
            vertices = graph.vertex_count(),
            startup_ms = started.elapsed().as_millis() as u64,
            "listening"
        );
    }
    let replication = match (replica_pool, epoch_leader) {
        (Some(pool), Some(leader)) => Some(tokio::spawn(replica::run(
            replica::Replica {
                id: config.engine.node,
                listen: addr.to_string(),
                pool,
                engine: engine.clone(),
                epochs: state.epochs.clone(),
                keep: config.epochs.keep,
                leader,
            },
            epoch_loop.announcer(),
            state.shutdown.subscribe(),
        ))),
        _ => None,
    };
    ready(addr, admin_addr);
    let stop_state = state.clone();
    tokio::spawn(async move {
        shutdown_requested().await;
        tracing::info!(websockets = stop_state.metrics.websockets(), "shutting down");
        let _ = stop_state.shutdown.send(true);
    });
    listen::serve(listener, app, config.connections.clone(), state.shutdown.subscribe(), drain).await;
    let _ = state.shutdown.send(true);
    epoch_loop.join().await;
    if let Some(replication) = replication {
        let _ = replication.await;
    }
    let _ = clock.await;
    let _ = patrol.await;
    follower.stop().await;
    drop(state);
    // Every acknowledged mutation is durable already; this lets the writer finish what it
    // accepted and closes the log cleanly.
    match Arc::try_unwrap(engine) {
        Ok(engine) => engine.shutdown().await,
        Err(_) => tracing::warn!("engine still shared at shutdown; the log closes with the process"),
    }
    tracing::info!("stopped");
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
