#!/usr/bin/env bash
# xcensus analyze on the capsdb import: the figures it reports and stores
# agree with SQL over the same database, and the report files are written.
. "$(dirname "$0")/pg_lib.sh"

db=$(xc_newdb analyze_capsdb)
"$XCENSUS" migrate -d "$db" >"$XC_TEST_LOGDIR/migrate.log" 2>&1
"$XCENSUS" import capsdb "$XC_SOURCE_DIR/tests/data/capsdb/capsdb.jsonl" -d "$db" \
  >"$XC_TEST_LOGDIR/import.log" 2>&1
report="$XC_TEST_LOGDIR/report"
"$XCENSUS" analyze -d "$db" --source capsdb --report "$report" --presences 200000 \
  >"$XC_TEST_LOGDIR/analyze.log" 2>&1 || { cat "$XC_TEST_LOGDIR/analyze.log"; fail "analyze failed"; }

for f in report.md analysis.json hit_rates.csv sizes.csv xep0232_by_software.csv; do
  [ -s "$report/$f" ] || fail "report file $f missing"
done

# independent counts in SQL
entries=$(xc_psql -d "$db" -c "SELECT count(*) FROM caps_entries WHERE outcome IN ('valid','ill-formed') AND matched_by IS NOT NULL")
with_si=$(xc_psql -d "$db" -c "SELECT count(*) FROM caps_entries e JOIN disco_contents c ON c.id = e.content_id WHERE c.xml LIKE '%urn:xmpp:dataforms:softwareinfo%' AND e.matched_by IS NOT NULL")
stored=$(xc_psql -d "$db" -c "SELECT results->'dataset'->>'entries' FROM analysis_runs ORDER BY id DESC LIMIT 1")
stored_si=$(xc_psql -d "$db" -c "SELECT results->'dataset'->>'entries_with_xep0232' FROM analysis_runs ORDER BY id DESC LIMIT 1")
eav_rows=$(xc_psql -d "$db" -c "SELECT results->'sizes'->>'eav_rows' FROM analysis_runs ORDER BY id DESC LIMIT 1")
eav_sql=$(xc_psql -d "$db" -c "SELECT count(*) FROM caps_entries e JOIN caps_entry_nodes n ON n.entry_id = e.id JOIN v_content_features f ON f.content_id = e.content_id WHERE e.matched_by IS NOT NULL")
xc_expect_eq "entries (SQL)" 1567 "$entries"
xc_expect_eq "entries stored by analyze" "$entries" "$stored"
xc_expect_eq "entries with XEP-0232" "$with_si" "$stored_si"
xc_expect_eq "one-row-per-feature rows" "$eav_sql" "$eav_rows"
grep -q "| entries by (algorithm, ver) | 1567 |" "$report/report.md" || fail "report.md lacks the entry count"
grep -q "Popularity: synthetic" "$report/report.md" || fail "an import must not be read as popularity"

# the default loader (normalised tables, no XML parsed) builds the same
# model as parsing every stored disco#info: every figure is equal
"$XCENSUS" analyze -d "$db" --source capsdb --json --no-store --presences 50000 \
  >"$XC_TEST_LOGDIR/fast.json" 2>"$XC_TEST_LOGDIR/fast.log" || fail "analyze (default loader) failed"
"$XCENSUS" analyze -d "$db" --source capsdb --json --no-store --presences 50000 --xml-loader \
  >"$XC_TEST_LOGDIR/xml.json" 2>"$XC_TEST_LOGDIR/xml.log" || fail "analyze --xml-loader failed"
same_figures() { # FAST XML: every figure equal, 1567 entries
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    d.pop("meta", None)
if a["dataset"]["entries"] != 1567:
    sys.exit(f"default loader: {a['dataset']['entries']} entries, expected 1567")
def diff(x, y, path=""):
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y)):
            diff(x.get(k), y.get(k), f"{path}.{k}")
    elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (u, v) in enumerate(zip(x, y)):
            diff(u, v, f"{path}[{i}]")
    elif x != y:
        sys.exit(f"{path}: default loader {x!r}, XML loader {y!r}")
diff(a, b)
print("loaders agree")
PY
}
same_figures "$XC_TEST_LOGDIR/fast.json" "$XC_TEST_LOGDIR/xml.json" || fail "loaders disagree"
# (the first analysis above worked them out; this one found them kept)
grep -q "worked out the XEP-0232 facts" "$XC_TEST_LOGDIR/analyze.log" ||
  fail "the first analysis did not keep the XEP-0232 facts it worked out"
! grep -q "worked out the XEP-0232 facts" "$XC_TEST_LOGDIR/fast.log" ||
  fail "the second analysis worked the XEP-0232 facts out again"

# what a load works out from the XEP-0232 forms is kept for the next ones
# (sql/0033): one record per content with such a form, and every load
# gives the same figures whether it finds them all kept, none (all forms
# read again) or only the records without their stripped vers (the forms
# of those contents read again)
forms=$(xc_psql -d "$db" -c "SELECT count(DISTINCT content_id) FROM disco_forms WHERE form_type = 'urn:xmpp:dataforms:softwareinfo'")
kept=$(xc_psql -d "$db" -c "SELECT count(*) FROM softinfo_derived")
[ "$forms" -gt 400 ] || fail "only $forms contents with a XEP-0232 form"
xc_expect_eq "contents with XEP-0232 facts kept" "$forms" "$kept"
stripped=$(xc_psql -d "$db" -c "SELECT count(*) FROM softinfo_stripped_vers")
[ "$stripped" -gt 400 ] || fail "only $stripped stripped vers kept"
for drop in "softinfo_stripped_vers, softinfo_derived" "softinfo_stripped_vers"; do
  xc_psql -d "$db" -c "TRUNCATE $drop" >/dev/null
  "$XCENSUS" analyze -d "$db" --source capsdb --json --no-store --presences 50000 \
    >"$XC_TEST_LOGDIR/fast-again.json" 2>>"$XC_TEST_LOGDIR/fast-again.log" || fail "analyze after TRUNCATE $drop failed"
  same_figures "$XC_TEST_LOGDIR/fast-again.json" "$XC_TEST_LOGDIR/xml.json" ||
    fail "loaders disagree after TRUNCATE $drop"
  xc_expect_eq "XEP-0232 records kept again after TRUNCATE $drop" "$kept" \
    "$(xc_psql -d "$db" -c "SELECT count(*) FROM softinfo_derived")"
  xc_expect_eq "stripped vers kept again after TRUNCATE $drop" "$stripped" \
    "$(xc_psql -d "$db" -c "SELECT count(*) FROM softinfo_stripped_vers")"
done

# ... also for text that COPY and XML escape: an entry whose identity and
# XEP-0232 form hold & < > quotes, CR and TAB, imported as a second source
odd="$XC_TEST_LOGDIR/odd.xml"
printf '%s' "<query xmlns='http://jabber.org/protocol/disco#info' node='http://odd.example/caps'><identity category='client' type='pc' name='Odd &amp; &lt;Client&gt; \"q\"'/><feature var='http://jabber.org/protocol/caps'/><feature var='urn:xmpp:time'/><x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field><field var='software'><value>Odd &amp; Co &lt;b&gt; 'x' \"y\"</value></field><field var='software_version'><value>1.0&#13;beta&#9;tab</value></field><field var='os'><value>Lin&gt;ux</value></field><field var='os_version'><value>5 \"q\" 'a'</value></field></x></query>" >"$odd"
oddver=$({ "$XCENSUS" caps verify "$odd" || true; } | awk '$1 == "sha-1" {print $2; exit}')
[ -n "$oddver" ] || fail "no sha-1 of the odd entry"
python3 - "$odd" "$oddver" >"$XC_TEST_LOGDIR/odd.jsonl" <<'PY'
import json, sys
print(json.dumps({"node": "http://odd.example/caps", "ver": sys.argv[2], "hash": "sha-1",
                  "disco_info_xml": open(sys.argv[1]).read()}))
PY
"$XCENSUS" import capsdb "$XC_TEST_LOGDIR/odd.jsonl" --source odd -d "$db" \
  >"$XC_TEST_LOGDIR/import-odd.log" 2>&1 || fail "import of the odd entry"
"$XCENSUS" analyze -d "$db" --json --no-store --presences 50000 \
  >"$XC_TEST_LOGDIR/fast-all.json" 2>>"$XC_TEST_LOGDIR/fast.log" || fail "analyze (all sources) failed"
"$XCENSUS" analyze -d "$db" --json --no-store --presences 50000 --xml-loader \
  >"$XC_TEST_LOGDIR/xml-all.json" 2>>"$XC_TEST_LOGDIR/xml.log" || fail "analyze --xml-loader (all sources) failed"
python3 - "$XC_TEST_LOGDIR/fast-all.json" "$XC_TEST_LOGDIR/xml-all.json" <<'PY' || fail "loaders disagree on escaped text"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    d.pop("meta", None)
if a["dataset"]["entries"] != 1568 or a["dataset"]["entries_with_xep0232"] < 1:
    sys.exit(f"all sources: {a['dataset']} (the odd entry missing?)")
if a != b:
    sys.exit("the loaders' figures differ with the odd entry")
print("loaders agree with escaped text")
PY

# charts: valid SVG drawn by gnuplot from the CSV files, linked from report.md
command -v gnuplot >/dev/null || fail "gnuplot missing (scripts/install-deps installs gnuplot-nox)"
python3 "$XC_SOURCE_DIR/tests/integration/analyze_charts.py" "$report" || fail "charts"
[ -s "$report/hit_rate_curve.csv" ] || fail "hit_rate_curve.csv missing"

# without gnuplot the report is still written, saying why it has no charts
nochart="$XC_TEST_LOGDIR/report-nogp"
PATH=/nonexistent "$XCENSUS" analyze -d "$db" --source capsdb --report "$nochart" \
  --presences 20000 --no-store >"$XC_TEST_LOGDIR/analyze-nogp.log" 2>&1 \
  || { cat "$XC_TEST_LOGDIR/analyze-nogp.log"; fail "analyze without gnuplot failed"; }
[ -s "$nochart/report.md" ] || fail "no report without gnuplot"
grep -q "No charts: gnuplot is not installed" "$nochart/report.md" || fail "report lacks the no-charts note"
ls "$nochart"/*.svg >/dev/null 2>&1 && fail "charts without gnuplot"

# an unknown source is an error, not an empty report
if "$XCENSUS" analyze -d "$db" --source nope --no-store >"$XC_TEST_LOGDIR/nope.log" 2>&1; then
  fail "analyze of an unknown source succeeded"
fi
echo "analyze: ok"
