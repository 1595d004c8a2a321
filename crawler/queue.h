/*
 * The crawler's job queue in PostgreSQL, shared by any number of crawler
 * processes on any number of machines (docs/QUEUE.md). This module runs
 * every statement on one crawler/pgasync connection and never blocks: each
 * operation reports through a callback from the event loop.
 *
 * A process starts (or resumes) a named crawl with queue_start(): the deny
 * file is read and synced into deny_list, the crawl row is created if
 * missing, and one crawl run (a source) is opened for this process, owned
 * by "host:pid:random". It then claims jobs in batches (one statement,
 * FOR UPDATE SKIP LOCKED, lease expiry from the database clock), and
 * completes each with the fencing token the claim returned. A persistent
 * timer heartbeats every held lease in one statement, and runs the reaper
 * (expired leases back to queued) and the re-crawl (finished jobs whose
 * next_crawl_at has passed back to queued).
 *
 * Pure helpers (error classes, backoff, domain name normalisation, deny
 * file lines) need no database and are unit-tested.
 *
 * Not here: what a job does (the scheduler and probes), results (store).
 */
#ifndef XC_QUEUE_H
#define XC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct event_base;
struct pgasync;
struct queue;

/* How a job ended: success, or the class of its failure. Each failure
 * class has a backoff (base delay doubling per attempt, up to a cap); a
 * final class fails the job at once (no retry before the next re-crawl). */
enum queue_class {
    QUEUE_OK,                      /* "ok": done */
    QUEUE_TIMEOUT,                 /* "timeout" */
    QUEUE_REMOTE_SERVER_NOT_FOUND, /* "remote-server-not-found" */
    QUEUE_SERVICE_UNAVAILABLE,     /* "service-unavailable" */
    QUEUE_POLICY_VIOLATION,        /* "policy-violation" */
    QUEUE_RESOURCE_CONSTRAINT,     /* "resource-constraint" */
    QUEUE_CONNECTION,              /* "connection": our session broke */
    QUEUE_INTERNAL,                /* "internal": a bug or local failure */
    QUEUE_OTHER,                   /* "other": any other error */
    QUEUE_LEASE_EXPIRED,           /* "lease-expired": set by the reaper */
    QUEUE_NOT_OPTED_IN,            /* "not-opted-in": final, opt-in crawls */
    QUEUE_DENIED,                  /* "denied": final, deny list */
    QUEUE_CLASS__COUNT
};

/* Stable name stored in jobs.last_error_class ("ok" for QUEUE_OK). */
const char *queue_class_name(enum queue_class c);
/* Parses a class name; false if unrecognized. */
bool queue_class_parse(const char *s, enum queue_class *out) MUST_CHECK;

/* One row of the backoff table (milliseconds). */
struct queue_backoff {
    int64_t base_ms; /* delay after the first failed attempt */
    int64_t cap_ms;  /* the doubling stops here */
    bool final;      /* fail at once, no retry */
};

/* The default backoff table, indexed by enum queue_class (QUEUE_OK's row
 * is unused); borrowed, static. */
const struct queue_backoff *queue_backoff_defaults(void);
struct xc_backoff_cfg;
/* Fills out[QUEUE_CLASS__COUNT] with the default table, then the bases the
 * config names (crawl.backoff.timeout, remote_server_not_found,
 * service_unavailable, policy_violation, resource_constraint; other for
 * "other") and crawl.backoff.max lowering every cap above it. */
void queue_backoff_from_config(const struct xc_backoff_cfg *cfg,
                               struct queue_backoff *out);
/* Delay before the next attempt after failed attempt number attempts
 * (1-based, as the claim returns it): base * 2^(attempts-1), capped;
 * 0 for QUEUE_OK and final classes. Never overflows. */
int64_t queue_backoff_delay(const struct queue_backoff *table,
                            enum queue_class c, int attempts);

/* Domain names. Writes the normalised name of s into out (lower case,
 * surrounding blanks and one trailing dot removed) and returns true, or
 * returns false with a reason in err->msg: empty, non-ASCII (IDNA is not
 * supported yet), too long (253), a label empty, longer than 63 or not
 * [a-z0-9-] without a leading or trailing hyphen, an IP address. */
bool queue_domain_normalize(const char *s, char out[256],
                            struct parse_err *err) MUST_CHECK;

/* Longest jobs.last_error kept, in bytes. */
#define QUEUE_DETAIL_MAX 2000

/* Returns a new copy of s fit for jobs.last_error: at most
 * QUEUE_DETAIL_MAX bytes, cut between characters, every byte that is not
 * part of valid UTF-8 replaced by '?' (remote text may be anything; the
 * database would refuse it). Caller frees with free(). */
char *queue_detail_clean(const char *s);

/* How a deny-list pattern matches. */
enum queue_deny_match {
    QUEUE_DENY_DOMAIN, /* "domain": exactly this name */
    QUEUE_DENY_SUFFIX, /* "suffix": the name and every name under it */
    QUEUE_DENY__COUNT
};

/* Parses one line of a deny file: blank lines and lines starting with '#'
 * give false with err->code 0 (nothing to add); "example.org" denies the
 * domain, "*.example.org" or ".example.org" the suffix; anything after the
 * pattern and blanks is the reason (copied into reason, truncated). False
 * with err->code != 0 on a bad pattern. */
bool queue_deny_parse_line(const char *line, char pattern[256],
                           enum queue_deny_match *match, char reason[200],
                           struct parse_err *err) MUST_CHECK;
/* "domain" or "suffix" (the deny_list.match values). */
const char *queue_deny_match_name(enum queue_deny_match m);

/* What queue_new() needs; strings are copied. Durations in ms. */
struct queue_params {
    const char *crawl; /* crawl name (created if missing) */
    int scope;         /* enum xc_scope, used when the crawl is created */
    int64_t recrawl_interval; /* used when the crawl is created; 0 = once */
    int64_t lease;            /* lease length */
    int64_t
        heartbeat_interval; /* also the reaper/re-crawl period; 0 = no timer */
    int64_t min_interval;   /* least time between two jobs of one domain */
    int max_attempts;       /* for jobs this process enqueues */
    const char *deny_file;  /* NULL = none */
    const char *owner;      /* NULL = "host:pid:random" */
    struct queue_backoff backoff[QUEUE_CLASS__COUNT]; /* zeroed = defaults */
};

/* One claimed job, as the claim callback sees it (borrowed during the
 * callback: copy what you keep). */
struct queue_job {
    int64_t id;
    const char *domain; /* normalised domain name */
    int64_t domain_id;  /* domains.id */
    const char *kind;   /* jobs.kind: "domain", "direct", "rooms", "resolve" */
    int64_t token;      /* fencing token (lease_version) for queue_complete */
    int attempts;       /* this attempt, 1-based */
    int max_attempts;
    bool
        check_opt_in;  /* opt-in crawl, discovered domain: verify XEP-0485
                          first and complete with QUEUE_NOT_OPTED_IN if absent */
    double claimed_at; /* database clock at the claim (epoch s) */
};

/* What became of a completion. */
enum queue_done {
    QUEUE_DONE_APPLIED,  /* the job took the outcome */
    QUEUE_DONE_REPLAYED, /* the same completion had already been applied
                            (re-sent after a lost connection): keep results */
    QUEUE_DONE_STALE,    /* the lease was lost (expired and reclaimed or
                            reaped): the job is not ours; drop the results */
    QUEUE_DONE_ERROR,    /* database error: the lease stays until it expires */
    QUEUE_DONE__COUNT
};
const char *queue_done_name(enum queue_done d);

/* Details of a completion, borrowed during the callback. */
struct queue_completion {
    int64_t job_id;
    int64_t token;
    const char *state;      /* new jobs.state ("done", "queued", "failed"),
                               NULL unless applied or replayed */
    double db_now;          /* database clock at the completion (epoch s) */
    double next_attempt_at; /* epoch s, for a failure that will be retried */
};

typedef void (*queue_ready_cb)(void *arg, bool ok, const char *msg);
/* jobs[0..n) borrowed during the call; ok false on a database error (n 0). */
typedef void (*queue_claim_cb)(void *arg, bool ok, const struct queue_job *jobs,
                               size_t n);
typedef void (*queue_complete_cb)(void *arg, enum queue_done d,
                                  const struct queue_completion *c);
/* A lease this process held was lost (found by a heartbeat): stop the job
 * and drop its results. */
typedef void (*queue_lost_cb)(void *arg, int64_t job_id, int64_t token);
/* Generic "rows affected" callback (reaper, re-crawl, enqueue); rows -1 on
 * a database error. */
typedef void (*queue_count_cb)(void *arg, long long rows);

/* Returns a new queue on pg (borrowed: pg must outlive the queue). Nothing
 * is sent before queue_start(). Caller frees with queue_free(). */
struct queue *queue_new(struct event_base *base, struct pgasync *pg,
                        const struct queue_params *p);
/* Stops the timer and frees; accepts NULL. Pending callbacks are not
 * called after this (their jobs are cancelled with the connection or
 * ignored). Held leases simply expire (call queue_finish() first for a
 * clean stop). */
void queue_free(struct queue *q);
/* Reads and syncs the deny file, creates or resumes the crawl, opens the
 * run; cb(ok) when done. A bad deny file fails the start. Starts the
 * heartbeat/maintenance timer on success. */
void queue_start(struct queue *q, queue_ready_cb cb, void *arg);
/* Sets the callback for leases lost while held. */
void queue_set_lost_cb(struct queue *q, queue_lost_cb cb, void *arg);

/* Claims at most n jobs (one statement). Only after queue_start() is done. */
void queue_claim(struct queue *q, int n, queue_claim_cb cb, void *arg);
/* Completes job id claimed with token: QUEUE_OK -> done (next_crawl_at =
 * now + the crawl's recrawl_interval); a failure -> queued with
 * next_attempt_at = now + backoff, or failed when attempts are used up or
 * the class is final. detail (NULL = none) goes through
 * queue_detail_clean(). opt_in (1, 0, or -1 for not known) is what the
 * probe found of the domain's XEP-0485 advertisement, recorded on the
 * domain in the same statement.
 * Re-sent whole after a lost connection (idempotent). cb may be NULL. */
void queue_complete(struct queue *q, int64_t id, int64_t token,
                    enum queue_class c, const char *detail, int opt_in,
                    queue_complete_cb cb, void *arg);
/* Extends every lease this process holds, now (the timer does it every
 * heartbeat_interval); leases found lost go to the lost callback. */
void queue_heartbeat(struct queue *q, queue_count_cb cb, void *arg);
/* Returns every expired lease (of any process, any crawl) to queued, or to
 * failed when its attempts are used up. */
void queue_reap(struct queue *q, queue_count_cb cb, void *arg);
/* Queues again the finished jobs of this crawl whose next_crawl_at has
 * passed (attempts start again from 0). */
void queue_recrawl(struct queue *q, queue_count_cb cb, void *arg);
/* Enqueues domains discovered while crawling, if the crawl's scope allows
 * it (discovered, opt-in); names are normalised, bad ones skipped (at most
 * 10,000 per call). cb gets the number of new jobs (0 when the scope is
 * seeds). */
void queue_enqueue_discovered(struct queue *q, const char *const *names,
                              size_t n, queue_count_cb cb, void *arg);
/* Closes the run (finished or aborted); cb(ok). */
void queue_finish(struct queue *q, bool aborted, queue_ready_cb cb, void *arg);

/* After queue_start(): ids of the crawl, run and its source. */
int64_t queue_crawl_id(const struct queue *q);
int64_t queue_run_id(const struct queue *q);
int64_t queue_source_id(const struct queue *q);
/* The crawl's scope (enum xc_scope) as stored. */
int queue_scope(const struct queue *q);
/* This process's owner id; borrowed, valid until queue_free(). */
const char *queue_owner(const struct queue *q);
/* Leases this process holds now. */
size_t queue_held(const struct queue *q);

#endif
