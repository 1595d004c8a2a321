/*
 * The database pool of the server: serve.db_connections non-blocking
 * connections (crawler/pgasync), each running its queries one at a time.
 * A query goes to the connection that is up and has the fewest queries
 * waiting; when none is up, or serve.max_pending queries already wait, the
 * request is answered 503 at once instead of queueing without bound.
 * Statement timeout, read-only transactions, UTC and ISO dates are set for
 * every connection by cmd_serve through PGOPTIONS.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "pgasync.h"
#include "srv_int.h"
#include "xalloc.h"

#define READY_WAIT_MS 3000 /* longest wait for the pool before "ready" */

struct srv_db_conn {
    struct srv_db *db;
    bool seen_up;
};

struct pending {
    struct srv_db *db;
    void (*cb)(void *arg, const struct pga_result *r);
    void *arg;
};

static void fire_ready(struct srv_db *db)
{
    if (db->ready_timer) {
        event_free(db->ready_timer);
        db->ready_timer = NULL;
    }
    if (db->ready) {
        void (*cb)(void *) = db->ready;
        db->ready = NULL;
        cb(db->ready_arg);
    }
}

static void on_ready_timeout(evutil_socket_t fd, short what, void *arg)
{
    fire_ready(arg);
}

static void on_state(void *arg, bool up, const char *why)
{
    struct srv_db_conn *c = arg;
    if (!up || c->seen_up)
        return;
    c->seen_up = true;
    if (++c->db->seen_up == c->db->n)
        fire_ready(c->db);
}

/* Opens the pool; the connections connect in the background. ready (may be
 * NULL) is called once, from the loop, when every connection is up or
 * after READY_WAIT_MS. */
void srv_db_init(struct srv_db *db, struct event_base *base,
                 const char *conninfo, size_t n, size_t max_pending,
                 void (*ready)(void *arg), void *ready_arg)
{
    db->n = n;
    db->conns = xcalloc(n, sizeof *db->conns);
    db->states = xcalloc(n, sizeof *db->states);
    db->seen_up = 0;
    db->max_pending = max_pending;
    db->pending = 0;
    db->ready = ready;
    db->ready_arg = ready_arg;
    db->ready_timer = evtimer_new(base, on_ready_timeout, db);
    struct timeval tv = {READY_WAIT_MS / 1000, 0};
    evtimer_add(db->ready_timer, &tv);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "serve-db%zu", i);
        db->states[i].db = db;
        db->conns[i] = pgasync_new(base, conninfo, name);
        pgasync_set_state_cb(db->conns[i], on_state, &db->states[i]);
        pgasync_set_backoff(db->conns[i], 250, 5000);
    }
}

/* Closes the pool; queries still waiting get PGA_CANCELLED. */
void srv_db_free(struct srv_db *db)
{
    if (db->ready_timer)
        event_free(db->ready_timer);
    db->ready_timer = NULL;
    db->ready = NULL;
    for (size_t i = 0; i < db->n; i++)
        pgasync_free(db->conns[i]);
    free(db->conns);
    free(db->states);
    db->conns = NULL;
    db->states = NULL;
    db->n = 0;
}

/* Connections up. */
size_t srv_db_up(const struct srv_db *db)
{
    size_t up = 0;
    for (size_t i = 0; i < db->n; i++)
        up += pgasync_is_up(db->conns[i]);
    return up;
}

static void on_done(void *arg, const struct pga_result *r)
{
    struct pending *p = arg;
    p->db->pending--;
    p->cb(p->arg, r);
    free(p);
}

/* Submits sql to the least loaded connection that is up. */
int srv_db_query(struct srv_db *db, const char *sql, int nparams,
                 const char *const *params,
                 void (*cb)(void *arg, const struct pga_result *r), void *arg,
                 const char **why)
{
    if (db->pending >= db->max_pending) {
        *why = "too many requests are waiting for the database; retry";
        return 503;
    }
    struct pgasync *best = NULL;
    size_t best_q = 0;
    for (size_t i = 0; i < db->n; i++) {
        if (!pgasync_is_up(db->conns[i]))
            continue;
        size_t q = pgasync_queued(db->conns[i]);
        if (!best || q < best_q) {
            best = db->conns[i];
            best_q = q;
        }
    }
    if (!best) {
        *why = "the database is unavailable";
        return 503;
    }
    struct pending *p = xmalloc(sizeof *p);
    p->db = db;
    p->cb = cb;
    p->arg = arg;
    db->pending++;
    pgasync_query(best, 0, sql, nparams, params, on_done, p);
    return 0;
}
