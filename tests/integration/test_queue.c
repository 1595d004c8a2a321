/*
 * crawler/queue against a real PostgreSQL (a database of the shared xc_pg
 * fixture, migrated by tests/integration/queue.sh). Two modes:
 *
 *   test_queue cases CONNINFO
 *       cmocka cases, one process: start/resume, claim and complete,
 *       fencing (a completion with a stale token is refused, a replayed one
 *       recognised), backoff per class measured with the database clock,
 *       the attempts cap, final classes, one leased job per domain, the
 *       minimum interval, the deny file (suffix patterns, sync), heartbeat
 *       and lost leases, re-crawl, discovered domains and opt-in, finish.
 *
 *   test_queue worker CONNINFO CRAWL OWNER OUTFILE LEASE_MS MIN_INTERVAL_MS
 * WORK_MS one claimer process of the multi-process test: claims, "works"
 *       WORK_MS (+ up to 50% random) per job, completes, and appends one
 *       line per applied completion to OUTFILE with write(2) (so a kill -9
 *       loses nothing written): "job domain token claimed_at completed_at"
 *       (database clock). Exits 0 when the crawl has no queued or leased
 *       job left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pg.h"
#include "pgasync.h"
#include "queue.h"
#include "xalloc.h"
#include "xc_config.h"

static const char *conninfo;
static struct event_base *base;
static struct pgasync *pga;
static struct pg_conn *db; /* blocking, for setup and checks */

static void wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until *flag, for at most 60 s of wall-clock time. */
static void run_until(const bool *flag)
{
    struct timeval tick = {0, 20000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    time_t end = time(NULL) + 60;
    while (!*flag && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    assert_true(*flag);
}

static void sql(const char *q)
{
    struct pg_err err;
    if (!pg_exec(db, q, &err))
        fail_msg("%s: %s", q, err.msg);
}

static long long sql_num(const char *q)
{
    struct pg_err err;
    bool found = false;
    char *v = pg_query_value(db, q, 0, NULL, &found, &err);
    if (!v)
        fail_msg("%s: %s", q, found ? "" : err.msg);
    long long n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

static char *sql_str(const char *q)
{
    struct pg_err err;
    bool found = false;
    char *v = pg_query_value(db, q, 0, NULL, &found, &err);
    return v ? v : xstrdup("");
}

/* ---- callbacks recording into a struct ---------------------------- */

struct rec {
    bool done;
    bool ok;
    char msg[256];
    size_t n;
    struct {
        int64_t id, token;
        char domain[256], kind[16];
        int attempts;
        bool check_opt_in;
    } jobs[32];
    enum queue_done d;
    char state[16];
    double db_now, next_attempt_at;
    long long rows;
};

static void on_ready(void *arg, bool ok, const char *msg)
{
    struct rec *r = arg;
    r->done = true;
    r->ok = ok;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
}

static void on_claim(void *arg, bool ok, const struct queue_job *jobs, size_t n)
{
    struct rec *r = arg;
    r->done = true;
    r->ok = ok;
    r->n = n;
    for (size_t i = 0; i < n && i < 32; i++) {
        r->jobs[i].id = jobs[i].id;
        r->jobs[i].token = jobs[i].token;
        snprintf(r->jobs[i].domain, sizeof r->jobs[i].domain, "%s",
                 jobs[i].domain);
        snprintf(r->jobs[i].kind, sizeof r->jobs[i].kind, "%s", jobs[i].kind);
        r->jobs[i].attempts = jobs[i].attempts;
        r->jobs[i].check_opt_in = jobs[i].check_opt_in;
    }
}

static void on_complete(void *arg, enum queue_done d,
                        const struct queue_completion *c)
{
    struct rec *r = arg;
    r->done = true;
    r->d = d;
    snprintf(r->state, sizeof r->state, "%s", c->state ? c->state : "");
    r->db_now = c->db_now;
    r->next_attempt_at = c->next_attempt_at;
}

static void on_count(void *arg, long long rows)
{
    struct rec *r = arg;
    r->done = true;
    r->rows = rows;
}

struct lost {
    int calls;
    int64_t id, token;
};

static void on_lost(void *arg, int64_t id, int64_t token)
{
    struct lost *l = arg;
    l->calls++;
    l->id = id;
    l->token = token;
}

/* ---- helpers ------------------------------------------------------- */

static struct queue_params params_for(const char *crawl)
{
    struct queue_params p = {0};
    p.crawl = crawl;
    p.scope = XC_SCOPE_SEEDS;
    p.recrawl_interval = 0;
    p.lease = 60000;
    p.heartbeat_interval = 0; /* the cases drive everything by hand */
    p.min_interval = 0;
    p.max_attempts = 5;
    return p;
}

static struct queue *start(const struct queue_params *p)
{
    struct queue *q = queue_new(base, pga, p);
    struct rec r = {0};
    queue_start(q, on_ready, &r);
    run_until(&r.done);
    if (!r.ok)
        fail_msg("start: %s", r.msg);
    return q;
}

/* Adds domains (space-separated) to the queue's crawl, one job each of
 * kind (and max_attempts). */
static void add_jobs(struct queue *q, const char *domains, const char *kind,
                     int max_attempts)
{
    char buf[2048];
    snprintf(
        buf, sizeof buf,
        "INSERT INTO domains (name) SELECT unnest(string_to_array('%s', ' '))"
        " ON CONFLICT DO NOTHING;"
        "INSERT INTO jobs (crawl_id, domain_id, kind, max_attempts)"
        " SELECT %" PRId64 ", id, '%s', %d FROM domains"
        " WHERE name = ANY (string_to_array('%s', ' '))",
        domains, queue_crawl_id(q), kind, max_attempts, domains);
    sql(buf);
}

static struct rec claim(struct queue *q, int n)
{
    struct rec r = {0};
    queue_claim(q, n, on_claim, &r);
    run_until(&r.done);
    assert_true(r.ok);
    return r;
}

static struct rec complete(struct queue *q, int64_t id, int64_t token,
                           enum queue_class c)
{
    struct rec r = {0};
    queue_complete(q, id, token, c, c == QUEUE_OK ? NULL : "test detail", -1,
                   on_complete, &r);
    run_until(&r.done);
    return r;
}

static long long count_op(struct queue *q,
                          void (*op)(struct queue *, queue_count_cb, void *))
{
    struct rec r = {0};
    op(q, on_count, &r);
    run_until(&r.done);
    return r.rows;
}

static char *job_field(int64_t id, const char *expr)
{
    char buf[512];
    snprintf(buf, sizeof buf, "SELECT %s FROM jobs WHERE id = %" PRId64, expr,
             id);
    return sql_str(buf);
}

static void expect_field(int64_t id, const char *expr, const char *want)
{
    char *v = job_field(id, expr);
    if (strcmp(v, want) != 0)
        fail_msg("job %" PRId64 ": %s = \"%s\", expected \"%s\"", id, expr, v,
                 want);
    free(v);
}

/* ---- cases --------------------------------------------------------- */

static void test_start_resume(void **state)
{
    (void)state;
    struct queue_params p = params_for("t-start");
    p.owner = "test:start";
    struct queue *q = start(&p);
    assert_true(queue_crawl_id(q) > 0);
    assert_true(queue_run_id(q) > 0);
    int64_t crawl = queue_crawl_id(q), run = queue_run_id(q);
    queue_free(q);
    /* the same owner resumes the same run (a start re-sent after a lost
     * connection creates nothing twice) */
    q = start(&p);
    assert_int_equal(queue_crawl_id(q), crawl);
    assert_int_equal(queue_run_id(q), run);
    queue_free(q);
    /* another owner: a new run of the same crawl, also a source */
    p.owner = NULL;
    q = start(&p);
    assert_int_equal(queue_crawl_id(q), crawl);
    assert_int_not_equal(queue_run_id(q), run);
    assert_non_null(strchr(queue_owner(q), ':'));
    assert_int_equal(
        sql_num("SELECT count(*) FROM crawl_runs r JOIN crawls c ON c.id = "
                "r.crawl_id JOIN sources s ON s.id = r.source_id "
                "WHERE c.name = 't-start' AND s.kind = 'crawl'"),
        2);
    queue_free(q);
}

static void test_claim_complete(void **state)
{
    (void)state;
    struct queue_params p = params_for("t-basic");
    p.recrawl_interval = 3600 * 1000;
    struct queue *q = start(&p);
    add_jobs(q, "a.basic.test b.basic.test c.basic.test", "domain", 5);
    struct rec r = claim(q, 10);
    assert_int_equal(r.n, 3);
    assert_int_equal(queue_held(q), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(r.jobs[i].attempts, 1);
        assert_int_equal(r.jobs[i].token, 1);
        assert_string_equal(r.jobs[i].kind, "domain");
        assert_false(r.jobs[i].check_opt_in);
    }
    /* nothing left to claim */
    assert_int_equal(claim(q, 10).n, 0);
    assert_int_equal(
        sql_num("SELECT count(*) FROM domains WHERE name LIKE '%.basic.test' "
                "AND leased_job_id IS NOT NULL"),
        3);
    struct rec c = complete(q, r.jobs[0].id, r.jobs[0].token, QUEUE_OK);
    assert_int_equal(c.d, QUEUE_DONE_APPLIED);
    assert_string_equal(c.state, "done");
    assert_int_equal(queue_held(q), 2);
    expect_field(r.jobs[0].id, "state", "done");
    expect_field(r.jobs[0].id, "lease_owner IS NULL", "t");
    expect_field(r.jobs[0].id,
                 "next_crawl_at - finished_at = interval '1 hour'", "t");
    char want[32];
    snprintf(want, sizeof want, "%" PRId64, queue_run_id(q));
    expect_field(r.jobs[0].id, "last_run_id::text", want);
    char qs[512];
    snprintf(qs, sizeof qs,
             "SELECT leased_job_id IS NULL FROM domains WHERE name = '%s'",
             r.jobs[0].domain);
    char *v = sql_str(qs);
    assert_string_equal(v, "t");
    free(v);
    queue_free(q);
}

static void test_fencing(void **state)
{
    (void)state;
    struct queue *q = start(&(struct queue_params){
        .crawl = "t-fence", .lease = 60000, .max_attempts = 5});
    add_jobs(q, "fence.test", "domain", 5);
    struct rec a = claim(q, 1);
    assert_int_equal(a.n, 1);
    int64_t id = a.jobs[0].id, old = a.jobs[0].token;
    /* the lease expires (as if the process hung); the reaper returns it */
    char buf[256];
    snprintf(buf, sizeof buf,
             "UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
             "WHERE id = %" PRId64,
             id);
    sql(buf);
    assert_true(count_op(q, queue_reap) >= 1);
    expect_field(id, "state", "queued");
    expect_field(id, "last_error_class", "lease-expired");
    /* reclaimed: a new token */
    struct rec b = claim(q, 1);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.jobs[0].id, id);
    assert_int_equal(b.jobs[0].token, old + 1);
    assert_int_equal(b.jobs[0].attempts, 2);
    /* the old holder's completion is refused */
    struct rec c = complete(q, id, old, QUEUE_OK);
    assert_int_equal(c.d, QUEUE_DONE_STALE);
    expect_field(id, "state", "leased");
    /* the new holder's is applied, and recognised when sent again */
    c = complete(q, id, old + 1, QUEUE_OK);
    assert_int_equal(c.d, QUEUE_DONE_APPLIED);
    c = complete(q, id, old + 1, QUEUE_OK);
    assert_int_equal(c.d, QUEUE_DONE_REPLAYED);
    assert_string_equal(c.state, "done");
    /* a stale token after completion is still refused */
    c = complete(q, id, old, QUEUE_TIMEOUT);
    assert_int_equal(c.d, QUEUE_DONE_STALE);
    expect_field(id, "state", "done");
    queue_free(q);
}

static void test_backoff_and_cap(void **state)
{
    (void)state;
    struct queue_params p = params_for("t-backoff");
    p.backoff[QUEUE_TIMEOUT] = (struct queue_backoff){1500, 4000, false};
    p.backoff[QUEUE_NOT_OPTED_IN] = (struct queue_backoff){0, 0, true};
    struct queue *q = start(&p);
    add_jobs(q, "backoff.test", "domain", 4);
    int64_t id = 0;
    for (int attempt = 1; attempt <= 4; attempt++) {
        struct rec r = claim(q, 1);
        assert_int_equal(r.n, 1);
        id = r.jobs[0].id;
        assert_int_equal(r.jobs[0].attempts, attempt);
        struct rec c = complete(q, id, r.jobs[0].token, QUEUE_TIMEOUT);
        assert_int_equal(c.d, QUEUE_DONE_APPLIED);
        /* the delay is the table's, measured with the database clock */
        int64_t want = queue_backoff_delay(p.backoff, QUEUE_TIMEOUT, attempt);
        long long got = llround((c.next_attempt_at - c.db_now) * 1000.0);
        assert_int_equal(got, want);
        assert_true(want == (attempt == 1 ? 1500 : attempt == 2 ? 3000 : 4000));
        expect_field(id, "last_error_class", "timeout");
        expect_field(id, "last_error", "test detail");
        if (attempt < 4) {
            assert_string_equal(c.state, "queued");
            /* not claimable before its time */
            assert_int_equal(claim(q, 1).n, 0);
            char buf[128];
            snprintf(
                buf, sizeof buf,
                "UPDATE jobs SET next_attempt_at = now() WHERE id = %" PRId64,
                id);
            sql(buf);
        } else {
            /* attempts used up */
            assert_string_equal(c.state, "failed");
        }
    }
    expect_field(id, "state", "failed");
    expect_field(id, "attempts", "4");
    assert_int_equal(claim(q, 1).n, 0);
    /* remote text in the detail: invalid UTF-8 is stored cleaned, not
     * refused (a refused completion would leave the lease to expire) */
    add_jobs(q, "utf8.test", "domain", 4);
    struct rec u = claim(q, 1);
    assert_int_equal(u.n, 1);
    struct rec uc = {0};
    queue_complete(q, u.jobs[0].id, u.jobs[0].token, QUEUE_TIMEOUT,
                   "server said \xff\xfe", -1, on_complete, &uc);
    run_until(&uc.done);
    assert_int_equal(uc.d, QUEUE_DONE_APPLIED);
    expect_field(u.jobs[0].id, "last_error", "server said ??");
    /* a final class fails at once */
    add_jobs(q, "final.test", "domain", 4);
    struct rec r = claim(q, 1);
    assert_int_equal(r.n, 1);
    struct rec c =
        complete(q, r.jobs[0].id, r.jobs[0].token, QUEUE_NOT_OPTED_IN);
    assert_string_equal(c.state, "failed");
    expect_field(r.jobs[0].id, "attempts", "1");
    expect_field(r.jobs[0].id, "last_error_class", "not-opted-in");
    queue_free(q);
}

static void test_one_lease_per_domain(void **state)
{
    (void)state;
    struct queue_params p = params_for("t-domain");
    struct queue *q = start(&p);
    add_jobs(q, "one.test two.test", "domain", 5);
    add_jobs(q, "one.test two.test", "direct", 5);
    struct rec r = claim(q, 10);
    assert_int_equal(r.n, 2); /* one per domain, though 4 are due */
    assert_string_not_equal(r.jobs[0].domain, r.jobs[1].domain);
    assert_int_equal(claim(q, 10).n, 0);
    /* another crawl cannot take the domain either */
    struct queue *q2 = start(&(struct queue_params){
        .crawl = "t-domain-2", .lease = 60000, .max_attempts = 5});
    add_jobs(q2, "one.test", "domain", 5);
    assert_int_equal(claim(q2, 10).n, 0);
    /* the database refuses a second leased job for a domain outright */
    struct pg_err err;
    char buf[512];
    snprintf(buf, sizeof buf,
             "UPDATE jobs SET state = 'leased', lease_owner = 'x', "
             "lease_expires_at = now()"
             " WHERE state = 'queued' AND domain_id = (SELECT domain_id FROM "
             "jobs WHERE id = %" PRId64 ")",
             r.jobs[0].id);
    assert_false(pg_exec(db, buf, &err));
    assert_string_equal(err.sqlstate, "23505");
    /* completing frees the domain; the next job of it can be claimed */
    complete(q, r.jobs[0].id, r.jobs[0].token, QUEUE_OK);
    struct rec r2 = claim(q, 10);
    assert_int_equal(r2.n, 1);
    assert_string_equal(r2.jobs[0].domain, r.jobs[0].domain);
    assert_string_not_equal(r2.jobs[0].kind, r.jobs[0].kind);
    complete(q, r2.jobs[0].id, r2.jobs[0].token, QUEUE_OK);
    complete(q, r.jobs[1].id, r.jobs[1].token, QUEUE_OK);
    queue_free(q);
    /* the minimum interval: a domain just finished is not claimed again */
    p.crawl = "t-domain-2";
    p.min_interval = 3600 * 1000;
    q = start(&p);
    assert_int_equal(claim(q, 10).n, 0);
    sql("UPDATE domains SET last_contact = now() - interval '2 hours' WHERE "
        "name = 'one.test'");
    assert_int_equal(claim(q, 10).n, 1);
    queue_free(q);
    queue_free(q2);
}

static void test_deny(void **state)
{
    (void)state;
    char path[] = "/tmp/xc-deny-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# test deny file\n"
                       "*.denied.test   whole zone\n"
                       "bad.test # asked us \xff\n"
                       "gone.test\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    sql("INSERT INTO deny_list (pattern, match, added_by) VALUES "
        "('manual.test', 'domain',"
        " 'operator') ON CONFLICT DO NOTHING");
    struct queue_params p = params_for("t-deny");
    p.deny_file = path;
    struct queue *q = start(&p);
    assert_int_equal(
        sql_num("SELECT count(*) FROM deny_list WHERE added_by = 'deny-file'"),
        3);
    char *v =
        sql_str("SELECT match || ' ' || coalesce(reason, '') FROM deny_list"
                " WHERE pattern = 'denied.test'");
    assert_string_equal(v, "suffix whole zone");
    free(v);
    v = sql_str("SELECT reason FROM deny_list WHERE pattern = 'bad.test'");
    assert_string_equal(v, "asked us ?"); /* invalid UTF-8 cleaned */
    free(v);
    add_jobs(q,
             "denied.test a.denied.test b.a.denied.test bad.test manual.test "
             "xdenied.test ok.deny.test",
             "domain", 5);
    struct rec r = claim(q, 20);
    assert_int_equal(r.n, 2);
    for (size_t i = 0; i < r.n; i++)
        assert_true(strcmp(r.jobs[i].domain, "xdenied.test") == 0 ||
                    strcmp(r.jobs[i].domain, "ok.deny.test") == 0);
    queue_free(q);
    /* the file is the truth: a pattern removed from it leaves the table,
     * one added by other means stays; a rebuilt table is refilled */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    text = "*.denied.test\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    q = start(&p);
    assert_int_equal(
        sql_num("SELECT count(*) FROM deny_list WHERE added_by = 'deny-file'"),
        1);
    assert_int_equal(
        sql_num("SELECT count(*) FROM deny_list WHERE pattern = 'manual.test'"),
        1);
    r = claim(q, 20);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.jobs[0].domain, "bad.test");
    queue_free(q);
    sql("DELETE FROM deny_list");
    q = start(&p);
    assert_int_equal(sql_num("SELECT count(*) FROM deny_list"), 1);
    queue_free(q);
    /* a bad file fails the start with its line */
    fd = open(path, O_WRONLY | O_TRUNC);
    text = "ok.test\nnot_ok.test\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    q = queue_new(base, pga, &p);
    struct rec s = {0};
    queue_start(q, on_ready, &s);
    run_until(&s.done);
    assert_false(s.ok);
    assert_non_null(strstr(s.msg, ":2:"));
    queue_free(q);
    unlink(path);
}

static void test_heartbeat_lost(void **state)
{
    (void)state;
    struct queue_params p = params_for("t-heartbeat");
    p.lease = 10000;
    struct queue *q = start(&p);
    struct lost lost = {0};
    queue_set_lost_cb(q, on_lost, &lost);
    add_jobs(q, "hb1.test hb2.test", "domain", 5);
    struct rec r = claim(q, 10);
    assert_int_equal(r.n, 2);
    char buf[256];
    snprintf(buf, sizeof buf,
             "UPDATE jobs SET lease_expires_at = now() WHERE id IN (%" PRId64
             ", %" PRId64 ")",
             r.jobs[0].id, r.jobs[1].id);
    sql(buf);
    assert_int_equal(count_op(q, queue_heartbeat), 2);
    expect_field(r.jobs[0].id,
                 "lease_expires_at > now() + interval '5 seconds'", "t");
    expect_field(r.jobs[1].id,
                 "lease_expires_at > now() + interval '5 seconds'", "t");
    assert_int_equal(lost.calls, 0);
    /* someone else took job 1 (its token moved on): the heartbeat finds out */
    snprintf(buf, sizeof buf,
             "UPDATE jobs SET lease_version = lease_version + 1, lease_owner = "
             "'other'"
             " WHERE id = %" PRId64,
             r.jobs[1].id);
    sql(buf);
    assert_int_equal(count_op(q, queue_heartbeat), 1);
    assert_int_equal(lost.calls, 1);
    assert_int_equal(lost.id, r.jobs[1].id);
    assert_int_equal(lost.token, r.jobs[1].token);
    assert_int_equal(queue_held(q), 1);
    /* finish returns what is still held and closes the run */
    struct rec f = {0};
    queue_finish(q, true, on_ready, &f);
    run_until(&f.done);
    assert_true(f.ok);
    expect_field(r.jobs[0].id, "state", "queued");
    expect_field(r.jobs[0].id, "attempts", "0");
    snprintf(buf, sizeof buf,
             "SELECT state FROM crawl_runs WHERE id = %" PRId64,
             queue_run_id(q));
    char *v = sql_str(buf);
    assert_string_equal(v, "aborted");
    free(v);
    queue_free(q);
}

static void test_recrawl(void **state)
{
    (void)state;
    struct queue_params p = params_for("t-recrawl");
    p.recrawl_interval = 1; /* 1 ms */
    struct queue *q = start(&p);
    add_jobs(q, "again.test", "domain", 5);
    struct rec r = claim(q, 1);
    assert_int_equal(r.n, 1);
    complete(q, r.jobs[0].id, r.jobs[0].token, QUEUE_OK);
    expect_field(r.jobs[0].id, "state", "done");
    usleep(5000);
    assert_int_equal(count_op(q, queue_recrawl), 1);
    expect_field(r.jobs[0].id, "state", "queued");
    expect_field(r.jobs[0].id, "attempts", "0");
    struct rec r2 = claim(q, 1);
    assert_int_equal(r2.n, 1);
    assert_int_equal(r2.jobs[0].token, r.jobs[0].token + 1);
    assert_int_equal(r2.jobs[0].attempts, 1);
    queue_free(q);
}

static void test_discovered(void **state)
{
    (void)state;
    const char *names[] = {"new1.disc.test", "NEW2.disc.test.", "bad_name",
                           "new1.disc.test"};
    /* seeds scope: nothing is enqueued */
    struct queue *q = start(&(struct queue_params){
        .crawl = "t-disc-seeds", .lease = 60000, .max_attempts = 5});
    struct rec r = {0};
    queue_enqueue_discovered(q, names, 4, on_count, &r);
    run_until(&r.done);
    assert_int_equal(r.rows, 0);
    queue_free(q);
    /* discovered scope */
    struct queue_params p = params_for("t-disc");
    p.scope = XC_SCOPE_DISCOVERED;
    q = start(&p);
    assert_int_equal(queue_scope(q), XC_SCOPE_DISCOVERED);
    r = (struct rec){0};
    queue_enqueue_discovered(q, names, 4, on_count, &r);
    run_until(&r.done);
    assert_int_equal(r.rows, 2);
    r = (struct rec){0};
    queue_enqueue_discovered(q, names, 4, on_count, &r);
    run_until(&r.done);
    assert_int_equal(r.rows, 0);
    assert_int_equal(
        sql_num("SELECT count(*) FROM domains d JOIN sources s ON s.id ="
                " d.discovered_by WHERE d.name LIKE 'new_.disc.test'"),
        2);
    struct rec c = claim(q, 10);
    assert_int_equal(c.n, 2);
    assert_false(c.jobs[0].check_opt_in);
    /* hostile names: "null" is a valid host name, not SQL NULL; quotes,
     * braces and commas never reach the array literal */
    const char *odd[] = {"null", "NULL.", "a\",b", "{x}", "c,d.test"};
    r = (struct rec){0};
    queue_enqueue_discovered(q, odd, 5, on_count, &r);
    run_until(&r.done);
    assert_int_equal(r.rows, 1);
    assert_int_equal(
        sql_num("SELECT count(*) FROM domains WHERE name = 'null'"), 1);
    queue_free(q);
    /* opt-in scope: a discovered domain must be checked, a seeded one not */
    p.crawl = "t-optin";
    p.scope = XC_SCOPE_OPT_IN;
    q = start(&p);
    const char *n2[] = {"found.optin.test"};
    r = (struct rec){0};
    queue_enqueue_discovered(q, n2, 1, on_count, &r);
    run_until(&r.done);
    assert_int_equal(r.rows, 1);
    add_jobs(q, "listed.optin.test", "domain", 5);
    c = claim(q, 10);
    assert_int_equal(c.n, 2);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(c.jobs[i].check_opt_in,
                         strcmp(c.jobs[i].domain, "found.optin.test") == 0);
    /* once the domain is known to advertise XEP-0485 (the completion of
     * its job records what the probe found), no check is asked; a
     * completion that does not know (-1) leaves it as it was */
    for (size_t i = 0; i < 2; i++) {
        bool found = strcmp(c.jobs[i].domain, "found.optin.test") == 0;
        struct rec rc = {0};
        queue_complete(q, c.jobs[i].id, c.jobs[i].token, QUEUE_INTERNAL,
                       "test detail", found ? 1 : -1, on_complete, &rc);
        run_until(&rc.done);
        assert_int_equal(rc.d, QUEUE_DONE_APPLIED);
    }
    assert_int_equal(sql_num("SELECT count(*) FROM domains WHERE name = "
                        "'found.optin.test' AND serverinfo_opt_in"),
                     1);
    assert_int_equal(sql_num("SELECT count(*) FROM domains WHERE name = "
                        "'listed.optin.test' AND serverinfo_opt_in IS NULL"),
                     1);
    sql("UPDATE jobs SET next_attempt_at = now() WHERE domain_id IN (SELECT id "
        "FROM domains"
        " WHERE name LIKE '%.optin.test')");
    c = claim(q, 10);
    assert_int_equal(c.n, 2);
    assert_false(c.jobs[0].check_opt_in);
    assert_false(c.jobs[1].check_opt_in);
    queue_free(q);
}

static int cases_setup(void **state)
{
    (void)state;
    base = event_base_new();
    pga = pgasync_new(base, conninfo, "test");
    db = pg_connect(conninfo);
    return db ? 0 : -1;
}

static int cases_teardown(void **state)
{
    (void)state;
    pgasync_free(pga);
    event_base_free(base);
    pg_close(db);
    return 0;
}

static int run_cases(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_resume),
        cmocka_unit_test(test_claim_complete),
        cmocka_unit_test(test_fencing),
        cmocka_unit_test(test_backoff_and_cap),
        cmocka_unit_test(test_one_lease_per_domain),
        cmocka_unit_test(test_deny),
        cmocka_unit_test(test_heartbeat_lost),
        cmocka_unit_test(test_recrawl),
        cmocka_unit_test(test_discovered),
    };
    return cmocka_run_group_tests(tests, cases_setup, cases_teardown);
}

/* ---- worker -------------------------------------------------------- */

struct worker {
    struct queue *q;
    int out;
    int64_t work_ms;
    int inflight;
    bool claiming, checking, finished, failed;
    struct event *tick;
    long long applied, stale, claim_errors;
};

struct work {
    struct worker *w;
    int64_t id, token;
    char domain[256];
    double claimed_at;
};

static void worker_claim(struct worker *w);

static void work_completed(void *arg, enum queue_done d,
                           const struct queue_completion *c)
{
    struct work *k = arg;
    struct worker *w = k->w;
    w->inflight--;
    if (d == QUEUE_DONE_APPLIED) {
        char line[512];
        int n = snprintf(line, sizeof line,
                         "%" PRId64 " %s %" PRId64 " %.6f %.6f\n", k->id,
                         k->domain, k->token, k->claimed_at, c->db_now);
        if (write(w->out, line, (size_t)n) != n)
            w->failed = true;
        w->applied++;
    } else if (d == QUEUE_DONE_STALE) {
        w->stale++;
    } else {
        log_error("worker: completion of job %" PRId64 ": %s", k->id,
                  queue_done_name(d));
        w->failed = true;
    }
    free(k);
}

static void work_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct work *k = arg;
    queue_complete(k->w->q, k->id, k->token, QUEUE_OK, NULL, -1, work_completed, k);
}

static void worker_claimed(void *arg, bool ok, const struct queue_job *jobs,
                           size_t n)
{
    struct worker *w = arg;
    w->claiming = false;
    if (!ok) {
        w->claim_errors++; /* counted: the test expects none */
        return;            /* try again at the next tick */
    }
    for (size_t i = 0; i < n; i++) {
        struct work *k = xcalloc(1, sizeof *k);
        k->w = w;
        k->id = jobs[i].id;
        k->token = jobs[i].token;
        k->claimed_at = jobs[i].claimed_at;
        snprintf(k->domain, sizeof k->domain, "%s", jobs[i].domain);
        int64_t ms =
            w->work_ms + (w->work_ms > 1 ? rand() % (w->work_ms / 2 + 1) : 0);
        struct timeval tv = {(time_t)(ms / 1000),
                             (suseconds_t)(ms % 1000) * 1000};
        w->inflight++;
        event_base_once(base, -1, EV_TIMEOUT, work_done, k, &tv);
    }
}

static void worker_checked(void *arg, const struct pga_result *r)
{
    struct worker *w = arg;
    w->checking = false;
    if (r->status == PGA_OK && r->last &&
        strcmp(pg_value(r->last, 0, 0), "0") == 0 && w->inflight == 0)
        w->finished = true;
}

static void worker_claim(struct worker *w)
{
    if (w->claiming || w->inflight >= 4)
        return;
    w->claiming = true;
    queue_claim(w->q, 4 - w->inflight, worker_claimed, w);
}

static void worker_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    worker_claim(w);
    if (w->inflight == 0 && !w->checking) {
        char crawl[32];
        snprintf(crawl, sizeof crawl, "%" PRId64, queue_crawl_id(w->q));
        const char *params[] = {crawl};
        w->checking = true;
        pgasync_query(pga, 0,
                      "SELECT count(*) FROM jobs WHERE crawl_id = $1"
                      " AND state IN ('queued', 'leased')",
                      1, params, worker_checked, w);
    }
}

static int run_worker(char **argv)
{
    /* CRAWL OWNER OUTFILE LEASE_MS MIN_INTERVAL_MS WORK_MS */
    struct worker w = {0};
    w.out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (w.out < 0) {
        perror(argv[2]);
        return 1;
    }
    w.work_ms = atoll(argv[5]);
    srand((unsigned)getpid());
    base = event_base_new();
    pga = pgasync_new(base, conninfo, "worker");
    struct queue_params p = {0};
    p.crawl = argv[0];
    p.owner = argv[1];
    p.lease = atoll(argv[3]);
    p.heartbeat_interval = p.lease / 4;
    p.min_interval = atoll(argv[4]);
    p.max_attempts = 5;
    w.q = queue_new(base, pga, &p);
    struct rec r = {0};
    queue_start(w.q, on_ready, &r);
    time_t end = time(NULL) + 30;
    while (!r.done && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    if (!r.ok) {
        fprintf(stderr, "worker %s: %s\n", p.owner, r.msg);
        return 1;
    }
    w.tick = event_new(base, -1, EV_PERSIST, worker_tick, &w);
    struct timeval tv = {0, 20000};
    event_add(w.tick, &tv);
    end = time(NULL) + 240;
    while (!w.finished && !w.failed && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    struct rec f = {0};
    queue_finish(w.q, false, on_ready, &f);
    while (!f.done && time(NULL) < end + 30)
        event_base_loop(base, EVLOOP_ONCE);
    fprintf(stderr,
            "worker %s: %lld applied, %lld stale, %lld claim errors, %s\n",
            p.owner, w.applied, w.stale, w.claim_errors,
            w.finished ? "finished" : "gave up");
    event_free(w.tick);
    queue_free(w.q);
    pgasync_free(pga);
    event_base_free(base);
    close(w.out);
    return w.finished && !w.failed && f.ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "cases") == 0) {
        conninfo = argv[2];
        return run_cases();
    }
    if (argc == 9 && strcmp(argv[1], "worker") == 0) {
        conninfo = argv[2];
        return run_worker(argv + 3);
    }
    fprintf(stderr,
            "usage: test_queue cases CONNINFO\n"
            "       test_queue worker CONNINFO CRAWL OWNER OUTFILE LEASE_MS "
            "MIN_INTERVAL_MS WORK_MS\n");
    return 2;
}
