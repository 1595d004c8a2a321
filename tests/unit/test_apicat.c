/*
 * Unit tests for lib/apicat (the query catalog): every entry is well formed
 * (names, titles, help, SQL without its own ORDER BY/LIMIT, a non-empty
 * order_by over its own columns, parameters $1..$n all used), the entries
 * the API contract plans exist, lookups, argument checks and binding,
 * limit/offset ranges and the wrapped statement.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicat.h"

static bool word_chars(const char *s, const char *extra)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !strchr(extra, *s))
            return false;
    return true;
}

/* case-insensitive substring */
static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

/* true if sql's first select list (between SELECT and FROM) names col as
 * a whole word */
static bool selects(const char *sql, const char *col, size_t len)
{
    const char *from = strstr(sql, " FROM ");
    const char *p = sql + strlen("SELECT ");
    assert_non_null(from);
    for (; p + len <= from; p++) {
        if (strncmp(p, col, len) == 0 &&
            (p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
            !(isalnum((unsigned char)p[len]) || p[len] == '_'))
            return true;
    }
    return false;
}

static void test_entries_well_formed(void **state)
{
    (void)state;
    assert_true(apicat_count() >= 18);
    assert_null(apicat_at(apicat_count()));
    for (size_t i = 0; i < apicat_count(); i++) {
        const struct apicat_entry *e = apicat_at(i);
        assert_non_null(e);
        assert_true(word_chars(e->name, "0123456789_"));
        assert_true(strlen(e->name) < 64);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(apicat_at(j)->name, e->name);
        assert_true(e->title && *e->title);
        assert_true(e->help && strlen(e->help) > 10);
        assert_true(strncmp(e->sql, "SELECT ", 7) == 0);
        assert_null(strchr(e->sql, ';'));
        assert_false(contains_ci(e->sql, "ORDER BY"));
        assert_false(contains_ci(e->sql, "LIMIT"));
        assert_false(contains_ci(e->sql, "OFFSET"));
        /* order_by: terms "col [DESC]" separated by ", ", each a selected
         * column */
        assert_true(e->order_by && *e->order_by);
        const char *t = e->order_by;
        while (*t) {
            size_t len = strcspn(t, " ,");
            if (!selects(e->sql, t, len))
                fail_msg("%s: order_by term \"%.*s\" is not a column", e->name,
                         (int)len, t);
            t += len;
            if (strncmp(t, " DESC", 5) == 0)
                t += 5;
            if (strncmp(t, ", ", 2) == 0)
                t += 2;
            else
                assert_int_equal(*t, '\0');
        }
        /* parameters */
        assert_true(e->nparams <= APICAT_PARAMS_MAX);
        assert_true(e->nparams == 0 || e->params != NULL);
        for (size_t k = 0; k < e->nparams; k++) {
            const struct apicat_param *p = &e->params[k];
            assert_true(word_chars(p->name, "_"));
            assert_string_not_equal(p->name, "limit");
            assert_string_not_equal(p->name, "offset");
            assert_string_not_equal(p->name, "format");
            assert_true(p->help && *p->help);
            for (size_t j = 0; j < k; j++)
                assert_string_not_equal(e->params[j].name, p->name);
            assert_int_equal(apicat_param_index(e, p->name), (int)k);
        }
        char ref[16];
        for (size_t k = 1; k <= e->nparams + 1; k++) {
            snprintf(ref, sizeof ref, "$%zu", k);
            const char *hit = strstr(e->sql, ref);
            bool used = false;
            while (hit) {
                used = used || !isdigit((unsigned char)hit[strlen(ref)]);
                hit = strstr(hit + 1, ref);
            }
            if (used != (k <= e->nparams))
                fail_msg("%s: %s %s", e->name, ref,
                         used ? "used but not a parameter" : "unused");
        }
        assert_int_equal(apicat_param_index(e, "nope"), -1);
    }
}

static void test_planned_entries(void **state)
{
    (void)state;
    static const char *const planned[] = {
        "overview",        "server_software",
        "server_versions", "component_software",
        "client_software", "feature_adoption",
        "features",        "namespace_versions",
        "deprecation",     "drop_impact",
        "caps_stats",      "analysis_runs",
        "analysis_latest", "hit_rates",
        "crawl_health",    "probe_outcomes",
        "domains",         "domain",
    };
    for (size_t i = 0; i < sizeof planned / sizeof *planned; i++) {
        const struct apicat_entry *e = apicat_find(planned[i]);
        if (!e)
            fail_msg("planned entry %s missing", planned[i]);
        assert_string_equal(e->name, planned[i]);
    }
    /* required parameters where the contract says so */
    const struct apicat_entry *d = apicat_find("deprecation");
    assert_true(d->nparams == 2 && d->params[0].required &&
                d->params[1].required);
    assert_true(apicat_find("drop_impact")->params[0].required);
    assert_true(apicat_find("domain")->params[0].required);
    assert_false(apicat_find("features")->params[0].required);
}

static void test_find(void **state)
{
    (void)state;
    assert_ptr_equal(apicat_find("overview"), apicat_find("v_overview"));
    assert_non_null(apicat_find("overview"));
    assert_null(apicat_find("v_"));
    assert_null(apicat_find(""));
    assert_null(apicat_find("Overview"));
    assert_null(apicat_find("overview "));
    assert_null(apicat_find("pg_shadow"));
}

static void test_check_value(void **state)
{
    (void)state;
    struct parse_err err = {0};
    struct apicat_param i = {"n", APICAT_INT, false, "h"};
    struct apicat_param d = {"since", APICAT_DATE, false, "h"};
    struct apicat_param b = {"flag", APICAT_BOOL, false, "h"};
    struct apicat_param t = {"q", APICAT_TEXT, false, "h"};
    assert_true(apicat_check_value(&i, "0", &err));
    assert_true(apicat_check_value(&i, "-42", &err));
    assert_true(apicat_check_value(&i, "123456789012345678", &err));
    assert_false(apicat_check_value(&i, "1234567890123456789", &err));
    assert_false(apicat_check_value(&i, "", &err));
    assert_false(apicat_check_value(&i, "-", &err));
    assert_false(apicat_check_value(&i, "1e3", &err));
    assert_false(apicat_check_value(&i, " 1", &err));
    assert_false(apicat_check_value(&i, "0x10", &err));
    assert_string_equal(err.msg, "n must be an integer");
    assert_true(apicat_check_value(&d, "2026-03-15", &err));
    assert_true(apicat_check_value(&d, "2024-02-29", &err));
    assert_true(apicat_check_value(&d, "2000-02-29", &err));
    assert_false(apicat_check_value(&d, "1900-02-29", &err));
    assert_false(apicat_check_value(&d, "2026-02-29", &err));
    assert_false(apicat_check_value(&d, "2026-04-31", &err));
    assert_false(apicat_check_value(&d, "2026-13-01", &err));
    assert_false(apicat_check_value(&d, "2026-00-10", &err));
    assert_false(apicat_check_value(&d, "2026-3-15", &err));
    assert_false(apicat_check_value(&d, "2026-03-15T00", &err));
    assert_string_equal(err.msg, "since must be a date YYYY-MM-DD");
    assert_true(apicat_check_value(&b, "true", &err));
    assert_true(apicat_check_value(&b, "false", &err));
    assert_false(apicat_check_value(&b, "1", &err));
    assert_false(apicat_check_value(&b, "TRUE", &err));
    assert_true(apicat_check_value(&t, "", &err));
    assert_true(apicat_check_value(&t, "urn:xmpp:mam:2 ' \" ; --", &err));
    assert_true(
        apicat_check_value(&t, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", &err));
    assert_false(apicat_check_value(&t, "\xc3", &err));
    assert_false(apicat_check_value(&t, "\xc0\xaf", &err));     /* overlong */
    assert_false(apicat_check_value(&t, "\xed\xa0\x80", &err)); /* surrogate */
    assert_false(
        apicat_check_value(&t, "\xf4\x90\x80\x80", &err)); /* > U+10FFFF */
    assert_false(apicat_check_value(&t, "\xff", &err));
    char big[APICAT_ARG_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(apicat_check_value(&t, big, &err));
    big[APICAT_ARG_MAX] = '\0';
    assert_true(apicat_check_value(&t, big, &err));
}

static void test_bind(void **state)
{
    (void)state;
    struct parse_err err = {0};
    const struct apicat_entry *e = apicat_find("deprecation");
    const char *out[APICAT_PARAMS_MAX];
    const char *n1[] = {"new", "old"}, *v1[] = {"urn:b", "urn:a"};
    assert_true(apicat_bind(e, 2, n1, v1, out, &err));
    assert_string_equal(out[0], "urn:a"); /* $1 = old */
    assert_string_equal(out[1], "urn:b");
    assert_false(apicat_bind(e, 1, n1, v1, out, &err));
    assert_string_equal(err.msg, "missing argument old");
    const char *n2[] = {"old", "old", "new"}, *v2[] = {"a", "b", "c"};
    assert_false(apicat_bind(e, 3, n2, v2, out, &err));
    assert_string_equal(err.msg, "argument old given twice");
    const char *n3[] = {"old", "new", "limit"}, *v3[] = {"a", "b", "5"};
    assert_false(apicat_bind(e, 3, n3, v3, out, &err));
    assert_string_equal(err.msg, "unknown argument limit");

    const struct apicat_entry *h = apicat_find("hit_rates");
    const char *n4[] = {"run"}, *v4[] = {"x"};
    assert_false(apicat_bind(h, 1, n4, v4, out, &err));
    assert_string_equal(err.msg, "run must be an integer");
    assert_true(apicat_bind(h, 0, NULL, NULL, out, &err));
    assert_null(out[0]);
}

static void test_limit_offset_sql(void **state)
{
    (void)state;
    struct parse_err err = {0};
    long long v = -1;
    assert_true(apicat_parse_limit("1", &v, &err));
    assert_int_equal(v, 1);
    assert_true(apicat_parse_limit("10000", &v, &err));
    assert_int_equal(v, 10000);
    assert_false(apicat_parse_limit("0", &v, &err));
    assert_string_equal(err.msg,
                        "limit must be an integer between 1 and 10000");
    assert_false(apicat_parse_limit("10001", &v, &err));
    assert_false(apicat_parse_limit("-1", &v, &err));
    assert_false(apicat_parse_limit("", &v, &err));
    assert_false(apicat_parse_limit("5x", &v, &err));
    assert_false(apicat_parse_limit("99999999999999999999", &v, &err));
    assert_true(apicat_parse_offset("0", &v, &err));
    assert_int_equal(v, 0);
    assert_true(apicat_parse_offset("1000000000", &v, &err));
    assert_false(apicat_parse_offset("1000000001", &v, &err));
    assert_false(apicat_parse_offset("-5", &v, &err));

    const struct apicat_entry *e = apicat_find("deprecation");
    char *sql = apicat_sql(e);
    char want[4096];
    snprintf(want, sizeof want,
             "SELECT * FROM (%s) q ORDER BY %s LIMIT $3 OFFSET $4", e->sql,
             e->order_by);
    assert_string_equal(sql, want);
    free(sql);
    assert_string_equal(apicat_type_name(APICAT_INT), "integer");
    assert_string_equal(apicat_type_name(APICAT_DATE), "date");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries_well_formed),
        cmocka_unit_test(test_planned_entries),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_bind),
        cmocka_unit_test(test_limit_offset_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
