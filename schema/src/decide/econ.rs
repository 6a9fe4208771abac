//! The rules of the economy: transfers, issuance, the clock's settlements, listings and
//! purchases, contracts and their disputes. Money moves only in events stored sealed
//! ([`Event::Confidential`]): balances are their owners' alone.

use super::{Rejection, View, acting, clean_text, draw_world_jury, exists, fresh, non_empty, not_own, other_mask};
use crate::economy::{
    self, Contract, Dispute, Econ, ISSUANCE, Leg, ListingKind, MILESTONES_MAX, Milestone, Role, Royalty, Settle, Stage,
    Status, TICK_MAX, Trade, WorkFacts, code, leg_id,
};
use crate::ledger::{self, AMOUNT_MAX, Account, Accounts, GROUP_MAX, Refusal, Stored, Transfer};
use crate::{Command, EdgeKind, Event, Id, Props, Value, VertexKind};

/// The longest timeout of a pending transfer: a year.
pub const TIMEOUT_MS_MAX: i64 = 365 * 24 * 3_600_000;

/// The ledger as the rules see it: the view's accounts, with the issuance account allowed to
/// overdraw.
struct Ledgered<'a>(&'a dyn View);

impl Accounts for Ledgered<'_> {
    fn account(&self, id: Id) -> Account {
        let mut account = self.0.account(id);
        account.may_overdraw |= id == ISSUANCE;
        account
    }

    fn stored(&self, id: u128) -> Option<Stored> {
        self.0.stored(id)
    }
}

/// An economy event that moves money: sealed in the log.
fn sealed(event: Econ) -> Event {
    Event::Confidential(vec![Event::Econ(event)])
}

/// The properties a declared royalty sets on a work.
pub(super) fn royalty_props(royalty: Royalty) -> Result<Props, Rejection> {
    if royalty.share_bp == 0 || royalty.share_bp > economy::ROYALTY_SHARE_MAX_BP {
        return Err(Rejection::InvalidInput {
            field: "royalty.share".into(),
            reason: format!("more than 0 and at most {}", economy::format_share(economy::ROYALTY_SHARE_MAX_BP)),
        });
    }
    Ok(royalty.props())
}

/// A ledger refusal as the actor (`payer`) may read it: the available amount only when the
/// short account is the actor's own.
fn refused(refusal: Refusal, actor: Id, group: &[Transfer]) -> Rejection {
    match refusal {
        Refusal::Insufficient { index, available, amount } => {
            let detail = if group.get(index).is_some_and(|t| t.debit == actor) {
                format!(
                    "{} EGP available, {} EGP needed",
                    ledger::format_egp(available as u64),
                    ledger::format_egp(amount)
                )
            } else {
                "the paying party's available funds do not cover it".to_owned()
            };
            Rejection::InsufficientFunds { detail }
        }
        other => Rejection::Refused(other),
    }
}

/// Checks a linked group and keeps its new transfers (a retry's are known already).
fn new_transfers(view: &dyn View, actor: Id, group: Vec<Transfer>) -> Result<Vec<Transfer>, Rejection> {
    let fresh = ledger::check_group(&Ledgered(view), &group).map_err(|r| refused(r, actor, &group))?;
    Ok(group.into_iter().zip(fresh).filter_map(|(t, new)| new.then_some(t)).collect())
}

/// What the royalty split needs of a work, read from the graph. Authors' shares (stored as
/// the `authored` edges' weights) become basis points here: the only place a float meets a
/// money path, converted once, deterministically.
fn work_facts(view: &dyn View, work: Id) -> WorkFacts {
    let authors = view
        .sources(EdgeKind::Authored, work, super::AUTHORS_MAX)
        .into_iter()
        .map(|a| {
            let share = view.edge_weight(EdgeKind::Authored, a, work).unwrap_or(1.0);
            let bp = if share.is_finite() && share > 0.0 { (f64::from(share) * 10_000.0).round() as u64 } else { 0 };
            (a, bp.max(1))
        })
        .collect();
    WorkFacts {
        authors,
        royalty: view.royalty(work),
        originals: view.targets(EdgeKind::RemixOf, work, economy::ANCESTORS_MAX),
    }
}

/// The contract as a party sees it; "not found" for anyone else, exactly as for none.
fn party_contract(view: &dyn View, actor: crate::Actor, contract: Id) -> Result<Contract, Rejection> {
    acting(view, actor)?;
    match view.contract(contract) {
        Some(c) if c.party(actor.mask) => Ok(c),
        _ => Err(Rejection::NotFound { kind: VertexKind::Contract, id: contract }),
    }
}

fn active(c: &Contract) -> Result<(), Rejection> {
    match c.status {
        Status::Active => Ok(()),
        status => Err(Rejection::NotOpen { reason: format!("the contract is {status:?}, not active") }),
    }
}

fn milestone(c: &Contract, i: u16) -> Result<&Milestone, Rejection> {
    c.milestones.get(usize::from(i)).ok_or_else(|| Rejection::InvalidInput {
        field: "milestone".into(),
        reason: format!("the contract has {} milestones", c.milestones.len()),
    })
}

fn settled_already(m: &Milestone) -> Rejection {
    Rejection::NotOpen { reason: format!("the milestone is {:?}", m.stage) }
}

/// Decides an economy command.
pub(super) fn decide(command: Command, now_ms: i64, view: &dyn View) -> Result<Vec<Event>, Rejection> {
    match command {
        Command::Transfer { actor, transfers } => {
            acting(view, actor)?;
            if transfers.is_empty() || transfers.len() > GROUP_MAX {
                return Err(Rejection::LimitExceeded { what: "transfers in one group", limit: GROUP_MAX as u64 });
            }
            for (i, t) in transfers.iter().enumerate() {
                let field = |name: &str| format!("transfers[{i}].{name}");
                if t.debit != actor.mask {
                    return Err(Rejection::InvalidInput {
                        field: field("debit"),
                        reason: "must be the acting mask".into(),
                    });
                }
                if t.code != code::TRANSFER {
                    return Err(Rejection::InvalidInput { field: field("code"), reason: "must be TRANSFER".into() });
                }
                if t.amount == 0 || t.amount > AMOUNT_MAX {
                    return Err(Rejection::InvalidInput {
                        field: field("amount"),
                        reason: format!("more than 0 and at most {} EGP", ledger::format_egp(AMOUNT_MAX)),
                    });
                }
                if !(0..=TIMEOUT_MS_MAX).contains(&t.timeout_ms) || (!t.pending && t.timeout_ms != 0) {
                    return Err(Rejection::InvalidInput {
                        field: field("timeoutMs"),
                        reason: format!("only a pending transfer has a timeout, from 0 (never) to {TIMEOUT_MS_MAX}"),
                    });
                }
                other_mask(view, actor, t.credit, "pay")?;
                not_own(view, actor, t.credit, "pay")?;
            }
            let new = new_transfers(view, actor.mask, transfers)?;
            Ok(if new.is_empty() {
                Vec::new()
            } else {
                vec![sealed(Econ::Transferred { transfers: new, at_ms: now_ms })]
            })
        }
        Command::Settle { actor, id, amount, post } => {
            acting(view, actor)?;
            let missing = Rejection::Missing { what: "pending transfer" };
            let stored = view.stored(id).ok_or(missing.clone())?;
            let t = &stored.transfer;
            if t.debit != actor.mask && t.credit != actor.mask {
                return Err(missing);
            }
            if t.code == code::ESCROW {
                return Err(Rejection::NotPermitted {
                    reason: "a contract's escrow settles through its contract".into(),
                });
            }
            if post && t.debit != actor.mask {
                return Err(Rejection::NotPermitted { reason: "only the payer posts a pending transfer".into() });
            }
            let amount = if post { amount.unwrap_or(t.amount) } else { 0 };
            if post && amount == 0 {
                return Err(Rejection::InvalidInput { field: "amount".into(), reason: "more than 0 to post".into() });
            }
            let timed_out = stored.expires_ms().is_some_and(|at| at <= now_ms);
            if post && timed_out && stored.state == ledger::State::Pending {
                return Err(Rejection::NotOpen { reason: "the pending transfer has timed out".into() });
            }
            let new = ledger::check_settle(&Ledgered(view), id, amount).map_err(Rejection::Refused)?;
            Ok(if new {
                vec![sealed(Econ::Settled { settles: vec![Settle { id, post: amount }] })]
            } else {
                Vec::new()
            })
        }
        Command::Issue { grants, reason } => {
            let reason = super::required_text("reason", &reason)?;
            if grants.is_empty() || grants.len() > GROUP_MAX {
                return Err(Rejection::LimitExceeded { what: "grants in one issue", limit: GROUP_MAX as u64 });
            }
            let mut transfers = Vec::with_capacity(grants.len());
            for (id, mask, amount) in grants {
                exists(view, mask, VertexKind::Mask)?;
                transfers.push(Transfer {
                    id,
                    debit: ISSUANCE,
                    credit: mask,
                    amount,
                    code: code::ISSUE,
                    pending: false,
                    timeout_ms: 0,
                });
            }
            let new = new_transfers(view, ISSUANCE, transfers)?;
            Ok(if new.is_empty() { Vec::new() } else { vec![sealed(Econ::Issued { transfers: new, reason })] })
        }
        Command::Tick => {
            let (expired, lapsed) = view.due(now_ms, TICK_MAX);
            let mut events = Vec::new();
            if !expired.is_empty() {
                events.push(sealed(Econ::Settled {
                    settles: expired.into_iter().map(|id| Settle { id, post: 0 }).collect(),
                }));
            }
            for (contract, i) in lapsed {
                let Some(c) = view.contract(contract) else { continue };
                let Some(m) = c.milestones.get(usize::from(i)) else { continue };
                let (stage, post) = match m.stage {
                    Stage::Funded => (Stage::Refunded, 0),
                    Stage::Delivered => (Stage::Paid, m.amount),
                    _ => continue,
                };
                let settle = Settle { id: m.transfer, post };
                events.push(sealed(Econ::MilestoneSettled { contract, milestone: i, stage, settle }));
            }
            Ok(events)
        }
        Command::CreateListing { actor, listing, work, kind, title, price, terms } => {
            acting(view, actor)?;
            fresh(view, listing)?;
            super::seen_work(view, actor, work)?;
            if !view.has_edge(EdgeKind::Authored, actor.mask, work) {
                return Err(Rejection::NotPermitted { reason: "only an author of the work may list it".into() });
            }
            if price == 0 || price > AMOUNT_MAX {
                return Err(Rejection::InvalidInput {
                    field: "price".into(),
                    reason: format!("more than 0 and at most {} EGP", ledger::format_egp(AMOUNT_MAX)),
                });
            }
            let terms = clean_text("terms", &terms)?;
            let title = clean_text("title", &title)?;
            non_empty("title", &title)?;
            let kind_name = match kind {
                ListingKind::Sale => "sale",
                ListingKind::Commission => "commission",
                ListingKind::License => "license",
            };
            let mut props: Props = [
                ("title".to_owned(), Value::Str(title)),
                ("work".to_owned(), Value::Str(work.to_string())),
                ("listing_kind".to_owned(), Value::Str(kind_name.into())),
                ("price".to_owned(), Value::Int(price as i64)),
                ("terms".to_owned(), Value::Str(terms.clone())),
                ("open".to_owned(), Value::Bool(true)),
            ]
            .into_iter()
            .collect();
            if let Some(world) = view.work_world(work) {
                props.insert("world".to_owned(), Value::Str(world.to_string()));
            }
            let body =
                economy::Listing { seller: actor.mask, work, kind, price, terms, open: true, trades: Vec::new() };
            Ok(vec![
                Event::VertexCreated { id: listing, kind: VertexKind::Listing, props, external: None },
                Event::Econ(Econ::Listed { listing, body: Box::new(body) }),
            ])
        }
        Command::CloseListing { actor, listing } => {
            acting(view, actor)?;
            let l = view.listing(listing).ok_or(Rejection::NotFound { kind: VertexKind::Listing, id: listing })?;
            if l.seller != actor.mask {
                return Err(Rejection::NotPermitted { reason: "only its seller closes a listing".into() });
            }
            if !l.open {
                return Err(Rejection::AlreadyDone { what: "closed" });
            }
            Ok(vec![
                Event::Econ(Econ::ListingClosed { listing }),
                Event::PropsSet { id: listing, props: [("open".to_owned(), Value::Bool(false))].into_iter().collect() },
            ])
        }
        Command::Buy { actor, listing, key, fee_bp } => {
            acting(view, actor)?;
            if let Some(trade) = view.trade(key) {
                // The buyer's keys are the buyer's own: a retry answers with the first trade.
                return if trade.listing == listing && trade.buyer == actor.mask {
                    Ok(Vec::new())
                } else {
                    Err(Rejection::Refused(Refusal::IdReused { index: 0 }))
                };
            }
            let l = view.listing(listing).ok_or(Rejection::NotFound { kind: VertexKind::Listing, id: listing })?;
            other_mask(view, actor, l.seller, "buy from")?;
            if !l.open {
                return Err(Rejection::ListingClosed);
            }
            not_own(view, actor, l.seller, "trade with")?;
            let legs: Vec<Leg> =
                economy::split_sale(l.price, fee_bp, l.work, l.kind, l.seller, &|w| work_facts(view, w));
            let transfers: Vec<Transfer> = legs
                .iter()
                .enumerate()
                .filter(|(_, leg)| leg.to != actor.mask)
                .map(|(i, leg)| Transfer {
                    id: leg_id(key, i as u64),
                    debit: actor.mask,
                    credit: leg.to,
                    amount: leg.amount,
                    code: match leg.role {
                        Role::Fee => code::FEE,
                        Role::Royalty => code::ROYALTY,
                        Role::Author | Role::Seller => code::SALE,
                    },
                    pending: false,
                    timeout_ms: 0,
                })
                .collect();
            if transfers.len() > GROUP_MAX {
                return Err(Rejection::LimitExceeded { what: "legs of one trade", limit: GROUP_MAX as u64 });
            }
            let transfers = new_transfers(view, actor.mask, transfers)?;
            let trade =
                Trade { id: key, listing, buyer: actor.mask, seller: l.seller, price: l.price, legs, at_ms: now_ms };
            let traded = view.edge_weight(EdgeKind::Traded, actor.mask, l.seller).unwrap_or(0.0);
            let egp = (l.price / ledger::PIASTRES_PER_EGP) as f32 + (l.price % ledger::PIASTRES_PER_EGP) as f32 / 100.0;
            Ok(vec![
                sealed(Econ::Bought { trade: Box::new(trade), transfers }),
                Event::EdgeAdded {
                    kind: EdgeKind::Traded,
                    src: actor.mask,
                    dst: l.seller,
                    weight: Some(traded + egp),
                    time_ms: Some(now_ms),
                },
            ])
        }
        Command::ProposeContract(new) => {
            let crate::NewContract { actor, contract, counterparty, proposer_pays, world, milestones, grace_ms } = *new;
            acting(view, actor)?;
            fresh(view, contract)?;
            other_mask(view, actor, counterparty, "contract with")?;
            not_own(view, actor, counterparty, "trade with")?;
            if milestones.is_empty() || milestones.len() > MILESTONES_MAX {
                return Err(Rejection::LimitExceeded {
                    what: "milestones (and at least one)",
                    limit: MILESTONES_MAX as u64,
                });
            }
            if let Some(world) = world {
                exists(view, world, VertexKind::World)?;
            }
            let grace_ms = grace_ms.unwrap_or(economy::GRACE_MS_DEFAULT);
            if !economy::GRACE_MS_RANGE.contains(&grace_ms) {
                return Err(Rejection::InvalidInput {
                    field: "graceMs".into(),
                    reason: format!(
                        "from {} to {} milliseconds",
                        economy::GRACE_MS_RANGE.start(),
                        economy::GRACE_MS_RANGE.end()
                    ),
                });
            }
            let mut total: u64 = 0;
            let mut body = Vec::with_capacity(milestones.len());
            for (i, (title, amount, due_ms)) in milestones.into_iter().enumerate() {
                let field = |name: &str| format!("milestones[{i}].{name}");
                let title = clean_text("title", &title).map_err(|e| match e {
                    Rejection::InvalidInput { reason, .. } => Rejection::InvalidInput { field: field("title"), reason },
                    e => e,
                })?;
                non_empty(&field("title"), &title)?;
                if amount == 0 || amount > AMOUNT_MAX {
                    return Err(Rejection::InvalidInput { field: field("amount"), reason: "more than 0".into() });
                }
                total = total.saturating_add(amount);
                if due_ms <= now_ms {
                    return Err(Rejection::InvalidInput {
                        field: field("due"),
                        reason: "must be in the future".into(),
                    });
                }
                body.push(Milestone {
                    title,
                    amount,
                    due_ms,
                    stage: Stage::Proposed,
                    transfer: leg_id(u128::from(contract.0) << 64 | 0xc0, i as u64),
                    delivered_ms: None,
                    paid: 0,
                    dispute: None,
                });
            }
            if total > AMOUNT_MAX {
                return Err(Rejection::InvalidInput {
                    field: "milestones".into(),
                    reason: "the total is too large".into(),
                });
            }
            let (client, creator) = if proposer_pays { (actor.mask, counterparty) } else { (counterparty, actor.mask) };
            let body = Contract {
                client,
                creator,
                proposer: actor.mask,
                world,
                milestones: body,
                status: Status::Proposed,
                grace_ms,
                cancel_asked: None,
                created_ms: now_ms,
            };
            Ok(vec![
                Event::VertexCreated { id: contract, kind: VertexKind::Contract, props: Props::new(), external: None },
                sealed(Econ::ContractProposed { contract, body: Box::new(body) }),
            ])
        }
        Command::AcceptContract { actor, contract } => {
            let c = party_contract(view, actor, contract)?;
            if c.status != Status::Proposed {
                return Err(Rejection::NotOpen { reason: format!("the contract is {:?}, not proposed", c.status) });
            }
            if c.proposer == actor.mask {
                return Err(Rejection::NotAParty { action: "accept a contract it proposed" });
            }
            let transfers: Vec<Transfer> = c
                .milestones
                .iter()
                .map(|m| Transfer {
                    id: m.transfer,
                    debit: c.client,
                    credit: c.creator,
                    amount: m.amount,
                    code: code::ESCROW,
                    pending: true,
                    timeout_ms: 0,
                })
                .collect();
            let transfers = new_transfers(view, actor.mask, transfers)?;
            Ok(vec![sealed(Econ::ContractAccepted { contract, transfers })])
        }
        Command::DeliverMilestone { actor, contract, milestone: i } => {
            let c = party_contract(view, actor, contract)?;
            active(&c)?;
            if actor.mask != c.creator {
                return Err(Rejection::NotAParty { action: "deliver (only the creator delivers)" });
            }
            let m = milestone(&c, i)?;
            match m.stage {
                Stage::Funded => {}
                Stage::Delivered => return Err(Rejection::AlreadyDone { what: "delivered" }),
                _ => return Err(settled_already(m)),
            }
            if c.deadline(usize::from(i)).is_some_and(|at| now_ms > at) {
                return Err(Rejection::NotOpen { reason: "the milestone's grace period has ended".into() });
            }
            Ok(vec![sealed(Econ::Delivered { contract, milestone: i, at_ms: now_ms })])
        }
        Command::ApproveMilestone { actor, contract, milestone: i } => {
            let c = party_contract(view, actor, contract)?;
            active(&c)?;
            if actor.mask != c.client {
                return Err(Rejection::NotAParty { action: "approve (only the client approves)" });
            }
            let m = milestone(&c, i)?;
            match m.stage {
                Stage::Funded | Stage::Delivered => {}
                Stage::Disputed => {
                    return Err(Rejection::NotOpen { reason: "the milestone is disputed: its jury decides".into() });
                }
                _ => return Err(settled_already(m)),
            }
            let settle = Settle { id: m.transfer, post: m.amount };
            Ok(vec![sealed(Econ::MilestoneSettled { contract, milestone: i, stage: Stage::Paid, settle })])
        }
        Command::CancelContract { actor, contract } => {
            let c = party_contract(view, actor, contract)?;
            match c.status {
                Status::Proposed => Ok(vec![sealed(Econ::Cancelled { contract, settles: Vec::new() })]),
                Status::Active => {
                    let other = if actor.mask == c.client { c.creator } else { c.client };
                    if c.cancel_asked == Some(actor.mask) {
                        return Err(Rejection::AlreadyDone { what: "asked to cancel; the other party has not agreed" });
                    }
                    if c.cancel_asked != Some(other) {
                        return Ok(vec![sealed(Econ::CancelAsked { contract, by: actor.mask })]);
                    }
                    let settles = c
                        .milestones
                        .iter()
                        .filter(|m| m.stage.in_escrow())
                        .map(|m| Settle { id: m.transfer, post: 0 })
                        .collect();
                    Ok(vec![sealed(Econ::Cancelled { contract, settles })])
                }
                status => Err(Rejection::NotOpen { reason: format!("the contract is {status:?}") }),
            }
        }
        Command::DisputeMilestone { actor, contract, milestone: i, statement } => {
            let c = party_contract(view, actor, contract)?;
            active(&c)?;
            let m = milestone(&c, i)?;
            match m.stage {
                Stage::Funded | Stage::Delivered => {}
                Stage::Disputed => return Err(Rejection::AlreadyDone { what: "disputed" }),
                _ => return Err(settled_already(m)),
            }
            let statement = super::required_text("statement", &statement)?;
            let world = c.world.or_else(|| {
                view.targets(EdgeKind::MemberOf, c.client, 1_000)
                    .into_iter()
                    .find(|&w| view.has_edge(EdgeKind::MemberOf, c.creator, w))
            });
            let Some(world) = world else {
                return Err(Rejection::NotOpen {
                    reason: "no world hears this dispute: the contract names none, and the parties share none".into(),
                });
            };
            let (seed_seq, seed_hash) = view.head();
            let jury = draw_world_jury(view, world, &[c.client, c.creator], crate::jury::SIZES[0], seed_hash, now_ms)
                .map_err(|e| Rejection::NotOpen { reason: e.to_string() })?;
            let dispute = Dispute {
                by: actor.mask,
                statement,
                filed_ms: now_ms,
                seed_seq,
                seed_hash,
                jury,
                votes: Default::default(),
                ruling: None,
            };
            Ok(vec![sealed(Econ::Disputed { contract, milestone: i, dispute: Box::new(dispute) })])
        }
        Command::RuleDispute { actor, contract, milestone: i, creator_bp, reason } => {
            acting(view, actor)?;
            let not_found = Rejection::NotFound { kind: VertexKind::Contract, id: contract };
            let c = view.contract(contract).ok_or(not_found.clone())?;
            let m = c.milestones.get(usize::from(i));
            let Some((m, d)) =
                m.and_then(|m| Some((m, m.dispute.as_ref()?))).filter(|(_, d)| d.jury.contains(&actor.mask))
            else {
                return Err(if c.party(actor.mask) {
                    Rejection::NotAParty { action: "rule (only its jurors)" }
                } else {
                    not_found
                });
            };
            if m.stage != Stage::Disputed || d.ruling.is_some() {
                return Err(Rejection::NotOpen { reason: "the dispute is decided".into() });
            }
            if d.votes.contains_key(&actor.mask) {
                return Err(Rejection::AlreadyDone { what: "ruled on this dispute" });
            }
            if u64::from(creator_bp) > economy::BP {
                return Err(Rejection::InvalidInput { field: "creatorShare".into(), reason: "from 0 to 1".into() });
            }
            let reason = super::required_text("reason", &reason)?;
            let mut votes: Vec<u16> = d.votes.values().map(|v| v.0).collect();
            votes.push(creator_bp);
            let mut events =
                vec![sealed(Econ::JurorRuled { contract, milestone: i, juror: actor.mask, creator_bp, reason })];
            if let Some(ruling) = economy::ruling(d.jury.len(), &votes) {
                let post = (u128::from(m.amount) * u128::from(ruling) / u128::from(economy::BP)) as u64;
                let stage = match post {
                    0 => Stage::Refunded,
                    p if p == m.amount => Stage::Paid,
                    _ => Stage::Split,
                };
                let settle = Settle { id: m.transfer, post };
                events.push(sealed(Econ::MilestoneSettled { contract, milestone: i, stage, settle }));
            }
            Ok(events)
        }
        _ => unreachable!("not an economy command"),
    }
}
