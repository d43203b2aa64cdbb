#!/usr/bin/env bash
# depweight.sh: what an application that imports only the root package
# pulls in. It builds a throwaway module that imports
# github.com/gosignalr/signalr (replaced by this checkout) and counts the
# modules in its `go list -m all`; it fails past the limit. With
# DEPWEIGHT_EMPTY_CACHE=1 it also measures the download on an empty module
# cache (needs the module proxy; about 10 s).
set -euo pipefail
limit=${DEPWEIGHT_LIMIT:-20}
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
app="$tmp/app"
mkdir "$app"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
cat >"$app/go.mod" <<MOD
module example.com/app

go 1.26.0

require github.com/gosignalr/signalr v0.1.0

replace github.com/gosignalr/signalr => $repo
MOD
cat >"$app/main.go" <<'GO'
package main

import (
	"net/http"

	"github.com/gosignalr/signalr"
)

type Chat struct{}

func (Chat) Send(c *signalr.Context, text string) error {
	return c.Clients().All().Send(c, "message", text)
}

func main() {
	hub, err := signalr.New(Chat{})
	if err != nil {
		panic(err)
	}
	http.Handle("/chat", hub)
	http.Handle("/chat/", hub)
}
GO
export GOWORK=off GOFLAGS=-mod=mod
if [ "${DEPWEIGHT_EMPTY_CACHE:-0}" = 1 ]; then
	export GOMODCACHE="$tmp/modcache"
fi
(cd "$app" && go mod tidy >/dev/null 2>&1 && go build -o /dev/null .)
n=$(cd "$app" && go list -m all | wc -l)
echo "a root-only importer lists $n modules in go list -m all (limit $limit)"
if [ "${DEPWEIGHT_EMPTY_CACHE:-0}" = 1 ]; then
	echo "downloaded on an empty module cache: $(du -sh "$GOMODCACHE/cache/download" | cut -f1) (zips and go.mod files), $(du -sh "$GOMODCACHE" | cut -f1) with the extracted trees"
fi
(cd "$app" && go list -m all | sed 's/^/  /')
[ "$n" -le "$limit" ] || { echo "too many modules: $n > $limit"; exit 1; }
