//! Conversation in worlds (issue 22): threads and posts over GraphQL — the world's post
//! privilege, replies with their parents, reactions, mentions delivered to the mentioned
//! mask's owner, a new post searchable within a second in each of the analyzers' languages,
//! hiding by the author and removal by a moderator (gone for everyone but the author and the
//! case log), live thread updates, and each refusal with its code and the log unchanged.

use crate::server::{Server, ws};
use crate::{log_seq, ok, refused};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const START: &str = "mutation($i: StartThreadInput!) { startThread(input: $i) { thread { id title } post { id body mentions { handle } } seq userErrors { field message code } } }";
const REPLY: &str = "mutation($i: ReplyInput!) { reply(input: $i) { post { id parent { id } author { handle } } seq userErrors { field message code } } }";
const EDIT: &str = "mutation($i: EditPostInput!) { editPost(input: $i) { post { body editedAt } seq userErrors { field message code } } }";
const HIDE: &str =
    "mutation($i: HidePostInput!) { hidePost(input: $i) { post { hidden } seq userErrors { field message code } } }";
const REACT: &str = "mutation($i: ReactInput!) { react(input: $i) { post { reactions { reaction count } } seq userErrors { field message code } } }";
const THREAD: &str = "query($t: ID!) { node(id: $t) { ... on Thread { title postCount author { handle } world { name } posts(first: 20) { totalCount nodes { id body hidden removed isMine author { handle } parent { id } reactions { reaction count } } } } } }";
const SEARCH: &str = "query($q: String!, $k: SearchKind) { search(query: $q, kind: $k, first: 10) { nodes { title node { ... on Post { id } ... on Thread { id } } } } }";

fn args() -> [&'static str; 4] {
    ["--rate-per-ip", "0", "--rate-per-token", "0"]
}

fn id(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("an id: {value}")).to_owned()
}

/// The ids of `kind` hits for `query` that `token` gets.
fn found(server: &Server, token: Option<&str>, query: &str, kind: &str) -> Vec<String> {
    let data = server.gql(SEARCH, json!({"q": query, "k": kind}), token);
    data["search"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{data}"))
        .iter()
        .map(|n| id(&n["node"]["id"]))
        .collect()
}

/// Polls until `query` finds `want` (as a `kind`), and says how long that took.
fn searchable(server: &Server, query: &str, kind: &str, want: &str) -> Duration {
    let started = Instant::now();
    while !found(server, None, query, kind).iter().any(|h| h == want) {
        assert!(started.elapsed() < Duration::from_secs(10), "{query:?} never found {want}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

fn posts(server: &Server, token: &str, thread: &str) -> Vec<Value> {
    let data = server.gql(THREAD, json!({"t": thread}), Some(token));
    data["node"]["posts"]["nodes"].as_array().unwrap_or_else(|| panic!("{data}")).clone()
}

#[test]
fn threads_replies_reactions_mentions_search_and_moderation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(&data, false, &args());
    let (amal, amal_pub) = server.user_with_mask("amal", "amal_pub", "PUBLIC");
    let (bilal, bilal_pub) = server.user_with_mask("bilal", "bilal_pub", "PUBLIC");
    let (camelia, camelia_pub) = server.user_with_mask("camelia", "camelia_art", "CREATOR");
    let (dina, _) = server.user_with_mask("dina", "dina_out", "PUBLIC");
    let world = server.gql(
        "mutation { createWorld(input: {name: \"Wust el-Balad Walls\"}) { world { id } } }",
        json!({}),
        Some(&amal),
    )["createWorld"]["world"]["id"]
        .clone();
    let world = id(&world);
    for token in [&bilal, &camelia] {
        let joined = server.gql(
            "mutation($w: ID!) { joinWorld(input: {world: $w}) { userErrors { message } } }",
            json!({"w": world}),
            Some(token),
        );
        assert_eq!(joined["joinWorld"]["userErrors"], json!([]), "{joined}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = server.ws_url("/graphql/ws");
    let (mut mentions, mut activity) = runtime.block_on(async {
        let mentions = ws::watch(
            &url,
            &bilal,
            "subscription($m: ID!) { mentions(mask: $m) { post { id body } thread { title } by { handle } } }",
            json!({"m": bilal_pub}),
        )
        .await;
        let activity = ws::watch(
            &url,
            &dina,
            "subscription($w: ID!) { worldActivity(world: $w) { kind mask { handle } thread { title } post { body } } }",
            json!({"w": world}),
        )
        .await;
        (mentions, activity)
    });

    // A thread in Arabic whose first post mentions bilal: the mention reaches his owner.
    let started = ok(
        &server,
        &amal,
        START,
        json!({"world": world, "title": "جرافيتي الحيطة الجديدة", "body": "رسمنا **الحيطة** امبارح قدام المحطة. يا @Bilal_pub تعالى المرة الجاية!"}),
    );
    let (thread, first) = (id(&started["thread"]["id"]), id(&started["post"]["id"]));
    assert_eq!(started["post"]["mentions"], json!([{"handle": "bilal_pub"}]));
    assert_eq!(
        started["post"]["body"], "رسمنا **الحيطة** امبارح قدام المحطة. يا @Bilal_pub تعالى المرة الجاية!",
        "markdown is stored as written"
    );
    runtime.block_on(async {
        let mention = ws::next(&mut mentions, Duration::from_secs(15)).await.expect("the mention arrives");
        let mention = &mention["payload"]["data"]["mentions"];
        assert_eq!(mention["post"]["id"], json!(first), "{mention}");
        assert_eq!(
            (mention["by"]["handle"].as_str(), mention["thread"]["title"].as_str()),
            (Some("amal_pub"), Some("جرافيتي الحيطة الجديدة"))
        );
        let later = server.gql(
            "{ mask(handle: \"bilal_pub\") { mentionedIn(first: 5) { totalCount nodes { id } } } }",
            json!({}),
            Some(&bilal),
        );
        assert_eq!(later["mask"]["mentionedIn"]["nodes"][0]["id"], json!(first), "found after the fact too: {later}");
        let posted = ws::next(&mut activity, Duration::from_secs(15)).await.expect("the world's activity");
        let posted = &posted["payload"]["data"]["worldActivity"];
        assert_eq!(
            (posted["kind"].as_str(), posted["mask"]["handle"].as_str()),
            (Some("POSTED"), Some("amal_pub")),
            "{posted}"
        );
    });

    // Searchable within a second of its commit, in each of the four ways people write.
    let mut waits = vec![searchable(&server, "الحيطة", "POST", &first)];
    waits.push(searchable(&server, "جرافيتي", "THREAD", &thread));
    let arabizi = ok(
        &server,
        &bilal,
        REPLY,
        json!({"to": thread, "body": "ana gai el gom3a isA, el 7eta di gamda"}),
    )["post"]["id"]
        .clone();
    waits.push(searchable(&server, "gamda", "POST", &id(&arabizi)));
    let english = ok(
        &server,
        &camelia,
        REPLY,
        json!({"to": arabizi, "body": "Bring the stencils — we're painting murals all weekend."}),
    )["post"]
        .clone();
    assert_eq!(english["parent"]["id"], arabizi, "a reply to a post names its parent");
    let english = id(&english["id"]);
    waits.push(searchable(&server, "painted mural", "POST", &english));
    let dialect =
        ok(&server, &amal, REPLY, json!({"to": thread, "body": "إحنا عايزين ألوان كتير أوي"}))["post"]["id"].clone();
    waits.push(searchable(&server, "عايزين ألوان", "POST", &id(&dialect)));
    for wait in &waits {
        assert!(*wait <= Duration::from_secs(1), "a new post is searchable within a second: {waits:?}");
    }

    // The thread, in order, with parents; the world's threads by latest activity.
    let order: Vec<Value> = posts(&server, &dina, &thread).iter().map(|p| p["id"].clone()).collect();
    assert_eq!(order, [json!(first), arabizi.clone(), json!(english), dialect.clone()]);
    let second = ok(
        &server,
        &bilal,
        START,
        json!({"world": world, "title": "Spray shops near Downtown?", "body": "Where do you buy cans?"}),
    );
    let threads =
        "query($w: ID!) { node(id: $w) { ... on World { threads(first: 10) { totalCount nodes { title } } } } }";
    let titles = |server: &Server| server.gql(threads, json!({"w": world}), None)["node"]["threads"].clone();
    assert_eq!(titles(&server)["nodes"][0]["title"], "Spray shops near Downtown?");
    ok(&server, &camelia, REPLY, json!({"to": thread, "body": "٣ ألوان بس تكفي"}));
    assert_eq!(titles(&server)["nodes"][0]["title"], "جرافيتي الحيطة الجديدة", "the latest activity first");
    assert_eq!(titles(&server)["totalCount"], 2);

    // Reactions: one per mask, replaced, taken back; never on one's own post.
    ok(&server, &bilal, REACT, json!({"post": first, "reaction": "LOVE"}));
    let reacted = ok(&server, &camelia, REACT, json!({"post": first, "reaction": "LIKE"}));
    assert_eq!(
        reacted["post"]["reactions"],
        json!([{"reaction": "LIKE", "count": 1}, {"reaction": "LOVE", "count": 1}])
    );
    let reacted = ok(&server, &bilal, REACT, json!({"post": first, "reaction": "LIKE"}));
    assert_eq!(reacted["post"]["reactions"], json!([{"reaction": "LIKE", "count": 2}]));
    let reacted = ok(&server, &camelia, REACT, json!({"post": first, "reaction": null}));
    assert_eq!(reacted["post"]["reactions"], json!([{"reaction": "LIKE", "count": 1}]));
    let e = refused(&server, &amal, REACT, json!({"post": first, "reaction": "WOW"}));
    assert_eq!(e["code"], "BAD_USER_INPUT", "{e}");

    // Refusals, each with its code and nothing written.
    let e = refused(&server, &bilal, REPLY, json!({"to": thread, "body": ""}));
    assert_eq!((e["code"].as_str(), e["field"].clone()), (Some("TEXT_EMPTY"), json!(["input", "body"])), "{e}");
    let e = refused(&server, &bilal, REPLY, json!({"to": thread, "body": " \n\t "}));
    assert_eq!(e["code"], "TEXT_EMPTY", "a blank body is empty: {e}");
    let e = refused(&server, &bilal, REPLY, json!({"to": thread, "body": "ن".repeat(4_001)}));
    assert_eq!((e["code"].as_str(), e["field"].clone()), (Some("TEXT_TOO_LONG"), json!(["input", "body"])), "{e}");
    ok(&server, &bilal, REPLY, json!({"to": thread, "body": "ن".repeat(4_000)}));
    let e = refused(&server, &bilal, START, json!({"world": world, "title": "  ", "body": "x"}));
    assert_eq!(e["code"], "TEXT_EMPTY", "{e}");
    let e = refused(&server, &dina, REPLY, json!({"to": thread, "body": "not a member"}));
    assert_eq!(e["code"], "FORBIDDEN", "posting needs the world's post privilege: {e}");
    let e = refused(&server, &dina, START, json!({"world": world, "title": "Hi", "body": "not a member"}));
    assert_eq!(e["code"], "FORBIDDEN", "{e}");
    let e = refused(&server, &camelia, EDIT, json!({"post": first, "body": "not mine"}));
    assert_eq!(e["code"], "NOT_FOUND", "only its writer edits a post: {e}");

    // Live: the thread's updates — an edit, a hide — reach a subscriber.
    let mut updates = runtime.block_on(ws::watch(
        &url,
        &dina,
        "subscription($t: ID!) { threadUpdates(thread: $t) { kind postId post { body } } }",
        json!({"t": thread}),
    ));
    let edited =
        ok(&server, &bilal, EDIT, json!({"post": arabizi, "body": "ana gai el gom3a isA, ma3aya @camelia_art"}));
    assert!(edited["post"]["editedAt"].is_string(), "{edited}");

    // Hidden by its author: gone for everyone else — the thread, node(), search — and still
    // there for the author.
    let hidden = ok(&server, &bilal, HIDE, json!({"post": arabizi}));
    assert_eq!(hidden["post"]["hidden"], true, "the author still sees it");
    runtime.block_on(async {
        let kinds: Vec<String> = [
            ws::next(&mut updates, Duration::from_secs(15)).await.expect("an update"),
            ws::next(&mut updates, Duration::from_secs(15)).await.expect("an update"),
        ]
        .iter()
        .map(|u| {
            let u = &u["payload"]["data"]["threadUpdates"];
            assert_eq!(u["postId"], arabizi, "{u}");
            u["kind"].as_str().unwrap().to_owned()
        })
        .collect();
        assert_eq!(kinds, ["EDITED", "HIDDEN"]);
    });
    let others: Vec<Value> = posts(&server, &dina, &thread).iter().map(|p| p["id"].clone()).collect();
    assert!(!others.contains(&arabizi), "a hidden post is gone for others");
    assert!(posts(&server, &bilal, &thread).iter().any(|p| p["id"] == arabizi && p["hidden"] == true));
    let node = "query($p: ID!) { node(id: $p) { id } }";
    assert_eq!(server.gql(node, json!({"p": arabizi}), Some(&dina))["node"], Value::Null);
    let started = Instant::now();
    while found(&server, None, "gamda", "POST").contains(&id(&arabizi)) {
        assert!(started.elapsed() < Duration::from_secs(10), "a hidden post leaves search");
        std::thread::sleep(Duration::from_millis(50));
    }
    let e = refused(&server, &camelia, REPLY, json!({"to": arabizi, "body": "a reply to a hidden post"}));
    assert_eq!((e["code"].as_str(), e["field"].clone()), (Some("POST_HIDDEN"), json!(["input", "to"])), "{e}");
    let e = refused(&server, &amal, REACT, json!({"post": arabizi, "reaction": "LIKE"}));
    assert_eq!(e["code"], "POST_HIDDEN", "{e}");

    // Removed by a moderator: gone for everyone but its author; the case log shows it.
    let moderate = "mutation($i: ModerateInput!) { moderate(input: $i) { case { id target { ... on Post { id body removed } } } userErrors { field message code } } }";
    let case = ok(
        &server,
        &amal,
        moderate,
        json!({"as": amal_pub, "world": world, "target": english, "action": "HIDE", "reason": "off topic", "rule": "R1"}),
    );
    assert_eq!(case["case"]["target"]["removed"], true, "the case log shows what was removed: {case}");
    assert!(!posts(&server, &dina, &thread).iter().any(|p| p["id"] == json!(english)));
    assert!(posts(&server, &camelia, &thread).iter().any(|p| p["id"] == json!(english) && p["removed"] == true));
    let e = refused(&server, &bilal, REPLY, json!({"to": english, "body": "to a removed post"}));
    assert_eq!(e["code"], "POST_HIDDEN", "{e}");

    // Endorsing a post is trust evidence for its writer (and not one's own).
    let endorse = "mutation($i: EndorseInput!) { endorse(input: $i) { seq userErrors { field message code } } }";
    ok(&server, &camelia, endorse, json!({"target": first}));
    let e = refused(&server, &amal, endorse, json!({"target": first}));
    assert_eq!(e["code"], "BAD_USER_INPUT", "{e}");
    let count =
        server.gql("query($p: ID!) { node(id: $p) { ... on Post { endorsementCount } } }", json!({"p": first}), None);
    assert_eq!(count["node"]["endorsementCount"], 1);

    // The thread hides with its first post.
    ok(&server, &amal, HIDE, json!({"post": first}));
    assert_eq!(server.gql(node, json!({"p": thread}), Some(&dina))["node"], Value::Null);
    assert_eq!(titles(&server)["totalCount"], 1);
    let shown = ok(&server, &amal, HIDE, json!({"post": first, "hidden": false}));
    assert_eq!(shown["post"]["hidden"], false);
    assert_eq!(titles(&server)["totalCount"], 2);
    let _ = (second, camelia_pub, log_seq(&server));

    // A restart serves the same conversation (replayed from the log).
    let before = posts(&server, &bilal, &thread);
    assert!(server.terminate().success());
    let server = Server::start_in(&data, false, &args());
    assert_eq!(posts(&server, &bilal, &thread), before);
    assert!(server.terminate().success());
}

/// The attack: a stranger looks for a private mask's thread and posts, and for a post its
/// author hid, everywhere the API answers — the world's threads, `node`, a thread's posts and
/// counts, search, the world's live activity, a post's mentions and reactions. Nothing of them
/// may reach the stranger; the admitted viewer sees them.
#[test]
fn a_private_masks_posts_and_a_hidden_post_reach_no_stranger() {
    let server = Server::start(false, &args());
    let (amal, amal_pub) = server.user_with_mask("amal", "amal_pub", "PUBLIC");
    let secret = server.create_mask(&amal, "amal_secret", "PRIVATE");
    let (bilal, bilal_pub) = server.user_with_mask("bilal", "bilal_pub", "PUBLIC");
    let (stranger, _) = server.user_with_mask("stranger", "stranger_pub", "PUBLIC");
    let approve = "mutation($as: ID, $m: ID!) { approveViewer(input: {as: $as, mask: $m}) { userErrors { field message code } } }";
    crate::private::ok(&server, &amal, approve, json!({"as": secret, "m": bilal_pub}));
    let world = id(&server.gql(
        "mutation { createWorld(input: {name: \"Bab el-Louq\"}) { world { id } } }",
        json!({}),
        Some(&bilal),
    )["createWorld"]["world"]["id"]);
    let join = "mutation($as: ID, $w: ID!) { joinWorld(input: {as: $as, world: $w}) { userErrors { message } } }";
    for (token, mask) in [(&amal, &secret), (&amal, &amal_pub), (&stranger, &String::new())] {
        let mask = (!mask.is_empty()).then_some(mask);
        crate::private::ok(&server, token, join, json!({"as": mask, "w": world}));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = server.ws_url("/graphql/ws");
    let mut watching = runtime.block_on(ws::watch(
        &url,
        &stranger,
        "subscription($w: ID!) { worldActivity(world: $w) { kind mask { handle } post { body } } }",
        json!({"w": world}),
    ));
    let public = ok(&server, &bilal, START, json!({"world": world, "title": "Open thread", "body": "anyone here?"}));
    let (open, open_post) = (id(&public["thread"]["id"]), id(&public["post"]["id"]));
    let quiet = ok(
        &server,
        &amal,
        START,
        json!({"as": secret, "world": world, "title": "zarkashana nights", "body": "zarkashana plans for @bilal_pub"}),
    );
    let (quiet, quiet_post) = (id(&quiet["thread"]["id"]), id(&quiet["post"]["id"]));
    let reply = ok(&server, &amal, REPLY, json!({"as": secret, "to": open, "body": "qalamounia is the word"}));
    let secret_reply = id(&reply["post"]["id"]);
    ok(&server, &amal, REACT, json!({"as": secret, "post": open_post, "reaction": "LOVE"}));
    let hidden = ok(&server, &amal, REPLY, json!({"as": amal_pub, "to": open, "body": "barqashoun, then gone"}));
    let hidden = id(&hidden["post"]["id"]);
    ok(&server, &amal, HIDE, json!({"as": amal_pub, "post": hidden}));
    // A last public post, so the stranger's stream has something after the private ones.
    ok(&server, &bilal, REPLY, json!({"to": open, "body": "the end"}));

    let threads = "query($w: ID!) { node(id: $w) { ... on World { threads(first: 10) { totalCount nodes { id title author { handle } } } } } }";
    let seen = server.gql(threads, json!({"w": world}), Some(&stranger));
    assert_eq!(seen["node"]["threads"]["totalCount"], 1, "the private mask's thread is not there: {seen}");
    let admitted = server.gql(threads, json!({"w": world}), Some(&bilal));
    assert_eq!(admitted["node"]["threads"]["totalCount"], 2, "the admitted viewer sees it: {admitted}");
    let node = "query($p: ID!) { node(id: $p) { id } }";
    for item in [&quiet, &quiet_post, &secret_reply, &hidden] {
        assert_eq!(server.gql(node, json!({"p": item}), Some(&stranger))["node"], Value::Null, "{item}");
        assert_eq!(server.gql(node, json!({"p": item}), None)["node"], Value::Null, "{item}");
    }
    let thread = server.gql(
        "query($t: ID!) { node(id: $t) { ... on Thread { postCount posts(first: 20) { totalCount nodes { id body reactions { reaction count } } } } } }",
        json!({"t": open}),
        Some(&stranger),
    );
    let text = thread.to_string();
    for word in ["qalamounia", "barqashoun", "LOVE"] {
        assert!(!text.contains(word), "{word} reached the stranger: {text}");
    }
    assert_eq!(thread["node"]["postCount"], 2, "{thread}");
    assert_eq!(thread["node"]["posts"]["totalCount"], 2, "{thread}");
    let mentions = server.gql(
        "query($p: ID!) { node(id: $p) { ... on Post { mentions { handle } } } }",
        json!({"p": quiet_post}),
        Some(&bilal),
    );
    assert_eq!(mentions["node"]["mentions"], json!([{"handle": "bilal_pub"}]), "{mentions}");
    // Search: the index has caught up once the last public post is found.
    searchable(
        &server,
        "the end",
        "POST",
        &id(&server.gql(
            "query($t: ID!) { node(id: $t) { ... on Thread { posts(last: 1) { nodes { id } } } } }",
            json!({"t": open}),
            Some(&stranger),
        )["node"]["posts"]["nodes"][0]["id"]),
    );
    for word in ["zarkashana", "qalamounia", "barqashoun"] {
        for token in [Some(stranger.as_str()), None] {
            let hits = server.gql(
                "query($q: String!) { search(query: $q, first: 10) { totalCount } }",
                json!({"q": word}),
                token,
            );
            assert_eq!(hits["search"]["totalCount"], 0, "{word}: {hits}");
        }
    }
    let hits = server.gql(
        "query($q: String!) { search(query: $q, first: 10) { totalCount } }",
        json!({"q": "qalamounia"}),
        Some(&bilal),
    );
    assert_eq!(hits["search"]["totalCount"], 1, "the admitted viewer finds it: {hits}");
    // Live: the stranger's stream says nothing of the private mask or the hidden post.
    runtime.block_on(async {
        let mut got = Vec::new();
        while let Some(frame) = ws::next(&mut watching, Duration::from_secs(3)).await {
            got.push(frame["payload"]["data"]["worldActivity"]["post"]["body"].clone());
        }
        assert!(got.iter().any(|b| b == "the end"), "{got:?}");
        let text = json!(got).to_string();
        for word in ["zarkashana", "qalamounia"] {
            assert!(!text.contains(word), "{word} reached the stranger live: {text}");
        }
    });
    assert!(server.terminate().success());
}
