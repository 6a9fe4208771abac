//! The evaluation set: queries across every phenomenon the analysis handles, with the documents
//! they should find. Reports hits@5 and MRR@5 for DAIRA's analysis beside tantivy's stock
//! `default` and Snowball-Arabic analyzers on the same documents, and holds DAIRA to its targets.
//!
//! `cargo test -p search --test eval -- --nocapture` prints the table and the misses.

use schema::Id;
use search::stock::{Stock, StockIndex};
use search::{Blend, Doc, DocKind, NoSignals, Request, SearchIndex, WriterOptions};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
struct CorpusLine {
    id: String,
    kind: String,
    title: String,
    body: String,
}

#[derive(Deserialize)]
struct QueryLine {
    q: String,
    expect: Vec<String>,
    phenomenon: String,
}

fn corpus() -> Vec<Doc> {
    include_str!("../eval/corpus.jsonl")
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let c: CorpusLine = serde_json::from_str(line).unwrap_or_else(|e| panic!("corpus.jsonl:{}: {e}", i + 1));
            Doc {
                id: Id(i as u64 + 1),
                external: Some(c.id),
                kind: DocKind::parse(&c.kind).unwrap_or_else(|| panic!("corpus.jsonl:{}: kind {}", i + 1, c.kind)),
                world: None,
                title: c.title,
                body: c.body,
            }
        })
        .collect()
}

fn queries() -> Vec<QueryLine> {
    include_str!("../eval/queries.jsonl")
        .lines()
        .enumerate()
        .map(|(i, line)| serde_json::from_str(line).unwrap_or_else(|e| panic!("queries.jsonl:{}: {e}", i + 1)))
        .collect()
}

/// hits@5 and MRR@5 of ranked external ids against the expected ones.
#[derive(Default)]
struct Score {
    hits: usize,
    reciprocal: f64,
    n: usize,
    misses: Vec<String>,
}

impl Score {
    fn add(&mut self, q: &QueryLine, ranked: &[String]) {
        self.n += 1;
        match ranked.iter().take(5).position(|id| q.expect.contains(id)) {
            Some(rank) => {
                self.hits += 1;
                self.reciprocal += 1.0 / (rank + 1) as f64;
            }
            None => self.misses.push(format!("{} [{}] → {:?}", q.q, q.phenomenon, &ranked[..ranked.len().min(5)])),
        }
    }
    fn hits_at_5(&self) -> f64 {
        self.hits as f64 / self.n as f64
    }
    fn mrr(&self) -> f64 {
        self.reciprocal / self.n as f64
    }
}

#[test]
fn daira_analysis_beats_the_stock_analyzers_on_the_evaluation_set() {
    let docs = corpus();
    let queries = queries();
    assert!(queries.len() >= 60, "the evaluation set has {} queries; it needs at least 60", queries.len());
    let by_id: HashMap<u64, String> = docs.iter().map(|d| (d.id.0, d.external.clone().unwrap())).collect();

    let index = SearchIndex::in_memory(WriterOptions { threads: 1, memory_bytes: 32 << 20 }).unwrap();
    index.add_new(&docs).unwrap();
    index.commit(1, &[0; 32]).unwrap();
    let mut ours = Score::default();
    for q in &queries {
        let mut request = Request::new(q.q.clone());
        request.limit = 5;
        let hits = index.search(&request, &NoSignals, &Blend::text_only()).unwrap();
        ours.add(q, &hits.iter().map(|h| h.external.clone().unwrap()).collect::<Vec<_>>());
    }

    let mut table = vec![("daira".to_string(), ours)];
    for stock in [Stock::Default, Stock::SnowballArabic] {
        let mut s = StockIndex::in_memory(stock, 1, 32 << 20).unwrap();
        s.add(&docs).unwrap();
        s.commit().unwrap();
        let mut score = Score::default();
        for q in &queries {
            let ranked: Vec<String> = s.search(&q.q, 5).unwrap().iter().map(|(id, _)| by_id[id].clone()).collect();
            score.add(q, &ranked);
        }
        table.push((stock.name().to_string(), score));
    }

    println!("\n{} queries, {} documents", queries.len(), docs.len());
    println!("| analyzer | hits@5 | MRR@5 |\n| --- | ---: | ---: |");
    for (name, s) in &table {
        println!("| {name} | {:.1}% | {:.3} |", 100.0 * s.hits_at_5(), s.mrr());
    }
    for (name, s) in &table {
        for miss in &s.misses {
            println!("miss ({name}): {miss}");
        }
    }
    let (ours, snowball) = (&table[0].1, &table[2].1);
    assert!(ours.hits_at_5() >= 0.95, "hits@5 {:.3} < 0.95; misses: {:#?}", ours.hits_at_5(), ours.misses);
    assert!(
        ours.hits_at_5() >= snowball.hits_at_5() + 0.30,
        "hits@5 {:.3} is not 30 points above snowball-arabic's {:.3}",
        ours.hits_at_5(),
        snowball.hits_at_5()
    );
}
