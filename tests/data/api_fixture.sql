-- The known dataset of the query catalog, API, dashboard and snapshot tests
-- (tests/integration/api_fixture.sh loads it after `xcensus migrate` and the
-- capsdb import). Every row goes through the real tables; the numbers the
-- tests expect follow from what is written here (docs/SCHEMA.md, views).
--
-- Privacy: no occupant JID, nick or message anywhere. Rooms are bare room
-- addresses with a user count; caps seen in rooms are counts per service.
--
-- The story (times fixed, UTC; "now"-relative rows only in the recheck crawl):
--   crawl "census", runs on 2026-03-01, 2026-03-08, 2026-03-15 (finished)
--   crawl "recheck", one run still running (queue: queued, leased,
--   retrying; a few outcomes in the last hour and day)
--   servers  alpha.example    Prosody 0.12.4   mam:0,1 (+mam:2 on day 3),
--                             jabber:iq:privacy + urn:xmpp:blocking
--            beta.example     ejabberd 23.10   mam:0,1,2,2#extended, blocking
--            gamma.example    Prosody 0.12.4 -> 13.0.0 on day 3;
--                             mam:0 + privacy, then mam:1,2 + privacy + blocking
--            delta.example    Openfire 4.7.5 (answered version on day 1 only)
--                             mam:1, privacy (no blocking)
--            epsilon.example  ejabberd 24.02 from day 2; mam:0,1,2, blocking
--            zeta.example     never answers (timeouts, connect-timeout)
--            eta.example      opted out on 2026-03-05 (job cancelled)
--            theta.example    on the deny list, never crawled
--   components conference.alpha (muc), upload.alpha (store/file),
--              conference.beta (muc), pubsub.beta (pubsub/service),
--              proxy.gamma (proxy/bytestreams)
--   rooms    lobby@ and dev@conference.alpha.example, chat@conference.beta.example
--   caps     counts seen in conference.alpha.example on days 2 and 3 for
--            capsdb entries of Gajim, Conversations and Tkabber
--   analysis one analysis_runs row (results as `xcensus analyze` writes them)

BEGIN;

-- helpers (session-local) ----------------------------------------------------

-- Interns features and stores one disco#info content (identities as
-- 'category/type' strings); returns its id. The XML is a faithful rendering
-- so that the digest is the SHA-256 of real bytes.
CREATE FUNCTION pg_temp.fx_content(idents text[], feats text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    x text;
    cid bigint;
    ids integer[];
    i integer;
BEGIN
    INSERT INTO features (var) SELECT DISTINCT f FROM unnest(feats) f ORDER BY 1
        ON CONFLICT (var) DO NOTHING;
    SELECT array_agg(id ORDER BY id) INTO ids FROM features WHERE var = ANY (feats);
    x := '<query xmlns=''http://jabber.org/protocol/disco#info''>';
    FOR i IN 1 .. coalesce(array_length(idents, 1), 0) LOOP
        x := x || format('<identity category=''%s'' type=''%s''/>',
                         split_part(idents[i], '/', 1), split_part(idents[i], '/', 2));
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(feats, 1), 0) LOOP
        x := x || format('<feature var=''%s''/>', feats[i]);
    END LOOP;
    x := x || '</query>';
    INSERT INTO disco_contents (digest, xml, identity_count, feature_count, feature_ids)
    VALUES (sha256(convert_to(x, 'UTF8')), x, coalesce(array_length(idents, 1), 0),
            cardinality(ids), ids)
    ON CONFLICT (digest) DO NOTHING
    RETURNING id INTO cid;
    IF cid IS NULL THEN
        SELECT id INTO cid FROM disco_contents WHERE digest = sha256(convert_to(x, 'UTF8'));
    ELSE
        FOR i IN 1 .. coalesce(array_length(idents, 1), 0) LOOP
            INSERT INTO disco_identities (content_id, pos, category, type)
            VALUES (cid, i - 1, split_part(idents[i], '/', 1), split_part(idents[i], '/', 2));
        END LOOP;
    END IF;
    RETURN cid;
END $$;

CREATE FUNCTION pg_temp.fx_src(n text) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM sources WHERE name = n $$;
CREATE FUNCTION pg_temp.fx_dom(n text) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM domains WHERE name = n $$;
CREATE FUNCTION pg_temp.fx_ent(a text) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM entities WHERE address = a AND node = '' $$;

-- one disco#info snapshot of entity a in run r at time t
CREATE FUNCTION pg_temp.fx_disco(r text, a text, t timestamptz, idents text[], feats text[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO disco_snapshots (source_id, entity_id, content_id, observed_at)
    VALUES (pg_temp.fx_src(r), pg_temp.fx_ent(a), pg_temp.fx_content(idents, feats), t)
$$;

-- one probe outcome (domain by name; entity by address or NULL)
CREATE FUNCTION pg_temp.fx_out(r text, d text, a text, probe text, outcome text,
                               cond text, t timestamptz, ms integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO probe_outcomes (source_id, domain_id, entity_id, probe, outcome, condition,
                                duration_ms, observed_at)
    VALUES (pg_temp.fx_src(r), pg_temp.fx_dom(d), pg_temp.fx_ent(a), probe, outcome, cond,
            ms, t)
$$;

-- origins ----------------------------------------------------------------------

INSERT INTO sources (kind, name, description, created_at) VALUES
    ('crawl', 'census-2026-03-01', 'census crawl, run 1', '2026-03-01 10:00:00+00'),
    ('crawl', 'census-2026-03-08', 'census crawl, run 2', '2026-03-08 10:00:00+00'),
    ('crawl', 'census-2026-03-15', 'census crawl, run 3', '2026-03-15 10:00:00+00'),
    ('crawl', 'recheck-1', 'recheck crawl, running', '2026-03-16 09:00:00+00');

INSERT INTO crawls (name, scope, recrawl_interval, created_at) VALUES
    ('census', 'seeds', '7 days', '2026-03-01 09:00:00+00'),
    ('recheck', 'seeds', NULL, '2026-03-16 08:00:00+00');

INSERT INTO crawl_runs (crawl_id, source_id, state, started_at, finished_at, xcensus_version, host)
SELECT c.id, pg_temp.fx_src(v.src), v.state, v.started::timestamptz, v.finished::timestamptz,
       '0.1.0', 'fixture'
FROM (VALUES
    ('census', 'census-2026-03-01', 'finished', '2026-03-01 10:00:00+00', '2026-03-01 11:00:00+00'),
    ('census', 'census-2026-03-08', 'finished', '2026-03-08 10:00:00+00', '2026-03-08 11:00:00+00'),
    ('census', 'census-2026-03-15', 'finished', '2026-03-15 10:00:00+00', '2026-03-15 11:00:00+00'),
    ('recheck', 'recheck-1', 'running', '2026-03-16 09:00:00+00', NULL))
    AS v(crawl, src, state, started, finished)
JOIN crawls c ON c.name = v.crawl;

-- domains, deny list, jobs -----------------------------------------------------

INSERT INTO domains (name, first_seen, opt_out, opt_out_at, opt_out_reason) VALUES
    ('alpha.example',   '2026-03-01 09:00:00+00', false, NULL, NULL),
    ('beta.example',    '2026-03-01 09:00:00+00', false, NULL, NULL),
    ('gamma.example',   '2026-03-01 09:00:00+00', false, NULL, NULL),
    ('delta.example',   '2026-03-01 09:00:00+00', false, NULL, NULL),
    ('epsilon.example', '2026-03-08 09:00:00+00', false, NULL, NULL),
    ('zeta.example',    '2026-03-01 09:00:00+00', false, NULL, NULL),
    ('eta.example',     '2026-03-01 09:00:00+00', true, '2026-03-05 12:00:00+00',
                        'operator asked by mail'),
    ('theta.example',   '2026-03-01 09:00:00+00', false, NULL, NULL);

INSERT INTO deny_list (pattern, match, reason, added_at, added_by) VALUES
    ('theta.example', 'domain', 'operator request', '2026-03-01 08:00:00+00', 'fixture');

-- census: done for the five servers, failed for zeta, cancelled for eta
INSERT INTO jobs (crawl_id, domain_id, kind, state, attempts, last_error_class, last_error,
                  last_run_id, next_crawl_at, created_at, updated_at, finished_at)
SELECT (SELECT id FROM crawls WHERE name = 'census'), pg_temp.fx_dom(v.d), 'domain', v.state,
       v.attempts, v.cls, v.err,
       (SELECT r.id FROM crawl_runs r WHERE r.source_id = pg_temp.fx_src('census-2026-03-15')),
       v.next::timestamptz, '2026-03-01 09:00:00+00', v.fin::timestamptz, v.fin::timestamptz
FROM (VALUES
    ('alpha.example',   'done',      1, NULL, NULL, '2026-03-22 10:00:00+00', '2026-03-15 10:05:00+00'),
    ('beta.example',    'done',      1, NULL, NULL, '2026-03-22 10:00:00+00', '2026-03-15 10:06:00+00'),
    ('gamma.example',   'done',      1, NULL, NULL, '2026-03-22 10:00:00+00', '2026-03-15 10:07:00+00'),
    ('delta.example',   'done',      1, NULL, NULL, '2026-03-22 10:00:00+00', '2026-03-15 10:08:00+00'),
    ('epsilon.example', 'done',      1, NULL, NULL, '2026-03-22 10:00:00+00', '2026-03-15 10:09:00+00'),
    ('zeta.example',    'failed',    5, 'timeout', 'no answer to disco#info', NULL,
                                                                            '2026-03-15 10:30:00+00'),
    ('eta.example',     'cancelled', 0, 'opt-out', 'domain opted out', NULL,
                                                                            '2026-03-05 12:00:00+00'))
    AS v(d, state, attempts, cls, err, next, fin);

-- recheck: one queued, one leased (lease far ahead), one retrying
INSERT INTO jobs (crawl_id, domain_id, kind, state, attempts, lease_owner, lease_expires_at,
                  lease_version, next_attempt_at, last_error_class, created_at, updated_at)
SELECT (SELECT id FROM crawls WHERE name = 'recheck'), pg_temp.fx_dom(v.d), 'domain', v.state,
       v.attempts, v.owner, v.exp::timestamptz, v.attempts, '2026-03-16 09:00:00+00',
       v.cls, '2026-03-16 08:00:00+00', '2026-03-16 09:00:00+00'
FROM (VALUES
    ('alpha.example', 'queued', 0, NULL, NULL, NULL),
    ('beta.example',  'leased', 1, 'fixture:1:abc', '2099-01-01 00:00:00+00', NULL),
    ('zeta.example',  'queued', 2, NULL, NULL, 'timeout'))
    AS v(d, state, attempts, owner, exp, cls);

-- entities ---------------------------------------------------------------------

INSERT INTO entities (address, domain_id, kind, first_seen, last_seen)
SELECT v.a, pg_temp.fx_dom(v.d), v.k, v.first::timestamptz, v.last::timestamptz
FROM (VALUES
    ('alpha.example',             'alpha.example',   'server',  '2026-03-01 10:01:00+00', '2026-03-15 10:01:00+00'),
    ('beta.example',              'beta.example',    'server',  '2026-03-01 10:02:00+00', '2026-03-15 10:02:00+00'),
    ('gamma.example',             'gamma.example',   'server',  '2026-03-01 10:03:00+00', '2026-03-15 10:03:00+00'),
    ('delta.example',             'delta.example',   'server',  '2026-03-01 10:04:00+00', '2026-03-15 10:04:00+00'),
    ('epsilon.example',           'epsilon.example', 'server',  '2026-03-08 10:05:00+00', '2026-03-15 10:05:00+00'),
    ('conference.alpha.example',  'alpha.example',   'muc',     '2026-03-01 10:01:10+00', '2026-03-15 10:01:10+00'),
    ('upload.alpha.example',      'alpha.example',   'upload',  '2026-03-01 10:01:20+00', '2026-03-15 10:01:20+00'),
    ('conference.beta.example',   'beta.example',    'muc',     '2026-03-01 10:02:10+00', '2026-03-15 10:02:10+00'),
    ('pubsub.beta.example',       'beta.example',    'pubsub',  '2026-03-01 10:02:20+00', '2026-03-15 10:02:20+00'),
    ('proxy.gamma.example',       'gamma.example',   'proxy',   '2026-03-01 10:03:10+00', '2026-03-15 10:03:10+00'),
    ('lobby@conference.alpha.example', 'alpha.example', 'room', '2026-03-08 10:01:30+00', '2026-03-15 10:01:30+00'),
    ('dev@conference.alpha.example',   'alpha.example', 'room', '2026-03-08 10:01:31+00', '2026-03-15 10:01:31+00'),
    ('chat@conference.beta.example',   'beta.example',  'room', '2026-03-15 10:02:30+00', '2026-03-15 10:02:30+00'))
    AS v(a, d, k, first, last);

INSERT INTO disco_item_links (source_id, parent_id, child_id, observed_at)
SELECT pg_temp.fx_src('census-2026-03-15'), pg_temp.fx_ent(p), pg_temp.fx_ent(c),
       '2026-03-15 10:00:30+00'
FROM (VALUES ('alpha.example', 'conference.alpha.example'),
             ('alpha.example', 'upload.alpha.example'),
             ('beta.example', 'conference.beta.example'),
             ('beta.example', 'pubsub.beta.example'),
             ('gamma.example', 'proxy.gamma.example')) AS v(p, c);

-- disco#info -------------------------------------------------------------------

-- the features every answering server lists
CREATE TEMP TABLE fx_base (f text[]);
INSERT INTO fx_base VALUES (ARRAY['http://jabber.org/protocol/disco#info',
                                  'http://jabber.org/protocol/disco#items',
                                  'jabber:iq:version', 'urn:xmpp:ping']);

SELECT pg_temp.fx_disco(r.src, s.a, r.t + s.off, ARRAY['server/im'],
                        (SELECT f FROM fx_base) || s.feats)
FROM (VALUES ('census-2026-03-01', 1, '2026-03-01 10:00:00+00'::timestamptz),
             ('census-2026-03-08', 2, '2026-03-08 10:00:00+00'),
             ('census-2026-03-15', 3, '2026-03-15 10:00:00+00')) AS r(src, day, t)
CROSS JOIN LATERAL (VALUES
    ('alpha.example', interval '1 minute',
     CASE WHEN r.day < 3
          THEN ARRAY['urn:xmpp:mam:0', 'urn:xmpp:mam:1', 'urn:xmpp:carbons:2',
                     'jabber:iq:privacy', 'urn:xmpp:blocking']
          ELSE ARRAY['urn:xmpp:mam:0', 'urn:xmpp:mam:1', 'urn:xmpp:mam:2',
                     'urn:xmpp:carbons:2', 'jabber:iq:privacy', 'urn:xmpp:blocking'] END),
    ('beta.example', interval '2 minutes',
     ARRAY['urn:xmpp:mam:0', 'urn:xmpp:mam:1', 'urn:xmpp:mam:2', 'urn:xmpp:mam:2#extended',
           'urn:xmpp:carbons:2', 'urn:xmpp:blocking']),
    ('gamma.example', interval '3 minutes',
     CASE WHEN r.day < 3
          THEN ARRAY['urn:xmpp:mam:0', 'jabber:iq:privacy']
          ELSE ARRAY['urn:xmpp:mam:1', 'urn:xmpp:mam:2', 'jabber:iq:privacy',
                     'urn:xmpp:blocking'] END),
    ('delta.example', interval '4 minutes', ARRAY['urn:xmpp:mam:1', 'jabber:iq:privacy']),
    ('epsilon.example', interval '5 minutes',
     ARRAY['urn:xmpp:mam:0', 'urn:xmpp:mam:1', 'urn:xmpp:mam:2', 'urn:xmpp:blocking']))
    AS s(a, off, feats)
WHERE s.a <> 'epsilon.example' OR r.day >= 2;

-- components, every run
SELECT pg_temp.fx_disco(r.src, c.a, r.t + c.off, c.idents, c.feats)
FROM (VALUES ('census-2026-03-01', '2026-03-01 10:00:00+00'::timestamptz),
             ('census-2026-03-08', '2026-03-08 10:00:00+00'),
             ('census-2026-03-15', '2026-03-15 10:00:00+00')) AS r(src, t)
CROSS JOIN (VALUES
    ('conference.alpha.example', interval '70 seconds', ARRAY['conference/text'],
     ARRAY['http://jabber.org/protocol/muc', 'urn:xmpp:mam:2', 'http://jabber.org/protocol/disco#info']),
    ('upload.alpha.example', interval '80 seconds', ARRAY['store/file'],
     ARRAY['urn:xmpp:http:upload:0', 'http://jabber.org/protocol/disco#info']),
    ('conference.beta.example', interval '130 seconds', ARRAY['conference/text'],
     ARRAY['http://jabber.org/protocol/muc', 'urn:xmpp:mam:1', 'urn:xmpp:mam:2',
           'http://jabber.org/protocol/disco#info']),
    ('pubsub.beta.example', interval '140 seconds', ARRAY['pubsub/service'],
     ARRAY['http://jabber.org/protocol/pubsub', 'http://jabber.org/protocol/disco#info']),
    ('proxy.gamma.example', interval '190 seconds', ARRAY['proxy/bytestreams'],
     ARRAY['http://jabber.org/protocol/bytestreams', 'http://jabber.org/protocol/disco#info']))
    AS c(a, off, idents, feats);

-- XEP-0092 versions ------------------------------------------------------------

INSERT INTO software_versions (source_id, entity_id, name, version, os, observed_at)
SELECT pg_temp.fx_src(v.src), pg_temp.fx_ent(v.a), v.n, v.ver, v.os, v.t::timestamptz
FROM (VALUES
    ('census-2026-03-01', 'alpha.example',   'Prosody',  '0.12.4', 'Linux', '2026-03-01 10:01:05+00'),
    ('census-2026-03-08', 'alpha.example',   'Prosody',  '0.12.4', 'Linux', '2026-03-08 10:01:05+00'),
    ('census-2026-03-15', 'alpha.example',   'Prosody',  '0.12.4', 'Linux', '2026-03-15 10:01:05+00'),
    ('census-2026-03-01', 'beta.example',    'ejabberd', '23.10',  NULL,    '2026-03-01 10:02:05+00'),
    ('census-2026-03-08', 'beta.example',    'ejabberd', '23.10',  NULL,    '2026-03-08 10:02:05+00'),
    ('census-2026-03-15', 'beta.example',    'ejabberd', '23.10',  NULL,    '2026-03-15 10:02:05+00'),
    ('census-2026-03-01', 'gamma.example',   'Prosody',  '0.12.4', 'Linux', '2026-03-01 10:03:05+00'),
    ('census-2026-03-08', 'gamma.example',   'Prosody',  '0.12.4', 'Linux', '2026-03-08 10:03:05+00'),
    ('census-2026-03-15', 'gamma.example',   'Prosody',  '13.0.0', 'Linux', '2026-03-15 10:03:05+00'),
    ('census-2026-03-01', 'delta.example',   'Openfire', '4.7.5',  NULL,    '2026-03-01 10:04:05+00'),
    ('census-2026-03-08', 'epsilon.example', 'ejabberd', '24.02',  NULL,    '2026-03-08 10:05:05+00'),
    ('census-2026-03-15', 'epsilon.example', 'ejabberd', '24.02',  NULL,    '2026-03-15 10:05:05+00'),
    ('census-2026-03-15', 'conference.alpha.example', 'Prosody', '0.12.4', NULL, '2026-03-15 10:01:15+00'),
    ('census-2026-03-15', 'conference.beta.example',  'ejabberd', '23.10', NULL, '2026-03-15 10:02:15+00'),
    ('census-2026-03-15', 'pubsub.beta.example',      'ejabberd', '23.10', NULL, '2026-03-15 10:02:25+00'),
    ('census-2026-03-15', 'proxy.gamma.example',      'Prosody', '13.0.0', NULL, '2026-03-15 10:03:15+00'))
    AS v(src, a, n, ver, os, t);

-- rooms (counts only) ----------------------------------------------------------

INSERT INTO room_observations (source_id, entity_id, service_id, public, members_only, password,
                               user_count, joined, observed_at)
SELECT pg_temp.fx_src(v.src), pg_temp.fx_ent(v.room), pg_temp.fx_ent(v.svc), true, false, false,
       v.users, v.joined, v.t::timestamptz
FROM (VALUES
    ('census-2026-03-08', 'lobby@conference.alpha.example', 'conference.alpha.example', 12, true,  '2026-03-08 10:01:30+00'),
    ('census-2026-03-08', 'dev@conference.alpha.example',   'conference.alpha.example', 4,  true,  '2026-03-08 10:01:31+00'),
    ('census-2026-03-15', 'lobby@conference.alpha.example', 'conference.alpha.example', 15, true,  '2026-03-15 10:01:30+00'),
    ('census-2026-03-15', 'dev@conference.alpha.example',   'conference.alpha.example', 3,  true,  '2026-03-15 10:01:31+00'),
    ('census-2026-03-15', 'chat@conference.beta.example',   'conference.beta.example',  7,  false, '2026-03-15 10:02:30+00'))
    AS v(src, room, svc, users, joined, t);

-- caps seen in conference.alpha.example: counts per (algo, ver, node) of
-- capsdb entries (the first valid ones of three clients by ver)
CREATE TEMP TABLE fx_caps AS
SELECT n.node, e.algo, e.ver, row_number() OVER (PARTITION BY n.node ORDER BY e.ver) AS k
FROM caps_entries e JOIN caps_entry_nodes n ON n.entry_id = e.id
WHERE n.node IN ('http://gajim.org', 'http://conversations.im')
  AND e.outcome = 'valid' AND NOT e.has_softinfo
UNION ALL
SELECT n.node, e.algo, e.ver, row_number() OVER (ORDER BY e.ver)
FROM caps_entries e JOIN caps_entry_nodes n ON n.entry_id = e.id
WHERE n.node = 'http://tkabber.jabber.ru/' AND e.outcome = 'valid' AND e.has_softinfo;

-- day 2: gajim#1 x5, gajim#2 x2, conversations#1 x3; day 3: gajim#1 x6,
-- gajim#3 x1, conversations#1 x4, conversations#2 x2, tkabber#1 x2
INSERT INTO caps_observations (source_id, service_id, algo, ver, node, count, first_seen, last_seen)
SELECT pg_temp.fx_src(v.src), pg_temp.fx_ent('conference.alpha.example'), c.algo, c.ver, c.node,
       v.cnt, v.t::timestamptz, v.t::timestamptz
FROM (VALUES
    ('census-2026-03-08', 'http://gajim.org', 1, 5, '2026-03-08 10:01:40+00'),
    ('census-2026-03-08', 'http://gajim.org', 2, 2, '2026-03-08 10:01:40+00'),
    ('census-2026-03-08', 'http://conversations.im', 1, 3, '2026-03-08 10:01:40+00'),
    ('census-2026-03-15', 'http://gajim.org', 1, 6, '2026-03-15 10:01:40+00'),
    ('census-2026-03-15', 'http://gajim.org', 3, 1, '2026-03-15 10:01:40+00'),
    ('census-2026-03-15', 'http://conversations.im', 1, 4, '2026-03-15 10:01:40+00'),
    ('census-2026-03-15', 'http://conversations.im', 2, 2, '2026-03-15 10:01:40+00'),
    ('census-2026-03-15', 'http://tkabber.jabber.ru/', 1, 2, '2026-03-15 10:01:40+00'))
    AS v(src, node, k, cnt, t)
JOIN fx_caps c ON c.node = v.node AND c.k = v.k;

-- direct probes: SRV, stream features, TLS (day 3) ------------------------------

INSERT INTO srv_records (source_id, domain_id, service, target, port, priority, weight, observed_at)
SELECT pg_temp.fx_src('census-2026-03-15'), pg_temp.fx_dom(d), s, 'xmpp.' || d, p, 0, 5,
       '2026-03-15 10:00:10+00'
FROM (VALUES ('alpha.example'), ('beta.example'), ('gamma.example'), ('delta.example'),
             ('epsilon.example')) AS v(d)
CROSS JOIN (VALUES ('xmpp-client', 5222), ('xmpp-server', 5269)) AS w(s, p);

INSERT INTO stream_features (source_id, domain_id, stream, target, ip, port, direct_tls, phase,
                             starttls, mechanisms, sm, rosterver, bidi, csi, ibr, dialback,
                             observed_at)
SELECT pg_temp.fx_src('census-2026-03-15'), pg_temp.fx_dom(v.d), v.stream, 'xmpp.' || v.d,
       '127.0.0.1', CASE v.stream WHEN 'c2s' THEN 5222 ELSE 5269 END, false, v.phase,
       v.starttls, v.mechs, v.sm, v.phase = 'post-tls', false, v.sm, false,
       v.stream = 's2s', '2026-03-15 10:00:20+00'::timestamptz
FROM (VALUES
    ('alpha.example',   'c2s', 'pre-tls',  'required', '{}'::text[], false),
    ('alpha.example',   'c2s', 'post-tls', NULL, '{SCRAM-SHA-1,SCRAM-SHA-256}', true),
    ('alpha.example',   's2s', 'pre-tls',  'required', '{}', false),
    ('alpha.example',   's2s', 'post-tls', NULL, '{EXTERNAL}', false),
    ('beta.example',    'c2s', 'pre-tls',  'optional', '{PLAIN}', false),
    ('beta.example',    'c2s', 'post-tls', NULL, '{PLAIN,SCRAM-SHA-1}', true),
    ('gamma.example',   'c2s', 'pre-tls',  'required', '{}', false),
    ('gamma.example',   'c2s', 'post-tls', NULL, '{SCRAM-SHA-256}', true),
    ('delta.example',   'c2s', 'pre-tls',  'required', '{}', false),
    ('delta.example',   'c2s', 'post-tls', NULL, '{PLAIN,SCRAM-SHA-1}', false),
    ('epsilon.example', 'c2s', 'pre-tls',  'required', '{}', false),
    ('epsilon.example', 'c2s', 'post-tls', NULL, '{SCRAM-SHA-1}', true))
    AS v(d, stream, phase, starttls, mechs, sm);

INSERT INTO tls_facts (source_id, domain_id, stream, target, ip, port, direct_tls, tls_version,
                       cipher, cert_subject, cert_issuer, cert_names, cert_not_before,
                       cert_not_after, verifies, verify_error, observed_at)
SELECT pg_temp.fx_src('census-2026-03-15'), pg_temp.fx_dom(v.d), v.stream, 'xmpp.' || v.d,
       '127.0.0.1', CASE v.stream WHEN 'c2s' THEN 5222 ELSE 5269 END, false, 'TLSv1.3',
       'TLS_AES_256_GCM_SHA384', 'CN=' || v.d, 'CN=Fixture CA', ARRAY[v.d],
       '2026-01-01 00:00:00+00', '2026-12-31 00:00:00+00', v.ok, v.err,
       '2026-03-15 10:00:21+00'::timestamptz
FROM (VALUES
    ('alpha.example', 'c2s', true, NULL),
    ('alpha.example', 's2s', true, NULL),
    ('beta.example', 'c2s', true, NULL),
    ('gamma.example', 'c2s', true, NULL),
    ('delta.example', 'c2s', false, 'hostname mismatch'),
    ('epsilon.example', 'c2s', true, NULL)) AS v(d, stream, ok, err);

-- probe outcomes ---------------------------------------------------------------

-- census runs: disco-info, disco-items, version for each answering server
-- (delta's version is an iq-error after day 1), direct-c2s for each domain
-- on day 3; zeta times out every time.
SELECT pg_temp.fx_out(r.src, s.a, s.a, p.probe,
                      CASE WHEN p.probe = 'version' AND s.a = 'delta.example' AND r.day > 1
                           THEN 'iq-error' ELSE 'ok' END,
                      CASE WHEN p.probe = 'version' AND s.a = 'delta.example' AND r.day > 1
                           THEN 'service-unavailable' END,
                      r.t + interval '1 minute', 40)
FROM (VALUES ('census-2026-03-01', 1, '2026-03-01 10:00:00+00'::timestamptz),
             ('census-2026-03-08', 2, '2026-03-08 10:00:00+00'),
             ('census-2026-03-15', 3, '2026-03-15 10:00:00+00')) AS r(src, day, t)
CROSS JOIN (VALUES ('alpha.example'), ('beta.example'), ('gamma.example'), ('delta.example'),
                   ('epsilon.example')) AS s(a)
CROSS JOIN (VALUES ('disco-info'), ('disco-items'), ('version')) AS p(probe)
WHERE s.a <> 'epsilon.example' OR r.day >= 2;

SELECT pg_temp.fx_out(r.src, 'zeta.example', NULL, 'disco-info', 'timeout', NULL,
                      r.t + interval '2 minutes', 30000)
FROM (VALUES ('census-2026-03-01', '2026-03-01 10:00:00+00'::timestamptz),
             ('census-2026-03-08', '2026-03-08 10:00:00+00'),
             ('census-2026-03-15', '2026-03-15 10:00:00+00')) AS r(src, t);

SELECT pg_temp.fx_out('census-2026-03-15', d, NULL, 'direct-c2s', o, NULL,
                      '2026-03-15 10:00:25+00', ms)
FROM (VALUES ('alpha.example', 'ok', 80), ('beta.example', 'ok', 90), ('gamma.example', 'ok', 70),
             ('delta.example', 'ok', 85), ('epsilon.example', 'ok', 75),
             ('zeta.example', 'connect-timeout', 10000)) AS v(d, o, ms);
SELECT pg_temp.fx_out('census-2026-03-15', 'alpha.example', NULL, 'direct-s2s', 'ok', NULL,
                      '2026-03-15 10:00:26+00', 95);
SELECT pg_temp.fx_out('census-2026-03-15', 'zeta.example', NULL, 'direct-s2s', 'nxdomain', NULL,
                      '2026-03-15 10:00:26+00', 5);

-- components: disco-info ok on day 3
SELECT pg_temp.fx_out('census-2026-03-15', split_part(a, '.', 2) || '.example', a, 'disco-info',
                      'ok', NULL, '2026-03-15 10:01:00+00', 20)
FROM (VALUES ('conference.alpha.example'), ('upload.alpha.example'),
             ('conference.beta.example'), ('pubsub.beta.example'),
             ('proxy.gamma.example')) AS v(a);

-- recheck (relative to now): two outcomes in the last hour (ok, timeout),
-- one 3 hours ago (ok)
INSERT INTO probe_outcomes (source_id, domain_id, probe, outcome, condition, duration_ms, observed_at)
VALUES (pg_temp.fx_src('recheck-1'), pg_temp.fx_dom('alpha.example'), 'disco-info', 'ok', NULL,
        30, now() - interval '10 minutes'),
       (pg_temp.fx_src('recheck-1'), pg_temp.fx_dom('zeta.example'), 'disco-info', 'timeout',
        NULL, 30000, now() - interval '20 minutes'),
       (pg_temp.fx_src('recheck-1'), pg_temp.fx_dom('beta.example'), 'disco-info', 'ok', NULL,
        35, now() - interval '3 hours');

-- an analysis --------------------------------------------------------------------
\ir api_fixture_analysis.sql

COMMIT;
