//! Who may see what. Decided here, once; the engine's read API applies it.

use crate::{EdgeKind, VertexKind};

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
