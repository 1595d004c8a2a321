/*
 * Caps verification throughput on one core over the 1,611 capsdb entries:
 *   (a) XEP-0115 verify from the parsed model (build S, hash, compare)
 *   (b) the same from raw XML (expat parse + verify)
 *   (c) XEP-0390 input + sha-256 from the model
 *   (d) ceiling: OpenSSL SHA-1 alone over every entry's S
 * Each figure is the median of RUNS runs in entries per CPU second of
 * this thread (the wall-clock rate is printed too); a run repeats the
 * corpus until it used at least MIN_RUN_S seconds of CPU. Not a test: it prints
 * numbers. Usage: bench_verify [CAPSDB.jsonl] [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "caps.h"
#include "caps2.h"
#include "disco.h"
#include "hash.h"
#include "xalloc.h"

#define MIN_RUN_S 0.5

struct entry {
    char *xml;
    size_t len;
    char *hash, *ver;
    struct disco_info *info;
    char *s; /* strict/lenient S */
    size_t s_len;
};

/* CPU time of this thread: on a shared machine wall time measures the
 * other tenants too; "per core" throughput is work per CPU second. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static volatile size_t sink;

typedef size_t (*pass_fn)(struct entry *e, size_t n);

static size_t pass_model(struct entry *e, size_t n)
{
    static struct caps_result r;
    static bool init;
    if (!init) {
        caps_result_init(&r);
        init = true;
    }
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += caps_verify(e[i].info, e[i].hash, e[i].ver, 0, &r) == CAPS_VALID;
    return ok;
}

static size_t pass_xml(struct entry *e, size_t n)
{
    static struct caps_result r;
    static bool init;
    if (!init) {
        caps_result_init(&r);
        init = true;
    }
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += caps_verify_xml(e[i].xml, e[i].len, NULL, e[i].hash, e[i].ver, 0,
                              &r, NULL) == CAPS_VALID;
    return ok;
}

static size_t pass_parse(struct entry *e, size_t n)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        struct disco_info *info = disco_parse(e[i].xml, e[i].len, NULL, NULL);
        ok += info != NULL;
        disco_info_free(info);
    }
    return ok;
}

static size_t pass_caps2(struct entry *e, size_t n)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        char h[HASH_B64_MAX];
        bool hok;
        ok += caps2_hash(e[i].info, HASH_SHA256, h, &hok) == CAPS2_ERR_NONE;
    }
    return ok;
}

static size_t pass_sha1(struct entry *e, size_t n)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char d[HASH_MAX_LEN];
        ok += hash_digest(HASH_SHA1, e[i].s, e[i].s_len, d);
    }
    return ok;
}

static void measure(const char *label, pass_fn fn, struct entry *e, size_t n,
                    int runs)
{
    double *rates = xcalloc((size_t)runs, sizeof *rates);
    double *wrates = xcalloc((size_t)runs, sizeof *wrates);
    fn(e, n); /* warm-up */
    for (int r = 0; r < runs; r++) {
        size_t done = 0;
        double t0 = now(), w0 = wall(), t;
        do {
            sink += fn(e, n);
            done += n;
            t = now();
        } while (t - t0 < MIN_RUN_S);
        rates[r] = (double)done / (t - t0);
        wrates[r] = (double)done / (wall() - w0);
    }
    qsort(rates, (size_t)runs, sizeof *rates, cmp_double);
    qsort(wrates, (size_t)runs, sizeof *wrates, cmp_double);
    printf("%-42s %9.0f /cpu-s (min %.0f max %.0f) wall %9.0f /s\n", label,
           rates[runs / 2], rates[0], rates[runs - 1], wrates[runs / 2]);
    free(rates);
    free(wrates);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : XC_TEST_DATA "/capsdb/capsdb.jsonl";
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (runs < 1)
        runs = 1;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    struct entry *e = NULL;
    size_t n = 0, xml_bytes = 0, s_bytes = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        const char *xml =
            json_string_value(json_object_get(j, "disco_info_xml"));
        if (xml == NULL) {
            json_decref(j);
            continue;
        }
        e = xreallocarray(e, n + 1, sizeof *e);
        e[n].xml = xstrdup(xml);
        e[n].len = strlen(xml);
        e[n].hash = xstrdup(json_string_value(json_object_get(j, "hash")));
        e[n].ver = xstrdup(json_string_value(json_object_get(j, "ver")));
        e[n].info = disco_parse(e[n].xml, e[n].len, NULL, NULL);
        if (e[n].info == NULL) {
            fprintf(stderr, "entry %zu does not parse\n", n + 1);
            return 1;
        }
        struct buf s = BUF_INIT;
        caps_build_s(e[n].info, CAPS_M_LENIENT, &s, NULL);
        e[n].s_len = s.len;
        e[n].s = buf_steal(&s);
        xml_bytes += e[n].len;
        s_bytes += e[n].s_len;
        n++;
        json_decref(j);
    }
    free(line);
    fclose(f);
    printf("corpus: %s: %zu entries, mean XML %.0f bytes, mean S %.0f bytes\n",
           path, n, (double)xml_bytes / (double)n, (double)s_bytes / (double)n);
    size_t valid = pass_model(e, n);
    printf("check: %zu of %zu valid from the model, %zu from XML\n", valid, n,
           pass_xml(e, n));
    printf("figures: median of %d runs, entries per CPU second (one core)\n\n",
           runs);

    measure("(a) XEP-0115 verify from parsed model", pass_model, e, n, runs);
    measure("(b) XEP-0115 verify from raw XML", pass_xml, e, n, runs);
    measure("    of which: parse only (expat + model)", pass_parse, e, n, runs);
    measure("(c) XEP-0390 input + sha-256 from model", pass_caps2, e, n, runs);
    measure("(d) ceiling: SHA-1 of each S only", pass_sha1, e, n, runs);

    /* raw SHA-1 bandwidth on 1 KiB blocks, for comparison with
     * `openssl speed sha1` */
    static unsigned char block[1024];
    size_t blocks = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 1000; i++) {
            unsigned char d[HASH_MAX_LEN];
            sink += hash_digest(HASH_SHA1, block, sizeof block, d);
        }
        blocks += 1000;
        t = now();
    } while (t - t0 < 1.0);
    printf("%-44s %10.1f MB/s\n", "SHA-1 on 1024-byte blocks (hash_digest)",
           (double)blocks * 1024 / (t - t0) / 1e6);

    for (size_t i = 0; i < n; i++) {
        free(e[i].xml);
        free(e[i].hash);
        free(e[i].ver);
        free(e[i].s);
        disco_info_free(e[i].info);
    }
    free(e);
    return 0;
}
