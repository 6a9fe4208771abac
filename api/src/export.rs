//! A user's data, whole, signed: `exportMyData` and `daira export --login`.
//!
//! The document is JSON of everything the user owns: the account, every mask with its kind
//! and fields, every edge those masks made (follows, memberships, ratings with their values,
//! endorsements, authorship with shares, collaborations, votes, admissions, invitations) with
//! its time, and the works they authored. Nodes are named by their global ids (as the API
//! names them), and others' masks also by handle where the user may see them. The signature
//! is Ed25519 over the document's exact bytes by the server's key (see [`crate::keys`]).

use crate::ids::{GlobalIds, NodeKind};
use crate::keys::Keys;
use graph_engine::Graph;
use schema::{EdgeKind, Id, Value, VertexKind};
use serde_json::{Map, Value as Json, json};

/// The document and its signature.
pub struct Signed {
    /// The document, JSON text: the bytes signed.
    pub document: String,
    /// Ed25519 over `document`'s bytes, base64.
    pub signature: String,
    /// The key that checks it, base64 (also at `/.well-known/daira-signing-key`).
    pub public_key: String,
}

/// A vertex named as the API names it.
fn name(graph: &Graph, ids: &GlobalIds, v: u32) -> String {
    let id = graph.id_at(v);
    match graph.kind_at(v) {
        VertexKind::Mask => ids.of(NodeKind::Mask, id),
        VertexKind::World => ids.of(NodeKind::World, id),
        VertexKind::Work => ids.of(NodeKind::Work, id),
        other => format!("{other}:{id}"),
    }
}

fn text(graph: &Graph, v: u32, key: &str) -> Json {
    graph.public_prop(v, key).and_then(Value::as_str).map_or(Json::Null, |s| json!(s))
}

/// Everything `user` (signed in as `login`) owns, as a JSON document (compact, in a stable
/// key order).
pub fn document(graph: &Graph, ids: &GlobalIds, login: &str, user: Id) -> Result<String, String> {
    let masks: Vec<u32> = graph.index_of(user).map(|u| graph.out(EdgeKind::Owns, u).collect()).unwrap_or_default();
    let mut mask_docs = Vec::new();
    let mut works = Vec::new();
    for &m in &masks {
        let mut edges = Vec::new();
        for &kind in EdgeKind::ALL {
            if kind == EdgeKind::Owns {
                continue;
            }
            for (target, props) in graph.out_edges(kind, m) {
                let mut edge = Map::new();
                edge.insert("kind".into(), json!(kind.as_str()));
                edge.insert("to".into(), json!(name(graph, ids, target)));
                if graph.kind_at(target) == VertexKind::Mask && graph.sees(Some(user), target) {
                    edge.insert("to_handle".into(), text(graph, target, "handle"));
                }
                if let (Some(weight), Some(field)) = (props.weight, kind.weight_name()) {
                    edge.insert(field.into(), json!(weight));
                }
                if let Some(time) = props.time_ms {
                    edge.insert("time_ms".into(), json!(time.to_string()));
                }
                edges.push(Json::Object(edge));
                if kind == EdgeKind::Authored {
                    works.push(json!({
                        "id": name(graph, ids, target),
                        "title": text(graph, target, "title"),
                        "description": text(graph, target, "description"),
                        "world": text(graph, target, "world").as_str()
                            .and_then(|w| w.parse::<Id>().ok())
                            .map(|w| ids.of(NodeKind::World, w)),
                        "share": props.weight,
                    }));
                }
            }
        }
        mask_docs.push(json!({
            "id": name(graph, ids, m),
            "kind": text(graph, m, "kind"),
            "handle": text(graph, m, "handle"),
            "display_name": text(graph, m, "display_name"),
            "bio": text(graph, m, "bio"),
            "hidden": graph.public_prop(m, "hidden") == Some(&Value::Bool(true)),
            "edges": edges,
        }));
    }
    let position = graph.position();
    let document = json!({
        "format": "daira-export/1",
        "log": { "seq": position.seq.to_string(), "hash": graph_engine::log::hex(&position.hash) },
        "account": { "login": login },
        "masks": mask_docs,
        "works": works,
    });
    serde_json::to_string(&document).map_err(|e| e.to_string())
}

/// The document for `user`, signed.
pub fn signed(graph: &Graph, ids: &GlobalIds, keys: &Keys, login: &str, user: Id) -> Result<Signed, String> {
    let document = document(graph, ids, login, user)?;
    Ok(Signed { signature: keys.sign(document.as_bytes()), public_key: keys.public_key(), document })
}
