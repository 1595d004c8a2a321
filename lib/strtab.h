/*
 * String interning: each distinct byte string gets a dense uint32 id, and
 * the id gives the string back. Used wherever millions of repeated strings
 * (features, nodes, identity names) would otherwise be stored many times:
 * the analyzer's caps-cache model, and bulk loaders.
 *
 * Strings are copied into blocks that never move, so the pointers
 * strtab_str() returns stay valid until strtab_free().
 */
#ifndef XC_STRTAB_H
#define XC_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define STRTAB_NONE UINT32_MAX /* "no string" id */

struct strtab;

/* Returns a new empty table; caller frees with strtab_free(). */
struct strtab *strtab_new(void);
/* Frees t and every string in it; accepts NULL. */
void strtab_free(struct strtab *t);

/* Returns the id of the len bytes at s, adding a copy if new. */
uint32_t strtab_intern(struct strtab *t, const char *s, size_t len);
/* Same for a C string. */
uint32_t strtab_intern_cstr(struct strtab *t, const char *s);
/* Returns the id of s, or STRTAB_NONE if it was never interned. */
uint32_t strtab_find(const struct strtab *t, const char *s, size_t len);

/* The string of id (NUL-terminated; may contain NULs if interned so);
 * borrowed, valid until strtab_free(). */
const char *strtab_str(const struct strtab *t, uint32_t id);
size_t strtab_len(const struct strtab *t, uint32_t id);

/* Number of distinct strings. */
size_t strtab_count(const struct strtab *t);
/* Bytes of distinct string data (without terminators). */
size_t strtab_bytes(const struct strtab *t);
/* Bytes of memory the table uses in all (strings, index, blocks). */
size_t strtab_memory(const struct strtab *t);

#endif
