//! The floor under subscription fan-out on this machine: threads write a 120-byte message to
//! each of N loopback TCP sockets (plain blocking writes, nothing else), and a one-thread tokio
//! runtime with one task per socket reads them, as `api_subscribers` does. Prints the
//! percentiles of write → read over M rounds, one every `PACE_MS` (default 50 ms), as
//! `api_subscribers`'s events. Whatever a server does on top of
//! this, it cannot beat it.
//!
//! The reading side is a second process (this binary again), as `api_subscribers` is beside a
//! server: one process may not hold both ends of 10,000 sockets under a 20,000-file limit.
//! Each message carries the moment its round began (microseconds since the Unix epoch; one
//! machine, one clock), and the reader measures from it. The reading sockets come from
//! 127.0.0.2 to 127.0.0.9 in turn, as `api_subscribers`'s do.
//!
//! ```text
//! cargo run --release -p benches --bin loopback_floor -- [N] [M]
//! ```

use benches::floor;
use std::io::{Read, Write};
use std::time::Duration;

/// The reading side: connects N sockets to `addr`, reads M messages on each (or until the
/// writer closes), and prints the write → read percentiles.
fn read_side(addr: std::net::SocketAddr, n: usize, rounds: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reads = runtime.block_on(async {
        let (tasks, reads) = floor::readers(addr, n, Some(rounds)).await;
        // Connected: tell the writer, then wait for every reader.
        println!("connected");
        std::io::stdout().flush().unwrap();
        for task in tasks {
            let _ = task.await;
        }
        reads
    });
    let mut latencies: Vec<f64> = std::mem::take(&mut *reads.lock()).into_iter().map(|(_, ms)| ms).collect();
    latencies.sort_by(f64::total_cmp);
    if latencies.is_empty() {
        println!("{n} sockets: nothing read");
        return;
    }
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "{n} sockets, {rounds} rounds, {} reads: write -> read ms p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        latencies.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        latencies[latencies.len() - 1]
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(1000, |a| a.parse().expect("N"));
    let rounds: usize = args.next().map_or(100, |a| a.parse().expect("M"));
    if let Ok(addr) = std::env::var("FLOOR_READ_FROM") {
        read_side(addr.parse().expect("FLOOR_READ_FROM is ip:port"), n, rounds);
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut reader = std::process::Command::new(std::env::current_exe().unwrap())
        .args([n.to_string(), rounds.to_string()])
        .env("FLOOR_READ_FROM", addr.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the reading side starts");
    let mut writers = Vec::with_capacity(n);
    for _ in 0..n {
        let (server, _) = listener.accept().unwrap();
        server.set_nodelay(true).unwrap();
        writers.push(server);
    }
    let mut out = reader.stdout.take().unwrap();
    let mut line = [0u8; 10];
    out.read_exact(&mut line).expect("the reader says it is connected");
    std::thread::sleep(Duration::from_millis(300));
    // WRITERS threads split the sockets between them, as a server's workers would.
    let threads: usize = std::env::var("WRITERS").ok().and_then(|t| t.parse().ok()).unwrap_or(1);
    let chunk = writers.len().div_ceil(threads);
    let mut parts: Vec<Vec<std::net::TcpStream>> = Vec::new();
    while !writers.is_empty() {
        let rest = writers.split_off(chunk.min(writers.len()));
        parts.push(std::mem::replace(&mut writers, rest));
    }
    let pace = Duration::from_millis(floor::pace_ms());
    let mut spans = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let message = floor::message();
        let began = std::time::Instant::now();
        std::thread::scope(|scope| {
            for part in &mut parts {
                scope.spawn(|| {
                    for socket in part.iter_mut() {
                        socket.write_all(&message).unwrap();
                    }
                });
            }
        });
        spans.push(began.elapsed().as_secs_f64() * 1e3);
        // The next round starts a pace after this one began, as api_subscribers's events do.
        std::thread::sleep((began + pace).saturating_duration_since(std::time::Instant::now()));
    }
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    reader.wait().unwrap();
    drop(parts);
    spans.sort_by(f64::total_cmp);
    println!("writing all {n}: median {:.2} ms, max {:.2} ms", spans[spans.len() / 2], spans[spans.len() - 1]);
    print!("{}", rest.trim_start());
}
