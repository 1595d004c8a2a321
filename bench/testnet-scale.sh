#!/bin/sh
# bench/testnet-scale.sh: measures the test network at scale (default 500
# domains, 300 rooms, 3,000 clients): time of `testnet up`, then after an
# idle period the RSS and CPU share of every process kind (Prosody and
# ejabberd instances, dnsmasq, population parts) over IDLE seconds, then
# `testnet down`. Prints numbers; it is not a test. Needs root.
# usage: bench/testnet-scale.sh [--idle S] [testnet up options...]
# env: XC_TESTNET_BIN (programs dir), BENCH_STATE (state dir, default
# .state/testnet-bench), BENCH_NETNS (namespace, default xcbench)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
idle=30
if [ "${1:-}" = "--idle" ]; then idle=$2; shift 2; fi
state=${BENCH_STATE:-$here/.state/testnet-bench}
ns=${BENCH_NETNS:-xcbench}
tn="$here/tests/testnet/testnet"
mkdir -p "$(dirname "$state")"

python3 "$tn" down --state "$state" --name "$ns" >/dev/null 2>&1 || true
echo "== testnet up $* (state $state, namespace $ns)"
start=$(date +%s%N)
python3 "$tn" up --state "$state" --name "$ns" "$@" > "$state.up.log" 2>&1 || {
    cat "$state.up.log"; python3 "$tn" down --state "$state" --name "$ns"; exit 1; }
end=$(date +%s%N)
grep -E '^testnet' "$state.up.log" || true
echo "time to up: $(( (end - start) / 1000000 )) ms (wall clock of testnet up)"
sleep 5
python3 - "$state" "$idle" <<'EOF'
import json, os, sys, time
state, idle = sys.argv[1], float(sys.argv[2])
tck = os.sysconf("SC_CLK_TCK")

def children():
    kids = {}
    for x in os.listdir("/proc"):
        if x.isdigit():
            try:
                with open("/proc/%s/stat" % x) as f:
                    kids.setdefault(int(f.read().split(")")[-1].split()[1]), []).append(int(x))
            except (OSError, ValueError, IndexError):
                pass
    return kids

def tree(pid, kids):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out

def sample(pids):
    rss = cpu = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fl = f.read().split(")")[-1].split()
            cpu += int(fl[11]) + int(fl[12])
            rss += int(fl[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, ValueError, IndexError):
            pass
    return rss, cpu / tck

piddir = os.path.join(state, "pids")
labels = {}
for fn in sorted(os.listdir(piddir)):
    if fn.endswith(".pid") and not fn.endswith("-beam.pid"):
        with open(os.path.join(piddir, fn)) as f:
            labels[fn[:-4]] = int(f.read())
kids = children()
trees = {l: tree(p, kids) for l, p in labels.items()}
before = {l: sample(t) for l, t in trees.items()}
time.sleep(idle)
after = {l: sample(t) for l, t in trees.items()}
with open(os.path.join(state, "truth.json")) as f:
    truth = json.load(f)
hosts = {}
with open(os.path.join(state, "plan.json")) as f:
    plan = json.load(f)
for i in plan["instances"]:
    hosts[i["name"]] = len(i["domains"])
print("counts: %s" % json.dumps(truth.get("counts")))
print("timing: %s" % json.dumps(truth.get("timing")))
print("idle over %.0f s:" % idle)
print("  %-12s %6s %10s %12s %9s" % ("process", "hosts", "RSS MiB", "CPU s total", "idle CPU%"))
kinds = {}
for l in sorted(labels):
    rss, cpu = after[l]
    d = cpu - before[l][1]
    print("  %-12s %6s %10.1f %12.2f %8.2f%%" % (l, hosts.get(l, ""), rss / 1024, cpu, 100 * d / idle))
    k = l.split("-")[0]
    s = kinds.setdefault(k, [0, 0, 0.0, 0.0])
    s[0] += 1; s[1] += rss; s[2] += d; s[3] += cpu
print("per kind:")
for k, (n, rss, d, cpu) in sorted(kinds.items()):
    print("  %-10s x%-3d RSS %8.1f MiB total (%.1f each)  idle CPU %.2f%% of one core  CPU since start %.1f s"
          % (k, n, rss / 1024, rss / 1024 / n, 100 * d / idle, cpu))
EOF
echo "== testnet down"
python3 "$tn" down --state "$state" --name "$ns"
