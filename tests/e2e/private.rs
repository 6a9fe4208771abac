//! A private mask is seen by its owner and by the masks it admitted; to everyone else it does
//! not exist (issue 19, point 1). Carol's private mask "quiet_lotus" joins a world, follows,
//! rates, endorses, publishes and remixes; Bob, a second user, and nobody at all then ask every
//! query field the schema has (as the shadow-mask test does) and find no trace of it: no
//! handle, name, bio, id or work, in no list, count, search hit or cluster. Acting on it is
//! "not found", word for word as for a mask that was never made, and taking its handle fails
//! as for any taken handle. Alice, once admitted, sees it and follows it; revoked, she no
//! longer sees it and her follow is gone.

use crate::privacy::{Probe, dump};
use crate::server::{Server, ws};
use serde_json::{Value, json};

const ARGS: [&str; 4] = ["--rate-per-ip", "0", "--rate-per-token", "0"];

/// The payload of a mutation (its one field), with no user errors.
pub(crate) fn ok(server: &Server, token: &str, query: &str, vars: Value) -> Value {
    let data = server.gql(query, vars, Some(token));
    let payload = data.as_object().unwrap().values().next().unwrap().clone();
    assert_eq!(payload["userErrors"], json!([]), "{query}: {data}");
    payload
}

const FOLLOW: &str = "mutation($as: ID, $m: ID!) { follow(input: {as: $as, mask: $m}) { mask { handle } userErrors { field message code } } }";

/// Waits until an epoch covers log position `seq` and `ready` holds.
pub(crate) fn settle(server: &Server, seq: u64, mut ready: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    loop {
        let epochs = server.gql("{ epochs { logSeq } }", json!({}), None);
        let covered = epochs["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["logSeq"].as_str().and_then(|s| s.parse::<u64>().ok()) >= Some(seq));
        if covered && ready() {
            return;
        }
        assert!(started.elapsed().as_secs() < 60, "no epoch covered seq {seq}, or the index never caught up");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_private_mask_does_not_exist_for_those_it_did_not_admit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(&data, false, &ARGS);
    let (alice, alice_pub) = server.user_with_mask("alice", "alice_pub", "PUBLIC");
    let (bob, _) = server.user_with_mask("bob", "bob_pub", "PUBLIC");
    let (carol, _) = server.user_with_mask("carol", "carol_pub", "PUBLIC");
    let (dave, dave_pub) = server.user_with_mask("dave", "dave_pub", "PUBLIC");
    let lotus = ok(
        &server,
        &carol,
        "mutation { createMask(input: {kind: PRIVATE, handle: \"quiet_lotus\", displayName: \"Lotus in the dark\", bio: \"a bio for friends only\"}) { mask { id } userErrors { message } } }",
        json!({}),
    )["mask"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let world = ok(
        &server,
        &dave,
        "mutation { createWorld(input: {name: \"Cairo nights\"}) { world { id } userErrors { message } } }",
        json!({}),
    )["world"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dawn = ok(
        &server,
        &dave,
        "mutation($w: ID!) { publishWork(input: {world: $w, title: \"Dawn over Bulaq\"}) { work { id } userErrors { message } } }",
        json!({"w": world}),
    )["work"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let join = "mutation($as: ID, $w: ID!) { joinWorld(input: {as: $as, world: $w}) { userErrors { message } } }";
    for token in [&alice, &bob] {
        ok(&server, token, join, json!({"w": world}));
    }
    // The private mask's deeds.
    let l = Some(lotus.as_str());
    ok(&server, &carol, join, json!({"as": l, "w": world}));
    ok(&server, &carol, FOLLOW, json!({"as": l, "m": alice_pub}));
    ok(&server, &carol, FOLLOW, json!({"as": l, "m": dave_pub}));
    ok(
        &server,
        &carol,
        "mutation($as: ID, $m: ID!) { rate(input: {as: $as, mask: $m, rating: 7}) { userErrors { message } } }",
        json!({"as": l, "m": dave_pub}),
    );
    ok(
        &server,
        &carol,
        "mutation($as: ID, $t: ID!) { endorse(input: {as: $as, target: $t}) { userErrors { message } } }",
        json!({"as": l, "t": dawn}),
    );
    let garden = ok(
        &server,
        &carol,
        "mutation($as: ID, $w: ID!) { publishWork(input: {as: $as, world: $w, title: \"Hidden garden\", description: \"حديقة سرية\"}) { work { id } userErrors { message } } }",
        json!({"as": l, "w": world}),
    )["work"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let remix = ok(
        &server,
        &carol,
        "mutation($as: ID, $o: ID!) { remix(input: {as: $as, original: $o, title: \"Bulaq, in secret\"}) { work { id } userErrors { message } } }",
        json!({"as": l, "o": dawn}),
    )["work"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Following it before being admitted: word for word what following a mask that was never
    // made answers (a mask id from another server: of the right form, naming nothing here).
    let fresh = tempfile::tempdir().unwrap();
    let other = Server::start_in(&fresh.path().join("data"), false, &ARGS);
    let (stranger, _) = other.user_with_mask("stranger", "stranger_pub", "PUBLIC");
    let nowhere = other.create_mask(&stranger, "elsewhere", "PUBLIC");
    drop(other);
    let to_lotus = server.gql(FOLLOW, json!({"m": lotus}), Some(&alice));
    let to_nowhere = server.gql(FOLLOW, json!({"m": nowhere}), Some(&alice));
    assert_eq!(to_lotus, to_nowhere, "following an unseen private mask must look like following nothing");
    assert_eq!(to_lotus["follow"]["userErrors"][0]["code"], "NOT_FOUND", "{to_lotus}");
    // Its handle is taken, and says so as any taken handle does.
    let take = |handle: &str| {
        let data = server.gql(
            "mutation($h: String!) { createMask(input: {kind: PUBLIC, handle: $h, displayName: \"x\"}) { userErrors { field message code } } }",
            json!({"h": handle}),
            Some(&bob),
        );
        data["createMask"]["userErrors"].to_string().replace(handle, "HANDLE")
    };
    assert_eq!(take("quiet_lotus"), take("alice_pub"));
    assert!(take("quiet_lotus").contains("taken"), "{}", take("quiet_lotus"));

    // Carol admits Alice's mask; Alice follows the private mask.
    let approve = "mutation($as: ID, $m: ID!) { approveViewer(input: {as: $as, mask: $m}) { mask { handle } userErrors { field message code } } }";
    ok(&server, &carol, approve, json!({"as": l, "m": alice_pub}));
    let follow_with_seq = FOLLOW.replace("userErrors", "seq userErrors");
    let last = ok(&server, &alice, &follow_with_seq, json!({"m": lotus}))["seq"].as_str().unwrap().parse().unwrap();
    // Only a private mask admits viewers.
    let public = server.gql(approve, json!({"m": alice_pub}), Some(&dave));
    assert_eq!(public["approveViewer"]["userErrors"][0]["code"], "BAD_USER_INPUT", "{public}");

    // Restart: one epoch over the whole story, and the index caught up (the owner finds the
    // private mask's remix).
    assert!(server.terminate().success());
    let server = Server::start_in(&data, false, &ARGS);
    settle(&server, last, || {
        let hits = server.gql("{ search(query: \"secret\", first: 5) { totalCount } }", json!({}), Some(&carol));
        hits["search"]["totalCount"].as_u64() >= Some(1)
    });

    // Bob, and nobody, ask everything.
    let probe = Probe {
        mask: lotus.clone(),
        handle: "quiet_lotus".into(),
        others: [alice_pub.clone(), dave_pub.clone()],
        world: world.clone(),
        query: "lotus secret garden حديقة".into(),
    };
    let secrets = ["quiet_lotus", "Lotus in the dark", "a bio for friends only", "Hidden garden", "Bulaq, in secret"];
    for (who, token) in [("bob", Some(bob.as_str())), ("nobody", None)] {
        let answers = serde_json::to_string(&dump(&server, token, &probe)).unwrap();
        for secret in secrets.iter().copied().chain([lotus.as_str(), garden.as_str(), remix.as_str()]) {
            assert!(!answers.contains(secret), "as {who}, the answers show {secret:?}");
        }
        // The walk reached the private mask's neighbours (or it proves nothing).
        for seen in ["alice_pub", "dave_pub", "Dawn over Bulaq", "Cairo nights"] {
            assert!(answers.contains(seen), "as {who}, {seen} never appeared in the answers");
        }
    }
    // Counts agree with what is shown.
    let counts = |token: Option<&str>| {
        server.gql(
            "query($w: ID!, $d: ID!) { node(id: $w) { ... on World { memberCount members(first: 20) { totalCount } } }
               alice: mask(handle: \"alice_pub\") { followers(first: 20) { totalCount } }
               dave: mask(handle: \"dave_pub\") { followers(first: 20) { totalCount } }
               dawn: node(id: $d) { ... on Work { endorsementCount remixes(first: 5) { totalCount } } } }",
            json!({"w": world, "d": dawn}),
            token,
        )
    };
    let bobs = counts(Some(&bob));
    assert_eq!(bobs["node"]["memberCount"], 3, "dave, alice, bob: {bobs}");
    assert_eq!(bobs["node"]["members"]["totalCount"], 3, "{bobs}");
    assert_eq!(bobs["alice"]["followers"]["totalCount"], 0, "{bobs}");
    assert_eq!(bobs["dave"]["followers"]["totalCount"], 0, "{bobs}");
    assert_eq!(bobs["dawn"]["endorsementCount"], 0, "{bobs}");
    assert_eq!(bobs["dawn"]["remixes"]["totalCount"], 0, "{bobs}");
    assert_eq!(counts(None), bobs);
    // Its owner sees all of it; so does Alice, whom it admitted.
    for token in [&carol, &alice] {
        let theirs = counts(Some(token));
        assert_eq!(theirs["node"]["memberCount"], 4, "{theirs}");
        assert_eq!(theirs["alice"]["followers"]["totalCount"], 1, "{theirs}");
        assert_eq!(theirs["dawn"]["endorsementCount"], 1, "{theirs}");
        assert_eq!(theirs["dawn"]["remixes"]["totalCount"], 1, "{theirs}");
        let seen = server.gql(
            "{ mask(handle: \"quiet_lotus\") { displayName bio followers(first: 5) { edges { node { handle } } } works(first: 5) { totalCount } } }",
            json!({}),
            Some(token),
        );
        assert_eq!(seen["mask"]["displayName"], "Lotus in the dark", "{seen}");
        assert_eq!(seen["mask"]["followers"]["edges"][0]["node"]["handle"], "alice_pub", "{seen}");
        assert_eq!(seen["mask"]["works"]["totalCount"], 2, "{seen}");
    }

    // Revoked, Alice no longer sees it, and her follow is gone.
    let revoke =
        "mutation($as: ID, $m: ID!) { revokeViewer(input: {as: $as, mask: $m}) { userErrors { field message code } } }";
    ok(&server, &carol, revoke, json!({"as": l, "m": alice_pub}));
    let gone = server.gql("{ mask(handle: \"quiet_lotus\") { handle } }", json!({}), Some(&alice));
    assert_eq!(gone["mask"], Value::Null, "{gone}");
    let followers =
        server.gql("{ mask(handle: \"quiet_lotus\") { followers(first: 5) { totalCount } } }", json!({}), Some(&carol));
    assert_eq!(followers["mask"]["followers"]["totalCount"], 0, "{followers}");
    let again = server.gql(FOLLOW, json!({"m": lotus}), Some(&alice));
    assert_eq!(again["follow"]["userErrors"][0]["code"], "NOT_FOUND", "{again}");

    // Live: Bob watches the world. The private mask leaves it, then Dave publishes; Bob hears
    // of Dave's work and of nothing before it.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let activity = "subscription($w: ID!) { worldActivity(world: $w) { kind mask { handle } work { title } } }";
        let mut socket = ws::watch(&server.ws_url("/graphql/ws"), &bob, activity, json!({"w": world})).await;
        let leave = "mutation($as: ID, $w: ID!) { leaveWorld(input: {as: $as, world: $w}) { userErrors { message } } }";
        ok(&server, &carol, leave, json!({"as": l, "w": world}));
        ok(
            &server,
            &dave,
            "mutation($w: ID!) { publishWork(input: {world: $w, title: \"Noon at Khan el-Khalili\"}) { userErrors { message } } }",
            json!({"w": world}),
        );
        let first = ws::next(&mut socket, std::time::Duration::from_secs(30)).await.expect("an activity");
        let activity = &first["payload"]["data"]["worldActivity"];
        assert_eq!(activity["kind"], "PUBLISHED", "{first}");
        assert_eq!(activity["work"]["title"], "Noon at Khan el-Khalili", "{first}");
    });
}

/// The console's cluster view (`clusterMap`, `Cluster.graph`) draws communities whole, with
/// the follows among their members. A private mask that sits in a community — its owner sees
/// it there — is drawn for nobody else: not as a member, not in a member count, not in a tie
/// between communities. Written as the attack: Bob draws every community and looks for it.
#[test]
fn the_cluster_view_draws_no_private_mask_for_those_it_did_not_admit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(&data, false, &ARGS);
    let rate = "mutation($as: ID, $m: ID!) { rate(input: {as: $as, mask: $m, rating: 9}) { userErrors { message } } }";
    let approve = "mutation($as: ID, $m: ID!) { approveViewer(input: {as: $as, mask: $m}) { userErrors { message } } }";
    // Two tight circles of public masks, one tie between them.
    let mut circles: Vec<Vec<(String, String)>> = Vec::new();
    for circle in ["nile", "delta"] {
        let mut members = Vec::new();
        for i in 0..3 {
            members.push(server.user_with_mask(&format!("{circle}{i}"), &format!("{circle}_{i}"), "PUBLIC"));
        }
        for (token, mine) in &members {
            for (_, other) in members.iter().filter(|(_, m)| m != mine) {
                ok(&server, token, FOLLOW, json!({"m": other}));
                ok(&server, token, rate, json!({"m": other}));
            }
        }
        circles.push(members);
    }
    ok(&server, &circles[0][0].0, FOLLOW, json!({"m": circles[1][0].1}));
    let (bob, _) = server.user_with_mask("bob", "bob_pub", "PUBLIC");
    // Carol's private mask lives in the first circle: it follows and rates all three, and
    // admits them; they follow it back.
    let (carol, _) = server.user_with_mask("carol", "carol_pub", "PUBLIC");
    let lotus = server.create_mask(&carol, "quiet_lotus", "PRIVATE");
    let l = Some(lotus.as_str());
    for (token, mask) in &circles[0] {
        ok(&server, &carol, approve, json!({"as": l, "m": mask}));
        ok(&server, &carol, FOLLOW, json!({"as": l, "m": mask}));
        ok(&server, &carol, rate, json!({"as": l, "m": mask}));
        ok(&server, token, FOLLOW, json!({"m": lotus}));
    }
    // And it follows the second circle too: a tie between the communities that is its alone.
    let follow_with_seq = FOLLOW.replace("userErrors", "seq userErrors");
    let mut last = 0;
    for (_, mask) in &circles[1] {
        last = ok(&server, &carol, &follow_with_seq, json!({"as": l, "m": mask}))["seq"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    }
    // Restart: one epoch over the whole story.
    assert!(server.terminate().success());
    let server = Server::start_in(&data, false, &ARGS);
    settle(&server, last, || true);

    let drawn = "{ clusterMap(first: 200) { clusters { id size graph(first: 500) { total members { mask { id handle } } ties { source target } } } ties { source target weight } } }";
    let owners = server.gql(drawn, json!({}), Some(&carol));
    assert!(
        owners.to_string().contains("quiet_lotus"),
        "the private mask is drawn in no community, so this proves nothing: {owners}"
    );
    let publics = |map: &Value| -> Vec<Value> {
        // The owner's map with the private mask taken out: what everyone else must get.
        map["clusterMap"]["ties"].as_array().unwrap().clone()
    };
    for (who, token) in [("bob", Some(bob.as_str())), ("nobody", None)] {
        let map = server.gql(drawn, json!({}), token);
        let text = map.to_string();
        assert!(
            !text.contains("quiet_lotus") && !text.contains(lotus.as_str()),
            "as {who}, the cluster view shows it: {text}"
        );
        for c in map["clusterMap"]["clusters"].as_array().unwrap() {
            assert_eq!(c["size"], c["graph"]["total"], "as {who}: {c}");
            let members = c["graph"]["members"].as_array().unwrap().len();
            assert_eq!(c["size"], json!(members), "as {who}: {c}");
        }
        // Ties between communities count only masks everyone sees: the same for the owner, and
        // exactly the follows anyone can read off the members' public `following` lists.
        assert_eq!(publics(&map), publics(&owners), "as {who}");
        let clusters = map["clusterMap"]["clusters"].as_array().unwrap();
        let community_of = |handle: &str| {
            clusters
                .iter()
                .position(|c| c["graph"]["members"].as_array().unwrap().iter().any(|m| m["mask"]["handle"] == handle))
        };
        let mut expected = std::collections::BTreeMap::new();
        for (a, c) in clusters.iter().enumerate() {
            for m in c["graph"]["members"].as_array().unwrap() {
                let following = server.gql(
                    "query($h: String!) { mask(handle: $h) { following(first: 50) { nodes { handle } } } }",
                    json!({"h": m["mask"]["handle"]}),
                    token,
                );
                for f in following["mask"]["following"]["nodes"].as_array().unwrap() {
                    if let Some(b) = community_of(f["handle"].as_str().unwrap()).filter(|&b| b != a) {
                        *expected.entry((a.min(b), a.max(b))).or_insert(0) += 1;
                    }
                }
            }
        }
        let expected: Vec<Value> =
            expected.into_iter().map(|((a, b), w)| json!({"source": a, "target": b, "weight": w})).collect();
        assert_eq!(publics(&map), expected, "as {who}, the ties count follows nobody can see");
    }
}
