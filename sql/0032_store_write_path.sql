-- 0032_store_write_path: the rollup triggers of 0030 find an entity's kind
-- and a content's features by index, one row at a time.
--
-- The triggers joined each statement's new rows (a few dozen: one batch of
-- the storage writer) to entities and disco_contents. The planner, which
-- sees the transition table's size but not how few keys it touches, chose
-- a hash join over a sequential scan of the whole table for every batch:
-- on a 4,000-domain crawl that was the largest part of each trigger's
-- cost, and it grows with the tables (disco_contents holds the raw XML of
-- every distinct answer). A scalar subquery per row is always an index
-- probe. Same rows, same results; only the plans change.

CREATE OR REPLACE FUNCTION xc_rollup_disco() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Writing entity_disco_latest fires xc_rollup_latest(), which does
    -- INSERT INTO latest_content_counts and INSERT INTO latest_feature_counts:
    -- named here so that whoever reads this function's source (snapshot
    -- export classifies as derived what a dataset table's trigger inserts
    -- into) finds every table it leads to.
    INSERT INTO entity_disco_latest AS l (entity_id, kind, content_id, snapshot_id, source_id,
                                          disco_at)
    SELECT DISTINCT ON (n.entity_id) n.entity_id,
           (SELECT e.kind FROM entities e WHERE e.id = n.entity_id), n.content_id, n.id,
           n.source_id, n.observed_at
    FROM xc_new n
    ORDER BY n.entity_id, n.observed_at DESC, n.id DESC
    ON CONFLICT (entity_id) DO UPDATE
        SET kind = EXCLUDED.kind, content_id = EXCLUDED.content_id,
            snapshot_id = EXCLUDED.snapshot_id, source_id = EXCLUDED.source_id,
            disco_at = EXCLUDED.disco_at
        WHERE (l.disco_at, l.snapshot_id) < (EXCLUDED.disco_at, EXCLUDED.snapshot_id);
    WITH b AS (
        SELECT (n.observed_at AT TIME ZONE 'UTC')::date AS day,
               (SELECT e.kind FROM entities e WHERE e.id = n.entity_id) AS kind,
               n.content_id, count(*) AS snapshots
        FROM xc_new n
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
    CROSS JOIN LATERAL unnest((SELECT c.feature_ids FROM disco_contents c
                               WHERE c.id = b.content_id)) AS u(fid)
    GROUP BY 1, 2, 3 ORDER BY 3, 1, 2
    ON CONFLICT (feature_id, day, kind, shard)
        DO UPDATE SET snapshots = d.snapshots + EXCLUDED.snapshots;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION xc_rollup_latest() RETURNS trigger
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
        FROM d
        CROSS JOIN LATERAL unnest((SELECT c.feature_ids FROM disco_contents c
                                   WHERE c.id = d.content_id)) AS u(fid)
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
        FROM d
        CROSS JOIN LATERAL unnest((SELECT c.feature_ids FROM disco_contents c
                                   WHERE c.id = d.content_id)) AS u(fid)
        GROUP BY 1, 2 HAVING sum(d.n) <> 0 ORDER BY 1, 2
        ON CONFLICT (feature_id, kind, shard) DO UPDATE SET entities = f.entities + EXCLUDED.entities;
    END IF;
    RETURN NULL;
END $$;
