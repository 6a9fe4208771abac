//! The PostgreSQL event log, chosen by a `postgres://` URL. One writer at a time holds a
//! session advisory lock; every append is one transaction, durable on commit.

use super::{EventLog, Record, hash_from_slice};
use crate::{Error, LogPosition, Result};
use futures_util::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use std::str::FromStr;
use std::time::Duration;

/// The PostgreSQL backend.
pub struct PostgresLog {
    pool: PgPool,
    describe: String,
}

/// Advisory lock key that marks the single writer ("DAIRA" in ASCII).
const WRITER_LOCK: i64 = 0x0044_4149_5241;

impl PostgresLog {
    /// Connects to `url` and creates the log's table if needed. `schema`, when given, is the
    /// PostgreSQL schema (namespace) that holds it, created if missing: tests use one each.
    pub async fn open(url: &str, schema: Option<&str>) -> Result<PostgresLog> {
        let mut options = PgConnectOptions::from_str(url)?;
        if let Some(schema) = schema {
            if !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(Error::Config(format!("schema name {schema:?} must be [A-Za-z0-9_]")));
            }
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        if let Some(schema) = schema {
            let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
            sqlx::query(sqlx::AssertSqlSafe(create)).execute(&pool).await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS events (
                seq BIGINT PRIMARY KEY,
                time_ms BIGINT NOT NULL,
                payload BYTEA NOT NULL,
                hash BYTEA NOT NULL
            )",
        )
        .execute(&pool)
        .await?;
        let host = url.split('@').next_back().unwrap_or(url);
        Ok(PostgresLog { pool, describe: format!("postgres://…@{host}") })
    }

    /// The connection pool (for tests that need to reach past the trait).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl EventLog for PostgresLog {
    async fn append(&self, records: &[Record]) -> Result<()> {
        let Some(first) = records.first() else { return Ok(()) };
        let mut tx = self.pool.begin().await?;
        // Serialise writers for the length of the transaction.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITER_LOCK).execute(&mut *tx).await?;
        let head: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM events").fetch_one(&mut *tx).await?;
        let head = head.unwrap_or(0) as u64;
        if first.seq != head + 1 {
            return Err(Error::Conflict { expected: head + 1, found: first.seq });
        }
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
        tx.commit().await?;
        Ok(())
    }

    async fn head(&self) -> Result<LogPosition> {
        let row =
            sqlx::query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetch_optional(&self.pool).await?;
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
        let mut rows = sqlx::query("SELECT seq, time_ms, payload, hash FROM events WHERE seq >= $1 ORDER BY seq")
            .bind(from_seq as i64)
            .fetch(&self.pool);
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
        let row = sqlx::query("SELECT seq, time_ms, payload, hash FROM events WHERE seq = $1")
            .bind(seq as i64)
            .fetch_optional(&self.pool)
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
        self.describe.clone()
    }
}
