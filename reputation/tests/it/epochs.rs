//! Epochs in the running system: recomputed in the background after enough commits, kept,
//! numbered, stamped with their log position and diffable.

use graph_engine::{Engine, EngineConfig, NoProgress};
use reputation::{Epochs, RecomputePolicy, compute_now, spawn_recompute};
use schema::{Actor, Command, MaskKind};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epochs_follow_the_log_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(&EngineConfig::new(dir.path().join("data")), &NoProgress).await.unwrap());
    let mut bytes = Vec::new();
    fixtures::generate(fixtures::Size::Tiny, 9, &mut bytes).unwrap();
    let parsed = {
        let g = engine.read();
        graph_engine::import::parse_bytes(
            "tiny.jsonl",
            &bytes,
            graph_engine::import::Format::Jsonl,
            &g,
            &|n| engine.new_ids(n),
            &NoProgress,
        )
        .unwrap()
    };
    engine.execute(Command::Import(parsed.batch)).await.unwrap();

    let epochs = Arc::new(Epochs::default());
    let policy = RecomputePolicy { min_events: 1, min_interval: Duration::ZERO, keep: 3 };
    let first = compute_now(&engine, &epochs, &policy).unwrap();
    assert_eq!(first.number, 1);
    assert_eq!(first.position, engine.read().position());
    assert_eq!(first.trust.epoch.log_seq, first.position.seq);
    assert!(!reputation::curators(&engine.read()).is_empty(), "moderators seed trust");

    let worker = spawn_recompute(engine.clone(), epochs.clone(), policy);
    // A new user rates someone: the background job picks it up.
    let user = engine.new_id();
    engine.execute(Command::RegisterUser { user }).await.unwrap();
    let mask = engine.new_id();
    let handle = "newcomer_2ahwa".to_string();
    engine
        .execute(Command::CreateMask {
            user,
            mask,
            kind: MaskKind::Public,
            handle,
            display_name: String::new(),
            bio: String::new(),
        })
        .await
        .unwrap();
    let target = {
        let g = engine.read();
        let seed = reputation::curators(&g)[0];
        g.id_at(seed)
    };
    engine.execute(Command::Rate { actor: Actor { user, mask }, target, rating: 10 }).await.unwrap();
    let position = engine.read().position();
    let mut latest = None;
    for _ in 0..200 {
        if let Some(set) = epochs.latest().filter(|s| s.position == position) {
            latest = Some(set);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let latest = latest.expect("an epoch at the newest log position");
    assert!(latest.number > 1);
    assert!(epochs.numbers().len() <= 3, "at most `keep` epochs are kept");
    let changes = latest.diff(&first, 5);
    assert!(!changes.is_empty(), "the new rating changed someone's trust");
    assert!(changes.iter().any(|c| c.mask == mask || c.mask == target));

    // Recomputing at the same position gives the same scores.
    let again = compute_now(&engine, &epochs, &policy).unwrap();
    assert_eq!(again.trust.trust, latest.trust.trust);
    assert!(again.diff(&latest, 5).is_empty());

    worker.stop();
    Arc::into_inner(engine).expect("the worker has let go").shutdown().await;
}
