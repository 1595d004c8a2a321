/*
 * The census of MUC services. A census owns the session's stanza callback
 * and a list of services; each service walks LISTING -> READING ->
 * JOINING/STAYING -> DONE, one room at a time, driven by iq replies, room
 * presences and one libevent timer. Queries in flight are listed on the
 * census so that census_free() can orphan them (their callbacks then only
 * free themselves).
 */
#include "census.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <event2/event.h>

#include "clock.h"
#include "buf.h"
#include "hash.h"
#include "log.h"
#include "session.h"
#include "softinfo.h"
#include "stanza.h"
#include "xalloc.h"
#include "xc_config.h"

#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_CAPS2 "urn:xmpp:caps"
#define NS_HASHES2 "urn:xmpp:hashes:2"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define RSM_PAGE 100
#define MAX_CHILDREN 256 /* presence children examined */
#define MAX_NICK 1023    /* bytes of a nick digested */
#define OCC_KEYS (1 + CENSUS_CAPS2_MAX)
#define OBS_BUCKETS 256 /* observation keys per service, hashed */

static const char *const decision_names[] = {
    [CD_JOIN] = "join",
    [CD_HIDDEN] = "hidden",
    [CD_MEMBERS_ONLY] = "members-only",
    [CD_PASSWORD] = "password-protected",
    [CD_TOO_FEW] = "too-few-occupants",
    [CD_OVER_LIMIT] = "over-limit",
    [CD_NO_INFO] = "no-info",
    [CD_NOT_A_ROOM] = "not-a-room",
};
_Static_assert(ARRAY_LEN(decision_names) == CD__COUNT, "names table");

static const char *const join_names[] = {
    [CJ_JOINED] = "joined",   [CJ_ERROR] = "error",
    [CJ_TIMEOUT] = "timeout", [CJ_CREATED] = "created",
    [CJ_REMOVED] = "removed", [CJ_SESSION_LOST] = "session-lost",
};
_Static_assert(ARRAY_LEN(join_names) == CJ__COUNT, "names table");

const char *census_decision_name(enum census_decision d)
{
    return (unsigned)d < CD__COUNT ? decision_names[d] : "?";
}

const char *census_join_name(enum census_join j)
{
    return (unsigned)j < CJ__COUNT ? join_names[j] : "?";
}

/* --- pure parts --------------------------------------------------------- */

enum census_decision census_room_decide(const struct disco_info *info,
                                        unsigned min_occupants,
                                        struct census_room *r)
{
    r->is_public = r->members_only = r->password = false;
    r->occupants = -1;
    if (info == NULL)
        return r->decision = CD_NO_INFO;
    bool conference = false;
    for (size_t i = 0; i < info->n_identities; i++)
        if (strcmp(info->identities[i].category, "conference") == 0)
            conference = true;
    r->is_public = disco_has_feature(info, "muc_public");
    r->members_only = disco_has_feature(info, "muc_membersonly") ||
                      !disco_has_feature(info, "muc_open");
    r->password = disco_has_feature(info, "muc_passwordprotected") ||
                  !disco_has_feature(info, "muc_unsecured");
    struct softinfo_room ri;
    if (softinfo_room_extract(info, &ri))
        r->occupants = ri.occupants;
    softinfo_room_free(&ri);
    if (!conference)
        return r->decision = CD_NOT_A_ROOM;
    if (!r->is_public || disco_has_feature(info, "muc_hidden"))
        return r->decision = CD_HIDDEN;
    if (r->members_only)
        return r->decision = CD_MEMBERS_ONLY;
    if (r->password)
        return r->decision = CD_PASSWORD;
    if (r->occupants < 0 || r->occupants < (long)min_occupants)
        return r->decision = CD_TOO_FEW;
    return r->decision = CD_JOIN;
}

/* Copies s into out[n]; false (nothing copied) if it does not fit. */
static bool copy_bounded(char *out, size_t n, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len >= n)
        return false;
    memcpy(out, s ? s : "", len + 1);
    return true;
}

static void read_caps2(xmpp_stanza_t *c, struct census_caps *out)
{
    int seen = 0;
    for (xmpp_stanza_t *h = xmpp_stanza_get_children(c);
         h && seen < MAX_CHILDREN; h = xmpp_stanza_get_next(h), seen++) {
        const char *name = xmpp_stanza_get_name(h);
        const char *ns = xmpp_stanza_get_ns(h);
        if (!xmpp_stanza_is_tag(h) || !name || strcmp(name, "hash") != 0 ||
            !ns || strcmp(ns, NS_HASHES2) != 0)
            continue;
        if (out->n_caps2 >= CENSUS_CAPS2_MAX) {
            out->dropped++;
            continue;
        }
        char *text = xmpp_stanza_get_text(h);
        const char *algo = xmpp_stanza_get_attribute(h, "algo");
        size_t i = out->n_caps2;
        if (text && algo && *text &&
            copy_bounded(out->caps2[i].algo, sizeof out->caps2[i].algo, algo) &&
            copy_bounded(out->caps2[i].value, sizeof out->caps2[i].value, text))
            out->n_caps2++;
        else
            out->dropped++;
        if (text)
            xmpp_free(xmpp_stanza_get_context(h), text);
    }
}

bool census_presence_caps(xmpp_stanza_t *presence, struct census_caps *out)
{
    memset(out, 0, sizeof *out);
    int seen = 0;
    for (xmpp_stanza_t *ch = xmpp_stanza_get_children(presence);
         ch && seen < MAX_CHILDREN; ch = xmpp_stanza_get_next(ch), seen++) {
        const char *name = xmpp_stanza_get_name(ch);
        const char *ns = xmpp_stanza_get_ns(ch);
        if (!xmpp_stanza_is_tag(ch) || !name || strcmp(name, "c") != 0 || !ns)
            continue;
        if (strcmp(ns, NS_CAPS) == 0) {
            if (out->caps1) {
                out->dropped++;
                continue;
            }
            const char *hash = xmpp_stanza_get_attribute(ch, "hash");
            const char *ver = xmpp_stanza_get_attribute(ch, "ver");
            const char *node = xmpp_stanza_get_attribute(ch, "node");
            if (ver && *ver &&
                copy_bounded(out->algo, sizeof out->algo, hash) &&
                copy_bounded(out->ver, sizeof out->ver, ver) &&
                copy_bounded(out->node, sizeof out->node, node))
                out->caps1 = true;
            else
                out->dropped++;
        } else if (strcmp(ns, NS_CAPS2) == 0) {
            read_caps2(ch, out);
        }
    }
    if (!out->caps1)
        out->algo[0] = out->ver[0] = out->node[0] = '\0';
    return out->caps1 || out->n_caps2 > 0;
}

/* --- the census --------------------------------------------------------- */

enum sv_state { SV_LISTING, SV_READING, SV_JOINING, SV_STAYING, SV_DONE };

struct cs_obs {
    struct cs_obs *next;  /* sv->obs: every key, for the report */
    struct cs_obs *bnext; /* sv->obs_buckets chain */
    enum capscache_kind kind;
    char *algo, *ver, *node;
    unsigned count;
};

/* One occupant of the current visit: a keyed digest, never the nick. */
struct cs_occ {
    unsigned char digest[16];
    const struct cs_obs *keys[OCC_KEYS];
    unsigned n_keys;
    bool caps;
};

struct cs_room {
    char *jid;
    struct census_room info;
};

struct cs_service {
    struct cs_service *prev, *next; /* c->services */
    struct census *c;
    char *service;
    enum sv_state state;
    census_done_cb done;
    void *arg;
    size_t pages, pending;
    struct cs_room *rooms;
    size_t n_rooms, cap_rooms;
    size_t *order; /* indexes of rooms to join, best first */
    size_t n_order, next_join;
    struct census_service_result res;
    struct cs_obs *obs;
    struct cs_obs *obs_buckets[OBS_BUCKETS];
    /* the current visit */
    struct cs_room *cur;
    char *cur_full; /* room/our-nick */
    struct event *timer;
    int64_t visit_started;
    unsigned char key[32];
    struct cs_occ *occ;
    size_t n_occ, cap_occ;
    unsigned with_caps;
    unsigned nick_changes; /* records that are the same occupant again */
};

struct cs_query {
    struct cs_query *prev, *next; /* c->queries */
    struct cs_service *sv;        /* NULL: orphaned */
    enum probe_kind kind;
    size_t room; /* index for room disco#info */
    int64_t started;
};

struct census {
    struct event_base *base;
    struct session *s;
    struct capscache *cache;
    struct census_params p;
    char *nick, *status;
    const struct census_sink *sink;
    struct cs_service *services;
    struct cs_query *queries;
    size_t running;
};

static void on_reply(void *arg, enum iqtrack_result r, xmpp_stanza_t *reply);
static void join_next(struct cs_service *sv);

static void send_query(struct cs_service *sv, enum probe_kind kind,
                       const char *to, size_t room, const char *after)
{
    struct census *c = sv->c;
    struct cs_query *q = xcalloc(1, sizeof *q);
    q->sv = sv;
    q->kind = kind;
    q->room = room;
    q->started = clock_now_ms();
    q->next = c->queries;
    if (c->queries)
        c->queries->prev = q;
    c->queries = q;
    struct buf payload = BUF_INIT;
    if (kind == PROBE_DISCO_ITEMS) {
        buf_printf(&payload,
                   "<query xmlns='" NS_ITEMS "'><set xmlns='" NS_RSM
                   "'><max>%d</max>",
                   RSM_PAGE);
        if (after) {
            buf_puts(&payload, "<after>");
            buf_put_xml(&payload, after);
            buf_puts(&payload, "</after>");
        }
        buf_puts(&payload, "</set></query>");
    } else {
        buf_puts(&payload, "<query xmlns='" DISCO_NS_INFO "'/>");
    }
    sv->pending++;
    session_iq(c->s, "get", to, payload.data, c->p.iq_timeout_ms, on_reply, q);
    buf_free(&payload);
}

static void report_outcome(struct cs_service *sv, struct cs_query *q,
                           const char *address, enum probe_outcome o,
                           const char *cond)
{
    const struct census_sink *k = sv->c->sink;
    if (k->outcome)
        k->outcome(k->arg, sv->service, address, q->kind, o, cond,
                   (int)(clock_now_ms() - q->started));
}

/* The domain part of a JID (after '@', before '/') as a pointer/length. */
static const char *jid_domain(const char *jid, size_t *len)
{
    const char *at = strchr(jid, '@');
    const char *d = at ? at + 1 : jid;
    *len = strcspn(d, "/");
    return d;
}

static void add_room(struct cs_service *sv, const char *jid)
{
    size_t dl;
    const char *d = jid_domain(jid, &dl);
    if (!strchr(jid, '@') || strchr(jid, '/') || dl != strlen(sv->service) ||
        strncasecmp(d, sv->service, dl) != 0 || strlen(jid) > 3071)
        return;
    for (size_t i = 0; i < sv->n_rooms; i++)
        if (strcasecmp(sv->rooms[i].jid, jid) == 0)
            return;
    if (sv->n_rooms == sv->cap_rooms) {
        sv->cap_rooms = sv->cap_rooms ? sv->cap_rooms * 2 : 16;
        sv->rooms = xreallocarray(sv->rooms, sv->cap_rooms, sizeof *sv->rooms);
    }
    struct cs_room *r = &sv->rooms[sv->n_rooms++];
    memset(r, 0, sizeof *r);
    r->jid = xstrdup(jid);
    r->info.decision = CD_NO_INFO;
    r->info.occupants = -1;
}

static void handle_items(struct cs_service *sv, struct cs_query *q,
                         xmpp_stanza_t *reply)
{
    struct census *c = sv->c;
    struct disco_items items = {0};
    items.rsm_count = -1;
    size_t left =
        c->p.items_max > sv->n_rooms ? c->p.items_max - sv->n_rooms : 0;
    if (!stanza_disco_items(reply, left, &items)) {
        report_outcome(sv, q, sv->service, OUT_MALFORMED, NULL);
        if (sv->pages == 1)
            sv->res.outcome = OUT_MALFORMED;
        disco_items_free(&items);
        return;
    }
    report_outcome(sv, q, sv->service, OUT_OK, NULL);
    size_t before = sv->n_rooms;
    for (size_t i = 0; i < items.n; i++)
        if (items.items[i].node == NULL)
            add_room(sv, items.items[i].jid);
    if (items.rsm_last && sv->n_rooms > before &&
        sv->pages < c->p.items_pages && sv->n_rooms < c->p.items_max) {
        sv->pages++;
        send_query(sv, PROBE_DISCO_ITEMS, sv->service, 0, items.rsm_last);
    }
    disco_items_free(&items);
}

static void handle_info(struct cs_service *sv, struct cs_query *q,
                        xmpp_stanza_t *reply)
{
    struct cs_room *r = &sv->rooms[q->room];
    struct parse_err err = {0};
    struct disco_info *info =
        stanza_disco_info(reply, &sv->c->p.disco, NULL, &err);
    if (info == NULL) {
        report_outcome(sv, q, r->jid,
                       err.code == DISCO_ERR_TOO_LARGE ||
                               err.code == DISCO_ERR_LIMIT
                           ? OUT_TOO_LARGE
                           : OUT_MALFORMED,
                       NULL);
        return;
    }
    report_outcome(sv, q, r->jid, OUT_OK, NULL);
    census_room_decide(info, sv->c->p.min_occupants, &r->info);
    disco_info_free(info);
}

static int by_occupants(const void *a, const void *b, void *rooms)
{
    const struct cs_room *r = rooms;
    long oa = r[*(const size_t *)a].info.occupants;
    long ob = r[*(const size_t *)b].info.occupants;
    return oa < ob ? 1 : oa > ob ? -1 : 0;
}

/* Every room's info is in: decide, report, start joining. */
static void plan_joins(struct cs_service *sv)
{
    struct census *c = sv->c;
    sv->order = xcalloc(sv->n_rooms ? sv->n_rooms : 1, sizeof *sv->order);
    for (size_t i = 0; i < sv->n_rooms; i++)
        if (sv->rooms[i].info.decision == CD_JOIN)
            sv->order[sv->n_order++] = i;
    sv->res.rooms_eligible = sv->n_order;
    qsort_r(sv->order, sv->n_order, sizeof *sv->order, by_occupants, sv->rooms);
    if (sv->n_order > c->p.rooms_per_service) {
        for (size_t i = c->p.rooms_per_service; i < sv->n_order; i++)
            sv->rooms[sv->order[i]].info.decision = CD_OVER_LIMIT;
        sv->n_order = c->p.rooms_per_service;
    }
    for (size_t i = 0; i < sv->n_rooms; i++) {
        struct cs_room *r = &sv->rooms[i];
        r->info.service = sv->service;
        r->info.room = r->jid;
        if (c->sink->room)
            c->sink->room(c->sink->arg, &r->info);
    }
    sv->state = SV_JOINING;
    join_next(sv);
}

static void after_query(struct cs_service *sv)
{
    if (--sv->pending > 0)
        return;
    if (sv->state == SV_LISTING) {
        sv->res.rooms_listed = sv->n_rooms;
        sv->state = SV_READING;
        for (size_t i = 0; i < sv->n_rooms; i++)
            send_query(sv, PROBE_DISCO_INFO, sv->rooms[i].jid, i, NULL);
        if (sv->pending == 0)
            plan_joins(sv);
    } else if (sv->state == SV_READING) {
        plan_joins(sv);
    }
}

static void on_reply(void *arg, enum iqtrack_result r, xmpp_stanza_t *reply)
{
    struct cs_query *q = arg;
    struct cs_service *sv = q->sv;
    if (sv == NULL) {
        free(q);
        return;
    }
    struct census *c = sv->c;
    if (q->prev)
        q->prev->next = q->next;
    else
        c->queries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    const char *address =
        q->kind == PROBE_DISCO_ITEMS ? sv->service : sv->rooms[q->room].jid;
    char cond[64];
    enum probe_outcome o = OUT_OK;
    switch (r) {
    case IQT_RESULT:
        if (q->kind == PROBE_DISCO_ITEMS)
            handle_items(sv, q, reply);
        else
            handle_info(sv, q, reply);
        break;
    case IQT_ERROR:
        stanza_error_condition(reply, cond, sizeof cond);
        o = OUT_IQ_ERROR;
        report_outcome(sv, q, address, o, cond);
        break;
    case IQT_TIMEOUT:
        o = OUT_TIMEOUT;
        report_outcome(sv, q, address, o, NULL);
        break;
    default:
        o = OUT_SESSION_LOST;
        report_outcome(sv, q, address, o, NULL);
        break;
    }
    if (q->kind == PROBE_DISCO_ITEMS && sv->pages == 1 && o != OUT_OK)
        sv->res.outcome = o;
    free(q);
    after_query(sv);
}

/* --- room visits -------------------------------------------------------- */

static void forget_occupants(struct cs_service *sv)
{
    if (sv->occ)
        explicit_bzero(sv->occ, sv->cap_occ * sizeof *sv->occ);
    free(sv->occ);
    sv->occ = NULL;
    sv->n_occ = sv->cap_occ = 0;
    explicit_bzero(sv->key, sizeof sv->key);
    sv->with_caps = 0;
    sv->nick_changes = 0;
}

static void send_leave(struct cs_service *sv)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "<presence type='unavailable' to='");
    buf_put_xml(&b, sv->cur_full);
    buf_puts(&b, "'/>");
    if (!session_send_raw(sv->c->s, b.data))
        log_debug("U %s: could not send the leaving presence", sv->cur->jid);
    buf_free(&b);
}

/* Ends the current visit: reports, forgets everything about occupants,
 * withdraws the room's offers; then joins the next room (unless
 * `then_next` is false). */
static void end_visit(struct cs_service *sv, enum census_join outcome,
                      const char *cond, bool leave, bool then_next)
{
    struct census *c = sv->c;
    if (leave)
        send_leave(sv);
    evtimer_del(sv->timer);
    capscache_withdraw(c->cache, sv);
    if (outcome == CJ_JOINED || outcome == CJ_REMOVED) {
        struct census_visit v = {
            .service = sv->service,
            .room = sv->cur->jid,
            .outcome = outcome,
            .condition = cond,
            .occupants = (unsigned)(sv->n_occ - sv->nick_changes),
            .with_caps = sv->with_caps,
            .duration_ms = (int)(clock_now_ms() - sv->visit_started),
        };
        log_info("U %s: left after %d ms, %u occupants (%u with caps)",
                 sv->cur->jid, v.duration_ms, v.occupants, v.with_caps);
        if (c->sink->visit)
            c->sink->visit(c->sink->arg, &v);
    } else if (c->sink->joined) {
        c->sink->joined(c->sink->arg, sv->service, sv->cur->jid, outcome, cond);
    }
    forget_occupants(sv);
    free(sv->cur_full);
    sv->cur_full = NULL;
    sv->cur = NULL;
    sv->state = SV_JOINING;
    if (then_next)
        join_next(sv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct cs_service *sv = arg;
    (void)fd;
    (void)what;
    if (sv->cur == NULL)
        return;
    if (sv->state == SV_STAYING)
        end_visit(sv, CJ_JOINED, NULL, true, true);
    else /* polite: leave in case the join is answered late */
        end_visit(sv, CJ_TIMEOUT, NULL, true, true);
}

static void finish(struct cs_service *sv);

static void join_next(struct cs_service *sv)
{
    struct census *c = sv->c;
    while (sv->next_join < sv->n_order) {
        sv->cur = &sv->rooms[sv->order[sv->next_join++]];
        sv->cur_full = xasprintf("%s/%s", sv->cur->jid, c->nick);
        struct buf b = BUF_INIT;
        buf_puts(&b, "<presence to='");
        buf_put_xml(&b, sv->cur_full);
        buf_puts(&b, "'><x xmlns='" NS_MUC "'><history maxstanzas='0'/></x>");
        if (c->status && *c->status) {
            buf_puts(&b, "<status>");
            buf_put_xml(&b, c->status);
            buf_puts(&b, "</status>");
        }
        buf_puts(&b, "</presence>");
        bool sent = session_send_raw(c->s, b.data);
        buf_free(&b);
        if (!sent) {
            end_visit(sv, CJ_SESSION_LOST, NULL, false, false);
            continue;
        }
        if (getrandom(sv->key, sizeof sv->key, 0) != (ssize_t)sizeof sv->key)
            DIE_BUG("getrandom failed");
        sv->visit_started = clock_now_ms();
        sv->state = SV_JOINING;
        log_info("U %s: joining", sv->cur->jid);
        struct timeval tv = {c->p.join_timeout_ms / 1000,
                             (c->p.join_timeout_ms % 1000) * 1000};
        evtimer_add(sv->timer, &tv);
        return;
    }
    finish(sv);
}

static struct cs_obs *obs_get(struct cs_service *sv, enum capscache_kind kind,
                              const char *algo, const char *ver,
                              const char *node)
{
    uint32_t h = 2166136261u ^ (uint32_t)kind;
    for (const char *p = ver; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    struct cs_obs **bucket = &sv->obs_buckets[h % OBS_BUCKETS];
    for (struct cs_obs *o = *bucket; o; o = o->bnext)
        if (o->kind == kind && strcmp(o->algo, algo) == 0 &&
            strcmp(o->ver, ver) == 0 &&
            ((o->node == NULL && node == NULL) ||
             (o->node && node && strcmp(o->node, node) == 0)))
            return o;
    struct cs_obs *o = xcalloc(1, sizeof *o);
    o->bnext = *bucket;
    *bucket = o;
    o->kind = kind;
    o->algo = xstrdup(algo);
    o->ver = xstrdup(ver);
    o->node = node ? xstrdup(node) : NULL;
    o->next = sv->obs;
    sv->obs = o;
    return o;
}

/* Counts key for occupant occ unless already counted in this visit; true
 * if it is new for this occupant (then it may be offered to the cache).
 * An occupant contributes at most OCC_KEYS keys per visit, so that one
 * changing its caps in every presence cannot make us send queries without
 * end. */
static bool observe(struct cs_service *sv, struct cs_occ *occ,
                    enum capscache_kind kind, const char *algo, const char *ver,
                    const char *node)
{
    for (unsigned i = 0; i < occ->n_keys; i++) {
        const struct cs_obs *o = occ->keys[i];
        if (o->kind == kind && strcmp(o->algo, algo) == 0 &&
            strcmp(o->ver, ver) == 0 &&
            ((o->node == NULL && node == NULL) ||
             (o->node && node && strcmp(o->node, node) == 0)))
            return false;
    }
    if (occ->n_keys >= OCC_KEYS) {
        sv->res.dropped++;
        return false;
    }
    struct cs_obs *o = obs_get(sv, kind, algo, ver, node);
    occ->keys[occ->n_keys++] = o;
    o->count++;
    sv->res.observations++;
    return true;
}

static struct cs_occ *occupant(struct cs_service *sv, const char *nick)
{
    unsigned char in[32 + MAX_NICK], d[HASH_MAX_LEN];
    size_t n = strlen(nick);
    if (n > MAX_NICK)
        n = MAX_NICK;
    memcpy(in, sv->key, sizeof sv->key);
    memcpy(in + sizeof sv->key, nick, n);
    bool ok = hash_digest(HASH_SHA256, in, sizeof sv->key + n, d);
    explicit_bzero(in, sizeof in);
    if (!ok)
        return NULL;
    struct cs_occ *occ = NULL;
    for (size_t i = 0; i < sv->n_occ; i++)
        if (memcmp(sv->occ[i].digest, d, sizeof occ->digest) == 0) {
            occ = &sv->occ[i];
            break;
        }
    if (occ == NULL && sv->n_occ < sv->c->p.occupants_max) {
        if (sv->n_occ == sv->cap_occ) {
            size_t cap = sv->cap_occ ? sv->cap_occ * 2 : 32;
            struct cs_occ *o = xcalloc(cap, sizeof *o);
            if (sv->occ) {
                memcpy(o, sv->occ, sv->n_occ * sizeof *o);
                explicit_bzero(sv->occ, sv->cap_occ * sizeof *sv->occ);
                free(sv->occ);
            }
            sv->occ = o;
            sv->cap_occ = cap;
        }
        occ = &sv->occ[sv->n_occ++];
        memset(occ, 0, sizeof *occ);
        memcpy(occ->digest, d, sizeof occ->digest);
    }
    explicit_bzero(d, sizeof d);
    return occ;
}

static bool has_status(xmpp_stanza_t *st, const char *code);

/* XEP-0045 s7.6: an occupant changing its nick leaves with status 303 and
 * the new nick; its record moves to the new nick's digest so that it is
 * not counted twice. */
static void nick_change(struct cs_service *sv, xmpp_stanza_t *st,
                        const char *nick)
{
    xmpp_stanza_t *x = xmpp_stanza_get_child_by_ns(st, NS_MUC_USER);
    xmpp_stanza_t *item = x ? xmpp_stanza_get_child_by_name(x, "item") : NULL;
    const char *newnick = item ? xmpp_stanza_get_attribute(item, "nick") : NULL;
    if (newnick == NULL || *newnick == '\0' || strcmp(newnick, nick) == 0)
        return;
    struct cs_occ *old = occupant(sv, nick);
    if (old == NULL)
        return;
    struct cs_occ moved = *old;
    size_t before = sv->n_occ;
    struct cs_occ *nw = occupant(sv, newnick); /* may move sv->occ */
    if (nw == NULL || memcmp(nw->digest, moved.digest, sizeof nw->digest) == 0)
        return;
    if (sv->n_occ > before) /* a new record of the same occupant */
        sv->nick_changes++;
    for (unsigned i = 0; i < moved.n_keys; i++) {
        bool have = false;
        for (unsigned k = 0; k < nw->n_keys; k++)
            have |= nw->keys[k] == moved.keys[i];
        if (!have && nw->n_keys < OCC_KEYS)
            nw->keys[nw->n_keys++] = moved.keys[i];
    }
    if (moved.caps)
        nw->caps = true; /* counted in with_caps already */
    /* the old record stays (the nick may come back); occupants seen is
     * n_occ minus the nick changes */
    explicit_bzero(&moved, sizeof moved);
}

static void occupant_presence(struct cs_service *sv, xmpp_stanza_t *st,
                              const char *from, const char *nick,
                              const char *type)
{
    struct census *c = sv->c;
    if (type && strcmp(type, "unavailable") == 0) {
        capscache_forget(c->cache, sv, from);
        if (has_status(st, "303"))
            nick_change(sv, st, nick);
        return;
    }
    if (type) /* error, probe, subscribe...: not an occupant's presence */
        return;
    sv->res.presences++;
    struct cs_occ *occ = occupant(sv, nick);
    if (occ == NULL)
        return; /* over occupants_max */
    struct census_caps caps;
    if (!census_presence_caps(st, &caps))
        return;
    if (!occ->caps) {
        occ->caps = true;
        sv->with_caps++;
    }
    if (caps.caps1 &&
        observe(sv, occ, CAPSCACHE_CAPS1, caps.algo, caps.ver, caps.node)) {
        if (caps.algo[0]) {
            struct capscache_offer o = {
                .kind = CAPSCACHE_CAPS1,
                .algo = caps.algo,
                .ver = caps.ver,
                .node = caps.node,
                .via = c->s,
                .owner = sv,
                .to = from,
            };
            (void)capscache_offer(c->cache, &o);
        }
    }
    for (size_t i = 0; i < caps.n_caps2; i++) {
        if (!observe(sv, occ, CAPSCACHE_CAPS2, caps.caps2[i].algo,
                     caps.caps2[i].value, NULL))
            continue;
        struct capscache_offer o = {
            .kind = CAPSCACHE_CAPS2,
            .algo = caps.caps2[i].algo,
            .ver = caps.caps2[i].value,
            .via = c->s,
            .owner = sv,
            .to = from,
        };
        (void)capscache_offer(c->cache, &o);
    }
}

/* True if the presence carries muc#user status code `code`. */
static bool has_status(xmpp_stanza_t *st, const char *code)
{
    xmpp_stanza_t *x = xmpp_stanza_get_child_by_ns(st, NS_MUC_USER);
    int seen = 0;
    for (xmpp_stanza_t *ch = x ? xmpp_stanza_get_children(x) : NULL;
         ch && seen < MAX_CHILDREN; ch = xmpp_stanza_get_next(ch), seen++) {
        const char *name = xmpp_stanza_get_name(ch);
        const char *v = xmpp_stanza_get_attribute(ch, "code");
        if (xmpp_stanza_is_tag(ch) && name && strcmp(name, "status") == 0 &&
            v && strcmp(v, code) == 0)
            return true;
    }
    return false;
}

static void presence_error(xmpp_stanza_t *st, char *out, size_t n)
{
    snprintf(out, n, "undefined-condition");
    xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "error");
    int seen = 0;
    for (xmpp_stanza_t *ch = e ? xmpp_stanza_get_children(e) : NULL;
         ch && seen < MAX_CHILDREN; ch = xmpp_stanza_get_next(ch), seen++) {
        const char *name = xmpp_stanza_get_name(ch);
        const char *ns = xmpp_stanza_get_ns(ch);
        if (xmpp_stanza_is_tag(ch) && name && ns &&
            strcmp(ns, NS_STANZAS) == 0 && strcmp(name, "text") != 0 &&
            strlen(name) < n) {
            snprintf(out, n, "%s", name);
            return;
        }
    }
}

static void room_presence(struct cs_service *sv, xmpp_stanza_t *st,
                          const char *from, const char *nick)
{
    struct census *c = sv->c;
    const char *type = xmpp_stanza_get_type(st);
    bool self = has_status(st, "110") || (nick && strcmp(nick, c->nick) == 0);
    if (type && strcmp(type, "error") == 0) {
        if (sv->state == SV_JOINING && (self || nick == NULL)) {
            char cond[64];
            presence_error(st, cond, sizeof cond);
            log_info("U %s: join refused: %s", sv->cur->jid, cond);
            end_visit(sv, CJ_ERROR, cond, false, true);
        }
        return;
    }
    if (self) {
        if (type && strcmp(type, "unavailable") == 0) {
            if (sv->state == SV_STAYING)
                end_visit(sv, CJ_REMOVED, NULL, false, true);
            return;
        }
        if (sv->state != SV_JOINING)
            return;
        if (has_status(st, "201")) {
            /* we created it: it did not exist any more; leave at once */
            end_visit(sv, CJ_CREATED, NULL, true, true);
            return;
        }
        sv->state = SV_STAYING;
        sv->res.rooms_joined++;
        log_info("U %s: joined", sv->cur->jid);
        if (c->sink->joined)
            c->sink->joined(c->sink->arg, sv->service, sv->cur->jid, CJ_JOINED,
                            NULL);
        evtimer_del(sv->timer);
        struct timeval tv = {c->p.join_duration_ms / 1000,
                             (c->p.join_duration_ms % 1000) * 1000};
        evtimer_add(sv->timer, &tv);
        return;
    }
    if (nick && *nick)
        occupant_presence(sv, st, from, nick, type);
}

static void on_stanza(void *arg, struct session *s, xmpp_stanza_t *st)
{
    struct census *c = arg;
    (void)s;
    const char *name = xmpp_stanza_get_name(st);
    const char *from = xmpp_stanza_get_from(st);
    if (!name || strcmp(name, "presence") != 0 || !from)
        return; /* messages (subject, history, chat) are never read */
    const char *slash = strchr(from, '/');
    size_t bare = slash ? (size_t)(slash - from) : strlen(from);
    for (struct cs_service *sv = c->services; sv; sv = sv->next) {
        if (sv->cur == NULL ||
            (sv->state != SV_JOINING && sv->state != SV_STAYING))
            continue;
        if (strlen(sv->cur->jid) == bare &&
            strncasecmp(sv->cur->jid, from, bare) == 0) {
            room_presence(sv, st, from, slash ? slash + 1 : NULL);
            return;
        }
    }
}

/* --- lifecycle ---------------------------------------------------------- */

static void service_free(struct cs_service *sv)
{
    struct cs_obs *o = sv->obs, *on;
    for (; o; o = on) {
        on = o->next;
        free(o->algo);
        free(o->ver);
        free(o->node);
        free(o);
    }
    for (size_t i = 0; i < sv->n_rooms; i++)
        free(sv->rooms[i].jid);
    free(sv->rooms);
    free(sv->order);
    forget_occupants(sv);
    free(sv->cur_full);
    event_free(sv->timer);
    free(sv->service);
    free(sv);
}

static void unlink_service(struct census *c, struct cs_service *sv)
{
    if (sv->prev)
        sv->prev->next = sv->next;
    else
        c->services = sv->next;
    if (sv->next)
        sv->next->prev = sv->prev;
    c->running--;
}

static void finish(struct cs_service *sv)
{
    struct census *c = sv->c;
    sv->state = SV_DONE;
    for (struct cs_obs *o = sv->obs; o; o = o->next) {
        struct census_obs ob = {
            .service = sv->service,
            .kind = o->kind,
            .algo = o->algo,
            .ver = o->ver,
            .node = o->node,
            .count = o->count,
        };
        if (c->sink->observed)
            c->sink->observed(c->sink->arg, &ob);
    }
    sv->res.service = sv->service;
    log_info("U %s: census done: %zu rooms, %zu joined, %zu observations",
             sv->service, sv->res.rooms_listed, sv->res.rooms_joined,
             sv->res.observations);
    unlink_service(c, sv);
    census_done_cb done = sv->done;
    void *arg = sv->arg;
    struct census_service_result res = sv->res;
    /* free first: done may free the census */
    char *service = sv->service;
    sv->service = NULL;
    res.service = service;
    service_free(sv);
    done(arg, &res);
    free(service);
}

struct census *census_new(struct event_base *base, struct session *s,
                          struct capscache *cache,
                          const struct census_params *p,
                          const struct census_sink *sink)
{
    struct census *c = xcalloc(1, sizeof *c);
    c->base = base;
    c->s = s;
    c->cache = cache;
    c->p = *p;
    c->nick = xstrdup(p->nick && *p->nick ? p->nick : "xcensus");
    c->status = p->status ? xstrdup(p->status) : NULL;
    c->p.nick = c->nick;
    c->p.status = c->status;
    if (c->p.disco.max_input == 0)
        c->p.disco = disco_limits_default;
    if (c->p.occupants_max == 0)
        c->p.occupants_max = 5000;
    if (c->p.items_pages == 0)
        c->p.items_pages = 1;
    if (c->p.join_timeout_ms <= 0)
        c->p.join_timeout_ms = 30000;
    c->sink = sink;
    session_set_stanza_cb(s, on_stanza, c);
    return c;
}

void census_free(struct census *c)
{
    if (c == NULL)
        return;
    session_set_stanza_cb(c->s, NULL, NULL);
    for (struct cs_query *q = c->queries; q; q = q->next)
        q->sv = NULL;
    struct cs_service *sv = c->services, *next;
    for (; sv; sv = next) {
        next = sv->next;
        if (sv->cur) {
            send_leave(sv);
            capscache_withdraw(c->cache, sv);
        }
        service_free(sv);
    }
    free(c->nick);
    free(c->status);
    free(c);
}

void census_service(struct census *c, const char *service, census_done_cb done,
                    void *arg)
{
    struct cs_service *sv = xcalloc(1, sizeof *sv);
    sv->c = c;
    sv->service = xstrdup(service);
    sv->done = done;
    sv->arg = arg;
    sv->timer = evtimer_new(c->base, on_timer, sv);
    sv->state = SV_LISTING;
    sv->res.outcome = OUT_OK;
    sv->next = c->services;
    if (c->services)
        c->services->prev = sv;
    c->services = sv;
    c->running++;
    sv->pages = 1;
    send_query(sv, PROBE_DISCO_ITEMS, service, 0, NULL);
}

size_t census_running(const struct census *c)
{
    return c->running;
}

void census_params_from_config(const struct xc_config *cfg,
                               struct census_params *p)
{
    memset(p, 0, sizeof *p);
    p->nick = cfg->census.nick;
    p->status = cfg->census.status;
    p->rooms_per_service = (unsigned)cfg->census.rooms_per_service;
    p->min_occupants = (unsigned)cfg->census.min_occupants;
    p->join_duration_ms = (int)cfg->census.join_duration;
    p->join_timeout_ms = (int)cfg->limits.iq_timeout;
    p->iq_timeout_ms = (int)cfg->limits.iq_timeout;
    p->items_max = (size_t)cfg->limits.items_max;
    p->items_pages = (size_t)cfg->limits.items_pages;
    p->disco = disco_limits_default;
    if (cfg->limits.stanza_max_bytes > 0)
        p->disco.max_input = (size_t)cfg->limits.stanza_max_bytes;
}

void census_cache_params_from_config(const struct xc_config *cfg,
                                     struct capscache_params *p)
{
    memset(p, 0, sizeof *p);
    p->timeout_ms = (int)cfg->census.resolve_timeout;
    p->max_attempts = 1 + (unsigned)cfg->census.fallback_occupants;
    p->disco = disco_limits_default;
    if (cfg->limits.stanza_max_bytes > 0)
        p->disco.max_input = (size_t)cfg->limits.stanza_max_bytes;
}
