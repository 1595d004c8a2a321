/*
 * Loading the analyzer's model from PostgreSQL at scale (issue 6: 1e6
 * entries in under 5 s). With --generate, first grows the capsdb
 * population with the synthetic generator (analyzer/synth: new releases,
 * OS builds, feature-set variants, each a real disco#info with its strict
 * sha-1 ver) to N entries and stores it as source NAME the way every caps
 * collection is stored: written as capsdb JSON lines in chunks and imported
 * with lib/capsdb (COPY into stage tables, then merged into the normalised
 * tables). Then times analysis_load() (the normalised tables read with
 * COPY) REPEAT times and, with --xml, analysis_load_xml() (every stored
 * disco#info parsed again) once, printing the machine's load average
 * before and after each.
 * -v logs each load's phases (debug level).
 *   bench_analyze_load [-d CONNINFO] [--source NAME] [--generate N]
 *                      [--chunk N] [--repeat R] [--xml] [--seed S] [-v]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "analysis.h"
#include "capsdb.h"
#include "capsmodel.h"
#include "disco.h"
#include "log.h"
#include "pg.h"
#include "synth.h"
#include "xalloc.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void loadavg(const char *when)
{
    char b[128] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fgets(b, sizeof b, f))
        b[strcspn(b, "\n")] = '\0';
    if (f)
        fclose(f);
    printf("  load average %s: %s\n", when, b);
}

/* CPU seconds this process has used (user + system). */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds (user + system) the server process serving c has used, or
 * -1 (it runs on another host, or /proc is not readable). */
static double backend_cpu_s(struct pg_conn *c)
{
    struct pg_err err = {0};
    bool found;
    char *pid = pg_query_value(c, "SELECT pg_backend_pid()", 0, NULL, &found, &err);
    if (pid == NULL)
        return -1;
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    free(pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    double v = -1;
    if (fgets(line, sizeof line, f)) {
        char *p = strrchr(line, ')');
        unsigned long long ut, st;
        /* fields after the command: state ppid pgrp session tty tpgid flags
         * minflt cminflt majflt cmajflt utime stime */
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                        &ut, &st) == 2)
            v = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    fclose(f);
    return v;
}

static long rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f && fscanf(f, "%ld %ld", &pages, &res) != 2)
        res = 0;
    if (f)
        fclose(f);
    return res * 4 / 1024;
}

static bool import_file(struct pg_conn *c, const char *path, const char *source)
{
    struct capsdb_stats st;
    enum capsdb_result r = capsdb_import(c, path, source, stderr, &st);
    printf("  imported %zu lines (%lld new entries) in %.1f s\n", st.imported,
           st.new_entries, st.seconds);
    fflush(stdout);
    return r != CAPSDB_FAILED;
}

/* The capsdb entries, then synthetic ones, until the source has n lines. */
static bool generate(struct pg_conn *c, const char *source, size_t n, size_t chunk,
                     uint64_t seed)
{
    const char *capsdb = XC_TEST_DATA "/capsdb/capsdb.jsonl";
    printf("generating %zu entries as source %s\n", n, source);
    if (!import_file(c, capsdb, source))
        return false;
    FILE *f = fopen(capsdb, "r");
    if (f == NULL) {
        perror(capsdb);
        return false;
    }
    struct disco_info **seeds = xcalloc(4096, sizeof *seeds);
    const char **nodes = xcalloc(4096, sizeof *nodes);
    size_t ns = 0, lines = 0, cap = 0;
    char *line = NULL;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0 && ns < 4096) {
        struct capsdb_entry e;
        struct parse_err err = {0};
        lines++;
        if (!capsdb_parse_line(line, (size_t)len, &e, &err))
            continue;
        struct disco_info *d = disco_parse(e.xml, e.xml_len, NULL, &err);
        if (d) {
            seeds[ns] = d;
            nodes[ns++] = xstrdup(e.node);
        }
        capsdb_entry_free(&e);
    }
    free(line);
    fclose(f);
    struct synth *g = synth_new(seeds, nodes, ns, seed);
    char path[] = "/tmp/xc-bench-load-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        return false;
    }
    close(fd);
    bool ok = true;
    for (size_t done = lines; ok && done < n;) {
        FILE *out = fopen(path, "w");
        size_t k = 0;
        for (; k < chunk && done + k < n; k++) {
            const char *node;
            char ver[HASH_B64_MAX];
            struct disco_info *d = synth_next(g, &node, ver);
            char *nv = xasprintf("%s#%s", node, ver);
            disco_set_node(d, nv);
            char *xml = disco_info_to_xml(d);
            json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "node", node, "ver", ver,
                                  "hash", "sha-1", "disco_info_xml", xml);
            char *js = json_dumps(o, JSON_COMPACT);
            fprintf(out, "%s\n", js);
            free(js);
            json_decref(o);
            free(xml);
            free(nv);
            disco_info_free(d);
        }
        ok = fclose(out) == 0 && import_file(c, path, source);
        done += k;
    }
    unlink(path);
    synth_free(g);
    for (size_t i = 0; i < ns; i++) {
        disco_info_free(seeds[i]);
        free((char *)nodes[i]);
    }
    free(seeds);
    free(nodes);
    return ok;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *source = "synth";
    size_t gen = 0, chunk = 100000;
    int repeat = 3;
    bool xml = false;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--xml") == 0) {
            xml = true;
        } else if (strcmp(a, "-v") == 0) {
            log_max_level = LOG_DEBUG;
        } else if (v && strcmp(a, "-d") == 0) {
            db = argv[++i];
        } else if (v && strcmp(a, "--source") == 0) {
            source = argv[++i];
        } else if (v && strcmp(a, "--generate") == 0) {
            gen = (size_t)strtod(argv[++i], NULL);
        } else if (v && strcmp(a, "--chunk") == 0) {
            chunk = (size_t)strtod(argv[++i], NULL);
        } else if (v && strcmp(a, "--repeat") == 0) {
            repeat = atoi(argv[++i]);
        } else if (v && strcmp(a, "--seed") == 0) {
            seed = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_analyze_load [-d CONNINFO] [--source NAME] "
                            "[--generate N] [--chunk N] [--repeat R] [--xml] [--seed S] [-v]\n");
            return 2;
        }
    }
    struct pg_conn *c = pg_connect(pg_conninfo_resolve(db, NULL));
    if (c == NULL)
        return 1;
    if (gen) {
        struct pg_err err = {0};
        if (!generate(c, source, gen, chunk ? chunk : 100000, seed) ||
            !pg_exec(c, "VACUUM ANALYZE", &err)) {
            fprintf(stderr, "generation failed %s\n", err.msg);
            pg_close(c);
            return 1;
        }
    }
    const char *srcs[] = {source};
    for (int pass = 0; pass < repeat + (xml ? 1 : 0); pass++) {
        bool use_xml = pass >= repeat;
        struct analysis_params p = {.sources = srcs, .n_sources = 1};
        struct capsmodel *m = capsmodel_new();
        struct pg_err err = {0};
        loadavg("before");
        double b0 = backend_cpu_s(c);
        double t0 = now_s(), c0 = cpu_s();
        long rows = use_xml ? analysis_load_xml(c, &p, m, &err)
                            : analysis_load(c, &p, m, &err);
        double s = now_s() - t0, cs = cpu_s() - c0;
        double bs = backend_cpu_s(c) - b0;
        loadavg("after");
        if (rows < 0) {
            fprintf(stderr, "load failed: %s\n", err.msg);
            capsmodel_free(m);
            pg_close(c);
            return 1;
        }
        printf("%s loader: %zu entries (%ld rows, %zu without XEP-0232) in %.2f s, "
               "%.0f entries/s; CPU: client %.2f s, server %.2f s; RSS %ld MiB\n",
               use_xml ? "XML" : "COPY", capsmodel_count(m), rows,
               capsmodel_stripped_count(m), s, (double)capsmodel_count(m) / s, cs, bs, rss_mib());
        fflush(stdout);
        capsmodel_free(m);
    }
    pg_close(c);
    return 0;
}
