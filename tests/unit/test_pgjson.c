/*
 * Unit tests for lib/pgjson on results built in memory with libpq's
 * PQmakeEmptyPGresult/PQsetResultAttrs/PQsetvalue (no server): type names
 * by OID, value conversion (integers, numbers, non-finite numbers, booleans,
 * ISO 8601 timestamps, embedded JSON, arrays with quoting, NULL and nesting,
 * malformed arrays kept as text), rows and columns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "pgjson.h"

struct col {
    const char *name;
    Oid type;
};

/* One-row result with the given columns and values (NULL: SQL NULL). */
static PGresult *make(const struct col *cols, int n, const char *const *vals)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc att[16];
    assert_true(n <= 16);
    memset(att, 0, sizeof att);
    for (int i = 0; i < n; i++) {
        att[i].name = (char *)cols[i].name;
        att[i].typid = cols[i].type;
        att[i].typlen = -1;
        att[i].atttypmod = -1;
    }
    assert_int_equal(PQsetResultAttrs(r, n, att), 1);
    for (int i = 0; i < n; i++)
        assert_int_equal(PQsetvalue(r, 0, i, (char *)vals[i],
                                    vals[i] ? (int)strlen(vals[i]) : -1),
                         1);
    return r;
}

/* compact JSON text of (row 0, col) */
static char *value_text(PGresult *r, int col)
{
    json_t *j = pgjson_value(r, 0, col);
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    return s;
}

static void expect(PGresult *r, int col, const char *type, const char *json)
{
    assert_string_equal(pgjson_type_name(pgjson_col_type(r, col)), type);
    char *s = value_text(r, col);
    assert_string_equal(s, json);
    free(s);
}

static void test_scalars(void **state)
{
    (void)state;
    static const struct col cols[] = {
        {"i8", 20},     {"i4", 23},   {"num", 1700}, {"f8", 701},
        {"nan", 701},   {"b", 16},    {"bf", 16},    {"t", 25},
        {"tstz", 1184}, {"d", 1082},  {"ts", 1114},  {"j", 3802},
        {"null", 23},   {"huge", 20}, {"inf", 1700}, {"iv", 1186},
    };
    static const char *const vals[] = {
        "9007199254740993",
        "-7",
        "20.5",
        "0.25",
        "NaN",
        "t",
        "f",
        "caf\xc3\xa9 \"q\"",
        "2026-03-15 10:00:00.5+00",
        "2026-03-15",
        "2026-03-15 10:00:00",
        "{\"a\": [1, 2.5, null], \"b\": \"x\"}",
        NULL,
        "99999999999999999999",
        "Infinity",
        "7 days",
    };
    PGresult *r = make(cols, 16, vals);
    expect(r, 0, "integer", "9007199254740993");
    expect(r, 1, "integer", "-7");
    expect(r, 2, "number", "20.5");
    expect(r, 3, "number", "0.25");
    expect(r, 4, "number", "null");
    expect(r, 5, "boolean", "true");
    expect(r, 6, "boolean", "false");
    expect(r, 7, "text", "\"caf\xc3\xa9 \\\"q\\\"\"");
    expect(r, 8, "timestamp", "\"2026-03-15T10:00:00.5+00:00\"");
    expect(r, 9, "timestamp", "\"2026-03-15\"");
    expect(r, 10, "timestamp", "\"2026-03-15T10:00:00\"");
    expect(r, 11, "json", "{\"a\":[1,2.5,null],\"b\":\"x\"}");
    expect(r, 12, "integer", "null");
    expect(r, 13, "integer", "\"99999999999999999999\"");
    expect(r, 14, "number", "null");
    expect(r, 15, "text", "\"7 days\"");
    PQclear(r);
}

static void test_arrays(void **state)
{
    (void)state;
    static const struct col cols[] = {
        {"texts", 1009}, {"ints", 1016},  {"nested", 1007}, {"empty", 1009},
        {"bad", 1009},   {"bools", 1000}, {"bounds", 1007}, {"ts", 1185},
    };
    static const char *const vals[] = {
        "{plain,\"with space\",\"q\\\"uote\",NULL,\"NULL\",\"a,b\"}",
        "{1,-2,NULL}",
        "{{1,2},{3,4}}",
        "{}",
        "{unterminated,\"x",
        "{t,f}",
        "[0:1]={5,6}",
        "{\"2026-03-15 10:00:00+00\"}",
    };
    PGresult *r = make(cols, 8, vals);
    expect(r, 0, "array",
           "[\"plain\",\"with space\",\"q\\\"uote\",null,\"NULL\",\"a,b\"]");
    expect(r, 1, "array", "[1,-2,null]");
    expect(r, 2, "array", "[[1,2],[3,4]]");
    expect(r, 3, "array", "[]");
    expect(r, 4, "array", "\"{unterminated,\\\"x\"");
    expect(r, 5, "array", "[true,false]");
    expect(r, 6, "array", "[5,6]");
    expect(r, 7, "array", "[\"2026-03-15T10:00:00+00:00\"]");
    PQclear(r);

    /* nesting deeper than the bound stays text */
    static const struct col deep[] = {{"deep", 1007}};
    static const char *const dv[] = {"{{{{{{{{{1}}}}}}}}}"};
    r = make(deep, 1, dv);
    expect(r, 0, "array", "\"{{{{{{{{{1}}}}}}}}}\"");
    PQclear(r);
}

static void test_rows_and_columns(void **state)
{
    (void)state;
    static const struct col cols[] = {{"software", 25}, {"servers", 20}};
    static const char *const vals[] = {"Prosody", "12"};
    PGresult *r = make(cols, 2, vals);
    assert_int_equal(PQsetvalue(r, 1, 0, "ejabberd", 8), 1);
    assert_int_equal(PQsetvalue(r, 1, 1, "3", 1), 1);
    json_t *c = pgjson_columns(r);
    char *s = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "[{\"name\":\"software\",\"type\":\"text\"},"
                           "{\"name\":\"servers\",\"type\":\"integer\"}]");
    free(s);
    json_decref(c);
    json_t *rows = pgjson_rows(r, -1);
    s = json_dumps(rows, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "[{\"software\":\"Prosody\",\"servers\":12},"
                           "{\"software\":\"ejabberd\",\"servers\":3}]");
    free(s);
    json_decref(rows);
    rows = pgjson_rows(r, 1);
    assert_int_equal(json_array_size(rows), 1);
    json_decref(rows);
    PQclear(r);
}

static void test_iso8601(void **state)
{
    (void)state;
    char out[64];
    pgjson_iso8601("2026-03-15 10:00:00+05:30", out, sizeof out);
    assert_string_equal(out, "2026-03-15T10:00:00+05:30");
    pgjson_iso8601("2026-03-15 10:00:00-07", out, sizeof out);
    assert_string_equal(out, "2026-03-15T10:00:00-07:00");
    pgjson_iso8601("10:00:00+02", out, sizeof out);
    assert_string_equal(out, "10:00:00+02:00");
    pgjson_iso8601("2026-03-15", out, sizeof out);
    assert_string_equal(out, "2026-03-15");
    pgjson_iso8601("infinity", out, sizeof out);
    assert_string_equal(out, "infinity");
    char small[8];
    pgjson_iso8601("2026-03-15 10:00:00+00", small, sizeof small);
    assert_string_equal(small, "2026-03");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_rows_and_columns),
        cmocka_unit_test(test_iso8601),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
