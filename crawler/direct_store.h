/*
 * The direct prober's results into the storage writer (crawler/store):
 * SRV answers into srv_records, the features of every stream (before and
 * after TLS) into stream_features, TLS facts into tls_facts, and one
 * outcome per connection (or per service whose DNS gave none) into
 * probe_outcomes as probe "direct-c2s" / "direct-s2s". The prober reports
 * by domain name; the rows need the domain's id, so every probe is started
 * through direct_store_probe(), which remembers it until the probe ends.
 */
#ifndef XC_DIRECT_STORE_H
#define XC_DIRECT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "direct.h"

struct store;
struct direct_store;

/* Returns a new adapter writing to st (borrowed); its sink is what
 * direct_new() must be given (direct_store_sink()). Free with
 * direct_store_free() after the prober. */
struct direct_store *direct_store_new(struct store *st);
void direct_store_free(struct direct_store *ds);
const struct direct_sink *direct_store_sink(const struct direct_store *ds);

/* Probes domain (domains.id domain_id) for run source_id with d, whose
 * sink is this adapter's; done runs when the probe ends. False if the
 * prober refused to start (then done never runs). */
bool direct_store_probe(struct direct_store *ds, struct direct *d,
                        const char *domain, int64_t domain_id,
                        int64_t source_id, direct_done_cb done, void *arg);

#endif
