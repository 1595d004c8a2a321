#!/usr/bin/env bash
# api_fixture.sh CONNINFO: loads the known dataset of the query catalog, API,
# dashboard and snapshot tests into the (empty) database CONNINFO:
# `xcensus migrate`, `xcensus import capsdb tests/data/capsdb/capsdb.jsonl`
# (source "capsdb"), then tests/data/api_fixture.sql (crawls, servers,
# components, versions, features over three days, probe outcomes, stream
# features, TLS facts, room caps counts, analysis runs; see its header).
#
# Needs: $XCENSUS (the program) or build/cli/xcensus, psql on PATH or in
# $XC_PG_BINDIR. Source dir: $XC_SOURCE_DIR or this file's ../.. .
# Output goes to stderr only on failure; exit 0 loaded, 1 failure, 2 usage.
set -euo pipefail
if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: api_fixture.sh CONNINFO" >&2
  exit 2
fi
conn=$1
src=${XC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
xcensus=${XCENSUS:-$src/build/cli/xcensus}
psql=psql
[ -n "${XC_PG_BINDIR:-}" ] && [ -x "$XC_PG_BINDIR/psql" ] && psql=$XC_PG_BINDIR/psql
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() {
  if ! "$@" >"$log" 2>&1; then
    echo "api_fixture: failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

run "$xcensus" migrate -d "$conn"
run "$xcensus" import capsdb "$src/tests/data/capsdb/capsdb.jsonl" -d "$conn"
run "$psql" -X -q -v ON_ERROR_STOP=1 -d "$conn" -f "$src/tests/data/api_fixture.sql"
