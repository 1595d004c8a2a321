/*
 * Unit tests for the snapshot file formats (lib/snapshot_fmt) and the
 * table classification of lib/snapshot: the RFC 4180 checker on good and
 * bad input in every chunking, the CRLF conversion, name rules, YAML
 * quoting and SHA-256.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "snapshot_fmt.h"
#include "xalloc.h"

struct csv_case {
    const char *in;
    size_t ncols;
    bool ok;
    uint64_t records; /* when ok */
    int err_line;     /* when not ok */
    const char *err;  /* substring of the message when not ok */
};

static const struct csv_case csv_cases[] = {
    {"a,b\r\n1,2\r\n", 2, true, 2, 0, NULL},
    {"a,b\r\n", 2, true, 1, 0, NULL},
    {"a,b\r\n\"x,\"\"y\"\"\r\nz\",\r\n", 2, true, 2, 0, NULL},
    {"a,b\r\n,\"\"\r\n", 2, true, 2, 0, NULL},
    {"a\r\n\"multi\nline\"\r\n\"q\"\r\n", 1, true, 3, 0, NULL},
    {"", 2, false, 0, 1, "empty"},
    {"a,b\n1,2\n", 2, false, 0, 1, "LF, not CRLF"},
    {"a,b\r\n1,2", 2, false, 0, 2, "ends inside a record"},
    {"a,b\r\n\"1,2\r\n", 2, false, 0, 2, "inside a quoted field"},
    {"a,b\r\n1\r\n", 2, false, 0, 2, "1 fields, expected 2"},
    {"a,b\r\n1,2,3\r\n", 2, false, 0, 2, "3 fields"},
    {"a,b\r\n1\"x,2\r\n", 2, false, 0, 2, "quote inside an unquoted"},
    {"a,b\r\n\"1\"x,2\r\n", 2, false, 0, 2, "after a closing quote"},
    {"a,b\r\n1\r2\r\n", 2, false, 0, 2, "CR not followed by LF"},
    {"a\r\n\"x\ny\"\r\n\"z\r\n", 1, false, 0, 4, "inside a quoted field"},
};

/* Feeds s in chunks of step bytes (0: all at once). */
static bool csv_run(struct snapshot_csv *c, const char *s, size_t step)
{
    size_t n = strlen(s);
    if (step == 0)
        step = n ? n : 1;
    for (size_t i = 0; i < n; i += step)
        if (!snapshot_csv_feed(c, s + i, XC_MIN(step, n - i)))
            return false;
    return snapshot_csv_finish(c);
}

static void test_csv_checker(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(csv_cases); i++) {
        const struct csv_case *k = &csv_cases[i];
        for (size_t step = 0; step <= 3; step++) {
            struct snapshot_csv c;
            snapshot_csv_init(&c, k->ncols);
            bool ok = csv_run(&c, k->in, step);
            if (ok != k->ok)
                fail_msg("case %zu step %zu: ok=%d (%s)", i, step, ok,
                         c.err.msg);
            if (ok) {
                assert_int_equal(c.records, k->records);
            } else {
                assert_int_equal(c.err.line, k->err_line);
                if (!strstr(c.err.msg, k->err))
                    fail_msg("case %zu: message \"%s\"", i, c.err.msg);
            }
            snapshot_csv_free(&c);
        }
    }
}

static void test_csv_header_and_nul(void **state)
{
    (void)state;
    struct snapshot_csv c;
    snapshot_csv_init(&c, 3);
    assert_true(csv_run(&c, "id,kind,name\r\n1,a,b\r\n", 5));
    assert_string_equal(buf_str(&c.header), "id,kind,name");
    snapshot_csv_free(&c);

    snapshot_csv_init(&c, 1);
    assert_false(snapshot_csv_feed(&c, "a\r\nx\0y\r\n", 8));
    assert_non_null(strstr(c.err.msg, "NUL"));
    assert_false(snapshot_csv_feed(&c, "more", 4)); /* stays failed */
    snapshot_csv_free(&c);
}

static void test_csv_record_bound(void **state)
{
    (void)state;
    size_t n = SNAPSHOT_RECORD_MAX + 10;
    char *big = xmalloc(n);
    memset(big, 'a', n);
    struct snapshot_csv c;
    snapshot_csv_init(&c, 1);
    assert_true(snapshot_csv_feed(&c, "h\r\n", 3));
    assert_false(snapshot_csv_feed(&c, big, n));
    assert_non_null(strstr(c.err.msg, "longer than"));
    assert_int_equal(c.err.line, 2);
    snapshot_csv_free(&c);
    free(big);
}

static void test_crlf(void **state)
{
    (void)state;
    /* PostgreSQL's CSV: record ends LF, LF inside quotes is data */
    const char *in = "a,b\n\"x\ny\",\"\"\"\n\"\n1,2\n";
    const char *want = "a,b\r\n\"x\ny\",\"\"\"\n\"\r\n1,2\r\n";
    for (size_t step = 1; step <= strlen(in); step++) {
        struct buf out = BUF_INIT;
        bool q = false;
        for (size_t i = 0; i < strlen(in); i += step)
            snapshot_csv_crlf(&out, in + i, XC_MIN(step, strlen(in) - i), &q);
        assert_string_equal(buf_str(&out), want);
        assert_false(q);
        buf_free(&out);
        /* and the result is valid RFC 4180 */
        struct snapshot_csv c;
        snapshot_csv_init(&c, 2);
        assert_true(csv_run(&c, want, step));
        assert_int_equal(c.records, 3);
        snapshot_csv_free(&c);
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_true(snapshot_file_name_ok("caps_entries.csv"));
    assert_true(snapshot_file_name_ok("CITATION.cff"));
    assert_false(snapshot_file_name_ok(""));
    assert_false(snapshot_file_name_ok(".hidden"));
    assert_false(snapshot_file_name_ok("../x"));
    assert_false(snapshot_file_name_ok("a/b"));
    assert_false(snapshot_file_name_ok("a b"));
    char longname[120];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(snapshot_file_name_ok(longname));

    assert_true(snapshot_ident_ok("first_source_id"));
    assert_true(snapshot_ident_ok("caps2_entries"));
    assert_false(snapshot_ident_ok("2x"));
    assert_false(snapshot_ident_ok("Id"));
    assert_false(snapshot_ident_ok("id\""));
    assert_false(snapshot_ident_ok("id; drop"));
    assert_false(snapshot_ident_ok(""));

    assert_true(snapshot_sha256_hex_ok(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_false(snapshot_sha256_hex_ok(
        "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    assert_false(snapshot_sha256_hex_ok("ba78"));
}

static void test_yaml_quote(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    snapshot_yaml_quote(&b, "A \"census\" \\ of\nXMPP");
    assert_string_equal(buf_str(&b), "\"A \\\"census\\\" \\\\ of\\x0aXMPP\"");
    buf_free(&b);
}

static void test_sha256(void **state)
{
    (void)state;
    char hex[65];
    struct snapshot_sha256 *h = snapshot_sha256_new();
    snapshot_sha256_update(h, "a", 1);
    snapshot_sha256_update(h, "bc", 2);
    snapshot_sha256_final(h, hex);
    /* FIPS 180-2 example "abc" */
    assert_string_equal(
        hex,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    snapshot_sha256_free(NULL);
}

static void test_classification(void **state)
{
    (void)state;
    size_t n = snapshot_dataset_count();
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) {
        const char *t = snapshot_dataset_name(i);
        assert_true(snapshot_ident_ok(t));
        assert_int_equal(snapshot_table_kind(t), SNAPSHOT_DATASET);
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(t, snapshot_dataset_name(j));
    }
    /* load order: a table comes after what it references */
    size_t sources = n, runs = n, contents = n, idents = n;
    for (size_t i = 0; i < n; i++) {
        const char *t = snapshot_dataset_name(i);
        if (!strcmp(t, "sources"))
            sources = i;
        else if (!strcmp(t, "crawl_runs"))
            runs = i;
        else if (!strcmp(t, "disco_contents"))
            contents = i;
        else if (!strcmp(t, "disco_identities"))
            idents = i;
    }
    assert_true(sources < runs && runs < n);
    assert_true(contents < idents && idents < n);
    assert_int_equal(snapshot_table_kind("disco_daily"), SNAPSHOT_DERIVED);
    static const char *const ops[] = {"jobs", "store_batches", "deny_list",
                                      "schema_migrations"};
    for (size_t i = 0; i < ARRAY_LEN(ops); i++)
        assert_int_equal(snapshot_table_kind(ops[i]), SNAPSHOT_OPERATIONAL);
    assert_int_equal(snapshot_table_kind("no_such_table"), SNAPSHOT_UNKNOWN);
    assert_string_equal(snapshot_table_kind_name(SNAPSHOT_OPERATIONAL),
                        "operational");
    assert_string_equal(snapshot_excluded_columns("probe_outcomes"), "job_id");
    assert_null(snapshot_excluded_columns("features"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_checker),
        cmocka_unit_test(test_csv_header_and_nul),
        cmocka_unit_test(test_csv_record_bound),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_yaml_quote),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_classification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
