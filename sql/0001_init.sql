-- 0001_init: the base schema of xcensus (see docs/SCHEMA.md).
--
-- Runs in one transaction, applied by `xcensus migrate`, which records it in
-- schema_migrations (created by the migration runner itself). Forward-only:
-- a later change is a new numbered file, never an edit of this one.
--
-- Rules that hold for every table below:
--  * every observation carries the source it came from (a crawl run or an
--    import) and its time; history is appended, never overwritten; "latest"
--    is a view;
--  * no column may hold an occupant JID, a nick, a status text or a message
--    body: caps observations are counts per service, and entity addresses
--    are bare (a CHECK refuses a resource part);
--  * text columns holding remote input are bounded by CHECKs where a bound
--    is part of the meaning; the program bounds everything else first.

-- ---------------------------------------------------------------------------
-- Origins of observations
-- ---------------------------------------------------------------------------

-- A named origin of observations: one crawl run, or one import of an
-- existing collection (capsdb, a dataset snapshot).
CREATE TABLE sources (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('crawl', 'import', 'snapshot', 'testnet')),
    name        text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 200),
    description text,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A named crawl: what to crawl and how; its runs append history.
CREATE TABLE crawls (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 200),
    scope             text NOT NULL DEFAULT 'seeds'
                      CHECK (scope IN ('seeds', 'discovered', 'opt-in')),
    recrawl_interval  interval,           -- NULL: crawl each domain once
    settings          jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- One run of a crawl; each run is also a source (1:1).
CREATE TABLE crawl_runs (
    id               bigserial PRIMARY KEY,
    crawl_id         bigint NOT NULL REFERENCES crawls(id),
    source_id        bigint NOT NULL UNIQUE REFERENCES sources(id),
    state            text NOT NULL DEFAULT 'running'
                     CHECK (state IN ('running', 'finished', 'aborted')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    xcensus_version  text,
    host             text,               -- machine that started the run
    settings         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX crawl_runs_crawl_idx ON crawl_runs (crawl_id, started_at);

-- ---------------------------------------------------------------------------
-- Domains, deny list, job queue
-- ---------------------------------------------------------------------------

CREATE TABLE domains (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE
                   CHECK (name = lower(name) AND name <> '' AND length(name) <= 1023
                          AND name !~ '[@/\s]'),
    first_seen     timestamptz NOT NULL DEFAULT now(),
    discovered_by  bigint REFERENCES sources(id),   -- NULL: seeded by hand
    opt_out        boolean NOT NULL DEFAULT false,  -- the operator asked us to stop
    opt_out_at     timestamptz,
    opt_out_reason text,
    serverinfo_opt_in boolean                       -- XEP-0485 urn:xmpp:serverinfo:0 seen
);

-- Domains never to contact. Survives a rebuild because the crawler also
-- reads it from a file; this table is what the database knows.
CREATE TABLE deny_list (
    pattern   text PRIMARY KEY CHECK (pattern = lower(pattern) AND pattern <> ''),
    match     text NOT NULL DEFAULT 'domain' CHECK (match IN ('domain', 'suffix')),
    reason    text,
    added_at  timestamptz NOT NULL DEFAULT now(),
    added_by  text
);

-- The job queue shared by every crawler process. A claim is one statement:
--   UPDATE jobs SET state='leased', lease_owner=$1, lease_version=lease_version+1,
--          lease_expires_at=now()+$2, attempts=attempts+1
--   WHERE id IN (SELECT id FROM jobs WHERE state='queued' AND next_attempt_at<=now()
--                ORDER BY priority DESC, next_attempt_at LIMIT $3
--                FOR UPDATE SKIP LOCKED) RETURNING ...
-- Completion checks lease_version (the fencing token).
CREATE TABLE jobs (
    id                bigserial PRIMARY KEY,
    crawl_id          bigint NOT NULL REFERENCES crawls(id),
    domain_id         bigint NOT NULL REFERENCES domains(id),
    kind              text NOT NULL DEFAULT 'domain'
                      CHECK (kind IN ('domain', 'direct', 'rooms', 'resolve')),
    state             text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'leased', 'done', 'failed', 'cancelled')),
    priority          integer NOT NULL DEFAULT 0,
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    lease_owner       text,
    lease_expires_at  timestamptz,
    lease_version     bigint NOT NULL DEFAULT 0,      -- fencing token
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_error_class  text,
    last_error        text,
    last_run_id       bigint REFERENCES crawl_runs(id),
    next_crawl_at     timestamptz,                    -- periodic re-crawl
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    UNIQUE (crawl_id, domain_id, kind),
    CHECK (state <> 'leased' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);
CREATE INDEX jobs_claim_idx ON jobs (priority DESC, next_attempt_at) WHERE state = 'queued';
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'leased';
CREATE INDEX jobs_recrawl_idx ON jobs (next_crawl_at) WHERE state = 'done' AND next_crawl_at IS NOT NULL;
CREATE INDEX jobs_crawl_state_idx ON jobs (crawl_id, state);
CREATE INDEX jobs_domain_idx ON jobs (domain_id);

-- ---------------------------------------------------------------------------
-- Entities and what they say about themselves
-- ---------------------------------------------------------------------------

-- A server, component, room or other service by its bare address and disco
-- node. Never a client's full JID: the CHECK refuses a resource part.
CREATE TABLE entities (
    id          bigserial PRIMARY KEY,
    address     text NOT NULL CHECK (address <> '' AND address !~ '/' AND length(address) <= 3071),
    node        text NOT NULL DEFAULT '' CHECK (length(node) <= 1024),
    domain_id   bigint REFERENCES domains(id),
    kind        text NOT NULL DEFAULT 'unknown'
                CHECK (kind IN ('server', 'component', 'muc', 'room', 'pubsub', 'upload',
                                'proxy', 'gateway', 'other', 'unknown')),
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (address, node)
);
CREATE INDEX entities_domain_idx ON entities (domain_id);

-- Interned feature strings (disco#info <feature var/>).
CREATE TABLE features (
    id   serial PRIMARY KEY,
    var  text NOT NULL UNIQUE
);

-- One distinct disco#info answer, shared by every snapshot and caps entry
-- that received exactly these bytes (digest = SHA-256 of the raw XML).
-- Features are interned: feature_ids holds the sorted, distinct ids of the
-- features it lists (search with feature_ids @> ARRAY[id], GIN-indexed);
-- duplicate_feature_ids those listed more than once (XEP-0115 ill-formed).
-- v_content_features is the same as one row per (content, feature). An
-- array instead of a link table: one row per content rather than ~26, which
-- made the capsdb import 10x cheaper on this step (42,580 link rows cost
-- 90-110 ms to insert, the arrays 11 ms) and is what the analyzer loads.
CREATE TABLE disco_contents (
    id              bigserial PRIMARY KEY,
    digest          bytea NOT NULL UNIQUE CHECK (length(digest) = 32),
    xml             text NOT NULL,
    identity_count  integer NOT NULL DEFAULT 0,
    feature_count   integer NOT NULL DEFAULT 0,  -- distinct features
    form_count      integer NOT NULL DEFAULT 0,
    feature_ids     integer[] NOT NULL DEFAULT '{}',
    duplicate_feature_ids integer[] NOT NULL DEFAULT '{}',
    has_softinfo    boolean NOT NULL DEFAULT false, -- XEP-0232 form present
    parse_error     text,                           -- NULL: parsed
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(feature_ids) = feature_count)
);
CREATE INDEX disco_contents_features_idx ON disco_contents USING gin (feature_ids);

CREATE TABLE disco_identities (
    content_id  bigint NOT NULL REFERENCES disco_contents(id),
    pos         integer NOT NULL,               -- document order, 0-based
    category    text NOT NULL,
    type        text NOT NULL,
    lang        text NOT NULL DEFAULT '',
    name        text NOT NULL DEFAULT '',
    PRIMARY KEY (content_id, pos)
);
CREATE INDEX disco_identities_cat_idx ON disco_identities (category, type);

-- The features of each content, one row per (content, feature).
CREATE VIEW v_content_features AS
SELECT c.id AS content_id,
       f.id AS feature_id,
       f.var,
       f.id = ANY (c.duplicate_feature_ids) AS duplicated
FROM disco_contents c
CROSS JOIN LATERAL unnest(c.feature_ids) AS u(feature_id)
JOIN features f ON f.id = u.feature_id;

-- XEP-0128 extended forms (XEP-0004 data forms) of a content.
CREATE TABLE disco_forms (
    content_id  bigint NOT NULL REFERENCES disco_contents(id),
    pos         integer NOT NULL,
    form_type   text,                 -- FORM_TYPE value; NULL: none
    type        text,                 -- the x element's type attribute
    hidden_form_type boolean NOT NULL DEFAULT false,
    PRIMARY KEY (content_id, pos)
);
CREATE INDEX disco_forms_type_idx ON disco_forms (form_type);

CREATE TABLE disco_form_fields (
    content_id  bigint NOT NULL,
    form_pos    integer NOT NULL,
    pos         integer NOT NULL,
    var         text NOT NULL DEFAULT '',
    type        text,
    label       text,
    PRIMARY KEY (content_id, form_pos, pos),
    FOREIGN KEY (content_id, form_pos) REFERENCES disco_forms(content_id, pos)
);

CREATE TABLE disco_form_values (
    content_id  bigint NOT NULL,
    form_pos    integer NOT NULL,
    field_pos   integer NOT NULL,
    pos         integer NOT NULL,
    value       text NOT NULL,
    PRIMARY KEY (content_id, form_pos, field_pos, pos),
    FOREIGN KEY (content_id, form_pos, field_pos)
        REFERENCES disco_form_fields(content_id, form_pos, pos)
);

-- XEP-0232 software information found in a content's forms.
CREATE TABLE softinfo (
    content_id        bigint PRIMARY KEY REFERENCES disco_contents(id),
    software          text,
    software_version  text,
    os                text,
    os_version        text,
    icon              boolean NOT NULL DEFAULT false  -- an icon field was present
);

-- XEP-0157 contact addresses found in a content's serverinfo form.
CREATE TABLE contact_addresses (
    content_id  bigint NOT NULL REFERENCES disco_contents(id),
    kind        text NOT NULL,     -- abuse, admin, feedback, sales, security, status, support
    pos         integer NOT NULL,
    address     text NOT NULL,     -- a URI (mailto:, xmpp:, https:)
    PRIMARY KEY (content_id, kind, pos)
);

-- A disco#info answer of an entity at a time in a run.
CREATE TABLE disco_snapshots (
    id           bigserial PRIMARY KEY,
    source_id    bigint NOT NULL REFERENCES sources(id),
    entity_id    bigint NOT NULL REFERENCES entities(id),
    content_id   bigint NOT NULL REFERENCES disco_contents(id),
    observed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disco_snapshots_entity_idx ON disco_snapshots (entity_id, observed_at DESC);
CREATE INDEX disco_snapshots_source_idx ON disco_snapshots (source_id);

-- disco#items: which items an entity listed in a run.
CREATE TABLE disco_item_links (
    source_id    bigint NOT NULL REFERENCES sources(id),
    parent_id    bigint NOT NULL REFERENCES entities(id),
    child_id     bigint NOT NULL REFERENCES entities(id),
    name         text,
    observed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, parent_id, child_id)
);

-- XEP-0092 software version answers.
CREATE TABLE software_versions (
    id           bigserial PRIMARY KEY,
    source_id    bigint NOT NULL REFERENCES sources(id),
    entity_id    bigint NOT NULL REFERENCES entities(id),
    name         text,
    version      text,
    os           text,
    observed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX software_versions_entity_idx ON software_versions (entity_id, observed_at DESC);

-- A room seen on a MUC service (public rooms only are joined); occupancy is
-- a count, never a list.
CREATE TABLE room_observations (
    id            bigserial PRIMARY KEY,
    source_id     bigint NOT NULL REFERENCES sources(id),
    entity_id     bigint NOT NULL REFERENCES entities(id),   -- the room
    service_id    bigint NOT NULL REFERENCES entities(id),   -- its MUC service
    public        boolean,
    members_only  boolean,
    password      boolean,
    user_count    integer CHECK (user_count >= 0),
    joined        boolean NOT NULL DEFAULT false,
    observed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX room_observations_service_idx ON room_observations (service_id);

-- ---------------------------------------------------------------------------
-- Entity capabilities
-- ---------------------------------------------------------------------------

-- One XEP-0115 (algorithm, ver) and what verifying it found. outcome and
-- matched_by are the protocol core's verdict (lib/caps.h):
--   outcome    valid | ill-formed | mismatch | unsupported-hash | legacy | unparsable
--   error      the ill-formed reason, else NULL
--   matched_by strict | lenient | a variant name | NULL (nothing reproduces ver)
CREATE TABLE caps_entries (
    id                    bigserial PRIMARY KEY,
    algo                  text NOT NULL CHECK (length(algo) <= 32), -- '': legacy
    ver                   text NOT NULL CHECK (length(ver) <= 1024),
    outcome               text NOT NULL
                          CHECK (outcome IN ('valid', 'ill-formed', 'mismatch',
                                             'unsupported-hash', 'legacy', 'unparsable')),
    error                 text CHECK (error IN ('duplicate-identity', 'duplicate-feature',
                                                'duplicate-form-type',
                                                'form-type-multiple-values')),
    matched_by            text CHECK (matched_by <> ''),
    verification_string   text,          -- S as the strict rules build it
    computed_ver          text,          -- hash of S with algo
    content_id            bigint REFERENCES disco_contents(id),
    has_softinfo          boolean NOT NULL DEFAULT false,
    first_source_id       bigint REFERENCES sources(id),
    first_seen            timestamptz NOT NULL DEFAULT now(),
    last_seen             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (algo, ver),
    CHECK (error IS NULL OR outcome = 'ill-formed'),
    CHECK (algo <> '' OR outcome = 'legacy')
);
CREATE INDEX caps_entries_content_idx ON caps_entries (content_id);

-- The nodes a caps entry was seen with, and how often resolving it by that
-- node gave a mismatch (possible poisoning or a named implementation bug).
CREATE TABLE caps_entry_nodes (
    entry_id        bigint NOT NULL REFERENCES caps_entries(id),
    node            text NOT NULL CHECK (length(node) <= 1024),
    first_seen      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now(),
    resolutions     bigint NOT NULL DEFAULT 0,
    mismatches      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (entry_id, node)
);
CREATE INDEX caps_entry_nodes_node_idx ON caps_entry_nodes (node);

-- Counts of XEP-0115 caps seen per source and room service. Deliberately
-- nothing that could identify a person: no address of the presence sender,
-- no nick, no room-level occupant list. service_id NULL: an import, which
-- has no service.
CREATE TABLE caps_observations (
    source_id    bigint NOT NULL REFERENCES sources(id),
    service_id   bigint REFERENCES entities(id),
    algo         text NOT NULL,
    ver          text NOT NULL,
    node         text NOT NULL,
    count        bigint NOT NULL DEFAULT 1 CHECK (count >= 0),
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (source_id, service_id, algo, ver, node)
);
CREATE INDEX caps_observations_key_idx ON caps_observations (algo, ver);

-- XEP-0390 (caps2) hashes: one row per (algo, value) with its verdict.
CREATE TABLE caps2_entries (
    id           bigserial PRIMARY KEY,
    algo         text NOT NULL CHECK (algo <> '' AND length(algo) <= 32),
    value        text NOT NULL CHECK (length(value) <= 1024),   -- base64
    outcome      text NOT NULL
                 CHECK (outcome IN ('valid', 'ill-formed', 'mismatch',
                                    'unsupported-hash', 'unparsable')),
    content_id   bigint REFERENCES disco_contents(id),
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (algo, value)
);

-- Counts of XEP-0390 hashes seen per source and room service.
CREATE TABLE caps2_observations (
    source_id    bigint NOT NULL REFERENCES sources(id),
    service_id   bigint REFERENCES entities(id),
    algo         text NOT NULL,
    value        text NOT NULL,
    count        bigint NOT NULL DEFAULT 1 CHECK (count >= 0),
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (source_id, service_id, algo, value)
);

-- ---------------------------------------------------------------------------
-- Direct probes: DNS, stream features, TLS
-- ---------------------------------------------------------------------------

CREATE TABLE srv_records (
    id           bigserial PRIMARY KEY,
    source_id    bigint NOT NULL REFERENCES sources(id),
    domain_id    bigint NOT NULL REFERENCES domains(id),
    service      text NOT NULL CHECK (service IN ('xmpp-client', 'xmpps-client',
                                                  'xmpp-server', 'xmpps-server')),
    target       text NOT NULL,
    port         integer NOT NULL CHECK (port BETWEEN 0 AND 65535),
    priority     integer,
    weight       integer,
    observed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX srv_records_domain_idx ON srv_records (domain_id, observed_at DESC);

-- Stream features of one stream, before or after STARTTLS.
CREATE TABLE stream_features (
    id             bigserial PRIMARY KEY,
    source_id      bigint NOT NULL REFERENCES sources(id),
    domain_id      bigint NOT NULL REFERENCES domains(id),
    stream         text NOT NULL CHECK (stream IN ('c2s', 's2s')),
    target         text NOT NULL,        -- host name connected to
    ip             inet,
    port           integer NOT NULL CHECK (port BETWEEN 0 AND 65535),
    direct_tls     boolean NOT NULL DEFAULT false, -- XEP-0368
    phase          text NOT NULL CHECK (phase IN ('pre-tls', 'post-tls')),
    starttls       text CHECK (starttls IN ('none', 'optional', 'required')),
    mechanisms     text[] NOT NULL DEFAULT '{}',
    sm             boolean NOT NULL DEFAULT false, -- XEP-0198
    rosterver      boolean NOT NULL DEFAULT false, -- XEP-0237
    bidi           boolean NOT NULL DEFAULT false, -- XEP-0288
    csi            boolean NOT NULL DEFAULT false, -- XEP-0352
    ibr            boolean NOT NULL DEFAULT false, -- XEP-0077
    dialback       boolean NOT NULL DEFAULT false, -- XEP-0220
    compression    text[] NOT NULL DEFAULT '{}',   -- XEP-0138 methods
    caps_node      text,                           -- server <c/> in features
    caps_ver       text,
    caps_algo      text,
    other          text[] NOT NULL DEFAULT '{}',   -- other feature namespaces
    observed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stream_features_domain_idx ON stream_features (domain_id, observed_at DESC);

CREATE TABLE tls_facts (
    id             bigserial PRIMARY KEY,
    source_id      bigint NOT NULL REFERENCES sources(id),
    domain_id      bigint NOT NULL REFERENCES domains(id),
    stream         text NOT NULL CHECK (stream IN ('c2s', 's2s')),
    target         text NOT NULL,
    ip             inet,
    port           integer NOT NULL CHECK (port BETWEEN 0 AND 65535),
    direct_tls     boolean NOT NULL DEFAULT false,
    tls_version    text,
    cipher         text,
    cert_subject   text,
    cert_issuer    text,
    cert_names     text[] NOT NULL DEFAULT '{}',
    cert_not_before timestamptz,
    cert_not_after  timestamptz,
    cert_sha256    bytea,
    verifies       boolean,              -- chain and name valid for the domain
    verify_error   text,
    observed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tls_facts_domain_idx ON tls_facts (domain_id, observed_at DESC);

-- The outcome of every probe (disco#info, version, items, stream, tls,
-- resolve ...): successes, iq errors with their condition, timeouts.
CREATE TABLE probe_outcomes (
    id           bigserial PRIMARY KEY,
    source_id    bigint NOT NULL REFERENCES sources(id),
    job_id       bigint REFERENCES jobs(id),
    domain_id    bigint REFERENCES domains(id),
    entity_id    bigint REFERENCES entities(id),
    probe        text NOT NULL,           -- disco-info, disco-items, version, stream, tls ...
    outcome      text NOT NULL,           -- mirror of the crawler's enum probe_outcome
    condition    text,                    -- XMPP error condition, TLS alert ...
    detail       text CHECK (length(detail) <= 2000),
    duration_ms  integer CHECK (duration_ms >= 0),
    observed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX probe_outcomes_source_idx ON probe_outcomes (source_id, probe, outcome);
CREATE INDEX probe_outcomes_domain_idx ON probe_outcomes (domain_id, observed_at DESC);

-- ---------------------------------------------------------------------------
-- Analyses (written by `xcensus analyze`)
-- ---------------------------------------------------------------------------

CREATE TABLE analysis_runs (
    id               bigserial PRIMARY KEY,
    created_at       timestamptz NOT NULL DEFAULT now(),
    xcensus_version  text,
    source_ids       bigint[] NOT NULL DEFAULT '{}',
    params           jsonb NOT NULL DEFAULT '{}',
    results          jsonb NOT NULL DEFAULT '{}'
);

-- ---------------------------------------------------------------------------
-- Views: the stable contract read by `xcensus query`, the analyzer, the API
-- and the dashboards. Each returns correct (possibly empty) results on an
-- empty database.
-- ---------------------------------------------------------------------------

-- Per source: caps entries (distinct algo, ver) it observed, distinct
-- (algo, node, ver) keys, distinct nodes, entry outcome counts.
CREATE VIEW v_caps_summary AS
SELECT s.name                                        AS source,
       s.kind                                        AS kind,
       count(DISTINCT e.id)                          AS entries,
       count(*)                                      AS node_vers,
       count(DISTINCT o.node)                        AS nodes,
       count(DISTINCT e.id) FILTER (WHERE e.outcome = 'valid')      AS valid,
       count(DISTINCT e.id) FILTER (WHERE e.outcome = 'ill-formed') AS ill_formed,
       count(DISTINCT e.id) FILTER (WHERE e.outcome = 'mismatch')   AS mismatch,
       count(DISTINCT e.id) FILTER (WHERE e.outcome NOT IN ('valid', 'ill-formed', 'mismatch'))
                                                     AS other,
       count(DISTINCT e.id) FILTER (WHERE e.has_softinfo) AS with_softinfo,
       coalesce(sum(o.count), 0)::bigint             AS observations
FROM sources s
JOIN caps_observations o ON o.source_id = s.id
JOIN caps_entries e ON e.algo = o.algo AND e.ver = o.ver
GROUP BY s.id, s.name, s.kind;

-- Verdicts of all caps entries: outcome x matched_by.
CREATE VIEW v_caps_outcomes AS
SELECT outcome,
       coalesce(matched_by, '(none)') AS matched_by,
       coalesce(error, '')            AS error,
       count(*)                       AS entries
FROM caps_entries
GROUP BY outcome, matched_by, error;

-- Per caps node (software): hashes, how many carry XEP-0232, mean features.
CREATE VIEW v_caps_by_node AS
SELECT n.node,
       count(*)                                         AS hashes,
       count(*) FILTER (WHERE e.has_softinfo)           AS with_softinfo,
       count(*) FILTER (WHERE e.outcome = 'valid')      AS valid,
       round(avg(c.feature_count), 1)                   AS features_avg
FROM caps_entry_nodes n
JOIN caps_entries e ON e.id = n.entry_id
LEFT JOIN disco_contents c ON c.id = e.content_id
GROUP BY n.node;

-- Every feature and the number of caps entries advertising it.
CREATE VIEW v_feature_counts AS
SELECT f.var,
       count(*) AS entries
FROM caps_entries e
JOIN disco_contents c ON c.id = e.content_id
CROSS JOIN LATERAL unnest(c.feature_ids) AS u(feature_id)
JOIN features f ON f.id = u.feature_id
GROUP BY f.id, f.var;

-- XEP-0232 software information carried in caps entries.
CREATE VIEW v_caps_softinfo AS
SELECT coalesce(si.software, '')  AS software,
       count(*)                   AS hashes,
       count(DISTINCT si.software_version) AS versions,
       count(DISTINCT (si.os, si.os_version)) AS os_builds
FROM caps_entries e
JOIN softinfo si ON si.content_id = e.content_id
GROUP BY coalesce(si.software, '');

-- Sources and what they hold.
CREATE VIEW v_sources AS
SELECT s.name, s.kind, s.created_at,
       (SELECT count(*) FROM caps_observations o WHERE o.source_id = s.id) AS caps_keys,
       (SELECT coalesce(sum(o.count), 0) FROM caps_observations o WHERE o.source_id = s.id)::bigint
                                                                          AS caps_observations,
       (SELECT count(*) FROM disco_snapshots d WHERE d.source_id = s.id)  AS disco_snapshots,
       (SELECT count(*) FROM probe_outcomes p WHERE p.source_id = s.id)   AS probe_outcomes
FROM sources s;

-- The job queue of each crawl, by state (every state listed, zeros included).
CREATE VIEW v_crawl_status AS
SELECT c.name AS crawl,
       count(j.id) FILTER (WHERE j.state = 'queued')    AS queued,
       count(j.id) FILTER (WHERE j.state = 'queued' AND j.attempts > 0) AS retrying,
       count(j.id) FILTER (WHERE j.state = 'leased')    AS leased,
       count(j.id) FILTER (WHERE j.state = 'leased' AND j.lease_expires_at < now())
                                                        AS expired_leases,
       count(j.id) FILTER (WHERE j.state = 'done')      AS done,
       count(j.id) FILTER (WHERE j.state = 'failed')    AS failed,
       count(j.id) FILTER (WHERE j.state = 'cancelled') AS cancelled,
       count(j.id)                                      AS total
FROM crawls c
LEFT JOIN jobs j ON j.crawl_id = c.id
GROUP BY c.id, c.name;

-- The latest disco#info of each entity.
CREATE VIEW v_entity_latest_disco AS
SELECT DISTINCT ON (d.entity_id)
       en.address, en.node, en.kind, d.observed_at, s.name AS source,
       c.identity_count, c.feature_count, c.form_count, c.has_softinfo, d.content_id
FROM disco_snapshots d
JOIN entities en ON en.id = d.entity_id
JOIN sources s ON s.id = d.source_id
JOIN disco_contents c ON c.id = d.content_id
ORDER BY d.entity_id, d.observed_at DESC, d.id DESC;

-- The latest XEP-0092 answer of each entity.
CREATE VIEW v_software_latest AS
SELECT DISTINCT ON (v.entity_id)
       en.address, en.kind, v.name, v.version, v.os, v.observed_at
FROM software_versions v
JOIN entities en ON en.id = v.entity_id
ORDER BY v.entity_id, v.observed_at DESC, v.id DESC;
