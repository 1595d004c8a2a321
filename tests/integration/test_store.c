/*
 * crawler/store against a real PostgreSQL started by this test (argv[1] is
 * scripts/pg, argv[2] the cluster directory, argv[3] a scratch directory
 * for spill files): thousands of records of every kind compared with the
 * tables; hostile strings round-trip; two writers intern the same contents
 * at once; the server stopped mid-stream with a small memory bound (the
 * batches spill) and started again: every record arrives exactly once; a
 * batch replayed from a spill file by a restarted process changes nothing;
 * back-pressure fires at the marks; a refused batch is set aside and the
 * queue goes on; a spill directory is owned by one process.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "disco.h"
#include "hash.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "store.h"
#include "store_copy.h"
#include "xalloc.h"

static const char *pg_script, *pg_dir, *scratch;
static char conninfo[1200];
static struct event_base *base;
static struct pg_conn *pc;

static int pg_ctl(const char *what)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s %s'%s' >/dev/null 2>&1", pg_script, what,
             strcmp(what, "start") == 0 ? "--fast " : "", pg_dir);
    return system(cmd);
}

/* A database outage for the test's own connection: the server stopped and
 * the connection closed; db_up() starts it and connects again. */
static void db_down(void)
{
    assert_int_equal(pg_ctl("stop"), 0);
    pg_close(pc);
    pc = NULL;
}

static void db_up(void)
{
    assert_int_equal(pg_ctl("start"), 0);
    pc = pg_connect(conninfo);
    assert_non_null(pc);
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *flag is set, for at most 120 s of wall-clock time. */
static void run_until(const bool *flag)
{
    struct timeval tick = {0, 20000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    time_t end = time(NULL) + 120;
    while (!*flag && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    assert_true(*flag);
}

/* Runs the loop for about ms milliseconds. */
static void run_for(int ms)
{
    bool never = false;
    struct timeval tick = {0, 10000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        event_base_loop(base, EVLOOP_ONCE);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (!never && (t.tv_sec - t0.tv_sec) * 1000 +
                               (t.tv_nsec - t0.tv_nsec) / 1000000 <
                           ms);
    event_free(ev);
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

/* Drains s (waiting as long as it takes) and asserts success. */
static void drain(struct store *s)
{
    struct done d = {0};
    store_drain(s, 0, done_cb, &d);
    run_until(&d.called);
    assert_true(d.ok);
}

static long long q1(const char *sql)
{
    struct pg_err err;
    bool found = false;
    char *v = pg_query_value(pc, sql, 0, NULL, &found, &err);
    if (!found)
        fail_msg("query failed: %s: %s", sql, err.msg);
    long long n = atoll(v);
    free(v);
    return n;
}

/* Asserts that sql (one text column) returns exactly the lines of want
 * (each ending in '\n'), compared as sorted byte strings. */
static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void expect_rows(const char *sql, struct buf *want)
{
    struct pg_err err;
    struct pg_result *r = pg_query(pc, sql, 0, NULL, &err);
    if (r == NULL)
        fail_msg("query failed: %s: %s", sql, err.msg);
    size_t n = 0, cap = 16;
    char **lines = xcalloc(cap, sizeof *lines);
    char *data = want->data ? want->data : (char *)"";
    for (char *p = data, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        if (n == cap)
            lines = xreallocarray(lines, cap *= 2, sizeof *lines);
        lines[n++] = xstrndup(p, (size_t)(nl - p));
    }
    qsort(lines, n, sizeof *lines, cmp_line);
    int got = pg_nrows(r);
    char **rows = xcalloc((size_t)got + 1, sizeof *rows);
    for (int i = 0; i < got; i++)
        rows[i] = xstrdup(pg_value(r, i, 0));
    qsort(rows, (size_t)got, sizeof *rows, cmp_line);
    if ((size_t)got != n)
        fail_msg("%s: %d rows, want %zu", sql, got, n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i], lines[i]) != 0)
            fail_msg("%s: row %zu is \"%s\", want \"%s\"", sql, i, rows[i],
                     lines[i]);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    for (int i = 0; i < got; i++)
        free(rows[i]);
    free(lines);
    free(rows);
    pg_clear(r);
}

/* A new source (crawl run) for one test; returns its id. */
static int64_t new_source(const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO sources (kind, name) VALUES ('crawl', '%s') "
             "RETURNING id",
             name);
    return q1(sql);
}

static void opts_for(struct store_opts *o, const char *spill)
{
    store_opts_default(o);
    o->conninfo = conninfo;
    o->spill_dir = spill;
    o->batch_rows = 300;
    o->flush_ms = 20;
    o->reconnect_min_ms = 20;
    o->reconnect_max_ms = 200;
    o->retry_max_ms = 200;
}

static char *scratch_dir(const char *name)
{
    char *d = xasprintf("%s/%s", scratch, name);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
    return d;
}

static size_t count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), k = strlen(suffix);
        n += l > k && strcmp(e->d_name + l - k, suffix) == 0;
    }
    closedir(d);
    return n;
}

static int setup(void **state)
{
    if (pg_ctl("start") != 0) {
        fprintf(stderr, "could not start PostgreSQL with %s\n", pg_script);
        return -1;
    }
    char cmd[2048], base_ci[1024];
    snprintf(cmd, sizeof cmd, "'%s' conninfo '%s'", pg_script, pg_dir);
    FILE *f = popen(cmd, "r");
    if (f == NULL || fgets(base_ci, sizeof base_ci, f) == NULL)
        return -1;
    pclose(f);
    base_ci[strcspn(base_ci, "\n")] = '\0';
    struct pg_conn *c = pg_connect(base_ci);
    if (c == NULL)
        return -1;
    struct pg_err err;
    if (!pg_exec(c, "DROP DATABASE IF EXISTS xc_store", &err) ||
        !pg_exec(c, "CREATE DATABASE xc_store", &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    pg_close(c);
    snprintf(conninfo, sizeof conninfo, "%s dbname=xc_store", base_ci);
    pc = pg_connect(conninfo);
    if (pc == NULL)
        return -1;
    struct migrate_report rep;
    if (migrate_apply(pc, sql_migrations, sql_migrations_count, &rep) !=
        MIGRATE_CURRENT) {
        fprintf(stderr, "migrate: %s\n", rep.msg);
        return -1;
    }
    if (!pg_exec(pc, "INSERT INTO domains (name) VALUES ('example.org')", &err))
        return -1;
    mkdir(scratch, 0700);
    base = event_base_new();
    return 0;
}

static int teardown(void **state)
{
    pg_close(pc);
    event_base_free(base);
    pg_ctl("stop");
    return 0;
}

/* --- content generation -------------------------------------------------- */

/* The disco#info answer number k (k < 50): identities, features (one of
 * them repeated), a softwareinfo form and a serverinfo form. */
static char *content_xml(int k)
{
    struct buf b = BUF_INIT;
    buf_printf(&b,
               "<query xmlns='http://jabber.org/protocol/disco#info'>"
               "<identity category='server' type='im' name='Server %d'/>"
               "<feature var='http://jabber.org/protocol/disco#info'/>"
               "<feature var='urn:test:feature:%d'/>"
               "<feature var='urn:test:feature:%d'/>"
               "<feature var='urn:test:shared'/>",
               k, k % 7, k % 7);
    if (k % 2 == 0)
        buf_printf(&b,
                   "<x xmlns='jabber:x:data' type='result'>"
                   "<field var='FORM_TYPE' type='hidden'><value>"
                   "urn:xmpp:dataforms:softwareinfo</value></field>"
                   "<field var='software'><value>Soft %d</value></field>"
                   "<field var='software_version'><value>1.%d</value></field>"
                   "</x>",
                   k, k);
    if (k % 5 == 0)
        buf_printf(&b,
                   "<x xmlns='jabber:x:data' type='result'>"
                   "<field var='FORM_TYPE' type='hidden'><value>"
                   "http://jabber.org/network/serverinfo</value></field>"
                   "<field var='abuse-addresses'><value>mailto:abuse@s%d."
                   "example</value><value>xmpp:abuse@s%d.example</value>"
                   "</field></x>",
                   k, k);
    buf_puts(&b, "</query>");
    return buf_steal(&b);
}

static void hex_sha256(const char *s, char hex[65])
{
    unsigned char d[HASH_MAX_LEN];
    assert_true(hash_digest(HASH_SHA256, s, strlen(s), d));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* --- tests --------------------------------------------------------------- */

static void test_every_kind(void **state)
{
    enum { N = 2000 };
    int64_t src = new_source("every-kind");
    int64_t dom = q1("SELECT id FROM domains WHERE name = 'example.org'");
    char *spill = scratch_dir("every-kind");
    struct store_opts o;
    opts_for(&o, spill);
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);

    struct buf w_snap = BUF_INIT, w_link = BUF_INIT, w_ver = BUF_INIT,
               w_out = BUF_INIT, w_cobs = BUF_INIT, w_cent = BUF_INIT,
               w_c2 = BUF_INIT, w_c2e = BUF_INIT, w_srv = BUF_INIT,
               w_stream = BUF_INIT, w_tls = BUF_INIT;
    char addr[64], child[64], node[64], ver[64], detail[64], ip[64];
    for (int i = 0; i < N; i++) {
        snprintf(addr, sizeof addr, "s%d.example", i);
        snprintf(child, sizeof child, "muc.s%d.example", i);
        /* disco#info: 50 distinct contents among 2000 snapshots */
        char *xml = content_xml(i % 50);
        struct store_disco d = {.source_id = src,
                                .entity = {addr, NULL, STORE_ENT_SERVER, dom},
                                .xml = xml,
                                .xml_len = strlen(xml)};
        assert_true(store_put_disco(s, &d));
        char hex[65];
        hex_sha256(xml, hex);
        buf_printf(&w_snap, "%s|%s\n", addr, hex);
        free(xml);
        struct store_item it = {.source_id = src,
                                .parent = {addr, NULL, STORE_ENT_SERVER, dom},
                                .child = {child, NULL, STORE_ENT_MUC, dom},
                                .name = "Chatrooms"};
        assert_true(store_put_item(s, &it));
        buf_printf(&w_link, "%s|%s|Chatrooms|muc\n", addr, child);
        snprintf(ver, sizeof ver, "0.%d", i);
        struct store_version v = {.source_id = src,
                                  .entity = {addr, NULL, STORE_ENT_SERVER, dom},
                                  .name = "Prosody",
                                  .version = ver,
                                  .os = i % 3 ? "Linux" : NULL};
        assert_true(store_put_version(s, &v));
        buf_printf(&w_ver, "%s|Prosody|%s|%s\n", addr, ver,
                   i % 3 ? "Linux" : "(null)");
        snprintf(detail, sizeof detail, "record %d", i);
        struct store_outcome oc = {
            .source_id = src,
            .domain_id = dom,
            .entity = {i % 4 ? addr : NULL, NULL, STORE_ENT_SERVER, dom},
            .probe = "disco-info",
            .outcome = i % 10 ? "ok" : "iq-error",
            .condition = i % 10 ? NULL : "service-unavailable",
            .detail = detail,
            .duration_ms = i};
        assert_true(store_put_outcome(s, &oc));
        buf_printf(&w_out, "%s|%s|%s|%s|%d\n", i % 4 ? addr : "(null)",
                   i % 10 ? "ok" : "iq-error",
                   i % 10 ? "(null)" : "service-unavailable", detail, i);
        /* caps observations: 100 keys on 4 services, counts add up */
        snprintf(ver, sizeof ver, "ver%d=", i % 100);
        snprintf(node, sizeof node, "https://client%d.example", i % 10);
        snprintf(child, sizeof child, "conference%d.example", i % 4);
        struct store_caps_obs co = {.source_id = src,
                                    .service = {child, NULL, STORE_ENT_MUC, 0},
                                    .algo = "sha-1",
                                    .ver = ver,
                                    .node = node,
                                    .count = 1 + i % 3};
        assert_true(store_put_caps_obs(s, &co));
        struct store_caps2_obs c2 = {.source_id = src,
                                     .service = {NULL, NULL, 0, 0},
                                     .algo = "sha-256",
                                     .value = ver,
                                     .count = 2};
        assert_true(store_put_caps2_obs(s, &c2));
        /* caps entries: 200 (algo, ver), each resolved 10 times under 2
         * nodes; every 4th resolution a mismatch */
        snprintf(ver, sizeof ver, "entry%d=", i % 200);
        snprintf(node, sizeof node, "https://n%d.example", i % 2);
        char *cx = content_xml(i % 200 % 50);
        struct store_caps_entry ce = {
            .source_id = src,
            .algo = "sha-1",
            .ver = ver,
            .node = node,
            .outcome = (i / 200) % 4 == 3 ? "mismatch" : "valid",
            .matched_by = (i / 200) % 4 == 3 ? NULL : "strict",
            .xml = cx,
            .xml_len = strlen(cx)};
        assert_true(store_put_caps_entry(s, &ce));
        free(cx);
        struct store_caps2_entry c2e = {
            .algo = "sha-256", .value = ver, .outcome = "error"};
        assert_true(store_put_caps2_entry(s, &c2e));
        struct store_srv srv = {.source_id = src,
                                .domain_id = dom,
                                .service = "xmpp-client",
                                .target = addr,
                                .port = 5222,
                                .priority = i % 5,
                                .weight = -1};
        assert_true(store_put_srv(s, &srv));
        buf_printf(&w_srv, "%s|5222|%d|(null)\n", addr, i % 5);
        if (i % 2)
            snprintf(ip, sizeof ip, "10.0.%d.%d", i / 256, i % 256);
        else
            snprintf(ip, sizeof ip, "fd00::1:%x", i % 256 + 1);
        const char *mechs[] = {"SCRAM-SHA-1", i % 2 ? "PLAIN" : NULL,
                               "X-\"odd\\mech}"};
        const char *other[] = {"urn:xmpp:features:rosterver"};
        struct store_stream sf = {.source_id = src,
                                  .domain_id = dom,
                                  .stream = "c2s",
                                  .target = addr,
                                  .ip = ip,
                                  .port = 5222,
                                  .phase = "post-tls",
                                  .starttls = "required",
                                  .mechanisms = mechs,
                                  .n_mechanisms = 3,
                                  .sm = i % 2,
                                  .other = other,
                                  .n_other = 1};
        assert_true(store_put_stream(s, &sf));
        buf_printf(&w_stream, "%s|%s|%s|%s|{urn:xmpp:features:rosterver}\n",
                   addr, ip,
                   i % 2 ? "{SCRAM-SHA-1,PLAIN,\"X-\\\"odd\\\\mech}\"}"
                         : "{SCRAM-SHA-1,\"X-\\\"odd\\\\mech}\"}",
                   i % 2 ? "true" : "false");
        unsigned char sha[32];
        memset(sha, i & 0xff, sizeof sha);
        const char *names[] = {addr, "*.example"};
        struct store_tls t = {.source_id = src,
                              .domain_id = dom,
                              .stream = "s2s",
                              .target = addr,
                              .ip = ip,
                              .port = 5269,
                              .tls_version = "TLSv1.3",
                              .cert_names = names,
                              .n_cert_names = 2,
                              .cert_not_after_us = 1700000000000000LL,
                              .cert_sha256 = sha,
                              .verifies = i % 2};
        assert_true(store_put_tls(s, &t));
        buf_printf(&w_tls, "%s|{%s,*.example}|%02x|%s\n", addr, addr, i & 0xff,
                   i % 2 ? "true" : "false");
    }
    drain(s);
    struct store_stats st;
    store_get_stats(s, &st);
    for (int k = 0; k < STORE__KINDS; k++) {
        assert_int_equal(st.rows_queued[k], N);
        assert_int_equal(st.rows_written[k], N);
        assert_int_equal(st.refused[k], 0);
    }
    assert_int_equal(st.batches_rejected, 0);
    assert_int_equal(st.queued_bytes, 0);
    assert_int_equal(st.memory_bytes, 0);
    assert_true(st.batches_written >= STORE__KINDS * (N / 300));
    store_free(s);

    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT e.address || '|' || encode(c.digest, 'hex') "
             "FROM disco_snapshots d JOIN entities e ON e.id = d.entity_id "
             "JOIN disco_contents c ON c.id = d.content_id "
             "WHERE d.source_id = %lld",
             (long long)src);
    expect_rows(sql, &w_snap);
    assert_int_equal(q1("SELECT count(*) FROM disco_contents"), 50);
    /* normalized content: 1 identity each, 4 distinct features of which
     * one twice, softinfo on even contents, 2 contacts on every 5th */
    assert_int_equal(q1("SELECT count(*) FROM disco_identities"), 50);
    assert_int_equal(q1("SELECT count(*) FROM v_content_features"), 150);
    assert_int_equal(q1("SELECT count(*) FROM v_content_features "
                        "WHERE duplicated"),
                     50);
    assert_int_equal(q1("SELECT count(*) FROM features"), 2 + 7);
    assert_int_equal(q1("SELECT count(*) FROM softinfo"), 25);
    assert_int_equal(q1("SELECT count(*) FROM softinfo "
                        "WHERE software = 'Soft 4' AND software_version = "
                        "'1.4'"),
                     1);
    assert_int_equal(q1("SELECT count(*) FROM contact_addresses"), 20);
    assert_int_equal(q1("SELECT count(*) FROM disco_form_values"),
                     25 * 3 + 10 * 3);
    assert_int_equal(q1("SELECT count(*) FROM disco_contents WHERE "
                        "feature_count = 3 AND identity_count = 1 AND "
                        "parse_error IS NULL"),
                     50);
    snprintf(sql, sizeof sql,
             "SELECT p.address || '|' || c.address || '|' || l.name || '|' "
             "|| c.kind FROM disco_item_links l "
             "JOIN entities p ON p.id = l.parent_id "
             "JOIN entities c ON c.id = l.child_id WHERE l.source_id = %lld",
             (long long)src);
    expect_rows(sql, &w_link);
    snprintf(sql, sizeof sql,
             "SELECT e.address || '|' || v.name || '|' || v.version || '|' "
             "|| coalesce(v.os, '(null)') FROM software_versions v "
             "JOIN entities e ON e.id = v.entity_id WHERE v.source_id = %lld",
             (long long)src);
    expect_rows(sql, &w_ver);
    snprintf(sql, sizeof sql,
             "SELECT coalesce(e.address, '(null)') || '|' || o.outcome || '|' "
             "|| coalesce(o.condition, '(null)') || '|' || o.detail || '|' "
             "|| o.duration_ms FROM probe_outcomes o "
             "LEFT JOIN entities e ON e.id = o.entity_id "
             "WHERE o.source_id = %lld",
             (long long)src);
    expect_rows(sql, &w_out);
    /* entities: 2000 servers + 2000 muc children + 4 room services */
    assert_int_equal(q1("SELECT count(*) FROM entities"), 2 * N + 4);
    assert_int_equal(q1("SELECT count(*) FROM entities WHERE kind = 'muc'"),
                     N + 4);
    /* caps observations: key i%100 under node i%10 on service i%4: every
     * key has one node and one service; counts 1 + i%3 summed */
    struct buf want = BUF_INIT;
    for (int k = 0; k < 100; k++) {
        long long sum = 0;
        for (int i = k; i < N; i += 100)
            sum += 1 + i % 3;
        buf_printf(&want,
                   "ver%d=|https://client%d.example|conference%d."
                   "example|%lld\n",
                   k, k % 10, k % 4, sum);
    }
    snprintf(sql, sizeof sql,
             "SELECT o.ver || '|' || o.node || '|' || e.address || '|' || "
             "o.count FROM caps_observations o JOIN entities e ON e.id = "
             "o.service_id WHERE o.source_id = %lld",
             (long long)src);
    expect_rows(sql, &want);
    buf_reset(&want);
    for (int k = 0; k < 100; k++)
        buf_printf(&want, "ver%d=|%d\n", k, 2 * (N / 100));
    snprintf(sql, sizeof sql,
             "SELECT value || '|' || count FROM caps2_observations "
             "WHERE source_id = %lld AND service_id IS NULL",
             (long long)src);
    expect_rows(sql, &want);
    /* caps entries: 200, all valid (a mismatch never replaces valid),
     * 10 resolutions each under one node, mismatches where i/200%4==3 */
    assert_int_equal(q1("SELECT count(*) FROM caps_entries WHERE outcome = "
                        "'valid' AND matched_by = 'strict' AND content_id "
                        "IS NOT NULL"),
                     200);
    buf_reset(&want);
    for (int k = 0; k < 200; k++) {
        int mism = 0;
        for (int i = k; i < N; i += 200)
            mism += (i / 200) % 4 == 3;
        buf_printf(&want, "entry%d=|https://n%d.example|10|%d\n", k, k % 2,
                   mism);
    }
    expect_rows("SELECT e.ver || '|' || n.node || '|' || n.resolutions || '|' "
                "|| n.mismatches FROM caps_entry_nodes n "
                "JOIN caps_entries e ON e.id = n.entry_id",
                &want);
    assert_int_equal(q1("SELECT count(*) FROM caps2_entries "
                        "WHERE outcome = 'ill-formed'"),
                     200);
    snprintf(sql, sizeof sql,
             "SELECT target || '|' || port || '|' || priority || '|' || "
             "coalesce(weight::text, '(null)') FROM srv_records "
             "WHERE source_id = %lld",
             (long long)src);
    expect_rows(sql, &w_srv);
    snprintf(sql, sizeof sql,
             "SELECT target || '|' || host(ip) || '|' || mechanisms::text || "
             "'|' || sm || '|' || other::text FROM stream_features "
             "WHERE source_id = %lld",
             (long long)src);
    expect_rows(sql, &w_stream);
    snprintf(sql, sizeof sql,
             "SELECT target || '|' || cert_names::text || '|' || "
             "substr(encode(cert_sha256, 'hex'), 1, 2) || '|' || verifies "
             "FROM tls_facts WHERE source_id = %lld "
             "AND cert_not_after = '2023-11-14 22:13:20+00'",
             (long long)src);
    expect_rows(sql, &w_tls);
    buf_free(&want);
    buf_free(&w_snap);
    buf_free(&w_link);
    buf_free(&w_ver);
    buf_free(&w_out);
    buf_free(&w_cobs);
    buf_free(&w_cent);
    buf_free(&w_c2);
    buf_free(&w_c2e);
    buf_free(&w_srv);
    buf_free(&w_stream);
    buf_free(&w_tls);
    free(spill);
}

/* Strings a hostile peer may send, and what PostgreSQL must hold. */
static const struct {
    const char *in;
    size_t len; /* 0: strlen */
    const char *want;
} hostile[] = {
    {"tab\there", 0, "tab\there"},
    {"new\nline\r\n", 0, "new\nline\r\n"},
    {"back\\slash \\N \\. \\t", 0, "back\\slash \\N \\. \\t"},
    {"\\.", 0, "\\."},
    {"\\N", 0, "\\N"},
    {"quotes \" ' {a,b} ", 0, "quotes \" ' {a,b} "},
    {"ctl \x01\x1f\x7f", 0, "ctl \x01\x1f\x7f"},
    {"utf-8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0,
     "utf-8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
    {"bad \xff"
     " end",
     0, "bad \xef\xbf\xbd end"},
    {"overlong \xc0\xaf", 0, "overlong \xef\xbf\xbd\xef\xbf\xbd"},
    {"surrogate \xed\xa0\x80", 0,
     "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"truncated \xe2\x82", 0, "truncated \xef\xbf\xbd"},
    {"", 0, ""},
};

static void test_hostile_strings(void **state)
{
    int64_t src = new_source("hostile");
    struct store_opts o;
    opts_for(&o, NULL);
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    struct buf want = BUF_INIT;
    for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "h%zu.example", i);
        struct store_version v = {
            .source_id = src,
            .entity = {addr, hostile[i].in, STORE_ENT_OTHER, 0},
            .name = hostile[i].in,
            .version = hostile[i].in,
            .os = hostile[i].in};
        assert_true(store_put_version(s, &v));
        buf_printf(&want, "%zu\n", i);
    }
    /* a parsed disco#info whose identity names, features and form values
     * are the hostile strings (the store serializes it for the digest) */
    struct disco_info *hi = disco_info_new();
    for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
        char var[64];
        snprintf(var, sizeof var, "urn:hostile:%zu:", i);
        struct buf fv = BUF_INIT;
        buf_puts(&fv, var);
        buf_append(&fv, hostile[i].in, strlen(hostile[i].in));
        disco_add_identity(hi, "client", "pc", NULL, hostile[i].in);
        disco_add_feature(hi, buf_str(&fv));
        buf_free(&fv);
    }
    struct dataform *form = disco_add_typed_form(hi, "urn:hostile:form");
    struct dataform_field *fld = disco_form_add_field(hi, form, "v", NULL);
    for (size_t i = 0; i < ARRAY_LEN(hostile); i++)
        disco_field_add_value(hi, fld, hostile[i].in);
    struct store_disco hd = {
        .source_id = src,
        .entity = {"hostile-info.example", NULL, STORE_ENT_SERVER, 0},
        .info = hi};
    assert_true(store_put_disco(s, &hd));
    disco_info_free(hi); /* the put copied what it needs */
    /* raw disco#info with a NUL and invalid UTF-8: parse error recorded,
     * text cleaned, digest of the bytes as received */
    static const char raw[] = "<query xmlns='http://jabber.org/protocol/"
                              "disco#info'>\0\xff</query>";
    struct store_disco d = {
        .source_id = src,
        .entity = {"raw.example", NULL, STORE_ENT_SERVER, 0},
        .xml = raw,
        .xml_len = sizeof raw - 1};
    assert_true(store_put_disco(s, &d));
    /* refused: a resource part (never an occupant JID), bad enum values */
    struct store_version bad = {
        .source_id = src,
        .entity = {"room@muc.example/nick", NULL, STORE_ENT_ROOM, 0}};
    assert_false(store_put_version(s, &bad));
    struct store_caps_entry bce = {.source_id = src,
                                   .algo = "sha-1",
                                   .ver = "x",
                                   .outcome = "valid",
                                   .error = "duplicate-feature"};
    assert_false(store_put_caps_entry(s, &bce));
    struct store_stream bsf = {.source_id = src,
                               .domain_id = 1,
                               .stream = "c2s",
                               .target = "t",
                               .ip = "not-an-ip",
                               .phase = "pre-tls"};
    assert_false(store_put_stream(s, &bsf));
    /* a detail longer than the CHECK allows is clipped, not refused */
    char *longd = xmalloc(5001);
    for (int i = 0; i < 2500; i++)
        memcpy(longd + 2 * i, "\xc3\xa9", 2); /* 2500 characters */
    longd[5000] = '\0';
    struct store_outcome oc = {.source_id = src,
                               .probe = "version",
                               .outcome = "ok",
                               .detail = longd,
                               .duration_ms = -1};
    assert_true(store_put_outcome(s, &oc));
    free(longd);
    drain(s);
    struct store_stats st;
    store_get_stats(s, &st);
    assert_int_equal(st.refused[STORE_VERSION], 1);
    assert_int_equal(st.refused[STORE_CAPS_ENTRY], 1);
    assert_int_equal(st.refused[STORE_STREAM], 1);
    assert_true(st.replaced_chars > 0);
    store_free(s);

    char sql[512];
    for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "h%zu.example", i);
        const char *p2[] = {hostile[i].want, addr};
        struct pg_err err;
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM software_versions v JOIN entities e "
                 "ON e.id = v.entity_id WHERE v.name = $1 AND v.version = $1 "
                 "AND v.os = $1 AND e.node = $1 AND e.address = $2 "
                 "AND v.source_id = %lld",
                 (long long)src);
        bool found;
        char *n = pg_query_value(pc, sql, 2, p2, &found, &err);
        assert_true(found);
        if (strcmp(n, "1") != 0)
            fail_msg("hostile string %zu did not round-trip", i);
        free(n);
    }
    for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
        char pos[16], var[64];
        snprintf(pos, sizeof pos, "%zu", i);
        snprintf(var, sizeof var, "urn:hostile:%zu:", i);
        struct buf fv = BUF_INIT;
        buf_puts(&fv, var);
        buf_puts(&fv, hostile[i].want);
        const char *p3[] = {hostile[i].want, pos, buf_str(&fv)};
        struct pg_err err;
        bool found;
        char *n = pg_query_value(
            pc,
            "SELECT (SELECT count(*) FROM disco_identities di JOIN "
            " disco_snapshots ds ON ds.content_id = di.content_id JOIN "
            " entities e ON e.id = ds.entity_id WHERE e.address = "
            " 'hostile-info.example' AND di.pos = $2::int AND di.name = $1) "
            "+ (SELECT count(*) FROM v_content_features cf JOIN "
            " disco_snapshots ds ON ds.content_id = cf.content_id JOIN "
            " entities e ON e.id = ds.entity_id WHERE e.address = "
            " 'hostile-info.example' AND cf.var = $3) "
            "+ (SELECT count(*) FROM disco_form_values fv JOIN "
            " disco_snapshots ds ON ds.content_id = fv.content_id JOIN "
            " entities e ON e.id = ds.entity_id WHERE e.address = "
            " 'hostile-info.example' AND fv.field_pos = 1 AND "
            " fv.pos = $2::int AND fv.value = $1)",
            3, p3, &found, &err);
        assert_true(found);
        if (strcmp(n, "3") != 0)
            fail_msg("hostile string %zu: %s of 3 in the content", i, n);
        free(n);
        buf_free(&fv);
    }
    assert_int_equal(q1("SELECT count(*) FROM disco_contents c "
                        "WHERE parse_error LIKE 'xml:%' AND xml LIKE "
                        "'%disco#info''>\xef\xbf\xbd\xef\xbf\xbd</query>'"),
                     1);
    char hex[65];
    unsigned char dg[HASH_MAX_LEN];
    assert_true(hash_digest(HASH_SHA256, raw, sizeof raw - 1, dg));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", dg[i]);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM disco_contents WHERE digest = "
             "decode('%s', 'hex')",
             hex);
    assert_int_equal(q1(sql), 1);
    assert_int_equal(q1("SELECT max(length(detail)) FROM probe_outcomes "
                        "WHERE probe = 'version'"),
                     2000);
    buf_free(&want);
}

/* Two writers (as two crawler processes would) intern the same contents
 * and features at the same time. */
static void test_two_writers_intern(void **state)
{
    enum { N = 600 };
    int64_t src = new_source("two-writers");
    struct store_opts o;
    opts_for(&o, NULL);
    o.batch_rows = 50;
    char why[256];
    struct store *a = store_new(base, &o, why, sizeof why);
    struct store *b = store_new(base, &o, why, sizeof why);
    assert_non_null(a);
    assert_non_null(b);
    long long before = q1("SELECT count(*) FROM disco_contents");
    for (int i = 0; i < N; i++) {
        char addr[64], xml[512];
        snprintf(addr, sizeof addr, "w%d.example", i % 100);
        snprintf(xml, sizeof xml,
                 "<query xmlns='http://jabber.org/protocol/disco#info'>"
                 "<identity category='pubsub' type='service'/>"
                 "<feature var='urn:two:%d'/><feature var='urn:two:%d'/>"
                 "</query>",
                 (i * 7) % 60, (i * 11) % 60 + 1000);
        struct store_disco d = {.source_id = src,
                                .entity = {addr, "node", STORE_ENT_PUBSUB, 0},
                                .xml = xml,
                                .xml_len = strlen(xml)};
        assert_true(store_put_disco(i % 2 ? a : b, &d));
        struct store_disco d2 = d;
        assert_true(store_put_disco(i % 2 ? b : a, &d2));
    }
    struct done da = {0}, db = {0};
    store_drain(a, 0, done_cb, &da);
    store_drain(b, 0, done_cb, &db);
    run_until(&da.called);
    run_until(&db.called);
    assert_true(da.ok && db.ok);
    struct store_stats sa, sb;
    store_get_stats(a, &sa);
    store_get_stats(b, &sb);
    assert_int_equal(sa.batches_rejected + sb.batches_rejected, 0);
    assert_int_equal(
        sa.rows_written[STORE_DISCO] + sb.rows_written[STORE_DISCO], 2 * N);
    store_free(a);
    store_free(b);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM disco_snapshots WHERE source_id = %lld",
             (long long)src);
    assert_int_equal(q1(sql), 2 * N);
    /* contents distinct by (i*7)%60 and (i*11)%60: 60 each way; pairs
     * repeat with period 60 */
    assert_int_equal(q1("SELECT count(*) FROM disco_contents") - before, 60);
    assert_int_equal(q1("SELECT count(*) FROM features WHERE var LIKE "
                        "'urn:two:%'"),
                     120);
    assert_int_equal(q1("SELECT count(*) FROM (SELECT var FROM features "
                        "GROUP BY var HAVING count(*) > 1) x"),
                     0);
    assert_int_equal(q1("SELECT count(*) FROM entities WHERE address LIKE "
                        "'w%.example' AND kind = 'pubsub'"),
                     100);
}

struct pressure {
    int pauses, resumes;
    size_t at_pause, at_resume;
    struct store *s;
    bool resumed;
};

static void pressure_cb(void *arg, bool pause)
{
    struct pressure *p = arg;
    struct store_stats st;
    store_get_stats(p->s, &st);
    if (pause) {
        p->pauses++;
        p->at_pause = st.queued_bytes;
    } else {
        p->resumes++;
        p->at_resume = st.queued_bytes;
        p->resumed = true;
    }
}

static void put_outcomes(struct store *s, int64_t src, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char detail[64];
        snprintf(detail, sizeof detail, "outage record %d", i);
        struct store_outcome oc = {.source_id = src,
                                   .probe = "disco-info",
                                   .outcome = "ok",
                                   .detail = detail,
                                   .duration_ms = i % 1000};
        assert_true(store_put_outcome(s, &oc));
    }
}

static void test_backpressure_marks(void **state)
{
    int64_t src = new_source("pressure");
    struct store_opts o;
    opts_for(&o, NULL);
    o.high_water = 64 * 1024;
    o.low_water = 8 * 1024;
    o.batch_rows = 100;
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    struct pressure p = {.s = s};
    store_set_pressure_cb(s, pressure_cb, &p);
    /* no loop turn between puts: bytes pile up past the high mark */
    int i = 0;
    while (p.pauses == 0) {
        put_outcomes(s, src, i++, 1);
        assert_true(i < 100000);
    }
    assert_int_equal(p.pauses, 1);
    assert_true(p.at_pause >= o.high_water);
    /* just below the mark a put must not have paused: */
    struct store_stats st;
    store_get_stats(s, &st);
    assert_true(st.paused);
    put_outcomes(s, src, i, 200); /* stays paused, no second callback */
    assert_int_equal(p.pauses, 1);
    run_until(&p.resumed);
    assert_int_equal(p.resumes, 1);
    assert_true(p.at_resume <= o.low_water);
    drain(s);
    store_get_stats(s, &st);
    assert_false(st.paused);
    assert_int_equal(st.pauses, 1);
    assert_int_equal(st.resumes, 1);
    store_free(s);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM probe_outcomes WHERE source_id = %lld",
             (long long)src);
    assert_int_equal(q1(sql), i + 200);
}

static void test_outage_spills_and_loses_nothing(void **state)
{
    enum { N = 6000 };
    int64_t src = new_source("outage");
    char *spill = scratch_dir("outage");
    struct store_opts o;
    opts_for(&o, spill);
    o.max_memory = 48 * 1024; /* a few batches */
    o.batch_rows = 100;
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    int written = 0;
    struct store_stats st;
    while (written < N / 3) {
        put_outcomes(s, src, written, 50);
        written += 50;
        run_for(5);
    }
    db_down();
    while (written < 2 * N / 3) {
        put_outcomes(s, src, written, 50);
        written += 50;
        run_for(2);
    }
    store_get_stats(s, &st);
    assert_false(st.db_up);
    assert_true(st.batches_spilled > 0);
    assert_true(st.spill_bytes > 0);
    assert_true(st.memory_bytes <= o.max_memory + 2 * 16 * 1024 * 2);
    assert_true(count_files(spill, ".batch") > 0);
    db_up();
    while (written < N) {
        put_outcomes(s, src, written, 50);
        written += 50;
        run_for(2);
    }
    drain(s);
    store_get_stats(s, &st);
    assert_true(st.batches_replayed > 0);
    assert_int_equal(st.rows_written[STORE_OUTCOME], N);
    assert_int_equal(st.spill_bytes, 0);
    assert_int_equal(count_files(spill, ".batch"), 0);
    store_free(s);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM probe_outcomes WHERE source_id = %lld",
             (long long)src);
    assert_int_equal(q1(sql), N);
    snprintf(sql, sizeof sql,
             "SELECT count(DISTINCT detail) FROM probe_outcomes "
             "WHERE source_id = %lld",
             (long long)src);
    assert_int_equal(q1(sql), N);
    free(spill);
}

/* The writer's connection killed by the server again and again while
 * batches are in flight: re-sent batches (whose COMMIT may have happened)
 * leave every record exactly once. */
static void test_killed_connection_exactly_once(void **state)
{
    enum { N = 4000 };
    int64_t src = new_source("killed");
    struct store_opts o;
    opts_for(&o, NULL);
    o.batch_rows = 40;
    o.flush_ms = 5;
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    long long kills = 0;
    for (int written = 0; written < N; written += 40) {
        put_outcomes(s, src, written, 40);
        run_for(3);
        if (written % 400 == 0)
            kills += q1("SELECT count(pg_terminate_backend(pid)) FROM "
                        "pg_stat_activity WHERE datname = 'xc_store' AND "
                        "pid <> pg_backend_pid() AND backend_type = "
                        "'client backend'");
    }
    drain(s);
    struct store_stats st;
    store_get_stats(s, &st);
    assert_true(kills > 0);
    assert_int_equal(st.rows_written[STORE_OUTCOME], N);
    assert_int_equal(st.batches_rejected, 0);
    store_free(s);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) * 100000 + count(DISTINCT detail) FROM "
             "probe_outcomes WHERE source_id = %lld",
             (long long)src);
    assert_int_equal(q1(sql), N * 100000LL + N);
}

static void copy_dir_files(const char *from, const char *to)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s'/*.batch '%s'/", to,
             from, to);
    assert_int_equal(system(cmd), 0);
}

/* A drain that gives up leaves spill files; a new process on the same
 * directory replays them; replaying the same files again (copies kept
 * aside) changes no table. */
static void test_restart_replays_and_replay_is_idempotent(void **state)
{
    enum { N = 1500 };
    int64_t src = new_source("restart");
    char *spill = scratch_dir("restart");
    char *keep = scratch_dir("restart-keep");
    struct store_opts o;
    opts_for(&o, spill);
    o.max_memory = 1; /* everything sealed goes to disk while down */
    o.batch_rows = 100;
    char why[256];
    db_down();
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    /* a second process may not use the same spill directory */
    struct store *other = store_new(base, &o, why, sizeof why);
    assert_null(other);
    assert_non_null(strstr(why, "in use"));
    put_outcomes(s, src, 0, N);
    for (int i = 0; i < 20; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "r%d.example", i);
        char *xml = content_xml(i);
        struct store_disco d = {.source_id = src,
                                .entity = {addr, NULL, STORE_ENT_SERVER, 0},
                                .xml = xml,
                                .xml_len = strlen(xml)};
        assert_true(store_put_disco(s, &d));
        free(xml);
    }
    struct done d = {0};
    store_drain(s, 300, done_cb, &d);
    run_until(&d.called);
    assert_false(d.ok);
    store_free(s);
    size_t files = count_files(spill, ".batch");
    assert_true(files >= N / 100);
    copy_dir_files(spill, keep);

    /* the next run */
    db_up();
    o.max_memory = 1u << 20;
    s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    struct store_stats st;
    store_get_stats(s, &st);
    assert_int_equal(st.batches_queued, files);
    drain(s);
    store_get_stats(s, &st);
    assert_int_equal(st.batches_replayed, files);
    assert_int_equal(st.batches_written + st.batches_duplicate, files);
    assert_int_equal(count_files(spill, ".batch"), 0);
    store_free(s);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM probe_outcomes WHERE source_id = "
             "%lld) * 1000 + (SELECT count(*) FROM disco_snapshots WHERE "
             "source_id = %lld)",
             (long long)src, (long long)src);
    assert_int_equal(q1(sql), N * 1000LL + 20);
    long long contents = q1("SELECT count(*) FROM disco_contents");
    long long values = q1("SELECT count(*) FROM disco_form_values");
    long long entities = q1("SELECT count(*) FROM entities");

    /* the same batches once more: all recognised, nothing added */
    copy_dir_files(keep, spill);
    s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    drain(s);
    store_get_stats(s, &st);
    assert_int_equal(st.batches_duplicate, files);
    assert_int_equal(st.batches_written, 0);
    store_free(s);
    assert_int_equal(q1(sql), N * 1000LL + 20);
    assert_int_equal(q1("SELECT count(*) FROM disco_contents"), contents);
    assert_int_equal(q1("SELECT count(*) FROM disco_form_values"), values);
    assert_int_equal(q1("SELECT count(*) FROM entities"), entities);
    free(spill);
    free(keep);
}

static void put_versions(struct store *s, int64_t src, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char addr[64], ver[32];
        snprintf(addr, sizeof addr, "g%d.example", i);
        snprintf(ver, sizeof ver, "0.%d", i);
        struct store_version v = {.source_id = src,
                                  .entity = {addr, NULL, STORE_ENT_SERVER, 0},
                                  .name = "Prosody",
                                  .version = ver};
        assert_true(store_put_version(s, &v));
    }
}

/* Batches of several kinds closed at once are written in one transaction;
 * a group of which one batch was written before (a replay) is sent again
 * batch by batch: that one is recognised, the other written, nothing is
 * doubled or lost. */
static void test_group_with_a_written_batch(void **state)
{
    int64_t src = new_source("group");
    char *spill = scratch_dir("group");
    char *keep = scratch_dir("group-keep");
    struct store_opts o;
    opts_for(&o, spill);
    o.batch_rows = 1000;
    o.flush_ms = 60000; /* closed by the drain only */
    char why[256];
    struct store_stats st;
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    put_outcomes(s, src, 0, 30);
    put_versions(s, src, 0, 10);
    drain(s);
    store_get_stats(s, &st);
    assert_int_equal(st.batches_written, 2);
    assert_int_equal(st.transactions, 1);
    store_free(s);

    /* database down: an outcome batch and a version batch left in files */
    db_down();
    o.max_memory = 1;
    s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    put_outcomes(s, src, 30, 30);
    put_versions(s, src, 10, 10);
    struct done d = {0};
    store_drain(s, 300, done_cb, &d);
    run_until(&d.called);
    assert_false(d.ok);
    store_free(s);
    assert_int_equal(count_files(spill, ".batch"), 2);
    copy_dir_files(spill, keep);

    /* the outcome batch alone is written by the next run */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm $(grep -l '^kind version' '%s'/*.batch)",
             spill);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(count_files(spill, ".batch"), 1);
    db_up();
    o.max_memory = 1u << 20;
    s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    drain(s);
    store_get_stats(s, &st);
    assert_int_equal(st.batches_written, 1);
    store_free(s);

    /* both files again: sent together, refused on the ledger's key, then
     * one by one */
    copy_dir_files(keep, spill);
    s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    drain(s);
    store_get_stats(s, &st);
    assert_int_equal(st.groups_split, 1);
    assert_int_equal(st.batches_duplicate, 1);
    assert_int_equal(st.batches_written, 1);
    assert_int_equal(st.transactions, 3);
    store_free(s);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) * 1000 + count(DISTINCT detail) FROM "
             "probe_outcomes WHERE source_id = %lld) * 1000000 + (SELECT "
             "count(*) * 1000 + count(DISTINCT entity_id) FROM "
             "software_versions WHERE source_id = %lld)",
             (long long)src, (long long)src);
    assert_int_equal(q1(sql), 60060LL * 1000000 + 20020);
    free(spill);
    free(keep);
}

/* A transient error (a lock held elsewhere, lock_timeout) sends the same
 * batch again later instead of setting it aside. */
static void test_transient_error_retried(void **state)
{
    int64_t src = new_source("transient");
    char ci[1400];
    snprintf(ci, sizeof ci, "%s options='-c lock_timeout=50'", conninfo);
    struct store_opts o;
    opts_for(&o, NULL);
    o.conninfo = ci;
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    struct pg_err err;
    assert_true(pg_exec(pc,
                        "BEGIN; LOCK TABLE probe_outcomes IN ACCESS "
                        "EXCLUSIVE MODE",
                        &err));
    put_outcomes(s, src, 0, 10);
    store_flush(s);
    struct store_stats st;
    time_t end = time(NULL) + 120;
    do {
        run_for(20);
        store_get_stats(s, &st);
    } while (st.batches_retried < 2 && time(NULL) < end);
    assert_true(st.batches_retried >= 2);
    assert_int_equal(st.batches_rejected, 0);
    assert_int_equal(st.rows_written[STORE_OUTCOME], 0);
    assert_true(pg_exec(pc, "COMMIT", &err));
    drain(s);
    store_get_stats(s, &st);
    assert_int_equal(st.rows_written[STORE_OUTCOME], 10);
    assert_int_equal(st.batches_rejected, 0);
    store_free(s);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM probe_outcomes WHERE source_id = %lld",
             (long long)src);
    assert_int_equal(q1(sql), 10);
}

/* A damaged file in the spill directory is moved to rejected/ at start
 * and counted; it does not stop the writer. */
static void test_bad_spill_file_set_aside(void **state)
{
    char *spill = scratch_dir("bad-file");
    assert_int_equal(mkdir(spill, 0700), 0);
    char *path = xasprintf("%s/0000000000000001-00000001.batch", spill);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("xcensus-store-batch 1\nid x:1\nkind outcome\nrows 1\n"
          "section st_out 999\ntruncated",
          f);
    fclose(f);
    struct store_opts o;
    opts_for(&o, spill);
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    struct store_stats st;
    store_get_stats(s, &st);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.batches_queued, 0);
    drain(s);
    store_free(s);
    char *rej = xasprintf("%s/rejected", spill);
    assert_int_equal(count_files(spill, ".batch"), 0);
    assert_int_equal(count_files(rej, ".batch"), 1);
    free(rej);
    free(path);
    free(spill);
}

/* A batch the server refuses (a foreign key) is set aside in rejected/
 * with its error, and the batches after it are written. */
static void test_refused_batch_set_aside(void **state)
{
    int64_t src = new_source("refused");
    char *spill = scratch_dir("refused");
    struct store_opts o;
    opts_for(&o, spill);
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    put_outcomes(s, src, 0, 10);
    store_flush(s);
    struct store_outcome oc = {.source_id = 999999, /* no such source */
                               .probe = "disco-info",
                               .outcome = "ok"};
    assert_true(store_put_outcome(s, &oc));
    store_flush(s);
    put_outcomes(s, src, 10, 10);
    drain(s);
    struct store_stats st;
    store_get_stats(s, &st);
    assert_int_equal(st.batches_rejected, 1);
    assert_int_equal(st.rows_rejected, 1);
    assert_int_equal(st.rows_written[STORE_OUTCOME], 20);
    store_free(s);
    char *rej = xasprintf("%s/rejected", spill);
    assert_int_equal(count_files(rej, ".batch"), 1);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "grep -q '^error probe_outcomes: SQLSTATE 23503' '%s'/*.batch",
             rej);
    assert_int_equal(system(cmd), 0);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM probe_outcomes WHERE source_id = %lld",
             (long long)src);
    assert_int_equal(q1(sql), 20);
    /* the cause fixed, the rejected file moved back: the next run writes
     * it */
    assert_int_equal(q1("INSERT INTO sources (id, kind, name) VALUES "
                        "(999999, 'crawl', 'fixed') RETURNING id"),
                     999999);
    snprintf(cmd, sizeof cmd, "mv '%s'/*.batch '%s'/", rej, spill);
    assert_int_equal(system(cmd), 0);
    s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    drain(s);
    store_get_stats(s, &st);
    assert_int_equal(st.batches_replayed, 1);
    assert_int_equal(st.rows_written[STORE_OUTCOME], 1);
    assert_int_equal(st.batches_rejected, 0);
    store_free(s);
    assert_int_equal(q1("SELECT count(*) FROM probe_outcomes "
                        "WHERE source_id = 999999"),
                     1);
    assert_int_equal(count_files(spill, ".batch"), 0);
    free(rej);
    free(spill);
}

struct synced {
    bool called, ok;
    long long rows;
    int64_t src;
};

static void sync_cb(void *arg, bool ok)
{
    struct synced *y = arg;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM probe_outcomes WHERE source_id = %lld",
             (long long)y->src);
    y->rows = q1(sql);
    y->ok = ok;
    y->called = true;
}

/* store_sync calls back only when what was put before is committed. */
static void test_sync_after_commit(void **state)
{
    int64_t src = new_source("sync");
    struct store_opts o;
    opts_for(&o, NULL);
    o.flush_ms = 50;
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    put_outcomes(s, src, 0, 123);
    struct synced y = {.src = src};
    store_sync(s, sync_cb, &y);
    put_outcomes(s, src, 123, 5);
    run_until(&y.called);
    assert_true(y.ok);
    assert_true(y.rows >= 123);
    drain(s);
    store_free(s);
}

/* Group commit: a sync does not wait for the flush timer. With flush_ms at
 * ten minutes, records a job waits for are sealed and committed as soon as
 * the connection has a free slot; the others stay open. */
static void test_sync_seals_at_once(void **state)
{
    int64_t src = new_source("group-commit");
    struct store_opts o;
    opts_for(&o, NULL);
    o.flush_ms = 600000;
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    assert_non_null(s);
    struct store_stats st;
    for (int i = 0; i < 500; i++) {
        store_get_stats(s, &st);
        if (st.db_up)
            break;
        run_for(20);
    }
    assert_true(st.db_up);
    for (int round = 0; round < 3; round++) {
        put_outcomes(s, src, round * 100, 100);
        struct synced y = {.src = src};
        store_sync(s, sync_cb, &y);
        run_until(&y.called);
        assert_true(y.ok);
        assert_int_equal(y.rows, (round + 1) * 100);
    }
    /* without a waiter nothing is sealed before the timer */
    put_outcomes(s, src, 300, 7);
    run_for(300);
    char sql[128];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM probe_outcomes WHERE source_id = %lld",
             (long long)src);
    assert_int_equal(q1(sql), 300);
    drain(s);
    assert_int_equal(q1(sql), 307);
    store_free(s);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test_store SCRIPTS_PG DIR SCRATCH\n");
        return 2;
    }
    pg_script = argv[1];
    pg_dir = argv[2];
    scratch = argv[3];
    log_max_level = getenv("XC_DEBUG") ? LOG_DEBUG : LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind),
        cmocka_unit_test(test_hostile_strings),
        cmocka_unit_test(test_two_writers_intern),
        cmocka_unit_test(test_backpressure_marks),
        cmocka_unit_test(test_sync_after_commit),
        cmocka_unit_test(test_sync_seals_at_once),
        cmocka_unit_test(test_refused_batch_set_aside),
        cmocka_unit_test(test_bad_spill_file_set_aside),
        cmocka_unit_test(test_transient_error_retried),
        cmocka_unit_test(test_killed_connection_exactly_once),
        cmocka_unit_test(test_outage_spills_and_loses_nothing),
        cmocka_unit_test(test_restart_replays_and_replay_is_idempotent),
        cmocka_unit_test(test_group_with_a_written_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
