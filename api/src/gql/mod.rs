//! The GraphQL schema: types, queries, mutations and subscriptions. Every read goes through
//! the graph's public face (`Graph::public_vertex`, public edges); the only question about
//! ownership it asks is "is this mask the viewer's own?".

mod connection;
mod economy;
mod governance;
mod messages;
mod mutation;
mod query;
mod subscription;
mod talk;
mod types;

pub use connection::{Conn, LIST_MAX};
pub use economy::*;
pub use governance::*;
pub use messages::*;
pub use mutation::CoreMutation;
pub use query::CoreQuery;
pub use subscription::SubscriptionRoot;
pub use talk::*;
pub use types::*;

use crate::State;
use crate::error::{ApiError, Code};
use async_graphql::{Context, Schema};
use std::sync::Arc;

/// The query root: the core queries and governance's.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(CoreQuery, GovernanceQuery, EconomyQuery, MessagesQuery);

/// The mutation root: the core mutations and governance's.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    CoreMutation,
    GovernanceMutation,
    ModerationMutation,
    EconomyMutation,
    TalkMutation,
    MessagesMutation,
);

/// The schema's type.
pub type DairaSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The deepest query accepted (standard introspection needs 13).
pub const DEPTH_MAX: usize = 20;
/// The most complex query accepted: every field costs 1 and a list multiplies what it holds
/// by the page asked for (`first`/`last`).
pub const COMPLEXITY_MAX: usize = 2_500;
/// How deep the parser nests (selection sets, lists, objects) before refusing to parse.
pub const RECURSION_MAX: usize = 128;

/// Who is asking: the signed-in user, if any. Put in each request's data by the HTTP and
/// WebSocket layers.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The session's user.
    pub user: Option<schema::Id>,
    /// The session's token (to log out).
    pub token: Option<String>,
}

/// Fields whose answer depends on who asks. A subscription that selects one is not shared
/// between viewers (see `crate::ws`); a field that reads [`Caller`] belongs here.
pub const VIEWER_FIELDS: &[&str] =
    &["isMine", "balance", "available", "transfers", "privileges", "contract", "mentions", "directMessages"];

/// In a request's data: it comes from a signed-in WebSocket (whose subscription streams are
/// shared, and run as nobody in particular unless they select a [`VIEWER_FIELDS`] field).
#[derive(Clone, Copy, Debug)]
pub struct SignedIn;

/// Builds the schema over `state`. `classify` adds an extension that gives parse and
/// validation errors their codes — needed over WebSocket, where the errors go to the client
/// as they are; the HTTP layer parses first and classifies the rest itself, and leaves it out
/// (an extension wraps every field's resolution, which costs a fifth of a small query).
pub fn build(state: Arc<State>, classify: bool) -> DairaSchema {
    let builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot)
        .data(state)
        .limit_depth(DEPTH_MAX)
        .limit_complexity(COMPLEXITY_MAX)
        // The parser nests this deep before the depth limit (which says why) is checked.
        .limit_recursive_depth(RECURSION_MAX);
    if classify { builder.extension(crate::error::Classify).finish() } else { builder.finish() }
}

/// The schema's SDL (committed as `schema.graphql`).
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot).finish().sdl()
}

/// A mutation's payload: the result, or the payload `refused` makes of the input's error as
/// `userErrors` — an internal failure stays an error of the field, not of the input.
pub(crate) fn payload<T>(
    result: Result<T, ApiError>,
    refused: impl FnOnce(Vec<crate::error::UserError>) -> T,
) -> async_graphql::Result<T> {
    match result {
        Ok(p) => Ok(p),
        Err(e) if e.code == Code::InternalServerError => Err(e.into()),
        Err(e) => Ok(refused(vec![e.into()])),
    }
}

pub(crate) fn state<'a>(ctx: &Context<'a>) -> &'a Arc<State> {
    ctx.data_unchecked::<Arc<State>>()
}

pub(crate) fn caller<'a>(ctx: &Context<'a>) -> Option<&'a Caller> {
    ctx.data_opt::<Caller>()
}

/// The signed-in user, or UNAUTHENTICATED.
pub(crate) fn user(ctx: &Context<'_>) -> async_graphql::Result<schema::Id> {
    caller(ctx)
        .and_then(|v| v.user)
        .ok_or_else(|| ApiError::new(Code::Unauthenticated, "sign in first (Authorization: Bearer <token>)").into())
}

/// UNAUTHENTICATED unless the request comes from a signed-in caller (or socket).
pub(crate) fn signed_in(ctx: &Context<'_>) -> async_graphql::Result<()> {
    if ctx.data_opt::<SignedIn>().is_some() { Ok(()) } else { user(ctx).map(drop) }
}

/// The cost of a list field: the page asked for times what each item costs.
pub fn cost(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let n = first.or(last).unwrap_or(1).clamp(1, LIST_MAX as i32) as usize;
    1 + n * child
}
