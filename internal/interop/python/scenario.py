"""Shared runner for the Python interop scenario programs.

Each program runs its scenarios one after another against a gosignalr test
server and prints one line per scenario:

    ok <name>
    not ok <name>: <reason>
    skip <name>: <reason>

then a closing line "N passed, N failed, N skipped". The exit status is 0
when nothing failed. Every wait has its own timeout, so a hung server fails
a scenario instead of hanging the program; the Go test bounds the whole run.

Environment:
    SIGNALR_URL        required; base URL of the interop server (/hub is appended)
    SIGNALR_AUTH_URL   required; base URL of the server whose /hub needs a bearer token
    SIGNALR_TRANSPORT  WebSockets | ServerSentEvents | LongPolling
    SIGNALR_PROTOCOL   json | messagepack
"""

import os
import sys
import traceback
import uuid

URL = os.environ.get("SIGNALR_URL", "").rstrip("/")
AUTH_URL = os.environ.get("SIGNALR_AUTH_URL", "").rstrip("/")
TRANSPORT = os.environ.get("SIGNALR_TRANSPORT", "WebSockets")
PROTOCOL = os.environ.get("SIGNALR_PROTOCOL", "json")

TIMEOUT = 5.0  # seconds for every single wait


class Skip(Exception):
    """Raised by a scenario the client cannot run, with the reason."""


def uid():
    return uuid.uuid4().hex[:12]


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def equal(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def run(scenarios):
    """Runs [(name, fn)] in order, printing a line each and the summary."""
    if not URL or not AUTH_URL:
        print("SIGNALR_URL and SIGNALR_AUTH_URL must be set", file=sys.stderr)
        sys.exit(2)
    passed = failed = skipped = 0
    combo = f"{TRANSPORT}/{PROTOCOL}"
    for name, fn in scenarios:
        label = f"{name} ({combo})"
        try:
            fn()
        except Skip as e:
            skipped += 1
            print(f"skip {label}: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failed += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip().replace("\n", " | ")
            print(f"not ok {label}: {detail}", flush=True)
            traceback.print_exc(file=sys.stderr)
        else:
            passed += 1
            print(f"ok {label}", flush=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    sys.stdout.flush()
    # Client libraries may leave non-daemon threads behind; the result is out.
    os._exit(0 if failed == 0 else 1)
