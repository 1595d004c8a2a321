#!/usr/bin/env bash
# The README's first command, end to end on a small test network: scripts/demo
# with the programs of this build (no apt, no rebuild) must crawl, analyze,
# print its findings and serve the dashboard; then Ctrl-C (SIGINT) must stop
# it and leave nothing running: no server on the port, no PostgreSQL, no XMPP
# server, no network namespace.
#   demo_test.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
src=$1 build=$2 work=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() {
  if [ "${CI:-}" = true ]; then fail "$* (CI must not skip)"; fi
  echo "SKIP: $*"; exit 77
}
[ "$(id -u)" -eq 0 ] || skip "the demo's test network needs root for a network namespace"
command -v ip >/dev/null || skip "iproute2 missing"
command -v curl >/dev/null || skip "curl missing"

rm -rf "$work"; mkdir -p "$work"
port=$(python3 "$src/tests/integration/free_port.py")
log="$work/demo.log"
# job control on: the demo gets its own process group and keeps SIGINT (a
# script's background jobs otherwise start with SIGINT ignored, unlike a
# command run at a terminal, which is what this stands for)
set -m
bash "$src/scripts/demo" --no-deps --no-build --build "$build" --state "$work/state" \
  --domains 24 --rooms 12 --clients 160 --port "$port" >"$log" 2>&1 &
demo=$!
stop_all() {
  kill -INT "$demo" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$demo" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL -- "-$demo" 2>/dev/null || true
  pkill -f -- "$work/state" 2>/dev/null || true
}
trap stop_all EXIT

url="http://127.0.0.1:$port"
for _ in $(seq 1200); do
  grep -q "dashboard:  $url/" "$log" && break
  kill -0 "$demo" 2>/dev/null || { tail -40 "$log"; fail "the demo ended before serving"; }
  sleep 0.5
done
grep -q "dashboard:  $url/" "$log" || { tail -40 "$log"; fail "no dashboard URL after 10 minutes"; }
echo "ok: the demo serves $url/"

grep -q "The XEP-0232 Last Call questions" "$log" || fail "no answers to the Last Call questions printed"
grep -q "^The crawl (" "$log" || fail "no findings of the test-network crawl printed"
echo "ok: key findings printed"

curl -fsS "$url/" -o "$work/index.html" || fail "GET / failed"
grep -qi "<html" "$work/index.html" || fail "GET / is not the dashboard"
curl -fsS "$url/healthz" -o "$work/healthz.json" || fail "GET /healthz failed"
curl -fsS "$url/api/v1/overview" -o "$work/overview.json" || fail "GET /api/v1/overview failed"
curl -fsS "$url/api/v1/server_software" -o "$work/servers.json" || fail "GET /api/v1/server_software failed"
python3 - "$work" <<'PY' || fail "API answers do not show the crawl"
import json, sys
w = sys.argv[1]
ov = json.load(open(f"{w}/overview.json"))["rows"]
sv = json.load(open(f"{w}/servers.json"))["rows"]
assert len(ov) == 1, ov
assert len(sv) > 0, "no server software"
assert any(r["software"] in ("Prosody", "ejabberd") for r in sv), sv
print("ok: overview", {k: v for k, v in ov[0].items() if isinstance(v, int)})
print("ok: server software", [(r["software"], r["servers"]) for r in sv])
PY

netns=$(ip netns list | awk -v n="xcdemo$demo" '$1 == n {print $1}')
[ -z "$netns" ] || fail "the test network's namespace is still there after its crawl"

kill -INT "$demo"
rc=0
for _ in $(seq 120); do kill -0 "$demo" 2>/dev/null || break; sleep 0.5; done
kill -0 "$demo" 2>/dev/null && fail "the demo did not stop within 60 s of SIGINT"
wait "$demo" || rc=$?
trap - EXIT
[ "$rc" -eq 130 ] || { tail -20 "$log"; fail "exit status after SIGINT: $rc, expected 130"; }
grep -q "demo: dashboard stopped" "$log" || fail "the dashboard was not stopped"
grep -q "demo: PostgreSQL stopped" "$log" || fail "PostgreSQL was not stopped"
if curl -fsS -m 2 "$url/healthz" >/dev/null 2>&1; then fail "something still answers on $url"; fi
left=$(pgrep -f -- "$work/state" || true)
[ -z "$left" ] || { ps -o pid,args -p "$(echo $left | tr ' ' ,)"; fail "processes left running"; }
echo "ok: SIGINT stopped everything (exit 130, nothing left on the port or from $work/state)"
