//! The commands a user runs, and what bad input gets.

use crate::{run, stats, write};

#[test]
fn fixtures_import_stats_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("tiny.jsonl");
    let out = run(&data, &["fixtures", "generate", "--size", "tiny", "--seed", "7", "--out", file.to_str().unwrap()]);
    assert!(out.status.success());
    let again = dir.path().join("again.jsonl");
    run(&data, &["fixtures", "generate", "--size", "tiny", "--seed", "7", "--out", again.to_str().unwrap()]);
    assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(&again).unwrap(), "deterministic for a seed");
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("tiny.jsonl.truth.json")).unwrap()).unwrap();
    assert!(!truth["sybils"].as_array().unwrap().is_empty());

    let out = run(&data, &["import", file.to_str().unwrap(), "--format", "jsonl"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = stats(&data);
    assert_eq!(s["vertices"]["mask"], truth["counts"]["vertices"]["mask"]);
    assert_eq!(s["edges"]["follows"], truth["counts"]["edges"]["follows"]);
    assert_eq!(s["edges"]["owns"], truth["counts"]["vertices"]["mask"]);
    assert!(s["log"]["length"].as_u64().unwrap() > 0);

    let out = run(&data, &["audit", "verify"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("head {}", s["log"]["head"].as_str().unwrap())), "{text}");

    // Importing the same file again collides on ids, whole: nothing changes.
    let out = run(&data, &["import", file.to_str().unwrap(), "--format", "jsonl"]);
    assert!(!out.status.success());
    assert_eq!(stats(&data)["log"], s["log"]);
}

#[test]
fn bad_input_gets_a_clear_error_and_leaves_the_log_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = write(dir.path(), "good.txt", "1 2\n2 3\n");
    assert!(run(&data, &["import", good.to_str().unwrap(), "--format", "snap"]).status.success());
    let before = stats(&data);

    let cases: Vec<(&str, &str, &str, String)> = vec![
        ("malformed.txt", "snap", "1 2\n3\n", "malformed.txt:2: expected 2 fields".into()),
        ("signed.csv", "snap-signed", "1,2,3,100\n4,5,-11,100\n", "signed.csv:2: rating -11 is out of range".into()),
        ("header.csv", "csv", "src,dst,colour\na,b,red\n", "header.csv:1: unknown column \"colour\"".into()),
        (
            "unknown.jsonl",
            "jsonl",
            "{\"edge\":\"follows\",\"src\":\"1\",\"dst\":\"nobody\"}\n",
            "unknown.jsonl:1: unknown id \"nobody\"".into(),
        ),
        (
            "handles.jsonl",
            "jsonl",
            "{\"vertex\":\"mask\",\"id\":\"a\",\"props\":{\"handle\":\"same_h\"}}\n{\"vertex\":\"mask\",\"id\":\"b\",\"props\":{\"handle\":\"same_h\"}}\n",
            "handles.jsonl:2: props.handle: handle \"same_h\" is taken".into(),
        ),
        (
            "cycle.jsonl",
            "jsonl",
            "{\"vertex\":\"work\",\"id\":\"k1\"}\n{\"vertex\":\"work\",\"id\":\"k2\"}\n{\"edge\":\"remix_of\",\"src\":\"k1\",\"dst\":\"k2\"}\n{\"edge\":\"remix_of\",\"src\":\"k2\",\"dst\":\"k1\"}\n",
            "remix cycle".into(),
        ),
        (
            "any.txt",
            "graphml",
            "1 2\n",
            "invalid value 'graphml' for '--format <FORMAT>'\n  [possible values: snap, snap-signed, csv, jsonl]"
                .into(),
        ),
    ];
    for (name, format, text, expected) in cases {
        let path = write(dir.path(), name, text);
        let out = run(&data, &["import", path.to_str().unwrap(), "--format", format]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} must fail");
        assert!(stderr.contains(&expected), "{name}: expected {expected:?} in {stderr:?}");
        assert_eq!(stats(&data), before, "{name} left the store unchanged");
    }
    let missing = run(&data, &["import", dir.path().join("nope.txt").to_str().unwrap(), "--format", "snap"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.txt"));
    assert!(run(&data, &["audit", "verify"]).status.success());
}

#[test]
fn exec_acknowledges_durable_writes_and_rejects_by_rule() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = crate::daira(&data)
        .arg("exec")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut session = crate::crash::Session::new(&mut child);
    let user = session.send("{\"register_user\":{}}").id();
    let mask = session
        .send(&format!("{{\"create_mask\":{{\"user\":\"{user}\",\"kind\":\"creator\",\"handle\":\"sara_3ala2\"}}}}"))
        .id();
    let world = session
        .send(&format!("{{\"create_world\":{{\"user\":\"{user}\",\"mask\":\"{mask}\",\"name\":\"مهرجانات\",\"tags\":[\"music\"]}}}}"))
        .id();
    let again = session
        .send_raw(&format!("{{\"join_world\":{{\"user\":\"{user}\",\"mask\":\"{mask}\",\"world\":\"{world}\"}}}}"));
    assert!(again.starts_with("rejected line=4: already done"), "{again}");
    let bad = session.send_raw("{\"fly\":{}}");
    assert!(bad.starts_with("error line=5: unknown command"), "{bad}");
    // A bad field is named by its path; a field the command does not take is refused.
    let bad = session
        .send_raw(&format!("{{\"create_mask\":{{\"user\":\"{user}\",\"kind\":\"wizard\",\"handle\":\"x_y_z\"}}}}"));
    assert!(bad.starts_with("error line=6: create_mask.kind: \"wizard\""), "{bad}");
    let bad = session.send_raw(&format!(
        "{{\"follow\":{{\"user\":\"{user}\",\"mask\":\"{mask}\",\"target\":\"{mask}\",\"why\":1}}}}"
    ));
    assert!(bad.starts_with("error line=7: follow") && bad.contains("unknown field `why`"), "{bad}");
    let bad = session.send_raw(&format!(
        "{{\"rate\":{{\"user\":\"{user}\",\"mask\":\"{mask}\",\"target\":\"nope\",\"rating\":3}}}}"
    ));
    assert!(bad.starts_with("error line=8: rate.target: \"nope\""), "{bad}");
    drop(session);
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let s = stats(&data);
    assert_eq!(s["vertices"]["world"], 1);
    assert_eq!(s["edges"]["moderates"], 1);
}

#[test]
fn analyze_runs_on_researchers_files_with_their_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("unused");
    let edges = write(
        dir.path(),
        "edges.csv",
        "6,2,4,1289241911.72836\n6,5,2,1289241941\n1,15,-10,1289243140.39223\n2,6,8,1289243140\n",
    );
    let out = dir.path().join("trust.csv");
    let seeds = write(dir.path(), "seeds.txt", "# trusted\n6\n");
    let run_ok = run(
        &data,
        &[
            "analyze",
            "trust",
            "--edges",
            edges.to_str().unwrap(),
            "--format",
            "snap-signed",
            "--seeds",
            seeds.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(run_ok.status.success(), "{}", String::from_utf8_lossy(&run_ok.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,score"));
    let ids: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    for id in ["1", "2", "5", "6", "15"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert!(!data.exists(), "analyze needs no data directory");

    // Seeds absent from the graph are named.
    let bad_seeds = write(dir.path(), "bad.txt", "6\n404\nnobody\n");
    let r = run(
        &data,
        &[
            "analyze",
            "trust",
            "--edges",
            edges.to_str().unwrap(),
            "--format",
            "snap-signed",
            "--seeds",
            bad_seeds.to_str().unwrap(),
        ],
    );
    assert!(!r.status.success());
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("2 seed(s) not in the graph: 404, nobody"), "{stderr}");

    // Without seeds, it says what it falls back to; JSON output keeps ids too.
    let json = dir.path().join("pr.json");
    let r = run(
        &data,
        &[
            "analyze",
            "trust",
            "--edges",
            edges.to_str().unwrap(),
            "--format",
            "snap-signed",
            "--out",
            json.to_str().unwrap(),
        ],
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("uniform pre-trust"));
    let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 5);
    assert!(rows[0]["id"].is_string() && rows[0]["score"].is_number());

    // A malformed file is named by line; an empty one gives an empty result.
    let broken = write(dir.path(), "broken.txt", "1 2\n3\n");
    let r = run(&data, &["analyze", "pagerank", "--edges", broken.to_str().unwrap(), "--format", "snap"]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("broken.txt:2:"));
    let empty = write(dir.path(), "empty.txt", "");
    let r = run(&data, &["analyze", "pagerank", "--edges", empty.to_str().unwrap(), "--format", "snap"]);
    assert!(r.status.success());
    assert_eq!(String::from_utf8_lossy(&r.stdout), "id,score\n");
}

#[test]
fn analyze_clusters_prints_modularity_and_keeps_ids() {
    let dir = tempfile::tempdir().unwrap();
    // Two triangles joined by one edge: two communities.
    let edges = write(dir.path(), "two.txt", "a b\nb c\nc a\nx y\ny z\nz x\nc x\n");
    let out = dir.path().join("c.csv");
    let r = run(
        dir.path(),
        &[
            "analyze",
            "clusters",
            "--edges",
            edges.to_str().unwrap(),
            "--format",
            "snap",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let summary = String::from_utf8_lossy(&r.stdout);
    assert!(summary.contains("2 communities"), "{summary}");
    assert!(summary.contains("modularity 0.357"), "{summary}");
    let rows = std::fs::read_to_string(&out).unwrap();
    let community = |id: &str| {
        rows.lines().find(|l| l.starts_with(&format!("{id},"))).unwrap().split(',').nth(1).unwrap().to_string()
    };
    assert_eq!(community("a"), community("c"));
    assert_ne!(community("a"), community("z"));
}

#[test]
fn one_writer_per_data_directory_and_readers_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = write(dir.path(), "good.txt", "1 2\n");
    let mut writer = crate::daira(&data)
        .arg("exec")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut session = crate::crash::Session::new(&mut writer);
    session.send("{\"register_user\":{}}");
    // A second writer is refused with a reason, not a sequence conflict later.
    let second = run(&data, &["import", good.to_str().unwrap(), "--format", "snap"]);
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another daira process is writing to"), "{stderr}");
    // Readers are welcome while it writes.
    assert_eq!(stats(&data)["vertices"]["user"], 1);
    assert!(run(&data, &["audit", "verify"]).status.success());
    drop(session);
    drop(writer.stdin.take());
    assert!(writer.wait().unwrap().success());
    assert!(run(&data, &["import", good.to_str().unwrap(), "--format", "snap"]).status.success());
}

#[test]
fn analyze_keeps_quoted_csv_ids_whole_and_reports_its_stages() {
    let dir = tempfile::tempdir().unwrap();
    let edges = write(
        dir.path(),
        "people.csv",
        "source,target\n\"Smith, John\",\"O\"\"Brien\"\n\"O\"\"Brien\",\"Smith, John\"\n\"O\"\"Brien\",plain\n",
    );
    for job in ["pagerank", "clusters", "trust"] {
        let out = dir.path().join(format!("{job}.csv"));
        let args =
            ["analyze", job, "--edges", edges.to_str().unwrap(), "--format", "csv", "--out", out.to_str().unwrap()];
        let r = run(dir.path(), &[&args[..], &["--verbose"]].concat());
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(r.status.success(), "{job}: {stderr}");
        assert!(stderr.contains("peak memory (VmHWM):") && stderr.contains("total"), "{job}: {stderr}");
        // The rows read back through a CSV parser give the ids exactly as in the input.
        let text = std::fs::read_to_string(&out).unwrap();
        let mut ids: Vec<String> = Vec::new();
        for line in text.lines().skip(1) {
            let id = if let Some(quoted) = line.strip_prefix('"') {
                let end = quoted.rfind("\",").expect("a closing quote before the value");
                quoted[..end].replace("\"\"", "\"")
            } else {
                line.split(',').next().unwrap().to_string()
            };
            ids.push(id);
        }
        ids.sort();
        assert_eq!(ids, ["O\"Brien", "Smith, John", "plain"], "{job}: {text}");
    }
    // A typo in the job or the format is the command line's error, with the choices.
    let r = run(dir.path(), &["analyze", "pagerenk", "--edges", edges.to_str().unwrap(), "--format", "csv"]);
    assert!(!r.status.success());
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("invalid value 'pagerenk'") && stderr.contains("pagerank"), "{stderr}");
}

#[test]
fn exec_governs_and_the_tally_recounts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = crate::daira(&data)
        .arg("exec")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut session = crate::crash::Session::new(&mut child);
    let mut person = |handle: &str| {
        let user = session.send("{\"register_user\":{}}").id();
        let mask = session
            .send(&format!("{{\"create_mask\":{{\"user\":\"{user}\",\"kind\":\"citizen\",\"handle\":\"{handle}\"}}}}"))
            .id();
        (user, mask)
    };
    let (u1, m1) = person("hoda_council");
    let (u2, m2) = person("karim_council");
    let rules = r#"{"propose":{"role":"Member","trust_percentile":0,"contribution":0.0,"age_days":0},"vote":{"role":"Member","trust_percentile":0,"contribution":0.0,"age_days":0},"report":{"role":"Member","trust_percentile":0,"contribution":0.0,"age_days":0},"moderate":{"role":"Moderator","trust_percentile":0,"contribution":0.0,"age_days":0},"jury":{"role":"Member","trust_percentile":0,"contribution":0.0,"age_days":0},"post":{"role":"Member","trust_percentile":0,"contribution":0.0,"age_days":0},"appeal_window_ms":86400000}"#;
    let world = session
        .send(&format!(
            "{{\"create_world\":{{\"user\":\"{u1}\",\"mask\":\"{m1}\",\"name\":\"Exec council\",\"rules\":{rules}}}}}"
        ))
        .id();
    session.send(&format!("{{\"join_world\":{{\"user\":\"{u2}\",\"mask\":\"{m2}\",\"world\":\"{world}\"}}}}"));
    let closes =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 + 3_600_000;
    // Members may propose under these rules.
    let proposal = session
        .send(&format!(
            "{{\"create_proposal\":{{\"user\":\"{u2}\",\"mask\":\"{m2}\",\"world\":\"{world}\",\"title\":\"Open the archive\",\"options\":[\"yes\",\"no\"],\"method\":\"single\",\"closes_at\":{closes},\"quorum\":0.5}}}}"
        ))
        .id();
    session.send(&format!(
        "{{\"cast_vote\":{{\"user\":\"{u1}\",\"mask\":\"{m1}\",\"proposal\":\"{proposal}\",\"choices\":[0]}}}}"
    ));
    session.send(&format!(
        "{{\"delegate\":{{\"user\":\"{u2}\",\"mask\":\"{m2}\",\"world\":\"{world}\",\"to\":\"{m1}\"}}}}"
    ));
    let again = session.send_raw(&format!(
        "{{\"cast_vote\":{{\"user\":\"{u1}\",\"mask\":\"{m1}\",\"proposal\":\"{proposal}\",\"choices\":[0]}}}}"
    ));
    assert!(again.contains("rejected") && again.contains("already cast"), "{again}");
    let bad = session.send_raw(&format!("{{\"create_proposal\":{{\"user\":\"{u2}\",\"mask\":\"{m2}\",\"world\":\"{world}\",\"title\":\"x\",\"options\":[\"a\",\"b\"],\"method\":\"plurality\",\"closes_at\":{closes}}}}}"));
    assert!(bad.contains("create_proposal.method") && bad.contains("unknown method"), "{bad}");
    let early = session.send_raw(&format!("{{\"close_proposal\":{{\"proposal\":\"{proposal}\"}}}}"));
    assert!(early.contains("rejected") && early.contains("voting closes at"), "{early}");
    drop(session);
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());

    // The recount of an open proposal: the live count, the same bytes twice.
    let tally = || run(&data, &["governance", "tally", &proposal]);
    let (first, second) = (tally(), tally());
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(first.stdout, second.stdout);
    let recount: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(recount["outcome"]["status"], "Open", "{recount}");
    assert_eq!(
        recount["outcome"]["count"]["counts"],
        serde_json::json!([2, 0]),
        "karim counts by delegation: {recount}"
    );
    assert_eq!(recount["outcome"]["delegated_weight"], 1);
    assert_eq!(recount["matches_recorded"], serde_json::Value::Null);
}

#[test]
fn a_council_recomputes_an_epoch_from_the_log_and_an_epoch_from_another_log_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = run(&data, &["demo"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&data, &["audit", "recompute"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for job in ["trust", "contribution", "alignment", "clusters"] {
        assert!(text.contains(&format!("{job}: v1 with the same parameters")), "{job}: {text}");
    }
    assert!(text.contains("chain hash matches") && text.contains("identical"), "{text}");

    let out = run(&data, &["audit", "recompute", "--epoch", "99"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("epoch 99 is not kept"), "{out:?}");

    // The demo's epochs beside another community's log: an epoch that does not come from the
    // log it is kept with is named, and the command fails.
    let other = dir.path().join("other");
    let file = dir.path().join("tiny.jsonl");
    assert!(
        run(&other, &["fixtures", "generate", "--size", "tiny", "--seed", "3", "--out", file.to_str().unwrap()])
            .status
            .success()
    );
    assert!(run(&other, &["import", file.to_str().unwrap(), "--format", "jsonl"]).status.success());
    std::fs::create_dir_all(other.join("epochs")).unwrap();
    for entry in std::fs::read_dir(data.join("epochs")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, other.join("epochs").join(path.file_name().unwrap())).unwrap();
    }
    let out = run(&other, &["audit", "recompute"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("the log differs at the cut"), "{text}");
}
