#!/usr/bin/env python3
"""Integration test of xc-population and xc-xmpp-query against ONE private
Prosody on 127.0.0.1 (tests/testnet/prosody_private.sh): a tiny plan (three
clients in one room: a normal creator with XEP-0232 software info and
XEP-0390, a poisoner, a lenient-dups client) runs; then, through
xc-xmpp-query, the room's occupants show the advertised caps, every
client's node#ver answer verifies exactly as its expected outcome says, the
XEP-0390 hash node verifies (or not, for the poisoner), version and ping
style queries answer, unknown nodes give an iq error, and xc-population
leaves cleanly on SIGTERM (exit 0: under ASan, no leak).

usage: programs_test.py BIN_DIR SOURCE_DIR WORK_DIR
Exit 77 (skip) if prosody is not installed.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}", flush=True)


def ok(msg):
    print(f"ok   {msg}", flush=True)


def free_port():
    for _ in range(50):
        port = random.randint(20000, 60000)
        try:
            for p in (port, port + 1):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                s.close()
            return port
        except OSError:
            continue
    raise SystemExit("no free port")


def main():
    bindir, srcdir, work = sys.argv[1:4]
    if not shutil.which("prosody"):
        print("prosody not installed: skipping")
        return 77
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    host = "pop.xnet"
    port = free_port()
    script = os.path.join(srcdir, "tests/testnet/prosody_private.sh")
    pdir = os.path.join(work, "prosody")
    accounts = ["u1:pw1", "u2:pw2", "u3:pw3", "q:pwq"]
    subprocess.run([script, "start", pdir, host, str(port)] + accounts,
                   check=True, timeout=30)
    pop = None
    try:
        data = os.path.join(srcdir, "tests/data/clients")
        gajim = json.load(open(os.path.join(data, "gajim_2.5.0.json")))
        conv = json.load(open(os.path.join(data, "conversations_2.12.8.json")))
        room = f"r1@conference.{host}"
        spec = [("normal", "gajim", True, True),
                ("poison", "conv", False, True),
                ("lenient-dups", "gajim", False, False)]
        plan = {"seed": 3, "profiles": {"gajim": gajim, "conv": conv},
                "clients": []}
        for i, (beh, prof, si, c2) in enumerate(spec, 1):
            plan["clients"].append({
                "id": i, "jid": f"u{i}@{host}", "password": f"pw{i}",
                "host": "127.0.0.1", "port": port, "resource": "xc",
                "nick": f"n{i}", "profile": prof,
                "softinfo": {"os": "Linux", "os_version": "6.1.0-13",
                             "software": "Tkabber",
                             "software_version": "1.1.2"} if si else None,
                "caps2": c2, "behaviour": beh, "rooms": [room],
                "creates": [{"room": room, "public": True,
                             "members_only": False, "password": None}]
                if i == 1 else []})
        plan_path = os.path.join(work, "plan.json")
        json.dump(plan, open(plan_path, "w"))
        presented = os.path.join(work, "presented.jsonl")
        pop_log = open(os.path.join(work, "population.log"), "w")
        pop = subprocess.Popen([os.path.join(bindir, "xc-population"),
                                "--plan", plan_path, "--part", "1/1",
                                "--out", presented, "--log-level", "info"],
                               stderr=pop_log)
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(presented):
                lines = [json.loads(x) for x in open(presented) if x.strip()]
            if len(lines) >= 3 or pop.poll() is not None:
                break
            time.sleep(0.2)
        if len(lines) != 3:
            fail(f"{len(lines)} presented lines, expected 3")
            return 1
        ok("3 clients online and joined")
        by_id = {x["id"]: x for x in lines}
        for x in lines:
            if x["joined"] != [room]:
                fail(f"client {x['id']} joined {x['joined']}")

        pwfile = os.path.join(work, "q.password")
        open(pwfile, "w").write("pwq\n")
        query = [os.path.join(bindir, "xc-xmpp-query"), "--jid", f"q@{host}",
                 "--password-file", pwfile, "--host", "127.0.0.1", "--port",
                 str(port), "--plaintext", "--timeout", "10"]

        def run(*args):
            r = subprocess.run(query + list(args), capture_output=True,
                               text=True, timeout=30)
            return r.returncode, r.stdout, r.stderr

        # the room shows every occupant's advertised caps, no nicks
        rc, out, err = run("room-caps", room, "checker")
        seen = sorted(json.loads(x)["ver"] for x in out.splitlines() if x)
        want = sorted(x["ver"] for x in lines)
        if rc == 0 and seen == want and "n1" not in out:
            ok("room-caps lists the 3 advertised vers")
        else:
            fail(f"room-caps rc {rc}: {seen} vs {want} ({err.strip()})")

        # each client's node#ver answer verifies as expected
        for cid, x in sorted(by_id.items()):
            node = f"{x['node']}#{x['ver']}"
            rc, out, err = run("--json", "disco-info", f"u{cid}@{host}/xc",
                               node)
            if rc != 0:
                fail(f"client {cid} disco-info rc {rc}: {err.strip()}")
                continue
            got = json.loads(out)["caps"]
            exp = x["expected"]
            if got["outcome"] == exp["outcome"] and \
                    got["matched_by"] == exp["matched_by"] and \
                    got.get("error") == exp.get("error"):
                ok(f"client {cid} ({x['behaviour']}): {got['outcome']}"
                   f"/{got['matched_by']}")
            else:
                fail(f"client {cid} ({x['behaviour']}): got {got}, "
                     f"expected {exp}")
            if x["caps2"]:
                h = x["caps2"]["sha-256"]
                rc, out, err = run("--json", "disco-info", f"u{cid}@{host}/xc",
                                   f"urn:xmpp:caps#sha-256.{h}")
                got2 = json.loads(out)["caps2"]["outcome"] if rc == 0 else rc
                want2 = "mismatch" if x["behaviour"] == "poison" else "valid"
                if got2 == want2:
                    ok(f"client {cid} XEP-0390: {got2}")
                else:
                    fail(f"client {cid} XEP-0390: {got2}, expected {want2}")

        # XEP-0092 from the software info; unknown node is an iq error
        rc, out, err = run("--json", "version", f"u1@{host}/xc")
        v = json.loads(out) if rc == 0 else {}
        if v.get("name") == "Tkabber" and v.get("version") == "1.1.2" and \
                v.get("os", "").startswith("Linux"):
            ok("version answer from softinfo")
        else:
            fail(f"version rc {rc}: {out.strip()} {err.strip()}")
        rc, out, err = run("disco-info", f"u1@{host}/xc", "urn:xnet:nonode")
        if rc == 1 and "item-not-found" in err:
            ok("unknown node: iq error item-not-found, exit 1")
        else:
            fail(f"unknown node rc {rc}: {err.strip()}")
        rc, out, err = run("--json", "disco-items", f"conference.{host}")
        if rc == 0 and room in out:
            ok("disco-items lists the public room")
        else:
            fail(f"disco-items rc {rc}: {out.strip()} {err.strip()}")
        # a query tool that cannot connect exits 2
        r = subprocess.run(query[:8] + [str(free_port()), "--plaintext",
                                        "--timeout", "5", "version", "x@y"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 2:
            ok("connection failure: exit 2")
        else:
            fail(f"connection failure rc {r.returncode}")

        pop.send_signal(signal.SIGTERM)
        try:
            rc = pop.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pop.kill()
            rc = pop.wait()
        if rc == 0:
            ok("xc-population left cleanly on SIGTERM")
        else:
            fail(f"xc-population exit status {rc} (see population.log)")
        pop = None
    finally:
        if pop is not None and pop.poll() is None:
            pop.kill()
            pop.wait()
        subprocess.run([script, "stop", pdir], timeout=30)
    if failures:
        print(f"{len(failures)} failure(s); logs in {work}")
        return 1
    print("population and query tool behave")
    return 0


if __name__ == "__main__":
    sys.exit(main())
