#!/usr/bin/env bash
# views_grow.sh CONNINFO [SCALE]: grows a database that holds the known
# dataset (api_fixture.sh) to about SCALE x 1e6 observations per main table,
# for measuring the catalog and the API (EXPLAIN ANALYZE, bench/): a crawl
# "grow" with 25 daily runs over 20,000 x SCALE domains, each with a server
# and a component (40,000 x SCALE entities):
#   disco_snapshots   25 x 40,000 x SCALE  (2,000 + 200 distinct contents,
#                                           feature sets of 20-60 features)
#   software_versions 25 x 20,000 x SCALE
#   probe_outcomes    25 x 40,000 x SCALE  (ok, timeouts, iq-errors)
#   caps_observations 25 x 1,000 x SCALE services x 40 keys of capsdb
#   jobs              20,000 x SCALE
# Synthetic and deterministic (no random()); not a test. Takes a minute or
# two per SCALE on a small machine. Needs psql (PATH or $XC_PG_BINDIR).
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: views_grow.sh CONNINFO [SCALE]" >&2
  exit 2
fi
conn=$1 scale=${2:-1}
case $scale in '' | *[!0-9]* | 0) echo "views_grow.sh: SCALE must be a positive integer" >&2; exit 2 ;; esac
psql=psql
[ -n "${XC_PG_BINDIR:-}" ] && [ -x "$XC_PG_BINDIR/psql" ] && psql=$XC_PG_BINDIR/psql

"$psql" -X -q -v ON_ERROR_STOP=1 -v scale="$scale" -d "$conn" <<'SQL'
\set ndom (20000 * :scale)
\set nsvc (1000 * :scale)
BEGIN;
INSERT INTO crawls (name, recrawl_interval) VALUES ('grow', '1 day');
INSERT INTO sources (kind, name, created_at)
SELECT 'crawl', format('grow-%s', lpad(r::text, 2, '0')), '2026-04-01'::timestamptz + (r - 1) * interval '1 day'
FROM generate_series(1, 25) r;
INSERT INTO crawl_runs (crawl_id, source_id, state, started_at, finished_at)
SELECT (SELECT id FROM crawls WHERE name = 'grow'), s.id, 'finished', s.created_at,
       s.created_at + interval '2 hours'
FROM sources s WHERE s.name LIKE 'grow-%';

INSERT INTO domains (name, first_seen)
SELECT format('d%s.grow.example', i), '2026-04-01' FROM generate_series(1, :ndom) i;

-- features: 300 synthetic + the fixture's versioned ones
INSERT INTO features (var) SELECT format('urn:grow:feature-%s', i) FROM generate_series(0, 299) i
ON CONFLICT DO NOTHING;
INSERT INTO features (var) VALUES ('urn:xmpp:mam:0'), ('urn:xmpp:mam:1'), ('urn:xmpp:mam:2'),
    ('jabber:iq:privacy'), ('urn:xmpp:blocking') ON CONFLICT DO NOTHING;

-- 2,200 contents: feature sets of 20-60 synthetic features plus a mam mix
CREATE TEMP TABLE grow_c AS
SELECT i,
       ARRAY(SELECT DISTINCT id FROM features
             WHERE (var LIKE 'urn:grow:feature-%'
                    AND (substring(var FROM 18)::int * 7 + i) % (5 + i % 10) = 0)
                OR (var = 'urn:xmpp:mam:0' AND i % 3 = 0)
                OR (var = 'urn:xmpp:mam:1' AND i % 4 <> 0)
                OR (var = 'urn:xmpp:mam:2' AND i % 2 = 0)
                OR (var = 'jabber:iq:privacy' AND i % 5 < 2)
                OR (var = 'urn:xmpp:blocking' AND i % 5 > 0)
             ORDER BY id) AS fids
FROM generate_series(1, 2200) i;
INSERT INTO disco_contents (digest, xml, identity_count, feature_count, feature_ids)
SELECT sha256(convert_to('grow-content-' || i, 'UTF8')), '<query grow=''' || i || '''/>', 1,
       cardinality(fids), fids
FROM grow_c ORDER BY i;
CREATE TEMP TABLE grow_cid AS
SELECT row_number() OVER (ORDER BY id) AS i, id FROM disco_contents
WHERE xml LIKE '<query grow=%';
INSERT INTO disco_identities (content_id, pos, category, type)
SELECT id, 0, CASE WHEN i <= 2000 THEN 'server' ELSE (ARRAY['conference', 'store', 'pubsub'])[1 + i % 3] END,
       CASE WHEN i <= 2000 THEN 'im' ELSE (ARRAY['text', 'file', 'service'])[1 + i % 3] END
FROM grow_cid;

INSERT INTO entities (address, domain_id, kind, first_seen, last_seen)
SELECT d.name, d.id, 'server', '2026-04-01', '2026-04-25' FROM domains d WHERE d.name LIKE '%.grow.example';
INSERT INTO entities (address, domain_id, kind, first_seen, last_seen)
SELECT 'c.' || d.name, d.id, (ARRAY['muc', 'upload', 'pubsub'])[1 + d.id % 3], '2026-04-01', '2026-04-25'
FROM domains d WHERE d.name LIKE '%.grow.example';
COMMIT;

CREATE TEMP TABLE grow_e AS
SELECT e.id, e.kind, e.domain_id, row_number() OVER (ORDER BY e.id) AS n
FROM entities e WHERE e.address LIKE '%.grow.example';
CREATE TEMP TABLE grow_r AS
SELECT s.id AS source_id, s.created_at, row_number() OVER (ORDER BY s.id) AS r
FROM sources s WHERE s.name LIKE 'grow-%';

-- snapshots: servers drift through the content pool as runs pass
INSERT INTO disco_snapshots (source_id, entity_id, content_id, observed_at)
SELECT r.source_id, e.id, c.id, r.created_at + (e.n % 7200) * interval '1 second'
FROM grow_r r CROSS JOIN grow_e e
JOIN grow_cid c ON c.i = CASE WHEN e.kind = 'server' THEN 1 + (e.n * 31 + r.r * (e.n % 3)) % 2000
                              ELSE 2001 + e.n % 200 END;

INSERT INTO software_versions (source_id, entity_id, name, version, os, observed_at)
SELECT r.source_id, e.id, (ARRAY['Prosody', 'ejabberd', 'Openfire', 'Tigase', 'MongooseIM'])[1 + e.n % 5],
       format('%s.%s', e.n % 4, (e.n + r.r / 10) % 6), NULL,
       r.created_at + (e.n % 7200) * interval '1 second'
FROM grow_r r CROSS JOIN grow_e e WHERE e.kind = 'server';

INSERT INTO probe_outcomes (source_id, domain_id, entity_id, probe, outcome, condition, duration_ms, observed_at)
SELECT r.source_id, e.domain_id, e.id, CASE WHEN e.kind = 'server' THEN 'disco-info' ELSE 'version' END,
       CASE WHEN (e.n + r.r) % 17 = 0 THEN 'timeout' WHEN (e.n + r.r) % 23 = 0 THEN 'iq-error' ELSE 'ok' END,
       CASE WHEN (e.n + r.r) % 23 = 0 AND (e.n + r.r) % 17 <> 0 THEN 'service-unavailable' END,
       (e.n % 500), r.created_at + (e.n % 7200) * interval '1 second'
FROM grow_r r CROSS JOIN grow_e e;

INSERT INTO jobs (crawl_id, domain_id, state, attempts, finished_at, next_crawl_at, updated_at)
SELECT (SELECT id FROM crawls WHERE name = 'grow'), d.id, CASE WHEN d.id % 50 = 0 THEN 'failed' ELSE 'done' END,
       1, '2026-04-25 02:00', '2026-04-26 00:00', '2026-04-25 02:00'
FROM domains d WHERE d.name LIKE '%.grow.example';

-- caps counts: 1,000 x SCALE MUC services x 40 capsdb keys per run
CREATE TEMP TABLE grow_k AS
SELECT row_number() OVER (ORDER BY e.id, n.node) AS k, e.algo, e.ver, n.node
FROM caps_entries e JOIN caps_entry_nodes n ON n.entry_id = e.id;
CREATE TEMP TABLE grow_svc AS
SELECT id, row_number() OVER (ORDER BY id) AS n FROM grow_e WHERE kind = 'muc' ORDER BY id LIMIT :nsvc;
INSERT INTO caps_observations (source_id, service_id, algo, ver, node, count, first_seen, last_seen)
SELECT r.source_id, s.id, k.algo, k.ver, k.node, 1 + (s.n + j) % 9, r.created_at, r.created_at
FROM grow_r r CROSS JOIN grow_svc s CROSS JOIN generate_series(0, 39) j
JOIN grow_k k ON k.k = 1 + (s.n * 41 + j * 37 + r.r) % (SELECT count(*) FROM grow_k);

ANALYZE;
SQL
