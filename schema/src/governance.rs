//! Governance: world rules and the privileges they grant, proposals, ballots, delegation and
//! results. Pure, like the rest of schema: [`Governance`] is the state the events build
//! ([`Gov`]), and [`outcome`] counts a proposal from a [`View`] — the same function for the
//! live result, for the result recorded when the proposal closes, and for a recount from the log.
//!
//! Quorum and threshold follow Aragon's definitions: *participation* is the voting weight
//! counted over the weight of everyone eligible (the world's members, people rather than masks
//! under one-person-one-vote), met at or above the quorum; *support* is the winner's share of
//! what was counted, met only strictly above the threshold. Both are integer comparisons in
//! basis points, so no rounding decides a vote.

use crate::tally::{self, Ballot, Count, Method};
use crate::{EdgeKind, Id, View};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The most options a proposal may have (the tallies' limit).
pub use crate::tally::OPTIONS_MAX;
/// The longest option label, in characters.
pub const OPTION_CHARS_MAX: usize = 200;
/// The longest topic, in bytes.
pub const TOPIC_BYTES_MAX: usize = 64;
/// The most members a world's REPUTATION-weighted proposal snapshots.
pub const SNAPSHOT_MAX: usize = 200_000;
/// The most members counted for one proposal.
pub const ELIGIBLE_MAX: usize = 1_000_000;
/// The longest delegation chain followed.
pub const CHAIN_MAX: usize = 100_000;
/// The longest a proposal may stay open: a year.
pub const VOTING_MS_MAX: i64 = 366 * 24 * 3600 * 1000;
/// The quadratic budget when a proposal gives none.
pub const DEFAULT_BUDGET: u64 = 100;
/// The fixed-point scale of REPUTATION weights: the world's most trusted member weighs this.
pub const WEIGHT_SCALE: u64 = 1_000_000;
/// Basis points in one whole.
pub const BP: u64 = 10_000;

/// What a world's rules grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Privilege {
    /// Open a proposal.
    Propose,
    /// Vote on the world's proposals (and delegate one's vote).
    Vote,
    /// Report a mask or work of the world.
    Report,
    /// Act on reports: hide, limit, suspend, remove.
    Moderate,
    /// Sit on a jury deciding an appeal.
    Jury,
    /// Post in the world.
    Post,
}

impl Privilege {
    /// Every privilege.
    pub const ALL: [Privilege; 6] =
        [Privilege::Propose, Privilege::Vote, Privilege::Report, Privilege::Moderate, Privilege::Jury, Privilege::Post];

    /// The verb used in reasons ("needed to propose").
    pub fn verb(self) -> &'static str {
        match self {
            Privilege::Propose => "propose",
            Privilege::Vote => "vote",
            Privilege::Report => "report",
            Privilege::Moderate => "moderate",
            Privilege::Jury => "sit on juries",
            Privilege::Post => "post",
        }
    }
}

/// Who a requirement starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Any mask.
    Anyone,
    /// Members of the world.
    Member,
    /// The world's moderators.
    Moderator,
}

/// What a mask needs for one privilege: a role, and thresholds on its reputation in the world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Requirement {
    /// The role needed.
    pub role: Role,
    /// The least trust percentile among the world's members (0 = none needed).
    pub trust_percentile: u8,
    /// The least contribution score (0 = none needed).
    pub contribution: f64,
    /// The least age of the mask, in days (0 = none needed).
    pub age_days: u32,
}

impl Requirement {
    /// Just a role.
    pub const fn role(role: Role) -> Requirement {
        Requirement { role, trust_percentile: 0, contribution: 0.0, age_days: 0 }
    }
}

/// A world's rules. Set when the world is founded; changed only by a passed proposal of the
/// world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// Who may open proposals.
    pub propose: Requirement,
    /// Who may vote and delegate.
    pub vote: Requirement,
    /// Who may report.
    pub report: Requirement,
    /// Who may moderate.
    pub moderate: Requirement,
    /// Who may sit on juries.
    pub jury: Requirement,
    /// Who may post.
    pub post: Requirement,
    /// How long after a moderation action its target may appeal, in milliseconds.
    pub appeal_window_ms: i64,
}

impl Default for Rules {
    /// Any member may vote, report and post; the world's moderators (its founder first) may
    /// propose and moderate; members above the world's median trust may sit on juries; appeals
    /// within a week.
    fn default() -> Rules {
        Rules {
            propose: Requirement::role(Role::Moderator),
            vote: Requirement::role(Role::Member),
            report: Requirement::role(Role::Member),
            moderate: Requirement::role(Role::Moderator),
            jury: Requirement { trust_percentile: 50, ..Requirement::role(Role::Member) },
            post: Requirement::role(Role::Member),
            appeal_window_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

impl Rules {
    /// The requirement for `privilege`.
    pub fn requirement(&self, privilege: Privilege) -> &Requirement {
        match privilege {
            Privilege::Propose => &self.propose,
            Privilege::Vote => &self.vote,
            Privilege::Report => &self.report,
            Privilege::Moderate => &self.moderate,
            Privilege::Jury => &self.jury,
            Privilege::Post => &self.post,
        }
    }

    /// The requirement for `privilege`, to change.
    pub fn requirement_mut(&mut self, privilege: Privilege) -> &mut Requirement {
        match privilege {
            Privilege::Propose => &mut self.propose,
            Privilege::Vote => &mut self.vote,
            Privilege::Report => &mut self.report,
            Privilege::Moderate => &mut self.moderate,
            Privilege::Jury => &mut self.jury,
            Privilege::Post => &mut self.post,
        }
    }

    /// Checks the rules' own ranges: percentiles 0..=100, contribution finite and ≥ 0, an
    /// appeal window of at most a year.
    pub fn check(&self) -> Result<(), (String, String)> {
        for privilege in Privilege::ALL {
            let r = self.requirement(privilege);
            let field = |f: &str| format!("rules.{}.{f}", format!("{privilege:?}").to_lowercase());
            if r.trust_percentile > 100 {
                return Err((field("trustPercentile"), "is 0 to 100".into()));
            }
            if !r.contribution.is_finite() || r.contribution < 0.0 {
                return Err((field("contribution"), "is a finite number ≥ 0".into()));
            }
            if r.age_days > 3650 {
                return Err((field("ageDays"), "is at most 3650".into()));
            }
        }
        if !(0..=VOTING_MS_MAX).contains(&self.appeal_window_ms) {
            return Err(("rules.appealWindowMs".into(), "is 0 to a year".into()));
        }
        Ok(())
    }
}

/// A mask's reputation in a world at the latest epoch, as the rules see it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Standing {
    /// The epoch the figures come from (None: no epoch has been computed yet).
    pub epoch: Option<u64>,
    /// The share of the world's members with less trust, in percent (0..=100).
    pub trust_percentile: Option<u8>,
    /// The mask's contribution score.
    pub contribution: Option<f64>,
}

/// What [`check_privilege`] looks at.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// A member of the world.
    pub member: bool,
    /// One of its moderators.
    pub moderator: bool,
    /// Its reputation there.
    pub standing: Standing,
    /// How old the mask is, in milliseconds.
    pub age_ms: i64,
    /// A moderation action in force against the mask in the world.
    pub sanction: Option<Action>,
}

/// Whether `facts` meet `privilege` under `rules`; the reason when not (for the mask's owner:
/// it may name the mask's age).
pub fn check_privilege(rules: &Rules, privilege: Privilege, facts: &Facts) -> Result<(), String> {
    let r = rules.requirement(privilege);
    let verb = privilege.verb();
    match facts.sanction {
        Some(Action::Suspend) => return Err(format!("suspended in this world: may not {verb}")),
        Some(Action::RemoveFromWorld) => return Err(format!("removed from this world: may not {verb}")),
        Some(Action::Limit) if !matches!(privilege, Privilege::Vote | Privilege::Report) => {
            return Err(format!("limited in this world: may not {verb}"));
        }
        _ => {}
    }
    match r.role {
        Role::Anyone => {}
        Role::Member if !facts.member => return Err(format!("only members of this world may {verb}")),
        Role::Moderator if !facts.moderator => return Err(format!("only this world's moderators may {verb}")),
        _ => {}
    }
    if r.trust_percentile > 0 {
        match facts.standing.trust_percentile {
            None if facts.standing.epoch.is_none() => {
                return Err(format!(
                    "no reputation epoch yet: trust percentile {} needed to {verb}",
                    r.trust_percentile
                ));
            }
            None => {
                return Err(format!(
                    "no trust in this world yet: trust percentile {} needed to {verb}",
                    r.trust_percentile
                ));
            }
            Some(p) if p < r.trust_percentile => {
                return Err(format!("trust percentile {p} < {} needed to {verb}", r.trust_percentile));
            }
            Some(_) => {}
        }
    }
    if r.contribution > 0.0 {
        let c = facts.standing.contribution.unwrap_or(0.0);
        if c < r.contribution {
            return Err(format!("contribution {c:.3} < {:.3} needed to {verb}", r.contribution));
        }
    }
    if r.age_days > 0 {
        let days = facts.age_ms.max(0) / (24 * 3600 * 1000);
        if days < i64::from(r.age_days) {
            return Err(format!("mask age {days} days < {} needed to {verb}", r.age_days));
        }
    }
    Ok(())
}

/// Each member of a world with its trust and contribution at an epoch (None: the epoch does
/// not know it).
pub type MemberScores = Vec<(Id, Option<(f64, f64)>)>;

/// Every member's standing in a world from its members' scores: the percentile is the share
/// of members with less trust (members the epoch does not know have none).
pub fn standings(epoch: Option<u64>, members: &[(Id, Option<(f64, f64)>)]) -> HashMap<Id, Standing> {
    let mut trusts: Vec<f64> = members.iter().map(|(_, s)| s.map_or(f64::NEG_INFINITY, |(t, _)| t)).collect();
    trusts.sort_by(f64::total_cmp);
    let n = members.len().max(1);
    members
        .iter()
        .map(|&(m, scores)| {
            let standing = match scores {
                Some((t, c)) => {
                    let below = trusts.partition_point(|&x| x < t);
                    Standing { epoch, trust_percentile: Some((below * 100 / n) as u8), contribution: Some(c) }
                }
                None => Standing { epoch, ..Standing::default() },
            };
            (m, standing)
        })
        .collect()
}

/// How ballots weigh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Weighting {
    /// Every counted voter weighs 1.
    Equal,
    /// Each member weighs its trust in the world at the epoch current when the proposal
    /// opened, snapshotted then ([`Gov::Proposed`] carries the weights of one open at once,
    /// [`Gov::Snapshotted`] those of one that opened later; until then `epoch` is
    /// [`NOT_SNAPSHOTTED`]).
    Reputation {
        /// The epoch.
        epoch: u64,
    },
}

/// A proposal as made (its title and body are the proposal vertex's properties).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposalSpec {
    /// The world it belongs to.
    pub world: Id,
    /// The mask that made it.
    pub author: Id,
    /// The options' labels.
    pub options: Vec<String>,
    /// How it is counted.
    pub method: Method,
    /// When voting opens (milliseconds since the Unix epoch).
    pub opens_at_ms: i64,
    /// When voting closes.
    pub closes_at_ms: i64,
    /// Participation needed, in basis points of the eligible weight.
    pub quorum_bp: u16,
    /// Support the winner must exceed, in basis points of what was counted.
    pub threshold_bp: u16,
    /// Count each person once, whichever of their masks vote.
    pub one_person_one_vote: bool,
    /// How ballots weigh.
    pub weighting: Weighting,
    /// QUADRATIC's credit budget per voter.
    pub budget: u64,
    /// Who voted what is kept secret (the ballots are sealed in the log; the counts show only
    /// once the proposal closes).
    pub secret: bool,
    /// The topic delegations may name ("" for none).
    pub topic: String,
    /// Rules the world adopts if the proposal passes with option 0.
    pub rules: Option<Rules>,
    /// The curators (trust's seeds for the world) it designates if it passes with option 0.
    pub curators: Option<Vec<Id>>,
}

/// A voter's choice on one proposal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// Option indexes (the ranking, for ranked methods).
    pub choices: Vec<u16>,
    /// Scores or votes beside them (SCORE, QUADRATIC).
    pub amounts: Vec<u32>,
}

/// A ballot in the state: the choice, and its place in the order ballots were cast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CastBallot {
    /// The choice.
    pub choice: Choice,
    /// Position among every ballot cast, for "the latest counts".
    pub order: u64,
}

/// Where a proposal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Voting has not closed.
    Open,
    /// Closed: quorum met, a winner, support above the threshold.
    Passed,
    /// Closed: quorum met, but no winner or not enough support.
    Rejected,
    /// Closed without enough participation.
    NoQuorum,
}

/// A proposal's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Where it stands.
    pub status: Status,
    /// The tally.
    pub count: Count,
    /// People counted (after one-person-one-vote: persons, not masks).
    pub turnout: u64,
    /// Those eligible: the world's members (persons under one-person-one-vote).
    pub eligible: u64,
    /// The weight counted.
    pub weight: u64,
    /// The weight of everyone eligible.
    pub eligible_weight: u64,
    /// Of the weight counted, how much came by delegation.
    pub delegated_weight: u64,
    /// The winner's support: (for, of).
    pub support: (u64, u64),
    /// Participation reached the quorum.
    pub quorum_met: bool,
    /// Support exceeded the threshold.
    pub threshold_met: bool,
}

/// How a proposal was closed: its result, and where in the log (set when applied).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closing {
    /// The result.
    pub outcome: Outcome,
    /// The log sequence number of the close.
    pub seq: u64,
    /// The log's chain hash at it.
    pub hash: [u8; 32],
}

/// What a moderator does to a mask or a work of a world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Hide a work published in the world.
    Hide,
    /// A mask may still vote and report in the world, nothing more.
    Limit,
    /// A mask may do nothing in the world.
    Suspend,
    /// A mask leaves the world and may not join again while the case stands.
    RemoveFromWorld,
}

/// Where a case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseStatus {
    /// Opened by the governance AI with its evidence: a moderator decides what to do.
    Flagged,
    /// The action is in force.
    InForce,
    /// A jury overturned it.
    Overturned,
}

/// A moderation case: the public record of one action, its reason and its appeals. It names
/// the acting moderator and never the reporter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// The world.
    pub world: Id,
    /// The mask or work acted on.
    pub target: Id,
    /// The action (None for a case the governance AI flagged).
    pub action: Option<Action>,
    /// The rule broken, as the moderator names it.
    pub rule: String,
    /// The public reason.
    pub reason: String,
    /// The acting moderator (None for the governance AI).
    pub moderator: Option<Id>,
    /// When it was opened (milliseconds since the Unix epoch).
    pub opened_ms: i64,
    /// The evidence behind an AI's case: the edges and scores, as text.
    pub evidence: Vec<String>,
    /// Where it stands.
    pub status: CaseStatus,
    /// Its appeals, oldest first.
    pub appeals: Vec<Appeal>,
}

/// An appeal and the jury that decides it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Appeal {
    /// The appellant's statement.
    pub statement: String,
    /// When it was filed.
    pub filed_ms: i64,
    /// The log position whose chain hash seeded the draw.
    pub seed_seq: u64,
    /// That chain hash.
    pub seed_hash: [u8; 32],
    /// The jurors drawn.
    pub jury: Vec<Id>,
    /// Each juror's vote and public reason.
    pub votes: BTreeMap<Id, (crate::jury::Verdict, String)>,
    /// The verdict, once a majority agrees.
    pub verdict: Option<crate::jury::Verdict>,
    /// When it was decided.
    pub decided_ms: Option<i64>,
}

/// The most appeals of one case (juries of 3, 7, then 15).
pub const APPEALS_MAX: usize = crate::jury::SIZES.len();
/// The epoch of a REPUTATION proposal whose weights are not snapshotted yet (it opens later).
pub const NOT_SNAPSHOTTED: u64 = 0;
/// The most curators one proposal designates.
pub const CURATORS_MAX: usize = 32;
/// The most lines of evidence on a flagged case.
pub const EVIDENCE_LINES_MAX: usize = 64;
/// The longest reason, rule or statement, in characters.
pub const REASON_CHARS_MAX: usize = 2_000;

/// A governance event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Gov {
    /// A world's rules were set (at its founding, or by a passed proposal).
    RulesSet {
        /// The world.
        world: Id,
        /// The rules.
        rules: Box<Rules>,
        /// The proposal that changed them (None at founding).
        by: Option<Id>,
    },
    /// A proposal was made.
    Proposed {
        /// The proposal vertex.
        proposal: Id,
        /// What it is.
        spec: Box<ProposalSpec>,
        /// REPUTATION weights of the world's members, by mask (empty for EQUAL).
        weights: Vec<(Id, u64)>,
    },
    /// A ballot was cast, replaced (`Some`), or withdrawn (`None`).
    Voted {
        /// The proposal.
        proposal: Id,
        /// The voter.
        mask: Id,
        /// The choice.
        choice: Option<Choice>,
    },
    /// A mask delegated its vote in a world (for one topic, or all with ""), or took it back
    /// (`to: None`).
    Delegated {
        /// The world.
        world: Id,
        /// The delegator.
        mask: Id,
        /// The topic.
        topic: String,
        /// The delegate.
        to: Option<Id>,
    },
    /// A proposal closed with its result.
    Closed {
        /// The proposal.
        proposal: Id,
        /// The result, as counted when it closed.
        outcome: Box<Outcome>,
    },
    /// A mask or work was reported to a world's moderators. Stored sealed (the reporter is
    /// never shown).
    Reported {
        /// The world.
        world: Id,
        /// Who reported.
        reporter: Id,
        /// The mask or work.
        target: Id,
        /// Why.
        reason: String,
    },
    /// A case was opened: a moderator's action, or the governance AI's flag.
    CaseOpened {
        /// The case's id.
        case: Id,
        /// The case.
        body: Box<Case>,
    },
    /// A flagged case got its action from a moderator.
    CaseActed {
        /// The case.
        case: Id,
        /// The moderator.
        moderator: Id,
        /// The action.
        action: Action,
        /// The rule.
        rule: String,
        /// The public reason.
        reason: String,
    },
    /// A case was appealed, and its jury drawn.
    Appealed {
        /// The case.
        case: Id,
        /// The appeal.
        appeal: Box<Appeal>,
    },
    /// A juror voted, with a public reason.
    JuryVoted {
        /// The case.
        case: Id,
        /// The juror.
        juror: Id,
        /// The vote.
        verdict: crate::jury::Verdict,
        /// Why.
        reason: String,
    },
    /// A jury reached its verdict (an overturn lifts the action through the events beside it).
    Decided {
        /// The case.
        case: Id,
        /// The verdict.
        verdict: crate::jury::Verdict,
        /// When.
        at_ms: i64,
    },
    /// A world was founded through the write path: its founder moderates it, but trust's
    /// seeds for it are only the curators its governance designates.
    Founded {
        /// The world.
        world: Id,
    },
    /// A proposal made to open later opened: its REPUTATION weights, at the epoch current then.
    Snapshotted {
        /// The proposal.
        proposal: Id,
        /// The epoch.
        epoch: u64,
        /// The weights of the world's members, by mask.
        weights: Vec<(Id, u64)>,
    },
    /// A passed proposal designated a world's curators: trust's seeds for the world.
    CuratorsSet {
        /// The world.
        world: Id,
        /// The curators.
        curators: Vec<Id>,
        /// The proposal.
        by: Id,
    },
}

/// One proposal's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposalState {
    /// What it is.
    pub spec: ProposalSpec,
    /// REPUTATION weights by mask.
    pub weights: BTreeMap<Id, u64>,
    /// The latest ballot of each voter.
    pub ballots: BTreeMap<Id, CastBallot>,
    /// Its close, once closed.
    pub closed: Option<Closing>,
}

/// Everything governance events built: rules, proposals, ballots, delegations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Governance {
    /// Rules of worlds that set them (the others follow [`Rules::default`]).
    pub rules: BTreeMap<Id, Rules>,
    /// Every proposal.
    pub proposals: BTreeMap<Id, ProposalState>,
    /// Each world's proposals, in the order they were made.
    pub by_world: BTreeMap<Id, Vec<Id>>,
    /// Delegations: world → (delegator, topic) → delegate.
    pub delegations: BTreeMap<Id, BTreeMap<(Id, String), Id>>,
    /// Ballots cast so far.
    pub ballots_cast: u64,
    /// Every case.
    pub cases: BTreeMap<Id, Case>,
    /// Each world's cases, in the order they were opened.
    pub cases_by_world: BTreeMap<Id, Vec<Id>>,
    /// Actions in force against masks: (mask, world) → (action, case).
    pub sanctions: BTreeMap<(Id, Id), (Action, Id)>,
    /// Reports awaiting the world's moderators: world → (target, reason).
    pub reports: BTreeMap<Id, Vec<(Id, String)>>,
    /// Worlds founded through the write path (their founders are not trust's seeds).
    pub founded: std::collections::BTreeSet<Id>,
    /// Curators each world's governance designated: trust's seeds for it.
    pub curators: BTreeMap<Id, Vec<Id>>,
}

impl Governance {
    /// Applies one event; `seq` and `hash` say where it sits in the log.
    pub fn apply(&mut self, event: Gov, seq: u64, hash: [u8; 32]) -> Result<(), String> {
        match event {
            Gov::RulesSet { world, rules, .. } => {
                self.rules.insert(world, *rules);
            }
            Gov::Proposed { proposal, spec, weights } => {
                self.by_world.entry(spec.world).or_default().push(proposal);
                let state = ProposalState {
                    spec: *spec,
                    weights: weights.into_iter().collect(),
                    ballots: BTreeMap::new(),
                    closed: None,
                };
                if self.proposals.insert(proposal, state).is_some() {
                    return Err(format!("proposal {proposal} made twice"));
                }
            }
            Gov::Voted { proposal, mask, choice } => {
                let state = self.proposals.get_mut(&proposal).ok_or_else(|| format!("no proposal {proposal}"))?;
                match choice {
                    Some(choice) => {
                        state.ballots.insert(mask, CastBallot { choice, order: self.ballots_cast });
                        self.ballots_cast += 1;
                    }
                    None => {
                        state.ballots.remove(&mask);
                    }
                }
            }
            Gov::Delegated { world, mask, topic, to } => {
                let of_world = self.delegations.entry(world).or_default();
                match to {
                    Some(to) => of_world.insert((mask, topic), to),
                    None => of_world.remove(&(mask, topic)),
                };
            }
            Gov::Closed { proposal, outcome } => {
                let state = self.proposals.get_mut(&proposal).ok_or_else(|| format!("no proposal {proposal}"))?;
                state.closed = Some(Closing { outcome: *outcome, seq, hash });
            }
            Gov::Snapshotted { proposal, epoch, weights } => {
                let state = self.proposals.get_mut(&proposal).ok_or_else(|| format!("no proposal {proposal}"))?;
                state.spec.weighting = Weighting::Reputation { epoch };
                state.weights = weights.into_iter().collect();
            }
            Gov::Founded { world } => {
                self.founded.insert(world);
            }
            Gov::CuratorsSet { world, curators, .. } => {
                self.curators.insert(world, curators);
            }
            Gov::Reported { world, target, reason, .. } => {
                self.reports.entry(world).or_default().push((target, reason));
            }
            Gov::CaseOpened { case, body } => {
                if let Some(action) = body.action {
                    self.sanction(&body, case, action);
                }
                self.cases_by_world.entry(body.world).or_default().push(case);
                if self.cases.insert(case, *body).is_some() {
                    return Err(format!("case {case} opened twice"));
                }
            }
            Gov::CaseActed { case, moderator, action, rule, reason } => {
                let body = self.cases.get_mut(&case).ok_or_else(|| format!("no case {case}"))?;
                (body.moderator, body.action, body.rule, body.reason) = (Some(moderator), Some(action), rule, reason);
                body.status = CaseStatus::InForce;
                let body = body.clone();
                self.sanction(&body, case, action);
            }
            Gov::Appealed { case, appeal } => {
                self.cases.get_mut(&case).ok_or_else(|| format!("no case {case}"))?.appeals.push(*appeal);
            }
            Gov::JuryVoted { case, juror, verdict, reason } => {
                let appeal = self.cases.get_mut(&case).and_then(|c| c.appeals.last_mut()).ok_or("no appeal")?;
                appeal.votes.insert(juror, (verdict, reason));
            }
            Gov::Decided { case, verdict, at_ms } => {
                let body = self.cases.get_mut(&case).ok_or_else(|| format!("no case {case}"))?;
                let appeal = body.appeals.last_mut().ok_or("no appeal")?;
                (appeal.verdict, appeal.decided_ms) = (Some(verdict), Some(at_ms));
                if verdict == crate::jury::Verdict::Overturn {
                    body.status = CaseStatus::Overturned;
                    let key = (body.target, body.world);
                    if self.sanctions.get(&key).is_some_and(|&(_, c)| c == case) {
                        self.sanctions.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    /// Puts a mask's sanction in force (a work's hiding is a property of the work).
    fn sanction(&mut self, body: &Case, case: Id, action: Action) {
        if action != Action::Hide {
            self.sanctions.insert((body.target, body.world), (action, case));
        }
    }

    /// A world's rules.
    pub fn rules_of(&self, world: Id) -> Rules {
        self.rules.get(&world).cloned().unwrap_or_default()
    }
}

/// A proposal as the rules see it through a [`View`].
#[derive(Clone, Debug, PartialEq)]
pub struct ProposalInfo {
    /// What it is.
    pub spec: ProposalSpec,
    /// Whether it has closed.
    pub closed: bool,
}

/// The delegate a mask's vote goes to on a proposal of `topic`: the delegation for the topic,
/// or else its delegation for every topic.
pub fn delegate_for(delegations: &BTreeMap<(Id, String), Id>, mask: Id, topic: &str) -> Option<Id> {
    if !topic.is_empty()
        && let Some(&to) = delegations.get(&(mask, topic.to_owned()))
    {
        return Some(to);
    }
    delegations.get(&(mask, String::new())).copied()
}

/// Whether delegating `mask`'s vote to `to` for `topic` would close a cycle: following the
/// delegates from `to` (as a proposal of `topic` would) comes back to `mask`. Chains longer
/// than [`CHAIN_MAX`] count as cycles.
pub fn closes_cycle(delegations: &BTreeMap<(Id, String), Id>, mask: Id, to: Id, topic: &str) -> bool {
    let mut at = to;
    for _ in 0..CHAIN_MAX {
        if at == mask {
            return true;
        }
        match delegate_for(delegations, at, topic) {
            Some(next) => at = next,
            None => return false,
        }
    }
    true
}

/// Counts `proposal` on `view`: the live result while it is open (`closing` false), or the
/// final one (`closing` true). None when there is no such proposal.
///
/// Who counts: the world's members. A member that voted counts with its own ballot; one that
/// did not, and delegated (for the proposal's topic, or for every topic), counts with the
/// ballot of the first mask along its chain of delegates that voted — a direct vote always
/// overrides a delegate's. Under one-person-one-vote the masks of one user (the engine's
/// private link) count once: with the latest direct ballot among them, or else a delegated
/// one, and with the largest weight among them; the result counts persons and names nobody.
pub fn outcome(view: &dyn View, proposal: Id, closing: bool) -> Option<Outcome> {
    let info = view.proposal(proposal)?;
    let spec = &info.spec;
    let ballots: HashMap<Id, CastBallot> = view.ballots(proposal).into_iter().collect();
    let delegations = view.delegations(spec.world);
    let weights = if matches!(spec.weighting, Weighting::Reputation { .. }) {
        Some(view.proposal_weights(proposal))
    } else {
        None
    };
    let weight_of = |m: Id| weights.as_ref().map_or(1, |w| w.get(&m).copied().unwrap_or(0));
    let mut members = view.sources(EdgeKind::MemberOf, spec.world, ELIGIBLE_MAX);
    members.sort_unstable();

    // Resolve delegation chains once each, remembering where every mask on a chain ends.
    let mut resolved: HashMap<Id, Option<Id>> = HashMap::new();
    let mut resolve = |start: Id| -> Option<Id> {
        let mut path = Vec::new();
        let mut on_path = std::collections::HashSet::new();
        let mut at = start;
        let end = loop {
            if let Some(&known) = resolved.get(&at) {
                break known;
            }
            if ballots.contains_key(&at) {
                break Some(at);
            }
            if path.len() >= CHAIN_MAX || !on_path.insert(at) {
                break None;
            }
            path.push(at);
            match delegate_for(&delegations, at, &spec.topic) {
                Some(next) => at = next,
                None => break None,
            }
        };
        for p in path {
            resolved.insert(p, end);
        }
        end
    };

    // Each member's effective ballot: (voter whose ballot counts, delegated?).
    struct Counted {
        voter: Id,
        delegated: bool,
        weight: u64,
    }
    let mut by_person: BTreeMap<Id, Counted> = BTreeMap::new();
    let mut eligible_by_person: BTreeMap<Id, u64> = BTreeMap::new();
    for &m in &members {
        let person = if spec.one_person_one_vote { view.owner_of(m).unwrap_or(m) } else { m };
        let w = weight_of(m);
        let eligible = eligible_by_person.entry(person).or_insert(0);
        *eligible = (*eligible).max(w);
        let effective = if ballots.contains_key(&m) {
            Some((m, false))
        } else {
            delegate_for(&delegations, m, &spec.topic).and_then(&mut resolve).map(|v| (v, true))
        };
        let Some((voter, delegated)) = effective else { continue };
        let candidate = Counted { voter, delegated, weight: w };
        match by_person.get_mut(&person) {
            None => {
                by_person.insert(person, candidate);
            }
            Some(held) => {
                held.weight = held.weight.max(w);
                // A direct ballot beats a delegated one; among equals the latest ballot wins.
                let order = |c: &Counted| ballots[&c.voter].order;
                let better = (!candidate.delegated && held.delegated)
                    || (candidate.delegated == held.delegated && order(&candidate) > order(held));
                if better {
                    held.voter = candidate.voter;
                    held.delegated = candidate.delegated;
                }
            }
        }
    }
    let mut counted = Vec::with_capacity(by_person.len());
    let mut delegated_weight = 0u64;
    for c in by_person.values() {
        let choice = &ballots[&c.voter].choice;
        if c.delegated {
            delegated_weight = delegated_weight.saturating_add(c.weight);
        }
        counted.push(Ballot { weight: c.weight, choices: choice.choices.clone(), amounts: choice.amounts.clone() });
    }
    let count = tally::tally(spec.method, spec.options.len(), &counted);
    let weight = counted.iter().fold(0u64, |s, b| s.saturating_add(b.weight));
    let eligible_weight = eligible_by_person.values().fold(0u64, |s, &w| s.saturating_add(w));
    let support = support(spec.method, &count, &counted, weight);
    let quorum_met = u128::from(weight) * u128::from(BP) >= u128::from(spec.quorum_bp) * u128::from(eligible_weight)
        && (spec.quorum_bp == 0 || weight > 0);
    let threshold_met = count.winner.is_some()
        && u128::from(support.0) * u128::from(BP) > u128::from(spec.threshold_bp) * u128::from(support.1);
    let status = match (closing || info.closed, quorum_met, threshold_met) {
        (false, ..) => Status::Open,
        (true, false, _) => Status::NoQuorum,
        (true, true, true) => Status::Passed,
        (true, true, false) => Status::Rejected,
    };
    Some(Outcome {
        status,
        turnout: counted.len() as u64,
        eligible: eligible_by_person.len() as u64,
        weight,
        eligible_weight,
        delegated_weight,
        support,
        quorum_met,
        threshold_met,
        count,
    })
}

/// The winner's support, as (for, of): its share of the votes (SINGLE), of the ballots
/// (APPROVAL), of the last round (RANKED), of the most it could score (SCORE), of all votes
/// (QUADRATIC), and its narrowest pairwise majority (SCHULZE). (0, 0) without a winner.
fn support(method: Method, count: &Count, ballots: &[Ballot], weight: u64) -> (u64, u64) {
    let Some(w) = count.winner else { return (0, 0) };
    let wi = usize::from(w);
    match method {
        Method::Single | Method::Approval => (count.counts[wi], weight),
        Method::Ranked => {
            let last = count.rounds.last().map_or(&count.counts, |r| &r.counts);
            (last[wi], last.iter().fold(0u64, |s, &c| s.saturating_add(c)))
        }
        Method::Score => (count.counts[wi], weight.saturating_mul(u64::from(tally::SCORE_MAX))),
        Method::Quadratic => (count.counts[wi], count.counts.iter().fold(0u64, |s, &c| s.saturating_add(c))),
        Method::Schulze => {
            let options = count.counts.len();
            let (mut best, mut of) = (1u64, 1u64);
            for x in (0..options).filter(|&x| x != wi) {
                let (mut for_w, mut for_x) = (0u64, 0u64);
                for b in ballots {
                    let rank = |o: usize| b.choices.iter().position(|&c| usize::from(c) == o);
                    match (rank(wi), rank(x)) {
                        (Some(a), Some(c)) if a < c => for_w += b.weight,
                        (Some(_), None) => for_w += b.weight,
                        (Some(_), Some(_)) | (None, Some(_)) => for_x += b.weight,
                        (None, None) => {}
                    }
                }
                let total = for_w + for_x;
                // Keep the smallest for_w / total.
                if total > 0 && u128::from(for_w) * u128::from(of) < u128::from(best) * u128::from(total) {
                    (best, of) = (for_w, total);
                }
            }
            (best, of)
        }
    }
}
