/*
 * libpq helpers for the blocking command-line paths (migrate, query,
 * import): choosing the conninfo, connecting, running statements with
 * their SQLSTATE and message checked, reading results, and COPY FROM STDIN
 * with text-format escaping. The crawler's non-blocking writer lives in
 * crawler/store.c; this module never blocks anyone but its caller.
 *
 * Only this file and a few others include <libpq-fe.h>: callers see
 * libpq's connection and result as the incomplete types struct pg_conn and
 * struct pg_result (PGconn and PGresult are typedefs of these).
 */
#ifndef XC_PG_H
#define XC_PG_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "common.h"

struct pg_conn;   /* libpq's PGconn */
struct pg_result; /* libpq's PGresult */

/* An error reported by the server or libpq. */
struct pg_err {
    char sqlstate[6]; /* five characters, "" when libpq gave none */
    char msg[512];    /* primary message, lower case as the server sends it */
};

/* Returns the conninfo to use, the first that is set of: flag (the
 * command's -d/--database), env XCENSUS_DATABASE, config_value (the config
 * key database.conninfo), else "" (libpq's own PG* environment defaults).
 * Borrowed from the arguments or the environment. */
const char *pg_conninfo_resolve(const char *flag, const char *config_value);

/* Connects with conninfo (a "key=value ..." string or a postgresql:// URI;
 * "" means libpq defaults); returns the connection, or NULL after logging
 * "could not connect to database: ...". Server notices go to the log at
 * info level. Caller closes with pg_close(). */
struct pg_conn *pg_connect(const char *conninfo);
/* Closes c; accepts NULL. */
void pg_close(struct pg_conn *c);

/* Runs one or several statements without parameters; true on success.
 * On failure fills err if given, otherwise logs the error. */
bool pg_exec(struct pg_conn *c, const char *sql, struct pg_err *err) MUST_CHECK;
/* Runs sql with text parameters $1..$n (NULL entries are SQL NULL); returns
 * the result (tuples or command), or NULL after filling err / logging.
 * Caller frees with pg_clear(). */
struct pg_result *pg_query(struct pg_conn *c, const char *sql, int nparams,
                           const char *const *params, struct pg_err *err);
/* Like pg_query, returns the first column of the first row as a new
 * string (caller frees), or NULL on error, no row or SQL NULL; *found is
 * set to whether a non-NULL value came back. */
char *pg_query_value(struct pg_conn *c, const char *sql, int nparams,
                     const char *const *params, bool *found,
                     struct pg_err *err);

/* Result accessors (thin wrappers so callers need not include libpq). */
int pg_nrows(const struct pg_result *r);
int pg_ncols(const struct pg_result *r);
/* Column name; borrowed, valid until pg_clear(r). */
const char *pg_colname(const struct pg_result *r, int col);
/* True for integer, numeric and floating-point columns. */
bool pg_col_numeric(const struct pg_result *r, int col);
/* True for boolean columns. */
bool pg_col_bool(const struct pg_result *r, int col);
/* Value in text format ("" for NULL); borrowed, valid until pg_clear(r). */
const char *pg_value(const struct pg_result *r, int row, int col);
bool pg_isnull(const struct pg_result *r, int row, int col);
/* Number of rows a command touched (INSERT/UPDATE/DELETE), 0 if unknown. */
long long pg_cmd_rows(const struct pg_result *r);
/* Frees r; accepts NULL. */
void pg_clear(struct pg_result *r);

/* Starts "COPY ... FROM STDIN" (text format); true on success. */
bool pg_copy_begin(struct pg_conn *c, const char *copy_sql,
                   struct pg_err *err) MUST_CHECK;
/* Sends len bytes of COPY data (whole or partial lines); true on success. */
bool pg_copy_put(struct pg_conn *c, const char *data, size_t len,
                 struct pg_err *err) MUST_CHECK;
/* Ends the COPY and waits for its result; true if the server accepted all
 * rows. On false the transaction is aborted. */
bool pg_copy_end(struct pg_conn *c, struct pg_err *err) MUST_CHECK;

/* Appends s (len bytes) escaped for the COPY text format: backslash,
 * tab, newline and carriage return become \\, \t, \n, \r. */
void pg_copy_escape(struct buf *b, const char *s, size_t len);
/* Appends the text-format NULL marker \N. */
void pg_copy_null(struct buf *b);
/* Appends s escaped, or \N when s is NULL. */
void pg_copy_str(struct buf *b, const char *s);

#endif
