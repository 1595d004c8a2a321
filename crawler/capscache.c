/*
 * The caps resolution cache: a chained hash table of entries keyed by
 * "KIND ALGO VER", each with a FIFO of fallback candidates, and a list of
 * the queries in flight (so that freeing the cache can orphan them). A
 * query's callback verifies the answer, reports it, and either finishes
 * the entry or moves on to the next candidate.
 */
#include "capscache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "buf.h"
#include "caps.h"
#include "caps2.h"
#include "hash.h"
#include "log.h"
#include "stanza.h"
#include "xalloc.h"

#define MAX_ALGO 32   /* bytes of a hash algorithm name */
#define MAX_VER 128   /* bytes of an advertised ver / base64 hash */
#define MAX_NODE 1024 /* bytes of a XEP-0115 node */

static const char *const kind_names[] = {
    [CAPSCACHE_CAPS1] = "caps",
    [CAPSCACHE_CAPS2] = "caps2",
};
_Static_assert(ARRAY_LEN(kind_names) == CAPSCACHE_KIND__COUNT, "names table");

static const char *const state_names[] = {
    [CCS_UNKNOWN] = "unknown",   [CCS_PENDING] = "pending",
    [CCS_RESOLVED] = "resolved", [CCS_KNOWN] = "known",
    [CCS_FAILED] = "failed",
};
_Static_assert(ARRAY_LEN(state_names) == CCS__COUNT, "names table");

static const char *const attempt_names[] = {
    [CCA_OK] = "ok",
    [CCA_MISMATCH] = "mismatch",
    [CCA_IQ_ERROR] = "iq-error",
    [CCA_TIMEOUT] = "timeout",
    [CCA_SESSION_LOST] = "session-lost",
    [CCA_MALFORMED] = "malformed",
    [CCA_TOO_LARGE] = "too-large",
};
_Static_assert(ARRAY_LEN(attempt_names) == CCA__COUNT, "names table");

const char *capscache_kind_name(enum capscache_kind k)
{
    return (unsigned)k < CAPSCACHE_KIND__COUNT ? kind_names[k] : "?";
}

const char *capscache_state_name(enum capscache_state s)
{
    return (unsigned)s < CCS__COUNT ? state_names[s] : "?";
}

const char *capscache_attempt_name(enum capscache_attempt a)
{
    return (unsigned)a < CCA__COUNT ? attempt_names[a] : "?";
}

struct cc_cand {
    struct cc_cand *next;
    void *via;
    const void *owner;
    char *to;   /* the occupant's room JID: freed as soon as it is used */
    char *node; /* XEP-0115 node of this offer */
};

/* A mismatch (no generator) kept while another occupant is asked. */
struct cc_kept {
    char *xml;
    struct disco_info *info;
    char *node;
};

struct cc_entry {
    struct cc_entry *next; /* hash chain */
    enum capscache_kind kind;
    char *algo, *ver;
    enum capscache_state state;
    unsigned attempts;
    bool inflight;
    struct cc_cand *cands, **cands_tail;
    size_t n_cands;
    struct cc_entry *wprev, *wnext; /* c->with_cands while n_cands > 0 */
    bool listed;
    uint64_t *asked; /* keyed digests of the occupants asked, while
                        pending (max_attempts slots) */
    struct cc_kept kept;
};

struct cc_query {
    struct cc_query *prev, *next; /* c->queries */
    struct capscache *c;          /* NULL: orphaned by capscache_free() */
    struct cc_entry *e;
    void *via;
    char *node;
    int64_t started;
};

struct cc_node_count {
    struct cc_node_count *next;
    char *node;
    unsigned poison, variant;
};

struct capscache {
    struct capscache_params p;
    struct capscache_sink sink;
    struct cc_entry **table;
    size_t n_buckets, n_entries;
    struct cc_query *queries;
    size_t n_inflight;
    struct cc_entry *with_cands; /* entries holding candidates */
    unsigned char salt[32];      /* key of the asked digests */
    struct cc_node_count *nodes;
    struct capscache_stats st;
};

static uint64_t key_hash(enum capscache_kind kind, const char *algo,
                         const char *ver)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;
    for (const char *s = algo; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h = (h ^ 0x1f) * 1099511628211ULL;
    for (const char *s = ver; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct cc_entry *find(const struct capscache *c,
                             enum capscache_kind kind, const char *algo,
                             const char *ver)
{
    size_t b = key_hash(kind, algo, ver) % c->n_buckets;
    for (struct cc_entry *e = c->table[b]; e; e = e->next)
        if (e->kind == kind && strcmp(e->algo, algo) == 0 &&
            strcmp(e->ver, ver) == 0)
            return e;
    return NULL;
}

static void grow(struct capscache *c)
{
    size_t nb = c->n_buckets * 2;
    struct cc_entry **t = xcalloc(nb, sizeof *t);
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct cc_entry *e = c->table[i], *next;
        for (; e; e = next) {
            next = e->next;
            size_t b = key_hash(e->kind, e->algo, e->ver) % nb;
            e->next = t[b];
            t[b] = e;
        }
    }
    free(c->table);
    c->table = t;
    c->n_buckets = nb;
}

static struct cc_entry *insert(struct capscache *c, enum capscache_kind kind,
                               const char *algo, const char *ver)
{
    if (c->n_entries + 1 > c->n_buckets)
        grow(c);
    struct cc_entry *e = xcalloc(1, sizeof *e);
    e->kind = kind;
    e->algo = xstrdup(algo);
    e->ver = xstrdup(ver);
    e->cands_tail = &e->cands;
    size_t b = key_hash(kind, algo, ver) % c->n_buckets;
    e->next = c->table[b];
    c->table[b] = e;
    c->n_entries++;
    return e;
}

static void cand_free(struct cc_cand *k)
{
    free(k->to);
    free(k->node);
    free(k);
}

static void kept_clear(struct cc_kept *k)
{
    free(k->xml);
    disco_info_free(k->info);
    free(k->node);
    memset(k, 0, sizeof *k);
}

/* Removes the candidates for which drop() is true. */
static void cands_filter(struct cc_entry *e,
                         bool (*drop)(const struct cc_cand *, const void *,
                                      const char *),
                         const void *a, const char *b)
{
    struct cc_cand **pp = &e->cands;
    e->cands_tail = &e->cands;
    while (*pp) {
        struct cc_cand *k = *pp;
        if (drop(k, a, b)) {
            *pp = k->next;
            e->n_cands--;
            cand_free(k);
        } else {
            e->cands_tail = &k->next;
            pp = &k->next;
        }
    }
}

static struct cc_cand *cands_pop(struct cc_entry *e)
{
    struct cc_cand *k = e->cands;
    if (k) {
        e->cands = k->next;
        if (e->cands == NULL)
            e->cands_tail = &e->cands;
        e->n_cands--;
    }
    return k;
}

/* Keeps e on c->with_cands exactly while it holds candidates, so that
 * forgetting an occupant only walks those entries. */
static void track(struct capscache *c, struct cc_entry *e)
{
    if (e->n_cands > 0 && !e->listed) {
        e->wprev = NULL;
        e->wnext = c->with_cands;
        if (c->with_cands)
            c->with_cands->wprev = e;
        c->with_cands = e;
        e->listed = true;
    } else if (e->n_cands == 0 && e->listed) {
        if (e->wprev)
            e->wprev->wnext = e->wnext;
        else
            c->with_cands = e->wnext;
        if (e->wnext)
            e->wnext->wprev = e->wprev;
        e->wprev = e->wnext = NULL;
        e->listed = false;
    }
}

/* Drops every candidate of e (their addresses are freed at once). */
static void cands_clear(struct capscache *c, struct cc_entry *e)
{
    struct cc_cand *k;
    while ((k = cands_pop(e)) != NULL)
        cand_free(k);
    track(c, e);
}

/* A keyed 64-bit digest of an occupant address: lets an entry remember
 * whom it asked without keeping the address. */
static uint64_t addr_digest(const struct capscache *c, const char *to)
{
    unsigned char in[32 + 3072], d[HASH_MAX_LEN];
    size_t n = strlen(to);
    if (n > 3072)
        n = 3072;
    memcpy(in, c->salt, sizeof c->salt);
    memcpy(in + sizeof c->salt, to, n);
    uint64_t r = 0;
    if (hash_digest(HASH_SHA256, in, sizeof c->salt + n, d))
        memcpy(&r, d, sizeof r);
    explicit_bzero(in, sizeof c->salt + n);
    explicit_bzero(d, sizeof d);
    return r;
}

static bool was_asked(const struct cc_entry *e, uint64_t d)
{
    for (unsigned i = 0; e->asked && i < e->attempts; i++)
        if (e->asked[i] == d)
            return true;
    return false;
}

static void asked_clear(struct cc_entry *e, unsigned slots)
{
    if (e->asked)
        explicit_bzero(e->asked, slots * sizeof *e->asked);
    free(e->asked);
    e->asked = NULL;
}

static void entry_free(struct cc_entry *e, unsigned slots)
{
    asked_clear(e, slots);
    struct cc_cand *k;
    while ((k = cands_pop(e)) != NULL)
        cand_free(k);
    kept_clear(&e->kept);
    free(e->algo);
    free(e->ver);
    free(e);
}

static void default_query(void *via, const char *to, const char *node,
                          int timeout_ms, session_iq_cb cb, void *cbarg)
{
    struct buf payload = BUF_INIT;
    buf_puts(&payload, "<query xmlns='" DISCO_NS_INFO "' node='");
    buf_put_xml(&payload, node);
    buf_puts(&payload, "'/>");
    session_iq(via, "get", to, payload.data, timeout_ms, cb, cbarg);
    buf_free(&payload);
}

struct capscache *capscache_new(const struct capscache_params *p,
                                const struct capscache_sink *sink)
{
    struct capscache *c = xcalloc(1, sizeof *c);
    c->p = *p;
    if (c->p.max_attempts == 0)
        c->p.max_attempts = 1;
    if (c->p.query == NULL)
        c->p.query = default_query;
    if (c->p.disco.max_input == 0)
        c->p.disco = disco_limits_default;
    if (c->p.max_entries == 0)
        c->p.max_entries = 1000000;
    if (sink)
        c->sink = *sink;
    c->n_buckets = 64;
    c->table = xcalloc(c->n_buckets, sizeof *c->table);
    if (getrandom(c->salt, sizeof c->salt, 0) != (ssize_t)sizeof c->salt)
        DIE_BUG("getrandom failed");
    return c;
}

void capscache_free(struct capscache *c)
{
    if (c == NULL)
        return;
    for (struct cc_query *q = c->queries; q; q = q->next)
        q->c = NULL; /* the callback frees it */
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct cc_entry *e = c->table[i], *next;
        for (; e; e = next) {
            next = e->next;
            entry_free(e, c->p.max_attempts);
        }
    }
    free(c->table);
    struct cc_node_count *n = c->nodes, *nn;
    for (; n; n = nn) {
        nn = n->next;
        free(n->node);
        free(n);
    }
    free(c);
}

static bool key_ok(enum capscache_kind kind, const char *algo, const char *ver)
{
    enum hash_algo a;
    return (unsigned)kind < CAPSCACHE_KIND__COUNT && algo && ver &&
           *ver != '\0' && strlen(algo) < MAX_ALGO && strlen(ver) < MAX_VER &&
           hash_algo_parse(algo, &a) && hash_algo_available(a);
}

bool capscache_preload(struct capscache *c, enum capscache_kind kind,
                       const char *algo, const char *ver)
{
    if (!algo || !ver || strlen(algo) >= MAX_ALGO || strlen(ver) >= MAX_VER)
        return false;
    struct cc_entry *e = find(c, kind, algo, ver);
    if (e)
        return false;
    e = insert(c, kind, algo, ver);
    e->state = CCS_KNOWN;
    c->st.preloaded++;
    return true;
}

enum capscache_state capscache_state(const struct capscache *c,
                                     enum capscache_kind kind, const char *algo,
                                     const char *ver)
{
    if (!algo || !ver)
        return CCS_UNKNOWN;
    struct cc_entry *e = find(c, kind, algo, ver);
    return e ? e->state : CCS_UNKNOWN;
}

static void on_reply(void *arg, enum iqtrack_result r, xmpp_stanza_t *reply);

/* Sends the next query of e if it has a candidate; the candidate's address
 * is freed here, once handed to the transport. */
static void send_next(struct capscache *c, struct cc_entry *e)
{
    struct cc_cand *k = cands_pop(e);
    track(c, e);
    if (k == NULL)
        return;
    struct cc_query *q = xcalloc(1, sizeof *q);
    q->c = c;
    q->e = e;
    q->via = k->via;
    q->started = clock_now_ms();
    /* the query keeps the XEP-0115 node of the offer, not the occupant */
    q->node = k->node;
    k->node = NULL;
    char *qnode = e->kind == CAPSCACHE_CAPS1
                      ? xasprintf("%s#%s", q->node ? q->node : "", e->ver)
                      : caps2_hash_node(e->algo, e->ver);
    q->next = c->queries;
    if (c->queries)
        c->queries->prev = q;
    c->queries = q;
    c->n_inflight++;
    e->inflight = true;
    if (e->asked == NULL)
        e->asked = xcalloc(c->p.max_attempts, sizeof *e->asked);
    e->asked[e->attempts] = addr_digest(c, k->to);
    e->attempts++;
    c->st.queries++;
    log_debug("C %s %s %s: query %u", kind_names[e->kind], e->algo, e->ver,
              e->attempts);
    c->p.query(k->via, k->to, qnode, c->p.timeout_ms, on_reply, q);
    free(qnode);
    cand_free(k);
}

static bool same_to(const struct cc_cand *k, const void *owner, const char *to)
{
    return k->owner == owner && strcmp(k->to, to) == 0;
}

static bool same_owner(const struct cc_cand *k, const void *owner,
                       const char *unused)
{
    (void)unused;
    return k->owner == owner;
}

static bool same_via(const struct cc_cand *k, const void *via,
                     const char *unused)
{
    (void)unused;
    return k->via == via;
}

enum capscache_state capscache_offer(struct capscache *c,
                                     const struct capscache_offer *o)
{
    c->st.offers++;
    if (!key_ok(o->kind, o->algo, o->ver) || o->to == NULL || o->via == NULL)
        return capscache_state(c, o->kind, o->algo, o->ver);
    if (o->kind == CAPSCACHE_CAPS1 && o->node && strlen(o->node) >= MAX_NODE)
        return capscache_state(c, o->kind, o->algo, o->ver);
    struct cc_entry *e = find(c, o->kind, o->algo, o->ver);
    if (e == NULL) {
        if (c->n_entries >= c->p.max_entries) {
            c->st.refused++;
            return CCS_UNKNOWN;
        }
        e = insert(c, o->kind, o->algo, o->ver);
        e->state = CCS_PENDING;
        c->st.distinct++;
    } else if (e->state != CCS_PENDING) {
        return e->state;
    } else {
        c->st.waiting++;
    }
    /* room for this candidate within the attempts left */
    unsigned left = c->p.max_attempts - e->attempts;
    if (e->n_cands >= left)
        return e->state;
    for (struct cc_cand *k = e->cands; k; k = k->next)
        if (same_to(k, o->owner, o->to))
            return e->state;
    if (e->attempts > 0 && was_asked(e, addr_digest(c, o->to)))
        return e->state; /* asked already: only others are fallbacks */
    struct cc_cand *k = xcalloc(1, sizeof *k);
    k->via = o->via;
    k->owner = o->owner;
    k->to = xstrdup(o->to);
    k->node = o->kind == CAPSCACHE_CAPS1 && o->node ? xstrdup(o->node) : NULL;
    *e->cands_tail = k;
    e->cands_tail = &k->next;
    e->n_cands++;
    track(c, e);
    if (!e->inflight)
        send_next(c, e);
    return e->state;
}

static void forget_all(struct capscache *c,
                       bool (*drop)(const struct cc_cand *, const void *,
                                    const char *),
                       const void *a, const char *b)
{
    struct cc_entry *e = c->with_cands, *next;
    for (; e; e = next) {
        next = e->wnext;
        cands_filter(e, drop, a, b);
        track(c, e);
    }
}

void capscache_forget(struct capscache *c, const void *owner, const char *to)
{
    if (to)
        forget_all(c, same_to, owner, to);
}

void capscache_withdraw(struct capscache *c, const void *owner)
{
    forget_all(c, same_owner, owner, NULL);
}

void capscache_drop_via(struct capscache *c, const void *via)
{
    forget_all(c, same_via, via, NULL);
}

size_t capscache_candidates(const struct capscache *c)
{
    size_t n = 0;
    for (const struct cc_entry *e = c->with_cands; e; e = e->wnext)
        n += e->n_cands;
    return n;
}

size_t capscache_inflight(const struct capscache *c)
{
    return c->n_inflight;
}

const struct capscache_stats *capscache_stats(const struct capscache *c)
{
    return &c->st;
}

void capscache_node_mismatches(const struct capscache *c, const char *node,
                               unsigned *poison, unsigned *variant)
{
    *poison = *variant = 0;
    for (const struct cc_node_count *n = c->nodes; n; n = n->next)
        if (strcmp(n->node, node ? node : "") == 0) {
            *poison = n->poison;
            *variant = n->variant;
            return;
        }
}

static void count_node_mismatch(struct capscache *c, const char *node,
                                bool poison)
{
    const char *key = node ? node : "";
    struct cc_node_count *n = c->nodes;
    while (n && strcmp(n->node, key) != 0)
        n = n->next;
    if (n == NULL) {
        n = xcalloc(1, sizeof *n);
        n->node = xstrdup(key);
        n->next = c->nodes;
        c->nodes = n;
    }
    if (poison) {
        n->poison++;
        c->st.mismatch_poison++;
    } else {
        n->variant++;
        c->st.mismatch_variant++;
    }
}

static void report_attempt(struct capscache *c, struct cc_entry *e,
                           enum capscache_attempt o, const char *cond,
                           int64_t started)
{
    if (c->sink.attempt)
        c->sink.attempt(c->sink.arg, e->kind, e->algo, e->ver, e->attempts, o,
                        cond, (int)(clock_now_ms() - started));
}

/* Verifies and reports a final answer. */
static void resolve(struct capscache *c, struct cc_entry *e, const char *node,
                    const char *xml, const struct disco_info *info,
                    const struct caps_result *cr, enum caps2_outcome o2,
                    enum caps2_error err2)
{
    struct capscache_resolved r = {
        .kind = e->kind,
        .algo = e->algo,
        .ver = e->ver,
        .xml = xml,
        .info = info,
        .attempts = e->attempts,
    };
    if (e->kind == CAPSCACHE_CAPS1) {
        r.node = node;
        r.outcome = caps_outcome_name(cr->outcome);
        r.error = caps_error_name(cr->error);
        r.matched_by = caps_result_matched_by(cr);
        r.computed = cr->hash_strict[0] ? cr->hash_strict : NULL;
        if (cr->outcome == CAPS_MISMATCH)
            count_node_mismatch(c, node, cr->matched_by < 0);
    } else {
        r.outcome = caps2_outcome_name(o2);
        r.error = caps2_error_name(err2);
    }
    /* the waiting occupants are not needed any more: forget them now */
    cands_clear(c, e);
    asked_clear(e, c->p.max_attempts);
    e->state = CCS_RESOLVED;
    c->st.resolved++;
    log_debug("C %s %s %s: %s after %u queries", kind_names[e->kind], e->algo,
              e->ver, r.outcome, e->attempts);
    if (c->sink.resolved)
        c->sink.resolved(c->sink.arg, &r);
}

/* The query of e ended without a final answer: next candidate, or wait
 * for one, or give up (reporting a kept mismatch if there is one). */
static void next_or_finish(struct capscache *c, struct cc_entry *e)
{
    if (e->attempts < c->p.max_attempts && e->cands) {
        send_next(c, e);
        return;
    }
    if (e->kept.info) {
        struct caps_result cr;
        caps_result_init(&cr);
        enum caps2_error err2 = CAPS2_ERR_NONE;
        enum caps2_outcome o2 = CAPS2_MISMATCH;
        if (e->kind == CAPSCACHE_CAPS1)
            (void)caps_verify(e->kept.info, e->algo, e->ver, 0, &cr);
        else
            o2 = caps2_verify(e->kept.info, e->algo, e->ver, &err2);
        resolve(c, e, e->kept.node, e->kept.xml, e->kept.info, &cr, o2, err2);
        caps_result_free(&cr);
        kept_clear(&e->kept);
        return;
    }
    if (e->attempts >= c->p.max_attempts) {
        cands_clear(c, e);
        asked_clear(e, c->p.max_attempts);
        e->state = CCS_FAILED;
        c->st.failed++;
        if (c->sink.failed)
            c->sink.failed(c->sink.arg, e->kind, e->algo, e->ver, e->attempts);
    }
    /* else: pending, waiting for another occupant to offer the hash */
}

static void handle_answer(struct capscache *c, struct cc_query *q,
                          xmpp_stanza_t *reply)
{
    struct cc_entry *e = q->e;
    struct parse_err err = {0};
    char *xml = NULL;
    struct disco_info *info = stanza_disco_info(reply, &c->p.disco, &xml, &err);
    if (info == NULL) {
        report_attempt(c, e,
                       err.code == DISCO_ERR_TOO_LARGE ||
                               err.code == DISCO_ERR_LIMIT
                           ? CCA_TOO_LARGE
                           : CCA_MALFORMED,
                       NULL, q->started);
        free(xml);
        next_or_finish(c, e);
        return;
    }
    struct caps_result cr;
    caps_result_init(&cr);
    enum caps2_error err2 = CAPS2_ERR_NONE;
    enum caps2_outcome o2 = CAPS2_VALID;
    bool poison;
    if (e->kind == CAPSCACHE_CAPS1) {
        (void)caps_verify(info, e->algo, e->ver, 0, &cr);
        poison = cr.outcome == CAPS_MISMATCH && cr.matched_by < 0;
    } else {
        o2 = caps2_verify(info, e->algo, e->ver, &err2);
        poison = o2 == CAPS2_MISMATCH;
    }
    if (poison && e->attempts < c->p.max_attempts && e->cands) {
        /* another occupant may serve what the hash says */
        report_attempt(c, e, CCA_MISMATCH, NULL, q->started);
        if (e->kept.info == NULL) {
            e->kept.xml = xml;
            e->kept.info = info;
            e->kept.node = q->node ? xstrdup(q->node) : NULL;
            xml = NULL;
            info = NULL;
        }
        caps_result_free(&cr);
        free(xml);
        disco_info_free(info);
        send_next(c, e);
        return;
    }
    report_attempt(c, e, poison ? CCA_MISMATCH : CCA_OK, NULL, q->started);
    kept_clear(&e->kept);
    resolve(c, e, q->node, xml, info, &cr, o2, err2);
    caps_result_free(&cr);
    free(xml);
    disco_info_free(info);
}

static void on_reply(void *arg, enum iqtrack_result r, xmpp_stanza_t *reply)
{
    struct cc_query *q = arg;
    struct capscache *c = q->c;
    if (c == NULL) { /* the cache was freed */
        free(q->node);
        free(q);
        return;
    }
    if (q->prev)
        q->prev->next = q->next;
    else
        c->queries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    c->n_inflight--;
    struct cc_entry *e = q->e;
    e->inflight = false;
    char cond[64];
    switch (r) {
    case IQT_RESULT:
        handle_answer(c, q, reply);
        break;
    case IQT_ERROR:
        stanza_error_condition(reply, cond, sizeof cond);
        report_attempt(c, e, CCA_IQ_ERROR, cond, q->started);
        next_or_finish(c, e);
        break;
    case IQT_TIMEOUT:
        report_attempt(c, e, CCA_TIMEOUT, NULL, q->started);
        next_or_finish(c, e);
        break;
    default:
        /* the session is going away: never use it again */
        report_attempt(c, e, CCA_SESSION_LOST, NULL, q->started);
        capscache_drop_via(c, q->via);
        next_or_finish(c, e);
        break;
    }
    free(q->node);
    free(q);
}
