/*
 * The crawl engine (see engine.h). One struct job per claimed job, on the
 * `jobs` list from claim to completion; engine_tick() runs once a second and
 * is the only periodic work:
 *   - claim more jobs when there is room (refill);
 *   - hand discovered domains to the queue in one batch;
 *   - ask the database how many jobs of the crawl remain (progress, and
 *     the end of the crawl with exit_when_done);
 *   - print the progress line (terminal) or a log line (every
 *     log_interval_ms).
 */
#include "engine.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pg.h"
#include "pgasync.h"
#include "queue.h"
#include "session.h"
#include "store.h"
#include "xalloc.h"

#define MAX_DISCOVERED 10000
/* Jobs waiting for their results to commit before the open store batches
 * are closed early, rather than after database.flush_interval: a crawl
 * with many jobs in flight would otherwise hold each one that long. */
#define SYNC_FLUSH_AT 32

enum job_state { J_PROBING, J_FOLLOWUP, J_SYNCING, J_COMPLETING };

#define MAX_MUC_PER_JOB 16

struct job {
    struct engine *s;
    int64_t id, token;
    int64_t domain_id;
    char *domain;
    enum job_state state;
    bool lost;          /* lease lost: finish without completing */
    bool check_opt_in;
    int opt_in; /* XEP-0485 advertised: 1, 0, -1 not known */
    enum queue_class cls;
    char detail[256];
    struct probe_sink sink;
    struct session *session;
    char *muc[MAX_MUC_PER_JOB]; /* MUC services the probe found */
    size_t n_muc;
    size_t followups;           /* follow-up operations still running */
    int64_t t_phase;            /* when the current phase began (ms) */
    TAILQ_ENTRY(job) link;
};

struct engine {
    struct event_base *base;
    struct queue *q;
    struct store *st;
    struct pgasync *pg; /* the queue's connection, for the remaining count */
    struct session **sessions;
    size_t n_sessions, next_session;
    struct engine_params p;
    struct event *tick;
    TAILQ_HEAD(, job) jobs;
    size_t in_flight;
    size_t syncing; /* jobs waiting in store_sync() */
    bool started, claiming, paused, stopping, abandoned, finishing;
    int idle;
    long long remaining; /* queued + leased jobs of the crawl, -1 unknown */
    bool counting;
    char **discovered;
    size_t n_discovered;
    struct engine_stats stats;
    uint64_t last_done, last_queries;
    double rate;        /* jobs per second, smoothed */
    int64_t last_log_ms;
    engine_stopped_cb stopped;
    void *stopped_arg;
    bool progress_shown;
};

static void refill(struct engine *s);
static void maybe_finish(struct engine *s);

/* --- results into the store ---------------------------------------------- */

static enum store_entity_kind entity_kind(const char *kind)
{
    static const struct {
        const char *name;
        enum store_entity_kind kind;
    } map[] = {
        {"server", STORE_ENT_SERVER}, {"muc", STORE_ENT_MUC},
        {"pubsub", STORE_ENT_PUBSUB}, {"upload", STORE_ENT_UPLOAD},
        {"proxy", STORE_ENT_PROXY},   {"gateway", STORE_ENT_GATEWAY},
    };
    for (size_t i = 0; i < ARRAY_LEN(map); i++)
        if (strcmp(kind, map[i].name) == 0)
            return map[i].kind;
    return STORE_ENT_COMPONENT; /* a disco item of the domain */
}

static void sink_disco(void *arg, const char *domain, const char *address,
                       const char *kind, const char *xml,
                       const struct disco_info *info)
{
    struct job *j = arg;
    struct store_disco d = {
        .source_id = queue_source_id(j->s->q),
        .entity = {address, NULL, entity_kind(kind), 0},
        .xml = xml,
        .xml_len = xml ? strlen(xml) : 0,
        .info = info,
    };
    j->s->stats.entities++;
    if (strcmp(kind, "muc") == 0 && j->n_muc < MAX_MUC_PER_JOB)
        j->muc[j->n_muc++] = xstrdup(address);
    if (!store_put_disco(j->s->st, &d))
        log_debug("J %s: disco#info of \"%s\" refused by the store", domain, address);
}

static void sink_version(void *arg, const char *domain, const char *address,
                         const struct softinfo_version *v)
{
    struct job *j = arg;
    struct store_version sv = {
        .source_id = queue_source_id(j->s->q),
        .entity = {address, NULL, STORE_ENT_UNKNOWN, 0},
        .name = v->name,
        .version = v->version,
        .os = v->os,
    };
    if (!store_put_version(j->s->st, &sv))
        log_debug("J %s: version of \"%s\" refused by the store", domain, address);
}

static void sink_item(void *arg, const char *domain, const char *parent,
                      const struct disco_item *it)
{
    struct job *j = arg;
    /* items with a node are not entities of their own (they are nodes of
     * the item's JID); record only plain service items */
    if (it->node || strchr(it->jid, '/'))
        return;
    struct store_item si = {
        .source_id = queue_source_id(j->s->q),
        .parent = {parent, NULL,
                   strcmp(parent, domain) == 0 ? STORE_ENT_SERVER : STORE_ENT_UNKNOWN, 0},
        .child = {it->jid, NULL, STORE_ENT_UNKNOWN, 0},
        .name = it->name,
    };
    if (!store_put_item(j->s->st, &si))
        log_debug("J %s: item \"%s\" refused by the store", domain, it->jid);
}

static void sink_outcome(void *arg, const char *domain, const char *address,
                         enum probe_kind probe, enum probe_outcome o,
                         const char *cond, const char *detail, int ms)
{
    struct job *j = arg;
    j->s->stats.queries++;
    struct store_outcome so = {
        .source_id = queue_source_id(j->s->q),
        .job_id = j->id,
        .entity = {address, NULL, STORE_ENT_UNKNOWN, 0},
        .probe = probe_kind_name(probe),
        .outcome = probe_outcome_name(o),
        .condition = cond,
        .detail = detail,
        .duration_ms = ms,
    };
    if (!store_put_outcome(j->s->st, &so))
        log_debug("J %s: outcome refused by the store", domain);
}

static void sink_discovered(void *arg, const char *domain, const char *other)
{
    struct job *j = arg;
    struct engine *s = j->s;
    if (s->n_discovered >= MAX_DISCOVERED)
        return;
    for (size_t i = 0; i < s->n_discovered; i++)
        if (strcmp(s->discovered[i], other) == 0)
            return;
    s->discovered = xreallocarray(s->discovered, s->n_discovered + 1,
                                  sizeof *s->discovered);
    s->discovered[s->n_discovered++] = xstrdup(other);
    s->stats.discovered++;
}

/* --- job life ---------------------------------------------------------------- */

/* Adds the time since the phase began to *sum and starts the next one. */
static void phase_end(struct job *j, uint64_t *sum)
{
    int64_t now = clock_now_ms();
    *sum += (uint64_t)(now - j->t_phase);
    j->t_phase = now;
}

static void job_free(struct job *j)
{
    struct engine *s = j->s;
    TAILQ_REMOVE(&s->jobs, j, link);
    s->in_flight--;
    for (size_t i = 0; i < j->n_muc; i++)
        free(j->muc[i]);
    free(j->domain);
    free(j);
    maybe_finish(s);
    refill(s);
}

static void on_completed(void *arg, enum queue_done d,
                         const struct queue_completion *c)
{
    struct job *j = arg;
    struct engine *s = j->s;
    phase_end(j, &s->stats.ms_complete);
    s->stats.timed_jobs++;
    switch (d) {
    case QUEUE_DONE_APPLIED:
    case QUEUE_DONE_REPLAYED:
        if (j->cls == QUEUE_OK)
            s->stats.done++;
        else
            s->stats.failed_attempts++;
        if ((unsigned)j->cls < ARRAY_LEN(s->stats.by_class))
            s->stats.by_class[j->cls]++;
        break;
    case QUEUE_DONE_STALE:
        s->stats.stale++;
        log_info("J %s: lease lost before completion; another process redoes it",
                 j->domain);
        break;
    default:
        log_warn("J %s: could not complete the job (the lease will expire)",
                 j->domain);
        break;
    }
    job_free(j);
}

static void on_synced(void *arg, bool ok)
{
    struct job *j = arg;
    struct engine *s = j->s;
    s->syncing--;
    phase_end(j, &s->stats.ms_sync);
    if (j->lost || s->abandoned || !ok) {
        if (!ok)
            log_warn("J %s: results not committed; the lease will expire", j->domain);
        job_free(j);
        return;
    }
    j->state = J_COMPLETING;
    queue_complete(s->q, j->id, j->token, j->cls, j->detail[0] ? j->detail : NULL,
                   j->opt_in, on_completed, j);
}

static enum queue_class class_of(const struct probe_domain_result *r)
{
    switch (r->outcome) {
    case OUT_OK:
    case OUT_MALFORMED: /* the domain answered; what it said is recorded */
    case OUT_TOO_LARGE:
        return QUEUE_OK;
    case OUT_TIMEOUT:
        return QUEUE_TIMEOUT;
    case OUT_SESSION_LOST:
        return QUEUE_CONNECTION;
    case OUT_IQ_ERROR: {
        static const struct {
            const char *cond;
            enum queue_class cls;
        } map[] = {
            {"remote-server-not-found", QUEUE_REMOTE_SERVER_NOT_FOUND},
            {"remote-server-timeout", QUEUE_TIMEOUT},
            {"service-unavailable", QUEUE_SERVICE_UNAVAILABLE},
            {"policy-violation", QUEUE_POLICY_VIOLATION},
            {"resource-constraint", QUEUE_RESOURCE_CONSTRAINT},
        };
        for (size_t i = 0; i < ARRAY_LEN(map); i++)
            if (strcmp(r->condition, map[i].cond) == 0)
                return map[i].cls;
        return QUEUE_OTHER;
    }
    default:
        return QUEUE_OTHER;
    }
}

/* The job's results are complete: wait until they are committed, then
 * complete the job. */
static void sync_job(struct job *j)
{
    struct engine *s = j->s;
    if (j->state == J_FOLLOWUP)
        phase_end(j, &s->stats.ms_followup);
    j->state = J_SYNCING;
    s->syncing++;
    store_sync(s->st, on_synced, j);
    if (s->syncing % SYNC_FLUSH_AT == 0) /* once per 32 waiting jobs */
        store_flush(s->st);
}

static void on_followup_done(void *token)
{
    struct job *j = token;
    ASSERT(j->followups > 0);
    if (--j->followups == 0)
        sync_job(j);
}

static void on_probed(void *arg, const struct probe_domain_result *r)
{
    struct job *j = arg;
    struct engine *s = j->s;
    phase_end(j, &s->stats.ms_probe);
    j->cls = class_of(r);
    if (r->outcome != OUT_OK)
        snprintf(j->detail, sizeof j->detail, "%s%s%s",
                 probe_outcome_name(r->outcome), r->condition[0] ? ": " : "",
                 r->condition);
    if (j->check_opt_in && j->cls == QUEUE_OK && !r->serverinfo_opt_in)
        j->cls = QUEUE_NOT_OPTED_IN;
    /* recorded on the domain by the completion */
    j->opt_in = r->outcome == OUT_OK ? r->serverinfo_opt_in : -1;
    log_debug("J %s: probed (%s), %zu queries, %zu entities", j->domain,
              queue_class_name(j->cls), r->queries, r->entities);
    /* follow-up work (census of the MUC services found, direct probe) for
     * every domain: the direct probe matters most where the account path
     * could not reach the domain */
    if (s->p.followup.start && !j->lost && !s->abandoned) {
        j->state = J_FOLLOWUP;
        j->followups = 1; /* held while starting, so done() cannot sync early */
        j->followups += s->p.followup.start(
            s->p.followup.arg, j->session, j->domain, j->domain_id,
            queue_source_id(s->q),
            (const char *const *)j->muc, j->n_muc, j, on_followup_done);
        on_followup_done(j);
        return;
    }
    /* complete only once every result of this job is committed */
    sync_job(j);
}

static struct session *pick_session(struct engine *s)
{
    for (size_t k = 0; k < s->n_sessions; k++) {
        struct session *x = s->sessions[(s->next_session + k) % s->n_sessions];
        if (session_online(x)) {
            s->next_session = (s->next_session + k + 1) % s->n_sessions;
            return x;
        }
    }
    return NULL;
}

static void on_claimed(void *arg, bool ok, const struct queue_job *jobs, size_t n)
{
    struct engine *s = arg;
    s->claiming = false;
    if (!ok) {
        log_warn("could not claim jobs; retrying");
        return;
    }
    s->idle = n == 0 ? s->idle + 1 : 0;
    for (size_t i = 0; i < n; i++) {
        struct job *j = xcalloc(1, sizeof *j);
        j->s = s;
        j->opt_in = -1;
        j->id = jobs[i].id;
        j->token = jobs[i].token;
        j->domain = xstrdup(jobs[i].domain);
        j->domain_id = jobs[i].domain_id;
        j->check_opt_in = jobs[i].check_opt_in;
        j->sink = (struct probe_sink){j, sink_disco, sink_version, sink_item,
                                      sink_outcome, sink_discovered};
        TAILQ_INSERT_TAIL(&s->jobs, j, link);
        s->in_flight++;
        s->stats.claimed++;
        struct session *x = pick_session(s);
        if (x == NULL) {
            /* every session went offline since the claim: give it back
             * through a connection-class failure (short backoff) */
            j->cls = QUEUE_CONNECTION;
            j->t_phase = clock_now_ms();
            snprintf(j->detail, sizeof j->detail, "no account session online");
            sync_job(j);
            continue;
        }
        j->state = J_PROBING;
        j->t_phase = clock_now_ms();
        j->session = x;
        probe_domain_start(x, j->domain, &s->p.limits, &j->sink, on_probed, j);
    }
    if (n > 0)
        refill(s);
}

static void refill(struct engine *s)
{
    if (!s->started || s->stopping || s->paused || s->claiming)
        return;
    int room = s->p.max_domains_in_flight - (int)s->in_flight;
    /* claim in sizeable batches: a claim costs the database about as much
     * to plan as to lease 30 jobs, and refilling each freed slot at once
     * made claims of 16 jobs on average in bench/crawl.sh; waiting for a
     * full batch, or a quarter of the slots if that is less, keeps at least
     * three quarters of them busy */
    int want = XC_MAX(1, XC_MIN(s->p.claim_batch, s->p.max_domains_in_flight / 4));
    if (room < want)
        return;
    bool online = false;
    for (size_t k = 0; k < s->n_sessions && !online; k++)
        online = session_online(s->sessions[k]);
    if (!online)
        return;
    s->claiming = true;
    queue_claim(s->q, room < s->p.claim_batch ? room : s->p.claim_batch,
                on_claimed, s);
}

static void on_lost(void *arg, int64_t job_id, int64_t token)
{
    struct engine *s = arg;
    struct job *j;
    TAILQ_FOREACH(j, &s->jobs, link) {
        if (j->id == job_id && j->token == token && !j->lost) {
            j->lost = true;
            s->stats.lost++;
            log_warn("J %s: lease lost; its results stay, its completion is "
                     "left to the process that owns it now", j->domain);
        }
    }
}

static void on_pressure(void *arg, bool pause)
{
    struct engine *s = arg;
    s->paused = pause;
    log_info("storage writer %s", pause ? "behind: pausing new jobs"
                                        : "caught up: resuming");
    if (!pause)
        refill(s);
}

/* --- the end ------------------------------------------------------------------ */

static void on_drained(void *arg, bool ok)
{
    struct engine *s = arg;
    if (s->p.progress_tty && s->progress_shown)
        fputc('\n', stderr);
    event_del(s->tick);
    if (s->stopped)
        s->stopped(s->stopped_arg, ok);
}

static void on_run_finished(void *arg, bool ok, const char *msg)
{
    struct engine *s = arg;
    if (!ok)
        log_warn("could not close the crawl run: %s", msg ? msg : "?");
    store_drain(s->st, s->p.drain_timeout_ms, on_drained, s);
}

static void maybe_finish(struct engine *s)
{
    if (!s->stopping || s->finishing || (s->in_flight > 0 && !s->abandoned))
        return;
    s->finishing = true;
    queue_finish(s->q, s->abandoned, on_run_finished, s);
}

void engine_stop(struct engine *s, bool abandon)
{
    if (abandon) {
        s->abandoned = true;
        struct job *j;
        TAILQ_FOREACH(j, &s->jobs, link)
            j->lost = true;
    }
    if (!s->stopping)
        log_info("stopping: %zu job(s) in flight%s", s->in_flight,
                 abandon ? " abandoned (their leases expire)" : " finish first");
    s->stopping = true;
    maybe_finish(s);
}

/* --- the tick ---------------------------------------------------------------- */

static void on_remaining(void *arg, const struct pga_result *r)
{
    struct engine *s = arg;
    s->counting = false;
    if (r->status != PGA_OK || r->last == NULL || pg_nrows(r->last) != 1)
        return;
    s->remaining = atoll(pg_value(r->last, 0, 0));
    if (s->p.exit_when_done && !s->stopping && s->remaining == 0 &&
        s->in_flight == 0 && s->idle >= s->p.idle_checks) {
        log_info("no job left in crawl: stopping");
        engine_stop(s, false);
    }
}

static void on_enqueued(void *arg, long long rows)
{
    if (rows > 0)
        log_info("%lld discovered domain(s) queued", rows);
}

static void progress(struct engine *s, int64_t now)
{
    uint64_t done = s->stats.done + s->stats.failed_attempts;
    double inst = (double)(done - s->last_done);
    s->rate = s->rate == 0 ? inst : 0.8 * s->rate + 0.2 * inst;
    uint64_t q_rate = s->stats.queries - s->last_queries;
    s->last_done = done;
    s->last_queries = s->stats.queries;
    char eta[32] = "?";
    if (s->remaining >= 0 && s->rate > 0.01) {
        long secs = (long)((double)s->remaining / s->rate);
        snprintf(eta, sizeof eta, "%ldm%02lds", secs / 60, secs % 60);
    }
    char line[256];
    snprintf(line, sizeof line,
             "done %llu, failed %llu, in flight %zu, remaining %lld | %llu q/s | "
             "timeout %llu, not-found %llu, unavailable %llu | ETA %s",
             (unsigned long long)s->stats.done,
             (unsigned long long)s->stats.failed_attempts, s->in_flight,
             s->remaining, (unsigned long long)q_rate,
             (unsigned long long)s->stats.by_class[QUEUE_TIMEOUT],
             (unsigned long long)s->stats.by_class[QUEUE_REMOTE_SERVER_NOT_FOUND],
             (unsigned long long)s->stats.by_class[QUEUE_SERVICE_UNAVAILABLE], eta);
    if (s->p.progress_tty) {
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
        s->progress_shown = true;
    } else if (s->p.log_interval_ms > 0 &&
               now - s->last_log_ms >= s->p.log_interval_ms) {
        log_info("crawl: %s", line);
        s->last_log_ms = now;
    }
}

static void engine_tick(evutil_socket_t fd, short what, void *arg)
{
    struct engine *s = arg;
    refill(s);
    if (s->n_discovered > 0) {
        queue_enqueue_discovered(s->q, (const char *const *)s->discovered,
                                 s->n_discovered, on_enqueued, s);
        for (size_t i = 0; i < s->n_discovered; i++)
            free(s->discovered[i]);
        s->n_discovered = 0;
    }
    if (!s->counting && s->pg) {
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)queue_crawl_id(s->q));
        const char *params[] = {id};
        s->counting = true;
        pgasync_query(s->pg, 0,
                      "SELECT count(*) FROM jobs WHERE crawl_id = $1::bigint "
                      "AND state IN ('queued', 'leased')",
                      1, params, on_remaining, s);
    }
    progress(s, clock_now_ms());
}

/* --- life cycle --------------------------------------------------------------- */

struct engine *engine_new(struct event_base *base, struct queue *q,
                        struct store *st, struct session **sessions,
                        size_t n_sessions, const struct engine_params *p)
{
    struct engine *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->q = q;
    s->st = st;
    s->sessions = sessions;
    s->n_sessions = n_sessions;
    s->p = *p;
    if (s->p.max_domains_in_flight < 1)
        s->p.max_domains_in_flight = 1;
    if (s->p.claim_batch < 1)
        s->p.claim_batch = 1;
    if (s->p.idle_checks < 1)
        s->p.idle_checks = 2;
    s->remaining = -1;
    TAILQ_INIT(&s->jobs);
    s->tick = event_new(base, -1, EV_PERSIST, engine_tick, s);
    return s;
}

/* Frees the engine. Free the sessions first: their cancelled requests end
 * the probes still running, which end their jobs. */
void engine_free(struct engine *s)
{
    if (s == NULL)
        return;
    struct job *j;
    while ((j = TAILQ_FIRST(&s->jobs)) != NULL) {
        TAILQ_REMOVE(&s->jobs, j, link);
        for (size_t i = 0; i < j->n_muc; i++)
            free(j->muc[i]);
        free(j->domain);
        free(j);
    }
    for (size_t i = 0; i < s->n_discovered; i++)
        free(s->discovered[i]);
    free(s->discovered);
    event_free(s->tick);
    free(s);
}

static void on_queue_ready(void *arg, bool ok, const char *msg)
{
    struct engine *s = arg;
    if (!ok) {
        log_error("cannot start the crawl: %s", msg ? msg : "?");
        if (s->stopped)
            s->stopped(s->stopped_arg, false);
        return;
    }
    log_info("crawl run %lld started as %s", (long long)queue_run_id(s->q),
             queue_owner(s->q));
    s->started = true;
    struct timeval one = {1, 0};
    event_add(s->tick, &one);
    refill(s);
}

void engine_set_pg(struct engine *s, struct pgasync *pg)
{
    s->pg = pg;
}

void engine_start(struct engine *s, engine_stopped_cb stopped, void *arg)
{
    s->stopped = stopped;
    s->stopped_arg = arg;
    queue_set_lost_cb(s->q, on_lost, s);
    store_set_pressure_cb(s->st, on_pressure, s);
    queue_start(s->q, on_queue_ready, s);
}

void engine_kick(struct engine *s)
{
    refill(s);
}

const struct engine_stats *engine_stats(const struct engine *s)
{
    return &s->stats;
}

size_t engine_in_flight(const struct engine *s)
{
    return s->in_flight;
}
