-- 0030_api_views: the views and functions behind the query catalog
-- (lib/apicat.c): `xcensus query NAME`, GET /api/v1/NAME, the dashboards
-- and the snapshots read these. Part of the view contract (docs/SCHEMA.md,
-- "Catalog views"). Every view returns correct (possibly empty) results on
-- an empty database, except v_overview, which is always one row.
--
-- Conventions
--  * "latest" of an entity = its newest disco#info snapshot (or XEP-0092
--    answer), by observed_at then id; an entity is "answering" when it has
--    at least one disco#info snapshot.
--  * days are UTC dates of observed_at.
--  * a versioned namespace is a feature var ending in ":N" (N decimal):
--    base = the part before, version = N (urn:xmpp:mam:2 -> urn:xmpp:mam, 2).
--  * percentages are numeric rounded to one decimal; NULL when the
--    denominator is 0.
--  * clients are caps entries (distinct XEP-0115 algo+ver) with their
--    disco#info; their software is the XEP-0232 software name when the
--    entry carries one, else the caps node.

-- ---------------------------------------------------------------------------
-- Indexes the catalog needs
-- ---------------------------------------------------------------------------

-- latest snapshot / version per entity with a total tie-break
CREATE INDEX disco_snapshots_entity_latest_idx
    ON disco_snapshots (entity_id, observed_at DESC, id DESC) INCLUDE (content_id);
CREATE INDEX software_versions_entity_latest_idx
    ON software_versions (entity_id, observed_at DESC, id DESC);
-- adoption over time: snapshots by content
CREATE INDEX disco_snapshots_content_idx ON disco_snapshots (content_id);
-- last success of a domain, recent outcomes (crawl health)
CREATE INDEX probe_outcomes_domain_ok_idx
    ON probe_outcomes (domain_id, observed_at DESC) WHERE outcome = 'ok';
CREATE INDEX probe_outcomes_observed_idx ON probe_outcomes (observed_at);
-- caps observations per node (client software)
CREATE INDEX caps_observations_node_idx ON caps_observations (node) INCLUDE (count);
-- latest job of a domain
CREATE INDEX jobs_domain_updated_idx ON jobs (domain_id, updated_at DESC, id DESC);

-- ---------------------------------------------------------------------------
-- Helper functions
-- ---------------------------------------------------------------------------

-- The class of a probe outcome (probe_outcomes.outcome): ok, error-reply,
-- timeout, dns, network, tls, protocol, local, other.
CREATE FUNCTION xc_outcome_class(outcome text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN outcome = 'ok' THEN 'ok'
        WHEN outcome = 'iq-error' THEN 'error-reply'
        WHEN outcome IN ('timeout', 'dns-timeout', 'connect-timeout', 'read-timeout',
                         'tls-timeout') THEN 'timeout'
        WHEN outcome IN ('nxdomain', 'no-service', 'no-address', 'dns-error', 'bad-name')
            THEN 'dns'
        WHEN outcome IN ('connect-refused', 'connect-failed', 'closed') THEN 'network'
        WHEN outcome IN ('tls-failed', 'starttls-failed') THEN 'tls'
        WHEN outcome IN ('malformed', 'malformed-xml', 'doctype', 'too-large', 'not-xmpp',
                         'no-features', 'stream-error') THEN 'protocol'
        WHEN outcome IN ('session-lost', 'local-error', 'cancelled') THEN 'local'
        ELSE 'other'
    END
$$;

-- The base of a versioned namespace ("urn:xmpp:mam:2" -> "urn:xmpp:mam"),
-- NULL when var does not end in ":N".
CREATE FUNCTION xc_ns_base(var text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN var ~ '^.+:[0-9]{1,9}$' THEN regexp_replace(var, ':[0-9]+$', '') END
$$;

-- The version of a versioned namespace ("urn:xmpp:mam:2" -> 2), else NULL.
CREATE FUNCTION xc_ns_version(var text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN var ~ '^.+:[0-9]{1,9}$'
                THEN substring(var FROM ':([0-9]+)$')::integer END
$$;

-- percent a of b, one decimal; NULL when b is 0
CREATE FUNCTION xc_percent(a numeric, b numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(100.0 * a / nullif(b, 0), 1)
$$;

-- ---------------------------------------------------------------------------
-- Latest state
-- ---------------------------------------------------------------------------

-- Each answering entity with its latest disco#info snapshot and its latest
-- XEP-0092 answer (NULLs when it never answered one).
CREATE VIEW v_entity_latest AS
SELECT e.id AS entity_id, e.address, e.node, e.kind, e.domain_id,
       d.content_id, d.observed_at AS disco_at, d.source_id,
       v.name AS software, v.version, v.os, v.observed_at AS version_at
FROM entities e
CROSS JOIN LATERAL (
    SELECT s.content_id, s.observed_at, s.source_id
    FROM disco_snapshots s
    WHERE s.entity_id = e.id
    ORDER BY s.observed_at DESC, s.id DESC
    LIMIT 1) d
LEFT JOIN LATERAL (
    SELECT sv.name, sv.version, sv.os, sv.observed_at
    FROM software_versions sv
    WHERE sv.entity_id = e.id
    ORDER BY sv.observed_at DESC, sv.id DESC
    LIMIT 1) v ON true;

-- Every entity that the catalog counts, with its kind group ('server',
-- 'component', 'client') and the software name it is grouped by: answering
-- servers and components (latest disco#info, XEP-0092 name or "(no
-- answer)"), and clients (caps entries with a disco#info; XEP-0232 software
-- or the caps node). Rooms and unknown entities are left out.
CREATE VIEW v_catalog_entities AS
SELECT CASE WHEN l.kind = 'server' THEN 'server' ELSE 'component' END AS kind,
       coalesce(l.software, '(no answer)') AS software,
       l.content_id,
       'entity:' || l.entity_id AS key
FROM v_entity_latest l
WHERE l.kind NOT IN ('room', 'unknown')
UNION ALL
SELECT 'client',
       coalesce((SELECT si.software FROM softinfo si
                 WHERE si.content_id = e.content_id AND si.software <> ''),
                (SELECT min(n.node) FROM caps_entry_nodes n WHERE n.entry_id = e.id),
                '(unknown)'),
       e.content_id,
       'caps:' || e.id
FROM caps_entries e
WHERE e.content_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- overview
-- ---------------------------------------------------------------------------

-- One row: what the census holds.
CREATE VIEW v_overview AS
SELECT (SELECT count(*) FROM domains) AS domains,
       (SELECT count(DISTINCT domain_id) FROM jobs WHERE state IN ('done', 'failed'))
                                                       AS domains_crawled,
       (SELECT count(*) FROM entities e WHERE e.kind = 'server'
          AND EXISTS (SELECT 1 FROM disco_snapshots s WHERE s.entity_id = e.id))
                                                       AS servers_answering,
       (SELECT count(*) FROM entities e WHERE e.kind NOT IN ('server', 'room', 'unknown')
          AND EXISTS (SELECT 1 FROM disco_snapshots s WHERE s.entity_id = e.id))
                                                       AS components,
       (SELECT count(*) FROM entities WHERE kind = 'room') AS rooms,
       (SELECT count(*) FROM caps_entries)             AS caps_hashes,
       (SELECT coalesce(sum(count), 0) FROM caps_observations)::bigint AS caps_observations,
       (SELECT count(DISTINCT node) FROM caps_entry_nodes) AS client_software,
       (SELECT count(*) FROM features)                 AS features,
       (SELECT count(*) FROM crawl_runs)               AS crawl_runs,
       (SELECT max(coalesce(finished_at, started_at)) FROM crawl_runs) AS last_crawl,
       (SELECT max(created_at) FROM analysis_runs)     AS last_analysis;

-- ---------------------------------------------------------------------------
-- software
-- ---------------------------------------------------------------------------

-- Each answering server with its latest XEP-0092 answer.
CREATE VIEW v_server_latest AS
SELECT l.entity_id, l.address, l.domain_id, l.content_id, l.disco_at,
       coalesce(l.software, '(no answer)') AS software,
       coalesce(l.version, '') AS version, l.os, l.version_at
FROM v_entity_latest l
WHERE l.kind = 'server';

-- Server software shares (latest XEP-0092 answer of each answering server).
CREATE VIEW v_server_software_shares AS
SELECT software,
       count(*) AS servers,
       count(DISTINCT version) AS versions,
       xc_percent(count(*), sum(count(*)) OVER ()) AS percent
FROM v_server_latest
GROUP BY software;

-- Server software and version shares.
CREATE VIEW v_server_versions AS
SELECT software, version,
       count(*) AS servers,
       xc_percent(count(*), sum(count(*)) OVER ()) AS percent
FROM v_server_latest
GROUP BY software, version;

-- Component software: by the first identity of the component's latest
-- disco#info and its latest XEP-0092 answer.
CREATE VIEW v_component_software AS
WITH c AS (
    SELECT l.kind,
           coalesce(i.category, '') AS category, coalesce(i.type, '') AS type,
           coalesce(l.software, '(no answer)') AS software
    FROM v_entity_latest l
    LEFT JOIN disco_identities i ON i.content_id = l.content_id AND i.pos = 0
    WHERE l.kind NOT IN ('server', 'room', 'unknown')
)
SELECT category, type, software,
       count(*) AS components,
       xc_percent(count(*), sum(count(*)) OVER ()) AS percent
FROM c
GROUP BY category, type, software;

-- Client software from caps: one row per caps node with the XEP-0232 name
-- most of its entries carry (NULL: none carries one), the hashes seen with
-- it, how many carry XEP-0232, presences observed (sum of caps observation
-- counts over every source) and their share.
CREATE VIEW v_client_software AS
WITH n AS (
    SELECT cn.node,
           mode() WITHIN GROUP (ORDER BY si.software) AS xep0232_software,
           count(*) AS hashes,
           count(*) FILTER (WHERE e.has_softinfo) AS with_xep0232
    FROM caps_entry_nodes cn
    JOIN caps_entries e ON e.id = cn.entry_id
    LEFT JOIN softinfo si ON si.content_id = e.content_id AND si.software <> ''
    GROUP BY cn.node
), o AS (
    SELECT node, sum(count)::bigint AS observations FROM caps_observations GROUP BY node
)
SELECT coalesce(n.xep0232_software, n.node) AS software,
       n.node, n.hashes, n.with_xep0232,
       coalesce(o.observations, 0) AS observations,
       xc_percent(coalesce(o.observations, 0), sum(coalesce(o.observations, 0)) OVER ())
           AS share
FROM n
LEFT JOIN o ON o.node = n.node;

-- ---------------------------------------------------------------------------
-- features
-- ---------------------------------------------------------------------------

-- Feature adoption over time: per UTC day of disco#info snapshots and
-- feature (substring filter; NULL: every feature), the servers and other
-- entities whose snapshot that day lists it, and the share of the servers
-- with a snapshot that day. An entity seen twice in a day counts once.
CREATE FUNCTION xc_feature_adoption(filter text)
RETURNS TABLE (day date, feature text, servers bigint, servers_total bigint,
               percent numeric, entities bigint)
LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT id, var FROM features WHERE filter IS NULL OR strpos(var, filter) > 0
    ), snap AS (
        SELECT (s.observed_at AT TIME ZONE 'UTC')::date AS day, s.entity_id,
               e.kind = 'server' AS is_server, c.feature_ids
        FROM disco_snapshots s
        JOIN entities e ON e.id = s.entity_id
        JOIN disco_contents c ON c.id = s.content_id
        WHERE e.kind NOT IN ('room', 'unknown')
          AND (filter IS NULL OR c.feature_ids && (SELECT coalesce(array_agg(id), '{}') FROM f))
    ), tot AS (
        SELECT (s.observed_at AT TIME ZONE 'UTC')::date AS day,
               count(DISTINCT s.entity_id) AS servers_total
        FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id
        WHERE e.kind = 'server'
        GROUP BY 1
    ), hit AS (
        SELECT snap.day, f.var,
               count(DISTINCT snap.entity_id) FILTER (WHERE snap.is_server) AS servers,
               count(DISTINCT snap.entity_id) AS entities
        FROM snap
        CROSS JOIN LATERAL unnest(snap.feature_ids) AS u(fid)
        JOIN f ON f.id = u.fid
        GROUP BY snap.day, f.var
    )
    SELECT hit.day, hit.var, hit.servers, coalesce(tot.servers_total, 0),
           xc_percent(hit.servers, tot.servers_total), hit.entities
    FROM hit LEFT JOIN tot ON tot.day = hit.day
$$;

CREATE VIEW v_feature_adoption AS SELECT * FROM xc_feature_adoption(NULL);

-- Features by substring (NULL: all): how many answering servers and
-- components list it in their latest disco#info, how many clients (caps
-- entries) list it, and the sum.
CREATE FUNCTION xc_features(q text)
RETURNS TABLE (feature text, servers bigint, components bigint, clients bigint, total bigint)
LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT id, var FROM features WHERE q IS NULL OR strpos(var, q) > 0
    ), ent AS (
        SELECT ce.kind, c.feature_ids
        FROM v_catalog_entities ce JOIN disco_contents c ON c.id = ce.content_id
        WHERE q IS NULL OR c.feature_ids && (SELECT coalesce(array_agg(id), '{}') FROM f)
    ), cnt AS (
        SELECT u.fid,
               count(*) FILTER (WHERE ent.kind = 'server') AS servers,
               count(*) FILTER (WHERE ent.kind = 'component') AS components,
               count(*) FILTER (WHERE ent.kind = 'client') AS clients
        FROM ent CROSS JOIN LATERAL unnest(ent.feature_ids) AS u(fid)
        GROUP BY u.fid
    )
    SELECT f.var, coalesce(cnt.servers, 0), coalesce(cnt.components, 0),
           coalesce(cnt.clients, 0),
           coalesce(cnt.servers + cnt.components + cnt.clients, 0)
    FROM f JOIN cnt ON cnt.fid = f.id
$$;

CREATE VIEW v_features AS SELECT * FROM xc_features(NULL);

-- Versioned namespaces (base, e.g. urn:xmpp:mam; NULL: every base): each
-- version and how many servers / clients list it, and how many list it and
-- no other version of the same base ("only").
CREATE FUNCTION xc_namespace_versions(b text)
RETURNS TABLE (base text, version integer, namespace text, servers bigint,
               servers_only bigint, components bigint, components_only bigint,
               clients bigint, clients_only bigint)
LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT id, var, xc_ns_base(var) AS base, xc_ns_version(var) AS version
        FROM features
        WHERE xc_ns_base(var) IS NOT NULL AND (b IS NULL OR xc_ns_base(var) = b)
    ), ent AS (
        SELECT ce.key, ce.kind, f.id, f.base
        FROM v_catalog_entities ce
        JOIN disco_contents c ON c.id = ce.content_id
        CROSS JOIN LATERAL unnest(c.feature_ids) AS u(fid)
        JOIN f ON f.id = u.fid
        WHERE c.feature_ids && (SELECT coalesce(array_agg(id), '{}') FROM f)
    ), ent_n AS (
        SELECT ent.*, count(*) OVER (PARTITION BY ent.key, ent.base) AS n FROM ent
    )
    SELECT f.base, f.version, f.var,
           count(*) FILTER (WHERE e.kind = 'server'),
           count(*) FILTER (WHERE e.kind = 'server' AND e.n = 1),
           count(*) FILTER (WHERE e.kind = 'component'),
           count(*) FILTER (WHERE e.kind = 'component' AND e.n = 1),
           count(*) FILTER (WHERE e.kind = 'client'),
           count(*) FILTER (WHERE e.kind = 'client' AND e.n = 1)
    FROM f JOIN ent_n e ON e.id = f.id
    GROUP BY f.base, f.version, f.var
$$;

CREATE VIEW v_namespace_versions AS SELECT * FROM xc_namespace_versions(NULL);

-- Deprecation: per kind and software, the entities that list feature
-- old_var but not new_var, and how many list both.
CREATE FUNCTION xc_deprecation(old_var text, new_var text)
RETURNS TABLE (kind text, software text, old_only bigint, old_and_new bigint, old_total bigint,
               percent_old_only numeric)
LANGUAGE sql STABLE AS $$
    WITH o AS (SELECT id FROM features WHERE var = old_var),
    n AS (SELECT id FROM features WHERE var = new_var),
    ent AS (
        SELECT ce.kind, ce.software,
               c.feature_ids @> ARRAY(SELECT id FROM n) AND EXISTS (SELECT 1 FROM n)
                   AS has_new
        FROM v_catalog_entities ce
        JOIN disco_contents c ON c.id = ce.content_id
        WHERE c.feature_ids @> ARRAY(SELECT id FROM o) AND EXISTS (SELECT 1 FROM o)
    )
    SELECT kind, software,
           count(*) FILTER (WHERE NOT has_new),
           count(*) FILTER (WHERE has_new),
           count(*),
           xc_percent(count(*) FILTER (WHERE NOT has_new), count(*))
    FROM ent
    GROUP BY kind, software
$$;

-- Drop impact: per kind and software, the entities that list feature var,
-- and those that list no other version of its versioned namespace (for an
-- unversioned feature: every entity listing it). The latter break if var
-- is dropped.
CREATE FUNCTION xc_drop_impact(v text)
RETURNS TABLE (kind text, software text, advertising bigint, only_this bigint,
               percent_only numeric)
LANGUAGE sql STABLE AS $$
    WITH t AS (SELECT id FROM features WHERE var = v),
    sib AS (SELECT id FROM features
            WHERE xc_ns_base(v) IS NOT NULL AND var <> v AND xc_ns_base(var) = xc_ns_base(v)),
    ent AS (
        SELECT ce.kind, ce.software,
               NOT (c.feature_ids && ARRAY(SELECT id FROM sib)) AS only_this
        FROM v_catalog_entities ce
        JOIN disco_contents c ON c.id = ce.content_id
        WHERE c.feature_ids @> ARRAY(SELECT id FROM t) AND EXISTS (SELECT 1 FROM t)
    )
    SELECT kind, software, count(*), count(*) FILTER (WHERE only_this),
           xc_percent(count(*) FILTER (WHERE only_this), count(*))
    FROM ent
    GROUP BY kind, software
$$;

-- ---------------------------------------------------------------------------
-- caps and analyses
-- ---------------------------------------------------------------------------

-- Per source with caps observations: caps entries, nodes, entries with
-- XEP-0232, observations (sum of counts), services the counts came from.
CREATE VIEW v_caps_stats AS
SELECT s.name AS source, s.kind,
       count(DISTINCT e.id) AS entries,
       count(DISTINCT o.node) AS nodes,
       count(DISTINCT e.id) FILTER (WHERE e.has_softinfo) AS with_xep0232,
       coalesce(sum(o.count), 0)::bigint AS observations,
       count(DISTINCT o.service_id) AS services,
       min(o.first_seen) AS first_seen,
       max(o.last_seen) AS last_seen
FROM sources s
JOIN caps_observations o ON o.source_id = s.id
LEFT JOIN caps_entries e ON e.algo = o.algo AND e.ver = o.ver
GROUP BY s.id, s.name, s.kind;

-- Analysis runs (`xcensus analyze`) and their key figures.
CREATE VIEW v_analysis_runs AS
SELECT a.id, a.created_at, a.xcensus_version,
       ARRAY(SELECT s.name FROM sources s WHERE s.id = ANY (a.source_ids) ORDER BY s.name)
           AS sources,
       (a.results -> 'dataset' ->> 'entries')::bigint AS entries,
       (a.results -> 'xep0232' ->> 'entries_without')::bigint AS entries_without_xep0232,
       (a.results -> 'dataset' ->> 'entries_with_xep0232')::bigint AS entries_with_xep0232,
       (a.results -> 'dataset' ->> 'software_nodes')::bigint AS software_nodes,
       (a.results -> 'dataset' ->> 'observations')::bigint AS observations,
       (a.results -> 'hit_rate' ->> 'presences')::bigint AS presences,
       a.results -> 'hit_rate' ->> 'popularity' AS popularity
FROM analysis_runs a;

-- The latest analysis run (or run_id) as rows of figures with and without
-- XEP-0232: pos (display order), metric, with_xep0232, without_xep0232,
-- unit.
CREATE FUNCTION xc_analysis_figures(run_id bigint)
RETURNS TABLE (run bigint, pos integer, metric text, with_xep0232 numeric,
               without_xep0232 numeric, unit text)
LANGUAGE sql STABLE AS $$
    WITH a AS (
        SELECT id, results FROM analysis_runs
        WHERE run_id IS NULL OR id = run_id
        ORDER BY created_at DESC, id DESC LIMIT 1
    ), c AS (
        SELECT a.id, k.ord, k.c FROM a
        CROSS JOIN LATERAL jsonb_array_elements(a.results -> 'hit_rate' -> 'caches')
            WITH ORDINALITY AS k(c, ord)
    ), p AS (
        SELECT a.id, k.ord, k.c FROM a
        CROSS JOIN LATERAL jsonb_array_elements(a.results -> 'pep' -> 'per_1000_logins')
            WITH ORDINALITY AS k(c, ord)
    )
    SELECT a.id, 1, 'cache entries (distinct hashes)',
           (a.results -> 'xep0232' ->> 'entries_with')::numeric,
           (a.results -> 'xep0232' ->> 'entries_without')::numeric, 'entries'
    FROM a
    UNION ALL
    SELECT a.id, 2, 'disco#info response size',
           round((a.results -> 'pep' ->> 'disco_response_bytes_with')::numeric, 1),
           round((a.results -> 'pep' ->> 'disco_response_bytes_without')::numeric, 1), 'bytes'
    FROM a
    UNION ALL
    SELECT c.id, 10 + 2 * c.ord::integer, 'hit rate: ' || (c.c ->> 'cache'),
           round((c.c -> 'with_xep0232' ->> 'hit_rate')::numeric, 4),
           round((c.c -> 'without_xep0232' ->> 'hit_rate')::numeric, 4), 'ratio'
    FROM c
    UNION ALL
    SELECT c.id, 11 + 2 * c.ord::integer, 'disco queries per 1000 presences: ' || (c.c ->> 'cache'),
           round((c.c -> 'with_xep0232' ->> 'queries_per_1000')::numeric, 2),
           round((c.c -> 'without_xep0232' ->> 'queries_per_1000')::numeric, 2), 'queries'
    FROM c
    UNION ALL
    SELECT p.id, 100 + p.ord::integer, 'disco bytes per 1000 logins: ' || (p.c ->> 'cache'),
           round((p.c ->> 'disco_bytes')::numeric, 0), NULL, 'bytes'
    FROM p
$$;

CREATE VIEW v_analysis_latest AS SELECT * FROM xc_analysis_figures(NULL);

-- Hit rates of each simulated cache in the latest analysis run (or run_id).
CREATE FUNCTION xc_hit_rates(run_id bigint)
RETURNS TABLE (run bigint, pos integer, cache text, capacity bigint, ttl_s bigint,
               presences bigint, hit_rate_with numeric, hit_rate_without numeric,
               queries_per_1000_with numeric, queries_per_1000_without numeric,
               peak_entries_with bigint, peak_entries_without bigint)
LANGUAGE sql STABLE AS $$
    WITH a AS (
        SELECT id, results FROM analysis_runs
        WHERE run_id IS NULL OR id = run_id
        ORDER BY created_at DESC, id DESC LIMIT 1
    )
    SELECT a.id, k.ord::integer, k.c ->> 'cache',
           (k.c ->> 'capacity')::bigint, (k.c ->> 'ttl_s')::bigint,
           (a.results -> 'hit_rate' ->> 'presences')::bigint,
           round((k.c -> 'with_xep0232' ->> 'hit_rate')::numeric, 4),
           round((k.c -> 'without_xep0232' ->> 'hit_rate')::numeric, 4),
           round((k.c -> 'with_xep0232' ->> 'queries_per_1000')::numeric, 2),
           round((k.c -> 'without_xep0232' ->> 'queries_per_1000')::numeric, 2),
           (k.c -> 'with_xep0232' ->> 'peak_entries')::bigint,
           (k.c -> 'without_xep0232' ->> 'peak_entries')::bigint
    FROM a
    CROSS JOIN LATERAL jsonb_array_elements(a.results -> 'hit_rate' -> 'caches')
        WITH ORDINALITY AS k(c, ord)
$$;

CREATE VIEW v_hit_rates AS SELECT * FROM xc_hit_rates(NULL);

-- ---------------------------------------------------------------------------
-- crawl health and probe outcomes
-- ---------------------------------------------------------------------------

-- Per crawl: its runs, the queue by state, the oldest lease, the last
-- completion, probe outcomes of its runs in the last hour and day (all,
-- and ok), and the ingest rate (outcomes per minute over the last hour).
CREATE VIEW v_crawl_health AS
SELECT c.name AS crawl,
       r.runs, r.last_run_started, r.last_run_state,
       q.queued, q.leased, q.done, q.failed, q.cancelled, q.retrying, q.expired_leases,
       q.oldest_lease_expires, q.last_completion,
       o.outcomes_1h, o.ok_1h, o.outcomes_24h, o.ok_24h,
       round(o.outcomes_1h / 60.0, 2) AS outcomes_per_min
FROM crawls c
CROSS JOIN LATERAL (
    SELECT count(*) AS runs, max(cr.started_at) AS last_run_started,
           (SELECT cr2.state FROM crawl_runs cr2 WHERE cr2.crawl_id = c.id
            ORDER BY cr2.started_at DESC, cr2.id DESC LIMIT 1) AS last_run_state
    FROM crawl_runs cr WHERE cr.crawl_id = c.id) r
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE j.state = 'queued') AS queued,
           count(*) FILTER (WHERE j.state = 'leased') AS leased,
           count(*) FILTER (WHERE j.state = 'done') AS done,
           count(*) FILTER (WHERE j.state = 'failed') AS failed,
           count(*) FILTER (WHERE j.state = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE j.state = 'queued' AND j.attempts > 0) AS retrying,
           count(*) FILTER (WHERE j.state = 'leased' AND j.lease_expires_at < now())
               AS expired_leases,
           min(j.lease_expires_at) FILTER (WHERE j.state = 'leased') AS oldest_lease_expires,
           max(j.finished_at) AS last_completion
    FROM jobs j WHERE j.crawl_id = c.id) q
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE p.observed_at >= now() - interval '1 hour') AS outcomes_1h,
           count(*) FILTER (WHERE p.observed_at >= now() - interval '1 hour'
                              AND p.outcome = 'ok') AS ok_1h,
           count(*) AS outcomes_24h,
           count(*) FILTER (WHERE p.outcome = 'ok') AS ok_24h
    FROM probe_outcomes p
    JOIN crawl_runs cr ON cr.source_id = p.source_id
    WHERE cr.crawl_id = c.id AND p.observed_at >= now() - interval '1 day') o;

-- Probe outcomes per probe kind, outcome class and outcome (filter by
-- source name; NULL: every source), with the share within the probe kind.
CREATE FUNCTION xc_probe_outcomes(src text)
RETURNS TABLE (probe text, class text, outcome text, outcomes bigint, percent numeric,
               last_seen timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT p.probe, xc_outcome_class(p.outcome), p.outcome, count(*),
           xc_percent(count(*), sum(count(*)) OVER (PARTITION BY p.probe)),
           max(p.observed_at)
    FROM probe_outcomes p
    WHERE src IS NULL OR p.source_id = (SELECT id FROM sources WHERE name = src)
    GROUP BY p.probe, p.outcome
$$;

CREATE VIEW v_probe_outcomes AS SELECT * FROM xc_probe_outcomes(NULL);

-- ---------------------------------------------------------------------------
-- domains
-- ---------------------------------------------------------------------------

-- Every domain: first seen, last probe of it, last successful probe, the
-- state of its newest job, and whether it opted out or is denied.
CREATE VIEW v_domains AS
SELECT d.name AS domain, d.first_seen,
       (SELECT p.observed_at FROM probe_outcomes p WHERE p.domain_id = d.id
        ORDER BY p.observed_at DESC LIMIT 1) AS last_crawl,
       (SELECT p.observed_at FROM probe_outcomes p WHERE p.domain_id = d.id AND p.outcome = 'ok'
        ORDER BY p.observed_at DESC LIMIT 1) AS last_success,
       CASE WHEN dl.denied THEN 'denied'
            WHEN d.opt_out THEN 'opted-out'
            ELSE coalesce(j.state, 'never-queued') END AS state,
       j.next_crawl_at AS next_crawl,
       d.opt_out, dl.denied
FROM domains d
LEFT JOIN LATERAL (
    SELECT jb.state, jb.next_crawl_at FROM jobs jb WHERE jb.domain_id = d.id
    ORDER BY jb.updated_at DESC, jb.id DESC LIMIT 1) j ON true
CROSS JOIN LATERAL (
    SELECT EXISTS (SELECT 1 FROM deny_list x
                   WHERE x.pattern = d.name
                      OR (x.match = 'suffix'
                          AND right(d.name, length(x.pattern) + 1) = '.' || x.pattern))
           AS denied) dl;

-- The per-domain diagnosis: one row for domain dom (none if unknown).
CREATE FUNCTION xc_domain(dom text)
RETURNS TABLE (domain text, first_seen timestamptz, state text, opt_out boolean,
               opt_out_at timestamptz, opt_out_reason text, denied boolean,
               last_crawl timestamptz, last_success timestamptz, next_crawl timestamptz,
               probes jsonb, server_software text, server_version text,
               entities bigint, features bigint, identities bigint, versions bigint,
               disco_snapshots bigint, stream_features bigint, tls_facts bigint,
               srv_records bigint, probe_outcomes bigint)
LANGUAGE sql STABLE AS $$
    WITH d AS (SELECT * FROM domains WHERE name = dom),
    v AS (SELECT * FROM v_domains WHERE domain = dom),
    lat AS (SELECT l.* FROM v_entity_latest l JOIN d ON l.domain_id = d.id),
    pr AS (
        SELECT DISTINCT ON (p.probe) p.probe, p.outcome, p.condition, p.observed_at
        FROM probe_outcomes p JOIN d ON p.domain_id = d.id
        ORDER BY p.probe, p.observed_at DESC, p.id DESC)
    SELECT d.name, d.first_seen, v.state, d.opt_out, d.opt_out_at, d.opt_out_reason, v.denied,
           v.last_crawl, v.last_success, v.next_crawl,
           coalesce((SELECT jsonb_object_agg(pr.probe, jsonb_build_object(
                         'outcome', pr.outcome, 'class', xc_outcome_class(pr.outcome),
                         'condition', pr.condition, 'at', pr.observed_at))
                     FROM pr), '{}'::jsonb),
           (SELECT l.software FROM lat l WHERE l.kind = 'server' AND l.address = d.name),
           (SELECT l.version FROM lat l WHERE l.kind = 'server' AND l.address = d.name),
           (SELECT count(*) FROM entities e WHERE e.domain_id = d.id),
           (SELECT count(DISTINCT u.f) FROM lat l JOIN disco_contents c ON c.id = l.content_id
                CROSS JOIN LATERAL unnest(c.feature_ids) AS u(f)),
           (SELECT count(*) FROM lat l JOIN disco_identities i ON i.content_id = l.content_id),
           (SELECT count(*) FROM software_versions sv JOIN entities e ON e.id = sv.entity_id
            WHERE e.domain_id = d.id),
           (SELECT count(*) FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id
            WHERE e.domain_id = d.id),
           (SELECT count(*) FROM stream_features x WHERE x.domain_id = d.id),
           (SELECT count(*) FROM tls_facts x WHERE x.domain_id = d.id),
           (SELECT count(*) FROM srv_records x WHERE x.domain_id = d.id),
           (SELECT count(*) FROM probe_outcomes x WHERE x.domain_id = d.id)
    FROM d CROSS JOIN v
$$;

-- The latest outcome of each probe kind for domain dom.
CREATE FUNCTION xc_domain_probes(dom text)
RETURNS TABLE (probe text, outcome text, class text, condition text, detail text,
               duration_ms integer, observed_at timestamptz, source text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (p.probe) p.probe, p.outcome, xc_outcome_class(p.outcome),
           p.condition, p.detail, p.duration_ms, p.observed_at, s.name
    FROM probe_outcomes p
    JOIN sources s ON s.id = p.source_id
    WHERE p.domain_id = (SELECT id FROM domains WHERE name = dom)
    ORDER BY p.probe, p.observed_at DESC, p.id DESC
$$;
