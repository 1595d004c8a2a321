/*
 * The file formats of a dataset snapshot (docs/SNAPSHOTS.md), as pure
 * functions that know nothing of PostgreSQL or files: an incremental
 * RFC 4180 checker for the CSV files (CRLF record ends, quoted fields,
 * field counts, a bound on every record), the CSV writer's LF-to-CRLF
 * conversion of PostgreSQL's COPY output, streaming SHA-256, and the name rules
 * that keep a manifest from pointing outside its directory. The snapshot is
 * untrusted input when it is imported: every checker bounds what it holds and
 * reports the first problem with its line.
 */
#ifndef XC_SNAPSHOT_FMT_H
#define XC_SNAPSHOT_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"

/* Longest CSV record or JSON line accepted from a snapshot, bytes. The
 * largest value the schema holds is a disco#info XML document, which the
 * crawler bounds far below this. */
#define SNAPSHOT_RECORD_MAX (16u * 1024 * 1024)
/* Most rows one table of a snapshot may declare. */
#define SNAPSHOT_ROWS_MAX 1000000000000LL
/* Longest header record kept for comparison, bytes. */
#define SNAPSHOT_HEADER_MAX 4096

enum snapshot_csv_state {
    SCSV_FIELD_START, /* at the start of a field (or record) */
    SCSV_UNQUOTED,    /* inside an unquoted field */
    SCSV_QUOTED,      /* inside a quoted field */
    SCSV_QUOTE,       /* a quote inside a quoted field: closes it or doubles */
    SCSV_CR,          /* a CR outside quotes: LF must follow */
    SCSV_ERROR,       /* stopped at the first error (err is filled) */
    SCSV__COUNT
};

/* An incremental checker of one CSV file: feed it the bytes in any
 * chunking, then call snapshot_csv_finish(). Plain data, no allocation
 * except the header copy (freed by snapshot_csv_free()). */
struct snapshot_csv {
    enum snapshot_csv_state state;
    size_t ncols;         /* fields every record must have */
    size_t fields;        /* fields of the current record so far */
    uint64_t records;     /* complete records, header included */
    uint64_t line;        /* 1-based physical line of the current byte */
    uint64_t record_line; /* line where the current record started */
    size_t record_len;    /* bytes of the current record so far */
    struct buf header;    /* the first record's bytes (bounded) */
    struct parse_err err; /* the first error; line is record_line */
};

/* Starts a check of records with ncols fields each. */
void snapshot_csv_init(struct snapshot_csv *c, size_t ncols);
/* Feeds n bytes; false once an error was found (c->err says which). */
bool snapshot_csv_feed(struct snapshot_csv *c, const char *p,
                       size_t n) MUST_CHECK;
/* Ends the input: false if the last record is incomplete. */
bool snapshot_csv_finish(struct snapshot_csv *c) MUST_CHECK;
/* Frees the header copy; c may be reused after snapshot_csv_init(). */
void snapshot_csv_free(struct snapshot_csv *c);

/* Appends PostgreSQL's CSV output p (n bytes, any chunking) to out with
 * every record-ending LF turned into CRLF (RFC 4180 section 2); LF inside
 * a quoted field is data and stays. *in_quotes carries the state between
 * calls (start with false). */
void snapshot_csv_crlf(struct buf *out, const char *p, size_t n,
                       bool *in_quotes);

/* True if s is a safe file name inside a snapshot: 1 to 100 bytes of
 * [A-Za-z0-9_.-], not starting with '.', so it can never leave the
 * directory. */
bool snapshot_file_name_ok(const char *s);
/* True if s is a plain SQL identifier: [a-z_][a-z0-9_]*, at most 63 bytes
 * (so it needs no quoting and can never carry SQL). */
bool snapshot_ident_ok(const char *s);
/* True if s is 64 lower-case hex digits. */
bool snapshot_sha256_hex_ok(const char *s);

/* Appends s as a YAML double-quoted scalar (CITATION.cff): quotes,
 * backslashes and control characters escaped. */
void snapshot_yaml_quote(struct buf *b, const char *s);

struct snapshot_sha256; /* a running SHA-256 (OpenSSL EVP), opaque */

/* Starts a digest; caller frees with snapshot_sha256_free(). */
struct snapshot_sha256 *snapshot_sha256_new(void);
/* Adds n bytes. */
void snapshot_sha256_update(struct snapshot_sha256 *h, const void *p, size_t n);
/* Writes the lower-case hex digest of everything added into out and frees
 * h. */
void snapshot_sha256_final(struct snapshot_sha256 *h, char out[65]);
/* Frees h without a result; accepts NULL. */
void snapshot_sha256_free(struct snapshot_sha256 *h);

#endif
