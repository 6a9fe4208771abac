//! Conversation in worlds (issue 22): threads of posts, Discourse-like, written by masks.
//!
//! A thread is a vertex with a title, `within` its world, started by a mask (`wrote`); its
//! first post and every reply are post vertices `within` it, each `wrote` by its mask, a reply
//! to a post `replies_to` it. Bodies are markdown, stored as written (normalised like every
//! prose text) and rendered by clients. An `@handle` in a body names a mask the writer sees;
//! it becomes a `mentions` edge when the post is written, and the mentioned mask's owner is
//! told. Reactions are one of a small fixed set, one per mask and post (`reacted`, weighted by
//! the reaction's code). A post its author hid (`hidden`) or a moderator removed (`removed`)
//! is gone for everyone but its author and the world's case log; hiding or removing a thread's
//! first post takes the thread with it.

use crate::Handle;

/// The longest post body, in characters (and never more than [`crate::TEXT_BYTES_MAX`]
/// bytes: 4,000 Arabic letters fit).
pub const BODY_CHARS_MAX: usize = 4_000;
/// The most masks one post mentions (further `@handles` stay text).
pub const MENTIONS_MAX: usize = 20;
/// The property of a post (and a thread) its author hid.
pub const HIDDEN: &str = "hidden";
/// The property of a post (and a thread) a moderator's case removed.
pub const REMOVED: &str = "removed";
/// A thread's property: the time of its latest post, in milliseconds since the Unix epoch.
pub const ACTIVE: &str = "active_ms";
/// A thread's property: its first post's id.
pub const FIRST: &str = "first";

/// A reaction to a post.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

impl Reaction {
    /// Every reaction, in the order of their codes (1, 2, …).
    pub const ALL: [Reaction; 6] =
        [Reaction::Like, Reaction::Love, Reaction::Laugh, Reaction::Wow, Reaction::Sad, Reaction::Thanks];

    /// Its code: the weight of its `reacted` edge.
    pub fn code(self) -> u8 {
        self as u8 + 1
    }

    /// The reaction of a `reacted` edge's weight.
    pub fn of_weight(weight: Option<f32>) -> Option<Reaction> {
        let w = weight?;
        Reaction::ALL.into_iter().find(|r| f32::from(r.code()) == w)
    }
}

fn is_handle_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The handles a body mentions, in order of first mention, without repeats, at most
/// [`MENTIONS_MAX`]: `@` not preceded by a letter, digit or `_` (so `nour@example.com` is no
/// mention), then a valid handle (case-folded) not followed by another handle character. Code
/// (between backticks) mentions nobody.
pub fn mentioned_handles(body: &str) -> Vec<Handle> {
    let mut found: Vec<Handle> = Vec::new();
    let mut in_code = false;
    let mut previous: Option<char> = None;
    for (i, c) in body.char_indices() {
        if c == '`' {
            in_code = !in_code;
        } else if c == '@' && !in_code && !previous.is_some_and(|p| is_handle_char(p) || p == '@') {
            let rest = &body[i + 1..];
            let len = rest.find(|c: char| !is_handle_char(c)).unwrap_or(rest.len());
            if let Ok(handle) = Handle::parse(&rest[..len].to_ascii_lowercase())
                && !found.contains(&handle)
            {
                found.push(handle);
                if found.len() == MENTIONS_MAX {
                    break;
                }
            }
        }
        previous = Some(c);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(body: &str) -> Vec<String> {
        mentioned_handles(body).iter().map(|h| h.as_str().to_owned()).collect()
    }

    #[test]
    fn mentions_are_handles_after_an_at_sign() {
        assert_eq!(names("شكرا @nour_art و @Sami!"), ["nour_art", "sami"]);
        assert_eq!(names("@nour_art @nour_art, (@ali)"), ["nour_art", "ali"]);
        assert!(names("mail nour@example.com").is_empty(), "an address is no mention");
        assert!(names("@ab is too short, @@nour is not one").is_empty());
        assert!(names(&format!("@{}", "a".repeat(33))).is_empty(), "too long is no handle");
        assert!(names("`@nour_art` in code").is_empty());
        assert_eq!(names("after `code` @nour_art"), ["nour_art"]);
        let many: String = (0..30).map(|i| format!("@user_{i:02} ")).collect();
        assert_eq!(names(&many).len(), MENTIONS_MAX);
    }

    #[test]
    fn reactions_round_trip_through_their_weights() {
        for r in Reaction::ALL {
            assert_eq!(Reaction::of_weight(Some(f32::from(r.code()))), Some(r));
            assert!(crate::EdgeKind::Reacted.check_weight(Some(f32::from(r.code()))).is_ok());
        }
        assert_eq!(Reaction::of_weight(Some(0.0)), None);
        assert!(crate::EdgeKind::Reacted.check_weight(Some(7.0)).is_err());
        assert!(crate::EdgeKind::Reacted.check_weight(Some(1.5)).is_err());
    }
}
