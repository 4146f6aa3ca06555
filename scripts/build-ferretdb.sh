#!/usr/bin/env bash
# Builds FerretDB (a MongoDB-wire-compatible server, used here with its SQLite
# backend) into a per-user cache and prints the binary path as the last line
# of stdout. All build output goes to stderr.
#
# Why not `go install ...@v1.24.2`: the module proxy available here refuses the
# @v/list lookup that `go install` performs, and the embedded
# build/version/version.txt is generated upstream, so a plain build panics at
# start with "Invalid build/version/version.txt". We therefore fetch the module
# with `go get`, copy its source, write version.txt and build from the copy.
#
# Env:
#   AICD_CACHE_DIR  cache root (default: $HOME/.cache/aicd-orchestrator)
#   FERRETDB_VERSION  defaults to v1.24.2 (only this version is tested)
set -euo pipefail

VERSION="${FERRETDB_VERSION:-v1.24.2}"
CACHE_ROOT="${AICD_CACHE_DIR:-${HOME:-/tmp}/.cache/aicd-orchestrator}"
OUT_DIR="$CACHE_ROOT/ferretdb-$VERSION"
BIN="$OUT_DIR/ferretdb"

log() { printf '[build-ferretdb] %s\n' "$*" >&2; }

if [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; then
  log "using cached $BIN"
  printf '%s\n' "$BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  log "ERROR: 'go' is not on PATH. Install Go (https://go.dev/dl) to build FerretDB," \
      "or set FERRETDB_BIN to an existing ferretdb binary, or set MONGODB_URI."
  exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/aicd-ferretdb-build.XXXXXX")"
cleanup() { chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

log "building FerretDB $VERSION with $(go version) (work dir $WORK)"
# The source copy is not a VCS checkout; keep go from trying to stamp VCS info.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
# Never auto-download a different Go toolchain (no internet besides the proxy).
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

{
  cd "$WORK"
  go mod init aicd-ferretdb-build
  go get "github.com/FerretDB/FerretDB@$VERSION"
  SRC="$(go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)"
  log "module source: $SRC"
  cp -r "$SRC" "$WORK/fsrc"
  chmod -R u+w "$WORK/fsrc"
  printf '%s\n' "$VERSION" > "$WORK/fsrc/build/version/version.txt"
  mkdir -p "$OUT_DIR"
  cd "$WORK/fsrc"
  go build -o "$BIN.tmp" ./cmd/ferretdb
  mv -f "$BIN.tmp" "$BIN"
} 1>&2

if ! "$BIN" --version >/dev/null 2>&1; then
  log "ERROR: built binary $BIN does not run ('--version' failed)"
  exit 1
fi
log "built $BIN"
printf '%s\n' "$BIN"
