/*
 * Import of existing caps collections in the capsdb JSON Lines format
 * (tests/data/capsdb/README.md): one object per line with node, ver, hash,
 * disco_info_xml and optional source and well_formed. Each line is parsed
 * (jansson, bounded), its XML parsed and verified with the protocol core
 * (caps.h), and the lot stored as one named source in one transaction:
 * COPY into temporary stage tables, then INSERT ... SELECT ... ON CONFLICT
 * into the real ones, so re-importing the same file adds nothing. A bad
 * line is reported as "FILE:LINE: message", counted and skipped.
 */
#ifndef XC_CAPSDB_H
#define XC_CAPSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "caps.h"
#include "common.h"

struct pg_conn;

#define CAPSDB_MAX_LINE (4u << 20) /* bytes of one JSON line */
#define CAPSDB_MAX_FIELD 1024      /* bytes of node and ver */
#define CAPSDB_MAX_ALGO 32         /* bytes of hash */

/* Error codes of capsdb_parse_line() (struct parse_err.code). */
enum capsdb_err {
    CAPSDB_OK,
    CAPSDB_ERR_JSON,  /* not JSON, or not an object */
    CAPSDB_ERR_FIELD, /* a field missing, of the wrong type or too long */
    CAPSDB_ERR__COUNT
};

/* One parsed line; every string is owned (capsdb_entry_free()). */
struct capsdb_entry {
    char *node; /* caps node (software URI) */
    char *ver;  /* advertised verification string */
    char *hash; /* algorithm name; "" means legacy (no hash) */
    char *xml;  /* the disco#info <query/> answered for node#ver */
    size_t xml_len;
    char *origin;    /* the line's "source" field, or NULL */
    int well_formed; /* the line's "well_formed": 1, 0, or -1 if absent */
};

/* Parses one JSON line (len bytes, need not be NUL-terminated) into e
 * (zeroed first). Returns false with err filled (code enum capsdb_err,
 * column where known); e then holds nothing to free. */
bool capsdb_parse_line(const char *line, size_t len, struct capsdb_entry *e,
                       struct parse_err *err) MUST_CHECK;
/* Frees the strings of e and zeroes it; accepts a zeroed entry. */
void capsdb_entry_free(struct capsdb_entry *e);

/* Returns the default source name for a file: its base name without the
 * extension ("capsdb" for "data/capsdb.jsonl"); caller frees with free(). */
char *capsdb_default_source(const char *path);

/* What an import did. */
struct capsdb_stats {
    size_t read;     /* non-blank lines read */
    size_t imported; /* lines parsed, verified and stored */
    size_t skipped;  /* bad lines (each reported) */
    size_t outcomes[CAPS_OUTCOME__COUNT]; /* per imported line */
    size_t matched[CAPS_M__COUNT];        /* matched_by per imported line */
    size_t unmatched; /* imported lines no method reproduces */
    size_t disagree;  /* lines whose well_formed flag contradicts the verdict */
    long long new_entries;  /* caps_entries rows added */
    long long new_contents; /* disco_contents rows added */
    long long new_features; /* features rows added */
    long long observations; /* caps_observations rows added or changed */
    double seconds;         /* wall time of the whole import */
};

enum capsdb_result {
    CAPSDB_IMPORTED, /* every line imported */
    CAPSDB_PARTIAL,  /* imported, some lines skipped */
    CAPSDB_FAILED,   /* nothing committed (file or database error, logged) */
};

/* Imports the file at path as source source_name (kind "import"; created
 * if missing, refused if a source of another kind has that name). Bad
 * lines go to errs as "PATH:LINE: message". The database must be
 * migrated. Fills st. */
enum capsdb_result capsdb_import(struct pg_conn *c, const char *path,
                                 const char *source_name, FILE *errs,
                                 struct capsdb_stats *st);

#endif
