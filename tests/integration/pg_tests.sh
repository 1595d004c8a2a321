#!/usr/bin/env bash
# Integration tests of the schema, `xcensus migrate`, `xcensus import capsdb`
# and `xcensus query` against the real PostgreSQL of the xc_pg fixture.
#   pg_tests.sh CASE      (CASE: one of the functions t_* below, without t_)
# Each case works in its own database named after it. Expected figures come
# from the data files themselves (computed here with Python), or from the
# protocol's known results for capsdb (1,578 valid, 33 ill-formed).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg_lib.sh"

case_name=${1:?usage: pg_tests.sh CASE}
X=${XCENSUS:?XCENSUS must point at the program}
src=${XC_SOURCE_DIR:?}
capsdb=$src/tests/data/capsdb/capsdb.jsonl
bad=$src/tests/data/capsdb-bad.jsonl
log=$XC_TEST_LOGDIR
db=xct_$case_name

# run NAME ARGS...: runs xcensus, keeps stdout/stderr in the log dir, sets rc
run() {
  local name=$1; shift
  rc=0
  "$X" "$@" >"$log/$name.out" 2>"$log/$name.err" || rc=$?
}

expect_rc() {
  [ "$rc" = "$1" ] || { cat "$log/$2.err" >&2; fail "$2: exit status $rc, expected $1"; }
}

sql() { xc_psql -d "$db" -c "$1"; }

# the migrations compiled into the program (its --status lists each one;
# the source tree may hold a newer file the build has not picked up yet)
migrations_count() {
  { "$X" migrate --status -d "$conn" 2>/dev/null || true; } |
    grep -E '^[0-9]{4}  ' | grep -vc 'unknown to this program' || true
}

# independent figures for capsdb.jsonl, from Python's json and XML parsers
capsdb_facts() {
  python3 - "$capsdb" <<'EOF'
import json, sys
import xml.etree.ElementTree as ET
entries, nodes, obs, feats, soft, wf = set(), set(), set(), set(), set(), set()
for line in open(sys.argv[1], encoding='utf-8'):
    d = json.loads(line)
    entries.add((d['hash'], d['ver'])); nodes.add(d['node'])
    if d['well_formed']:
        wf.add((d['hash'], d['ver']))
    obs.add((d['hash'], d['ver'], d['node']))
    q = ET.fromstring(d['disco_info_xml'])
    for f in q.iter('{http://jabber.org/protocol/disco#info}feature'):
        feats.add(f.get('var'))
    for x in q.iter('{jabber:x:data}x'):
        for fld in x.iter('{jabber:x:data}field'):
            v = fld.find('{jabber:x:data}value')
            if fld.get('var') == 'FORM_TYPE' and v is not None and v.text == 'urn:xmpp:dataforms:softwareinfo':
                soft.add((d['hash'], d['ver']))
print(len(entries), len(nodes), len(obs), len(feats), len(soft), len(wf))
EOF
}

t_migrate_empty() {
  conn=$(xc_newdb "$db")
  run migrate migrate -d "$conn"
  expect_rc 0 migrate
  grep -q "applied $(migrations_count) migration" "$log/migrate.out" ||
    fail "migrate did not report applying every migration: $(cat "$log/migrate.out")"
  xc_expect_eq "schema_migrations rows" "$(migrations_count)" \
    "$(sql "SELECT count(*) FROM schema_migrations")"
  f=$(ls "$src"/sql/[0-9]*.sql | head -1)
  xc_expect_eq "checksum of $(basename "$f")" "$(sha256sum "$f" | cut -d' ' -f1)" \
    "$(sql "SELECT checksum FROM schema_migrations ORDER BY version LIMIT 1")"
  for v in v_caps_summary v_caps_outcomes v_caps_by_node v_feature_counts v_crawl_status; do
    xc_expect_eq "view $v exists" "1" \
      "$(sql "SELECT count(*) FROM information_schema.views WHERE table_name = '$v'")"
  done
  run status migrate -d "$conn" --status
  expect_rc 0 status
  grep -q "schema: current" "$log/status.out" || fail "--status: $(cat "$log/status.out")"
}

t_migrate_twice() {
  conn=$(xc_newdb "$db")
  run m1 migrate -d "$conn"; expect_rc 0 m1
  before=$(sql "SELECT version, applied_at, checksum FROM schema_migrations ORDER BY 1;
                SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace")
  run m2 migrate -d "$conn"; expect_rc 0 m2
  grep -q "nothing to do" "$log/m2.out" || fail "second migrate: $(cat "$log/m2.out")"
  after=$(sql "SELECT version, applied_at, checksum FROM schema_migrations ORDER BY 1;
               SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace")
  [ "$before" = "$after" ] || fail "second migrate changed the schema: $before / $after"
  echo "ok: second migrate is a no-op"
}

t_migrate_newer() {
  conn=$(xc_newdb "$db")
  run m1 migrate -d "$conn"; expect_rc 0 m1
  sql "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, '9999_future.sql', 'x')"
  run m2 migrate -d "$conn"; expect_rc 1 m2
  grep -q "newer xcensus" "$log/m2.err" || fail "no clear message: $(cat "$log/m2.err")"
  run st migrate -d "$conn" --status; expect_rc 1 st
  run q query -d "$conn" v_caps_summary; expect_rc 1 q
  run imp import capsdb -d "$conn" "$capsdb"; expect_rc 1 imp
  xc_expect_eq "caps entries after refused import" 0 "$(sql "SELECT count(*) FROM caps_entries")"
}

t_migrate_modified() {
  conn=$(xc_newdb "$db")
  run m1 migrate -d "$conn"; expect_rc 0 m1
  sql "UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 1"
  run m2 migrate -d "$conn"; expect_rc 1 m2
  grep -q "was changed after it was applied" "$log/m2.err" ||
    fail "no clear message: $(cat "$log/m2.err")"
}

t_migrate_concurrent() {
  conn=$(xc_newdb "$db")
  pids=()
  for i in 1 2 3 4; do
    "$X" migrate -d "$conn" >"$log/c$i.out" 2>"$log/c$i.err" & pids+=($!)
  done
  for i in 1 2 3 4; do
    wait "${pids[$((i - 1))]}" || { cat "$log/c$i.err" >&2; fail "concurrent migrate $i failed"; }
  done
  xc_expect_eq "runs that applied migrations" 1 "$(cat "$log"/c?.out | grep -c '^applied')"
  xc_expect_eq "schema_migrations rows" "$(migrations_count)" \
    "$(sql "SELECT count(*) FROM schema_migrations")"
}

import_capsdb_into() {
  conn=$(xc_newdb "$db")
  run migrate migrate -d "$conn"; expect_rc 0 migrate
  run import1 import capsdb -d "$conn" --source capsdb-test "$capsdb"
  expect_rc 0 import1
}

t_import_capsdb() {
  import_capsdb_into
  read -r n_entries n_nodes n_obs n_feats n_soft n_wf <<<"$(capsdb_facts)"
  grep -q "read 1611, imported 1611, skipped 0" "$log/import1.out" ||
    fail "summary: $(cat "$log/import1.out")"
  # 1,611 (algo, node, ver) in the file; caps entries are keyed by (algo, ver)
  xc_expect_eq "caps entry nodes" 1611 "$(sql "SELECT count(*) FROM caps_entry_nodes")"
  xc_expect_eq "caps entries (distinct algo, ver in the file)" "$n_entries" \
    "$(sql "SELECT count(*) FROM caps_entries")"
  xc_expect_eq "valid/strict by node" 1578 \
    "$(sql "SELECT count(*) FROM caps_entry_nodes n JOIN caps_entries e ON e.id = n.entry_id
            WHERE outcome = 'valid' AND matched_by = 'strict'")"
  xc_expect_eq "ill-formed/lenient/duplicate-feature by node" 33 \
    "$(sql "SELECT count(*) FROM caps_entry_nodes n JOIN caps_entries e ON e.id = n.entry_id
            WHERE outcome = 'ill-formed' AND matched_by = 'lenient' AND error = 'duplicate-feature'")"
  xc_expect_eq "valid entries (well_formed in the file)" "$n_wf" \
    "$(sql "SELECT count(*) FROM caps_entries WHERE outcome = 'valid' AND matched_by = 'strict'")"
  grep -q "outcomes: valid 1578 ill-formed 33" "$log/import1.out" ||
    fail "summary outcomes: $(cat "$log/import1.out")"
  xc_expect_eq "other outcomes" 0 \
    "$(sql "SELECT count(*) FROM caps_entries WHERE outcome NOT IN ('valid', 'ill-formed')")"
  xc_expect_eq "observation rows" "$n_obs" "$(sql "SELECT count(*) FROM caps_observations")"
  xc_expect_eq "observations" 1611 "$(sql "SELECT sum(count) FROM caps_observations")"
  xc_expect_eq "distinct nodes" "$n_nodes" "$(sql "SELECT count(DISTINCT node) FROM caps_entry_nodes")"
  xc_expect_eq "distinct features" "$n_feats" "$(sql "SELECT count(*) FROM features")"
  xc_expect_eq "features of the first line" "$(python3 - "$capsdb" <<'EOF'
import json, sys
import xml.etree.ElementTree as ET
d = json.loads(open(sys.argv[1], encoding='utf-8').readline())
q = ET.fromstring(d['disco_info_xml'])
print(' '.join(sorted({f.get('var') for f in q.iter('{http://jabber.org/protocol/disco#info}feature')})))
EOF
)" "$(sql "SELECT string_agg(v.var, ' ' ORDER BY v.var COLLATE \"C\") FROM v_content_features v
            JOIN caps_entries e ON e.content_id = v.content_id
            WHERE e.ver = 'GRREviyyjLzK2wK4QLX5NNF9FmQ='")"
  xc_expect_eq "entries with a duplicated feature" 33 \
    "$(sql "SELECT count(*) FROM caps_entries e JOIN disco_contents c ON c.id = e.content_id
            WHERE cardinality(c.duplicate_feature_ids) > 0")"
  xc_expect_eq "entries with softinfo" "$n_soft" \
    "$(sql "SELECT count(*) FROM caps_entries WHERE has_softinfo")"
  xc_expect_eq "softinfo rows match flags" "$n_soft" \
    "$(sql "SELECT count(*) FROM caps_entries e JOIN softinfo s USING (content_id)")"
  xc_expect_eq "Tkabber softinfo hashes (known: 447)" 447 \
    "$(sql "SELECT count(*) FROM caps_entries e JOIN softinfo s USING (content_id)
            WHERE s.software = 'Tkabber'")"
  xc_expect_eq "entries without content" 0 \
    "$(sql "SELECT count(*) FROM caps_entries WHERE content_id IS NULL")"
  xc_expect_eq "strict hash equals ver for valid" 0 \
    "$(sql "SELECT count(*) FROM caps_entries WHERE outcome = 'valid' AND computed_ver <> ver")"
  xc_expect_eq "stored XML equals file" 0 "$(python3 - "$capsdb" "$db" <<'EOF'
import json, subprocess, sys, os
want = {}
for d in map(json.loads, open(sys.argv[1], encoding='utf-8')):
    want.setdefault((d['hash'], d['ver']), d['disco_info_xml'])  # the first line of a key wins
out = subprocess.run([os.environ['XC_PG_BINDIR'] + '/psql', '-X', '-At', '-d', sys.argv[2], '-c',
    "SELECT json_agg(json_build_array(e.algo, e.ver, c.xml)) FROM caps_entries e JOIN disco_contents c ON c.id = e.content_id"],
    check=True, capture_output=True, text=True).stdout
got = {(a, v): x for a, v, x in json.loads(out)}
print(sum(1 for k in want if got.get(k) != want[k]))
EOF
)"
  xc_expect_eq "source" "import|capsdb-test" "$(sql "SELECT kind, name FROM sources")"
}

t_reimport_capsdb() {
  import_capsdb_into
  counts="SELECT (SELECT count(*) FROM caps_entries), (SELECT count(*) FROM caps_entry_nodes),
    (SELECT count(*) FROM disco_contents), (SELECT count(*) FROM disco_identities),
    (SELECT count(*) FROM v_content_features), (SELECT count(*) FROM features),
    (SELECT count(*) FROM disco_forms), (SELECT count(*) FROM disco_form_fields),
    (SELECT count(*) FROM disco_form_values), (SELECT count(*) FROM softinfo),
    (SELECT count(*) FROM caps_observations), (SELECT sum(count) FROM caps_observations),
    (SELECT count(*) FROM sources)"
  before=$(sql "$counts")
  run import2 import capsdb -d "$conn" --source capsdb-test "$capsdb"
  expect_rc 0 import2
  xc_expect_eq "row counts after re-import" "$before" "$(sql "$counts")"
  grep -q "added: 0 caps entries, 0 disco contents, 0 features, 0 observation rows" \
    "$log/import2.out" || fail "re-import summary: $(cat "$log/import2.out")"
  # the same file as another source: new observations, no new entries
  run import3 import capsdb -d "$conn" --source capsdb-again "$capsdb"
  expect_rc 0 import3
  xc_expect_eq "entries after second source" "$(sql "SELECT count(DISTINCT (algo, ver)) FROM caps_observations")" \
    "$(sql "SELECT count(*) FROM caps_entries")"
  xc_expect_eq "observations after second source" 3222 "$(sql "SELECT sum(count) FROM caps_observations")"
}

# three imports of the same file at once, as three sources: no deadlock, no
# duplicate, every observation counted
t_import_concurrent() {
  conn=$(xc_newdb "$db")
  run migrate migrate -d "$conn"; expect_rc 0 migrate
  pids=()
  for i in 1 2 3; do
    "$X" import capsdb -d "$conn" --source "capsdb-$i" "$capsdb" >"$log/i$i.out" 2>"$log/i$i.err" &
    pids+=($!)
  done
  for i in 1 2 3; do
    wait "${pids[$((i - 1))]}" || { cat "$log/i$i.err" >&2; fail "concurrent import $i failed"; }
  done
  read -r n_entries n_nodes n_obs _ <<<"$(capsdb_facts)"
  xc_expect_eq "caps entries" "$n_entries" "$(sql "SELECT count(*) FROM caps_entries")"
  xc_expect_eq "caps entry nodes" "$n_obs" "$(sql "SELECT count(*) FROM caps_entry_nodes")"
  xc_expect_eq "contents" "$n_obs" "$(sql "SELECT count(*) FROM disco_contents")"
  xc_expect_eq "observations" 4833 "$(sql "SELECT sum(count) FROM caps_observations")"
  xc_expect_eq "identity rows" "$(sql "SELECT sum(identity_count) FROM disco_contents")" \
    "$(sql "SELECT count(*) FROM disco_identities")"
  xc_expect_eq "form rows" "$(sql "SELECT sum(form_count) FROM disco_contents")" \
    "$(sql "SELECT count(*) FROM disco_forms")"
}

t_import_bad_lines() {
  conn=$(xc_newdb "$db")
  run migrate migrate -d "$conn"; expect_rc 0 migrate
  run bad import capsdb -d "$conn" "$bad"
  expect_rc 1 bad
  reported=$(sed -n "s|^$bad:\([0-9]*\): .*|\1|p" "$log/bad.err" | tr '\n' ' ')
  xc_expect_eq "reported bad lines" "2 3 4 5 6 8 9 12 13 14 " "$reported"
  xc_expect_eq "stderr lines" 10 "$(wc -l <"$log/bad.err")"
  grep -q "read 13, imported 3, skipped 10" "$log/bad.out" || fail "summary: $(cat "$log/bad.out")"
  xc_expect_eq "caps entries" 3 "$(sql "SELECT count(*) FROM caps_entries")"
  xc_expect_eq "outcomes" "ill-formed|1
valid|2" "$(sql "SELECT outcome, count(*) FROM caps_entries GROUP BY 1 ORDER BY 1")"
  xc_expect_eq "source name from file" "capsdb-bad" "$(sql "SELECT name FROM sources")"
  grep -q ":5: .*doctype" "$log/bad.err" || fail "DOCTYPE line not reported as such"
}

# every verdict reaches the database: tests/data/capsdb-outcomes.jsonl holds
# one answer (identity name "A<B") advertised under six (hash, ver) pairs,
# computed independently with Python's hashlib
t_import_outcomes() {
  conn=$(xc_newdb "$db")
  run migrate migrate -d "$conn"; expect_rc 0 migrate
  run imp import capsdb -d "$conn" "$src/tests/data/capsdb-outcomes.jsonl"
  expect_rc 0 imp
  xc_expect_eq "verdicts" "|0.9.1|legacy||
md5|RcTyOvhHc2RcZMxvOkGHNA==|valid|strict|
sha-1|1ESaqEb4B1pknEMZzakl6/v+tp4=|valid|strict|
sha-1|AAAAAAAAAAAAAAAAAAAAAAAAAAA=|mismatch||
sha-1|IKPYGPLvWOHIvaKqAOQ6y2pydEU=|mismatch|escape-lt|
sha-999|abcd|unsupported-hash||" \
    "$(sql "SELECT algo, ver, outcome, matched_by, error FROM caps_entries ORDER BY algo, ver COLLATE \"C\"")"
  xc_expect_eq "one shared content" 1 "$(sql "SELECT count(*) FROM disco_contents")"
  run q query -d "$conn" -f csv v_caps_outcomes; expect_rc 0 q
  grep -q '^mismatch,(none),,1' "$log/q.out" || fail "v_caps_outcomes: $(cat "$log/q.out")"
}

t_import_source_kind() {
  conn=$(xc_newdb "$db")
  run migrate migrate -d "$conn"; expect_rc 0 migrate
  sql "INSERT INTO sources (kind, name) VALUES ('crawl', 'taken')"
  run imp import capsdb -d "$conn" --source taken "$capsdb"
  expect_rc 1 imp
  grep -q "not an import" "$log/imp.err" || fail "message: $(cat "$log/imp.err")"
  xc_expect_eq "caps entries after refused import" 0 "$(sql "SELECT count(*) FROM caps_entries")"
  run missing import capsdb -d "$conn" "$log/no-such-file.jsonl"
  expect_rc 1 missing
  run usage import capsdb -d "$conn"
  expect_rc 2 usage
}

# every view of `xcensus query --list`, in every format; JSON must parse
# (catalog entries with a required ARG=TYPE are tested in views_test.sh)
query_all_views() {
  run list query --list; expect_rc 0 list
  views=$(awk '/^[a-z]/ && !/ [a-z_]+=[a-z]/ {print $1}' "$log/list.out")
  [ "$(echo "$views" | wc -l)" -ge 5 ] || fail "query --list: $views"
  for v in $views; do
    for fmt in table csv json; do
      run "q_${v}_$fmt" query -d "$conn" --format "$fmt" "$v"
      expect_rc 0 "q_${v}_$fmt"
    done
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d, list)' \
      "$log/q_${v}_json.out" || fail "$v: JSON does not parse"
  done
  echo "ok: $(echo "$views" | wc -l) views in table, csv and json"
}

t_query_views() {
  import_capsdb_into
  query_all_views
  read -r n_entries n_nodes n_obs n_feats n_soft n_wf <<<"$(capsdb_facts)"
  xc_expect_eq "v_caps_summary" "capsdb-test $n_entries $n_obs $n_nodes $n_wf 33 1611" "$(python3 -c '
import json,sys
for r in json.load(open(sys.argv[1])):
    print(r["source"], r["entries"], r["node_vers"], r["nodes"], r["valid"], r["ill_formed"], r["observations"])
' "$log/q_v_caps_summary_json.out")"
  xc_expect_eq "v_caps_outcomes" "ill-formed lenient 33,valid strict $n_wf" "$(python3 -c '
import json,sys
print(",".join(sorted("%s %s %d" % (r["outcome"], r["matched_by"], r["entries"]) for r in json.load(open(sys.argv[1])))))
' "$log/q_v_caps_outcomes_json.out")"
  xc_expect_eq "v_caps_by_node rows" "$n_nodes" \
    "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$log/q_v_caps_by_node_json.out")"
  xc_expect_eq "v_caps_by_node hashes" "$n_obs" \
    "$(python3 -c 'import json,sys; print(sum(r["hashes"] for r in json.load(open(sys.argv[1]))))' "$log/q_v_caps_by_node_json.out")"
  xc_expect_eq "v_feature_counts rows" "$n_feats" \
    "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$log/q_v_feature_counts_json.out")"
  xc_expect_eq "csv rows of v_caps_by_node" "$((n_nodes + 1))" "$(wc -l <"$log/q_v_caps_by_node_csv.out")"
  grep -q "($n_nodes rows)" "$log/q_v_caps_by_node_table.out" || fail "table footer"
  run badview query -d "$conn" "pg_shadow"; expect_rc 2 badview
}

t_query_empty() {
  conn=$(xc_newdb "$db")
  run migrate migrate -d "$conn"; expect_rc 0 migrate
  query_all_views
  for f in "$log"/q_*_json.out; do
    [ "$f" = "$log/q_overview_json.out" ] && continue # always one row of counts
    [ "$(tr -d ' \n' <"$f")" = "[]" ] || fail "$(basename "$f"): not empty on an empty database"
  done
  echo "ok: every view empty on an empty database"
}

# views added by later migrations are reachable without a change to the
# program; names outside v_[a-z0-9_] or absent from the catalog are refused
t_query_other_views() {
  conn=$(xc_newdb "$db")
  run migrate migrate -d "$conn"; expect_rc 0 migrate
  sql "CREATE VIEW v_test_extra AS SELECT 2 AS n, 'b' AS s UNION ALL SELECT 1, 'a';
       CREATE VIEW w_test_other AS SELECT 1 AS n"
  run list query -d "$conn" --list; expect_rc 0 list
  grep -q '^v_test_extra ' "$log/list.out" || fail "--list misses v_test_extra"
  grep -q 'w_test_other' "$log/list.out" && fail "--list shows w_test_other"
  run extra query -d "$conn" -f csv v_test_extra; expect_rc 0 extra
  xc_expect_eq "v_test_extra as csv" "n,s|1,a|2,b" "$(tr -d '\r' <"$log/extra.out" | paste -sd'|')"
  run other query -d "$conn" w_test_other; expect_rc 2 other
  run absent query -d "$conn" v_test_absent; expect_rc 2 absent
  run inject query -d "$conn" 'v_test_extra"; DROP TABLE sources; --'; expect_rc 2 inject
  xc_expect_eq "sources table still there" 0 "$(sql "SELECT count(*) FROM sources")"
}

# the database named by database.conninfo of --config, when neither -d nor
# XCENSUS_DATABASE is given
t_config_conninfo() {
  conn=$(xc_newdb "$db")
  cat >"$log/xcensus.yaml" <<EOF
database:
  conninfo: "$conn"
EOF
  unset PGDATABASE
  run migrate --config "$log/xcensus.yaml" migrate; expect_rc 0 migrate
  xc_expect_eq "migrated through the config" "$(migrations_count)" \
    "$(sql "SELECT count(*) FROM schema_migrations")"
  run imp --config "$log/xcensus.yaml" import capsdb -q "$src/tests/data/capsdb-outcomes.jsonl"
  expect_rc 0 imp
  run q --config "$log/xcensus.yaml" query -f csv v_caps_summary; expect_rc 0 q
  grep -q '^capsdb-outcomes,import,6,' "$log/q.out" || fail "query: $(cat "$log/q.out")"
  # -d wins over the config
  other=$(xc_newdb "${db}_other")
  run m2 --config "$log/xcensus.yaml" migrate -d "$other"; expect_rc 0 m2
  xc_expect_eq "migrated the -d database" "$(migrations_count)" \
    "$(xc_psql -d "${db}_other" -c "SELECT count(*) FROM schema_migrations")"
}

t_privacy_columns() {
  conn=$(xc_newdb "$db")
  run migrate migrate -d "$conn"; expect_rc 0 migrate
  # columns that could hold text about people (numbers such as a count of
  # simulated presences cannot)
  xc_expect_eq "text columns named like jid/nick/occupant/resource/status/body" "" \
    "$(sql "SELECT table_name || '.' || column_name FROM information_schema.columns
            WHERE table_schema = 'public'
              AND data_type NOT IN ('bigint', 'integer', 'smallint', 'numeric',
                                    'double precision', 'real', 'boolean')
              AND column_name ~* '(jid|nick|occupant|resource|status_?text|body|presence)'")"
  xc_expect_eq "caps_observations columns" "source_id service_id algo ver node count first_seen last_seen" \
    "$(sql "SELECT string_agg(column_name, ' ' ORDER BY ordinal_position) FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name = 'caps_observations'")"
  if sql "INSERT INTO entities (address, kind) VALUES ('room@muc.example.org/SomeNick', 'room')" \
      2>"$log/full_jid.err"; then
    fail "entities accepted a full JID with a resource"
  fi
  echo "ok: entities refuse a full JID"
}

declare -F "t_$case_name" >/dev/null || fail "unrecognized case \"$case_name\""
"t_$case_name"
echo "PASS: $case_name"
