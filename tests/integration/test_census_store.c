/*
 * crawler/census_store against a real PostgreSQL database (argv[1]: the
 * conninfo of a fresh database of the shared xc_pg fixture, made by
 * census_store.sh): the caps cache is preloaded with exactly the verdicts
 * that asking again cannot change, and every census and cache sink
 * callback lands in its table (caps observations and entries, XEP-0390,
 * room links, outcomes) with nothing refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capscache.h"
#include "census.h"
#include "census_store.h"
#include "disco.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "sql_embedded.h"
#include "store.h"

static const char *conninfo;
static struct pg_conn *pc;
static struct event_base *base;

static void wake(evutil_socket_t fd, short what, void *arg)
{
}

static long long q1(const char *sql)
{
    struct pg_err err;
    bool found = false;
    char *v = pg_query_value(pc, sql, 0, NULL, &found, &err);
    if (!found)
        fail_msg("query failed: %s: %s", sql, err.msg);
    long long r = v ? atoll(v) : -1;
    free(v);
    return r;
}

static char *qs(const char *sql)
{
    struct pg_err err;
    bool found = false;
    char *v = pg_query_value(pc, sql, 0, NULL, &found, &err);
    if (!found)
        fail_msg("query failed: %s: %s", sql, err.msg);
    return v;
}

static void exec_sql(const char *sql)
{
    struct pg_err err;
    if (!pg_exec(pc, sql, &err))
        fail_msg("%s: %s", sql, err.msg);
}

static int setup(void **state)
{
    pc = pg_connect(conninfo);
    if (pc == NULL)
        return -1;
    struct migrate_report rep;
    if (migrate_apply(pc, sql_migrations, sql_migrations_count, &rep) !=
        MIGRATE_CURRENT) {
        fprintf(stderr, "migrate: %s\n", rep.msg);
        return -1;
    }
    base = event_base_new();
    return 0;
}

static int teardown(void **state)
{
    pg_close(pc);
    event_base_free(base);
    return 0;
}

static void test_preload(void **state)
{
    exec_sql("INSERT INTO caps_entries (algo, ver, outcome, error, matched_by) "
             "VALUES ('sha-1', 'V1', 'valid', NULL, 'strict'), "
             "('sha-1', 'V2', 'mismatch', NULL, 'escape-lt'), "
             "('sha-1', 'V3', 'mismatch', NULL, NULL), "
             "('sha-1', 'V4', 'unparsable', NULL, NULL), "
             "('sha-1', 'V5', 'ill-formed', 'duplicate-feature', 'lenient'), "
             "('', 'legacy1', 'legacy', NULL, NULL)");
    exec_sql("INSERT INTO caps2_entries (algo, value, outcome) VALUES "
             "('sha-256', 'W1', 'valid'), ('sha-256', 'W2', 'mismatch')");
    struct capscache_params cp = {.timeout_ms = 1000, .max_attempts = 1};
    struct capscache *c = capscache_new(&cp, NULL);
    size_t n = 0;
    struct pg_err err;
    assert_true(census_store_preload(pc, c, &n, &err));
    assert_int_equal(n, 4);
    assert_int_equal(capscache_state(c, CAPSCACHE_CAPS1, "sha-1", "V1"),
                     CCS_KNOWN);
    assert_int_equal(capscache_state(c, CAPSCACHE_CAPS1, "sha-1", "V2"),
                     CCS_KNOWN);
    assert_int_equal(capscache_state(c, CAPSCACHE_CAPS1, "sha-1", "V5"),
                     CCS_KNOWN);
    /* possible poisoning and unparsable answers are asked again */
    assert_int_equal(capscache_state(c, CAPSCACHE_CAPS1, "sha-1", "V3"),
                     CCS_UNKNOWN);
    assert_int_equal(capscache_state(c, CAPSCACHE_CAPS1, "sha-1", "V4"),
                     CCS_UNKNOWN);
    assert_int_equal(capscache_state(c, CAPSCACHE_CAPS2, "sha-256", "W1"),
                     CCS_KNOWN);
    assert_int_equal(capscache_state(c, CAPSCACHE_CAPS2, "sha-256", "W2"),
                     CCS_UNKNOWN);
    capscache_free(c);
}

struct done {
    bool called, ok;
};

static void done_cb(void *arg, bool ok)
{
    struct done *d = arg;
    d->called = true;
    d->ok = ok;
}

#define SERVICE "conference.example.org"
#define ROOM "pub@" SERVICE

static void test_sinks_into_tables(void **state)
{
    long long src = q1("INSERT INTO sources (kind, name) VALUES ('crawl', "
                       "'census') RETURNING id");
    struct store_opts o;
    store_opts_default(&o);
    o.conninfo = conninfo;
    o.spill_dir = "";
    o.flush_ms = 20;
    char why[256];
    struct store *st = store_new(base, &o, why, sizeof why);
    assert_non_null(st);
    struct census_store cs;
    census_store_init(&cs, st, src);

    struct census_room r = {SERVICE, ROOM, true, false, false, 7, CD_JOIN};
    cs.census.room(cs.census.arg, &r);
    cs.census.joined(cs.census.arg, SERVICE, ROOM, CJ_JOINED, NULL);
    struct census_visit v = {SERVICE, ROOM, CJ_JOINED, NULL, 7, 5, 60000};
    cs.census.visit(cs.census.arg, &v);
    cs.census.outcome(cs.census.arg, SERVICE, SERVICE, PROBE_DISCO_ITEMS,
                      OUT_OK, NULL, 12);
    struct census_obs ob = {SERVICE, CAPSCACHE_CAPS1,     "sha-1",
                            "V9",    "https://gajim.org", 3};
    cs.census.observed(cs.census.arg, &ob);
    struct census_obs ob2 = {SERVICE, CAPSCACHE_CAPS2, "sha-256", "W9", NULL,
                             2};
    cs.census.observed(cs.census.arg, &ob2);

    const char *xml =
        "<query xmlns='" DISCO_NS_INFO "'><identity category='client' "
        "type='pc' name='T'/><feature var='" DISCO_NS_INFO "'/></query>";
    struct parse_err perr;
    struct disco_info *info = disco_parse(xml, strlen(xml), NULL, &perr);
    assert_non_null(info);
    struct capscache_resolved res = {
        .kind = CAPSCACHE_CAPS1,
        .algo = "sha-1",
        .ver = "V9",
        .node = "https://gajim.org",
        .outcome = "mismatch",
        .matched_by = "escape-lt",
        .computed = "C9",
        .xml = xml,
        .info = info,
        .attempts = 1,
    };
    cs.cache.resolved(cs.cache.arg, &res);
    struct capscache_resolved res2 = {
        .kind = CAPSCACHE_CAPS2,
        .algo = "sha-256",
        .ver = "W9",
        .outcome = "error",
        .xml = xml,
        .info = info,
        .attempts = 1,
    };
    cs.cache.resolved(cs.cache.arg, &res2);
    cs.cache.attempt(cs.cache.arg, CAPSCACHE_CAPS1, "sha-1", "V9", 1,
                     CCA_TIMEOUT, NULL, 3000);
    cs.cache.failed(cs.cache.arg, CAPSCACHE_CAPS1, "sha-1", "V8", 3);
    disco_info_free(info);

    struct done d = {0};
    store_drain(st, 0, done_cb, &d);
    struct timeval tick = {0, 20000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    time_t end = time(NULL) + 30;
    while (!d.called && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    assert_true(d.called && d.ok);
    store_free(st);
    assert_int_equal(cs.refused, 0);
    assert_int_equal(cs.puts, 11);

    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count FROM caps_observations o JOIN entities e ON e.id "
             "= o.service_id WHERE o.source_id = %lld AND e.address = '" SERVICE
             "' AND o.algo = 'sha-1' AND o.ver = 'V9' AND "
             "o.node = 'https://gajim.org'",
             src);
    assert_int_equal(q1(sql), 3);
    snprintf(sql, sizeof sql,
             "SELECT count FROM caps2_observations WHERE source_id = %lld AND "
             "algo = 'sha-256' AND value = 'W9'",
             src);
    assert_int_equal(q1(sql), 2);
    char *s = qs("SELECT outcome || '/' || matched_by || '/' || computed_ver "
                 "FROM caps_entries WHERE algo = 'sha-1' AND ver = 'V9'");
    assert_string_equal(s, "mismatch/escape-lt/C9");
    free(s);
    s = qs("SELECT outcome FROM caps2_entries WHERE value = 'W9'");
    assert_string_equal(s, "ill-formed");
    free(s);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM probe_outcomes WHERE source_id = %lld", src);
    assert_int_equal(q1(sql), 6);
    snprintf(sql, sizeof sql,
             "SELECT string_agg(probe || ':' || outcome, ',' ORDER BY probe, "
             "outcome) FROM probe_outcomes WHERE source_id = %lld",
             src);
    s = qs(sql);
    assert_string_equal(s, "caps-resolve:failed,caps-resolve:timeout,"
                           "census-join:joined,census-room:join,"
                           "census-visit:joined,disco-items:ok");
    free(s);
    s = qs("SELECT detail FROM probe_outcomes WHERE probe = 'census-room'");
    assert_string_equal(s, "public=1 members_only=0 password=0 occupants=7");
    free(s);
    s = qs("SELECT kind FROM entities WHERE address = '" ROOM "'");
    assert_string_equal(s, "room");
    free(s);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_census_store CONNINFO\n");
        return 2;
    }
    conninfo = argv[1];
    log_max_level = LOG_WARN;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preload),
        cmocka_unit_test(test_sinks_into_tables),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
