//! The message store: direct messages between masks, end-to-end encrypted by their clients
//! (the `daira-client` crate), kept apart from the hash-chained log — `DATA/messages.db` on the
//! embedded default, tables in the accounts' schema on PostgreSQL. It holds what the server
//! can never open: envelopes (an X3DH header of public keys and a ChaCha20-Poly1305
//! ciphertext), the masks' published public keys, and who blocked whom. Nothing here is in
//! the log, so a participant's deletion deletes: no event, no chain hash, remembers it.

use crate::auth::{AuthError, Pool, on_pool};
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The longest header, decoded (an X3DH header is 101 bytes; room for later versions).
pub const HEADER_BYTES_MAX: usize = 1024;
/// The longest ciphertext, decoded: 64 KiB.
pub const CIPHERTEXT_BYTES_MAX: usize = 64 * 1024;
/// The most unused one-time pre-keys the server keeps for one mask.
pub const ONE_TIME_KEYS_MAX: i64 = 100;
/// The most messages one conversation page reads (older ones stay until deleted).
pub const CONVERSATION_READ_MAX: i64 = 10_000;
/// The most conversations listed.
pub const CONVERSATIONS_MAX: i64 = 1_000;

/// The store's tables, by name, and how each is made.
pub(crate) const TABLES: [(&str, &str); 4] = [
    (
        "daira_key_bundles",
        "CREATE TABLE IF NOT EXISTS daira_key_bundles (
            mask BIGINT PRIMARY KEY,
            identity_key TEXT NOT NULL,
            signed_pre_key TEXT NOT NULL,
            signature TEXT NOT NULL
        )",
    ),
    (
        "daira_one_time_keys",
        "CREATE TABLE IF NOT EXISTS daira_one_time_keys (
            mask BIGINT NOT NULL,
            key_id BIGINT NOT NULL,
            key TEXT NOT NULL,
            PRIMARY KEY (mask, key_id)
        )",
    ),
    (
        "daira_messages",
        "CREATE TABLE IF NOT EXISTS daira_messages (
            id TEXT PRIMARY KEY,
            sender BIGINT NOT NULL,
            recipient BIGINT NOT NULL,
            sent_ms BIGINT NOT NULL,
            header TEXT NOT NULL,
            ciphertext TEXT NOT NULL
        )",
    ),
    (
        "daira_blocks",
        "CREATE TABLE IF NOT EXISTS daira_blocks (
            blocker BIGINT NOT NULL,
            blocked BIGINT NOT NULL,
            PRIMARY KEY (blocker, blocked)
        )",
    ),
];

/// A mask's published keys (base64url, as the client made them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBundle {
    /// The Ed25519 identity key.
    pub identity_key: String,
    /// The X25519 signed pre-key.
    pub signed_pre_key: String,
    /// The identity key's signature over it.
    pub signature: String,
    /// A one-time pre-key handed out with this bundle (and deleted from the store).
    pub one_time: Option<(i64, String)>,
}

/// A stored message: an envelope only its recipient's keys open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Its id (random, 128 bits, hex).
    pub id: String,
    /// The sending mask.
    pub sender: schema::Id,
    /// The receiving mask.
    pub recipient: schema::Id,
    /// When the server stored it, in milliseconds since the Unix epoch.
    pub sent_ms: i64,
    /// The header, base64url.
    pub header: String,
    /// The ciphertext, base64url.
    pub ciphertext: String,
}

/// A conversation of one mask: the other mask, its latest message's time, how many messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conversation {
    /// The other mask.
    pub with: schema::Id,
    /// The latest message's time.
    pub last_ms: i64,
    /// Messages both ways.
    pub count: i64,
}

/// Direct messages, keys and blocks.
pub struct MessageStore {
    pool: Pool,
    delivered: tokio::sync::broadcast::Sender<Arc<Envelope>>,
}

fn id_of(v: i64) -> schema::Id {
    schema::Id(v as u64)
}

fn db(id: schema::Id) -> i64 {
    id.0 as i64
}

type Row = (String, i64, i64, i64, String, String);

fn envelope((id, sender, recipient, sent_ms, header, ciphertext): Row) -> Envelope {
    Envelope { id, sender: id_of(sender), recipient: id_of(recipient), sent_ms, header, ciphertext }
}

impl MessageStore {
    /// Opens the store: `DATA/messages.db`, or the accounts' PostgreSQL schema (`postgres`).
    pub async fn open(data_dir: &Path, postgres: Option<PgPool>) -> Result<MessageStore, AuthError> {
        let pool = match postgres {
            Some(pool) => Pool::Postgres(pool),
            None => {
                std::fs::create_dir_all(data_dir).map_err(|e| AuthError::Store(sqlx::Error::Io(e)))?;
                let options = SqliteConnectOptions::new()
                    .filename(data_dir.join("messages.db"))
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    // Deleted messages are overwritten, not left in free pages.
                    .pragma("secure_delete", "ON")
                    .busy_timeout(Duration::from_secs(10));
                Pool::Sqlite(SqlitePoolOptions::new().max_connections(2).connect_with(options).await?)
            }
        };
        for (name, table) in TABLES {
            if let Pool::Postgres(p) = &pool
                && graph_engine::log::table_exists(p, name)
                    .await
                    .map_err(|e| AuthError::Store(sqlx::Error::Protocol(e.to_string())))?
            {
                continue;
            }
            on_pool!(&pool, |p| sqlx::query(table).execute(p).await.map(|_| ()))?;
        }
        let index = "CREATE INDEX IF NOT EXISTS daira_messages_by_recipient ON daira_messages (recipient, sender)";
        if let Pool::Sqlite(p) = &pool {
            sqlx::query(index).execute(p).await?;
        }
        Ok(MessageStore { pool, delivered: tokio::sync::broadcast::channel(4096).0 })
    }

    /// Messages as they are stored (for live delivery).
    pub fn delivered(&self) -> tokio::sync::broadcast::Receiver<Arc<Envelope>> {
        self.delivered.subscribe()
    }

    /// Replaces a mask's keys. One-time pre-keys are added (up to [`ONE_TIME_KEYS_MAX`]
    /// unused); a new identity key drops the old one-time pre-keys. The unused count after.
    pub async fn publish(
        &self,
        mask: schema::Id,
        identity_key: &str,
        signed_pre_key: &str,
        signature: &str,
        one_time: &[(i64, String)],
    ) -> Result<i64, AuthError> {
        let m = db(mask);
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            let old: Option<String> = sqlx::query_scalar("SELECT identity_key FROM daira_key_bundles WHERE mask = $1")
                .bind(m)
                .fetch_optional(&mut *tx)
                .await?;
            // One mask, one key: the same public key on two masks would tell anyone comparing
            // them that one person holds both. Only the key's holder can be refused here (the
            // signature needs its private half), so the refusal tells nobody else anything.
            let taken: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM daira_key_bundles WHERE mask <> $1 AND (identity_key = $2 OR signed_pre_key = $3)",
            )
            .bind(m)
            .bind(identity_key)
            .bind(signed_pre_key)
            .fetch_one(&mut *tx)
            .await?;
            if taken > 0 {
                tx.rollback().await?;
                return Err(AuthError::Invalid {
                    field: "identityKey",
                    reason: "is another of your masks' key: make one key file per mask (one key on two masks \
                             would show that one person holds both)"
                        .into(),
                });
            }
            if old.is_some_and(|old| old != identity_key) {
                sqlx::query("DELETE FROM daira_one_time_keys WHERE mask = $1").bind(m).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO daira_key_bundles (mask, identity_key, signed_pre_key, signature) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (mask) DO UPDATE SET identity_key = excluded.identity_key,
                    signed_pre_key = excluded.signed_pre_key, signature = excluded.signature",
            )
            .bind(m)
            .bind(identity_key)
            .bind(signed_pre_key)
            .bind(signature)
            .execute(&mut *tx)
            .await?;
            for (id, key) in one_time {
                sqlx::query(
                    "INSERT INTO daira_one_time_keys (mask, key_id, key) VALUES ($1, $2, $3)
                     ON CONFLICT (mask, key_id) DO UPDATE SET key = excluded.key",
                )
                .bind(m)
                .bind(id)
                .bind(key)
                .execute(&mut *tx)
                .await?;
            }
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM daira_one_time_keys WHERE mask = $1")
                .bind(m)
                .fetch_one(&mut *tx)
                .await?;
            if count > ONE_TIME_KEYS_MAX {
                // The client topped up past the limit: nothing is written.
                tx.rollback().await?;
                return Err(AuthError::Invalid {
                    field: "oneTimePreKeys",
                    reason: format!(
                        "at most {ONE_TIME_KEYS_MAX} unused one-time pre-keys per mask ({count} with these)"
                    ),
                });
            }
            tx.commit().await?;
            Ok(count)
        })
    }

    /// A mask's keys; `take` hands out (and deletes) its oldest one-time pre-key.
    pub async fn bundle(&self, mask: schema::Id, take: bool) -> Result<Option<KeyBundle>, AuthError> {
        let m = db(mask);
        let row: Option<(String, String, String)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT identity_key, signed_pre_key, signature FROM daira_key_bundles WHERE mask = $1"
        )
        .bind(m)
        .fetch_optional(p)
        .await)?;
        let Some((identity_key, signed_pre_key, signature)) = row else { return Ok(None) };
        let one_time = if take {
            on_pool!(&self.pool, |p| sqlx::query_as::<_, (i64, String)>(
                "DELETE FROM daira_one_time_keys WHERE mask = $1
                   AND key_id = (SELECT MIN(key_id) FROM daira_one_time_keys WHERE mask = $1)
                 RETURNING key_id, key"
            )
            .bind(m)
            .fetch_optional(p)
            .await)?
        } else {
            None
        };
        Ok(Some(KeyBundle { identity_key, signed_pre_key, signature, one_time }))
    }

    /// How many one-time pre-keys of a mask are left.
    pub async fn one_time_left(&self, mask: schema::Id) -> Result<i64, AuthError> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar("SELECT COUNT(*) FROM daira_one_time_keys WHERE mask = $1")
            .bind(db(mask))
            .fetch_one(p)
            .await)?)
    }

    /// Whether `blocker` blocked `blocked`.
    pub async fn blocks(&self, blocker: schema::Id, blocked: schema::Id) -> Result<bool, AuthError> {
        let n: i64 = on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM daira_blocks WHERE blocker = $1 AND blocked = $2"
        )
        .bind(db(blocker))
        .bind(db(blocked))
        .fetch_one(p)
        .await)?;
        Ok(n > 0)
    }

    /// Blocks (or unblocks) a mask; whether anything changed.
    pub async fn block(&self, blocker: schema::Id, blocked: schema::Id, on: bool) -> Result<bool, AuthError> {
        let sql = if on {
            "INSERT INTO daira_blocks (blocker, blocked) VALUES ($1, $2) ON CONFLICT (blocker, blocked) DO NOTHING"
        } else {
            "DELETE FROM daira_blocks WHERE blocker = $1 AND blocked = $2"
        };
        let changed = on_pool!(&self.pool, |p| sqlx::query(sql)
            .bind(db(blocker))
            .bind(db(blocked))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(changed > 0)
    }

    /// Stores an envelope and hands it to live subscribers.
    pub async fn send(&self, envelope: Envelope) -> Result<(), AuthError> {
        on_pool!(&self.pool, |p| {
            sqlx::query(
            "INSERT INTO daira_messages (id, sender, recipient, sent_ms, header, ciphertext) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&envelope.id)
        .bind(db(envelope.sender))
        .bind(db(envelope.recipient))
        .bind(envelope.sent_ms)
        .bind(&envelope.header)
        .bind(&envelope.ciphertext)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        let _ = self.delivered.send(Arc::new(envelope));
        Ok(())
    }

    /// A mask's conversations, the latest first.
    pub async fn conversations(&self, mask: schema::Id) -> Result<Vec<Conversation>, AuthError> {
        let rows: Vec<(i64, i64, i64)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT other, MAX(sent_ms) AS last_ms, COUNT(*) AS n FROM (
                SELECT recipient AS other, sent_ms FROM daira_messages WHERE sender = $1
                UNION ALL
                SELECT sender AS other, sent_ms FROM daira_messages WHERE recipient = $1
             ) AS both_ways GROUP BY other ORDER BY last_ms DESC, other LIMIT $2"
        )
        .bind(db(mask))
        .bind(CONVERSATIONS_MAX)
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(|(with, last_ms, count)| Conversation { with: id_of(with), last_ms, count }).collect())
    }

    /// The messages between two masks, oldest first (the latest [`CONVERSATION_READ_MAX`]).
    pub async fn between(&self, a: schema::Id, b: schema::Id) -> Result<Vec<Envelope>, AuthError> {
        let rows: Vec<Row> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT id, sender, recipient, sent_ms, header, ciphertext FROM (
                SELECT * FROM daira_messages
                 WHERE (sender = $1 AND recipient = $2) OR (sender = $2 AND recipient = $1)
                 ORDER BY sent_ms DESC, id DESC LIMIT $3
             ) AS latest ORDER BY sent_ms, id"
        )
        .bind(db(a))
        .bind(db(b))
        .bind(CONVERSATION_READ_MAX)
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(envelope).collect())
    }

    /// Deletes a message `mask` sent or received; whether there was one.
    pub async fn delete(&self, mask: schema::Id, id: &str) -> Result<bool, AuthError> {
        let n = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM daira_messages WHERE id = $1 AND (sender = $2 OR recipient = $2)"
        )
        .bind(id)
        .bind(db(mask))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Forgets everything of erased masks: their keys, blocks and every message to or from
    /// them.
    pub async fn erase(&self, masks: &[schema::Id]) -> Result<(), AuthError> {
        for &mask in masks {
            for sql in [
                "DELETE FROM daira_messages WHERE sender = $1 OR recipient = $1",
                "DELETE FROM daira_one_time_keys WHERE mask = $1",
                "DELETE FROM daira_key_bundles WHERE mask = $1",
                "DELETE FROM daira_blocks WHERE blocker = $1 OR blocked = $1",
            ] {
                on_pool!(&self.pool, |p| sqlx::query(sql).bind(db(mask)).execute(p).await.map(|_| ()))?;
            }
        }
        Ok(())
    }
}
