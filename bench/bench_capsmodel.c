/*
 * The caps cache at scale (issue 6): the capsdb entries grown with the
 * synthetic generator (analyzer/synth) to 1e3 .. 1e7 entries; for each size
 * the build rate, memory, exact lookups by (algorithm, ver) and by node#ver
 * (p50/p99 of single lookups, clock overhead subtracted), and feature
 * searches by linear scan and by the inverted index.
 *   bench_capsmodel [--max N] [--capsdb FILE] [--seed S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

#include "capsdb.h"
#include "capsmodel.h"
#include "disco.h"
#include "synth.h"
#include "xalloc.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f && fscanf(f, "%ld %ld", &pages, &res) != 2)
        res = 0;
    if (f)
        fclose(f);
    return res * 4;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void pct(double *v, size_t n, double *p50, double *p99)
{
    qsort(v, n, sizeof *v, cmp_d);
    *p50 = v[n / 2];
    *p99 = v[(size_t)((double)n * 0.99)];
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Latency of one dependent load from a buffer of `bytes` (a random
 * pointer chase): the floor for any lookup that misses the caches. */
static double chase_ns(size_t bytes)
{
    size_t n = bytes / sizeof(size_t);
    size_t *next = xcalloc(n, sizeof *next);
    for (size_t i = 0; i < n; i++)
        next[i] = i;
    for (size_t i = n - 1; i > 0; i--) { /* Sattolo: one cycle */
        size_t j = (size_t)(rnd() % i);
        size_t t = next[i];
        next[i] = next[j];
        next[j] = t;
    }
    size_t p = 0, steps = 2000000;
    double a = now_ns();
    for (size_t i = 0; i < steps; i++)
        p = next[p];
    double ns = (now_ns() - a) / (double)steps;
    if (p == SIZE_MAX)
        printf("!");
    free(next);
    return ns;
}

static void measure(struct capsmodel *m, double build_s)
{
    size_t n = capsmodel_count(m);
    double t0 = now_ns();
    capsmodel_index_build(m);
    double index_ms = (now_ns() - t0) / 1e6;

    /* clock overhead: the median of empty timed intervals */
    enum { L = 200000 };
    double *v = xcalloc(L, sizeof *v);
    for (size_t i = 0; i < L; i++) {
        double a = now_ns();
        v[i] = now_ns() - a;
    }
    double o50, o99;
    pct(v, L, &o50, &o99);

    /* exact lookups of existing keys */
    char (*keys)[128] = xcalloc(L, sizeof *keys);
    enum hash_algo *algo = xcalloc(L, sizeof *algo);
    char (*nodes)[300] = xcalloc(L, sizeof *nodes);
    const struct strtab *s = capsmodel_strings(m);
    for (size_t i = 0; i < L; i++) {
        uint32_t e = (uint32_t)(rnd() % n);
        const char *k = capsmodel_key(m, e);
        snprintf(keys[i], sizeof keys[i], "%s", strchr(k, ' ') + 1);
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(strchr(k, ' ') - k), k);
        if (!hash_algo_parse(name, &algo[i]))
            algo[i] = HASH_SHA1;
        uint32_t nd = capsmodel_entry(m, e)->node;
        snprintf(nodes[i], sizeof nodes[i], "%s", nd != CM_NONE ? strtab_str(s, nd) : "");
    }
    size_t miss = 0;
    for (size_t i = 0; i < L; i++) {
        double a = now_ns();
        uint32_t e = capsmodel_lookup(m, algo[i], keys[i]);
        v[i] = now_ns() - a - o50;
        miss += e == CM_NONE;
    }
    double l50, l99;
    pct(v, L, &l50, &l99);
    /* the same with keys drawn by popularity (Zipf(1) over the entries),
     * as a cache sees them: hot entries stay in the CPU caches */
    {
        double hn = 0;
        for (size_t r = 1; r <= n; r++)
            hn += 1.0 / (double)r;
        for (size_t i = 0; i < L; i++) {
            double u = (double)(rnd() >> 11) / 9007199254740992.0 * hn, acc = 0;
            size_t r = 1;
            /* inverse CDF by a coarse search: exp(u) approximates the rank */
            r = (size_t)exp(u - 0.5772);
            if (r < 1)
                r = 1;
            if (r > n)
                r = n;
            (void)acc;
            uint32_t e = (uint32_t)((r * 2654435761u) % n); /* rank -> entry */
            const char *k = capsmodel_key(m, e);
            snprintf(keys[i], sizeof keys[i], "%s", strchr(k, ' ') + 1);
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)(strchr(k, ' ') - k), k);
            if (!hash_algo_parse(name, &algo[i]))
                algo[i] = HASH_SHA1;
        }
    }
    for (size_t i = 0; i < L; i++) {
        double a = now_ns();
        uint32_t e = capsmodel_lookup(m, algo[i], keys[i]);
        v[i] = now_ns() - a - o50;
        miss += e == CM_NONE;
    }
    double z50, z99;
    pct(v, L, &z50, &z99);
    for (size_t i = 0; i < L; i++) {
        double a = now_ns();
        uint32_t e = capsmodel_lookup_nodever(m, nodes[i], keys[i]);
        v[i] = now_ns() - a - o50;
        (void)e;
    }
    double nv50, nv99;
    pct(v, L, &nv50, &nv99);

    /* searches: a rare feature, a common one, and all of three */
    static const char *const rare[] = {"urn:xmpp:jingle:apps:rtp:video"};
    static const char *const common[] = {"http://jabber.org/protocol/muc"};
    static const char *const three[] = {"http://jabber.org/protocol/caps",
                                        "urn:xmpp:time", "jabber:iq:version"};
    const struct {
        const char *name;
        const char *const *vars;
        size_t n;
    } qs[] = {{"rare F", rare, 1}, {"common F", common, 1}, {"all of 3", three, 3}};
    uint32_t *out = xcalloc(n, sizeof *out);
    printf("%9zu entries: build %.2f s (%.0f/s), index %.1f ms, model %.1f MiB, RSS %.1f MiB\n",
           n, build_s, (double)n / build_s, index_ms,
           (double)capsmodel_memory(m) / 1048576.0, (double)rss_kib() / 1024.0);
    printf("%9s lookup (algo,ver) uniform keys p50 %.0f ns p99 %.0f ns; Zipf keys p50 %.0f ns "
           "p99 %.0f ns%s; node#ver (uniform) p50 %.0f ns p99 %.0f ns\n",
           "", l50, l99, z50, z99, miss ? " (MISSES!)" : "", nv50, nv99);
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        enum { R = 15 };
        double sc[R], ix[R];
        size_t hits = 0, hits2 = 0;
        for (int r = 0; r < R; r++) {
            double a = now_ns();
            hits = capsmodel_search_scan(m, qs[k].vars, qs[k].n, out, n);
            sc[r] = now_ns() - a;
            a = now_ns();
            hits2 = capsmodel_search_index(m, qs[k].vars, qs[k].n, out, n);
            ix[r] = now_ns() - a;
        }
        double s50, s99, i50, i99;
        pct(sc, R, &s50, &s99);
        pct(ix, R, &i50, &i99);
        printf("%9s search %-8s %7zu hits: scan p50 %.3f ms, index p50 %.3f ms%s\n", "",
               qs[k].name, hits, s50 / 1e6, i50 / 1e6, hits == hits2 ? "" : " (DISAGREE!)");
    }
    fflush(stdout);
    free(out);
    free(keys);
    free(algo);
    free(nodes);
    free(v);
}

int main(int argc, char **argv)
{
    size_t max = 1000000;
    const char *path = XC_TEST_DATA "/capsdb/capsdb.jsonl";
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--max") == 0)
            max = (size_t)strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--capsdb") == 0)
            path = argv[i + 1];
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 10);
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    struct disco_info **seeds = xcalloc(4096, sizeof *seeds);
    const char **seed_nodes = xcalloc(4096, sizeof *seed_nodes);
    char **vers = xcalloc(4096, sizeof *vers);
    enum hash_algo *algos = xcalloc(4096, sizeof *algos);
    size_t ns = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0 && ns < 4096) {
        struct capsdb_entry e;
        struct parse_err err = {0};
        if (!capsdb_parse_line(line, (size_t)len, &e, &err))
            continue;
        struct disco_info *d = disco_parse(e.xml, e.xml_len, NULL, &err);
        if (d && hash_algo_parse(e.hash, &algos[ns])) {
            seeds[ns] = d;
            seed_nodes[ns] = xstrdup(e.node);
            vers[ns] = xstrdup(e.ver);
            ns++;
        } else {
            disco_info_free(d);
        }
        capsdb_entry_free(&e);
    }
    free(line);
    fclose(f);
    printf("memory latency (random pointer chase): 1 MiB %.0f ns, 64 MiB %.0f ns, 512 MiB %.0f ns\n",
           chase_ns(1u << 20), chase_ns(64u << 20), chase_ns(512u << 20));
    printf("seeds: %zu capsdb entries; synthetic growth: releases 45 %%, OS builds 30 %% "
           "(XEP-0232 entries), feature variants 25 %%\n",
           ns);

    struct synth *g = synth_new(seeds, seed_nodes, ns, seed);
    struct capsmodel *m = capsmodel_new();
    double t0 = now_ns();
    size_t target = 1000;
    for (size_t i = 0; i < ns && capsmodel_count(m) < max; i++) {
        struct cm_input in = {algos[i], vers[i], seed_nodes[i], seeds[i], 1, 1, true};
        capsmodel_add(m, &in);
        if (capsmodel_count(m) == target) {
            measure(m, (now_ns() - t0) / 1e9);
            target *= 10;
        }
    }
    while (target <= max) {
        while (capsmodel_count(m) < target) {
            const char *node;
            char ver[HASH_B64_MAX];
            struct disco_info *d = synth_next(g, &node, ver);
            struct cm_input in = {HASH_SHA1, ver, node, d, 1, 1500, true};
            capsmodel_add(m, &in);
            disco_info_free(d);
        }
        measure(m, (now_ns() - t0) / 1e9);
        target *= 10;
    }
    capsmodel_free(m);
    synth_free(g);
    for (size_t i = 0; i < ns; i++) {
        disco_info_free(seeds[i]);
        free((char *)seed_nodes[i]);
        free(vers[i]);
    }
    free(seeds);
    free(seed_nodes);
    free(vers);
    free(algos);
    return 0;
}
