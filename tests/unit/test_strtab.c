/*
 * Unit tests for lib/strtab: ids are dense and stable, strings round-trip
 * (embedded NULs and large strings included), lookups of absent strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strtab.h"

static void test_dense_ids_and_round_trip(void **state)
{
    struct strtab *t = strtab_new();
    char s[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(s, sizeof s, "urn:xmpp:f:%d", i);
        assert_int_equal(strtab_intern_cstr(t, s), (uint32_t)i);
    }
    for (int i = 0; i < 50000; i++) {
        snprintf(s, sizeof s, "urn:xmpp:f:%d", i);
        assert_int_equal(strtab_intern_cstr(t, s), (uint32_t)i);
        assert_string_equal(strtab_str(t, (uint32_t)i), s);
        assert_int_equal(strtab_find(t, s, strlen(s)), (uint32_t)i);
    }
    assert_int_equal(strtab_count(t), 50000);
    assert_int_equal(strtab_find(t, "absent", 6), STRTAB_NONE);
    strtab_free(t);
}

static void test_nul_empty_and_large(void **state)
{
    struct strtab *t = strtab_new();
    uint32_t e = strtab_intern(t, "", 0);
    uint32_t a = strtab_intern(t, "a\0b", 3);
    uint32_t b = strtab_intern(t, "a\0c", 3);
    uint32_t a1 = strtab_intern(t, "a", 1);
    assert_int_not_equal(a, b);
    assert_int_not_equal(a, a1);
    assert_int_equal(strtab_len(t, a), 3);
    assert_memory_equal(strtab_str(t, b), "a\0c", 4);
    assert_string_equal(strtab_str(t, e), "");
    size_t big = 200000;
    char *p = malloc(big);
    memset(p, 'x', big);
    uint32_t g = strtab_intern(t, p, big);
    const char *first = strtab_str(t, a); /* pointers never move */
    for (int i = 0; i < 10000; i++) {
        char s[16];
        snprintf(s, sizeof s, "%d", i);
        strtab_intern_cstr(t, s);
    }
    assert_ptr_equal(strtab_str(t, a), first);
    assert_int_equal(strtab_len(t, g), big);
    assert_memory_equal(strtab_str(t, g), p, big);
    assert_int_equal(strtab_bytes(t) >= big + 7, 1);
    free(p);
    strtab_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_ids_and_round_trip),
        cmocka_unit_test(test_nul_empty_and_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
