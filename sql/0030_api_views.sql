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

-- last success of a domain, recent outcomes (crawl health)
CREATE INDEX probe_outcomes_domain_ok_idx
    ON probe_outcomes (domain_id, observed_at DESC) WHERE outcome = 'ok';
CREATE INDEX probe_outcomes_observed_idx ON probe_outcomes (observed_at);
-- newest job of a domain
CREATE INDEX jobs_domain_updated_idx ON jobs (domain_id, updated_at DESC, id DESC);
-- entities by kind (rooms in the overview)
CREATE INDEX entities_kind_idx ON entities (kind);

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
-- Rollups: small tables kept current by statement-level triggers on the
-- append-only observation tables, so that the catalog never aggregates
-- millions of rows per request. Each trigger folds one statement's new
-- rows (COPY included) in with one INSERT ... ON CONFLICT per rollup, in
-- key order (concurrent writers wait instead of deadlocking); existing
-- rows are folded in below when this migration runs. Counters are split
-- in shards by writing session (xc_shard()). They assume what the
-- schema promises: observations are appended, never deleted.
-- ---------------------------------------------------------------------------

-- The counter rows a session adds to: concurrent writers (one session
-- each) mostly add to different rows of the same day, source or key
-- instead of queueing for one row lock until commit; readers sum shards.
CREATE FUNCTION xc_shard() RETURNS smallint
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$ SELECT (pg_backend_pid() % 16)::smallint $$;

-- Per entity: its latest disco#info snapshot (by observed_at, then id)
-- with the entity's kind as of that snapshot; and its latest XEP-0092
-- answer. Two tables, each written by one trigger, so that every
-- transaction locks rollup rows table by table in key order (a table
-- shared by both triggers could deadlock two writers whose entities
-- overlap).
CREATE TABLE entity_disco_latest (
    entity_id    bigint PRIMARY KEY,
    kind         text NOT NULL,
    content_id   bigint NOT NULL,
    snapshot_id  bigint NOT NULL,
    source_id    bigint NOT NULL,
    disco_at     timestamptz NOT NULL
);
CREATE TABLE entity_version_latest (
    entity_id    bigint PRIMARY KEY,
    software     text,
    version      text,
    os           text,
    version_id   bigint NOT NULL,
    version_at   timestamptz NOT NULL
);

-- disco#info snapshots per UTC day and entity kind (kind at the time of
-- the snapshot), and per day, kind and listed feature.
CREATE TABLE disco_daily (
    day        date NOT NULL,
    kind       text NOT NULL,
    shard      smallint NOT NULL DEFAULT 0,
    snapshots  bigint NOT NULL,
    PRIMARY KEY (day, kind, shard)
);
CREATE TABLE disco_feature_daily (
    day         date NOT NULL,
    kind        text NOT NULL,
    feature_id  integer NOT NULL,
    shard       smallint NOT NULL DEFAULT 0,
    snapshots   bigint NOT NULL,
    PRIMARY KEY (feature_id, day, kind, shard)
);

-- Probe outcomes per source, probe kind and outcome.
CREATE TABLE probe_outcome_counts (
    source_id  bigint NOT NULL,
    probe      text NOT NULL,
    outcome    text NOT NULL,
    shard      smallint NOT NULL DEFAULT 0,
    outcomes   bigint NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (source_id, probe, outcome, shard)
);

-- Caps observations per source and (algo, ver, node), summed over room
-- services; and the room services (0: none, an import) each source saw.
CREATE TABLE caps_source_keys (
    source_id     bigint NOT NULL,
    algo          text NOT NULL,
    ver           text NOT NULL,
    node          text NOT NULL,
    shard         smallint NOT NULL DEFAULT 0,
    observations  bigint NOT NULL,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    PRIMARY KEY (source_id, algo, ver, node, shard)
);
CREATE INDEX caps_source_keys_node_idx ON caps_source_keys (node);
CREATE TABLE caps_source_services (
    source_id   bigint NOT NULL,
    service_id  bigint NOT NULL,
    PRIMARY KEY (source_id, service_id)
);

-- Entities whose latest disco#info is each content, and entities whose
-- latest disco#info lists each feature, by entity kind (as of the
-- snapshot). Kept from entity_disco_latest by its own triggers, which see
-- the rows each statement replaced (transition tables of INSERT ... ON
-- CONFLICT DO UPDATE): new rows add one, replaced rows take one away.
CREATE TABLE latest_content_counts (
    content_id  bigint NOT NULL,
    kind        text NOT NULL,
    shard       smallint NOT NULL DEFAULT 0,
    entities    bigint NOT NULL,
    PRIMARY KEY (content_id, kind, shard)
);
CREATE TABLE latest_feature_counts (
    feature_id  integer NOT NULL,
    kind        text NOT NULL,
    shard       smallint NOT NULL DEFAULT 0,
    entities    bigint NOT NULL,
    PRIMARY KEY (feature_id, kind, shard)
);

CREATE FUNCTION xc_rollup_disco() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Writing entity_disco_latest fires xc_rollup_latest(), which does
    -- INSERT INTO latest_content_counts and INSERT INTO latest_feature_counts:
    -- named here so that whoever reads this function's source (snapshot
    -- export classifies as derived what a dataset table's trigger inserts
    -- into) finds every table it leads to.
    INSERT INTO entity_disco_latest AS l (entity_id, kind, content_id, snapshot_id, source_id,
                                          disco_at)
    SELECT DISTINCT ON (n.entity_id) n.entity_id, e.kind, n.content_id, n.id, n.source_id,
           n.observed_at
    FROM xc_new n JOIN entities e ON e.id = n.entity_id
    ORDER BY n.entity_id, n.observed_at DESC, n.id DESC
    ON CONFLICT (entity_id) DO UPDATE
        SET kind = EXCLUDED.kind, content_id = EXCLUDED.content_id,
            snapshot_id = EXCLUDED.snapshot_id, source_id = EXCLUDED.source_id,
            disco_at = EXCLUDED.disco_at
        WHERE (l.disco_at, l.snapshot_id) < (EXCLUDED.disco_at, EXCLUDED.snapshot_id);
    WITH b AS (
        SELECT (n.observed_at AT TIME ZONE 'UTC')::date AS day, e.kind, n.content_id,
               count(*) AS snapshots
        FROM xc_new n JOIN entities e ON e.id = n.entity_id
        GROUP BY 1, 2, 3
    ), daily AS (
        INSERT INTO disco_daily AS d (day, kind, shard, snapshots)
        SELECT day, kind, xc_shard(), sum(snapshots) FROM b GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (day, kind, shard) DO UPDATE SET snapshots = d.snapshots + EXCLUDED.snapshots
        RETURNING 1
    )
    INSERT INTO disco_feature_daily AS d (day, kind, feature_id, shard, snapshots)
    SELECT b.day, b.kind, u.fid, xc_shard(), sum(b.snapshots)
    FROM b
    JOIN disco_contents c ON c.id = b.content_id
    CROSS JOIN LATERAL unnest(c.feature_ids) AS u(fid)
    GROUP BY 1, 2, 3 ORDER BY 3, 1, 2
    ON CONFLICT (feature_id, day, kind, shard)
        DO UPDATE SET snapshots = d.snapshots + EXCLUDED.snapshots;
    RETURN NULL;
END $$;
CREATE TRIGGER disco_snapshots_rollup AFTER INSERT ON disco_snapshots
    REFERENCING NEW TABLE AS xc_new FOR EACH STATEMENT EXECUTE FUNCTION xc_rollup_disco();

CREATE FUNCTION xc_rollup_latest() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH d AS (
            SELECT content_id, kind, count(*) AS n FROM xc_new GROUP BY 1, 2
        ), cc AS (
            INSERT INTO latest_content_counts AS c (content_id, kind, shard, entities)
            SELECT content_id, kind, xc_shard(), n FROM d ORDER BY 1, 2
            ON CONFLICT (content_id, kind, shard)
                DO UPDATE SET entities = c.entities + EXCLUDED.entities
            RETURNING 1
        )
        INSERT INTO latest_feature_counts AS f (feature_id, kind, shard, entities)
        SELECT u.fid, d.kind, xc_shard(), sum(d.n)
        FROM d JOIN disco_contents c ON c.id = d.content_id
        CROSS JOIN LATERAL unnest(c.feature_ids) AS u(fid)
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (feature_id, kind, shard) DO UPDATE SET entities = f.entities + EXCLUDED.entities;
    ELSE
        WITH d AS (
            SELECT content_id, kind, sum(n) AS n
            FROM (SELECT content_id, kind, 1 AS n FROM xc_new
                  UNION ALL
                  SELECT content_id, kind, -1 FROM xc_old) x
            GROUP BY 1, 2 HAVING sum(n) <> 0
        ), cc AS (
            INSERT INTO latest_content_counts AS c (content_id, kind, shard, entities)
            SELECT content_id, kind, xc_shard(), n FROM d ORDER BY 1, 2
            ON CONFLICT (content_id, kind, shard)
                DO UPDATE SET entities = c.entities + EXCLUDED.entities
            RETURNING 1
        )
        INSERT INTO latest_feature_counts AS f (feature_id, kind, shard, entities)
        SELECT u.fid, d.kind, xc_shard(), sum(d.n)
        FROM d JOIN disco_contents c ON c.id = d.content_id
        CROSS JOIN LATERAL unnest(c.feature_ids) AS u(fid)
        GROUP BY 1, 2 HAVING sum(d.n) <> 0 ORDER BY 1, 2
        ON CONFLICT (feature_id, kind, shard) DO UPDATE SET entities = f.entities + EXCLUDED.entities;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER entity_disco_latest_ins AFTER INSERT ON entity_disco_latest
    REFERENCING NEW TABLE AS xc_new FOR EACH STATEMENT EXECUTE FUNCTION xc_rollup_latest();
CREATE TRIGGER entity_disco_latest_upd AFTER UPDATE ON entity_disco_latest
    REFERENCING OLD TABLE AS xc_old NEW TABLE AS xc_new
    FOR EACH STATEMENT EXECUTE FUNCTION xc_rollup_latest();

CREATE FUNCTION xc_rollup_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO entity_version_latest AS l (entity_id, software, version, os, version_id,
                                            version_at)
    SELECT DISTINCT ON (entity_id) entity_id, name, version, os, id, observed_at
    FROM xc_new ORDER BY entity_id, observed_at DESC, id DESC
    ON CONFLICT (entity_id) DO UPDATE
        SET software = EXCLUDED.software, version = EXCLUDED.version, os = EXCLUDED.os,
            version_id = EXCLUDED.version_id, version_at = EXCLUDED.version_at
        WHERE (l.version_at, l.version_id) < (EXCLUDED.version_at, EXCLUDED.version_id);
    RETURN NULL;
END $$;
CREATE TRIGGER software_versions_rollup AFTER INSERT ON software_versions
    REFERENCING NEW TABLE AS xc_new FOR EACH STATEMENT EXECUTE FUNCTION xc_rollup_versions();

CREATE FUNCTION xc_rollup_outcomes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO probe_outcome_counts AS p (source_id, probe, outcome, shard, outcomes, last_seen)
    SELECT source_id, probe, outcome, xc_shard(), count(*), max(observed_at)
    FROM xc_new GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (source_id, probe, outcome, shard) DO UPDATE
        SET outcomes = p.outcomes + EXCLUDED.outcomes,
            last_seen = greatest(p.last_seen, EXCLUDED.last_seen);
    RETURN NULL;
END $$;
CREATE TRIGGER probe_outcomes_rollup AFTER INSERT ON probe_outcomes
    REFERENCING NEW TABLE AS xc_new FOR EACH STATEMENT EXECUTE FUNCTION xc_rollup_outcomes();

-- caps observations are inserted, and their counts raised by ON CONFLICT
-- DO UPDATE: an update adds the difference between its new and old rows.
CREATE FUNCTION xc_rollup_caps() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO caps_source_keys AS k (source_id, algo, ver, node, shard, observations,
                                           first_seen, last_seen)
        SELECT source_id, algo, ver, node, xc_shard(), sum(count), min(first_seen),
               max(last_seen)
        FROM xc_new GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (source_id, algo, ver, node, shard) DO UPDATE
            SET observations = k.observations + EXCLUDED.observations,
                first_seen = least(k.first_seen, EXCLUDED.first_seen),
                last_seen = greatest(k.last_seen, EXCLUDED.last_seen);
    ELSE
        INSERT INTO caps_source_keys AS k (source_id, algo, ver, node, shard, observations,
                                           first_seen, last_seen)
        SELECT source_id, algo, ver, node, xc_shard(), sum(c), min(f), max(l)
        FROM (SELECT source_id, algo, ver, node, count AS c, first_seen AS f, last_seen AS l
              FROM xc_new
              UNION ALL
              SELECT source_id, algo, ver, node, -count, first_seen, last_seen FROM xc_old) x
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (source_id, algo, ver, node, shard) DO UPDATE
            SET observations = k.observations + EXCLUDED.observations,
                first_seen = least(k.first_seen, EXCLUDED.first_seen),
                last_seen = greatest(k.last_seen, EXCLUDED.last_seen);
    END IF;
    INSERT INTO caps_source_services (source_id, service_id)
    SELECT DISTINCT source_id, coalesce(service_id, 0) FROM xc_new ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER caps_observations_rollup_ins AFTER INSERT ON caps_observations
    REFERENCING NEW TABLE AS xc_new FOR EACH STATEMENT EXECUTE FUNCTION xc_rollup_caps();
CREATE TRIGGER caps_observations_rollup_upd AFTER UPDATE ON caps_observations
    REFERENCING OLD TABLE AS xc_old NEW TABLE AS xc_new
    FOR EACH STATEMENT EXECUTE FUNCTION xc_rollup_caps();

-- what the tables already hold
INSERT INTO entity_disco_latest (entity_id, kind, content_id, snapshot_id, source_id, disco_at)
SELECT DISTINCT ON (s.entity_id) s.entity_id, e.kind, s.content_id, s.id, s.source_id,
       s.observed_at
FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id
ORDER BY s.entity_id, s.observed_at DESC, s.id DESC;
INSERT INTO entity_version_latest (entity_id, software, version, os, version_id, version_at)
SELECT DISTINCT ON (entity_id) entity_id, name, version, os, id, observed_at
FROM software_versions ORDER BY entity_id, observed_at DESC, id DESC;
INSERT INTO disco_daily (day, kind, snapshots)
SELECT (s.observed_at AT TIME ZONE 'UTC')::date, e.kind, count(*)
FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id GROUP BY 1, 2;
INSERT INTO disco_feature_daily (day, kind, feature_id, snapshots)
SELECT b.day, b.kind, u.fid, sum(b.n)
FROM (SELECT (s.observed_at AT TIME ZONE 'UTC')::date AS day, e.kind, s.content_id,
             count(*) AS n
      FROM disco_snapshots s JOIN entities e ON e.id = s.entity_id GROUP BY 1, 2, 3) b
JOIN disco_contents c ON c.id = b.content_id
CROSS JOIN LATERAL unnest(c.feature_ids) AS u(fid)
GROUP BY 1, 2, 3;
INSERT INTO probe_outcome_counts (source_id, probe, outcome, outcomes, last_seen)
SELECT source_id, probe, outcome, count(*), max(observed_at) FROM probe_outcomes GROUP BY 1, 2, 3;
INSERT INTO caps_source_keys (source_id, algo, ver, node, observations, first_seen, last_seen)
SELECT source_id, algo, ver, node, sum(count), min(first_seen), max(last_seen)
FROM caps_observations GROUP BY 1, 2, 3, 4;
INSERT INTO caps_source_services (source_id, service_id)
SELECT DISTINCT source_id, coalesce(service_id, 0) FROM caps_observations;

-- ---------------------------------------------------------------------------
-- Latest state
-- ---------------------------------------------------------------------------

-- Each answering entity: its latest disco#info snapshot (kind as of it)
-- and its latest XEP-0092 answer (NULLs when it never answered one).
CREATE VIEW v_entity_state AS
SELECT d.entity_id, d.kind, d.content_id, d.snapshot_id, d.source_id, d.disco_at,
       v.software, v.version, v.os, v.version_id, v.version_at
FROM entity_disco_latest d
LEFT JOIN entity_version_latest v ON v.entity_id = d.entity_id;

-- The same with the entity's address, node and domain.
CREATE VIEW v_entity_latest AS
SELECT e.id AS entity_id, e.address, e.node, l.kind, e.domain_id,
       l.content_id, l.disco_at, l.source_id,
       l.software, l.version, l.os, l.version_at
FROM v_entity_state l
JOIN entities e ON e.id = l.entity_id;

-- The disco#info contents the catalog counts, by kind group ('server',
-- 'component', 'client') and the software name entities are grouped by,
-- with the number of entities: answering servers and components (latest
-- disco#info; XEP-0092 name or "(no answer)"), and clients (caps entries
-- with a disco#info, one entity each; XEP-0232 software, else the
-- alphabetically first caps node). Rooms and unknown entities are left out.
CREATE VIEW v_catalog_contents AS
SELECT CASE WHEN l.kind = 'server' THEN 'server' ELSE 'component' END AS kind,
       coalesce(l.software, '(no answer)') AS software,
       l.content_id,
       count(*) AS entities
FROM v_entity_state l
WHERE l.kind NOT IN ('room', 'unknown')
GROUP BY 1, 2, 3
UNION ALL
SELECT 'client',
       coalesce(nullif(si.software, ''), n.node, '(unknown)'),
       e.content_id,
       count(*)
FROM caps_entries e
LEFT JOIN softinfo si ON si.content_id = e.content_id
LEFT JOIN (SELECT entry_id, min(node) AS node FROM caps_entry_nodes GROUP BY entry_id) n
       ON n.entry_id = e.id
WHERE e.content_id IS NOT NULL
GROUP BY 1, 2, 3;

-- ---------------------------------------------------------------------------
-- overview
-- ---------------------------------------------------------------------------

-- One row: what the census holds.
CREATE VIEW v_overview AS
SELECT (SELECT count(*) FROM domains) AS domains,
       (SELECT count(DISTINCT domain_id) FROM jobs WHERE state IN ('done', 'failed'))
                                                       AS domains_crawled,
       (SELECT coalesce(sum(entities), 0) FROM latest_content_counts
        WHERE kind = 'server')::bigint                 AS servers_answering,
       (SELECT coalesce(sum(entities), 0) FROM latest_content_counts
        WHERE kind NOT IN ('server', 'room', 'unknown'))::bigint
                                                       AS components,
       (SELECT count(*) FROM entities WHERE kind = 'room') AS rooms,
       (SELECT count(*) FROM caps_entries)             AS caps_hashes,
       (SELECT coalesce(sum(observations), 0) FROM caps_source_keys)::bigint
                                                       AS caps_observations,
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
SELECT l.entity_id, l.content_id, l.disco_at,
       coalesce(l.software, '(no answer)') AS software,
       coalesce(l.version, '') AS version, l.os, l.version_at
FROM v_entity_state l
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

-- Features listed by servers in their latest disco#info, with the share of
-- the answering servers.
CREATE VIEW v_server_features_latest AS
WITH t AS (
    SELECT sum(entities) AS total FROM latest_content_counts WHERE kind = 'server'
), x AS (
    SELECT feature_id, sum(entities)::bigint AS servers
    FROM latest_feature_counts WHERE kind = 'server'
    GROUP BY feature_id HAVING sum(entities) > 0
)
SELECT f.var AS feature, x.servers, xc_percent(x.servers, t.total) AS percent
FROM x JOIN features f ON f.id = x.feature_id CROSS JOIN t;

-- Component software: by the first identity of the component's latest
-- disco#info and its latest XEP-0092 answer.
CREATE VIEW v_component_software AS
WITH c AS (
    SELECT content_id, coalesce(software, '(no answer)') AS software, count(*) AS n
    FROM v_entity_state
    WHERE kind NOT IN ('server', 'room', 'unknown')
    GROUP BY 1, 2
)
SELECT coalesce(i.category, '') AS category, coalesce(i.type, '') AS type, c.software,
       sum(c.n)::bigint AS components,
       xc_percent(sum(c.n), sum(sum(c.n)) OVER ()) AS percent
FROM c
LEFT JOIN disco_identities i ON i.content_id = c.content_id AND i.pos = 0
GROUP BY 1, 2, 3;

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
    SELECT node, sum(observations)::bigint AS observations FROM caps_source_keys GROUP BY node
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
-- feature (substring filter; NULL: every feature): server snapshots that
-- day listing it, server snapshots that day, their percent, and snapshots
-- of servers and components listing it. Counts are snapshots: an entity
-- probed twice in a day counts twice (in the total too).
CREATE FUNCTION xc_feature_adoption(filter text)
RETURNS TABLE (day date, feature text, servers bigint, servers_total bigint,
               percent numeric, entities bigint)
LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT id, var FROM features WHERE filter IS NULL OR strpos(var, filter) > 0
    ), tot AS (
        SELECT d.day, sum(d.snapshots) AS servers_total
        FROM disco_daily d WHERE d.kind = 'server' GROUP BY d.day
    ), hit AS (
        SELECT d.day, f.var,
               coalesce(sum(d.snapshots) FILTER (WHERE d.kind = 'server'), 0) AS servers,
               sum(d.snapshots) AS entities
        FROM disco_feature_daily d
        JOIN f ON f.id = d.feature_id
        WHERE d.kind NOT IN ('room', 'unknown')
        GROUP BY d.day, f.var
    )
    SELECT hit.day, hit.var, hit.servers::bigint, coalesce(tot.servers_total, 0)::bigint,
           xc_percent(hit.servers, tot.servers_total), hit.entities::bigint
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
    ), fa AS (
        SELECT coalesce(array_agg(id), '{}') AS ids FROM f
    ), ent AS (
        SELECT l.feature_id AS fid,
               coalesce(sum(l.entities) FILTER (WHERE l.kind = 'server'), 0) AS servers,
               coalesce(sum(l.entities) FILTER (WHERE l.kind NOT IN ('server', 'room', 'unknown')),
                        0) AS components,
               0 AS clients
        FROM latest_feature_counts l
        WHERE q IS NULL OR l.feature_id IN (SELECT id FROM f)
        GROUP BY l.feature_id
    ), cli AS (
        SELECT u.fid, 0, 0, count(*) AS clients
        FROM caps_entries e
        JOIN disco_contents c ON c.id = e.content_id
        CROSS JOIN fa
        CROSS JOIN LATERAL unnest(c.feature_ids) AS u(fid)
        WHERE q IS NULL OR (c.feature_ids && fa.ids AND u.fid = ANY (fa.ids))
        GROUP BY u.fid
    ), cnt AS (
        SELECT fid, sum(servers) AS servers, sum(components) AS components,
               sum(clients) AS clients
        FROM (SELECT * FROM ent UNION ALL SELECT * FROM cli) x
        GROUP BY fid
    )
    SELECT f.var, cnt.servers::bigint, cnt.components::bigint, cnt.clients::bigint,
           (cnt.servers + cnt.components + cnt.clients)::bigint
    FROM f JOIN cnt ON cnt.fid = f.id
    WHERE cnt.servers + cnt.components + cnt.clients > 0
$$;

CREATE VIEW v_features AS SELECT * FROM xc_features(NULL);

-- Versioned namespaces (base, e.g. urn:xmpp:mam; NULL: every base): each
-- version and how many servers, components and clients list it, and how
-- many list it and no other version of the same base ("_only").
CREATE FUNCTION xc_namespace_versions(b text)
RETURNS TABLE (base text, version integer, namespace text, servers bigint,
               servers_only bigint, components bigint, components_only bigint,
               clients bigint, clients_only bigint)
LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT id, var, xc_ns_base(var) AS base, xc_ns_version(var) AS version
        FROM features
        WHERE xc_ns_base(var) IS NOT NULL AND (b IS NULL OR xc_ns_base(var) = b)
    ), fa AS (
        SELECT coalesce(array_agg(id), '{}') AS ids FROM f
    ), cc AS (
        SELECT CASE WHEN kind = 'server' THEN 'server' ELSE 'component' END AS kind,
               content_id, sum(entities) AS n
        FROM latest_content_counts
        WHERE kind NOT IN ('room', 'unknown')
        GROUP BY 1, 2 HAVING sum(entities) > 0
        UNION ALL
        SELECT 'client', content_id, count(*) FROM caps_entries
        WHERE content_id IS NOT NULL GROUP BY 2
    ), hit AS (
        SELECT cc.kind, cc.content_id, cc.n, f.id, f.base
        FROM cc
        JOIN disco_contents c ON c.id = cc.content_id
        CROSS JOIN fa
        CROSS JOIN LATERAL unnest(c.feature_ids) AS u(fid)
        JOIN f ON f.id = u.fid
        WHERE c.feature_ids && fa.ids
    ), hn AS (
        SELECT hit.*, count(*) OVER (PARTITION BY hit.kind, hit.content_id, hit.base) AS k
        FROM hit
    )
    SELECT f.base, f.version, f.var,
           coalesce(sum(h.n) FILTER (WHERE h.kind = 'server'), 0)::bigint,
           coalesce(sum(h.n) FILTER (WHERE h.kind = 'server' AND h.k = 1), 0)::bigint,
           coalesce(sum(h.n) FILTER (WHERE h.kind = 'component'), 0)::bigint,
           coalesce(sum(h.n) FILTER (WHERE h.kind = 'component' AND h.k = 1), 0)::bigint,
           coalesce(sum(h.n) FILTER (WHERE h.kind = 'client'), 0)::bigint,
           coalesce(sum(h.n) FILTER (WHERE h.kind = 'client' AND h.k = 1), 0)::bigint
    FROM f JOIN hn h ON h.id = f.id
    GROUP BY f.base, f.version, f.var
$$;

CREATE VIEW v_namespace_versions AS SELECT * FROM xc_namespace_versions(NULL);

-- Deprecation: per kind and software, the entities that list feature
-- old_var but not new_var, and how many list both.
CREATE FUNCTION xc_deprecation(old_var text, new_var text)
RETURNS TABLE (kind text, software text, old_only bigint, old_and_new bigint,
               old_total bigint, percent_old_only numeric)
LANGUAGE sql STABLE AS $$
    WITH o AS (SELECT id FROM features WHERE var = old_var),
    n AS (SELECT id FROM features WHERE var = new_var),
    ent AS (
        SELECT cc.kind, cc.software, cc.entities,
               EXISTS (SELECT 1 FROM n) AND c.feature_ids @> ARRAY(SELECT id FROM n) AS has_new
        FROM v_catalog_contents cc
        JOIN disco_contents c ON c.id = cc.content_id
        WHERE EXISTS (SELECT 1 FROM o) AND c.feature_ids @> ARRAY(SELECT id FROM o)
    )
    SELECT kind, software,
           coalesce(sum(entities) FILTER (WHERE NOT has_new), 0)::bigint,
           coalesce(sum(entities) FILTER (WHERE has_new), 0)::bigint,
           sum(entities)::bigint,
           xc_percent(coalesce(sum(entities) FILTER (WHERE NOT has_new), 0), sum(entities))
    FROM ent
    GROUP BY kind, software
$$;

-- Drop impact: per kind and software, the entities that list feature v,
-- and those that list no other version of its versioned namespace (for an
-- unversioned feature: every entity listing it). The latter break if v is
-- dropped.
CREATE FUNCTION xc_drop_impact(v text)
RETURNS TABLE (kind text, software text, advertising bigint, only_this bigint,
               percent_only numeric)
LANGUAGE sql STABLE AS $$
    WITH t AS (SELECT id FROM features WHERE var = v),
    sib AS (SELECT id FROM features
            WHERE xc_ns_base(v) IS NOT NULL AND var <> v AND xc_ns_base(var) = xc_ns_base(v)),
    ent AS (
        SELECT cc.kind, cc.software, cc.entities,
               NOT (c.feature_ids && ARRAY(SELECT id FROM sib)) AS only_this
        FROM v_catalog_contents cc
        JOIN disco_contents c ON c.id = cc.content_id
        WHERE EXISTS (SELECT 1 FROM t) AND c.feature_ids @> ARRAY(SELECT id FROM t)
    )
    SELECT kind, software, sum(entities)::bigint,
           coalesce(sum(entities) FILTER (WHERE only_this), 0)::bigint,
           xc_percent(coalesce(sum(entities) FILTER (WHERE only_this), 0), sum(entities))
    FROM ent
    GROUP BY kind, software
$$;

-- ---------------------------------------------------------------------------
-- caps and analyses
-- ---------------------------------------------------------------------------

-- Per source with caps observations: caps entries, nodes, entries with
-- XEP-0232, observations (sum of counts), room services, first and last
-- seen.
CREATE VIEW v_caps_stats AS
SELECT s.name AS source, s.kind,
       k.entries, k.nodes, k.with_xep0232, k.observations,
       (SELECT count(*) FROM caps_source_services x
        WHERE x.source_id = s.id AND x.service_id <> 0) AS services,
       k.first_seen, k.last_seen
FROM sources s
CROSS JOIN LATERAL (
    SELECT count(DISTINCT e.id) AS entries,
           count(DISTINCT ck.node) AS nodes,
           count(DISTINCT e.id) FILTER (WHERE e.has_softinfo) AS with_xep0232,
           coalesce(sum(ck.observations), 0)::bigint AS observations,
           min(ck.first_seen) AS first_seen, max(ck.last_seen) AS last_seen,
           count(*) AS keys
    FROM caps_source_keys ck
    LEFT JOIN caps_entries e ON e.algo = ck.algo AND e.ver = ck.ver
    WHERE ck.source_id = s.id) k
WHERE k.keys > 0;

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
    SELECT p.probe, xc_outcome_class(p.outcome), p.outcome, sum(p.outcomes)::bigint,
           xc_percent(sum(p.outcomes), sum(sum(p.outcomes)) OVER (PARTITION BY p.probe)),
           max(p.last_seen)
    FROM probe_outcome_counts p
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
