//! Replicas: several `daira serve` processes on one PostgreSQL log, each with its own graph,
//! following the others' appends (issue 24). PostgreSQL only.

use crate::server::{Server, ws};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// Starts replica `n` of the log in `schema`, with the replicas' one key file.
fn replica(dir: &Path, n: u16, url: &str, schema: &str) -> Server {
    let keys = dir.join("keys.json");
    let data = dir.join(format!("replica{n}"));
    let id = n.to_string();
    let args = [
        "--database-url",
        url,
        "--pg-schema",
        schema,
        "--key-file",
        keys.to_str().unwrap(),
        "--replica-id",
        &id,
        "--rate-per-ip",
        "0",
        "--rate-per-token",
        "0",
    ];
    Server::start_in(&data, false, &args)
}

fn health(server: &Server) -> Value {
    server.request("GET", "/healthz?hash", &[], b"").json()
}

/// Waits until every replica has applied the log's head; their state hashes.
fn settled(replicas: &[&Server]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states: Vec<Value> = replicas.iter().map(|r| health(r)).collect();
        let head = states.iter().filter_map(|s| s["log_head"].as_u64()).max().unwrap();
        if states.iter().all(|s| s["log_seq"].as_u64() == Some(head)) {
            return states.iter().map(|s| s["state_hash"].as_str().unwrap().to_owned()).collect();
        }
        assert!(Instant::now() < deadline, "replicas did not settle: {states:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A mutation through `server`; its payload, asserting no user errors.
fn mutate(server: &Server, token: &str, query: &str, variables: Value) -> Value {
    let data = server.gql(query, variables, Some(token));
    let payload = crate::payload(&data).clone();
    assert!(payload["userErrors"].as_array().is_none_or(|e| e.is_empty()), "{query}: {payload}");
    payload
}

const JOIN: &str = "mutation($w: ID!) { joinWorld(input: {world: $w}) { seq userErrors { message } } }";

#[test]
#[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
fn three_replicas_write_concurrently_converge_and_see_each_others_events() {
    let (url, schema) = crate::postgres("daira_replicas");
    let dir = tempfile::tempdir().unwrap();
    // The first makes the log's tables and the key file; the others open them.
    let one = replica(dir.path(), 1, &url, &schema);
    let two = replica(dir.path(), 2, &url, &schema);
    let three = replica(dir.path(), 3, &url, &schema);
    let replicas = [&one, &two, &three];

    let (founder, _) = one.user_with_mask("founder", "founder_pub", "PUBLIC");
    let world = one.gql(
        "mutation { createWorld(input: {name: \"Replicated\"}) { world { id } seq } }",
        json!({}),
        Some(&founder),
    );
    let (world, seq) = (
        world["createWorld"]["world"]["id"].as_str().unwrap().to_owned(),
        world["createWorld"]["seq"].as_str().unwrap().to_owned(),
    );

    // A subscriber on the third replica, once it has the world.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (watcher, _) = three.user_with_mask("watcher", "watcher_pub", "PUBLIC");
    let probe = three.request("GET", "/healthz", &[("X-Daira-Min-Seq", &seq)], b"");
    assert_eq!(probe.status, 200);
    let mut socket = runtime.block_on(ws::watch(
        &three.ws_url("/graphql"),
        &watcher,
        "subscription($w: ID!) { worldActivity(world: $w) { kind seq } }",
        json!({"w": world}),
    ));

    // Writers on all three at once: each user registers, makes a mask and joins the world
    // through its own replica; commits race for the log's head.
    const PER_REPLICA: usize = 12;
    std::thread::scope(|scope| {
        for (r, server) in replicas.iter().enumerate() {
            let world = world.clone();
            scope.spawn(move || {
                for i in 0..PER_REPLICA {
                    let (token, _) = server.user_with_mask(&format!("u{r}_{i}"), &format!("u{r}_{i}_pub"), "PUBLIC");
                    mutate(server, &token, JOIN, json!({"w": world}));
                }
            });
        }
    });

    // Every join reaches the subscriber on the third replica, whichever replica took it.
    let mut joined = 0;
    while joined < 3 * PER_REPLICA {
        let message = runtime
            .block_on(ws::next(&mut socket, Duration::from_secs(15)))
            .unwrap_or_else(|| panic!("{joined} of {} joins reached the subscriber", 3 * PER_REPLICA));
        if message["payload"]["data"]["worldActivity"]["kind"] == "JOINED" {
            joined += 1;
        }
    }

    // The same state on every replica, and the same as a replay of the log.
    let hashes = settled(&replicas);
    assert!(hashes.windows(2).all(|h| h[0] == h[1]), "replicas differ: {hashes:?}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_daira"))
        .args(["--data", dir.path().join("replay").to_str().unwrap(), "--database-url", &url, "--pg-schema", &schema])
        .args(["--key-file", dir.path().join("keys.json").to_str().unwrap(), "stats", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replayed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replayed["state_hash"].as_str(), Some(hashes[0].as_str()), "a replay of the log");
    let conflicts: u64 = replicas.iter().map(|r| health(r)["conflicts"].as_u64().unwrap()).sum();
    eprintln!("conflicts decided again: {conflicts}");
}

#[test]
#[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
fn a_write_on_one_replica_is_read_on_another_with_min_seq() {
    let (url, schema) = crate::postgres("daira_ryw");
    let dir = tempfile::tempdir().unwrap();
    let a = replica(dir.path(), 1, &url, &schema);
    let b = replica(dir.path(), 2, &url, &schema);
    let (reader, _) = a.user_with_mask("reader", "reader_pub", "PUBLIC");
    let (_, star) = a.user_with_mask("star", "star_pub", "PUBLIC");
    let count = "query($m: ID!) { node(id: $m) { ... on Mask { followers(first: 1) { totalCount } } } }";
    let follow = "mutation($m: ID!) { follow(input: {mask: $m}) { seq userErrors { message } } }";
    let unfollow = "mutation($m: ID!) { unfollow(input: {mask: $m}) { seq userErrors { message } } }";
    // 1,000 pairs: a write on one replica, then a read on the other carrying its seq.
    for i in 0..1000 {
        let (writer, other) = if (i / 2) % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (mutation, expected) = if i % 2 == 0 { (follow, 1) } else { (unfollow, 0) };
        let seq = mutate(writer, &reader, mutation, json!({"m": star}))["seq"].as_str().unwrap().to_owned();
        let body = json!({"query": count, "variables": {"m": star}});
        let reply = other.request(
            "POST",
            "/graphql",
            &[
                ("Content-Type", "application/json"),
                ("X-Daira-Min-Seq", &seq),
                ("Authorization", &format!("Bearer {reader}")),
            ],
            body.to_string().as_bytes(),
        );
        assert_eq!(reply.status, 200, "pair {i}: {}", reply.brief());
        assert_eq!(
            reply.json()["data"]["node"]["followers"]["totalCount"],
            expected,
            "pair {i}: the read missed the write {seq}: {}",
            reply.brief()
        );
    }

    // A sequence number nobody has written: a clear 503 after the bounded wait; a bad one, 400.
    let far = b.request(
        "POST",
        "/graphql",
        &[("Content-Type", "application/json"), ("X-Daira-Min-Seq", "999999999")],
        br#"{"query":"{ __typename }"}"#,
    );
    assert_eq!((far.status, far.code().as_str()), (503, "REPLICA_BEHIND"), "{}", far.brief());
    assert!(far.json()["errors"][0]["message"].as_str().unwrap().contains("999999999"));
    let bad = b.request(
        "POST",
        "/graphql",
        &[("Content-Type", "application/json"), ("X-Daira-Min-Seq", "soon")],
        br#"{"query":"{ __typename }"}"#,
    );
    assert_eq!((bad.status, bad.code().as_str()), (400, "BAD_USER_INPUT"), "{}", bad.brief());
}
