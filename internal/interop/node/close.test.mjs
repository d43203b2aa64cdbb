// A hub closes connections with a reason (Context.CloseConnection,
// Hub.CloseConnection): the official client's onclose receives it.
//
//   SIGNALR_URL=http://127.0.0.1:PORT SIGNALR_TRANSPORT=LongPolling node --test close.test.mjs
//
// Server contract (close_test.go, closeHub at /close):
//   CloseMe(reason, allowReconnect)  sends "before" (reason) to the caller, then closes it with reason
//   CloseOther(connectionId, reason) → "closed" | "not found"; closes that connection (any node)
//   ConnectionID()                   → the caller's connection id

import { test } from "node:test";
import assert from "node:assert/strict";
import { HubConnectionBuilder, HubConnectionState } from "@microsoft/signalr";
import { COMBO, CONFIG, call, connect, describeError, makeProtocol, nextMessage, waitClosed, within } from "./lib.mjs";

const METHODS = ["before"];

test(`close: a hub method closes its caller with a reason (${COMBO})`, { timeout: 30_000 }, async () => {
  const conn = await connect("/close", { label: "closed", methods: METHODS });
  await conn.send("CloseMe", "maintenance: back soon", false);
  assert.deepEqual(await nextMessage(conn, "before"), ["maintenance: back soon"], "what was sent before the close arrives");
  const err = await waitClosed(conn, 10_000);
  assert.ok(err instanceof Error, `onclose should carry an error, got ${describeError(err)}`);
  assert.equal(err.message, "Server returned an error on close: maintenance: back soon");
  assert.equal(conn.state, HubConnectionState.Disconnected);
});

test(`close: an empty reason is a clean close (${COMBO})`, { timeout: 30_000 }, async () => {
  const conn = await connect("/close", { label: "clean", methods: METHODS });
  await conn.send("CloseMe", "", false);
  const err = await waitClosed(conn, 10_000);
  assert.equal(err, undefined, `onclose error should be undefined, got ${describeError(err)}`);
});

test(`close: another connection is closed by id (${COMBO})`, { timeout: 30_000 }, async () => {
  const admin = await connect("/close", { label: "admin", methods: METHODS });
  const victim = await connect("/close", { label: "victim", methods: METHODS });
  const id = await call(victim, "ConnectionID");
  assert.equal(await call(admin, "CloseOther", id, "kicked by the admin"), "closed");
  const err = await waitClosed(victim, 10_000);
  assert.ok(err instanceof Error, `onclose should carry an error, got ${describeError(err)}`);
  assert.equal(err.message, "Server returned an error on close: kicked by the admin");
  assert.equal(await call(admin, "CloseOther", "no-such-connection", "x"), "not found");
  assert.equal(admin.state, HubConnectionState.Connected);
});

test(`close: allowReconnect lets a reconnecting client come back (${COMBO})`, { timeout: 30_000 }, async () => {
  const conn = new HubConnectionBuilder()
    .withUrl(CONFIG.base + "/close", { transport: CONFIG.transport })
    .withHubProtocol(makeProtocol())
    .withAutomaticReconnect([0, 0, 0])
    .configureLogging(CONFIG.logLevel)
    .build();
  const reconnecting = new Promise((resolve) => conn.onreconnecting(resolve));
  const reconnected = new Promise((resolve) => conn.onreconnected(resolve));
  try {
    await within(conn.start(), 10_000, "start()");
    await conn.send("CloseMe", "restarting", true);
    const err = await within(reconnecting, 10_000, "onreconnecting did not fire");
    assert.ok(err instanceof Error, `onreconnecting should carry an error, got ${describeError(err)}`);
    assert.equal(err.message, "Server returned an error on close: restarting");
    await within(reconnected, 10_000, "onreconnected did not fire");
    assert.equal(conn.state, HubConnectionState.Connected);
    assert.equal(typeof (await within(conn.invoke("ConnectionID"), 5_000, "invoke after reconnect")), "string");
  } finally {
    await within(conn.stop(), 5_000, "stop()").catch(() => {});
  }
});
