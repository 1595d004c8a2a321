/*
 * Non-blocking libpq on libevent. States of the connection:
 *
 *   DOWN -(timer)-> CONNECTING -(PQconnectPoll ok)-> IDLE <-> BUSY
 *     ^                 |  (poll failed, timeout)        |  (socket error,
 *     +-----------------+--------------------------------+   server gone)
 *
 * In BUSY the head job runs step by step: a statement is sent with
 * PQsendQueryParams, a COPY with PQsendQuery, then its data with
 * PQputCopyData/PQputCopyEnd; PQflush() returning 1 arms the write event;
 * the persistent read event consumes input and collects results while
 * PQisBusy() is false. Multi-step jobs are wrapped in BEGIN/COMMIT; a failed
 * step is followed by ROLLBACK before the job reports its error.
 */
#include "pgasync.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "xalloc.h"

#define CONNECT_TIMEOUT_MS 10000
#define COPY_CHUNK (256 * 1024)

enum step_kind { STEP_QUERY, STEP_COPY };

struct step {
    enum step_kind kind;
    char *sql;
    int nparams;
    char **params;
    char *data; /* COPY */
    size_t len;
};

struct pga_job {
    unsigned flags;
    pga_cb cb;
    void *arg;
    struct step *steps;
    size_t n, cap;
    size_t bytes;
    int attempts;
    TAILQ_ENTRY(pga_job) link;
};

enum conn_state { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY };

/* Where the running job stands. */
enum run_phase {
    R_BEGIN,    /* BEGIN sent (multi-step jobs) */
    R_STEP,     /* step `step` sent, collecting its results */
    R_COPYDATA, /* sending COPY data of step `step` */
    R_COMMIT,   /* COMMIT sent */
    R_ROLLBACK, /* ROLLBACK sent after a failed step */
};

struct pgasync {
    struct event_base *base;
    char *conninfo;
    char *name;
    PGconn *conn;
    enum conn_state state;
    struct event *rev, *wev, *timer;
    int sock;
    int backoff_min, backoff_max, backoff;
    bool was_up;
    pga_state_cb state_cb;
    void *state_arg;
    TAILQ_HEAD(, pga_job) jobs;
    size_t njobs, bytes;
    /* the running job */
    enum run_phase phase;
    size_t step;
    size_t copy_off;
    bool copy_end_sent;
    bool failed;
    struct pga_result res;
    PGresult *last;
};

static const char *const status_names[] = {
    [PGA_OK] = "ok",
    [PGA_SQL_ERROR] = "sql-error",
    [PGA_CONN_LOST] = "connection-lost",
    [PGA_CANCELLED] = "cancelled",
};
_Static_assert(ARRAY_LEN(status_names) == PGA__COUNT, "names table");

const char *pga_status_name(enum pga_status s)
{
    return (unsigned)s < PGA__COUNT ? status_names[s] : "?";
}

static void start_connect(struct pgasync *p);
static void run_head(struct pgasync *p);
static void lost(struct pgasync *p, const char *why);

/* --- jobs ------------------------------------------------------------ */

struct pga_job *pga_job_new(unsigned flags, pga_cb cb, void *arg)
{
    struct pga_job *j = xcalloc(1, sizeof *j);
    j->flags = flags;
    j->cb = cb;
    j->arg = arg;
    return j;
}

static struct step *add_step(struct pga_job *j)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 4;
        j->steps = xreallocarray(j->steps, j->cap, sizeof *j->steps);
    }
    struct step *s = &j->steps[j->n++];
    memset(s, 0, sizeof *s);
    return s;
}

void pga_job_query(struct pga_job *j, const char *sql, int nparams,
                   const char *const *params)
{
    struct step *s = add_step(j);
    s->kind = STEP_QUERY;
    s->sql = xstrdup(sql);
    s->nparams = nparams;
    if (nparams > 0) {
        s->params = xcalloc((size_t)nparams, sizeof *s->params);
        for (int i = 0; i < nparams; i++)
            s->params[i] = params[i] ? xstrdup(params[i]) : NULL;
    }
}

void pga_job_copy(struct pga_job *j, const char *copy_sql, char *data,
                  size_t len)
{
    struct step *s = add_step(j);
    s->kind = STEP_COPY;
    s->sql = xstrdup(copy_sql);
    s->data = data;
    s->len = len;
    j->bytes += len;
}

static void job_free(struct pga_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        struct step *s = &j->steps[i];
        free(s->sql);
        for (int k = 0; k < s->nparams; k++)
            free(s->params[k]);
        free(s->params);
        free(s->data);
    }
    free(j->steps);
    free(j);
}

/* Removes the head job and reports r to its owner. */
static void finish_head(struct pgasync *p, struct pga_result *r)
{
    struct pga_job *j = TAILQ_FIRST(&p->jobs);
    TAILQ_REMOVE(&p->jobs, j, link);
    p->njobs--;
    p->bytes -= j->bytes;
    r->attempts = j->attempts;
    r->last = r->status == PGA_OK ? (const struct pg_result *)p->last : NULL;
    if (j->cb)
        j->cb(j->arg, r);
    if (p->last) {
        PQclear(p->last);
        p->last = NULL;
    }
    job_free(j);
}

void pgasync_submit(struct pgasync *p, struct pga_job *j)
{
    TAILQ_INSERT_TAIL(&p->jobs, j, link);
    p->njobs++;
    p->bytes += j->bytes;
    if (p->state == C_IDLE)
        run_head(p);
}

void pgasync_query(struct pgasync *p, unsigned flags, const char *sql,
                   int nparams, const char *const *params, pga_cb cb,
                   void *arg)
{
    struct pga_job *j = pga_job_new(flags, cb, arg);
    pga_job_query(j, sql, nparams, params);
    pgasync_submit(p, j);
}

/* --- connection -------------------------------------------------------- */

static void set_state_up(struct pgasync *p, bool up, const char *why)
{
    if (up == p->was_up)
        return;
    p->was_up = up;
    if (up)
        log_info("%s: connected to database", p->name);
    else
        log_warn("%s: database connection lost: %s", p->name, why);
    if (p->state_cb)
        p->state_cb(p->state_arg, up, why);
}

static void drop_conn(struct pgasync *p)
{
    if (p->rev) {
        event_free(p->rev);
        p->rev = NULL;
    }
    if (p->wev) {
        event_free(p->wev);
        p->wev = NULL;
    }
    if (p->last) {
        PQclear(p->last);
        p->last = NULL;
    }
    if (p->conn) {
        PQfinish(p->conn);
        p->conn = NULL;
    }
    p->sock = -1;
}

static void schedule_reconnect(struct pgasync *p)
{
    p->state = C_DOWN;
    int ms = p->backoff;
    /* jitter: 75-125 % so that many crawlers do not reconnect in step */
    ms = ms * 3 / 4 + (int)(random() % (ms / 2 + 1));
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
    p->backoff = p->backoff * 2 > p->backoff_max ? p->backoff_max : p->backoff * 2;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pgasync *p = arg;
    if (p->state == C_DOWN) {
        start_connect(p);
    } else if (p->state == C_CONNECTING) {
        drop_conn(p);
        set_state_up(p, false, "connection attempt timed out");
        schedule_reconnect(p);
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

/* libpq's notices (and the server's messages while idle, such as
 * "terminating connection due to administrator command") go to our log,
 * not to stderr. */
static void on_notice(void *arg, const char *message)
{
    struct pgasync *p = arg;
    size_t n = strlen(message);
    while (n > 0 && message[n - 1] == '\n')
        n--;
    log_info("%s: database: %.*s", p->name, (int)n, message);
}

static void connected(struct pgasync *p)
{
    evtimer_del(p->timer);
    PQsetnonblocking(p->conn, 1);
    PQsetNoticeProcessor(p->conn, on_notice, p);
    p->sock = PQsocket(p->conn);
    p->rev = event_new(p->base, p->sock, EV_READ | EV_PERSIST, on_read, p);
    p->wev = event_new(p->base, p->sock, EV_WRITE, on_write, p);
    event_add(p->rev, NULL);
    p->backoff = p->backoff_min;
    p->state = C_IDLE;
    set_state_up(p, true, NULL);
    if (!TAILQ_EMPTY(&p->jobs))
        run_head(p);
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg);

static void watch_connect(struct pgasync *p, PostgresPollingStatusType st)
{
    if (p->rev)
        event_free(p->rev);
    p->sock = PQsocket(p->conn); /* may change between polls */
    short ev = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
    p->rev = event_new(p->base, p->sock, ev, on_connect_io, p);
    event_add(p->rev, NULL);
}

static void poll_connect(struct pgasync *p)
{
    PostgresPollingStatusType st = PQconnectPoll(p->conn);
    if (st == PGRES_POLLING_OK) {
        event_free(p->rev);
        p->rev = NULL;
        connected(p);
    } else if (st == PGRES_POLLING_FAILED) {
        char why[256];
        snprintf(why, sizeof why, "%s", PQerrorMessage(p->conn));
        why[strcspn(why, "\n")] = '\0';
        drop_conn(p);
        if (!p->was_up)
            log_info("%s: could not connect to database: %s", p->name, why);
        set_state_up(p, false, why);
        evtimer_del(p->timer);
        schedule_reconnect(p);
    } else {
        watch_connect(p, st);
    }
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg)
{
    poll_connect(arg);
}

static void start_connect(struct pgasync *p)
{
    p->state = C_CONNECTING;
    p->conn = PQconnectStart(p->conninfo);
    if (p->conn == NULL || PQstatus(p->conn) == CONNECTION_BAD) {
        drop_conn(p);
        set_state_up(p, false, "cannot start a connection");
        schedule_reconnect(p);
        return;
    }
    struct timeval tv = {CONNECT_TIMEOUT_MS / 1000, 0};
    evtimer_add(p->timer, &tv);
    poll_connect(p);
}

/* --- running jobs -------------------------------------------------------- */

static bool flush(struct pgasync *p)
{
    int r = PQflush(p->conn);
    if (r < 0) {
        lost(p, PQerrorMessage(p->conn));
        return false;
    }
    if (r > 0)
        event_add(p->wev, NULL);
    return true;
}

static void send_sql(struct pgasync *p, const char *sql, int n,
                     char *const *params)
{
    /* without parameters the simple protocol, which also allows several
     * statements in one string (each result is collected) */
    int ok = n > 0 ? PQsendQueryParams(p->conn, sql, n, NULL,
                                       (const char *const *)params, NULL,
                                       NULL, 0)
                   : PQsendQuery(p->conn, sql);
    if (!ok) {
        lost(p, PQerrorMessage(p->conn));
        return;
    }
    flush(p);
}

static void send_step(struct pgasync *p)
{
    struct pga_job *j = TAILQ_FIRST(&p->jobs);
    struct step *s = &j->steps[p->step];
    p->phase = R_STEP;
    p->copy_off = 0;
    p->copy_end_sent = false;
    send_sql(p, s->sql, s->kind == STEP_QUERY ? s->nparams : 0,
             s->kind == STEP_QUERY ? s->params : NULL);
}

static void run_head(struct pgasync *p)
{
    struct pga_job *j = TAILQ_FIRST(&p->jobs);
    if (j == NULL) {
        p->state = C_IDLE;
        return;
    }
    p->state = C_BUSY;
    j->attempts++;
    p->step = 0;
    p->failed = false;
    memset(&p->res, 0, sizeof p->res);
    if (j->n == 0) {
        p->res.status = PGA_OK;
        finish_head(p, &p->res);
        run_head(p);
        return;
    }
    if (j->n > 1) {
        p->phase = R_BEGIN;
        send_sql(p, "BEGIN", 0, NULL);
    } else {
        send_step(p);
    }
}

/* Pushes COPY data as far as the socket takes it. */
static void copy_push(struct pgasync *p)
{
    struct pga_job *j = TAILQ_FIRST(&p->jobs);
    struct step *s = &j->steps[p->step];
    while (p->copy_off < s->len) {
        size_t n = s->len - p->copy_off;
        if (n > COPY_CHUNK)
            n = COPY_CHUNK;
        int r = PQputCopyData(p->conn, s->data + p->copy_off, (int)n);
        if (r < 0) {
            lost(p, PQerrorMessage(p->conn));
            return;
        }
        if (r == 0) { /* would block */
            event_add(p->wev, NULL);
            return;
        }
        p->copy_off += n;
    }
    if (!p->copy_end_sent) {
        int r = PQputCopyEnd(p->conn, NULL);
        if (r < 0) {
            lost(p, PQerrorMessage(p->conn));
            return;
        }
        if (r == 0) {
            event_add(p->wev, NULL);
            return;
        }
        p->copy_end_sent = true;
        p->phase = R_STEP;
    }
    flush(p);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct pgasync *p = arg;
    if (p->state != C_BUSY)
        return;
    if (p->phase == R_COPYDATA)
        copy_push(p);
    else
        flush(p);
}

/* The current statement's results are all in: move on. */
static void step_done(struct pgasync *p)
{
    struct pga_job *j = TAILQ_FIRST(&p->jobs);
    switch (p->phase) {
    case R_BEGIN:
        if (p->failed)
            goto report;
        send_step(p);
        return;
    case R_STEP:
    case R_COPYDATA:
        if (p->failed) {
            if (j->n > 1) {
                p->phase = R_ROLLBACK;
                send_sql(p, "ROLLBACK", 0, NULL);
                return;
            }
            goto report;
        }
        if (++p->step < j->n) {
            if (p->last) {
                PQclear(p->last);
                p->last = NULL;
            }
            send_step(p);
            return;
        }
        if (j->n > 1) {
            p->phase = R_COMMIT;
            send_sql(p, "COMMIT", 0, NULL);
            return;
        }
        break;
    case R_COMMIT:
    case R_ROLLBACK:
        break;
    }
report:
    p->res.status = p->failed ? PGA_SQL_ERROR : PGA_OK;
    finish_head(p, &p->res);
    p->state = C_IDLE;
    run_head(p);
}

static void record_error(struct pgasync *p, const PGresult *r)
{
    if (p->failed)
        return;
    p->failed = true;
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(p->res.sqlstate, sizeof p->res.sqlstate, "%s", st ? st : "");
    snprintf(p->res.msg, sizeof p->res.msg, "%s",
             msg ? msg : PQresultErrorMessage(r));
    p->res.failed_step = (int)p->step;
}

static void collect(struct pgasync *p)
{
    while (p->conn && p->state == C_BUSY && !PQisBusy(p->conn)) {
        PGresult *r = PQgetResult(p->conn);
        if (r == NULL) {
            if (PQstatus(p->conn) == CONNECTION_BAD) {
                lost(p, PQerrorMessage(p->conn));
                return;
            }
            step_done(p);
            continue; /* the next statement's results may be ready */
        }
        switch (PQresultStatus(r)) {
        case PGRES_COPY_IN:
            PQclear(r);
            p->phase = R_COPYDATA;
            copy_push(p);
            return; /* results resume after the data is sent */
        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
            if (p->phase == R_STEP) {
                const char *t = PQcmdTuples(r);
                p->res.rows = PQresultStatus(r) == PGRES_TUPLES_OK
                                  ? PQntuples(r)
                                  : (t && *t ? atoll(t) : 0);
                if (p->last)
                    PQclear(p->last);
                p->last = r;
            } else {
                PQclear(r);
            }
            break;
        default:
            if (PQstatus(p->conn) == CONNECTION_BAD) {
                PQclear(r);
                lost(p, PQerrorMessage(p->conn));
                return;
            }
            record_error(p, r);
            PQclear(r);
            break;
        }
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct pgasync *p = arg;
    if (!PQconsumeInput(p->conn)) {
        lost(p, PQerrorMessage(p->conn));
        return;
    }
    if (p->state == C_BUSY) {
        collect(p);
    } else if (PQstatus(p->conn) == CONNECTION_BAD) {
        lost(p, "server closed the connection");
    } else {
        /* idle: a notice or a server-side termination message */
        PGresult *r;
        while (!PQisBusy(p->conn) && (r = PQgetResult(p->conn)) != NULL)
            PQclear(r);
        if (PQstatus(p->conn) == CONNECTION_BAD)
            lost(p, "server closed the connection");
    }
}

static void lost(struct pgasync *p, const char *why)
{
    char reason[256];
    snprintf(reason, sizeof reason, "%s", why && *why ? why : "unknown error");
    reason[strcspn(reason, "\n")] = '\0';
    bool busy = p->state == C_BUSY;
    drop_conn(p);
    p->state = C_DOWN;
    set_state_up(p, false, reason);
    if (busy) {
        struct pga_job *j = TAILQ_FIRST(&p->jobs);
        if (!(j->flags & PGA_RETRY)) {
            struct pga_result r = {.status = PGA_CONN_LOST};
            snprintf(r.msg, sizeof r.msg, "%s", reason);
            finish_head(p, &r);
        }
    }
    p->backoff = p->backoff_min;
    schedule_reconnect(p);
}

/* --- life cycle -------------------------------------------------------- */

struct pgasync *pgasync_new(struct event_base *base, const char *conninfo,
                            const char *name)
{
    struct pgasync *p = xcalloc(1, sizeof *p);
    p->base = base;
    p->conninfo = xstrdup(conninfo ? conninfo : "");
    p->name = xstrdup(name ? name : "db");
    p->sock = -1;
    p->backoff_min = p->backoff = 100;
    p->backoff_max = 5000;
    TAILQ_INIT(&p->jobs);
    p->timer = evtimer_new(base, on_timer, p);
    start_connect(p);
    return p;
}

void pgasync_set_state_cb(struct pgasync *p, pga_state_cb cb, void *arg)
{
    p->state_cb = cb;
    p->state_arg = arg;
}

void pgasync_set_backoff(struct pgasync *p, int min_ms, int max_ms)
{
    p->backoff_min = p->backoff = min_ms > 0 ? min_ms : 1;
    p->backoff_max = max_ms >= p->backoff_min ? max_ms : p->backoff_min;
}

void pgasync_free(struct pgasync *p)
{
    if (p == NULL)
        return;
    drop_conn(p);
    p->state = C_DOWN;
    while (!TAILQ_EMPTY(&p->jobs)) {
        struct pga_result r = {.status = PGA_CANCELLED};
        snprintf(r.msg, sizeof r.msg, "connection closed by the program");
        finish_head(p, &r);
    }
    event_free(p->timer);
    free(p->conninfo);
    free(p->name);
    free(p);
}

bool pgasync_is_up(const struct pgasync *p)
{
    return p->state == C_IDLE || p->state == C_BUSY;
}

size_t pgasync_queued(const struct pgasync *p)
{
    return p->njobs;
}

size_t pgasync_queued_bytes(const struct pgasync *p)
{
    return p->bytes;
}
