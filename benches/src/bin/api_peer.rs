//! The bare peer of the API load benchmark: async-graphql + axum answering the same shape as
//! `daira serve` — a mask with its trust and 20 followers — from a `Vec`, with no limits, no
//! auth, no rate limits and no graph. What the framework costs by itself on this machine.
//!
//! ```text
//! cargo run --release -p benches --bin api_peer -- 127.0.0.1:8181
//! ```

use async_graphql::{EmptyMutation, EmptySubscription, ID, Object, Schema, SimpleObject};
use async_graphql_axum::GraphQL;
use axum::Router;
use axum::routing::post_service;

#[derive(SimpleObject, Clone)]
struct Reputation {
    trust: f64,
}

#[derive(Clone)]
struct Mask {
    index: usize,
}

#[derive(SimpleObject, Clone)]
struct MaskEdge {
    cursor: String,
    node: Mask,
}

#[derive(SimpleObject, Clone)]
struct PageInfo {
    has_next_page: bool,
}

#[derive(SimpleObject, Clone)]
struct MaskConnection {
    total_count: usize,
    page_info: PageInfo,
    edges: Vec<MaskEdge>,
}

struct Data {
    handles: Vec<String>,
    followers: Vec<Vec<usize>>,
    trust: Vec<f64>,
}

#[Object]
impl Mask {
    async fn id(&self) -> ID {
        ID(format!("M{}", self.index))
    }
    async fn handle(&self, ctx: &async_graphql::Context<'_>) -> String {
        ctx.data_unchecked::<Data>().handles[self.index].clone()
    }
    async fn display_name(&self, ctx: &async_graphql::Context<'_>) -> String {
        ctx.data_unchecked::<Data>().handles[self.index].to_uppercase()
    }
    async fn reputation(&self, ctx: &async_graphql::Context<'_>) -> Reputation {
        Reputation { trust: ctx.data_unchecked::<Data>().trust[self.index] }
    }
    async fn followers(&self, ctx: &async_graphql::Context<'_>, first: i32) -> MaskConnection {
        let all = &ctx.data_unchecked::<Data>().followers[self.index];
        let n = (first.max(0) as usize).min(all.len());
        MaskConnection {
            total_count: all.len(),
            page_info: PageInfo { has_next_page: n < all.len() },
            edges: all[..n].iter().map(|&f| MaskEdge { cursor: format!("o:{f}"), node: Mask { index: f } }).collect(),
        }
    }
}

struct Query;

#[Object]
impl Query {
    async fn mask(&self, ctx: &async_graphql::Context<'_>, handle: String) -> Option<Mask> {
        ctx.data_unchecked::<Data>().handles.iter().position(|h| *h == handle).map(|index| Mask { index })
    }
}

fn main() {
    let addr: std::net::SocketAddr =
        std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8181".into()).parse().expect("an address");
    let n = 1000;
    let data = Data {
        handles: (0..n).map(|i| format!("mask_{i}")).collect(),
        followers: (0..n).map(|i| (1..=30).map(|k| (i + k * 7) % n).collect()).collect(),
        trust: (0..n).map(|i| 1.0 / (1.0 + i as f64)).collect(),
    };
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription).data(data).finish();
    let app = Router::new().route("/graphql", post_service(GraphQL::new(schema)));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!("listening on http://{}/graphql", listener.local_addr().unwrap());
        axum::serve(listener, app).await.expect("serve");
    });
}
