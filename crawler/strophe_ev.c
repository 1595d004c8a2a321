/*
 * libstrophe driven by libevent: one xmpp_ctx per connection, the socket
 * learnt from the sockopt callback, xmpp_run_once(ctx, 0) called on socket
 * readiness, after sends (through a per-connection "kick" event) and from
 * one persistent tick. Connections move through an ordered state machine;
 * only conn_set_state() writes c->state. Freed connections go to a reap
 * list emptied by a separate event, so nothing is freed inside
 * xmpp_run_once() or inside a callback of the object itself.
 */
#include "strophe_ev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"
#include "xalloc.h"

/* Connection states, where the object lives in each: all live in
 * sev->conns until strophe_ev_conn_free() moves them to sev->reap. */
enum sev_state {
    /* --- Handshake states, must be ordered --- */
    SEV_NEW,         /* created, xmpp_connect_client() not yet called */
    SEV_CONNECTING,  /* TCP connect pending: write event armed */
    SEV_NEGOTIATING, /* TCP up: stream, TLS, SASL, bind */
    SEV_ONLINE,      /* bound: user stanzas flow */
    /* --- End of handshake states --- */
    SEV_CLOSING, /* xmpp_disconnect() called, waiting for the close */
    SEV_DOWN,    /* disconnected: no fd, waiting to be freed */
    SEV__COUNT
};

static const char *const sev_state_names[] = {
    [SEV_NEW] = "new",
    [SEV_CONNECTING] = "connecting",
    [SEV_NEGOTIATING] = "negotiating",
    [SEV_ONLINE] = "online",
    [SEV_CLOSING] = "closing",
    [SEV_DOWN] = "down",
};
_Static_assert(ARRAY_LEN(sev_state_names) == SEV__COUNT, "names table");

struct strophe_ev_conn {
    struct strophe_ev *sev;
    xmpp_ctx_t *ctx; /* ours alone: one conn per ctx */
    xmpp_conn_t *conn;
    xmpp_log_t log;          /* handler + userdata = this object */
    enum sev_state state;    /* written by conn_set_state() only */
    int fd;                  /* current socket or -1 */
    struct event *ev_read;   /* EV_READ|EV_PERSIST on fd */
    struct event *ev_write;  /* EV_WRITE on fd, armed while needed */
    struct event *ev_kick;   /* manual activation: pump or report down */
    bool freed;              /* strophe_ev_conn_free() called: no callbacks */
    bool down_pending;       /* report STROPHE_EV_DOWN from the kick */
    bool timed_out;          /* closed by the handshake deadline */
    bool parse_error;        /* libstrophe reported invalid XML */
    struct timeval deadline; /* handshake deadline (monotonic) */
    char down_detail[96];
    unsigned serial; /* spreads idle pumping over ticks */
    char *name;      /* log prefix */
    strophe_ev_state_cb state_cb;
    strophe_ev_stanza_cb stanza_cb;
    void *ud;
    TAILQ_ENTRY(strophe_ev_conn) link;      /* sev->conns until reaped */
    TAILQ_ENTRY(strophe_ev_conn) reap_link; /* sev->reap once freed */
};

TAILQ_HEAD(sev_list, strophe_ev_conn);

struct strophe_ev {
    struct event_base *base; /* borrowed */
    struct event *tick;      /* EV_PERSIST timer: see sev_tick() */
    struct event *ev_reap;   /* manual activation: empties reap */
    struct sev_list conns;   /* every connection not yet reaped */
    struct sev_list reap;    /* freed ones (also still in conns) */
    size_t n_conns;          /* length of conns */
    unsigned ticks;
    unsigned serial;
};

/* The connection whose ctx is inside xmpp_run_once() or
 * xmpp_connect_client(): libstrophe's sockopt callback carries no
 * userdata, and with one ctx per connection this is the one it means. */
static struct strophe_ev_conn *sev_current;

static void conn_set_state(struct strophe_ev_conn *c, enum sev_state to)
{
    if (c->state == to)
        return;
    LOG_AT(LOG_DEBUG, "strophe_ev", "%s: %s -> %s", c->name,
           sev_state_names[c->state], sev_state_names[to]);
    c->state = to;
}

static void drop_io_events(struct strophe_ev_conn *c);
static void kick(struct strophe_ev_conn *c);

static void strophe_log_cb(void *ud, xmpp_log_level_t level, const char *area,
                           const char *msg)
{
    struct strophe_ev_conn *c = ud;
    enum log_level l;

    /* libstrophe 0.12.2 answers invalid XML with a stream error but keeps
     * the socket open until the peer closes it, which a hostile peer never
     * does; its log line is the only sign we get (see pump()) */
    if (strcmp(area, "xmpp") == 0 && strncmp(msg, "parse error", 11) == 0)
        c->parse_error = true;
    /* logged just before libstrophe closes the fd: leaving epoll now
     * spares libevent an epoll_ctl on a closed fd (and its warning) */
    if (strcmp(area, "xmpp") == 0 && strcmp(msg, "Closing socket.") == 0)
        drop_io_events(c);

    /* Privacy: raw traffic is never logged, at any level. Room presences
     * carry occupants' nicks and JIDs, which xcensus must not record. */
    if (strncmp(msg, "RECV:", 5) == 0 || strncmp(msg, "SENT:", 5) == 0)
        return;

    /* Remote behaviour is data: libstrophe's errors are our warnings. */
    switch (level) {
    case XMPP_LEVEL_ERROR:
        l = LOG_WARN;
        break;
    case XMPP_LEVEL_WARN:
        l = LOG_INFO;
        break;
    default:
        l = LOG_DEBUG;
        break;
    }
    if (l <= log_max_level)
        log_write(l, "strophe", "%s: %s: %s", c->name, area, msg);
}

static const char *stream_error_name(xmpp_error_type_t t)
{
    static const char *const names[] = {
        [XMPP_SE_BAD_FORMAT] = "bad-format",
        [XMPP_SE_BAD_NS_PREFIX] = "bad-namespace-prefix",
        [XMPP_SE_CONFLICT] = "conflict",
        [XMPP_SE_CONN_TIMEOUT] = "connection-timeout",
        [XMPP_SE_HOST_GONE] = "host-gone",
        [XMPP_SE_HOST_UNKNOWN] = "host-unknown",
        [XMPP_SE_IMPROPER_ADDR] = "improper-addressing",
        [XMPP_SE_INTERNAL_SERVER_ERROR] = "internal-server-error",
        [XMPP_SE_INVALID_FROM] = "invalid-from",
        [XMPP_SE_INVALID_ID] = "invalid-id",
        [XMPP_SE_INVALID_NS] = "invalid-namespace",
        [XMPP_SE_INVALID_XML] = "invalid-xml",
        [XMPP_SE_NOT_AUTHORIZED] = "not-authorized",
        [XMPP_SE_POLICY_VIOLATION] = "policy-violation",
        [XMPP_SE_REMOTE_CONN_FAILED] = "remote-connection-failed",
        [XMPP_SE_RESOURCE_CONSTRAINT] = "resource-constraint",
        [XMPP_SE_RESTRICTED_XML] = "restricted-xml",
        [XMPP_SE_SEE_OTHER_HOST] = "see-other-host",
        [XMPP_SE_SYSTEM_SHUTDOWN] = "system-shutdown",
        [XMPP_SE_UNDEFINED_CONDITION] = "undefined-condition",
        [XMPP_SE_UNSUPPORTED_ENCODING] = "unsupported-encoding",
        [XMPP_SE_UNSUPPORTED_STANZA_TYPE] = "unsupported-stanza-type",
        [XMPP_SE_UNSUPPORTED_VERSION] = "unsupported-version",
        [XMPP_SE_XML_NOT_WELL_FORMED] = "xml-not-well-formed",
    };
    if ((unsigned)t < ARRAY_LEN(names) && names[t])
        return names[t];
    return "unrecognized";
}

static void report_down(struct strophe_ev_conn *c, const char *detail)
{
    conn_set_state(c, SEV_DOWN);
    if (c->freed)
        return;
    LOG_AT(LOG_DEBUG, "strophe_ev", "%s: down: %s", c->name, detail);
    if (c->state_cb)
        c->state_cb(c, STROPHE_EV_DOWN, detail, c->ud);
}

static void drop_io_events(struct strophe_ev_conn *c)
{
    /* libstrophe has closed (or will close) the fd: deleting an event on
     * a closed fd is harmless for libevent (EBADF/ENOENT are ignored). */
    if (c->ev_read)
        event_free(c->ev_read);
    if (c->ev_write)
        event_free(c->ev_write);
    c->ev_read = c->ev_write = NULL;
    c->fd = -1;
}

static void update_write_interest(struct strophe_ev_conn *c)
{
    bool want;

    if (!c->ev_write || c->state == SEV_DOWN)
        return;
    want = c->state == SEV_CONNECTING || xmpp_conn_send_queue_len(c->conn) > 0;
    if (want && !event_pending(c->ev_write, EV_WRITE, NULL))
        event_add(c->ev_write, NULL);
    else if (!want)
        event_del(c->ev_write);
}

/* Ends a connection whose peer is not to be waited for. xmpp_disconnect()
 * alone waits up to 2 s for the peer's </stream:stream>; shutting down our
 * reading side makes libstrophe's next read see end-of-file at once. The
 * fd stays open (libstrophe closes it), so it cannot be reused under
 * libstrophe's feet, and writes still succeed (no SIGPIPE). During a TCP
 * connect shutdown() does nothing and the 2 s timer does the work. */
static void hard_close(struct strophe_ev_conn *c)
{
    conn_set_state(c, SEV_CLOSING);
    xmpp_disconnect(c->conn);
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RD);
    kick(c);
}

/* Runs libstrophe for one connection. Never called re-entrantly: only
 * from libevent callbacks. */
static void pump(struct strophe_ev_conn *c)
{
    struct strophe_ev_conn *prev = sev_current;

    if (c->freed || c->state == SEV_DOWN || c->state == SEV_NEW)
        return;
    sev_current = c;
    xmpp_run_once(c->ctx, 0);
    /* Decrypted data may wait inside OpenSSL without the fd being
     * readable again: give it a few more rounds. */
    for (int i = 0; i < 3 && c->state != SEV_DOWN && !c->freed &&
                    xmpp_conn_is_secured(c->conn);
         i++)
        xmpp_run_once(c->ctx, 0);
    if (c->parse_error && !c->freed && c->state != SEV_DOWN &&
        c->state != SEV_CLOSING) {
        hard_close(c);
    }
    sev_current = prev;
    if (!c->freed)
        update_write_interest(c);
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct strophe_ev_conn *c = arg;

    if ((what & EV_WRITE) && c->state == SEV_CONNECTING)
        conn_set_state(c, SEV_NEGOTIATING);
    pump(c);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct strophe_ev_conn *c = arg;

    if (c->down_pending) {
        c->down_pending = false;
        report_down(c, c->down_detail);
        return;
    }
    pump(c);
}

static void kick(struct strophe_ev_conn *c)
{
    event_active(c->ev_kick, EV_TIMEOUT, 1);
}

static int sockopt_cb(xmpp_conn_t *conn, void *sock)
{
    struct strophe_ev_conn *c = sev_current;
    int fd = *(int *)sock;

    if (!c || c->conn != conn)
        DIE_BUG("sockopt callback outside of a strophe_ev pump");
    drop_io_events(c);
    if (fd < 0 || fd >= FD_SETSIZE) {
        /* select() in libstrophe would abort on it */
        log_warn("%s: socket fd %d out of select() range", c->name, fd);
        return -1;
    }
    c->fd = fd;
    c->ev_read = event_new(c->sev->base, fd, EV_READ | EV_PERSIST, io_cb, c);
    c->ev_write = event_new(c->sev->base, fd, EV_WRITE, io_cb, c);
    if (!c->ev_read || !c->ev_write)
        DIE_BUG("event_new failed");
    event_add(c->ev_read, NULL);
    conn_set_state(c, SEV_CONNECTING);
    event_add(c->ev_write, NULL);
    return 0;
}

static void conn_handler(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
                         xmpp_stream_error_t *stream_error, void *userdata)
{
    struct strophe_ev_conn *c = userdata;
    char detail[sizeof c->down_detail];

    switch (event) {
    case XMPP_CONN_CONNECT:
        /* a close already decided (deadline, parse error) wins */
        if (c->state == SEV_DOWN || c->state == SEV_CLOSING)
            return;
        conn_set_state(c, SEV_ONLINE);
        if (!c->freed && c->state_cb)
            c->state_cb(c, STROPHE_EV_ONLINE, NULL, c->ud);
        return;
    case XMPP_CONN_RAW_CONNECT:
        return;
    case XMPP_CONN_DISCONNECT:
    case XMPP_CONN_FAIL:
        if (c->state == SEV_DOWN)
            return;
        if (c->timed_out)
            snprintf(detail, sizeof detail, "handshake timeout");
        else if (c->parse_error)
            snprintf(detail, sizeof detail, "xml parse error");
        else if (stream_error)
            snprintf(detail, sizeof detail, "stream error: %s",
                     stream_error_name(stream_error->type));
        else if (error)
            snprintf(detail, sizeof detail, "%s", strerror(error));
        else
            snprintf(detail, sizeof detail, "%s",
                     c->state == SEV_CLOSING ? "closed" : "disconnected");
        drop_io_events(c);
        report_down(c, detail);
        return;
    }
    DIE_BUG("unrecognized libstrophe connection event %d", (int)event);
}

static int stanza_handler(xmpp_conn_t *conn, xmpp_stanza_t *stanza,
                          void *userdata)
{
    struct strophe_ev_conn *c = userdata;

    if (!c->freed && c->state == SEV_ONLINE && c->stanza_cb)
        c->stanza_cb(c, stanza, c->ud);
    return 1; /* keep the handler */
}

static void destroy(struct strophe_ev_conn *c)
{
    struct strophe_ev_conn *prev = sev_current;

    if (c->ev_kick)
        event_free(c->ev_kick);
    sev_current = c;
    /* Releasing an open conn closes its socket (handler ignored: freed). */
    if (c->conn)
        xmpp_conn_release(c->conn);
    sev_current = prev;
    drop_io_events(c);
    if (c->ctx)
        xmpp_ctx_free(c->ctx);
    free(c->name);
    free(c);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct strophe_ev *sev = arg;
    struct strophe_ev_conn *c;

    /* The only place where connections leave sev->conns: list walks in
     * the tick stay valid whatever callbacks free. */
    while ((c = TAILQ_FIRST(&sev->reap))) {
        TAILQ_REMOVE(&sev->reap, c, reap_link);
        TAILQ_REMOVE(&sev->conns, c, link);
        sev->n_conns--;
        destroy(c);
    }
}

/*
 * The tick, every tick_ms:
 * - pumps every connection that is connecting, negotiating or closing
 *   (libstrophe's connect timeout, its handshake and disconnect timers);
 * - pumps each online connection once every STROPHE_EV_IDLE_TICKS ticks
 *   (timed handlers left in libstrophe, data stuck in TLS buffers);
 * - closes connections whose handshake passed its deadline.
 * New connections added during the walk are appended and may be pumped in
 * the same tick; nothing leaves the list here (only reap_cb removes).
 */
static void now_mono(struct timeval *tv)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
}

static void sev_tick(evutil_socket_t fd, short what, void *arg)
{
    struct strophe_ev *sev = arg;
    struct strophe_ev_conn *c;
    struct timeval now;

    sev->ticks++;
    now_mono(&now);
    TAILQ_FOREACH(c, &sev->conns, link)
    {
        if (c->state == SEV_ONLINE &&
            (sev->ticks + c->serial) % STROPHE_EV_IDLE_TICKS != 0)
            continue;
        if (!c->freed && c->state < SEV_ONLINE && c->state != SEV_NEW &&
            timercmp(&now, &c->deadline, >)) {
            c->timed_out = true;
            hard_close(c);
        }
        pump(c);
    }
}

struct strophe_ev *strophe_ev_new(struct event_base *base, unsigned tick_ms)
{
    struct strophe_ev *sev = xcalloc(1, sizeof *sev);
    struct timeval tv;

    xmpp_initialize();
    tick_ms = XC_MAX(50u, XC_MIN(250u, tick_ms));
    sev->base = base;
    TAILQ_INIT(&sev->conns);
    TAILQ_INIT(&sev->reap);
    sev->tick = event_new(base, -1, EV_PERSIST, sev_tick, sev);
    sev->ev_reap = event_new(base, -1, 0, reap_cb, sev);
    if (!sev->tick || !sev->ev_reap)
        DIE_BUG("event_new failed");
    tv.tv_sec = 0;
    tv.tv_usec = (suseconds_t)tick_ms * 1000;
    event_add(sev->tick, &tv);
    return sev;
}

void strophe_ev_free(struct strophe_ev *sev)
{
    struct strophe_ev_conn *c;

    if (!sev)
        return;
    TAILQ_FOREACH(c, &sev->conns, link)
    strophe_ev_conn_free(c);
    reap_cb(-1, 0, sev);
    event_free(sev->tick);
    event_free(sev->ev_reap);
    free(sev);
    xmpp_shutdown();
}

size_t strophe_ev_count(const struct strophe_ev *sev)
{
    return sev->n_conns;
}

long strophe_ev_cap_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > FD_SETSIZE) {
        rl.rlim_cur = FD_SETSIZE;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -1;
    }
    return (long)rl.rlim_cur;
}

struct strophe_ev_conn *strophe_ev_conn_new(struct strophe_ev *sev,
                                            const struct strophe_ev_params *p,
                                            strophe_ev_state_cb state_cb,
                                            strophe_ev_stanza_cb stanza_cb,
                                            void *ud)
{
    struct strophe_ev_conn *c = xcalloc(1, sizeof *c);
    struct strophe_ev_conn *prev;
    long flags = XMPP_CONN_FLAG_DISABLE_SM;
    int rc;

    c->sev = sev;
    c->fd = -1;
    c->state = SEV_NEW;
    c->serial = sev->serial++;
    c->name = xstrdup(p->name ? p->name : p->jid);
    c->state_cb = state_cb;
    c->stanza_cb = stanza_cb;
    c->ud = ud;
    now_mono(&c->deadline);
    {
        unsigned ms = p->handshake_ms ? p->handshake_ms : 30000;
        struct timeval add = {(time_t)(ms / 1000),
                              (suseconds_t)(ms % 1000) * 1000};
        timeradd(&c->deadline, &add, &c->deadline);
    }
    c->log.handler = strophe_log_cb;
    c->log.userdata = c;
    c->ctx = xmpp_ctx_new(NULL, &c->log);
    if (!c->ctx)
        DIE_BUG("xmpp_ctx_new failed");
    c->conn = xmpp_conn_new(c->ctx);
    if (!c->conn)
        DIE_BUG("xmpp_conn_new failed");
    c->ev_kick = event_new(sev->base, -1, 0, kick_cb, c);
    if (!c->ev_kick)
        DIE_BUG("event_new failed");
    TAILQ_INSERT_TAIL(&sev->conns, c, link);
    sev->n_conns++;

    if (p->flags & STROPHE_EV_PLAINTEXT)
        flags |= XMPP_CONN_FLAG_DISABLE_TLS;
    else
        flags |= XMPP_CONN_FLAG_MANDATORY_TLS;
    if (p->flags & STROPHE_EV_TRUST_TLS)
        flags |= XMPP_CONN_FLAG_TRUST_TLS;
    xmpp_conn_set_flags(c->conn, flags);
    xmpp_conn_set_jid(c->conn, p->jid);
    if (p->password)
        xmpp_conn_set_pass(c->conn, p->password);
    if (p->capath)
        xmpp_conn_set_capath(c->conn, p->capath);
    xmpp_conn_set_sockopt_callback(c->conn, sockopt_cb);
    xmpp_handler_add(c->conn, stanza_handler, NULL, NULL, NULL, c);

    prev = sev_current;
    sev_current = c;
    rc = xmpp_connect_client(c->conn, p->host, p->port ? p->port : 5222,
                             conn_handler, c);
    sev_current = prev;
    if (rc != 0 && c->state != SEV_DOWN) {
        drop_io_events(c);
        conn_set_state(c, SEV_DOWN);
        snprintf(c->down_detail, sizeof c->down_detail,
                 "could not start connection to %s port %u", p->host,
                 (unsigned)(p->port ? p->port : 5222));
        c->down_pending = true;
        kick(c);
    } else if (rc == 0 && c->state == SEV_NEW) {
        /* no socket yet (libstrophe defers in some paths): the tick
         * drives it */
        conn_set_state(c, SEV_NEGOTIATING);
    }
    return c;
}

xmpp_ctx_t *strophe_ev_conn_ctx(struct strophe_ev_conn *c)
{
    return c->ctx;
}

const char *strophe_ev_conn_bound_jid(const struct strophe_ev_conn *c)
{
    if (c->state != SEV_ONLINE && c->state != SEV_CLOSING)
        return NULL;
    return xmpp_conn_get_bound_jid(c->conn);
}

const char *strophe_ev_conn_name(const struct strophe_ev_conn *c)
{
    return c->name;
}

bool strophe_ev_conn_online(const struct strophe_ev_conn *c)
{
    return !c->freed && c->state == SEV_ONLINE;
}

void strophe_ev_conn_send(struct strophe_ev_conn *c, xmpp_stanza_t *stanza)
{
    if (!strophe_ev_conn_online(c))
        return;
    xmpp_send(c->conn, stanza);
    kick(c);
}

void strophe_ev_conn_send_raw(struct strophe_ev_conn *c, const char *data,
                              size_t len)
{
    if (!strophe_ev_conn_online(c))
        return;
    xmpp_send_raw(c->conn, data, len);
    kick(c);
}

int strophe_ev_conn_queue_len(const struct strophe_ev_conn *c)
{
    if (c->state == SEV_DOWN || c->state == SEV_NEW)
        return 0;
    return xmpp_conn_send_queue_len(c->conn);
}

void strophe_ev_conn_close(struct strophe_ev_conn *c)
{
    if (c->freed || c->state == SEV_DOWN || c->state == SEV_CLOSING)
        return;
    conn_set_state(c, SEV_CLOSING);
    xmpp_disconnect(c->conn);
    kick(c);
}

void strophe_ev_conn_free(struct strophe_ev_conn *c)
{
    if (!c || c->freed)
        return;
    c->freed = true;
    TAILQ_INSERT_TAIL(&c->sev->reap, c, reap_link);
    event_active(c->sev->ev_reap, EV_TIMEOUT, 1);
}
