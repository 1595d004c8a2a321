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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    /* most fields have no backslash at all: nothing to move */
    char *bs = memchr(s, '\\', n);
    if (bs == NULL) {
        s[n] = '\0';
        return n;
    }
    size_t o = (size_t)(bs - s);
    for (size_t i = o; i < n; i++) {
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

/* --- what the loader holds per content and per entry ----------------------- */

/* A content (disco_contents row) as the entries will need it. */
struct cslot {
    int64_t cid;
    uint32_t xml_len;
    uint32_t f_off, f_n;     /* its feature ids (features.id) in ld.fids */
    uint32_t id_start, id_n; /* its identities in ld.idents */
    uint32_t si;             /* index in ld.si, UINT32_MAX: no XEP-0232 form */
};

struct ident {
    uint32_t s[4]; /* category, type, lang, name: ids in ld.itab */
};

/* The identities of one content: ld.idents[start, start + n). */
struct igroup {
    int64_t cid;
    uint32_t start, n;
};

/* The XEP-0232 forms of one content. */
struct si_rec {
    int64_t cid;       /* the content */
    uint32_t s[4];     /* software, version, os, os_version: ids in ld.sis,
                          STRTAB_NONE: absent */
    bool present;      /* softinfo_extract() found the form */
    bool built;        /* rebuilt from the forms in this load (seg is
                          valid); false: read from softinfo_derived */
    uint32_t seg_off, seg_len; /* the forms' part of S, in ld.seg */
    uint32_t form_xml;         /* bytes the forms add to the XML */
    uint32_t dv_start, dv_n;   /* its stripped vers in ld.dv */
};

/* The ver of a content's S without its XEP-0232 form(s) for one algorithm
 * (softinfo_stripped_vers), read or worked out in this load. */
struct dv {
    int64_t cid;
    uint8_t algo;      /* enum hash_algo */
    bool fresh;        /* worked out in this load: to be stored */
    uint32_t stripped; /* id in ld.sis */
    uint32_t form_s;   /* bytes the forms' part took in S */
};

/* A verified caps entry (caps_entries row), keyed by "ALGO\nVER" in ld.keys. */
struct ent {
    int64_t id;        /* caps_entries.id: the order entries are added in */
    uint32_t slot;     /* content slot, UINT32_MAX: none */
    uint32_t s_len;
    uint32_t stripped; /* id in ld.sis of the ver without XEP-0232,
                          STRTAB_NONE: the entry's own ver */
    uint32_t form_s;   /* bytes the forms take in S */
    bool valid;
    bool present;      /* a verified entry (ld.keys also holds the keys of
                          observations of other entries) */
    uint8_t algo;      /* enum hash_algo */
};

/* An observation row: a key (id in ld.keys: an entry if present), a node
 * (id in ld.onodes), a count. */
struct obs {
    uint32_t ent, node;
    uint64_t count;
};

struct ld {
    struct strtab *tmp;     /* strings read: identities, softinfo, feature vars */
    uint32_t *fvar;         /* feature id -> tmp id (STRTAB_NONE: unknown) */
    uint32_t *fmodel;       /* feature id -> model string id (CM_NONE: not yet) */
    size_t n_f;
    /* contents: slots and an open-addressing map content id -> slot */
    struct cslot *slots;
    size_t n_slots, cap_slots;
    uint32_t *map; /* slot + 1, 0: empty */
    size_t map_mask;
    uint32_t *dense;  /* or, when ids are dense: content id - dense_min -> slot + 1 */
    int64_t dense_min;
    size_t dense_n;
    uint32_t *fids;
    size_t n_fids, cap_fids;
    struct ident *idents;   /* strings in itab */
    size_t n_idents, cap_idents;
    struct igroup *ig;      /* the identities of each content */
    size_t n_ig, cap_ig;
    struct strtab *itab;
    /* the XEP-0232 forms, read by a second thread on a second connection
     * where possible: only these fields are its */
    struct strtab *sis;     /* their strings */
    struct si_rec *si;
    size_t n_si, cap_si;
    struct buf seg;
    struct dv *dv; /* sorted by (cid, algo) as read; fresh ones appended */
    size_t n_dv, cap_dv;
    /* observations, read with the XEP-0232 records: keys "ALGO\nVER" in
     * ld.keys (which the entries then join), nodes in onodes */
    struct obs *ob;         /* by key, then node (group_obs) */
    size_t n_ob, cap_ob;
    struct strtab *onodes;
    uint32_t *og;           /* key id k's rows: ob[og[k], og[k + 1]) */
    size_t n_og;            /* keys with rows (og has n_og + 1 cells) */
    /* the entries stored without S whose XML the second thread parsed and
     * worked out (capsmodel_prepare), by key id (< n_og) */
    struct cm_prepared **xprep;
    struct disco_info **xinfo;
    size_t n_xprep;
    /* entries */
    struct strtab *keys;
    struct ent *ents;
    size_t cap_ents;
};

static void ld_free(struct ld *l)
{
    strtab_free(l->tmp);
    free(l->fvar);
    free(l->fmodel);
    free(l->slots);
    free(l->map);
    free(l->dense);
    free(l->fids);
    free(l->idents);
    free(l->ig);
    strtab_free(l->itab);
    free(l->ob);
    strtab_free(l->onodes);
    free(l->og);
    for (size_t k = 0; l->xprep && k < l->n_xprep; k++) {
        if (l->xprep[k])
            capsmodel_prepared_free(l->xprep[k]);
        free(l->xprep[k]);
        disco_info_free(l->xinfo[k]);
    }
    free(l->xprep);
    free(l->xinfo);
    strtab_free(l->sis);
    free(l->si);
    buf_free(&l->seg);
    free(l->dv);
    strtab_free(l->keys);
    free(l->ents);
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

static const char *si_str(const struct ld *l, uint32_t id)
{
    return id == STRTAB_NONE ? NULL : strtab_str(l->sis, id);
}

static size_t cid_hash(int64_t cid, size_t mask)
{
    return (size_t)(((uint64_t)cid * 0x9e3779b97f4a7c15ULL) >> 20) & mask;
}

static void map_put(struct ld *l, int64_t cid, uint32_t slot)
{
    size_t i = cid_hash(cid, l->map_mask);
    while (l->map[i])
        i = (i + 1) & l->map_mask;
    l->map[i] = slot + 1;
}

static struct cslot *slot_of(const struct ld *l, int64_t cid)
{
    if (l->dense) {
        if (cid < l->dense_min || (uint64_t)(cid - l->dense_min) >= l->dense_n)
            return NULL;
        uint32_t v = l->dense[cid - l->dense_min];
        return v ? &l->slots[v - 1] : NULL;
    }
    if (l->map == NULL)
        return NULL;
    for (size_t i = cid_hash(cid, l->map_mask); l->map[i]; i = (i + 1) & l->map_mask)
        if (l->slots[l->map[i] - 1].cid == cid)
            return &l->slots[l->map[i] - 1];
    return NULL;
}

static struct cslot *slot_new(struct ld *l, int64_t cid)
{
    if (l->n_slots == l->cap_slots) {
        l->cap_slots = l->cap_slots ? l->cap_slots * 2 : 4096;
        l->slots = xreallocarray(l->slots, l->cap_slots, sizeof *l->slots);
    }
    struct cslot *s = &l->slots[l->n_slots++];
    *s = (struct cslot){.cid = cid, .si = UINT32_MAX};
    return s;
}

/* Indexes the slots by content id: an array when the ids are dense (a
 * bigserial: the usual case, and reads in id order then touch memory in
 * order), else a hash table. A repeated id keeps its first slot. */
static void slots_index(struct ld *l)
{
    if (l->n_slots == 0)
        return;
    int64_t lo = l->slots[0].cid, hi = lo;
    for (size_t k = 1; k < l->n_slots; k++) {
        lo = l->slots[k].cid < lo ? l->slots[k].cid : lo;
        hi = l->slots[k].cid > hi ? l->slots[k].cid : hi;
    }
    if ((uint64_t)(hi - lo) < (uint64_t)l->n_slots * 4 + 1024) {
        l->dense_min = lo;
        l->dense_n = (size_t)(hi - lo) + 1;
        l->dense = xcalloc(l->dense_n, sizeof *l->dense);
        for (size_t k = 0; k < l->n_slots; k++)
            if (!l->dense[l->slots[k].cid - lo])
                l->dense[l->slots[k].cid - lo] = (uint32_t)k + 1;
        return;
    }
    size_t cells = 8192;
    while (cells < l->n_slots * 2)
        cells *= 2;
    l->map = xcalloc(cells, sizeof *l->map);
    l->map_mask = cells - 1;
    for (size_t k = 0; k < l->n_slots; k++)
        if (!slot_of(l, l->slots[k].cid))
            map_put(l, l->slots[k].cid, (uint32_t)k);
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

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Every content: the byte length of its XML and its feature ids, from
 * the narrow copy the schema keeps for this (sql/0033), in the binary COPY
 * format. Rows: int8 id, int4 length, bytea of 4-byte big-endian ids. */
static bool load_contents(struct ld *l, struct pg_conn *c, struct pg_err *err)
{
    PGconn *pc = (PGconn *)c;
    PGresult *r = PQexec(pc, "COPY (SELECT content_id, xml_bytes, feature_ids "
                             "FROM content_loader_rows) TO STDOUT (FORMAT binary)");
    bool ok = PQresultStatus(r) == PGRES_COPY_OUT;
    if (!ok)
        set_err(pc, r, err);
    PQclear(r);
    if (!ok)
        return false;
    struct copy_out co = {.c = pc};
    bool header = false, bad = false;
    char *row;
    int n;
    while ((n = PQgetCopyData(pc, &row, 0)) > 0) {
        const unsigned char *p = (const unsigned char *)row, *end = p + n;
        if (!header) { /* signature, flags, header extension */
            if (n < 19 || memcmp(p, "PGCOPY\n\377\r\n\0", 11) != 0) {
                bad = true;
                PQfreemem(row);
                break;
            }
            p += 15 + 4 + be32(p + 15);
            header = true;
        }
        if (end - p < 2 || (p[0] == 0xff && p[1] == 0xff)) { /* trailer */
            PQfreemem(row);
            continue;
        }
        /* 3 fields: 8-byte id, 4-byte length, bytea */
        if (end - p < 2 + 4 + 8 + 4 + 4 + 4 || p[0] != 0 || p[1] != 3 || be32(p + 2) != 8 ||
            be32(p + 14) != 4) {
            bad = true;
            PQfreemem(row);
            break;
        }
        int64_t cid = (int64_t)((uint64_t)be32(p + 6) << 32 | be32(p + 10));
        uint32_t xl = be32(p + 18);
        p += 22;
        uint32_t blen = be32(p);
        p += 4;
        if (blen == 0xffffffffu || (size_t)(end - p) < blen || blen % 4) {
            PQfreemem(row);
            continue;
        }
        struct cslot *s = slot_new(l, cid);
        s->xml_len = xl;
        s->f_off = (uint32_t)l->n_fids;
        if (l->n_fids + blen / 4 > l->cap_fids) {
            while (l->n_fids + blen / 4 > l->cap_fids)
                l->cap_fids = l->cap_fids ? l->cap_fids * 2 : 65536;
            l->fids = xreallocarray(l->fids, l->cap_fids, sizeof *l->fids);
        }
        for (const unsigned char *q = p; q < p + blen; q += 4) {
            uint32_t v = be32(q);
            if (v >= l->n_f || l->fvar[v] == STRTAB_NONE)
                continue; /* a dangling id: the schema's foreign keys forbid it */
            l->fids[l->n_fids++] = v;
        }
        s->f_n = (uint32_t)(l->n_fids - s->f_off);
        PQfreemem(row);
    }
    slots_index(l);
    if (bad)
        snprintf(err->msg, sizeof err->msg, "unexpected binary COPY data");
    co.row = NULL;
    bool fin = copy_finish(&co, err);
    return !bad && n == -1 && fin;
}

/* The identities of every content, in document order, into arrays of
 * their own (the second thread reads them while the first reads the
 * contents); attach_identities() points the slots at them. */
static bool load_identities(struct ld *l, struct pg_conn *c, struct pg_err *err)
{
    struct copy_out co;
    if (!copy_open(&co, c,
                   "SELECT content_id, category, type, lang, name "
                   "FROM disco_identities ORDER BY content_id, pos",
                   err))
        return false;
    l->itab = strtab_new();
    int rc;
    struct igroup *g = NULL;
    uint32_t last[4] = {STRTAB_NONE, STRTAB_NONE, STRTAB_NONE, STRTAB_NONE};
    while ((rc = copy_next(&co, 5, err)) == 1) {
        int64_t cid;
        if (!parse_i64(co.f[0], &cid))
            continue;
        if (g == NULL || g->cid != cid) {
            if (l->n_ig == l->cap_ig) {
                l->cap_ig = l->cap_ig ? l->cap_ig * 2 : 4096;
                l->ig = xreallocarray(l->ig, l->cap_ig, sizeof *l->ig);
            }
            g = &l->ig[l->n_ig++];
            *g = (struct igroup){cid, (uint32_t)l->n_idents, 0};
        }
        if (l->n_idents == l->cap_idents) {
            l->cap_idents = l->cap_idents ? l->cap_idents * 2 : 4096;
            l->idents = xreallocarray(l->idents, l->cap_idents, sizeof *l->idents);
        }
        struct ident *id = &l->idents[l->n_idents++];
        for (int k = 0; k < 4; k++) {
            /* most rows repeat the previous row's category, type, lang */
            const char *v = co.f[k + 1] ? co.f[k + 1] : "";
            if (last[k] != STRTAB_NONE && strtab_len(l->itab, last[k]) == co.len[k + 1] &&
                memcmp(strtab_str(l->itab, last[k]), v, co.len[k + 1]) == 0) {
                id->s[k] = last[k];
                continue;
            }
            id->s[k] = last[k] = strtab_intern(l->itab, v, co.len[k + 1]);
        }
        g->n++;
    }
    return rc == 0;
}

/* Points each content's slot at its identities. */
static void attach_identities(struct ld *l)
{
    for (size_t k = 0; k < l->n_ig; k++) {
        struct cslot *s = slot_of(l, l->ig[k].cid);
        if (s && s->id_n == 0) {
            s->id_start = l->ig[k].start;
            s->id_n = l->ig[k].n;
        }
    }
}

/* The observation rows of the chosen sources (query), unsorted: their
 * keys interned in ld.keys, where the entries find them. */
static bool load_obs(struct ld *l, struct pg_conn *c, const char *query, struct pg_err *err)
{
    struct copy_out co;
    if (!copy_open(&co, c, query, err))
        return false;
    l->keys = strtab_new();
    l->onodes = strtab_new();
    struct buf key = BUF_INIT;
    int rc;
    while ((rc = copy_next(&co, 4, err)) == 1) {
        if (!co.f[0] || !co.f[1] || !co.f[2] || !co.f[3])
            continue;
        buf_reset(&key);
        buf_append(&key, co.f[0], co.len[0]);
        buf_putc(&key, '\n');
        buf_append(&key, co.f[1], co.len[1]);
        if (l->n_ob == l->cap_ob) {
            l->cap_ob = l->cap_ob ? l->cap_ob * 2 : 4096;
            l->ob = xreallocarray(l->ob, l->cap_ob, sizeof *l->ob);
        }
        l->ob[l->n_ob++] = (struct obs){strtab_intern(l->keys, key.data, key.len),
                                        strtab_intern(l->onodes, co.f[2], co.len[2]),
                                        strtoull(co.f[3], NULL, 10)};
    }
    buf_free(&key);
    return rc == 0;
}

static struct si_rec *si_new(struct ld *l)
{
    if (l->n_si == l->cap_si) {
        l->cap_si = l->cap_si ? l->cap_si * 2 : 1024;
        l->si = xreallocarray(l->si, l->cap_si, sizeof *l->si);
    }
    struct si_rec *r = &l->si[l->n_si++];
    memset(r, 0, sizeof *r);
    return r;
}

static struct dv *dv_new(struct ld *l)
{
    if (l->n_dv == l->cap_dv) {
        l->cap_dv = l->cap_dv ? l->cap_dv * 2 : 1024;
        l->dv = xreallocarray(l->dv, l->cap_dv, sizeof *l->dv);
    }
    return &l->dv[l->n_dv++];
}

/* Bytes of s as disco_info_to_xml() escapes it (lib/disco.c put_escaped:
 * & < > and CR always, ' " TAB LF in attributes). */
static size_t escaped_len(const char *s, bool attr)
{
    size_t n = 0;
    for (; *s; s++) {
        switch (*s) {
        case '&': n += 5; break;
        case '<':
        case '>': n += 4; break;
        case '\r': n += 5; break;
        case '\'':
        case '"': n += attr ? 6 : 1; break;
        case '\t': n += attr ? 4 : 1; break;
        case '\n': n += attr ? 5 : 1; break;
        default: n++;
        }
    }
    return n;
}

/* Bytes disco_info_to_xml() writes for form f (what the form adds to a
 * serialized disco#info), counted without serializing; the analyze test
 * compares the result with the XML loader's, which serializes. */
static size_t form_xml_len(const struct dataform *f)
{
    size_t n = sizeof "<x xmlns='" DISCO_NS_DATA "'" - 1 + 1 + sizeof "</x>" - 1;
    if (f->type[0])
        n += sizeof " type=''" - 1 + escaped_len(f->type, true);
    for (size_t j = 0; j < f->n_fields; j++) {
        const struct dataform_field *fl = f->fields[j];
        n += sizeof "<field>" - 1 + sizeof "</field>" - 1;
        if (fl->var[0])
            n += sizeof " var=''" - 1 + escaped_len(fl->var, true);
        if (fl->type[0])
            n += sizeof " type=''" - 1 + escaped_len(fl->type, true);
        for (size_t k = 0; k < fl->n_values; k++)
            n += sizeof "<value></value>" - 1 + escaped_len(fl->values[k], false);
    }
    return n;
}

/* Works out what the XEP-0232 forms of one content (info holds only them)
 * mean for the model, and records it. */
static void finish_forms(struct ld *l, int64_t cid, struct disco_info *info)
{
    struct si_rec *r = si_new(l);
    r->cid = cid;
    r->built = true;
    struct softinfo si;
    r->present = softinfo_extract(info, &si);
    const char *v[4] = {si.software, si.software_version, si.os, si.os_version};
    for (int k = 0; k < 4; k++)
        r->s[k] = v[k] ? strtab_intern(l->sis, v[k], strlen(v[k])) : STRTAB_NONE;
    softinfo_free(&si);
    /* S of a disco_info holding only the forms is the forms' part of S */
    size_t off = l->seg.len;
    caps_build_s(info, CAPS_M_STRICT, &l->seg, NULL);
    r->seg_off = (uint32_t)off;
    r->seg_len = (uint32_t)(l->seg.len - off);
    size_t lf = 0;
    for (size_t i = 0; i < info->n_forms; i++)
        lf += form_xml_len(info->forms[i]);
    r->form_xml = (uint32_t)lf;
}

/* The XEP-0232 forms of the contents that `which` selects (an SQL
 * condition on f.content_id), each rebuilt and recorded (finish_forms). */
static bool load_forms(struct ld *l, struct pg_conn *c, const char *which,
                       struct pg_err *err)
{
    struct buf q = BUF_INIT;
    buf_printf(&q,
               "SELECT f.content_id, f.pos, f.type, fl.pos, fl.var, fl.type, v.value "
               "FROM disco_forms f "
               "JOIN disco_form_fields fl ON fl.content_id = f.content_id "
               "  AND fl.form_pos = f.pos "
               "LEFT JOIN disco_form_values v ON v.content_id = fl.content_id "
               "  AND v.form_pos = fl.form_pos AND v.field_pos = fl.pos "
               "WHERE f.form_type = '" SOFTINFO_FORM_TYPE "' AND %s "
               "ORDER BY f.content_id, f.pos, fl.pos, v.pos",
               which);
    struct copy_out co;
    bool opened = copy_open(&co, c, buf_str(&q), err);
    buf_free(&q);
    if (!opened)
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

/* What earlier loads worked out from the XEP-0232 forms (sql/0033): a
 * record per content, and its stripped vers. */
static bool load_derived(struct ld *l, struct pg_conn *c, struct pg_err *err)
{
    struct copy_out co;
    if (!copy_open(&co, c,
                   "SELECT content_id, present, software, software_version, os, os_version, "
                   "       form_xml_bytes "
                   "FROM softinfo_derived ORDER BY content_id",
                   err))
        return false;
    int rc;
    while ((rc = copy_next(&co, 7, err)) == 1) {
        int64_t cid, fx;
        if (!parse_i64(co.f[0], &cid) || !parse_i64(co.f[6], &fx) || fx < 0 ||
            fx > UINT32_MAX)
            continue;
        struct si_rec *r = si_new(l);
        r->cid = cid;
        r->present = co.f[1] && co.f[1][0] == 't';
        for (int k = 0; k < 4; k++)
            r->s[k] = co.f[k + 2] ? strtab_intern(l->sis, co.f[k + 2], co.len[k + 2])
                                  : STRTAB_NONE;
        r->form_xml = (uint32_t)fx;
    }
    if (rc != 0)
        return false;
    if (!copy_open(&co, c,
                   "SELECT content_id, algo, stripped_ver, form_s_bytes "
                   "FROM softinfo_stripped_vers ORDER BY content_id, algo",
                   err))
        return false;
    size_t k = 0; /* both in content id order: a merge */
    while ((rc = copy_next(&co, 4, err)) == 1) {
        int64_t cid, fs;
        enum hash_algo a;
        if (!parse_i64(co.f[0], &cid) || !co.f[1] || !hash_algo_parse(co.f[1], &a) ||
            !co.f[2] || !parse_i64(co.f[3], &fs) || fs < 0 || fs > UINT32_MAX)
            continue;
        while (k < l->n_si && l->si[k].cid < cid)
            k++;
        if (k == l->n_si || l->si[k].cid != cid)
            continue; /* the foreign key forbids it */
        if (l->si[k].dv_n == 0)
            l->si[k].dv_start = (uint32_t)l->n_dv;
        else if (l->si[k].dv_start + l->si[k].dv_n != l->n_dv)
            continue; /* not in order: cannot happen */
        *dv_new(l) = (struct dv){
            .cid = cid,
            .algo = (uint8_t)a,
            .stripped = strtab_intern(l->sis, co.f[2], co.len[2]),
            .form_s = (uint32_t)fs,
        };
        l->si[k].dv_n++;
    }
    return rc == 0;
}

/* The stripped ver of r for algorithm a, or NULL. */
static const struct dv *dv_find(const struct ld *l, const struct si_rec *r, enum hash_algo a)
{
    for (uint32_t i = 0; i < r->dv_n; i++)
        if (l->dv[r->dv_start + i].algo == (uint8_t)a)
            return &l->dv[r->dv_start + i];
    return NULL;
}

/* Points each content's slot at its XEP-0232 record. */
static void attach_forms(struct ld *l)
{
    for (size_t k = 0; k < l->n_si; k++) {
        struct cslot *slot = slot_of(l, l->si[k].cid);
        if (slot && slot->si == UINT32_MAX)
            slot->si = (uint32_t)k;
    }
}

/* Entry indexes (ld.ents), a growable array. */
struct u32s {
    uint32_t *v;
    size_t n, cap;
};

static void u32s_push(struct u32s *a, uint32_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        a->v = xreallocarray(a->v, a->cap, sizeof *a->v);
    }
    a->v[a->n++] = x;
}

/* The model's side of reading the entries: each entry's rows are handed
 * to the builder as the entry arrives (in id order: the order the XML
 * path adds them in), until one needs its stripped ver worked out first;
 * from there on they wait in `order` for derive_stripped(). */
struct builder;
struct shared;
static long produce_entry(struct builder *b, const struct shared *sh, uint32_t kid);

struct stream {
    struct builder *b;
    const struct shared *sh;
    struct u32s order; /* key ids of the entries not streamed, in id order */
    bool stopped;
    long rows;
};

/* The verified entries, in id order. For those with a XEP-0232 form, the
 * ver without it is taken from softinfo_stripped_vers where an earlier
 * load worked it out, else the entry goes into need_s (derive_stripped());
 * those stored without S go the way load_xml_early() prepared them. */
static bool load_entries(struct ld *l, struct pg_conn *c, struct u32s *need_s,
                         struct stream *st, struct pg_err *err)
{
    struct copy_out co;
    if (!copy_open(&co, c,
                   "SELECT e.algo, e.ver, e.content_id, e.outcome = 'valid', "
                   "       octet_length(e.verification_string), e.has_softinfo, e.id "
                   "FROM caps_entries e WHERE " VERIFIED " ORDER BY e.id",
                   err))
        return false;
    if (l->keys == NULL)
        l->keys = strtab_new();
    struct buf key = BUF_INIT;
    int rc;
    while ((rc = copy_next(&co, 7, err)) == 1) {
        enum hash_algo a;
        int64_t cid, eid, slen = -1;
        if (!co.f[0] || !co.f[1] || !hash_algo_parse(co.f[0], &a) ||
            !parse_i64(co.f[2], &cid) || !parse_i64(co.f[6], &eid))
            continue;
        if (co.f[4])
            parse_i64(co.f[4], &slen);
        buf_reset(&key);
        buf_append(&key, co.f[0], co.len[0]);
        buf_putc(&key, '\n');
        buf_append(&key, co.f[1], co.len[1]);
        uint32_t id = strtab_intern(l->keys, key.data, key.len);
        if (id >= l->cap_ents) {
            size_t cap = l->cap_ents ? l->cap_ents : 4096;
            while (cap <= id)
                cap *= 2;
            l->ents = xreallocarray(l->ents, cap, sizeof *l->ents);
            memset(l->ents + l->cap_ents, 0, (cap - l->cap_ents) * sizeof *l->ents);
            l->cap_ents = cap;
        }
        struct ent *e = &l->ents[id];
        if (e->present)
            continue; /* UNIQUE (algo, ver): cannot happen */
        struct cslot *slot = slot_of(l, cid);
        *e = (struct ent){
            .id = eid,
            .algo = (uint8_t)a,
            .slot = slot ? (uint32_t)(slot - l->slots) : UINT32_MAX,
            .s_len = slen > 0 ? (uint32_t)slen : 0,
            .stripped = STRTAB_NONE,
            .valid = co.f[3] && strcmp(co.f[3], "t") == 0,
            .present = true,
        };
        const struct si_rec *sr = slot && slot->si != UINT32_MAX ? &l->si[slot->si] : NULL;
        if (slen >= 0 && sr && sr->present && co.f[5] && strcmp(co.f[5], "t") == 0) {
            const struct dv *d = dv_find(l, sr, a);
            if (d) {
                e->stripped = d->stripped;
                e->form_s = d->form_s;
            } else {
                u32s_push(need_s, id);
                st->stopped = true;
            }
        }
        if (st->stopped)
            u32s_push(&st->order, id);
        else
            st->rows += produce_entry(st->b, st->sh, id);
    }
    buf_free(&key);
    return rc == 0;
}

/* Source ids of p's sources as an array literal ("{1,2}"); sets
 * p->observed_popularity. */
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

/* What the rows handed to the model point into, made once before the
 * entries are read: each identity as a struct disco_identity, each
 * XEP-0232 record as a struct softinfo. */
struct shared {
    struct disco_identity *di; /* parallel to ld.idents */
    struct softinfo *si;       /* parallel to ld.si */
};

static void shared_make(const struct ld *l, struct shared *sh)
{
    sh->di = xcalloc(l->n_idents ? l->n_idents : 1, sizeof *sh->di);
    for (size_t i = 0; i < l->n_idents; i++) {
        const struct ident *id = &l->idents[i];
        sh->di[i] = (struct disco_identity){
            .category = strtab_str(l->itab, id->s[0]),
            .type = strtab_str(l->itab, id->s[1]),
            .lang = strtab_str(l->itab, id->s[2]),
            .name = strtab_str(l->itab, id->s[3]),
        };
    }
    sh->si = xcalloc(l->n_si ? l->n_si : 1, sizeof *sh->si);
    for (size_t i = 0; i < l->n_si; i++) {
        const struct si_rec *sr = &l->si[i];
        sh->si[i] = (struct softinfo){
            .present = sr->present,
            .software = (char *)si_str(l, sr->s[0]),
            .software_version = (char *)si_str(l, sr->s[1]),
            .os = (char *)si_str(l, sr->s[2]),
            .os_version = (char *)si_str(l, sr->s[3]),
        };
    }
}

static void shared_free(struct shared *sh)
{
    free(sh->di);
    free(sh->si);
}

/* --- the model, built by a thread of its own while the entries stream in -- */

/* Rows handed to the builder at a time, and buffers of them. */
#define CHUNK_ROWS 16384
#define CHUNKS 3

/* A chunk of rows in canonical order. Rows from stored entries carry the
 * content's features.id array (raw[i]): the builder maps them to model
 * strings (ld.fmodel, interned on first use), as only it touches the model
 * while the entries are read. */
struct chunk {
    struct cm_stored rows[CHUNK_ROWS];
    bool raw[CHUNK_ROWS];
    size_t n;
    uint32_t *mf; /* the mapped features */
    size_t cap_mf;
};

struct builder {
    struct ld *l;
    struct capsmodel *m;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct chunk *buf[CHUNKS];
    struct chunk *queue[CHUNKS]; /* submitted, in order */
    size_t q_head, q_n;
    struct chunk *free_[CHUNKS];
    size_t n_free;
    bool busy, done;
    bool threaded;     /* false: chunks are built on submission */
    struct chunk *cur; /* the one being filled (first thread) */
};

static void chunk_build(struct builder *b, struct chunk *c);

/* Maps the raw feature ids of c's rows to model strings. */
static void chunk_map(struct builder *b, struct chunk *c)
{
    struct ld *l = b->l;
    size_t need = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->raw[i])
            need += c->rows[i].n_features;
    if (need > c->cap_mf) {
        c->cap_mf = need * 2;
        free(c->mf);
        c->mf = xcalloc(c->cap_mf, sizeof *c->mf);
    }
    uint32_t *out = c->mf;
    for (size_t i = 0; i < c->n; i++) {
        if (!c->raw[i])
            continue;
        const uint32_t *f = c->rows[i].features;
        for (size_t k = 0; k < c->rows[i].n_features; k++) {
            if (l->fmodel[f[k]] == CM_NONE)
                l->fmodel[f[k]] = capsmodel_intern(b->m, strtab_str(l->tmp, l->fvar[f[k]]));
            out[k] = l->fmodel[f[k]];
        }
        c->rows[i].features = out;
        out += c->rows[i].n_features;
    }
}

static void *builder_run(void *arg)
{
    struct builder *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        while (b->q_n == 0 && !b->done)
            pthread_cond_wait(&b->cond, &b->lock);
        if (b->q_n == 0) {
            pthread_mutex_unlock(&b->lock);
            return NULL;
        }
        struct chunk *c = b->queue[b->q_head];
        b->q_head = (b->q_head + 1) % CHUNKS;
        b->q_n--;
        b->busy = true;
        pthread_mutex_unlock(&b->lock);
        chunk_build(b, c);
        pthread_mutex_lock(&b->lock);
        b->free_[b->n_free++] = c;
        b->busy = false;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
    }
}

/* Adds chunk c to the model and empties it. */
static void chunk_build(struct builder *b, struct chunk *c)
{
    chunk_map(b, c);
    capsmodel_add_stored_many(b->m, c->rows, c->n);
    c->n = 0;
}

/* Starts the builder's thread; without one (none could be had) chunks are
 * built on the first thread as they are submitted. */
static void builder_start(struct builder *b, struct ld *l, struct capsmodel *m)
{
    *b = (struct builder){.l = l, .m = m};
    for (size_t k = 0; k < CHUNKS; k++)
        b->free_[b->n_free++] = b->buf[k] = xcalloc(1, sizeof **b->buf);
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->threaded = pthread_create(&b->thread, NULL, builder_run, b) == 0;
}

/* Hands the chunk being filled to the builder; takes a free one. */
static void builder_submit(struct builder *b)
{
    if (!b->threaded) {
        if (b->cur)
            chunk_build(b, b->cur);
        else
            b->cur = b->free_[--b->n_free];
        return;
    }
    pthread_mutex_lock(&b->lock);
    if (b->cur && b->cur->n) {
        b->queue[(b->q_head + b->q_n) % CHUNKS] = b->cur;
        b->q_n++;
        b->cur = NULL;
        pthread_cond_broadcast(&b->cond);
    }
    while (b->cur == NULL && b->n_free == 0)
        pthread_cond_wait(&b->cond, &b->lock);
    if (b->cur == NULL)
        b->cur = b->free_[--b->n_free];
    pthread_mutex_unlock(&b->lock);
}

/* Waits until every submitted chunk is in the model (the first thread may
 * then touch the model itself until it submits again). */
static void builder_sync(struct builder *b)
{
    builder_submit(b);
    if (!b->threaded)
        return;
    pthread_mutex_lock(&b->lock);
    while (b->q_n || b->busy)
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
}

/* Submits what is left, stops the builder and frees its buffers. */
static void builder_finish(struct builder *b)
{
    builder_submit(b);
    if (b->threaded) {
        pthread_mutex_lock(&b->lock);
        b->done = true;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
    }
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    for (size_t k = 0; k < CHUNKS; k++) {
        free(b->buf[k]->mf);
        free(b->buf[k]);
    }
}

/* Adds the rows of entry kid (one per node it was observed under, counts
 * summed) to the chunk being filled, in canonical order. Returns the
 * number of rows. */
static long produce_entry(struct builder *b, const struct shared *sh, uint32_t kid)
{
    struct ld *l = b->l;
    if (kid >= l->n_og || l->og[kid] == l->og[kid + 1])
        return 0;
    const struct ent *e = &l->ents[kid];
    const char *ver = strchr(strtab_str(l->keys, kid), '\n') + 1;
    const struct cslot *slot = e->slot != UINT32_MAX ? &l->slots[e->slot] : NULL;
    const struct si_rec *sr = slot && slot->si != UINT32_MAX ? &l->si[slot->si] : NULL;
    long rows = 0;
    for (uint32_t i = l->og[kid]; i < l->og[kid + 1];) {
        uint64_t count = 0;
        uint32_t j = i;
        for (; j < l->og[kid + 1] && l->ob[j].node == l->ob[i].node; j++)
            count += l->ob[j].count;
        const char *node = strtab_str(l->onodes, l->ob[i].node);
        if (b->cur == NULL || b->cur->n == CHUNK_ROWS)
            builder_submit(b);
        struct chunk *c = b->cur;
        struct cm_stored *r = &c->rows[c->n];
        c->raw[c->n] = false;
        if (kid < l->n_xprep && l->xprep[kid]) {
            *r = l->xprep[kid]->row;
            r->node = node;
            r->observations = count;
        } else {
            *r = (struct cm_stored){
                .algo = (enum hash_algo)e->algo,
                .ver = ver,
                .node = node,
                .observations = count,
                .verified = e->valid,
                .xml_bytes = slot ? slot->xml_len : 0,
                .s_bytes = e->s_len,
                .features = slot ? l->fids + slot->f_off : NULL,
                .n_features = slot ? slot->f_n : 0,
                .identities = slot ? sh->di + slot->id_start : NULL,
                .n_identities = slot ? slot->id_n : 0,
                .si = sr && sr->present ? &sh->si[slot->si] : NULL,
                .stripped_ver =
                    e->stripped != STRTAB_NONE ? strtab_str(l->sis, e->stripped) : NULL,
                .form_s_bytes = e->form_s,
                .form_xml_bytes = sr ? sr->form_xml : 0,
            };
            c->raw[c->n] = slot != NULL;
        }
        c->n++;
        rows++;
        i = j;
    }
    return rows;
}

/* Settings of both connections' transactions. The ordered reads
 * (identities, forms x fields x values) are cheapest as merge joins over
 * the primary keys, which all start with content_id: no hash join, no sort
 * (1.7x less server time for the forms at 1e6); no JIT for these one-off
 * scans. */
#define TX_SETTINGS                                                                \
    "SET LOCAL work_mem = '256MB'; SET LOCAL enable_hashjoin = off; "             \
    "SET LOCAL enable_sort = off; SET LOCAL jit = off"

/* A second connection with the first one's parameters, or NULL. */
static struct pg_conn *second_conn(struct pg_conn *c)
{
    PQconninfoOption *opts = PQconninfo((PGconn *)c);
    if (opts == NULL)
        return NULL;
    size_t n = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        n++;
    const char **kw = xcalloc(n + 1, sizeof *kw), **val = xcalloc(n + 1, sizeof *val);
    size_t k = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val && o->val[0]) {
            kw[k] = o->keyword;
            val[k++] = o->val;
        }
    PGconn *second = PQconnectdbParams(kw, val, 0);
    free(kw);
    free(val);
    PQconninfoFree(opts);
    if (PQstatus(second) != CONNECTION_OK) {
        log_debug("analyze: no second connection: %s", PQerrorMessage(second));
        PQfinish(second);
        return NULL;
    }
    return (struct pg_conn *)second;
}

/* Contents missing from softinfo_derived whose forms are read by content
 * id; beyond this many, by one scan of the form tables. */
#define FEW_FORMS 10000

/* The XEP-0232 records of every content with a softwareinfo form: read
 * where an earlier load stored them (softinfo_derived), rebuilt from the
 * forms for the others (none, once every content has been met). */
static bool load_softinfo(struct ld *l, struct pg_conn *c, struct pg_err *err)
{
#define NOT_DERIVED \
    "NOT EXISTS (SELECT 1 FROM softinfo_derived d WHERE d.content_id = f.content_id)"
    if (!load_derived(l, c, err))
        return false;
    struct copy_out co;
    if (!copy_open(&co, c,
                   "SELECT f.content_id FROM disco_forms f "
                   "WHERE f.form_type = '" SOFTINFO_FORM_TYPE "' AND " NOT_DERIVED,
                   err))
        return false;
    struct buf which = BUF_INIT;
    buf_puts(&which, "f.content_id = ANY ('{");
    size_t n = 0;
    int rc;
    while ((rc = copy_next(&co, 1, err)) == 1) {
        int64_t cid;
        if (parse_i64(co.f[0], &cid) && n++ < FEW_FORMS)
            buf_printf(&which, "%s%lld", n > 1 ? "," : "", (long long)cid);
    }
    buf_puts(&which, "}'::bigint[])");
    bool ok = rc == 0 &&
              (n == 0 || load_forms(l, c, n <= FEW_FORMS ? buf_str(&which) : NOT_DERIVED, err));
    buf_free(&which);
    return ok;
#undef NOT_DERIVED
}

/* Order of one key's rows: node byte-wise. */
static int cmp_obs_node(const void *a, const void *b, void *pl)
{
    const struct ld *l = pl;
    const struct obs *x = a, *y = b;
    if (x->node == y->node)
        return 0;
    return strcmp(strtab_str(l->onodes, x->node), strtab_str(l->onodes, y->node));
}

static int cmp_ent_id(const void *a, const void *b, void *pl)
{
    const struct ld *l = pl;
    int64_t x = l->ents[*(const uint32_t *)a].id, y = l->ents[*(const uint32_t *)b].id;
    return x < y ? -1 : x > y;
}

/* Groups the observation rows by key (a counting sort; ld.og), each key's
 * rows by node, so that an entry's rows are at hand when it arrives. */
static void group_obs(struct ld *l)
{
    size_t nk = l->keys ? strtab_count(l->keys) : 0;
    l->n_og = nk;
    l->og = xcalloc(nk + 2, sizeof *l->og);
    for (size_t i = 0; i < l->n_ob; i++)
        l->og[l->ob[i].ent + 2]++;
    for (size_t k = 0; k < nk; k++)
        l->og[k + 2] += l->og[k + 1];
    struct obs *out = xcalloc(l->n_ob ? l->n_ob : 1, sizeof *out);
    for (size_t i = 0; i < l->n_ob; i++)
        out[l->og[l->ob[i].ent + 1]++] = l->ob[i];
    for (size_t k = 0; k < nk; k++)
        if (l->og[k + 1] - l->og[k] > 1)
            qsort_r(out + l->og[k], l->og[k + 1] - l->og[k], sizeof *out, cmp_obs_node, l);
    free(l->ob);
    l->ob = out;
    l->cap_ob = l->n_ob;
}

/* The XML of the observed entries stored without S, parsed and worked out
 * (capsmodel_prepare) on the second thread before the entries are read;
 * those it cannot parse go the stored way, as they did before. */
static bool load_xml_early(struct ld *l, struct capsmodel *m, struct pg_conn *c,
                           struct pg_err *err)
{
    struct copy_out co;
    if (!copy_open(&co, c,
                   "SELECT e.algo, e.ver, e.outcome = 'valid', octet_length(c.xml), c.xml "
                   "FROM caps_entries e JOIN disco_contents c ON c.id = e.content_id "
                   "WHERE e.verification_string IS NULL AND " VERIFIED,
                   err))
        return false;
    /* every key in ld.keys so far is an observation's */
    l->n_xprep = l->keys ? strtab_count(l->keys) : 0;
    l->xprep = xcalloc(l->n_xprep ? l->n_xprep : 1, sizeof *l->xprep);
    l->xinfo = xcalloc(l->n_xprep ? l->n_xprep : 1, sizeof *l->xinfo);
    struct buf key = BUF_INIT;
    int rc;
    while ((rc = copy_next(&co, 5, err)) == 1) {
        enum hash_algo a;
        int64_t xl;
        if (!co.f[0] || !co.f[1] || !co.f[4] || !hash_algo_parse(co.f[0], &a) ||
            !parse_i64(co.f[3], &xl) || xl < 0)
            continue;
        buf_reset(&key);
        buf_append(&key, co.f[0], co.len[0]);
        buf_putc(&key, '\n');
        buf_append(&key, co.f[1], co.len[1]);
        uint32_t kid = l->keys ? strtab_find(l->keys, key.data, key.len) : STRTAB_NONE;
        if (kid == STRTAB_NONE || kid >= l->n_xprep || l->xprep[kid])
            continue; /* not observed in these sources */
        struct parse_err perr = {0};
        struct disco_info *info = disco_parse(co.f[4], co.len[4], NULL, &perr);
        if (info == NULL) {
            log_warn("stored disco#info of %s did not parse again: %s", co.f[1], perr.msg);
            continue;
        }
        struct cm_input in = {
            .algo = a,
            .ver = strchr(strtab_str(l->keys, kid), '\n') + 1,
            .info = info,
            .xml_bytes = (size_t)xl,
            .verified = co.f[2] && strcmp(co.f[2], "t") == 0,
        };
        l->xinfo[kid] = info;
        l->xprep[kid] = xmalloc(sizeof **l->xprep);
        capsmodel_prepare(m, &in, l->xprep[kid]);
    }
    buf_free(&key);
    return rc == 0;
}

/* The second thread's work, on a second connection in the first one's
 * snapshot: the observations and the entries stored without S (the
 * entries need both), while the first thread reads the contents, the
 * identities and the XEP-0232 records. It touches only ld's keys, onodes,
 * ob, xprep and xinfo, and the model (capsmodel_prepare), which the first
 * thread does not touch yet. */
struct side_job {
    struct ld *l;
    struct capsmodel *m;
    struct pg_conn *c;
    char snapshot[128];
    const char *obs_query;
    pthread_t thread;
    bool ok;
    struct pg_err err;
};

static void *side_worker(void *arg)
{
    struct side_job *j = arg;
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
             "SET TRANSACTION SNAPSHOT '%s'; " TX_SETTINGS,
             j->snapshot);
    j->ok = pg_exec(j->c, sql, &j->err) && load_obs(j->l, j->c, j->obs_query, &j->err) &&
            load_xml_early(j->l, j->m, j->c, &j->err);
    struct pg_err ignored;
    if (!pg_exec(j->c, j->ok ? "COMMIT" : "ROLLBACK", &ignored))
        j->ok = false;
    return NULL;
}

/* The stripped vers of the entries in need (ld.ents indexes) that no
 * earlier load worked out: the forms of their contents rebuilt where only
 * their record was read, then each entry's stored S read, the forms' part
 * cut out (the last place it occurs: forms come after identities and
 * features) and hashed again; as with the XML, S is hashed again even if
 * the form had no part in it. Each result is recorded to be stored. */
static bool derive_stripped(struct ld *l, struct pg_conn *c, struct u32s *need,
                            struct pg_err *err)
{
    if (need->n == 0)
        return true;
    struct buf ids = BUF_INIT;
    buf_puts(&ids, "f.content_id = ANY ('{");
    size_t n_read = 0;
    for (size_t i = 0; i < need->n; i++) {
        const struct cslot *slot = &l->slots[l->ents[need->v[i]].slot];
        if (!l->si[slot->si].built)
            buf_printf(&ids, "%s%lld", n_read++ ? "," : "", (long long)slot->cid);
    }
    buf_puts(&ids, "}'::bigint[])");
    size_t first = l->n_si;
    bool ok = n_read == 0 || load_forms(l, c, buf_str(&ids), err);
    buf_free(&ids);
    if (!ok)
        return false;
    for (size_t k = first; k < l->n_si; k++) {
        struct cslot *slot = slot_of(l, l->si[k].cid);
        if (slot == NULL)
            continue;
        if (slot->si != UINT32_MAX) { /* keep the stripped vers already read */
            l->si[k].dv_start = l->si[slot->si].dv_start;
            l->si[k].dv_n = l->si[slot->si].dv_n;
        }
        slot->si = (uint32_t)k;
    }
    /* S of each entry, matched by caps_entries.id */
    qsort_r(need->v, need->n, sizeof *need->v, cmp_ent_id, l);
    struct buf q = BUF_INIT;
    buf_puts(&q, "SELECT id, verification_string FROM caps_entries WHERE id = ANY ('{");
    for (size_t i = 0; i < need->n; i++)
        buf_printf(&q, "%s%lld", i ? "," : "", (long long)l->ents[need->v[i]].id);
    buf_puts(&q, "}'::bigint[])");
    struct copy_out co;
    ok = copy_open(&co, c, buf_str(&q), err);
    buf_free(&q);
    if (!ok)
        return false;
    struct buf s = BUF_INIT;
    int rc;
    while ((rc = copy_next(&co, 2, err)) == 1) {
        int64_t eid;
        if (!parse_i64(co.f[0], &eid) || co.f[1] == NULL)
            continue;
        size_t lo = 0, hi = need->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (l->ents[need->v[mid]].id < eid)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == need->n || l->ents[need->v[lo]].id != eid)
            continue;
        struct ent *e = &l->ents[need->v[lo]];
        const struct cslot *slot = &l->slots[e->slot];
        const struct si_rec *sr = &l->si[slot->si];
        if (!sr->built)
            continue; /* its forms are gone: cannot happen in one snapshot */
        const char *S = co.f[1], *form = l->seg.data + sr->seg_off;
        size_t sl = co.len[1], fl = sr->seg_len;
        const char *at = NULL;
        if (fl > 0 && fl <= sl)
            for (const char *p = S; (p = memmem(p, sl - (size_t)(p - S), form, fl)) != NULL;
                 p++)
                at = p;
        size_t cut = at ? fl : 0, pre = at ? (size_t)(at - S) : sl;
        buf_reset(&s);
        buf_append(&s, S, pre);
        buf_append(&s, S + pre + cut, sl - pre - cut);
        char ver[HASH_B64_MAX];
        if (!hash_b64((enum hash_algo)e->algo, s.data ? s.data : "", s.len, ver))
            continue;
        e->stripped = strtab_intern_cstr(l->sis, ver);
        e->form_s = (uint32_t)cut;
        *dv_new(l) = (struct dv){
            .cid = slot->cid,
            .algo = e->algo,
            .fresh = true,
            .stripped = e->stripped,
            .form_s = e->form_s,
        };
    }
    buf_free(&s);
    return rc == 0;
}

/* Sends b's COPY lines once they hold at least `at_least` bytes (0: any),
 * emptying it; false (err set) if the server refused them. */
static bool copy_flush(struct pg_conn *c, struct buf *b, size_t at_least, struct pg_err *err)
{
    if (b->len == 0 || b->len < at_least)
        return true;
    bool ok = pg_copy_put(c, b->data, b->len, err);
    buf_reset(b);
    return ok;
}

/* Stores what this load worked out from the forms (sql/0033) for the
 * loads after it, in a transaction of its own; a failure (a read-only
 * database, say) costs only that the next load works it out again. */
static void store_derived(struct ld *l, struct pg_conn *c)
{
    size_t n_rec = 0, n_dv = 0;
    for (size_t k = 0; k < l->n_si; k++)
        n_rec += l->si[k].built;
    for (size_t k = 0; k < l->n_dv; k++)
        n_dv += l->dv[k].fresh;
    if (n_rec == 0 && n_dv == 0)
        return;
    struct pg_err err = {0};
    struct buf b = BUF_INIT;
    bool ok = pg_exec(c,
                      "BEGIN; "
                      "CREATE TEMP TABLE xc_sd (LIKE softinfo_derived) ON COMMIT DROP; "
                      "CREATE TEMP TABLE xc_ss (LIKE softinfo_stripped_vers) ON COMMIT DROP",
                      &err) &&
              pg_copy_begin(c, "COPY xc_sd FROM STDIN", &err);
    for (size_t k = 0; ok && k < l->n_si; k++) {
        const struct si_rec *r = &l->si[k];
        if (!r->built)
            continue;
        buf_printf(&b, "%lld\t%s", (long long)r->cid, r->present ? "t" : "f");
        for (int i = 0; i < 4; i++) {
            buf_putc(&b, '\t');
            pg_copy_str(&b, si_str(l, r->s[i]));
        }
        buf_printf(&b, "\t%u\n", r->form_xml);
        ok = copy_flush(c, &b, 1 << 20, &err);
    }
    ok = ok && copy_flush(c, &b, 0, &err) && pg_copy_end(c, &err) && pg_copy_begin(c, "COPY xc_ss FROM STDIN", &err);
    for (size_t k = 0; ok && k < l->n_dv; k++) {
        const struct dv *d = &l->dv[k];
        if (!d->fresh)
            continue;
        buf_printf(&b, "%lld\t%s\t", (long long)d->cid,
                   hash_algo_name((enum hash_algo)d->algo));
        pg_copy_str(&b, strtab_str(l->sis, d->stripped));
        buf_printf(&b, "\t%u\n", d->form_s);
        ok = copy_flush(c, &b, 1 << 20, &err);
    }
    ok = ok && copy_flush(c, &b, 0, &err);
    buf_free(&b);
    ok = ok && pg_copy_end(c, &err) &&
         pg_exec(c,
                 /* in key order: concurrent writers wait, never deadlock */
                 "INSERT INTO softinfo_derived SELECT * FROM xc_sd ORDER BY content_id "
                 "ON CONFLICT DO NOTHING; "
                 "INSERT INTO softinfo_stripped_vers SELECT * FROM xc_ss "
                 "ORDER BY content_id, algo ON CONFLICT DO NOTHING; "
                 "COMMIT",
                 &err);
    if (ok) {
        log_info("analyze: worked out the XEP-0232 facts of %zu contents and %zu stripped "
                 "vers, kept for later loads", n_rec, n_dv);
        return;
    }
    log_warn("analyze: the XEP-0232 facts worked out were not stored (%s): the next load "
             "works them out again", err.msg);
    struct pg_err ignored;
    if (!pg_exec(c, "ROLLBACK", &ignored))
        log_debug("analyze: rollback: %s", ignored.msg);
}

/* Wall time of each part of a load, logged at debug level at its end. */
struct phases {
    struct timespec last;
    struct buf text;
};

static void phase(struct phases *ph, const char *done)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (done)
        buf_printf(&ph->text, "%s%s %.3f s", ph->text.len ? ", " : "", done,
                   (double)(now.tv_sec - ph->last.tv_sec) +
                       (double)(now.tv_nsec - ph->last.tv_nsec) / 1e9);
    ph->last = now;
}

long analysis_load(struct pg_conn *c, struct analysis_params *p,
                   struct capsmodel *m, struct pg_err *err)
{
    struct buf src = BUF_INIT, q = BUF_INIT;
    struct u32s need_s = {0};
    struct phases ph = {0};
    if (!select_sources(c, p, &src, err)) {
        buf_free(&src);
        return -1;
    }
    struct ld l = {.tmp = strtab_new(), .sis = strtab_new()};
    long rows = -1;
    struct side_job job = {.l = &l, .m = m};
    bool worker = false;
    long n = 0;
    /* the observations, unsorted: they are summed per (entry, node) and
     * put in the XML loader's order (entry id, then node) below */
    buf_printf(&q, "SELECT algo, ver, node, count FROM caps_observations%s%s%s",
               p->n_sources ? " WHERE source_id = ANY ('" : "",
               p->n_sources ? buf_str(&src) : "", p->n_sources ? "'::bigint[])" : "");
    if (!pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; " TX_SETTINGS, err))
        goto out;
    /* a second thread on a second connection sharing this snapshot (see
     * side_job); everything on this one in turn if that cannot be had */
    struct pg_err ignored_err;
    bool found;
    char *snap = pg_query_value(c, "SELECT pg_export_snapshot()", 0, NULL, &found,
                                &ignored_err);
    if (snap && strlen(snap) < sizeof job.snapshot && (job.c = second_conn(c)) != NULL) {
        snprintf(job.snapshot, sizeof job.snapshot, "%s", snap);
        job.obs_query = buf_str(&q);
        worker = pthread_create(&job.thread, NULL, side_worker, &job) == 0;
        if (!worker) {
            pg_close(job.c);
            job.c = NULL;
        }
    }
    free(snap);
    phase(&ph, NULL);
    bool ok = load_features(&l, c, err) && load_contents(&l, c, err);
    phase(&ph, "contents");
    ok = ok && load_identities(&l, c, err);
    phase(&ph, "identities");
    ok = ok && load_softinfo(&l, c, err);
    phase(&ph, "XEP-0232 records");
    if (worker) {
        pthread_join(job.thread, NULL);
        pg_close(job.c);
        if (ok && !job.ok) {
            *err = job.err;
            ok = false;
        }
    } else {
        ok = ok && load_obs(&l, c, buf_str(&q), err);
    }
    if (!worker)
        ok = ok && load_xml_early(&l, m, c, err);
    if (ok)
        group_obs(&l);
    phase(&ph, "observations and entries without S (second thread)");
    if (!ok)
        goto rollback;
    attach_forms(&l);
    attach_identities(&l);
    /* the model is built by a thread of its own from the entries' rows as
     * they arrive */
    struct shared sh;
    shared_make(&l, &sh);
    struct builder b;
    builder_start(&b, &l, m);
    struct stream st = {.b = &b, .sh = &sh};
    ok = load_entries(&l, c, &need_s, &st, err);
    phase(&ph, "entries (and the model, streamed)");
    if (ok && st.stopped) {
        ok = derive_stripped(&l, c, &need_s, err);
        /* derive_stripped() may have added XEP-0232 records: the rows to
         * come point into a table that has them all */
        builder_sync(&b);
        shared_free(&sh);
        shared_make(&l, &sh);
        for (size_t k = 0; ok && k < st.order.n; k++)
            st.rows += produce_entry(&b, &sh, st.order.v[k]);
    }
    builder_finish(&b);
    shared_free(&sh);
    free(st.order.v);
    n = st.rows;
    phase(&ph, "model (the rest)");
    if (!ok)
        goto rollback;
    if (!pg_exec(c, "COMMIT", err))
        goto out;
    rows = n;
    store_derived(&l, c);
    goto out;
rollback:;
    struct pg_err ignored;
    if (!pg_exec(c, "ROLLBACK", &ignored))
        log_warn("rollback after a failed load: %s", ignored.msg);
out:
    ld_free(&l);
    buf_free(&src);
    buf_free(&q);
    free(need_s.v);
    if (rows >= 0)
        log_debug("analyze: load: %s", buf_str(&ph.text));
    buf_free(&ph.text);
    return rows;
}
