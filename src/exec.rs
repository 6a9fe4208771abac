//! `daira exec`: commands as JSON lines on stdin, one durable write each, acknowledged on
//! stdout once committed. For scripts, and for the crash tests.
//!
//! Each line is one object with one key naming the command:
//!
//! ```text
//! {"register_user": {}}
//! {"create_mask": {"user": ID, "kind": "creator", "handle": "nour_2ahwa", "display_name": "…", "bio": "…"}}
//! {"create_world": {"user": ID, "mask": ID, "name": "…", "description": "…", "tags": ["…"], "rules": RULES?}}
//! {"join_world" | "leave_world": {"user": ID, "mask": ID, "world": ID}}
//! {"follow" | "unfollow" | "endorse": {"user": ID, "mask": ID, "target": ID}}
//! {"admit" | "unadmit": {"user": ID, "mask": ID, "viewer": ID}}   (mask: a private mask)
//! {"accept_coauthorship" | "decline_coauthorship": {"user": ID, "mask": ID, "work": ID}}
//! {"rate": {"user": ID, "mask": ID, "target": ID, "rating": -10..10}}
//! {"publish_work": {"user": ID, "mask": ID, "title": "…", "description": "…", "world": ID?}}
//! {"remix": {"user": ID, "mask": ID, "original": ID, "title": "…", "description": "…"}}
//! {"collaborate": {"user": ID, "mask": ID, "other": ID}}
//! {"edit": {"user": ID, "mask": ID, "target": ID, "fields": {"title": "…", "description": "…"}}}
//! {"hide": {"user": ID, "mask": ID, "target": ID, "hidden": true}}
//! {"create_proposal": {"user": ID, "mask": ID, "world": ID, "title": "…", "body": "…", "options": ["…", "…"],
//!                      "method": "single|approval|ranked|schulze|score|quadratic", "opens_at": MS?, "closes_at": MS,
//!                      "quorum": 0..1, "threshold": 0..1, "one_person_one_vote": false, "weight": "equal|reputation",
//!                      "budget": N?, "secret": false, "topic": "…", "rules": RULES?, "curators": [ID]?}}
//! {"cast_vote": {"user": ID, "mask": ID, "proposal": ID, "choices": [0, 2], "amounts": [5, 3]?}}
//! {"withdraw_vote": {"user": ID, "mask": ID, "proposal": ID}}
//! {"delegate": {"user": ID, "mask": ID, "world": ID, "to": ID?, "topic": "…"?}}   (no "to": take it back)
//! {"close_proposal": {"proposal": ID}}
//! {"report": {"user": ID, "mask": ID, "world": ID, "target": ID, "reason": "…"}}
//! {"moderate": {"user": ID, "mask": ID, "world": ID, "target": ID, "action": "hide|limit|suspend|remove_from_world",
//!               "reason": "…", "rule": "…", "case": ID?}}   (case: a flagged case to act on)
//! {"appeal": {"user": ID, "mask": ID, "case": ID, "statement": "…"}}
//! {"jury_vote": {"user": ID, "mask": ID, "case": ID, "verdict": "uphold|overturn", "reason": "…"}}
//! ```
//!
//! RULES is schema's `Rules` as JSON: `{"propose": {"role": "Moderator", "trust_percentile": 0,
//! "contribution": 0.0, "age_days": 0}, "vote": …, "report": …, "moderate": …, "jury": …, "post": …,
//! "appeal_window_ms": 604800000}`.
//!
//! IDs are the 16-hex-digit ids the acknowledgements print. The answer to each line is one line:
//! `ok seq=N hash=H [id=ID]` or `rejected line=L: REASON` (or `error line=L: PATH: …`, naming
//! the field that is wrong).

use graph_engine::Engine;
use schema::governance::{Action, Choice, Rules};
use schema::jury::Verdict;
use schema::tally::Method;
use schema::{Actor, Command, Id, MaskKind, NewProposal};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

/// A parsed line: the command and the id it creates, if any.
pub struct Parsed {
    /// The command.
    pub command: Command,
    /// The id of the vertex it creates.
    pub created: Option<Id>,
}

/// A value written as text in the line (ids in hex, mask kinds by name).
fn text<'de, D: Deserializer<'de>, T: FromStr<Err: Display>>(d: D) -> Result<T, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
}

/// An id written in hex.
#[derive(Deserialize, Clone, Copy)]
#[serde(transparent)]
struct HexId(#[serde(deserialize_with = "text")] Id);

/// A voting method by its lower-case name.
fn method<'de, D: Deserializer<'de>>(d: D) -> Result<Method, D::Error> {
    let s = String::deserialize(d)?;
    Ok(match s.as_str() {
        "single" => Method::Single,
        "approval" => Method::Approval,
        "ranked" => Method::Ranked,
        "schulze" => Method::Schulze,
        "score" => Method::Score,
        "quadratic" => Method::Quadratic,
        _ => {
            return Err(serde::de::Error::custom(format!(
                "unknown method {s:?} (expected single, approval, ranked, schulze, score or quadratic)"
            )));
        }
    })
}

/// A share 0..=1 as basis points.
fn share<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let x = f64::deserialize(d)?;
    if !x.is_finite() || !(0.0..=1.0).contains(&x) {
        return Err(serde::de::Error::custom(format!("{x} is not a share from 0 to 1")));
    }
    Ok((x * schema::governance::BP as f64).round() as u16)
}

/// A moderation action, by name.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ActionName {
    Hide,
    Limit,
    Suspend,
    RemoveFromWorld,
}

/// A juror's verdict, by name.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum VerdictName {
    Uphold,
    Overturn,
}

/// How ballots weigh, by name.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum WeightName {
    #[default]
    Equal,
    Reputation,
}

/// The acting user and mask of a command.
fn actor(user: HexId, mask: HexId) -> Actor {
    Actor { user: user.0, mask: mask.0 }
}

/// One line, as written.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    RegisterUser {},
    CreateMask {
        user: HexId,
        #[serde(deserialize_with = "text")]
        kind: MaskKind,
        handle: String,
        #[serde(default)]
        display_name: String,
        #[serde(default)]
        bio: String,
    },
    CreateWorld {
        user: HexId,
        mask: HexId,
        name: String,
        #[serde(default)]
        description: String,
        #[serde(default)]
        tags: Vec<String>,
        rules: Option<Rules>,
    },
    JoinWorld {
        user: HexId,
        mask: HexId,
        world: HexId,
    },
    LeaveWorld {
        user: HexId,
        mask: HexId,
        world: HexId,
    },
    Follow {
        user: HexId,
        mask: HexId,
        target: HexId,
    },
    Unfollow {
        user: HexId,
        mask: HexId,
        target: HexId,
    },
    AcceptCoauthorship {
        user: HexId,
        mask: HexId,
        work: HexId,
    },
    DeclineCoauthorship {
        user: HexId,
        mask: HexId,
        work: HexId,
    },
    Admit {
        user: HexId,
        mask: HexId,
        viewer: HexId,
    },
    Unadmit {
        user: HexId,
        mask: HexId,
        viewer: HexId,
    },
    Endorse {
        user: HexId,
        mask: HexId,
        target: HexId,
    },
    Rate {
        user: HexId,
        mask: HexId,
        target: HexId,
        rating: i8,
    },
    PublishWork {
        user: HexId,
        mask: HexId,
        title: String,
        #[serde(default)]
        description: String,
        world: Option<HexId>,
    },
    Remix {
        user: HexId,
        mask: HexId,
        original: HexId,
        title: String,
        #[serde(default)]
        description: String,
    },
    Collaborate {
        user: HexId,
        mask: HexId,
        other: HexId,
    },
    Edit {
        user: HexId,
        mask: HexId,
        target: HexId,
        fields: BTreeMap<String, String>,
    },
    Hide {
        user: HexId,
        mask: HexId,
        target: HexId,
        hidden: bool,
    },
    CreateProposal {
        user: HexId,
        mask: HexId,
        world: HexId,
        title: String,
        #[serde(default)]
        body: String,
        options: Vec<String>,
        #[serde(deserialize_with = "method")]
        method: Method,
        opens_at: Option<i64>,
        closes_at: i64,
        #[serde(default, deserialize_with = "share")]
        quorum: u16,
        #[serde(default, deserialize_with = "share")]
        threshold: u16,
        #[serde(default)]
        one_person_one_vote: bool,
        #[serde(default)]
        weight: WeightName,
        budget: Option<u64>,
        #[serde(default)]
        secret: bool,
        #[serde(default)]
        topic: String,
        rules: Option<Rules>,
        curators: Option<Vec<HexId>>,
    },
    CastVote {
        user: HexId,
        mask: HexId,
        proposal: HexId,
        choices: Vec<u16>,
        #[serde(default)]
        amounts: Vec<u32>,
    },
    WithdrawVote {
        user: HexId,
        mask: HexId,
        proposal: HexId,
    },
    Delegate {
        user: HexId,
        mask: HexId,
        world: HexId,
        to: Option<HexId>,
        #[serde(default)]
        topic: String,
    },
    CloseProposal {
        proposal: HexId,
    },
    Report {
        user: HexId,
        mask: HexId,
        world: HexId,
        target: HexId,
        reason: String,
    },
    Moderate {
        user: HexId,
        mask: HexId,
        world: HexId,
        target: HexId,
        action: ActionName,
        reason: String,
        #[serde(default)]
        rule: String,
        case: Option<HexId>,
    },
    Appeal {
        user: HexId,
        mask: HexId,
        case: HexId,
        statement: String,
    },
    JuryVote {
        user: HexId,
        mask: HexId,
        case: HexId,
        verdict: VerdictName,
        reason: String,
    },
}

impl Line {
    /// The command, with `fresh` as the id of whatever it creates.
    fn command(self, fresh: Id) -> (Command, Option<Id>) {
        match self {
            Line::RegisterUser {} => (Command::RegisterUser { user: fresh }, Some(fresh)),
            Line::CreateMask { user, kind, handle, display_name, bio } => {
                (Command::CreateMask { user: user.0, mask: fresh, kind, handle, display_name, bio }, Some(fresh))
            }
            Line::CreateWorld { user, mask, name, description, tags, rules } => (
                Command::CreateWorld { actor: actor(user, mask), world: fresh, name, description, tags, rules },
                Some(fresh),
            ),
            Line::JoinWorld { user, mask, world } => {
                (Command::JoinWorld { actor: actor(user, mask), world: world.0 }, None)
            }
            Line::LeaveWorld { user, mask, world } => {
                (Command::LeaveWorld { actor: actor(user, mask), world: world.0 }, None)
            }
            Line::Follow { user, mask, target } => {
                (Command::Follow { actor: actor(user, mask), target: target.0 }, None)
            }
            Line::Unfollow { user, mask, target } => {
                (Command::Unfollow { actor: actor(user, mask), target: target.0 }, None)
            }
            Line::AcceptCoauthorship { user, mask, work } => {
                (Command::AcceptCoauthorship { actor: actor(user, mask), work: work.0 }, None)
            }
            Line::DeclineCoauthorship { user, mask, work } => {
                (Command::DeclineCoauthorship { actor: actor(user, mask), work: work.0 }, None)
            }
            Line::Admit { user, mask, viewer } => (Command::Admit { actor: actor(user, mask), viewer: viewer.0 }, None),
            Line::Unadmit { user, mask, viewer } => {
                (Command::Unadmit { actor: actor(user, mask), viewer: viewer.0 }, None)
            }
            Line::Endorse { user, mask, target } => {
                (Command::Endorse { actor: actor(user, mask), target: target.0 }, None)
            }
            Line::Rate { user, mask, target, rating } => {
                (Command::Rate { actor: actor(user, mask), target: target.0, rating }, None)
            }
            Line::PublishWork { user, mask, title, description, world } => {
                let command = Command::PublishWork {
                    actor: actor(user, mask),
                    work: fresh,
                    title,
                    description,
                    world: world.map(|w| w.0),
                    authors: Vec::new(),
                };
                (command, Some(fresh))
            }
            Line::Remix { user, mask, original, title, description } => {
                let command =
                    Command::Remix { actor: actor(user, mask), work: fresh, original: original.0, title, description };
                (command, Some(fresh))
            }
            Line::Collaborate { user, mask, other } => {
                (Command::Collaborate { actor: actor(user, mask), other: other.0 }, None)
            }
            Line::Edit { user, mask, target, fields } => (
                Command::Edit { actor: actor(user, mask), target: target.0, fields: fields.into_iter().collect() },
                None,
            ),
            Line::Hide { user, mask, target, hidden } => {
                (Command::Hide { actor: actor(user, mask), target: target.0, hidden }, None)
            }
            Line::CreateProposal {
                user,
                mask,
                world,
                title,
                body,
                options,
                method,
                opens_at,
                closes_at,
                quorum,
                threshold,
                one_person_one_vote,
                weight,
                budget,
                secret,
                topic,
                rules,
                curators,
            } => {
                let new = NewProposal {
                    actor: actor(user, mask),
                    proposal: fresh,
                    world: world.0,
                    title,
                    body,
                    options,
                    method,
                    opens_at_ms: opens_at,
                    closes_at_ms: closes_at,
                    quorum_bp: quorum,
                    threshold_bp: threshold,
                    one_person_one_vote,
                    reputation_weight: weight == WeightName::Reputation,
                    budget,
                    secret,
                    topic,
                    rules,
                    curators: curators.map(|c| c.into_iter().map(|m| m.0).collect()),
                };
                (Command::CreateProposal(Box::new(new)), Some(fresh))
            }
            Line::CastVote { user, mask, proposal, choices, amounts } => (
                Command::CastVote {
                    actor: actor(user, mask),
                    proposal: proposal.0,
                    choice: Choice { choices, amounts },
                },
                None,
            ),
            Line::WithdrawVote { user, mask, proposal } => {
                (Command::WithdrawVote { actor: actor(user, mask), proposal: proposal.0 }, None)
            }
            Line::Delegate { user, mask, world, to, topic } => {
                (Command::Delegate { actor: actor(user, mask), world: world.0, to: to.map(|t| t.0), topic }, None)
            }
            Line::CloseProposal { proposal } => (Command::CloseProposal { proposal: proposal.0 }, None),
            Line::Report { user, mask, world, target, reason } => {
                (Command::Report { actor: actor(user, mask), world: world.0, target: target.0, reason }, None)
            }
            Line::Moderate { user, mask, world, target, action, reason, rule, case } => {
                let action = match action {
                    ActionName::Hide => Action::Hide,
                    ActionName::Limit => Action::Limit,
                    ActionName::Suspend => Action::Suspend,
                    ActionName::RemoveFromWorld => Action::RemoveFromWorld,
                };
                let case = case.map_or(fresh, |c| c.0);
                let command = Command::Moderate {
                    actor: actor(user, mask),
                    case,
                    world: world.0,
                    target: target.0,
                    action,
                    reason,
                    rule,
                };
                (command, Some(case))
            }
            Line::Appeal { user, mask, case, statement } => {
                (Command::Appeal { actor: actor(user, mask), case: case.0, statement }, None)
            }
            Line::JuryVote { user, mask, case, verdict, reason } => {
                let verdict = match verdict {
                    VerdictName::Uphold => Verdict::Uphold,
                    VerdictName::Overturn => Verdict::Overturn,
                };
                (Command::JuryVote { actor: actor(user, mask), case: case.0, verdict, reason }, None)
            }
        }
    }
}

/// Parses one line into a command; new ids come from `engine`. A bad line's error names the
/// field that is wrong (`create_mask.kind: …`).
pub fn parse_line(line: &str, engine: &Engine) -> Result<Parsed, String> {
    let mut json = serde_json::Deserializer::from_str(line);
    let parsed: Line = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if message.starts_with("unknown variant") {
            format!("unknown command: {message}")
        } else if inner.is_syntax() || inner.is_eof() {
            format!("not JSON: {message}")
        } else if path == "." {
            format!("expected one object with one key naming the command: {message}")
        } else {
            format!("{path}: {message}")
        }
    })?;
    json.end().map_err(|e| format!("not JSON: {e}"))?;
    let (command, created) = parsed.command(engine.new_id());
    Ok(Parsed { command, created })
}
