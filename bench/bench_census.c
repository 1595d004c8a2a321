/*
 * Distinct caps hashes resolved per second by the census (crawler/census
 * + crawler/capscache) against a private Prosody on 127.0.0.1 that this
 * program starts (tests/testnet/prosody_private.sh) with a population
 * (xc-population) of N clients in one public room, each advertising its
 * own hash (a XEP-0232 software info form whose OS version differs per
 * client: realistic answers, all valid). The clock runs from the first
 * query (occupant presences come before the census's own) until the last
 * hash is resolved; printed: hashes/s, queries, and the
 * per-query latency (median, max) as the cache saw it. Not a test.
 * Usage: bench_census SOURCE_DIR BUILD_DIR [N (default 200, <= 300)]
 *        [--inflight K (default 64)]
 *        bench_census --cache N: no network; the caps cache alone: time and
 *        heap to preload N hashes (as the scheduler does from the database),
 *        then lookups of known hashes per second.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <jansson.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capscache.h"
#include "census.h"
#include "log.h"
#include "session.h"
#include "strophe_ev.h"
#include "xalloc.h"

#define HOST "bench.xnet"
#define ROOM "bench@conference." HOST

static struct event_base *base;
static int n_clients = 200;
static int resolved, failed;
static double t_join, t_last, t_first;
static int lat[400], n_lat;
static bool joined, online;

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
}

static bool run_until(bool (*pred)(void), int seconds)
{
    struct timeval tick = {0, 20000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    double end = wall() + seconds;
    bool ok;
    while (!(ok = pred()) && wall() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    return ok;
}

static bool is_online(void)
{
    return online;
}
static bool is_joined(void)
{
    return joined;
}
static bool all_resolved(void)
{
    return resolved + failed >= n_clients;
}

static void on_state(void *arg, struct session *s, bool on, const char *d)
{
    online = on;
}

static void on_joined(void *arg, const char *service, const char *room,
                      enum census_join o, const char *cond)
{
    if (o == CJ_JOINED) {
        joined = true;
        t_join = wall();
    } else {
        fprintf(stderr, "join: %s %s\n", census_join_name(o), cond ? cond : "");
        exit(1);
    }
}

static void on_resolved(void *arg, const struct capscache_resolved *r)
{
    if (r->kind == CAPSCACHE_CAPS1) {
        resolved++;
        t_last = wall();
    }
}

static void on_attempt(void *arg, enum capscache_kind kind, const char *algo,
                       const char *ver, unsigned n, enum capscache_attempt o,
                       const char *cond, int ms)
{
    double sent = wall() - ms / 1000.0;
    if (t_first == 0 || sent < t_first)
        t_first = sent;
    if (n_lat < (int)(sizeof lat / sizeof lat[0]))
        lat[n_lat++] = ms;
}

static void on_failed(void *arg, enum capscache_kind kind, const char *algo,
                      const char *ver, unsigned attempts)
{
    failed++;
}

static void on_done(void *arg, const struct census_service_result *r)
{
}

/* A port p on 127.0.0.1 with p and p + 1 free (c2s, s2s). */
static int free_port_pair(void)
{
    /* below the ephemeral range, where outgoing connections take ports */
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    for (int tries = 0; tries < 200; tries++) {
        int p = 20000 + (int)(rand_r(&seed) % 12000);
        bool ok = true;
        for (int k = 0; k < 2 && ok; k++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET,
                                    .sin_port = htons((uint16_t)(p + k))};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
            if (fd >= 0)
                close(fd);
        }
        if (ok)
            return p;
    }
    return -1;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static int cache_only(long n)
{
    struct capscache_params cp = {
        .timeout_ms = 1000, .max_attempts = 3, .max_entries = (size_t)n + 1};
    size_t heap0 = mallinfo2().uordblks;
    double t0 = wall();
    struct capscache *c = capscache_new(&cp, NULL);
    char ver[64];
    for (long i = 0; i < n; i++) {
        snprintf(ver, sizeof ver, "%027ld=", i);
        if (!capscache_preload(c, CAPSCACHE_CAPS1, "sha-1", ver))
            return 1;
    }
    double t1 = wall();
    size_t heap1 = mallinfo2().uordblks;
    long known = 0;
    for (long i = 0; i < n; i++) {
        snprintf(ver, sizeof ver, "%027ld=", (i * 7919) % n);
        known += capscache_state(c, CAPSCACHE_CAPS1, "sha-1", ver) == CCS_KNOWN;
    }
    double t2 = wall();
    printf("cache: %ld hashes preloaded in %.3f s (%.0f/s), %.0f bytes each; "
           "%ld lookups in %.3f s (%.0f/s)\n",
           n, t1 - t0, n / (t1 - t0), (double)(heap1 - heap0) / (double)n,
           known, t2 - t1, n / (t2 - t1));
    capscache_free(c);
    return known == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--cache") == 0)
        return cache_only(atol(argv[2]));
    if (argc < 3) {
        fprintf(stderr, "usage: bench_census SOURCE_DIR BUILD_DIR [N] "
                        "[--inflight K]\n");
        return 2;
    }
    const char *src = argv[1], *build = argv[2];
    unsigned inflight = 64;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--inflight") == 0 && i + 1 < argc)
            inflight = (unsigned)atoi(argv[++i]);
        else
            n_clients = atoi(argv[i]);
    }
    if (n_clients < 1 || n_clients > 300) {
        fprintf(stderr, "N must be 1..300\n");
        return 2;
    }
    log_max_level = LOG_WARN;
    char dir[] = "/tmp/xcensus-bench-census";
    mkdir(dir, 0755);
    int port = free_port_pair();
    if (port < 0) {
        fprintf(stderr, "no free port\n");
        return 1;
    }
    char cmd[16384];
    int n = snprintf(cmd, sizeof cmd,
                     "'%s/tests/testnet/prosody_private.sh' start %s " HOST
                     " %d crawler:secret1",
                     src, dir, port);
    for (int i = 1; i <= n_clients; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " b%d:pw%d", i, i);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " >/dev/null");
    if (system(cmd) != 0) {
        fprintf(stderr, "could not start prosody\n");
        return 1;
    }

    /* the plan: one room, every client its own hash */
    char path[4096];
    snprintf(path, sizeof path, "%s/clients/gajim_2.5.0.json", XC_TEST_DATA);
    json_t *profile = json_load_file(path, 0, NULL);
    if (profile == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    json_t *plan = json_pack("{s:i, s:{s:o}, s:[]}", "seed", 1, "profiles",
                             "gajim", profile, "clients");
    json_t *clients = json_object_get(plan, "clients");
    for (int i = 1; i <= n_clients; i++) {
        char jid[64], pw[32], nick[32], osv[32];
        snprintf(jid, sizeof jid, "b%d@" HOST, i);
        snprintf(pw, sizeof pw, "pw%d", i);
        snprintf(nick, sizeof nick, "b%d", i);
        snprintf(osv, sizeof osv, "6.1.%d", i);
        json_t *c = json_pack(
            "{s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:b, s:s, s:[s], "
            "s:{s:s, s:s, s:s, s:s}, s:[]}",
            "id", i, "jid", jid, "password", pw, "host", "127.0.0.1", "port",
            port, "resource", "b", "nick", nick, "profile", "gajim", "caps2", 0,
            "behaviour", "normal", "rooms", ROOM, "softinfo", "os", "Linux",
            "os_version", osv, "software", "Gajim", "software_version", "2.5.0",
            "creates");
        if (i == 1)
            json_array_append_new(json_object_get(c, "creates"),
                                  json_pack("{s:s, s:b, s:b, s:n}", "room",
                                            ROOM, "public", 1, "members_only",
                                            0, "password"));
        json_array_append_new(clients, c);
    }
    char plan_path[4096], out[4096], pop[4096];
    snprintf(plan_path, sizeof plan_path, "%s/plan.json", dir);
    snprintf(out, sizeof out, "%s/presented.jsonl", dir);
    snprintf(pop, sizeof pop, "%s/tests/testnet/xc-population", build);
    json_dump_file(plan, plan_path, 0);
    json_decref(plan);
    unlink(out);
    pid_t pid = fork();
    if (pid == 0) {
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(127);
        execl(pop, pop, "--plan", plan_path, "--part", "1/1", "--out", out,
              (char *)NULL);
        _exit(127);
    }
    /* wait for the population */
    double end = wall() + 90;
    int lines = 0;
    while (wall() < end && lines < n_clients) {
        usleep(200000);
        FILE *f = fopen(out, "r");
        lines = 0;
        if (f) {
            char buf[65536];
            while (fgets(buf, sizeof buf, f))
                lines++;
            fclose(f);
        }
    }
    printf("population: %d clients presented\n", lines);

    base = event_base_new();
    struct strophe_ev *sev = strophe_ev_new(base, 50);
    struct session_params sp = {
        .jid = "crawler@" HOST,
        .password = "secret1",
        .host = "127.0.0.1",
        .port = (unsigned short)port,
        .plaintext = true,
        .rate = 10000,
        .burst = 1000,
        .max_inflight = inflight,
        .reconnect_max_ms = 2000,
        .ident_name = "xcensus-bench",
        .ident_version = "0",
    };
    struct session *s = session_new(base, sev, NULL, &sp, on_state, NULL);
    struct capscache_params cp = {.timeout_ms = 10000, .max_attempts = 3};
    struct capscache_sink ck = {NULL, on_resolved, on_attempt, on_failed};
    struct capscache *cache = capscache_new(&cp, &ck);
    struct census_params p = {
        .nick = "xcensus",
        .status = "bench",
        .rooms_per_service = 1,
        .min_occupants = 1,
        .join_duration_ms = 120000,
        .join_timeout_ms = 10000,
        .iq_timeout_ms = 10000,
        .items_max = 100,
        .items_pages = 2,
    };
    struct census_sink k = {.joined = on_joined};
    struct census *c = NULL;
    int rc = 0;
    if (!run_until(is_online, 15)) {
        fprintf(stderr, "crawler did not log in\n");
        rc = 1;
        goto out;
    }
    c = census_new(base, s, cache, &p, &k);
    census_service(c, "conference." HOST, on_done, NULL);
    if (!run_until(is_joined, 30) || !run_until(all_resolved, 120)) {
        fprintf(stderr, "incomplete: %d resolved, %d failed\n", resolved,
                failed);
        rc = 1;
    }
    /* presences (and so the first queries) come before our own */
    double t0 = t_first > 0 && t_first < t_join ? t_first : t_join;
    double secs = t_last - t0;
    qsort(lat, (size_t)n_lat, sizeof lat[0], cmp_int);
    printf(
        "census: %d distinct hashes resolved in %.3f s from the first query: "
        "%.0f hashes/s (in flight <= %u)\n",
        resolved, secs, secs > 0 ? resolved / secs : 0.0, inflight);
    printf("queries %llu, failed %d, latency median %d ms, max %d ms\n",
           (unsigned long long)capscache_stats(cache)->queries, failed,
           n_lat ? lat[n_lat / 2] : 0, n_lat ? lat[n_lat - 1] : 0);
out:
    census_free(c);
    session_free(s);
    capscache_free(cache);
    strophe_ev_free(sev);
    event_base_free(base);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    snprintf(cmd, sizeof cmd,
             "'%s/tests/testnet/prosody_private.sh' stop %s >/dev/null", src,
             dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not stop prosody\n");
    return rc;
}
