#!/usr/bin/env bash
# One crawler process against a private Prosody (one domain with a MUC
# component, no s2s): `xcensus seed` then `xcensus crawl --exit-when-done`.
# What the database holds afterwards must be what the server offers: the
# domain done with its disco#info, version and component; an unreachable
# domain failed with an error class after its attempts; every query an
# outcome row; the run closed.
. "$(dirname "$0")/pg_lib.sh"
command -v prosody >/dev/null || xc_skip_or_fail "prosody not installed"

db=$(xc_newdb crawl_private)
work="$XC_TEST_LOGDIR"
prosody_dir="$work/prosody"
port=$(python3 "$XC_SOURCE_DIR/tests/integration/free_port.py") || fail "no free port"
cleanup() { bash "$XC_SOURCE_DIR/tests/testnet/prosody_private.sh" stop "$prosody_dir" || true; }
trap cleanup EXIT
bash "$XC_SOURCE_DIR/tests/testnet/prosody_private.sh" start "$prosody_dir" probe.xnet "$port" \
  crawler:crawlpw >"$work/prosody-start.log" 2>&1 || { cat "$work/prosody-start.log"; fail "prosody did not start"; }

cat >"$work/xcensus.yaml" <<YAML
crawl:
  name: private
  max_attempts: 2
  lease: 30s
  heartbeat_interval: 5s
  backoff:
    timeout: 1s
    remote_server_not_found: 1s
    service_unavailable: 1s
    other: 1s
    max: 2s
politeness:
  min_interval: 0s
  identify:
    name: xcensus-test
    policy_url: https://example.org/crawler
database:
  spill_dir: $work/spill
limits:
  iq_timeout: 5s
log:
  progress: never
# no direct stream probes here: outside the test network's namespace they
# would ask the system's DNS, which is not on loopback; and any lookup at
# all goes to a loopback port where nothing answers
direct:
  enabled: false
dns:
  servers: "127.0.0.1:9"
accounts:
  - jid: crawler@probe.xnet
    password_env: XC_TEST_CRAWLER_PASSWORD
    host: 127.0.0.1
    port: $port
    tls: plaintext-loopback-only
YAML
export XC_TEST_CRAWLER_PASSWORD=crawlpw
"$XCENSUS" config check "$work/xcensus.yaml"
"$XCENSUS" migrate -d "$db" >"$work/migrate.log" 2>&1
"$XCENSUS" --config "$work/xcensus.yaml" seed -d "$db" --crawl private probe.xnet nowhere.xnet \
  >"$work/seed.log" 2>&1 || { cat "$work/seed.log"; fail "seed failed"; }
timeout 180 "$XCENSUS" --config "$work/xcensus.yaml" --log-level debug crawl -d "$db" \
  --exit-when-done >"$work/crawl.log" 2>&1 || { tail -40 "$work/crawl.log"; fail "crawl failed"; }

q() { xc_psql -d "$db" -c "$1"; }
xc_expect_eq "probe.xnet job" done "$(q "SELECT j.state FROM jobs j JOIN domains d ON d.id = j.domain_id WHERE d.name = 'probe.xnet'")"
xc_expect_eq "nowhere.xnet job" failed "$(q "SELECT j.state FROM jobs j JOIN domains d ON d.id = j.domain_id WHERE d.name = 'nowhere.xnet'")"
xc_expect_eq "nowhere.xnet class" other "$(q "SELECT j.last_error_class FROM jobs j JOIN domains d ON d.id = j.domain_id WHERE d.name = 'nowhere.xnet'")"
xc_expect_eq "nowhere.xnet attempts" 2 "$(q "SELECT j.attempts FROM jobs j JOIN domains d ON d.id = j.domain_id WHERE d.name = 'nowhere.xnet'")"
xc_expect_eq "server entity kind" server "$(q "SELECT kind FROM entities WHERE address = 'probe.xnet'")"
xc_expect_eq "MUC entity kind" muc "$(q "SELECT kind FROM entities WHERE address = 'conference.probe.xnet'")"
xc_expect_eq "snapshots" 2 "$(q "SELECT count(DISTINCT e.address) FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id")"
xc_expect_eq "server identity" "server/im" "$(q "SELECT i.category || '/' || i.type FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id JOIN disco_identities i ON i.content_id = s.content_id WHERE e.address = 'probe.xnet'")"
xc_expect_eq "server version name" Prosody "$(q "SELECT v.name FROM software_versions v JOIN entities e ON e.id = v.entity_id WHERE e.address = 'probe.xnet'")"
xc_expect_eq "disco#items link" 1 "$(q "SELECT count(*) FROM disco_item_links l JOIN entities p ON p.id = l.parent_id JOIN entities c ON c.id = l.child_id WHERE p.address = 'probe.xnet' AND c.address = 'conference.probe.xnet'")"
# every query is an outcome: 5 for probe.xnet (its MUC component does not
# answer XEP-0092), 3 per attempt for the unreachable domain, which this
# server (no s2s) refuses with not-allowed, and the census's listing of the
# MUC service's rooms (it has none)
xc_expect_eq "ok outcomes" 5 "$(q "SELECT count(*) FROM probe_outcomes WHERE outcome = 'ok'")"
xc_expect_eq "census room listing" ok "$(q "SELECT o.outcome FROM probe_outcomes o JOIN entities e ON e.id = o.entity_id WHERE e.address = 'conference.probe.xnet' AND o.probe = 'disco-items'")"
xc_expect_eq "component version" "iq-error service-unavailable" "$(q "SELECT o.outcome || ' ' || o.condition FROM probe_outcomes o JOIN entities e ON e.id = o.entity_id WHERE e.address = 'conference.probe.xnet' AND o.probe = 'version'")"
xc_expect_eq "unreachable outcomes" "6 not-allowed" "$(q "SELECT count(*) || ' ' || min(o.condition) FROM probe_outcomes o JOIN entities e ON e.id = o.entity_id WHERE e.address = 'nowhere.xnet' AND o.outcome = 'iq-error'")"
xc_expect_eq "outcomes with a job" 11 "$(q "SELECT count(*) FROM probe_outcomes WHERE job_id IS NOT NULL")"
xc_expect_eq "run closed" finished "$(q "SELECT state FROM crawl_runs ORDER BY id DESC LIMIT 1")"
xc_expect_eq "nothing spilled" 0 "$(find "$work/spill" -type f -name '*.batch' 2>/dev/null | wc -l)"
"$XCENSUS" status -d "$db" >"$work/status.log" 2>&1 || { cat "$work/status.log"; fail "status failed"; }

# operator signals on a crawler that waits for work: SIGHUP with a broken
# file keeps the running configuration, SIGHUP with a good one reloads,
# SIGTERM stops cleanly and closes the run
cp "$work/xcensus.yaml" "$work/live.yaml"
"$XCENSUS" --config "$work/live.yaml" crawl -d "$db" >"$work/signals.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do grep -q "online" "$work/signals.log" && break; sleep 0.1; done
printf 'crawl:\n  lease: banana\n' >"$work/live.yaml"
kill -HUP $cpid
for _ in $(seq 50); do grep -q "keeping the running one" "$work/signals.log" && break; sleep 0.1; done
grep -q "keeping the running one" "$work/signals.log" || { cat "$work/signals.log"; fail "bad reload not refused"; }
cp "$work/xcensus.yaml" "$work/live.yaml"
kill -HUP $cpid
for _ in $(seq 50); do grep -q "configuration reloaded" "$work/signals.log" && break; sleep 0.1; done
grep -q "configuration reloaded" "$work/signals.log" || { cat "$work/signals.log"; fail "good reload not applied"; }
kill -TERM $cpid
wait $cpid || { tail "$work/signals.log"; fail "crawler did not stop cleanly on SIGTERM"; }
xc_expect_eq "runs closed" 2 "$(q "SELECT count(*) FROM crawl_runs WHERE state = 'finished'")"
echo "crawl: ok"
