//! Governance through the one write path: rules and privileges judged by an epoch's
//! reputation, REPUTATION weights snapshotted when a proposal is made, one person one vote,
//! a 1,000-long delegation chain with a direct vote overriding it, cycles refused, secret
//! ballots sealed, a close recorded and recounted, and a replay that gives the same state.

use crate::support::{Backend, Person, open, person, second_mask};
use graph_engine::{Engine, GraphView, LogReader, Reputation};
use schema::governance::{Choice, Gov, Privilege, Status, outcome};
use schema::tally::Method;
use schema::{
    Command, EdgeBatch, EdgeKind, Event, Id, ImportBatch, MaskKind, NewProposal, NewVertex, Rejection, Value,
    VertexKind,
};
use std::collections::HashMap;
use std::sync::Arc;

crate::on_every_backend!(governance_through_the_write_path);

/// An epoch's scores, made up: trust by mask.
struct Scores {
    epoch: u64,
    trust: HashMap<Id, f64>,
}

impl Reputation for Scores {
    fn epoch(&self) -> u64 {
        self.epoch
    }
    fn scores(&self, _v: u32, id: Id) -> Option<(f64, f64)> {
        self.trust.get(&id).map(|&t| (t, t / 2.0))
    }
}

fn proposal(actor: &Person, id: Id, world: Id, method: Method, closes_in_ms: i64) -> NewProposal {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    NewProposal {
        actor: actor.actor(),
        proposal: id,
        world,
        title: "Shall the festival move to Alexandria?".into(),
        body: String::new(),
        options: vec!["yes".into(), "no".into()],
        method,
        opens_at_ms: None,
        closes_at_ms: now + closes_in_ms,
        quorum_bp: 0,
        threshold_bp: 0,
        one_person_one_vote: false,
        reputation_weight: false,
        budget: None,
        secret: false,
        topic: String::new(),
        rules: None,
        curators: None,
    }
}

fn vote(choices: &[u16]) -> Choice {
    Choice { choices: choices.to_vec(), amounts: Vec::new() }
}

async fn refused(engine: &Engine, command: Command) -> Rejection {
    let before = engine.read().position();
    match engine.execute(command).await {
        Err(graph_engine::Error::Rejected(r)) => {
            assert_eq!(engine.read().position(), before, "a refusal leaves the log unchanged");
            r
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Imports `n` users with one public mask each, all members of `world`: masks in order.
async fn members(engine: &Engine, world: Id, n: usize) -> Vec<Person> {
    let ids = engine.new_ids(2 * n);
    let (users, masks) = ids.split_at(n);
    let mut vertices = Vec::with_capacity(2 * n);
    for (i, &u) in users.iter().enumerate() {
        vertices.push(NewVertex {
            id: u,
            kind: VertexKind::User,
            external: format!("u{i}"),
            props: Default::default(),
        });
    }
    for (i, &m) in masks.iter().enumerate() {
        let props = [("kind", "public".to_owned()), ("handle", format!("chain_{i}"))]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::Str(v)))
            .collect();
        vertices.push(NewVertex { id: m, kind: VertexKind::Mask, external: format!("m{i}"), props });
    }
    let mut owns = EdgeBatch::new(EdgeKind::Owns);
    let mut member_of = EdgeBatch::new(EdgeKind::MemberOf);
    for i in 0..n as u32 {
        owns.src.push(i);
        owns.dst.push(n as u32 + i);
        member_of.src.push(n as u32 + i);
        member_of.dst.push(2 * n as u32);
    }
    let batch = ImportBatch { source: "chain".into(), vertices, refs: vec![world], edges: vec![owns, member_of] };
    engine.execute(Command::Import(batch)).await.expect("import");
    users.iter().zip(masks).map(|(&user, &mask)| Person { user, mask }).collect()
}

async fn governance_through_the_write_path(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = backend.config("governance", dir.path());
    let engine = open(&config).await;
    let amal = person(&engine, "amal_council", MaskKind::Public).await;
    let world = engine.new_id();
    let create = Command::CreateWorld {
        actor: amal.actor(),
        world,
        name: "مجلس الحي".into(),
        description: String::new(),
        tags: Vec::new(),
        rules: None,
    };
    engine.execute(create).await.unwrap();
    let bilal = person(&engine, "bilal_one", MaskKind::Public).await;
    let bilal_two = second_mask(&engine, bilal.user, "bilal_two", MaskKind::Citizen).await;
    let bilal_night = second_mask(&engine, bilal.user, "bilal_night", MaskKind::Shadow).await;
    let chadi = person(&engine, "chadi_voter", MaskKind::Public).await;
    let late = person(&engine, "late_joiner", MaskKind::Public).await;
    for mask in [bilal.mask, bilal_two, bilal_night, chadi.mask] {
        let user = if mask == chadi.mask { chadi.user } else { bilal.user };
        engine.execute(Command::JoinWorld { actor: schema::Actor { user, mask }, world }).await.unwrap();
    }

    // Privileges: by default only moderators propose; juries need the median trust, and an epoch.
    let p1 = engine.new_id();
    let r =
        refused(&engine, Command::CreateProposal(Box::new(proposal(&bilal, p1, world, Method::Single, 60_000)))).await;
    assert_eq!(r, Rejection::NotPermitted { reason: "only this world's moderators may propose".into() });
    let jury = |mask: Id| {
        let reputation = engine.reputation();
        let graph = engine.read();
        schema::privilege(&graph_engine::view_with(&graph, reputation.as_deref()), mask, world, Privilege::Jury, 0)
    };
    assert_eq!(jury(chadi.mask), Err("no reputation epoch yet: trust percentile 50 needed to sit on juries".into()));
    let trust = |pairs: &[(Id, f64)]| Arc::new(Scores { epoch: 7, trust: pairs.iter().copied().collect() });
    engine.set_reputation(trust(&[
        (amal.mask, 0.4),
        (bilal.mask, 0.1),
        (bilal_two, 0.2),
        (bilal_night, 0.05),
        (chadi.mask, 0.3),
    ]));
    assert_eq!(jury(chadi.mask), Ok(()), "chadi is above three of five members");
    assert_eq!(jury(bilal_night), Err("trust percentile 0 < 50 needed to sit on juries".into()));

    // A REPUTATION-weighted, one-person-one-vote proposal: weights snapshotted now.
    let mut spec = proposal(&amal, p1, world, Method::Single, 60_000);
    spec.reputation_weight = true;
    spec.one_person_one_vote = true;
    spec.quorum_bp = 5_000;
    engine.execute(Command::CreateProposal(Box::new(spec))).await.unwrap();
    // Trust changes after: the snapshot does not.
    engine.set_reputation(trust(&[(amal.mask, 0.01), (bilal.mask, 0.9), (chadi.mask, 0.01)]));
    let cast = |p: &Person, mask: Id, proposal: Id, choices: &[u16]| Command::CastVote {
        actor: schema::Actor { user: p.user, mask },
        proposal,
        choice: vote(choices),
    };
    engine.execute(cast(&bilal, bilal.mask, p1, &[0])).await.unwrap();
    engine.execute(cast(&bilal, bilal_two, p1, &[0])).await.unwrap();
    engine.execute(cast(&bilal, bilal_night, p1, &[1])).await.unwrap();
    engine.execute(cast(&chadi, chadi.mask, p1, &[0])).await.unwrap();
    engine.execute(cast(&amal, amal.mask, p1, &[1])).await.unwrap();
    let r = refused(&engine, cast(&chadi, chadi.mask, p1, &[0])).await;
    assert_eq!(r, Rejection::AlreadyDone { what: "this ballot is already cast" });
    engine.execute(Command::JoinWorld { actor: late.actor(), world }).await.unwrap();
    let r = refused(&engine, cast(&late, late.mask, p1, &[0])).await;
    assert!(matches!(r, Rejection::NotPermitted { .. }), "joined after the snapshot: {r:?}");
    let r = refused(&engine, cast(&chadi, chadi.mask, p1, &[2])).await;
    assert!(matches!(&r, Rejection::InvalidInput { field, .. } if field == "choices"), "{r:?}");
    {
        let graph = engine.read();
        let o = outcome(&GraphView(&graph), p1, false).unwrap();
        // Weights at the snapshot (max 0.4 = 1,000,000): amal 1,000,000; bilal's largest mask
        // (0.2) 500,000 with his latest ballot (option 1); chadi 750,000. `late` joined after.
        assert_eq!(o.status, Status::Open);
        assert_eq!(o.turnout, 3, "bilal counts once, whichever masks voted");
        assert_eq!(o.eligible, 4, "amal, bilal, chadi, late: persons, not masks");
        assert_eq!(o.count.counts, vec![750_000, 1_500_000]);
        assert_eq!(o.count.winner, Some(1));
        assert_eq!(o.eligible_weight, 2_250_000);
    }

    // A REPUTATION proposal made to open later is weighed by the trust current when it opens.
    let later = engine.new_id();
    let mut deferred = proposal(&amal, later, world, Method::Single, 60_000);
    deferred.reputation_weight = true;
    deferred.opens_at_ms = Some(deferred.closes_at_ms - 60_000 + 1_000);
    engine.execute(Command::CreateProposal(Box::new(deferred))).await.unwrap();
    let r = refused(&engine, Command::OpenProposal { proposal: later }).await;
    assert!(matches!(r, Rejection::NotOpen { .. }), "not open yet: {r:?}");
    engine.set_reputation(trust(&[(amal.mask, 0.1), (bilal.mask, 0.2), (chadi.mask, 0.4), (late.mask, 0.4)]));
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let r = refused(&engine, cast(&chadi, chadi.mask, later, &[0])).await;
    assert!(matches!(&r, Rejection::NotOpen { reason } if reason.contains("snapshotted")), "{r:?}");
    engine.execute(Command::OpenProposal { proposal: later }).await.unwrap();
    assert_eq!(
        refused(&engine, Command::OpenProposal { proposal: later }).await,
        Rejection::AlreadyDone { what: "its weights are fixed" }
    );
    engine.execute(cast(&late, late.mask, later, &[1])).await.unwrap();
    {
        let graph = engine.read();
        let state = &graph.governance().proposals[&later];
        assert_eq!(state.spec.weighting, schema::governance::Weighting::Reputation { epoch: 7 });
        assert_eq!(state.weights[&chadi.mask], 1_000_000, "the trust at opening: chadi and late weigh most");
        assert_eq!(state.weights[&late.mask], 1_000_000, "late had joined by the opening");
        assert_eq!(state.weights[&amal.mask], 250_000);
    }

    // Closing before time is refused; after, the result is recorded and recounts the same.
    let r = refused(&engine, Command::CloseProposal { proposal: p1 }).await;
    assert!(matches!(r, Rejection::NotOpen { .. }), "{r:?}");
    let p2 = engine.new_id();
    let mut secret = proposal(&amal, p2, world, Method::Ranked, 1_500);
    secret.secret = true;
    secret.options = vec!["felucca".into(), "tram".into(), "metro".into()];
    engine.execute(Command::CreateProposal(Box::new(secret))).await.unwrap();
    engine.execute(cast(&chadi, chadi.mask, p2, &[2, 0])).await.unwrap();
    engine.execute(cast(&bilal, bilal.mask, p2, &[0, 2])).await.unwrap();
    engine.execute(cast(&amal, amal.mask, p2, &[0])).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;
    let r = refused(&engine, cast(&bilal, bilal_two, p2, &[1])).await;
    assert_eq!(r, Rejection::NotOpen { reason: "voting on this proposal has closed".into() });
    let closed = engine.execute(Command::CloseProposal { proposal: p2 }).await.unwrap();
    let r = refused(&engine, Command::CloseProposal { proposal: p2 }).await;
    assert_eq!(r, Rejection::AlreadyDone { what: "closed" });
    let recorded = engine.read().governance().proposals[&p2].closed.clone().unwrap();
    assert_eq!(recorded.seq, closed.last_seq);
    assert_eq!(recorded.hash, closed.hash);
    assert_eq!(recorded.outcome.status, Status::Passed);
    assert_eq!(recorded.outcome.count.winner, Some(0), "felucca wins the run-off 2 to 1");
    let before = graph_engine::replay_through(&config, closed.last_seq - 1, &graph_engine::NoProgress).await.unwrap();
    assert_eq!(outcome(&GraphView(&before), p2, true).unwrap(), recorded.outcome, "a recount gives the same result");

    // The secret ballots are sealed: no stored record shows one in clear.
    let mut sealed = 0;
    engine
        .log()
        .scan(1, |record| {
            match record.event()? {
                Event::Gov(Gov::Voted { proposal, .. }) => assert_ne!(proposal, p2, "a secret ballot in clear"),
                Event::Sealed(s) if s.lock == schema::Lock::Server => sealed += 1,
                _ => {}
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(sealed, 3, "three secret ballots, each sealed under the server's key");

    // A 1,000-long delegation chain: m0 → m1 → … → m999, who votes; cycles refused; a direct
    // vote in the middle overrides the chain for everyone before it.
    let chain = members(&engine, world, 1_000).await;
    let delegate =
        |from: &Person, to: Option<Id>| Command::Delegate { actor: from.actor(), world, to, topic: String::new() };
    for window in chain.windows(2).collect::<Vec<_>>().chunks(100) {
        let commits = window.iter().map(|pair| engine.execute(delegate(&pair[0], Some(pair[1].mask))));
        for result in futures_join(commits).await {
            result.unwrap();
        }
    }
    let r = refused(&engine, delegate(&chain[999], Some(chain[0].mask))).await;
    assert!(matches!(&r, Rejection::InvalidInput { field, .. } if field == "to"), "a cycle: {r:?}");
    let p3 = engine.new_id();
    engine
        .execute(Command::CreateProposal(Box::new(proposal(&amal, p3, world, Method::Single, 60_000))))
        .await
        .unwrap();
    engine.execute(cast(&chain[999], chain[999].mask, p3, &[0])).await.unwrap();
    let count = |p: Id| outcome(&GraphView(&engine.read()), p, false).unwrap();
    let o = count(p3);
    assert_eq!(o.count.counts, vec![1_000, 0], "the whole chain counts with its last mask's ballot");
    assert_eq!(o.delegated_weight, 999);
    engine.execute(cast(&chain[500], chain[500].mask, p3, &[1])).await.unwrap();
    let o = count(p3);
    assert_eq!(o.count.counts, vec![499, 501], "m500 votes itself: m0..=m500 follow it");
    assert_eq!(o.delegated_weight, 998);
    engine.execute(delegate(&chain[250], None)).await.unwrap();
    assert_eq!(count(p3).count.counts, vec![499, 250], "m0..=m250 count no more: m250 no longer delegates");

    // The governance AI flags; a moderator acts on the flag, once.
    let flag = engine.new_id();
    let flag_case = Command::FlagCase {
        case: flag,
        world,
        target: chadi.mask,
        rule: "voting ring".into(),
        reason: "the governance AI found: voting ring".into(),
        evidence: vec!["3 masks joined by 3 reciprocal endorsements".into()],
    };
    engine.execute(flag_case).await.unwrap();
    assert_eq!(engine.read().governance().cases[&flag].status, schema::governance::CaseStatus::Flagged);
    let act = |reason: &str| Command::Moderate {
        actor: amal.actor(),
        case: flag,
        world,
        target: chadi.mask,
        action: schema::governance::Action::Limit,
        reason: reason.into(),
        rule: "R1: no rings".into(),
    };
    engine.execute(act("the ring is real: three masks of one circle endorse only each other")).await.unwrap();
    {
        let graph = engine.read();
        let case = &graph.governance().cases[&flag];
        assert_eq!(
            (case.status, case.action, case.moderator),
            (schema::governance::CaseStatus::InForce, Some(schema::governance::Action::Limit), Some(amal.mask))
        );
        assert_eq!(case.evidence.len(), 1, "the AI's evidence stays on the case");
    }
    let r = refused(&engine, act("again")).await;
    assert_eq!(r, Rejection::AlreadyDone { what: "this case has its action" });

    // Replay gives the same state, governance included.
    let hash = engine.read().state_hash();
    let governance = engine.read().governance().clone();
    engine.shutdown().await;
    let engine = open(&config).await;
    assert_eq!(engine.read().state_hash(), hash);
    assert_eq!(engine.read().governance(), &governance);
    assert!(matches!(engine.verify().await.unwrap(), graph_engine::Verification::Intact { .. }));
    engine.shutdown().await;
}

/// Runs futures concurrently (so their commands share group commits).
use std::future::Future;

async fn futures_join<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    // Poll them all together.
    std::future::poll_fn(|cx| {
        let mut all = true;
        for slot in pending.iter_mut() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out.push(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all { std::task::Poll::Ready(std::mem::take(&mut out)) } else { std::task::Poll::Pending }
    })
    .await
}
