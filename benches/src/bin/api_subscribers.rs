//! Subscription delivery (issue 11): N subscribers (default 1,000) on `worldActivity` of one
//! world over graphql-transport-ws, against a running `daira serve`; M joins and leaves of
//! that world (default 100, one every `PACE_MS`, default 50 ms), each a durable mutation over
//! HTTP. For every
//! delivery it records the time from the commit (the server stamps each event with the moment
//! its batch was durable and applied; same machine, same clock) to the subscriber reading the
//! event off its socket — and, more pessimistic, from sending the mutation (the HTTP request
//! and the fdatasync inside) — and prints the percentiles.
//!
//! ```text
//! cargo run --release -p benches --bin api_subscribers -- 127.0.0.1:8080 [N] [M] [--floor] [--client=bare|tungstenite]
//! ```
//! With `--floor`, the floor under it is measured in the same run, round for round: between
//! two mutations (halfway to the next) WRITERS threads (default 2, as the server has two workers)
//! write a 120-byte message to each of N more loopback sockets with plain blocking writes, and
//! this same thread reads them, one task per socket — so the server and the bare wire meet the
//! same machine at the same moments, and their p99s are compared as a ratio (a floor measured
//! seconds apart, by `loopback_floor`, swings by half on this machine). It needs 3·N files.
//!
//! The subscribers read their frames as barely as the floor's readers read their messages
//! (`--client=bare`, the default: [`benches::bare_ws`]), so that what the figure holds beyond
//! the floor is the server's; `--client=tungstenite` reads them with tokio-tungstenite, a
//! typical Rust client, whose decoding on this one thread then counts too.
//!
//! `DETAIL=1` prints each event's first, median, p99 and last receipt (from its commit).
//!
//! The server needs `--rate-per-ip 0 --rate-per-token 0`, and `ulimit -n` above 2·N. The
//! sockets come from 127.0.0.2 to 127.0.0.9 in turn (the loopback range), so that 10,000 of
//! them use no address's ephemeral ports up, and the server's per-address caps see several
//! clients; raise `--websockets-per-ip` to N/8 and `--websockets-per-user` to N.

use benches::bare_ws::{self, BareSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn post(addr: &str, query: &str, variables: Value, token: Option<&str>) -> Value {
    let body = json!({"query": query, "variables": variables}).to_string();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let json = text.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The bare wire beside the server: N loopback sockets, written by `writers` threads of plain
/// blocking writes when told, read by tasks on the caller's runtime.
struct Floor {
    rounds: Vec<std::sync::mpsc::Sender<[u8; benches::floor::MESSAGE]>>,
    /// Each message's round (its stamp) and its write -> read time.
    latencies: benches::floor::Reads,
}

impl Floor {
    async fn open(n: usize, writers: usize) -> Floor {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepting = std::thread::spawn(move || {
            (0..n)
                .map(|_| {
                    let (socket, _) = listener.accept().unwrap();
                    socket.set_nodelay(true).unwrap();
                    socket
                })
                .collect::<Vec<_>>()
        });
        // The readers run until the writers close (this process ends).
        let (_, latencies) = benches::floor::readers(addr, n, None).await;
        let mut sockets = accepting.join().unwrap();
        let chunk = n.div_ceil(writers.max(1));
        let mut rounds = Vec::new();
        while !sockets.is_empty() {
            let rest = sockets.split_off(chunk.min(sockets.len()));
            let mut part = std::mem::replace(&mut sockets, rest);
            let (tell, told) = std::sync::mpsc::channel::<[u8; benches::floor::MESSAGE]>();
            std::thread::spawn(move || {
                use std::io::Write;
                while let Ok(message) = told.recv() {
                    for socket in part.iter_mut() {
                        socket.write_all(&message).unwrap();
                    }
                }
            });
            rounds.push(tell);
        }
        Floor { rounds, latencies }
    }

    /// One round: every socket written once, stamped now.
    fn round(&self) {
        let message = benches::floor::message();
        for writer in &self.rounds {
            writer.send(message).unwrap();
        }
    }
}

/// Each message a subscriber read: its bytes, when (monotonic), and when in microseconds since
/// the Unix epoch (to compare with the server's commit stamp).
type Received = Arc<parking_lot::Mutex<Vec<(Vec<u8>, Instant, f64)>>>;

/// How the subscribers read their sockets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Client {
    /// Frames cut out of the bytes as they come ([`BareSocket`]): as bare as the floor's reader.
    Bare,
    /// tokio-tungstenite, a typical Rust client: its decoding is counted too.
    Tungstenite,
}

fn main() {
    let with_floor = std::env::args().any(|a| a == "--floor");
    let client = match std::env::args().find_map(|a| a.strip_prefix("--client=").map(str::to_owned)).as_deref() {
        None | Some("bare") => Client::Bare,
        Some("tungstenite") => Client::Tungstenite,
        Some(other) => {
            eprintln!("--client={other}: bare or tungstenite");
            std::process::exit(2);
        }
    };
    let mut args = std::env::args().skip(1).filter(|a| a != "--floor" && !a.starts_with("--client="));
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let subscribers: usize = args.next().map_or(1000, |a| a.parse().expect("N"));
    let events: usize = args.next().map_or(100, |a| a.parse().expect("M"));
    // One thread for all the subscribers: the server under test gets the other core, and
    // the client pays no cross-thread wake-ups.
    let threads: usize = std::env::var("SUBSCRIBER_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(1);
    let runtime = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    };
    runtime.block_on(async move {
        let login = format!("subs_bench_{}", std::process::id());
        let data = post(&addr, "mutation($l: String!) { register(input: {login: $l, password: \"benchmark password\"}) { token } }", json!({"l": login}), None).await;
        let token = data["data"]["register"]["token"].as_str().expect("register").to_owned();
        let data = post(&addr, "mutation($h: String!) { createMask(input: {kind: PUBLIC, handle: $h, displayName: $h}) { mask { id } } }", json!({"h": login}), Some(&token)).await;
        let mask = data["data"]["createMask"]["mask"]["id"].as_str().expect("mask").to_owned();
        let data = post(&addr, "{ worlds(first: 1) { edges { node { id name } } } }", json!({}), None).await;
        let world = data["data"]["worlds"]["edges"][0]["node"]["id"].as_str().expect("a world").to_owned();

        // The subscribers: each records when it received each event, by sequence number.
        let received: Received = Arc::default();
        let ready = Arc::new(tokio::sync::Barrier::new(subscribers + 1));
        let opened = Instant::now();
        let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let server: std::net::SocketAddr = addr.parse().expect("ADDR is ip:port");
        for i in 0..subscribers {
            let (addr, token, world, received, ready) = (addr.clone(), token.clone(), world.clone(), received.clone(), ready.clone());
            let dropped = dropped.clone();
            tokio::spawn(async move {
                let local = std::net::SocketAddr::from(([127, 0, 0, 2 + (i % 8) as u8], 0));
                let tcp = tokio::net::TcpSocket::new_v4().unwrap();
                tcp.bind(local).expect("bind a loopback address");
                let stream = tcp.connect(server).await.expect("connect");
                stream.set_nodelay(true).unwrap();
                let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
                let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
                    "query": "subscription($w: ID!) { worldActivity(world: $w) { kind seq committedAt } }", "variables": {"w": world}}});
                // Stamp each message as it comes off the socket and read it later: parsing
                // here would delay the other sockets this thread serves, which is the client's
                // cost, not the server's.
                let record = |text: &[u8]| {
                    let at = Instant::now();
                    if text.starts_with(b"{\"type\":\"error\"") {
                        // THROTTLED: it lagged behind its shared stream and was cut off.
                        dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let now_us = benches::floor::now_us() as f64;
                    received.lock().push((text.to_vec(), at, now_us));
                };
                if client == Client::Bare {
                    let mut socket = BareSocket::upgrade(stream, &addr, "/graphql/ws").await.expect("WebSocket");
                    socket.send(&init.to_string()).await.unwrap();
                    let _ack = socket.next().await.expect("connection_ack");
                    socket.send(&subscribe.to_string()).await.unwrap();
                    ready.wait().await;
                    while let Ok(bare_ws::Frame::Text(text)) = socket.next().await {
                        record(text);
                    }
                } else {
                    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().unwrap();
                    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
                    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
                    let (mut socket, _) =
                        tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await.expect("WebSocket");
                    socket.send(Message::text(init.to_string())).await.unwrap();
                    let _ack = socket.next().await;
                    socket.send(Message::text(subscribe.to_string())).await.unwrap();
                    ready.wait().await;
                    while let Some(Ok(message)) = socket.next().await {
                        match message {
                            Message::Text(text) => record(text.as_bytes()),
                            Message::Close(_) => break,
                            _ => {}
                        }
                    }
                }
                // The server closed it (or the connection broke) before the run ended.
                dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            });
        }
        ready.wait().await;
        let connect_time = opened.elapsed();
        let writers = std::env::var("WRITERS").ok().and_then(|t| t.parse().ok()).unwrap_or(2);
        let floor = if with_floor { Some(Floor::open(subscribers, writers).await) } else { None };
        tokio::time::sleep(Duration::from_millis(500)).await;

        let pace = Duration::from_millis(benches::floor::pace_ms());
        let mut sent = Vec::with_capacity(events);
        for i in 0..events {
            let mutation = if i % 2 == 0 { "joinWorld" } else { "leaveWorld" };
            let query = format!("mutation($m: ID!, $w: ID!) {{ {mutation}(input: {{as: $m, world: $w}}) {{ seq userErrors {{ message }} }} }}");
            let at = Instant::now();
            let data = post(&addr, &query, json!({"m": mask, "w": world}), Some(&token)).await;
            let seq: u64 = data["data"][mutation]["seq"].as_str().unwrap_or_else(|| panic!("{data}")).parse().unwrap();
            sent.push((seq, at));
            if let Some(floor) = &floor {
                // Halfway to the next mutation: the bare wire's round.
                tokio::time::sleep_until(tokio::time::Instant::from_std(at) + pace / 2).await;
                floor.round();
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(at) + pace).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let received: Vec<(u64, Instant, f64)> = received
            .lock()
            .iter()
            .filter_map(|(text, at, now_us)| {
                let value: Value = serde_json::from_slice(text).ok()?;
                let activity = &value["payload"]["data"]["worldActivity"];
                let seq = activity["seq"].as_str()?.parse().ok()?;
                let committed: f64 = activity["committedAt"].as_str()?.parse().ok()?;
                Some((seq, *at, (now_us - committed) / 1e3))
            })
            .collect();
        if std::env::var("DETAIL").is_ok() {
            let mut by_event: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
            for (seq, _, ms) in &received {
                by_event.entry(*seq).or_default().push(*ms);
            }
            for (seq, mut v) in by_event {
                v.sort_by(f64::total_cmp);
                println!("event {seq}: first {:.2} p50 {:.2} p99 {:.2} last {:.2}", v[0], percentile(&v, 0.5), percentile(&v, 0.99), v[v.len() - 1]);
            }
        }
        let sent: std::collections::HashMap<u64, Instant> = sent.into_iter().collect();
        let mut latencies: Vec<f64> = received
            .iter()
            .filter_map(|(seq, at, _)| sent.get(seq).map(|s| at.duration_since(*s).as_secs_f64() * 1e3))
            .collect();
        latencies.sort_by(f64::total_cmp);
        let mut from_commit: Vec<f64> = received.iter().filter(|(seq, _, _)| sent.contains_key(seq)).map(|r| r.2).collect();
        from_commit.sort_by(f64::total_cmp);
        let expected = subscribers * events;
        let dropped = dropped.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "subscribers {subscribers} ({client:?} client; connected and subscribed in {:.2} s), events {events}",
            connect_time.as_secs_f64()
        );
        println!("deliveries {} of {expected}; subscribers dropped: {dropped}", latencies.len());
        if !latencies.is_empty() {
            println!(
                "commit -> receive ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
                percentile(&from_commit, 0.5),
                percentile(&from_commit, 0.9),
                percentile(&from_commit, 0.99),
                from_commit[from_commit.len() - 1]
            );
            println!(
                "send -> receive ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.9),
                percentile(&latencies, 0.99),
                latencies[latencies.len() - 1]
            );
        }
        if let Some(floor) = &floor {
            let rounds = std::mem::take(&mut *floor.latencies.lock());
            if std::env::var("DETAIL").is_ok() {
                let mut by_round: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
                for (stamp, ms) in &rounds {
                    by_round.entry(*stamp).or_default().push(*ms);
                }
                for (i, mut v) in by_round.into_values().enumerate() {
                    v.sort_by(f64::total_cmp);
                    println!("floor round {i}: first {:.2} p50 {:.2} p99 {:.2} last {:.2}", v[0], percentile(&v, 0.5), percentile(&v, 0.99), v[v.len() - 1]);
                }
            }
            let mut wire: Vec<f64> = rounds.into_iter().map(|(_, ms)| ms).collect();
            wire.sort_by(f64::total_cmp);
            if wire.len() == expected && !from_commit.is_empty() {
                let p99 = percentile(&wire, 0.99);
                println!(
                    "floor, same run, alternate rounds ({writers} writing threads): write -> read ms p50 {:.2}  p90 {:.2}  p99 {p99:.2}  max {:.2}",
                    percentile(&wire, 0.5),
                    percentile(&wire, 0.9),
                    wire[wire.len() - 1]
                );
                println!("commit -> receive p99 / floor p99: {:.2}", percentile(&from_commit, 0.99) / p99);
            } else {
                println!("floor: {} of {expected} messages read", wire.len());
                std::process::exit(1);
            }
        }
        std::process::exit(if latencies.len() == expected && dropped == 0 { 0 } else { 1 });
    });
}
