/*
 * Answers of /api/v1/NAME kept for serve.cache_ttl, and one database query
 * per distinct page at a time: a request for a page that is already being
 * computed waits for that computation instead of starting its own
 * ("single flight"). A page is keyed by its canonical form (the entry, its
 * arguments in catalog order, limit and offset), so "?b=2&a=1" and
 * "?a=1&b=2" share an answer. Only 200 answers are kept; errors are not.
 * An answer older than the TTL (but not twice as old) is still given while
 * one background query refreshes it, so that readers never wait for the
 * periodic refresh. Memory is bounded by serve.cache_max_bytes and
 * CACHE_ENTRIES_MAX; the least recently used answer goes first. The catalog's
 * queries aggregate whole tables, so at a million observations a page costs the
 * database a second or more while the same page from here costs microseconds.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "srv_int.h"
#include "xalloc.h"

#define CACHE_ENTRIES_MAX 1024

struct srv_cached {
    char *key;
    char *body;
    size_t len;
    int64_t expires_ms;
    int64_t used_ms;
};

static void drop(struct srv *s, size_t i)
{
    struct srv_cached *c = &s->cache[i];
    s->cache_bytes -= c->len + strlen(c->key);
    free(c->key);
    free(c->body);
    s->cache[i] = s->cache[--s->ncache];
}

/* The kept answer for key, or NULL. Within cache_ttl of being computed
 * it is fresh; for another cache_ttl it is stale (*stale set): still
 * given, while the caller refreshes it; then it is dropped. */
const struct srv_cached *srv_cache_get(struct srv *s, const char *key,
                                       const char **body, size_t *len,
                                       bool *stale)
{
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < s->ncache; i++) {
        struct srv_cached *c = &s->cache[i];
        if (strcmp(c->key, key) != 0)
            continue;
        if (now >= c->expires_ms + s->o.cache_ttl) {
            drop(s, i);
            return NULL;
        }
        *stale = now >= c->expires_ms;
        c->used_ms = now;
        *body = c->body;
        *len = c->len;
        return c;
    }
    return NULL;
}

/* Keeps a copy of body as the answer for key. */
void srv_cache_put(struct srv *s, const char *key, const char *body, size_t len)
{
    if (s->o.cache_ttl <= 0)
        return;
    size_t need = len + strlen(key);
    if (need > (size_t)s->o.cache_max_bytes / 4)
        return;
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < s->ncache;) {
        if (now >= s->cache[i].expires_ms + s->o.cache_ttl ||
            strcmp(s->cache[i].key, key) == 0)
            drop(s, i);
        else
            i++;
    }
    while (s->ncache > 0 &&
           (s->ncache >= CACHE_ENTRIES_MAX ||
            s->cache_bytes + need > (size_t)s->o.cache_max_bytes)) {
        size_t lru = 0;
        for (size_t i = 1; i < s->ncache; i++)
            if (s->cache[i].used_ms < s->cache[lru].used_ms)
                lru = i;
        drop(s, lru);
    }
    if (!s->cache)
        s->cache = xcalloc(CACHE_ENTRIES_MAX, sizeof *s->cache);
    struct srv_cached *c = &s->cache[s->ncache++];
    c->key = xstrdup(key);
    c->body = xmalloc(len + 1);
    memcpy(c->body, body, len);
    c->body[len] = '\0';
    c->len = len;
    c->expires_ms = now + s->o.cache_ttl;
    c->used_ms = now;
    s->cache_bytes += need;
}

/* Frees every kept answer. */
void srv_cache_free(struct srv *s)
{
    while (s->ncache > 0)
        drop(s, s->ncache - 1);
    free(s->cache);
    s->cache = NULL;
}

/* --- single flight ---------------------------------------------------- */

/* The flight computing key, or NULL. */
struct srv_flight *srv_flight_find(struct srv *s, const char *key)
{
    for (struct srv_flight *f = s->flights; f; f = f->next)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

/* A new flight for key (taken) with r as its first waiter (NULL: a
 * refresh nobody waits for). */
struct srv_flight *srv_flight_new(struct srv *s, char *key, struct srv_req *r)
{
    struct srv_flight *f = xcalloc(1, sizeof *f);
    f->s = s;
    f->key = key;
    f->next = s->flights;
    s->flights = f;
    if (r)
        srv_flight_wait(f, r);
    return f;
}

/* Adds r to the requests waiting for f. */
void srv_flight_wait(struct srv_flight *f, struct srv_req *r)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4;
        f->waiters = xreallocarray(f->waiters, f->cap, sizeof *f->waiters);
    }
    f->waiters[f->n++] = r;
}

/* Answers every waiter of f with status and body (taken), keeps a 200
 * answer, and frees f. */
void srv_flight_done(struct srv_flight *f, int status, char *body, size_t len)
{
    struct srv *s = f->s;
    for (struct srv_flight **pp = &s->flights; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    if (status == 200)
        srv_cache_put(s, f->key, body, len);
    for (size_t i = 0; i < f->n; i++) {
        char *copy = body;
        if (i + 1 < f->n) {
            copy = xmalloc(len + 1);
            memcpy(copy, body, len + 1);
        }
        srv_req_reply(f->waiters[i], status, "application/json", "no-store",
                      copy, len);
    }
    if (f->n == 0)
        free(body);
    free(f->waiters);
    free(f->next_prefix);
    free(f->key);
    free(f);
}
