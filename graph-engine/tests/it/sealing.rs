//! The owner link at rest: no stored event ties a mask to its user or holds its personal text
//! in clear; replay needs the key file, verifying the chain does not; erasure shreds the
//! user's key and a replay still gives the live state.

use crate::support::{Backend, open, person, second_mask};
use graph_engine::{Engine, LogReader, Record, Verification};
use schema::{Bulk, Command, EdgeKind, Event, Id, MaskKind};

crate::on_every_backend!(owner_links_are_sealed_and_erasure_shreds_them);

/// Every stored record.
async fn stored(engine: &Engine) -> Vec<Record> {
    let mut all = Vec::new();
    engine
        .log()
        .scan(1, |record| {
            all.push(record);
            Ok(())
        })
        .await
        .unwrap();
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that no stored event shows an owner link or personal text in clear.
async fn nothing_in_clear(engine: &Engine, users: &[Id], secrets: &[&str]) {
    for record in stored(engine).await {
        let (seq, event, payload) = (record.seq, record.event().unwrap(), record.payload);
        let clear_owns = match &event {
            Event::EdgeAdded { kind, .. } | Event::EdgeRemoved { kind, .. } => *kind == EdgeKind::Owns,
            Event::Bulk(Bulk::Edges { kind, .. }) => *kind == EdgeKind::Owns,
            Event::Owned { .. } | Event::Erased(_) => true,
            _ => false,
        };
        assert!(!clear_owns, "event {seq} holds an owner link in clear: {event:?}");
        if let Event::VertexCreated { props, .. } | Event::PropsSet { props, .. } = &event {
            assert!(!props.contains_key("display_name") && !props.contains_key("bio"), "event {seq}: {event:?}");
        }
        for secret in secrets {
            assert!(!contains(&payload, secret.as_bytes()), "event {seq} holds {secret:?} in clear");
        }
        // A user's id appears only in the event that registered it.
        let registers = matches!(event, Event::VertexCreated { kind: schema::VertexKind::User, .. });
        for user in users {
            let varint = postcard::to_stdvec(&user.0).unwrap();
            assert!(registers || !contains(&payload, &varint), "event {seq} names user {user}");
        }
    }
}

async fn owner_links_are_sealed_and_erasure_shreds_them(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = backend.config("sealing", dir.path());
    let engine = open(&config).await;
    let nour = person(&engine, "nour_sealed", MaskKind::Creator).await;
    let shadow = second_mask(&engine, nour.user, "qalam_khafi", MaskKind::Shadow).await;
    let omar = person(&engine, "omar_sealed", MaskKind::Public).await;
    let edit = |actor, target, key: &str, text: &str| Command::Edit {
        actor,
        target,
        fields: vec![(key.to_owned(), text.to_owned())],
    };
    engine.execute(edit(nour.actor(), nour.mask, "bio", "سر نور الخاص")).await.unwrap();
    let work = engine.new_id();
    engine
        .execute(Command::PublishWork {
            actor: nour.actor(),
            work,
            title: "جدارية".into(),
            description: String::new(),
            world: None,
            authors: Vec::new(),
            royalty: None,
        })
        .await
        .unwrap();
    let secrets = ["nour_sealed ✨ عرض", "سر نور الخاص", "رسام جرافيتي من القاهرة"];
    nothing_in_clear(&engine, &[nour.user, omar.user], &secrets).await;
    assert!(engine.read().is_owned_by(shadow, nour.user), "{backend:?}: the live graph knows the link");

    // Replay opens the envelopes with the key file: the same graph.
    let live = engine.read().state_hash();
    engine.shutdown().await;
    let engine = open(&config).await;
    assert_eq!(engine.read().state_hash(), live, "{backend:?}: replay equals live");
    assert!(engine.read().is_owned_by(shadow, nour.user));

    // Erasure: the key is shredded in the erasure's transaction.
    engine
        .execute(Command::EraseAccount { user: nour.user, hide_works: true, handle_cooling_off_ms: 60_000 })
        .await
        .unwrap();
    {
        let g = engine.read();
        for mask in [nour.mask, shadow] {
            let v = g.index_of(mask).unwrap();
            assert!(!g.is_owned_by(mask, nour.user), "{backend:?}: the link is gone");
            assert!(g.erased_until(v).is_some());
            let face = g.public_vertex(v).unwrap();
            assert!(face.props.iter().all(|(k, _)| !matches!(*k, "display_name" | "bio")), "{face:?}");
        }
        let w = g.index_of(work).unwrap();
        assert!(
            g.public_vertex(w).unwrap().props.iter().any(|(k, v)| *k == "hidden" && **v == schema::Value::Bool(true))
        );
        assert!(g.is_owned_by(omar.mask, omar.user), "others keep theirs");
    }
    nothing_in_clear(&engine, &[nour.user, omar.user], &secrets).await;
    // Nothing of Nour's opens any more, even with the server's key file; Omar's still does.
    let mut unopened = 0;
    let mut opened_owns = Vec::new();
    for record in &stored(&engine).await {
        match engine.open_record(record).unwrap() {
            None => unopened += 1,
            Some(Event::Owned { events, .. }) => opened_owns.extend(events.into_iter().filter_map(|e| match e {
                Event::EdgeAdded { kind: EdgeKind::Owns, dst, .. } => Some(dst),
                _ => None,
            })),
            Some(_) => {}
        }
    }
    assert_eq!(unopened, 3, "{backend:?}: Nour's two masks and one edit are sealed for good");
    assert_eq!(opened_owns, vec![omar.mask]);

    // The chain verifies without any key; a replay gives the live state.
    let live = engine.read().state_hash();
    let log = config.open_log().await.unwrap();
    assert!(matches!(graph_engine::log::verify(&log).await.unwrap(), Verification::Intact { .. }));
    log.close().await;
    engine.shutdown().await;
    let engine = open(&config).await;
    assert_eq!(engine.read().state_hash(), live, "{backend:?}: replay after erasure equals live");
    engine.shutdown().await;

    // Replay needs the key file: without it, or with another, it says so.
    let mut elsewhere = config.clone();
    elsewhere.read_only = true;
    elsewhere.key_file = Some(dir.path().join("no-such-keys.json"));
    let e = Engine::open(&elsewhere, &graph_engine::NoProgress).await.err().expect("no key, no replay");
    assert!(e.to_string().contains("key file"), "{e}");
    elsewhere.read_only = false;
    elsewhere.key_file = Some(dir.path().join("other-keys.json"));
    let e = Engine::open(&elsewhere, &graph_engine::NoProgress).await.err().expect("another key, no replay");
    assert!(e.to_string().contains("does not open"), "{e}");
}
