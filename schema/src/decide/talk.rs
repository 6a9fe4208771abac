//! The rules of conversation (see [`crate::talk`]): starting threads, replying, editing,
//! hiding and reacting. Posting obeys the world's post privilege (members by default; a
//! suspended or removed mask may not post); a hidden or removed post takes no replies and no
//! reactions.

use super::{Rejection, View, acting, exists, fresh, permitted};
use crate::governance::Privilege;
use crate::talk::{self, ACTIVE, FIRST, HIDDEN, REMOVED, Reaction};
use crate::text::clean_text;
use crate::visibility::{sees_mask, sees_post};
use crate::{Actor, Command, EdgeKind, Event, Id, Props, Value, VertexKind, check_props};

pub(super) fn decide(command: Command, now_ms: i64, view: &dyn View) -> Result<Vec<Event>, Rejection> {
    let edge = |kind, src, dst, weight| Event::EdgeAdded { kind, src, dst, weight, time_ms: Some(now_ms) };
    match command {
        Command::StartThread { actor, thread, post, world, title, body } => {
            acting(view, actor)?;
            exists(view, world, VertexKind::World)?;
            fresh(view, thread)?;
            fresh(view, post)?;
            if thread == post {
                return Err(Rejection::AlreadyExists { id: post });
            }
            permitted(view, actor.mask, world, Privilege::Post, now_ms)?;
            let title = clean_text("title", &title)?;
            if title.is_empty() {
                return Err(Rejection::EmptyText { field: "title".into() });
            }
            let body = body_text(&body)?;
            let props: Props = [
                ("title".to_owned(), Value::Str(title)),
                ("world".to_owned(), Value::Str(world.to_string())),
                (ACTIVE.to_owned(), Value::Int(now_ms)),
                (FIRST.to_owned(), Value::Str(post.to_string())),
            ]
            .into_iter()
            .collect();
            check_props(&props)?;
            let mut events = vec![
                Event::VertexCreated { id: thread, kind: VertexKind::Thread, props, external: None },
                edge(EdgeKind::Within, thread, world, None),
                edge(EdgeKind::Wrote, actor.mask, thread, None),
            ];
            events.extend(new_post(view, actor, post, thread, world, None, body, now_ms)?);
            Ok(events)
        }
        Command::Reply { actor, post, to, body } => {
            acting(view, actor)?;
            fresh(view, post)?;
            let (thread, parent) = match view.vertex_kind(to) {
                Some(VertexKind::Thread) => (to, None),
                Some(VertexKind::Post) => {
                    let thread = *view
                        .targets(EdgeKind::Within, to, 1)
                        .first()
                        .ok_or(Rejection::NotFound { kind: VertexKind::Post, id: to })?;
                    (thread, Some(to))
                }
                _ => return Err(Rejection::NotFound { kind: VertexKind::Post, id: to }),
            };
            open(view, actor, to)?;
            open(view, actor, thread)?;
            let world = world_of(view, thread).ok_or(Rejection::NotFound { kind: VertexKind::Thread, id: thread })?;
            permitted(view, actor.mask, world, Privilege::Post, now_ms)?;
            let body = body_text(&body)?;
            let mut events = new_post(view, actor, post, thread, world, parent, body, now_ms)?;
            events.push(Event::PropsSet {
                id: thread,
                props: [(ACTIVE.to_owned(), Value::Int(now_ms))].into_iter().collect(),
            });
            Ok(events)
        }
        Command::EditPost { actor, post, body } => {
            acting(view, actor)?;
            written_by(view, actor, post)?;
            if flag(view, post, REMOVED) {
                return Err(Rejection::PostHidden);
            }
            let body = body_text(&body)?;
            let mentioned = mentions(view, actor, &body);
            let before = view.targets(EdgeKind::Mentions, post, talk::MENTIONS_MAX);
            let mut events = vec![Event::PropsSet {
                id: post,
                props: [("body".to_owned(), Value::Str(body)), ("edited_ms".to_owned(), Value::Int(now_ms))]
                    .into_iter()
                    .collect(),
            }];
            for &m in before.iter().filter(|m| !mentioned.contains(m)) {
                events.push(Event::EdgeRemoved { kind: EdgeKind::Mentions, src: post, dst: m });
            }
            for &m in mentioned.iter().filter(|m| !before.contains(m)) {
                events.push(edge(EdgeKind::Mentions, post, m, None));
            }
            Ok(events)
        }
        Command::HidePost { actor, post, hidden } => {
            acting(view, actor)?;
            written_by(view, actor, post)?;
            if flag(view, post, HIDDEN) == hidden {
                return Err(if hidden {
                    Rejection::AlreadyDone { what: "hidden" }
                } else {
                    Rejection::NotDone { what: "not hidden" }
                });
            }
            let props: Props = [(HIDDEN.to_owned(), Value::Bool(hidden))].into_iter().collect();
            let mut events = vec![Event::PropsSet { id: post, props: props.clone() }];
            if let Some(thread) = first_of(view, post) {
                events.push(Event::PropsSet { id: thread, props });
            }
            Ok(events)
        }
        Command::React { actor, post, reaction } => {
            acting(view, actor)?;
            if view.vertex_kind(post) != Some(VertexKind::Post) {
                return Err(Rejection::NotFound { kind: VertexKind::Post, id: post });
            }
            open(view, actor, post)?;
            if view.has_edge(EdgeKind::Wrote, actor.mask, post) {
                return Err(Rejection::SelfAction { action: "react to a post of" });
            }
            let now = Reaction::of_weight(view.edge_weight(EdgeKind::Reacted, actor.mask, post));
            match reaction {
                Some(r) if now == Some(r) => Err(Rejection::AlreadyDone { what: "reacted so" }),
                Some(r) => Ok(vec![edge(EdgeKind::Reacted, actor.mask, post, Some(f32::from(r.code())))]),
                None if now.is_none() => Err(Rejection::NotDone { what: "no reaction to take back" }),
                None => Ok(vec![Event::EdgeRemoved { kind: EdgeKind::Reacted, src: actor.mask, dst: post }]),
            }
        }
        _ => unreachable!("not a command of conversation"),
    }
}

/// A post's body as kept: normalised prose, not blank, at most [`talk::BODY_CHARS_MAX`]
/// characters and [`crate::TEXT_BYTES_MAX`] bytes.
fn body_text(raw: &str) -> Result<String, Rejection> {
    let got = raw.chars().count();
    if got > talk::BODY_CHARS_MAX {
        return Err(Rejection::TooLong { field: "body".into(), limit: talk::BODY_CHARS_MAX, got });
    }
    let body = clean_text("body", raw)?;
    if body.trim().is_empty() {
        return Err(Rejection::EmptyText { field: "body".into() });
    }
    if body.len() > crate::TEXT_BYTES_MAX {
        return Err(Rejection::InvalidInput {
            field: "body".into(),
            reason: format!("at most {} bytes of UTF-8 (got {})", crate::TEXT_BYTES_MAX, body.len()),
        });
    }
    Ok(body)
}

/// The masks a body mentions that the actor's user sees, the actor itself left out.
fn mentions(view: &dyn View, actor: Actor, body: &str) -> Vec<Id> {
    talk::mentioned_handles(body)
        .iter()
        .filter_map(|h| view.handle_holder(h))
        .filter(|&m| {
            m != actor.mask
                && view.vertex_kind(m) == Some(VertexKind::Mask)
                && view.erased_until(m).is_none()
                && sees_mask(view, Some(actor.user), m)
        })
        .collect()
}

/// The events of a new post.
#[allow(clippy::too_many_arguments)]
fn new_post(
    view: &dyn View,
    actor: Actor,
    post: Id,
    thread: Id,
    world: Id,
    parent: Option<Id>,
    body: String,
    now_ms: i64,
) -> Result<Vec<Event>, Rejection> {
    let edge = |kind, src, dst| Event::EdgeAdded { kind, src, dst, weight: None, time_ms: Some(now_ms) };
    let mentioned = mentions(view, actor, &body);
    let mut props: Props = [
        ("body".to_owned(), Value::Str(body)),
        ("thread".to_owned(), Value::Str(thread.to_string())),
        ("world".to_owned(), Value::Str(world.to_string())),
    ]
    .into_iter()
    .collect();
    if let Some(parent) = parent {
        props.insert("parent".to_owned(), Value::Str(parent.to_string()));
    }
    check_props(&props)?;
    let mut events = vec![
        Event::VertexCreated { id: post, kind: VertexKind::Post, props, external: None },
        edge(EdgeKind::Wrote, actor.mask, post),
        edge(EdgeKind::Within, post, thread),
    ];
    if let Some(parent) = parent {
        events.push(edge(EdgeKind::RepliesTo, post, parent));
    }
    events.extend(mentioned.into_iter().map(|m| edge(EdgeKind::Mentions, post, m)));
    Ok(events)
}

fn flag(view: &dyn View, id: Id, key: &str) -> bool {
    view.prop(id, key) == Some(Value::Bool(true))
}

/// A thread's or post's world.
fn world_of(view: &dyn View, talk: Id) -> Option<Id> {
    match view.prop(talk, "world")? {
        Value::Str(w) => w.parse().ok(),
        _ => None,
    }
}

/// `talk` (a thread or a post) is one the actor sees and that is neither hidden nor removed.
fn open(view: &dyn View, actor: Actor, talk: Id) -> Result<(), Rejection> {
    let kind = view.vertex_kind(talk).unwrap_or(VertexKind::Post);
    if flag(view, talk, HIDDEN) || flag(view, talk, REMOVED) {
        // Gone for everyone but its author, and closed to replies for everyone: saying so
        // tells nobody anything about who wrote it.
        return Err(Rejection::PostHidden);
    }
    if !sees_post(view, Some(actor.user), talk) {
        return Err(Rejection::NotFound { kind, id: talk });
    }
    Ok(())
}

/// `post` is a post the actor's mask wrote; to anyone else it is "not found".
fn written_by(view: &dyn View, actor: Actor, post: Id) -> Result<(), Rejection> {
    if view.vertex_kind(post) == Some(VertexKind::Post) && view.has_edge(EdgeKind::Wrote, actor.mask, post) {
        Ok(())
    } else {
        Err(Rejection::NotFound { kind: VertexKind::Post, id: post })
    }
}

/// The thread whose first post `post` is.
pub(super) fn first_of(view: &dyn View, post: Id) -> Option<Id> {
    let thread = *view.targets(EdgeKind::Within, post, 1).first()?;
    (view.prop(thread, FIRST) == Some(Value::Str(post.to_string()))).then_some(thread)
}

/// The `removed` events of a moderator's HIDE of a thread or post (`removed` true), or of
/// its undoing (false): a thread's first post goes with its thread, and the reverse.
pub(super) fn removal(view: &dyn View, target: Id, removed: bool) -> Vec<Event> {
    let props: Props = [(REMOVED.to_owned(), Value::Bool(removed))].into_iter().collect();
    let other = match view.vertex_kind(target) {
        Some(VertexKind::Post) => first_of(view, target),
        Some(VertexKind::Thread) => match view.prop(target, FIRST) {
            Some(Value::Str(p)) => p.parse().ok(),
            _ => None,
        },
        _ => None,
    };
    std::iter::once(target).chain(other).map(|id| Event::PropsSet { id, props: props.clone() }).collect()
}

/// The world of a thread or post, for moderation: `Some` when `talk` is one the actor sees.
pub(super) fn world_of_seen(view: &dyn View, actor: Actor, talk: Id) -> Option<Id> {
    sees_post(view, Some(actor.user), talk).then(|| world_of(view, talk)).flatten()
}
