//! The SQLite event log: one file in WAL mode with `synchronous = FULL`, so a commit is durable
//! when it returns. One connection writes; readers use their own connections.

use super::{EventLog, Record, hash_from_slice};
use crate::{Error, LogPosition, Result};
use futures_util::TryStreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The SQLite backend.
pub struct SqliteLog {
    writer: SqlitePool,
    readers: SqlitePool,
    path: PathBuf,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    payload BLOB NOT NULL,
    hash BLOB NOT NULL
) STRICT";

impl SqliteLog {
    /// Opens (creating if needed) the log at `path`.
    pub async fn open(path: &Path) -> Result<SqliteLog> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-65536")
            .pragma("wal_autocheckpoint", "0");
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        sqlx::query(SCHEMA).execute(&writer).await?;
        let readers = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(SqliteLog { writer, readers, path: path.to_owned() })
    }

    /// Closes the connections, checkpointing the WAL into the main file.
    pub async fn close(&self) {
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.writer).await;
        self.readers.close().await;
        self.writer.close().await;
    }
}

impl EventLog for SqliteLog {
    async fn append(&self, records: &[Record]) -> Result<()> {
        let Some(first) = records.first() else { return Ok(()) };
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let head: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM events").fetch_one(&mut *tx).await?;
        let head = head.unwrap_or(0) as u64;
        if first.seq != head + 1 {
            return Err(Error::Conflict { expected: head + 1, found: first.seq });
        }
        for record in records {
            sqlx::query("INSERT INTO events (seq, time_ms, payload, hash) VALUES (?, ?, ?, ?)")
                .bind(record.seq as i64)
                .bind(record.time_ms)
                .bind(&record.payload[..])
                .bind(&record.hash[..])
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn head(&self) -> Result<LogPosition> {
        let row =
            sqlx::query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetch_optional(&self.writer).await?;
        match row {
            None => Ok(LogPosition::default()),
            Some(row) => {
                let seq = row.get::<i64, _>(0) as u64;
                Ok(LogPosition { seq, hash: hash_from_slice(row.get::<&[u8], _>(1), seq)? })
            }
        }
    }

    async fn scan<F>(&self, from_seq: u64, mut visit: F) -> Result<()>
    where
        F: FnMut(Record) -> Result<()> + Send,
    {
        let mut rows = sqlx::query("SELECT seq, time_ms, payload, hash FROM events WHERE seq >= ? ORDER BY seq")
            .bind(from_seq as i64)
            .fetch(&self.readers);
        while let Some(row) = rows.try_next().await? {
            let seq = row.get::<i64, _>(0) as u64;
            visit(Record {
                seq,
                time_ms: row.get(1),
                payload: row.get(2),
                hash: hash_from_slice(row.get::<&[u8], _>(3), seq)?,
            })?;
        }
        Ok(())
    }

    async fn get(&self, seq: u64) -> Result<Option<Record>> {
        let row = sqlx::query("SELECT seq, time_ms, payload, hash FROM events WHERE seq = ?")
            .bind(seq as i64)
            .fetch_optional(&self.readers)
            .await?;
        row.map(|row| {
            Ok(Record {
                seq,
                time_ms: row.get(1),
                payload: row.get(2),
                hash: hash_from_slice(row.get::<&[u8], _>(3), seq)?,
            })
        })
        .transpose()
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}
