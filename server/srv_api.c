/*
 * The JSON API over the query catalog (lib/apicat.h): GET /api/v1/ lists
 * the entries, GET /api/v1/NAME?ARG=VALUE&limit=N&offset=N runs one, and
 * /healthz. Arguments are decoded strictly (bad escapes, NUL, invalid
 * UTF-8, unknown or repeated names are 400s), checked against the entry's
 * parameter types, and bound as text parameters of the entry's fixed SQL,
 * wrapped once at start-up as
 *     SELECT * FROM (<sql>) q ORDER BY <order_by> LIMIT $n+1 OFFSET $n+2
 * One row more than the page is fetched to know whether a next page
 * exists. Also the conversion of a PGresult to the API's typed JSON.
 */
#include <event2/http.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicat.h"
#include "buf.h"
#include "log.h"
#include "pgasync.h"
#include "srv_int.h"
#include "xalloc.h"

#define ARGS_MAX 32         /* key=value pairs in one query string */
#define OFFSET_MAX 1000000000LL

/* --- PGresult -> JSON ---------------------------------------------------- */

enum col_kind {
    K_TEXT,
    K_INT,
    K_NUM,
    K_BOOL,
    K_TIMESTAMP,
    K_JSON,
    K_ARRAY_TEXT,
    K_ARRAY_NUM,
    K_ARRAY_BOOL,
};

/* Built-in type OIDs (pg_type.dat; fixed since PostgreSQL 7). */
static enum col_kind kind_of(Oid t)
{
    switch (t) {
    case 20: case 21: case 23: case 26: case 28:
        return K_INT;
    case 700: case 701: case 1700:
        return K_NUM;
    case 16:
        return K_BOOL;
    case 1082: case 1114: case 1184:
        return K_TIMESTAMP;
    case 114: case 3802:
        return K_JSON;
    case 1005: case 1007: case 1016: case 1021: case 1022: case 1231:
        return K_ARRAY_NUM;
    case 1000:
        return K_ARRAY_BOOL;
    case 1009: case 1015: case 1014: case 1003: case 199: case 3807:
    case 1182: case 1115: case 1185:
        return K_ARRAY_TEXT;
    default:
        return K_TEXT;
    }
}

static const char *kind_name(enum col_kind k)
{
    switch (k) {
    case K_INT: return "integer";
    case K_NUM: return "number";
    case K_BOOL: return "boolean";
    case K_TIMESTAMP: return "timestamp";
    case K_JSON: return "json";
    case K_ARRAY_TEXT: case K_ARRAY_NUM: case K_ARRAY_BOOL: return "array";
    default: return "text";
    }
}

/* A number as JSON: integers exactly, others as reals; what JSON cannot
 * hold (NaN, Infinity) as a string. */
static json_t *num_json(const char *s)
{
    char *end;
    long long ll = strtoll(s, &end, 10);
    if (*s && *end == '\0')
        return json_integer(ll);
    double d = strtod(s, &end);
    if (*s && *end == '\0') {
        json_t *j = json_real(d);
        if (j)
            return j;
    }
    return json_string(s);
}

/* PostgreSQL's ISO output as ISO 8601 (the same text as to_json()):
 * "2024-05-01 10:00:00.5+02" -> "2024-05-01T10:00:00.5+02:00". */
static json_t *timestamp_json(const char *s)
{
    size_t n = strlen(s);
    if (n < 19 || s[10] != ' ')
        return json_string(s); /* a date, infinity, BC */
    char *t = xmalloc(n + 4);
    memcpy(t, s, n + 1);
    t[10] = 'T';
    const char *tz = strpbrk(t + 19, "+-");
    if (tz && strlen(tz) == 3)
        strcat(t, ":00");
    json_t *j = json_string(t);
    free(t);
    return j;
}

static json_t *elem_json(const char *s, size_t n, enum col_kind k)
{
    char *t = xstrndup(s, n);
    json_t *j;
    if (k == K_ARRAY_NUM)
        j = num_json(t);
    else if (k == K_ARRAY_BOOL)
        j = json_boolean(strcmp(t, "t") == 0);
    else
        j = json_string(t);
    free(t);
    return j;
}

/* Parses one array literal level at *p ("{a,"b c",NULL,{..}}"). */
static json_t *array_json(const char **p, enum col_kind k, int depth)
{
    if (**p != '{' || depth > 6)
        return NULL;
    (*p)++;
    json_t *a = json_array();
    if (**p == '}') {
        (*p)++;
        return a;
    }
    struct buf b = BUF_INIT;
    for (;;) {
        json_t *v = NULL;
        if (**p == '{') {
            v = array_json(p, k, depth + 1);
        } else if (**p == '"') {
            buf_reset(&b);
            (*p)++;
            while (**p && **p != '"') {
                if (**p == '\\' && (*p)[1])
                    (*p)++;
                buf_putc(&b, **p);
                (*p)++;
            }
            if (**p == '"') {
                (*p)++;
                v = elem_json(buf_str(&b), b.len, k);
            }
        } else {
            const char *st = *p;
            while (**p && **p != ',' && **p != '}')
                (*p)++;
            size_t n = (size_t)(*p - st);
            v = (n == 4 && memcmp(st, "NULL", 4) == 0) ? json_null()
                                                        : elem_json(st, n, k);
        }
        if (!v)
            break;
        json_array_append_new(a, v);
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (**p == '}') {
            (*p)++;
            buf_free(&b);
            return a;
        }
        break;
    }
    buf_free(&b);
    json_decref(a);
    return NULL;
}

static json_t *value_json(const char *v, enum col_kind k)
{
    switch (k) {
    case K_INT:
    case K_NUM:
        return num_json(v);
    case K_BOOL:
        return json_boolean(strcmp(v, "t") == 0);
    case K_TIMESTAMP:
        return timestamp_json(v);
    case K_JSON: {
        json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
        return j ? j : json_string(v);
    }
    case K_ARRAY_TEXT:
    case K_ARRAY_NUM:
    case K_ARRAY_BOOL: {
        const char *p = strchr(v, '{'); /* skips "[0:1]=" bounds */
        json_t *a = p ? array_json(&p, k, 0) : NULL;
        return a ? a : json_string(v);
    }
    default:
        return json_string(v);
    }
}

/* [{"name":..,"type":..}] of the result's columns. */
json_t *srv_result_columns(const struct pga_result *r)
{
    const PGresult *res = (const PGresult *)r->last;
    json_t *cols = json_array();
    int nc = res ? PQnfields(res) : 0;
    for (int j = 0; j < nc; j++)
        json_array_append_new(
            cols, json_pack("{s:s,s:s}", "name", PQfname(res, j), "type",
                            kind_name(kind_of(PQftype(res, j)))));
    return cols;
}

/* The first max_rows rows as objects keyed by column name. */
json_t *srv_result_rows(const struct pga_result *r, int max_rows)
{
    const PGresult *res = (const PGresult *)r->last;
    json_t *rows = json_array();
    if (!res)
        return rows;
    int nc = PQnfields(res), nr = XC_MIN(PQntuples(res), max_rows);
    enum col_kind *kinds = xcalloc((size_t)nc + 1, sizeof *kinds);
    for (int j = 0; j < nc; j++)
        kinds[j] = kind_of(PQftype(res, j));
    for (int i = 0; i < nr; i++) {
        json_t *o = json_object();
        for (int j = 0; j < nc; j++) {
            json_t *v = PQgetisnull(res, i, j)
                            ? json_null()
                            : value_json(PQgetvalue(res, i, j), kinds[j]);
            json_object_set_new(o, PQfname(res, j), v ? v : json_null());
        }
        json_array_append_new(rows, o);
    }
    free(kinds);
    return rows;
}

/* --- the catalog ---------------------------------------------------------- */

static const char *param_type_name(enum apicat_type t)
{
    switch (t) {
    case APICAT_INT: return "integer";
    case APICAT_DATE: return "date";
    case APICAT_BOOL: return "boolean";
    default: return "text";
    }
}

/* Wraps each entry's SQL with its order and the page parameters. */
void srv_api_init(struct srv *s)
{
    size_t n = apicat_count();
    s->api_sql = xcalloc(n + 1, sizeof *s->api_sql);
    for (size_t i = 0; i < n; i++) {
        const struct apicat_entry *e = apicat_at(i);
        s->api_sql[i] = xasprintf(
            "SELECT * FROM (%s) q ORDER BY %s LIMIT $%zu OFFSET $%zu", e->sql,
            e->order_by, e->nparams + 1, e->nparams + 2);
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
                              param_type_name(p->type), "required",
                              p->required, "help", p->help ? p->help : ""));
    }
    char path[128];
    snprintf(path, sizeof path, "/api/v1/%s", e->name);
    return json_pack("{s:s,s:s,s:s,s:o,s:s}", "name", e->name, "title",
                     e->title, "help", e->help, "params", params, "path",
                     path);
}

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
    a->limit = APICAT_LIMIT_DEFAULT < s->o.page_size_max
                   ? APICAT_LIMIT_DEFAULT
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
        if (strcmp(k, "limit") == 0 || strcmp(k, "offset") == 0) {
            bool lim = k[0] == 'l';
            if (lim ? a->have_limit : a->have_offset) {
                snprintf(msg, msglen, "argument %s given twice", k);
                ok = false;
            } else if (lim && !parse_count(v, 1, s->o.page_size_max, &a->limit)) {
                snprintf(msg, msglen,
                         "limit must be an integer between 1 and %lld",
                         (long long)s->o.page_size_max);
                ok = false;
            } else if (!lim && !parse_count(v, 0, OFFSET_MAX, &a->offset)) {
                snprintf(msg, msglen,
                         "offset must be an integer between 0 and %lld",
                         OFFSET_MAX);
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
                bool plain = strlen(k) <= 40 && strspn(k,
                    "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(k);
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

static void on_result(void *arg, const struct pga_result *res)
{
    struct srv_req *r = arg;
    if (r->gone) {
        srv_req_free(r);
        return;
    }
    if (res->status != PGA_OK) {
        r->s->stats.db_errors++;
        if (res->status == PGA_SQL_ERROR && strcmp(res->sqlstate, "57014") == 0) {
            srv_req_error(r, 503, "the query ran longer than the statement "
                                  "timeout (serve.statement_timeout)");
        } else if (res->status == PGA_SQL_ERROR &&
                   strncmp(res->sqlstate, "22", 2) == 0) {
            char msg[300];
            snprintf(msg, sizeof msg, "bad argument: %s", res->msg);
            srv_req_error(r, 400, msg);
        } else if (res->status == PGA_SQL_ERROR) {
            log_warn("serve: query %s failed: %s %s",
                     apicat_at(r->entry)->name, res->sqlstate, res->msg);
            srv_req_error(r, 500, "the query failed in the database");
        } else {
            srv_req_error(r, 503, "the database connection was lost; retry");
        }
        return;
    }
    const struct apicat_entry *e = apicat_at(r->entry);
    const PGresult *pr = (const PGresult *)res->last;
    int nrows = pr ? PQntuples(pr) : 0;
    json_t *next = json_null();
    if (nrows > r->limit) {
        char *link = xasprintf("%s%lld", r->next_prefix,
                               (long long)(r->offset + r->limit));
        json_decref(next);
        next = json_string(link);
        free(link);
    }
    json_t *doc = json_pack(
        "{s:s,s:s,s:o,s:o,s:I,s:I,s:o}", "query", e->name, "title", e->title,
        "columns", srv_result_columns(res), "rows",
        srv_result_rows(res, (int)r->limit), "limit", (json_int_t)r->limit,
        "offset", (json_int_t)r->offset, "next", next);
    srv_req_json(r, 200, doc);
}

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
    char lim[24], off[24];
    snprintf(lim, sizeof lim, "%lld", a.limit + 1);
    snprintf(off, sizeof off, "%lld", a.offset);
    const char *params[APICAT_PARAMS_MAX + 2];
    for (size_t i = 0; i < e->nparams; i++)
        params[i] = a.vals[i];
    params[e->nparams] = lim;
    params[e->nparams + 1] = off;

    struct srv_req *r = srv_req_new(s, req, SRV_C_API, t0_us);
    r->entry = idx;
    r->limit = a.limit;
    r->offset = a.offset;
    r->next_prefix = buf_steal(&prefix);
    const char *why = NULL;
    int rc = srv_db_query(&s->db, s->api_sql[idx], (int)e->nparams + 2, params,
                          on_result, r, &why);
    args_free(&a);
    if (rc != 0) {
        s->stats.busy += s->db.pending >= s->db.max_pending;
        srv_req_error(r, rc, why);
    }
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
    const PGresult *pr = (const PGresult *)res->last;
    long long v = PQntuples(pr) == 1 ? strtoll(PQgetvalue(pr, 0, 0), NULL, 10)
                                     : 0;
    srv_req_json(r, 200,
                 json_pack("{s:s,s:s,s:I}", "status", "ok", "database", "ok",
                           "schema_version", (json_int_t)v));
}

void srv_api_healthz(struct srv *s, struct evhttp_request *req,
                     int64_t t0_us)
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
