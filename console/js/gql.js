// The console's only door to DAIRA: the public GraphQL API, over HTTP for queries and
// mutations and graphql-transport-ws for subscriptions. The session token (from `login` or
// `register`) is kept in sessionStorage and sent as a bearer token, as any app would.

const ENDPOINT = "/graphql";
const TOKEN_KEY = "daira.token";
const MASK_KEY = "daira.mask";

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
    socket.close();
  },
  /** The acting mask: its global id and handle ({id, handle}), or null. */
  get mask() {
    try {
      return JSON.parse(sessionStorage.getItem(MASK_KEY));
    } catch {
      return null;
    }
  },
  set mask(value) {
    if (value) sessionStorage.setItem(MASK_KEY, JSON.stringify(value));
    else sessionStorage.removeItem(MASK_KEY);
  },
};

/** A GraphQL error with the server's code (`extensions.code`) and field path. */
export class GraphQLError extends Error {
  constructor(message, code, path) {
    super(message);
    this.code = code;
    this.path = path;
  }
}

/** Runs a query or mutation; resolves to `data`, rejects with the first error. */
export async function gql(query, variables = {}) {
  const headers = { "content-type": "application/json", accept: "application/graphql-response+json" };
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  const response = await fetch(ENDPOINT, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new GraphQLError(`HTTP ${response.status}`, "HTTP", null);
  }
  if (body.errors?.length) {
    const e = body.errors[0];
    if (e.extensions?.code === "UNAUTHENTICATED" && session.token) {
      // An expired or revoked session: sign out rather than fail every request after.
      session.token = null;
      session.mask = null;
    }
    throw new GraphQLError(e.message, e.extensions?.code ?? "ERROR", e.path ?? null);
  }
  return body.data;
}

/** A mutation whose payload carries `userErrors`: throws the first as a GraphQLError. */
export async function mutate(query, variables, field) {
  const data = await gql(query, variables);
  const payload = data[field];
  const errors = payload?.userErrors ?? [];
  if (errors.length) throw new GraphQLError(errors[0].message, errors[0].code, errors[0].field);
  return payload;
}

// One WebSocket for every subscription of the page (graphql-transport-ws), opened on the first
// subscription and re-opened, with the subscriptions it held, when it drops.
const socket = {
  ws: null,
  ready: false,
  next: 1,
  subs: new Map(),
  retry: 0,
  open() {
    if (this.ws) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${ENDPOINT}/ws`;
    const ws = new WebSocket(url, "graphql-transport-ws");
    this.ws = ws;
    this.ready = false;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "connection_init", payload: session.token ? { token: session.token } : {} }));
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "connection_ack") {
        this.ready = true;
        this.retry = 0;
        for (const [id, sub] of this.subs) this.start(id, sub);
      } else if (msg.type === "ping") {
        ws.send(JSON.stringify({ type: "pong" }));
      } else if (msg.type === "next") {
        const sub = this.subs.get(msg.id);
        if (!sub) return;
        if (msg.payload.errors?.length) sub.onError?.(msg.payload.errors[0]);
        else sub.onData(msg.payload.data);
      } else if (msg.type === "error") {
        const sub = this.subs.get(msg.id);
        this.subs.delete(msg.id);
        sub?.onError?.(msg.payload[0] ?? msg.payload);
      } else if (msg.type === "complete") {
        this.subs.delete(msg.id);
      }
    };
    ws.onclose = () => {
      this.ws = null;
      this.ready = false;
      if (this.subs.size) {
        const wait = Math.min(10000, 250 * 2 ** this.retry++);
        setTimeout(() => this.subs.size && this.open(), wait);
      }
    };
  },
  start(id, sub) {
    this.ws.send(JSON.stringify({ id, type: "subscribe", payload: { query: sub.query, variables: sub.variables } }));
  },
  close() {
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  },
};

/**
 * Subscribes; `onData` gets each event's data. Returns a function that ends the subscription.
 * The server lets signed-in users subscribe: without a session this does nothing.
 */
export function subscribe(query, variables, onData, onError) {
  if (!session.token) return () => {};
  const id = String(socket.next++);
  const sub = { query, variables, onData, onError };
  socket.subs.set(id, sub);
  if (socket.ws && socket.ready) socket.start(id, sub);
  else socket.open();
  return () => {
    if (!socket.subs.delete(id)) return;
    if (socket.ws && socket.ready) socket.ws.send(JSON.stringify({ id, type: "complete" }));
    if (!socket.subs.size) socket.close();
  };
}
