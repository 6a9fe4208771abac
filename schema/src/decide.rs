//! The rules: `decide(command, view) -> events | rejection`. Pure: no IO, no clock, no randomness.

use crate::governance::{
    self, Choice, Facts, Gov, OPTION_CHARS_MAX, OPTIONS_MAX, Privilege, ProposalInfo, Rules, Standing, Weighting,
};
use crate::text::clean_text;
use crate::visibility::{sees_mask, sees_work};
use crate::{
    Actor, Bulk, Command, EdgeBatch, EdgeKind, Erasure, Event, Handle, I64s, Id, ImportBatch, MaskKind, Props, U32s,
    U64s, Value, VertexKind, check_props,
};
use std::collections::{HashMap, HashSet};

mod econ;
mod talk;

/// What the rules may ask of the current graph. The engine implements it over its store (plus
/// the not-yet-committed effects of earlier commands in the same group commit).
pub trait View {
    /// The kind of a vertex, if it exists.
    fn vertex_kind(&self, id: Id) -> Option<VertexKind>;
    /// The kind of a mask, if `mask` is one.
    fn mask_kind(&self, mask: Id) -> Option<MaskKind>;
    /// The user that owns a mask. Private: rules use it, nothing returns it.
    fn owner_of(&self, mask: Id) -> Option<Id>;
    /// The mask holding a handle, if any.
    fn handle_holder(&self, handle: &Handle) -> Option<Id>;
    /// Whether the edge exists.
    fn has_edge(&self, kind: EdgeKind, src: Id, dst: Id) -> bool;
    /// The weight of the edge, if it exists and has one.
    fn edge_weight(&self, kind: EdgeKind, src: Id, dst: Id) -> Option<f32>;
    /// Targets of `src`'s edges of `kind`, at most `limit` of them.
    fn targets(&self, kind: EdgeKind, src: Id, limit: usize) -> Vec<Id>;
    /// Sources of edges of `kind` into `dst`, at most `limit` of them.
    fn sources(&self, kind: EdgeKind, dst: Id, limit: usize) -> Vec<Id>;
    /// How many masks a user owns.
    fn mask_count(&self, user: Id) -> usize;
    /// For an erased user or mask: when its handles may be taken by others (milliseconds since
    /// the Unix epoch). `None` for anything not erased.
    fn erased_until(&self, id: Id) -> Option<i64>;
    /// A world's rules.
    fn rules(&self, world: Id) -> Rules;
    /// A mask's reputation in a world at the latest epoch.
    fn standing(&self, mask: Id, world: Id) -> Standing;
    /// The REPUTATION weights of a world's members at the latest epoch (fixed-point, the most
    /// trusted member weighing [`governance::WEIGHT_SCALE`]), with the epoch's number; None
    /// when no epoch has been computed.
    fn reputation_weights(&self, world: Id) -> Option<(u64, Vec<(Id, u64)>)>;
    /// A proposal.
    fn proposal(&self, proposal: Id) -> Option<ProposalInfo>;
    /// A voter's current ballot on a proposal.
    fn ballot(&self, proposal: Id, mask: Id) -> Option<Choice>;
    /// Every current ballot on a proposal.
    fn ballots(&self, proposal: Id) -> Vec<(Id, governance::CastBallot)>;
    /// A mask's snapshotted REPUTATION weight on a proposal (None: not in the snapshot).
    fn proposal_weight(&self, proposal: Id, mask: Id) -> Option<u64>;
    /// A proposal's snapshotted REPUTATION weights (empty for EQUAL).
    fn proposal_weights(&self, proposal: Id) -> std::collections::BTreeMap<Id, u64>;
    /// A world's delegations: (delegator, topic) → delegate.
    fn delegations(&self, world: Id) -> std::collections::BTreeMap<(Id, String), Id>;
    /// Trust and contribution of each member of a world at the latest epoch (None for a
    /// member the epoch does not know), with the epoch's number; None without an epoch.
    fn member_scores(&self, world: Id) -> Option<(u64, governance::MemberScores)>;
    /// The world a work was published in.
    fn work_world(&self, work: Id) -> Option<Id>;
    /// A moderation case.
    fn case(&self, case: Id) -> Option<governance::Case>;
    /// The action in force against a mask in a world.
    fn sanction(&self, mask: Id, world: Id) -> Option<governance::Action>;
    /// The log's head as the graph stands (sequence number and chain hash).
    fn head(&self) -> (u64, [u8; 32]);
    /// An account's balances (the default for one never used).
    fn account(&self, id: Id) -> crate::ledger::Account;
    /// A known transfer.
    fn stored(&self, id: u128) -> Option<crate::ledger::Stored>;
    /// A listing made through the write path.
    fn listing(&self, listing: Id) -> Option<crate::economy::Listing>;
    /// A trade, by the buyer's key.
    fn trade(&self, id: u128) -> Option<crate::economy::Trade>;
    /// A contract.
    fn contract(&self, contract: Id) -> Option<crate::economy::Contract>;
    /// What the clock at `now_ms` settles: pending transfers past their timeout, and
    /// milestones past their grace period (contract, index); at most `limit` of each.
    fn due(&self, now_ms: i64, limit: usize) -> (Vec<u128>, Vec<(Id, u16)>);
    /// A work's declared royalty.
    fn royalty(&self, work: Id) -> Option<crate::economy::Royalty>;
    /// A property of a vertex as the graph (and what is staged) leaves it.
    fn prop(&self, id: Id, key: &str) -> Option<Value>;
}

/// Why a command was refused. Messages name the rule broken and never reveal a mask's owner.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The acting mask does not exist or is not the actor's: the two look the same on purpose.
    #[error("mask {mask} not found")]
    MaskNotFound {
        /// The mask.
        mask: Id,
    },
    /// A vertex the command names does not exist (or is not of the kind needed).
    #[error("{kind} {id} not found")]
    NotFound {
        /// The kind that was needed.
        kind: VertexKind,
        /// The id given.
        id: Id,
    },
    /// The id of a new vertex is already used.
    #[error("id {id} already exists")]
    AlreadyExists {
        /// The id.
        id: Id,
    },
    /// The handle is not 3..=32 characters of a-z, 0-9 and _.
    #[error("handle {handle:?} must be 3 to 32 characters of a-z, 0-9 and _")]
    InvalidHandle {
        /// The handle given.
        handle: String,
    },
    /// The handle is held by another mask.
    #[error("handle {handle:?} is taken")]
    HandleTaken {
        /// The handle.
        handle: String,
    },
    /// A field is malformed or out of range.
    #[error("{field}: {reason}")]
    InvalidInput {
        /// Path of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The action is already done (already a member, already following).
    #[error("already done: {what}")]
    AlreadyDone {
        /// What.
        what: &'static str,
    },
    /// The action undoes something that is not there (leaving a world one is not in).
    #[error("nothing to undo: {what}")]
    NotDone {
        /// What.
        what: &'static str,
    },
    /// A mask acting on itself where that makes no sense (following, rating itself).
    #[error("a mask cannot {action} itself")]
    SelfAction {
        /// The action.
        action: &'static str,
    },
    /// Masks of one user may not rate, endorse, trade or collaborate with each other. Only the
    /// owner of both can receive this rejection, so it reveals nothing to anyone else.
    #[error("your own masks cannot {action} each other")]
    OwnMasks {
        /// The action.
        action: &'static str,
    },
    /// The remix would close a cycle in the remix chain.
    #[error("remix_of {work} -> {original} would close a remix cycle")]
    RemixCycle {
        /// The remix.
        work: Id,
        /// The original.
        original: Id,
    },
    /// An edge does not connect the vertex kinds its kind allows.
    #[error("a {kind} edge cannot go from a {src} to a {dst}")]
    WrongEndpoints {
        /// The edge kind.
        kind: EdgeKind,
        /// The source's kind.
        src: VertexKind,
        /// The target's kind.
        dst: VertexKind,
    },
    /// The world's rules do not grant the actor what the command needs. Only the actor's
    /// owner receives it.
    #[error("not permitted: {reason}")]
    NotPermitted {
        /// Why, naming the threshold missed.
        reason: String,
    },
    /// The proposal is not open for this (not yet open, or closed).
    #[error("{reason}")]
    NotOpen {
        /// Why.
        reason: String,
    },
    /// Something the command names that is not a vertex does not exist (a case).
    #[error("{what} not found")]
    Missing {
        /// What.
        what: &'static str,
    },
    /// The ledger refused a transfer (an id reused with other fields, a pending transfer that
    /// is not, a post too large). Only the payer's owner receives it.
    #[error("{0}")]
    Refused(crate::ledger::Refusal),
    /// The payer's available funds do not cover the payment. Only the payer's owner learns
    /// the amounts.
    #[error("insufficient funds: {detail}")]
    InsufficientFunds {
        /// What was short.
        detail: String,
    },
    /// The listing no longer sells.
    #[error("the listing is closed")]
    ListingClosed,
    /// The actor is a party to the contract, but not the one that may do this.
    #[error("not a party that may {action}")]
    NotAParty {
        /// What was asked.
        action: &'static str,
    },
    /// A required text (a post's body) is empty.
    #[error("{field}: is empty")]
    EmptyText {
        /// Path of the field.
        field: String,
    },
    /// A text is longer than its limit.
    #[error("{field}: at most {limit} characters (got {got})")]
    TooLong {
        /// Path of the field.
        field: String,
        /// The limit, in characters.
        limit: usize,
        /// The length given, in characters.
        got: usize,
    },
    /// The post (or thread) is hidden by its author or removed by a moderator: nobody may
    /// reply to it or react to it.
    #[error("the post is hidden")]
    PostHidden,
    /// A limit was reached.
    #[error("limit exceeded: at most {limit} {what}")]
    LimitExceeded {
        /// What is limited.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
}

/// The most masks one user may own.
pub const MASKS_PER_USER_MAX: usize = 16;
/// The most viewers one private mask admits.
pub const VIEWERS_MAX: usize = 10_000;
/// The most authors of one work.
pub const AUTHORS_MAX: usize = 32;
/// The most remix_of edges followed when looking for a cycle.
pub const REMIX_WALK_MAX: usize = 100_000;
/// The most vertices one bulk event holds (larger imports are split into several events).
pub const BULK_VERTICES_PER_EVENT: usize = 1 << 16;
/// The most edges one bulk event holds.
pub const BULK_EDGES_PER_EVENT: usize = 1 << 20;

/// Decides a command against the current graph. `now_ms` (milliseconds since the Unix epoch)
/// stamps the edges it creates. Returns the events to append, or why the command is refused.
pub fn decide(command: Command, now_ms: i64, view: &dyn View) -> Result<Vec<Event>, Rejection> {
    let edge = |kind, src, dst, weight| Event::EdgeAdded { kind, src, dst, weight, time_ms: Some(now_ms) };
    match command {
        Command::RegisterUser { user } => {
            fresh(view, user)?;
            Ok(vec![Event::VertexCreated { id: user, kind: VertexKind::User, props: Props::new(), external: None }])
        }
        Command::CreateMask { user, mask, kind, handle, display_name, bio } => {
            if view.vertex_kind(user) != Some(VertexKind::User) {
                return Err(Rejection::NotFound { kind: VertexKind::User, id: user });
            }
            fresh(view, mask)?;
            if view.mask_count(user) >= MASKS_PER_USER_MAX {
                return Err(Rejection::LimitExceeded { what: "masks per user", limit: MASKS_PER_USER_MAX as u64 });
            }
            if view.erased_until(user).is_some() {
                return Err(Rejection::NotFound { kind: VertexKind::User, id: user });
            }
            let handle = Handle::parse(&handle)?;
            // An erased mask holds its handle until its cooling-off ends; then the handle is free.
            let held =
                view.handle_holder(&handle).is_some_and(|holder| view.erased_until(holder).is_none_or(|t| t > now_ms));
            if held {
                return Err(Rejection::HandleTaken { handle: handle.as_str().to_owned() });
            }
            let public =
                text_props([("kind", Some(kind.as_str().to_owned())), ("handle", Some(handle.as_str().to_owned()))])?;
            let personal = text_props([
                ("display_name", Some(clean_text("display_name", &display_name)?)),
                ("bio", Some(clean_text("bio", &bio)?)),
            ])?;
            // Who owns the mask, and what its owner wrote about it, the log keeps sealed.
            Ok(vec![
                Event::VertexCreated { id: mask, kind: VertexKind::Mask, props: public, external: None },
                Event::Owned {
                    owner: user,
                    events: vec![edge(EdgeKind::Owns, user, mask, None), Event::PropsSet { id: mask, props: personal }],
                },
            ])
        }
        Command::CreateWorld { actor, world, name, description, tags, rules } => {
            acting(view, actor)?;
            fresh(view, world)?;
            let name = clean_text("name", &name)?;
            non_empty("name", &name)?;
            let description = clean_text("description", &description)?;
            let mut props = text_props([("name", Some(name)), ("description", Some(description))])?;
            let tags = tags.iter().map(|t| clean_text("tags", t)).collect::<Result<Vec<_>, _>>()?;
            props.insert("tags".into(), Value::List(tags));
            check_props(&props)?;
            let mut events = vec![
                Event::VertexCreated { id: world, kind: VertexKind::World, props, external: None },
                edge(EdgeKind::MemberOf, actor.mask, world, None),
                edge(EdgeKind::Moderates, actor.mask, world, None),
                // The founder moderates; the world's governance designates its trust seeds.
                Event::Gov(Gov::Founded { world }),
            ];
            if let Some(rules) = rules {
                rules.check().map_err(|(field, reason)| Rejection::InvalidInput { field, reason })?;
                events.push(Event::Gov(Gov::RulesSet { world, rules: Box::new(rules), by: None }));
            }
            Ok(events)
        }
        Command::CreateProposal(new) => decide_proposal(*new, now_ms, view),
        Command::CastVote { actor, proposal, choice } => {
            acting(view, actor)?;
            let info = open_proposal(view, proposal, now_ms)?;
            let spec = &info.spec;
            permitted(view, actor.mask, spec.world, Privilege::Vote, now_ms)?;
            if spec.weighting == (Weighting::Reputation { epoch: governance::NOT_SNAPSHOTTED }) {
                return Err(Rejection::NotOpen {
                    reason: "its REPUTATION weights are snapshotted as it opens, within a second of opensAt: \
                             try again in a moment"
                        .into(),
                });
            }
            crate::tally::check_ballot(spec.method, spec.options.len(), spec.budget, &choice.choices, &choice.amounts)
                .map_err(|e| Rejection::InvalidInput { field: e.field.into(), reason: e.reason })?;
            if matches!(spec.weighting, Weighting::Reputation { .. })
                && view.proposal_weight(proposal, actor.mask).is_none()
            {
                return Err(Rejection::NotPermitted {
                    reason: "this proposal weighs votes by reputation at the epoch it was made in, and this mask \
                             was not a member of the world then"
                        .into(),
                });
            }
            if view.ballot(proposal, actor.mask).as_ref() == Some(&choice) {
                return Err(Rejection::AlreadyDone { what: "this ballot is already cast" });
            }
            // Participation is public evidence (contribution reads it); a two-option proposal's
            // side is alignment evidence unless the ballot is secret.
            let side = match (&choice.choices[..], spec.options.len(), spec.secret) {
                ([0], 2, false) => 1.0,
                ([1], 2, false) => -1.0,
                _ => 0.0,
            };
            let vote = Event::Gov(Gov::Voted { proposal, mask: actor.mask, choice: Some(choice) });
            let vote = if spec.secret { Event::Confidential(vec![vote]) } else { vote };
            Ok(vec![vote, edge(EdgeKind::Voted, actor.mask, proposal, Some(side))])
        }
        Command::WithdrawVote { actor, proposal } => {
            acting(view, actor)?;
            open_proposal(view, proposal, now_ms)?;
            if view.ballot(proposal, actor.mask).is_none() {
                return Err(Rejection::NotDone { what: "no ballot to withdraw" });
            }
            Ok(vec![
                Event::Gov(Gov::Voted { proposal, mask: actor.mask, choice: None }),
                Event::EdgeRemoved { kind: EdgeKind::Voted, src: actor.mask, dst: proposal },
            ])
        }
        Command::Delegate { actor, world, to, topic } => {
            acting(view, actor)?;
            exists(view, world, VertexKind::World)?;
            let topic = topic_of(&topic)?;
            let delegations = view.delegations(world);
            let current = delegations.get(&(actor.mask, topic.clone())).copied();
            let Some(to) = to else {
                if current.is_none() {
                    return Err(Rejection::NotDone { what: "no delegation to take back" });
                }
                return Ok(vec![Event::Gov(Gov::Delegated { world, mask: actor.mask, topic, to: None })]);
            };
            permitted(view, actor.mask, world, Privilege::Vote, now_ms)?;
            other_mask(view, actor, to, "delegate to")?;
            if !view.has_edge(EdgeKind::MemberOf, to, world) {
                return Err(Rejection::InvalidInput {
                    field: "to".into(),
                    reason: "is not a member of this world".into(),
                });
            }
            if current == Some(to) {
                return Err(Rejection::AlreadyDone { what: "delegated to this mask" });
            }
            if governance::closes_cycle(&delegations, actor.mask, to, &topic) {
                return Err(Rejection::InvalidInput {
                    field: "to".into(),
                    reason: "this delegation would close a cycle (the delegate's chain comes back to you)".into(),
                });
            }
            Ok(vec![Event::Gov(Gov::Delegated { world, mask: actor.mask, topic, to: Some(to) })])
        }
        Command::Report { actor, world, target, reason } => {
            acting(view, actor)?;
            exists(view, world, VertexKind::World)?;
            permitted(view, actor.mask, world, Privilege::Report, now_ms)?;
            in_world(view, actor, world, target)?;
            if target == actor.mask {
                return Err(Rejection::SelfAction { action: "report" });
            }
            let reason = required_text("reason", &reason)?;
            // Sealed: nobody reading the log learns who reported.
            Ok(vec![Event::Confidential(vec![Event::Gov(Gov::Reported {
                world,
                reporter: actor.mask,
                target,
                reason,
            })])])
        }
        Command::Moderate { actor, case, world, target, action, reason, rule } => {
            acting(view, actor)?;
            exists(view, world, VertexKind::World)?;
            // A case the governance AI flagged gets its action here; any other id is new.
            let flagged = match view.case(case) {
                Some(c) if c.status == governance::CaseStatus::Flagged => {
                    if (c.world, c.target) != (world, target) {
                        return Err(Rejection::InvalidInput {
                            field: "case".into(),
                            reason: "the flagged case is about another world or target".into(),
                        });
                    }
                    true
                }
                Some(_) => return Err(Rejection::AlreadyDone { what: "this case has its action" }),
                None if view.vertex_kind(case).is_some() => return Err(Rejection::AlreadyExists { id: case }),
                None => false,
            };
            permitted(view, actor.mask, world, Privilege::Moderate, now_ms)?;
            let reason = required_text("reason", &reason)?;
            let rule = clean_text("rule", &rule)?.trim().to_owned();
            if rule.chars().count() > governance::REASON_CHARS_MAX {
                return Err(Rejection::InvalidInput { field: "rule".into(), reason: "too long".into() });
            }
            let kind = in_world(view, actor, world, target)?;
            if target == actor.mask {
                return Err(Rejection::SelfAction { action: "moderate" });
            }
            let mut events = Vec::new();
            match (action, kind) {
                (governance::Action::Hide, VertexKind::Work) => events.push(Event::PropsSet {
                    id: target,
                    props: [("hidden".to_owned(), Value::Bool(true))].into_iter().collect(),
                }),
                (governance::Action::Hide, VertexKind::Post | VertexKind::Thread) => {
                    events.extend(talk::removal(view, target, true))
                }
                (governance::Action::Hide, _) => {
                    return Err(Rejection::InvalidInput {
                        field: "action".into(),
                        reason: "HIDE is for works, threads and posts; act on a mask with LIMIT, SUSPEND or \
                                 REMOVE_FROM_WORLD"
                            .into(),
                    });
                }
                (_, VertexKind::Mask) => {
                    if view.sanction(target, world).is_some() {
                        return Err(Rejection::AlreadyDone { what: "an action against this mask is in force here" });
                    }
                    if action == governance::Action::RemoveFromWorld {
                        events.extend(leave(view, target, world));
                    }
                }
                _ => {
                    return Err(Rejection::InvalidInput {
                        field: "action".into(),
                        reason: "LIMIT, SUSPEND and REMOVE_FROM_WORLD act on masks; HIDE a work, thread or post".into(),
                    });
                }
            }
            if flagged {
                events.insert(0, Event::Gov(Gov::CaseActed { case, moderator: actor.mask, action, rule, reason }));
                return Ok(events);
            }
            let body = governance::Case {
                world,
                target,
                action: Some(action),
                rule,
                reason,
                moderator: Some(actor.mask),
                opened_ms: now_ms,
                evidence: Vec::new(),
                status: governance::CaseStatus::InForce,
                appeals: Vec::new(),
            };
            events.insert(0, Event::Gov(Gov::CaseOpened { case, body: Box::new(body) }));
            Ok(events)
        }
        Command::FlagCase { case, world, target, rule, reason, evidence } => {
            exists(view, world, VertexKind::World)?;
            if view.case(case).is_some() || view.vertex_kind(case).is_some() {
                return Err(Rejection::AlreadyExists { id: case });
            }
            let member =
                view.vertex_kind(target) == Some(VertexKind::Mask) && view.has_edge(EdgeKind::MemberOf, target, world);
            let work = view.vertex_kind(target) == Some(VertexKind::Work) && view.work_world(target) == Some(world);
            if !member && !work {
                return Err(Rejection::InvalidInput {
                    field: "target".into(),
                    reason: "is neither a member of the world nor a work published in it".into(),
                });
            }
            let rule = required_text("rule", &rule)?;
            let reason = required_text("reason", &reason)?;
            if evidence.len() > governance::EVIDENCE_LINES_MAX {
                return Err(Rejection::LimitExceeded {
                    what: "lines of evidence",
                    limit: governance::EVIDENCE_LINES_MAX as u64,
                });
            }
            let evidence =
                evidence.iter().map(|line| required_text("evidence", line)).collect::<Result<Vec<_>, _>>()?;
            let body = governance::Case {
                world,
                target,
                action: None,
                rule,
                reason,
                moderator: None,
                opened_ms: now_ms,
                evidence,
                status: governance::CaseStatus::Flagged,
                appeals: Vec::new(),
            };
            Ok(vec![Event::Gov(Gov::CaseOpened { case, body: Box::new(body) })])
        }
        Command::Appeal { actor, case, statement } => {
            acting(view, actor)?;
            let body = view.case(case).ok_or(Rejection::Missing { what: "case" })?;
            let party = actor.mask == body.target || view.has_edge(EdgeKind::Authored, actor.mask, body.target);
            if !party {
                return Err(Rejection::NotPermitted { reason: "only the mask a case acted on may appeal it".into() });
            }
            let Some(action) = body.action else {
                return Err(Rejection::NotOpen { reason: "no action has been taken on this case yet".into() });
            };
            if body.status == governance::CaseStatus::Overturned {
                return Err(Rejection::AlreadyDone { what: "overturned" });
            }
            if body.appeals.last().is_some_and(|a| a.verdict.is_none()) {
                return Err(Rejection::AlreadyDone { what: "appealed; the jury has not decided yet" });
            }
            if body.appeals.len() >= governance::APPEALS_MAX {
                return Err(Rejection::LimitExceeded {
                    what: "appeals of one case",
                    limit: governance::APPEALS_MAX as u64,
                });
            }
            let since = body.appeals.last().and_then(|a| a.decided_ms).unwrap_or(body.opened_ms);
            let closes = since.saturating_add(view.rules(body.world).appeal_window_ms);
            if now_ms > closes {
                return Err(Rejection::NotOpen {
                    reason: format!("the appeal window closed at {closes} (milliseconds since the Unix epoch)"),
                });
            }
            let statement = required_text("statement", &statement)?;
            let _ = action;
            let size = crate::jury::SIZES[body.appeals.len()];
            let (seed_seq, seed_hash) = view.head();
            let jury = draw_jury(view, &body, size, seed_hash, now_ms)
                .map_err(|e| Rejection::NotOpen { reason: e.to_string() })?;
            let appeal = governance::Appeal {
                statement,
                filed_ms: now_ms,
                seed_seq,
                seed_hash,
                jury,
                votes: Default::default(),
                verdict: None,
                decided_ms: None,
            };
            Ok(vec![Event::Gov(Gov::Appealed { case, appeal: Box::new(appeal) })])
        }
        Command::JuryVote { actor, case, verdict, reason } => {
            acting(view, actor)?;
            let body = view.case(case).ok_or(Rejection::Missing { what: "case" })?;
            let Some(appeal) = body.appeals.last().filter(|a| a.verdict.is_none()) else {
                return Err(Rejection::NotOpen { reason: "no appeal of this case awaits a verdict".into() });
            };
            if !appeal.jury.contains(&actor.mask) {
                return Err(Rejection::NotPermitted { reason: "not a juror of this appeal".into() });
            }
            if appeal.votes.contains_key(&actor.mask) {
                return Err(Rejection::AlreadyDone { what: "voted on this appeal" });
            }
            let reason = required_text("reason", &reason)?;
            let count = |v| appeal.votes.values().filter(|(x, _)| *x == v).count() + usize::from(verdict == v);
            let decided = crate::jury::verdict(
                appeal.jury.len(),
                count(crate::jury::Verdict::Uphold),
                count(crate::jury::Verdict::Overturn),
            );
            let mut events = vec![Event::Gov(Gov::JuryVoted { case, juror: actor.mask, verdict, reason })];
            if let Some(decided) = decided {
                events.push(Event::Gov(Gov::Decided { case, verdict: decided, at_ms: now_ms }));
                if decided == crate::jury::Verdict::Overturn {
                    events.extend(undo(view, &body));
                }
            }
            Ok(events)
        }
        Command::OpenProposal { proposal } => {
            let info =
                view.proposal(proposal).ok_or(Rejection::NotFound { kind: VertexKind::Proposal, id: proposal })?;
            if info.spec.weighting != (Weighting::Reputation { epoch: governance::NOT_SNAPSHOTTED }) {
                return Err(Rejection::AlreadyDone { what: "its weights are fixed" });
            }
            if info.closed || now_ms < info.spec.opens_at_ms {
                return Err(Rejection::NotOpen {
                    reason: format!("it opens at {} (milliseconds since the Unix epoch)", info.spec.opens_at_ms),
                });
            }
            let (weighting, weights) = snapshot(view, info.spec.world)?;
            let Weighting::Reputation { epoch } = weighting else { unreachable!("a snapshot is of reputation") };
            Ok(vec![Event::Gov(Gov::Snapshotted { proposal, epoch, weights })])
        }
        Command::CloseProposal { proposal } => {
            let info =
                view.proposal(proposal).ok_or(Rejection::NotFound { kind: VertexKind::Proposal, id: proposal })?;
            if info.closed {
                return Err(Rejection::AlreadyDone { what: "closed" });
            }
            if now_ms < info.spec.closes_at_ms {
                return Err(Rejection::NotOpen {
                    reason: format!("voting closes at {} (milliseconds since the Unix epoch)", info.spec.closes_at_ms),
                });
            }
            let outcome = governance::outcome(view, proposal, true).expect("the proposal exists");
            let adopt = outcome.status == governance::Status::Passed && outcome.count.winner == Some(0);
            let mut events = vec![Event::Gov(Gov::Closed { proposal, outcome: Box::new(outcome) })];
            if let (true, Some(rules)) = (adopt, info.spec.rules) {
                events.push(Event::Gov(Gov::RulesSet {
                    world: info.spec.world,
                    rules: Box::new(rules),
                    by: Some(proposal),
                }));
            }
            if let (true, Some(curators)) = (adopt, info.spec.curators) {
                events.push(Event::Gov(Gov::CuratorsSet { world: info.spec.world, curators, by: proposal }));
            }
            Ok(events)
        }
        Command::JoinWorld { actor, world } => {
            acting(view, actor)?;
            exists(view, world, VertexKind::World)?;
            if view.sanction(actor.mask, world) == Some(governance::Action::RemoveFromWorld) {
                return Err(Rejection::NotPermitted {
                    reason: "removed from this world by a moderator's case; appeal it to return".into(),
                });
            }
            if view.has_edge(EdgeKind::MemberOf, actor.mask, world) {
                return Err(Rejection::AlreadyDone { what: "member of this world" });
            }
            Ok(vec![edge(EdgeKind::MemberOf, actor.mask, world, None)])
        }
        Command::LeaveWorld { actor, world } => {
            acting(view, actor)?;
            exists(view, world, VertexKind::World)?;
            if !view.has_edge(EdgeKind::MemberOf, actor.mask, world) {
                return Err(Rejection::NotDone { what: "not a member of this world" });
            }
            Ok(leave(view, actor.mask, world))
        }
        Command::Follow { actor, target } => {
            acting(view, actor)?;
            other_mask(view, actor, target, "follow")?;
            if view.mask_kind(target) == Some(MaskKind::Private) && !view.has_edge(EdgeKind::Admits, target, actor.mask)
            {
                // Only the owner, or a user it admitted through another mask, gets this far.
                return Err(Rejection::NotDone { what: "only a mask this private mask admitted may follow it" });
            }
            if view.has_edge(EdgeKind::Follows, actor.mask, target) {
                return Err(Rejection::AlreadyDone { what: "following this mask" });
            }
            Ok(vec![edge(EdgeKind::Follows, actor.mask, target, None)])
        }
        Command::Unfollow { actor, target } => {
            acting(view, actor)?;
            if !view.has_edge(EdgeKind::Follows, actor.mask, target) {
                return Err(Rejection::NotDone { what: "not following this mask" });
            }
            Ok(vec![Event::EdgeRemoved { kind: EdgeKind::Follows, src: actor.mask, dst: target }])
        }
        Command::Admit { actor, viewer } => {
            acting(view, actor)?;
            if view.mask_kind(actor.mask) != Some(MaskKind::Private) {
                return Err(Rejection::InvalidInput {
                    field: "as".into(),
                    reason: "only a private mask admits viewers; everyone sees the others".into(),
                });
            }
            other_mask(view, actor, viewer, "admit")?;
            if view.has_edge(EdgeKind::Admits, actor.mask, viewer) {
                return Err(Rejection::AlreadyDone { what: "admitted" });
            }
            if view.targets(EdgeKind::Admits, actor.mask, VIEWERS_MAX).len() >= VIEWERS_MAX {
                return Err(Rejection::LimitExceeded {
                    what: "viewers of one private mask",
                    limit: VIEWERS_MAX as u64,
                });
            }
            Ok(vec![edge(EdgeKind::Admits, actor.mask, viewer, None)])
        }
        Command::Unadmit { actor, viewer } => {
            acting(view, actor)?;
            if !view.has_edge(EdgeKind::Admits, actor.mask, viewer) {
                return Err(Rejection::NotDone { what: "not admitted" });
            }
            let mut events = vec![Event::EdgeRemoved { kind: EdgeKind::Admits, src: actor.mask, dst: viewer }];
            if view.has_edge(EdgeKind::Follows, viewer, actor.mask) {
                events.push(Event::EdgeRemoved { kind: EdgeKind::Follows, src: viewer, dst: actor.mask });
            }
            Ok(events)
        }
        Command::AcceptCoauthorship { actor, work } => {
            acting(view, actor)?;
            let Some(share) = view.edge_weight(EdgeKind::Invited, actor.mask, work) else {
                return Err(Rejection::NotDone { what: "no invitation to co-author this work" });
            };
            Ok(vec![
                Event::EdgeRemoved { kind: EdgeKind::Invited, src: actor.mask, dst: work },
                edge(EdgeKind::Authored, actor.mask, work, Some(share)),
            ])
        }
        Command::DeclineCoauthorship { actor, work } => {
            acting(view, actor)?;
            if !view.has_edge(EdgeKind::Invited, actor.mask, work) {
                return Err(Rejection::NotDone { what: "no invitation to co-author this work" });
            }
            Ok(vec![Event::EdgeRemoved { kind: EdgeKind::Invited, src: actor.mask, dst: work }])
        }
        Command::Rate { actor, target, rating } => {
            acting(view, actor)?;
            other_mask(view, actor, target, "rate")?;
            not_own(view, actor, target, "rate")?;
            let weight = Some(f32::from(rating));
            EdgeKind::Rates
                .check_weight(weight)
                .map_err(|e| Rejection::InvalidInput { field: "rating".into(), reason: e.to_string() })?;
            Ok(vec![edge(EdgeKind::Rates, actor.mask, target, weight)])
        }
        Command::Endorse { actor, target } => {
            acting(view, actor)?;
            match view.vertex_kind(target) {
                Some(VertexKind::Mask) => {
                    other_mask(view, actor, target, "endorse")?;
                    not_own(view, actor, target, "endorse")?;
                }
                Some(VertexKind::Work) => {
                    seen_work(view, actor, target)?;
                    for author in view.sources(EdgeKind::Authored, target, AUTHORS_MAX) {
                        not_own(view, actor, author, "endorse")?;
                    }
                }
                Some(VertexKind::Post) => {
                    if !crate::visibility::sees_post(view, Some(actor.user), target) {
                        return Err(Rejection::NotFound { kind: VertexKind::Post, id: target });
                    }
                    for writer in view.sources(EdgeKind::Wrote, target, 1) {
                        if writer == actor.mask {
                            return Err(Rejection::SelfAction { action: "endorse a post of" });
                        }
                        not_own(view, actor, writer, "endorse")?;
                    }
                }
                _ => return Err(Rejection::NotFound { kind: VertexKind::Work, id: target }),
            }
            if view.has_edge(EdgeKind::Endorses, actor.mask, target) {
                return Err(Rejection::AlreadyDone { what: "endorsed" });
            }
            Ok(vec![edge(EdgeKind::Endorses, actor.mask, target, None)])
        }
        Command::PublishWork { actor, work, title, description, world, authors, royalty } => {
            acting(view, actor)?;
            fresh(view, work)?;
            let (title, description) = (clean_text("title", &title)?, clean_text("description", &description)?);
            non_empty("title", &title)?;
            let authors = if authors.is_empty() { vec![(actor.mask, 1.0)] } else { authors };
            check_authors(view, actor, &authors)?;
            let mut props = text_props([("title", Some(title)), ("description", Some(description))])?;
            props.extend(royalty.map(econ::royalty_props).transpose()?.unwrap_or_default());
            if let Some(world) = world {
                exists(view, world, VertexKind::World)?;
                if !view.has_edge(EdgeKind::MemberOf, actor.mask, world) {
                    return Err(Rejection::NotDone { what: "not a member of this world" });
                }
                props.insert("world".into(), Value::Str(world.to_string()));
            }
            let mut events = vec![Event::VertexCreated { id: work, kind: VertexKind::Work, props, external: None }];
            // The publisher is its author; every other mask named is invited, and shown on the
            // work only once it accepts.
            events.extend(authors.iter().map(|&(mask, share)| {
                let kind = if mask == actor.mask { EdgeKind::Authored } else { EdgeKind::Invited };
                edge(kind, mask, work, Some(share))
            }));
            Ok(events)
        }
        Command::Remix { actor, work, original, title, description, royalty } => {
            acting(view, actor)?;
            fresh(view, work)?;
            seen_work(view, actor, original)?;
            let (title, description) = (clean_text("title", &title)?, clean_text("description", &description)?);
            non_empty("title", &title)?;
            let mut props = text_props([("title", Some(title)), ("description", Some(description))])?;
            props.extend(royalty.map(econ::royalty_props).transpose()?.unwrap_or_default());
            // A new work has no edges yet, so this remix cannot close a cycle.
            Ok(vec![
                Event::VertexCreated { id: work, kind: VertexKind::Work, props, external: None },
                edge(EdgeKind::Authored, actor.mask, work, Some(1.0)),
                edge(EdgeKind::RemixOf, work, original, None),
            ])
        }
        Command::DeclareRemix { actor, work, original } => {
            acting(view, actor)?;
            exists(view, work, VertexKind::Work)?;
            seen_work(view, actor, original)?;
            if !view.has_edge(EdgeKind::Authored, actor.mask, work) {
                return Err(Rejection::NotFound { kind: VertexKind::Work, id: work });
            }
            if view.has_edge(EdgeKind::RemixOf, work, original) {
                return Err(Rejection::AlreadyDone { what: "declared as a remix" });
            }
            if work == original || remix_reaches(view, original, work) {
                return Err(Rejection::RemixCycle { work, original });
            }
            Ok(vec![edge(EdgeKind::RemixOf, work, original, None)])
        }
        Command::Collaborate { actor, other } => {
            acting(view, actor)?;
            other_mask(view, actor, other, "collaborate with")?;
            not_own(view, actor, other, "collaborate with")?;
            if view.has_edge(EdgeKind::Collaborates, actor.mask, other)
                || view.has_edge(EdgeKind::Collaborates, other, actor.mask)
            {
                return Err(Rejection::AlreadyDone { what: "collaborating" });
            }
            if view.has_edge(EdgeKind::Asks, actor.mask, other) {
                return Err(Rejection::AlreadyDone { what: "asked to collaborate; waiting for the other to ask back" });
            }
            // Collaboration takes two: the first to ask waits for the other to ask back.
            if view.has_edge(EdgeKind::Asks, other, actor.mask) {
                return Ok(vec![
                    Event::EdgeRemoved { kind: EdgeKind::Asks, src: other, dst: actor.mask },
                    edge(EdgeKind::Collaborates, other, actor.mask, None),
                ]);
            }
            Ok(vec![edge(EdgeKind::Asks, actor.mask, other, None)])
        }
        Command::Edit { actor, target, fields } => {
            acting(view, actor)?;
            let kind = may_change(view, actor, target)?;
            let allowed: &[&str] = match kind {
                VertexKind::World => &["name", "description"],
                VertexKind::Work => &["title", "description"],
                _ => &["display_name", "bio"],
            };
            if fields.is_empty() {
                return Err(Rejection::InvalidInput { field: "fields".into(), reason: "nothing to change".into() });
            }
            let mut props = Props::new();
            for (key, text) in fields {
                if !allowed.contains(&key.as_str()) {
                    return Err(Rejection::InvalidInput {
                        field: key.chars().take(64).collect(),
                        reason: format!(
                            "a {kind} has no editable field of that name (editable: {})",
                            allowed.join(", ")
                        ),
                    });
                }
                let text = clean_text(&key, &text)?;
                if matches!(key.as_str(), "name" | "title" | "display_name") {
                    non_empty(&key, &text)?;
                }
                props.insert(key, Value::Str(text));
            }
            check_props(&props)?;
            let set = Event::PropsSet { id: target, props };
            // A mask's editable fields are its owner's personal text: sealed in the log.
            Ok(vec![if kind == VertexKind::Mask { Event::Owned { owner: actor.user, events: vec![set] } } else { set }])
        }
        Command::Hide { actor, target, hidden } => {
            acting(view, actor)?;
            may_change(view, actor, target)?;
            let props: Props = [("hidden".to_owned(), Value::Bool(hidden))].into_iter().collect();
            Ok(vec![Event::PropsSet { id: target, props }])
        }
        Command::Transfer { .. }
        | Command::Settle { .. }
        | Command::Issue { .. }
        | Command::Tick
        | Command::CreateListing { .. }
        | Command::CloseListing { .. }
        | Command::Buy { .. }
        | Command::ProposeContract(_)
        | Command::AcceptContract { .. }
        | Command::DeliverMilestone { .. }
        | Command::ApproveMilestone { .. }
        | Command::CancelContract { .. }
        | Command::DisputeMilestone { .. }
        | Command::RuleDispute { .. } => econ::decide(command, now_ms, view),
        Command::StartThread { .. }
        | Command::Reply { .. }
        | Command::EditPost { .. }
        | Command::HidePost { .. }
        | Command::React { .. } => talk::decide(command, now_ms, view),
        Command::Import(batch) => decide_import(batch, view),
        Command::EraseAccount { user, hide_works, handle_cooling_off_ms } => {
            if view.vertex_kind(user) != Some(VertexKind::User) || view.erased_until(user).is_some() {
                return Err(Rejection::NotFound { kind: VertexKind::User, id: user });
            }
            let masks = view.targets(EdgeKind::Owns, user, MASKS_PER_USER_MAX);
            let handles_free_at_ms = now_ms.saturating_add(handle_cooling_off_ms.max(0));
            Ok(vec![Event::Erased(Erasure { user, masks, hide_works, handles_free_at_ms })])
        }
    }
}

/// The properties of a mask that only its owner's key may read in the log.
pub const PERSONAL_PROPS: [&str; 2] = ["display_name", "bio"];

/// Whether the actor may edit or hide `target`: a world's moderators, a work's authors, a
/// mask itself. Anyone else is told the target does not exist, as when it does not.
fn may_change(view: &dyn View, actor: Actor, target: Id) -> Result<VertexKind, Rejection> {
    let kind = view.vertex_kind(target);
    let allowed = match kind {
        Some(VertexKind::World) => view.has_edge(EdgeKind::Moderates, actor.mask, target),
        Some(VertexKind::Work) => view.has_edge(EdgeKind::Authored, actor.mask, target),
        Some(VertexKind::Mask) => {
            if target != actor.mask {
                return Err(Rejection::MaskNotFound { mask: target });
            }
            true
        }
        _ => false,
    };
    match kind {
        Some(kind) if allowed => Ok(kind),
        _ => Err(Rejection::NotFound {
            kind: kind.filter(|k| *k != VertexKind::User).unwrap_or(VertexKind::Work),
            id: target,
        }),
    }
}

fn fresh(view: &dyn View, id: Id) -> Result<(), Rejection> {
    match view.vertex_kind(id) {
        Some(_) => Err(Rejection::AlreadyExists { id }),
        None => Ok(()),
    }
}

fn exists(view: &dyn View, id: Id, kind: VertexKind) -> Result<(), Rejection> {
    if view.vertex_kind(id) == Some(kind) { Ok(()) } else { Err(Rejection::NotFound { kind, id }) }
}

/// The actor's user must own the actor's mask; otherwise the mask "does not exist".
fn acting(view: &dyn View, actor: Actor) -> Result<(), Rejection> {
    if view.vertex_kind(actor.mask) == Some(VertexKind::Mask) && view.owner_of(actor.mask) == Some(actor.user) {
        Ok(())
    } else {
        Err(Rejection::MaskNotFound { mask: actor.mask })
    }
}

/// `target` is another mask the actor's user may see; a private mask they may not see is "not
/// found", exactly as a mask that does not exist (`NotFound`; `MaskNotFound` is for the actor).
fn other_mask(view: &dyn View, actor: Actor, target: Id, action: &'static str) -> Result<(), Rejection> {
    if target == actor.mask {
        return Err(Rejection::SelfAction { action });
    }
    if view.vertex_kind(target) != Some(VertexKind::Mask) || !sees_mask(view, Some(actor.user), target) {
        return Err(Rejection::NotFound { kind: VertexKind::Mask, id: target });
    }
    Ok(())
}

/// `work` is a work the actor's user may see (see [`crate::visibility::sees_work`]).
fn seen_work(view: &dyn View, actor: Actor, work: Id) -> Result<(), Rejection> {
    if view.vertex_kind(work) != Some(VertexKind::Work) || !sees_work(view, Some(actor.user), work) {
        return Err(Rejection::NotFound { kind: VertexKind::Work, id: work });
    }
    Ok(())
}

/// Whether `mask` holds `privilege` in `world` under its rules; the reason when not.
pub fn privilege(view: &dyn View, mask: Id, world: Id, privilege: Privilege, now_ms: i64) -> Result<(), String> {
    let rules = view.rules(world);
    let needs = rules.requirement(privilege);
    // A mask's standing costs a pass over the world's members: read it only when the rule asks.
    let standing = if needs.trust_percentile > 0 || needs.contribution > 0.0 {
        view.standing(mask, world)
    } else {
        Standing::default()
    };
    governance::check_privilege(&rules, privilege, &facts(view, mask, world, standing, now_ms))
}

fn facts(view: &dyn View, mask: Id, world: Id, standing: Standing, now_ms: i64) -> Facts {
    Facts {
        member: view.has_edge(EdgeKind::MemberOf, mask, world),
        moderator: view.has_edge(EdgeKind::Moderates, mask, world),
        standing,
        age_ms: now_ms.saturating_sub(mask.unix_ms() as i64),
        sanction: view.sanction(mask, world),
    }
}

/// The user behind a mask for the jury's exclusions (the mask itself when it has none).
fn person(view: &dyn View, mask: Id) -> Id {
    view.owner_of(mask).unwrap_or(mask)
}

/// Draws the jury of an appeal of `case`: members holding the jury privilege, weighted by
/// trust, excluding every mask of the parties' and the moderator's users.
fn draw_jury(
    view: &dyn View,
    case: &governance::Case,
    size: usize,
    seed: [u8; 32],
    now_ms: i64,
) -> Result<Vec<Id>, crate::jury::TooFew> {
    let mut parties: Vec<Id> = case.moderator.iter().copied().collect();
    parties.push(case.target);
    match view.vertex_kind(case.target) {
        Some(VertexKind::Work) => parties.extend(view.sources(EdgeKind::Authored, case.target, AUTHORS_MAX)),
        Some(VertexKind::Post | VertexKind::Thread) => parties.extend(view.sources(EdgeKind::Wrote, case.target, 1)),
        _ => {}
    }
    draw_world_jury(view, case.world, &parties, size, seed, now_ms)
}

/// Draws a jury of `size` from the members of `world` holding its jury privilege, weighted by
/// trust at the latest epoch, excluding every mask of the users behind `parties`. One
/// mechanism for appeals of moderation and for contract disputes.
pub(crate) fn draw_world_jury(
    view: &dyn View,
    world: Id,
    parties: &[Id],
    size: usize,
    seed: [u8; 32],
    now_ms: i64,
) -> Result<Vec<Id>, crate::jury::TooFew> {
    let rules = view.rules(world);
    let (epoch, members) = match view.member_scores(world) {
        Some((epoch, members)) => (Some(epoch), members),
        None => (
            None,
            view.sources(EdgeKind::MemberOf, world, governance::ELIGIBLE_MAX).into_iter().map(|m| (m, None)).collect(),
        ),
    };
    let standings = governance::standings(epoch, &members);
    let candidates: Vec<crate::jury::Candidate> = members
        .iter()
        .filter(|(m, _)| {
            let facts = facts(view, *m, world, standings[m], now_ms);
            governance::check_privilege(&rules, Privilege::Jury, &facts).is_ok()
        })
        .map(|&(mask, scores)| crate::jury::Candidate {
            mask,
            person: person(view, mask),
            trust: scores.map_or(0.0, |(t, _)| t),
        })
        .collect();
    let excluded: Vec<Id> = parties.iter().map(|&m| person(view, m)).collect();
    crate::jury::draw(&candidates, &excluded, size, crate::jury::seed_of(&seed))
}

/// The events that lift a case's action.
fn undo(view: &dyn View, case: &governance::Case) -> Vec<Event> {
    match case.action {
        Some(governance::Action::Hide)
            if matches!(view.vertex_kind(case.target), Some(VertexKind::Post | VertexKind::Thread)) =>
        {
            talk::removal(view, case.target, false)
        }
        Some(governance::Action::Hide) => vec![Event::PropsSet {
            id: case.target,
            props: [("hidden".to_owned(), Value::Bool(false))].into_iter().collect(),
        }],
        Some(governance::Action::RemoveFromWorld)
            if view.vertex_kind(case.target) == Some(VertexKind::Mask)
                && !view.has_edge(EdgeKind::MemberOf, case.target, case.world) =>
        {
            vec![Event::EdgeAdded {
                kind: EdgeKind::MemberOf,
                src: case.target,
                dst: case.world,
                weight: None,
                time_ms: Some(case.opened_ms),
            }]
        }
        _ => Vec::new(),
    }
}

/// The events of a mask leaving a world (and its moderation of it).
fn leave(view: &dyn View, mask: Id, world: Id) -> Vec<Event> {
    let mut events = vec![Event::EdgeRemoved { kind: EdgeKind::MemberOf, src: mask, dst: world }];
    if view.has_edge(EdgeKind::Moderates, mask, world) {
        events.push(Event::EdgeRemoved { kind: EdgeKind::Moderates, src: mask, dst: world });
    }
    events
}

/// The kind of `target` if it is a mask that is a member of `world` or a work published in it,
/// and one the actor may see.
fn in_world(view: &dyn View, actor: Actor, world: Id, target: Id) -> Result<VertexKind, Rejection> {
    match view.vertex_kind(target) {
        Some(VertexKind::Mask) if sees_mask(view, Some(actor.user), target) => {
            if !view.has_edge(EdgeKind::MemberOf, target, world) {
                return Err(Rejection::InvalidInput {
                    field: "target".into(),
                    reason: "is not a member of this world".into(),
                });
            }
            Ok(VertexKind::Mask)
        }
        Some(VertexKind::Work) if sees_work(view, Some(actor.user), target) => {
            if view.work_world(target) != Some(world) {
                return Err(Rejection::InvalidInput {
                    field: "target".into(),
                    reason: "was not published in this world".into(),
                });
            }
            Ok(VertexKind::Work)
        }
        Some(kind @ (VertexKind::Post | VertexKind::Thread)) => match talk::world_of_seen(view, actor, target) {
            Some(w) if w == world => Ok(kind),
            Some(_) => {
                Err(Rejection::InvalidInput { field: "target".into(), reason: "was not posted in this world".into() })
            }
            None => Err(Rejection::NotFound { kind, id: target }),
        },
        _ => Err(Rejection::NotFound { kind: VertexKind::Mask, id: target }),
    }
}

/// A required public text: cleaned, not empty, not too long.
fn required_text(field: &str, text: &str) -> Result<String, Rejection> {
    let text = clean_text(field, text)?.trim().to_owned();
    if text.is_empty() {
        return Err(Rejection::InvalidInput { field: field.into(), reason: "is required, and it is public".into() });
    }
    if text.chars().count() > governance::REASON_CHARS_MAX {
        return Err(Rejection::InvalidInput {
            field: field.into(),
            reason: format!("at most {} characters", governance::REASON_CHARS_MAX),
        });
    }
    Ok(text)
}

fn permitted(view: &dyn View, mask: Id, world: Id, what: Privilege, now_ms: i64) -> Result<(), Rejection> {
    privilege(view, mask, world, what, now_ms).map_err(|reason| Rejection::NotPermitted { reason })
}

/// A proposal open for voting now.
fn open_proposal(view: &dyn View, proposal: Id, now_ms: i64) -> Result<ProposalInfo, Rejection> {
    let info = view.proposal(proposal).ok_or(Rejection::NotFound { kind: VertexKind::Proposal, id: proposal })?;
    if info.closed || now_ms >= info.spec.closes_at_ms {
        return Err(Rejection::NotOpen { reason: "voting on this proposal has closed".into() });
    }
    if now_ms < info.spec.opens_at_ms {
        return Err(Rejection::NotOpen {
            reason: format!("voting opens at {} (milliseconds since the Unix epoch)", info.spec.opens_at_ms),
        });
    }
    Ok(info)
}

/// The REPUTATION weights of `world`'s members at the latest epoch.
fn snapshot(view: &dyn View, world: Id) -> Result<(Weighting, Vec<(Id, u64)>), Rejection> {
    let (epoch, weights) = view.reputation_weights(world).ok_or_else(|| Rejection::NotOpen {
        reason: "no reputation epoch has been computed yet: REPUTATION weight needs one".into(),
    })?;
    if weights.len() > governance::SNAPSHOT_MAX {
        return Err(Rejection::LimitExceeded {
            what: "members in a REPUTATION-weighted proposal's world",
            limit: governance::SNAPSHOT_MAX as u64,
        });
    }
    Ok((Weighting::Reputation { epoch }, weights))
}

fn topic_of(topic: &str) -> Result<String, Rejection> {
    let topic = clean_text("topic", topic)?.trim().to_lowercase();
    if topic.len() > governance::TOPIC_BYTES_MAX {
        return Err(Rejection::InvalidInput {
            field: "topic".into(),
            reason: format!("at most {} bytes", governance::TOPIC_BYTES_MAX),
        });
    }
    Ok(topic)
}

/// How far in the past `opensAt` may be (clients' clocks differ); earlier is refused.
const OPENS_SLACK_MS: i64 = 5 * 60 * 1000;

fn decide_proposal(new: crate::NewProposal, now_ms: i64, view: &dyn View) -> Result<Vec<Event>, Rejection> {
    let crate::NewProposal {
        actor,
        proposal,
        world,
        title,
        body,
        options,
        method,
        opens_at_ms,
        closes_at_ms,
        quorum_bp,
        threshold_bp,
        one_person_one_vote,
        reputation_weight,
        budget,
        secret,
        topic,
        rules,
        curators,
    } = new;
    let bad = |field: &str, reason: String| Rejection::InvalidInput { field: field.into(), reason };
    acting(view, actor)?;
    fresh(view, proposal)?;
    exists(view, world, VertexKind::World)?;
    permitted(view, actor.mask, world, Privilege::Propose, now_ms)?;
    let title = clean_text("title", &title)?;
    non_empty("title", &title)?;
    let body = clean_text("body", &body)?;
    if !(2..=OPTIONS_MAX).contains(&options.len()) {
        return Err(bad("options", format!("give 2 to {OPTIONS_MAX} options, not {}", options.len())));
    }
    let mut labels = Vec::with_capacity(options.len());
    for (i, option) in options.iter().enumerate() {
        let field = format!("options[{i}]");
        let label = clean_text(&field, option)?.trim().to_owned();
        if label.is_empty() || label.chars().count() > OPTION_CHARS_MAX {
            return Err(bad(&field, format!("1 to {OPTION_CHARS_MAX} characters")));
        }
        if labels.contains(&label) {
            return Err(bad(&field, "listed twice".into()));
        }
        labels.push(label);
    }
    let opens = opens_at_ms.unwrap_or(now_ms);
    if opens < now_ms - OPENS_SLACK_MS {
        return Err(bad("opensAt", "is in the past".into()));
    }
    let opens = opens.max(now_ms);
    if closes_at_ms <= opens {
        return Err(bad("closesAt", "must be after opensAt (and after now)".into()));
    }
    if closes_at_ms - opens > governance::VOTING_MS_MAX {
        return Err(bad("closesAt", "voting may last at most a year".into()));
    }
    for (field, bp) in [("quorum", quorum_bp), ("threshold", threshold_bp)] {
        if u64::from(bp) > governance::BP {
            return Err(bad(field, "is a share from 0 to 1".into()));
        }
    }
    let budget = match (method, budget) {
        (crate::tally::Method::Quadratic, None) => governance::DEFAULT_BUDGET,
        (crate::tally::Method::Quadratic, Some(b)) if (1..=1_000_000).contains(&b) => b,
        (crate::tally::Method::Quadratic, Some(_)) => return Err(bad("budget", "is 1 to 1,000,000 credits".into())),
        (_, None) => 0,
        (_, Some(_)) => return Err(bad("budget", "only QUADRATIC proposals have a budget".into())),
    };
    if let Some(rules) = &rules {
        rules.check().map_err(|(field, reason)| Rejection::InvalidInput { field, reason })?;
        if labels.len() != 2 {
            return Err(bad("options", "a rules proposal has two options: adopt (0) and reject (1)".into()));
        }
    }
    if let Some(curators) = &curators {
        if rules.is_some() {
            return Err(bad("curators", "a proposal changes the rules or the curators, not both".into()));
        }
        if labels.len() != 2 {
            return Err(bad("options", "a curators proposal has two options: adopt (0) and reject (1)".into()));
        }
        if curators.is_empty() || curators.len() > governance::CURATORS_MAX {
            return Err(bad("curators", format!("name 1 to {} curators", governance::CURATORS_MAX)));
        }
        for (i, &mask) in curators.iter().enumerate() {
            let field = format!("curators[{i}]");
            if view.vertex_kind(mask) != Some(VertexKind::Mask) || !sees_mask(view, Some(actor.user), mask) {
                return Err(Rejection::NotFound { kind: VertexKind::Mask, id: mask });
            }
            if !view.has_edge(EdgeKind::MemberOf, mask, world) {
                return Err(bad(&field, "is not a member of this world".into()));
            }
            if curators[..i].contains(&mask) {
                return Err(bad(&field, "listed twice".into()));
            }
        }
    }
    let topic = topic_of(&topic)?;
    let (weighting, weights) = if reputation_weight && opens > now_ms {
        // Snapshotted when it opens (`Command::OpenProposal`, the server's clock).
        (Weighting::Reputation { epoch: governance::NOT_SNAPSHOTTED }, Vec::new())
    } else if reputation_weight {
        snapshot(view, world)?
    } else {
        (Weighting::Equal, Vec::new())
    };
    let mut props = text_props([("title", Some(title)), ("body", Some(body))])?;
    props.insert("world".into(), Value::Str(world.to_string()));
    let spec = governance::ProposalSpec {
        world,
        author: actor.mask,
        options: labels,
        method,
        opens_at_ms: opens,
        closes_at_ms,
        quorum_bp,
        threshold_bp,
        one_person_one_vote,
        weighting,
        budget,
        secret,
        topic,
        rules,
        curators,
    };
    Ok(vec![
        Event::VertexCreated { id: proposal, kind: VertexKind::Proposal, props, external: None },
        Event::Gov(Gov::Proposed { proposal, spec: Box::new(spec), weights }),
    ])
}

fn not_own(view: &dyn View, actor: Actor, target: Id, action: &'static str) -> Result<(), Rejection> {
    if view.owner_of(target) == Some(actor.user) { Err(Rejection::OwnMasks { action }) } else { Ok(()) }
}

fn non_empty(field: &str, text: &str) -> Result<(), Rejection> {
    if text.trim().is_empty() {
        return Err(Rejection::InvalidInput { field: field.into(), reason: "must not be empty".into() });
    }
    Ok(())
}

fn text_props<const N: usize>(fields: [(&str, Option<String>); N]) -> Result<Props, Rejection> {
    let props: Props = fields.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), Value::Str(v)))).collect();
    check_props(&props)?;
    Ok(props)
}

fn check_authors(view: &dyn View, actor: Actor, authors: &[(Id, f32)]) -> Result<(), Rejection> {
    if authors.len() > AUTHORS_MAX {
        return Err(Rejection::LimitExceeded { what: "authors", limit: AUTHORS_MAX as u64 });
    }
    if !authors.iter().any(|&(mask, _)| mask == actor.mask) {
        return Err(Rejection::InvalidInput { field: "authors".into(), reason: "must include the actor".into() });
    }
    let mut seen = HashSet::new();
    let mut total = 0.0f64;
    for (i, &(mask, share)) in authors.iter().enumerate() {
        if view.vertex_kind(mask) != Some(VertexKind::Mask) || !sees_mask(view, Some(actor.user), mask) {
            return Err(Rejection::NotFound { kind: VertexKind::Mask, id: mask });
        }
        if !seen.insert(mask) {
            return Err(Rejection::InvalidInput { field: format!("authors[{i}]"), reason: "listed twice".into() });
        }
        EdgeKind::Authored
            .check_weight(Some(share))
            .map_err(|e| Rejection::InvalidInput { field: format!("authors[{i}].share"), reason: e.to_string() })?;
        total += f64::from(share);
    }
    if (total - 1.0).abs() > 1e-4 {
        return Err(Rejection::InvalidInput {
            field: "authors".into(),
            reason: format!("shares must add up to 1, not {total}"),
        });
    }
    Ok(())
}

/// Whether `from` reaches `to` along remix_of edges.
fn remix_reaches(view: &dyn View, from: Id, to: Id) -> bool {
    let mut stack = vec![from];
    let mut seen = HashSet::from([from]);
    while let Some(work) = stack.pop() {
        if work == to || seen.len() > REMIX_WALK_MAX {
            // A chain this long is itself a sign of abuse: refuse it as if it were a cycle.
            return true;
        }
        for parent in view.targets(EdgeKind::RemixOf, work, REMIX_WALK_MAX) {
            if seen.insert(parent) {
                stack.push(parent);
            }
        }
    }
    false
}

fn decide_import(batch: ImportBatch, view: &dyn View) -> Result<Vec<Event>, Rejection> {
    let ImportBatch { source, vertices, refs, edges } = batch;
    let table_len = vertices.len() + refs.len();
    if table_len > u32::MAX as usize {
        return Err(Rejection::LimitExceeded { what: "vertices in one import", limit: u64::from(u32::MAX) });
    }
    // Kinds of every position in the import's vertex table.
    let mut kinds = Vec::with_capacity(table_len);
    let mut handles = HashSet::new();
    for vertex in &vertices {
        fresh(view, vertex.id)?;
        check_props(&vertex.props)?;
        if let Some(handle) = vertex.props.get("handle").and_then(Value::as_str) {
            let handle = Handle::parse(handle)?;
            if view.handle_holder(&handle).is_some() || !handles.insert(handle.clone()) {
                return Err(Rejection::HandleTaken { handle: handle.as_str().to_owned() });
            }
        }
        kinds.push(vertex.kind);
    }
    for &id in &refs {
        let kind = view.vertex_kind(id).ok_or(Rejection::NotFound { kind: VertexKind::Mask, id })?;
        kinds.push(kind);
    }
    let id_at = |i: u32| {
        let i = i as usize;
        if i < vertices.len() { vertices[i].id } else { refs[i - vertices.len()] }
    };

    let mut edge_total = 0u64;
    for batch in &edges {
        check_edge_batch(batch, &kinds)?;
        edge_total += batch.len() as u64;
    }
    check_import_own_masks(&edges, &id_at, !refs.is_empty(), view)?;
    check_import_remixes(&edges, &id_at, view)?;

    // Owner links, and the personal text of the masks they own, leave the bulk parts for
    // envelopes sealed under each owner's key, after the import's `End`.
    let (owns, edges): (Vec<EdgeBatch>, Vec<EdgeBatch>) = edges.into_iter().partition(|b| b.kind == EdgeKind::Owns);
    let mut vertices = vertices;
    let owned = owned_events(&owns, &id_at_owned(&vertices, &refs), &mut vertices);
    let edge_total = edge_total - owns.iter().map(|b| b.len() as u64).sum::<u64>();
    let mut events = vec![Event::Bulk(Bulk::Begin { source, vertices: vertices.len() as u64, edges: edge_total })];
    push_vertices(&mut events, vertices);
    for chunk in refs.chunks(BULK_VERTICES_PER_EVENT) {
        events.push(Event::Bulk(Bulk::Refs { ids: U64s(chunk.iter().map(|id| id.0).collect()) }));
    }
    for batch in edges {
        push_edges(&mut events, batch);
    }
    events.push(Event::Bulk(Bulk::End));
    events.extend(owned);
    Ok(events)
}

/// The import's vertex table as ids: new vertices, then references.
fn id_at_owned(vertices: &[crate::NewVertex], refs: &[Id]) -> Vec<Id> {
    vertices.iter().map(|v| v.id).chain(refs.iter().copied()).collect()
}

/// One [`Event::Owned`] per owner (in id order): its `owns` edges, and the personal text of
/// each new mask it owns, taken out of the mask's bulk properties.
fn owned_events(owns: &[EdgeBatch], ids: &[Id], vertices: &mut [crate::NewVertex]) -> Vec<Event> {
    let new_count = vertices.len();
    let mut by_owner: std::collections::BTreeMap<Id, Vec<Event>> = std::collections::BTreeMap::new();
    for batch in owns {
        for (i, (&s, &d)) in batch.src.iter().zip(&batch.dst).enumerate() {
            let (user, mask) = (ids[s as usize], ids[d as usize]);
            let weight = batch.weight.as_ref().and_then(|w| crate::weight_of(w.0[i]));
            let time_ms = batch.time_ms.as_ref().and_then(|t| crate::time_of(t.0[i]));
            let events = by_owner.entry(user).or_default();
            events.push(Event::EdgeAdded { kind: EdgeKind::Owns, src: user, dst: mask, weight, time_ms });
            if (d as usize) < new_count {
                let props = &mut vertices[d as usize].props;
                let personal: Props = PERSONAL_PROPS.iter().filter_map(|k| props.remove_entry(*k)).collect();
                if !personal.is_empty() {
                    events.push(Event::PropsSet { id: mask, props: personal });
                }
            }
        }
    }
    by_owner.into_iter().map(|(owner, events)| Event::Owned { owner, events }).collect()
}

/// Masks of one user may not rate, endorse, trade or collaborate with each other, in an import
/// as anywhere else. Owners come from the view and from the import's own `owns` edges.
fn check_import_own_masks(
    edges: &[EdgeBatch],
    id_at: &dyn Fn(u32) -> Id,
    uses_existing: bool,
    view: &dyn View,
) -> Result<(), Rejection> {
    let pairs = |kind: EdgeKind| {
        edges
            .iter()
            .filter(move |b| b.kind == kind)
            .flat_map(|b| b.src.iter().zip(&b.dst).map(|(&s, &d)| (id_at(s), id_at(d))))
    };
    let owners: HashMap<Id, Id> = pairs(EdgeKind::Owns).map(|(user, mask)| (mask, user)).collect();
    if owners.is_empty() && !uses_existing {
        return Ok(()); // Nobody owns anything here: researchers' edge lists.
    }
    let owner = |id: Id| owners.get(&id).copied().or_else(|| view.owner_of(id));
    let mut authors: HashMap<Id, Vec<Id>> = HashMap::new();
    for (mask, work) in pairs(EdgeKind::Authored) {
        authors.entry(work).or_default().push(mask);
    }
    for kind in [EdgeKind::Rates, EdgeKind::Endorses, EdgeKind::Traded, EdgeKind::Collaborates] {
        for (s, d) in pairs(kind) {
            let Some(actor) = owner(s) else { continue };
            // Endorsing a work counts as endorsing each of its authors.
            let mut targets = authors.get(&d).cloned().unwrap_or_default();
            if view.vertex_kind(d) == Some(VertexKind::Work) {
                targets.extend(view.sources(EdgeKind::Authored, d, AUTHORS_MAX));
            }
            targets.push(d);
            if targets.into_iter().any(|t| owner(t) == Some(actor)) {
                return Err(Rejection::OwnMasks { action: kind.as_str() });
            }
        }
    }
    Ok(())
}

/// The import's remix_of edges, together with those in the view, must not form a cycle. Any
/// cycle passes through a new edge, so a depth-first search from the new edges' sources finds it.
fn check_import_remixes(edges: &[EdgeBatch], id_at: &dyn Fn(u32) -> Id, view: &dyn View) -> Result<(), Rejection> {
    let mut extra: HashMap<Id, Vec<Id>> = HashMap::new();
    for batch in edges.iter().filter(|b| b.kind == EdgeKind::RemixOf) {
        for (&s, &d) in batch.src.iter().zip(&batch.dst) {
            extra.entry(id_at(s)).or_default().push(id_at(d));
        }
    }
    let parents = |work: Id| {
        let mut next = view.targets(EdgeKind::RemixOf, work, REMIX_WALK_MAX);
        next.extend(extra.get(&work).into_iter().flatten().copied());
        next
    };
    // 1 = on the current path, 2 = finished.
    let mut state: HashMap<Id, u8> = HashMap::new();
    let mut starts: Vec<Id> = extra.keys().copied().collect();
    starts.sort_unstable();
    for start in starts {
        if state.contains_key(&start) {
            continue;
        }
        let mut stack = vec![(start, parents(start), 0usize)];
        state.insert(start, 1);
        while let Some((work, next, i)) = stack.last_mut() {
            if let Some(&parent) = next.get(*i) {
                *i += 1;
                let work = *work;
                match state.get(&parent) {
                    Some(1) => return Err(Rejection::RemixCycle { work, original: parent }),
                    Some(_) => {}
                    None => {
                        if state.len() > REMIX_WALK_MAX {
                            return Err(Rejection::LimitExceeded {
                                what: "works in one remix walk",
                                limit: REMIX_WALK_MAX as u64,
                            });
                        }
                        state.insert(parent, 1);
                        let grand = parents(parent);
                        stack.push((parent, grand, 0));
                    }
                }
            } else {
                state.insert(*work, 2);
                stack.pop();
            }
        }
    }
    Ok(())
}

fn check_edge_batch(batch: &EdgeBatch, kinds: &[VertexKind]) -> Result<(), Rejection> {
    let n = batch.src.len();
    let bad_len = batch.dst.len() != n
        || batch.weight.as_ref().is_some_and(|w| w.0.len() != n)
        || batch.time_ms.as_ref().is_some_and(|t| t.0.len() != n);
    if bad_len {
        return Err(Rejection::InvalidInput { field: "edges".into(), reason: "columns differ in length".into() });
    }
    let (sources, targets) = batch.kind.endpoints();
    // Sorted and free of duplicates (the engine builds its adjacency straight from it), no
    // self-loops, and inside the table: one tight pass.
    let len = kinds.len() as u32;
    let mut previous: u64 = 0;
    for i in 0..n {
        let (s, d) = (batch.src[i], batch.dst[i]);
        let key = (u64::from(s) << 32) | u64::from(d);
        if s >= len || d >= len || s == d || (i > 0 && key <= previous) {
            let reason = if s >= len || d >= len {
                "names a vertex outside the import's table"
            } else if s == d {
                return Err(Rejection::SelfAction { action: batch.kind.as_str() });
            } else {
                "edges must be sorted by (source, target) without duplicates"
            };
            return Err(Rejection::InvalidInput { field: format!("edges.{}[{i}]", batch.kind), reason: reason.into() });
        }
        previous = key;
    }
    // Endpoint kinds: skipped when every vertex of the table may be at either end.
    let uniform = kinds.iter().all(|k| sources.contains(k) && targets.contains(k));
    if !uniform {
        for i in 0..n {
            let (sk, dk) = (kinds[batch.src[i] as usize], kinds[batch.dst[i] as usize]);
            if !sources.contains(&sk) || !targets.contains(&dk) {
                return Err(Rejection::WrongEndpoints { kind: batch.kind, src: sk, dst: dk });
            }
        }
    }
    if let Some(weights) = &batch.weight {
        for (i, &w) in weights.0.iter().enumerate() {
            // A row without a weight (`NO_WEIGHT`) is checked as one: fine unless the kind needs it.
            batch.kind.check_weight(crate::weight_of(w)).map_err(|e| Rejection::InvalidInput {
                field: format!("edges.{}[{i}].{}", batch.kind, batch.kind.weight_name().unwrap_or("weight")),
                reason: e.to_string(),
            })?;
        }
    } else if n > 0 {
        batch
            .kind
            .check_weight(None)
            .map_err(|e| Rejection::InvalidInput { field: format!("edges.{}", batch.kind), reason: e.to_string() })?;
    }
    Ok(())
}

fn push_vertices(events: &mut Vec<Event>, vertices: Vec<crate::NewVertex>) {
    // Group consecutive vertices of one kind into events of bounded size.
    let mut iter = vertices.into_iter().peekable();
    while let Some(first) = iter.next() {
        let kind = first.kind;
        let with_props = !first.props.is_empty();
        let (mut ids, mut external, mut props) = (vec![first.id.0], vec![first.external], vec![first.props]);
        while ids.len() < BULK_VERTICES_PER_EVENT {
            match iter.next_if(|v| v.kind == kind) {
                Some(v) => {
                    ids.push(v.id.0);
                    external.push(v.external);
                    props.push(v.props);
                }
                None => break,
            }
        }
        if !with_props && props.iter().all(Props::is_empty) {
            props.clear();
        }
        events.push(Event::Bulk(Bulk::Vertices { kind, ids: U64s(ids), external, props }));
    }
}

fn push_edges(events: &mut Vec<Event>, batch: EdgeBatch) {
    let n = batch.len();
    let mut start = 0;
    while start < n {
        let end = (start + BULK_EDGES_PER_EVENT).min(n);
        events.push(Event::Bulk(Bulk::Edges {
            kind: batch.kind,
            src: U32s(batch.src[start..end].to_vec()),
            dst: U32s(batch.dst[start..end].to_vec()),
            weight: batch.weight.as_ref().map(|w| crate::F32s(w.0[start..end].to_vec())),
            time_ms: batch.time_ms.as_ref().map(|t| I64s(t.0[start..end].to_vec())),
        }));
        start = end;
    }
}
