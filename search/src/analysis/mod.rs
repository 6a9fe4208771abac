//! The analysis chain: from text to the terms the index stores and a query asks for.
//!
//! Every word goes through [`words::split`] (character folding), then by script:
//!
//! - **Arabic script**: a dialect group ([`dialect::group_of`]) names the word when it has one
//!   (عايز and يريد are one term); otherwise its light stems ([`arabic::stems`]: the article and
//!   attached prepositions, common suffixes, and the Egyptian verb reading of ب/ه prefixes).
//! - **Latin script**: Arabizi members of a dialect group get the group's name; every Latin word
//!   also gets its English (Porter2) stem.
//! - **Digits**: kept as they are.
//!
//! A second stream, for the skeleton field, carries each word's consonant skeleton
//! ([`skeleton`]): one for an Arabic word, a few candidates for a Latin word. It is how Arabizi
//! and names written in either script meet.

pub mod arabic;
pub mod dialect;
pub mod skeleton;
pub mod words;

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
pub use words::{Script, Word};

/// How many skeleton candidates a Latin word puts in the index.
pub const INDEX_SKELETONS: usize = 3;
/// How many skeleton candidates a Latin word of a query asks for.
pub const QUERY_SKELETONS: usize = 4;

/// The name of the analyzer of text fields, as registered with tantivy.
pub const TEXT_ANALYZER: &str = "daira_text";
/// The name of the analyzer of skeleton fields, as registered with tantivy.
pub const SKELETON_ANALYZER: &str = "daira_skeleton";

/// Which stream a tokenizer produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Stems and dialect groups.
    Text,
    /// Consonant skeletons.
    Skeleton,
}

/// The terms one word contributes, all at one position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Terms {
    /// Terms of the text field (stems, a dialect group's name).
    pub text: Vec<String>,
    /// Terms of the skeleton field.
    pub skeletons: Vec<String>,
}

/// The languages a text is written in, as the index's `lang` field spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    /// Arabic script (standard or Egyptian).
    Ar,
    /// English.
    En,
    /// Arabizi: Arabic in Latin letters and digits.
    Arabizi,
}

impl Lang {
    /// The name used in filters and in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Ar => "ar",
            Lang::En => "en",
            Lang::Arabizi => "arabizi",
        }
    }

    /// Parses a filter value.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "ar" => Some(Lang::Ar),
            "en" => Some(Lang::En),
            "arabizi" => Some(Lang::Arabizi),
            _ => None,
        }
    }

    /// Every language.
    pub const ALL: [Lang; 3] = [Lang::Ar, Lang::En, Lang::Arabizi];
}

/// Common Arabizi words with no digit in them, which mark a Latin text as Arabizi.
const ARABIZI_MARKERS: &[&str] = &[
    "el", "ana", "enta", "enti", "ya", "fi", "men", "mesh", "msh", "bas", "keda", "awy", "awi", "gamda", "gamed",
    "yalla", "walla", "wallahi", "habibi", "habibti", "enaharda", "bokra", "kol", "kaman", "lessa", "aho", "ahe",
    "leh", "ezay", "fein", "ba2a", "3ala", "3shan", "masr", "masry", "bel", "fel", "wel", "beta3", "bta3", "helw",
    "helwa", "gedan",
];

/// The language of one word.
pub fn word_lang(word: &Word) -> Option<Lang> {
    match word.script {
        Script::Arabic => Some(Lang::Ar),
        Script::Digits => None,
        Script::Latin => {
            let arabizi = word.text.bytes().any(|b| matches!(b, b'2' | b'3' | b'5' | b'6' | b'7' | b'8' | b'9'))
                || ARABIZI_MARKERS.contains(&word.text.as_str())
                || dialect::is_arabizi_dialect(&word.text);
            Some(if arabizi { Lang::Arabizi } else { Lang::En })
        }
    }
}

/// The languages of a text: each that holds at least a fifth of its words (and any, for a text
/// of fewer than five words).
pub fn langs(text: &str) -> Vec<Lang> {
    let mut counts = [0usize; 3];
    let mut total = 0;
    words::split(text, |w| {
        if let Some(lang) = word_lang(&w) {
            counts[lang as usize] += 1;
            total += 1;
        }
    });
    Lang::ALL.into_iter().filter(|l| counts[*l as usize] > 0 && counts[*l as usize] * 5 >= total.min(5)).collect()
}

/// Function words that carry no meaning a search could use: the Arabizi article and particles,
/// Arabic prepositions and particles standing alone (folded), English function words. They are
/// neither indexed nor searched.
const STOP_WORDS: &[&str] = &[
    "el", "il", "al", "w", "we", "wa", "fi", "fe", "ya", "min", "3ala", "3an", "the", "of", "in", "and", "a", "an",
    "to", "for", "on", "at", "with", "by", "is", "are", "from", "في", "من", "علي", "الي", "عن", "و", "يا", "ال", "مع",
    "او", "ان", "كان",
];

/// Whether a folded word is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// The analyzer: stateless but for its English stemmer.
#[derive(Clone)]
pub struct Analyzer {
    english: frostem::Stemmer,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer { english: frostem::Stemmer::new(frostem::Algorithm::English) }
    }
}

impl Analyzer {
    /// Calls `emit` with each text-field term of one word (all at one position).
    pub fn text_terms(&self, word: &Word, mut emit: impl FnMut(&str)) {
        match word.script {
            Script::Arabic => {
                if let Some(group) = dialect::group_of(&word.text) {
                    emit(group);
                } else {
                    let (first, second) = arabic::stems(&word.text);
                    emit(first);
                    if let Some(second) = second {
                        emit(second);
                    }
                }
            }
            Script::Latin => {
                let group = dialect::group_of(&word.text);
                if let Some(group) = group {
                    emit(group);
                }
                let stem = self.english.stem(&word.text);
                if group != Some(&*stem) {
                    emit(&stem);
                }
            }
            Script::Digits => emit(&word.text),
        }
    }

    /// Calls `emit` with each skeleton of one word; a Latin word gives at most `max`.
    pub fn skeleton_terms(&self, word: &Word, max: usize, buffer: &mut Vec<String>, mut emit: impl FnMut(&str)) {
        match word.script {
            Script::Arabic => {
                let mut classes = Vec::new();
                if skeleton::arabic_into(arabic::strip_prefixes(&word.text), &mut classes) {
                    emit(std::str::from_utf8(&classes).expect("ASCII classes"));
                }
            }
            Script::Latin => {
                buffer.clear();
                skeleton::latin(&word.text, max, buffer);
                buffer.iter().for_each(|s| emit(s));
            }
            Script::Digits => {}
        }
    }

    /// The terms of one word, both streams (for queries). `skeletons` bounds the Latin
    /// skeleton candidates.
    pub fn word_terms(&self, word: &Word, skeletons: usize, out: &mut Terms) {
        out.text.clear();
        out.skeletons.clear();
        self.text_terms(word, |t| out.text.push(t.to_owned()));
        let mut buffer = Vec::new();
        self.skeleton_terms(word, skeletons, &mut buffer, |s| out.skeletons.push(s.to_owned()));
    }

    /// Every word of `text` but stop words, with its terms.
    pub fn analyze(&self, text: &str, skeletons: usize, mut visit: impl FnMut(&Word, &Terms)) {
        let mut terms = Terms::default();
        words::split(text, |word| {
            if is_stop_word(&word.text) {
                return;
            }
            self.word_terms(&word, skeletons, &mut terms);
            visit(&word, &terms);
        });
    }
}

/// A tantivy tokenizer producing one [`Stream`] of the analysis chain.
#[derive(Clone)]
pub struct DairaTokenizer {
    analyzer: Analyzer,
    stream: Stream,
    /// Tokens of the current text: the first `used` are live; the rest keep their buffers for
    /// the next text, so indexing allocates little.
    tokens: Vec<Token>,
    used: usize,
    candidates: Vec<String>,
}

impl DairaTokenizer {
    /// A tokenizer of `stream`.
    pub fn new(stream: Stream) -> DairaTokenizer {
        DairaTokenizer { analyzer: Analyzer::default(), stream, tokens: Vec::new(), used: 0, candidates: Vec::new() }
    }
}

/// The tokens of one text, produced eagerly.
pub struct DairaTokenStream<'a> {
    tokens: &'a mut [Token],
    next: usize,
}

impl Tokenizer for DairaTokenizer {
    type TokenStream<'a> = DairaTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> DairaTokenStream<'a> {
        let DairaTokenizer { analyzer, stream, tokens, used, candidates } = self;
        *used = 0;
        let mut position = 0;
        words::split(text, |word| {
            if is_stop_word(&word.text) {
                return;
            }
            let mut emit = |term: &str| {
                if *used == tokens.len() {
                    tokens.push(Token::default());
                }
                let token = &mut tokens[*used];
                token.offset_from = word.from;
                token.offset_to = word.to;
                token.position = position;
                token.position_length = 1;
                token.text.clear();
                token.text.push_str(term);
                *used += 1;
            };
            match stream {
                Stream::Text => analyzer.text_terms(&word, &mut emit),
                Stream::Skeleton => analyzer.skeleton_terms(&word, INDEX_SKELETONS, candidates, &mut emit),
            }
            position += 1;
        });
        DairaTokenStream { tokens: &mut self.tokens[..self.used], next: 0 }
    }
}

impl TokenStream for DairaTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_terms(text: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        Analyzer::default().analyze(text, QUERY_SKELETONS, |_, t| out.push(t.text.clone()));
        out
    }

    fn first_terms(text: &str) -> Vec<String> {
        text_terms(text).into_iter().map(|t| t[0].clone()).collect()
    }

    #[test]
    fn one_term_for_every_spelling_of_a_word() {
        let same = [
            ("القهوة", "قهوه"),
            ("القَهْوَة", "قهوة"),
            ("المكتبة", "مكتبه"),
            ("بالمكتبة", "مكتبة"),
            ("إسلام", "اسلام"),
            ("مصطفى", "مصطفي"),
        ];
        for (a, b) in same {
            assert_eq!(first_terms(a), first_terms(b), "{a} vs {b}");
        }
    }

    #[test]
    fn dialect_and_standard_share_a_term() {
        assert_eq!(first_terms("عايز"), first_terms("يريد"));
        assert_eq!(first_terms("3ayez"), first_terms("أريد"));
        assert_eq!(first_terms("ازاي"), first_terms("كيف"));
    }

    #[test]
    fn egyptian_verbs_carry_their_standard_reading() {
        let t = text_terms("بيرسموا");
        assert!(t[0].contains(&"يرسم".to_string()), "{t:?}");
        let t = text_terms("هنغني");
        assert!(t[0].contains(&"نغن".to_string()), "{t:?}");
    }

    #[test]
    fn english_is_stemmed() {
        assert_eq!(first_terms("Paintings painting painted"), ["paint", "paint", "paint"]);
        assert_eq!(first_terms("Murals"), first_terms("mural"));
    }

    #[test]
    fn languages_are_detected() {
        assert_eq!(langs("Graffiti walls of Alexandria"), [Lang::En]);
        assert_eq!(langs("جرافيتي الإسكندرية"), [Lang::Ar]);
        assert_eq!(langs("el 2ahwa 7elwa"), [Lang::Arabizi]);
        assert_eq!(langs("Street art | فن الشارع"), [Lang::Ar, Lang::En]);
        assert!(langs("☕ 2024").is_empty());
    }

    #[test]
    fn the_tokenizer_puts_a_words_variants_at_one_position() {
        let mut tok = DairaTokenizer::new(Stream::Text);
        let mut stream = tok.token_stream("بيكتب coffee");
        let mut seen = Vec::new();
        while stream.advance() {
            let t = stream.token();
            seen.push((t.position, t.text.clone()));
        }
        assert_eq!(seen, [(0, "بيكتب".to_string()), (0, "يكتب".to_string()), (1, "coffe".to_string())]);
        let mut tok = DairaTokenizer::new(Stream::Skeleton);
        let mut stream = tok.token_stream("قهوة 2ahwa");
        let mut seen = Vec::new();
        while stream.advance() {
            seen.push((stream.token().position, stream.token().text.clone()));
        }
        assert_eq!(seen[0], (0, "qh".to_string()));
        assert!(seen.contains(&(1, "qh".to_string())), "{seen:?}");
    }
}
