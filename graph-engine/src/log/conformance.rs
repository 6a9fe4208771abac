//! One conformance suite for every event-log backend (SQLite, PostgreSQL): the same generic
//! tests, so the two cannot drift apart. It lives inside the crate because appending does:
//! no other crate can write to a log.

use super::{LogReader, LogWriter, PostgresLog, SqliteLog};
use crate::log;
use crate::seal::KeyringChange;
use crate::{Error, LogPosition, Verification};
use schema::{EdgeKind, Event, Id};

/// The PostgreSQL server for the backend suites: `DAIRA_TEST_POSTGRES_URL`. CI sets it; without
/// it the PostgreSQL half says it was skipped.
fn postgres_url() -> Option<String> {
    std::env::var("DAIRA_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
}

/// A fresh PostgreSQL schema name for one test.
fn fresh_schema(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("t_{test}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

fn event(i: u64) -> Event {
    Event::EdgeAdded { kind: EdgeKind::Follows, src: Id(i), dst: Id(i + 1), weight: None, time_ms: Some(i as i64) }
}

fn payloads(range: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    range.map(|i| log::encode(&event(i))).collect()
}

async fn all<L: LogReader>(log: &L) -> Vec<log::Record> {
    let mut records = Vec::new();
    log.scan(1, |r| {
        records.push(r);
        Ok(())
    })
    .await
    .unwrap();
    records
}

/// The suite. `reopen` gives a second handle on the same stored log (a restart).
async fn suite<L: LogWriter, F: Future<Output = L>>(log: L, reopen: impl Fn() -> F) {
    // An empty log.
    assert_eq!(log.head().await.unwrap(), LogPosition::default());
    assert!(all(&log).await.is_empty());
    assert_eq!(log::verify(&log).await.unwrap(), Verification::Intact { head: LogPosition::default() });

    // Appends chain, and read back exactly.
    let first = log::chain(LogPosition::default(), 1_700_000_000_000, payloads(0..3));
    log.append(&first, &KeyringChange::default()).await.unwrap();
    let head = log.head().await.unwrap();
    assert_eq!(head, LogPosition { seq: 3, hash: first[2].hash });
    let second = log::chain(head, 1_700_000_000_001, payloads(3..300));
    log.append(&second, &KeyringChange::default()).await.unwrap();
    let records = all(&log).await;
    assert_eq!(records.len(), 300);
    assert_eq!(records[..3], first[..]);
    assert_eq!(records[3..], second[..]);
    assert_eq!(records[42].event().unwrap(), event(42));
    assert_eq!(log.get(7).await.unwrap().as_ref(), Some(&records[6]));
    assert_eq!(log.get(301).await.unwrap(), None);

    // Scanning from the middle.
    let mut tail = Vec::new();
    log.scan(299, |r| {
        tail.push(r.seq);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(tail, [299, 300]);

    // A batch that does not follow the head is refused whole.
    let head = log.head().await.unwrap();
    let stale = log::chain(LogPosition { seq: head.seq - 1, hash: head.hash }, 5, payloads(0..2));
    match log.append(&stale, &KeyringChange::default()).await {
        Err(Error::Conflict { expected: 301, found: 300 }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(log.head().await.unwrap(), head);

    // Large payloads (bulk import chunks) survive intact.
    let bulk = Event::Bulk(schema::Bulk::Edges {
        kind: EdgeKind::Follows,
        src: schema::U32s((0..1u32 << 20).collect()),
        dst: schema::U32s((0..1u32 << 20).map(|i| i.wrapping_mul(2_654_435_761) >> 12).collect()),
        weight: None,
        time_ms: None,
    });
    let big = log::encode(&bulk);
    assert!(big.len() > 8 << 20);
    let records = log::chain(head, 9, vec![big.clone(), log::encode(&Event::Bulk(schema::Bulk::End))]);
    log.append(&records, &KeyringChange::default()).await.unwrap();
    assert_eq!(log.get(301).await.unwrap().unwrap().payload, big);

    // The chain verifies, and a restart sees the same log.
    let head = log.head().await.unwrap();
    assert_eq!(head.seq, 302);
    assert_eq!(log::verify(&log).await.unwrap(), Verification::Intact { head });
    let again = reopen().await;
    assert_eq!(again.head().await.unwrap(), head);
    assert_eq!(all(&again).await.len(), 302);

    // Concurrent appends from two handles: exactly one of two racing batches lands.
    let a = log::chain(head, 10, payloads(0..5));
    let b = log::chain(head, 11, payloads(5..10));
    let none = KeyringChange::default();
    let (ra, rb) = tokio::join!(log.append(&a, &none), again.append(&b, &none));
    assert!(ra.is_ok() != rb.is_ok(), "one append wins: {ra:?} / {rb:?}");
    assert_eq!(log.head().await.unwrap().seq, 307);
    assert!(matches!(log::verify(&log).await.unwrap(), Verification::Intact { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let log = SqliteLog::open(&path).await.unwrap();
    suite(log, || async { SqliteLog::open(&path).await.unwrap() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
async fn postgres_log_conforms() {
    let url = postgres_url().expect("DAIRA_TEST_POSTGRES_URL names the server");
    let schema = fresh_schema("conformance");
    let log = PostgresLog::open(&url, Some(&schema)).await.unwrap();
    suite(log, || async { PostgresLog::open(&url, Some(&schema)).await.unwrap() }).await;
    eprintln!("postgres conformance suite ran against {url} in schema {schema}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_first_tampered_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let log = SqliteLog::open(&path).await.unwrap();
    log.append(&log::chain(LogPosition::default(), 1, payloads(0..20)), &KeyringChange::default()).await.unwrap();
    log.close().await;
    // Tamper with record 12's payload behind the log's back.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display())).await.unwrap();
    sqlx::query("UPDATE events SET payload = ? WHERE seq = 12")
        .bind(log::encode(&event(999)))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let log = SqliteLog::open(&path).await.unwrap();
    match log::verify(&log).await.unwrap() {
        Verification::Broken { seq: 12, .. } => {}
        other => panic!("expected a break at 12, got {other:?}"),
    }
}
