#!/usr/bin/env bash
# CTest fixture xc_pg: start|stop DIR. Starts a throwaway PostgreSQL with
# scripts/pg (fast, Unix socket in DIR) and writes DIR/env.sh for the tests.
# Without PostgreSQL server binaries it skips (77), except in CI (CI=true),
# where a skipped integration test is a failure.
set -euo pipefail
action=$1 dir=$2
src=${XC_SOURCE_DIR:?}
case "$action" in
start)
  rc=0
  # a cluster left running by an interrupted run is reused
  "$src/scripts/pg" start --fast "$dir" || rc=$?
  if [ "$rc" -eq 3 ]; then
    rm -f "$dir/env.sh"
    if [ "${CI:-}" = true ]; then
      echo "FAIL: PostgreSQL server binaries missing in CI" >&2; exit 1
    fi
    echo "SKIP: PostgreSQL server binaries (initdb) not installed"; exit 77
  fi
  [ "$rc" -eq 0 ] || { echo "FAIL: scripts/pg start exited $rc (log: $dir/log)" >&2; exit 1; }
  "$src/scripts/pg" env "$dir" >"$dir/env.sh.tmp"
  mv "$dir/env.sh.tmp" "$dir/env.sh"
  cat "$dir/env.sh"
  ;;
stop)
  "$src/scripts/pg" stop "$dir"
  rm -f "$dir/env.sh"
  # a cluster that had to live under /tmp is removed, its log kept here
  if [ -f "$dir/home" ]; then
    rm -rf "$dir/log.saved"
    cp -rL "$dir/log" "$dir/log.saved" 2>/dev/null || true
    "$src/scripts/pg" destroy "$dir"
  fi
  ;;
*) echo "usage: pg_fixture.sh start|stop DIR" >&2; exit 2 ;;
esac
