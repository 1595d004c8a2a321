#!/usr/bin/env bash
# Crawls a small test network (Prosody and ejabberd over real s2s and DNS,
# unreachable, slow and hostile domains) with one crawler process running
# inside the network's namespace, then checks what the database holds
# against the network's truth file (crawl_testnet_check.py).
#   crawl_testnet.sh BIN_DIR WORK_DIR
. "$(dirname "$0")/pg_lib.sh"
bin=$1 work=$2
[ "$(id -u)" -eq 0 ] || xc_skip_or_fail "needs root for network namespaces"
command -v ip >/dev/null || xc_skip_or_fail "iproute2 missing"
[ -x "$bin/xc-population" ] || fail "test network programs not built in $bin"

net="xccrawl$$"
state="$work/state"
rm -rf "$work"; mkdir -p "$work"
tn() { python3 "$XC_SOURCE_DIR/tests/testnet/testnet" "$@"; }
cleanup() { tn down --state "$state" >"$work/down.log" 2>&1 || true; }
trap cleanup EXIT

# misbehaving clients well above their default shares, so that each kind of
# verdict occurs in a small network
tn up --domains 14 --rooms 6 --clients 40 --state "$state" --name "$net" \
  --bin-dir "$bin" --slow-delay 6 --softinfo-share 0.3 --caps2-share 0.2 \
  --share-poison 0.06 --share-escape-lt 0.06 --share-escape-xml 0.05 \
  --share-formless-forms 0.05 --share-lenient-dups 0.06 --share-no-answer 0.05 \
  --share-slow-answer 0.05 --share-huge 0.03 >"$work/up.log" 2>&1 \
  || { tail -30 "$work/up.log"; fail "testnet up"; }
truth="$state/truth.json"
host=$(python3 -c "import json; print(json.load(open('$truth'))['crawler']['host'])")

db=$(xc_newdb crawl_testnet)
cat >"$work/xcensus.yaml" <<YAML
crawl:
  name: testnet
  max_attempts: 2
  backoff: {timeout: 1s, remote_server_not_found: 1s, service_unavailable: 1s, other: 1s, max: 2s}
politeness: {min_interval: 0s}
limits: {iq_timeout: 4s}
census: {join_duration: 6s, resolve_timeout: 4s, min_occupants: 1}
log: {progress: never}
database: {spill_dir: $work/spill}
accounts:
  - jid: crawler@hub.xnet
    password_file: $state/crawler.password
    host: $host
    port: 5222
    tls: plaintext-loopback-only
YAML
"$XCENSUS" migrate -d "$db" >"$work/migrate.log" 2>&1
python3 -c "import json; [print(d) for d in json.load(open('$truth'))['domains']]" >"$work/domains.txt"
"$XCENSUS" --config "$work/xcensus.yaml" seed -d "$db" --file "$work/domains.txt" >"$work/seed.log" 2>&1 \
  || { cat "$work/seed.log"; fail "seed"; }
timeout 400 ip netns exec "$net" "$XCENSUS" --config "$work/xcensus.yaml" --log-level debug \
  crawl -d "$db" --exit-when-done >"$work/crawl.log" 2>&1 || { tail -30 "$work/crawl.log"; fail "crawl"; }
# the privacy check reads everything the database holds
"$XC_PG_BINDIR/pg_dump" -d "$db" --data-only >"$work/dump.sql"

dump() { xc_psql -d "$db" -c "$1"; }
dump "SELECT coalesce(json_object_agg(e.address, json_build_object(
    'kind', e.kind,
    'identities', (SELECT coalesce(json_agg(json_build_object('category', i.category, 'type', i.type,
                   'name', i.name, 'lang', i.lang)), '[]') FROM disco_identities i WHERE i.content_id = s.content_id),
    'features', (SELECT coalesce(json_agg(f.var), '[]') FROM v_content_features f WHERE f.content_id = s.content_id),
    'form_types', (SELECT coalesce(json_agg(fm.form_type), '[]') FROM disco_forms fm WHERE fm.content_id = s.content_id))), '{}')
  FROM entities e JOIN LATERAL (SELECT content_id FROM disco_snapshots x WHERE x.entity_id = e.id
                                ORDER BY x.observed_at DESC LIMIT 1) s ON true" >"$work/entities.json"
dump "SELECT coalesce(json_object_agg(e.address, json_build_object('name', v.name, 'version', v.version)), '{}')
  FROM software_versions v JOIN entities e ON e.id = v.entity_id" >"$work/versions.json"
dump "SELECT coalesce(json_object_agg(d.name, json_build_object('state', j.state, 'class', j.last_error_class)), '{}')
  FROM jobs j JOIN domains d ON d.id = j.domain_id" >"$work/jobs.json"
dump "SELECT coalesce(json_agg(json_build_object('domain', e.address, 'probe', o.probe,
    'outcome', o.outcome, 'condition', o.condition)), '[]')
  FROM probe_outcomes o JOIN entities e ON e.id = o.entity_id WHERE o.probe LIKE 'direct-%'" >"$work/direct.json"
dump "SELECT coalesce(json_agg(json_build_object('domain', d.name, 'stream', f.stream, 'phase', f.phase,
    'mechanisms', f.mechanisms, 'dialback', f.dialback)), '[]')
  FROM stream_features f JOIN domains d ON d.id = f.domain_id" >"$work/streams.json"
dump "SELECT coalesce(json_object_agg(algo || ' ' || ver, json_build_object('outcome', outcome,
    'error', error, 'matched_by', matched_by)), '{}') FROM caps_entries" >"$work/caps_entries.json"
dump "SELECT coalesce(json_object_agg(k, n), '{}') FROM (SELECT algo || ' ' || ver AS k, sum(count) AS n
    FROM caps_observations GROUP BY 1) x" >"$work/caps_obs.json"
dump "SELECT coalesce(json_agg(json_build_object('address', e.address, 'probe', o.probe, 'outcome', o.outcome,
    'condition', o.condition)), '[]') FROM probe_outcomes o JOIN entities e ON e.id = o.entity_id" >"$work/outcomes.json"
"$XCENSUS" analyze -d "$db" --json --no-store --presences 20000 >"$work/analysis.json" \
  2>"$work/analyze.log" || { cat "$work/analyze.log"; fail "analyze"; }
python3 "$(dirname "$0")/crawl_testnet_check.py" "$truth" "$work"
