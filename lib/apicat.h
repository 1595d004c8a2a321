/*
 * The query catalog: every named, read-only query that xcensus offers to
 * people and programs. One table serves `xcensus query NAME [ARG=VALUE...]`
 * (table, CSV, JSON), `xcensus serve` (GET /api/v1/NAME?ARG=VALUE&limit=
 * &offset=), the dashboards, the OpenAPI description in docs/ and the
 * dataset snapshots, so that they can never disagree.
 *
 * Each entry is fixed SQL over the v_* views of sql/ (the stable contract)
 * with typed parameters bound as $1..$n; callers never splice text into
 * SQL. The entry's SQL has no ORDER BY, LIMIT or OFFSET of its own: the
 * caller wraps it as
 *     SELECT * FROM (<sql>) q ORDER BY <order_by> LIMIT $n+1 OFFSET $n+2
 * so that every page is stable (order_by must be a total order).
 */
#ifndef XC_APICAT_H
#define XC_APICAT_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

enum apicat_type {
    APICAT_TEXT, /* any UTF-8 text up to APICAT_ARG_MAX bytes */
    APICAT_INT,  /* decimal integer, fits int64 */
    APICAT_DATE, /* YYYY-MM-DD */
    APICAT_BOOL, /* true|false */
};

#define APICAT_ARG_MAX 1024 /* longest accepted argument value, bytes */
#define APICAT_PARAMS_MAX 8 /* most parameters of one entry */
#define APICAT_LIMIT_DEFAULT 100
#define APICAT_LIMIT_MAX 10000
#define APICAT_OFFSET_MAX 1000000000 /* largest accepted offset */

struct apicat_param {
    const char *name; /* [a-z_]+, never "limit", "offset" or "format" */
    enum apicat_type type;
    bool required;    /* else SQL NULL when absent: the SQL handles NULL */
    const char *help; /* one line, for --help and OpenAPI */
};

struct apicat_entry {
    const char *name;     /* [a-z0-9_]+: query NAME and /api/v1/NAME */
    const char *title;    /* short human title, e.g. "Server software" */
    const char *help;     /* one or two sentences: what a row is */
    const char *sql;      /* SELECT over v_* views, parameters $1..$n */
    const char *order_by; /* total order of the result's columns */
    const struct apicat_param *params;
    size_t nparams;
};

/* Number of entries; they are listed in a fixed order. */
size_t apicat_count(void);
/* Entry i (0 <= i < apicat_count()); borrowed, static. */
const struct apicat_entry *apicat_at(size_t i);
/* The entry named name, also accepting the view spelling "v_" + name;
 * NULL if none. */
const struct apicat_entry *apicat_find(const char *name);
/* Index of the parameter called name in e, or -1. */
int apicat_param_index(const struct apicat_entry *e, const char *name);
/* Checks value against p's type; on failure fills err ("... must be ...")
 * and returns false. */
bool apicat_check_value(const struct apicat_param *p, const char *value,
                        struct parse_err *err) MUST_CHECK;

/* The type's name for help texts and OpenAPI: "text", "integer", "date",
 * "boolean". Static. */
const char *apicat_type_name(enum apicat_type t);
/* Binds arguments to e's parameters: names[i]=values[i] for i < n. Fills
 * out[0..e->nparams) with borrowed pointers into values (NULL where
 * absent), so out[k] is the text of $k+1. Fails (err: "unknown argument
 * x", "argument x given twice", "x must be ...", "missing argument x")
 * on an unknown or repeated name, a value not of its type, or a missing
 * required argument. */
bool apicat_bind(const struct apicat_entry *e, size_t n,
                 const char *const *names, const char *const *values,
                 const char **out, struct parse_err *err) MUST_CHECK;
/* Parses a limit (1..APICAT_LIMIT_MAX) or an offset
 * (0..APICAT_OFFSET_MAX) given as decimal text; on failure fills err
 * ("limit must be an integer between 1 and 10000") and returns false. */
bool apicat_parse_limit(const char *s, long long *out,
                        struct parse_err *err) MUST_CHECK;
bool apicat_parse_offset(const char *s, long long *out,
                         struct parse_err *err) MUST_CHECK;
/* The statement to run for e: its SQL wrapped as
 *   SELECT * FROM (<sql>) q ORDER BY <order_by> LIMIT $n+1 OFFSET $n+2
 * with n = e->nparams; bind the arguments of apicat_bind() and then
 * limit+1 (to know whether a next page exists) and offset. Caller frees. */
char *apicat_sql(const struct apicat_entry *e);

#endif
