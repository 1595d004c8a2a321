-- 0031_caps_ver_index: caps entries found by their ver alone.
--
-- A lookup by node#ver (what a server or client cache keyed like ejabberd's
-- caps_features does) names the node and the ver, not the algorithm: the
-- unique index on (algo, ver) cannot serve it, and the node's index walks
-- every entry of that node (hundreds of thousands for a client that hashes
-- its version and OS build). Measured at 1e6 entries: 29-106 ms before,
-- 0.07-0.10 ms with this index (48 MB).
CREATE INDEX caps_entries_ver_idx ON caps_entries (ver);
