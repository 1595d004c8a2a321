/*
 * crawler/resolve against a real dnsmasq started on 127.0.0.1 by this test:
 * SRV ordering, the "." target, A/AAAA, IP literals, NXDOMAIN, a server that
 * never answers (timeout), bad names, and cancellation on free.
 * Skips (77) without dnsmasq unless CI=true.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "resolve.h"

static const char *dnsmasq_bin = "/usr/sbin/dnsmasq";
static pid_t dns_pid;
static char servers[64];
static struct event_base *base;
static struct resolver *res;

static int free_udp_port(int *keep_fd)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    if (keep_fd)
        *keep_fd = fd;
    else
        close(fd);
    return ntohs(a.sin_port);
}

struct srv_out {
    bool done;
    struct srv_result r;
};
struct addr_out {
    bool done;
    struct addr_result r;
};

static void got_srv(void *arg, const struct srv_result *r)
{
    struct srv_out *o = arg;
    o->r = *r;
    o->done = true;
}

static void got_addr(void *arg, const struct addr_result *r)
{
    struct addr_out *o = arg;
    o->r = *r;
    o->done = true;
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *done, for at most 20 s of wall-clock time (a timer
 * guarantees the loop wakes up to notice the deadline). */
static void run_until(const bool *done)
{
    struct timeval tick = {0, 50000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    time_t end = time(NULL) + 20;
    while (!*done && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    assert_true(*done);
}

static int setup(void **state)
{
    int port = free_udp_port(NULL);
    char portarg[32];
    snprintf(portarg, sizeof portarg, "--port=%d", port);
    snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
    dns_pid = fork();
    if (dns_pid == 0) {
        execl(dnsmasq_bin, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
              "--no-resolv", "--no-hosts", "--bind-interfaces",
              "--listen-address=127.0.0.1", portarg, "--local=/xnet/",
              "--pid-file=", "--log-facility=-",
              "--srv-host=_xmpp-client._tcp.a.xnet,c1.a.xnet,5222,10,5",
              "--srv-host=_xmpp-client._tcp.a.xnet,c2.a.xnet,5223,20,5",
              "--srv-host=_xmpp-client._tcp.a.xnet,c3.a.xnet,5224,10,50",
              "--srv-host=_xmpps-client._tcp.b.xnet",
              "--address=/a.xnet/127.0.1.5", "--host-record=v6.xnet,::1",
              (char *)NULL);
        _exit(127);
    }
    base = event_base_new();
    struct parse_err err = {0};
    res = resolver_new(base, servers, 300, 2, &err);
    if (res == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    /* wait until dnsmasq answers */
    for (int i = 0; i < 300; i++) {
        struct addr_out o = {0};
        resolver_addr(res, "a.xnet", AF_INET, got_addr, &o);
        run_until(&o.done);
        if (o.r.status == RES_OK)
            return 0;
        usleep(100000);
    }
    fprintf(stderr, "dnsmasq did not answer on %s\n", servers);
    return -1;
}

static int teardown(void **state)
{
    resolver_free(res);
    event_base_free(base);
    if (dns_pid > 0) {
        kill(dns_pid, SIGTERM);
        waitpid(dns_pid, NULL, 0);
    }
    return 0;
}

static void test_srv_sorted(void **state)
{
    struct srv_out o = {0};
    resolver_srv(res, "_xmpp-client._tcp.a.xnet", got_srv, &o);
    assert_false(o.done); /* never answered from inside the call */
    run_until(&o.done);
    assert_int_equal(o.r.status, RES_OK);
    assert_int_equal(o.r.n, 3);
    assert_string_equal(o.r.targets[0].host, "c3.a.xnet");
    assert_int_equal(o.r.targets[0].port, 5224);
    assert_string_equal(o.r.targets[1].host, "c1.a.xnet");
    assert_string_equal(o.r.targets[2].host, "c2.a.xnet");
    assert_int_equal(o.r.targets[2].priority, 20);
}

static void test_srv_dot_and_missing(void **state)
{
    struct srv_out o = {0};
    resolver_srv(res, "_xmpps-client._tcp.b.xnet", got_srv, &o);
    run_until(&o.done);
    assert_int_equal(o.r.status, RES_OK);
    assert_int_equal(o.r.n, 1);
    assert_string_equal(o.r.targets[0].host, ".");

    struct srv_out m = {0};
    resolver_srv(res, "_xmpp-server._tcp.nowhere.xnet", got_srv, &m);
    run_until(&m.done);
    assert_int_equal(m.r.status, RES_NXDOMAIN);
    assert_int_equal(m.r.n, 0);
}

static void test_addresses(void **state)
{
    struct addr_out o = {0};
    resolver_addr(res, "c1.a.xnet", AF_INET, got_addr, &o);
    run_until(&o.done);
    assert_int_equal(o.r.status, RES_OK);
    assert_int_equal(o.r.n, 1);
    assert_string_equal(o.r.text[0], "127.0.1.5");

    struct addr_out v6 = {0};
    resolver_addr(res, "v6.xnet", AF_INET6, got_addr, &v6);
    run_until(&v6.done);
    assert_int_equal(v6.r.status, RES_OK);
    assert_string_equal(v6.r.text[0], "::1");

    struct addr_out lit = {0};
    resolver_addr(res, "127.0.9.9", AF_UNSPEC, got_addr, &lit);
    assert_false(lit.done);
    run_until(&lit.done);
    assert_int_equal(lit.r.status, RES_OK);
    assert_string_equal(lit.r.text[0], "127.0.9.9");

    struct addr_out nx = {0};
    resolver_addr(res, "nothing.xnet", AF_UNSPEC, got_addr, &nx);
    run_until(&nx.done);
    assert_int_equal(nx.r.status, RES_NXDOMAIN);
}

static void test_bad_names(void **state)
{
    static const char *const bad[] = {
        "", ".", "a..b", "-\x01", "a b", "x/y",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct addr_out o = {0};
        resolver_addr(res, bad[i], AF_UNSPEC, got_addr, &o);
        run_until(&o.done);
        assert_int_equal(o.r.status, RES_ERROR);
    }
    assert_true(resolve_hostname_ok("_xmpp-server._tcp.example.org"));
    assert_false(resolve_hostname_ok("a\xc3\xa9.org"));
}

static void test_silent_server_times_out(void **state)
{
    int keep;
    int port = free_udp_port(&keep); /* bound, never read: no answer */
    char s[64];
    snprintf(s, sizeof s, "127.0.0.1:%d", port);
    struct parse_err err = {0};
    struct resolver *r = resolver_new(base, s, 100, 1, &err);
    assert_non_null(r);
    struct srv_out o = {0};
    resolver_srv(r, "_xmpp-server._tcp.a.xnet", got_srv, &o);
    run_until(&o.done);
    assert_int_equal(o.r.status, RES_TIMEOUT);
    /* freeing with lookups in flight cancels them */
    struct addr_out c = {0};
    resolver_addr(r, "a.xnet", AF_INET, got_addr, &c);
    assert_int_equal(resolver_pending(r), 1);
    resolver_free(r);
    assert_true(c.done);
    assert_int_equal(c.r.status, RES_CANCELLED);
    close(keep);
}

int main(void)
{
    if (access(dnsmasq_bin, X_OK) != 0) {
        const char *ci = getenv("CI");
        fprintf(stderr, "dnsmasq not installed\n");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srv_sorted),
        cmocka_unit_test(test_srv_dot_and_missing),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_silent_server_times_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
