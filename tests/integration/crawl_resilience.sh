#!/usr/bin/env bash
# Three `xcensus crawl` processes share one crawl of 60 domains (virtual
# hosts of one private Prosody, reached without s2s). Mid-crawl the test
#   1. kills one crawler with SIGKILL (its leases must expire and be redone),
#   2. stops PostgreSQL for a few seconds (nothing may be lost),
#   3. restarts Prosody (sessions must reconnect).
# Afterwards every job is done exactly once, every domain has its
# disco#info and version stored, and no crawler is left running.
#   crawl_resilience.sh XCENSUS SOURCE_DIR WORK_DIR
set -euo pipefail
X=$1 src=$2 work=$3
N=60
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { [ "${CI:-}" = true ] && fail "$*"; echo "SKIP: $*"; exit 77; }
command -v prosody >/dev/null || skip "prosody not installed"

rm -rf "$work"; mkdir -p "$work"
pgdir="$work/pg" pdir="$work/prosody"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  [ -f "$pdir/launch.pid" ] && kill -TERM "$(cat "$pdir/launch.pid")" 2>/dev/null || true
  "$src/scripts/pg" stop "$pgdir" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- PostgreSQL of our own (this test stops it) ---
"$src/scripts/pg" start --fast "$pgdir" >"$work/pg-start.log" 2>&1 || {
  rc=$?; [ $rc -eq 3 ] && skip "PostgreSQL server binaries missing"; cat "$work/pg-start.log"; fail "pg start"; }
db=$("$src/scripts/pg" conninfo "$pgdir")

# --- Prosody with N virtual hosts + the crawler's host ---
port=$(python3 "$src/tests/integration/free_port.py") || fail "no free port"
mkdir -p "$pdir/data/hub%2exnet/accounts"
for i in 1 2 3; do
  printf 'return {\n\t["password"] = "pw%s";\n};\n' "$i" >"$pdir/data/hub%2exnet/accounts/crawler$i.dat"
done
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
s2s_ports = { $((port + 1)) }
s2s_interfaces = { "127.0.0.1" }
http_ports = {}
https_ports = {}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
limits = { c2s = { rate = "1000kb/s" } }
log = { { levels = { min = "warn" }, to = "file", filename = "$pdir/prosody.log" } }
gc = { mode = "generational" }
VirtualHost "hub.xnet"
CFG
  for i in $(seq -w 1 $N); do
    echo "VirtualHost \"d$i.xnet\""
    if [ $((10#$i % 4)) -eq 0 ]; then echo "Component \"conference.d$i.xnet\" \"muc\""; fi
  done
} >"$pdir/prosody.cfg.lua"
start_prosody() {
  prosody --config "$pdir/prosody.cfg.lua" >>"$pdir/prosody.out" 2>&1 &
  echo $! >"$pdir/launch.pid"
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  fail "prosody did not start (see $pdir/prosody.out)"
}
start_prosody

# --- three crawler configurations (one account each) ---
for i in 1 2 3; do
  cat >"$work/c$i.yaml" <<YAML
crawl:
  name: resilience
  lease: 10s
  heartbeat_interval: 2s
  max_attempts: 10
  max_domains_in_flight: 4
  claim_batch: 2
  backoff: {timeout: 1s, remote_server_not_found: 1s, service_unavailable: 1s, other: 1s, max: 2s}
politeness: {min_interval: 0s}
database:
  spill_dir: $work/spill$i
log: {progress: never}
limits: {iq_timeout: 5s}
# outside a namespace the direct prober would ask the system's DNS; any
# lookup at all goes to a loopback port where nothing answers
direct: {enabled: false}
dns: {servers: "127.0.0.1:9"}
accounts:
  - jid: crawler$i@hub.xnet
    password_env: XC_PW
    host: 127.0.0.1
    port: $port
    tls: plaintext-loopback-only
    send_rate: 12
    send_burst: 12
    reconnect_max: 2s
YAML
done
"$X" migrate -d "$db" >"$work/migrate.log" 2>&1
for i in $(seq -w 1 $N); do echo "d$i.xnet"; done >"$work/domains.txt"
XC_PW=pw1 "$X" --config "$work/c1.yaml" seed -d "$db" --file "$work/domains.txt" >"$work/seed.log" 2>&1

for i in 1 2 3; do
  XC_PW=pw$i "$X" --config "$work/c$i.yaml" crawl -d "$db" --exit-when-done >"$work/crawl$i.log" 2>&1 &
  pids+=($!)
done
q() { "$(dirname "$(command -v psql 2>/dev/null || echo /usr/bin/psql)")/psql" -X -Atq "$db" -c "$1"; }
done_jobs() { q "SELECT count(*) FROM jobs WHERE state = 'done'"; }

# 1. kill one crawler once work is under way
for _ in $(seq 100); do [ "$(done_jobs)" -ge 5 ] && break; sleep 0.1; done
kill -KILL "${pids[2]}"
echo "killed crawler 3 after $(done_jobs) jobs"
# 2. take PostgreSQL away for 3 s
sleep 1
"$src/scripts/pg" stop "$pgdir" >/dev/null
sleep 3
"$src/scripts/pg" start --fast "$pgdir" >/dev/null
echo "PostgreSQL restarted at $(done_jobs) jobs"
# 3. restart Prosody
sleep 2
kill -TERM "$(cat "$pdir/launch.pid")"
for _ in $(seq 50); do kill -0 "$(cat "$pdir/launch.pid")" 2>/dev/null || break; sleep 0.1; done
start_prosody
echo "Prosody restarted at $(done_jobs) jobs"

# the two survivors finish the crawl
for p in "${pids[0]}" "${pids[1]}"; do
  if ! timeout 400 tail --pid="$p" -f /dev/null; then fail "a crawler did not finish"; fi
done
for i in 1 2; do wait "${pids[$((i - 1))]}" || { tail -20 "$work/crawl$i.log"; fail "crawler $i exited with an error"; }; done
pids=()

expect() { [ "$2" = "$3" ] || fail "$1: expected $2, got $3"; echo "ok: $1 = $3"; }
expect "jobs done" "$N" "$(done_jobs)"
expect "jobs not done" 0 "$(q "SELECT count(*) FROM jobs WHERE state <> 'done'")"
expect "domains with a stored disco#info" "$N" "$(q "SELECT count(DISTINCT e.address) FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id WHERE e.kind = 'server'")"
expect "domains with a stored version" "$N" "$(q "SELECT count(DISTINCT e.address) FROM software_versions v JOIN entities e ON e.id = v.entity_id WHERE e.kind = 'server' AND v.name = 'Prosody'")"
expect "MUC components found" $((N / 4)) "$(q "SELECT count(*) FROM entities WHERE kind = 'muc'")"
# exactly once: a completed job's results live in one run; a domain has
# results in more than one run only if a crawler died or lost its lease on it
multi=$(q "SELECT count(*) FROM (SELECT e.address FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id WHERE e.kind = 'server' GROUP BY e.address HAVING count(DISTINCT s.source_id) > 1) x")
dup=$(q "SELECT count(*) FROM (SELECT s.source_id, s.entity_id FROM disco_snapshots s GROUP BY 1, 2 HAVING count(*) > 1) x")
expect "snapshots duplicated within a run" 0 "$dup"
echo "domains probed by more than one run (killed crawler's or lost leases): $multi"
expect "runs closed by the survivors" 2 "$(q "SELECT count(*) FROM crawl_runs WHERE state = 'finished'")"
pgrep -f "$work/c[123].yaml" >/dev/null && fail "a crawler process is still running"
echo "crawl_resilience: ok"
