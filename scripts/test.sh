#!/usr/bin/env bash
# Runs every check and test of every module of the workspace (go.work).
# Needs Go, Node and npm; installs the official SignalR client for the
# interop suite from the lockfile.
# Needs JDK 17 and Maven too: builds the Java client's interop program.
# Also needs Python 3 (with venv and pip) for the Python clients' suite.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== npm ci (official SignalR client, pinned)"
npm ci --prefix internal/interop/node --no-audit --no-fund --loglevel=error

echo "== mvn package (official SignalR Java client, pinned; offline when the local repository has it)"
command -v java >/dev/null && command -v mvn >/dev/null || { echo "java and mvn are required (JDK 17, Maven 3.8)"; exit 1; }
(cd internal/interop/java && { mvn -o -q -B package 2>/dev/null || mvn -q -B package; })
echo "built internal/interop/java/target/signalr-java-interop.jar"

echo "== npm ci (older official SignalR client releases, each pinned in its own folder)"
for dir in internal/interop/node/releases/*/; do
	echo "npm ci --prefix $dir"
	npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
done

echo "== Python SignalR clients (pysignalr, signalrcore), pinned, in a virtual environment"
pyreq=internal/interop/python/requirements.txt
pyvenv=internal/interop/python/.venv
if cmp -s "$pyreq" "$pyvenv/requirements.txt"; then
	echo "$pyvenv is up to date with $pyreq"
else
	echo "python3 -m venv $pyvenv && $pyvenv/bin/pip install -r $pyreq"
	rm -rf "$pyvenv"
	python3 -m venv "$pyvenv"
	"$pyvenv/bin/pip" install --quiet --disable-pip-version-check -r "$pyreq"
	cp "$pyreq" "$pyvenv/requirements.txt"
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './internal/interop/node/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

# The modules of the workspace (go.work): the library, the NATS and Redis
# backplanes, the examples, the end-to-end tests and the benchmarks.
modules=". backplane/nats backplane/redis examples tests bench"
pkgs=""
for m in $modules; do pkgs="$pkgs ./$m/..."; done

echo "== go mod tidy (every module)"
for m in $modules; do
	(cd "$m" && GOWORK=off GOFLAGS=-mod=mod go mod tidy -diff) || { echo "go.mod of $m is not tidy: run go mod tidy there"; exit 1; }
done

echo "== dependency weight of the library (scripts/depweight.sh)"
./scripts/depweight.sh

echo "== go vet"
go vet $pkgs

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $pkgs

echo "== redis-server (Redis backplane tests)"
if command -v redis-server >/dev/null 2>&1; then
	echo "redis-server found: $(command -v redis-server)"
else
	echo "redis-server not found; installing it: apt-get update -qq && apt-get install -y -qq redis-server"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
fi

echo "== chromium (browser tests of the example pages)"
if [ -x /usr/bin/chromium ]; then
	echo "chromium found: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
else
	echo "/usr/bin/chromium not found; installing it: apt-get update -qq && apt-get install -y -qq chromium"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

echo "== go test -race"
go test -race -count=1 -timeout 15m $pkgs

echo "== fuzz (brief)"
for target in FuzzJSONParse FuzzJSONParseDifferential FuzzHandshakeParse FuzzMessagePackParse; do
	go test -run='^$' -fuzz="^${target}\$" -fuzztime="${FUZZTIME:-5s}" ./protocol
done
go test -run='^$' -fuzz='^FuzzNegotiateQuery$' -fuzztime="${FUZZTIME:-5s}" .
for target in FuzzInbound FuzzEventStream; do
	go test -run='^$' -fuzz="^${target}\$" -fuzztime="${FUZZTIME:-5s}" ./client
done
