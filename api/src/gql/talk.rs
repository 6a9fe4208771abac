//! Conversation over GraphQL (see `schema::talk`): threads in worlds, their posts in order
//! with replies' parents, reactions and mentions. A post its author hid, or one a moderator
//! removed, is gone for everyone but its author — and the world's case log, which shows what
//! was acted on.

use super::connection::{Conn, Ordered, page_by_key};
use super::mutation::{actor, execute, target};
use super::types::{Mask, Sight, World, in_public_order};
use super::{payload, state};
use crate::error::{ApiError, Code, UserError};
use crate::ids::NodeKind;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use graph_engine::Graph;
use schema::talk::{self as rules, ACTIVE, HIDDEN, REMOVED};
use schema::{Command, EdgeKind, Id, Value, VertexKind};

/// Conversation's mutations.
#[derive(Default)]
pub struct TalkMutation;

/// A reaction to a post.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// 👍
    Like,
    /// ❤️
    Love,
    /// 😂
    Laugh,
    /// 😮
    Wow,
    /// 😢
    Sad,
    /// 🙏
    Thanks,
}

impl From<Reaction> for rules::Reaction {
    fn from(r: Reaction) -> rules::Reaction {
        match r {
            Reaction::Like => rules::Reaction::Like,
            Reaction::Love => rules::Reaction::Love,
            Reaction::Laugh => rules::Reaction::Laugh,
            Reaction::Wow => rules::Reaction::Wow,
            Reaction::Sad => rules::Reaction::Sad,
            Reaction::Thanks => rules::Reaction::Thanks,
        }
    }
}

impl From<rules::Reaction> for Reaction {
    fn from(r: rules::Reaction) -> Reaction {
        match r {
            rules::Reaction::Like => Reaction::Like,
            rules::Reaction::Love => Reaction::Love,
            rules::Reaction::Laugh => Reaction::Laugh,
            rules::Reaction::Wow => Reaction::Wow,
            rules::Reaction::Sad => Reaction::Sad,
            rules::Reaction::Thanks => Reaction::Thanks,
        }
    }
}

/// How many masks reacted so.
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct ReactionCount {
    /// The reaction.
    pub reaction: Reaction,
    /// How many masks (that the viewer sees) reacted so.
    pub count: i32,
}

/// A conversation in a world: a title and its posts.
#[derive(Clone, Copy, Debug)]
pub struct Thread {
    pub(crate) v: u32,
    pub(crate) id: Id,
}

/// A post: a thread's first, or a reply.
#[derive(Clone, Copy, Debug)]
pub struct Post {
    pub(crate) v: u32,
    pub(crate) id: Id,
}

impl Thread {
    /// The thread at `v`, if the viewer sees it.
    pub(crate) fn seen(sight: Sight, graph: &Graph, v: u32) -> Option<Thread> {
        (graph.kind_at(v) == VertexKind::Thread && sight.sees(graph, v)).then(|| Thread { v, id: graph.id_at(v) })
    }
}

impl Post {
    /// The post at `v`, if the viewer sees it.
    pub(crate) fn seen(sight: Sight, graph: &Graph, v: u32) -> Option<Post> {
        (graph.kind_at(v) == VertexKind::Post && sight.sees(graph, v)).then(|| Post { v, id: graph.id_at(v) })
    }

    /// A thread or post as a moderation case shows it: whatever its state, when its writer is
    /// one the viewer sees.
    pub(crate) fn in_case(sight: Sight, graph: &Graph, v: u32) -> Option<super::types::Node> {
        if !writer(graph, v).is_none_or(|w| sight.sees(graph, w)) {
            return None;
        }
        match graph.kind_at(v) {
            VertexKind::Post => Some(super::types::Node::Post(Post { v, id: graph.id_at(v) })),
            VertexKind::Thread => Some(super::types::Node::Thread(Thread { v, id: graph.id_at(v) })),
            _ => None,
        }
    }
}

fn writer(graph: &Graph, v: u32) -> Option<u32> {
    graph.inn(EdgeKind::Wrote, v).next()
}

fn flag(graph: &Graph, v: u32, key: &str) -> bool {
    graph.public_prop(v, key) == Some(&Value::Bool(true))
}

fn ms(graph: &Graph, v: u32, key: &str) -> Option<i64> {
    match graph.public_prop(v, key) {
        Some(Value::Int(t)) => Some(*t),
        _ => None,
    }
}

/// When `v` was written: its `wrote` edge's time.
fn written_at(graph: &Graph, v: u32) -> Option<i64> {
    let w = writer(graph, v)?;
    graph.edge(EdgeKind::Wrote, w, v)?.time_ms
}

fn author(ctx: &Context<'_>, v: u32) -> Option<Mask> {
    let graph = state(ctx).engine.read();
    writer(&graph, v).and_then(|w| Sight::of(ctx).mask(&graph, w))
}

fn mine(ctx: &Context<'_>, v: u32) -> bool {
    let Some(user) = super::caller(ctx).and_then(|c| c.user) else { return false };
    let graph = state(ctx).engine.read();
    writer(&graph, v).is_some_and(|w| graph.is_owned_by(graph.id_at(w), user))
}

/// The threads of a world the viewer sees, newest activity first.
pub(crate) fn threads_of<'g>(st: &'g crate::State, sight: Sight, graph: &'g Graph, world: u32) -> Ordered<'g, u32> {
    let items = graph
        .inn(EdgeKind::Within, world)
        .filter(|&t| graph.kind_at(t) == VertexKind::Thread && sight.sees(graph, t))
        .map(|t| (ms(graph, t, ACTIVE).or_else(|| written_at(graph, t)), t));
    in_public_order(st, graph, items)
}

#[Object]
impl Thread {
    /// The opaque global id.
    pub async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.of(NodeKind::Thread, self.id))
    }
    /// Its title.
    async fn title(&self, ctx: &Context<'_>) -> String {
        super::types::text(&state(ctx).engine.read(), self.v, "title").unwrap_or_default()
    }
    /// The world it is in.
    async fn world(&self, ctx: &Context<'_>) -> Option<World> {
        let graph = state(ctx).engine.read();
        graph.out(EdgeKind::Within, self.v).next().and_then(|w| World::at(&graph, w))
    }
    /// The mask that started it (null when the viewer does not see it).
    async fn author(&self, ctx: &Context<'_>) -> Option<Mask> {
        author(ctx, self.v)
    }
    /// When it was started, in milliseconds since the Unix epoch (a decimal string).
    async fn created_at(&self, ctx: &Context<'_>) -> Option<String> {
        written_at(&state(ctx).engine.read(), self.v).map(|t| t.to_string())
    }
    /// When it was last posted in, in milliseconds since the Unix epoch (a decimal string).
    async fn active_at(&self, ctx: &Context<'_>) -> Option<String> {
        ms(&state(ctx).engine.read(), self.v, ACTIVE).map(|t| t.to_string())
    }
    /// Whether its author hid it (only its author still sees it).
    async fn hidden(&self, ctx: &Context<'_>) -> bool {
        flag(&state(ctx).engine.read(), self.v, HIDDEN)
    }
    /// Whether a moderator's case removed it (only its author and the case log still show it).
    async fn removed(&self, ctx: &Context<'_>) -> bool {
        flag(&state(ctx).engine.read(), self.v, REMOVED)
    }
    /// Whether the viewer started it (through one of their masks).
    async fn is_mine(&self, ctx: &Context<'_>) -> bool {
        mine(ctx, self.v)
    }
    /// How many of its posts the viewer sees (its first post included).
    async fn post_count(&self, ctx: &Context<'_>) -> i32 {
        let graph = state(ctx).engine.read();
        let sight = Sight::of(ctx);
        graph.inn(EdgeKind::Within, self.v).filter(|&p| Post::seen(sight, &graph, p).is_some()).count() as i32
    }
    /// Its posts in the order they were written (the first post first), each with the post
    /// it answers.
    #[graphql(complexity = "super::cost(first, last, child_complexity)")]
    async fn posts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        last: Option<i32>,
        after: Option<String>,
        before: Option<String>,
    ) -> Result<Conn<Post>> {
        let st = state(ctx);
        let graph = st.engine.read();
        let sight = Sight::of(ctx);
        // Oldest first: the public order puts the newest first, so the times go in negated.
        let items = graph
            .inn(EdgeKind::Within, self.v)
            .filter(|&p| Post::seen(sight, &graph, p).is_some())
            .map(|p| (written_at(&graph, p).map(i64::saturating_neg), p));
        let ordered = in_public_order(st, &graph, items);
        page_by_key(ctx, &ordered, (first, last, after, before), |v| Post { v, id: graph.id_at(v) })
    }
}

#[Object]
impl Post {
    /// The opaque global id.
    pub async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.of(NodeKind::Post, self.id))
    }
    /// The thread it is in (null when the viewer no longer sees it).
    async fn thread(&self, ctx: &Context<'_>) -> Option<Thread> {
        let graph = state(ctx).engine.read();
        graph.out(EdgeKind::Within, self.v).next().and_then(|t| Thread::seen(Sight::of(ctx), &graph, t))
    }
    /// The post it answers (null for a reply to the thread, or one the viewer does not see).
    async fn parent(&self, ctx: &Context<'_>) -> Option<Post> {
        let graph = state(ctx).engine.read();
        graph.out(EdgeKind::RepliesTo, self.v).next().and_then(|p| Post::seen(Sight::of(ctx), &graph, p))
    }
    /// The mask that wrote it (null when the viewer does not see it).
    async fn author(&self, ctx: &Context<'_>) -> Option<Mask> {
        author(ctx, self.v)
    }
    /// Its body: markdown, as written (clients render it).
    async fn body(&self, ctx: &Context<'_>) -> String {
        super::types::text(&state(ctx).engine.read(), self.v, "body").unwrap_or_default()
    }
    /// When it was written, in milliseconds since the Unix epoch (a decimal string).
    async fn created_at(&self, ctx: &Context<'_>) -> Option<String> {
        written_at(&state(ctx).engine.read(), self.v).map(|t| t.to_string())
    }
    /// When its body was last edited (null if never), in milliseconds since the Unix epoch.
    async fn edited_at(&self, ctx: &Context<'_>) -> Option<String> {
        ms(&state(ctx).engine.read(), self.v, "edited_ms").map(|t| t.to_string())
    }
    /// Whether its author hid it (only its author still sees it).
    async fn hidden(&self, ctx: &Context<'_>) -> bool {
        flag(&state(ctx).engine.read(), self.v, HIDDEN)
    }
    /// Whether a moderator's case removed it (only its author and the case log still show it).
    async fn removed(&self, ctx: &Context<'_>) -> bool {
        flag(&state(ctx).engine.read(), self.v, REMOVED)
    }
    /// Whether the viewer wrote it (through one of their masks).
    async fn is_mine(&self, ctx: &Context<'_>) -> bool {
        mine(ctx, self.v)
    }
    /// Reactions to it, by kind (those of masks the viewer sees), in the reactions' order;
    /// kinds nobody chose are left out.
    async fn reactions(&self, ctx: &Context<'_>) -> Vec<ReactionCount> {
        let graph = state(ctx).engine.read();
        let sight = Sight::of(ctx);
        let mut counts = [0i32; rules::Reaction::ALL.len()];
        for (m, p) in graph.in_edges(EdgeKind::Reacted, self.v) {
            if let Some(r) = rules::Reaction::of_weight(p.weight)
                && sight.sees(&graph, m)
            {
                counts[usize::from(r.code() - 1)] += 1;
            }
        }
        rules::Reaction::ALL
            .into_iter()
            .zip(counts)
            .filter(|&(_, n)| n > 0)
            .map(|(r, count)| ReactionCount { reaction: r.into(), count })
            .collect()
    }
    /// The masks its body mentions (those the viewer sees).
    async fn mentions(&self, ctx: &Context<'_>) -> Vec<Mask> {
        let graph = state(ctx).engine.read();
        let sight = Sight::of(ctx);
        graph.out(EdgeKind::Mentions, self.v).filter_map(|m| sight.mask(&graph, m)).collect()
    }
    /// How many masks (that the viewer sees) endorsed it: endorsing a post trusts its writer.
    async fn endorsement_count(&self, ctx: &Context<'_>) -> i32 {
        let graph = state(ctx).engine.read();
        let sight = Sight::of(ctx);
        graph.inn(EdgeKind::Endorses, self.v).filter(|&m| sight.sees(&graph, m)).count() as i32
    }
    /// How many posts (that the viewer sees) answer it.
    async fn reply_count(&self, ctx: &Context<'_>) -> i32 {
        let graph = state(ctx).engine.read();
        let sight = Sight::of(ctx);
        graph.inn(EdgeKind::RepliesTo, self.v).filter(|&p| sight.sees(&graph, p)).count() as i32
    }
}

/// Start a thread in a world.
#[derive(InputObject)]
pub struct StartThreadInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The world (you need its post privilege: members, by default).
    pub world: ID,
    /// Its title (1 to 200 characters).
    pub title: String,
    /// Its first post: markdown, 1 to 4,000 characters. `@handle` mentions a mask.
    pub body: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Reply to a thread or to one of its posts.
#[derive(InputObject)]
pub struct ReplyInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The thread, or the post answered.
    pub to: ID,
    /// Markdown, 1 to 4,000 characters. `@handle` mentions a mask.
    pub body: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Replace the body of your post.
#[derive(InputObject)]
pub struct EditPostInput {
    /// The mask that wrote it (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The post.
    pub post: ID,
    /// The new body (1 to 4,000 characters).
    pub body: String,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// Hide your post (a thread's first post hides the thread), or show it again.
#[derive(InputObject)]
pub struct HidePostInput {
    /// The mask that wrote it (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The post.
    pub post: ID,
    /// `true` (the default) hides, `false` shows again.
    #[graphql(default = true)]
    pub hidden: bool,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// React to a post, change your reaction, or take it back.
#[derive(InputObject)]
pub struct ReactInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The post.
    pub post: ID,
    /// The reaction; null takes yours back.
    pub reaction: Option<Reaction>,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A thread started, or why not.
#[derive(SimpleObject, Default)]
pub struct ThreadPayload {
    /// The thread.
    pub thread: Option<Thread>,
    /// Its first post.
    pub post: Option<Post>,
    /// The log sequence number (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong (TEXT_EMPTY, TEXT_TOO_LONG, FORBIDDEN, NOT_FOUND, …).
    pub user_errors: Vec<UserError>,
}

/// A post written, changed or reacted to, or why not.
#[derive(SimpleObject, Default)]
pub struct PostPayload {
    /// The post (as the viewer now sees it).
    pub post: Option<Post>,
    /// The log sequence number (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong (TEXT_EMPTY, TEXT_TOO_LONG, POST_HIDDEN, NOT_FOUND, …).
    pub user_errors: Vec<UserError>,
}

/// The engine id of a thread or post the client named in `field`.
fn thread_or_post(ctx: &Context<'_>, id: &ID, field: &str) -> std::result::Result<Id, ApiError> {
    match state(ctx).ids.decode(id) {
        Some((NodeKind::Thread | NodeKind::Post, raw)) => Ok(Id(raw)),
        _ => Err(ApiError::new(Code::NotFound, "thread or post not found").field(field)),
    }
}

fn post_now(ctx: &Context<'_>, id: Id) -> Option<Post> {
    let graph = state(ctx).engine.read();
    graph.index_of(id).and_then(|v| Post::seen(Sight::of(ctx), &graph, v))
}

impl TalkMutation {
    async fn on_post(
        &self,
        ctx: &Context<'_>,
        as_mask: &Option<ID>,
        client: Option<String>,
        field: &str,
        command: impl FnOnce(schema::Actor) -> std::result::Result<(Id, Command), ApiError>,
    ) -> Result<PostPayload> {
        let actor = actor(ctx, as_mask)?;
        let result = async {
            let (post, command) = command(actor?)?;
            let seq = execute(ctx, command).await.map_err(|e| e.or_field(field))?;
            Ok(PostPayload {
                post: post_now(ctx, post),
                seq: Some(seq.to_string()),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| PostPayload { client_mutation_id: client, user_errors, ..Default::default() })
    }
}

#[Object]
impl TalkMutation {
    /// Start a thread in a world: its title and first post. Mentioned masks' owners are told
    /// (the `mentions` subscription).
    async fn start_thread(&self, ctx: &Context<'_>, input: StartThreadInput) -> Result<ThreadPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let client = input.client_mutation_id.clone();
        let result = async {
            let actor = actor?;
            let world = target(ctx, NodeKind::World, &input.world, "world", "world")?;
            let (thread, post) = (state(ctx).engine.new_id(), state(ctx).engine.new_id());
            let command = Command::StartThread { actor, thread, post, world, title: input.title, body: input.body };
            let seq = execute(ctx, command).await.map_err(|e| e.or_field("world"))?;
            let graph = state(ctx).engine.read();
            let sight = Sight::of(ctx);
            Ok(ThreadPayload {
                thread: graph.index_of(thread).and_then(|v| Thread::seen(sight, &graph, v)),
                post: graph.index_of(post).and_then(|v| Post::seen(sight, &graph, v)),
                seq: Some(seq.to_string()),
                client_mutation_id: client.clone(),
                user_errors: Vec::new(),
            })
        }
        .await;
        payload(result, |user_errors| ThreadPayload { client_mutation_id: client, user_errors, ..Default::default() })
    }

    /// Reply to a thread, or to one of its posts (the reply names it as its parent).
    async fn reply(&self, ctx: &Context<'_>, input: ReplyInput) -> Result<PostPayload> {
        let post = state(ctx).engine.new_id();
        self.on_post(ctx, &input.as_mask, input.client_mutation_id.clone(), "to", |actor| {
            let to = thread_or_post(ctx, &input.to, "to")?;
            Ok((post, Command::Reply { actor, post, to, body: input.body }))
        })
        .await
    }

    /// Replace the body of your post (mentions new to it are told).
    async fn edit_post(&self, ctx: &Context<'_>, input: EditPostInput) -> Result<PostPayload> {
        self.on_post(ctx, &input.as_mask, input.client_mutation_id.clone(), "post", |actor| {
            let post = target(ctx, NodeKind::Post, &input.post, "post", "post")?;
            Ok((post, Command::EditPost { actor, post, body: input.body }))
        })
        .await
    }

    /// Hide your post from everyone but you (a thread's first post takes the thread), or show
    /// it again.
    async fn hide_post(&self, ctx: &Context<'_>, input: HidePostInput) -> Result<PostPayload> {
        self.on_post(ctx, &input.as_mask, input.client_mutation_id.clone(), "post", |actor| {
            let post = target(ctx, NodeKind::Post, &input.post, "post", "post")?;
            Ok((post, Command::HidePost { actor, post, hidden: input.hidden }))
        })
        .await
    }

    /// React to a post (one reaction per mask; another replaces it; null takes it back).
    async fn react(&self, ctx: &Context<'_>, input: ReactInput) -> Result<PostPayload> {
        self.on_post(ctx, &input.as_mask, input.client_mutation_id.clone(), "post", |actor| {
            let post = target(ctx, NodeKind::Post, &input.post, "post", "post")?;
            Ok((post, Command::React { actor, post, reaction: input.reaction.map(Into::into) }))
        })
        .await
    }
}
