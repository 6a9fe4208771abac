//! A server that holds under abuse (issue 19, point 7): slow clients are cut, connections are
//! capped per address, rate limits charge what a request does rather than one per request, and
//! the per-address limit comes before any session lookup.

use crate::server::{Server, ws};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Slowloris: connections that never finish their headers hold the server's slots only until
/// the header timeout, and past the per-address cap a new one is refused with a clear 503.
#[test]
fn slow_clients_are_cut_and_connections_are_capped_per_address() {
    let server = Server::start(false, &["--header-timeout-ms", "1000", "--connections-per-ip", "4"]);
    let mut slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut tcp = TcpStream::connect(server.addr).unwrap();
            tcp.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: appl").unwrap();
            tcp
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = server.post(&json!({"query": "{ __typename }"}), None);
    assert_eq!(refused.status, 503, "{}", refused.brief());
    assert_eq!(refused.code(), "THROTTLED");
    assert!(refused.body.contains("your address"), "{}", refused.body);
    assert_eq!(refused.headers["retry-after"], "1");
    // The slow ones are closed once their headers are late.
    let started = Instant::now();
    for tcp in &mut slow {
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest);
        let text = String::from_utf8_lossy(&rest);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "cut after {waited:?}, not after the 1 s header timeout");
    // And their slots are free again.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.post(&json!({"query": "{ __typename }"}), None).status, 200);
}

/// A mutation costs one per root field, aliases included, and a batch the sum of its parts: a
/// request that costs more than the limit allows is refused whole, before anything runs.
#[test]
fn rate_limits_charge_per_operation_and_per_mutation_field() {
    let server = Server::start(false, &["--rate-per-ip", "20", "--rate-per-token", "0"]);
    let (token, _) = server.user_with_mask("amr", "amr_pub", "PUBLIC");
    let (_, target) = server.user_with_mask("hoda", "hoda_pub", "PUBLIC");
    std::thread::sleep(Duration::from_millis(2100)); // a full allowance: 20/s, bursts of 2 s
    let aliases: String = (0..50).map(|i| format!("f{i}: follow(input: {{mask: \"{target}\"}}) {{ seq }} ")).collect();
    let reply = server.post(&json!({"query": format!("mutation {{ {aliases} }}")}), Some(&token));
    assert_eq!(reply.status, 429, "{}", reply.brief());
    assert_eq!(reply.code(), "THROTTLED");
    assert!(reply.body.contains("costs 50"), "{}", reply.body);
    // Nothing of it ran.
    let followers =
        server.gql("{ mask(handle: \"hoda_pub\") { followers(first: 5) { totalCount } } }", json!({}), Some(&token));
    assert_eq!(followers["mask"]["followers"]["totalCount"], 0, "{followers}");
    // A batch pays for each of its operations: 10 mutations of 5 fields each cost 50 too.
    std::thread::sleep(Duration::from_millis(2100));
    let five: String = (0..5).map(|i| format!("f{i}: unfollow(input: {{mask: \"{target}\"}}) {{ seq }} ")).collect();
    let batch: Vec<_> = (0..10).map(|_| json!({"query": format!("mutation {{ {five} }}")})).collect();
    let reply = server.post(&json!(batch), Some(&token));
    assert_eq!(reply.status, 429, "{}", reply.brief());
    // What fits the allowance runs: one mutation of 10 fields.
    let ten: String = (0..10).map(|i| format!("f{i}: unfollow(input: {{mask: \"{target}\"}}) {{ seq }} ")).collect();
    let reply = server.post(&json!({"query": format!("mutation {{ {ten} }}")}), Some(&token));
    assert_eq!(reply.status, 200, "{}", reply.brief());
}

/// Past its address's limit, a request is refused before its token is looked up: a flood of
/// made-up tokens is a 429, not 401s that each cost the account store a query.
#[test]
fn the_address_limit_comes_before_any_session_lookup() {
    let server = Server::start(false, &["--rate-per-ip", "1"]);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let reply = server.request(
            "POST",
            "/graphql",
            &[("Content-Type", "application/json"), ("Authorization", "Bearer made-up")],
            br#"{"query": "{ __typename }"}"#,
        );
        statuses.push(reply.status);
    }
    assert_eq!(&statuses[..2], [401, 401], "{statuses:?}");
    assert_eq!(&statuses[2..], [429, 429], "{statuses:?}");
}

/// Signing out ends the session's sockets at once (4403), and their subscriptions with them.
#[test]
fn signing_out_closes_the_sessions_sockets() {
    let server = Server::start(false, &["--rate-per-ip", "0", "--rate-per-token", "0"]);
    let (token, _) = server.user_with_mask("salma", "salma_pub", "PUBLIC");
    let world = server.gql(
        "mutation { createWorld(input: {name: \"Zamalek mornings\"}) { world { id } } }",
        json!({}),
        Some(&token),
    )["createWorld"]["world"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut socket = ws::watch(
            &server.ws_url("/graphql/ws"),
            &token,
            "subscription($w: ID!) { worldActivity(world: $w) { kind } }",
            json!({"w": world}),
        )
        .await;
        let out = server.gql("mutation { logout(input: {}) { ok } }", json!({}), Some(&token));
        assert_eq!(out["logout"]["ok"], true, "{out}");
        let started = Instant::now();
        let message = ws::next(&mut socket, Duration::from_secs(10)).await;
        assert_eq!(message, Some(json!({"type": "close", "code": 4403})), "after {:?}", started.elapsed());
        assert!(started.elapsed() < Duration::from_secs(2), "closed only after {:?}", started.elapsed());
    });
}

/// With `--admin-listen`, /healthz and /metrics answer there and not beside the API.
#[test]
fn operators_pages_answer_on_their_own_address() {
    let server = Server::start(false, &["--admin-listen", "127.0.0.1:0"]);
    let admin = server.admin.expect("an admin address");
    assert_ne!(admin, server.addr);
    for path in ["/healthz", "/metrics"] {
        assert_eq!(server.request("GET", path, &[], b"").status, 404, "{path} on the API's address");
    }
    let on_admin = |path: &str| {
        let mut tcp = TcpStream::connect(admin).unwrap();
        write!(tcp, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        tcp.read_to_string(&mut text).unwrap();
        text
    };
    assert!(on_admin("/healthz").starts_with("HTTP/1.1 200"), "{}", on_admin("/healthz"));
    assert!(on_admin("/metrics").contains("daira_http_requests_total"));
    assert!(on_admin("/graphql").starts_with("HTTP/1.1 404"));
}
