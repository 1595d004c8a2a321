/*
 * The server object and the front of every request: method, size and
 * Host checks, routing by path, and the reply helpers that put the same
 * fixed headers (content type, caching, nosniff, CSP) on every answer and
 * count it for /metrics.
 *
 * evhttp owns connections and requests. A request whose answer needs the
 * database becomes a struct srv_req; evhttp stops reading a connection
 * while its request is with us, and the close callback set on the
 * connection tells the context when the connection goes away anyway (the
 * server is being freed), so that a late database answer never touches a
 * freed request.
 */
#include "srv.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "srv_int.h"
#include "xalloc.h"

/* For a self-contained dashboard: everything from this origin, no inline
 * or eval'ed script; inline style attributes are allowed because charting
 * libraries set them. */
static const char csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src "
    "'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 421:
        return "Misdirected Request";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* Sends status and out with the fixed headers; counts the request. */
void srv_send(struct srv *s, struct evhttp_request *req, enum srv_class cls,
              int64_t t0_us, int status, const char *ctype, const char *cache,
              struct evbuffer *out)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", cache);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Content-Security-Policy", csp);
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    if (status == 503)
        evhttp_add_header(h, "Retry-After", "1");
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        /* evhttp sends what it is given, even to HEAD: headers only */
        char len[32];
        snprintf(len, sizeof len, "%zu", out ? evbuffer_get_length(out) : 0);
        evhttp_add_header(h, "Content-Length", len);
        if (out)
            evbuffer_drain(out, evbuffer_get_length(out));
    }
    srv_conn_answered(s, req);
    evhttp_send_reply(req, status, reason(status), out);
    srv_stats_record(&s->stats, cls, status,
                     (double)(srv_now_us() - t0_us) / 1e6);
}

static void free_body(const void *data, size_t len, void *arg)
{
    free((void *)data);
}

/* Sends a malloc'ed body (taken). */
void srv_reply(struct srv *s, struct evhttp_request *req, enum srv_class cls,
               int64_t t0_us, int status, const char *ctype, const char *cache,
               char *body, size_t len)
{
    struct evbuffer *out = evbuffer_new();
    if (body && len > 0)
        evbuffer_add_reference(out, body, len, free_body, NULL);
    else
        free(body);
    srv_send(s, req, cls, t0_us, status, ctype, cache, out);
    evbuffer_free(out);
}

/* Sends j as compact JSON (reference taken). */
void srv_reply_json(struct srv *s, struct evhttp_request *req,
                    enum srv_class cls, int64_t t0_us, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (text == NULL) { /* invalid UTF-8 cannot get here: checked on input */
        text = xstrdup("{\"error\":{\"status\":500,\"message\":"
                       "\"cannot encode the answer\"}}");
        status = 500;
    }
    size_t n = strlen(text);
    text = xreallocarray(text, n + 2, 1);
    text[n] = '\n';
    text[n + 1] = '\0';
    srv_reply(s, req, cls, t0_us, status, "application/json", "no-store", text,
              n + 1);
}

/* Sends the JSON error document of status. */
void srv_reply_error(struct srv *s, struct evhttp_request *req,
                     enum srv_class cls, int64_t t0_us, int status,
                     const char *msg)
{
    json_t *e =
        json_pack("{s:{s:i,s:s}}", "error", "status", status, "message", msg);
    srv_reply_json(s, req, cls, t0_us, status, e);
}

/* Monotonic microseconds, for request durations. */
int64_t srv_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --- deferred requests --------------------------------------------- */

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct srv_req *r = arg;
    r->gone = true;
    r->req = NULL;
}

/* A context for a deferred answer to req, told when req's connection closes. */
struct srv_req *srv_req_new(struct srv *s, struct evhttp_request *req,
                            enum srv_class cls, int64_t t0_us)
{
    struct srv_req *r = xcalloc(1, sizeof *r);
    r->s = s;
    r->req = req;
    r->cls = cls;
    r->t0_us = t0_us;
    r->head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, on_conn_close, r);
    s->in_flight++;
    return r;
}

/* Frees r and stops watching its connection. */
void srv_req_free(struct srv_req *r)
{
    if (!r)
        return;
    if (!r->gone && r->req) {
        struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
        if (evcon)
            evhttp_connection_set_closecb(evcon, NULL, NULL);
    }
    r->s->in_flight--;
    free(r);
}

/* Ends r with a JSON error. */
void srv_req_error(struct srv_req *r, int status, const char *msg)
{
    json_t *e =
        json_pack("{s:{s:i,s:s}}", "error", "status", status, "message", msg);
    srv_req_json(r, status, e);
}

/* Ends r with a body (taken), unless its connection is gone. */
void srv_req_reply(struct srv_req *r, int status, const char *ctype,
                   const char *cache, char *body, size_t len)
{
    struct srv *s = r->s;
    struct evhttp_request *req = r->req;
    enum srv_class cls = r->cls;
    int64_t t0 = r->t0_us;
    bool gone = r->gone;
    srv_req_free(r);
    if (!gone)
        srv_reply(s, req, cls, t0, status, ctype, cache, body, len);
    else
        free(body);
}

/* Ends r with j (reference taken), unless its connection is gone. */
void srv_req_json(struct srv_req *r, int status, json_t *j)
{
    struct srv *s = r->s;
    struct evhttp_request *req = r->req;
    enum srv_class cls = r->cls;
    int64_t t0 = r->t0_us;
    bool gone = r->gone;
    srv_req_free(r); /* first: it touches req's connection */
    if (!gone)
        srv_reply_json(s, req, cls, t0, status, j);
    else
        json_decref(j);
}

/* --- the front --------------------------------------------------------- */

/* Bytes of the request line and header block as received (close enough:
 * the separators are counted as on the wire). */
static size_t header_bytes(struct evhttp_request *req)
{
    const char *uri = evhttp_request_get_uri(req);
    size_t n = (uri ? strlen(uri) : 0) + 16;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
    n += strlen(kv->key) + strlen(kv->value) + 4;
    return n;
}

static bool is_loopback_name(const char *host, size_t len)
{
    char h[64];
    if (len == 0 || len >= sizeof h)
        return false;
    memcpy(h, host, len);
    h[len] = '\0';
    if (strcasecmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0)
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* When bound to loopback, a browser must have reached us by a loopback
 * name: refuses DNS-rebinding pages that call themselves evil.example. */
static bool host_ok(const struct srv *s, struct evhttp_request *req)
{
    if (!s->loopback)
        return true;
    const char *host =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    if (host == NULL)
        return true; /* HTTP/1.0 */
    size_t len = strlen(host);
    const char *colon = strrchr(host, ':');
    if (colon && (host[0] != '[' || colon > strchr(host, ']')))
        len = (size_t)(colon - host);
    return is_loopback_name(host, len) ||
           (strlen(s->o.listen) == len && strncmp(s->o.listen, host, len) == 0);
}

static bool valid_name(const char *p)
{
    if (*p == '\0')
        return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    int64_t t0 = srv_now_us();
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    bool head = cmd == EVHTTP_REQ_HEAD;
    srv_conn_request(s, req);
    if (header_bytes(req) > (size_t)s->o.max_header_bytes) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
                          "close");
        srv_reply_error(s, req, SRV_C_OTHER, t0, 431,
                        "request header fields too large");
        return;
    }
    if (cmd != EVHTTP_REQ_GET && !head) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "GET, HEAD");
        srv_reply_error(s, req, SRV_C_OTHER, t0, 405,
                        "method not allowed (GET and HEAD only)");
        return;
    }
    if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > 0) {
        srv_reply_error(s, req, SRV_C_OTHER, t0, 400,
                        "GET and HEAD requests carry no body");
        return;
    }
    if (!host_ok(s, req)) {
        srv_reply_error(s, req, SRV_C_OTHER, t0, 421,
                        "this server answers to loopback names only");
        return;
    }
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    const char *query = u ? evhttp_uri_get_query(u) : NULL;
    if (path == NULL || path[0] != '/') {
        srv_reply_error(s, req, SRV_C_OTHER, t0, 400, "bad request target");
        return;
    }
    static const char api[] = "/api/v1/";
    if (strcmp(path, "/api/v1") == 0 || strcmp(path, api) == 0) {
        srv_api_list(s, req, t0);
    } else if (strncmp(path, api, sizeof api - 1) == 0) {
        const char *name = path + sizeof api - 1;
        if (!valid_name(name))
            srv_reply_error(s, req, SRV_C_API, t0, 404, "no such query");
        else
            srv_api_query(s, req, t0, name, query);
    } else if (strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0) {
        srv_reply_error(s, req, SRV_C_OTHER, t0, 404,
                        "no such path (the API is under /api/v1/)");
    } else if (strcmp(path, "/healthz") == 0) {
        srv_api_healthz(s, req, t0);
    } else if (strcmp(path, "/metrics") == 0) {
        srv_metrics(s, req, t0);
    } else {
        srv_static(s, req, t0, path, head);
    }
}

/* --- life cycle ---------------------------------------------------------- */

static bool addr_is_loopback(const char *a)
{
    return is_loopback_name(a, strlen(a)) || strcmp(a, "::1") == 0;
}

/* Binds, sets evhttp's limits and hooks, opens the pool. */
struct srv *srv_new(struct event_base *base, const struct srv_options *o,
                    char *err, size_t errlen)
{
    struct srv *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->o = *o;
    s->loopback = addr_is_loopback(o->listen);
    s->started_ms = clock_now_ms();
    s->http = evhttp_new(base);
    evhttp_set_gencb(s->http, on_request, s);
    /* every method reaches on_request, which answers 405 with Allow */
    evhttp_set_allowed_methods(
        s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                     EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    /* evhttp's own limit is a backstop (its 413 closes the connection);
     * up to twice the configured size on_request answers 431 in JSON */
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)o->max_header_bytes * 2);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)o->max_body_bytes);
    struct timeval tv = {(time_t)(o->request_timeout / 1000),
                         (suseconds_t)(o->request_timeout % 1000) * 1000};
    evhttp_set_timeout_tv(s->http, &tv);
    s->sock = evhttp_bind_socket_with_handle(s->http, o->listen,
                                             (ev_uint16_t)o->port);
    if (s->sock == NULL) {
        snprintf(err, errlen, "cannot listen on %s port %d", o->listen,
                 o->port);
        evhttp_free(s->http);
        free(s);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(s->sock);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)&ss)->sin6_port
                            : ((struct sockaddr_in *)&ss)->sin_port);
    srv_conns_init(s);
    srv_api_init(s);
    srv_static_init(s);
    srv_db_init(&s->db, base, o->conninfo, (size_t)o->db_connections,
                (size_t)o->max_pending, o->ready, o->ready_arg);
    return s;
}

/* The bound port. */
int srv_port(const struct srv *s)
{
    return s->port;
}

/* Answers what is owed (503 from the cancelled pool), then frees. */
void srv_free(struct srv *s)
{
    if (!s)
        return;
    /* database answers still owed get 503 while connections exist */
    srv_db_free(&s->db);
    evhttp_free(s->http);
    srv_conns_free(s);
    srv_api_free(s);
    srv_cache_free(s);
    srv_metrics_free(s);
    free(s->static_root);
    free(s);
}
