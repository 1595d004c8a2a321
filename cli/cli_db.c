/*
 * Database connection settings for command-line commands.
 */
#include "cli_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "xalloc.h"
#include "xc_config.h"

/* Appends " password='...'" with libpq's quoting (\ and ' escaped). */
static void append_password(struct buf *b, const char *pw)
{
    buf_puts(b, " password='");
    for (const char *p = pw; *p; p++) {
        if (*p == '\\' || *p == '\'')
            buf_putc(b, '\\');
        buf_putc(b, *p);
    }
    buf_putc(b, '\'');
}

char *cli_db_conninfo(const char *flag, const struct cli_globals *g)
{
    const char *chosen = pg_conninfo_resolve(flag, NULL);
    if (*chosen || g == NULL || g->config_path == NULL)
        return xstrdup(chosen);
    struct xc_config cfg;
    struct cfg_errors errs = {0};
    if (!xc_config_load(g->config_path, &cfg, 0, &errs)) {
        cfg_errors_print(&errs, stderr);
        cfg_errors_free(&errs);
        return NULL;
    }
    cfg_errors_free(&errs);
    struct buf b = BUF_INIT;
    buf_puts(&b, cfg.database.conninfo ? cfg.database.conninfo : "");
    const char *pw = cfg.database.password.value;
    if (pw && *pw) {
        if (strstr(buf_str(&b), "://")) {
            fprintf(stderr, "xcensus: %s: database.conninfo must be in "
                            "key=value form when a password is configured\n",
                    g->config_path);
            xc_config_free(&cfg);
            buf_free(&b);
            return NULL;
        }
        append_password(&b, pw);
    }
    xc_config_free(&cfg);
    return buf_steal(&b);
}

struct pg_conn *cli_db_connect(const char *flag, const struct cli_globals *g)
{
    char *conninfo = cli_db_conninfo(flag, g);
    if (conninfo == NULL)
        return NULL;
    struct pg_conn *c = pg_connect(conninfo);
    explicit_bzero(conninfo, strlen(conninfo));
    free(conninfo);
    return c;
}
