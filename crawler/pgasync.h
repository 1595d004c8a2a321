/*
 * One non-blocking PostgreSQL connection driven by our libevent loop: it
 * connects (and reconnects, with backoff) by itself and runs a FIFO of
 * jobs, one at a time. A job is a list of steps (statements with text
 * parameters, or COPY ... FROM STDIN with its data) run in one transaction
 * when it has more than one step. The storage writer and the job queue of
 * the crawler each own one; the crawler never waits for the database.
 *
 * Losing the connection never loses a job marked PGA_RETRY: it is sent
 * again, whole, after reconnecting (so such jobs must be idempotent; the
 * storage writer's upserts are). Other jobs fail with PGA_CONN_LOST.
 *
 * Callbacks run from the event loop. A callback may submit new jobs; it
 * must not free the connection.
 */
#ifndef XC_PGASYNC_H
#define XC_PGASYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

struct event_base;
struct pgasync;
struct pga_job;
struct pg_result; /* libpq's PGresult */

enum pga_status {
    PGA_OK,        /* every step succeeded (and the transaction committed) */
    PGA_SQL_ERROR, /* the server refused a step; the job was rolled back */
    PGA_CONN_LOST, /* the connection broke before the job finished */
    PGA_CANCELLED, /* the connection object was freed first */
    PGA__COUNT
};

struct pga_result {
    enum pga_status status;
    char sqlstate[6];        /* with PGA_SQL_ERROR */
    char msg[256];           /* with any failure */
    int failed_step;         /* with PGA_SQL_ERROR: 0-based step */
    long long rows;          /* rows of the last step (command tag or
                                tuples) */
    const struct pg_result *last; /* result of the last step, borrowed
                                     during the callback (NULL unless OK) */
    int attempts;            /* times the job was sent */
};

typedef void (*pga_cb)(void *arg, const struct pga_result *r);
/* Connection state changes, for back-pressure and operator messages. */
typedef void (*pga_state_cb)(void *arg, bool up, const char *why);

enum {
    PGA_RETRY = 1 << 0, /* resend after a lost connection (idempotent) */
};

/* Returns a new connection object that starts connecting at once; name
 * prefixes its log lines. Caller frees with pgasync_free(). */
struct pgasync *pgasync_new(struct event_base *base, const char *conninfo,
                            const char *name);
/* Cancels every job (callbacks get PGA_CANCELLED), closes and frees;
 * accepts NULL. */
void pgasync_free(struct pgasync *p);
/* Called with up=true after each (re)connection and up=false when the
 * connection is lost or cannot be made. */
void pgasync_set_state_cb(struct pgasync *p, pga_state_cb cb, void *arg);
/* Backoff between reconnection attempts, doubling from min to max. */
void pgasync_set_backoff(struct pgasync *p, int min_ms, int max_ms);

/* Builds a job; nothing is sent before pgasync_submit(). */
struct pga_job *pga_job_new(unsigned flags, pga_cb cb, void *arg);
/* Adds a statement with text parameters $1..$n (NULL = SQL NULL); sql and
 * params are copied. */
void pga_job_query(struct pga_job *j, const char *sql, int nparams,
                   const char *const *params);
/* Adds "COPY ... FROM STDIN" (text format) with its data; the job takes
 * ownership of data (freed with free()). */
void pga_job_copy(struct pga_job *j, const char *copy_sql, char *data,
                  size_t len);
/* Hands j to p (p owns it from now on). */
void pgasync_submit(struct pgasync *p, struct pga_job *j);

/* Shorthand: a one-statement job. */
void pgasync_query(struct pgasync *p, unsigned flags, const char *sql,
                   int nparams, const char *const *params, pga_cb cb,
                   void *arg);

bool pgasync_is_up(const struct pgasync *p);
/* Jobs submitted and not finished (the running one included). */
size_t pgasync_queued(const struct pgasync *p);
/* Bytes of COPY data held by unfinished jobs. */
size_t pgasync_queued_bytes(const struct pgasync *p);
const char *pga_status_name(enum pga_status s);

#endif
