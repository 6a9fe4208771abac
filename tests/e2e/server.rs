//! A `daira serve` process for tests, with a plain HTTP/1.1 client (over `TcpStream`, so
//! every byte on the wire is the test's) and a WebSocket client.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// Where /healthz and /metrics answer when started with `--admin-listen`.
    pub admin: Option<SocketAddr>,
    _dir: Option<tempfile::TempDir>,
}

/// An HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The start of the body, for messages.
    pub fn brief(&self) -> &str {
        let end = self.body.char_indices().nth(400).map_or(self.body.len(), |(i, _)| i);
        &self.body[..end]
    }

    /// The first error's code.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["extensions"]["code"].as_str().unwrap_or("").to_owned()
    }
}

impl Server {
    /// Starts `daira serve` on a fresh data directory (with the demo community when `demo`).
    pub fn start(demo: bool, args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut server = Server::start_in(&data, demo, args);
        server._dir = Some(dir);
        server
    }

    /// Starts `daira serve` on `data`.
    pub fn start_in(data: &Path, demo: bool, args: &[&str]) -> Server {
        let mut command = crate::daira(data);
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        if demo {
            command.arg("--demo");
        }
        // Its log beside the data directory, to say why when it does not start.
        let log_path = data.with_extension("stderr.log");
        let log = std::fs::File::create(&log_path).map_or_else(|_| Stdio::null(), Stdio::from);
        command.args(args).stdout(Stdio::piped()).stderr(log);
        let mut child = command.spawn().expect("daira serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("admin on http://") {
                    let _ = tx.send(("admin", rest.trim_end_matches("/metrics").to_owned()));
                }
                if let Some(rest) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(("api", rest.trim_end_matches("/graphql").to_owned()));
                }
            }
        });
        // The admin address, when there is one, is said first.
        let mut admin = None;
        let addr = loop {
            let said = rx.recv_timeout(Duration::from_secs(300)).unwrap_or_else(|_| {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join("\n");
                panic!("the server did not say where it listens; its last words:\n{tail}")
            });
            match said {
                ("admin", at) => admin = Some(at.parse().unwrap()),
                (_, at) => break at,
            }
        };
        Server { child, addr: addr.parse().unwrap(), admin, _dir: None }
    }

    /// Sends raw request bytes and reads the whole response.
    pub fn raw(&self, head: &str, body: &[u8]) -> Reply {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(_) if !bytes.is_empty() => break,
                Err(e) => panic!("reading the response: {e}"),
            }
        }
        parse(&bytes)
    }

    /// An HTTP request with `headers`.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        self.raw(&head, body)
    }

    /// POSTs a GraphQL request as JSON, with a token if given.
    pub fn post(&self, body: &Value, token: Option<&str>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json"), ("Accept", "application/graphql-response+json")];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        self.request("POST", "/graphql", &headers, body.to_string().as_bytes())
    }

    /// Runs a query and returns its `data`, asserting it had no errors.
    pub fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let reply = self.post(&json!({"query": query, "variables": variables}), token);
        assert_eq!(reply.status, 200, "{query}: {}", reply.brief());
        let value = reply.json();
        assert!(value.get("errors").is_none(), "{query}: {}", reply.brief());
        value["data"].clone()
    }

    /// Registers `login` and creates a mask; returns (token, mask id).
    pub fn user_with_mask(&self, login: &str, handle: &str, kind: &str) -> (String, String) {
        let data = self.gql(
            "mutation($l: String!) { register(input: {login: $l, password: \"a long enough password\"}) { token userErrors { message } } }",
            json!({"l": login}),
            None,
        );
        let token = data["register"]["token"].as_str().unwrap_or_else(|| panic!("register: {data}")).to_owned();
        let mask = self.create_mask(&token, handle, kind);
        (token, mask)
    }

    /// Creates a mask for the user of `token`; returns its id.
    pub fn create_mask(&self, token: &str, handle: &str, kind: &str) -> String {
        let query = format!(
            "mutation($h: String!) {{ createMask(input: {{kind: {kind}, handle: $h, displayName: $h}}) {{ mask {{ id }} userErrors {{ message }} }} }}"
        );
        let data = self.gql(&query, json!({"h": handle}), Some(token));
        data["createMask"]["mask"]["id"].as_str().unwrap_or_else(|| panic!("createMask: {data}")).to_owned()
    }

    /// Sends SIGTERM and waits for the process to end; its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not stop within 30 s of SIGTERM");
    }

    /// The WebSocket URL.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse(bytes: &[u8]) -> Reply {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)])));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    if headers.get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = out;
    }
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// A GraphQL WebSocket client.
pub mod ws {
    use futures_util::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use std::time::Duration;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    /// Opens a socket speaking `protocol`, without `connection_init`.
    pub async fn open(url: &str, protocol: &str) -> Socket {
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("WebSocket connects");
        assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), protocol);
        socket
    }

    /// Connects with `protocol` and sends `connection_init` with `payload`; the socket and the
    /// server's first answer.
    pub async fn connect(url: &str, protocol: &str, payload: Value) -> (Socket, Value) {
        let mut socket = open(url, protocol).await;
        socket.send(Message::text(json!({"type": "connection_init", "payload": payload}).to_string())).await.unwrap();
        let first = next(&mut socket, Duration::from_secs(10)).await.expect("an answer to connection_init");
        (socket, first)
    }

    /// The next JSON message (skipping keep-alives), or None at close or timeout.
    pub async fn next(socket: &mut Socket, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let message = tokio::time::timeout_at(deadline, socket.next()).await.ok()??.ok()?;
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).ok()?;
                    if value["type"] == "ka" || value["type"] == "ping" || value["type"] == "pong" {
                        continue;
                    }
                    return Some(value);
                }
                Message::Close(frame) => {
                    return Some(json!({"type": "close", "code": frame.map(|f| u16::from(f.code))}));
                }
                _ => continue,
            }
        }
    }

    /// Sends a JSON message.
    pub async fn send(socket: &mut Socket, value: Value) {
        socket.send(Message::text(value.to_string())).await.unwrap();
    }

    /// Signs in on graphql-transport-ws with `token` and subscribes to `query` (operation id
    /// "a"), waiting a moment for the subscription to be in place.
    pub async fn watch(url: &str, token: &str, query: &str, variables: Value) -> Socket {
        let (mut socket, ack) =
            connect(url, "graphql-transport-ws", json!({"Authorization": format!("Bearer {token}")})).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        let subscribe = json!({"id": "a", "type": "subscribe", "payload": {"query": query, "variables": variables}});
        send(&mut socket, subscribe).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        socket
    }
}
