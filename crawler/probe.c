/*
 * Probes of one domain. Each query is a struct query holding the probe
 * back-pointer; the probe counts queries not yet ended and finishes when
 * the count drops to zero after the last follow-up was issued.
 */
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "buf.h"
#include "log.h"
#include "session.h"
#include "xalloc.h"

#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_SERVERINFO_OPTIN "urn:xmpp:serverinfo:0"
#define RSM_PAGE 100

static const char *const outcome_names[] = {
    [OUT_OK] = "ok",
    [OUT_IQ_ERROR] = "iq-error",
    [OUT_TIMEOUT] = "timeout",
    [OUT_SESSION_LOST] = "session-lost",
    [OUT_MALFORMED] = "malformed",
    [OUT_TOO_LARGE] = "too-large",
};
_Static_assert(ARRAY_LEN(outcome_names) == OUT__COUNT, "names table");

static const char *const kind_names[] = {
    [PROBE_DISCO_INFO] = "disco-info",
    [PROBE_DISCO_ITEMS] = "disco-items",
    [PROBE_VERSION] = "version",
};
_Static_assert(ARRAY_LEN(kind_names) == PROBE__COUNT, "names table");

const char *probe_outcome_name(enum probe_outcome o)
{
    return (unsigned)o < OUT__COUNT ? outcome_names[o] : "?";
}

const char *probe_kind_name(enum probe_kind k)
{
    return (unsigned)k < PROBE__COUNT ? kind_names[k] : "?";
}

const char *probe_entity_kind(const struct disco_info *info, bool is_domain)
{
    if (is_domain)
        return "server";
    static const struct {
        const char *category, *type, *kind;
    } map[] = {
        {"conference", NULL, "muc"},
        {"pubsub", NULL, "pubsub"},
        {"store", "file", "upload"},
        {"proxy", NULL, "proxy"},
        {"gateway", NULL, "gateway"},
        {"server", NULL, "server"},
    };
    for (size_t i = 0; i < info->n_identities; i++)
        for (size_t k = 0; k < ARRAY_LEN(map); k++)
            if (strcmp(info->identities[i].category, map[k].category) == 0 &&
                (map[k].type == NULL ||
                 strcmp(info->identities[i].type, map[k].type) == 0))
                return map[k].kind;
    return "other";
}

struct probe_domain {
    struct session *s;
    char *domain;
    const struct probe_limits *lim;
    const struct probe_sink *sink;
    probe_done_cb done;
    void *arg;
    size_t pending;
    size_t pages;
    size_t followed;
    struct probe_domain_result res;
    bool res_set;
};

struct query {
    struct probe_domain *pd;
    enum probe_kind kind;
    char *address;
    int64_t started;
    bool is_domain;
};

static void on_reply(void *arg, enum iqtrack_result r, xmpp_stanza_t *reply);

/* The <query/> of each kind; bench_flood sends the same. */
void probe_query_payload(enum probe_kind kind, const char *after,
                         struct buf *out)
{
    switch (kind) {
    case PROBE_DISCO_INFO:
        buf_puts(out, "<query xmlns='" DISCO_NS_INFO "'/>");
        break;
    case PROBE_VERSION:
        buf_puts(out, "<query xmlns='jabber:iq:version'/>");
        break;
    case PROBE_DISCO_ITEMS:
        buf_printf(out,
                   "<query xmlns='" NS_ITEMS "'><set xmlns='" NS_RSM
                   "'><max>%d</max>",
                   RSM_PAGE);
        if (after) {
            buf_puts(out, "<after>");
            buf_put_xml(out, after);
            buf_puts(out, "</after>");
        }
        buf_puts(out, "</set></query>");
        break;
    default:
        DIE_BUG("probe kind %d", kind);
    }
}

static void send_query(struct probe_domain *pd, enum probe_kind kind,
                       const char *address, const char *after)
{
    struct query *q = xcalloc(1, sizeof *q);
    q->pd = pd;
    q->kind = kind;
    q->address = xstrdup(address);
    q->started = clock_now_ms();
    q->is_domain = strcmp(address, pd->domain) == 0;
    struct buf payload = BUF_INIT;
    probe_query_payload(kind, after, &payload);
    pd->pending++;
    pd->res.queries++;
    session_iq(pd->s, "get", address, payload.data, pd->lim->iq_timeout_ms,
               on_reply, q);
    buf_free(&payload);
}

static void report(struct query *q, enum probe_outcome o, const char *cond,
                   const char *detail)
{
    struct probe_domain *pd = q->pd;
    if (pd->sink->outcome)
        pd->sink->outcome(pd->sink->arg, pd->domain, q->address, q->kind, o,
                          cond, detail, (int)(clock_now_ms() - q->started));
    if (q->is_domain && q->kind == PROBE_DISCO_INFO) {
        pd->res.outcome = o;
        snprintf(pd->res.condition, sizeof pd->res.condition, "%s",
                 cond ? cond : "");
        pd->res_set = true;
    }
}

/* The part of a JID after '@' and before '/'. */
static void jid_domain(const char *jid, char *out, size_t n)
{
    const char *at = strchr(jid, '@');
    const char *d = at ? at + 1 : jid;
    size_t len = strcspn(d, "/");
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), d);
}

/* True if other is domain or a subdomain of it. */
static bool within(const char *other, const char *domain)
{
    size_t lo = strlen(other), ld = strlen(domain);
    if (lo == ld)
        return strcmp(other, domain) == 0;
    return lo > ld && other[lo - ld - 1] == '.' &&
           strcmp(other + lo - ld, domain) == 0;
}

static void handle_items(struct query *q, xmpp_stanza_t *reply)
{
    struct probe_domain *pd = q->pd;
    struct disco_items items = {0};
    items.rsm_count = -1;
    size_t room = pd->lim->items_max > pd->followed
                      ? pd->lim->items_max - pd->followed
                      : 0;
    if (!stanza_disco_items(reply, room, &items)) {
        report(q, OUT_MALFORMED, NULL, "no disco#items query in the result");
        disco_items_free(&items);
        return;
    }
    report(q, OUT_OK, NULL, NULL);
    for (size_t i = 0; i < items.n; i++) {
        const struct disco_item *it = &items.items[i];
        if (pd->sink->item)
            pd->sink->item(pd->sink->arg, pd->domain, q->address, it);
        /* follow component-like items: a bare domain JID, no node */
        if (it->node || strchr(it->jid, '@') || strchr(it->jid, '/') ||
            strcmp(it->jid, pd->domain) == 0)
            continue;
        char dom[1024];
        jid_domain(it->jid, dom, sizeof dom);
        if (!within(dom, pd->domain)) {
            if (pd->sink->discovered)
                pd->sink->discovered(pd->sink->arg, pd->domain, dom);
        }
        pd->followed++;
        send_query(pd, PROBE_DISCO_INFO, it->jid, NULL);
        send_query(pd, PROBE_VERSION, it->jid, NULL);
    }
    if (items.dropped)
        log_debug("P %s: %zu disco#items entries over the limit or unusable",
                  pd->domain, items.dropped);
    /* next page while the server says there is more and we have room */
    if (items.rsm_last && items.n > 0 && ++pd->pages < pd->lim->items_pages &&
        pd->followed < pd->lim->items_max &&
        (items.rsm_count < 0 || (size_t)items.rsm_count > pd->followed))
        send_query(pd, PROBE_DISCO_ITEMS, q->address, items.rsm_last);
    disco_items_free(&items);
}

static void handle_result(struct query *q, xmpp_stanza_t *reply)
{
    struct probe_domain *pd = q->pd;
    struct parse_err err = {0};
    switch (q->kind) {
    case PROBE_DISCO_INFO: {
        char *xml = NULL;
        struct disco_info *info =
            stanza_disco_info(reply, &pd->lim->disco, &xml, &err);
        if (info == NULL) {
            report(q,
                   err.code == DISCO_ERR_TOO_LARGE || err.code == DISCO_ERR_LIMIT
                       ? OUT_TOO_LARGE
                       : OUT_MALFORMED,
                   NULL, err.msg);
            return;
        }
        if (pd->sink->disco)
            pd->sink->disco(pd->sink->arg, pd->domain, q->address,
                            probe_entity_kind(info, q->is_domain), xml, info);
        pd->res.entities++;
        if (q->is_domain && disco_has_feature(info, NS_SERVERINFO_OPTIN))
            pd->res.serverinfo_opt_in = true;
        report(q, OUT_OK, NULL, NULL);
        disco_info_free(info);
        free(xml);
        return;
    }
    case PROBE_VERSION: {
        struct softinfo_version v;
        if (!stanza_version(reply, &pd->lim->disco, &v, &err)) {
            report(q, err.code == DISCO_ERR_TOO_LARGE ? OUT_TOO_LARGE : OUT_MALFORMED,
                   NULL, err.msg);
            return;
        }
        if (pd->sink->version)
            pd->sink->version(pd->sink->arg, pd->domain, q->address, &v);
        report(q, OUT_OK, NULL, NULL);
        softinfo_version_free(&v);
        return;
    }
    case PROBE_DISCO_ITEMS:
        handle_items(q, reply);
        return;
    default:
        DIE_BUG("probe kind %d", q->kind);
    }
}

static void finish(struct probe_domain *pd)
{
    pd->res.domain = pd->domain;
    if (!pd->res_set)
        pd->res.outcome = OUT_SESSION_LOST;
    pd->done(pd->arg, &pd->res);
    free(pd->domain);
    free(pd);
}

static void on_reply(void *arg, enum iqtrack_result r, xmpp_stanza_t *reply)
{
    struct query *q = arg;
    struct probe_domain *pd = q->pd;
    char cond[64];
    switch (r) {
    case IQT_RESULT:
        handle_result(q, reply);
        break;
    case IQT_ERROR:
        stanza_error_condition(reply, cond, sizeof cond);
        report(q, OUT_IQ_ERROR, cond, NULL);
        break;
    case IQT_TIMEOUT:
        report(q, OUT_TIMEOUT, NULL, NULL);
        break;
    default:
        report(q, OUT_SESSION_LOST, NULL, NULL);
        break;
    }
    free(q->address);
    free(q);
    if (--pd->pending == 0)
        finish(pd);
}

struct probe_domain *probe_domain_start(struct session *s, const char *domain,
                                        const struct probe_limits *lim,
                                        const struct probe_sink *sink,
                                        probe_done_cb done, void *arg)
{
    struct probe_domain *pd = xcalloc(1, sizeof *pd);
    pd->s = s;
    pd->domain = xstrdup(domain);
    pd->lim = lim;
    pd->sink = sink;
    pd->done = done;
    pd->arg = arg;
    /* all three are queued before any can complete: session_iq never calls
     * back from inside itself */
    send_query(pd, PROBE_DISCO_INFO, domain, NULL);
    send_query(pd, PROBE_VERSION, domain, NULL);
    send_query(pd, PROBE_DISCO_ITEMS, domain, NULL);
    return pd;
}
