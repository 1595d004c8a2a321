-- 0010_queue: what the crawler's job queue needs beyond 0001_init
-- (crawler/queue.c, docs/QUEUE.md).
--
--  * domains.leased_job_id: the job that currently holds the domain. A
--    claim locks the domain row (FOR UPDATE SKIP LOCKED) and only takes a
--    domain whose leased_job_id is NULL; because the condition is on the
--    locked row itself, PostgreSQL re-checks it on the newest row version
--    when a concurrent claim committed first, so two processes can never
--    both take one domain. Completion and the reaper clear it.
--  * domains.last_contact: when a job of the domain was last claimed or
--    finished (database clock), for the minimum interval between two jobs
--    of one domain.
--  * jobs.completed_version: the fencing token of the completion that
--    finished the job, so that a completion re-sent after a lost connection
--    is recognised as already applied instead of as a stale lease.
--  * jobs.origin: 'seed' (listed explicitly by `xcensus seed`) or
--    'discovered' (found while crawling); opt-in crawls check XEP-0485
--    before crawling a discovered domain.
--  * a unique index that makes a second leased job of one domain
--    impossible whatever a program does (the claim never trips it).
--  * an index for the claim, per crawl.

ALTER TABLE domains
    ADD COLUMN leased_job_id bigint,          -- jobs(id); no FK: written with the job
    ADD COLUMN last_contact  timestamptz;

ALTER TABLE jobs
    ADD COLUMN completed_version bigint,
    ADD COLUMN origin text NOT NULL DEFAULT 'seed'
        CHECK (origin IN ('seed', 'discovered'));

CREATE UNIQUE INDEX jobs_one_lease_per_domain ON jobs (domain_id) WHERE state = 'leased';
CREATE INDEX jobs_crawl_claim_idx ON jobs (crawl_id, priority DESC, next_attempt_at, id)
    WHERE state = 'queued';
CREATE INDEX jobs_lease_owner_idx ON jobs (lease_owner) WHERE state = 'leased';
