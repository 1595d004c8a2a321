/*
 * Unit tests for lib/cfg (the generic loader, on a small test table) and
 * lib/xc_config (the xcensus table): every type's good and bad values,
 * every error kind with its exact FILE:LINE:COL, secrets, input bounds,
 * the bad files of tests/data/config/bad (each says what it expects in
 * its first line), the example configurations and the generated key
 * reference in docs/CONFIGURATION.md, which must match the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "buf.h"
#include "cfg.h"
#include "xalloc.h"
#include "xc_config.h"

/* `xcensus config` itself, compiled in to be driven with argv below */
#include "../../cli/cmd_config.c"

/* ------------------------------------------------------------------ */
/* A test table with one key of every type                             */

struct t_item {
    char *name;
    int64_t weight;
    struct cfg_secret token;
};

struct t_cfg {
    int64_t n;
    bool flag;
    char *name;
    int color;
    int64_t wait;
    int64_t mem;
    struct cfg_strlist tags;
    struct cfg_intlist nums;
    struct cfg_list items;
    struct cfg_secret password;
    int64_t deep;
};

/* One row per key reads better than clang-format's layout. */
/* clang-format off */
static const struct cfg_option item_opts[] = {
    {.key = "name", .type = CFG_STRING, .off = offsetof(struct t_item, name),
     .min = 1, .max = 16, .required = true, .help = "name"},
    {.key = "weight", .type = CFG_INT, .off = offsetof(struct t_item, weight),
     .min = 0, .max = 10, .def = "3", .help = "weight"},
    {.key = "token_env", .type = CFG_SECRET_ENV,
     .off = offsetof(struct t_item, token), .help = "token"},
    {.key = "token_file", .type = CFG_SECRET_FILE,
     .off = offsetof(struct t_item, token), .help = "token"},
};
/* clang-format on */
/* Rule within an item: a heavy item needs a token. */
static void check_item(const void *base, cfg_report_cb report, void *rctx)
{
    const struct t_item *it = base;
    if (it->weight > 5 && it->token.env == NULL && it->token.file == NULL)
        report(rctx, "weight", "above 5 needs a token");
}

static const struct cfg_table item_table = {.opts = item_opts,
                                            .n = ARRAY_LEN(item_opts),
                                            .size = sizeof(struct t_item),
                                            .check = check_item};

static const char *const colors[] = {"red", "green", "blue", NULL};

#define T(f) offsetof(struct t_cfg, f)
/* One row per key reads better than clang-format's layout. */
/* clang-format off */
static const struct cfg_option t_opts[] = {
    {.key = "s.n", .type = CFG_INT, .off = T(n), .min = 1, .max = 100,
     .def = "10", .help = "n"},
    {.key = "s.flag", .type = CFG_BOOL, .off = T(flag), .def = "false",
     .help = "flag"},
    {.key = "s.name", .type = CFG_STRING, .off = T(name), .min = 1, .max = 8,
     .def = "abc", .help = "name"},
    {.key = "s.color", .type = CFG_ENUM, .off = T(color), .words = colors,
     .def = "green", .help = "color"},
    {.key = "s.wait", .type = CFG_DURATION, .off = T(wait), .min = 100,
     .max = 86400000, .def = "30s", .help = "wait"},
    {.key = "s.mem", .type = CFG_SIZE, .off = T(mem), .min = 1024,
     .max = 1024 * 1024 * 1024, .def = "64KiB", .help = "mem"},
    {.key = "s.tags", .type = CFG_STRLIST, .off = T(tags), .min = 1, .max = 5,
     .maxcount = 3, .help = "tags"},
    {.key = "s.nums", .type = CFG_INTLIST, .off = T(nums), .min = 0, .max = 9,
     .maxcount = 3, .def = "[1, 2]", .help = "nums"},
    {.key = "items", .type = CFG_LIST, .off = T(items), .sub = &item_table,
     .maxcount = 2, .help = "items"},
    {.key = "db.password_env", .type = CFG_SECRET_ENV, .off = T(password),
     .help = "password"},
    {.key = "db.password_file", .type = CFG_SECRET_FILE, .off = T(password),
     .help = "password"},
    {.key = "a.b.c.deep", .type = CFG_INT, .off = T(deep), .min = -100,
     .max = 100, .def = "0",
     .help = "deep"},
};
/* clang-format on */
/* Rule between keys: a flagged configuration waits at most n seconds. */
static void check_t(const void *base, cfg_report_cb report, void *rctx)
{
    const struct t_cfg *c = base;
    if (c->flag && c->wait > c->n * 1000)
        report(rctx, "s.wait",
               "must be at most s.n seconds when s.flag is "
               "true");
}

static const struct cfg_table t_table = {.opts = t_opts,
                                         .n = ARRAY_LEN(t_opts),
                                         .size = sizeof(struct t_cfg),
                                         .check = check_t};

static bool load_t(const char *yaml, struct t_cfg *c, struct cfg_errors *e)
{
    return cfg_load_buffer(&t_table, c, "t.yaml", yaml, strlen(yaml), 0, e);
}

/* want: what follows "t.yaml:" in the first error, as a prefix. */
static void expect_error(const char *yaml, const char *want)
{
    struct t_cfg c;
    struct cfg_errors e = {0};
    bool ok = load_t(yaml, &c, &e);
    if (ok) {
        cfg_free(&t_table, &c);
        fail_msg("loaded without error, expected %s\n--- input:\n%s", want,
                 yaml);
    }
    assert_true(e.n >= 1);
    char *full = xasprintf("t.yaml:%s", want);
    if (strncmp(e.e[0].text, full, strlen(full)) != 0)
        fail_msg("got  %s\nwant %s...\n--- input:\n%s", e.e[0].text, full,
                 yaml);
    /* a failed load leaves nothing to free */
    const char zero[sizeof(struct t_cfg)] = {0};
    assert_memory_equal(&c, zero, sizeof(c));
    free(full);
    cfg_errors_free(&e);
}

static void load_ok(const char *yaml, struct t_cfg *c)
{
    struct cfg_errors e = {0};
    if (!load_t(yaml, c, &e)) {
        fail_msg("unexpected error: %s\n--- input:\n%s", e.e[0].text, yaml);
    }
    assert_int_equal(e.n, 0);
}

/* ------------------------------------------------------------------ */

static void test_defaults(void **state)
{
    struct t_cfg c;
    struct cfg_errors e = {0};
    assert_true(cfg_defaults(&t_table, &c, &e));
    assert_int_equal(c.n, 10);
    assert_false(c.flag);
    assert_string_equal(c.name, "abc");
    assert_int_equal(c.color, 1);
    assert_int_equal(c.wait, 30000);
    assert_int_equal(c.mem, 65536);
    assert_int_equal(c.tags.n, 0);
    assert_int_equal(c.nums.n, 2);
    assert_int_equal(c.nums.v[1], 2);
    assert_int_equal(c.items.n, 0);
    cfg_free(&t_table, &c);

    /* empty file, comments only, explicit empty document: defaults */
    const char *empties[] = {"", "# nothing\n", "---\n", "---\n...\n", "~\n"};
    for (size_t i = 0; i < ARRAY_LEN(empties); i++) {
        load_ok(empties[i], &c);
        assert_int_equal(c.n, 10);
        assert_string_equal(c.name, "abc");
        cfg_free(&t_table, &c);
    }
    /* an empty section is allowed */
    load_ok("s:\ndb:\n", &c);
    assert_int_equal(c.wait, 30000);
    cfg_free(&t_table, &c);
}

static void test_bad_default_is_caught(void **state)
{
    static const struct cfg_option bad[] = {
        {.key = "x.status",
         .type = CFG_STRING,
         .off = 0,
         .def = "text: with a colon",
         .help = "x"},
    };
    static const struct cfg_table bt = {
        .opts = bad, .n = 1, .size = sizeof(char *)};
    char *s;
    struct cfg_errors e = {0};
    assert_false(cfg_defaults(&bt, &s, &e));
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].text, "(default):1:1: key \"x.status\": "
                                     "expected a string, got a mapping");
    assert_null(s);
    cfg_errors_free(&e);
}

struct good_case {
    const char *yaml;
    int64_t n, wait, mem; /* expected values of s.n, s.wait, s.mem */
};

static void test_good_scalars(void **state)
{
    static const struct good_case cases[] = {
        {"s:\n  n: 42\n", 42, 30000, 65536},
        {"s:\n  n: +7\n", 7, 30000, 65536},
        {"s: {n: 100, wait: 250ms}\n", 100, 250, 65536},
        {"s:\n  wait: 30\n", 10, 30000, 65536},
        {"s:\n  wait: 5m\n", 10, 300000, 65536},
        {"s:\n  wait: \"1h\"\n", 10, 3600000, 65536},
        {"s:\n  wait: 1d\n", 10, 86400000, 65536},
        {"s:\n  wait: 2 s\n", 10, 2000, 65536},
        {"s:\n  mem: 1k\n", 10, 30000, 1024},
        {"s:\n  mem: 16M\n", 10, 30000, 16777216},
        {"s:\n  mem: 1GiB\n", 10, 30000, 1073741824},
        {"s:\n  mem: 4096\n", 10, 30000, 4096},
        {"s:\n  mem: 3KiB\n", 10, 30000, 3072},
        {"s:\n  mem: 2048B\n", 10, 30000, 2048},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct t_cfg c;
        load_ok(cases[i].yaml, &c);
        assert_int_equal(c.n, cases[i].n);
        assert_int_equal(c.wait, cases[i].wait);
        assert_int_equal(c.mem, cases[i].mem);
        cfg_free(&t_table, &c);
    }
}

static void test_good_other_types(void **state)
{
    struct t_cfg c;
    load_ok("s:\n"
            "  n: 50\n"
            "  flag: true\n"
            "  name: 'x y'\n"
            "  color: blue\n"
            "  tags: [a, 'b c', \"d\"]\n"
            "  nums:\n"
            "    - 0\n"
            "    - 9\n"
            "    - 5\n"
            "items:\n"
            "  - name: first\n"
            "  - name: second\n"
            "    weight: 5\n"
            "a:\n"
            "  b:\n"
            "    c:\n"
            "      deep: -5\n",
            &c);
    assert_true(c.flag);
    assert_string_equal(c.name, "x y");
    assert_int_equal(c.color, 2);
    assert_int_equal(c.tags.n, 3);
    assert_string_equal(c.tags.v[1], "b c");
    assert_int_equal(c.nums.n, 3);
    assert_int_equal(c.nums.v[2], 5);
    assert_int_equal(c.items.n, 2);
    const struct t_item *it = c.items.items;
    assert_string_equal(it[0].name, "first");
    assert_int_equal(it[0].weight, 3); /* item default */
    assert_string_equal(it[1].name, "second");
    assert_int_equal(it[1].weight, 5);
    assert_int_equal(c.deep, -5);
    cfg_free(&t_table, &c);

    /* the other spellings of booleans; empty lists replace defaults */
    load_ok("s:\n  flag: FALSE\n  nums: []\n  tags:\nitems: []\n", &c);
    assert_false(c.flag);
    assert_int_equal(c.nums.n, 0);
    cfg_free(&t_table, &c);
    load_ok("s:\n  flag: True\n  wait: 10s\n", &c);
    assert_true(c.flag);
    cfg_free(&t_table, &c);
}

struct bad_case {
    const char *yaml;
    const char *want; /* prefix of the first error after "t.yaml:" */
};

static void test_bad_values(void **state)
{
    static const struct bad_case cases[] = {
        /* int */
        {"s:\n  n: 0\n", "2:6: key \"s.n\": value 0 is out of range (1..100)"},
        {"s:\n  n: 101\n", "2:6: key \"s.n\": value 101 is out of range"},
        {"s:\n  n: abc\n",
         "2:6: key \"s.n\": expected an integer, got \"abc\""},
        {"s:\n  n: \"5\"\n",
         "2:6: key \"s.n\": expected an integer, got a quoted string"},
        {"s:\n  n: 1.5\n", "2:6: key \"s.n\": expected an integer"},
        {"s:\n  n: 99999999999999999999\n",
         "2:6: key \"s.n\": expected an integer"},
        {"s:\n  n:\n", "2:5: key \"s.n\": expected an integer, got nothing"},
        {"s:\n  n: [1]\n", "2:6: key \"s.n\": expected an integer, got a list"},
        {"a: {b: {c: {deep: 9223372036854775808}}}\n",
         "1:19: key \"a.b.c.deep\": expected an integer"},
        /* bool */
        {"s:\n  flag: yes\n",
         "2:9: key \"s.flag\": expected true or false, got \"yes\""},
        {"s:\n  flag: 1\n", "2:9: key \"s.flag\": expected true or false"},
        {"s:\n  flag: \"true\"\n",
         "2:9: key \"s.flag\": expected true or false, got a quoted string"},
        /* string */
        {"s:\n  name: ''\n", "2:9: key \"s.name\": value must not be empty"},
        {"s:\n  name:\n", "2:8: key \"s.name\": value must not be empty"},
        {"s:\n  name: ninechars\n",
         "2:9: key \"s.name\": value is too long (9 bytes, at most 8)"},
        {"s:\n  name: \"a\\0b\"\n",
         "2:9: key \"s.name\": value must not contain NUL bytes"},
        {"s:\n  name: {x: 1}\n",
         "2:9: key \"s.name\": expected a string, got a mapping"},
        /* enum */
        {"s:\n  color: pink\n",
         "2:10: key \"s.color\": unrecognized value \"pink\" (expected one "
         "of: red, green, blue)"},
        /* duration */
        {"s:\n  wait: 5x\n", "2:9: key \"s.wait\": expected a duration"},
        {"s:\n  wait: 1.5s\n", "2:9: key \"s.wait\": expected a duration"},
        {"s:\n  wait: -1s\n", "2:9: key \"s.wait\": expected a duration"},
        {"s:\n  wait: 50ms\n",
         "2:9: key \"s.wait\": value 50ms is out of range (100ms..1d)"},
        {"s:\n  wait: 2d\n", "2:9: key \"s.wait\": value 2d is out of range"},
        {"s:\n  wait: 9999999999999999999d\n",
         "2:9: key \"s.wait\": expected a duration"},
        /* size */
        {"s:\n  mem: 5MB\n", "2:8: key \"s.mem\": expected a size"},
        {"s:\n  mem: 2GiB\n",
         "2:8: key \"s.mem\": value 2GiB is out of range (1KiB..1GiB)"},
        {"s:\n  mem: 100\n", "2:8: key \"s.mem\": value 100B is out of range"},
        /* lists */
        {"s:\n  tags: a\n",
         "2:9: key \"s.tags\": expected a list, got a plain"},
        {"s:\n  tags: [a, b, c, d]\n",
         "2:9: key \"s.tags\": too many items (4, at most 3)"},
        {"s:\n  tags: [a, [b]]\n",
         "2:13: key \"s.tags\": expected a string, got a list"},
        {"s:\n  tags: [a, toolong]\n",
         "2:13: key \"s.tags\": value is too long"},
        {"s:\n  nums: [1, 10]\n",
         "2:13: key \"s.nums\": value 10 is out of range (0..9)"},
        {"items: {name: x}\n",
         "1:8: key \"items\": expected a list, got a mapping"},
        {"items: [a]\n", "1:9: key \"items[0]\": expected a mapping, got a"},
        {"items:\n  - name: a\n  - name: b\n  - name: c\n",
         "2:3: key \"items\": too many items (3, at most 2)"},
        {"items:\n  - name: a\n  - weight: 1\n",
         "3:5: key \"items[1].name\": required key is missing"},
        {"items:\n  - name: a\n    colour: red\n",
         "3:5: key \"items[0].colour\": unrecognized key"},
        /* rules between keys, placed where the file set the key */
        {"s:\n  flag: true\n  wait: 1m\n",
         "3:9: key \"s.wait\": must be at most s.n seconds when s.flag is "
         "true"},
        {"s:\n  flag: true\n", " key \"s.wait\": must be at most"},
        {"items:\n  - name: a\n  - name: b\n    weight: 6\n",
         "4:13: key \"items[1].weight\": above 5 needs a token"},
        {"items:\n  - name: a\n    weight: 11\n",
         "3:13: key \"items[0].weight\": value 11 is out of range (0..10)"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        expect_error(cases[i].yaml, cases[i].want);
}

static void test_structure_errors(void **state)
{
    static const struct bad_case cases[] = {
        {"s:\n  bogus: 1\n", "2:3: key \"s.bogus\": unrecognized key"},
        {"s:\n  wiat: 1s\n",
         "2:3: key \"s.wiat\": unrecognized key; did you mean \"wait\"?"},
        {"sx:\n  n: 1\n",
         "1:1: key \"sx\": unrecognized key; did you mean \"s\"?"},
        {"s.n: 5\n", "1:1: key \"s.n\": unrecognized key (write nested "
                     "mappings, not dotted keys)"},
        {"s:\n  n: 5\n  n: 6\n",
         "3:3: key \"s.n\": duplicate key (already given above)"},
        {"s:\n  n: 5\ns:\n  n: 6\n",
         "3:1: key \"s\": duplicate key (already given above)"},
        {"s: 5\n", "1:4: key \"s\": expected a mapping (section), got a plain"},
        {"s: [1]\n",
         "1:4: key \"s\": expected a mapping (section), got a list"},
        {"- a\n- b\n",
         "1:1: the top level must be a mapping of sections, got a list"},
        {"hello\n",
         "1:1: the top level must be a mapping of sections, got a plain"},
        {"? [a]\n: 1\n", "1:3: mapping keys must be words, got a list"},
        {"db:\n  password: hunter2\n",
         "2:3: key \"db.password\": secrets are not read from the "
         "configuration file; use password_env (an environment variable) "
         "or password_file (a file)"},
        /* YAML syntax and features we refuse */
        {"s:\n  n: [1, 2\n", "3:1: invalid YAML: did not find expected "
                             "',' or ']' (while parsing a flow sequence)"},
        {"s:\n\tn: 1\n", "2:1: invalid YAML: "},
        {"s: {n: 1}}\n", "1:10: invalid YAML: "},
        {"s: &a {n: 1}\nt: *a\n",
         "1:4: YAML anchors are not supported in configuration"},
        {"s:\n  n: !!int 5\n", "2:6: YAML tags are not supported"},
        {"s:\n  n: 5\n---\ns:\n  n: 6\n",
         "3:1: only one YAML document is allowed"},
        {"s:\n  name: \"\xff\xfe\"\n", "2:10: invalid YAML: invalid leading "
                                       "UTF-8 octet (#FF)"},
        {"s:\n  name: a\x01\n", "2:10: invalid YAML: control characters are "
                                "not allowed (#1)"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        expect_error(cases[i].yaml, cases[i].want);
}

static void test_several_errors_collected(void **state)
{
    struct t_cfg c;
    struct cfg_errors e = {0};
    const char *yaml = "s:\n  n: 0\n  flag: maybe\n  nope: 1\n";
    assert_false(load_t(yaml, &c, &e));
    assert_int_equal(e.n, 3);
    assert_int_equal(e.e[0].line, 2);
    assert_string_equal(e.e[0].key, "s.n");
    assert_int_equal(e.e[1].line, 3);
    assert_string_equal(e.e[1].key, "s.flag");
    assert_int_equal(e.e[2].line, 4);
    assert_int_equal(e.e[2].col, 3);
    cfg_errors_free(&e);

    /* beyond CFG_MAX_ERRORS they are counted, not kept */
    struct buf b = BUF_INIT;
    for (int i = 0; i < 30; i++)
        buf_printf(&b, "k%d: 1\n", i);
    assert_false(load_t(buf_str(&b), &c, &e));
    assert_int_equal(e.n, CFG_MAX_ERRORS);
    assert_int_equal(e.dropped, 10);
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    cfg_errors_print(&e, f);
    fclose(f);
    assert_non_null(strstr(out, "t.yaml:1:1: key \"k0\": unrecognized key\n"));
    assert_non_null(strstr(out, "(10 more errors not shown)"));
    free(out);
    cfg_errors_free(&e);
    buf_free(&b);
}

static void test_bounds(void **state)
{
    struct t_cfg c;
    struct cfg_errors e = {0};

    /* billion laughs: refused at the first anchor, nothing expanded */
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
    expect_error(bomb, "1:4: YAML anchors are not supported");
    expect_error("s: *x\n", "1:4: ");

    /* deep nesting */
    struct buf b = BUF_INIT;
    for (int i = 0; i < 100; i++)
        buf_puts(&b, "[");
    for (int i = 0; i < 100; i++)
        buf_puts(&b, "]");
    buf_putc(&b, '\n');
    expect_error(buf_str(&b), "1:17: YAML nested too deeply (limit 16");
    buf_reset(&b);
    for (int i = 0; i < 40; i++)
        buf_printf(&b, "%*sk:\n", i * 2, "");
    expect_error(buf_str(&b), "17:33: YAML nested too deeply");

    /* node count */
    buf_reset(&b);
    buf_puts(&b, "s:\n  tags: [");
    for (int i = 0; i < CFG_MAX_NODES + 10; i++)
        buf_puts(&b, "a,");
    buf_puts(&b, "a]\n");
    assert_false(load_t(buf_str(&b), &c, &e));
    assert_non_null(strstr(e.e[0].text, "too many YAML nodes (limit 20000)"));
    cfg_errors_free(&e);

    /* size: a 2 MiB buffer and a 2 MiB file */
    buf_reset(&b);
    while (b.len < 2 * 1024 * 1024)
        buf_puts(&b, "# padding padding padding padding padding padding\n");
    assert_false(load_t(buf_str(&b), &c, &e));
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.e[0].text, "t.yaml: file is too large ("));
    cfg_errors_free(&e);
    char path[] = "/tmp/test_cfg_bigXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);
    assert_false(cfg_load_file(&t_table, &c, path, 0, &e));
    assert_int_equal(e.n, 1);
    char *want = xasprintf("%s: file is too large (", path);
    assert_non_null(strstr(e.e[0].text, want));
    free(want);
    cfg_errors_free(&e);
    unlink(path);

    /* a missing file */
    assert_false(cfg_load_file(&t_table, &c, "/nonexistent/x.yaml", 0, &e));
    assert_string_equal(e.e[0].text, "/nonexistent/x.yaml: cannot open: No "
                                     "such file or directory");
    cfg_errors_free(&e);
    buf_free(&b);
}

/* Writes text to a new temporary file; returns its path (caller frees). */
static char *temp_file(const char *text)
{
    char *path = xstrdup("/tmp/test_cfg_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_secrets(void **state)
{
    struct t_cfg c;
    struct cfg_errors e = {0};

    setenv("TEST_CFG_PW", "s3cr3t-env", 1);
    load_ok("db:\n  password_env: TEST_CFG_PW\n", &c);
    assert_string_equal(c.password.env, "TEST_CFG_PW");
    assert_string_equal(c.password.value, "s3cr3t-env");
    assert_null(c.password.file);
    /* shown as where it comes from, never as its value */
    struct buf b = BUF_INIT;
    cfg_dump_yaml(&t_table, &c, &b);
    assert_null(strstr(buf_str(&b), "s3cr3t"));
    assert_non_null(strstr(buf_str(&b), "password_env: \"TEST_CFG_PW\"  # "
                                        "secret (from env TEST_CFG_PW)"));
    buf_free(&b);
    cfg_free(&t_table, &c);

    char *path = temp_file("s3cr3t-file\r\nsecond line\n");
    char *yaml = xasprintf("db:\n  password_file: %s\n", path);
    load_ok(yaml, &c);
    assert_string_equal(c.password.value, "s3cr3t-file");
    cfg_free(&t_table, &c);
    free(yaml);

    /* per list item; NO_SECRETS checks syntax but reads nothing */
    yaml = xasprintf("items:\n  - name: a\n    token_file: %s\n", path);
    load_ok(yaml, &c);
    assert_string_equal(((struct t_item *)c.items.items)[0].token.value,
                        "s3cr3t-file");
    cfg_free(&t_table, &c);
    free(yaml);
    assert_true(cfg_load_buffer(&t_table, &c, "t.yaml",
                                "db:\n  password_env: TEST_CFG_UNSET\n", 34,
                                CFG_NO_SECRETS, &e));
    assert_null(c.password.value);
    cfg_free(&t_table, &c);

    unsetenv("TEST_CFG_UNSET");
    expect_error("db:\n  password_env: TEST_CFG_UNSET\n",
                 "2:17: key \"db.password_env\": environment variable "
                 "\"TEST_CFG_UNSET\" is not set");
    setenv("TEST_CFG_EMPTY", "", 1);
    expect_error("db:\n  password_env: TEST_CFG_EMPTY\n",
                 "2:17: key \"db.password_env\": environment variable "
                 "\"TEST_CFG_EMPTY\" is empty");
    expect_error("db:\n  password_env: 'BAD NAME'\n",
                 "2:17: key \"db.password_env\": invalid environment "
                 "variable name \"BAD NAME\"");
    expect_error("db:\n  password_file: /nonexistent/pw\n",
                 "2:18: key \"db.password_file\": cannot read secret file "
                 "\"/nonexistent/pw\": No such file or directory");
    expect_error("db:\n  password_file: /tmp\n",
                 "2:18: key \"db.password_file\": secret file \"/tmp\" is "
                 "not a regular file");
    char *empty = temp_file("\nsecond line is not the secret\n");
    yaml = xasprintf("db:\n  password_file: %s\n", empty);
    char *want = xasprintf("2:18: key \"db.password_file\": first line of "
                           "secret file \"%s\" is empty",
                           empty);
    expect_error(yaml, want);
    free(yaml);
    free(want);
    yaml = xasprintf("db:\n  password_env: TEST_CFG_PW\n"
                     "  password_file: %s\n",
                     path);
    expect_error(yaml, "3:18: key \"db.password_file\": give only one of "
                       "password_env and password_file");
    free(yaml);
    expect_error("items:\n  - name: a\n    token_env: TEST_CFG_UNSET\n",
                 "3:16: key \"items[0].token_env\": environment variable");

    /* a too long first line: the message does not carry the secret */
    struct buf big = BUF_INIT;
    for (int i = 0; i < 500; i++)
        buf_puts(&big, "s3cr3t-xyz");
    char *bigf = temp_file(buf_str(&big));
    yaml = xasprintf("db:\n  password_file: %s\n", bigf);
    assert_false(load_t(yaml, &c, &e));
    assert_non_null(strstr(e.e[0].text, "is too long (limit 4096 bytes)"));
    assert_null(strstr(e.e[0].text, "s3cr3t"));
    cfg_errors_free(&e);
    free(yaml);
    buf_free(&big);

    unlink(bigf);
    unlink(empty);
    unlink(path);
    free(bigf);
    free(empty);
    free(path);
}

static void test_relative_secret_file(void **state)
{
    char dir[] = "/tmp/test_cfg_dirXXXXXX";
    assert_non_null(mkdtemp(dir));
    char *pw = xasprintf("%s/pw", dir);
    char *conf = xasprintf("%s/c.yaml", dir);
    FILE *f = fopen(pw, "w");
    fputs("from-relative\n", f);
    fclose(f);
    f = fopen(conf, "w");
    fputs("db:\n  password_file: pw\n", f);
    fclose(f);
    struct t_cfg c;
    struct cfg_errors e = {0};
    assert_true(cfg_load_file(&t_table, &c, conf, 0, &e));
    assert_string_equal(c.password.value, "from-relative");
    assert_string_equal(c.password.file, "pw");
    cfg_free(&t_table, &c);
    unlink(pw);
    unlink(conf);
    rmdir(dir);
    free(pw);
    free(conf);
}

static void test_format_and_roundtrip(void **state)
{
    struct t_cfg c, d;
    load_ok("s:\n  wait: 90s\n  mem: 1536\n  tags: [\"q\\\"x\", b]\n"
            "items:\n  - name: it\n    weight: 2\n",
            &c);
    struct buf b1 = BUF_INIT, b2 = BUF_INIT;
    cfg_dump_yaml(&t_table, &c, &b1);
    assert_non_null(strstr(buf_str(&b1), "  wait: 90s\n"));
    assert_non_null(strstr(buf_str(&b1), "  mem: 1536B\n"));
    assert_non_null(strstr(buf_str(&b1), "  tags: [\"q\\\"x\", \"b\"]\n"));
    assert_non_null(strstr(buf_str(&b1), "items:\n  - name: \"it\"\n"
                                         "    weight: 2\n"));
    assert_non_null(strstr(buf_str(&b1), "a:\n  b:\n    c:\n      deep: 0\n"));
    load_ok(buf_str(&b1), &d);
    cfg_dump_yaml(&t_table, &d, &b2);
    assert_string_equal(buf_str(&b1), buf_str(&b2));
    cfg_free(&t_table, &c);
    cfg_free(&t_table, &d);
    buf_free(&b1);
    buf_free(&b2);
}

static void test_reload_check(void **state)
{
    struct xc_config a, b;
    struct cfg_errors e = {0};
    const char *y1 = "crawl:\n  name: one\ndatabase:\n  batch_rows: 10\n";
    const char *y2 = "crawl:\n  name: two\ndatabase:\n  batch_rows: 20\n";
    assert_true(xc_config_load_buffer("a", y1, strlen(y1), &a, 0, &e));
    assert_true(xc_config_load_buffer("b", y1, strlen(y1), &b, 0, &e));
    assert_true(cfg_check_reload(&xc_config_table, &a, &b, "b", &e));
    xc_config_free(&b);
    assert_true(xc_config_load_buffer("b", y2, strlen(y2), &b, 0, &e));
    assert_false(cfg_check_reload(&xc_config_table, &a, &b, "b", &e));
    assert_int_equal(e.n, 1); /* batch_rows may change, name may not */
    assert_string_equal(e.e[0].text, "b: key \"crawl.name\": cannot be "
                                     "changed by a reload (restart needed)");
    cfg_errors_free(&e);
    xc_config_free(&a);
    xc_config_free(&b);

    /* accounts: send_rate may change, the jid and the count may not */
    setenv("XCENSUS_TEST_PW", "pw", 1);
    const char *a1 = "accounts:\n  - {jid: a@x.org, password_env: "
                     "XCENSUS_TEST_PW, send_rate: 5}\n";
    const char *a2 = "accounts:\n  - {jid: a@x.org, password_env: "
                     "XCENSUS_TEST_PW, send_rate: 9}\n";
    const char *a3 = "accounts:\n  - {jid: b@x.org, password_env: "
                     "XCENSUS_TEST_PW, send_rate: 9}\n";
    assert_true(xc_config_load_buffer("a", a1, strlen(a1), &a, 0, &e));
    assert_true(xc_config_load_buffer("b", a2, strlen(a2), &b, 0, &e));
    assert_true(cfg_check_reload(&xc_config_table, &a, &b, "b", &e));
    xc_config_free(&b);
    assert_true(xc_config_load_buffer("b", a3, strlen(a3), &b, 0, &e));
    assert_false(cfg_check_reload(&xc_config_table, &a, &b, "b", &e));
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].key, "accounts[0].jid");
    cfg_errors_free(&e);
    struct xc_config none;
    xc_config_defaults(&none);
    assert_false(cfg_check_reload(&xc_config_table, &a, &none, "b", &e));
    assert_non_null(strstr(e.e[0].text, "b: key \"accounts\": the number of "
                                        "items cannot be changed"));
    cfg_errors_free(&e);
    xc_config_free(&none);
    xc_config_free(&a);
    xc_config_free(&b);
}

/* Loads every prefix of a valid file: whatever the cut, an outcome and no
 * crash or leak (the fuzz target does this at random). */
static void test_truncations(void **state)
{
    const char *yaml = "s:\n  n: 5\n  tags: [a, 'b']\n  wait: 5m\n"
                       "items:\n  - name: x\n    weight: 2\n"
                       "db: {password_env: TEST_CFG_PW}\n";
    setenv("TEST_CFG_PW", "pw", 1);
    size_t ok = 0;
    for (size_t len = 0; len <= strlen(yaml); len++) {
        struct t_cfg c;
        struct cfg_errors e = {0};
        if (cfg_load_buffer(&t_table, &c, "t", yaml, len, 0, &e)) {
            ok++;
            cfg_free(&t_table, &c);
        } else {
            assert_true(e.n > 0);
        }
        cfg_errors_free(&e);
    }
    assert_true(ok > 5);
}

/* ------------------------------------------------------------------ */
/* The xcensus table, its example files and documentation              */

static void test_xc_defaults(void **state)
{
    struct xc_config c;
    struct cfg_errors e = {0};
    assert_true(cfg_defaults(&xc_config_table, &c, &e));
    assert_string_equal(c.database.conninfo, "dbname=xcensus");
    assert_int_equal(c.crawl.lease, 5 * 60 * 1000);
    assert_int_equal(c.database.max_memory, 64 * 1024 * 1024);
    assert_string_equal(c.serve.listen, "127.0.0.1");
    assert_int_equal(c.accounts.n, 0);
    assert_int_equal(c.analyzer.cache_sizes.n, 3);
    xc_config_free(&c);
    struct xc_account a;
    assert_true(cfg_defaults(&xc_account_table, &a, &e));
    assert_int_equal(a.tls, XC_TLS_REQUIRED);
    cfg_free(&xc_account_table, &a);
    assert_int_equal(e.n, 0);

    /* every row is sane: help text, enum words, list sub-tables, and
     * secret pairs that end in _env / _file next to each other */
    const struct cfg_table *tables[] = {&xc_config_table, &xc_account_table};
    for (size_t t = 0; t < ARRAY_LEN(tables); t++) {
        for (size_t i = 0; i < tables[t]->n; i++) {
            const struct cfg_option *o = &tables[t]->opts[i];
            assert_non_null(o->help);
            assert_true(strlen(o->help) > 5);
            assert_null(strchr(o->help, '|'));
            if (o->type == CFG_ENUM)
                assert_non_null(o->words);
            if (o->type == CFG_LIST)
                assert_non_null(o->sub);
            if (o->type == CFG_SECRET_ENV) {
                size_t kl = strlen(o->key);
                assert_string_equal(o->key + kl - 4, "_env");
                assert_true(i + 1 < tables[t]->n);
                assert_int_equal(o[1].type, CFG_SECRET_FILE);
                assert_int_equal(o[1].off, o->off);
            }
            assert_true(o->off + 1 <= tables[t]->size);
        }
    }
}

/* Collects the dotted keys of a YAML file ("accounts[].jid" for items of
 * a list of maps) into keys. */
static void yaml_keys(yaml_document_t *doc, yaml_node_t *n, const char *prefix,
                      struct buf *keys)
{
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top; it++) {
            yaml_node_t *c = yaml_document_get_node(doc, *it);
            if (c->type == YAML_MAPPING_NODE) {
                char *p = xasprintf("%s[]", prefix);
                yaml_keys(doc, c, p, keys);
                free(p);
            }
        }
        return;
    }
    if (n->type != YAML_MAPPING_NODE)
        return;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        char *full = xasprintf("%s%s%s", prefix, *prefix ? "." : "",
                               (char *)k->data.scalar.value);
        if (v->type == YAML_MAPPING_NODE ||
            (v->type == YAML_SEQUENCE_NODE &&
             v->data.sequence.items.top > v->data.sequence.items.start &&
             yaml_document_get_node(doc, *v->data.sequence.items.start)->type ==
                 YAML_MAPPING_NODE)) {
            yaml_keys(doc, v, full, keys);
            if (v->type == YAML_SEQUENCE_NODE)
                buf_printf(keys, "|%s", full);
        } else {
            buf_printf(keys, "|%s", full);
        }
        free(full);
    }
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b);
}

/* The keys of both tables as "|key" strings, accounts as accounts[].k. */
static void table_keys(struct buf *b)
{
    for (size_t i = 0; i < xc_config_table.n; i++) {
        const struct cfg_option *o = &xc_config_table.opts[i];
        buf_printf(b, "|%s", o->key);
        if (o->type == CFG_LIST)
            for (size_t j = 0; j < o->sub->n; j++)
                buf_printf(b, "|%s[].%s", o->key, o->sub->opts[j].key);
    }
    buf_putc(b, '|');
}

static void test_example_matches_table(void **state)
{
    const char *path = XC_SOURCE_DIR "/config/xcensus.example.yaml";
    char *text = read_all(path);
    yaml_parser_t p;
    yaml_document_t doc;
    assert_true(yaml_parser_initialize(&p));
    yaml_parser_set_input_string(&p, (unsigned char *)text, strlen(text));
    assert_true(yaml_parser_load(&p, &doc));
    struct buf ex = BUF_INIT, tk = BUF_INIT;
    yaml_keys(&doc, yaml_document_get_root_node(&doc), "", &ex);
    buf_putc(&ex, '|');
    table_keys(&tk);
    /* every table key is written in the example */
    for (size_t i = 0; i < xc_config_table.n; i++) {
        const struct cfg_option *o = &xc_config_table.opts[i];
        char *k = xasprintf("|%s|", o->key);
        if (strstr(buf_str(&ex), k) == NULL)
            fail_msg("key %s is missing from %s", o->key, path);
        free(k);
        for (size_t j = 0; o->type == CFG_LIST && j < o->sub->n; j++) {
            k = xasprintf("|%s[].%s|", o->key, o->sub->opts[j].key);
            if (strstr(buf_str(&ex), k) == NULL)
                fail_msg("key %s is missing from %s", k, path);
            free(k);
        }
    }
    /* every key of the example is in the table */
    char *keys = xstrdup(buf_str(&ex));
    for (char *save, *k = strtok_r(keys, "|", &save); k;
         k = strtok_r(NULL, "|", &save)) {
        char *w = xasprintf("|%s|", k);
        if (strstr(buf_str(&tk), w) == NULL)
            fail_msg("key %s of %s is not in the table", k, path);
        free(w);
    }
    free(keys);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    buf_free(&ex);
    buf_free(&tk);
    free(text);
}

static void test_examples_load(void **state)
{
    static const char *const files[] = {"xcensus.example.yaml",
                                        "testnet.example.yaml"};
    setenv("XCENSUS_ACCOUNT_PASSWORD", "example-pw", 1);
    setenv("XCENSUS_TESTNET_PASSWORD", "testnet-pw", 1);
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        char *path = xasprintf("%s/config/%s", XC_SOURCE_DIR, files[i]);
        struct xc_config c, d;
        struct cfg_errors e = {0};
        if (!xc_config_load(path, &c, 0, &e))
            fail_msg("%s", e.e[0].text);
        assert_int_equal(c.accounts.n, 1);
        const struct xc_account *a = xc_config_account(&c, 0);
        assert_non_null(a->password.value);
        /* the dump of the effective configuration loads back the same */
        struct buf b1 = BUF_INIT, b2 = BUF_INIT;
        cfg_dump_yaml(&xc_config_table, &c, &b1);
        assert_null(strstr(buf_str(&b1), "-pw"));
        if (!xc_config_load_buffer("dump", b1.data, b1.len, &d, 0, &e))
            fail_msg("%s\n%s", e.e[0].text, buf_str(&b1));
        cfg_dump_yaml(&xc_config_table, &d, &b2);
        assert_string_equal(buf_str(&b1), buf_str(&b2));
        xc_config_free(&c);
        xc_config_free(&d);
        buf_free(&b1);
        buf_free(&b2);
        free(path);
    }
    /* the example's values are the defaults, except for the account */
    struct xc_config c, d;
    struct cfg_errors e = {0};
    assert_true(xc_config_load(XC_SOURCE_DIR "/config/xcensus.example.yaml", &c,
                               0, &e));
    xc_config_defaults(&d);
    for (size_t i = 0; i < xc_config_table.n; i++) {
        const struct cfg_option *o = &xc_config_table.opts[i];
        if (o->type == CFG_LIST)
            continue;
        struct buf v1 = BUF_INIT, v2 = BUF_INIT;
        cfg_format_value(o, &c, &v1);
        cfg_format_value(o, &d, &v2);
        if (strcmp(buf_str(&v1), buf_str(&v2)) != 0)
            fail_msg("example sets %s to %s, the default is %s", o->key,
                     buf_str(&v1), buf_str(&v2));
        buf_free(&v1);
        buf_free(&v2);
    }
    xc_config_free(&c);
    xc_config_free(&d);
}

static void test_bad_files(void **state)
{
    const char *dir = XC_TEST_DATA "/config/bad";
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int files = 0, wrong = 0;
    unsetenv("XCENSUS_TEST_UNSET");
    setenv("XCENSUS_TEST_PW", "pw", 1);
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".yaml") == NULL)
            continue;
        char *path = xasprintf("%s/%s", dir, de->d_name);
        char *text = read_all(path);
        if (strncmp(text, "# expect: ", 10) != 0)
            fail_msg("%s: first line must be \"# expect: ...\"", path);
        char *want = xstrndup(text + 10, strcspn(text + 10, "\n"));
        struct xc_config c;
        struct cfg_errors e = {0};
        if (xc_config_load(path, &c, 0, &e))
            fail_msg("%s loaded without error", path);
        char *full = xasprintf("%s:%s", path, want);
        if (strncmp(e.e[0].text, full, strlen(full)) != 0) {
            print_error("%s:\ngot  %s\nwant %s\n", de->d_name, e.e[0].text,
                        full);
            wrong++;
        }
        cfg_errors_free(&e);
        free(full);
        free(want);
        free(text);
        free(path);
        files++;
    }
    closedir(d);
    assert_int_equal(wrong, 0);
    assert_true(files >= 10);
}

static void test_good_files(void **state)
{
    const char *dir = XC_TEST_DATA "/config/good";
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int files = 0;
    setenv("XCENSUS_TEST_PW", "pw", 1);
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".yaml") == NULL)
            continue;
        char *path = xasprintf("%s/%s", dir, de->d_name);
        struct xc_config c;
        struct cfg_errors e = {0};
        if (!xc_config_load(path, &c, 0, &e))
            fail_msg("%s", e.e[0].text);
        xc_config_free(&c);
        free(path);
        files++;
    }
    closedir(d);
    assert_true(files >= 2);
}

static void test_doc_reference_is_generated(void **state)
{
    const char *path = XC_SOURCE_DIR "/docs/CONFIGURATION.md";
    char *doc = read_all(path);
    const char *begin = "<!-- keys:begin (generated by `xcensus config keys "
                        "--markdown`) -->\n";
    const char *end = "<!-- keys:end -->";
    char *b = strstr(doc, begin), *e = strstr(doc, end);
    assert_non_null(b);
    assert_non_null(e);
    b += strlen(begin);
    struct buf want = BUF_INIT;
    cfg_describe(&xc_config_table, true, &want);
    if ((size_t)(e - b) != want.len || memcmp(b, want.data, want.len) != 0)
        fail_msg("the key reference in %s is stale: regenerate it with "
                 "`xcensus config keys --markdown`",
                 path);
    buf_free(&want);
    free(doc);
}

/* Runs `xcensus [--config gconf] config ARGS...`; returns its exit code
 * and its standard output in *out (caller frees). */
static int run_config(const char *gconf, char **out, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, out);
    argv[argc++] = (char *)"config";
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 15;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    struct cli_globals g = {.config_path = gconf};
    char path[] = "/tmp/test_cfg_outXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    optind = 0;
    int rc = cmd_config(argc, argv, &g);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(fd);
    *out = read_all(path);
    unlink(path);
    return rc;
}

static void test_config_command(void **state)
{
    char *out;
    const char *good = XC_TEST_DATA "/config/good/two_accounts.yaml";
    const char *bad = XC_TEST_DATA "/config/bad/out_of_range.yaml";
    setenv("XCENSUS_TEST_PW", "pw-from-env", 1);

    assert_int_equal(run_config(NULL, &out, "check", good, NULL), 0);
    char *want = xasprintf("%s: ok\n", good);
    assert_string_equal(out, want);
    free(want);
    free(out);

    /* the global --config is the default FILE */
    assert_int_equal(run_config(bad, &out, "check", NULL), 1);
    want = xasprintf("%s:3:10: key \"crawl.lease\": value 1s is out of range "
                     "(10s..1h)\n",
                     bad);
    assert_string_equal(out, want);
    free(want);
    free(out);

    assert_int_equal(run_config(NULL, &out, "check", NULL), EXIT_USAGE);
    free(out);
    assert_int_equal(run_config(NULL, &out, "frobnicate", NULL), EXIT_USAGE);
    free(out);
    assert_int_equal(run_config(NULL, &out, "check", "--help", NULL), 0);
    assert_non_null(strstr(out, "usage: xcensus config check"));
    free(out);

    /* --no-secrets: an unset variable is not an error */
    unsetenv("XCENSUS_ACCOUNT_PASSWORD");
    const char *ex = XC_SOURCE_DIR "/config/xcensus.example.yaml";
    assert_int_equal(run_config(NULL, &out, "check", ex, NULL), 1);
    free(out);
    assert_int_equal(run_config(NULL, &out, "check", "--no-secrets", ex, NULL),
                     0);
    free(out);

    /* show: effective values, where secrets come from, never their value;
     * and the output is itself a valid configuration */
    assert_int_equal(run_config(good, &out, "show", NULL), 0);
    assert_null(strstr(out, "pw-from-env"));
    assert_null(strstr(out, "file-secret"));
    assert_non_null(strstr(out, "# secret (from env XCENSUS_TEST_PW)"));
    assert_non_null(strstr(out, "# secret (from file two_accounts.pass)"));
    assert_non_null(strstr(out, "  lease: 2m\n"));
    assert_non_null(strstr(out, "  heartbeat_interval: 30s\n"));
    struct xc_config c;
    struct cfg_errors e = {0};
    assert_true(xc_config_load_buffer("show", out, strlen(out), &c,
                                      CFG_NO_SECRETS, &e));
    assert_int_equal(c.accounts.n, 2);
    xc_config_free(&c);
    free(out);

    /* keys: the same text as the library's description */
    assert_int_equal(run_config(NULL, &out, "keys", "--markdown", NULL), 0);
    struct buf b = BUF_INIT;
    cfg_describe(&xc_config_table, true, &b);
    assert_string_equal(out, buf_str(&b));
    buf_free(&b);
    free(out);
    assert_int_equal(run_config(NULL, &out, "keys", NULL), 0);
    assert_non_null(strstr(out, "crawl.lease (duration)\n    default: 5m\n"
                                "    range: 10s..1h\n"));
    assert_non_null(strstr(out, "accounts[].jid (string) required\n"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad_default_is_caught),
        cmocka_unit_test(test_good_scalars),
        cmocka_unit_test(test_good_other_types),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_several_errors_collected),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_relative_secret_file),
        cmocka_unit_test(test_format_and_roundtrip),
        cmocka_unit_test(test_reload_check),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_xc_defaults),
        cmocka_unit_test(test_example_matches_table),
        cmocka_unit_test(test_examples_load),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_good_files),
        cmocka_unit_test(test_doc_reference_is_generated),
        cmocka_unit_test(test_config_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
