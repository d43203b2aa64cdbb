// Interoperability scenarios: the official @microsoft/signalr client (pinned in
// package.json) against a running gosignalr test server.
//
// Run from this folder, after `npm ci`:
//
//   SIGNALR_URL=http://127.0.0.1:12345 \
//   SIGNALR_TRANSPORT=WebSockets SIGNALR_PROTOCOL=json \
//   node --test --test-concurrency=1 scenarios.test.mjs
//
// Environment:
//   SIGNALR_URL        required; server base URL, hub paths (/hub, /nokeepalive, /shutdown) are appended
//   SIGNALR_TRANSPORT  WebSockets (default) | ServerSentEvents | LongPolling | Default (the client's own fallback order)
//   SIGNALR_PROTOCOL   json (default) | messagepack   (ServerSentEvents supports json only)
//   SIGNALR_LOG_LEVEL  optional client log level for debugging (Trace, Debug, Information, ...); default None
//
// The server contract these scenarios rely on is described next to each test.
// Every test has a timeout, every awaited step has its own timeout, and every
// connection is stopped after each test, so a hung server fails instead of hanging.
// The /shutdown scenario shuts that hub down for good, so it must stay the last test.

import { test, afterEach, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  HubConnectionBuilder,
  HubConnectionState,
  HttpTransportType,
  JsonHubProtocol,
  LogLevel,
} from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

// ---------------------------------------------------------------------------
// Configuration (fails fast on anything missing or invalid)

function configError(msg) {
  return new Error(`interop scenarios: ${msg}`);
}

function readConfig(env) {
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

const CONFIG = readConfig(process.env);
const IS_WS = CONFIG.transportName === "WebSockets";
const IS_LP = CONFIG.transportName === "LongPolling";
const COMBO = `${CONFIG.transportName}/${CONFIG.protocolName}`;

function makeProtocol() {
  return CONFIG.protocolName === "messagepack" ? new MessagePackHubProtocol() : new JsonHubProtocol();
}

// Per-step timeouts (ms). Loopback only, so these are generous.
const START_TIMEOUT = 10_000;
const STOP_TIMEOUT = 5_000;
const CALL_TIMEOUT = 5_000;
const MSG_TIMEOUT = 5_000;

// ---------------------------------------------------------------------------
// Small utilities

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function uid() {
  return randomBytes(6).toString("hex");
}

function describeError(err) {
  if (err === undefined) return "no error";
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

// Resolves/rejects like `promise`, but rejects with a clear message if it has
// not settled within `ms`.
function within(promise, ms, what) {
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

function info(conn) {
  const m = meta.get(conn);
  if (!m) throw new Error("connection was not created by connect()");
  return m;
}

function label(conn) {
  return info(conn).label;
}

// Registers a queueing handler for client method `method` (idempotent). Messages
// are queued from the moment of registration, so none are missed before a
// nextMessage() call.
function listen(conn, method) {
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
function nextMessage(conn, method, timeoutMs = MSG_TIMEOUT) {
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
function waitClosed(conn, timeoutMs) {
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
//   methods          client methods to queue from before start()
//   start            false to return the built connection without starting it
async function connect(path, opts = {}) {
  const {
    query,
    skipNegotiation = false,
    serverTimeout,
    keepAlive,
    label: name = path,
    methods = ["receive", "notified"],
    start = true,
  } = opts;
  const qs = query && Object.keys(query).length > 0 ? `?${new URLSearchParams(query)}` : "";
  const url = CONFIG.base + path + qs;

  let builder = new HubConnectionBuilder()
    .withUrl(url, { transport: CONFIG.transport, skipNegotiation })
    .withHubProtocol(makeProtocol())
    .configureLogging(CONFIG.logLevel);
  if (serverTimeout !== undefined) builder = builder.withServerTimeout(serverTimeout);
  if (keepAlive !== undefined) builder = builder.withKeepAliveInterval(keepAlive);
  const conn = builder.build();

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

async function stopQuietly(conn) {
  openConnections.delete(conn);
  try {
    await within(conn.stop(), STOP_TIMEOUT, `${label(conn)}: stop()`);
  } catch {
    // Best effort: the test already passed or failed on its own merits.
  }
}

async function stopAll() {
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

async function call(conn, method, ...args) {
  return within(conn.invoke(method, ...args), CALL_TIMEOUT, `${label(conn)}: invoke('${method}')`);
}

// Invokes and returns { ok, value } or { ok: false, error }; only a timeout throws.
async function outcome(conn, method, ...args) {
  return within(
    conn.invoke(method, ...args).then(
      (value) => ({ ok: true, value }),
      (error) => ({ ok: false, error }),
    ),
    CALL_TIMEOUT,
    `${label(conn)}: invoke('${method}') neither resolved nor rejected`,
  );
}

async function expectInvokeError(conn, method, args, check) {
  const r = await outcome(conn, method, ...args);
  assert.equal(r.ok, false, `invoke('${method}') should reject, but resolved with ${JSON.stringify(r.value)}`);
  assert.ok(r.error instanceof Error, `invoke('${method}') rejected with a non-Error: ${String(r.error)}`);
  check(r.error.message);
}

function assertConnected(conn) {
  const m = info(conn);
  assert.equal(m.closed, false, `${m.label}: onclose fired unexpectedly (${describeError(m.closeError)})`);
  assert.equal(conn.state, HubConnectionState.Connected, `${m.label}: state should be Connected`);
}

async function expectReceive(conn, msg, context) {
  const args = await nextMessage(conn, "receive");
  assert.deepEqual(args, [msg], `${label(conn)}: expected 'receive' ${JSON.stringify(msg)} ${context}, got ${JSON.stringify(args)}`);
}

// Proves that nothing more is pending for each connection, without sleeping:
// the server keeps per-connection order, so a distinct sentinel sent now must be
// the very next 'receive' message; anything else is an unexpected or duplicate message.
async function assertNothingElse(sender, conns, context) {
  for (const c of conns) {
    const sentinel = `sentinel-${uid()}`;
    await call(sender, "SendToClient", c.connectionId, sentinel);
    const args = await nextMessage(c, "receive");
    assert.deepEqual(
      args,
      [sentinel],
      `${label(c)}: ${context}: expected nothing before the sentinel, got ${JSON.stringify(args)}`,
    );
  }
}

// Invokes sender.method(...args) (whose last argument is the message text), then
// checks that every connection in `receivers` got the message exactly once and
// that no other connection of `everyone` got it.
async function assertDelivery(sender, method, args, receivers, everyone) {
  const msg = args[args.length - 1];
  const result = await call(sender, method, ...args);
  // .NET answers a void method with a void Completion (no result), which the client resolves as undefined.
  assert.equal(result, undefined, `${method} should return nothing, got ${JSON.stringify(result)}`);
  const context = `after ${label(sender)} invoked ${method}(${args.map((a) => JSON.stringify(a)).join(", ")})`;
  for (const c of receivers) await expectReceive(c, msg, context);
  await assertNothingElse(sender, everyone, context);
}

function text(prefix) {
  return `${prefix}-${uid()}`;
}

// ---------------------------------------------------------------------------
// Scenarios

test(`01 invoke with result (${COMBO})`, { timeout: 15_000 }, async () => {
  const conn = await connect("/hub", { label: "solo" });

  assert.equal(await call(conn, "Add", 40, 2), 42);
  // Hub method names are case-insensitive.
  assert.equal(await call(conn, "add", 1, 2), 3);

  const unicode = "héllo wörld 🌍 日本語 \u0000?";
  assert.equal(await call(conn, "Echo", unicode), unicode);
  assert.equal(await call(conn, "ECHO", unicode), unicode);
  // The JSON record separator inside a string must be escaped, not split on.
  const separator = "rs:\u001e:end";
  assert.equal(await call(conn, "Echo", separator), separator);
  assert.equal(await call(conn, "Echo", ""), "");

  const id = await call(conn, "GetConnectionId");
  assert.equal(typeof id, "string");
  assert.ok(id.length > 0, "GetConnectionId returned an empty id");
  assert.equal(id, conn.connectionId, "GetConnectionId should equal the negotiated connectionId");
  assert.equal(await call(conn, "GetUser"), "", "a connection without ?user= has no user");
  assertConnected(conn);
});

test(`02 typed arguments (${COMBO})`, { timeout: 15_000 }, async () => {
  const conn = await connect("/hub", { label: "typed" });

  const kitchen = {
    name: "kïtchen 🍳 日本語",
    count: 9007199254740991, // 2^53 - 1
    ratio: 3.25,
    ok: true,
    tags: ["alpha", "βeta", "🌍"],
    attrs: { one: 1, zwei: 2, "minus-three": -3 },
    inner: { label: "inner ✓", values: [1, 2, 3] },
    nested: [
      { label: "n0", values: [0] },
      { label: "n1", values: [-1, 2147483647] },
    ],
  };
  assert.deepEqual(await call(conn, "EchoKitchen", kitchen), kitchen);

  const noInner = { ...kitchen, name: "no inner", inner: null };
  const back = await call(conn, "EchoKitchen", noInner);
  assert.equal(back.inner, null, "a null inner must come back as null");
  assert.deepEqual(back, noInner);

  assert.equal(await call(conn, "IsNil", null), true);
  assert.equal(await call(conn, "IsNil", { label: "a", values: [1] }), false);

  assert.equal(await call(conn, "Sum", [1.5, 2.5, 3]), 7);

  assert.equal(await call(conn, "Describe", "int", 5), "int:5");
  assert.equal(await call(conn, "Describe", "string", "x"), "string:x");
  assert.equal(await call(conn, "Describe", "list", [1, 2, 3]), "list:[1 2 3]");
  assertConnected(conn);
});

test(`03 send without completion (${COMBO})`, { timeout: 15_000 }, async () => {
  const conn = await connect("/hub", { label: "sender" });

  const sent = await within(conn.send("Notify", "hi"), CALL_TIMEOUT, "send('Notify')");
  assert.equal(sent, undefined);
  assert.deepEqual(await nextMessage(conn, "notified"), ["hi"]);

  // Still usable, and nothing else is pending.
  assert.equal(await call(conn, "Add", 1, 1), 2);
  assertConnected(conn);
});

test(`04 targets: caller, all, others, clients, users (${COMBO})`, { timeout: 30_000 }, async () => {
  const A = await connect("/hub", { query: { user: "alice" }, label: "A(alice)" });
  const B = await connect("/hub", { query: { user: "alice" }, label: "B(alice)" });
  const C = await connect("/hub", { query: { user: "bob" }, label: "C(bob)" });
  const all = [A, B, C];

  for (const c of all) {
    assert.equal(await call(c, "GetConnectionId"), c.connectionId, `${label(c)}: GetConnectionId`);
  }
  assert.equal(await call(A, "GetUser"), "alice");
  assert.equal(await call(B, "GetUser"), "alice");
  assert.equal(await call(C, "GetUser"), "bob");

  await assertDelivery(A, "SendToCaller", [text("caller")], [A], all);
  await assertDelivery(A, "SendToAll", [text("all")], [A, B, C], all);
  await assertDelivery(A, "SendToOthers", [text("others")], [B, C], all);
  await assertDelivery(A, "SendToClient", [C.connectionId, text("client")], [C], all);
  await assertDelivery(B, "SendToClients", [[A.connectionId, C.connectionId], text("clients")], [A, C], all);
  await assertDelivery(A, "SendToAllExcept", [[B.connectionId], text("allexcept")], [A, C], all);
  await assertDelivery(C, "SendToUser", ["alice", text("user")], [A, B], all);
  await assertDelivery(A, "SendToUsers", [["alice", "bob"], text("users")], [A, B, C], all);

  for (const c of all) assertConnected(c);
});

test(`05 groups (${COMBO})`, { timeout: 30_000 }, async () => {
  const g = `g-${uid()}`;
  const h = `h-${uid()}`;
  const A = await connect("/hub", { label: "A" });
  const B = await connect("/hub", { label: "B" });
  const C = await connect("/hub", { label: "C" });
  const all = [A, B, C];

  await call(A, "JoinGroup", g);
  await call(B, "JoinGroup", g);

  await assertDelivery(C, "SendToGroup", [g, text("group")], [A, B], all);
  await assertDelivery(A, "SendToOthersInGroup", [g, text("othersingroup")], [B], all);
  await assertDelivery(C, "SendToGroupExcept", [g, [B.connectionId], text("groupexcept")], [A], all);

  // C joins h, and A is in both g and h: SendToGroups must reach A only once.
  await call(C, "JoinGroup", h);
  await call(A, "JoinGroup", h);
  await assertDelivery(B, "SendToGroups", [[g, h], text("groups")], [A, B, C], all);

  await call(B, "LeaveGroup", g);
  await assertDelivery(C, "SendToGroup", [g, text("afterleave")], [A], all);

  for (const c of all) assertConnected(c);
});

test(`06 errors keep the connection usable (${COMBO})`, { timeout: 20_000 }, async () => {
  const conn = await connect("/hub", { label: "errors" });

  await expectInvokeError(conn, "Fail", ["boom"], (msg) =>
    assert.equal(msg, "An unexpected error occurred invoking 'Fail' on the server."),
  );
  assertConnected(conn);

  const hubMsg = `hub says no ${uid()}`;
  await expectInvokeError(conn, "FailHub", [hubMsg], (msg) =>
    assert.equal(msg, `An unexpected error occurred invoking 'FailHub' on the server. HubException: ${hubMsg}`),
  );
  assertConnected(conn);

  await expectInvokeError(conn, "Panic", [], (msg) =>
    assert.equal(msg, "An unexpected error occurred invoking 'Panic' on the server."),
  );
  assertConnected(conn);
  assert.equal(await call(conn, "Add", 2, 3), 5, "Add after Panic");

  await expectInvokeError(conn, "NoSuchMethod", [], (msg) =>
    assert.equal(msg, "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist."),
  );
  assertConnected(conn);

  await expectInvokeError(conn, "Add", [1], (msg) =>
    assert.equal(
      msg,
      "Failed to invoke 'Add' due to an error on the server. InvalidDataException: Invocation provides 1 argument(s) but target expects 2.",
    ),
  );
  assertConnected(conn);

  const bindPrefix = "Failed to invoke 'Add' due to an error on the server. InvalidDataException: Error binding arguments.";
  await expectInvokeError(conn, "Add", ["x", 2], (msg) =>
    assert.ok(msg.startsWith(bindPrefix), `expected a message starting with ${JSON.stringify(bindPrefix)}, got ${JSON.stringify(msg)}`),
  );

  assert.equal(await call(conn, "Add", 40, 2), 42, "Add after all errors");
  assertConnected(conn);
});

test(
  `07 skipNegotiation (${COMBO})`,
  { timeout: 15_000, skip: IS_WS ? false : "skipNegotiation is WebSockets-only in the official client" },
  async () => {
    const conn = await connect("/hub", { skipNegotiation: true, label: "skipneg" });

    assert.equal(await call(conn, "Add", 40, 2), 42);
    const id = await call(conn, "GetConnectionId");
    assert.equal(typeof id, "string");
    assert.ok(id.length > 0, "GetConnectionId returned an empty id");
    // The server-made id must route like any other.
    const msg = text("skipneg");
    await call(conn, "SendToClient", id, msg);
    await expectReceive(conn, msg, "after SendToClient to its own server-side id");
    assertConnected(conn);
  },
);

test(`08 oversized message closes only that connection (${COMBO})`, { timeout: 20_000 }, async () => {
  const bystander = await connect("/hub", { label: "bystander" });
  const big = await connect("/hub", { label: "oversized" });

  const r = await outcome(big, "Echo", "x".repeat(40_000));
  assert.equal(r.ok, false, "an Echo of 40000 characters (> 32768 bytes) should reject");

  const err = await waitClosed(big, 5_000);
  assert.ok(err instanceof Error, `onclose should carry an error, got ${describeError(err)}`);
  assert.ok(
    err.message.includes("exceeds the maximum message size"),
    `onclose error should mention 'exceeds the maximum message size', got ${JSON.stringify(err.message)}`,
  );

  assertConnected(bystander);
  assert.equal(await call(bystander, "Add", 40, 2), 42);
  assertConnected(bystander);
});

test(`09a keep-alive pings keep an idle connection open (${COMBO})`, { timeout: 20_000 }, async () => {
  const conn = await connect("/hub", { serverTimeout: 2_000, keepAlive: 1_000, label: "idle" });
  await sleep(5_000);
  assertConnected(conn);
  assert.equal(await call(conn, "Add", 40, 2), 42);
  assertConnected(conn);
});

test(
  `09b no keep-alive: the client's server timeout fires (${COMBO})`,
  {
    timeout: 20_000,
    skip: IS_LP ? "long polling has no client server timeout (inherent keep-alive), so there is nothing to time out" : false,
  },
  async () => {
    const conn = await connect("/nokeepalive", { serverTimeout: 2_000, keepAlive: 1_000, label: "nokeepalive" });
    const err = await waitClosed(conn, 6_000);
    assert.ok(err instanceof Error, `onclose should carry an error, got ${describeError(err)}`);
    assert.ok(
      err.message.includes("Server timeout elapsed without receiving a message from the server."),
      `unexpected onclose error: ${JSON.stringify(err.message)}`,
    );
  },
);

// Must stay the last test: the /shutdown hub can be shut down only once per server process.
test(`10 graceful hub shutdown (${COMBO})`, { timeout: 30_000 }, async () => {
  const X = await connect("/shutdown", { label: "shutdown-X" });
  const Y = await connect("/shutdown", { label: "shutdown-Y" });

  const result = await call(X, "ShutdownServer");
  assert.equal(result, undefined, `ShutdownServer should return nothing, got ${JSON.stringify(result)}`);

  const [ex, ey] = await Promise.all([waitClosed(X, 5_000), waitClosed(Y, 5_000)]);
  assert.equal(ex, undefined, `X: onclose error should be undefined, got ${describeError(ex)}`);
  assert.equal(ey, undefined, `Y: onclose error should be undefined, got ${describeError(ey)}`);
  assert.equal(X.state, HubConnectionState.Disconnected);
  assert.equal(Y.state, HubConnectionState.Disconnected);

  const late = await connect("/shutdown", { label: "shutdown-late", start: false });
  const started = await within(
    late.start().then(
      () => ({ ok: true }),
      (error) => ({ ok: false, error }),
    ),
    START_TIMEOUT,
    "start() of a new /shutdown connection neither resolved nor rejected",
  );
  assert.equal(started.ok, false, "a new connection to /shutdown should fail to start after shutdown");
});
