/*
 * `xcensus migrate` and `xcensus query`: apply the schema migrations
 * compiled into the program, and print an entry of the query catalog
 * (lib/apicat.h) or one of the raw v_* views of sql/ as an aligned table,
 * CSV or JSON. Nothing from the command line becomes SQL text: arguments,
 * limit and offset are bound parameters, and a raw view name is checked
 * against [a-z0-9_] and pg_views first.
 */
#include "commands.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicat.h"
#include "buf.h"
#include "cli_db.h"
#include "common.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "pgjson.h"
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

/* `xcensus query NAME [ARG=VALUE...]` runs an entry of the query catalog
 * (lib/apicat.h), wrapped and paginated as every consumer does it;
 * `xcensus query v_NAME` prints a raw v_* view: one of the table below or
 * any v_* view of the database. */

/* The raw views `xcensus query` describes; the SQL is fixed text. */
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

#define QUERY_ARGS_MAX 32 /* ARG=VALUE words accepted after NAME */

static void query_usage(FILE *f)
{
    fprintf(
        f,
        "usage: xcensus query [-d CONNINFO] [-f table|csv|json] [-n LIMIT]\n"
        "                     [--offset N] NAME [ARG=VALUE ...]\n"
        "       xcensus query [-d CONNINFO] [-f FORMAT] [-n N] v_VIEW\n"
        "       xcensus query [-d CONNINFO] --list\n\n"
        "print one entry of the query catalog (the same queries as "
        "/api/v1/NAME of\n"
        "xcensus serve; see --list and docs/SCHEMA.md), with its arguments "
        "as\n"
        "ARG=VALUE words, or one raw v_* view of the database\n\n"
        "options:\n"
        "  -d, --database CONNINFO  libpq conninfo or URI (default: "
        "$XCENSUS_DATABASE,\n"
        "                           then database.conninfo of --config, then "
        "libpq's\n"
        "                           PG* environment)\n"
        "  -f, --format FORMAT      table (default, aligned), csv (RFC 4180, "
        "header\n"
        "                           row) or json (array of objects)\n"
        "  -n, --limit N            print at most N rows (catalog: 1..%d, "
        "default %d;\n"
        "                           a note on stderr says when more rows "
        "follow)\n"
        "  -o, --offset N           skip the first N rows (catalog entries "
        "only)\n"
        "  -l, --list               list the catalog entries with their "
        "arguments,\n"
        "                           and the raw views\n"
        "  -h, --help               this text\n\n"
        "exit status: 0 printed, 1 failure, 2 usage error (unknown name or "
        "argument,\n"
        "bad value, missing required argument, limit or offset out of "
        "range)\n",
        APICAT_LIMIT_MAX, APICAT_LIMIT_MAX);
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

/* Prints the first nr rows of r as an aligned table. */
static void print_table(const struct pg_result *r, int nr, FILE *out)
{
    int nc = pg_ncols(r);
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

/* Prints the first nr rows of r as CSV with a header row. */
static void print_csv(const struct pg_result *r, int nr, FILE *out)
{
    int nc = pg_ncols(r);
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

/* Prints the first nr rows of r as a JSON array of objects (lib/pgjson). */
static bool print_json(const struct pg_result *r, int nr, FILE *out)
{
    json_t *arr = pgjson_rows(r, nr);
    int rc = json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(arr);
    return rc == 0;
}

static bool print_result(const struct pg_result *r, int nr,
                         enum query_format fmt, FILE *out)
{
    switch (fmt) {
    case FMT_TABLE:
        print_table(r, nr, out);
        return true;
    case FMT_CSV:
        print_csv(r, nr, out);
        return true;
    case FMT_JSON:
        return print_json(r, nr, out);
    }
    return false;
}

/* A name `query` may look up in the database: "v_" + [a-z0-9_], at most 63
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

static bool known_view(const char *name)
{
    for (size_t k = 0; k < ARRAY_LEN(views); k++)
        if (strcmp(views[k].name, name) == 0)
            return true;
    return false;
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
        if (!known_view(name) && view_name_ok(name))
            printf("%-22s (database view, see docs/SCHEMA.md)\n", name);
    }
    pg_clear(r);
    pg_close(conn);
    return rc;
}

/* The catalog: one line per entry (name, title, arguments: required as
 * ARG=TYPE, optional as [ARG=TYPE]), its help and each argument's help
 * indented below; then the raw views. */
static void list_catalog(FILE *out)
{
    for (size_t i = 0; i < apicat_count(); i++) {
        const struct apicat_entry *e = apicat_at(i);
        fprintf(out, "%-22s %s", e->name, e->title);
        for (size_t k = 0; k < e->nparams; k++) {
            const struct apicat_param *p = &e->params[k];
            fprintf(out, p->required ? " %s=%s" : " [%s=%s]", p->name,
                    apicat_type_name(p->type));
        }
        fprintf(out, "\n%-22s   %s\n", "", e->help);
        for (size_t k = 0; k < e->nparams; k++)
            fprintf(out, "%-22s   %s: %s%s\n", "", e->params[k].name,
                    e->params[k].help,
                    e->params[k].required ? " (required)" : "");
    }
    for (size_t i = 0; i < ARRAY_LEN(views); i++)
        fprintf(out, "%-22s %s\n", views[i].name, views[i].help);
}

/* Connects, checks the schema and sets the session time zone to UTC (so
 * that timestamps print alike everywhere); NULL on failure (reported). */
static struct pg_conn *query_connect(const char *db,
                                     const struct cli_globals *g)
{
    struct pg_conn *conn = cli_db_connect(db, g);
    if (!conn)
        return NULL;
    struct pg_err err;
    if (!migrate_require_current(conn) ||
        !pg_exec(conn, "SET TIME ZONE 'UTC'", &err)) {
        pg_close(conn);
        return NULL;
    }
    return conn;
}

/* Runs catalog entry e with the ARG=VALUE words args[0..nargs). */
static int query_catalog(const struct apicat_entry *e, char **args, int nargs,
                         const char *limit_s, const char *offset_s,
                         enum query_format fmt, const char *db,
                         const struct cli_globals *g)
{
    if (nargs > QUERY_ARGS_MAX) {
        fprintf(stderr, "xcensus query: too many arguments\n");
        return EXIT_USAGE;
    }
    const char *names[QUERY_ARGS_MAX], *values[QUERY_ARGS_MAX];
    char *words[QUERY_ARGS_MAX];
    for (int i = 0; i < nargs; i++) {
        words[i] = xstrdup(args[i]);
        char *eq = strchr(words[i], '=');
        if (eq) {
            *eq = '\0';
            names[i] = words[i];
            values[i] = eq + 1;
        } else {
            names[i] = values[i] = NULL;
        }
    }
    int rc = EXIT_USAGE;
    struct parse_err err = {0};
    const char *bound[APICAT_PARAMS_MAX + 2];
    long long limit = APICAT_LIMIT_MAX, offset = 0;
    for (int i = 0; i < nargs; i++)
        if (!names[i] || names[i][0] == '\0') {
            fprintf(stderr,
                    "xcensus query: \"%s\" is not ARG=VALUE (%s takes: see "
                    "xcensus query --list)\n",
                    args[i], e->name);
            goto out;
        }
    if (!apicat_bind(e, (size_t)nargs, names, values, bound, &err) ||
        (limit_s && !apicat_parse_limit(limit_s, &limit, &err)) ||
        (offset_s && !apicat_parse_offset(offset_s, &offset, &err))) {
        fprintf(stderr, "xcensus query: %s: %s\n", e->name, err.msg);
        goto out;
    }
    rc = 1;
    struct pg_conn *conn = query_connect(db, g);
    if (!conn)
        goto out;
    char lim[24], off[24];
    snprintf(lim, sizeof lim, "%lld", limit + 1);
    snprintf(off, sizeof off, "%lld", offset);
    bound[e->nparams] = lim;
    bound[e->nparams + 1] = off;
    char *sql = apicat_sql(e);
    struct pg_result *r = pg_query(conn, sql, (int)e->nparams + 2, bound, NULL);
    free(sql);
    if (r) {
        int n = pg_nrows(r);
        bool more = n > limit;
        rc = print_result(r, more ? (int)limit : n, fmt, stdout) ? 0 : 1;
        if (more)
            fprintf(stderr,
                    "xcensus query: more rows follow; next page: --offset "
                    "%lld\n",
                    offset + limit);
        pg_clear(r);
    }
    pg_close(conn);
out:
    for (int i = 0; i < nargs; i++)
        free(words[i]);
    return rc;
}

/* Prints raw view name (from the table above, or any v_* view of the
 * database), at most limit rows when limit is set. */
static int query_view(const char *name, const char *limit,
                      enum query_format fmt, const char *db,
                      const struct cli_globals *g)
{
    const struct view_entry *v = NULL;
    for (size_t i = 0; i < ARRAY_LEN(views); i++)
        if (strcmp(name, views[i].name) == 0)
            v = &views[i];
    if (!v && !view_name_ok(name)) {
        fprintf(stderr,
                "xcensus query: unrecognized view \"%s\" (see xcensus query "
                "--list)\n",
                name);
        return EXIT_USAGE;
    }
    struct pg_conn *conn = query_connect(db, g);
    if (!conn)
        return 1;
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
        rc = print_result(r, pg_nrows(r), fmt, stdout) ? 0 : 1;
        pg_clear(r);
    }
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
        {"offset", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    enum query_format fmt = FMT_TABLE;
    bool list = false;
    const char *limit = NULL, *offset = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "d:f:ln:o:h", opts, NULL)) != -1) {
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
        case 'o':
            offset = optarg;
            break;
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
        list_catalog(stdout);
        /* views added by later migrations, when a database is named */
        if (db || getenv("XCENSUS_DATABASE") || g->config_path)
            return list_other_views(db, g);
        return 0;
    }
    if (optind >= argc) {
        query_usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    char **args = argv + optind + 1;
    int nargs = argc - optind - 1;
    /* v_NAME: a raw view, as before the catalog */
    const struct apicat_entry *e =
        strncmp(name, "v_", 2) == 0 ? NULL : apicat_find(name);
    if (e)
        return query_catalog(e, args, nargs, limit, offset, fmt, db, g);
    char *vname =
        strncmp(name, "v_", 2) == 0 ? xstrdup(name) : xasprintf("v_%s", name);
    int rc;
    if (nargs > 0 || offset) {
        fprintf(stderr,
                "xcensus query: the raw view %s takes no arguments and no "
                "--offset\n",
                vname);
        rc = EXIT_USAGE;
    } else if (strncmp(name, "v_", 2) != 0 && !known_view(vname)) {
        fprintf(stderr,
                "xcensus query: unrecognized name \"%s\" (see xcensus query "
                "--list)\n",
                name);
        rc = EXIT_USAGE;
    } else {
        rc = query_view(vname, limit, fmt, db, g);
    }
    free(vname);
    if (fflush(stdout) != 0)
        rc = 1;
    return rc;
}
