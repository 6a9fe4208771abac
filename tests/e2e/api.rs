//! The GraphQL API end to end: the real `daira serve` over HTTP and WebSocket — a new user's
//! path through the demo community, bad input of every kind, rate limits, subscriptions on
//! both protocols, and a clean shutdown that loses nothing acknowledged.

use crate::server::{Server, ws};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Polls until the first score epoch is published.
fn wait_for_epoch(server: &Server) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let data = server.gql("{ epochs { number } }", json!({}), None);
        if !data["epochs"].as_array().unwrap().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no epoch within 60 s");
}

#[test]
fn a_new_users_path_through_the_demo() {
    let server = Server::start(true, &["--epoch-events", "1", "--epoch-interval-ms", "200"]);

    // The explorer works offline: the page and every asset it loads come from this server.
    let page = server.request("GET", "/graphql", &[("Accept", "text/html")], b"");
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].starts_with("text/html"));
    assert!(page.body.contains("GraphiQL") && page.body.contains("/graphql/assets/graphiql.min.js"));
    for line in page.body.lines().filter(|l| l.contains("src=") || l.contains("href=")) {
        assert!(!line.contains("http://") && !line.contains("https://"), "remote asset: {line}");
    }
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphql-ws.min.js",
    ] {
        let reply = server.request("GET", &format!("/graphql/assets/{asset}"), &[], b"");
        assert_eq!(reply.status, 200, "{asset}");
        assert!(reply.body.len() > 1000, "{asset}");
    }

    // List worlds.
    let data = server.gql(
        "{ worlds(first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name memberCount } } } }",
        json!({}),
        None,
    );
    let worlds = data["worlds"]["edges"].as_array().unwrap();
    assert_eq!(data["worlds"]["totalCount"], 12, "{data}");
    assert_eq!(worlds.len(), 12);
    let world = worlds.iter().max_by_key(|w| w["node"]["memberCount"].as_u64()).unwrap()["node"]["id"].clone();
    // Paging: the second page of 5 starts after the first's last cursor.
    let first = server.gql(
        "{ worlds(first: 5) { pageInfo { endCursor hasNextPage } edges { node { id } } } }",
        json!({}),
        None,
    );
    let after = first["worlds"]["pageInfo"]["endCursor"].clone();
    let second = server.gql(
        "query($a: String) { worlds(first: 5, after: $a) { pageInfo { hasPreviousPage } edges { node { id } } } }",
        json!({"a": after}),
        None,
    );
    assert_eq!(second["worlds"]["edges"][0]["node"]["id"], worlds[5]["node"]["id"]);
    assert_eq!(second["worlds"]["pageInfo"]["hasPreviousPage"], true);

    // Read a mask's trust with its explanation.
    wait_for_epoch(&server);
    let data = server.gql(
        "query($w: ID!) { node(id: $w) { ... on World { moderators(first: 1) { edges { node { id handle reputation {
            trust trustPercentile sybil epoch { number logSeq logHash parameters { job name value } }
            trustExplanation { beforeDiscount teleport dangling from { mask { handle } amount } distrust { amount } }
            contribution contributionExplanation { total works { amount } } alignment { viewpoint } } } } } } } }",
        json!({"w": world}),
        None,
    );
    let reputation = &data["node"]["moderators"]["edges"][0]["node"]["reputation"];
    assert!(reputation["trust"].as_f64().unwrap() > 0.0, "{data}");
    let explanation = &reputation["trustExplanation"];
    let parts = explanation["teleport"].as_f64().unwrap()
        + explanation["dangling"].as_f64().unwrap()
        + explanation["from"].as_array().unwrap().iter().map(|f| f["amount"].as_f64().unwrap()).sum::<f64>();
    assert!(parts > 0.0 && parts <= explanation["beforeDiscount"].as_f64().unwrap() * (1.0 + 1e-9), "{explanation}");
    assert_eq!(reputation["epoch"]["logHash"].as_str().unwrap().len(), 64);
    assert!(reputation["epoch"]["parameters"].as_array().unwrap().iter().any(|p| p["job"] == "trust"));
    // The epoch's count of communities is what `clusters` lists.
    let clusters = server.gql("{ epochs { clusterCount } clusters(first: 1) { totalCount } }", json!({}), None);
    let counted = clusters["epochs"].as_array().unwrap().last().unwrap()["clusterCount"].clone();
    assert_eq!(counted, clusters["clusters"]["totalCount"], "{clusters}");
    assert!(counted.as_u64().unwrap() > 1, "{clusters}");

    // Search in Arabic and in Arabizi.
    for (query, script) in [("قهوة", "Arabic"), ("2ahwa", "Arabizi"), ("street art", "English")] {
        let data = server.gql(
            "query($q: String!) { search(query: $q, first: 5) { totalCount edges { node { title score node { __typename ... on World { id } ... on Work { id } ... on Mask { id } } } } } }",
            json!({"q": query}),
            None,
        );
        assert!(data["search"]["totalCount"].as_u64().unwrap() > 0, "{script} search found nothing: {data}");
    }

    // Register, create a mask, join a world.
    let (token, mask) = server.user_with_mask("new_user", "new_user_mask", "PUBLIC");
    let data = server.gql(
        "query { viewer { masks(first: 5) { totalCount edges { node { id handle isMine } } } } }",
        json!({}),
        Some(&token),
    );
    assert_eq!(data["viewer"]["masks"]["edges"][0]["node"]["id"], mask.as_str());
    assert_eq!(data["viewer"]["masks"]["edges"][0]["node"]["isMine"], true);
    let data = server.gql(
        "mutation($w: ID!) { joinWorld(input: {world: $w}) { world { id } seq userErrors { code } } }",
        json!({"w": world}),
        Some(&token),
    );
    assert!(data["joinWorld"]["seq"].as_str().unwrap().parse::<u64>().unwrap() > 0, "{data}");

    // Watch the subscriptions fire: the world's activity on publishing, the mask's scores on
    // the next epoch.
    runtime().block_on(async {
        let (mut socket, ack) =
            ws::connect(&server.ws_url("/graphql/ws"), "graphql-transport-ws", json!({"Authorization": format!("Bearer {token}")})).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws::send(&mut socket, json!({"id": "a", "type": "subscribe", "payload": {
            "query": "subscription($w: ID!) { worldActivity(world: $w) { kind seq mask { handle } work { title } } }",
            "variables": {"w": world}}})).await;
        ws::send(&mut socket, json!({"id": "s", "type": "subscribe", "payload": {
            "query": "subscription($m: ID!) { maskScores(mask: $m) { reputation { trust epoch { number } } previousTrust } }",
            "variables": {"m": mask}}})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let data = server.gql(
            "mutation($w: ID!) { publishWork(input: {world: $w, title: \"قهوة الصبح\", description: \"first light\"}) { work { id title } userErrors { message } } }",
            json!({"w": world}),
            Some(&token),
        );
        assert_eq!(data["publishWork"]["work"]["title"], "قهوة الصبح", "{data}");
        let (mut activity, mut scores) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while (activity.is_none() || scores.is_none()) && Instant::now() < deadline {
            let Some(message) = ws::next(&mut socket, Duration::from_secs(30)).await else { break };
            assert_eq!(message["type"], "next", "{message}");
            match message["id"].as_str() {
                // The world's other activity (the governance AI flagging cases after an epoch,
                // say) may come first.
                Some("a") if message["payload"]["data"]["worldActivity"]["kind"] == "PUBLISHED" => {
                    activity = Some(message["payload"]["data"]["worldActivity"].clone())
                }
                Some("a") => {}
                Some("s") => scores = Some(message["payload"]["data"]["maskScores"].clone()),
                _ => panic!("{message}"),
            }
        }
        let activity = activity.expect("worldActivity fired");
        assert_eq!(activity["kind"], "PUBLISHED");
        assert_eq!(activity["work"]["title"], "قهوة الصبح");
        assert_eq!(activity["mask"]["handle"], "new_user_mask");
        let scores = scores.expect("maskScores fired");
        assert!(scores["reputation"]["epoch"]["number"].as_i64().unwrap() >= 2, "{scores}");
    });

    // The new work is searchable within a second or so.
    let started = Instant::now();
    loop {
        let data = server.gql(
            "{ search(query: \"first light\", kind: WORK, first: 3) { edges { node { title } } } }",
            json!({}),
            None,
        );
        if data["search"]["edges"].as_array().unwrap().iter().any(|e| e["node"]["title"] == "قهوة الصبح") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the new work never became searchable");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Health and metrics.
    let health = server.request("GET", "/healthz", &[], b"");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let metrics = server.request("GET", "/metrics", &[], b"");
    assert!(metrics.headers["content-type"].starts_with("text/plain"));
    for family in [
        "daira_http_requests_total",
        "daira_graphql_operations_total{type=\"mutation\"}",
        "daira_epoch",
        "daira_subscriptions_started_total",
        "daira_subscription_messages_total",
        "daira_subscription_fanout_seconds_bucket{le=\"0.0005\"}",
        "daira_log_head_seq",
    ] {
        assert!(metrics.body.contains(family), "{family} missing from /metrics");
    }

    // Logging out revokes the token.
    let data = server.gql("mutation { logout(input: {}) { ok } }", json!({}), Some(&token));
    assert_eq!(data["logout"]["ok"], true);
    let reply = server.post(&json!({"query": "{ viewer { masks(first: 1) { totalCount } } }"}), Some(&token));
    assert_eq!((reply.status, reply.code().as_str()), (401, "UNAUTHENTICATED"), "{}", reply.brief());
}

#[test]
fn bad_input_gets_the_right_status_and_code_and_the_server_keeps_serving() {
    let server = Server::start(false, &["--session-ttl-secs", "1", "--rate-per-ip", "0"]);
    let ok = || {
        let reply = server.post(&json!({"query": "{ worlds(first: 1) { totalCount } }"}), None);
        assert_eq!(reply.status, 200, "{}", reply.brief());
    };
    let graphql = [("Content-Type", "application/json"), ("Accept", "application/graphql-response+json")];

    // Malformed JSON.
    let reply = server.request("POST", "/graphql", &graphql, b"{\"query\": ");
    assert_eq!((reply.status, reply.code().as_str()), (400, "BAD_USER_INPUT"), "{}", reply.brief());
    assert_eq!(reply.headers["content-type"], "application/graphql-response+json");
    ok();
    // JSON that is not a GraphQL request.
    let reply = server.request("POST", "/graphql", &graphql, b"{\"qwery\": \"{ worlds }\"}");
    assert_eq!((reply.status, reply.code().as_str()), (400, "BAD_USER_INPUT"), "{}", reply.brief());
    // A wrong content type.
    let reply =
        server.request("POST", "/graphql", &[("Content-Type", "text/plain")], b"{ worlds(first: 1) { totalCount } }");
    assert_eq!((reply.status, reply.code().as_str()), (415, "BAD_USER_INPUT"), "{}", reply.brief());
    // JSON in another charset; UTF-8 declared is fine.
    let reply = server.request(
        "POST",
        "/graphql",
        &[("Content-Type", "application/json; charset=utf-16")],
        b"{\"query\": \"{ __typename }\"}",
    );
    assert_eq!(reply.status, 415, "{}", reply.brief());
    let reply = server.request(
        "POST",
        "/graphql",
        &[("Content-Type", "application/json; charset=UTF-8")],
        b"{\"query\": \"{ __typename }\"}",
    );
    assert_eq!(reply.status, 200, "{}", reply.brief());
    // An Accept neither media type satisfies.
    let reply = server.request(
        "POST",
        "/graphql",
        &[("Content-Type", "application/json"), ("Accept", "text/csv")],
        b"{\"query\": \"{ __typename }\"}",
    );
    assert_eq!(reply.status, 406, "{}", reply.brief());
    ok();
    // Syntax errors.
    let reply = server.post(&json!({"query": "{ worlds(first: 1) { "}), None);
    assert_eq!((reply.status, reply.code().as_str()), (400, "GRAPHQL_PARSE_FAILED"), "{}", reply.brief());
    assert!(reply.json().get("data").is_none(), "a request error has no data: {}", reply.brief());
    // The legacy media type answers 200 for the same request error.
    let reply = server.request(
        "POST",
        "/graphql",
        &[("Content-Type", "application/json"), ("Accept", "application/json")],
        json!({"query": "{ worlds(first: 1) { "}).to_string().as_bytes(),
    );
    assert_eq!((reply.status, reply.code().as_str()), (200, "GRAPHQL_PARSE_FAILED"), "{}", reply.brief());
    assert_eq!(reply.headers["content-type"], "application/json");
    // Unknown fields.
    let reply = server.post(&json!({"query": "{ nope }"}), None);
    assert_eq!((reply.status, reply.code().as_str()), (400, "GRAPHQL_VALIDATION_FAILED"), "{}", reply.brief());
    // A depth-30 query.
    let mut deep = String::from("{ masks(first: 1) { edges { node { ");
    for _ in 0..14 {
        deep.push_str("following(first: 1) { edges { node { ");
    }
    deep.push_str("handle");
    deep.push_str(&" } } }".repeat(15));
    deep.push_str(" }");
    let reply = server.post(&json!({ "query": deep }), None);
    assert_eq!((reply.status, reply.code().as_str()), (400, "GRAPHQL_VALIDATION_FAILED"), "{}", reply.brief());
    ok();
    // 3,000 aliases.
    let aliases: String = (0..3000).map(|i| format!("a{i}: __typename ")).collect();
    let reply = server.post(&json!({ "query": format!("{{ {aliases} }}") }), None);
    assert_eq!((reply.status, reply.code().as_str()), (400, "GRAPHQL_VALIDATION_FAILED"), "{}", reply.brief());
    ok();
    // first: 1000000.
    let reply = server.post(&json!({"query": "{ worlds(first: 1000000) { totalCount } }"}), None);
    assert_eq!((reply.status, reply.code().as_str()), (200, "BAD_USER_INPUT"), "{}", reply.brief());
    assert!(reply.json()["errors"][0]["message"].as_str().unwrap().contains("first must be 1 to 100"));
    // A 5 MB body.
    let big = vec![b' '; 5 << 20];
    let reply = server.request("POST", "/graphql", &graphql, &big);
    assert_eq!((reply.status, reply.code().as_str()), (413, "BAD_USER_INPUT"), "{}", reply.brief());
    ok();
    // A batch of 1,000 operations; a small batch works.
    let batch: Vec<Value> = (0..1000).map(|_| json!({"query": "{ __typename }"})).collect();
    let reply = server.request("POST", "/graphql", &graphql, Value::Array(batch).to_string().as_bytes());
    assert_eq!((reply.status, reply.code().as_str()), (400, "BAD_USER_INPUT"), "{}", reply.brief());
    let batch = json!([{"query": "{ a: __typename }"}, {"query": "{ b: __typename }"}]);
    let reply = server.request("POST", "/graphql", &graphql, batch.to_string().as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.brief());
    assert_eq!(reply.json()[1]["data"]["b"], "Query");
    // A mutation over GET; a query over GET works.
    let reply = server.request(
        "GET",
        "/graphql?query=mutation%20%7B%20logout(input%3A%7B%7D)%20%7B%20ok%20%7D%20%7D",
        &[],
        b"",
    );
    assert_eq!(reply.status, 405, "{}", reply.brief());
    assert_eq!(reply.headers["allow"], "POST");
    let reply = server.request("GET", "/graphql?query=%7B%20__typename%20%7D", &[], b"");
    assert_eq!((reply.status, reply.json()["data"]["__typename"].as_str()), (200, Some("Query")), "{}", reply.brief());
    // Mutations need a session; a garbage or expired token is refused.
    let reply = server.post(&json!({"query": "mutation { createMask(input: {kind: PUBLIC, handle: \"abc\", displayName: \"x\"}) { mask { id } } }"}), None);
    assert_eq!(reply.code(), "UNAUTHENTICATED", "{}", reply.brief());
    let reply = server.post(&json!({"query": "{ __typename }"}), Some("not-a-token"));
    assert_eq!((reply.status, reply.code().as_str()), (401, "UNAUTHENTICATED"), "{}", reply.brief());
    let (token, _) = server.user_with_mask("shortlived", "short_lived", "PUBLIC");
    std::thread::sleep(Duration::from_millis(1500));
    let reply = server.post(&json!({"query": "{ __typename }"}), Some(&token));
    assert_eq!((reply.status, reply.code().as_str()), (401, "UNAUTHENTICATED"), "{}", reply.brief());
    // Standard introspection passes the limits.
    let introspection = include_str!("introspection.graphql");
    let reply = server.post(&json!({ "query": introspection }), None);
    assert_eq!(reply.status, 200, "{}", reply.brief());
    assert!(reply.json()["data"]["__schema"]["types"].as_array().unwrap().len() > 30);
    // Unknown routes.
    assert_eq!(server.request("GET", "/nope", &[], b"").status, 404);
    ok();
}

#[test]
fn rate_limits_throttle_with_headers() {
    let server = Server::start(false, &["--rate-per-ip", "5"]);
    let mut throttled = None;
    let mut allowed = 0;
    for _ in 0..40 {
        let reply = server.post(&json!({"query": "{ __typename }"}), None);
        match reply.status {
            200 => {
                allowed += 1;
                assert!(reply.headers.contains_key("ratelimit-remaining"));
            }
            429 => {
                throttled = Some(reply);
                break;
            }
            other => panic!("{other}: {}", reply.body),
        }
    }
    let reply = throttled.expect("a burst over the limit is throttled");
    assert!(allowed >= 5, "the burst allowance ({allowed})");
    assert_eq!(reply.code(), "THROTTLED");
    assert!(reply.headers["retry-after"].parse::<u64>().unwrap() >= 1);
    assert_eq!(reply.headers["ratelimit-remaining"], "0");
    // It refills.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(server.post(&json!({"query": "{ __typename }"}), None).status, 200);
}

#[test]
fn legacy_graphql_ws_and_unauthenticated_sockets() {
    let server = Server::start(false, &["--rate-per-ip", "0"]);
    let (token, mask) = server.user_with_mask("founder", "founder_mask", "PUBLIC");
    let data = server.gql(
        "mutation { createWorld(input: {name: \"Cairo jazz\", tags: [\"music\"]}) { world { id } userErrors { message } } }",
        json!({}),
        Some(&token),
    );
    let world = data["createWorld"]["world"]["id"].as_str().unwrap().to_owned();
    let (other, _) = server.user_with_mask("joiner", "joiner_mask", "CITIZEN");
    runtime().block_on(async {
        // Without a token, connection_init is refused.
        let (_, answer) = ws::connect(&server.ws_url("/graphql"), "graphql-transport-ws", json!({})).await;
        assert!(answer["type"] == "close" || answer["type"] == "connection_error", "{answer}");

        // Apollo-style: the token under "headers".
        let (_, ack) = ws::connect(
            &server.ws_url("/graphql/ws"),
            "graphql-transport-ws",
            json!({"headers": {"Authorization": format!("Bearer {token}")}}),
        )
        .await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");

        let (mut socket, ack) = ws::connect(&server.ws_url("/graphql"), "graphql-ws", json!({"authToken": token})).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws::send(&mut socket, json!({"id": "1", "type": "start", "payload": {
            "query": "subscription($w: ID!) { worldActivity(world: $w) { kind mask { handle } } }", "variables": {"w": world}}}))
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let data = server.gql(
            "mutation($w: ID!) { joinWorld(input: {world: $w}) { userErrors { message } } }",
            json!({"w": world}),
            Some(&other),
        );
        assert_eq!(data["joinWorld"]["userErrors"], json!([]));
        let message = ws::next(&mut socket, Duration::from_secs(10)).await.expect("data");
        assert_eq!(message["type"], "data", "{message}");
        assert_eq!(message["payload"]["data"]["worldActivity"]["kind"], "JOINED");
        assert_eq!(message["payload"]["data"]["worldActivity"]["mask"]["handle"], "joiner_mask");
    });
    let _ = mask;
}

/// A metric's value off `/metrics`.
fn metric(server: &Server, name: &str) -> f64 {
    server
        .request("GET", "/metrics", &[], b"")
        .body
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Waits (at most 5 s) until a metric reads `value`.
async fn metric_reaches(server: &Server, name: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(server, name) != value {
        assert!(Instant::now() < deadline, "{name} is {}, not {value}", metric(server, name));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn subscribers_share_streams_but_never_a_viewers_answer() {
    let server = Server::start(false, &["--rate-per-ip", "0", "--rate-per-token", "0"]);
    let (founder, _) = server.user_with_mask("founder", "founder_mask", "PUBLIC");
    let data = server.gql(
        "mutation { createWorld(input: {name: \"Alexandria poets\", tags: [\"poetry\"]}) { world { id } } }",
        json!({}),
        Some(&founder),
    );
    let world = data["createWorld"]["world"]["id"].as_str().unwrap().to_owned();
    let (alice, _) = server.user_with_mask("alice", "alice_mask", "PUBLIC");
    let (bob, _) = server.user_with_mask("bob", "bob_mask", "PUBLIC");
    let url = server.ws_url("/graphql/ws");
    let mine = "subscription($w: ID!) { worldActivity(world: $w) { kind mask { handle isMine } } }";
    let plain = "subscription($w: ID!) { worldActivity(world: $w) { kind mask { handle } } }";
    runtime().block_on(async {
        let auth = |token: &str| json!({"Authorization": format!("Bearer {token}")});
        let (mut a, _) = ws::connect(&url, "graphql-transport-ws", auth(&alice)).await;
        let (mut b, _) = ws::connect(&url, "graphql-transport-ws", auth(&bob)).await;
        let (mut c, ack) = ws::connect(&url, "graphql-ws", json!({"authToken": bob})).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        let subscribe = |id: &str, query: &str| json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": {"w": world}}});
        ws::send(&mut a, subscribe("m", mine)).await;
        ws::send(&mut b, subscribe("m", mine)).await;
        ws::send(&mut b, subscribe("p", plain)).await;
        let mut start = subscribe("p", plain);
        start["type"] = json!("start");
        ws::send(&mut c, start).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Alice's and Bob's `isMine` streams are their own; the plain one is shared across
        // sockets and protocols.
        assert_eq!(metric(&server, "daira_subscriptions"), 4.0);
        assert_eq!(metric(&server, "daira_subscription_streams"), 3.0);

        let data = server.gql("mutation($w: ID!) { joinWorld(input: {world: $w}) { seq } }", json!({"w": world}), Some(&alice));
        assert!(data["joinWorld"]["seq"].is_string(), "{data}");
        let message = ws::next(&mut a, Duration::from_secs(10)).await.unwrap();
        assert_eq!((message["type"].as_str(), message["id"].as_str()), (Some("next"), Some("m")), "{message}");
        assert_eq!(message["payload"]["data"]["worldActivity"]["mask"], json!({"handle": "alice_mask", "isMine": true}));
        let mut bobs = Vec::new();
        for _ in 0..2 {
            bobs.push(ws::next(&mut b, Duration::from_secs(10)).await.unwrap());
        }
        bobs.sort_by_key(|m| m["id"].as_str().unwrap().to_owned());
        assert_eq!(bobs[0]["payload"]["data"]["worldActivity"]["mask"], json!({"handle": "alice_mask", "isMine": false}));
        assert_eq!(bobs[1]["payload"]["data"]["worldActivity"]["mask"], json!({"handle": "alice_mask"}));
        let message = ws::next(&mut c, Duration::from_secs(10)).await.unwrap();
        assert_eq!((message["type"].as_str(), message["id"].as_str()), (Some("data"), Some("p")), "{message}");
        assert_eq!(message["payload"]["data"]["worldActivity"]["kind"], "JOINED");
        // Three streams wrote that result: four messages, three fan-outs timed (counted just
        // after the last write, so a moment after the clients read).
        metric_reaches(&server, "daira_subscription_messages_total", 4.0).await;
        metric_reaches(&server, "daira_subscription_fanout_seconds_count", 3.0).await;

        // Bob stops his plain subscription; the legacy socket's goes on alone, and a
        // validation error, a missing world and a query each answer as the protocols say.
        ws::send(&mut b, json!({"id": "p", "type": "complete"})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(metric(&server, "daira_subscription_streams"), 3.0);
        server.gql("mutation($w: ID!) { leaveWorld(input: {world: $w}) { seq } }", json!({"w": world}), Some(&alice));
        let message = ws::next(&mut b, Duration::from_secs(10)).await.unwrap();
        assert_eq!((message["id"].as_str(), &message["payload"]["data"]["worldActivity"]["kind"]), (Some("m"), &json!("LEFT")));
        let message = ws::next(&mut c, Duration::from_secs(10)).await.unwrap();
        assert_eq!((message["id"].as_str(), &message["payload"]["data"]["worldActivity"]["kind"]), (Some("p"), &json!("LEFT")));
        let message = ws::next(&mut a, Duration::from_secs(10)).await.unwrap();
        assert_eq!(message["payload"]["data"]["worldActivity"]["mask"]["isMine"], true, "{message}");

        ws::send(&mut b, json!({"id": "v", "type": "subscribe", "payload": {"query": "subscription { nope }"}})).await;
        let message = ws::next(&mut b, Duration::from_secs(10)).await.unwrap();
        assert_eq!((message["type"].as_str(), message["id"].as_str()), (Some("error"), Some("v")), "{message}");
        assert_eq!(message["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{message}");
        ws::send(&mut b, json!({"id": "n", "type": "subscribe", "payload": {"query": plain, "variables": {"w": "V29ybGQ6bm9uZQ"}}})).await;
        let message = ws::next(&mut b, Duration::from_secs(10)).await.unwrap();
        assert_eq!((message["type"].as_str(), message["id"].as_str()), (Some("next"), Some("n")), "{message}");
        assert_eq!(message["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{message}");
        let message = ws::next(&mut b, Duration::from_secs(10)).await.unwrap();
        assert_eq!((message["type"].as_str(), message["id"].as_str()), (Some("complete"), Some("n")), "{message}");
        ws::send(&mut b, json!({"id": "q", "type": "subscribe", "payload": {"query": "{ worlds(first: 5) { totalCount } }"}})).await;
        let message = ws::next(&mut b, Duration::from_secs(10)).await.unwrap();
        assert_eq!(message["payload"]["data"]["worlds"]["totalCount"], 1, "{message}");
        let message = ws::next(&mut b, Duration::from_secs(10)).await.unwrap();
        assert_eq!((message["type"].as_str(), message["id"].as_str()), (Some("complete"), Some("q")), "{message}");

        // At most 100 operations per socket.
        for i in 0..100 {
            ws::send(&mut a, subscribe(&format!("x{i}"), plain)).await;
        }
        let message = ws::next(&mut a, Duration::from_secs(10)).await.unwrap();
        assert_eq!((message["type"].as_str(), message["id"].as_str()), (Some("error"), Some("x99")), "{message}");
        assert_eq!(message["payload"][0]["extensions"]["code"], "THROTTLED", "{message}");

        // Closing sockets ends their streams.
        drop((a, b, c));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(metric(&server, "daira_subscriptions"), 0.0);
        assert_eq!(metric(&server, "daira_subscription_streams"), 0.0);
    });
}

#[test]
fn websocket_protocol_errors_close_with_the_protocols_codes() {
    let server = Server::start(false, &["--rate-per-ip", "0"]);
    let (token, _) = server.user_with_mask("someone", "someone_mask", "PUBLIC");
    let data =
        server.gql("mutation { createWorld(input: {name: \"Siwa\"}) { world { id } } }", json!({}), Some(&token));
    let world = data["createWorld"]["world"]["id"].as_str().unwrap().to_owned();
    let url = server.ws_url("/graphql/ws");
    let auth = json!({"Authorization": format!("Bearer {token}")});
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}});
    runtime().block_on(async {
        let close = |code: u16| json!({"type": "close", "code": code});
        // Subscribe before connection_ack: 4401.
        let mut socket = ws::open(&url, "graphql-transport-ws").await;
        ws::send(&mut socket, subscribe.clone()).await;
        assert_eq!(ws::next(&mut socket, Duration::from_secs(10)).await, Some(close(4401)));
        // A refused connection_init: 4403.
        let (_, answer) = ws::connect(&url, "graphql-transport-ws", json!({"token": "not-a-token"})).await;
        assert_eq!(answer, close(4403));
        // Not a message of the protocol: 4400.
        let (mut socket, _) = ws::connect(&url, "graphql-transport-ws", auth.clone()).await;
        ws::send(&mut socket, json!({"type": "bogus"})).await;
        assert_eq!(ws::next(&mut socket, Duration::from_secs(10)).await, Some(close(4400)));
        // A second connection_init: 4429.
        let (mut socket, _) = ws::connect(&url, "graphql-transport-ws", auth.clone()).await;
        ws::send(&mut socket, json!({"type": "connection_init", "payload": auth})).await;
        assert_eq!(ws::next(&mut socket, Duration::from_secs(10)).await, Some(close(4429)));
        // An id in use: 4409 (a subscription stays open under it).
        let (mut socket, _) = ws::connect(&url, "graphql-transport-ws", auth.clone()).await;
        let watch = json!({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription($w: ID!) { worldActivity(world: $w) { kind } }", "variables": {"w": world}}});
        ws::send(&mut socket, watch.clone()).await;
        ws::send(&mut socket, json!({"type": "ping", "payload": {"n": 1}})).await;
        let pong = tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(&mut socket)).await;
        let pong = pong.unwrap().unwrap().unwrap().into_text().unwrap();
        assert_eq!(serde_json::from_str::<Value>(&pong).unwrap(), json!({"type": "pong", "payload": {"n": 1}}));
        ws::send(&mut socket, watch).await;
        assert_eq!(ws::next(&mut socket, Duration::from_secs(10)).await, Some(close(4409)));
        // No connection_init within 10 s: 4408.
        let mut socket = ws::open(&url, "graphql-transport-ws").await;
        assert_eq!(ws::next(&mut socket, Duration::from_secs(15)).await, Some(close(4408)));
    });
}

/// The WebSocket layer the server speaks itself (it frames what it writes): the handshake's
/// checks, pings and closes answered, a message over the limit refused, a long result framed
/// with the long length, a client's fragmented message put together.
#[test]
fn websockets_are_framed_checked_and_answered_by_the_server() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
    let server = Server::start(false, &["--rate-per-ip", "0"]);
    let (token, _) = server.user_with_mask("framer", "framer_mask", "PUBLIC");
    let data =
        server.gql("mutation { createWorld(input: {name: \"Rosetta\"}) { world { id } } }", json!({}), Some(&token));
    let world = data["createWorld"]["world"]["id"].as_str().unwrap().to_owned();
    let url = server.ws_url("/graphql/ws");
    let auth = json!({"Authorization": format!("Bearer {token}")});

    // A handshake without its parts is a 400 that says what is missing.
    let upgrade =
        [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Protocol", "graphql-transport-ws")];
    let reply = server.request("GET", "/graphql/ws", &upgrade, b"");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("Sec-WebSocket-Version must be 13"), "{}", reply.body);
    let mut versioned = upgrade.to_vec();
    versioned.push(("Sec-WebSocket-Version", "13"));
    let reply = server.request("GET", "/graphql/ws", &versioned, b"");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("Sec-WebSocket-Key"), "{}", reply.body);

    runtime().block_on(async {
        // A WebSocket ping is answered with its payload, between the protocol's messages.
        let (mut socket, ack) = ws::connect(&url, "graphql-transport-ws", auth.clone()).await;
        assert_eq!(ack["type"], "connection_ack");
        socket.send(Message::Ping(b"still there?".to_vec().into())).await.unwrap();
        let pong = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(pong, Message::Pong(b"still there?".to_vec().into()));

        // A message in three fragments is one message.
        let query = json!({"id": "f", "type": "subscribe", "payload": {"query": "{ __typename }"}}).to_string();
        let thirds = query.len() / 3;
        let pieces = [&query[..thirds], &query[thirds..2 * thirds], &query[2 * thirds..]];
        for (i, piece) in pieces.iter().enumerate() {
            let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
            let header = FrameHeader { is_final: i == 2, opcode, ..FrameHeader::default() };
            socket.send(Message::Frame(Frame::from_payload(header, piece.as_bytes().to_vec().into()))).await.unwrap();
        }
        let answer = ws::next(&mut socket, Duration::from_secs(10)).await.unwrap();
        assert_eq!(answer, json!({"type": "next", "id": "f", "payload": {"data": {"__typename": "Query"}}}));
        assert_eq!(ws::next(&mut socket, Duration::from_secs(10)).await.unwrap()["type"], "complete");

        // A result over 64 KiB goes out whole (the 8-byte length form): the schema's types,
        // fields and their descriptions.
        let schema =
            "{ __schema { types { name description fields { name description args { name description } } } } }";
        ws::send(&mut socket, json!({"id": "l", "type": "subscribe", "payload": {"query": schema}})).await;
        let answer = ws::next(&mut socket, Duration::from_secs(10)).await.unwrap();
        assert_eq!(answer["type"], "next", "{answer}");
        let types = answer["payload"]["data"]["__schema"]["types"].as_array().map_or(0, Vec::len);
        assert!(types > 100, "{answer}");
        assert!(answer.to_string().len() > 65_535, "{} bytes", answer.to_string().len());
        assert_eq!(ws::next(&mut socket, Duration::from_secs(10)).await.unwrap()["type"], "complete");

        // A client's close is answered with a close, and the connection ends at once, though
        // a subscription's group still lists the socket until its world's next event.
        let watch = json!({"id": "w", "type": "subscribe", "payload": {
            "query": "subscription($w: ID!) { worldActivity(world: $w) { kind } }", "variables": {"w": world}}});
        ws::send(&mut socket, watch.clone()).await;
        // Another subscriber of the same stream keeps its group running.
        let (mut other, _) = ws::connect(&url, "graphql-transport-ws", auth.clone()).await;
        ws::send(&mut other, watch).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        socket.close(None).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap();
        assert!(matches!(answer, Some(Ok(Message::Close(_)))), "{answer:?}");
        let end = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
        assert!(matches!(end, Ok(None) | Ok(Some(Err(_)))), "the connection stayed open: {end:?}");
        drop(other);

        // A message over 64 KiB is refused: the socket is closed.
        let (mut socket, _) = ws::connect(&url, "graphql-transport-ws", auth.clone()).await;
        let huge = json!({"id": "h", "type": "subscribe", "payload": {"query": "x".repeat(70_000)}});
        let _ = socket.send(Message::text(huge.to_string())).await;
        let closed = ws::next(&mut socket, Duration::from_secs(10)).await;
        assert!(closed.is_none() || closed.as_ref().is_some_and(|c| c["type"] == "close"), "{closed:?}");
    });
}

#[test]
fn sigterm_stops_cleanly_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(&data, false, &["--rate-per-ip", "0", "--rate-per-token", "0"]);
    let (token, _) = server.user_with_mask("writer", "writer_mask", "PUBLIC");
    let (_, target) = server.user_with_mask("target", "target_mask", "PUBLIC");
    // Writers keep rating until the server goes away; every acknowledged seq must survive.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let addr = server.addr;
    let mut threads = Vec::new();
    for t in 0..4 {
        let (token, target, acked) = (token.clone(), target.clone(), acked.clone());
        threads.push(std::thread::spawn(move || {
            for i in 0.. {
                let body = json!({"query": "mutation($m: ID!, $r: Int!) { rate(input: {mask: $m, rating: $r}) { seq } }",
                                  "variables": {"m": target, "r": (i + t) % 10}})
                .to_string();
                let head = format!(
                    "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                use std::io::{Read, Write};
                let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return };
                if stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body.as_bytes())).is_err() {
                    return;
                }
                let mut text = String::new();
                if stream.read_to_string(&mut text).is_err() {
                    return;
                }
                let Some(json) = text.split("\r\n\r\n").nth(1).and_then(|b| serde_json::from_str::<Value>(b).ok()) else { return };
                match json["data"]["rate"]["seq"].as_str() {
                    Some(seq) => acked.lock().unwrap().push(seq.parse().unwrap()),
                    None => return,
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let status = server.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 10, "writers got through: {}", acked.len());
    let stats = crate::stats(&data);
    let length = stats["log"]["length"].as_u64().unwrap();
    assert!(acked.iter().all(|&seq| seq <= length), "acknowledged {:?} but the log holds {length}", acked.iter().max());
    let verify = crate::run(&data, &["audit", "verify"]);
    assert!(verify.status.success());
}

#[test]
fn score_epochs_outlive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--epoch-events", "1", "--epoch-interval-ms", "0"];
    let server = Server::start_in(&data, true, &args);
    wait_for_epoch(&server);
    // The governance AI flags cases after an epoch, and those writes make the next one due:
    // wait until the newest epoch is of the log's head, so there is nothing left to compute.
    let started = Instant::now();
    loop {
        let head = server.request("GET", "/healthz", &[], b"").json()["log_seq"].as_u64().unwrap();
        let epochs = server.gql("{ epochs { logSeq } }", json!({}), None)["epochs"].clone();
        let newest = epochs.as_array().unwrap().iter().filter_map(|e| e["logSeq"].as_str()?.parse::<u64>().ok()).max();
        if newest == Some(head) {
            // And stays there: the patrol after that epoch had nothing new to flag (longer than
            // an epoch of the demo takes in a debug build).
            std::thread::sleep(Duration::from_millis(3_000));
            let still = server.request("GET", "/healthz", &[], b"").json()["log_seq"].as_u64().unwrap();
            if still == head {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the epochs never caught up with the log: {epochs}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // `computedInMs` tells a kept epoch from one computed again at the same position.
    let query = "{ epochs { number logSeq logHash modularity computedInMs parameters { job name value } } }";
    let before = server.gql(query, json!({}), None)["epochs"].clone();
    let first = before.as_array().unwrap()[0].clone();
    assert!(
        first["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["job"] == "contribution" && p["name"] == "trust.damping"),
        "{first}"
    );
    let masks = server.gql("{ masks(first: 1) { edges { node { id } } } }", json!({}), None);
    let mask = masks["masks"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    let scores = "query($m: ID!, $e: Int) { reputation(mask: $m, epoch: $e) { trust trustExplanation { teleport from { amount } } } }";
    let trust_before = server.gql(scores, json!({"m": mask, "e": first["number"]}), None);
    assert!(server.terminate().success());

    // Restarted on the same log, nothing new to compute: the kept epoch is served as it was,
    // explanations and all, and no new one is made.
    let server = Server::start_in(&data, false, &args);
    let after = server.gql(query, json!({}), None)["epochs"].clone();
    assert_eq!(after.as_array().unwrap()[0], first, "{after}");
    assert_eq!(server.gql(scores, json!({"m": mask, "e": first["number"]}), None), trust_before);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        server.gql("{ epochs { number } }", json!({}), None)["epochs"].as_array().unwrap().len(),
        before.as_array().unwrap().len()
    );
    // A write: the next epoch is numbered on from the kept ones.
    server.user_with_mask("late_comer", "late_comer_mask", "PUBLIC");
    let newest = before.as_array().unwrap().iter().map(|e| e["number"].as_i64().unwrap()).max().unwrap();
    let started = Instant::now();
    loop {
        let numbers = server.gql("{ epochs { number } }", json!({}), None)["epochs"].clone();
        if numbers.as_array().unwrap().iter().any(|e| e["number"].as_i64().unwrap() == newest + 1) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no epoch {} after a write: {numbers}", newest + 1);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.terminate().success());

    // The same epoch files beside another log are not served: that log does not hold them.
    let other = dir.path().join("other");
    std::fs::create_dir_all(other.join("epochs")).unwrap();
    for entry in std::fs::read_dir(data.join("epochs")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, other.join("epochs").join(path.file_name().unwrap())).unwrap();
    }
    let server = Server::start_in(&other, false, &args);
    let served = server.gql("{ epochs { number logSeq } }", json!({}), None)["epochs"].clone();
    assert!(served.as_array().unwrap().iter().all(|e| e["logSeq"] == "0"), "{served}");
    assert!(server.terminate().success());
}

#[test]
#[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
fn the_api_on_a_postgresql_log() {
    let (url, schema) = crate::postgres("daira_api");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--database-url", url.as_str(), "--pg-schema", schema.as_str(), "--rate-per-ip", "0"];
    let server = Server::start_in(&data, false, &args);
    let (token, mask) = server.user_with_mask("pg_user", "pg_mask", "CREATOR");
    let world = server.gql(
        "mutation { createWorld(input: {name: \"Alexandria stacks\"}) { world { id } } }",
        json!({}),
        Some(&token),
    )["createWorld"]["world"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(server.terminate().success());
    // Restarted, the log replays from PostgreSQL, the accounts and sessions are there, and the
    // global ids are the same (their key lives in the key file, in the data directory).
    let server = Server::start_in(&data, false, &args);
    let data_after = server.gql(
        "query($w: ID!) { node(id: $w) { ... on World { name moderators(first: 5) { edges { node { id handle } } } } } viewer { masks(first: 5) { totalCount } } }",
        json!({"w": world}),
        Some(&token),
    );
    assert_eq!(data_after["node"]["name"], "Alexandria stacks", "{data_after}");
    assert_eq!(data_after["node"]["moderators"]["edges"][0]["node"]["id"], mask.as_str());
    assert_eq!(data_after["viewer"]["masks"]["totalCount"], 1);
    let login = server.gql(
        "mutation { login(input: {login: \"pg_user\", password: \"a long enough password\"}) { token userErrors { code } } }",
        json!({}),
        None,
    );
    assert!(login["login"]["token"].is_string(), "{login}");
    eprintln!("the API ran on PostgreSQL ({url}, schema {schema})");
}

/// `psql` as `url`'s role: its output, or the error it printed.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = std::process::Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .output()
        .expect("psql runs (PostgreSQL's client)");
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
    if out.status.success() { Ok(text(&out.stdout)) } else { Err(text(&out.stderr)) }
}

/// `daira migrate` makes the schemas as their owner and a server role that may only read and
/// append the log: the server runs as that role, and the role cannot rewrite history.
#[test]
#[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
fn the_api_on_a_postgresql_log_runs_as_a_role_that_cannot_rewrite_it() {
    let owner_url = std::env::var("DAIRA_TEST_POSTGRES_URL").expect("DAIRA_TEST_POSTGRES_URL names the server");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("daira_roles_{}_{nanos}", std::process::id());
    let role = format!("daira_serve_{}_{}", std::process::id(), nanos % 1_000_000_007);
    let (scheme, rest) = owner_url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let serve_url = format!("{scheme}://{role}@{host}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let migrated =
        crate::run(&data, &["--database-url", &owner_url, "--pg-schema", &schema, "migrate", "--serve-role", &role]);
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let args = ["--database-url", serve_url.as_str(), "--pg-schema", schema.as_str(), "--rate-per-ip", "0"];
    let server = Server::start_in(&data, false, &args);
    let (token, _) = server.user_with_mask("pg_role_user", "pg_role_mask", "CREATOR");
    let data_now = server.gql("{ viewer { masks(first: 5) { totalCount } } }", json!({}), Some(&token));
    assert_eq!(data_now["viewer"]["masks"]["totalCount"], 1, "{data_now}");
    assert!(server.terminate().success());
    let events = format!("\"{schema}\".events");
    let count = psql(&serve_url, &format!("SELECT count(*) FROM {events}")).unwrap();
    assert!(count.parse::<u64>().unwrap() >= 2, "{count}");
    for attack in
        [format!("UPDATE {events} SET time_ms = 0"), format!("DELETE FROM {events}"), format!("TRUNCATE {events}")]
    {
        let refused = psql(&serve_url, &attack).expect_err(&attack);
        assert!(refused.contains("permission denied"), "{attack}: {refused}");
    }
    // The accounts are in their own schema, which the role may change (sessions come and go).
    let accounts = format!("\"{schema}_accounts\".daira_sessions");
    psql(&serve_url, &format!("DELETE FROM {accounts} WHERE expires_ms < 0")).unwrap();
    assert!(psql(&owner_url, &format!("SELECT count(*) FROM \"{schema}\".daira_sessions")).is_err());
    let _ = psql(&owner_url, &format!("DROP SCHEMA \"{schema}\" CASCADE; DROP SCHEMA \"{schema}_accounts\" CASCADE"));
    let _ = psql(&owner_url, &format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\""));
}

/// Accounts made beside the log (before they had a schema of their own) are moved, not lost.
#[test]
#[cfg_attr(not(daira_postgres), ignore = "set DAIRA_TEST_POSTGRES_URL to run it against PostgreSQL")]
fn the_api_on_a_postgresql_log_keeps_accounts_made_beside_it() {
    let (url, schema) = crate::postgres("daira_old");
    psql(
        &url,
        &format!(
            "CREATE SCHEMA \"{schema}\"; CREATE TABLE \"{schema}\".daira_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO \"{schema}\".daira_secrets VALUES ('global-ids', 'kept');"
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = crate::run(&dir.path().join("data"), &["--database-url", &url, "--pg-schema", &schema, "migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept = psql(&url, &format!("SELECT value FROM \"{schema}_accounts\".daira_secrets WHERE name = 'global-ids'"));
    assert_eq!(kept.as_deref(), Ok("kept"));
    let _ = psql(&url, &format!("DROP SCHEMA \"{schema}\" CASCADE; DROP SCHEMA \"{schema}_accounts\" CASCADE"));
}

#[test]
fn names_that_pass_for_others_are_refused_and_text_is_normalised() {
    let server = Server::start(false, &["--rate-per-ip", "0", "--rate-per-token", "0"]);
    let (token, _) = server.user_with_mask("hana", "hana_pub", "PUBLIC");
    let create = |display: &str| {
        server.gql(
            "mutation($h: String!, $d: String!) { createMask(input: {kind: CREATOR, handle: $h, displayName: $d}) { mask { displayName } userErrors { field code message } } }",
            json!({"h": format!("m_{}", display.len()), "d": display}),
            Some(&token),
        )["createMask"]
            .clone()
    };
    // A right-to-left override (U+202E) makes "admin<RLO>gnp.exe" read as "adminexe.png".
    for spoof in ["admin\u{202E}gnp.exe", "Nour\u{200B}", "\u{2066}hana\u{2069}", "tab\u{0009}bed"] {
        let payload = create(spoof);
        assert_eq!(payload["mask"], Value::Null, "{spoof:?}: {payload}");
        assert_eq!(payload["userErrors"][0]["code"], "BAD_USER_INPUT", "{payload}");
        assert_eq!(payload["userErrors"][0]["field"], json!(["input", "displayName"]), "{payload}");
    }
    // The same name typed two ways is one text: NFC.
    assert_eq!(create("Cafe\u{301} 🎨")["mask"]["displayName"], "Caf\u{e9} 🎨");
    // A world named with fillers alone has no name.
    let world = server.gql(
        "mutation { createWorld(input: {name: \"\u{3164}\u{3164}\"}) { world { id } userErrors { field message } } }",
        json!({}),
        Some(&token),
    );
    assert_eq!(world["createWorld"]["userErrors"][0]["field"], json!(["input", "name"]), "{world}");
    assert!(world["createWorld"]["userErrors"][0]["message"].as_str().unwrap().contains("empty"), "{world}");
    assert!(server.terminate().success());
}
