/*
 * crawler/pgasync against a real PostgreSQL started by this test (argv[1]
 * is scripts/pg, argv[2] the cluster directory): statements with
 * parameters, SQL errors that leave the connection usable, a COPY batch in
 * a transaction that rolls back on error, the server stopped and started
 * again under load without losing a retried job, and cancellation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "pg.h"
#include "pgasync.h"
#include "xalloc.h"

static const char *pg_script, *pg_dir;
static char conninfo[1024];
static struct event_base *base;

static int pg_ctl(const char *what)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s %s'%s' >/dev/null 2>&1", pg_script, what,
             strcmp(what, "start") == 0 ? "--fast " : "", pg_dir);
    return system(cmd);
}

struct out {
    int calls;
    struct pga_result r;
    char value[64];
};

static void record(void *arg, const struct pga_result *r)
{
    struct out *o = arg;
    o->calls++;
    o->r = *r;
    o->r.last = NULL;
    if (r->last && pg_nrows(r->last) > 0)
        snprintf(o->value, sizeof o->value, "%s", pg_value(r->last, 0, 0));
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *calls reaches want, for at most 120 s of wall-clock
 * time (a timer guarantees the loop wakes up to notice the deadline). */
static void run_until(int *calls, int want)
{
    struct timeval tick = {0, 50000};
    struct event *ev = event_new(base, -1, EV_PERSIST, wake, NULL);
    event_add(ev, &tick);
    time_t end = time(NULL) + 120;
    while (*calls < want && time(NULL) < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    assert_int_equal(*calls, want);
}

static int setup(void **state)
{
    if (pg_ctl("start") != 0) {
        fprintf(stderr, "could not start PostgreSQL with %s\n", pg_script);
        return -1;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' conninfo '%s'", pg_script, pg_dir);
    FILE *f = popen(cmd, "r");
    if (f == NULL || fgets(conninfo, sizeof conninfo, f) == NULL)
        return -1;
    pclose(f);
    conninfo[strcspn(conninfo, "\n")] = '\0';
    base = event_base_new();
    return 0;
}

static int teardown(void **state)
{
    event_base_free(base);
    pg_ctl("stop");
    return 0;
}

static void test_queries_and_errors(void **state)
{
    struct pgasync *p = pgasync_new(base, conninfo, "test");
    struct out a = {0}, b = {0}, c = {0};
    const char *params[] = {"20", "22"};
    pgasync_query(p, 0, "SELECT $1::int + $2::int", 2, params, record, &a);
    pgasync_query(p, 0, "SELECT * FROM no_such_table", 0, NULL, record, &b);
    pgasync_query(p, 0, "SELECT 'still fine'", 0, NULL, record, &c);
    assert_int_equal(pgasync_queued(p), 3);
    run_until(&c.calls, 1);
    assert_int_equal(a.r.status, PGA_OK);
    assert_string_equal(a.value, "42");
    assert_int_equal(b.r.status, PGA_SQL_ERROR);
    assert_string_equal(b.r.sqlstate, "42P01");
    assert_int_equal(c.r.status, PGA_OK);
    assert_string_equal(c.value, "still fine");
    assert_true(pgasync_is_up(p));
    assert_int_equal(pgasync_queued(p), 0);
    pgasync_free(p);
}

static char *rows(int from, int n)
{
    struct buf b = BUF_INIT;
    for (int i = from; i < from + n; i++)
        buf_printf(&b, "%d\tvalue %d\\twith tab\n", i, i);
    return buf_steal(&b);
}

static void test_copy_batches_in_transactions(void **state)
{
    struct out setup_o = {0}, ok = {0}, bad = {0}, count = {0};
    struct pgasync *p = pgasync_new(base, conninfo, "test");
    pgasync_query(p, 0,
                  "DROP TABLE IF EXISTS t_copy; CREATE TABLE t_copy "
                  "(id int PRIMARY KEY, v text)",
                  0, NULL, record, &setup_o);
    char *data = rows(0, 20000);
    struct pga_job *j = pga_job_new(0, record, &ok);
    pga_job_query(j, "CREATE TEMP TABLE s (LIKE t_copy) ON COMMIT DROP", 0, NULL);
    pga_job_copy(j, "COPY s FROM STDIN", data, strlen(data));
    pga_job_query(j, "INSERT INTO t_copy SELECT * FROM s ON CONFLICT DO NOTHING",
                  0, NULL);
    pgasync_submit(p, j);
    assert_true(pgasync_queued_bytes(p) > 20000 * 20);
    /* a batch with one bad row: nothing of it may stay */
    struct buf b = BUF_INIT;
    buf_puts(&b, "30000\tok\nnot-a-number\tbad\n");
    j = pga_job_new(0, record, &bad);
    pga_job_query(j, "CREATE TEMP TABLE s (LIKE t_copy) ON COMMIT DROP", 0, NULL);
    pga_job_copy(j, "COPY s FROM STDIN", buf_steal(&b), 26);
    pga_job_query(j, "INSERT INTO t_copy SELECT * FROM s", 0, NULL);
    pgasync_submit(p, j);
    pgasync_query(p, 0, "SELECT count(*) FROM t_copy", 0, NULL, record, &count);
    run_until(&count.calls, 1);
    assert_int_equal(setup_o.r.status, PGA_OK);
    assert_int_equal(ok.r.status, PGA_OK);
    assert_int_equal(ok.r.rows, 20000);
    assert_int_equal(bad.r.status, PGA_SQL_ERROR);
    assert_string_equal(bad.r.sqlstate, "22P02");
    assert_int_equal(bad.r.failed_step, 1);
    assert_string_equal(count.value, "20000");
    assert_int_equal(pgasync_queued_bytes(p), 0);
    pgasync_free(p);
}

struct load {
    int done, ok, lost;
    int ups, downs;
};

static void load_cb(void *arg, const struct pga_result *r)
{
    struct load *l = arg;
    l->done++;
    l->ok += r->status == PGA_OK;
    l->lost += r->status == PGA_CONN_LOST;
}

static void state_cb(void *arg, bool up, const char *why)
{
    struct load *l = arg;
    if (up)
        l->ups++;
    else
        l->downs++;
}

static void test_outage_loses_no_retried_job(void **state)
{
    enum { N = 300 };
    struct pgasync *p = pgasync_new(base, conninfo, "outage");
    pgasync_set_backoff(p, 50, 400);
    struct load l = {0};
    pgasync_set_state_cb(p, state_cb, &l);
    struct out o = {0};
    pgasync_query(p, 0,
                  "DROP TABLE IF EXISTS t_out; CREATE TABLE t_out (id int PRIMARY KEY)",
                  0, NULL, record, &o);
    run_until(&o.calls, 1);
    assert_int_equal(o.r.status, PGA_OK);
    char id[16];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "%d", i);
        const char *params[] = {id};
        pgasync_query(p, PGA_RETRY,
                      "INSERT INTO t_out VALUES ($1::int) ON CONFLICT DO NOTHING",
                      1, params, load_cb, &l);
        if (i == N / 3) {
            /* let some run, then take the server away under load */
            for (int k = 0; k < 20; k++)
                event_base_loop(base, EVLOOP_NONBLOCK);
            assert_int_equal(pg_ctl("stop"), 0);
            for (int k = 0; k < 30; k++) {
                event_base_loop(base, EVLOOP_NONBLOCK);
                usleep(10000);
            }
            assert_int_equal(pg_ctl("start"), 0);
        }
    }
    run_until(&l.done, N);
    assert_int_equal(l.ok, N);
    assert_int_equal(l.lost, 0);
    assert_true(l.downs >= 1);
    assert_true(l.ups >= 1);
    memset(&o, 0, sizeof o);
    pgasync_query(p, 0, "SELECT count(*) FROM t_out", 0, NULL, record, &o);
    run_until(&o.calls, 1);
    assert_string_equal(o.value, "300");
    pgasync_free(p);
}

static void test_unreachable_then_cancel(void **state)
{
    struct pgasync *p = pgasync_new(base, "host=/nonexistent-xcensus dbname=x",
                                    "nowhere");
    pgasync_set_backoff(p, 10, 20);
    struct out o = {0};
    pgasync_query(p, PGA_RETRY, "SELECT 1", 0, NULL, record, &o);
    for (int k = 0; k < 20; k++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(5000);
    }
    assert_false(pgasync_is_up(p));
    assert_int_equal(o.calls, 0); /* waits, never dropped */
    pgasync_free(p);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.r.status, PGA_CANCELLED);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_pgasync SCRIPTS_PG DIR\n");
        return 2;
    }
    pg_script = argv[1];
    pg_dir = argv[2];
    log_max_level = getenv("XC_DEBUG") ? LOG_DEBUG : LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queries_and_errors),
        cmocka_unit_test(test_copy_batches_in_transactions),
        cmocka_unit_test(test_outage_loses_no_retried_job),
        cmocka_unit_test(test_unreachable_then_cancel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
