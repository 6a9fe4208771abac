//! The query root.

use super::connection::{Conn, LIST_MAX, page};
use super::types::*;
use super::{caller, cost, state};
use crate::error::{ApiError, Code};
use crate::ids::NodeKind;
use async_graphql::{Context, Enum, ID, Object, Result};
use graph_engine::Graph;
use schema::{EdgeKind, Id, VertexKind};

/// The core queries.
#[derive(Default)]
pub struct CoreQuery;

/// A user's data and its signature.
#[derive(async_graphql::SimpleObject)]
pub struct SignedExport {
    /// JSON of everything the user owns (see api/README.md): the bytes signed.
    pub document: String,
    /// Ed25519 over the document's UTF-8 bytes, base64.
    pub signature: String,
    /// The server's public key, base64 (as at /.well-known/daira-signing-key).
    pub public_key: String,
}

/// What to search.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchKind {
    /// Worlds.
    World,
    /// Works.
    Work,
    /// Public masks.
    Mask,
    /// Governance proposals.
    Proposal,
    /// Open marketplace listings.
    Listing,
    /// Threads, by their titles.
    Thread,
    /// Posts, by their bodies.
    Post,
}

/// A language of the text.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// Arabic script (standard or Egyptian).
    Ar,
    /// English.
    En,
    /// Arabizi: Arabic in Latin letters and digits.
    Arabizi,
}

/// The signed-in user's own view: their masks, all of them (shadow masks included, since the
/// owner is asking).
pub struct Viewer {
    user: Id,
}

#[Object]
impl Viewer {
    /// The viewer's masks, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn masks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Mask>> {
        let graph = state(ctx).engine.read();
        let items: Vec<u32> = match graph.index_of(self.user) {
            Some(u) => graph.out(EdgeKind::Owns, u).collect(),
            None => Vec::new(),
        };
        page(&items, (first, last, after, before), |v| Mask { v, id: graph.id_at(v) })
    }
}

/// Resolves a global id to its node, if it exists (a cluster: if its epoch is kept).
pub(crate) fn resolve(ctx: &Context<'_>, id: &str) -> Option<Node> {
    let st = state(ctx);
    let (kind, raw) = st.ids.decode(id)?;
    if kind == NodeKind::Cluster {
        let set = st.epochs.get(raw >> 32)?;
        let community = raw as u32;
        let reported = st.caches.communities(&st.engine, &set).reported(community);
        return reported.then_some(Node::Cluster(Cluster { epoch: raw >> 32, community, set }));
    }
    let graph = st.engine.read();
    let v = graph.index_of(Id(raw))?;
    let sight = Sight::of(ctx);
    match kind {
        NodeKind::Mask => sight.mask(&graph, v).map(Node::Mask),
        NodeKind::World => World::at(&graph, v).map(Node::World),
        NodeKind::Work => sight.work(&graph, v).map(Node::Work),
        NodeKind::Proposal => super::governance::Proposal::get(&graph, Id(raw)).map(Node::Proposal),
        NodeKind::Case => super::governance::Case::get(&graph, Id(raw)).map(Node::Case),
        NodeKind::Listing => super::economy::Listing::get(&graph, Id(raw)).map(Node::Listing),
        NodeKind::Contract => super::economy::Contract::visible(ctx, &graph, Id(raw)).map(Node::Contract),
        NodeKind::Thread => super::talk::Thread::seen(sight, &graph, v).map(Node::Thread),
        NodeKind::Post => super::talk::Post::seen(sight, &graph, v).map(Node::Post),
        NodeKind::Cluster => None,
    }
}

/// Epoch `epoch` (an error naming the field when it is not kept), or the latest (None before
/// the first).
fn kept_epoch(st: &crate::State, epoch: Option<i32>) -> Result<Option<std::sync::Arc<reputation::ScoreSet>>> {
    match epoch {
        Some(n) => {
            Ok(Some(st.epochs.get(n.max(0) as u64).ok_or_else(|| bad("epoch", format!("epoch {n} is not kept")))?))
        }
        None => Ok(st.epochs.latest()),
    }
}

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadUserInput, message).field(field)
}

/// The dense index of the world a global id names, or NOT_FOUND.
pub(crate) fn world_index(ctx: &Context<'_>, graph: &Graph, id: &ID, field: &str) -> Result<(u32, Id), ApiError> {
    state(ctx)
        .ids
        .decode_as(NodeKind::World, id)
        .and_then(|w| Some((graph.index_of(w).filter(|&v| graph.kind_at(v) == VertexKind::World)?, w)))
        .ok_or_else(|| ApiError::new(Code::NotFound, "world not found").field(field))
}

#[Object]
impl CoreQuery {
    /// Any node by its global id (null when there is none, or none the viewer may see).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Option<Node> {
        resolve(ctx, &id)
    }

    /// Nodes by their global ids, in order (null where there is none); at most 100.
    #[graphql(complexity = "1 + ids.len().min(100) * child_complexity")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        if ids.len() > LIST_MAX {
            return Err(bad("ids", format!("at most {LIST_MAX} ids (got {})", ids.len())).into());
        }
        Ok(ids.iter().map(|id| resolve(ctx, id)).collect())
    }

    /// Everything the signed-in user owns — the account, every mask with its fields, every
    /// edge they made, their works — as a JSON document, signed (Ed25519) by the server's key,
    /// which `GET /.well-known/daira-signing-key` serves.
    async fn export_my_data(&self, ctx: &Context<'_>) -> Result<SignedExport> {
        let user = super::user(ctx)?;
        let st = state(ctx);
        let login = st.auth.login_of(user).await.map_err(|e| ApiError::internal("export", e))?.unwrap_or_default();
        let graph = st.engine.read();
        let signed = crate::export::signed(&graph, &st.ids, &st.keys, &login, user)
            .map_err(|e| ApiError::internal("export", e))?;
        Ok(SignedExport { document: signed.document, signature: signed.signature, public_key: signed.public_key })
    }

    /// The signed-in user's own view; null when nobody is signed in.
    async fn viewer(&self, ctx: &Context<'_>) -> Option<Viewer> {
        caller(ctx).and_then(|c| c.user).map(|user| Viewer { user })
    }

    /// A mask by its handle.
    async fn mask(&self, ctx: &Context<'_>, handle: String) -> Option<Mask> {
        let graph = state(ctx).engine.read();
        let handle = schema::Handle::parse(&handle).ok()?;
        graph.handle_holder(&handle).and_then(|v| Sight::of(ctx).mask(&graph, v))
    }

    /// Listed masks (public, creator and citizen; never private or shadow ones), by handle.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn masks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Mask>> {
        let st = state(ctx);
        let listing = st.listing();
        let graph = st.engine.read();
        page(&listing.masks, (first, last, after, before), |v| Mask { v, id: graph.id_at(v) })
    }

    /// Worlds, oldest first (hidden ones are not listed).
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
        let listing = st.listing();
        let graph = st.engine.read();
        page(&listing.worlds, (first, last, after, before), |v| World { v, id: graph.id_at(v) })
    }

    /// Works, oldest first, optionally only those of one world.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn works(
        &self,
        ctx: &Context<'_>,
        world: Option<ID>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Work>> {
        let st = state(ctx);
        let items = match &world {
            Some(world) => {
                let w = {
                    let graph = st.engine.read();
                    world_index(ctx, &graph, world, "world")?.1
                };
                st.works_of_world(w)
            }
            None => st.listing().works.clone(),
        };
        let graph = st.engine.read();
        page(&items, (first, last, after, before), |v| Work { v, id: graph.id_at(v) })
    }

    /// The epochs kept, oldest first (at most 16).
    async fn epochs(&self, ctx: &Context<'_>) -> Vec<EpochInfo> {
        let st = state(ctx);
        st.epochs.numbers().into_iter().filter_map(|n| st.epochs.get(n)).map(|s| EpochInfo::of(&s)).collect()
    }

    /// Communities of the latest epoch (or of epoch `epoch`), largest first: those of two masks
    /// or more that everyone sees (a mask alone is in no community).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn clusters(
        &self,
        ctx: &Context<'_>,
        epoch: Option<i32>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Cluster>> {
        let st = state(ctx);
        let Some(set) = kept_epoch(st, epoch)? else {
            return page(&[] as &[u32], (first, last, after, before), |_| unreachable!());
        };
        let communities = st.caches.communities(&st.engine, &set);
        page(&communities.order, (first, last, after, before), |community| Cluster {
            epoch: set.number,
            community,
            set: set.clone(),
        })
    }

    /// The communities of the latest epoch (or of epoch `epoch`) as one graph, to draw: the
    /// `first` largest (at most 200) and the ties between them — how many follows run between
    /// their masks (masks everyone sees; both directions counted).
    async fn cluster_map(
        &self,
        ctx: &Context<'_>,
        epoch: Option<i32>,
        #[graphql(default = 60)] first: i32,
    ) -> Result<ClusterMap> {
        let st = state(ctx);
        let Some(set) = kept_epoch(st, epoch)? else {
            return Ok(ClusterMap { epoch: None, clusters: Vec::new(), ties: Vec::new() });
        };
        let communities = st.caches.communities(&st.engine, &set);
        let shown: Vec<u32> = communities.order.iter().copied().take(first.clamp(1, 200) as usize).collect();
        let index: std::collections::HashMap<u32, usize> = shown.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        let graph = st.engine.read();
        let community = &set.clusters.community;
        let of = |v: u32| {
            community
                .get(v as usize)
                .and_then(|c| index.get(c))
                .copied()
                .filter(|_| graph.kind_at(v) == VertexKind::Mask && graph.sees(None, v))
        };
        let mut weights: std::collections::BTreeMap<(usize, usize), i32> = std::collections::BTreeMap::new();
        for v in 0..community.len().min(graph.vertex_count()) as u32 {
            let Some(a) = of(v) else { continue };
            for w in graph.out(EdgeKind::Follows, v) {
                if let Some(b) = of(w).filter(|&b| b != a) {
                    *weights.entry((a.min(b), a.max(b))).or_default() += 1;
                }
            }
        }
        Ok(ClusterMap {
            epoch: Some(EpochInfo::of(&set)),
            clusters: shown
                .iter()
                .map(|&community| Cluster { epoch: set.number, community, set: set.clone() })
                .collect(),
            ties: weights.into_iter().map(|((source, target), weight)| ClusterTie { source, target, weight }).collect(),
        })
    }

    /// The head of the log: its last sequence number and chain hash (what `daira audit
    /// verify` recomputes from the first event).
    async fn log_head(&self, ctx: &Context<'_>) -> LogHead {
        let position = state(ctx).engine.read().position();
        LogHead { seq: position.seq.to_string(), hash: graph_engine::log::hex(&position.hash) }
    }

    /// A mask's scores with their explanation, in the latest epoch or in epoch `epoch`.
    async fn reputation(&self, ctx: &Context<'_>, mask: ID, epoch: Option<i32>) -> Result<Option<Reputation>> {
        let st = state(ctx);
        let found =
            st.ids.decode_as(NodeKind::Mask, &mask).and_then(|id| Sight::of(ctx).mask_by_id(&st.engine.read(), id));
        let Some(found) = found else {
            return Err(ApiError::new(Code::NotFound, "mask not found").field("mask").into());
        };
        Reputation::of(ctx, found, epoch)
    }

    /// The masks whose scores changed most from epoch `from` to epoch `to`, largest change of
    /// trust first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn reputation_changes(
        &self,
        ctx: &Context<'_>,
        from: i32,
        to: i32,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<ScoreChange>> {
        let st = state(ctx);
        let get = |n: i32, field: &str| {
            st.epochs.get(n.max(0) as u64).ok_or_else(|| {
                ApiError::new(Code::NotFound, format!("epoch {n} is not kept (kept: {:?})", st.epochs.numbers()))
                    .field(field)
            })
        };
        let (earlier, later) = (get(from, "from")?, get(to, "to")?);
        let changes = later.diff(&earlier, 10_000);
        let graph = st.engine.read();
        let sight = Sight::of(ctx);
        let changes: Vec<ScoreChange> = changes
            .into_iter()
            .filter_map(|c| {
                Some(ScoreChange {
                    mask: sight.mask_by_id(&graph, c.mask)?,
                    trust_before: c.trust.0,
                    trust_after: c.trust.1,
                    contribution_before: c.contribution.0,
                    contribution_after: c.contribution.1,
                })
            })
            .collect();
        let positions: Vec<usize> = (0..changes.len()).collect();
        page(&positions, (first, last, after, before), |i| changes[i].clone())
    }

    /// Discovery of worlds, works and public masks in Arabic, Egyptian dialect, Arabizi and
    /// English, ranked by text relevance blended with reputation. Pages reach the best 100
    /// hits; `totalCount` counts hits among them.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn search(
        &self,
        ctx: &Context<'_>,
        query: String,
        kind: Option<SearchKind>,
        world: Option<ID>,
        lang: Option<Language>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<SearchHit>> {
        let st = state(ctx);
        let world = match &world {
            Some(w) => Some(world_index(ctx, &st.engine.read(), w, "world")?.1),
            None => None,
        };
        let request = search::Request {
            text: query,
            kind: kind.map(|k| match k {
                SearchKind::World => search::DocKind::World,
                SearchKind::Work => search::DocKind::Work,
                SearchKind::Mask => search::DocKind::Mask,
                SearchKind::Proposal => search::DocKind::Proposal,
                SearchKind::Listing => search::DocKind::Listing,
                SearchKind::Thread => search::DocKind::Thread,
                SearchKind::Post => search::DocKind::Post,
            }),
            world,
            lang: lang.map(|l| match l {
                Language::Ar => search::Lang::Ar,
                Language::En => search::Lang::En,
                Language::Arabizi => search::Lang::Arabizi,
            }),
            limit: search::LIMIT_MAX,
        };
        let hits = st.search(request).await?;
        let graph = st.engine.read();
        let sight = Sight::of(ctx);
        let hits: Vec<SearchHit> = hits
            .into_iter()
            .filter_map(|hit| {
                let v = graph.index_of(hit.id)?;
                let node = match graph.kind_at(v) {
                    VertexKind::World => SearchResult::World(World::at(&graph, v)?),
                    VertexKind::Work => SearchResult::Work(sight.work(&graph, v)?),
                    VertexKind::Mask => SearchResult::Mask(sight.mask(&graph, v)?),
                    VertexKind::Proposal => SearchResult::Proposal(super::governance::Proposal::get(&graph, hit.id)?),
                    VertexKind::Listing => SearchResult::Listing(super::economy::Listing::get(&graph, hit.id)?),
                    VertexKind::Thread => SearchResult::Thread(super::talk::Thread::seen(sight, &graph, v)?),
                    VertexKind::Post => SearchResult::Post(super::talk::Post::seen(sight, &graph, v)?),
                    _ => return None,
                };
                // A post is titled by its thread.
                let title = match graph.kind_at(v) {
                    VertexKind::Post => {
                        graph.out(EdgeKind::Within, v).next().and_then(|t| text(&graph, t, "title")).unwrap_or_default()
                    }
                    _ => hit.title,
                };
                Some(SearchHit {
                    node,
                    title,
                    score: f64::from(hit.score),
                    relevance: f64::from(hit.relevance),
                    prior: f64::from(hit.prior),
                })
            })
            .collect();
        let positions: Vec<usize> = (0..hits.len()).collect();
        page(&positions, (first, last, after, before), |i| hits[i].clone())
    }
}

/// The communities of an epoch and the ties between them.
#[derive(async_graphql::SimpleObject)]
pub struct ClusterMap {
    /// The epoch (null before the first).
    pub epoch: Option<EpochInfo>,
    /// The largest communities, largest first.
    pub clusters: Vec<Cluster>,
    /// Ties between them (indices into `clusters`).
    pub ties: Vec<ClusterTie>,
}

/// Follows between the masks of two communities.
#[derive(async_graphql::SimpleObject)]
pub struct ClusterTie {
    /// One community's index in `clusters`.
    pub source: usize,
    /// The other's.
    pub target: usize,
    /// How many follows run between them, both ways.
    pub weight: i32,
}

/// The head of the hash-chained log.
#[derive(async_graphql::SimpleObject)]
pub struct LogHead {
    /// The last event's sequence number (a decimal string; 0 for an empty log).
    pub seq: String,
    /// Its chain hash, hex.
    pub hash: String,
}
