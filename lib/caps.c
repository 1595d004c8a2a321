/*
 * XEP-0115 verification string, hash and section 5.4 processing, plus
 * the variants deployed software computes (see caps.h for the list).
 * One builder, parameterised by a struct sopts, produces every S; it also
 * detects the ill-formed cases while it sorts, so the common case (strict,
 * valid) costs one build, one digest and one compare. Sorting is i;octet
 * (strcmp compares as unsigned char) on arrays of pointers.
 */
#include "caps.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static const char *const caps_outcome_names[] = {
    [CAPS_VALID] = "valid",       [CAPS_ILL_FORMED] = "ill-formed",
    [CAPS_MISMATCH] = "mismatch", [CAPS_UNSUPPORTED_HASH] = "unsupported-hash",
    [CAPS_LEGACY] = "legacy",     [CAPS_UNPARSABLE] = "unparsable",
};
_Static_assert(ARRAY_LEN(caps_outcome_names) == CAPS_OUTCOME__COUNT,
               "names table");

static const char *const caps_error_names[] = {
    [CAPS_ERR_NONE] = NULL,
    [CAPS_ERR_DUPLICATE_IDENTITY] = "duplicate-identity",
    [CAPS_ERR_DUPLICATE_FEATURE] = "duplicate-feature",
    [CAPS_ERR_DUPLICATE_FORM_TYPE] = "duplicate-form-type",
    [CAPS_ERR_FORM_TYPE_MULTIPLE_VALUES] = "form-type-multiple-values",
};
_Static_assert(ARRAY_LEN(caps_error_names) == CAPS_ERR__COUNT, "names table");

static const char *const caps_method_names[] = {
    [CAPS_M_STRICT] = "strict",
    [CAPS_M_LENIENT] = "lenient",
    [CAPS_M_ESCAPE_LT] = "escape-lt",
    [CAPS_M_ESCAPE_XML] = "escape-xml",
    [CAPS_M_FORMLESS_FORMS] = "formless-forms",
    [CAPS_M_PROSODY_FORMLESS] = "prosody-formless",
    [CAPS_M_NONHIDDEN_FORMS] = "non-hidden-form-type",
    [CAPS_M_EMPTY_FIELD] = "slixmpp-empty-field",
    [CAPS_M_DINO_EMPTY_LANG] = "dino-empty-lang",
    [CAPS_M_STRING_SORT] = "string-identity-sort",
    [CAPS_M_UTF16_ORDER] = "utf16-order",
    [CAPS_M_DEDUP] = "dedup",
};
_Static_assert(ARRAY_LEN(caps_method_names) == CAPS_M__COUNT, "names table");
_Static_assert(CAPS_M__COUNT <= 32, "variant bits fit in uint32_t");

const char *caps_outcome_name(enum caps_outcome o)
{
    return (unsigned)o < CAPS_OUTCOME__COUNT ? caps_outcome_names[o] : "?";
}

const char *caps_error_name(enum caps_error e)
{
    return (unsigned)e < CAPS_ERR__COUNT ? caps_error_names[e] : "?";
}

const char *caps_method_name(enum caps_method m)
{
    return (unsigned)m < CAPS_M__COUNT ? caps_method_names[m] : "?";
}

static bool parse_name(const char *const *names, size_t n, const char *s,
                       int *out)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (names[i] && strcmp(names[i], s) == 0) {
            *out = (int)i;
            return true;
        }
    }
    return false;
}

bool caps_outcome_parse(const char *s, enum caps_outcome *out)
{
    int v;
    if (!parse_name(caps_outcome_names, CAPS_OUTCOME__COUNT, s, &v))
        return false;
    *out = (enum caps_outcome)v;
    return true;
}

bool caps_error_parse(const char *s, enum caps_error *out)
{
    int v;
    if (!parse_name(caps_error_names, CAPS_ERR__COUNT, s, &v))
        return false;
    *out = (enum caps_error)v;
    return true;
}

bool caps_method_parse(const char *s, enum caps_method *out)
{
    int v;
    if (!parse_name(caps_method_names, CAPS_M__COUNT, s, &v))
        return false;
    *out = (enum caps_method)v;
    return true;
}

/* --- Builder options: every method is the strict builder with changes --- */

enum { ESC_NONE, ESC_LT, ESC_XML };
enum { FORMLESS_IGNORE, FORMLESS_EMPTY_FT, FORMLESS_NO_PREFIX };

struct sopts {
    int escape;
    int formless;
    bool nonhidden;   /* include forms with non-hidden FORM_TYPE or not
                         of type result */
    bool empty_field; /* "var<<" for a field without values */
    bool dino_lang;   /* identities written with empty lang */
    bool string_sort; /* sort formatted identity strings */
    bool utf16;       /* UTF-16 code unit order */
    bool dedup;       /* drop duplicates */
};

static struct sopts method_opts(enum caps_method m)
{
    struct sopts o = {0};
    switch (m) {
    case CAPS_M_STRICT:
    case CAPS_M_LENIENT:
        break;
    case CAPS_M_ESCAPE_LT:
        o.escape = ESC_LT;
        break;
    case CAPS_M_ESCAPE_XML:
        o.escape = ESC_XML;
        break;
    case CAPS_M_FORMLESS_FORMS:
        o.formless = FORMLESS_EMPTY_FT;
        break;
    case CAPS_M_PROSODY_FORMLESS:
        o.formless = FORMLESS_NO_PREFIX;
        o.nonhidden = true;
        break;
    case CAPS_M_NONHIDDEN_FORMS:
        o.nonhidden = true;
        break;
    case CAPS_M_EMPTY_FIELD:
        o.empty_field = true;
        break;
    case CAPS_M_DINO_EMPTY_LANG:
        o.dino_lang = true;
        break;
    case CAPS_M_STRING_SORT:
        o.string_sort = true;
        break;
    case CAPS_M_UTF16_ORDER:
        o.utf16 = true;
        break;
    case CAPS_M_DEDUP:
        o.dedup = true;
        break;
    case CAPS_M__COUNT:
        DIE_BUG("bad caps method %d", (int)m);
    }
    return o;
}

/* --- Comparison --- */

/* Decodes one UTF-8 sequence (lenient: a stray byte is its own value) and
 * returns a key that orders like UTF-16 code units: U+10000.. (surrogate
 * pairs D800..DFFF) sort between U+D7FF and U+E000. */
static uint32_t utf16_key(const unsigned char **pp)
{
    const unsigned char *p = *pp;
    uint32_t c = p[0];
    int n = 0;
    if (c >= 0xf0 && c < 0xf8)
        n = 3, c &= 0x07;
    else if (c >= 0xe0)
        n = 2, c &= 0x0f;
    else if (c >= 0xc0)
        n = 1, c &= 0x1f;
    int i;
    for (i = 1; i <= n && (p[i] & 0xc0) == 0x80; i++)
        c = c << 6 | (p[i] & 0x3f);
    if (i <= n) { /* truncated sequence: byte as is */
        *pp = p + 1;
        return p[0];
    }
    *pp = p + 1 + n;
    if (c >= 0x10000)
        return 0xd800 + (c - 0x10000);
    if (c >= 0xe000)
        return c + 0x200000;
    return c;
}

static int cmp_utf16(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;
    while (*p && *q) {
        if (*p < 0x80 && *q < 0x80) {
            if (*p != *q)
                return *p < *q ? -1 : 1;
            p++, q++;
            continue;
        }
        uint32_t x = utf16_key(&p), y = utf16_key(&q);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return (*p != 0) - (*q != 0);
}

/* set around qsort for the UTF-16 variant (qsort has no context) */
static _Thread_local bool sort_utf16;

static int scmp(const char *a, const char *b)
{
    return sort_utf16 ? cmp_utf16(a, b) : strcmp(a, b);
}

/* Keyed entry: a string key, the original index as tie-break. */
struct kent {
    const char *key;
    size_t idx;
    const void *obj;
};

static int kent_cmp(const void *x, const void *y)
{
    const struct kent *a = x, *b = y;
    int c = scmp(a->key, b->key);
    if (c)
        return c;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int feat_cmp(const void *x, const void *y)
{
    return scmp(*(const char *const *)x, *(const char *const *)y);
}

/* XEP-0115 5.1 sort key: (category, type, xml:lang) */
static int ident_cmp_key(const struct disco_identity *a,
                         const struct disco_identity *b)
{
    int c;
    if ((c = scmp(a->category, b->category)) != 0)
        return c;
    if ((c = scmp(a->type, b->type)) != 0)
        return c;
    return scmp(a->lang, b->lang);
}

/* The key, then the name as tie-break (and duplicate test). */
static int ident_cmp_all(const struct disco_identity *a,
                         const struct disco_identity *b)
{
    int c = ident_cmp_key(a, b);
    return c ? c : scmp(a->name, b->name);
}

static int ident_cmp(const void *x, const void *y)
{
    const struct disco_identity *a = *(const struct disco_identity *const *)x;
    const struct disco_identity *b = *(const struct disco_identity *const *)y;
    int c = ident_cmp_all(a, b);
    if (c)
        return c;
    return (a > b) - (a < b); /* array order: deterministic */
}

/* --- Output --- */

static void put_factor(struct buf *out, const char *s, int esc)
{
    if (esc != ESC_NONE) {
        const char *run = s;
        for (; *s; s++) {
            const char *rep = NULL;
            if (*s == '<')
                rep = "&lt;";
            else if (esc == ESC_XML && *s == '&')
                rep = "&amp;";
            else if (esc == ESC_XML && *s == '>')
                rep = "&gt;";
            if (rep) {
                buf_append(out, run, (size_t)(s - run));
                buf_puts(out, rep);
                run = s + 1;
            }
        }
        s = run;
    }
    buf_puts(out, s);
    buf_putc(out, '<');
}

static void put_identity(struct buf *out, const struct disco_identity *id,
                         const struct sopts *o)
{
    /* the three '/' are separators, not factors: never escaped */
    const char *parts[4] = {id->category, id->type,
                            o->dino_lang ? "" : id->lang, id->name};
    for (int i = 0; i < 4; i++) {
        if (i)
            buf_putc(out, '/');
        struct buf tmp = BUF_INIT;
        if (o->escape == ESC_NONE || strpbrk(parts[i], "<&>") == NULL) {
            buf_puts(out, parts[i]);
            continue;
        }
        put_factor(&tmp, parts[i], o->escape);
        buf_append(out, tmp.data, tmp.len - 1); /* without the '<' */
        buf_free(&tmp);
    }
    buf_putc(out, '<');
}

static void note(struct buf *notes, const char *s)
{
    if (notes) {
        buf_puts(notes, s);
        buf_putc(notes, '\n');
    }
}

/* Scratch arrays: on the stack for typical sizes, else on the heap. */
#define SCRATCH 64

/* Builds S with options o; returns the first ill-formedness found (only
 * meaningful for strict options). */
static enum caps_error build(const struct disco_info *info,
                             const struct sopts *o, struct buf *out,
                             struct buf *notes)
{
    enum caps_error err = CAPS_ERR_NONE;
    sort_utf16 = o->utf16;

    /* 1-3. identities */
    size_t ni = info->n_identities;
    const struct disco_identity *istack[SCRATCH];
    const struct disco_identity **ids =
        ni <= SCRATCH ? istack : xreallocarray(NULL, ni, sizeof *ids);
    for (size_t i = 0; i < ni; i++)
        ids[i] = &info->identities[i];
    if (o->string_sort && ni > 1) {
        /* format every identity, then sort the strings */
        struct buf all = BUF_INIT;
        struct kent kstack[SCRATCH];
        struct kent *ks =
            ni <= SCRATCH ? kstack : xreallocarray(NULL, ni, sizeof *ks);
        size_t *offs = xreallocarray(NULL, ni, sizeof *offs);
        for (size_t i = 0; i < ni; i++) {
            offs[i] = all.len;
            put_identity(&all, ids[i], o);
            all.data[all.len - 1] = '\0'; /* '<' -> NUL: string per entry */
        }
        for (size_t i = 0; i < ni; i++)
            ks[i] = (struct kent){all.data + offs[i], i, NULL};
        qsort(ks, ni, sizeof *ks, kent_cmp);
        for (size_t i = 0; i < ni; i++) {
            if (o->dedup && i && strcmp(ks[i].key, ks[i - 1].key) == 0)
                continue;
            buf_puts(out, ks[i].key);
            buf_putc(out, '<');
        }
        free(offs);
        if (ks != kstack)
            free(ks);
        buf_free(&all);
    } else {
        if (ni > 1)
            qsort(ids, ni, sizeof *ids, ident_cmp);
        for (size_t i = 0; i < ni; i++) {
            if (i && ident_cmp_all(ids[i], ids[i - 1]) == 0 &&
                err == CAPS_ERR_NONE)
                err = CAPS_ERR_DUPLICATE_IDENTITY;
            /* Smack's Identity.compareTo ignores the name: a TreeSet keeps
             * one identity per (category, type, lang) */
            if (o->dedup && i && ident_cmp_key(ids[i], ids[i - 1]) == 0)
                continue;
            put_identity(out, ids[i], o);
        }
    }
    if (ids != istack)
        free(ids);

    /* 4-5. features */
    size_t nf = info->n_features;
    const char *fstack[SCRATCH];
    const char **fs =
        nf <= SCRATCH ? fstack : xreallocarray(NULL, nf, sizeof *fs);
    if (nf)
        memcpy(fs, info->features, nf * sizeof *fs);
    if (nf > 1)
        qsort(fs, nf, sizeof *fs, feat_cmp);
    for (size_t i = 0; i < nf; i++) {
        if (i && strcmp(fs[i], fs[i - 1]) == 0) {
            if (err == CAPS_ERR_NONE)
                err = CAPS_ERR_DUPLICATE_FEATURE;
            if (o->dedup)
                continue;
        }
        put_factor(out, fs[i], o->escape);
    }
    if (fs != fstack)
        free(fs);

    /* 6-7. forms (XEP-0128) */
    size_t nx = info->n_forms;
    if (nx == 0)
        return err;
    struct kent xstack[16];
    struct kent *xs = nx <= 16 ? xstack : xreallocarray(NULL, nx, sizeof *xs);
    size_t nkept = 0;
    enum caps_error form_err = CAPS_ERR_NONE;
    for (size_t i = 0; i < nx; i++) {
        const struct dataform *f = info->forms[i];
        const char *ft = NULL;
        enum dataform_ft st = dataform_form_type(f, &ft);
        bool result = strcmp(f->type, "result") == 0;
        bool keep = true;
        if (!result) {
            note(notes, "form ignored: <x/> type is not \"result\"");
            keep = o->nonhidden && st != DATAFORM_FT_MISSING;
        } else if (st == DATAFORM_FT_MISSING) {
            note(notes, "form ignored: no FORM_TYPE field");
            keep = o->formless != FORMLESS_IGNORE;
        } else if (st == DATAFORM_FT_NOT_HIDDEN) {
            note(notes, "form ignored: FORM_TYPE field not type=\"hidden\"");
            keep = o->nonhidden;
        } else if (st == DATAFORM_FT_MULTIPLE) {
            if (form_err == CAPS_ERR_NONE)
                form_err = CAPS_ERR_FORM_TYPE_MULTIPLE_VALUES;
        } else if (st == DATAFORM_FT_REPEATED) {
            note(notes, "FORM_TYPE repeats the same value (allowed)");
        }
        if (!keep)
            continue;
        xs[nkept++] = (struct kent){ft ? ft : "", i, f};
    }
    if (nkept > 1)
        qsort(xs, nkept, sizeof *xs, kent_cmp);
    for (size_t i = 0; i < nkept; i++) {
        const struct dataform *f = xs[i].obj;
        bool formless = dataform_form_type(f, NULL) == DATAFORM_FT_MISSING;
        if (i && !formless && strcmp(xs[i].key, xs[i - 1].key) == 0 &&
            dataform_form_type(xs[i - 1].obj, NULL) != DATAFORM_FT_MISSING) {
            if (form_err == CAPS_ERR_NONE)
                form_err = CAPS_ERR_DUPLICATE_FORM_TYPE;
            if (o->dedup)
                continue;
        }
        if (!(formless && o->formless == FORMLESS_NO_PREFIX))
            put_factor(out, xs[i].key, o->escape);
        /* fields other than FORM_TYPE, sorted by var */
        size_t nfl = f->n_fields;
        struct kent lstack[SCRATCH];
        struct kent *ls =
            nfl <= SCRATCH ? lstack : xreallocarray(NULL, nfl, sizeof *ls);
        size_t nl = 0;
        for (size_t j = 0; j < nfl; j++)
            if (strcmp(f->fields[j]->var, "FORM_TYPE") != 0)
                ls[nl++] = (struct kent){f->fields[j]->var, j, f->fields[j]};
        if (nl > 1)
            qsort(ls, nl, sizeof *ls, kent_cmp);
        for (size_t j = 0; j < nl; j++) {
            const struct dataform_field *fl = ls[j].obj;
            put_factor(out, fl->var, o->escape);
            size_t nv = fl->n_values;
            if (nv == 0) {
                if (o->empty_field)
                    buf_putc(out, '<');
                continue;
            }
            const char *vstack[SCRATCH];
            const char **vs =
                nv <= SCRATCH ? vstack : xreallocarray(NULL, nv, sizeof *vs);
            memcpy(vs, fl->values, nv * sizeof *vs);
            if (nv > 1)
                qsort(vs, nv, sizeof *vs, feat_cmp);
            for (size_t k = 0; k < nv; k++)
                put_factor(out, vs[k], o->escape);
            if (vs != vstack)
                free(vs);
        }
        if (ls != lstack)
            free(ls);
    }
    if (xs != xstack)
        free(xs);
    if (err == CAPS_ERR_NONE)
        err = form_err;
    return err;
}

/* --- Public computation --- */

enum caps_error caps_check(const struct disco_info *info)
{
    struct buf s = BUF_INIT;
    struct sopts o = method_opts(CAPS_M_STRICT);
    enum caps_error e = build(info, &o, &s, NULL);
    buf_free(&s);
    return e;
}

void caps_build_s(const struct disco_info *info, enum caps_method m,
                  struct buf *out, struct buf *notes)
{
    struct sopts o = method_opts(m);
    build(info, &o, out, notes);
    sort_utf16 = false;
}

bool caps_ver_compute(const struct disco_info *info, enum hash_algo a,
                      enum caps_method m, char out[HASH_B64_MAX])
{
    struct buf s = BUF_INIT;
    caps_build_s(info, m, &s, NULL);
    bool ok = hash_b64(a, s.data ? s.data : "", s.len, out);
    buf_free(&s);
    return ok;
}

void caps_result_init(struct caps_result *r)
{
    memset(r, 0, sizeof *r);
    r->matched_by = -1;
}

void caps_result_free(struct caps_result *r)
{
    buf_free(&r->s_strict);
    buf_free(&r->s_lenient);
    buf_free(&r->notes);
    caps_result_init(r);
}

const char *caps_result_matched_by(const struct caps_result *r)
{
    if (r->matched_by < 0 || r->matched_by >= CAPS_M__COUNT)
        return NULL;
    return caps_method_name((enum caps_method)r->matched_by);
}

static void reset_result(struct caps_result *r)
{
    r->outcome = CAPS_UNPARSABLE;
    r->error = CAPS_ERR_NONE;
    r->algo = HASH_SHA1;
    r->matched_by = -1;
    r->hash_strict[0] = '\0';
    r->hash_lenient[0] = '\0';
    r->variants_matched = 0;
    r->variants_computed = 0;
    buf_reset(&r->s_strict);
    buf_reset(&r->s_lenient);
    buf_reset(&r->notes);
}

static bool ver_eq(const char *h, const char *ver)
{
    return ver != NULL && h[0] != '\0' && strcmp(h, ver) == 0;
}

enum caps_outcome caps_verify(const struct disco_info *info, const char *hash,
                              const char *ver, unsigned flags,
                              struct caps_result *r)
{
    reset_result(r);
    if (hash == NULL || hash[0] == '\0')
        return r->outcome = CAPS_LEGACY;
    if (!hash_algo_parse(hash, &r->algo) || !hash_algo_available(r->algo))
        return r->outcome = CAPS_UNSUPPORTED_HASH;
    if (info == NULL)
        return r->outcome = CAPS_UNPARSABLE;

    struct sopts strict = method_opts(CAPS_M_STRICT);
    struct buf *s = &r->s_strict;
    r->error = build(info, &strict, s, &r->notes);
    sort_utf16 = false;
    const char *sdata = s->data ? s->data : "";
    uint32_t bit_s = 1u << CAPS_M_STRICT, bit_l = 1u << CAPS_M_LENIENT;
    if (r->error != CAPS_ERR_NONE) {
        /* ill-formed: no strict value; what was built is the lenient S */
        r->outcome = CAPS_ILL_FORMED;
        if (!hash_b64(r->algo, sdata, s->len, r->hash_lenient))
            return r->outcome = CAPS_UNSUPPORTED_HASH;
        r->variants_computed |= bit_l;
        if (ver_eq(r->hash_lenient, ver))
            r->variants_matched |= bit_l;
        buf_append(&r->s_lenient, sdata, s->len);
        buf_reset(s);
    } else {
        if (!hash_b64(r->algo, sdata, s->len, r->hash_strict))
            return r->outcome = CAPS_UNSUPPORTED_HASH;
        /* well-formed: lenient S is the same string */
        memcpy(r->hash_lenient, r->hash_strict, sizeof r->hash_lenient);
        r->variants_computed |= bit_s | bit_l;
        if (ver_eq(r->hash_strict, ver))
            r->variants_matched |= bit_s | bit_l;
        r->outcome = r->variants_matched ? CAPS_VALID : CAPS_MISMATCH;
        if (flags & CAPS_VERIFY_KEEP_S)
            buf_append(&r->s_lenient, sdata, s->len);
    }
    if (r->variants_matched == 0 || (flags & CAPS_VERIFY_ALL_VARIANTS)) {
        struct buf vs = BUF_INIT;
        for (int m = CAPS_M_FIRST_VARIANT; m < CAPS_M__COUNT; m++) {
            struct sopts o = method_opts((enum caps_method)m);
            buf_reset(&vs);
            build(info, &o, &vs, NULL);
            sort_utf16 = false;
            char h[HASH_B64_MAX];
            if (!hash_b64(r->algo, vs.data ? vs.data : "", vs.len, h))
                continue;
            r->variants_computed |= 1u << m;
            if (ver_eq(h, ver))
                r->variants_matched |= 1u << m;
        }
        buf_free(&vs);
    }
    for (int m = 0; m < CAPS_M__COUNT; m++) {
        if (r->variants_matched & (1u << m)) {
            r->matched_by = m;
            break;
        }
    }
    if (!(flags & CAPS_VERIFY_KEEP_S) && r->outcome != CAPS_ILL_FORMED)
        buf_reset(s);
    return r->outcome;
}

enum caps_outcome caps_verify_xml(const char *xml, size_t len,
                                  const struct disco_limits *lim,
                                  const char *hash, const char *ver,
                                  unsigned flags, struct caps_result *r,
                                  struct parse_err *err)
{
    struct parse_err e;
    struct disco_info *info = disco_parse(xml, len, lim, &e);
    if (err)
        *err = e;
    enum caps_outcome o = caps_verify(info, hash, ver, flags, r);
    disco_info_free(info);
    return o;
}

bool caps_node_split(const char *s, size_t *node_len, const char **ver)
{
    const char *h = s ? strrchr(s, '#') : NULL;
    if (h == NULL)
        return false;
    *node_len = (size_t)(h - s);
    *ver = h + 1;
    return true;
}
