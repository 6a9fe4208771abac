//! Replicas: several `daira serve` processes on one PostgreSQL log, each with its own graph,
//! following the others' appends (issue 24). PostgreSQL only.

use crate::server::{Server, ws};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// Starts replica `n` of the log in `schema`, with the replicas' one key file.
fn replica(dir: &Path, n: u16, url: &str, schema: &str) -> Server {
    replica_with(dir, n, url, schema, &["--rate-per-ip", "0", "--rate-per-token", "0"])
}

/// [`replica`] with these limits' arguments.
fn replica_with(dir: &Path, n: u16, url: &str, schema: &str, limits: &[&str]) -> Server {
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
        // An epoch after every commit, at most five a second.
        "--epoch-events",
        "1",
        "--epoch-interval-ms",
        "200",
    ];
    let args: Vec<&str> = args.into_iter().chain(limits.iter().copied()).collect();
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

const REGISTER: &str =
    "mutation($l: String!) { register(input: {login: $l, password: \"a long enough password\"}) { token } }";
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

    // One replica computes epochs; all of them serve the same one.
    let (epoch, leader) = same_epoch(&replicas, 0);
    eprintln!("epoch {epoch} computed by replica {}", leader + 1);
    // `daira replicas` lists the three, up, caught up, and the one that leads.
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_daira"))
        .args(["--database-url", &url, "--pg-schema", &schema, "replicas", "--json"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let rows = listed["replicas"].as_array().unwrap();
    assert_eq!(rows.iter().map(|r| r["id"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3], "{listed}");
    assert!(rows.iter().all(|r| r["up"] == true && r["lag"].as_u64().unwrap() < 5), "{listed}");
    assert_eq!(rows.iter().filter(|r| r["leader"] == true).count(), 1, "{listed}");
    // The leader goes (kill -9): another takes the lock, and epochs go on for the rest.
    let mut replicas: Vec<Server> = vec![one, two, three];
    let mut gone = replicas.remove(leader);
    gone.child.kill().unwrap();
    gone.child.wait().unwrap();
    // The mask is made on one replica and used on another: as a client must, the join waits
    // (X-Daira-Min-Seq) until the other has applied the mask's event.
    let (token, _) = replicas[0].user_with_mask("after", "after_pub", "PUBLIC");
    let made = health(&replicas[0])["log_seq"].as_u64().unwrap().to_string();
    let probe = replicas[1].request("GET", "/healthz", &[("X-Daira-Min-Seq", &made)], b"");
    assert_eq!(probe.status, 200, "{}", probe.brief());
    mutate(&replicas[1], &token, JOIN, json!({"w": world}));
    let rest: Vec<&Server> = replicas.iter().collect();
    let (later, _) = same_epoch(&rest, epoch);
    assert!(later > epoch);
}

/// Waits until every replica serves one epoch newer than `after` and exactly one leads: that
/// epoch, and the leader's place in `replicas`.
fn same_epoch(replicas: &[&Server], after: u64) -> (u64, usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states: Vec<Value> = replicas.iter().map(|r| health(r)).collect();
        let epochs: Vec<Option<u64>> = states.iter().map(|s| s["epoch"].as_u64()).collect();
        let leaders: Vec<usize> = (0..states.len()).filter(|&i| states[i]["epoch_leader"] == true).collect();
        if let ([leader], Some(epoch)) = (&leaders[..], epochs[0])
            && epoch > after
            && epochs.iter().all(|e| *e == Some(epoch))
            && states.iter().all(|s| s["lag"] == 0)
        {
            return (epoch, *leader);
        }
        assert!(Instant::now() < deadline, "no common epoch after {after} with one leader: {states:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
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

/// A GraphQL POST that may fail (the replica may be dead): the response's JSON, if any came.
fn try_post(addr: std::net::SocketAddr, token: &str, query: &str, variables: Value) -> Option<Value> {
    use std::io::{Read, Write};
    let body = json!({"query": query, "variables": variables}).to_string();
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| serde_json::from_str(body).ok())?
}

#[test]
#[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
fn a_replica_killed_under_load_loses_no_acknowledged_write_and_catches_up() {
    let (url, schema) = crate::postgres("daira_kill");
    let dir = tempfile::tempdir().unwrap();
    let one = replica(dir.path(), 1, &url, &schema);
    let two = replica(dir.path(), 2, &url, &schema);
    let three = std::sync::Mutex::new(replica(dir.path(), 3, &url, &schema));
    let (token, _) = one.user_with_mask("writer", "writer_pub", "PUBLIC");
    let create = "mutation($h: String!) { createMask(input: {kind: PUBLIC, handle: $h, displayName: $h}) { mask { id } seq userErrors { message } } }";
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acknowledged = std::sync::Mutex::new(Vec::<String>::new());
    let addresses = [one.addr, two.addr];
    std::thread::scope(|scope| {
        // Writers on every replica, the one that gets killed included: what any of them
        // acknowledged must survive.
        for r in 0..3 {
            let (stop, acknowledged, three, token) = (&stop, &acknowledged, &three, &token);
            scope.spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let addr = addresses.get(r).copied().unwrap_or_else(|| three.lock().unwrap().addr);
                    let handle = format!("k{r}_{i}");
                    i += 1;
                    // A new account each time (masks per account are capped): registered in
                    // the shared account store, its mask through the log.
                    let Some(registered) = try_post(addr, token, REGISTER, json!({"l": handle})) else { continue };
                    let Some(fresh) = registered["data"]["register"]["token"].as_str() else { continue };
                    if let Some(reply) = try_post(addr, fresh, create, json!({"h": handle}))
                        && let Some(id) = reply["data"]["createMask"]["mask"]["id"].as_str()
                    {
                        acknowledged.lock().unwrap().push(id.to_owned());
                    }
                }
            });
        }
        // The writers stop however this ends (a failed assertion included).
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        // kill -9 of the third, three times, under that load; each time it comes back on the
        // same data directory and catches up from the log.
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(1500));
            let mut dead = three.lock().unwrap();
            dead.child.kill().unwrap();
            dead.child.wait().unwrap();
            // The others keep serving while it is down.
            std::thread::sleep(Duration::from_millis(500));
            assert!(health(&one)["status"] == "ok" && health(&two)["status"] == "ok");
            *dead = replica(dir.path(), 3, &url, &schema);
        }
        std::thread::sleep(Duration::from_millis(1000));
    });
    let three = three.into_inner().unwrap();
    let replicas = [&one, &two, &three];
    let hashes = settled(&replicas);
    assert!(hashes.windows(2).all(|h| h[0] == h[1]), "replicas differ: {hashes:?}");
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(acknowledged.len() > 30, "the load wrote {} masks", acknowledged.len());
    let lookup = "query($m: ID!) { node(id: $m) { id } }";
    for server in replicas {
        for id in &acknowledged {
            let found = server.gql(lookup, json!({"m": id}), Some(&token));
            assert_eq!(found["node"]["id"].as_str(), Some(id.as_str()), "acknowledged mask {id} is gone");
        }
    }
    eprintln!("{} acknowledged writes, all on every replica", acknowledged.len());
}

#[test]
#[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
fn a_client_spreading_requests_over_replicas_meets_one_allowance() {
    let (url, schema) = crate::postgres("daira_limits");
    let dir = tempfile::tempdir().unwrap();
    // 5 requests a second per address, a burst of 10, kept in the machine's Redis.
    let limits = ["--rate-per-ip", "5", "--rate-per-token", "0", "--redis-url", "redis://127.0.0.1:6379"];
    let a = replica_with(dir.path(), 1, &url, &schema, &limits);
    let b = replica_with(dir.path(), 2, &url, &schema, &limits);
    // The attack: alternate between replicas to get each one's burst.
    let started = Instant::now();
    let mut allowed = 0;
    let mut refused = [0, 0];
    for i in 0..30 {
        let server = if i % 2 == 0 { &a } else { &b };
        let reply = server.request(
            "POST",
            "/graphql",
            &[("Content-Type", "application/json")],
            br#"{"query":"{ __typename }"}"#,
        );
        match reply.status {
            200 => allowed += 1,
            429 => {
                assert_eq!(reply.code(), "THROTTLED");
                refused[i % 2] += 1;
            }
            other => panic!("status {other}: {}", reply.brief()),
        }
    }
    // One allowance: the burst, and what refilled meanwhile — not a burst per replica.
    let refill = (started.elapsed().as_secs_f64() * 5.0).ceil() as u32;
    assert!(allowed <= 10 + refill + 1, "{allowed} of 30 allowed in {:?} across two replicas", started.elapsed());
    // Sent quickly enough that little refilled, both refuse once the one allowance is spent
    // (on a slow machine the refill may fall on one replica's turns only).
    if started.elapsed() < Duration::from_secs(1) {
        assert!(
            refused[0] > 0 && refused[1] > 0,
            "both replicas refuse once the shared allowance is spent: {refused:?}"
        );
    }
}
