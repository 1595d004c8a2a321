/*
 * The server's own disco#info ceiling: one account session sends N
 * disco#info queries to one JID as fast as the server answers, with up to
 * INFLIGHT queries outstanding and no pacing, and reports answers per second
 * and this process's CPU per query. bench/crawl.sh runs it against the same
 * server the crawler is measured on, the same day.
 *   bench_flood JID PASSWORD HOST PORT TARGET N INFLIGHT
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "log.h"
#include "session.h"
#include "strophe_ev.h"

static struct session *s;
static const char *target;
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
    sent++;
    session_iq(s, "get", target,
               "<query xmlns='http://jabber.org/protocol/disco#info'/>", 30000,
               on_reply, NULL);
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
    target = argv[5];
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
    printf("flood: %ld disco#info answered (%ld errors) in %.2f s: %.0f/s; "
           "client CPU %.1f us/query; max RSS %ld KiB\n",
           answered, errors, secs, (double)answered / secs,
           1e6 * cpu / (double)(answered ? answered : 1), ru.ru_maxrss);
    session_free(s);
    strophe_ev_free(sev);
    event_base_free(base);
    return answered == total ? 0 : 1;
}
