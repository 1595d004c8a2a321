"""Runs every SQL query of the Grafana dashboards (dashboards/grafana/*.json)
against a real xcensus database loaded with the known dataset.

usage: grafana_sql.py CONNINFO PSQL DASHBOARD_DIR

For each panel target (and each query variable) with rawSql it
- substitutes Grafana's macros ($__timeFilter(col), $__timeFrom(), ...) with
  SQL over a fixed range that holds the whole dataset, and the dashboard's
  template variables with their defaults (a query variable with the first
  value its own query returns); a macro or variable it does not know fails;
- checks that the SQL reads only the view contract (v_* views and xc_*
  functions), never a base table;
- runs it read-only as written, then counts its rows: every panel must show
  something on the known dataset.
It also checks the datasource uid against the provisioning example, panel ids
unique, panels inside the 24-column grid and not overlapping, and that every
dashboard has panels. Exit 0 when all pass, 1 else.
"""
import json
import os
import re
import subprocess
import sys

import yaml

TIME_FROM = "'2000-01-01T00:00:00Z'::timestamptz"
TIME_TO = "'2100-01-01T00:00:00Z'::timestamptz"

conninfo, psql, dash_dir = sys.argv[1:4]
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


def split_args(s):
    """Splits a macro's argument list at top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def interval_sql(arg):
    m = re.fullmatch(r"'?(\d+)([smhdw])'?", arg.strip())
    if not m:
        raise ValueError(f"interval {arg!r}")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
    return f"interval '{m.group(1)} {unit}'"


def macro(name, args):
    if name == "timeFilter":
        return f"({args[0]} BETWEEN {TIME_FROM} AND {TIME_TO})"
    if name == "timeFrom":
        return TIME_FROM
    if name == "timeTo":
        return TIME_TO
    if name == "time":
        return f'{args[0]} AS "time"'
    if name == "timeEpoch":
        return f'extract(epoch FROM {args[0]}) AS "time"'
    if name in ("timeGroup", "timeGroupAlias"):
        expr = (f"to_timestamp(floor(extract(epoch FROM {args[0]}) / "
                f"extract(epoch FROM {interval_sql(args[1])})) * "
                f"extract(epoch FROM {interval_sql(args[1])}))")
        return expr + (' AS "time"' if name == "timeGroupAlias" else "")
    if name == "unixEpochFilter":
        return f"({args[0]} BETWEEN extract(epoch FROM {TIME_FROM}) AND extract(epoch FROM {TIME_TO}))"
    raise ValueError(f"unknown Grafana macro $__{name}")


MACRO = re.compile(r"\$__(\w+)")


def substitute(sql, variables):
    """Grafana's interpolation, for the macros and variables we use."""
    out, pos = "", 0
    while True:
        m = MACRO.search(sql, pos)
        if not m:
            break
        out += sql[pos:m.start()]
        end, args = m.end(), []
        if sql.startswith("(", end):
            depth, i = 0, end
            for i in range(end, len(sql)):
                depth += sql[i] == "("
                depth -= sql[i] == ")"
                if depth == 0:
                    break
            if depth != 0:
                raise ValueError(f"unbalanced parentheses after $__{m.group(1)}")
            args, end = split_args(sql[end + 1:i]), i + 1
        out += macro(m.group(1), args)
        pos = end
    out += sql[pos:]

    def repl_var(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in variables:
            raise ValueError(f"unknown template variable ${name}")
        return variables[name].replace("'", "''")
    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl_var, out)
    if "$" in out:
        raise ValueError("a $ is left after substitution")
    return out


def run(sql, what):
    """Runs sql read-only; returns stdout lines or None on failure."""
    env = dict(os.environ, PGOPTIONS="-c default_transaction_read_only=on -c statement_timeout=60000")
    r = subprocess.run([psql, "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        fail(f"{what}: {r.stderr.strip()}\n--- SQL ---\n{sql}")
        return None
    return r.stdout.splitlines()


RELATION = re.compile(r"\b(?:FROM|JOIN)\s+(?!\()([A-Za-z_][\w.]*)", re.I)


def check_contract(sql, what):
    rels = RELATION.findall(sql)
    if not rels:
        fail(f"{what}: reads no view")
    for r in rels:
        if not (r.startswith("v_") or r.startswith("xc_")):
            fail(f"{what}: reads {r}, not a v_* view or xc_* function of the contract")


def check_query(sql, variables, what):
    try:
        final = substitute(sql, variables)
    except ValueError as e:
        fail(f"{what}: {e}")
        return None
    check_contract(final, what)
    final = final.strip().rstrip(";")
    if run(final, what) is None:
        return None
    lines = run(f"SELECT count(*) FROM ({final}) AS grafana_panel", what)
    if lines is None:
        return None
    return int(lines[0])


def panels_of(d):
    for p in d.get("panels", []):
        yield p
        yield from p.get("panels", [])


prov = os.path.join(dash_dir, "provisioning", "datasources")
uids = set()
for f in sorted(os.listdir(prov)):
    if f.endswith((".yaml", ".yml")):
        with open(os.path.join(prov, f)) as fh:
            for ds in yaml.safe_load(fh).get("datasources", []):
                uids.add(ds["uid"])
if not uids:
    fail("no datasource in the provisioning example")

files = sorted(f for f in os.listdir(dash_dir) if f.endswith(".json"))
if not files:
    fail(f"no dashboard JSON in {dash_dir}")
total = 0
for f in files:
    with open(os.path.join(dash_dir, f)) as fh:
        dash = json.load(fh)
    # template variables: textboxes and constants by their default, query
    # variables by the first value of their own query
    variables = {}
    for v in dash.get("templating", {}).get("list", []):
        what = f"{f}: variable ${v['name']}"
        if v["type"] in ("textbox", "constant", "custom"):
            variables[v["name"]] = str(v.get("query", "")).split(",")[0]
        elif v["type"] == "query":
            q = v.get("definition") or v.get("query")
            q = q if isinstance(q, str) else q.get("rawSql", "")
            check_contract(q, what)
            rows = run(substitute(q, variables), what)
            if not rows:
                fail(f"{what}: its query returned no value")
                continue
            variables[v["name"]] = rows[0]
            print(f"ok: {what} = {rows[0]}")
        else:
            fail(f"{what}: variable type {v['type']} not handled by this test")
    ids = set()
    count = 0
    boxes = []
    for p in panels_of(dash):
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] < 0 or g["w"] < 1 \
                or g["h"] < 1 or g["x"] + g["w"] > 24:
            fail(f"{f}: panel {p.get('title')!r} has no valid gridPos ({g})")
        else:
            for q, h in boxes:
                if g["x"] < h["x"] + h["w"] and h["x"] < g["x"] + g["w"] \
                        and g["y"] < h["y"] + h["h"] and h["y"] < g["y"] + g["h"]:
                    fail(f"{f}: panels {q!r} and {p.get('title')!r} overlap")
            boxes.append((p.get("title"), g))
        if p["id"] in ids:
            fail(f"{f}: panel id {p['id']} twice")
        ids.add(p["id"])
        if p["type"] == "row":
            continue
        ds = p.get("datasource") or {}
        if ds.get("uid") not in uids:
            fail(f"{f}: panel {p['title']!r} uses datasource {ds.get('uid')!r}, not one provisioned ({sorted(uids)})")
        targets = [t for t in p.get("targets", []) if t.get("rawSql")]
        if not targets:
            fail(f"{f}: panel {p['title']!r} has no SQL")
        for t in targets:
            what = f"{f}: panel {p['title']!r} target {t.get('refId')}"
            n = check_query(t["rawSql"], variables, what)
            count += 1
            if n is None:
                continue
            if n == 0:
                fail(f"{what}: no rows on the known dataset")
            else:
                print(f"ok: {what}: {n} rows")
    if count == 0:
        fail(f"{f}: no panel with SQL")
    total += count

if failures:
    print(f"grafana_sql: {len(failures)} failure(s) in {total} queries", file=sys.stderr)
    sys.exit(1)
print(f"grafana_sql: {total} queries of {len(files)} dashboard(s) ran on the known dataset")
