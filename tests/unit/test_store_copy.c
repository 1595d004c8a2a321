/*
 * The pure parts of the storage writer (crawler/store_copy.c): hostile
 * strings in the COPY text format (escapes, invalid UTF-8 and NUL replaced
 * by U+FFFD, never the end-of-data marker), array literals, clipping by
 * characters, timestamps, and the batch file format (round trip, every
 * kind of damage refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "store_copy.h"

#define FFFD "\xef\xbf\xbd"

static const struct {
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *out;
    size_t replaced;
} texts[] = {
    {"plain", 0, "plain", 0},
    {"", 0, "", 0},
    {"a\tb", 0, "a\\tb", 0},
    {"a\nb\r", 0, "a\\nb\\r", 0},
    {"back\\slash", 0, "back\\\\slash", 0},
    {"\\.", 0, "\\\\.", 0}, /* never the end-of-data marker */
    {"\\N", 0, "\\\\N", 0}, /* never the NULL marker */
    {"\x01\x1f\x7f", 0, "\x01\x1f\x7f", 0},
    {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0,
     "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0},
    {"\xef\xbf\xbf", 0, "\xef\xbf\xbf", 0},         /* U+FFFF is valid */
    {"\xf4\x8f\xbf\xbf", 0, "\xf4\x8f\xbf\xbf", 0}, /* U+10FFFF */
    {"nul\0in", 6, "nul" FFFD "in", 1},
    {"\xff", 0, FFFD, 1},
    {"\x80", 0, FFFD, 1},                            /* lone continuation */
    {"\xc0\xaf", 0, FFFD FFFD, 2},                   /* overlong / */
    {"\xe0\x80\xaf", 0, FFFD FFFD FFFD, 3},          /* overlong */
    {"\xed\xa0\x80", 0, FFFD FFFD FFFD, 3},          /* surrogate */
    {"\xf4\x90\x80\x80", 0, FFFD FFFD FFFD FFFD, 4}, /* > U+10FFFF */
    {"\xf5\x80", 0, FFFD FFFD, 2},
    {"\xe2\x82", 0, FFFD, 1}, /* truncated */
    {"\xe2\x82x", 0, FFFD "x", 1},
    {"\xf0\x9f\x98", 0, FFFD, 1},
    {"x\xe2\x82\t", 0, "x" FFFD "\\t", 1},
    {"\xc3\xa9\xc3", 0, "\xc3\xa9" FFFD, 1},
};

static void test_copy_text(void **state)
{
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t len = texts[i].len ? texts[i].len : strlen(texts[i].in);
        struct buf b = BUF_INIT;
        size_t n = store_copy_text(&b, texts[i].in, len);
        if (strcmp(buf_str(&b), texts[i].out) != 0 || n != texts[i].replaced)
            fail_msg("case %zu: got \"%s\" (%zu replaced)", i, buf_str(&b), n);
        /* the result never holds a raw tab, newline or CR, and a
         * backslash always starts a known escape */
        for (size_t k = 0; k < b.len; k++) {
            assert_true(b.data[k] != '\t' && b.data[k] != '\n' &&
                        b.data[k] != '\r' && b.data[k] != '\0');
            if (b.data[k] == '\\') {
                assert_non_null(strchr("\\tnr", b.data[k + 1]));
                k++;
            }
        }
        buf_free(&b);
    }
}

static void test_utf8_valid_and_clean(void **state)
{
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t len = texts[i].len ? texts[i].len : strlen(texts[i].in);
        assert_int_equal(store_utf8_valid(texts[i].in, len),
                         texts[i].replaced == 0);
        size_t rep = 99;
        char *c = store_utf8_clean(texts[i].in, len, &rep);
        assert_int_equal(rep, texts[i].replaced);
        assert_true(store_utf8_valid(c, strlen(c)));
        free(c);
    }
    assert_int_equal(store_utf8_chars("a\xc3\xa9\xe2\x82\xac", 6), 3);
}

static void test_null_and_clip(void **state)
{
    struct buf b = BUF_INIT;
    store_copy_str(&b, NULL);
    assert_string_equal(buf_str(&b), "\\N");
    buf_reset(&b);
    store_copy_str_clip(&b, "\xc3\xa9\xc3\xa9\xc3\xa9", 2);
    assert_string_equal(buf_str(&b), "\xc3\xa9\xc3\xa9");
    buf_reset(&b);
    store_copy_str_clip(&b, "a\tb", 10);
    assert_string_equal(buf_str(&b), "a\\tb");
    buf_reset(&b);
    store_copy_str_clip(&b, "abc", 0);
    assert_string_equal(buf_str(&b), "");
    buf_reset(&b);
    store_copy_str_clip(&b, NULL, 3);
    assert_string_equal(buf_str(&b), "\\N");
    buf_free(&b);
}

static void test_array(void **state)
{
    struct buf b = BUF_INIT;
    store_copy_array(&b, NULL, 0);
    assert_string_equal(buf_str(&b), "{}");
    buf_reset(&b);
    const char *items[] = {"PLAIN", NULL, "a\"b", "c\\d", "e,f}", "t\tab", ""};
    size_t rep = store_copy_array(&b, items, 7);
    assert_int_equal(rep, 0);
    /* array literal {"PLAIN","a\"b","c\\d","e,f}","t<TAB>ab",""} then
     * COPY-escaped (each backslash doubled, the tab as \t) */
    assert_string_equal(buf_str(&b), "{\"PLAIN\",\"a\\\\\"b\",\"c\\\\\\\\d\","
                                     "\"e,f}\",\"t\\tab\",\"\"}");
    buf_reset(&b);
    const char *bad[] = {"x\xff"};
    assert_int_equal(store_copy_array(&b, bad, 1), 1);
    assert_string_equal(buf_str(&b), "{\"x" FFFD "\"}");
    buf_free(&b);
}

static void test_time_format(void **state)
{
    char t[40];
    store_time_format(0, t);
    assert_string_equal(t, "1970-01-01 00:00:00.000000+00");
    store_time_format(1700000000123456LL, t);
    assert_string_equal(t, "2023-11-14 22:13:20.123456+00");
    store_time_format(-1, t);
    assert_string_equal(t, "1969-12-31 23:59:59.999999+00");
}

static char *image(size_t *len)
{
    struct buf b = BUF_INIT;
    store_file_header(&b, "host:1:ab:7", "outcome", 3, NULL);
    store_file_section(&b, "st_out", "1\tx\n2\ty\n3\tz\n", 12);
    store_file_section(&b, "st_ent", "", 0); /* skipped */
    store_file_section(&b, "st_ent", "a\n", 2);
    store_file_end(&b);
    *len = b.len;
    return buf_steal(&b);
}

static void test_file_round_trip(void **state)
{
    size_t len;
    char *img = image(&len);
    struct store_file f;
    struct parse_err err;
    assert_true(store_file_parse(img, len, &f, &err));
    assert_string_equal(f.id, "host:1:ab:7");
    assert_string_equal(f.kind, "outcome");
    assert_int_equal(f.rows, 3);
    assert_string_equal(f.error, "");
    assert_int_equal(f.nsec, 2);
    assert_string_equal(f.sec[0].name, "st_out");
    assert_int_equal(f.sec[0].len, 12);
    assert_memory_equal(f.sec[0].data, "1\tx\n2\ty\n3\tz\n", 12);
    assert_string_equal(f.sec[1].name, "st_ent");
    free(img);

    /* an error line (one line even if the message had newlines) */
    struct buf b = BUF_INIT;
    store_file_header(&b, "id", "srv", 0, "probe_outcomes: bad\nthing");
    store_file_end(&b);
    assert_true(store_file_parse(b.data, b.len, &f, &err));
    assert_string_equal(f.error, "probe_outcomes: bad thing");
    assert_int_equal(f.nsec, 0);
    buf_free(&b);
}

static void test_file_damage_refused(void **state)
{
    size_t len;
    char *img = image(&len);
    struct store_file f;
    struct parse_err err;
    /* every truncation is refused */
    for (size_t n = 0; n < len; n++)
        if (store_file_parse(img, n, &f, &err))
            fail_msg("truncated at %zu accepted", n);
    /* trailing garbage */
    char *more = malloc(len + 2);
    memcpy(more, img, len);
    memcpy(more + len, "x\n", 2);
    assert_false(store_file_parse(more, len + 2, &f, &err));
    free(more);
    static const char *const bad[] = {
        "",
        "xcensus-store-batch 2\nid a\nkind k\nrows 1\nend\n",
        "xcensus-store-batch 1\nkind k\nrows 1\nend\n",
        "xcensus-store-batch 1\nid \nkind k\nrows 1\nend\n",
        "xcensus-store-batch 1\nid a\nkind k\nrows -1\nend\n",
        "xcensus-store-batch 1\nid a\nkind k\nrows x\nend\n",
        "xcensus-store-batch 1\nid a\nkind k\nrows 1\nsection st 99\nab\nend\n",
        "xcensus-store-batch 1\nid a\nkind k\nrows 1\nsection st 0\nend\n",
        ("xcensus-store-batch 1\nid a\nkind k\nrows 1\nsection st 2x\nab"
         "end\n"),
        "xcensus-store-batch 1\nid a\nkind k\nrows 1\nwhat\nend\n",
        "xcensus-store-batch 1\nid a\nkind k\nrows 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (store_file_parse(bad[i], strlen(bad[i]), &f, &err))
            fail_msg("bad file %zu accepted", i);
        assert_true(err.msg[0] != '\0');
    }
    /* too many sections */
    struct buf b = BUF_INIT;
    store_file_header(&b, "a", "k", 1, NULL);
    for (int i = 0; i <= STORE_FILE_MAX_SECTIONS; i++)
        store_file_section(&b, "st", "x\n", 2);
    store_file_end(&b);
    assert_false(store_file_parse(b.data, b.len, &f, &err));
    buf_free(&b);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_text),
        cmocka_unit_test(test_utf8_valid_and_clean),
        cmocka_unit_test(test_null_and_clip),
        cmocka_unit_test(test_array),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_file_round_trip),
        cmocka_unit_test(test_file_damage_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
