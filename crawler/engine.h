/*
 * The crawl engine of one `xcensus crawl` process: it claims jobs from the
 * shared queue (crawler/queue), runs each on an online account session
 * (crawler/session) as a domain probe (crawler/probe), writes every result
 * through the storage writer (crawler/store) and completes the job with its
 * fencing token only once those results are committed, so a job marked
 * done never lacks its results.
 *
 * Job life:  CLAIMED -> PROBING -> FOLLOWUP -> SYNCING -> COMPLETING -> freed
 * (a job whose lease is found lost is finished as soon as its probe ends,
 * without completing: another process owns it now.)
 *
 * Flow control: at most max_domains_in_flight jobs at once; no claim while
 * the store signals back-pressure, while no session is online, or while
 * stopping. Periodically (engine_tick) it refills, prints progress and
 * flushes discovered domains.
 *
 * Stopping: engine_stop() stops claiming, lets jobs in flight finish (they
 * complete normally), closes the run, drains the store, then calls the
 * stopped callback. A second engine_stop(…, true) abandons jobs in flight
 * (their leases expire and another process redoes them).
 */
#ifndef XC_ENGINE_H
#define XC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe.h"

struct event_base;
struct engine;
struct queue;
struct store;
struct session;

/* Work done for a domain after its own probe, before its results are
 * synced and the job completed: the client census of its MUC services, the
 * direct stream/TLS probe. start() receives the job's session, domain
 * (name and domains.id), run (source) and the MUC services the probe found, starts whatever it wants
 * and returns how many operations it started; each must call
 * done(token) exactly once, from the event loop. */
typedef void (*engine_followup_done_cb)(void *token);
struct engine_followup {
    void *arg;
    size_t (*start)(void *arg, struct session *s, const char *domain,
                    int64_t domain_id, int64_t source_id,
                    const char *const *muc_services,
                    size_t n_muc, void *token, engine_followup_done_cb done);
};

struct engine_params {
    int max_domains_in_flight;
    int claim_batch;
    struct probe_limits limits;
    bool exit_when_done;   /* stop by itself once no job is left */
    int idle_checks;       /* empty claims (one per tick) that mean done */
    int drain_timeout_ms;  /* for the store on stop */
    bool progress_tty;     /* a live progress line on stderr */
    int log_interval_ms;   /* periodic log line otherwise (0 = none) */
    struct engine_followup followup; /* start NULL: none */
};

struct engine_stats {
    uint64_t claimed, done, failed_attempts, stale, lost;
    uint64_t by_class[16]; /* enum queue_class counts of completions */
    uint64_t queries;
    uint64_t entities;
    uint64_t discovered;
    /* where jobs spend their time, summed over jobs (ms) */
    uint64_t ms_probe, ms_followup, ms_sync, ms_complete;
    uint64_t timed_jobs;
};

/* Called once when the engine has stopped (everything drained). ok false
 * if the store could not commit everything before the drain timeout. */
typedef void (*engine_stopped_cb)(void *arg, bool ok);

/* Returns a new engine; q, st and the sessions are borrowed and must
 * outlive it. Nothing happens before engine_start(). */
struct engine *engine_new(struct event_base *base, struct queue *q,
                        struct store *st, struct session **sessions,
                        size_t n_sessions, const struct engine_params *p);
void engine_free(struct engine *s);
/* Starts the queue (crawl, run) and begins claiming; stopped runs when
 * the engine stops (by itself with exit_when_done, or after engine_stop). */
void engine_start(struct engine *s, engine_stopped_cb stopped, void *arg);
/* Stops gracefully (abandon false) or at once (true). */
void engine_stop(struct engine *s, bool abandon);
/* The queue's database connection, used to count the crawl's remaining
 * jobs (progress, exit_when_done); borrowed. */
struct pgasync;
void engine_set_pg(struct engine *s, struct pgasync *pg);
/* Tells the engine a session came online (it may claim again). */
void engine_kick(struct engine *s);
const struct engine_stats *engine_stats(const struct engine *s);
size_t engine_in_flight(const struct engine *s);

#endif
