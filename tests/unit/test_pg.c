/*
 * Unit tests for the database side that need no server: COPY text
 * escaping and conninfo resolution (lib/pg), capsdb JSON line parsing
 * (lib/capsdb), migration checksums and the embedded migration list
 * (lib/migrate, sql_embedded). Server behaviour is tested in
 * tests/integration/pg_tests.sh.
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
#include "caps.h"
#include "capsdb.h"
#include "migrate.h"
#include "pg.h"
#include "sql_embedded.h"

static void test_copy_escape(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"plain", 5, "plain"},
        {"", 0, ""},
        {"a\tb", 3, "a\\tb"},
        {"line1\nline2\r", 12, "line1\\nline2\\r"},
        {"back\\slash", 10, "back\\\\slash"},
        {"\\.", 2, "\\\\."}, /* the end-of-data marker cannot appear */
        {"\\N", 2, "\\\\N"}, /* nor the NULL marker */
        {"caf\xc3\xa9", 5, "caf\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b = BUF_INIT;
        pg_copy_escape(&b, cases[i].in, cases[i].len);
        assert_string_equal(buf_str(&b), cases[i].out);
        buf_free(&b);
    }
    struct buf b = BUF_INIT;
    pg_copy_str(&b, NULL);
    buf_putc(&b, '|');
    pg_copy_str(&b, "x\ty");
    assert_string_equal(buf_str(&b), "\\N|x\\ty");
    buf_free(&b);
}

static void test_conninfo_resolve(void **state)
{
    unsetenv("XCENSUS_DATABASE");
    assert_string_equal(pg_conninfo_resolve(NULL, NULL), "");
    assert_string_equal(pg_conninfo_resolve(NULL, "dbname=cfg"), "dbname=cfg");
    assert_string_equal(pg_conninfo_resolve("dbname=flag", "dbname=cfg"),
                        "dbname=flag");
    setenv("XCENSUS_DATABASE", "dbname=env", 1);
    assert_string_equal(pg_conninfo_resolve(NULL, "dbname=cfg"), "dbname=env");
    assert_string_equal(pg_conninfo_resolve("dbname=flag", NULL),
                        "dbname=flag");
    assert_string_equal(pg_conninfo_resolve("", NULL), "dbname=env");
    setenv("XCENSUS_DATABASE", "", 1);
    assert_string_equal(pg_conninfo_resolve(NULL, "dbname=cfg"), "dbname=cfg");
    unsetenv("XCENSUS_DATABASE");
}

#define Q "<query xmlns='http://jabber.org/protocol/disco#info'/>"

static void test_capsdb_parse_good(void **state)
{
    static const char line[] = "{\"node\": \"http://psi-im.org\", \"ver\": "
                               "\"q07IKJEyjvHSyhy//CH0CxmKi8w=\", "
                               "\"hash\": \"sha-1\", \"disco_info_xml\": \"" Q
                               "\", \"source\": \"test\", "
                               "\"well_formed\": false}";
    struct capsdb_entry e;
    struct parse_err err;
    assert_true(capsdb_parse_line(line, strlen(line), &e, &err));
    assert_string_equal(e.node, "http://psi-im.org");
    assert_string_equal(e.ver, "q07IKJEyjvHSyhy//CH0CxmKi8w=");
    assert_string_equal(e.hash, "sha-1");
    assert_string_equal(e.xml, Q);
    assert_int_equal(e.xml_len, strlen(Q));
    assert_string_equal(e.origin, "test");
    assert_int_equal(e.well_formed, 0);
    capsdb_entry_free(&e);
    assert_null(e.node);

    /* optional fields absent; the line need not be NUL-terminated */
    static const char line2[] = "{\"node\":\"n\",\"ver\":\"\",\"hash\":\"\","
                                "\"disco_info_xml\":\"<x/>\"}TRAILING";
    assert_true(capsdb_parse_line(line2, strlen(line2) - 8, &e, &err));
    assert_null(e.origin);
    assert_int_equal(e.well_formed, -1);
    assert_string_equal(e.hash, "");
    capsdb_entry_free(&e);
}

static void test_capsdb_parse_bad(void **state)
{
    static const struct {
        const char *line;
        int code;
        const char *msg; /* substring of the message */
    } cases[] = {
        {"", CAPSDB_ERR_JSON, "bad JSON"},
        {"{\"node\": ", CAPSDB_ERR_JSON, "bad JSON"},
        {"[1, 2]", CAPSDB_ERR_JSON, "not an object"},
        {"\"string\"", CAPSDB_ERR_JSON, "bad JSON"},
        {"{\"node\":\"n\",\"node\":\"m\",\"ver\":\"v\",\"hash\":\"sha-1\","
         "\"disco_info_xml\":\"x\"}",
         CAPSDB_ERR_JSON, "duplicate"},
        {"{\"ver\":\"v\",\"hash\":\"sha-1\",\"disco_info_xml\":\"x\"}",
         CAPSDB_ERR_FIELD, "missing field \"node\""},
        {"{\"node\":\"n\",\"hash\":\"sha-1\",\"disco_info_xml\":\"x\"}",
         CAPSDB_ERR_FIELD, "missing field \"ver\""},
        {"{\"node\":\"n\",\"ver\":\"v\",\"disco_info_xml\":\"x\"}",
         CAPSDB_ERR_FIELD, "missing field \"hash\""},
        {"{\"node\":\"n\",\"ver\":\"v\",\"hash\":\"sha-1\"}", CAPSDB_ERR_FIELD,
         "missing field \"disco_info_xml\""},
        {"{\"node\":\"n\",\"ver\":1,\"hash\":\"sha-1\",\"disco_info_xml\":"
         "\"x\"}",
         CAPSDB_ERR_FIELD, "\"ver\" is not a string"},
        {"{\"node\":\"\",\"ver\":\"v\",\"hash\":\"sha-1\",\"disco_info_xml\":"
         "\"x\"}",
         CAPSDB_ERR_FIELD, "\"node\" is empty"},
        {"{\"node\":\"n\",\"ver\":\"v\",\"hash\":\"sha-1\",\"disco_info_xml\":"
         "\"a\\u0000b\"}",
         CAPSDB_ERR_JSON, "bad JSON"},
        {"{\"node\":\"n\",\"ver\":\"v\",\"hash\":\"sha-1-but-a-very-long-"
         "algorithm-name\","
         "\"disco_info_xml\":\"x\"}",
         CAPSDB_ERR_FIELD, "longer than"},
        {"{\"node\":\"n\",\"ver\":\"v\",\"hash\":\"sha-1\",\"disco_info_xml\":"
         "\"x\","
         "\"well_formed\":\"yes\"}",
         CAPSDB_ERR_FIELD, "not a boolean"},
        {"{\"node\":\"\xff\",\"ver\":\"v\",\"hash\":\"sha-1\",\"disco_info_"
         "xml\":\"x\"}",
         CAPSDB_ERR_JSON, "bad JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct capsdb_entry e;
        struct parse_err err;
        bool ok =
            capsdb_parse_line(cases[i].line, strlen(cases[i].line), &e, &err);
        if (ok || err.code != cases[i].code || !strstr(err.msg, cases[i].msg))
            fail_msg("case %zu (%s): ok=%d code=%d msg=\"%s\"", i,
                     cases[i].line, ok, err.code, err.msg);
        assert_null(e.node);
    }
}

static void test_capsdb_default_source(void **state)
{
    static const char *const cases[][2] = {
        {"tests/data/capsdb/capsdb.jsonl", "capsdb"},
        {"capsdb-2015.jsonl", "capsdb-2015"},
        {"/x/y/noext", "noext"},
        {"a.b.c", "a"},
        {".hidden", ".hidden"},
        {"dir/", "import"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = capsdb_default_source(cases[i][0]);
        assert_string_equal(s, cases[i][1]);
        free(s);
    }
}

static void test_migrate_checksum(void **state)
{
    char sum[65];
    migrate_checksum("", sum);
    assert_string_equal(
        sum,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    migrate_checksum("abc", sum);
    assert_string_equal(
        sum,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_embedded_migrations(void **state)
{
    assert_true(sql_migrations_count >= 1);
    for (size_t i = 0; i < sql_migrations_count; i++) {
        const struct sql_migration *m = &sql_migrations[i];
        assert_true(m->version >= 1);
        if (i > 0)
            assert_true(m->version > sql_migrations[i - 1].version);
        assert_non_null(strstr(m->name, ".sql"));
        assert_int_equal(atoi(m->name), m->version);
        /* the runner adds the transaction; a migration must not end it */
        assert_null(strstr(m->sql, "COMMIT;"));
        assert_null(strstr(m->sql, "\nBEGIN;"));
    }
    assert_int_equal(sql_migrations[0].version, 1);
    assert_non_null(strstr(sql_migrations[0].sql, "CREATE TABLE caps_entries"));
    assert_string_equal(migrate_state_name(MIGRATE_NEWER), "newer");
}

/* The CHECK constraints of caps_entries spell the protocol core's names. */
static void test_sql_mirrors_caps_names(void **state)
{
    const char *sql = sql_migrations[0].sql;
    for (int o = 0; o < CAPS_OUTCOME__COUNT; o++) {
        char q[64];
        snprintf(q, sizeof q, "'%s'", caps_outcome_name((enum caps_outcome)o));
        if (!strstr(sql, q))
            fail_msg("outcome %s missing from the schema", q);
    }
    for (int e = CAPS_ERR_NONE + 1; e < CAPS_ERR__COUNT; e++) {
        char q[64];
        snprintf(q, sizeof q, "'%s'", caps_error_name((enum caps_error)e));
        if (!strstr(sql, q))
            fail_msg("error %s missing from the schema", q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_escape),
        cmocka_unit_test(test_conninfo_resolve),
        cmocka_unit_test(test_capsdb_parse_good),
        cmocka_unit_test(test_capsdb_parse_bad),
        cmocka_unit_test(test_capsdb_default_source),
        cmocka_unit_test(test_migrate_checksum),
        cmocka_unit_test(test_embedded_migrations),
        cmocka_unit_test(test_sql_mirrors_caps_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
