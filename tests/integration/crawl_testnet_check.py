"""Compares a crawl of the test network with the network's truth file.

Every served domain and component must be stored with exactly the
identities and features the truth lists, and the XEP-0092 version where the
truth has one; nothing may be stored that the truth does not list; every
unreachable domain must end in a failed job with the outcome its kind
implies. Prints one line per check and exits 1 on the first mismatch list.
"""
import json
import sys

truth = json.load(open(sys.argv[1]))
work = sys.argv[2]
entities = json.load(open(f"{work}/entities.json"))
versions = json.load(open(f"{work}/versions.json"))
jobs = json.load(open(f"{work}/jobs.json"))
outcomes = json.load(open(f"{work}/outcomes.json"))
errors = []


def idset(ids):
    return sorted((i["category"], i["type"], i.get("name") or "", i.get("lang") or "") for i in ids)


def compare(address, want, kind):
    got = entities.get(address)
    if got is None:
        errors.append(f"{address}: no disco#info stored")
        return
    if got["kind"] != kind:
        errors.append(f"{address}: kind {got['kind']}, truth {kind}")
    if idset(got["identities"]) != idset(want["identities"]):
        errors.append(f"{address}: identities {idset(got['identities'])} != truth {idset(want['identities'])}")
    if sorted(set(got["features"])) != sorted(set(want["features"])):
        extra = sorted(set(got["features"]) - set(want["features"]))
        missing = sorted(set(want["features"]) - set(got["features"]))
        errors.append(f"{address}: features differ: extra {extra}, missing {missing}")
    want_types = sorted(f.get("form_type") or "" for f in want.get("forms", []))
    got_types = sorted(t or "" for t in got["form_types"])
    if want_types != got_types:
        errors.append(f"{address}: form types {got_types} != truth {want_types}")


expected = set()
served = unreachable = components = 0
for name, d in truth["domains"].items():
    if d["kind"] == "hostile":
        # whatever a hostile peer does (some modes speak a valid stream and
        # answer over s2s), the job must end and its queries be outcomes
        hostile = True
        job = jobs.get(name, {})
        if job.get("state") not in ("done", "failed"):
            errors.append(f"{name} (hostile {d.get('mode')}): job {job}, expected it ended")
        if not [o for o in outcomes if o["address"] == name and o["probe"] == "disco-info"]:
            errors.append(f"{name} (hostile {d.get('mode')}): no disco-info outcome recorded")
        expected.add(name)
        expected.update(a for a in entities if a.endswith("." + name))
        unreachable += 1
        continue
    if d["kind"] == "slow":
        # served, but its disco#info and version come after our iq timeout
        # (the test sets limits.iq_timeout below the network's --slow-delay)
        unreachable += 1
        job = jobs.get(name, {})
        if job != {"state": "failed", "class": "timeout"}:
            errors.append(f"{name} (slow): job {job}, expected failed with class timeout")
        mine = [o for o in outcomes if o["address"] == name and o["probe"] in ("disco-info", "version")]
        if not mine or any(o["outcome"] != "timeout" for o in mine):
            errors.append(f"{name} (slow): outcomes {mine}, expected timeouts")
        expected.update(c for c in d.get("components", {}))  # answered through items
        continue
    if d.get("reachable"):
        served += 1
        expected.add(name)
        compare(name, d, "server")
        v = d.get("version")
        got = versions.get(name)
        if v:
            if not got or got["name"] != v["name"] or got["version"] != v["version"]:
                errors.append(f"{name}: version {got}, truth {v}")
        elif got:
            errors.append(f"{name}: version {got} stored, truth: no version")
        for comp, c in d.get("components", {}).items():
            components += 1
            expected.add(comp)
            compare(comp, c, c["kind"])
        if jobs.get(name, {}).get("state") != "done":
            errors.append(f"{name}: job {jobs.get(name)}, expected done")
    else:
        unreachable += 1
        job = jobs.get(name, {})
        if job.get("state") != "failed":
            errors.append(f"{name} ({d['kind']}): job {job}, expected failed")
        mine = [o for o in outcomes if o["address"] == name and o["probe"] == "disco-info"]
        if not mine:
            errors.append(f"{name} ({d['kind']}): no disco-info outcome recorded")
        kind = d["kind"]
        if kind == "nonexistent" and not all(o["condition"] == "remote-server-not-found" for o in mine):
            errors.append(f"{name}: outcomes {mine}, expected remote-server-not-found")
        if kind == "slow" and not all(o["outcome"] == "timeout" for o in mine):
            errors.append(f"{name}: outcomes {mine}, expected timeouts")
        if any(o["outcome"] == "ok" for o in mine):
            errors.append(f"{name} ({kind}): an unreachable domain answered: {mine}")

# --- the client census ---------------------------------------------------
caps_entries = json.load(open(f"{work}/caps_entries.json"))
caps_obs = json.load(open(f"{work}/caps_obs.json"))
joinable, other = {}, set()
for d in truth["domains"].values():
    if not d.get("reachable") or d["kind"] == "slow":
        continue
    for room, r in d.get("rooms", {}).items():
        ok = r["public"] and not r["members_only"] and not r["password"] and r["occupants"] >= 1
        for c in r.get("caps", []):
            key = f"{c['hash']} {c['ver']}"
            if ok:
                joinable[key] = joinable.get(key, 0) + c["count"]
            else:
                other.add(key)
verdicts = {}
for key, want_count in sorted(joinable.items()):
    h = truth["hashes"].get(key)
    got = caps_entries.get(key)
    if got is None:
        errors.append(f"hash {key} ({h and h['behaviour']}) in a public room: not resolved")
        continue
    want = (h["expected_outcome"], h["matched_by"])
    if (got["outcome"], got["matched_by"]) != want:
        errors.append(f"hash {key} ({h['behaviour']}): {got}, truth {want}")
    verdicts[f"{want[0]}/{want[1]}"] = verdicts.get(f"{want[0]}/{want[1]}", 0) + 1
    if h["behaviour"] not in ("flap", "leave-on-query") and caps_obs.get(key, 0) != want_count:
        errors.append(f"hash {key}: observed {caps_obs.get(key, 0)} times, truth {want_count}")
for key in sorted(other - set(joinable)):
    if key in caps_obs:
        errors.append(f"hash {key} only in rooms the census must not join, yet observed")
print(f"census: {len(joinable)} hashes in public rooms, verdicts {verdicts}")

# --- the analysis of this crawl reflects the population -----------------
analysis = json.load(open(f"{work}/analysis.json"))
# what a cache may hold: valid, or ill-formed yet reproducible (a mismatch
# is never cached, whichever implementation's bug explains it)
verified = [k for k in joinable if truth["hashes"][k]["expected_outcome"] in ("valid", "ill-formed")
            and truth["hashes"][k]["matched_by"] is not None]
# a XEP-0232 form is either added by the population (truth "softinfo") or
# part of the real profile itself (Tkabber, LeechCraft, Vacuum-IM captures)
profiles = json.load(open(f"{work}/state/plan.json"))["profiles"]


def native_form(profile):
    return any(f.get("form_type") == "urn:xmpp:dataforms:softwareinfo"
               for f in profiles.get(profile, {}).get("forms", []))


with_si = [k for k in verified if truth["hashes"][k]["softinfo"]
           or native_form(truth["hashes"][k]["profile"])]
ds = analysis["dataset"]
if ds["entries"] != len(verified):
    errors.append(f"analysis: {ds['entries']} entries, truth {len(verified)} reproducible hashes")
if ds["entries_with_xep0232"] != len(with_si):
    errors.append(f"analysis: {ds['entries_with_xep0232']} entries with XEP-0232, truth {len(with_si)}")
if "observation counts" not in analysis["hit_rate"]["popularity"]:
    errors.append("analysis: a crawl's observation counts were not used as popularity")
print(f"analysis: {ds['entries']} entries, {ds['entries_with_xep0232']} with XEP-0232, "
      f"{analysis['xep0232']['entries_without']} without the form")

# --- privacy: no occupant nick or JID in the database or the debug log ----
plan = json.load(open(f"{work}/state/plan.json"))
dump = open(f"{work}/dump.sql", encoding="utf-8", errors="replace").read()
log = open(f"{work}/crawl.log", encoding="utf-8", errors="replace").read()
leaks = set()
for c in plan["clients"]:
    # an occupant is identified by its room JID (room@service/nick) and its
    # own JID; a bare nick is too short to search for on its own
    for needle in [c["jid"]] + [f"{room}/{c['nick']}" for room in c.get("rooms", [])]:
        for name, text in (("database", dump), ("log", log)):
            if needle in text:
                leaks.add(f"{needle} in the {name}")
if leaks:
    errors.append(f"occupant data stored or logged: {sorted(leaks)[:10]}")
print(f"privacy: {len(plan['clients'])} clients' JIDs and room nicks searched in the database and the log")

# --- direct stream probes ---------------------------------------------------
direct = json.load(open(f"{work}/direct.json"))
streams = json.load(open(f"{work}/streams.json"))
# what each kind of domain (and hostile mode) must end in, on c2s and s2s
hostile_outcome = {
    "malformed-xml": "malformed-xml", "doctype-entities": "doctype",
    "endless-text": "too-large", "huge-stanza": "too-large",
    "slow-drip": "read-timeout", "invalid-utf8": "malformed-xml",
    "stream-error": "stream-error", "mid-stanza-close": "closed",
    "tls-stall": "tls-timeout", "endless-items": "ok", "normal-ish": "ok",
}
checked = 0
for name, d in truth["domains"].items():
    kind = d["kind"]
    want = {"nonexistent": "nxdomain", "down": "connect-refused"}.get(kind)
    if kind == "hostile":
        want = hostile_outcome.get(d.get("mode"))
    elif want is None:
        want = "ok"  # served, slow included: streams do not wait for disco
    for probe in ("direct-c2s", "direct-s2s"):
        got = {o["outcome"] for o in direct if o["domain"] == name and o["probe"] == probe
               and o["outcome"] != "no-service"}  # no _xmpps-client SRV
        if got != {want}:
            errors.append(f"{name} ({kind} {d.get('mode', '')}): {probe} outcomes {sorted(got)}, expected {want}")
        checked += 1
    if kind in ("prosody", "ejabberd", "slow"):
        c2s = [f for f in streams if f["domain"] == name and f["stream"] == "c2s"]
        s2s = [f for f in streams if f["domain"] == name and f["stream"] == "s2s"]
        if not c2s or not any(f["mechanisms"] for f in c2s):
            errors.append(f"{name}: no c2s stream features with SASL mechanisms stored")
        if not s2s or not any(f["dialback"] for f in s2s):
            errors.append(f"{name}: no s2s stream features with dialback stored")
print(f"direct: {checked} stream probes checked against the kind of their domain")

extra = sorted(set(entities) - expected)
if extra:
    errors.append(f"stored entities the truth does not list: {extra}")

print(f"served domains {served}, components {components}, unreachable {unreachable}, "
      f"entities stored {len(entities)}")
for e in errors:
    print("MISMATCH:", e)
if errors:
    sys.exit(1)
print("crawl_testnet: the stored crawl equals the truth file")
