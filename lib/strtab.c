/*
 * String interning: strings live in 64 KiB blocks (larger strings get a
 * block of their own), an array maps id -> (pointer, length), and an
 * open-addressing table with linear probing maps a string to its id. Each
 * cell holds the id and the string's hash, so that a probe touches the
 * string only when the hashes agree: with millions of strings every
 * touch is a cache miss, and the cell is the only one a new string costs.
 */
#include "strtab.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define BLOCK_SIZE (64 * 1024)

struct block {
    struct block *next;
    size_t used, size;
    char data[];
};

struct str {
    const char *p;
    uint32_t len;
    uint32_t hash;
};

struct strtab {
    struct block *blocks;
    struct str *strs;
    size_t n, cap;
    uint64_t *table; /* hash << 32 | (id + 1) per cell, 0 = empty */
    size_t mask;
    size_t bytes;
    size_t block_bytes;
};

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint32_t hash_bytes(const char *s, size_t len)
{
    /* eight bytes at a time, multiply-mixed, then a final avalanche */
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0xc2b2ae3d27d4eb4fULL);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ mix64(w)) * 0x9e3779b97f4a7c15ULL;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, len - i);
    h = mix64(h ^ w ^ ((uint64_t)(len - i) << 56));
    return (uint32_t)(h ^ (h >> 32));
}

struct strtab *strtab_new(void)
{
    struct strtab *t = xcalloc(1, sizeof *t);
    t->mask = 1023;
    t->table = xcalloc(t->mask + 1, sizeof *t->table);
    return t;
}

void strtab_free(struct strtab *t)
{
    if (t == NULL)
        return;
    struct block *b = t->blocks;
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    free(t->strs);
    free(t->table);
    free(t);
}

static char *store(struct strtab *t, const char *s, size_t len)
{
    struct block *b = t->blocks;
    if (b == NULL || b->size - b->used < len + 1) {
        size_t size = len + 1 > BLOCK_SIZE / 4 ? len + 1 : BLOCK_SIZE;
        struct block *nb = xmalloc(sizeof *nb + size);
        nb->used = 0;
        nb->size = size;
        t->block_bytes += sizeof *nb + size;
        if (b != NULL && size != BLOCK_SIZE) {
            /* keep the current block first: it still has room */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            t->blocks = nb;
        }
        b = nb;
    }
    char *p = b->data + b->used;
    memcpy(p, s, len);
    p[len] = '\0';
    b->used += len + 1;
    return p;
}

static size_t find_cell(const struct strtab *t, const char *s, size_t len,
                        uint32_t h)
{
    size_t i = h & t->mask;
    for (;;) {
        uint64_t v = t->table[i];
        if (v == 0)
            return i;
        if ((uint32_t)(v >> 32) == h) {
            const struct str *e = &t->strs[(uint32_t)v - 1];
            if (e->len == len && memcmp(e->p, s, len) == 0)
                return i;
        }
        i = (i + 1) & t->mask;
    }
}

static void grow(struct strtab *t)
{
    size_t cells = (t->mask + 1) * 2;
    free(t->table);
    t->table = xcalloc(cells, sizeof *t->table);
    t->mask = cells - 1;
    for (size_t id = 0; id < t->n; id++) {
        uint32_t h = t->strs[id].hash;
        size_t i = h & t->mask;
        while (t->table[i] != 0)
            i = (i + 1) & t->mask;
        t->table[i] = (uint64_t)h << 32 | ((uint32_t)id + 1);
    }
}

uint32_t strtab_intern(struct strtab *t, const char *s, size_t len)
{
    if (len > UINT32_MAX)
        DIE_BUG("interned string of %zu bytes", len);
    uint32_t h = hash_bytes(s, len);
    size_t i = find_cell(t, s, len, h);
    if (t->table[i] != 0)
        return (uint32_t)t->table[i] - 1;
    if (t->n + 1 >= STRTAB_NONE)
        DIE_BUG("string table full");
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->strs = xreallocarray(t->strs, t->cap, sizeof *t->strs);
    }
    uint32_t id = (uint32_t)t->n++;
    t->strs[id] = (struct str){store(t, s, len), (uint32_t)len, h};
    t->bytes += len;
    t->table[i] = (uint64_t)h << 32 | (id + 1);
    if (t->n * 2 > t->mask + 1)
        grow(t);
    return id;
}

uint32_t strtab_intern_cstr(struct strtab *t, const char *s)
{
    return strtab_intern(t, s, strlen(s));
}

uint32_t strtab_find(const struct strtab *t, const char *s, size_t len)
{
    size_t i = find_cell(t, s, len, hash_bytes(s, len));
    return t->table[i] ? (uint32_t)t->table[i] - 1 : STRTAB_NONE;
}

const char *strtab_str(const struct strtab *t, uint32_t id)
{
    ASSERT(id < t->n);
    return t->strs[id].p;
}

size_t strtab_len(const struct strtab *t, uint32_t id)
{
    ASSERT(id < t->n);
    return t->strs[id].len;
}

size_t strtab_count(const struct strtab *t)
{
    return t->n;
}

size_t strtab_bytes(const struct strtab *t)
{
    return t->bytes;
}

size_t strtab_memory(const struct strtab *t)
{
    return sizeof *t + t->block_bytes + t->cap * sizeof *t->strs +
           (t->mask + 1) * sizeof *t->table;
}
