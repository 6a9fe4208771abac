//! The peer of issue 21's speed figure: a double-entry ledger on PostgreSQL written the way most
//! teams write one — an accounts table and a transfers table, one transaction per transfer that
//! checks the idempotency key, locks both accounts with `SELECT … FOR UPDATE` (in id order, so
//! two transfers never deadlock), checks the balance, updates both and inserts the transfer —
//! driven by CONNECTIONS client connections at once, on the machine's PostgreSQL.
//!
//! The workload is the one `benches/economy/run.sh` gives DAIRA: TRANSFERS payments among
//! ACCOUNTS accounts with random amounts, about one in 17 more than anyone holds (refused), and
//! about one in 20 a retry of an earlier payment with the same key (answered, not applied twice).
//! Afterwards it checks what it claims: Σ balances unchanged, none below zero, and exactly the
//! acknowledged transfers stored.
//!
//! Usage: ledger_peer URL [TRANSFERS] [CONNECTIONS] [ACCOUNTS]. Prints one line of figures.

use benches::ledger::{OPENING, Payment, workload};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, Row};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, PartialEq)]
enum Outcome {
    Made,
    Retry,
    Refused,
}

async fn pay(conn: &mut sqlx::PgConnection, schema: &str, p: &Payment) -> Result<Outcome, sqlx::Error> {
    let (key, debit, credit, amount) = p;
    let mut tx = conn.begin().await?;
    let known =
        sqlx::query(AssertSqlSafe(format!("SELECT debit, credit, amount FROM {schema}.transfers WHERE id = $1")))
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(row) = known {
        tx.commit().await?;
        let same = (row.get::<i64, _>(0), row.get::<i64, _>(1), row.get::<i64, _>(2)) == (*debit, *credit, *amount);
        return Ok(if same { Outcome::Retry } else { Outcome::Refused });
    }
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT id, balance FROM {schema}.accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    )))
    .bind(vec![*debit, *credit])
    .fetch_all(&mut *tx)
    .await?;
    let balance = rows.iter().find(|r| r.get::<i64, _>(0) == *debit).map(|r| r.get::<i64, _>(1)).unwrap_or(0);
    if balance < *amount {
        tx.rollback().await?;
        return Ok(Outcome::Refused);
    }
    sqlx::query(AssertSqlSafe(format!("UPDATE {schema}.accounts SET balance = balance - $2 WHERE id = $1")))
        .bind(debit)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
    sqlx::query(AssertSqlSafe(format!("UPDATE {schema}.accounts SET balance = balance + $2 WHERE id = $1")))
        .bind(credit)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.transfers (id, debit, credit, amount) VALUES ($1, $2, $3, $4)"
    )))
    .bind(key)
    .bind(debit)
    .bind(credit)
    .bind(amount)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Outcome::Made)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).ok_or("usage: ledger_peer URL [TRANSFERS] [CONNECTIONS] [ACCOUNTS]")?.clone();
    let n: usize = args.get(2).map_or(Ok(20_000), |s| s.parse())?;
    let connections: u32 = args.get(3).map_or(Ok(32), |s| s.parse())?;
    let accounts: u64 = args.get(4).map_or(Ok(200), |s| s.parse())?;
    let schema = format!("ledger_peer_{}", std::process::id());
    let pool = PgPoolOptions::new().max_connections(connections).connect(&url).await?;
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&pool).await?;
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {schema}.accounts (id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))"
    )))
    .execute(&pool)
    .await?;
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {schema}.transfers (id text PRIMARY KEY, debit bigint NOT NULL REFERENCES {schema}.accounts, \
         credit bigint NOT NULL REFERENCES {schema}.accounts, amount bigint NOT NULL CHECK (amount > 0), \
         created_at timestamptz NOT NULL DEFAULT now())"
    )))
    .execute(&pool)
    .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.accounts SELECT g, $1 FROM generate_series(1, $2::bigint) g"
    )))
    .bind(OPENING)
    .bind(accounts as i64)
    .execute(&pool)
    .await?;
    let work = Arc::new(workload(n, accounts, 21));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (pool, work, next, schema) = (pool.clone(), work.clone(), next.clone(), schema.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await.expect("a connection");
            let (mut latencies, mut made, mut refused, mut retries, mut conflicts) =
                (Vec::new(), 0u64, 0u64, 0u64, 0u64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = work.get(i) else { break };
                let t = Instant::now();
                let outcome = loop {
                    match pay(&mut conn, &schema, p).await {
                        Ok(o) => break o,
                        // Two clients raced on one key: the loser asks again and finds it.
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                };
                latencies.push(t.elapsed());
                match outcome {
                    Outcome::Made => made += 1,
                    Outcome::Retry => retries += 1,
                    Outcome::Refused => refused += 1,
                }
            }
            (latencies, made, refused, retries, conflicts)
        }));
    }
    let (mut latencies, mut made, mut refused, mut retries, mut conflicts) = (Vec::new(), 0, 0, 0, 0);
    for t in tasks {
        let (l, m, r, re, c) = t.await?;
        latencies.extend(l);
        made += m;
        refused += r;
        retries += re;
        conflicts += c;
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    // What it claims: money conserved, nobody below zero, exactly the made transfers stored.
    let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT sum(balance)::bigint FROM {schema}.accounts")))
        .fetch_one(&pool)
        .await?;
    let negative: i64 =
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {schema}.accounts WHERE balance < 0")))
            .fetch_one(&pool)
            .await?;
    let stored: i64 =
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {schema}.transfers"))).fetch_one(&pool).await?;
    assert_eq!(total, OPENING * accounts as i64, "money is conserved");
    assert_eq!(negative, 0);
    assert_eq!(stored as u64, made, "exactly the made transfers are stored");
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&pool).await?;
    println!(
        "peer postgresql: {n} payments ({made} made, {retries} retries, {refused} refused, {conflicts} key races) \
         over {connections} connections in {secs:.3} s: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        n as f64 / secs,
        ms(pct(0.50)),
        ms(pct(0.99)),
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
