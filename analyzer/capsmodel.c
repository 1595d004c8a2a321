/*
 * The caps-cache model. Entries are keyed by the digest their ver encodes
 * (the `dk` table of 32-byte cells; a ver that is no digest by "ALGO VER"
 * in the string table `keys`); `strings` interns features, nodes, names and
 * identity sets; `nodes` the caps nodes, a node#ver key being the pair of a
 * node id and an entry id; `stripped` the keys without XEP-0232. Feature
 * sets (sorted id arrays) are interned in their own hash table. Posting lists (the index)
 * are compressed in blocks of varint gaps, or bitmaps when dense.
 */
#include "capsmodel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "buf.h"
#include "caps.h"
#include "softinfo.h"
#include "xalloc.h"

#define SOFTINFO_FORM_TYPE "urn:xmpp:dataforms:softwareinfo"

/* A posting list (the entries with one feature, ascending), compressed:
 * blocks of PB ids, each stored as its first id (in `first`) and the
 * varint-coded gaps to the next PB - 1 ids (from bytes + off[block]). A
 * search decodes only the blocks it lands in. */
#define PB 128
struct posting {
    uint64_t *bits;   /* a dense list (over an eighth of the entries) is a
                         bitmap instead: smaller, and intersected by word */
    uint32_t n, nblocks;
    uint32_t last;    /* last id appended (while building) */
    uint32_t *first;  /* nblocks */
    uint32_t *off;    /* nblocks */
    uint8_t *bytes;
    size_t len, cap;  /* of bytes; cap also counts first/off while building */
};

/* The exact-lookup table: the common case, a ver that is the base64 of a
 * digest of at most DK_MAX bytes (sha-1, md5), is found by decoding it and
 * probing 32-byte cells holding the digest itself, so a lookup costs one
 * cache line in the common case instead of a string table's three. Other
 * vers (longer digests, text that is not base64) use the string table. */
#define DK_MAX 26
#define HUGE_PAGE (2u << 20)
struct dkcell {
    uint32_t entry;
    uint8_t algo;
    uint8_t len; /* 0: empty cell */
    uint8_t digest[DK_MAX];
};
_Static_assert(sizeof(struct dkcell) == 32, "one cell, a half cache line");

static const int8_t b64val[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,
    ['G'] = 7,  ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
}; /* value + 1; 0 = not base64 */

/* Decodes padded base64 of at most DK_MAX bytes into out; returns the
 * length, or 0 if ver is anything else (it then lives in the string table
 * only). Non-canonical spellings (nonzero pad bits) also return 0. */
static size_t dk_decode(const char *ver, uint8_t out[DK_MAX])
{
    size_t n = strlen(ver);
    if (n == 0 || n % 4 || n / 4 * 3 > DK_MAX + 2)
        return 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)ver[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || b64val[c] == 0) {
                return 0;
            } else {
                v[k] = b64val[c] - 1;
            }
        }
        uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        uint8_t bytes[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        if ((pad == 1 && bytes[2]) || (pad == 2 && (bytes[1] || bytes[2])))
            return 0;
        for (int k = 0; k < 3 - pad; k++) {
            if (o == DK_MAX)
                return 0;
            out[o++] = bytes[k];
        }
    }
    return o;
}

static size_t dk_slot(const uint8_t *d, size_t len, uint8_t algo, size_t mask)
{
    uint64_t h = algo;
    memcpy(&h, d, len < 8 ? len : 8); /* digests are uniform already */
    h ^= (uint64_t)algo << 56;
    h *= 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 17) & mask;
}



struct capsmodel {
    struct strtab *strings;
    struct strtab *keys;
    struct strtab *nodes;
    struct strtab *stripped;
    uint32_t *fs_table;       /* feature sets: id + 1 per cell, 0 = empty */
    size_t fs_mask, n_fsets;
    struct cm_entry *entries; /* index = key id */
    uint32_t *cell;           /* per entry: its cell in dk, or KEY_OTHER | its
                                 id in `keys` (a ver that is not a digest) */
    size_t n, cap;
    uint32_t *other_entry;    /* keys id -> entry */
    size_t other_cap;
    uint32_t *node_str;       /* nodes id -> strings id */
    size_t node_cap;
    uint32_t last_node;       /* strings id of the node add_key() saw last */
    uint64_t *nv;             /* node#ver keys as (node id + 1) << 32 | entry,
                                 open addressing, 0 = empty */
    size_t nv_mask, nv_n;
    struct cm_fset *fsets;    /* index = set id */
    size_t fs_cap;
    struct posting *postings; /* index = feature string id */
    size_t n_postings;
    size_t index_n;           /* entries when the index was built */
    size_t si_entries;        /* entries with a XEP-0232 form ... */
    uint64_t si_form_bytes;   /* ... the bytes their forms add ... */
    uint64_t si_text_bytes;   /* ... and their name+version+os text */
    uint64_t stripped_xml_bytes; /* XML and S bytes of one entry per */
    uint64_t stripped_s_bytes;   /* stripped key, without the forms */
    struct dkcell *dk;        /* exact-lookup table of decodable vers */
    size_t dk_mask, dk_n;
    struct buf scratch;
};

static void dk_put(struct capsmodel *m, uint8_t algo, const uint8_t *d,
                   size_t len, uint32_t entry);

#define KEY_OTHER 0x80000000u

static void dk_grow(struct capsmodel *m)
{
    struct dkcell *old = m->dk;
    size_t cells = m->dk ? m->dk_mask + 1 : 0;
    m->dk_mask = cells ? cells * 2 - 1 : 1023;
    size_t bytes = (m->dk_mask + 1) * sizeof *m->dk;
    if (bytes >= HUGE_PAGE) {
        /* a random probe into tens of MiB costs a TLB miss on top of the
         * cache miss with 4 KiB pages: ask for transparent huge pages */
        void *p = NULL;
        if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
            DIE_BUG("out of memory (%zu bytes)", bytes);
        madvise(p, bytes, MADV_HUGEPAGE); /* advice only: may be refused */
        memset(p, 0, bytes);
        m->dk = p;
    } else {
        m->dk = xcalloc(m->dk_mask + 1, sizeof *m->dk);
    }
    m->dk_n = 0;
    for (size_t i = 0; i < cells; i++)
        if (old[i].len)
            dk_put(m, old[i].algo, old[i].digest, old[i].len, old[i].entry);
    free(old);
}

static void dk_put(struct capsmodel *m, uint8_t algo, const uint8_t *d,
                   size_t len, uint32_t entry)
{
    if (m->dk == NULL || (m->dk_n + 1) * 10 > (m->dk_mask + 1) * 7)
        dk_grow(m);
    size_t i = dk_slot(d, len, algo, m->dk_mask);
    while (m->dk[i].len)
        i = (i + 1) & m->dk_mask;
    m->dk[i].entry = entry;
    m->cell[entry] = (uint32_t)i;
    m->dk[i].algo = algo;
    m->dk[i].len = (uint8_t)len;
    memcpy(m->dk[i].digest, d, len);
    m->dk_n++;
}

static uint32_t dk_get(const struct capsmodel *m, uint8_t algo,
                       const uint8_t *d, size_t len)
{
    if (m->dk == NULL)
        return CM_NONE;
    size_t i = dk_slot(d, len, algo, m->dk_mask);
    for (; m->dk[i].len; i = (i + 1) & m->dk_mask)
        if (m->dk[i].len == len && m->dk[i].algo == algo &&
            memcmp(m->dk[i].digest, d, len) == 0)
            return m->dk[i].entry;
    return CM_NONE;
}

struct capsmodel *capsmodel_new(void)
{
    struct capsmodel *m = xcalloc(1, sizeof *m);
    m->strings = strtab_new();
    m->keys = strtab_new();
    m->nodes = strtab_new();
    m->stripped = strtab_new();
    return m;
}

static void postings_free(struct capsmodel *m)
{
    for (size_t i = 0; i < m->n_postings; i++) {
        free(m->postings[i].bits);
        free(m->postings[i].first);
        free(m->postings[i].off);
        free(m->postings[i].bytes);
    }
    free(m->postings);
    m->postings = NULL;
    m->n_postings = 0;
}

void capsmodel_free(struct capsmodel *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_fsets; i++)
        free(m->fsets[i].features);
    free(m->fsets);
    free(m->fs_table);
    free(m->entries);
    free(m->cell);
    free(m->other_entry);
    free(m->nv);
    free(m->node_str);
    free(m->dk);
    postings_free(m);
    strtab_free(m->strings);
    strtab_free(m->keys);
    strtab_free(m->nodes);
    strtab_free(m->stripped);
    buf_free(&m->scratch);
    free(m);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* A hash of a sorted id array, word by word. */
static uint64_t fs_hash(const uint32_t *ids, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (size_t i = 0; i < n; i++) {
        h ^= ids[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h;
}

/* The cell of the set ids[0..n) (hash h), or the empty cell it would take. */
static size_t fs_find(const struct capsmodel *m, const uint32_t *ids, size_t n, uint64_t h)
{
    if (m->fs_table == NULL)
        return 0;
    size_t i = (size_t)h & m->fs_mask;
    for (; m->fs_table[i]; i = (i + 1) & m->fs_mask) {
        const struct cm_fset *f = &m->fsets[m->fs_table[i] - 1];
        if (f->n == n && memcmp(f->features, ids, n * sizeof *ids) == 0)
            break;
    }
    return i;
}

/* Doubles the set table (or makes it) and puts every set in it. */
static void fs_grow(struct capsmodel *m)
{
    size_t cells = m->fs_table ? (m->fs_mask + 1) * 2 : 1024;
    while (m->n_fsets * 2 > cells)
        cells *= 2;
    free(m->fs_table);
    m->fs_table = xcalloc(cells, sizeof *m->fs_table);
    m->fs_mask = cells - 1;
    for (size_t id = 0; id < m->n_fsets; id++) {
        const struct cm_fset *f = &m->fsets[id];
        size_t i = (size_t)fs_hash(f->features, f->n) & m->fs_mask;
        while (m->fs_table[i])
            i = (i + 1) & m->fs_mask;
        m->fs_table[i] = (uint32_t)id + 1;
    }
}

/* Interns the feature set of model string ids ids[0..n) (any order,
 * repeats allowed); takes ownership of ids. */
static uint32_t intern_fset(struct capsmodel *m, uint32_t *ids, size_t nf)
{
    if (nf <= 64) { /* a disco#info's few dozen features: insertion sort */
        for (size_t i = 1; i < nf; i++) {
            uint32_t v = ids[i];
            size_t j = i;
            for (; j > 0 && ids[j - 1] > v; j--)
                ids[j] = ids[j - 1];
            ids[j] = v;
        }
    } else {
        qsort(ids, nf, sizeof *ids, cmp_u32);
    }
    size_t n = 0;
    for (size_t i = 0; i < nf; i++)
        if (n == 0 || ids[n - 1] != ids[i])
            ids[n++] = ids[i];
    uint64_t h = fs_hash(ids, n);
    size_t cell = fs_find(m, ids, n, h);
    uint32_t id;
    if (m->fs_table && m->fs_table[cell]) {
        id = m->fs_table[cell] - 1;
        free(ids);
    } else {
        id = (uint32_t)m->n_fsets++;
        if (id >= m->fs_cap) {
            m->fs_cap = m->fs_cap ? m->fs_cap * 2 : 256;
            m->fsets = xreallocarray(m->fsets, m->fs_cap, sizeof *m->fsets);
        }
        m->fsets[id] = (struct cm_fset){ids, (uint32_t)n, 0};
        if (m->fs_table == NULL || m->n_fsets * 2 > m->fs_mask + 1)
            fs_grow(m);
        else
            m->fs_table[cell] = id + 1;
    }
    m->fsets[id].entries++;
    return id;
}

/* "category/type/lang/name" of one identity appended to b, NUL-ended. */
static void idset_part(struct buf *b, const struct disco_identity *d)
{
    buf_puts(b, d->category);
    buf_putc(b, '/');
    buf_puts(b, d->type);
    buf_putc(b, '/');
    buf_puts(b, d->lang);
    buf_putc(b, '/');
    buf_puts(b, d->name);
    buf_putc(b, '\0');
}

static int cmp_part(const void *a, const void *b, void *base)
{
    const char *s = base;
    return strcmp(s + *(const size_t *)a, s + *(const size_t *)b);
}

static uint32_t intern_idset(struct capsmodel *m, const struct disco_identity *ids,
                             size_t nid)
{
    buf_reset(&m->scratch);
    if (nid == 1) { /* the common case: nothing to sort */
        idset_part(&m->scratch, &ids[0]);
        m->scratch.data[m->scratch.len - 1] = '<';
        return strtab_intern(m->strings, m->scratch.data, m->scratch.len);
    }
    /* the parts, sorted, each followed by '<' */
    size_t *off = xcalloc(nid ? nid : 1, sizeof *off);
    struct buf parts = BUF_INIT;
    for (size_t i = 0; i < nid; i++) {
        off[i] = parts.len;
        idset_part(&parts, &ids[i]);
    }
    qsort_r(off, nid, sizeof *off, cmp_part, parts.data);
    for (size_t i = 0; i < nid; i++) {
        buf_puts(&m->scratch, parts.data + off[i]);
        buf_putc(&m->scratch, '<');
    }
    free(off);
    buf_free(&parts);
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
    buf_puts(scratch, hash_algo_name(algo));
    buf_putc(scratch, ' ');
    buf_puts(scratch, ver);
    return strtab_intern(t, scratch->data, scratch->len);
}

static uint32_t opt_string(struct capsmodel *m, const char *s)
{
    return s && *s ? strtab_intern_cstr(m->strings, s) : CM_NONE;
}

static size_t nv_slot(uint64_t v, size_t mask)
{
    return (size_t)((v * 0x9e3779b97f4a7c15ULL) >> 24) & mask;
}

static bool nv_has(const struct capsmodel *m, uint64_t v)
{
    if (m->nv == NULL)
        return false;
    for (size_t i = nv_slot(v, m->nv_mask); m->nv[i]; i = (i + 1) & m->nv_mask)
        if (m->nv[i] == v)
            return true;
    return false;
}

static void nv_put(struct capsmodel *m, uint64_t v)
{
    size_t i = nv_slot(v, m->nv_mask);
    while (m->nv[i])
        i = (i + 1) & m->nv_mask;
    m->nv[i] = v;
    m->nv_n++;
}

/* A node#ver key is a pair of ids (the node's, the entry's): 8 bytes
 * instead of the string. */
static void add_nodever(struct capsmodel *m, uint32_t node, uint32_t key)
{
    uint64_t v = ((uint64_t)node + 1) << 32 | key;
    if (nv_has(m, v))
        return;
    if (m->nv == NULL || (m->nv_n + 1) * 10 > (m->nv_mask + 1) * 7) {
        uint64_t *old = m->nv;
        size_t cells = old ? (m->nv_mask + 1) * 2 : 1024;
        m->nv = xcalloc(cells, sizeof *m->nv);
        m->nv_mask = cells - 1;
        m->nv_n = 0;
        for (size_t i = 0; old && i < cells / 2; i++)
            if (old[i])
                nv_put(m, old[i]);
        free(old);
    }
    nv_put(m, v);
}

/* What the key half of adding a row found (see key_part). */
struct keyout {
    uint32_t key;  /* entry index */
    uint32_t nid;  /* id in `nodes`, STRTAB_NONE: no node */
    bool fresh;    /* a new entry, zeroed */
    bool node_new; /* the node seen for the first time */
};

/* The key half of adding a row: (algo, ver) in the digest table (or
 * `keys`), the node in `nodes` and the node#ver pair; observations added to
 * a known entry. Touches only what capsmodel_add_stored_many() gives the key
 * thread: dk, keys, cell, other_entry, n, nodes, nv, and the observations
 * of the entries; scratch is the caller's. */
static void key_part(struct capsmodel *m, enum hash_algo algo, const char *ver,
                     const char *node, uint64_t observations, struct buf *scratch,
                     struct keyout *o)
{
    /* a ver that is a digest is keyed by the digest alone (the dk table);
     * any other text by "ALGO VER" in `keys` */
    uint8_t digest[DK_MAX];
    size_t dlen = dk_decode(ver, digest);
    uint32_t key = CM_NONE, other = STRTAB_NONE;
    if (dlen) {
        key = dk_get(m, (uint8_t)algo, digest, dlen);
    } else {
        size_t before = strtab_count(m->keys);
        other = intern_key(m->keys, algo, ver, scratch);
        if (strtab_count(m->keys) == before)
            key = m->other_entry[other];
    }
    o->fresh = key == CM_NONE;
    if (o->fresh) {
        key = (uint32_t)m->n;
        if (key >= m->cap) {
            m->cap = m->cap ? m->cap * 2 : 1024;
            m->entries = xreallocarray(m->entries, m->cap, sizeof *m->entries);
            m->cell = xreallocarray(m->cell, m->cap, sizeof *m->cell);
        }
        memset(&m->entries[key], 0, sizeof m->entries[key]);
        m->entries[key].observations = observations;
        m->n++;
        if (dlen) {
            dk_put(m, (uint8_t)algo, digest, dlen, key);
        } else {
            if (other >= m->other_cap) {
                m->other_cap = m->other_cap ? m->other_cap * 2 : 64;
                m->other_entry =
                    xreallocarray(m->other_entry, m->other_cap, sizeof *m->other_entry);
            }
            m->other_entry[other] = key;
            m->cell[key] = KEY_OTHER | other;
        }
    } else {
        m->entries[key].observations += observations;
    }
    o->key = key;
    o->nid = STRTAB_NONE;
    o->node_new = false;
    if (node) {
        size_t before = strtab_count(m->nodes);
        o->nid = strtab_intern_cstr(m->nodes, node);
        o->node_new = strtab_count(m->nodes) > before;
        add_nodever(m, o->nid, key);
    }
}

/* The node's string, once among the strings, when key_part() saw it first;
 * the strings id of the row's node (CM_NONE: none). */
static uint32_t node_part(struct capsmodel *m, const char *node, const struct keyout *o)
{
    if (o->nid == STRTAB_NONE)
        return CM_NONE;
    if (o->node_new) {
        if (o->nid >= m->node_cap) {
            size_t cap = m->node_cap ? m->node_cap * 2 : 256;
            while (cap <= o->nid)
                cap *= 2;
            m->node_str = xreallocarray(m->node_str, cap, sizeof *m->node_str);
            m->node_cap = cap;
        }
        m->node_str[o->nid] = opt_string(m, node);
    }
    return m->node_str[o->nid];
}

/* Interns (algo, ver) and node#ver; on a known key adds the observations
 * and returns false; on a new one returns true with *key set and the
 * entry zeroed but for its observations. */
static bool add_key(struct capsmodel *m, enum hash_algo algo, const char *ver,
                    const char *node, uint64_t observations, uint32_t *key_out)
{
    struct keyout o;
    key_part(m, algo, ver, node, observations, &m->scratch, &o);
    m->last_node = node_part(m, node, &o);
    *key_out = o.key;
    return o.fresh;
}

/* What both ways of adding an entry work out before filling it in. */
struct core {
    enum hash_algo algo;
    const char *node;
    uint64_t observations;
    bool verified;
    uint32_t *fids; /* model string ids, owned: passed on to intern_fset */
    size_t nf;
    const struct disco_identity *ids; /* document order */
    size_t nid;
    const struct softinfo *si;
    size_t xml_bytes, s_bytes;
    const char *stripped_ver;     /* the ver without XEP-0232 forms */
    size_t form_xml, form_s;      /* bytes the forms add to XML and S */
};

/* The stripped key of a new entry (the key thread's part of filling it). */
static void stripped_part(struct capsmodel *m, uint32_t key, const struct core *c,
                          struct buf *scratch)
{
    struct cm_entry *e = &m->entries[key];
    size_t before = strtab_count(m->stripped);
    e->stripped = intern_key(m->stripped, c->algo, c->stripped_ver, scratch);
    if (strtab_count(m->stripped) > before) {
        /* the first entry of each stripped key stands for it */
        m->stripped_xml_bytes += c->xml_bytes > c->form_xml ? c->xml_bytes - c->form_xml : 0;
        m->stripped_s_bytes += c->s_bytes > c->form_s ? c->s_bytes - c->form_s : 0;
    }
}

/* The rest of a new entry: everything but its key, observations and
 * stripped key (feature set, identity set, strings, sizes); takes c->fids. */
static void rest_part(struct capsmodel *m, uint32_t key, uint32_t node, const struct core *c)
{
    struct cm_entry *e = &m->entries[key];
    e->key = key;
    e->algo = (uint8_t)c->algo;
    e->flags = c->verified ? CM_VERIFIED : 0;
    e->node = node;
    e->fset = intern_fset(m, c->fids, c->nf);
    e->idset = intern_idset(m, c->ids, c->nid);
    e->s_bytes = (uint32_t)c->s_bytes;
    e->xml_bytes = (uint32_t)c->xml_bytes;
    const struct softinfo *si = c->si;
    if (si->present) {
        e->flags |= CM_SOFTINFO;
        e->software = opt_string(m, si->software);
        e->version = opt_string(m, si->software_version);
        if (si->os || si->os_version) {
            char *os = xasprintf("%s %s", si->os ? si->os : "",
                                 si->os_version ? si->os_version : "");
            e->os = strtab_intern_cstr(m->strings, os);
            free(os);
        } else {
            e->os = CM_NONE;
        }
        m->si_entries++;
        m->si_form_bytes += c->form_xml;
        m->si_text_bytes += (si->software ? strlen(si->software) : 0) +
                            (si->software_version ? strlen(si->software_version) : 0) +
                            (si->os ? strlen(si->os) : 0) +
                            (si->os_version ? strlen(si->os_version) + 1 : 0);
    } else {
        e->software = c->nid ? opt_string(m, c->ids[0].name) : CM_NONE;
        e->version = CM_NONE;
        e->os = CM_NONE;
    }
}

static void fill_entry(struct capsmodel *m, uint32_t key, const struct core *c)
{
    m->entries[key].observations = c->observations;
    rest_part(m, key, m->last_node, c); /* add_key() interned c->node just before */
    stripped_part(m, key, c, &m->scratch);
}

uint32_t capsmodel_intern(struct capsmodel *m, const char *s)
{
    return strtab_intern_cstr(m->strings, s);
}

/* The core of a stored row, without its feature ids (c->fids NULL). */
static void stored_fields(const struct cm_stored *in, const struct softinfo *none,
                          struct core *c)
{
    *c = (struct core){
        .algo = in->algo,
        .node = in->node,
        .observations = in->observations,
        .verified = in->verified,
        .ids = in->identities,
        .nid = in->n_identities,
        .nf = in->n_features,
        .si = in->si ? in->si : none,
        .xml_bytes = in->xml_bytes,
        .s_bytes = in->s_bytes,
        .stripped_ver = in->ver,
    };
    if (in->si && in->si->present) {
        if (in->stripped_ver)
            c->stripped_ver = in->stripped_ver;
        c->form_s = in->form_s_bytes;
        c->form_xml = in->form_xml_bytes;
    }
}

/* The same with c->fids a new array (intern_fset takes it). */
static void stored_core(const struct cm_stored *in, const struct softinfo *none,
                        struct core *c)
{
    stored_fields(in, none, c);
    c->fids = xcalloc(in->n_features ? in->n_features : 1, sizeof *c->fids);
    if (in->n_features)
        memcpy(c->fids, in->features, in->n_features * sizeof *c->fids);
}

/* What capsmodel_add() works out from a parsed disco#info, as the stored
 * row of capsmodel_add_stored(): features interned, S and its size, the
 * XEP-0232 facts and the counterfactual ver. */
void capsmodel_prepare(struct capsmodel *m, const struct cm_input *in, struct cm_prepared *p)
{
    const struct disco_info *info = in->info;
    memset(p, 0, sizeof *p);
    p->features = xcalloc(info->n_features ? info->n_features : 1, sizeof *p->features);
    for (size_t i = 0; i < info->n_features; i++)
        p->features[i] = strtab_intern_cstr(m->strings, info->features[i]);
    softinfo_extract(info, &p->si);
    struct cm_stored *r = &p->row;
    *r = (struct cm_stored){
        .algo = in->algo,
        .ver = in->ver,
        .node = in->node,
        .observations = in->observations,
        .verified = in->verified,
        .features = p->features,
        .n_features = info->n_features,
        .identities = info->identities,
        .n_identities = info->n_identities,
        .si = &p->si,
    };

    /* sizes */
    struct buf s = BUF_INIT;
    caps_build_s(info, CAPS_M_STRICT, &s, NULL);
    r->s_bytes = s.len;
    if (in->xml_bytes) {
        r->xml_bytes = in->xml_bytes;
    } else {
        char *xml = disco_info_to_xml(info);
        r->xml_bytes = strlen(xml);
        free(xml);
    }

    /* the XEP-0232 counterfactual */
    if (p->si.present) {
        struct disco_info *bare = strip_softinfo(info);
        buf_reset(&s);
        caps_build_s(bare, CAPS_M_STRICT, &s, NULL);
        if (hash_b64(in->algo, s.data ? s.data : "", s.len, p->stripped))
            r->stripped_ver = p->stripped;
        r->form_s_bytes = r->s_bytes > s.len ? r->s_bytes - s.len : 0;
        /* what the form costs on the wire: both serialized the same way */
        char *fx = disco_info_to_xml(info), *bx = disco_info_to_xml(bare);
        size_t lf = strlen(fx), lb = strlen(bx);
        r->form_xml_bytes = lf > lb ? lf - lb : 0;
        free(fx);
        free(bx);
        disco_info_free(bare);
    }
    buf_free(&s);
}

void capsmodel_prepared_free(struct cm_prepared *p)
{
    free(p->features);
    softinfo_free(&p->si);
    memset(p, 0, sizeof *p);
}

uint32_t capsmodel_add(struct capsmodel *m, const struct cm_input *in)
{
    uint32_t key;
    if (!add_key(m, in->algo, in->ver, in->node, in->observations, &key))
        return key;
    struct cm_prepared p;
    capsmodel_prepare(m, in, &p);
    struct softinfo none = {0};
    struct core c;
    stored_core(&p.row, &none, &c);
    fill_entry(m, key, &c);
    capsmodel_prepared_free(&p);
    return key;
}

uint32_t capsmodel_add_stored(struct capsmodel *m, const struct cm_stored *in)
{
    uint32_t key;
    if (!add_key(m, in->algo, in->ver, in->node, in->observations, &key))
        return key;
    struct softinfo none = {0};
    struct core c;
    stored_core(in, &none, &c);
    fill_entry(m, key, &c);
    return key;
}

/* capsmodel_add_stored_many() on two threads: the key thread runs
 * key_part() and, for new entries, stripped_part() over the rows in order
 * and publishes how far it got (`done`, release); the calling thread
 * follows it (acquire) with node_part() and rest_part(). The two touch
 * disjoint tables (key thread: dk, keys, cell, other_entry, n, nodes, nv,
 * stripped, the entries' observations and stripped key; caller: strings,
 * node_str, feature sets, the entries' other fields, the XEP-0232
 * counters), and the entry array is grown before they start. */
#define BULK_LAG 2048

struct bulk {
    struct capsmodel *m;
    const struct cm_stored *rows;
    size_t n;
    struct keyout *out;
    _Atomic size_t done;
    _Atomic size_t want;   /* nonzero: the caller sleeps on `more` until
                              done reaches it */
    pthread_mutex_t lock;
    pthread_cond_t more;
};

/* Publishes that rows [0, done) are keyed; wakes the caller if it sleeps. */
static void bulk_publish(struct bulk *b, size_t done)
{
    atomic_store_explicit(&b->done, done, memory_order_seq_cst);
    size_t want = atomic_load_explicit(&b->want, memory_order_seq_cst);
    if (want && done >= want) {
        pthread_mutex_lock(&b->lock);
        pthread_cond_signal(&b->more);
        pthread_mutex_unlock(&b->lock);
    }
}

/* Waits until row i is keyed; returns how many are. A short spin, then
 * sleep until the key thread is BULK_LAG rows further: the caller's part
 * is the lighter one, and waking it for every step would cost more than
 * the work (on a busy machine the key thread needs the core, too). */
static size_t bulk_wait(struct bulk *b, size_t i)
{
    size_t ready = atomic_load_explicit(&b->done, memory_order_acquire);
    for (int spin = 0; ready <= i && spin < 50; spin++) {
        sched_yield();
        ready = atomic_load_explicit(&b->done, memory_order_acquire);
    }
    if (ready > i)
        return ready;
    size_t want = i + BULK_LAG < b->n ? i + BULK_LAG : b->n;
    pthread_mutex_lock(&b->lock);
    atomic_store_explicit(&b->want, want, memory_order_seq_cst);
    while ((ready = atomic_load_explicit(&b->done, memory_order_seq_cst)) < want)
        pthread_cond_wait(&b->more, &b->lock);
    atomic_store_explicit(&b->want, 0, memory_order_relaxed);
    pthread_mutex_unlock(&b->lock);
    return ready;
}

#define BULK_STEP 64 /* rows between two publications of `done` */

static void *bulk_keys(void *arg)
{
    struct bulk *b = arg;
    struct buf scratch = BUF_INIT;
    struct softinfo none = {0};
    for (size_t i = 0; i < b->n; i++) {
        const struct cm_stored *in = &b->rows[i];
        key_part(b->m, in->algo, in->ver, in->node, in->observations, &scratch, &b->out[i]);
        if (b->out[i].fresh) {
            struct core c; /* no feature ids: stripped_part() does not read them */
            stored_fields(in, &none, &c);
            stripped_part(b->m, b->out[i].key, &c, &scratch);
        }
        if ((i + 1) % BULK_STEP == 0 || i + 1 == b->n)
            bulk_publish(b, i + 1);
    }
    buf_free(&scratch);
    return NULL;
}

void capsmodel_add_stored_many(struct capsmodel *m, const struct cm_stored *rows, size_t n)
{
    if (n < 2 * BULK_STEP) {
        for (size_t i = 0; i < n; i++)
            capsmodel_add_stored(m, &rows[i]);
        return;
    }
    /* room for every row to be a new entry: the key thread never moves
     * the array under the caller's feet */
    if (m->n + n > m->cap) {
        size_t cap = m->cap ? m->cap : 1024;
        while (cap < m->n + n)
            cap *= 2;
        m->entries = xreallocarray(m->entries, cap, sizeof *m->entries);
        m->cell = xreallocarray(m->cell, cap, sizeof *m->cell);
        m->cap = cap;
    }
    struct bulk b = {.m = m, .rows = rows, .n = n, .out = xcalloc(n, sizeof *b.out)};
    atomic_init(&b.done, 0);
    atomic_init(&b.want, 0);
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.more, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, bulk_keys, &b) != 0) {
        pthread_mutex_destroy(&b.lock);
        pthread_cond_destroy(&b.more);
        free(b.out);
        for (size_t i = 0; i < n; i++)
            capsmodel_add_stored(m, &rows[i]);
        return;
    }
    struct softinfo none = {0};
    size_t ready = 0;
    for (size_t i = 0; i < n; i++) {
        if (ready <= i)
            ready = bulk_wait(&b, i);
        const struct cm_stored *in = &rows[i];
        uint32_t node = node_part(m, in->node, &b.out[i]);
        if (!b.out[i].fresh)
            continue;
        struct core c;
        stored_core(in, &none, &c);
        rest_part(m, b.out[i].key, node, &c);
    }
    pthread_join(t, NULL);
    if (n)
        m->last_node = b.out[n - 1].nid == STRTAB_NONE ? CM_NONE : m->node_str[b.out[n - 1].nid];
    pthread_mutex_destroy(&b.lock);
    pthread_cond_destroy(&b.more);
    free(b.out);
}

void capsmodel_stripped_sizes(const struct capsmodel *m, uint64_t *xml_bytes,
                              uint64_t *s_bytes)
{
    *xml_bytes = m->stripped_xml_bytes;
    *s_bytes = m->stripped_s_bytes;
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
    return m->nv_n;
}

const struct cm_entry *capsmodel_entry(const struct capsmodel *m, uint32_t i)
{
    ASSERT(i < m->n);
    return &m->entries[i];
}

const struct cm_fset *capsmodel_fset(const struct capsmodel *m, uint32_t id)
{
    ASSERT(id < m->n_fsets);
    return &m->fsets[id];
}

size_t capsmodel_fset_count(const struct capsmodel *m)
{
    return m->n_fsets;
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
    uint32_t c = m->cell[i];
    if (c & KEY_OTHER)
        return strtab_str(m->keys, c & ~KEY_OTHER);
    /* rebuilt from the digest: the ver was its canonical base64 */
    static _Thread_local char key[HASH_B64_MAX + 64];
    const struct dkcell *d = &m->dk[c];
    const char *name = hash_algo_name((enum hash_algo)d->algo);
    size_t ln = strlen(name);
    memcpy(key, name, ln);
    key[ln] = ' ';
    size_t n = base64_encode(d->digest, d->len, key + ln + 1);
    key[ln + 1 + n] = '\0';
    return key;
}

const char *capsmodel_stripped_key(const struct capsmodel *m, uint32_t i)
{
    ASSERT(i < m->n);
    return strtab_str(m->stripped, m->entries[i].stripped);
}

uint32_t capsmodel_lookup(const struct capsmodel *m, enum hash_algo algo,
                          const char *ver)
{
    uint8_t digest[DK_MAX];
    size_t dlen = dk_decode(ver, digest);
    if (dlen)
        return dk_get(m, (uint8_t)algo, digest, dlen);
    /* the rest: "ALGO VER" in the string table, built without printf */
    char key[HASH_B64_MAX + 1100];
    const char *name = hash_algo_name(algo);
    size_t ln = strlen(name), lv = strlen(ver);
    if (ln + 1 + lv > sizeof key)
        return CM_NONE;
    memcpy(key, name, ln);
    key[ln] = ' ';
    memcpy(key + ln + 1, ver, lv);
    uint32_t id = strtab_find(m->keys, key, ln + 1 + lv);
    return id == STRTAB_NONE ? CM_NONE : m->other_entry[id];
}

uint32_t capsmodel_lookup_nodever(const struct capsmodel *m, const char *node,
                                  const char *ver)
{
    uint32_t nid = strtab_find(m->nodes, node, strlen(node));
    if (nid == STRTAB_NONE)
        return CM_NONE;
    uint8_t digest[DK_MAX];
    size_t dlen = dk_decode(ver, digest);
    /* the entries with this ver (under any algorithm) that were seen with
     * this node: by digest length, usually one algorithm to try */
    for (int a = 0; a < HASH__COUNT; a++) {
        uint32_t e;
        if (dlen) {
            if (hash_algo_len((enum hash_algo)a) != dlen)
                continue;
            e = dk_get(m, (uint8_t)a, digest, dlen);
        } else {
            e = capsmodel_lookup(m, (enum hash_algo)a, ver);
        }
        if (e != CM_NONE && nv_has(m, ((uint64_t)nid + 1) << 32 | e))
            return e;
    }
    return CM_NONE;
}

static void posting_append(struct posting *p, uint32_t id)
{
    if (p->n % PB == 0) {
        p->first = xreallocarray(p->first, p->nblocks + 1, sizeof *p->first);
        p->off = xreallocarray(p->off, p->nblocks + 1, sizeof *p->off);
        p->first[p->nblocks] = id;
        p->off[p->nblocks] = (uint32_t)p->len;
        p->nblocks++;
    } else {
        if (p->len + 5 > p->cap) {
            p->cap = p->cap ? p->cap * 2 : 16;
            p->bytes = xreallocarray(p->bytes, p->cap, 1);
        }
        for (uint32_t gap = id - p->last; ; gap >>= 7) {
            if (gap < 0x80) {
                p->bytes[p->len++] = (uint8_t)gap;
                break;
            }
            p->bytes[p->len++] = (uint8_t)(gap | 0x80);
        }
    }
    p->last = id;
    p->n++;
}

/* Decodes block b of p into out (up to PB ids); returns how many. */
static uint32_t posting_block(const struct posting *p, uint32_t b, uint32_t *out)
{
    uint32_t n = b + 1 < p->nblocks ? PB : p->n - b * PB;
    const uint8_t *q = p->bytes + p->off[b];
    uint32_t id = p->first[b];
    out[0] = id;
    for (uint32_t i = 1; i < n; i++) {
        uint32_t gap = *q++;
        if (gap & 0x80) { /* the rare long gap */
            gap &= 0x7f;
            for (int shift = 7;; shift += 7) {
                uint8_t c = *q++;
                gap |= (uint32_t)(c & 0x7f) << shift;
                if (!(c & 0x80))
                    break;
            }
        }
        id += gap;
        out[i] = id;
    }
    return n;
}

void capsmodel_index_build(struct capsmodel *m)
{
    postings_free(m);
    m->n_postings = strtab_count(m->strings);
    m->postings = xcalloc(m->n_postings ? m->n_postings : 1,
                          sizeof *m->postings);
    /* first the counts, to choose each list's form */
    uint32_t *count = xcalloc(m->n_postings ? m->n_postings : 1, sizeof *count);
    for (uint32_t i = 0; i < m->n; i++) {
        const struct cm_fset *fs = &m->fsets[m->entries[i].fset];
        for (uint32_t k = 0; k < fs->n; k++)
            count[fs->features[k]]++;
    }
    m->index_n = m->n;
    size_t words = (m->n + 63) / 64;
    for (size_t f = 0; f < m->n_postings; f++)
        if (count[f] > 0 && (size_t)count[f] * 8 > m->n && m->n >= 1024)
            m->postings[f].bits = xcalloc(words, sizeof(uint64_t));
    free(count);
    for (uint32_t i = 0; i < m->n; i++) {
        const struct cm_fset *fs = &m->fsets[m->entries[i].fset];
        for (uint32_t k = 0; k < fs->n; k++) {
            struct posting *p = &m->postings[fs->features[k]];
            if (p->bits) {
                p->bits[i / 64] |= 1ULL << (i % 64);
                p->n++;
            } else {
                posting_append(p, i);
            }
        }
    }
    for (size_t f = 0; f < m->n_postings; f++) {
        struct posting *p = &m->postings[f];
        if (p->len && p->len < p->cap) { /* no slack once built */
            p->bytes = xreallocarray(p->bytes, p->len, 1);
            p->cap = p->len;
        }
    }
    /* loading is over by now, as a rule: the arrays lose their slack */
    if (m->cap > m->n && m->n > 0) {
        m->entries = xreallocarray(m->entries, m->n, sizeof *m->entries);
        m->cell = xreallocarray(m->cell, m->n, sizeof *m->cell);
        m->cap = m->n;
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

/* A cursor over a compressed posting list. */
struct pcur {
    const struct posting *p;
    uint32_t b;        /* block decoded in buf, UINT32_MAX: none yet */
    uint32_t n, i;     /* ids in buf, position */
    uint32_t buf[PB];
};

/* Moves c to the first id >= e; returns false when the list has none. */
static bool pcur_seek(struct pcur *c, uint32_t e)
{
    const struct posting *p = c->p;
    /* the block that may hold e: the last whose first id is <= e, found by
     * galloping from the current block, then binary search */
    uint32_t lo = c->b == UINT32_MAX ? 0 : c->b, step = 1;
    while (lo + step < p->nblocks && p->first[lo + step] <= e) {
        lo += step;
        step *= 2;
    }
    uint32_t hi = lo + step < p->nblocks ? lo + step : p->nblocks;
    while (hi - lo > 1) { /* first[lo] <= e (or lo is the start) */
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->first[mid] <= e)
            lo = mid;
        else
            hi = mid;
    }
    if (c->b != lo) {
        c->b = lo;
        c->n = posting_block(p, lo, c->buf);
        c->i = 0;
    }
    while (c->i < c->n && c->buf[c->i] < e)
        c->i++;
    if (c->i < c->n)
        return true;
    if (c->b + 1 >= p->nblocks)
        return false;
    c->b++;
    c->n = posting_block(p, c->b, c->buf);
    c->i = 0;
    return true; /* its first id is > e */
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
    /* smallest list first, walked block by block; each other list has a
     * cursor that gallops over block heads to the next candidate */
    qsort_r(ids, n, sizeof *ids, cmp_posting_len, (void *)m);
    const struct posting *first = &m->postings[ids[0]];
    struct pcur *cur = xcalloc(n, sizeof *cur);
    if (first->bits) {
        /* every list is a bitmap (the smallest is): AND them word by word */
        size_t words = (m->index_n + 63) / 64;
        for (size_t w = 0; w < words; w++) {
            uint64_t x = first->bits[w];
            for (size_t k = 1; k < n && x; k++)
                x &= m->postings[ids[k]].bits[w];
            for (; x; x &= x - 1) {
                if (found < cap)
                    out[found] = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(x));
                found++;
            }
        }
        goto out;
    }
    for (size_t k = 1; k < n; k++) {
        cur[k].p = &m->postings[ids[k]];
        cur[k].b = UINT32_MAX;
    }
    uint32_t blk[PB];
    bool over = false;
    for (uint32_t b = 0; b < first->nblocks && !over; b++) {
        uint32_t bn = posting_block(first, b, blk);
        for (uint32_t j = 0; j < bn && !over; j++) {
            uint32_t e = blk[j];
            size_t k = 1;
            for (; k < n; k++) {
                const struct posting *pl = cur[k].p;
                if (pl->bits) {
                    if (!(pl->bits[e / 64] >> (e % 64) & 1))
                        break;
                    continue;
                }
                if (!pcur_seek(&cur[k], e)) {
                    over = true; /* a list is exhausted: no more matches */
                    break;
                }
                if (cur[k].buf[cur[k].i] != e)
                    break;
            }
            if (k == n) {
                if (found < cap)
                    out[found] = e;
                found++;
            }
        }
    }
out:
    free(cur);
done:
    free(ids);
    return found;
}

void capsmodel_softinfo_sizes(const struct capsmodel *m, size_t *entries,
                              double *form_bytes, double *version_text_bytes)
{
    *entries = m->si_entries;
    *form_bytes = m->si_entries ? (double)m->si_form_bytes / (double)m->si_entries : 0;
    *version_text_bytes =
        m->si_entries ? (double)m->si_text_bytes / (double)m->si_entries : 0;
}

size_t capsmodel_memory(const struct capsmodel *m)
{
    size_t bytes = sizeof *m + m->cap * sizeof *m->entries +
                   (m->nv ? (m->nv_mask + 1) * sizeof *m->nv : 0) +
                   m->node_cap * sizeof *m->node_str +
                   m->fs_cap * sizeof *m->fsets + strtab_memory(m->strings) +
                   strtab_memory(m->keys) + m->cap * sizeof *m->cell +
                   m->other_cap * sizeof *m->other_entry + strtab_memory(m->nodes) +
                   strtab_memory(m->stripped) +
                   (m->fs_table ? (m->fs_mask + 1) * sizeof *m->fs_table : 0);
    for (size_t i = 0; i < m->n_fsets; i++)
        bytes += m->fsets[i].n * sizeof(uint32_t);
    for (size_t i = 0; i < m->n_postings; i++)
        bytes += m->postings[i].cap +
                 m->postings[i].nblocks * (sizeof(uint32_t) * 2) +
                 (m->postings[i].bits ? (m->index_n + 63) / 64 * sizeof(uint64_t) : 0);
    bytes += m->dk ? (m->dk_mask + 1) * sizeof *m->dk : 0;
    return bytes;
}
