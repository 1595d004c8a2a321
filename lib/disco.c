/*
 * disco#info model, bounded expat parser and serializer. Everything a
 * struct disco_info points to lives in one private region (a list of
 * chunks), so a parse that fails halfway frees with one call and parsing
 * a typical result costs a handful of mallocs. The parser refuses DOCTYPE
 * and entity declarations (no entity expansion, no external fetches),
 * forces UTF-8, and bounds input size, depth, counts and string lengths.
 */
#include "disco.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"
#include "xml.h"

const struct disco_limits disco_limits_default = {
    .max_input = 1 << 20,
    .max_depth = 16,
    .max_identities = 256,
    .max_features = 4096,
    .max_forms = 64,
    .max_fields = 256,
    .max_values = 256,
    .max_string = 64 << 10,
    .max_other = 4096,
};

static const char *const disco_err_names[] = {
    [DISCO_OK] = "ok",
    [DISCO_ERR_XML] = "xml",
    [DISCO_ERR_DOCTYPE] = "doctype",
    [DISCO_ERR_TOO_LARGE] = "too-large",
    [DISCO_ERR_TOO_DEEP] = "too-deep",
    [DISCO_ERR_LIMIT] = "limit",
    [DISCO_ERR_NO_QUERY] = "no-query",
};
_Static_assert(ARRAY_LEN(disco_err_names) == DISCO_ERR__COUNT, "names table");

const char *disco_err_name(enum disco_err e)
{
    if ((unsigned)e >= DISCO_ERR__COUNT)
        return "?";
    return disco_err_names[e];
}

/* --- Region: bump allocation in chunks, freed at once --- */

struct region_chunk {
    struct region_chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

struct disco_region {
    struct region_chunk *head;
};

static void *ralloc(struct disco_region *r, size_t n)
{
    size_t align = alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    struct region_chunk *c = r->head;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = c ? c->cap * 2 : 4096;
        if (cap > 1 << 20)
            cap = 1 << 20;
        if (cap < n)
            cap = n;
        c = xmalloc(sizeof *c + cap);
        c->cap = cap;
        c->used = 0;
        c->next = r->head;
        r->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static const char *rstrndup(struct disco_region *r, const char *s, size_t n)
{
    if (n == 0)
        return "";
    char *p = ralloc(r, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static const char *rstrdup(struct disco_region *r, const char *s)
{
    return s ? rstrndup(r, s, strlen(s)) : "";
}

/* Grows a region array of elements of size sz to hold one more; the old
 * array stays in the region (geometric growth bounds the waste). */
static void *rgrow(struct disco_region *r, void *arr, size_t n, size_t *cap,
                   size_t sz)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = ralloc(r, ncap * sz);
    if (n)
        memcpy(p, arr, n * sz);
    *cap = ncap;
    return p;
}

/* --- Model and builders --- */

struct disco_info *disco_info_new(void)
{
    struct disco_info *info = xcalloc(1, sizeof *info);
    info->mem = xcalloc(1, sizeof *info->mem);
    info->lang = "";
    return info;
}

void disco_info_free(struct disco_info *info)
{
    if (info == NULL)
        return;
    struct region_chunk *c = info->mem->head;
    while (c) {
        struct region_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(info->mem);
    free(info);
}

void disco_set_node(struct disco_info *info, const char *node)
{
    info->node = node ? rstrdup(info->mem, node) : NULL;
}

void disco_set_lang(struct disco_info *info, const char *lang)
{
    info->lang = rstrdup(info->mem, lang);
}

static struct disco_identity *add_identity(struct disco_info *info)
{
    info->identities = rgrow(info->mem, info->identities, info->n_identities,
                             &info->cap_identities, sizeof *info->identities);
    return &info->identities[info->n_identities++];
}

void disco_add_identity(struct disco_info *info, const char *category,
                        const char *type, const char *lang, const char *name)
{
    struct disco_identity *id = add_identity(info);
    id->category = rstrdup(info->mem, category);
    id->type = rstrdup(info->mem, type);
    id->lang = rstrdup(info->mem, lang);
    id->lang_eff = id->lang[0] ? id->lang : info->lang;
    id->name = rstrdup(info->mem, name);
}

static void add_feature_str(struct disco_info *info, const char *var)
{
    info->features = rgrow(info->mem, info->features, info->n_features,
                           &info->cap_features, sizeof *info->features);
    info->features[info->n_features++] = var;
}

void disco_add_feature(struct disco_info *info, const char *var)
{
    add_feature_str(info, rstrdup(info->mem, var));
}

/* Forms and fields keep a private capacity next to them. */
struct form_priv {
    struct dataform form; /* first: the public part */
    size_t cap_fields;
};

struct field_priv {
    struct dataform_field field; /* first: the public part */
    size_t cap_values;
};

struct dataform *disco_add_form(struct disco_info *info, const char *type)
{
    struct form_priv *fp = ralloc(info->mem, sizeof *fp);
    memset(fp, 0, sizeof *fp);
    fp->form.type = rstrdup(info->mem, type);
    info->forms = rgrow(info->mem, info->forms, info->n_forms, &info->cap_forms,
                        sizeof *info->forms);
    info->forms[info->n_forms++] = &fp->form;
    return &fp->form;
}

struct dataform_field *disco_form_add_field(struct disco_info *info,
                                            struct dataform *form,
                                            const char *var, const char *type)
{
    struct form_priv *fp = (struct form_priv *)form;
    struct field_priv *fl = ralloc(info->mem, sizeof *fl);
    memset(fl, 0, sizeof *fl);
    fl->field.var = rstrdup(info->mem, var);
    fl->field.type = rstrdup(info->mem, type);
    form->fields = rgrow(info->mem, form->fields, form->n_fields,
                         &fp->cap_fields, sizeof *form->fields);
    form->fields[form->n_fields++] = &fl->field;
    return &fl->field;
}

static void field_add_value_str(struct disco_info *info,
                                struct dataform_field *field, const char *v)
{
    struct field_priv *fl = (struct field_priv *)field;
    field->values = rgrow(info->mem, field->values, field->n_values,
                          &fl->cap_values, sizeof *field->values);
    field->values[field->n_values++] = v;
}

void disco_field_add_value(struct disco_info *info,
                           struct dataform_field *field, const char *value)
{
    field_add_value_str(info, field, rstrdup(info->mem, value));
}

struct dataform *disco_add_typed_form(struct disco_info *info,
                                      const char *form_type)
{
    struct dataform *f = disco_add_form(info, "result");
    struct dataform_field *ft =
        disco_form_add_field(info, f, "FORM_TYPE", "hidden");
    disco_field_add_value(info, ft, form_type);
    return f;
}

const struct dataform *disco_find_form(const struct disco_info *info,
                                       const char *form_type)
{
    for (size_t i = 0; i < info->n_forms; i++) {
        const char *v = NULL;
        dataform_form_type(info->forms[i], &v);
        if (v && strcmp(v, form_type) == 0)
            return info->forms[i];
    }
    return NULL;
}

bool disco_has_feature(const struct disco_info *info, const char *var)
{
    for (size_t i = 0; i < info->n_features; i++)
        if (strcmp(info->features[i], var) == 0)
            return true;
    return false;
}

/* --- Serializer --- */

static void put_escaped(struct buf *b, const char *s, bool attr)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '\'':
            rep = attr ? "&apos;" : NULL;
            break;
        case '"':
            rep = attr ? "&quot;" : NULL;
            break;
        case '\t':
            rep = attr ? "&#9;" : NULL;
            break;
        case '\n':
            rep = attr ? "&#10;" : NULL;
            break;
        case '\r':
            rep = "&#13;";
            break;
        default:
            break;
        }
        if (rep) {
            buf_append(b, run, (size_t)(s - run));
            buf_puts(b, rep);
            run = s + 1;
        }
    }
    buf_append(b, run, (size_t)(s - run));
}

static void put_attr(struct buf *b, const char *name, const char *v)
{
    buf_printf(b, " %s='", name);
    put_escaped(b, v, true);
    buf_putc(b, '\'');
}

char *disco_info_to_xml(const struct disco_info *info)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "<query xmlns='" DISCO_NS_INFO "'");
    if (info->node)
        put_attr(&b, "node", info->node);
    if (info->lang && info->lang[0])
        put_attr(&b, "xml:lang", info->lang);
    buf_putc(&b, '>');
    for (size_t i = 0; i < info->n_identities; i++) {
        const struct disco_identity *id = &info->identities[i];
        buf_puts(&b, "<identity");
        put_attr(&b, "category", id->category);
        put_attr(&b, "type", id->type);
        if (id->lang[0])
            put_attr(&b, "xml:lang", id->lang);
        if (id->name[0])
            put_attr(&b, "name", id->name);
        buf_puts(&b, "/>");
    }
    for (size_t i = 0; i < info->n_features; i++) {
        buf_puts(&b, "<feature");
        put_attr(&b, "var", info->features[i]);
        buf_puts(&b, "/>");
    }
    for (size_t i = 0; i < info->n_forms; i++) {
        const struct dataform *f = info->forms[i];
        buf_puts(&b, "<x xmlns='" DISCO_NS_DATA "'");
        if (f->type[0])
            put_attr(&b, "type", f->type);
        buf_putc(&b, '>');
        for (size_t j = 0; j < f->n_fields; j++) {
            const struct dataform_field *fl = f->fields[j];
            buf_puts(&b, "<field");
            if (fl->var[0])
                put_attr(&b, "var", fl->var);
            if (fl->type[0])
                put_attr(&b, "type", fl->type);
            buf_putc(&b, '>');
            for (size_t k = 0; k < fl->n_values; k++) {
                buf_puts(&b, "<value>");
                put_escaped(&b, fl->values[k], false);
                buf_puts(&b, "</value>");
            }
            buf_puts(&b, "</field>");
        }
        buf_puts(&b, "</x>");
    }
    buf_puts(&b, "</query>");
    return buf_steal(&b);
}

/* --- Parser --- */

#define Q_QUERY DISCO_NS_INFO " query"
#define Q_IDENTITY DISCO_NS_INFO " identity"
#define Q_FEATURE DISCO_NS_INFO " feature"
#define Q_X DISCO_NS_DATA " x"
#define Q_FIELD DISCO_NS_DATA " field"
#define Q_VALUE DISCO_NS_DATA " value"
#define Q_REPORTED DISCO_NS_DATA " reported"
#define Q_ITEM DISCO_NS_DATA " item"
#define Q_MEDIA DISCO_NS_MEDIA " media"

struct pstate {
    struct xml_guard g; /* first: see xml.h */
    const struct disco_limits *lim;
    struct disco_info *info;
    struct parse_err *err;
    unsigned depth;       /* depth of the current element, root = 1 */
    unsigned query_depth; /* 0 until <query/> starts */
    bool query_seen;
    const char **langs;           /* xml:lang in scope at each depth */
    struct dataform *form;        /* open <x/>, at query_depth + 1 */
    struct dataform_field *field; /* open <field/>, at query_depth + 2 */
    bool in_value;                /* open <value/>, at query_depth + 3 */
    struct buf text;
    size_t n_other;
};

#define fail(st, ...) xml_fail(&(st)->g, __VA_ARGS__)

/* Returns the attribute value or NULL; fails on an over-long one. */
static const char *attr(struct pstate *st, const char **atts, const char *name)
{
    for (size_t i = 0; atts[i]; i += 2) {
        if (strcmp(atts[i], name) == 0) {
            if (strlen(atts[i + 1]) > st->lim->max_string) {
                fail(st, DISCO_ERR_LIMIT, "attribute \"%s\" too long", name);
                return NULL;
            }
            return atts[i + 1];
        }
    }
    return NULL;
}

static bool is_iq(const char *name)
{
    return strcmp(xml_local_name(name), "iq") == 0;
}

static bool other_element(struct pstate *st)
{
    if (++st->n_other > st->lim->max_other) {
        fail(st, DISCO_ERR_LIMIT, "too many unrecognized elements");
        return false;
    }
    return true;
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
    struct pstate *st = ud;
    if (st->err->code)
        return;
    struct disco_info *info = st->info;
    const struct disco_limits *lim = st->lim;

    if (st->depth + 1 > lim->max_depth) {
        fail(st, DISCO_ERR_TOO_DEEP, "elements nested deeper than %u",
             lim->max_depth);
        return;
    }
    unsigned d = ++st->depth;
    const char *lang = attr(st, atts, XML_LANG_ATTR);
    if (st->err->code)
        return;
    st->langs[d] = lang ? rstrdup(info->mem, lang) : st->langs[d - 1];

    if (d == 1) {
        if (strcmp(name, Q_QUERY) == 0) {
            st->query_depth = 1;
        } else if (!is_iq(name)) {
            fail(st, DISCO_ERR_NO_QUERY,
                 "root element is not <iq/> or "
                 "a disco#info <query/>");
            return;
        }
    } else if (d == 2 && st->query_depth == 0) {
        if (strcmp(name, Q_QUERY) == 0 && !st->query_seen)
            st->query_depth = 2;
        else if (!other_element(st))
            return;
    }
    unsigned q = st->query_depth;
    if (q == 0)
        return;
    if (d == q) {
        st->query_seen = true;
        const char *node = attr(st, atts, "node");
        if (st->err->code)
            return;
        info->node = node ? rstrdup(info->mem, node) : NULL;
        info->lang = st->langs[d];
        return;
    }
    if (d == q + 1) {
        if (strcmp(name, Q_IDENTITY) == 0) {
            if (info->n_identities >= lim->max_identities) {
                fail(st, DISCO_ERR_LIMIT, "more than %u identities",
                     lim->max_identities);
                return;
            }
            const char *cat = attr(st, atts, "category");
            const char *type = attr(st, atts, "type");
            const char *nm = attr(st, atts, "name");
            const char *ilang = lang;
            if (st->err->code)
                return;
            struct disco_identity *id = add_identity(info);
            id->category = rstrdup(info->mem, cat);
            id->type = rstrdup(info->mem, type);
            id->lang = ilang ? st->langs[d] : "";
            id->lang_eff = st->langs[d];
            id->name = rstrdup(info->mem, nm);
        } else if (strcmp(name, Q_FEATURE) == 0) {
            if (info->n_features >= lim->max_features) {
                fail(st, DISCO_ERR_LIMIT, "more than %u features",
                     lim->max_features);
                return;
            }
            const char *var = attr(st, atts, "var");
            if (st->err->code)
                return;
            add_feature_str(info, rstrdup(info->mem, var));
        } else if (strcmp(name, Q_X) == 0) {
            if (info->n_forms >= lim->max_forms) {
                fail(st, DISCO_ERR_LIMIT, "more than %u forms", lim->max_forms);
                return;
            }
            const char *type = attr(st, atts, "type");
            if (st->err->code)
                return;
            st->form = disco_add_form(info, type);
        } else {
            if (!other_element(st))
                return;
            info->n_other++;
        }
        return;
    }
    if (d == q + 2 && st->form) {
        if (strcmp(name, Q_FIELD) == 0) {
            if (st->form->n_fields >= lim->max_fields) {
                fail(st, DISCO_ERR_LIMIT, "more than %u fields in a form",
                     lim->max_fields);
                return;
            }
            const char *var = attr(st, atts, "var");
            const char *type = attr(st, atts, "type");
            if (st->err->code)
                return;
            st->field = disco_form_add_field(info, st->form, var, type);
        } else if (strcmp(name, Q_REPORTED) == 0 || strcmp(name, Q_ITEM) == 0) {
            st->form->has_reported = true;
            other_element(st);
        } else {
            st->form->n_other++;
            other_element(st);
        }
        return;
    }
    if (d == q + 3 && st->field) {
        if (strcmp(name, Q_VALUE) == 0) {
            if (st->field->n_values >= lim->max_values) {
                fail(st, DISCO_ERR_LIMIT, "more than %u values in a field",
                     lim->max_values);
                return;
            }
            st->in_value = true;
            buf_reset(&st->text);
        } else if (strcmp(name, Q_MEDIA) == 0) {
            st->field->has_media = true;
            other_element(st);
        } else {
            st->field->n_other++;
            other_element(st);
        }
        return;
    }
    other_element(st);
}

static void XMLCALL on_end(void *ud, const char *name)
{
    struct pstate *st = ud;
    if (st->err->code)
        return; /* expat may still report the end of an element */
    unsigned d = st->depth--;
    unsigned q = st->query_depth;
    if (q == 0)
        return;
    if (d == q + 3 && st->in_value) {
        field_add_value_str(st->info, st->field,
                            rstrndup(st->info->mem,
                                     st->text.data ? st->text.data : "",
                                     st->text.len));
        st->in_value = false;
    } else if (d == q + 2 && st->field) {
        st->field = NULL;
    } else if (d == q + 1 && st->form) {
        st->form = NULL;
    } else if (d == q) {
        st->query_depth = 0; /* later siblings are not the query */
    }
}

static void XMLCALL on_text(void *ud, const char *s, int len)
{
    struct pstate *st = ud;
    if (st->err->code)
        return;
    /* Only character data directly inside <value/> counts. */
    if (!st->in_value || st->depth != st->query_depth + 3)
        return;
    if (st->text.len + (size_t)len > st->lim->max_string) {
        fail(st, DISCO_ERR_LIMIT, "value longer than %zu bytes",
             st->lim->max_string);
        return;
    }
    buf_append(&st->text, s, (size_t)len);
}

struct disco_info *disco_parse(const char *xml, size_t len,
                               const struct disco_limits *lim,
                               struct parse_err *err)
{
    struct parse_err dummy;
    if (err == NULL)
        err = &dummy;
    memset(err, 0, sizeof *err);
    if (lim == NULL)
        lim = &disco_limits_default;
    if (len > lim->max_input) {
        err->code = DISCO_ERR_TOO_LARGE;
        snprintf(err->msg, sizeof err->msg, "input of %zu bytes exceeds %zu",
                 len, lim->max_input);
        return NULL;
    }
    if (len > (size_t)INT32_MAX) {
        err->code = DISCO_ERR_TOO_LARGE;
        snprintf(err->msg, sizeof err->msg, "input too large");
        return NULL;
    }
    struct pstate st = {0};
    st.lim = lim;
    st.err = err;
    st.info = disco_info_new();
    st.langs = xcalloc((size_t)lim->max_depth + 2, sizeof *st.langs);
    st.langs[0] = "";
    st.g.err = err;
    st.g.doctype_code = DISCO_ERR_DOCTYPE;
    XML_Parser p = xml_parser_new(&st.g);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);

    if (XML_Parse(p, xml, (int)len, XML_TRUE) != XML_STATUS_OK)
        xml_fail_expat(&st.g, DISCO_ERR_XML);
    if (err->code == 0 && !st.query_seen) {
        err->code = DISCO_ERR_NO_QUERY;
        snprintf(err->msg, sizeof err->msg, "no disco#info <query/> found");
    }
    XML_ParserFree(p);
    buf_free(&st.text);
    free(st.langs);
    if (err->code != 0) {
        disco_info_free(st.info);
        return NULL;
    }
    return st.info;
}
