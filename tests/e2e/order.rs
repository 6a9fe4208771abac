//! Nothing in a list reveals the order masks were made in (issue 19, point 2). Masks are made in
//! one order on one server and in the other order on a second; everything else happens the same
//! way on both, in the same order. A third user then reads every list and count that holds
//! them: the answers, with ids replaced by handles, must be the same — otherwise a list's order
//! tells which mask is older, and two masks made one after the other point to one person.

use crate::server::Server;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// What Bob sees when Carol made `first` and then `second`.
fn bobs_view(first: &str, second: &str) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--rate-per-ip", "0", "--rate-per-token", "0"];
    let server = Server::start_in(&data, false, &args);
    let (alice, alice_pub) = server.user_with_mask("alice", "alice_pub", "PUBLIC");
    let (bob, _) = server.user_with_mask("bob", "bob_pub", "PUBLIC");
    let (carol, _) = server.user_with_mask("carol", "carol_pub", "PUBLIC");
    let mut ids: HashMap<String, String> = HashMap::new();
    ids.insert(server.create_mask(&carol, first, "CREATOR"), first.to_owned());
    ids.insert(server.create_mask(&carol, second, "CREATOR"), second.to_owned());
    let id_of = |handle: &str| ids.iter().find(|(_, h)| h.as_str() == handle).map(|(id, _)| id.clone()).unwrap();
    let (one, two) = (id_of("mm_one"), id_of("mm_two"));
    let ok = |token: &str, query: &str, vars: Value| {
        let data = server.gql(query, vars, Some(token));
        let payload = data.as_object().unwrap().values().next().unwrap().clone();
        assert_eq!(payload["userErrors"], json!([]), "{query}: {data}");
        payload
    };
    let world = ok(
        &alice,
        "mutation { createWorld(input: {name: \"Sayeda Zeinab sketches\"}) { world { id } userErrors { message } } }",
        json!({}),
    )["world"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same actions, in the same order, on both servers: mm_two acts first, then mm_one.
    let follow = "mutation($as: ID, $m: ID!) { follow(input: {as: $as, mask: $m}) { userErrors { message } } }";
    let join = "mutation($as: ID, $w: ID!) { joinWorld(input: {as: $as, world: $w}) { userErrors { message } } }";
    for mask in [&two, &one] {
        ok(&bob, follow, json!({"m": mask}));
    }
    for mask in [&two, &one] {
        ok(&carol, follow, json!({"as": mask, "m": alice_pub}));
        ok(&carol, join, json!({"as": mask, "w": world}));
        ok(&alice, follow, json!({"m": mask}));
    }
    for (mask, title) in [(&two, "Tram lines"), (&one, "Tram lines")] {
        ok(
            &carol,
            "mutation($as: ID, $w: ID!, $t: String!) { publishWork(input: {as: $as, world: $w, title: $t}) { userErrors { message } } }",
            json!({"as": mask, "w": world, "t": title}),
        );
    }
    // A bulk import folds recent edges into the engine's compact rows, whose order is the
    // vertices' order: a list read straight from them is in the order its masks were made.
    assert!(server.terminate().success());
    let edges: String = (0..1100).map(|i| format!("{} {}\n", 100_000 + i, 100_000 + (i * 7 + 1) % 1100)).collect();
    let file = crate::write(dir.path(), "others.txt", &edges);
    let out = crate::run(&data, &["import", file.to_str().unwrap(), "--format", "snap"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = Server::start_in(&data, false, &args);
    let masks = "totalCount edges { cursor node { handle } }";
    let read = |query: String, vars: Value| server.gql(&query, vars, Some(&bob));
    let mut view: BTreeMap<String, Value> = BTreeMap::new();
    view.insert(
        "bob follows".into(),
        read(format!("{{ mask(handle: \"bob_pub\") {{ following(first: 10) {{ {masks} }} }} }}"), json!({})),
    );
    view.insert(
        "alice's followers".into(),
        read(format!("{{ mask(handle: \"alice_pub\") {{ followers(first: 10) {{ {masks} }} }} }}"), json!({})),
    );
    view.insert(
        "alice follows".into(),
        read(format!("{{ mask(handle: \"alice_pub\") {{ following(first: 10) {{ {masks} }} }} }}"), json!({})),
    );
    view.insert(
        "the world".into(),
        read(
            format!("query($w: ID!) {{ node(id: $w) {{ ... on World {{ memberCount members(first: 10) {{ {masks} }} works(first: 10) {{ totalCount edges {{ cursor node {{ title authors(first: 5) {{ {masks} }} }} }} }} }} }} }}"),
            json!({"w": world}),
        ),
    );
    view.insert(
        "second page".into(),
        read("{ mask(handle: \"bob_pub\") { following(first: 1) { edges { cursor } } } }".to_owned(), json!({})),
    );
    let after = view["second page"]["mask"]["following"]["edges"][0]["cursor"].clone();
    view.insert(
        "after the first".into(),
        read(
            format!(
                "query($a: String) {{ mask(handle: \"bob_pub\") {{ following(first: 5, after: $a) {{ {masks} }} }} }}"
            ),
            json!({"a": after}),
        ),
    );
    let masks_list = read(format!("{{ masks(first: 20) {{ {masks} }} }}"), json!({}));
    view.insert("every mask".into(), masks_list);
    // Cursors hold the edge's time and an opaque id, which differ between any two servers;
    // what they lead to is compared above ("after the first").
    view.remove("second page");
    let mut text = serde_json::to_string(&view).unwrap();
    while let Some(at) = text.find("\"cursor\":\"") {
        let start = at + "\"cursor\":\"".len();
        let end = start + text[start..].find('"').unwrap();
        text.replace_range(at..=end, "\"c\":\"\"");
    }
    let mut named = text;
    for (id, handle) in &ids {
        named = named.replace(id.as_str(), handle);
    }
    assert!(server.terminate().success());
    serde_json::from_str(&named).unwrap()
}

#[test]
fn no_list_tells_which_mask_was_made_first() {
    let one_first = bobs_view("mm_one", "mm_two");
    let two_first = bobs_view("mm_two", "mm_one");
    for (what, seen) in &one_first {
        assert_eq!(seen, &two_first[what], "{what}: the order the masks were made in shows");
    }
}

/// A mask made after the last epoch has the reputation of an old mask that never acted: no
/// score, explanation or community tells that it is new (issue 19, point 2).
#[test]
fn a_new_mask_scores_like_an_idle_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--rate-per-ip", "0", "--rate-per-token", "0"];
    let server = Server::start_in(&data, false, &args);
    let (alice, alice_pub) = server.user_with_mask("alice", "alice_pub", "PUBLIC");
    let (bob, _) = server.user_with_mask("bob", "bob_pub", "PUBLIC");
    let (carol, _) = server.user_with_mask("carol", "carol_pub", "PUBLIC");
    server.gql(
        "mutation { createWorld(input: {name: \"Roda island\"}) { userErrors { message } } }",
        json!({}),
        Some(&alice),
    );
    let follow = "mutation($m: ID!) { follow(input: {mask: $m}) { userErrors { message } } }";
    server.gql(follow, json!({"m": alice_pub}), Some(&bob));
    server.gql(follow, json!({"m": alice_pub}), Some(&carol));
    let made = server.gql(
        "mutation { createMask(input: {kind: CREATOR, handle: \"idle_one\", displayName: \"Idle\"}) { seq } }",
        json!({}),
        Some(&carol),
    )["createMask"]["seq"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Restart: the new process computes an epoch over all of it, and no other for an hour.
    assert!(server.terminate().success());
    let args = [&args[..], &["--epoch-interval-ms", "3600000"]].concat();
    let server = Server::start_in(&data, false, &args);
    crate::private::settle(&server, made, || true);
    let epochs = server.gql("{ epochs { number } }", json!({}), None);
    server.create_mask(&carol, "new_one", "CREATOR");
    let scores = "trust reputation { epoch { number } trust trustPercentile sybil
        trustExplanation { beforeDiscount teleport dangling from { amount } distrust { amount } }
        contribution contributionExplanation { total works { amount } collaborations trades governance }
        alignment { intercept viewpoint } cluster { size } }";
    let of = |handle: &str| {
        let query = format!("{{ mask(handle: \"{handle}\") {{ {scores} }} }}");
        server.gql(&query, json!({}), Some(&bob))["mask"].clone()
    };
    let (idle, new) = (of("idle_one"), of("new_one"));
    assert!(idle["reputation"].is_object(), "{idle}");
    // As text: JSON tells -0.0 from 0.0, and so would anyone comparing answers.
    assert_eq!(new.to_string(), idle.to_string(), "a mask made after the epoch must score as an idle one");
    // No epoch since: the new mask was scored in none.
    assert_eq!(server.gql("{ epochs { number } }", json!({}), None), epochs);
}
