//! `daira exec`: commands as JSON lines on stdin, one durable write each, acknowledged on
//! stdout once committed. For scripts, and for the crash tests.
//!
//! Each line is one object with one key naming the command:
//!
//! ```text
//! {"register_user": {}}
//! {"create_mask": {"user": ID, "kind": "creator", "handle": "nour_2ahwa", "display_name": "…", "bio": "…"}}
//! {"create_world": {"user": ID, "mask": ID, "name": "…", "description": "…", "tags": ["…"]}}
//! {"join_world" | "leave_world": {"user": ID, "mask": ID, "world": ID}}
//! {"follow" | "unfollow" | "endorse": {"user": ID, "mask": ID, "target": ID}}
//! {"rate": {"user": ID, "mask": ID, "target": ID, "rating": -10..10}}
//! {"publish_work": {"user": ID, "mask": ID, "title": "…", "description": "…", "world": ID?}}
//! {"remix": {"user": ID, "mask": ID, "original": ID, "title": "…", "description": "…"}}
//! {"collaborate": {"user": ID, "mask": ID, "other": ID}}
//! {"edit": {"user": ID, "mask": ID, "target": ID, "fields": {"title": "…", "description": "…"}}}
//! {"hide": {"user": ID, "mask": ID, "target": ID, "hidden": true}}
//! ```
//!
//! IDs are the 16-hex-digit ids the acknowledgements print. The answer to each line is one line:
//! `ok seq=N hash=H [id=ID]` or `rejected line=L: REASON` (or `error line=L: …`).

use graph_engine::Engine;
use schema::{Actor, Command, Id, MaskKind};
use serde_json::Value;

/// A parsed line: the command and the id it creates, if any.
pub struct Parsed {
    /// The command.
    pub command: Command,
    /// The id of the vertex it creates.
    pub created: Option<Id>,
}

/// Parses one line into a command; new ids come from `engine`.
pub fn parse_line(line: &str, engine: &Engine) -> Result<Parsed, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let object = value.as_object().filter(|o| o.len() == 1).ok_or("expected one object with one key")?;
    let (name, args) = object.iter().next().expect("one key");
    let text = |key: &str| -> Result<String, String> {
        args.get(key).and_then(Value::as_str).map(str::to_owned).ok_or(format!("{name}.{key}: expected a string"))
    };
    let opt_text = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let id = |key: &str| -> Result<Id, String> {
        text(key)?.parse::<Id>().map_err(|_| format!("{name}.{key}: expected a hex id"))
    };
    let actor = || -> Result<Actor, String> { Ok(Actor { user: id("user")?, mask: id("mask")? }) };
    let fresh = engine.new_id();
    let (command, created) = match name.as_str() {
        "register_user" => (Command::RegisterUser { user: fresh }, Some(fresh)),
        "create_mask" => {
            let kind: MaskKind = text("kind")?.parse().map_err(|e: schema::UnknownName| format!("{name}.kind: {e}"))?;
            let command = Command::CreateMask {
                user: id("user")?,
                mask: fresh,
                kind,
                handle: text("handle")?,
                display_name: opt_text("display_name"),
                bio: opt_text("bio"),
            };
            (command, Some(fresh))
        }
        "create_world" => {
            let tags = args
                .get("tags")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            let command = Command::CreateWorld {
                actor: actor()?,
                world: fresh,
                name: text("name")?,
                description: opt_text("description"),
                tags,
            };
            (command, Some(fresh))
        }
        "join_world" => (Command::JoinWorld { actor: actor()?, world: id("world")? }, None),
        "leave_world" => (Command::LeaveWorld { actor: actor()?, world: id("world")? }, None),
        "follow" => (Command::Follow { actor: actor()?, target: id("target")? }, None),
        "unfollow" => (Command::Unfollow { actor: actor()?, target: id("target")? }, None),
        "endorse" => (Command::Endorse { actor: actor()?, target: id("target")? }, None),
        "rate" => {
            let rating =
                args.get("rating").and_then(Value::as_i64).ok_or(format!("{name}.rating: expected an integer"))?;
            let rating =
                i8::try_from(rating).map_err(|_| format!("{name}.rating: {rating} is out of range -10..=10"))?;
            (Command::Rate { actor: actor()?, target: id("target")?, rating }, None)
        }
        "publish_work" => {
            let world = if args.get("world").is_some() { Some(id("world")?) } else { None };
            let command = Command::PublishWork {
                actor: actor()?,
                work: fresh,
                title: text("title")?,
                description: opt_text("description"),
                world,
                authors: Vec::new(),
            };
            (command, Some(fresh))
        }
        "remix" => {
            let command = Command::Remix {
                actor: actor()?,
                work: fresh,
                original: id("original")?,
                title: text("title")?,
                description: opt_text("description"),
            };
            (command, Some(fresh))
        }
        "collaborate" => (Command::Collaborate { actor: actor()?, other: id("other")? }, None),
        "edit" => {
            let fields = args
                .get("fields")
                .and_then(Value::as_object)
                .ok_or(format!("{name}.fields: expected an object of texts"))?
                .iter()
                .map(|(k, v)| {
                    v.as_str().map(|v| (k.clone(), v.to_owned())).ok_or(format!("{name}.fields.{k}: expected a string"))
                })
                .collect::<Result<Vec<_>, String>>()?;
            (Command::Edit { actor: actor()?, target: id("target")?, fields }, None)
        }
        "hide" => {
            let hidden =
                args.get("hidden").and_then(Value::as_bool).ok_or(format!("{name}.hidden: expected true or false"))?;
            (Command::Hide { actor: actor()?, target: id("target")?, hidden }, None)
        }
        other => return Err(format!("unknown command {other:?}")),
    };
    Ok(Parsed { command, created })
}
