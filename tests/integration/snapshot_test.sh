#!/usr/bin/env bash
# Dataset snapshots (docs/SNAPSHOTS.md) against the PostgreSQL fixture, on
# the known dataset of tests/integration/api_fixture.sh (capsdb import plus
# three census runs, a running re-check crawl with a queue, a deny list).
#   snapshot_test.sh roundtrip  export, import into an empty database: every
#                               v_* view equal; export again: same files
#   snapshot_test.sh tamper     modified, truncated, garbage and hostile
#                               snapshots are refused with file:line and
#                               nothing is loaded
#   snapshot_test.sh refuse     non-empty database, non-empty directory,
#                               --force, a failing COPY rolls back
#   snapshot_test.sh source     export --source NAME: that source only
#   snapshot_test.sh consistent an export during concurrent writes is one
#                               moment of the database
#   snapshot_test.sh fuzz       seeded random damage: refused or harmless,
#                               never a crash
. "$(dirname "$0")/pg_lib.sh"
src=${XC_SOURCE_DIR:?}
edit() { python3 "$src/tests/integration/snapshot_edit.py" "$@"; }
case_name=${1:?usage: snapshot_test.sh CASE}
work=$XC_TEST_LOGDIR/work
mkdir -p "$work"

# fixture DB: a database with the known dataset
fixture() {
  local db
  db=$(xc_newdb "$1")
  XCENSUS=$XCENSUS bash "$src/tests/integration/api_fixture.sh" "$db" >&2 ||
    fail "api_fixture.sh failed"
  echo "$db"
}

# every table of DB and its row count, as SQL sees them
table_counts() { # DB
  local t
  for t in $(xc_psql -d "$1" -c "SELECT relname FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace WHERE n.nspname = 'public' AND relkind = 'r' ORDER BY 1"); do
    echo "$t $(xc_psql -d "$1" -c "SELECT count(*) FROM public.$t")"
  done
}

# every v_* view of DB, each row as text, sorted; PREFIX_SQL runs first in
# the same transaction (which is rolled back)
dump_views() { # DB OUT [PREFIX_SQL]
  local sql=$XC_TEST_LOGDIR/dump.$$.sql v
  {
    echo "BEGIN;"
    [ -n "${3:-}" ] && echo "$3"
    for v in $(xc_psql -d "$1" -c "SELECT viewname FROM pg_views WHERE schemaname = 'public' AND viewname LIKE 'v\\_%' ORDER BY 1"); do
      echo "SELECT '$v rows ' || count(*) FROM public.$v;"
      echo "SELECT '$v ' || (t::text) COLLATE \"C\" FROM public.$v t ORDER BY 1;"
    done
    echo "ROLLBACK;"
  } >"$sql"
  xc_psql -d "$1" -f "$sql" >"$2"
}

# what the snapshot leaves out, removed in a transaction that rolls back
strip_sql="UPDATE probe_outcomes SET job_id = NULL; UPDATE domains SET leased_job_id = NULL, last_contact = NULL; UPDATE crawl_runs SET host = NULL; DELETE FROM jobs; DELETE FROM store_batches; DELETE FROM deny_list;"

# expect_refused WHAT PATTERN DB ARGS...: import fails with exit 1, stderr
# matches PATTERN, DB holds no row afterwards
expect_refused() {
  local what=$1 pat=$2 db=$3 rc=0
  shift 3
  "$XCENSUS" import snapshot -d "$db" "$@" >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" -eq 1 ] || { cat "$work/err"; fail "$what: exit $rc, expected 1"; }
  grep -Eq -- "$pat" "$work/err" || { cat "$work/err"; fail "$what: message does not match /$pat/"; }
  local rows
  rows=0
  if [ -n "$(xc_psql -d "$db" -c "SELECT to_regclass('public.sources')")" ]; then
    rows=$(xc_psql -d "$db" -c "SELECT (SELECT count(*) FROM sources) + (SELECT count(*) FROM caps_entries) + (SELECT count(*) FROM features)")
  fi
  [ "$rows" = 0 ] || fail "$what: the refused import left $rows rows"
  echo "ok: $what refused: $(head -1 "$work/err")"
}

case $case_name in
roundtrip)
  db1=$(fixture snap_rt_src)
  snap=$work/snap
  "$XCENSUS" export --snapshot "$snap" -d "$db1" >"$work/export.log" 2>&1 ||
    { cat "$work/export.log"; fail "export failed"; }
  cat "$work/export.log"
  (cd "$snap" && sha256sum -c --quiet SHA256SUMS) || fail "SHA256SUMS does not verify"
  for f in manifest.json README.md CITATION.cff; do [ -s "$snap/$f" ] || fail "$f missing"; done
  grep -q '^cff-version: 1.2.0' "$snap/CITATION.cff" || fail "CITATION.cff"
  grep -q '^type: dataset' "$snap/CITATION.cff" || fail "CITATION.cff type"

  # every table of the database is classified; the dataset tables are all
  # in the manifest with their row counts
  table_counts "$db1" >"$work/sql_counts"
  python3 - "$snap/manifest.json" "$work/sql_counts" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
sql = dict(l.split() for l in open(sys.argv[2]))
rows = {t["name"]: t["rows"] for t in m["tables"]}
other = set(m["operational_tables"]) | set(m.get("derived_tables", []))
for t, n in sql.items():
    if t in rows:
        assert rows[t] == int(n), "%s: manifest %d rows, SQL %s" % (t, rows[t], n)
    else:
        assert t in other, "table %s is not classified" % t
assert set(rows) <= set(sql), set(rows) - set(sql)
assert m["format"] == "xcensus-snapshot" and m["format_version"] == 1, m["format"]
assert m["schema_version"] == m["migrations"][-1]["version"]
assert any(s["name"] == "capsdb" for s in m["sources"]), "capsdb source"
assert len(m["crawl_runs"]) >= 3, "crawl runs"
assert "privacy" in m["notes"] and "method" in m["notes"]
assert sorted(m["operational_tables"]) == ["deny_list", "jobs", "schema_migrations", "store_batches"]
files = {f["path"] for f in m["files"]}
for t in m["tables"]:
    assert t["csv"] in files and t["jsonl"] in files, t["name"]
    assert "host" not in [c["name"] for c in t["columns"]] or t["name"] != "crawl_runs"
EOF
  echo "ok: manifest lists every dataset table with its SQL row count; every other table is classified"
  # the CSV and JSON Lines of a table have the same number of rows
  for t in sources caps_entries disco_contents probe_outcomes; do
    rows=$(edit rows "$snap" "$t")
    [ "$(wc -l <"$snap/$t.jsonl")" = "$rows" ] || fail "$t.jsonl rows"
  done
  # RFC 4180: CRLF record ends
  head -1 "$snap/sources.csv" | grep -q $'\r$' || fail "sources.csv header does not end with CRLF"
  # no operational column leaked
  if head -1 "$snap/probe_outcomes.csv" | grep -q job_id; then fail "probe_outcomes.job_id exported"; fi
  if head -1 "$snap/domains.csv" | grep -q leased_job_id; then fail "domains.leased_job_id exported"; fi

  db2=$(xc_newdb snap_rt_dst)
  "$XCENSUS" import snapshot "$snap" -d "$db2" >"$work/import.log" 2>&1 ||
    { cat "$work/import.log"; fail "import failed"; }
  cat "$work/import.log"
  # dataset tables: the same counts (rollups may be split differently by
  # writing session; the views below compare what they sum to)
  dataset=$(python3 -c 'import json,sys; print("|".join(t["name"] for t in json.load(open(sys.argv[1]))["tables"]))' "$snap/manifest.json")
  table_counts "$db2" | grep -E "^($dataset) " >"$work/sql_counts2"
  grep -E "^($dataset) " "$work/sql_counts" | diff -u - "$work/sql_counts2" || fail "row counts differ after import"
  [ "$(wc -l <"$work/sql_counts2")" -ge 20 ] || fail "too few dataset tables compared"

  # every v_* view: identical to the source once the source's operational
  # state (which a snapshot leaves out) is removed
  dump_views "$db1" "$work/views_src" ""
  dump_views "$db1" "$work/views_src_stripped" "$strip_sql"
  dump_views "$db2" "$work/views_dst" ""
  nviews=$(xc_psql -d "$db2" -c "SELECT count(*) FROM pg_views WHERE schemaname = 'public' AND viewname LIKE 'v\\_%'")
  [ "$nviews" -ge 10 ] || fail "only $nviews views"
  diff -u "$work/views_src_stripped" "$work/views_dst" >"$work/views.diff" ||
    { head -50 "$work/views.diff"; fail "views differ after import"; }
  echo "ok: all $nviews v_* views equal ($(wc -l <"$work/views_dst") lines)"
  # views that show operational state differ from the unstripped source:
  # proves the comparison above can fail; the others are equal as they are
  opviews=$({ diff "$work/views_src" "$work/views_dst" || true; } | sed -n 's/^[<>] \(v_[a-z0-9_]*\) .*/\1/p' | sort -u | tr '\n' ' ')
  [ -n "$opviews" ] || fail "no view shows the queue, the fixture lost its operational state"
  echo "ok: views that show operational state (queue, deny list): $opviews"
  grep -q '^v_server_software rows [1-9]' "$work/views_dst" || fail "v_server_software empty after import"
  grep -q '^v_caps_summary rows [1-9]' "$work/views_dst" || fail "v_caps_summary empty after import"

  # catalog queries with arguments (functions rather than views) that read
  # only dataset tables: the same answers
  while read -r name args; do
    # shellcheck disable=SC2086
    a=$("$XCENSUS" query -f csv -d "$db1" "$name" $args) || fail "query $name on the source"
    # shellcheck disable=SC2086
    b=$("$XCENSUS" query -f csv -d "$db2" "$name" $args) || fail "query $name on the import"
    [ "$a" = "$b" ] || fail "query $name $args differs after import"
    [ "$(echo "$a" | wc -l)" -ge 2 ] || fail "query $name $args is empty: the check would prove nothing"
  done <<'EOQ'
deprecation old=jabber:iq:privacy new=urn:xmpp:blocking
drop_impact feature=urn:xmpp:mam:1
namespace_versions base=urn:xmpp:mam
features q=mam
feature_adoption feature=urn:xmpp:mam
analysis_latest run=1
EOQ
  echo "ok: catalog queries with arguments give the same answers"

  # the same constraints and indexes (the import drops the foreign keys
  # while it loads and adds them back)
  schema_sql="SELECT k.relname || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class k ON k.oid = c.conrelid JOIN pg_namespace n ON n.oid = k.relnamespace WHERE n.nspname = 'public' UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
  xc_psql -d "$db1" -c "$schema_sql" >"$work/schema1"
  xc_psql -d "$db2" -c "$schema_sql" >"$work/schema2"
  diff -u "$work/schema1" "$work/schema2" || fail "constraints or indexes differ after import"
  grep -c 'FOREIGN KEY' "$work/schema2" | xargs echo "ok: same constraints and indexes; foreign keys:"

  # sequences continue after the loaded ids
  xc_psql -d "$db2" -c "INSERT INTO sources (kind, name) VALUES ('import', 'after-snapshot')" ||
    fail "insert after import (sequence not reset?)"
  maxid=$(xc_psql -d "$db1" -c "SELECT max(id) FROM sources")
  newid=$(xc_psql -d "$db2" -c "SELECT id FROM sources WHERE name = 'after-snapshot'")
  xc_expect_eq "next source id after import" "$((maxid + 1))" "$newid"
  xc_psql -d "$db2" -c "DELETE FROM sources WHERE name = 'after-snapshot'"

  # a second export of the same data, and an export of the imported copy,
  # give the same data files and digest
  "$XCENSUS" export -q --snapshot "$work/snap2" -d "$db1" || fail "second export"
  "$XCENSUS" export -q --snapshot "$work/snap3" -d "$db2" || fail "export of the import"
  for f in "$snap"/*.csv "$snap"/*.jsonl; do
    b=$(basename "$f")
    cmp -s "$f" "$work/snap2/$b" || fail "second export: $b differs"
    cmp -s "$f" "$work/snap3/$b" || fail "export of the imported copy: $b differs"
  done
  dig() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data_digest"])' "$1/manifest.json"; }
  xc_expect_eq "data digest of a second export" "$(dig "$snap")" "$(dig "$work/snap2")"
  xc_expect_eq "data digest of the imported copy" "$(dig "$snap")" "$(dig "$work/snap3")"
  "$XCENSUS" import snapshot --verify-only "$snap" >/dev/null || fail "--verify-only of a good snapshot"
  ;;

tamper)
  db1=$(fixture snap_tp_src)
  good=$work/good
  "$XCENSUS" export -q --snapshot "$good" -d "$db1" || fail "export failed"
  db2=$(xc_newdb snap_tp_dst)
  fresh() { rm -rf "$work/bad"; cp -r "$good" "$work/bad"; }

  fresh # one byte changed
  python3 - "$work/bad/caps_entries.csv" <<'EOF'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); i = len(b) // 2
b[i] = ord('x') if b[i] != ord('x') else ord('y'); open(p, "wb").write(b)
EOF
  expect_refused "a modified file" 'caps_entries\.csv: checksum mismatch' "$db2" "$work/bad"

  fresh # truncated, size and checksum updated in the manifest
  size=$(stat -c %s "$work/bad/disco_contents.csv")
  truncate -s $((size / 2)) "$work/bad/disco_contents.csv"
  edit reseal "$work/bad" disco_contents.csv
  expect_refused "a truncated CSV" 'disco_contents\.csv:[0-9]+: (file ends inside|record has|character after|quote inside)|disco_contents\.csv: [0-9]+ records' "$db2" "$work/bad"

  fresh # a JSON Lines file replaced by garbage
  printf 'this is not json\n' >"$work/bad/features.jsonl"
  edit reseal "$work/bad" features.jsonl
  expect_refused "a garbage JSON Lines file" 'features\.jsonl:1: not JSON' "$db2" "$work/bad"

  fresh # truncated JSON Lines (last line cut)
  size=$(stat -c %s "$work/bad/caps_entries.jsonl")
  truncate -s $((size - 3)) "$work/bad/caps_entries.jsonl"
  edit reseal "$work/bad" caps_entries.jsonl
  expect_refused "a truncated JSON Lines file" 'caps_entries\.jsonl:[0-9]+: ' "$db2" "$work/bad"

  fresh # LF instead of CRLF
  sed -i 's/\r$//' "$work/bad/sources.csv"
  edit reseal "$work/bad" sources.csv
  expect_refused "a CSV with LF record ends" 'sources\.csv:1: record ends with LF' "$db2" "$work/bad"

  fresh # a record longer than the bound
  python3 - "$work/bad/features.csv" <<'EOF'
import sys
with open(sys.argv[1], "ab") as f:
    f.write(b'999999,"' + b'a' * (17 * 1024 * 1024) + b'"\r\n')
EOF
  edit reseal "$work/bad" features.csv
  expect_refused "an over-long record" 'features\.csv:[0-9]+: record longer than' "$db2" "$work/bad"

  fresh # the manifest says one row more
  rows=$(edit rows "$work/bad" sources)
  edit table "$work/bad" sources rows "$((rows + 1))"
  expect_refused "a wrong row count" 'sources\.csv: [0-9]+ records, the manifest says' "$db2" "$work/bad"

  fresh # manifest is not JSON
  printf '{"format": "xcensus-snapshot",\n  oops\n' >"$work/bad/manifest.json"
  expect_refused "a garbage manifest" 'manifest\.json:2:' "$db2" "$work/bad"

  fresh # a path out of the directory
  python3 - "$work/bad/manifest.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); m["files"][0]["path"] = "../../etc/passwd"
json.dump(m, open(sys.argv[1], "w"))
EOF
  expect_refused "a path outside the snapshot" 'manifest\.json: files\[0\]: bad or repeated path' "$db2" "$work/bad"

  fresh # a table that is not part of the dataset
  python3 - "$work/bad/manifest.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); m["tables"][0]["name"] = "jobs"
json.dump(m, open(sys.argv[1], "w"))
EOF
  expect_refused "an operational table" 'manifest\.json: tables\[0\]: "jobs" is not a dataset table' "$db2" "$work/bad"

  fresh # a column name that could carry SQL
  python3 - "$work/bad/manifest.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); m["tables"][0]["columns"][0]["name"] = 'id") FROM x; --'
json.dump(m, open(sys.argv[1], "w"))
EOF
  expect_refused "a hostile column name" 'manifest\.json: table "[a-z_]+": bad column 0' "$db2" "$work/bad"

  fresh # a newer schema, a newer format, a different migration
  edit set "$work/bad" schema_version 99999
  expect_refused "a newer schema version" 'schema version 99999 is newer' "$db2" "$work/bad"
  fresh
  edit set "$work/bad" format_version 2
  expect_refused "a newer format version" 'unsupported format_version' "$db2" "$work/bad"
  fresh
  python3 - "$work/bad/manifest.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); m["migrations"][0]["checksum"] = "0" * 64
json.dump(m, open(sys.argv[1], "w"))
EOF
  expect_refused "a different migration" 'differs from this xcensus' "$db2" "$work/bad"

  fresh # a data file replaced by a symbolic link
  ln -sf /etc/passwd "$work/bad/crawls.csv"
  expect_refused "a symbolic link" 'crawls\.csv: ' "$db2" "$work/bad"

  fresh # structurally valid CSV, value the schema refuses: COPY fails, all rolled back
  python3 - "$work/bad/sources.csv" <<'EOF'
import sys
p = sys.argv[1]; b = open(p, "rb").read()
b = b.replace(b",import,", b",not-a-kind,", 1); open(p, "wb").write(b)
EOF
  edit reseal "$work/bad" sources.csv
  expect_refused "a value the schema refuses" 'sources\.csv: record [0-9]+: .*check constraint' "$db2" "$work/bad"

  fresh # a row that refers to an entity the snapshot does not hold
  python3 - "$work/bad/software_versions.csv" <<'EOF'
import csv, sys
p = sys.argv[1]
with open(p, newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
i = rows[0].index("entity_id")
rows[1][i] = "999999"
with open(p, "w", newline="", encoding="utf-8") as f:
    csv.writer(f, lineterminator="\r\n").writerows(rows)
EOF
  edit reseal "$work/bad" software_versions.csv
  expect_refused "a dangling reference" "the snapshot's rows break a reference: .*software_versions.*entity_id" "$db2" "$work/bad"

  # the untouched snapshot still loads
  "$XCENSUS" import snapshot -q "$good" -d "$db2" || fail "good snapshot after the refusals"
  echo "ok: the good snapshot loads"
  ;;

refuse)
  db1=$(fixture snap_rf_src)
  snap=$work/snap
  "$XCENSUS" export -q --snapshot "$snap" -d "$db1" || fail "export failed"
  # non-empty database: the source itself, and a database with only capsdb
  db3=$(xc_newdb snap_rf_caps)
  "$XCENSUS" migrate -d "$db3" >/dev/null 2>&1
  "$XCENSUS" import capsdb -q "$src/tests/data/capsdb/capsdb.jsonl" -d "$db3" >/dev/null 2>&1
  before=$(table_counts "$db3" | md5sum)
  rc=0
  "$XCENSUS" import snapshot "$snap" -d "$db3" 2>"$work/err" || rc=$?
  xc_expect_eq "import into a non-empty database: exit" 1 "$rc"
  grep -q 'the database is not empty' "$work/err" || { cat "$work/err"; fail "message"; }
  xc_expect_eq "non-empty database unchanged" "$before" "$(table_counts "$db3" | md5sum)"
  # a migrated but empty database is fine
  db4=$(xc_newdb snap_rf_migrated)
  "$XCENSUS" migrate -d "$db4" >/dev/null 2>&1
  "$XCENSUS" import snapshot -q "$snap" -d "$db4" || fail "import into a migrated empty database"
  echo "ok: a migrated empty database takes the snapshot"

  # export into a non-empty directory
  mkdir -p "$work/full" && echo keep >"$work/full/other.txt"
  rc=0
  "$XCENSUS" export -q --snapshot "$work/full" -d "$db1" 2>"$work/err" || rc=$?
  xc_expect_eq "export into a non-empty directory: exit" 1 "$rc"
  grep -q 'is not empty (use --force' "$work/err" || { cat "$work/err"; fail "message"; }
  [ -f "$work/full/other.txt" ] || fail "the refused export touched the directory"
  "$XCENSUS" export -q --force --snapshot "$work/full" -d "$db1" || fail "--force"
  [ ! -e "$work/full/other.txt" ] && [ -f "$work/full/manifest.json" ] || fail "--force did not replace the directory"
  "$XCENSUS" export -q --force --snapshot "$work/full/" -d "$db1" || fail "--force with DIR/"
  [ -f "$work/full/manifest.json" ] || fail "--force with DIR/ lost the snapshot"
  echo "ok: --force replaces a directory of files"
  mkdir -p "$work/nested/sub"
  rc=0
  "$XCENSUS" export -q --force --snapshot "$work/nested" -d "$db1" 2>"$work/err" || rc=$?
  xc_expect_eq "--force on a directory with a subdirectory: exit" 1 "$rc"
  [ -d "$work/nested/sub" ] || fail "the subdirectory was removed"
  # an existing empty directory is used; no temporary directory is left
  mkdir -p "$work/empty"
  "$XCENSUS" export -q --snapshot "$work/empty" -d "$db1" || fail "export into an empty directory"
  leftovers=$(find "$work" -maxdepth 1 -name '*.partial-*' -o -maxdepth 1 -name '*.old-*' | wc -l)
  xc_expect_eq "temporary directories left" 0 "$leftovers"
  # usage errors
  rc=0; "$XCENSUS" export -d "$db1" 2>/dev/null || rc=$?
  xc_expect_eq "export without --snapshot: exit" 2 "$rc"
  rc=0; "$XCENSUS" import snapshot 2>/dev/null || rc=$?
  xc_expect_eq "import snapshot without DIR: exit" 2 "$rc"
  ;;

source)
  db1=$(fixture snap_src_src)
  rc=0
  "$XCENSUS" export -q --snapshot "$work/none" --source no-such-source -d "$db1" 2>"$work/err" || rc=$?
  xc_expect_eq "unknown --source: exit" 1 "$rc"
  grep -q 'unrecognized source "no-such-source"' "$work/err" || { cat "$work/err"; fail "message"; }
  [ ! -e "$work/none" ] || fail "a failed export left its directory"

  "$XCENSUS" export -q --snapshot "$work/caps" --source capsdb -d "$db1" || fail "export --source capsdb"
  python3 - "$work/caps/manifest.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
assert [s["name"] for s in m["sources"]] == ["capsdb"], m["sources"]
assert m["crawl_runs"] == [], m["crawl_runs"]
assert m["selected_sources"] == ["capsdb"]
rows = {t["name"]: t["rows"] for t in m["tables"]}
assert rows["caps_entries"] > 1000 and rows["software_versions"] == 0 and rows["probe_outcomes"] == 0, rows
EOF
  db2=$(xc_newdb snap_src_dst)
  "$XCENSUS" import snapshot -q "$work/caps" -d "$db2" || fail "import of a --source snapshot"
  q="SELECT * FROM v_caps_summary WHERE source = 'capsdb'"
  xc_expect_eq "v_caps_summary of capsdb" "$(xc_psql -d "$db1" -c "$q")" "$(xc_psql -d "$db2" -c "$q")"
  q="SELECT count(*) FROM caps_entries"
  xc_expect_eq "caps entries" "$(xc_psql -d "$db1" -c "$q WHERE first_source_id = (SELECT id FROM sources WHERE name = 'capsdb')")" "$(xc_psql -d "$db2" -c "$q")"

  # two sources: a census run and capsdb; the run's crawl comes along
  run=$(xc_psql -d "$db1" -c "SELECT s.name FROM crawl_runs r JOIN sources s ON s.id = r.source_id ORDER BY r.id LIMIT 1")
  "$XCENSUS" export -q --snapshot "$work/two" --source capsdb --source "$run" -d "$db1" || fail "export of two sources"
  db3=$(xc_newdb snap_src_two)
  "$XCENSUS" import snapshot -q "$work/two" -d "$db3" || fail "import of two sources"
  xc_expect_eq "sources in the two-source snapshot" 2 "$(xc_psql -d "$db3" -c "SELECT count(*) FROM sources")"
  xc_expect_eq "crawls in the two-source snapshot" 1 "$(xc_psql -d "$db3" -c "SELECT count(*) FROM crawls")"
  q="SELECT count(*) FROM probe_outcomes p JOIN sources s ON s.id = p.source_id WHERE s.name = '$run'"
  xc_expect_eq "probe outcomes of $run" "$(xc_psql -d "$db1" -c "$q")" "$(xc_psql -d "$db3" -c "$q")"
  ;;

fuzz)
  # seeded random damage: every run ends in exit 0 (the damage was
  # harmless) or 1 with a message, never a crash or a sanitizer report;
  # a refused import leaves the database empty
  db1=$(fixture snap_fz_src)
  good=$work/good
  "$XCENSUS" export -q --snapshot "$good" -d "$db1" || fail "export failed"
  refused=0
  for seed in $(seq 1 30); do
    rm -rf "$work/bad"; cp -r "$good" "$work/bad"
    what=$(edit mutate "$work/bad" "$seed")
    rc=0
    "$XCENSUS" import snapshot --verify-only "$work/bad" >/dev/null 2>"$work/err" || rc=$?
    if grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$work/err"; then
      cat "$work/err"; fail "seed $seed ($what): sanitizer report"
    fi
    case $rc in
    0) ;;
    1) [ -s "$work/err" ] || fail "seed $seed ($what): refused without a message"
       refused=$((refused + 1)) ;;
    *) cat "$work/err"; fail "seed $seed ($what): exit $rc" ;;
    esac
    # every fifth: the whole import too, into a fresh database
    if [ $((seed % 5)) -eq 0 ]; then
      db2=$(xc_newdb snap_fz_dst)
      rc=0
      "$XCENSUS" import snapshot -q "$work/bad" -d "$db2" >/dev/null 2>"$work/err" || rc=$?
      if grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$work/err"; then
        cat "$work/err"; fail "seed $seed ($what): sanitizer report on import"
      fi
      [ "$rc" -le 1 ] || { cat "$work/err"; fail "seed $seed ($what): import exit $rc"; }
      if [ "$rc" -eq 1 ] && [ -n "$(xc_psql -d "$db2" -c "SELECT to_regclass('public.sources')")" ]; then
        [ "$(xc_psql -d "$db2" -c "SELECT count(*) FROM sources")" = 0 ] ||
          fail "seed $seed ($what): a refused import left rows"
      fi
    fi
  done
  echo "ok: 30 damaged snapshots, $refused refused with a message, no crash"
  [ "$refused" -ge 15 ] || fail "only $refused of 30 damaged snapshots refused"
  ;;

consistent)
  # an export while a writer commits a domain, its server and a probe
  # outcome of it every few milliseconds: every file is the same moment, so
  # the import's foreign keys hold and the three tables agree
  db1=$(fixture snap_cs_src)
  src_id=$(xc_psql -d "$db1" -c "SELECT id FROM sources WHERE kind = 'crawl' ORDER BY id LIMIT 1")
  xc_psql -d "$db1" -c "DO \$\$ BEGIN FOR i IN 1..1500 LOOP
      WITH d AS (INSERT INTO domains (name) VALUES ('c' || i || '.concurrent.example') RETURNING id, name),
           e AS (INSERT INTO entities (address, domain_id, kind) SELECT name, id, 'server' FROM d RETURNING id, domain_id)
      INSERT INTO probe_outcomes (source_id, domain_id, entity_id, probe, outcome) SELECT $src_id, domain_id, id, 'disco-info', 'ok' FROM e;
      COMMIT; PERFORM pg_sleep(0.002); END LOOP; END \$\$" &
  writer=$!
  n=0
  for _ in $(seq 1 200); do
    n=$(xc_psql -d "$db1" -c "SELECT count(*) FROM domains WHERE name LIKE '%.concurrent.example'")
    [ "$n" -ge 20 ] && break
    sleep 0.05
  done
  [ "$n" -ge 20 ] || fail "the writer did not start"
  "$XCENSUS" export -q --snapshot "$work/snap" -d "$db1" || { kill "$writer" 2>/dev/null; fail "export during writes"; }
  wait "$writer" || fail "the writer failed"
  total=$(xc_psql -d "$db1" -c "SELECT count(*) FROM domains WHERE name LIKE '%.concurrent.example'")
  xc_expect_eq "rows the writer committed" 1500 "$total"
  db2=$(xc_newdb snap_cs_dst)
  "$XCENSUS" import snapshot -q "$work/snap" -d "$db2" || fail "import of a snapshot taken during writes"
  d=$(xc_psql -d "$db2" -c "SELECT count(*) FROM domains WHERE name LIKE '%.concurrent.example'")
  e=$(xc_psql -d "$db2" -c "SELECT count(*) FROM entities WHERE address LIKE '%.concurrent.example'")
  p=$(xc_psql -d "$db2" -c "SELECT count(*) FROM probe_outcomes p JOIN entities e ON e.id = p.entity_id WHERE e.address LIKE '%.concurrent.example'")
  echo "snapshot holds $d of the writer's domains"
  [ "$d" -ge 20 ] && [ "$d" -lt 1500 ] || fail "the export did not overlap the writes ($d of 1500)"
  xc_expect_eq "servers of the writer's domains in the snapshot" "$d" "$e"
  xc_expect_eq "probe outcomes of them in the snapshot" "$d" "$p"
  ;;

*) fail "unrecognized case $case_name" ;;
esac
echo "PASS: snapshot $case_name"
