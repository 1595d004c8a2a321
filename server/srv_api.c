/*
 * The JSON API over the query catalog (lib/apicat.h): GET /api/v1/ lists
 * the entries, GET /api/v1/NAME?ARG=VALUE&limit=N&offset=N runs one, and
 * /healthz. Arguments are decoded strictly (bad escapes, NUL, invalid
 * UTF-8, unknown or repeated names are 400s), checked against the entry's
 * parameter types, and bound as text parameters of the entry's fixed SQL,
 * wrapped once at start-up as
 *     SELECT * FROM (<sql>) q ORDER BY <order_by> LIMIT $n+1 OFFSET $n+2
 * (apicat_sql()). One row more than the page is fetched to know whether
 * a next page exists. Values become JSON by lib/pgjson's conversion.
 */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicat.h"
#include "buf.h"
#include "log.h"
#include "pg.h"
#include "pgjson.h"
#include "sql_embedded.h"
#include "pgasync.h"
#include "srv_int.h"
#include "xalloc.h"

#define ARGS_MAX 32 /* key=value pairs in one query string */

/* --- the catalog ---------------------------------------------------------- */

/* Wraps each entry's SQL with its order and the page parameters. */
void srv_api_init(struct srv *s)
{
    size_t n = apicat_count();
    s->api_sql = xcalloc(n + 1, sizeof *s->api_sql);
    for (size_t i = 0; i < n; i++) {
        s->api_sql[i] = apicat_sql(apicat_at(i));
    }
}

/* Frees the wrapped SQL. */
void srv_api_free(struct srv *s)
{
    if (!s->api_sql)
        return;
    for (size_t i = 0; i < apicat_count(); i++)
        free(s->api_sql[i]);
    free(s->api_sql);
    s->api_sql = NULL;
}

static json_t *entry_json(const struct apicat_entry *e)
{
    json_t *params = json_array();
    for (size_t k = 0; k < e->nparams; k++) {
        const struct apicat_param *p = &e->params[k];
        json_array_append_new(
            params, json_pack("{s:s,s:s,s:b,s:s}", "name", p->name, "type",
                              apicat_type_name(p->type), "required",
                              p->required, "help", p->help ? p->help : ""));
    }
    char path[128];
    snprintf(path, sizeof path, "/api/v1/%s", e->name);
    return json_pack("{s:s,s:s,s:s,s:o,s:s}", "name", e->name, "title",
                     e->title, "help", e->help, "params", params, "path", path);
}

/* GET /api/v1/: the catalog. */
void srv_api_list(struct srv *s, struct evhttp_request *req, int64_t t0_us)
{
    json_t *qs = json_array();
    for (size_t i = 0; i < apicat_count(); i++)
        json_array_append_new(qs, entry_json(apicat_at(i)));
    srv_reply_json(s, req, SRV_C_API_LIST, t0_us, 200,
                   json_pack("{s:o}", "queries", qs));
}

/* --- arguments ------------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes n bytes of a query-string component ('+' is a space); NULL on a
 * bad escape or a NUL byte. */
static char *decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out); /* a bad escape, or %00 */
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        *o++ = c;
    }
    *o = '\0';
    return out;
}

static bool utf8_ok(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

/* Appends s percent-encoded (unreserved characters as they are). */
static void put_encoded(struct buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
            *p == '~')
            buf_putc(b, (char)*p);
        else
            buf_printf(b, "%%%02X", *p);
    }
}

static bool parse_count(const char *v, long long lo, long long hi,
                        long long *out)
{
    if (*v == '\0' || strlen(v) > 12)
        return false;
    long long x = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        x = x * 10 + (*p - '0');
    }
    if (x < lo || x > hi)
        return false;
    *out = x;
    return true;
}

/* Parsed arguments of one API call. */
struct args {
    char *vals[APICAT_PARAMS_MAX]; /* NULL = absent */
    long long limit, offset;
    bool have_limit, have_offset;
};

static void args_free(struct args *a)
{
    for (size_t i = 0; i < APICAT_PARAMS_MAX; i++)
        free(a->vals[i]);
}

/* Parses query into a for entry e; false with the 400 message in msg. */
static bool parse_args(const struct srv *s, const struct apicat_entry *e,
                       const char *query, struct args *a, char *msg,
                       size_t msglen)
{
    a->limit = APICAT_LIMIT_DEFAULT < s->o.page_size_max ? APICAT_LIMIT_DEFAULT
                                                         : s->o.page_size_max;
    a->offset = 0;
    int count = 0;
    const char *p = query ? query : "";
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *next = amp ? amp + 1 : p + n;
        if (n == 0) {
            p = next;
            continue;
        }
        if (++count > ARGS_MAX) {
            snprintf(msg, msglen, "too many arguments (at most %d)", ARGS_MAX);
            return false;
        }
        const char *eq = memchr(p, '=', n);
        size_t kn = eq ? (size_t)(eq - p) : n;
        char *k = decode(p, kn);
        char *v = eq ? decode(eq + 1, n - kn - 1) : xstrdup("");
        p = next;
        if (!k || !v || !utf8_ok(k) || !utf8_ok(v)) {
            free(k);
            free(v);
            snprintf(msg, msglen,
                     "arguments must be percent-encoded UTF-8 without NUL");
            return false;
        }
        bool ok = true;
        struct parse_err perr = {0};
        if (strcmp(k, "limit") == 0 || strcmp(k, "offset") == 0) {
            bool lim = k[0] == 'l';
            if (lim ? a->have_limit : a->have_offset) {
                snprintf(msg, msglen, "argument %s given twice", k);
                ok = false;
            } else if (lim &&
                       !parse_count(v, 1, s->o.page_size_max, &a->limit)) {
                snprintf(msg, msglen,
                         "limit must be an integer between 1 and %lld",
                         (long long)s->o.page_size_max);
                ok = false;
            } else if (!lim && !apicat_parse_offset(v, &a->offset, &perr)) {
                snprintf(msg, msglen, "%s", perr.msg);
                ok = false;
            }
            if (lim)
                a->have_limit = true;
            else
                a->have_offset = true;
            free(v);
        } else {
            int idx = apicat_param_index(e, k);
            struct parse_err err = {0};
            if (idx < 0) {
                bool plain =
                    strlen(k) <= 40 &&
                    strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") ==
                        strlen(k);
                snprintf(msg, msglen, "unknown argument%s%s%s of %s",
                         plain ? " \"" : "", plain ? k : "", plain ? "\"" : "",
                         e->name);
                ok = false;
            } else if (a->vals[idx]) {
                snprintf(msg, msglen, "argument %s given twice", k);
                ok = false;
            } else if (!apicat_check_value(&e->params[idx], v, &err)) {
                snprintf(msg, msglen, "%s", err.msg);
                ok = false;
            }
            if (ok)
                a->vals[idx] = v;
            else
                free(v);
        }
        free(k);
        if (!ok)
            return false;
    }
    for (size_t i = 0; i < e->nparams; i++)
        if (e->params[i].required && !a->vals[i]) {
            snprintf(msg, msglen, "argument %s is required", e->params[i].name);
            return false;
        }
    return true;
}

/* --- /api/v1/NAME --------------------------------------------------------- */

/* JSON text (NUL-terminated, with a newline) of doc; takes doc. */
static char *json_text(json_t *doc, size_t *len)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text)
        text = xstrdup("{\"error\":{\"status\":500,\"message\":"
                       "\"cannot encode the answer\"}}");
    size_t n = strlen(text);
    text = xreallocarray(text, n + 2, 1);
    memcpy(text + n, "\n", 2);
    *len = n + 1;
    return text;
}

static void flight_error(struct srv_flight *f, int status, const char *msg)
{
    size_t len;
    char *text = json_text(
        json_pack("{s:{s:i,s:s}}", "error", "status", status, "message", msg),
        &len);
    srv_flight_done(f, status, text, len);
}

static void on_result(void *arg, const struct pga_result *res)
{
    struct srv_flight *f = arg;
    if (res->status != PGA_OK) {
        f->s->stats.db_errors++;
        if (res->status == PGA_SQL_ERROR &&
            strcmp(res->sqlstate, "57014") == 0) {
            flight_error(f, 503,
                         "the query ran longer than the statement "
                         "timeout (serve.statement_timeout)");
        } else if (res->status == PGA_SQL_ERROR &&
                   strncmp(res->sqlstate, "22", 2) == 0) {
            char msg[300];
            snprintf(msg, sizeof msg, "bad argument: %s", res->msg);
            flight_error(f, 400, msg);
        } else if (res->status == PGA_SQL_ERROR) {
            log_warn("serve: query %s failed: %s %s", apicat_at(f->entry)->name,
                     res->sqlstate, res->msg);
            flight_error(f, 500, "the query failed in the database");
        } else {
            flight_error(f, 503, "the database connection was lost; retry");
        }
        return;
    }
    const struct apicat_entry *e = apicat_at(f->entry);
    const struct pg_result *pr = res->last;
    int nrows = pr ? pg_nrows(pr) : 0;
    json_t *next = json_null();
    if (nrows > f->limit) {
        char *link = xasprintf("%s%lld", f->next_prefix,
                               (long long)(f->offset + f->limit));
        json_decref(next);
        next = json_string(link);
        free(link);
    }
    json_t *doc =
        json_pack("{s:s,s:s,s:o,s:o,s:I,s:I,s:o}", "query", e->name, "title",
                  e->title, "columns", pgjson_columns(pr), "rows",
                  pgjson_rows(pr, (int)f->limit), "limit", (json_int_t)f->limit,
                  "offset", (json_int_t)f->offset, "next", next);
    size_t len;
    char *text = json_text(doc, &len);
    free(f->next_prefix);
    f->next_prefix = NULL;
    srv_flight_done(f, 200, text, len);
}

/* GET /api/v1/NAME: from the cache, a running query, or a new one. */
void srv_api_query(struct srv *s, struct evhttp_request *req, int64_t t0_us,
                   const char *name, const char *query)
{
    size_t idx = 0, n = apicat_count();
    while (idx < n && strcmp(apicat_at(idx)->name, name) != 0)
        idx++;
    if (idx == n) {
        srv_reply_error(s, req, SRV_C_API, t0_us, 404,
                        "no such query (GET /api/v1/ lists them)");
        return;
    }
    const struct apicat_entry *e = apicat_at(idx);
    struct args a = {0};
    char msg[256];
    if (!parse_args(s, e, query, &a, msg, sizeof msg)) {
        args_free(&a);
        srv_reply_error(s, req, SRV_C_API, t0_us, 400, msg);
        return;
    }
    /* the canonical page: arguments in catalog order, encoded */
    struct buf prefix = BUF_INIT;
    buf_printf(&prefix, "/api/v1/%s?", e->name);
    for (size_t i = 0; i < e->nparams; i++) {
        if (!a.vals[i])
            continue;
        buf_printf(&prefix, "%s=", e->params[i].name);
        put_encoded(&prefix, a.vals[i]);
        buf_putc(&prefix, '&');
    }
    buf_printf(&prefix, "limit=%lld&offset=", a.limit);
    char *key = xasprintf("%s%lld", buf_str(&prefix), a.offset);

    const char *body;
    size_t len;
    bool stale = false;
    struct srv_req *r = NULL;
    if (srv_cache_get(s, key, &body, &len, &stale)) {
        s->stats.cache_hits++;
        char *copy = xmalloc(len + 1);
        memcpy(copy, body, len + 1);
        srv_reply(s, req, SRV_C_API, t0_us, 200, "application/json", "no-store",
                  copy, len);
        /* a stale answer was given: refresh it in the background, once */
        if (!stale || srv_flight_find(s, key))
            goto out;
    } else {
        r = srv_req_new(s, req, SRV_C_API, t0_us);
        struct srv_flight *f = srv_flight_find(s, key);
        if (f) {
            s->stats.coalesced++;
            srv_flight_wait(f, r);
            goto out;
        }
    }
    struct srv_flight *f = srv_flight_new(s, key, r);
    key = NULL;
    f->entry = idx;
    f->limit = a.limit;
    f->offset = a.offset;
    f->next_prefix = buf_steal(&prefix);

    char lim[24], off[24];
    snprintf(lim, sizeof lim, "%lld", a.limit + 1);
    snprintf(off, sizeof off, "%lld", a.offset);
    const char *params[APICAT_PARAMS_MAX + 2];
    for (size_t i = 0; i < e->nparams; i++)
        params[i] = a.vals[i];
    params[e->nparams] = lim;
    params[e->nparams + 1] = off;
    const char *why = NULL;
    int rc = srv_db_query(&s->db, s->api_sql[idx], (int)e->nparams + 2, params,
                          on_result, f, &why);
    if (rc != 0) {
        s->stats.busy += s->db.pending >= s->db.max_pending;
        free(f->next_prefix);
        f->next_prefix = NULL;
        flight_error(f, rc, why);
    } else {
        s->stats.db_queries++;
    }
out:
    free(key);
    buf_free(&prefix);
    args_free(&a);
}

/* --- /healthz ------------------------------------------------------------- */

static void on_health(void *arg, const struct pga_result *res)
{
    struct srv_req *r = arg;
    if (res->status != PGA_OK || !res->last) {
        srv_req_json(r, 503,
                     json_pack("{s:s,s:s,s:s}", "status", "unavailable",
                               "database", "error", "message", res->msg));
        return;
    }
    const struct pg_result *pr = res->last;
    long long v = pg_nrows(pr) == 1 ? strtoll(pg_value(pr, 0, 0), NULL, 10) : 0;
    long long want = sql_migrations_count
                         ? sql_migrations[sql_migrations_count - 1].version
                         : 0;
    if (v < want) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "schema version %lld is older than this program's %lld: "
                 "run xcensus migrate",
                 v, want);
        srv_req_json(r, 503,
                     json_pack("{s:s,s:s,s:I,s:s}", "status", "unavailable",
                               "database", "ok", "schema_version",
                               (json_int_t)v, "message", msg));
        return;
    }
    srv_req_json(r, 200,
                 json_pack("{s:s,s:s,s:I}", "status", "ok", "database", "ok",
                           "schema_version", (json_int_t)v));
}

/* GET /healthz: one statement; 503 when it cannot run. */
void srv_api_healthz(struct srv *s, struct evhttp_request *req, int64_t t0_us)
{
    struct srv_req *r = srv_req_new(s, req, SRV_C_HEALTHZ, t0_us);
    const char *why = NULL;
    int rc = srv_db_query(&s->db,
                          "SELECT coalesce(max(version), 0) FROM "
                          "schema_migrations",
                          0, NULL, on_health, r, &why);
    if (rc != 0) {
        srv_req_free(r);
        srv_reply_json(s, req, SRV_C_HEALTHZ, t0_us, 503,
                       json_pack("{s:s,s:s,s:s}", "status", "unavailable",
                                 "database", "unavailable", "message", why));
    }
}
