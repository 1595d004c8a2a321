/*
 * The server's own disco#info ceiling: one account session sends N
 * disco#info queries to one JID as fast as the server answers, with up to
 * INFLIGHT queries outstanding and no pacing, and reports answers per second
 * and this process's CPU per query. bench/crawl.sh runs it against the same
 * server the crawler is measured on, the same day.
 *   bench_flood JID PASSWORD HOST PORT TARGET N INFLIGHT
 * TARGET "@FILE" replays a list of queries instead, one per line
 * "ADDRESS KIND" with KIND a probe kind (disco-info, disco-items, version),
 * in turn, as often as N asks: with the crawl's own list it measures the
 * server's ceiling for the crawl's mix of queries (the payloads crawler/probe.c
 * sends), which costs the server more than disco#info at its own domain.
 */
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "probe.h"
#include "session.h"
#include "strophe_ev.h"
#include "xalloc.h"

struct query {
    char *to;
    char *payload;
};

static struct session *s;
static struct query *queries;
static size_t nqueries;
static long total, sent, answered, errors;
static struct event_base *base;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void send_one(void);

static void on_reply(void *arg, enum iqtrack_result r, xmpp_stanza_t *reply)
{
    answered++;
    if (r != IQT_RESULT)
        errors++;
    if (answered == total)
        event_base_loopbreak(base);
    else if (sent < total)
        send_one();
}

static void send_one(void)
{
    const struct query *q = &queries[(size_t)sent % nqueries];
    sent++;
    session_iq(s, "get", q->to, q->payload, 30000, on_reply, NULL);
}

static void add_query(const char *to, enum probe_kind kind)
{
    static size_t cap;
    if (nqueries == cap) {
        cap = cap ? 2 * cap : 1024;
        queries = xreallocarray(queries, cap, sizeof *queries);
    }
    struct buf payload = BUF_INIT;
    probe_query_payload(kind, NULL, &payload);
    queries[nqueries].to = xstrdup(to);
    queries[nqueries++].payload = buf_steal(&payload);
}

/* Reads "ADDRESS KIND" lines; false with a message on a bad file. */
static bool read_queries(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return false;
    }
    char line[1100], to[1024], kind[16];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (sscanf(line, "%1023s %15s", to, kind) != 2) {
            fprintf(stderr, "%s:%d: expected \"ADDRESS KIND\"\n", path,
                    lineno);
            fclose(f);
            return false;
        }
        int k = 0;
        while (k < PROBE__COUNT && strcmp(kind, probe_kind_name(k)) != 0)
            k++;
        if (k == PROBE__COUNT) {
            fprintf(stderr, "%s:%d: unknown probe kind \"%s\"\n", path, lineno,
                    kind);
            fclose(f);
            return false;
        }
        add_query(to, (enum probe_kind)k);
    }
    fclose(f);
    if (nqueries == 0)
        fprintf(stderr, "%s: no queries\n", path);
    return nqueries > 0;
}

static long inflight;
static double t0;

static void on_state(void *arg, struct session *x, bool online, const char *d)
{
    if (!online)
        return;
    t0 = now_s();
    for (long i = 0; i < inflight && sent < total; i++)
        send_one();
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: bench_flood JID PASSWORD HOST PORT TARGET N INFLIGHT\n");
        return 2;
    }
    if (argv[5][0] == '@') {
        if (!read_queries(argv[5] + 1))
            return 2;
    } else {
        add_query(argv[5], PROBE_DISCO_INFO);
    }
    total = atol(argv[6]);
    inflight = atol(argv[7]);
    log_max_level = LOG_WARN;
    base = event_base_new();
    struct strophe_ev *sev = strophe_ev_new(base, 100);
    struct session_params p = {
        .jid = argv[1],
        .password = argv[2],
        .host = argv[3],
        .port = (unsigned short)atoi(argv[4]),
        .plaintext = true,
        .rate = 1e9,
        .burst = 1e9,
        .max_inflight = (unsigned)inflight,
        .reconnect_max_ms = 1000,
    };
    s = session_new(base, sev, NULL, &p, on_state, NULL);
    event_base_dispatch(base);
    double secs = now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("flood: %ld %s answered (%ld errors) in %.2f s: %.0f/s; "
           "client CPU %.1f us/query; max RSS %ld KiB\n",
           answered, argv[5][0] == '@' ? "queries of the list" : "disco#info",
           errors, secs, (double)answered / secs,
           1e6 * cpu / (double)(answered ? answered : 1), ru.ru_maxrss);
    session_free(s);
    for (size_t i = 0; i < nqueries; i++) {
        free(queries[i].to);
        free(queries[i].payload);
    }
    free(queries);
    strophe_ev_free(sev);
    event_base_free(base);
    return answered == total ? 0 : 1;
}
