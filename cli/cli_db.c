/*
 * Database connection settings for command-line commands.
 */
#include "cli_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "xalloc.h"
#include "xc_config.h"

/* Loads the configuration into *cfg (defaults without --config); false
 * after printing the errors. */
static bool load(const struct cli_globals *g, struct xc_config *cfg)
{
    struct cfg_errors errs = {0};
    bool ok = xc_config_load(g ? g->config_path : NULL, cfg, 0, &errs);
    if (!ok)
        cfg_errors_print(&errs, stderr);
    cfg_errors_free(&errs);
    return ok;
}

const char *cli_db_resolve(const struct cli_globals *g, const char *flag,
                           const struct xc_config *cfg)
{
    if (cfg->database.password.value)
        setenv("PGPASSWORD", cfg->database.password.value, 1);
    return pg_conninfo_resolve(flag, g && g->config_path ? cfg->database.conninfo
                                                         : NULL);
}

struct pg_conn *cli_db_open(const struct cli_globals *g, const char *flag,
                            struct xc_config *cfg)
{
    if (!load(g, cfg))
        return NULL;
    struct pg_conn *c = pg_connect(cli_db_resolve(g, flag, cfg));
    if (c == NULL)
        xc_config_free(cfg);
    return c;
}

struct pg_conn *cli_db_connect(const char *flag, const struct cli_globals *g)
{
    struct xc_config cfg;
    struct pg_conn *c = cli_db_open(g, flag, &cfg);
    if (c)
        xc_config_free(&cfg);
    return c;
}
