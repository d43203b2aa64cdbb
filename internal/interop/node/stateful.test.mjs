// Stateful reconnect with the official client: the Go test serves /hub
// through a loopback TCP proxy that it can cut, and cuts it mid-traffic
// when the hub's DropConnections method runs. After the client resumes,
// every message must have arrived exactly once and in order, with the same
// connection id and groups, and without onreconnecting.
//
//   SIGNALR_URL=http://127.0.0.1:PORT SIGNALR_PROTOCOL=json node --test stateful.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { loadClient } from "./client.mjs";

// The client under test: this folder's pinned release, or the one in
// $SIGNALR_CLIENT_DIR (see client.mjs).
const CLIENT = loadClient(process.env);
const { HubConnectionBuilder, HttpTransportType, JsonHubProtocol, LogLevel } = CLIENT.signalr;
const { MessagePackHubProtocol } = CLIENT.msgpack;
// Stateful reconnect arrived in the 8.0 client.
const NO_STATEFUL = CLIENT.atLeast(8, 0) ? false : `client ${CLIENT.version} has no stateful reconnect (added in 8.0)`;

const base = process.env.SIGNALR_URL;
if (!base) throw new Error("SIGNALR_URL is not set");
const protocolName = process.env.SIGNALR_PROTOCOL || "json";
const protocol = protocolName === "messagepack" ? new MessagePackHubProtocol() : new JsonHubProtocol();

function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

function waitFor(cond, ms, what) {
  return within(ms, new Promise((resolve) => {
    const check = () => (cond() ? resolve() : setTimeout(check, 10));
    check();
  }), what);
}

test(`stateful reconnect survives a dropped socket (${protocolName}, client ${CLIENT.version})`, { timeout: 60_000, skip: NO_STATEFUL }, async () => {
  const N = 200;
  const conn = new HubConnectionBuilder()
    .withUrl(base + "/hub", { transport: HttpTransportType.WebSockets })
    .withHubProtocol(protocol)
    .withStatefulReconnect()
    .configureLogging(LogLevel.None)
    .build();
  let reconnecting = 0;
  let closeError = null;
  const ticks = [];
  const received = [];
  conn.onreconnecting(() => reconnecting++);
  conn.onclose((e) => { closeError = e ?? new Error("closed"); });
  conn.on("tick", (i) => ticks.push(i));
  conn.on("receive", (m) => received.push(m));
  try {
    await within(10_000, conn.start(), "start()");
    const id = conn.connectionId;
    assert.ok(id);
    await within(5_000, conn.invoke("JoinGroup", "stateful"), "JoinGroup");
    await within(5_000, conn.invoke("StartTicks", N, 5), "StartTicks");

    for (let i = 1; i <= 100; i++) {
      if (i === 30) {
        await within(5_000, conn.send("DropConnections"), "send DropConnections");
      }
      const echoed = await within(10_000, conn.invoke("Echo", `e${i}`), `Echo e${i}`);
      assert.equal(echoed, `e${i}`);
    }
    await waitFor(() => ticks.length >= N || closeError, 20_000, `${N} ticks (have ${ticks.length})`);
    assert.equal(closeError, null, `the connection closed: ${closeError}`);
    assert.deepEqual(ticks, Array.from({ length: N }, (_, k) => k + 1), "every tick exactly once, in order");

    assert.equal(await within(5_000, conn.invoke("GetConnectionId"), "GetConnectionId"), id, "same connection id after the resume");
    await within(5_000, conn.invoke("SendToGroup", "stateful", "group-after"), "SendToGroup");
    await waitFor(() => received.length > 0, 5_000, "group message");
    assert.deepEqual(received, ["group-after"], "still in the group, message received once");
    assert.equal(reconnecting, 0, "onreconnecting must not fire for a stateful resume");
  } finally {
    await conn.stop();
  }
});
