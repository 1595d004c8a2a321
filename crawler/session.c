/*
 * One crawler account session (see session.h for what it owns and why).
 * The only writer of the state is set_state(); requests move from the
 * FIFO `queue` to the iq table when sent; pump() sends as far as the token
 * bucket and the in-flight bound allow and arms a timer otherwise.
 */
#include "session.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "buf.h"
#include "log.h"
#include "resolve.h"
#include "strophe_ev.h"
#include "tbucket.h"
#include "xalloc.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_VERSION "jabber:iq:version"
#define NS_PING "urn:xmpp:ping"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define RECONNECT_MIN_MS 500

struct req {
    struct session *s;
    char *type, *to, *payload;
    int timeout_ms;
    session_iq_cb cb;
    void *arg;
    TAILQ_ENTRY(req) link;
};

struct session {
    struct event_base *base;
    struct strophe_ev *sev;
    struct resolver *res;
    struct session_params p; /* strings owned */
    char *domain;            /* of the JID */
    enum sess_state state;
    struct strophe_ev_conn *conn;
    struct iqtrack *iqt;
    struct tbucket tb;
    struct event *retry_timer; /* reconnect backoff */
    struct event *pump_timer;  /* waiting for tokens */
    int backoff_ms;
    unsigned srv_index;        /* rotates through SRV targets */
    unsigned short conn_port;
    TAILQ_HEAD(, req) queue;
    size_t nqueued;
    session_state_cb state_cb;
    void *state_arg;
    session_stanza_cb stanza_cb;
    void *stanza_arg;
    struct session_stats st;
    struct buf out;
};

static const char *const state_names[] = {
    [SESS_IDLE] = "idle",
    [SESS_RESOLVING] = "resolving",
    [SESS_CONNECTING] = "connecting",
    [SESS_ONLINE] = "online",
    [SESS_CLOSED] = "closed",
};
_Static_assert(ARRAY_LEN(state_names) == SESS__COUNT, "names table");

const char *session_state_name(enum sess_state st)
{
    return (unsigned)st < SESS__COUNT ? state_names[st] : "?";
}

static void start(struct session *s);
static void pump(struct session *s);

static void set_state(struct session *s, enum sess_state to, const char *detail)
{
    enum sess_state from = s->state;
    if (from == to)
        return;
    s->state = to;
    log_debug("S %s: %s -> %s%s%s", s->p.jid, state_names[from],
              state_names[to], detail ? ": " : "", detail ? detail : "");
    bool was = from == SESS_ONLINE, is = to == SESS_ONLINE;
    if (was != is && s->state_cb)
        s->state_cb(s->state_arg, s, is, detail);
}

/* --- connection life cycle ------------------------------------------- */

static void schedule_retry(struct session *s, const char *why)
{
    if (s->state == SESS_CLOSED)
        return;
    set_state(s, SESS_IDLE, why);
    int ms = s->backoff_ms;
    ms = ms * 3 / 4 + (int)(random() % (ms / 2 + 1));
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->retry_timer, &tv);
    s->backoff_ms = s->backoff_ms * 2 > s->p.reconnect_max_ms
                        ? s->p.reconnect_max_ms
                        : s->backoff_ms * 2;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    start(arg);
}

static void send_error_reply(struct session *s, xmpp_stanza_t *iq,
                             const char *cond)
{
    const char *from = xmpp_stanza_get_from(iq), *id = xmpp_stanza_get_id(iq);
    if (from == NULL || id == NULL)
        return;
    buf_reset(&s->out);
    buf_puts(&s->out, "<iq type='error' to='");
    buf_put_xml(&s->out, from);
    buf_puts(&s->out, "' id='");
    buf_put_xml(&s->out, id);
    buf_printf(&s->out, "'><error type='cancel'><%s xmlns='" NS_STANZAS
                        "'/></error></iq>",
               cond);
    strophe_ev_conn_send_raw(s->conn, s->out.data, s->out.len);
}

/* Answers an iq get/set addressed to the crawler. */
static void answer(struct session *s, xmpp_stanza_t *iq)
{
    const char *type = xmpp_stanza_get_type(iq);
    xmpp_stanza_t *q = xmpp_stanza_get_children(iq);
    while (q && !xmpp_stanza_is_tag(q))
        q = xmpp_stanza_get_next(q);
    const char *ns = q ? xmpp_stanza_get_ns(q) : NULL;
    const char *from = xmpp_stanza_get_from(iq), *id = xmpp_stanza_get_id(iq);
    if (from == NULL || id == NULL || type == NULL)
        return;
    if (strcmp(type, "get") != 0 || ns == NULL) {
        send_error_reply(s, iq, "service-unavailable");
        return;
    }
    const char *node = xmpp_stanza_get_attribute(q, "node");
    buf_reset(&s->out);
    buf_puts(&s->out, "<iq type='result' to='");
    buf_put_xml(&s->out, from);
    buf_puts(&s->out, "' id='");
    buf_put_xml(&s->out, id);
    buf_puts(&s->out, "'>");
    if (strcmp(ns, NS_DISCO_INFO) == 0 && node == NULL) {
        buf_puts(&s->out, "<query xmlns='" NS_DISCO_INFO
                          "'><identity category='client' type='bot' name='");
        buf_put_xml(&s->out, s->p.ident_name);
        buf_puts(&s->out, "'/><feature var='" NS_DISCO_INFO
                          "'/><feature var='" NS_VERSION
                          "'/><feature var='" NS_PING "'/>");
        if (s->p.policy_url) {
            /* a XEP-0128 form so that operators find the policy */
            buf_puts(&s->out,
                     "<x xmlns='jabber:x:data' type='result'><field "
                     "var='FORM_TYPE' type='hidden'><value>urn:xcensus:crawler"
                     "</value></field><field var='policy'><value>");
            buf_put_xml(&s->out, s->p.policy_url);
            buf_puts(&s->out, "</value></field></x>");
        }
        buf_puts(&s->out, "</query>");
    } else if (strcmp(ns, NS_VERSION) == 0) {
        buf_puts(&s->out, "<query xmlns='" NS_VERSION "'><name>");
        buf_put_xml(&s->out, s->p.ident_name);
        buf_puts(&s->out, "</name><version>");
        buf_put_xml(&s->out, s->p.ident_version);
        if (s->p.policy_url) {
            buf_puts(&s->out, " (");
            buf_put_xml(&s->out, s->p.policy_url);
            buf_puts(&s->out, ")");
        }
        buf_puts(&s->out, "</version></query>");
    } else if (strcmp(ns, NS_PING) == 0) {
        /* an empty result */
    } else {
        send_error_reply(s, iq, "service-unavailable");
        return;
    }
    buf_puts(&s->out, "</iq>");
    strophe_ev_conn_send_raw(s->conn, s->out.data, s->out.len);
    s->st.answered++;
}

static void on_stanza(struct strophe_ev_conn *c, xmpp_stanza_t *st, void *ud)
{
    struct session *s = ud;
    const char *name = xmpp_stanza_get_name(st);
    if (name && strcmp(name, "iq") == 0) {
        const char *type = xmpp_stanza_get_type(st);
        if (type == NULL)
            return;
        if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
            /* unknown, stale or forged ids are dropped */
            iqtrack_complete(s->iqt, xmpp_stanza_get_id(st),
                             strcmp(type, "error") == 0, st);
            pump(s);
        } else {
            answer(s, st);
        }
        return;
    }
    if (s->stanza_cb)
        s->stanza_cb(s->stanza_arg, s, st);
}

static void on_conn_state(struct strophe_ev_conn *c, enum strophe_ev_event ev,
                          const char *detail, void *ud)
{
    struct session *s = ud;
    if (ev == STROPHE_EV_ONLINE) {
        s->backoff_ms = RECONNECT_MIN_MS;
        s->st.connects++;
        log_info("S %s: online", s->p.jid);
        set_state(s, SESS_ONLINE, NULL);
        pump(s);
        return;
    }
    /* down: the connection is dead */
    bool was_online = s->state == SESS_ONLINE;
    strophe_ev_conn_free(c);
    s->conn = NULL;
    if (was_online) {
        s->st.disconnects++;
        log_warn("S %s: disconnected: %s", s->p.jid, detail ? detail : "?");
    } else {
        log_info("S %s: could not log in: %s", s->p.jid, detail ? detail : "?");
        s->srv_index++; /* next SRV target next time */
    }
    evtimer_del(s->pump_timer);
    if (s->state == SESS_CLOSED)
        return;
    schedule_retry(s, detail);
    /* after the state change, so that callbacks see the session offline */
    iqtrack_cancel_all(s->iqt);
}

static void connect_to(struct session *s, const char *ip, unsigned short port)
{
    struct strophe_ev_params sp = {
        .jid = s->p.jid,
        .password = s->p.password,
        .host = ip,
        .port = port ? port : 5222,
        .flags = (s->p.plaintext ? STROPHE_EV_PLAINTEXT : 0) |
                 (s->p.trust_tls ? STROPHE_EV_TRUST_TLS : 0),
        .name = s->p.jid,
    };
    set_state(s, SESS_CONNECTING, NULL);
    s->conn = strophe_ev_conn_new(s->sev, &sp, on_conn_state, on_stanza, s);
}

static void on_addr(void *arg, const struct addr_result *r)
{
    struct session *s = arg;
    if (s->state != SESS_RESOLVING)
        return;
    if (r->status != RES_OK || r->n == 0) {
        char why[96];
        snprintf(why, sizeof why, "cannot resolve server address: %s",
                 resolve_status_name(r->status));
        s->srv_index++;
        schedule_retry(s, why);
        return;
    }
    connect_to(s, r->text[0], s->conn_port);
}

static void on_srv(void *arg, const struct srv_result *r)
{
    struct session *s = arg;
    if (s->state != SESS_RESOLVING)
        return;
    const char *host = s->domain;
    s->conn_port = s->p.port ? s->p.port : 5222;
    if (r->status == RES_OK && r->n > 0) {
        const struct srv_target *t = &r->targets[s->srv_index % r->n];
        if (strcmp(t->host, ".") == 0) {
            schedule_retry(s, "the domain says it offers no client service");
            return;
        }
        host = t->host;
        s->conn_port = t->port;
    }
    resolver_addr(s->res, host, AF_UNSPEC, on_addr, s);
}

static bool is_ip_literal(const char *h)
{
    unsigned char tmp[16];
    return inet_pton(AF_INET, h, tmp) == 1 || inet_pton(AF_INET6, h, tmp) == 1;
}

static void start(struct session *s)
{
    if (s->state == SESS_CLOSED)
        return;
    if (s->p.host && is_ip_literal(s->p.host)) {
        connect_to(s, s->p.host, s->p.port);
        return;
    }
    if (s->res == NULL) {
        schedule_retry(s, "no resolver for a host name");
        return;
    }
    set_state(s, SESS_RESOLVING, NULL);
    if (s->p.host) {
        s->conn_port = s->p.port ? s->p.port : 5222;
        resolver_addr(s->res, s->p.host, AF_UNSPEC, on_addr, s);
    } else {
        char name[300];
        snprintf(name, sizeof name, "_xmpp-client._tcp.%s", s->domain);
        resolver_srv(s->res, name, on_srv, s);
    }
}

/* --- requests ------------------------------------------------------------ */

static void req_free(struct req *r)
{
    free(r->type);
    free(r->to);
    free(r->payload);
    free(r);
}

static void on_reply(void *arg, enum iqtrack_result res, void *reply)
{
    struct req *r = arg;
    struct session *s = r->s;
    switch (res) {
    case IQT_RESULT: s->st.results++; break;
    case IQT_ERROR: s->st.errors++; break;
    case IQT_TIMEOUT: s->st.timeouts++; break;
    default: s->st.cancelled++; break;
    }
    r->cb(r->arg, res, reply);
    req_free(r);
    if (res == IQT_TIMEOUT)
        pump(s);
}

static void send_req(struct session *s, struct req *r)
{
    char id[IQTRACK_ID_MAX];
    iqtrack_add(s->iqt, r->timeout_ms, on_reply, r, id);
    buf_reset(&s->out);
    buf_puts(&s->out, "<iq type='");
    buf_puts(&s->out, r->type);
    buf_puts(&s->out, "' to='");
    buf_put_xml(&s->out, r->to);
    buf_printf(&s->out, "' id='%s'>", id);
    buf_puts(&s->out, r->payload);
    buf_puts(&s->out, "</iq>");
    strophe_ev_conn_send_raw(s->conn, s->out.data, s->out.len);
    s->st.sent++;
}

static void on_pump_timer(evutil_socket_t fd, short what, void *arg)
{
    pump(arg);
}

static void pump(struct session *s)
{
    if (s->state != SESS_ONLINE)
        return;
    int64_t now = clock_now_ms();
    struct req *r;
    while ((r = TAILQ_FIRST(&s->queue)) != NULL &&
           iqtrack_pending(s->iqt) < s->p.max_inflight) {
        if (!tbucket_take(&s->tb, 1, now)) {
            if (!evtimer_pending(s->pump_timer, NULL)) {
                int64_t ms = tbucket_wait_ms(&s->tb, 1, now);
                struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
                evtimer_add(s->pump_timer, &tv);
            }
            return;
        }
        TAILQ_REMOVE(&s->queue, r, link);
        s->nqueued--;
        send_req(s, r);
        if (s->state != SESS_ONLINE)
            return;
    }
}

void session_iq(struct session *s, const char *type, const char *to,
                const char *payload, int timeout_ms, session_iq_cb cb,
                void *arg)
{
    struct req *r = xcalloc(1, sizeof *r);
    r->s = s;
    r->type = xstrdup(type);
    r->to = xstrdup(to);
    r->payload = xstrdup(payload);
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    r->cb = cb;
    r->arg = arg;
    TAILQ_INSERT_TAIL(&s->queue, r, link);
    s->nqueued++;
    pump(s);
}

bool session_send_raw(struct session *s, const char *xml)
{
    if (s->state != SESS_ONLINE)
        return false;
    strophe_ev_conn_send_raw(s->conn, xml, strlen(xml));
    return true;
}

/* --- life cycle ---------------------------------------------------------- */

struct session *session_new(struct event_base *base, struct strophe_ev *sev,
                            struct resolver *res,
                            const struct session_params *p,
                            session_state_cb state_cb, void *arg)
{
    struct session *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->sev = sev;
    s->res = res;
    s->p = *p;
    s->p.jid = xstrdup(p->jid);
    s->p.password = xstrdup(p->password ? p->password : "");
    s->p.host = p->host ? xstrdup(p->host) : NULL;
    s->p.ident_name = xstrdup(p->ident_name ? p->ident_name : "xcensus");
    s->p.ident_version = xstrdup(p->ident_version ? p->ident_version : XC_VERSION);
    s->p.policy_url = p->policy_url ? xstrdup(p->policy_url) : NULL;
    if (s->p.max_inflight == 0)
        s->p.max_inflight = 1;
    if (s->p.reconnect_max_ms < RECONNECT_MIN_MS)
        s->p.reconnect_max_ms = RECONNECT_MIN_MS;
    const char *at = strchr(p->jid, '@');
    const char *dom = at ? at + 1 : p->jid;
    s->domain = xstrndup(dom, strcspn(dom, "/"));
    s->iqt = iqtrack_new(base);
    tbucket_init(&s->tb, p->rate > 0 ? p->rate : 50, p->burst >= 1 ? p->burst : 10,
                 clock_now_ms());
    s->retry_timer = evtimer_new(base, on_retry, s);
    s->pump_timer = evtimer_new(base, on_pump_timer, s);
    s->backoff_ms = RECONNECT_MIN_MS;
    s->state_cb = state_cb;
    s->state_arg = arg;
    TAILQ_INIT(&s->queue);
    s->state = SESS_IDLE;
    start(s);
    return s;
}

void session_set_stanza_cb(struct session *s, session_stanza_cb cb, void *arg)
{
    s->stanza_cb = cb;
    s->stanza_arg = arg;
}

void session_free(struct session *s)
{
    if (s == NULL)
        return;
    s->state = SESS_CLOSED; /* no state callback from here on */
    s->state_cb = NULL;
    if (s->conn) {
        strophe_ev_conn_free(s->conn);
        s->conn = NULL;
    }
    iqtrack_free(s->iqt); /* in-flight callbacks: IQT_CANCELLED */
    struct req *r;
    while ((r = TAILQ_FIRST(&s->queue)) != NULL) {
        TAILQ_REMOVE(&s->queue, r, link);
        s->st.cancelled++;
        r->cb(r->arg, IQT_CANCELLED, NULL);
        req_free(r);
    }
    event_free(s->retry_timer);
    event_free(s->pump_timer);
    buf_free(&s->out);
    free((char *)s->p.jid);
    explicit_bzero((char *)s->p.password, strlen(s->p.password));
    free((char *)s->p.password);
    free((char *)s->p.host);
    free((char *)s->p.ident_name);
    free((char *)s->p.ident_version);
    free((char *)s->p.policy_url);
    free(s->domain);
    free(s);
}

enum sess_state session_state(const struct session *s)
{
    return s->state;
}

bool session_online(const struct session *s)
{
    return s->state == SESS_ONLINE;
}

size_t session_queued(const struct session *s)
{
    return s->nqueued;
}

size_t session_inflight(const struct session *s)
{
    return iqtrack_pending(s->iqt);
}

const struct session_stats *session_stats(const struct session *s)
{
    return &s->st;
}

const char *session_bound_jid(const struct session *s)
{
    return s->conn && s->state == SESS_ONLINE
               ? strophe_ev_conn_bound_jid(s->conn)
               : NULL;
}

const char *session_jid(const struct session *s)
{
    return s->p.jid;
}
