//! Governance over GraphQL: world rules and privileges, proposals, ballots, delegation and
//! results. Everything goes through the engine's one write path; results are counted by
//! `schema::governance::outcome`, the function that records them when a proposal closes and
//! that `daira governance tally` recounts with.

use super::connection::{Conn, page};
use super::mutation::{actor, execute, target};
use super::state;
use super::types::{Mask, Sight, World, text};
use crate::error::{ApiError, Code, UserError};
use crate::ids::NodeKind;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use graph_engine::{Graph, GraphView};
use schema::governance::{self as gov, Choice, Outcome, Privilege as EnginePrivilege, Role as EngineRole};
use schema::tally::Method;
use schema::{Command, Id, NewProposal, VertexKind, View};

/// How a proposal is counted.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum VotingMethod {
    /// One option per ballot; most votes wins.
    Single,
    /// Any number of options per ballot; most approvals wins.
    Approval,
    /// A ranking per ballot, counted by instant run-off.
    Ranked,
    /// A ranking per ballot, counted by the Schulze method.
    Schulze,
    /// A score of 0 to 5 per option; the highest total wins.
    Score,
    /// Votes per option costing their square in credits, within the budget; most votes wins.
    Quadratic,
}

impl From<VotingMethod> for Method {
    fn from(m: VotingMethod) -> Method {
        match m {
            VotingMethod::Single => Method::Single,
            VotingMethod::Approval => Method::Approval,
            VotingMethod::Ranked => Method::Ranked,
            VotingMethod::Schulze => Method::Schulze,
            VotingMethod::Score => Method::Score,
            VotingMethod::Quadratic => Method::Quadratic,
        }
    }
}

impl From<Method> for VotingMethod {
    fn from(m: Method) -> VotingMethod {
        match m {
            Method::Single => VotingMethod::Single,
            Method::Approval => VotingMethod::Approval,
            Method::Ranked => VotingMethod::Ranked,
            Method::Schulze => VotingMethod::Schulze,
            Method::Score => VotingMethod::Score,
            Method::Quadratic => VotingMethod::Quadratic,
        }
    }
}

/// How ballots weigh.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VoteWeight {
    /// Every voter counted weighs the same.
    #[default]
    Equal,
    /// Each member weighs its trust in the world at the epoch current when the proposal opens
    /// (snapshotted then: later trust changes nothing; masks that join later cannot vote).
    Reputation,
}

/// Where a proposal stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalStatus {
    /// Voting has not closed.
    Open,
    /// Closed: quorum met, and the winner's support exceeded the threshold.
    Passed,
    /// Closed: quorum met, but no winner or not enough support.
    Rejected,
    /// Closed without enough participation.
    NoQuorum,
}

/// Who a requirement starts from.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Any mask.
    Anyone,
    /// The world's members.
    Member,
    /// The world's moderators.
    Moderator,
}

/// A privilege a world's rules grant.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivilegeName {
    /// Open proposals.
    Propose,
    /// Vote and delegate.
    Vote,
    /// Report masks and works.
    Report,
    /// Act on reports.
    Moderate,
    /// Sit on juries.
    Jury,
    /// Post.
    Post,
}

fn privilege_name(p: EnginePrivilege) -> PrivilegeName {
    match p {
        EnginePrivilege::Propose => PrivilegeName::Propose,
        EnginePrivilege::Vote => PrivilegeName::Vote,
        EnginePrivilege::Report => PrivilegeName::Report,
        EnginePrivilege::Moderate => PrivilegeName::Moderate,
        EnginePrivilege::Jury => PrivilegeName::Jury,
        EnginePrivilege::Post => PrivilegeName::Post,
    }
}

/// What a mask needs for one privilege.
#[derive(SimpleObject, Clone, Debug)]
pub struct Requirement {
    /// The role needed.
    pub role: Role,
    /// The least trust percentile among the world's members (0: none).
    pub trust_percentile: i32,
    /// The least contribution score (0: none).
    pub contribution: f64,
    /// The least age of the mask in days (0: none).
    pub age_days: i32,
}

impl From<&gov::Requirement> for Requirement {
    fn from(r: &gov::Requirement) -> Requirement {
        Requirement {
            role: match r.role {
                EngineRole::Anyone => Role::Anyone,
                EngineRole::Member => Role::Member,
                EngineRole::Moderator => Role::Moderator,
            },
            trust_percentile: i32::from(r.trust_percentile),
            contribution: r.contribution,
            age_days: r.age_days as i32,
        }
    }
}

/// A world's rules: who may do what, and the appeal window.
#[derive(SimpleObject, Clone, Debug)]
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
    /// How long a moderation action's target may appeal, in milliseconds (a decimal string).
    pub appeal_window_ms: String,
}

impl From<&gov::Rules> for Rules {
    fn from(r: &gov::Rules) -> Rules {
        Rules {
            propose: (&r.propose).into(),
            vote: (&r.vote).into(),
            report: (&r.report).into(),
            moderate: (&r.moderate).into(),
            jury: (&r.jury).into(),
            post: (&r.post).into(),
            appeal_window_ms: r.appeal_window_ms.to_string(),
        }
    }
}

/// What a mask needs for one privilege; what is left out keeps the default rules' value.
#[derive(InputObject, Clone, Debug, Default)]
pub struct RequirementInput {
    /// The role needed.
    pub role: Option<Role>,
    /// The least trust percentile among the world's members, 0..=100.
    pub trust_percentile: Option<i32>,
    /// The least contribution score.
    pub contribution: Option<f64>,
    /// The least age of the mask in days.
    pub age_days: Option<i32>,
}

/// A world's rules; what is left out keeps the default rules' value.
#[derive(InputObject, Clone, Debug, Default)]
pub struct RulesInput {
    /// Who may open proposals (default: moderators).
    pub propose: Option<RequirementInput>,
    /// Who may vote and delegate (default: members).
    pub vote: Option<RequirementInput>,
    /// Who may report (default: members).
    pub report: Option<RequirementInput>,
    /// Who may moderate (default: moderators).
    pub moderate: Option<RequirementInput>,
    /// Who may sit on juries (default: members at or above the world's median trust).
    pub jury: Option<RequirementInput>,
    /// Who may post (default: members).
    pub post: Option<RequirementInput>,
    /// The appeal window in milliseconds, a decimal string (default: a week).
    pub appeal_window_ms: Option<String>,
}

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadUserInput, message).field(field)
}

impl RulesInput {
    /// The rules, checked; errors name the field.
    pub(crate) fn rules(&self) -> std::result::Result<gov::Rules, ApiError> {
        let mut rules = gov::Rules::default();
        let parts: [(&str, &Option<RequirementInput>, EnginePrivilege); 6] = [
            ("propose", &self.propose, EnginePrivilege::Propose),
            ("vote", &self.vote, EnginePrivilege::Vote),
            ("report", &self.report, EnginePrivilege::Report),
            ("moderate", &self.moderate, EnginePrivilege::Moderate),
            ("jury", &self.jury, EnginePrivilege::Jury),
            ("post", &self.post, EnginePrivilege::Post),
        ];
        for (name, input, privilege) in parts {
            let Some(input) = input else { continue };
            let slot = rules.requirement_mut(privilege);
            if let Some(role) = input.role {
                slot.role = match role {
                    Role::Anyone => EngineRole::Anyone,
                    Role::Member => EngineRole::Member,
                    Role::Moderator => EngineRole::Moderator,
                };
            }
            if let Some(p) = input.trust_percentile {
                slot.trust_percentile = u8::try_from(p)
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| bad(&format!("rules.{name}.trustPercentile"), "is 0 to 100"))?;
            }
            if let Some(c) = input.contribution {
                slot.contribution = c;
            }
            if let Some(d) = input.age_days {
                slot.age_days = u32::try_from(d).map_err(|_| bad(&format!("rules.{name}.ageDays"), "is 0 or more"))?;
            }
        }
        if let Some(w) = &self.appeal_window_ms {
            rules.appeal_window_ms =
                w.parse().map_err(|_| bad("rules.appealWindowMs", "is a whole number of milliseconds"))?;
        }
        rules.check().map_err(|(field, reason)| bad(&field, reason))?;
        Ok(rules)
    }
}

/// Whether a mask holds a privilege in a world, and why not.
#[derive(SimpleObject, Clone, Debug)]
pub struct Privilege {
    /// The privilege.
    pub name: PrivilegeName,
    /// Whether the mask holds it.
    pub granted: bool,
    /// Why not ("trust percentile 41 < 60 needed to propose"); null when granted.
    pub reason: Option<String>,
}

/// What `mask` may do in `world` now, with reasons.
pub(crate) fn privileges(ctx: &Context<'_>, mask: Id, world: Id) -> Vec<Privilege> {
    let st = state(ctx);
    let reputation = st.engine.reputation();
    let graph = st.engine.read();
    let view = graph_engine::view_with(&graph, reputation.as_deref());
    let now = crate::now_ms();
    EnginePrivilege::ALL
        .into_iter()
        .map(|p| {
            let checked = schema::privilege(&view, mask, world, p, now);
            Privilege { name: privilege_name(p), granted: checked.is_ok(), reason: checked.err() }
        })
        .collect()
}

/// A world's rules.
pub(crate) fn rules_of(graph: &Graph, world: Id) -> Rules {
    (&graph.governance().rules_of(world)).into()
}

/// The curators a world's governance designated (trust's seeds for it), that the viewer sees.
pub(crate) fn curators_of(ctx: &Context<'_>, world: Id) -> Vec<Mask> {
    let graph = state(ctx).engine.read();
    let sight = Sight::of(ctx);
    graph.governance().curators.get(&world).into_iter().flatten().filter_map(|&m| sight.mask_by_id(&graph, m)).collect()
}

/// A world's proposals, newest first.
pub(crate) fn proposals_of(
    ctx: &Context<'_>,
    world: Id,
    paging: (Option<i32>, Option<i32>, Option<String>, Option<String>),
) -> Result<Conn<Proposal>> {
    let graph = state(ctx).engine.read();
    let mut ids: Vec<Id> = graph.governance().by_world.get(&world).cloned().unwrap_or_default();
    ids.reverse();
    page(&ids, paging, |id| Proposal { id })
}

/// A governance proposal of a world.
#[derive(Clone, Copy, Debug)]
pub struct Proposal {
    pub(crate) id: Id,
}

impl Proposal {
    /// The proposal with engine id `id`, if there is one.
    pub(crate) fn get(graph: &Graph, id: Id) -> Option<Proposal> {
        graph.governance().proposals.contains_key(&id).then_some(Proposal { id })
    }

    fn with<T>(&self, ctx: &Context<'_>, f: impl FnOnce(&Graph, &gov::ProposalState) -> T) -> T {
        let graph = state(ctx).engine.read();
        let proposal = graph.governance().proposals.get(&self.id).expect("proposals are never removed");
        f(&graph, proposal)
    }
}

/// One round of an instant run-off.
#[derive(SimpleObject, Clone, Debug)]
pub struct Round {
    /// Each option's votes in the round (decimal strings).
    pub counts: Vec<String>,
    /// The options eliminated at its end.
    pub eliminated: Vec<i32>,
}

/// A proposal's result: live while it is open (hidden, for a secret ballot, until it closes),
/// recorded in the log when it closes.
#[derive(SimpleObject, Clone, Debug)]
pub struct ProposalResult {
    /// Where it stands.
    pub status: ProposalStatus,
    /// The winning option's index; null on a tie the method cannot settle, with no votes, or
    /// while a secret ballot is open.
    pub winner: Option<i32>,
    /// Each option's total (decimal strings; see the method): empty while a secret ballot is open.
    pub counts: Vec<String>,
    /// RANKED: each elimination round.
    pub rounds: Vec<Round>,
    /// People counted (after one-person-one-vote: persons, never which masks).
    pub turnout: i32,
    /// Masks eligible: the world's members. Null under one-person-one-vote: counting persons
    /// beside the world's member count would tell that some of its masks share an owner.
    pub eligible: Option<i32>,
    /// The weight counted (a decimal string).
    pub weight: String,
    /// The weight of everyone eligible (null under one-person-one-vote, as `eligible`).
    pub eligible_weight: Option<String>,
    /// Of the weight counted, how much came by delegation.
    pub delegated_weight: String,
    /// Participation: weight counted over the eligible weight, 0..=1 (null under
    /// one-person-one-vote, as `eligible`).
    pub participation: Option<f64>,
    /// The winner's support, 0..=1 (see api/README.md for each method).
    pub support: Option<f64>,
    /// Participation reached the quorum.
    pub quorum_met: bool,
    /// Support exceeded the threshold.
    pub threshold_met: bool,
    /// The log sequence number of the close (null while open).
    pub seq: Option<String>,
    /// The log's chain hash at the close, hex (null while open): recount with `daira
    /// governance tally`.
    pub log_hash: Option<String>,
}

fn result_of(outcome: &Outcome, closing: Option<&gov::Closing>, hide: bool, persons: bool) -> ProposalResult {
    let strings = |xs: &[u64]| xs.iter().map(u64::to_string).collect::<Vec<_>>();
    let share = |(a, b): (u64, u64)| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    ProposalResult {
        status: match outcome.status {
            gov::Status::Open => ProposalStatus::Open,
            gov::Status::Passed => ProposalStatus::Passed,
            gov::Status::Rejected => ProposalStatus::Rejected,
            gov::Status::NoQuorum => ProposalStatus::NoQuorum,
        },
        winner: if hide { None } else { outcome.count.winner.map(i32::from) },
        counts: if hide { Vec::new() } else { strings(&outcome.count.counts) },
        rounds: if hide {
            Vec::new()
        } else {
            outcome
                .count
                .rounds
                .iter()
                .map(|r| Round {
                    counts: strings(&r.counts),
                    eliminated: r.eliminated.iter().map(|&e| i32::from(e)).collect(),
                })
                .collect()
        },
        turnout: outcome.turnout.min(i32::MAX as u64) as i32,
        eligible: (!persons).then(|| outcome.eligible.min(i32::MAX as u64) as i32),
        weight: outcome.weight.to_string(),
        eligible_weight: (!persons).then(|| outcome.eligible_weight.to_string()),
        delegated_weight: outcome.delegated_weight.to_string(),
        participation: (!persons).then(|| share((outcome.weight, outcome.eligible_weight))),
        support: (!hide && outcome.count.winner.is_some()).then(|| share(outcome.support)),
        quorum_met: outcome.quorum_met,
        threshold_met: !hide && outcome.threshold_met,
        seq: closing.map(|c| c.seq.to_string()),
        log_hash: closing.map(|c| hex(&c.hash)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ms(t: i64) -> String {
    t.to_string()
}

/// A voter's ballot.
#[derive(SimpleObject, Clone, Debug)]
pub struct Ballot {
    /// Option indexes (the ranking, for ranked methods).
    pub choices: Vec<i32>,
    /// Scores or votes beside them.
    pub amounts: Vec<i32>,
}

#[Object]
impl Proposal {
    /// The opaque global id.
    pub async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.of(NodeKind::Proposal, self.id))
    }

    /// The world it belongs to.
    async fn world(&self, ctx: &Context<'_>) -> Option<World> {
        self.with(ctx, |graph, p| graph.index_of(p.spec.world).and_then(|v| World::at(graph, v)))
    }

    /// The mask that made it (null if the viewer may not see it).
    async fn author(&self, ctx: &Context<'_>) -> Option<Mask> {
        let sight = Sight::of(ctx);
        self.with(ctx, |graph, p| sight.mask_by_id(graph, p.spec.author))
    }

    /// Its title.
    async fn title(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |graph, _| graph.index_of(self.id).and_then(|v| text(graph, v, "title")).unwrap_or_default())
    }

    /// Its body (markdown, as written).
    async fn body(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |graph, _| graph.index_of(self.id).and_then(|v| text(graph, v, "body")).unwrap_or_default())
    }

    /// The options' labels; ballots name them by index, from 0.
    async fn options(&self, ctx: &Context<'_>) -> Vec<String> {
        self.with(ctx, |_, p| p.spec.options.clone())
    }

    /// How it is counted.
    async fn method(&self, ctx: &Context<'_>) -> VotingMethod {
        self.with(ctx, |_, p| p.spec.method.into())
    }

    /// How ballots weigh.
    async fn weight(&self, ctx: &Context<'_>) -> VoteWeight {
        self.with(ctx, |_, p| match p.spec.weighting {
            gov::Weighting::Equal => VoteWeight::Equal,
            gov::Weighting::Reputation { .. } => VoteWeight::Reputation,
        })
    }

    /// REPUTATION: the epoch whose trust the weights were snapshotted from (null until the
    /// proposal opens).
    async fn weight_epoch(&self, ctx: &Context<'_>) -> Option<i32> {
        self.with(ctx, |_, p| match p.spec.weighting {
            gov::Weighting::Equal => None,
            gov::Weighting::Reputation { epoch: gov::NOT_SNAPSHOTTED } => None,
            gov::Weighting::Reputation { epoch } => Some(epoch.min(i32::MAX as u64) as i32),
        })
    }

    /// When voting opens (milliseconds since the Unix epoch, a decimal string).
    async fn opens_at(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, p| ms(p.spec.opens_at_ms))
    }

    /// When voting closes.
    async fn closes_at(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, p| ms(p.spec.closes_at_ms))
    }

    /// Participation needed, 0..=1 of the eligible weight.
    async fn quorum(&self, ctx: &Context<'_>) -> f64 {
        self.with(ctx, |_, p| f64::from(p.spec.quorum_bp) / gov::BP as f64)
    }

    /// Support the winner must exceed, 0..=1.
    async fn threshold(&self, ctx: &Context<'_>) -> f64 {
        self.with(ctx, |_, p| f64::from(p.spec.threshold_bp) / gov::BP as f64)
    }

    /// Each person counts once, whichever of their masks vote.
    async fn one_person_one_vote(&self, ctx: &Context<'_>) -> bool {
        self.with(ctx, |_, p| p.spec.one_person_one_vote)
    }

    /// Who voted what is secret (counts show once it closes).
    async fn secret(&self, ctx: &Context<'_>) -> bool {
        self.with(ctx, |_, p| p.spec.secret)
    }

    /// The topic delegations may name ("" for none).
    async fn topic(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, p| p.spec.topic.clone())
    }

    /// QUADRATIC: each voter's credit budget.
    async fn budget(&self, ctx: &Context<'_>) -> Option<i32> {
        self.with(ctx, |_, p| (p.spec.method == Method::Quadratic).then(|| p.spec.budget.min(i32::MAX as u64) as i32))
    }

    /// The rules the world adopts if this passes with option 0.
    async fn proposed_rules(&self, ctx: &Context<'_>) -> Option<Rules> {
        self.with(ctx, |_, p| p.spec.rules.as_ref().map(Rules::from))
    }

    /// The curators the world designates if this passes with option 0 (those the viewer sees).
    async fn proposed_curators(&self, ctx: &Context<'_>) -> Option<Vec<Mask>> {
        let sight = Sight::of(ctx);
        self.with(ctx, |graph, p| {
            p.spec.curators.as_ref().map(|c| c.iter().filter_map(|&m| sight.mask_by_id(graph, m)).collect())
        })
    }

    /// The result: live while open, as recorded once closed.
    async fn result(&self, ctx: &Context<'_>) -> ProposalResult {
        self.with(ctx, |graph, p| {
            let persons = p.spec.one_person_one_vote;
            match &p.closed {
                Some(closing) => result_of(&closing.outcome, Some(closing), false, persons),
                None => {
                    let outcome = gov::outcome(&GraphView(graph), self.id, false).expect("the proposal exists");
                    result_of(&outcome, None, p.spec.secret, persons)
                }
            }
        })
    }

    /// Your ballot, cast as `as` (one of your masks); null for anyone else.
    async fn my_ballot(&self, ctx: &Context<'_>, #[graphql(name = "as")] as_mask: ID) -> Option<Ballot> {
        let user = super::caller(ctx).and_then(|c| c.user)?;
        let mask = state(ctx).ids.decode_as(NodeKind::Mask, &as_mask)?;
        self.with(ctx, |graph, p| {
            if !graph.is_owned_by(mask, user) {
                return None;
            }
            let b = p.ballots.get(&mask)?;
            Some(Ballot {
                choices: b.choice.choices.iter().map(|&c| i32::from(c)).collect(),
                amounts: b.choice.amounts.iter().map(|&a| a.min(i32::MAX as u32) as i32).collect(),
            })
        })
    }
}

/// Make a proposal in a world.
#[derive(InputObject)]
pub struct CreateProposalInput {
    /// The mask acting (default: your oldest); it needs the world's propose privilege.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The world.
    pub world: ID,
    /// Its title.
    pub title: String,
    /// Its body (markdown).
    #[graphql(default)]
    pub body: String,
    /// The options' labels (2 to 64).
    pub options: Vec<String>,
    /// How it is counted.
    pub method: VotingMethod,
    /// When voting opens, milliseconds since the Unix epoch (a decimal string; default now).
    pub opens_at: Option<String>,
    /// When voting closes (at most a year after it opens).
    pub closes_at: String,
    /// Participation needed, 0..=1 of the eligible weight (default 0).
    #[graphql(default)]
    pub quorum: f64,
    /// Support the winner must exceed, 0..=1 (default 0: any winner passes).
    #[graphql(default)]
    pub threshold: f64,
    /// Count each person once, whichever of their masks vote.
    #[graphql(default)]
    pub one_person_one_vote: bool,
    /// How ballots weigh (default EQUAL).
    #[graphql(default)]
    pub weight: VoteWeight,
    /// QUADRATIC: each voter's credit budget (default 100).
    pub budget: Option<i32>,
    /// Keep who voted what secret: ballots are sealed in the log, counts show at the close.
    #[graphql(default)]
    pub secret: bool,
    /// A topic that delegations may name.
    #[graphql(default)]
    pub topic: String,
    /// New rules for the world, adopted if the proposal passes with option 0 (it then has
    /// two options: adopt, reject).
    pub rules: Option<RulesInput>,
    /// Curators to designate — trust's seeds for the world — if the proposal passes with
    /// option 0 (two options, adopt and reject; at most 32 members of the world).
    pub curators: Option<Vec<ID>>,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Cast or change a ballot.
#[derive(InputObject)]
pub struct CastVoteInput {
    /// The voter (default: your oldest mask).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The proposal.
    pub proposal: ID,
    /// Option indexes from 0: the one chosen (SINGLE), those approved (APPROVAL), a ranking
    /// (RANKED, SCHULZE), those scored or voted for (SCORE, QUADRATIC).
    pub choices: Vec<i32>,
    /// SCORE: 0..=5 beside each choice; QUADRATIC: votes beside each (costing their square).
    pub amounts: Option<Vec<i32>>,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Withdraw a ballot, or close a proposal.
#[derive(InputObject)]
pub struct ProposalActionInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The proposal.
    pub proposal: ID,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Delegate your vote in a world.
#[derive(InputObject)]
pub struct DelegateInput {
    /// The delegator (default: your oldest mask).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The world.
    pub world: ID,
    /// The delegate, a member of the world; null takes the delegation back.
    pub to: Option<ID>,
    /// Only proposals of this topic ("" or absent: every topic without its own delegation).
    #[graphql(default)]
    pub topic: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A change to a proposal.
#[derive(SimpleObject, Default)]
pub struct ProposalPayload {
    /// The proposal.
    pub proposal: Option<Proposal>,
    /// The log sequence number of the change (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong with the input.
    pub user_errors: Vec<UserError>,
}

/// A delegation given or taken back.
#[derive(SimpleObject, Default)]
pub struct DelegatePayload {
    /// The world.
    pub world: Option<World>,
    /// The delegate (null when taken back).
    pub delegate: Option<Mask>,
    /// The log sequence number of the change (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong with the input.
    pub user_errors: Vec<UserError>,
}

/// A payload from a change's result: the error of the field for an internal failure, the
/// user's errors for a refusal.
fn payload<T: Default>(
    result: std::result::Result<T, ApiError>,
    refused: impl FnOnce(Vec<UserError>) -> T,
) -> Result<T> {
    match result {
        Ok(p) => Ok(p),
        Err(e) if e.code == Code::InternalServerError => Err(e.into()),
        Err(e) => Ok(refused(vec![e.into()])),
    }
}

fn millis(field: &str, text: &str) -> std::result::Result<i64, ApiError> {
    text.trim().parse().map_err(|_| bad(field, "is milliseconds since the Unix epoch, a decimal string"))
}

fn basis_points(field: &str, share: f64) -> std::result::Result<u16, ApiError> {
    if !share.is_finite() || !(0.0..=1.0).contains(&share) {
        return Err(bad(field, "is a share from 0 to 1"));
    }
    Ok((share * gov::BP as f64).round() as u16)
}

/// A proposal mutation refused before it reached the write path.
fn refusal(e: ApiError, client: Option<String>) -> Result<ProposalPayload> {
    payload(Err(e), |user_errors| ProposalPayload { client_mutation_id: client, user_errors, ..Default::default() })
}

async fn on_proposal(ctx: &Context<'_>, id: &ID, command: Command, client: Option<String>) -> Result<ProposalPayload> {
    let result = async {
        let seq = execute(ctx, command).await.map_err(|e| e.or_field("proposal"))?;
        let graph = state(ctx).engine.read();
        let proposal = state(ctx).ids.decode_as(NodeKind::Proposal, id).and_then(|p| Proposal::get(&graph, p));
        Ok(ProposalPayload {
            proposal,
            seq: Some(seq.to_string()),
            client_mutation_id: client.clone(),
            ..Default::default()
        })
    }
    .await;
    payload(result, |user_errors| ProposalPayload { client_mutation_id: client, user_errors, ..Default::default() })
}

/// The governance mutations.
#[derive(Default)]
pub struct GovernanceMutation;

#[Object]
impl GovernanceMutation {
    /// Make a proposal in a world (you need its propose privilege).
    async fn create_proposal(&self, ctx: &Context<'_>, input: CreateProposalInput) -> Result<ProposalPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let proposal = state(ctx).engine.new_id();
        let result = async {
            let actor = actor?;
            let world = target(ctx, NodeKind::World, &input.world, "world", "world")?;
            let opens_at_ms = input.opens_at.as_deref().map(|t| millis("opensAt", t)).transpose()?;
            let closes_at_ms = millis("closesAt", &input.closes_at)?;
            let budget = match input.budget {
                Some(b) => Some(u64::try_from(b).map_err(|_| bad("budget", "is 1 to 1,000,000 credits"))?),
                None => None,
            };
            let rules = input.rules.as_ref().map(RulesInput::rules).transpose()?;
            let curators = match &input.curators {
                Some(list) if list.len() > gov::CURATORS_MAX => {
                    return Err(bad("curators", format!("name 1 to {} curators", gov::CURATORS_MAX)));
                }
                Some(list) => Some(
                    list.iter()
                        .map(|m| target(ctx, NodeKind::Mask, m, "curators", "mask"))
                        .collect::<std::result::Result<Vec<_>, _>>()?,
                ),
                None => None,
            };
            let new = NewProposal {
                actor,
                proposal,
                world,
                title: input.title,
                body: input.body,
                options: input.options,
                method: input.method.into(),
                opens_at_ms,
                closes_at_ms,
                quorum_bp: basis_points("quorum", input.quorum)?,
                threshold_bp: basis_points("threshold", input.threshold)?,
                one_person_one_vote: input.one_person_one_vote,
                reputation_weight: input.weight == VoteWeight::Reputation,
                budget,
                secret: input.secret,
                topic: input.topic,
                rules,
                curators,
            };
            let seq = execute(ctx, Command::CreateProposal(Box::new(new))).await?;
            let graph = state(ctx).engine.read();
            Ok(ProposalPayload {
                proposal: Proposal::get(&graph, proposal),
                seq: Some(seq.to_string()),
                client_mutation_id: client.clone(),
                ..Default::default()
            })
        }
        .await;
        payload(result, |user_errors| ProposalPayload { client_mutation_id: client, user_errors, ..Default::default() })
    }

    /// Cast your ballot, or change it: until the proposal closes the latest counts.
    async fn cast_vote(&self, ctx: &Context<'_>, input: CastVoteInput) -> Result<ProposalPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let command = async {
            let actor = actor?;
            let proposal = target(ctx, NodeKind::Proposal, &input.proposal, "proposal", "proposal")?;
            if input.choices.len() > gov::OPTIONS_MAX {
                return Err(bad("choices", format!("at most {} choices", gov::OPTIONS_MAX)));
            }
            let choices = input
                .choices
                .iter()
                .map(|&c| u16::try_from(c).map_err(|_| bad("choices", format!("option {c} does not exist"))))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let amounts = input
                .amounts
                .iter()
                .flatten()
                .map(|&a| u32::try_from(a).map_err(|_| bad("amounts", format!("{a} is below 0"))))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(Command::CastVote { actor, proposal, choice: Choice { choices, amounts } })
        }
        .await;
        match command {
            Ok(command) => on_proposal(ctx, &input.proposal, command, client).await,
            Err(e) => refusal(e, client),
        }
    }

    /// Withdraw your ballot (before the proposal closes).
    async fn withdraw_vote(&self, ctx: &Context<'_>, input: ProposalActionInput) -> Result<ProposalPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let command = actor.and_then(|actor| {
            let proposal = target(ctx, NodeKind::Proposal, &input.proposal, "proposal", "proposal")?;
            Ok(Command::WithdrawVote { actor, proposal })
        });
        match command {
            Ok(command) => on_proposal(ctx, &input.proposal, command, client).await,
            Err(e) => refusal(e, client),
        }
    }

    /// Close a proposal whose voting time is over and record its result (the server does this
    /// by itself within a second of `closesAt`; anyone signed in may ask sooner).
    async fn close_proposal(&self, ctx: &Context<'_>, input: ProposalActionInput) -> Result<ProposalPayload> {
        super::user(ctx)?;
        let client = input.client_mutation_id.clone();
        match target(ctx, NodeKind::Proposal, &input.proposal, "proposal", "proposal") {
            Ok(proposal) => on_proposal(ctx, &input.proposal, Command::CloseProposal { proposal }, client).await,
            Err(e) => refusal(e, client),
        }
    }

    /// Delegate your vote in a world to another member (liquid democracy): where you do not
    /// vote yourself, your delegate's ballot counts for you — or theirs' delegate's, along the
    /// chain. A direct vote always overrides. `to: null` takes it back.
    async fn delegate(&self, ctx: &Context<'_>, input: DelegateInput) -> Result<DelegatePayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let result = async {
            let actor = actor?;
            let world = target(ctx, NodeKind::World, &input.world, "world", "world")?;
            let to = match &input.to {
                Some(to) => Some(target(ctx, NodeKind::Mask, to, "to", "mask")?),
                None => None,
            };
            let seq = execute(ctx, Command::Delegate { actor, world, to, topic: input.topic })
                .await
                .map_err(|e| e.or_field("to"))?;
            let graph = state(ctx).engine.read();
            let sight = Sight::of(ctx);
            Ok(DelegatePayload {
                world: graph.index_of(world).and_then(|v| World::at(&graph, v)),
                delegate: to.and_then(|t| sight.mask_by_id(&graph, t)),
                seq: Some(seq.to_string()),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| DelegatePayload { client_mutation_id: client, user_errors, ..Default::default() })
    }
}

/// The governance queries.
#[derive(Default)]
pub struct GovernanceQuery;

#[Object]
impl GovernanceQuery {
    /// A proposal by its global id.
    async fn proposal(&self, ctx: &Context<'_>, id: ID) -> Option<Proposal> {
        let st = state(ctx);
        let id = st.ids.decode_as(NodeKind::Proposal, &id)?;
        Proposal::get(&st.engine.read(), id)
    }

    /// A moderation case by its global id.
    async fn case(&self, ctx: &Context<'_>, id: ID) -> Option<Case> {
        let st = state(ctx);
        let id = st.ids.decode_as(NodeKind::Case, &id)?;
        Case::get(&st.engine.read(), id)
    }
}

/// What a moderator does.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModerationAction {
    /// Hide a work published in the world.
    Hide,
    /// The mask may still vote and report in the world, nothing more.
    Limit,
    /// The mask may do nothing in the world.
    Suspend,
    /// The mask leaves the world and may not join again while the case stands.
    RemoveFromWorld,
}

impl From<ModerationAction> for gov::Action {
    fn from(a: ModerationAction) -> gov::Action {
        match a {
            ModerationAction::Hide => gov::Action::Hide,
            ModerationAction::Limit => gov::Action::Limit,
            ModerationAction::Suspend => gov::Action::Suspend,
            ModerationAction::RemoveFromWorld => gov::Action::RemoveFromWorld,
        }
    }
}

impl From<gov::Action> for ModerationAction {
    fn from(a: gov::Action) -> ModerationAction {
        match a {
            gov::Action::Hide => ModerationAction::Hide,
            gov::Action::Limit => ModerationAction::Limit,
            gov::Action::Suspend => ModerationAction::Suspend,
            gov::Action::RemoveFromWorld => ModerationAction::RemoveFromWorld,
        }
    }
}

/// Where a case stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseStatus {
    /// Flagged by the governance AI with its evidence; a moderator decides.
    Flagged,
    /// The action is in force.
    InForce,
    /// A jury overturned it.
    Overturned,
}

/// A juror's vote.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The decision stands.
    Uphold,
    /// The decision is reversed.
    Overturn,
}

impl From<Verdict> for schema::jury::Verdict {
    fn from(v: Verdict) -> schema::jury::Verdict {
        match v {
            Verdict::Uphold => schema::jury::Verdict::Uphold,
            Verdict::Overturn => schema::jury::Verdict::Overturn,
        }
    }
}

impl From<schema::jury::Verdict> for Verdict {
    fn from(v: schema::jury::Verdict) -> Verdict {
        match v {
            schema::jury::Verdict::Uphold => Verdict::Uphold,
            schema::jury::Verdict::Overturn => Verdict::Overturn,
        }
    }
}

/// A moderation case in a world's public log: the action, the rule, the reason and the acting
/// moderator — never who reported.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub(crate) id: Id,
}

impl Case {
    /// The case with engine id `id`, if there is one.
    pub(crate) fn get(graph: &Graph, id: Id) -> Option<Case> {
        graph.governance().cases.contains_key(&id).then_some(Case { id })
    }

    fn with<T>(&self, ctx: &Context<'_>, f: impl FnOnce(&Graph, &gov::Case) -> T) -> T {
        let graph = state(ctx).engine.read();
        let case = graph.governance().cases.get(&self.id).expect("cases are never removed");
        f(&graph, case)
    }
}

/// A juror's vote and its public reason.
#[derive(SimpleObject, Clone, Debug)]
pub struct JuryVote {
    /// The juror.
    pub juror: Option<Mask>,
    /// The vote.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
}

/// An appeal and its jury.
#[derive(SimpleObject, Clone, Debug)]
pub struct Appeal {
    /// 1 for the first appeal (a jury of 3), 2 (7), 3 (15).
    pub level: i32,
    /// The appellant's statement.
    pub statement: String,
    /// When it was filed (milliseconds since the Unix epoch, a decimal string).
    pub filed_at: String,
    /// The jurors drawn.
    pub jury: Vec<Option<Mask>>,
    /// The log position whose chain hash seeded the draw: anyone holding the log can draw again.
    pub seed_seq: String,
    /// That chain hash, hex.
    pub seed_hash: String,
    /// The votes cast so far.
    pub votes: Vec<JuryVote>,
    /// The verdict, once a majority agrees.
    pub verdict: Option<Verdict>,
    /// When it was decided.
    pub decided_at: Option<String>,
}

#[Object]
impl Case {
    /// The opaque global id.
    pub async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.of(NodeKind::Case, self.id))
    }

    /// The world.
    async fn world(&self, ctx: &Context<'_>) -> Option<World> {
        self.with(ctx, |graph, c| graph.index_of(c.world).and_then(|v| World::at(graph, v)))
    }

    /// The action (null while a flagged case awaits a moderator).
    async fn action(&self, ctx: &Context<'_>) -> Option<ModerationAction> {
        self.with(ctx, |_, c| c.action.map(Into::into))
    }

    /// The rule broken.
    async fn rule(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, c| c.rule.clone())
    }

    /// The public reason.
    async fn reason(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, c| c.reason.clone())
    }

    /// The mask or work acted on (null if the viewer may not see it).
    async fn target(&self, ctx: &Context<'_>) -> Option<super::types::Node> {
        let sight = Sight::of(ctx);
        self.with(ctx, |graph, c| {
            let v = graph.index_of(c.target)?;
            match graph.kind_at(v) {
                VertexKind::Mask => sight.mask(graph, v).map(super::types::Node::Mask),
                VertexKind::Work => sight.work(graph, v).map(super::types::Node::Work),
                VertexKind::Post | VertexKind::Thread => super::talk::Post::in_case(sight, graph, v),
                _ => None,
            }
        })
    }

    /// The acting moderator (null for a case the governance AI flagged).
    async fn moderator(&self, ctx: &Context<'_>) -> Option<Mask> {
        let sight = Sight::of(ctx);
        self.with(ctx, |graph, c| c.moderator.and_then(|m| sight.mask_by_id(graph, m)))
    }

    /// When it was opened (milliseconds since the Unix epoch, a decimal string).
    async fn created_at(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, c| ms(c.opened_ms))
    }

    /// Where it stands.
    async fn status(&self, ctx: &Context<'_>) -> CaseStatus {
        self.with(ctx, |_, c| match c.status {
            gov::CaseStatus::Flagged => CaseStatus::Flagged,
            gov::CaseStatus::InForce => CaseStatus::InForce,
            gov::CaseStatus::Overturned => CaseStatus::Overturned,
        })
    }

    /// The evidence behind a flagged case (the edges and scores the governance AI saw).
    async fn evidence(&self, ctx: &Context<'_>) -> Vec<String> {
        self.with(ctx, |_, c| c.evidence.clone())
    }

    /// The latest appeal, if any.
    async fn appeal(&self, ctx: &Context<'_>) -> Option<Appeal> {
        let sight = Sight::of(ctx);
        self.with(ctx, |graph, c| c.appeals.last().map(|a| appeal_of(graph, sight, c.appeals.len(), a)))
    }

    /// Every appeal, oldest first.
    async fn appeals(&self, ctx: &Context<'_>) -> Vec<Appeal> {
        let sight = Sight::of(ctx);
        self.with(ctx, |graph, c| {
            c.appeals.iter().enumerate().map(|(i, a)| appeal_of(graph, sight, i + 1, a)).collect()
        })
    }
}

fn appeal_of(graph: &Graph, sight: Sight, level: usize, a: &gov::Appeal) -> Appeal {
    Appeal {
        level: level as i32,
        statement: a.statement.clone(),
        filed_at: ms(a.filed_ms),
        jury: a.jury.iter().map(|&m| sight.mask_by_id(graph, m)).collect(),
        seed_seq: a.seed_seq.to_string(),
        seed_hash: hex(&a.seed_hash),
        votes: a
            .votes
            .iter()
            .map(|(&m, (v, reason))| JuryVote {
                juror: sight.mask_by_id(graph, m),
                verdict: (*v).into(),
                reason: reason.clone(),
            })
            .collect(),
        verdict: a.verdict.map(Into::into),
        decided_at: a.decided_ms.map(ms),
    }
}

/// A world's cases, newest first.
pub(crate) fn cases_of(
    ctx: &Context<'_>,
    world: Id,
    paging: (Option<i32>, Option<i32>, Option<String>, Option<String>),
) -> Result<Conn<Case>> {
    let graph = state(ctx).engine.read();
    let mut ids: Vec<Id> = graph.governance().cases_by_world.get(&world).cloned().unwrap_or_default();
    ids.reverse();
    page(&ids, paging, |id| Case { id })
}

/// Report a mask or a work to a world's moderators.
#[derive(InputObject)]
pub struct ReportInput {
    /// The reporter (default: your oldest mask).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The world (default: the world a reported work was published in).
    pub world: Option<ID>,
    /// The mask or work.
    pub target: ID,
    /// Why (the world's moderators read it; nobody learns who reported).
    pub reason: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Act on a mask or a work of a world, with a public reason.
#[derive(InputObject)]
pub struct ModerateInput {
    /// The moderator (default: your oldest mask); needs the world's moderate privilege.
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The world.
    pub world: ID,
    /// The mask, work, thread or post (HIDE removes a thread or post).
    pub target: ID,
    /// What is done.
    pub action: ModerationAction,
    /// The public reason (required).
    pub reason: String,
    /// The rule broken.
    #[graphql(default)]
    pub rule: String,
    /// A case the governance AI flagged (about this world and target), to give it this action.
    pub case: Option<ID>,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Appeal a case that acted on you.
#[derive(InputObject)]
pub struct AppealInput {
    /// The mask acted on (or an author of the work acted on).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The case.
    pub case: ID,
    /// Your statement.
    pub statement: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A juror's vote.
#[derive(InputObject)]
pub struct JuryVoteInput {
    /// The juror (default: your oldest mask).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The case.
    pub case: ID,
    /// The vote.
    pub verdict: Verdict,
    /// The public reason (required).
    pub reason: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A report made.
#[derive(SimpleObject, Default)]
pub struct ReportPayload {
    /// Whether it was recorded.
    pub ok: bool,
    /// The log sequence number (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong with the input.
    pub user_errors: Vec<UserError>,
}

/// A change to a case.
#[derive(SimpleObject, Default)]
pub struct CasePayload {
    /// The case.
    pub case: Option<Case>,
    /// The log sequence number (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong with the input.
    pub user_errors: Vec<UserError>,
}

/// A mask or work by a global id naming either, or NOT_FOUND naming `field`.
fn mask_or_work(ctx: &Context<'_>, id: &ID, field: &str) -> std::result::Result<Id, ApiError> {
    match state(ctx).ids.decode(id) {
        Some((NodeKind::Mask | NodeKind::Work | NodeKind::Thread | NodeKind::Post, raw)) => Ok(Id(raw)),
        _ => Err(ApiError::new(Code::NotFound, "mask, work, thread or post not found").field(field)),
    }
}

async fn on_case(ctx: &Context<'_>, case: Id, command: Command, client: Option<String>) -> Result<CasePayload> {
    let result = async {
        let seq = execute(ctx, command).await?;
        let graph = state(ctx).engine.read();
        Ok(CasePayload {
            case: Case::get(&graph, case),
            seq: Some(seq.to_string()),
            client_mutation_id: client.clone(),
            ..Default::default()
        })
    }
    .await;
    payload(result, |user_errors| CasePayload { client_mutation_id: client, user_errors, ..Default::default() })
}

fn case_refusal(e: ApiError, client: Option<String>) -> Result<CasePayload> {
    payload(Err(e), |user_errors| CasePayload { client_mutation_id: client, user_errors, ..Default::default() })
}

/// The moderation mutations.
#[derive(Default)]
pub struct ModerationMutation;

#[Object]
impl ModerationMutation {
    /// Report a mask or a work to a world's moderators. Nobody but the server learns who
    /// reported: the report is sealed in the log and no case names its reporter.
    async fn report(&self, ctx: &Context<'_>, input: ReportInput) -> Result<ReportPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let result = async {
            let actor = actor?;
            let target = mask_or_work(ctx, &input.target, "target")?;
            let world = match &input.world {
                Some(w) => target_world(ctx, w)?,
                None => {
                    let graph = state(ctx).engine.read();
                    GraphView(&graph)
                        .work_world(target)
                        .ok_or_else(|| bad("world", "name the world (a mask, or a work published in no world)"))?
                }
            };
            let seq = execute(ctx, Command::Report { actor, world, target, reason: input.reason }).await?;
            Ok(ReportPayload {
                ok: true,
                seq: Some(seq.to_string()),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| ReportPayload { client_mutation_id: client, user_errors, ..Default::default() })
    }

    /// Act on a mask or a work of a world you moderate: HIDE a work, LIMIT, SUSPEND or
    /// REMOVE_FROM_WORLD a mask. The reason is required and public; the case goes into the
    /// world's public case log, naming you, and its target may appeal within the world's window.
    async fn moderate(&self, ctx: &Context<'_>, input: ModerateInput) -> Result<CasePayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let flagged = input.case.as_ref().map(|c| state(ctx).ids.decode_as(NodeKind::Case, c));
        let case = match flagged {
            Some(Some(case)) => case,
            Some(None) => return case_refusal(ApiError::new(Code::NotFound, "case not found").field("case"), client),
            None => state(ctx).engine.new_id(),
        };
        let command = actor.and_then(|actor| {
            Ok(Command::Moderate {
                actor,
                case,
                world: target_world(ctx, &input.world)?,
                target: mask_or_work(ctx, &input.target, "target")?,
                action: input.action.into(),
                reason: input.reason,
                rule: input.rule,
            })
        });
        match command {
            Ok(command) => on_case(ctx, case, command, client).await,
            Err(e) => case_refusal(e, client),
        }
    }

    /// Appeal a case that acted on you (within the world's appeal window): a jury of 3 is drawn
    /// by trust from the members who may sit on juries — 7 on a second appeal, 15 on a third.
    async fn appeal(&self, ctx: &Context<'_>, input: AppealInput) -> Result<CasePayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let case = state(ctx).ids.decode_as(NodeKind::Case, &input.case);
        let command = actor.and_then(|actor| {
            let case = case.ok_or_else(|| ApiError::new(Code::NotFound, "case not found").field("case"))?;
            Ok(Command::Appeal { actor, case, statement: input.statement })
        });
        match command {
            Ok(command) => on_case(ctx, case.expect("decoded"), command, client).await,
            Err(e) => case_refusal(e, client),
        }
    }

    /// Vote, as a juror of a case's appeal, to uphold or overturn it, with a public reason. A
    /// majority decides; an overturn lifts the action.
    async fn jury_vote(&self, ctx: &Context<'_>, input: JuryVoteInput) -> Result<CasePayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let case = state(ctx).ids.decode_as(NodeKind::Case, &input.case);
        let command = actor.and_then(|actor| {
            let case = case.ok_or_else(|| ApiError::new(Code::NotFound, "case not found").field("case"))?;
            Ok(Command::JuryVote { actor, case, verdict: input.verdict.into(), reason: input.reason })
        });
        match command {
            Ok(command) => on_case(ctx, case.expect("decoded"), command, client).await,
            Err(e) => case_refusal(e, client),
        }
    }
}

fn target_world(ctx: &Context<'_>, id: &ID) -> std::result::Result<Id, ApiError> {
    target(ctx, NodeKind::World, id, "world", "world")
}
