#!/usr/bin/env bash
# API benchmark (issue 7): `xcensus serve` on a private PostgreSQL holding the
# known dataset (tests/integration/api_fixture.sh) grown to about 1e6
# observations per main table (tests/integration/views_grow.sh SCALE), loaded
# by wrk from a second process over loopback. Per endpoint: requests/s and
# latency percentiles (p50, p99) for D seconds: without serve's cache over one
# connection (what each query costs PostgreSQL), then with it (default
# serve.cache_ttl) at C keep-alive connections flat out, then paced.
#   bench/serve.sh [--scale N] [--connections C] [--duration D] [--build DIR]
#                  [--work DIR] [--keep]
# Release build without sanitizers; needs wrk (Debian package `wrk`: installed
# here with apt-get when missing and we are root, else the benchmark skips).
# --keep leaves the grown database in WORK/pg for another run (reused when
# present). Prints the machine's load before and after: the figures depend on
# what else runs on the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
scale=1 conns=8 dur=10 build=build-serve-rel work=/tmp/xcensus-bench-serve keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale=$2; shift ;;
    --connections) conns=$2; shift ;;
    --duration) dur=$2; shift ;;
    --build) build=$2; shift ;;
    --work) work=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench/serve.sh: unrecognized argument \"$1\"" >&2; exit 2 ;;
  esac
  shift
done

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y wrk >/dev/null
  else
    echo "bench/serve.sh: wrk is not installed (apt-get install wrk); skipping"
    exit 0
  fi
fi

[ -f tests/integration/views_grow.sh ] ||
  { echo "bench/serve.sh: tests/integration/views_grow.sh (the dataset grower) is missing" >&2; exit 1; }
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DXC_TESTS=OFF -DXC_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target xcensus >/dev/null
X="$src/$build/cli/xcensus"

pgdir="$work/pg"
spid=
cleanup() {
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
  if [ "$keep" = 1 ]; then
    scripts/pg stop "$pgdir" >/dev/null 2>&1 || true
  else
    scripts/pg stop "$pgdir" >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT
mkdir -p "$work"
fresh=1
[ -d "$pgdir/data" ] && fresh=0
scripts/pg start --fast "$pgdir" >/dev/null
db=$(scripts/pg conninfo "$pgdir")
if [ "$fresh" = 1 ] || [ "$keep" = 0 ]; then
  echo "loading the known dataset and growing it (scale $scale)..."
  t0=$(date +%s)
  XCENSUS=$X bash tests/integration/api_fixture.sh "$db"
  bash tests/integration/views_grow.sh "$db" "$scale" >/dev/null
  psql -X -q -d "$db" -c "VACUUM ANALYZE" >/dev/null
  echo "loaded in $(($(date +%s) - t0)) s"
fi
psql -X -At -d "$db" -c "SELECT 'rows: disco_snapshots ' || (SELECT count(*) FROM disco_snapshots)
  || ', software_versions ' || (SELECT count(*) FROM software_versions)
  || ', probe_outcomes ' || (SELECT count(*) FROM probe_outcomes)
  || ', caps_observations ' || (SELECT count(*) FROM caps_observations)
  || ', domains ' || (SELECT count(*) FROM domains)"

start_serve() { # start_serve CONFIG: sets base and spid
  "$X" --config "$1" serve -d "$db" --port 0 >"$work/serve.out" 2>"$work/serve.log" &
  spid=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$work/serve.out" 2>/dev/null && break
    sleep 0.1
  done
  base=$(sed -n 's/.*listening on \(http:[^ ]*\)\/$/\1/p' "$work/serve.out")
  [ -n "$base" ] || { cat "$work/serve.log"; echo "serve did not start" >&2; exit 1; }
}
stop_serve() {
  kill -TERM "$spid" && wait "$spid" || true
  spid=
}

endpoints=(
  "/api/v1/overview"
  "/api/v1/server_software"
  "/api/v1/server_versions?limit=100"
  "/api/v1/component_software"
  "/api/v1/client_software?limit=100"
  "/api/v1/features?limit=100"
  "/api/v1/features?q=urn:xmpp:mam"
  "/api/v1/feature_adoption?feature=urn:xmpp:mam:2"
  "/api/v1/namespace_versions?base=urn:xmpp:mam"
  "/api/v1/deprecation?old=jabber:iq:privacy&new=urn:xmpp:blocking&limit=100"
  "/api/v1/probe_outcomes"
  "/api/v1/crawl_health"
  "/api/v1/domains?limit=100"
  "/api/v1/domains?limit=100&offset=15000"
  "/api/v1/domain?domain=d12345.grow.example"
  "/api/v1/domain_probes?domain=d12345.grow.example"
  "/api/v1/analysis_latest"
  "/healthz"
  "/metrics"
  "/api/v1/"
)
ms() { # wrk prints 812.00us, 3.21ms or 1.02s
  awk -v p="$1" '$1 == p {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000}
    else if (v ~ /ms$/) sub(/ms$/,"",v); else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}
    printf "%.2f", v}' <<<"$2"
}
run_all() { # run_all CONNECTIONS [LUA-SCRIPT]
  local script=()
  [ -n "${2:-}" ] && script=(-s "$2")
  echo "wrk: $1 connection(s), ${dur}s per endpoint; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-58s %9s %9s %9s %8s\n' endpoint "req/s" "p50 ms" "p99 ms" "errors"
  for ep in "${endpoints[@]}"; do
    st=$(curl -s -o /dev/null -w '%{http_code}' "$base$ep")
    out=$(wrk -t"$(( $1 < 2 ? 1 : 2 ))" -c"$1" -d"${dur}s" --timeout 30s --latency \
      "${script[@]}" "$base$ep" 2>&1)
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    err=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(/,/,""); n+=$4+$6+$8+$10} END {print n+0}' <<<"$out")
    printf '%-58s %9s %9s %9s %8s\n' "$ep ($st)" "$rps" "$(ms 50% "$out")" "$(ms 99% "$out")" "$err"
  done
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
printf 'serve:\n  cache_ttl: 0s\n' >"$work/cold.yaml"
printf 'serve:\n  cache_ttl: 5s\n' >"$work/cached.yaml"
echo
echo "== every request asks PostgreSQL (serve.cache_ttl 0), one connection: the catalog's cost"
start_serve "$work/cold.yaml"
run_all 1
stop_serve
echo
echo "== serve.cache_ttl 5s (default), $conns connections as fast as they can: throughput"
start_serve "$work/cached.yaml"
run_all "$conns"
echo
echo "== the same, each connection paced to one request per 20 ms (~$((conns * 50)) requests/s): latency under a steady load"
printf 'function delay()\n  return 20\nend\n' >"$work/pace.lua"
run_all "$conns" "$work/pace.lua"
stop_serve
