/*
 * The analyzer's cache queries in SQL (issue 6): exact lookup by
 * (algorithm, ver) and by node#ver, entries with feature F, entries with
 * all of three features, against
 *   - our schema (sql/0001_init.sql: caps_entries with UNIQUE (algo, ver),
 *     caps_entry_nodes indexed by node, disco_contents.feature_ids with its
 *     GIN index, features), and
 *   - an ejabberd-style EAV table caps_features (node, subnode, feature,
 *     created_at) with ejabberd's only index, (node, subnode),
 * at 1e3 .. 1e6 entries. Each size is a schema bench_N holding the first N
 * verified entries (by id) of the database's caps tables, copied with the
 * same indexes (built once, kept for reruns). Latencies are client-side
 * round trips of prepared statements over the Unix socket: p50 / p99 of
 * lookups of uniformly drawn existing keys, medians of repeated searches.
 *   bench_analyze_sql [-d CONNINFO] [--sizes 1e3,1e4,...] [--lookups N]
 *                     [--searches R] [--budget SECONDS]
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"
#include "xalloc.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void loadavg(void)
{
    char b[128] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fgets(b, sizeof b, f))
        b[strcspn(b, "\n")] = '\0';
    if (f)
        fclose(f);
    printf("  (load average %s)\n", b);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static PGconn *conn;

static bool exec(const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "failed: %s\n%s\n", sql, PQerrorMessage(conn));
    PQclear(r);
    return ok;
}

static bool prepare(const char *name, const char *sql)
{
    PGresult *r = PQprepare(conn, name, sql, 0, NULL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "prepare %s: %s", name, PQerrorMessage(conn));
    PQclear(r);
    return ok;
}

/* Runs a prepared statement; returns its latency in ns, or -1. Stores the
 * first value of the first row (a count) in *first when non-NULL. */
static double run(const char *name, int n, const char *const *params, long long *first)
{
    double a = now_ns();
    PGresult *r = PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
    double t = now_ns() - a;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", name, PQerrorMessage(conn));
        PQclear(r);
        return -1;
    }
    if (first)
        *first = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return t;
}

#define VERIFIED "outcome IN ('valid', 'ill-formed') AND matched_by IS NOT NULL"

/* Builds schema bench_N from the public tables (kept if it exists). */
static bool build(long n)
{
    char sql[4096];
    snprintf(sql, sizeof sql,
             "SELECT 1 FROM pg_namespace WHERE nspname = 'bench_%ld'", n);
    PGresult *r = PQexec(conn, sql);
    bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (exists)
        return true;
    double a = now_ns();
    snprintf(sql, sizeof sql,
             "BEGIN;"
             "CREATE SCHEMA bench_%ld;"
             "SET LOCAL search_path = bench_%ld;"
             "SET LOCAL maintenance_work_mem = '512MB';"
             "CREATE TABLE caps_entries AS SELECT * FROM public.caps_entries "
             "  WHERE " VERIFIED " ORDER BY id LIMIT %ld;"
             "ALTER TABLE caps_entries ADD PRIMARY KEY (id);"
             "ALTER TABLE caps_entries ADD UNIQUE (algo, ver);"
             "CREATE INDEX ON caps_entries (content_id);"
             "CREATE INDEX ON caps_entries (ver);"
             "CREATE TABLE disco_contents AS SELECT c.* FROM public.disco_contents c "
             "  WHERE c.id IN (SELECT content_id FROM caps_entries);"
             "ALTER TABLE disco_contents ADD PRIMARY KEY (id);"
             "CREATE INDEX ON disco_contents USING gin (feature_ids);"
             "CREATE TABLE caps_entry_nodes AS SELECT n.* FROM public.caps_entry_nodes n "
             "  WHERE n.entry_id IN (SELECT id FROM caps_entries);"
             "ALTER TABLE caps_entry_nodes ADD PRIMARY KEY (entry_id, node);"
             "CREATE INDEX ON caps_entry_nodes (node);"
             /* ejabberd's caps_features, one row per feature and node#ver */
             "CREATE TABLE caps_features AS "
             "  SELECT n.node, e.ver AS subnode, f.var AS feature, "
             "         extract(epoch FROM n.first_seen)::bigint AS created_at "
             "  FROM caps_entries e JOIN caps_entry_nodes n ON n.entry_id = e.id "
             "  JOIN disco_contents c ON c.id = e.content_id "
             "  CROSS JOIN unnest(c.feature_ids) AS u(fid) "
             "  JOIN public.features f ON f.id = u.fid;"
             "CREATE INDEX i_caps_features_node_subnode ON caps_features (node, subnode);"
             "COMMIT;",
             n, n, n);
    if (!exec(sql))
        return false;
    static const char *const tabs[] = {"caps_entries", "disco_contents", "caps_entry_nodes",
                                       "caps_features"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(sql, sizeof sql, "VACUUM ANALYZE bench_%ld.%s", n, tabs[i]);
        if (!exec(sql))
            return false;
    }
    printf("  built bench_%ld in %.1f s\n", n, (now_ns() - a) / 1e9);
    return true;
}

static void sizes(long n)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM bench_%ld.caps_entries), "
             "(SELECT count(*) FROM bench_%ld.caps_features), "
             "pg_total_relation_size('bench_%ld.caps_features'), "
             "pg_total_relation_size('bench_%ld.caps_entries') + "
             "pg_total_relation_size('bench_%ld.disco_contents') + "
             "pg_total_relation_size('bench_%ld.caps_entry_nodes')",
             n, n, n, n, n, n);
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        printf("  %s entries; EAV %s rows, %.1f MiB; our tables %.1f MiB (with XML, S)\n",
               PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
               atof(PQgetvalue(r, 0, 2)) / 1048576.0, atof(PQgetvalue(r, 0, 3)) / 1048576.0);
    PQclear(r);
}

static void lookups(const char *what, const char *stmt, char **a, char **b, size_t k,
                    double budget_ns)
{
    double *v = xcalloc(k, sizeof *v);
    size_t done = 0, misses = 0;
    double start = now_ns();
    for (; done < k && now_ns() - start < budget_ns; done++) {
        const char *p[] = {a[done], b[done]};
        long long first;
        v[done] = run(stmt, 2, p, &first);
        misses += first < 0;
    }
    qsort(v, done, sizeof *v, cmp_d);
    if (done)
        printf("  %-40s p50 %8.1f us  p99 %8.1f us  (%zu lookups%s)\n", what,
               v[done / 2] / 1e3, v[(size_t)((double)done * 0.99)] / 1e3, done,
               misses ? ", MISSES" : "");
    free(v);
}

static void search(const char *what, const char *stmt, const char *param, int reps,
                   double budget_ns)
{
    double v[64];
    long long hits = -1;
    int done = 0;
    double start = now_ns();
    for (; done < reps && done < 64 && (done < 3 || now_ns() - start < budget_ns); done++) {
        const char *p[] = {param};
        v[done] = run(stmt, 1, p, &hits);
    }
    qsort(v, (size_t)done, sizeof *v, cmp_d);
    printf("  %-40s median %9.2f ms  (%lld entries, %d runs)\n", what, v[done / 2] / 1e6,
           hits, done);
}

int main(int argc, char **argv)
{
    const char *db = NULL;
    char sizes_arg[256] = "1e3,1e4,1e5,1e6";
    size_t k = 2000;
    int reps = 15;
    double budget = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-d") == 0)
            db = argv[i + 1];
        else if (strcmp(argv[i], "--sizes") == 0)
            snprintf(sizes_arg, sizeof sizes_arg, "%s", argv[i + 1]);
        else if (strcmp(argv[i], "--lookups") == 0)
            k = (size_t)strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--searches") == 0)
            reps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--budget") == 0)
            budget = atof(argv[i + 1]);
    }
    conn = PQconnectdb(pg_conninfo_resolve(db, NULL));
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(conn));
        return 1;
    }
    exec("SET client_min_messages = warning");
    static const char *const rare = "urn:xmpp:jingle:apps:rtp:video";
    static const char *const three = "{http://jabber.org/protocol/caps,urn:xmpp:time,"
                                     "jabber:iq:version}";
    for (char *tok = strtok(sizes_arg, ","); tok; tok = strtok(NULL, ",")) {
        long n = (long)strtod(tok, NULL);
        printf("size %ld\n", n);
        loadavg();
        if (!build(n))
            return 1;
        sizes(n);
        char sp[128];
        snprintf(sp, sizeof sp, "SET search_path = bench_%ld, public", n);
        exec(sp);
        exec("DEALLOCATE ALL");
        /* keys: uniformly drawn existing entries */
        char **algo = xcalloc(k, sizeof *algo), **ver = xcalloc(k, sizeof *ver);
        char **nodes = xcalloc(k, sizeof *nodes);
        char q[512];
        snprintf(q, sizeof q,
                 "SELECT e.algo, e.ver, n.node FROM caps_entries e "
                 "JOIN caps_entry_nodes n ON n.entry_id = e.id "
                 "ORDER BY random() LIMIT %zu",
                 k);
        PGresult *r = PQexec(conn, q);
        size_t nk = PQresultStatus(r) == PGRES_TUPLES_OK ? (size_t)PQntuples(r) : 0;
        for (size_t i = 0; i < nk; i++) {
            algo[i] = xstrdup(PQgetvalue(r, (int)i, 0));
            ver[i] = xstrdup(PQgetvalue(r, (int)i, 1));
            nodes[i] = xstrdup(PQgetvalue(r, (int)i, 2));
        }
        PQclear(r);
        bool ok =
            prepare("ours_av", "SELECT e.id, c.feature_ids FROM caps_entries e "
                               "JOIN disco_contents c ON c.id = e.content_id "
                               "WHERE e.algo = $1 AND e.ver = $2") &&
            prepare("ours_nv", "SELECT e.id, c.feature_ids FROM caps_entry_nodes n "
                               "JOIN caps_entries e ON e.id = n.entry_id "
                               "JOIN disco_contents c ON c.id = e.content_id "
                               "WHERE n.node = $1 AND e.ver = $2") &&
            prepare("eav_nv", "SELECT feature FROM caps_features "
                              "WHERE node = $1 AND subnode = $2") &&
            prepare("ours_f", "SELECT count(*) FROM caps_entries e "
                              "JOIN disco_contents c ON c.id = e.content_id "
                              "WHERE c.feature_ids @> ARRAY[(SELECT id FROM features "
                              "WHERE var = $1)]") &&
            prepare("eav_f", "SELECT count(DISTINCT subnode) FROM caps_features "
                             "WHERE feature = $1") &&
            prepare("ours_all", "SELECT count(*) FROM caps_entries e "
                                "JOIN disco_contents c ON c.id = e.content_id "
                                "WHERE c.feature_ids @> ARRAY(SELECT id FROM features "
                                "WHERE var = ANY ($1::text[]))") &&
            prepare("eav_all", "SELECT count(DISTINCT subnode) FROM (SELECT subnode FROM caps_features "
                               "WHERE feature = ANY ($1::text[]) GROUP BY node, subnode "
                               "HAVING count(DISTINCT feature) = "
                               "cardinality($1::text[])) x");
        if (ok && nk) {
            double bn = budget * 1e9 / 4;
            lookups("ours: lookup (algo, ver) + feature ids", "ours_av", algo, ver, nk, bn);
            lookups("ours: lookup node#ver + feature ids", "ours_nv", nodes, ver, nk, bn);
            lookups("EAV: lookup node#ver (feature rows)", "eav_nv", nodes, ver, nk, bn);
            search("ours: entries with rare F (GIN)", "ours_f", rare, reps, bn);
            search("EAV: entries with rare F (no index)", "eav_f", rare, reps, bn);
            search("ours: entries with all of 3 (GIN)", "ours_all", three, reps, bn);
            search("EAV: entries with all of 3 (no index)", "eav_all", three, reps, bn);
        }
        loadavg();
        fflush(stdout);
        for (size_t i = 0; i < nk; i++) {
            free(algo[i]);
            free(ver[i]);
            free(nodes[i]);
        }
        free(algo);
        free(ver);
        free(nodes);
    }
    PQfinish(conn);
    return 0;
}
