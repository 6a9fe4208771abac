//! Bad input never panics: it gets a clear error or a safe, empty result.

use schema::Id;
use search::{Blend, Doc, DocKind, Error, NoSignals, Request, SearchIndex, WriterOptions};

fn index() -> SearchIndex {
    let index = SearchIndex::in_memory(WriterOptions { threads: 1, memory_bytes: 16 << 20 }).unwrap();
    let docs = [
        ("قهوة الحرافيش", "مقهى في وسط البلد", DocKind::World),
        ("Street art \"walls\" (Alexandria)", "spray + stencils - murals", DocKind::Work),
        ("نور @7elwa_art", "ba3mel street art", DocKind::Mask),
    ];
    let docs: Vec<Doc> = docs
        .iter()
        .enumerate()
        .map(|(i, (title, body, kind))| Doc {
            id: Id(i as u64 + 1),
            external: None,
            kind: *kind,
            world: None,
            title: title.to_string(),
            body: body.to_string(),
        })
        .collect();
    index.add_new(&docs).unwrap();
    index.commit(1, &[1; 32]).unwrap();
    index
}

fn search(index: &SearchIndex, text: &str) -> Result<Vec<search::Hit>, Error> {
    index.search(&Request::new(text), &NoSignals, &Blend::default())
}

#[test]
fn empty_and_blank_queries_are_refused_by_name() {
    let index = index();
    for q in ["", "   ", "\t\n"] {
        let e = search(&index, q).unwrap_err().to_string();
        assert!(e.contains("empty"), "{q:?}: {e}");
    }
}

#[test]
fn a_10_kb_query_is_refused_with_the_limit() {
    let index = index();
    let e = search(&index, &"قهوة ".repeat(1024)).unwrap_err().to_string();
    assert!(e.contains("bytes long") && e.contains("1024"), "{e}");
    let e = search(&index, &"a ".repeat(40)).unwrap_err().to_string();
    assert!(e.contains("words"), "{e}");
}

#[test]
fn control_characters_bidi_marks_and_joiners_are_not_words() {
    let index = index();
    for q in ["\u{0}\u{1}\u{7f}", "\u{200F}\u{202E}\u{2066}", "\u{200D}\u{200C}\u{FEFF}", "☕🎨", "؟!،"] {
        let e = search(&index, q).unwrap_err().to_string();
        assert!(e.contains("no searchable words"), "{q:?}: {e}");
    }
    // Inside a word they vanish and the word still matches.
    let hits = search(&index, "قه\u{200D}و\u{200F}ة\u{0}").unwrap();
    assert_eq!(hits.first().map(|h| h.id), Some(Id(1)));
}

#[test]
fn quotes_and_operators_are_plain_text() {
    let index = index();
    for q in [
        "\"street art",
        "street art\"",
        "(walls",
        "walls)",
        "+spray -murals",
        "AND OR NOT",
        "title:walls",
        "*",
        "~2 ^3",
        "\\",
    ] {
        // Never a panic or a parse error: either hits or nothing.
        let hits = search(&index, q);
        match hits {
            Ok(_) => {}
            Err(e) => assert!(e.to_string().contains("no searchable words"), "{q:?}: {e}"),
        }
    }
    assert!(search(&index, "\"street art").unwrap().iter().any(|h| h.kind == DocKind::Work));
}

#[test]
fn stop_words_alone_find_nothing_and_limits_are_checked() {
    let index = index();
    assert!(search(&index, "the el في").unwrap().is_empty());
    for limit in [0, 101] {
        let mut r = Request::new("street");
        r.limit = limit;
        let e = index.search(&r, &NoSignals, &Blend::default()).unwrap_err().to_string();
        assert!(e.contains("limit"), "{e}");
    }
}

#[test]
fn filters_by_kind_and_language() {
    let index = index();
    let mut r = Request::new("street art");
    r.kind = Some(DocKind::Mask);
    let hits = index.search(&r, &NoSignals, &Blend::default()).unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [Id(3)]);
    let mut r = Request::new("street art");
    r.lang = Some(search::Lang::Arabizi);
    let hits = index.search(&r, &NoSignals, &Blend::default()).unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [Id(3)]);
}

#[test]
fn reputation_reorders_equal_matches_only() {
    let index = SearchIndex::in_memory(WriterOptions { threads: 1, memory_bytes: 16 << 20 }).unwrap();
    let doc = |id: u64, title: &str| Doc {
        id: Id(id),
        external: None,
        kind: DocKind::Work,
        world: None,
        title: title.into(),
        body: String::new(),
    };
    index.add_new(&[doc(1, "mural"), doc(2, "mural"), doc(3, "mural mural mural wall")]).unwrap();
    index.commit(1, &[0; 32]).unwrap();
    let priors = search::PriorTable::from_groups(1, vec![vec![(Id(1), 0.1), (Id(2), 0.9), (Id(3), 0.0)]]);
    let hits = index.search(&Request::new("mural"), &priors, &Blend::default()).unwrap();
    let order: Vec<u64> = hits.iter().map(|h| h.id.0).collect();
    assert_eq!(order[..2], [2, 1], "between equal matches the trusted creator's comes first: {hits:?}");
    let hits = index.search(&Request::new("mural"), &priors, &Blend::text_only()).unwrap();
    let best = hits.iter().map(|h| h.relevance).fold(0.0, f32::max);
    assert!(hits.iter().all(|h| (h.score - h.relevance / best).abs() < 1e-6), "text only ignores priors: {hits:?}");
}
