// Shared helpers for the interop scenario files (scenarios.test.mjs,
// streaming.test.mjs): configuration from the environment, per-step timeouts,
// and connection bookkeeping. Not a test file itself (node --test's default
// patterns do not match it).
//
// Environment:
//   SIGNALR_URL        required; server base URL, hub paths (/hub, /nokeepalive, /shutdown) are appended
//   SIGNALR_TRANSPORT  WebSockets (default) | ServerSentEvents | LongPolling | Default (the client's own fallback order)
//   SIGNALR_PROTOCOL   json (default) | messagepack   (ServerSentEvents supports json only)
//   SIGNALR_LOG_LEVEL  optional client log level for debugging (Trace, Debug, Information, ...); default None
//   SIGNALR_CLIENT_DIR optional folder holding an older release in its own node_modules (releases/vX.Y);
//                      default this folder's pinned release
//
// Importing this module registers afterEach/after hooks on the importing test
// file: every connection made by connect() is stopped after each test, pass or
// fail, and the process is forced to exit if handles leak after the last test.

import { afterEach, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { loadClient } from "./client.mjs";

// The client under test: this folder's pinned release, or the one installed
// in $SIGNALR_CLIENT_DIR (see client.mjs).
export const CLIENT = loadClient(process.env);
const { HubConnectionBuilder, HubConnectionState, HttpTransportType, JsonHubProtocol, LogLevel } = CLIENT.signalr;
const { MessagePackHubProtocol } = CLIENT.msgpack;
export const { Subject } = CLIENT.signalr;
export { HubConnectionState };

// ---------------------------------------------------------------------------
// Configuration (fails fast on anything missing or invalid)

function configError(msg) {
  return new Error(`interop scenarios: ${msg}`);
}

export function readConfig(env) {
  const rawUrl = (env.SIGNALR_URL ?? "").trim();
  if (!rawUrl) {
    throw configError("SIGNALR_URL is not set; set it to the test server's base URL, e.g. SIGNALR_URL=http://127.0.0.1:12345");
  }
  let parsed;
  try {
    parsed = new URL(rawUrl);
  } catch {
    throw configError(`SIGNALR_URL=${JSON.stringify(rawUrl)} is not a valid URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw configError(`SIGNALR_URL must be an http(s) URL, got ${JSON.stringify(rawUrl)}`);
  }

  const transports = {
    websockets: "WebSockets",
    serversentevents: "ServerSentEvents",
    longpolling: "LongPolling",
    // The client's default: every transport, in the server's order, falling
    // back to the next one when a transport fails to start.
    default: "Default",
  };
  const rawTransport = (env.SIGNALR_TRANSPORT ?? "").trim() || "WebSockets";
  const transportName = transports[rawTransport.toLowerCase()];
  if (!transportName) {
    throw configError(`SIGNALR_TRANSPORT=${JSON.stringify(rawTransport)} is not one of WebSockets, ServerSentEvents, LongPolling, Default`);
  }

  const protocols = { json: "json", messagepack: "messagepack" };
  const rawProtocol = (env.SIGNALR_PROTOCOL ?? "").trim() || "json";
  const protocolName = protocols[rawProtocol.toLowerCase()];
  if (!protocolName) {
    throw configError(`SIGNALR_PROTOCOL=${JSON.stringify(rawProtocol)} is not one of json, messagepack`);
  }
  if (transportName === "ServerSentEvents" && protocolName === "messagepack") {
    throw configError("ServerSentEvents is text-only; the official client cannot use it with messagepack");
  }

  const rawLog = (env.SIGNALR_LOG_LEVEL ?? "").trim() || "None";
  const logKey = Object.keys(LogLevel).find((k) => isNaN(Number(k)) && k.toLowerCase() === rawLog.toLowerCase());
  if (logKey === undefined) {
    throw configError(`SIGNALR_LOG_LEVEL=${JSON.stringify(rawLog)} is not a LogLevel name`);
  }

  return {
    base: rawUrl.replace(/\/+$/, ""),
    transportName,
    transport: transportName === "Default" ? undefined : HttpTransportType[transportName],
    protocolName,
    logLevel: LogLevel[logKey],
  };
}

export const CONFIG = readConfig(process.env);
export const IS_WS = CONFIG.transportName === "WebSockets";
export const IS_LP = CONFIG.transportName === "LongPolling";
export const COMBO = `${CONFIG.transportName}/${CONFIG.protocolName}, client ${CLIENT.version}`;

export function makeProtocol() {
  return CONFIG.protocolName === "messagepack" ? new MessagePackHubProtocol() : new JsonHubProtocol();
}

// Per-step timeouts (ms). Loopback only, so these are generous.
export const START_TIMEOUT = 10_000;
export const STOP_TIMEOUT = 5_000;
export const CALL_TIMEOUT = 5_000;
export const MSG_TIMEOUT = 5_000;

// ---------------------------------------------------------------------------
// Small utilities

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function uid() {
  return randomBytes(6).toString("hex");
}

export function describeError(err) {
  if (err === undefined) return "no error";
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

// Resolves/rejects like `promise`, but rejects with a clear message if it has
// not settled within `ms`.
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// Connection bookkeeping

const meta = new WeakMap(); // HubConnection -> state recorded by connect()
const openConnections = new Set();

export function info(conn) {
  const m = meta.get(conn);
  if (!m) throw new Error("connection was not created by connect()");
  return m;
}

export function label(conn) {
  return info(conn).label;
}

// Registers a queueing handler for client method `method` (idempotent). Messages
// are queued from the moment of registration, so none are missed before a
// nextMessage() call.
export function listen(conn, method) {
  const m = info(conn);
  const key = method.toLowerCase();
  if (m.queues.has(key)) return;
  m.queues.set(key, []);
  m.waiters.set(key, []);
  conn.on(key, (...args) => {
    const waiters = m.waiters.get(key);
    if (waiters.length > 0) {
      const w = waiters.shift();
      clearTimeout(w.timer);
      w.resolve(args);
    } else {
      m.queues.get(key).push(args);
    }
  });
}

// Resolves with the argument array of the next call of client method `method`
// on `conn`. Rejects after `timeoutMs`, or at once if the connection closes.
export function nextMessage(conn, method, timeoutMs = MSG_TIMEOUT) {
  const m = info(conn);
  const key = method.toLowerCase();
  listen(conn, key);
  const queue = m.queues.get(key);
  if (queue.length > 0) return Promise.resolve(queue.shift());
  if (m.closed) {
    return Promise.reject(
      new Error(`${m.label}: connection is closed (${describeError(m.closeError)}) while waiting for a '${method}' message`),
    );
  }
  return new Promise((resolve, reject) => {
    const waiters = m.waiters.get(key);
    const w = {
      resolve,
      reject,
      timer: setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i !== -1) waiters.splice(i, 1);
        reject(new Error(`${m.label}: no '${method}' message within ${timeoutMs} ms`));
      }, timeoutMs),
    };
    waiters.push(w);
  });
}

// Resolves with the error passed to onclose (undefined for a clean close);
// rejects if onclose has not fired within `timeoutMs`.
export function waitClosed(conn, timeoutMs) {
  const m = info(conn);
  return within(m.closedPromise, timeoutMs, `${m.label}: onclose did not fire`);
}

// Builds a HubConnection for `path` (relative to SIGNALR_URL) with the
// configured transport and protocol, records its close error, and starts it.
//   query            object of query parameters, e.g. { user: "alice" }
//   skipNegotiation  pass-through to withUrl (WebSockets only)
//   serverTimeout    serverTimeoutInMilliseconds
//   keepAlive        keepAliveIntervalInMilliseconds
//   label            name used in failure messages
//   accessToken      bearer token, passed as accessTokenFactory: () => accessToken
//   methods          client methods to queue from before start()
//   start            false to return the built connection without starting it
export async function connect(path, opts = {}) {
  const {
    query,
    skipNegotiation = false,
    serverTimeout,
    keepAlive,
    label: name = path,
    methods = ["receive", "notified"],
    start = true,
    accessToken,
  } = opts;
  const qs = query && Object.keys(query).length > 0 ? `?${new URLSearchParams(query)}` : "";
  const url = CONFIG.base + path + qs;

  let builder = new HubConnectionBuilder()
    .withUrl(url, {
      transport: CONFIG.transport,
      skipNegotiation,
      ...(accessToken !== undefined ? { accessTokenFactory: () => accessToken } : {}),
    })
    .withHubProtocol(makeProtocol())
    .configureLogging(CONFIG.logLevel);
  // Releases before 8.0 have no builder methods for these; they set the
  // same HubConnection properties, which every release has.
  const builderTimeouts = typeof builder.withServerTimeout === "function";
  if (builderTimeouts) {
    if (serverTimeout !== undefined) builder = builder.withServerTimeout(serverTimeout);
    if (keepAlive !== undefined) builder = builder.withKeepAliveInterval(keepAlive);
  }
  const conn = builder.build();
  if (!builderTimeouts) {
    if (serverTimeout !== undefined) conn.serverTimeoutInMilliseconds = serverTimeout;
    if (keepAlive !== undefined) conn.keepAliveIntervalInMilliseconds = keepAlive;
  }

  const m = {
    label: `${name} [${url}]`,
    closed: false,
    closeError: undefined,
    queues: new Map(),
    waiters: new Map(),
    closedPromise: null,
  };
  m.closedPromise = new Promise((resolve) => {
    conn.onclose((err) => {
      m.closed = true;
      m.closeError = err;
      for (const waiters of m.waiters.values()) {
        for (const w of waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`${m.label}: connection closed (${describeError(err)}) while waiting for a message`));
        }
      }
      resolve(err);
    });
  });
  meta.set(conn, m);
  for (const method of methods) listen(conn, method);
  openConnections.add(conn);

  if (start) {
    await within(conn.start(), START_TIMEOUT, `${m.label}: start()`);
  }
  return conn;
}

export async function stopQuietly(conn) {
  openConnections.delete(conn);
  try {
    await within(conn.stop(), STOP_TIMEOUT, `${label(conn)}: stop()`);
  } catch {
    // Best effort: the test already passed or failed on its own merits.
  }
}

export async function stopAll() {
  const conns = [...openConnections];
  await Promise.all(conns.map(stopQuietly));
}

// Every connection a test started is stopped after it, pass or fail.
afterEach(stopAll);

after(async () => {
  await stopAll();
  // A leaked handle (e.g. a socket the server never closes) would keep this
  // process alive forever under Node 20's runner; exit anyway after a grace
  // period. The timer is unref'd, so it never delays a clean exit.
  setTimeout(() => {
    process.stderr.write("interop scenarios: handles still open 5 s after the last test; forcing exit\n");
    process.exit();
  }, 5_000).unref();
});

// ---------------------------------------------------------------------------
// Assertion helpers

export async function call(conn, method, ...args) {
  return within(conn.invoke(method, ...args), CALL_TIMEOUT, `${label(conn)}: invoke('${method}')`);
}

// Invokes and returns { ok, value } or { ok: false, error }; only a timeout throws.
export async function outcome(conn, method, ...args) {
  return within(
    conn.invoke(method, ...args).then(
      (value) => ({ ok: true, value }),
      (error) => ({ ok: false, error }),
    ),
    CALL_TIMEOUT,
    `${label(conn)}: invoke('${method}') neither resolved nor rejected`,
  );
}

export async function expectInvokeError(conn, method, args, check) {
  const r = await outcome(conn, method, ...args);
  assert.equal(r.ok, false, `invoke('${method}') should reject, but resolved with ${JSON.stringify(r.value)}`);
  assert.ok(r.error instanceof Error, `invoke('${method}') rejected with a non-Error: ${String(r.error)}`);
  check(r.error.message);
}

export function assertConnected(conn) {
  const m = info(conn);
  assert.equal(m.closed, false, `${m.label}: onclose fired unexpectedly (${describeError(m.closeError)})`);
  assert.equal(conn.state, HubConnectionState.Connected, `${m.label}: state should be Connected`);
}
