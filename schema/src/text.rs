//! Text as DAIRA keeps it: every name, title, bio, description and tag is NFC-normalised (so
//! the same word typed two ways is the same text, and search and uniqueness agree), bounded in
//! characters, and free of what lets one name pass for another.
//!
//! In names (a mask's display name, a world's name, a work's title, a tag) these are refused:
//! control characters; the bidirectional overrides, embeddings and isolates (U+202A–U+202E,
//! U+2066–U+2069), which make `abc\u{202E}gnp.exe` read as `abcexe.png`; the invisible marks
//! (U+200B zero-width space, U+200E/U+200F/U+061C direction marks, U+2060 word joiner, U+FEFF,
//! U+180E); and the zero-width joiners U+200C/U+200D except between two visible characters,
//! where emoji sequences (👩‍🎨) and Persian script need them. A name made only of blanks and
//! invisible characters is empty. Bios and descriptions keep line breaks and tabs and refuse
//! other control characters.
//!
//! Limits, in characters (after normalisation): display name 64, world name 100, title 200, tag
//! 32, bio 2,000, post body 4,000, description 8,000 (and never more than `TEXT_BYTES_MAX` bytes).

use crate::Rejection;
use unicode_normalization::UnicodeNormalization;

/// What kind of text a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A name: one line, nothing invisible.
    Name,
    /// Prose: line breaks allowed.
    Prose,
}

/// The kind and length limit of a text field, by its name in commands and files.
fn rule(field: &str) -> (Kind, usize) {
    match field {
        "display_name" => (Kind::Name, 64),
        "name" => (Kind::Name, 100),
        "title" => (Kind::Name, 200),
        "tags" | "tag" => (Kind::Name, 32),
        "bio" => (Kind::Prose, 2_000),
        "body" => (Kind::Prose, crate::talk::BODY_CHARS_MAX),
        _ => (Kind::Prose, 8_000),
    }
}

/// Bidirectional overrides, embeddings and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Invisible marks that have no place in a name.
fn is_invisible_mark(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}')
}

/// Characters that render as nothing or as blank space (a name of only these is empty).
fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || is_invisible_mark(c)
        || matches!(c, '\u{200C}' | '\u{200D}' | '\u{3164}' | '\u{115F}' | '\u{1160}' | '\u{FFA0}' | '\u{2800}')
}

fn refuse(field: &str, reason: String) -> Rejection {
    Rejection::InvalidInput { field: field.to_owned(), reason }
}

/// The text of `field` as DAIRA keeps it (see the module's documentation), or why it cannot be.
pub fn clean_text(field: &str, raw: &str) -> Result<String, Rejection> {
    let (kind, chars_max) = rule(field);
    let text: String = raw.nfc().collect();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let allowed_control = kind == Kind::Prose && matches!(c, '\n' | '\t' | '\r');
        let problem = if c.is_control() && !allowed_control {
            Some("a control character")
        } else if kind == Kind::Name && is_bidi_control(c) {
            Some("a bidirectional override")
        } else if kind == Kind::Name && is_invisible_mark(c) {
            Some("an invisible character")
        } else if kind == Kind::Name && matches!(c, '\u{200C}' | '\u{200D}') {
            let visible = |j: Option<usize>| j.and_then(|j| chars.get(j)).is_some_and(|&n| !is_blank(n));
            (!(visible(i.checked_sub(1)) && visible(Some(i + 1)))).then_some("a zero-width joiner outside a word")
        } else {
            None
        };
        if let Some(what) = problem {
            return Err(refuse(field, format!("{what} (U+{:04X}) is not allowed here", u32::from(c))));
        }
    }
    let text = match kind {
        Kind::Name if chars.iter().all(|&c| is_blank(c)) => String::new(),
        Kind::Name => text.trim().to_owned(),
        Kind::Prose => text,
    };
    let count = text.chars().count();
    if count > chars_max {
        return Err(refuse(field, format!("at most {chars_max} characters (got {count})")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(field: &str, raw: &str) -> String {
        match clean_text(field, raw) {
            Err(Rejection::InvalidInput { field: f, reason }) => {
                assert_eq!(f, field);
                reason
            }
            other => panic!("{raw:?} was {other:?}"),
        }
    }

    #[test]
    fn names_are_normalised_and_spoofing_is_refused() {
        // NFC: "é" as e + combining acute is the one character é.
        assert_eq!(clean_text("display_name", "Cafe\u{301}").unwrap(), "Caf\u{e9}");
        assert_eq!(clean_text("display_name", "  نور القاهرة  ").unwrap(), "نور القاهرة");
        assert!(reason("display_name", "admin\u{202E}gnp.exe").contains("bidirectional override (U+202E)"));
        assert!(reason("title", "a\u{2067}b").contains("U+2067"));
        assert!(reason("name", "no\u{200B}ur").contains("invisible character (U+200B)"));
        assert!(reason("display_name", "nour\u{0007}").contains("control character"));
        assert!(reason("tag", "\u{200D}art").contains("zero-width joiner"));
        // Joiners inside a word stay: an emoji sequence, a Persian word.
        assert_eq!(clean_text("display_name", "👩\u{200D}🎨 Nour").unwrap(), "👩\u{200D}🎨 Nour");
        assert_eq!(clean_text("name", "می\u{200C}خواهم").unwrap(), "می\u{200C}خواهم");
        // Only blanks and fillers: empty.
        assert_eq!(clean_text("display_name", "\u{3164}\u{3164} ").unwrap(), "");
        assert!(reason("display_name", &"ن".repeat(65)).contains("at most 64 characters (got 65)"));
        assert_eq!(clean_text("display_name", &"ن".repeat(64)).unwrap().chars().count(), 64);
    }

    #[test]
    fn prose_keeps_its_lines() {
        assert_eq!(clean_text("bio", "سطر\nline two\tok").unwrap(), "سطر\nline two\tok");
        assert!(reason("bio", "bell\u{0007}").contains("control character"));
        assert!(reason("description", &"x".repeat(8_001)).contains("at most 8000 characters"));
    }
}
