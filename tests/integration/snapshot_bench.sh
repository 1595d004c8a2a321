#!/usr/bin/env bash
# Snapshot figures for docs/BENCHMARKS.md (not a test: it prints numbers).
#   snapshot_bench.sh XCENSUS PGDIR [GROW]
# XCENSUS: the program (a Release build); PGDIR: a cluster started with
# `scripts/pg start --fast PGDIR`. Loads the known dataset (api_fixture.sh:
# capsdb import + three census runs) into a fresh database, then, with
# GROW > 0, GROW x ~500k synthetic observation rows (20k domains, their
# servers' disco#info, versions and probe outcomes in five runs, caps counts
# in ten MUC services); times export, verify-only, import into an empty
# database and a second export, and prints sizes.
set -euo pipefail
xc=$(realpath "${1:?usage: snapshot_bench.sh XCENSUS PGDIR [GROW]}")
pgdir=${2:?usage: snapshot_bench.sh XCENSUS PGDIR [GROW]}
grow=${3:-0}
src=$(cd "$(dirname "$0")/../.." && pwd)
eval "$("$src/scripts/pg" env "$pgdir")"
psql() { "$XC_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
newdb() {
  "$XC_PG_BINDIR/dropdb" --if-exists "$1" >/dev/null 2>&1
  "$XC_PG_BINDIR/createdb" "$1"
  echo "host=$PGHOST port=$PGPORT dbname=$1 user=$PGUSER"
}
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }
work=$(mktemp -d /tmp/xc-snapbench.XXXXXX)
trap 'rm -rf "$work"' EXIT

db1=$(newdb snapbench_src)
XCENSUS=$xc XC_SOURCE_DIR=$src bash "$src/tests/integration/api_fixture.sh" "$db1"
if [ "$grow" -gt 0 ]; then
  psql -d "$db1" -v g="$grow" <<'EOF'
BEGIN;
INSERT INTO crawls (name) VALUES ('bench');
INSERT INTO sources (kind, name, created_at)
SELECT 'crawl', 'bench-run-' || r, timestamptz '2026-04-01 00:00+00' + r * interval '7 days'
FROM generate_series(1, 5) r;
INSERT INTO crawl_runs (crawl_id, source_id, state, started_at, finished_at, xcensus_version)
SELECT c.id, s.id, 'finished', s.created_at, s.created_at + interval '6 hours', 'bench'
FROM crawls c, sources s WHERE c.name = 'bench' AND s.name LIKE 'bench-run-%';
INSERT INTO domains (name, first_seen)
SELECT 'd' || i || '.bench.example', timestamptz '2026-04-01 00:00+00'
FROM generate_series(1, 20000 * :g) i;
INSERT INTO entities (address, domain_id, kind, first_seen, last_seen)
SELECT d.name, d.id, 'server', d.first_seen, d.first_seen FROM domains d
WHERE d.name LIKE '%.bench.example';
INSERT INTO entities (address, domain_id, kind, first_seen, last_seen)
SELECT 'conference.' || d.name, d.id, 'muc', d.first_seen, d.first_seen FROM domains d
WHERE d.name LIKE '%.bench.example' ORDER BY d.id LIMIT 10;
WITH c AS (SELECT array_agg(id ORDER BY id) a FROM disco_contents),
     s AS (SELECT id, created_at FROM sources WHERE name LIKE 'bench-run-%'),
     e AS (SELECT id, domain_id FROM entities WHERE kind = 'server' AND address LIKE '%.bench.example')
INSERT INTO disco_snapshots (source_id, entity_id, content_id, observed_at)
SELECT s.id, e.id, c.a[1 + (e.id * 7 + s.id) % cardinality(c.a)], s.created_at + (e.id % 3600) * interval '1 second'
FROM s, e, c;
WITH s AS (SELECT id, created_at FROM sources WHERE name LIKE 'bench-run-%'),
     e AS (SELECT id, domain_id FROM entities WHERE kind = 'server' AND address LIKE '%.bench.example')
INSERT INTO software_versions (source_id, entity_id, name, version, os, observed_at)
SELECT s.id, e.id, (ARRAY['Prosody', 'ejabberd', 'Openfire'])[1 + e.id % 3],
       (ARRAY['0.12.4', '13.0.0', '23.10', '24.02'])[1 + (e.id + s.id) % 4], NULL,
       s.created_at + (e.id % 3600) * interval '1 second'
FROM s, e;
WITH s AS (SELECT id, created_at FROM sources WHERE name LIKE 'bench-run-%'),
     e AS (SELECT id, domain_id FROM entities WHERE kind = 'server' AND address LIKE '%.bench.example'),
     p AS (SELECT unnest(ARRAY['disco-info', 'version']) probe)
INSERT INTO probe_outcomes (source_id, domain_id, entity_id, probe, outcome, duration_ms, observed_at)
SELECT s.id, e.domain_id, e.id, p.probe, CASE WHEN e.id % 17 = 0 THEN 'timeout' ELSE 'ok' END,
       (e.id * 13) % 900, s.created_at + (e.id % 3600) * interval '1 second'
FROM s, e, p;
WITH s AS (SELECT id, created_at FROM sources WHERE name LIKE 'bench-run-%'),
     m AS (SELECT id FROM entities WHERE kind = 'muc' AND address LIKE 'conference.%.bench.example')
INSERT INTO caps_observations (source_id, service_id, algo, ver, node, count, first_seen, last_seen)
SELECT s.id, m.id, ce.algo, ce.ver, n.node, 1 + (ce.id * 31 + m.id) % 50, s.created_at, s.created_at
FROM s, m, caps_entry_nodes n JOIN caps_entries ce ON ce.id = n.entry_id;
COMMIT;
ANALYZE;
EOF
fi
dbsize=$(psql -At -d "$db1" -c "SELECT pg_size_pretty(pg_database_size(current_database()))")

t0=$(now); "$xc" --log-level debug export -q --snapshot "$work/a" -d "$db1" 2>"$work/export.log"; t1=$(now)
t2=$(now); "$xc" import snapshot -q --verify-only "$work/a"; t3=$(now)
db2=$(newdb snapbench_dst)
t4=$(now); "$xc" --log-level debug import snapshot -q "$work/a" -d "$db2" 2>"$work/import.log"; t5=$(now)
t6=$(now); "$xc" export -q --snapshot "$work/b" -d "$db1"; t7=$(now)
rows=$(python3 -c 'import json,sys; print(sum(t["rows"] for t in json.load(open(sys.argv[1]))["tables"]))' "$work/a/manifest.json")
same=yes
for f in "$work"/a/*.csv "$work"/a/*.jsonl; do cmp -s "$f" "$work/b/$(basename "$f")" || same=no; done
csv=$(cat "$work"/a/*.csv | wc -c)
jsonl=$(cat "$work"/a/*.jsonl | wc -c)
all=$(du -sb "$work/a" | cut -f1)
gz=$(tar -C "$work" -cf - a | gzip -6 | wc -c)
zst=n/a
command -v zstd >/dev/null && zst=$(tar -C "$work" -cf - a | zstd -q -3 -c | wc -c)
mb() { echo "$1 / 1048576" | bc -l | xargs printf '%.1f'; }
echo "| dataset | rows | database | export | verify-only | import (verify + load) | re-export identical | CSV | JSON Lines | all files | tar.gz | tar.zst |"
echo "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
echo "| api_fixture + ${grow}x grow | $rows | $dbsize | $(secs "$t0" "$t1") s | $(secs "$t2" "$t3") s | $(secs "$t4" "$t5") s | $same ($(secs "$t6" "$t7") s) | $(mb "$csv") MiB | $(mb "$jsonl") MiB | $(mb "$all") MiB | $(mb "$gz") MiB | $( [ "$zst" = n/a ] && echo n/a || mb "$zst") MiB |"
echo "slowest tables to export:"
grep -o 'exported [a-z_0-9]*: .*' "$work/export.log" | sort -t' ' -k3 -rn | head -4
echo "slowest tables to load:"
grep -o 'loaded [a-z_0-9]*: .*' "$work/import.log" | sort -t' ' -k6 -rn | head -5
if [ -z "${XC_SNAPBENCH_KEEP:-}" ]; then
  "$XC_PG_BINDIR/dropdb" snapbench_src
  "$XC_PG_BINDIR/dropdb" snapbench_dst
fi
