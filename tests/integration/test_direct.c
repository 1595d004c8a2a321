/*
 * crawler/direct against real servers on 127.0.0.1, started by this test:
 * a private Prosody with TLS (tests/integration/direct_prosody.sh: test CA,
 * STARTTLS required on c2s, optional on s2s, direct TLS on a third port)
 * found through SRV records served by a private dnsmasq; the features
 * before and after STARTTLS and the TLS facts, verified with the test CA
 * and failing with an unrelated one; DNS outcomes (nxdomain, "." target,
 * no SRV -> fallback port, refused connection); every xc-hostile mode over
 * c2s and s2s ending in its expected outcome, with the process RSS
 * measured before and after (bounded) over repeated rounds.
 *
 * argv: direct_prosody.sh, a work directory, the xc-hostile binary.
 * Skips (77) without prosody or dnsmasq unless CI=true.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "direct.h"
#include "resolve.h"
#include "tlsctx.h"
#include "xalloc.h"

static const char *dnsmasq_bin = "/usr/sbin/dnsmasq";
static const char *prosody_script, *workdir, *hostile_bin;
static pid_t dns_pid, hostile_pid;
static int port;         /* Prosody: c2s, +1 s2s, +2 direct TLS */
static int refused_port; /* nothing listens there */
static int hostile_base;
static char servers[64];
static char ca_file[512], other_ca_file[512];
static struct event_base *base;
static struct resolver *res;

/* ---- a recording sink ---------------------------------------------------- */

struct rec_features {
    char service[16];
    enum direct_phase phase;
    bool direct_tls;
    struct direct_features f;
};
struct rec_tls {
    char service[16];
    struct tlsctx_facts t;
};
struct rec_outcome {
    char domain[64];
    char service[16];
    char host[64];
    char ip[64];
    uint16_t port;
    enum direct_outcome o;
    char condition[64];
    char detail[200];
    int ms;
};
struct rec_srv {
    char service[16];
    enum resolve_status status;
    bool has_target;
    struct srv_target t;
};

struct rec {
    struct rec_features feat[16];
    size_t n_feat;
    struct rec_tls tls[8];
    size_t n_tls;
    struct rec_outcome out[64];
    size_t n_out;
    struct rec_srv srv[16];
    size_t n_srv;
    size_t done;
};

static void r_srv(void *arg, const char *domain, const char *service,
                  enum resolve_status st, const struct srv_target *t)
{
    struct rec *r = arg;
    assert_true(r->n_srv < ARRAY_LEN(r->srv));
    struct rec_srv *s = &r->srv[r->n_srv++];
    snprintf(s->service, sizeof s->service, "%s", service);
    s->status = st;
    s->has_target = t != NULL;
    if (t)
        s->t = *t;
}

static void r_features(void *arg, const struct direct_target *t,
                       enum direct_phase phase, const struct direct_features *f)
{
    struct rec *r = arg;
    assert_true(r->n_feat < ARRAY_LEN(r->feat));
    struct rec_features *x = &r->feat[r->n_feat++];
    snprintf(x->service, sizeof x->service, "%s", t->service);
    x->phase = phase;
    x->direct_tls = t->direct_tls;
    x->f = *f;
}

static void r_tls(void *arg, const struct direct_target *t,
                  const struct tlsctx_facts *f)
{
    struct rec *r = arg;
    assert_true(r->n_tls < ARRAY_LEN(r->tls));
    struct rec_tls *x = &r->tls[r->n_tls++];
    snprintf(x->service, sizeof x->service, "%s", t->service);
    x->t = *f;
}

static void r_outcome(void *arg, const struct direct_target *t,
                      enum direct_outcome o, const char *cond,
                      const char *detail, int ms)
{
    struct rec *r = arg;
    assert_true(r->n_out < ARRAY_LEN(r->out));
    struct rec_outcome *x = &r->out[r->n_out++];
    snprintf(x->domain, sizeof x->domain, "%s", t->domain);
    snprintf(x->service, sizeof x->service, "%s", t->service);
    snprintf(x->host, sizeof x->host, "%s", t->host);
    snprintf(x->ip, sizeof x->ip, "%s", t->ip);
    x->port = t->port;
    x->o = o;
    snprintf(x->condition, sizeof x->condition, "%s", cond ? cond : "");
    snprintf(x->detail, sizeof x->detail, "%s", detail ? detail : "");
    x->ms = ms;
}

static void r_done(void *arg, const struct direct_domain_result *res_)
{
    struct rec *r = arg;
    r->done++;
}

static const struct rec_features *
find_feat(const struct rec *r, const char *service, enum direct_phase phase)
{
    for (size_t i = 0; i < r->n_feat; i++)
        if (strcmp(r->feat[i].service, service) == 0 &&
            r->feat[i].phase == phase)
            return &r->feat[i];
    return NULL;
}

static const struct rec_tls *find_tls(const struct rec *r, const char *service)
{
    for (size_t i = 0; i < r->n_tls; i++)
        if (strcmp(r->tls[i].service, service) == 0)
            return &r->tls[i];
    return NULL;
}

static const struct rec_outcome *
find_out(const struct rec *r, const char *domain, const char *service)
{
    for (size_t i = 0; i < r->n_out; i++)
        if (strcmp(r->out[i].domain, domain) == 0 &&
            strcmp(r->out[i].service, service) == 0)
            return &r->out[i];
    return NULL;
}

static bool has_mech(const struct direct_features *f, const char *m)
{
    for (size_t i = 0; i < f->n_mechanisms; i++)
        if (strcmp(f->mechanisms[i], m) == 0)
            return true;
    return false;
}

/* ---- fixtures ------------------------------------------------------------ */

static void wake(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *n reaches want, for at most 90 s of wall-clock time
 * (the prober's own deadlines are far shorter). */
static void run_until(const size_t *n, size_t want)
{
    struct timeval tick = {0, 50000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    time_t end = time(NULL) + 90;
    while (*n < want && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    assert_int_equal(*n, want);
}

static bool tcp_port_free(int p)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* count consecutive free TCP ports from a pid-derived start, below the
 * ephemeral range (32768-) so outgoing connections do not take them */
static int free_ports(int count, int salt)
{
    for (int tries = 0; tries < 200; tries++) {
        int p = 20000 + (int)((getpid() * 7 + salt * 131 + tries * 97) % 12000);
        bool ok = true;
        for (int i = 0; i < count && ok; i++)
            ok = tcp_port_free(p + i);
        if (ok)
            return p;
    }
    return -1;
}

static int free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void start_dnsmasq(void)
{
    int dport = free_udp_port();
    char portarg[32], a1[128], a2[128], a3[128], a4[128], a5[128];
    snprintf(portarg, sizeof portarg, "--port=%d", dport);
    snprintf(servers, sizeof servers, "127.0.0.1:%d", dport);
    snprintf(a1, sizeof a1,
             "--srv-host=_xmpp-client._tcp.tls.xnet,c.tls.xnet,%d,0,5", port);
    snprintf(a2, sizeof a2,
             "--srv-host=_xmpp-server._tcp.tls.xnet,s.tls.xnet,%d,0,5",
             port + 1);
    snprintf(a3, sizeof a3,
             "--srv-host=_xmpps-client._tcp.tls.xnet,c.tls.xnet,%d,0,5",
             port + 2);
    snprintf(a4, sizeof a4,
             "--srv-host=_xmpp-client._tcp.refused.xnet,r.refused.xnet,%d,0,5",
             refused_port);
    snprintf(a5, sizeof a5,
             "--srv-host=_xmpp-server._tcp.refused.xnet,r.refused.xnet,%d,0,5",
             refused_port);
    dns_pid = fork();
    if (dns_pid == 0) {
        execl(dnsmasq_bin, "dnsmasq", "--keep-in-foreground",
              "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
              "--bind-interfaces", "--listen-address=127.0.0.1", portarg,
              "--local=/xnet/", "--pid-file=", "--log-facility=-", a1, a2, a3,
              a4, a5, "--host-record=c.tls.xnet,127.0.0.1",
              "--host-record=s.tls.xnet,127.0.0.1",
              "--host-record=r.refused.xnet,127.0.0.1",
              /* "." target: the client service is decidedly not offered */
              "--srv-host=_xmpp-client._tcp.dot.xnet",
              "--srv-host=_xmpp-server._tcp.dot.xnet",
              /* no SRV at all: fallback to the domain on 5222/5269 */
              "--host-record=nosrv.xnet,127.0.0.77", (char *)NULL);
        _exit(127);
    }
}

struct addr_wait {
    bool done;
    enum resolve_status status;
};

static void got_addr(void *arg, const struct addr_result *r)
{
    struct addr_wait *w = arg;
    w->status = r->status;
    w->done = true;
}

static int setup(void **state)
{
    port = free_ports(3, 1);
    refused_port = free_ports(1, 2);
    hostile_base = free_ports((int)20, 3);
    if (port < 0 || refused_port < 0 || hostile_base < 0)
        return -1;
    mkdir(workdir, 0755);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s start '%s' tls.xnet %d", prosody_script,
             workdir, port);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "cannot start prosody (%d)\n", rc);
        return -1;
    }
    snprintf(ca_file, sizeof ca_file, "%s/ca.crt", workdir);
    snprintf(other_ca_file, sizeof other_ca_file, "%s/other-ca.crt", workdir);

    char bp[16];
    snprintf(bp, sizeof bp, "%d", hostile_base);
    hostile_pid = fork();
    if (hostile_pid == 0) {
        execl(hostile_bin, "xc-hostile", "--addr", "127.0.0.1", "--base-port",
              bp, (char *)NULL);
        _exit(127);
    }
    base = event_base_new();
    /* dnsmasq on a free UDP port; another process may take the port
     * between the probe and dnsmasq's bind: then it exits, try again */
    for (int attempt = 0; attempt < 5 && res == NULL; attempt++) {
        start_dnsmasq();
        struct parse_err err = {0};
        res = resolver_new(base, servers, 300, 2, &err);
        if (res == NULL) {
            fprintf(stderr, "%s\n", err.msg);
            return -1;
        }
        bool up = false;
        for (int i = 0; i < 30 && !up; i++) {
            struct addr_wait w = {0};
            resolver_addr(res, "c.tls.xnet", AF_INET, got_addr, &w);
            while (!w.done)
                event_base_loop(base, EVLOOP_ONCE);
            up = w.status == RES_OK;
            if (!up && waitpid(dns_pid, NULL, WNOHANG) == dns_pid) {
                dns_pid = 0;
                break; /* dnsmasq exited */
            }
            if (!up)
                usleep(100000);
        }
        if (!up) {
            resolver_free(res);
            res = NULL;
            if (dns_pid > 0) {
                kill(dns_pid, SIGTERM);
                waitpid(dns_pid, NULL, 0);
                dns_pid = 0;
            }
        }
    }
    if (res == NULL) {
        fprintf(stderr, "dnsmasq did not answer\n");
        return -1;
    }
    for (int i = 0; i < 100 && tcp_port_free(hostile_base); i++)
        usleep(100000); /* the port taken: xc-hostile listens */
    return 0;
}

static int teardown(void **state)
{
    resolver_free(res);
    event_base_free(base);
    if (dns_pid > 0) {
        kill(dns_pid, SIGTERM);
        waitpid(dns_pid, NULL, 0);
    }
    if (hostile_pid > 0) {
        kill(hostile_pid, SIGTERM);
        waitpid(hostile_pid, NULL, 0);
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s stop '%s'", prosody_script, workdir);
    if (system(cmd) != 0)
        fprintf(stderr, "prosody stop failed\n");
    return 0;
}

static struct direct_limits test_limits(void)
{
    struct direct_limits l;
    direct_limits_default(&l);
    l.connect_timeout_ms = 3000;
    l.tls_timeout_ms = 2000;
    l.read_timeout_ms = 2000;
    l.reader.max_bytes = 64 * 1024;
    l.s2s_from = "crawler.xnet";
    return l;
}

static struct direct_sink rec_sink(struct rec *r)
{
    return (struct direct_sink){.arg = r,
                                .srv = r_srv,
                                .features = r_features,
                                .tls = r_tls,
                                .outcome = r_outcome};
}

/* ---- tests --------------------------------------------------------------- */

static void check_tls_common(const struct tlsctx_facts *t)
{
    assert_true(t->has_cert);
    assert_non_null(strstr(t->subject, "CN=tls.xnet"));
    assert_non_null(strstr(t->issuer, "xcensus direct test CA"));
    assert_int_equal(t->n_names, 2);
    assert_string_equal(t->names[0], "tls.xnet");
    assert_string_equal(t->names[1], "*.tls.xnet");
    assert_true(t->name_matches);
    assert_int_equal(strlen(t->not_before), 20);
    assert_int_equal(strlen(t->not_after), 20);
    assert_true(strcmp(t->not_before, t->not_after) < 0);
    assert_true(strncmp(t->version, "TLSv1.", 6) == 0);
    assert_true(t->cipher[0] != '\0');
}

/* The whole path through DNS, with the test CA trusted. */
static void test_prosody_features_and_tls(void **state)
{
    struct parse_err err = {0};
    struct tlsctx *tls = tlsctx_new(ca_file, &err);
    assert_non_null(tls);
    struct rec *r = xcalloc(1, sizeof *r);
    struct direct_limits l = test_limits();
    struct direct_sink sink = rec_sink(r);
    struct direct *d = direct_new(base, res, tls, &l, &sink);
    assert_true(direct_probe(d, "tls.xnet", r_done, r));
    assert_int_equal(r->done, 0); /* never from inside the call */
    run_until(&r->done, 1);

    /* SRV records as served */
    size_t seen = 0;
    for (size_t i = 0; i < r->n_srv; i++) {
        assert_true(r->srv[i].has_target);
        assert_int_equal(r->srv[i].status, RES_OK);
        if (strcmp(r->srv[i].service, "xmpp-client") == 0) {
            assert_string_equal(r->srv[i].t.host, "c.tls.xnet");
            assert_int_equal(r->srv[i].t.port, port);
            seen |= 1;
        } else if (strcmp(r->srv[i].service, "xmpp-server") == 0) {
            assert_string_equal(r->srv[i].t.host, "s.tls.xnet");
            assert_int_equal(r->srv[i].t.port, port + 1);
            seen |= 2;
        } else if (strcmp(r->srv[i].service, "xmpps-client") == 0) {
            assert_int_equal(r->srv[i].t.port, port + 2);
            seen |= 4;
        }
    }
    assert_int_equal(seen, 7);

    /* c2s: STARTTLS required, SASL and IBR only after TLS
     * (c2s_require_encryption, allow_registration) */
    const struct rec_features *pre =
        find_feat(r, "xmpp-client", DPHASE_PRE_TLS);
    const struct rec_features *post =
        find_feat(r, "xmpp-client", DPHASE_POST_TLS);
    assert_non_null(pre);
    assert_non_null(post);
    assert_int_equal(pre->f.starttls, DSTARTTLS_REQUIRED);
    assert_string_equal(pre->f.stream_version, "1.0");
    assert_string_equal(pre->f.stream_from, "tls.xnet");
    assert_int_equal(pre->f.n_mechanisms, 0);
    assert_false(pre->f.ibr);
    assert_int_equal(post->f.starttls, DSTARTTLS_NONE);
    assert_true(has_mech(&post->f, "SCRAM-SHA-1"));
    assert_true(has_mech(&post->f, "PLAIN"));
    assert_true(post->f.ibr);
    assert_false(post->f.dialback);

    /* s2s: STARTTLS optional, dialback and bidi (mod_s2s_bidi) */
    const struct rec_features *spre =
        find_feat(r, "xmpp-server", DPHASE_PRE_TLS);
    const struct rec_features *spost =
        find_feat(r, "xmpp-server", DPHASE_POST_TLS);
    assert_non_null(spre);
    assert_non_null(spost);
    assert_int_equal(spre->f.starttls, DSTARTTLS_OPTIONAL);
    assert_true(spre->f.dialback);
    assert_true(spre->f.bidi);
    assert_true(spost->f.dialback);
    assert_int_equal(spost->f.n_mechanisms, 0);

    /* direct TLS (XEP-0368): features only after TLS */
    assert_null(find_feat(r, "xmpps-client", DPHASE_PRE_TLS));
    const struct rec_features *dt =
        find_feat(r, "xmpps-client", DPHASE_POST_TLS);
    assert_non_null(dt);
    assert_true(dt->direct_tls);
    assert_true(has_mech(&dt->f, "SCRAM-SHA-1"));

    /* TLS facts: verified with the test CA */
    const char *svcs[] = {"xmpp-client", "xmpp-server", "xmpps-client"};
    for (size_t i = 0; i < ARRAY_LEN(svcs); i++) {
        const struct rec_tls *t = find_tls(r, svcs[i]);
        assert_non_null(t);
        check_tls_common(&t->t);
        assert_true(t->t.verifies);
        assert_string_equal(t->t.verify_error, "");
        const struct rec_outcome *o = find_out(r, "tls.xnet", svcs[i]);
        assert_non_null(o);
        assert_int_equal(o->o, DOUT_OK);
        assert_string_equal(o->ip, "127.0.0.1");
    }
    assert_int_equal(r->n_out, 3);
    direct_free(d);
    tlsctx_free(tls);
    free(r);
}

/* The same server with an unrelated CA trusted: the handshake completes,
 * the facts say it does not verify. A host served with another host's
 * certificate: the name does not match. A name the server does not serve.
 * Without a TLS context STARTTLS is recorded, not followed. */
static void test_prosody_untrusted(void **state)
{
    struct parse_err err = {0};
    struct tlsctx *tls = tlsctx_new(other_ca_file, &err);
    assert_non_null(tls);
    struct rec *r = xcalloc(1, sizeof *r);
    struct direct_limits l = test_limits();
    struct direct_sink sink = rec_sink(r);
    struct direct *d = direct_new(base, res, tls, &l, &sink);
    assert_true(direct_probe_addr(d, "tls.xnet", "xmpp-client", "127.0.0.1",
                                  (uint16_t)port, r_done, r));
    run_until(&r->done, 1);
    const struct rec_tls *t = find_tls(r, "xmpp-client");
    assert_non_null(t);
    check_tls_common(&t->t);
    assert_false(t->t.verifies);
    assert_string_equal(t->t.verify_error,
                        "unable to get local issuer certificate");
    assert_int_equal(r->out[0].o, DOUT_OK);
    assert_non_null(find_feat(r, "xmpp-client", DPHASE_POST_TLS));

    /* alias.xnet is served with the certificate of tls.xnet: the chain
     * verifies with the test CA, the name does not */
    direct_free(d);
    struct tlsctx *good = tlsctx_new(ca_file, &err);
    assert_non_null(good);
    d = direct_new(base, res, good, &l, &sink);
    memset(r, 0, sizeof *r);
    assert_true(direct_probe_addr(d, "alias.xnet", "xmpp-client", "127.0.0.1",
                                  (uint16_t)port, r_done, r));
    run_until(&r->done, 1);
    t = find_tls(r, "xmpp-client");
    assert_non_null(t);
    assert_false(t->t.name_matches);
    assert_false(t->t.verifies);
    assert_string_equal(t->t.verify_error, "hostname mismatch");
    assert_string_equal(t->t.names[0], "tls.xnet");
    assert_int_equal(r->out[0].o, DOUT_OK);

    /* a name the server does not serve: Prosody refuses the SNI of a
     * direct-TLS connection with an alert, and answers a stream to it
     * with a stream error */
    memset(r, 0, sizeof *r);
    assert_true(direct_probe_addr(d, "other.xnet", "xmpps-client", "127.0.0.1",
                                  (uint16_t)(port + 2), r_done, r));
    assert_true(direct_probe_addr(d, "other.xnet", "xmpp-client", "127.0.0.1",
                                  (uint16_t)port, r_done, r));
    run_until(&r->done, 2);
    const struct rec_outcome *o = find_out(r, "other.xnet", "xmpps-client");
    assert_non_null(o);
    assert_int_equal(o->o, DOUT_TLS_FAILED);
    assert_non_null(strstr(o->detail, "unrecognized name"));
    o = find_out(r, "other.xnet", "xmpp-client");
    assert_non_null(o);
    assert_int_equal(o->o, DOUT_STREAM_ERROR);
    assert_string_equal(o->condition, "host-unknown");
    assert_int_equal(r->n_tls, 0);
    direct_free(d);

    /* no TLS context */
    memset(r, 0, sizeof *r);
    d = direct_new(base, res, NULL, &l, &sink);
    assert_true(direct_probe_addr(d, "tls.xnet", "xmpp-client", "127.0.0.1",
                                  (uint16_t)port, r_done, r));
    run_until(&r->done, 1);
    assert_int_equal(r->n_tls, 0);
    assert_int_equal(r->n_feat, 1);
    assert_int_equal(r->feat[0].f.starttls, DSTARTTLS_REQUIRED);
    assert_int_equal(r->out[0].o, DOUT_OK);
    direct_free(d);
    tlsctx_free(tls);
    tlsctx_free(good);
    free(r);
}

/* nxdomain, "." target, no SRV (fallback port), refused connection. */
static void test_dns_outcomes(void **state)
{
    struct rec *r = xcalloc(1, sizeof *r);
    struct direct_limits l = test_limits();
    l.direct_tls = false; /* two services per domain */
    struct direct_sink sink = rec_sink(r);
    struct direct *d = direct_new(base, res, NULL, &l, &sink);
    assert_false(direct_probe(d, "bad name!", r_done, r));
    assert_true(direct_probe(d, "nothing.xnet", r_done, r));
    assert_true(direct_probe(d, "dot.xnet", r_done, r));
    assert_true(direct_probe(d, "nosrv.xnet", r_done, r));
    assert_true(direct_probe(d, "refused.xnet", r_done, r));
    run_until(&r->done, 4);

    const char *svcs[] = {"xmpp-client", "xmpp-server"};
    for (size_t i = 0; i < 2; i++) {
        const struct rec_outcome *o = find_out(r, "nothing.xnet", svcs[i]);
        assert_non_null(o);
        assert_int_equal(o->o, DOUT_NXDOMAIN);
        o = find_out(r, "dot.xnet", svcs[i]);
        assert_non_null(o);
        assert_int_equal(o->o, DOUT_NO_SERVICE);
        o = find_out(r, "refused.xnet", svcs[i]);
        assert_non_null(o);
        assert_int_equal(o->o, DOUT_CONNECT_REFUSED);
        assert_int_equal(o->port, refused_port);
        assert_string_equal(o->host, "r.refused.xnet");
        /* the fallback goes to the domain itself on the standard port;
         * what answers there (if anything) is not ours to know */
        o = find_out(r, "nosrv.xnet", svcs[i]);
        assert_non_null(o);
        assert_string_equal(o->host, "nosrv.xnet");
        assert_string_equal(o->ip, "127.0.0.77");
        assert_int_equal(o->port, i == 0 ? 5222 : 5269);
    }
    assert_int_equal(r->n_out, 8);
    direct_free(d);
    free(r);
}

struct expect {
    const char *mode;
    enum direct_outcome o;
};
static const struct expect hostile_expect[] = {
    {"malformed-xml", DOUT_MALFORMED_XML},
    {"doctype-entities", DOUT_DOCTYPE},
    {"endless-text", DOUT_TOO_LARGE},
    {"huge-stanza", DOUT_TOO_LARGE},
    {"slow-drip", DOUT_READ_TIMEOUT},
    {"invalid-utf8", DOUT_MALFORMED_XML},
    {"stream-error", DOUT_STREAM_ERROR},
    {"mid-stanza-close", DOUT_CLOSED},
    {"tls-stall", DOUT_TLS_TIMEOUT},
    {"endless-items", DOUT_OK},
    {"normal-ish", DOUT_OK},
};

/* One round: every mode over c2s and s2s at once. */
static void hostile_round(struct tlsctx *tls, size_t nmodes, char modes[][32],
                          const int *ports)
{
    struct rec *r = xcalloc(1, sizeof *r);
    struct direct_limits l = test_limits();
    struct direct_sink sink = rec_sink(r);
    struct direct *d = direct_new(base, res, tls, &l, &sink);
    size_t started = 0;
    for (size_t i = 0; i < nmodes; i++) {
        char dom[64];
        snprintf(dom, sizeof dom, "%s.hostile.xnet", modes[i]);
        assert_true(direct_probe_addr(d, dom, "xmpp-client", "127.0.0.1",
                                      (uint16_t)ports[i], r_done, r));
        assert_true(direct_probe_addr(d, dom, "xmpp-server", "127.0.0.1",
                                      (uint16_t)ports[i], r_done, r));
        started += 2;
    }
    run_until(&r->done, started);
    assert_int_equal(r->n_out, started);
    for (size_t i = 0; i < nmodes; i++) {
        const struct expect *e = NULL;
        for (size_t k = 0; k < ARRAY_LEN(hostile_expect); k++)
            if (strcmp(hostile_expect[k].mode, modes[i]) == 0)
                e = &hostile_expect[k];
        assert_non_null(e); /* a new mode needs its expected outcome here */
        char dom[64];
        snprintf(dom, sizeof dom, "%s.hostile.xnet", modes[i]);
        for (int s = 0; s < 2; s++) {
            const struct rec_outcome *o =
                find_out(r, dom, s ? "xmpp-server" : "xmpp-client");
            assert_non_null(o);
            if (o->o != e->o)
                fprintf(stderr, "%s %s: %s (%s)\n", dom, o->service,
                        direct_outcome_name(o->o), o->detail);
            assert_int_equal(o->o, e->o);
            if (e->o == DOUT_STREAM_ERROR)
                assert_string_equal(o->condition, "host-unknown");
        }
    }
    struct direct_stats st;
    direct_get_stats(d, &st);
    assert_int_equal(st.active, 0);
    assert_int_equal(st.finished, started);
    direct_free(d);
    free(r);
}

static void test_hostile(void **state)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --addr 127.0.0.1 --base-port %d --list",
             hostile_bin, hostile_base);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char modes[32][32];
    int ports[32];
    size_t n = 0;
    while (n < 32 && fscanf(f, "%31s %d", modes[n], &ports[n]) == 2)
        n++;
    pclose(f);
    assert_int_equal(n, ARRAY_LEN(hostile_expect));

    struct parse_err err = {0};
    struct tlsctx *tls = tlsctx_new(ca_file, &err);
    assert_non_null(tls);
    long rss0 = rss_kib();
    hostile_round(tls, n, modes, ports);
    long rss1 = rss_kib();
    hostile_round(tls, n, modes, ports);
    hostile_round(tls, n, modes, ports);
    long rss3 = rss_kib();
    fprintf(stderr,
            "rss: before %ld KiB, after one round %ld KiB, after "
            "three %ld KiB\n",
            rss0, rss1, rss3);
    /* 22 streams capped at 64 KiB each (plus the sanitizer's quarantine):
     * a round must not cost more than a few MiB, and repeating it must
     * not keep growing */
    assert_true(rss1 - rss0 < 64 * 1024);
    assert_true(rss3 - rss1 < 64 * 1024);
    tlsctx_free(tls);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PROSODY_SCRIPT WORKDIR XC_HOSTILE\n",
                argv[0]);
        return 2;
    }
    prosody_script = argv[1];
    workdir = argv[2];
    hostile_bin = argv[3];
    const char *ci = getenv("CI");
    bool in_ci = ci && strcmp(ci, "true") == 0;
    if (access(dnsmasq_bin, X_OK) != 0 || system("command -v prosody "
                                                 ">/dev/null") != 0) {
        fprintf(stderr, "dnsmasq or prosody not installed\n");
        return in_ci ? 1 : 77;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prosody_features_and_tls),
        cmocka_unit_test(test_prosody_untrusted),
        cmocka_unit_test(test_dns_outcomes),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
