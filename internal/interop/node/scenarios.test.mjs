// Interoperability scenarios: the official @microsoft/signalr client (pinned in
// package.json) against a running gosignalr test server.
//
// Run from this folder, after `npm ci`:
//
//   SIGNALR_URL=http://127.0.0.1:12345 \
//   SIGNALR_TRANSPORT=WebSockets SIGNALR_PROTOCOL=json \
//   node --test --test-concurrency=1 scenarios.test.mjs
//
// Environment (read by lib.mjs, shared with streaming.test.mjs):
//   SIGNALR_URL        required; server base URL, hub paths (/hub, /nokeepalive, /shutdown) are appended
//   SIGNALR_TRANSPORT  WebSockets (default) | ServerSentEvents | LongPolling | Default (the client's own fallback order)
//   SIGNALR_PROTOCOL   json (default) | messagepack   (ServerSentEvents supports json only)
//   SIGNALR_LOG_LEVEL  optional client log level for debugging (Trace, Debug, Information, ...); default None
//
// The server contract these scenarios rely on is described next to each test.
// Every test has a timeout, every awaited step has its own timeout, and every
// connection is stopped after each test, so a hung server fails instead of hanging.
// The /shutdown scenario shuts that hub down for good, so it must stay the last test.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CLIENT,
  CONFIG,
  HubConnectionState,
  COMBO,
  IS_LP,
  IS_WS,
  CALL_TIMEOUT,
  START_TIMEOUT,
  assertConnected,
  call,
  connect,
  describeError,
  expectInvokeError,
  label,
  nextMessage,
  outcome,
  sleep,
  uid,
  waitClosed,
  within,
} from "./lib.mjs";

// ---------------------------------------------------------------------------
// Assertion helpers (shared config, connect(), timeouts and cleanup: lib.mjs)

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

// True for the releases before 6.0 over Server-Sent Events (see scenario 10).
const SSE_END_IS_ERROR = CONFIG.transportName === "ServerSentEvents" && !CLIENT.atLeast(6, 0);

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
      "Failed to invoke 'Add' due to an error on the server.",
    ),
  );
  assertConnected(conn);

  // Without detailed errors the binding failure is not described.
  await expectInvokeError(conn, "Add", ["x", 2], (msg) =>
    assert.equal(msg, "Failed to invoke 'Add' due to an error on the server."),
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
  if (SSE_END_IS_ERROR) {
    // Before 6.0 the client's Server-Sent Events transport reports any end of
    // the event stream as Error("Error occurred"), even right after the
    // server's Close message (ServerSentEventsTransport.ts, `eventSource.onerror`;
    // changed to a clean close in dotnet/aspnetcore#31402, shipped in 6.0). Which
    // one the handler sees depends on whether the end of the stream or the
    // Close message is processed first; both are the server closing cleanly.
    for (const [name, e] of [["X", ex], ["Y", ey]]) {
      assert.ok(
        e === undefined || (e instanceof Error && e.message === "Error occurred"),
        `${name}: onclose error should be undefined (or the pre-6.0 SSE "Error occurred"), got ${describeError(e)}`,
      );
    }
  } else {
    assert.equal(ex, undefined, `X: onclose error should be undefined, got ${describeError(ex)}`);
    assert.equal(ey, undefined, `Y: onclose error should be undefined, got ${describeError(ey)}`);
  }
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
