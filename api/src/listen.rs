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

/// Open connections, in all and per address.
#[derive(Default, Debug)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A connection's place among the open ones, given back when it closes.
#[derive(Debug)]
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock();
        open.total -= 1;
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

/// A place for a new connection from `ip`, or why there is none.
fn take_slot(open: &Arc<Mutex<Open>>, ip: IpAddr, limits: &ConnectionLimits) -> Result<Slot, String> {
    let mut guard = open.lock();
    if guard.total >= limits.connections_max {
        return Err(format!("the server holds its most connections ({}); retry shortly", limits.connections_max));
    }
    let mine = guard.per_ip.entry(ip).or_default();
    if *mine >= limits.connections_per_ip {
        return Err(format!("too many connections from your address (at most {})", limits.connections_per_ip));
    }
    *mine += 1;
    guard.total += 1;
    Ok(Slot { open: open.clone(), ip })
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
    let open = Arc::new(Mutex::new(Open::default()));
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
        let slot = match take_slot(&open, crate::http::client_ip(peer), &limits) {
            Ok(slot) => slot,
            Err(message) => {
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
    while open.lock().total > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_address_and_given_back() {
        let limits = ConnectionLimits { connections_max: 3, connections_per_ip: 2, ..ConnectionLimits::default() };
        let open = Arc::new(Mutex::new(Open::default()));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = take_slot(&open, a, &limits).unwrap();
        let _second = take_slot(&open, a, &limits).unwrap();
        assert!(take_slot(&open, a, &limits).unwrap_err().contains("your address"));
        let _third = take_slot(&open, b, &limits).unwrap();
        assert!(take_slot(&open, b, &limits).unwrap_err().contains("most connections"));
        drop(first);
        let again = take_slot(&open, a, &limits).unwrap();
        assert_eq!(open.lock().total, 3);
        drop(again);
        let after = open.lock();
        assert_eq!((after.total, after.per_ip[&a]), (2, 1));
    }
}
