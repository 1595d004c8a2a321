/*
 * Dataset snapshots: export inside one REPEATABLE READ read-only
 * transaction (CSV with COPY TO STDOUT, JSON Lines through a cursor and
 * lib/pgjson), verification of an untrusted snapshot directory, and import
 * into an empty database (see snapshot.h, docs/SNAPSHOTS.md).
 * The file formats themselves live in snapshot_fmt.c.
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "migrate.h"
#include "pgjson.h"
#include "snapshot_fmt.h"
#include "sql_embedded.h"
#include "xalloc.h"

/* ------------------------------------------------------------------------
 * What is the dataset
 * ------------------------------------------------------------------------ */

/* Subqueries that select what a set of sources ($S, a bigint[] literal)
 * references, for `export --source`. */
#define SEL_ENTITIES                                                           \
    "SELECT entity_id FROM disco_snapshots WHERE source_id = ANY($S)"          \
    " UNION SELECT entity_id FROM software_versions WHERE source_id = ANY($S)" \
    " UNION SELECT entity_id FROM room_observations WHERE source_id = ANY($S)" \
    " UNION SELECT service_id FROM room_observations"                          \
    " WHERE source_id = ANY($S)"                                               \
    " UNION SELECT parent_id FROM disco_item_links WHERE source_id = ANY($S)"  \
    " UNION SELECT child_id FROM disco_item_links WHERE source_id = ANY($S)"   \
    " UNION SELECT service_id FROM caps_observations"                          \
    " WHERE source_id = ANY($S)"                                               \
    " UNION SELECT service_id FROM caps2_observations"                         \
    " WHERE source_id = ANY($S)"                                               \
    " UNION SELECT entity_id FROM probe_outcomes WHERE source_id = ANY($S)"
#define SEL_DOMAINS                                                            \
    "SELECT domain_id FROM entities WHERE id IN (" SEL_ENTITIES ")"            \
    " UNION SELECT domain_id FROM srv_records WHERE source_id = ANY($S)"       \
    " UNION SELECT domain_id FROM stream_features WHERE source_id = ANY($S)"   \
    " UNION SELECT domain_id FROM tls_facts WHERE source_id = ANY($S)"         \
    " UNION SELECT domain_id FROM probe_outcomes WHERE source_id = ANY($S)"    \
    " UNION SELECT id FROM domains WHERE discovered_by = ANY($S)"
#define SEL_CAPS                                                               \
    "SELECT e.id FROM caps_entries e WHERE e.first_source_id = ANY($S)"        \
    " OR EXISTS (SELECT 1 FROM caps_observations o"                            \
    " WHERE o.source_id = ANY($S) AND o.algo = e.algo AND o.ver = e.ver)"
#define SEL_CAPS2                                                              \
    "SELECT e.id FROM caps2_entries e WHERE EXISTS (SELECT 1"                  \
    " FROM caps2_observations o WHERE o.source_id = ANY($S)"                   \
    " AND o.algo = e.algo AND o.value = e.value)"
#define SEL_CONTENTS                                                           \
    "SELECT content_id FROM disco_snapshots WHERE source_id = ANY($S)"         \
    " UNION SELECT content_id FROM caps_entries WHERE id IN (" SEL_CAPS ")"    \
    " UNION SELECT content_id FROM caps2_entries WHERE id IN (" SEL_CAPS2 ")"
#define BY_SOURCE "source_id = ANY($S)"
#define BY_CONTENT "content_id IN (" SEL_CONTENTS ")"

struct snap_table {
    const char *name;
    const char *order_by;     /* a total order, independent of collation */
    const char *filter;       /* WHERE under --source ($S), NULL: all rows */
    const char *override_col; /* a column computed under --source ... */
    const char *override_sql; /* ... by this expression ($S) */
    const char *excluded;     /* columns never exported, comma-separated */
    const char *about;        /* one or two sentences for the manifest */
};

/* Every dataset table in load order: each table comes after the tables
 * its foreign keys reference. */
static const struct snap_table dataset[] = {
    {"sources", "id", "id = ANY($S)", NULL, NULL, NULL,
     "Origins of observations: one row per crawl run, import or test-network "
     "run. Every observation row carries its source_id."},
    {"crawls", "id",
     "id IN (SELECT crawl_id FROM crawl_runs WHERE source_id = ANY($S))", NULL,
     NULL, NULL,
     "Named crawls (scope, re-crawl interval, settings); their runs are "
     "sources."},
    {"crawl_runs", "id", BY_SOURCE, NULL, NULL, "host",
     "One run of a crawl (state, start and end, xcensus version, settings). "
     "The host that ran it is not exported."},
    {"domains", "id", "id IN (" SEL_DOMAINS ")", "discovered_by",
     "CASE WHEN discovered_by = ANY($S) THEN discovered_by END",
     "leased_job_id,last_contact",
     "XMPP domains known to the census: when first seen, which source "
     "discovered them, opt-out state, XEP-0485 opt-in. Queue leases are not "
     "exported."},
    {"entities", "id", "id IN (" SEL_ENTITIES ")", NULL, NULL, NULL,
     "Services by bare address and disco node: servers, components, MUC "
     "services and public rooms. Never a client or occupant address."},
    {"features", "id",
     "id IN (SELECT unnest(feature_ids || duplicate_feature_ids)"
     " FROM disco_contents WHERE id IN (" SEL_CONTENTS "))",
     NULL, NULL, NULL,
     "Interned disco#info feature strings; disco_contents.feature_ids "
     "refers to their ids."},
    {"disco_contents", "id", "id IN (" SEL_CONTENTS ")", NULL, NULL, NULL,
     "Each distinct disco#info answer (raw XML, SHA-256 digest, counts, "
     "sorted feature ids, XEP-0232 flag, parse error)."},
    {"disco_identities", "content_id, pos", BY_CONTENT, NULL, NULL, NULL,
     "The identities (category, type, lang, name) of each disco#info "
     "answer, in document order."},
    {"disco_forms", "content_id, pos", BY_CONTENT, NULL, NULL, NULL,
     "XEP-0128 extended forms of each disco#info answer."},
    {"disco_form_fields", "content_id, form_pos, pos", BY_CONTENT, NULL, NULL,
     NULL, "The fields of those forms."},
    {"disco_form_values", "content_id, form_pos, field_pos, pos", BY_CONTENT,
     NULL, NULL, NULL, "The values of those fields."},
    {"softinfo", "content_id", BY_CONTENT, NULL, NULL, NULL,
     "XEP-0232 software information found in a disco#info answer."},
    {"contact_addresses", "content_id, kind COLLATE \"C\", pos", BY_CONTENT,
     NULL, NULL, NULL,
     "XEP-0157 contact addresses published by servers (public URIs)."},
    {"disco_snapshots", "id", BY_SOURCE, NULL, NULL, NULL,
     "Which entity gave which disco#info answer, when, in which source."},
    {"disco_item_links", "source_id, parent_id, child_id", BY_SOURCE, NULL,
     NULL, NULL, "disco#items: the items a service listed, per source."},
    {"software_versions", "id", BY_SOURCE, NULL, NULL, NULL,
     "XEP-0092 software version answers of servers and components."},
    {"room_observations", "id", BY_SOURCE, NULL, NULL, NULL,
     "Public rooms seen on MUC services: flags and an occupant count "
     "(a number, never a list)."},
    {"caps_entries", "id", "id IN (" SEL_CAPS ")", "first_source_id",
     "CASE WHEN first_source_id = ANY($S) THEN first_source_id END", NULL,
     "One XEP-0115 (algorithm, ver) and the verdict of verifying it against "
     "its disco#info answer."},
    {"caps_entry_nodes", "entry_id, node COLLATE \"C\"",
     "entry_id IN (" SEL_CAPS ")", NULL, NULL, NULL,
     "The caps nodes (client software URIs) each caps entry was seen with."},
    {"caps_observations",
     "source_id, service_id, algo COLLATE \"C\", ver COLLATE \"C\", "
     "node COLLATE \"C\"",
     BY_SOURCE, NULL, NULL, NULL,
     "How often each caps (algo, ver, node) was seen per source and MUC "
     "service: counts only, no sender address, nick or room roster."},
    {"caps2_entries", "id", "id IN (" SEL_CAPS2 ")", NULL, NULL, NULL,
     "XEP-0390 hashes and their verdicts."},
    {"caps2_observations",
     "source_id, service_id, algo COLLATE \"C\", value COLLATE \"C\"",
     BY_SOURCE, NULL, NULL, NULL,
     "How often each XEP-0390 hash was seen per source and MUC service."},
    {"srv_records", "id", BY_SOURCE, NULL, NULL, NULL,
     "DNS SRV records of each domain (RFC 6120, XEP-0368)."},
    {"stream_features", "id", BY_SOURCE, NULL, NULL, NULL,
     "Stream features offered before and after STARTTLS on c2s and s2s."},
    {"tls_facts", "id", BY_SOURCE, NULL, NULL, NULL,
     "TLS version, cipher and certificate facts of each probed endpoint."},
    {"probe_outcomes", "id", BY_SOURCE, NULL, NULL, "job_id",
     "The outcome of every probe (success, XMPP error condition, timeout, "
     "TLS alert). The queue's job id is not exported."},
    {"analysis_runs", "id", "source_ids <@ $S", NULL, NULL, NULL,
     "Stored results of `xcensus analyze` (caps cache figures) over sources "
     "of this snapshot."},
};

/* Never exported: the crawler's working state, not observations. */
static const char *const operational[] = {
    "jobs",              /* the job queue: leases, attempts, errors */
    "store_batches",     /* the storage writer's idempotency ledger */
    "deny_list",         /* operator policy, read from a file by crawlers */
    "schema_migrations", /* recorded as the snapshot's schema version */
};

/* Never exported: rollups the schema's triggers keep current from the
 * dataset tables (sql/0030), so an import rebuilds them as it loads. A
 * table missing here that a trigger function of a dataset table inserts
 * into is recognised as derived too (check_classified()). */
static const char *const derived[] = {
    "entity_latest",        "entity_version_latest", "disco_daily",
    "disco_feature_daily",  "probe_outcome_counts",  "caps_source_keys",
    "caps_source_services",
    /* what `xcensus analyze` works out from the XEP-0232 forms and keeps
     * for later loads (sql/0033): rebuilt by the first analysis */
    "softinfo_derived",     "softinfo_stripped_vers",
};

static const char *const kind_names[] = {
    [SNAPSHOT_UNKNOWN] = "unknown",
    [SNAPSHOT_DATASET] = "dataset",
    [SNAPSHOT_OPERATIONAL] = "operational",
    [SNAPSHOT_DERIVED] = "derived",
};
_Static_assert(ARRAY_LEN(kind_names) == SNAPSHOT_KIND__COUNT, "names table");

const char *snapshot_table_kind_name(enum snapshot_table_kind k)
{
    return (unsigned)k < SNAPSHOT_KIND__COUNT ? kind_names[k] : "?";
}

static const struct snap_table *find_table(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(dataset); i++)
        if (strcmp(dataset[i].name, name) == 0)
            return &dataset[i];
    return NULL;
}

enum snapshot_table_kind snapshot_table_kind(const char *name)
{
    if (find_table(name))
        return SNAPSHOT_DATASET;
    for (size_t i = 0; i < ARRAY_LEN(operational); i++)
        if (strcmp(operational[i], name) == 0)
            return SNAPSHOT_OPERATIONAL;
    for (size_t i = 0; i < ARRAY_LEN(derived); i++)
        if (strcmp(derived[i], name) == 0)
            return SNAPSHOT_DERIVED;
    return SNAPSHOT_UNKNOWN;
}

size_t snapshot_dataset_count(void)
{
    return ARRAY_LEN(dataset);
}

const char *snapshot_dataset_name(size_t i)
{
    ASSERT(i < ARRAY_LEN(dataset));
    return dataset[i].name;
}

const char *snapshot_excluded_columns(const char *name)
{
    const struct snap_table *t = find_table(name);
    return t ? t->excluded : NULL;
}

/* True if col is in the comma-separated list. */
static bool in_list(const char *list, const char *col)
{
    size_t n = strlen(col);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, col, n) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

PRINTF_LIKE(2, 3)
static void say(FILE *errf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(errf, fmt, ap);
    va_end(ap);
    fputc('\n', errf);
}

/* The server's message of a failed result, or the connection's. */
static const char *pq_msg(PGconn *c, const PGresult *r)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    return m ? m : PQerrorMessage(c);
}

static bool exec_ok(PGconn *c, const char *sql, FILE *errf)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
              PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        say(errf, "xcensus: database error: %s", pq_msg(c, r));
    PQclear(r);
    return ok;
}

/* Runs a query returning rows; NULL after reporting. */
static PGresult *query(PGconn *c, const char *sql, int n,
                       const char *const *params, FILE *errf)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        say(errf, "xcensus: database error: %s", pq_msg(c, r));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Replaces every "$S" in s with sel. Returns a new string. */
static char *subst(const char *s, const char *sel)
{
    struct buf b = BUF_INIT;
    for (const char *p = s; *p;) {
        const char *q = strstr(p, "$S");
        if (!q) {
            buf_puts(&b, p);
            break;
        }
        buf_append(&b, p, (size_t)(q - p));
        buf_puts(&b, sel);
        p = q + 2;
    }
    return buf_steal(&b);
}

/* The session settings that make every value's text form the same in
 * every export and import, whatever the server's defaults. */
static const char session_settings[] =
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD';"
    " SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 1;"
    " SET bytea_output = 'hex'; SET client_encoding = 'UTF8'";

/* A column of a table as the database has it. */
struct column {
    char *name;
    char *type;            /* format_type(), e.g. "bigint", "text[]" */
    const char *json_type; /* pgjson_type_name() in JSON Lines; static */
};

struct columns {
    struct column *v;
    size_t n;
};

static void columns_free(struct columns *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        free(cs->v[i].name);
        free(cs->v[i].type);
    }
    free(cs->v);
    cs->v = NULL;
    cs->n = 0;
}

/* The columns of public.table in order, without the excluded ones. */
static bool table_columns(PGconn *c, const struct snap_table *t,
                          struct columns *out, FILE *errf)
{
    const char *p[1] = {t->name};
    PGresult *r =
        query(c,
              "SELECT a.attname, format_type(a.atttypid, a.atttypmod)"
              " FROM pg_attribute a JOIN pg_class k ON k.oid = a.attrelid"
              " JOIN pg_namespace n ON n.oid = k.relnamespace"
              " WHERE n.nspname = 'public' AND k.relname = $1 AND a.attnum > 0"
              " AND NOT a.attisdropped ORDER BY a.attnum",
              1, p, errf);
    if (!r)
        return false;
    out->v = xcalloc((size_t)PQntuples(r) + 1, sizeof *out->v);
    out->n = 0;
    bool ok = true;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        if (in_list(t->excluded, name))
            continue;
        if (!snapshot_ident_ok(name)) {
            say(errf,
                "xcensus: table \"%s\" has a column named \"%s\" that "
                "a snapshot cannot carry",
                t->name, name);
            ok = false;
            break;
        }
        out->v[out->n].name = xstrdup(name);
        out->v[out->n].type = xstrdup(PQgetvalue(r, i, 1));
        out->n++;
    }
    PQclear(r);
    if (ok && out->n == 0) {
        say(errf, "xcensus: table \"%s\" is missing", t->name);
        ok = false;
    }
    if (!ok)
        columns_free(out);
    return ok;
}

/* The expected CSV header: the column names joined by commas. */
static char *csv_header(const struct columns *cs)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < cs->n; i++) {
        if (i)
            buf_putc(&b, ',');
        buf_puts(&b, cs->v[i].name);
    }
    return buf_steal(&b);
}

/* ------------------------------------------------------------------------
 * Export
 * ------------------------------------------------------------------------ */

/* A file being written: its digest and size follow every byte. */
struct out_file {
    FILE *f;
    char name[128];
    struct snapshot_sha256 *h;
    long long bytes;
    char sha[65];
};

static bool out_open(struct out_file *o, int dirfd, const char *name,
                     FILE *errf)
{
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
        say(errf, "xcensus export: could not create \"%s\": %s", name,
            strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    o->h = snapshot_sha256_new();
    return true;
}

static bool out_write(struct out_file *o, const void *p, size_t n)
{
    snapshot_sha256_update(o->h, p, n);
    o->bytes += (long long)n;
    return fwrite(p, 1, n, o->f) == n;
}

/* Flushes, syncs and closes; fills o->sha. */
static bool out_close(struct out_file *o, FILE *errf)
{
    bool ok = fflush(o->f) == 0 && fsync(fileno(o->f)) == 0;
    if (fclose(o->f) != 0)
        ok = false;
    o->f = NULL;
    snapshot_sha256_final(o->h, o->sha);
    o->h = NULL;
    if (!ok)
        say(errf, "xcensus export: could not write \"%s\": %s", o->name,
            strerror(errno));
    return ok;
}

static void out_abort(struct out_file *o)
{
    if (o->f)
        fclose(o->f);
    o->f = NULL;
    snapshot_sha256_free(o->h);
    o->h = NULL;
}

/* Runs "COPY (...) TO STDOUT" and hands every message (one row) to row().
 * Returns false after reporting on errf. */
static bool copy_out(PGconn *c, const char *sql,
                     bool (*row)(void *ctx, const char *p, size_t n), void *ctx,
                     FILE *errf)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        say(errf, "xcensus export: database error: %s", pq_msg(c, r));
        PQclear(r);
        return false;
    }
    PQclear(r);
    bool ok = true;
    char *data;
    int n;
    while ((n = PQgetCopyData(c, &data, 0)) > 0) {
        if (ok && !row(ctx, data, (size_t)n))
            ok = false; /* keep reading: the COPY must be drained */
        PQfreemem(data);
    }
    if (n == -2) {
        say(errf, "xcensus export: database error: %s", PQerrorMessage(c));
        ok = false;
    }
    while ((r = PQgetResult(c)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && ok) {
            say(errf, "xcensus export: database error: %s", pq_msg(c, r));
            ok = false;
        }
        PQclear(r);
    }
    return ok;
}

struct csv_sink {
    struct out_file *o;
    struct buf b;
    bool in_quotes;
    struct snapshot_csv check; /* our own output, checked as an import will */
};

static bool csv_row(void *ctx, const char *p, size_t n)
{
    struct csv_sink *s = ctx;
    buf_reset(&s->b);
    snapshot_csv_crlf(&s->b, p, n, &s->in_quotes);
    if (!snapshot_csv_feed(&s->check, s->b.data, s->b.len))
        return false;
    return out_write(s->o, s->b.data, s->b.len);
}

#define JSONL_FETCH 5000 /* rows per FETCH of the JSON Lines cursor */

/* Writes the rows of select (ordered by order_by) as JSON Lines through
 * lib/pgjson, the conversion `xcensus query -f json` and the API use, with
 * the API's dump flags; records each column's JSON type name in
 * cs->v[i].json_type. Sets *rows. */
static bool export_jsonl(PGconn *c, const char *select, const char *order_by,
                         struct out_file *o, struct columns *cs,
                         long long *rows, FILE *errf)
{
    char *sql = xasprintf("DECLARE snapshot_rows NO SCROLL CURSOR FOR %s "
                          "ORDER BY %s",
                          select, order_by);
    bool ok = exec_ok(c, sql, errf);
    free(sql);
    *rows = 0;
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH FORWARD %d FROM snapshot_rows",
             JSONL_FETCH);
    bool typed = false;
    while (ok) {
        PGresult *r = query(c, fetch, 0, NULL, errf);
        if (!r) {
            ok = false;
            break;
        }
        const struct pg_result *pr = (const struct pg_result *)r;
        if (!typed) {
            for (size_t i = 0; i < cs->n && (int)i < PQnfields(r); i++)
                cs->v[i].json_type =
                    pgjson_type_name(pgjson_col_type(pr, (int)i));
            typed = true;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n && ok; i++) {
            json_t *row = pgjson_row(pr, i);
            char *text = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(row);
            if (!text || strchr(text, '\n')) {
                say(errf, "xcensus export: bug: a row is not one line of "
                          "JSON");
                ok = false;
            } else if (!out_write(o, text, strlen(text)) ||
                       !out_write(o, "\n", 1)) {
                say(errf, "xcensus export: could not write \"%s\": %s", o->name,
                    strerror(errno));
                ok = false;
            }
            free(text);
            (*rows)++;
        }
        PQclear(r);
        if (n < JSONL_FETCH)
            break;
    }
    if (!exec_ok(c, "CLOSE snapshot_rows", errf))
        ok = false;
    return ok;
}

/* What one exported table became. */
struct table_out {
    const struct snap_table *t;
    struct columns cols;
    long long rows;
    struct out_file csv, jsonl;
};

/* The SELECT of table t's exported rows (no ORDER BY), with $S replaced. */
static char *select_sql(const struct snap_table *t, const struct columns *cs,
                        const char *sel)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "SELECT ");
    for (size_t i = 0; i < cs->n; i++) {
        if (i)
            buf_puts(&b, ", ");
        if (sel && t->override_col &&
            strcmp(cs->v[i].name, t->override_col) == 0) {
            char *e = subst(t->override_sql, sel);
            buf_printf(&b, "%s AS \"%s\"", e, cs->v[i].name);
            free(e);
        } else {
            buf_printf(&b, "\"%s\"", cs->v[i].name);
        }
    }
    buf_printf(&b, " FROM public.\"%s\"", t->name);
    if (sel && t->filter) {
        char *f = subst(t->filter, sel);
        buf_printf(&b, " WHERE %s", f);
        free(f);
    }
    return buf_steal(&b);
}

static bool export_table(PGconn *c, int dirfd, struct table_out *to,
                         const char *sel, FILE *errf)
{
    const struct snap_table *t = to->t;
    char name[128];
    char *select = select_sql(t, &to->cols, sel);
    char *sql;
    bool ok = false;

    /* CSV: COPY's own CSV writer, record ends turned into CRLF */
    snprintf(name, sizeof name, "%s.csv", t->name);
    struct csv_sink cs = {.o = &to->csv, .b = BUF_INIT};
    snapshot_csv_init(&cs.check, to->cols.n);
    if (!out_open(&to->csv, dirfd, name, errf)) {
        snapshot_csv_free(&cs.check);
        free(select);
        return false;
    }
    int64_t tcsv = clock_now_ms();
    sql = xasprintf("COPY (%s ORDER BY %s) TO STDOUT WITH (FORMAT csv, "
                    "HEADER true)",
                    select, t->order_by);
    bool copied = copy_out(c, sql, csv_row, &cs, errf);
    free(sql);
    buf_free(&cs.b);
    if (!copied && cs.check.state != SCSV_ERROR && ferror(to->csv.f))
        say(errf, "xcensus export: could not write \"%s\": %s", name,
            strerror(errno));
    if (cs.check.state == SCSV_ERROR ||
        (copied && !snapshot_csv_finish(&cs.check))) {
        say(errf, "xcensus export: %s:%d: bug: own output is not valid CSV: %s",
            name, cs.check.err.line, cs.check.err.msg);
        copied = false;
    }
    to->rows = (long long)cs.check.records - 1;
    snapshot_csv_free(&cs.check);
    if (!copied) {
        out_abort(&to->csv);
        free(select);
        return false;
    }
    if (!out_close(&to->csv, errf)) {
        free(select);
        return false;
    }

    /* JSON Lines: the same rows, converted as the API converts values */
    snprintf(name, sizeof name, "%s.jsonl", t->name);
    if (!out_open(&to->jsonl, dirfd, name, errf)) {
        free(select);
        return false;
    }
    long long jrows = 0;
    int64_t t0 = clock_now_ms();
    copied = export_jsonl(c, select, t->order_by, &to->jsonl, &to->cols, &jrows,
                          errf);
    log_debug("exported %s: %lld rows, CSV in %.3f s, JSON Lines in %.3f s",
              t->name, jrows, (double)(t0 - tcsv) / 1000.0,
              (double)(clock_now_ms() - t0) / 1000.0);
    free(select);
    if (copied && jrows != to->rows) {
        say(errf,
            "xcensus export: bug: %s has %lld JSON rows and %lld CSV "
            "rows",
            t->name, jrows, to->rows);
        copied = false;
    }
    if (!copied) {
        out_abort(&to->jsonl);
        return false;
    }
    ok = out_close(&to->jsonl, errf);
    return ok;
}

/* Runs sql (one row, one json column) and parses the value. */
static json_t *query_json(PGconn *c, const char *sql, FILE *errf)
{
    PGresult *r = query(c, sql, 0, NULL, errf);
    if (!r)
        return NULL;
    json_t *j = NULL;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        j = json_loads(PQgetvalue(r, 0, 0), JSON_DECODE_ANY, NULL);
    PQclear(r);
    if (!j)
        say(errf, "xcensus export: cannot read \"%.60s...\"", sql);
    return j;
}

static const char method_notes[] =
    "xcensus is a census of the public XMPP network. A crawl logs in to "
    "servers with its own accounts, asks each server and its components "
    "for service discovery (XEP-0030 disco#info and disco#items), software "
    "version (XEP-0092) and entity capabilities, lists the public rooms of "
    "MUC services and counts the entity capabilities (XEP-0115, XEP-0390) "
    "that room occupants announce, and probes each domain directly before "
    "login (DNS SRV, stream features, STARTTLS and TLS certificates). "
    "Imports (source kind \"import\") load existing caps collections; their "
    "observation counts are not popularity. Every caps hash is verified "
    "against the disco#info answer it names (XEP-0115 section 5.4). "
    "Observations are appended per source and never overwritten; the "
    "latest state is a query. See docs/SNAPSHOTS.md and docs/SCHEMA.md of "
    "xcensus for every column.";

static const char privacy_notes[] =
    "No snapshot holds an occupant JID, a nick, a presence sender's "
    "address, a status text or a message body: the census stores caps as "
    "counts per MUC service and entity addresses are bare service or "
    "public room addresses (the schema refuses a resource part). Domains "
    "whose operators opted out are marked (domains.opt_out) and are not "
    "crawled again. The crawler's operational state (job queue with its "
    "lease owners and errors, the storage ledger, the deny list, the host "
    "names of crawler machines) is not part of the dataset.";

static const char format_notes[] =
    "One CSV and one JSON Lines file per table with the same rows in the "
    "same order. CSV: RFC 4180, UTF-8, CRLF record ends, a header record; "
    "SQL NULL is an empty unquoted field, an empty string is \"\"; arrays "
    "use PostgreSQL's array syntax ({a,b}), bytea is \\x followed by hex, "
    "timestamps are ISO 8601 in UTC. JSON Lines: one object per line, keys "
    "in column order, NULL is null, arrays are JSON arrays, jsonb columns "
    "are embedded JSON, timestamps are ISO 8601 strings.";

static void write_readme(struct buf *b, json_t *m)
{
    buf_printf(b, "# %s\n\n", json_string_value(json_object_get(m, "title")));
    buf_printf(
        b,
        "A dataset snapshot written by `xcensus export --snapshot` "
        "(xcensus %s) on %s from a database at schema version %lld.\n"
        "Data digest (SHA-256 over the data files' checksums): `%s`.\n\n",
        json_string_value(json_object_get(m, "xcensus_version")),
        json_string_value(json_object_get(m, "created_at")),
        (long long)json_integer_value(json_object_get(m, "schema_version")),
        json_string_value(json_object_get(m, "data_digest")));
    buf_puts(
        b, "## Sources\n\n| id | kind | name | created |\n|---|---|---|---|\n");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(m, "sources"), i, v)
    {
        buf_printf(b, "| %lld | %s | %s | %s |\n",
                   (long long)json_integer_value(json_object_get(v, "id")),
                   json_string_value(json_object_get(v, "kind")),
                   json_string_value(json_object_get(v, "name")),
                   json_string_value(json_object_get(v, "created_at")));
    }
    buf_puts(b, "\n## Crawl runs\n\n| id | crawl | source | state | started "
                "| finished |\n|---|---|---|---|---|---|\n");
    json_array_foreach(json_object_get(m, "crawl_runs"), i, v)
    {
        const char *fin = json_string_value(json_object_get(v, "finished_at"));
        buf_printf(b, "| %lld | %s | %s | %s | %s | %s |\n",
                   (long long)json_integer_value(json_object_get(v, "id")),
                   json_string_value(json_object_get(v, "crawl")),
                   json_string_value(json_object_get(v, "source")),
                   json_string_value(json_object_get(v, "state")),
                   json_string_value(json_object_get(v, "started_at")),
                   fin ? fin : "");
    }
    buf_puts(b, "\n## Tables\n\n| table | rows | what a row is |\n"
                "|---|---:|---|\n");
    json_array_foreach(json_object_get(m, "tables"), i, v)
    {
        buf_printf(b, "| %s | %lld | %s |\n",
                   json_string_value(json_object_get(v, "name")),
                   (long long)json_integer_value(json_object_get(v, "rows")),
                   json_string_value(json_object_get(v, "description")));
    }
    buf_printf(b,
               "\n## Files\n\n%s\n\n## Method\n\n%s\n\n## Privacy\n\n%s\n\n"
               "## Verifying and loading\n\n"
               "`sha256sum -c SHA256SUMS` checks every file. "
               "`xcensus import snapshot DIR -d CONNINFO` verifies the "
               "manifest and every file, then loads the snapshot into an "
               "empty PostgreSQL database with the schema it was taken "
               "from, where the v_* views and `xcensus query` work as on "
               "the original.\n\n## Citing\n\nSee CITATION.cff.\n",
               format_notes, method_notes, privacy_notes);
}

static void write_citation(struct buf *b, json_t *m,
                           const struct snapshot_export_opts *o)
{
    const char *created = json_string_value(json_object_get(m, "created_at"));
    const char *digest = json_string_value(json_object_get(m, "data_digest"));
    buf_puts(b, "cff-version: 1.2.0\n"
                "message: \"If you use this dataset, please cite it as "
                "below.\"\ntype: dataset\ntitle: ");
    snapshot_yaml_quote(b, json_string_value(json_object_get(m, "title")));
    buf_puts(b, "\nauthors:\n");
    if (o->nauthors == 0)
        buf_puts(b, "  - name: \"xcensus operators\"\n");
    for (size_t i = 0; i < o->nauthors; i++) {
        buf_puts(b, "  - name: ");
        snapshot_yaml_quote(b, o->authors[i]);
        buf_putc(b, '\n');
    }
    buf_printf(b, "version: \"%.10s-%.12s\"\ndate-released: \"%.10s\"\n",
               created, digest, created);
    buf_printf(
        b,
        "abstract: \"A snapshot of the xcensus XMPP network census "
        "database (schema version %lld): service discovery, "
        "software versions, entity capabilities and their "
        "verification, stream and TLS features. Data digest "
        "sha256:%s.\"\n",
        (long long)json_integer_value(json_object_get(m, "schema_version")),
        digest);
    buf_puts(b, "keywords:\n  - XMPP\n  - Jabber\n  - service discovery\n"
                "  - entity capabilities\n  - census\n");
}

/* Writes a whole small file from memory. */
static bool write_small(int dirfd, const char *name, const char *data, size_t n,
                        struct out_file *o, FILE *errf)
{
    if (!out_open(o, dirfd, name, errf))
        return false;
    if (!out_write(o, data, n)) {
        say(errf, "xcensus export: could not write \"%s\": %s", name,
            strerror(errno));
        out_abort(o);
        return false;
    }
    return out_close(o, errf);
}

static json_t *file_entry(const struct out_file *o)
{
    return json_pack("{s:s, s:I, s:s}", "path", o->name, "bytes",
                     (json_int_t)o->bytes, "sha256", o->sha);
}

/* Removes the regular files of dir and dir itself (a snapshot is flat). */
static void remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
    (void)rmdir(dir);
}

/* 0: absent or empty, 1: holds only regular files, -1: holds something
 * else (a directory, a link) or cannot be read (reported). */
static int dir_state(const char *dir, FILE *errf)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        say(errf, "xcensus export: cannot use \"%s\": %s", dir,
            strerror(errno));
        return -1;
    }
    int st = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(sb.st_mode)) {
            say(errf,
                "xcensus export: \"%s\" holds \"%s\", which is not a "
                "regular file: refusing to replace it",
                dir, e->d_name);
            st = -1;
            break;
        }
        st = 1;
    }
    closedir(d);
    return st;
}

/* Resolves the --source names to a bigint[] literal of their ids. */
static char *source_selection(PGconn *c, const struct snapshot_export_opts *o,
                              FILE *errf)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "'{");
    for (size_t i = 0; i < o->nsources; i++) {
        const char *p[1] = {o->sources[i]};
        PGresult *r = query(c, "SELECT id::text FROM sources WHERE name = $1",
                            1, p, errf);
        if (!r) {
            buf_free(&b);
            return NULL;
        }
        if (PQntuples(r) != 1) {
            say(errf, "xcensus export: unrecognized source \"%s\"",
                o->sources[i]);
            PQclear(r);
            buf_free(&b);
            return NULL;
        }
        const char *id = PQgetvalue(r, 0, 0);
        ASSERT(strspn(id, "0123456789") == strlen(id));
        buf_printf(&b, "%s%s", i ? "," : "", id);
        PQclear(r);
    }
    buf_puts(&b, "}'::bigint[]");
    return buf_steal(&b);
}

/* The dataset table names as a text[] literal (plain identifiers). */
static char *dataset_names_literal(void)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "{");
    for (size_t i = 0; i < ARRAY_LEN(dataset); i++)
        buf_printf(&b, "%s%s", i ? "," : "", dataset[i].name);
    buf_puts(&b, "}");
    return buf_steal(&b);
}

/* Every table of the public schema must be classified. A table not in the
 * lists that a trigger function of a dataset table inserts into is a
 * rollup: loading the dataset tables fires the same triggers, so it counts
 * as derived. Appends the derived tables found to der. */
static bool check_classified(PGconn *c, json_t *der, FILE *errf)
{
    char *names = dataset_names_literal();
    const char *p[1] = {names};
    PGresult *r = query(
        c,
        "SELECT k.relname, k.relname ~ '^[a-z_][a-z0-9_]*$' AND EXISTS ("
        " SELECT 1 FROM pg_trigger tg JOIN pg_proc f ON f.oid = tg.tgfoid"
        " JOIN pg_class d ON d.oid = tg.tgrelid WHERE NOT tg.tgisinternal"
        " AND d.relname = ANY ($1::text[]) AND f.prosrc ~* ("
        " 'insert\\s+into\\s+(public\\.)?' || k.relname || '\\M'))"
        " FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace"
        " WHERE n.nspname = 'public' AND k.relkind IN ('r', 'p') ORDER BY 1",
        1, p, errf);
    free(names);
    if (!r)
        return false;
    bool ok = true;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *t = PQgetvalue(r, i, 0);
        enum snapshot_table_kind k = snapshot_table_kind(t);
        if (k == SNAPSHOT_DERIVED ||
            (k == SNAPSHOT_UNKNOWN && strcmp(PQgetvalue(r, i, 1), "t") == 0)) {
            json_array_append_new(der, json_string(t));
        } else if (k == SNAPSHOT_UNKNOWN) {
            say(errf,
                "xcensus export: table \"%s\" is neither dataset, "
                "operational nor derived (lib/snapshot.c must classify it)",
                t);
            ok = false;
        }
    }
    PQclear(r);
    return ok;
}

static json_t *migrations_json(PGconn *c, FILE *errf)
{
    return query_json(
        c,
        "SELECT coalesce(json_agg(json_build_object('version', version, "
        "'name', name, 'checksum', checksum) ORDER BY version), '[]')::text "
        "FROM schema_migrations",
        errf);
}

static bool export_into(PGconn *c, const struct snapshot_export_opts *o,
                        int dirfd, struct table_out *outs,
                        struct snapshot_stats *st, FILE *errf)
{
    /* cursor_tuple_fraction: the cursors read every row, plan for that */
    if (!exec_ok(c, session_settings, errf) ||
        !exec_ok(c, "SET cursor_tuple_fraction = 1.0", errf) ||
        !exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", errf))
        return false;
    bool ok = false;
    json_t *m = NULL;
    char *sel = NULL;
    json_t *der = json_array(); /* owned by m once m is built */
    if (!check_classified(c, der, errf))
        goto out;
    if (o->nsources && !(sel = source_selection(c, o, errf)))
        goto out;
    for (size_t i = 0; i < ARRAY_LEN(dataset); i++) {
        outs[i].t = &dataset[i];
        if (!table_columns(c, &dataset[i], &outs[i].cols, errf))
            goto out;
    }

    json_t *created = query_json(
        c,
        "SELECT to_json(to_char(transaction_timestamp() AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text",
        errf);
    json_t *migs = migrations_json(c, errf);
    char *srcsql = xasprintf(
        "SELECT coalesce(json_agg(q ORDER BY q.id), '[]')::text FROM (SELECT "
        "s.id, s.kind, s.name, s.description, s.created_at FROM sources s%s%s) "
        "q",
        sel ? " WHERE s.id = ANY(" : "", sel ? "$S)" : "");
    char *srcsql2 = sel ? subst(srcsql, sel) : xstrdup(srcsql);
    json_t *sources = query_json(c, srcsql2, errf);
    free(srcsql);
    free(srcsql2);
    char *runsql = xasprintf(
        "SELECT coalesce(json_agg(q ORDER BY q.id), '[]')::text FROM (SELECT "
        "r.id, c.name AS crawl, s.name AS source, r.state, r.started_at, "
        "r.finished_at, r.xcensus_version FROM crawl_runs r JOIN crawls c ON "
        "c.id = r.crawl_id JOIN sources s ON s.id = r.source_id%s%s) q",
        sel ? " WHERE r.source_id = ANY(" : "", sel ? "$S)" : "");
    char *runsql2 = sel ? subst(runsql, sel) : xstrdup(runsql);
    json_t *runs = query_json(c, runsql2, errf);
    free(runsql);
    free(runsql2);
    if (!created || !migs || !sources || !runs) {
        json_decref(created);
        json_decref(migs);
        json_decref(sources);
        json_decref(runs);
        goto out;
    }
    long long schema_version = 0;
    size_t k;
    json_t *v;
    json_array_foreach(migs, k, v)
    {
        schema_version = json_integer_value(json_object_get(v, "version"));
    }

    for (size_t i = 0; i < ARRAY_LEN(dataset); i++) {
        if (!export_table(c, dirfd, &outs[i], sel, errf)) {
            json_decref(created);
            json_decref(migs);
            json_decref(sources);
            json_decref(runs);
            goto out;
        }
        st->tables++;
        st->rows += outs[i].rows;
        st->bytes += outs[i].csv.bytes + outs[i].jsonl.bytes;
    }

    /* the data digest: same data, same digest, whenever exported */
    struct snapshot_sha256 *dh = snapshot_sha256_new();
    for (size_t i = 0; i < ARRAY_LEN(dataset); i++) {
        char line[300];
        int n =
            snprintf(line, sizeof line, "%s  %s\n%s  %s\n", outs[i].csv.sha,
                     outs[i].csv.name, outs[i].jsonl.sha, outs[i].jsonl.name);
        snapshot_sha256_update(dh, line, (size_t)n);
    }
    snapshot_sha256_final(dh, st->data_digest);

    json_t *tables = json_array();
    json_t *files = json_array();
    for (size_t i = 0; i < ARRAY_LEN(dataset); i++) {
        json_t *cols = json_array();
        for (size_t j = 0; j < outs[i].cols.n; j++)
            json_array_append_new(cols,
                                  json_pack("{s:s, s:s, s:s}", "name",
                                            outs[i].cols.v[j].name, "type",
                                            outs[i].cols.v[j].type, "json_type",
                                            outs[i].cols.v[j].json_type
                                                ? outs[i].cols.v[j].json_type
                                                : "text"));
        json_t *excl = json_array();
        for (const char *p = dataset[i].excluded; p && *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            json_array_append_new(excl, json_stringn(p, len));
            p = e ? e + 1 : NULL;
        }
        json_array_append_new(
            tables,
            json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:s}", "name",
                      dataset[i].name, "description", dataset[i].about, "rows",
                      (json_int_t)outs[i].rows, "csv", outs[i].csv.name,
                      "jsonl", outs[i].jsonl.name, "columns", cols,
                      "excluded_columns", excl, "order_by",
                      dataset[i].order_by));
        json_array_append_new(files, file_entry(&outs[i].csv));
        json_array_append_new(files, file_entry(&outs[i].jsonl));
    }
    json_t *ops = json_array();
    for (size_t i = 0; i < ARRAY_LEN(operational); i++)
        json_array_append_new(ops, json_string(operational[i]));
    json_t *selection = json_array();
    for (size_t i = 0; i < o->nsources; i++)
        json_array_append_new(selection, json_string(o->sources[i]));
    char title[300];
    if (o->title)
        snprintf(title, sizeof title, "%s", o->title);
    else
        snprintf(title, sizeof title,
                 "xcensus XMPP network census snapshot %.10s",
                 json_string_value(created));
    m = json_pack(
        "{s:s, s:i, s:s, s:s, s:o, s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:o, s:{s:s, s:s, s:s}}",
        "format", SNAPSHOT_FORMAT, "format_version", SNAPSHOT_FORMAT_VERSION,
        "title", title, "xcensus_version", XC_VERSION, "created_at", created,
        "schema_version", (json_int_t)schema_version, "migrations", migs,
        "data_digest", st->data_digest, "selected_sources",
        o->nsources ? selection : json_null(), "sources", sources, "crawl_runs",
        runs, "tables", tables, "operational_tables", ops, "derived_tables",
        der, "files", files, "notes", "method", method_notes, "privacy",
        privacy_notes, "formats", format_notes);
    if (!o->nsources)
        json_decref(selection);
    ASSERT(m);
    der = NULL;

    struct buf b = BUF_INIT;
    struct out_file readme, cff, man, sums;
    write_readme(&b, m);
    if (!write_small(dirfd, "README.md", b.data, b.len, &readme, errf)) {
        buf_free(&b);
        goto out;
    }
    buf_reset(&b);
    write_citation(&b, m, o);
    if (!write_small(dirfd, "CITATION.cff", b.data, b.len, &cff, errf)) {
        buf_free(&b);
        goto out;
    }
    json_array_append_new(files, file_entry(&readme));
    json_array_append_new(files, file_entry(&cff));
    buf_reset(&b);
    char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    buf_puts(&b, text);
    buf_putc(&b, '\n');
    free(text);
    if (!write_small(dirfd, "manifest.json", b.data, b.len, &man, errf)) {
        buf_free(&b);
        goto out;
    }
    buf_reset(&b);
    json_array_foreach(files, k, v)
    {
        buf_printf(&b, "%s  %s\n",
                   json_string_value(json_object_get(v, "sha256")),
                   json_string_value(json_object_get(v, "path")));
    }
    buf_printf(&b, "%s  %s\n", man.sha, man.name);
    bool sums_ok = write_small(dirfd, "SHA256SUMS", b.data, b.len, &sums, errf);
    buf_free(&b);
    if (!sums_ok)
        goto out;
    st->total_bytes =
        st->bytes + readme.bytes + cff.bytes + man.bytes + sums.bytes;
    ok = true;
out:
    json_decref(m);
    json_decref(der);
    free(sel);
    if (!exec_ok(c, "COMMIT", errf))
        ok = false;
    return ok;
}

bool snapshot_export(struct pg_conn *conn, const struct snapshot_export_opts *o,
                     struct snapshot_stats *st, FILE *errf)
{
    PGconn *c = (PGconn *)conn;
    memset(st, 0, sizeof *st);
    int64_t t0 = clock_now_ms();
    if (strlen(o->dir) == 0 || strlen(o->dir) > PATH_MAX - 64) {
        say(errf, "xcensus export: bad directory name");
        return false;
    }
    /* "DIR/" and "DIR" alike: siblings are named after DIR itself */
    char *dir = xstrdup(o->dir);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dir[--dl] = '\0';
    int state = dir_state(dir, errf);
    if (state < 0) {
        free(dir);
        return false;
    }
    if (state > 0 && !o->force) {
        say(errf,
            "xcensus export: \"%s\" is not empty (use --force to "
            "replace it)",
            o->dir);
        free(dir);
        return false;
    }

    /* build in a sibling directory, rename when complete */
    char *tmp = xasprintf("%s.partial-XXXXXX", dir);
    if (!mkdtemp(tmp)) {
        say(errf,
            "xcensus export: could not create a directory next to "
            "\"%s\": %s",
            o->dir, strerror(errno));
        free(tmp);
        free(dir);
        return false;
    }
    mode_t mask = umask(0);
    umask(mask);
    (void)chmod(tmp, 0777 & ~mask); /* mkdtemp made it 0700 */
    int dirfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct table_out outs[ARRAY_LEN(dataset)];
    memset(outs, 0, sizeof outs);
    bool ok = dirfd >= 0 && export_into(c, o, dirfd, outs, st, errf);
    for (size_t i = 0; i < ARRAY_LEN(dataset); i++)
        columns_free(&outs[i].cols);
    if (ok && fsync(dirfd) != 0)
        ok = false;
    if (dirfd >= 0)
        close(dirfd);

    /* --force: the old snapshot moves aside (renamed onto an empty
     * directory of our own) and goes only once the new one is in place */
    char *old = NULL;
    bool old_made = false;
    if (ok && state > 0) {
        old = xasprintf("%s.old-XXXXXX", dir);
        old_made = mkdtemp(old) != NULL;
        if (!old_made || rename(dir, old) != 0) {
            say(errf, "xcensus export: could not move \"%s\" aside: %s", o->dir,
                strerror(errno));
            ok = false;
            if (old_made)
                (void)rmdir(old);
        }
    } else if (ok && state == 0) {
        (void)rmdir(dir); /* an existing empty directory */
    }
    if (ok && rename(tmp, dir) != 0) {
        say(errf, "xcensus export: could not rename \"%s\" to \"%s\": %s", tmp,
            o->dir, strerror(errno));
        ok = false;
        if (old)
            (void)rename(old, dir);
    }
    if (!ok)
        remove_flat_dir(tmp);
    else if (old)
        remove_flat_dir(old);
    free(old);
    free(tmp);
    free(dir);
    st->seconds = (double)(clock_now_ms() - t0) / 1000.0;
    return ok;
}

/* ------------------------------------------------------------------------
 * Verification
 * ------------------------------------------------------------------------ */

#define MANIFEST_MAX (4u * 1024 * 1024)
#define FILES_MAX 256
#define COLUMNS_MAX 200

struct mfile {
    char path[101];
    long long bytes;
    char sha[65];
};

struct mtable {
    const struct snap_table *t;
    struct columns cols; /* names only (type borrowed from the manifest) */
    long long rows;
    const struct mfile *csv, *jsonl;
};

struct manifest {
    const char *dir;
    struct mfile files[FILES_MAX];
    size_t nfiles;
    struct mtable tables[ARRAY_LEN(dataset)]; /* load order, only listed */
    size_t ntables;
    long long schema_version;
};

static void manifest_free(struct manifest *m)
{
    for (size_t i = 0; i < m->ntables; i++)
        columns_free(&m->tables[i].cols);
    m->ntables = 0;
}

PRINTF_LIKE(3, 4)
static bool mfail(FILE *errf, const char *dir, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(errf, "%s/manifest.json: ", dir);
    vfprintf(errf, fmt, ap);
    fputc('\n', errf);
    va_end(ap);
    return false;
}

static const struct mfile *mfile_find(const struct manifest *m,
                                      const char *path)
{
    for (size_t i = 0; i < m->nfiles; i++)
        if (strcmp(m->files[i].path, path) == 0)
            return &m->files[i];
    return NULL;
}

/* Checks the migrations the snapshot was taken at against ours. */
static bool check_migrations(json_t *migs, long long schema_version,
                             const char *dir, FILE *errf)
{
    int known = sql_migrations_count
                    ? sql_migrations[sql_migrations_count - 1].version
                    : 0;
    if (schema_version > known)
        return mfail(errf, dir,
                     "schema version %lld is newer than this xcensus knows "
                     "(%d): use a newer xcensus",
                     schema_version, known);
    if (!json_is_array(migs) || json_array_size(migs) > 10000)
        return mfail(errf, dir, "\"migrations\" must be an array");
    size_t i;
    json_t *v;
    long long last = 0;
    json_array_foreach(migs, i, v)
    {
        json_t *ver = json_object_get(v, "version");
        const char *sum = json_string_value(json_object_get(v, "checksum"));
        if (!json_is_integer(ver) || !sum)
            return mfail(errf, dir, "migration %zu lacks version or checksum",
                         i);
        long long n = json_integer_value(ver);
        const struct sql_migration *mine = NULL;
        for (size_t k = 0; k < sql_migrations_count; k++)
            if (sql_migrations[k].version == n)
                mine = &sql_migrations[k];
        if (!mine)
            return mfail(errf, dir,
                         "schema migration %lld is unknown to this xcensus: "
                         "incompatible schema",
                         n);
        char ours[65];
        migrate_checksum(mine->sql, ours);
        if (strcmp(ours, sum) != 0)
            return mfail(errf, dir,
                         "schema migration %lld (%s) differs from this "
                         "xcensus's: incompatible schema",
                         n, mine->name);
        last = n;
    }
    if (last != schema_version)
        return mfail(errf, dir,
                     "schema_version %lld does not match its migrations (%lld)",
                     schema_version, last);
    return true;
}

static bool parse_manifest(const char *dir, struct manifest *m, FILE *errf)
{
    memset(m, 0, sizeof *m);
    m->dir = dir;
    char *path = xasprintf("%s/manifest.json", dir);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        sb.st_size > (off_t)MANIFEST_MAX) {
        if (fd < 0)
            say(errf, "%s: cannot open: %s", path, strerror(errno));
        else
            say(errf, "%s: not a regular file of at most %u bytes", path,
                MANIFEST_MAX);
        if (fd >= 0)
            close(fd);
        free(path);
        return false;
    }
    json_error_t jerr;
    FILE *f = fdopen(fd, "r");
    json_t *j = f ? json_loadf(f, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (f)
        fclose(f);
    else
        close(fd);
    if (!j) {
        say(errf, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        free(path);
        return false;
    }
    free(path);
    bool ok = false;
    const char *fmt = json_string_value(json_object_get(j, "format"));
    json_t *fv = json_object_get(j, "format_version");
    json_t *sv = json_object_get(j, "schema_version");
    json_t *files = json_object_get(j, "files");
    json_t *tables = json_object_get(j, "tables");
    if (!json_is_object(j) || !fmt || strcmp(fmt, SNAPSHOT_FORMAT) != 0) {
        mfail(errf, dir,
              "not an xcensus snapshot manifest (\"format\" is not "
              "\"%s\")",
              SNAPSHOT_FORMAT);
        goto out;
    }
    if (!json_is_integer(fv) ||
        json_integer_value(fv) != SNAPSHOT_FORMAT_VERSION) {
        mfail(errf, dir, "unsupported format_version (this xcensus reads %d)",
              SNAPSHOT_FORMAT_VERSION);
        goto out;
    }
    if (!json_is_integer(sv) || json_integer_value(sv) < 1) {
        mfail(errf, dir, "\"schema_version\" must be a positive integer");
        goto out;
    }
    m->schema_version = json_integer_value(sv);
    if (!check_migrations(json_object_get(j, "migrations"), m->schema_version,
                          dir, errf))
        goto out;
    if (!json_is_array(files) || json_array_size(files) > FILES_MAX) {
        mfail(errf, dir, "\"files\" must be an array of at most %d entries",
              FILES_MAX);
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(files, i, v)
    {
        const char *p = json_string_value(json_object_get(v, "path"));
        const char *sha = json_string_value(json_object_get(v, "sha256"));
        json_t *bytes = json_object_get(v, "bytes");
        if (!p || !snapshot_file_name_ok(p) || mfile_find(m, p)) {
            mfail(errf, dir, "files[%zu]: bad or repeated path", i);
            goto out;
        }
        if (!sha || !snapshot_sha256_hex_ok(sha) || !json_is_integer(bytes) ||
            json_integer_value(bytes) < 0) {
            mfail(errf, dir, "files[%zu] (%s): bad sha256 or bytes", i, p);
            goto out;
        }
        struct mfile *mf = &m->files[m->nfiles++];
        snprintf(mf->path, sizeof mf->path, "%s", p);
        snprintf(mf->sha, sizeof mf->sha, "%s", sha);
        mf->bytes = json_integer_value(bytes);
    }
    if (!json_is_array(tables) ||
        json_array_size(tables) > ARRAY_LEN(dataset)) {
        mfail(errf, dir, "\"tables\" must be an array of at most %zu tables",
              ARRAY_LEN(dataset));
        goto out;
    }
    /* collect in load order, whatever order the manifest lists them in */
    const struct snap_table *listed[ARRAY_LEN(dataset)] = {0};
    json_t *jt[ARRAY_LEN(dataset)] = {0};
    json_array_foreach(tables, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const struct snap_table *t = name ? find_table(name) : NULL;
        if (!t) {
            mfail(errf, dir, "tables[%zu]: \"%s\" is not a dataset table", i,
                  name ? name : "(no name)");
            goto out;
        }
        size_t idx = (size_t)(t - dataset);
        if (listed[idx]) {
            mfail(errf, dir, "table \"%s\" listed twice", name);
            goto out;
        }
        listed[idx] = t;
        jt[idx] = v;
    }
    int known = sql_migrations_count
                    ? sql_migrations[sql_migrations_count - 1].version
                    : 0;
    for (size_t k = 0; k < ARRAY_LEN(dataset); k++) {
        if (!listed[k]) {
            if (m->schema_version == known) {
                mfail(errf, dir, "table \"%s\" is missing", dataset[k].name);
                goto out;
            }
            continue;
        }
        v = jt[k];
        const struct snap_table *t = listed[k];
        struct mtable *mt = &m->tables[m->ntables++];
        mt->t = t;
        json_t *rows = json_object_get(v, "rows");
        json_t *cols = json_object_get(v, "columns");
        const char *csv = json_string_value(json_object_get(v, "csv"));
        const char *jsonl = json_string_value(json_object_get(v, "jsonl"));
        char want[128];
        if (!json_is_integer(rows) || json_integer_value(rows) < 0 ||
            json_integer_value(rows) > SNAPSHOT_ROWS_MAX) {
            mfail(errf, dir, "table \"%s\": bad row count", t->name);
            goto out;
        }
        mt->rows = json_integer_value(rows);
        snprintf(want, sizeof want, "%s.csv", t->name);
        if (!csv || strcmp(csv, want) != 0 || !(mt->csv = mfile_find(m, csv))) {
            mfail(errf, dir,
                  "table \"%s\": its CSV file must be \"%s\", "
                  "listed in \"files\"",
                  t->name, want);
            goto out;
        }
        snprintf(want, sizeof want, "%s.jsonl", t->name);
        if (!jsonl || strcmp(jsonl, want) != 0 ||
            !(mt->jsonl = mfile_find(m, jsonl))) {
            mfail(errf, dir,
                  "table \"%s\": its JSON Lines file must be "
                  "\"%s\", listed in \"files\"",
                  t->name, want);
            goto out;
        }
        if (!json_is_array(cols) || json_array_size(cols) == 0 ||
            json_array_size(cols) > COLUMNS_MAX) {
            mfail(errf, dir, "table \"%s\": bad \"columns\"", t->name);
            goto out;
        }
        mt->cols.v = xcalloc(json_array_size(cols), sizeof *mt->cols.v);
        size_t ci;
        json_t *cv;
        json_array_foreach(cols, ci, cv)
        {
            const char *cn = json_string_value(json_object_get(cv, "name"));
            if (!cn || !snapshot_ident_ok(cn) || in_list(t->excluded, cn)) {
                mfail(errf, dir, "table \"%s\": bad column %zu", t->name, ci);
                goto out;
            }
            for (size_t q = 0; q < mt->cols.n; q++)
                if (strcmp(mt->cols.v[q].name, cn) == 0) {
                    mfail(errf, dir, "table \"%s\": column \"%s\" repeated",
                          t->name, cn);
                    goto out;
                }
            mt->cols.v[mt->cols.n].name = xstrdup(cn);
            mt->cols.v[mt->cols.n].type = NULL;
            mt->cols.n++;
        }
    }
    ok = true;
out:
    json_decref(j);
    if (!ok)
        manifest_free(m);
    return ok;
}

/* Checks one JSON line (without its LF) against the table's columns. */
static bool jsonl_line_ok(const char *p, size_t n, const struct columns *cs,
                          char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *j = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        snprintf(why, whylen, "not JSON: %s", jerr.text);
        return false;
    }
    bool ok = json_is_object(j) && json_object_size(j) == cs->n;
    for (size_t i = 0; ok && i < cs->n; i++)
        ok = json_object_get(j, cs->v[i].name) != NULL;
    if (!ok)
        snprintf(why, whylen, "not an object with the table's %zu columns",
                 cs->n);
    json_decref(j);
    return ok;
}

enum fcheck { FCHECK_NONE, FCHECK_CSV, FCHECK_JSONL };

/* Reads one file of the snapshot: size, SHA-256 and, for data files, the
 * structure. Reports every problem; true if none. */
static bool verify_file(const struct manifest *m, const struct mfile *mf,
                        enum fcheck kind, const struct mtable *mt, FILE *errf)
{
    char *path = xasprintf("%s/%s", m->dir, mf->path);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        say(errf, "%s: %s", path,
            fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        free(path);
        return false;
    }
    struct snapshot_csv csv;
    char *header = NULL;
    if (kind == FCHECK_CSV) {
        snapshot_csv_init(&csv, mt->cols.n);
        header = csv_header(&mt->cols);
    }
    struct buf line = BUF_INIT;
    long long lines = 0;
    bool structure_ok = true;
    char why[200] = "";
    long long why_line = 0;

    struct snapshot_sha256 *h = snapshot_sha256_new();
    long long total = 0;
    size_t cap = 1u << 20;
    char *chunk = xmalloc(cap);
    ssize_t got;
    while ((got = read(fd, chunk, cap)) > 0) {
        snapshot_sha256_update(h, chunk, (size_t)got);
        total += got;
        if (!structure_ok)
            continue; /* keep hashing: a modified file is a checksum error */
        if (kind == FCHECK_CSV) {
            if (!snapshot_csv_feed(&csv, chunk, (size_t)got))
                structure_ok = false;
        } else if (kind == FCHECK_JSONL) {
            for (ssize_t i = 0; i < got && structure_ok; i++) {
                if (chunk[i] != '\n') {
                    if (line.len >= SNAPSHOT_RECORD_MAX) {
                        snprintf(why, sizeof why, "line longer than %u bytes",
                                 SNAPSHOT_RECORD_MAX);
                        why_line = lines + 1;
                        structure_ok = false;
                    } else {
                        buf_putc(&line, chunk[i]);
                    }
                    continue;
                }
                lines++;
                if (!jsonl_line_ok(line.data ? line.data : "", line.len,
                                   &mt->cols, why, sizeof why)) {
                    why_line = lines;
                    structure_ok = false;
                }
                buf_reset(&line);
            }
        }
    }
    bool read_ok = got == 0;
    int read_errno = errno;
    free(chunk);
    close(fd);
    char sha[65];
    snapshot_sha256_final(h, sha);

    bool ok = true;
    if (!read_ok) {
        say(errf, "%s: read error: %s", path, strerror(read_errno));
        ok = false;
    } else if (total != mf->bytes || strcmp(sha, mf->sha) != 0) {
        say(errf,
            "%s: checksum mismatch (%lld bytes, sha256 %.16s...; the "
            "manifest says %lld bytes, %.16s...): the file was modified "
            "or truncated",
            path, total, sha, mf->bytes, mf->sha);
        ok = false;
    } else if (kind == FCHECK_CSV) {
        if (structure_ok && !snapshot_csv_finish(&csv))
            structure_ok = false;
        if (!structure_ok) {
            say(errf, "%s:%d: %s", path, csv.err.line, csv.err.msg);
            ok = false;
        } else if (strcmp(buf_str(&csv.header), header) != 0) {
            say(errf,
                "%s:1: header does not list the manifest's columns "
                "(%s)",
                path, header);
            ok = false;
        } else if ((long long)csv.records - 1 != mt->rows) {
            say(errf, "%s: %lld records, the manifest says %lld rows", path,
                (long long)csv.records - 1, mt->rows);
            ok = false;
        }
    } else if (kind == FCHECK_JSONL) {
        if (structure_ok && line.len > 0) {
            snprintf(why, sizeof why, "last line has no LF (truncated?)");
            why_line = lines + 1;
            structure_ok = false;
        }
        if (!structure_ok) {
            say(errf, "%s:%lld: %s", path, why_line, why);
            ok = false;
        } else if (lines != mt->rows) {
            say(errf, "%s: %lld lines, the manifest says %lld rows", path,
                lines, mt->rows);
            ok = false;
        }
    }
    if (kind == FCHECK_CSV)
        snapshot_csv_free(&csv);
    free(header);
    buf_free(&line);
    free(path);
    return ok;
}

static bool verify_all(const struct manifest *m, struct snapshot_stats *st,
                       FILE *errf)
{
    bool ok = true;
    for (size_t i = 0; i < m->nfiles; i++) {
        const struct mfile *mf = &m->files[i];
        enum fcheck kind = FCHECK_NONE;
        const struct mtable *mt = NULL;
        for (size_t k = 0; k < m->ntables; k++) {
            if (m->tables[k].csv == mf) {
                kind = FCHECK_CSV;
                mt = &m->tables[k];
            } else if (m->tables[k].jsonl == mf) {
                kind = FCHECK_JSONL;
                mt = &m->tables[k];
            }
        }
        if (!verify_file(m, mf, kind, mt, errf))
            ok = false;
        st->total_bytes += mf->bytes;
        if (kind != FCHECK_NONE)
            st->bytes += mf->bytes;
    }
    for (size_t k = 0; k < m->ntables; k++)
        st->rows += m->tables[k].rows;
    st->tables = m->ntables;
    return ok;
}

bool snapshot_verify(const char *dir, struct snapshot_stats *st, FILE *errf)
{
    memset(st, 0, sizeof *st);
    int64_t t0 = clock_now_ms();
    struct manifest *m = xmalloc(sizeof *m);
    bool ok = parse_manifest(dir, m, errf);
    if (ok) {
        ok = verify_all(m, st, errf);
        manifest_free(m);
    }
    free(m);
    st->seconds = st->verify_seconds = (double)(clock_now_ms() - t0) / 1000.0;
    return ok;
}

/* ------------------------------------------------------------------------
 * Import
 * ------------------------------------------------------------------------ */

/* Names every table of the public schema that holds a row, on errf; true
 * if there is none. */
static bool database_empty(PGconn *c, FILE *errf)
{
    PGresult *r = query(c,
                        "SELECT k.relname FROM pg_class k JOIN pg_namespace n"
                        " ON n.oid = k.relnamespace WHERE n.nspname = 'public'"
                        " AND k.relkind IN ('r', 'p')"
                        " AND k.relname <> 'schema_migrations' ORDER BY 1",
                        0, NULL, errf);
    if (!r)
        return false;
    bool empty = true;
    for (int i = 0; i < PQntuples(r) && empty; i++) {
        const char *t = PQgetvalue(r, i, 0);
        if (!snapshot_ident_ok(t)) {
            say(errf,
                "xcensus import: the database holds a table \"%s\" "
                "that xcensus does not know: refusing",
                t);
            empty = false;
            break;
        }
        char *sql = xasprintf("SELECT EXISTS (SELECT 1 FROM public.\"%s\")", t);
        PGresult *e = query(c, sql, 0, NULL, errf);
        free(sql);
        if (!e || strcmp(PQgetvalue(e, 0, 0), "f") != 0) {
            if (e)
                say(errf,
                    "xcensus import: the database is not empty (table "
                    "\"%s\" has rows): a snapshot loads only into an "
                    "empty database",
                    t);
            empty = false;
        }
        PQclear(e);
    }
    PQclear(r);
    return empty;
}

/* "line N" from a COPY error's context, or 0. */
static long long copy_error_line(const PGresult *r)
{
    const char *ctx = r ? PQresultErrorField(r, PG_DIAG_CONTEXT) : NULL;
    const char *p = ctx ? strstr(ctx, ", line ") : NULL;
    return p ? strtoll(p + 7, NULL, 10) : 0;
}

/* Streams the CSV file of mt into "COPY ... FROM STDIN", hashing it again
 * on the way so that a file changed after verification is caught. */
static bool load_table(PGconn *c, const struct manifest *m,
                       const struct mtable *mt, FILE *errf)
{
    struct buf sql = BUF_INIT;
    buf_printf(&sql, "COPY public.\"%s\" (", mt->t->name);
    for (size_t i = 0; i < mt->cols.n; i++)
        buf_printf(&sql, "%s\"%s\"", i ? ", " : "", mt->cols.v[i].name);
    buf_puts(&sql, ") FROM STDIN WITH (FORMAT csv, HEADER true)");
    PGresult *r = PQexec(c, buf_str(&sql));
    buf_free(&sql);
    char *path = xasprintf("%s/%s", m->dir, mt->csv->path);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        say(errf, "%s: cannot load: %s", path, pq_msg(c, r));
        PQclear(r);
        free(path);
        return false;
    }
    PQclear(r);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    bool ok = fd >= 0;
    struct snapshot_sha256 *h = snapshot_sha256_new();
    size_t cap = 1u << 20;
    char *chunk = xmalloc(cap);
    ssize_t got = 0;
    while (ok && (got = read(fd, chunk, cap)) > 0) {
        snapshot_sha256_update(h, chunk, (size_t)got);
        if (PQputCopyData(c, chunk, (int)got) != 1)
            ok = false;
    }
    if (got < 0)
        ok = false;
    free(chunk);
    if (fd >= 0)
        close(fd);
    char sha[65];
    snapshot_sha256_final(h, sha);
    if (ok && strcmp(sha, mt->csv->sha) != 0) {
        say(errf, "%s: changed after it was verified", path);
        ok = false;
    }
    if (PQputCopyEnd(c, ok ? NULL : "snapshot file unreadable") != 1)
        ok = false;
    bool reported = false;
    while ((r = PQgetResult(c)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !reported) {
            long long line = copy_error_line(r);
            if (line > 0)
                say(errf, "%s: record %lld: %s", path, line, pq_msg(c, r));
            else
                say(errf, "%s: %s", path, pq_msg(c, r));
            reported = true;
            ok = false;
        }
        PQclear(r);
    }
    if (!ok && !reported)
        say(errf, "%s: cannot load: %s", path,
            fd < 0 ? strerror(errno) : PQerrorMessage(c));
    free(path);
    return ok;
}

/* Compares the loaded row count with the manifest's. */
static bool count_ok(PGconn *c, const struct manifest *m,
                     const struct mtable *mt, FILE *errf)
{
    char *sql = xasprintf("SELECT count(*) FROM public.\"%s\"", mt->t->name);
    PGresult *r = query(c, sql, 0, NULL, errf);
    free(sql);
    if (!r)
        return false;
    long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (n != mt->rows) {
        say(errf, "%s/%s: loaded %lld rows, the manifest says %lld", m->dir,
            mt->csv->path, n, mt->rows);
        return false;
    }
    return true;
}

/* Sets every serial sequence of the dataset tables past the loaded ids. */
static bool reset_sequences(PGconn *c, FILE *errf)
{
    PGresult *r =
        query(c,
              "SELECT k.relname, a.attname, pg_get_serial_sequence("
              "quote_ident(k.relname), a.attname) FROM pg_class k"
              " JOIN pg_namespace n ON n.oid = k.relnamespace"
              " JOIN pg_attribute a ON a.attrelid = k.oid AND a.attnum > 0"
              " AND NOT a.attisdropped WHERE n.nspname = 'public'"
              " AND k.relkind = 'r' AND pg_get_serial_sequence("
              "quote_ident(k.relname), a.attname) IS NOT NULL ORDER BY 1, 2",
              0, NULL, errf);
    if (!r)
        return false;
    bool ok = true;
    for (int i = 0; i < PQntuples(r) && ok; i++) {
        const char *t = PQgetvalue(r, i, 0), *col = PQgetvalue(r, i, 1);
        if (snapshot_table_kind(t) != SNAPSHOT_DATASET)
            continue;
        if (!snapshot_ident_ok(col))
            continue;
        const char *p[1] = {PQgetvalue(r, i, 2)};
        char *sql =
            xasprintf("SELECT setval($1::regclass, coalesce(max(\"%s\"), "
                      "1), max(\"%s\") IS NOT NULL) FROM public.\"%s\"",
                      col, col, t);
        PGresult *s = query(c, sql, 1, p, errf);
        free(sql);
        ok = s != NULL;
        PQclear(s);
    }
    PQclear(r);
    return ok;
}

/* The foreign keys of the dataset tables, as pairs of statements built by
 * the server (format %I): column 0 drops one, column 1 adds it back. */
static PGresult *dataset_foreign_keys(PGconn *c, FILE *errf)
{
    char *names = dataset_names_literal();
    const char *p[1] = {names};
    PGresult *r = query(
        c,
        "SELECT format('ALTER TABLE public.%I DROP CONSTRAINT %I', k.relname,"
        " f.conname), format('ALTER TABLE public.%I ADD CONSTRAINT %I %s',"
        " k.relname, f.conname, pg_get_constraintdef(f.oid))"
        " FROM pg_constraint f JOIN pg_class k ON k.oid = f.conrelid"
        " JOIN pg_namespace n ON n.oid = k.relnamespace"
        " WHERE f.contype = 'f' AND n.nspname = 'public'"
        " AND k.relname = ANY ($1::text[]) ORDER BY k.relname, f.conname",
        1, p, errf);
    free(names);
    return r;
}

static bool load_all(PGconn *c, const struct manifest *m, FILE *errf)
{
    if (!exec_ok(c, session_settings, errf) || !exec_ok(c, "BEGIN", errf))
        return false;
    /* no other session may add rows between the emptiness check and the
     * commit */
    struct buf lock = BUF_INIT;
    buf_puts(&lock, "LOCK TABLE ");
    for (size_t i = 0; i < ARRAY_LEN(dataset); i++)
        buf_printf(&lock, "%spublic.\"%s\"", i ? ", " : "", dataset[i].name);
    buf_puts(&lock, ", public.jobs IN ACCESS EXCLUSIVE MODE");
    bool ok = exec_ok(c, buf_str(&lock), errf) && database_empty(c, errf);
    buf_free(&lock);
    /* checking each row's foreign keys as it arrives costs most of the load
     * time; dropped and added back inside this transaction, PostgreSQL checks
     * each key once over the whole table (as pg_restore does) */
    PGresult *fks = ok ? dataset_foreign_keys(c, errf) : NULL;
    ok = ok && fks;
    for (int i = 0; ok && i < PQntuples(fks); i++)
        ok = exec_ok(c, PQgetvalue(fks, i, 0), errf);
    for (size_t i = 0; ok && i < m->ntables; i++) {
        int64_t t0 = clock_now_ms();
        ok = load_table(c, m, &m->tables[i], errf) &&
             count_ok(c, m, &m->tables[i], errf);
        log_debug("loaded %s: %lld rows in %.3f s", m->tables[i].t->name,
                  m->tables[i].rows, (double)(clock_now_ms() - t0) / 1000.0);
    }
    int64_t t0 = clock_now_ms();
    for (int i = 0; ok && i < PQntuples(fks); i++) {
        PGresult *r = PQexec(c, PQgetvalue(fks, i, 1));
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
            say(errf, "%s: the snapshot's rows break a reference: %s%s%s",
                m->dir, pq_msg(c, r), detail ? " " : "", detail ? detail : "");
            ok = false;
        }
        PQclear(r);
    }
    PQclear(fks);
    log_debug("checked the foreign keys in %.3f s",
              (double)(clock_now_ms() - t0) / 1000.0);
    if (ok)
        ok = reset_sequences(c, errf);
    if (ok)
        ok = exec_ok(c, "COMMIT", errf);
    else
        (void)exec_ok(c, "ROLLBACK", errf);
    return ok;
}

bool snapshot_import(struct pg_conn *conn, const char *dir,
                     struct snapshot_stats *st, FILE *errf)
{
    PGconn *c = (PGconn *)conn;
    memset(st, 0, sizeof *st);
    int64_t t0 = clock_now_ms();
    struct manifest *m = xmalloc(sizeof *m);
    bool ok = parse_manifest(dir, m, errf);
    if (!ok) {
        free(m);
        return false;
    }
    ok = verify_all(m, st, errf);
    st->verify_seconds = (double)(clock_now_ms() - t0) / 1000.0;
    if (ok && !database_empty(c, errf))
        ok = false;
    if (ok) {
        struct migrate_report rep;
        if (migrate_apply(conn, sql_migrations, sql_migrations_count, &rep) !=
            MIGRATE_CURRENT) {
            say(errf, "xcensus import: cannot migrate the database: %s",
                rep.msg);
            ok = false;
        }
    }
    if (ok)
        ok = load_all(c, m, errf);
    if (ok)
        (void)exec_ok(c, "ANALYZE", errf);
    manifest_free(m);
    free(m);
    st->seconds = (double)(clock_now_ms() - t0) / 1000.0;
    return ok;
}
