/*
 * xc-population: the client population of the test network. One libevent
 * loop runs the clients of one part of plan.json (at most a few hundred
 * connections: libstrophe select()s, see strophe_ev.h). Each client logs
 * in, presents XEP-0115 caps (and XEP-0390 when asked) computed from the
 * content it serves, creates its rooms (muc#owner configuration) and joins
 * its rooms with caps in its MUC presence, answers disco#info (node#ver,
 * the empty node and its XEP-0390 hash node), XEP-0092 version and
 * XEP-0199 ping, and misbehaves as its plan entry says. Once online and in
 * its rooms it appends one JSON line to the presented file (once per
 * process). Dropped connections reconnect with exponential backoff;
 * SIGTERM/SIGINT leave cleanly (unavailable presence, stream close, all
 * memory freed).
 *
 * It never logs occupant JIDs or nicks other than its own clients'.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <jansson.h>
#include <strophe.h>

#include "caps2.h"
#include "content.h"
#include "log.h"
#include "plan.h"
#include "strophe_ev.h"
#include "xalloc.h"

#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_VERSION "jabber:iq:version"
#define NS_PING "urn:xmpp:ping"
#define NS_HASHES2 "urn:xmpp:hashes:2"

#define STARTS_PER_TICK 20 /* connection attempts per 100 ms */
#define MAX_JOIN_TRIES 10
#define MAX_DELAYED 32 /* slow answers pending per client */
#define MAX_BACKOFF_S 60
#define REJOIN_AFTER_S 30 /* leave-on-query */
#define MAX_QUEUED 64     /* stanzas queued per connection */

/* Client states; every client is in pop->clients, counted per state. */
enum cl_state {
    CL_WAITING,    /* not started yet or backing off: timer pending */
    CL_CONNECTING, /* strophe_ev connection negotiating */
    CL_JOINING,    /* online: presence sent, rooms being created/joined */
    CL_PRESENT,    /* every room joined (or given up) */
    CL_STOPPING,   /* shutdown: stream closing */
    CL_DONE,       /* nothing left: no connection, no timer */
    CL__COUNT
};

static const char *const cl_state_names[] = {
    [CL_WAITING] = "waiting",   [CL_CONNECTING] = "connecting",
    [CL_JOINING] = "joining",   [CL_PRESENT] = "present",
    [CL_STOPPING] = "stopping", [CL_DONE] = "done",
};
_Static_assert(ARRAY_LEN(cl_state_names) == CL__COUNT, "names table");

/* Per-room state of one client. */
enum pr_state {
    PR_PENDING,     /* to be joined (maybe waiting for its creator) */
    PR_JOIN_SENT,   /* join presence sent */
    PR_CONFIGURING, /* creator: muc#owner form sent */
    PR_JOINED,
    PR_LEFT,   /* left on purpose (flap, leave-on-query) */
    PR_FAILED, /* gave up after MAX_JOIN_TRIES */
    PR__COUNT
};

struct pop;
struct client;

struct proom {
    const char *room;                /* borrowed from the plan */
    const struct pop_create *create; /* non-NULL: this client creates it */
    enum pr_state state;
    unsigned tries;
    bool waits_creator; /* created by another client of ours */
};

struct delayed {
    struct client *c;
    struct event *ev;
    char *id, *to, *node;
    TAILQ_ENTRY(delayed) link;
};

struct client {
    struct pop *pop;
    const struct pop_client *pc; /* borrowed from the plan */
    struct pop_content content;
    char *caps_node_ver; /* "node#ver" */
    char *caps2_node;    /* "urn:xmpp:caps#sha-256.B64" or NULL */
    char *full_jid;
    enum cl_state state; /* written by cl_set_state() only */
    struct strophe_ev_conn *conn;
    struct proom *rooms;
    size_t n_rooms;
    struct event *timer;   /* reconnect, room retry */
    struct event *flap_ev; /* flap / leave-on-query rejoin */
    unsigned backoff;
    unsigned rand_state;
    bool presented; /* line written */
    bool flapped_off;
    unsigned n_delayed;
    TAILQ_HEAD(, delayed) delayed;
};

struct pop {
    struct event_base *base;
    struct strophe_ev *sev;
    struct pop_plan *plan;
    struct client *clients;
    size_t n_clients;
    size_t next_start;
    unsigned counts[CL__COUNT];
    FILE *out;
    bool stopping;
    struct event *start_ev;
    struct event *stop_ev; /* hard deadline for shutdown */
    struct event *sig_term, *sig_int;
    unsigned long queries, presented, dropped;
};

static void advance_rooms(struct client *c);
static void connect_client(struct client *c);

static void cl_set_state(struct client *c, enum cl_state to)
{
    if (c->state == to)
        return;
    LOG_AT(LOG_DEBUG, NULL, "C-%u: %s -> %s", c->pc->id,
           cl_state_names[c->state], cl_state_names[to]);
    c->pop->counts[c->state]--;
    c->pop->counts[to]++;
    c->state = to;
    if (c->pop->stopping && c->pop->counts[CL_DONE] == c->pop->n_clients)
        event_base_loopexit(c->pop->base, NULL);
}

static unsigned rnd(struct client *c, unsigned n)
{
    return n ? (unsigned)rand_r(&c->rand_state) % n : 0;
}

static void arm(struct event *ev, unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    event_add(ev, &tv);
}

/* ---- stanzas ---- */

static void add_caps(struct client *c, xmpp_stanza_t *pres)
{
    xmpp_ctx_t *ctx = strophe_ev_conn_ctx(c->conn);
    xmpp_stanza_t *caps = xmpp_stanza_new(ctx);

    /* XEP-0115 s4 */
    xmpp_stanza_set_name(caps, "c");
    xmpp_stanza_set_ns(caps, NS_CAPS);
    xmpp_stanza_set_attribute(caps, "hash", "sha-1");
    xmpp_stanza_set_attribute(caps, "node", c->pc->profile->node);
    xmpp_stanza_set_attribute(caps, "ver", c->content.ver);
    xmpp_stanza_add_child(pres, caps);
    xmpp_stanza_release(caps);
    if (c->content.caps2[0]) {
        /* XEP-0390 s3.2 */
        xmpp_stanza_t *c2 = xmpp_stanza_new(ctx);
        xmpp_stanza_t *h = xmpp_stanza_new(ctx);
        xmpp_stanza_t *t = xmpp_stanza_new(ctx);
        xmpp_stanza_set_name(c2, "c");
        xmpp_stanza_set_ns(c2, CAPS2_NS);
        xmpp_stanza_set_name(h, "hash");
        xmpp_stanza_set_ns(h, NS_HASHES2);
        xmpp_stanza_set_attribute(h, "algo", "sha-256");
        xmpp_stanza_set_text(t, c->content.caps2);
        xmpp_stanza_add_child(h, t);
        xmpp_stanza_add_child(c2, h);
        xmpp_stanza_add_child(pres, c2);
        xmpp_stanza_release(t);
        xmpp_stanza_release(h);
        xmpp_stanza_release(c2);
    }
}

static void send_presence(struct client *c, const char *to, bool available,
                          const struct proom *join)
{
    xmpp_ctx_t *ctx = strophe_ev_conn_ctx(c->conn);
    xmpp_stanza_t *pres = xmpp_presence_new(ctx);

    if (to)
        xmpp_stanza_set_to(pres, to);
    if (!available) {
        xmpp_stanza_set_type(pres, "unavailable");
    } else {
        if (join) {
            /* XEP-0045 s7.2 */
            xmpp_stanza_t *x = xmpp_stanza_new(ctx);
            xmpp_stanza_t *hist = xmpp_stanza_new(ctx);
            xmpp_stanza_set_name(x, "x");
            xmpp_stanza_set_ns(x, NS_MUC);
            xmpp_stanza_set_name(hist, "history");
            xmpp_stanza_set_attribute(hist, "maxstanzas", "0");
            xmpp_stanza_add_child(x, hist);
            xmpp_stanza_release(hist);
            if (join->create && join->create->password) {
                xmpp_stanza_t *pw = xmpp_stanza_new(ctx);
                xmpp_stanza_t *t = xmpp_stanza_new(ctx);
                xmpp_stanza_set_name(pw, "password");
                xmpp_stanza_set_text(t, join->create->password);
                xmpp_stanza_add_child(pw, t);
                xmpp_stanza_add_child(x, pw);
                xmpp_stanza_release(t);
                xmpp_stanza_release(pw);
            }
            xmpp_stanza_add_child(pres, x);
            xmpp_stanza_release(x);
        }
        add_caps(c, pres);
    }
    strophe_ev_conn_send(c->conn, pres);
    xmpp_stanza_release(pres);
}

static void room_presence(struct client *c, struct proom *r, bool available)
{
    char *to = xasprintf("%s/%s", r->room, c->pc->nick);
    send_presence(c, to, available, available ? r : NULL);
    free(to);
}

static void add_field(xmpp_ctx_t *ctx, xmpp_stanza_t *x, const char *var,
                      const char *value)
{
    xmpp_stanza_t *f = xmpp_stanza_new(ctx);
    xmpp_stanza_t *v = xmpp_stanza_new(ctx);
    xmpp_stanza_t *t = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(f, "field");
    xmpp_stanza_set_attribute(f, "var", var);
    xmpp_stanza_set_name(v, "value");
    xmpp_stanza_set_text(t, value);
    xmpp_stanza_add_child(v, t);
    xmpp_stanza_add_child(f, v);
    xmpp_stanza_add_child(x, f);
    xmpp_stanza_release(t);
    xmpp_stanza_release(v);
    xmpp_stanza_release(f);
}

/* XEP-0045 s10.2: submits the room configuration. */
static void send_room_config(struct client *c, size_t idx)
{
    const struct pop_create *cr = c->rooms[idx].create;
    xmpp_ctx_t *ctx = strophe_ev_conn_ctx(c->conn);
    char id[32];
    snprintf(id, sizeof id, "cfg-%zu", idx);
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, "set", id);
    xmpp_stanza_t *q = xmpp_stanza_new(ctx);
    xmpp_stanza_t *x = xmpp_stanza_new(ctx);

    xmpp_stanza_set_to(iq, cr->room);
    xmpp_stanza_set_name(q, "query");
    xmpp_stanza_set_ns(q, NS_MUC_OWNER);
    xmpp_stanza_set_name(x, "x");
    xmpp_stanza_set_ns(x, "jabber:x:data");
    xmpp_stanza_set_type(x, "submit");
    add_field(ctx, x, "FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig");
    add_field(ctx, x, "muc#roomconfig_publicroom", cr->public_room ? "1" : "0");
    add_field(ctx, x, "muc#roomconfig_persistentroom", "1");
    add_field(ctx, x, "muc#roomconfig_membersonly",
              cr->members_only ? "1" : "0");
    add_field(ctx, x, "muc#roomconfig_passwordprotectedroom",
              cr->password ? "1" : "0");
    if (cr->password)
        add_field(ctx, x, "muc#roomconfig_roomsecret", cr->password);
    add_field(ctx, x, "muc#roomconfig_whois", "moderators");
    xmpp_stanza_add_child(q, x);
    xmpp_stanza_add_child(iq, q);
    strophe_ev_conn_send(c->conn, iq);
    xmpp_stanza_release(x);
    xmpp_stanza_release(q);
    xmpp_stanza_release(iq);
}

static void send_error(struct client *c, xmpp_stanza_t *st, const char *cond)
{
    xmpp_stanza_t *e = xmpp_stanza_reply_error(st, "cancel", cond, NULL);
    if (e) {
        strophe_ev_conn_send(c->conn, e);
        xmpp_stanza_release(e);
    }
}

static void send_disco_answer(struct client *c, const char *id, const char *to,
                              const char *node)
{
    xmpp_ctx_t *ctx = strophe_ev_conn_ctx(c->conn);

    /* libstrophe's send queue is unbounded: a client flooded faster than
     * its server reads drops answers instead of growing */
    if (strophe_ev_conn_queue_len(c->conn) > MAX_QUEUED) {
        c->pop->dropped++;
        return;
    }
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, "result", id);
    xmpp_stanza_t *q = xmpp_stanza_new_from_string(ctx, c->content.query_xml);

    if (to)
        xmpp_stanza_set_to(iq, to);
    if (q) {
        if (node && *node)
            xmpp_stanza_set_attribute(q, "node", node);
        xmpp_stanza_add_child(iq, q);
        xmpp_stanza_release(q);
    }
    strophe_ev_conn_send(c->conn, iq);
    xmpp_stanza_release(iq);
}

/* ---- presented line ---- */

static void write_presented(struct client *c)
{
    const struct pop_client *pc = c->pc;
    json_t *joined, *expected, *line;

    if (c->presented || !c->pop->out)
        return;
    joined = json_array();
    c->presented = true;
    c->pop->presented++;
    for (size_t k = 0; k < c->n_rooms; k++)
        if (c->rooms[k].state == PR_JOINED)
            json_array_append_new(joined, json_string(c->rooms[k].room));
    expected = json_pack("{s:s,s:s?}", "outcome", c->content.outcome,
                         "matched_by", c->content.matched_by);
    if (c->content.error)
        json_object_set_new(expected, "error", json_string(c->content.error));
    line = json_pack(
        "{s:i,s:s,s:s,s:s,s:o,s:s,s:s,s:b,s:o,s:o}", "id", (json_int_t)pc->id,
        "node", pc->profile->node, "hash", "sha-1", "ver", c->content.ver,
        "caps2",
        c->content.caps2[0] ? json_pack("{s:s}", "sha-256", c->content.caps2)
                            : json_null(),
        "behaviour", pc->behaviour_str, "profile", pc->profile->id, "softinfo",
        pc->has_softinfo, "joined", joined, "expected", expected);
    if (!line)
        DIE_BUG("json_pack failed for client %u", pc->id);
    json_dumpf(line, c->pop->out, JSON_COMPACT);
    fputc('\n', c->pop->out);
    fflush(c->pop->out);
    json_decref(line);
}

/* ---- rooms ---- */

static struct proom *find_room(struct client *c, const char *jid,
                               const char **resource)
{
    const char *slash = strchr(jid, '/');
    size_t len = slash ? (size_t)(slash - jid) : strlen(jid);

    *resource = slash ? slash + 1 : NULL;
    for (size_t k = 0; k < c->n_rooms; k++)
        if (strlen(c->rooms[k].room) == len &&
            strncasecmp(c->rooms[k].room, jid, len) == 0)
            return &c->rooms[k];
    return NULL;
}

/* Called when a room created by one of our clients is configured. */
static void room_ready(struct pop *pop, const char *room)
{
    for (size_t k = 0; k < pop->n_clients; k++) {
        struct client *o = &pop->clients[k];
        bool changed = false;
        for (size_t r = 0; r < o->n_rooms; r++) {
            if (o->rooms[r].waits_creator &&
                strcmp(o->rooms[r].room, room) == 0) {
                o->rooms[r].waits_creator = false;
                changed = true;
            }
        }
        if (changed && o->state == CL_JOINING)
            advance_rooms(o);
    }
}

static void check_all_joined(struct client *c)
{
    for (size_t k = 0; k < c->n_rooms; k++)
        if (c->rooms[k].state != PR_JOINED && c->rooms[k].state != PR_FAILED)
            return;
    if (c->state == CL_JOINING) {
        cl_set_state(c, CL_PRESENT);
        write_presented(c);
        if (c->pc->behaviour.kind == POP_B_FLAP)
            arm(c->flap_ev, 3000 + rnd(c, 5000));
    }
}

static void advance_rooms(struct client *c)
{
    for (size_t k = 0; k < c->n_rooms; k++) {
        struct proom *r = &c->rooms[k];
        if (r->state != PR_PENDING || r->waits_creator)
            continue;
        r->state = PR_JOIN_SENT;
        r->tries++;
        room_presence(c, r, true);
    }
    check_all_joined(c);
}

/* True if a muc#user <status code='code'/> is in the presence. */
static bool has_status(xmpp_stanza_t *st, const char *code)
{
    xmpp_stanza_t *x =
        xmpp_stanza_get_child_by_name_and_ns(st, "x", NS_MUC_USER);
    for (xmpp_stanza_t *s = x ? xmpp_stanza_get_children(x) : NULL; s;
         s = xmpp_stanza_get_next(s)) {
        const char *name = xmpp_stanza_get_name(s);
        const char *v = xmpp_stanza_get_attribute(s, "code");
        if (name && v && strcmp(name, "status") == 0 && strcmp(v, code) == 0)
            return true;
    }
    return false;
}

static void handle_presence(struct client *c, xmpp_stanza_t *st)
{
    const char *from = xmpp_stanza_get_from(st);
    const char *type = xmpp_stanza_get_type(st);
    const char *nick;
    struct proom *r;

    if (!from || !(r = find_room(c, from, &nick)) || !nick ||
        strcmp(nick, c->pc->nick) != 0)
        return; /* other occupants: never recorded */
    if (type && strcmp(type, "error") == 0) {
        if (r->state != PR_JOIN_SENT)
            return;
        xmpp_stanza_t *err = xmpp_stanza_get_child_by_name(st, "error");
        xmpp_stanza_t *cond = err ? xmpp_stanza_get_children(err) : NULL;
        log_info("C-%u: could not join room \"%s\" (try %u): %s", c->pc->id,
                 r->room, r->tries,
                 cond && xmpp_stanza_get_name(cond) ? xmpp_stanza_get_name(cond)
                                                    : "error");
        if (r->tries >= MAX_JOIN_TRIES) {
            r->state = PR_FAILED;
            check_all_joined(c);
        } else {
            r->state = PR_PENDING;
            if (!event_pending(c->timer, EV_TIMEOUT, NULL))
                arm(c->timer, 1000 + rnd(c, 2000));
        }
        return;
    }
    if (type && strcmp(type, "unavailable") == 0) {
        if (r->state == PR_JOINED || r->state == PR_JOIN_SENT) {
            /* kicked or the room went away: join again later */
            r->state = PR_PENDING;
            if (!event_pending(c->timer, EV_TIMEOUT, NULL))
                arm(c->timer, 2000 + rnd(c, 2000));
        }
        return;
    }
    if (r->state != PR_JOIN_SENT)
        return;
    if (r->create) {
        r->state = PR_CONFIGURING;
        send_room_config(c, (size_t)(r - c->rooms));
        return;
    }
    if (has_status(st, "201")) {
        /* XEP-0045 s10.1: our join created a room that is not ours (its
         * creator is late): leave the locked, empty room so the service
         * drops it, and join again later */
        log_info("C-%u: room \"%s\" did not exist yet", c->pc->id, r->room);
        room_presence(c, r, false);
        r->state = PR_PENDING;
        if (!event_pending(c->timer, EV_TIMEOUT, NULL))
            arm(c->timer, 1000 + rnd(c, 2000));
        return;
    }
    r->state = PR_JOINED;
    check_all_joined(c);
}

/* ---- iq ---- */

static void delayed_free(struct delayed *d)
{
    TAILQ_REMOVE(&d->c->delayed, d, link);
    d->c->n_delayed--;
    event_free(d->ev);
    free(d->id);
    free(d->to);
    free(d->node);
    free(d);
}

static void delayed_cb(evutil_socket_t fd, short what, void *arg)
{
    struct delayed *d = arg;
    if (d->c->conn && strophe_ev_conn_online(d->c->conn))
        send_disco_answer(d->c, d->id, d->to, d->node);
    delayed_free(d);
}

static void leave_rooms(struct client *c)
{
    for (size_t k = 0; k < c->n_rooms; k++) {
        if (c->rooms[k].state == PR_JOINED) {
            room_presence(c, &c->rooms[k], false);
            c->rooms[k].state = PR_LEFT;
        }
    }
}

static void handle_disco_info(struct client *c, xmpp_stanza_t *st,
                              xmpp_stanza_t *q)
{
    const char *node = xmpp_stanza_get_attribute(q, "node");
    const char *id = xmpp_stanza_get_id(st);
    const struct pop_behaviour *b = &c->pc->behaviour;

    c->pop->queries++;
    if (node && *node && strcmp(node, c->caps_node_ver) != 0 &&
        !(c->caps2_node && strcmp(node, c->caps2_node) == 0)) {
        send_error(c, st, "item-not-found");
        return;
    }
    switch (b->kind) {
    case POP_B_NO_ANSWER:
        return;
    case POP_B_ERROR_ANSWER:
        send_error(c, st, "service-unavailable");
        return;
    case POP_B_SLOW_ANSWER: {
        if (c->n_delayed >= MAX_DELAYED || !id)
            return; /* bounded: the rest goes unanswered */
        struct delayed *d = xcalloc(1, sizeof *d);
        const char *from = xmpp_stanza_get_from(st);
        d->c = c;
        d->id = xstrdup(id);
        d->to = from ? xstrdup(from) : NULL;
        d->node = node ? xstrdup(node) : NULL;
        d->ev = evtimer_new(c->pop->base, delayed_cb, d);
        TAILQ_INSERT_TAIL(&c->delayed, d, link);
        c->n_delayed++;
        arm(d->ev, b->arg);
        return;
    }
    case POP_B_LEAVE_ON_QUERY:
        if (c->state == CL_PRESENT) {
            leave_rooms(c);
            arm(c->flap_ev, REJOIN_AFTER_S * 1000);
        }
        break;
    default:
        break;
    }
    if (id)
        send_disco_answer(c, id, xmpp_stanza_get_from(st), node);
}

static void add_text_child(xmpp_ctx_t *ctx, xmpp_stanza_t *parent,
                           const char *name, const char *text)
{
    xmpp_stanza_t *e = xmpp_stanza_new(ctx);
    xmpp_stanza_t *t = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(e, name);
    xmpp_stanza_set_text(t, text);
    xmpp_stanza_add_child(e, t);
    xmpp_stanza_add_child(parent, e);
    xmpp_stanza_release(t);
    xmpp_stanza_release(e);
}

/* XEP-0092 */
static void handle_version(struct client *c, xmpp_stanza_t *st)
{
    const struct pop_client *pc = c->pc;
    xmpp_ctx_t *ctx = strophe_ev_conn_ctx(c->conn);
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, "result", xmpp_stanza_get_id(st));
    xmpp_stanza_t *q = xmpp_stanza_new(ctx);
    const char *name = pc->sw ? pc->sw : pc->profile->software;
    const char *ver = pc->sw_version ? pc->sw_version : pc->profile->version;

    if (xmpp_stanza_get_from(st))
        xmpp_stanza_set_to(iq, xmpp_stanza_get_from(st));
    xmpp_stanza_set_name(q, "query");
    xmpp_stanza_set_ns(q, NS_VERSION);
    add_text_child(ctx, q, "name", name ? name : "unknown");
    add_text_child(ctx, q, "version", ver ? ver : "0");
    if (pc->os) {
        char *os = pc->os_version ? xasprintf("%s %s", pc->os, pc->os_version)
                                  : xstrdup(pc->os);
        add_text_child(ctx, q, "os", os);
        free(os);
    }
    xmpp_stanza_add_child(iq, q);
    strophe_ev_conn_send(c->conn, iq);
    xmpp_stanza_release(q);
    xmpp_stanza_release(iq);
}

static void handle_iq(struct client *c, xmpp_stanza_t *st)
{
    const char *type = xmpp_stanza_get_type(st);
    const char *id = xmpp_stanza_get_id(st);
    xmpp_stanza_t *q;

    if (!type)
        return;
    if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
        size_t idx;
        char tail;
        if (id && sscanf(id, "cfg-%zu%c", &idx, &tail) == 1 &&
            idx < c->n_rooms && c->rooms[idx].state == PR_CONFIGURING) {
            if (strcmp(type, "error") == 0)
                log_info("C-%u: room \"%s\" configuration refused", c->pc->id,
                         c->rooms[idx].room);
            c->rooms[idx].state = PR_JOINED;
            room_ready(c->pop, c->rooms[idx].room);
            check_all_joined(c);
        }
        return;
    }
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return;
    if (strcmp(type, "get") == 0 && (q = xmpp_stanza_get_child_by_name_and_ns(
                                         st, "query", DISCO_NS_INFO))) {
        handle_disco_info(c, st, q);
    } else if (strcmp(type, "get") == 0 &&
               xmpp_stanza_get_child_by_name_and_ns(st, "query", NS_VERSION)) {
        handle_version(c, st);
    } else if (strcmp(type, "get") == 0 &&
               xmpp_stanza_get_child_by_name_and_ns(st, "ping", NS_PING)) {
        xmpp_stanza_t *r =
            xmpp_iq_new(strophe_ev_conn_ctx(c->conn), "result", id);
        if (xmpp_stanza_get_from(st))
            xmpp_stanza_set_to(r, xmpp_stanza_get_from(st));
        strophe_ev_conn_send(c->conn, r);
        xmpp_stanza_release(r);
    } else {
        send_error(c, st, "service-unavailable");
    }
}

static void stanza_cb(struct strophe_ev_conn *conn, xmpp_stanza_t *st, void *ud)
{
    struct client *c = ud;
    const char *name = xmpp_stanza_get_name(st);

    if (!name || c->state == CL_STOPPING)
        return;
    if (strcmp(name, "iq") == 0)
        handle_iq(c, st);
    else if (strcmp(name, "presence") == 0)
        handle_presence(c, st);
}

/* ---- connection life ---- */

static void drop_delayed(struct client *c)
{
    struct delayed *d;
    while ((d = TAILQ_FIRST(&c->delayed)))
        delayed_free(d);
}

static void state_cb(struct strophe_ev_conn *conn, enum strophe_ev_event ev,
                     const char *detail, void *ud)
{
    struct client *c = ud;

    switch (ev) {
    case STROPHE_EV_ONLINE:
        c->backoff = 0;
        c->flapped_off = false;
        cl_set_state(c, CL_JOINING);
        send_presence(c, NULL, true, NULL);
        for (size_t k = 0; k < c->n_rooms; k++) {
            c->rooms[k].state = PR_PENDING;
            c->rooms[k].tries = 0;
        }
        advance_rooms(c);
        return;
    case STROPHE_EV_DOWN:
        strophe_ev_conn_free(conn);
        c->conn = NULL;
        drop_delayed(c);
        event_del(c->flap_ev);
        event_del(c->timer);
        if (c->pop->stopping) {
            cl_set_state(c, CL_DONE);
            return;
        }
        log_info("C-%u: connection lost: %s", c->pc->id, detail);
        cl_set_state(c, CL_WAITING);
        {
            unsigned s = 1u << XC_MIN(c->backoff, 6u);
            c->backoff++;
            arm(c->timer,
                XC_MIN(s, (unsigned)MAX_BACKOFF_S) * 1000 + rnd(c, 1000));
        }
        return;
    case STROPHE_EV__COUNT:
        break;
    }
    DIE_BUG("unrecognized strophe_ev event %d", (int)ev);
}

static void connect_client(struct client *c)
{
    struct strophe_ev_params p = {
        .jid = c->full_jid,
        .password = c->pc->password,
        .host = c->pc->host,
        .port = (unsigned short)c->pc->port,
        .flags = STROPHE_EV_PLAINTEXT,
    };
    char name[32];
    snprintf(name, sizeof name, "C-%u", c->pc->id);
    p.name = name;
    cl_set_state(c, CL_CONNECTING);
    c->conn = strophe_ev_conn_new(c->pop->sev, &p, state_cb, stanza_cb, c);
}

/* Reconnect after backoff, or retry room joins when online. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;

    if (c->pop->stopping)
        return;
    if (c->state == CL_WAITING)
        connect_client(c);
    else if (c->state == CL_JOINING || c->state == CL_PRESENT) {
        if (c->state == CL_PRESENT) {
            bool pending = false;
            for (size_t k = 0; k < c->n_rooms; k++)
                pending = pending || c->rooms[k].state == PR_PENDING;
            if (pending)
                cl_set_state(c, CL_JOINING);
        }
        advance_rooms(c);
    }
}

/* flap: presence off and on every few seconds; leave-on-query: rejoin. */
static void flap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;

    if (c->pop->stopping || !c->conn || !strophe_ev_conn_online(c->conn))
        return;
    if (c->pc->behaviour.kind == POP_B_FLAP && !c->flapped_off) {
        leave_rooms(c);
        send_presence(c, NULL, false, NULL);
        c->flapped_off = true;
        arm(c->flap_ev, 2000 + rnd(c, 3000));
        return;
    }
    c->flapped_off = false;
    send_presence(c, NULL, true, NULL);
    for (size_t k = 0; k < c->n_rooms; k++) {
        struct proom *r = &c->rooms[k];
        if (r->state == PR_LEFT) {
            r->state = PR_JOIN_SENT;
            room_presence(c, r, true);
        }
    }
    if (c->state == CL_PRESENT)
        cl_set_state(c, CL_JOINING);
    if (c->pc->behaviour.kind == POP_B_FLAP)
        arm(c->flap_ev, 3000 + rnd(c, 5000));
    check_all_joined(c); /* no rooms: present again at once */
}

static void start_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pop *pop = arg;

    for (int k = 0; k < STARTS_PER_TICK && pop->next_start < pop->n_clients;
         k++)
        connect_client(&pop->clients[pop->next_start++]);
    if (pop->next_start >= pop->n_clients)
        event_del(pop->start_ev);
}

static void stop_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pop *pop = arg;
    log_warn("shutdown deadline reached with %u clients not closed",
             (unsigned)(pop->n_clients - pop->counts[CL_DONE]));
    event_base_loopexit(pop->base, NULL);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct pop *pop = arg;

    if (pop->stopping)
        return;
    pop->stopping = true;
    log_info("signal %d: leaving (%lu presented, %lu disco#info queries)",
             (int)sig, pop->presented, pop->queries);
    event_del(pop->start_ev);
    arm(pop->stop_ev, 5000);
    for (size_t k = 0; k < pop->n_clients; k++) {
        struct client *c = &pop->clients[k];
        event_del(c->timer);
        event_del(c->flap_ev);
        drop_delayed(c);
        if (c->conn && strophe_ev_conn_online(c->conn)) {
            leave_rooms(c);
            send_presence(c, NULL, false, NULL);
            cl_set_state(c, CL_STOPPING);
            strophe_ev_conn_close(c->conn);
        } else if (c->conn) {
            cl_set_state(c, CL_STOPPING);
            strophe_ev_conn_free(c->conn);
            c->conn = NULL;
            cl_set_state(c, CL_DONE);
        } else {
            cl_set_state(c, CL_DONE);
        }
    }
}

static void client_init(struct pop *pop, struct client *c,
                        const struct pop_client *pc)
{
    struct parse_err err;

    c->pop = pop;
    c->pc = pc;
    c->state = CL_WAITING;
    pop->counts[CL_WAITING]++;
    c->rand_state = (unsigned)pop->plan->seed * 7919u + pc->id;
    TAILQ_INIT(&c->delayed);
    if (!pop_content_build(pc, &c->content, &err)) {
        log_error("%s", err.msg);
        exit(1);
    }
    c->caps_node_ver = xasprintf("%s#%s", pc->profile->node, c->content.ver);
    if (c->content.caps2[0])
        c->caps2_node = caps2_hash_node("sha-256", c->content.caps2);
    c->full_jid = xasprintf("%s/%s", pc->jid, pc->resource);
    c->rooms = xcalloc(pc->n_rooms + 1, sizeof *c->rooms);
    c->n_rooms = pc->n_rooms;
    for (size_t k = 0; k < pc->n_rooms; k++) {
        c->rooms[k].room = pc->rooms[k];
        c->rooms[k].create = pop_client_creates(pc, pc->rooms[k]);
    }
    c->timer = evtimer_new(pop->base, timer_cb, c);
    c->flap_ev = evtimer_new(pop->base, flap_cb, c);
}

/* Rooms created by one of our clients: the others wait for it. */
static void mark_creator_waits(struct pop *pop)
{
    for (size_t k = 0; k < pop->n_clients; k++) {
        struct client *c = &pop->clients[k];
        for (size_t r = 0; r < c->n_rooms; r++) {
            if (c->rooms[r].create)
                continue;
            for (size_t o = 0; o < pop->n_clients; o++)
                if (o != k &&
                    pop_client_creates(pop->clients[o].pc, c->rooms[r].room))
                    c->rooms[r].waits_creator = true;
        }
    }
}

static void client_free(struct client *c)
{
    drop_delayed(c);
    event_free(c->timer);
    event_free(c->flap_ev);
    pop_content_free(&c->content);
    free(c->caps_node_ver);
    free(c->caps2_node);
    free(c->full_jid);
    free(c->rooms);
}

/* libevent's own messages go to our log (its warnings are ours to judge) */
static void libevent_log_cb(int severity, const char *msg)
{
    enum log_level l = severity >= EVENT_LOG_ERR    ? LOG_ERROR
                       : severity >= EVENT_LOG_WARN ? LOG_WARN
                                                    : LOG_DEBUG;
    LOG_AT(l, "libevent", "%s", msg);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: xc-population --plan PLAN.json --part I/N "
               "--out PRESENTED.jsonl [--log-level L]\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"plan", required_argument, NULL, 'p'},
        {"part", required_argument, NULL, 'P'},
        {"out", required_argument, NULL, 'o'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *plan_path = NULL, *out_path = NULL;
    unsigned part = 1, parts = 1;
    struct pop pop = {0};
    struct parse_err err;
    int o;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'p':
            plan_path = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'P':
            if (!pop_part_parse(optarg, &part, &parts)) {
                fprintf(stderr, "invalid part \"%s\" (expected I/N)\n", optarg);
                return 2;
            }
            break;
        case 'L': {
            enum log_level l;
            if (!log_level_parse(optarg, &l)) {
                fprintf(stderr, "unrecognized log level \"%s\"\n", optarg);
                return 2;
            }
            log_max_level = l;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!plan_path || !out_path) {
        usage(stderr);
        return 2;
    }
    if (strophe_ev_cap_nofile() < 0)
        log_warn("could not cap the open file limit");
    pop.plan = pop_plan_load(plan_path, &err);
    if (!pop.plan) {
        log_error("cannot load plan \"%s\": %s", plan_path, err.msg);
        return 1;
    }
    pop.out = fopen(out_path, "a");
    if (!pop.out) {
        log_error("could not open \"%s\": %s", out_path, strerror(errno));
        pop_plan_free(pop.plan);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    event_set_log_callback(libevent_log_cb);
    pop.base = event_base_new();
    pop.sev = strophe_ev_new(pop.base, 100);
    pop.clients = xcalloc(pop.plan->n_clients + 1, sizeof *pop.clients);
    for (size_t k = 0; k < pop.plan->n_clients; k++)
        if (pop_in_part(pop.plan, k, part, parts))
            client_init(&pop, &pop.clients[pop.n_clients++],
                        &pop.plan->clients[k]);
    mark_creator_waits(&pop);
    log_info("part %u/%u: %zu clients of %zu", part, parts, pop.n_clients,
             pop.plan->n_clients);
    if (pop.n_clients > 900)
        log_warn("%zu clients in one process: fds may exceed select()'s "
                 "limit",
                 pop.n_clients);

    pop.start_ev = event_new(pop.base, -1, EV_PERSIST, start_cb, &pop);
    pop.stop_ev = evtimer_new(pop.base, stop_deadline_cb, &pop);
    pop.sig_term = evsignal_new(pop.base, SIGTERM, signal_cb, &pop);
    pop.sig_int = evsignal_new(pop.base, SIGINT, signal_cb, &pop);
    event_add(pop.sig_term, NULL);
    event_add(pop.sig_int, NULL);
    arm(pop.start_ev, 100);
    start_cb(-1, 0, &pop);
    if (pop.n_clients > 0)
        event_base_dispatch(pop.base);

    log_info("stopped: %lu presented, %lu disco#info queries, %lu answers "
             "dropped (send queue full)",
             pop.presented, pop.queries, pop.dropped);
    for (size_t k = 0; k < pop.n_clients; k++)
        pop.clients[k].conn = NULL; /* freed by strophe_ev_free() */
    strophe_ev_free(pop.sev);
    for (size_t k = 0; k < pop.n_clients; k++)
        client_free(&pop.clients[k]);
    free(pop.clients);
    event_free(pop.start_ev);
    event_free(pop.stop_ev);
    event_free(pop.sig_term);
    event_free(pop.sig_int);
    event_base_free(pop.base);
    fclose(pop.out);
    pop_plan_free(pop.plan);
    return 0;
}
