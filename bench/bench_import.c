/*
 * Benchmark of `xcensus import capsdb` (lib/capsdb.c) against a real
 * PostgreSQL: not a test, it prints figures.
 *   bench_import [-r RUNS] [-n LINES] [CONNINFO]
 * CONNINFO (default $XCENSUS_DATABASE) names a server where the user may
 * create databases, e.g. one started with scripts/pg. It measures
 *   1. the import of tests/data/capsdb/capsdb.jsonl (1,611 lines) into a
 *      fresh, migrated database, RUNS times (median, min, max), and the
 *      re-import of the same file (a no-op by design);
 *   2. bulk throughput: a synthetic file of LINES lines (default 100,000)
 *      made from the capsdb entries, each copy after the first with one
 *      extra feature and its ver recomputed, so that every line is a
 *      distinct, verifiable hash with its own disco#info.
 * Each run uses its own database bench_import_N, dropped afterwards.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "capsdb.h"
#include "disco.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "sql_embedded.h"
#include "xalloc.h"

static const char *base_conninfo;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void admin(const char *sql)
{
    char *ci = xasprintf("%s dbname=postgres", base_conninfo);
    struct pg_conn *c = pg_connect(ci);
    free(ci);
    if (!c || !pg_exec(c, sql, NULL)) {
        fprintf(stderr, "bench_import: \"%s\" failed\n", sql);
        exit(1);
    }
    pg_close(c);
}

/* Creates and migrates database name; returns a connection to it. */
static struct pg_conn *fresh_db(const char *name)
{
    char *sql = xasprintf("DROP DATABASE IF EXISTS %s", name);
    admin(sql);
    free(sql);
    sql = xasprintf("CREATE DATABASE %s", name);
    admin(sql);
    free(sql);
    char *ci = xasprintf("%s dbname=%s", base_conninfo, name);
    struct pg_conn *c = pg_connect(ci);
    free(ci);
    struct migrate_report rep;
    if (!c || migrate_apply(c, sql_migrations, sql_migrations_count, &rep) !=
                  MIGRATE_CURRENT) {
        fprintf(stderr, "bench_import: cannot prepare database %s\n", name);
        exit(1);
    }
    return c;
}

static void drop_db(struct pg_conn *c, const char *name)
{
    pg_close(c);
    char *sql = xasprintf("DROP DATABASE IF EXISTS %s", name);
    admin(sql);
    free(sql);
}

static double import_once(struct pg_conn *c, const char *path,
                          struct capsdb_stats *st)
{
    FILE *devnull = fopen("/dev/null", "w");
    enum capsdb_result r =
        capsdb_import(c, path, "bench", devnull ? devnull : stderr, st);
    if (devnull)
        fclose(devnull);
    if (r == CAPSDB_FAILED) {
        fprintf(stderr, "bench_import: import failed\n");
        exit(1);
    }
    return st->seconds;
}

/* Writes n synthetic lines derived from the capsdb file to out. */
static size_t make_synthetic(const char *src, FILE *out, size_t n)
{
    FILE *in = fopen(src, "r");
    if (!in) {
        perror(src);
        exit(1);
    }
    struct capsdb_entry *base = NULL;
    size_t nbase = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) > 0) {
        struct parse_err err;
        base = xreallocarray(base, nbase + 1, sizeof *base);
        if (!capsdb_parse_line(line, (size_t)len, &base[nbase], &err)) {
            fprintf(stderr, "%s: %s\n", src, err.msg);
            exit(1);
        }
        nbase++;
    }
    free(line);
    fclose(in);

    size_t written = 0;
    for (size_t i = 0; i < n; i++) {
        const struct capsdb_entry *e = &base[i % nbase];
        size_t copy = i / nbase;
        struct parse_err err;
        struct disco_info *info = disco_parse(e->xml, e->xml_len, NULL, &err);
        enum hash_algo algo;
        if (!info || !hash_algo_parse(e->hash, &algo)) {
            disco_info_free(info);
            continue;
        }
        char ver[HASH_B64_MAX];
        snprintf(ver, sizeof ver, "%s", e->ver);
        if (copy > 0) {
            char feat[64];
            snprintf(feat, sizeof feat, "urn:xcensus:synthetic:%zu", copy);
            disco_add_feature(info, feat);
            enum caps_method m = caps_check(info) == CAPS_ERR_NONE
                                     ? CAPS_M_STRICT
                                     : CAPS_M_LENIENT;
            if (!caps_ver_compute(info, algo, m, ver)) {
                disco_info_free(info);
                continue;
            }
            char *node = xasprintf("%s#%s", e->node, ver);
            disco_set_node(info, node);
            free(node);
        }
        char *xml = copy > 0 ? disco_info_to_xml(info) : xstrdup(e->xml);
        json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "node", e->node, "ver",
                              ver, "hash", e->hash, "disco_info_xml", xml);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s) {
            fprintf(out, "%s\n", s);
            written++;
        }
        free(s);
        json_decref(j);
        free(xml);
        disco_info_free(info);
    }
    for (size_t i = 0; i < nbase; i++)
        capsdb_entry_free(&base[i]);
    free(base);
    return written;
}

static void print_outcomes(const struct capsdb_stats *st)
{
    printf("  outcomes:");
    for (int o = 0; o < CAPS_OUTCOME__COUNT; o++)
        if (st->outcomes[o])
            printf(" %s %zu", caps_outcome_name((enum caps_outcome)o),
                   st->outcomes[o]);
    printf("\n");
}

int main(int argc, char **argv)
{
    int runs = 7;
    long lines = 100000;
    int c;
    while ((c = getopt(argc, argv, "r:n:h")) != -1) {
        switch (c) {
        case 'r':
            runs = atoi(optarg);
            break;
        case 'n':
            lines = atol(optarg);
            break;
        default:
            fprintf(stderr,
                    "usage: bench_import [-r RUNS] [-n LINES] [CONNINFO]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (runs < 1 || runs > 1000 || lines < 0) {
        fprintf(stderr, "bench_import: bad -r or -n\n");
        return 2;
    }
    base_conninfo = optind < argc ? argv[optind] : getenv("XCENSUS_DATABASE");
    if (!base_conninfo) {
        fprintf(stderr, "bench_import: give a CONNINFO or set XCENSUS_DATABASE "
                        "(eval \"$(scripts/pg env DIR)\")\n");
        return 2;
    }
    log_max_level = LOG_WARN;
    const char *capsdb = XC_TEST_DATA "/capsdb/capsdb.jsonl";

    double *t = xcalloc((size_t)runs, sizeof *t);
    double reimport = 0;
    struct capsdb_stats st;
    for (int i = 0; i < runs; i++) {
        struct pg_conn *conn = fresh_db("bench_import_1");
        t[i] = import_once(conn, capsdb, &st);
        if (i == 0) {
            struct capsdb_stats st2;
            reimport = import_once(conn, capsdb, &st2);
        }
        drop_db(conn, "bench_import_1");
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    printf(
        "capsdb import (%zu lines, fresh database, %d runs): median %.1f ms, "
        "min %.1f ms, max %.1f ms; %.0f lines/s at the median\n",
        st.read, runs, t[runs / 2] * 1e3, t[0] * 1e3, t[runs - 1] * 1e3,
        (double)st.read / t[runs / 2]);
    printf("  re-import of the same file (adds nothing): %.1f ms\n",
           reimport * 1e3);
    print_outcomes(&st);
    free(t);

    if (lines > 0) {
        char path[] = "/tmp/xcensus-bench-import-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            perror("mkstemp");
            return 1;
        }
        size_t n = make_synthetic(capsdb, f, (size_t)lines);
        fclose(f);
        struct pg_conn *conn = fresh_db("bench_import_2");
        double secs = import_once(conn, path, &st);
        printf("bulk import (%zu synthetic lines, distinct hashes and "
               "contents): %.2f s, "
               "%.0f lines/s, %lld caps entries, %lld contents\n",
               n, secs, (double)st.imported / secs, st.new_entries,
               st.new_contents);
        print_outcomes(&st);
        drop_db(conn, "bench_import_2");
        if (!getenv("BENCH_KEEP"))
            unlink(path);
        else
            printf("  kept %s\n", path);
    }
    return 0;
}
