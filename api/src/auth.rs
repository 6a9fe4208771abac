//! Accounts and sessions. Passwords are hashed with Argon2id at OWASP's parameters (19 MiB,
//! two passes, one lane); sessions are opaque random tokens of which only a BLAKE3 hash is
//! stored, so a copy of the database opens no session. Logging out deletes the session.
//!
//! The store sits beside the event log: `DATA/auth.db` on the embedded default, tables
//! `daira_credentials` and `daira_sessions` on PostgreSQL. The user *vertex* is created
//! through the engine's write path like everything else; only the secret material lives here.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use schema::Id;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

/// OWASP's Argon2id parameters: m = 19 MiB, t = 2, p = 1.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Passes.
pub const ARGON2_PASSES: u32 = 2;
/// Lanes.
pub const ARGON2_LANES: u32 = 1;
/// How long a session lasts by default.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Password hashes computed at once (each takes 19 MiB and tens of milliseconds of a core):
/// more wait, so a flood of logins cannot starve the server.
pub const HASHES_AT_ONCE: usize = 2;
/// Sessions remembered in memory; beyond it the cache starts afresh.
const CACHE_MAX: usize = 100_000;
/// How long a cached session is trusted before the store is asked again (so a logout on
/// another replica takes effect within it).
const CACHE_FRESH: Duration = Duration::from_secs(30);

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The login is taken.
    #[error("login {0:?} is taken")]
    LoginTaken(String),
    /// Unknown login or wrong password: the two look the same.
    #[error("wrong login or password")]
    BadCredentials,
    /// Input that breaks a rule.
    #[error("{field}: {reason}")]
    Invalid {
        /// The input field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The database.
    #[error("auth store: {0}")]
    Store(#[from] sqlx::Error),
    /// Hashing.
    #[error("password hashing: {0}")]
    Hash(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, AuthError>;

/// The embedded SQLite database or the PostgreSQL server (the accounts' and the messages'
/// stores).
#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same statement on whichever pool the store has.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            crate::auth::Pool::Sqlite($p) => $body,
            crate::auth::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The account store's tables, by name.
const TABLE_NAMES: [&str; 3] = ["daira_credentials", "daira_sessions", "daira_secrets"];

const TABLES: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS daira_credentials (
        login TEXT PRIMARY KEY,
        user_id BIGINT NOT NULL,
        phc TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS daira_sessions (
        token_hash TEXT PRIMARY KEY,
        user_id BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS daira_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )",
];

/// An engine error from a shared PostgreSQL helper, as the store's.
fn store(e: graph_engine::Error) -> AuthError {
    match e {
        graph_engine::Error::Log(e) => AuthError::Store(e),
        other => AuthError::Store(sqlx::Error::Protocol(other.to_string())),
    }
}

/// The schema that holds the accounts on PostgreSQL: apart from the log's, so that a server
/// role's rights differ between them (it may change sessions, never events).
pub fn accounts_schema(pg_schema: Option<&str>) -> String {
    format!("{}_accounts", pg_schema.unwrap_or("daira"))
}

/// A pool whose search_path is the accounts' schema, and the schema's name.
pub(crate) async fn connect_accounts(url: &str, pg_schema: Option<&str>) -> Result<(PgPool, String)> {
    let schema = accounts_schema(pg_schema);
    if !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(AuthError::Invalid { field: "pg_schema", reason: format!("{schema:?} must be [A-Za-z0-9_]") });
    }
    let options = PgConnectOptions::from_str(url)?.options([("search_path", schema.as_str())]);
    let pool =
        PgPoolOptions::new().max_connections(4).acquire_timeout(Duration::from_secs(10)).connect_with(options).await?;
    Ok((pool, schema))
}

/// Before the accounts had a schema of their own they lived beside the log (in `pg_schema`,
/// or `public`): moved, not left behind, so that nobody's login, session or the id key (every
/// global id depends on it) is lost.
async fn move_old_tables(pool: &PgPool, pg_schema: Option<&str>, schema: &str) -> Result<()> {
    let old = pg_schema.unwrap_or("public");
    for name in TABLE_NAMES {
        let there: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)")
                .bind(old)
                .bind(name)
                .fetch_one(pool)
                .await?;
        if there {
            let sql = format!("ALTER TABLE \"{old}\".{name} SET SCHEMA \"{schema}\"");
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
            tracing::info!(table = name, from = old, to = schema, "account table moved to its own schema");
        }
    }
    Ok(())
}

/// Creates the accounts' schema and tables as the connection's role, and lets `serve_role`
/// (made by the log's migration) read and change them. `daira migrate` runs this.
pub async fn migrate_postgres(url: &str, pg_schema: Option<&str>, serve_role: Option<&str>) -> Result<()> {
    let (pool, schema) = connect_accounts(url, pg_schema).await?;
    let run = |sql: String| {
        let pool = pool.clone();
        async move { sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.map(|_| ()) }
    };
    let existed = graph_engine::log::schema_exists(&pool, &schema).await.map_err(store)?;
    run(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).await?;
    if !existed {
        move_old_tables(&pool, pg_schema, &schema).await?;
    }
    let tables = crate::messages::TABLES.into_iter().chain(crate::replica::TABLES).map(|(_, sql)| sql);
    for table in TABLES.into_iter().chain(tables) {
        run(table.to_owned()).await?;
    }
    if let Some(role) = serve_role {
        graph_engine::log::check_identifier("role", role)
            .map_err(|e| AuthError::Invalid { field: "serve_role", reason: e.to_string() })?;
        run(format!("GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\"")).await?;
        run(format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{schema}\" TO \"{role}\"")).await?;
    }
    pool.close().await;
    Ok(())
}

/// A session as the server sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    /// The signed-in user.
    pub user: Id,
    /// When it ends, in milliseconds since the Unix epoch.
    pub expires_ms: i64,
}

/// Accounts and sessions.
pub struct AuthStore {
    pool: Pool,
    argon: Argon2<'static>,
    hashing: Arc<Semaphore>,
    cache: Mutex<HashMap<[u8; 32], (Session, Instant)>>,
    /// Sessions closed by sign-out, as their token's hash: a WebSocket signed in with one
    /// closes at once.
    closed: tokio::sync::broadcast::Sender<[u8; 32]>,
    /// A valid hash to verify against when the login is unknown, so that both answers take
    /// the same time.
    decoy: String,
    ttl: Duration,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes
}

/// The 32 bytes of a lower-case hex string (a stored token hash).
fn unhex32(text: &str) -> Option<[u8; 32]> {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

fn token_hash(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

/// Checks and normalises a login: 3..=64 characters of a-z, 0-9 and `_.-@`, case-folded.
pub fn normalise_login(login: &str) -> Result<String> {
    let login = login.trim().to_lowercase();
    let ok = (3..=64).contains(&login.chars().count())
        && login.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'));
    if ok {
        Ok(login)
    } else {
        Err(AuthError::Invalid { field: "login", reason: "must be 3 to 64 characters of a-z, 0-9 and _ . - @".into() })
    }
}

fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if !(10..=256).contains(&n) {
        return Err(AuthError::Invalid { field: "password", reason: "must be 10 to 256 characters".into() });
    }
    Ok(())
}

impl AuthStore {
    /// Opens the store: `DATA/auth.db`, or the PostgreSQL database at `url`.
    pub async fn open(data_dir: &Path, url: Option<&str>, pg_schema: Option<&str>, ttl: Duration) -> Result<AuthStore> {
        let pool = match url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let (pool, schema) = connect_accounts(url, pg_schema).await?;
                // What exists is never created again: a server role that may not create
                // opens a store its owner made (`daira migrate`).
                if !graph_engine::log::schema_exists(&pool, &schema).await.map_err(store)? {
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")))
                        .execute(&pool)
                        .await?;
                    move_old_tables(&pool, pg_schema, &schema).await?;
                }
                Pool::Postgres(pool)
            }
            _ => {
                std::fs::create_dir_all(data_dir).map_err(|e| AuthError::Store(sqlx::Error::Io(e)))?;
                let options = SqliteConnectOptions::new()
                    .filename(data_dir.join("auth.db"))
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10));
                Pool::Sqlite(SqlitePoolOptions::new().max_connections(2).connect_with(options).await?)
            }
        };
        for (name, table) in TABLE_NAMES.into_iter().zip(TABLES) {
            if let Pool::Postgres(p) = &pool
                && graph_engine::log::table_exists(p, name).await.map_err(store)?
            {
                continue;
            }
            on_pool!(&pool, |p| sqlx::query(table).execute(p).await.map(|r| r.rows_affected()))?;
        }
        let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| AuthError::Hash(e.to_string()))?;
        let decoy = argon
            .hash_password(b"decoy password, never a real one", &salt)
            .map_err(|e| AuthError::Hash(e.to_string()))?
            .to_string();
        Ok(AuthStore {
            pool,
            argon,
            hashing: Arc::new(Semaphore::new(HASHES_AT_ONCE)),
            cache: Mutex::new(HashMap::new()),
            closed: tokio::sync::broadcast::channel(1024).0,
            decoy,
            ttl,
        })
    }

    /// The PostgreSQL pool of the accounts' schema, when the store is on PostgreSQL (the
    /// message store keeps its tables there too).
    pub(crate) fn postgres(&self) -> Option<PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p.clone()),
            Pool::Sqlite(_) => None,
        }
    }

    /// Stores a secret as earlier versions did (tests of the move into the key file).
    #[cfg(test)]
    pub(crate) async fn put_secret(&self, name: &str, key: [u8; 32]) -> Result<()> {
        on_pool!(&self.pool, |p| sqlx::query("INSERT INTO daira_secrets (name, value) VALUES ($1, $2)")
            .bind(name)
            .bind(graph_engine::log::hex(&key))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The secret named `name`, if the store holds one (never made here).
    pub async fn peek_secret(&self, name: &str) -> Result<Option<[u8; 32]>> {
        let value: Option<String> =
            on_pool!(&self.pool, |p| sqlx::query_scalar("SELECT value FROM daira_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await)?;
        Ok(value.map(|value| {
            let mut key = [0u8; 32];
            for (i, byte) in key.iter_mut().enumerate() {
                *byte = u8::from_str_radix(value.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0);
            }
            key
        }))
    }

    /// Deletes the secret named `name` (once it lives elsewhere).
    pub async fn forget_secret(&self, name: &str) -> Result<()> {
        on_pool!(&self.pool, |p| sqlx::query("DELETE FROM daira_secrets WHERE name = $1")
            .bind(name)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A permit to hash, held by the hashing thread itself: a request that gives up (a client
    /// gone, a timeout) must not free its permit while its hash still runs, or abandoned
    /// requests would run any number of hashes at once.
    async fn hash_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.hashing.clone().acquire_owned().await.map_err(|e| AuthError::Hash(e.to_string()))
    }

    async fn hash(&self, password: String) -> Result<String> {
        let permit = self.hash_permit().await?;
        let argon = self.argon.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| AuthError::Hash(e.to_string()))?;
            argon
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| AuthError::Hash(e.to_string()))
        })
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
    }

    async fn verify(&self, password: String, phc: String) -> Result<bool> {
        let permit = self.hash_permit().await?;
        let argon = self.argon.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let parsed = PasswordHash::new(&phc).map_err(|e| AuthError::Hash(e.to_string()))?;
            Ok(argon.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
    }

    /// Records the credentials of a new account for `user`, before its vertex is created (so
    /// a taken login costs nothing in the log). [`AuthStore::forget`] undoes it.
    pub async fn add_credentials(&self, user: Id, login: &str, password: &str) -> Result<String> {
        let login = normalise_login(login)?;
        check_password(password)?;
        let phc = self.hash(password.to_owned()).await?;
        let inserted = on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO daira_credentials (login, user_id, phc) VALUES ($1, $2, $3) ON CONFLICT (login) DO NOTHING"
        )
        .bind(&login)
        .bind(user.0 as i64)
        .bind(&phc)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        if inserted == 0 {
            return Err(AuthError::LoginTaken(login));
        }
        Ok(login)
    }

    /// Removes credentials whose account could not be created.
    pub async fn forget(&self, login: &str) -> Result<()> {
        on_pool!(&self.pool, |p| sqlx::query("DELETE FROM daira_credentials WHERE login = $1")
            .bind(login)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Checks a login and password; the user's id when they match.
    pub async fn check(&self, login: &str, password: &str) -> Result<Id> {
        let login = normalise_login(login).map_err(|_| AuthError::BadCredentials)?;
        let row: Option<(i64, String)> =
            on_pool!(&self.pool, |p| sqlx::query_as("SELECT user_id, phc FROM daira_credentials WHERE login = $1")
                .bind(&login)
                .fetch_optional(p)
                .await)?;
        let password = password.chars().take(256).collect::<String>();
        match row {
            Some((user, phc)) => {
                if self.verify(password, phc).await? {
                    Ok(Id(user as u64))
                } else {
                    Err(AuthError::BadCredentials)
                }
            }
            None => {
                // The same work as a real check, so timing does not tell unknown logins apart.
                let _ = self.verify(password, self.decoy.clone()).await;
                Err(AuthError::BadCredentials)
            }
        }
    }

    /// Opens a session for `user`: the token to hand out (only its hash is stored).
    pub async fn open_session(&self, user: Id) -> Result<(String, Session)> {
        let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        let session = Session { user, expires_ms: now_ms() + self.ttl.as_millis() as i64 };
        let hash = graph_engine::log::hex(&token_hash(&token));
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO daira_sessions (token_hash, user_id, expires_ms) VALUES ($1, $2, $3)"
        )
        .bind(&hash)
        .bind(user.0 as i64)
        .bind(session.expires_ms)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok((token, session))
    }

    /// The live session a token opens, if any (expired and revoked ones open nothing).
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        if token.len() > 128 {
            return Ok(None);
        }
        let key = token_hash(token);
        if let Some((session, at)) = self.cache.lock().get(&key).copied()
            && at.elapsed() < CACHE_FRESH
        {
            return Ok((session.expires_ms > now_ms()).then_some(session));
        }
        let row: Option<(i64, i64)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT user_id, expires_ms FROM daira_sessions WHERE token_hash = $1"
        )
        .bind(graph_engine::log::hex(&key))
        .fetch_optional(p)
        .await)?;
        let Some((user, expires_ms)) = row else {
            self.cache.lock().remove(&key);
            return Ok(None);
        };
        let session = Session { user: Id(user as u64), expires_ms };
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (session, Instant::now()));
        Ok((expires_ms > now_ms()).then_some(session))
    }

    /// Ends the session a token opened.
    pub async fn close_session(&self, token: &str) -> Result<()> {
        let key = token_hash(token);
        self.cache.lock().remove(&key);
        let _ = self.closed.send(key);
        on_pool!(&self.pool, |p| sqlx::query("DELETE FROM daira_sessions WHERE token_hash = $1")
            .bind(graph_engine::log::hex(&key))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Sign-outs as they happen (token hashes; see [`AuthStore::is_token`]).
    pub fn closed_sessions(&self) -> tokio::sync::broadcast::Receiver<[u8; 32]> {
        self.closed.subscribe()
    }

    /// Whether a hash from [`AuthStore::closed_sessions`] is `token`'s.
    pub fn is_token(hash: &[u8; 32], token: &str) -> bool {
        *hash == token_hash(token)
    }

    /// Deletes an erased account's credentials and sessions; its open sockets are told.
    pub async fn erase(&self, user: Id) -> Result<()> {
        let hashes: Vec<String> = on_pool!(&self.pool, |p| sqlx::query_scalar(
            "DELETE FROM daira_sessions WHERE user_id = $1 RETURNING token_hash"
        )
        .bind(user.0 as i64)
        .fetch_all(p)
        .await)?;
        on_pool!(&self.pool, |p| sqlx::query("DELETE FROM daira_credentials WHERE user_id = $1")
            .bind(user.0 as i64)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        let mut cache = self.cache.lock();
        for hash in hashes {
            if let Some(key) = unhex32(&hash) {
                cache.remove(&key);
                let _ = self.closed.send(key);
            }
        }
        Ok(())
    }

    /// The login of `user`'s account.
    pub async fn login_of(&self, user: Id) -> Result<Option<String>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar("SELECT login FROM daira_credentials WHERE user_id = $1")
            .bind(user.0 as i64)
            .fetch_optional(p)
            .await)?)
    }

    /// The user whose login is `login` (normalised as at sign-in).
    pub async fn user_of_login(&self, login: &str) -> Result<Option<Id>> {
        let login = normalise_login(login)?;
        let user: Option<i64> =
            on_pool!(&self.pool, |p| sqlx::query_scalar("SELECT user_id FROM daira_credentials WHERE login = $1")
                .bind(&login)
                .fetch_optional(p)
                .await)?;
        Ok(user.map(|u| Id(u as u64)))
    }

    /// Deletes expired sessions; how many.
    pub async fn sweep(&self) -> Result<u64> {
        Ok(on_pool!(&self.pool, |p| sqlx::query("DELETE FROM daira_sessions WHERE expires_ms <= $1")
            .bind(now_ms())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
