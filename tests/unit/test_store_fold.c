/*
 * store_copy_fold_times() (crawler/store_copy.c), which the storage writer
 * applies to the entity rows of a transaction: rows equal but for their
 * time are folded to the earliest and the latest, so that min() and max()
 * of the time per key are unchanged; anything else passes unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "store_copy.h"

#define T(s) "2026-11-24 16:00:0" s ".000000+00"

/* Sorted lines of text, one string, to compare outputs whose row order is
 * not specified. */
static char *sorted(const char *text, size_t len)
{
    char *copy = calloc(1, len + 1);
    memcpy(copy, text, len);
    char *lines[256];
    size_t n = 0;
    for (char *p = copy; *p && n < 256;) {
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
            char *t = lines[j];
            lines[j] = lines[j - 1];
            lines[j - 1] = t;
        }
    struct buf out = BUF_INIT;
    for (size_t i = 0; i < n; i++)
        buf_printf(&out, "%s\n", lines[i]);
    free(copy);
    if (out.data == NULL)
        buf_append(&out, "", 0);
    return buf_steal(&out);
}

static void check(const char *in, const char *want, size_t want_dropped)
{
    struct buf out = BUF_INIT;
    size_t dropped = store_copy_fold_times(&out, in, strlen(in));
    char *got = sorted(out.data ? out.data : "", out.len);
    char *exp = sorted(want, strlen(want));
    assert_string_equal(got, exp);
    assert_int_equal(dropped, want_dropped);
    free(got);
    free(exp);
    buf_free(&out);
}

static void test_fold(void **state)
{
    (void)state;
    /* one key seen four times, out of order: earliest and latest kept */
    check("a\t\t1\tserver\t" T("3") "\n"
          "a\t\t1\tserver\t" T("1") "\n"
          "a\t\t1\tserver\t" T("4") "\n"
          "a\t\t1\tserver\t" T("2") "\n",
          "a\t\t1\tserver\t" T("1") "\n"
          "a\t\t1\tserver\t" T("4") "\n",
          2);
    /* the same time twice: one row */
    check("a\t\t1\tserver\t" T("3") "\n"
          "a\t\t1\tserver\t" T("3") "\n",
          "a\t\t1\tserver\t" T("3") "\n", 1);
    /* any other column differs: another key (kind, domain, node, NULL) */
    check("a\t\t1\tserver\t" T("1") "\n"
          "a\t\t1\tunknown\t" T("2") "\n"
          "a\t\t\\N\tserver\t" T("3") "\n"
          "a\tn\t1\tserver\t" T("4") "\n"
          "a\t\t1\tserver\t" T("5") "\n",
          "a\t\t1\tserver\t" T("1") "\n"
          "a\t\t1\tunknown\t" T("2") "\n"
          "a\t\t\\N\tserver\t" T("3") "\n"
          "a\tn\t1\tserver\t" T("4") "\n"
          "a\t\t1\tserver\t" T("5") "\n",
          0);
    /* escaped tabs belong to the value, not to the columns */
    check("a\\tb\t" T("1") "\n"
          "a\t" T("2") "\n"
          "a\\tb\t" T("3") "\n"
          "a\\tb\t" T("2") "\n",
          "a\\tb\t" T("1") "\n"
          "a\t" T("2") "\n"
          "a\\tb\t" T("3") "\n",
          1);
}

static void test_other_rows_unchanged(void **state)
{
    (void)state;
    /* last column not a time literal, no tab at all, \N: copied as they
     * are, duplicates included */
    check("a\t1\n"
          "a\t1\n"
          "plain\n"
          "a\t\\N\n"
          "a\t\\N\n"
          "a\t2026-11-24 16:00:01+00\n"
          "a\t2026-11-24 16:00:01+00\n",
          "a\t1\n"
          "a\t1\n"
          "plain\n"
          "a\t\\N\n"
          "a\t\\N\n"
          "a\t2026-11-24 16:00:01+00\n"
          "a\t2026-11-24 16:00:01+00\n",
          0);
    /* an unterminated last row is kept as it is */
    struct buf out = BUF_INIT;
    const char *in = "a\t" T("1") "\na\t" T("2");
    assert_int_equal(store_copy_fold_times(&out, in, strlen(in)), 0);
    assert_int_equal(out.len, strlen(in));
    assert_non_null(strstr(out.data, "a\t" T("2")));
    buf_free(&out);
    /* nothing in, nothing out */
    assert_int_equal(store_copy_fold_times(&out, "", 0), 0);
    assert_int_equal(out.len, 0);
    buf_free(&out);
}

static void test_many_keys(void **state)
{
    (void)state;
    /* more keys than the table's first estimate, each seen three times:
     * every key keeps its earliest and latest time */
    struct buf in = BUF_INIT, want = BUF_INIT, out = BUF_INIT;
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 5000; k++)
            buf_printf(&in, "e%d\t" T("%d") "\n", k, (k + round) % 3 + 1);
    size_t dropped = store_copy_fold_times(&out, in.data, in.len);
    assert_int_equal(dropped, 5000);
    size_t rows = 0;
    for (size_t i = 0; i < out.len; i++)
        rows += out.data[i] == '\n';
    assert_int_equal(rows, 10000);
    for (int k = 0; k < 5000; k += 997) {
        char lo[64], hi[64];
        snprintf(lo, sizeof lo, "\ne%d\t" T("1") "\n", k);
        snprintf(hi, sizeof hi, "\ne%d\t" T("3") "\n", k);
        buf_free(&want);
        buf_append(&want, "\n", 1);
        buf_append(&want, out.data, out.len);
        buf_append(&want, "", 0);
        assert_non_null(strstr(buf_str(&want), lo));
        assert_non_null(strstr(buf_str(&want), hi));
    }
    buf_free(&in);
    buf_free(&want);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_other_rows_unchanged),
        cmocka_unit_test(test_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
