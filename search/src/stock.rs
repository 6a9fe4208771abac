//! Tantivy's stock analyzers on the same documents: the baselines DAIRA's analysis is measured
//! against. `default` is tantivy's default tokenizer (split on non-alphanumerics, lower-case,
//! drop tokens over 40 bytes); `snowball-arabic` adds the Snowball Arabic stemmer to it.

use crate::{Doc, Error, Result};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TantivyDocument, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy};

/// A stock analyzer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stock {
    /// tantivy's `default`.
    Default,
    /// `default` followed by the Snowball Arabic stemmer.
    SnowballArabic,
}

impl Stock {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Stock::Default => "tantivy default",
            Stock::SnowballArabic => "snowball-arabic",
        }
    }
}

/// An index of the same documents with a stock analyzer, queried with tantivy's lenient query
/// parser over title and body (title boosted ×2, as DAIRA's).
pub struct StockIndex {
    index: Index,
    reader: IndexReader,
    writer: Option<IndexWriter<TantivyDocument>>,
    id: Field,
    title: Field,
    body: Field,
}

impl StockIndex {
    /// An empty in-memory index with `stock`'s analyzer.
    pub fn in_memory(stock: Stock, threads: usize, memory_bytes: usize) -> Result<StockIndex> {
        let mut b = Schema::builder();
        let name = match stock {
            Stock::Default => "default",
            Stock::SnowballArabic => "snowball_arabic",
        };
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(name).set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let id = b.add_u64_field("id", INDEXED | FAST | STORED);
        let title = b.add_text_field("title", text.clone().set_stored());
        let body = b.add_text_field("body", text);
        let index = Index::create_in_ram(b.build());
        index.tokenizers().register(
            "snowball_arabic",
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(40))
                .filter(LowerCaser)
                .filter(Stemmer::new(Language::Arabic))
                .build(),
        );
        let writer = index.writer_with_num_threads(threads, memory_bytes.max(threads * (16 << 20)))?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(StockIndex { index, reader, writer: Some(writer), id, title, body })
    }

    /// Adds documents.
    pub fn add(&mut self, docs: &[Doc]) -> Result<()> {
        let writer = self.writer.as_mut().ok_or(Error::ReadOnly)?;
        for doc in docs {
            let mut d = TantivyDocument::default();
            d.add_u64(self.id, doc.id.0);
            d.add_text(self.title, &doc.title);
            d.add_text(self.body, &doc.body);
            writer.add_document(d)?;
        }
        Ok(())
    }

    /// Commits and makes the documents searchable.
    pub fn commit(&mut self) -> Result<()> {
        self.writer.as_mut().ok_or(Error::ReadOnly)?.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// The top `limit` ids for `text`, with their stored titles (fetched as DAIRA's hits are).
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<(u64, String)>> {
        let mut parser = QueryParser::for_index(&self.index, vec![self.title, self.body]);
        parser.set_field_boost(self.title, 2.0);
        let (query, _) = parser.parse_query_lenient(text);
        let searcher = self.reader.searcher();
        let top: Vec<(f32, DocAddress)> =
            searcher.search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            use tantivy::schema::Value;
            let id = doc.get_first(self.id).and_then(|v| v.as_u64()).unwrap_or(0);
            let title = doc.get_first(self.title).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            out.push((id, title));
        }
        Ok(out)
    }
}
