#!/usr/bin/env python3
"""Benchmark of one xc-population process against a private Prosody on
127.0.0.1: N clients (default 250) over N/10 rooms with the plan's mix of
behaviours, then reports the time until every client presented, the
process's RSS, and its CPU use while idle (no queries) over a window.
Prints numbers; it is not a test. Use a build without sanitizers.

usage: testnet_population.py BIN_DIR [--clients N] [--idle S]
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEHAVIOURS = ["normal"] * 12 + ["poison", "variant:escape-lt",
              "variant:escape-xml", "variant:formless-forms", "lenient-dups",
              "no-answer", "error-answer", "slow-answer:2000", "huge:1000",
              "flap", "leave-on-query"]


def free_port():
    while True:
        port = random.randint(20000, 60000)
        try:
            for p in (port, port + 1):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                s.close()
            return port
        except OSError:
            continue


def proc_stat(pid):
    """(rss kB, cpu seconds) of pid."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("--clients", type=int, default=250)
    ap.add_argument("--idle", type=float, default=30)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="xc-popbench-")
    host = "bench.xnet"
    port = free_port()
    script = os.path.join(SRC, "tests/testnet/prosody_private.sh")
    accounts = [f"u{i}:pw{i}" for i in range(1, a.clients + 1)]
    subprocess.run([script, "start", os.path.join(work, "prosody"), host,
                    str(port)] + accounts, check=True, timeout=60)
    pop = None
    try:
        datadir = os.path.join(SRC, "tests/data/clients")
        profiles = {}
        for name in sorted(os.listdir(datadir)):
            if name.endswith(".json"):
                profiles[name[:-5]] = json.load(open(os.path.join(datadir, name)))
        ids = sorted(profiles)
        rng = random.Random(1)
        nrooms = max(1, a.clients // 10)
        clients = []
        for i in range(1, a.clients + 1):
            r = (i - 1) % nrooms
            room = f"r{r}@conference.{host}"
            clients.append({
                "id": i, "jid": f"u{i}@{host}", "password": f"pw{i}",
                "host": "127.0.0.1", "port": port, "nick": f"n{i}",
                "profile": ids[rng.randrange(len(ids))],
                "softinfo": {"os": "Linux", "os_version": f"6.1.0-{i % 7}",
                             "software": "x", "software_version": "1"}
                if i % 4 == 0 else None,
                "caps2": i % 3 == 0,
                "behaviour": "normal" if i <= nrooms
                else BEHAVIOURS[rng.randrange(len(BEHAVIOURS))],
                "rooms": [room],
                "creates": [{"room": room, "public": True,
                             "members_only": False, "password": None}]
                if i <= nrooms else []})
        plan = os.path.join(work, "plan.json")
        json.dump({"seed": 1, "profiles": profiles, "clients": clients},
                  open(plan, "w"))
        out = os.path.join(work, "presented.jsonl")
        t0 = time.monotonic()
        pop = subprocess.Popen([os.path.join(a.bindir, "xc-population"),
                                "--plan", plan, "--part", "1/1", "--out", out,
                                "--log-level", "warn"],
                               stderr=open(os.path.join(work, "pop.log"), "w"))
        n = 0
        while time.monotonic() - t0 < 120 and pop.poll() is None:
            n = sum(1 for _ in open(out)) if os.path.exists(out) else 0
            if n >= a.clients:
                break
            time.sleep(0.1)
        up = time.monotonic() - t0
        print(f"clients presented: {n}/{a.clients} in {up:.2f} s")
        time.sleep(2)
        rss0, cpu0 = proc_stat(pop.pid)
        time.sleep(a.idle)
        rss1, cpu1 = proc_stat(pop.pid)
        print(f"RSS: {rss1 / 1024:.1f} MiB ({rss1 / a.clients:.1f} kB per "
              f"client)")
        print(f"CPU while idle: {100 * (cpu1 - cpu0) / a.idle:.2f} % of one "
              f"core over {a.idle:.0f} s (flap clients included)")
        pop.send_signal(signal.SIGTERM)
        t1 = time.monotonic()
        rc = pop.wait(timeout=30)
        print(f"SIGTERM: exit {rc} after {time.monotonic() - t1:.2f} s")
        pop = None
    finally:
        if pop is not None and pop.poll() is None:
            pop.kill()
            pop.wait()
        subprocess.run([script, "stop", os.path.join(work, "prosody")],
                       timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
