-- 0011_store: the ledger that makes the crawler's storage writer idempotent.
--
-- crawler/store.c writes every batch of results in one transaction whose
-- first statement inserts the batch's id here. A batch sent again (after a
-- lost connection whose COMMIT may or may not have happened, from a spill
-- file, by a restarted process replaying what a dead one left) fails on the
-- primary key, its transaction rolls back, and the writer counts it as
-- already written: every table the batch touches, history tables included,
-- gets each record exactly once, with no natural key needed on them.
-- batch_id = "<owner>:<sequence>", owner = host:pid:random of the process.
CREATE TABLE store_batches (
    batch_id      text PRIMARY KEY CHECK (batch_id <> '' AND length(batch_id) <= 220),
    kind          text NOT NULL,          -- disco, item, version, outcome, caps-obs ...
    rows          integer NOT NULL CHECK (rows >= 0), -- records in the batch
    committed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX store_batches_committed_idx ON store_batches (committed_at);
