//! The SQLite event log: one file in WAL mode with `synchronous = FULL`, so a commit is durable
//! when it returns. One connection writes; readers use their own connections.

use super::{KEYRING_TABLE, LogWriter, Pool, Reads, Record, change_keyring, check_follows, read_through};
use crate::Result;
use crate::seal::KeyringChange;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The SQLite backend.
pub(crate) struct SqliteLog {
    writer: SqlitePool,
    /// Reads go through their own connections, so they never wait for the writer.
    pub(super) reads: Reads,
    readers: SqlitePool,
    /// One connection for WAL checkpoints, so that they never hold up the writer.
    maintenance: SqlitePool,
    /// Estimated WAL bytes written since the last checkpoint was started.
    since_checkpoint: Arc<AtomicU64>,
    path: PathBuf,
}

/// WAL growth after which a background checkpoint copies it into the database file. Automatic
/// checkpoints are off: SQLite would run them inside the commit that crosses its threshold, and
/// a bulk import would then write its bytes twice before it is acknowledged.
pub const CHECKPOINT_BYTES: u64 = 64 << 20;
/// How long a checkpoint waits after the commit that asked for it.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(1500);

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    payload BLOB NOT NULL,
    hash BLOB NOT NULL
) STRICT";

impl SqliteLog {
    /// Opens (creating if needed) the log at `path`.
    pub(crate) async fn open(path: &Path) -> Result<SqliteLog> {
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
        sqlx::query(KEYRING_TABLE).execute(&writer).await?;
        let maintenance = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let readers = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        let log = SqliteLog {
            writer,
            reads: Reads::new(Pool::Sqlite(readers.clone())),
            readers,
            maintenance,
            since_checkpoint: Arc::new(AtomicU64::new(0)),
            path: path.to_owned(),
        };
        // A WAL left large by a crash is folded in now, in the background.
        log.note_written(CHECKPOINT_BYTES);
        Ok(log)
    }

    /// Counts WAL bytes written and starts a passive checkpoint when enough have accumulated.
    fn note_written(&self, bytes: u64) {
        let total = self.since_checkpoint.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if total < CHECKPOINT_BYTES {
            return;
        }
        self.since_checkpoint.store(0, Ordering::Relaxed);
        let pool = self.maintenance.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // Let the commit that crossed the threshold be applied first; then copy what
                // can be copied without waiting for readers or the writer (PASSIVE).
                tokio::time::sleep(CHECKPOINT_DELAY).await;
                let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await;
            });
        }
    }

    /// Closes the connections, checkpointing the WAL into the main file.
    pub(crate) async fn close(&self) {
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.writer).await;
        self.maintenance.close().await;
        self.readers.close().await;
        self.writer.close().await;
    }
}

impl SqliteLog {
    pub(super) fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}

read_through!(SqliteLog);

impl LogWriter for SqliteLog {
    async fn append(&self, records: &[Record], keyring: &KeyringChange) -> Result<()> {
        /// Rows per INSERT: four parameters each, well inside SQLite's limit of parameters.
        const ROWS_PER_INSERT: usize = 200;
        let Some(first) = records.first() else { return Ok(()) };
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let head: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM events").fetch_one(&mut *tx).await?;
        check_follows(head, first)?;
        // Many rows per statement: one round trip to SQLite's thread per chunk, not per record
        // (a group commit of small events is otherwise bound by the round trips).
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let mut insert =
                sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO events (seq, time_ms, payload, hash) ");
            insert.push_values(chunk, |mut row, record| {
                row.push_bind(record.seq as i64)
                    .push_bind(record.time_ms)
                    .push_bind(&record.payload[..])
                    .push_bind(&record.hash[..]);
            });
            insert.build().execute(&mut *tx).await?;
        }
        change_keyring!(tx, keyring);
        tx.commit().await?;
        // Every commit writes at least a page or two besides its payload.
        self.note_written(records.iter().map(|r| r.payload.len() as u64 + 64).sum::<u64>() + 8192);
        Ok(())
    }
}
