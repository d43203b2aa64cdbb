// Loads the official client under test: this folder's pinned release, or an
// older one installed in a folder of its own (releases/vX.Y, each with its own
// package.json and package-lock.json, so each release resolves its own
// dependencies: an old tough-cookie never shadows a newer one).
//
// Environment:
//   SIGNALR_CLIENT_DIR  optional folder (absolute, or relative to this file)
//                       whose node_modules holds @microsoft/signalr and
//                       @microsoft/signalr-protocol-msgpack; default this folder
//
// The packages are loaded through their CommonJS builds, which every release
// since 3.0 ships as "main".

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export function loadClient(env) {
  const raw = (env.SIGNALR_CLIENT_DIR ?? "").trim();
  const dir = raw ? resolve(here, raw) : here;
  const require = createRequire(resolve(dir, "package.json"));
  let pkgPath;
  try {
    pkgPath = require.resolve("@microsoft/signalr/package.json");
  } catch (err) {
    throw new Error(`interop scenarios: @microsoft/signalr is not installed in ${dir}; run npm ci there (${err.message})`);
  }
  const version = JSON.parse(readFileSync(pkgPath, "utf8")).version;
  const major = Number(version.split(".")[0]);
  const minor = Number(version.split(".")[1]);

  // 5.0.x binds Node's global fetch (Node >= 18 has one) to `self`, a global
  // that only browsers and workers define, so every HTTP request throws
  // "ReferenceError: self is not defined" (FetchHttpClient.js:
  // `this.fetchType = fetch.bind(self)`; 6.0 checks for a browser first).
  // Give this test process the global the library expects, without touching
  // the library; other releases run without it.
  if (major === 5 && typeof globalThis.self === "undefined") {
    globalThis.self = globalThis;
  }

  const signalr = require("@microsoft/signalr");
  const msgpack = require("@microsoft/signalr-protocol-msgpack");
  return {
    dir,
    version,
    signalr,
    msgpack,
    // atLeast(7, 0) is true for 7.0.0 and later releases.
    atLeast: (maj, min = 0) => major > maj || (major === maj && minor >= min),
  };
}
