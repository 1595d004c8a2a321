/*
 * `xcensus seed`: adds domains to a named crawl (creating the crawl when it
 * does not exist), one job per domain, idempotently: seeding the same list
 * twice adds nothing. Names are normalised (lower case, trailing dot
 * removed) and validated as host names; non-ASCII names are rejected until
 * IDNA is supported. Reports added, already present and rejected names
 * (with FILE:LINE for --file). Blocking libpq: this is a command, not the
 * crawler.
 */
#include "commands.h"
#include "cli_db.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "queue.h"
#include "xalloc.h"
#include "xc_config.h"

static void seed_usage(FILE *f)
{
    fprintf(
        f,
        "usage: xcensus seed [-d CONNINFO] [-n CRAWL] DOMAIN...\n"
        "       xcensus seed [-d CONNINFO] [-n CRAWL] --file FILE "
        "[DOMAIN...]\n\n"
        "add domains to a crawl (created if it does not exist, with the scope "
        "and\n"
        "re-crawl interval of the configuration); each domain gets one job; "
        "seeding\n"
        "a domain again changes nothing\n\n"
        "names are lower-cased, a trailing dot is removed, and each must be a "
        "valid\n"
        "host name (labels of a-z, 0-9 and '-'); non-ASCII names are rejected: "
        "give\n"
        "their IDNA form (xn--...)\n\n"
        "options:\n"
        "  -n, --crawl NAME         crawl to add to (default: crawl.name of "
        "the\n"
        "                           configuration, \"default\")\n"
        "  -f, --file FILE          read domains from FILE, one per line "
        "(\"-\" for\n"
        "                           standard input); blank lines and text "
        "after '#'\n"
        "                           are ignored; may be given several times\n"
        "  -d, --database CONNINFO  libpq conninfo or URI (default: "
        "$XCENSUS_DATABASE,\n"
        "                           then database.conninfo of --config, then "
        "libpq's\n"
        "                           PG* environment)\n"
        "  -h, --help               this text\n\n"
        "exit status: 0 every name added or already present, 1 some names "
        "rejected\n"
        "(the others are added) or a database error, 2 usage error\n");
}

struct seed_input {
    struct buf rows; /* COPY rows of valid names */
    size_t valid;
    size_t rejected;
};

static void seed_one(struct seed_input *in, const char *name, const char *file,
                     int line)
{
    char norm[256];
    struct parse_err err;
    if (!queue_domain_normalize(name, norm, &err)) {
        in->rejected++;
        if (file)
            fprintf(stderr, "%s:%d: domain \"%.300s\": %s\n", file, line, name,
                    err.msg);
        else
            fprintf(stderr, "xcensus seed: domain \"%.300s\": %s\n", name,
                    err.msg);
        return;
    }
    buf_puts(&in->rows, norm); /* [a-z0-9.-] only: nothing to escape */
    buf_putc(&in->rows, '\n');
    in->valid++;
}

/* Reads one seed file; false if it cannot be read. */
static bool seed_file(struct seed_input *in, const char *path)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "xcensus seed: could not open \"%s\": %s\n", path,
                strerror(errno));
        return false;
    }
    const char *label = is_stdin ? "<stdin>" : path;
    char line[1100];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof line - 1 && line[l - 1] != '\n') {
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            in->rejected++;
            fprintf(stderr, "%s:%d: line longer than %zu bytes\n", label,
                    lineno, sizeof line - 2);
            continue;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line + strspn(line, " \t\r\n");
        if (*p == '\0')
            continue;
        size_t n = strcspn(p, " \t\r\n");
        char *rest = p + n + strspn(p + n, " \t\r\n");
        p[n] = '\0';
        if (*rest) {
            in->rejected++;
            fprintf(stderr, "%s:%d: more than one name on the line\n", label,
                    lineno);
            continue;
        }
        seed_one(in, p, label, lineno);
    }
    bool ok = !ferror(f);
    if (!ok)
        fprintf(stderr, "xcensus seed: could not read \"%s\"\n", path);
    if (!is_stdin)
        fclose(f);
    return ok;
}

static const char *const scope_words[] = {"seeds", "discovered", "opt-in"};

/* Adds the staged names to crawl; prints the summary. */
static bool seed_apply(struct pg_conn *c, const struct xc_config *cfg,
                       const char *crawl, struct seed_input *in)
{
    struct pg_err err;
    if (!pg_exec(c, "BEGIN", &err))
        goto fail;
    char recrawl[32], maxa[32];
    snprintf(recrawl, sizeof recrawl, "%lld",
             (long long)cfg->crawl.recrawl_interval);
    snprintf(maxa, sizeof maxa, "%lld", (long long)cfg->crawl.max_attempts);
    int scope =
        cfg->crawl.scope >= 0 && cfg->crawl.scope < 3 ? cfg->crawl.scope : 0;
    const char *p1[] = {crawl, scope_words[scope], recrawl};
    bool found = false;
    char *id = pg_query_value(
        c,
        "INSERT INTO crawls (name, scope, recrawl_interval)\n"
        "VALUES ($1, $2, CASE WHEN $3::bigint > 0 THEN $3::bigint * interval "
        "'1 millisecond' END)\n"
        "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        3, p1, &found, &err);
    if (!id)
        goto fail;
    if (!pg_exec(
            c,
            "CREATE TEMP TABLE seed_stage (name text NOT NULL) ON COMMIT DROP",
            &err))
        goto fail_id;
    if (!pg_copy_begin(c, "COPY seed_stage FROM STDIN", &err) ||
        !pg_copy_put(c, buf_str(&in->rows), in->rows.len, &err) ||
        !pg_copy_end(c, &err))
        goto fail_id;
    if (!pg_exec(
            c,
            "INSERT INTO domains (name) SELECT DISTINCT name FROM seed_stage\n"
            "ON CONFLICT (name) DO NOTHING",
            &err))
        goto fail_id;
    /* a discovered job becomes a listed one (it matters to opt-in crawls) */
    const char *p2[] = {id, maxa};
    struct pg_result *r = pg_query(
        c,
        "WITH s AS (SELECT DISTINCT name FROM seed_stage),\n"
        "listed AS (\n"
        "  UPDATE jobs j SET origin = 'seed', updated_at = now()\n"
        "  FROM domains d JOIN s ON s.name = d.name\n"
        "  WHERE j.crawl_id = $1 AND j.domain_id = d.id AND j.origin = "
        "'discovered'\n"
        "  RETURNING 1),\n"
        "ins AS (\n"
        "  INSERT INTO jobs (crawl_id, domain_id, origin, max_attempts)\n"
        "  SELECT $1, d.id, 'seed', $2 FROM domains d JOIN s ON s.name = "
        "d.name\n"
        "  ON CONFLICT (crawl_id, domain_id, kind) DO NOTHING RETURNING "
        "domain_id)\n"
        "SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM ins),\n"
        "  (SELECT count(*) FROM listed),\n"
        "  (SELECT count(*) FROM s WHERE EXISTS (SELECT 1 FROM deny_list x\n"
        "     WHERE x.pattern = s.name OR (x.match = 'suffix'\n"
        "       AND right(s.name, length(x.pattern) + 1) = '.' || x.pattern)))",
        2, p2, &err);
    if (!r)
        goto fail_id;
    long long distinct = strtoll(pg_value(r, 0, 0), NULL, 10);
    long long added = strtoll(pg_value(r, 0, 1), NULL, 10);
    long long listed = strtoll(pg_value(r, 0, 2), NULL, 10);
    long long denied = strtoll(pg_value(r, 0, 3), NULL, 10);
    pg_clear(r);
    if (!pg_exec(c, "COMMIT", &err))
        goto fail_id;
    long long present = (long long)in->valid - added;
    printf("crawl \"%s\": %lld added, %lld already present, %zu rejected\n",
           crawl, added, present, in->rejected);
    if ((long long)in->valid > distinct)
        printf("  (%lld repeated in the input, counted as already present)\n",
               (long long)in->valid - distinct);
    if (listed > 0)
        printf("  %lld discovered domain(s) now listed explicitly\n", listed);
    if (denied > 0)
        printf("  %lld domain(s) match the deny list and will not be crawled\n",
               denied);
    free(id);
    return true;
fail_id:
    free(id);
fail:
    log_error("cannot seed crawl \"%s\": %s", crawl, err.msg);
    return false;
}

int cmd_seed(int argc, char **argv, const struct cli_globals *g)
{
    static const struct option opts[] = {
        {"database", required_argument, NULL, 'd'},
        {"crawl", required_argument, NULL, 'n'},
        {"file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *crawl = NULL;
    const char **files = xcalloc((size_t)argc + 1, sizeof *files);
    size_t nfiles = 0;
    int c;
    while ((c = getopt_long(argc, argv, "d:n:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'n':
            crawl = optarg;
            break;
        case 'f':
            files[nfiles++] = optarg;
            break;
        case 'h':
            free(files);
            seed_usage(stdout);
            return 0;
        default:
            free(files);
            seed_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind == argc && nfiles == 0) {
        free(files);
        fprintf(stderr,
                "xcensus seed: no domains given (DOMAIN... or --file FILE)\n");
        seed_usage(stderr);
        return EXIT_USAGE;
    }
    if (crawl && (crawl[0] == '\0' || strlen(crawl) > 200)) {
        free(files);
        fprintf(stderr, "xcensus seed: crawl name must have 1 to 200 bytes\n");
        return EXIT_USAGE;
    }
    struct seed_input in = {BUF_INIT, 0, 0};
    bool read_ok = true;
    for (size_t i = 0; i < nfiles; i++)
        read_ok = seed_file(&in, files[i]) && read_ok;
    for (int i = optind; i < argc; i++)
        seed_one(&in, argv[i], NULL, 0);
    free(files);
    if (!read_ok) {
        buf_free(&in.rows);
        return 1;
    }
    struct xc_config cfg;
    struct pg_conn *conn = cli_db_open(g, db, &cfg);
    if (!conn) {
        buf_free(&in.rows);
        return 1;
    }
    if (!migrate_require_current(conn)) {
        pg_close(conn);
        xc_config_free(&cfg);
        buf_free(&in.rows);
        return 1;
    }
    if (!crawl)
        crawl = cfg.crawl.name ? cfg.crawl.name : "default";
    bool ok = seed_apply(conn, &cfg, crawl, &in);
    pg_close(conn);
    xc_config_free(&cfg);
    buf_free(&in.rows);
    return ok && in.rejected == 0 ? 0 : 1;
}
