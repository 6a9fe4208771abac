//! Light stemming of (already folded) Arabic words, with Egyptian verb prefixes.
//!
//! The light stemmer follows Larkey's Light10: strip a leading conjunction و, the article ال
//! with its attached prepositions (وال بال كال فال لل), then one common suffix. Egyptian adds
//! the progressive ب and the future ه before an imperfect verb (بيكتب، هيكتب → يكتب) and the
//! plural -وا (كتبوا، بيكتبوا). Stripping ب or ه is a guess — بيت is a house, not a verb — so
//! the stemmer returns both readings and the index keeps both at one position: a query for
//! either form finds the word.

/// Prefixes stripped before the suffixes, longest first, with the least stem length left.
const ARTICLES: &[&str] = &["وال", "بال", "كال", "فال", "لل", "ال"];

/// Suffixes, tried in order; the first that leaves a stem of at least two letters is stripped.
const SUFFIXES: &[&str] = &["ها", "ان", "ات", "ون", "ين", "يه", "وا", "نا", "كم", "هم", "ه", "ي"];

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Strips the conjunction و and the article ال (with its attached preposition).
pub fn strip_prefixes(word: &str) -> &str {
    let mut w = word;
    if char_len(w) >= 4
        && let Some(rest) = w.strip_prefix('و')
        && !rest.starts_with('و')
    {
        w = rest;
    }
    for article in ARTICLES {
        if let Some(rest) = w.strip_prefix(article)
            && char_len(rest) >= 2
        {
            return rest;
        }
    }
    w
}

/// Strips one common suffix when at least two letters remain.
pub fn strip_suffix(word: &str) -> &str {
    for suffix in SUFFIXES {
        if let Some(rest) = word.strip_suffix(suffix)
            && char_len(rest) >= 2
            && char_len(word) > char_len(suffix) + 1
        {
            return rest;
        }
    }
    word
}

/// The Egyptian reading of a verb: without the progressive ب or the future ه before the
/// imperfect prefix (ي ت ن ا). `None` when the word does not look like one.
pub fn strip_egyptian_verb_prefix(word: &str) -> Option<&str> {
    let rest = word.strip_prefix('ب').or_else(|| word.strip_prefix('ه'))?;
    let next = rest.chars().next()?;
    (matches!(next, 'ي' | 'ت' | 'ن' | 'ا') && char_len(rest) >= 3).then_some(rest)
}

/// The stems of a folded Arabic word: its light stem, and its Egyptian verb reading when that
/// differs. Both are slices of `word`.
pub fn stems(word: &str) -> (&str, Option<&str>) {
    let base = strip_prefixes(word);
    let first = strip_suffix(base);
    let second = strip_egyptian_verb_prefix(base).map(strip_suffix).filter(|s| *s != first);
    (first, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(word: &str) -> Vec<&str> {
        let (first, second) = stems(word);
        std::iter::once(first).chain(second).collect()
    }

    #[test]
    fn the_article_and_attached_prepositions_go() {
        assert_eq!(strip_prefixes("الكتاب"), "كتاب");
        assert_eq!(strip_prefixes("والكتاب"), "كتاب");
        assert_eq!(strip_prefixes("بالبيت"), "بيت");
        assert_eq!(strip_prefixes("كالبحر"), "بحر");
        assert_eq!(strip_prefixes("فالفن"), "فن");
        assert_eq!(strip_prefixes("للفن"), "فن");
        assert_eq!(strip_prefixes("وكتاب"), "كتاب");
    }

    #[test]
    fn short_words_keep_their_letters() {
        assert_eq!(strip_prefixes("ولد"), "ولد");
        assert_eq!(strip_prefixes("ال"), "ال");
        assert_eq!(strip_suffix("فن"), "فن");
        assert_eq!(strip_suffix("به"), "به");
    }

    #[test]
    fn common_suffixes_go() {
        assert_eq!(strip_suffix("مدرسه"), "مدرس");
        assert_eq!(strip_suffix("فنانين"), "فنان");
        assert_eq!(strip_suffix("مصريه"), "مصر");
        assert_eq!(strip_suffix("كتبها"), "كتب");
        assert_eq!(strip_suffix("رسومات"), "رسوم");
        assert_eq!(strip_suffix("كتبوا"), "كتب");
        assert_eq!(strip_suffix("بيتنا"), "بيت");
    }

    #[test]
    fn egyptian_progressive_and_future_prefixes_give_a_second_reading() {
        assert_eq!(all("بيكتب"), ["بيكتب", "يكتب"]);
        assert_eq!(all("هيكتب"), ["هيكتب", "يكتب"]);
        assert_eq!(all("بنرسم"), ["بنرسم", "نرسم"]);
        assert_eq!(all("بيكتبوا"), ["بيكتب", "يكتب"]);
        assert_eq!(all("وهنروح"), ["هنروح", "نروح"]);
        assert_eq!(all("يكتب"), ["يكتب"]);
        // A noun keeps its own reading first.
        assert_eq!(all("بيت")[0], "بيت");
    }

    #[test]
    fn the_whole_chain_on_real_words() {
        assert_eq!(all("القهوه"), ["قهو"]);
        assert_eq!(all("قهوه"), ["قهو"]);
        assert_eq!(all("والمكتبات"), ["مكتب"]);
    }
}
