/*
 * crawler/session + crawler/probe against a real Prosody started by this
 * test on 127.0.0.1 (argv[1] is tests/testnet/prosody_private.sh, argv[2]
 * its directory): login, the domain probe (disco#info, version, items, the
 * MUC component), error outcomes for an unreachable domain, the crawler's
 * own answers to version and disco#info, the in-flight bound, and requests
 * queued while offline surviving until the session is online.
 * Skips (77) without prosody unless CI=true.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"
#include "session.h"
#include "stanza.h"
#include "strophe_ev.h"
#include "xalloc.h"

#define HOST "probe.xnet"

static const char *script, *dir;
static int port;
static struct event_base *base;
static struct strophe_ev *sev;

static int free_port_pair(void)
{
    for (int tries = 0; tries < 50; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
            close(fd);
            continue;
        }
        int p = ntohs(a.sin_port);
        int fd2 = socket(AF_INET, SOCK_STREAM, 0);
        a.sin_port = htons((uint16_t)(p + 1));
        bool ok = p < 65000 && bind(fd2, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        close(fd2);
        if (ok)
            return p;
    }
    return -1;
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *flag becomes true, at most `seconds` of wall time. */
static bool run_until(const bool *flag, int seconds)
{
    struct timeval tick = {0, 50000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    time_t end = time(NULL) + seconds;
    while (!*flag && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    return *flag;
}

static int setup(void **state)
{
    port = free_port_pair();
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' start '%s' " HOST " %d crawler:secret1 other:secret2 >/dev/null 2>&1",
             script, dir, port);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "could not start prosody (%d)\n", rc);
        return -1;
    }
    base = event_base_new();
    sev = strophe_ev_new(base, 100);
    return 0;
}

static int teardown(void **state)
{
    strophe_ev_free(sev);
    event_base_free(base);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' stop '%s' >/dev/null 2>&1", script, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not stop prosody\n");
    return 0;
}

struct online_flag {
    bool online;
    int changes;
};

static void on_state(void *arg, struct session *s, bool online, const char *d)
{
    struct online_flag *f = arg;
    f->online = online;
    f->changes++;
}

static struct session *login(const char *user, const char *pw,
                             struct online_flag *f, unsigned max_inflight)
{
    char jid[128];
    snprintf(jid, sizeof jid, "%s@" HOST, user);
    struct session_params p = {
        .jid = jid,
        .password = pw,
        .host = "127.0.0.1",
        .port = (unsigned short)port,
        .plaintext = true,
        .rate = 1000,
        .burst = 100,
        .max_inflight = max_inflight,
        .reconnect_max_ms = 2000,
        .ident_name = "xcensus-test",
        .ident_version = "9.9",
        .policy_url = "https://example.org/policy",
    };
    return session_new(base, sev, NULL, &p, on_state, f);
}

/* --- a recording sink --------------------------------------------------- */

struct rec {
    char entities[16][128];
    char kinds[16][16];
    int n_entities;
    char version_name[64];
    bool conference_item;
    int outcomes[OUT__COUNT];
    char last_condition[64];
    bool done;
    struct probe_domain_result res;
    bool server_identity;
};

static void r_disco(void *arg, const char *domain, const char *address,
                    const char *kind, const char *xml,
                    const struct disco_info *info)
{
    struct rec *r = arg;
    assert_non_null(xml);
    assert_true(strstr(xml, DISCO_NS_INFO) != NULL);
    if (r->n_entities < 16) {
        snprintf(r->entities[r->n_entities], 128, "%s", address);
        snprintf(r->kinds[r->n_entities], 16, "%s", kind);
        r->n_entities++;
    }
    for (size_t i = 0; i < info->n_identities; i++)
        if (strcmp(info->identities[i].category, "server") == 0 &&
            strcmp(address, HOST) == 0)
            r->server_identity = true;
}

static void r_version(void *arg, const char *domain, const char *address,
                      const struct softinfo_version *v)
{
    struct rec *r = arg;
    if (strcmp(address, HOST) == 0 && v->name)
        snprintf(r->version_name, sizeof r->version_name, "%s", v->name);
}

static void r_item(void *arg, const char *domain, const char *parent,
                   const struct disco_item *it)
{
    struct rec *r = arg;
    if (strcmp(it->jid, "conference." HOST) == 0)
        r->conference_item = true;
}

static void r_outcome(void *arg, const char *domain, const char *address,
                      enum probe_kind probe, enum probe_outcome o,
                      const char *cond, const char *detail, int ms)
{
    struct rec *r = arg;
    r->outcomes[o]++;
    assert_true(ms >= 0);
    if (cond)
        snprintf(r->last_condition, sizeof r->last_condition, "%s", cond);
}

static void r_done(void *arg, const struct probe_domain_result *res)
{
    struct rec *r = arg;
    r->res = *res;
    r->done = true;
}

static const struct probe_limits limits = {
    .iq_timeout_ms = 5000, .items_max = 100, .items_pages = 5,
};

static void test_probe_own_server(void **state)
{
    struct online_flag f = {0};
    struct session *s = login("crawler", "secret1", &f, 50);
    assert_true(run_until(&f.online, 15));
    struct rec r = {0};
    struct probe_limits lim = limits;
    lim.disco = disco_limits_default;
    struct probe_sink sink = {&r, r_disco, r_version, r_item, r_outcome, NULL};
    probe_domain_start(s, HOST, &lim, &sink, r_done, &r);
    assert_true(run_until(&r.done, 30));
    assert_int_equal(r.res.outcome, OUT_OK);
    assert_true(r.server_identity);
    assert_string_equal(r.version_name, "Prosody");
    assert_true(r.conference_item);
    /* the domain and its MUC component answered disco#info */
    bool muc = false;
    for (int i = 0; i < r.n_entities; i++)
        if (strcmp(r.entities[i], "conference." HOST) == 0)
            muc = strcmp(r.kinds[i], "muc") == 0;
    assert_true(muc);
    assert_int_equal(r.res.entities, 2);
    assert_int_equal(r.res.queries, 5); /* info, version, items, then 2 */
    assert_int_equal(r.outcomes[OUT_OK] + r.outcomes[OUT_IQ_ERROR], 5);
    assert_int_equal(r.outcomes[OUT_TIMEOUT], 0);
    session_free(s);
}

static void test_unreachable_domain_is_an_outcome(void **state)
{
    struct online_flag f = {0};
    struct session *s = login("crawler", "secret1", &f, 50);
    assert_true(run_until(&f.online, 15));
    struct rec r = {0};
    struct probe_limits lim = limits;
    lim.disco = disco_limits_default;
    struct probe_sink sink = {&r, r_disco, r_version, r_item, r_outcome, NULL};
    /* this server has no s2s: the remote domain cannot be reached */
    probe_domain_start(s, "elsewhere.xnet", &lim, &sink, r_done, &r);
    assert_true(run_until(&r.done, 30));
    assert_int_equal(r.res.outcome, OUT_IQ_ERROR);
    assert_true(r.res.condition[0] != '\0');
    assert_int_equal(r.outcomes[OUT_IQ_ERROR], 3);
    assert_int_equal(r.n_entities, 0);
    session_free(s);
}

struct ask {
    bool done;
    enum iqtrack_result r;
    char text[256];
    size_t max_seen;
    struct session *s;
    int pending;
};

static void on_ask(void *arg, enum iqtrack_result r, xmpp_stanza_t *reply)
{
    struct ask *a = arg;
    a->r = r;
    if (reply) {
        char *t = NULL;
        size_t n = 0;
        if (xmpp_stanza_to_text(reply, &t, &n) == XMPP_EOK) {
            snprintf(a->text, sizeof a->text, "%s", t);
            xmpp_free(xmpp_stanza_get_context(reply), t);
        }
    }
    a->done = true;
}

static void test_crawler_answers_version_and_disco(void **state)
{
    struct online_flag fa = {0}, fb = {0};
    struct session *a = login("crawler", "secret1", &fa, 50);
    struct session *b = login("other", "secret2", &fb, 50);
    assert_true(run_until(&fa.online, 15));
    assert_true(run_until(&fb.online, 15));
    const char *full = session_bound_jid(a);
    assert_non_null(full);
    struct ask v = {0}, d = {0}, x = {0};
    session_iq(b, "get", full, "<query xmlns='jabber:iq:version'/>", 5000,
               on_ask, &v);
    session_iq(b, "get", full, "<query xmlns='" DISCO_NS_INFO "'/>", 5000,
               on_ask, &d);
    session_iq(b, "get", full, "<query xmlns='urn:example:unknown'/>", 5000,
               on_ask, &x);
    assert_true(run_until(&x.done, 15));
    assert_true(run_until(&v.done, 15));
    assert_true(run_until(&d.done, 15));
    assert_int_equal(v.r, IQT_RESULT);
    assert_non_null(strstr(v.text, "<name>xcensus-test</name>"));
    assert_non_null(strstr(v.text, "https://example.org/policy"));
    assert_int_equal(d.r, IQT_RESULT);
    assert_non_null(strstr(d.text, "category=\"client\""));
    assert_int_equal(x.r, IQT_ERROR);
    assert_non_null(strstr(x.text, "service-unavailable"));
    assert_true(session_stats(a)->answered >= 2);
    session_free(a);
    session_free(b);
}

static struct session *bounded;
static size_t max_inflight_seen;
static int bounded_left;

static void on_bounded(void *arg, enum iqtrack_result r, xmpp_stanza_t *reply)
{
    size_t n = session_inflight(bounded);
    if (n > max_inflight_seen)
        max_inflight_seen = n;
    bounded_left--;
    assert_int_equal(r, IQT_RESULT);
}

static void test_inflight_bound_and_offline_queue(void **state)
{
    struct online_flag f = {0};
    bounded = login("crawler", "secret1", &f, 3);
    /* queued before the session is online: they wait, none is lost */
    bounded_left = 40;
    for (int i = 0; i < 40; i++)
        session_iq(bounded, "get", HOST, "<ping xmlns='urn:xmpp:ping'/>", 5000,
                   on_bounded, NULL);
    assert_int_equal(session_queued(bounded), 40);
    bool done = false;
    struct timeval tick = {0, 50000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    time_t end = time(NULL) + 30;
    while (bounded_left > 0 && time(NULL) < end) {
        event_base_loop(base, EVLOOP_ONCE);
        size_t n = session_inflight(bounded);
        if (n > max_inflight_seen)
            max_inflight_seen = n;
    }
    event_free(ev);
    done = bounded_left == 0;
    assert_true(done);
    assert_true(max_inflight_seen <= 3);
    assert_true(max_inflight_seen >= 1);
    assert_int_equal(session_stats(bounded)->results, 40);
    session_free(bounded);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_session PROSODY_SCRIPT DIR\n");
        return 2;
    }
    script = argv[1];
    dir = argv[2];
    if (system("command -v prosody >/dev/null 2>&1") != 0) {
        const char *ci = getenv("CI");
        fprintf(stderr, "prosody not installed\n");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    log_max_level = getenv("XC_DEBUG") ? LOG_DEBUG : LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_own_server),
        cmocka_unit_test(test_unreachable_domain_is_an_outcome),
        cmocka_unit_test(test_crawler_answers_version_and_disco),
        cmocka_unit_test(test_inflight_bound_and_offline_queue),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
