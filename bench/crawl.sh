#!/usr/bin/env bash
# Crawl benchmark (issue 4): one `xcensus crawl` process against N domains
# served by one private Prosody (virtual hosts on 127.0.0.1, every fourth
# with a MUC component; reached through the crawler's own server, no s2s),
# with its own PostgreSQL. Measured: the server's own disco#info ceiling
# (bench_flood, same server, same day), then the crawl's wall time,
# queries/s, crawler CPU per query, crawler peak RSS and Prosody's CPU.
#   bench/crawl.sh [--domains N] [--build DIR] [--work DIR] [--stats] [--keep]
#                  [--perf FILE] [--sql FILE]
# Release build without sanitizers; prints one block of figures. --stats
# loads pg_stat_statements (track = all) and prints where PostgreSQL's
# time went during the crawl: per statement, and WAL, commits, rows.
# --keep leaves the database running afterwards (scripts/pg stop WORK/pg).
# --perf records the whole machine during the crawl with perf into FILE
# (then: perf report -i FILE --comm postgres --sort sym). --sql runs FILE
# after the migrations (to measure a schema variant).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
N=1000 build=build-bench work=/tmp/xcensus-bench-crawl stats=0 keep=0 perf= extra_sql=
while [ $# -gt 0 ]; do
  case "$1" in
    --domains) N=$2; shift ;;
    --build) build=$2; shift ;;
    --work) work=$2; shift ;;
    --stats) stats=1 ;;
    --keep) keep=1 ;;
    --perf) perf=$2; shift ;;
    --sql) extra_sql=$(realpath "$2"); shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench/crawl.sh: unrecognized argument \"$1\"" >&2; exit 2 ;;
  esac
  shift
done

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DXC_TESTS=OFF -DXC_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target xcensus bench_flood >/dev/null
X="$src/$build/cli/xcensus"

rm -rf "$work"; mkdir -p "$work"
pgdir="$work/pg" pdir="$work/prosody"
cleanup() {
  [ -f "$pdir/launch.pid" ] && kill -TERM "$(cat "$pdir/launch.pid")" 2>/dev/null || true
  [ "$keep" -eq 1 ] || scripts/pg stop "$pgdir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
scripts/pg start --fast "$pgdir" >/dev/null
db=$(scripts/pg conninfo "$pgdir")
if [ "$stats" -eq 1 ]; then
  psql -X -Atq "$db" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
  scripts/pg stop "$pgdir" >/dev/null
  scripts/pg start --fast "$pgdir" >/dev/null
  psql -X -Atq "$db" -c "CREATE EXTENSION pg_stat_statements" \
    -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" \
    -c "ALTER SYSTEM SET pg_stat_statements.track_planning = on" \
    -c "SELECT pg_reload_conf()" >/dev/null
fi

port=$(python3 tests/integration/free_port.py)
mkdir -p "$pdir/data/hub%2exnet/accounts"
printf 'return {\n\t["password"] = "benchpw";\n};\n' >"$pdir/data/hub%2exnet/accounts/crawler.dat"
{
  cat <<CFG
run_as_root = true
daemonize = false
pidfile = "$pdir/prosody.pid"
data_path = "$pdir/data"
admin_socket = "$pdir/prosody.sock"
plugin_paths = {}
modules_enabled = { "roster", "saslauth", "disco", "ping", "version", "presence", "iq" }
modules_disabled = { "posix", "s2s", "tls", "register" }
c2s_ports = { $port }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = {}
http_ports = {}
https_ports = {}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
limits = { c2s = { rate = "100mb/s" } }
log = { { levels = { min = "error" }, to = "file", filename = "$pdir/prosody.log" } }
gc = ${XC_BENCH_GC:-{ mode = "incremental", threshold = 1000, speed = 500 \}}
VirtualHost "hub.xnet"
CFG
  # with each host, on fd 3, the queries the crawl sends it (disco#info,
  # disco#items and version of a domain, disco#info and version of a MUC
  # component), replayed below for the server's ceiling of the crawl's mix
  for i in $(seq -w 1 "$N"); do
    echo "VirtualHost \"d$i.xnet\""
    printf 'd%s.xnet disco-info\nd%s.xnet disco-items\nd%s.xnet version\n' "$i" "$i" "$i" >&3
    if [ $((10#$i % 4)) -eq 0 ]; then
      echo "Component \"conference.d$i.xnet\" \"muc\""
      printf 'conference.d%s.xnet disco-info\nconference.d%s.xnet version\n' "$i" "$i" >&3
    fi
  done
} >"$pdir/prosody.cfg.lua" 3>"$work/mix.txt"
t0=$(date +%s.%N)
prosody --config "$pdir/prosody.cfg.lua" >"$pdir/prosody.out" 2>&1 &
ppid=$!
echo $ppid >"$pdir/launch.pid"
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  kill -0 $ppid 2>/dev/null || { cat "$pdir/prosody.out"; exit 1; }
  sleep 0.2
done
t1=$(date +%s.%N)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# PostgreSQL's CPU: the postmaster, the backends it has reaped (cutime,
# cstime) and those still running
pg_cpu() {
  local pm; pm=$(head -1 "$pgdir/data/postmaster.pid")
  local t; t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
  for c in $(cat /proc/"$pm"/task/*/children 2>/dev/null); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)

# warm-up (Prosody keeps loading virtual hosts after its port opens), then
# the measured flood: the server's ceiling for disco#info on this machine
"$build/bench/bench_flood" crawler@hub.xnet benchpw 127.0.0.1 "$port" "d$(printf '%0*d' ${#N} "$N").xnet" 20000 200 >/dev/null
flood=$("$build/bench/bench_flood" crawler@hub.xnet benchpw 127.0.0.1 "$port" hub.xnet 100000 200)
# the server's ceiling for the crawl's own queries, replayed by the same
# flood client with no storage behind it
mix=$("$build/bench/bench_flood" crawler@hub.xnet benchpw 127.0.0.1 "$port" "@$work/mix.txt" 100000 200)

cat >"$work/bench.yaml" <<YAML
crawl:
  name: bench
  max_domains_in_flight: ${XC_BENCH_INFLIGHT:-600}
  claim_batch: 100
database:
  flush_interval: ${XC_BENCH_FLUSH:-200ms}
politeness: {min_interval: 0s}
census: {enabled: false}
direct: {enabled: false}
dns: {servers: "127.0.0.1:9"}
log: {progress: never, level: info}
accounts:
  - jid: crawler@hub.xnet
    password_env: XC_BENCH_PW
    host: 127.0.0.1
    port: $port
    tls: plaintext-loopback-only
    send_rate: 100000
    send_burst: 100000
    max_inflight: 500
YAML
export XC_BENCH_PW=benchpw
"$X" migrate -d "$db" >/dev/null
[ -z "$extra_sql" ] || psql -X -q -v ON_ERROR_STOP=1 "$db" -f "$extra_sql" >/dev/null
seq -w 1 "$N" | sed 's/^/d/; s/$/.xnet/' >"$work/domains.txt"
"$X" --config "$work/bench.yaml" seed -d "$db" --file "$work/domains.txt" >/dev/null
if [ "$stats" -eq 1 ]; then
  psql -X -Atq "$db" -c "SELECT pg_stat_statements_reset()" -c "SELECT pg_stat_reset_shared('wal')" \
    -c "SELECT pg_stat_reset()" >/dev/null
  xact0=$(psql -X -Atq "$db" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
fi
p0=$(cpu_of $ppid) g0=$(pg_cpu)
if [ -n "$perf" ]; then
  perf record -a -F 1999 -o "$perf" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 0.5
fi
res=$(python3 - "$X" "$work/bench.yaml" "$db" <<'PY'
import resource, subprocess, sys, time
x, cfg, db = sys.argv[1:4]
t = time.monotonic()
subprocess.run([x, "--config", cfg, "crawl", "-d", db, "--exit-when-done"], check=True)
wall = time.monotonic() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.3f} {ru.ru_utime + ru.ru_stime:.3f} {ru.ru_maxrss}")
PY
)
sleep 1 # the crawler's backends exit and are reaped (their CPU moves to cutime)
if [ -n "$perf" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
p1=$(cpu_of $ppid) g1=$(pg_cpu)
read -r wall cpu rss <<<"$res"
q() { psql -X -Atq "$db" -c "$1"; }
queries=$(q "SELECT count(*) FROM probe_outcomes")
done_jobs=$(q "SELECT count(*) FROM jobs WHERE state = 'done'")
entities=$(q "SELECT count(*) FROM disco_snapshots")
span=$(q "SELECT extract(epoch FROM max(observed_at) - min(observed_at)) FROM probe_outcomes")
python3 - <<PY
n, start = $N, $t1 - $t0
wall, cpu, rss, q = $wall, $cpu, $rss, $queries
pcpu = ($p1 - $p0) / $hz
gcpu = ($g1 - $g0) / $hz
print(f"machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ //')")
print(f"domains: {n} (Prosody virtual hosts, {n // 4} MUC components), Prosody start {start:.1f} s")
print("ceiling: $flood")
print("ceiling of the crawl's mix: $mix")
print(f"crawl: {$done_jobs} jobs done, {q} queries, {$entities} disco#info snapshots in {wall:.2f} s")
span = $span
print(f"crawl: {q / span:.0f} queries/s while probing ({span:.2f} s from first to last outcome), "
      f"{q / wall:.0f} queries/s over the whole run (login, drain and exit included)")
import re
fl = float(re.search(r"([0-9.]+)/s;", "$flood").group(1))
mx = float(re.search(r"([0-9.]+)/s;", "$mix").group(1))
print(f"crawl: {100 * q / span / fl:.0f} % of the disco#info ceiling, "
      f"{100 * q / span / mx:.0f} % of the ceiling of the crawl's own mix")
print(f"crawl: crawler CPU {1e6 * cpu / q:.1f} us/query "
      f"(including the storage writer and the queue); peak RSS {rss / 1024:.1f} MiB")
print(f"server: Prosody CPU {pcpu:.2f} s during the crawl ({100 * pcpu / wall:.0f} % of one core)")
print(f"database: PostgreSQL CPU {gcpu:.2f} s during the crawl ({1e6 * gcpu / q:.1f} us/query)")
print(f"machine load: {open('/proc/loadavg').read().split()[0]} (1-minute load average at the end)")
PY
if [ "$stats" -eq 1 ]; then
  # per crawl query: the statements (top level and nested, i.e. trigger
  # bodies, separately), commits and WAL
  psql -X -q "$db" -v q="$queries" -v x0="$xact0" <<'SQL'
SELECT (xact_commit - :x0) AS commits,
       round((xact_commit - :x0)::numeric / :q, 3) AS commits_per_query
FROM pg_stat_database WHERE datname = current_database();
SELECT wal_records, pg_size_pretty(wal_bytes) AS wal, round(wal_bytes / :q) AS wal_bytes_per_query
FROM pg_stat_wal;
SELECT toplevel, round(sum(total_exec_time + total_plan_time)::numeric * 1000 / :q, 1) AS us_per_query,
       sum(calls) AS calls
FROM pg_stat_statements GROUP BY toplevel ORDER BY 1 DESC;
SELECT round((total_exec_time + total_plan_time)::numeric * 1000 / :q, 1) AS us_q,
       calls, rows, round(total_exec_time::numeric * 1000 / nullif(calls, 0), 1) AS us_call, round(total_plan_time::numeric * 1000 / :q, 1) AS plan_us_q,
       CASE WHEN toplevel THEN 'top' ELSE 'nested' END AS lvl,
       left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS statement
FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 45;
SQL
fi
