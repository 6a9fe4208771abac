//! The economy through the one write path: issuance, idempotent and two-phase transfers that
//! never overdraw, linked groups that fail whole, self-dealing refused, royalties split up a
//! five-deep remix chain to the piastre, every escrow path of a contract with balances checked
//! before and after — and a replay that gives the same state.

use crate::support::{Backend, Person, open, person, second_mask};
use graph_engine::{Engine, ledger_key};
use schema::economy::{self, ListingKind, Royalty, Scope, Stage, Status, code};
use schema::governance::{Privilege, Role, Rules};
use schema::ledger::{Refusal, Transfer};
use schema::{Command, Id, MaskKind, NewContract, Rejection};
use std::collections::HashMap;
use std::time::Duration;

crate::on_every_backend!(the_ledger_through_the_write_path, contracts_settle_every_way);

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
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

/// (posted balance, available) in piastres.
fn money(engine: &Engine, mask: Id) -> (i128, i128) {
    let graph = engine.read();
    let a = graph.economy().ledger.accounts.get(&mask).cloned().unwrap_or_default();
    (a.balance(), a.available())
}

async fn issue(engine: &Engine, to: Id, piastres: u64) {
    let id = ledger_key("issue", to, &format!("grant {piastres}"));
    engine.execute(Command::Issue { grants: vec![(id, to, piastres)], reason: "opening grant".into() }).await.unwrap();
}

fn pay(from: &Person, to: Id, key: &str, amount: u64, pending: bool, timeout_ms: i64) -> Command {
    let t = Transfer {
        id: ledger_key("transfer", from.mask, key),
        debit: from.mask,
        credit: to,
        amount,
        code: code::TRANSFER,
        pending,
        timeout_ms,
    };
    Command::Transfer { actor: from.actor(), transfers: vec![t] }
}

async fn the_ledger_through_the_write_path(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = backend.config("ledger", dir.path());
    let engine = open(&config).await;
    let amal = person(&engine, "amal_pays", MaskKind::Public).await;
    let amal_night = second_mask(&engine, amal.user, "amal_night", MaskKind::Shadow).await;
    let bassem = person(&engine, "bassem_paid", MaskKind::Creator).await;
    let chadi = person(&engine, "chadi_third", MaskKind::Public).await;
    issue(&engine, amal.mask, 10_000).await;
    issue(&engine, amal_night, 2_000).await;
    // Issuing again under the same key is a retry: nothing doubles.
    let before = engine.read().position();
    issue(&engine, amal.mask, 10_000).await;
    assert_eq!(engine.read().position(), before);
    assert_eq!(money(&engine, amal.mask), (10_000, 10_000));

    // A transfer, its retry (the first result, nothing new), and its key reused otherwise.
    engine.execute(pay(&amal, bassem.mask, "rent-1", 3_000, false, 0)).await.unwrap();
    let before = engine.read().position();
    engine.execute(pay(&amal, bassem.mask, "rent-1", 3_000, false, 0)).await.unwrap();
    assert_eq!(engine.read().position(), before, "a retry writes nothing");
    let r = refused(&engine, pay(&amal, bassem.mask, "rent-1", 2_999, false, 0)).await;
    assert_eq!(r, Rejection::Refused(Refusal::IdReused { index: 0 }));
    // Another mask's key of the same text is its own.
    issue(&engine, chadi.mask, 5_000).await;
    engine.execute(pay(&chadi, bassem.mask, "rent-1", 1_000, false, 0)).await.unwrap();
    assert_eq!(money(&engine, amal.mask), (7_000, 7_000));
    assert_eq!(money(&engine, bassem.mask), (4_000, 4_000));

    // Never below zero; the payer alone learns the amounts.
    let r = refused(&engine, pay(&amal, bassem.mask, "too-much", 7_001, false, 0)).await;
    assert!(matches!(&r, Rejection::InsufficientFunds { detail } if detail.contains("70.00")), "{r:?}");
    // A user's masks cannot pay each other, and the refusal reaches only that user.
    let r = refused(&engine, pay(&amal, amal_night, "to-myself", 100, false, 0)).await;
    assert_eq!(r, Rejection::OwnMasks { action: "pay" });
    // A shadow mask pays like any other.
    let night = Person { user: amal.user, mask: amal_night };
    engine.execute(pay(&night, chadi.mask, "quiet", 500, false, 0)).await.unwrap();
    assert_eq!(money(&engine, amal_night), (1_500, 1_500));

    // A linked group fails whole.
    let group = vec![
        Transfer {
            id: ledger_key("transfer", amal.mask, "g1"),
            debit: amal.mask,
            credit: bassem.mask,
            amount: 5_000,
            code: code::TRANSFER,
            pending: false,
            timeout_ms: 0,
        },
        Transfer {
            id: ledger_key("transfer", amal.mask, "g2"),
            debit: amal.mask,
            credit: chadi.mask,
            amount: 5_000,
            code: code::TRANSFER,
            pending: false,
            timeout_ms: 0,
        },
    ];
    let r = refused(&engine, Command::Transfer { actor: amal.actor(), transfers: group }).await;
    assert!(matches!(r, Rejection::InsufficientFunds { .. }), "{r:?}");
    assert_eq!(money(&engine, amal.mask), (7_000, 7_000), "nothing of a refused group moved");

    // Two-phase: a reservation holds funds; a partial post moves part and releases the rest.
    engine.execute(pay(&amal, bassem.mask, "hold", 4_000, true, 0)).await.unwrap();
    assert_eq!(money(&engine, amal.mask), (7_000, 3_000));
    refused(&engine, pay(&amal, chadi.mask, "over-hold", 3_001, false, 0)).await;
    let hold = ledger_key("transfer", amal.mask, "hold");
    let r = refused(&engine, Command::Settle { actor: bassem.actor(), id: hold, amount: None, post: true }).await;
    assert!(matches!(r, Rejection::NotPermitted { .. }), "only the payer posts: {r:?}");
    let r = refused(&engine, Command::Settle { actor: chadi.actor(), id: hold, amount: None, post: false }).await;
    assert_eq!(r, Rejection::Missing { what: "pending transfer" }, "a stranger cannot tell it exists");
    engine.execute(Command::Settle { actor: amal.actor(), id: hold, amount: Some(2_500), post: true }).await.unwrap();
    assert_eq!(money(&engine, amal.mask), (4_500, 4_500));
    assert_eq!(money(&engine, bassem.mask), (6_500, 6_500));
    // The payee may void a reservation made to it.
    engine.execute(pay(&amal, bassem.mask, "hold-2", 1_000, true, 0)).await.unwrap();
    let hold_2 = ledger_key("transfer", amal.mask, "hold-2");
    engine.execute(Command::Settle { actor: bassem.actor(), id: hold_2, amount: None, post: false }).await.unwrap();
    assert_eq!(money(&engine, amal.mask), (4_500, 4_500));
    // A timeout voids by the log's clock.
    engine.execute(pay(&amal, bassem.mask, "brief", 1_000, true, 30)).await.unwrap();
    assert_eq!(money(&engine, amal.mask), (4_500, 3_500));
    tokio::time::sleep(Duration::from_millis(60)).await;
    let brief = ledger_key("transfer", amal.mask, "brief");
    let r = refused(&engine, Command::Settle { actor: amal.actor(), id: brief, amount: None, post: true }).await;
    assert!(matches!(r, Rejection::NotOpen { .. }), "a timed-out reservation cannot be posted: {r:?}");
    engine.execute(Command::Tick).await.unwrap();
    assert_eq!(money(&engine, amal.mask), (4_500, 4_500));
    assert_eq!(engine.read().economy().ledger.transfers[&brief].state, schema::ledger::State::Voided);

    // Conservation: every piastre issued is in some account.
    let economy = engine.read().economy().clone();
    economy.check().unwrap();
    let held: i128 =
        economy.ledger.accounts.iter().filter(|(id, _)| **id != economy::ISSUANCE).map(|(_, a)| a.balance()).sum();
    assert_eq!(held, economy.issued as i128);
    assert_eq!(economy.issued, 17_000);

    // A replay gives the same state.
    let hash = engine.read().state_hash();
    engine.shutdown().await;
    let engine = open(&config).await;
    assert_eq!(engine.read().state_hash(), hash);
    assert_eq!(engine.read().economy(), &economy);
    engine.shutdown().await;
}

/// The royalty table of a five-deep remix chain, by hand: W5 remixes W4 remixes … W0.
///
/// | work | authors (share)     | royalty           | applies to a sale of W5        |
/// |------|---------------------|-------------------|--------------------------------|
/// | W0   | A 0.6, B 0.4        | 0.05 CHAIN (LAP)  | yes, depth 5: 0.05             |
/// | W1   | C                   | 0.10 CHILDREN     | no: depth 4, direct remixes only|
/// | W2   | D                   | 0.02 CHAIN        | yes, depth 3: 0.02             |
/// | W3   | E                   | none              | —                              |
/// | W4   | F 0.5, G 0.5        | 0.10 CHILDREN     | yes, depth 1: 0.10             |
/// | W5   | H (seller)          | —                 | the rest                       |
///
/// A SALE of W5 at 333.33 EGP (33,333 piastres) with the platform's fee of 2.5%:
/// fee 833.325 → 833; W4 3,333.3 → 3,333; W2 666.66 → 667; W0 1,666.65 → 1,667; the rest
/// 26,833.065 → 26,833 (the two piastres left go to the largest remainders, .66 and .65).
/// Then W4's 3,333 → F and G 1,666.5 each → 1,667 to the smaller id, 1,666 to the other; W0's
/// 1,667 → A 1,000.2 → 1,000, B 666.8 → 667.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn royalties_split_up_a_five_deep_chain_to_the_piastre() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&Backend::Sqlite.config("royalties", dir.path())).await;
    let mut people = HashMap::new();
    for name in ["a", "b", "c", "d", "e", "f", "g", "h", "buyer"] {
        people.insert(name, person(&engine, &format!("{name}_royal"), MaskKind::Creator).await);
    }
    let p = |n: &str| &people[n];
    let publish = |author: &Person, coauthors: Vec<(Id, f32)>, royalty: Option<Royalty>| {
        let work = engine.new_id();
        let authors =
            if coauthors.is_empty() { vec![] } else { [vec![(author.mask, 1.0 - coauthors[0].1)], coauthors].concat() };
        (
            work,
            Command::PublishWork {
                actor: author.actor(),
                work,
                title: "عمل".into(),
                description: String::new(),
                world: None,
                authors,
                royalty,
            },
        )
    };
    let chain = |bp| Some(Royalty { share_bp: bp, scope: Scope::Chain });
    let children = |bp| Some(Royalty { share_bp: bp, scope: Scope::Children });
    let mut works = Vec::new();
    for (author, coauthor, royalty) in [
        ("a", Some(("b", 0.4)), chain(500)),
        ("c", None, children(1_000)),
        ("d", None, chain(200)),
        ("e", None, None),
        ("f", Some(("g", 0.5)), children(1_000)),
        ("h", None, None),
    ] {
        let co: Vec<(Id, f32)> = coauthor.map(|(n, s)| (p(n).mask, s)).into_iter().collect();
        let (work, command) = publish(p(author), co, royalty);
        engine.execute(command).await.unwrap();
        if let Some((n, _)) = coauthor {
            engine.execute(Command::AcceptCoauthorship { actor: p(n).actor(), work }).await.unwrap();
        }
        if let Some(&original) = works.last() {
            engine.execute(Command::DeclareRemix { actor: p(author).actor(), work, original }).await.unwrap();
        }
        works.push(work);
    }
    let listing = engine.new_id();
    let sell = Command::CreateListing {
        actor: p("h").actor(),
        listing,
        work: works[5],
        kind: ListingKind::Sale,
        title: "W5".into(),
        price: 33_333,
        terms: "one print".into(),
    };
    engine.execute(sell).await.unwrap();
    // Only an author lists a work.
    let r = refused(
        &engine,
        Command::CreateListing {
            actor: p("buyer").actor(),
            listing: engine.new_id(),
            work: works[5],
            kind: ListingKind::Sale,
            title: "not mine".into(),
            price: 100,
            terms: String::new(),
        },
    )
    .await;
    assert!(matches!(r, Rejection::NotPermitted { .. }), "{r:?}");
    issue(&engine, p("buyer").mask, 50_000).await;
    let key = ledger_key("buy", p("buyer").mask, "order-1");
    let buy = Command::Buy { actor: p("buyer").actor(), listing, key, fee_bp: 250 };
    engine.execute(buy.clone()).await.unwrap();
    let before = engine.read().position();
    engine.execute(buy).await.unwrap();
    assert_eq!(engine.read().position(), before, "buying again with the same key is a retry");

    let (small, large) = if p("f").mask < p("g").mask { ("f", "g") } else { ("g", "f") };
    let expected: Vec<(Id, i128)> = vec![
        (economy::FEES, 833),
        (p("h").mask, 26_833),
        (p(small).mask, 1_667),
        (p(large).mask, 1_666),
        (p("d").mask, 667),
        (p("a").mask, 1_000),
        (p("b").mask, 667),
        (p("c").mask, 0),
        (p("e").mask, 0),
        (p("buyer").mask, 50_000 - 33_333),
    ];
    for (mask, piastres) in expected {
        assert_eq!(money(&engine, mask).0, piastres, "{mask}");
    }
    {
        let graph = engine.read();
        let trade = &graph.economy().trades[&key];
        assert_eq!(trade.legs.iter().map(|l| l.amount).sum::<u64>(), 33_333, "the legs add up to the price");
        let view = graph_engine::GraphView(&graph);
        let traded = schema::View::has_edge(&view, schema::EdgeKind::Traded, p("buyer").mask, p("h").mask);
        assert!(traded, "a completed trade is trust evidence");
    }

    // A closed listing sells no more; a user's masks cannot trade with each other.
    engine.execute(Command::CloseListing { actor: p("h").actor(), listing }).await.unwrap();
    let again = Command::Buy {
        actor: p("buyer").actor(),
        listing,
        key: ledger_key("buy", p("buyer").mask, "order-2"),
        fee_bp: 250,
    };
    assert_eq!(refused(&engine, again).await, Rejection::ListingClosed);
    let h_shadow = second_mask(&engine, p("h").user, "h_shadow", MaskKind::Shadow).await;
    let listing_2 = engine.new_id();
    engine
        .execute(Command::CreateListing {
            actor: p("h").actor(),
            listing: listing_2,
            work: works[5],
            kind: ListingKind::License,
            title: "W5 license".into(),
            price: 100,
            terms: String::new(),
        })
        .await
        .unwrap();
    let own = Command::Buy {
        actor: schema::Actor { user: p("h").user, mask: h_shadow },
        listing: listing_2,
        key: ledger_key("buy", h_shadow, "self"),
        fee_bp: 250,
    };
    assert_eq!(refused(&engine, own).await, Rejection::OwnMasks { action: "trade with" });
    engine.read().economy().check().unwrap();
    engine.shutdown().await;
}

/// A world whose members all may sit on juries, with `n` jurors besides the parties.
async fn jury_world(engine: &Engine, founder: &Person, n: usize) -> (Id, HashMap<Id, Person>) {
    let world = engine.new_id();
    let mut rules = Rules::default();
    rules.requirement_mut(Privilege::Jury).trust_percentile = 0;
    rules.requirement_mut(Privilege::Jury).role = Role::Member;
    let create = Command::CreateWorld {
        actor: founder.actor(),
        world,
        name: "سوق الحرفيين".into(),
        description: String::new(),
        tags: Vec::new(),
        rules: Some(rules),
    };
    engine.execute(create).await.unwrap();
    let mut jurors = HashMap::new();
    for i in 0..n {
        let juror = person(engine, &format!("juror_{i}"), MaskKind::Citizen).await;
        engine.execute(Command::JoinWorld { actor: juror.actor(), world }).await.unwrap();
        jurors.insert(juror.mask, juror);
    }
    (world, jurors)
}

async fn contracts_settle_every_way(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = backend.config("contracts", dir.path());
    let engine = open(&config).await;
    let client = person(&engine, "kamal_client", MaskKind::Public).await;
    let creator = person(&engine, "layla_creator", MaskKind::Creator).await;
    let stranger = person(&engine, "stranger_x", MaskKind::Public).await;
    let (world, jurors) = jury_world(&engine, &client, 5).await;
    engine.execute(Command::JoinWorld { actor: creator.actor(), world }).await.unwrap();
    issue(&engine, client.mask, 100_000).await;

    let propose = |milestones: Vec<(u64, i64)>, grace_ms: i64| {
        let contract = engine.new_id();
        let new = NewContract {
            actor: client.actor(),
            contract,
            counterparty: creator.mask,
            proposer_pays: true,
            world: Some(world),
            milestones: milestones
                .into_iter()
                .enumerate()
                .map(|(i, (a, due))| (format!("مرحلة {i}"), a, due))
                .collect(),
            grace_ms: Some(grace_ms),
        };
        (contract, Command::ProposeContract(Box::new(new)))
    };
    let stage = |c: Id, i: usize| engine.read().economy().contracts[&c].milestones[i].stage;
    let later = now_ms() + 3_600_000;

    // Accept → deliver → approve: the escrow is paid.
    let (c1, command) = propose(vec![(10_000, later), (5_000, later)], 60_000);
    engine.execute(command).await.unwrap();
    assert_eq!(money(&engine, client.mask), (100_000, 100_000), "nothing moves on a proposal");
    let r = refused(&engine, Command::AcceptContract { actor: client.actor(), contract: c1 }).await;
    assert!(matches!(r, Rejection::NotAParty { .. }), "the proposer does not accept: {r:?}");
    let r = refused(&engine, Command::AcceptContract { actor: stranger.actor(), contract: c1 }).await;
    assert_eq!(r, Rejection::NotFound { kind: schema::VertexKind::Contract, id: c1 }, "a stranger cannot tell");
    engine.execute(Command::AcceptContract { actor: creator.actor(), contract: c1 }).await.unwrap();
    assert_eq!(money(&engine, client.mask), (100_000, 85_000), "both milestones in escrow");
    let r = refused(&engine, Command::DeliverMilestone { actor: client.actor(), contract: c1, milestone: 0 }).await;
    assert!(matches!(r, Rejection::NotAParty { .. }), "{r:?}");
    engine.execute(Command::DeliverMilestone { actor: creator.actor(), contract: c1, milestone: 0 }).await.unwrap();
    engine.execute(Command::ApproveMilestone { actor: client.actor(), contract: c1, milestone: 0 }).await.unwrap();
    assert_eq!(money(&engine, client.mask), (90_000, 85_000));
    assert_eq!(money(&engine, creator.mask), (10_000, 10_000));
    assert_eq!(stage(c1, 0), Stage::Paid);
    // Cancel by agreement: one asks, the other agrees; the rest returns to the client.
    engine.execute(Command::CancelContract { actor: creator.actor(), contract: c1 }).await.unwrap();
    assert_eq!(engine.read().economy().contracts[&c1].status, Status::Active, "one party alone does not cancel");
    engine.execute(Command::CancelContract { actor: client.actor(), contract: c1 }).await.unwrap();
    assert_eq!(engine.read().economy().contracts[&c1].status, Status::Cancelled);
    assert_eq!(money(&engine, client.mask), (90_000, 90_000));
    assert_eq!(stage(c1, 1), Stage::Refunded);

    // Before acceptance either party ends it alone, and nothing moved.
    let (c2, command) = propose(vec![(1_000, later)], 60_000);
    engine.execute(command).await.unwrap();
    engine.execute(Command::CancelContract { actor: creator.actor(), contract: c2 }).await.unwrap();
    assert_eq!(engine.read().economy().contracts[&c2].status, Status::Cancelled);
    refused(&engine, Command::AcceptContract { actor: creator.actor(), contract: c2 }).await;

    // Timeouts both ways: undelivered → refunded; delivered and unanswered → paid.
    let soon = now_ms() + 400;
    let (c3, command) = propose(vec![(2_000, soon), (3_000, soon)], 0);
    engine.execute(command).await.unwrap();
    engine.execute(Command::AcceptContract { actor: creator.actor(), contract: c3 }).await.unwrap();
    engine.execute(Command::DeliverMilestone { actor: creator.actor(), contract: c3, milestone: 1 }).await.unwrap();
    assert_eq!(money(&engine, client.mask), (90_000, 85_000));
    tokio::time::sleep(Duration::from_millis(500)).await;
    engine.execute(Command::Tick).await.unwrap();
    assert_eq!((stage(c3, 0), stage(c3, 1)), (Stage::Refunded, Stage::Paid));
    assert_eq!(money(&engine, client.mask), (87_000, 87_000));
    assert_eq!(money(&engine, creator.mask), (13_000, 13_000));
    assert_eq!(engine.read().economy().contracts[&c3].status, Status::Completed);

    // Disputes: a jury of 3 from the world, never a party; its ruling pays, refunds or splits.
    for (creator_votes, expected_stage, creator_gets) in [
        ([10_000u16, 10_000, 0], Stage::Paid, 4_000u64),
        ([0, 0, 10_000], Stage::Refunded, 0),
        ([10_000, 0, 5_000], Stage::Split, 2_000),
    ] {
        let (c, command) = propose(vec![(4_000, later)], 60_000);
        engine.execute(command).await.unwrap();
        engine.execute(Command::AcceptContract { actor: creator.actor(), contract: c }).await.unwrap();
        let (client_before, creator_before) = (money(&engine, client.mask).0, money(&engine, creator.mask).0);
        engine
            .execute(Command::DisputeMilestone {
                actor: client.actor(),
                contract: c,
                milestone: 0,
                statement: "the mural was not finished".into(),
            })
            .await
            .unwrap();
        let r = refused(&engine, Command::ApproveMilestone { actor: client.actor(), contract: c, milestone: 0 }).await;
        assert!(matches!(r, Rejection::NotOpen { .. }), "a disputed milestone waits for its jury: {r:?}");
        let jury = engine.read().economy().contracts[&c].milestones[0].dispute.as_ref().unwrap().jury.clone();
        assert_eq!(jury.len(), 3);
        assert!(jury.iter().all(|j| jurors.contains_key(j)), "no party sits on its jury");
        let rule = |juror: &Person, bp: u16| Command::RuleDispute {
            actor: juror.actor(),
            contract: c,
            milestone: 0,
            creator_bp: bp,
            reason: "seen the photos".into(),
        };
        let r = refused(&engine, rule(&creator, 10_000)).await;
        assert!(matches!(r, Rejection::NotAParty { .. }), "{r:?}");
        for (juror, bp) in jury.iter().zip(creator_votes) {
            if engine.read().economy().contracts[&c].milestones[0].stage != Stage::Disputed {
                break;
            }
            engine.execute(rule(&jurors[juror], bp)).await.unwrap();
        }
        assert_eq!(stage(c, 0), expected_stage);
        assert_eq!(money(&engine, creator.mask).0, creator_before + creator_gets as i128);
        assert_eq!(money(&engine, client.mask).0, client_before - creator_gets as i128);
        assert_eq!(money(&engine, client.mask).0, money(&engine, client.mask).1, "nothing left reserved");
    }
    engine.read().economy().check().unwrap();
    let hash = engine.read().state_hash();
    engine.shutdown().await;
    let engine = open(&config).await;
    assert_eq!(engine.read().state_hash(), hash, "a replay gives the same state");
    engine.shutdown().await;
}
