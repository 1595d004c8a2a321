/*
 * One analysis of the caps cache: load, measure, simulate, report. Every
 * figure goes into one JSON document first; the Markdown and CSV files are
 * rendered from it, so the report can only say what the data says.
 */
#include "analysis.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "cachesim.h"
#include "disco.h"
#include "log.h"
#include "strtab.h"
#include "xalloc.h"

/* The caches real software keeps (../shared/DESIGN.md §7). */
static const struct {
    const char *name;
    size_t capacity; /* 0 = unbounded */
    int64_t ttl_ms;  /* 0 = none */
} caches[] = {
    {"Smack (LRU 1,000)", 1000, 0},
    {"ejabberd (1,000 for 1 h)", 1000, 3600 * 1000},
    {"Prosody (LRU 10,000)", 10000, 0},
    {"unbounded (Gajim, Openfire)", 0, 0},
};

long analysis_load_xml(struct pg_conn *c, struct analysis_params *p,
                       struct capsmodel *m, struct pg_err *err)
{
    struct buf names = BUF_INIT;
    for (size_t i = 0; i < p->n_sources; i++) {
        if (i)
            buf_putc(&names, '\n');
        buf_puts(&names, p->sources[i]);
    }
    const char *params[] = {p->n_sources ? buf_str(&names) : NULL};
    struct pg_result *r = pg_query(
        c,
        "SELECT o.algo, o.ver, o.node, sum(o.count)::bigint, c.xml, "
        "       octet_length(c.xml), e.outcome = 'valid' "
        "FROM caps_observations o "
        "JOIN sources s ON s.id = o.source_id "
        "JOIN caps_entries e ON e.algo = o.algo AND e.ver = o.ver "
        "JOIN disco_contents c ON c.id = e.content_id "
        "WHERE ($1::text IS NULL OR s.name = ANY (string_to_array($1, E'\\n'))) "
        "  AND e.outcome IN ('valid', 'ill-formed') AND e.matched_by IS NOT NULL "
        "GROUP BY e.id, o.algo, o.ver, o.node, c.xml, e.outcome "
        "ORDER BY e.id, o.node COLLATE \"C\"",
        1, params, err);
    if (r == NULL) {
        buf_free(&names);
        return -1;
    }
    bool found;
    char *crawled = pg_query_value(
        c,
        "SELECT coalesce(bool_or(kind IN ('crawl', 'testnet')), false) "
        "FROM sources WHERE $1::text IS NULL "
        "OR name = ANY (string_to_array($1, E'\\n'))",
        1, params, &found, err);
    buf_free(&names);
    if (crawled == NULL) {
        pg_clear(r);
        return -1;
    }
    p->observed_popularity = strcmp(crawled, "t") == 0;
    free(crawled);
    long rows = pg_nrows(r);
    for (long i = 0; i < rows; i++) {
        enum hash_algo a;
        if (!hash_algo_parse(pg_value(r, (int)i, 0), &a))
            continue; /* only verified entries: cannot happen */
        const char *xml = pg_value(r, (int)i, 4);
        struct parse_err perr = {0};
        struct disco_info *info = disco_parse(xml, strlen(xml), NULL, &perr);
        if (info == NULL) {
            log_warn("stored disco#info of %s did not parse again: %s",
                     pg_value(r, (int)i, 1), perr.msg);
            continue;
        }
        struct cm_input in = {
            .algo = a,
            .ver = pg_value(r, (int)i, 1),
            .node = pg_value(r, (int)i, 2),
            .info = info,
            .observations = strtoull(pg_value(r, (int)i, 3), NULL, 10),
            .xml_bytes = strtoull(pg_value(r, (int)i, 5), NULL, 10),
            .verified = strcmp(pg_value(r, (int)i, 6), "t") == 0,
        };
        capsmodel_add(m, &in);
        disco_info_free(info);
    }
    pg_clear(r);
    return rows;
}

/* --- sizes ------------------------------------------------------------- */

/* The entries analysed, as SQL: the same filter as analysis_load(). */
#define SELECTED_ENTRIES                                                       \
    "SELECT DISTINCT e.id, e.algo, e.ver, e.content_id "                       \
    "FROM caps_observations o "                                                \
    "JOIN sources s ON s.id = o.source_id "                                    \
    "JOIN caps_entries e ON e.algo = o.algo AND e.ver = o.ver "                \
    "WHERE ($1::text IS NULL OR s.name = ANY (string_to_array($1, E'\\n'))) "  \
    "  AND e.outcome IN ('valid', 'ill-formed') AND e.matched_by IS NOT NULL"

static bool exec_param(struct pg_conn *c, const char *sql, const char *arg,
                       struct pg_err *err)
{
    const char *params[] = {arg};
    struct pg_result *r = pg_query(c, sql, 1, params, err);
    pg_clear(r);
    return r != NULL;
}

static long long query_ll(struct pg_conn *c, const char *sql, struct pg_err *err)
{
    bool found;
    char *v = pg_query_value(c, sql, 0, NULL, &found, err);
    long long n = v ? atoll(v) : -1;
    free(v);
    return n;
}

/* Builds, from the stored content of the analysed entries, a table shaped
 * like ejabberd's caps_features (one row per feature and node#ver) and a
 * Conversations-style table (one row per entry with its disco#info XML),
 * both with the index their lookups need, and measures their real size in
 * PostgreSQL (heap, TOAST and indexes). */
static bool measure_tables(struct pg_conn *c, const char *sources,
                           long long *eav_bytes, long long *eav_rows,
                           long long *xml_table_bytes, struct pg_err *err)
{
    if (!pg_exec(c,
                 "SET client_min_messages = warning;"
                 "DROP TABLE IF EXISTS pg_temp.xc_sel;"
                 "DROP TABLE IF EXISTS pg_temp.xc_caps_features;"
                 "DROP TABLE IF EXISTS pg_temp.xc_caps_xml;"
                 "RESET client_min_messages",
                 err) ||
        !exec_param(c, "CREATE TEMP TABLE xc_sel AS " SELECTED_ENTRIES, sources,
                    err) ||
        !pg_exec(c,
                 "CREATE TEMP TABLE xc_caps_features AS "
                 "SELECT n.node, x.ver AS subnode, f.var AS feature, "
                 "       extract(epoch FROM n.first_seen)::bigint AS created_at "
                 "FROM xc_sel x JOIN caps_entry_nodes n ON n.entry_id = x.id "
                 "JOIN v_content_features cf ON cf.content_id = x.content_id "
                 "JOIN features f ON f.id = cf.feature_id;"
                 "CREATE INDEX ON xc_caps_features (node, subnode);"
                 "CREATE TEMP TABLE xc_caps_xml AS "
                 "SELECT x.algo, x.ver, c.xml FROM xc_sel x "
                 "JOIN disco_contents c ON c.id = x.content_id;"
                 "CREATE UNIQUE INDEX ON xc_caps_xml (algo, ver);"
                 "ANALYZE xc_caps_features; ANALYZE xc_caps_xml",
                 err))
        return false;
    *eav_rows = query_ll(c, "SELECT count(*) FROM xc_caps_features", err);
    *eav_bytes = query_ll(c, "SELECT pg_total_relation_size('xc_caps_features')", err);
    *xml_table_bytes = query_ll(c, "SELECT pg_total_relation_size('xc_caps_xml')", err);
    return *eav_rows >= 0 && *eav_bytes >= 0 && *xml_table_bytes >= 0 &&
           pg_exec(c, "DROP TABLE xc_sel; DROP TABLE xc_caps_features; "
                      "DROP TABLE xc_caps_xml", err);
}

/* v scaled by share; -1 (not measured) stays -1. */
static json_int_t scaled(long long v, double share)
{
    return v < 0 ? -1 : (json_int_t)llround((double)v * share);
}

/* The cache without XEP-0232: one entry per stripped key. XML and S are
 * exact (each stripped key's first entry, its forms' bytes taken off); the
 * two PostgreSQL relations and the interned model are scaled from their
 * measured size by the rows (features) and entries that remain. */
static json_t *sizes_without(const struct capsmodel *m, long long eav_rows,
                             long long eav_bytes, long long xml_table)
{
    size_t n = capsmodel_count(m), ns = capsmodel_stripped_count(m);
    char *seen = xcalloc(ns ? ns : 1, 1);
    uint64_t refs = 0, refs_without = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct cm_entry *e = capsmodel_entry(m, i);
        uint32_t nf = capsmodel_fset(m, e->fset)->n;
        refs += nf;
        if (!seen[e->stripped]) {
            seen[e->stripped] = 1;
            refs_without += nf;
        }
    }
    free(seen);
    uint64_t xml, sb;
    capsmodel_stripped_sizes(m, &xml, &sb);
    double rows_share = refs ? (double)refs_without / (double)refs : 1;
    double entry_share = n ? (double)ns / (double)n : 1;
    json_t *o = json_object();
    json_object_set_new(o, "entries", json_integer((json_int_t)ns));
    json_object_set_new(o, "xml_bytes_total", json_integer((json_int_t)xml));
    json_object_set_new(o, "verification_string_bytes_total", json_integer((json_int_t)sb));
    json_object_set_new(o, "eav_rows", json_integer(scaled(eav_rows, rows_share)));
    json_object_set_new(o, "eav_relation_bytes",
                        json_integer(scaled(eav_bytes, rows_share)));
    json_object_set_new(o, "xml_relation_bytes",
                        json_integer(scaled(xml_table, entry_share)));
    json_object_set_new(o, "interned_model_bytes",
                        json_integer((json_int_t)llround((double)capsmodel_memory(m) * entry_share)));
    json_object_set_new(o, "method", json_string("xml and verification strings exact; relations "
                                                 "and model scaled by remaining feature rows "
                                                 "and entries"));
    return o;
}

/* --- per software -------------------------------------------------------- */

struct sw_row {
    uint32_t node;
    uint32_t entries, softinfo, stripped;
    uint64_t observations;
};

static int cmp_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

/* Ties between software with as many entries go by node name, so the
 * order (and the popularity drawn from it) does not depend on the order in
 * which strings were interned. */
static int cmp_sw(const void *a, const void *b, void *strings)
{
    const struct sw_row *x = a, *y = b;
    if (x->entries != y->entries)
        return x->entries > y->entries ? -1 : 1;
    if (x->node == y->node)
        return 0;
    if (x->node == CM_NONE || y->node == CM_NONE)
        return x->node == CM_NONE ? 1 : -1;
    return strcmp(strtab_str(strings, x->node), strtab_str(strings, y->node));
}

/* Rows per caps node, sorted by entries, descending. */
static struct sw_row *per_software(const struct capsmodel *m, size_t *n_out)
{
    size_t n = capsmodel_count(m);
    uint64_t *pairs = xcalloc(n ? n : 1, sizeof *pairs);
    for (uint32_t i = 0; i < n; i++) {
        const struct cm_entry *e = capsmodel_entry(m, i);
        pairs[i] = ((uint64_t)e->node << 32) | e->stripped;
    }
    qsort(pairs, n, sizeof *pairs, cmp_pair);
    struct sw_row *rows = xcalloc(n ? n : 1, sizeof *rows);
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t node = (uint32_t)(pairs[i] >> 32);
        if (nr == 0 || rows[nr - 1].node != node)
            rows[nr++] = (struct sw_row){.node = node};
        if (i == 0 || pairs[i] != pairs[i - 1])
            rows[nr - 1].stripped++;
    }
    free(pairs);
    for (uint32_t i = 0; i < n; i++) {
        const struct cm_entry *e = capsmodel_entry(m, i);
        for (size_t k = 0; k < nr; k++) {
            if (rows[k].node == e->node) {
                rows[k].entries++;
                rows[k].softinfo += (e->flags & CM_SOFTINFO) != 0;
                rows[k].observations += e->observations;
                break;
            }
        }
    }
    qsort_r(rows, nr, sizeof *rows, cmp_sw, (void *)capsmodel_strings(m));
    *n_out = nr;
    return rows;
}

/* --- presence stream ------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: reproducible from the seed */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Cumulative popularity of each entry: its observation counts when they
 * come from a crawl; else (an imported collection such as capsdb holds
 * each entry once and says nothing of popularity) Zipf(1) over software
 * ranked by its number of entries without XEP-0232, with a software's
 * entries equally likely.
 * Sets *method. */
static double *popularity(const struct capsmodel *m, const struct sw_row *sw,
                          size_t nsw, bool observed, const char **method)
{
    size_t n = capsmodel_count(m);
    double *cdf = xcalloc(n ? n : 1, sizeof *cdf);
    if (observed) {
        *method = "observation counts";
        for (uint32_t i = 0; i < n; i++)
            cdf[i] = (double)capsmodel_entry(m, i)->observations;
    } else {
        *method = "synthetic: Zipf(1) over software ranked by its entries "
                  "without XEP-0232 (so that the form's own multiplication "
                  "does not count as popularity), uniform over a software's "
                  "entries";
        /* rank[k]: 1 + number of software with more stripped entries */
        size_t *rank = xcalloc(nsw ? nsw : 1, sizeof *rank);
        for (size_t k = 0; k < nsw; k++) {
            rank[k] = 1;
            for (size_t j = 0; j < nsw; j++)
                if (sw[j].stripped > sw[k].stripped ||
                    (sw[j].stripped == sw[k].stripped && j < k))
                    rank[k]++;
        }
        for (uint32_t i = 0; i < n; i++) {
            const struct cm_entry *e = capsmodel_entry(m, i);
            for (size_t k = 0; k < nsw; k++)
                if (sw[k].node == e->node) {
                    cdf[i] = 1.0 / (double)rank[k] / sw[k].entries;
                    break;
                }
        }
        free(rank);
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += cdf[i];
        cdf[i] = sum;
    }
    for (size_t i = 0; i < n; i++)
        cdf[i] /= sum > 0 ? sum : 1;
    return cdf;
}

static uint32_t draw(const double *cdf, size_t n, uint64_t *rng)
{
    double u = (double)(rng_next(rng) >> 11) / 9007199254740992.0;
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint32_t)lo;
}

/* The cache sizes of the hit-rate curve (0 = unbounded, last). */
static const size_t curve_sizes[] = {10, 30, 100, 300, 1000, 3000, 10000,
                                     30000, 100000, 300000, 1000000, 0};

/* Replays stream[0..n) (entry indexes, one per presence) through an LRU of
 * capacity and ttl_ms, by entry or by stripped key. */
static struct cachesim_stats replay(const struct capsmodel *m, const uint32_t *stream,
                                    uint64_t n, size_t capacity, int64_t ttl_ms,
                                    bool without, double rate)
{
    struct cachesim *sim = cachesim_new(capacity, ttl_ms);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t key = without ? capsmodel_entry(m, stream[i])->stripped : stream[i];
        cachesim_access(sim, key, (int64_t)((double)i * 1000.0 / rate));
    }
    struct cachesim_stats st = *cachesim_stats(sim);
    cachesim_free(sim);
    return st;
}

static json_t *hit_rates(const struct capsmodel *m, const double *cdf,
                         const struct analysis_params *p, json_t **curve_out)
{
    size_t n = capsmodel_count(m);
    uint64_t np = n > 0 ? p->presences : 0;
    uint32_t *stream = xcalloc(np ? np : 1, sizeof *stream);
    uint64_t rng = p->seed ? p->seed : 1;
    for (uint64_t i = 0; i < np; i++)
        stream[i] = draw(cdf, n, &rng);
    json_t *arr = json_array();
    for (size_t c = 0; c < ARRAY_LEN(caches); c++) {
        json_t *row = json_object();
        json_object_set_new(row, "cache", json_string(caches[c].name));
        json_object_set_new(row, "capacity", json_integer((json_int_t)caches[c].capacity));
        json_object_set_new(row, "ttl_s", json_integer(caches[c].ttl_ms / 1000));
        for (int without = 0; without < 2; without++) {
            struct cachesim_stats st = replay(m, stream, np, caches[c].capacity,
                                              caches[c].ttl_ms, without, p->rate);
            json_t *r = json_object();
            double acc = st.accesses ? (double)st.accesses : 1;
            json_object_set_new(r, "hit_rate", json_real((double)st.hits / acc));
            json_object_set_new(r, "queries_per_1000",
                                json_real(1000.0 * (double)st.misses / acc));
            json_object_set_new(r, "peak_entries", json_integer((json_int_t)st.peak_size));
            json_object_set_new(r, "evictions", json_integer((json_int_t)st.evictions));
            json_object_set_new(row, without ? "without_xep0232" : "with_xep0232", r);
        }
        json_array_append_new(arr, row);
    }
    /* the curve: LRU caches without a time to live, by capacity */
    json_t *curve = json_array();
    for (size_t c = 0; c < ARRAY_LEN(curve_sizes); c++) {
        /* sizes past the first that holds every entry add nothing */
        if (curve_sizes[c] != 0 && c > 0 && curve_sizes[c - 1] >= n)
            continue;
        json_t *row = json_object();
        json_object_set_new(row, "capacity", json_integer((json_int_t)curve_sizes[c]));
        for (int without = 0; without < 2; without++) {
            struct cachesim_stats st =
                replay(m, stream, np, curve_sizes[c], 0, without, p->rate);
            double acc = st.accesses ? (double)st.accesses : 1;
            json_object_set_new(row, without ? "hit_rate_without" : "hit_rate_with",
                                json_real((double)st.hits / acc));
            json_object_set_new(row,
                                without ? "queries_per_1000_without"
                                        : "queries_per_1000_with",
                                json_real(1000.0 * (double)st.misses / acc));
        }
        json_array_append_new(curve, row);
    }
    free(stream);
    *curve_out = curve;
    return arr;
}

/* --- software information in caps or over PEP ----------------------------- */

/* A disco#info request for node#ver to a full JID, as clients send it. */
#define DISCO_REQUEST_BYTES 160
/* A XEP-0163 notification of a XEP-0092-shaped item, without the
 * name/version/os text: <message from to><event xmlns=...#event><items
 * node='jabber:iq:version'><item id='current'><query xmlns=
 * 'jabber:iq:version'><name/><version/><os/></query></item></items></event>
 * </message> with two JIDs of 30 bytes. */
#define PEP_ITEM_ENVELOPE_BYTES 330

/* Per 1,000 logins of one user: each login sends presence to the online
 * contacts and every occupant of the joined rooms; every receiver whose
 * cache misses asks disco#info (the hit rates above, with and without
 * XEP-0232). Over PEP, the caps stay free of the form and each login
 * receives the last software item of every contact (XEP-0163 delivers the
 * last item to a subscriber that comes online); room occupants get none. */
static json_t *pep_model(const struct analysis_params *p, const struct capsmodel *m,
                         json_t *sims, double xml_avg)
{
    size_t si_n;
    double form, text;
    capsmodel_softinfo_sizes(m, &si_n, &form, &text);
    double share = capsmodel_count(m) ? (double)si_n / (double)capsmodel_count(m) : 0;
    double resp_with = xml_avg, resp_without = xml_avg - share * form;
    double receivers = p->roster * p->online + (double)p->rooms * p->room_size;
    double item = PEP_ITEM_ENVELOPE_BYTES + text;
    json_t *o = json_object();
    json_object_set_new(o, "roster", json_integer(p->roster));
    json_object_set_new(o, "online_share", json_real(p->online));
    json_object_set_new(o, "rooms", json_integer(p->rooms));
    json_object_set_new(o, "room_size", json_integer(p->room_size));
    json_object_set_new(o, "presence_receivers_per_login", json_real(receivers));
    json_object_set_new(o, "disco_request_bytes", json_integer(DISCO_REQUEST_BYTES));
    json_object_set_new(o, "disco_response_bytes_with", json_real(resp_with));
    json_object_set_new(o, "disco_response_bytes_without", json_real(resp_without));
    json_object_set_new(o, "form_bytes", json_real(form));
    json_object_set_new(o, "pep_item_bytes", json_real(item));
    json_t *rows = json_array();
    for (size_t i = 0; i < json_array_size(sims); i++) {
        json_t *c = json_array_get(sims, i);
        double qw = json_real_value(json_object_get(json_object_get(c, "with_xep0232"),
                                                    "queries_per_1000"));
        double qo = json_real_value(json_object_get(json_object_get(c, "without_xep0232"),
                                                    "queries_per_1000"));
        /* per 1,000 logins: receivers presences each, queries per presence */
        double dq = receivers * qw, pq = receivers * qo;
        double items = 1000.0 * p->roster;
        json_t *r = json_object();
        json_object_set(r, "cache", json_object_get(c, "cache"));
        json_object_set_new(r, "disco_queries", json_real(dq));
        json_object_set_new(r, "disco_bytes", json_real(dq * (DISCO_REQUEST_BYTES + resp_with)));
        json_object_set_new(r, "pep_disco_queries", json_real(pq));
        json_object_set_new(r, "pep_items", json_real(items));
        json_object_set_new(r, "pep_bytes",
                            json_real(pq * (DISCO_REQUEST_BYTES + resp_without) + items * item));
        json_array_append_new(rows, r);
    }
    json_object_set_new(o, "per_1000_logins", rows);
    return o;
}

/* --- the analysis ---------------------------------------------------------- */

json_t *analysis_run(struct pg_conn *c, const struct analysis_params *p,
                     const struct capsmodel *m, struct pg_err *err)
{
    size_t n = capsmodel_count(m);
    const struct strtab *s = capsmodel_strings(m);
    json_t *root = json_object();

    /* dataset */
    char *seen = xcalloc(strtab_count(s) + 1, 1);
    size_t features = 0, softinfo = 0, os_exposed = 0;
    uint64_t obs = 0, xml_bytes = 0, s_bytes = 0, feature_refs = 0;
    for (size_t f = 0; f < capsmodel_fset_count(m); f++) {
        const struct cm_fset *fs = capsmodel_fset(m, (uint32_t)f);
        for (uint32_t k = 0; k < fs->n; k++)
            if (!seen[fs->features[k]]) {
                seen[fs->features[k]] = 1;
                features++;
            }
    }
    free(seen);
    for (uint32_t i = 0; i < n; i++) {
        const struct cm_entry *e = capsmodel_entry(m, i);
        softinfo += (e->flags & CM_SOFTINFO) != 0;
        os_exposed += e->os != CM_NONE;
        obs += e->observations;
        xml_bytes += e->xml_bytes;
        s_bytes += e->s_bytes;
        feature_refs += capsmodel_fset(m, e->fset)->n;
    }
    size_t nsw;
    struct sw_row *sw = per_software(m, &nsw);
    json_t *ds = json_object();
    json_t *srcs = json_array();
    for (size_t i = 0; i < p->n_sources; i++)
        json_array_append_new(srcs, json_string(p->sources[i]));
    json_object_set_new(ds, "sources", srcs);
    json_object_set_new(ds, "entries", json_integer((json_int_t)n));
    json_object_set_new(ds, "nodever_keys", json_integer((json_int_t)capsmodel_nodever_count(m)));
    json_object_set_new(ds, "software_nodes", json_integer((json_int_t)capsmodel_node_count(m)));
    json_object_set_new(ds, "observations", json_integer((json_int_t)obs));
    json_object_set_new(ds, "distinct_features", json_integer((json_int_t)features));
    json_object_set_new(ds, "distinct_feature_sets",
                        json_integer((json_int_t)capsmodel_fset_count(m)));
    json_object_set_new(ds, "features_per_entry",
                        json_real(n ? (double)feature_refs / (double)n : 0));
    json_object_set_new(ds, "entries_with_xep0232", json_integer((json_int_t)softinfo));
    json_object_set_new(ds, "entries_exposing_os", json_integer((json_int_t)os_exposed));
    json_object_set_new(root, "dataset", ds);

    /* sizes */
    long long eav_bytes = -1, eav_rows = 0, xml_table = -1;
    struct buf names = BUF_INIT;
    for (size_t i = 0; i < p->n_sources; i++) {
        if (i)
            buf_putc(&names, '\n');
        buf_puts(&names, p->sources[i]);
    }
    bool measured = c == NULL ||
                    measure_tables(c, p->n_sources ? buf_str(&names) : NULL,
                                   &eav_bytes, &eav_rows, &xml_table, err);
    buf_free(&names);
    if (!measured) {
        free(sw);
        json_decref(root);
        return NULL;
    }
    json_t *sz = json_object();
    json_object_set_new(sz, "xml_bytes_total", json_integer((json_int_t)xml_bytes));
    json_object_set_new(sz, "verification_string_bytes_total", json_integer((json_int_t)s_bytes));
    json_object_set_new(sz, "eav_rows", json_integer(eav_rows));
    json_object_set_new(sz, "eav_relation_bytes", json_integer(eav_bytes));
    json_object_set_new(sz, "xml_relation_bytes", json_integer(xml_table));
    json_object_set_new(sz, "interned_model_bytes", json_integer((json_int_t)capsmodel_memory(m)));
    json_object_set_new(sz, "without_xep0232",
                        sizes_without(m, eav_rows, eav_bytes, xml_table));
    json_object_set_new(root, "sizes", sz);

    /* XEP-0232 counterfactual */
    size_t stripped = capsmodel_stripped_count(m);
    json_t *cf = json_object();
    json_object_set_new(cf, "entries_with", json_integer((json_int_t)n));
    json_object_set_new(cf, "entries_without", json_integer((json_int_t)stripped));
    json_object_set_new(cf, "entries_collapsed", json_integer((json_int_t)(n - stripped)));
    json_t *by = json_array();
    for (size_t k = 0; k < nsw; k++) {
        json_t *r = json_object();
        json_object_set_new(r, "node", json_string(sw[k].node != CM_NONE
                                                       ? strtab_str(s, sw[k].node)
                                                       : "(unknown)"));
        json_object_set_new(r, "entries", json_integer(sw[k].entries));
        json_object_set_new(r, "with_xep0232", json_integer(sw[k].softinfo));
        json_object_set_new(r, "entries_without_xep0232", json_integer(sw[k].stripped));
        json_object_set_new(r, "observations", json_integer((json_int_t)sw[k].observations));
        json_array_append_new(by, r);
    }
    json_object_set_new(cf, "by_software", by);
    json_object_set_new(root, "xep0232", cf);

    /* hit rates */
    const char *pop_method;
    double *cdf = popularity(m, sw, nsw, p->observed_popularity, &pop_method);
    json_t *hr = json_object();
    json_object_set_new(hr, "popularity", json_string(pop_method));
    json_object_set_new(hr, "presences", json_integer((json_int_t)p->presences));
    json_object_set_new(hr, "rate_per_s", json_real(p->rate));
    json_object_set_new(hr, "seed", json_integer((json_int_t)p->seed));
    json_t *curve = NULL;
    json_object_set_new(hr, "caches", hit_rates(m, cdf, p, &curve));
    json_object_set_new(hr, "curve", curve);
    json_object_set_new(root, "hit_rate", hr);
    json_object_set_new(root, "pep", pep_model(p, m, json_object_get(hr, "caches"),
                                               n ? (double)xml_bytes / (double)n : 0));
    free(cdf);
    free(sw);

    json_t *meta = json_object();
    json_object_set_new(meta, "xcensus_version", json_string(XC_VERSION));
    json_object_set_new(root, "meta", meta);
    return root;
}

long long analysis_store(struct pg_conn *c, const struct analysis_params *p,
                         json_t *results, struct pg_err *err)
{
    struct buf names = BUF_INIT;
    for (size_t i = 0; i < p->n_sources; i++) {
        if (i)
            buf_putc(&names, '\n');
        buf_puts(&names, p->sources[i]);
    }
    json_t *params = json_pack("{s:I, s:f, s:I, s:I, s:f, s:I, s:I}", "presences",
                               (json_int_t)p->presences, "rate_per_s", p->rate, "seed",
                               (json_int_t)p->seed, "roster", (json_int_t)p->roster,
                               "online", p->online, "rooms", (json_int_t)p->rooms,
                               "room_size", (json_int_t)p->room_size);
    char *pj = json_dumps(params, JSON_COMPACT);
    char *rj = json_dumps(results, JSON_COMPACT);
    const char *args[] = {XC_VERSION, p->n_sources ? buf_str(&names) : NULL, pj, rj};
    bool found;
    char *id = pg_query_value(
        c,
        "INSERT INTO analysis_runs (xcensus_version, source_ids, params, results) "
        "SELECT $1, coalesce((SELECT array_agg(id ORDER BY id) FROM sources "
        "  WHERE $2::text IS NULL OR name = ANY (string_to_array($2, E'\\n'))), "
        "  '{}'), $3::jsonb, $4::jsonb RETURNING id",
        4, args, &found, err);
    long long v = id ? atoll(id) : -1;
    free(id);
    free(pj);
    free(rj);
    json_decref(params);
    buf_free(&names);
    return v;
}
