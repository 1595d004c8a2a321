#!/usr/bin/env bash
# scripts/pg on its own: start, env, conninfo, status, stop and destroy of a
# second private cluster, as a normal user (as root: as user "nobody", so
# that both ways in which the script runs the server are exercised in CI),
# and a socket other local users cannot use (trust authentication).
set -euo pipefail
src=${XC_SOURCE_DIR:?}
fail() { echo "FAIL: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/xc-pgscript.XXXXXX)
as=()
if [ "$(id -u)" -eq 0 ]; then
  id nobody >/dev/null 2>&1 || fail "no user nobody"
  chmod 0777 "$work"
  as=(runuser -u nobody --)
fi
dir=$work/cluster
cleanup() { "${as[@]}" "$src/scripts/pg" destroy "$dir" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

rc=0
conn=$("${as[@]}" "$src/scripts/pg" start --fast "$dir") || rc=$?
if [ "$rc" -eq 3 ]; then
  [ "${CI:-}" = true ] && fail "PostgreSQL server binaries missing in CI"
  echo "SKIP: PostgreSQL server binaries not installed"; exit 77
fi
[ "$rc" -eq 0 ] || fail "start exited $rc"
echo "started: $conn"
case "$conn" in "host=$dir port=5432 dbname=xcensus user="*) ;; *) fail "conninfo \"$conn\"" ;; esac
[ "$("${as[@]}" "$src/scripts/pg" conninfo "$dir")" = "$conn" ] || fail "conninfo differs"
"${as[@]}" "$src/scripts/pg" status "$dir" || fail "status after start"
# a second start is harmless and prints the same conninfo
[ "$("${as[@]}" "$src/scripts/pg" start "$dir")" = "$conn" ] || fail "second start"
env_out=$("${as[@]}" "$src/scripts/pg" env "$dir")
bindir=$(echo "$env_out" | sed -n "s/^export XC_PG_BINDIR='\(.*\)'$/\1/p")
sql="SELECT current_user || '|' || current_setting('listen_addresses')"
user=$("${as[@]}" env SQL="$sql" bash -c "$env_out"'
  "$XC_PG_BINDIR/psql" -X -Atc "$SQL"')
echo "connected: $user"
case "$user" in *"|") ;; *) fail "listen_addresses not empty: \"$user\"" ;; esac
perm=$(stat -c %a "$dir/.s.PGSQL.5432")
[ "$perm" = 700 ] || fail "socket mode $perm"
"${as[@]}" "$src/scripts/pg" stop "$dir"
if "${as[@]}" "$src/scripts/pg" status "$dir"; then fail "status after stop"; fi
[ -d "$dir/data" ] || fail "stop removed the data"
"${as[@]}" "$src/scripts/pg" destroy "$dir"
[ ! -d "$dir/data" ] || fail "destroy left the data"
[ -x "$bindir/initdb" ] || fail "XC_PG_BINDIR \"$bindir\""
echo "PASS"
