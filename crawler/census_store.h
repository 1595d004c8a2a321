/*
 * The census's results into the storage writer (crawler/store), and the
 * caps cache preloaded from the database. census_store_init() fills a
 * census sink and a caps cache sink whose callbacks put:
 *   room seen          -> store_put_item (service -> room, kind room) and
 *                         store_put_outcome probe "census-room", outcome =
 *                         the decision, detail "public=1 members_only=0
 *                         password=0 occupants=12"
 *   join answered      -> store_put_outcome probe "census-join"
 *   visit ended        -> store_put_outcome probe "census-visit", detail
 *                         "occupants=N with_caps=M", duration
 *   disco#items / info -> store_put_outcome probe "disco-items" / "disco-info"
 *   observations       -> store_put_caps_obs / store_put_caps2_obs
 *   hash resolved      -> store_put_caps_entry / store_put_caps2_entry
 *                         (XEP-0390 "error", content a hash input cannot
 *                         be built from, is stored as "ill-formed")
 *   each query         -> store_put_outcome probe "caps-resolve", outcome =
 *                         capscache_attempt_name(), detail "caps sha-1 VER
 *                         #2"; a hash given up: outcome "failed"
 * None of these carries an occupant's nick or JID: the sinks never get one.
 */
#ifndef XC_CENSUS_STORE_H
#define XC_CENSUS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capscache.h"
#include "census.h"

struct store;
struct pg_conn;
struct pg_err;

struct census_store {
    struct store *st;
    int64_t source_id;
    struct census_sink census;   /* give to census_new() */
    struct capscache_sink cache; /* give to capscache_new() */
    uint64_t puts, refused;      /* puts made / refused by the store */
};

/* Fills cs for st and source_id (sources.id of the crawl run); st must
 * outlive the census and the cache using cs. */
void census_store_init(struct census_store *cs, struct store *st,
                       int64_t source_id);

/* Preloads into cache every hash whose verdict the database already holds
 * and that asking again cannot change: XEP-0115 entries valid, ill-formed,
 * or mismatching by a named variant (possible poisoning is asked again:
 * another occupant may serve the right content), XEP-0390 entries valid or
 * ill-formed. Blocking (call before the event loop). Returns false with
 * err set on a database error; *n receives the number preloaded. */
bool census_store_preload(struct pg_conn *c, struct capscache *cache, size_t *n,
                          struct pg_err *err) MUST_CHECK;

#endif
