/*
 * c-ares driven by libevent: c-ares tells us (socket state callback) which
 * sockets to watch; their events and one timer call ares_process_fd().
 * Every user callback is deferred through a libevent event so that it never
 * runs inside resolver_srv()/resolver_addr() or inside c-ares' own
 * destruction.
 */
#include "resolve.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "xalloc.h"

struct watch {
    ares_socket_t fd;
    struct event *ev;
    short what;
    LIST_ENTRY(watch) link;
};

struct lookup {
    struct resolver *r;
    bool srv;
    resolve_srv_cb srv_cb;
    resolve_addr_cb addr_cb;
    void *arg;
    struct srv_result *srv_res;   /* filled when answered */
    struct addr_result *addr_res;
    struct event *deliver;        /* deferred callback */
    TAILQ_ENTRY(lookup) link;
};

struct resolver {
    struct event_base *base;
    ares_channel ch;
    struct event *timer;
    LIST_HEAD(, watch) watches;
    TAILQ_HEAD(, lookup) lookups; /* started, callback not yet run */
    size_t pending;
    bool freeing;
};

static const char *const status_names[] = {
    [RES_OK] = "ok",
    [RES_NXDOMAIN] = "nxdomain",
    [RES_NODATA] = "nodata",
    [RES_TIMEOUT] = "timeout",
    [RES_REFUSED] = "refused",
    [RES_ERROR] = "error",
    [RES_CANCELLED] = "cancelled",
};
_Static_assert(ARRAY_LEN(status_names) == RES__COUNT, "names table");

const char *resolve_status_name(enum resolve_status s)
{
    return (unsigned)s < RES__COUNT ? status_names[s] : "?";
}

static enum resolve_status map_status(int st)
{
    switch (st) {
    case ARES_SUCCESS:
        return RES_OK;
    case ARES_ENOTFOUND:
        return RES_NXDOMAIN;
    case ARES_ENODATA:
        return RES_NODATA;
    case ARES_ETIMEOUT:
        return RES_TIMEOUT;
    case ARES_ECONNREFUSED:
    case ARES_EREFUSED:
    case ARES_ESERVFAIL:
        return RES_REFUSED;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
        return RES_CANCELLED;
    default:
        return RES_ERROR;
    }
}

bool resolve_hostname_ok(const char *s)
{
    size_t len = strlen(s), label = 0;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || ++label > 63)
            return false;
    }
    return true;
}

static void arm_timer(struct resolver *r)
{
    struct timeval tv, *t = ares_timeout(r->ch, NULL, &tv);
    if (t)
        evtimer_add(r->timer, t);
    else
        evtimer_del(r->timer);
}

static void on_timer(evutil_socket_t fd, short what, void *p)
{
    struct resolver *r = p;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    arm_timer(r);
}

static void on_socket(evutil_socket_t fd, short what, void *p)
{
    struct resolver *r = p;
    ares_process_fd(r->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    arm_timer(r);
}

static void sock_state(void *p, ares_socket_t fd, int readable, int writable)
{
    struct resolver *r = p;
    struct watch *w;
    LIST_FOREACH(w, &r->watches, link)
        if (w->fd == fd)
            break;
    short what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    if (w && (what == 0 || what != w->what)) {
        event_free(w->ev);
        LIST_REMOVE(w, link);
        free(w);
        w = NULL;
    }
    if (what == 0 || w)
        return;
    w = xcalloc(1, sizeof *w);
    w->fd = fd;
    w->what = what;
    w->ev = event_new(r->base, fd, what | EV_PERSIST, on_socket, r);
    event_add(w->ev, NULL);
    LIST_INSERT_HEAD(&r->watches, w, link);
}

static void lookup_free(struct lookup *l)
{
    event_free(l->deliver);
    free(l->srv_res);
    free(l->addr_res);
    free(l);
}

static void deliver(evutil_socket_t fd, short what, void *p)
{
    struct lookup *l = p;
    struct resolver *r = l->r;
    TAILQ_REMOVE(&r->lookups, l, link);
    r->pending--;
    if (l->srv)
        l->srv_cb(l->arg, l->srv_res);
    else
        l->addr_cb(l->arg, l->addr_res);
    lookup_free(l);
}

static void schedule(struct lookup *l)
{
    event_active(l->deliver, EV_TIMEOUT, 0);
}

static struct lookup *lookup_new(struct resolver *r, bool srv, void *arg)
{
    struct lookup *l = xcalloc(1, sizeof *l);
    l->r = r;
    l->srv = srv;
    l->arg = arg;
    if (srv)
        l->srv_res = xcalloc(1, sizeof *l->srv_res);
    else
        l->addr_res = xcalloc(1, sizeof *l->addr_res);
    l->deliver = event_new(r->base, -1, 0, deliver, l);
    TAILQ_INSERT_TAIL(&r->lookups, l, link);
    r->pending++;
    return l;
}

static int cmp_srv(const void *a, const void *b)
{
    const struct srv_target *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    return strcmp(x->host, y->host);
}

static void on_srv(void *p, int status, int timeouts, unsigned char *abuf,
                   int alen)
{
    struct lookup *l = p;
    struct srv_result *res = l->srv_res;
    res->status = map_status(status);
    if (status == ARES_SUCCESS) {
        struct ares_srv_reply *reply = NULL;
        int pst = ares_parse_srv_reply(abuf, alen, &reply);
        if (pst != ARES_SUCCESS) {
            res->status = pst == ARES_ENODATA ? RES_NODATA : RES_ERROR;
        } else {
            for (struct ares_srv_reply *s = reply; s; s = s->next) {
                bool root = strcmp(s->host, "") == 0 || strcmp(s->host, ".") == 0;
                if (res->n == RESOLVE_MAX_TARGETS ||
                    (!root && !resolve_hostname_ok(s->host))) {
                    res->dropped++;
                    continue;
                }
                struct srv_target *t = &res->targets[res->n++];
                strcpy(t->host, root ? "." : s->host); /* checked <= 253 */
                t->port = s->port;
                t->priority = s->priority;
                t->weight = s->weight;
            }
            ares_free_data(reply);
            qsort(res->targets, res->n, sizeof res->targets[0], cmp_srv);
            if (res->n == 0)
                res->status = RES_NODATA;
        }
    }
    schedule(l);
}

static void add_addr(struct addr_result *res, const struct sockaddr *sa)
{
    if (res->n == RESOLVE_MAX_ADDRS)
        return;
    size_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in);
    memcpy(&res->addrs[res->n], sa, len);
    const void *a = sa->sa_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    inet_ntop(sa->sa_family, a, res->text[res->n], sizeof res->text[0]);
    res->n++;
}

static void on_addr(void *p, int status, int timeouts,
                    struct ares_addrinfo *ai)
{
    struct lookup *l = p;
    struct addr_result *res = l->addr_res;
    res->status = map_status(status);
    if (status == ARES_SUCCESS && ai) {
        for (struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next)
            if (n->ai_family == AF_INET || n->ai_family == AF_INET6)
                add_addr(res, n->ai_addr);
        if (res->n == 0)
            res->status = RES_NODATA;
    }
    if (ai)
        ares_freeaddrinfo(ai);
    schedule(l);
}

struct resolver *resolver_new(struct event_base *base, const char *servers,
                              int timeout_ms, int tries, struct parse_err *err)
{
    static bool lib_ready;
    if (!lib_ready) {
        int st = ares_library_init(ARES_LIB_INIT_ALL);
        if (st != ARES_SUCCESS) {
            snprintf(err->msg, sizeof err->msg, "could not initialize c-ares: %s",
                     ares_strerror(st));
            return NULL;
        }
        lib_ready = true;
    }
    struct resolver *r = xcalloc(1, sizeof *r);
    r->base = base;
    LIST_INIT(&r->watches);
    TAILQ_INIT(&r->lookups);
    struct ares_options o = {0};
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    o.timeout = timeout_ms > 0 ? timeout_ms : 2000;
    o.tries = tries > 0 ? tries : 2;
    o.sock_state_cb = sock_state;
    o.sock_state_cb_data = r;
    int st = ares_init_options(&r->ch, &o,
                               ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS |
                                   ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
    if (st == ARES_SUCCESS && servers)
        st = ares_set_servers_ports_csv(r->ch, servers);
    if (st != ARES_SUCCESS) {
        snprintf(err->msg, sizeof err->msg, "could not set up the resolver: %s",
                 ares_strerror(st));
        if (r->ch)
            ares_destroy(r->ch);
        free(r);
        return NULL;
    }
    r->timer = evtimer_new(base, on_timer, r);
    return r;
}

void resolver_free(struct resolver *r)
{
    if (r == NULL)
        return;
    r->freeing = true;
    /* c-ares calls every outstanding callback with ARES_EDESTRUCTION;
     * they only schedule delivery, which we run right here */
    ares_destroy(r->ch);
    struct lookup *l;
    while ((l = TAILQ_FIRST(&r->lookups)) != NULL) {
        if (l->srv)
            l->srv_res->status = RES_CANCELLED;
        else
            l->addr_res->status = RES_CANCELLED;
        event_del(l->deliver);
        deliver(-1, 0, l);
    }
    struct watch *w;
    while ((w = LIST_FIRST(&r->watches)) != NULL) {
        LIST_REMOVE(w, link);
        event_free(w->ev);
        free(w);
    }
    event_free(r->timer);
    free(r);
}

void resolver_srv(struct resolver *r, const char *name, resolve_srv_cb cb,
                  void *arg)
{
    struct lookup *l = lookup_new(r, true, arg);
    l->srv_cb = cb;
    if (!resolve_hostname_ok(name)) {
        l->srv_res->status = RES_ERROR;
        schedule(l);
        return;
    }
    ares_query(r->ch, name, ns_c_in, ns_t_srv, on_srv, l);
    arm_timer(r);
}

void resolver_addr(struct resolver *r, const char *host, int family,
                   resolve_addr_cb cb, void *arg)
{
    struct lookup *l = lookup_new(r, false, arg);
    l->addr_cb = cb;
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, host, &s4.sin_addr) == 1 && family != AF_INET6) {
        add_addr(l->addr_res, (struct sockaddr *)&s4);
        schedule(l);
        return;
    }
    if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1 && family != AF_INET) {
        add_addr(l->addr_res, (struct sockaddr *)&s6);
        schedule(l);
        return;
    }
    if (!resolve_hostname_ok(host)) {
        l->addr_res->status = RES_ERROR;
        schedule(l);
        return;
    }
    struct ares_addrinfo_hints hints = {0};
    hints.ai_family = family;
    hints.ai_flags = ARES_AI_NOSORT;
    ares_getaddrinfo(r->ch, host, NULL, &hints, on_addr, l);
    arm_timer(r);
}

size_t resolver_pending(const struct resolver *r)
{
    return r->pending;
}
