// The official client and a Go client (github.com/gosignalr/signalr/client,
// driven by the Go test that runs this file) in one group on SIGNALR_URL
// (/hub): the Go client has joined group "mixed" and answers every group
// message from "js" with one of its own.
//
//   run by client/interop_test.go; SIGNALR_URL=http://127.0.0.1:PORT node --test goclient.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { CONFIG, connect, nextMessage, call } from "./lib.mjs";

test(`a Go client and the official client share a group (${CONFIG.transportName}/${CONFIG.protocolName})`, { timeout: 30_000 }, async () => {
  const js = await connect("/hub", { label: "js", methods: ["groupMessage"] });
  await call(js, "Join", "mixed");
  await call(js, "SendToGroup", "mixed", "js", "hello from js");
  let args;
  do {
    args = await nextMessage(js, "groupMessage", 10_000);
  } while (args[0] !== "go");
  assert.deepEqual(args, ["go", "hello from js, said go"]);
});
