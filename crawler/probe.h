/*
 * Probes of one domain through a crawler session (issue 4 item 3): the
 * domain's disco#info (identities, features, forms: XEP-0128, XEP-0157
 * contacts, XEP-0232 software info), its XEP-0092 version and its
 * disco#items (XEP-0059 paging, bounded), then disco#info and version of
 * every item (MUC, pubsub, upload, proxy and other components, recognised by
 * identity). Every query ends in an outcome that is reported, including iq
 * errors with their condition and timeouts; nothing is stored here: results
 * go to a sink (the storage writer, or a test's recorder).
 *
 * A probe frees itself after calling its done callback.
 */
#ifndef XC_PROBE_H
#define XC_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "disco.h"
#include "softinfo.h"
#include "stanza.h"

struct session;
struct probe_domain;

/* Outcome of one query; names are stored in probe_outcomes.outcome. */
enum probe_outcome {
    OUT_OK,           /* "ok": a result that parsed */
    OUT_IQ_ERROR,     /* "iq-error": an error reply (condition recorded) */
    OUT_TIMEOUT,      /* "timeout": no answer before the deadline */
    OUT_SESSION_LOST, /* "session-lost": our own connection dropped */
    OUT_MALFORMED,    /* "malformed": a result we could not parse */
    OUT_TOO_LARGE,    /* "too-large": a result over our limits */
    OUT__COUNT
};

/* What a probe is; names are stored in probe_outcomes.probe. */
enum probe_kind {
    PROBE_DISCO_INFO,  /* "disco-info" */
    PROBE_DISCO_ITEMS, /* "disco-items" */
    PROBE_VERSION,     /* "version" */
    PROBE__COUNT
};

const char *probe_outcome_name(enum probe_outcome o);
const char *probe_kind_name(enum probe_kind k);

struct buf;
/* Appends the <query/> a probe of this kind sends; after: the RSM <after>
 * of the next disco#items page, or NULL for the first. */
void probe_query_payload(enum probe_kind kind, const char *after,
                         struct buf *out);

/* Kind of an entity from its identities ("server", "muc", "pubsub",
 * "upload", "proxy", "gateway", "other"), as stored in entities.kind. */
const char *probe_entity_kind(const struct disco_info *info, bool is_domain);

struct probe_limits {
    int iq_timeout_ms;
    size_t items_max;    /* items followed per domain */
    size_t items_pages;  /* disco#items pages per domain */
    struct disco_limits disco;
};

/* Where results go. Every pointer is borrowed for the call. */
struct probe_sink {
    void *arg;
    /* an entity answered disco#info; xml is the <query/> as received */
    void (*disco)(void *arg, const char *domain, const char *address,
                  const char *kind, const char *xml,
                  const struct disco_info *info);
    void (*version)(void *arg, const char *domain, const char *address,
                    const struct softinfo_version *v);
    /* one disco#items entry of parent */
    void (*item)(void *arg, const char *domain, const char *parent,
                 const struct disco_item *item);
    /* every query's outcome (condition: XMPP error condition or NULL) */
    void (*outcome)(void *arg, const char *domain, const char *address,
                    enum probe_kind probe, enum probe_outcome o,
                    const char *condition, const char *detail,
                    int duration_ms);
    /* a domain outside this one seen in items (may be NULL) */
    void (*discovered)(void *arg, const char *domain, const char *other);
};

struct probe_domain_result {
    const char *domain;
    enum probe_outcome outcome; /* of the domain's own disco#info */
    char condition[64];         /* its error condition, "" if none */
    size_t queries;             /* iqs sent for this domain */
    size_t entities;            /* entities that answered disco#info */
    bool serverinfo_opt_in;     /* advertises urn:xmpp:serverinfo:0 */
};

typedef void (*probe_done_cb)(void *arg, const struct probe_domain_result *r);

/* Starts probing domain on s; done runs exactly once, from the event loop,
 * when every query has ended. Strings are copied; lim and sink must stay
 * valid until then. */
struct probe_domain *probe_domain_start(struct session *s, const char *domain,
                                        const struct probe_limits *lim,
                                        const struct probe_sink *sink,
                                        probe_done_cb done, void *arg);

#endif
