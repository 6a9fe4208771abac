//! Discovery at scale (issue 10's speed target): a 1M-document index from the fixtures
//! generator, built and queried with DAIRA's full analysis chain and reputation re-ranking,
//! beside tantivy's stock `default` analyzer on the same documents and queries.
//!
//! ```text
//! cargo run --release -p benches --bin search -- [DOCUMENTS] [QUERIES]
//! ```
//!
//! Documents are the worlds, works and discoverable masks of `large` communities (seeds 1, 2,
//! …) until DOCUMENTS (default 1,000,000) are gathered. Both indexes are in RAM, written by 2
//! threads with 256 MB. Queries (default 2,000) are 1–3 words of random documents' titles,
//! in whatever script they were written, plus the evaluation set's queries; each is timed end
//! to end (analysis, top-10 with a fetched title; DAIRA also re-ranks 40 candidates with
//! priors for every document).

use schema::{Id, Value, VertexKind};
use search::stock::{Stock, StockIndex};
use search::{Blend, Doc, Entity, PriorTable, Request, SearchIndex, WriterOptions};
use std::time::Instant;

const THREADS: usize = 2;
const MEMORY: usize = 256 << 20;

fn documents(wanted: usize) -> Vec<Doc> {
    let mut docs = Vec::with_capacity(wanted);
    let mut seed = 1;
    while docs.len() < wanted {
        let mut jsonl = Vec::with_capacity(240 << 20);
        fixtures::generate(fixtures::Size::Large, seed, &mut jsonl).expect("generate");
        for line in jsonl.split(|&b| b == b'\n') {
            if docs.len() == wanted {
                break;
            }
            if line.is_empty() || !line.starts_with(b"{\"vertex\"") {
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(line).expect("fixture JSON");
            let Some(kind) = v["vertex"].as_str().and_then(|k| k.parse::<VertexKind>().ok()) else { continue };
            if !matches!(kind, VertexKind::World | VertexKind::Work | VertexKind::Mask) {
                continue;
            }
            let mut props: Vec<(String, Value)> = Vec::new();
            for (k, p) in v["props"].as_object().expect("props") {
                let value = match p {
                    serde_json::Value::String(s) => Value::Str(s.clone()),
                    serde_json::Value::Array(a) => {
                        Value::List(a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                    }
                    _ => continue,
                };
                props.push((k.clone(), value));
            }
            let borrowed: Vec<(&str, &Value)> = props.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let id = Id(docs.len() as u64 + 1);
            if let Some(doc) = Doc::from_entity(&Entity { id, kind, external: v["id"].as_str(), props: &borrowed }) {
                docs.push(doc);
            }
        }
        seed += 1;
    }
    docs
}

use schema::mix64 as mix;

fn queries(docs: &[Doc], n: usize) -> Vec<String> {
    let mut out: Vec<String> = include_str!("../../../search/eval/queries.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["q"].as_str().unwrap().to_owned())
        .collect();
    let mut i = 0u64;
    while out.len() < n {
        i += 1;
        let doc = &docs[(mix(i) % docs.len() as u64) as usize];
        let words: Vec<&str> =
            doc.title.split(|c: char| c.is_whitespace() || c == '|').filter(|w| w.chars().count() > 2).collect();
        if words.is_empty() {
            continue;
        }
        let take = 1 + (mix(i ^ 0xABCD) % 3) as usize;
        let start = (mix(i ^ 0x1234) % words.len() as u64) as usize;
        out.push(words[start..(start + take).min(words.len())].join(" "));
    }
    out.truncate(n);
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let wanted = args.first().copied().unwrap_or(1_000_000);
    let n_queries = args.get(1).copied().unwrap_or(2_000);

    let started = Instant::now();
    let docs = documents(wanted);
    let bytes: usize = docs.iter().map(|d| d.title.len() + d.body.len()).sum();
    eprintln!(
        "{} documents ({:.0} MB of text) generated in {:.1} s",
        docs.len(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let queries = queries(&docs, n_queries);

    // Indexing, one after the other (never side by side: 2 cores).
    let t = Instant::now();
    let mut stock = StockIndex::in_memory(Stock::Default, THREADS, MEMORY).expect("stock index");
    for chunk in docs.chunks(10_000) {
        stock.add(chunk).expect("stock add");
    }
    stock.commit().expect("stock commit");
    let stock_index_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let ours = SearchIndex::in_memory(WriterOptions { threads: THREADS, memory_bytes: MEMORY }).expect("index");
    for chunk in docs.chunks(10_000) {
        ours.add_new(chunk).expect("add");
    }
    ours.commit(1, &[0; 32]).expect("commit");
    let ours_index_s = t.elapsed().as_secs_f64();

    // Priors for every document, as an epoch would give them.
    let priors = PriorTable::from_groups(1, vec![docs.iter().map(|d| (d.id, (mix(d.id.0) % 10_000) as f64)).collect()]);

    // Warm both, then time each query end to end, alternating engines per query.
    let mut blend = Blend::default();
    if let Ok(c) = std::env::var("DAIRA_CANDIDATES") {
        blend.candidates_min = c.parse().expect("DAIRA_CANDIDATES: a number");
        blend.candidates_per_hit = 1;
    }
    let mut stock_ms = Vec::with_capacity(queries.len());
    let mut ours_ms = Vec::with_capacity(queries.len());
    let mut ours_hits = 0usize;
    let mut stock_hits = 0usize;
    for q in queries.iter().take(200) {
        let _ = stock.search(q, 10);
        let _ = ours.search(&Request::new(q.clone()), &priors, &blend);
    }
    for q in &queries {
        let t = Instant::now();
        stock_hits += stock.search(q, 10).map(|h| h.len()).unwrap_or(0);
        stock_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        ours_hits += ours.search(&Request::new(q.clone()), &priors, &blend).map(|h| h.len()).unwrap_or(0);
        ours_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    stock_ms.sort_by(f64::total_cmp);
    ours_ms.sort_by(f64::total_cmp);

    let n = docs.len() as f64;
    let (sp50, sp99) = (percentile(&stock_ms, 0.5), percentile(&stock_ms, 0.99));
    let (op50, op99) = (percentile(&ours_ms, 0.5), percentile(&ours_ms, 0.99));
    println!(
        "\n{} documents, {} queries ({} / {} hits returned), {THREADS} indexing threads",
        docs.len(),
        queries.len(),
        ours_hits,
        stock_hits
    );
    println!("| figure | daira (full chain + re-ranking) | stock tantivy `default` | ratio (daira / stock) |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| indexing, documents/s | {:.0} | {:.0} | {:.2} |",
        n / ours_index_s,
        n / stock_index_s,
        (n / ours_index_s) / (n / stock_index_s)
    );
    println!("| top-10 latency p50, ms | {op50:.3} | {sp50:.3} | {:.2} |", op50 / sp50);
    println!("| top-10 latency p99, ms | {op99:.3} | {sp99:.3} | {:.2} |", op99 / sp99);
    println!("| top-10 latency max, ms | {:.3} | {:.3} | |", ours_ms[ours_ms.len() - 1], stock_ms[stock_ms.len() - 1]);
}
