/*
 * Unit tests for lib/buf and lib/log level parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "xalloc.h"

static void test_buf_grows_and_terminates(void **state)
{
    struct buf b = BUF_INIT;
    assert_string_equal(buf_str(&b), "");
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i % 10);
    assert_int_equal(b.len, 2000);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data, "0,1,2,", 6);
    buf_reset(&b);
    assert_string_equal(buf_str(&b), "");
    buf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    char *s = buf_steal(&b);
    assert_null(b.data);
    assert_memory_equal(s, "a\0b", 4);
    free(s);
    buf_free(&b);
}

static void test_xml_escape(void **state)
{
    struct buf b = BUF_INIT;
    buf_put_xml(&b, "a<b>&'\"c");
    assert_string_equal(buf_str(&b), "a&lt;b&gt;&amp;&apos;&quot;c");
    buf_reset(&b);
    buf_put_xml(&b, "");
    assert_string_equal(buf_str(&b), "");
    buf_put_xml(&b, "plain");
    assert_string_equal(buf_str(&b), "plain");
    buf_free(&b);
}

static void test_log_levels(void **state)
{
    enum log_level l;
    assert_true(log_level_parse("debug", &l));
    assert_int_equal(l, LOG_DEBUG);
    assert_false(log_level_parse("verbose", &l));
    assert_string_equal(log_level_name(LOG_WARN), "warn");
}

static void test_xasprintf(void **state)
{
    char *s = xasprintf("%s-%03d", "x", 7);
    assert_string_equal(s, "x-007");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_terminates),
        cmocka_unit_test(test_xml_escape),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_xasprintf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
