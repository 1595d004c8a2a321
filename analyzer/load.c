/*
 * The fast loader: the verified caps entries of chosen sources read from
 * the normalised tables (sql/0001_init.sql) with COPY ... TO STDOUT in text
 * format, without parsing any XML:
 *   - features: the interned vars (features), and each content's sorted id
 *     array (disco_contents.feature_ids);
 *   - identities (disco_identities), in document order;
 *   - XEP-0232 forms (disco_forms, disco_form_fields, disco_form_values
 *     of the forms whose FORM_TYPE is softwareinfo), rebuilt as a small
 *     disco_info holding only them, which gives the software facts
 *     (softinfo_extract, as the XML path), the form's part of the strict
 *     verification string S and the bytes it adds to the XML;
 *   - the entries with their observation counts, the stored outcome
 *     (verified: valid or ill-formed with a reproducing computation), the
 *     XML's byte length, S's length, and S itself where a XEP-0232 form is
 *     present (for the counterfactual hash); the few entries with no
 *     strict S stored (ill-formed ones matched by another computation)
 *     come with their XML, which is parsed for them alone.
 * The stored outcome is trusted: nothing is verified again. Identities and
 * forms are held per content, sorted by content id, and found by binary
 * search while the entries stream in (algorithm, ver, node) order, so the
 * model is the one analysis_load_xml() builds.
 */
#include "analysis.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "caps.h"
#include "disco.h"
#include "log.h"
#include "softinfo.h"
#include "strtab.h"
#include "xalloc.h"

#define SOFTINFO_FORM_TYPE "urn:xmpp:dataforms:softwareinfo"
#define MAX_FIELDS 12

/* The entries every query below restricts itself to: verified ones. */
#define VERIFIED "e.outcome IN ('valid', 'ill-formed') AND e.matched_by IS NOT NULL"

/* --- COPY TO STDOUT, text format ----------------------------------------- */

struct copy_out {
    PGconn *c;
    char *row;                 /* the current row (PQfreemem) */
    char *f[MAX_FIELDS];       /* its fields, unescaped in place; NULL: \N */
    size_t len[MAX_FIELDS];
};

static void set_err(PGconn *c, const PGresult *r, struct pg_err *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state ? state : "");
    snprintf(err->msg, sizeof err->msg, "%s", msg ? msg : PQerrorMessage(c));
    size_t n = strlen(err->msg);
    while (n > 0 && (err->msg[n - 1] == '\n' || err->msg[n - 1] == '.'))
        err->msg[--n] = '\0';
}

static bool copy_open(struct copy_out *co, struct pg_conn *c, const char *query,
                      struct pg_err *err)
{
    memset(co, 0, sizeof *co);
    co->c = (PGconn *)c;
    struct buf sql = BUF_INIT;
    buf_printf(&sql, "COPY (%s) TO STDOUT", query);
    PGresult *r = PQexec(co->c, buf_str(&sql));
    buf_free(&sql);
    bool ok = PQresultStatus(r) == PGRES_COPY_OUT;
    if (!ok)
        set_err(co->c, r, err);
    PQclear(r);
    return ok;
}

/* Reads what is left of the COPY and its final result. */
static bool copy_finish(struct copy_out *co, struct pg_err *err)
{
    if (co->row) {
        PQfreemem(co->row);
        co->row = NULL;
    }
    char *row;
    int n;
    while ((n = PQgetCopyData(co->c, &row, 0)) >= 0)
        PQfreemem(row);
    bool ok = true;
    PGresult *r;
    while ((r = PQgetResult(co->c)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && ok) {
            set_err(co->c, r, err);
            ok = false;
        }
        PQclear(r);
    }
    return ok;
}

/* Unescapes one field of the text format in place; returns its length. */
static size_t unescape(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 == n) {
            s[o++] = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
        case 'b': s[o++] = '\b'; break;
        case 'f': s[o++] = '\f'; break;
        case 'n': s[o++] = '\n'; break;
        case 'r': s[o++] = '\r'; break;
        case 't': s[o++] = '\t'; break;
        case 'v': s[o++] = '\v'; break;
        default:
            if (c >= '0' && c <= '7') {
                int v = 0;
                for (int k = 0; k < 3 && i < n && s[i] >= '0' && s[i] <= '7'; k++)
                    v = v * 8 + (s[i++] - '0');
                i--;
                s[o++] = (char)v;
            } else {
                s[o++] = c; /* \\ and anything else stands for itself */
            }
        }
    }
    s[o] = '\0';
    return o;
}

/* Next row into co->f; returns 1, 0 at the end (COPY finished), -1 on an
 * error (err filled). Rows of another width than nf are errors. */
static int copy_next(struct copy_out *co, int nf, struct pg_err *err)
{
    if (co->row) {
        PQfreemem(co->row);
        co->row = NULL;
    }
    int n = PQgetCopyData(co->c, &co->row, 0);
    if (n == -1)
        return copy_finish(co, err) ? 0 : -1;
    if (n < 0) {
        set_err(co->c, NULL, err);
        copy_finish(co, err);
        return -1;
    }
    size_t len = (size_t)n;
    if (len > 0 && co->row[len - 1] == '\n')
        len--;
    co->row[len] = '\0';
    char *p = co->row, *end = co->row + len;
    int k = 0;
    for (;;) {
        char *tab = memchr(p, '\t', (size_t)(end - p));
        char *fe = tab ? tab : end;
        if (k == nf)
            break;
        *fe = '\0';
        if (fe - p == 2 && p[0] == '\\' && p[1] == 'N') {
            co->f[k] = NULL;
            co->len[k] = 0;
        } else {
            co->f[k] = p;
            co->len[k] = unescape(p, (size_t)(fe - p));
        }
        k++;
        if (!tab)
            break;
        p = tab + 1;
    }
    if (k != nf || p > end) {
        snprintf(err->msg, sizeof err->msg, "COPY row of %d fields, expected %d", k, nf);
        err->sqlstate[0] = '\0';
        copy_finish(co, err);
        return -1;
    }
    return 1;
}

/* --- what the loader holds per content ------------------------------------ */

struct ident {
    uint32_t s[4]; /* category, type, lang, name: ids in the loader's strtab */
};

struct content_idents {
    int64_t cid;
    uint32_t start, n; /* range in ld.idents */
};

struct si_rec {
    int64_t cid;
    uint32_t s[4];     /* software, version, os, os_version; STRTAB_NONE: absent */
    bool present;
    uint32_t seg_off, seg_len; /* the forms' part of S, in ld.seg */
    uint32_t form_xml;         /* bytes the forms add to the XML */
};

struct ld {
    struct strtab *tmp;     /* strings read: identities, softinfo, feature vars */
    uint32_t *fvar;         /* feature id -> tmp id (STRTAB_NONE: unknown) */
    uint32_t *fmodel;       /* feature id -> model string id (CM_NONE: not yet) */
    size_t n_f;
    struct ident *idents;
    size_t n_idents, cap_idents;
    struct content_idents *ci;
    size_t n_ci, cap_ci;
    struct si_rec *si;
    size_t n_si, cap_si;
    struct buf seg;
};

static void ld_free(struct ld *l)
{
    strtab_free(l->tmp);
    free(l->fvar);
    free(l->fmodel);
    free(l->idents);
    free(l->ci);
    free(l->si);
    buf_free(&l->seg);
}

static bool parse_i64(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return false;
    char *end;
    long long v = strtoll(s, &end, 10);
    *out = v;
    return *end == '\0';
}

static uint32_t tmp_opt(struct ld *l, const char *s, size_t len)
{
    return s ? strtab_intern(l->tmp, s, len) : STRTAB_NONE;
}

static const char *tmp_str(const struct ld *l, uint32_t id)
{
    return id == STRTAB_NONE ? NULL : strtab_str(l->tmp, id);
}

static bool load_features(struct ld *l, struct pg_conn *c, struct pg_err *err)
{
    struct copy_out co;
    if (!copy_open(&co, c, "SELECT id, var FROM features", err))
        return false;
    int rc;
    while ((rc = copy_next(&co, 2, err)) == 1) {
        int64_t id;
        if (!parse_i64(co.f[0], &id) || id < 0 || id > INT32_MAX || co.f[1] == NULL)
            continue;
        if ((size_t)id >= l->n_f) {
            size_t n = l->n_f ? l->n_f : 1024;
            while (n <= (size_t)id)
                n *= 2;
            l->fvar = xreallocarray(l->fvar, n, sizeof *l->fvar);
            l->fmodel = xreallocarray(l->fmodel, n, sizeof *l->fmodel);
            for (size_t i = l->n_f; i < n; i++)
                l->fvar[i] = l->fmodel[i] = STRTAB_NONE;
            l->n_f = n;
        }
        l->fvar[id] = strtab_intern(l->tmp, co.f[1], co.len[1]);
    }
    return rc == 0;
}

static bool load_identities(struct ld *l, struct pg_conn *c, struct pg_err *err)
{
    struct copy_out co;
    if (!copy_open(&co, c,
                   "SELECT i.content_id, i.category, i.type, i.lang, i.name "
                   "FROM disco_identities i WHERE i.content_id IN "
                   "(SELECT e.content_id FROM caps_entries e WHERE " VERIFIED ") "
                   "ORDER BY i.content_id, i.pos",
                   err))
        return false;
    int rc;
    while ((rc = copy_next(&co, 5, err)) == 1) {
        int64_t cid;
        if (!parse_i64(co.f[0], &cid))
            continue;
        if (l->n_ci == 0 || l->ci[l->n_ci - 1].cid != cid) {
            if (l->n_ci == l->cap_ci) {
                l->cap_ci = l->cap_ci ? l->cap_ci * 2 : 1024;
                l->ci = xreallocarray(l->ci, l->cap_ci, sizeof *l->ci);
            }
            l->ci[l->n_ci++] = (struct content_idents){cid, (uint32_t)l->n_idents, 0};
        }
        if (l->n_idents == l->cap_idents) {
            l->cap_idents = l->cap_idents ? l->cap_idents * 2 : 1024;
            l->idents = xreallocarray(l->idents, l->cap_idents, sizeof *l->idents);
        }
        struct ident *id = &l->idents[l->n_idents++];
        for (int k = 0; k < 4; k++)
            id->s[k] = strtab_intern(l->tmp, co.f[k + 1] ? co.f[k + 1] : "",
                                     co.len[k + 1]);
        l->ci[l->n_ci - 1].n++;
    }
    return rc == 0;
}

/* Works out what the XEP-0232 forms of one content (info holds only them)
 * mean for the model, and records it. */
static void finish_forms(struct ld *l, int64_t cid, struct disco_info *info)
{
    if (l->n_si == l->cap_si) {
        l->cap_si = l->cap_si ? l->cap_si * 2 : 1024;
        l->si = xreallocarray(l->si, l->cap_si, sizeof *l->si);
    }
    struct si_rec *r = &l->si[l->n_si++];
    memset(r, 0, sizeof *r);
    r->cid = cid;
    struct softinfo si;
    r->present = softinfo_extract(info, &si);
    const char *v[4] = {si.software, si.software_version, si.os, si.os_version};
    for (int k = 0; k < 4; k++)
        r->s[k] = tmp_opt(l, v[k], v[k] ? strlen(v[k]) : 0);
    softinfo_free(&si);
    /* S of a disco_info holding only the forms is the forms' part of S */
    size_t off = l->seg.len;
    caps_build_s(info, CAPS_M_STRICT, &l->seg, NULL);
    r->seg_off = (uint32_t)off;
    r->seg_len = (uint32_t)(l->seg.len - off);
    struct disco_info *empty = disco_info_new();
    char *fx = disco_info_to_xml(info), *ex = disco_info_to_xml(empty);
    size_t lf = strlen(fx), le = strlen(ex);
    r->form_xml = (uint32_t)(lf > le ? lf - le : 0);
    free(fx);
    free(ex);
    disco_info_free(empty);
}

static bool load_forms(struct ld *l, struct pg_conn *c, struct pg_err *err)
{
    struct copy_out co;
    if (!copy_open(&co, c,
                   "SELECT f.content_id, f.pos, f.type, fl.pos, fl.var, fl.type, v.value "
                   "FROM disco_forms f "
                   "JOIN disco_form_fields fl ON fl.content_id = f.content_id "
                   "  AND fl.form_pos = f.pos "
                   "LEFT JOIN disco_form_values v ON v.content_id = fl.content_id "
                   "  AND v.form_pos = fl.form_pos AND v.field_pos = fl.pos "
                   "WHERE f.form_type = '" SOFTINFO_FORM_TYPE "' AND f.content_id IN "
                   "(SELECT e.content_id FROM caps_entries e WHERE " VERIFIED ") "
                   "ORDER BY f.content_id, f.pos, fl.pos, v.pos",
                   err))
        return false;
    struct disco_info *info = NULL;
    struct dataform *form = NULL;
    struct dataform_field *field = NULL;
    int64_t cur = -1, form_pos = -1, field_pos = -1;
    int rc;
    while ((rc = copy_next(&co, 7, err)) == 1) {
        int64_t cid, fp, flp;
        if (!parse_i64(co.f[0], &cid) || !parse_i64(co.f[1], &fp) ||
            !parse_i64(co.f[3], &flp))
            continue;
        if (info == NULL || cid != cur) {
            if (info)
                finish_forms(l, cur, info);
            disco_info_free(info);
            info = disco_info_new();
            cur = cid;
            form_pos = field_pos = -1;
        }
        if (fp != form_pos) {
            form = disco_add_form(info, co.f[2] ? co.f[2] : "");
            form_pos = fp;
            field_pos = -1;
        }
        if (flp != field_pos) {
            field = disco_form_add_field(info, form, co.f[4] ? co.f[4] : "", co.f[5]);
            field_pos = flp;
        }
        if (co.f[6])
            disco_field_add_value(info, field, co.f[6]);
    }
    if (rc == 0 && info)
        finish_forms(l, cur, info);
    disco_info_free(info);
    return rc == 0;
}

static const struct content_idents *find_idents(const struct ld *l, int64_t cid)
{
    size_t lo = 0, hi = l->n_ci;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (l->ci[mid].cid < cid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n_ci && l->ci[lo].cid == cid ? &l->ci[lo] : NULL;
}

static const struct si_rec *find_si(const struct ld *l, int64_t cid)
{
    size_t lo = 0, hi = l->n_si;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (l->si[mid].cid < cid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n_si && l->si[lo].cid == cid ? &l->si[lo] : NULL;
}

/* Parses a feature_ids array ("{1,2,3}") into model string ids. */
static size_t feature_ids(struct ld *l, struct capsmodel *m, const char *a,
                          uint32_t **ids, size_t *cap)
{
    size_t n = 0;
    if (a == NULL || *a != '{')
        return 0;
    for (const char *p = a + 1; *p && *p != '}';) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p)
            break;
        p = *end == ',' ? end + 1 : end;
        if (v >= l->n_f || l->fvar[v] == STRTAB_NONE)
            continue; /* a dangling id: the schema's foreign keys forbid it */
        if (l->fmodel[v] == CM_NONE)
            l->fmodel[v] = capsmodel_intern(m, strtab_str(l->tmp, l->fvar[v]));
        if (n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *ids = xreallocarray(*ids, *cap, sizeof **ids);
        }
        (*ids)[n++] = l->fmodel[v];
    }
    return n;
}

/* Source ids of p's sources as an array literal ("{1,2}"), or NULL for
 * every source; sets p->observed_popularity. */
static bool select_sources(struct pg_conn *c, struct analysis_params *p,
                           struct buf *ids, struct pg_err *err)
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
        "SELECT coalesce(array_agg(id ORDER BY id), '{}')::text, "
        "       coalesce(bool_or(kind IN ('crawl', 'testnet')), false) "
        "FROM sources WHERE $1::text IS NULL "
        "OR name = ANY (string_to_array($1, E'\\n'))",
        1, params, err);
    buf_free(&names);
    if (r == NULL)
        return false;
    bool ok = pg_nrows(r) == 1;
    if (ok) {
        buf_puts(ids, pg_value(r, 0, 0));
        p->observed_popularity = strcmp(pg_value(r, 0, 1), "t") == 0;
        /* only digits, commas and braces go into the query text */
        for (size_t i = 0; i < ids->len; i++)
            if (!strchr("0123456789,{}", ids->data[i]))
                ok = false;
    }
    pg_clear(r);
    if (!ok)
        snprintf(err->msg, sizeof err->msg, "unexpected source ids");
    return ok;
}

/* Adds the entry of the current row from its XML (column 10). */
static void add_from_xml(struct capsmodel *m, enum hash_algo a,
                         const struct copy_out *co, int64_t xml_len)
{
    struct parse_err perr = {0};
    struct disco_info *info = disco_parse(co->f[10], co->len[10], NULL, &perr);
    if (info == NULL) {
        log_warn("stored disco#info of %s did not parse again: %s", co->f[1], perr.msg);
        return;
    }
    struct cm_input in = {
        .algo = a,
        .ver = co->f[1],
        .node = co->f[2],
        .info = info,
        .observations = strtoull(co->f[3], NULL, 10),
        .xml_bytes = (size_t)xml_len,
        .verified = co->f[5] && strcmp(co->f[5], "t") == 0,
    };
    capsmodel_add(m, &in);
    disco_info_free(info);
}

long analysis_load(struct pg_conn *c, struct analysis_params *p,
                   struct capsmodel *m, struct pg_err *err)
{
    struct buf src = BUF_INIT, q = BUF_INIT;
    if (!select_sources(c, p, &src, err)) {
        buf_free(&src);
        return -1;
    }
    struct ld l = {.tmp = strtab_new()};
    long rows = -1;
    /* one snapshot for every COPY below */
    if (!pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        goto out;
    if (!load_features(&l, c, err) || !load_identities(&l, c, err) ||
        !load_forms(&l, c, err))
        goto rollback;
    buf_printf(&q,
               "SELECT o.algo, o.ver, o.node, o.n, e.content_id, e.outcome = 'valid', "
               "       octet_length(c.xml), octet_length(e.verification_string), "
               "       CASE WHEN c.has_softinfo THEN e.verification_string END, "
               "       c.feature_ids, "
               "       CASE WHEN e.verification_string IS NULL THEN c.xml END "
               "FROM (SELECT algo, ver, node, sum(count)::bigint AS n "
               "      FROM caps_observations %s%s%s GROUP BY algo, ver, node) o "
               "JOIN caps_entries e ON e.algo = o.algo AND e.ver = o.ver "
               "JOIN disco_contents c ON c.id = e.content_id "
               "WHERE " VERIFIED " "
               "ORDER BY o.algo COLLATE \"C\", o.ver COLLATE \"C\", o.node COLLATE \"C\"",
               p->n_sources ? "WHERE source_id = ANY ('" : "",
               p->n_sources ? buf_str(&src) : "", p->n_sources ? "'::bigint[])" : "");
    struct copy_out co;
    if (!copy_open(&co, c, buf_str(&q), err))
        goto rollback;
    uint32_t *ids = NULL;
    size_t ids_cap = 0;
    struct disco_identity *di = NULL;
    size_t di_cap = 0;
    long n = 0;
    int rc;
    while ((rc = copy_next(&co, 11, err)) == 1) {
        enum hash_algo a;
        int64_t cid, xml_len, s_len = 0;
        if (!co.f[0] || !hash_algo_parse(co.f[0], &a) || !co.f[1] || !co.f[2] ||
            !co.f[3] || !parse_i64(co.f[4], &cid) || !parse_i64(co.f[6], &xml_len))
            continue; /* only verified entries: cannot happen */
        if (co.f[7])
            parse_i64(co.f[7], &s_len);
        n++;
        if (co.f[10]) {
            /* no strict S stored (an ill-formed entry that matched another
             * computation): the stored XML is parsed, as the XML loader does */
            add_from_xml(m, a, &co, xml_len);
            continue;
        }
        const struct content_idents *ci = find_idents(&l, cid);
        size_t nid = ci ? ci->n : 0;
        if (nid > di_cap) {
            di_cap = nid * 2;
            di = xreallocarray(di, di_cap, sizeof *di);
        }
        for (size_t i = 0; i < nid; i++) {
            const struct ident *id = &l.idents[ci->start + i];
            di[i] = (struct disco_identity){
                .category = strtab_str(l.tmp, id->s[0]),
                .type = strtab_str(l.tmp, id->s[1]),
                .lang = strtab_str(l.tmp, id->s[2]),
                .name = strtab_str(l.tmp, id->s[3]),
            };
        }
        const struct si_rec *sr = find_si(&l, cid);
        struct softinfo si = {0};
        if (sr && sr->present) {
            si.present = true;
            si.software = (char *)tmp_str(&l, sr->s[0]);
            si.software_version = (char *)tmp_str(&l, sr->s[1]);
            si.os = (char *)tmp_str(&l, sr->s[2]);
            si.os_version = (char *)tmp_str(&l, sr->s[3]);
        }
        struct cm_stored in = {
            .algo = a,
            .ver = co.f[1],
            .node = co.f[2],
            .observations = strtoull(co.f[3], NULL, 10),
            .verified = co.f[5] && strcmp(co.f[5], "t") == 0,
            .xml_bytes = (size_t)xml_len,
            .s_bytes = (size_t)s_len,
            .identities = di,
            .n_identities = nid,
            .si = si.present ? &si : NULL,
            .s = co.f[8],
            .s_len = co.f[8] ? co.len[8] : 0,
            .form_s = sr ? l.seg.data + sr->seg_off : NULL,
            .form_s_len = sr ? sr->seg_len : 0,
            .form_xml_bytes = sr ? sr->form_xml : 0,
        };
        in.n_features = feature_ids(&l, m, co.f[9], &ids, &ids_cap);
        in.features = ids;
        capsmodel_add_stored(m, &in);
    }
    free(ids);
    free(di);
    if (rc != 0)
        goto rollback;
    if (!pg_exec(c, "COMMIT", err))
        goto out;
    rows = n;
    goto out;
rollback:;
    struct pg_err ignored;
    if (!pg_exec(c, "ROLLBACK", &ignored))
        log_warn("rollback after a failed load: %s", ignored.msg);
out:
    ld_free(&l);
    buf_free(&src);
    buf_free(&q);
    return rows;
}
