//! The PostgreSQL event log, chosen by a `postgres://` URL. One writer at a time holds a
//! session advisory lock; every append is one transaction, durable on commit.

use super::{LogWriter, Pool, Reads, Record, check_follows, read_through};
use crate::{Error, Result};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// The PostgreSQL backend.
pub(crate) struct PostgresLog {
    pool: PgPool,
    pub(super) reads: Reads,
    describe: String,
}

/// Advisory lock key that marks the single writer ("DAIRA" in ASCII).
const WRITER_LOCK: i64 = 0x0044_4149_5241;

impl PostgresLog {
    /// Connects to `url` and creates the log's table if needed. `schema`, when given, is the
    /// PostgreSQL schema (namespace) that holds it, created if missing: tests use one each.
    pub(crate) async fn open(url: &str, schema: Option<&str>) -> Result<PostgresLog> {
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
        Ok(PostgresLog {
            reads: Reads::new(Pool::Postgres(pool.clone())),
            pool,
            describe: format!("postgres://…@{host}"),
        })
    }

    pub(super) fn describe(&self) -> String {
        self.describe.clone()
    }

    /// Closes the connections.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

read_through!(PostgresLog);

impl LogWriter for PostgresLog {
    async fn append(&self, records: &[Record]) -> Result<()> {
        let Some(first) = records.first() else { return Ok(()) };
        let mut tx = self.pool.begin().await?;
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
        tx.commit().await?;
        Ok(())
    }
}
