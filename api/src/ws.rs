//! GraphQL over WebSocket: graphql-transport-ws (the `graphql-ws` library's protocol) and the
//! legacy `graphql-ws` (Apollo's subscriptions-transport-ws), with shared subscription streams.
//!
//! A thousand apps watching one world ask the same thing. Subscribers whose document,
//! operation name and variables agree share one [`Group`]: one execution of the subscription
//! stream, one serialisation of each result, and one WebSocket frame of it per operation id
//! (usually one in all: clients number from 1), the same bytes for every socket. The group's
//! task writes them itself, one `send` per socket that takes them at once (each socket's
//! writing half is its [`Outbox`]; the server frames what it writes, [`crate::socket`]),
//! shared among as many tasks as the runtime has workers when there are many sockets — no
//! task per socket is woken; a socket's own task only finishes what its socket could not take
//! yet. A
//! subscriber whose client leaves 256 results unread is cut off (THROTTLED). A document that selects a field whose answer
//! depends on who asks ([`crate::gql::VIEWER_FIELDS`]) is keyed by its viewer too. Every
//! shared stream runs as its key's viewer — nobody, unless the key names one — so a field that
//! reads the viewer without being listed answers as it would to a stranger, never as it would
//! to somebody else.
//!
//! Protocol errors close the socket with the codes graphql-transport-ws names: 4400 for a
//! message that is not one, 4401 for `subscribe` before `connection_ack`, 4403 when
//! `connection_init` is refused, 4408 when it does not come within 10 s, 4409 for an id in
//! use, 4429 for a second `connection_init`, 4503 when a replica has not applied the log
//! sequence number `connection_init` asks for (`minSeq`) within 5 s. The legacy protocol gets `connection_error` for
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
use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use tokio_stream::StreamMap;
use tokio_tungstenite::tungstenite::{self, Message};

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
    /// What their writing did, for `/metrics`.
    pub fan_outs: Arc<FanOuts>,
}

/// What the streams' writing did.
#[derive(Default)]
pub struct FanOuts {
    /// Time to write one result to every subscriber of a stream.
    pub seconds: crate::metrics::Histogram,
    /// Results handed to subscribers' sockets.
    pub messages: AtomicU64,
}

/// A socket's writing half, shared by its session's task and the groups its subscriptions
/// belong to: whole WebSocket frames, as bytes ([`crate::socket`]).
///
/// Whoever has a frame writes it at once when the socket can take it — a group's task
/// writes its frame to a thousand sockets without waking a thousand tasks, one write each.
/// What the socket cannot take yet (its buffer is full) waits here, and the session's task,
/// woken once, finishes the writing.
pub struct Outbox {
    pending: Mutex<Pending>,
    /// The session's task, woken when it has writing to finish or operations to forget.
    owner: AtomicWaker,
}

/// The writing half and what waits to be written.
struct Pending {
    /// None once the session ended: the socket is closed even while groups still list it.
    wire: Option<crate::socket::Wire>,
    /// Whole frames; the first may be written in part.
    queue: VecDeque<Bytes>,
    /// How much of the first frame is written.
    written: usize,
    /// The socket failed, or its client stopped reading: nothing more is written.
    failed: bool,
    /// Subscriptions a group ended (its `complete`, its `error`, or a cut-off already sent):
    /// the operation's id and its serial, for the session to forget.
    ended: Vec<(String, u64)>,
}

/// How many frames may wait for one socket before its client counts as not reading.
const OUTBOX_MAX: usize = 4 * BACKLOG;

/// Why a message could not be written: the socket failed or its client stopped reading.
#[derive(Debug)]
pub(crate) struct Closed;

/// What the session's task learns from its outbox.
enum Outgoing {
    /// Groups ended these subscriptions (id, serial).
    Ended(Vec<(String, u64)>),
    /// The socket failed, or a message waited longer than [`SEND_TIMEOUT`].
    Failed,
}

impl Pending {
    /// Writes what waits, as far as the socket takes it: whether everything is written.
    fn write(&mut self, cx: &mut std::task::Context<'_>) -> std::io::Result<bool> {
        let Some(wire) = self.wire.as_mut() else { return Err(std::io::ErrorKind::BrokenPipe.into()) };
        while let Some(front) = self.queue.front() {
            match wire.poll_write(cx, &front[self.written..]) {
                Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    self.written += n;
                    if self.written == front.len() {
                        self.queue.pop_front();
                        self.written = 0;
                    }
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Writes `frame` now, when nothing waits before it and the socket takes it: whether it
    /// was; what it did not take (all of it, or the rest) waits.
    fn write_now(&mut self, frame: &Bytes) -> std::io::Result<bool> {
        let Some(wire) = self.wire.as_mut() else { return Err(std::io::ErrorKind::BrokenPipe.into()) };
        let mut written = 0;
        while self.queue.is_empty() && written < frame.len() {
            match wire.try_write(&frame[written..]) {
                Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
        }
        if written == frame.len() {
            return Ok(true);
        }
        self.queue.push_back(frame.slice(written..));
        Ok(false)
    }
}

impl Outbox {
    pub(crate) fn new(wire: crate::socket::Wire) -> Arc<Outbox> {
        Arc::new(Outbox {
            pending: Mutex::new(Pending {
                wire: Some(wire),
                queue: VecDeque::new(),
                written: 0,
                failed: false,
                ended: Vec::new(),
            }),
            owner: AtomicWaker::new(),
        })
    }

    /// Writes whole frames now if the socket takes them, or leaves them for the session's
    /// task.
    pub(crate) fn send(&self, frames: Bytes) -> Result<(), Closed> {
        self.offer(&frames, OUTBOX_MAX).map(|_| ())
    }

    /// [`Outbox::send`], unless `behind` frames already wait: then `Ok(false)`, and nothing
    /// is sent. More than [`OUTBOX_MAX`] waiting closes the socket.
    fn offer(&self, frames: &Bytes, behind: usize) -> Result<bool, Closed> {
        let mut pending = self.pending.lock();
        if pending.failed {
            return Err(Closed);
        }
        if pending.queue.len() >= behind.min(OUTBOX_MAX) {
            if pending.queue.len() < OUTBOX_MAX {
                return Ok(false);
            }
            pending.failed = true;
        } else {
            // Written from here when the socket takes it at once; else the session's task,
            // woken below, finishes it.
            match pending.write_now(frames) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(_) => pending.failed = true,
            }
        }
        let failed = pending.failed;
        drop(pending);
        self.owner.wake();
        if failed { Err(Closed) } else { Ok(true) }
    }

    /// A text message.
    fn text(&self, text: String) -> Result<(), Closed> {
        self.send(crate::socket::text(&text))
    }

    /// Tells the session's task that a group ended one of its subscriptions.
    fn ended(&self, id: &str, serial: u64) {
        self.pending.lock().ended.push((id.to_owned(), serial));
        self.owner.wake();
    }

    /// The session's task: finishes the writing that waits, with its own waker; ready when
    /// groups ended subscriptions or the socket failed. `stalled` times a socket that takes
    /// nothing.
    fn poll_outgoing(
        &self,
        cx: &mut std::task::Context<'_>,
        stalled: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    ) -> Poll<Outgoing> {
        self.owner.register(cx.waker());
        let mut pending = self.pending.lock();
        if !pending.ended.is_empty() {
            return Poll::Ready(Outgoing::Ended(std::mem::take(&mut pending.ended)));
        }
        if pending.failed {
            return Poll::Ready(Outgoing::Failed);
        }
        let before = pending.queue.len();
        match pending.write(cx) {
            Err(_) => {
                pending.failed = true;
                Poll::Ready(Outgoing::Failed)
            }
            Ok(true) => {
                *stalled = None;
                Poll::Pending
            }
            Ok(false) => {
                if pending.queue.len() < before {
                    *stalled = None;
                }
                drop(pending);
                let timer = stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(SEND_TIMEOUT)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.pending.lock().failed = true;
                        Poll::Ready(Outgoing::Failed)
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    /// Lets the socket go: nothing more is written, and the connection closes once its reading
    /// half is gone too — not when the groups it subscribed to next prune their lists.
    fn shut(&self) {
        let mut pending = self.pending.lock();
        pending.failed = true;
        pending.queue.clear();
        pending.wire = None;
    }

    /// Writes what waits, for at most `limit` (a closing socket's last words).
    async fn drain(&self, limit: Duration) {
        let _ = tokio::time::timeout(
            limit,
            std::future::poll_fn(|cx| {
                let mut pending = self.pending.lock();
                match pending.write(cx) {
                    Ok(false) => Poll::Pending,
                    Ok(true) | Err(_) => Poll::Ready(()),
                }
            }),
        )
        .await;
    }
}

/// One subscriber of a group: an operation on a socket.
struct Member {
    outbox: Arc<Outbox>,
    protocol: Protocol,
    /// The operation's id, and the same as JSON.
    id: Box<str>,
    id_json: Box<str>,
    /// `{"type":"next","id":…,"payload":` (or the legacy `data`), ready to put a result after.
    next: Box<str>,
    /// Tells this subscription from an earlier one under the same id.
    serial: u64,
    /// Cleared when the subscriber leaves or is cut off; the group forgets it soon after.
    live: AtomicBool,
}

impl Member {
    fn new(outbox: Arc<Outbox>, protocol: Protocol, id: &str, serial: u64) -> Member {
        let id_json: Box<str> = serde_json::to_string(id).unwrap_or_default().into();
        let next = match protocol {
            Protocol::TransportWs => format!(r#"{{"type":"next","id":{id_json},"payload":"#),
            Protocol::Legacy => format!(r#"{{"type":"data","id":{id_json},"payload":"#),
        };
        Member { outbox, protocol, id: id.into(), id_json, next: next.into(), serial, live: AtomicBool::new(true) }
    }

    /// Writes a result's `next` message, framed (or leaves it in the outbox): whether it did;
    /// cuts the subscriber off, told why, when its client has not read the last [`BACKLOG`].
    fn next(&self, framed: &Bytes) -> bool {
        if !self.live.load(Relaxed) {
            return false;
        }
        match self.outbox.offer(framed, BACKLOG) {
            Ok(true) => return true,
            Ok(false) => {
                let lagged = Frame::lagged(BACKLOG as u64);
                let _ = messages(self.protocol, &self.id_json, &lagged, |m| self.outbox.text(m));
            }
            Err(Closed) => {}
        }
        self.end();
        false
    }

    /// Writes a frame that ends the operation: its errors, or `complete`.
    fn last(&self, frame: &Frame) {
        if !self.live.load(Relaxed) {
            return;
        }
        let _ = messages(self.protocol, &self.id_json, frame, |m| self.outbox.text(m));
        self.end();
    }

    /// The operation is over: its session forgets it.
    fn end(&self) {
        self.live.store(false, Relaxed);
        self.outbox.ended(&self.id, self.serial);
    }
}

/// The messages that carry an operation's frame, in the socket's protocol, handed to `send`.
fn messages(
    protocol: Protocol,
    id_json: &str,
    frame: &Frame,
    mut send: impl FnMut(String) -> Result<(), Closed>,
) -> Result<(), Closed> {
    match (frame, protocol) {
        (Frame::Next(payload), Protocol::TransportWs) => {
            send(format!(r#"{{"type":"next","id":{id_json},"payload":{payload}}}"#))
        }
        (Frame::Next(payload), Protocol::Legacy) => {
            send(format!(r#"{{"type":"data","id":{id_json},"payload":{payload}}}"#))
        }
        (Frame::Error(errors), Protocol::TransportWs) => {
            send(format!(r#"{{"type":"error","id":{id_json},"payload":{errors}}}"#))
        }
        (Frame::Error(errors), Protocol::Legacy) => {
            send(format!(r#"{{"type":"data","id":{id_json},"payload":{{"data":null,"errors":{errors}}}}}"#))?;
            send(format!(r#"{{"type":"complete","id":{id_json}}}"#))
        }
        (Frame::Complete, _) => send(format!(r#"{{"type":"complete","id":{id_json}}}"#)),
    }
}

/// Where a group's results go: its members (copied on write, so that a frame goes out to a
/// snapshot without holding the lock), whether it still runs, and whether a new subscriber
/// may join (not while the stream's only result so far is a failure, which is most likely
/// its last).
struct Outlet {
    members: Arc<Members>,
    open: bool,
    joinable: bool,
    /// Members that left since the list was last pruned.
    gone: usize,
}

impl Outlet {
    fn prune(&mut self) {
        if self.gone > 0 {
            Arc::make_mut(&mut self.members).retain_live();
            self.gone = 0;
        }
    }
}

/// A group's subscribers, each with the index of its `next` prefix (protocol and operation
/// id) among the distinct ones: a result is framed once per prefix, and the writing loop
/// reads the index beside the subscriber instead of comparing each one's prefix.
#[derive(Clone, Default)]
struct Members {
    list: Vec<(usize, Arc<Member>)>,
    prefixes: Vec<Box<str>>,
}

impl Members {
    fn of(member: Arc<Member>) -> Members {
        let mut members = Members::default();
        members.push(member);
        members
    }

    fn len(&self) -> usize {
        self.list.len()
    }

    fn push(&mut self, member: Arc<Member>) {
        let prefix = match self.prefixes.iter().position(|p| *p == member.next) {
            Some(i) => i,
            None => {
                self.prefixes.push(member.next.clone());
                self.prefixes.len() - 1
            }
        };
        self.list.push((prefix, member));
    }

    /// Forgets the subscribers that left (and the prefixes only they had).
    fn retain_live(&mut self) {
        let live: Vec<Arc<Member>> = self.list.drain(..).map(|(_, m)| m).filter(|m| m.live.load(Relaxed)).collect();
        self.prefixes.clear();
        for member in live {
            self.push(member);
        }
    }
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

/// A socket's place in a group. Dropping it leaves the group (the last to leave ends it).
struct Subscription {
    group: Arc<Group>,
    member: Arc<Member>,
    _guard: Box<dyn Send>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Cut off by its group or leaving now, it is pruned from the group's list.
        self.member.live.store(false, Relaxed);
        self.group.slot.lock().gone += 1;
    }
}

impl Hub {
    /// How many shared streams are running.
    pub fn groups(&self) -> usize {
        self.groups.lock().len()
    }

    /// Joins the group for `key` as `member`, starting it with `start` when there is none (or
    /// it ended).
    fn join(
        self: &Arc<Self>,
        key: Key,
        member: Arc<Member>,
        start: impl FnOnce() -> BoxStream<'static, Response>,
    ) -> Arc<Group> {
        // Declared before the lock: a group dropped here must not be dropped under it.
        let _finished: Option<Arc<Group>>;
        let mut groups = self.groups.lock();
        if let Some(group) = groups.get(&key).and_then(Weak::upgrade) {
            let joined = {
                let mut outlet = group.slot.lock();
                if outlet.open && outlet.joinable {
                    if outlet.gone > outlet.members.len() / 2 {
                        outlet.prune();
                    }
                    Arc::make_mut(&mut outlet.members).push(member.clone());
                    true
                } else {
                    false
                }
            };
            if joined {
                return group;
            }
            _finished = Some(group);
        }
        let slot: Slot = Arc::new(Mutex::new(Outlet {
            members: Arc::new(Members::of(member)),
            open: true,
            joinable: true,
            gone: 0,
        }));
        let task = tokio::spawn(run(start(), slot.clone(), self.fan_outs.clone())).abort_handle();
        let group = Arc::new(Group { key: key.clone(), hub: Arc::downgrade(self), slot, task });
        groups.insert(key, Arc::downgrade(&group));
        group
    }
}

/// Ends a group however its task ends — a panicking resolver included — so that its
/// subscribers are told (`complete`) and nobody joins it afterwards.
struct CloseOnDrop(Slot);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let members = {
            let mut outlet = self.0.lock();
            if !outlet.open {
                return;
            }
            outlet.open = false;
            outlet.members.clone()
        };
        deliver(&members.list, &members.prefixes, &Frame::Complete);
    }
}

/// Writes a frame to each of `members`. A result's message is framed once per prefix (most
/// clients number their operations from 1: once), and the same bytes go to each socket. How
/// many subscribers were still there to take it.
fn deliver(members: &[(usize, Arc<Member>)], prefixes: &[Box<str>], frame: &Frame) -> usize {
    let Frame::Next(payload) = frame else {
        members.iter().for_each(|(_, member)| member.last(frame));
        return 0;
    };
    let mut framed: Vec<Option<Bytes>> = vec![None; prefixes.len()];
    let mut delivered = 0;
    for (prefix, member) in members {
        let next = framed[*prefix]
            .get_or_insert_with(|| crate::socket::text_of(&[prefixes[*prefix].as_bytes(), payload.as_bytes(), b"}"]));
        delivered += member.next(next) as usize;
    }
    delivered
}

/// Above this many subscribers, a frame is written by as many tasks as the runtime has
/// workers, each taking a share of the sockets (as many threads as there are cores write).
const SHARE: usize = 256;

/// Runs a group's stream: serialises each result once and writes it to every subscriber.
async fn run(mut stream: BoxStream<'static, Response>, slot: Slot, fan_outs: Arc<FanOuts>) {
    let _close = CloseOnDrop(slot.clone());
    let workers = tokio::runtime::Handle::current().metrics().num_workers().max(1);
    let mut succeeded = false;
    while let Some(response) = stream.next().await {
        // Nothing but errors before any result: the subscription failed to start (a world
        // that does not exist), and its stream is about to end.
        let failed = !succeeded && response.data == async_graphql::Value::Null && !response.errors.is_empty();
        succeeded |= !failed;
        let frame = Arc::new(Frame::of(&response));
        // `error` ends an operation: no `complete` after it.
        let ends = matches!(*frame, Frame::Error(_));
        let members = {
            let mut outlet = slot.lock();
            if !outlet.open {
                return;
            }
            outlet.prune();
            outlet.joinable = !failed;
            outlet.open = !ends;
            outlet.members.clone()
        };
        let began = std::time::Instant::now();
        let delivered = fan_out(&members, &frame, workers).await;
        if matches!(*frame, Frame::Next(_)) {
            fan_outs.seconds.observe(began.elapsed().as_secs_f64());
            fan_outs.messages.fetch_add(delivered as u64, Relaxed);
        }
        if ends {
            return;
        }
    }
    let members = {
        let mut outlet = slot.lock();
        if !outlet.open {
            return;
        }
        outlet.open = false;
        outlet.members.clone()
    };
    fan_out(&members, &Arc::new(Frame::Complete), workers).await;
}

/// Writes a frame to every member: here, or shared among `workers` tasks when there are many.
///
/// Every share is a task of its own, spawned in order: tokio runs the last task a worker
/// spawned next on that worker (its LIFO slot, which no other worker may take) and moves the
/// one it displaces to the queue idle workers steal from — so the shares run on different
/// workers at once, and the group's task only waits for them.
///
/// The writing runs outside tokio's cooperative budget. A TCP socket is written straight to the
/// kernel ([`crate::socket::Wire`]); any other wire is written through tokio, where each write
/// spends one unit of its task's 128 per poll and a spent budget makes every further write
/// report "not now" — each socket past the 128th would wait in its outbox for its own task,
/// woken one by one, the very wake-ups this is here to save. The loop awaits nothing anyway.
async fn fan_out(members: &Arc<Members>, frame: &Arc<Frame>, workers: usize) -> usize {
    let shares = workers.min(members.len() / SHARE).max(1);
    if shares == 1 {
        return tokio::task::unconstrained(async { deliver(&members.list, &members.prefixes, frame) }).await;
    }
    let size = members.len().div_ceil(shares);
    let tasks: Vec<_> = (0..shares)
        .map(|i| {
            let (members, frame) = (members.clone(), frame.clone());
            tokio::spawn(tokio::task::unconstrained(async move {
                let end = ((i + 1) * size).min(members.len());
                deliver(&members.list[i * size..end], &members.prefixes, &frame)
            }))
        })
        .collect();
    let mut delivered = 0;
    for task in tasks {
        delivered += task.await.unwrap_or(0);
    }
    delivered
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
pub type Admit = Arc<dyn Fn(&Caller, u32) -> futures_util::future::BoxFuture<'static, Result<(), u64>> + Send + Sync>;

/// Why a session ended.
enum End {
    /// The client went away (or closed, or stopped reading).
    Gone,
    /// Close the socket with this code and reason.
    Close(u16, String),
}

impl From<Closed> for End {
    fn from(_: Closed) -> End {
        End::Gone
    }
}

/// One socket's session.
struct Session {
    protocol: Protocol,
    cx: Context,
    outbox: Arc<Outbox>,
    /// Set once `connection_init` was accepted.
    caller: Option<Caller>,
    /// When the session ends (once signed in).
    expires: Option<tokio::time::Instant>,
    /// The account's place among its sockets.
    _ticket: Option<crate::listen::Ticket<schema::Id>>,
    init_seen: bool,
    /// Queries, mutations and refusals, until their last frame.
    operations: StreamMap<String, BoxStream<'static, Arc<Frame>>>,
    /// Subscriptions, by operation id: their groups write to the socket themselves.
    subscriptions: HashMap<String, Subscription>,
    /// The last subscription's serial.
    serial: u64,
}

/// Milliseconds since the Unix epoch as an instant of tokio's clock (now, if past).
fn instant_of(ms: i64) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    tokio::time::Instant::now() + Duration::from_millis(ms.saturating_sub(now_ms).max(0) as u64)
}

/// Serves one socket until it closes.
pub async fn serve(
    mut incoming: impl Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
    outbox: Arc<Outbox>,
    protocol: Protocol,
    cx: Context,
) {
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
    let mut stalled = None;
    let mut session = Session {
        protocol,
        cx,
        outbox: outbox.clone(),
        caller: None,
        expires: None,
        _ticket: None,
        init_seen: false,
        operations: StreamMap::new(),
        subscriptions: HashMap::new(),
        serial: 0,
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
                    session.say(r#"{"type":"ping"}"#.into())
                }
            }
            _ = keep_alive.tick(), if protocol == Protocol::Legacy && signed_in => session.say(r#"{"type":"ka"}"#.into()),
            outgoing = std::future::poll_fn(|cx| outbox.poll_outgoing(cx, &mut stalled)) => match outgoing {
                Outgoing::Ended(ended) => {
                    for (id, serial) in ended {
                        if session.subscriptions.get(&id).is_some_and(|s| s.member.serial == serial) {
                            session.subscriptions.remove(&id);
                        }
                    }
                    Ok(())
                }
                Outgoing::Failed => Err(End::Gone),
            },
            message = incoming.next() => {
                last_heard = tokio::time::Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => session.receive(text.as_bytes()).await,
                    Some(Ok(Message::Binary(bytes))) => session.receive(&bytes).await,
                    // The client's close is answered with its code (RFC 6455 §5.5.1).
                    Some(Ok(Message::Close(frame))) => {
                        Err(End::Close(frame.map_or(1000, |f| u16::from(f.code)), String::new()))
                    }
                    Some(Err(_)) | None => Err(End::Gone),
                    Some(Ok(_)) => Ok(()),
                }
            }
            Some((id, frame)) = session.operations.next(), if !session.operations.is_empty() => {
                session.deliver(&id, &frame)
            }
        };
        if let Err(end) = step {
            break end;
        }
        if let Some(at) = session.expires.take() {
            expiry.as_mut().reset(at);
        }
    };
    // Its subscriptions leave their groups before the last words.
    drop(session);
    if let End::Close(code, reason) = end
        && outbox.send(crate::socket::close(code, &reason)).is_ok()
    {
        outbox.drain(Duration::from_secs(1)).await;
    }
    outbox.shut();
}

/// The log sequence number `connection_init` asks this replica to have applied first:
/// `minSeq`, or `X-Daira-Min-Seq` among its `headers` (a number or a decimal string).
fn min_seq_of(payload: &Value) -> Option<u64> {
    let value = payload.get("minSeq").or_else(|| {
        let headers = payload.get("headers")?.as_object()?;
        headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(crate::http::MIN_SEQ_HEADER)).map(|(_, v)| v)
    })?;
    value.as_u64().or_else(|| value.as_str()?.trim().parse().ok())
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

impl Session {
    /// The session token the socket signed in with.
    fn token(&self) -> Option<&str> {
        self.caller.as_ref().and_then(|c| c.token.as_deref())
    }

    /// Sends a message of the session's own.
    fn say(&self, text: String) -> Result<(), End> {
        Ok(self.outbox.text(text)?)
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
    async fn receive(&mut self, bytes: &[u8]) -> Result<(), End> {
        let message: ClientMessage = serde_json::from_slice(bytes)
            .map_err(|e| End::Close(4400, format!("not a {} message: {e}", self.protocol.name())))?;
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.init_seen {
                    return Err(End::Close(4429, "Too many initialisation requests".into()));
                }
                self.init_seen = true;
                let payload = payload.unwrap_or_default();
                let min_seq = min_seq_of(&payload);
                let signed = tokio::time::timeout(INIT_TIMEOUT, sign_in(&self.cx, payload)).await;
                match signed.unwrap_or_else(|_| Err("signing in took too long".into())) {
                    Ok((caller, expires_ms)) => {
                        // Read-your-writes across replicas: acknowledged once this replica
                        // has applied what the client wrote elsewhere.
                        if let Some(seq) = min_seq
                            && let Err(behind) = crate::http::min_seq(&self.cx.state, seq).await
                        {
                            return Err(End::Close(4503, behind.message));
                        }
                        if let Some(user) = caller.user {
                            match self.cx.per_user.enter(user) {
                                Ok(ticket) => self._ticket = Some(ticket),
                                Err(full) => return Err(End::Close(4429, format!("Too many sockets: {full}"))),
                            }
                        }
                        self.caller = Some(caller);
                        self.expires = Some(instant_of(expires_ms));
                        self.say(r#"{"type":"connection_ack"}"#.into())?;
                        if self.protocol == Protocol::Legacy {
                            self.say(r#"{"type":"ka"}"#.into())?;
                        }
                        Ok(())
                    }
                    Err(why) => match self.protocol {
                        Protocol::TransportWs => Err(End::Close(4403, format!("Forbidden: {why}"))),
                        Protocol::Legacy => {
                            self.say(json!({"type": "connection_error", "payload": {"message": why}}).to_string())?;
                            Err(End::Close(1000, "connection_init refused".into()))
                        }
                    },
                }
            }
            ClientMessage::Subscribe { id, payload } => {
                let Some(caller) = self.caller.clone() else {
                    return Err(End::Close(4401, "Unauthorized".into()));
                };
                if self.operations.contains_key(&id) || self.subscriptions.contains_key(&id) {
                    return Err(End::Close(4409, format!("Subscriber for {id} already exists")));
                }
                // The session may have ended since the socket signed in.
                self.recheck().await?;
                let refusal = if self.operations.len() + self.subscriptions.len() >= OPERATIONS_PER_SOCKET {
                    Some(format!("at most {OPERATIONS_PER_SOCKET} operations may run at once on one socket"))
                } else if let Err(wait) = (self.cx.admit)(&caller, {
                    let name = payload.operation_name.as_deref();
                    async_graphql::parser::parse_query(&payload.query)
                        .map_or(1, |doc| crate::http::operation_cost(&doc, name))
                })
                .await
                {
                    self.cx.state.metrics.throttled();
                    Some(format!("too many requests: retry in {wait} s"))
                } else {
                    None
                };
                match refusal {
                    Some(message) => {
                        let refused = futures_util::stream::iter([Arc::new(errors_frame(Code::Throttled, &message))]);
                        self.operations.insert(id, refused.boxed());
                    }
                    None => match self.start(&id, *payload, caller) {
                        Started::Once(stream) => {
                            self.operations.insert(id, stream);
                        }
                        Started::Subscribed(subscription) => {
                            self.subscriptions.insert(id, subscription);
                        }
                    },
                }
                Ok(())
            }
            ClientMessage::Complete { id } => {
                let known = self.operations.remove(&id).is_some() | self.subscriptions.remove(&id).is_some();
                if known && self.protocol == Protocol::Legacy {
                    self.say(json!({"type": "complete", "id": id}).to_string())?;
                }
                Ok(())
            }
            ClientMessage::ConnectionTerminate => Err(End::Close(1000, "terminated".into())),
            ClientMessage::Ping { payload } => self.say(match payload {
                Some(payload) => json!({"type": "pong", "payload": payload}).to_string(),
                None => r#"{"type":"pong"}"#.into(),
            }),
            ClientMessage::Pong { .. } => Ok(()),
        }
    }

    /// Starts an operation: a subscription joins (or starts) its group; a query or mutation
    /// runs once.
    fn start(&mut self, id: &str, request: Request, caller: Caller) -> Started {
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
            let once = futures_util::stream::once(async move {
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
            });
            return Started::Once(once.chain(futures_util::stream::iter([Arc::new(Frame::Complete)])).boxed());
        }
        let viewer = VIEWER_FIELDS.iter().any(|f| request.query.contains(f)).then_some(caller.user).flatten();
        let key = Key {
            query: request.query.clone(),
            operation: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).unwrap_or_default(),
            viewer,
        };
        self.serial += 1;
        let member = Arc::new(Member::new(self.outbox.clone(), self.protocol, id, self.serial));
        let schema = cx.schema.clone();
        let group = cx.state.hub.join(key, member.clone(), move || {
            let request = request.data(Caller { user: viewer, token: None }).data(SignedIn);
            schema.execute_stream(request)
        });
        cx.state.metrics.subscription_started();
        Started::Subscribed(Subscription { group, member, _guard: Box::new(SubscriptionGuard(cx.state.clone())) })
    }

    /// Sends one of a query's or mutation's frames, and forgets the operation after its last.
    fn deliver(&mut self, id: &str, frame: &Frame) -> Result<(), End> {
        if !matches!(frame, Frame::Next(_)) {
            self.operations.remove(id);
        }
        let id_json = serde_json::to_string(id).unwrap_or_default();
        Ok(messages(self.protocol, &id_json, frame, |m| self.outbox.text(m))?)
    }
}

/// An operation, started.
enum Started {
    /// A query or mutation (or a refusal): its frames.
    Once(BoxStream<'static, Arc<Frame>>),
    /// A subscription, in its group.
    Subscribed(Subscription),
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{ServerError, value};
    use std::sync::atomic::AtomicUsize;
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

    /// A socket's writing half that keeps what it is given (a few bytes at a time, so that
    /// frames are written in parts), and takes nothing while `blocked`.
    #[derive(Clone, Default)]
    struct Wire {
        bytes: Arc<Mutex<Vec<u8>>>,
        written: Arc<Mutex<Vec<String>>>,
        blocked: Arc<AtomicBool>,
        waker: Arc<AtomicWaker>,
    }

    impl tokio::io::AsyncWrite for Wire {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.waker.register(cx.waker());
            if self.blocked.load(Relaxed) {
                return Poll::Pending;
            }
            let n = buf.len().min(100);
            let mut bytes = self.bytes.lock();
            bytes.extend_from_slice(&buf[..n]);
            // Whole text frames, as a client would read them (unmasked, final).
            while bytes.len() >= 2 {
                let (len, header) = match bytes[1] {
                    126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
                    127 if bytes.len() >= 10 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
                    126 | 127 => break,
                    short => (short as usize, 2),
                };
                if bytes.len() < header + len {
                    break;
                }
                assert_eq!(bytes[0], 0x81, "a final text frame");
                self.written.lock().push(String::from_utf8(bytes[header..header + len].to_vec()).unwrap());
                bytes.drain(..header + len);
            }
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Wire {
        /// A subscriber on this wire: its outbox and the member for operation `id`.
        fn member(&self, id: &str) -> Arc<Member> {
            Arc::new(Member::new(
                Outbox::new(crate::socket::Wire::Other(Box::pin(self.clone()))),
                Protocol::TransportWs,
                id,
                1,
            ))
        }

        /// What was written, once `n` messages were (within 5 s).
        async fn wait(&self, n: usize) -> Vec<String> {
            for _ in 0..5000 {
                if self.written.lock().len() >= n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            self.written.lock().clone()
        }
    }

    /// Joins as a new member on a new wire.
    fn join(
        hub: &Arc<Hub>,
        key: Key,
        start: impl FnOnce() -> BoxStream<'static, Response>,
    ) -> (Arc<Group>, Wire, Arc<Member>) {
        let wire = Wire::default();
        let member = wire.member("a");
        (hub.join(key, member.clone(), start), wire, member)
    }

    #[tokio::test]
    async fn subscribers_with_one_key_share_one_execution_written_by_the_groups_task() {
        let hub = Arc::new(Hub::default());
        let starts = AtomicUsize::new(0);
        let (feed, stream) = fed();
        let (first, one, _) = join(&hub, key(None), || {
            starts.fetch_add(1, Relaxed);
            stream
        });
        let (second, two, _) = join(&hub, key(None), || unreachable!("the group is running"));
        assert!(Arc::ptr_eq(&first, &second));
        let (viewers, _, _) = join(&hub, key(Some(7)), || futures_util::stream::pending().boxed());
        assert!(!Arc::ptr_eq(&first, &viewers));
        assert_eq!((hub.groups(), starts.load(Relaxed)), (2, 1));

        // Nobody polls the sockets' own tasks here (there are none): the group wrote.
        feed.send(Response::new(value!({"n": 1}))).unwrap();
        let next = r#"{"type":"next","id":"a","payload":{"data":{"n":1}}}"#;
        assert_eq!((one.wait(1).await, two.wait(1).await), (vec![next.to_owned()], vec![next.to_owned()]));

        // A finished group is not joined again: the next subscriber starts its own.
        drop(feed);
        assert_eq!(one.wait(2).await[1], r#"{"type":"complete","id":"a"}"#);
        let (third, _, _) = join(&hub, key(None), || futures_util::stream::pending().boxed());
        assert!(!Arc::ptr_eq(&first, &third));

        // The last subscriber gone, a group stops and leaves the hub.
        drop((first, second, third, viewers));
        assert_eq!(hub.groups(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_subscribers_get_every_frame_in_order_from_shared_writers() {
        let hub = Arc::new(Hub::default());
        let (feed, stream) = fed();
        let mut stream = Some(stream);
        let wires: Vec<Wire> = (0..3 * SHARE).map(|_| Wire::default()).collect();
        let groups: Vec<_> =
            wires.iter().map(|w| hub.join(key(None), w.member("s"), || stream.take().unwrap())).collect();
        for n in 0..5 {
            feed.send(Response::new(value!({ "n": n }))).unwrap();
        }
        drop(feed);
        for wire in &wires {
            let written = wire.wait(6).await;
            let expected: Vec<String> = (0..5)
                .map(|n| format!(r#"{{"type":"next","id":"s","payload":{{"data":{{"n":{n}}}}}}}"#))
                .chain([r#"{"type":"complete","id":"s"}"#.to_owned()])
                .collect();
            assert_eq!(written, expected);
        }
        drop(groups);
    }

    /// Hundreds of real sockets, no task of their own: the group's task writes every frame,
    /// though tokio's budget of I/O per poll (128) would stop a task that spent it.
    #[tokio::test]
    async fn the_groups_task_writes_hundreds_of_real_sockets_with_no_socket_task() {
        use tokio::io::AsyncReadExt;
        const SOCKETS: usize = 300;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hub = Arc::new(Hub::default());
        let (feed, stream) = fed();
        let mut stream = Some(stream);
        let (mut readers, mut groups) = (Vec::new(), Vec::new());
        for _ in 0..SOCKETS {
            let client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let fd = std::os::fd::AsRawFd::as_raw_fd(&server);
            let (_, writing) = server.into_split();
            let member = Arc::new(Member::new(
                Outbox::new(crate::socket::Wire::Tcp(writing, fd)),
                Protocol::TransportWs,
                "t",
                1,
            ));
            groups.push(hub.join(key(None), member, || stream.take().unwrap()));
            readers.push(client);
        }
        for n in 0..3 {
            feed.send(Response::new(value!({ "n": n }))).unwrap();
            let expected = format!(r#"{{"type":"next","id":"t","payload":{{"data":{{"n":{n}}}}}}}"#);
            for (i, reader) in readers.iter_mut().enumerate() {
                let mut frame = vec![0; 2 + expected.len()];
                let read = tokio::time::timeout(Duration::from_secs(5), reader.read_exact(&mut frame)).await;
                assert!(read.is_ok(), "socket {i} got nothing of frame {n} in 5 s");
                assert_eq!(frame[..2], [0x81, expected.len() as u8]);
                assert_eq!(String::from_utf8_lossy(&frame[2..]), expected);
            }
        }
        drop(groups);
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
        let (group, wire, _) = join(&hub, key(None), || stream);
        feed.send(Response::from_errors(vec![error])).unwrap();
        let first = wire.wait(1).await[0].clone();
        assert!(
            first.starts_with(
                r#"{"type":"next","id":"a","payload":{"data":null,"errors":[{"message":"world not found""#
            ),
            "{first}"
        );
        let (other, _, _) = join(&hub, key(None), || futures_util::stream::pending().boxed());
        assert!(!Arc::ptr_eq(&group, &other), "a stream that failed to start is not joined");
        drop(feed);
        assert_eq!(wire.wait(2).await[1], r#"{"type":"complete","id":"a"}"#);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(wire.written.lock().len(), 2, "nothing after complete");

        // A stream whose first result fails but that goes on is joined again once it delivers.
        drop(other);
        let (feed, stream) = fed();
        let (group, wire, _) = join(&hub, key(Some(1)), || stream);
        feed.send(Response::from_errors(vec![ServerError::new("a field failed", None)])).unwrap();
        feed.send(Response::new(value!(1))).unwrap();
        assert_eq!(wire.wait(2).await[1], r#"{"type":"next","id":"a","payload":{"data":1}}"#);
        let (again, _, _) = join(&hub, key(Some(1)), || unreachable!("joined"));
        assert!(Arc::ptr_eq(&group, &again));

        let mut invalid = ServerError::new("Unknown field \"x\"", None);
        invalid.extensions = Some({
            let mut x = async_graphql::ErrorExtensionValues::default();
            x.set("code", Code::GraphqlValidationFailed.as_str());
            x
        });
        let mut legacy = Vec::new();
        messages(Protocol::Legacy, r#""7""#, &Frame::of(&Response::from_errors(vec![invalid])), |m| {
            legacy.push(m);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            legacy,
            [
                r#"{"type":"data","id":"7","payload":{"data":null,"errors":[{"message":"Unknown field \"x\"","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}}"#,
                r#"{"type":"complete","id":"7"}"#
            ]
        );
    }

    #[tokio::test]
    async fn a_panicking_stream_completes_its_subscribers() {
        let hub = Arc::new(Hub::default());
        let panicking = futures_util::stream::once(async { panic!("a resolver panicked") }).boxed();
        let (group, wire, member) = join(&hub, key(None), || panicking);
        assert_eq!(wire.wait(1).await, [r#"{"type":"complete","id":"a"}"#]);
        assert_eq!(std::mem::take(&mut member.outbox.pending.lock().ended), [("a".to_owned(), 1)]);
        let (again, _, _) = join(&hub, key(None), || futures_util::stream::pending().boxed());
        assert!(!Arc::ptr_eq(&group, &again), "a dead group is not joined");
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_cut_off_and_its_socket_finishes_the_writing() {
        let hub = Arc::new(Hub::default());
        let (feed, stream) = fed();
        let (_group, slow, member) = join(&hub, key(None), || stream);
        let (_reading, quick, _) = join(&hub, key(None), || unreachable!());
        slow.blocked.store(true, Relaxed);
        for n in 0..BACKLOG + 10 {
            feed.send(Response::new(value!({ "n": n }))).unwrap();
        }
        assert_eq!(quick.wait(BACKLOG + 10).await.len(), BACKLOG + 10, "the reader keeps up");
        assert!(slow.written.lock().is_empty());
        let outbox = member.outbox.clone();
        assert_eq!(std::mem::take(&mut outbox.pending.lock().ended), [("a".to_owned(), 1)], "cut off");

        // The socket's task writes what waited once the socket takes it again.
        slow.blocked.store(false, Relaxed);
        let mut stalled = None;
        let drained = std::future::poll_fn(|cx| match outbox.poll_outgoing(cx, &mut stalled) {
            Poll::Pending if outbox.pending.lock().queue.is_empty() => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => panic!("the socket did not fail"),
        });
        tokio::time::timeout(Duration::from_secs(5), drained).await.unwrap();
        let written = slow.written.lock().clone();
        assert_eq!(written.len(), BACKLOG + 1, "{:?}", written.last());
        assert!(written[BACKLOG].contains("THROTTLED") && written[BACKLOG].contains("256 results behind"));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(slow.written.lock().len(), BACKLOG + 1, "nothing after the cut-off");
    }
}
