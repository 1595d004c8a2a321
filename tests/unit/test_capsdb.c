/*
 * Every one of the 1,611 real capsdb entries through the XEP-0115
 * verifier: entries marked well_formed must verify strictly, the others
 * must be ill-formed and reproduced by the lenient computation. Counts
 * are computed and asserted against the data set's README figures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "caps.h"
#include "caps2.h"
#include "disco.h"

#define CAPSDB XC_TEST_DATA "/capsdb/capsdb.jsonl"
#define EJABBERD_NODE "http://www.process-one.net/en/ejabberd/"

static void test_capsdb_all(void **state)
{
    FILE *f = fopen(CAPSDB, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    size_t total = 0, valid = 0, ill = 0, lenient = 0, ejabberd = 0, md5 = 0,
           wf = 0, not_wf = 0, caps2_ok = 0;
    size_t errors[CAPS_ERR__COUNT] = {0};
    struct caps_result r;
    caps_result_init(&r);
    while ((n = getline(&line, &cap, f)) > 0) {
        total++;
        json_error_t jerr;
        json_t *e = json_loadb(line, (size_t)n, 0, &jerr);
        if (e == NULL)
            fail_msg("line %zu: %s", total, jerr.text);
        const char *xml =
            json_string_value(json_object_get(e, "disco_info_xml"));
        const char *hash = json_string_value(json_object_get(e, "hash"));
        const char *ver = json_string_value(json_object_get(e, "ver"));
        const char *node = json_string_value(json_object_get(e, "node"));
        bool well_formed = json_is_true(json_object_get(e, "well_formed"));
        assert_non_null(xml);
        struct parse_err perr;
        struct disco_info *info = disco_parse(xml, strlen(xml), NULL, &perr);
        if (info == NULL)
            fail_msg("line %zu: %s", total, perr.msg);
        enum caps_outcome o = caps_verify(info, hash, ver, 0, &r);
        if (strcmp(hash, "md5") == 0)
            md5++;
        if (well_formed) {
            wf++;
            if (o != CAPS_VALID || r.matched_by != CAPS_M_STRICT)
                fail_msg("line %zu (%s): %s, matched_by %s", total, ver,
                         caps_outcome_name(o),
                         caps_result_matched_by(&r) ? caps_result_matched_by(&r)
                                                    : "none");
            valid++;
            if (strcmp(node, EJABBERD_NODE) == 0)
                ejabberd++;
        } else {
            not_wf++;
            if (o != CAPS_ILL_FORMED)
                fail_msg("line %zu: %s instead of ill-formed", total,
                         caps_outcome_name(o));
            ill++;
            errors[r.error]++;
            if (r.matched_by == CAPS_M_LENIENT)
                lenient++;
        }
        /* XEP-0390 input builds for each (forms follow XEP-0068 or not) */
        struct buf in = BUF_INIT;
        if (caps2_input(info, &in) == CAPS2_ERR_NONE)
            caps2_ok++;
        buf_free(&in);
        disco_info_free(info);
        json_decref(e);
    }
    free(line);
    fclose(f);
    caps_result_free(&r);
    printf("capsdb: %zu entries (%zu md5), %zu valid/strict (%zu ejabberd), "
           "%zu ill-formed (%zu matched lenient)",
           total, md5, valid, ejabberd, ill, lenient);
    for (int i = 1; i < CAPS_ERR__COUNT; i++)
        printf(", %s %zu", caps_error_name(i), errors[i]);
    printf("; XEP-0390 input for %zu\n", caps2_ok);
    assert_int_equal(total, 1611);
    assert_int_equal(md5, 17);
    assert_int_equal(wf, 1578);
    assert_int_equal(valid, 1578);
    assert_int_equal(ejabberd, 9);
    assert_int_equal(not_wf, 33);
    assert_int_equal(ill, 33);
    assert_int_equal(lenient, 33);
    assert_int_equal(errors[CAPS_ERR_NONE], 0);
    assert_int_equal(errors[CAPS_ERR_DUPLICATE_FEATURE], 33);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capsdb_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
