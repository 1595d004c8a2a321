/*
 * XEP-0390 section 4.1 hash function input, hashes, verification and
 * hash nodes. Each list (features, identities, fields, values, forms) is
 * built as separator-terminated segments in a scratch buffer, sorted by
 * octets including the trailing separator, then joined.
 */
#include "caps2.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define US '\x1f'
#define RS '\x1e'
#define GS '\x1d'
#define FS '\x1c'
#define HASH_NODE_PREFIX "urn:xmpp:caps#"

static const char *const caps2_error_names[] = {
    [CAPS2_ERR_NONE] = NULL,
    [CAPS2_ERR_FORBIDDEN] = "forbidden-content",
    [CAPS2_ERR_FORM_REPORTED] = "form-reported",
    [CAPS2_ERR_FORM_TYPE] = "form-type",
};
_Static_assert(ARRAY_LEN(caps2_error_names) == CAPS2_ERR__COUNT, "names table");

static const char *const caps2_error_texts[] = {
    [CAPS2_ERR_NONE] = "no error",
    [CAPS2_ERR_FORBIDDEN] =
        "query contains elements other than identity, feature and x",
    [CAPS2_ERR_FORM_REPORTED] = "form contains reported or item",
    [CAPS2_ERR_FORM_TYPE] = "form does not follow the FORM_TYPE protocol",
};
_Static_assert(ARRAY_LEN(caps2_error_texts) == CAPS2_ERR__COUNT, "names table");

static const char *const caps2_outcome_names[] = {
    [CAPS2_VALID] = "valid",
    [CAPS2_MISMATCH] = "mismatch",
    [CAPS2_ERROR] = "error",
    [CAPS2_UNSUPPORTED_HASH] = "unsupported-hash",
    [CAPS2_UNPARSABLE] = "unparsable",
};
_Static_assert(ARRAY_LEN(caps2_outcome_names) == CAPS2_OUTCOME__COUNT,
               "names table");

const char *caps2_error_name(enum caps2_error e)
{
    return (unsigned)e < CAPS2_ERR__COUNT ? caps2_error_names[e] : "?";
}

const char *caps2_error_text(enum caps2_error e)
{
    return (unsigned)e < CAPS2_ERR__COUNT ? caps2_error_texts[e] : "?";
}

const char *caps2_outcome_name(enum caps2_outcome o)
{
    return (unsigned)o < CAPS2_OUTCOME__COUNT ? caps2_outcome_names[o] : "?";
}

bool caps2_outcome_parse(const char *s, enum caps2_outcome *out)
{
    for (size_t i = 0; s && i < CAPS2_OUTCOME__COUNT; i++) {
        if (strcmp(s, caps2_outcome_names[i]) == 0) {
            *out = (enum caps2_outcome)i;
            return true;
        }
    }
    return false;
}

/* --- Sorted segment lists --- */

struct seg {
    size_t off, len;
};

struct seglist {
    struct buf data; /* the segments, back to back */
    struct seg *segs;
    size_t n, cap;
};

static void seg_begin(struct seglist *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->segs = xreallocarray(l->segs, l->cap, sizeof *l->segs);
    }
    l->segs[l->n].off = l->data.len;
    l->segs[l->n].len = 0;
}

static void seg_end(struct seglist *l)
{
    l->segs[l->n].len = l->data.len - l->segs[l->n].off;
    l->n++;
}

static int seg_cmp(const void *x, const void *y, void *base)
{
    const struct seg *a = x, *b = y;
    const char *d = base;
    int c = memcmp(d + a->off, d + b->off, XC_MIN(a->len, b->len));
    if (c)
        return c;
    return (a->len > b->len) - (a->len < b->len);
}

/* Appends the segments of l to out in i;octet order, then empties l. */
static void seg_flush(struct seglist *l, struct buf *out)
{
    if (l->n > 1)
        qsort_r(l->segs, l->n, sizeof *l->segs, seg_cmp, l->data.data);
    for (size_t i = 0; i < l->n; i++)
        buf_append(out, l->data.data + l->segs[i].off, l->segs[i].len);
    l->n = 0;
    buf_reset(&l->data);
}

static void seg_free(struct seglist *l)
{
    buf_free(&l->data);
    free(l->segs);
}

static void put_us(struct buf *b, const char *s)
{
    buf_puts(b, s);
    buf_putc(b, US);
}

static enum caps2_error check(const struct disco_info *info)
{
    if (info->n_other > 0)
        return CAPS2_ERR_FORBIDDEN;
    for (size_t i = 0; i < info->n_forms; i++) {
        const struct dataform *f = info->forms[i];
        if (f->has_reported)
            return CAPS2_ERR_FORM_REPORTED;
        if (strcmp(f->type, "result") != 0 ||
            dataform_form_type(f, NULL) != DATAFORM_FT_OK)
            return CAPS2_ERR_FORM_TYPE;
    }
    return CAPS2_ERR_NONE;
}

enum caps2_error caps2_input(const struct disco_info *info, struct buf *out)
{
    enum caps2_error e = check(info);
    if (e != CAPS2_ERR_NONE)
        return e;
    struct seglist l = {0}, fields = {0}, values = {0};

    /* s4.1 step 2: features */
    for (size_t i = 0; i < info->n_features; i++) {
        seg_begin(&l);
        put_us(&l.data, info->features[i]);
        seg_end(&l);
    }
    seg_flush(&l, out);
    buf_putc(out, FS);

    /* step 3: identities, with the implicit xml:lang */
    for (size_t i = 0; i < info->n_identities; i++) {
        const struct disco_identity *id = &info->identities[i];
        seg_begin(&l);
        put_us(&l.data, id->category);
        put_us(&l.data, id->type);
        put_us(&l.data, id->lang_eff);
        put_us(&l.data, id->name);
        buf_putc(&l.data, RS);
        seg_end(&l);
    }
    seg_flush(&l, out);
    buf_putc(out, FS);

    /* step 4: extensions; FORM_TYPE is an ordinary field here */
    for (size_t i = 0; i < info->n_forms; i++) {
        const struct dataform *f = info->forms[i];
        seg_begin(&l);
        for (size_t j = 0; j < f->n_fields; j++) {
            const struct dataform_field *fl = f->fields[j];
            seg_begin(&fields);
            put_us(&fields.data, fl->var);
            for (size_t k = 0; k < fl->n_values; k++) {
                seg_begin(&values);
                put_us(&values.data, fl->values[k]);
                seg_end(&values);
            }
            seg_flush(&values, &fields.data);
            buf_putc(&fields.data, RS);
            seg_end(&fields);
        }
        seg_flush(&fields, &l.data);
        buf_putc(&l.data, GS);
        seg_end(&l);
    }
    seg_flush(&l, out);
    buf_putc(out, FS);

    seg_free(&l);
    seg_free(&fields);
    seg_free(&values);
    return CAPS2_ERR_NONE;
}

enum caps2_error caps2_hash(const struct disco_info *info, enum hash_algo a,
                            char out[HASH_B64_MAX], bool *ok)
{
    struct buf in = BUF_INIT;
    out[0] = '\0';
    *ok = true;
    enum caps2_error e = caps2_input(info, &in);
    if (e == CAPS2_ERR_NONE)
        *ok = hash_b64(a, in.data, in.len, out);
    buf_free(&in);
    return e;
}

enum caps2_outcome caps2_verify(const struct disco_info *info, const char *algo,
                                const char *b64, enum caps2_error *err)
{
    enum caps2_error dummy;
    if (err == NULL)
        err = &dummy;
    *err = CAPS2_ERR_NONE;
    enum hash_algo a;
    if (!hash_algo_parse(algo, &a) || !hash_algo_available(a))
        return CAPS2_UNSUPPORTED_HASH;
    if (info == NULL)
        return CAPS2_UNPARSABLE;
    char h[HASH_B64_MAX];
    bool ok;
    *err = caps2_hash(info, a, h, &ok);
    if (*err != CAPS2_ERR_NONE)
        return CAPS2_ERROR;
    if (!ok)
        return CAPS2_UNSUPPORTED_HASH;
    return b64 && strcmp(h, b64) == 0 ? CAPS2_VALID : CAPS2_MISMATCH;
}

char *caps2_hash_node(const char *algo, const char *b64)
{
    return xasprintf(HASH_NODE_PREFIX "%s.%s", algo, b64);
}

bool caps2_hash_node_parse(const char *node, const char **algo,
                           size_t *algo_len, const char **b64, size_t *b64_len)
{
    size_t plen = strlen(HASH_NODE_PREFIX);
    if (node == NULL || strncmp(node, HASH_NODE_PREFIX, plen) != 0)
        return false;
    const char *a = node + plen;
    const char *dot = strrchr(a, '.');
    if (dot == NULL || dot == a || dot[1] == '\0')
        return false;
    *algo = a;
    *algo_len = (size_t)(dot - a);
    *b64 = dot + 1;
    *b64_len = strlen(dot + 1);
    return true;
}
