/*
 * The HTTP server of `xcensus serve`: a libevent evhttp server on the
 * caller's event loop answering
 *   GET /api/v1/           the query catalog (lib/apicat.h)
 *   GET /api/v1/NAME?...   one catalog query, paginated, as JSON
 *   GET /healthz           database reachable and schema version
 *   GET /metrics           Prometheus text (database and own counters)
 *   GET /...               static files of the dashboard directory
 * with a small pool of non-blocking PostgreSQL connections (the loop never
 * waits for the database), a bound on requests waiting for it, and the
 * hardening of docs/API.md: GET and HEAD only, header and body limits,
 * timeouts, JSON errors, no path tricks for static files.
 */
#ifndef XC_SRV_H
#define XC_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct event_base;
struct srv;

struct srv_options {
    const char *listen;        /* address to bind, e.g. "127.0.0.1" */
    int port;                  /* 0 = any free port (see srv_port()) */
    const char *conninfo;      /* libpq conninfo or URI; borrowed */
    const char *static_dir;    /* NULL = no static files (404) */
    int64_t max_connections;   /* HTTP connections open at once */
    int64_t max_header_bytes;  /* request line + headers */
    int64_t max_body_bytes;    /* request body (GET/HEAD carry none) */
    int64_t request_timeout;   /* ms: read/write inactivity, idle */
    int64_t statement_timeout; /* ms: per SQL statement */
    int64_t db_connections;    /* PostgreSQL connections */
    int64_t max_pending;       /* requests waiting for the database */
    int64_t page_size_max;     /* largest limit= */
    int64_t cache_ttl;         /* ms an API answer is kept; 0 = never */
    int64_t cache_max_bytes;   /* memory for kept answers */
    /* called once from the loop when the database pool is up (or after a
     * few seconds without it); may be NULL */
    void (*ready)(void *arg);
    void *ready_arg;
};

/* Starts a server on base: binds, connects the database pool (in the
 * background). Returns NULL with a message in err when it cannot bind or
 * the options are bad. Caller frees with srv_free() before the base. */
struct srv *srv_new(struct event_base *base, const struct srv_options *o,
                    char *err, size_t errlen);
/* The TCP port actually bound. */
int srv_port(const struct srv *s);
/* Closes the listener, every connection and the pool; accepts NULL. */
void srv_free(struct srv *s);

/* The OpenAPI 3.0 description of the API, generated from the catalog, as
 * indented JSON text; caller frees with free(). */
char *srv_openapi(void);
/* The Markdown table of the catalog's queries for docs/API.md; caller
 * frees with free(). */
char *srv_catalog_markdown(void);

#endif
