//! What the index holds: a document per world, work and public mask, built from an entity's
//! public face, and which entities an event touches.

use schema::{Bulk, Event, Id, MaskKind, Value, VertexKind};
use serde::{Deserialize, Serialize};

/// The kinds of documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// A world.
    World,
    /// A creative work.
    Work,
    /// A public mask.
    Mask,
    /// A governance proposal.
    Proposal,
    /// An open marketplace listing.
    Listing,
    /// A thread in a world (its title).
    Thread,
    /// A post in a thread (its body).
    Post,
}

impl DocKind {
    /// The lower-case name used in the CLI, the API and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::World => "world",
            DocKind::Work => "work",
            DocKind::Mask => "mask",
            DocKind::Proposal => "proposal",
            DocKind::Listing => "listing",
            DocKind::Thread => "thread",
            DocKind::Post => "post",
        }
    }

    /// Parses `world`, `work`, `mask`, `proposal`, `listing`, `thread` or `post`.
    pub fn parse(s: &str) -> Option<DocKind> {
        match s {
            "world" => Some(DocKind::World),
            "work" => Some(DocKind::Work),
            "mask" => Some(DocKind::Mask),
            "proposal" => Some(DocKind::Proposal),
            "listing" => Some(DocKind::Listing),
            "thread" => Some(DocKind::Thread),
            "post" => Some(DocKind::Post),
            _ => None,
        }
    }

    pub(crate) fn code(self) -> u64 {
        self as u64
    }

    pub(crate) fn from_code(code: u64) -> Option<DocKind> {
        [
            DocKind::World,
            DocKind::Work,
            DocKind::Mask,
            DocKind::Proposal,
            DocKind::Listing,
            DocKind::Thread,
            DocKind::Post,
        ]
        .get(code as usize)
        .copied()
    }
}

/// One searchable document.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    /// The entity's id.
    pub id: Id,
    /// Its id in the file it was imported from, if any.
    pub external: Option<String>,
    /// Its kind.
    pub kind: DocKind,
    /// The world it belongs to (a world belongs to itself).
    pub world: Option<Id>,
    /// Its title: a world's name, a work's title, a mask's display name and handle.
    pub title: String,
    /// The rest of its public text: a description and tags, or a mask's bio.
    pub body: String,
}

/// An entity as everyone may see it: the input of [`Doc::from_entity`]. Callers pass only
/// public properties (the engine's `public_vertex`), so nothing private can reach the index.
#[derive(Clone, Copy, Debug)]
pub struct Entity<'a> {
    /// The id.
    pub id: Id,
    /// The kind.
    pub kind: VertexKind,
    /// The id it had in an imported file.
    pub external: Option<&'a str>,
    /// Its public properties.
    pub props: &'a [(&'a str, &'a Value)],
}

impl Entity<'_> {
    fn text(&self, key: &str) -> &str {
        self.props.iter().find(|(k, _)| *k == key).and_then(|(_, v)| v.as_str()).unwrap_or("")
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.props.iter().find(|(k, _)| *k == key), Some((_, Value::Bool(true))))
    }
}

/// Mask kinds that discovery may show. Private masks are for their owner's circle and shadow
/// masks are not meant to be found; neither is indexed.
pub fn mask_is_discoverable(kind: MaskKind) -> bool {
    matches!(kind, MaskKind::Public | MaskKind::Creator | MaskKind::Citizen)
}

/// The property that hides an entity from discovery (moderation, or its author's deletion).
pub const HIDDEN: &str = "hidden";

impl Doc {
    /// The document of an entity, or `None` when it must not be searchable: users, contracts,
    /// closed listings, private and shadow masks, anything hidden.
    pub fn from_entity(e: &Entity<'_>) -> Option<Doc> {
        if e.flag(HIDDEN) {
            return None;
        }
        let (kind, title, body, world) = match e.kind {
            VertexKind::World => {
                let tags = match e.props.iter().find(|(k, _)| *k == "tags") {
                    Some((_, Value::List(tags))) => tags.join(" · "),
                    _ => String::new(),
                };
                let body = [e.text("description"), &tags].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>();
                (DocKind::World, e.text("name").to_owned(), body.join("\n"), Some(e.id))
            }
            VertexKind::Work => {
                let world = e.text("world").parse::<Id>().ok();
                (DocKind::Work, e.text("title").to_owned(), e.text("description").to_owned(), world)
            }
            VertexKind::Mask => {
                let mask_kind = e.text("kind").parse::<MaskKind>().ok()?;
                if !mask_is_discoverable(mask_kind) {
                    return None;
                }
                let title = format!("{} @{}", e.text("display_name"), e.text("handle"));
                (DocKind::Mask, title, e.text("bio").to_owned(), None)
            }
            VertexKind::Proposal => {
                let world = e.text("world").parse::<Id>().ok();
                (DocKind::Proposal, e.text("title").to_owned(), e.text("body").to_owned(), world)
            }
            VertexKind::Listing => {
                // A closed listing no longer sells: it leaves discovery.
                if e.props.iter().any(|(k, v)| *k == "open" && **v == Value::Bool(false)) {
                    return None;
                }
                if e.text("title").is_empty() {
                    return None;
                }
                let world = e.text("world").parse::<Id>().ok();
                let body = [e.text("terms"), e.text("listing_kind")].join("\n");
                (DocKind::Listing, e.text("title").to_owned(), body, world)
            }
            // A thread is found by its title, a post by its body; a moderator's removal takes
            // either out (the author's own hiding is `hidden`, above).
            VertexKind::Thread | VertexKind::Post if e.flag(schema::talk::REMOVED) => return None,
            VertexKind::Thread => {
                let world = e.text("world").parse::<Id>().ok();
                (DocKind::Thread, e.text("title").to_owned(), String::new(), world)
            }
            VertexKind::Post => {
                let world = e.text("world").parse::<Id>().ok();
                (DocKind::Post, String::new(), e.text("body").to_owned(), world)
            }
            VertexKind::User | VertexKind::Contract => return None,
        };
        Some(Doc { id: e.id, external: e.external.map(str::to_owned), kind, world, title, body })
    }
}

/// Calls `visit` with every vertex whose document `event` may change. Edges never change a
/// document, so only vertex events count.
pub fn touched(event: &Event, mut visit: impl FnMut(Id)) {
    touched_by(event, &mut visit)
}

fn touched_by(event: &Event, visit: &mut dyn FnMut(Id)) {
    match event {
        Event::VertexCreated { id, .. } | Event::PropsSet { id, .. } => visit(*id),
        Event::Bulk(Bulk::Vertices { kind, ids, props, .. }) => {
            // Vertices without properties (a researcher's edge list) have no text to index.
            let searchable = matches!(
                kind,
                VertexKind::World
                    | VertexKind::Work
                    | VertexKind::Mask
                    | VertexKind::Proposal
                    | VertexKind::Thread
                    | VertexKind::Post
            );
            if searchable && !props.is_empty() {
                ids.0.iter().for_each(|&id| visit(Id(id)));
            }
        }
        Event::Owned { events, .. } => events.iter().for_each(|e| touched_by(e, visit)),
        // An erasure takes the masks out of search; the works it hides follow their authors
        // (the follower re-indexes an erased mask's works).
        Event::Erased(erasure) => erasure.masks.iter().for_each(|&m| visit(m)),
        // A proposal's text is its vertex's; ballots and results change no document.
        Event::EdgeAdded { .. }
        | Event::EdgeRemoved { .. }
        | Event::Bulk(_)
        | Event::Sealed(_)
        | Event::Gov(_)
        | Event::Econ(_)
        | Event::Confidential(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.to_owned())
    }

    #[test]
    fn masks_are_indexed_by_their_public_face_only() {
        let (kind, handle, name, bio) = (s("creator"), s("7elwa_art"), s("نور"), s("street art"));
        let props = [("kind", &kind), ("handle", &handle), ("display_name", &name), ("bio", &bio)];
        let e = Entity { id: Id(7), kind: VertexKind::Mask, external: Some("m1"), props: &props };
        let doc = Doc::from_entity(&e).unwrap();
        assert_eq!(doc.title, "نور @7elwa_art");
        assert_eq!(doc.body, "street art");
        assert_eq!(doc.kind, DocKind::Mask);
        for hidden in ["shadow", "private"] {
            let kind = s(hidden);
            let props = [("kind", &kind), ("handle", &handle)];
            assert!(Doc::from_entity(&Entity { props: &props, ..e }).is_none(), "{hidden}");
        }
    }

    #[test]
    fn hidden_entities_and_users_have_no_document() {
        let (title, yes) = (s("x"), Value::Bool(true));
        let props = [("title", &title), (HIDDEN, &yes)];
        assert!(
            Doc::from_entity(&Entity { id: Id(1), kind: VertexKind::Work, external: None, props: &props }).is_none()
        );
        let props = [("title", &title)];
        assert!(
            Doc::from_entity(&Entity { id: Id(1), kind: VertexKind::User, external: None, props: &props }).is_none()
        );
        assert!(
            Doc::from_entity(&Entity { id: Id(1), kind: VertexKind::Work, external: None, props: &props }).is_some()
        );
    }

    #[test]
    fn worlds_carry_their_tags_and_works_their_world() {
        let (name, tags) = (s("Graffiti"), Value::List(vec!["spray".into(), "جرافيتي".into()]));
        let props = [("name", &name), ("tags", &tags)];
        let doc = Doc::from_entity(&Entity { id: Id(9), kind: VertexKind::World, external: None, props: &props });
        let doc = doc.unwrap();
        assert_eq!((doc.body.as_str(), doc.world), ("spray · جرافيتي", Some(Id(9))));
        let (title, world) = (s("Mural"), s(&Id(9).to_string()));
        let props = [("title", &title), ("world", &world)];
        let doc = Doc::from_entity(&Entity { id: Id(3), kind: VertexKind::Work, external: None, props: &props });
        assert_eq!(doc.unwrap().world, Some(Id(9)));
    }
}
