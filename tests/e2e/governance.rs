//! Governance over GraphQL (issue 20): a world's rules and a mask's privileges with reasons;
//! proposals, ballots, delegation and results; a refusal per rule, each with its code and the
//! log unchanged; one person one vote naming nobody; the server's clock closing proposals; a
//! passed rules proposal taking effect; `daira governance tally` recounting the same bytes;
//! and a restart (a replay) serving the same results.

use crate::server::Server;
use crate::{ok, refused};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

const PROPOSE: &str = "mutation($i: CreateProposalInput!) { createProposal(input: $i) { proposal { id } seq userErrors { field message code } } }";
const VOTE: &str =
    "mutation($i: CastVoteInput!) { castVote(input: $i) { proposal { id } seq userErrors { field message code } } }";
const DELEGATE: &str = "mutation($i: DelegateInput!) { delegate(input: $i) { delegate { handle } seq userErrors { field message code } } }";
const RESULT: &str = "query($p: ID!) { proposal(id: $p) { title options method result { status winner counts rounds { counts eliminated } turnout eligible weight eligibleWeight delegatedWeight participation support quorumMet thresholdMet seq logHash } } }";

/// The proposal's result once the server's clock has closed it (within 10 s).
fn closed(server: &Server, proposal: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let data = server.gql(RESULT, json!({"p": proposal}), None);
        if data["proposal"]["result"]["status"] != "OPEN" {
            return data["proposal"].clone();
        }
        assert!(Instant::now() < deadline, "the clock did not close {proposal}: {data}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn councils_govern_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--rate-per-ip", "0", "--rate-per-token", "0"];
    let server = Server::start_in(&data, false, &args);
    let (amal, amal_pub) = server.user_with_mask("amal", "amal_pub", "PUBLIC");
    let (bilal, b1) = server.user_with_mask("bilal", "bilal_pub", "PUBLIC");
    let b2 = server.create_mask(&bilal, "bilal_citizen", "CITIZEN");
    let b3 = server.create_mask(&bilal, "bilal_night", "SHADOW");
    let (chadi, c1) = server.user_with_mask("chadi", "chadi_pub", "PUBLIC");
    let (dina, d1) = server.user_with_mask("dina", "dina_pub", "PUBLIC");
    let (eman, e1) = server.user_with_mask("eman", "eman_pub", "PUBLIC");

    let world = server.gql(
        "mutation { createWorld(input: {name: \"مجلس الحي\", rules: {jury: {trustPercentile: 60}, appealWindowMs: \"86400000\"}}) { world { id rules { propose { role } jury { role trustPercentile } appealWindowMs } } userErrors { message } } }",
        json!({}),
        Some(&amal),
    )["createWorld"]["world"]
        .clone();
    assert_eq!(world["rules"]["propose"]["role"], "MODERATOR", "{world}");
    assert_eq!(world["rules"]["jury"], json!({"role": "MEMBER", "trustPercentile": 60}));
    assert_eq!(world["rules"]["appealWindowMs"], "86400000");
    let world = world["id"].as_str().unwrap().to_owned();
    for (token, mask) in [(&bilal, &b1), (&bilal, &b2), (&bilal, &b3), (&chadi, &c1), (&dina, &d1), (&eman, &e1)] {
        let joined = server.gql(
            "mutation($m: ID!, $w: ID!) { joinWorld(input: {as: $m, world: $w}) { userErrors { message } } }",
            json!({"m": mask, "w": world}),
            Some(token),
        );
        assert_eq!(joined["joinWorld"]["userErrors"], json!([]), "{joined}");
    }

    // Privileges, with reasons, for the owner only.
    let privileges =
        "query($m: ID!, $w: ID!) { node(id: $m) { ... on Mask { privileges(world: $w) { name granted reason } } } }";
    let mine = server.gql(privileges, json!({"m": b1, "w": world}), Some(&bilal));
    let list = mine["node"]["privileges"].as_array().unwrap().clone();
    let of = |name: &str| list.iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(of("VOTE"), json!({"name": "VOTE", "granted": true, "reason": null}));
    assert_eq!(of("PROPOSE")["reason"], "only this world's moderators may propose");
    assert_eq!(of("JURY")["reason"], "no reputation epoch yet: trust percentile 60 needed to sit on juries");
    let theirs = server.gql(privileges, json!({"m": b1, "w": world}), Some(&chadi));
    assert_eq!(theirs["node"]["privileges"], Value::Null, "nobody else learns a mask's privileges");

    // No privilege: FORBIDDEN, nothing written.
    let closes = |ms: i64| (now_ms() + ms).to_string();
    let yes_no = json!({"world": world, "title": "Move the festival to Alexandria?", "options": ["yes", "no"], "method": "SINGLE", "closesAt": closes(60_000)});
    let e = refused(&server, &bilal, PROPOSE, yes_no.clone());
    assert_eq!(e["code"], "FORBIDDEN", "{e}");
    assert_eq!(e["message"], "not permitted: only this world's moderators may propose");

    // Bad input names the field.
    let e = refused(
        &server,
        &amal,
        PROPOSE,
        json!({"world": world, "title": "x", "options": ["only"], "method": "SINGLE", "closesAt": closes(60_000)}),
    );
    assert_eq!((e["code"].as_str(), e["field"].clone()), (Some("BAD_USER_INPUT"), json!(["input", "options"])), "{e}");
    let e = refused(
        &server,
        &amal,
        PROPOSE,
        json!({"world": world, "title": "x", "options": ["a", "b"], "method": "SINGLE", "closesAt": "soon"}),
    );
    assert_eq!(e["field"], json!(["input", "closesAt"]), "{e}");

    // One person one vote, with a delegation, closing in a few seconds.
    let mut input = yes_no.clone();
    input["onePersonOneVote"] = json!(true);
    input["quorum"] = json!(0.5);
    input["closesAt"] = json!(closes(4_000));
    let p1 = ok(&server, &amal, PROPOSE, input)["proposal"]["id"].as_str().unwrap().to_owned();
    let ballot = |mask: &str, choices: Value| json!({"as": mask, "proposal": p1, "choices": choices});
    ok(&server, &bilal, VOTE, ballot(&b1, json!([0])));
    ok(&server, &bilal, VOTE, ballot(&b2, json!([0])));
    ok(&server, &bilal, VOTE, ballot(&b3, json!([1])));
    ok(&server, &chadi, VOTE, ballot(&c1, json!([0])));
    ok(&server, &amal, VOTE, ballot(&amal_pub, json!([1])));
    ok(&server, &eman, VOTE, ballot(&e1, json!([1])));
    let delegated = ok(&server, &dina, DELEGATE, json!({"as": d1, "world": world, "to": c1}));
    assert_eq!(delegated["delegate"]["handle"], "chadi_pub");

    // A refusal per rule.
    let e = refused(&server, &chadi, VOTE, ballot(&c1, json!([0])));
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (Some("BAD_USER_INPUT"), Some("already done: this ballot is already cast"))
    );
    let e = refused(&server, &chadi, VOTE, ballot(&c1, json!([5])));
    assert_eq!(e["field"], json!(["input", "choices"]), "{e}");
    let e = refused(&server, &chadi, DELEGATE, json!({"as": c1, "world": world, "to": d1}));
    assert_eq!(e["field"], json!(["input", "to"]), "a cycle: {e}");
    assert!(e["message"].as_str().unwrap().contains("cycle"), "{e}");
    let e = refused(&server, &chadi, VOTE, ballot(&amal_pub, json!([0])));
    assert_eq!(
        (e["code"].as_str(), e["field"].clone()),
        (Some("NOT_FOUND"), json!(["input", "as"])),
        "another's mask: {e}"
    );

    // Changing and withdrawing: the latest counts.
    ok(&server, &eman, VOTE, ballot(&e1, json!([0])));
    ok(
        &server,
        &eman,
        "mutation($i: ProposalActionInput!) { withdrawVote(input: $i) { seq userErrors { field message code } } }",
        json!({"as": e1, "proposal": p1}),
    );
    let e = refused(
        &server,
        &eman,
        "mutation($i: ProposalActionInput!) { withdrawVote(input: $i) { seq userErrors { field message code } } }",
        json!({"as": e1, "proposal": p1}),
    );
    assert_eq!(e["message"], "nothing to undo: no ballot to withdraw");
    ok(&server, &eman, VOTE, ballot(&e1, json!([0])));

    let live = server.gql(RESULT, json!({"p": p1}), None)["proposal"]["result"].clone();
    assert_eq!(live["status"], "OPEN");
    // Persons: amal (1), bilal (his latest ballot: 1), chadi (0), dina by delegation (0), eman (0).
    assert_eq!(live["counts"], json!(["3", "2"]), "{live}");
    assert_eq!(live["turnout"], json!(5), "{live}");
    assert_eq!(live["eligible"], Value::Null, "persons are not counted aloud beside masks: {live}");
    assert_eq!(live["delegatedWeight"], "1");
    assert_eq!(live["seq"], Value::Null);

    // Closing early is refused; the server's clock closes it.
    let close =
        "mutation($i: ProposalActionInput!) { closeProposal(input: $i) { seq userErrors { field message code } } }";
    let e = refused(&server, &chadi, close, json!({"proposal": p1}));
    assert!(e["message"].as_str().unwrap().starts_with("voting closes at"), "{e}");
    let done = closed(&server, &p1);
    let result = &done["result"];
    assert_eq!(result["status"], "PASSED", "{done}");
    assert_eq!(result["winner"], 0);
    assert_eq!(result["counts"], json!(["3", "2"]));
    assert_eq!((result["quorumMet"].clone(), result["thresholdMet"].clone()), (json!(true), json!(true)));
    assert_eq!(result["support"], json!(0.6));
    assert!(result["seq"].is_string() && result["logHash"].as_str().is_some_and(|h| h.len() == 64), "{result}");
    // The result names no mask: nothing in it is an id or a handle of bilal's.
    for secret in [&b1, &b2, &b3, &"bilal".to_owned()] {
        assert!(!result.to_string().contains(secret.as_str()), "{result}");
    }
    let e = refused(&server, &chadi, VOTE, ballot(&c1, json!([1])));
    assert_eq!(
        (e["message"].as_str(), e["field"].clone()),
        (Some("voting on this proposal has closed"), json!(["input", "proposal"]))
    );

    // A secret ranked ballot: nothing shows until the close.
    let secret = json!({"world": world, "title": "Which line first?", "options": ["felucca", "tram", "metro"], "method": "RANKED", "secret": true, "closesAt": closes(3_000)});
    let p2 = ok(&server, &amal, PROPOSE, secret)["proposal"]["id"].as_str().unwrap().to_owned();
    for (token, mask, choices) in [
        (&chadi, &c1, json!([2, 1])),
        (&eman, &e1, json!([1, 2])),
        (&amal, &amal_pub, json!([0, 2])),
        (&dina, &d1, json!([2])),
    ] {
        ok(&server, token, VOTE, json!({"as": mask, "proposal": p2, "choices": choices}));
    }
    let hidden = server.gql(RESULT, json!({"p": p2}), None)["proposal"]["result"].clone();
    assert_eq!((hidden["counts"].clone(), hidden["winner"].clone()), (json!([]), Value::Null), "{hidden}");
    assert_eq!(hidden["turnout"], 4);
    let mine = server.gql(
        "query($p: ID!, $m: ID!) { proposal(id: $p) { myBallot(as: $m) { choices } } }",
        json!({"p": p2, "m": c1}),
        Some(&chadi),
    );
    assert_eq!(mine["proposal"]["myBallot"]["choices"], json!([2, 1]), "the voter sees their own ballot");
    let theirs = server.gql(
        "query($p: ID!, $m: ID!) { proposal(id: $p) { myBallot(as: $m) { choices } } }",
        json!({"p": p2, "m": c1}),
        Some(&amal),
    );
    assert_eq!(theirs["proposal"]["myBallot"], Value::Null, "nobody else does");
    let ranked = closed(&server, &p2)["result"].clone();
    // Round 1: felucca 1, tram 1, metro 2; felucca and tram tie for fewest and both go; metro wins.
    assert_eq!(ranked["rounds"][0], json!({"counts": ["1", "1", "2"], "eliminated": [0, 1]}), "{ranked}");
    assert_eq!(ranked["winner"], 2, "{ranked}");

    // A rules proposal: it passes, and members may propose from then on.
    let rules = json!({"world": world, "title": "Let members propose", "options": ["adopt", "reject"], "method": "SINGLE", "closesAt": closes(3_000), "rules": {"propose": {"role": "MEMBER"}}});
    let p3 = ok(&server, &amal, PROPOSE, rules)["proposal"]["id"].as_str().unwrap().to_owned();
    ok(&server, &amal, VOTE, json!({"as": amal_pub, "proposal": p3, "choices": [0]}));
    ok(&server, &chadi, VOTE, json!({"as": c1, "proposal": p3, "choices": [0]}));
    assert_eq!(closed(&server, &p3)["result"]["status"], "PASSED");
    let now = server.gql("query($w: ID!) { node(id: $w) { ... on World { rules { propose { role } } proposals(first: 10) { totalCount nodes { title } } } } }", json!({"w": world}), None);
    assert_eq!(now["node"]["rules"]["propose"]["role"], "MEMBER", "{now}");
    assert_eq!(now["node"]["proposals"]["totalCount"], 3);
    assert_eq!(now["node"]["proposals"]["nodes"][0]["title"], "Let members propose", "newest first");
    let mut input = yes_no.clone();
    input["method"] = json!("APPROVAL");
    ok(&server, &bilal, PROPOSE, input);

    // Discovery finds proposals by their text, in any of the analyzers' languages.
    let find = "query($q: String!) { search(query: $q, kind: PROPOSAL, first: 5) { edges { node { node { ... on Proposal { id title } } } } } }";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hits = server.gql(find, json!({"q": "festival alexandria"}), None);
        let ids: Vec<Value> =
            hits["search"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["node"]["id"].clone()).collect();
        if ids.contains(&json!(p1)) {
            break;
        }
        assert!(Instant::now() < deadline, "the proposal is not found: {hits}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let before = server.gql(RESULT, json!({"p": p1}), None);
    assert!(server.terminate().success());

    // A recount from the log: the same result, the same bytes twice.
    let tally = |id: &str| {
        let out = crate::run(&data, &["governance", "tally", id]);
        assert!(out.status.success(), "tally: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let first = tally(&p1);
    assert_eq!(first, tally(&p1), "a recount gives the same bytes");
    let recount: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(recount["matches_recorded"], true, "{recount}");
    assert_eq!(recount["outcome"]["count"]["counts"], json!([3, 2]));
    assert_eq!(recount["closed"]["log_hash"], before["proposal"]["result"]["logHash"]);
    let bad = crate::run(&data, &["governance", "tally", "not-a-proposal"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("PROPOSAL must be"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let verify = crate::run(&data, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));

    // A restart replays to the same results.
    let server = Server::start_in(&data, false, &args);
    assert_eq!(server.gql(RESULT, json!({"p": p1}), None), before);
    assert!(server.terminate().success());
}

#[test]
fn proposals_are_followed_live() {
    use crate::server::ws;
    let server = Server::start(false, &["--rate-per-ip", "0", "--rate-per-token", "0"]);
    let (amal, amal_pub) = server.user_with_mask("amal", "amal_live", "PUBLIC");
    let (bob, bob_pub) = server.user_with_mask("bob", "bob_live", "PUBLIC");
    let world = server.gql(
        "mutation { createWorld(input: {name: \"Live council\"}) { world { id } } }",
        json!({}),
        Some(&amal),
    )["createWorld"]["world"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.gql(
        "mutation($w: ID!) { joinWorld(input: {world: $w}) { userErrors { message } } }",
        json!({"w": world}),
        Some(&bob),
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let url = server.ws_url("/graphql/ws");
        let mut activity = ws::watch(
            &url,
            &bob,
            "subscription($w: ID!) { worldActivity(world: $w) { kind mask { handle } ballots proposal { title } } }",
            json!({"w": world}),
        )
        .await;
        let input = json!({"world": world, "title": "Night market on Fridays?", "options": ["yes", "no"], "method": "SINGLE", "secret": true, "closesAt": (now_ms() + 60_000).to_string()});
        let proposal = ok(&server, &amal, PROPOSE, input)["proposal"]["id"].as_str().unwrap().to_owned();
        let proposed = ws::next(&mut activity, Duration::from_secs(30)).await.expect("an activity");
        let proposed = &proposed["payload"]["data"]["worldActivity"];
        assert_eq!((proposed["kind"].as_str(), proposed["proposal"]["title"].as_str()), (Some("PROPOSED"), Some("Night market on Fridays?")));
        let mut updates = ws::watch(
            &url,
            &amal,
            "subscription($p: ID!) { proposalUpdates(proposal: $p) { kind seq proposal { result { turnout counts } } } }",
            json!({"p": proposal}),
        )
        .await;
        ok(&server, &bob, VOTE, json!({"as": bob_pub, "proposal": proposal, "choices": [1]}));
        let update = ws::next(&mut updates, Duration::from_secs(30)).await.expect("an update");
        let update = &update["payload"]["data"]["proposalUpdates"];
        assert_eq!(update["kind"], "VOTES_COUNTED", "{update}");
        assert_eq!(update["proposal"]["result"], json!({"turnout": 1, "counts": []}), "a secret ballot's counts wait for the close");
        let voted = ws::next(&mut activity, Duration::from_secs(30)).await.expect("an activity");
        let voted = &voted["payload"]["data"]["worldActivity"];
        assert_eq!(voted["kind"], "VOTED");
        assert_eq!((voted["ballots"].clone(), voted["mask"].clone()), (json!(1), Value::Null), "counted, never named: {voted}");
        let _ = amal_pub;
    });
    assert!(server.terminate().success());
}

#[test]
fn the_demo_governs() {
    let server = Server::start(true, &["--rate-per-ip", "0", "--rate-per-token", "0"]);
    let data = server.gql(
        "{ worlds(first: 12) { nodes { rules { propose { role } } proposals(first: 20) { nodes { method secret result { status } } } cases(first: 10) { nodes { action status appeal { verdict votes { reason } } } } } } }",
        json!({}),
        None,
    );
    let council = data["worlds"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| !w["cases"]["nodes"].as_array().unwrap().is_empty())
        .unwrap_or_else(|| panic!("no world with cases: {data}"))
        .clone();
    assert_eq!(council["rules"]["propose"]["role"], "MEMBER", "rules adopted by a passed proposal: {council}");
    let proposals = council["proposals"]["nodes"].as_array().unwrap();
    for method in ["SINGLE", "APPROVAL", "RANKED", "SCHULZE", "SCORE", "QUADRATIC"] {
        let of =
            |open: bool| proposals.iter().any(|p| p["method"] == method && (p["result"]["status"] == "OPEN") == open);
        assert!(of(true) && of(false), "{method}: an open and a closed proposal: {council}");
    }
    let cases = council["cases"]["nodes"].as_array().unwrap();
    let decided = cases.iter().find(|c| !c["appeal"].is_null()).expect("an appealed case");
    assert_eq!(decided["appeal"]["verdict"], "OVERTURN", "{decided}");
    assert_eq!(decided["status"], "OVERTURNED");
    assert_eq!(decided["appeal"]["votes"].as_array().unwrap().len(), 2);
    assert!(cases.iter().any(|c| c["action"] == "HIDE"), "{cases:?}");
    assert!(server.terminate().success());
}

/// The attack: found a world, let two masks join, open a one-person-one-vote proposal, and
/// read its result before anyone votes. If the result counted the eligible *persons*, "3
/// members, 2 eligible" would say that the two masks share an owner.
#[test]
fn a_one_person_one_vote_result_does_not_tell_which_masks_share_an_owner() {
    let server = Server::start(false, &["--rate-per-ip", "0", "--rate-per-token", "0"]);
    let (eve, _) = server.user_with_mask("eve", "eve_prober", "PUBLIC");
    let (owner, a) = server.user_with_mask("owner", "first_face", "PUBLIC");
    let b = server.create_mask(&owner, "second_face", "CITIZEN");
    let world = server.gql(
        "mutation { createWorld(input: {name: \"Probe\"}) { world { id } } }",
        json!({}),
        Some(&eve),
    )["createWorld"]["world"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for mask in [&a, &b] {
        server.gql(
            "mutation($m: ID!, $w: ID!) { joinWorld(input: {as: $m, world: $w}) { userErrors { message } } }",
            json!({"m": mask, "w": world}),
            Some(&owner),
        );
    }
    let input = json!({"world": world, "title": "Probe", "options": ["a", "b"], "method": "SINGLE", "onePersonOneVote": true, "closesAt": (now_ms() + 60_000).to_string()});
    let p = ok(&server, &eve, PROPOSE, input)["proposal"]["id"].as_str().unwrap().to_owned();
    let seen = server.gql(RESULT, json!({"p": p}), Some(&eve))["proposal"]["result"].clone();
    // With three masks of two users, nothing shown may differ from three masks of three.
    assert_eq!(seen["eligible"], Value::Null, "{seen}");
    assert_eq!(seen["eligibleWeight"], Value::Null, "{seen}");
    assert_eq!(seen["participation"], Value::Null, "{seen}");
    assert!(server.terminate().success());
}
