/*
 * `xcensus migrate` and `xcensus query`: apply the schema migrations
 * compiled into the program, and print one of the statistics views (the
 * v_* contract of sql/) as an aligned table, CSV or JSON. query reads only
 * views named in its own whitelist; nothing from the command line becomes
 * SQL text.
 */
#include "commands.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli_db.h"
#include "common.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "sql_embedded.h"
#include "xalloc.h"

/* ------------------------------------------------------------------ */
/* migrate                                                             */
/* ------------------------------------------------------------------ */

static void migrate_usage(FILE *f)
{
    fprintf(
        f,
        "usage: xcensus migrate [-d CONNINFO] [--status]\n\n"
        "apply the pending schema migrations compiled into this "
        "program, each in\n"
        "one transaction; running it again is a no-op; concurrent runs "
        "are safe\n\n"
        "options:\n"
        "  -d, --database CONNINFO  libpq conninfo or URI (default: "
        "$XCENSUS_DATABASE,\n"
        "                           then database.conninfo of --config, then "
        "libpq's\n"
        "                           PG* environment)\n"
        "  -s, --status             list applied and pending "
        "migrations, change nothing\n"
        "  -h, --help               this text\n\n"
        "exit status: 0 schema current, 1 failure (including a database "
        "migrated by\n"
        "a newer xcensus, or an applied migration that was changed), 2 "
        "usage error;\n"
        "with --status, 1 also when migrations are pending\n");
}

int cmd_migrate(int argc, char **argv, const struct cli_globals *g)
{
    static const struct option opts[] = {
        {"database", required_argument, NULL, 'd'},
        {"status", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    bool status = false;
    int c;
    while ((c = getopt_long(argc, argv, "d:sh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 's':
            status = true;
            break;
        case 'h':
            migrate_usage(stdout);
            return 0;
        default:
            migrate_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "xcensus migrate: unexpected argument \"%s\"\n",
                argv[optind]);
        migrate_usage(stderr);
        return EXIT_USAGE;
    }
    struct pg_conn *conn = cli_db_connect(db, g);
    if (!conn)
        return 1;
    int rc;
    if (status) {
        enum migrate_state st = migrate_print_status(
            conn, sql_migrations, sql_migrations_count, stdout);
        rc = st == MIGRATE_CURRENT ? 0 : 1;
    } else {
        struct migrate_report rep;
        enum migrate_state st =
            migrate_apply(conn, sql_migrations, sql_migrations_count, &rep);
        if (st == MIGRATE_CURRENT) {
            if (rep.applied_now == 0)
                printf("schema is current (version %d); nothing to do\n",
                       rep.db_version);
            else
                printf("applied %zu migration(s); schema is at version %d\n",
                       rep.applied_now, rep.db_version);
            rc = 0;
        } else {
            log_error("cannot migrate: %s", rep.msg);
            rc = 1;
        }
    }
    pg_close(conn);
    return rc;
}

/* ------------------------------------------------------------------ */
/* query                                                               */
/* ------------------------------------------------------------------ */

/* The views `xcensus query` may print; the SQL is fixed text. */
struct view_entry {
    const char *name;
    const char *sql;
    const char *help;
};

static const struct view_entry views[] = {
    {"v_caps_summary", "SELECT * FROM v_caps_summary ORDER BY source",
     "per source: caps entries, distinct nodes, outcome counts, observations"},
    {"v_caps_outcomes",
     "SELECT * FROM v_caps_outcomes ORDER BY entries DESC, outcome, matched_by",
     "all caps entries by outcome x matched_by (strict, lenient, variant, "
     "none)"},
    {"v_caps_by_node",
     "SELECT * FROM v_caps_by_node ORDER BY hashes DESC, node",
     "per caps node (software): hashes, with XEP-0232 softinfo, mean features"},
    {"v_caps_softinfo",
     "SELECT * FROM v_caps_softinfo ORDER BY hashes DESC, software",
     "XEP-0232 software information in caps entries, per software"},
    {"v_feature_counts",
     "SELECT * FROM v_feature_counts ORDER BY entries DESC, var",
     "every feature and how many caps entries advertise it"},
    {"v_sources", "SELECT * FROM v_sources ORDER BY created_at, name",
     "sources (crawl runs, imports) and what they hold"},
    {"v_crawl_status", "SELECT * FROM v_crawl_status ORDER BY crawl",
     "job queue of each crawl by state"},
    {"v_entity_latest_disco",
     "SELECT * FROM v_entity_latest_disco ORDER BY address, node",
     "latest disco#info of each entity"},
    {"v_software_latest", "SELECT * FROM v_software_latest ORDER BY address",
     "latest XEP-0092 software version of each entity"},
    {"v_server_software",
     "SELECT * FROM v_server_software ORDER BY servers DESC, software, version",
     "server software and version shares (latest XEP-0092 answers)"},
    {"v_server_features",
     "SELECT * FROM v_server_features ORDER BY servers DESC, feature",
     "features advertised by servers, with their share"},
};

enum query_format { FMT_TABLE, FMT_CSV, FMT_JSON };

static void query_usage(FILE *f)
{
    fprintf(
        f,
        "usage: xcensus query [-d CONNINFO] [-f table|csv|json] [-n N] NAME\n"
        "       xcensus query --list\n\n"
        "print one statistics view (see --list; docs/SCHEMA.md describes "
        "each);\n"
        "besides the listed ones, any v_* view of the database (added by "
        "later\n"
        "migrations) can be named; --list with a database shows those too\n\n"
        "options:\n"
        "  -d, --database CONNINFO  libpq conninfo or URI (default: "
        "$XCENSUS_DATABASE,\n"
        "                           then database.conninfo of --config, then "
        "libpq's\n"
        "                           PG* environment)\n"
        "  -f, --format FORMAT      table (default, aligned), csv (RFC 4180, "
        "header\n"
        "                           row) or json (array of objects)\n"
        "  -n, --limit N            print at most N rows (in the view's "
        "order)\n"
        "  -l, --list               list the view names\n"
        "  -h, --help               this text\n");
}

/* Display width of UTF-8 text: code points, not bytes. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Appends s with control characters shown as spaces (tables stay aligned). */
static void put_cell(FILE *out, const char *s)
{
    for (; *s; s++)
        fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s, out);
}

static void print_table(const struct pg_result *r, FILE *out)
{
    int nc = pg_ncols(r), nr = pg_nrows(r);
    size_t *w = xcalloc((size_t)nc, sizeof *w);
    for (int j = 0; j < nc; j++) {
        w[j] = text_width(pg_colname(r, j));
        for (int i = 0; i < nr; i++)
            w[j] = XC_MAX(w[j], text_width(pg_value(r, i, j)));
    }
    for (int j = 0; j < nc; j++) {
        const char *name = pg_colname(r, j);
        size_t pad = w[j] - text_width(name);
        if (pg_col_numeric(r, j))
            fprintf(out, "%s%*s%s", j ? "  " : "", (int)pad, "", name);
        else
            fprintf(out, "%s%s%*s", j ? "  " : "", name,
                    j == nc - 1 ? 0 : (int)pad, "");
    }
    fputc('\n', out);
    for (int j = 0; j < nc; j++) {
        fputs(j ? "  " : "", out);
        for (size_t k = 0; k < w[j]; k++)
            fputc('-', out);
    }
    fputc('\n', out);
    for (int i = 0; i < nr; i++) {
        for (int j = 0; j < nc; j++) {
            const char *v = pg_value(r, i, j);
            size_t pad = w[j] - text_width(v);
            fputs(j ? "  " : "", out);
            if (pg_col_numeric(r, j)) {
                fprintf(out, "%*s", (int)pad, "");
                put_cell(out, v);
            } else {
                put_cell(out, v);
                if (j != nc - 1)
                    fprintf(out, "%*s", (int)pad, "");
            }
        }
        fputc('\n', out);
    }
    fprintf(out, "(%d row%s)\n", nr, nr == 1 ? "" : "s");
    free(w);
}

static void csv_field(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void print_csv(const struct pg_result *r, FILE *out)
{
    int nc = pg_ncols(r), nr = pg_nrows(r);
    for (int j = 0; j < nc; j++) {
        if (j)
            fputc(',', out);
        csv_field(out, pg_colname(r, j));
    }
    fputs("\r\n", out);
    for (int i = 0; i < nr; i++) {
        for (int j = 0; j < nc; j++) {
            if (j)
                fputc(',', out);
            csv_field(out, pg_value(r, i, j));
        }
        fputs("\r\n", out);
    }
}

/* A numeric column value as a JSON number: integers exactly, others as
 * reals; values JSON cannot hold (NaN, huge) as strings. */
static json_t *json_number(const char *s)
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

static bool print_json(const struct pg_result *r, FILE *out)
{
    int nc = pg_ncols(r), nr = pg_nrows(r);
    json_t *arr = json_array();
    for (int i = 0; i < nr; i++) {
        json_t *obj = json_object();
        for (int j = 0; j < nc; j++) {
            const char *v = pg_value(r, i, j);
            json_t *val;
            if (pg_isnull(r, i, j))
                val = json_null();
            else if (pg_col_bool(r, j))
                val = json_boolean(strcmp(v, "t") == 0);
            else if (pg_col_numeric(r, j))
                val = json_number(v);
            else
                val = json_string(v);
            if (!val)
                val = json_null(); /* not valid UTF-8: cannot happen from a UTF8
                                      db */
            json_object_set_new(obj, pg_colname(r, j), val);
        }
        json_array_append_new(arr, obj);
    }
    int rc = json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(arr);
    return rc == 0;
}

/* A name `query` may look up in the catalog: "v_" + [a-z0-9_], at most 63
 * bytes, so that it needs no quoting. */
static bool view_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || n > 63 || strncmp(name, "v_", 2) != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
            return false;
    return true;
}

/* Lists the database's v_* views that the table above does not describe. */
static int list_other_views(const char *db, const struct cli_globals *g)
{
    struct pg_conn *conn = cli_db_connect(db, g);
    if (!conn)
        return 1;
    struct pg_result *r =
        pg_query(conn,
                 "SELECT viewname FROM pg_views WHERE schemaname = 'public' "
                 "AND viewname LIKE 'v\\_%' ORDER BY viewname",
                 0, NULL, NULL);
    int rc = r ? 0 : 1;
    for (int i = 0; r && i < pg_nrows(r); i++) {
        const char *name = pg_value(r, i, 0);
        bool known = false;
        for (size_t k = 0; k < ARRAY_LEN(views); k++)
            known = known || strcmp(views[k].name, name) == 0;
        if (!known && view_name_ok(name))
            printf("%-22s (database view, see docs/SCHEMA.md)\n", name);
    }
    pg_clear(r);
    pg_close(conn);
    return rc;
}

int cmd_query(int argc, char **argv, const struct cli_globals *g)
{
    static const struct option opts[] = {
        {"database", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'},
        {"list", no_argument, NULL, 'l'},
        {"limit", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    enum query_format fmt = FMT_TABLE;
    bool list = false;
    const char *limit = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "d:f:ln:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < 0) {
                fprintf(
                    stderr,
                    "xcensus query: --limit needs a number >= 0, not \"%s\"\n",
                    optarg);
                return EXIT_USAGE;
            }
            limit = optarg;
            break;
        }
        case 'd':
            db = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "table") == 0)
                fmt = FMT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                fmt = FMT_CSV;
            else if (strcmp(optarg, "json") == 0)
                fmt = FMT_JSON;
            else {
                fprintf(stderr, "xcensus query: unrecognized format \"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'l':
            list = true;
            break;
        case 'h':
            query_usage(stdout);
            return 0;
        default:
            query_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (list) {
        for (size_t i = 0; i < ARRAY_LEN(views); i++)
            printf("%-22s %s\n", views[i].name, views[i].help);
        /* views added by later migrations, when a database is named */
        if (db || getenv("XCENSUS_DATABASE") || g->config_path)
            return list_other_views(db, g);
        return 0;
    }
    if (optind + 1 != argc) {
        query_usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    const struct view_entry *v = NULL;
    for (size_t i = 0; i < ARRAY_LEN(views); i++) {
        /* "caps_summary" is accepted for "v_caps_summary" */
        if (strcmp(name, views[i].name) == 0 ||
            strcmp(name, views[i].name + 2) == 0)
            v = &views[i];
    }
    if (!v && !view_name_ok(name)) {
        fprintf(stderr,
                "xcensus query: unrecognized view \"%s\" (see xcensus query "
                "--list)\n",
                name);
        return EXIT_USAGE;
    }
    struct pg_conn *conn = cli_db_connect(db, g);
    if (!conn)
        return 1;
    if (!migrate_require_current(conn)) {
        pg_close(conn);
        return 1;
    }
    char *other_sql = NULL;
    if (!v) {
        /* not in the table: a v_* view of the database itself (name checked
         * to be [a-z0-9_] only, and looked up in the catalog) */
        const char *p[] = {name};
        struct pg_result *found =
            pg_query(conn,
                     "SELECT 1 FROM pg_views WHERE schemaname = 'public' AND "
                     "viewname = $1",
                     1, p, NULL);
        bool exists = found && pg_nrows(found) == 1;
        pg_clear(found);
        if (!exists) {
            fprintf(stderr,
                    "xcensus query: unrecognized view \"%s\" (see xcensus "
                    "query --list)\n",
                    name);
            pg_close(conn);
            return EXIT_USAGE;
        }
        other_sql = xasprintf("SELECT * FROM public.\"%s\" ORDER BY 1", name);
    }
    int rc = 1;
    char *sql = xasprintf("%s%s", v ? v->sql : other_sql,
                          limit ? " LIMIT $1::bigint" : "");
    free(other_sql);
    const char *params[] = {limit};
    struct pg_result *r = pg_query(conn, sql, limit ? 1 : 0, params, NULL);
    free(sql);
    if (r) {
        rc = 0;
        switch (fmt) {
        case FMT_TABLE:
            print_table(r, stdout);
            break;
        case FMT_CSV:
            print_csv(r, stdout);
            break;
        case FMT_JSON:
            if (!print_json(r, stdout))
                rc = 1;
            break;
        }
        pg_clear(r);
    }
    pg_close(conn);
    if (fflush(stdout) != 0)
        rc = 1;
    return rc;
}
