/*
 * Caps-cache simulation: an LRU cache of caps entries with an optional
 * capacity and an optional time to live, as real servers and clients keep
 * them (Smack: LRU 1,000; ejabberd: 1,000 entries for 1 h; Prosody: LRU
 * 10,000; Gajim/Openfire: unbounded). Replaying a presence stream through it
 * gives the hit rate and how many disco#info queries the cache causes.
 *
 * Keys are entry ids (dense uint32 numbers from the analyzer's interned
 * model); the simulator stores no entry data, only recency and age.
 */
#ifndef XC_CACHESIM_H
#define XC_CACHESIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cachesim;

struct cachesim_stats {
    uint64_t accesses;
    uint64_t hits;
    uint64_t misses;      /* each one is a disco#info query */
    uint64_t evictions;   /* dropped for capacity */
    uint64_t expirations; /* found but older than the time to live */
    size_t peak_size;
};

/* Returns a new cache; capacity 0 = unbounded, ttl_ms 0 = entries never
 * expire. An expired entry counts as a miss and is inserted anew (a hit does
 * not extend its life: the age counts from insertion, as ejabberd's cache).
 * Caller frees with cachesim_free(). */
struct cachesim *cachesim_new(size_t capacity, int64_t ttl_ms);
void cachesim_free(struct cachesim *c);

/* Looks key up at time now_ms (non-decreasing across calls); on a miss
 * inserts it, evicting the least recently used entry when full. Returns true
 * on a hit. */
bool cachesim_access(struct cachesim *c, uint32_t key, int64_t now_ms);

/* Number of entries held now. */
size_t cachesim_size(const struct cachesim *c);

/* Counters since creation. */
const struct cachesim_stats *cachesim_stats(const struct cachesim *c);

#endif
