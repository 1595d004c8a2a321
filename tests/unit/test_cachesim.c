/*
 * Unit tests for analyzer/cachesim: hand-computed small streams, and a
 * randomized comparison against a naive reference LRU.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cachesim.h"

struct step {
    uint32_t key;
    int64_t t;
    bool hit;
};

static void run_steps(size_t cap, int64_t ttl, const struct step *s, size_t n)
{
    struct cachesim *c = cachesim_new(cap, ttl);
    for (size_t i = 0; i < n; i++) {
        bool hit = cachesim_access(c, s[i].key, s[i].t);
        if (hit != s[i].hit)
            fail_msg("step %zu key %u: expected %s", i, s[i].key,
                     s[i].hit ? "hit" : "miss");
    }
    cachesim_free(c);
}

/* capacity 2: A B A C B -> miss miss hit miss(evicts B) miss(evicts A) */
static void test_lru_capacity_two(void **state)
{
    static const struct step s[] = {
        {1, 0, false}, {2, 0, false}, {1, 0, true},
        {3, 0, false}, {2, 0, false}, {3, 0, true}, {1, 0, false},
    };
    run_steps(2, 0, s, sizeof s / sizeof s[0]);
    struct cachesim *c = cachesim_new(2, 0);
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        cachesim_access(c, s[i].key, s[i].t);
    const struct cachesim_stats *st = cachesim_stats(c);
    assert_int_equal(st->accesses, 7);
    assert_int_equal(st->hits, 2);
    assert_int_equal(st->misses, 5);
    assert_int_equal(st->evictions, 3);
    assert_int_equal(cachesim_size(c), 2);
    assert_int_equal(st->peak_size, 2);
    cachesim_free(c);
}

/* ttl 100: age counts from insertion, a hit does not extend it */
static void test_ttl_from_insertion(void **state)
{
    static const struct step s[] = {
        {7, 0, false}, {7, 50, true}, {7, 99, true},
        {7, 100, false}, /* expired, re-inserted at 100 */
        {7, 150, true}, {7, 199, true}, {7, 200, false},
    };
    run_steps(0, 100, s, sizeof s / sizeof s[0]);
    struct cachesim *c = cachesim_new(0, 100);
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        cachesim_access(c, s[i].key, s[i].t);
    assert_int_equal(cachesim_stats(c)->expirations, 2);
    assert_int_equal(cachesim_stats(c)->evictions, 0);
    cachesim_free(c);
}

static void test_unbounded_grows(void **state)
{
    struct cachesim *c = cachesim_new(0, 0);
    for (uint32_t k = 0; k < 100000; k++)
        assert_false(cachesim_access(c, k * 2654435761U, 0));
    for (uint32_t k = 0; k < 100000; k++)
        assert_true(cachesim_access(c, k * 2654435761U, 0));
    assert_int_equal(cachesim_size(c), 100000);
    assert_int_equal(cachesim_stats(c)->hits, 100000);
    cachesim_free(c);
}

/* Reference: an array kept in recency order, searched linearly. */
static void test_matches_reference_lru(void **state)
{
    enum { CAP = 37, KEYS = 120, N = 200000 };
    uint32_t ref[CAP];
    size_t refn = 0;
    struct cachesim *c = cachesim_new(CAP, 0);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* skewed: low keys far more popular */
        uint32_t key = (uint32_t)((x % KEYS) * (x % KEYS) / KEYS);
        size_t j;
        for (j = 0; j < refn && ref[j] != key; j++)
            ;
        bool ref_hit = j < refn;
        if (!ref_hit) {
            j = refn < CAP ? refn++ : CAP - 1;
        }
        memmove(ref + 1, ref, j * sizeof ref[0]);
        ref[0] = key;
        bool hit = cachesim_access(c, key, i);
        if (hit != ref_hit)
            fail_msg("access %d key %u: simulator %d, reference %d", i, key,
                     hit, ref_hit);
    }
    assert_int_equal(cachesim_size(c), refn);
    cachesim_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_capacity_two),
        cmocka_unit_test(test_ttl_from_insertion),
        cmocka_unit_test(test_unbounded_grows),
        cmocka_unit_test(test_matches_reference_lru),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
