//! The object types.

use super::connection::{Conn, Ordered, page_by_key};
use super::{caller, cost, state};
use crate::State;
use crate::error::{ApiError, Code};
use crate::ids::NodeKind;
use async_graphql::{Context, Enum, ID, Interface, Object, Result, SimpleObject};
use graph_engine::Graph;
use reputation::ScoreSet;
use schema::{EdgeKind, Id, MaskKind as EngineMaskKind, Value, VertexKind};
use std::sync::Arc;

/// A mask's kind.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskKind {
    /// The user's everyday face.
    Public,
    /// Seen only where it acts; never listed or searchable.
    Private,
    /// A creator's face.
    Creator,
    /// A citizen of worlds (governance).
    Citizen,
    /// A pseudonym that nobody can link to its owner; never listed or searchable.
    Shadow,
}

impl From<EngineMaskKind> for MaskKind {
    fn from(k: EngineMaskKind) -> MaskKind {
        match k {
            EngineMaskKind::Public => MaskKind::Public,
            EngineMaskKind::Private => MaskKind::Private,
            EngineMaskKind::Creator => MaskKind::Creator,
            EngineMaskKind::Citizen => MaskKind::Citizen,
            EngineMaskKind::Shadow => MaskKind::Shadow,
        }
    }
}

impl From<MaskKind> for EngineMaskKind {
    fn from(k: MaskKind) -> EngineMaskKind {
        match k {
            MaskKind::Public => EngineMaskKind::Public,
            MaskKind::Private => EngineMaskKind::Private,
            MaskKind::Creator => EngineMaskKind::Creator,
            MaskKind::Citizen => EngineMaskKind::Citizen,
            MaskKind::Shadow => EngineMaskKind::Shadow,
        }
    }
}

/// Anything with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The opaque global id."))]
pub enum Node {
    /// A mask.
    Mask(Mask),
    /// A world.
    World(World),
    /// A work.
    Work(Work),
    /// A cluster of one epoch.
    Cluster(Cluster),
    /// A governance proposal.
    Proposal(super::governance::Proposal),
    /// A moderation case.
    Case(super::governance::Case),
    /// A marketplace listing.
    Listing(super::economy::Listing),
    /// A contract (its parties' and jurors' only).
    Contract(super::economy::Contract),
    /// A thread in a world.
    Thread(super::talk::Thread),
    /// A post in a thread.
    Post(super::talk::Post),
}

/// A public text property of a vertex.
pub(crate) fn text(graph: &Graph, v: u32, key: &str) -> Option<String> {
    graph.public_prop(v, key).and_then(Value::as_str).map(str::to_owned)
}

/// Whether a vertex is hidden from listings and discovery.
pub(crate) fn hidden(graph: &Graph, v: u32) -> bool {
    matches!(graph.public_prop(v, search::HIDDEN), Some(Value::Bool(true)))
}

/// Whether a mask of this kind is listed and searchable (private and shadow masks are not).
pub(crate) fn listed_mask(graph: &Graph, v: u32) -> bool {
    matches!(graph.mask_kind(v), Some(k) if !matches!(k, EngineMaskKind::Private | EngineMaskKind::Shadow))
        && !hidden(graph, v)
}

/// Whether the signed-in user owns `mask`.
fn owned_by_caller(ctx: &Context<'_>, mask: Id) -> bool {
    caller(ctx).and_then(|c| c.user).is_some_and(|user| state(ctx).engine.read().is_owned_by(mask, user))
}

/// An invitation to co-author a work.
#[derive(SimpleObject, Clone, Debug)]
pub struct CoauthorInvitation {
    /// The work.
    pub work: Work,
    /// The share of it offered, 0..=1.
    pub share: f64,
}

/// Who is looking: the signed-in user, or nobody. Every mask and work the API shows passes
/// through a `Sight` (`Sight::mask`, `Sight::work`, `neighbours`), and the engine answers by
/// the one rule of `schema::visibility`: a private mask, and a work only it authored, are
/// seen by its owner and the users it admitted; to everyone else they do not exist.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sight(Option<Id>);

impl Sight {
    /// The caller's sight.
    pub(crate) fn of(ctx: &Context<'_>) -> Sight {
        Sight(caller(ctx).and_then(|c| c.user))
    }

    /// Whether the caller sees vertex `v`.
    pub(crate) fn sees(self, graph: &Graph, v: u32) -> bool {
        graph.sees(self.0, v)
    }

    /// The mask at dense index `v`, if it is one the caller sees.
    pub(crate) fn mask(self, graph: &Graph, v: u32) -> Option<Mask> {
        (graph.kind_at(v) == VertexKind::Mask && self.sees(graph, v)).then(|| Mask { v, id: graph.id_at(v) })
    }

    /// The mask with engine id `id`, if the caller sees it.
    pub(crate) fn mask_by_id(self, graph: &Graph, id: Id) -> Option<Mask> {
        graph.index_of(id).and_then(|v| self.mask(graph, v))
    }

    /// The work at dense index `v`, if it is one the caller sees.
    pub(crate) fn work(self, graph: &Graph, v: u32) -> Option<Work> {
        (graph.kind_at(v) == VertexKind::Work && self.sees(graph, v)).then(|| Work { v, id: graph.id_at(v) })
    }
}

/// The vertices of `kind` reached from `v` over `edge` (out or in) that the caller sees, not
/// hidden, in their public order (see `connection`): the edge's time, newest first, then the
/// name.
pub(crate) fn neighbours<'g>(
    st: &'g State,
    sight: Sight,
    graph: &'g Graph,
    v: u32,
    edge: EdgeKind,
    outward: bool,
    kind: VertexKind,
) -> Ordered<'g, u32> {
    let edges: Box<dyn Iterator<Item = (u32, graph_engine::EdgeProps)>> =
        if outward { Box::new(graph.out_edges(edge, v)) } else { Box::new(graph.in_edges(edge, v)) };
    let items = edges
        .filter(|&(n, _)| graph.kind_at(n) == kind && !hidden(graph, n) && sight.sees(graph, n))
        .map(|(n, props)| (props.time_ms, n));
    in_public_order(st, graph, items)
}

/// Items with the time they joined their list, in their public order: the time, newest first,
/// then the name everyone sees (handle, world name, title), then a keyed hash of the id.
pub(crate) fn in_public_order<'g>(
    st: &'g State,
    graph: &'g Graph,
    items: impl Iterator<Item = (Option<i64>, u32)>,
) -> Ordered<'g, u32> {
    let name_of = |v: u32| -> &'g str {
        let key = match graph.kind_at(v) {
            VertexKind::Mask => "handle",
            VertexKind::World => "name",
            _ => "title",
        };
        graph.public_prop(v, key).and_then(Value::as_str).unwrap_or("")
    };
    Ordered::new(items.map(|(time, v)| (time, name_of(v), v)), move |v| st.ids.tie(graph.id_at(v)))
}

/// When a work was published: its latest authorship edge.
pub(crate) fn published(graph: &Graph, work: u32) -> Option<i64> {
    graph.inn(EdgeKind::Authored, work).filter_map(|m| graph.edge(EdgeKind::Authored, m, work)?.time_ms).max()
}

/// A mask: how a user appears to others. Who owns it is never shown, except to its owner.
#[derive(Clone, Copy, Debug)]
pub struct Mask {
    pub(crate) v: u32,
    pub(crate) id: Id,
}

/// A world: a community with members, moderators and works.
#[derive(Clone, Copy, Debug)]
pub struct World {
    pub(crate) v: u32,
    pub(crate) id: Id,
}

/// A work, alone or with co-authors, perhaps a remix.
#[derive(Clone, Copy, Debug)]
pub struct Work {
    pub(crate) v: u32,
    pub(crate) id: Id,
}

impl World {
    /// The world at dense index `v`, if it is one.
    pub fn at(graph: &Graph, v: u32) -> Option<World> {
        (graph.kind_at(v) == VertexKind::World).then(|| World { v, id: graph.id_at(v) })
    }
}

#[Object]
impl Mask {
    /// The opaque global id.
    async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.of(NodeKind::Mask, self.id))
    }

    /// The unique handle (a-z, 0-9, _). An erased mask keeps its handle through the server's
    /// cooling-off period; once another mask takes it, this is empty.
    async fn handle(&self, ctx: &Context<'_>) -> String {
        text(&state(ctx).engine.read(), self.v, "handle").unwrap_or_default()
    }

    /// The display name (empty for an erased mask: show it as "an erased mask").
    async fn display_name(&self, ctx: &Context<'_>) -> String {
        text(&state(ctx).engine.read(), self.v, "display_name").unwrap_or_default()
    }

    /// Whether the account that owned this mask was erased: its display name and bio are
    /// gone, nobody owns it any more, and its works are attributed to an erased mask.
    async fn erased(&self, ctx: &Context<'_>) -> bool {
        state(ctx).engine.read().erased_until(self.v).is_some()
    }

    /// The bio (empty for an erased mask).
    async fn bio(&self, ctx: &Context<'_>) -> String {
        text(&state(ctx).engine.read(), self.v, "bio").unwrap_or_default()
    }

    /// The kind.
    async fn kind(&self, ctx: &Context<'_>) -> Option<MaskKind> {
        state(ctx).engine.read().mask_kind(self.v).map(MaskKind::from)
    }

    /// Whether the viewer owns this mask: true only ever for the owner; anyone else gets
    /// false, whoever owns it.
    async fn is_mine(&self, ctx: &Context<'_>) -> bool {
        owned_by_caller(ctx, self.id)
    }

    /// What this mask may do in a world, with the reason for each privilege it lacks ("trust
    /// percentile 41 < 60 needed to propose"). Only for the mask's owner (the reasons can
    /// tell the mask's age): null for anyone else.
    async fn privileges(&self, ctx: &Context<'_>, world: ID) -> Result<Option<Vec<super::governance::Privilege>>> {
        if !owned_by_caller(ctx, self.id) {
            return Ok(None);
        }
        let world = {
            let graph = state(ctx).engine.read();
            super::query::world_index(ctx, &graph, &world, "world")?.1
        };
        Ok(Some(super::governance::privileges(ctx, self.id, world)))
    }

    /// The mask's posted balance in EGP ("12.50"). Only for the mask's owner: null for anyone
    /// else.
    async fn balance(&self, ctx: &Context<'_>) -> Option<String> {
        owned_by_caller(ctx, self.id).then(|| super::economy::balance_of(&state(ctx).engine.read(), self.id).0)
    }

    /// What the mask may spend: its balance less what its pending transfers reserve (EGP).
    /// Only for the mask's owner.
    async fn available(&self, ctx: &Context<'_>) -> Option<String> {
        owned_by_caller(ctx, self.id).then(|| super::economy::balance_of(&state(ctx).engine.read(), self.id).1)
    }

    /// The mask's transfers, in and out, newest first. Only for the mask's owner: null for
    /// anyone else.
    #[graphql(complexity = "super::cost(first, last, child_complexity)")]
    async fn transfers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Option<Conn<super::economy::Transfer>>> {
        if !owned_by_caller(ctx, self.id) {
            return Ok(None);
        }
        super::economy::transfers_of(ctx, self.id, (first, last, after, before)).map(Some)
    }

    /// Masks that follow this one, the latest to follow first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn followers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Mask>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let items = neighbours(st, Sight::of(ctx), &graph, self.v, EdgeKind::Follows, false, VertexKind::Mask);
        page_by_key(ctx, &items, (first, last, after, before), |v| Mask { v, id: graph.id_at(v) })
    }

    /// Masks this one follows, the latest followed first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn following(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Mask>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let items = neighbours(st, Sight::of(ctx), &graph, self.v, EdgeKind::Follows, true, VertexKind::Mask);
        page_by_key(ctx, &items, (first, last, after, before), |v| Mask { v, id: graph.id_at(v) })
    }

    /// Worlds this mask is a member of, the latest joined first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn worlds(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<World>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let items = neighbours(st, Sight::of(ctx), &graph, self.v, EdgeKind::MemberOf, true, VertexKind::World);
        page_by_key(ctx, &items, (first, last, after, before), |v| World { v, id: graph.id_at(v) })
    }

    /// Works this mask authored, the latest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn works(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Work>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let items = neighbours(st, Sight::of(ctx), &graph, self.v, EdgeKind::Authored, true, VertexKind::Work);
        page_by_key(ctx, &items, (first, last, after, before), |v| Work { v, id: graph.id_at(v) })
    }

    /// Works this mask is invited to co-author, the latest first — for its owner only (null for
    /// anyone else): nothing of an invitation shows on a mask until it accepts.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn coauthor_invitations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Option<Conn<CoauthorInvitation>>> {
        let st = state(ctx);
        if !owned_by_caller(ctx, self.id) {
            return Ok(None);
        }
        let graph = st.engine.read();
        let items = neighbours(st, Sight::of(ctx), &graph, self.v, EdgeKind::Invited, true, VertexKind::Work);
        let share = |w: u32| graph.edge(EdgeKind::Invited, self.v, w).and_then(|p| p.weight).map_or(0.0, f64::from);
        page_by_key(ctx, &items, (first, last, after, before), |v| CoauthorInvitation {
            work: Work { v, id: graph.id_at(v) },
            share: share(v),
        })
        .map(Some)
    }

    /// Masks asking this one to collaborate, the latest first — for its owner only (null for
    /// anyone else). Asking back (`collaborate`) makes the collaboration.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn collaboration_requests(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Option<Conn<Mask>>> {
        let st = state(ctx);
        if !owned_by_caller(ctx, self.id) {
            return Ok(None);
        }
        let graph = st.engine.read();
        let items = neighbours(st, Sight::of(ctx), &graph, self.v, EdgeKind::Asks, false, VertexKind::Mask);
        page_by_key(ctx, &items, (first, last, after, before), |v| Mask { v, id: graph.id_at(v) }).map(Some)
    }

    /// Posts that mention it (those the viewer sees), the latest mention first: where its
    /// owner finds mentions after the fact (the `mentions` subscription delivers them live).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn mentioned_in(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<super::talk::Post>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let sight = Sight::of(ctx);
        let items = graph
            .in_edges(EdgeKind::Mentions, self.v)
            .filter(|&(p, _)| super::talk::Post::seen(sight, &graph, p).is_some())
            .map(|(p, props)| (props.time_ms, p));
        let ordered = in_public_order(st, &graph, items);
        page_by_key(ctx, &ordered, (first, last, after, before), |v| super::talk::Post { v, id: graph.id_at(v) })
    }

    /// Its published keys, for sealing a message to it (null until it publishes keys). Each
    /// signed-in caller that asks takes one of its one-time pre-keys, which nobody else gets.
    async fn key_bundle(&self, ctx: &Context<'_>) -> Result<Option<super::messages::KeyBundle>> {
        super::messages::bundle_of(ctx, self.id, true).await
    }

    /// Its published Ed25519 identity key (base64url; null until it publishes keys): what a
    /// reader's client compares with the identity in a message's header. Takes nothing.
    async fn identity_key(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(super::messages::bundle_of(ctx, self.id, false).await?.map(|b| b.identity_key))
    }

    /// Trust in the latest epoch (null before the first epoch). A mask made after the epoch
    /// has what a mask that never acted has.
    async fn trust(&self, ctx: &Context<'_>) -> Option<f64> {
        let set = state(ctx).epochs.latest()?;
        Some(set.trust.trust.get(self.v as usize).copied().unwrap_or_else(|| set.trust.isolated().0))
    }

    /// Every score with its explanation, in the latest epoch or in epoch `epoch`.
    async fn reputation(&self, ctx: &Context<'_>, epoch: Option<i32>) -> Result<Option<Reputation>> {
        Reputation::of(ctx, *self, epoch)
    }
}

#[Object]
impl World {
    /// The opaque global id.
    async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.of(NodeKind::World, self.id))
    }

    /// Its name.
    async fn name(&self, ctx: &Context<'_>) -> String {
        text(&state(ctx).engine.read(), self.v, "name").unwrap_or_default()
    }

    /// Its description.
    async fn description(&self, ctx: &Context<'_>) -> String {
        text(&state(ctx).engine.read(), self.v, "description").unwrap_or_default()
    }

    /// Its tags.
    async fn tags(&self, ctx: &Context<'_>) -> Vec<String> {
        match state(ctx).engine.read().public_prop(self.v, "tags") {
            Some(Value::List(tags)) => tags.clone(),
            _ => Vec::new(),
        }
    }

    /// How many masks are members: those `members` lists.
    async fn member_count(&self, ctx: &Context<'_>) -> usize {
        let st = state(ctx);
        let graph = st.engine.read();
        let sight = Sight::of(ctx);
        graph
            .inn(EdgeKind::MemberOf, self.v)
            .filter(|&m| graph.kind_at(m) == VertexKind::Mask && !hidden(&graph, m) && sight.sees(&graph, m))
            .count()
    }

    /// Its members, the latest to join first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Mask>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let items = neighbours(st, Sight::of(ctx), &graph, self.v, EdgeKind::MemberOf, false, VertexKind::Mask);
        page_by_key(ctx, &items, (first, last, after, before), |v| Mask { v, id: graph.id_at(v) })
    }

    /// Its moderators (founders and curators), the latest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn moderators(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Mask>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let items = neighbours(st, Sight::of(ctx), &graph, self.v, EdgeKind::Moderates, false, VertexKind::Mask);
        page_by_key(ctx, &items, (first, last, after, before), |v| Mask { v, id: graph.id_at(v) })
    }

    /// Works published in it, the latest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn works(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Work>> {
        let st = state(ctx);
        let works = st.works_of_world(self.id);
        let graph = st.engine.read();
        let items = in_public_order(st, &graph, works.iter().map(|&w| (published(&graph, w), w)));
        page_by_key(ctx, &items, (first, last, after, before), |v| Work { v, id: graph.id_at(v) })
    }

    /// Its threads the viewer sees, the most recently active first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn threads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<super::talk::Thread>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let items = super::talk::threads_of(st, Sight::of(ctx), &graph, self.v);
        page_by_key(ctx, &items, (first, last, after, before), |v| super::talk::Thread { v, id: graph.id_at(v) })
    }

    /// Its rules: who may propose, vote, report, moderate, sit on juries and post.
    async fn rules(&self, ctx: &Context<'_>) -> super::governance::Rules {
        super::governance::rules_of(&state(ctx).engine.read(), self.id)
    }

    /// Its curators as its governance designated them: trust's seeds for it. Empty until a
    /// proposal designates them (founding a world makes its founder a moderator, not a seed;
    /// an imported world without a designation is seeded by its moderators).
    async fn curators(&self, ctx: &Context<'_>) -> Vec<Mask> {
        super::governance::curators_of(ctx, self.id)
    }

    /// Its proposals, the newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn proposals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<super::governance::Proposal>> {
        super::governance::proposals_of(ctx, self.id, (first, last, after, before))
    }

    /// Its public case log: every moderation action with its rule, reason, moderator and
    /// appeals (never who reported), the newest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn cases(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<super::governance::Case>> {
        super::governance::cases_of(ctx, self.id, (first, last, after, before))
    }

    /// How alike its members' viewpoints are, in (0, 1], in the latest epoch.
    async fn coherence(&self, ctx: &Context<'_>) -> Option<f64> {
        let st = state(ctx);
        let set = st.epochs.latest()?;
        let graph = st.engine.read();
        (self.v < set.trust.trust.len() as u32).then(|| set.alignment.world_coherence(&graph, self.v))
    }
}

#[Object]
impl Work {
    /// The opaque global id.
    async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.of(NodeKind::Work, self.id))
    }

    /// Its title.
    async fn title(&self, ctx: &Context<'_>) -> String {
        text(&state(ctx).engine.read(), self.v, "title").unwrap_or_default()
    }

    /// Its description.
    async fn description(&self, ctx: &Context<'_>) -> String {
        text(&state(ctx).engine.read(), self.v, "description").unwrap_or_default()
    }

    /// The world it was published in.
    async fn world(&self, ctx: &Context<'_>) -> Option<World> {
        let graph = state(ctx).engine.read();
        let world: Id = text(&graph, self.v, "world")?.parse().ok()?;
        graph.index_of(world).and_then(|v| World::at(&graph, v))
    }

    /// Its authors, the latest to join first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn authors(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Mask>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let items = neighbours(st, Sight::of(ctx), &graph, self.v, EdgeKind::Authored, false, VertexKind::Mask);
        page_by_key(ctx, &items, (first, last, after, before), |v| Mask { v, id: graph.id_at(v) })
    }

    /// The work it remixes, if any.
    async fn remix_of(&self, ctx: &Context<'_>) -> Option<Work> {
        let graph = state(ctx).engine.read();
        let original = graph.out(EdgeKind::RemixOf, self.v).next()?;
        Sight::of(ctx).work(&graph, original).filter(|_| !hidden(&graph, original))
    }

    /// Works that remix it, the latest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn remixes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Work>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let items = neighbours(st, Sight::of(ctx), &graph, self.v, EdgeKind::RemixOf, false, VertexKind::Work);
        page_by_key(ctx, &items, (first, last, after, before), |v| Work { v, id: graph.id_at(v) })
    }

    /// How many masks endorse it.
    async fn endorsement_count(&self, ctx: &Context<'_>) -> usize {
        let (graph, sight) = (state(ctx).engine.read(), Sight::of(ctx));
        graph.inn(EdgeKind::Endorses, self.v).filter(|&m| sight.sees(&graph, m)).count()
    }

    /// Its value after upstream credit, in the latest epoch.
    async fn value(&self, ctx: &Context<'_>) -> Option<f64> {
        state(ctx).epochs.latest()?.contribution.work_value.get(self.v as usize).copied()
    }
}

/// A community found by the clusters job in one epoch (Leiden: always connected).
#[derive(Clone, Debug)]
pub struct Cluster {
    pub(crate) epoch: u64,
    pub(crate) community: u32,
    pub(crate) set: Arc<ScoreSet>,
}

/// A world many of a cluster's members belong to.
#[derive(SimpleObject, Clone, Debug)]
pub struct ClusterWorld {
    /// The world.
    pub world: World,
    /// How many of the cluster's masks are members.
    pub members: usize,
}

impl Cluster {
    /// The masks of this community that `sight` sees (masks only: works and worlds are in
    /// clusters too, but a cluster is reported by its people).
    pub(crate) fn masks(&self, graph: &Graph, sight: Sight) -> Vec<u32> {
        let community = &self.set.clusters.community;
        (0..community.len().min(graph.vertex_count()) as u32)
            .filter(|&v| {
                community[v as usize] == self.community && graph.kind_at(v) == VertexKind::Mask && sight.sees(graph, v)
            })
            .collect()
    }
}

#[Object]
impl Cluster {
    /// The opaque global id.
    async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.encode(NodeKind::Cluster, (self.epoch << 32) | u64::from(self.community)))
    }

    /// The epoch it was found in.
    async fn epoch(&self) -> EpochInfo {
        EpochInfo::of(&self.set)
    }

    /// How many masks it holds.
    async fn size(&self, ctx: &Context<'_>) -> usize {
        self.masks(&state(ctx).engine.read(), Sight::of(ctx)).len()
    }

    /// Its masks, by handle.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Mask>> {
        let st = state(ctx);
        let graph = st.engine.read();
        // By handle: a cluster's masks joined it all at once.
        let items = in_public_order(st, &graph, self.masks(&graph, Sight::of(ctx)).into_iter().map(|v| (None, v)));
        page_by_key(ctx, &items, (first, last, after, before), |v| Mask { v, id: graph.id_at(v) })
    }

    /// The worlds its masks gather in most (up to 5): where a curator might grow it.
    async fn suggested_worlds(&self, ctx: &Context<'_>) -> Vec<ClusterWorld> {
        let graph = state(ctx).engine.read();
        let mut counts: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
        for m in self.masks(&graph, Sight::of(ctx)) {
            for w in graph.out(EdgeKind::MemberOf, m) {
                *counts.entry(w).or_default() += 1;
            }
        }
        let mut worlds: Vec<(u32, usize)> = counts.into_iter().filter(|&(w, _)| !hidden(&graph, w)).collect();
        worlds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        worlds
            .into_iter()
            .take(5)
            .map(|(v, members)| ClusterWorld { world: World { v, id: graph.id_at(v) }, members })
            .collect()
    }

    /// Its member graph, to draw: the `first` most trusted of its masks (at most 500) and
    /// the follows among them — the public ties that hold a membership (a follow is as public
    /// as `Mask.followers`; ratings and endorsements of masks stay inside the scores).
    #[graphql(complexity = "1 + (first.clamp(1, 500) as usize / 20 + 1) * child_complexity")]
    async fn graph(&self, ctx: &Context<'_>, #[graphql(default = 300)] first: i32) -> MemberGraph {
        let graph = state(ctx).engine.read();
        let trust = |v: u32| self.set.trust.trust.get(v as usize).copied().unwrap_or(0.0);
        let mut masks = self.masks(&graph, Sight::of(ctx));
        let total = masks.len();
        // The most trusted first; equal trust by id's keyed hash, so the order says nothing else.
        let st = state(ctx);
        masks.sort_by(|&a, &b| {
            trust(b).total_cmp(&trust(a)).then_with(|| st.ids.tie(graph.id_at(a)).cmp(&st.ids.tie(graph.id_at(b))))
        });
        masks.truncate(first.clamp(1, 500) as usize);
        let at: std::collections::HashMap<u32, usize> = masks.iter().enumerate().map(|(i, &v)| (v, i)).collect();
        let mut ties = Vec::new();
        for (i, &v) in masks.iter().enumerate() {
            for w in graph.out(EdgeKind::Follows, v) {
                if let Some(&j) = at.get(&w).filter(|&&j| j != i) {
                    ties.push(MemberTie { source: i, target: j });
                }
            }
        }
        ties.sort_by_key(|t| (t.source, t.target));
        ties.dedup_by_key(|t| (t.source, t.target));
        MemberGraph {
            total,
            members: masks
                .into_iter()
                .map(|v| MemberNode { mask: Mask { v, id: graph.id_at(v) }, trust: trust(v) })
                .collect(),
            ties,
        }
    }
}

/// A community's members and the follows among them.
#[derive(SimpleObject, Clone, Debug)]
pub struct MemberGraph {
    /// The members drawn, the most trusted first.
    pub members: Vec<MemberNode>,
    /// Follows among them (indices into `members`).
    pub ties: Vec<MemberTie>,
    /// How many masks the community holds (more than `members` when it was cut at `first`).
    pub total: usize,
}

/// A member with its trust in the cluster's epoch.
#[derive(SimpleObject, Clone, Debug)]
pub struct MemberNode {
    /// The mask.
    pub mask: Mask,
    /// Its trust in the epoch.
    pub trust: f64,
}

/// `members[source]` follows `members[target]`.
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct MemberTie {
    /// The follower's index in `members`.
    pub source: usize,
    /// The followed mask's index in `members`.
    pub target: usize,
}

/// One job's parameter.
#[derive(SimpleObject, Clone, Debug)]
pub struct Parameter {
    /// The job (trust, contribution, alignment, clusters).
    pub job: String,
    /// The job's version.
    pub version: i32,
    /// The parameter.
    pub name: String,
    /// Its value, as text.
    pub value: String,
}

/// What an epoch's scores were computed from: enough to recompute them exactly from the log.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct EpochInfo {
    /// Its number, from 1.
    pub number: i32,
    /// The log sequence number the graph was cut at (a decimal string: it is 64-bit).
    pub log_seq: String,
    /// The chain hash at that position, in hex.
    pub log_hash: String,
    /// Every job's parameters.
    pub parameters: Vec<Parameter>,
    /// How long the jobs took, in milliseconds.
    pub computed_in_ms: f64,
    /// The clusters' modularity.
    pub modularity: f64,
    #[graphql(skip)]
    set: Arc<ScoreSet>,
}

#[async_graphql::ComplexObject]
impl EpochInfo {
    /// How many communities `clusters` lists: those of two masks or more that everyone sees.
    async fn cluster_count(&self, ctx: &Context<'_>) -> i32 {
        let st = state(ctx);
        st.caches.communities(&st.engine, &self.set).order.len() as i32
    }
}

impl EpochInfo {
    /// The epoch of `set`.
    pub(crate) fn of(set: &Arc<ScoreSet>) -> EpochInfo {
        let mut parameters = Vec::new();
        for epoch in [&set.trust.epoch, &set.contribution.epoch, &set.alignment.epoch, &set.clusters.epoch] {
            for (name, value) in &epoch.params {
                parameters.push(Parameter {
                    job: epoch.job.to_owned(),
                    version: epoch.job_version as i32,
                    name: (*name).to_owned(),
                    value: value.clone(),
                });
            }
        }
        EpochInfo {
            number: set.number as i32,
            log_seq: set.position.seq.to_string(),
            log_hash: graph_engine::log::hex(&set.position.hash),
            parameters,
            computed_in_ms: set.elapsed.as_secs_f64() * 1e3,
            modularity: set.clusters.modularity,
            set: set.clone(),
        }
    }
}

/// A share of a score from one mask.
#[derive(SimpleObject, Clone, Debug)]
pub struct FromMask {
    /// The mask.
    pub mask: Mask,
    /// How much.
    pub amount: f64,
}

/// A share of a score from one work.
#[derive(SimpleObject, Clone, Debug)]
pub struct FromWork {
    /// The work.
    pub work: Work,
    /// How much.
    pub amount: f64,
}

/// Where a mask's trust came from (EigenTrust / personalised PageRank; see reputation/README).
#[derive(SimpleObject, Clone, Debug)]
pub struct TrustExplanation {
    /// Trust before the distrust discount: teleport + dangling + the sum over trusting masks.
    pub before_discount: f64,
    /// From pre-trust (the mask is a seed: a world's founder or curator).
    pub teleport: f64,
    /// From dangling masks' trust returned to the seeds.
    pub dangling: f64,
    /// The largest shares from trusting masks, largest first (up to 10).
    pub from: Vec<FromMask>,
    /// The largest distrust received, largest first (up to 10).
    pub distrust: Vec<FromMask>,
}

/// Where a mask's contribution came from.
#[derive(SimpleObject, Clone, Debug)]
pub struct ContributionExplanation {
    /// The total.
    pub total: f64,
    /// Credit from works, largest first (up to 10).
    pub works: Vec<FromWork>,
    /// From collaborations.
    pub collaborations: f64,
    /// From completed trades.
    pub trades: f64,
    /// From governance.
    pub governance: f64,
}

/// A mask's place in the bridging model.
#[derive(SimpleObject, Clone, Debug)]
pub struct AlignmentScore {
    /// How readily it approves (its intercept).
    pub intercept: f64,
    /// Its viewpoint (factor); 0 for a mask that never voted or endorsed.
    pub viewpoint: f64,
}

/// Every score of a mask in one epoch, explained.
#[derive(Clone)]
pub struct Reputation {
    pub(crate) mask: Mask,
    pub(crate) set: Arc<ScoreSet>,
}

impl Reputation {
    pub(crate) fn of(ctx: &Context<'_>, mask: Mask, epoch: Option<i32>) -> Result<Option<Reputation>> {
        let st = state(ctx);
        let set = match epoch {
            Some(n) => st.epochs.get(n.max(0) as u64).ok_or_else(|| {
                ApiError::new(Code::NotFound, format!("epoch {n} is not kept (kept: {:?})", st.epochs.numbers()))
                    .field("epoch")
            })?,
            None => match st.epochs.latest() {
                Some(set) => set,
                None => return Ok(None),
            },
        };
        Ok(Some(Reputation { mask, set }))
    }

    /// The mask's index in the epoch's score vectors; `None` for a mask made after the epoch,
    /// which is given what a mask that never acted has (no score tells a new mask from an idle
    /// one: `TrustScores::isolated`, zero contribution and alignment, no community).
    fn scored(&self) -> Option<u32> {
        ((self.mask.v as usize) < self.set.trust.trust.len()).then_some(self.mask.v)
    }

    fn trust_value(&self) -> f64 {
        match self.scored() {
            Some(v) => self.set.trust.trust[v as usize],
            None => self.set.trust.isolated().0,
        }
    }
}

/// A score as it is sent: negative zero, which JSON writes as `-0.0`, sent as zero (it would
/// set apart a mask whose parts were computed, from one given zero).
fn plain(x: f64) -> f64 {
    x + 0.0
}

fn from_masks(graph: &Graph, sight: Sight, list: &[(Id, f64)]) -> Vec<FromMask> {
    list.iter().filter_map(|&(id, amount)| Some(FromMask { mask: sight.mask_by_id(graph, id)?, amount })).collect()
}

#[Object]
impl Reputation {
    /// The mask.
    async fn mask(&self) -> Mask {
        self.mask
    }

    /// The epoch.
    async fn epoch(&self) -> EpochInfo {
        EpochInfo::of(&self.set)
    }

    /// Trust, a share of 1 over all masks.
    async fn trust(&self) -> f64 {
        plain(self.trust_value())
    }

    /// Trust as a percentile among masks, 0..=100.
    async fn trust_percentile(&self, ctx: &Context<'_>) -> f64 {
        {
            let st = state(ctx);
            st.caches.trust_percentile(&st.engine, &self.set, self.trust_value())
        }
    }

    /// Flagged as a likely sybil (see reputation/README).
    async fn sybil(&self) -> bool {
        self.set.trust.sybil.get(self.mask.v as usize).copied().unwrap_or(false)
    }

    /// Where the trust came from.
    async fn trust_explanation(&self, ctx: &Context<'_>) -> TrustExplanation {
        let e = match self.scored() {
            Some(v) => self.set.trust.explain(v, 10),
            None => self.set.trust.isolated().1,
        };
        let graph = state(ctx).engine.read();
        TrustExplanation {
            before_discount: plain(e.before_discount),
            teleport: plain(e.teleport),
            dangling: plain(e.dangling),
            from: from_masks(&graph, Sight::of(ctx), &e.edges),
            distrust: from_masks(&graph, Sight::of(ctx), &e.distrust),
        }
    }

    /// Contribution.
    async fn contribution(&self) -> f64 {
        plain(self.set.contribution.score.get(self.mask.v as usize).copied().unwrap_or(0.0))
    }

    /// Where the contribution came from.
    async fn contribution_explanation(&self, ctx: &Context<'_>) -> ContributionExplanation {
        let e = match self.scored() {
            Some(v) => self.set.contribution.explain(v, 10),
            None => reputation::ContributionExplanation::default(),
        };
        let graph = state(ctx).engine.read();
        ContributionExplanation {
            total: plain(e.total),
            works: e
                .works
                .iter()
                .filter_map(|&(id, amount)| {
                    let v = graph.index_of(id)?;
                    Some(FromWork { work: Sight::of(ctx).work(&graph, v)?, amount })
                })
                .collect(),
            collaborations: plain(e.collaborations),
            trades: plain(e.trades),
            governance: plain(e.governance),
        }
    }

    /// Alignment.
    async fn alignment(&self) -> AlignmentScore {
        let v = self.mask.v as usize;
        AlignmentScore {
            intercept: plain(self.set.alignment.mask_intercept.get(v).copied().unwrap_or(0.0)),
            viewpoint: plain(self.set.alignment.mask_factor.get(v).copied().unwrap_or(0.0)),
        }
    }

    /// The community it belongs to (none for a mask alone: see `Query.clusters`).
    async fn cluster(&self, ctx: &Context<'_>) -> Option<Cluster> {
        let community = *self.set.clusters.community.get(self.scored()? as usize)?;
        let st = state(ctx);
        st.caches.communities(&st.engine, &self.set).reported(community).then(|| Cluster {
            epoch: self.set.number,
            community,
            set: self.set.clone(),
        })
    }
}

/// One mask's change between two epochs.
#[derive(SimpleObject, Clone, Debug)]
pub struct ScoreChange {
    /// The mask.
    pub mask: Mask,
    /// Trust in the earlier epoch.
    pub trust_before: f64,
    /// Trust in the later epoch.
    pub trust_after: f64,
    /// Contribution in the earlier epoch.
    pub contribution_before: f64,
    /// Contribution in the later epoch.
    pub contribution_after: f64,
}

/// A search hit's entity.
#[derive(async_graphql::Union, Clone, Debug)]
pub enum SearchResult {
    /// A world.
    World(World),
    /// A work.
    Work(Work),
    /// A public mask.
    Mask(Mask),
    /// A governance proposal.
    Proposal(super::governance::Proposal),
    /// A marketplace listing.
    Listing(super::economy::Listing),
    /// A thread.
    Thread(super::talk::Thread),
    /// A post.
    Post(super::talk::Post),
}

/// One search hit.
#[derive(SimpleObject, Clone, Debug)]
pub struct SearchHit {
    /// What was found.
    pub node: SearchResult,
    /// Its title (a world's name, a work's title, a mask's display name).
    pub title: String,
    /// The blended score that ordered the hits.
    pub score: f64,
    /// Text relevance (BM25) alone.
    pub relevance: f64,
    /// The reputation prior, 0..=1.
    pub prior: f64,
}
