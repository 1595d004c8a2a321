/*
 * The subcommands of `xcensus`. Each family lives in its own cmd_*.c and is
 * listed in the table in main.c. A command gets argv with argv[0] set to its
 * own name (e.g. "caps"), parses its options with getopt_long, answers
 * --help (and -h) on stdout with exit 0, and returns the process exit code:
 *   0 success, 1 failure (the command ran and found a problem),
 *   2 usage error (bad arguments, message on stderr).
 */
#ifndef XC_COMMANDS_H
#define XC_COMMANDS_H

#include <stdbool.h>

/* Options given before the command name, shared by every command. */
struct cli_globals {
    const char *config_path; /* --config FILE, or NULL */
    bool log_level_set;      /* --log-level given: overrides log.level */
};

enum { EXIT_USAGE = 2 };

int cmd_caps(int argc, char **argv, const struct cli_globals *g);    /* cmd_caps.c */
int cmd_config(int argc, char **argv, const struct cli_globals *g);  /* cmd_config.c */
int cmd_migrate(int argc, char **argv, const struct cli_globals *g); /* cmd_db.c */
int cmd_import(int argc, char **argv, const struct cli_globals *g);  /* cmd_import.c */
int cmd_query(int argc, char **argv, const struct cli_globals *g);   /* cmd_db.c */
int cmd_analyze(int argc, char **argv, const struct cli_globals *g); /* cmd_analyze.c */
int cmd_seed(int argc, char **argv, const struct cli_globals *g);    /* cmd_seed.c */
int cmd_status(int argc, char **argv, const struct cli_globals *g);  /* cmd_status.c */
int cmd_crawl(int argc, char **argv, const struct cli_globals *g);   /* cmd_crawl.c */
int cmd_probe(int argc, char **argv, const struct cli_globals *g);   /* cmd_probe.c */
int cmd_serve(int argc, char **argv, const struct cli_globals *g);   /* cmd_serve.c */
int cmd_export(int argc, char **argv, const struct cli_globals *g);  /* cmd_export.c */

#endif
