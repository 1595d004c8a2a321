/*
 * xcensus crawl: one crawler process. It reads the configuration, logs in
 * with every account, and runs the crawl engine (crawler/engine) on one
 * libevent loop until stopped (SIGINT/SIGTERM: finish the jobs in flight,
 * commit every result, close the run; a second signal abandons the jobs in
 * flight, whose leases expire) or, with --exit-when-done, until the crawl
 * has no job left. SIGHUP reloads the configuration (a bad file keeps the
 * running one).
 */
#include "commands.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capscache.h"
#include "census.h"
#include "census_store.h"
#include "cfg.h"
#include "cli_db.h"
#include "direct.h"
#include "direct_store.h"
#include "log.h"
#include "pgasync.h"
#include "queue.h"
#include "resolve.h"
#include "engine.h"
#include "session.h"
#include "store.h"
#include "strophe_ev.h"
#include "tlsctx.h"
#include "xalloc.h"
#include "xc_config.h"

struct crawl {
    struct event_base *base;
    const char *config_path;
    struct xc_config cfg;
    struct engine *engine;
    int signals;
    bool ok;
};

/* Follow-up work after each domain's own probe: the client census of the
 * MUC services it found (census.enabled), one census per account session
 * (a census owns its session's presence stream), one caps cache shared by
 * all so that every hash is resolved once per process. */
struct followups {
    struct direct *direct;  /* direct.enabled: stream/TLS probes */
    struct direct_store *ds;
    struct census_store cs;
    struct capscache *cache;
    struct census **census; /* parallel to sessions */
    struct session **sessions;
    size_t n;
};

struct followup_op {
    void *token;
    engine_followup_done_cb done;
};

static void on_census_done(void *arg, const struct census_service_result *r)
{
    struct followup_op *o = arg;
    log_info("census of %s: %zu room(s) listed, %zu joined, %zu presences",
             r->service, r->rooms_listed, r->rooms_joined, r->presences);
    o->done(o->token);
    free(o);
}

static void on_direct_done(void *arg, const struct direct_domain_result *r)
{
    struct followup_op *o = arg;
    log_debug("direct probe of %s: %zu connection(s), %zu ok", r->domain,
              r->connections, r->ok);
    o->done(o->token);
    free(o);
}

static size_t followup_start(void *arg, struct session *s, const char *domain,
                             int64_t domain_id, int64_t source_id,
                             const char *const *muc,
                             size_t n_muc, void *token,
                             engine_followup_done_cb done)
{
    struct followups *f = arg;
    f->cs.source_id = source_id; /* this process's run */
    size_t started = 0;
    if (f->direct) {
        struct followup_op *o = xmalloc(sizeof *o);
        o->token = token;
        o->done = done;
        if (direct_store_probe(f->ds, f->direct, domain, domain_id, source_id,
                               on_direct_done, o))
            started++;
        else
            free(o);
    }
    for (size_t k = 0; f->census && k < f->n; k++) {
        if (f->sessions[k] != s || f->census[k] == NULL)
            continue;
        for (size_t i = 0; i < n_muc; i++) {
            struct followup_op *o = xmalloc(sizeof *o);
            o->token = token;
            o->done = done;
            census_service(f->census[k], muc[i], on_census_done, o);
            started++;
        }
    }
    return started;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xcensus [--config FILE] crawl [--crawl NAME] [--exit-when-done]\n"
            "                                     [-d CONNINFO]\n\n"
            "Runs one crawler process on the named crawl (crawl.name of the\n"
            "configuration unless --crawl): claims jobs from the queue shared by\n"
            "every crawler process of the crawl, probes each domain through the\n"
            "configured accounts, and stores the results. Any number of processes\n"
            "on any number of machines may work on one crawl.\n\n"
            "  -n, --crawl NAME       the crawl to work on\n"
            "  -x, --exit-when-done   stop when the crawl has no job left\n"
            "  -d, --database C       PostgreSQL conninfo (else XCENSUS_DATABASE,\n"
            "                         else database.conninfo of --config)\n"
            "  -h, --help             this text\n\n"
            "Signals: INT/TERM stop gracefully (twice: at once), HUP reloads the\n"
            "configuration. Exit status: 0 stopped cleanly, 1 failure, 2 usage.\n");
}

static bool is_loopback_literal(const char *h)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (h && inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (h && inet_pton(AF_INET6, h, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct crawl *c = arg;
    if (sig == SIGHUP) {
        struct xc_config fresh;
        struct cfg_errors errs = {0};
        if (c->config_path == NULL) {
            log_info("SIGHUP: no configuration file to reload");
        } else if (!xc_config_load(c->config_path, &fresh, 0, &errs)) {
            log_warn("configuration reload failed; keeping the running one:");
            cfg_errors_print(&errs, stderr);
        } else {
            struct cfg_errors rerr = {0};
            if (!cfg_check_reload(&xc_config_table, &c->cfg, &fresh,
                                  c->config_path, &rerr)) {
                log_warn("configuration changes keys that need a restart; "
                         "keeping the running one:");
                cfg_errors_print(&rerr, stderr);
                xc_config_free(&fresh);
            } else {
                log_max_level = (enum log_level)fresh.log.level;
                xc_config_free(&c->cfg);
                c->cfg = fresh;
                log_info("configuration reloaded from %s", c->config_path);
            }
            cfg_errors_free(&rerr);
        }
        cfg_errors_free(&errs);
        return;
    }
    c->signals++;
    engine_stop(c->engine, c->signals > 1);
}

static void on_stopped(void *arg, bool ok)
{
    struct crawl *c = arg;
    c->ok = ok;
    event_base_loopexit(c->base, NULL);
}

static void on_session_state(void *arg, struct session *s, bool online,
                             const char *detail)
{
    struct crawl *c = arg;
    if (online && c->engine)
        engine_kick(c->engine);
}

int cmd_crawl(int argc, char **argv, const struct cli_globals *g)
{
    static const struct option opts[] = {
        {"crawl", required_argument, NULL, 'n'},
        {"exit-when-done", no_argument, NULL, 'x'},
        {"database", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *crawl_name = NULL, *db = NULL;
    bool exit_when_done = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "n:xd:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'n': crawl_name = optarg; break;
        case 'x': exit_when_done = true; break;
        case 'd': db = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }

    struct crawl c = {.config_path = g->config_path};
    struct cfg_errors errs = {0};
    if (!xc_config_load(g->config_path, &c.cfg, 0, &errs)) {
        cfg_errors_print(&errs, stderr);
        cfg_errors_free(&errs);
        return 1;
    }
    cfg_errors_free(&errs);
    if (!g->log_level_set)
        log_max_level = (enum log_level)c.cfg.log.level;
    if (c.cfg.accounts.n == 0) {
        fprintf(stderr, "xcensus crawl: the configuration names no account "
                        "(accounts: in %s)\n",
                g->config_path ? g->config_path : "the defaults");
        xc_config_free(&c.cfg);
        return 1;
    }
    for (size_t i = 0; i < c.cfg.accounts.n; i++) {
        const struct xc_account *a = xc_config_account(&c.cfg, i);
        if (a->tls == XC_TLS_PLAINTEXT_LOOPBACK && !is_loopback_literal(a->host)) {
            fprintf(stderr, "xcensus crawl: account %s: plaintext is allowed only "
                            "with host set to a loopback address\n", a->jid);
            xc_config_free(&c.cfg);
            return 1;
        }
    }
    char *conninfo = xstrdup(cli_db_resolve(g, db, &c.cfg));

    /* libstrophe select()s: keep every fd below FD_SETSIZE */
    strophe_ev_cap_nofile();
    signal(SIGPIPE, SIG_IGN);
    c.base = event_base_new();
    struct parse_err perr = {0};
    struct resolver *res = resolver_new(
        c.base, (c.cfg.dns.servers && *c.cfg.dns.servers) ? c.cfg.dns.servers : NULL,
        (int)c.cfg.limits.connect_timeout / 2, 2, &perr);
    if (res == NULL)
        log_warn("no DNS resolver: %s (accounts need host set)", perr.msg);
    struct strophe_ev *sev = strophe_ev_new(c.base, 100);

    struct pgasync *pg = pgasync_new(c.base, conninfo, "queue");
    struct queue_params qp = {
        .crawl = crawl_name ? crawl_name : c.cfg.crawl.name,
        .scope = c.cfg.crawl.scope,
        .recrawl_interval = c.cfg.crawl.recrawl_interval,
        .lease = c.cfg.crawl.lease,
        .heartbeat_interval = c.cfg.crawl.heartbeat_interval,
        .min_interval = c.cfg.politeness.min_interval,
        .max_attempts = (int)c.cfg.crawl.max_attempts,
        .deny_file = c.cfg.politeness.deny_file,
    };
    const struct xc_backoff_cfg *bo = &c.cfg.crawl.backoff;
    const struct {
        enum queue_class cls;
        int64_t base;
    } backoffs[] = {
        {QUEUE_TIMEOUT, bo->timeout},
        {QUEUE_REMOTE_SERVER_NOT_FOUND, bo->remote_server_not_found},
        {QUEUE_SERVICE_UNAVAILABLE, bo->service_unavailable},
        {QUEUE_POLICY_VIOLATION, bo->policy_violation},
        {QUEUE_RESOURCE_CONSTRAINT, bo->resource_constraint},
        {QUEUE_OTHER, bo->other},
        {QUEUE_CONNECTION, bo->other},
    };
    const struct queue_backoff *defaults = queue_backoff_defaults();
    memcpy(qp.backoff, defaults, sizeof qp.backoff);
    for (size_t i = 0; i < ARRAY_LEN(backoffs); i++) {
        qp.backoff[backoffs[i].cls].base_ms = backoffs[i].base;
        qp.backoff[backoffs[i].cls].cap_ms = bo->max;
    }
    struct queue *q = queue_new(c.base, pg, &qp);

    struct store_opts so;
    store_opts_default(&so);
    so.conninfo = conninfo;
    so.batch_rows = (int)c.cfg.database.batch_rows;
    so.flush_ms = (int)c.cfg.database.flush_interval;
    so.max_memory = (size_t)c.cfg.database.max_memory;
    so.spill_dir = c.cfg.database.spill_dir;
    so.spill_max = (size_t)c.cfg.database.spill_max;
    so.reconnect_max_ms = (int)c.cfg.database.reconnect_max;
    char why[256] = "";
    struct store *st = store_new(c.base, &so, why, sizeof why);
    int rc = 1;
    struct followups fu = {0};
    struct tlsctx *tls = NULL;
    struct census_params cp;
    struct session **sessions = NULL;
    size_t n_sessions = c.cfg.accounts.n;
    struct event *sigs[3] = {0};
    if (st == NULL) {
        fprintf(stderr, "xcensus crawl: cannot start the storage writer: %s\n", why);
        goto out;
    }

    sessions = xcalloc(n_sessions, sizeof *sessions);
    for (size_t i = 0; i < n_sessions; i++) {
        const struct xc_account *a = xc_config_account(&c.cfg, i);
        struct session_params sp = {
            .jid = a->jid,
            .password = a->password.value,
            .host = a->host,
            .port = (unsigned short)a->port,
            .plaintext = a->tls == XC_TLS_PLAINTEXT_LOOPBACK,
            .rate = (double)a->send_rate,
            .burst = (double)a->send_burst,
            .max_inflight = (unsigned)a->max_inflight,
            .reconnect_max_ms = (int)a->reconnect_max,
            .ident_name = c.cfg.politeness.identify.name,
            .ident_version = c.cfg.politeness.identify.version,
            .policy_url = c.cfg.politeness.identify.policy_url,
        };
        sessions[i] = session_new(c.base, sev, res, &sp, on_session_state, &c);
    }

    if (c.cfg.census.enabled) {
        census_store_init(&fu.cs, st, 0);
        struct capscache_params ccp;
        census_cache_params_from_config(&c.cfg, &ccp);
        fu.cache = capscache_new(&ccp, &fu.cs.cache);
        struct pg_conn *pc = pg_connect(conninfo);
        size_t pre = 0;
        struct pg_err perr2 = {0};
        if (pc && census_store_preload(pc, fu.cache, &pre, &perr2))
            log_info("caps cache: %zu verified hash(es) preloaded from the database", pre);
        else
            log_warn("caps cache: nothing preloaded: %s",
                     pc ? perr2.msg : "no database connection");
        pg_close(pc);
        census_params_from_config(&c.cfg, &cp);
        fu.sessions = sessions;
        fu.n = n_sessions;
        fu.census = xcalloc(n_sessions, sizeof *fu.census);
        for (size_t i = 0; i < n_sessions; i++)
            fu.census[i] = census_new(c.base, sessions[i], fu.cache, &cp, &fu.cs.census);
    }

    if (c.cfg.direct.enabled) {
        struct parse_err terr = {0};
        tls = tlsctx_new(NULL, &terr);
        if (tls == NULL)
            log_warn("direct probes without TLS: %s", terr.msg);
        struct direct_limits dl;
        direct_limits_default(&dl);
        dl.concurrency = (size_t)c.cfg.direct.concurrency;
        dl.targets_per_domain = (size_t)c.cfg.direct.targets_per_domain;
        dl.connect_timeout_ms = (int)c.cfg.direct.connect_timeout;
        dl.tls_timeout_ms = (int)c.cfg.direct.tls_timeout;
        dl.read_timeout_ms = (int)c.cfg.direct.read_timeout;
        dl.reader.max_bytes = (size_t)c.cfg.direct.max_bytes;
        fu.ds = direct_store_new(st);
        if (res)
            fu.direct = direct_new(c.base, res, tls, &dl, direct_store_sink(fu.ds));
        else
            log_warn("direct probes disabled: no DNS resolver");
    }

    struct engine_params ep = {
        .max_domains_in_flight = (int)c.cfg.crawl.max_domains_in_flight,
        .claim_batch = (int)c.cfg.crawl.claim_batch,
        .limits = {
            .iq_timeout_ms = (int)c.cfg.limits.iq_timeout,
            .items_max = (size_t)c.cfg.limits.items_max,
            .items_pages = (size_t)c.cfg.limits.items_pages,
            .disco = disco_limits_default,
        },
        .exit_when_done = exit_when_done,
        .idle_checks = 2,
        .drain_timeout_ms = 60000,
        .progress_tty = c.cfg.log.progress == XC_PROGRESS_ALWAYS ||
                        (c.cfg.log.progress == XC_PROGRESS_AUTO && isatty(2)),
        .log_interval_ms = 10000,
        .followup = {&fu, c.cfg.census.enabled || fu.direct ? followup_start : NULL},
    };
    ep.limits.disco.max_input = (size_t)c.cfg.limits.stanza_max_bytes;
    c.engine = engine_new(c.base, q, st, sessions, n_sessions, &ep);
    engine_set_pg(c.engine, pg);

    int signos[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(c.base, signos[i], on_signal, &c);
        event_add(sigs[i], NULL);
    }
    engine_start(c.engine, on_stopped, &c);
    event_base_dispatch(c.base);

    const struct engine_stats *ss = engine_stats(c.engine);
    log_info("crawl stopped: %llu done, %llu failed attempts, %llu queries, "
             "%llu entities",
             (unsigned long long)ss->done, (unsigned long long)ss->failed_attempts,
             (unsigned long long)ss->queries, (unsigned long long)ss->entities);
    if (ss->timed_jobs) {
        double n = (double)ss->timed_jobs;
        log_info("time per job: probing %.1f ms, follow-ups %.1f ms, waiting for "
                 "its results to commit %.1f ms, completing %.1f ms",
                 (double)ss->ms_probe / n, (double)ss->ms_followup / n,
                 (double)ss->ms_sync / n, (double)ss->ms_complete / n);
    }
    struct store_stats sst;
    store_get_stats(st, &sst);
    unsigned long long rows = 0;
    for (int k = 0; k < STORE__KINDS; k++)
        rows += sst.rows_written[k];
    log_info("store: %llu batches written (%llu records, %.1f per batch), "
             "%llu spilled, %llu rejected",
             (unsigned long long)sst.batches_written, rows,
             sst.batches_written ? (double)rows / (double)sst.batches_written : 0.0,
             (unsigned long long)sst.batches_spilled,
             (unsigned long long)sst.batches_rejected);
    rc = c.ok ? 0 : 1;
out:
    for (int i = 0; i < 3; i++)
        if (sigs[i])
            event_free(sigs[i]);
    direct_free(fu.direct);
    direct_store_free(fu.ds);
    tlsctx_free(tls);
    /* the census leaves its rooms and must go before its session */
    for (size_t i = 0; fu.census && i < n_sessions; i++)
        census_free(fu.census[i]);
    free(fu.census);
    capscache_free(fu.cache);
    for (size_t i = 0; sessions && i < n_sessions; i++)
        session_free(sessions[i]);
    free(sessions);
    engine_free(c.engine);
    store_free(st);
    queue_free(q);
    pgasync_free(pg);
    resolver_free(res);
    strophe_ev_free(sev);
    event_base_free(c.base);
    explicit_bzero(conninfo, strlen(conninfo));
    free(conninfo);
    xc_config_free(&c.cfg);
    return rc;
}
