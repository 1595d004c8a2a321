/*
 * `xcensus config`: check a configuration file, show the effective
 * configuration, list every key. The loading and the key table live in
 * lib/ (cfg.c, xc_config.c); this file only parses arguments and prints.
 */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "xc_config.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xcensus config check [--no-secrets] [FILE]\n"
            "       xcensus config show [--no-secrets] [FILE]\n"
            "       xcensus config keys [--markdown]\n\n"
            "check  load FILE (default: the global --config), print \"FILE: "
            "ok\" or\n"
            "       one line per error as FILE:LINE:COL: key \"a.b\": "
            "message\n"
            "show   print the effective configuration (defaults filled in) "
            "as YAML;\n"
            "       secrets appear as the variable or file they come from\n"
            "keys   print every key with its type, default, range and help\n\n"
            "options:\n"
            "  --no-secrets  do not read password_env / password_file "
            "(check elsewhere)\n"
            "  --markdown    keys as a Markdown table (docs/CONFIGURATION.md)\n"
            "  -h, --help    this text\n");
}

/* Parses the options shared by the subcommands; returns the index of the
 * first operand, or -1 after --help (*rc set). */
static int parse_opts(int argc, char **argv, unsigned *flags, bool *markdown,
                      int *rc)
{
    static const struct option opts[] = {
        {"no-secrets", no_argument, NULL, 'n'},
        {"markdown", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            *flags |= CFG_NO_SECRETS;
            break;
        case 'm':
            *markdown = true;
            break;
        case 'h':
            usage(stdout);
            *rc = 0;
            return -1;
        default:
            usage(stderr);
            *rc = EXIT_USAGE;
            return -1;
        }
    }
    return optind;
}

/* Loads path (NULL: defaults); prints the errors and returns false on
 * failure. */
static bool load(const char *path, unsigned flags, struct xc_config *cfg)
{
    struct cfg_errors errs = {0};
    if (xc_config_load(path, cfg, flags, &errs))
        return true;
    cfg_errors_print(&errs, stdout);
    cfg_errors_free(&errs);
    return false;
}

/* `xcensus config check|show|keys`: see usage() above. */
int cmd_config(int argc, char **argv, const struct cli_globals *g)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 ||
        strcmp(sub, "help") == 0) {
        usage(stdout);
        return 0;
    }
    unsigned flags = 0;
    bool markdown = false;
    int rc = 0;
    int first = parse_opts(argc - 1, argv + 1, &flags, &markdown, &rc);
    if (first < 0)
        return rc;
    int nargs = argc - 1 - first;
    char **args = argv + 1 + first;

    if (strcmp(sub, "keys") == 0) {
        if (nargs != 0 || flags) {
            usage(stderr);
            return EXIT_USAGE;
        }
        struct buf b = BUF_INIT;
        cfg_describe(&xc_config_table, markdown, &b);
        fputs(buf_str(&b), stdout);
        buf_free(&b);
        return 0;
    }
    if (strcmp(sub, "check") != 0 && strcmp(sub, "show") != 0) {
        fprintf(stderr, "xcensus config: unrecognized subcommand \"%s\"\n\n",
                sub);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (nargs > 1 || markdown) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *path = nargs == 1 ? args[0] : g->config_path;
    struct xc_config cfg;
    if (strcmp(sub, "check") == 0) {
        if (path == NULL) {
            fprintf(stderr, "xcensus config check: no FILE and no --config\n");
            return EXIT_USAGE;
        }
        if (!load(path, flags, &cfg))
            return 1;
        printf("%s: ok\n", path);
        xc_config_free(&cfg);
        return 0;
    }
    if (!load(path, flags, &cfg))
        return 1;
    struct buf b = BUF_INIT;
    buf_printf(&b, "# effective configuration of %s\n",
               path ? path : "(defaults)");
    cfg_dump_yaml(&xc_config_table, &cfg, &b);
    fputs(buf_str(&b), stdout);
    buf_free(&b);
    xc_config_free(&cfg);
    return 0;
}
