//! Trust's seeds are each world's curators as its governance designates them: founding a
//! world makes its founder a moderator, never a seed; a passed proposal designates curators;
//! an imported world without a designation keeps the moderators its data names.

use graph_engine::{Engine, EngineConfig, NoProgress};
use reputation::curators;
use schema::governance::Status;
use schema::tally::Method;
use schema::{Actor, Command, Id, MaskKind, NewProposal};

async fn person(engine: &Engine, handle: &str) -> Actor {
    let user = engine.new_id();
    engine.execute(Command::RegisterUser { user }).await.unwrap();
    let mask = engine.new_id();
    let create = Command::CreateMask {
        user,
        mask,
        kind: MaskKind::Citizen,
        handle: handle.into(),
        display_name: handle.into(),
        bio: String::new(),
    };
    engine.execute(create).await.unwrap();
    Actor { user, mask }
}

fn seeds(engine: &Engine) -> Vec<Id> {
    let graph = engine.read();
    curators(&graph).into_iter().map(|v| graph.id_at(v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governance_designates_the_seeds_not_the_founder() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(&EngineConfig::new(dir.path().join("data")), &NoProgress).await.unwrap();
    let founder = person(&engine, "founder_of_it").await;
    let (a, b) = (person(&engine, "curator_aya").await, person(&engine, "curator_badr").await);
    let world = engine.new_id();
    let create = Command::CreateWorld {
        actor: founder,
        world,
        name: "Seeds".into(),
        description: String::new(),
        tags: Vec::new(),
        rules: None,
    };
    engine.execute(create).await.unwrap();
    for m in [a, b] {
        engine.execute(Command::JoinWorld { actor: m, world }).await.unwrap();
    }
    assert_eq!(seeds(&engine), Vec::<Id>::new(), "founding a world seeds nobody");

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let proposal = engine.new_id();
    let new = NewProposal {
        actor: founder,
        proposal,
        world,
        title: "Designate our curators".into(),
        body: String::new(),
        options: vec!["adopt".into(), "reject".into()],
        method: Method::Single,
        opens_at_ms: None,
        closes_at_ms: now + 1_200,
        quorum_bp: 0,
        threshold_bp: 5_000,
        one_person_one_vote: false,
        reputation_weight: false,
        budget: None,
        secret: false,
        topic: String::new(),
        rules: None,
        curators: Some(vec![a.mask, b.mask]),
    };
    engine.execute(Command::CreateProposal(Box::new(new))).await.unwrap();
    for m in [a, b, founder] {
        let choice = schema::governance::Choice { choices: vec![0], amounts: Vec::new() };
        engine.execute(Command::CastVote { actor: m, proposal, choice }).await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    engine.execute(Command::CloseProposal { proposal }).await.unwrap();
    assert_eq!(engine.read().governance().proposals[&proposal].closed.as_ref().unwrap().outcome.status, Status::Passed);
    let mut expected = vec![a.mask, b.mask];
    expected.sort_unstable_by_key(|m| engine.read().index_of(*m));
    assert_eq!(seeds(&engine), expected, "the designated curators seed trust; the founder does not");

    // A curator who leaves the world stops seeding it.
    engine.execute(Command::LeaveWorld { actor: b, world }).await.unwrap();
    assert_eq!(seeds(&engine), vec![a.mask]);
    engine.shutdown().await;
}
