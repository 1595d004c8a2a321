/*
 * What the files of server/ share and nothing else uses: the server
 * object, the request context of a reply deferred until the database
 * answers, the reply helpers that put the fixed headers on every answer,
 * the database pool and the request statistics.
 */
#ifndef XC_SRV_INT_H
#define XC_SRV_INT_H

#include <stdbool.h>
#include <jansson.h>
#include <stdint.h>

#include "common.h"
#include "srv.h"

struct evhttp;
struct evhttp_request;
struct evhttp_bound_socket;
struct event;
struct pgasync;
struct pga_result;
struct buf;
struct evbuffer;

/* Path classes, for the request counters of /metrics. */
enum srv_class {
    SRV_C_API_LIST, /* /api/v1/ */
    SRV_C_API,      /* /api/v1/NAME */
    SRV_C_HEALTHZ,
    SRV_C_METRICS,
    SRV_C_STATIC,
    SRV_C_OTHER, /* refused before routing (405, bad path) */
    SRV_C__COUNT
};

#define SRV_HIST_BUCKETS 14
#define SRV_STATUS_SLOTS 16

struct srv_stats {
    /* requests by class and status (slot: index in status_codes) */
    uint64_t requests[SRV_C__COUNT][SRV_STATUS_SLOTS];
    uint64_t hist[SRV_C__COUNT][SRV_HIST_BUCKETS + 1]; /* last: +Inf */
    double sum[SRV_C__COUNT];                          /* seconds */
    uint64_t count[SRV_C__COUNT];
    uint64_t busy;        /* refused: too many requests waiting (503) */
    uint64_t db_errors;   /* queries that failed in the database */
    uint64_t connections; /* accepted */
    uint64_t dropped;     /* shut down for missing the request deadline */
    uint64_t cache_hits;  /* API pages answered from the cache */
    uint64_t coalesced;   /* API requests that waited for another's query */
    uint64_t db_queries;  /* API queries sent to the database */
};

/* The database pool: n pgasync connections, jobs go to the least loaded
 * connection that is up. */
struct srv_db {
    struct pgasync **conns;
    struct srv_db_conn *states; /* per connection: seen up */
    size_t n, seen_up;
    void (*ready)(void *arg); /* once: every connection up, or timed out */
    void *ready_arg;
    struct event *ready_timer;
    size_t pending;     /* submitted, not yet answered */
    size_t max_pending; /* more are refused with 503 */
};

struct srv {
    struct event_base *base;
    struct srv_options o;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    int port;
    char *static_root; /* realpath of static_dir, or NULL */
    char **api_sql;    /* wrapped SQL per catalog entry */
    struct srv_db db;
    struct srv_stats stats;
    int64_t started_ms;
    size_t in_flight; /* requests waiting for the database */
    bool loopback;    /* bound to a loopback address: Host is checked */
    /* srv_cache.c */
    struct srv_cached *cache;
    size_t ncache, cache_bytes;
    struct srv_flight *flights;
    /* srv_metrics.c: the database part, kept like API pages */
    char *metrics_db; /* NULL: none fresh */
    int64_t metrics_expires_ms;
    struct srv_req **metrics_waiters;
    size_t metrics_n, metrics_cap;
    /* srv_conns.c */
    struct srv_conn *conns;
    size_t nconns;
    bool accepting;
    struct event *sweep;
};

/* A request whose answer waits for the database. */
struct srv_req {
    struct srv *s;
    struct evhttp_request *req;
    enum srv_class cls;
    int64_t t0_us;
    bool head;
    bool gone; /* the connection was closed: do not answer */
};

/* One database query for one page of /api/v1/NAME and the requests
 * waiting for it (srv_cache.c). */
struct srv_flight {
    struct srv *s;
    char *key; /* canonical page: next_prefix + offset */
    size_t entry;
    int64_t limit, offset;
    char *next_prefix; /* "/api/v1/NAME?args&limit=N&offset=" */
    struct srv_req **waiters;
    size_t n, cap;
    struct srv_flight *next;
};

/* --- srv.c: replies --- */
/* Monotonic microseconds. */
int64_t srv_now_us(void);
/* Answers req with status and the body out (may be NULL; emptied) of
 * content type ctype, with the fixed headers (a HEAD gets the headers and
 * the Content-Length only); counts the request. */
void srv_send(struct srv *s, struct evhttp_request *req, enum srv_class cls,
              int64_t t0_us, int status, const char *ctype, const char *cache,
              struct evbuffer *out);
/* The same with a malloc'ed body of len bytes (taken). */
void srv_reply(struct srv *s, struct evhttp_request *req, enum srv_class cls,
               int64_t t0_us, int status, const char *ctype, const char *cache,
               char *body, size_t len);
/* Answers with the JSON document j (reference taken). */
void srv_reply_json(struct srv *s, struct evhttp_request *req,
                    enum srv_class cls, int64_t t0_us, int status, json_t *j);
/* Answers {"error":{"status":N,"message":msg}}. */
void srv_reply_error(struct srv *s, struct evhttp_request *req,
                     enum srv_class cls, int64_t t0_us, int status,
                     const char *msg);
/* A deferred request context for req; watches the connection's close. */
struct srv_req *srv_req_new(struct srv *s, struct evhttp_request *req,
                            enum srv_class cls, int64_t t0_us);
/* Frees r (after answering or when its connection is gone). */
void srv_req_free(struct srv_req *r);
/* Ends r with the JSON error, unless its connection is gone; frees r. */
void srv_req_error(struct srv_req *r, int status, const char *msg);
/* Ends r with a body (taken) of content type ctype; frees r. */
void srv_req_reply(struct srv_req *r, int status, const char *ctype,
                   const char *cache, char *body, size_t len);
/* Ends r with j (reference taken); frees r. */
void srv_req_json(struct srv_req *r, int status, json_t *j);

/* --- srv_conns.c: connection bound and request deadline --- */
void srv_conns_init(struct srv *s);
void srv_conns_free(struct srv *s);
/* A complete request of req's connection arrived. */
void srv_conn_request(struct srv *s, struct evhttp_request *req);
/* req's connection got its answer. */
void srv_conn_answered(struct srv *s, struct evhttp_request *req);

/* --- srv_cache.c: kept answers, one query per page at a time --- */
struct srv_cached;
const struct srv_cached *srv_cache_get(struct srv *s, const char *key,
                                       const char **body, size_t *len,
                                       bool *stale);
void srv_cache_put(struct srv *s, const char *key, const char *body,
                   size_t len);
void srv_cache_free(struct srv *s);
struct srv_flight *srv_flight_find(struct srv *s, const char *key);
struct srv_flight *srv_flight_new(struct srv *s, char *key, struct srv_req *r);
void srv_flight_wait(struct srv_flight *f, struct srv_req *r);
void srv_flight_done(struct srv_flight *f, int status, char *body, size_t len);

/* --- srv_db.c: the pool --- */
void srv_db_init(struct srv_db *db, struct event_base *base,
                 const char *conninfo, size_t n, size_t max_pending,
                 void (*ready)(void *arg), void *ready_arg);
void srv_db_free(struct srv_db *db);
/* Connections currently up. */
size_t srv_db_up(const struct srv_db *db);
/* Runs sql with text parameters; cb gets the result. Returns 0, or the
 * HTTP status to answer instead (503) with a message in *why. */
int srv_db_query(struct srv_db *db, const char *sql, int nparams,
                 const char *const *params,
                 void (*cb)(void *arg, const struct pga_result *r), void *arg,
                 const char **why) MUST_CHECK;

/* --- srv_api.c --- */
/* Prepares the wrapped SQL of every catalog entry into s->api_sql. */
void srv_api_init(struct srv *s);
void srv_api_free(struct srv *s);
/* GET /api/v1/ */
void srv_api_list(struct srv *s, struct evhttp_request *req, int64_t t0_us);
/* GET /api/v1/NAME?query */
void srv_api_query(struct srv *s, struct evhttp_request *req, int64_t t0_us,
                   const char *name, const char *query);
/* GET /healthz */
void srv_api_healthz(struct srv *s, struct evhttp_request *req, int64_t t0_us);

/* --- srv_metrics.c --- */
void srv_metrics(struct srv *s, struct evhttp_request *req, int64_t t0_us);
void srv_metrics_free(struct srv *s);
/* Index of status in the counters' slots. */
int srv_status_slot(int status);
/* Records one answered request. */
void srv_stats_record(struct srv_stats *st, enum srv_class cls, int status,
                      double seconds);

/* --- srv_static.c --- */
/* Prepares the static root (realpath of o.static_dir). */
void srv_static_init(struct srv *s);
/* GET/HEAD of a static file for the raw (percent-encoded) path. */
void srv_static(struct srv *s, struct evhttp_request *req, int64_t t0_us,
                const char *raw_path, bool head);

#endif
