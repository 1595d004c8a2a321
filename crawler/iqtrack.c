/*
 * Table of iq requests in flight: slots in a growable array, reused through
 * a free list, each with its own timer event; ids carry slot, generation and
 * a per-tracker salt.
 */
#include "iqtrack.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "xalloc.h"

#define NO_SLOT UINT32_MAX
#define N_COMMON 8 /* distinct timeouts given O(1) common-timeout queues */

struct slot {
    struct iqtrack *t;
    struct event *timer; /* created on first use, kept for reuse */
    iqtrack_cb cb;       /* NULL when the slot is free */
    void *arg;
    uint32_t gen;
    uint32_t index; /* in iqtrack.slots */
    uint32_t next_free;
};

struct iqtrack {
    struct event_base *base;
    struct slot **slots;
    uint32_t n, cap;
    uint32_t free_head;
    uint32_t salt;
    size_t pending;
    struct {
        int ms;
        const struct timeval *tv;
    } common[N_COMMON];
    int n_common;
};

static const char *const result_names[] = {
    [IQT_RESULT] = "result",
    [IQT_ERROR] = "error",
    [IQT_TIMEOUT] = "timeout",
    [IQT_CANCELLED] = "cancelled",
};
_Static_assert(ARRAY_LEN(result_names) == IQT__COUNT, "names table");

const char *iqtrack_result_name(enum iqtrack_result r)
{
    return (unsigned)r < IQT__COUNT ? result_names[r] : "?";
}

struct iqtrack *iqtrack_new(struct event_base *base)
{
    struct iqtrack *t = xcalloc(1, sizeof *t);
    t->base = base;
    t->free_head = NO_SLOT;
    if (getrandom(&t->salt, sizeof t->salt, GRND_NONBLOCK) != sizeof t->salt)
        t->salt = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
    return t;
}

/* Forgets slot i and returns its callback and argument for the caller to
 * invoke: the slot is free before the callback runs, so the callback may
 * add requests (even into this very slot). */
static iqtrack_cb release(struct iqtrack *t, uint32_t i, void **arg)
{
    struct slot *s = t->slots[i];
    iqtrack_cb cb = s->cb;
    *arg = s->arg;
    evtimer_del(s->timer);
    s->cb = NULL;
    s->arg = NULL;
    s->gen++;
    s->next_free = t->free_head;
    t->free_head = i;
    t->pending--;
    return cb;
}

static void on_timeout(evutil_socket_t fd, short what, void *p)
{
    struct slot *s = p;
    struct iqtrack *t = s->t;
    void *arg;
    iqtrack_cb cb = release(t, s->index, &arg);
    cb(arg, IQT_TIMEOUT, NULL);
}

static const struct timeval *timeout_tv(struct iqtrack *t, int ms,
                                        struct timeval *tmp)
{
    for (int i = 0; i < t->n_common; i++)
        if (t->common[i].ms == ms)
            return t->common[i].tv;
    tmp->tv_sec = ms / 1000;
    tmp->tv_usec = (ms % 1000) * 1000;
    if (t->n_common < N_COMMON) {
        const struct timeval *tv = event_base_init_common_timeout(t->base, tmp);
        if (tv) {
            t->common[t->n_common].ms = ms;
            t->common[t->n_common].tv = tv;
            t->n_common++;
            return tv;
        }
    }
    return tmp;
}

void iqtrack_add(struct iqtrack *t, int timeout_ms, iqtrack_cb cb, void *arg,
                 char id_out[IQTRACK_ID_MAX])
{
    uint32_t i = t->free_head;
    if (i != NO_SLOT) {
        t->free_head = t->slots[i]->next_free;
    } else {
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 64;
            t->slots = xreallocarray(t->slots, t->cap, sizeof *t->slots);
        }
        i = t->n++;
        /* each slot has its own allocation so that the timer's pointer
         * to it survives the growth of the array */
        struct slot *ns = xcalloc(1, sizeof *ns);
        ns->t = t;
        ns->index = i;
        ns->timer = evtimer_new(t->base, on_timeout, ns);
        t->slots[i] = ns;
    }
    struct slot *s = t->slots[i];
    s->cb = cb;
    s->arg = arg;
    t->pending++;
    struct timeval tmp;
    evtimer_add(s->timer, timeout_tv(t, timeout_ms, &tmp));
    snprintf(id_out, IQTRACK_ID_MAX, "x%" PRIx32 ".%" PRIx32 ".%08" PRIx32, i,
             s->gen, t->salt);
}

/* Parses "x<slot>.<gen>.<salt>" strictly; false on anything else. */
static bool parse_id(const char *id, uint32_t *slot, uint32_t *gen,
                     uint32_t *salt)
{
    if (id == NULL || id[0] != 'x' || strlen(id) >= IQTRACK_ID_MAX)
        return false;
    uint32_t v[3];
    const char *p = id + 1;
    for (int k = 0; k < 3; k++) {
        char *end;
        if (*p < '0' || (*p > '9' && (*p < 'a' || *p > 'f')))
            return false;
        unsigned long x = strtoul(p, &end, 16);
        if (x > UINT32_MAX || end == p)
            return false;
        v[k] = (uint32_t)x;
        if (k < 2 && *end != '.')
            return false;
        if (k == 2 && *end != '\0')
            return false;
        p = end + 1;
    }
    *slot = v[0];
    *gen = v[1];
    *salt = v[2];
    return true;
}

bool iqtrack_complete(struct iqtrack *t, const char *id, bool is_error,
                      void *reply)
{
    uint32_t i, gen, salt;
    if (!parse_id(id, &i, &gen, &salt) || salt != t->salt || i >= t->n ||
        t->slots[i]->cb == NULL || t->slots[i]->gen != gen)
        return false;
    void *arg;
    iqtrack_cb cb = release(t, i, &arg);
    cb(arg, is_error ? IQT_ERROR : IQT_RESULT, reply);
    return true;
}

void iqtrack_cancel_all(struct iqtrack *t)
{
    /* callbacks may add requests; those are not cancelled by this call */
    uint32_t n = t->n;
    uint32_t *gens = xcalloc(n ? n : 1, sizeof *gens);
    for (uint32_t i = 0; i < n; i++)
        gens[i] = t->slots[i]->cb ? t->slots[i]->gen : UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (gens[i] == UINT32_MAX || t->slots[i]->cb == NULL ||
            t->slots[i]->gen != gens[i])
            continue;
        void *arg;
        iqtrack_cb cb = release(t, i, &arg);
        cb(arg, IQT_CANCELLED, NULL);
    }
    free(gens);
}

size_t iqtrack_pending(const struct iqtrack *t)
{
    return t->pending;
}

void iqtrack_free(struct iqtrack *t)
{
    if (t == NULL)
        return;
    iqtrack_cancel_all(t);
    for (uint32_t i = 0; i < t->n; i++) {
        event_free(t->slots[i]->timer);
        free(t->slots[i]);
    }
    free(t->slots);
    free(t);
}
