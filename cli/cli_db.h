/*
 * How every database command of `xcensus` finds its database: the
 * command's -d/--database CONNINFO, else the environment variable
 * XCENSUS_DATABASE, else database.conninfo of the configuration file given
 * with the global --config, else libpq's own PG* defaults. A password
 * configured with database.password_env or database.password_file reaches
 * libpq through PGPASSWORD, which works with both conninfo forms (key=value
 * and URI) and for every connection the process opens.
 */
#ifndef XC_CLI_DB_H
#define XC_CLI_DB_H

#include "commands.h"
#include "pg.h"

struct xc_config;

/* Loads the configuration (--config, or the defaults) into *cfg and
 * connects. Returns the connection (caller closes with pg_close() and frees
 * cfg with xc_config_free()), or NULL after printing why (cfg then holds
 * nothing; a bad file is reported with file:line:col). */
struct pg_conn *cli_db_open(const struct cli_globals *g, const char *flag,
                            struct xc_config *cfg);

/* Connects without keeping the configuration. */
struct pg_conn *cli_db_connect(const char *flag, const struct cli_globals *g);

/* The conninfo to use with an already loaded cfg (borrowed from flag, the
 * environment or cfg), with the configured password exported for libpq. */
const char *cli_db_resolve(const struct cli_globals *g, const char *flag,
                           const struct xc_config *cfg);

#endif
