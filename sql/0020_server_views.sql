-- 0020_server_views: what the servers of the latest crawls run and offer.
-- Read through `xcensus query NAME`; part of the view contract
-- (docs/SCHEMA.md).

-- Server software and version shares, from each server's latest XEP-0092
-- answer ("(no answer)" when it answered none).
CREATE VIEW v_server_software AS
SELECT coalesce(v.name, '(no answer)') AS software,
       coalesce(v.version, '') AS version,
       count(*) AS servers
FROM entities e
LEFT JOIN v_software_latest v ON v.address = e.address AND v.kind = e.kind
WHERE e.kind = 'server'
  AND EXISTS (SELECT 1 FROM disco_snapshots s WHERE s.entity_id = e.id)
GROUP BY 1, 2
ORDER BY servers DESC, software, version;

-- Feature adoption among servers: how many servers (by their latest
-- disco#info) advertise each feature, and their share.
CREATE VIEW v_server_features AS
WITH latest AS (
    SELECT content_id FROM v_entity_latest_disco WHERE kind = 'server'
), n AS (
    SELECT count(*) AS total FROM latest
)
SELECT f.var AS feature,
       count(*) AS servers,
       round(100.0 * count(*) / nullif(n.total, 0), 1) AS percent
FROM latest l
JOIN v_content_features f ON f.content_id = l.content_id
CROSS JOIN n
GROUP BY f.var, n.total
ORDER BY servers DESC, feature;
