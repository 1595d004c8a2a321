/*
 * Table-driven YAML configuration loader (libyaml), shared by every
 * program. A program describes its settings once, in a table of struct
 * cfg_option rows (tmux options_table style); this module turns a YAML
 * file into that program's struct: it applies the defaults written in the
 * table, walks the YAML mapping whose nesting mirrors the dotted keys,
 * rejects unknown and duplicate keys, checks types and ranges, resolves
 * secrets from the environment or from files, and reports every problem as
 *   FILE:LINE:COL: key "a.b": message
 * (1-based, from the offending node's start mark). Loading is pure: it
 * fills a caller-provided struct and an error list and touches nothing
 * else, so a reload can build a new config and swap it in only on success.
 *
 * It does not know any program's keys, does not log, and never prints a
 * secret. Input is bounded (size, nesting depth, node count); YAML aliases
 * and anchors are refused (no billion-laughs expansion).
 */
#ifndef XC_CFG_H
#define XC_CFG_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"

struct buf;

enum cfg_type {
    CFG_INT,         /* int64_t; .min/.max is the range */
    CFG_BOOL,        /* bool; true or false only (not yes/no/on/off) */
    CFG_STRING,      /* char * (NULL when empty); .min/.max is the length */
    CFG_ENUM,        /* int: index into .words */
    CFG_DURATION,    /* int64_t milliseconds: "250ms" "30s" "5m" "1h" "2d" */
    CFG_SIZE,        /* int64_t bytes: "512" "64k" "64KiB" "16M" "1GiB" */
    CFG_STRLIST,     /* struct cfg_strlist; .maxcount items, .max length */
    CFG_INTLIST,     /* struct cfg_intlist; .maxcount items in .min/.max */
    CFG_LIST,        /* struct cfg_list of maps, each checked by .sub */
    CFG_SECRET_ENV,  /* struct cfg_secret: KEY_env names a variable */
    CFG_SECRET_FILE, /* the same struct cfg_secret: KEY_file names a file */
    CFG__COUNT
};

/* A list of strings; each item owned by the list. */
struct cfg_strlist {
    char **v;
    size_t n;
};

/* A list of integers. */
struct cfg_intlist {
    int64_t *v;
    size_t n;
};

/* A list of maps: n items of the sub-table's item_size bytes each. */
struct cfg_list {
    void *items;
    size_t n;
};

/* A secret named by the configuration and read at load time. Two rows of
 * the table (KEY_env and KEY_file) share one of these; at most one of them
 * may be set. value is never printed by this module. */
struct cfg_secret {
    char *env;   /* name of the environment variable, or NULL */
    char *file;  /* path of the file whose first line is the secret, or NULL */
    char *value; /* the secret; NULL when neither is set or not resolved */
    int line;    /* 1-based position of the key that set it, for messages */
    int col;
};

struct cfg_table;

/* Reports a problem found by a table's check function: key is the row's
 * key (relative to the table); the error is placed where the file set
 * that key. */
typedef void (*cfg_report_cb)(void *rctx, const char *key, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

/* One setting. Keys are dotted paths mirroring the YAML nesting
 * ("crawl.lease"); in a sub-table (list items) keys are relative. */
struct cfg_option {
    const char *key;
    enum cfg_type type;
    size_t off;      /* offsetof() the field in the table's struct */
    int64_t min;     /* INT, DURATION (ms), SIZE, INTLIST items: lowest value;
                        STRING, STRLIST items: shortest length */
    int64_t max;     /* highest value / longest length; 0 = no bound on
                        values, 4096 bytes for strings */
    size_t maxcount; /* STRLIST, INTLIST, LIST: most items (0 = 64) */
    const char *def; /* default, as YAML text; NULL = none */
    const char *const *words;    /* ENUM: NULL-terminated allowed words */
    const struct cfg_table *sub; /* LIST: table of each item */
    bool required;               /* must be given (secrets: one of the pair) */
    bool reload;                 /* may change on reload (SIGHUP) */
    const char *help;            /* one line, lower case */
};

/* A table: its rows and the size of the struct they describe. */
struct cfg_table {
    const struct cfg_option *opts;
    size_t n;
    size_t size; /* sizeof the struct (for LIST items: of one item) */
    /* Optional rules between keys ("heartbeat shorter than lease"), run
     * on the loaded struct when everything else was fine. */
    void (*check)(const void *base, cfg_report_cb report, void *rctx);
};

/* Input bounds. */
#define CFG_MAX_FILE_BYTES (1024 * 1024)
#define CFG_MAX_DEPTH 16
#define CFG_MAX_NODES 20000
#define CFG_MAX_ERRORS 20
#define CFG_MAX_SECRET_BYTES 4096

/* One error: text is the whole line "FILE:LINE:COL: key "k": message"
 * (or "FILE:LINE:COL: message", or "FILE: message" without a position). */
struct cfg_error {
    int line; /* 1-based, 0 if none */
    int col;
    char *key;  /* dotted key, or NULL */
    char *text; /* owned */
};

/* The errors of one load, in the order found, at most CFG_MAX_ERRORS. */
struct cfg_errors {
    struct cfg_error e[CFG_MAX_ERRORS];
    size_t n;
    size_t dropped; /* errors found beyond the first CFG_MAX_ERRORS */
};

/* Loading flags. */
enum {
    CFG_NO_SECRETS = 1 << 0, /* check *_env / *_file syntax only, read none */
};

/* Frees the texts held by errs and empties it; errs itself is the
 * caller's. */
void cfg_errors_free(struct cfg_errors *errs);
/* Writes one error per line to f, and a count of dropped ones. */
void cfg_errors_print(const struct cfg_errors *errs, FILE *f);

/* Fills base (table->size bytes, zeroed first) with the table's defaults.
 * A default that does not parse is a bug in the table: it is reported in
 * errs under the name "default" and false is returned (a unit test walks
 * every table through this). */
bool cfg_defaults(const struct cfg_table *t, void *base,
                  struct cfg_errors *errs) MUST_CHECK;

/* Loads YAML text data[0..len) into base: zeroes it, applies defaults,
 * then the document. name is used in messages only. On success returns
 * true and base owns new memory (free with cfg_free()); on failure returns
 * false, base holds nothing to free, and errs holds at least one error
 * (caller frees with cfg_errors_free()). An empty document gives the
 * defaults. flags: CFG_NO_SECRETS or 0. */
bool cfg_load_buffer(const struct cfg_table *t, void *base, const char *name,
                     const char *data, size_t len, unsigned flags,
                     struct cfg_errors *errs) MUST_CHECK;

/* Like cfg_load_buffer() on the contents of the file path (at most
 * CFG_MAX_FILE_BYTES); messages name the file by path. */
bool cfg_load_file(const struct cfg_table *t, void *base, const char *path,
                   unsigned flags, struct cfg_errors *errs) MUST_CHECK;

/* Frees what a load or cfg_defaults() put in base (strings, lists,
 * secrets, wiped before freeing) and zeroes it. Safe on a zeroed base. */
void cfg_free(const struct cfg_table *t, void *base);

/* Returns the row of the table whose key is key (relative for
 * sub-tables), or NULL. Borrowed from the table. */
const struct cfg_option *cfg_find(const struct cfg_table *t, const char *key);

/* Name of a type as shown to users ("int", "duration", ...). */
const char *cfg_type_name(enum cfg_type type);

/* Appends the value of option o in base to b, as YAML scalar or flow
 * text ("30s", "64MiB", "true", "\"text\"", "[a, b]"). Secrets appear as
 * the variable name or path they come from, never as their value. Not
 * for CFG_LIST. */
void cfg_format_value(const struct cfg_option *o, const void *base,
                      struct buf *b);

/* Appends the effective configuration in base to b as a YAML document
 * that cfg_load_buffer() accepts, nested as the keys are. */
void cfg_dump_yaml(const struct cfg_table *t, const void *base, struct buf *b);

/* Appends a description of every key (type, default, range, reload, help)
 * to b: plain text when markdown is false, else a Markdown table. */
void cfg_describe(const struct cfg_table *t, bool markdown, struct buf *b);

/* Adds to errs (name used in messages) one error per option whose value
 * differs between old and new but which may not change on reload (list
 * items are compared key by key; their number may not change unless the
 * list row says reload). Returns true when the new configuration can be
 * swapped in. */
bool cfg_check_reload(const struct cfg_table *t, const void *old_base,
                      const void *new_base, const char *name,
                      struct cfg_errors *errs) MUST_CHECK;

#endif
