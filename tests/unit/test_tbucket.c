/*
 * Unit tests for crawler/tbucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tbucket.h"

static void test_burst_then_rate(void **state)
{
    struct tbucket b;
    tbucket_init(&b, 10, 5, 1000); /* 10/s, burst 5 */
    for (int i = 0; i < 5; i++)
        assert_true(tbucket_take(&b, 1, 1000));
    assert_false(tbucket_take(&b, 1, 1000));
    assert_int_equal(tbucket_wait_ms(&b, 1, 1000), 100);
    assert_false(tbucket_take(&b, 1, 1099));
    assert_true(tbucket_take(&b, 1, 1100));
    /* a long pause refills only up to the burst */
    assert_int_equal(tbucket_wait_ms(&b, 1, 60000), 0);
    int taken = 0;
    while (tbucket_take(&b, 1, 60000))
        taken++;
    assert_int_equal(taken, 5);
}

static void test_sustained_rate(void **state)
{
    struct tbucket b;
    tbucket_init(&b, 50, 1, 0);
    int sent = 0;
    for (int64_t t = 0; t <= 10000; t++) /* 10 s in 1 ms steps */
        while (tbucket_take(&b, 1, t))
            sent++;
    assert_int_equal(sent, 501); /* 1 at t=0, then 50/s */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_sustained_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
