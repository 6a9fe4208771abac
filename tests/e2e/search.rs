//! Discovery end to end: `daira search` over an imported community, and the index following
//! the engine's event stream (new, changed and hidden content).

use crate::run;
use daira::discovery::{self, CatchUp};
use graph_engine::{Engine, EngineConfig, NoProgress};
use schema::{Actor, Command, MaskKind};
use search::{Blend, NoSignals, Request, SearchIndex};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn search_command_over_an_imported_community() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("tiny.jsonl");
    assert!(run(&data, &["fixtures", "generate", "--size", "tiny", "--out", file.to_str().unwrap()]).status.success());
    let out = run(&data, &["import", file.to_str().unwrap(), "--format", "jsonl"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A world's name from the file, searched in its own script: the world is among the hits,
    // named by the id it had in the file.
    let jsonl = std::fs::read_to_string(&file).unwrap();
    let world: serde_json::Value = jsonl
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["vertex"] == "world")
        .unwrap();
    let name = world["props"]["name"].as_str().unwrap();
    let out = run(&data, &["search", name, "--kind", "world", "--json", "--limit", "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hits: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(hits.iter().any(|h| h["id"] == world["id"]), "{name}: {hits:?}");
    for h in &hits {
        assert_eq!(h["kind"], "world");
        assert!(h["title"].is_string() && h["score"].is_number(), "{h}");
        assert_eq!(h.as_object().unwrap().len(), 4, "id, kind, title, score: {h}");
    }

    // No hit is a private or shadow mask, and no user ever appears.
    let hidden: Vec<&str> = jsonl
        .lines()
        .filter(|l| {
            l.contains("\"vertex\":\"user\"") || l.contains("\"kind\":\"shadow\"") || l.contains("\"kind\":\"private\"")
        })
        .map(|l| l.split("\"id\":\"").nth(1).unwrap().split('"').next().unwrap())
        .collect();
    for query in ["street art", "قهوة", "7elwa", "art"] {
        let out = run(&data, &["search", query, "--json", "--limit", "100"]);
        let hits: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        for h in hits {
            assert!(!hidden.contains(&h["id"].as_str().unwrap()), "{query}: {h}");
        }
    }

    // Rebuilt on demand from the log, it answers the same (scores may differ in the last
    // bits: the writer's threads split documents into segments differently).
    let ids = |out: std::process::Output| -> Vec<serde_json::Value> {
        let hits: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        hits.into_iter().map(|h| h["id"].clone()).collect()
    };
    let before = ids(run(&data, &["search", name, "--json"]));
    let index_dir = data.join("search");
    std::fs::remove_dir_all(&index_dir).unwrap();
    let out = run(&data, &["reindex"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("indexed "), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(ids(run(&data, &["search", name, "--json"])), before);

    // Bad input: a clear error and a non-zero exit.
    for (args, message) in [
        (vec!["search", ""], "empty"),
        (vec!["search", "x", "--kind", "listing"], "--kind"),
        (vec!["search", "x", "--limit", "0"], "limit"),
        (vec!["search", "x", "--lang", "fr"], "--lang"),
        (vec!["search", "x", "--world", "nowhere"], "no such world"),
    ] {
        let out = run(&data, &args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    let long = "قهوة ".repeat(2048);
    let out = run(&data, &["search", &long]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("bytes long"));
}

fn find(index: &SearchIndex, text: &str) -> Vec<schema::Id> {
    index.reload().unwrap();
    index.search(&Request::new(text), &NoSignals, &Blend::default()).unwrap().into_iter().map(|h| h.id).collect()
}

/// Waits until `found` holds (polling), returning how long it took; fails after 5 s.
async fn within(what: &str, mut found: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !found() {
        assert!(start.elapsed() < Duration::from_secs(5), "{what}: not seen after 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_the_event_stream() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig::new(dir.path());
    let engine = Arc::new(Engine::open(&config, &NoProgress).await.unwrap());
    let index = Arc::new(discovery::open_index(&discovery::index_dir(dir.path())).unwrap());
    let follower = discovery::follow(engine.clone(), index.clone()).await.unwrap();

    let user = engine.new_id();
    engine.execute(Command::RegisterUser { user }).await.unwrap();
    let mask = engine.new_id();
    let create = |mask, handle: &str, kind| Command::CreateMask {
        user,
        mask,
        kind,
        handle: handle.into(),
        display_name: "نور الشريف".into(),
        bio: "street art".into(),
    };
    engine.execute(create(mask, "nour_art", MaskKind::Creator)).await.unwrap();
    let shadow = engine.new_id();
    engine.execute(create(shadow, "nour_hidden", MaskKind::Shadow)).await.unwrap();
    let actor = Actor { user, mask };
    let world = engine.new_id();
    engine
        .execute(Command::CreateWorld {
            actor,
            world,
            name: "جرافيتي وسط البلد".into(),
            description: "Downtown murals".into(),
            tags: vec!["graffiti".into()],
            rules: None,
        })
        .await
        .unwrap();
    let work = engine.new_id();
    engine
        .execute(Command::PublishWork {
            actor,
            work,
            title: "قهوة الصبح".into(),
            description: "جدارية على حيطة القهوة".into(),
            world: Some(world),
            authors: vec![],
            royalty: None,
        })
        .await
        .unwrap();
    let took = within("a new work", || find(&index, "2ahwa").contains(&work)).await;
    println!("new work searchable after {took:?}");
    assert!(took < Duration::from_secs(1), "searchable after {took:?}");
    assert!(find(&index, "nour").contains(&mask));
    assert!(!find(&index, "nour").contains(&shadow), "shadow masks are never indexed");

    // Changed content: the new title is found, the old one no longer.
    let edit = Command::Edit { actor, target: work, fields: vec![("title".into(), "Mural of the morning".into())] };
    engine.execute(edit).await.unwrap();
    within("an edit", || find(&index, "morning").contains(&work)).await;
    assert!(!find(&index, "الصبح").contains(&work));

    // Hidden content disappears; shown again, it comes back.
    engine.execute(Command::Hide { actor, target: work, hidden: true }).await.unwrap();
    within("hiding", || !find(&index, "morning").contains(&work)).await;
    engine.execute(Command::Hide { actor, target: work, hidden: false }).await.unwrap();
    within("showing again", || find(&index, "morning").contains(&work)).await;
    assert!(follower.last_error().is_none(), "{:?}", follower.last_error());
    follower.stop().await;
    drop(index);

    // Restart: the index is at the log's position; events written while it was closed are
    // caught up from the log, touching only what they changed.
    let index = discovery::open_index(&discovery::index_dir(dir.path())).unwrap();
    assert_eq!(discovery::catch_up(&engine, &index, &NoProgress).await.unwrap(), CatchUp::Fresh);
    engine.execute(Command::Hide { actor, target: world, hidden: true }).await.unwrap();
    assert_eq!(discovery::catch_up(&engine, &index, &NoProgress).await.unwrap(), CatchUp::Incremental { entities: 1 });
    assert!(!find(&index, "جرافيتي").contains(&world));
    assert_eq!(discovery::catch_up(&engine, &index, &NoProgress).await.unwrap(), CatchUp::Fresh);
}

#[test]
fn a_second_opener_reads_while_the_first_writes() {
    let dir = tempfile::tempdir().unwrap();
    let writer = discovery::open_index(dir.path()).unwrap();
    assert!(writer.writable());
    writer.commit(0, &[0; 32]).unwrap();
    let reader = discovery::open_index(dir.path()).unwrap();
    assert!(!reader.writable(), "the writer's lock is held");
    assert!(matches!(
        reader.upsert(&search::Doc {
            id: schema::Id(1),
            external: None,
            kind: search::DocKind::Work,
            world: None,
            title: "x".into(),
            body: String::new(),
        }),
        Err(search::Error::ReadOnly)
    ));
    drop(writer);
    assert!(discovery::open_index(dir.path()).unwrap().writable(), "free again once the writer is gone");
}
