/*
 * The pure parts of the storage writer (crawler/store.c), kept apart so
 * they can be unit-tested without a database: values written in the
 * PostgreSQL COPY text format, and the batch file format of the spill
 * and rejected directories.
 *
 * Text policy (what reaches PostgreSQL): every string is valid UTF-8
 * without NUL. Remote strings are hostile, so before escaping each byte
 * that does not start a well-formed UTF-8 sequence (overlong forms,
 * surrogates, code points above U+10FFFF, truncated sequences, stray
 * continuation bytes) and each NUL byte is replaced by U+FFFD; the
 * replacement is counted, never silent to the caller. Backslash, tab,
 * newline and carriage return are then escaped (\\ \t \n \r), which also
 * makes the end-of-data marker "\." impossible inside a value. Other
 * control characters are legal in PostgreSQL text and pass unchanged.
 */
#ifndef XC_STORE_COPY_H
#define XC_STORE_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"

/* Appends s (len bytes, NULs allowed) as one COPY text value: invalid
 * UTF-8 and NUL replaced by U+FFFD, then escaped. Returns the number of
 * replacements made. */
size_t store_copy_text(struct buf *b, const char *s, size_t len);
/* Appends a C string as a COPY value, or \N when s is NULL. Returns the
 * number of replacements. */
size_t store_copy_str(struct buf *b, const char *s);
/* Like store_copy_str, but at most max_chars characters (code points)
 * of the cleaned text are kept (a CHECK on length() counts characters). */
size_t store_copy_str_clip(struct buf *b, const char *s, size_t max_chars);
/* Appends s as a PostgreSQL array element list "{...}" of n text values
 * (each double-quoted with " and \ backslash-escaped, then the whole
 * literal COPY-escaped); NULL entries are skipped. Returns replacements. */
size_t store_copy_array(struct buf *b, const char *const *items, size_t n);

/* True if s[0..len) is well-formed UTF-8 without NUL (what PostgreSQL
 * accepts unchanged). */
bool store_utf8_valid(const char *s, size_t len);
/* Returns a new NUL-terminated copy of s[0..len) cleaned as above (caller
 * frees with free()); *replaced (if not NULL) gets the count. */
char *store_utf8_clean(const char *s, size_t len, size_t *replaced);
/* Number of characters (code points) of valid UTF-8 s. */
size_t store_utf8_chars(const char *s, size_t len);

/* Writes microseconds since the Unix epoch as a timestamptz literal
 * "YYYY-MM-DD HH:MM:SS.ffffff+00" into out. */
void store_time_format(int64_t us, char out[40]);

/* Appends to out the COPY text rows of in[0..len) with the rows that are
 * equal in every column but the last folded, when that last column is a
 * time written by store_time_format(): of such rows only the one with the
 * earliest and the one with the latest time are kept (one row when both
 * are the same). So a min() or max() of the time grouped by the other
 * columns is the same over out as over in; the order of the rows is not
 * kept. Other rows (another last column, a row without newline) are
 * copied unchanged. Returns the number of rows dropped. */
size_t store_copy_fold_times(struct buf *out, const char *in, size_t len);

/* --- batch files ---------------------------------------------------------
 * One batch per file, written by the writer itself:
 *   xcensus-store-batch 1\n
 *   id BATCH-ID\n            (no whitespace)
 *   kind KIND\n
 *   rows N\n
 *   error TEXT\n             (optional, rejected batches only)
 *   section STAGE BYTES\n    then BYTES bytes of COPY text data,
 *   ...                      once per non-empty stage
 *   end\n
 */

#define STORE_FILE_MAGIC "xcensus-store-batch 1"
#define STORE_FILE_MAX_SECTIONS 32

struct store_file_section {
    char name[32];    /* stage name */
    const char *data; /* borrowed from the file buffer */
    size_t len;
};

struct store_file {
    char id[256];
    char kind[32];
    long long rows;
    char error[512]; /* "" if none */
    struct store_file_section sec[STORE_FILE_MAX_SECTIONS];
    size_t nsec;
};

/* Appends the header lines (id, kind, rows, error if non-empty) to b. */
void store_file_header(struct buf *b, const char *id, const char *kind,
                       long long rows, const char *error);
/* Appends one section (skipped when len is 0). */
void store_file_section(struct buf *b, const char *stage, const char *data,
                        size_t len);
/* Appends the trailer. */
void store_file_end(struct buf *b);
/* Parses a whole file held in data[0..len); sections point into data.
 * False with err->msg set when anything is malformed or truncated. */
bool store_file_parse(const char *data, size_t len, struct store_file *f,
                      struct parse_err *err) MUST_CHECK;

#endif
