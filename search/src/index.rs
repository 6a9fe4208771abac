//! The Tantivy index: its schema, writing documents, and answering requests.

use crate::analysis::{self, Analyzer, DairaTokenizer, Lang, QUERY_SKELETONS, Stream, Terms};
use crate::doc::{Doc, DocKind};
use crate::rank::{Blend, Signals};
use crate::{Error, Result};
use parking_lot::Mutex;
use schema::Id;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing, TextOptions,
    Value as _,
};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Term};

/// Bumped whenever analysis or the schema changes: an index built by another version is
/// rebuilt from the log.
pub const ANALYSIS_VERSION: u32 = 1;

/// The longest query accepted, in bytes.
pub const QUERY_BYTES_MAX: usize = 1024;
/// The most words a query may have.
pub const QUERY_WORDS_MAX: usize = 24;
/// The most hits one request may ask for.
pub const LIMIT_MAX: usize = 100;

/// How many times a title is written into the text field: a title word counts as much as
/// that many body words (before BM25's saturation).
const TITLE_REPEAT: usize = 2;
/// The boost of the skeleton field, shared by a word's candidates.
const SKELETON_BOOST: f32 = 0.6;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    world: Field,
    lang: Field,
    external: Field,
    title: Field,
    text: Field,
    skeleton: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |stream_name: &str, record: IndexRecordOption| {
        TextOptions::default()
            .set_indexing_options(TextFieldIndexing::default().set_tokenizer(stream_name).set_index_option(record))
    };
    let fields = Fields {
        id: b.add_u64_field("id", INDEXED | FAST | STORED),
        kind: b.add_u64_field("kind", INDEXED | FAST | STORED),
        world: b.add_u64_field("world", INDEXED),
        lang: b.add_text_field("lang", STRING),
        external: b.add_text_field("external", STORED),
        title: b.add_text_field("title", STORED),
        text: b.add_text_field("text", text(analysis::TEXT_ANALYZER, IndexRecordOption::WithFreqs)),
        skeleton: b.add_text_field("skeleton", text(analysis::SKELETON_ANALYZER, IndexRecordOption::WithFreqs)),
    };
    (b.build(), fields)
}

/// Where the index stands in the log: the position its last commit covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The last log sequence number applied.
    pub seq: u64,
    /// The chain hash after it, in hex.
    pub hash: String,
    /// The analysis version that built the index.
    pub version: u32,
}

/// Knobs of the index writer.
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// Indexing threads.
    pub threads: usize,
    /// Memory for in-flight segments, in bytes, shared by the threads.
    pub memory_bytes: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        WriterOptions { threads, memory_bytes: 64 << 20 }
    }
}

/// A search request.
#[derive(Clone, Debug)]
pub struct Request {
    /// The query text, as the user typed it.
    pub text: String,
    /// Only documents of this kind.
    pub kind: Option<DocKind>,
    /// Only documents of this world.
    pub world: Option<Id>,
    /// Only documents written (at least partly) in this language.
    pub lang: Option<Lang>,
    /// How many hits, 1..=[`LIMIT_MAX`].
    pub limit: usize,
}

impl Request {
    /// A request for `text`, unfiltered, for 10 hits.
    pub fn new(text: impl Into<String>) -> Request {
        Request { text: text.into(), kind: None, world: None, lang: None, limit: 10 }
    }
}

/// One hit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hit {
    /// The entity.
    pub id: Id,
    /// Its id in the file it was imported from, if any.
    pub external: Option<String>,
    /// Its kind.
    pub kind: DocKind,
    /// Its title.
    pub title: String,
    /// The blended score that ordered the hits.
    pub score: f32,
    /// The text relevance (BM25) alone.
    pub relevance: f32,
    /// The reputation prior used, 0..=1.
    pub prior: f32,
}

/// The discovery index.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<Option<IndexWriter<TantivyDocument>>>,
    fields: Fields,
    analyzer: Analyzer,
}

fn register(index: &Index) {
    index.tokenizers().register(analysis::TEXT_ANALYZER, DairaTokenizer::new(Stream::Text));
    index.tokenizers().register(analysis::SKELETON_ANALYZER, DairaTokenizer::new(Stream::Skeleton));
}

impl SearchIndex {
    fn from_index(index: Index, fields: Fields, writer: Option<WriterOptions>) -> Result<SearchIndex> {
        register(&index);
        let writer = match writer {
            Some(o) => {
                Some(index.writer_with_num_threads(o.threads, o.memory_bytes.max(o.threads * (16 << 20))).map_err(
                    |e| match e {
                        tantivy::TantivyError::LockFailure(tantivy::directory::error::LockError::LockBusy, _) => {
                            Error::Busy
                        }
                        e => Error::Index(e),
                    },
                )?)
            }
            None => None,
        };
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(SearchIndex { index, reader, writer: Mutex::new(writer), fields, analyzer: Analyzer::default() })
    }

    /// An index in memory (tests, benchmarks).
    pub fn in_memory(options: WriterOptions) -> Result<SearchIndex> {
        let (schema, fields) = schema();
        SearchIndex::from_index(Index::create_in_ram(schema), fields, Some(options))
    }

    /// Opens the index in `dir` for writing, creating it when absent. An index of another
    /// analysis version is wiped: it is derived data, rebuilt from the log.
    pub fn open(dir: &Path, options: WriterOptions) -> Result<SearchIndex> {
        SearchIndex::open_dir(dir, Some(options))
    }

    /// Opens the index in `dir` for reading only (another process may be writing it).
    pub fn open_read_only(dir: &Path) -> Result<SearchIndex> {
        SearchIndex::open_dir(dir, None)
    }

    fn open_dir(dir: &Path, writer: Option<WriterOptions>) -> Result<SearchIndex> {
        let (schema, fields) = schema();
        let io = |source| Error::Io { path: dir.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let existing = Index::open_in_dir(dir).ok();
        let index = match existing {
            Some(index) if index.schema() == schema => index,
            Some(_) if writer.is_none() => return Err(Error::Stale(dir.display().to_string())),
            Some(_) => {
                // Another version's index: rebuild from scratch.
                std::fs::remove_dir_all(dir).map_err(io)?;
                std::fs::create_dir_all(dir).map_err(io)?;
                Index::create_in_dir(dir, schema)?
            }
            None if writer.is_none() => return Err(Error::Stale(dir.display().to_string())),
            None => Index::create_in_dir(dir, schema)?,
        };
        SearchIndex::from_index(index, fields, writer)
    }

    /// Whether this handle may write.
    pub fn writable(&self) -> bool {
        self.writer.lock().is_some()
    }

    /// The position of the last commit, if it was made by this analysis version.
    pub fn stamp(&self) -> Option<Stamp> {
        let metas = self.index.load_metas().ok()?;
        let stamp: Stamp = serde_json::from_str(metas.payload.as_deref()?).ok()?;
        (stamp.version == ANALYSIS_VERSION).then_some(stamp)
    }

    /// How many documents the last reload sees.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn tantivy_doc(&self, doc: &Doc) -> TantivyDocument {
        let f = self.fields;
        let mut d = TantivyDocument::default();
        d.add_u64(f.id, doc.id.0);
        d.add_u64(f.kind, doc.kind.code());
        if let Some(world) = doc.world {
            d.add_u64(f.world, world.0);
        }
        let mut langs = analysis::langs(&doc.title);
        for l in analysis::langs(&doc.body) {
            if !langs.contains(&l) {
                langs.push(l);
            }
        }
        for l in langs {
            d.add_text(f.lang, l.as_str());
        }
        if let Some(external) = &doc.external {
            d.add_text(f.external, external);
        }
        d.add_text(f.title, &doc.title);
        for _ in 0..TITLE_REPEAT {
            d.add_text(f.text, &doc.title);
        }
        d.add_text(f.text, &doc.body);
        d.add_text(f.skeleton, &doc.title);
        d.add_text(f.skeleton, &doc.body);
        d
    }

    fn with_writer<T>(&self, f: impl FnOnce(&mut IndexWriter<TantivyDocument>) -> Result<T>) -> Result<T> {
        let mut guard = self.writer.lock();
        let writer = guard.as_mut().ok_or(Error::ReadOnly)?;
        f(writer)
    }

    /// Adds or replaces a document (visible after the next [`SearchIndex::commit`]).
    pub fn upsert(&self, doc: &Doc) -> Result<()> {
        let d = self.tantivy_doc(doc);
        self.with_writer(|w| {
            w.delete_term(Term::from_field_u64(self.fields.id, doc.id.0));
            w.add_document(d)?;
            Ok(())
        })
    }

    /// Adds documents known to be new (a rebuild), without deleting first.
    pub fn add_new(&self, docs: &[Doc]) -> Result<()> {
        let built: Vec<TantivyDocument> = docs.iter().map(|d| self.tantivy_doc(d)).collect();
        self.with_writer(|w| {
            for d in built {
                w.add_document(d)?;
            }
            Ok(())
        })
    }

    /// Removes an entity's document, if any.
    pub fn remove(&self, id: Id) -> Result<()> {
        self.with_writer(|w| {
            w.delete_term(Term::from_field_u64(self.fields.id, id.0));
            Ok(())
        })
    }

    /// Removes every document (before a rebuild).
    pub fn clear(&self) -> Result<()> {
        self.with_writer(|w| {
            w.delete_all_documents()?;
            Ok(())
        })
    }

    /// Makes everything written so far durable and searchable, stamped with the log position
    /// it covers.
    pub fn commit(&self, seq: u64, hash: &[u8; 32]) -> Result<()> {
        let stamp = Stamp { seq, hash: hex(hash), version: ANALYSIS_VERSION };
        self.with_writer(|w| {
            let mut prepared = w.prepare_commit()?;
            prepared.set_payload(&serde_json::to_string(&stamp).expect("a stamp serialises"));
            prepared.commit()?;
            Ok(())
        })?;
        self.reload()
    }

    /// Sees the latest commit (also one made by another process).
    pub fn reload(&self) -> Result<()> {
        self.reader.reload()?;
        Ok(())
    }

    /// The query a request's text becomes: each word looked up in the title, the body and the
    /// skeleton field, with every variant of the word; words are alternatives (a document with
    /// more of them scores higher).
    pub fn parse(&self, text: &str) -> Result<Vec<Terms>> {
        if text.len() > QUERY_BYTES_MAX {
            return Err(Error::Query(format!(
                "the query is {} bytes long; at most {QUERY_BYTES_MAX} are allowed",
                text.len()
            )));
        }
        if text.trim().is_empty() {
            return Err(Error::Query("the query is empty".into()));
        }
        let mut count = 0;
        analysis::words::split(text, |_| count += 1);
        if count > QUERY_WORDS_MAX {
            return Err(Error::Query(format!("the query has {count} words; at most {QUERY_WORDS_MAX} are allowed")));
        }
        if count == 0 {
            return Err(Error::Query("the query has no searchable words (letters or digits)".into()));
        }
        // Only stop words ("the", "el"): a valid query that matches nothing.
        let mut words = Vec::new();
        self.analyzer.analyze(text, QUERY_SKELETONS, |_, terms| {
            if !words.contains(terms) {
                words.push(terms.clone());
            }
        });
        Ok(words)
    }

    fn text_query(&self, words: &[Terms]) -> Box<dyn Query> {
        let f = self.fields;
        let term = |field: Field, text: &str, boost: f32| -> (Occur, Box<dyn Query>) {
            let q = TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::WithFreqs);
            (Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost)))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for w in words {
            for t in &w.text {
                clauses.push(term(f.text, t, 1.0));
            }
            // Skeleton candidates of one word are alternatives: each scores, but a word's
            // candidates together should not outweigh a real match, so they share the boost.
            let share = SKELETON_BOOST / (w.skeletons.len().max(1) as f32).sqrt();
            for s in &w.skeletons {
                clauses.push(term(f.skeleton, s, share));
            }
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// Answers a request: the text-relevance top candidates, re-ranked with the reputation
    /// prior from `signals` (see [`Blend`]).
    pub fn search(&self, request: &Request, signals: &dyn Signals, blend: &Blend) -> Result<Vec<Hit>> {
        if request.limit == 0 || request.limit > LIMIT_MAX {
            return Err(Error::Query(format!("limit must be 1..={LIMIT_MAX}, not {}", request.limit)));
        }
        let words = self.parse(&request.text)?;
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let f = self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, self.text_query(&words))];
        let filter = |term: Term| -> (Occur, Box<dyn Query>) {
            (Occur::Must, Box::new(ConstScoreQuery::new(Box::new(TermQuery::new(term, IndexRecordOption::Basic)), 0.0)))
        };
        if let Some(kind) = request.kind {
            must.push(filter(Term::from_field_u64(f.kind, kind.code())));
        }
        if let Some(world) = request.world {
            must.push(filter(Term::from_field_u64(f.world, world.0)));
        }
        if let Some(lang) = request.lang {
            must.push(filter(Term::from_field_text(f.lang, lang.as_str())));
        }
        // Unfiltered, the text query goes alone so that tantivy can prune with block-max WAND.
        let query: Box<dyn Query> =
            if must.len() == 1 { must.pop().expect("one clause").1 } else { Box::new(BooleanQuery::new(must)) };
        let searcher = self.reader.searcher();
        let candidates = blend.candidates(request.limit);
        let top = searcher.search(&query, &TopDocs::with_limit(candidates).order_by_score())?;
        let Some(best) = top.first().map(|(s, _)| *s) else { return Ok(Vec::new()) };
        let mut columns = Vec::with_capacity(searcher.segment_readers().len());
        for segment in searcher.segment_readers() {
            columns.push(segment.fast_fields().u64("id")?);
        }
        let mut ranked: Vec<(f32, f32, f32, Id, DocAddress)> = top
            .into_iter()
            .map(|(relevance, address)| {
                let id = Id(columns[address.segment_ord as usize].first(address.doc_id).unwrap_or(0));
                let prior = signals.prior(id).unwrap_or(0.0).clamp(0.0, 1.0);
                (blend.score(relevance / best, prior), relevance, prior, id, address)
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.3.cmp(&b.3)));
        ranked.truncate(request.limit);
        let mut hits = Vec::with_capacity(ranked.len());
        for (score, relevance, prior, id, address) in ranked {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |field: Field| doc.get_first(field).and_then(|v| v.as_str()).map(str::to_owned);
            let kind = doc.get_first(f.kind).and_then(|v| v.as_u64()).and_then(DocKind::from_code);
            hits.push(Hit {
                id,
                external: text(f.external),
                kind: kind.unwrap_or(DocKind::Work),
                title: text(f.title).unwrap_or_default(),
                score,
                relevance,
                prior,
            });
        }
        Ok(hits)
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
