//! Criterion benches of the graph engine beside its peers, on one R-MAT graph (Graph500
//! parameters, ids permuted): bulk load, 1-hop and 2-hop reads, CSR build, durable append and
//! replay. `DAIRA_BENCH_SCALE` sets the scale (default 16: IndraDB takes about 2 s to load it).
//! The acceptance table at scale 20 comes from `cargo run --release -p benches --bin report`.

use benches::{engine_load, indradb_load, indradb_out, indradb_two_hop, petgraph_load, rmat};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use graph_engine::{Csr, Engine, EngineConfig, KindWeight, NoProgress};
use schema::{Command, EdgeKind, MaskKind};
use std::hint::black_box;

fn scale() -> u32 {
    std::env::var("DAIRA_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(16)
}

fn load(c: &mut Criterion) {
    let scale = scale();
    let (src, dst) = rmat(scale, 16, 1);
    let mut group = c.benchmark_group(format!("bulk_load/rmat{scale}"));
    group.sample_size(10).throughput(Throughput::Elements(src.len() as u64));
    group.bench_function("engine", |b| {
        b.iter_batched(|| (src.clone(), dst.clone()), |(s, d)| engine_load(s, d), BatchSize::LargeInput)
    });
    group.bench_function("petgraph_csr", |b| b.iter(|| petgraph_load(1 << scale, &src, &dst)));
    group.bench_function("indradb_memory", |b| b.iter(|| indradb_load(1 << scale, &src, &dst)));
    group.finish();
}

fn reads(c: &mut Criterion) {
    let scale = scale();
    let (src, dst) = rmat(scale, 16, 1);
    let graph = parking_lot::RwLock::new(engine_load(src.clone(), dst.clone()));
    let pet = petgraph_load(1 << scale, &src, &dst);
    let indra = indradb_load(1 << scale, &src, &dst);
    let ids: Vec<schema::Id> = {
        let g = graph.read();
        let mut rng = benches::SplitMix::new(3);
        (0..4096).map(|_| g.id_at((rng.next_u64() % g.vertex_count() as u64) as u32)).collect()
    };
    let numbers: Vec<u64> = {
        let g = graph.read();
        ids.iter().map(|&id| g.external_at(g.index_of(id).unwrap()).unwrap().parse().unwrap()).collect()
    };
    let mut group = c.benchmark_group(format!("hop1/rmat{scale}"));
    let mut i = 0;
    group.bench_function("engine_by_id", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            let g = graph.read();
            let v = g.index_of(ids[i]).unwrap();
            black_box(g.out(EdgeKind::Follows, v).map(|w| g.id_at(w)).collect::<Vec<_>>())
        })
    });
    group.bench_function("petgraph_csr", |b| {
        b.iter(|| {
            i = (i + 1) % numbers.len();
            black_box(pet.neighbors_slice(numbers[i] as u32).to_vec())
        })
    });
    group.bench_function("indradb_memory", |b| {
        b.iter(|| {
            i = (i + 1) % numbers.len();
            black_box(indradb_out(&indra, numbers[i]))
        })
    });
    group.finish();
    let mut group = c.benchmark_group(format!("hop2/rmat{scale}"));
    group.bench_function("engine_by_id", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            let g = graph.read();
            let v = g.index_of(ids[i]).unwrap();
            let mut out = Vec::new();
            for w in g.out(EdgeKind::Follows, v) {
                out.extend(g.out(EdgeKind::Follows, w).map(|x| g.id_at(x)));
            }
            black_box(out)
        })
    });
    group.bench_function("petgraph_csr", |b| {
        b.iter(|| {
            i = (i + 1) % numbers.len();
            let mut out = Vec::new();
            for &w in pet.neighbors_slice(numbers[i] as u32) {
                out.extend_from_slice(pet.neighbors_slice(w));
            }
            black_box(out)
        })
    });
    group.bench_function("indradb_memory", |b| {
        b.iter(|| {
            i = (i + 1) % numbers.len();
            black_box(indradb_two_hop(&indra, numbers[i]))
        })
    });
    group.finish();
    let mut group = c.benchmark_group(format!("csr_build/rmat{scale}"));
    group.sample_size(10);
    let g = graph.read();
    group.throughput(Throughput::Elements(g.edge_count(EdgeKind::Follows) as u64));
    group.bench_function("engine_follows", |b| b.iter(|| Csr::build(&g, &[KindWeight::unit(EdgeKind::Follows)])));
    group.finish();
}

fn durable(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig::new(dir.path().join("data"));
    let (engine, people) = runtime.block_on(async {
        let engine = std::sync::Arc::new(Engine::open(&config, &NoProgress).await.unwrap());
        let mut people = Vec::new();
        for i in 0..64 {
            let user = engine.new_id();
            engine.execute(Command::RegisterUser { user }).await.unwrap();
            let mask = engine.new_id();
            let handle = format!("bench_{i}");
            let command = Command::CreateMask {
                user,
                mask,
                kind: MaskKind::Public,
                handle,
                display_name: String::new(),
                bio: String::new(),
            };
            engine.execute(command).await.unwrap();
            people.push(schema::Actor { user, mask });
        }
        (engine, people)
    });
    let mut group = c.benchmark_group("durable_append/sqlite");
    let mut n = 0usize;
    group.bench_function("one_writer", |b| {
        b.iter(|| {
            n += 1;
            let (a, t) = (people[n % 64], people[(n / 64 + n) % 64]);
            let rating = (n % 21) as i8 - 10;
            let command = if a.mask == t.mask {
                Command::Rate { actor: a, target: people[(n + 1) % 64].mask, rating }
            } else {
                Command::Rate { actor: a, target: t.mask, rating }
            };
            runtime.block_on(engine.execute(command)).unwrap()
        })
    });
    group.throughput(Throughput::Elements(64));
    group.bench_function("64_concurrent_writers", |b| {
        b.iter(|| {
            n += 1;
            runtime.block_on(async {
                let tasks: Vec<_> = (0..64)
                    .map(|k| {
                        let engine = engine.clone();
                        let (a, t) = (people[k], people[(k + 1 + n % 63) % 64]);
                        tokio::spawn(async move {
                            engine
                                .execute(Command::Rate { actor: a, target: t.mask, rating: (n % 21) as i8 - 10 })
                                .await
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap().unwrap();
                }
            })
        })
    });
    group.finish();

    // Replay: reopen a log holding an imported R-MAT graph.
    let (src, dst) = rmat(scale(), 16, 1);
    let data = dir.path().join("replay");
    let config = EngineConfig::new(&data);
    runtime.block_on(async {
        let engine = Engine::open(&config, &NoProgress).await.unwrap();
        let parsed = {
            let g = engine.read();
            graph_engine::import::from_edges("rmat", EdgeKind::Follows, src.clone(), dst.clone(), &g, &|k| {
                engine.new_ids(k)
            })
            .unwrap()
        };
        engine.execute(Command::Import(parsed.batch)).await.unwrap();
        engine.shutdown().await;
    });
    let mut group = c.benchmark_group(format!("replay/rmat{}", scale()));
    group.sample_size(10).throughput(Throughput::Elements(src.len() as u64));
    group.bench_function("engine_sqlite", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let engine = Engine::open(&config, &NoProgress).await.unwrap();
                engine.shutdown().await;
            })
        })
    });
    group.finish();
}

criterion_group!(benches, load, reads, durable);
criterion_main!(benches);
