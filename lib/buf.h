/*
 * Growable byte buffer, always NUL-terminated so that text can be used as
 * a C string. An explicit struct, not an sds-style char *.
 */
#ifndef XC_BUF_H
#define XC_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "common.h"

struct buf {
    char *data; /* NULL until the first append; then len + 1 bytes valid */
    size_t len;
    size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) PRINTF_LIKE(2, 0);
/* Appends s with the five XML special characters escaped (&amp; &lt;
 * &gt; &apos; &quot;), for text and attribute values alike. */
void buf_put_xml(struct buf *b, const char *s);
/* Empties the buffer and keeps its memory. */
void buf_reset(struct buf *b);
/* Returns the data as a C string ("" when empty); borrowed, valid until the
 * next change to b. */
const char *buf_str(const struct buf *b);
/* Hands the data to the caller (caller frees with free()) and empties b. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

#endif
