/*
 * `xcensus import capsdb FILE.jsonl [--source NAME]`: loads an existing
 * caps collection as a named source (see lib/capsdb.h).
 * `xcensus import snapshot DIR`: loads a dataset snapshot written by
 * `xcensus export --snapshot` into an empty database (lib/snapshot.h).
 */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "capsdb.h"
#include "cli_db.h"
#include "common.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "snapshot.h"

static void import_usage(FILE *f)
{
    fprintf(
        f,
        "usage: xcensus import capsdb [-d CONNINFO] [--source NAME] "
        "FILE.jsonl\n"
        "       xcensus import snapshot [-d CONNINFO] [--verify-only] DIR "
        "(see\n"
        "       xcensus import snapshot --help)\n\n"
        "load a caps collection in the capsdb JSON Lines format (one object "
        "per\n"
        "line: node, ver, hash, disco_info_xml, optional source and "
        "well_formed):\n"
        "every entry is parsed, verified (XEP-0115 section 5.4) and stored "
        "with its\n"
        "outcome and normalized content, in one transaction, as the named "
        "source;\n"
        "importing the same file again adds nothing\n\n"
        "options:\n"
        "  -d, --database CONNINFO  libpq conninfo or URI (default: "
        "$XCENSUS_DATABASE,\n"
        "                           then database.conninfo of --config, then "
        "libpq's\n"
        "                           PG* environment)\n"
        "  -s, --source NAME        source name (default: the file name "
        "without its\n"
        "                           extension, e.g. \"capsdb\")\n"
        "  -q, --quiet              no summary\n"
        "  -h, --help               this text\n\n"
        "a bad line (bad JSON, missing field, unparsable XML) is reported on "
        "stderr as\n"
        "FILE:LINE: message and skipped; the other lines are still imported\n\n"
        "exit status: 0 every line imported, 1 some lines skipped or the "
        "import\n"
        "failed (then nothing is stored), 2 usage error\n");
}

static void print_summary(const char *path, const char *source,
                          const struct capsdb_stats *st)
{
    printf("%s: read %zu, imported %zu, skipped %zu lines into source \"%s\" "
           "in %.3f s\n",
           path, st->read, st->imported, st->skipped, source, st->seconds);
    printf("added: %lld caps entries, %lld disco contents, %lld features, "
           "%lld observation rows\n",
           st->new_entries, st->new_contents, st->new_features,
           st->observations);
    printf("outcomes:");
    for (int o = 0; o < CAPS_OUTCOME__COUNT; o++)
        if (st->outcomes[o])
            printf(" %s %zu", caps_outcome_name((enum caps_outcome)o),
                   st->outcomes[o]);
    printf("\nmatched by:");
    for (int m = 0; m < CAPS_M__COUNT; m++)
        if (st->matched[m])
            printf(" %s %zu", caps_method_name((enum caps_method)m),
                   st->matched[m]);
    if (st->unmatched)
        printf(" none %zu", st->unmatched);
    printf("\n");
    if (st->disagree)
        printf("%zu line(s) carry a well_formed flag that contradicts the "
               "verdict\n",
               st->disagree);
}

static int import_capsdb(int argc, char **argv, const struct cli_globals *g)
{
    static const struct option opts[] = {
        {"database", required_argument, NULL, 'd'},
        {"source", required_argument, NULL, 's'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *source = NULL;
    bool quiet = false;
    int c;
    while ((c = getopt_long(argc, argv, "d:s:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 's':
            source = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            import_usage(stdout);
            return 0;
        default:
            import_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        import_usage(stderr);
        return EXIT_USAGE;
    }
    const char *path = argv[optind];
    if (source && (source[0] == '\0' || strlen(source) > 200)) {
        fprintf(stderr,
                "xcensus import: source name must have 1 to 200 bytes\n");
        return EXIT_USAGE;
    }
    char *def = source ? NULL : capsdb_default_source(path);
    if (!source)
        source = def;

    int rc = 1;
    struct pg_conn *conn = cli_db_connect(db, g);
    if (conn && migrate_require_current(conn)) {
        struct capsdb_stats st;
        enum capsdb_result res = capsdb_import(conn, path, source, stderr, &st);
        if (res != CAPSDB_FAILED) {
            if (!quiet)
                print_summary(path, source, &st);
            rc = res == CAPSDB_IMPORTED ? 0 : 1;
        }
    }
    pg_close(conn);
    free(def);
    return rc;
}

static void snapshot_usage(FILE *f)
{
    fprintf(
        f,
        "usage: xcensus import snapshot [-d CONNINFO] [--verify-only] [-q] "
        "DIR\n\n"
        "load a dataset snapshot written by `xcensus export --snapshot` into "
        "an\n"
        "empty database: the manifest and the size, SHA-256, structure and "
        "row\n"
        "count of every file are checked first (the snapshot is untrusted "
        "input),\n"
        "then the database is migrated and every table loaded with COPY in "
        "one\n"
        "transaction; a database that holds any row, a snapshot of a newer "
        "or\n"
        "different schema and any bad file are refused\n\n"
        "options:\n"
        "  -d, --database CONNINFO  libpq conninfo or URI (default: "
        "$XCENSUS_DATABASE,\n"
        "                           then database.conninfo of --config, then "
        "libpq's\n"
        "                           PG* environment)\n"
        "  -n, --verify-only        check the snapshot, touch no database\n"
        "  -q, --quiet              no summary\n"
        "  -h, --help               this text\n\n"
        "problems are reported on stderr as FILE:LINE: reason or FILE: "
        "reason\n\n"
        "exit status: 0 loaded (or verified), 1 refused or failed (nothing "
        "is\n"
        "loaded), 2 usage error\n");
}

static int import_snapshot(int argc, char **argv, const struct cli_globals *g)
{
    static const struct option opts[] = {
        {"database", required_argument, NULL, 'd'},
        {"verify-only", no_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    bool quiet = false, verify_only = false;
    int c;
    while ((c = getopt_long(argc, argv, "d:nqh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'n':
            verify_only = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            snapshot_usage(stdout);
            return 0;
        default:
            snapshot_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        snapshot_usage(stderr);
        return EXIT_USAGE;
    }
    const char *dir = argv[optind];
    struct snapshot_stats st;
    if (verify_only) {
        if (!snapshot_verify(dir, &st, stderr))
            return 1;
        if (!quiet)
            printf("%s: %zu tables, %lld rows, %lld bytes: verified in %.3f "
                   "s\n",
                   dir, st.tables, st.rows, st.total_bytes, st.seconds);
        return 0;
    }
    int rc = 1; /* snapshot_import() verifies before it changes anything */
    struct pg_conn *conn = cli_db_connect(db, g);
    if (conn && snapshot_import(conn, dir, &st, stderr)) {
        rc = 0;
        if (!quiet)
            printf("%s: loaded %zu tables, %lld rows (%lld bytes of CSV and "
                   "JSON Lines verified in %.3f s) in %.3f s\n",
                   dir, st.tables, st.rows, st.bytes, st.verify_seconds,
                   st.seconds);
    }
    pg_close(conn);
    return rc;
}

int cmd_import(int argc, char **argv, const struct cli_globals *g)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        import_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "capsdb") == 0)
        return import_capsdb(argc - 1, argv + 1, g);
    if (strcmp(argv[1], "snapshot") == 0)
        return import_snapshot(argc - 1, argv + 1, g);
    fprintf(stderr,
            "xcensus import: unrecognized format \"%s\" (known: capsdb, "
            "snapshot)\n",
            argv[1]);
    return EXIT_USAGE;
}
