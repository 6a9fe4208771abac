//! `daira exec`: commands as JSON lines on stdin, one durable write each, acknowledged on
//! stdout once committed. For scripts, and for the crash tests.
//!
//! Each line is one object with one key naming the command:
//!
//! ```text
//! {"register_user": {}}
//! {"create_mask": {"user": ID, "kind": "creator", "handle": "nour_2ahwa", "display_name": "…", "bio": "…"}}
//! {"create_world": {"user": ID, "mask": ID, "name": "…", "description": "…", "tags": ["…"], "rules": RULES?}}
//! {"join_world" | "leave_world": {"user": ID, "mask": ID, "world": ID}}
//! {"follow" | "unfollow" | "endorse": {"user": ID, "mask": ID, "target": ID}}
//! {"admit" | "unadmit": {"user": ID, "mask": ID, "viewer": ID}}   (mask: a private mask)
//! {"accept_coauthorship" | "decline_coauthorship": {"user": ID, "mask": ID, "work": ID}}
//! {"rate": {"user": ID, "mask": ID, "target": ID, "rating": -10..10}}
//! {"publish_work": {"user": ID, "mask": ID, "title": "…", "description": "…", "world": ID?}}
//! {"remix": {"user": ID, "mask": ID, "original": ID, "title": "…", "description": "…"}}
//! {"collaborate": {"user": ID, "mask": ID, "other": ID}}
//! {"edit": {"user": ID, "mask": ID, "target": ID, "fields": {"title": "…", "description": "…"}}}
//! {"hide": {"user": ID, "mask": ID, "target": ID, "hidden": true}}
//! {"create_proposal": {"user": ID, "mask": ID, "world": ID, "title": "…", "body": "…", "options": ["…", "…"],
//!                      "method": "single|approval|ranked|schulze|score|quadratic", "opens_at": MS?, "closes_at": MS,
//!                      "quorum": 0..1, "threshold": 0..1, "one_person_one_vote": false, "weight": "equal|reputation",
//!                      "budget": N?, "secret": false, "topic": "…", "rules": RULES?, "curators": [ID]?}}
//! {"cast_vote": {"user": ID, "mask": ID, "proposal": ID, "choices": [0, 2], "amounts": [5, 3]?}}
//! {"withdraw_vote": {"user": ID, "mask": ID, "proposal": ID}}
//! {"delegate": {"user": ID, "mask": ID, "world": ID, "to": ID?, "topic": "…"?}}   (no "to": take it back)
//! {"close_proposal": {"proposal": ID}}
//! {"report": {"user": ID, "mask": ID, "world": ID, "target": ID, "reason": "…"}}
//! {"moderate": {"user": ID, "mask": ID, "world": ID, "target": ID, "action": "hide|limit|suspend|remove_from_world",
//!               "reason": "…", "rule": "…", "case": ID?}}   (case: a flagged case to act on)
//! {"appeal": {"user": ID, "mask": ID, "case": ID, "statement": "…"}}
//! {"jury_vote": {"user": ID, "mask": ID, "case": ID, "verdict": "uphold|overturn", "reason": "…"}}
//! {"transfer": {"user": ID, "mask": ID, "to": ID, "amount": "12.50", "id": "KEY", "pending": false, "timeout_ms": 0}}
//! {"post_transfer" | "void_transfer": {"user": ID, "mask": ID, "id": "KEY", "amount": "5.00"?}}
//! {"issue": {"to": ID, "amount": "100.00", "reason": "…", "id": "KEY"?}}   (the operator's act)
//! {"create_listing": {"user": ID, "mask": ID, "work": ID, "kind": "sale|commission|license", "title": "…",
//!                     "price": "120.00", "terms": "…"}}
//! {"close_listing": {"user": ID, "mask": ID, "listing": ID}}
//! {"buy": {"user": ID, "mask": ID, "listing": ID, "id": "KEY"}}   (the platform's default fee)
//! {"propose_contract": {"user": ID, "mask": ID, "counterparty": ID, "role": "client|creator", "world": ID?,
//!                       "milestones": [{"title": "…", "amount": "250.00", "due": MS}], "grace_ms": MS?}}
//! {"accept_contract" | "cancel_contract": {"user": ID, "mask": ID, "contract": ID}}
//! {"deliver_milestone" | "approve_milestone": {"user": ID, "mask": ID, "contract": ID, "milestone": N}}
//! {"dispute_milestone": {"user": ID, "mask": ID, "contract": ID, "milestone": N, "statement": "…"}}
//! {"rule_dispute": {"user": ID, "mask": ID, "contract": ID, "milestone": N, "creator_share": "0.5", "reason": "…"}}
//! {"tick": {}}   (settles what the clock says is due)
//! ```
//!
//! `publish_work` and `remix` take `"royalty": {"share": "0.10", "scope": "chain|children"}`.
//! Amounts are EGP as text with at most two decimals; transfer keys are the paying mask's own.
//!
//! RULES is schema's `Rules` as JSON: `{"propose": {"role": "Moderator", "trust_percentile": 0,
//! "contribution": 0.0, "age_days": 0}, "vote": …, "report": …, "moderate": …, "jury": …, "post": …,
//! "appeal_window_ms": 604800000}`.
//!
//! IDs are the 16-hex-digit ids the acknowledgements print. The answer to each line is one line:
//! `ok seq=N hash=H [id=ID]` or `rejected line=L: REASON` (or `error line=L: PATH: …`, naming
//! the field that is wrong).

use graph_engine::Engine;
use schema::economy::{ListingKind, Royalty, Scope};
use schema::governance::{Action, Choice, Rules};
use schema::jury::Verdict;
use schema::ledger::Transfer;
use schema::tally::Method;
use schema::{Actor, Command, Id, MaskKind, NewContract, NewProposal};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

/// A parsed line: the command and the id it creates, if any.
pub struct Parsed {
    /// The command.
    pub command: Command,
    /// The id of the vertex it creates.
    pub created: Option<Id>,
}

/// A value written as text in the line (ids in hex, mask kinds by name).
fn text<'de, D: Deserializer<'de>, T: FromStr<Err: Display>>(d: D) -> Result<T, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
}

/// An id written in hex.
#[derive(Deserialize, Clone, Copy)]
#[serde(transparent)]
struct HexId(#[serde(deserialize_with = "text")] Id);

/// A voting method by its lower-case name.
fn method<'de, D: Deserializer<'de>>(d: D) -> Result<Method, D::Error> {
    let s = String::deserialize(d)?;
    Ok(match s.as_str() {
        "single" => Method::Single,
        "approval" => Method::Approval,
        "ranked" => Method::Ranked,
        "schulze" => Method::Schulze,
        "score" => Method::Score,
        "quadratic" => Method::Quadratic,
        _ => {
            return Err(serde::de::Error::custom(format!(
                "unknown method {s:?} (expected single, approval, ranked, schulze, score or quadratic)"
            )));
        }
    })
}

/// A share 0..=1 as basis points.
fn share<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let x = f64::deserialize(d)?;
    if !x.is_finite() || !(0.0..=1.0).contains(&x) {
        return Err(serde::de::Error::custom(format!("{x} is not a share from 0 to 1")));
    }
    Ok((x * schema::governance::BP as f64).round() as u16)
}

/// A moderation action, by name.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ActionName {
    Hide,
    Limit,
    Suspend,
    RemoveFromWorld,
}

/// A juror's verdict, by name.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum VerdictName {
    Uphold,
    Overturn,
}

/// How ballots weigh, by name.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum WeightName {
    #[default]
    Equal,
    Reputation,
}

/// An amount in EGP, as text ("12.50"), in piastres.
fn egp<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    schema::ledger::parse_egp(&s).map_err(serde::de::Error::custom)
}

/// An optional amount in EGP.
fn egp_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| schema::ledger::parse_egp(&s).map_err(serde::de::Error::custom)).transpose()
}

/// A fraction 0..=1 written as text ("0.5"), in basis points.
fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let s = String::deserialize(d)?;
    let (whole, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let bp = (!whole.is_empty() && digits(whole) && digits(frac) && frac.len() <= 4)
        .then(|| Some(whole.parse::<u64>().ok()? * 10_000 + format!("{frac:0<4}").parse::<u64>().ok()?))
        .flatten()
        .filter(|&bp| bp <= 10_000);
    bp.map(|bp| bp as u16).ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a fraction from 0 to 1")))
}

/// A royalty as written: `{"share": "0.10", "scope": "chain|children"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoyaltyLine {
    share: String,
    #[serde(default)]
    scope: ScopeName,
}

#[derive(Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "snake_case")]
enum ScopeName {
    #[default]
    Chain,
    Children,
}

fn royalty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Royalty>, D::Error> {
    let Some(line) = Option::<RoyaltyLine>::deserialize(d)? else { return Ok(None) };
    let share_bp = schema::economy::parse_share(&line.share).map_err(serde::de::Error::custom)?;
    let scope = match line.scope {
        ScopeName::Chain => Scope::Chain,
        ScopeName::Children => Scope::Children,
    };
    Ok(Some(Royalty { share_bp, scope }))
}

/// A listing's kind, by name.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ListingName {
    Sale,
    Commission,
    License,
}

/// The side a contract's proposer takes.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RoleName {
    #[default]
    Client,
    Creator,
}

/// A milestone as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MilestoneLine {
    title: String,
    #[serde(deserialize_with = "egp")]
    amount: u64,
    due: i64,
}

/// The acting user and mask of a command.
fn actor(user: HexId, mask: HexId) -> Actor {
    Actor { user: user.0, mask: mask.0 }
}

/// One line, as written.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    RegisterUser {},
    CreateMask {
        user: HexId,
        #[serde(deserialize_with = "text")]
        kind: MaskKind,
        handle: String,
        #[serde(default)]
        display_name: String,
        #[serde(default)]
        bio: String,
    },
    CreateWorld {
        user: HexId,
        mask: HexId,
        name: String,
        #[serde(default)]
        description: String,
        #[serde(default)]
        tags: Vec<String>,
        rules: Option<Rules>,
    },
    JoinWorld {
        user: HexId,
        mask: HexId,
        world: HexId,
    },
    LeaveWorld {
        user: HexId,
        mask: HexId,
        world: HexId,
    },
    Follow {
        user: HexId,
        mask: HexId,
        target: HexId,
    },
    Unfollow {
        user: HexId,
        mask: HexId,
        target: HexId,
    },
    AcceptCoauthorship {
        user: HexId,
        mask: HexId,
        work: HexId,
    },
    DeclineCoauthorship {
        user: HexId,
        mask: HexId,
        work: HexId,
    },
    Admit {
        user: HexId,
        mask: HexId,
        viewer: HexId,
    },
    Unadmit {
        user: HexId,
        mask: HexId,
        viewer: HexId,
    },
    Endorse {
        user: HexId,
        mask: HexId,
        target: HexId,
    },
    Rate {
        user: HexId,
        mask: HexId,
        target: HexId,
        rating: i8,
    },
    PublishWork {
        user: HexId,
        mask: HexId,
        title: String,
        #[serde(default)]
        description: String,
        world: Option<HexId>,
        #[serde(default, deserialize_with = "royalty")]
        royalty: Option<Royalty>,
    },
    Remix {
        user: HexId,
        mask: HexId,
        original: HexId,
        title: String,
        #[serde(default)]
        description: String,
        #[serde(default, deserialize_with = "royalty")]
        royalty: Option<Royalty>,
    },
    Collaborate {
        user: HexId,
        mask: HexId,
        other: HexId,
    },
    Edit {
        user: HexId,
        mask: HexId,
        target: HexId,
        fields: BTreeMap<String, String>,
    },
    Hide {
        user: HexId,
        mask: HexId,
        target: HexId,
        hidden: bool,
    },
    CreateProposal {
        user: HexId,
        mask: HexId,
        world: HexId,
        title: String,
        #[serde(default)]
        body: String,
        options: Vec<String>,
        #[serde(deserialize_with = "method")]
        method: Method,
        opens_at: Option<i64>,
        closes_at: i64,
        #[serde(default, deserialize_with = "share")]
        quorum: u16,
        #[serde(default, deserialize_with = "share")]
        threshold: u16,
        #[serde(default)]
        one_person_one_vote: bool,
        #[serde(default)]
        weight: WeightName,
        budget: Option<u64>,
        #[serde(default)]
        secret: bool,
        #[serde(default)]
        topic: String,
        rules: Option<Rules>,
        curators: Option<Vec<HexId>>,
    },
    CastVote {
        user: HexId,
        mask: HexId,
        proposal: HexId,
        choices: Vec<u16>,
        #[serde(default)]
        amounts: Vec<u32>,
    },
    WithdrawVote {
        user: HexId,
        mask: HexId,
        proposal: HexId,
    },
    Delegate {
        user: HexId,
        mask: HexId,
        world: HexId,
        to: Option<HexId>,
        #[serde(default)]
        topic: String,
    },
    CloseProposal {
        proposal: HexId,
    },
    Report {
        user: HexId,
        mask: HexId,
        world: HexId,
        target: HexId,
        reason: String,
    },
    Moderate {
        user: HexId,
        mask: HexId,
        world: HexId,
        target: HexId,
        action: ActionName,
        reason: String,
        #[serde(default)]
        rule: String,
        case: Option<HexId>,
    },
    Appeal {
        user: HexId,
        mask: HexId,
        case: HexId,
        statement: String,
    },
    JuryVote {
        user: HexId,
        mask: HexId,
        case: HexId,
        verdict: VerdictName,
        reason: String,
    },
    Transfer {
        user: HexId,
        mask: HexId,
        to: HexId,
        #[serde(deserialize_with = "egp")]
        amount: u64,
        id: String,
        #[serde(default)]
        pending: bool,
        #[serde(default)]
        timeout_ms: i64,
    },
    PostTransfer {
        user: HexId,
        mask: HexId,
        id: String,
        #[serde(default, deserialize_with = "egp_opt")]
        amount: Option<u64>,
    },
    VoidTransfer {
        user: HexId,
        mask: HexId,
        id: String,
    },
    Issue {
        to: HexId,
        #[serde(deserialize_with = "egp")]
        amount: u64,
        reason: String,
        id: Option<String>,
    },
    CreateListing {
        user: HexId,
        mask: HexId,
        work: HexId,
        kind: ListingName,
        title: String,
        #[serde(deserialize_with = "egp")]
        price: u64,
        #[serde(default)]
        terms: String,
    },
    CloseListing {
        user: HexId,
        mask: HexId,
        listing: HexId,
    },
    Buy {
        user: HexId,
        mask: HexId,
        listing: HexId,
        id: String,
    },
    ProposeContract {
        user: HexId,
        mask: HexId,
        counterparty: HexId,
        #[serde(default)]
        role: RoleName,
        world: Option<HexId>,
        milestones: Vec<MilestoneLine>,
        grace_ms: Option<i64>,
    },
    AcceptContract {
        user: HexId,
        mask: HexId,
        contract: HexId,
    },
    CancelContract {
        user: HexId,
        mask: HexId,
        contract: HexId,
    },
    DeliverMilestone {
        user: HexId,
        mask: HexId,
        contract: HexId,
        milestone: u16,
    },
    ApproveMilestone {
        user: HexId,
        mask: HexId,
        contract: HexId,
        milestone: u16,
    },
    DisputeMilestone {
        user: HexId,
        mask: HexId,
        contract: HexId,
        milestone: u16,
        statement: String,
    },
    RuleDispute {
        user: HexId,
        mask: HexId,
        contract: HexId,
        milestone: u16,
        #[serde(deserialize_with = "fraction")]
        creator_share: u16,
        reason: String,
    },
    Tick {},
}

impl Line {
    /// The command, with `fresh` as the id of whatever it creates.
    fn command(self, fresh: Id) -> (Command, Option<Id>) {
        match self {
            Line::RegisterUser {} => (Command::RegisterUser { user: fresh }, Some(fresh)),
            Line::CreateMask { user, kind, handle, display_name, bio } => {
                (Command::CreateMask { user: user.0, mask: fresh, kind, handle, display_name, bio }, Some(fresh))
            }
            Line::CreateWorld { user, mask, name, description, tags, rules } => (
                Command::CreateWorld { actor: actor(user, mask), world: fresh, name, description, tags, rules },
                Some(fresh),
            ),
            Line::JoinWorld { user, mask, world } => {
                (Command::JoinWorld { actor: actor(user, mask), world: world.0 }, None)
            }
            Line::LeaveWorld { user, mask, world } => {
                (Command::LeaveWorld { actor: actor(user, mask), world: world.0 }, None)
            }
            Line::Follow { user, mask, target } => {
                (Command::Follow { actor: actor(user, mask), target: target.0 }, None)
            }
            Line::Unfollow { user, mask, target } => {
                (Command::Unfollow { actor: actor(user, mask), target: target.0 }, None)
            }
            Line::AcceptCoauthorship { user, mask, work } => {
                (Command::AcceptCoauthorship { actor: actor(user, mask), work: work.0 }, None)
            }
            Line::DeclineCoauthorship { user, mask, work } => {
                (Command::DeclineCoauthorship { actor: actor(user, mask), work: work.0 }, None)
            }
            Line::Admit { user, mask, viewer } => (Command::Admit { actor: actor(user, mask), viewer: viewer.0 }, None),
            Line::Unadmit { user, mask, viewer } => {
                (Command::Unadmit { actor: actor(user, mask), viewer: viewer.0 }, None)
            }
            Line::Endorse { user, mask, target } => {
                (Command::Endorse { actor: actor(user, mask), target: target.0 }, None)
            }
            Line::Rate { user, mask, target, rating } => {
                (Command::Rate { actor: actor(user, mask), target: target.0, rating }, None)
            }
            Line::PublishWork { user, mask, title, description, world, royalty } => {
                let command = Command::PublishWork {
                    actor: actor(user, mask),
                    work: fresh,
                    title,
                    description,
                    world: world.map(|w| w.0),
                    authors: Vec::new(),
                    royalty,
                };
                (command, Some(fresh))
            }
            Line::Remix { user, mask, original, title, description, royalty } => {
                let actor = actor(user, mask);
                let command = Command::Remix { actor, work: fresh, original: original.0, title, description, royalty };
                (command, Some(fresh))
            }
            Line::Collaborate { user, mask, other } => {
                (Command::Collaborate { actor: actor(user, mask), other: other.0 }, None)
            }
            Line::Edit { user, mask, target, fields } => (
                Command::Edit { actor: actor(user, mask), target: target.0, fields: fields.into_iter().collect() },
                None,
            ),
            Line::Hide { user, mask, target, hidden } => {
                (Command::Hide { actor: actor(user, mask), target: target.0, hidden }, None)
            }
            Line::CreateProposal {
                user,
                mask,
                world,
                title,
                body,
                options,
                method,
                opens_at,
                closes_at,
                quorum,
                threshold,
                one_person_one_vote,
                weight,
                budget,
                secret,
                topic,
                rules,
                curators,
            } => {
                let new = NewProposal {
                    actor: actor(user, mask),
                    proposal: fresh,
                    world: world.0,
                    title,
                    body,
                    options,
                    method,
                    opens_at_ms: opens_at,
                    closes_at_ms: closes_at,
                    quorum_bp: quorum,
                    threshold_bp: threshold,
                    one_person_one_vote,
                    reputation_weight: weight == WeightName::Reputation,
                    budget,
                    secret,
                    topic,
                    rules,
                    curators: curators.map(|c| c.into_iter().map(|m| m.0).collect()),
                };
                (Command::CreateProposal(Box::new(new)), Some(fresh))
            }
            Line::CastVote { user, mask, proposal, choices, amounts } => (
                Command::CastVote {
                    actor: actor(user, mask),
                    proposal: proposal.0,
                    choice: Choice { choices, amounts },
                },
                None,
            ),
            Line::WithdrawVote { user, mask, proposal } => {
                (Command::WithdrawVote { actor: actor(user, mask), proposal: proposal.0 }, None)
            }
            Line::Delegate { user, mask, world, to, topic } => {
                (Command::Delegate { actor: actor(user, mask), world: world.0, to: to.map(|t| t.0), topic }, None)
            }
            Line::CloseProposal { proposal } => (Command::CloseProposal { proposal: proposal.0 }, None),
            Line::Report { user, mask, world, target, reason } => {
                (Command::Report { actor: actor(user, mask), world: world.0, target: target.0, reason }, None)
            }
            Line::Moderate { user, mask, world, target, action, reason, rule, case } => {
                let action = match action {
                    ActionName::Hide => Action::Hide,
                    ActionName::Limit => Action::Limit,
                    ActionName::Suspend => Action::Suspend,
                    ActionName::RemoveFromWorld => Action::RemoveFromWorld,
                };
                let case = case.map_or(fresh, |c| c.0);
                let command = Command::Moderate {
                    actor: actor(user, mask),
                    case,
                    world: world.0,
                    target: target.0,
                    action,
                    reason,
                    rule,
                };
                (command, Some(case))
            }
            Line::Appeal { user, mask, case, statement } => {
                (Command::Appeal { actor: actor(user, mask), case: case.0, statement }, None)
            }
            Line::JuryVote { user, mask, case, verdict, reason } => {
                let verdict = match verdict {
                    VerdictName::Uphold => Verdict::Uphold,
                    VerdictName::Overturn => Verdict::Overturn,
                };
                (Command::JuryVote { actor: actor(user, mask), case: case.0, verdict, reason }, None)
            }
            Line::Transfer { user, mask, to, amount, id, pending, timeout_ms } => {
                let t = Transfer {
                    id: graph_engine::ledger_key("transfer", mask.0, &id),
                    debit: mask.0,
                    credit: to.0,
                    amount,
                    code: schema::economy::code::TRANSFER,
                    pending,
                    timeout_ms,
                };
                (Command::Transfer { actor: actor(user, mask), transfers: vec![t] }, None)
            }
            Line::PostTransfer { user, mask, id, amount } => {
                let id = graph_engine::ledger_key("transfer", mask.0, &id);
                (Command::Settle { actor: actor(user, mask), id, amount, post: true }, None)
            }
            Line::VoidTransfer { user, mask, id } => {
                let id = graph_engine::ledger_key("transfer", mask.0, &id);
                (Command::Settle { actor: actor(user, mask), id, amount: None, post: false }, None)
            }
            Line::Issue { to, amount, reason, id } => {
                let key = id.unwrap_or_else(|| format!("{reason}\0{amount}"));
                let id = graph_engine::ledger_key("issue", to.0, &key);
                (Command::Issue { grants: vec![(id, to.0, amount)], reason }, None)
            }
            Line::CreateListing { user, mask, work, kind, title, price, terms } => {
                let kind = match kind {
                    ListingName::Sale => ListingKind::Sale,
                    ListingName::Commission => ListingKind::Commission,
                    ListingName::License => ListingKind::License,
                };
                let actor = actor(user, mask);
                (Command::CreateListing { actor, listing: fresh, work: work.0, kind, title, price, terms }, Some(fresh))
            }
            Line::CloseListing { user, mask, listing } => {
                (Command::CloseListing { actor: actor(user, mask), listing: listing.0 }, None)
            }
            Line::Buy { user, mask, listing, id } => {
                let key = graph_engine::ledger_key("buy", mask.0, &id);
                let fee_bp = schema::economy::FEE_BP_DEFAULT;
                (Command::Buy { actor: actor(user, mask), listing: listing.0, key, fee_bp }, None)
            }
            Line::ProposeContract { user, mask, counterparty, role, world, milestones, grace_ms } => {
                let new = NewContract {
                    actor: actor(user, mask),
                    contract: fresh,
                    counterparty: counterparty.0,
                    proposer_pays: role == RoleName::Client,
                    world: world.map(|w| w.0),
                    milestones: milestones.into_iter().map(|m| (m.title, m.amount, m.due)).collect(),
                    grace_ms,
                };
                (Command::ProposeContract(Box::new(new)), Some(fresh))
            }
            Line::AcceptContract { user, mask, contract } => {
                (Command::AcceptContract { actor: actor(user, mask), contract: contract.0 }, None)
            }
            Line::CancelContract { user, mask, contract } => {
                (Command::CancelContract { actor: actor(user, mask), contract: contract.0 }, None)
            }
            Line::DeliverMilestone { user, mask, contract, milestone } => {
                (Command::DeliverMilestone { actor: actor(user, mask), contract: contract.0, milestone }, None)
            }
            Line::ApproveMilestone { user, mask, contract, milestone } => {
                (Command::ApproveMilestone { actor: actor(user, mask), contract: contract.0, milestone }, None)
            }
            Line::DisputeMilestone { user, mask, contract, milestone, statement } => {
                let actor = actor(user, mask);
                (Command::DisputeMilestone { actor, contract: contract.0, milestone, statement }, None)
            }
            Line::RuleDispute { user, mask, contract, milestone, creator_share, reason } => {
                let actor = actor(user, mask);
                let command =
                    Command::RuleDispute { actor, contract: contract.0, milestone, creator_bp: creator_share, reason };
                (command, None)
            }
            Line::Tick {} => (Command::Tick, None),
        }
    }
}

/// Parses one line into a command; new ids come from `engine`. A bad line's error names the
/// field that is wrong (`create_mask.kind: …`).
pub fn parse_line(line: &str, engine: &Engine) -> Result<Parsed, String> {
    let mut json = serde_json::Deserializer::from_str(line);
    let parsed: Line = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if message.starts_with("unknown variant") {
            format!("unknown command: {message}")
        } else if inner.is_syntax() || inner.is_eof() {
            format!("not JSON: {message}")
        } else if path == "." {
            format!("expected one object with one key naming the command: {message}")
        } else {
            format!("{path}: {message}")
        }
    })?;
    json.end().map_err(|e| format!("not JSON: {e}"))?;
    let (command, created) = parsed.command(engine.new_id());
    Ok(Parsed { command, created })
}
