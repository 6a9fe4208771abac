//! A small blocking GraphQL-over-HTTP client for `daira message`: one POST per request over
//! plain HTTP/1.1 (`http://` only: behind TLS, put the server behind a proxy and point this at
//! it on loopback), the answer's `data`, or its errors as one message.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http://host:port/path`.
    #[error("{0:?} is not an http:// URL (https is not spoken here)")]
    Url(String),
    /// The connection.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// An answer that is not HTTP or not JSON.
    #[error("the server's answer is not a GraphQL response: {0}")]
    Protocol(String),
    /// The server answered with errors.
    #[error("{message} ({code})")]
    GraphQl {
        /// The first error's message.
        message: String,
        /// Its `extensions.code`.
        code: String,
    },
}

/// A GraphQL endpoint and the session to use.
#[derive(Clone, Debug)]
pub struct Client {
    host: String,
    path: String,
    token: Option<String>,
}

impl Client {
    /// A client of `url` (`http://127.0.0.1:8080/graphql`), signed in with `token` if given.
    pub fn new(url: &str, token: Option<String>) -> Result<Client, ClientError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| ClientError::Url(url.to_owned()))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/graphql"),
        };
        if host.is_empty() {
            return Err(ClientError::Url(url.to_owned()));
        }
        Ok(Client { host: host.to_owned(), path: path.to_owned(), token })
    }

    /// Runs `query` with `variables`: the response's `data`, or its first error.
    pub fn request(&self, query: &str, variables: Value) -> Result<Value, ClientError> {
        let body = json!({"query": query, "variables": variables}).to_string();
        let address = if self.host.contains(':') { self.host.clone() } else { format!("{}:80", self.host) };
        let mut stream = TcpStream::connect(&address)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let auth = self.token.as_ref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.host,
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| ClientError::Protocol("no end of headers".into()))?;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let mut body = raw[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            body = dechunk(&body)?;
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("{e}: {}", String::from_utf8_lossy(&body))))?;
        if let Some(error) = value["errors"].as_array().and_then(|e| e.first()) {
            return Err(ClientError::GraphQl {
                message: error["message"].as_str().unwrap_or("error").to_owned(),
                code: error["extensions"]["code"].as_str().unwrap_or("").to_owned(),
            });
        }
        Ok(value["data"].clone())
    }
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| ClientError::Protocol("a chunk without its size".into()))?;
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| ClientError::Protocol(format!("chunk size {size_text:?}")))?;
        if size == 0 {
            return Ok(out);
        }
        let start = end + 2;
        let chunk = rest.get(start..start + size).ok_or_else(|| ClientError::Protocol("a short chunk".into()))?;
        out.extend_from_slice(chunk);
        rest = rest.get(start + size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_chunks() {
        assert!(Client::new("https://x/graphql", None).is_err());
        let c = Client::new("http://127.0.0.1:8080", None).unwrap();
        assert_eq!((c.host.as_str(), c.path.as_str()), ("127.0.0.1:8080", "/graphql"));
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(), b"abcde");
    }
}
