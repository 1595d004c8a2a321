/*
 * One crawler account session: a logged-in XMPP client connection (through
 * crawler/strophe_ev) that sends iq requests on behalf of the probes and
 * routes their replies. It owns the things libstrophe does not do well at
 * scale (../shared/DESIGN.md §4):
 *   - our own iq id table with libevent deadlines (crawler/iqtrack), one
 *     generic stanza callback instead of thousands of id handlers;
 *   - pacing: a token bucket per account (server shapers cap a c2s account)
 *     and a bound on iqs in flight; requests wait in a FIFO otherwise;
 *   - name resolution by our asynchronous resolver (SRV, then A/AAAA), so
 *     libstrophe only ever gets an IP literal;
 *   - reconnection with doubling backoff; requests in flight when the
 *     connection drops end with IQT_CANCELLED, queued ones wait;
 *   - answering what others ask the crawler: disco#info and XEP-0092
 *     version naming the crawler and its policy URL, XEP-0199 ping, and
 *     service-unavailable for anything else.
 *
 * Session states:
 *   SESS_IDLE -> SESS_RESOLVING -> SESS_CONNECTING -> SESS_ONLINE
 *        ^             |                 |                |
 *        +--(backoff)--+-----------------+----------------+   SESS_CLOSED (final)
 */
#ifndef XC_SESSION_H
#define XC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <strophe.h>

#include "common.h"
#include "iqtrack.h"

struct event_base;
struct strophe_ev;
struct resolver;
struct session;

enum sess_state {
    SESS_IDLE,       /* waiting to (re)connect: backoff timer armed */
    SESS_RESOLVING,  /* SRV / address lookup in flight */
    SESS_CONNECTING, /* strophe_ev connection opening, not yet bound */
    SESS_ONLINE,     /* bound: requests flow */
    SESS_CLOSED,     /* session_close() called: final */
    SESS__COUNT
};

struct session_params {
    const char *jid;      /* bare JID of the account */
    const char *password;
    const char *host;     /* NULL: SRV of the JID's domain; else a host
                             name or IP literal */
    unsigned short port;  /* 0: from SRV, else 5222 */
    bool plaintext;       /* never TLS (loopback test networks only) */
    bool trust_tls;       /* accept any certificate (test networks) */
    double rate;          /* iq requests per second */
    double burst;
    unsigned max_inflight;
    int reconnect_max_ms;
    /* what the crawler says about itself */
    const char *ident_name;    /* XEP-0092 name, disco#info identity name */
    const char *ident_version;
    const char *policy_url;    /* NULL: none */
};

struct session_stats {
    uint64_t sent;        /* iq requests written */
    uint64_t results, errors, timeouts, cancelled;
    uint64_t answered;    /* requests from others we answered */
    uint64_t connects;    /* times online */
    uint64_t disconnects;
};

/* reply is the <iq/> stanza for IQT_RESULT/IQT_ERROR (borrowed during the
 * call), NULL for IQT_TIMEOUT and IQT_CANCELLED. */
typedef void (*session_iq_cb)(void *arg, enum iqtrack_result r,
                              xmpp_stanza_t *reply);
/* Called on every change between online and not online. */
typedef void (*session_state_cb)(void *arg, struct session *s, bool online,
                                 const char *detail);
/* Called for every stanza that is not an iq reply or an iq we answer
 * (presence and message, for the room census); borrowed during the call. */
typedef void (*session_stanza_cb)(void *arg, struct session *s,
                                  xmpp_stanza_t *stanza);

/* Returns a new session that starts connecting at once. res may be NULL
 * when p->host is an IP literal. Strings are copied. Caller frees with
 * session_free(). */
struct session *session_new(struct event_base *base, struct strophe_ev *sev,
                            struct resolver *res,
                            const struct session_params *p,
                            session_state_cb state_cb, void *arg);
/* Cancels every request (callbacks run with IQT_CANCELLED), closes and
 * frees; accepts NULL. */
void session_free(struct session *s);
void session_set_stanza_cb(struct session *s, session_stanza_cb cb, void *arg);

/* Queues an iq of type "get" or "set" to `to` whose child is payload (XML
 * text, escaped by the caller; copied). The deadline starts when it is
 * sent. cb runs exactly once. */
void session_iq(struct session *s, const char *type, const char *to,
                const char *payload, int timeout_ms, session_iq_cb cb,
                void *arg);
/* Sends raw XML (presence, for rooms) now if online; false otherwise. */
bool session_send_raw(struct session *s, const char *xml) MUST_CHECK;

enum sess_state session_state(const struct session *s);
const char *session_state_name(enum sess_state st);
bool session_online(const struct session *s);
/* Requests waiting to be sent / sent and not yet answered. */
size_t session_queued(const struct session *s);
size_t session_inflight(const struct session *s);
const struct session_stats *session_stats(const struct session *s);
/* The full JID the server bound, or NULL when not online; borrowed. */
const char *session_bound_jid(const struct session *s);
/* The account JID (bare); borrowed. */
const char *session_jid(const struct session *s);

#endif
