// The chat example's hub, driven by the official client: two users join a
// room on SIGNALR_URL (/chat), one sends, both see the message.
//
//   SIGNALR_URL=http://127.0.0.1:PORT SIGNALR_TRANSPORT=LongPolling node --test chat.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { CONFIG, connect, nextMessage, call } from "./lib.mjs";

test(`chat: a message reaches everyone in the room (${CONFIG.transportName}/${CONFIG.protocolName})`, { timeout: 30_000 }, async () => {
  const room = "room-" + Math.random().toString(36).slice(2);
  const ann = await connect("/chat", { label: "ann", methods: ["message", "system"] });
  const ben = await connect("/chat", { label: "ben", methods: ["message", "system"] });
  await call(ann, "Join", room, "ann");
  await call(ben, "Join", room, "ben");
  await call(ben, "Send", room, "ben", "hello ann");
  for (const c of [ann, ben]) {
    let args;
    do {
      args = await nextMessage(c, "message", 10_000);
    } while (args[2] !== "hello ann");
    assert.deepEqual(args, [room, "ben", "hello ann"]);
  }
});
