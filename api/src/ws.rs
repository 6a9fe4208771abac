//! GraphQL over WebSocket: graphql-transport-ws (the `graphql-ws` library's protocol) and the
//! legacy `graphql-ws` (Apollo's subscriptions-transport-ws), with shared subscription streams.
//!
//! A thousand apps watching one world ask the same thing. Subscribers whose document,
//! operation name and variables agree share one [`Group`]: one execution of the subscription
//! stream and one serialisation of each result, broadcast to every socket as bytes that only
//! need the operation's id put around them. A document that selects a field whose answer
//! depends on who asks ([`crate::gql::VIEWER_FIELDS`]) is keyed by its viewer too. Every
//! shared stream runs as its key's viewer — nobody, unless the key names one — so a field that
//! reads the viewer without being listed answers as it would to a stranger, never as it would
//! to somebody else.
//!
//! Protocol errors close the socket with the codes graphql-transport-ws names: 4400 for a
//! message that is not one, 4401 for `subscribe` before `connection_ack`, 4403 when
//! `connection_init` is refused, 4408 when it does not come within 10 s, 4409 for an id in
//! use, 4429 for a second `connection_init`. The legacy protocol gets `connection_error` for
//! a refused sign-in and, like its servers did, `data` with the errors and then `complete`
//! for a failed operation; it is kept alive with `ka` every 12 s.
//!
//! A socket's session is checked again before each operation it starts and every 30 s, and a
//! sign-out reaches every socket of that session at once: a session that ended (signed out,
//! expired, revoked) closes its sockets with 4403, ending their subscriptions. On
//! graphql-transport-ws the server pings every 30 s and closes (1001) a socket that has said
//! nothing, not even a pong, for 90 s. One address may hold 64 sockets at once and one account
//! 32 (4429 past it).

use crate::State;
use crate::error::{ApiError, Code};
use crate::gql::{Caller, DairaSchema, SignedIn, VIEWER_FIELDS};
use crate::metrics::{Operation, SubscriptionGuard};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{Request, Response};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::{BoxStream, StreamExt};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use tokio_stream::StreamMap;

/// The most operations one socket may have running.
pub const OPERATIONS_PER_SOCKET: usize = 100;
/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the legacy protocol's keep-alive (`ka`) goes out.
const KEEP_ALIVE: Duration = Duration::from_secs(12);
/// How many results a subscriber may fall behind its group before it is cut off.
const BACKLOG: usize = 256;
/// How long a message may wait for a client that does not read before its socket is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a socket's session is checked again (besides before each operation).
const SESSION_RECHECK: Duration = Duration::from_secs(30);
/// How often the server pings on graphql-transport-ws.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How long a graphql-transport-ws client may stay silent (no message, not even a pong).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The two protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// graphql-transport-ws.
    TransportWs,
    /// The legacy graphql-ws (subscriptions-transport-ws).
    Legacy,
}

impl Protocol {
    /// The first protocol of a `Sec-WebSocket-Protocol` header this server speaks.
    pub fn negotiate(header: &str) -> Option<Protocol> {
        header.split(',').map(str::trim).find_map(|p| {
            if p.eq_ignore_ascii_case("graphql-transport-ws") {
                Some(Protocol::TransportWs)
            } else if p.eq_ignore_ascii_case("graphql-ws") {
                Some(Protocol::Legacy)
            } else {
                None
            }
        })
    }

    /// Its name in `Sec-WebSocket-Protocol`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }
}

/// What a stream of results sends: a result, the errors that ended it before it produced
/// anything, or its end.
#[derive(Debug)]
enum Frame {
    /// A GraphQL response, serialised.
    Next(Box<str>),
    /// The operation failed before it ran (its document did not parse or validate): the
    /// errors, as a JSON array.
    Error(Box<str>),
    /// No more results.
    Complete,
}

impl Frame {
    /// The frame for a response: `Error` for one that only reports a request error.
    fn of(response: &Response) -> Frame {
        let request_error = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| {
                let code = e.extensions.as_ref().and_then(|x| x.get("code"));
                matches!(code, Some(async_graphql::Value::String(c))
                    if c == Code::GraphqlParseFailed.as_str() || c == Code::GraphqlValidationFailed.as_str())
            });
        if request_error {
            Frame::Error(serde_json::to_string(&response.errors).unwrap_or_else(|_| "[]".into()).into())
        } else {
            Frame::Next(serde_json::to_string(response).unwrap_or_else(|_| "{}".into()).into())
        }
    }

    /// A subscriber that fell `missed` results behind is cut off.
    fn lagged(missed: u64) -> Frame {
        errors_frame(
            Code::Throttled,
            &format!("this subscription fell {missed} results behind and was ended: read faster, then subscribe again"),
        )
    }
}

fn errors_frame(code: Code, message: &str) -> Frame {
    Frame::Error(json!([ApiError::new(code, message).to_json()]).to_string().into())
}

/// What identifies a shared stream.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Key {
    query: String,
    operation: Option<String>,
    variables: String,
    viewer: Option<schema::Id>,
}

/// The shared subscription streams, by key.
#[derive(Default)]
pub struct Hub {
    groups: Mutex<HashMap<Key, Weak<Group>>>,
}

/// Where a group's results go out: the sender, taken away when the stream ends, and whether a
/// new subscriber may join (not while the stream's only result so far is a failure, which is
/// most likely its last).
struct Outlet {
    sender: Option<broadcast::Sender<Arc<Frame>>>,
    joinable: bool,
}

type Slot = Arc<Mutex<Outlet>>;

/// One execution of a subscription, shared by its subscribers; ended when the last leaves.
struct Group {
    key: Key,
    hub: Weak<Hub>,
    slot: Slot,
    task: AbortHandle,
}

impl Drop for Group {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(hub) = self.hub.upgrade() {
            let mut groups = hub.groups.lock();
            if groups.get(&self.key).is_some_and(|g| g.strong_count() == 0) {
                groups.remove(&self.key);
            }
        }
    }
}

impl Hub {
    /// How many shared streams are running.
    pub fn groups(&self) -> usize {
        self.groups.lock().len()
    }

    /// Joins the group for `key`, starting it with `start` when there is none (or it ended).
    fn join(
        self: &Arc<Self>,
        key: Key,
        start: impl FnOnce() -> BoxStream<'static, Response>,
    ) -> (Arc<Group>, broadcast::Receiver<Arc<Frame>>) {
        // Declared before the lock: a group dropped here must not be dropped under it.
        let _finished: Option<Arc<Group>>;
        let mut groups = self.groups.lock();
        if let Some(group) = groups.get(&key).and_then(Weak::upgrade) {
            let receiver = {
                let outlet = group.slot.lock();
                outlet.sender.as_ref().filter(|_| outlet.joinable).map(broadcast::Sender::subscribe)
            };
            if let Some(receiver) = receiver {
                return (group, receiver);
            }
            _finished = Some(group);
        }
        let (sender, receiver) = broadcast::channel(BACKLOG);
        let slot: Slot = Arc::new(Mutex::new(Outlet { sender: Some(sender), joinable: true }));
        let task = tokio::spawn(run(start(), slot.clone())).abort_handle();
        let group = Arc::new(Group { key: key.clone(), hub: Arc::downgrade(self), slot, task });
        groups.insert(key, Arc::downgrade(&group));
        (group, receiver)
    }
}

/// Drops a group's sender however its task ends — a panicking resolver included — so that
/// its subscribers are told (`complete`) and nobody joins it afterwards.
struct CloseOnDrop(Slot);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.lock().sender = None;
    }
}

/// Runs a group's stream: serialises each result once and hands it to every subscriber.
async fn run(mut stream: BoxStream<'static, Response>, slot: Slot) {
    let _close = CloseOnDrop(slot.clone());
    let mut succeeded = false;
    while let Some(response) = stream.next().await {
        // Nothing but errors before any result: the subscription failed to start (a world
        // that does not exist), and its stream is about to end.
        let failed = !succeeded && response.data == async_graphql::Value::Null && !response.errors.is_empty();
        succeeded |= !failed;
        let frame = Arc::new(Frame::of(&response));
        let mut outlet = slot.lock();
        let Some(sender) = outlet.sender.as_ref() else { return };
        let ends = matches!(*frame, Frame::Error(_));
        let _ = sender.send(frame);
        if ends {
            // `error` ends an operation: no `complete` after it.
            outlet.sender = None;
            return;
        }
        outlet.joinable = !failed;
    }
    if let Some(sender) = slot.lock().sender.take() {
        let _ = sender.send(Arc::new(Frame::Complete));
    }
}

/// A subscriber's view of its group: the group's frames, then nothing. Holding the group
/// keeps it running; `guard` is dropped with the subscription.
fn subscriber(
    group: Arc<Group>,
    receiver: broadcast::Receiver<Arc<Frame>>,
    guard: impl Send + 'static,
) -> BoxStream<'static, Arc<Frame>> {
    futures_util::stream::unfold(Some((group, receiver, guard)), |state| async move {
        let (group, mut receiver, guard) = state?;
        match receiver.recv().await {
            Ok(frame) => Some((frame, Some((group, receiver, guard)))),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some((Arc::new(Frame::lagged(missed)), None)),
            Err(broadcast::error::RecvError::Closed) => Some((Arc::new(Frame::Complete), None)),
        }
    })
    .boxed()
}

/// A message from the client (both protocols' names).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    #[serde(alias = "start")]
    Subscribe {
        id: String,
        payload: Box<Request>,
    },
    #[serde(alias = "stop")]
    Complete {
        id: String,
    },
    ConnectionTerminate,
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
}

/// What a socket's session needs from the server.
#[derive(Clone)]
pub struct Context {
    /// The server.
    pub state: Arc<State>,
    /// The schema (with error classification).
    pub schema: DairaSchema,
    /// Signs in with a session token: the caller, or why not.
    pub sign_in: SignIn,
    /// Whether a caller may run one more operation now (its rate limit): `Err(seconds)` to wait.
    pub admit: Admit,
    /// How long a query or mutation may run.
    pub request_timeout: Duration,
    /// Sockets per account.
    pub per_user: crate::listen::Gate<schema::Id>,
}

/// Signs in with a session token: the caller and when the session ends (milliseconds since
/// the Unix epoch).
pub type SignIn =
    Arc<dyn Fn(String) -> futures_util::future::BoxFuture<'static, Result<(Caller, i64), String>> + Send + Sync>;
/// Charges a caller's rate limit what one operation costs (see `http::operation_cost`).
pub type Admit = Arc<dyn Fn(&Caller, u32) -> Result<(), u64> + Send + Sync>;

/// Why a session ended.
enum End {
    /// The client went away (or closed).
    Gone,
    /// Close the socket with this code and reason.
    Close(u16, String),
}

/// One socket's session.
struct Session {
    protocol: Protocol,
    cx: Context,
    /// Set once `connection_init` was accepted.
    caller: Option<Caller>,
    /// When the session ends (once signed in).
    expires: Option<tokio::time::Instant>,
    /// The account's place among its sockets.
    _ticket: Option<crate::listen::Ticket<schema::Id>>,
    init_seen: bool,
    operations: StreamMap<String, BoxStream<'static, Arc<Frame>>>,
}

/// Milliseconds since the Unix epoch as an instant of tokio's clock (now, if past).
fn instant_of(ms: i64) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    tokio::time::Instant::now() + Duration::from_millis(ms.saturating_sub(now_ms).max(0) as u64)
}

/// Serves one socket until it closes.
pub async fn serve(mut socket: WebSocket, protocol: Protocol, cx: Context) {
    let shutdown = cx.state.shutdown_signal();
    tokio::pin!(shutdown);
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = tokio::time::Instant::now();
    let mut recheck = tokio::time::interval_at(start + SESSION_RECHECK, SESSION_RECHECK);
    let mut ping = tokio::time::interval_at(start + PING_EVERY, PING_EVERY);
    let mut closed = cx.state.auth.closed_sessions();
    let far = start + Duration::from_secs(10 * 365 * 86_400);
    let expiry = tokio::time::sleep_until(far);
    tokio::pin!(expiry);
    let mut last_heard = start;
    let mut session = Session {
        protocol,
        cx,
        caller: None,
        expires: None,
        _ticket: None,
        init_seen: false,
        operations: StreamMap::new(),
    };
    let end = loop {
        let signed_in = session.caller.is_some();
        let step = tokio::select! {
            biased;
            _ = &mut shutdown => Err(End::Close(1001, "the server is shutting down".into())),
            _ = &mut init_deadline, if !signed_in => {
                Err(End::Close(4408, "Connection initialisation timeout".into()))
            }
            _ = &mut expiry, if signed_in => Err(End::Close(4403, "Forbidden: the session expired".into())),
            signed_out = closed.recv(), if signed_in => match signed_out {
                Ok(hash) if session.token().is_some_and(|t| crate::auth::AuthStore::is_token(&hash, t)) => {
                    Err(End::Close(4403, "Forbidden: signed out".into()))
                }
                Ok(_) | Err(broadcast::error::RecvError::Closed) => Ok(()),
                Err(broadcast::error::RecvError::Lagged(_)) => session.recheck().await,
            },
            _ = recheck.tick(), if signed_in => session.recheck().await,
            _ = ping.tick(), if protocol == Protocol::TransportWs && signed_in => {
                if last_heard.elapsed() > IDLE_TIMEOUT {
                    Err(End::Close(1001, format!("no answer to pings for {} s", IDLE_TIMEOUT.as_secs())))
                } else {
                    send(&mut socket, r#"{"type":"ping"}"#.into()).await
                }
            }
            _ = keep_alive.tick(), if protocol == Protocol::Legacy && signed_in => {
                send(&mut socket, r#"{"type":"ka"}"#.into()).await
            }
            message = socket.recv() => {
                last_heard = tokio::time::Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => session.receive(text.as_bytes(), &mut socket).await,
                    Some(Ok(Message::Binary(bytes))) => session.receive(&bytes, &mut socket).await,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Err(End::Gone),
                    Some(Ok(_)) => Ok(()),
                }
            }
            Some((id, frame)) = session.operations.next(), if !session.operations.is_empty() => {
                session.deliver(&id, &frame, &mut socket).await
            }
        };
        if let Err(end) = step {
            break end;
        }
        if let Some(at) = session.expires.take() {
            expiry.as_mut().reset(at);
        }
    };
    if let End::Close(code, mut reason) = end {
        // A close frame's reason is at most 123 bytes.
        while reason.len() > 123 {
            reason.pop();
        }
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
}

/// The session token in `connection_init`'s payload — at the top level (`Authorization`,
/// `authToken` or `token`) or, as Apollo-style clients put it, under `headers` — signed in.
async fn sign_in(cx: &Context, payload: Value) -> Result<(Caller, i64), String> {
    let keys = ["Authorization", "authorization", "authToken", "token"];
    let token = [Some(&payload), payload.get("headers")]
        .into_iter()
        .flatten()
        .find_map(|p| keys.iter().find_map(|k| p.get(k).and_then(Value::as_str)))
        .map(|t| t.trim_start_matches("Bearer ").trim_start_matches("bearer ").trim().to_owned());
    let Some(token) = token else {
        return Err("sign in: put {\"Authorization\": \"Bearer <token>\"} in connection_init's payload".into());
    };
    (cx.sign_in)(token).await
}

/// Sends a message; a client that has not taken it within [`SEND_TIMEOUT`] is dropped.
async fn send(socket: &mut WebSocket, text: String) -> Result<(), End> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(End::Gone),
    }
}

impl Session {
    /// The session token the socket signed in with.
    fn token(&self) -> Option<&str> {
        self.caller.as_ref().and_then(|c| c.token.as_deref())
    }

    /// Closes the socket (4403) when its session has ended: signed out, expired or revoked.
    async fn recheck(&mut self) -> Result<(), End> {
        let Some(token) = self.token() else { return Ok(()) };
        match self.cx.state.auth.session(token).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(End::Close(4403, "Forbidden: the session ended".into())),
            // The store is down: the next check decides.
            Err(e) => {
                tracing::warn!(error = %e, "session re-check");
                Ok(())
            }
        }
    }

    /// Handles a message from the client.
    async fn receive(&mut self, bytes: &[u8], socket: &mut WebSocket) -> Result<(), End> {
        let message: ClientMessage = serde_json::from_slice(bytes)
            .map_err(|e| End::Close(4400, format!("not a {} message: {e}", self.protocol.name())))?;
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.init_seen {
                    return Err(End::Close(4429, "Too many initialisation requests".into()));
                }
                self.init_seen = true;
                let signed = tokio::time::timeout(INIT_TIMEOUT, sign_in(&self.cx, payload.unwrap_or_default())).await;
                match signed.unwrap_or_else(|_| Err("signing in took too long".into())) {
                    Ok((caller, expires_ms)) => {
                        if let Some(user) = caller.user {
                            match self.cx.per_user.enter(user) {
                                Ok(ticket) => self._ticket = Some(ticket),
                                Err(full) => return Err(End::Close(4429, format!("Too many sockets: {full}"))),
                            }
                        }
                        self.caller = Some(caller);
                        self.expires = Some(instant_of(expires_ms));
                        send(socket, r#"{"type":"connection_ack"}"#.into()).await?;
                        if self.protocol == Protocol::Legacy {
                            send(socket, r#"{"type":"ka"}"#.into()).await?;
                        }
                        Ok(())
                    }
                    Err(why) => match self.protocol {
                        Protocol::TransportWs => Err(End::Close(4403, format!("Forbidden: {why}"))),
                        Protocol::Legacy => {
                            send(socket, json!({"type": "connection_error", "payload": {"message": why}}).to_string())
                                .await?;
                            Err(End::Close(1000, "connection_init refused".into()))
                        }
                    },
                }
            }
            ClientMessage::Subscribe { id, payload } => {
                let Some(caller) = self.caller.clone() else {
                    return Err(End::Close(4401, "Unauthorized".into()));
                };
                if self.operations.contains_key(&id) {
                    return Err(End::Close(4409, format!("Subscriber for {id} already exists")));
                }
                // The session may have ended since the socket signed in.
                self.recheck().await?;
                let refusal = if self.operations.len() >= OPERATIONS_PER_SOCKET {
                    Some(format!("at most {OPERATIONS_PER_SOCKET} operations may run at once on one socket"))
                } else if let Err(wait) = (self.cx.admit)(&caller, {
                    let name = payload.operation_name.as_deref();
                    async_graphql::parser::parse_query(&payload.query)
                        .map_or(1, |doc| crate::http::operation_cost(&doc, name))
                }) {
                    self.cx.state.metrics.throttled();
                    Some(format!("too many requests: retry in {wait} s"))
                } else {
                    None
                };
                let stream = match refusal {
                    Some(message) => {
                        futures_util::stream::iter([Arc::new(errors_frame(Code::Throttled, &message))]).boxed()
                    }
                    None => self.start(*payload, caller),
                };
                self.operations.insert(id, stream);
                Ok(())
            }
            ClientMessage::Complete { id } => {
                if self.operations.remove(&id).is_some() && self.protocol == Protocol::Legacy {
                    send(socket, json!({"type": "complete", "id": id}).to_string()).await?;
                }
                Ok(())
            }
            ClientMessage::ConnectionTerminate => Err(End::Close(1000, "terminated".into())),
            ClientMessage::Ping { payload } => {
                let pong = match payload {
                    Some(payload) => json!({"type": "pong", "payload": payload}).to_string(),
                    None => r#"{"type":"pong"}"#.into(),
                };
                send(socket, pong).await
            }
            ClientMessage::Pong { .. } => Ok(()),
        }
    }

    /// Starts an operation: a subscription joins (or starts) its group; a query or mutation
    /// runs once.
    fn start(&self, request: Request, caller: Caller) -> BoxStream<'static, Arc<Frame>> {
        let cx = &self.cx;
        let kind = async_graphql::parser::parse_query(&request.query).ok().and_then(|doc| match &doc.operations {
            DocumentOperations::Single(op) => Some(op.node.ty),
            DocumentOperations::Multiple(ops) => match &request.operation_name {
                Some(name) => ops.get(name.as_str()).map(|op| op.node.ty),
                None if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
                None => None,
            },
        });
        cx.state.metrics.operation(match kind {
            Some(OperationType::Subscription) => Operation::Subscription,
            Some(OperationType::Mutation) => Operation::Mutation,
            _ => Operation::Query,
        });
        if kind != Some(OperationType::Subscription) {
            // Parse errors and the like come back from execution, classified.
            let (schema, state, timeout) = (cx.schema.clone(), cx.state.clone(), cx.request_timeout);
            return futures_util::stream::once(async move {
                match tokio::time::timeout(timeout, schema.execute(request.data(caller))).await {
                    Ok(response) => {
                        state.metrics.errors(response.errors.len());
                        Arc::new(Frame::of(&response))
                    }
                    Err(_) => {
                        let error = ApiError::new(Code::InternalServerError, "the operation ran out of time");
                        Arc::new(Frame::Next(json!({"data": null, "errors": [error.to_json()]}).to_string().into()))
                    }
                }
            })
            .chain(futures_util::stream::iter([Arc::new(Frame::Complete)]))
            .boxed();
        }
        let viewer = VIEWER_FIELDS.iter().any(|f| request.query.contains(f)).then_some(caller.user).flatten();
        let key = Key {
            query: request.query.clone(),
            operation: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).unwrap_or_default(),
            viewer,
        };
        let schema = cx.schema.clone();
        let (group, receiver) = cx.state.hub.join(key, move || {
            let request = request.data(Caller { user: viewer, token: None }).data(SignedIn);
            schema.execute_stream(request)
        });
        cx.state.metrics.subscription_started();
        subscriber(group, receiver, SubscriptionGuard(cx.state.clone()))
    }

    /// Sends one of an operation's frames, and forgets the operation after its last.
    async fn deliver(&mut self, id: &str, frame: &Frame, socket: &mut WebSocket) -> Result<(), End> {
        let id_json = serde_json::to_string(id).unwrap_or_default();
        match (frame, self.protocol) {
            (Frame::Next(payload), Protocol::TransportWs) => {
                send(socket, format!(r#"{{"type":"next","id":{id_json},"payload":{payload}}}"#)).await
            }
            (Frame::Next(payload), Protocol::Legacy) => {
                send(socket, format!(r#"{{"type":"data","id":{id_json},"payload":{payload}}}"#)).await
            }
            (Frame::Error(errors), Protocol::TransportWs) => {
                self.operations.remove(id);
                send(socket, format!(r#"{{"type":"error","id":{id_json},"payload":{errors}}}"#)).await
            }
            (Frame::Error(errors), Protocol::Legacy) => {
                self.operations.remove(id);
                send(
                    socket,
                    format!(r#"{{"type":"data","id":{id_json},"payload":{{"data":null,"errors":{errors}}}}}"#),
                )
                .await?;
                send(socket, format!(r#"{{"type":"complete","id":{id_json}}}"#)).await
            }
            (Frame::Complete, _) => {
                self.operations.remove(id);
                send(socket, format!(r#"{{"type":"complete","id":{id_json}}}"#)).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{ServerError, value};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::mpsc;

    fn key(viewer: Option<u64>) -> Key {
        Key {
            query: "subscription { x }".into(),
            operation: None,
            variables: "{}".into(),
            viewer: viewer.map(schema::Id),
        }
    }

    /// A stream of responses fed by hand.
    fn fed() -> (mpsc::UnboundedSender<Response>, BoxStream<'static, Response>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let stream = futures_util::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|x| (x, r)) });
        (sender, stream.boxed())
    }

    fn text(frame: &Frame) -> String {
        match frame {
            Frame::Next(s) => format!("next {s}"),
            Frame::Error(s) => format!("error {s}"),
            Frame::Complete => "complete".into(),
        }
    }

    #[tokio::test]
    async fn subscribers_with_one_key_share_one_execution_and_one_serialisation() {
        let hub = Arc::new(Hub::default());
        let starts = AtomicUsize::new(0);
        let (feed, stream) = fed();
        let (first, mut one) = hub.join(key(None), || {
            starts.fetch_add(1, Ordering::Relaxed);
            stream
        });
        let (second, mut two) = hub.join(key(None), || unreachable!("the group is running"));
        assert!(Arc::ptr_eq(&first, &second));
        let (viewers, _) = hub.join(key(Some(7)), || futures_util::stream::pending().boxed());
        assert!(!Arc::ptr_eq(&first, &viewers));
        assert_eq!((hub.groups(), starts.load(Ordering::Relaxed)), (2, 1));

        feed.send(Response::new(value!({"n": 1}))).unwrap();
        let (a, b) = (one.recv().await.unwrap(), two.recv().await.unwrap());
        assert!(Arc::ptr_eq(&a, &b), "serialised once");
        assert_eq!(text(&a), r#"next {"data":{"n":1}}"#);

        // A finished group is not joined again: the next subscriber starts its own.
        drop(feed);
        assert_eq!(text(&one.recv().await.unwrap()), "complete");
        let (third, _) = hub.join(key(None), || futures_util::stream::pending().boxed());
        assert!(!Arc::ptr_eq(&first, &third));

        // The last subscriber gone, a group stops and leaves the hub.
        drop((first, second, third, viewers));
        assert_eq!(hub.groups(), 0);
    }

    #[tokio::test]
    async fn a_stream_that_fails_at_once_ends_with_its_error() {
        let hub = Arc::new(Hub::default());
        let mut error = ServerError::new("world not found", None);
        error.extensions = Some({
            let mut x = async_graphql::ErrorExtensionValues::default();
            x.set("code", "NOT_FOUND");
            x
        });
        let (feed, stream) = fed();
        let (group, mut receiver) = hub.join(key(None), || stream);
        feed.send(Response::from_errors(vec![error])).unwrap();
        let first = text(&receiver.recv().await.unwrap());
        assert!(first.starts_with(r#"next {"data":null,"errors":[{"message":"world not found""#), "{first}");
        let (other, _) = hub.join(key(None), || futures_util::stream::pending().boxed());
        assert!(!Arc::ptr_eq(&group, &other), "a stream that failed to start is not joined");
        drop(feed);
        assert_eq!(text(&receiver.recv().await.unwrap()), "complete");
        assert!(receiver.recv().await.is_err(), "nothing after complete");

        // A stream whose first result fails but that goes on is joined again once it delivers.
        drop(other);
        let (feed, stream) = fed();
        let (group, mut receiver) = hub.join(key(Some(1)), || stream);
        feed.send(Response::from_errors(vec![ServerError::new("a field failed", None)])).unwrap();
        let _ = receiver.recv().await.unwrap();
        feed.send(Response::new(value!(1))).unwrap();
        assert_eq!(text(&receiver.recv().await.unwrap()), "next {\"data\":1}");
        let (again, _) = hub.join(key(Some(1)), || unreachable!("joined"));
        assert!(Arc::ptr_eq(&group, &again));

        let mut invalid = ServerError::new("Unknown field \"x\"", None);
        invalid.extensions = Some({
            let mut x = async_graphql::ErrorExtensionValues::default();
            x.set("code", Code::GraphqlValidationFailed.as_str());
            x
        });
        assert_eq!(
            text(&Frame::of(&Response::from_errors(vec![invalid]))),
            r#"error [{"message":"Unknown field \"x\"","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]"#
        );
    }

    #[tokio::test]
    async fn a_panicking_stream_completes_its_subscribers() {
        let hub = Arc::new(Hub::default());
        let panicking = futures_util::stream::once(async { panic!("a resolver panicked") }).boxed();
        let (group, mut receiver) = hub.join(key(None), || panicking);
        assert!(matches!(receiver.recv().await, Err(broadcast::error::RecvError::Closed)));
        let mut view = subscriber(group.clone(), receiver, ());
        assert_eq!(text(&view.next().await.unwrap()), "complete");
        let (again, _) = hub.join(key(None), || futures_util::stream::pending().boxed());
        assert!(!Arc::ptr_eq(&group, &again), "a dead group is not joined");
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_cut_off() {
        let hub = Arc::new(Hub::default());
        let (feed, stream) = fed();
        let (group, receiver) = hub.join(key(None), || stream);
        let (_reader, mut reading) = hub.join(key(None), || unreachable!());
        for n in 0..BACKLOG + 10 {
            feed.send(Response::new(value!({ "n": n }))).unwrap();
            if n % 16 == 0 {
                // The reader keeps up.
                tokio::time::sleep(Duration::from_millis(1)).await;
                while reading.try_recv().is_ok() {}
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut slow = subscriber(group, receiver, ());
        let frame = slow.next().await.unwrap();
        assert!(text(&frame).contains("THROTTLED") && text(&frame).contains("10 results behind"), "{}", text(&frame));
        assert!(slow.next().await.is_none(), "the slow subscriber is cut off");
    }
}
