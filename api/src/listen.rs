//! The accept loop: HTTP/1.1 over hyper, with what a server facing the internet needs before
//! any request is read.
//!
//! - **Slowloris.** A request's headers must arrive within `header_timeout` (10 s), or the
//!   connection is closed; its body must arrive within the request timeout (the handler's).
//! - **Connection caps.** At most `connections_max` connections at once, and at most
//!   `connections_per_ip` from one address (an IPv6 client's /64). One more is answered `503`
//!   with a `THROTTLED` error and `Retry-After`, and closed. A WebSocket stops counting here once
//!   upgraded; sockets have their own caps.
//! - **Shutdown.** On the signal, no new connection is accepted, idle ones close, and requests
//!   in flight finish (for up to `drain`).

use crate::error::{ApiError, Code};
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service;

/// The accept loop's limits.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// How long a request's headers may take to arrive.
    pub header_timeout: Duration,
    /// The most connections open at once.
    pub connections_max: usize,
    /// The most connections open at once from one address (IPv6: one /64).
    pub connections_per_ip: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits { header_timeout: Duration::from_secs(10), connections_max: 10_000, connections_per_ip: 256 }
    }
}

/// Things open at once (connections, sockets), in all and per key (an address, an account),
/// with a cap on each. Cheap to clone: clones share the counts.
#[derive(Clone, Debug)]
pub struct Gate<K: Eq + Hash + Clone> {
    open: Arc<Mutex<Open<K>>>,
    total_max: usize,
    per_key_max: usize,
}

#[derive(Debug)]
struct Open<K> {
    total: usize,
    per_key: HashMap<K, usize>,
}

/// A place behind a [`Gate`], given back when dropped.
#[derive(Debug)]
pub struct Ticket<K: Eq + Hash + Clone> {
    open: Arc<Mutex<Open<K>>>,
    key: K,
}

/// Why a gate refused: which cap was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The cap over all keys.
    Total(usize),
    /// The cap for one key.
    Key(usize),
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Full::Total(n) => write!(f, "the server holds its most ({n}); retry shortly"),
            Full::Key(n) => write!(f, "at most {n} at once from your address or account"),
        }
    }
}

impl<K: Eq + Hash + Clone> Gate<K> {
    /// A gate letting at most `total_max` through at once, `per_key_max` of them per key.
    pub fn new(total_max: usize, per_key_max: usize) -> Gate<K> {
        Gate { open: Arc::new(Mutex::new(Open { total: 0, per_key: HashMap::new() })), total_max, per_key_max }
    }

    /// A place for one more under `key`, or which cap is reached.
    pub fn enter(&self, key: K) -> Result<Ticket<K>, Full> {
        let mut open = self.open.lock();
        if open.total >= self.total_max {
            return Err(Full::Total(self.total_max));
        }
        let mine = open.per_key.entry(key.clone()).or_default();
        if *mine >= self.per_key_max {
            return Err(Full::Key(self.per_key_max));
        }
        *mine += 1;
        open.total += 1;
        Ok(Ticket { open: self.open.clone(), key })
    }

    /// How many are through now.
    pub fn len(&self) -> usize {
        self.open.lock().total
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Eq + Hash + Clone> Drop for Ticket<K> {
    fn drop(&mut self) {
        let mut open = self.open.lock();
        open.total -= 1;
        if let Some(n) = open.per_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.per_key.remove(&self.key);
            }
        }
    }
}

/// Answers a connection over the caps with a 503, and closes it.
async fn refuse(mut tcp: TcpStream, message: String) {
    let body = ApiError::new(Code::Throttled, message).response_json().to_string();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let write = async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(body.as_bytes()).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// Serves `app` on `listener` until `stop` turns true; then drains for up to `drain`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let gate: Gate<IpAddr> = Gate::new(limits.connections_max, limits.connections_per_ip);
    let (closing, closing_rx) = watch::channel(false);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait, rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { stop.wait_for(|&s| s).await.map(|_| ()) } => break,
        };
        let slot = match gate.enter(crate::http::client_ip(peer)) {
            Ok(slot) => slot,
            Err(full) => {
                let message = format!("too many connections: {full}");
                tracing::warn!(peer = %peer.ip(), "{message}");
                tokio::spawn(refuse(tcp, message));
                continue;
            }
        };
        // No Nagle delay: responses and subscription events are small and latency matters.
        let _ = tcp.set_nodelay(true);
        let router = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let mut closing = closing_rx.clone();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = async { closing.wait_for(|&c| c).await.map(|_| ()) } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let deadline = tokio::time::Instant::now() + drain;
    while !gate.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_cap_in_all_and_per_key_and_take_back_what_closes() {
        let gate: Gate<IpAddr> = Gate::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = gate.enter(a).unwrap();
        let _second = gate.enter(a).unwrap();
        assert_eq!(gate.enter(a).unwrap_err(), Full::Key(2));
        let _third = gate.enter(b).unwrap();
        assert_eq!(gate.enter(b).unwrap_err(), Full::Total(3));
        drop(first);
        let again = gate.enter(a).unwrap();
        assert_eq!(gate.len(), 3);
        drop(again);
        assert_eq!(gate.len(), 2);
        assert_eq!(gate.open.lock().per_key[&a], 1);
    }
}
