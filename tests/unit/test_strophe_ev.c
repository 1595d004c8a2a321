/*
 * Unit tests for crawler/strophe_ev: what can be checked without an XMPP
 * server, on loopback only: a refused connect and a peer that closes at
 * once both end in exactly one STROPHE_EV_DOWN callback; freeing from
 * inside the callback is safe; freeing an open connection releases it; a
 * silent peer is cut off by the handshake deadline; malformed XML from a
 * peer that then stays silent ends the connection;
 * the RLIMIT_NOFILE cap. Leaks are caught by ASan in the sanitizer build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "strophe_ev.h"

struct probe_state {
    int online;
    int down;
    char detail[128];
    bool free_in_cb;
    struct event_base *base;
};

static void state_cb(struct strophe_ev_conn *c, enum strophe_ev_event ev,
                     const char *detail, void *ud)
{
    struct probe_state *ps = ud;

    if (ev == STROPHE_EV_ONLINE) {
        ps->online++;
        return;
    }
    ps->down++;
    snprintf(ps->detail, sizeof ps->detail, "%s", detail ? detail : "");
    if (ps->free_in_cb)
        strophe_ev_conn_free(c);
    event_base_loopexit(ps->base, NULL);
}

/* Listening socket on 127.0.0.1, port in *port. */
static int listen_loopback(unsigned short *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void run_bounded(struct event_base *base)
{
    struct timeval limit = {10, 0};

    event_base_loopexit(base, &limit); /* a hang fails, not blocks */
    event_base_dispatch(base);
}

static void test_refused_connect_reports_down(void **state)
{
    struct event_base *base = event_base_new();
    struct strophe_ev *sev = strophe_ev_new(base, 100);
    struct probe_state ps = {.base = base, .free_in_cb = true};
    unsigned short port;
    int lfd = listen_loopback(&port);

    close(lfd); /* nothing listens there now */
    struct strophe_ev_params p = {.jid = "u@example.xnet",
                                  .password = "pw",
                                  .host = "127.0.0.1",
                                  .port = port,
                                  .flags = STROPHE_EV_PLAINTEXT};
    struct strophe_ev_conn *c =
        strophe_ev_conn_new(sev, &p, state_cb, NULL, &ps);
    assert_non_null(c);
    assert_false(strophe_ev_conn_online(c));
    assert_int_equal(strophe_ev_count(sev), 1);
    run_bounded(base);
    assert_int_equal(ps.down, 1);
    assert_int_equal(ps.online, 0);
    assert_true(ps.detail[0] != '\0');
    /* the reap happens on the next loop iteration */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(strophe_ev_count(sev), 0);
    strophe_ev_free(sev);
    event_base_free(base);
}

static void accept_close_cb(evutil_socket_t fd, short what, void *arg)
{
    int s = accept(fd, NULL, NULL);
    if (s >= 0)
        close(s);
}

static void test_peer_close_reports_down_once(void **state)
{
    struct event_base *base = event_base_new();
    struct strophe_ev *sev = strophe_ev_new(base, 50);
    struct probe_state ps = {.base = base};
    unsigned short port;
    int lfd = listen_loopback(&port);
    struct event *acc =
        event_new(base, lfd, EV_READ | EV_PERSIST, accept_close_cb, NULL);
    event_add(acc, NULL);

    struct strophe_ev_params p = {.jid = "u@example.xnet/r",
                                  .password = "pw",
                                  .host = "127.0.0.1",
                                  .port = port,
                                  .flags = STROPHE_EV_PLAINTEXT,
                                  .name = "peer-close"};
    struct strophe_ev_conn *c =
        strophe_ev_conn_new(sev, &p, state_cb, NULL, &ps);
    assert_string_equal(strophe_ev_conn_name(c), "peer-close");
    run_bounded(base);
    assert_int_equal(ps.down, 1);
    assert_null(strophe_ev_conn_bound_jid(c));
    /* sending on a dead connection is ignored */
    strophe_ev_conn_send_raw(c, "<a/>", 4);
    assert_int_equal(strophe_ev_conn_queue_len(c), 0);
    strophe_ev_conn_free(c);
    strophe_ev_conn_free(NULL);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(ps.down, 1); /* no second report */
    assert_int_equal(strophe_ev_count(sev), 0);
    event_free(acc);
    close(lfd);
    strophe_ev_free(sev);
    event_base_free(base);
}

static void silent_accept_cb(evutil_socket_t fd, short what, void *arg)
{
    int *peer = arg; /* two slots */
    int s = accept(fd, NULL, NULL);
    if (s >= 0 && peer[0] < 0)
        peer[0] = s;
    else if (s >= 0 && peer[1] < 0)
        peer[1] = s;
    else if (s >= 0)
        close(s);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static void test_free_while_open_and_free_all(void **state)
{
    int fds_before = count_fds();
    struct event_base *base = event_base_new();
    struct strophe_ev *sev = strophe_ev_new(base, 50);
    struct probe_state ps = {.base = base};
    unsigned short port;
    int peer[2] = {-1, -1};
    int lfd = listen_loopback(&port);
    struct event *acc =
        event_new(base, lfd, EV_READ | EV_PERSIST, silent_accept_cb, peer);
    struct timeval half = {0, 300000};
    event_add(acc, NULL);

    struct strophe_ev_params p = {.jid = "u@example.xnet",
                                  .password = "pw",
                                  .host = "127.0.0.1",
                                  .port = port,
                                  .flags = STROPHE_EV_PLAINTEXT};
    struct strophe_ev_conn *a =
        strophe_ev_conn_new(sev, &p, state_cb, NULL, &ps);
    struct strophe_ev_conn *b =
        strophe_ev_conn_new(sev, &p, state_cb, NULL, &ps);
    assert_non_null(a);
    assert_non_null(b);
    /* the silent peer keeps both negotiating */
    event_base_once(base, -1, EV_TIMEOUT, stop_cb, base, &half);
    event_base_dispatch(base);
    assert_true(peer[0] >= 0 && peer[1] >= 0);
    assert_int_equal(ps.down, 0);
    /* one freed explicitly while its socket is open, the other by
     * strophe_ev_free(): no callback, no leak */
    strophe_ev_conn_free(a);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(strophe_ev_count(sev), 1);
    strophe_ev_free(sev);
    assert_int_equal(ps.down, 0);
    event_free(acc);
    close(lfd);
    close(peer[0]);
    close(peer[1]);
    event_base_free(base);
    assert_int_equal(count_fds(), fds_before); /* sockets were closed */
}

static void test_handshake_deadline(void **state)
{
    struct event_base *base = event_base_new();
    struct strophe_ev *sev = strophe_ev_new(base, 50);
    struct probe_state ps = {.base = base, .free_in_cb = true};
    unsigned short port;
    int peer[2] = {-1, -1};
    int lfd = listen_loopback(&port);
    struct event *acc =
        event_new(base, lfd, EV_READ | EV_PERSIST, silent_accept_cb, peer);
    event_add(acc, NULL);

    /* a peer that accepts and never speaks: only the deadline ends it */
    struct strophe_ev_params p = {.jid = "u@example.xnet",
                                  .password = "pw",
                                  .host = "127.0.0.1",
                                  .port = port,
                                  .flags = STROPHE_EV_PLAINTEXT,
                                  .handshake_ms = 200};
    strophe_ev_conn_new(sev, &p, state_cb, NULL, &ps);
    run_bounded(base);
    assert_int_equal(ps.down, 1);
    assert_int_equal(ps.online, 0);
    assert_string_equal(ps.detail, "handshake timeout");
    assert_true(peer[0] >= 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(strophe_ev_count(sev), 0);
    strophe_ev_free(sev);
    event_free(acc);
    close(lfd);
    close(peer[0]);
    event_base_free(base);
}

static void malformed_accept_cb(evutil_socket_t fd, short what, void *arg)
{
    static const char bad[] =
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' id='x' "
        "version='1.0'><stream:features></stream:featurez>";
    int *peer = arg;
    int s = accept(fd, NULL, NULL);
    if (s < 0)
        return;
    assert_int_equal(write(s, bad, sizeof bad - 1), (ssize_t)(sizeof bad - 1));
    if (*peer < 0)
        *peer = s; /* kept open: only our side may end it */
    else
        close(s);
}

static void test_parse_error_closes(void **state)
{
    struct event_base *base = event_base_new();
    struct strophe_ev *sev = strophe_ev_new(base, 50);
    struct probe_state ps = {.base = base, .free_in_cb = true};
    unsigned short port;
    int peer = -1;
    int lfd = listen_loopback(&port);
    struct event *acc =
        event_new(base, lfd, EV_READ | EV_PERSIST, malformed_accept_cb, &peer);
    event_add(acc, NULL);

    struct strophe_ev_params p = {.jid = "u@example.xnet",
                                  .password = "pw",
                                  .host = "127.0.0.1",
                                  .port = port,
                                  .flags = STROPHE_EV_PLAINTEXT,
                                  .handshake_ms = 60000};
    strophe_ev_conn_new(sev, &p, state_cb, NULL, &ps);
    run_bounded(base);
    assert_int_equal(ps.down, 1);
    assert_string_equal(ps.detail, "xml parse error");
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(strophe_ev_count(sev), 0);
    strophe_ev_free(sev);
    event_free(acc);
    close(lfd);
    close(peer);
    event_base_free(base);
}

static void test_cap_nofile(void **state)
{
    struct rlimit rl;
    long lim = strophe_ev_cap_nofile();

    assert_true(lim > 0);
    assert_true(lim <= FD_SETSIZE);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_int_equal((long)rl.rlim_cur, lim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_connect_reports_down),
        cmocka_unit_test(test_peer_close_reports_down_once),
        cmocka_unit_test(test_free_while_open_and_free_all),
        cmocka_unit_test(test_handshake_deadline),
        cmocka_unit_test(test_parse_error_closes),
        cmocka_unit_test(test_cap_nofile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
