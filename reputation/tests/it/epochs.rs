//! Epochs in the running system: recomputed in the background after enough commits, kept,
//! numbered, stamped with their log position and diffable.

use graph_engine::{Engine, EngineConfig, NoProgress};
use reputation::{Epochs, RecomputePolicy, compute_now, spawn_epochs};
use schema::{Actor, Command, MaskKind};
use std::sync::Arc;
use std::time::Duration;

/// An engine in `dir/data` holding the tiny fixture community generated from `seed`.
async fn tiny_community(dir: &std::path::Path, seed: u64) -> Engine {
    let engine = Engine::open(&EngineConfig::new(dir.join("data")), &NoProgress).await.unwrap();
    let mut bytes = Vec::new();
    fixtures::generate(fixtures::Size::Tiny, seed, &mut bytes).unwrap();
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
    let (batch, _, _) = parsed.into_parts();
    engine.execute(Command::Import(batch)).await.unwrap();
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epochs_follow_the_log_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(tiny_community(dir.path(), 9).await);

    let epochs = Arc::new(Epochs::default());
    let policy = RecomputePolicy { min_events: 1, min_interval: Duration::ZERO, keep: 3 };
    let first = compute_now(&engine, &epochs, &policy).unwrap();
    assert_eq!(first.number, 1);
    assert_eq!(first.position, engine.read().position());
    assert_eq!(first.trust.epoch.log_seq, first.position.seq);
    assert!(!reputation::curators(&engine.read()).is_empty(), "moderators seed trust");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = spawn_epochs(engine.clone(), epochs.clone(), policy, None, stopped);
    let mut published = worker.numbers();
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
    assert!(*published.borrow_and_update() >= 1, "the loop publishes the numbers of its epochs");
    assert!(epochs.numbers().len() <= 3, "at most `keep` epochs are kept");
    let changes = latest.diff(&first, 5);
    assert!(!changes.is_empty(), "the new rating changed someone's trust");
    assert!(changes.iter().any(|c| c.mask == mask || c.mask == target));

    // Recomputing at the same position gives the same scores.
    let again = compute_now(&engine, &epochs, &policy).unwrap();
    assert_eq!(again.trust.trust, latest.trust.trust);
    assert!(again.diff(&latest, 5).is_empty());

    let _ = stop.send(true);
    worker.join().await;
    Arc::into_inner(engine).expect("the worker has let go").shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epochs_outlive_a_restart_and_a_bad_file_is_named_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let engine = tiny_community(dir.path(), 4).await;
    let store = dir.path().join("epochs");
    let policy = RecomputePolicy { min_events: 1, min_interval: Duration::ZERO, keep: 2 };

    let (epochs, skipped) = Epochs::open(&store, policy.keep).unwrap();
    assert!(epochs.numbers().is_empty() && skipped.is_empty());
    for _ in 0..3 {
        compute_now(&engine, &epochs, &policy).unwrap();
    }
    assert_eq!(epochs.numbers(), [2, 3]);
    let files = |store: &std::path::Path| {
        let mut names: Vec<String> =
            std::fs::read_dir(store).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };
    assert_eq!(files(&store), ["epoch-000000000002.bin", "epoch-000000000003.bin"], "only the kept ones stay");

    // Reopened: the same epochs, every score and explanation bitwise the same.
    let (reopened, skipped) = Epochs::open(&store, policy.keep).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(reopened.numbers(), [2, 3]);
    let (before, after) = (epochs.latest().unwrap(), reopened.latest().unwrap());
    assert_eq!(after.position, before.position);
    assert_eq!(after.trust.epoch, before.trust.epoch);
    assert_eq!(after.contribution.epoch, before.contribution.epoch);
    assert!(after.contribution.epoch.params.iter().any(|(k, v)| k == "trust.damping" && v == "0.85"));
    let bits = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&after.trust.trust), bits(&before.trust.trust));
    assert_eq!(bits(&after.contribution.score), bits(&before.contribution.score));
    assert_eq!(after.clusters.community, before.clusters.community);
    assert_eq!(after.alignment.mask_factor, before.alignment.mask_factor);
    let seed = reputation::curators(&engine.read())[0];
    assert_eq!(after.trust.explain(seed, 5), before.trust.explain(seed, 5));
    assert!(after.diff(&before, 5).is_empty());
    // Numbering goes on from the newest kept.
    assert_eq!(compute_now(&engine, &reopened, &policy).unwrap().number, 4);

    // A file changed on disk is named and left out; the others load.
    let newest = store.join("epoch-000000000004.bin");
    let mut damaged = std::fs::read(&newest).unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    std::fs::write(&newest, damaged).unwrap();
    let (third, skipped) = Epochs::open(&store, policy.keep).unwrap();
    assert_eq!(third.numbers(), [3]);
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].contains("epoch-000000000004.bin") && skipped[0].contains("checksum"), "{skipped:?}");

    // An epoch found not to match the log is discarded, file and all.
    third.discard(3).unwrap();
    assert!(third.numbers().is_empty());
    assert!(!store.join("epoch-000000000003.bin").exists());
    engine.shutdown().await;
}
