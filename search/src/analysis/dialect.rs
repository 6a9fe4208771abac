//! Egyptian dialect ↔ Modern Standard Arabic word pairs, and names of places, in both scripts.
//!
//! Each group holds words that mean the same: the standard form first (it names the group in the
//! index), then its inflections, then the Egyptian words in Arabic script and in Arabizi. Words
//! are written folded (see `words::fold_arabic`: ا for every alef, ه for teh marbuta, ي for alef
//! maqsura). A word that belongs to a group is indexed as the group's name, whichever member it
//! was, so عايز finds يريد and 3ayez finds both.

use std::collections::HashMap;
use std::sync::OnceLock;

const GROUPS: &[&[&str]] = &[
    &[
        "يريد",
        "اريد",
        "تريد",
        "نريد",
        "يريدون",
        "عايز",
        "عاوز",
        "عايزه",
        "عاوزه",
        "عايزين",
        "عاوزين",
        "3ayez",
        "3awez",
        "3ayza",
        "3awza",
        "3ayzin",
        "3ayzeen",
        "3ayzen",
        "3awzin",
    ],
    &["كيف", "ازاي", "ezay", "ezzay", "izay", "ezai", "ezzai", "izzay", "ezzey"],
    &["الان", "دلوقتي", "دلوقت", "حالا", "delwa2ty", "dilwa2ti", "delwa2ti", "dlwa2ty", "delwa2t", "dlw2ty", "delwa2tee"],
    &["هذا", "ده", "دا", "dah", "deh"],
    &["هذه", "دي", "dih", "dee"],
    &["اين", "فين", "fein", "fen", "feen", "fain"],
    &["ماذا", "ايه", "eih", "eh"],
    &["لماذا", "ليه", "ليش", "leh", "leih", "lih"],
    &["متي", "امتي", "emta", "imta", "emtah"],
    &["هكذا", "كده", "كدا", "keda", "kda", "kedda", "kida"],
    &["جيد", "جيده", "كويس", "كويسه", "كويسين", "kwayes", "kwayyes", "kwaiyes", "kwaysa", "kwayesa", "kways"],
    &["جدا", "اوي", "awy", "awi", "2awy", "2awi", "2wy", "aawy"],
    &["ليس", "ليست", "مش", "mesh", "msh", "mish"],
    &["قليل", "قليله", "شويه", "shwaya", "shewaya", "shwaia", "shwayya"],
    &["شيء", "شي", "حاجه", "7aga", "7aja", "haga"],
    &["مثل", "زي", "zay", "zai", "zayy"],
    &["غدا", "بكره", "بكرا", "bokra", "bukra", "bo2ra"],
    &["امس", "امبارح", "مبارح", "embare7", "imbare7", "mbare7", "embareh"],
    &["كثير", "كثيره", "كتير", "كتيره", "kteer", "ktir", "keteer", "ktira", "kteera"],
    &["خبز", "عيش", "3eish", "3eesh", "3esh"],
    &["نقود", "فلوس", "flous", "felous", "floos", "fulus"],
    &["لاجل", "عشان", "علشان", "3ashan", "3alashan", "3shan", "ashan"],
    &["انظر", "ينظر", "بص", "شوف", "bos", "shouf", "shoof", "shof"],
    &[
        "جميل",
        "جميله",
        "حلو",
        "حلوه",
        "حلوين",
        "7elw",
        "7elwa",
        "7ilwa",
        "7elween",
        "helwa",
        "gamil",
        "gamila",
        "gameel",
        "gameela",
    ],
    &["الذي", "التي", "اللي", "elly", "illi", "elli", "ely"],
    &["نعم", "ايوه", "ايوا", "aywa", "aiwa", "aywah"],
    &["صديق", "صديقي", "صاحب", "صاحبي", "صحاب", "sa7bi", "sa7eb", "sa7by", "so7ab"],
    &["ولد", "واد", "wad", "walad"],
    &["فتاه", "بنت", "bent", "bint"],
    &["رجل", "راجل", "ragel", "rajel", "ragl"],
    &["طعام", "اكل", "akl", "akla"],
    &["ماء", "ميه", "مايه", "mayya", "mayah"],
    &["يفعل", "يعمل", "بيعمل", "ba3mel", "bya3mel", "3amal", "a3mel"],
    &["كبير", "كبيره", "kbeer", "kebir", "kbira", "kebira"],
    &["صغير", "صغيره", "صغنن", "soghayar", "so8ayar", "sghayar", "soghayara"],
];

/// Names of places (and of the country and its people) in Arabic script, English and Arabizi:
/// names the consonant skeleton cannot join because their spellings drifted apart (Luxor and
/// الأقصر, Cairo and القاهرة) or are too short to match safely (Siwa).
const PLACE_GROUPS: &[&[&str]] = &[
    &["القاهره", "قاهره", "cairo", "kairo", "2ahera", "el2ahera", "qahira", "alqahira"],
    &["الاسكندريه", "اسكندريه", "alexandria", "alex", "eskenderia", "eskendereya", "eskendereyya", "iskandariya"],
    &["الاقصر", "اقصر", "luxor", "lo2sor", "lu2sor"],
    &["اسوان", "aswan", "asswan"],
    &["الجيزه", "جيزه", "giza", "geeza"],
    &["سيوه", "siwa", "sewa"],
    &["دمياط", "damietta", "domyat", "dumyat"],
    &["الفيوم", "فيوم", "fayoum", "faiyum", "fayum"],
    &["النوبه", "نوبه", "nubia", "nuba", "noba"],
    &["السويس", "سويس", "suez", "swees"],
    &["المنصوره", "منصوره", "mansoura", "mansura"],
    &["طنطا", "tanta"],
    &["المنيا", "منيا", "minya", "menya"],
    &["اسيوط", "asyut", "assiut", "asiut"],
    &["دهب", "dahab"],
    &["الزمالك", "زمالك", "zamalek"],
    &["شبرا", "shubra", "shobra"],
    &["امبابه", "imbaba", "embaba"],
    &["بورسعيد", "portsaid", "borsa3id"],
    &["الاسماعيليه", "اسماعيليه", "ismailia", "esma3ileya"],
    &["الزقازيق", "زقازيق", "zagazig", "za2azi2"],
    &["سوهاج", "sohag"],
    &["قنا", "qena", "2ena"],
    &["مصر", "egypt", "masr", "misr"],
    &["مصري", "مصريه", "مصريين", "egyptian", "egyptians", "masry", "masri", "masreya", "masryeen"],
    &["النيل", "نيل", "nile", "nil"],
];

fn table() -> &'static HashMap<&'static str, &'static str> {
    static TABLE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::new();
        for group in GROUPS.iter().chain(PLACE_GROUPS) {
            for word in *group {
                let previous = table.insert(*word, group[0]);
                debug_assert!(previous.is_none(), "{word} is in two dialect groups");
            }
        }
        table
    })
}

/// Whether a folded Latin word is an Arabizi member of a dialect group (place names, written
/// the same in English and Arabizi, do not count).
pub fn is_arabizi_dialect(word: &str) -> bool {
    GROUPS.iter().any(|g| g.contains(&word)) && word.is_ascii()
}

/// The group a folded word belongs to, by the group's name. Tries the word as written, then
/// without a leading conjunction (و ف), then without the article.
pub fn group_of(word: &str) -> Option<&'static str> {
    let table = table();
    if let Some(name) = table.get(word) {
        return Some(name);
    }
    for conj in ['و', 'ف'] {
        if let Some(rest) = word.strip_prefix(conj)
            && rest.chars().count() >= 2
            && let Some(name) = table.get(rest)
        {
            return Some(name);
        }
    }
    let bare = super::arabic::strip_prefixes(word);
    if bare != word { table.get(bare).copied() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::words;

    fn fold(text: &str) -> String {
        let mut out = String::new();
        words::split(text, |w| out.push_str(&w.text));
        out
    }

    #[test]
    fn no_word_is_in_two_groups_and_every_word_is_folded() {
        let mut seen = std::collections::HashSet::new();
        for group in GROUPS.iter().chain(PLACE_GROUPS) {
            for word in *group {
                assert!(seen.insert(*word), "{word} twice");
                assert_eq!(fold(word), *word, "{word} is not written folded");
            }
        }
    }

    #[test]
    fn egyptian_words_meet_their_standard_pairs() {
        for (dialect, standard) in [
            ("عايز", "يريد"),
            ("عاوز", "أريد"),
            ("إزاي", "كيف"),
            ("دلوقتي", "الآن"),
            ("ده", "هذا"),
            ("دي", "هذه"),
            ("فين", "أين"),
            ("ليه", "لماذا"),
            ("كده", "هكذا"),
            ("كويسة", "جيدة"),
            ("حلوة", "جميلة"),
            ("عيش", "خبز"),
            ("فلوس", "نقود"),
            ("بكرة", "غداً"),
            ("إمبارح", "أمس"),
        ] {
            let d = group_of(&fold(dialect));
            assert!(d.is_some(), "{dialect} has no group");
            assert_eq!(d, group_of(&fold(standard)), "{dialect} vs {standard}");
        }
    }

    #[test]
    fn places_meet_across_scripts() {
        for (a, b) in
            [("Luxor", "الأقصر"), ("Cairo", "القاهرة"), ("alex", "الإسكندرية"), ("Siwa", "سيوة"), ("masr", "مصر")]
        {
            let a = group_of(&fold(a));
            assert!(a.is_some());
            assert_eq!(a, group_of(&fold(b)));
        }
        assert_eq!(group_of(&fold("بالقاهرة")), group_of("cairo"), "with an attached preposition and article");
    }

    #[test]
    fn arabizi_members_and_attached_particles() {
        assert_eq!(group_of("3ayez"), Some("يريد"));
        assert_eq!(group_of("delwa2ty"), Some("الان"));
        assert_eq!(group_of(&fold("وعايز")), Some("يريد"));
        assert_eq!(group_of(&fold("والعيش")), Some("خبز"));
        assert_eq!(group_of("coffee"), None);
    }
}
