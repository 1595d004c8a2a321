/*
 * Census and caps cache sinks that put into the storage writer, and the
 * preloading of the caps cache from caps_entries / caps2_entries.
 */
#include "census_store.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pg.h"
#include "softinfo.h"
#include "store.h"

static void count(struct census_store *cs, bool ok, const char *what)
{
    cs->puts++;
    if (!ok) {
        cs->refused++;
        log_debug("U %s refused by the store", what);
    }
}

static void put_outcome(struct census_store *cs, const char *address,
                        enum store_entity_kind kind, const char *probe,
                        const char *outcome, const char *cond,
                        const char *detail, int ms)
{
    struct store_outcome so = {
        .source_id = cs->source_id,
        .entity = {address, NULL, kind, 0},
        .probe = probe,
        .outcome = outcome,
        .condition = cond,
        .detail = detail,
        .duration_ms = ms,
    };
    count(cs, store_put_outcome(cs->st, &so), probe);
}

static void s_room(void *arg, const struct census_room *r)
{
    struct census_store *cs = arg;
    struct store_item it = {
        .source_id = cs->source_id,
        .parent = {r->service, NULL, STORE_ENT_MUC, 0},
        .child = {r->room, NULL, STORE_ENT_ROOM, 0},
    };
    count(cs, store_put_item(cs->st, &it), "room item");
    char detail[128];
    snprintf(detail, sizeof detail,
             "public=%d members_only=%d password=%d occupants=%ld",
             r->is_public, r->members_only, r->password, r->occupants);
    put_outcome(cs, r->room, STORE_ENT_ROOM, "census-room",
                census_decision_name(r->decision), NULL, detail, -1);
}

static void s_joined(void *arg, const char *service, const char *room,
                     enum census_join o, const char *cond)
{
    put_outcome(arg, room, STORE_ENT_ROOM, "census-join", census_join_name(o),
                cond, NULL, -1);
}

static void s_visit(void *arg, const struct census_visit *v)
{
    char detail[64];
    snprintf(detail, sizeof detail, "occupants=%u with_caps=%u", v->occupants,
             v->with_caps);
    put_outcome(arg, v->room, STORE_ENT_ROOM, "census-visit",
                census_join_name(v->outcome), v->condition, detail,
                v->duration_ms);
}

static void s_observed(void *arg, const struct census_obs *o)
{
    struct census_store *cs = arg;
    struct store_entity service = {o->service, NULL, STORE_ENT_MUC, 0};
    if (o->kind == CAPSCACHE_CAPS1) {
        struct store_caps_obs c = {
            .source_id = cs->source_id,
            .service = service,
            .algo = o->algo,
            .ver = o->ver,
            .node = o->node ? o->node : "",
            .count = o->count,
        };
        count(cs, store_put_caps_obs(cs->st, &c), "caps observation");
    } else {
        struct store_caps2_obs c = {
            .source_id = cs->source_id,
            .service = service,
            .algo = o->algo,
            .value = o->ver,
            .count = o->count,
        };
        count(cs, store_put_caps2_obs(cs->st, &c), "caps2 observation");
    }
}

static void s_outcome(void *arg, const char *service, const char *address,
                      enum probe_kind probe, enum probe_outcome o,
                      const char *cond, int ms)
{
    put_outcome(arg, address,
                strcmp(service, address) == 0 ? STORE_ENT_MUC : STORE_ENT_ROOM,
                probe_kind_name(probe), probe_outcome_name(o), cond, NULL, ms);
}

static void c_resolved(void *arg, const struct capscache_resolved *r)
{
    struct census_store *cs = arg;
    if (r->kind == CAPSCACHE_CAPS1) {
        struct store_caps_entry e = {
            .source_id = cs->source_id,
            .algo = r->algo,
            .ver = r->ver,
            .node = r->node ? r->node : "",
            .outcome = r->outcome,
            .error = r->error,
            .matched_by = r->matched_by,
            .computed_ver = r->computed,
            .has_softinfo =
                r->info && disco_find_form(r->info, SOFTINFO_FORM_TYPE) != NULL,
            .xml = r->xml,
            .xml_len = r->xml ? strlen(r->xml) : 0,
            .info = r->info,
        };
        count(cs, store_put_caps_entry(cs->st, &e), "caps entry");
    } else {
        /* "error": no hash input can be built from the content */
        struct store_caps2_entry e = {
            .algo = r->algo,
            .value = r->ver,
            .outcome =
                strcmp(r->outcome, "error") == 0 ? "ill-formed" : r->outcome,
            .xml = r->xml,
            .xml_len = r->xml ? strlen(r->xml) : 0,
            .info = r->info,
        };
        count(cs, store_put_caps2_entry(cs->st, &e), "caps2 entry");
    }
}

static void c_attempt(void *arg, enum capscache_kind kind, const char *algo,
                      const char *ver, unsigned n, enum capscache_attempt o,
                      const char *cond, int ms)
{
    char detail[256];
    snprintf(detail, sizeof detail, "%s %s %s #%u", capscache_kind_name(kind),
             algo, ver, n);
    put_outcome(arg, NULL, STORE_ENT_UNKNOWN, "caps-resolve",
                capscache_attempt_name(o), cond, detail, ms);
}

static void c_failed(void *arg, enum capscache_kind kind, const char *algo,
                     const char *ver, unsigned attempts)
{
    char detail[256];
    snprintf(detail, sizeof detail, "%s %s %s after %u queries",
             capscache_kind_name(kind), algo, ver, attempts);
    put_outcome(arg, NULL, STORE_ENT_UNKNOWN, "caps-resolve", "failed", NULL,
                detail, -1);
}

void census_store_init(struct census_store *cs, struct store *st,
                       int64_t source_id)
{
    memset(cs, 0, sizeof *cs);
    cs->st = st;
    cs->source_id = source_id;
    cs->census = (struct census_sink){cs,      s_room,     s_joined,
                                      s_visit, s_observed, s_outcome};
    cs->cache = (struct capscache_sink){cs, c_resolved, c_attempt, c_failed};
}

static bool preload(struct pg_conn *c, struct capscache *cache,
                    enum capscache_kind kind, const char *sql, size_t *n,
                    struct pg_err *err)
{
    struct pg_result *r = pg_query(c, sql, 0, NULL, err);
    if (r == NULL)
        return false;
    for (int i = 0; i < pg_nrows(r); i++)
        if (capscache_preload(cache, kind, pg_value(r, i, 0),
                              pg_value(r, i, 1)))
            (*n)++;
    pg_clear(r);
    return true;
}

bool census_store_preload(struct pg_conn *c, struct capscache *cache, size_t *n,
                          struct pg_err *err)
{
    *n = 0;
    return preload(c, cache, CAPSCACHE_CAPS1,
                   "SELECT algo, ver FROM caps_entries WHERE algo <> '' AND "
                   "(outcome IN ('valid', 'ill-formed') OR (outcome = "
                   "'mismatch' AND matched_by IS NOT NULL))",
                   n, err) &&
           preload(c, cache, CAPSCACHE_CAPS2,
                   "SELECT algo, value FROM caps2_entries WHERE outcome IN "
                   "('valid', 'ill-formed')",
                   n, err);
}
