/*
 * capsdb JSON Lines import. Reading and verifying happen in C; the rows go
 * to temporary stage tables by COPY (text format) and are merged into the
 * schema by a fixed sequence of INSERT ... SELECT ... ON CONFLICT, all in
 * one transaction: either the whole file's good lines are stored or
 * nothing is. Identical disco#info answers (same SHA-256 of the raw XML)
 * are normalized once. Memory is bounded by flushing the stage buffers
 * to the server every few MiB.
 */
#include "capsdb.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "disco.h"
#include "hash.h"
#include "log.h"
#include "pg.h"
#include "softinfo.h"
#include "xalloc.h"

/* ------------------------------------------------------------------ */
/* JSON line parsing                                                   */
/* ------------------------------------------------------------------ */

static bool set_err(struct parse_err *err, int code, int column,
                    const char *fmt, ...) PRINTF_LIKE(4, 5);

static bool set_err(struct parse_err *err, int code, int column,
                    const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    err->line = 0;
    err->column = column;
    va_start(ap, fmt);
    if (vsnprintf(err->msg, sizeof err->msg, fmt, ap) < 0)
        err->msg[0] = '\0';
    va_end(ap);
    return false;
}

/* Copies string field key of obj into *out; required fields must exist. */
static bool get_string(json_t *obj, const char *key, bool required, size_t max,
                       char **out, size_t *out_len, struct parse_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return set_err(err, CAPSDB_ERR_FIELD, 0, "missing field \"%s\"",
                           key);
        return true;
    }
    if (!json_is_string(v))
        return set_err(err, CAPSDB_ERR_FIELD, 0, "field \"%s\" is not a string",
                       key);
    size_t n = json_string_length(v);
    if (max && n > max)
        return set_err(err, CAPSDB_ERR_FIELD, 0,
                       "field \"%s\" is longer than %zu bytes", key, max);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', n))
        return set_err(err, CAPSDB_ERR_FIELD, 0,
                       "field \"%s\" contains a NUL character", key);
    *out = xstrndup(s, n);
    if (out_len)
        *out_len = n;
    return true;
}

bool capsdb_parse_line(const char *line, size_t len, struct capsdb_entry *e,
                       struct parse_err *err)
{
    memset(e, 0, sizeof *e);
    e->well_formed = -1;
    memset(err, 0, sizeof *err);
    if (len > CAPSDB_MAX_LINE)
        return set_err(err, CAPSDB_ERR_JSON, 0, "line longer than %u bytes",
                       CAPSDB_MAX_LINE);
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj)
        return set_err(err, CAPSDB_ERR_JSON, jerr.column, "bad JSON: %s",
                       jerr.text);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return set_err(err, CAPSDB_ERR_JSON, 0, "bad JSON: not an object");
    }
    bool ok =
        get_string(obj, "node", true, CAPSDB_MAX_FIELD, &e->node, NULL, err) &&
        get_string(obj, "ver", true, CAPSDB_MAX_FIELD, &e->ver, NULL, err) &&
        get_string(obj, "hash", true, CAPSDB_MAX_ALGO, &e->hash, NULL, err) &&
        get_string(obj, "disco_info_xml", true, 0, &e->xml, &e->xml_len, err) &&
        get_string(obj, "source", false, 4096, &e->origin, NULL, err);
    if (ok && e->node[0] == '\0')
        ok = set_err(err, CAPSDB_ERR_FIELD, 0, "field \"node\" is empty");
    if (ok) {
        json_t *wf = json_object_get(obj, "well_formed");
        if (wf && json_is_boolean(wf))
            e->well_formed = json_is_true(wf) ? 1 : 0;
        else if (wf && !json_is_null(wf))
            ok = set_err(err, CAPSDB_ERR_FIELD, 0,
                         "field \"well_formed\" is not a boolean");
    }
    json_decref(obj);
    if (!ok)
        capsdb_entry_free(e);
    return ok;
}

void capsdb_entry_free(struct capsdb_entry *e)
{
    free(e->node);
    free(e->ver);
    free(e->hash);
    free(e->xml);
    free(e->origin);
    memset(e, 0, sizeof *e);
    e->well_formed = -1;
}

char *capsdb_default_source(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (n == 0)
        return xstrdup("import");
    return xstrndup(base, n);
}

/* ------------------------------------------------------------------ */
/* Bounded line reader                                                 */
/* ------------------------------------------------------------------ */

/* Reads one line into b (without '\n'); *too_long when it exceeded max
 * (the rest of the line is consumed and dropped). False at end of file. */
static bool read_line(FILE *f, struct buf *b, size_t max, bool *too_long)
{
    buf_reset(b);
    *too_long = false;
    char chunk[8192];
    size_t n = 0;
    bool any = false;
    int ch;
    /* byte by byte (getc_unlocked is a macro): a NUL byte in the line stays
     * in it and makes it bad JSON, instead of cutting it short */
    while ((ch = getc_unlocked(f)) != EOF) {
        any = true;
        if (ch == '\n')
            break;
        if (*too_long)
            continue;
        chunk[n++] = (char)ch;
        if (n == sizeof chunk) {
            if (b->len + n > max)
                *too_long = true;
            else
                buf_append(b, chunk, n);
            n = 0;
        }
    }
    if (!*too_long && n > 0) {
        if (b->len + n > max)
            *too_long = true;
        else
            buf_append(b, chunk, n);
    }
    return any;
}

/* ------------------------------------------------------------------ */
/* Digest set: which contents this import has staged already           */
/* ------------------------------------------------------------------ */

struct digest_set {
    unsigned char (*keys)[32];
    bool *used;
    size_t cap, n;
};

static uint64_t digest_slot(const unsigned char *d)
{
    uint64_t h;
    memcpy(&h, d, sizeof h);
    return h;
}

/* Adds d; returns false if it was already there. */
static bool digest_set_add(struct digest_set *s, const unsigned char d[32])
{
    if (2 * (s->n + 1) > s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 1024;
        unsigned char(*nk)[32] = xcalloc(ncap, 32);
        bool *nu = xcalloc(ncap, sizeof *nu);
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->used[i])
                continue;
            size_t j = digest_slot(s->keys[i]) & (ncap - 1);
            while (nu[j])
                j = (j + 1) & (ncap - 1);
            memcpy(nk[j], s->keys[i], 32);
            nu[j] = true;
        }
        free(s->keys);
        free(s->used);
        s->keys = nk;
        s->used = nu;
        s->cap = ncap;
    }
    size_t j = digest_slot(d) & (s->cap - 1);
    while (s->used[j]) {
        if (memcmp(s->keys[j], d, 32) == 0)
            return false;
        j = (j + 1) & (s->cap - 1);
    }
    memcpy(s->keys[j], d, 32);
    s->used[j] = true;
    s->n++;
    return true;
}

static void digest_set_free(struct digest_set *s)
{
    free(s->keys);
    free(s->used);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ */
/* Stage tables                                                        */
/* ------------------------------------------------------------------ */

enum stage {
    ST_FVARS,
    ST_CONTENTS,
    ST_IDENTITIES,
    ST_FORMS,
    ST_FIELDS,
    ST_VALUES,
    ST_SOFTINFO,
    ST_CONTACTS,
    ST_ENTRIES,
    ST__COUNT
};

static const struct {
    const char *name;
    const char *columns; /* CREATE TEMP TABLE column list */
} stages[] = {
    [ST_FVARS] = {"st_fvars", "lid int, var text"},
    [ST_CONTENTS] = {"st_contents",
                     "digest text, xml text, identity_count int, "
                     "feature_count int, form_count int, lids int[], "
                     "dup_lids int[], has_softinfo bool"},
    [ST_IDENTITIES] = {"st_identities",
                       "digest text, pos int, category text, type text, "
                       "lang text, name text"},
    [ST_FORMS] =
        {"st_forms",
         "digest text, pos int, form_type text, type text, hidden bool"},
    [ST_FIELDS] = {"st_fields",
                   "digest text, form_pos int, pos int, var text, type text"},
    [ST_VALUES] = {"st_values",
                   "digest text, form_pos int, field_pos int, pos int, "
                   "value text"},
    [ST_SOFTINFO] = {"st_softinfo",
                     "digest text, software text, software_version text, "
                     "os text, os_version text, icon bool"},
    [ST_CONTACTS] = {"st_contacts",
                     "digest text, kind text, pos int, address text"},
    [ST_ENTRIES] = {"st_entries",
                    "line int, algo text, ver text, node text, outcome text, "
                    "error text, matched_by text, s text, computed text, "
                    "digest text, has_softinfo bool"},
};
_Static_assert(ARRAY_LEN(stages) == ST__COUNT, "stage table");

/* Flush the stage buffers to the server beyond this many bytes. */
#define STAGE_FLUSH_BYTES (8u << 20)

/* The features seen by this import: var -> local id. */
struct fmap_slot {
    char *var; /* NULL: free */
    int id;
};

struct fmap {
    struct fmap_slot *slots;
    size_t cap, n;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Returns the id of var, 0 if unknown (ids start at 1). */
static int fmap_get(const struct fmap *m, const char *var)
{
    if (m->cap == 0)
        return 0;
    for (size_t j = str_hash(var) & (m->cap - 1); m->slots[j].var;
         j = (j + 1) & (m->cap - 1))
        if (strcmp(m->slots[j].var, var) == 0)
            return m->slots[j].id;
    return 0;
}

static void fmap_put(struct fmap *m, const char *var, int id)
{
    if (fmap_get(m, var))
        return;
    if (2 * (m->n + 1) > m->cap) {
        size_t ncap = m->cap ? 2 * m->cap : 1024;
        struct fmap_slot *ns = xcalloc(ncap, sizeof *ns);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slots[i].var)
                continue;
            size_t j = str_hash(m->slots[i].var) & (ncap - 1);
            while (ns[j].var)
                j = (j + 1) & (ncap - 1);
            ns[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    size_t j = str_hash(var) & (m->cap - 1);
    while (m->slots[j].var)
        j = (j + 1) & (m->cap - 1);
    m->slots[j].var = xstrdup(var);
    m->slots[j].id = id;
    m->n++;
}

static void fmap_free(struct fmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].var);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

struct importer {
    struct pg_conn *c;
    struct buf st[ST__COUNT];
    size_t staged_bytes;
    struct digest_set seen;
    struct fmap features; /* var -> local id (1, 2, ... in this import) */
    int nlocal;
    struct pg_err err;
    bool failed;
};

static bool flush_stages(struct importer *im)
{
    for (int i = 0; i < ST__COUNT && !im->failed; i++) {
        if (im->st[i].len == 0)
            continue;
        char sql[96];
        snprintf(sql, sizeof sql, "COPY %s FROM STDIN", stages[i].name);
        if (!pg_copy_begin(im->c, sql, &im->err) ||
            !pg_copy_put(im->c, im->st[i].data, im->st[i].len, &im->err) ||
            !pg_copy_end(im->c, &im->err))
            im->failed = true;
        buf_reset(&im->st[i]);
    }
    im->staged_bytes = 0;
    return !im->failed;
}

static void col_str(struct buf *b, const char *s)
{
    pg_copy_str(b, s);
    buf_putc(b, '\t');
}

static void col_int(struct buf *b, long long v)
{
    buf_printf(b, "%lld\t", v);
}

static void col_bool(struct buf *b, bool v)
{
    buf_puts(b, v ? "t\t" : "f\t");
}

/* Ends a row: replaces the last tab by a newline. */
static void row_end(struct buf *b)
{
    ASSERT(b->len > 0 && b->data[b->len - 1] == '\t');
    b->data[b->len - 1] = '\n';
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void int_array(struct buf *b, int *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_int);
    buf_putc(b, '{');
    for (size_t i = 0; i < n; i++)
        buf_printf(b, i ? ",%d" : "%d", v[i]);
    buf_puts(b, "}\t");
}

/* Stages the normalized content of info under digest hex. */
static void stage_content(struct importer *im, const char *hex,
                          const struct capsdb_entry *e,
                          const struct disco_info *info,
                          const struct softinfo *si)
{
    /* features: distinct, as local ids that the merge maps to features.id
     * (one st_fvars row per distinct var of the whole import); duplicates
     * are data (XEP-0115 ill-formed) */
    size_t nf = info->n_features;
    const char **fs = xcalloc(nf ? nf : 1, sizeof *fs);
    int *ids = xcalloc(nf ? nf : 1, sizeof *ids);
    int *dups = xcalloc(nf ? nf : 1, sizeof *dups);
    for (size_t i = 0; i < nf; i++)
        fs[i] = info->features[i];
    qsort(fs, nf, sizeof *fs, cmp_strp);
    size_t distinct = 0, ndups = 0;
    for (size_t i = 0; i < nf;) {
        size_t j = i + 1;
        while (j < nf && strcmp(fs[i], fs[j]) == 0)
            j++;
        int lid = fmap_get(&im->features, fs[i]);
        if (!lid) {
            lid = ++im->nlocal;
            fmap_put(&im->features, fs[i], lid);
            struct buf *fb = &im->st[ST_FVARS];
            col_int(fb, lid);
            col_str(fb, fs[i]);
            row_end(fb);
        }
        ids[distinct++] = lid;
        if (j - i > 1)
            dups[ndups++] = lid;
        i = j;
    }

    struct buf *b = &im->st[ST_CONTENTS];
    col_str(b, hex);
    pg_copy_escape(b, e->xml, e->xml_len);
    buf_putc(b, '\t');
    col_int(b, (long long)info->n_identities);
    col_int(b, (long long)distinct);
    col_int(b, (long long)info->n_forms);
    int_array(b, ids, distinct);
    int_array(b, dups, ndups);
    col_bool(b, si->present);
    row_end(b);

    b = &im->st[ST_IDENTITIES];
    for (size_t i = 0; i < info->n_identities; i++) {
        const struct disco_identity *id = &info->identities[i];
        col_str(b, hex);
        col_int(b, (long long)i);
        col_str(b, id->category);
        col_str(b, id->type);
        col_str(b, id->lang);
        col_str(b, id->name);
        row_end(b);
    }

    for (size_t f = 0; f < info->n_forms; f++) {
        const struct dataform *form = info->forms[f];
        const char *ft = NULL;
        enum dataform_ft fts = dataform_form_type(form, &ft);
        b = &im->st[ST_FORMS];
        col_str(b, hex);
        col_int(b, (long long)f);
        col_str(b, ft);
        col_str(b, form->type);
        col_bool(b, fts == DATAFORM_FT_OK || fts == DATAFORM_FT_REPEATED);
        row_end(b);
        for (size_t k = 0; k < form->n_fields; k++) {
            const struct dataform_field *fld = form->fields[k];
            b = &im->st[ST_FIELDS];
            col_str(b, hex);
            col_int(b, (long long)f);
            col_int(b, (long long)k);
            col_str(b, fld->var);
            col_str(b, fld->type[0] ? fld->type : NULL);
            row_end(b);
            b = &im->st[ST_VALUES];
            for (size_t v = 0; v < fld->n_values; v++) {
                col_str(b, hex);
                col_int(b, (long long)f);
                col_int(b, (long long)k);
                col_int(b, (long long)v);
                col_str(b, fld->values[v]);
                row_end(b);
            }
        }
    }

    if (si->present) {
        b = &im->st[ST_SOFTINFO];
        col_str(b, hex);
        col_str(b, si->software);
        col_str(b, si->software_version);
        col_str(b, si->os);
        col_str(b, si->os_version);
        col_bool(b, si->has_icon);
        row_end(b);
    }

    struct softinfo_contacts contacts = {0};
    if (softinfo_contacts_extract(info, &contacts) > 0) {
        b = &im->st[ST_CONTACTS];
        for (size_t i = 0; i < contacts.n; i++) {
            col_str(b, hex);
            col_str(b, contacts.items[i].kind);
            col_int(b, (long long)i);
            col_str(b, contacts.items[i].uri);
            row_end(b);
        }
    }
    softinfo_contacts_free(&contacts);
    free(fs);
    free(ids);
    free(dups);
}

/* Verifies one parsed line and stages it; false with msg on a bad line. */
static bool stage_line(struct importer *im, long line,
                       const struct capsdb_entry *e, struct capsdb_stats *st,
                       struct caps_result *r, char *msg, size_t cap)
{
    struct parse_err perr;
    memset(&perr, 0, sizeof perr);
    struct disco_info *info = disco_parse(e->xml, e->xml_len, NULL, &perr);
    if (!info) {
        snprintf(msg, cap, "unparsable disco_info_xml (%s): %s",
                 disco_err_name((enum disco_err)perr.code), perr.msg);
        return false;
    }
    enum caps_outcome oc =
        caps_verify(info, e->hash, e->ver, CAPS_VERIFY_KEEP_S, r);

    unsigned char d[HASH_MAX_LEN];
    if (!hash_digest(HASH_SHA256, e->xml, e->xml_len, d))
        DIE_BUG("sha-256 unavailable");
    char hex[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);

    struct softinfo si;
    softinfo_extract(info, &si);
    if (digest_set_add(&im->seen, d))
        stage_content(im, hex, e, info, &si);

    struct buf *b = &im->st[ST_ENTRIES];
    const char *matched = caps_result_matched_by(r);
    col_int(b, line);
    col_str(b, e->hash[0] ? e->hash : "");
    col_str(b, e->ver);
    col_str(b, e->node);
    col_str(b, caps_outcome_name(oc));
    col_str(b, caps_error_name(r->error));
    col_str(b, matched);
    col_str(b, r->s_strict.len ? buf_str(&r->s_strict) : NULL);
    col_str(b, r->hash_strict[0] ? r->hash_strict : NULL);
    col_str(b, hex);
    col_bool(b, si.present);
    row_end(b);

    st->outcomes[oc]++;
    if (r->matched_by >= 0 && r->matched_by < CAPS_M__COUNT)
        st->matched[r->matched_by]++;
    else
        st->unmatched++;
    if (e->well_formed >= 0 && (e->well_formed == 1) != (oc != CAPS_ILL_FORMED))
        st->disagree++;
    softinfo_free(&si);
    disco_info_free(info);
    return true;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The merge, in order; $1 is the source id. Rows that may collide with a
 * concurrent writer's (features, contents, entries, entry nodes) are
 * inserted in key order, so that two imports waiting on each other's
 * uncommitted keys cannot deadlock. Each statement's row count is
 * collected where the summary needs it. */
enum merge_count {
    MC_NONE,
    MC_FEATURES,
    MC_CONTENTS,
    MC_ENTRIES,
    MC_OBSERVATIONS
};

static const struct {
    const char *sql;
    int nparams;
    enum merge_count count;
} merge[] = {
    {"INSERT INTO features (var) SELECT var FROM st_fvars ORDER BY var "
     "ON CONFLICT (var) DO NOTHING",
     0, MC_FEATURES},
    /* map[lid] = features.id: local ids are dense from 1 */
    {"WITH m AS (SELECT array_agg(f.id ORDER BY s.lid) AS map "
     "  FROM st_fvars s JOIN features f USING (var)), "
     "ins AS (INSERT INTO disco_contents (digest, xml, identity_count, "
     " feature_count, form_count, feature_ids, duplicate_feature_ids, "
     " has_softinfo) "
     " SELECT DISTINCT ON (c.digest) decode(c.digest, 'hex'), c.xml, "
     " c.identity_count, c.feature_count, c.form_count, "
     " ARRAY(SELECT m.map[l] FROM unnest(c.lids) AS l ORDER BY 1), "
     " ARRAY(SELECT m.map[l] FROM unnest(c.dup_lids) AS l ORDER BY 1), "
     " c.has_softinfo FROM st_contents c CROSS JOIN m ORDER BY c.digest "
     " ON CONFLICT (digest) DO NOTHING "
     " RETURNING id, encode(digest, 'hex') AS digest) "
     "INSERT INTO st_new SELECT id, digest FROM ins",
     0, MC_CONTENTS},
    {"INSERT INTO disco_identities (content_id, pos, category, type, lang, "
     "name) "
     "SELECT n.id, s.pos, s.category, s.type, s.lang, s.name "
     "FROM st_identities s JOIN st_new n USING (digest)",
     0, MC_NONE},
    {"INSERT INTO disco_forms (content_id, pos, form_type, type, "
     "hidden_form_type) "
     "SELECT n.id, s.pos, s.form_type, s.type, s.hidden "
     "FROM st_forms s JOIN st_new n USING (digest)",
     0, MC_NONE},
    {"INSERT INTO disco_form_fields (content_id, form_pos, pos, var, type) "
     "SELECT n.id, s.form_pos, s.pos, s.var, s.type "
     "FROM st_fields s JOIN st_new n USING (digest)",
     0, MC_NONE},
    {"INSERT INTO disco_form_values (content_id, form_pos, field_pos, pos, "
     "value) "
     "SELECT n.id, s.form_pos, s.field_pos, s.pos, s.value "
     "FROM st_values s JOIN st_new n USING (digest)",
     0, MC_NONE},
    {"INSERT INTO softinfo (content_id, software, software_version, os, "
     "os_version, icon) "
     "SELECT n.id, s.software, s.software_version, s.os, s.os_version, s.icon "
     "FROM st_softinfo s JOIN st_new n USING (digest)",
     0, MC_NONE},
    {"INSERT INTO contact_addresses (content_id, kind, pos, address) "
     "SELECT n.id, s.kind, s.pos, s.address "
     "FROM st_contacts s JOIN st_new n USING (digest)",
     0, MC_NONE},
    {"INSERT INTO caps_entries (algo, ver, outcome, error, matched_by, "
     " verification_string, computed_ver, content_id, has_softinfo, "
     "first_source_id) "
     "SELECT DISTINCT ON (s.algo, s.ver) s.algo, s.ver, s.outcome, s.error, "
     "s.matched_by, "
     " s.s, s.computed, c.id, s.has_softinfo, $1::bigint "
     "FROM st_entries s JOIN disco_contents c ON c.digest = decode(s.digest, "
     "'hex') "
     "ORDER BY s.algo, s.ver, s.line "
     "ON CONFLICT (algo, ver) DO NOTHING",
     1, MC_ENTRIES},
    {"INSERT INTO caps_entry_nodes (entry_id, node) "
     "SELECT DISTINCT e.id, s.node FROM st_entries s JOIN caps_entries e USING "
     "(algo, ver) "
     "ORDER BY e.id, s.node "
     "ON CONFLICT (entry_id, node) DO NOTHING",
     0, MC_NONE},
    {"INSERT INTO caps_observations (source_id, service_id, algo, ver, node, "
     "count) "
     "SELECT $1::bigint, NULL::bigint, algo, ver, node, count(*) FROM "
     "st_entries "
     "GROUP BY algo, ver, node "
     "ON CONFLICT (source_id, service_id, algo, ver, node) DO UPDATE "
     "SET count = EXCLUDED.count, last_seen = now() "
     "WHERE caps_observations.count <> EXCLUDED.count",
     1, MC_OBSERVATIONS},
};

static bool run_merge(struct importer *im, const char *source_id,
                      struct capsdb_stats *st)
{
    const char *params[] = {source_id};
    for (size_t i = 0; i < ARRAY_LEN(merge); i++) {
        double t = now_seconds();
        struct pg_result *r =
            pg_query(im->c, merge[i].sql, merge[i].nparams, params, &im->err);
        if (!r)
            return false;
        long long n = pg_cmd_rows(r);
        pg_clear(r);
        log_debug("import merge step %zu: %lld rows in %.1f ms", i, n,
                  (now_seconds() - t) * 1e3);
        switch (merge[i].count) {
        case MC_FEATURES:
            st->new_features = n;
            break;
        case MC_CONTENTS:
            st->new_contents = n;
            break;
        case MC_ENTRIES:
            st->new_entries = n;
            break;
        case MC_OBSERVATIONS:
            st->observations = n;
            break;
        case MC_NONE:
            break;
        }
    }
    return true;
}

/* Creates or finds the source; writes its id into id_out. */
static bool get_source(struct importer *im, const char *name, const char *path,
                       char id_out[32])
{
    json_t *meta =
        json_pack("{s:s, s:s}", "format", "capsdb-jsonl", "file", path);
    char *meta_s = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    const char *p[] = {name, meta_s ? meta_s : "{}"};
    struct pg_result *r = pg_query(im->c,
                                   "INSERT INTO sources (kind, name, metadata) "
                                   "VALUES ('import', $1, $2::jsonb) "
                                   "ON CONFLICT (name) DO NOTHING",
                                   2, p, &im->err);
    free(meta_s);
    if (!r)
        return false;
    pg_clear(r);
    r = pg_query(im->c, "SELECT id, kind FROM sources WHERE name = $1", 1, p,
                 &im->err);
    if (!r)
        return false;
    bool ok = pg_nrows(r) == 1 && strcmp(pg_value(r, 0, 1), "import") == 0;
    if (ok)
        snprintf(id_out, 32, "%s", pg_value(r, 0, 0));
    else
        snprintf(im->err.msg, sizeof im->err.msg,
                 "source \"%s\" exists and is not an import (kind \"%s\")",
                 name, pg_nrows(r) == 1 ? pg_value(r, 0, 1) : "?");
    pg_clear(r);
    return ok;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

enum capsdb_result capsdb_import(struct pg_conn *c, const char *path,
                                 const char *source_name, FILE *errs,
                                 struct capsdb_stats *st)
{
    memset(st, 0, sizeof *st);
    double t0 = now_seconds();
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("could not open \"%s\": %s", path, strerror(errno));
        return CAPSDB_FAILED;
    }
    struct importer im;
    memset(&im, 0, sizeof im);
    im.c = c;
    struct buf line = BUF_INIT;
    struct caps_result r;
    caps_result_init(&r);
    char source_id[32] = "";

    struct buf ddl = BUF_INIT;
    buf_puts(&ddl, "BEGIN; SET LOCAL client_min_messages = warning; ");
    for (int i = 0; i < ST__COUNT; i++)
        buf_printf(&ddl, "CREATE TEMP TABLE %s (%s) ON COMMIT DROP; ",
                   stages[i].name, stages[i].columns);
    buf_puts(
        &ddl,
        "CREATE TEMP TABLE st_new (id bigint, digest text) ON COMMIT DROP");
    if (!pg_exec(c, buf_str(&ddl), &im.err)) {
        im.failed = true;
        goto done;
    }
    if (!get_source(&im, source_name, path, source_id)) {
        im.failed = true;
        goto done;
    }

    long lineno = 0;
    bool too_long;
    while (read_line(f, &line, CAPSDB_MAX_LINE, &too_long)) {
        lineno++;
        if (!too_long && is_blank(line.data ? line.data : "", line.len))
            continue;
        st->read++;
        char msg[400];
        struct capsdb_entry e;
        struct parse_err perr;
        bool ok;
        if (too_long) {
            snprintf(msg, sizeof msg, "line longer than %u bytes",
                     CAPSDB_MAX_LINE);
            ok = false;
        } else if (!capsdb_parse_line(buf_str(&line), line.len, &e, &perr)) {
            if (perr.column > 0)
                snprintf(msg, sizeof msg, "%s (column %d)", perr.msg,
                         perr.column);
            else
                snprintf(msg, sizeof msg, "%s", perr.msg);
            ok = false;
        } else {
            ok = stage_line(&im, lineno, &e, st, &r, msg, sizeof msg);
            capsdb_entry_free(&e);
        }
        if (im.failed)
            goto done;
        if (!ok) {
            st->skipped++;
            fprintf(errs, "%s:%ld: %s\n", path, lineno, msg);
            continue;
        }
        st->imported++;
        im.staged_bytes = 0;
        for (int i = 0; i < ST__COUNT; i++)
            im.staged_bytes += im.st[i].len;
        if (im.staged_bytes > STAGE_FLUSH_BYTES && !flush_stages(&im))
            goto done;
    }
    if (ferror(f)) {
        snprintf(im.err.msg, sizeof im.err.msg, "could not read \"%s\": %s",
                 path, strerror(errno));
        im.failed = true;
        goto done;
    }
    log_debug("import: read and verified %zu lines in %.1f ms", st->read,
              (now_seconds() - t0) * 1e3);
    double t1 = now_seconds();
    if (!flush_stages(&im))
        goto done;
    log_debug("import: staged by COPY in %.1f ms", (now_seconds() - t1) * 1e3);
    if (!run_merge(&im, source_id, st) || !pg_exec(c, "COMMIT", &im.err))
        im.failed = true;

done:
    if (im.failed) {
        struct pg_err ignore;
        if (im.err.sqlstate[0])
            log_error("import of \"%s\" failed: %s (SQLSTATE %s)", path,
                      im.err.msg, im.err.sqlstate);
        else
            log_error("import of \"%s\" failed: %s", path, im.err.msg);
        if (!pg_exec(c, "ROLLBACK", &ignore))
            log_debug("rollback failed: %s", ignore.msg);
    }
    fclose(f);
    buf_free(&line);
    buf_free(&ddl);
    for (int i = 0; i < ST__COUNT; i++)
        buf_free(&im.st[i]);
    digest_set_free(&im.seen);
    fmap_free(&im.features);
    caps_result_free(&r);
    st->seconds = now_seconds() - t0;
    if (im.failed)
        return CAPSDB_FAILED;
    return st->skipped ? CAPSDB_PARTIAL : CAPSDB_IMPORTED;
}
