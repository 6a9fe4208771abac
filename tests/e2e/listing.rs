//! The lists (`masks`, `worlds`, `works`, `works(world)`) follow the log batch by batch (only
//! the vertices a batch touches are re-placed; `api/src/caches.rs`). Differential: after a
//! story of every kind of change that moves something in or out of a list — masks of every
//! kind, worlds, works, a private mask's work, a co-author joining a work, a remix, an erasure
//! that hides works — read between every step, the lists equal those a restarted server
//! builds from the whole graph.

use crate::private::ok;
use crate::server::Server;
use serde_json::{Value, json};

const LISTS: &str = "query($w: ID!) {
  masks(first: 100) { totalCount nodes { handle } }
  worlds(first: 100) { totalCount nodes { name } }
  works(first: 100) { totalCount nodes { title } }
  inWorld: works(world: $w, first: 100) { totalCount nodes { title } }
}";

#[test]
fn the_lists_follow_the_log_and_equal_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--rate-per-ip", "0", "--rate-per-token", "0"];
    let server = Server::start_in(&data, false, &args);
    let (alice, alice_pub) = server.user_with_mask("alice", "alice_pub", "PUBLIC");
    let (bob, _) = server.user_with_mask("bob", "bob_pub", "PUBLIC");
    let (carol, carol_pub) = server.user_with_mask("carol", "carol_pub", "CREATOR");
    let world = ok(
        &server,
        &alice,
        "mutation { createWorld(input: {name: \"Wekalet el-Ghouri\"}) { world { id } userErrors { message } } }",
        json!({}),
    )["world"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let lists = |server: &Server| server.gql(LISTS, json!({"w": world}), None);
    let mut seen = vec![lists(&server)];
    let publish = "mutation($as: ID, $w: ID, $t: String!, $a: [CoauthorInput!]! = []) { publishWork(input: {as: $as, world: $w, title: $t, authors: $a}) { work { id } userErrors { message } } }";
    let first = ok(&server, &alice, publish, json!({"w": world, "t": "Tannoura at dusk"}))["work"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    seen.push(lists(&server));
    ok(&server, &bob, publish, json!({"t": "No world at all"}));
    let private = server.create_mask(&bob, "bob_hidden", "PRIVATE");
    let shadow = server.create_mask(&bob, "bob_shadow", "SHADOW");
    server.create_mask(&alice, "aaa_first_by_handle", "CITIZEN");
    seen.push(lists(&server));
    let join = "mutation($as: ID, $w: ID!) { joinWorld(input: {as: $as, world: $w}) { userErrors { message } } }";
    for (token, mask) in [(&bob, Some(private.as_str())), (&bob, Some(shadow.as_str())), (&carol, None)] {
        ok(&server, token, join, json!({"as": mask, "w": world}));
    }
    ok(&server, &bob, publish, json!({"as": private, "w": world, "t": "Only for friends"}));
    ok(&server, &bob, publish, json!({"as": shadow, "w": world, "t": "From the shadows"}));
    seen.push(lists(&server));
    // A co-authored work: invited, then accepted (authorship decides who sees a work).
    let shared = ok(&server, &carol, publish, json!({"w": world, "t": "Four hands", "a": [{"mask": carol_pub, "share": 0.5}, {"mask": alice_pub, "share": 0.5}]}))["work"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &server,
        &alice,
        "mutation($w: ID!) { acceptCoauthorship(input: {work: $w}) { userErrors { message } } }",
        json!({"w": shared}),
    );
    ok(
        &server,
        &bob,
        "mutation($o: ID!) { remix(input: {original: $o, title: \"Tannoura, again\"}) { work { id } userErrors { message } } }",
        json!({"o": first}),
    );
    ok(
        &server,
        &alice,
        "mutation { createWorld(input: {name: \"Bab Zuweila\"}) { world { id } userErrors { message } } }",
        json!({}),
    );
    seen.push(lists(&server));
    // Carol leaves and takes her works with her: an erasure, which rebuilds the lists.
    ok(&server, &carol, publish, json!({"w": world, "t": "Carol alone"}));
    seen.push(lists(&server));
    let erased = server.gql(
        "mutation { deleteAccount(input: {password: \"a long enough password\", hideWorks: true}) { ok userErrors { message } } }",
        json!({}),
        Some(&carol),
    );
    assert_eq!(erased["deleteAccount"]["ok"], true, "{erased}");
    ok(&server, &alice, publish, json!({"w": world, "t": "After the erasure"}));
    let live = lists(&server);
    seen.push(live.clone());

    let text = live.to_string();
    for absent in ["bob_hidden", "bob_shadow", "Only for friends", "Carol alone"] {
        assert!(!text.contains(absent), "{absent} listed: {text}");
    }
    for present in
        ["aaa_first_by_handle", "Four hands", "From the shadows", "Tannoura, again", "Bab Zuweila", "After the erasure"]
    {
        assert!(text.contains(present), "{present} not listed: {text}");
    }
    assert_eq!(live["masks"]["nodes"][0]["handle"], "aaa_first_by_handle", "masks by handle: {text}");
    // The lists grew step by step (each read saw its step).
    let works = |v: &Value| v["works"]["totalCount"].as_u64().unwrap();
    assert!(seen.windows(2).all(|w| works(&w[0]) <= works(&w[1]) || w[1] == live), "{seen:?}");

    // Followed, not rebuilt: once at the first read and once for the erasure (a read that
    // races its write's broadcast also rebuilds: the bound allows for that, not for every
    // read rebuilding).
    let metrics = server.request("GET", "/metrics", &[], b"").body;
    let rebuilt = metrics.lines().find_map(|l| l.strip_prefix("daira_lists_rebuilt_total ")).expect("the counter");
    println!("lists rebuilt {rebuilt} times over the story's {} reads", seen.len());
    assert!(rebuilt.trim().parse::<f64>().unwrap() < seen.len() as f64, "rebuilt {rebuilt} times");

    // A restarted server builds the lists from the whole graph: the same.
    assert!(server.terminate().success());
    let server = Server::start_in(&data, false, &args);
    assert_eq!(lists(&server), live);
}
