//! Splitting text into words, and folding each character to the form every later step expects.
//!
//! One pass over the characters does the whole of character normalisation: Arabic letters fold
//! their hamza forms, alef maqsura, teh marbuta and Persian variants; harakat, Quranic marks and
//! tatweel vanish without splitting the word; Arabic-Indic and Persian digits become ASCII; Latin
//! letters lose case and common accents; invisible format characters (bidi marks, zero-width
//! joiners) vanish. A word never mixes scripts: a change of script starts a new word.

/// The script of a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// Arabic letters (possibly with digits).
    Arabic,
    /// Latin letters, possibly with digits: English, or Arabizi when it has the digits.
    Latin,
    /// Digits only.
    Digits,
}

/// A word of the input, folded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The folded text.
    pub text: String,
    /// Its script.
    pub script: Script,
    /// Byte offset of its first character in the input.
    pub from: usize,
    /// Byte offset just past its last character.
    pub to: usize,
}

/// Words longer than this (in characters) are dropped: no language has them, and they only bloat
/// the index (base64, URLs, keyboard mashing).
pub const WORD_CHARS_MAX: usize = 40;

/// What one input character is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// An Arabic letter, already folded.
    Arabic(char),
    /// A Latin letter, already folded to lower case without accent.
    Latin(char),
    /// A digit, as ASCII.
    Digit(char),
    /// A mark that belongs to the word it sits in but is not written: harakat, tatweel, format
    /// characters.
    Silent,
    /// An apostrophe: part of an Arabizi letter (`3'` for غ, `7'` for خ) after a digit.
    Apostrophe,
    /// Anything else: a word boundary.
    Break,
}

/// Folds one Arabic-script letter: hamza forms of alef to bare alef, alef maqsura to yeh, teh
/// marbuta to heh, hamza on a waw or yeh seat to a bare hamza (writers disagree on the seat), Persian and Urdu letters to their Arabic
/// counterparts. Returns `None` for characters that are not letters to keep.
pub fn fold_arabic(c: char) -> Option<char> {
    Some(match c {
        'أ' | 'إ' | 'آ' | 'ٱ' | 'ٲ' | 'ٳ' => 'ا',
        'ى' | 'ی' | 'ې' | 'ۍ' | 'ێ' => 'ي',
        'ة' | 'ۀ' | 'ە' | 'ہ' | 'ھ' | 'ۃ' => 'ه',
        'ؤ' | 'ئ' => 'ء', // مسؤول and مسئول are one word
        'ک' | 'ڪ' => 'ك',
        'گ' | 'چ' => 'ج', // Egyptian writers use گ and چ for the hard g of ج
        'پ' => 'ب',
        'ژ' => 'ز',
        'ڤ' | 'ڥ' => 'ف',
        '\u{0621}'..='\u{063A}' | '\u{0641}'..='\u{064A}' | '\u{066E}'..='\u{066F}' | '\u{0671}'..='\u{06D3}' => c,
        _ => return None,
    })
}

fn classify(c: char) -> Class {
    match c {
        'a'..='z' => Class::Latin(c),
        'A'..='Z' => Class::Latin(c.to_ascii_lowercase()),
        '0'..='9' => Class::Digit(c),
        '\u{0660}'..='\u{0669}' => Class::Digit(char::from(b'0' + (c as u32 - 0x0660) as u8)),
        '\u{06F0}'..='\u{06F9}' => Class::Digit(char::from(b'0' + (c as u32 - 0x06F0) as u8)),
        // Harakat, superscript alef, Quranic annotation marks, tatweel.
        '\u{0610}'..='\u{061A}' | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}' | '\u{0640}' => {
            Class::Silent
        }
        // Invisible format characters: soft hyphen, zero-width (non-)joiners, bidi marks and
        // embeddings, word joiner, byte-order mark, variation selectors.
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' => {
            Class::Silent
        }
        '\u{FE00}'..='\u{FE0F}' => Class::Silent,
        '\'' | '’' | '`' => Class::Apostrophe,
        _ if c.is_ascii() => Class::Break,
        _ => {
            if let Some(a) = fold_arabic(c) {
                return Class::Arabic(a);
            }
            if let Some(l) = fold_latin(c) {
                return Class::Latin(l);
            }
            // Arabic presentation forms (ligatures kept by old PDFs and keyboards) decompose
            // through Unicode compatibility mapping, which we do not carry; treat them as breaks.
            Class::Break
        }
    }
}

/// Folds an accented Latin letter to its base letter (é → e, ß → s), lower case.
fn fold_latin(c: char) -> Option<char> {
    Some(match c {
        'à'..='å' | 'À'..='Å' | 'ā' | 'Ā' => 'a',
        'ç' | 'Ç' => 'c',
        'è'..='ë' | 'È'..='Ë' | 'ē' | 'Ē' => 'e',
        'ì'..='ï' | 'Ì'..='Ï' | 'ī' | 'Ī' => 'i',
        'ñ' | 'Ñ' => 'n',
        'ò'..='ö' | 'Ò'..='Ö' | 'ø' | 'Ø' | 'ō' | 'Ō' => 'o',
        'ù'..='ü' | 'Ù'..='Ü' | 'ū' | 'Ū' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        'ß' => 's',
        'ḥ' | 'Ḥ' => 'h',
        'ṣ' | 'Ṣ' => 's',
        'ṭ' | 'Ṭ' => 't',
        'ḍ' | 'Ḍ' => 'd',
        'ẓ' | 'Ẓ' => 'z',
        _ => return None,
    })
}

/// Splits `text` into folded words, calling `visit` for each.
pub fn split(text: &str, mut visit: impl FnMut(Word)) {
    let mut current = String::new();
    let mut script: Option<Script> = None;
    let mut from = 0;
    let mut to = 0;
    let mut chars = 0usize;
    let mut flush = |current: &mut String, script: &mut Option<Script>, from: usize, to: usize, chars: &mut usize| {
        if let Some(s) = script.take()
            && !current.is_empty()
            && *chars <= WORD_CHARS_MAX
        {
            visit(Word { text: std::mem::take(current), script: s, from, to });
        }
        current.clear();
        *chars = 0;
    };
    for (at, c) in text.char_indices() {
        let class = classify(c);
        let (letter, kind) = match class {
            Class::Arabic(a) => (a, Script::Arabic),
            Class::Latin(l) => (l, Script::Latin),
            Class::Digit(d) => (d, Script::Digits),
            Class::Silent => continue,
            Class::Apostrophe => {
                // Kept only where it completes an Arabizi letter: 3' 7' 9' 6'.
                if matches!(script, Some(Script::Latin | Script::Digits))
                    && matches!(current.chars().last(), Some('3' | '7' | '9' | '6'))
                {
                    current.push('\'');
                    chars += 1;
                    to = at + c.len_utf8();
                    continue;
                }
                flush(&mut current, &mut script, from, to, &mut chars);
                continue;
            }
            Class::Break => {
                flush(&mut current, &mut script, from, to, &mut chars);
                continue;
            }
        };
        let joined = match (script, kind) {
            (None, _) => None,
            (Some(s), Script::Digits) => Some(s),
            (Some(Script::Digits), k) => Some(k),
            (Some(s), k) if s == k => Some(s),
            _ => {
                flush(&mut current, &mut script, from, to, &mut chars);
                None
            }
        };
        if joined.is_none() {
            from = at;
        }
        script = Some(joined.unwrap_or(kind));
        current.push(letter);
        chars += 1;
        to = at + c.len_utf8();
    }
    flush(&mut current, &mut script, from, to, &mut chars);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, Script)> {
        let mut out = Vec::new();
        split(text, |w| out.push((w.text, w.script)));
        out
    }

    fn texts(text: &str) -> Vec<String> {
        words(text).into_iter().map(|w| w.0).collect()
    }

    #[test]
    fn hamza_forms_of_alef_fold_to_bare_alef() {
        assert_eq!(texts("أحمد إسلام آمال ٱلله"), ["احمد", "اسلام", "امال", "الله"]);
    }

    #[test]
    fn alef_maqsura_teh_marbuta_and_hamza_seats_fold() {
        assert_eq!(texts("مصطفى مدرسة مؤمن رئيس"), ["مصطفي", "مدرسه", "مءمن", "رءيس"]);
        assert_eq!(texts("مسؤول"), texts("مسئول"));
        assert_eq!(texts("شؤون"), texts("شئون"));
    }

    #[test]
    fn harakat_tatweel_and_quranic_marks_vanish_inside_the_word() {
        assert_eq!(texts("القَهْوَة"), ["القهوه"]);
        assert_eq!(texts("جـــميل"), ["جميل"]);
        assert_eq!(texts("ٱلرَّحْمَٰنِ ۚ"), ["الرحمن"]);
        assert_eq!(texts("كِتَابٌ"), ["كتاب"]);
    }

    #[test]
    fn arabic_indic_and_persian_digits_become_ascii() {
        assert_eq!(words("٢٠٢٤ ۱۹"), [("2024".to_string(), Script::Digits), ("19".to_string(), Script::Digits)]);
    }

    #[test]
    fn persian_letter_variants_fold_to_arabic() {
        assert_eq!(texts("کتاب فارسی گمدة"), ["كتاب", "فارسي", "جمده"]);
        assert_eq!(texts("ڤيديو"), ["فيديو"]);
    }

    #[test]
    fn invisible_marks_never_split_or_survive() {
        assert_eq!(texts("قه\u{200D}وة \u{200F}art\u{202B}ist\u{202C}"), ["قهوه", "artist"]);
        assert_eq!(texts("\u{FEFF}\u{200B}"), Vec::<String>::new());
    }

    #[test]
    fn latin_folds_case_and_accents_and_keeps_arabizi_digits() {
        assert_eq!(
            words("Café 7elwa 3'ali"),
            [
                ("cafe".to_string(), Script::Latin),
                ("7elwa".to_string(), Script::Latin),
                ("3'ali".to_string(), Script::Latin)
            ]
        );
        assert_eq!(texts("don't"), ["don", "t"]);
    }

    #[test]
    fn a_change_of_script_splits_and_punctuation_breaks() {
        assert_eq!(texts("el-2ahwaالقهوة,coffee!"), ["el", "2ahwa", "القهوه", "coffee"]);
        assert_eq!(texts("7elwa_art"), ["7elwa", "art"]);
    }

    #[test]
    fn overlong_words_are_dropped() {
        let long = "a".repeat(WORD_CHARS_MAX + 1);
        assert_eq!(texts(&format!("ok {long} fine")), ["ok", "fine"]);
    }

    #[test]
    fn offsets_point_into_the_input() {
        let text = "قَهْوَة coffee";
        let mut spans = Vec::new();
        split(text, |w| spans.push(&text[w.from..w.to]));
        assert_eq!(spans, ["قَهْوَة", "coffee"]);
    }
}
