/*
 * The pure parts of crawler/queue: error class names, the backoff table
 * and its doubling and cap, domain name normalisation (what `xcensus seed`
 * accepts and rejects), deny file lines. The statements themselves are
 * tested against PostgreSQL in tests/integration/test_queue.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "xc_config.h"

static void test_class_names(void **state)
{
    (void)state;
    for (int i = 0; i < QUEUE_CLASS__COUNT; i++) {
        const char *n = queue_class_name((enum queue_class)i);
        assert_non_null(n);
        assert_string_not_equal(n, "?");
        enum queue_class back;
        assert_true(queue_class_parse(n, &back));
        assert_int_equal(back, i);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(n, queue_class_name((enum queue_class)k));
    }
    enum queue_class c;
    assert_false(queue_class_parse("Timeout", &c));
    assert_false(queue_class_parse("", &c));
    assert_string_equal(queue_class_name(QUEUE_CLASS__COUNT), "?");
    assert_string_equal(queue_class_name(QUEUE_REMOTE_SERVER_NOT_FOUND),
                        "remote-server-not-found");
    assert_string_equal(queue_done_name(QUEUE_DONE_STALE), "stale");
    assert_string_equal(queue_deny_match_name(QUEUE_DENY_SUFFIX), "suffix");
}

static void test_backoff_table(void **state)
{
    (void)state;
    const struct queue_backoff *t = queue_backoff_defaults();
    /* every retried failure class has a positive base not above its cap */
    for (int i = QUEUE_TIMEOUT; i <= QUEUE_OTHER; i++) {
        assert_true(t[i].base_ms > 0);
        assert_true(t[i].base_ms <= t[i].cap_ms);
        assert_false(t[i].final);
    }
    assert_true(t[QUEUE_NOT_OPTED_IN].final);
    assert_true(t[QUEUE_DENIED].final);
    assert_int_equal(t[QUEUE_TIMEOUT].base_ms, 10 * 60 * 1000);
    assert_int_equal(t[QUEUE_REMOTE_SERVER_NOT_FOUND].base_ms,
                     24LL * 3600 * 1000);
}

static void test_backoff_delay(void **state)
{
    (void)state;
    const struct queue_backoff t[QUEUE_CLASS__COUNT] = {
        [QUEUE_TIMEOUT] = {1000, 10000, false},
        [QUEUE_OTHER] = {INT64_MAX / 3, INT64_MAX, false},
        [QUEUE_DENIED] = {5000, 5000, true},
    };
    static const struct {
        enum queue_class c;
        int attempts;
        int64_t want;
    } cases[] = {
        {QUEUE_OK, 1, 0},
        {QUEUE_TIMEOUT, 0, 1000},
        {QUEUE_TIMEOUT, 1, 1000},
        {QUEUE_TIMEOUT, 2, 2000},
        {QUEUE_TIMEOUT, 3, 4000},
        {QUEUE_TIMEOUT, 4, 8000},
        {QUEUE_TIMEOUT, 5, 10000}, /* capped */
        {QUEUE_TIMEOUT, 1000000, 10000},
        {QUEUE_OTHER, 3, INT64_MAX}, /* doubling saturates, no overflow */
        {QUEUE_OTHER, 100, INT64_MAX},
        {QUEUE_DENIED, 1, 0},     /* final: no retry */
        {QUEUE_CONNECTION, 1, 0}, /* zero row */
        {QUEUE_CLASS__COUNT, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(queue_backoff_delay(t, cases[i].c, cases[i].attempts),
                         cases[i].want);
    const struct queue_backoff *d = queue_backoff_defaults();
    assert_int_equal(queue_backoff_delay(d, QUEUE_TIMEOUT, 2), 20 * 60 * 1000);
    assert_int_equal(queue_backoff_delay(d, QUEUE_TIMEOUT, 30),
                     d[QUEUE_TIMEOUT].cap_ms);
}

static void test_backoff_config(void **state)
{
    (void)state;
    struct xc_config cfg;
    xc_config_defaults(&cfg);
    struct queue_backoff t[QUEUE_CLASS__COUNT];
    queue_backoff_from_config(&cfg.crawl.backoff, t);
    /* the example config's values are the table's defaults */
    const struct queue_backoff *d = queue_backoff_defaults();
    for (int i = 0; i < QUEUE_CLASS__COUNT; i++) {
        assert_int_equal(t[i].base_ms, d[i].base_ms);
        assert_int_equal(t[i].final, d[i].final);
        assert_true(t[i].cap_ms <= d[i].cap_ms);
    }
    cfg.crawl.backoff.timeout = 2000;
    cfg.crawl.backoff.other = 3000;
    cfg.crawl.backoff.max = 5000;
    queue_backoff_from_config(&cfg.crawl.backoff, t);
    assert_int_equal(t[QUEUE_TIMEOUT].base_ms, 2000);
    assert_int_equal(t[QUEUE_OTHER].base_ms, 3000);
    for (int i = 0; i < QUEUE_CLASS__COUNT; i++)
        assert_true(t[i].cap_ms <= 5000);
    assert_int_equal(queue_backoff_delay(t, QUEUE_TIMEOUT, 1), 2000);
    assert_int_equal(queue_backoff_delay(t, QUEUE_TIMEOUT, 2), 4000);
    assert_int_equal(queue_backoff_delay(t, QUEUE_TIMEOUT, 3), 5000);
    /* a base above max: max wins */
    assert_int_equal(queue_backoff_delay(t, QUEUE_POLICY_VIOLATION, 1), 5000);
    xc_config_free(&cfg);
}

static void test_detail_clean(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", ""},
        {"plain text", "plain text"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"bad \xff byte", "bad ? byte"},
        {"cut \xc3", "cut ?"},                  /* truncated sequence */
        {"over \xc0\xaf long", "over ?? long"}, /* overlong '/' */
        {"surrogate \xed\xa0\x80", "surrogate ???"},
        {"too big \xf4\x90\x80\x80", "too big ????"},
        {"lone \x80 cont", "lone ? cont"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = queue_detail_clean(cases[i].in);
        assert_string_equal(out, cases[i].want);
        free(out);
    }
    /* long input: cut at the limit, never inside a character */
    char *big = malloc(3 * QUEUE_DETAIL_MAX + 1);
    assert_non_null(big);
    for (size_t i = 0; i < QUEUE_DETAIL_MAX; i++)
        memcpy(big + 3 * i, "\xe2\x82\xac", 3);
    big[3 * QUEUE_DETAIL_MAX] = '\0';
    char *out = queue_detail_clean(big);
    assert_int_equal(strlen(out), QUEUE_DETAIL_MAX / 3 * 3);
    free(out);
    free(big);
}

static void test_normalize(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want; /* NULL: rejected */
    } cases[] = {
        {"example.org", "example.org"},
        {"Example.ORG", "example.org"},
        {"  jabber.example.org.  ", "jabber.example.org"},
        {"a", "a"},
        {"xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"a-b.c0", "a-b.c0"},
        {"0day.example", "0day.example"},
        {"", NULL},
        {"   ", NULL},
        {".", NULL},
        {"example..org", NULL},
        {".example.org", NULL},
        {"example.org..", NULL},
        {"-a.example", NULL},
        {"a-.example", NULL},
        {"user@example.org", NULL},
        {"example.org/res", NULL},
        {"exa mple.org", NULL},
        {"under_score.example", NULL},
        {"b\xc3\xbc"
         "cher.example",
         NULL},
        {"127.0.0.1", NULL},
        {"10.1", NULL},
        {"[::1]", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        struct parse_err err;
        bool ok = queue_domain_normalize(cases[i].in, out, &err);
        if (cases[i].want) {
            if (!ok)
                fail_msg("\"%s\" rejected: %s", cases[i].in, err.msg);
            assert_string_equal(out, cases[i].want);
        } else {
            if (ok)
                fail_msg("\"%s\" accepted as \"%s\"", cases[i].in, out);
            assert_int_not_equal(err.code, 0);
            assert_true(err.msg[0] != '\0');
        }
    }
    char out[256];
    struct parse_err err;
    assert_false(queue_domain_normalize("b\xc3\xbc"
                                        "cher.example",
                                        out, &err));
    assert_non_null(strstr(err.msg, "non-ASCII"));
    /* lengths: 63-byte label ok, 64 not; 253 bytes total ok, 254 not */
    char name[300];
    memset(name, 'a', 63);
    strcpy(name + 63, ".example");
    assert_true(queue_domain_normalize(name, out, &err));
    memset(name, 'a', 64);
    strcpy(name + 64, ".example");
    assert_false(queue_domain_normalize(name, out, &err));
    /* 4 labels of 63 = 255 with dots; build exactly 253: 63.63.63.61 */
    size_t p = 0;
    int sizes[] = {63, 63, 63, 61};
    for (int k = 0; k < 4; k++) {
        if (k)
            name[p++] = '.';
        memset(name + p, 'b', (size_t)sizes[k]);
        p += (size_t)sizes[k];
    }
    name[p] = '\0';
    assert_int_equal(strlen(name), 253);
    assert_true(queue_domain_normalize(name, out, &err));
    name[p] = 'b';
    name[p + 1] = '\0';
    assert_false(queue_domain_normalize(name, out, &err));
    /* the trailing dot does not count */
    name[p] = '.';
    assert_true(queue_domain_normalize(name, out, &err));
}

static void test_deny_lines(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int result; /* 1 pattern, 0 nothing (comment/blank), -1 error */
        const char *pattern;
        enum queue_deny_match match;
        const char *reason;
    } cases[] = {
        {"example.org\n", 1, "example.org", QUEUE_DENY_DOMAIN, ""},
        {"  Example.org.  asked us to stop\n", 1, "example.org",
         QUEUE_DENY_DOMAIN, "asked us to stop"},
        {"*.gov.example # government\n", 1, "gov.example", QUEUE_DENY_SUFFIX,
         "government"},
        {".mil.example\r\n", 1, "mil.example", QUEUE_DENY_SUFFIX, ""},
        {"# a comment\n", 0, NULL, 0, NULL},
        {"\n", 0, NULL, 0, NULL},
        {"   \t \n", 0, NULL, 0, NULL},
        {"bad_name.example\n", -1, NULL, 0, NULL},
        {"*.\n", -1, NULL, 0, NULL},
        {"**.example\n", -1, NULL, 0, NULL},
        {"1.2.3.4\n", -1, NULL, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char pattern[256], reason[200];
        enum queue_deny_match m = QUEUE_DENY__COUNT;
        struct parse_err err;
        bool ok =
            queue_deny_parse_line(cases[i].line, pattern, &m, reason, &err);
        if (cases[i].result == 1) {
            if (!ok)
                fail_msg("line %zu rejected: %s", i, err.msg);
            assert_string_equal(pattern, cases[i].pattern);
            assert_int_equal(m, cases[i].match);
            assert_string_equal(reason, cases[i].reason);
        } else {
            assert_false(ok);
            if (cases[i].result == 0)
                assert_int_equal(err.code, 0);
            else
                assert_int_not_equal(err.code, 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_names),
        cmocka_unit_test(test_backoff_table),
        cmocka_unit_test(test_backoff_delay),
        cmocka_unit_test(test_backoff_config),
        cmocka_unit_test(test_detail_clean),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_deny_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
