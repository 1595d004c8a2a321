/*
 * Benchmark of the crawler's job queue (crawler/queue.c) against a real
 * PostgreSQL: not a test, it prints figures.
 *   bench_queue [-n JOBS] [-b BATCH] [-p MAXPROCS] [CONNINFO]
 * CONNINFO (default $XCENSUS_DATABASE) names a server where the user may
 * create databases, e.g. one started with scripts/pg. For K = 1..MAXPROCS
 * concurrent claimer processes (fork), each with its own event loop and
 * pgasync connection, on a fresh queue of JOBS jobs (one per domain):
 *   1. claim: every process claims BATCH jobs per statement until none is
 *      left -> claims/s (jobs leased per second, all processes together);
 *   2. complete: every process completes all it holds (one statement per
 *      job, as the crawler does) -> completes/s;
 *   3. mixed: a fresh queue again, every process claims a batch, completes
 *      it, claims again (the crawler's steady state) -> jobs/s.
 * Phases are timed by the parent from a common start signal to the last
 * process's end. The database is bench_queue, dropped afterwards.
 */
#include <event2/event.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "pgasync.h"
#include "queue.h"
#include "sql_embedded.h"
#include "xalloc.h"

static const char *base_conninfo;
static char *db_conninfo;
static int batch = 16;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void exec_or_die(struct pg_conn *c, const char *sql)
{
    struct pg_err err;
    if (!pg_exec(c, sql, &err)) {
        fprintf(stderr, "bench_queue: %s: %s\n", sql, err.msg);
        exit(1);
    }
}

static void admin(const char *sql)
{
    struct pg_conn *c = pg_connect(base_conninfo);
    if (!c)
        exit(1);
    exec_or_die(c, sql);
    pg_close(c);
}

/* Empties the queue and fills it with n jobs of crawl "bench", one per
 * domain. */
static void fill(long n)
{
    struct pg_conn *c = pg_connect(db_conninfo);
    if (!c)
        exit(1);
    exec_or_die(c, "TRUNCATE jobs, domains, crawl_runs, sources, crawls, "
                   "deny_list CASCADE");
    char *sql = xasprintf("INSERT INTO crawls (name) VALUES ('bench');"
                          "INSERT INTO domains (name) SELECT 'd' || i || "
                          "'.bench.test' FROM generate_series(1, %ld) i;"
                          "INSERT INTO jobs (crawl_id, domain_id) SELECT "
                          "(SELECT id FROM crawls), id FROM domains;"
                          "ANALYZE jobs; ANALYZE domains",
                          n);
    exec_or_die(c, sql);
    free(sql);
    pg_close(c);
}

/* ---- one claimer process ------------------------------------------ */

struct child {
    struct event_base *base;
    struct pgasync *pga;
    struct queue *q;
    bool mixed;
    bool claiming, empty;
    long claimed, completed, pending;
    struct {
        int64_t id, token;
    } * held;
    size_t nheld, cap;
};

static void child_ready(void *arg, bool ok, const char *msg)
{
    bool *done = arg;
    if (!ok) {
        fprintf(stderr, "bench_queue: start: %s\n", msg);
        exit(1);
    }
    *done = true;
}

static void child_completed(void *arg, enum queue_done d,
                            const struct queue_completion *c)
{
    (void)c;
    struct child *ch = arg;
    if (d != QUEUE_DONE_APPLIED) {
        fprintf(stderr, "bench_queue: completion %s\n", queue_done_name(d));
        exit(1);
    }
    ch->completed++;
    ch->pending--;
}

static void child_claim(struct child *ch);

static void child_claimed(void *arg, bool ok, const struct queue_job *jobs,
                          size_t n)
{
    struct child *ch = arg;
    ch->claiming = false;
    if (!ok) {
        fprintf(stderr, "bench_queue: claim failed\n");
        exit(1);
    }
    ch->claimed += (long)n;
    if (n == 0)
        ch->empty = true;
    for (size_t i = 0; i < n; i++) {
        if (ch->mixed) {
            ch->pending++;
            queue_complete(ch->q, jobs[i].id, jobs[i].token, QUEUE_OK, NULL,
                           -1, child_completed, ch);
            continue;
        }
        if (ch->nheld == ch->cap) {
            ch->cap = ch->cap ? ch->cap * 2 : 1024;
            ch->held = xreallocarray(ch->held, ch->cap, sizeof *ch->held);
        }
        ch->held[ch->nheld].id = jobs[i].id;
        ch->held[ch->nheld].token = jobs[i].token;
        ch->nheld++;
    }
    if (!ch->empty)
        child_claim(ch);
}

static void child_claim(struct child *ch)
{
    ch->claiming = true;
    queue_claim(ch->q, batch, child_claimed, ch);
}

static void loop_until(struct child *ch, bool (*cond)(struct child *))
{
    while (!cond(ch))
        event_base_loop(ch->base, EVLOOP_ONCE);
}

static bool claim_done_cond(struct child *ch)
{
    return ch->empty && !ch->claiming && ch->pending == 0;
}
static bool complete_done_cond(struct child *ch)
{
    return ch->pending == 0;
}

static void wait_go(int fd)
{
    char c;
    if (read(fd, &c, 1) != 1)
        exit(1);
}

static void say(int fd)
{
    if (write(fd, "x", 1) != 1)
        exit(1);
}

/* Runs in the child: start, then the phases on the parent's signals. */
static int child_main(int id, int go_fd, int done_fd, bool mixed)
{
    struct child ch = {0};
    ch.mixed = mixed;
    ch.base = event_base_new();
    ch.pga = pgasync_new(ch.base, db_conninfo, "bench");
    char owner[64];
    snprintf(owner, sizeof owner, "bench:%d:%ld", id, (long)getpid());
    struct queue_params p = {
        .crawl = "bench", .owner = owner, .lease = 600000, .max_attempts = 5};
    ch.q = queue_new(ch.base, ch.pga, &p);
    bool ready = false;
    queue_start(ch.q, child_ready, &ready);
    while (!ready)
        event_base_loop(ch.base, EVLOOP_ONCE);
    say(done_fd); /* ready */
    wait_go(go_fd);
    child_claim(&ch);
    loop_until(&ch, claim_done_cond);
    say(done_fd);
    if (!mixed) {
        wait_go(go_fd);
        for (size_t i = 0; i < ch.nheld; i++) {
            ch.pending++;
            queue_complete(ch.q, ch.held[i].id, ch.held[i].token, QUEUE_OK,
                           NULL, -1, child_completed, &ch);
        }
        loop_until(&ch, complete_done_cond);
        say(done_fd);
    }
    free(ch.held);
    queue_free(ch.q);
    pgasync_free(ch.pga);
    event_base_free(ch.base);
    return 0;
}

/* ---- parent -------------------------------------------------------- */

struct procs {
    int k;
    pid_t pid[16];
    int go[2], done[2];
};

static void spawn(struct procs *ps, int k, bool mixed)
{
    ps->k = k;
    if (pipe(ps->go) != 0 || pipe(ps->done) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(stdout);
    for (int i = 0; i < k; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            exit(1);
        }
        if (pid == 0) {
            close(ps->go[1]);
            close(ps->done[0]);
            _exit(child_main(i, ps->go[0], ps->done[1], mixed));
        }
        ps->pid[i] = pid;
    }
    close(ps->go[0]);
    close(ps->done[1]);
}

/* Waits for one signal from each process. */
static void gather(struct procs *ps)
{
    for (int i = 0; i < ps->k; i++)
        wait_go(ps->done[0]);
}

static double phase(struct procs *ps)
{
    double t0 = now_s();
    for (int i = 0; i < ps->k; i++)
        say(ps->go[1]);
    gather(ps);
    return now_s() - t0;
}

static void reap_all(struct procs *ps)
{
    for (int i = 0; i < ps->k; i++) {
        int st;
        if (waitpid(ps->pid[i], &st, 0) < 0 || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench_queue: claimer %d failed\n", i);
            exit(1);
        }
    }
    close(ps->go[1]);
    close(ps->done[0]);
}

static long count_done(void)
{
    struct pg_conn *c = pg_connect(db_conninfo);
    bool found;
    char *v =
        pg_query_value(c, "SELECT count(*) FROM jobs WHERE state = 'done'", 0,
                       NULL, &found, NULL);
    long n = v ? atol(v) : -1;
    free(v);
    pg_close(c);
    return n;
}

int main(int argc, char **argv)
{
    long jobs = 20000;
    int maxk = 4;
    int c;
    while ((c = getopt(argc, argv, "n:b:p:h")) != -1) {
        switch (c) {
        case 'n':
            jobs = atol(optarg);
            break;
        case 'b':
            batch = atoi(optarg);
            break;
        case 'p':
            maxk = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_queue [-n JOBS] [-b BATCH] [-p "
                            "MAXPROCS] [CONNINFO]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (jobs < 1 || batch < 1 || batch > 10000 || maxk < 1 || maxk > 16) {
        fprintf(stderr, "bench_queue: bad -n, -b or -p\n");
        return 2;
    }
    base_conninfo = optind < argc ? argv[optind] : getenv("XCENSUS_DATABASE");
    if (!base_conninfo) {
        fprintf(stderr, "bench_queue: give a CONNINFO or set XCENSUS_DATABASE "
                        "(eval \"$(scripts/pg env DIR)\")\n");
        return 2;
    }
    log_max_level = LOG_WARN;
    admin("DROP DATABASE IF EXISTS bench_queue");
    admin("CREATE DATABASE bench_queue");
    db_conninfo = xasprintf("%s dbname=bench_queue", base_conninfo);
    struct pg_conn *mc = pg_connect(db_conninfo);
    struct migrate_report rep;
    if (!mc || migrate_apply(mc, sql_migrations, sql_migrations_count, &rep) !=
                   MIGRATE_CURRENT) {
        fprintf(stderr, "bench_queue: cannot prepare database bench_queue\n");
        return 1;
    }
    pg_close(mc);
    printf("queue benchmark: %ld jobs (one per domain), claim batch %d\n", jobs,
           batch);
    printf("%-9s %12s %14s %12s\n", "claimers", "claims/s", "completes/s",
           "mixed jobs/s");
    for (int k = 1; k <= maxk; k++) {
        struct procs ps;
        fill(jobs);
        spawn(&ps, k, false);
        gather(&ps); /* all started */
        double tc = phase(&ps);
        double tf = phase(&ps);
        reap_all(&ps);
        long done1 = count_done();
        fill(jobs);
        spawn(&ps, k, true);
        gather(&ps);
        double tm = phase(&ps);
        reap_all(&ps);
        long done2 = count_done();
        if (done1 != jobs || done2 != jobs) {
            fprintf(stderr,
                    "bench_queue: %ld and %ld jobs done, expected %ld\n", done1,
                    done2, jobs);
            return 1;
        }
        printf("%-9d %12.0f %14.0f %12.0f\n", k, jobs / tc, jobs / tf,
               jobs / tm);
        fflush(stdout);
    }
    admin("DROP DATABASE IF EXISTS bench_queue");
    free(db_conninfo);
    return 0;
}
