/*
 * `xcensus export --snapshot DIR`: writes a versioned, citable dataset
 * snapshot of the census database (lib/snapshot.h, docs/SNAPSHOTS.md).
 * `xcensus import snapshot DIR` (cmd_import.c) reads it back.
 */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_db.h"
#include "migrate.h"
#include "pg.h"
#include "snapshot.h"
#include "xalloc.h"

#define EXPORT_LIST_MAX 64 /* most --source or --author options */

static void export_usage(FILE *f)
{
    fprintf(
        f,
        "usage: xcensus export --snapshot DIR [-d CONNINFO] [--source NAME "
        "...]\n"
        "                      [--force] [--title TEXT] [--author NAME ...] "
        "[-q]\n\n"
        "write a versioned, citable dataset snapshot: every dataset table as "
        "CSV\n"
        "(RFC 4180) and JSON Lines, manifest.json (format, xcensus and "
        "schema\n"
        "versions, sources and crawl runs, row counts, SHA-256 of every "
        "file, method\n"
        "and privacy notes), README.md, CITATION.cff and SHA256SUMS, read "
        "in one\n"
        "consistent transaction; the job queue and other operational state "
        "are not\n"
        "part of it (docs/SNAPSHOTS.md)\n\n"
        "options:\n"
        "  -o, --snapshot DIR       directory to create (must be absent or "
        "empty)\n"
        "  -d, --database CONNINFO  libpq conninfo or URI (default: "
        "$XCENSUS_DATABASE,\n"
        "                           then database.conninfo of --config, then "
        "libpq's\n"
        "                           PG* environment)\n"
        "  -s, --source NAME        only this source and what it references "
        "(repeat\n"
        "                           for several; default: every source)\n"
        "  -f, --force              replace a non-empty DIR that holds only "
        "files\n"
        "  -t, --title TEXT         dataset title (README.md, "
        "CITATION.cff)\n"
        "  -a, --author NAME        CITATION.cff author (repeatable)\n"
        "  -q, --quiet              no summary\n"
        "  -h, --help               this text\n\n"
        "load it with: xcensus import snapshot DIR -d CONNINFO\n\n"
        "exit status: 0 written, 1 failed (nothing is left behind), 2 usage "
        "error\n");
}

/* Parses the options of `export`; runs the export. */
int cmd_export(int argc, char **argv, const struct cli_globals *g)
{
    static const struct option opts[] = {
        {"snapshot", required_argument, NULL, 'o'},
        {"database", required_argument, NULL, 'd'},
        {"source", required_argument, NULL, 's'},
        {"force", no_argument, NULL, 'f'},
        {"title", required_argument, NULL, 't'},
        {"author", required_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    const char *sources[EXPORT_LIST_MAX], *authors[EXPORT_LIST_MAX];
    struct snapshot_export_opts o = {0};
    bool quiet = false;
    int c;
    while ((c = getopt_long(argc, argv, "o:d:s:ft:a:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o.dir = optarg;
            break;
        case 'd':
            db = optarg;
            break;
        case 's':
        case 'a': {
            size_t *n = c == 's' ? &o.nsources : &o.nauthors;
            const char **list = c == 's' ? sources : authors;
            if (*n >= EXPORT_LIST_MAX || optarg[0] == '\0' ||
                strlen(optarg) > 200) {
                fprintf(stderr,
                        "xcensus export: at most %d --%s options of "
                        "1 to 200 bytes\n",
                        EXPORT_LIST_MAX, c == 's' ? "source" : "author");
                return EXIT_USAGE;
            }
            list[(*n)++] = optarg;
            break;
        }
        case 'f':
            o.force = true;
            break;
        case 't':
            if (optarg[0] == '\0' || strlen(optarg) > 200) {
                fprintf(stderr,
                        "xcensus export: --title must have 1 to 200 bytes\n");
                return EXIT_USAGE;
            }
            o.title = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            export_usage(stdout);
            return 0;
        default:
            export_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!o.dir || optind != argc) {
        export_usage(stderr);
        return EXIT_USAGE;
    }
    o.sources = o.nsources ? sources : NULL;
    o.authors = o.nauthors ? authors : NULL;

    int rc = 1;
    struct pg_conn *conn = cli_db_connect(db, g);
    if (conn && migrate_require_current(conn)) {
        struct snapshot_stats st;
        if (snapshot_export(conn, &o, &st, stderr)) {
            rc = 0;
            if (!quiet)
                printf("%s: %zu tables, %lld rows, %lld bytes of data (%lld "
                       "in all) in %.3f s\ndata digest sha256:%s\n",
                       o.dir, st.tables, st.rows, st.bytes, st.total_bytes,
                       st.seconds, st.data_digest);
        }
    }
    pg_close(conn);
    return rc;
}
