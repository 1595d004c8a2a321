/*
 * The crawler's PostgreSQL job queue on a crawler/pgasync connection (see
 * queue.h and docs/QUEUE.md for the states and statements). Every database
 * time (lease expiry, backoff, re-crawl, minimum interval) comes from the
 * database clock, so machines with skewed clocks share a crawl safely; the
 * local clock only paces the heartbeat timer.
 *
 * Each operation is one pgasync job with an op context that points back at
 * the queue. The queue keeps its pending ops in a list so that
 * queue_free() can detach them: a callback that arrives later (or as
 * PGA_CANCELLED) then only frees its context.
 *
 * Held leases are a small array of (id, token): claims add, completions
 * remove (at submission, so a heartbeat sent later does not include the
 * job), heartbeats that do not find a lease report it lost.
 */
#include "queue.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "pg.h"
#include "pgasync.h"
#include "xalloc.h"
#include "xc_config.h"

/* ------------------------------------------------------------------ */
/* Pure parts: classes, backoff, names, deny lines                      */
/* ------------------------------------------------------------------ */

static const char *const class_names[] = {
    [QUEUE_OK] = "ok",
    [QUEUE_TIMEOUT] = "timeout",
    [QUEUE_REMOTE_SERVER_NOT_FOUND] = "remote-server-not-found",
    [QUEUE_SERVICE_UNAVAILABLE] = "service-unavailable",
    [QUEUE_POLICY_VIOLATION] = "policy-violation",
    [QUEUE_RESOURCE_CONSTRAINT] = "resource-constraint",
    [QUEUE_CONNECTION] = "connection",
    [QUEUE_INTERNAL] = "internal",
    [QUEUE_OTHER] = "other",
    [QUEUE_LEASE_EXPIRED] = "lease-expired",
    [QUEUE_NOT_OPTED_IN] = "not-opted-in",
    [QUEUE_DENIED] = "denied",
};
_Static_assert(ARRAY_LEN(class_names) == QUEUE_CLASS__COUNT,
               "class names table");

#define MIN_MS (60 * 1000LL)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)

/* The documented backoff table (docs/QUEUE.md); the config's
 * crawl.backoff.* keys override the bases and crawl.backoff.max caps all. */
static const struct queue_backoff backoff_defaults[] = {
    [QUEUE_OK] = {0, 0, false},
    [QUEUE_TIMEOUT] = {10 * MIN_MS, 1 * DAY_MS, false},
    [QUEUE_REMOTE_SERVER_NOT_FOUND] = {1 * DAY_MS, 30 * DAY_MS, false},
    [QUEUE_SERVICE_UNAVAILABLE] = {1 * HOUR_MS, 7 * DAY_MS, false},
    [QUEUE_POLICY_VIOLATION] = {7 * DAY_MS, 30 * DAY_MS, false},
    [QUEUE_RESOURCE_CONSTRAINT] = {30 * MIN_MS, 1 * DAY_MS, false},
    [QUEUE_CONNECTION] = {5 * MIN_MS, 6 * HOUR_MS, false},
    [QUEUE_INTERNAL] = {1 * MIN_MS, 1 * HOUR_MS, false},
    [QUEUE_OTHER] = {1 * HOUR_MS, 7 * DAY_MS, false},
    [QUEUE_LEASE_EXPIRED] = {0, 0, false},
    [QUEUE_NOT_OPTED_IN] = {0, 0, true},
    [QUEUE_DENIED] = {0, 0, true},
};
_Static_assert(ARRAY_LEN(backoff_defaults) == QUEUE_CLASS__COUNT,
               "backoff table");

static const char *const done_names[] = {
    [QUEUE_DONE_APPLIED] = "applied",
    [QUEUE_DONE_REPLAYED] = "replayed",
    [QUEUE_DONE_STALE] = "stale",
    [QUEUE_DONE_ERROR] = "error",
};
_Static_assert(ARRAY_LEN(done_names) == QUEUE_DONE__COUNT, "done names table");

static const char *const deny_match_names[] = {
    [QUEUE_DENY_DOMAIN] = "domain",
    [QUEUE_DENY_SUFFIX] = "suffix",
};
_Static_assert(ARRAY_LEN(deny_match_names) == QUEUE_DENY__COUNT,
               "deny match table");

const char *queue_class_name(enum queue_class c)
{
    return (unsigned)c < QUEUE_CLASS__COUNT ? class_names[c] : "?";
}

bool queue_class_parse(const char *s, enum queue_class *out)
{
    for (size_t i = 0; i < ARRAY_LEN(class_names); i++) {
        if (strcmp(s, class_names[i]) == 0) {
            *out = (enum queue_class)i;
            return true;
        }
    }
    return false;
}

const char *queue_done_name(enum queue_done d)
{
    return (unsigned)d < QUEUE_DONE__COUNT ? done_names[d] : "?";
}

const char *queue_deny_match_name(enum queue_deny_match m)
{
    return (unsigned)m < QUEUE_DENY__COUNT ? deny_match_names[m] : "?";
}

const struct queue_backoff *queue_backoff_defaults(void)
{
    return backoff_defaults;
}

void queue_backoff_from_config(const struct xc_backoff_cfg *cfg,
                               struct queue_backoff *out)
{
    memcpy(out, backoff_defaults, sizeof backoff_defaults);
    const struct {
        enum queue_class c;
        int64_t v;
    } set[] = {
        {QUEUE_TIMEOUT, cfg->timeout},
        {QUEUE_REMOTE_SERVER_NOT_FOUND, cfg->remote_server_not_found},
        {QUEUE_SERVICE_UNAVAILABLE, cfg->service_unavailable},
        {QUEUE_POLICY_VIOLATION, cfg->policy_violation},
        {QUEUE_RESOURCE_CONSTRAINT, cfg->resource_constraint},
        {QUEUE_OTHER, cfg->other},
    };
    for (size_t i = 0; i < ARRAY_LEN(set); i++)
        if (set[i].v > 0)
            out[set[i].c].base_ms = set[i].v;
    for (int i = 0; i < QUEUE_CLASS__COUNT; i++) {
        if (cfg->max > 0 && out[i].cap_ms > cfg->max)
            out[i].cap_ms = cfg->max;
    }
}

int64_t queue_backoff_delay(const struct queue_backoff *table,
                            enum queue_class c, int attempts)
{
    if ((unsigned)c >= QUEUE_CLASS__COUNT || c == QUEUE_OK)
        return 0;
    const struct queue_backoff *b = &table[c];
    if (b->final || b->base_ms <= 0)
        return 0;
    int64_t d = b->base_ms;
    for (int i = 1; i < attempts && d < b->cap_ms; i++)
        d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
    return d > b->cap_ms ? b->cap_ms : d;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid
 * (overlong forms, surrogates and values above U+10FFFF included). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned v = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    return len;
}

char *queue_detail_clean(const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(QUEUE_DETAIL_MAX + 1);
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(p + i, n - i);
        size_t w = l ? l : 1;
        if (o + w > QUEUE_DETAIL_MAX)
            break;
        if (l)
            memcpy(out + o, p + i, l);
        else
            out[o] = '?';
        o += w;
        i += w;
    }
    out[o] = '\0';
    return out;
}

static void set_err(struct parse_err *err, int code, const char *msg)
{
    err->code = code;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
}

bool queue_domain_normalize(const char *s, char out[256], struct parse_err *err)
{
    memset(err, 0, sizeof *err);
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
                       s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] >= 0x80) {
            set_err(err, 1,
                    "non-ASCII names are not supported yet (give the IDNA "
                    "xn-- form)");
            return false;
        }
    }
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0) {
        set_err(err, 2, "empty name");
        return false;
    }
    if (len > 253) {
        set_err(err, 3, "name longer than 253 bytes");
        return false;
    }
    size_t label = 0;
    bool all_digits = true; /* of the last label */
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? (char)tolower((unsigned char)s[i]) : '.';
        if (c == '.') {
            if (label == 0) {
                set_err(err, 4, "empty label");
                return false;
            }
            if (out[i - 1] == '-') {
                set_err(err, 5, "label ends with a hyphen");
                return false;
            }
            if (i < len) {
                label = 0;
                all_digits = true;
                out[i] = '.';
            }
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            char m[64];
            snprintf(m, sizeof m, "character '%c' not allowed in a host name",
                     c);
            set_err(err, 6, m);
            return false;
        }
        if (c == '-' && label == 0) {
            set_err(err, 5, "label starts with a hyphen");
            return false;
        }
        if (++label > 63) {
            set_err(err, 7, "label longer than 63 bytes");
            return false;
        }
        if (!(c >= '0' && c <= '9'))
            all_digits = false;
        out[i] = c;
    }
    out[len] = '\0';
    if (all_digits) {
        set_err(err, 8, "an IP address, not a domain name");
        return false;
    }
    return true;
}

bool queue_deny_parse_line(const char *line, char pattern[256],
                           enum queue_deny_match *match, char reason[200],
                           struct parse_err *err)
{
    memset(err, 0, sizeof *err);
    reason[0] = '\0';
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '\0' || *line == '#' || *line == '\n' || *line == '\r')
        return false;
    size_t n = strcspn(line, " \t\r\n#");
    char word[300];
    if (n >= sizeof word) {
        set_err(err, 3, "pattern longer than 253 bytes");
        return false;
    }
    memcpy(word, line, n);
    word[n] = '\0';
    const char *name = word;
    *match = QUEUE_DENY_DOMAIN;
    if (strncmp(name, "*.", 2) == 0) {
        name += 2;
        *match = QUEUE_DENY_SUFFIX;
    } else if (name[0] == '.') {
        name += 1;
        *match = QUEUE_DENY_SUFFIX;
    }
    if (!queue_domain_normalize(name, pattern, err))
        return false;
    const char *r = line + n;
    while (*r == ' ' || *r == '\t')
        r++;
    if (*r == '#') { /* "example.org # reason" */
        r++;
        while (*r == ' ' || *r == '\t')
            r++;
    }
    size_t rl = strcspn(r, "\r\n");
    while (rl > 0 && (r[rl - 1] == ' ' || r[rl - 1] == '\t'))
        rl--;
    if (rl >= 200)
        rl = 199;
    memcpy(reason, r, rl);
    reason[rl] = '\0';
    return true;
}

/* ------------------------------------------------------------------ */
/* The queue object                                                     */
/* ------------------------------------------------------------------ */

struct held {
    int64_t id;
    int64_t token;
};

enum op_kind {
    OP_START,
    OP_CLAIM,
    OP_COMPLETE,
    OP_HEARTBEAT,
    OP_COUNT,
    OP_FINISH,
    OP__COUNT
};

struct op {
    struct queue *q; /* NULL once the queue is freed */
    enum op_kind kind;
    union {
        queue_ready_cb ready;
        queue_claim_cb claim;
        queue_complete_cb complete;
        queue_count_cb count;
    } cb;
    void *arg;
    int64_t job_id, token; /* OP_COMPLETE */
    struct held *snap;     /* OP_HEARTBEAT: what was sent */
    size_t nsnap;
    bool maint;        /* part of the timer's maintenance round */
    bool replay_check; /* OP_COMPLETE: second statement running */
    /* OP_COMPLETE, until its batch is sent: */
    enum queue_class cls;
    char *detail;
    int opt_in; /* completions: 1, 0, -1 not known */
    LIST_ENTRY(op) pending; /* on queue.completions */
    char msg[256];     /* OP_START failing before any statement */
    LIST_ENTRY(op) link;
};

struct queue {
    struct event_base *base;
    struct pgasync *pg;
    char *crawl;
    int scope;
    int create_scope;
    int64_t recrawl_interval;
    int64_t lease, heartbeat_interval, min_interval;
    int max_attempts;
    char *deny_file;
    char *owner;
    struct queue_backoff backoff[QUEUE_CLASS__COUNT];
    int64_t crawl_id, run_id, source_id;
    bool started;
    struct held *held;
    size_t nheld, capheld;
    queue_lost_cb lost_cb;
    void *lost_arg;
    struct event *timer;
    int maint_pending; /* ops of the last maintenance round still running */
    LIST_HEAD(, op) ops;
    LIST_HEAD(, op) completions; /* completions not yet sent */
    size_t n_completions;
    struct event *flush_ev;      /* sends them at the end of the iteration */
};

static void op_free(struct op *o);

static const char *const scope_names[] = {"seeds", "discovered", "opt-in"};
_Static_assert(ARRAY_LEN(scope_names) == XC_SCOPE__COUNT, "scope names");

static void make_owner(char *out, size_t len)
{
    char host[65] = "";
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof host, "unknown");
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = (uint32_t)rand();
    snprintf(out, len, "%s:%ld:%08" PRIx32, host, (long)getpid(), r);
}

struct queue *queue_new(struct event_base *base, struct pgasync *pg,
                        const struct queue_params *p)
{
    struct queue *q = xcalloc(1, sizeof *q);
    q->base = base;
    q->pg = pg;
    q->crawl = xstrdup(p->crawl ? p->crawl : "default");
    q->create_scope =
        p->scope >= 0 && p->scope < XC_SCOPE__COUNT ? p->scope : 0;
    q->scope = q->create_scope;
    q->recrawl_interval = p->recrawl_interval;
    q->lease = p->lease > 0 ? p->lease : 5 * MIN_MS;
    q->heartbeat_interval = p->heartbeat_interval;
    q->min_interval = p->min_interval > 0 ? p->min_interval : 0;
    q->max_attempts = p->max_attempts > 0 ? p->max_attempts : 5;
    q->deny_file =
        p->deny_file && p->deny_file[0] ? xstrdup(p->deny_file) : NULL;
    if (p->owner && p->owner[0]) {
        q->owner = xstrdup(p->owner);
    } else {
        char o[128];
        make_owner(o, sizeof o);
        q->owner = xstrdup(o);
    }
    bool any = false;
    for (int i = 0; i < QUEUE_CLASS__COUNT; i++)
        any = any || p->backoff[i].base_ms || p->backoff[i].cap_ms ||
              p->backoff[i].final;
    memcpy(q->backoff, any ? p->backoff : backoff_defaults, sizeof q->backoff);
    LIST_INIT(&q->ops);
    LIST_INIT(&q->completions);
    return q;
}

void queue_free(struct queue *q)
{
    if (!q)
        return;
    struct op *o;
    while ((o = LIST_FIRST(&q->ops)) != NULL) {
        LIST_REMOVE(o, link);
        o->q = NULL; /* its pgasync callback frees it later */
    }
    if (q->timer)
        event_free(q->timer);
    /* completions never sent: their callbacks do not run (as with every
     * pending op of a freed queue) */
    while ((o = LIST_FIRST(&q->completions)) != NULL) {
        LIST_REMOVE(o, pending);
        op_free(o);
    }
    if (q->flush_ev)
        event_free(q->flush_ev);
    free(q->held);
    free(q->crawl);
    free(q->deny_file);
    free(q->owner);
    free(q);
}

void queue_set_lost_cb(struct queue *q, queue_lost_cb cb, void *arg)
{
    q->lost_cb = cb;
    q->lost_arg = arg;
}

int64_t queue_crawl_id(const struct queue *q)
{
    return q->crawl_id;
}
int64_t queue_run_id(const struct queue *q)
{
    return q->run_id;
}
int64_t queue_source_id(const struct queue *q)
{
    return q->source_id;
}
int queue_scope(const struct queue *q)
{
    return q->scope;
}
const char *queue_owner(const struct queue *q)
{
    return q->owner;
}
size_t queue_held(const struct queue *q)
{
    return q->nheld;
}

static struct op *op_new(struct queue *q, enum op_kind kind, void *arg)
{
    struct op *o = xcalloc(1, sizeof *o);
    o->q = q;
    o->kind = kind;
    o->arg = arg;
    LIST_INSERT_HEAD(&q->ops, o, link);
    return o;
}

/* Unlinks o from its queue (if any) and returns the queue, or NULL when
 * the queue was freed first. */
static struct queue *op_take(struct op *o)
{
    struct queue *q = o->q;
    if (q)
        LIST_REMOVE(o, link);
    return q;
}

static void op_free(struct op *o)
{
    free(o->snap);
    free(o->detail);
    free(o);
}

static void held_add(struct queue *q, int64_t id, int64_t token)
{
    for (size_t i = 0; i < q->nheld; i++) {
        if (q->held[i].id == id) {
            q->held[i].token = token;
            return;
        }
    }
    if (q->nheld == q->capheld) {
        q->capheld = q->capheld ? q->capheld * 2 : 64;
        q->held = xreallocarray(q->held, q->capheld, sizeof *q->held);
    }
    q->held[q->nheld++] = (struct held){id, token};
}

/* Removes (id, token); true if it was held. */
static bool held_remove(struct queue *q, int64_t id, int64_t token)
{
    for (size_t i = 0; i < q->nheld; i++) {
        if (q->held[i].id == id && q->held[i].token == token) {
            q->held[i] = q->held[--q->nheld];
            return true;
        }
    }
    return false;
}

static void ms_text(char *out, size_t len, int64_t v)
{
    snprintf(out, len, "%" PRId64, v);
}

/* ------------------------------------------------------------------ */
/* Start: deny file, crawl, run                                        */
/* ------------------------------------------------------------------ */

/* Reads the deny file into COPY rows (pattern, match, reason); false with
 * a logged message on an unreadable file or a bad line. */
static bool read_deny_file(const char *path, struct buf *rows, size_t *count,
                           char *msg, size_t msglen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, msglen, "could not open deny file \"%s\": %s", path,
                 strerror(errno));
        return false;
    }
    char line[1024];
    int lineno = 0;
    bool ok = true;
    *count = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof line - 1 && line[l - 1] != '\n') {
            snprintf(msg, msglen, "%s:%d: line too long", path, lineno);
            ok = false;
            break;
        }
        char pattern[256], reason[200];
        enum queue_deny_match m;
        struct parse_err err;
        if (!queue_deny_parse_line(line, pattern, &m, reason, &err)) {
            if (err.code == 0)
                continue;
            snprintf(msg, msglen, "%s:%d: bad deny pattern: %s", path, lineno,
                     err.msg);
            ok = false;
            break;
        }
        pg_copy_str(rows, pattern);
        buf_putc(rows, '\t');
        pg_copy_str(rows, queue_deny_match_name(m));
        buf_putc(rows, '\t');
        if (reason[0]) {
            char *clean = queue_detail_clean(reason); /* any bytes in a file */
            pg_copy_str(rows, clean);
            free(clean);
        } else
            pg_copy_null(rows);
        buf_putc(rows, '\n');
        (*count)++;
    }
    fclose(f);
    return ok;
}

static void queue_tick(evutil_socket_t fd, short what, void *arg);

static void start_done(void *arg, const struct pga_result *r)
{
    struct op *o = arg;
    struct queue *q = op_take(o);
    if (!q) {
        op_free(o);
        return;
    }
    char msg[300] = "";
    bool ok = r->status == PGA_OK && r->last && pg_nrows(r->last) == 1;
    if (ok) {
        q->run_id = strtoll(pg_value(r->last, 0, 0), NULL, 10);
        q->crawl_id = strtoll(pg_value(r->last, 0, 1), NULL, 10);
        q->source_id = strtoll(pg_value(r->last, 0, 2), NULL, 10);
        const char *sc = pg_value(r->last, 0, 3);
        for (int i = 0; i < XC_SCOPE__COUNT; i++)
            if (strcmp(sc, scope_names[i]) == 0)
                q->scope = i;
        q->started = true;
        log_info("queue: crawl \"%s\" (id %" PRId64 ", scope %s), run %" PRId64
                 ", owner %s",
                 q->crawl, q->crawl_id, scope_names[q->scope], q->run_id,
                 q->owner);
    } else {
        snprintf(msg, sizeof msg, "could not start crawl \"%s\": %s", q->crawl,
                 r->status == PGA_OK ? "no row" : r->msg);
    }
    queue_ready_cb cb = o->cb.ready;
    void *cbarg = o->arg;
    op_free(o);
    if (ok && q->heartbeat_interval > 0 && !q->timer) {
        q->timer = event_new(q->base, -1, EV_PERSIST, queue_tick, q);
        struct timeval tv = {(time_t)(q->heartbeat_interval / 1000),
                             (suseconds_t)(q->heartbeat_interval % 1000) *
                                 1000};
        event_add(q->timer, &tv);
    }
    if (cb)
        cb(cbarg, ok, msg);
}

/* A start that failed before sending anything (bad deny file) reports
 * from the loop, never from inside queue_start(). */
static void start_failed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct op *o = arg;
    struct pga_result r = {.status = PGA_SQL_ERROR};
    snprintf(r.msg, sizeof r.msg, "%s", o->msg);
    start_done(o, &r);
}

static const char sql_start[] =
    "WITH c AS (\n"
    "  INSERT INTO crawls (name, scope, recrawl_interval)\n"
    "  VALUES ($1, $2, CASE WHEN $3::bigint > 0 THEN $3::bigint * interval '1 "
    "millisecond' END)\n"
    "  ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name\n"
    "  RETURNING id, scope),\n"
    "s AS (\n"
    "  INSERT INTO sources (kind, name, description)\n"
    "  VALUES ('crawl', $4, 'crawl run of ' || $1 || ' by ' || $5)\n"
    "  ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name\n"
    "  RETURNING id),\n"
    "r AS (\n"
    "  INSERT INTO crawl_runs (crawl_id, source_id, xcensus_version, host, "
    "settings)\n"
    "  SELECT c.id, s.id, $6, $7, jsonb_build_object('owner', $5::text)\n"
    "  FROM c, s\n"
    "  ON CONFLICT (source_id) DO UPDATE SET state = 'running'\n"
    "  RETURNING id, crawl_id, source_id)\n"
    "SELECT r.id, r.crawl_id, r.source_id, c.scope FROM r, c";

void queue_start(struct queue *q, queue_ready_cb cb, void *arg)
{
    struct op *o = op_new(q, OP_START, arg);
    o->cb.ready = cb;
    struct buf rows = BUF_INIT;
    size_t count = 0;
    if (q->deny_file &&
        !read_deny_file(q->deny_file, &rows, &count, o->msg, sizeof o->msg)) {
        buf_free(&rows);
        struct timeval now = {0, 0};
        event_base_once(q->base, -1, EV_TIMEOUT, start_failed, o, &now);
        return;
    }
    struct pga_job *j = pga_job_new(PGA_RETRY, start_done, o);
    if (q->deny_file) {
        log_info("queue: deny file \"%s\": %zu pattern(s)", q->deny_file,
                 count);
        pga_job_query(j,
                      "CREATE TEMP TABLE deny_stage (pattern text, match text, "
                      "reason text)"
                      " ON COMMIT DROP",
                      0, NULL);
        if (count > 0) {
            size_t len = rows.len;
            pga_job_copy(j, "COPY deny_stage FROM STDIN", buf_steal(&rows),
                         len);
        }
        pga_job_query(
            j,
            "INSERT INTO deny_list (pattern, match, reason, added_by)\n"
            "SELECT DISTINCT ON (pattern) pattern, match, reason, 'deny-file'\n"
            "FROM deny_stage ORDER BY pattern, match DESC\n"
            "ON CONFLICT (pattern) DO UPDATE SET match = EXCLUDED.match,\n"
            "  reason = EXCLUDED.reason, added_by = EXCLUDED.added_by",
            0, NULL);
        pga_job_query(j,
                      "DELETE FROM deny_list WHERE added_by = 'deny-file'\n"
                      "  AND pattern NOT IN (SELECT pattern FROM deny_stage)",
                      0, NULL);
    }
    buf_free(&rows);
    char recrawl[32], source[256];
    ms_text(recrawl, sizeof recrawl, q->recrawl_interval);
    snprintf(source, sizeof source, "crawl %.100s run %.120s", q->crawl,
             q->owner);
    char host[65] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    const char *params[] = {q->crawl, scope_names[q->create_scope],
                            recrawl,  source,
                            q->owner, XC_VERSION,
                            host};
    pga_job_query(j, sql_start, 7, params);
    pgasync_submit(q->pg, j);
}

/* ------------------------------------------------------------------ */
/* Claim                                                               */
/* ------------------------------------------------------------------ */

/* One statement: candidates of this crawl that are due, whose domain is
 * free (no leased job), rested (min interval), not opted out and not
 * deny-listed; job and domain rows locked with SKIP LOCKED (a concurrent
 * claimer skips them, and a commit that took the domain first makes the
 * re-check on the newest domain row fail); one job per domain; the domain
 * marked as held and contacted; the job leased with a new fencing token
 * and an expiry from the database clock. */
static const char sql_claim[] =
    "WITH cand AS (\n"
    "  SELECT j.id, j.domain_id, j.priority, j.next_attempt_at\n"
    "  FROM jobs j JOIN domains d ON d.id = j.domain_id\n"
    "  WHERE j.crawl_id = $1 AND j.state = 'queued' AND j.next_attempt_at <= "
    "now()\n"
    "    AND d.leased_job_id IS NULL AND NOT d.opt_out\n"
    "    AND (d.last_contact IS NULL\n"
    "         OR d.last_contact <= now() - $4::bigint * interval '1 "
    "millisecond')\n"
    "    AND NOT EXISTS (SELECT 1 FROM deny_list x WHERE x.pattern = d.name\n"
    "        OR (x.match = 'suffix'\n"
    "            AND right(d.name, length(x.pattern) + 1) = '.' || "
    "x.pattern))\n"
    "  ORDER BY j.priority DESC, j.next_attempt_at, j.id\n"
    "  LIMIT $3\n"
    "  FOR UPDATE OF j, d SKIP LOCKED),\n"
    "pick AS (\n"
    "  SELECT DISTINCT ON (domain_id) id, domain_id FROM cand\n"
    "  ORDER BY domain_id, priority DESC, next_attempt_at, id),\n"
    "dom AS (\n"
    "  UPDATE domains d SET leased_job_id = p.id, last_contact = now()\n"
    "  FROM pick p WHERE d.id = p.domain_id\n"
    "  RETURNING d.id, d.name, d.serverinfo_opt_in),\n"
    "upd AS (\n"
    "  UPDATE jobs j SET state = 'leased', lease_owner = $2,\n"
    "    lease_version = j.lease_version + 1, attempts = j.attempts + 1,\n"
    "    lease_expires_at = now() + $5::bigint * interval '1 millisecond',\n"
    "    last_run_id = $6, updated_at = now()\n"
    "  FROM pick p WHERE j.id = p.id\n"
    "  RETURNING j.id, j.domain_id, j.kind, j.lease_version, j.attempts, "
    "j.max_attempts,\n"
    "    j.origin)\n"
    "SELECT u.id, dom.name, u.kind, u.lease_version, u.attempts, "
    "u.max_attempts,\n"
    "  ($7::boolean AND u.origin = 'discovered' AND dom.serverinfo_opt_in IS "
    "NOT TRUE),\n"
    "  extract(epoch FROM now()), u.domain_id\n"
    "FROM upd u JOIN dom ON dom.id = u.domain_id ORDER BY u.id";

static void claim_done(void *arg, const struct pga_result *r)
{
    struct op *o = arg;
    struct queue *q = op_take(o);
    queue_claim_cb cb = o->cb.claim;
    void *cbarg = o->arg;
    op_free(o);
    if (!q)
        return;
    if (r->status != PGA_OK || !r->last) {
        log_warn("queue: could not claim jobs: %s", r->msg);
        if (cb)
            cb(cbarg, false, NULL, 0);
        return;
    }
    int n = pg_nrows(r->last);
    struct queue_job *jobs = n > 0 ? xcalloc((size_t)n, sizeof *jobs) : NULL;
    for (int i = 0; i < n; i++) {
        struct queue_job *jb = &jobs[i];
        jb->id = strtoll(pg_value(r->last, i, 0), NULL, 10);
        jb->domain = pg_value(r->last, i, 1);
        jb->kind = pg_value(r->last, i, 2);
        jb->token = strtoll(pg_value(r->last, i, 3), NULL, 10);
        jb->attempts = atoi(pg_value(r->last, i, 4));
        jb->max_attempts = atoi(pg_value(r->last, i, 5));
        jb->check_opt_in = strcmp(pg_value(r->last, i, 6), "t") == 0;
        jb->claimed_at = strtod(pg_value(r->last, i, 7), NULL);
        jb->domain_id = strtoll(pg_value(r->last, i, 8), NULL, 10);
        held_add(q, jb->id, jb->token);
    }
    log_debug("queue: claimed %d job(s), %zu held", n, q->nheld);
    if (cb)
        cb(cbarg, true, jobs, (size_t)n);
    free(jobs);
}

void queue_claim(struct queue *q, int n, queue_claim_cb cb, void *arg)
{
    ASSERT(q->started);
    struct op *o = op_new(q, OP_CLAIM, arg);
    o->cb.claim = cb;
    char crawl[32], nn[16], minint[32], lease[32], run[32];
    snprintf(crawl, sizeof crawl, "%" PRId64, q->crawl_id);
    snprintf(nn, sizeof nn, "%d", n > 0 ? n : 1);
    ms_text(minint, sizeof minint, q->min_interval);
    ms_text(lease, sizeof lease, q->lease);
    snprintf(run, sizeof run, "%" PRId64, q->run_id);
    const char *params[] = {crawl,
                            q->owner,
                            nn,
                            minint,
                            lease,
                            run,
                            q->scope == XC_SCOPE_OPT_IN ? "true" : "false"};
    /* not PGA_RETRY: a claim re-sent after a lost answer would lease jobs
     * nobody knows about (they would only come back by the reaper) */
    pgasync_query(q->pg, 0, sql_claim, 7, params, claim_done, o);
}

/* ------------------------------------------------------------------ */
/* Complete                                                            */
/* ------------------------------------------------------------------ */

/* Applies the outcome if the fencing token still matches a leased job
 * (the backoff is queue_backoff_delay() written in SQL, with the attempts
 * stored in the row: base * 2^(attempts-1), capped), and frees the
 * domain. No row: the token is stale, or this very completion was applied
 * before (sql_replayed tells which; it runs only then, so the common path
 * stays one cheap statement). */
static const char sql_replayed[] =
    "SELECT state, extract(epoch FROM now()), extract(epoch FROM "
    "next_attempt_at)\n"
    "FROM jobs WHERE id = $1 AND completed_version = $2";

static void complete_checked(void *arg, const struct pga_result *r);

static void complete_checked(void *arg, const struct pga_result *r)
{
    struct op *o = arg;
    struct queue *q = op_take(o);
    queue_complete_cb cb = o->cb.complete;
    void *cbarg = o->arg;
    bool second = o->replay_check;
    struct queue_completion c = {.job_id = o->job_id, .token = o->token};
    op_free(o);
    if (!q)
        return;
    enum queue_done d;
    if (r->status != PGA_OK || !r->last) {
        log_warn("queue: could not complete job %" PRId64 ": %s", c.job_id,
                 r->msg);
        d = QUEUE_DONE_ERROR;
    } else if (pg_nrows(r->last) == 0) {
        log_info("queue: job %" PRId64 " token %" PRId64
                 ": lease lost, outcome dropped",
                 c.job_id, c.token);
        d = QUEUE_DONE_STALE;
    } else {
        d = second ? QUEUE_DONE_REPLAYED : QUEUE_DONE_APPLIED;
        c.state = pg_value(r->last, 0, 0);
        c.db_now = strtod(pg_value(r->last, 0, 1), NULL);
        c.next_attempt_at = strtod(pg_value(r->last, 0, 2), NULL);
    }
    if (cb)
        cb(cbarg, d, &c);
}

/* Completions are sent in batches: every queue_complete() of one loop
 * iteration (jobs whose results were committed together finish together)
 * goes out as one statement over arrays, which is what lets one process
 * complete thousands of jobs a second (one statement per job is about
 * 1 ms). Rows not returned are stale or replayed completions, told apart
 * one by one as before (the rare path). */
#define COMPLETE_BATCH_MAX 512

static const char sql_complete_batch[] =
    "WITH c AS (\n"
    "  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[],\n"
    "                       $5::float8[], $6::boolean[], $7::float8[],\n"
    "                       $8::boolean[])\n"
    "    AS c(id, token, cls, detail, base, fin, cap, opt_in)),\n"
    "j AS (\n"
    "  UPDATE jobs j SET\n"
    "    state = CASE WHEN c.cls = 'ok' THEN 'done'\n"
    "                 WHEN c.fin OR j.attempts >= j.max_attempts THEN 'failed'\n"
    "                 ELSE 'queued' END,\n"
    "    lease_owner = NULL, lease_expires_at = NULL,\n"
    "    completed_version = j.lease_version,\n"
    "    last_error_class = NULLIF(c.cls, 'ok'), last_error = c.detail,\n"
    "    next_attempt_at = CASE WHEN c.cls = 'ok' THEN j.next_attempt_at\n"
    "      ELSE now() + least(c.base * power(2::float8,\n"
    "             greatest(least(j.attempts, 60) - 1, 0)), c.cap)\n"
    "           * interval '1 millisecond' END,\n"
    "    next_crawl_at = CASE WHEN c.cls = 'ok' OR c.fin OR j.attempts >= j.max_attempts\n"
    "      THEN now() + (SELECT cr.recrawl_interval FROM crawls cr\n"
    "                    WHERE cr.id = j.crawl_id) END,\n"
    "    finished_at = CASE WHEN c.cls = 'ok' OR c.fin OR j.attempts >= j.max_attempts\n"
    "      THEN now() END,\n"
    "    updated_at = now()\n"
    "  FROM c WHERE j.id = c.id AND j.lease_version = c.token AND j.state = 'leased'\n"
    "  RETURNING j.id, j.domain_id, j.state, j.next_attempt_at, c.opt_in),\n"
    "d AS (\n"
    "  UPDATE domains SET leased_job_id = NULL, last_contact = now(),\n"
    "    serverinfo_opt_in = coalesce(j.opt_in, domains.serverinfo_opt_in)\n"
    "  FROM j WHERE domains.id = j.domain_id AND domains.leased_job_id = j.id)\n"
    "SELECT id, state, extract(epoch FROM now()), extract(epoch FROM next_attempt_at)\n"
    "FROM j";

struct batch {
    struct op **ops;
    size_t n;
};

/* Appends s as an element of a PostgreSQL array literal. */
static void array_elem(struct buf *b, const char *s)
{
    if (b->len > 1)
        buf_putc(b, ',');
    if (s == NULL) {
        buf_puts(b, "NULL");
        return;
    }
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(b, '\\');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static void complete_batch_done(void *arg, const struct pga_result *r)
{
    struct batch *bt = arg;
    for (size_t i = 0; i < bt->n; i++) {
        struct op *o = bt->ops[i];
        int row = -1;
        if (r->status == PGA_OK && r->last) {
            for (int k = 0; k < pg_nrows(r->last); k++) {
                if (strtoll(pg_value(r->last, k, 0), NULL, 10) == o->job_id) {
                    row = k;
                    break;
                }
            }
        }
        if (r->status != PGA_OK || !r->last) {
            struct pga_result fail = *r;
            fail.last = NULL;
            complete_checked(o, &fail);
        } else if (row < 0) {
            /* stale or replayed: ask which (the op stays on its list) */
            struct pga_result none = *r;
            none.last = NULL;
            if (o->q == NULL) {
                complete_checked(o, &none);
                continue;
            }
            o->replay_check = true;
            char ids[32], tok[32];
            snprintf(ids, sizeof ids, "%" PRId64, o->job_id);
            snprintf(tok, sizeof tok, "%" PRId64, o->token);
            const char *params[] = {ids, tok};
            pgasync_query(o->q->pg, PGA_RETRY, sql_replayed, 2, params,
                          complete_checked, o);
        } else {
            struct queue *q = op_take(o);
            queue_complete_cb cb = o->cb.complete;
            void *cbarg = o->arg;
            struct queue_completion c = {
                .job_id = o->job_id,
                .token = o->token,
                .state = pg_value(r->last, row, 1),
                .db_now = strtod(pg_value(r->last, row, 2), NULL),
                .next_attempt_at = strtod(pg_value(r->last, row, 3), NULL),
            };
            op_free(o);
            if (q && cb)
                cb(cbarg, QUEUE_DONE_APPLIED, &c);
        }
    }
    free(bt->ops);
    free(bt);
}

static void flush_completions(struct queue *q)
{
    if (q->n_completions == 0)
        return;
    struct batch *bt = xcalloc(1, sizeof *bt);
    bt->ops = xcalloc(q->n_completions, sizeof *bt->ops);
    struct buf a[8];
    for (int k = 0; k < 8; k++) {
        a[k] = (struct buf)BUF_INIT;
        buf_putc(&a[k], '{');
    }
    struct op *o;
    while ((o = LIST_FIRST(&q->completions)) != NULL) {
        LIST_REMOVE(o, pending);
        bt->ops[bt->n++] = o;
        const struct queue_backoff *b = &q->backoff[o->cls];
        bool ok = o->cls == QUEUE_OK;
        char v[32];
        snprintf(v, sizeof v, "%" PRId64, o->job_id);
        array_elem(&a[0], v);
        snprintf(v, sizeof v, "%" PRId64, o->token);
        array_elem(&a[1], v);
        array_elem(&a[2], queue_class_name(o->cls));
        array_elem(&a[3], o->detail);
        ms_text(v, sizeof v, ok || b->final ? 0 : b->base_ms);
        array_elem(&a[4], v);
        array_elem(&a[5], b->final ? "true" : "false");
        ms_text(v, sizeof v, ok || b->final ? 0 : b->cap_ms);
        array_elem(&a[6], v);
        array_elem(&a[7], o->opt_in < 0 ? NULL : o->opt_in ? "true" : "false");
    }
    q->n_completions = 0;
    const char *params[8];
    for (int k = 0; k < 8; k++) {
        buf_putc(&a[k], '}');
        params[k] = buf_str(&a[k]);
    }
    pgasync_query(q->pg, PGA_RETRY, sql_complete_batch, 8, params,
                  complete_batch_done, bt);
    for (int k = 0; k < 8; k++)
        buf_free(&a[k]);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    flush_completions(arg);
}

void queue_complete(struct queue *q, int64_t id, int64_t token,
                    enum queue_class c, const char *detail, int opt_in,
                    queue_complete_cb cb, void *arg)
{
    ASSERT((unsigned)c < QUEUE_CLASS__COUNT);
    held_remove(q, id, token);
    struct op *o = op_new(q, OP_COMPLETE, arg);
    o->cb.complete = cb;
    o->job_id = id;
    o->token = token;
    o->cls = c;
    o->detail = detail ? queue_detail_clean(detail) : NULL;
    o->opt_in = opt_in < 0 ? -1 : opt_in > 0;
    LIST_INSERT_HEAD(&q->completions, o, pending);
    if (++q->n_completions >= COMPLETE_BATCH_MAX) {
        flush_completions(q);
        return;
    }
    if (q->flush_ev == NULL)
        q->flush_ev = event_new(q->base, -1, 0, on_flush, q);
    if (!event_pending(q->flush_ev, EV_TIMEOUT, NULL))
        event_active(q->flush_ev, EV_TIMEOUT, 0);
}

/* ------------------------------------------------------------------ */
/* Heartbeat, reaper, re-crawl                                          */
/* ------------------------------------------------------------------ */

/* Extends every lease in the arrays that is still ours (same token,
 * leased, same owner) and returns the ids it extended. */
static const char sql_heartbeat[] =
    "UPDATE jobs j SET lease_expires_at = now() + $2::bigint * interval '1 "
    "millisecond',\n"
    "  updated_at = now()\n"
    "FROM unnest($3::bigint[], $4::bigint[]) AS h(id, v)\n"
    "WHERE j.id = h.id AND j.lease_version = h.v AND j.state = 'leased'\n"
    "  AND j.lease_owner = $1\n"
    "RETURNING j.id";

static void count_finish(struct op *o, struct queue *q, long long rows)
{
    queue_count_cb cb = o->cb.count;
    void *cbarg = o->arg;
    bool maint = o->maint;
    op_free(o);
    if (q && maint && q->maint_pending > 0)
        q->maint_pending--;
    if (q && cb)
        cb(cbarg, rows);
}

static void heartbeat_done(void *arg, const struct pga_result *r)
{
    struct op *o = arg;
    struct queue *q = op_take(o);
    if (!q) {
        op_free(o);
        return;
    }
    if (r->status != PGA_OK || !r->last) {
        log_warn("queue: heartbeat failed: %s", r->msg);
        count_finish(o, q, -1);
        return;
    }
    int n = pg_nrows(r->last);
    /* ids are few (the jobs in flight); a quadratic match is fine */
    for (size_t i = 0; i < o->nsnap; i++) {
        bool found = false;
        for (int k = 0; k < n && !found; k++)
            found = strtoll(pg_value(r->last, k, 0), NULL, 10) == o->snap[i].id;
        if (found)
            continue;
        /* only report leases still held (a completion may have been
         * submitted after this heartbeat) */
        if (held_remove(q, o->snap[i].id, o->snap[i].token)) {
            log_warn("queue: lease of job %" PRId64 " (token %" PRId64
                     ") was lost",
                     o->snap[i].id, o->snap[i].token);
            if (q->lost_cb)
                q->lost_cb(q->lost_arg, o->snap[i].id, o->snap[i].token);
        }
    }
    count_finish(o, q, n);
}

static void heartbeat(struct queue *q, bool maint, queue_count_cb cb, void *arg)
{
    struct op *o = op_new(q, OP_HEARTBEAT, arg);
    o->cb.count = cb;
    o->maint = maint;
    if (maint)
        q->maint_pending++;
    o->nsnap = q->nheld;
    o->snap = q->nheld ? xreallocarray(NULL, q->nheld, sizeof *o->snap) : NULL;
    if (q->nheld)
        memcpy(o->snap, q->held, q->nheld * sizeof *o->snap);
    struct buf ids = BUF_INIT, vs = BUF_INIT;
    buf_putc(&ids, '{');
    buf_putc(&vs, '{');
    for (size_t i = 0; i < o->nsnap; i++) {
        buf_printf(&ids, "%s%" PRId64, i ? "," : "", o->snap[i].id);
        buf_printf(&vs, "%s%" PRId64, i ? "," : "", o->snap[i].token);
    }
    buf_putc(&ids, '}');
    buf_putc(&vs, '}');
    char lease[32];
    ms_text(lease, sizeof lease, q->lease);
    const char *params[] = {q->owner, lease, buf_str(&ids), buf_str(&vs)};
    pgasync_query(q->pg, PGA_RETRY, sql_heartbeat, 4, params, heartbeat_done,
                  o);
    buf_free(&ids);
    buf_free(&vs);
}

void queue_heartbeat(struct queue *q, queue_count_cb cb, void *arg)
{
    heartbeat(q, false, cb, arg);
}

static void count_done(void *arg, const struct pga_result *r)
{
    struct op *o = arg;
    struct queue *q = op_take(o);
    long long rows = -1;
    if (r->status == PGA_OK && r->last)
        rows = pg_nrows(r->last) == 1 && pg_ncols(r->last) == 1
                   ? strtoll(pg_value(r->last, 0, 0), NULL, 10)
                   : r->rows;
    else if (q)
        log_warn("queue: %s failed: %s",
                 o->kind == OP_FINISH ? "finish" : "maintenance statement",
                 r->msg);
    count_finish(o, q, rows);
}

/* Expired leases (any crawl): back to queued, or failed when the attempts
 * are used up (a job that kills its crawler every time ends there). */
static const char sql_reap[] =
    "WITH r AS (\n"
    "  UPDATE jobs j SET\n"
    "    state = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE "
    "'queued' END,\n"
    "    lease_owner = NULL, lease_expires_at = NULL,\n"
    "    last_error_class = 'lease-expired',\n"
    "    last_error = left('lease of ' || j.lease_owner || ' expired', 2000),\n"
    "    next_attempt_at = now(),\n"
    "    next_crawl_at = CASE WHEN j.attempts >= j.max_attempts\n"
    "                    THEN now() + c.recrawl_interval ELSE j.next_crawl_at "
    "END,\n"
    "    finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,\n"
    "    updated_at = now()\n"
    "  FROM crawls c\n"
    "  WHERE j.state = 'leased' AND j.lease_expires_at < now() AND c.id = "
    "j.crawl_id\n"
    "  RETURNING j.id, j.domain_id),\n"
    "d AS (\n"
    "  UPDATE domains SET leased_job_id = NULL\n"
    "  FROM r WHERE domains.id = r.domain_id AND domains.leased_job_id = "
    "r.id)\n"
    "SELECT count(*) FROM r";

static const char sql_recrawl[] =
    "WITH r AS (\n"
    "  UPDATE jobs SET state = 'queued', attempts = 0, next_attempt_at = "
    "now(),\n"
    "    next_crawl_at = NULL, finished_at = NULL, updated_at = now()\n"
    "  WHERE crawl_id = $1 AND state IN ('done', 'failed') AND next_crawl_at "
    "<= now()\n"
    "  RETURNING 1)\n"
    "SELECT count(*) FROM r";

static void count_query(struct queue *q, enum op_kind kind, bool maint,
                        const char *sql, int nparams, const char *const *params,
                        queue_count_cb cb, void *arg)
{
    struct op *o = op_new(q, kind, arg);
    o->cb.count = cb;
    o->maint = maint;
    if (maint)
        q->maint_pending++;
    pgasync_query(q->pg, PGA_RETRY, sql, nparams, params, count_done, o);
}

static void reap(struct queue *q, bool maint, queue_count_cb cb, void *arg)
{
    count_query(q, OP_COUNT, maint, sql_reap, 0, NULL, cb, arg);
}

static void recrawl(struct queue *q, bool maint, queue_count_cb cb, void *arg)
{
    char crawl[32];
    snprintf(crawl, sizeof crawl, "%" PRId64, q->crawl_id);
    const char *params[] = {crawl};
    count_query(q, OP_COUNT, maint, sql_recrawl, 1, params, cb, arg);
}

void queue_reap(struct queue *q, queue_count_cb cb, void *arg)
{
    reap(q, false, cb, arg);
}

void queue_recrawl(struct queue *q, queue_count_cb cb, void *arg)
{
    ASSERT(q->started);
    recrawl(q, false, cb, arg);
}

static void maint_logged(void *arg, long long rows)
{
    const char *what = arg;
    if (rows > 0)
        log_info("queue: %s: %lld job(s)", what, rows);
}

/* The queue's periodic work, every heartbeat_interval:
 *  - one heartbeat statement for every lease this process holds;
 *  - the reaper (expired leases of every process back to queued);
 *  - the re-crawl (finished jobs of this crawl whose next_crawl_at passed).
 * A round is skipped while the previous one is still running (database
 * slow or down), so statements never pile up in the connection's queue. */
static void queue_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct queue *q = arg;
    if (q->maint_pending > 0 || !pgasync_is_up(q->pg))
        return;
    if (q->nheld > 0)
        heartbeat(q, true, NULL, NULL);
    reap(q, true, maint_logged, (void *)"reaped expired leases");
    recrawl(q, true, maint_logged, (void *)"queued again for re-crawl");
}

/* ------------------------------------------------------------------ */
/* Discovered domains, opt-in, finish                                   */
/* ------------------------------------------------------------------ */

#define DISCOVERED_MAX 10000

void queue_enqueue_discovered(struct queue *q, const char *const *names,
                              size_t n, queue_count_cb cb, void *arg)
{
    ASSERT(q->started);
    struct op *o = op_new(q, OP_COUNT, arg);
    o->cb.count = cb;
    if (q->scope == XC_SCOPE_SEEDS || n == 0) {
        /* answer from the loop, like every other operation */
        struct pga_job *j = pga_job_new(0, count_done, o);
        pga_job_query(j, "SELECT 0", 0, NULL);
        pgasync_submit(q->pg, j);
        return;
    }
    if (n > DISCOVERED_MAX) {
        log_warn("queue: %zu discovered domains in one call, keeping %d", n,
                 DISCOVERED_MAX);
        n = DISCOVERED_MAX;
    }
    /* normalised names are [a-z0-9.-] only, so double quotes need no
     * escaping inside; they are still needed: an unquoted element "null"
     * (a valid single-label name) would be read as SQL NULL */
    struct buf arr = BUF_INIT;
    buf_putc(&arr, '{');
    size_t good = 0;
    for (size_t i = 0; i < n; i++) {
        char norm[256];
        struct parse_err err;
        if (!names[i] || !queue_domain_normalize(names[i], norm, &err)) {
            log_debug("queue: discovered name skipped: %s",
                      names[i] ? err.msg : "NULL");
            continue;
        }
        buf_printf(&arr, "%s\"%s\"", good ? "," : "", norm);
        good++;
    }
    buf_putc(&arr, '}');
    char crawl[32], src[32], maxa[16];
    snprintf(crawl, sizeof crawl, "%" PRId64, q->crawl_id);
    snprintf(src, sizeof src, "%" PRId64, q->source_id);
    snprintf(maxa, sizeof maxa, "%d", q->max_attempts);
    const char *p1[] = {buf_str(&arr), src};
    const char *p2[] = {crawl, buf_str(&arr), maxa};
    struct pga_job *j = pga_job_new(PGA_RETRY, count_done, o);
    pga_job_query(j,
                  "INSERT INTO domains (name, discovered_by)\n"
                  "SELECT DISTINCT unnest($1::text[]), $2::bigint\n"
                  "ON CONFLICT (name) DO NOTHING",
                  2, p1);
    pga_job_query(
        j,
        "WITH n AS (\n"
        "  INSERT INTO jobs (crawl_id, domain_id, origin, max_attempts)\n"
        "  SELECT $1, d.id, 'discovered', $3 FROM domains d\n"
        "  WHERE d.name = ANY ($2::text[])\n"
        "  ON CONFLICT (crawl_id, domain_id, kind) DO NOTHING RETURNING 1)\n"
        "SELECT count(*) FROM n",
        3, p2);
    pgasync_submit(q->pg, j);
    buf_free(&arr);
}

static void finish_done(void *arg, const struct pga_result *r)
{
    struct op *o = arg;
    struct queue *q = op_take(o);
    queue_ready_cb cb = o->cb.ready;
    void *cbarg = o->arg;
    op_free(o);
    if (!q)
        return;
    bool ok = r->status == PGA_OK;
    if (ok)
        q->nheld = 0;
    else
        log_warn("queue: could not close run %" PRId64 ": %s", q->run_id,
                 r->msg);
    if (cb)
        cb(cbarg, ok, ok ? "" : r->msg);
}

void queue_finish(struct queue *q, bool aborted, queue_ready_cb cb, void *arg)
{
    ASSERT(q->started);
    struct op *o = op_new(q, OP_FINISH, arg);
    o->cb.ready = cb;
    char run[32];
    snprintf(run, sizeof run, "%" PRId64, q->run_id);
    const char *p1[] = {q->owner};
    const char *p2[] = {run, aborted ? "aborted" : "finished"};
    struct pga_job *j = pga_job_new(PGA_RETRY, finish_done, o);
    /* leases still held go back at once (the attempt does not count) */
    pga_job_query(
        j,
        "WITH r AS (\n"
        "  UPDATE jobs SET state = 'queued', lease_owner = NULL,\n"
        "    lease_expires_at = NULL, attempts = greatest(attempts - 1, 0),\n"
        "    next_attempt_at = now(), updated_at = now()\n"
        "  WHERE state = 'leased' AND lease_owner = $1\n"
        "  RETURNING id, domain_id)\n"
        "UPDATE domains SET leased_job_id = NULL\n"
        "FROM r WHERE domains.id = r.domain_id AND domains.leased_job_id = "
        "r.id",
        1, p1);
    pga_job_query(
        j,
        "UPDATE crawl_runs SET state = $2, finished_at = now() WHERE id = $1",
        2, p2);
    pgasync_submit(q->pg, j);
}
