/*
 * The direct prober's I/O half (see direct.h): per-domain DNS on the
 * c-ares resolver, a FIFO of connections bounded by a concurrency limit,
 * and one state machine per connection on a libevent bufferevent (wrapped
 * by bufferevent_openssl for TLS).
 *
 * A connection is in one state at a time and only conn_set_state()
 * changes it; one absolute deadline per state (a timer, not an idle
 * timeout, so a server that drips one byte a second still ends); every
 * exit goes through conn_finish(), which reports the one outcome and frees
 * the connection (bufferevent and timer freed inside their own callbacks
 * is allowed by libevent: bufferevent_free() drops the callbacks first).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "direct.h"
#include "log.h"
#include "xalloc.h"

#define FD_FLOOR 1024
#define READ_HIGH_WATER (16 * 1024)

enum svc { SVC_CLIENT, SVC_CLIENTS, SVC_SERVER, SVC__COUNT };
static const struct svc_info {
    const char *name;
    const char *srv_prefix;
    enum direct_stream stream;
    bool direct_tls;
    uint16_t fallback_port; /* 0: no fallback */
} svc_info[] = {
    [SVC_CLIENT] = {"xmpp-client", "_xmpp-client._tcp.", DSTREAM_C2S, false,
                    5222},
    [SVC_CLIENTS] = {"xmpps-client", "_xmpps-client._tcp.", DSTREAM_C2S, true,
                     0},
    [SVC_SERVER] = {"xmpp-server", "_xmpp-server._tcp.", DSTREAM_S2S, false,
                    5269},
};
_Static_assert(ARRAY_LEN(svc_info) == SVC__COUNT, "service table");

enum cstate {
    CS_WAITING,    /* queued for a connection slot */
    CS_CONNECTING, /* TCP connect in progress */
    CS_TLS,        /* TLS handshake (STARTTLS or direct) */
    CS_FEATURES,   /* header sent, reading the header and features */
    CS_PROCEED,    /* <starttls/> sent, waiting for <proceed/> */
    CS_HELD,       /* done, kept open (bench/test hold mode) */
    CS__COUNT
};

struct ddomain;

struct dconn {
    struct direct *d;
    struct ddomain *dom;
    TAILQ_ENTRY(dconn) link; /* d->waiting, d->active or d->held */
    enum cstate state;
    enum svc svc;
    bool tls_on; /* the stream runs over TLS now */
    bool starttls_done;
    char host[256];
    char ip[64];
    uint16_t port;
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct bufferevent *bev;
    struct event *timer;
    struct direct_reader *rd;
    struct timespec t0;
};
TAILQ_HEAD(dconn_list, dconn);

struct ddomain {
    struct direct *d; /* NULL once d was freed (lookups still pending) */
    LIST_ENTRY(ddomain) link;
    char *domain;
    size_t pending; /* lookups and connections not ended */
    direct_done_cb done;
    void *arg;
    struct timespec t0;
    struct direct_domain_result res;
};
LIST_HEAD(ddomain_list, ddomain);

/* A DNS lookup in flight; owns a reference on its domain (pending). */
struct dlookup {
    struct ddomain *dom;
    enum svc svc;
    char host[256];
    uint16_t port;
    bool fallback; /* the domain's own addresses, no SRV */
};

struct direct {
    struct event_base *base;
    struct resolver *res;
    struct tlsctx *tls;
    struct direct_limits lim;
    char *s2s_from;
    struct direct_sink sink;
    struct dconn_list waiting;
    struct dconn_list active;
    struct dconn_list held;
    struct ddomain_list domains;
    struct event *kick;
    bool hold;
    bool freeing;
    struct direct_stats st;
};

static long ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000L +
           (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

void direct_limits_default(struct direct_limits *l)
{
    *l = (struct direct_limits){
        .concurrency = 256,
        .targets_per_domain = 4,
        .connect_timeout_ms = 10000,
        .tls_timeout_ms = 15000,
        .read_timeout_ms = 15000,
        .reader = {.max_bytes = 256 * 1024,
                   .max_depth = 16,
                   .max_elements = 1024},
        .s2s_from = NULL,
        .starttls = true,
        .direct_tls = true,
    };
}

/* ---- domains ---------------------------------------------------------- */

static void domain_unref(struct ddomain *dom)
{
    ASSERT(dom->pending > 0);
    if (--dom->pending > 0)
        return;
    if (dom->d != NULL) {
        LIST_REMOVE(dom, link);
        dom->d->st.domains--;
        dom->res.domain = dom->domain;
        dom->res.duration_ms = (int)ms_since(&dom->t0);
        if (dom->done && !dom->d->freeing)
            dom->done(dom->arg, &dom->res);
    }
    free(dom->domain);
    free(dom);
}

static void report_outcome(struct ddomain *dom, const struct direct_target *t,
                           enum direct_outcome o, const char *cond,
                           const char *detail, int ms)
{
    struct direct *d = dom->d;
    dom->res.outcomes++;
    if (t->ip[0]) {
        dom->res.connections++;
        if (o == DOUT_OK)
            dom->res.ok++;
    }
    if (d && d->sink.outcome)
        d->sink.outcome(d->sink.arg, t, o, cond, detail, ms < 0 ? 0 : ms);
}

/* An outcome of a service without a connection (DNS). */
static void dns_outcome(struct ddomain *dom, enum svc svc, const char *host,
                        uint16_t port, enum direct_outcome o,
                        const char *detail)
{
    struct direct_target t = {.domain = dom->domain,
                              .service = svc_info[svc].name,
                              .stream = svc_info[svc].stream,
                              .host = host,
                              .ip = "",
                              .port = port,
                              .direct_tls = svc_info[svc].direct_tls};
    report_outcome(dom, &t, o, NULL, detail, (int)ms_since(&dom->t0));
}

static enum direct_outcome dns_status_outcome(enum resolve_status s)
{
    switch (s) {
    case RES_NXDOMAIN:
        return DOUT_NXDOMAIN;
    case RES_NODATA:
        return DOUT_NO_ADDRESS;
    case RES_TIMEOUT:
        return DOUT_DNS_TIMEOUT;
    case RES_CANCELLED:
        return DOUT_CANCELLED;
    default:
        return DOUT_DNS_ERROR;
    }
}

/* ---- connections: state, finish --------------------------------------- */

static void conn_target(const struct dconn *c, struct direct_target *t)
{
    *t = (struct direct_target){.domain = c->dom->domain,
                                .service = svc_info[c->svc].name,
                                .stream = svc_info[c->svc].stream,
                                .host = c->host,
                                .ip = c->ip,
                                .port = c->port,
                                .direct_tls = svc_info[c->svc].direct_tls};
}

static void conn_set_state(struct dconn *c, enum cstate s, int timeout_ms)
{
    c->state = s;
    if (c->timer == NULL)
        return;
    if (timeout_ms > 0) {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(c->timer, &tv);
    } else {
        evtimer_del(c->timer);
    }
}

static void conn_close(struct dconn *c)
{
    if (c->bev)
        bufferevent_free(c->bev);
    c->bev = NULL;
    if (c->timer)
        event_free(c->timer);
    c->timer = NULL;
    direct_reader_free(c->rd);
    c->rd = NULL;
}

static void kick_waiting(struct direct *d)
{
    if (!TAILQ_EMPTY(&d->waiting) && d->kick && !d->freeing)
        event_active(d->kick, EV_TIMEOUT, 0);
}

/* Reports the one outcome of c and closes and frees it (or, in hold mode,
 * keeps a successful connection open). */
static void conn_finish(struct dconn *c, enum direct_outcome o,
                        const char *cond, const char *detail)
{
    struct direct *d = c->d;
    struct direct_target t;
    conn_target(c, &t);
    report_outcome(c->dom, &t, o, cond, detail, (int)ms_since(&c->t0));
    if (c->state == CS_WAITING) {
        TAILQ_REMOVE(&d->waiting, c, link);
        d->st.waiting--;
    } else {
        TAILQ_REMOVE(&d->active, c, link);
        d->st.active--;
        d->st.finished++;
    }
    struct ddomain *dom = c->dom;
    if (o == DOUT_OK && d->hold && c->bev) {
        /* stays open: the reader is no longer needed */
        direct_reader_free(c->rd);
        c->rd = NULL;
        conn_set_state(c, CS_HELD, 0); /* input is drained, timer off */
        TAILQ_INSERT_TAIL(&d->held, c, link);
    } else {
        conn_close(c);
        free(c);
    }
    kick_waiting(d);
    domain_unref(dom);
}

/* ---- connections: the stream ------------------------------------------ */

static void send_header(struct dconn *c)
{
    const char *domain = c->dom->domain;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (svc_info[c->svc].stream == DSTREAM_C2S) {
        evbuffer_add_printf(out,
                            "<?xml version='1.0'?><stream:stream "
                            "xmlns='jabber:client' xmlns:stream="
                            "'http://etherx.jabber.org/streams' to='%s' "
                            "version='1.0' xml:lang='en'>",
                            domain);
    } else {
        const char *from = c->d->s2s_from;
        evbuffer_add_printf(out,
                            "<?xml version='1.0'?><stream:stream "
                            "xmlns='jabber:server' xmlns:db="
                            "'jabber:server:dialback' xmlns:stream="
                            "'http://etherx.jabber.org/streams' to='%s'%s%s%s "
                            "version='1.0' xml:lang='en'>",
                            domain, from ? " from='" : "", from ? from : "",
                            from ? "'" : "");
    }
}

static void start_stream(struct dconn *c)
{
    direct_reader_free(c->rd);
    c->rd = direct_reader_new(&c->d->lim.reader);
    send_header(c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    conn_set_state(c, CS_FEATURES, c->d->lim.read_timeout_ms);
}

static void on_read(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static void start_tls(struct dconn *c)
{
    struct direct *d = c->d;
    direct_reader_free(c->rd);
    c->rd = NULL;
    /* whatever the server sent after <proceed/> is not ours to read */
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    SSL *ssl = tlsctx_ssl_new(d->tls, c->dom->domain);
    struct bufferevent *tb = bufferevent_openssl_filter_new(
        d->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (tb == NULL) {
        SSL_free(ssl);
        conn_finish(c, DOUT_LOCAL_ERROR, NULL, "cannot create a TLS filter");
        return;
    }
    c->bev = tb;
    bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
    bufferevent_setcb(tb, on_read, NULL, on_event, c);
    bufferevent_setwatermark(tb, EV_READ, 0, READ_HIGH_WATER);
    bufferevent_enable(tb, EV_READ | EV_WRITE);
    conn_set_state(c, CS_TLS, d->lim.tls_timeout_ms);
}

static void tls_done(struct dconn *c)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    c->tls_on = true;
    struct direct *d = c->d;
    if (d->sink.tls && ssl) {
        struct tlsctx_facts *facts = xmalloc(sizeof *facts);
        tlsctx_facts(ssl, c->dom->domain, facts);
        struct direct_target t;
        conn_target(c, &t);
        d->sink.tls(d->sink.arg, &t, facts);
        free(facts);
    }
    start_stream(c);
}

static void got_features(struct dconn *c, const struct direct_features *f)
{
    struct direct *d = c->d;
    struct direct_target t;
    conn_target(c, &t);
    if (d->sink.features)
        d->sink.features(d->sink.arg, &t,
                         c->tls_on ? DPHASE_POST_TLS : DPHASE_PRE_TLS, f);
    if (!c->tls_on && f->starttls != DSTARTTLS_NONE && d->tls &&
        d->lim.starttls) {
        evbuffer_add_printf(bufferevent_get_output(c->bev),
                            "<starttls xmlns="
                            "'urn:ietf:params:xml:ns:xmpp-tls'/>");
        conn_set_state(c, CS_PROCEED, d->lim.read_timeout_ms);
        return;
    }
    evbuffer_add_printf(bufferevent_get_output(c->bev), "</stream:stream>");
    conn_finish(c, DOUT_OK, NULL, NULL);
}

/* Acts on what the reader saw; returns after c may have been freed. */
static void check_reader(struct dconn *c)
{
    struct direct_reader_state s;
    direct_reader_state(c->rd, &s);
    const struct parse_err *err = direct_reader_error(c->rd);
    char detail[200];

    if (c->state == CS_FEATURES && s.features) {
        got_features(c, s.f);
        return;
    }
    if (c->state == CS_PROCEED && s.proceed) {
        start_tls(c);
        return;
    }
    if (c->state == CS_PROCEED && s.failure) {
        conn_finish(c, DOUT_STARTTLS_FAILED, NULL, "server sent <failure/>");
        return;
    }
    if (s.stream_error) {
        conn_finish(c, DOUT_STREAM_ERROR,
                    s.condition[0] ? s.condition : "undefined-condition",
                    s.text[0] ? s.text : NULL);
        return;
    }
    if (err->code != 0) {
        if (err->line > 0)
            snprintf(detail, sizeof detail, "line %d column %d: %s", err->line,
                     err->column, err->msg);
        else
            snprintf(detail, sizeof detail, "%s", err->msg);
        conn_finish(c, (enum direct_outcome)err->code, NULL, detail);
        return;
    }
    if (c->state == CS_FEATURES && s.legacy) {
        conn_finish(c, DOUT_NO_FEATURES, NULL, "stream header without version");
        return;
    }
    if (s.ended)
        conn_finish(c, DOUT_CLOSED, NULL, "the server closed the stream");
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct dconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->rd == NULL || (c->state != CS_FEATURES && c->state != CS_PROCEED)) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    /* everything buffered goes to the reader (the read watermark bounds
     * it), a few chains at a time; after an error the rest is dropped */
    bool ok = true;
    while (ok && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v[8];
        int n = evbuffer_peek(in, -1, NULL, v, (int)ARRAY_LEN(v));
        if (n > (int)ARRAY_LEN(v))
            n = (int)ARRAY_LEN(v);
        size_t total = 0;
        for (int i = 0; i < n && ok; i++) {
            total += v[i].iov_len;
            ok = direct_reader_feed(c->rd, v[i].iov_base, v[i].iov_len);
        }
        evbuffer_drain(in, ok ? total : evbuffer_get_length(in));
    }
    check_reader(c);
}

static enum direct_outcome connect_errno_outcome(int e)
{
    return e == ECONNREFUSED ? DOUT_CONNECT_REFUSED : DOUT_CONNECT_FAILED;
}

static void tls_error_detail(struct bufferevent *bev, char *out, size_t outsz)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (e == 0)
        e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, out, outsz);
    else
        snprintf(out, outsz, "connection closed during the handshake");
    ERR_clear_error();
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct dconn *c = arg;
    int e = EVUTIL_SOCKET_ERROR();
    char detail[200];

    if (what & BEV_EVENT_CONNECTED) {
        if (c->state == CS_CONNECTING) {
            int one = 1;
            setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
                       sizeof one);
            if (svc_info[c->svc].direct_tls) {
                if (c->d->tls == NULL) {
                    conn_finish(c, DOUT_TLS_FAILED, NULL,
                                "no TLS context configured");
                    return;
                }
                start_tls(c);
            } else {
                start_stream(c);
            }
        } else if (c->state == CS_TLS) {
            tls_done(c);
        }
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    switch (c->state) {
    case CS_CONNECTING:
        snprintf(detail, sizeof detail, "%s", strerror(e));
        conn_finish(c, connect_errno_outcome(e), NULL, detail);
        return;
    case CS_TLS:
        tls_error_detail(bev, detail, sizeof detail);
        conn_finish(c, DOUT_TLS_FAILED, NULL, detail);
        return;
    case CS_FEATURES:
    case CS_PROCEED:
        if (c->rd) {
            /* a stream error or parse error may have arrived with the
             * close; it wins over "closed" */
            struct direct_reader_state s;
            direct_reader_state(c->rd, &s);
            if (s.stream_error || direct_reader_error(c->rd)->code) {
                check_reader(c);
                return;
            }
        }
        if (what & BEV_EVENT_ERROR)
            snprintf(detail, sizeof detail, "%s",
                     e ? strerror(e) : "read error");
        else
            snprintf(detail, sizeof detail, "closed by the server");
        conn_finish(c, DOUT_CLOSED, NULL, detail);
        return;
    case CS_HELD:
        /* the peer went away after our outcome: just close */
        TAILQ_REMOVE(&c->d->held, c, link);
        conn_close(c);
        free(c);
        return;
    case CS_WAITING:
    case CS__COUNT:
        break;
    }
    DIE_BUG("direct: event %d in state %d", what, (int)c->state);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct dconn *c = arg;
    char detail[120];
    switch (c->state) {
    case CS_CONNECTING:
        snprintf(detail, sizeof detail, "no connection after %d ms",
                 c->d->lim.connect_timeout_ms);
        conn_finish(c, DOUT_CONNECT_TIMEOUT, NULL, detail);
        return;
    case CS_TLS:
        snprintf(detail, sizeof detail, "no handshake after %d ms",
                 c->d->lim.tls_timeout_ms);
        conn_finish(c, DOUT_TLS_TIMEOUT, NULL, detail);
        return;
    case CS_FEATURES:
    case CS_PROCEED: {
        struct direct_reader_state s;
        direct_reader_state(c->rd, &s);
        snprintf(detail, sizeof detail,
                 "%s not complete after %d ms (%zu bytes read)",
                 c->state == CS_PROCEED ? "proceed"
                 : s.header             ? "features"
                                        : "stream header",
                 c->d->lim.read_timeout_ms, s.bytes);
        conn_finish(c, DOUT_READ_TIMEOUT, NULL, detail);
        return;
    }
    default:
        return;
    }
}

/* Moves fd to >= FD_FLOOR when allowed (libstrophe keeps the low ones). */
static int raise_fd(struct direct *d, int fd)
{
    if (d->st.fd_floor <= 0)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, d->st.fd_floor);
    if (nfd < 0)
        return fd;
    close(fd);
    return nfd;
}

static void conn_start(struct dconn *c)
{
    struct direct *d = c->d;
    char detail[160];
    TAILQ_REMOVE(&d->waiting, c, link);
    d->st.waiting--;
    TAILQ_INSERT_TAIL(&d->active, c, link);
    d->st.active++;
    d->st.started++;
    if (d->st.active > d->st.peak)
        d->st.peak = d->st.active;
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    c->state = CS_CONNECTING;

    int fd =
        socket(c->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(detail, sizeof detail, "socket: %s", strerror(errno));
        conn_finish(c, DOUT_LOCAL_ERROR, NULL, detail);
        return;
    }
    fd = raise_fd(d, fd);
    c->bev = bufferevent_socket_new(
        d->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (c->bev == NULL) {
        close(fd);
        conn_finish(c, DOUT_LOCAL_ERROR, NULL, "cannot create a bufferevent");
        return;
    }
    c->timer = evtimer_new(d->base, on_timer, c);
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH_WATER);
    conn_set_state(c, CS_CONNECTING, d->lim.connect_timeout_ms);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->ss,
                                   (int)c->sslen) != 0) {
        int e = errno;
        snprintf(detail, sizeof detail, "connect: %s", strerror(e));
        conn_finish(c, connect_errno_outcome(e), NULL, detail);
    }
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct direct *d = arg;
    while (!TAILQ_EMPTY(&d->waiting) && d->st.active < d->lim.concurrency)
        conn_start(TAILQ_FIRST(&d->waiting));
}

/* Queues a connection of dom to ip:port; the kick event starts it. */
static void conn_queue(struct ddomain *dom, enum svc svc, const char *host,
                       const struct sockaddr_storage *ss, const char *ip,
                       uint16_t port)
{
    struct direct *d = dom->d;
    struct dconn *c = xcalloc(1, sizeof *c);
    c->d = d;
    c->dom = dom;
    c->svc = svc;
    c->state = CS_WAITING;
    snprintf(c->host, sizeof c->host, "%s", host);
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    c->port = port;
    c->ss = *ss;
    if (ss->ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&c->ss)->sin6_port = htons(port);
        c->sslen = sizeof(struct sockaddr_in6);
    } else {
        ((struct sockaddr_in *)&c->ss)->sin_port = htons(port);
        c->sslen = sizeof(struct sockaddr_in);
    }
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    dom->pending++;
    TAILQ_INSERT_TAIL(&d->waiting, c, link);
    d->st.waiting++;
    kick_waiting(d);
}

/* ---- DNS -------------------------------------------------------------- */

static void on_addr(void *arg, const struct addr_result *r)
{
    struct dlookup *l = arg;
    struct ddomain *dom = l->dom;
    if (dom->d == NULL || dom->d->freeing) {
        /* the prober is gone: nothing to report to */
    } else if (r->status != RES_OK || r->n == 0) {
        enum direct_outcome o = r->status == RES_OK
                                    ? DOUT_NO_ADDRESS
                                    : dns_status_outcome(r->status);
        /* the SRV target (not the domain) without addresses is a broken
         * record, not a missing domain */
        if (!l->fallback && o == DOUT_NXDOMAIN)
            o = DOUT_NO_ADDRESS;
        char detail[300];
        snprintf(detail, sizeof detail, "%s: %s", l->host,
                 resolve_status_name(r->status));
        dns_outcome(dom, l->svc, l->host, l->port, o, detail);
    } else {
        bool v4 = false, v6 = false;
        for (size_t i = 0; i < r->n; i++) {
            int fam = r->addrs[i].ss_family;
            if ((fam == AF_INET && v4) || (fam == AF_INET6 && v6))
                continue;
            if (fam == AF_INET)
                v4 = true;
            else
                v6 = true;
            conn_queue(dom, l->svc, l->host, &r->addrs[i], r->text[i], l->port);
        }
    }
    free(l);
    domain_unref(dom);
}

static void lookup_addr(struct ddomain *dom, enum svc svc, const char *host,
                        uint16_t port, bool fallback)
{
    struct dlookup *l = xcalloc(1, sizeof *l);
    l->dom = dom;
    l->svc = svc;
    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = port;
    l->fallback = fallback;
    dom->pending++;
    resolver_addr(dom->d->res, host, AF_UNSPEC, on_addr, l);
}

static void on_srv(void *arg, const struct srv_result *r)
{
    struct dlookup *l = arg;
    struct ddomain *dom = l->dom;
    struct direct *d = dom->d;
    enum svc svc = l->svc;
    if (d == NULL || d->freeing)
        goto out;
    if (d->sink.srv) {
        if (r->n == 0)
            d->sink.srv(d->sink.arg, dom->domain, svc_info[svc].name, r->status,
                        NULL);
        for (size_t i = 0; i < r->n; i++)
            d->sink.srv(d->sink.arg, dom->domain, svc_info[svc].name, r->status,
                        &r->targets[i]);
    }
    if (r->status == RES_OK && r->n == 1 &&
        strcmp(r->targets[0].host, ".") == 0) {
        dns_outcome(dom, svc, ".", 0, DOUT_NO_SERVICE,
                    "SRV target \".\": service not offered");
    } else if (r->status == RES_OK && r->n > 0) {
        size_t used = 0;
        for (size_t i = 0; i < r->n && used < d->lim.targets_per_domain; i++) {
            if (strcmp(r->targets[i].host, ".") == 0)
                continue;
            lookup_addr(dom, svc, r->targets[i].host, r->targets[i].port,
                        false);
            used++;
        }
    } else if ((r->status == RES_NXDOMAIN || r->status == RES_NODATA ||
                (r->status == RES_OK && r->n == 0)) &&
               svc_info[svc].fallback_port != 0) {
        /* RFC 6120 §3.2.2: no SRV record, try the domain itself */
        lookup_addr(dom, svc, dom->domain, svc_info[svc].fallback_port, true);
    } else if (r->status == RES_NXDOMAIN || r->status == RES_NODATA ||
               r->status == RES_OK) {
        dns_outcome(dom, svc, "", 0, DOUT_NO_SERVICE, "no SRV record");
    } else {
        char detail[120];
        snprintf(detail, sizeof detail, "SRV lookup: %s",
                 resolve_status_name(r->status));
        dns_outcome(dom, svc, "", 0, dns_status_outcome(r->status), detail);
    }
out:
    free(l);
    domain_unref(dom);
}

/* ---- the prober ------------------------------------------------------- */

struct direct *direct_new(struct event_base *base, struct resolver *res,
                          struct tlsctx *tls, const struct direct_limits *l,
                          const struct direct_sink *sink)
{
    struct direct *d = xcalloc(1, sizeof *d);
    d->base = base;
    d->res = res;
    d->tls = tls;
    d->lim = *l;
    if (d->lim.concurrency == 0)
        d->lim.concurrency = 1;
    if (d->lim.targets_per_domain == 0)
        d->lim.targets_per_domain = 1;
    d->s2s_from = l->s2s_from ? xstrdup(l->s2s_from) : NULL;
    d->lim.s2s_from = d->s2s_from;
    if (sink)
        d->sink = *sink;
    TAILQ_INIT(&d->waiting);
    TAILQ_INIT(&d->active);
    TAILQ_INIT(&d->held);
    LIST_INIT(&d->domains);
    d->kick = event_new(base, -1, 0, on_kick, d);
    /* keep our sockets above libstrophe's select() range when the limit
     * leaves room for them there */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        /* more connections than descriptors would turn the excess into
         * local-error outcomes: keep 64 for everything else */
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 128 &&
            d->lim.concurrency > rl.rlim_cur - 64) {
            log_warn("direct: concurrency %zu lowered to %zu (RLIMIT_NOFILE "
                     "%llu)",
                     d->lim.concurrency, (size_t)(rl.rlim_cur - 64),
                     (unsigned long long)rl.rlim_cur);
            d->lim.concurrency = (size_t)(rl.rlim_cur - 64);
        }
        if (rl.rlim_cur > FD_FLOOR + d->lim.concurrency + 16)
            d->st.fd_floor = FD_FLOOR;
    }
    return d;
}

void direct_free(struct direct *d)
{
    if (d == NULL)
        return;
    d->freeing = true;
    struct dconn *c;
    while ((c = TAILQ_FIRST(&d->held)) != NULL) {
        TAILQ_REMOVE(&d->held, c, link);
        conn_close(c);
        free(c);
    }
    while ((c = TAILQ_FIRST(&d->active)) != NULL)
        conn_finish(c, DOUT_CANCELLED, NULL, "prober stopped");
    while ((c = TAILQ_FIRST(&d->waiting)) != NULL)
        conn_finish(c, DOUT_CANCELLED, NULL, "prober stopped");
    /* domains still waiting for DNS: detach them; their lookups free them */
    struct ddomain *dom;
    while ((dom = LIST_FIRST(&d->domains)) != NULL) {
        LIST_REMOVE(dom, link);
        dom->d = NULL;
    }
    event_free(d->kick);
    free(d->s2s_from);
    free(d);
}

static struct ddomain *domain_new(struct direct *d, const char *domain,
                                  direct_done_cb done, void *arg)
{
    struct ddomain *dom = xcalloc(1, sizeof *dom);
    dom->d = d;
    dom->domain = xstrdup(domain);
    dom->done = done;
    dom->arg = arg;
    clock_gettime(CLOCK_MONOTONIC, &dom->t0);
    LIST_INSERT_HEAD(&d->domains, dom, link);
    d->st.domains++;
    return dom;
}

bool direct_probe(struct direct *d, const char *domain, direct_done_cb done,
                  void *arg)
{
    if (!resolve_hostname_ok(domain))
        return false;
    struct ddomain *dom = domain_new(d, domain, done, arg);
    for (int s = 0; s < SVC__COUNT; s++) {
        if (s == SVC_CLIENTS && !d->lim.direct_tls)
            continue;
        struct dlookup *l = xcalloc(1, sizeof *l);
        l->dom = dom;
        l->svc = (enum svc)s;
        char name[300];
        snprintf(name, sizeof name, "%s%s", svc_info[s].srv_prefix, domain);
        dom->pending++;
        resolver_srv(d->res, name, on_srv, l);
    }
    return true;
}

bool direct_probe_addr(struct direct *d, const char *domain,
                       const char *service, const char *ip, uint16_t port,
                       direct_done_cb done, void *arg)
{
    int svc = -1;
    for (int s = 0; s < SVC__COUNT; s++)
        if (strcmp(svc_info[s].name, service) == 0)
            svc = s;
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    if (svc < 0 || ss.ss_family == 0 || !resolve_hostname_ok(domain))
        return false;
    struct ddomain *dom = domain_new(d, domain, done, arg);
    /* the queued connection holds the domain; this reference is dropped
     * at once (no callback: pending stays > 0) */
    dom->pending++;
    conn_queue(dom, (enum svc)svc, ip, &ss, ip, port);
    dom->pending--;
    return true;
}

void direct_get_stats(const struct direct *d, struct direct_stats *s)
{
    *s = d->st;
}

void direct_set_hold(struct direct *d, bool hold)
{
    d->hold = hold;
}

size_t direct_held(const struct direct *d)
{
    size_t n = 0;
    const struct dconn *c;
    TAILQ_FOREACH(c, &d->held, link)
    n++;
    return n;
}

void direct_release_held(struct direct *d)
{
    struct dconn *c;
    while ((c = TAILQ_FIRST(&d->held)) != NULL) {
        TAILQ_REMOVE(&d->held, c, link);
        conn_close(c);
        free(c);
    }
}
