//! DAIRA's side of issue 21's benchmark (`benches/economy/run.sh` drives it):
//!
//! - `ledger_load exec-lines IDS N [SEED]`: the payments workload as `daira exec` lines, for the
//!   accounts named in IDS (one `USER MASK` per line, account 1 first);
//! - `ledger_load setup URL MASKS`: registers MASKS users over GraphQL, each with a mask
//!   `load_I`, and lists a work of each of the first 20 (LICENSE, 1 to 20 EGP); prints the
//!   state as JSON;
//! - `ledger_load run URL STATE N CONNECTIONS [SEED]`: N payments and purchases from
//!   CONNECTIONS keep-alive connections at once (every tenth a purchase; retries with the same
//!   key), then checks what the issue asks — Σ balances = Σ issued exactly, no balance below
//!   zero, every acknowledged transfer present once and no refused one — and prints the figures.

use benches::ledger::{Payment, egp, workload};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection to the server.
struct Http {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Http {
    async fn connect(addr: &str) -> Http {
        let stream = TcpStream::connect(addr).await.expect("the server listens");
        stream.set_nodelay(true).unwrap();
        Http { stream: BufReader::new(stream), host: addr.to_owned() }
    }

    /// POSTs a GraphQL request; the response's JSON.
    async fn gql(&mut self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.try_gql(query, variables, token).await.expect("the server answers")
    }

    /// POSTs a GraphQL request; None when the connection fails (the server was killed).
    async fn try_gql(&mut self, query: &str, variables: Value, token: Option<&str>) -> Option<Value> {
        let body = json!({"query": query, "variables": variables}).to_string();
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await.ok()?;
        stream.write_all(body.as_bytes()).await.ok()?;
        let mut length = None;
        let mut chunked = false;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            }
            if l.starts_with("transfer-encoding:") && l.contains("chunked") {
                chunked = true;
            }
        }
        let mut bytes = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await.ok()?;
                let size = usize::from_str_radix(line.trim(), 16).ok()?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await.ok()?;
                if size == 0 {
                    break;
                }
                bytes.extend_from_slice(&chunk[..size]);
            }
        } else {
            bytes.resize(length?, 0);
            self.stream.read_exact(&mut bytes).await.ok()?;
        }
        Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes))))
    }
}

const TRANSFER: &str = "mutation($i: TransferInput!) { transfer(input: $i) { transfer { id } userErrors { code } } }";
const BUY: &str = "mutation($i: BuyInput!) { buy(input: $i) { trade { id } userErrors { code } } }";

fn data(reply: &Value) -> &Value {
    assert!(reply.get("errors").is_none(), "{reply}");
    &reply["data"]
}

async fn setup(url: &str, masks: usize) {
    let mut http = Http::connect(url).await;
    let mut people = Vec::new();
    for i in 1..=masks {
        let login = format!("load_{i}");
        let reply = http
            .gql(
                "mutation($l: String!) { register(input: {login: $l, password: \"a long enough password\"}) { token } }",
                json!({"l": login}),
                None,
            )
            .await;
        let token = data(&reply)["register"]["token"].as_str().expect("registered").to_owned();
        let reply = http
            .gql(
                "mutation($h: String!) { createMask(input: {kind: PUBLIC, handle: $h, displayName: $h}) { mask { id } } }",
                json!({"h": login}),
                Some(&token),
            )
            .await;
        let mask = data(&reply)["createMask"]["mask"]["id"].as_str().unwrap().to_owned();
        people.push(json!({"token": token, "mask": mask, "handle": login}));
    }
    let mut listings = Vec::new();
    for (i, p) in people.iter().take(20).enumerate() {
        let (token, mask) = (p["token"].as_str().unwrap(), p["mask"].as_str().unwrap());
        let reply = http
            .gql(
                "mutation($m: ID!, $t: String!) { publishWork(input: {as: $m, title: $t}) { work { id } } }",
                json!({"m": mask, "t": format!("لوحة رقم {i} — load piece {i}")}),
                Some(token),
            )
            .await;
        let work = data(&reply)["publishWork"]["work"]["id"].as_str().unwrap().to_owned();
        let reply = http
            .gql(
                "mutation($m: ID!, $w: ID!, $p: String!) { createListing(input: {as: $m, work: $w, kind: LICENSE, price: $p}) { listing { id } userErrors { message } } }",
                json!({"m": mask, "w": work, "p": egp(100 * (1 + i as i64))}),
                Some(token),
            )
            .await;
        listings.push(json!({"id": data(&reply)["createListing"]["listing"]["id"], "seller": i}));
    }
    println!("{}", json!({"people": people, "listings": listings}));
}

/// One operation of the run: a payment, or (every tenth) a purchase by its payer.
enum Op<'a> {
    Pay(&'a Payment),
    Buy { key: &'a str, buyer: usize, listing: usize },
}

/// What a run saw acknowledged.
struct Acks {
    transfers: Vec<String>,
    trades: Vec<String>,
}

async fn run(url: &str, state: &Value, n: usize, connections: usize, seed: u64) {
    let acks = load(url, state, n, connections, seed, "", false).await;
    verify(url, state, &acks, true).await;
}

/// The load: N payments and purchases (keys prefixed with `prefix`); with `until_killed`, a
/// worker whose connection fails stops there (the server was killed) instead of panicking.
async fn load(
    url: &str,
    state: &Value,
    n: usize,
    connections: usize,
    seed: u64,
    prefix: &str,
    until_killed: bool,
) -> Acks {
    let people = state["people"].as_array().unwrap().clone();
    let listings = state["listings"].as_array().unwrap().clone();
    let work = Arc::new(workload(n, people.len() as u64, seed));
    let next = Arc::new(AtomicUsize::new(0));
    let (people, listings) = (Arc::new(people), Arc::new(listings));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (work, next, people, listings, url) =
            (work.clone(), next.clone(), people.clone(), listings.clone(), url.to_owned());
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut http = Http::connect(&url).await;
            let mut latencies = Vec::new();
            let (mut transfers, mut trades, mut refused): (Vec<String>, Vec<String>, HashMap<String, u64>) =
                Default::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = work.get(i) else { break };
                let key_number: usize = p.0[1..].parse().unwrap();
                let op = if key_number.is_multiple_of(10) {
                    let listing = key_number / 10 % listings.len();
                    let buyer = (p.1 - 1) as usize;
                    if buyer == listings[listing]["seller"].as_u64().unwrap() as usize {
                        Op::Pay(p)
                    } else {
                        Op::Buy { key: &p.0, buyer, listing }
                    }
                } else {
                    Op::Pay(p)
                };
                let t = Instant::now();
                let (reply, field) = match op {
                    Op::Pay((key, debit, credit, amount)) => {
                        let from = &people[(*debit - 1) as usize];
                        let key = format!("{prefix}{key}");
                        let input = json!({"as": from["mask"], "to": people[(*credit - 1) as usize]["mask"], "amount": egp(*amount), "id": key});
                        (http.try_gql(TRANSFER, json!({"i": input}), from["token"].as_str()).await, "transfer")
                    }
                    Op::Buy { key, buyer, listing } => {
                        let from = &people[buyer];
                        let key = format!("{prefix}{key}");
                        let input = json!({"as": from["mask"], "listing": listings[listing]["id"], "id": key});
                        (http.try_gql(BUY, json!({"i": input}), from["token"].as_str()).await, "buy")
                    }
                };
                let Some(reply) = reply else {
                    assert!(until_killed, "the server stopped answering");
                    break;
                };
                latencies.push(t.elapsed());
                let payload = &data(&reply)[field];
                match payload["userErrors"][0]["code"].as_str() {
                    Some(code) => *refused.entry(code.to_owned()).or_default() += 1,
                    None if field == "buy" => trades.push(payload["trade"]["id"].as_str().unwrap().to_owned()),
                    None => transfers.push(payload["transfer"]["id"].as_str().unwrap().to_owned()),
                }
            }
            (latencies, transfers, trades, refused)
        }));
    }
    let (mut latencies, mut transfers, mut trades, mut refused) =
        (Vec::new(), Vec::new(), Vec::new(), HashMap::<String, u64>::new());
    for t in tasks {
        let (l, a, b, r) = t.await.unwrap();
        latencies.extend(l);
        transfers.extend(a);
        trades.extend(b);
        for (k, v) in r {
            *refused.entry(k).or_default() += v;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    if latencies.is_empty() {
        return Acks { transfers, trades };
    }
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "daira graphql: {n} payments and purchases over {connections} connections in {secs:.3} s: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms; acknowledged {} transfers ({} distinct) and {} purchases ({} distinct); refused {refused:?}",
        n as f64 / secs,
        pct(0.50),
        pct(0.99),
        transfers.len(),
        transfers.iter().collect::<HashSet<_>>().len(),
        trades.len(),
        trades.iter().collect::<HashSet<_>>().len(),
    );
    Acks { transfers, trades }
}

/// What the issue asks after the load: Σ balances = Σ issued exactly, no balance below zero,
/// every acknowledged transfer present once, and — when `exact`, after a load that ran to its
/// end — no other (no refused one). After a kill, transfers committed but never acknowledged
/// may be there too.
async fn verify(url: &str, state: &Value, acks: &Acks, exact: bool) {
    let (people, listings) = (state["people"].as_array().unwrap(), state["listings"].as_array().unwrap());
    let (transfers, trades) = (&acks.transfers, &acks.trades);
    let mut http = Http::connect(url).await;
    let piastres = |egp: &Value| -> i64 {
        let (w, f) = egp.as_str().unwrap().split_once('.').unwrap();
        w.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
    };
    let totals = http.gql("{ economy { issued fees pending } }", json!({}), None).await;
    let totals = &data(&totals)["economy"];
    let mut held = piastres(&totals["fees"]);
    let mut stored: HashMap<String, u32> = HashMap::new();
    for p in people {
        let mut after: Option<String> = None;
        loop {
            let reply = http
                .gql(
                    "query($h: String!, $a: String) { mask(handle: $h) { balance available transfers(first: 100, after: $a) { pageInfo { hasNextPage endCursor } edges { node { id incoming code } } } } }",
                    json!({"h": p["handle"], "a": after}),
                    p["token"].as_str(),
                )
                .await;
            let mask = &data(&reply)["mask"];
            if after.is_none() {
                let (balance, available) = (piastres(&mask["balance"]), piastres(&mask["available"]));
                assert!(balance >= 0 && available >= 0, "{} is below zero", p["handle"]);
                held += balance;
            }
            let t = &mask["transfers"];
            for e in t["edges"].as_array().unwrap() {
                if !e["node"]["incoming"].as_bool().unwrap() && e["node"]["code"] == "TRANSFER" {
                    *stored.entry(e["node"]["id"].as_str().unwrap().to_owned()).or_default() += 1;
                }
            }
            if !t["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = t["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    }
    assert_eq!(held, piastres(&totals["issued"]), "Σ balances = Σ issued, exactly");
    let acknowledged: HashSet<&String> = transfers.iter().collect();
    assert!(stored.values().all(|&n| n == 1), "every transfer is stored once");
    let stored_ids: HashSet<&String> = stored.keys().collect();
    if exact {
        assert_eq!(stored_ids, acknowledged, "exactly the acknowledged transfers are stored, no refused one");
    } else {
        assert!(acknowledged.is_subset(&stored_ids), "every acknowledged transfer is stored");
    }
    let mut sold = 0;
    for l in listings {
        let reply = http.gql("query($l: ID!) { listing(id: $l) { tradeCount } }", json!({"l": l["id"]}), None).await;
        sold += data(&reply)["listing"]["tradeCount"].as_u64().unwrap();
    }
    let bought = trades.iter().collect::<HashSet<_>>().len();
    if exact {
        assert_eq!(sold as usize, bought, "every acknowledged purchase, once");
    } else {
        assert!(sold as usize >= bought, "every acknowledged purchase is there");
    }
    println!(
        "verified: Σ balances = Σ issued = {} EGP, none below zero; {} transfers stored once each, {} acknowledged all there; {sold} purchases",
        egp(held),
        stored.len(),
        acknowledged.len()
    );
}

fn exec_lines(ids: &str, n: usize, seed: u64) {
    let accounts: Vec<(String, String)> = std::fs::read_to_string(ids)
        .expect("the ids file")
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(u, m)| (u.to_owned(), m.to_owned())))
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    use std::io::Write;
    for (key, debit, credit, amount) in workload(n, accounts.len() as u64, seed) {
        let (user, mask) = &accounts[(debit - 1) as usize];
        let to = &accounts[(credit - 1) as usize].1;
        let line = json!({"transfer": {"user": user, "mask": mask, "to": to, "amount": egp(amount), "id": key}});
        writeln!(out, "{line}").unwrap();
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| panic!("usage: see the source's header"));
    match arg(1).as_str() {
        "exec-lines" => exec_lines(&arg(2), arg(3).parse().unwrap(), args.get(4).map_or(21, |s| s.parse().unwrap())),
        "setup" => setup(&arg(2), arg(3).parse().unwrap()).await,
        "run" => {
            let state: Value = serde_json::from_str(&std::fs::read_to_string(arg(3)).unwrap()).unwrap();
            let seed = args.get(6).map_or(21, |s| s.parse().unwrap());
            run(&arg(2), &state, arg(4).parse().unwrap(), arg(5).parse().unwrap(), seed).await;
        }
        // Load until the server is killed; the acknowledged ids to a file.
        "chaos" => {
            let state: Value = serde_json::from_str(&std::fs::read_to_string(arg(3)).unwrap()).unwrap();
            let round: u64 = arg(6).parse().unwrap();
            let acks = load(
                &arg(2),
                &state,
                arg(4).parse().unwrap(),
                arg(5).parse().unwrap(),
                100 + round,
                &format!("r{round}-"),
                true,
            )
            .await;
            std::fs::write(arg(7), json!({"transfers": acks.transfers, "trades": acks.trades}).to_string()).unwrap();
        }
        // After a restart: every acknowledged id of the files is there, and money is conserved.
        "check" => {
            let state: Value = serde_json::from_str(&std::fs::read_to_string(arg(3)).unwrap()).unwrap();
            let mut acks = Acks { transfers: Vec::new(), trades: Vec::new() };
            for file in &args[4..] {
                let a: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
                let strings = |k: &str| {
                    a[k].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect::<Vec<_>>()
                };
                acks.transfers.extend(strings("transfers"));
                acks.trades.extend(strings("trades"));
            }
            verify(&arg(2), &state, &acks, false).await;
        }
        other => panic!("unknown mode {other}"),
    }
}
