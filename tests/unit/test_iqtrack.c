/*
 * Unit tests for crawler/iqtrack on a real libevent base: replies, errors,
 * timeouts, stale and foreign ids, growth with many requests in flight,
 * cancellation, and callbacks that add requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "iqtrack.h"

struct rec {
    int calls;
    enum iqtrack_result last;
    void *reply;
};

static void record(void *arg, enum iqtrack_result r, void *reply)
{
    struct rec *c = arg;
    c->calls++;
    c->last = r;
    c->reply = reply;
}

static void test_reply_error_and_stale(void **state)
{
    struct event_base *base = event_base_new();
    struct iqtrack *t = iqtrack_new(base);
    struct rec a = {0}, b = {0};
    char ida[IQTRACK_ID_MAX], idb[IQTRACK_ID_MAX];
    iqtrack_add(t, 5000, record, &a, ida);
    iqtrack_add(t, 5000, record, &b, idb);
    assert_string_not_equal(ida, idb);
    assert_int_equal(iqtrack_pending(t), 2);
    int marker;
    assert_true(iqtrack_complete(t, ida, false, &marker));
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.last, IQT_RESULT);
    assert_ptr_equal(a.reply, &marker);
    /* the same id again is stale: no second call */
    assert_false(iqtrack_complete(t, ida, false, NULL));
    assert_int_equal(a.calls, 1);
    /* slot reuse gets a new generation: the old id stays stale */
    struct rec c = {0};
    char idc[IQTRACK_ID_MAX];
    iqtrack_add(t, 5000, record, &c, idc);
    assert_string_not_equal(ida, idc);
    assert_false(iqtrack_complete(t, ida, false, NULL));
    assert_true(iqtrack_complete(t, idb, true, NULL));
    assert_int_equal(b.last, IQT_ERROR);
    /* garbage and foreign ids */
    static const char *const bad[] = {
        NULL, "", "x", "x0", "x0.0", "x0.0.", "y0.0.0", "x0.0.0.0",
        "x-1.0.0", "x0.0.zz", "x99999999999.0.0",
        "xffffffff.ffffffff.ffffffff", "x0.0.0 ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(iqtrack_complete(t, bad[i], false, NULL));
    struct iqtrack *other = iqtrack_new(base);
    assert_false(iqtrack_complete(other, idc, false, NULL));
    iqtrack_free(other);
    assert_int_equal(c.calls, 0);
    iqtrack_free(t); /* cancels c */
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.last, IQT_CANCELLED);
    event_base_free(base);
}

static void test_timeouts_fire_in_order(void **state)
{
    struct event_base *base = event_base_new();
    struct iqtrack *t = iqtrack_new(base);
    struct rec fast = {0}, slow = {0}, answered = {0};
    char id[IQTRACK_ID_MAX], ida[IQTRACK_ID_MAX];
    iqtrack_add(t, 20, record, &fast, id);
    iqtrack_add(t, 60, record, &slow, id);
    iqtrack_add(t, 20, record, &answered, ida);
    assert_true(iqtrack_complete(t, ida, false, NULL));
    event_base_dispatch(base); /* returns when no timer is left */
    assert_int_equal(fast.calls, 1);
    assert_int_equal(fast.last, IQT_TIMEOUT);
    assert_int_equal(slow.calls, 1);
    assert_int_equal(slow.last, IQT_TIMEOUT);
    assert_int_equal(answered.calls, 1);
    assert_int_equal(answered.last, IQT_RESULT);
    assert_int_equal(iqtrack_pending(t), 0);
    iqtrack_free(t);
    event_base_free(base);
}

static void test_many_in_flight(void **state)
{
    enum { N = 5000 };
    struct event_base *base = event_base_new();
    struct iqtrack *t = iqtrack_new(base);
    static struct rec recs[N];
    static char ids[N][IQTRACK_ID_MAX];
    memset(recs, 0, sizeof recs);
    for (int i = 0; i < N; i++)
        iqtrack_add(t, 1000 + (i % 3), record, &recs[i], ids[i]);
    assert_int_equal(iqtrack_pending(t), N);
    for (int i = N - 1; i >= 0; i -= 2)
        assert_true(iqtrack_complete(t, ids[i], false, NULL));
    assert_int_equal(iqtrack_pending(t), N / 2);
    iqtrack_cancel_all(t);
    assert_int_equal(iqtrack_pending(t), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(recs[i].calls, 1);
        assert_int_equal(recs[i].last, (N - 1 - i) % 2 == 0 ? IQT_RESULT
                                                             : IQT_CANCELLED);
    }
    iqtrack_free(t);
    event_base_free(base);
}

struct chain {
    struct iqtrack *t;
    int remaining;
    int done;
};

static void chain_cb(void *arg, enum iqtrack_result r, void *reply)
{
    struct chain *c = arg;
    c->done++;
    if (r == IQT_TIMEOUT && c->remaining-- > 0) {
        char id[IQTRACK_ID_MAX];
        iqtrack_add(c->t, 1, chain_cb, c, id);
    }
}

static void test_callback_adds_request(void **state)
{
    struct event_base *base = event_base_new();
    struct chain c = {iqtrack_new(base), 3, 0};
    char id[IQTRACK_ID_MAX];
    iqtrack_add(c.t, 1, chain_cb, &c, id);
    event_base_dispatch(base);
    assert_int_equal(c.done, 4);
    iqtrack_free(c.t);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_error_and_stale),
        cmocka_unit_test(test_timeouts_fire_in_order),
        cmocka_unit_test(test_many_in_flight),
        cmocka_unit_test(test_callback_adds_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
