/*
 * xcensus analyze: the caps cache of chosen sources measured (analyzer/),
 * stored in analysis_runs, and written as a report.
 */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "capsmodel.h"
#include "cli_db.h"
#include "xalloc.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xcensus analyze [--source NAME]... [--report DIR] [--json]\n"
            "                       [--presences N] [--rate R] [--seed S]\n"
            "                       [--roster N] [--online F] [--rooms N] [--room-size N]\n"
            "                       [--no-store] [--xml-loader] [-d CONNINFO]\n\n"
            "Measures the caps cache of the verified entries observed in the\n"
            "given sources (default: every source): dataset, sizes in the\n"
            "representations real software uses, the entries that exist only\n"
            "because of XEP-0232 forms, and the hit rate of the caches real\n"
            "servers keep, replaying a presence stream. The result is stored in\n"
            "the table analysis_runs (unless --no-store) and, with --report,\n"
            "written as DIR/report.md, DIR/analysis.json and CSV files. What the\n"
            "loader works out from XEP-0232 forms it meets for the first time is\n"
            "kept in the database for later analyses (softinfo_derived).\n\n"
            "  -s, --source NAME   a source to include (repeatable)\n"
            "  -r, --report DIR    write the report into DIR (created)\n"
            "      --json          print every figure as JSON on stdout\n"
            "      --presences N   length of the replayed stream (1000000)\n"
            "      --rate R        presences per second in the stream (100)\n"
            "      --seed S        seed of the stream (1)\n"
            "      --no-store      do not record the run in the database\n"
            "      --xml-loader    load by parsing every stored disco#info again\n"
            "                      (slow; the reference the default loader, which\n"
            "                      reads the normalised tables, is checked against)\n"
            "      --roster N      contacts per user, for the PEP comparison (50)\n"
            "      --online F      share of contacts online (0.3)\n"
            "      --rooms N       rooms joined per login (3)\n"
            "      --room-size N   occupants per room (30)\n"
            "  -d, --database C    PostgreSQL conninfo (else XCENSUS_DATABASE,\n"
            "                      else database.conninfo of --config)\n"
            "  -h, --help          this text\n\n"
            "exit status: 0 done, 1 failed, 2 usage error\n");
}

int cmd_analyze(int argc, char **argv, const struct cli_globals *g)
{
    static const struct option opts[] = {
        {"source", required_argument, NULL, 's'},
        {"report", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"presences", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'R'},
        {"seed", required_argument, NULL, 'S'},
        {"no-store", no_argument, NULL, 'N'},
        {"xml-loader", no_argument, NULL, 'X'},
        {"roster", required_argument, NULL, 'o'},
        {"online", required_argument, NULL, 'O'},
        {"rooms", required_argument, NULL, 'm'},
        {"room-size", required_argument, NULL, 'z'},
        {"database", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **sources = xcalloc((size_t)argc + 1, sizeof *sources);
    struct analysis_params p = {.presences = 1000000, .rate = 100, .seed = 1,
                                .roster = 50, .online = 0.3, .rooms = 3,
                                .room_size = 30};
    const char *report = NULL, *db = NULL;
    bool json = false, store = true, xml_loader = false;
    int c, rc = 1;
    char *end;
    while ((c = getopt_long(argc, argv, "s:r:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sources[p.n_sources++] = optarg;
            break;
        case 'r':
            report = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'n':
            p.presences = strtoull(optarg, &end, 10);
            if (*end || p.presences == 0 || p.presences > 1000000000ULL)
                goto bad;
            break;
        case 'R':
            p.rate = strtod(optarg, &end);
            if (*end || !(p.rate > 0 && p.rate <= 1e9))
                goto bad;
            break;
        case 'S':
            p.seed = strtoull(optarg, &end, 10);
            if (*end)
                goto bad;
            break;
        case 'N':
            store = false;
            break;
        case 'X':
            xml_loader = true;
            break;
        case 'o':
        case 'm':
        case 'z': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v > 100000)
                goto bad;
            *(c == 'o' ? &p.roster : c == 'm' ? &p.rooms : &p.room_size) = (unsigned)v;
            break;
        }
        case 'O':
            p.online = strtod(optarg, &end);
            if (*end || !(p.online >= 0 && p.online <= 1))
                goto bad;
            break;
        case 'd':
            db = optarg;
            break;
        case 'h':
            usage(stdout);
            free(sources);
            return 0;
        default:
            goto usage_err;
        }
    }
    if (optind != argc)
        goto usage_err;
    p.sources = sources;

    struct pg_conn *conn = cli_db_connect(db, g);
    if (conn == NULL) {
        free(sources);
        return 1;
    }
    struct capsmodel *m = capsmodel_new();
    struct pg_err err = {0};
    json_t *res = NULL;
    long rows = xml_loader ? analysis_load_xml(conn, &p, m, &err)
                           : analysis_load(conn, &p, m, &err);
    if (rows < 0) {
        fprintf(stderr, "xcensus: could not load caps entries: %s\n", err.msg);
        goto out;
    }
    if (capsmodel_count(m) == 0) {
        fprintf(stderr, "xcensus: no verified caps entries in %s\n",
                p.n_sources ? "these sources" : "the database");
        goto out;
    }
    res = analysis_run(conn, &p, m, &err);
    if (res == NULL) {
        fprintf(stderr, "xcensus: analysis failed: %s\n", err.msg);
        goto out;
    }
    if (store) {
        long long id = analysis_store(conn, &p, res, &err);
        if (id < 0) {
            fprintf(stderr, "xcensus: could not store the analysis: %s\n", err.msg);
            goto out;
        }
        json_object_set_new(json_object_get(res, "meta"), "analysis_run_id",
                            json_integer(id));
    }
    if (report && !analysis_write_report(report, res))
        goto out;
    if (json) {
        json_dumpf(res, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
        fputc('\n', stdout);
    } else {
        json_t *ds = json_object_get(res, "dataset");
        json_t *cf = json_object_get(res, "xep0232");
        printf("entries: %lld (by algorithm+ver), %lld node#ver keys, %lld "
               "caps nodes, %lld distinct features\n",
               (long long)json_integer_value(json_object_get(ds, "entries")),
               (long long)json_integer_value(json_object_get(ds, "nodever_keys")),
               (long long)json_integer_value(json_object_get(ds, "software_nodes")),
               (long long)json_integer_value(json_object_get(ds, "distinct_features")));
        printf("XEP-0232: %lld entries carry a form; without it %lld entries "
               "instead of %lld\n",
               (long long)json_integer_value(json_object_get(ds, "entries_with_xep0232")),
               (long long)json_integer_value(json_object_get(cf, "entries_without")),
               (long long)json_integer_value(json_object_get(cf, "entries_with")));
        if (report)
            printf("report: %s/report.md\n", report);
    }
    rc = 0;
out:
    json_decref(res);
    capsmodel_free(m);
    pg_close(conn);
    free(sources);
    return rc;
bad:
    fprintf(stderr, "xcensus analyze: bad value \"%s\"\n", optarg);
usage_err:
    usage(stderr);
    free(sources);
    return EXIT_USAGE;
}
