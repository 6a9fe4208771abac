//! The PostgreSQL event log, chosen by a `postgres://` URL. Writers (replicas, each its own
//! process) append one at a time under a transaction-scoped advisory lock; an append that does
//! not follow the head is refused (`Error::Conflict`); every append is one transaction, durable
//! on commit, and notifies the log's channel so that the other replicas follow at once.

use super::{LogWriter, Pool, Reads, Record, change_keyring, check_follows, read_through};
use crate::seal::KeyringChange;
use crate::{Error, Result};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// The PostgreSQL backend.
pub(crate) struct PostgresLog {
    pool: PgPool,
    pub(super) reads: Reads,
    describe: String,
    /// The channel every append notifies (with its last sequence number) when it commits:
    /// `daira_log_` and the schema, so that logs in other schemas of one database do not wake
    /// each other's followers.
    channel: String,
}

/// Advisory lock key that marks the single writer ("DAIRA" in ASCII).
const WRITER_LOCK: i64 = 0x0044_4149_5241;

/// A PostgreSQL identifier DAIRA creates (a schema, a role): `[a-z0-9_]`, so that it needs
/// no quoting rules and cannot smuggle SQL.
pub fn check_identifier(what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 63
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Error::Config(format!("{what} name {name:?} must be 1 to 63 characters of a-z, 0-9 and _")));
    }
    Ok(())
}

/// Runs one statement built from checked identifiers.
async fn run(pool: &PgPool, statement: String) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(statement)).execute(pool).await?;
    Ok(())
}

/// Whether a schema exists.
pub async fn schema_exists(pool: &PgPool, schema: &str) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(pool)
        .await?)
}

/// Whether a table exists where the connection's search_path finds it.
pub async fn table_exists(pool: &PgPool, table: &str) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(table).fetch_one(pool).await?)
}

const EVENTS_TABLE: &str = "CREATE TABLE IF NOT EXISTS events (
    seq BIGINT PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    payload BYTEA NOT NULL,
    hash BYTEA NOT NULL
)";

const KEYRING_TABLE: &str = "CREATE TABLE IF NOT EXISTS keyring (
    id BYTEA PRIMARY KEY,
    wrapped BYTEA NOT NULL
)";

/// Connects to `url`, with `schema` first on the search_path when given.
async fn connect(url: &str, schema: Option<&str>) -> Result<PgPool> {
    let mut options = PgConnectOptions::from_str(url)?;
    if let Some(schema) = schema {
        if !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::Config(format!("schema name {schema:?} must be [A-Za-z0-9_]")));
        }
        options = options.options([("search_path", schema)]);
    }
    Ok(PgPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(10)).connect_with(options).await?)
}

/// Creates the log's schema and table as the connection's role (their owner), and, given a
/// `serve_role`, creates that role (LOGIN, no password: the server's pg_hba decides how it
/// signs in) and lets it only read and append: SELECT and INSERT on the events table, never
/// UPDATE, DELETE or TRUNCATE; on the keyring, SELECT, INSERT and DELETE (an erasure
/// shreds a key by deleting it). `daira migrate` runs this.
pub async fn migrate(url: &str, schema: Option<&str>, serve_role: Option<&str>) -> Result<()> {
    let pool = connect(url, schema).await?;
    if let Some(schema) = schema {
        run(&pool, format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).await?;
    }
    run(&pool, EVENTS_TABLE.to_owned()).await?;
    run(&pool, KEYRING_TABLE.to_owned()).await?;
    if let Some(role) = serve_role {
        check_identifier("role", role)?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&pool)
            .await?;
        if !exists {
            run(&pool, format!("CREATE ROLE \"{role}\" LOGIN")).await?;
        }
        if let Some(schema) = schema {
            run(&pool, format!("GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\"")).await?;
        }
        run(&pool, format!("REVOKE ALL ON events FROM PUBLIC, \"{role}\"")).await?;
        run(&pool, format!("GRANT SELECT, INSERT ON events TO \"{role}\"")).await?;
        run(&pool, format!("REVOKE ALL ON keyring FROM PUBLIC, \"{role}\"")).await?;
        run(&pool, format!("GRANT SELECT, INSERT, DELETE ON keyring TO \"{role}\"")).await?;
    }
    pool.close().await;
    Ok(())
}

impl PostgresLog {
    /// Connects to `url` and creates the log's table if it is missing. `schema`, when given,
    /// is the PostgreSQL schema (namespace) that holds it, created if missing: tests use one
    /// each. What exists is never created again, so a role that may only read and append
    /// (see [`migrate`]) opens a log made by its owner.
    pub(crate) async fn open(url: &str, schema: Option<&str>) -> Result<PostgresLog> {
        let pool = connect(url, schema).await?;
        if let Some(schema) = schema
            && !schema_exists(&pool, schema).await?
        {
            run(&pool, format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).await?;
        }
        if !table_exists(&pool, "events").await? {
            run(&pool, EVENTS_TABLE.to_owned()).await?;
        }
        if !table_exists(&pool, "keyring").await? {
            run(&pool, KEYRING_TABLE.to_owned()).await.map_err(|e| {
                Error::Config(format!(
                    "the log has no keyring table and this role cannot make one ({e}): run daira migrate as the log's owner"
                ))
            })?;
        }
        let host = url.split('@').next_back().unwrap_or(url);
        Ok(PostgresLog {
            reads: Reads::new(Pool::Postgres(pool.clone())),
            pool,
            describe: format!("postgres://…@{host}"),
            // At most 63 bytes, PostgreSQL's limit on a channel's name.
            channel: format!("daira_log_{}", schema.unwrap_or("public").to_ascii_lowercase())
                .chars()
                .take(63)
                .collect(),
        })
    }

    pub(super) fn describe(&self) -> String {
        self.describe.clone()
    }

    /// Wakes `wake` whenever any writer's append commits (LISTEN on the log's channel), and
    /// once after each (re)connection, since a notification sent while it was away is lost;
    /// the follower reads the log itself, so a lost or spurious wake costs nothing but a read.
    /// `head` keeps the highest sequence number an append announced.
    pub(crate) fn watch(&self, wake: Arc<Notify>, head: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
        let (pool, channel) = (self.pool.clone(), self.channel.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(mut listener) = PgListener::connect_with(&pool).await
                    && listener.listen(&channel).await.is_ok()
                {
                    wake.notify_one();
                    while let Ok(notification) = listener.recv().await {
                        if let Ok(seq) = notification.payload().parse::<u64>() {
                            head.fetch_max(seq, Ordering::Relaxed);
                        }
                        wake.notify_one();
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }

    /// Closes the connections.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

read_through!(PostgresLog);

/// The writers' lock held by one connection across a whole decision (see
/// [`PostgresLog::hold_writers`]): its appends run on that connection.
pub(crate) struct WriterHold(sqlx::pool::PoolConnection<sqlx::Postgres>);

impl PostgresLog {
    /// Takes the writers' lock for this session until [`PostgresLog::release`]: a replica that
    /// lost the race for the head holds it while it catches up, decides again and appends, so
    /// that its second try cannot lose (every other append waits for it), and no replica
    /// starves under contention.
    pub(crate) async fn hold_writers(&self) -> Result<WriterHold> {
        let mut connection = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(WRITER_LOCK).execute(&mut *connection).await?;
        Ok(WriterHold(connection))
    }

    /// Lets the writers' lock go (closing the connection if it will not say so: the session
    /// ends, and its lock with it).
    pub(crate) async fn release(&self, mut hold: WriterHold) {
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(WRITER_LOCK).execute(&mut *hold.0).await;
        if unlocked.is_err() {
            let _ = hold.0.close().await;
        }
    }

    /// [`LogWriter::append`] on the connection that holds the writers' lock.
    pub(crate) async fn append_held(
        &self,
        hold: &mut WriterHold,
        records: &[Record],
        keyring: &KeyringChange,
    ) -> Result<()> {
        append_on(&mut hold.0, &self.channel, records, keyring).await
    }
}

impl LogWriter for PostgresLog {
    async fn append(&self, records: &[Record], keyring: &KeyringChange) -> Result<()> {
        let mut connection = self.pool.acquire().await?;
        append_on(&mut connection, &self.channel, records, keyring).await
    }
}

/// One append, as one transaction on `connection` (the advisory lock is re-entrant: a session
/// that holds it as the writers' lock takes it again here at once).
async fn append_on(
    connection: &mut sqlx::PgConnection,
    channel: &str,
    records: &[Record],
    keyring: &KeyringChange,
) -> Result<()> {
    use sqlx::Connection;
    let Some(first) = records.first() else { return Ok(()) };
    let mut tx = connection.begin().await?;
    // Serialise writers for the length of the transaction.
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITER_LOCK).execute(&mut *tx).await?;
    let head: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM events").fetch_one(&mut *tx).await?;
    check_follows(head, first)?;
    // Many records at once through UNNEST: one round trip per batch, not per record.
    for chunk in records.chunks(512) {
        let seqs: Vec<i64> = chunk.iter().map(|r| r.seq as i64).collect();
        let times: Vec<i64> = chunk.iter().map(|r| r.time_ms).collect();
        let payloads: Vec<&[u8]> = chunk.iter().map(|r| &r.payload[..]).collect();
        let hashes: Vec<&[u8]> = chunk.iter().map(|r| &r.hash[..]).collect();
        sqlx::query(
            "INSERT INTO events (seq, time_ms, payload, hash)
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BYTEA[], $4::BYTEA[])",
        )
        .bind(&seqs)
        .bind(&times)
        .bind(&payloads)
        .bind(&hashes)
        .execute(&mut *tx)
        .await?;
    }
    change_keyring!(tx, keyring);
    // Delivered on commit, to every replica following this log.
    let last = records.last().map_or(0, |r| r.seq);
    sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(last.to_string()).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}
