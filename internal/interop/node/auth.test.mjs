// The auth example's hub (examples/auth), driven by the official client with
// bearer tokens (accessTokenFactory) that the example's POST /login issues.
//
//   SIGNALR_URL=http://127.0.0.1:PORT SIGNALR_TRANSPORT=LongPolling node --test auth.test.mjs
//
// Server contract (examples/auth/main.go):
//   POST /login  JSON {"user", "role": "user" | "admin", "ttl": seconds} or the same as a form
//                → {"token", "expiresAt"}; HS256 JWT with sub, role, iss, iat, exp
//   /hub         anonymous or bad token → 401; WhoAmI() → user id;
//                Send(text) → "message" (user, text) to every connection of the caller's user;
//                Broadcast(text) → "broadcast" (user, text) to all, role "admin" only;
//                the connection is closed when its token expires.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  COMBO,
  CONFIG,
  assertConnected,
  call,
  connect,
  describeError,
  expectInvokeError,
  label,
  nextMessage,
  uid,
  waitClosed,
} from "./lib.mjs";

const METHODS = ["message", "broadcast"];

async function login(user, role = "user", ttl = undefined, { form = false } = {}) {
  const fields = { user, role, ...(ttl !== undefined ? { ttl } : {}) };
  const res = await fetch(CONFIG.base + "/login", form
    ? { method: "POST", body: new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)])) }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(fields) });
  if (res.status !== 200) {
    assert.fail(`POST /login ${JSON.stringify(fields)}: ${res.status} ${await res.text()}`);
  }
  const body = await res.json();
  assert.equal(typeof body.token, "string");
  return body.token;
}

function as(user, token, name = user) {
  return connect("/hub", { accessToken: token, label: name, methods: METHODS });
}

const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

// A well-formed token the server did not sign.
function forge(payload, { alg = "HS256", secret = "not-the-server-secret" } = {}) {
  const head = `${b64url({ alg, typ: "JWT" })}.${b64url(payload)}`;
  if (alg === "none") return `${head}.`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}

async function expect401(token, what) {
  await assert.rejects(
    connect("/hub", { label: what, methods: METHODS, ...(token !== undefined ? { accessToken: token } : {}) }),
    (err) => {
      assert.match(err.message, /Status code '401'/, `${what}: start() should fail with 401, got ${describeError(err)}`);
      return true;
    },
    `${what}: start() should reject`,
  );
}

// The next "message" of conn is [from, text]: anything queued before it
// (a message that should not have come) fails the test.
async function expectMessage(conn, method, from, text) {
  const args = await nextMessage(conn, method);
  assert.deepEqual(args, [from, text], `${label(conn)}: expected '${method}' ${JSON.stringify([from, text])}, got ${JSON.stringify(args)}`);
}

test(`auth: no token is refused with 401 (${COMBO})`, { timeout: 30_000 }, async () => {
  await expect401(undefined, "anonymous");
});

test(`auth: bad tokens are refused with 401 (${COMBO})`, { timeout: 30_000 }, async () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: "alice", role: "admin", iss: "gosignalr-auth-example", iat: now, exp: now + 3600 };
  await expect401("garbage", "garbage token");
  await expect401(forge(claims), "token signed with another secret");
  await expect401(forge(claims, { alg: "none" }), "alg none");
  // A genuine token whose payload was changed (role user → admin).
  const [head, , sig] = (await login("mallory", "user")).split(".");
  await expect401(`${head}.${b64url(claims)}.${sig}`, "tampered payload");
});

test(`auth: a signed-in user is who the token says (${COMBO})`, { timeout: 30_000 }, async () => {
  const alice = await as("alice", await login("alice", "user", undefined, { form: true }));
  assert.equal(await call(alice, "WhoAmI"), "alice");
  assertConnected(alice);
});

test(`auth: Send reaches every connection of the caller's user and nobody else (${COMBO})`, { timeout: 30_000 }, async () => {
  const [a, b] = [`alice-${uid()}`, `bob-${uid()}`];
  const aliceToken = await login(a);
  const alice1 = await as(a, aliceToken, `${a} #1`);
  const alice2 = await as(a, await login(a), `${a} #2`); // another token of the same user
  const bob = await as(b, await login(b));
  const text = `hi-${uid()}`;
  await call(alice1, "Send", text);
  await expectMessage(alice1, "message", a, text);
  await expectMessage(alice2, "message", a, text);
  // Bob's own message is the next thing he gets: alice's never reached him
  // (the server keeps per-connection order).
  const sentinel = `sentinel-${uid()}`;
  await call(bob, "Send", sentinel);
  await expectMessage(bob, "message", b, sentinel);
  for (const c of [alice1, alice2, bob]) assertConnected(c);
});

test(`auth: Broadcast by a non-admin is refused and the connection stays usable (${COMBO})`, { timeout: 30_000 }, async () => {
  const [u, adm] = [`user-${uid()}`, `admin-${uid()}`];
  const user = await as(u, await login(u, "user"));
  const admin = await as(adm, await login(adm, "admin"));
  await expectInvokeError(user, "Broadcast", [`nope-${uid()}`], (msg) =>
    assert.equal(msg, "Failed to invoke 'Broadcast' because user is unauthorized"));
  assertConnected(user);
  assert.equal(await call(user, "WhoAmI"), u);
  // The refused broadcast reached nobody: the admin's is the next one.
  const text = `from-admin-${uid()}`;
  await call(admin, "Broadcast", text);
  for (const c of [user, admin]) await expectMessage(c, "broadcast", adm, text);
});

test(`auth: Broadcast by an admin reaches everyone (${COMBO})`, { timeout: 30_000 }, async () => {
  const [adm, a, b] = [`admin-${uid()}`, `alice-${uid()}`, `bob-${uid()}`];
  const admin = await as(adm, await login(adm, "admin"));
  const alice1 = await as(a, await login(a), `${a} #1`);
  const alice2 = await as(a, await login(a), `${a} #2`);
  const bob = await as(b, await login(b, "user"));
  const text = `all-${uid()}`;
  await call(admin, "Broadcast", text);
  for (const c of [admin, alice1, alice2, bob]) await expectMessage(c, "broadcast", adm, text);
});

test(`auth: the server closes the connection when the token expires (${COMBO})`, { timeout: 30_000 }, async () => {
  const u = `brief-${uid()}`;
  const t0 = Date.now();
  const token = await login(u, "user", 2); // exp is rounded down to the second: 1-2 s from now
  const conn = await as(u, token);
  assert.equal(await call(conn, "WhoAmI"), u);
  const err = await waitClosed(conn, 6_000 - (Date.now() - t0));
  assert.ok(err instanceof Error, `onclose should carry an error, got ${describeError(err)}`);
  assert.match(err.message, /credentials expired/, `close error: ${describeError(err)}`);
  // The expired token opens nothing new.
  await expect401(token, "expired token");
});
