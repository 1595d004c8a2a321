/*
 * The only bridge between libstrophe and libevent (DESIGN.md section 4).
 * Each XMPP client connection gets its own xmpp_ctx, so one
 * xmpp_run_once() costs O(1); the socket libstrophe creates is learnt
 * through the sockopt callback and watched with libevent read events (and
 * a write event while a TCP connect is pending or the send queue is not
 * empty); a persistent tick drives connect timeouts and libstrophe's own
 * timed handlers. Connections are freed one loop iteration late, never
 * inside xmpp_run_once(). Stream management is always disabled; TLS is
 * mandatory unless the caller asks for plaintext. The connection is made
 * to an IP literal and port given by the caller (no DNS here: libstrophe's
 * resolver blocks).
 *
 * It does not know about disco, caps, rooms or probes: callers build and
 * parse stanzas with the libstrophe API on strophe_ev_conn_ctx(). Callers
 * should use libevent timers instead of xmpp_timed_handler_add(): online
 * connections are only pumped on I/O and every STROPHE_EV_IDLE_TICKS ticks.
 */
#ifndef XC_STROPHE_EV_H
#define XC_STROPHE_EV_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <strophe.h>

#include "common.h"

/* An online connection is pumped once every this many ticks. */
#define STROPHE_EV_IDLE_TICKS 16

struct strophe_ev;      /* the bridge: one per event_base */
struct strophe_ev_conn; /* one client connection */

/* Connection flags. */
enum {
    STROPHE_EV_PLAINTEXT = 1u << 0, /* never use TLS (test networks) */
    STROPHE_EV_TRUST_TLS = 1u << 1, /* accept any server certificate */
};

/* What a state callback reports. */
enum strophe_ev_event {
    STROPHE_EV_ONLINE, /* authenticated and bound: stanzas can be sent */
    STROPHE_EV_DOWN,   /* disconnected (or never connected); final */
    STROPHE_EV__COUNT
};

/* Called on connection state changes. detail is a short text for
 * STROPHE_EV_DOWN ("Connection refused", "stream error: conflict",
 * "xml parse error", "handshake timeout", "closed", "disconnected"), NULL
 * for STROPHE_EV_ONLINE; borrowed for the call. After
 * STROPHE_EV_DOWN the connection is dead: free it (possibly from inside
 * the callback) with strophe_ev_conn_free(). */
typedef void (*strophe_ev_state_cb)(struct strophe_ev_conn *c,
                                    enum strophe_ev_event ev,
                                    const char *detail, void *ud);

/* Called for every stanza received once online. The stanza is borrowed
 * for the call: copy what you need. */
typedef void (*strophe_ev_stanza_cb)(struct strophe_ev_conn *c,
                                     xmpp_stanza_t *stanza, void *ud);

/* What strophe_ev_conn_new() needs; strings are copied. */
struct strophe_ev_params {
    const char *jid; /* bare or full JID (resource requested if full) */
    const char *password;
    const char *host;      /* IP literal to connect to */
    unsigned short port;   /* 0 = 5222 */
    unsigned flags;        /* STROPHE_EV_* */
    const char *capath;    /* CA directory for TLS, NULL = libstrophe's */
    const char *name;      /* log prefix, NULL = the JID */
    unsigned handshake_ms; /* not online within this: closed and reported
                              down with detail "handshake timeout"
                              (libstrophe has no such deadline; a silent
                              peer would hold the connection forever);
                              0 = 30000 */
};

/* Returns a new bridge on base (borrowed, must outlive it) that ticks every
 * tick_ms (clamped to 50..250). Calls xmpp_initialize(). Caller frees with
 * strophe_ev_free(). */
struct strophe_ev *strophe_ev_new(struct event_base *base, unsigned tick_ms);

/* Frees every connection still open (without callbacks), its events, and
 * the bridge; accepts NULL. Must not be called from a callback. */
void strophe_ev_free(struct strophe_ev *sev);

/* Number of connections not yet reaped. */
size_t strophe_ev_count(const struct strophe_ev *sev);

/* Caps the soft RLIMIT_NOFILE at FD_SETSIZE, because libstrophe select()s
 * and an fd >= FD_SETSIZE would abort the process: with the cap, socket()
 * fails with EMFILE instead. Returns the resulting soft limit, or -1 if it
 * could not be read or set. */
long strophe_ev_cap_nofile(void);

/* Starts connecting. Returns a new connection (never NULL); callbacks run
 * from the event loop, never from inside this call (an immediate failure
 * is reported as STROPHE_EV_DOWN on the next loop iteration). Caller frees
 * with strophe_ev_conn_free(). */
struct strophe_ev_conn *strophe_ev_conn_new(struct strophe_ev *sev,
                                            const struct strophe_ev_params *p,
                                            strophe_ev_state_cb state_cb,
                                            strophe_ev_stanza_cb stanza_cb,
                                            void *ud);

/* The connection's libstrophe context, for building stanzas; borrowed,
 * valid until the connection is reaped. */
xmpp_ctx_t *strophe_ev_conn_ctx(struct strophe_ev_conn *c);

/* The full JID bound by the server, or NULL before online; borrowed. */
const char *strophe_ev_conn_bound_jid(const struct strophe_ev_conn *c);

/* The log prefix given at creation (or the JID); borrowed. */
const char *strophe_ev_conn_name(const struct strophe_ev_conn *c);

/* True between STROPHE_EV_ONLINE and close/down. */
bool strophe_ev_conn_online(const struct strophe_ev_conn *c);

/* Queues stanza (not consumed: the caller still releases it) and makes
 * sure it is written soon. Ignored unless online. */
void strophe_ev_conn_send(struct strophe_ev_conn *c, xmpp_stanza_t *stanza);

/* Queues raw bytes (the caller guarantees well-formed XML). */
void strophe_ev_conn_send_raw(struct strophe_ev_conn *c, const char *data,
                              size_t len);

/* Bytes-in-flight check: number of elements queued and not yet written. */
int strophe_ev_conn_queue_len(const struct strophe_ev_conn *c);

/* Starts a graceful close (</stream:stream>, at most 2 s); the state
 * callback later reports STROPHE_EV_DOWN with detail "closed". */
void strophe_ev_conn_close(struct strophe_ev_conn *c);

/* Frees the connection one loop iteration later (safe from inside its own
 * callbacks); no callback fires for it after this call. An open
 * connection is closed without a stream close. Accepts NULL. */
void strophe_ev_conn_free(struct strophe_ev_conn *c);

#endif
