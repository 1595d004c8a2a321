/*
 * The direct prober (issue 5 item 4): pre-login stream and TLS probes of a
 * domain on libevent itself, without libstrophe and without an account.
 *
 * Per domain: SRV of _xmpp-client._tcp, _xmpps-client._tcp and
 * _xmpp-server._tcp (fallback to the domain's own addresses on 5222/5269
 * when there is no SRV record; a lone "." target means "not offered"),
 * then the A/AAAA of the first targets_per_domain targets (first IPv4 and
 * first IPv6 address of each). Each address gets one connection: a c2s
 * stream (jabber:client) for the client services, an s2s stream
 * (jabber:server, xmlns:db) for the server service. The stream header and
 * <stream:features/> are read with expat (DOCTYPE refused; bytes, depth,
 * elements and time bounded); if STARTTLS is offered, <starttls/>,
 * <proceed/>, a TLS handshake on the shared context (SNI = the domain),
 * TLS facts, the stream restarted and the features read again.
 * _xmpps-client targets (XEP-0368) start with TLS.
 *
 * Every connection ends in exactly one outcome (enum direct_outcome, names
 * stored in probe_outcomes.outcome). Results go to a sink; everything
 * handed to the sink is borrowed for the call (copy what you keep).
 *
 * Sockets: the file descriptors are moved to >= 1024 (F_DUPFD_CLOEXEC)
 * when RLIMIT_NOFILE allows it, so libstrophe, which the crawler process
 * also runs and which cannot use fds >= 1024 (select()), keeps the low
 * ones. Callbacks always run from the event loop, never from inside the
 * call that started the probe. The process must ignore SIGPIPE (a server
 * that closes while we write is an outcome; cmd_crawl and cmd_probe do).
 */
#ifndef XC_DIRECT_H
#define XC_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "resolve.h"
#include "tlsctx.h"

struct event_base;
struct direct;

/* How one connection (or one service's DNS) ended. */
enum direct_outcome {
    DOUT_OK,              /* "ok": features read (after TLS when offered) */
    DOUT_NXDOMAIN,        /* "nxdomain": the domain does not exist */
    DOUT_NO_SERVICE,      /* "no-service": SRV target "." */
    DOUT_NO_ADDRESS,      /* "no-address": a name without A/AAAA */
    DOUT_DNS_TIMEOUT,     /* "dns-timeout" */
    DOUT_DNS_ERROR,       /* "dns-error": refused, malformed, cancelled */
    DOUT_BAD_NAME,        /* "bad-name": not a plausible host name */
    DOUT_CONNECT_REFUSED, /* "connect-refused" */
    DOUT_CONNECT_TIMEOUT, /* "connect-timeout" */
    DOUT_CONNECT_FAILED,  /* "connect-failed": unreachable, reset ... */
    DOUT_READ_TIMEOUT,    /* "read-timeout": header/features/proceed late */
    DOUT_CLOSED,          /* "closed": the peer closed before the end */
    DOUT_TLS_FAILED,      /* "tls-failed": handshake failed */
    DOUT_TLS_TIMEOUT,     /* "tls-timeout": handshake too slow */
    DOUT_STARTTLS_FAILED, /* "starttls-failed": <failure/> to <starttls/> */
    DOUT_STREAM_ERROR,    /* "stream-error": condition in the condition */
    DOUT_MALFORMED_XML,   /* "malformed-xml" (invalid UTF-8 included) */
    DOUT_DOCTYPE,         /* "doctype": DOCTYPE or entity declaration */
    DOUT_TOO_LARGE,       /* "too-large": bytes, depth or element cap */
    DOUT_NOT_XMPP,        /* "not-xmpp": the root is not a stream */
    DOUT_NO_FEATURES,     /* "no-features": a pre-1.0 stream header */
    DOUT_LOCAL_ERROR,     /* "local-error": socket() failed here (EMFILE) */
    DOUT_CANCELLED,       /* "cancelled": direct_free() came first */
    DOUT__COUNT
};

/* Stable name of o (stored in probe_outcomes.outcome). */
const char *direct_outcome_name(enum direct_outcome o);
/* Parses a name back; false if unknown. */
bool direct_outcome_parse(const char *name, enum direct_outcome *out);

enum direct_stream { DSTREAM_C2S, DSTREAM_S2S, DSTREAM__COUNT };
enum direct_phase { DPHASE_PRE_TLS, DPHASE_POST_TLS, DPHASE__COUNT };
enum direct_starttls { DSTARTTLS_NONE, DSTARTTLS_OPTIONAL, DSTARTTLS_REQUIRED };
/* "c2s", "s2s" (stream_features.stream) */
const char *direct_stream_name(enum direct_stream s);
/* "pre-tls", "post-tls" (stream_features.phase) */
const char *direct_phase_name(enum direct_phase p);
/* "none", "optional", "required" (stream_features.starttls) */
const char *direct_starttls_name(enum direct_starttls s);

#define DIRECT_MAX_MECHS 16
#define DIRECT_MAX_COMPRESSION 8
#define DIRECT_MAX_OTHER 16

/* The features of one stream (stream_features row). */
struct direct_features {
    char stream_version[8]; /* version attribute of the header */
    char stream_from[256];  /* from attribute of the header */
    enum direct_starttls starttls;
    size_t n_mechanisms; /* SASL mechanisms, in order */
    char mechanisms[DIRECT_MAX_MECHS][48];
    bool sm;              /* XEP-0198 urn:xmpp:sm:3 or :2 */
    bool rosterver;       /* XEP-0237 urn:xmpp:features:rosterver */
    bool bidi;            /* XEP-0288 urn:xmpp:features:bidi */
    bool csi;             /* XEP-0352 urn:xmpp:csi:0 */
    bool ibr;             /* XEP-0077 iq-register feature */
    bool dialback;        /* XEP-0220 urn:xmpp:features:dialback */
    size_t n_compression; /* XEP-0138 methods */
    char compression[DIRECT_MAX_COMPRESSION][24];
    bool has_caps; /* XEP-0115 <c/> in the features */
    char caps_node[256];
    char caps_ver[64];
    char caps_hash[24];
    size_t n_other; /* namespaces of features without a column */
    char other[DIRECT_MAX_OTHER][128];
    size_t dropped; /* entries over a limit or truncated */
};

/* Limits of one stream's reader. */
struct direct_reader_limits {
    size_t max_bytes;    /* bytes per stream */
    size_t max_depth;    /* element nesting, the stream root is 1 */
    size_t max_elements; /* start tags per stream */
};

/* An incremental reader of one stream (pure: no I/O). */
struct direct_reader;

/* A new reader (aborts on OOM); free with direct_reader_free(). */
struct direct_reader *direct_reader_new(const struct direct_reader_limits *l);
/* Frees r; accepts NULL. */
void direct_reader_free(struct direct_reader *r);
/* Feeds len bytes; false once the stream is in error (see
 * direct_reader_error()). */
bool direct_reader_feed(struct direct_reader *r, const char *data, size_t len);
/* Error so far: code is an enum direct_outcome (0 = none). */
const struct parse_err *direct_reader_error(const struct direct_reader *r);

/* What the reader has seen so far. */
struct direct_reader_state {
    bool header;           /* the stream header */
    bool legacy;           /* header without version >= 1.0 */
    bool features;         /* </stream:features> */
    bool proceed;          /* <proceed/> (xmpp-tls) */
    bool failure;          /* <failure/> (xmpp-tls) */
    bool stream_error;     /* </stream:error> */
    bool ended;            /* </stream:stream> */
    const char *condition; /* of the stream error, "" if none */
    const char *text;      /* its <text/>, "" if none */
    const struct direct_features *f;
    size_t bytes; /* fed so far */
};
/* Fills *s; pointers valid until the next call on r. */
void direct_reader_state(const struct direct_reader *r,
                         struct direct_reader_state *s);

/* Parses a whole server stream prefix (header + features) held in text:
 * fills *out and returns DOUT_OK when the features were complete, else
 * the outcome (DOUT_CLOSED when the text ends early, DOUT_STREAM_ERROR
 * with the condition in err->msg). Pure; used by tests and the fuzzer. */
enum direct_outcome direct_features_parse(const char *text, size_t len,
                                          const struct direct_reader_limits *l,
                                          struct direct_features *out,
                                          struct parse_err *err);

/* The prober's settings (copied by direct_new). */
struct direct_limits {
    size_t concurrency;        /* connections open at once */
    size_t targets_per_domain; /* SRV targets per domain and service */
    int connect_timeout_ms;
    int tls_timeout_ms;
    int read_timeout_ms; /* header + features, and <proceed/> */
    struct direct_reader_limits reader;
    const char *s2s_from; /* 'from' of s2s streams, NULL = none */
    bool starttls;        /* follow STARTTLS when offered */
    bool direct_tls;      /* probe _xmpps-client targets */
};

/* Fills *l with the defaults of lib/xc_config.c (direct.*). */
void direct_limits_default(struct direct_limits *l);

/* One connection as the sink sees it; strings borrowed for the call.
 * For DNS outcomes host/ip are "" and port 0 as far as unknown. */
struct direct_target {
    const char *domain;
    const char *service; /* "xmpp-client", "xmpps-client", "xmpp-server" */
    enum direct_stream stream;
    const char *host; /* SRV target (or the domain on fallback) */
    const char *ip;   /* address text */
    uint16_t port;
    bool direct_tls; /* XEP-0368 */
};

/* Where results go. Every pointer is borrowed for the call; any callback
 * may be NULL. */
struct direct_sink {
    void *arg;
    /* one SRV answer: t is NULL when the lookup gave no target (status
     * says why: nxdomain, nodata, timeout ...) */
    void (*srv)(void *arg, const char *domain, const char *service,
                enum resolve_status status, const struct srv_target *t);
    /* the features of one stream, before or after TLS */
    void (*features)(void *arg, const struct direct_target *t,
                     enum direct_phase phase, const struct direct_features *f);
    /* the facts of a finished TLS handshake */
    void (*tls)(void *arg, const struct direct_target *t,
                const struct tlsctx_facts *facts);
    /* exactly one per connection, and one per service whose DNS gave no
     * connection; condition: the stream error condition or NULL */
    void (*outcome)(void *arg, const struct direct_target *t,
                    enum direct_outcome o, const char *condition,
                    const char *detail, int duration_ms);
};

/* Summary of one domain, given to its done callback. */
struct direct_domain_result {
    const char *domain;
    size_t connections; /* connections made (outcomes with an address) */
    size_t ok;          /* of which ended in "ok" */
    size_t outcomes;    /* outcomes reported in all */
    int duration_ms;
};
typedef void (*direct_done_cb)(void *arg, const struct direct_domain_result *r);

/* Returns a prober on base. res (DNS) and tls (NULL: no TLS; STARTTLS is
 * then recorded but not followed) are borrowed and must outlive it; sink
 * is copied. Free with direct_free(). */
struct direct *direct_new(struct event_base *base, struct resolver *res,
                          struct tlsctx *tls, const struct direct_limits *l,
                          const struct direct_sink *sink);
/* Closes every connection (outcome "cancelled" reported for each, done
 * callbacks not called) and frees d; accepts NULL. Must not be called
 * from one of d's callbacks. DNS lookups still in flight finish into the
 * void when the resolver answers or is freed. */
void direct_free(struct direct *d);

/* Probes domain (DNS, then every connection); done runs once from the
 * loop when everything has ended. domain is copied; false (nothing
 * started) if it is not a plausible host name. */
bool direct_probe(struct direct *d, const char *domain, direct_done_cb done,
                  void *arg);
/* Probes one address without DNS: a stream for domain on ip:port
 * (service decides the stream kind and direct TLS). Same contract. */
bool direct_probe_addr(struct direct *d, const char *domain,
                       const char *service, const char *ip, uint16_t port,
                       direct_done_cb done, void *arg);

/* Counters of the prober. */
struct direct_stats {
    size_t active;   /* connections open now */
    size_t waiting;  /* connections waiting for a slot */
    size_t domains;  /* domains in progress */
    size_t started;  /* connections started in all */
    size_t finished; /* connections ended in all */
    size_t peak;     /* most connections open at once */
    int fd_floor;    /* lowest fd number used (1024 or 0) */
};
void direct_get_stats(const struct direct *d, struct direct_stats *s);

/* Phase a connection is in, for tests and the bench: connections that
 * read their features and wait (hold mode) instead of closing. With hold
 * set, an "ok" connection stays open until direct_release_held(). */
void direct_set_hold(struct direct *d, bool hold);
/* Connections held open now. */
size_t direct_held(const struct direct *d);
/* Closes every held connection (their outcomes were already reported). */
void direct_release_held(struct direct *d);

#endif
