//! The durable event log, with two backends: SQLite (the embedded default) and PostgreSQL.
//! Backends store records; the hash chain is computed here, once, so both chain identically.
//!
//! Outside this crate the log can only be read: [`LogReader`] (`head`, `scan`, `get`) is public,
//! while appending is [`LogWriter`], a trait private to the crate that only the engine's
//! writer calls. Both backends read with the same SQL through one implementation ([`Reads`]).
//!
//! Chain: `hash[n] = BLAKE3(hash[n-1] ‖ n as u64 LE ‖ time_ms as i64 LE ‖ payload[n])`, with
//! `hash[0]` all zeros. A record's payload is one event encoded with postcard.

mod postgres;
mod sqlite;

#[cfg(test)]
mod conformance;

pub(crate) use postgres::{PostgresLog, WriterHold};
pub use postgres::{check_identifier, migrate as migrate_postgres, schema_exists, table_exists};
pub(crate) use sqlite::SqliteLog;

use crate::seal::KeyringChange;
use crate::{Error, LogPosition, Result};
use futures_util::TryStreamExt;
use schema::Event;
use sqlx::Row;
use std::future::Future;

/// One stored event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its position in the log, from 1.
    pub seq: u64,
    /// When it was appended, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The encoded event.
    pub payload: Vec<u8>,
    /// The chain hash after this record.
    pub hash: [u8; 32],
}

impl Record {
    /// Decodes the event.
    pub fn event(&self) -> Result<Event> {
        decode(&self.payload).map_err(|e| Error::Corrupt(format!("event {} does not decode: {e}", self.seq)))
    }
}

/// Encodes an event for the log.
pub fn encode(event: &Event) -> Vec<u8> {
    postcard::to_stdvec(event).expect("events always encode")
}

/// Decodes an event from the log.
pub fn decode(payload: &[u8]) -> std::result::Result<Event, postcard::Error> {
    postcard::from_bytes(payload)
}

/// Lower-case hex of bytes (chain hashes as people read them).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The chain hash of a record following `previous`.
pub fn chain_hash(previous: &[u8; 32], seq: u64, time_ms: i64, payload: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(previous);
    h.update(&seq.to_le_bytes());
    h.update(&time_ms.to_le_bytes());
    h.update(payload);
    *h.finalize().as_bytes()
}

/// Builds the records of a batch that follows `head`.
pub(crate) fn chain(head: LogPosition, time_ms: i64, payloads: Vec<Vec<u8>>) -> Vec<Record> {
    let mut previous = head.hash;
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let seq = head.seq + 1 + i as u64;
            let hash = chain_hash(&previous, seq, time_ms, &payload);
            previous = hash;
            Record { seq, time_ms, payload, hash }
        })
        .collect()
}

/// Reading a stored log: what every crate may do with it.
pub trait LogReader: Send + Sync + 'static {
    /// The last record's position, or the zero position for an empty log.
    fn head(&self) -> impl Future<Output = Result<LogPosition>> + Send;

    /// Calls `visit` with every record from `from_seq` on, in order, streaming (large logs are
    /// never held in memory at once). Stops at the first error `visit` returns.
    fn scan<F>(&self, from_seq: u64, visit: F) -> impl Future<Output = Result<()>> + Send
    where
        F: FnMut(Record) -> Result<()> + Send;

    /// The record at `seq`, if any.
    fn get(&self, seq: u64) -> impl Future<Output = Result<Option<Record>>> + Send;

    /// A short description for humans (the backend and where it stores).
    fn describe(&self) -> String;
}

/// Appending: the engine's writer only. Implementations make `append` atomic (all records of
/// a batch or none, durable when it returns) and refuse a batch that does not start right
/// after the current head ([`Error::Conflict`]).
pub(crate) trait LogWriter: LogReader {
    /// Appends records atomically and durably, with the keyring's changes in the same
    /// transaction. `records[0].seq` must be `head().seq + 1`.
    fn append(&self, records: &[Record], keyring: &KeyringChange) -> impl Future<Output = Result<()>> + Send;
}

/// The keyring: user keys wrapped by the server key (see [`crate::seal`]). Beside the events
/// in the log's database, but deletable: erasure shreds a key by deleting its row.
pub(crate) const KEYRING_TABLE: &str = "CREATE TABLE IF NOT EXISTS keyring (
    id BLOB PRIMARY KEY,
    wrapped BLOB NOT NULL
)";

/// A connection pool of either backend.
#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs the same statement on whichever pool it is given: the SQL is written once (`$1`
/// placeholders, which both backends take) and compiled for each backend.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

/// The reading half of both backends: one implementation of `head`, `scan` and `get`.
pub(crate) struct Reads {
    pool: Pool,
}

impl Reads {
    pub(crate) fn new(pool: Pool) -> Reads {
        Reads { pool }
    }

    async fn head(&self) -> Result<LogPosition> {
        const SQL: &str = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1";
        let row: Option<(i64, Vec<u8>)> = on_pool!(&self.pool, |p| sqlx::query_as(SQL).fetch_optional(p).await)?;
        match row {
            None => Ok(LogPosition::default()),
            Some((seq, hash)) => Ok(LogPosition { seq: seq as u64, hash: hash_from_slice(&hash, seq as u64)? }),
        }
    }

    async fn scan<F>(&self, from_seq: u64, mut visit: F) -> Result<()>
    where
        F: FnMut(Record) -> Result<()> + Send,
    {
        const SQL: &str = "SELECT seq, time_ms, payload, hash FROM events WHERE seq >= $1 ORDER BY seq";
        on_pool!(&self.pool, |p| {
            let mut rows = sqlx::query(SQL).bind(from_seq as i64).fetch(p);
            while let Some(row) = rows.try_next().await? {
                let seq = row.try_get::<i64, _>(0)? as u64;
                visit(Record {
                    seq,
                    time_ms: row.try_get(1)?,
                    payload: row.try_get(2)?,
                    hash: hash_from_slice(row.try_get::<&[u8], _>(3)?, seq)?,
                })?;
            }
        });
        Ok(())
    }

    /// Every row of the keyring: id and wrapped key.
    pub(crate) async fn keyring(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        const SQL: &str = "SELECT id, wrapped FROM keyring";
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(SQL).fetch_all(p).await)?)
    }

    async fn get(&self, seq: u64) -> Result<Option<Record>> {
        const SQL: &str = "SELECT time_ms, payload, hash FROM events WHERE seq = $1";
        let row: Option<(i64, Vec<u8>, Vec<u8>)> =
            on_pool!(&self.pool, |p| sqlx::query_as(SQL).bind(seq as i64).fetch_optional(p).await)?;
        row.map(|(time_ms, payload, hash)| Ok(Record { seq, time_ms, payload, hash: hash_from_slice(&hash, seq)? }))
            .transpose()
    }
}

/// Implements [`LogReader`] for a backend through its `reads` field.
macro_rules! read_through {
    ($backend:ty) => {
        impl $crate::log::LogReader for $backend {
            async fn head(&self) -> $crate::Result<$crate::LogPosition> {
                self.reads.head().await
            }

            async fn scan<F>(&self, from_seq: u64, visit: F) -> $crate::Result<()>
            where
                F: FnMut($crate::log::Record) -> $crate::Result<()> + Send,
            {
                self.reads.scan(from_seq, visit).await
            }

            async fn get(&self, seq: u64) -> $crate::Result<Option<$crate::log::Record>> {
                self.reads.get(seq).await
            }

            fn describe(&self) -> String {
                self.describe()
            }
        }
    };
}
use read_through;

/// The log of a data directory or a database, whichever backend it is on. Other crates get it
/// from [`crate::EngineConfig::open_log`] or [`crate::Engine::log`], and can only read it.
pub struct AnyLog {
    backend: Backend,
}

enum Backend {
    Sqlite(SqliteLog),
    Postgres(PostgresLog),
}

impl AnyLog {
    pub(crate) fn sqlite(log: SqliteLog) -> AnyLog {
        AnyLog { backend: Backend::Sqlite(log) }
    }

    pub(crate) fn postgres(log: PostgresLog) -> AnyLog {
        AnyLog { backend: Backend::Postgres(log) }
    }

    pub(crate) fn reads(&self) -> &Reads {
        match &self.backend {
            Backend::Sqlite(log) => &log.reads,
            Backend::Postgres(log) => &log.reads,
        }
    }

    fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(log) => log.describe(),
            Backend::Postgres(log) => log.describe(),
        }
    }

    /// Closes a log opened with [`crate::EngineConfig::open_log`] (a SQLite log checkpoints its
    /// WAL into the main file first). It takes the log by value: the engine's own log, which
    /// others only borrow, closes when the engine shuts down.
    pub async fn close(self) {
        self.close_shared().await;
    }

    /// Closes the connections under whoever else holds the log: the engine's shutdown.
    /// Wakes `wake` when another process appends (PostgreSQL); None where nobody else can
    /// (SQLite: one writer holds the data directory).
    pub(crate) fn watch(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
        head: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(log) => Some(log.watch(wake, head)),
        }
    }

    /// Takes the writers' lock across a whole decision (PostgreSQL; None for SQLite, whose one
    /// writer holds the data directory).
    pub(crate) async fn hold_writers(&self) -> Result<Option<WriterHold>> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(log) => log.hold_writers().await.map(Some),
        }
    }

    /// Lets the writers' lock go.
    pub(crate) async fn release(&self, hold: WriterHold) {
        if let Backend::Postgres(log) = &self.backend {
            log.release(hold).await;
        }
    }

    /// Appends while holding the writers' lock.
    pub(crate) async fn append_held(
        &self,
        hold: &mut WriterHold,
        records: &[Record],
        keyring: &KeyringChange,
    ) -> Result<()> {
        match &self.backend {
            Backend::Postgres(log) => log.append_held(hold, records, keyring).await,
            Backend::Sqlite(log) => log.append(records, keyring).await,
        }
    }

    pub(crate) async fn close_shared(&self) {
        match &self.backend {
            Backend::Sqlite(log) => log.close().await,
            Backend::Postgres(log) => log.close().await,
        }
    }
}

impl LogReader for AnyLog {
    async fn head(&self) -> Result<LogPosition> {
        self.reads().head().await
    }

    async fn scan<F>(&self, from_seq: u64, visit: F) -> Result<()>
    where
        F: FnMut(Record) -> Result<()> + Send,
    {
        self.reads().scan(from_seq, visit).await
    }

    async fn get(&self, seq: u64) -> Result<Option<Record>> {
        self.reads().get(seq).await
    }

    fn describe(&self) -> String {
        self.describe()
    }
}

impl LogWriter for AnyLog {
    async fn append(&self, records: &[Record], keyring: &KeyringChange) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(log) => log.append(records, keyring).await,
            Backend::Postgres(log) => log.append(records, keyring).await,
        }
    }
}

/// Writes and deletes the keyring's rows inside an append's transaction.
macro_rules! change_keyring {
    ($tx:expr, $keyring:expr) => {
        for (id, wrapped) in &$keyring.insert {
            sqlx::query("INSERT INTO keyring (id, wrapped) VALUES ($1, $2)")
                .bind(&id[..])
                .bind(&wrapped[..])
                .execute(&mut *$tx)
                .await?;
        }
        for id in &$keyring.delete {
            sqlx::query("DELETE FROM keyring WHERE id = $1").bind(&id[..]).execute(&mut *$tx).await?;
        }
    };
}
use change_keyring;

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Every record chains; the head is given.
    Intact {
        /// The last record.
        head: LogPosition,
    },
    /// The first record whose stored hash, sequence or encoding is wrong.
    Broken {
        /// Its sequence number.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Recomputes the chain from the log alone, record by record.
pub async fn verify<L: LogReader>(log: &L) -> Result<Verification> {
    let mut position = LogPosition::default();
    let mut broken: Option<(u64, String)> = None;
    let result = log
        .scan(1, |record| {
            let expected_seq = position.seq + 1;
            let reason = if record.seq != expected_seq {
                Some(format!("expected sequence {expected_seq}, found {}", record.seq))
            } else if chain_hash(&position.hash, record.seq, record.time_ms, &record.payload) != record.hash {
                Some("stored hash does not match the recomputed chain".to_string())
            } else if decode(&record.payload).is_err() {
                Some("payload does not decode as an event".to_string())
            } else {
                None
            };
            if let Some(reason) = reason {
                broken = Some((expected_seq, reason));
                return Err(Error::Corrupt(String::new()));
            }
            position = LogPosition { seq: record.seq, hash: record.hash };
            Ok(())
        })
        .await;
    match (result, broken) {
        (_, Some((seq, reason))) => Ok(Verification::Broken { seq, reason }),
        (Ok(()), None) => Ok(Verification::Intact { head: position }),
        (Err(e), None) => Err(e),
    }
}

/// The head of a log inside an append's transaction, and the conflict when `first` does not
/// follow it.
pub(crate) fn check_follows(head: Option<i64>, first: &Record) -> Result<()> {
    let head = head.unwrap_or(0) as u64;
    if first.seq != head + 1 {
        return Err(Error::Conflict { expected: head + 1, found: first.seq });
    }
    Ok(())
}

pub(crate) fn hash_from_slice(bytes: &[u8], seq: u64) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| Error::Corrupt(format!("event {seq} has a hash of {} bytes", bytes.len())))
}
