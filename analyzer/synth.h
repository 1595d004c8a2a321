/*
 * A synthetic caps population grown from an observed one, for measuring
 * caches far larger than any collection: each new entry is a copy of an
 * observed entry (drawn uniformly) with one change of the kinds seen in the
 * wild, in these shares:
 *   - a new release: the version in the identity name (or in the XEP-0232
 *     software_version) changes;
 *   - a new OS build: the XEP-0232 os_version changes (only for entries
 *     that carry the form, as Tkabber's hashes do);
 *   - a feature-set variant: one feature added from the observed pool, or
 *     one removed (plugins, settings).
 * Every new entry is a real disco#info whose ver is its strict XEP-0115
 * hash, so lookups, searches and sizes behave as with real entries.
 */
#ifndef XC_SYNTH_H
#define XC_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "disco.h"

struct synth;

/* Returns a generator over the seeds (borrowed: they must outlive it);
 * seed is the random seed. Caller frees with synth_free(). */
struct synth *synth_new(struct disco_info *const *seeds, const char *const *nodes,
                        size_t n, uint64_t seed);
void synth_free(struct synth *g);

/* Makes the next synthetic entry: a new disco_info (caller frees), its
 * node (borrowed from the seeds) and its strict sha-1 ver (written into
 * ver, HASH_B64_MAX bytes). */
struct disco_info *synth_next(struct synth *g, const char **node, char *ver);

#endif
