//! Who may see what. Decided here, once; the engine's read API applies it.

use crate::{EdgeKind, Id, MaskKind, VertexKind, View};

/// Whether a vertex of `kind` may be shown to people other than its owner at all.
/// Users are private accounts: others only ever see masks.
pub fn vertex_is_public(kind: VertexKind) -> bool {
    kind != VertexKind::User
}

/// Whether property `key` of a vertex of `kind` may be shown to others.
pub fn prop_is_public(kind: VertexKind, key: &str) -> bool {
    match kind {
        VertexKind::User => false,
        // `hidden` is public: a hidden mask is left out of listings and discovery everywhere.
        VertexKind::Mask => matches!(key, "kind" | "handle" | "display_name" | "bio" | "hidden"),
        _ => true,
    }
}

/// Whether edges of `kind` may be shown to others. Only ownership is private.
pub fn edge_is_public(kind: EdgeKind) -> bool {
    !kind.is_private()
}

/// Whether `viewer` (a signed-in user, or nobody) may see `mask` at all. A private mask is seen
/// by its owner and by the users whose masks it admitted; to everyone else it does not exist,
/// exactly as a mask that was never made. Every other mask is seen by everyone.
pub fn sees_mask(view: &dyn View, viewer: Option<Id>, mask: Id) -> bool {
    if view.mask_kind(mask) != Some(MaskKind::Private) {
        return true;
    }
    let Some(user) = viewer else { return false };
    view.owner_of(mask) == Some(user)
        || view
            .targets(EdgeKind::Owns, user, crate::MASKS_PER_USER_MAX)
            .into_iter()
            .any(|own| view.has_edge(EdgeKind::Admits, mask, own))
}

/// Whether `viewer` may see `work`: a work is seen when one of its authors is (so a private
/// mask's works are seen by those who see the mask), or when it has no authors (an import).
pub fn sees_work(view: &dyn View, viewer: Option<Id>, work: Id) -> bool {
    let authors = view.sources(EdgeKind::Authored, work, crate::AUTHORS_MAX);
    authors.is_empty() || authors.into_iter().any(|mask| sees_mask(view, viewer, mask))
}

/// Whether `viewer` may see a post or a thread (`talk`): one its author hid or a moderator
/// removed only its author's owner; any other when its writer is seen (a private mask's posts
/// by those who see the mask). A post also needs its thread seen: a removed thread takes its
/// posts with it.
pub fn sees_post(view: &dyn View, viewer: Option<Id>, talk: Id) -> bool {
    let gone = |id: Id| {
        [crate::talk::HIDDEN, crate::talk::REMOVED]
            .into_iter()
            .any(|key| view.prop(id, key) == Some(crate::Value::Bool(true)))
    };
    let seen = |id: Id| match view.sources(EdgeKind::Wrote, id, 1).first() {
        // An imported post without a writer.
        None => !gone(id),
        Some(&writer) if gone(id) => viewer.is_some() && view.owner_of(writer) == viewer,
        Some(&writer) => sees_mask(view, viewer, writer),
    };
    if !seen(talk) {
        return false;
    }
    match view.vertex_kind(talk) {
        Some(VertexKind::Post) => view.targets(EdgeKind::Within, talk, 1).first().is_none_or(|&thread| seen(thread)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_and_users_are_private() {
        assert!(!edge_is_public(EdgeKind::Owns));
        assert!(edge_is_public(EdgeKind::Follows));
        assert!(!vertex_is_public(VertexKind::User));
        assert!(!prop_is_public(VertexKind::User, "name"));
        assert!(prop_is_public(VertexKind::Mask, "handle"));
        assert!(!prop_is_public(VertexKind::Mask, "owner"));
    }
}
