/*
 * Caps-cache simulation: LRU list over an array of slots, found through an
 * open-addressing hash table (linear probing, backward-shift deletion, no
 * tombstones). O(1) per access; memory grows only with the number of
 * entries held.
 */
#include "cachesim.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define NIL UINT32_MAX
#define EMPTY UINT32_MAX /* table cell holds no slot */

struct slot {
    uint32_t key;
    uint32_t prev; /* towards the most recently used end */
    uint32_t next; /* towards the least recently used end */
    int64_t born;  /* insertion time, for the time to live */
};

struct cachesim {
    size_t capacity; /* 0 = unbounded */
    int64_t ttl_ms;  /* 0 = no expiry */
    struct slot *slots;
    size_t nslots;   /* slots in use or on the free list */
    size_t slot_cap; /* allocated */
    uint32_t free_head;
    uint32_t head, tail; /* most / least recently used */
    size_t size;
    uint32_t *table; /* slot index per cell, EMPTY if none */
    size_t table_mask;
    struct cachesim_stats st;
};

static size_t hash32(uint32_t k)
{
    /* a 32-bit finaliser (xorshift-multiply): ids are dense, spread them */
    k ^= k >> 16;
    k *= 0x7feb352dU;
    k ^= k >> 15;
    k *= 0x846ca68bU;
    k ^= k >> 16;
    return k;
}

static void table_init(struct cachesim *c, size_t cells)
{
    c->table = xreallocarray(NULL, cells, sizeof *c->table);
    memset(c->table, 0xff, cells * sizeof *c->table);
    c->table_mask = cells - 1;
}

static size_t table_find(const struct cachesim *c, uint32_t key)
{
    size_t i = hash32(key) & c->table_mask;
    while (c->table[i] != EMPTY && c->slots[c->table[i]].key != key)
        i = (i + 1) & c->table_mask;
    return i;
}

static void table_insert(struct cachesim *c, uint32_t slot)
{
    size_t i = table_find(c, c->slots[slot].key);
    c->table[i] = slot;
}

static void table_grow(struct cachesim *c)
{
    uint32_t *old = c->table;
    size_t cells = c->table_mask + 1;
    table_init(c, cells * 2);
    for (size_t i = 0; i < cells; i++)
        if (old[i] != EMPTY)
            table_insert(c, old[i]);
    free(old);
}

/* Backward-shift deletion keeps every probe chain unbroken. */
static void table_delete(struct cachesim *c, size_t i)
{
    size_t j = i;
    c->table[i] = EMPTY;
    for (;;) {
        j = (j + 1) & c->table_mask;
        if (c->table[j] == EMPTY)
            return;
        size_t home = hash32(c->slots[c->table[j]].key) & c->table_mask;
        /* move j back to i unless its home lies cyclically in (i, j] */
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            c->table[i] = c->table[j];
            c->table[j] = EMPTY;
            i = j;
        }
    }
}

static void list_unlink(struct cachesim *c, uint32_t s)
{
    struct slot *e = &c->slots[s];
    if (e->prev != NIL)
        c->slots[e->prev].next = e->next;
    else
        c->head = e->next;
    if (e->next != NIL)
        c->slots[e->next].prev = e->prev;
    else
        c->tail = e->prev;
}

static void list_push_front(struct cachesim *c, uint32_t s)
{
    struct slot *e = &c->slots[s];
    e->prev = NIL;
    e->next = c->head;
    if (c->head != NIL)
        c->slots[c->head].prev = s;
    c->head = s;
    if (c->tail == NIL)
        c->tail = s;
}

static void remove_slot(struct cachesim *c, uint32_t s)
{
    table_delete(c, table_find(c, c->slots[s].key));
    list_unlink(c, s);
    c->slots[s].next = c->free_head;
    c->free_head = s;
    c->size--;
}

static uint32_t alloc_slot(struct cachesim *c)
{
    if (c->free_head != NIL) {
        uint32_t s = c->free_head;
        c->free_head = c->slots[s].next;
        return s;
    }
    if (c->nslots == c->slot_cap) {
        c->slot_cap = c->slot_cap ? c->slot_cap * 2 : 1024;
        c->slots = xreallocarray(c->slots, c->slot_cap, sizeof *c->slots);
    }
    if (c->nslots >= NIL)
        DIE_BUG("cache simulation over %u entries", (unsigned)NIL);
    return (uint32_t)c->nslots++;
}

struct cachesim *cachesim_new(size_t capacity, int64_t ttl_ms)
{
    struct cachesim *c = xcalloc(1, sizeof *c);
    c->capacity = capacity;
    c->ttl_ms = ttl_ms;
    c->free_head = c->head = c->tail = NIL;
    table_init(c, 1024);
    return c;
}

void cachesim_free(struct cachesim *c)
{
    if (c == NULL)
        return;
    free(c->slots);
    free(c->table);
    free(c);
}

bool cachesim_access(struct cachesim *c, uint32_t key, int64_t now_ms)
{
    c->st.accesses++;
    size_t cell = table_find(c, key);
    if (c->table[cell] != EMPTY) {
        uint32_t s = c->table[cell];
        if (c->ttl_ms > 0 && now_ms - c->slots[s].born >= c->ttl_ms) {
            c->st.expirations++;
            remove_slot(c, s);
        } else {
            c->st.hits++;
            list_unlink(c, s);
            list_push_front(c, s);
            return true;
        }
    }
    c->st.misses++;
    if (c->capacity > 0 && c->size >= c->capacity) {
        c->st.evictions++;
        remove_slot(c, c->tail);
    }
    if ((c->size + 1) * 2 > c->table_mask + 1)
        table_grow(c);
    uint32_t s = alloc_slot(c);
    c->slots[s].key = key;
    c->slots[s].born = now_ms;
    list_push_front(c, s);
    table_insert(c, s);
    c->size++;
    if (c->size > c->st.peak_size)
        c->st.peak_size = c->size;
    return false;
}

size_t cachesim_size(const struct cachesim *c)
{
    return c->size;
}

const struct cachesim_stats *cachesim_stats(const struct cachesim *c)
{
    return &c->st;
}
