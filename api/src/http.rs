//! GraphQL over HTTP (following the GraphQL-over-HTTP specification), WebSockets, the
//! explorer, `/healthz` and `/metrics`, with every limit: body size, batch size, a deadline
//! per request, rate limits per token and per IP.
//!
//! Status codes: with `Accept: application/graphql-response+json`, a request that does not
//! parse or validate is 400 and one that executes is 200; with `application/json` (the legacy
//! type, and the answer to a missing `Accept` or a wildcard) every well-formed request is 200. A body
//! that is not JSON, or JSON that is not a GraphQL request, is 400; a wrong `Content-Type`
//! 415; an `Accept` neither type satisfies 406; a mutation over GET 405; a body over the
//! limit 413; a bad or expired token 401; a rate limit 429; a request over its deadline 503.
//! Every error body is a GraphQL response whose errors carry `extensions.code`: an
//! [`ApiError`] turned into a response. The rate limits are governor's (GCRA per client), and
//! media types are parsed with `mime`. The graphql-http audit (`api/audit/`) checks all of it.

use crate::error::{ApiError, Code, GRAPHQL_RESPONSE, JSON};
use crate::gql::{Caller, DairaSchema};
use crate::metrics::{Operation, WebSocketGuard};
use crate::{State, ws};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State as AxumState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The limits of a server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest request body, in bytes.
    pub body_bytes: usize,
    /// The most operations in one HTTP batch.
    pub batch_max: usize,
    /// How long a request may run.
    pub request_timeout: Duration,
    /// Requests per second allowed per IP address (0: no limit).
    pub per_ip_per_sec: f64,
    /// Requests per second allowed per session token (0: no limit).
    pub per_token_per_sec: f64,
    /// How many requests a client may make at once above its rate, as seconds of its rate.
    pub burst_seconds: f64,
    /// The most WebSocket connections open at once.
    pub websockets_max: u64,
    /// The most WebSocket connections open at once from one address (IPv6: one /64).
    pub websockets_per_ip: usize,
    /// The most WebSocket connections open at once signed in to one account.
    pub websockets_per_user: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes: 1 << 20,
            batch_max: 10,
            request_timeout: Duration::from_secs(10),
            per_ip_per_sec: 200.0,
            per_token_per_sec: 50.0,
            burst_seconds: 2.0,
            websockets_max: 10_000,
            websockets_per_ip: 64,
            websockets_per_user: 32,
        }
    }
}

/// A WebSocket's read buffer.
const WS_READ_BUFFER: usize = 4096;
/// The largest WebSocket message (and frame) a client may send.
const WS_MESSAGE_MAX: usize = 64 << 10;

/// The explorer and its vendored assets (GraphiQL; nothing is fetched from elsewhere).
const EXPLORER: &str = include_str!("../assets/graphiql.html");
const ASSETS: [(&str, &str, &[u8]); 5] = [
    ("graphiql.min.js", "text/javascript", include_bytes!("../assets/graphiql.min.js")),
    ("graphiql.min.css", "text/css", include_bytes!("../assets/graphiql.min.css")),
    ("react.production.min.js", "text/javascript", include_bytes!("../assets/react.production.min.js")),
    ("react-dom.production.min.js", "text/javascript", include_bytes!("../assets/react-dom.production.min.js")),
    ("graphql-ws.min.js", "text/javascript", include_bytes!("../assets/graphql-ws.min.js")),
];

/// Who a rate limit counts requests of.
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
enum Key {
    Ip(IpAddr),
    Token([u8; 16]),
}

/// The most clients a limiter remembers; beyond it, those whose allowance is full again are
/// forgotten.
const BUCKETS_MAX: usize = 100_000;

/// One rate limit over many clients: governor's GCRA (a token bucket's behaviour, one
/// timestamp per client), `rate` requests per second with a burst of `rate × burst_seconds`.
struct Limit {
    limiter: RateLimiter<Key, HashMapStateStore<Key>, DefaultClock, StateInformationMiddleware>,
    burst: u32,
    rate: f64,
}

/// What a rate limit said.
#[derive(Clone, Debug)]
struct Verdict {
    allowed: bool,
    limit: u64,
    remaining: u64,
    reset_secs: u64,
}

impl Limit {
    /// A limit of `rate` requests per second (None when the rate is 0: no limit).
    fn new(rate: f64, burst_seconds: f64) -> Option<Limit> {
        if !(rate > 0.0 && rate.is_finite()) {
            return None;
        }
        let burst = (rate * burst_seconds).max(1.0).min(f64::from(u32::MAX)) as u32;
        let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?);
        let limiter: RateLimiter<Key, HashMapStateStore<Key>, DefaultClock> =
            RateLimiter::new(quota, HashMapStateStore::default(), DefaultClock::default());
        let limiter = limiter.with_middleware::<StateInformationMiddleware>();
        Some(Limit { limiter, burst, rate })
    }

    /// Takes `n` requests' worth from `key`'s allowance (all or nothing).
    fn take(&self, key: Key, n: u32) -> Verdict {
        if self.limiter.len() >= BUCKETS_MAX {
            self.limiter.retain_recent();
        }
        let Some(cells) = NonZeroU32::new(n) else {
            return Verdict {
                allowed: true,
                limit: u64::from(self.burst),
                remaining: u64::from(self.burst),
                reset_secs: 0,
            };
        };
        let checked = match self.limiter.check_key_n(&key, cells) {
            Ok(checked) => checked,
            // More than a whole burst: never allowed, however long one waits.
            Err(_) => {
                return Verdict {
                    allowed: false,
                    limit: u64::from(self.burst),
                    remaining: 0,
                    reset_secs: (f64::from(self.burst) / self.rate).ceil().max(1.0) as u64,
                };
            }
        };
        match checked {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Verdict {
                    allowed: true,
                    limit: u64::from(self.burst),
                    remaining: u64::from(remaining),
                    reset_secs: (f64::from(self.burst - remaining.min(self.burst)) / self.rate).ceil() as u64,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Verdict {
                    allowed: false,
                    limit: u64::from(self.burst),
                    remaining: 0,
                    reset_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
            }
        }
    }
}

/// The server's rate limits: per client IP, and per session token; kept in Redis for every
/// replica at once when `shared` is set (see [`crate::ratelimit`]), in this process otherwise.
struct Limiter {
    per_ip: Option<Limit>,
    per_token: Option<Limit>,
    shared: Option<Arc<crate::ratelimit::SharedLimits>>,
    /// When Redis's last failure was logged (ms since the Unix epoch): once in 10 s at most.
    warned_ms: std::sync::atomic::AtomicI64,
}

impl Limiter {
    /// Takes `n` requests from `key`'s allowance under `limit`: from the replicas' shared
    /// allowance when there is one (this process's own if Redis fails), else from this
    /// process's.
    async fn take(&self, limit: &Limit, key: Key, n: u32, metrics: &crate::metrics::Metrics) -> Verdict {
        if let Some(shared) = &self.shared
            && n > 0
        {
            let (scope, name) = match key {
                Key::Ip(ip) => ("ip", ip.to_string()),
                Key::Token(t) => ("token", t.iter().map(|b| format!("{b:02x}")).collect()),
            };
            let burst = u64::from(limit.burst);
            match shared.take(scope, &name, limit.rate, limit.burst, n).await {
                Ok(taken) if taken.allowed => {
                    let remaining = taken.remaining.min(burst);
                    return Verdict {
                        allowed: true,
                        limit: burst,
                        remaining,
                        reset_secs: ((burst - remaining) as f64 / limit.rate).ceil() as u64,
                    };
                }
                Ok(taken) => {
                    return Verdict {
                        allowed: false,
                        limit: burst,
                        remaining: 0,
                        reset_secs: (taken.wait_us as f64 / 1e6).ceil().max(1.0) as u64,
                    };
                }
                Err(e) => {
                    metrics.redis_error();
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    let last = self.warned_ms.load(std::sync::atomic::Ordering::Relaxed);
                    if now - last >= 10_000 {
                        self.warned_ms.store(now, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!(error = %e, "shared rate limits (Redis) failed: this replica's own limits judge meanwhile");
                    }
                }
            }
        }
        limit.take(key, n)
    }
}

#[derive(Clone)]
struct App {
    state: Arc<State>,
    schema: DairaSchema,
    /// The same schema with error classification, for WebSockets.
    ws_schema: DairaSchema,
    limits: Arc<Limits>,
    limiter: Arc<Limiter>,
    /// WebSockets per address.
    sockets_per_ip: crate::listen::Gate<IpAddr>,
    /// WebSockets per account.
    sockets_per_user: crate::listen::Gate<schema::Id>,
}

/// The server's routes.
/// The server's routes: the public ones, and the operator's (`/healthz`, `/metrics`). With
/// `admin_apart` the operator's are only on the second router (served on `--admin-listen`);
/// without it the public router holds them too.
pub fn router(
    state: Arc<State>,
    schema: DairaSchema,
    ws_schema: DairaSchema,
    limits: Limits,
    admin_apart: bool,
    shared_limits: Option<Arc<crate::ratelimit::SharedLimits>>,
) -> (Router, Router) {
    let limiter = Limiter {
        per_ip: Limit::new(limits.per_ip_per_sec, limits.burst_seconds),
        per_token: Limit::new(limits.per_token_per_sec, limits.burst_seconds),
        shared: shared_limits,
        warned_ms: std::sync::atomic::AtomicI64::new(0),
    };
    let total = usize::try_from(limits.websockets_max).unwrap_or(usize::MAX);
    let sockets_per_ip = crate::listen::Gate::new(total, limits.websockets_per_ip);
    let sockets_per_user = crate::listen::Gate::new(total, limits.websockets_per_user);
    let app = App {
        state,
        schema,
        ws_schema,
        limits: Arc::new(limits),
        limiter: Arc::new(limiter),
        sockets_per_ip,
        sockets_per_user,
    };
    let admin = || Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics));
    let mut public = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(websocket))
        .route("/graphql/assets/{file}", get(asset))
        .route("/.well-known/daira-signing-key", get(signing_key))
        .route("/console", get(crate::console::index))
        .route("/console/", get(crate::console::index))
        .route("/console/{*path}", get(crate::console::route));
    if !admin_apart {
        public = public.merge(admin());
    }
    (public.fallback(not_found).with_state(app.clone()), admin().fallback(not_found).with_state(app))
}

/// The 406 for an `Accept` that allows neither media type.
fn not_acceptable() -> ApiError {
    ApiError::new(Code::BadUserInput, "Accept must allow application/graphql-response+json or application/json")
        .status(StatusCode::NOT_ACCEPTABLE)
}

/// A 400 for a body that is not a GraphQL request.
fn bad_request(media: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadUserInput, message).media(media)
}

/// The media type to answer with, from `Accept` (None when neither is acceptable): the
/// highest quality wins; `application/graphql-response+json` when it ties with
/// `application/json`; `application/json` for a missing header and for wildcards (the
/// GraphQL-over-HTTP specification's SHOULD, for clients that predate the new type).
fn negotiate(headers: &HeaderMap) -> Option<&'static str> {
    let mut best: Option<(&'static str, f32)> = None;
    let mut any = false;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',').filter(|r| !r.trim().is_empty()) {
            any = true;
            // A range that does not parse is ignored, as RFC 9110 lets a server do.
            let Ok(range) = range.trim().parse::<mime::Mime>() else { continue };
            let q = range.get_param("q").and_then(|q| q.as_str().parse::<f32>().ok()).unwrap_or(1.0);
            let candidate = match (range.type_(), range.subtype(), range.suffix()) {
                (mime::APPLICATION, sub, Some(mime::JSON)) if sub == "graphql-response" => {
                    (GRAPHQL_RESPONSE, q + 0.001)
                }
                (mime::APPLICATION, mime::JSON, None) => (JSON, q),
                (mime::APPLICATION | mime::STAR, mime::STAR, _) => (JSON, q - 0.001),
                _ => continue,
            };
            if candidate.1 > 0.0 && best.is_none_or(|(_, b)| candidate.1 > b) {
                best = Some(candidate);
            }
        }
    }
    if !any {
        return Some(JSON);
    }
    best.map(|(media, _)| media)
}

/// Why a `Content-Type` is not one a GraphQL request may have, if it is not: JSON in UTF-8.
fn content_type_problem(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let fine = raw.parse::<mime::Mime>().is_ok_and(|m| {
        m.essence_str() == JSON && m.get_param(mime::CHARSET).is_none_or(|c| c.as_str().eq_ignore_ascii_case("utf-8"))
    });
    (!fine)
        .then(|| format!("Content-Type must be application/json (got {:?})", raw.chars().take(64).collect::<String>()))
}

/// The client's address as the limits key it: the peer's IPv4 address, or the /64 of its IPv6
/// one (one subscriber's line holds a whole /64, so a per-address limit would be no limit). A
/// proxy in front must do its own per-client limits.
pub(crate) fn client_ip(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & (!0u128 << 64))),
        },
        v4 => v4,
    }
}

/// The caller named by `Authorization: Bearer <token>`: Ok(None) without the header, Err
/// with a 401 response for a token that opens no live session.
async fn authenticate(app: &App, headers: &HeaderMap, media: &'static str) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(Caller::default()) };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let unauthenticated = |message: &str| {
        ApiError::new(Code::Unauthenticated, message)
            .media(media)
            .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""))
    };
    let Some(token) = token else { return Err(unauthenticated("the Authorization header must be: Bearer <token>")) };
    match app.state.auth.session(token).await {
        Ok(Some(session)) => Ok(Caller { user: Some(session.user), token: Some(token.to_owned()) }),
        Ok(None) => Err(unauthenticated("the session token is expired, revoked or unknown: sign in again")),
        Err(e) => Err(ApiError::internal("session lookup", e).media(media)),
    }
}

/// Which allowances a charge is taken from.
#[derive(Clone, Copy)]
struct Charge<'a> {
    ip: Option<IpAddr>,
    token: Option<&'a str>,
    /// What is taken now.
    cost: u32,
    /// What the whole request costs (for the message).
    total: u32,
}

/// Takes a charge from the limits that apply: their verdicts, or the 429 (with the headers of
/// the tightest limit and `earlier`'s verdicts counted in).
async fn rate_limit(
    app: &App,
    charge: Charge<'_>,
    earlier: &[Verdict],
    media: &'static str,
) -> Result<Vec<Verdict>, ApiError> {
    let mut verdicts = Vec::new();
    let metrics = &app.state.metrics;
    if let (Some(ip), Some(limit)) = (charge.ip, &app.limiter.per_ip) {
        verdicts.push(app.limiter.take(limit, Key::Ip(ip), charge.cost, metrics).await);
    }
    if let (Some(token), Some(limit)) = (charge.token, &app.limiter.per_token) {
        verdicts.push(app.limiter.take(limit, Key::Token(token_key(token)), charge.cost, metrics).await);
    }
    if verdicts.iter().all(|v| v.allowed) {
        return Ok(verdicts);
    }
    app.state.metrics.throttled();
    let all: Vec<Verdict> = earlier.iter().cloned().chain(verdicts).collect();
    let headers = rate_headers(&all);
    let reset = all.iter().filter(|v| !v.allowed).map(|v| v.reset_secs).max().unwrap_or(1);
    let message = if charge.total > 1 {
        let total = charge.total;
        format!("this request costs {total} (one per operation, one per mutation field): retry in {reset} s")
    } else {
        format!("too many requests: retry in {reset} s")
    };
    Err(ApiError::new(Code::Throttled, message)
        .media(media)
        .headers(headers)
        .header(header::RETRY_AFTER, HeaderValue::from(reset)))
}

/// The `RateLimit-*` headers of the tightest of the limits that were checked.
fn rate_headers(verdicts: &[Verdict]) -> Vec<(HeaderName, HeaderValue)> {
    let Some(tightest) = verdicts.iter().min_by_key(|v| (v.allowed, v.remaining)) else { return Vec::new() };
    vec![
        (HeaderName::from_static("ratelimit-limit"), HeaderValue::from(tightest.limit)),
        (HeaderName::from_static("ratelimit-remaining"), HeaderValue::from(tightest.remaining)),
        (HeaderName::from_static("ratelimit-reset"), HeaderValue::from(tightest.reset_secs)),
    ]
}

/// Who is asking, and whether they may: the caller and the limits' verdicts, or the 401 or
/// 429 response.
async fn admit(
    app: &App,
    peer: SocketAddr,
    headers: &HeaderMap,
    media: &'static str,
) -> Result<(Caller, Vec<Verdict>), ApiError> {
    // The IP's limit first, before any session lookup: a flood of made-up tokens costs the
    // account store nothing.
    let ip = client_ip(peer);
    let mut verdicts = rate_limit(app, Charge { ip: Some(ip), token: None, cost: 1, total: 1 }, &[], media).await?;
    let caller = authenticate(app, headers, media).await?;
    if let Some(token) = caller.token.as_deref() {
        let charge = Charge { ip: None, token: Some(token), cost: 1, total: 1 };
        verdicts.extend(rate_limit(app, charge, &verdicts, media).await?);
    }
    Ok((caller, verdicts))
}

/// A GraphQL request decoded from JSON, or why it is not one: an object whose `query` is a
/// string, whose `operationName` is a string and whose `variables` and `extensions` are
/// objects — each of the last three may also be null or missing.
fn decode(value: Value) -> Result<async_graphql::Request, String> {
    let Value::Object(mut map) = value else {
        return Err("a GraphQL request is a JSON object with a \"query\"".into());
    };
    match map.get("query") {
        Some(Value::String(_)) => {}
        Some(Value::Null) | None => return Err("the request has no \"query\"".into()),
        Some(_) => return Err("\"query\" must be a string".into()),
    }
    for (key, object) in [("operationName", false), ("variables", true), ("extensions", true)] {
        match map.get(key) {
            None => {}
            Some(Value::Null) => {
                map.remove(key);
            }
            Some(Value::Object(_)) if object => {}
            Some(Value::String(_)) if !object => {}
            Some(_) => {
                return Err(format!("\"{key}\" must be {}", if object { "an object" } else { "a string" }));
            }
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| format!("not a GraphQL request: {e}"))
}

/// The kind of the operation a document would run (None when the name matches none: execution
/// says why).
fn operation_type(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.iter().find(|(n, _)| n.as_str() == name).map(|(_, op)| op.node.ty)
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
        _ => None,
    }
}

/// What an operation costs against the rate limits: one, or for a mutation one per root field
/// (aliases, inline fragments and fragment spreads followed), so that a batch of 10 mutations
/// of 100 aliases each costs 1,000, as 1,000 requests would.
pub(crate) fn operation_cost(doc: &ExecutableDocument, name: Option<&str>) -> u32 {
    let operation = match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.iter().find(|(n, _)| n.as_str() == name).map(|(_, op)| op)
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        _ => None,
    };
    let Some(operation) = operation.filter(|op| op.node.ty == OperationType::Mutation) else { return 1 };
    fn roots(doc: &ExecutableDocument, set: &SelectionSet, depth: u32) -> u32 {
        if depth > 16 {
            return 0; // a fragment cycle: validation refuses the document
        }
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(_) => 1,
                Selection::InlineFragment(f) => roots(doc, &f.node.selection_set.node, depth + 1),
                Selection::FragmentSpread(spread) => doc
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map_or(0, |f| roots(doc, &f.node.selection_set.node, depth + 1)),
            })
            .fold(0u32, u32::saturating_add)
    }
    roots(doc, &operation.node.selection_set.node, 0).max(1)
}

/// The most fields one document may select (aliases included; fragments counted once where
/// they are defined — the complexity limit prices their every use).
pub const FIELDS_MAX: usize = 1_000;

/// How many fields a document selects, over its operations and fragments.
fn count_fields(doc: &ExecutableDocument) -> usize {
    fn count(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => 1 + count(&field.node.selection_set.node),
                Selection::InlineFragment(fragment) => count(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = doc.operations.iter().map(|(_, op)| count(&op.node.selection_set.node)).sum();
    operations + doc.fragments.values().map(|f| count(&f.node.selection_set.node)).sum::<usize>()
}

/// Gives every error a code and strips internal detail: an error without a code is a
/// request error (validation) when nothing executed, else an internal one. Returns the
/// response's JSON and whether it is a request error (which has no "data" at all).
fn finish(mut response: async_graphql::Response) -> (Vec<u8>, bool) {
    let executed =
        !matches!(response.data, async_graphql::Value::Null) || response.errors.iter().any(|e| !e.path.is_empty());
    let mut request_error = false;
    for e in &mut response.errors {
        let code = e.extensions.as_ref().and_then(|x| x.get("code")).and_then(|c| match c {
            async_graphql::Value::String(s) => Some(s.clone()),
            async_graphql::Value::Enum(s) => Some(s.to_string()),
            _ => None,
        });
        let code = match code {
            Some(code) => code,
            None if !executed => {
                let ext = e.extensions.get_or_insert_with(Default::default);
                ext.set("code", Code::GraphqlValidationFailed.as_str());
                Code::GraphqlValidationFailed.as_str().to_owned()
            }
            // A value that does not fit its input type (a null where one is required, say):
            // the client's mistake, said in the client's terms.
            None if e.message.contains("(occurred while parsing") || e.message.starts_with("Failed to parse") => {
                let ext = e.extensions.get_or_insert_with(Default::default);
                ext.set("code", Code::BadUserInput.as_str());
                Code::BadUserInput.as_str().to_owned()
            }
            None => {
                tracing::error!(detail = %e.message, "resolver");
                e.message = "internal error".into();
                let ext = e.extensions.get_or_insert_with(Default::default);
                ext.set("code", Code::InternalServerError.as_str());
                Code::InternalServerError.as_str().to_owned()
            }
        };
        if code == Code::GraphqlParseFailed.as_str() || code == Code::GraphqlValidationFailed.as_str() {
            request_error = true;
        }
    }
    let request_error = request_error && !executed;
    let body = if request_error {
        serde_json::to_vec(&json!({ "errors": response.errors }))
    } else {
        serde_json::to_vec(&response)
    };
    (
        body.unwrap_or_else(|_| {
            br#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_vec()
        }),
        request_error,
    )
}

/// A response body holding one request error.
fn request_error_body(message: &str, locations: Option<&[async_graphql::Pos]>, code: Code) -> Vec<u8> {
    let mut body = ApiError::new(code, message).response_json();
    if let Some(locations) = locations {
        body["errors"][0]["locations"] = json!(locations);
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Runs requests (one, or a batch) under the deadline, once the limits have been charged what
/// they cost (admission charged one already).
async fn run(
    app: &App,
    peer: SocketAddr,
    caller: Caller,
    mut requests: Vec<async_graphql::Request>,
    batch: bool,
    media: &'static str,
    mut verdicts: Vec<Verdict>,
) -> Response {
    let cost: u32 = requests
        .iter_mut()
        .map(|r| {
            let name = r.operation_name.clone();
            r.parsed_query().map_or(1, |doc| operation_cost(doc, name.as_deref()))
        })
        .fold(0u32, u32::saturating_add);
    if cost > 1 {
        let charge = Charge { ip: Some(client_ip(peer)), token: caller.token.as_deref(), cost: cost - 1, total: cost };
        match rate_limit(app, charge, &verdicts, media).await {
            Ok(more) => verdicts.extend(more),
            Err(e) => return e.into_response(),
        }
    }
    let extra = rate_headers(&verdicts);
    let work = async {
        let mut out = Vec::with_capacity(requests.len());
        let mut all_request_errors = true;
        for mut request in requests {
            // Parsed once, here: the executor uses this document.
            let name = request.operation_name.clone();
            let op = match request.parsed_query() {
                Ok(doc) => {
                    let fields = count_fields(doc);
                    if fields > FIELDS_MAX {
                        let message = format!("the query selects {fields} fields; at most {FIELDS_MAX}");
                        out.push(request_error_body(&message, None, Code::GraphqlValidationFailed));
                        app.state.metrics.errors(1);
                        continue;
                    }
                    operation_type(doc, name.as_deref())
                }
                Err(e) => {
                    out.push(request_error_body(&e.message, Some(&e.locations), Code::GraphqlParseFailed));
                    app.state.metrics.errors(1);
                    continue;
                }
            };
            let response = app.schema.execute(request.data(caller.clone())).await;
            app.state.metrics.errors(response.errors.len());
            if let Some(op) = op {
                app.state.metrics.operation(match op {
                    OperationType::Query => Operation::Query,
                    OperationType::Mutation => Operation::Mutation,
                    OperationType::Subscription => Operation::Subscription,
                });
            }
            let (value, request_error) = finish(response);
            all_request_errors &= request_error;
            out.push(value);
        }
        (out, all_request_errors)
    };
    use futures_util::FutureExt;
    let work = std::panic::AssertUnwindSafe(work).catch_unwind();
    let (mut out, request_error) = match tokio::time::timeout(app.limits.request_timeout, work).await {
        Ok(Ok(done)) => done,
        Ok(Err(panic)) => {
            let detail = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("panic");
            return ApiError::internal("request panicked", detail).media(media).into_response();
        }
        Err(_) => {
            let message =
                format!("the request took longer than {} s and was stopped", app.limits.request_timeout.as_secs());
            return ApiError::new(Code::InternalServerError, message)
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .media(media)
                .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
                .into_response();
        }
    };
    let status =
        if media == GRAPHQL_RESPONSE && request_error && !batch { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let body = if batch {
        let mut joined = Vec::with_capacity(out.iter().map(Vec::len).sum::<usize>() + out.len() + 2);
        joined.push(b'[');
        for (i, part) in out.iter().enumerate() {
            if i > 0 {
                joined.push(b',');
            }
            joined.extend_from_slice(part);
        }
        joined.push(b']');
        joined
    } else {
        out.pop().unwrap_or_default()
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    response.headers_mut().extend(extra);
    response
}

async fn graphql_post(
    AxumState(app): AxumState<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let response = post(&app, peer, request).await.unwrap_or_else(IntoResponse::into_response);
    app.state.metrics.request(response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

async fn post(app: &App, peer: SocketAddr, request: Request<Body>) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let media = negotiate(headers).ok_or_else(not_acceptable)?;
    if let Some(problem) = content_type_problem(headers) {
        return Err(ApiError::new(Code::BadUserInput, problem)
            .status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .media(media)
            .header(header::ACCEPT, HeaderValue::from_static(JSON)));
    }
    let too_large = || {
        ApiError::new(Code::BadUserInput, format!("the request body is larger than {} bytes", app.limits.body_bytes))
            .status(StatusCode::PAYLOAD_TOO_LARGE)
            .media(media)
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.limits.body_bytes as u64) {
        return Err(too_large());
    }
    let (caller, verdicts) = admit(app, peer, headers, media).await?;
    wait_min_seq(app, headers, media).await?;
    let bytes: Bytes = axum::body::to_bytes(body, app.limits.body_bytes).await.map_err(|_| too_large())?;
    // The common case: a well-formed request (or batch) straight from the bytes.
    if let Ok(parsed) = serde_json::from_slice::<async_graphql::BatchRequest>(&bytes) {
        let (requests, batch) = match parsed {
            async_graphql::BatchRequest::Single(r) => (vec![r], false),
            async_graphql::BatchRequest::Batch(rs) => (rs, true),
        };
        if (1..=app.limits.batch_max).contains(&requests.len()) && requests.iter().all(|r| !r.query.is_empty()) {
            return Ok(run(app, peer, caller, requests, batch, media, verdicts).await);
        }
    }
    // Anything else: find what is wrong, to say so.
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        bad_request(media, format!("the body is not JSON: {e} (line {}, column {})", e.line(), e.column()))
    })?;
    let (requests, batch) = match value {
        Value::Array(items) => {
            if items.is_empty() || items.len() > app.limits.batch_max {
                let message = format!("a batch holds 1 to {} operations (got {})", app.limits.batch_max, items.len());
                return Err(bad_request(media, message));
            }
            let requests = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| decode(item).map_err(|message| bad_request(media, format!("[{i}]: {message}"))))
                .collect::<Result<Vec<_>, _>>()?;
            (requests, true)
        }
        other => (vec![decode(other).map_err(|message| bad_request(media, message))?], false),
    };
    Ok(run(app, peer, caller, requests, batch, media, verdicts).await)
}

async fn graphql_get(
    AxumState(app): AxumState<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let (mut parts, _) = request.into_parts();
    let upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        return upgrade_websocket(&app, peer, &mut parts).await.unwrap_or_else(IntoResponse::into_response);
    }
    let response = get_query(&app, peer, &parts).await.unwrap_or_else(IntoResponse::into_response);
    app.state.metrics.request(response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

async fn get_query(app: &App, peer: SocketAddr, parts: &axum::http::request::Parts) -> Result<Response, ApiError> {
    let headers = &parts.headers;
    let Query(params) =
        Query::<HashMap<String, String>>::try_from_uri(&parts.uri).map_err(|e| bad_request(JSON, e.body_text()))?;
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|p| p.trim().starts_with("text/html")));
    if !params.contains_key("query") && wants_html {
        let mut response = EXPLORER.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        return Ok(response);
    }
    let media = negotiate(headers).ok_or_else(not_acceptable)?;
    let text = params.get("query").ok_or_else(|| bad_request(media, "a GET request needs a ?query= parameter"))?;
    let mut object = serde_json::Map::new();
    object.insert("query".into(), Value::String(text.clone()));
    if let Some(name) = params.get("operationName") {
        object.insert("operationName".into(), Value::String(name.clone()));
    }
    for key in ["variables", "extensions"] {
        if let Some(raw) = params.get(key) {
            let value = serde_json::from_str::<Value>(raw)
                .map_err(|e| bad_request(media, format!("{key} is not JSON: {e}")))?;
            object.insert(key.into(), value);
        }
    }
    let mut request = decode(Value::Object(object)).map_err(|message| bad_request(media, message))?;
    let name = request.operation_name.clone();
    if let Ok(doc) = request.parsed_query()
        && let Some(op) = operation_type(doc, name.as_deref())
        && op != OperationType::Query
    {
        return Err(bad_request(
            media,
            "GET runs queries only: send mutations with POST (subscriptions over WebSocket)",
        )
        .status(StatusCode::METHOD_NOT_ALLOWED)
        .header(header::ALLOW, HeaderValue::from_static("POST")));
    }
    let (caller, verdicts) = admit(app, peer, headers, media).await?;
    Ok(run(app, peer, caller, vec![request], false, media, verdicts).await)
}

async fn websocket(
    AxumState(app): AxumState<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (mut parts, _) = request.into_parts();
    upgrade_websocket(&app, peer, &mut parts).await.unwrap_or_else(IntoResponse::into_response)
}

/// Opens a GraphQL WebSocket (graphql-transport-ws or graphql-ws; see [`crate::ws`]); the
/// session token comes in `connection_init`'s payload.
async fn upgrade_websocket(
    app: &App,
    peer: SocketAddr,
    parts: &mut axum::http::request::Parts,
) -> Result<Response, ApiError> {
    // An upgrade is a request like any other for the per-IP limit.
    rate_limit(app, Charge { ip: Some(client_ip(peer)), token: None, cost: 1, total: 1 }, &[], JSON).await?;
    let offered = parts.headers.get_all(header::SEC_WEBSOCKET_PROTOCOL).iter().filter_map(|v| v.to_str().ok());
    let protocol = offered
        .into_iter()
        .find_map(ws::Protocol::negotiate)
        .ok_or_else(|| bad_request(JSON, "Sec-WebSocket-Protocol must be graphql-transport-ws or graphql-ws"))?;
    let (on_upgrade, accept) = websocket_handshake(parts)?;
    // The slots are taken now, so that concurrent handshakes cannot overshoot the caps.
    let ticket = app.sockets_per_ip.enter(client_ip(peer)).map_err(|full| {
        ApiError::new(Code::Throttled, format!("too many WebSocket connections: {full}"))
            .status(StatusCode::SERVICE_UNAVAILABLE)
    })?;
    if !app.state.metrics.websocket_open(app.limits.websockets_max) {
        return Err(
            ApiError::new(Code::Throttled, "too many WebSocket connections").status(StatusCode::SERVICE_UNAVAILABLE)
        );
    }
    let guard = WebSocketGuard(app.state.clone());
    let cx = app.ws_context();
    // A small read buffer: the default (128 KiB) is zeroed on every read attempt.
    let config = WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .max_message_size(Some(WS_MESSAGE_MAX))
        .max_frame_size(Some(WS_MESSAGE_MAX));
    tokio::spawn(async move {
        let (_guard, _ticket) = (guard, ticket);
        match on_upgrade.await {
            Ok(upgraded) => {
                let (incoming, outbox) = crate::socket::open(upgraded, config).await;
                ws::serve(incoming, outbox, protocol, cx).await;
            }
            Err(e) => tracing::debug!(error = %e, "a WebSocket upgrade failed"),
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .header(header::SEC_WEBSOCKET_PROTOCOL, protocol.name())
        .body(Body::empty())
        .expect("a valid response"))
}

/// The WebSocket handshake's request (RFC 6455 §4.2.1), checked: the connection's upgrade and
/// the `Sec-WebSocket-Accept` to answer with.
fn websocket_handshake(
    parts: &mut axum::http::request::Parts,
) -> Result<(hyper::upgrade::OnUpgrade, String), ApiError> {
    let lists = |name: HeaderName, token: &str| {
        parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !lists(header::CONNECTION, "upgrade") {
        return Err(bad_request(JSON, "a WebSocket handshake needs `Connection: upgrade`"));
    }
    if !lists(header::UPGRADE, "websocket") {
        return Err(bad_request(JSON, "a WebSocket handshake needs `Upgrade: websocket`"));
    }
    if parts.headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err(bad_request(JSON, "Sec-WebSocket-Version must be 13"));
    }
    let key = parts
        .headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| bad_request(JSON, "a WebSocket handshake needs Sec-WebSocket-Key"))?;
    let accept = crate::socket::accept_key(key.as_bytes());
    let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>().ok_or_else(|| {
        ApiError::new(Code::BadUserInput, "this connection cannot be upgraded").status(StatusCode::UPGRADE_REQUIRED)
    })?;
    Ok((on_upgrade, accept))
}

impl App {
    /// What a WebSocket session needs: sign-in with a session token, and the per-token rate
    /// limit for each operation it starts.
    fn ws_context(&self) -> ws::Context {
        let (signer, limiter) = (self.clone(), self.clone());
        ws::Context {
            state: self.state.clone(),
            schema: self.ws_schema.clone(),
            request_timeout: self.limits.request_timeout,
            per_user: self.sockets_per_user.clone(),
            sign_in: Arc::new(move |token: String| {
                let app = signer.clone();
                Box::pin(async move {
                    match app.state.auth.session(&token).await {
                        Ok(Some(session)) => {
                            Ok((Caller { user: Some(session.user), token: Some(token) }, session.expires_ms))
                        }
                        Ok(None) => Err("the session token is expired, revoked or unknown".to_owned()),
                        Err(e) => Err(ApiError::internal("session lookup", e).message),
                    }
                })
            }),
            admit: Arc::new(move |caller: &Caller, cost: u32| {
                let (app, token) = (limiter.clone(), caller.token.clone());
                Box::pin(async move {
                    match (&token, &app.limiter.per_token) {
                        (Some(token), Some(limit)) => {
                            let key = Key::Token(token_key(token));
                            let verdict = app.limiter.take(limit, key, cost, &app.state.metrics).await;
                            if verdict.allowed { Ok(()) } else { Err(verdict.reset_secs) }
                        }
                        _ => Ok(()),
                    }
                })
            }),
        }
    }
}

/// A session token's key in the rate limiter.
fn token_key(token: &str) -> [u8; 16] {
    let mut key = [0u8; 16];
    key.copy_from_slice(&blake3::hash(token.as_bytes()).as_bytes()[..16]);
    key
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, media, bytes)) => {
            let mut response = Bytes::from_static(bytes).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
            response
        }
        None => ApiError::new(Code::NotFound, "no such asset").into_response(),
    }
}

/// The header that asks for read-your-writes across replicas: answer once this replica has
/// applied the given log sequence number (a mutation's `seq`, from whichever replica took it).
pub const MIN_SEQ_HEADER: &str = "x-daira-min-seq";
/// How long a request asking for a log sequence number waits for this replica to apply it.
pub const MIN_SEQ_WAIT: Duration = Duration::from_secs(5);

/// Waits until this replica has applied the log sequence number `X-Daira-Min-Seq` asks for:
/// a bad number is 400, one not applied within [`MIN_SEQ_WAIT`] is 503 (`REPLICA_BEHIND`).
async fn wait_min_seq(app: &App, headers: &HeaderMap, media: &'static str) -> Result<(), ApiError> {
    let Some(value) = headers.get(MIN_SEQ_HEADER) else { return Ok(()) };
    let seq = value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).ok_or_else(|| {
        bad_request(media, "X-Daira-Min-Seq must be a log sequence number (a mutation's seq)".to_owned())
    })?;
    min_seq(&app.state, seq).await.map_err(|e| e.media(media))
}

/// Waits until the engine has applied `seq`, or says it has not (503, `REPLICA_BEHIND`).
pub(crate) async fn min_seq(state: &State, seq: u64) -> Result<(), ApiError> {
    if state.engine.applied_seq() >= seq || state.engine.wait_applied(seq, MIN_SEQ_WAIT).await {
        return Ok(());
    }
    state.metrics.replica_behind();
    Err(ApiError::new(
        Code::ReplicaBehind,
        format!(
            "this replica has applied the log through {} and not {seq} within {} s: retry, or ask another replica",
            state.engine.applied_seq(),
            MIN_SEQ_WAIT.as_secs()
        ),
    )
    .status(StatusCode::SERVICE_UNAVAILABLE)
    .header(header::RETRY_AFTER, HeaderValue::from_static("1")))
}

async fn healthz(AxumState(app): AxumState<App>, Query(params): Query<HashMap<String, String>>) -> Response {
    let (graph_seq, state_hash) = {
        let graph = app.state.engine.read();
        let hash = params.contains_key("hash").then(|| graph_engine::log::hex(&graph.state_hash()));
        (graph.position().seq, hash)
    };
    // The log's head, and how far this replica is behind it (0 for a single writer).
    let head = graph_engine::log::LogReader::head(app.state.engine.log()).await.map(|h| h.seq).ok();
    let writer = app.state.engine.writer_stats();
    let body = json!({
        "status": "ok",
        "log_seq": graph_seq,
        "log_head": head,
        "lag": head.map(|h| h.saturating_sub(graph_seq)),
        "replica_id": app.state.replica_id,
        "epoch_leader": app.state.epoch_leader.as_ref().map(|l| l.load(std::sync::atomic::Ordering::Acquire)),
        "follows": app.state.engine.follows(),
        "conflicts": writer.conflicts,
        "state_hash": state_hash,
        "epoch": app.state.epochs.latest().map(|e| e.number),
        "search_seq": app.state.index.stamp().map(|s| s.seq),
    });
    ([(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
}

async fn metrics(AxumState(app): AxumState<App>) -> Response {
    let text = app.state.metrics.render(&app.state);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// The public key that checks signed exports, base64 of its 32 bytes.
async fn signing_key(AxumState(app): AxumState<App>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], app.state.keys.public_key()).into_response()
}

async fn not_found() -> Response {
    ApiError::new(Code::NotFound, "no such route: the API is at /graphql").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_key_an_ipv6_client_by_its_64() {
        let key = |addr: &str| client_ip(addr.parse().unwrap());
        assert_eq!(key("[2001:db8:1:2:aaaa::1]:443"), key("[2001:db8:1:2:ffff:ffff:ffff:ffff]:80"));
        assert_ne!(key("[2001:db8:1:2::1]:443"), key("[2001:db8:1:3::1]:443"));
        assert_eq!(key("[2001:db8:1:2::1]:443").to_string(), "2001:db8:1:2::");
        assert_eq!(key("[::ffff:10.1.2.3]:80").to_string(), "10.1.2.3");
        assert_eq!(key("10.1.2.3:80").to_string(), "10.1.2.3");
    }

    #[test]
    fn a_mutation_costs_one_per_root_field_and_a_query_one() {
        let cost = |q: &str, name: Option<&str>| operation_cost(&async_graphql::parser::parse_query(q).unwrap(), name);
        assert_eq!(cost("{ a b c }", None), 1);
        assert_eq!(cost("mutation { a: f b: f c: f }", None), 3);
        assert_eq!(cost("mutation { ...F ... on Mutation { g h } } fragment F on Mutation { x y z }", None), 5);
        assert_eq!(cost("query Q { a } mutation M { a b }", Some("M")), 2);
        assert_eq!(cost("subscription { s }", None), 1);
    }
}
