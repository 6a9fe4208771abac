//! The durable event log behind one trait, [`EventLog`], with two backends: SQLite (the
//! embedded default) and PostgreSQL. Backends store records; the hash chain is computed here,
//! once, so both chain identically.
//!
//! Chain: `hash[n] = BLAKE3(hash[n-1] ‖ n as u64 LE ‖ time_ms as i64 LE ‖ payload[n])`, with
//! `hash[0]` all zeros. A record's payload is one event encoded with postcard.

mod postgres;
mod sqlite;

pub use postgres::PostgresLog;
pub use sqlite::SqliteLog;

use crate::{Error, LogPosition, Result};
use schema::Event;
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
pub fn chain(head: LogPosition, time_ms: i64, payloads: Vec<Vec<u8>>) -> Vec<Record> {
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

/// A durable, append-only store of records. Implementations must make `append` atomic (all
/// records of a batch or none, durable when it returns) and refuse a batch that does not start
/// right after the current head.
pub trait EventLog: Send + Sync + 'static {
    /// Appends records atomically and durably. `records[0].seq` must be `head().seq + 1`.
    fn append(&self, records: &[Record]) -> impl Future<Output = Result<()>> + Send;

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

/// Where the log lives: a SQLite file (the default) or a PostgreSQL database.
pub enum AnyLog {
    /// SQLite file.
    Sqlite(SqliteLog),
    /// PostgreSQL server.
    Postgres(PostgresLog),
}

impl EventLog for AnyLog {
    async fn append(&self, records: &[Record]) -> Result<()> {
        match self {
            AnyLog::Sqlite(log) => log.append(records).await,
            AnyLog::Postgres(log) => log.append(records).await,
        }
    }

    async fn head(&self) -> Result<LogPosition> {
        match self {
            AnyLog::Sqlite(log) => log.head().await,
            AnyLog::Postgres(log) => log.head().await,
        }
    }

    async fn scan<F>(&self, from_seq: u64, visit: F) -> Result<()>
    where
        F: FnMut(Record) -> Result<()> + Send,
    {
        match self {
            AnyLog::Sqlite(log) => log.scan(from_seq, visit).await,
            AnyLog::Postgres(log) => log.scan(from_seq, visit).await,
        }
    }

    async fn get(&self, seq: u64) -> Result<Option<Record>> {
        match self {
            AnyLog::Sqlite(log) => log.get(seq).await,
            AnyLog::Postgres(log) => log.get(seq).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            AnyLog::Sqlite(log) => log.describe(),
            AnyLog::Postgres(log) => log.describe(),
        }
    }
}

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
pub async fn verify<L: EventLog>(log: &L) -> Result<Verification> {
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

pub(crate) fn hash_from_slice(bytes: &[u8], seq: u64) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| Error::Corrupt(format!("event {seq} has a hash of {} bytes", bytes.len())))
}
