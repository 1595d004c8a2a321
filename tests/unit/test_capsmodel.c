/*
 * Unit tests for analyzer/capsmodel on the 1,611 real capsdb entries: the
 * model's counts (entries, nodes, distinct features, Tkabber's XEP-0232
 * share) against an independent computation over the parsed results,
 * lookups, feature search by scan and by index against a brute-force
 * check, and the XEP-0232 counterfactual against a hash of the XML with the
 * form cut out as text; the two-thread build against the one-row-at-a-time
 * one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "caps.h"
#include "capsmodel.h"
#include "disco.h"
#include "xalloc.h"

struct row {
    char *node, *ver, *hash, *xml;
    struct disco_info *info;
    bool repeat; /* an earlier row has the same (hash, ver) */
};

static struct row *rows;
static size_t nrows;

static int load(void **state)
{
    FILE *f = fopen(XC_TEST_DATA "/capsdb/capsdb.jsonl", "r");
    if (f == NULL)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    rows = xcalloc(2000, sizeof *rows);
    while (getline(&line, &cap, f) > 0 && nrows < 2000) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (o == NULL)
            return -1;
        struct row *r = &rows[nrows++];
        r->node = xstrdup(json_string_value(json_object_get(o, "node")));
        r->ver = xstrdup(json_string_value(json_object_get(o, "ver")));
        r->hash = xstrdup(json_string_value(json_object_get(o, "hash")));
        r->xml = xstrdup(json_string_value(json_object_get(o, "disco_info_xml")));
        struct parse_err err = {0};
        r->info = disco_parse(r->xml, strlen(r->xml), NULL, &err);
        json_decref(o);
        if (r->info == NULL) {
            fprintf(stderr, "entry %zu: %s\n", nrows, err.msg);
            return -1;
        }
    }
    free(line);
    fclose(f);
    for (size_t i = 0; i < nrows; i++)
        for (size_t j = 0; j < i && !rows[i].repeat; j++)
            rows[i].repeat = strcmp(rows[i].ver, rows[j].ver) == 0 &&
                             strcmp(rows[i].hash, rows[j].hash) == 0;
    return nrows == 1611 ? 0 : -1;
}

static int unload(void **state)
{
    for (size_t i = 0; i < nrows; i++) {
        free(rows[i].node);
        free(rows[i].ver);
        free(rows[i].hash);
        free(rows[i].xml);
        disco_info_free(rows[i].info);
    }
    free(rows);
    return 0;
}

static struct capsmodel *build(void)
{
    struct capsmodel *m = capsmodel_new();
    for (size_t i = 0; i < nrows; i++) {
        enum hash_algo a;
        assert_true(hash_algo_parse(rows[i].hash, &a));
        struct cm_input in = {a, rows[i].ver, rows[i].node, rows[i].info, 1,
                              strlen(rows[i].xml), false};
        capsmodel_add(m, &in);
    }
    return m;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t distinct(char **v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_strp);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(v[i - 1], v[i]) != 0)
            d++;
    return d;
}

static void test_counts_match_independent(void **state)
{
    struct capsmodel *m = build();
    /* distinct (hash, ver) and nodes, counted by sorting strings */
    char **keys = xcalloc(nrows, sizeof *keys);
    char **nodes = xcalloc(nrows, sizeof *nodes);
    char **first_nodes = xcalloc(nrows, sizeof *first_nodes);
    size_t nfirst = 0;
    size_t nfeat = 0;
    for (size_t i = 0; i < nrows; i++) {
        keys[i] = xasprintf("%s %s", rows[i].hash, rows[i].ver);
        nodes[i] = rows[i].node;
        if (!rows[i].repeat)
            first_nodes[nfirst++] = rows[i].node;
        nfeat += rows[i].info->n_features;
    }
    char **feats = xcalloc(nfeat, sizeof *feats);
    size_t k = 0;
    for (size_t i = 0; i < nrows; i++)
        for (size_t j = 0; j < rows[i].info->n_features; j++)
            feats[k++] = (char *)rows[i].info->features[j];
    size_t dkeys = distinct(keys, nrows);
    size_t dnodes = distinct(first_nodes, nfirst);
    assert_int_equal(distinct(nodes, nrows), 71); /* 71 programs' nodes */
    size_t dfeats = distinct(feats, nfeat);
    assert_int_equal(capsmodel_count(m), dkeys);
    /* 1,611 rows (node#ver) but 44 vers appear under two nodes */
    assert_int_equal(dkeys, 1567);
    assert_int_equal(dfeats, 292); /* the figure known from the collection */

    /* the model's own distinct features: union of its feature sets */
    const struct strtab *s = capsmodel_strings(m);
    char *seen = xcalloc(strtab_count(s), 1);
    size_t model_feats = 0, model_nodes = 0;
    for (size_t f = 0; f < capsmodel_fset_count(m); f++) {
        const struct cm_fset *fs = capsmodel_fset(m, (uint32_t)f);
        for (uint32_t j = 0; j < fs->n; j++)
            if (!seen[fs->features[j]] && (seen[fs->features[j]] = 1))
                model_feats++;
    }
    memset(seen, 0, strtab_count(s));
    for (uint32_t i = 0; i < capsmodel_count(m); i++) {
        uint32_t nd = capsmodel_entry(m, i)->node;
        if (nd != CM_NONE && !seen[nd] && (seen[nd] = 1))
            model_nodes++;
    }
    assert_int_equal(model_feats, dfeats);
    assert_int_equal(model_nodes, dnodes);

    /* Tkabber: hashes with a XEP-0232 form, counted on the raw XML */
    size_t tk = 0, tk_si = 0, tk_model_si = 0;
    for (size_t i = 0; i < nrows; i++) {
        if (strstr(rows[i].node, "tkabber") == NULL)
            continue;
        tk++;
        if (strstr(rows[i].xml, "urn:xmpp:dataforms:softwareinfo"))
            tk_si++;
        enum hash_algo a;
        assert_true(hash_algo_parse(rows[i].hash, &a));
        uint32_t e = capsmodel_lookup(m, a, rows[i].ver);
        assert_int_not_equal(e, CM_NONE);
        if (capsmodel_entry(m, e)->flags & CM_SOFTINFO)
            tk_model_si++;
    }
    assert_int_equal(tk, 450);
    assert_int_equal(tk_si, 447);
    assert_int_equal(tk_model_si, tk_si);
    /* without XEP-0232 far fewer distinct entries remain */
    assert_true(capsmodel_stripped_count(m) < capsmodel_count(m));

    for (size_t i = 0; i < nrows; i++)
        free(keys[i]);
    free(keys);
    free(nodes);
    free(first_nodes);
    free(feats);
    free(seen);
    capsmodel_free(m);
}

static void test_lookups(void **state)
{
    struct capsmodel *m = build();
    for (size_t i = 0; i < nrows; i++) {
        enum hash_algo a;
        assert_true(hash_algo_parse(rows[i].hash, &a));
        uint32_t e = capsmodel_lookup(m, a, rows[i].ver);
        assert_int_not_equal(e, CM_NONE);
        assert_int_equal(capsmodel_lookup_nodever(m, rows[i].node, rows[i].ver), e);
        /* the key text is rebuilt from the stored digest */
        char want[1200];
        snprintf(want, sizeof want, "%s %s", rows[i].hash, rows[i].ver);
        assert_string_equal(capsmodel_key(m, e), want);
    }
    /* a ver that is no digest is keyed by its text */
    {
        struct cm_input odd = {HASH_SHA1, "not base64!", "http://odd", rows[0].info, 1, 0,
                               false};
        uint32_t e = capsmodel_add(m, &odd);
        assert_int_equal(capsmodel_count(m), 1568);
        assert_int_equal(capsmodel_lookup(m, HASH_SHA1, "not base64!"), e);
        assert_int_equal(capsmodel_lookup(m, HASH_MD5, "not base64!"), CM_NONE);
        assert_int_equal(capsmodel_lookup_nodever(m, "http://odd", "not base64!"), e);
        assert_int_equal(capsmodel_lookup_nodever(m, rows[0].node, "not base64!"), CM_NONE);
        assert_string_equal(capsmodel_key(m, e), "sha-1 not base64!");
        assert_int_equal(capsmodel_add(m, &odd), e);
        assert_int_equal(capsmodel_entry(m, e)->observations, 2);
    }
    assert_int_equal(capsmodel_lookup(m, HASH_SHA1, "nope"), CM_NONE);
    assert_int_equal(capsmodel_lookup(m, HASH_SHA256, rows[0].ver), CM_NONE);
    assert_int_equal(capsmodel_lookup_nodever(m, "http://x", rows[0].ver), CM_NONE);
    /* adding a known key adds observations, not an entry */
    enum hash_algo a;
    assert_true(hash_algo_parse(rows[0].hash, &a));
    struct cm_input in = {a, rows[0].ver, rows[0].node, rows[0].info, 5, 0, true};
    uint32_t e = capsmodel_add(m, &in);
    assert_int_equal(capsmodel_count(m), 1568);
    uint64_t same = 0;
    for (size_t i = 0; i < nrows; i++)
        same += strcmp(rows[i].ver, rows[0].ver) == 0 &&
                strcmp(rows[i].hash, rows[0].hash) == 0;
    assert_int_equal(capsmodel_entry(m, e)->observations, same + 5);
    capsmodel_free(m);
}

static size_t brute(const char *const *vars, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].repeat)
            continue;
        size_t k = 0;
        while (k < n && disco_has_feature(rows[i].info, vars[k]))
            k++;
        c += k == n;
    }
    return c;
}

static void test_search_scan_equals_index(void **state)
{
    struct capsmodel *m = build();
    capsmodel_index_build(m);
    static const char *const q1[] = {"http://jabber.org/protocol/muc"};
    static const char *const q2[] = {"urn:xmpp:jingle:1",
                                     "http://jabber.org/protocol/chatstates"};
    static const char *const q3[] = {"http://jabber.org/protocol/caps",
                                     "urn:xmpp:time", "jabber:iq:version"};
    static const char *const q4[] = {"urn:xmpp:does-not-exist"};
    const char *const *qs[] = {q1, q2, q3, q4};
    size_t ns[] = {1, 2, 3, 1};
    uint32_t *a = xcalloc(nrows, sizeof *a), *b = xcalloc(nrows, sizeof *b);
    for (size_t q = 0; q < 4; q++) {
        size_t want = brute(qs[q], ns[q]);
        size_t x = capsmodel_search_scan(m, qs[q], ns[q], a, nrows);
        size_t y = capsmodel_search_index(m, qs[q], ns[q], b, nrows);
        assert_int_equal(x, want);
        assert_int_equal(y, want);
        size_t shown = want < nrows ? want : nrows;
        assert_memory_equal(a, b, shown * sizeof *a); /* both ascending */
        if (q < 3)
            assert_true(want > 0);
    }
    free(a);
    free(b);
    capsmodel_free(m);
}

/* The stripped hash equals a strict hash of the XML with the softinfo form
 * removed as text, parsed anew. */
static void test_counterfactual_matches_text_strip(void **state)
{
    struct capsmodel *m = build();
    size_t checked = 0;
    for (size_t i = 0; i < nrows && checked < 60; i++) {
        const char *x = rows[i].xml;
        const char *ft = strstr(x, "urn:xmpp:dataforms:softwareinfo");
        if (ft == NULL)
            continue;
        /* the <x ...> that holds it, and its end */
        const char *start = ft;
        while (start > x && strncmp(start, "<x", 2) != 0)
            start--;
        const char *end = strstr(ft, "</x>");
        assert_non_null(end);
        end += 4;
        struct buf b = BUF_INIT;
        buf_append(&b, x, (size_t)(start - x));
        buf_puts(&b, end);
        struct parse_err err = {0};
        struct disco_info *s = disco_parse(b.data, b.len, NULL, &err);
        assert_non_null(s);
        enum hash_algo a;
        assert_true(hash_algo_parse(rows[i].hash, &a));
        char ver[HASH_B64_MAX];
        assert_true(caps_ver_compute(s, a, CAPS_M_STRICT, ver));
        uint32_t e = capsmodel_lookup(m, a, rows[i].ver);
        assert_int_not_equal(e, CM_NONE);
        assert_true(capsmodel_entry(m, e)->flags & CM_SOFTINFO);
        char want[HASH_B64_MAX + 16];
        snprintf(want, sizeof want, "%s %s", rows[i].hash, ver);
        assert_string_equal(capsmodel_stripped_key(m, e), want);
        assert_string_not_equal(ver, rows[i].ver);
        disco_info_free(s);
        buf_free(&b);
        checked++;
    }
    assert_int_equal(checked, 60);
    capsmodel_free(m);
}

/* The string of id in m's strings, or "" for CM_NONE. */
static const char *str_of(const struct capsmodel *m, uint32_t id)
{
    return id == CM_NONE ? "" : strtab_str(capsmodel_strings(m), id);
}

/* capsmodel_add_stored_many() (two threads) on rows worked out by
 * capsmodel_prepare() gives the model capsmodel_add() gives one row at a
 * time: every entry the same, field by field, and the same totals. The
 * rows come twice under other nodes (known keys: observations added,
 * node#ver pairs grow) and the chunks are cut at odd sizes. */
static void test_many_equals_one_by_one(void **state)
{
    (void)state;
    static const char *const extra[] = {NULL, "http://other.example/caps"};
    struct capsmodel *one = capsmodel_new(), *many = capsmodel_new();
    struct cm_prepared *prep = xcalloc(nrows * 2, sizeof *prep);
    struct cm_stored *batch = xcalloc(nrows * 2, sizeof *batch);
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < nrows; i++) {
            enum hash_algo a;
            assert_true(hash_algo_parse(rows[i].hash, &a));
            struct cm_input in = {a, rows[i].ver, extra[pass] ? extra[pass] : rows[i].node,
                                  rows[i].info, 1 + i % 3, strlen(rows[i].xml), i % 5 != 0};
            capsmodel_add(one, &in);
            capsmodel_prepare(many, &in, &prep[n]);
            batch[n] = prep[n].row;
            n++;
        }
    /* chunks of 700, 1, 300, then the rest: the single row goes the
     * serial way, the others through both threads */
    size_t cuts[] = {700, 1, 300, n - 1001};
    for (size_t k = 0, at = 0; k < 4; at += cuts[k++])
        capsmodel_add_stored_many(many, batch + at, cuts[k]);
    assert_int_equal(capsmodel_count(one), capsmodel_count(many));
    assert_int_equal(capsmodel_node_count(one), capsmodel_node_count(many));
    assert_int_equal(capsmodel_nodever_count(one), capsmodel_nodever_count(many));
    assert_int_equal(capsmodel_fset_count(one), capsmodel_fset_count(many));
    assert_int_equal(capsmodel_stripped_count(one), capsmodel_stripped_count(many));
    uint64_t x1, s1, x2, s2;
    capsmodel_stripped_sizes(one, &x1, &s1);
    capsmodel_stripped_sizes(many, &x2, &s2);
    assert_true(x1 == x2 && s1 == s2);
    for (uint32_t e = 0; e < capsmodel_count(one); e++) {
        const struct cm_entry *p = capsmodel_entry(one, e), *q = capsmodel_entry(many, e);
        char key[HASH_B64_MAX + 64];
        snprintf(key, sizeof key, "%s", capsmodel_key(one, e));
        assert_string_equal(key, capsmodel_key(many, e));
        assert_string_equal(capsmodel_stripped_key(one, e), capsmodel_stripped_key(many, e));
        assert_int_equal(p->algo, q->algo);
        assert_int_equal(p->flags, q->flags);
        assert_int_equal(p->observations, q->observations);
        assert_int_equal(p->xml_bytes, q->xml_bytes);
        assert_int_equal(p->s_bytes, q->s_bytes);
        assert_string_equal(str_of(one, p->node), str_of(many, q->node));
        assert_string_equal(str_of(one, p->software), str_of(many, q->software));
        assert_string_equal(str_of(one, p->version), str_of(many, q->version));
        assert_string_equal(str_of(one, p->os), str_of(many, q->os));
        assert_string_equal(str_of(one, p->idset), str_of(many, q->idset));
        /* feature sets: the same strings (ids may differ) */
        const struct cm_fset *f1 = capsmodel_fset(one, p->fset), *f2 = capsmodel_fset(many, q->fset);
        assert_int_equal(f1->n, f2->n);
        char **v1 = xcalloc(f1->n + 1, sizeof *v1), **v2 = xcalloc(f2->n + 1, sizeof *v2);
        for (uint32_t k = 0; k < f1->n; k++) {
            v1[k] = (char *)str_of(one, f1->features[k]);
            v2[k] = (char *)str_of(many, f2->features[k]);
        }
        qsort(v1, f1->n, sizeof *v1, cmp_strp);
        qsort(v2, f2->n, sizeof *v2, cmp_strp);
        for (uint32_t k = 0; k < f1->n; k++)
            assert_string_equal(v1[k], v2[k]);
        free(v1);
        free(v2);
    }
    for (size_t i = 0; i < n; i++)
        capsmodel_prepared_free(&prep[i]);
    free(prep);
    free(batch);
    capsmodel_free(one);
    capsmodel_free(many);
}

/* analysis_run without a database: the counterfactual agrees with the
 * model, LRU hit rates grow with capacity and never fall when XEP-0232
 * keys merge (stack distances can only shrink), and the report renders. */
static void test_analysis_without_database(void **state)
{
    struct capsmodel *m = build();
    struct analysis_params p = {.presences = 200000, .rate = 100, .seed = 7,
                                .roster = 50, .online = 0.3, .rooms = 3,
                                .room_size = 30};
    struct pg_err err = {0};
    json_t *r = analysis_run(NULL, &p, m, &err);
    assert_non_null(r);
    json_t *ds = json_object_get(r, "dataset");
    json_t *cf = json_object_get(r, "xep0232");
    assert_int_equal(json_integer_value(json_object_get(ds, "entries")), 1567);
    assert_int_equal(json_integer_value(json_object_get(ds, "nodever_keys")), 1611);
    assert_int_equal(json_integer_value(json_object_get(ds, "distinct_features")), 292);
    assert_int_equal(json_integer_value(json_object_get(ds, "software_nodes")), 71);
    assert_int_equal(json_integer_value(json_object_get(cf, "entries_without")),
                     capsmodel_stripped_count(m));
    size_t si = 0;
    for (uint32_t i = 0; i < capsmodel_count(m); i++)
        si += (capsmodel_entry(m, i)->flags & CM_SOFTINFO) != 0;
    assert_int_equal(json_integer_value(json_object_get(ds, "entries_with_xep0232")), si);
    /* the per-software rows add up */
    json_t *by = json_object_get(cf, "by_software");
    json_int_t sum = 0, sum_without = 0;
    for (size_t i = 0; i < json_array_size(by); i++) {
        sum += json_integer_value(json_object_get(json_array_get(by, i), "entries"));
        sum_without += json_integer_value(
            json_object_get(json_array_get(by, i), "entries_without_xep0232"));
    }
    assert_int_equal(sum, 1567);
    assert_true(sum_without >= (json_int_t)capsmodel_stripped_count(m));
    json_t *caches = json_object_get(json_object_get(r, "hit_rate"), "caches");
    assert_int_equal(json_array_size(caches), 4);
    double prev = -1;
    const int lru[] = {0, 2, 3}; /* Smack 1k, Prosody 10k, unbounded */
    for (size_t k = 0; k < 3; k++) {
        json_t *row = json_array_get(caches, lru[k]);
        double w = json_real_value(json_object_get(
            json_object_get(row, "with_xep0232"), "hit_rate"));
        double wo = json_real_value(json_object_get(
            json_object_get(row, "without_xep0232"), "hit_rate"));
        assert_true(w >= prev);
        assert_true(wo >= w);
        prev = w;
    }
    char dir[] = "/tmp/xc-report-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_true(analysis_write_report(dir, r));
    static const char *const files[] = {"report.md", "analysis.json",
                                        "hit_rates.csv", "xep0232_by_software.csv",
                                        "sizes.csv", "pep.csv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char head[4096] = {0};
        assert_true(fread(head, 1, sizeof head - 1, f) > 0);
        fclose(f);
        if (i == 0)
            assert_non_null(strstr(head, "| entries by (algorithm, ver) | 1567 |"));
        unlink(path);
    }
    rmdir(dir);
    json_decref(r);
    capsmodel_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_match_independent),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_search_scan_equals_index),
        cmocka_unit_test(test_counterfactual_matches_text_strip),
        cmocka_unit_test(test_many_equals_one_by_one),
        cmocka_unit_test(test_analysis_without_database),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
