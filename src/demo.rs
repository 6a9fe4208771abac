//! The demo community's governance (issue 20, point 9): after the demo is imported and its first
//! epoch computed, its first world gets rules adopted by a passed proposal, open and closed
//! proposals of every method with ballots, delegations, moderation cases and an appeal decided
//! by a jury — all through the one write path, as its members would have done it. Seeded, so
//! every demo is the same.

use anyhow::{Context, Result, bail};
use graph_engine::{Engine, Graph};
use schema::governance::{Action, Choice, Requirement, Role, Rules};
use schema::jury::Verdict;
use schema::tally::Method;
use schema::{Actor, Command, EdgeKind, Id, NewProposal, SplitMix64, VertexKind};
use std::time::Duration;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The acting pair of a demo mask: the user that owns it (the demo's seeding runs in the
/// server's process, as the rules do; nothing of it is shown).
fn actor(graph: &Graph, m: u32) -> Actor {
    Actor { user: graph.id_at(graph.owner_key(m)), mask: graph.id_at(m) }
}

/// How long a decided proposal of the demo stays open, from its making.
const DECIDED_WINDOW_MS: i64 = 3_000;

/// Casts a ballot; one that arrives after its proposal closed (a machine slower than the
/// window) is left out, not fatal.
async fn vote(engine: &Engine, command: Command) -> Result<()> {
    match engine.execute(command).await {
        Ok(_) => Ok(()),
        Err(graph_engine::Error::Rejected(schema::Rejection::NotOpen { reason })) => {
            tracing::warn!(reason = %reason, "a demo ballot came too late");
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("seeding the demo's governance: {e}")),
    }
}

async fn run(engine: &Engine, command: Command) -> Result<()> {
    match engine.execute(command).await {
        Ok(_) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("seeding the demo's governance: {e}")),
    }
}

/// The demo's first world, its founding moderator and its other members (owned masks only).
fn council(graph: &Graph) -> Result<(u32, u32, Vec<u32>)> {
    let world = (0..graph.vertex_count() as u32)
        .find(|&v| graph.kind_at(v) == VertexKind::World && graph.in_degree(EdgeKind::MemberOf, v) >= 12)
        .context("the demo has no world with a dozen members")?;
    let founder = graph.inn(EdgeKind::Moderates, world).min().context("the demo's world has no moderator")?;
    let mut members: Vec<u32> = graph
        .inn(EdgeKind::MemberOf, world)
        .filter(|&m| m != founder && graph.owner_key(m) != m && graph.owner_key(m) != graph.owner_key(founder))
        .collect();
    members.sort_unstable();
    Ok((world, founder, members))
}

fn proposal(
    author: Actor,
    world: Id,
    id: Id,
    title: &str,
    options: &[&str],
    method: Method,
    closes_at_ms: i64,
) -> NewProposal {
    NewProposal {
        actor: author,
        proposal: id,
        world,
        title: title.into(),
        body: String::new(),
        options: options.iter().map(|o| (*o).to_owned()).collect(),
        method,
        opens_at_ms: None,
        closes_at_ms,
        quorum_bp: 2_000,
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

/// A ballot for `method` over `options`, drawn from `rng`.
fn ballot(rng: &mut SplitMix64, method: Method, options: usize) -> Choice {
    let mut order: Vec<u16> = (0..options as u16).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    match method {
        Method::Single => Choice { choices: vec![order[0]], amounts: Vec::new() },
        Method::Approval => Choice { choices: order[..2].to_vec(), amounts: Vec::new() },
        Method::Ranked | Method::Schulze => Choice { choices: order[..3.min(options)].to_vec(), amounts: Vec::new() },
        Method::Score => {
            Choice { choices: order.clone(), amounts: order.iter().map(|_| (rng.next_u64() % 6) as u32).collect() }
        }
        Method::Quadratic => Choice { choices: order[..2].to_vec(), amounts: vec![(rng.next_u64() % 8) as u32 + 1, 3] },
    }
}

/// Seeds the demo's governance on `engine` (which holds the imported demo and its first epoch).
pub async fn govern(engine: &Engine) -> Result<()> {
    let (world, founder, members) = {
        let graph = engine.read();
        let (w, f, m) = council(&graph)?;
        (graph.id_at(w), actor(&graph, f), m.iter().map(|&m| actor(&graph, m)).collect::<Vec<_>>())
    };
    if members.len() < 12 {
        bail!("the demo's council has {} members; 12 are needed", members.len());
    }
    let mut rng = SplitMix64::new(20);
    // A decided proposal is open for a few seconds from its own making, time enough for its
    // ballots on a loaded machine; the seeding then waits for the last window to end.
    let soon = || now_ms() + DECIDED_WINDOW_MS;
    let later = now_ms() + 14 * 24 * 3600 * 1000;

    // Rules, adopted by a passed proposal: members propose; juries need the median trust.
    let rules = Rules {
        propose: Requirement::role(Role::Member),
        jury: Requirement { trust_percentile: 50, ..Requirement::role(Role::Member) },
        ..Rules::default()
    };
    // The founder (a moderator) proposes: the default rules let moderators propose.
    let rules_id = engine.new_id();
    let rules_closes = soon();
    let mut adopt = proposal(
        founder,
        world,
        rules_id,
        "Let every member propose",
        &["adopt", "reject"],
        Method::Single,
        rules_closes,
    );
    adopt.rules = Some(rules);
    adopt.quorum_bp = 0;
    adopt.threshold_bp = 5_000;
    adopt.body = "Proposals stay open to all members; juries come from members at or above the median trust.".into();
    run(engine, Command::CreateProposal(Box::new(adopt))).await?;
    for m in members.iter().take(8) {
        vote(
            engine,
            Command::CastVote {
                actor: *m,
                proposal: rules_id,
                choice: Choice { choices: vec![0], amounts: Vec::new() },
            },
        )
        .await?;
    }
    // Delegations: five members let others vote for them.
    for pair in members[..10].chunks(2) {
        run(engine, Command::Delegate { actor: pair[0], world, to: Some(pair[1].mask), topic: String::new() }).await?;
    }

    // Every method twice: one closing now, one open for two weeks.
    let methods = [
        (Method::Single, "Where should the spring festival be?", &["Alexandria", "Aswan", "Downtown Cairo"][..]),
        (
            Method::Approval,
            "Which workshops should we fund?",
            &["calligraphy", "oud", "street photography", "zine making"][..],
        ),
        (
            Method::Ranked,
            "Rank the mural sites",
            &["Zamalek wall", "Shubra bridge", "Maadi underpass", "Giza corniche"][..],
        ),
        (
            Method::Schulze,
            "Pick the anthology's cover",
            &["felucca at dawn", "tram at night", "koshary cart", "pigeon towers"][..],
        ),
        (Method::Score, "Score the residency applicants", &["Nour", "Omar", "Salma", "Yara"][..]),
        (Method::Quadratic, "Spend the community budget", &["studio rent", "printing", "open mic", "archive"][..]),
    ];
    let mut closing = Vec::new();
    for round in 0..2 {
        for (i, (method, title, options)) in methods.iter().enumerate() {
            let closes = if round == 0 { soon() } else { later };
            let id = engine.new_id();
            let author = founder;
            let title = if round == 0 { format!("{title} (decided)") } else { (*title).to_owned() };
            let mut new = proposal(author, world, id, &title, options, *method, closes);
            new.secret = i % 3 == 2;
            new.one_person_one_vote = i % 2 == 0;
            run(engine, Command::CreateProposal(Box::new(new))).await?;
            for m in members.iter().skip(1).step_by(2) {
                let choice = ballot(&mut rng, *method, options.len());
                vote(engine, Command::CastVote { actor: *m, proposal: id, choice }).await?;
            }
            if round == 0 {
                closing.push((id, closes));
            }
        }
    }
    let last = closing.iter().map(|&(_, c)| c).max().unwrap_or(0).max(rules_closes);
    tokio::time::sleep(Duration::from_millis((last - now_ms()).max(0) as u64 + 100)).await;
    for id in std::iter::once(rules_id).chain(closing.into_iter().map(|(id, _)| id)) {
        run(engine, Command::CloseProposal { proposal: id }).await?;
    }

    // Moderation: a limit appealed and decided by a jury; a work hidden.
    let target = members[members.len() - 1];
    let case = engine.new_id();
    run(
        engine,
        Command::Moderate {
            actor: founder,
            case,
            world,
            target: target.mask,
            action: Action::Limit,
            reason: "posted the same promotion in every thread this week".into(),
            rule: "R3: no advertising".into(),
        },
    )
    .await?;
    run(
        engine,
        Command::Appeal {
            actor: target,
            case,
            statement: "It was one announcement of our own community's event, shared where people asked.".into(),
        },
    )
    .await?;
    let jury = engine.read().governance().cases[&case].appeals[0].jury.clone();
    let jurors: Vec<Actor> = {
        let graph = engine.read();
        jury.iter().filter_map(|&m| graph.index_of(m)).map(|m| actor(&graph, m)).collect()
    };
    let reasons = ["the event was the community's own", "asked for in the threads it was posted in"];
    for (juror, reason) in jurors.iter().zip(reasons) {
        run(engine, Command::JuryVote { actor: *juror, case, verdict: Verdict::Overturn, reason: reason.into() })
            .await?;
    }
    let work = {
        let graph = engine.read();
        let w = graph.index_of(world).expect("the world");
        let in_world =
            |v: u32| graph.public_prop(v, "world").and_then(schema::Value::as_str) == Some(world.to_string().as_str());
        graph
            .inn(EdgeKind::MemberOf, w)
            .flat_map(|m| graph.out(EdgeKind::Authored, m))
            .find(|&v| {
                in_world(v)
                    && graph
                        .inn(EdgeKind::Authored, v)
                        .all(|a| graph.owner_key(a) != graph.owner_key(graph.index_of(founder.mask).expect("founder")))
            })
            .map(|v| graph.id_at(v))
    };
    if let Some(work) = work {
        run(
            engine,
            Command::Moderate {
                actor: founder,
                case: engine.new_id(),
                world,
                target: work,
                action: Action::Hide,
                reason: "a scan of a published book, shared without the author's consent".into(),
                rule: "R5: credit and consent".into(),
            },
        )
        .await?;
    }
    Ok(())
}

/// The demo's economy: every owned mask starts with 500 EGP (the operator's issuance, with its
/// reason), a dozen works of the first world are listed for sale, and some are bought — every
/// purchase split into the platform's fee and the authors' part, and counted as trust evidence.
pub async fn trade(engine: &Engine) -> Result<()> {
    const OPENING: u64 = 500 * schema::ledger::PIASTRES_PER_EGP;
    let (grants, listings) = {
        let graph = engine.read();
        let owned: Vec<u32> = (0..graph.vertex_count() as u32)
            .filter(|&v| graph.kind_at(v) == VertexKind::Mask && graph.owner_key(v) != v)
            .collect();
        let grants: Vec<(u128, Id, u64)> = owned
            .iter()
            .map(|&m| {
                (graph_engine::ledger_key("issue", graph.id_at(m), "demo opening balance"), graph.id_at(m), OPENING)
            })
            .collect();
        let (world, _, _) = council(&graph)?;
        let world_id = graph.id_at(world).to_string();
        let mut rng = SplitMix64::new(21);
        let listings: Vec<(Actor, Id, String, u64)> = (0..graph.vertex_count() as u32)
            .filter(|&w| graph.kind_at(w) == VertexKind::Work)
            .filter(|&w| graph.public_prop(w, "world").and_then(|v| v.as_str()) == Some(world_id.as_str()))
            .filter_map(|w| {
                let author = graph
                    .inn(EdgeKind::Authored, w)
                    .find(|&a| graph.owner_key(a) != a && graph.mask_kind(a) != Some(schema::MaskKind::Private))?;
                let title = graph.public_prop(w, "title")?.as_str()?.to_owned();
                Some((actor(&graph, author), graph.id_at(w), title, (20 + rng.next_u64() % 280) * 100))
            })
            .take(12)
            .collect();
        (grants, listings)
    };
    for chunk in grants.chunks(schema::ledger::GROUP_MAX) {
        let command = Command::Issue { grants: chunk.to_vec(), reason: "demo: opening balances".into() };
        run(engine, command).await?;
    }
    let buyers: Vec<Actor> = {
        let graph = engine.read();
        let (_, _, members) = council(&graph)?;
        members.iter().map(|&m| actor(&graph, m)).collect()
    };
    let mut rng = SplitMix64::new(22);
    for (i, (seller, work, title, price)) in listings.into_iter().enumerate() {
        let listing = engine.new_id();
        let kind = if i % 4 == 3 { schema::economy::ListingKind::License } else { schema::economy::ListingKind::Sale };
        let terms = if kind == schema::economy::ListingKind::Sale {
            "طبعة واحدة موقعة — one signed print"
        } else {
            "remix license"
        };
        let command = Command::CreateListing { actor: seller, listing, work, kind, title, price, terms: terms.into() };
        run(engine, command).await?;
        // About half of them sell, to members other than the seller's user.
        if rng.next_u64().is_multiple_of(2) {
            let buyer = buyers[(rng.next_u64() % buyers.len() as u64) as usize];
            if buyer.user == seller.user {
                continue;
            }
            let key = graph_engine::ledger_key("buy", buyer.mask, &format!("demo-{i}"));
            let fee_bp = schema::economy::FEE_BP_DEFAULT;
            run(engine, Command::Buy { actor: buyer, listing, key, fee_bp }).await?;
        }
    }
    Ok(())
}

/// Thread titles and first posts of the demo's conversations, in the four ways its members
/// write: Arabic, Egyptian dialect, Arabizi and English. `{m}` is another member's handle.
const THREADS: [(&str, &str); 6] = [
    ("أول جرافيتي في وسط البلد", "رسمنا الحيطة امبارح قدام المحطة. مين عايز ييجي المرة الجاية؟ @{m} معانا؟"),
    ("mahrganat el leila di — meen gai?", "ana 3amel playlist gedida, 3ayez ra2yak ya @{m} 🎶"),
    ("Where to buy spray paint in Cairo?", "Looking for good spray cans near Downtown. @{m} do you know a shop?"),
    ("ورشة خط عربي يوم الجمعة", "ورشة للمبتدئين في الخط الكوفي والرقعة. هنبدأ الساعة ٥ العصر."),
    ("el mural el gedid fe Maadi", "5alast el mural el nharda, shokran @{m} 3al alwan!"),
    (
        "Archiving our remixes",
        "Should we keep a list of every remix of the community's works? Markdown tables welcome.",
    ),
];

/// Replies the demo's members write, by turn.
const REPLIES: [&str; 6] = [
    "فكرة حلوة جدا! أنا معاكم 👍",
    "tamam, ana gai isA",
    "Count me in — I can bring the stencils.",
    "@{m} شوف ده 👀",
    "**Great** idea. Here's a [map](https://example.org/map) of the walls we used last year.",
    "ممكن نعملها أونلاين كمان؟",
];

/// The demo's conversations (issue 22): threads in its liveliest worlds, with replies,
/// answers to replies, mentions and reactions — all through the one write path. Seeded, so
/// every demo is the same.
pub async fn talk(engine: &Engine) -> Result<()> {
    const WORLDS: usize = 8;
    let plans: Vec<(Id, Vec<(Actor, String)>)> = {
        let graph = engine.read();
        let mut worlds: Vec<u32> = (0..graph.vertex_count() as u32)
            .filter(|&w| graph.kind_at(w) == VertexKind::World && graph.in_degree(EdgeKind::MemberOf, w) >= 4)
            .collect();
        worlds.sort_by_key(|&w| std::cmp::Reverse(graph.in_degree(EdgeKind::MemberOf, w)));
        worlds
            .into_iter()
            .take(WORLDS)
            .map(|w| {
                let mut members: Vec<u32> = graph
                    .inn(EdgeKind::MemberOf, w)
                    .filter(|&m| graph.owner_key(m) != m && graph.mask_kind(m) != Some(schema::MaskKind::Private))
                    .collect();
                members.sort_unstable();
                let people = members
                    .into_iter()
                    .filter_map(|m| {
                        let handle = graph.public_prop(m, "handle")?.as_str()?.to_owned();
                        Some((actor(&graph, m), handle))
                    })
                    .collect();
                (graph.id_at(w), people)
            })
            .collect()
    };
    let mut rng = SplitMix64::new(23);
    let mut posted = 0;
    for (w, (world, people)) in plans.into_iter().enumerate() {
        if people.len() < 3 {
            continue;
        }
        let pick = |rng: &mut SplitMix64| (rng.next_u64() % people.len() as u64) as usize;
        for t in 0..3 {
            let (title, body) = THREADS[(w + t) % THREADS.len()];
            let starter = pick(&mut rng);
            let other = |rng: &mut SplitMix64, not: usize| {
                let i = pick(rng);
                if i == not { (i + 1) % people.len() } else { i }
            };
            let mention = &people[other(&mut rng, starter)].1;
            let (thread, first) = (engine.new_id(), engine.new_id());
            let command = Command::StartThread {
                actor: people[starter].0,
                thread,
                post: first,
                world,
                title: title.into(),
                body: body.replace("{m}", mention),
            };
            if let Err(e) = engine.execute(command).await {
                // A member the world's rules do not let post (a sanction from the governance
                // seeding) is skipped, as the rules say.
                tracing::warn!(error = %e, "a demo thread was not started");
                continue;
            }
            posted += 1;
            let mut posts = vec![(first, starter)];
            for r in 0..(2 + rng.next_u64() % 4) as usize {
                let (to, to_writer) = if r > 0 && rng.next_u64().is_multiple_of(2) {
                    posts[(rng.next_u64() % posts.len() as u64) as usize]
                } else {
                    (thread, starter)
                };
                let writer = other(&mut rng, to_writer);
                let mention = &people[other(&mut rng, writer)].1;
                let post = engine.new_id();
                let body = REPLIES[(w + t + r) % REPLIES.len()].replace("{m}", mention);
                if engine.execute(Command::Reply { actor: people[writer].0, post, to, body }).await.is_ok() {
                    posts.push((post, writer));
                    posted += 1;
                }
            }
            for &(post, writer) in &posts {
                let reactor = other(&mut rng, writer);
                let reaction = schema::talk::Reaction::ALL[(rng.next_u64() % 6) as usize];
                let _ =
                    engine.execute(Command::React { actor: people[reactor].0, post, reaction: Some(reaction) }).await;
            }
        }
    }
    if posted == 0 {
        bail!("the demo has no world where its members could talk");
    }
    Ok(())
}
