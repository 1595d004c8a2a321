/*
 * bench_direct: the direct prober (crawler/direct.c) against a local
 * libevent acceptor in a child process on 127.0.0.1. Prints:
 *   - in flight: N probes that read a stream header and then wait for
 *     features that never come (reader alive): RSS per probe;
 *   - held: N probes that read header + features and stay open (hold
 *     mode): streams held by one process, RSS per held stream, setup rate;
 *   - throughput: M complete probes (connect, header, features, close)
 *     with a concurrency limit: probes per second;
 *   - TLS in flight: probes after a direct-TLS handshake (XEP-0368 style),
 *     waiting for features: RSS per probe with its SSL object;
 *   - TLS throughput: complete direct-TLS probes per second.
 * RLIMIT_NOFILE is raised to its hard limit; N is capped to fit it.
 * Usage: bench_direct [-n HELD] [-m PROBES] [-c CONCURRENCY] [-t TLS_HELD]
 *                     [-T TLS_PROBES]
 * Not a test: numbers only (docs/DIRECT.md, docs/BENCHMARKS.md).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "direct.h"
#include "resolve.h"

/* ---- the acceptor (child process) ---------------------------------------- */

static const char features[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='b1' "
    "from='bench.xnet' version='1.0'><stream:features><mechanisms "
    "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1"
    "</mechanism><mechanism>PLAIN</mechanism></mechanisms><sm "
    "xmlns='urn:xmpp:sm:3'/><ver xmlns='urn:xmpp:features:rosterver'/>"
    "</stream:features>";
static const char header_only[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='b1' "
    "from='bench.xnet' version='1.0'><stream:features>";

struct aconn {
    bool answered;
    bool full;
};

static void a_read(struct bufferevent *bev, void *arg)
{
    struct aconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    if (!c->answered) {
        c->answered = true;
        if (c->full)
            bufferevent_write(bev, features, sizeof features - 1);
        else
            bufferevent_write(bev, header_only, sizeof header_only - 1);
    }
}

static void a_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        free(arg);
        bufferevent_free(bev);
    }
}

/* What a listener answers: features or a header only, with or without
 * TLS first (XEP-0368 style). */
struct amode {
    bool full;
    bool tls;
};
static const struct amode amodes[4] = {
    {true, false}, {false, false}, {true, true}, {false, true}};
static SSL_CTX *server_ctx;

static void a_accept(struct evconnlistener *l, evutil_socket_t fd,
                     struct sockaddr *sa, int len, void *arg)
{
    const struct amode *m = arg;
    struct aconn *c = calloc(1, sizeof *c);
    c->full = m->full;
    struct event_base *b = evconnlistener_get_base(l);
    struct bufferevent *bev =
        m->tls ? bufferevent_openssl_socket_new(b, fd, SSL_new(server_ctx),
                                                BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE)
               : bufferevent_socket_new(b, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, a_read, NULL, a_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* A TLS server context with a fresh self-signed P-256 certificate. */
static SSL_CTX *make_server_ctx(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"bench.xnet", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, key, EVP_sha256());
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx, x);
    SSL_CTX_use_PrivateKey(ctx, key);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    X509_free(x);
    EVP_PKEY_free(key);
    return ctx;
}

/* A listening socket on 127.0.0.1 (an ephemeral port, in *port). */
static int listen_on(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    evutil_make_socket_nonblocking(fd);
    *port = ntohs(a.sin_port);
    return fd;
}

/* The child: its own event base (an epoll set is shared across fork, so
 * none is made before it). */
static void acceptor(const int *fds)
{
    struct event_base *b = event_base_new();
    server_ctx = make_server_ctx();
    for (int i = 0; i < 4; i++)
        evconnlistener_new(b, a_accept, (void *)&amodes[i],
                           LEV_OPT_CLOSE_ON_FREE, -1, fds[i]);
    event_base_dispatch(b);
    _exit(0);
}

/* ---- the prober side ------------------------------------------------------
 */

struct counts {
    size_t outcomes, ok, done, features, tls;
    size_t by[DOUT__COUNT];
};

static void b_features(void *arg, const struct direct_target *t,
                       enum direct_phase p, const struct direct_features *f)
{
    ((struct counts *)arg)->features++;
}

static void b_tls(void *arg, const struct direct_target *t,
                  const struct tlsctx_facts *f)
{
    ((struct counts *)arg)->tls++;
}

static void b_outcome(void *arg, const struct direct_target *t,
                      enum direct_outcome o, const char *cond,
                      const char *detail, int ms)
{
    struct counts *c = arg;
    c->outcomes++;
    c->by[o]++;
    if (o == DOUT_OK)
        c->ok++;
}

static void b_done(void *arg, const struct direct_domain_result *r)
{
    ((struct counts *)arg)->done++;
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
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

/* Runs base until pred() or 120 s. */
static void run_while(struct event_base *base, const size_t *n, size_t want)
{
    struct timeval tick = {0, 20000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    double end = now_s() + 120;
    while (*n < want && now_s() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
}

static void print_outcomes(const struct counts *c)
{
    for (int i = 0; i < DOUT__COUNT; i++)
        if (c->by[i] && i != DOUT_OK)
            printf("    (%zu %s)\n", c->by[i],
                   direct_outcome_name((enum direct_outcome)i));
}

/* One measurement, run in a fresh process so that memory freed by an
 * earlier one does not hide this one's growth. */
struct bench_cfg {
    size_t n, m, conc, nt, mt;
    int port[4]; /* amodes order: full, half, TLS full, TLS half */
};

static void run_phase(int phase, const struct bench_cfg *b)
{
    size_t n = b->n, m = b->m, conc = b->conc;
    int port_full = b->port[0], port_half = b->port[1];
    struct event_base *base = event_base_new();
    struct parse_err err = {0};
    struct resolver *res = resolver_new(base, "127.0.0.1:9", 1000, 1, &err);
    struct counts c = {0};
    struct direct_sink sink = {
        .arg = &c, .features = b_features, .tls = b_tls, .outcome = b_outcome};
    struct direct_limits lim;
    direct_limits_default(&lim);
    lim.read_timeout_ms = 120000;
    lim.connect_timeout_ms = 60000;

    switch (phase) {
    case 1: {
        /* 1. in flight: header read, features never complete */
        lim.concurrency = n;
        struct direct *d = direct_new(base, res, NULL, &lim, &sink);
        long rss0 = rss_kib();
        for (size_t i = 0; i < n; i++)
            direct_probe_addr(d, "bench.xnet", "xmpp-client", "127.0.0.1",
                              (uint16_t)port_half, b_done, &c);
        /* wait until every probe has its header: nothing else to wait for, so
         * poll the loop for a while after the last connect */
        struct direct_stats st;
        double t0 = now_s();
        do {
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
            direct_get_stats(d, &st);
        } while ((st.waiting > 0 || st.active < n) && now_s() - t0 < 60);
        double tw = now_s() + 2;
        while (now_s() < tw)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        long rss1 = rss_kib();
        direct_get_stats(d, &st);
        printf("in flight: %zu probes open (fd floor %d), RSS +%ld KiB = %.1f "
               "KiB per probe\n",
               st.active, st.fd_floor, rss1 - rss0,
               (double)(rss1 - rss0) / (double)(st.active ? st.active : 1));
        direct_free(d); /* cancels them all */

        break;
    }
    case 2: {
        /* 2. held: header + features read, connection kept */
        struct direct *d = direct_new(base, res, NULL, &lim, &sink);
        direct_set_hold(d, true);
        long rss0 = rss_kib();
        double t0 = now_s();
        for (size_t i = 0; i < n; i++)
            direct_probe_addr(d, "bench.xnet", "xmpp-client", "127.0.0.1",
                              (uint16_t)port_full, b_done, &c);
        run_while(base, &c.done, n);
        double t1 = now_s();
        long rss1 = rss_kib();
        printf("held: %zu streams held open by one process (%zu ok) in %.2f s "
               "(%.0f/s), RSS +%ld KiB = %.1f KiB per held stream\n",
               direct_held(d), c.ok, t1 - t0, (double)c.done / (t1 - t0),
               rss1 - rss0, (double)(rss1 - rss0) / (double)(n ? n : 1));
        print_outcomes(&c);
        direct_free(d);

        break;
    }
    case 4: {
        /* 4. TLS in flight: direct TLS done, features never complete */
        struct tlsctx *tls = tlsctx_new(NULL, &err);
        lim.concurrency = b->nt;
        struct direct *d = direct_new(base, res, tls, &lim, &sink);
        long rss0 = rss_kib();
        for (size_t i = 0; i < b->nt; i++)
            direct_probe_addr(d, "bench.xnet", "xmpps-client", "127.0.0.1",
                              (uint16_t)b->port[3], b_done, &c);
        run_while(base, &c.tls, b->nt);
        double tw = now_s() + 2;
        while (now_s() < tw)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        long rss1 = rss_kib();
        struct direct_stats st;
        direct_get_stats(d, &st);
        printf("TLS in flight: %zu probes open after their handshake, RSS "
               "+%ld KiB = %.1f KiB per probe\n",
               st.active, rss1 - rss0,
               (double)(rss1 - rss0) / (double)(st.active ? st.active : 1));
        direct_free(d);
        tlsctx_free(tls);
        break;
    }
    case 5: {
        /* 5. TLS throughput: connect, handshake, header, features, close */
        struct tlsctx *tls = tlsctx_new(NULL, &err);
        lim.concurrency = conc;
        struct direct *d = direct_new(base, res, tls, &lim, &sink);
        double t0 = now_s();
        for (size_t i = 0; i < b->mt; i++)
            direct_probe_addr(d, "bench.xnet", "xmpps-client", "127.0.0.1",
                              (uint16_t)b->port[2], b_done, &c);
        run_while(base, &c.done, b->mt);
        double t1 = now_s();
        printf("TLS throughput: %zu probes (%zu ok) in %.2f s = %.0f "
               "probes/s (acceptor on the same 2 cores)\n",
               c.done, c.ok, t1 - t0, (double)c.done / (t1 - t0));
        print_outcomes(&c);
        direct_free(d);
        tlsctx_free(tls);
        break;
    }
    default: {
        /* 3. throughput: complete probes, concurrency-limited */
        lim.concurrency = conc;
        struct direct *d = direct_new(base, res, NULL, &lim, &sink);
        double t0 = now_s();
        for (size_t i = 0; i < m; i++)
            direct_probe_addr(d, "bench.xnet", "xmpp-client", "127.0.0.1",
                              (uint16_t)port_full, b_done, &c);
        run_while(base, &c.done, m);
        double t1 = now_s();
        struct direct_stats st;
        direct_get_stats(d, &st);
        printf(
            "throughput: %zu probes (%zu ok) in %.2f s = %.0f probes/s, peak "
            "%zu open\n",
            c.done, c.ok, t1 - t0, (double)c.done / (t1 - t0), st.peak);
        print_outcomes(&c);
        direct_free(d);

        break;
    }
    }
    resolver_free(res);
    event_base_free(base);
}

int main(int argc, char **argv)
{
    struct bench_cfg b = {
        .n = 6000, .m = 10000, .conc = 1000, .nt = 1000, .mt = 2000};
    int opt;
    while ((opt = getopt(argc, argv, "n:m:c:t:T:")) != -1) {
        switch (opt) {
        case 'n':
            b.n = strtoul(optarg, NULL, 10);
            break;
        case 'm':
            b.m = strtoul(optarg, NULL, 10);
            break;
        case 'c':
            b.conc = strtoul(optarg, NULL, 10);
            break;
        case 't':
            b.nt = strtoul(optarg, NULL, 10);
            break;
        case 'T':
            b.mt = strtoul(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: bench_direct [-n HELD] [-m PROBES] [-c "
                            "CONCURRENCY] [-t TLS_HELD] [-T TLS_PROBES]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (b.n + 1100 > rl.rlim_cur)
        b.n = rl.rlim_cur - 1100;
    if (b.nt + 1100 > rl.rlim_cur)
        b.nt = rl.rlim_cur - 1100;
    printf("RLIMIT_NOFILE %llu, held streams %zu, throughput probes %zu at "
           "concurrency %zu, TLS: %zu in flight, %zu probes\n",
           (unsigned long long)rl.rlim_cur, b.n, b.m, b.conc, b.nt, b.mt);

    /* the acceptor: a child process with its own loop */
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = listen_on(&b.port[i]);
        if (fds[i] < 0) {
            perror("listen");
            return 1;
        }
    }
    pid_t child = fork();
    if (child == 0)
        acceptor(fds);
    for (int i = 0; i < 4; i++)
        close(fds[i]);

    for (int phase = 1; phase <= 5; phase++) {
        pid_t pid = fork();
        if (pid == 0) {
            run_phase(phase, &b);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
    }
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    return 0;
}
