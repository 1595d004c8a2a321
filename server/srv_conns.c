/*
 * What evhttp 2.1 does not do for a server facing slow or many clients:
 *  - a bound on open connections: the listener is disabled while
 *    serve.max_connections are open (the kernel's backlog holds the rest);
 *  - a deadline for a whole request: evhttp's timeout is per read, so a
 *    client sending one byte just before each timeout would hold a
 *    connection for hours. A connection must deliver a complete request
 *    within serve.request_timeout of opening or of its previous answer
 *    (which is also the keep-alive idle time), else it is shut down.
 *
 * evhttp lets us create each connection's bufferevent (evhttp_set_bevcb)
 * but says nothing when it frees it. We keep a reference on each one: when
 * evhttp frees it, bufferevent_free() clears its callbacks and drops
 * evhttp's reference, the periodic sweep sees the callbacks gone and drops
 * ours, which closes the socket. An overdue connection's socket is shut
 * down; evhttp reads the end of stream and frees the connection itself.
 */
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"
#include "log.h"
#include "srv_int.h"
#include "xalloc.h"

#define SWEEP_MS 250

struct srv_conn {
    struct bufferevent *bev;
    int64_t since_ms; /* opened, or last answered */
    bool busy;        /* a request of it is being answered */
    bool shut;        /* shut down for being overdue */
    bool nodelay;     /* TCP_NODELAY set */
    struct srv_conn *next;
};

static bool freed_by_evhttp(struct bufferevent *bev)
{
    bufferevent_data_cb rd, wr;
    bufferevent_event_cb ev;
    bufferevent_getcb(bev, &rd, &wr, &ev, NULL);
    return rd == NULL && wr == NULL && ev == NULL;
}

static void listener_enable(struct srv *s, bool on)
{
    if (s->accepting == on)
        return;
    struct evconnlistener *l = evhttp_bound_socket_get_listener(s->sock);
    if (on)
        evconnlistener_enable(l);
    else
        evconnlistener_disable(l);
    s->accepting = on;
}

static void sweep(evutil_socket_t fd, short what, void *arg)
{
    struct srv *s = arg;
    int64_t now = clock_now_ms();
    struct srv_conn **pp = &s->conns;
    while (*pp) {
        struct srv_conn *c = *pp;
        if (freed_by_evhttp(c->bev)) {
            *pp = c->next;
            bufferevent_decref(c->bev);
            free(c);
            s->nconns--;
            continue;
        }
        if (!c->busy && !c->shut && now - c->since_ms > s->o.request_timeout) {
            evutil_socket_t sfd = bufferevent_getfd(c->bev);
            if (sfd >= 0) {
                shutdown(sfd, SHUT_RDWR);
                s->stats.dropped++;
            }
            c->shut = true;
        }
        pp = &c->next;
    }
    if (s->nconns < (size_t)s->o.max_connections)
        listener_enable(s, true);
}

static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    struct srv *s = arg;
    struct bufferevent *bev =
        bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_incref(bev);
    struct srv_conn *c = xcalloc(1, sizeof *c);
    c->bev = bev;
    c->since_ms = clock_now_ms();
    c->next = s->conns;
    s->conns = c;
    s->nconns++;
    s->stats.connections++;
    if (s->nconns >= (size_t)s->o.max_connections)
        listener_enable(s, false);
    return bev;
}

/* Sets up the connection hooks and the sweep. */
void srv_conns_init(struct srv *s)
{
    s->accepting = true;
    evhttp_set_bevcb(s->http, on_new_conn, s);
    s->sweep = event_new(s->base, -1, EV_PERSIST, sweep, s);
    struct timeval tv = {0, SWEEP_MS * 1000};
    event_add(s->sweep, &tv);
}

static struct srv_conn *find(struct srv *s, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!evcon)
        return NULL;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    for (struct srv_conn *c = s->conns; c; c = c->next)
        if (c->bev == bev)
            return c;
    return NULL;
}

/* A complete request of req's connection arrived. */
void srv_conn_request(struct srv *s, struct evhttp_request *req)
{
    struct srv_conn *c = find(s, req);
    if (!c)
        return;
    c->busy = true;
    if (!c->nodelay) {
        /* answers leave in one go; without this, the tail of an answer
         * larger than the socket's first window waits for the client's
         * delayed ACK (about 40 ms) */
        int one = 1;
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        if (fd >= 0)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->nodelay = true;
    }
}

/* req's connection got its answer: the next request's deadline starts. */
void srv_conn_answered(struct srv *s, struct evhttp_request *req)
{
    struct srv_conn *c = find(s, req);
    if (c) {
        c->busy = false;
        c->since_ms = clock_now_ms();
    }
}

/* Drops our references (after evhttp_free()). */
void srv_conns_free(struct srv *s)
{
    if (s->sweep)
        event_free(s->sweep);
    while (s->conns) {
        struct srv_conn *c = s->conns;
        s->conns = c->next;
        bufferevent_decref(c->bev);
        free(c);
    }
    s->nconns = 0;
}
