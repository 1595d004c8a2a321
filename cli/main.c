/*
 * xcensus: a census of the XMPP network. This file only dispatches to the
 * subcommands (git style) and handles the options every command shares.
 */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv, const struct cli_globals *g);
    const char *summary;
};

static const struct command commands[] = {
    {"caps", cmd_caps, "verify entity-capabilities hashes (caps verify)"},
    {"config", cmd_config, "check a configuration file (config check)"},
    {"migrate", cmd_migrate, "apply pending database migrations"},
    {"import", cmd_import, "load caps collections and snapshots (import capsdb, snapshot)"},
    {"query", cmd_query, "print one of the statistics views"},
    {"analyze", cmd_analyze, "measure the caps cache and write the report"},
    {"seed", cmd_seed, "add domains to a crawl"},
    {"status", cmd_status, "show the job queue of each crawl"},
    {"crawl", cmd_crawl, "run a crawler process on a crawl"},
    {"probe", cmd_probe, "pre-login stream and TLS probe of domains"},
    {"serve", cmd_serve, "serve the JSON API, metrics and dashboard over HTTP"},
    {"export", cmd_export, "write a citable dataset snapshot (export --snapshot)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: xcensus [--config FILE] [--log-level LEVEL] COMMAND [ARGS]\n"
               "       xcensus COMMAND --help\n\n"
               "a census of the XMPP network\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "version", "print the version");
    fprintf(f, "\noptions:\n"
               "  -c, --config FILE      YAML configuration (see config/xcensus.example.yaml)\n"
               "  -l, --log-level LEVEL  error, warn, info (default) or debug\n"
               "  -h, --help             this text\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli_globals g = {0};
    int c;

    /* '+': stop at the command name, the rest belongs to the command */
    while ((c = getopt_long(argc, argv, "+c:l:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            g.config_path = optarg;
            break;
        case 'l':
            g.log_level_set = true;
            if (!log_level_parse(optarg, &log_max_level)) {
                fprintf(stderr, "xcensus: unrecognized log level \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("xcensus %s\n", XC_VERSION);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "version") == 0) {
        printf("xcensus %s\n", XC_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
        if (strcmp(name, commands[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* full getopt reset for the command */
            return commands[i].run(sub_argc, sub_argv, &g);
        }
    }
    fprintf(stderr, "xcensus: unrecognized command \"%s\"\n\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
