/*
 * The process-wide caps resolution cache (issue 5 item 3). Every distinct
 * advertised hash, XEP-0115 (algo, ver) or XEP-0390 (algo, base64 value),
 * is resolved at most once per crawl process, as careful clients do: the
 * first occupant seen with an unknown hash is asked disco#info for
 * node#ver (XEP-0390: urn:xmpp:caps#ALGO.B64) and later occupants with the
 * same hash only wait, kept as fallback candidates (bounded). An iq error,
 * a timeout, an answer that does not parse, or a mismatch that no known
 * generator explains (possible poisoning) moves on to the next candidate,
 * up to max_attempts queries per hash. The answer is verified with the
 * protocol core (caps_verify / caps2_verify) and reported once through the
 * sink with its outcome, error and matched_by; every attempt is reported
 * too. Hashes already verified in the database are preloaded and never
 * asked again.
 *
 * Privacy: a candidate's address (the occupant's room JID, which holds the
 * nick) is kept only until the disco#info to it is handed to the session,
 * or until the occupant leaves (capscache_forget) or the room is left
 * (capscache_withdraw); it is never logged and never passed to the sink.
 *
 * Entry states:
 *   UNKNOWN --offer--> PENDING --answer--> RESOLVED
 *                         |  \--every attempt failed--> FAILED
 *   KNOWN (preloaded): offers do nothing
 */
#ifndef XC_CAPSCACHE_H
#define XC_CAPSCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disco.h"
#include "session.h"

struct capscache;

enum capscache_kind {
    CAPSCACHE_CAPS1, /* "caps": XEP-0115 (hash attribute, ver) */
    CAPSCACHE_CAPS2, /* "caps2": XEP-0390 (algo, base64 hash) */
    CAPSCACHE_KIND__COUNT
};

enum capscache_state {
    CCS_UNKNOWN,  /* never offered (or an unsupported algorithm) */
    CCS_PENDING,  /* a query in flight, or waiting for a candidate */
    CCS_RESOLVED, /* answered and verified in this process */
    CCS_KNOWN,    /* preloaded: verified earlier (database) */
    CCS_FAILED,   /* every allowed attempt failed */
    CCS__COUNT
};

/* Outcome of one query to one occupant; names are stable. */
enum capscache_attempt {
    CCA_OK,           /* "ok": answered, verified (final) */
    CCA_MISMATCH,     /* "mismatch": answered, no generator reproduces the
                         hash (possible poisoning): another occupant is
                         asked if there is one */
    CCA_IQ_ERROR,     /* "iq-error" */
    CCA_TIMEOUT,      /* "timeout" */
    CCA_SESSION_LOST, /* "session-lost" */
    CCA_MALFORMED,    /* "malformed": the answer did not parse */
    CCA_TOO_LARGE,    /* "too-large": over the disco limits */
    CCA__COUNT
};

const char *capscache_kind_name(enum capscache_kind k);
const char *capscache_state_name(enum capscache_state s);
const char *capscache_attempt_name(enum capscache_attempt a);

/* Sends one disco#info get for node to `to` through via (a session) with
 * a deadline; cb runs exactly once, never from inside the call. The
 * default (NULL in the params) is session_iq(). Tests replace it. */
typedef void (*capscache_query_fn)(void *via, const char *to, const char *node,
                                   int timeout_ms, session_iq_cb cb,
                                   void *cbarg);

struct capscache_params {
    int timeout_ms;        /* per query (census.resolve_timeout) */
    unsigned max_attempts; /* queries per hash: 1 + census.fallback_occupants */
    struct disco_limits disco;
    capscache_query_fn query; /* NULL: session_iq() on the offer's via */
    size_t max_entries;       /* distinct hashes remembered; beyond it new
                                 hashes are refused (0: 1,000,000) */
};

/* A resolved entry; every pointer is borrowed for the call. */
struct capscache_resolved {
    enum capscache_kind kind;
    const char *algo;       /* "sha-1", "sha-256", ... */
    const char *ver;        /* the advertised ver / XEP-0390 base64 */
    const char *node;       /* XEP-0115 node of the answering occupant's
                               offer (the query node is node#ver); NULL for
                               XEP-0390 */
    const char *outcome;    /* caps_outcome_name() / caps2_outcome_name() */
    const char *error;      /* caps_error_name() / caps2_error_name(), NULL */
    const char *matched_by; /* XEP-0115: caps_method_name(), NULL when none
                               matched; NULL for XEP-0390 */
    const char *computed;   /* XEP-0115: the strict hash of the answer
                               (base64), NULL if not computed; NULL for
                               XEP-0390 */
    const char *xml;        /* the <query/> as received */
    const struct disco_info *info;
    unsigned attempts; /* queries made for this hash */
};

/* Where results go; every pointer is borrowed for the call. Any callback
 * may be NULL. */
struct capscache_sink {
    void *arg;
    void (*resolved)(void *arg, const struct capscache_resolved *r);
    /* one query's outcome; n is 1 for the first query of the hash */
    void (*attempt)(void *arg, enum capscache_kind kind, const char *algo,
                    const char *ver, unsigned n, enum capscache_attempt o,
                    const char *condition, int duration_ms);
    /* every allowed attempt failed without a verifiable answer */
    void (*failed)(void *arg, enum capscache_kind kind, const char *algo,
                   const char *ver, unsigned attempts);
};

/* One occupant advertising a hash (strings borrowed for the call). */
struct capscache_offer {
    enum capscache_kind kind;
    const char *algo;
    const char *ver;
    const char *node;  /* XEP-0115 node; ignored for XEP-0390 */
    void *via;         /* the session that is in the occupant's room */
    const void *owner; /* a token of the room (compared, never used) */
    const char *to;    /* the occupant's room JID */
};

struct capscache_stats {
    uint64_t distinct; /* entries ever offered (preloaded excluded) */
    uint64_t preloaded;
    uint64_t offers;
    uint64_t queries; /* disco#info sent */
    uint64_t resolved, failed;
    uint64_t waiting;          /* offers that waited for an earlier query */
    uint64_t refused;          /* new hashes over max_entries */
    uint64_t mismatch_poison;  /* XEP-0115 resolved mismatch, none matched */
    uint64_t mismatch_variant; /* XEP-0115 resolved mismatch, named variant */
};

/* Returns a new empty cache. p and sink are copied. */
struct capscache *capscache_new(const struct capscache_params *p,
                                const struct capscache_sink *sink);
/* Frees the cache; queries still in flight end silently later (their
 * callbacks only free themselves). Accepts NULL. */
void capscache_free(struct capscache *c);

/* Marks (kind, algo, ver) as verified earlier (e.g. in the database): it
 * is never asked. Returns false if it was already present. */
bool capscache_preload(struct capscache *c, enum capscache_kind kind,
                       const char *algo, const char *ver);
/* Current state of a hash. */
enum capscache_state capscache_state(const struct capscache *c,
                                     enum capscache_kind kind, const char *algo,
                                     const char *ver);
/* An occupant advertises a hash: a first offer of an unknown, supported
 * hash sends a query; offers of a pending hash become fallback candidates
 * (at most as many as attempts are left); others are ignored. Returns the
 * state after the offer. */
enum capscache_state capscache_offer(struct capscache *c,
                                     const struct capscache_offer *o);
/* The occupant `to` of room owner left: drops its candidacies. */
void capscache_forget(struct capscache *c, const void *owner, const char *to);
/* Room owner was left: drops every candidacy from it. */
void capscache_withdraw(struct capscache *c, const void *owner);
/* Drops every candidacy that would go through via (before freeing it). */
void capscache_drop_via(struct capscache *c, const void *via);

/* Occupant addresses held right now (waiting candidates). */
size_t capscache_candidates(const struct capscache *c);
/* Queries in flight. */
size_t capscache_inflight(const struct capscache *c);
const struct capscache_stats *capscache_stats(const struct capscache *c);
/* XEP-0115 mismatches resolved per advertised node: *poison counts hashes
 * no generator explains, *variant those a named variant explains. */
void capscache_node_mismatches(const struct capscache *c, const char *node,
                               unsigned *poison, unsigned *variant);

#endif
