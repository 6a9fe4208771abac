//! Consonant skeletons: where Arabizi meets Arabic script.
//!
//! Arabizi writes Arabic with Latin letters and digits for the sounds Latin lacks (2 ء/ق, 3 ع,
//! 5 خ, 6 ط, 7 ح, 8 غ, 9 ص), vowels as the writer hears them, and Egyptian g for ج. Both
//! scripts are reduced to one alphabet of consonant classes, dropping what the other script does
//! not write reliably: short and long vowels, alef and hamza, و and ي inside a word (vowels in
//! one script, consonants in the other), a final ه or ة, doubled letters. Letters Egyptians
//! merge share a class: س ص ث are `s`, ت ط are `t`, د ض are `d`, ز ذ ظ are `z`.
//!
//! An Arabic word has one skeleton. A Latin word has candidates, because its letters are
//! ambiguous: 2 is ق or a hamza (dropped), h is ه or ح, k is ك or ق, a leading vowel may be ع,
//! `el`/`bel`/`fel` may be an attached article. The index stores an Arabic word's skeleton and a
//! Latin word's first few candidates; a query asks for all of its candidates at once, so
//! `7elwa` finds حلوة and محمد finds `Mohamed`.

/// The fewest classes a skeleton needs to be worth indexing: one consonant matches too much.
pub const SKELETON_MIN: usize = 2;

/// The class of a folded Arabic letter; `None` when the letter is dropped (alef, hamza).
fn arabic_class(c: char) -> Option<u8> {
    Some(match c {
        'ب' => b'b',
        'ت' | 'ط' => b't',
        'ث' | 'س' | 'ص' => b's',
        'ج' => b'g',
        'ح' => b'7',
        'خ' => b'5',
        'د' | 'ض' => b'd',
        'ذ' | 'ز' | 'ظ' => b'z',
        'ر' => b'r',
        'ش' => b'S',
        'ع' => b'3',
        'غ' => b'8',
        'ف' => b'f',
        'ق' => b'q',
        'ك' => b'k',
        'ل' => b'l',
        'م' => b'm',
        'ن' => b'n',
        'ه' => b'h',
        'و' => b'w',
        'ي' => b'y',
        _ => return None,
    })
}

/// Pushes `class` unless it repeats the last one (doubled letters, shadda written out).
fn push(out: &mut Vec<u8>, class: u8) {
    if out.last() != Some(&class) {
        out.push(class);
    }
}

fn finish(mut classes: Vec<u8>) -> Option<String> {
    classes.dedup();
    (classes.len() >= SKELETON_MIN).then(|| String::from_utf8(classes).expect("ASCII classes"))
}

/// The skeleton of a folded Arabic word (its article already stripped), if long enough.
pub fn arabic(word: &str) -> Option<String> {
    let mut out = Vec::with_capacity(word.len() / 2);
    arabic_into(word, &mut out).then(|| String::from_utf8(out).expect("ASCII classes"))
}

/// Writes the skeleton of a folded Arabic word into `out` (cleared first); `false` when it is
/// too short to index.
pub fn arabic_into(word: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut chars = word.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let last = chars.peek().is_none();
        let Some(class) = arabic_class(c) else {
            first = false;
            continue;
        };
        match class {
            b'w' | b'y' if !first => {}
            b'h' if last && !first => {}
            _ => push(out, class),
        }
        first = false;
    }
    // Dropped letters can bring equal classes together (بيب): collapse again.
    out.dedup();
    out.len() >= SKELETON_MIN
}

/// One position of a Latin word: the classes it may stand for, most likely first; `0` means
/// "nothing" (a vowel, a hamza).
type Options = &'static [u8];

const DROP: Options = &[0];
const LEADING_VOWEL: Options = &[0, b'3'];

/// Reads a Latin word into per-position options. (Options are lists of class codes, with 0
/// for "nothing", not text: hence slices of bytes rather than byte strings.)
#[allow(clippy::byte_char_slices)]
fn latin_options(word: &[u8]) -> Vec<Options> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        let c = word[i];
        let next = word.get(i + 1).copied();
        let first = i == 0;
        let (options, used): (Options, usize) = match (c, next) {
            (b's' | b'c', Some(b'h')) => (&[b'S'], 2),
            (b'k', Some(b'h')) => (&[b'5'], 2),
            (b'g', Some(b'h')) => (&[b'8'], 2),
            (b't', Some(b'h')) => (&[b's', b't'], 2),
            (b'd', Some(b'h')) => (&[b'z', b'd'], 2),
            (b'3', Some(b'\'')) => (&[b'8'], 2),
            (b'7', Some(b'\'')) => (&[b'5'], 2),
            (b'9', Some(b'\'')) => (&[b'd'], 2),
            (b'6', Some(b'\'')) => (&[b'z'], 2),
            (b'a' | b'e' | b'i' | b'o' | b'u', _) if first => (LEADING_VOWEL, 1),
            (b'a' | b'e' | b'i' | b'o' | b'u', _) => (DROP, 1),
            (b'n', None) if i > 0 && word[i - 1] == b'a' => (&[b'n', 0], 1), // tanween: ahlan = أهلاً
            (b'h', None) if i > 0 => (&[0, b'h', b'7'], 1),
            // A final t after a vowel may be teh marbuta in a construct state: 2ahwet = قهوة.
            (b't', None) if i > 0 && matches!(word[i - 1], b'a' | b'e' | b'i') => (&[b't', 0], 1),
            (b'h', _) => (&[b'h', b'7'], 1),
            (b'2', _) => (&[b'q', 0], 1),
            (b'3', _) => (&[b'3'], 1),
            (b'5', _) => (&[b'5'], 1),
            (b'6', _) => (&[b't'], 1),
            (b'7', _) => (&[b'7'], 1),
            (b'8', _) => (&[b'8', b'q'], 1),
            (b'9', _) => (&[b's'], 1),
            (b'b' | b'p', _) => (&[b'b'], 1),
            (b't', _) => (&[b't'], 1),
            (b'g' | b'j', _) => (&[b'g'], 1),
            (b'd', _) => (&[b'd'], 1),
            (b'r', _) => (&[b'r'], 1),
            (b'z', _) => (&[b'z'], 1),
            (b's', _) => (&[b's'], 1),
            (b'c', _) => (&[b'k'], 1),
            (b'k', _) => (&[b'k', b'q'], 1),
            (b'q', _) => (&[b'q'], 1),
            (b'l', _) => (&[b'l'], 1),
            (b'm', _) => (&[b'm'], 1),
            (b'n', _) => (&[b'n'], 1),
            (b'f' | b'v', _) => (&[b'f'], 1),
            (b'x', _) => (&[b'k'], 1),
            (b'w', _) if first => (&[b'w'], 1),
            (b'y', _) if first => (&[b'y'], 1),
            _ => (DROP, 1),
        };
        out.push(options);
        if c == b'x' {
            out.push(&[b's']);
        }
        i += used;
    }
    out
}

/// Expands per-position options into at most `max` skeletons, most likely first.
fn expand(options: &[Options], max: usize, out: &mut Vec<String>) {
    // Odometer over the choices, least significant position last, so that the first
    // candidates keep the likeliest reading of the word's beginning.
    let mut choice = vec![0usize; options.len()];
    loop {
        let mut classes = Vec::with_capacity(options.len());
        for (opts, &k) in options.iter().zip(&choice) {
            if opts[k] != 0 {
                push(&mut classes, opts[k]);
            }
        }
        if let Some(s) = finish(classes)
            && !out.contains(&s)
        {
            out.push(s);
            if out.len() >= max {
                return;
            }
        }
        // Advance the odometer from the last position.
        let mut p = options.len();
        loop {
            if p == 0 {
                return;
            }
            p -= 1;
            choice[p] += 1;
            if choice[p] < options[p].len() {
                break;
            }
            choice[p] = 0;
        }
    }
}

/// Articles and particles Arabizi attaches to the next word (`el2ahwa`, `fel beit`).
const LATIN_ARTICLES: &[&str] = &["el", "il", "al", "bel", "fel", "wel", "lel", "bil", "fil", "wil"];

/// Up to `max` skeleton candidates of a folded Latin word, most likely first.
pub fn latin(word: &str, max: usize, out: &mut Vec<String>) {
    let start = out.len();
    let bytes = word.as_bytes();
    if !bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'\'') || max == 0 {
        return;
    }
    let mut local = Vec::new();
    expand(&latin_options(bytes), max, &mut local);
    for article in LATIN_ARTICLES {
        if let Some(rest) = word.strip_prefix(article)
            && rest.len() >= 3
            && local.len() < max
        {
            expand(&latin_options(rest.as_bytes()), max - local.len(), &mut local);
        }
    }
    for s in local {
        if !out[start..].contains(&s) {
            out.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{arabic as ar, words};

    fn arabic_skeleton(text: &str) -> String {
        let mut folded = String::new();
        words::split(text, |w| folded = w.text);
        arabic(ar::strip_prefixes(&folded)).unwrap_or_default()
    }

    fn candidates(word: &str) -> Vec<String> {
        let mut out = Vec::new();
        latin(word, 16, &mut out);
        out
    }

    #[track_caller]
    fn meets(arabizi: &str, arabic_text: &str) {
        let skeleton = arabic_skeleton(arabic_text);
        let c = candidates(arabizi);
        assert!(c.contains(&skeleton), "{arabizi} {c:?} misses {arabic_text} ({skeleton})");
    }

    #[test]
    fn arabic_skeletons_drop_vowels_hamza_and_final_heh() {
        assert_eq!(arabic_skeleton("قهوة"), "qh");
        assert_eq!(arabic_skeleton("القهوة"), "qh");
        assert_eq!(arabic_skeleton("محمد"), "m7md");
        assert_eq!(arabic_skeleton("مصري"), "msr");
        assert_eq!(arabic_skeleton("يوسف"), "ysf");
        assert_eq!(arabic_skeleton("حبيبة"), "7b");
        assert_eq!(arabic_skeleton("و"), "");
    }

    #[test]
    fn arabizi_digits_meet_their_letters() {
        meets("2ahwa", "قهوة");
        meets("7elwa", "حلوة");
        meets("3arabi", "عربي");
        meets("5aled", "خالد");
        meets("tare2", "طارق");
        meets("6ayeb", "طيب");
        meets("9aba7", "صباح");
        meets("3'ali", "غالي");
        meets("7'ale", "خال");
        meets("8ali", "غالي");
    }

    #[test]
    fn egyptian_g_sh_kh_and_merged_letters() {
        meets("gamda", "جامدة");
        meets("shar3", "شارع");
        meets("khaled", "خالد");
        meets("masr", "مصر");
        meets("masry", "مصري");
        meets("zahr", "ظهر");
        meets("dabt", "ضبط");
    }

    #[test]
    fn names_in_either_script() {
        meets("mohamed", "محمد");
        meets("mo7amed", "محمد");
        meets("ahmed", "أحمد");
        meets("omar", "عمر");
        meets("amr", "عمرو");
        meets("youssef", "يوسف");
        meets("sherif", "شريف");
        meets("mostafa", "مصطفى");
        meets("esma3il", "إسماعيل");
        meets("nour", "نور");
        meets("bishoy", "بيشوي");
    }

    #[test]
    fn attached_articles_and_tanween() {
        meets("el2ahwa", "القهوة");
        meets("felbalad", "البلد");
        meets("ahlan", "أهلاً");
        meets("2ahwet", "قهوة");
    }

    #[test]
    fn candidates_are_bounded_and_safe() {
        let mut out = Vec::new();
        latin("h2h2h2h2h2h2h2h2", 4, &mut out);
        assert!(out.len() <= 4);
        out.clear();
        latin("a", 4, &mut out);
        assert!(out.is_empty());
        latin("ab\u{e9}", 4, &mut out); // not ASCII: no candidates, no panic
        assert!(out.is_empty());
    }
}
