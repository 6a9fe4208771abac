//! The mutation root. Every mutation takes one `input` and returns a payload with its result,
//! the log sequence number of the change, and `userErrors { field message code }` for input
//! that breaks a rule. Every action is taken as one of the viewer's masks (`input.as`, by
//! default their oldest): a mask that is not theirs is "not found", exactly like one that does
//! not exist.

use super::types::*;
use super::{caller, state, user};
use crate::auth::AuthError;
use crate::error::{ApiError, Code, UserError, rejection};
use crate::ids::NodeKind;
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use schema::{Actor, Command, EdgeKind, Id, VertexKind};

/// The core mutations (accounts, masks, worlds, works, ties).
#[derive(Default)]
pub struct CoreMutation;

/// Create an account.
#[derive(InputObject)]
pub struct RegisterInput {
    /// 3..=64 characters of a-z, 0-9 and `_ . - @` (case-folded).
    pub login: String,
    /// 10..=256 characters.
    pub password: String,
}

/// Sign in.
#[derive(InputObject)]
pub struct LoginInput {
    /// The login.
    pub login: String,
    /// The password.
    pub password: String,
}

/// Sign out (ends the session whose token made the request).
#[derive(InputObject)]
pub struct LogoutInput {
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// A session.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// The session token: send it as `Authorization: Bearer <token>` (HTTP) or in
    /// `connection_init`'s payload (WebSocket).
    pub token: Option<String>,
    /// When the session ends, in milliseconds since the Unix epoch (a decimal string).
    pub expires_at: Option<String>,
    /// What was wrong with the input.
    pub user_errors: Vec<UserError>,
}

/// The end of a session.
#[derive(SimpleObject)]
pub struct LogoutPayload {
    /// Whether a session was ended.
    pub ok: bool,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong.
    pub user_errors: Vec<UserError>,
}

/// Erase your account.
#[derive(InputObject)]
pub struct DeleteAccountInput {
    /// Your password, again.
    pub password: String,
    /// Also hide the works whose every author is one of your masks (or another erased mask).
    /// Otherwise (the default) they stay, attributed to an erased mask.
    pub hide_works: Option<bool>,
    /// Echoed back.
    pub client_mutation_id: Option<String>,
}

/// The end of an account.
#[derive(SimpleObject)]
pub struct DeleteAccountPayload {
    /// Whether the account is erased.
    pub ok: bool,
    /// The log sequence number of the erasure (a decimal string).
    pub seq: Option<String>,
    /// Echoed from the input.
    pub client_mutation_id: Option<String>,
    /// What was wrong (a wrong password: nothing was erased).
    pub user_errors: Vec<UserError>,
}

/// Create one of your masks.
#[derive(InputObject)]
pub struct CreateMaskInput {
    /// Its kind.
    pub kind: MaskKind,
    /// A unique handle: 3..=32 characters of a-z, 0-9 and _.
    pub handle: String,
    /// Its display name.
    pub display_name: String,
    /// Its bio.
    #[graphql(default)]
    pub bio: String,
}

/// Found a world (you join and moderate it).
#[derive(InputObject)]
pub struct CreateWorldInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// Its name.
    pub name: String,
    /// Its description.
    #[graphql(default)]
    pub description: String,
    /// Its tags (at most 32).
    #[graphql(default)]
    pub tags: Vec<String>,
    /// Its rules: who may propose, vote, report, moderate, sit on juries and post (default:
    /// members vote, report and post; moderators propose and moderate; members at or above
    /// the median trust sit on juries). Changed later only by a passed proposal.
    pub rules: Option<super::governance::RulesInput>,
}

/// Join or leave a world.
#[derive(InputObject)]
pub struct WorldMembershipInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The world.
    pub world: ID,
}

/// Follow, unfollow or record a collaboration with a mask.
#[derive(InputObject)]
pub struct MaskActionInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The other mask.
    pub mask: ID,
}

/// Rate a mask.
#[derive(InputObject)]
pub struct RateInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The mask rated.
    pub mask: ID,
    /// −10..=10 (replaces an earlier rating).
    pub rating: i32,
}

/// Endorse a work or a mask.
#[derive(InputObject)]
pub struct EndorseInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The work or mask.
    pub target: ID,
}

/// A co-author and their share.
#[derive(InputObject)]
pub struct CoauthorInput {
    /// The co-author.
    pub mask: ID,
    /// Their share, 0..=1.
    pub share: f64,
}

/// Publish a work.
#[derive(InputObject)]
pub struct PublishWorkInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// Its title.
    pub title: String,
    /// Its description.
    #[graphql(default)]
    pub description: String,
    /// The world to publish in (you must be a member).
    pub world: Option<ID>,
    /// Every author with their share, you included; empty: you alone. Every other mask named
    /// is invited: it is shown as an author once it accepts (`acceptCoauthorship`).
    #[graphql(default)]
    pub authors: Vec<CoauthorInput>,
    /// The royalty every remix of it pays when sold (default: none).
    pub royalty: Option<RoyaltyInput>,
}

/// A royalty a work declares on its remixes' sales.
#[derive(InputObject)]
pub struct RoyaltyInput {
    /// The share of a remix's price, a decimal fraction ("0.10"; at most "0.5", four decimals).
    pub share: String,
    /// CHAIN: every work below it in the remix chain pays (Story's LAP); CHILDREN: only its
    /// direct remixes (LRP).
    #[graphql(default)]
    pub scope: RoyaltyScope,
}

/// Which remixes pay a royalty.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RoyaltyScope {
    /// Every work below it in the remix chain.
    #[default]
    Chain,
    /// Its direct remixes only.
    Children,
}

impl RoyaltyInput {
    /// The royalty, checked; errors name `royalty.share`.
    fn royalty(&self) -> std::result::Result<schema::economy::Royalty, ApiError> {
        let share_bp = schema::economy::parse_share(&self.share)
            .map_err(|e| ApiError::new(Code::BadUserInput, e).field("royalty.share"))?;
        let scope = match self.scope {
            RoyaltyScope::Chain => schema::economy::Scope::Chain,
            RoyaltyScope::Children => schema::economy::Scope::Children,
        };
        Ok(schema::economy::Royalty { share_bp, scope })
    }
}

/// An answer to an invitation to co-author a work.
#[derive(InputObject)]
pub struct CoauthorshipInput {
    /// The invited mask (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The work.
    pub work: ID,
}

/// Publish a remix of a work.
#[derive(InputObject)]
pub struct RemixInput {
    /// The mask acting (default: your oldest).
    #[graphql(name = "as")]
    pub as_mask: Option<ID>,
    /// The work remixed.
    pub original: ID,
    /// The remix's title.
    pub title: String,
    /// Its description.
    #[graphql(default)]
    pub description: String,
    /// The royalty its own remixes pay (default: none).
    pub royalty: Option<RoyaltyInput>,
}

/// The payload of a change to one thing: the thing, the log sequence number of the change, and
/// what was wrong with the input. One shape for every such mutation; only the name and type
/// of the thing's field differ.
macro_rules! change_payload {
    ($(#[$doc:meta])* $name:ident { $(#[$field_doc:meta])* $field:ident: $ty:ty }) => {
        $(#[$doc])*
        #[derive(SimpleObject, Default)]
        pub struct $name {
            $(#[$field_doc])*
            pub $field: Option<$ty>,
            /// The log sequence number of the change (a decimal string).
            pub seq: Option<String>,
            /// What was wrong with the input.
            pub user_errors: Vec<UserError>,
        }

        impl $name {
            /// The payload of a change that was made (the thing, if it is still visible) or
            /// refused (why); an internal failure is an error of the field, not of the input.
            fn of(result: std::result::Result<(Option<$ty>, u64), ApiError>) -> Result<$name> {
                Ok(match result {
                    Ok(($field, seq)) => $name { $field, seq: Some(seq.to_string()), user_errors: Vec::new() },
                    Err(e) if e.code == Code::InternalServerError => return Err(e.into()),
                    Err(e) => $name { user_errors: vec![e.into()], ..$name::default() },
                })
            }
        }
    };
}

change_payload!(
    /// A change that concerns a mask.
    MaskPayload {
        /// The mask.
        mask: Mask
    }
);
change_payload!(
    /// A change that concerns a world.
    WorldPayload {
        /// The world.
        world: World
    }
);
change_payload!(
    /// A change that concerns a work.
    WorkPayload {
        /// The work.
        work: Work
    }
);
change_payload!(
    /// An endorsement.
    EndorsePayload {
        /// The endorsed work or mask.
        target: Node
    }
);

/// The acting mask: `as`, or the viewer's oldest mask.
pub(super) fn actor(ctx: &Context<'_>, as_mask: &Option<ID>) -> Result<std::result::Result<Actor, ApiError>> {
    let user = user(ctx)?;
    let st = state(ctx);
    Ok(match as_mask {
        Some(id) => match st.ids.decode_as(NodeKind::Mask, id) {
            Some(mask) => Ok(Actor { user, mask }),
            None => Err(ApiError::new(Code::NotFound, "mask not found").field("as")),
        },
        None => {
            let graph = st.engine.read();
            let oldest = graph.index_of(user).and_then(|u| graph.out(EdgeKind::Owns, u).min());
            match oldest {
                Some(m) => Ok(Actor { user, mask: graph.id_at(m) }),
                None => Err(ApiError::new(Code::BadUserInput, "create a mask first (createMask)").field("as")),
            }
        }
    })
}

/// The engine id of a global id of `kind`, or NOT_FOUND naming `field`.
pub(super) fn target(
    ctx: &Context<'_>,
    kind: NodeKind,
    id: &ID,
    field: &str,
    what: &str,
) -> std::result::Result<Id, ApiError> {
    state(ctx)
        .ids
        .decode_as(kind, id)
        .ok_or_else(|| ApiError::new(Code::NotFound, format!("{what} not found")).field(field))
}

/// Runs a command through the engine's one write path: the sequence number, or the errors.
pub(super) async fn execute(ctx: &Context<'_>, command: Command) -> std::result::Result<u64, ApiError> {
    let st = state(ctx);
    match st.engine.execute(command).await {
        Ok(receipt) => {
            st.metrics.mutation_committed();
            Ok(receipt.last_seq)
        }
        Err(graph_engine::Error::Rejected(r)) => Err(rejection(&r)),
        Err(graph_engine::Error::LimitExceeded { what, limit }) => {
            Err(ApiError::new(Code::Throttled, format!("the server is busy ({limit} {what}); retry shortly")))
        }
        Err(e) => Err(ApiError::internal("execute", e)),
    }
}

fn mask_now(ctx: &Context<'_>, id: Id) -> Option<Mask> {
    Sight::of(ctx).mask_by_id(&state(ctx).engine.read(), id)
}

fn world_now(ctx: &Context<'_>, id: Id) -> Option<World> {
    let graph = state(ctx).engine.read();
    graph.index_of(id).and_then(|v| World::at(&graph, v))
}

fn work_now(ctx: &Context<'_>, id: Id) -> Option<Work> {
    let graph = state(ctx).engine.read();
    graph.index_of(id).and_then(|v| Sight::of(ctx).work(&graph, v))
}

/// A mutation on another mask (follow, unfollow, collaborate): the mask's payload.
async fn on_mask(
    ctx: &Context<'_>,
    input: MaskActionInput,
    command: impl FnOnce(Actor, Id) -> Command,
) -> Result<MaskPayload> {
    let actor = actor(ctx, &input.as_mask)?;
    MaskPayload::of(
        async {
            let other = target(ctx, NodeKind::Mask, &input.mask, "mask", "mask")?;
            let seq = execute(ctx, command(actor?, other)).await.map_err(|e| e.or_field("mask"))?;
            Ok((mask_now(ctx, other), seq))
        }
        .await,
    )
}

/// An answer to an invitation to co-author: the work's payload.
async fn on_invitation(
    ctx: &Context<'_>,
    input: CoauthorshipInput,
    command: impl FnOnce(Actor, Id) -> Command,
) -> Result<WorkPayload> {
    let actor = actor(ctx, &input.as_mask)?;
    WorkPayload::of(
        async {
            let work = target(ctx, NodeKind::Work, &input.work, "work", "work")?;
            let seq = execute(ctx, command(actor?, work)).await.map_err(|e| e.or_field("work"))?;
            Ok((work_now(ctx, work), seq))
        }
        .await,
    )
}

/// Joining or leaving a world: the world's payload.
async fn on_world(
    ctx: &Context<'_>,
    input: WorldMembershipInput,
    command: impl FnOnce(Actor, Id) -> Command,
) -> Result<WorldPayload> {
    let actor = actor(ctx, &input.as_mask)?;
    WorldPayload::of(
        async {
            let world = target(ctx, NodeKind::World, &input.world, "world", "world")?;
            execute(ctx, command(actor?, world)).await.map(|seq| (world_now(ctx, world), seq))
        }
        .await,
    )
}

pub(super) fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::LoginTaken(_) => ApiError::new(Code::BadUserInput, "that login is taken").field("login"),
        AuthError::BadCredentials => ApiError::new(Code::Unauthenticated, "wrong login or password"),
        AuthError::Invalid { field, reason } => {
            ApiError::new(Code::BadUserInput, format!("{field} {reason}")).field(field)
        }
        other => ApiError::internal("auth", other),
    }
}

async fn session_payload(ctx: &Context<'_>, user: Id) -> Result<AuthPayload> {
    let st = state(ctx);
    let (token, session) = st.auth.open_session(user).await.map_err(auth_error)?;
    Ok(AuthPayload { token: Some(token), expires_at: Some(session.expires_ms.to_string()), user_errors: Vec::new() })
}

#[Object]
impl CoreMutation {
    /// Create an account, and sign in to it.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let st = state(ctx);
        let user = st.engine.new_id();
        let login = match st.auth.add_credentials(user, &input.login, &input.password).await {
            Ok(login) => login,
            Err(e) => {
                let e = auth_error(e);
                if e.code == Code::InternalServerError {
                    return Err(e.into());
                }
                return Ok(AuthPayload { token: None, expires_at: None, user_errors: vec![e.into()] });
            }
        };
        if let Err(e) = execute(ctx, Command::RegisterUser { user }).await {
            let _ = st.auth.forget(&login).await;
            return Err(e.into());
        }
        session_payload(ctx, user).await
    }

    /// Sign in: a session token.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let st = state(ctx);
        match st.auth.check(&input.login, &input.password).await {
            Ok(user) => session_payload(ctx, user).await,
            Err(e) => {
                let e = auth_error(e);
                if e.code == Code::InternalServerError {
                    return Err(e.into());
                }
                Ok(AuthPayload { token: None, expires_at: None, user_errors: vec![e.into()] })
            }
        }
    }

    /// Sign out: the session that made this request ends.
    async fn logout(&self, ctx: &Context<'_>, input: LogoutInput) -> Result<LogoutPayload> {
        user(ctx)?;
        let token = caller(ctx).and_then(|c| c.token.clone()).unwrap_or_default();
        state(ctx).auth.close_session(&token).await.map_err(auth_error)?;
        Ok(LogoutPayload { ok: true, client_mutation_id: input.client_mutation_id, user_errors: Vec::new() })
    }

    /// Erase your account, for good (the right to be forgotten). Your key is destroyed: the
    /// log keeps its chain, but nothing in it can tie your masks to you or to each other
    /// again, and their display names and bios are gone. Your masks show as erased; their
    /// handles are held for the server's cooling-off period, then free. Your works stay,
    /// attributed to an erased mask, unless `hideWorks`. You are signed out everywhere and
    /// cannot sign in again.
    async fn delete_account(&self, ctx: &Context<'_>, input: DeleteAccountInput) -> Result<DeleteAccountPayload> {
        let user = user(ctx)?;
        let st = state(ctx);
        let payload = |seq: Option<u64>, user_errors| DeleteAccountPayload {
            ok: seq.is_some(),
            seq: seq.map(|s| s.to_string()),
            client_mutation_id: input.client_mutation_id.clone(),
            user_errors,
        };
        let login = st.auth.login_of(user).await.map_err(auth_error)?;
        let checked = match login {
            Some(login) => st.auth.check(&login, &input.password).await,
            None => Err(AuthError::BadCredentials),
        };
        match checked {
            Ok(id) if id == user => {}
            Ok(_) | Err(AuthError::BadCredentials) => {
                let wrong = ApiError::new(Code::BadUserInput, "wrong password").field("password");
                return Ok(payload(None, vec![wrong.into()]));
            }
            Err(e) => return Err(auth_error(e).into()),
        }
        let erased = {
            let graph = st.engine.read();
            graph.index_of(user).and_then(|u| graph.erased_until(u)).is_some()
        };
        // Its masks' messages, keys and blocks go with it (named before the erasure unlinks
        // them).
        let masks: Vec<Id> = {
            let graph = st.engine.read();
            graph
                .index_of(user)
                .map(|u| graph.out(EdgeKind::Owns, u).map(|m| graph.id_at(m)).collect())
                .unwrap_or_default()
        };
        // The log first (it is what cannot be undone), then the credentials and sessions; a
        // retry after a failure between the two finishes the second.
        let seq = if erased {
            st.engine.read().position().seq
        } else {
            let cooling_off = i64::try_from(st.handle_cooling_off.as_millis()).unwrap_or(i64::MAX);
            let hide_works = input.hide_works.unwrap_or(false);
            let command = Command::EraseAccount { user, hide_works, handle_cooling_off_ms: cooling_off };
            execute(ctx, command).await?
        };
        st.messages.erase(&masks).await.map_err(auth_error)?;
        st.auth.erase(user).await.map_err(auth_error)?;
        tracing::info!(seq, "an account was erased");
        Ok(payload(Some(seq), Vec::new()))
    }

    /// Create one of your masks (at most 16).
    async fn create_mask(&self, ctx: &Context<'_>, input: CreateMaskInput) -> Result<MaskPayload> {
        let user = user(ctx)?;
        let mask = state(ctx).engine.new_id();
        let command = Command::CreateMask {
            user,
            mask,
            kind: input.kind.into(),
            handle: input.handle,
            display_name: input.display_name,
            bio: input.bio,
        };
        MaskPayload::of(execute(ctx, command).await.map(|seq| (mask_now(ctx, mask), seq)))
    }

    /// Found a world: you join it and moderate it.
    async fn create_world(&self, ctx: &Context<'_>, input: CreateWorldInput) -> Result<WorldPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let world = state(ctx).engine.new_id();
        WorldPayload::of(
            async {
                let rules = input.rules.as_ref().map(super::governance::RulesInput::rules).transpose()?;
                let command = Command::CreateWorld {
                    actor: actor?,
                    world,
                    name: input.name,
                    description: input.description,
                    tags: input.tags,
                    rules,
                };
                execute(ctx, command).await.map(|seq| (world_now(ctx, world), seq))
            }
            .await,
        )
    }

    /// Join a world.
    async fn join_world(&self, ctx: &Context<'_>, input: WorldMembershipInput) -> Result<WorldPayload> {
        on_world(ctx, input, |actor, world| Command::JoinWorld { actor, world }).await
    }

    /// Leave a world (and stop moderating it).
    async fn leave_world(&self, ctx: &Context<'_>, input: WorldMembershipInput) -> Result<WorldPayload> {
        on_world(ctx, input, |actor, world| Command::LeaveWorld { actor, world }).await
    }

    /// Follow a mask.
    async fn follow(&self, ctx: &Context<'_>, input: MaskActionInput) -> Result<MaskPayload> {
        on_mask(ctx, input, |actor, target| Command::Follow { actor, target }).await
    }

    /// Admit a mask as a viewer of your private mask (`as`): its owner may then see the private
    /// mask, and it may follow it. The payload's mask is the viewer.
    async fn approve_viewer(&self, ctx: &Context<'_>, input: MaskActionInput) -> Result<MaskPayload> {
        on_mask(ctx, input, |actor, viewer| Command::Admit { actor, viewer }).await
    }

    /// Take back a viewer's admission to your private mask (`as`); its follow ends with it.
    async fn revoke_viewer(&self, ctx: &Context<'_>, input: MaskActionInput) -> Result<MaskPayload> {
        on_mask(ctx, input, |actor, viewer| Command::Unadmit { actor, viewer }).await
    }

    /// Stop following a mask.
    async fn unfollow(&self, ctx: &Context<'_>, input: MaskActionInput) -> Result<MaskPayload> {
        on_mask(ctx, input, |actor, target| Command::Unfollow { actor, target }).await
    }

    /// Rate a mask −10..=10 (replaces your earlier rating).
    async fn rate(&self, ctx: &Context<'_>, input: RateInput) -> Result<MaskPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        MaskPayload::of(
            async {
                let other = target(ctx, NodeKind::Mask, &input.mask, "mask", "mask")?;
                if !(-10..=10).contains(&input.rating) {
                    return Err(ApiError::new(Code::BadUserInput, "rating must be -10 to 10").field("rating"));
                }
                let command = Command::Rate { actor: actor?, target: other, rating: input.rating as i8 };
                let seq = execute(ctx, command).await.map_err(|e| e.or_field("mask"))?;
                Ok((mask_now(ctx, other), seq))
            }
            .await,
        )
    }

    /// Endorse a work or a mask.
    async fn endorse(&self, ctx: &Context<'_>, input: EndorseInput) -> Result<EndorsePayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let result: std::result::Result<(Option<Node>, u64), ApiError> = async {
            let st = state(ctx);
            let id = match st.ids.decode(&input.target) {
                Some((NodeKind::Mask | NodeKind::Work | NodeKind::Post, raw)) => Id(raw),
                _ => return Err(ApiError::new(Code::NotFound, "work, post or mask not found").field("target")),
            };
            let seq =
                execute(ctx, Command::Endorse { actor: actor?, target: id }).await.map_err(|e| e.or_field("target"))?;
            let graph = st.engine.read();
            let node = graph.index_of(id).and_then(|v| match graph.kind_at(v) {
                VertexKind::Mask => Sight::of(ctx).mask(&graph, v).map(Node::Mask),
                VertexKind::Work => Sight::of(ctx).work(&graph, v).map(Node::Work),
                VertexKind::Post => super::talk::Post::seen(Sight::of(ctx), &graph, v).map(Node::Post),
                _ => None,
            });
            Ok((node, seq))
        }
        .await;
        EndorsePayload::of(result)
    }

    /// Publish a work, alone or with co-authors, optionally in a world you are a member of.
    async fn publish_work(&self, ctx: &Context<'_>, input: PublishWorkInput) -> Result<WorkPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let work = state(ctx).engine.new_id();
        WorkPayload::of(
            async {
                let world = match &input.world {
                    Some(w) => Some(target(ctx, NodeKind::World, w, "world", "world")?),
                    None => None,
                };
                if input.authors.len() > schema::AUTHORS_MAX {
                    return Err(ApiError::new(Code::BadUserInput, format!("at most {} authors", schema::AUTHORS_MAX))
                        .field("authors"));
                }
                let mut authors = Vec::with_capacity(input.authors.len());
                for a in &input.authors {
                    authors.push((target(ctx, NodeKind::Mask, &a.mask, "authors", "mask")?, a.share as f32));
                }
                let royalty = input.royalty.as_ref().map(RoyaltyInput::royalty).transpose()?;
                let command = Command::PublishWork {
                    actor: actor?,
                    work,
                    title: input.title,
                    description: input.description,
                    world,
                    authors,
                    royalty,
                };
                execute(ctx, command).await.map(|seq| (work_now(ctx, work), seq))
            }
            .await,
        )
    }

    /// Accept an invitation to co-author a work: you are shown as its author, with the share
    /// offered.
    async fn accept_coauthorship(&self, ctx: &Context<'_>, input: CoauthorshipInput) -> Result<WorkPayload> {
        on_invitation(ctx, input, |actor, work| Command::AcceptCoauthorship { actor, work }).await
    }

    /// Decline an invitation to co-author a work: nothing of it was ever shown on you.
    async fn decline_coauthorship(&self, ctx: &Context<'_>, input: CoauthorshipInput) -> Result<WorkPayload> {
        on_invitation(ctx, input, |actor, work| Command::DeclineCoauthorship { actor, work }).await
    }

    /// Publish a remix of a work: credit flows upstream to the original.
    async fn remix(&self, ctx: &Context<'_>, input: RemixInput) -> Result<WorkPayload> {
        let actor = actor(ctx, &input.as_mask)?;
        let work = state(ctx).engine.new_id();
        WorkPayload::of(
            async {
                let original = target(ctx, NodeKind::Work, &input.original, "original", "work")?;
                let royalty = input.royalty.as_ref().map(RoyaltyInput::royalty).transpose()?;
                let command = Command::Remix {
                    actor: actor?,
                    work,
                    original,
                    title: input.title,
                    description: input.description,
                    royalty,
                };
                execute(ctx, command).await.map(|seq| (work_now(ctx, work), seq))
            }
            .await,
        )
    }

    /// Record a collaboration with another mask.
    async fn collaborate(&self, ctx: &Context<'_>, input: MaskActionInput) -> Result<MaskPayload> {
        on_mask(ctx, input, |actor, other| Command::Collaborate { actor, other }).await
    }
}
