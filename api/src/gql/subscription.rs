//! The subscription root: activity in a world as it is committed, and a mask's scores as each
//! epoch is computed. Served over graphql-transport-ws (and the legacy graphql-ws), signed in
//! with `connection_init`; every stream ends when the server shuts down.

use super::types::*;
use super::{signed_in, state};
use crate::error::{ApiError, Code};
use crate::ids::NodeKind;
use async_graphql::{Context, Enum, ID, Result, SimpleObject, Subscription};
use futures_util::{Stream, StreamExt};
use schema::economy::Econ;
use schema::governance::Gov;
use schema::{EdgeKind, Event, Id, Value, VertexKind};
use tokio::sync::broadcast::error::RecvError;

/// The subscription root.
pub struct SubscriptionRoot;

/// What happened in a world.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivityKind {
    /// A mask joined.
    Joined,
    /// A mask left.
    Left,
    /// A work was published in it (a remix too).
    Published,
    /// One of its works was endorsed.
    Endorsed,
    /// Its name or description changed.
    Edited,
    /// A proposal was made in it.
    Proposed,
    /// A ballot was cast, changed or withdrawn on one of its proposals (`ballots` counts them;
    /// who voted is not said).
    Voted,
    /// One of its proposals closed with its result.
    ProposalClosed,
    /// A moderation case was opened in it.
    CaseOpened,
    /// One of its cases was appealed, and a jury drawn.
    Appealed,
    /// A jury decided one of its cases.
    CaseDecided,
    /// A work of it was listed for sale, commission or license.
    Listed,
    /// A work of it was bought (the buyer is `mask`; the amounts stay the parties').
    Traded,
    /// A thread was started in it, or a post written in one of its threads (`thread`,
    /// `post`; the writer is `mask`).
    Posted,
}

/// One thing that happened in a world.
#[derive(SimpleObject, Clone, Debug)]
pub struct Activity {
    /// What happened.
    pub kind: ActivityKind,
    /// The log sequence number of the event (a decimal string).
    pub seq: String,
    /// When it was committed, in microseconds since the Unix epoch (a decimal string).
    pub committed_at: String,
    /// The mask that acted, when the event names one.
    pub mask: Option<Mask>,
    /// The work concerned, if any.
    pub work: Option<Work>,
    /// The proposal concerned, if any.
    pub proposal: Option<super::governance::Proposal>,
    /// For VOTED: the proposal's ballots now.
    pub ballots: Option<i32>,
    /// The case concerned, if any.
    pub case: Option<super::governance::Case>,
    /// The listing concerned, if any.
    pub listing: Option<super::economy::Listing>,
    /// For POSTED: the thread.
    pub thread: Option<super::talk::Thread>,
    /// For POSTED: the post (a new thread's first post).
    pub post: Option<super::talk::Post>,
}

/// What happened to a proposal.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalUpdateKind {
    /// A ballot was cast, changed or withdrawn (or a delegation changed what counts).
    VotesCounted,
    /// It closed with its result.
    Closed,
}

/// A change to a proposal, with the proposal as it is now (its result is live, or hidden while
/// a secret ballot is open).
#[derive(SimpleObject, Clone, Debug)]
pub struct ProposalUpdate {
    /// What happened.
    pub kind: ProposalUpdateKind,
    /// The log sequence number (a decimal string).
    pub seq: String,
    /// The proposal.
    pub proposal: super::governance::Proposal,
}

/// When a batch was committed, in microseconds since the Unix epoch (a decimal string).
fn committed_at(batch: &graph_engine::Committed) -> String {
    batch.committed_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros()).to_string()
}

/// The committed batches of the engine, as a stream that skips what it lagged behind.
fn commits(st: &crate::State) -> impl Stream<Item = std::sync::Arc<graph_engine::Committed>> + use<> {
    futures_util::stream::unfold(st.engine.subscribe(), move |mut commits| async move {
        loop {
            match commits.recv().await {
                Ok(batch) => return Some((batch, commits)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// The governance event inside `event` (a confidential envelope holds a secret ballot).
fn gov_of(event: &Event) -> Option<&Gov> {
    match event {
        Event::Gov(g) => Some(g),
        Event::Confidential(events) => events.iter().find_map(gov_of),
        _ => None,
    }
}

/// The economy event inside `event` (transfers and trades are sealed in confidential envelopes).
fn econ_of(event: &Event) -> Option<&Econ> {
    match event {
        Event::Econ(e) => Some(e),
        Event::Confidential(events) => events.iter().find_map(econ_of),
        _ => None,
    }
}

/// A change to one of the viewer's masks' balance.
#[derive(SimpleObject, Clone, Debug)]
pub struct BalanceChange {
    /// The log sequence number of the change (a decimal string).
    pub seq: String,
    /// The transfer that changed it, as it stands now.
    pub transfer: Option<super::economy::Transfer>,
    /// The mask's posted balance after it, in EGP.
    pub balance: String,
    /// What the mask may spend after it, in EGP.
    pub available: String,
}

/// A mask's scores in a new epoch.
#[derive(SimpleObject, Clone)]
pub struct ScoreUpdate {
    /// The scores, explained.
    pub reputation: Reputation,
    /// The mask's trust in the epoch before (null when that epoch is no longer kept, or the
    /// mask had no score in it).
    pub previous_trust: Option<f64>,
}

/// What happened to a mask, in public.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskActivityKind {
    /// Another mask followed it (`actor`).
    Followed,
    /// A follower stopped following it (`actor`).
    Unfollowed,
    /// Another mask endorsed it (`actor`).
    Endorsed,
    /// It joined a world (`world`).
    Joined,
    /// It left a world (`world`).
    Left,
    /// It published a work (`work`).
    Published,
}

/// One public thing that happened to a mask: what its page shows, as it is committed.
#[derive(SimpleObject, Clone, Debug)]
pub struct MaskActivity {
    /// What happened.
    pub kind: MaskActivityKind,
    /// The log sequence number of the event (a decimal string).
    pub seq: String,
    /// When it was committed, in microseconds since the Unix epoch (a decimal string).
    pub committed_at: String,
    /// The other mask, for FOLLOWED, UNFOLLOWED and ENDORSED.
    pub actor: Option<Mask>,
    /// The world, for JOINED and LEFT.
    pub world: Option<World>,
    /// The work, for PUBLISHED.
    pub work: Option<Work>,
    /// Its followers now, as `Mask.followers.totalCount` counts them for the subscriber.
    pub follower_count: i32,
}

/// What happened in a thread.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadUpdateKind {
    /// A post was written in it (`post`).
    Posted,
    /// A post's body was edited (`post`).
    Edited,
    /// A post (or, with no `postId`, the thread) was hidden by its author or removed by a
    /// moderator: it is gone for everyone but its author.
    Hidden,
    /// A hidden or removed post (or the thread) is shown again.
    Shown,
    /// Reactions to a post changed (`post.reactions`).
    Reacted,
}

/// A change in a thread, as it is committed.
#[derive(SimpleObject, Clone, Debug)]
pub struct ThreadUpdate {
    /// What happened.
    pub kind: ThreadUpdateKind,
    /// The log sequence number (a decimal string).
    pub seq: String,
    /// When it was committed, in microseconds since the Unix epoch (a decimal string).
    pub committed_at: String,
    /// The post concerned, as the subscriber sees it now (null once hidden).
    pub post: Option<super::talk::Post>,
    /// The post concerned's id, also when it is gone (null when the thread itself changed).
    pub post_id: Option<ID>,
}

/// One of your masks was mentioned in a post.
#[derive(SimpleObject, Clone, Debug)]
pub struct Mention {
    /// The log sequence number (a decimal string).
    pub seq: String,
    /// When it was committed, in microseconds since the Unix epoch (a decimal string).
    pub committed_at: String,
    /// The post that mentions it.
    pub post: super::talk::Post,
    /// The post's thread.
    pub thread: Option<super::talk::Thread>,
    /// The mask that wrote it.
    pub by: Option<Mask>,
}

/// The world with engine id `id`, unless it is hidden.
fn world_at(graph: &graph_engine::Graph, id: Id) -> Option<World> {
    graph.index_of(id).filter(|&v| graph.kind_at(v) == VertexKind::World && !hidden(graph, v)).map(|v| World { v, id })
}

/// The world a work was published in, from its creation's properties.
fn world_of(props: &schema::Props) -> Option<Id> {
    props.get("world").and_then(Value::as_str).and_then(|w| w.parse().ok())
}

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Activity in a world, as it is committed: joins, leaves, works published, endorsements
    /// of its works, edits.
    async fn world_activity(&self, ctx: &Context<'_>, world: ID) -> Result<impl Stream<Item = Activity> + use<>> {
        signed_in(ctx)?;
        let st = state(ctx).clone();
        let world = {
            let graph = st.engine.read();
            st.ids
                .decode_as(NodeKind::World, &world)
                .filter(|&w| graph.vertex_kind(w) == Some(VertexKind::World))
                .ok_or_else(|| ApiError::new(Code::NotFound, "world not found").field("world"))?
        };
        let shutdown = st.shutdown_signal();
        let sight = Sight::of(ctx);
        let stream = commits(&st)
            .flat_map(move |batch| {
                let at = committed_at(&batch);
                let graph = st.engine.read();
                let mut out = Vec::new();
                for (i, event) in batch.events.iter().enumerate() {
                    let seq = (batch.first_seq + i as u64).to_string();
                    let mask = |id: Id| sight.mask_by_id(&graph, id);
                    let work = |id: Id| graph.index_of(id).and_then(|v| sight.work(&graph, v));
                    let work_in_world = |id: Id| {
                        graph.index_of(id).and_then(|v| text(&graph, v, "world")).and_then(|w| w.parse::<Id>().ok())
                            == Some(world)
                    };
                    let activity = match event {
                        // What the subscriber does not see did not happen, for them: a private
                        // mask's deeds are left out whole, not sent with the mask blanked.
                        Event::EdgeAdded { kind: EdgeKind::MemberOf, src, dst, .. } if *dst == world => {
                            mask(*src).map(|m| (ActivityKind::Joined, Some(m), None))
                        }
                        Event::EdgeRemoved { kind: EdgeKind::MemberOf, src, dst } if *dst == world => {
                            mask(*src).map(|m| (ActivityKind::Left, Some(m), None))
                        }
                        Event::VertexCreated { id, kind: VertexKind::Work, props, .. }
                            if world_of(props) == Some(world) =>
                        {
                            // The mask that published: the author the same command made (named
                            // co-authors are only invited, and have not acted).
                            let publisher = batch.events.iter().find_map(|e| match e {
                                Event::EdgeAdded { kind: EdgeKind::Authored, src, dst, .. } if dst == id => Some(*src),
                                _ => None,
                            });
                            work(*id).map(|w| (ActivityKind::Published, publisher.and_then(mask), Some(w)))
                        }
                        Event::EdgeAdded { kind: EdgeKind::Endorses, src, dst, .. } if work_in_world(*dst) => {
                            match (mask(*src), work(*dst)) {
                                (Some(m), Some(w)) => Some((ActivityKind::Endorsed, Some(m), Some(w))),
                                _ => None,
                            }
                        }
                        Event::PropsSet { id, .. } if *id == world => Some((ActivityKind::Edited, None, None)),
                        _ => None,
                    };
                    if let Event::VertexCreated { id, kind: VertexKind::Post, props, .. } = event
                        && world_of(props) == Some(world)
                    {
                        // What the subscriber does not see (a private mask's post) did not
                        // happen, for them.
                        let Some(post) = graph.index_of(*id).and_then(|v| super::talk::Post::seen(sight, &graph, v))
                        else {
                            continue;
                        };
                        let writer = graph.inn(EdgeKind::Wrote, post.v).next();
                        let thread = graph
                            .out(EdgeKind::Within, post.v)
                            .next()
                            .and_then(|t| super::talk::Thread::seen(sight, &graph, t));
                        out.push(Activity {
                            kind: ActivityKind::Posted,
                            seq,
                            committed_at: at.clone(),
                            mask: writer.and_then(|w| sight.mask(&graph, w)),
                            work: None,
                            proposal: None,
                            ballots: None,
                            case: None,
                            listing: None,
                            thread,
                            post: Some(post),
                        });
                        continue;
                    }
                    if let Some((kind, mask, work)) = activity {
                        out.push(Activity {
                            kind,
                            seq,
                            committed_at: at.clone(),
                            mask,
                            work,
                            proposal: None,
                            ballots: None,
                            case: None,
                            listing: None,
                            thread: None,
                            post: None,
                        });
                        continue;
                    }
                    if let Some((kind, listing, buyer)) = econ_of(event).and_then(|e| match e {
                        Econ::Listed { listing, body } => Some((ActivityKind::Listed, *listing, body.seller)),
                        Econ::Bought { trade, .. } => Some((ActivityKind::Traded, trade.listing, trade.buyer)),
                        _ => None,
                    }) {
                        let listed = super::economy::Listing::get(&graph, listing);
                        let in_world = graph.economy().listings.get(&listing).is_some_and(|l| work_in_world(l.work));
                        // A private buyer's deed is left out whole, as any other.
                        if let (true, Some(m)) = (in_world, mask(buyer)) {
                            out.push(Activity {
                                kind,
                                seq,
                                committed_at: at.clone(),
                                mask: Some(m),
                                work: graph.economy().listings.get(&listing).and_then(|l| work(l.work)),
                                proposal: None,
                                ballots: None,
                                case: None,
                                listing: listed,
                                thread: None,
                                post: None,
                            });
                        }
                        continue;
                    }
                    let governance = graph.governance();
                    let proposal_in_world = |p: &Id| governance.proposals.get(p).is_some_and(|s| s.spec.world == world);
                    let case_in_world = |c: &Id| governance.cases.get(c).is_some_and(|s| s.world == world);
                    let (kind, proposal, case) = match gov_of(event) {
                        Some(Gov::Proposed { proposal, spec, .. }) if spec.world == world => {
                            (ActivityKind::Proposed, Some(*proposal), None)
                        }
                        Some(Gov::Voted { proposal, .. }) if proposal_in_world(proposal) => {
                            (ActivityKind::Voted, Some(*proposal), None)
                        }
                        Some(Gov::Closed { proposal, .. }) if proposal_in_world(proposal) => {
                            (ActivityKind::ProposalClosed, Some(*proposal), None)
                        }
                        Some(Gov::CaseOpened { case, body }) if body.world == world => {
                            (ActivityKind::CaseOpened, None, Some(*case))
                        }
                        Some(Gov::Appealed { case, .. }) if case_in_world(case) => {
                            (ActivityKind::Appealed, None, Some(*case))
                        }
                        Some(Gov::Decided { case, .. }) if case_in_world(case) => {
                            (ActivityKind::CaseDecided, None, Some(*case))
                        }
                        _ => continue,
                    };
                    let ballots = (kind == ActivityKind::Voted)
                        .then(|| proposal.and_then(|p| governance.proposals.get(&p)).map(|s| s.ballots.len() as i32))
                        .flatten();
                    out.push(Activity {
                        kind,
                        seq,
                        committed_at: at.clone(),
                        mask: None,
                        work: None,
                        proposal: proposal.and_then(|p| super::governance::Proposal::get(&graph, p)),
                        ballots,
                        case: case.and_then(|c| super::governance::Case::get(&graph, c)),
                        listing: None,
                        thread: None,
                        post: None,
                    });
                }
                futures_util::stream::iter(out)
            })
            .take_until(shutdown);
        Ok(stream)
    }

    /// A proposal's ballots counted and its close, as they are committed.
    async fn proposal_updates(
        &self,
        ctx: &Context<'_>,
        proposal: ID,
    ) -> Result<impl Stream<Item = ProposalUpdate> + use<>> {
        signed_in(ctx)?;
        let st = state(ctx).clone();
        let proposal = {
            let graph = st.engine.read();
            st.ids
                .decode_as(NodeKind::Proposal, &proposal)
                .and_then(|p| super::governance::Proposal::get(&graph, p))
                .ok_or_else(|| ApiError::new(Code::NotFound, "proposal not found").field("proposal"))?
        };
        let shutdown = st.shutdown_signal();
        let stream = commits(&st)
            .flat_map(move |batch| {
                let mut out = Vec::new();
                for (i, event) in batch.events.iter().enumerate() {
                    let kind = match gov_of(event) {
                        Some(Gov::Voted { proposal: p, .. }) if *p == proposal.id => ProposalUpdateKind::VotesCounted,
                        Some(Gov::Delegated { world, .. })
                            if st
                                .engine
                                .read()
                                .governance()
                                .proposals
                                .get(&proposal.id)
                                .is_some_and(|s| s.spec.world == *world) =>
                        {
                            ProposalUpdateKind::VotesCounted
                        }
                        Some(Gov::Closed { proposal: p, .. }) if *p == proposal.id => ProposalUpdateKind::Closed,
                        _ => continue,
                    };
                    out.push(ProposalUpdate { kind, seq: (batch.first_seq + i as u64).to_string(), proposal });
                }
                futures_util::stream::iter(out)
            })
            .take_until(shutdown);
        Ok(stream)
    }

    /// One of your masks' balance, each time a transfer in or out of it is made, posted,
    /// voided or timed out (trades and escrow included). Its owner only: for anyone else the
    /// mask is not found.
    async fn balance_changes(&self, ctx: &Context<'_>, mask: ID) -> Result<impl Stream<Item = BalanceChange> + use<>> {
        let user = super::user(ctx)?;
        let st = state(ctx).clone();
        let mask = st
            .ids
            .decode_as(NodeKind::Mask, &mask)
            .filter(|&m| st.engine.read().is_owned_by(m, user))
            .ok_or_else(|| ApiError::new(Code::NotFound, "mask not found").field("mask"))?;
        let shutdown = st.shutdown_signal();
        let sight = Sight::of(ctx);
        let stream = commits(&st)
            .flat_map(move |batch| {
                let graph = st.engine.read();
                let ledger = &graph.economy().ledger;
                let touches = |id: u128| {
                    ledger.transfers.get(&id).is_some_and(|s| s.transfer.debit == mask || s.transfer.credit == mask)
                };
                let mut out = Vec::new();
                for (i, event) in batch.events.iter().enumerate() {
                    let Some(e) = econ_of(event) else { continue };
                    let ids = e.transfers().iter().map(|t| t.id).chain(e.settles().iter().map(|s| s.id));
                    for id in ids.filter(|&id| touches(id)) {
                        let (balance, available) = super::economy::balance_of(&graph, mask);
                        out.push(BalanceChange {
                            seq: (batch.first_seq + i as u64).to_string(),
                            transfer: ledger
                                .transfers
                                .get(&id)
                                .map(|s| super::economy::Transfer::seen_by(&sight, &graph, s, mask)),
                            balance,
                            available,
                        });
                    }
                }
                futures_util::stream::iter(out)
            })
            .take_until(shutdown);
        Ok(stream)
    }

    /// What happens to a mask in public, as it is committed: follows and unfollows of it,
    /// endorsements of it, worlds it joins or leaves, works it publishes — what its page
    /// shows. A deed of a mask the subscriber cannot see is left out whole.
    async fn mask_activity(&self, ctx: &Context<'_>, mask: ID) -> Result<impl Stream<Item = MaskActivity> + use<>> {
        signed_in(ctx)?;
        let st = state(ctx).clone();
        let sight = Sight::of(ctx);
        let found = st
            .ids
            .decode_as(NodeKind::Mask, &mask)
            .and_then(|id| sight.mask_by_id(&st.engine.read(), id))
            .ok_or_else(|| ApiError::new(Code::NotFound, "mask not found").field("mask"))?;
        let shutdown = st.shutdown_signal();
        let stream = commits(&st)
            .flat_map(move |batch| {
                let at = committed_at(&batch);
                let graph = st.engine.read();
                let me = found.id;
                let mask = |id: Id| sight.mask_by_id(&graph, id);
                let mut out = Vec::new();
                for (i, event) in batch.events.iter().enumerate() {
                    let (kind, actor, world, work) = match event {
                        Event::EdgeAdded { kind: EdgeKind::Follows, src, dst, .. } if *dst == me => {
                            (MaskActivityKind::Followed, mask(*src), None, None)
                        }
                        Event::EdgeRemoved { kind: EdgeKind::Follows, src, dst } if *dst == me => {
                            (MaskActivityKind::Unfollowed, mask(*src), None, None)
                        }
                        Event::EdgeAdded { kind: EdgeKind::Endorses, src, dst, .. } if *dst == me => {
                            (MaskActivityKind::Endorsed, mask(*src), None, None)
                        }
                        Event::EdgeAdded { kind: EdgeKind::MemberOf, src, dst, .. } if *src == me => {
                            (MaskActivityKind::Joined, None, world_at(&graph, *dst), None)
                        }
                        Event::EdgeRemoved { kind: EdgeKind::MemberOf, src, dst } if *src == me => {
                            (MaskActivityKind::Left, None, world_at(&graph, *dst), None)
                        }
                        Event::EdgeAdded { kind: EdgeKind::Authored, src, dst, .. }
                            if *src == me
                                && batch.events.iter().any(
                                    |e| matches!(e, Event::VertexCreated { id, kind: VertexKind::Work, .. } if id == dst),
                                ) =>
                        {
                            let work = graph.index_of(*dst).and_then(|v| sight.work(&graph, v));
                            (MaskActivityKind::Published, None, None, work)
                        }
                        _ => continue,
                    };
                    let complete = match kind {
                        MaskActivityKind::Followed | MaskActivityKind::Unfollowed | MaskActivityKind::Endorsed => {
                            actor.is_some()
                        }
                        MaskActivityKind::Joined | MaskActivityKind::Left => world.is_some(),
                        MaskActivityKind::Published => work.is_some(),
                    };
                    if !complete {
                        continue;
                    }
                    let follower_count = graph
                        .inn(EdgeKind::Follows, found.v)
                        .filter(|&m| graph.kind_at(m) == VertexKind::Mask && !hidden(&graph, m) && sight.sees(&graph, m))
                        .count() as i32;
                    out.push(MaskActivity {
                        kind,
                        seq: (batch.first_seq + i as u64).to_string(),
                        committed_at: at.clone(),
                        actor,
                        world,
                        work,
                        follower_count,
                    });
                }
                futures_util::stream::iter(out)
            })
            .take_until(shutdown);
        Ok(stream)
    }

    /// Changes in a thread, as they are committed: posts written, edited, hidden or shown,
    /// reactions. A post the subscriber cannot see is left out whole.
    async fn thread_updates(&self, ctx: &Context<'_>, thread: ID) -> Result<impl Stream<Item = ThreadUpdate> + use<>> {
        signed_in(ctx)?;
        let st = state(ctx).clone();
        let sight = Sight::of(ctx);
        let thread = st
            .ids
            .decode_as(NodeKind::Thread, &thread)
            .and_then(|id| {
                let graph = st.engine.read();
                graph.index_of(id).and_then(|v| super::talk::Thread::seen(sight, &graph, v))
            })
            .ok_or_else(|| ApiError::new(Code::NotFound, "thread not found").field("thread"))?;
        let shutdown = st.shutdown_signal();
        let stream = commits(&st)
            .flat_map(move |batch| {
                let at = committed_at(&batch);
                let graph = st.engine.read();
                let in_thread = |id: Id| {
                    graph.index_of(id).filter(|&v| {
                        graph.kind_at(v) == VertexKind::Post && graph.out(EdgeKind::Within, v).next() == Some(thread.v)
                    })
                };
                let mut out = Vec::new();
                let mut reacted = std::collections::HashSet::new();
                for (i, event) in batch.events.iter().enumerate() {
                    let (kind, post) = match event {
                        Event::VertexCreated { id, kind: VertexKind::Post, .. } => match in_thread(*id) {
                            Some(v) => (ThreadUpdateKind::Posted, Some(v)),
                            None => continue,
                        },
                        Event::PropsSet { id, props } if *id == thread.id => {
                            match [schema::talk::HIDDEN, schema::talk::REMOVED].iter().find_map(|k| props.get(*k)) {
                                Some(Value::Bool(true)) => (ThreadUpdateKind::Hidden, None),
                                Some(_) => (ThreadUpdateKind::Shown, None),
                                None => continue,
                            }
                        }
                        Event::PropsSet { id, props } => {
                            let Some(v) = in_thread(*id) else { continue };
                            let gone = [schema::talk::HIDDEN, schema::talk::REMOVED].iter().find_map(|k| props.get(*k));
                            match gone {
                                Some(Value::Bool(true)) => (ThreadUpdateKind::Hidden, Some(v)),
                                Some(_) => (ThreadUpdateKind::Shown, Some(v)),
                                None if props.contains_key("body") => (ThreadUpdateKind::Edited, Some(v)),
                                None => continue,
                            }
                        }
                        Event::EdgeAdded { kind: EdgeKind::Reacted, dst, .. }
                        | Event::EdgeRemoved { kind: EdgeKind::Reacted, dst, .. } => match in_thread(*dst) {
                            // One update per post and batch: the counts are as they are now.
                            Some(v) if reacted.insert(v) => (ThreadUpdateKind::Reacted, Some(v)),
                            _ => continue,
                        },
                        _ => continue,
                    };
                    let seen = post.and_then(|v| super::talk::Post::seen(sight, &graph, v));
                    if post.is_some() && seen.is_none() && !matches!(kind, ThreadUpdateKind::Hidden) {
                        continue;
                    }
                    if kind == ThreadUpdateKind::Hidden
                        && let Some(v) = post
                        && graph.inn(EdgeKind::Wrote, v).next().is_some_and(|w| !sight.sees(&graph, w))
                    {
                        continue; // a post the subscriber never saw
                    }
                    out.push(ThreadUpdate {
                        kind,
                        seq: (batch.first_seq + i as u64).to_string(),
                        committed_at: at.clone(),
                        post: seen,
                        post_id: post.map(|v| ID(st.ids.of(NodeKind::Post, graph.id_at(v)))),
                    });
                }
                futures_util::stream::iter(out)
            })
            .take_until(shutdown);
        Ok(stream)
    }

    /// Posts that mention one of your masks, as they are written (and edits that add the
    /// mention). Its owner only: for anyone else the mask is not found.
    async fn mentions(&self, ctx: &Context<'_>, mask: ID) -> Result<impl Stream<Item = Mention> + use<>> {
        let user = super::user(ctx)?;
        let st = state(ctx).clone();
        let mask = st
            .ids
            .decode_as(NodeKind::Mask, &mask)
            .filter(|&m| st.engine.read().is_owned_by(m, user))
            .ok_or_else(|| ApiError::new(Code::NotFound, "mask not found").field("mask"))?;
        let shutdown = st.shutdown_signal();
        let sight = Sight::of(ctx);
        let stream = commits(&st)
            .flat_map(move |batch| {
                let at = committed_at(&batch);
                let graph = st.engine.read();
                let mut out = Vec::new();
                for (i, event) in batch.events.iter().enumerate() {
                    let Event::EdgeAdded { kind: EdgeKind::Mentions, src, dst, .. } = event else { continue };
                    if *dst != mask {
                        continue;
                    }
                    let Some(post) = graph.index_of(*src).and_then(|v| super::talk::Post::seen(sight, &graph, v))
                    else {
                        continue;
                    };
                    out.push(Mention {
                        seq: (batch.first_seq + i as u64).to_string(),
                        committed_at: at.clone(),
                        post,
                        thread: graph
                            .out(EdgeKind::Within, post.v)
                            .next()
                            .and_then(|t| super::talk::Thread::seen(sight, &graph, t)),
                        by: graph.inn(EdgeKind::Wrote, post.v).next().and_then(|w| sight.mask(&graph, w)),
                    });
                }
                futures_util::stream::iter(out)
            })
            .take_until(shutdown);
        Ok(stream)
    }

    /// Direct messages to and from one of your masks, as they are stored (sealed: your client
    /// opens them). Its owner only: for anyone else the mask is not found.
    async fn direct_messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "as")] as_mask: ID,
    ) -> Result<impl Stream<Item = super::messages::Message> + use<>> {
        super::user(ctx)?;
        let mask = super::messages::own_mask(ctx, &as_mask)?;
        let st = state(ctx).clone();
        let shutdown = st.shutdown_signal();
        let stream = futures_util::stream::unfold(st.messages.delivered(), move |mut delivered| async move {
            loop {
                match delivered.recv().await {
                    Ok(envelope) if envelope.sender == mask || envelope.recipient == mask => {
                        return Some((super::messages::Message(envelope), delivered));
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        })
        .take_until(shutdown);
        Ok(stream)
    }

    /// A mask's scores each time an epoch is computed.
    async fn mask_scores(&self, ctx: &Context<'_>, mask: ID) -> Result<impl Stream<Item = ScoreUpdate> + use<>> {
        signed_in(ctx)?;
        let st = state(ctx).clone();
        let found = st
            .ids
            .decode_as(NodeKind::Mask, &mask)
            .and_then(|id| Sight::of(ctx).mask_by_id(&st.engine.read(), id))
            .ok_or_else(|| ApiError::new(Code::NotFound, "mask not found").field("mask"))?;
        let mut epochs = st.epoch_numbers();
        epochs.mark_unchanged();
        let shutdown = st.shutdown_signal();
        let stream = futures_util::stream::unfold(epochs, move |mut epochs| {
            let st = st.clone();
            async move {
                loop {
                    epochs.changed().await.ok()?;
                    let number = *epochs.borrow_and_update();
                    let Some(set) = st.epochs.get(number) else { continue };
                    if set.trust.trust.get(found.v as usize).is_none() {
                        continue;
                    }
                    // The epoch before, while it is kept: the same for every subscriber,
                    // however long each has been listening.
                    let previous_trust = number
                        .checked_sub(1)
                        .and_then(|n| st.epochs.get(n))
                        .and_then(|previous| previous.trust.trust.get(found.v as usize).copied());
                    let update = ScoreUpdate { reputation: Reputation { mask: found, set }, previous_trust };
                    return Some((update, epochs));
                }
            }
        })
        .take_until(shutdown);
        Ok(stream)
    }
}
