//! The engine end to end on every backend: the rules through the write path, group commit,
//! subscriptions, privacy of ownership, and restart.

use crate::support::{Backend, open, person, second_mask};
use graph_engine::Error;
use schema::{Actor, Command, EdgeKind, MaskKind, Rejection};

fn rejected(result: graph_engine::Result<graph_engine::Receipt>) -> Rejection {
    match result {
        Err(Error::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

crate::on_every_backend!(rules_hold_through_the_write_path, concurrent_writes_are_group_committed_and_decided_in_order);

async fn rules_hold_through_the_write_path(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = backend.config("rules", dir.path());
    {
        let engine = open(&config).await;
        let nour = person(&engine, "nour_2ahwa", MaskKind::Creator).await;
        let omar = person(&engine, "omar_7elwa", MaskKind::Public).await;

        // Handles are unique (case-insensitively).
        let user = engine.new_id();
        engine.execute(Command::RegisterUser { user }).await.unwrap();
        let r = rejected(
            engine
                .execute(Command::CreateMask {
                    user,
                    mask: engine.new_id(),
                    kind: MaskKind::Public,
                    handle: "NOUR_2ahwa".into(),
                    display_name: String::new(),
                    bio: String::new(),
                })
                .await,
        );
        assert_eq!(r, Rejection::HandleTaken { handle: "nour_2ahwa".into() }, "{backend:?}");

        // Worlds: found, join, leave.
        let world = engine.new_id();
        engine
            .execute(Command::CreateWorld {
                actor: nour.actor(),
                world,
                name: "جرافيتي وسط البلد".into(),
                description: "Downtown Cairo street art".into(),
                tags: vec!["graffiti".into()],
                rules: None,
            })
            .await
            .unwrap();
        engine.execute(Command::JoinWorld { actor: omar.actor(), world }).await.unwrap();
        assert_eq!(
            rejected(engine.execute(Command::JoinWorld { actor: omar.actor(), world }).await),
            Rejection::AlreadyDone { what: "member of this world" }
        );
        engine.execute(Command::LeaveWorld { actor: omar.actor(), world }).await.unwrap();
        {
            let g = engine.read();
            let w = g.index_of(world).unwrap();
            assert_eq!(g.in_degree(EdgeKind::MemberOf, w), 1, "{backend:?}: only the founder remains");
            assert_eq!(g.in_degree(EdgeKind::Moderates, w), 1);
        }

        // Acting as a mask one does not own looks exactly like acting as one that does not exist.
        let stranger = Actor { user: omar.user, mask: nour.mask };
        let ghost = Actor { user: omar.user, mask: engine.new_id() };
        let a = rejected(engine.execute(Command::Follow { actor: stranger, target: omar.mask }).await);
        let b = rejected(engine.execute(Command::Follow { actor: ghost, target: omar.mask }).await);
        assert!(matches!(a, Rejection::MaskNotFound { .. }) && matches!(b, Rejection::MaskNotFound { .. }));
        assert_eq!(
            a.to_string().replace(&nour.mask.to_string(), "X"),
            b.to_string().replace(&ghost.mask.to_string(), "X")
        );

        // Ratings: range, no self-rating, no rating one's own masks.
        engine.execute(Command::Rate { actor: omar.actor(), target: nour.mask, rating: -3 }).await.unwrap();
        engine.execute(Command::Rate { actor: omar.actor(), target: nour.mask, rating: 9 }).await.unwrap();
        assert!(matches!(
            rejected(engine.execute(Command::Rate { actor: omar.actor(), target: nour.mask, rating: 11 }).await),
            Rejection::InvalidInput { .. }
        ));
        let shadow = second_mask(&engine, omar.user, "omar_shadow", MaskKind::Shadow).await;
        assert_eq!(
            rejected(engine.execute(Command::Rate { actor: omar.actor(), target: shadow, rating: 10 }).await),
            Rejection::OwnMasks { action: "rate" }
        );
        {
            let g = engine.read();
            let (o, n) = (g.index_of(omar.mask).unwrap(), g.index_of(nour.mask).unwrap());
            assert_eq!(g.edge(EdgeKind::Rates, o, n).unwrap().weight, Some(9.0), "a re-rating replaces");
        }

        // Works and remixes: a remix chain never closes a cycle.
        let original = engine.new_id();
        engine
            .execute(Command::PublishWork {
                actor: nour.actor(),
                work: original,
                title: "خط عربي على الحيطة".into(),
                description: String::new(),
                world: Some(world),
                authors: vec![],
                royalty: None,
            })
            .await
            .unwrap();
        let remix = engine.new_id();
        engine
            .execute(Command::Remix {
                actor: omar.actor(),
                work: remix,
                original,
                title: "Mahraganat remix".into(),
                description: String::new(),
                royalty: None,
            })
            .await
            .unwrap();
        assert_eq!(
            rejected(
                engine.execute(Command::DeclareRemix { actor: nour.actor(), work: original, original: remix }).await
            ),
            Rejection::RemixCycle { work: original, original: remix }
        );
        // Endorsing a work of one's own mask is endorsing oneself.
        let r = rejected(
            engine.execute(Command::Endorse { actor: Actor { user: omar.user, mask: shadow }, target: remix }).await,
        );
        assert_eq!(r, Rejection::OwnMasks { action: "endorse" });
        engine.execute(Command::Endorse { actor: nour.actor(), target: remix }).await.unwrap();

        // Edits and hiding: only authors (works), moderators (worlds) and the mask itself; to
        // anyone else the target does not exist.
        let edit = |actor: Actor, target, key: &str, text: &str| Command::Edit {
            actor,
            target,
            fields: vec![(key.to_owned(), text.to_owned())],
        };
        engine.execute(edit(nour.actor(), original, "title", "خط عربي جديد")).await.unwrap();
        assert_eq!(
            rejected(engine.execute(edit(omar.actor(), original, "title", "x")).await),
            Rejection::NotFound { kind: schema::VertexKind::Work, id: original }
        );
        let r = rejected(engine.execute(edit(nour.actor(), original, "owner", "x")).await);
        assert!(matches!(r, Rejection::InvalidInput { ref field, .. } if field == "owner"), "{r:?}");
        let r = rejected(engine.execute(edit(nour.actor(), original, "title", " ")).await);
        assert!(matches!(r, Rejection::InvalidInput { .. }), "{r:?}");
        engine.execute(edit(nour.actor(), nour.mask, "bio", "فنانة")).await.unwrap();
        assert_eq!(
            rejected(engine.execute(edit(nour.actor(), omar.mask, "bio", "x")).await),
            Rejection::MaskNotFound { mask: omar.mask }
        );
        engine.execute(Command::Hide { actor: nour.actor(), target: original, hidden: true }).await.unwrap();
        assert_eq!(
            rejected(engine.execute(Command::Hide { actor: omar.actor(), target: world, hidden: true }).await),
            Rejection::NotFound { kind: schema::VertexKind::World, id: world }
        );
        {
            let g = engine.read();
            let v = g.public_vertex(g.index_of(original).unwrap()).unwrap();
            assert!(v.props.iter().any(|(k, v)| *k == "hidden" && **v == schema::Value::Bool(true)));
            assert!(v.props.iter().any(|(k, v)| *k == "title" && v.as_str() == Some("خط عربي جديد")));
        }

        // Restart: the replayed graph is the live graph.
        let live = engine.read().state_hash();
        let position = engine.read().position();
        engine.shutdown().await;
        let engine = open(&config).await;
        assert_eq!(engine.read().state_hash(), live, "{backend:?}: replay equals live");
        assert_eq!(engine.read().position(), position);
        engine.shutdown().await;
    }
}

async fn concurrent_writes_are_group_committed_and_decided_in_order(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = backend.config("group", dir.path());
    {
        let engine = std::sync::Arc::new(open(&config).await);
        let hub = person(&engine, "hub_mask", MaskKind::Creator).await;
        let mut people = Vec::new();
        for i in 0..40 {
            people.push(person(&engine, &format!("fan_{i}"), MaskKind::Public).await);
        }
        let mut subscription = engine.subscribe();
        let before = engine.writer_stats();
        // Every fan follows the hub twice at once: exactly one of each pair is accepted.
        let mut tasks = Vec::new();
        for p in &people {
            for _ in 0..2 {
                let (engine, actor) = (engine.clone(), p.actor());
                tasks.push(tokio::spawn(
                    async move { engine.execute(Command::Follow { actor, target: hub.mask }).await },
                ));
            }
        }
        let mut accepted = 0;
        let mut seqs = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(receipt) => {
                    accepted += 1;
                    seqs.push(receipt.last_seq);
                }
                Err(Error::Rejected(Rejection::AlreadyDone { .. })) => {}
                Err(e) => panic!("{backend:?}: {e}"),
            }
        }
        assert_eq!(accepted, 40, "{backend:?}");
        seqs.sort();
        seqs.dedup();
        assert_eq!(seqs.len(), 40, "{backend:?}: every accepted command has its own sequence number");
        let after = engine.writer_stats();
        assert!(after.commits - before.commits < 80, "{backend:?}: concurrent writes share commits");
        let hub_index = engine.read().index_of(hub.mask).unwrap();
        assert_eq!(engine.read().in_degree(EdgeKind::Follows, hub_index), 40);
        let mut seen = 0;
        while seen < 40 {
            let batch = subscription.recv().await.unwrap();
            seen += batch.events.len();
        }
        std::sync::Arc::into_inner(engine).unwrap().shutdown().await;
    }
}
