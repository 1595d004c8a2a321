#!/usr/bin/env python3
"""Integration test of xc-population and xc-xmpp-query against ONE private
Prosody on 127.0.0.1 (tests/testnet/prosody_private.sh). A small plan runs:
one room with a normal creator (XEP-0232 software info, XEP-0390), a
poisoner, a lenient-dups client, the three buggy variants, no-answer,
error-answer, slow-answer and huge:3000 clients; a leave-on-query client
alone in a second room; a flapping client without rooms. Then, through
xc-xmpp-query: the room shows every advertised ver (without nicks); each
client's node#ver answer verifies with the protocol core exactly as its
expected outcome says, and its XEP-0390 hash node too (mismatch for the
poisoner); no-answer times out (exit 2), error-answer gives an iq error
(exit 1); the leave-on-query client answers and leaves its room; version
comes from the software info; an unknown node is item-not-found; a TLS
login works (certificate trusted or verified with its CA, refused
otherwise); a closed port exits 2; xc-population leaves cleanly on SIGTERM (exit 0: under ASan,
no leak).

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
    accounts = [f"u{i}:pw{i}" for i in range(1, 13)] + ["q:pwq"]
    subprocess.run([script, "start", pdir, host, str(port)] + accounts,
                   check=True, timeout=30,
                   env=dict(os.environ, XC_PROSODY_TLS="1"))
    pop = None
    try:
        data = os.path.join(srcdir, "tests/data/clients")
        gajim = json.load(open(os.path.join(data, "gajim_2.5.0.json")))
        conv = json.load(open(os.path.join(data, "conversations_2.12.8.json")))
        room = f"r1@conference.{host}"
        room2 = f"r2@conference.{host}"
        si = {"os": "Linux", "os_version": "6.1.0-13", "software": "Tkabber",
              "software_version": "1.1.2"}
        # (behaviour, profile, softinfo, caps2, rooms, creates)
        spec = [("normal", "gajim", si, True, [room], [room]),
                ("poison", "conv", None, True, [room], []),
                ("lenient-dups", "gajim", None, False, [room], []),
                ("variant:escape-lt", "conv", None, False, [room], []),
                ("variant:escape-xml", "gajim", si, False, [room], []),
                ("variant:formless-forms", "conv", None, False, [room], []),
                ("no-answer", "gajim", None, False, [room], []),
                ("error-answer", "gajim", None, False, [room], []),
                ("slow-answer:1500", "conv", None, False, [room], []),
                ("huge:3000", "gajim", None, True, [room], []),
                ("leave-on-query", "gajim", None, False, [room2], [room2]),
                ("flap", "conv", None, False, [], [])]
        plan = {"seed": 3, "profiles": {"gajim": gajim, "conv": conv},
                "clients": []}
        for i, (beh, prof, soft, c2, rooms, creates) in enumerate(spec, 1):
            plan["clients"].append({
                "id": i, "jid": f"u{i}@{host}", "password": f"pw{i}",
                "host": "127.0.0.1", "port": port, "resource": "xc",
                "nick": f"n{i}", "profile": prof, "softinfo": soft,
                "caps2": c2, "behaviour": beh, "rooms": rooms,
                "creates": [{"room": r, "public": True, "members_only": False,
                             "password": None} for r in creates]})
        nclients = len(spec)
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
            if len(lines) >= nclients or pop.poll() is not None:
                break
            time.sleep(0.2)
        if len(lines) != nclients:
            fail(f"{len(lines)} presented lines, expected {nclients}")
            return 1
        ok(f"{nclients} clients online and joined")
        by_id = {x["id"]: x for x in lines}
        for x in lines:
            if x["joined"] != spec[x["id"] - 1][4]:
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
        want = sorted(x["ver"] for x in lines if room in x["joined"])
        if rc == 0 and seen == want and '"n1"' not in out:
            ok(f"room-caps lists the {len(want)} advertised vers")
        else:
            fail(f"room-caps rc {rc}: {seen} vs {want} ({err.strip()})")

        # each client's node#ver answer verifies as expected
        for cid, x in sorted(by_id.items()):
            node = f"{x['node']}#{x['ver']}"
            beh = x["behaviour"]
            if beh in ("leave-on-query", "flap"):
                continue  # checked below / not timing-safe
            rc, out, err = run("--json", "--timeout", "4", "disco-info",
                               f"u{cid}@{host}/xc", node)
            if beh == "no-answer":
                if rc == 2:
                    ok(f"client {cid} (no-answer): timeout, exit 2")
                else:
                    fail(f"client {cid} (no-answer): rc {rc}")
                continue
            if beh == "error-answer":
                if rc == 1 and "service-unavailable" in err:
                    ok(f"client {cid} (error-answer): iq error, exit 1")
                else:
                    fail(f"client {cid} (error-answer): rc {rc} {err.strip()}")
                continue
            if beh.startswith("huge:") and rc == 0 and \
                    len(json.loads(out)["features"]) < 3000:
                fail(f"client {cid} (huge): too few features")
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

        # the crawler's way: joined, ask an occupant through its room JID
        x1 = by_id[1]
        rc, out, err = run("--join", f"{room}/joiner", "--json", "disco-info",
                           f"{room}/n1", f"{x1['node']}#{x1['ver']}")
        got = json.loads(out).get("caps", {}) if rc == 0 else {}
        if got.get("outcome") == "valid":
            ok("--join: occupant answers through its room JID, valid")
        else:
            fail(f"--join: rc {rc} {got} {err.strip()}")

        # a room that does not exist is an error, not a new room
        rc, out, err = run("room-caps", f"nosuchroom@conference.{host}", "c")
        rc2, out2, _ = run("--json", "disco-items", f"conference.{host}")
        if rc == 1 and "did not exist" in err and "nosuchroom" not in out2:
            ok("room-caps on a missing room: exit 1, no room left behind")
        else:
            fail(f"missing room: rc {rc} {err.strip()} / {out2.strip()}")

        # leave-on-query: in its room before the query, gone after it
        x11 = by_id[11]
        rc, out, err = run("room-caps", room2, "checker2")
        before = len([y for y in out.splitlines() if y])
        rc2, _, _ = run("--json", "disco-info", f"u11@{host}/xc",
                        f"{x11['node']}#{x11['ver']}")
        time.sleep(0.5)
        rc3, out, err = run("room-caps", room2, "checker3")
        after = len([y for y in out.splitlines() if y])
        if rc == 0 and rc2 == 0 and rc3 == 0 and before == 1 and after == 0:
            ok("client 11 (leave-on-query): answered and left the room")
        else:
            fail(f"leave-on-query: rc {rc}/{rc2}/{rc3}, occupants "
                 f"{before} -> {after}")

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
        # TLS through the bridge: STARTTLS, mandatory without --plaintext;
        # the certificate is checked unless --trust-tls
        tls = [a for a in query if a != "--plaintext"]
        for extra, env, want, what in (
                (["--trust-tls"], {}, 0, "trusted"),
                ([], {"SSL_CERT_FILE": os.path.join(pdir, "cert.pem")}, 0,
                 "verified with its CA"),
                ([], {"SSL_CERT_FILE": "/nonexistent"}, 2, "refused")):
            r = subprocess.run(tls + extra + ["--json", "version", host],
                               capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, **env))
            if r.returncode == want:
                ok(f"TLS login, certificate {what}: exit {want}")
            else:
                fail(f"TLS ({what}): exit {r.returncode}, expected {want}: "
                     f"{r.stderr.strip()[-200:]}")

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
