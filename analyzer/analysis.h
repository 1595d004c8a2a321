/*
 * One analysis of the caps cache (issue 6): load the entries observed in
 * chosen sources from PostgreSQL into the interned model, then measure
 *   - the dataset (entries by (algorithm, ver) and by node#ver, software,
 *     features, XEP-0232 share),
 *   - sizes in the representations real software uses (raw disco#info XML,
 *     the verification string, ejabberd-style one row per feature measured
 *     as a real PostgreSQL relation, and our compact interned model),
 *   - the XEP-0232 counterfactual (entries that collapse when the
 *     software-information form is removed), per software and in total,
 *   - hit rates of LRU caches of the sizes real servers use, replaying a
 *     presence stream drawn from the observed popularity, with and without
 *     XEP-0232,
 * and return every figure as one JSON document (jansson), which the report
 * writer and the analysis_runs table take as they are.
 */
#ifndef XC_ANALYSIS_H
#define XC_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "capsmodel.h"
#include "pg.h"

struct analysis_params {
    const char *const *sources; /* source names; n_sources 0 = every source */
    size_t n_sources;
    uint64_t presences;         /* length of the replayed presence stream */
    double rate;                /* presences per second (for the 1 h TTL) */
    uint64_t seed;              /* of the stream's random draws */
    /* the PEP comparison's population (per login of one user) */
    unsigned roster;            /* contacts in the roster */
    double online;              /* share of them online */
    unsigned rooms;             /* rooms joined */
    unsigned room_size;         /* occupants per room */
    bool observed_popularity;   /* set by analysis_load(): some source is a
                                   crawl, so observation counts measure
                                   popularity (an import's do not) */
};

/* Loads the verified entries (outcome valid, or ill-formed with a
 * reproducing computation) observed in p's sources into m and sets
 * p->observed_popularity; returns the number of observation rows read, or
 * -1 with err filled. Reads the normalised tables (features as id arrays,
 * identities, XEP-0232 forms, the stored verification string) with COPY,
 * parsing no XML (analyzer/load.c). Entries are added in the order of
 * their caps_entries id, an entry's nodes byte-wise (as
 * analysis_load_xml()). */
long analysis_load(struct pg_conn *c, struct analysis_params *p,
                   struct capsmodel *m, struct pg_err *err);
/* The same by parsing every stored disco#info XML again: slower, the
 * reference the fast loader is tested against. */
long analysis_load_xml(struct pg_conn *c, struct analysis_params *p,
                       struct capsmodel *m, struct pg_err *err);

/* Computes every figure; c is used to measure the one-row-per-feature
 * table (a temporary table, dropped again). Returns a new JSON object
 * (caller json_decref()s), or NULL with err filled. */
json_t *analysis_run(struct pg_conn *c, const struct analysis_params *p,
                     const struct capsmodel *m, struct pg_err *err);

/* Records the analysis in analysis_runs; returns its id, or -1. */
long long analysis_store(struct pg_conn *c, const struct analysis_params *p,
                         json_t *results, struct pg_err *err);

/* Writes report.md, analysis.json and CSV files into DIR; false after
 * printing why. */
bool analysis_write_report(const char *dir, json_t *results);

#endif
