/*
 * Allocation that aborts on out-of-memory: these are programs, not
 * libraries, so callers never check for NULL. Parsers of untrusted input
 * still bound what they allocate.
 */
#ifndef XC_XALLOC_H
#define XC_XALLOC_H

#include <stddef.h>

#include "common.h"

/* Returns new memory; caller frees with free(). Never returns NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
/* Like realloc(3) but aborts on failure and on nmemb * size overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a new formatted string; caller frees with free(). */
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);

#endif
