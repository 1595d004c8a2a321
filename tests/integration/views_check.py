#!/usr/bin/env python3
"""Checks every entry of the query catalog (`xcensus query NAME ...`) on the
known dataset (tests/data/api_fixture.sql + the capsdb import).

Expected values are the numbers the fixture was written to produce (see its
header) or, where they come from capsdb, independent SQL over the base
tables (never over the views under test). Also: every entry runs in every
format, pages concatenate to the whole result, bad arguments exit 2 with a
message, argument values never become SQL. Environment: XCENSUS, XC_DB
(conninfo), XC_PSQL, XC_TEST_LOGDIR.
"""
import csv
import io
import json
import os
import subprocess
import sys

XCENSUS = os.environ["XCENSUS"]
DB = os.environ["XC_DB"]
PSQL = os.environ.get("XC_PSQL", "psql")
failures = []
checked = set()


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def eq(what, expected, actual):
    if expected != actual:
        fail("%s: expected %r, got %r" % (what, expected, actual))
    else:
        print("ok: %s = %r" % (what, actual))


def run(*args):
    p = subprocess.run([XCENSUS, "query", "-d", DB] + list(args),
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def q(name, *args, fmt="json"):
    """Rows of a catalog entry as a list of dicts (JSON output)."""
    checked.add(name)
    rc, out, err = run("-f", fmt, name, *args)
    if rc != 0:
        fail("query %s %s: exit %d: %s" % (name, " ".join(args), rc, err.strip()))
        return []
    return json.loads(out) if fmt == "json" else out


def sql(text):
    """One value (or several lines) of independent SQL."""
    p = subprocess.run([PSQL, "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-d", DB, "-c", text],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise SystemExit("psql failed: %s\n%s" % (text, p.stderr))
    return p.stdout.strip()


def sqlint(text):
    return int(sql(text))


def by(rows, *keys):
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


def pick(row, *cols):
    return tuple(row[c] for c in cols)


def feature_clients(var, without=None):
    """caps entries whose disco#info lists var (and not without)."""
    cond = ""
    if without:
        cond = " AND NOT c.feature_ids @> ARRAY[(SELECT id FROM features WHERE var = '%s')]" % without
    return sqlint("SELECT count(*) FROM caps_entries e JOIN disco_contents c ON c.id = e.content_id "
                  "WHERE c.feature_ids @> ARRAY[(SELECT id FROM features WHERE var = '%s')]%s"
                  % (var, cond))


# ---------------------------------------------------------------------------
# overview
rows = q("overview")
eq("overview rows", 1, len(rows))
o = rows[0] if rows else {}
eq("overview", {
    "domains": 8, "domains_crawled": 6, "servers_answering": 5, "components": 5, "rooms": 3,
    "caps_hashes": sqlint("SELECT count(*) FROM caps_entries"),
    "caps_observations": 1611 + (5 + 2 + 3) + (6 + 1 + 4 + 2 + 2),
    "client_software": sqlint("SELECT count(DISTINCT node) FROM caps_entry_nodes"),
    "features": sqlint("SELECT count(*) FROM features"),
    "crawl_runs": 4,
    "last_crawl": "2026-03-16T09:00:00+00:00",
    "last_analysis": "2026-03-15T12:00:00+00:00"}, o)

# ---------------------------------------------------------------------------
# software
rows = q("server_software")
eq("server_software", {("Prosody", 2, 2, 40.0), ("ejabberd", 2, 2, 40.0), ("Openfire", 1, 1, 20.0)},
   {pick(r, "software", "servers", "versions", "percent") for r in rows})
eq("server_software order", [2, 2, 1], [r["servers"] for r in rows])

rows = q("server_versions")
eq("server_versions", {("Prosody", "0.12.4"), ("Prosody", "13.0.0"), ("ejabberd", "23.10"),
                       ("ejabberd", "24.02"), ("Openfire", "4.7.5")},
   {pick(r, "software", "version") for r in rows})
eq("server_versions counts", {(1, 20.0)}, {pick(r, "servers", "percent") for r in rows})
rows = q("server_versions", "software=Prosody")
eq("server_versions software=Prosody", {"0.12.4", "13.0.0"}, {r["version"] for r in rows})

rows = by(q("server_features"), "feature")
eq("server_features mam:1", (5, 100.0), pick(rows.get("urn:xmpp:mam:1", {"servers": 0, "percent": 0}), "servers", "percent"))
eq("server_features privacy", 3, rows.get("jabber:iq:privacy", {}).get("servers"))
eq("server_features blocking", 4, rows.get("urn:xmpp:blocking", {}).get("servers"))

rows = q("component_software")
eq("component_software", {("conference", "text", "Prosody", 1), ("conference", "text", "ejabberd", 1),
                          ("store", "file", "(no answer)", 1), ("pubsub", "service", "ejabberd", 1),
                          ("proxy", "bytestreams", "Prosody", 1)},
   {pick(r, "category", "type", "software", "components") for r in rows})

rows = by(q("client_software"), "node")
total_obs = o.get("caps_observations", 1)
for node, extra in (("http://gajim.org", 5 + 2 + 6 + 1), ("http://conversations.im", 3 + 4 + 2),
                    ("http://tkabber.jabber.ru/", 2)):
    hashes = sqlint("SELECT count(*) FROM caps_entry_nodes WHERE node = '%s'" % node)
    base = sqlint("SELECT coalesce(sum(count), 0) FROM caps_observations o JOIN sources s "
                  "ON s.id = o.source_id WHERE s.name = 'capsdb' AND node = '%s'" % node)
    r = rows.get(node, {})
    eq("client_software %s hashes" % node, hashes, r.get("hashes"))
    eq("client_software %s observations" % node, base + extra, r.get("observations"))
    eq("client_software %s share" % node, round(100.0 * (base + extra) / total_obs, 1), r.get("share"))
eq("client_software Tkabber name", "Tkabber", rows.get("http://tkabber.jabber.ru/", {}).get("software"))
eq("client_software gajim name", "http://gajim.org", rows.get("http://gajim.org", {}).get("software"))
eq("client_software with_xep0232 tkabber",
   sqlint("SELECT count(*) FROM caps_entry_nodes n JOIN caps_entries e ON e.id = n.entry_id "
          "WHERE n.node = 'http://tkabber.jabber.ru/' AND e.has_softinfo"),
   rows.get("http://tkabber.jabber.ru/", {}).get("with_xep0232"))
eq("client_software rows", sqlint("SELECT count(DISTINCT node) FROM caps_entry_nodes"), len(rows))

# ---------------------------------------------------------------------------
# features over time, features, namespace versions
rows = q("feature_adoption", "feature=urn:xmpp:mam")
got = {(r["feature"], r["day"]): pick(r, "servers", "servers_total", "percent", "entities") for r in rows}
want = {
    ("urn:xmpp:mam:0", "2026-03-01"): (3, 4, 75.0, 3),
    ("urn:xmpp:mam:0", "2026-03-08"): (4, 5, 80.0, 4),
    ("urn:xmpp:mam:0", "2026-03-15"): (3, 5, 60.0, 3),
    ("urn:xmpp:mam:1", "2026-03-01"): (3, 4, 75.0, 4),
    ("urn:xmpp:mam:1", "2026-03-08"): (4, 5, 80.0, 5),
    ("urn:xmpp:mam:1", "2026-03-15"): (5, 5, 100.0, 6),
    ("urn:xmpp:mam:2", "2026-03-01"): (1, 4, 25.0, 3),
    ("urn:xmpp:mam:2", "2026-03-08"): (2, 5, 40.0, 4),
    ("urn:xmpp:mam:2", "2026-03-15"): (4, 5, 80.0, 6),
    ("urn:xmpp:mam:2#extended", "2026-03-01"): (1, 4, 25.0, 1),
    ("urn:xmpp:mam:2#extended", "2026-03-08"): (1, 5, 20.0, 1),
    ("urn:xmpp:mam:2#extended", "2026-03-15"): (1, 5, 20.0, 1),
}
eq("feature_adoption mam", want, got)
eq("feature_adoption order", sorted(got), [(r["feature"], r["day"]) for r in rows])
rows = q("feature_adoption", "feature=urn:xmpp:mam", "since=2026-03-08")
eq("feature_adoption since", 8, len(rows))
rows = q("feature_adoption", "feature=no-such-feature-anywhere")
eq("feature_adoption unknown feature", [], rows)

rows = by(q("features", "q=urn:xmpp:mam:"), "feature")
for var, srv, comp in (("urn:xmpp:mam:0", 3, 0), ("urn:xmpp:mam:1", 5, 1), ("urn:xmpp:mam:2", 4, 2),
                       ("urn:xmpp:mam:2#extended", 1, 0)):
    cl = feature_clients(var)
    r = rows.get(var, {})
    eq("features %s" % var, (srv, comp, cl, srv + comp + cl),
       (r.get("servers"), r.get("components"), r.get("clients"), r.get("total")))
eq("features q filter", True, all("urn:xmpp:mam:" in f for f in rows))

rows = by(q("namespace_versions", "base=urn:xmpp:mam"), "version")
eq("namespace_versions versions", [0, 1, 2], sorted(rows))
for v, srv, srv_only, comp, comp_only in ((0, 3, 0, 0, 0), (1, 5, 1, 1, 0), (2, 4, 0, 2, 1)):
    var = "urn:xmpp:mam:%d" % v
    others = [("urn:xmpp:mam:%d" % w) for w in (0, 1, 2) if w != v]
    only = sqlint("SELECT count(*) FROM caps_entries e JOIN disco_contents c ON c.id = e.content_id "
                  "WHERE c.feature_ids @> ARRAY[(SELECT id FROM features WHERE var = '%s')] "
                  "AND NOT c.feature_ids && ARRAY(SELECT id FROM features WHERE var ~ '^urn:xmpp:mam:[0-9]+$' "
                  "AND var <> '%s')" % (var, var))
    r = rows.get(v, {})
    eq("namespace_versions %s" % var,
       (var, srv, srv_only, comp, comp_only, feature_clients(var), only),
       pick(r, "namespace", "servers", "servers_only", "components", "components_only",
            "clients", "clients_only") if r else None)
eq("namespace_versions base", {"urn:xmpp:mam"}, {r["base"] for r in rows.values()})

# ---------------------------------------------------------------------------
# deprecation and drop impact
rows = q("deprecation", "old=jabber:iq:privacy", "new=urn:xmpp:blocking")
srv = {r["software"]: pick(r, "old_only", "old_and_new", "old_total") for r in rows if r["kind"] == "server"}
eq("deprecation servers", {"Openfire": (1, 0, 1), "Prosody": (0, 2, 2)}, srv)
eq("deprecation clients old_only",
   feature_clients("jabber:iq:privacy", without="urn:xmpp:blocking"),
   sum(r["old_only"] for r in rows if r["kind"] == "client"))
eq("deprecation clients total", feature_clients("jabber:iq:privacy"),
   sum(r["old_total"] for r in rows if r["kind"] == "client"))
eq("deprecation order", sorted((r["old_only"] for r in rows), reverse=True), [r["old_only"] for r in rows])
rows = q("deprecation", "old=no:such:feature", "new=urn:xmpp:blocking")
eq("deprecation unknown old", [], rows)

rows = q("drop_impact", "feature=urn:xmpp:mam:1")
got = {(r["kind"], r["software"]): pick(r, "advertising", "only_this") for r in rows if r["kind"] != "client"}
eq("drop_impact mam:1", {("server", "Openfire"): (1, 1), ("server", "Prosody"): (2, 0),
                         ("server", "ejabberd"): (2, 0), ("component", "ejabberd"): (1, 0)}, got)
eq("drop_impact mam:1 clients", feature_clients("urn:xmpp:mam:1"),
   sum(r["advertising"] for r in rows if r["kind"] == "client"))
rows = q("drop_impact", "feature=urn:xmpp:mam:2")
got = {(r["kind"], r["software"]): pick(r, "advertising", "only_this") for r in rows if r["kind"] != "client"}
eq("drop_impact mam:2", {("server", "Prosody"): (2, 0), ("server", "ejabberd"): (2, 0),
                         ("component", "Prosody"): (1, 1), ("component", "ejabberd"): (1, 0)}, got)
rows = q("drop_impact", "feature=urn:xmpp:blocking")  # unversioned: every entity "only"
eq("drop_impact unversioned", True, all(r["advertising"] == r["only_this"] for r in rows) and len(rows) > 0)

# ---------------------------------------------------------------------------
# caps and analyses
rows = by(q("caps_stats"), "source")
eq("caps_stats sources", {"capsdb", "census-2026-03-08", "census-2026-03-15"}, set(rows))
eq("caps_stats capsdb", (sqlint("SELECT count(*) FROM caps_entries"),
                         sqlint("SELECT count(DISTINCT node) FROM caps_entry_nodes"),
                         sqlint("SELECT count(*) FROM caps_entries WHERE has_softinfo"), 1611, 0),
   pick(rows.get("capsdb", {}), "entries", "nodes", "with_xep0232", "observations", "services")
   if "capsdb" in rows else None)
eq("caps_stats day 2", (3, 2, 0, 10, 1),
   pick(rows.get("census-2026-03-08", {}), "entries", "nodes", "with_xep0232", "observations", "services")
   if "census-2026-03-08" in rows else None)
eq("caps_stats day 3", (5, 3, 1, 15, 1),
   pick(rows.get("census-2026-03-15", {}), "entries", "nodes", "with_xep0232", "observations", "services")
   if "census-2026-03-15" in rows else None)

runs = q("analysis_runs")
eq("analysis_runs count", 2, len(runs))
latest_id = sqlint("SELECT id FROM analysis_runs ORDER BY created_at DESC LIMIT 1")
older_id = sqlint("SELECT id FROM analysis_runs ORDER BY created_at LIMIT 1")
eq("analysis_runs order", [latest_id, older_id], [r["id"] for r in runs])
eq("analysis_runs latest", (["capsdb"], 20000, sqlint(
    "SELECT (results->'dataset'->>'entries')::int FROM analysis_runs WHERE id = %d" % latest_id),
    sqlint("SELECT (results->'xep0232'->>'entries_without')::int FROM analysis_runs WHERE id = %d" % latest_id)),
   pick(runs[0], "sources", "presences", "entries", "entries_without_xep0232") if runs else None)


def caches(run_id):
    return json.loads(sql("SELECT results->'hit_rate'->'caches' FROM analysis_runs WHERE id = %d" % run_id))


def results(run_id):
    return json.loads(sql("SELECT results FROM analysis_runs WHERE id = %d" % run_id))


for args, rid in (((), latest_id), (("run=%d" % older_id,), older_id)):
    rows = q("analysis_latest", *args)
    res = results(rid)
    c = res["hit_rate"]["caches"]
    eq("analysis_latest rows run %d" % rid, 2 + 2 * len(c) + len(res["pep"]["per_1000_logins"]), len(rows))
    eq("analysis_latest run column", {rid}, {r["run"] for r in rows})
    first = rows[0] if rows else {}
    eq("analysis_latest entries run %d" % rid,
       (1, res["xep0232"]["entries_with"], res["xep0232"]["entries_without"], "entries"),
       pick(first, "pos", "with_xep0232", "without_xep0232", "unit") if first else None)
    hr = {r["metric"]: r for r in rows}
    for k in c:
        m = hr.get("hit rate: " + k["cache"], {})
        eq("analysis_latest hit rate %s run %d" % (k["cache"], rid),
           (round(k["with_xep0232"]["hit_rate"], 4), round(k["without_xep0232"]["hit_rate"], 4)),
           pick(m, "with_xep0232", "without_xep0232") if m else None)
    eq("analysis_latest order", sorted(r["pos"] for r in rows), [r["pos"] for r in rows])

    rows = q("hit_rates", *args)
    eq("hit_rates rows run %d" % rid, len(c), len(rows))
    for k, r in zip(c, rows):
        eq("hit_rates %s run %d" % (k["cache"], rid),
           (k["cache"], k["capacity"], k["ttl_s"], res["hit_rate"]["presences"],
            round(k["with_xep0232"]["hit_rate"], 4), round(k["without_xep0232"]["hit_rate"], 4),
            round(k["with_xep0232"]["queries_per_1000"], 2), round(k["without_xep0232"]["queries_per_1000"], 2),
            k["with_xep0232"]["peak_entries"], k["without_xep0232"]["peak_entries"]),
           pick(r, "cache", "capacity", "ttl_s", "presences", "hit_rate_with", "hit_rate_without",
                "queries_per_1000_with", "queries_per_1000_without", "peak_entries_with",
                "peak_entries_without"))
eq("hit_rates unknown run", [], q("hit_rates", "run=999999"))

# ---------------------------------------------------------------------------
# crawl health and probe outcomes
rows = by(q("crawl_health"), "crawl")
cols = ("runs", "last_run_state", "queued", "leased", "done", "failed", "cancelled", "retrying",
        "expired_leases", "oldest_lease_expires", "last_completion", "outcomes_1h", "ok_1h",
        "outcomes_24h", "ok_24h")
eq("crawl_health census", (3, "finished", 0, 0, 5, 1, 1, 0, 0, None, "2026-03-15T10:30:00+00:00", 0, 0, 0, 0),
   pick(rows["census"], *cols) if "census" in rows else None)
eq("crawl_health recheck", (1, "running", 2, 1, 0, 0, 0, 1, 0, "2099-01-01T00:00:00+00:00", None, 2, 1, 3, 2),
   pick(rows["recheck"], *cols) if "recheck" in rows else None)
eq("crawl_health rate", 0.03, rows.get("recheck", {}).get("outcomes_per_min"))

rows = {(r["probe"], r["outcome"]): pick(r, "class", "outcomes", "percent") for r in q("probe_outcomes")}
eq("probe_outcomes", {
    ("disco-info", "ok"): ("ok", 21, 84.0), ("disco-info", "timeout"): ("timeout", 4, 16.0),
    ("disco-items", "ok"): ("ok", 14, 100.0),
    ("version", "ok"): ("ok", 12, 85.7), ("version", "iq-error"): ("error-reply", 2, 14.3),
    ("direct-c2s", "ok"): ("ok", 5, 83.3), ("direct-c2s", "connect-timeout"): ("timeout", 1, 16.7),
    ("direct-s2s", "ok"): ("ok", 1, 50.0), ("direct-s2s", "nxdomain"): ("dns", 1, 50.0)}, rows)
eq("probe_outcomes total", sqlint("SELECT count(*) FROM probe_outcomes"), sum(v[1] for v in rows.values()))
rows = {(r["probe"], r["outcome"]): r["outcomes"] for r in q("probe_outcomes", "source=census-2026-03-15")}
eq("probe_outcomes day 3", {("disco-info", "ok"): 10, ("disco-info", "timeout"): 1, ("disco-items", "ok"): 5,
                            ("version", "ok"): 4, ("version", "iq-error"): 1, ("direct-c2s", "ok"): 5,
                            ("direct-c2s", "connect-timeout"): 1, ("direct-s2s", "ok"): 1,
                            ("direct-s2s", "nxdomain"): 1}, rows)
eq("probe_outcomes unknown source", [], q("probe_outcomes", "source=nope"))

# ---------------------------------------------------------------------------
# domains and the per-domain diagnosis
rows = q("domains")
st = {r["domain"]: r["state"] for r in rows}
eq("domains states", {"alpha.example": "queued", "beta.example": "leased", "gamma.example": "done",
                      "delta.example": "done", "epsilon.example": "done", "zeta.example": "queued",
                      "eta.example": "opted-out", "theta.example": "denied"}, st)
if sql("SHOW lc_collate") in ("C", "POSIX", "C.UTF-8"):
    eq("domains order", sorted(st), [r["domain"] for r in rows])
d = by(rows, "domain")
eq("domains gamma", ("2026-03-15T10:01:00+00:00", "2026-03-15T10:01:00+00:00", "2026-03-22T10:00:00+00:00"),
   pick(d["gamma.example"], "last_crawl", "last_success", "next_crawl"))
eq("domains zeta never succeeded", None, d["zeta.example"]["last_success"])
eq("domains theta never crawled", (None, True), pick(d["theta.example"], "last_crawl", "denied"))
eq("domains q=eta", {"beta.example", "eta.example", "zeta.example", "theta.example"}, {r["domain"] for r in q("domains", "q=eta")})
eq("domains state=done", {"gamma.example", "delta.example", "epsilon.example"},
   {r["domain"] for r in q("domains", "state=done")})

rows = q("domain", "domain=alpha.example")
eq("domain alpha rows", 1, len(rows))
a = rows[0] if rows else {}
eq("domain alpha", ("alpha.example", "queued", False, False, "Prosody", "0.12.4", 5, 12, 3, 4, 9, 4, 2, 2, 14),
   pick(a, "domain", "state", "opt_out", "denied", "server_software", "server_version", "entities",
        "features", "identities", "versions", "disco_snapshots", "stream_features", "tls_facts",
        "srv_records", "probe_outcomes") if a else None)
eq("domain alpha probes", {"disco-info", "disco-items", "version", "direct-c2s", "direct-s2s"},
   set(a.get("probes", {})))
eq("domain alpha direct-s2s", ("ok", "ok"), pick(a["probes"]["direct-s2s"], "outcome", "class") if a else None)
rows = q("domain", "domain=delta.example")
eq("domain delta version probe", ("iq-error", "error-reply", "service-unavailable", "Openfire"),
   (rows[0]["probes"]["version"]["outcome"], rows[0]["probes"]["version"]["class"],
    rows[0]["probes"]["version"]["condition"], rows[0]["server_software"]) if rows else None)
rows = q("domain", "domain=eta.example")
eq("domain eta", ("opted-out", True, "2026-03-05T12:00:00+00:00", "operator asked by mail", {}, 0),
   pick(rows[0], "state", "opt_out", "opt_out_at", "opt_out_reason", "probes", "entities") if rows else None)
eq("domain unknown", [], q("domain", "domain=nope.example"))

rows = q("domain_probes", "domain=zeta.example")
eq("domain_probes zeta", [("direct-c2s", "connect-timeout", "timeout", "census-2026-03-15"),
                          ("direct-s2s", "nxdomain", "dns", "census-2026-03-15"),
                          ("disco-info", "timeout", "timeout", "recheck-1")],
   [pick(r, "probe", "outcome", "class", "source") for r in rows])

# ---------------------------------------------------------------------------
# every entry is checked above, and runs in every format
rc, out, err = run("--list")
eq("--list exit", 0, rc)
listed = [line.split()[0] for line in out.splitlines() if line[:1].isalpha() and not line.startswith("v_")]
missing = sorted(set(listed) - checked)
eq("catalog entries without a check", [], missing)
sample_args = {"deprecation": ["old=jabber:iq:privacy", "new=urn:xmpp:blocking"],
               "drop_impact": ["feature=urn:xmpp:mam:1"], "domain": ["domain=alpha.example"],
               "domain_probes": ["domain=alpha.example"]}
for name in listed:
    n_json = len(q(name, *sample_args.get(name, [])))
    text = q(name, *sample_args.get(name, []), fmt="csv")
    n_csv = len(list(csv.reader(io.StringIO(text)))) - 1
    table = q(name, *sample_args.get(name, []), fmt="table")
    footer = table.strip().splitlines()[-1] if table.strip() else ""
    if n_csv != n_json or footer != "(%d row%s)" % (n_json, "" if n_json == 1 else "s"):
        fail("%s: json %d rows, csv %d, table footer %r" % (name, n_json, n_csv, footer))
print("ok: %d entries in json, csv and table" % len(listed))

# ---------------------------------------------------------------------------
# pagination: pages of 7 concatenate to the whole result, with a note while
# more rows follow
whole = q("features")
pages, off = [], 0
while True:
    rc, out, err = run("-f", "json", "-n", "7", "--offset", str(off), "features")
    page = json.loads(out) if rc == 0 else []
    if rc != 0:
        fail("features page at %d: exit %d" % (off, rc))
        break
    pages += page
    more = "next page: --offset %d" % (off + 7) in err
    if more != (off + 7 < len(whole)):
        fail("features page at %d: more-rows note %r with %d rows in all" % (off, err.strip(), len(whole)))
    if not more:
        break
    off += 7
eq("features pages == whole", whole, pages)
eq("features has many rows", True, len(whole) > 100)

# ---------------------------------------------------------------------------
# bad arguments: exit 2 and a message naming the problem
for args, msg in (
        (["deprecation", "old=jabber:iq:privacy"], "missing argument new"),
        (["drop_impact"], "missing argument feature"),
        (["domain", "domain=a", "domain=b"], "argument domain given twice"),
        (["features", "nope=1"], "unknown argument nope"),
        (["features", "justaword"], "is not ARG=VALUE"),
        (["features", "=x"], "is not ARG=VALUE"),
        (["hit_rates", "run=12x"], "run must be an integer"),
        (["feature_adoption", "since=2026-02-30"], "since must be a date YYYY-MM-DD"),
        (["-n", "0", "features"], "limit must be an integer between 1 and 10000"),
        (["-n", "10001", "features"], "limit must be an integer between 1 and 10000"),
        (["--offset", "-1", "features"], "offset must be an integer between 0 and"),
        (["--offset", "x", "features"], "offset must be an integer between 0 and"),
        (["features", "q=\udcff"], "q must be valid UTF-8 text"),
        (["no_such_entry"], "unrecognized name"),
        (["v_caps_summary", "x=1"], "takes no arguments"),
        (["v_no_such_view"], "unrecognized view"),
        (["-f", "xml", "overview"], "unrecognized format")):
    try:
        p = subprocess.run([XCENSUS, "query", "-d", DB] + args, capture_output=True, timeout=60,
                           env=dict(os.environ, LC_ALL="C.UTF-8"))
        rc, err = p.returncode, p.stderr.decode("utf-8", "replace")
    except UnicodeEncodeError:  # the lone surrogate: pass raw bytes
        p = subprocess.run([XCENSUS.encode(), b"query", b"-d", DB.encode(), b"features", b"q=\xff"],
                           capture_output=True, timeout=60)
        rc, err = p.returncode, p.stderr.decode("utf-8", "replace")
    if rc != 2 or msg not in err:
        fail("query %r: expected exit 2 with %r, got %d: %r" % (args, msg, rc, err.strip()))
    else:
        print("ok: query %s -> 2 (%s)" % (" ".join(a.encode("utf-8", "replace").decode() for a in args), msg))

# values never become SQL
rows = q("features", "q=x'; DROP TABLE sources; --")
eq("injection attempt returns nothing", [], rows)
eq("sources table intact", 5, sqlint("SELECT count(*) FROM sources"))

# ---------------------------------------------------------------------------
# rollups (sql/0030: kept by triggers) equal a recomputation from the base
# tables, after the fixture's INSERTs and COPY, and again after writes the
# way the crawler's writer and the capsdb importer make them (newer and
# older snapshots, a newer version, ON CONFLICT DO UPDATE of caps counts,
# COPY of probe outcomes)
RECOMPUTE = {
    "entity_disco_latest": """
        SELECT DISTINCT ON (s.entity_id) s.entity_id, e.kind, s.content_id, s.id, s.source_id,
               s.observed_at
        FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id
        ORDER BY s.entity_id, s.observed_at DESC, s.id DESC""",
    "entity_version_latest": """
        SELECT DISTINCT ON (entity_id) entity_id, name, version, os, id, observed_at
        FROM software_versions ORDER BY entity_id, observed_at DESC, id DESC""",
    "latest_content_counts": """
        SELECT s.content_id, e.kind, count(*)
        FROM (SELECT DISTINCT ON (entity_id) entity_id, content_id FROM disco_snapshots
              ORDER BY entity_id, observed_at DESC, id DESC) s
        JOIN entities e ON e.id = s.entity_id GROUP BY 1, 2""",
    "latest_feature_counts": """
        SELECT u.fid, e.kind, count(*)
        FROM (SELECT DISTINCT ON (entity_id) entity_id, content_id FROM disco_snapshots
              ORDER BY entity_id, observed_at DESC, id DESC) s
        JOIN entities e ON e.id = s.entity_id
        JOIN disco_contents c ON c.id = s.content_id
        CROSS JOIN LATERAL unnest(c.feature_ids) AS u(fid) GROUP BY 1, 2""",
    "disco_daily": """
        SELECT (s.observed_at AT TIME ZONE 'UTC')::date, e.kind, count(*)
        FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id GROUP BY 1, 2""",
    "disco_feature_daily": """
        SELECT (s.observed_at AT TIME ZONE 'UTC')::date, e.kind, u.fid, count(*)
        FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id
        JOIN disco_contents c ON c.id = s.content_id
        CROSS JOIN LATERAL unnest(c.feature_ids) AS u(fid) GROUP BY 1, 2, 3""",
    "probe_outcome_counts": """
        SELECT source_id, probe, outcome, count(*), max(observed_at)
        FROM probe_outcomes GROUP BY 1, 2, 3""",
    "caps_source_keys": """
        SELECT source_id, algo, ver, node, sum(count), min(first_seen), max(last_seen)
        FROM caps_observations GROUP BY 1, 2, 3, 4""",
    "caps_source_services": """
        SELECT DISTINCT source_id, coalesce(service_id, 0) FROM caps_observations""",
}
# each rollup as a reader sees it (counters summed over their shards)
ROLLUP = {
    "entity_disco_latest": "SELECT entity_id, kind, content_id, snapshot_id, source_id, disco_at "
                           "FROM entity_disco_latest",
    "entity_version_latest": "SELECT entity_id, software, version, os, version_id, version_at "
                             "FROM entity_version_latest",
    "latest_content_counts": "SELECT content_id, kind, sum(entities) FROM latest_content_counts "
                             "GROUP BY 1, 2 HAVING sum(entities) <> 0",
    "latest_feature_counts": "SELECT feature_id, kind, sum(entities) FROM latest_feature_counts "
                             "GROUP BY 1, 2 HAVING sum(entities) <> 0",
    "disco_daily": "SELECT day, kind, sum(snapshots) FROM disco_daily GROUP BY 1, 2",
    "disco_feature_daily": "SELECT day, kind, feature_id, sum(snapshots) FROM disco_feature_daily "
                           "GROUP BY 1, 2, 3",
    "probe_outcome_counts": "SELECT source_id, probe, outcome, sum(outcomes), max(last_seen) "
                            "FROM probe_outcome_counts GROUP BY 1, 2, 3",
    "caps_source_keys": "SELECT source_id, algo, ver, node, sum(observations), min(first_seen), "
                        "max(last_seen) FROM caps_source_keys GROUP BY 1, 2, 3, 4",
    "caps_source_services": "SELECT source_id, service_id FROM caps_source_services",
}


def rollups_consistent(when):
    for t, r in RECOMPUTE.items():
        n = sqlint("SELECT count(*) FROM ((SELECT * FROM (%s) a EXCEPT ALL SELECT * FROM (%s) b) "
                   "UNION ALL (SELECT * FROM (%s) c EXCEPT ALL SELECT * FROM (%s) d)) x"
                   % (r, ROLLUP[t], ROLLUP[t], r))
        rows = sqlint("SELECT count(*) FROM %s" % t)
        if n != 0 or rows == 0:
            fail("rollup %s %s: %d rows differ from a recomputation (%d rows)" % (t, when, n, rows))
        else:
            print("ok: rollup %s %s (%d rows)" % (t, when, rows))


rollups_consistent("after the fixture")
sql("""
INSERT INTO disco_snapshots (source_id, entity_id, content_id, observed_at)
SELECT (SELECT id FROM sources WHERE name = 'recheck-1'), e.id,
       (SELECT content_id FROM disco_snapshots s JOIN entities b ON b.id = s.entity_id
        WHERE b.address = 'beta.example' ORDER BY s.observed_at DESC LIMIT 1), t::timestamptz
FROM entities e, (VALUES ('alpha.example', '2026-03-16 09:30:00+00'),
                         ('delta.example', '2026-02-01 00:00:00+00')) v(a, t)
WHERE e.address = v.a;
INSERT INTO software_versions (source_id, entity_id, name, version, observed_at)
SELECT (SELECT id FROM sources WHERE name = 'recheck-1'), id, 'Prosody', '13.0.1',
       '2026-03-16 09:31:00+00' FROM entities WHERE address = 'gamma.example';
INSERT INTO caps_observations AS o (source_id, service_id, algo, ver, node, count, first_seen, last_seen)
SELECT source_id, service_id, algo, ver, node, 3, '2026-03-15 11:00:00+00'::timestamptz,
       '2026-03-15 11:00:00+00'::timestamptz
FROM caps_observations WHERE node = 'http://gajim.org' AND service_id IS NOT NULL
UNION
SELECT (SELECT id FROM sources WHERE name = 'recheck-1'), NULL, algo, ver, node, 1,
       '2026-03-16 09:00:00+00', '2026-03-16 09:00:00+00'
FROM caps_observations WHERE node = 'http://conversations.im' AND service_id IS NOT NULL
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (source_id, service_id, algo, ver, node) DO UPDATE
SET count = o.count + EXCLUDED.count, first_seen = least(o.first_seen, EXCLUDED.first_seen),
    last_seen = greatest(o.last_seen, EXCLUDED.last_seen);
""")
p = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB, "-c",
                    "COPY probe_outcomes (source_id, domain_id, probe, outcome, observed_at) FROM STDIN"],
                   input="%s\t%s\tdisco-info\tok\t2026-03-16 09:40:00+00\n%s\t%s\tdirect-c2s\ttls-failed\t"
                         "2026-03-16 09:41:00+00\n" % (
                             sql("SELECT id FROM sources WHERE name = 'recheck-1'"),
                             sql("SELECT id FROM domains WHERE name = 'gamma.example'"),
                             sql("SELECT id FROM sources WHERE name = 'recheck-1'"),
                             sql("SELECT id FROM domains WHERE name = 'gamma.example'")),
                   capture_output=True, text=True, timeout=60)
eq("COPY into probe_outcomes", 0, p.returncode)
rollups_consistent("after later writes")
rows = by(q("server_versions"), "software", "version")
eq("server_versions after a newer version", True, ("Prosody", "13.0.1") in rows and ("Prosody", "13.0.0") not in rows)
rows = by(q("server_features"), "feature")
eq("server_features after alpha's newer snapshot (beta's features)", 2,
   rows.get("jabber:iq:privacy", {}).get("servers"))
rows = {(r["probe"], r["outcome"]): r["outcomes"] for r in q("probe_outcomes", "source=recheck-1")}
eq("probe_outcomes after COPY", {("disco-info", "ok"): 3, ("disco-info", "timeout"): 1,
                                 ("direct-c2s", "tls-failed"): 1}, rows)

# concurrent writers: four sessions, 15 transactions each, adding snapshots,
# versions, outcomes and caps counts on the same day, source and keys in
# opposite orders; no error (deadlock), rollups still equal a recomputation
WRITER = """
BEGIN;
INSERT INTO disco_snapshots (source_id, entity_id, content_id, observed_at)
SELECT (SELECT id FROM sources WHERE name = 'recheck-1'), s.entity_id, s.content_id,
       '2026-03-17 10:00:00+00'::timestamptz + make_interval(secs => %(i)d)
FROM (SELECT DISTINCT ON (entity_id) entity_id, content_id FROM disco_snapshots
      ORDER BY entity_id, observed_at) s ORDER BY s.entity_id %(dir)s;
INSERT INTO software_versions (source_id, entity_id, name, version, observed_at)
SELECT (SELECT id FROM sources WHERE name = 'recheck-1'), id, 'Prosody', '%(i)d',
       '2026-03-17 10:00:00+00'::timestamptz + make_interval(secs => %(i)d)
FROM entities WHERE kind = 'server' ORDER BY 2 %(dir)s;
INSERT INTO probe_outcomes (source_id, domain_id, probe, outcome, observed_at)
SELECT (SELECT id FROM sources WHERE name = 'recheck-1'), id, 'disco-info', 'ok', '2026-03-17 10:00:00+00'
FROM domains ORDER BY 2 %(dir)s;
INSERT INTO caps_observations AS o (source_id, service_id, algo, ver, node, count, first_seen, last_seen)
SELECT source_id, service_id, algo, ver, node, 1, '2026-03-17 10:00:00+00', '2026-03-17 10:00:00+00'
FROM caps_observations WHERE service_id IS NOT NULL AND source_id = (SELECT id FROM sources WHERE name = 'census-2026-03-15')
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (source_id, service_id, algo, ver, node) DO UPDATE SET count = o.count + EXCLUDED.count;
COMMIT;
"""
procs = []
for w in range(4):
    script = "".join(WRITER % {"i": w * 100 + t, "dir": "DESC" if w % 2 else "ASC"} for t in range(15))
    procs.append(subprocess.Popen([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True))
    procs[-1].stdin.write(script)
    procs[-1].stdin.close()
for k, pr in enumerate(procs):
    err = pr.stderr.read()
    pr.wait(timeout=300)
    eq("concurrent writer %d exit (%s)" % (k, err.strip()[:200]), 0, pr.returncode)
rollups_consistent("after concurrent writers")
eq("caps counts after concurrent writers", (15 + 2 * 3) + 4 * 15 * 5,
   sqlint("SELECT sum(count) FROM caps_observations o JOIN sources s ON s.id = o.source_id "
          "WHERE s.name = 'census-2026-03-15' AND o.service_id IS NOT NULL"))

# the migration's own fill of the rollups (what a database migrated with
# data already in it gets): empty them, run that part of sql/0030 again
src = open(os.path.join(os.environ["XC_SOURCE_DIR"], "sql", "0030_api_views.sql")).read()
start = src.index("-- what the tables already hold")
backfill = src[start:src.index("-- -----", start)]
sql("BEGIN; TRUNCATE entity_disco_latest, entity_version_latest, latest_content_counts, "
    "latest_feature_counts, disco_daily, disco_feature_daily, probe_outcome_counts, "
    "caps_source_keys, caps_source_services; " + backfill + " COMMIT;")
rollups_consistent("after the migration's fill")

if failures:
    print("%d check(s) failed" % len(failures), file=sys.stderr)
    sys.exit(1)
print("views: ok")
