//! Replicas of one PostgreSQL log (`daira serve --replica-id N`): which one computes epochs,
//! the epochs they share, and who is running.
//!
//! One replica at a time computes epochs: the one holding a PostgreSQL session advisory lock
//! on a connection of its own. It writes each epoch it computes to the `epochs` table; every
//! other replica takes the newest one from there once it has applied the log through that
//! epoch's cut (and checked the cut's hash against its own log), so all of them serve the same
//! epochs. When the leader's connection goes (the process died, the network broke), PostgreSQL
//! releases the lock and another replica takes it within a tick; a replica that finds its lock
//! connection broken stops computing at once. Every replica also says, once a tick, where it
//! listens, how far it has applied the log and whether it leads, in the `replicas` table that
//! `daira replicas` reads.

use graph_engine::Engine;
use reputation::{Epochs, ScoreSet};
use sqlx::PgPool;
use sqlx::postgres::PgConnection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// The advisory lock whose holder computes epochs ("DAIRE" in ASCII).
const EPOCH_LOCK: i64 = 0x0044_4149_5245;
/// How often a replica checks its lock, publishes or adopts epochs, and says it is alive.
pub const TICK: Duration = Duration::from_secs(1);

const EPOCHS_TABLE: &str = "CREATE TABLE IF NOT EXISTS epochs (
    number BIGINT PRIMARY KEY,
    log_seq BIGINT NOT NULL,
    computed_by INTEGER NOT NULL,
    body BYTEA NOT NULL
)";

const REPLICAS_TABLE: &str = "CREATE TABLE IF NOT EXISTS replicas (
    id INTEGER PRIMARY KEY,
    listen TEXT NOT NULL,
    applied_seq BIGINT NOT NULL,
    leader BOOLEAN NOT NULL,
    started_ms BIGINT NOT NULL,
    seen_ms BIGINT NOT NULL
)";

/// The replicas' tables (`daira migrate` makes them with the accounts').
pub(crate) const TABLES: [(&str, &str); 2] = [("epochs", EPOCHS_TABLE), ("replicas", REPLICAS_TABLE)];

/// Creates the replicas' tables where the accounts live (the connection's search path), those
/// missing only: a role that may not create tables serves on tables `daira migrate` made.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    for (name, sql) in TABLES {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(name).fetch_one(pool).await?;
        if !exists {
            sqlx::query(sql).execute(pool).await?;
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What one replica's loop works with.
pub struct Replica {
    /// This replica's id.
    pub id: u16,
    /// Where its API listens (for `daira replicas`).
    pub listen: String,
    /// The accounts' PostgreSQL pool (the replicas' tables live beside the accounts).
    pub pool: PgPool,
    /// The engine, to know how far the log is applied and to judge with adopted epochs.
    pub engine: Arc<Engine>,
    /// The epochs this replica serves.
    pub epochs: Arc<Epochs>,
    /// How many epochs to keep.
    pub keep: usize,
    /// Up while this replica holds the epoch lock: the epoch loop computes only then.
    pub leader: Arc<AtomicBool>,
}

/// Runs a replica's loop until `stop` turns true; `announce` says an adopted epoch's number.
pub async fn run(replica: Replica, announce: impl Fn(u64) + Send + 'static, mut stop: watch::Receiver<bool>) {
    let started = now_ms();
    let mut lock: Option<PgConnection> = None;
    let mut published = replica.epochs.latest().map_or(0, |e| e.number);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|&s| s) => break,
        }
        lead(&replica, &mut lock).await;
        let outcome = if replica.leader.load(Ordering::Acquire) {
            publish(&replica, &mut published).await.map_err(Into::into)
        } else {
            adopt(&replica, &announce).await
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "replica epochs");
        }
        let beat = sqlx::query(
            "INSERT INTO replicas (id, listen, applied_seq, leader, started_ms, seen_ms) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET listen = $2, applied_seq = $3, leader = $4, started_ms = $5, seen_ms = $6",
        )
        .bind(i32::from(replica.id))
        .bind(&replica.listen)
        .bind(replica.engine.applied_seq() as i64)
        .bind(replica.leader.load(Ordering::Acquire))
        .bind(started)
        .bind(now_ms())
        .execute(&replica.pool)
        .await;
        if let Err(e) = beat {
            tracing::warn!(error = %e, "replica heartbeat");
        }
    }
    replica.leader.store(false, Ordering::Release);
}

/// Takes the epoch lock when free, and lets it go (stops leading) when its connection broke.
async fn lead(replica: &Replica, lock: &mut Option<PgConnection>) {
    if let Some(connection) = lock {
        // Still ours while the connection that holds it answers.
        if sqlx::query("SELECT 1").execute(&mut *connection).await.is_ok() {
            return;
        }
        *lock = None;
        replica.leader.store(false, Ordering::Release);
        tracing::warn!(replica = replica.id, "lost the epoch lock: no longer computing epochs");
    }
    let Ok(pooled) = replica.pool.acquire().await else { return };
    let mut connection = pooled.detach();
    let won: Result<bool, _> =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(EPOCH_LOCK).fetch_one(&mut connection).await;
    if won.is_ok_and(|won| won) {
        tracing::info!(replica = replica.id, "took the epoch lock: computing epochs");
        *lock = Some(connection);
        replica.leader.store(true, Ordering::Release);
    }
}

/// The leader writes the epochs it computed since the last tick.
async fn publish(replica: &Replica, published: &mut u64) -> Result<(), sqlx::Error> {
    let Some(latest) = replica.epochs.latest() else { return Ok(()) };
    if latest.number <= *published {
        return Ok(());
    }
    let body = latest.to_bytes().map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO epochs (number, log_seq, computed_by, body) VALUES ($1, $2, $3, $4) ON CONFLICT (number) DO NOTHING",
    )
    .bind(latest.number as i64)
    .bind(latest.position.seq as i64)
    .bind(i32::from(replica.id))
    .bind(body)
    .execute(&replica.pool)
    .await?;
    let oldest = latest.number.saturating_sub(replica.keep.max(1) as u64 - 1);
    sqlx::query("DELETE FROM epochs WHERE number < $1").bind(oldest as i64).execute(&replica.pool).await?;
    *published = latest.number;
    Ok(())
}

/// Another replica leads: take its newest epoch once this one has applied the log through it.
async fn adopt(replica: &Replica, announce: &impl Fn(u64)) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let ours = replica.epochs.latest().map_or(0, |e| e.number);
    let newest: Option<(i64, i64, Vec<u8>)> =
        sqlx::query_as("SELECT number, log_seq, body FROM epochs WHERE number > $1 ORDER BY number DESC LIMIT 1")
            .bind(ours as i64)
            .fetch_optional(&replica.pool)
            .await?;
    let Some((number, log_seq, body)) = newest else { return Ok(()) };
    if replica.engine.applied_seq() < log_seq as u64 {
        // Not yet: the next tick looks again.
        return Ok(());
    }
    let set = ScoreSet::from_bytes(&body)?;
    // The cut must be this log's: the hash at that sequence number, as this replica has it.
    if set.number != number as u64 || !set.is_of(&replica.engine).await? {
        return Err(format!("epoch {number} in the shared table is not of this log").into());
    }
    if replica.epochs.adopt(set, replica.keep)? {
        if let Some(latest) = replica.epochs.latest() {
            replica.engine.set_reputation(latest);
        }
        tracing::info!(epoch = number, log_seq, "epoch adopted from the leader");
        announce(number as u64);
    }
    Ok(())
}

/// One replica as the `replicas` table last heard of it.
#[derive(Debug, serde::Serialize)]
pub struct Seen {
    /// Its id.
    pub id: u16,
    /// Where its API listens.
    pub listen: String,
    /// How far it had applied the log.
    pub applied_seq: u64,
    /// Whether it computed the epochs.
    pub leader: bool,
    /// When it started (ms since the Unix epoch).
    pub started_ms: i64,
    /// When it last said so (ms since the Unix epoch).
    pub seen_ms: i64,
}

/// The replicas that ever ran on the log of `url` and `pg_schema` (`daira replicas`).
pub async fn list(url: &str, pg_schema: Option<&str>) -> anyhow::Result<Vec<Seen>> {
    let (pool, _) = crate::auth::connect_accounts(url, pg_schema).await?;
    migrate(&pool).await?;
    let rows: Vec<(i32, String, i64, bool, i64, i64)> =
        sqlx::query_as("SELECT id, listen, applied_seq, leader, started_ms, seen_ms FROM replicas ORDER BY id")
            .fetch_all(&pool)
            .await?;
    pool.close().await;
    Ok(rows
        .into_iter()
        .map(|(id, listen, applied, leader, started_ms, seen_ms)| Seen {
            id: id as u16,
            listen,
            applied_seq: applied as u64,
            leader,
            started_ms,
            seen_ms,
        })
        .collect())
}
