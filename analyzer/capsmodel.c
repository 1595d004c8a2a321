/*
 * The caps-cache model. Four string tables do the interning: `strings`
 * (features, nodes, names, identity sets), `keys` ("ALGO VER", whose id is
 * the entry index), `nodevers` ("NODE#VER") and `stripped` (keys without
 * XEP-0232). Feature sets are interned too: the bytes of a sorted id array
 * are themselves a string in `fsets_tab`, whose id is the set id.
 */
#include "capsmodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "caps.h"
#include "softinfo.h"
#include "xalloc.h"

#define SOFTINFO_FORM_TYPE "urn:xmpp:dataforms:softwareinfo"

struct posting {
    uint32_t *ids;
    uint32_t n, cap;
};

struct capsmodel {
    struct strtab *strings;
    struct strtab *keys;
    struct strtab *nodevers;
    struct strtab *nodes;
    struct strtab *stripped;
    struct strtab *fsets_tab;
    struct cm_entry *entries; /* index = key id */
    size_t n, cap;
    uint32_t *nodever_entry;  /* index = nodevers id */
    size_t nv_cap;
    struct cm_fset *fsets;    /* index = fsets_tab id */
    size_t fs_cap;
    struct posting *postings; /* index = feature string id */
    size_t n_postings;
    struct buf scratch;
};

struct capsmodel *capsmodel_new(void)
{
    struct capsmodel *m = xcalloc(1, sizeof *m);
    m->strings = strtab_new();
    m->keys = strtab_new();
    m->nodevers = strtab_new();
    m->nodes = strtab_new();
    m->stripped = strtab_new();
    m->fsets_tab = strtab_new();
    return m;
}

static void postings_free(struct capsmodel *m)
{
    for (size_t i = 0; i < m->n_postings; i++)
        free(m->postings[i].ids);
    free(m->postings);
    m->postings = NULL;
    m->n_postings = 0;
}

void capsmodel_free(struct capsmodel *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < strtab_count(m->fsets_tab); i++)
        free(m->fsets[i].features);
    free(m->fsets);
    free(m->entries);
    free(m->nodever_entry);
    postings_free(m);
    strtab_free(m->strings);
    strtab_free(m->keys);
    strtab_free(m->nodevers);
    strtab_free(m->nodes);
    strtab_free(m->stripped);
    strtab_free(m->fsets_tab);
    buf_free(&m->scratch);
    free(m);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint32_t intern_fset(struct capsmodel *m, const struct disco_info *info)
{
    uint32_t *ids = xcalloc(info->n_features ? info->n_features : 1,
                            sizeof *ids);
    for (size_t i = 0; i < info->n_features; i++)
        ids[i] = strtab_intern_cstr(m->strings, info->features[i]);
    qsort(ids, info->n_features, sizeof *ids, cmp_u32);
    size_t n = 0;
    for (size_t i = 0; i < info->n_features; i++)
        if (n == 0 || ids[n - 1] != ids[i])
            ids[n++] = ids[i];
    size_t before = strtab_count(m->fsets_tab);
    uint32_t id = strtab_intern(m->fsets_tab, (const char *)ids, n * sizeof *ids);
    if (strtab_count(m->fsets_tab) > before) {
        if (id >= m->fs_cap) {
            m->fs_cap = m->fs_cap ? m->fs_cap * 2 : 256;
            m->fsets = xreallocarray(m->fsets, m->fs_cap, sizeof *m->fsets);
        }
        m->fsets[id] = (struct cm_fset){ids, (uint32_t)n, 0};
    } else {
        free(ids);
    }
    m->fsets[id].entries++;
    return id;
}

static uint32_t intern_idset(struct capsmodel *m, const struct disco_info *info)
{
    char **parts = xcalloc(info->n_identities ? info->n_identities : 1,
                           sizeof *parts);
    for (size_t i = 0; i < info->n_identities; i++) {
        const struct disco_identity *d = &info->identities[i];
        parts[i] = xasprintf("%s/%s/%s/%s", d->category, d->type, d->lang,
                             d->name);
    }
    qsort(parts, info->n_identities, sizeof *parts, cmp_str);
    buf_reset(&m->scratch);
    for (size_t i = 0; i < info->n_identities; i++) {
        buf_puts(&m->scratch, parts[i]);
        buf_putc(&m->scratch, '<');
        free(parts[i]);
    }
    free(parts);
    return strtab_intern(m->strings, m->scratch.data ? m->scratch.data : "",
                         m->scratch.len);
}

/* A copy of info without its XEP-0232 form(s). */
static struct disco_info *strip_softinfo(const struct disco_info *info)
{
    struct disco_info *c = disco_info_new();
    disco_set_node(c, info->node);
    disco_set_lang(c, info->lang);
    for (size_t i = 0; i < info->n_identities; i++) {
        const struct disco_identity *d = &info->identities[i];
        disco_add_identity(c, d->category, d->type, d->lang, d->name);
    }
    for (size_t i = 0; i < info->n_features; i++)
        disco_add_feature(c, info->features[i]);
    for (size_t i = 0; i < info->n_forms; i++) {
        const struct dataform *f = info->forms[i];
        const char *ft = NULL;
        dataform_form_type(f, &ft);
        if (ft && strcmp(ft, SOFTINFO_FORM_TYPE) == 0)
            continue;
        struct dataform *cf = disco_add_form(c, f->type);
        for (size_t k = 0; k < f->n_fields; k++) {
            const struct dataform_field *fd = f->fields[k];
            struct dataform_field *cfd =
                disco_form_add_field(c, cf, fd->var, fd->type);
            for (size_t v = 0; v < fd->n_values; v++)
                disco_field_add_value(c, cfd, fd->values[v]);
        }
    }
    return c;
}

static uint32_t intern_key(struct strtab *t, enum hash_algo algo,
                           const char *ver, struct buf *scratch)
{
    buf_reset(scratch);
    buf_printf(scratch, "%s %s", hash_algo_name(algo), ver);
    return strtab_intern(t, scratch->data, scratch->len);
}

static uint32_t opt_string(struct capsmodel *m, const char *s)
{
    return s && *s ? strtab_intern_cstr(m->strings, s) : CM_NONE;
}

static void add_nodever(struct capsmodel *m, const char *node, const char *ver,
                        uint32_t key)
{
    buf_reset(&m->scratch);
    buf_printf(&m->scratch, "%s#%s", node, ver);
    size_t before = strtab_count(m->nodevers);
    uint32_t nv = strtab_intern(m->nodevers, m->scratch.data, m->scratch.len);
    if (strtab_count(m->nodevers) == before)
        return;
    if (nv >= m->nv_cap) {
        m->nv_cap = m->nv_cap ? m->nv_cap * 2 : 1024;
        m->nodever_entry =
            xreallocarray(m->nodever_entry, m->nv_cap, sizeof *m->nodever_entry);
    }
    m->nodever_entry[nv] = key;
}

uint32_t capsmodel_add(struct capsmodel *m, const struct cm_input *in)
{
    size_t before = strtab_count(m->keys);
    uint32_t key = intern_key(m->keys, in->algo, in->ver, &m->scratch);
    if (in->node) {
        add_nodever(m, in->node, in->ver, key);
        strtab_intern_cstr(m->nodes, in->node);
    }
    if (strtab_count(m->keys) == before) {
        m->entries[key].observations += in->observations;
        return key;
    }
    if (key >= m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->entries = xreallocarray(m->entries, m->cap, sizeof *m->entries);
    }
    struct cm_entry *e = &m->entries[key];
    memset(e, 0, sizeof *e);
    m->n++;
    e->key = key;
    e->algo = (uint8_t)in->algo;
    e->observations = in->observations;
    e->flags = in->verified ? CM_VERIFIED : 0;
    e->node = opt_string(m, in->node);
    e->fset = intern_fset(m, in->info);
    e->idset = intern_idset(m, in->info);

    struct softinfo si;
    softinfo_extract(in->info, &si);
    if (si.present) {
        e->flags |= CM_SOFTINFO;
        e->software = opt_string(m, si.software);
        e->version = opt_string(m, si.software_version);
        if (si.os || si.os_version) {
            char *os = xasprintf("%s %s", si.os ? si.os : "",
                                 si.os_version ? si.os_version : "");
            e->os = strtab_intern_cstr(m->strings, os);
            free(os);
        } else {
            e->os = CM_NONE;
        }
    } else {
        e->software = in->info->n_identities
                          ? opt_string(m, in->info->identities[0].name)
                          : CM_NONE;
        e->version = CM_NONE;
        e->os = CM_NONE;
    }
    softinfo_free(&si);

    /* sizes */
    buf_reset(&m->scratch);
    caps_build_s(in->info, CAPS_M_STRICT, &m->scratch, NULL);
    e->s_bytes = (uint32_t)m->scratch.len;
    if (in->xml_bytes) {
        e->xml_bytes = (uint32_t)in->xml_bytes;
    } else {
        char *xml = disco_info_to_xml(in->info);
        e->xml_bytes = (uint32_t)strlen(xml);
        free(xml);
    }

    /* the XEP-0232 counterfactual */
    char stripped_ver[HASH_B64_MAX];
    const char *sv = in->ver;
    if (e->flags & CM_SOFTINFO) {
        struct disco_info *c = strip_softinfo(in->info);
        if (caps_ver_compute(c, in->algo, CAPS_M_STRICT, stripped_ver))
            sv = stripped_ver;
        disco_info_free(c);
    }
    e->stripped = intern_key(m->stripped, in->algo, sv, &m->scratch);

    return key;
}

size_t capsmodel_count(const struct capsmodel *m)
{
    return m->n;
}

size_t capsmodel_node_count(const struct capsmodel *m)
{
    return strtab_count(m->nodes);
}

size_t capsmodel_nodever_count(const struct capsmodel *m)
{
    return strtab_count(m->nodevers);
}

const struct cm_entry *capsmodel_entry(const struct capsmodel *m, uint32_t i)
{
    ASSERT(i < m->n);
    return &m->entries[i];
}

const struct cm_fset *capsmodel_fset(const struct capsmodel *m, uint32_t id)
{
    ASSERT(id < strtab_count(m->fsets_tab));
    return &m->fsets[id];
}

size_t capsmodel_fset_count(const struct capsmodel *m)
{
    return strtab_count(m->fsets_tab);
}

const struct strtab *capsmodel_strings(const struct capsmodel *m)
{
    return m->strings;
}

size_t capsmodel_stripped_count(const struct capsmodel *m)
{
    return strtab_count(m->stripped);
}

const char *capsmodel_key(const struct capsmodel *m, uint32_t i)
{
    ASSERT(i < m->n);
    return strtab_str(m->keys, m->entries[i].key);
}

const char *capsmodel_stripped_key(const struct capsmodel *m, uint32_t i)
{
    ASSERT(i < m->n);
    return strtab_str(m->stripped, m->entries[i].stripped);
}

uint32_t capsmodel_lookup(const struct capsmodel *m, enum hash_algo algo,
                          const char *ver)
{
    char key[HASH_B64_MAX + 32];
    int len = snprintf(key, sizeof key, "%s %s", hash_algo_name(algo), ver);
    if (len < 0 || (size_t)len >= sizeof key)
        return CM_NONE;
    uint32_t id = strtab_find(m->keys, key, (size_t)len);
    return id == STRTAB_NONE ? CM_NONE : id;
}

uint32_t capsmodel_lookup_nodever(const struct capsmodel *m, const char *node,
                                  const char *ver)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s#%s", node, ver);
    uint32_t id = strtab_find(m->nodevers, b.data, b.len);
    buf_free(&b);
    return id == STRTAB_NONE ? CM_NONE : m->nodever_entry[id];
}

void capsmodel_index_build(struct capsmodel *m)
{
    postings_free(m);
    m->n_postings = strtab_count(m->strings);
    m->postings = xcalloc(m->n_postings ? m->n_postings : 1,
                          sizeof *m->postings);
    for (uint32_t i = 0; i < m->n; i++) {
        const struct cm_fset *fs = &m->fsets[m->entries[i].fset];
        for (uint32_t k = 0; k < fs->n; k++) {
            struct posting *p = &m->postings[fs->features[k]];
            if (p->n == p->cap) {
                p->cap = p->cap ? p->cap * 2 : 8;
                p->ids = xreallocarray(p->ids, p->cap, sizeof *p->ids);
            }
            p->ids[p->n++] = i;
        }
    }
}

static bool fset_has(const struct cm_fset *fs, uint32_t f)
{
    return bsearch(&f, fs->features, fs->n, sizeof f, cmp_u32) != NULL;
}

/* Feature string ids of vars; false if one is unknown (nothing matches). */
static bool resolve_vars(const struct capsmodel *m, const char *const *vars,
                         size_t n, uint32_t *ids)
{
    for (size_t i = 0; i < n; i++) {
        ids[i] = strtab_find(m->strings, vars[i], strlen(vars[i]));
        if (ids[i] == STRTAB_NONE)
            return false;
    }
    return true;
}

size_t capsmodel_search_scan(const struct capsmodel *m, const char *const *vars,
                             size_t n, uint32_t *out, size_t cap)
{
    uint32_t *ids = xcalloc(n ? n : 1, sizeof *ids);
    size_t found = 0;
    if (n > 0 && resolve_vars(m, vars, n, ids)) {
        for (uint32_t i = 0; i < m->n; i++) {
            const struct cm_fset *fs = &m->fsets[m->entries[i].fset];
            size_t k = 0;
            while (k < n && fset_has(fs, ids[k]))
                k++;
            if (k == n) {
                if (found < cap)
                    out[found] = i;
                found++;
            }
        }
    }
    free(ids);
    return found;
}

static int cmp_posting_len(const void *a, const void *b, void *pm)
{
    const struct capsmodel *m = pm;
    uint32_t x = m->postings[*(const uint32_t *)a].n;
    uint32_t y = m->postings[*(const uint32_t *)b].n;
    return x < y ? -1 : x > y;
}

size_t capsmodel_search_index(const struct capsmodel *m,
                              const char *const *vars, size_t n, uint32_t *out,
                              size_t cap)
{
    ASSERT(m->postings != NULL || m->n == 0);
    uint32_t *ids = xcalloc(n ? n : 1, sizeof *ids);
    size_t found = 0;
    if (n == 0 || !resolve_vars(m, vars, n, ids))
        goto done;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= m->n_postings)
            goto done;
    /* smallest list first; the others are probed by binary search */
    qsort_r(ids, n, sizeof *ids, cmp_posting_len, (void *)m);
    const struct posting *first = &m->postings[ids[0]];
    for (uint32_t j = 0; j < first->n; j++) {
        uint32_t e = first->ids[j];
        size_t k = 1;
        while (k < n && bsearch(&e, m->postings[ids[k]].ids,
                                m->postings[ids[k]].n, sizeof e, cmp_u32))
            k++;
        if (k == n) {
            if (found < cap)
                out[found] = e;
            found++;
        }
    }
done:
    free(ids);
    return found;
}

size_t capsmodel_memory(const struct capsmodel *m)
{
    size_t bytes = sizeof *m + m->cap * sizeof *m->entries +
                   m->nv_cap * sizeof *m->nodever_entry +
                   m->fs_cap * sizeof *m->fsets + strtab_memory(m->strings) +
                   strtab_memory(m->keys) + strtab_memory(m->nodevers) + strtab_memory(m->nodes) +
                   strtab_memory(m->stripped) + strtab_memory(m->fsets_tab);
    for (size_t i = 0; i < strtab_count(m->fsets_tab); i++)
        bytes += m->fsets[i].n * sizeof(uint32_t);
    for (size_t i = 0; i < m->n_postings; i++)
        bytes += m->postings[i].cap * sizeof(uint32_t);
    return bytes;
}
