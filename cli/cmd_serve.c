/*
 * `xcensus serve`: the JSON API, /metrics, /healthz and the dashboard over
 * HTTP (server/srv.h) on one libevent loop until SIGINT or SIGTERM. Every
 * database connection of the server gets, through PGOPTIONS, the
 * statement timeout, read-only transactions, UTC and ISO dates. With
 * --openapi or --catalog-markdown it prints the generated API description
 * instead (docs/openapi.json, the query table of docs/API.md).
 */
#include "commands.h"

#include <event2/event.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cli_db.h"
#include "log.h"
#include "srv.h"
#include "xalloc.h"
#include "xc_config.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: xcensus serve [-d CONNINFO] [--listen ADDR] [--port N]\n"
        "                     [--static-dir DIR]\n"
        "       xcensus serve --openapi | --catalog-markdown\n\n"
        "serve the read-only JSON API (/api/v1/), Prometheus metrics "
        "(/metrics),\n"
        "a health check (/healthz) and the dashboard (/) over HTTP until "
        "SIGINT\n"
        "or SIGTERM; docs/API.md describes every route\n\n"
        "options:\n"
        "  -d, --database CONNINFO  libpq conninfo or URI (default: "
        "$XCENSUS_DATABASE,\n"
        "                           then database.conninfo of --config, then "
        "libpq's\n"
        "                           PG* environment)\n"
        "  -l, --listen ADDR        address to bind (default serve.listen, "
        "127.0.0.1)\n"
        "  -p, --port N             TCP port (default serve.port, 8080; 0: "
        "any free port)\n"
        "  -s, --static-dir DIR     dashboard files (default "
        "serve.static_dir, else\n"
        "                           the installed or source tree's "
        "dashboards/web)\n"
        "      --openapi            print the OpenAPI description and exit\n"
        "      --catalog-markdown   print the query table of docs/API.md and "
        "exit\n"
        "  -h, --help               this text\n\n"
        "the first line on stdout is \"xcensus serve: listening on "
        "http://ADDR:PORT/\" once\n"
        "the database connections are up (or after 3 s without them)\n"
        "exit status: 0 stopped by a signal, 1 cannot start, 2 usage error\n");
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The source tree's dashboards when this program lives in the source tree
 * (a build directory), else the installed ones. */
static char *default_static_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *src = realpath(XC_SOURCE_DIR, NULL);
    bool in_tree = false;
    if (n > 0 && src) {
        exe[n] = '\0';
        size_t sl = strlen(src);
        in_tree = strncmp(exe, src, sl) == 0 && exe[sl] == '/';
    }
    free(src);
    char *tree = xasprintf("%s/dashboards/web", XC_SOURCE_DIR);
    char *inst = xasprintf("%s/dashboards/web", XC_DATADIR);
    char *pick = NULL;
    if (in_tree && is_dir(tree))
        pick = tree;
    else if (is_dir(inst))
        pick = inst;
    else if (is_dir(tree))
        pick = tree;
    pick = pick ? xstrdup(pick) : NULL;
    free(tree);
    free(inst);
    return pick;
}

/* Session settings of every connection of the server. */
static void set_pgoptions(int64_t statement_timeout_ms)
{
    const char *old = getenv("PGOPTIONS");
    char *opts = xasprintf("%s%s-c statement_timeout=%lld "
                           "-c default_transaction_read_only=on "
                           "-c TimeZone=UTC -c DateStyle=ISO,YMD",
                           old ? old : "", old ? " " : "",
                           (long long)statement_timeout_ms);
    setenv("PGOPTIONS", opts, 1);
    free(opts);
    if (!getenv("PGAPPNAME"))
        setenv("PGAPPNAME", "xcensus-serve", 1);
}

struct stop {
    struct event_base *base;
    int signo;
};

/* What the first stdout line needs once the database pool is ready. */
struct announce {
    const char *listen;
    struct srv *s;
};

static void on_ready(void *arg)
{
    struct announce *a = arg;
    bool v6 = strchr(a->listen, ':') != NULL;
    printf("xcensus serve: listening on http://%s%s%s:%d/\n", v6 ? "[" : "",
           a->listen, v6 ? "]" : "", srv_port(a->s));
    fflush(stdout);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct stop *st = arg;
    st->signo = (int)sig;
    event_base_loopexit(st->base, NULL);
}

/* xcensus serve [options]; see usage(). */
int cmd_serve(int argc, char **argv, const struct cli_globals *g)
{
    enum { OPT_OPENAPI = 256, OPT_CATALOG_MD };
    static const struct option opts[] = {
        {"database", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"port", required_argument, NULL, 'p'},
        {"static-dir", required_argument, NULL, 's'},
        {"openapi", no_argument, NULL, OPT_OPENAPI},
        {"catalog-markdown", no_argument, NULL, OPT_CATALOG_MD},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *listen = NULL, *static_dir = NULL;
    long port = -1;
    int c;
    while ((c = getopt_long(argc, argv, "d:l:p:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'p': {
            char *end;
            port = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || port < 0 || port > 65535) {
                fprintf(stderr, "xcensus serve: bad port \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case 's':
            static_dir = optarg;
            break;
        case OPT_OPENAPI:
        case OPT_CATALOG_MD: {
            char *text =
                c == OPT_OPENAPI ? srv_openapi() : srv_catalog_markdown();
            fputs(text, stdout);
            free(text);
            return 0;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "xcensus serve: unexpected argument \"%s\"\n",
                argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }

    struct xc_config cfg;
    struct cfg_errors errs = {0};
    if (!xc_config_load(g->config_path, &cfg, 0, &errs)) {
        cfg_errors_print(&errs, stderr);
        cfg_errors_free(&errs);
        return 1;
    }
    cfg_errors_free(&errs);
    if (!g->log_level_set)
        log_max_level = (enum log_level)cfg.log.level;
    const char *conninfo = cli_db_resolve(g, db, &cfg);
    set_pgoptions(cfg.serve.statement_timeout);
    char *sdir = static_dir             ? xstrdup(static_dir)
                 : cfg.serve.static_dir ? xstrdup(cfg.serve.static_dir)
                                        : default_static_dir();

    struct srv_options o = {
        .listen = listen ? listen : cfg.serve.listen,
        .port = port >= 0 ? (int)port : (int)cfg.serve.port,
        .conninfo = conninfo ? conninfo : "",
        .static_dir = sdir,
        .max_connections = cfg.serve.max_connections,
        .max_header_bytes = cfg.serve.max_header_bytes,
        .max_body_bytes = cfg.serve.max_body_bytes,
        .request_timeout = cfg.serve.request_timeout,
        .statement_timeout = cfg.serve.statement_timeout,
        .db_connections = cfg.serve.db_connections,
        .max_pending = cfg.serve.max_pending,
        .page_size_max = cfg.serve.page_size_max,
        .cache_ttl = cfg.serve.cache_ttl,
        .cache_max_bytes = cfg.serve.cache_max_bytes,
    };
    struct announce ann = {o.listen, NULL};
    o.ready = on_ready;
    o.ready_arg = &ann;
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    char err[256];
    struct srv *s = srv_new(base, &o, err, sizeof err);
    int rc = 0;
    if (!s) {
        log_error("%s", err);
        rc = 1;
    } else {
        struct stop st = {base, 0};
        struct event *sigint = evsignal_new(base, SIGINT, on_signal, &st);
        struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, &st);
        event_add(sigint, NULL);
        event_add(sigterm, NULL);
        ann.s = s;
        log_info("serving %s; static files from %s", o.listen,
                 sdir ? sdir : "(none)");
        event_base_dispatch(base);
        log_info("stopping (%s)", st.signo == SIGINT    ? "SIGINT"
                                  : st.signo == SIGTERM ? "SIGTERM"
                                                        : "loop ended");
        event_free(sigint);
        event_free(sigterm);
        srv_free(s);
    }
    event_base_free(base);
    free(sdir);
    xc_config_free(&cfg);
    return rc;
}
