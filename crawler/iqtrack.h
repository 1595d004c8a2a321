/*
 * Our own table of iq requests in flight, with deadlines on libevent timers.
 * libstrophe's id handlers live in a 32-bucket hash that never grows and its
 * timed handlers are a linear list, which does not scale to hundreds of iqs
 * in flight per session; so a session registers one generic iq handler and
 * resolves replies here.
 *
 * An id names a slot and its generation ("x<slot>.<gen>.<salt>", hex), so a
 * lookup is an array index, a late reply to a reused slot is recognised as
 * stale, and replies meant for an earlier tracker (another connection) are
 * ignored.
 *
 * Callbacks run from iqtrack_complete() (inside the caller's stanza
 * handler), from the deadline timer, or from iqtrack_cancel_all(). A
 * callback may add new requests; it must not free the tracker.
 */
#ifndef XC_IQTRACK_H
#define XC_IQTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct event_base;
struct iqtrack;

enum iqtrack_result {
    IQT_RESULT,    /* a type='result' reply arrived */
    IQT_ERROR,     /* a type='error' reply arrived */
    IQT_TIMEOUT,   /* no reply before the deadline */
    IQT_CANCELLED, /* connection lost or tracker freed */
    IQT__COUNT
};

#define IQTRACK_ID_MAX 32

/* reply: whatever the caller handed to iqtrack_complete() (e.g. the
 * stanza), NULL for timeouts and cancellations; valid only during the
 * call. */
typedef void (*iqtrack_cb)(void *arg, enum iqtrack_result r, void *reply);

/* Returns a new tracker whose timers run on base; caller frees with
 * iqtrack_free(). */
struct iqtrack *iqtrack_new(struct event_base *base);
/* Cancels every pending request (callbacks get IQT_CANCELLED), then frees
 * the tracker; accepts NULL. */
void iqtrack_free(struct iqtrack *t);

/* Registers a request that expires after timeout_ms; writes its id, to be
 * put on the outgoing iq, into id_out. */
void iqtrack_add(struct iqtrack *t, int timeout_ms, iqtrack_cb cb, void *arg,
                 char id_out[IQTRACK_ID_MAX]);
/* Delivers a reply for id: calls the request's callback with IQT_RESULT
 * or IQT_ERROR and forgets it. Returns false (and calls nothing) if id is
 * unknown, stale or from another tracker. */
bool iqtrack_complete(struct iqtrack *t, const char *id, bool is_error,
                      void *reply);
/* Calls every pending callback with IQT_CANCELLED and forgets them. */
void iqtrack_cancel_all(struct iqtrack *t);
/* Requests in flight. */
size_t iqtrack_pending(const struct iqtrack *t);
/* Stable name of a result ("result", "error", "timeout", "cancelled"). */
const char *iqtrack_result_name(enum iqtrack_result r);

#endif
