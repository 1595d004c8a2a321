/*
 * The client census (crawler/census + crawler/capscache) against a real
 * private Prosody (tests/testnet/prosody_private.sh) and the test net's
 * client population (xc-population) on 127.0.0.1. The population: a
 * public open room "pub" with normal clients (XEP-0232 software info,
 * XEP-0390), a poisoner, an escape-lt variant, a lenient-dups client, a
 * slow answerer, a client with 3,000 extra features, then (started once the
 * census is in the room) a no-answer and an error-answer client and, after
 * the cache has asked them, normal clients with the same hashes; a
 * members-only room, a password room and a public room with a
 * single occupant, each with clients found nowhere else.
 *
 * Checked: only "pub" is joined (the others are seen with the right
 * decision); every distinct hash of "pub" is resolved once and classified
 * exactly as presented.jsonl's "expected" says; XEP-0390 hashes verify
 * (mismatch for the poisoner); the no-answer client's hash is resolved by
 * the fallback occupant after a timeout, the error-answer client's after
 * the iq error; one query per distinct hash plus the fallbacks; observation
 * counts equal the population's; no hash of the other rooms shows up; and
 * privacy: the census runs at debug log level into a file, and neither that
 * file nor anything the sinks received contains any occupant nick or JID;
 * with a database (argv[5], see census.sh) every sink call also goes
 * through crawler/census_store into it, and census.sh searches its dump.
 * Then, against the same population: a refused join (nick conflict) is one
 * error outcome, not retried, with nothing observed or asked;
 * rooms_per_service 0 joins nothing (pub is "over-limit"); census_free()
 * during a visit really leaves the room (muc#roominfo occupant count); an
 * occupant sending 50 presences with 50 different hashes gets at most 5
 * counted and asked; a service that lists no rooms and one that cannot be
 * reached end with their outcome; an occupant changing its nick twice is
 * one occupant with its caps counted once.
 *
 * argv: PROSODY_SCRIPT DIR XC_POPULATION DATA_DIR [CONNINFO]. Skips (77)
 * without prosody unless CI=true.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "capscache.h"
#include "census.h"
#include "census_store.h"
#include "migrate.h"
#include "pg.h"
#include "sql_embedded.h"
#include "store.h"
#include "log.h"
#include "session.h"
#include "stanza.h"
#include "strophe_ev.h"
#include "xalloc.h"

#define HOST "census.xnet"
#define SERVICE "conference." HOST
#define PUB "pub@" SERVICE
#define MEMBERS "members@" SERVICE
#define SECRET "secret@" SERVICE
#define LONELY "lonely@" SERVICE
#define N_CLIENTS 14
#define PRIVATE_MARK "zq7" /* every occupant nick and JID holds it */

static const char *script, *dir, *population, *datadir;
static int port;
static struct event_base *base;
static struct strophe_ev *sev;
static FILE *logfp;
static char logpath[4096];

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

static void wake(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until pred(arg) is true, at most `seconds`. */
static bool run_until(bool (*pred)(void *), void *arg, int seconds)
{
    struct timeval tick = {0, 50000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    time_t end = time(NULL) + seconds;
    bool ok;
    while (!(ok = pred(arg)) && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    return ok;
}

static bool flag_set(void *arg)
{
    return *(bool *)arg;
}

/* --- the population ----------------------------------------------------- */

struct spec {
    const char *behaviour, *profile;
    bool softinfo, caps2;
    const char *room; /* the one room it is in */
    bool creates;
    bool members_only;
    const char *password;
    int part;
};

static const struct spec specs[N_CLIENTS] = {
    {"normal", "gajim_2.5.0", true, true, PUB, true, false, NULL, 1},
    {"normal", "converse.js_14.0.0", false, false, MEMBERS, true, true, NULL,
     1},
    {"normal", "monal_ios-build-982", false, false, SECRET, true, false, "pw1",
     1},
    {"normal", "movim_0.34.1", false, false, LONELY, true, false, NULL, 1},
    {"poison", "conversations_2.12.8", false, true, PUB, false, false, NULL, 1},
    {"variant:escape-lt", "conversations_2.12.8", false, false, PUB, false,
     false, NULL, 1},
    {"lenient-dups", "gajim_2.5.0", false, false, PUB, false, false, NULL, 1},
    {"slow-answer:800", "dino_0.5.1", false, false, PUB, false, false, NULL, 1},
    {"normal", "gajim_2.5.0", true, true, PUB, false, false, NULL, 1},
    {"no-answer", "profanity_0.18.2", false, false, PUB, false, false, NULL, 2},
    {"normal", "profanity_0.18.2", false, false, PUB, false, false, NULL, 3},
    {"error-answer", "profanity_0.5.0", false, false, PUB, false, false, NULL,
     2},
    {"normal", "profanity_0.5.0", false, false, PUB, false, false, NULL, 3},
    {"huge:3000", "gajim_2.5.0", false, false, PUB, false, false, NULL, 1},
};

static pid_t pops[4];
static json_t *presented[N_CLIENTS + 1]; /* by client id */

static void write_plan(const char *path)
{
    json_t *plan = json_object(), *profiles = json_object(),
           *clients = json_array();
    json_object_set_new(plan, "seed", json_integer(5));
    json_object_set_new(plan, "parts", json_integer(3));
    for (int i = 0; i < N_CLIENTS; i++) {
        const struct spec *s = &specs[i];
        if (!json_object_get(profiles, s->profile)) {
            char file[4096];
            snprintf(file, sizeof file, "%s/clients/%s.json", datadir,
                     s->profile);
            json_error_t e;
            json_t *p = json_load_file(file, 0, &e);
            assert_non_null(p);
            json_object_set_new(profiles, s->profile, p);
        }
        char jid[64], pw[32], nick[32];
        snprintf(jid, sizeof jid, PRIVATE_MARK "u%02d@" HOST, i + 1);
        snprintf(pw, sizeof pw, "pw%02d", i + 1);
        snprintf(nick, sizeof nick, PRIVATE_MARK "nick%02d", i + 1);
        json_t *c = json_pack(
            "{s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:b, s:s, s:[s], s:i}",
            "id", i + 1, "jid", jid, "password", pw, "host", "127.0.0.1",
            "port", port, "resource", "xc", "nick", nick, "profile", s->profile,
            "caps2", s->caps2, "behaviour", s->behaviour, "rooms", s->room,
            "part", s->part);
        json_object_set_new(
            c, "softinfo",
            s->softinfo ? json_pack("{s:s, s:s, s:s, s:s}", "os", "Linux",
                                    "os_version", "6.1.0-13", "software",
                                    "Tkabber", "software_version", "1.1.2")
                        : json_null());
        json_t *creates = json_array();
        if (s->creates)
            json_array_append_new(
                creates,
                json_pack("{s:s, s:b, s:b, s:o}", "room", s->room, "public", 1,
                          "members_only", s->members_only, "password",
                          s->password ? json_string(s->password)
                                      : json_null()));
        json_object_set_new(c, "creates", creates);
        json_array_append_new(clients, c);
    }
    json_object_set_new(plan, "profiles", profiles);
    json_object_set_new(plan, "clients", clients);
    assert_int_equal(json_dump_file(plan, path, 0), 0);
    json_decref(plan);
}

static pid_t spawn_part(int part)
{
    char plan[4096], out[4096], log[4096], arg[16];
    snprintf(plan, sizeof plan, "%s/plan.json", dir);
    snprintf(out, sizeof out, "%s/presented%d.jsonl", dir, part);
    snprintf(log, sizeof log, "%s/population%d.log", dir, part);
    snprintf(arg, sizeof arg, "%d/3", part);
    unlink(out);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(population, population, "--plan", plan, "--part", arg, "--out",
              out, "--log-level", "info", (char *)NULL);
        _exit(127);
    }
    return pid;
}

struct part_wait {
    int part;
    size_t want;
};

/* Reads presented lines of a part into presented[]; true when complete. */
static bool part_ready(void *arg)
{
    struct part_wait *w = arg;
    char path[4096], line[65536];
    snprintf(path, sizeof path, "%s/presented%d.jsonl", dir, w->part);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        if (j == NULL)
            continue;
        json_int_t id = json_integer_value(json_object_get(j, "id"));
        if (id >= 1 && id <= N_CLIENTS) {
            if (presented[id] == NULL)
                presented[id] = json_incref(j);
            n++;
        }
        json_decref(j);
    }
    fclose(f);
    return n >= w->want;
}

static void wait_part(int part, size_t want)
{
    struct part_wait w = {part, want};
    assert_true(run_until(part_ready, &w, 60));
}

/* --- recording sinks ---------------------------------------------------- */

struct resolved {
    enum capscache_kind kind;
    char algo[32], ver[128], node[512];
    char outcome[32], error[64], matched_by[64];
    unsigned attempts;
};

struct attempt {
    char ver[128];
    unsigned n;
    enum capscache_attempt o;
};

struct obs {
    enum capscache_kind kind;
    char algo[32], ver[128], node[512];
    unsigned count;
};

struct rec {
    struct buf all; /* every string any sink received */
    struct census_room rooms[16];
    char room_jids[16][128];
    int n_rooms;
    char joined[8][128];
    enum census_join join_out[8];
    int n_joined;
    bool pub_joined;
    int visits;
    unsigned visit_occupants;
    struct resolved res[32];
    int n_res;
    struct attempt att[64];
    int n_att;
    struct obs obs[32];
    int n_obs;
    int failed;
    bool done;
    struct census_service_result result;
};

static struct rec rec;
/* with a database (argv[5]): every sink call also goes to the store */
static const char *conninfo;
static struct census_store *dbsink;

static void put(const char *s)
{
    if (s) {
        buf_puts(&rec.all, s);
        buf_putc(&rec.all, '\n');
    }
}

static void s_room(void *arg, const struct census_room *r)
{
    if (dbsink)
        dbsink->census.room(dbsink->census.arg, r);
    put(r->service);
    put(r->room);
    if (rec.n_rooms < 16) {
        rec.rooms[rec.n_rooms] = *r;
        snprintf(rec.room_jids[rec.n_rooms], 128, "%s", r->room);
        rec.n_rooms++;
    }
}

static void s_joined(void *arg, const char *service, const char *room,
                     enum census_join o, const char *cond)
{
    if (dbsink)
        dbsink->census.joined(dbsink->census.arg, service, room, o, cond);
    put(service);
    put(room);
    put(cond);
    if (rec.n_joined < 8) {
        snprintf(rec.joined[rec.n_joined], 128, "%s", room);
        rec.join_out[rec.n_joined++] = o;
    }
    if (strcmp(room, PUB) == 0 && o == CJ_JOINED)
        rec.pub_joined = true;
}

static void s_visit(void *arg, const struct census_visit *v)
{
    if (dbsink)
        dbsink->census.visit(dbsink->census.arg, v);
    put(v->service);
    put(v->room);
    put(v->condition);
    rec.visits++;
    rec.visit_occupants = v->occupants;
    assert_int_equal(v->outcome, CJ_JOINED);
}

static void s_observed(void *arg, const struct census_obs *o)
{
    if (dbsink)
        dbsink->census.observed(dbsink->census.arg, o);
    put(o->service);
    put(o->algo);
    put(o->ver);
    put(o->node);
    assert_true(rec.n_obs < 32);
    struct obs *x = &rec.obs[rec.n_obs++];
    x->kind = o->kind;
    snprintf(x->algo, sizeof x->algo, "%s", o->algo);
    snprintf(x->ver, sizeof x->ver, "%s", o->ver);
    snprintf(x->node, sizeof x->node, "%s", o->node ? o->node : "");
    x->count = o->count;
}

static void s_outcome(void *arg, const char *service, const char *address,
                      enum probe_kind probe, enum probe_outcome o,
                      const char *cond, int ms)
{
    if (dbsink)
        dbsink->census.outcome(dbsink->census.arg, service, address, probe, o,
                               cond, ms);
    put(service);
    put(address);
    put(cond);
}

static void s_done(void *arg, const struct census_service_result *r)
{
    put(r->service);
    rec.result = *r;
    rec.result.service = NULL;
    rec.done = true;
}

static void c_resolved(void *arg, const struct capscache_resolved *r)
{
    if (dbsink)
        dbsink->cache.resolved(dbsink->cache.arg, r);
    put(r->algo);
    put(r->ver);
    put(r->node);
    put(r->outcome);
    put(r->error);
    put(r->matched_by);
    put(r->xml);
    assert_non_null(r->info);
    assert_true(rec.n_res < 32);
    struct resolved *x = &rec.res[rec.n_res++];
    x->kind = r->kind;
    snprintf(x->algo, sizeof x->algo, "%s", r->algo);
    snprintf(x->ver, sizeof x->ver, "%s", r->ver);
    snprintf(x->node, sizeof x->node, "%s", r->node ? r->node : "");
    snprintf(x->outcome, sizeof x->outcome, "%s", r->outcome);
    snprintf(x->error, sizeof x->error, "%s", r->error ? r->error : "");
    snprintf(x->matched_by, sizeof x->matched_by, "%s",
             r->matched_by ? r->matched_by : "");
    x->attempts = r->attempts;
}

static void c_attempt(void *arg, enum capscache_kind kind, const char *algo,
                      const char *ver, unsigned n, enum capscache_attempt o,
                      const char *cond, int ms)
{
    if (dbsink)
        dbsink->cache.attempt(dbsink->cache.arg, kind, algo, ver, n, o, cond,
                              ms);
    put(algo);
    put(ver);
    put(cond);
    if (rec.n_att < 64) {
        struct attempt *a = &rec.att[rec.n_att++];
        snprintf(a->ver, sizeof a->ver, "%s", ver);
        a->n = n;
        a->o = o;
    }
}

static void c_failed(void *arg, enum capscache_kind kind, const char *algo,
                     const char *ver, unsigned attempts)
{
    if (dbsink)
        dbsink->cache.failed(dbsink->cache.arg, kind, algo, ver, attempts);
    put(algo);
    put(ver);
    rec.failed++;
}

/* --- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    port = free_port_pair();
    char cmd[8192];
    struct buf accts = BUF_INIT;
    buf_puts(&accts, "crawler:secret1 " PRIVATE_MARK "hostile:pwh");
    for (int i = 1; i <= N_CLIENTS; i++)
        buf_printf(&accts, " " PRIVATE_MARK "u%02d:pw%02d", i, i);
    snprintf(cmd, sizeof cmd, "'%s' start '%s' " HOST " %d %s >/dev/null 2>&1",
             script, dir, port, accts.data);
    buf_free(&accts);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "could not start prosody (%d)\n", rc);
        return -1;
    }
    base = event_base_new();
    sev = strophe_ev_new(base, 100);
    snprintf(logpath, sizeof logpath, "%s/census.log", dir);
    logfp = fopen(logpath, "w");
    if (logfp == NULL)
        return -1;
    log_set_stream(logfp);
    log_max_level = LOG_DEBUG;
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < 4; i++)
        if (pops[i] > 0) {
            kill(pops[i], SIGTERM);
            int st;
            waitpid(pops[i], &st, 0);
        }
    for (int i = 0; i <= N_CLIENTS; i++)
        json_decref(presented[i]);
    strophe_ev_free(sev);
    event_base_free(base);
    log_set_stream(stderr);
    if (logfp)
        fclose(logfp);
    buf_free(&rec.all);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' stop '%s' >/dev/null 2>&1", script, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not stop prosody\n");
    return 0;
}

struct online_flag {
    bool online;
};

struct drained {
    bool called, ok;
};

static void on_drained(void *arg, bool ok)
{
    struct drained *d = arg;
    d->ok = ok;
    d->called = true;
}

static void on_state(void *arg, struct session *s, bool online, const char *d)
{
    ((struct online_flag *)arg)->online = online;
}

struct pending_wait {
    struct capscache *cache;
    const char *ver;
};

static bool asked(void *arg)
{
    struct pending_wait *w = arg;
    return capscache_state(w->cache, CAPSCACHE_CAPS1, "sha-1", w->ver) ==
               CCS_PENDING &&
           capscache_stats(w->cache)->queries > 0;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static const struct resolved *find_res(enum capscache_kind kind,
                                       const char *ver)
{
    for (int i = 0; i < rec.n_res; i++)
        if (rec.res[i].kind == kind && strcmp(rec.res[i].ver, ver) == 0)
            return &rec.res[i];
    return NULL;
}

static bool in_pub(int id)
{
    return strcmp(specs[id - 1].room, PUB) == 0;
}

/* Client bad's hash (shared with client good): first query ended in
 * `first`, the second (to the fallback) answered. */
static void check_fallback(int bad, int good, enum capscache_attempt first)
{
    const char *v = jstr(presented[bad], "ver");
    assert_string_equal(v, jstr(presented[good], "ver"));
    bool first_seen = false, ok2 = false;
    for (int i = 0; i < rec.n_att; i++)
        if (strcmp(rec.att[i].ver, v) == 0) {
            if (rec.att[i].n == 1 && rec.att[i].o == first)
                first_seen = true;
            if (rec.att[i].n == 2 && rec.att[i].o == CCA_OK)
                ok2 = true;
        }
    assert_true(first_seen);
    assert_true(ok2);
    assert_int_equal(find_res(CAPSCACHE_CAPS1, v)->attempts, 2);
}

static void test_census_public_room(void **state)
{
    char plan[4096];
    snprintf(plan, sizeof plan, "%s/plan.json", dir);
    write_plan(plan);
    /* part 1: every room and its creator, the first occupants of pub */
    pops[1] = spawn_part(1);
    wait_part(1, 10);

    struct online_flag f = {0};
    struct session_params sp = {
        .jid = "crawler@" HOST,
        .password = "secret1",
        .host = "127.0.0.1",
        .port = (unsigned short)port,
        .plaintext = true,
        .rate = 100,
        .burst = 20,
        .max_inflight = 20,
        .reconnect_max_ms = 2000,
        .ident_name = "xcensus-test",
        .ident_version = "0",
    };
    struct session *s = session_new(base, sev, NULL, &sp, on_state, &f);
    assert_true(run_until(flag_set, &f.online, 15));

    struct store *st = NULL;
    struct census_store cst;
    if (conninfo) {
        struct pg_conn *pc = pg_connect(conninfo);
        assert_non_null(pc);
        struct migrate_report rep;
        assert_int_equal(
            migrate_apply(pc, sql_migrations, sql_migrations_count, &rep),
            MIGRATE_CURRENT);
        struct pg_err err;
        bool found = false;
        char *id = pg_query_value(pc,
                                  "INSERT INTO sources (kind, name) VALUES "
                                  "('crawl', 'census-test') RETURNING id",
                                  0, NULL, &found, &err);
        assert_true(found);
        pg_close(pc);
        struct store_opts so;
        store_opts_default(&so);
        so.conninfo = conninfo;
        so.spill_dir = "";
        so.flush_ms = 50;
        char why[256];
        st = store_new(base, &so, why, sizeof why);
        assert_non_null(st);
        census_store_init(&cst, st, atoll(id));
        free(id);
        dbsink = &cst;
    }
    struct capscache_params cp = {.timeout_ms = 3000, .max_attempts = 3};
    struct capscache_sink csink = {NULL, c_resolved, c_attempt, c_failed};
    struct capscache *cache = capscache_new(&cp, &csink);
    struct census_params p = {
        .nick = "xcensus-test",
        .status = "census test: stores no nicks",
        .rooms_per_service = 5,
        .min_occupants = 2,
        .join_duration_ms = 25000,
        .join_timeout_ms = 10000,
        .iq_timeout_ms = 5000,
        .items_max = 100,
        .items_pages = 5,
    };
    struct census_sink sink = {NULL,    s_room,     s_joined,
                               s_visit, s_observed, s_outcome};
    struct census *c = census_new(base, s, cache, &p, &sink);
    census_service(c, SERVICE, s_done, NULL);
    assert_true(run_until(flag_set, &rec.pub_joined, 30));

    /* part 2: the no-answer and error-answer clients; wait until the cache
     * has asked them */
    pops[2] = spawn_part(2);
    wait_part(2, 2);
    struct pending_wait pw = {cache, jstr(presented[10], "ver")};
    assert_true(run_until(asked, &pw, 20));
    struct pending_wait pw2 = {cache, jstr(presented[12], "ver")};
    assert_true(run_until(asked, &pw2, 20));
    /* part 3: normal clients with the same hashes, the fallbacks */
    pops[3] = spawn_part(3);
    wait_part(3, 2);

    assert_true(run_until(flag_set, &rec.done, 60));
    /* the room was left: no occupant address is held any more */
    assert_int_equal(capscache_candidates(cache), 0);
    census_free(c);
    if (st) {
        struct drained d = {0};
        store_drain(st, 0, on_drained, &d);
        assert_true(run_until(flag_set, &d.called, 60));
        assert_true(d.ok);
        store_free(st);
        dbsink = NULL;
        assert_int_equal(cst.refused, 0);
        assert_true(cst.puts > 20);
    }
    session_free(s);

    /* rooms: only pub joined; the others for the right reason */
    assert_int_equal(rec.n_rooms, 4);
    for (int i = 0; i < rec.n_rooms; i++) {
        const char *r = rec.room_jids[i];
        enum census_decision want = strcmp(r, PUB) == 0       ? CD_JOIN
                                    : strcmp(r, MEMBERS) == 0 ? CD_MEMBERS_ONLY
                                    : strcmp(r, SECRET) == 0  ? CD_PASSWORD
                                    : strcmp(r, LONELY) == 0  ? CD_TOO_FEW
                                                              : CD__COUNT;
        print_message("room %s: %s (%ld occupants)\n", r,
                      census_decision_name(rec.rooms[i].decision),
                      rec.rooms[i].occupants);
        assert_int_equal(rec.rooms[i].decision, want);
    }
    assert_int_equal(rec.n_joined, 1);
    assert_string_equal(rec.joined[0], PUB);
    assert_int_equal(rec.join_out[0], CJ_JOINED);
    assert_int_equal(rec.visits, 1);
    assert_int_equal(rec.result.rooms_joined, 1);

    /* every distinct XEP-0115 hash of pub, classified as expected */
    int distinct = 0;
    for (int id = 1; id <= N_CLIENTS; id++) {
        json_t *x = presented[id];
        assert_non_null(x);
        const char *ver = jstr(x, "ver");
        const struct resolved *r = find_res(CAPSCACHE_CAPS1, ver);
        if (!in_pub(id)) {
            assert_null(r); /* its room was not joined */
            continue;
        }
        bool first = true;
        for (int j = 1; j < id; j++)
            if (in_pub(j) && strcmp(jstr(presented[j], "ver"), ver) == 0)
                first = false;
        distinct += first;
        assert_non_null(r);
        json_t *exp = json_object_get(x, "expected");
        print_message("client %d (%s): %s/%s%s%s after %u queries\n", id,
                      specs[id - 1].behaviour, r->outcome, r->matched_by,
                      r->error[0] ? " " : "", r->error, r->attempts);
        assert_string_equal(r->algo, jstr(x, "hash"));
        assert_string_equal(r->outcome, jstr(exp, "outcome"));
        assert_string_equal(r->matched_by, jstr(exp, "matched_by"));
        assert_string_equal(r->error, jstr(exp, "error"));
    }
    int caps1_res = 0;
    for (int i = 0; i < rec.n_res; i++)
        caps1_res += rec.res[i].kind == CAPSCACHE_CAPS1;
    assert_int_equal(caps1_res, distinct); /* each once, nothing else */
    assert_int_equal(rec.failed, 0);

    /* XEP-0390: valid for the normal clients, mismatch for the poisoner */
    int caps2_distinct = 0;
    for (int id = 1; id <= N_CLIENTS; id++) {
        json_t *c2 = json_object_get(presented[id], "caps2");
        if (!json_is_object(c2) || !in_pub(id))
            continue;
        const struct resolved *r =
            find_res(CAPSCACHE_CAPS2, jstr(c2, "sha-256"));
        assert_non_null(r);
        assert_string_equal(r->algo, "sha-256");
        assert_string_equal(r->outcome,
                            strcmp(specs[id - 1].behaviour, "poison") == 0
                                ? "mismatch"
                                : "valid");
        caps2_distinct += id != 9; /* 9 presents what 1 does */
    }
    assert_int_equal(rec.n_res - caps1_res, caps2_distinct);

    /* the no-answer client's hash: a timeout, then the fallback answered;
     * the error-answer client's: an iq error, then the fallback */
    check_fallback(10, 11, CCA_TIMEOUT);
    check_fallback(12, 13, CCA_IQ_ERROR);
    /* one query per distinct hash, plus the two fallbacks: the occupants
     * sharing a hash waited for the first answer */
    assert_int_equal(capscache_stats(cache)->queries,
                     (uint64_t)(distinct + caps2_distinct + 2));
    assert_int_equal(
        find_res(CAPSCACHE_CAPS1, jstr(presented[9], "ver"))->attempts, 1);

    /* observation counts equal the population's, per (ver, node) */
    int want_keys = 0;
    for (int id = 1; id <= N_CLIENTS; id++) {
        if (!in_pub(id))
            continue;
        const char *ver = jstr(presented[id], "ver");
        const char *node = jstr(presented[id], "node");
        unsigned want = 0;
        bool first = true;
        for (int j = 1; j <= N_CLIENTS; j++)
            if (in_pub(j) && strcmp(jstr(presented[j], "ver"), ver) == 0 &&
                strcmp(jstr(presented[j], "node"), node) == 0) {
                want++;
                if (j < id)
                    first = false;
            }
        want_keys += first;
        bool found = false;
        for (int i = 0; i < rec.n_obs; i++)
            if (rec.obs[i].kind == CAPSCACHE_CAPS1 &&
                strcmp(rec.obs[i].ver, ver) == 0 &&
                strcmp(rec.obs[i].node, node) == 0) {
                assert_int_equal(rec.obs[i].count, want);
                found = true;
            }
        assert_true(found);
    }
    int caps1_keys = 0;
    unsigned caps2_obs = 0;
    for (int i = 0; i < rec.n_obs; i++) {
        if (rec.obs[i].kind == CAPSCACHE_CAPS1)
            caps1_keys++;
        else
            caps2_obs += rec.obs[i].count;
    }
    assert_int_equal(caps1_keys, want_keys);
    assert_int_equal(caps2_obs, 3); /* clients 1, 5, 9 */
    unsigned in_room = 0;
    for (int id = 1; id <= N_CLIENTS; id++)
        in_room += in_pub(id);
    assert_int_equal(rec.visit_occupants, in_room);

    /* privacy: no occupant nick or JID anywhere we wrote or reported */
    fflush(logfp);
    char *logtext = NULL;
    {
        FILE *lf = fopen(logpath, "r");
        assert_non_null(lf);
        struct buf b = BUF_INIT;
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, lf)) > 0)
            buf_append(&b, chunk, n);
        fclose(lf);
        logtext = buf_steal(&b);
    }
    assert_non_null(strstr(logtext, "joined")); /* debug log was written */
    assert_true(strlen(logtext) > 1000);
    for (int id = 1; id <= N_CLIENTS; id++) {
        char nick[32], user[32];
        snprintf(nick, sizeof nick, PRIVATE_MARK "nick%02d", id);
        snprintf(user, sizeof user, PRIVATE_MARK "u%02d", id);
        assert_null(strstr(logtext, nick));
        assert_null(strstr(logtext, user));
        assert_null(strstr(rec.all.data, nick));
        assert_null(strstr(rec.all.data, user));
    }
    assert_null(strstr(logtext, PRIVATE_MARK));
    assert_null(strstr(rec.all.data, PRIVATE_MARK));
    /* the check can fail: the room JID of an occupant would be caught */
    assert_non_null(strstr(rec.all.data, PUB));
    free(logtext);
    capscache_free(cache);
}

/* --- more runs against the same population ------------------------------ */

static void reset_rec(void)
{
    buf_free(&rec.all);
    memset(&rec, 0, sizeof rec);
}

static struct session *crawler_login(struct online_flag *f)
{
    struct session_params sp = {
        .jid = "crawler@" HOST,
        .password = "secret1",
        .host = "127.0.0.1",
        .port = (unsigned short)port,
        .plaintext = true,
        .rate = 100,
        .burst = 20,
        .max_inflight = 20,
        .reconnect_max_ms = 2000,
        .ident_name = "xcensus-test",
        .ident_version = "0",
    };
    struct session *s = session_new(base, sev, NULL, &sp, on_state, f);
    assert_true(run_until(flag_set, &f->online, 15));
    return s;
}

struct occ_ask {
    bool done;
    long occupants;
};

static void on_roominfo(void *arg, enum iqtrack_result r, xmpp_stanza_t *reply)
{
    struct occ_ask *a = arg;
    a->done = true;
    a->occupants = -2;
    if (r != IQT_RESULT)
        return;
    struct parse_err err;
    struct disco_info *info =
        stanza_disco_info(reply, &disco_limits_default, NULL, &err);
    if (info == NULL)
        return;
    struct census_room cr;
    census_room_decide(info, 1, &cr);
    a->occupants = cr.occupants;
    disco_info_free(info);
}

/* The occupant count pub's muc#roominfo gives now. */
static long pub_occupants(struct session *s)
{
    struct occ_ask a = {0};
    session_iq(s, "get", PUB, "<query xmlns='" DISCO_NS_INFO "'/>", 5000,
               on_roominfo, &a);
    assert_true(run_until(flag_set, &a.done, 10));
    return a.occupants;
}

static struct census_params base_params(void)
{
    struct census_params p = {
        .nick = "xcensus-test",
        .status = "census test: stores no nicks",
        .rooms_per_service = 5,
        .min_occupants = 2,
        .join_duration_ms = 2000,
        .join_timeout_ms = 10000,
        .iq_timeout_ms = 5000,
        .items_max = 100,
        .items_pages = 5,
    };
    return p;
}

/* A refused join (here: our nick is taken) is an outcome, never retried. */
static void test_join_error_is_an_outcome(void **state)
{
    reset_rec();
    struct online_flag f = {0};
    struct session *s = crawler_login(&f);
    struct capscache_params cp = {.timeout_ms = 3000, .max_attempts = 3};
    struct capscache_sink csink = {NULL, c_resolved, c_attempt, c_failed};
    struct capscache *cache = capscache_new(&cp, &csink);
    struct census_params p = base_params();
    p.nick = PRIVATE_MARK "nick01"; /* an occupant's nick: conflict */
    struct census_sink sink = {NULL,    s_room,     s_joined,
                               s_visit, s_observed, s_outcome};
    struct census *c = census_new(base, s, cache, &p, &sink);
    census_service(c, SERVICE, s_done, NULL);
    assert_true(run_until(flag_set, &rec.done, 30));
    assert_int_equal(rec.n_joined, 1);
    assert_string_equal(rec.joined[0], PUB);
    assert_int_equal(rec.join_out[0], CJ_ERROR);
    assert_int_equal(rec.result.rooms_joined, 0);
    assert_int_equal(rec.visits, 0);
    assert_int_equal(rec.n_obs, 0);
    assert_int_equal(capscache_stats(cache)->queries, 0);
    census_free(c);
    session_free(s);
    capscache_free(cache);
}

/* rooms_per_service bounds the joins: 0 joins nothing. */
static void test_rooms_per_service(void **state)
{
    reset_rec();
    struct online_flag f = {0};
    struct session *s = crawler_login(&f);
    struct capscache_params cp = {.timeout_ms = 3000, .max_attempts = 3};
    struct capscache *cache = capscache_new(&cp, NULL);
    struct census_params p = base_params();
    p.rooms_per_service = 0;
    struct census_sink sink = {NULL,    s_room,     s_joined,
                               s_visit, s_observed, s_outcome};
    struct census *c = census_new(base, s, cache, &p, &sink);
    census_service(c, SERVICE, s_done, NULL);
    assert_true(run_until(flag_set, &rec.done, 30));
    assert_int_equal(rec.n_joined, 0);
    bool over = false;
    for (int i = 0; i < rec.n_rooms; i++)
        if (strcmp(rec.room_jids[i], PUB) == 0)
            over = rec.rooms[i].decision == CD_OVER_LIMIT;
    assert_true(over);
    assert_int_equal(rec.result.rooms_eligible, 1);
    census_free(c);
    session_free(s);
    capscache_free(cache);
}

/* census_free() in the middle of a visit leaves the room. */
static void test_free_leaves_the_room(void **state)
{
    reset_rec();
    struct online_flag f = {0};
    struct session *s = crawler_login(&f);
    long before = pub_occupants(s);
    assert_true(before >= 2);
    struct capscache_params cp = {.timeout_ms = 3000, .max_attempts = 3};
    struct capscache *cache = capscache_new(&cp, NULL);
    struct census_params p = base_params();
    p.join_duration_ms = 60000;
    struct census_sink sink = {NULL,    s_room,     s_joined,
                               s_visit, s_observed, s_outcome};
    struct census *c = census_new(base, s, cache, &p, &sink);
    census_service(c, SERVICE, s_done, NULL);
    assert_true(run_until(flag_set, &rec.pub_joined, 30));
    assert_int_equal(pub_occupants(s), before + 1);
    census_free(c);
    assert_int_equal(pub_occupants(s), before);
    assert_false(rec.done); /* a freed census never calls back */
    session_free(s);
    capscache_free(cache);
}

/* An occupant changing its caps in every presence: at most 5 of its keys
 * are counted and offered per visit, the rest dropped. */
static void test_caps_flood_is_bounded(void **state)
{
    reset_rec();
    struct online_flag f = {0}, fh = {0};
    struct session *s = crawler_login(&f);
    struct session_params hp = {
        .jid = PRIVATE_MARK "hostile@" HOST,
        .password = "pwh",
        .host = "127.0.0.1",
        .port = (unsigned short)port,
        .plaintext = true,
        .rate = 100,
        .burst = 20,
        .max_inflight = 20,
        .reconnect_max_ms = 2000,
        .ident_name = "h",
        .ident_version = "0",
    };
    struct session *h = session_new(base, sev, NULL, &hp, on_state, &fh);
    assert_true(run_until(flag_set, &fh.online, 15));
    struct capscache_params cp = {.timeout_ms = 3000, .max_attempts = 3};
    struct capscache_sink csink = {NULL, c_resolved, c_attempt, c_failed};
    struct capscache *cache = capscache_new(&cp, &csink);
    struct census_params p = base_params();
    p.join_duration_ms = 6000;
    struct census_sink sink = {NULL,    s_room,     s_joined,
                               s_visit, s_observed, s_outcome};
    struct census *c = census_new(base, s, cache, &p, &sink);
    census_service(c, SERVICE, s_done, NULL);
    assert_true(run_until(flag_set, &rec.pub_joined, 30));
    for (int i = 0; i < 50; i++) {
        char xml[512];
        snprintf(xml, sizeof xml,
                 "<presence to='" PUB "/" PRIVATE_MARK "hostile'><x "
                 "xmlns='http://jabber.org/protocol/muc'/><c "
                 "xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                 "node='urn:xnet:flood' ver='FLOOD%02d='/></presence>",
                 i);
        assert_true(session_send_raw(h, xml));
    }
    assert_true(run_until(flag_set, &rec.done, 60));
    int flood_keys = 0, flood_counted = 0;
    for (int i = 0; i < rec.n_obs; i++)
        if (strncmp(rec.obs[i].ver, "FLOOD", 5) == 0) {
            flood_keys++;
            flood_counted += (int)rec.obs[i].count;
        }
    char asked[8][128];
    int n_asked = 0;
    for (int i = 0; i < rec.n_att; i++) {
        if (strncmp(rec.att[i].ver, "FLOOD", 5) != 0)
            continue;
        bool seen = false;
        for (int k = 0; k < n_asked; k++)
            seen |= strcmp(asked[k], rec.att[i].ver) == 0;
        if (!seen) {
            assert_true(n_asked < 8);
            snprintf(asked[n_asked++], 128, "%s", rec.att[i].ver);
        }
    }
    print_message("flood: %d keys counted, %d hashes asked, %zu dropped\n",
                  flood_keys, n_asked, rec.result.dropped);
    assert_int_equal(flood_keys, 5);
    assert_int_equal(flood_counted, 5);
    assert_true(n_asked <= 5);
    assert_true(n_asked >= 1);
    assert_true(rec.result.dropped >= 40); /* Prosody may merge a few */
    census_free(c);
    session_free(s);
    session_free(h);
    capscache_free(cache);
}

/* A service that is not a MUC service, and one that cannot be reached:
 * outcomes, no room, done called. */
static void test_service_outcomes(void **state)
{
    reset_rec();
    struct online_flag f = {0};
    struct session *s = crawler_login(&f);
    struct capscache_params cp = {.timeout_ms = 3000, .max_attempts = 3};
    struct capscache *cache = capscache_new(&cp, NULL);
    struct census_params p = base_params();
    struct census_sink sink = {NULL,    s_room,     s_joined,
                               s_visit, s_observed, s_outcome};
    struct census *c = census_new(base, s, cache, &p, &sink);
    /* the server itself lists its components, not rooms */
    census_service(c, HOST, s_done, NULL);
    assert_int_equal(census_running(c), 1);
    assert_true(run_until(flag_set, &rec.done, 30));
    assert_int_equal(rec.result.outcome, OUT_OK);
    assert_int_equal(rec.result.rooms_listed, 0);
    assert_int_equal(rec.n_rooms, 0);
    reset_rec();
    /* this server has no s2s: an iq error */
    census_service(c, "conference.elsewhere.xnet", s_done, NULL);
    assert_true(run_until(flag_set, &rec.done, 30));
    assert_int_equal(rec.result.outcome, OUT_IQ_ERROR);
    assert_int_equal(rec.n_rooms, 0);
    assert_int_equal(rec.n_joined, 0);
    assert_int_equal(census_running(c), 0);
    census_free(c);
    session_free(s);
    capscache_free(cache);
}

/* An occupant changing its nick (XEP-0045 s7.6) is one occupant: its caps
 * are counted once. */
static void test_nick_change_counted_once(void **state)
{
    reset_rec();
    struct online_flag f = {0}, fh = {0};
    struct session *s = crawler_login(&f);
    struct session_params hp = {
        .jid = PRIVATE_MARK "hostile@" HOST,
        .password = "pwh",
        .host = "127.0.0.1",
        .port = (unsigned short)port,
        .plaintext = true,
        .rate = 100,
        .burst = 20,
        .max_inflight = 20,
        .reconnect_max_ms = 2000,
        .ident_name = "h",
        .ident_version = "0",
    };
    struct session *h = session_new(base, sev, NULL, &hp, on_state, &fh);
    assert_true(run_until(flag_set, &fh.online, 15));
    struct capscache_params cp = {.timeout_ms = 3000, .max_attempts = 3};
    struct capscache *cache = capscache_new(&cp, NULL);
    struct census_params p = base_params();
    p.join_duration_ms = 5000;
    struct census_sink sink = {NULL,    s_room,     s_joined,
                               s_visit, s_observed, s_outcome};
    struct census *c = census_new(base, s, cache, &p, &sink);
    census_service(c, SERVICE, s_done, NULL);
    assert_true(run_until(flag_set, &rec.pub_joined, 30));
    const char *caps = "<c xmlns='http://jabber.org/protocol/caps' "
                       "hash='sha-1' node='urn:xnet:renamer' ver='RENAME='/>";
    char xml[512];
    for (int i = 0; i < 3; i++) { /* join, then two nick changes */
        snprintf(xml, sizeof xml,
                 "<presence to='" PUB "/" PRIVATE_MARK "renamer%d'>%s%s"
                 "</presence>",
                 i, i == 0 ? "<x xmlns='http://jabber.org/protocol/muc'/>" : "",
                 caps);
        assert_true(session_send_raw(h, xml));
    }
    assert_true(run_until(flag_set, &rec.done, 60));
    bool found = false;
    for (int i = 0; i < rec.n_obs; i++)
        if (strcmp(rec.obs[i].ver, "RENAME=") == 0) {
            assert_int_equal(rec.obs[i].count, 1);
            found = true;
        }
    assert_true(found);
    unsigned in_room = 1; /* the renamer */
    for (int id = 1; id <= N_CLIENTS; id++)
        in_room += in_pub(id);
    assert_int_equal(rec.visit_occupants, in_room);
    census_free(c);
    session_free(s);
    session_free(h);
    capscache_free(cache);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: test_census PROSODY_SCRIPT DIR XC_POPULATION "
                        "DATA [CONNINFO]\n");
        return 2;
    }
    script = argv[1];
    dir = argv[2];
    population = argv[3];
    datadir = argv[4];
    conninfo = argc == 6 ? argv[5] : NULL;
    if (system("command -v prosody >/dev/null 2>&1") != 0) {
        const char *ci = getenv("CI");
        fprintf(stderr, "prosody not installed\n");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    mkdir(dir, 0755);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_census_public_room),
        cmocka_unit_test(test_join_error_is_an_outcome),
        cmocka_unit_test(test_rooms_per_service),
        cmocka_unit_test(test_free_leaves_the_room),
        cmocka_unit_test(test_caps_flood_is_bounded),
        cmocka_unit_test(test_service_outcomes),
        cmocka_unit_test(test_nick_change_counted_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
