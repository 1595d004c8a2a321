/*
 * The client census of MUC services (issue 5 items 1 and 2). For one MUC
 * service: list its rooms (disco#items with XEP-0059 paging, bounded),
 * read each room's disco#info (muc#roominfo form and the muc_* features),
 * then join, one at a time, only the public, open, unprotected rooms with
 * at least min_occupants occupants (at most rooms_per_service, most
 * populated first), under the crawler's nick and status, for join_duration;
 * then leave with unavailable presence. The crawler never speaks: it sends
 * nothing to a room but its joining and leaving presence. A join error is
 * an outcome, never retried.
 *
 * While joined, every occupant presence is read for XEP-0115 <c/> (node,
 * hash, ver) and XEP-0390 <c xmlns='urn:xmpp:caps'/> hashes; observations
 * are counted per (service, kind, algo, ver, node), once per occupant and
 * room visit, and each supported hash is offered to the process-wide caps
 * cache (crawler/capscache), which resolves it once.
 *
 * Privacy: an occupant's nick and JID are never stored, logged or passed to
 * the sink. Its room JID is handed to the cache (kept only until the one
 * disco#info to it is sent, or until it leaves); to count each occupant
 * once per visit the census keeps a 128-bit keyed digest of the nick under
 * a random key drawn for that visit, both forgotten when the room is left.
 * Status texts and message bodies are never read.
 *
 * Service states:
 *   LISTING (disco#items pages) -> READING (disco#info of each room)
 *     -> JOINING <-> STAYING (one room at a time) -> DONE
 */
#ifndef XC_CENSUS_H
#define XC_CENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <strophe.h>

#include "capscache.h"
#include "disco.h"
#include "probe.h"

struct event_base;
struct session;
struct census;

/* Why a room is (not) joined; names are stable. */
enum census_decision {
    CD_JOIN,         /* "join": public, open, unprotected, populated */
    CD_HIDDEN,       /* "hidden": not muc_public */
    CD_MEMBERS_ONLY, /* "members-only": muc_membersonly or no muc_open */
    CD_PASSWORD,     /* "password-protected": muc_passwordprotected or
                        no muc_unsecured */
    CD_TOO_FEW,      /* "too-few-occupants": below min_occupants or
                        unknown */
    CD_OVER_LIMIT,   /* "over-limit": beyond rooms_per_service */
    CD_NO_INFO,      /* "no-info": its disco#info failed */
    CD_NOT_A_ROOM,   /* "not-a-room": no conference identity */
    CD__COUNT
};

/* How a join ended; names are stable. */
enum census_join {
    CJ_JOINED,       /* "joined": stayed join_duration, then left */
    CJ_ERROR,        /* "error": error presence (condition given) */
    CJ_TIMEOUT,      /* "timeout": no self-presence in time */
    CJ_CREATED,      /* "created": the room did not exist (left at once) */
    CJ_REMOVED,      /* "removed": kicked, banned or room destroyed */
    CJ_SESSION_LOST, /* "session-lost": our connection was not online */
    CJ__COUNT
};

const char *census_decision_name(enum census_decision d);
const char *census_join_name(enum census_join j);

struct census_params {
    const char *nick;   /* census.nick */
    const char *status; /* census.status, NULL or "" for none */
    unsigned rooms_per_service;
    unsigned min_occupants;
    int join_duration_ms;
    int join_timeout_ms;  /* wait for the self-presence */
    int iq_timeout_ms;    /* disco#items / disco#info of rooms */
    size_t items_max;     /* rooms listed per service */
    size_t items_pages;   /* RSM pages per service */
    size_t occupants_max; /* occupants handled per room visit */
    struct disco_limits disco;
};

/* What a room's disco#info said (borrowed for the call). */
struct census_room {
    const char *service;
    const char *room; /* bare room JID */
    bool is_public, members_only, password;
    long occupants; /* muc#roominfo_occupants, -1 if unknown */
    enum census_decision decision;
};

/* A room visit (borrowed for the call). */
struct census_visit {
    const char *service;
    const char *room;
    enum census_join outcome;
    const char *condition; /* error presence condition, or NULL */
    unsigned occupants;    /* distinct occupants seen */
    unsigned with_caps;    /* of those, with XEP-0115 or XEP-0390 caps */
    int duration_ms;       /* from the join presence to leaving */
};

/* One observation count (borrowed for the call). */
struct census_obs {
    const char *service;
    enum capscache_kind kind;
    const char *algo; /* XEP-0115 hash attribute ("" for legacy caps) */
    const char *ver;  /* ver, or the XEP-0390 base64 hash */
    const char *node; /* XEP-0115 node; NULL for XEP-0390 */
    unsigned count;   /* occupants seen with it during this run */
};

/* Where results go; every pointer is borrowed for the call; any callback
 * may be NULL. */
struct census_sink {
    void *arg;
    /* each listed room, with the decision */
    void (*room)(void *arg, const struct census_room *r);
    /* a join presence was answered (outcome JOINED, ERROR, TIMEOUT,
     * CREATED or SESSION_LOST) */
    void (*joined)(void *arg, const char *service, const char *room,
                   enum census_join outcome, const char *condition);
    /* a visit ended (the room was left) */
    void (*visit)(void *arg, const struct census_visit *v);
    /* observation counts, once per key when the service is done */
    void (*observed)(void *arg, const struct census_obs *o);
    /* outcome of every disco#items / disco#info sent to the service and
     * its rooms (condition: XMPP error condition or NULL) */
    void (*outcome)(void *arg, const char *service, const char *address,
                    enum probe_kind probe, enum probe_outcome o,
                    const char *condition, int duration_ms);
};

struct census_service_result {
    const char *service;
    enum probe_outcome outcome; /* of the service's disco#items */
    size_t rooms_listed, rooms_eligible, rooms_joined;
    size_t presences;    /* occupant presences read */
    size_t observations; /* occupant observations counted */
    size_t dropped;      /* keys over the per-occupant bound */
};

typedef void (*census_done_cb)(void *arg,
                               const struct census_service_result *r);

/* Creates the census of session s (it takes the session's stanza callback:
 * the census must be the only user of it). Caps offers go to cache. p,
 * sink and cache must stay valid until census_free(); p's strings are
 * copied. */
struct census *census_new(struct event_base *base, struct session *s,
                          struct capscache *cache,
                          const struct census_params *p,
                          const struct census_sink *sink);
/* Leaves every joined room (unavailable presence), withdraws its offers
 * from the cache and frees; services not done never call back. Call it
 * before freeing the session. Accepts NULL. */
void census_free(struct census *c);

/* Starts the census of one MUC service; done runs exactly once from the
 * event loop. Several services may run at once (one room at a time each). */
void census_service(struct census *c, const char *service, census_done_cb done,
                    void *arg);
/* Services started and not yet done. */
size_t census_running(const struct census *c);

struct xc_config;
/* Fills *p from the configuration (census.*, limits.*); strings are
 * borrowed from cfg (census_new() copies them). */
void census_params_from_config(const struct xc_config *cfg,
                               struct census_params *p);
/* Fills the caps cache's parameters (census.resolve_timeout,
 * census.fallback_occupants, limits.stanza_max_bytes); query NULL. */
void census_cache_params_from_config(const struct xc_config *cfg,
                                     struct capscache_params *p);

/* Pure parts, exposed for unit tests. */

/* The decision for a room's disco#info (info NULL: CD_NO_INFO); fills
 * *r's flags and occupants. rooms_per_service is not applied here. */
enum census_decision census_room_decide(const struct disco_info *info,
                                        unsigned min_occupants,
                                        struct census_room *r);

#define CENSUS_CAPS2_MAX 4 /* XEP-0390 hashes kept per presence */

/* Caps found in one presence; strings are bounded copies. */
struct census_caps {
    bool caps1;
    char algo[32]; /* "" when the hash attribute is absent (legacy) */
    char ver[128];
    char node[512];
    size_t n_caps2;
    struct {
        char algo[32];
        char value[128];
    } caps2[CENSUS_CAPS2_MAX];
    size_t dropped; /* elements over the bounds or malformed */
};

/* Reads the XEP-0115 and XEP-0390 elements of a presence stanza into out
 * (zeroed first); returns true if any was found. */
bool census_presence_caps(xmpp_stanza_t *presence, struct census_caps *out);

#endif
