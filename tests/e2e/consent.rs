//! Nobody is made a co-author or a collaborator without saying yes (issue 19, point 6).
//! Mallory publishes a work naming Nour's mask as co-author, and asks Nour to collaborate:
//! until Nour accepts, nothing of it shows on Nour's mask, to anyone — not in the work's
//! authors, not in Nour's works, not in the live activity, which names the mask that acted.

use crate::payload;
use crate::server::{Server, ws};
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn co_authors_and_collaborators_are_asked_first() {
    let server = Server::start(false, &["--rate-per-ip", "0", "--rate-per-token", "0"]);
    // Nour's mask is older than Mallory's: a list in creation order would name it first.
    let (nour, nour_pub) = server.user_with_mask("nour", "nour_pub", "PUBLIC");
    let (mallory, mallory_pub) = server.user_with_mask("mallory", "mallory_pub", "PUBLIC");
    let (bob, _) = server.user_with_mask("bob", "bob_pub", "PUBLIC");
    let world = payload(&server.gql(
        "mutation { createWorld(input: {name: \"Downtown walls\"}) { world { id } } }",
        json!({}),
        Some(&mallory),
    ))["world"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let publish = "mutation($w: ID!, $t: String!, $n: ID!, $me: ID!) { publishWork(input: {world: $w, title: $t, authors: [{mask: $n, share: 0.5}, {mask: $me, share: 0.5}]}) { work { id authors(first: 5) { totalCount edges { node { handle } } } } userErrors { field message code } } }";
    let publish_vars = |title: &str| json!({"w": world, "t": title, "n": nour_pub, "me": mallory_pub});

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (spam, activity) = runtime.block_on(async {
        let mut socket = ws::watch(
            &server.ws_url("/graphql/ws"),
            &bob,
            "subscription($w: ID!) { worldActivity(world: $w) { kind mask { handle } work { title } } }",
            json!({"w": world}),
        )
        .await;
        let data = server.gql(publish, publish_vars("Buy followers now"), Some(&mallory));
        assert_eq!(payload(&data)["userErrors"], json!([]), "{data}");
        let message = ws::next(&mut socket, Duration::from_secs(30)).await.expect("an activity");
        (payload(&data)["work"].clone(), message["payload"]["data"]["worldActivity"].clone())
    });
    // The activity names the mask that acted, not the one it named.
    assert_eq!(activity["kind"], "PUBLISHED", "{activity}");
    assert_eq!(activity["mask"]["handle"], "mallory_pub", "{activity}");
    // The work shows its publisher alone, to everyone; Nour's mask shows nothing of it.
    assert_eq!(spam["authors"]["totalCount"], 1, "{spam}");
    assert_eq!(spam["authors"]["edges"][0]["node"]["handle"], "mallory_pub", "{spam}");
    let spam_id = spam["id"].as_str().unwrap().to_owned();
    let nours = |token: Option<&str>| {
        server.gql(
            "{ mask(handle: \"nour_pub\") { works(first: 5) { totalCount } coauthorInvitations(first: 5) { edges { node { share work { title } } } } collaborationRequests(first: 5) { edges { node { handle } } } } }",
            json!({}),
            token,
        )["mask"]
            .clone()
    };
    for token in [Some(bob.as_str()), Some(mallory.as_str()), None] {
        let seen = nours(token);
        assert_eq!(seen["works"]["totalCount"], 0, "{seen}");
        assert_eq!(seen["coauthorInvitations"], Value::Null, "only Nour sees Nour's invitations: {seen}");
        assert_eq!(seen["collaborationRequests"], Value::Null, "{seen}");
    }
    let authors = |id: &str| {
        server.gql(
            "query($w: ID!) { node(id: $w) { ... on Work { authors(first: 5) { edges { node { handle } } } } } }",
            json!({"w": id}),
            Some(&bob),
        )["node"]["authors"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["handle"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    // Nour sees the invitation, and declines it: nothing changes for anyone else.
    let invited = nours(Some(&nour));
    assert_eq!(invited["coauthorInvitations"]["edges"][0]["node"]["work"]["title"], "Buy followers now", "{invited}");
    assert_eq!(invited["coauthorInvitations"]["edges"][0]["node"]["share"], 0.5, "{invited}");
    let answer = "mutation($w: ID!) { ANSWER(input: {work: $w}) { work { id } userErrors { field message code } } }";
    let data = server.gql(&answer.replace("ANSWER", "declineCoauthorship"), json!({"w": spam_id}), Some(&nour));
    assert_eq!(payload(&data)["userErrors"], json!([]), "{data}");
    assert_eq!(nours(Some(&nour))["coauthorInvitations"]["edges"], json!([]));
    assert_eq!(authors(&spam_id), ["mallory_pub"]);
    // Accepting what was never offered is refused.
    let data = server.gql(&answer.replace("ANSWER", "acceptCoauthorship"), json!({"w": spam_id}), Some(&nour));
    assert_eq!(payload(&data)["userErrors"][0]["code"], "BAD_USER_INPUT", "{data}");
    // A real collaboration: Nour accepts, and is shown as co-author from then on.
    let data = server.gql(publish, publish_vars("Tahrir at dusk"), Some(&mallory));
    let dusk = payload(&data)["work"]["id"].as_str().unwrap().to_owned();
    let data = server.gql(&answer.replace("ANSWER", "acceptCoauthorship"), json!({"w": dusk}), Some(&nour));
    assert_eq!(payload(&data)["userErrors"], json!([]), "{data}");
    let mut shown = authors(&dusk);
    shown.sort();
    assert_eq!(shown, ["mallory_pub", "nour_pub"]);
    assert_eq!(nours(Some(&bob))["works"]["totalCount"], 1);

    // Collaboration takes two: Mallory's asking is a request Nour sees, until Nour asks back.
    let collaborate = "mutation($m: ID!) { collaborate(input: {mask: $m}) { userErrors { field message code } } }";
    let data = server.gql(collaborate, json!({"m": nour_pub}), Some(&mallory));
    assert_eq!(payload(&data)["userErrors"], json!([]), "{data}");
    let requests = nours(Some(&nour));
    assert_eq!(requests["collaborationRequests"]["edges"][0]["node"]["handle"], "mallory_pub", "{requests}");
    let data = server.gql(collaborate, json!({"m": nour_pub}), Some(&mallory));
    assert_eq!(payload(&data)["userErrors"][0]["code"], "BAD_USER_INPUT", "asking twice: {data}");
    let data = server.gql(collaborate, json!({"m": mallory_pub}), Some(&nour));
    assert_eq!(payload(&data)["userErrors"], json!([]), "{data}");
    assert_eq!(nours(Some(&nour))["collaborationRequests"]["edges"], json!([]));
    let data = server.gql(collaborate, json!({"m": nour_pub}), Some(&mallory));
    assert!(payload(&data)["userErrors"][0]["message"].as_str().unwrap().contains("collaborating"), "{data}");
}
