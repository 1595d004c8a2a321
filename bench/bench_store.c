/*
 * Storage writer throughput and memory (crawler/store) against a private
 * PostgreSQL cluster that this program starts with scripts/pg (durable
 * settings unless --fast):
 *   (a) disco#info snapshots, 500 distinct contents among N (the usual
 *       case: many servers run the same software and configuration);
 *       (a') the same with the answer already parsed by the caller, as the
 *       crawler does
 *   (b) disco#info snapshots, every content distinct (worst case)
 *   (c) probe outcomes
 *   (d) caps observations (counts merged per key)
 * Each prints records/s from the first put to the drain callback (wall
 * clock) and the CPU time spent inside the puts per record. Then, with
 * no database reachable, the memory per queued record: COPY bytes the
 * writer accounts for, and the heap really used (glibc mallinfo2; build
 * without sanitizers for meaningful figures). Not a test: it prints
 * numbers.
 * Usage: bench_store [--fast] [CLUSTER_DIR] (default /tmp/xcensus-bench-store)
 */
#include <event2/event.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "disco.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "store.h"
#include "xalloc.h"

static struct event_base *base;
static char conninfo[1200];
static bool paused;

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_pressure(void *arg, bool pause)
{
    paused = pause;
}

static void on_done(void *arg, bool ok)
{
    *(int *)arg = ok ? 1 : -1;
}

static char *content_xml(int k)
{
    struct buf b = BUF_INIT;
    buf_printf(&b,
               "<query xmlns='http://jabber.org/protocol/disco#info'>"
               "<identity category='server' type='im' name='Server %d'/>",
               k);
    static const char *const feats[] = {
        "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items",
        "jabber:iq:version",
        "urn:xmpp:ping",
        "urn:xmpp:time",
        "vcard-temp",
        "jabber:iq:last",
        "http://jabber.org/protocol/commands",
        "urn:xmpp:mam:2",
        "urn:xmpp:carbons:2",
        "urn:xmpp:blocking",
        "msgoffline",
        "jabber:iq:register",
        "urn:xmpp:extdisco:2",
        "http://jabber.org/protocol/pubsub#publish",
        "urn:xmpp:serverinfo:0",
    };
    for (size_t i = 0; i < sizeof feats / sizeof feats[0]; i++)
        buf_printf(&b, "<feature var='%s'/>", feats[i]);
    buf_printf(&b, "<feature var='urn:bench:%d'/>", k % 97);
    buf_printf(&b,
               "<x xmlns='jabber:x:data' type='result'>"
               "<field var='FORM_TYPE' type='hidden'><value>"
               "http://jabber.org/network/serverinfo</value></field>"
               "<field var='abuse-addresses'><value>mailto:abuse@s%d."
               "example</value></field></x>"
               "<x xmlns='jabber:x:data' type='result'>"
               "<field var='FORM_TYPE' type='hidden'><value>"
               "urn:xmpp:dataforms:softwareinfo</value></field>"
               "<field var='software'><value>Prosody</value></field>"
               "<field var='software_version'><value>0.12.%d</value>"
               "</field><field var='os'><value>Linux</value></field></x>"
               "</query>",
               k, k);
    return buf_steal(&b);
}

enum work {
    W_DISCO_SHARED,
    W_DISCO_PARSED,
    W_DISCO_DISTINCT,
    W_OUTCOME,
    W_CAPS_OBS
};

static struct disco_info *infos[500]; /* contents parsed by the caller */

/* One record of workload w (number i) into s. */
static void put_one(struct store *s, enum work w, int i, int64_t src,
                    char **contents)
{
    char addr[64], buf[64];
    snprintf(addr, sizeof addr, "s%d.bench.example", i);
    switch (w) {
    case W_DISCO_SHARED:
    case W_DISCO_PARSED:
    case W_DISCO_DISTINCT: {
        char *own = w == W_DISCO_DISTINCT ? content_xml(i + 1000) : NULL;
        const char *xml = own ? own : contents[i % 500];
        struct store_disco d = {.source_id = src,
                                .entity = {addr, NULL, STORE_ENT_SERVER, 0},
                                .xml = xml,
                                .xml_len = strlen(xml),
                                .info = w == W_DISCO_PARSED ? infos[i % 500]
                                                            : NULL};
        if (!store_put_disco(s, &d))
            abort();
        free(own);
        break;
    }
    case W_OUTCOME: {
        snprintf(buf, sizeof buf, "answered in %d ms", i % 1000);
        struct store_outcome o = {.source_id = src,
                                  .entity = {addr, NULL, STORE_ENT_SERVER, 0},
                                  .probe = "disco-info",
                                  .outcome = i % 10 ? "ok" : "timeout",
                                  .detail = buf,
                                  .duration_ms = i % 1000};
        if (!store_put_outcome(s, &o))
            abort();
        break;
    }
    case W_CAPS_OBS: {
        snprintf(buf, sizeof buf, "ver%d/abcdefghijklmnopqrs=", i % 5000);
        snprintf(addr, sizeof addr, "conference%d.bench.example", i % 50);
        struct store_caps_obs c = {.source_id = src,
                                   .service = {addr, NULL, STORE_ENT_MUC, 0},
                                   .algo = "sha-1",
                                   .ver = buf,
                                   .node = "https://conversations.im",
                                   .count = 1};
        if (!store_put_caps_obs(s, &c))
            abort();
        break;
    }
    }
}

static void run(const char *name, enum work w, int n, int64_t src,
                char **contents)
{
    struct store_opts o;
    store_opts_default(&o);
    o.conninfo = conninfo;
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    store_set_pressure_cb(s, on_pressure, NULL);
    /* let it connect first: the connection time is not throughput */
    for (int k = 0; k < 200; k++) {
        struct store_stats st;
        store_get_stats(s, &st);
        if (st.db_up)
            break;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    double t0 = wall(), put_cpu = 0;
    for (int i = 0; i < n; i++) {
        double c0 = cpu();
        put_one(s, w, i, src, contents);
        put_cpu += cpu() - c0;
        if (i % 256 == 255 || paused) {
            event_base_loop(base, EVLOOP_NONBLOCK);
            while (paused)
                event_base_loop(base, EVLOOP_ONCE);
        }
    }
    int done = 0;
    store_drain(s, 0, on_done, &done);
    while (!done)
        event_base_loop(base, EVLOOP_ONCE);
    double t = wall() - t0;
    struct store_stats st;
    store_get_stats(s, &st);
    printf("%-28s %8d records %7.2f s %9.0f records/s  put cpu %5.2f us/record"
           "  batches %llu\n",
           name, n, t, n / t, put_cpu / n * 1e6,
           (unsigned long long)st.batches_written);
    store_free(s);
}

static void memory(const char *name, enum work w, int n, int64_t src,
                   char **contents)
{
    struct store_opts o;
    store_opts_default(&o);
    o.conninfo = "host=/nonexistent-xcensus-bench dbname=none";
    o.max_memory = (size_t)1 << 40; /* no spilling: measure memory */
    o.high_water = (size_t)1 << 40;
    char why[256];
    struct store *s = store_new(base, &o, why, sizeof why);
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < n; i++)
        put_one(s, w, i, src, contents);
    store_flush(s);
    struct mallinfo2 m1 = mallinfo2();
    struct store_stats st;
    store_get_stats(s, &st);
    printf("%-28s %8d records queued: %6.1f COPY bytes/record, heap %6.1f "
           "bytes/record\n",
           name, n, (double)st.memory_bytes / n,
           (double)(m1.uordblks - m0.uordblks) / n);
    store_free(s);
}

int main(int argc, char **argv)
{
    bool fast = false;
    int a = 1;
    if (a < argc && strcmp(argv[a], "--fast") == 0) {
        fast = true;
        a++;
    }
    const char *dir = a < argc ? argv[a] : "/tmp/xcensus-bench-store";
    log_max_level = LOG_WARN;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/../../scripts/pg' start %s'%s' >/dev/null",
             XC_TEST_DATA, fast ? "--fast " : "", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_store: could not start PostgreSQL in %s\n", dir);
        return 1;
    }
    snprintf(cmd, sizeof cmd, "'%s/../../scripts/pg' conninfo '%s'",
             XC_TEST_DATA, dir);
    FILE *f = popen(cmd, "r");
    char base_ci[1024] = "";
    if (f == NULL || fgets(base_ci, sizeof base_ci, f) == NULL)
        return 1;
    pclose(f);
    base_ci[strcspn(base_ci, "\n")] = '\0';
    struct pg_conn *c = pg_connect(base_ci);
    if (c == NULL)
        return 1;
    struct pg_err err;
    if (!pg_exec(c, "DROP DATABASE IF EXISTS xc_bench_store", &err) ||
        !pg_exec(c, "CREATE DATABASE xc_bench_store", &err)) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        return 1;
    }
    pg_close(c);
    snprintf(conninfo, sizeof conninfo, "%s dbname=xc_bench_store", base_ci);
    c = pg_connect(conninfo);
    struct migrate_report rep;
    if (c == NULL || migrate_apply(c, sql_migrations, sql_migrations_count,
                                   &rep) != MIGRATE_CURRENT)
        return 1;
    bool found;
    char *v = pg_query_value(c,
                             "INSERT INTO sources (kind, name) VALUES "
                             "('crawl', 'bench') RETURNING id",
                             0, NULL, &found, &err);
    int64_t src = v ? atoll(v) : 0;
    free(v);
    pg_close(c);
    base = event_base_new();
    char *contents[500];
    for (int i = 0; i < 500; i++) {
        contents[i] = content_xml(i);
        struct parse_err perr;
        infos[i] = disco_parse(contents[i], strlen(contents[i]), NULL, &perr);
        if (infos[i] == NULL)
            abort();
    }

    printf("PostgreSQL %s, defaults: 2000 records or 4 MiB or 200 ms per "
           "batch, 2 batches in flight\n",
           fast ? "--fast (fsync off)" : "durable (fsync on)");
    run("(a) disco, 500 contents", W_DISCO_SHARED, 20000, src, contents);
    run("(a') the same, parsed info", W_DISCO_PARSED, 20000, src, contents);
    run("(b) disco, all distinct", W_DISCO_DISTINCT, 5000, src, contents);
    run("(c) probe outcomes", W_OUTCOME, 200000, src, contents);
    run("(d) caps observations", W_CAPS_OBS, 200000, src, contents);
    memory("(a) disco, 500 contents", W_DISCO_SHARED, 20000, src, contents);
    memory("(c) probe outcomes", W_OUTCOME, 100000, src, contents);
    memory("(d) caps observations", W_CAPS_OBS, 100000, src, contents);
    for (int i = 0; i < 500; i++) {
        free(contents[i]);
        disco_info_free(infos[i]);
    }
    event_base_free(base);
    snprintf(cmd, sizeof cmd, "'%s/../../scripts/pg' stop '%s' >/dev/null",
             XC_TEST_DATA, dir);
    return system(cmd) == 0 ? 0 : 1;
}
