/*
 * How every database command of `xcensus` finds its database: the
 * command's -d/--database CONNINFO, else the environment variable
 * XCENSUS_DATABASE, else database.conninfo of the configuration file given
 * with the global --config (its password from database.password_env or
 * database.password_file), else libpq's own PG* defaults.
 */
#ifndef XC_CLI_DB_H
#define XC_CLI_DB_H

#include "commands.h"
#include "pg.h"

/* Returns a new connection (caller closes with pg_close()), or NULL after
 * printing why on stderr (a bad config file is reported with file:line). */
struct pg_conn *cli_db_connect(const char *flag, const struct cli_globals *g);

/* The conninfo cli_db_connect() would use, as a new string (caller frees),
 * password included; NULL after printing why. */
char *cli_db_conninfo(const char *flag, const struct cli_globals *g);

#endif
