/*
 * libpq helpers for blocking command-line paths: conninfo resolution,
 * connection, checked statements and COPY FROM STDIN. Errors carry the
 * SQLSTATE and the server's primary message. Does not retry or reconnect:
 * a command that loses its database reports it and exits.
 */
#include "pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

/* Type OIDs from pg_type.dat; stable since PostgreSQL 7. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700,
};

const char *pg_conninfo_resolve(const char *flag, const char *config_value)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("XCENSUS_DATABASE");
    if (env && *env)
        return env;
    if (config_value && *config_value)
        return config_value;
    return "";
}

static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    size_t n = strlen(message);
    while (n > 0 && message[n - 1] == '\n')
        n--;
    log_info("database: %.*s", (int)n, message);
}

/* Copies a libpq message without its trailing newlines. */
static void copy_msg(char *dst, size_t cap, const char *src)
{
    if (!src)
        src = "";
    snprintf(dst, cap, "%s", src);
    size_t n = strlen(dst);
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
        dst[--n] = '\0';
}

/* Fills err (or logs) from a failed result or, if res is NULL, from the
 * connection's error message. */
static void report(PGconn *c, const PGresult *res, struct pg_err *err)
{
    struct pg_err local;
    struct pg_err *e = err ? err : &local;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(e->sqlstate, sizeof e->sqlstate, "%s", state ? state : "");
    if (primary) {
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        if (detail) {
            char both[sizeof e->msg];
            snprintf(both, sizeof both, "%s (%s)", primary, detail);
            copy_msg(e->msg, sizeof e->msg, both);
        } else {
            copy_msg(e->msg, sizeof e->msg, primary);
        }
    } else if (res && *PQresultErrorMessage(res)) {
        copy_msg(e->msg, sizeof e->msg, PQresultErrorMessage(res));
    } else {
        copy_msg(e->msg, sizeof e->msg, PQerrorMessage(c));
    }
    if (!err) {
        if (e->sqlstate[0])
            log_error("database error: %s (SQLSTATE %s)", e->msg, e->sqlstate);
        else
            log_error("database error: %s", e->msg);
    }
}

struct pg_conn *pg_connect(const char *conninfo)
{
    /* expand_dbname lets "dbname" carry a whole conninfo or URI, which
     * overrides the keywords before it (a default connect timeout, so that an
     * unreachable host fails in seconds, unless PGCONNECT_TIMEOUT says
     * otherwise); the fallback application name shows us in
     * pg_stat_activity */
    const char *keys[4], *vals[4];
    int n = 0;
    if (!getenv("PGCONNECT_TIMEOUT")) {
        keys[n] = "connect_timeout";
        vals[n++] = "10";
    }
    keys[n] = "dbname";
    vals[n++] = conninfo ? conninfo : "";
    keys[n] = "fallback_application_name";
    vals[n++] = "xcensus";
    keys[n] = vals[n] = NULL;
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        log_error("could not connect to database: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        copy_msg(msg, sizeof msg, PQerrorMessage(c));
        log_error("could not connect to database: %s", msg);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, notice_to_log, NULL);
    return c;
}

void pg_close(struct pg_conn *c)
{
    if (c)
        PQfinish(c);
}

bool pg_exec(struct pg_conn *c, const char *sql, struct pg_err *err)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        report(c, res, err);
    PQclear(res);
    return ok;
}

struct pg_result *pg_query(struct pg_conn *c, const char *sql, int nparams,
                           const char *const *params, struct pg_err *err)
{
    PGresult *res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        report(c, res, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

char *pg_query_value(struct pg_conn *c, const char *sql, int nparams,
                     const char *const *params, bool *found, struct pg_err *err)
{
    *found = false;
    PGresult *res = pg_query(c, sql, nparams, params, err);
    if (!res)
        return NULL;
    char *v = NULL;
    if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0)) {
        v = xstrdup(PQgetvalue(res, 0, 0));
        *found = true;
    }
    PQclear(res);
    return v;
}

int pg_nrows(const struct pg_result *r)
{
    return PQntuples(r);
}

int pg_ncols(const struct pg_result *r)
{
    return PQnfields(r);
}

const char *pg_colname(const struct pg_result *r, int col)
{
    return PQfname(r, col);
}

bool pg_col_numeric(const struct pg_result *r, int col)
{
    switch (PQftype(r, col)) {
    case OID_INT8:
    case OID_INT2:
    case OID_INT4:
    case OID_OID:
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC:
        return true;
    default:
        return false;
    }
}

bool pg_col_bool(const struct pg_result *r, int col)
{
    return PQftype(r, col) == OID_BOOL;
}

const char *pg_value(const struct pg_result *r, int row, int col)
{
    return PQgetvalue(r, row, col);
}

bool pg_isnull(const struct pg_result *r, int row, int col)
{
    return PQgetisnull(r, row, col) != 0;
}

long long pg_cmd_rows(const struct pg_result *r)
{
    const char *s = PQcmdTuples((PGresult *)r);
    return (s && *s) ? strtoll(s, NULL, 10) : 0;
}

void pg_clear(struct pg_result *r)
{
    PQclear(r);
}

bool pg_copy_begin(struct pg_conn *c, const char *copy_sql, struct pg_err *err)
{
    PGresult *res = PQexec(c, copy_sql);
    bool ok = PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok)
        report(c, res, err);
    PQclear(res);
    return ok;
}

bool pg_copy_put(struct pg_conn *c, const char *data, size_t len,
                 struct pg_err *err)
{
    /* PQputCopyData takes an int length: feed large buffers in slices */
    while (len > 0) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        if (PQputCopyData(c, data, n) != 1) {
            report(c, NULL, err);
            return false;
        }
        data += n;
        len -= (size_t)n;
    }
    return true;
}

bool pg_copy_end(struct pg_conn *c, struct pg_err *err)
{
    if (PQputCopyEnd(c, NULL) != 1) {
        report(c, NULL, err);
        return false;
    }
    bool ok = true;
    PGresult *res;
    while ((res = PQgetResult(c)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && ok) {
            report(c, res, err);
            ok = false;
        }
        PQclear(res);
    }
    return ok;
}

void pg_copy_escape(struct buf *b, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (s[i]) {
        case '\\':
            rep = "\\\\";
            break;
        case '\t':
            rep = "\\t";
            break;
        case '\n':
            rep = "\\n";
            break;
        case '\r':
            rep = "\\r";
            break;
        default:
            continue;
        }
        buf_append(b, s + start, i - start);
        buf_append(b, rep, 2);
        start = i + 1;
    }
    buf_append(b, s + start, len - start);
}

void pg_copy_null(struct buf *b)
{
    buf_append(b, "\\N", 2);
}

void pg_copy_str(struct buf *b, const char *s)
{
    if (s)
        pg_copy_escape(b, s, strlen(s));
    else
        pg_copy_null(b);
}
