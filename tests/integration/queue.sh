#!/usr/bin/env bash
# Integration tests of the crawler's job queue (tests/integration/queue.cmake).
#   queue.sh CASE TEST_QUEUE
#   cases  the cmocka cases of test_queue against a fresh database
#   multi  3 claimer processes on one crawl of 120 jobs (60 domains, 2 jobs
#          each), one of them killed with -9 while it holds leases: every
#          job done exactly once, its leases expire (2 s) and the others
#          finish them, a domain never has two jobs at once and two jobs of
#          one domain are at least the minimum interval apart (database
#          clock)
#   cli    xcensus seed and xcensus status
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg_lib.sh"

case_name=${1:?usage: queue.sh CASE TEST_QUEUE}
TQ=${2:?usage: queue.sh CASE TEST_QUEUE}
X=${XCENSUS:?XCENSUS must point at the program}
log=$XC_TEST_LOGDIR
db=xcq_$case_name
ci=$(xc_newdb "$db")
"$X" migrate -d "$ci" >"$log/migrate.out" 2>&1 || { cat "$log/migrate.out"; fail "migrate"; }
sql() { xc_psql -d "$db" -c "$1"; }

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

t_cases() {
  "$TQ" cases "$ci"
}

t_multi() {
  local n=60 lease=2000 minint=50 i
  for i in $(seq -w 1 $n); do echo "d$i.multi.test"; done >"$log/seeds.txt"
  "$X" seed -d "$ci" -n multi --file "$log/seeds.txt" >"$log/seed.out" 2>&1 ||
    { cat "$log/seed.out"; fail "seed"; }
  grep -q "$n added" "$log/seed.out" || fail "seed: $(cat "$log/seed.out")"
  sql "INSERT INTO jobs (crawl_id, domain_id, kind)
       SELECT crawl_id, domain_id, 'direct' FROM jobs
       WHERE crawl_id = (SELECT id FROM crawls WHERE name = 'multi')"
  local total
  total=$(sql "SELECT count(*) FROM jobs")
  xc_expect_eq "jobs" $((2 * n)) "$total"

  "$TQ" worker "$ci" multi test:victim "$log/out.victim" $lease $minint 400 \
    2>"$log/victim.err" &
  local victim=$!
  pids+=("$victim")
  "$TQ" worker "$ci" multi test:a "$log/out.a" $lease $minint 15 2>"$log/a.err" &
  local a=$!
  pids+=("$a")
  "$TQ" worker "$ci" multi test:b "$log/out.b" $lease $minint 15 2>"$log/b.err" &
  local b=$!
  pids+=("$b")

  # kill the victim once it has finished a job and holds leases
  local held=0 t
  for t in $(seq 1 600); do
    if [ -s "$log/out.victim" ]; then
      held=$(sql "SELECT count(*) FROM jobs WHERE state = 'leased' AND lease_owner = 'test:victim'")
      [ "$held" -gt 0 ] && break
    fi
    sleep 0.05
  done
  kill -9 "$victim"
  wait "$victim" 2>/dev/null || true
  sql "SELECT id FROM jobs WHERE state = 'leased' AND lease_owner = 'test:victim' ORDER BY id" \
    >"$log/victim.leases"
  held=$(wc -l <"$log/victim.leases")
  [ "$held" -gt 0 ] || fail "the victim held no lease when killed"
  echo "ok: victim killed holding $held lease(s), $(wc -l <"$log/out.victim") job(s) done"

  local rc=0
  wait "$a" || rc=$?
  [ "$rc" = 0 ] || { cat "$log/a.err"; fail "worker a exited $rc"; }
  wait "$b" || rc=$?
  [ "$rc" = 0 ] || { cat "$log/b.err"; fail "worker b exited $rc"; }
  cat "$log/a.err" "$log/b.err"
  # no claim ever failed: in particular the unique index on leased jobs per
  # domain was never tripped, the claim's own re-check kept them apart
  grep -q " 0 claim errors, finished" "$log/a.err" || fail "worker a had claim errors"
  grep -q " 0 claim errors, finished" "$log/b.err" || fail "worker b had claim errors"

  xc_expect_eq "jobs done" "$total" "$(sql "SELECT count(*) FROM jobs WHERE state = 'done'")"
  cat "$log"/out.* >"$log/all"
  # a completion the victim committed just before -9 but could not write
  # down is the only acceptable gap: such a job's last run is the victim's
  awk '{print $1}' "$log/all" | sort -n >"$log/recorded"
  sql "SELECT id FROM jobs WHERE state = 'done' ORDER BY id" >"$log/done"
  local unrec
  unrec=$(comm -23 <(sort "$log/done") <(sort "$log/recorded") | tr '\n' ' ')
  for id in $unrec; do
    xc_expect_eq "last owner of unrecorded job $id" test:victim \
      "$(sql "SELECT r.settings->>'owner' FROM jobs j JOIN crawl_runs r ON r.id = j.last_run_id
              WHERE j.id = $id")"
  done
  xc_expect_eq "completions recorded" "$total" "$(( $(wc -l <"$log/all") + $(echo $unrec | wc -w) ))"
  xc_expect_eq "jobs completed twice" "" "$(awk '{print $1}' "$log/all" | sort | uniq -d)"
  xc_expect_eq "distinct jobs completed" "$total" \
    "$(( $(awk '{print $1}' "$log/all" | sort -u | wc -l) + $(echo $unrec | wc -w) ))"
  # the victim's leases expired and were finished by the others
  local id
  while read -r id; do
    grep -q "^$id " "$log/out.a" "$log/out.b" || fail "job $id of the victim was not finished"
    [ "$(sql "SELECT attempts FROM jobs WHERE id = $id")" -ge 2 ] ||
      fail "job $id: expected a second attempt"
  done <"$log/victim.leases"
  echo "ok: the victim's $held lease(s) were reaped and finished by the others"
  # per domain: [claimed, completed] intervals never overlap and are at
  # least the minimum interval apart (both ends from the database clock)
  sort -k2,2 -k4,4n "$log/all" | awk -v min="$minint" '
    $2 == dom {
      if ($4 <= end) { print "overlap on " $2 ": " $0; bad = 1 }
      else if (($4 - end) * 1000 < min - 0.01) { print "too soon on " $2 ": " $0; bad = 1 }
      pairs++
    }
    { dom = $2; end = $5 }
    END { print "checked " pairs+0 " consecutive job pairs"; exit bad }' ||
    fail "two jobs of one domain overlapped or came too soon"
  xc_expect_eq "leased jobs left" 0 "$(sql "SELECT count(*) FROM jobs WHERE state = 'leased'")"
  xc_expect_eq "domains still marked leased" 0 \
    "$(sql "SELECT count(*) FROM domains WHERE leased_job_id IS NOT NULL")"
  xc_expect_eq "runs finished" 2 "$(sql "SELECT count(*) FROM crawl_runs WHERE state = 'finished'")"
  "$X" status -d "$ci" -n multi >"$log/status.out"
  cat "$log/status.out"
  grep -q "done      $total" "$log/status.out" || fail "status does not show $total done"
}

t_cli() {
  run() { local name=$1; shift; rc=0; "$X" "$@" >"$log/$name.out" 2>"$log/$name.err" || rc=$?; }
  expect_rc() { [ "$rc" = "$1" ] || { cat "$log/$2.out" "$log/$2.err"; fail "$2: exit $rc, expected $1"; }; }

  run help seed --help; expect_rc 0 help
  grep -q "usage: xcensus seed" "$log/help.out" || fail "seed --help"
  run help2 status --help; expect_rc 0 help2
  run noargs seed -d "$ci"; expect_rc 2 noargs

  # a database never migrated, and an empty one, are normal answers
  local raw
  raw=$(xc_newdb xcq_cli_raw)
  run raw status -d "$raw"; expect_rc 0 raw
  grep -q "no crawls yet" "$log/raw.out" || fail "status on a database without schema"
  run rawj status -d "$raw" --json; expect_rc 0 rawj
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d == {"crawls": []}, d' \
    "$log/rawj.out" || fail "status --json on a database without schema"
  run rawseed seed -d "$raw" a.test; expect_rc 1 rawseed
  grep -q "xcensus migrate" "$log/rawseed.err" || fail "seed on a database without schema"
  run empty status -d "$ci"; expect_rc 0 empty
  grep -q "no crawls yet" "$log/empty.out" || fail "status on an empty database: $(cat "$log/empty.out")"
  run emptyj status -d "$ci" --json; expect_rc 0 emptyj
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d == {"crawls": []}, d' \
    "$log/emptyj.out" || fail "status --json on an empty database"
  run missing status -d "$ci" -n nosuch; expect_rc 1 missing

  printf '%s\n' "# seeds" "Alpha.Test." "beta.test  # trailing comment" "" "bad_name.test" \
    "alpha.test" "two names.test" "$(printf 'b\xc3\xbcr.test')" >"$log/seeds.txt"
  run seed1 seed -d "$ci" -n c1 --file "$log/seeds.txt" gamma.test 10.0.0.1
  expect_rc 1 seed1
  cat "$log/seed1.out" "$log/seed1.err"
  grep -q 'crawl "c1": 3 added, 1 already present, 4 rejected' "$log/seed1.out" ||
    fail "seed counts: $(cat "$log/seed1.out")"
  grep -q "seeds.txt:5: domain \"bad_name.test\"" "$log/seed1.err" || fail "file:line of a bad name"
  grep -q "seeds.txt:7: more than one name" "$log/seed1.err" || fail "two names on a line"
  grep -q "seeds.txt:8: .*non-ASCII" "$log/seed1.err" || fail "non-ASCII name message"
  grep -q 'domain "10.0.0.1": an IP address' "$log/seed1.err" || fail "IP literal message"
  xc_expect_eq "domains" "alpha.test beta.test gamma.test" \
    "$(sql "SELECT string_agg(name, ' ' ORDER BY name) FROM domains")"

  # idempotent
  run seed2 seed -d "$ci" -n c1 alpha.test BETA.test; expect_rc 0 seed2
  grep -q 'crawl "c1": 0 added, 2 already present, 0 rejected' "$log/seed2.out" ||
    fail "second seed: $(cat "$log/seed2.out")"
  xc_expect_eq "jobs" 3 "$(sql "SELECT count(*) FROM jobs")"

  # the configuration: database.conninfo and crawl.name / scope
  printf 'database:\n  conninfo: "%s"\ncrawl:\n  name: "fromconfig"\n  scope: discovered\n  recrawl_interval: 2d\n' \
    "$ci" >"$log/cfg.yaml"
  run seed3 --config "$log/cfg.yaml" seed delta.test; expect_rc 0 seed3
  xc_expect_eq "crawl from config" "discovered true" \
    "$(sql "SELECT scope || ' ' || (recrawl_interval = interval '2 days') FROM crawls WHERE name = 'fromconfig'")"

  # status: counts by state, failed by class, rate
  sql "UPDATE jobs SET state = 'failed', last_error_class = 'timeout', attempts = 5,
         finished_at = now() WHERE domain_id = (SELECT id FROM domains WHERE name = 'alpha.test');
       UPDATE jobs SET state = 'done', finished_at = now()
         WHERE domain_id = (SELECT id FROM domains WHERE name = 'beta.test');
       INSERT INTO deny_list (pattern, match) VALUES ('test', 'suffix')"
  run st status -d "$ci" -n c1; expect_rc 0 st
  cat "$log/st.out"
  grep -q "queued    1 (0 due now, 0 retrying, 1 deny-listed)" "$log/st.out" || fail "status queued"
  grep -q "done      1" "$log/st.out" || fail "status done"
  grep -q "failed  timeout 1" "$log/st.out" || fail "status failed by class"
  grep -q "rate      2 jobs/min over the last minute" "$log/st.out" || fail "status rate"
  run stj status -d "$ci" --json; expect_rc 0 stj
  python3 - "$log/stj.out" <<'PY' || fail "status --json content"
import json, sys
d = json.load(open(sys.argv[1]))
c = {x["crawl"]: x for x in d["crawls"]}
assert set(c) == {"c1", "fromconfig"}, c.keys()
x = c["c1"]
assert (x["total"], x["queued"], x["done"], x["failed"], x["denied"]) == (3, 1, 1, 1, 1), x
assert x["failed_by_class"] == {"timeout": 1}, x
assert x["finished_1m"] == 2 and x["eta_seconds"] is not None, x
print("ok: status --json", x["eta_seconds"])
PY
}

"t_$case_name"
