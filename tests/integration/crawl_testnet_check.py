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
