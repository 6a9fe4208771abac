//! Moderation with public reasons, appeals and juries (issue 20, points 5 and 6), over
//! GraphQL: a refusal per rule with its code and the log unchanged; the case log names the
//! action, rule, reason and moderator and never the reporter; a sanction takes privileges
//! away; an appeal draws a jury that excludes the parties' users; the jury's majority
//! overturns; the appeal window closes; a restart serves the same case log.

use crate::server::Server;
use crate::{ok, refused};
use serde_json::{Value, json};
use std::time::Duration;

const MODERATE: &str =
    "mutation($i: ModerateInput!) { moderate(input: $i) { case { id status } seq userErrors { field message code } } }";
const APPEAL: &str = "mutation($i: AppealInput!) { appeal(input: $i) { case { id appeal { level jury { id } } } userErrors { field message code } } }";
const VOTE: &str = "mutation($i: JuryVoteInput!) { juryVote(input: $i) { case { status appeal { verdict votes { verdict reason } } } userErrors { field message code } } }";
const CASE: &str = "query($c: ID!) { case(id: $c) { action rule reason status createdAt target { id } moderator { handle } appeals { level statement jury { handle } seedSeq seedHash votes { juror { handle } verdict reason } verdict } } }";

#[test]
fn moderation_is_public_appealable_and_decided_by_juries() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--rate-per-ip", "0", "--rate-per-token", "0"];
    let server = Server::start_in(&data, false, &args);
    let (amal, amal_pub) = server.user_with_mask("amal", "amal_mod", "PUBLIC");
    let (bilal, b1) = server.user_with_mask("bilal", "bilal_pub", "PUBLIC");
    let b2 = server.create_mask(&bilal, "bilal_alt", "CITIZEN");
    let jurors: Vec<(String, String)> =
        (1..=5).map(|i| server.user_with_mask(&format!("juror{i}"), &format!("juror_{i}"), "PUBLIC")).collect();
    // Any member may sit on juries here (no epoch is needed), and appeals close after 5 s.
    let world = server.gql(
        "mutation { createWorld(input: {name: \"Souq al-Fann\", rules: {jury: {trustPercentile: 0}, appealWindowMs: \"5000\"}}) { world { id } } }",
        json!({}),
        Some(&amal),
    )["createWorld"]["world"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let join = "mutation($m: ID!, $w: ID!) { joinWorld(input: {as: $m, world: $w}) { userErrors { message } } }";
    let members: Vec<(&String, &String)> =
        [(&bilal, &b1), (&bilal, &b2)].into_iter().chain(jurors.iter().map(|(t, m)| (t, m))).collect();
    for (token, mask) in &members {
        let joined = server.gql(join, json!({"m": mask, "w": world}), Some(token));
        assert_eq!(joined["joinWorld"]["userErrors"], json!([]), "{joined}");
    }
    let work = server.gql(
        "mutation($w: ID!, $m: ID!) { publishWork(input: {as: $m, title: \"Cheap copies\", world: $w}) { work { id } } }",
        json!({"w": world, "m": b1}),
        Some(&bilal),
    )["publishWork"]["work"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A report: recorded, and never shown.
    let (j1, j1_mask) = &jurors[0];
    let report = ok(
        &server,
        j1,
        "mutation($i: ReportInput!) { report(input: $i) { ok userErrors { field message code } } }",
        json!({"as": j1_mask, "world": world, "target": b1, "reason": "posts the same link everywhere"}),
    );
    assert_eq!(report["ok"], true);

    // Refusals: no reason; no privilege; HIDE on a mask.
    let action = |target: &str, action: &str, reason: &str| json!({"as": amal_pub, "world": world, "target": target, "action": action, "reason": reason, "rule": "R2: no spam"});
    let e = refused(&server, &amal, MODERATE, action(&b1, "SUSPEND", "  "));
    assert_eq!((e["code"].as_str(), e["field"].clone()), (Some("BAD_USER_INPUT"), json!(["input", "reason"])), "{e}");
    let mut theirs = action(&b1, "SUSPEND", "spam");
    theirs["as"] = json!(j1_mask);
    let e = refused(&server, j1, MODERATE, theirs);
    assert_eq!(e["code"], "FORBIDDEN", "{e}");
    let e = refused(&server, &amal, MODERATE, action(&b1, "HIDE", "spam"));
    assert_eq!(e["field"], json!(["input", "action"]), "{e}");

    // A suspension: public, naming the moderator, never the reporter.
    let case = ok(&server, &amal, MODERATE, action(&b1, "SUSPEND", "the same link in forty threads"))["case"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hidden = ok(&server, &amal, MODERATE, action(&work, "HIDE", "a copy of another's work"))["case"]["id"].clone();
    let log = server.gql(
        "query($w: ID!) { node(id: $w) { ... on World { cases(first: 10) { totalCount nodes { id action rule reason moderator { handle } } } } } }",
        json!({"w": world}),
        None,
    );
    let cases = &log["node"]["cases"];
    assert_eq!(cases["totalCount"], 2, "{log}");
    assert_eq!(cases["nodes"][0]["id"], hidden, "newest first");
    assert_eq!(
        cases["nodes"][1],
        json!({"id": case, "action": "SUSPEND", "rule": "R2: no spam", "reason": "the same link in forty threads", "moderator": {"handle": "amal_mod"}})
    );
    assert!(!log.to_string().contains("juror_1") && !log.to_string().contains(j1_mask.as_str()), "no reporter: {log}");
    let gone = server.gql(
        "query($w: ID!) { node(id: $w) { ... on World { works(first: 5) { totalCount } } } }",
        json!({"w": world}),
        None,
    );
    assert_eq!(gone["node"]["works"]["totalCount"], 0, "the hidden work is gone from the world: {gone}");

    // The sanction takes privileges away, with the reason.
    let privileges =
        "query($m: ID!, $w: ID!) { node(id: $m) { ... on Mask { privileges(world: $w) { name granted reason } } } }";
    let p = server.gql(privileges, json!({"m": b1, "w": world}), Some(&bilal));
    let vote = p["node"]["privileges"].as_array().unwrap().iter().find(|p| p["name"] == "VOTE").unwrap().clone();
    assert_eq!(vote["reason"], "suspended in this world: may not vote", "{p}");

    // Only the target appeals; a jury of 3 is drawn without the moderator or bilal's masks.
    let e = refused(&server, j1, APPEAL, json!({"as": j1_mask, "case": case, "statement": "not me"}));
    assert_eq!(e["code"], "FORBIDDEN", "{e}");
    let appealed = ok(
        &server,
        &bilal,
        APPEAL,
        json!({"as": b1, "case": case, "statement": "I shared my own gallery, once per thread that asked for it"}),
    );
    let jury: Vec<String> = appealed["case"]["appeal"]["jury"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(appealed["case"]["appeal"]["level"], 1);
    assert_eq!(jury.len(), 3);
    for excluded in [&amal_pub, &b1, &b2] {
        assert!(!jury.contains(excluded), "{excluded} may not sit: {jury:?}");
    }
    let e = refused(&server, &bilal, APPEAL, json!({"as": b1, "case": case, "statement": "again"}));
    assert!(e["message"].as_str().unwrap().contains("not decided yet"), "{e}");

    // A non-juror cannot vote; a juror needs a reason; a majority decides.
    let seat = |mask: &String| jurors.iter().find(|(_, m)| m == mask).unwrap();
    let outsider = jurors.iter().find(|(_, m)| !jury.contains(m)).unwrap();
    let e = refused(
        &server,
        &outsider.0,
        VOTE,
        json!({"as": outsider.1, "case": case, "verdict": "OVERTURN", "reason": "x"}),
    );
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (Some("FORBIDDEN"), Some("not permitted: not a juror of this appeal"))
    );
    let (t0, m0) = seat(&jury[0]);
    let e = refused(&server, t0, VOTE, json!({"as": m0, "case": case, "verdict": "OVERTURN", "reason": ""}));
    assert_eq!(e["field"], json!(["input", "reason"]), "{e}");
    let first = ok(
        &server,
        t0,
        VOTE,
        json!({"as": m0, "case": case, "verdict": "OVERTURN", "reason": "the links were requested"}),
    );
    assert_eq!(first["case"]["status"], "IN_FORCE");
    let e =
        refused(&server, t0, VOTE, json!({"as": m0, "case": case, "verdict": "UPHOLD", "reason": "changed my mind"}));
    assert!(e["message"].as_str().unwrap().contains("voted"), "{e}");
    let (t1, m1) = seat(&jury[1]);
    let decided = ok(
        &server,
        t1,
        VOTE,
        json!({"as": m1, "case": case, "verdict": "OVERTURN", "reason": "one link per request is not spam"}),
    );
    assert_eq!(decided["case"]["status"], "OVERTURNED", "{decided}");
    assert_eq!(decided["case"]["appeal"]["verdict"], "OVERTURN");
    let p = server.gql(privileges, json!({"m": b1, "w": world}), Some(&bilal));
    assert!(
        p["node"]["privileges"].as_array().unwrap().iter().find(|p| p["name"] == "VOTE").unwrap()["granted"] == true
    );

    // Removal: the mask cannot come back, and after the window it cannot appeal.
    let removal = ok(
        &server,
        &amal,
        MODERATE,
        action(&b2, "REMOVE_FROM_WORLD", "a second account to dodge the suspension"),
    )["case"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = server.gql(join, json!({"m": b2, "w": world}), Some(&bilal));
    assert!(
        back["joinWorld"]["userErrors"][0]["message"].as_str().unwrap().contains("removed from this world"),
        "{back}"
    );
    std::thread::sleep(Duration::from_millis(5_300));
    let e = refused(&server, &bilal, APPEAL, json!({"as": b2, "case": removal, "statement": "late"}));
    assert!(e["message"].as_str().unwrap().starts_with("the appeal window closed at"), "{e}");

    let before = server.gql(CASE, json!({"c": case}), None);
    assert_eq!(before["case"]["appeals"][0]["votes"].as_array().unwrap().len(), 2, "{before}");
    assert_eq!(before["case"]["appeals"][0]["seedHash"].as_str().map(str::len), Some(64));
    assert!(server.terminate().success());
    let verify = crate::run(&data, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let server = Server::start_in(&data, false, &args);
    assert_eq!(server.gql(CASE, json!({"c": case}), None), before, "a replay serves the same case");
    assert!(server.terminate().success());
}

#[test]
fn the_governance_ai_flags_the_demos_rings_for_moderators() {
    let server = Server::start(true, &["--rate-per-ip", "0", "--rate-per-token", "0"]);
    let query = "{ worlds(first: 20) { nodes { cases(first: 5) { totalCount nodes { status rule reason evidence action moderator { handle } } } } } }";
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let flagged = loop {
        let data = server.gql(query, json!({}), None);
        let cases: Vec<Value> = data["worlds"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| w["cases"]["nodes"].as_array().unwrap().clone())
            .filter(|c| c["status"] == "FLAGGED")
            .collect();
        if !cases.is_empty() {
            break cases;
        }
        assert!(std::time::Instant::now() < deadline, "no case flagged after the first epoch");
        std::thread::sleep(Duration::from_millis(500));
    };
    for case in &flagged {
        assert_eq!(
            (case["action"].clone(), case["moderator"].clone()),
            (Value::Null, Value::Null),
            "it never decides: {case}"
        );
        assert!(!case["evidence"].as_array().unwrap().is_empty(), "{case}");
    }
    assert!(flagged.iter().any(|c| c["rule"].as_str().unwrap().contains("voting ring")), "{flagged:?}");
    assert!(server.terminate().success());
}
