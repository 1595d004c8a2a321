/*
 * `xcensus status`: where each crawl stands, read from the job queue:
 * jobs queued (due now, waiting for a retry, matching the deny list),
 * leased (and how many leases expired, by how many processes), done,
 * failed by error class, the completion rate over the last minute and the
 * last 10 minutes, and an ETA for the jobs due now. Text or JSON; an empty
 * database (no crawl yet) is a normal answer, not an error.
 */
#include "commands.h"
#include "cli_db.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "sql_embedded.h"
#include "xalloc.h"
#include "xc_config.h"

static void status_usage(FILE *f)
{
    fprintf(
        f,
        "usage: xcensus status [-d CONNINFO] [-n CRAWL] [--json]\n\n"
        "show the job queue of every crawl (or of one): queued, leased, done,\n"
        "failed by error class, rate and estimated time to finish\n\n"
        "options:\n"
        "  -n, --crawl NAME         only this crawl\n"
        "  -j, --json               one JSON object: {\"crawls\": [...]}\n"
        "  -d, --database CONNINFO  libpq conninfo or URI (default: "
        "$XCENSUS_DATABASE,\n"
        "                           then database.conninfo of --config, then "
        "libpq's\n"
        "                           PG* environment)\n"
        "  -h, --help               this text\n\n"
        "rate counts jobs that finished (done or failed) in the window; the "
        "ETA\n"
        "divides the jobs due now plus those leased by the 10-minute rate "
        "(the\n"
        "1-minute rate when nothing finished in 10 minutes)\n\n"
        "exit status: 0 success, 1 database error or unknown crawl, 2 usage "
        "error\n");
}

/* The counters of one crawl, in column order of sql_counts. */
enum {
    C_NAME,
    C_SCOPE,
    C_RECRAWL,
    C_TOTAL,
    C_QUEUED,
    C_DUE,
    C_RETRYING,
    C_DENIED,
    C_LEASED,
    C_EXPIRED,
    C_OWNERS,
    C_DONE,
    C_FAILED,
    C_CANCELLED,
    C_FIN_1M,
    C_FIN_10M,
    C_RUNS,
    C__COUNT
};

static const char *const count_keys[] = {
    [C_NAME] = "crawl",
    [C_SCOPE] = "scope",
    [C_RECRAWL] = "recrawl_interval",
    [C_TOTAL] = "total",
    [C_QUEUED] = "queued",
    [C_DUE] = "due",
    [C_RETRYING] = "retrying",
    [C_DENIED] = "denied",
    [C_LEASED] = "leased",
    [C_EXPIRED] = "expired_leases",
    [C_OWNERS] = "processes",
    [C_DONE] = "done",
    [C_FAILED] = "failed",
    [C_CANCELLED] = "cancelled",
    [C_FIN_1M] = "finished_1m",
    [C_FIN_10M] = "finished_10m",
    [C_RUNS] = "runs_running",
};
_Static_assert(ARRAY_LEN(count_keys) == C__COUNT, "count keys");

static const char sql_counts[] =
    "SELECT c.name, c.scope, "
    "coalesce(justify_interval(c.recrawl_interval)::text, ''),\n"
    "  count(j.id),\n"
    "  count(j.id) FILTER (WHERE j.state = 'queued'),\n"
    "  count(j.id) FILTER (WHERE j.state = 'queued' AND j.next_attempt_at <= "
    "now()\n"
    "                      AND NOT dn.denied),\n"
    "  count(j.id) FILTER (WHERE j.state = 'queued' AND j.attempts > 0),\n"
    "  count(j.id) FILTER (WHERE j.state = 'queued' AND dn.denied),\n"
    "  count(j.id) FILTER (WHERE j.state = 'leased'),\n"
    "  count(j.id) FILTER (WHERE j.state = 'leased' AND j.lease_expires_at < "
    "now()),\n"
    "  count(DISTINCT j.lease_owner) FILTER (WHERE j.state = 'leased'),\n"
    "  count(j.id) FILTER (WHERE j.state = 'done'),\n"
    "  count(j.id) FILTER (WHERE j.state = 'failed'),\n"
    "  count(j.id) FILTER (WHERE j.state = 'cancelled'),\n"
    "  count(j.id) FILTER (WHERE j.state IN ('done', 'failed')\n"
    "                      AND j.finished_at > now() - interval '1 minute'),\n"
    "  count(j.id) FILTER (WHERE j.state IN ('done', 'failed')\n"
    "                      AND j.finished_at > now() - interval '10 "
    "minutes'),\n"
    "  (SELECT count(*) FROM crawl_runs r WHERE r.crawl_id = c.id AND r.state "
    "= 'running')\n"
    "FROM crawls c LEFT JOIN jobs j ON j.crawl_id = c.id\n"
    "LEFT JOIN LATERAL (SELECT EXISTS (\n"
    "    SELECT 1 FROM domains d JOIN deny_list x\n"
    "      ON x.pattern = d.name OR (x.match = 'suffix'\n"
    "         AND right(d.name, length(x.pattern) + 1) = '.' || x.pattern)\n"
    "    WHERE d.id = j.domain_id) AS denied) dn ON true\n"
    "WHERE $1::text IS NULL OR c.name = $1\n"
    "GROUP BY c.id, c.name, c.scope, c.recrawl_interval\n"
    "ORDER BY c.name";

/* Failed jobs and jobs waiting for a retry, by error class. */
static const char sql_classes[] =
    "SELECT c.name, CASE WHEN j.state = 'failed' THEN 'failed' ELSE 'retrying' "
    "END,\n"
    "  coalesce(j.last_error_class, 'unknown'), count(*)\n"
    "FROM jobs j JOIN crawls c ON c.id = j.crawl_id\n"
    "WHERE ($1::text IS NULL OR c.name = $1)\n"
    "  AND (j.state = 'failed' OR (j.state = 'queued' AND j.attempts > 0))\n"
    "GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC, 3";

static long long num(const struct pg_result *r, int row, int col)
{
    return strtoll(pg_value(r, row, col), NULL, 10);
}

/* Seconds to finish the jobs due now and leased, or -1 when unknown. */
static double eta_seconds(const struct pg_result *r, int row)
{
    long long left = num(r, row, C_DUE) + num(r, row, C_LEASED);
    double rate = num(r, row, C_FIN_10M) / 600.0;
    if (rate <= 0)
        rate = num(r, row, C_FIN_1M) / 60.0;
    if (left == 0)
        return 0;
    return rate > 0 ? left / rate : -1;
}

static void fmt_duration(char *out, size_t len, double s)
{
    if (s < 0)
        snprintf(out, len, "unknown (nothing finished in the last 10 minutes)");
    else if (s < 120)
        snprintf(out, len, "%.0f s", s);
    else if (s < 7200)
        snprintf(out, len, "%.0f min", s / 60);
    else if (s < 172800)
        snprintf(out, len, "%.1f h", s / 3600);
    else
        snprintf(out, len, "%.1f days", s / 86400);
}

static void print_classes(const struct pg_result *cl, const char *crawl,
                          const char *kind)
{
    struct buf line = BUF_INIT;
    for (int i = 0; i < pg_nrows(cl); i++) {
        if (strcmp(pg_value(cl, i, 0), crawl) != 0 ||
            strcmp(pg_value(cl, i, 1), kind) != 0)
            continue;
        buf_printf(&line, "%s%s %s", line.len ? ", " : "", pg_value(cl, i, 2),
                   pg_value(cl, i, 3));
    }
    if (line.len)
        printf("    %-7s %s\n", kind, buf_str(&line));
    buf_free(&line);
}

static void print_text(const struct pg_result *r, const struct pg_result *cl)
{
    for (int i = 0; i < pg_nrows(r); i++) {
        const char *name = pg_value(r, i, C_NAME);
        const char *recrawl = pg_value(r, i, C_RECRAWL);
        printf("crawl \"%s\" (scope %s, %s%s, %lld run(s) open)\n", name,
               pg_value(r, i, C_SCOPE),
               recrawl[0] ? "re-crawl every " : "crawled once", recrawl,
               num(r, i, C_RUNS));
        printf("  jobs      %lld total\n", num(r, i, C_TOTAL));
        printf("  queued    %lld (%lld due now, %lld retrying, %lld "
               "deny-listed)\n",
               num(r, i, C_QUEUED), num(r, i, C_DUE), num(r, i, C_RETRYING),
               num(r, i, C_DENIED));
        printf("  leased    %lld by %lld process(es), %lld expired\n",
               num(r, i, C_LEASED), num(r, i, C_OWNERS), num(r, i, C_EXPIRED));
        printf("  done      %lld\n", num(r, i, C_DONE));
        printf("  failed    %lld\n", num(r, i, C_FAILED));
        print_classes(cl, name, "failed");
        print_classes(cl, name, "retrying");
        if (num(r, i, C_CANCELLED))
            printf("  cancelled %lld\n", num(r, i, C_CANCELLED));
        printf("  rate      %lld jobs/min over the last minute, %.1f jobs/min "
               "over 10 minutes\n",
               num(r, i, C_FIN_1M), num(r, i, C_FIN_10M) / 10.0);
        char eta[96];
        fmt_duration(eta, sizeof eta, eta_seconds(r, i));
        printf("  eta       %s\n", eta);
    }
}

static void print_json(const struct pg_result *r, const struct pg_result *cl)
{
    json_t *arr = json_array();
    for (int i = 0; i < pg_nrows(r); i++) {
        json_t *o = json_object();
        for (int k = 0; k < C__COUNT; k++) {
            if (k == C_NAME || k == C_SCOPE || k == C_RECRAWL) {
                const char *v = pg_value(r, i, k);
                json_object_set_new(o, count_keys[k],
                                    k == C_RECRAWL && !v[0] ? json_null()
                                                            : json_string(v));
            } else {
                json_object_set_new(o, count_keys[k],
                                    json_integer(num(r, i, k)));
            }
        }
        json_t *failed = json_object(), *retrying = json_object();
        for (int k = 0; k < pg_nrows(cl); k++) {
            if (strcmp(pg_value(cl, k, 0), pg_value(r, i, C_NAME)) != 0)
                continue;
            json_t *t =
                strcmp(pg_value(cl, k, 1), "failed") == 0 ? failed : retrying;
            json_object_set_new(t, pg_value(cl, k, 2),
                                json_integer(num(cl, k, 3)));
        }
        json_object_set_new(o, "failed_by_class", failed);
        json_object_set_new(o, "retrying_by_class", retrying);
        json_object_set_new(o, "rate_per_min_1m",
                            json_real((double)num(r, i, C_FIN_1M)));
        json_object_set_new(o, "rate_per_min_10m",
                            json_real(num(r, i, C_FIN_10M) / 10.0));
        double eta = eta_seconds(r, i);
        json_object_set_new(o, "eta_seconds",
                            eta < 0 ? json_null() : json_real(round(eta)));
        json_array_append_new(arr, o);
    }
    json_t *root = json_object();
    json_object_set_new(root, "crawls", arr);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    free(s);
    json_decref(root);
}

int cmd_status(int argc, char **argv, const struct cli_globals *g)
{
    static const struct option opts[] = {
        {"database", required_argument, NULL, 'd'},
        {"crawl", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *crawl = NULL;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "d:n:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'n':
            crawl = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            status_usage(stdout);
            return 0;
        default:
            status_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "xcensus status: unexpected argument \"%s\"\n",
                argv[optind]);
        status_usage(stderr);
        return EXIT_USAGE;
    }
    struct xc_config cfg;
    struct pg_conn *conn = cli_db_open(g, db, &cfg);
    if (!conn)
        return 1;
    /* a database never migrated is empty: nothing to show, not an error */
    struct migrate_report rep;
    enum migrate_state st =
        migrate_check(conn, sql_migrations, sql_migrations_count, &rep);
    if (st == MIGRATE_PENDING && rep.db_version == 0 && !crawl) {
        if (json)
            printf("{\n  \"crawls\": []\n}\n");
        else
            printf("no crawls yet (the database has no xcensus schema: run "
                   "\"xcensus "
                   "migrate\")\n");
        pg_close(conn);
        xc_config_free(&cfg);
        return 0;
    }
    if (!migrate_require_current(conn)) {
        pg_close(conn);
        xc_config_free(&cfg);
        return 1;
    }
    int rc = 1;
    struct pg_err err;
    const char *params[] = {crawl};
    struct pg_result *r = pg_query(conn, sql_counts, 1, params, &err);
    struct pg_result *cl =
        r ? pg_query(conn, sql_classes, 1, params, &err) : NULL;
    if (!r || !cl) {
        log_error("cannot read the job queue: %s", err.msg);
    } else if (crawl && pg_nrows(r) == 0) {
        log_error("crawl \"%s\" does not exist", crawl);
    } else {
        if (json)
            print_json(r, cl);
        else if (pg_nrows(r) == 0)
            printf("no crawls yet (add domains with \"xcensus seed\")\n");
        else
            print_text(r, cl);
        rc = 0;
    }
    pg_clear(r);
    pg_clear(cl);
    pg_close(conn);
    xc_config_free(&cfg);
    return rc;
}
