//! Counters for `/metrics`, in Prometheus' text format.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds of the duration histograms, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Durations, counted by [`BUCKETS`].
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    micros: AtomicU64,
}

impl Histogram {
    /// Counts one that took `seconds`.
    pub fn observe(&self, seconds: f64) {
        let bucket = BUCKETS.iter().position(|&b| seconds <= b).unwrap_or(BUCKETS.len());
        self.counts[bucket].fetch_add(1, Relaxed);
        self.micros.fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    /// The histogram `name` in the text exposition (cumulative buckets, sum, count).
    fn render(&self, out: &mut String, name: &str, help: &str) {
        family(out, name, "histogram", help);
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[BUCKETS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {cumulative}", self.micros.load(Relaxed) as f64 / 1e6);
    }
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: [AtomicU64; 6],
    durations: Histogram,
    operations: [AtomicU64; 3],
    throttled: AtomicU64,
    replica_behind: AtomicU64,
    redis_errors: AtomicU64,
    mutations: AtomicU64,
    messages: AtomicU64,
    message_bytes: AtomicU64,
    subscriptions: AtomicU64,
    subscriptions_started: AtomicU64,
    websockets: AtomicU64,
    errors: AtomicU64,
}

/// Kinds of operation.
#[derive(Clone, Copy, Debug)]
pub enum Operation {
    /// A query.
    Query = 0,
    /// A mutation.
    Mutation = 1,
    /// A subscription.
    Subscription = 2,
}

/// Decrements the live subscription gauge when a stream ends.
pub struct SubscriptionGuard(pub Arc<crate::State>);

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        self.0.metrics.subscriptions.fetch_sub(1, Relaxed);
    }
}

/// Decrements the WebSocket gauge when a connection closes.
pub struct WebSocketGuard(pub Arc<crate::State>);

impl Drop for WebSocketGuard {
    fn drop(&mut self) {
        self.0.metrics.websockets.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    /// A request finished with `status` after `seconds`.
    pub fn request(&self, status: u16, seconds: f64) {
        let class = (status / 100).clamp(1, 5) as usize;
        self.requests[class].fetch_add(1, Relaxed);
        self.durations.observe(seconds);
    }

    /// An operation was executed.
    pub fn operation(&self, op: Operation) {
        self.operations[op as usize].fetch_add(1, Relaxed);
    }

    /// A request was refused by a rate limit.
    pub fn redis_error(&self) {
        self.redis_errors.fetch_add(1, Relaxed);
    }

    /// Counts a request refused because the replica had not applied its X-Daira-Min-Seq.
    pub fn replica_behind(&self) {
        self.replica_behind.fetch_add(1, Relaxed);
    }

    /// Counts a request refused by a rate limit.
    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Relaxed);
    }

    /// A mutation was committed.
    pub fn mutation_committed(&self) {
        self.mutations.fetch_add(1, Relaxed);
    }

    /// A direct message was stored (`bytes` of ciphertext).
    pub fn message_sent(&self, bytes: usize) {
        self.messages.fetch_add(1, Relaxed);
        self.message_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// A response carried errors.
    pub fn errors(&self, n: usize) {
        self.errors.fetch_add(n as u64, Relaxed);
    }

    /// A subscription stream started.
    pub fn subscription_started(&self) {
        self.subscriptions.fetch_add(1, Relaxed);
        self.subscriptions_started.fetch_add(1, Relaxed);
    }

    /// A WebSocket connection opened.
    /// Takes a WebSocket slot if fewer than `max` are open (a [`WebSocketGuard`] gives it back).
    pub fn websocket_open(&self, max: u64) -> bool {
        self.websockets.fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1)).is_ok()
    }

    /// Live WebSocket connections.
    pub fn websockets(&self) -> u64 {
        self.websockets.load(Relaxed)
    }

    /// The text exposition, with the engine's and the epochs' figures.
    pub fn render(&self, state: &crate::State) -> String {
        let mut out = String::with_capacity(4096);
        family(&mut out, "daira_http_requests_total", "counter", "HTTP requests by status class.");
        for (class, n) in self.requests.iter().enumerate().skip(1) {
            let _ = writeln!(out, "daira_http_requests_total{{class=\"{class}xx\"}} {}", n.load(Relaxed));
        }
        self.durations.render(&mut out, "daira_http_request_duration_seconds", "Time to answer an HTTP request.");
        state.hub.fan_outs.seconds.render(
            &mut out,
            "daira_subscription_fanout_seconds",
            "Time to write one result to every subscriber of a stream (what a socket cannot take at once is left to its own task).",
        );
        family(&mut out, "daira_graphql_operations_total", "counter", "GraphQL operations executed, by type.");
        for (i, name) in ["query", "mutation", "subscription"].iter().enumerate() {
            let _ =
                writeln!(out, "daira_graphql_operations_total{{type=\"{name}\"}} {}", self.operations[i].load(Relaxed));
        }
        let stats = state.engine.writer_stats();
        let (seq, vertices) = {
            let graph = state.engine.read();
            (graph.position().seq, graph.vertex_count())
        };
        let epoch = state.epochs.latest();
        // The economy's totals (public in `economy { … }` too; no account's own figures).
        let (transfers, pending, issued, listings, contracts) = {
            let graph = state.engine.read();
            let e = graph.economy();
            let pending: u64 = e.ledger.accounts.values().map(|a| a.debits_pending).sum();
            let open = e.listings.values().filter(|l| l.open).count();
            let active = e.contracts.values().filter(|c| c.status == schema::economy::Status::Active).count();
            (e.ledger.transfers.len(), pending, e.issued, open, active)
        };
        let figures: [(&str, &str, &str, f64); 30] = [
            ("daira_graphql_errors_total", "counter", "Errors in GraphQL responses.", self.errors.load(Relaxed) as f64),
            (
                "daira_throttled_total",
                "counter",
                "Requests refused by a rate limit.",
                self.throttled.load(Relaxed) as f64,
            ),
            ("daira_mutations_committed_total", "counter", "Mutations committed.", self.mutations.load(Relaxed) as f64),
            (
                "daira_messages_sent_total",
                "counter",
                "Direct messages stored (end-to-end encrypted envelopes).",
                self.messages.load(Relaxed) as f64,
            ),
            (
                "daira_message_bytes_total",
                "counter",
                "Ciphertext bytes of the direct messages stored.",
                self.message_bytes.load(Relaxed) as f64,
            ),
            ("daira_subscriptions", "gauge", "Live subscriptions.", self.subscriptions.load(Relaxed) as f64),
            (
                "daira_subscriptions_started_total",
                "counter",
                "Subscriptions started.",
                self.subscriptions_started.load(Relaxed) as f64,
            ),
            (
                "daira_subscription_streams",
                "gauge",
                "Subscription streams executing, each shared by the subscribers that ask the same.",
                state.hub.groups() as f64,
            ),
            (
                "daira_subscription_messages_total",
                "counter",
                "Subscription results written to sockets (or left in their outboxes) by the streams.",
                state.hub.fan_outs.messages.load(Relaxed) as f64,
            ),
            ("daira_websockets", "gauge", "Open WebSocket connections.", self.websockets.load(Relaxed) as f64),
            ("daira_writer_commands_total", "counter", "Commands the writer accepted.", stats.commands as f64),
            ("daira_writer_rejections_total", "counter", "Commands the rules refused.", stats.rejections as f64),
            ("daira_writer_group_commits_total", "counter", "Group commits written.", stats.commits as f64),
            ("daira_log_events_total", "counter", "Events appended to the log.", stats.events as f64),
            ("daira_log_head_seq", "gauge", "The graph's position in the log.", seq as f64),
            (
                "daira_replica_lag",
                "gauge",
                "Events other replicas appended (as announced) that this one has not applied yet.",
                state.engine.lag() as f64,
            ),
            (
                "daira_log_conflicts_total",
                "counter",
                "Group commits another replica appended ahead of, each decided again.",
                stats.conflicts as f64,
            ),
            (
                "daira_replica_followed_events_total",
                "counter",
                "Events other replicas appended, applied here.",
                stats.followed as f64,
            ),
            (
                "daira_replica_follow_seconds_total",
                "counter",
                "Time spent reading and applying other replicas' events.",
                stats.follow_ns as f64 / 1e9,
            ),
            (
                "daira_ratelimit_redis_errors_total",
                "counter",
                "Rate-limit charges Redis failed to take (this replica's own limits judged them).",
                self.redis_errors.load(Relaxed) as f64,
            ),
            (
                "daira_replica_behind_total",
                "counter",
                "Requests refused because this replica had not applied their X-Daira-Min-Seq in time.",
                self.replica_behind.load(Relaxed) as f64,
            ),
            ("daira_graph_vertices", "gauge", "Vertices in the graph.", vertices as f64),
            (
                "daira_epoch",
                "gauge",
                "The latest score epoch (0: none yet).",
                epoch.as_ref().map_or(0.0, |e| e.number as f64),
            ),
            ("daira_ledger_transfers", "gauge", "Transfers the ledger holds.", transfers as f64),
            (
                "daira_ledger_pending_piastres",
                "gauge",
                "Piastres reserved by pending transfers (escrow included).",
                pending as f64,
            ),
            ("daira_ledger_issued_piastres", "gauge", "Piastres the operator has issued.", issued as f64),
            ("daira_listings_open", "gauge", "Listings that still sell.", listings as f64),
            ("daira_contracts_active", "gauge", "Contracts with milestones in escrow.", contracts as f64),
            (
                "daira_lists_rebuilt_total",
                "counter",
                "Times the masks/worlds/works lists were rebuilt from the whole graph, not followed batch by batch.",
                state.caches.lists_rebuilt() as f64,
            ),
            (
                "daira_search_index_seq",
                "gauge",
                "The log position the search index covers.",
                state.index.stamp().map_or(0.0, |s| s.seq as f64),
            ),
        ];
        for (name, kind, help, value) in figures {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        if let Some(epoch) = epoch {
            family(&mut out, "daira_epoch_seconds", "gauge", "How long the latest epoch's jobs took.");
            let _ = writeln!(out, "daira_epoch_seconds {}", epoch.elapsed.as_secs_f64());
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}
