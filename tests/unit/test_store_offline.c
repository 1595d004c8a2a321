/*
 * crawler/store without a database (its connection points at a Unix
 * socket that does not exist, so nothing leaves the machine): every kind
 * of invalid put is refused and counted; batches close at their bounds;
 * beyond max_memory they spill to files that parse back with the rows put;
 * a drain that gives up leaves every record in a file; a new store adopts
 * the files; a spill directory has one owner; back-pressure pauses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "store_copy.h"
#include "xalloc.h"

#define NOWHERE "host=/nonexistent-xcensus-test dbname=none"

static struct event_base *base;

static void opts(struct store_opts *o, const char *spill)
{
    store_opts_default(o);
    o->conninfo = NOWHERE;
    o->spill_dir = spill;
    o->batch_rows = 10;
    o->flush_ms = 1000;
}

static struct store *new_store(const char *spill)
{
    struct store_opts o;
    opts(&o, spill);
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    return s;
}

static void test_refusals(void **state)
{
    struct store *s = new_store(NULL);
    const struct store_entity ok = {"a.example", NULL, STORE_ENT_SERVER, 0};
    const struct store_entity occupant = {"room@muc.example/nick", NULL,
                                          STORE_ENT_ROOM, 0};
    const struct store_entity empty = {"", NULL, STORE_ENT_SERVER, 0};
    const struct store_entity badkind = {"a.example", NULL,
                                         (enum store_entity_kind)99, 0};
    char *big = xmalloc(4000);
    memset(big, 'x', 3999);
    big[3999] = '\0';
    const struct store_entity huge = {big, NULL, STORE_ENT_SERVER, 0};
    const struct store_entity hugenode = {"a.example", big, STORE_ENT_SERVER,
                                          0};

    struct store_disco d = {
        .source_id = 1, .entity = ok, .xml = "<x/>", .xml_len = 4};
    assert_true(store_put_disco(s, &d));
    const struct store_entity bad[] = {occupant, empty, badkind, huge,
                                       hugenode};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d.entity = bad[i];
        assert_false(store_put_disco(s, &d));
    }
    d.entity = ok;
    d.source_id = 0;
    assert_false(store_put_disco(s, &d));
    d.source_id = 1;
    d.xml = NULL;
    assert_false(store_put_disco(s, &d)); /* neither xml nor info */

    struct store_item it = {.source_id = 1, .parent = ok, .child = occupant};
    assert_false(store_put_item(s, &it));
    struct store_version v = {.source_id = 1, .entity = occupant};
    assert_false(store_put_version(s, &v));

    struct store_outcome oc = {.source_id = 1, .probe = "p", .outcome = "ok"};
    assert_true(store_put_outcome(s, &oc)); /* no entity is fine */
    oc.probe = "";
    assert_false(store_put_outcome(s, &oc));
    oc.probe = big;
    assert_false(store_put_outcome(s, &oc));
    oc.probe = "p";
    oc.outcome = NULL;
    assert_false(store_put_outcome(s, &oc));

    struct store_caps_obs co = {
        .source_id = 1, .algo = "sha-1", .ver = "v", .node = "n", .count = 1};
    assert_true(store_put_caps_obs(s, &co));
    co.count = 0;
    assert_false(store_put_caps_obs(s, &co));
    co.count = 1;
    co.algo = "0123456789012345678901234567890123";
    assert_false(store_put_caps_obs(s, &co));
    co.algo = "sha-1";
    co.service = occupant;
    assert_false(store_put_caps_obs(s, &co));

    const struct {
        const char *algo, *outcome, *error, *matched_by;
        bool ok;
    } ce[] = {
        {"sha-1", "valid", NULL, "strict", true},
        {"sha-1", "ill-formed", "duplicate-feature", "lenient", true},
        {"", "legacy", NULL, NULL, true},
        {"sha-1", "valid", "duplicate-feature", NULL, false},
        {"", "valid", NULL, NULL, false},
        {"sha-1", "bogus", NULL, NULL, false},
        {"sha-1", "ill-formed", "bogus", NULL, false},
        {"sha-1", "valid", NULL, "", false},
    };
    for (size_t i = 0; i < sizeof ce / sizeof ce[0]; i++) {
        struct store_caps_entry e = {.source_id = 1,
                                     .algo = ce[i].algo,
                                     .ver = "v",
                                     .outcome = ce[i].outcome,
                                     .error = ce[i].error,
                                     .matched_by = ce[i].matched_by};
        if (store_put_caps_entry(s, &e) != ce[i].ok)
            fail_msg("caps entry case %zu", i);
    }
    struct store_caps2_entry c2 = {
        .algo = "sha-256", .value = "v", .outcome = "error"};
    assert_true(store_put_caps2_entry(s, &c2));
    c2.outcome = "legacy"; /* not a caps2 verdict */
    assert_false(store_put_caps2_entry(s, &c2));
    c2.outcome = "valid";
    c2.algo = "";
    assert_false(store_put_caps2_entry(s, &c2));

    struct store_srv srv = {.source_id = 1,
                            .domain_id = 1,
                            .service = "xmpp-client",
                            .target = "t",
                            .port = 5222};
    assert_true(store_put_srv(s, &srv));
    srv.port = 65536;
    assert_false(store_put_srv(s, &srv));
    srv.port = 5222;
    srv.service = "http";
    assert_false(store_put_srv(s, &srv));
    srv.service = "xmpp-client";
    srv.domain_id = 0;
    assert_false(store_put_srv(s, &srv));

    struct store_stream sf = {.source_id = 1,
                              .domain_id = 1,
                              .stream = "s2s",
                              .target = "t",
                              .ip = "::1",
                              .port = 5269,
                              .phase = "pre-tls"};
    assert_true(store_put_stream(s, &sf));
    sf.ip = "256.1.1.1";
    assert_false(store_put_stream(s, &sf));
    sf.ip = NULL;
    sf.phase = "during-tls";
    assert_false(store_put_stream(s, &sf));
    sf.phase = "post-tls";
    sf.starttls = "maybe";
    assert_false(store_put_stream(s, &sf));

    struct store_tls t = {.source_id = 1,
                          .domain_id = 1,
                          .stream = "c2s",
                          .target = "t",
                          .port = 5223,
                          .verifies = -1};
    assert_true(store_put_tls(s, &t));
    t.stream = "x2s";
    assert_false(store_put_tls(s, &t));

    struct store_stats st;
    store_get_stats(s, &st);
    assert_int_equal(st.refused[STORE_DISCO], 7);
    assert_int_equal(st.refused[STORE_ITEM], 1);
    assert_int_equal(st.refused[STORE_VERSION], 1);
    assert_int_equal(st.refused[STORE_OUTCOME], 3);
    assert_int_equal(st.refused[STORE_CAPS_OBS], 3);
    assert_int_equal(st.refused[STORE_CAPS_ENTRY], 5);
    assert_int_equal(st.refused[STORE_CAPS2_ENTRY], 2);
    assert_int_equal(st.refused[STORE_SRV], 3);
    assert_int_equal(st.refused[STORE_STREAM], 3);
    assert_int_equal(st.refused[STORE_TLS], 1);
    assert_int_equal(st.rows_queued[STORE_CAPS_ENTRY], 3);
    assert_false(st.db_up);
    free(big);
    store_free(s);
}

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/xcensus-store-test.XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return xstrdup(d);
}

static void rmrf(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

/* Rows recorded in the batch files of dir (0 if none); *files gets the
 * number of files. Every file must parse. */
static long long rows_in_files(const char *dir, size_t *files)
{
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    long long rows = 0;
    *files = 0;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 6, ".batch") != 0)
            continue;
        char *path = xasprintf("%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char *data = xmalloc(1 << 20);
        size_t n = fread(data, 1, 1 << 20, f);
        fclose(f);
        struct store_file sf;
        struct parse_err err;
        if (!store_file_parse(data, n, &sf, &err))
            fail_msg("%s: %s", path, err.msg);
        assert_string_equal(sf.kind, "outcome");
        /* one st_out line per record */
        long long lines = 0;
        for (size_t k = 0; k < sf.nsec; k++)
            if (strcmp(sf.sec[k].name, "st_out") == 0)
                for (size_t i = 0; i < sf.sec[k].len; i++)
                    lines += sf.sec[k].data[i] == '\n';
        assert_int_equal(lines, sf.rows);
        rows += sf.rows;
        (*files)++;
        free(data);
        free(path);
    }
    closedir(dh);
    return rows;
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

static void put_outcomes(struct store *s, int n)
{
    for (int i = 0; i < n; i++) {
        char detail[32];
        snprintf(detail, sizeof detail, "record %d", i);
        struct store_outcome o = {.source_id = 1,
                                  .probe = "disco-info",
                                  .outcome = "timeout",
                                  .detail = detail,
                                  .duration_ms = 30000};
        assert_true(store_put_outcome(s, &o));
    }
}

static void test_spill_give_up_adopt(void **state)
{
    enum { N = 995 };
    char *dir = tmpdir();
    struct store_opts o;
    opts(&o, dir);
    o.max_memory = 2000; /* about two batches */
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    /* one owner per spill directory */
    assert_null(store_new(base, &o, why, sizeof why));
    put_outcomes(s, N);
    struct store_stats st;
    store_get_stats(s, &st);
    assert_int_equal(st.batches_sealed, N / 10);
    assert_true(st.batches_spilled > 0);
    assert_true(st.queued_bytes > 0);
    size_t files;
    long long rows = rows_in_files(dir, &files);
    assert_int_equal(rows, 10 * (long long)files);
    assert_int_equal(files, st.batches_spilled);

    struct done d = {0};
    store_drain(s, 50, done_cb, &d);
    while (!d.called)
        event_base_loop(base, EVLOOP_ONCE);
    assert_false(d.ok);
    store_free(s);
    /* every record is in a file: the next run has them all */
    assert_int_equal(rows_in_files(dir, &files), N);
    assert_int_equal(files, N / 10 + 1);

    s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    store_get_stats(s, &st);
    assert_int_equal(st.batches_queued, files);
    assert_true(st.spill_bytes > 0);
    assert_int_equal(st.rows_written[STORE_OUTCOME], 0);
    store_free(s);
    assert_int_equal(rows_in_files(dir, &files), N); /* still all there */
    rmrf(dir);
    free(dir);
}

static int pauses, resumes;

static void pressure(void *arg, bool pause)
{
    if (pause)
        pauses++;
    else
        resumes++;
}

static void test_pressure_without_database(void **state)
{
    struct store_opts o;
    opts(&o, NULL);
    o.high_water = 10000;
    o.low_water = 100;
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    store_set_pressure_cb(s, pressure, NULL);
    struct store_stats st;
    int n = 0;
    do {
        put_outcomes(s, 1);
        n++;
        store_get_stats(s, &st);
        assert_int_equal(pauses, st.queued_bytes >= o.high_water ? 1 : 0);
    } while (pauses == 0);
    put_outcomes(s, 100);
    assert_int_equal(pauses, 1);
    assert_int_equal(resumes, 0);
    store_free(s);

    /* memory alone over max_memory by a quarter pauses too (no spill) */
    pauses = 0;
    opts(&o, NULL);
    o.max_memory = 4000;
    o.high_water = 1 << 30;
    s = store_new(base, &o, why, sizeof why);
    store_set_pressure_cb(s, pressure, NULL);
    put_outcomes(s, 200);
    store_get_stats(s, &st);
    assert_true(st.memory_bytes >= 5000);
    assert_int_equal(pauses, 1);
    store_free(s);
}

int main(void)
{
    log_max_level = getenv("XC_DEBUG") ? LOG_DEBUG : LOG_ERROR;
    base = event_base_new();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_spill_give_up_adopt),
        cmocka_unit_test(test_pressure_without_database),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    event_base_free(base);
    return rc;
}
