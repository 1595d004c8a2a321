/*
 * Asynchronous DNS on our libevent loop, with c-ares: SRV lookups
 * (RFC 6120 §3.2: _xmpp-client._tcp, _xmpps-client._tcp, _xmpp-server._tcp)
 * and A/AAAA addresses. libstrophe resolves with blocking res_query() and
 * getaddrinfo() with no deadline, and libevent's evdns has no SRV, so the
 * crawler resolves here and hands libstrophe IP literals.
 *
 * Answers are remote input: at most RESOLVE_MAX_TARGETS targets and
 * RESOLVE_MAX_ADDRS addresses are kept, target names are checked to be
 * plausible host names, and every lookup ends (c-ares timeout and tries).
 * Callbacks always run from the event loop, never from inside the call
 * that started the lookup.
 */
#ifndef XC_RESOLVE_H
#define XC_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common.h"

struct event_base;
struct resolver;

#define RESOLVE_MAX_TARGETS 32
#define RESOLVE_MAX_ADDRS 16

enum resolve_status {
    RES_OK,        /* answers present */
    RES_NXDOMAIN,  /* the name does not exist */
    RES_NODATA,    /* the name exists, no record of that type */
    RES_TIMEOUT,   /* no answer in time */
    RES_REFUSED,   /* the DNS server refused or could not be reached */
    RES_ERROR,     /* malformed answer or another failure */
    RES_CANCELLED, /* the resolver was freed first */
    RES__COUNT
};

struct srv_target {
    char host[256];    /* "." means: service decidedly not available */
    uint16_t port;
    uint16_t priority;
    uint16_t weight;
};

struct srv_result {
    enum resolve_status status;
    size_t n;          /* targets, sorted by priority then weight desc */
    struct srv_target targets[RESOLVE_MAX_TARGETS];
    size_t dropped;    /* answers over the limit or with a bad name */
};

struct addr_result {
    enum resolve_status status;
    size_t n;
    struct sockaddr_storage addrs[RESOLVE_MAX_ADDRS]; /* port 0 */
    char text[RESOLVE_MAX_ADDRS][64]; /* each address as text */
};

/* result valid only during the call. */
typedef void (*resolve_srv_cb)(void *arg, const struct srv_result *result);
typedef void (*resolve_addr_cb)(void *arg, const struct addr_result *result);

/* Returns a new resolver on base, or NULL with a message in err.
 * servers: "IP[:PORT],..." or NULL for the system's resolv.conf.
 * timeout_ms per try, tries >= 1. Caller frees with resolver_free(). */
struct resolver *resolver_new(struct event_base *base, const char *servers,
                              int timeout_ms, int tries,
                              struct parse_err *err);
/* Cancels every lookup (callbacks get RES_CANCELLED) and frees r;
 * accepts NULL. Must not be called from a resolver callback. */
void resolver_free(struct resolver *r);

/* Looks up SRV records of name (e.g. "_xmpp-server._tcp.example.org"). */
void resolver_srv(struct resolver *r, const char *name, resolve_srv_cb cb,
                  void *arg);
/* Looks up addresses of host (family AF_INET, AF_INET6 or AF_UNSPEC). An
 * IP literal is answered without a query. */
void resolver_addr(struct resolver *r, const char *host, int family,
                   resolve_addr_cb cb, void *arg);

/* Lookups in flight. */
size_t resolver_pending(const struct resolver *r);
/* Stable name of a status ("ok", "nxdomain", ...). */
const char *resolve_status_name(enum resolve_status s);
/* True if s looks like a DNS host name (LDH labels, dots, <= 253). */
bool resolve_hostname_ok(const char *s);

#endif
