/*
 * PostgreSQL results as JSON (jansson), the one conversion used by
 * `xcensus query -f json`, `xcensus serve` and `xcensus export`: each
 * column gets a type name from its type OID and each value the JSON form
 * of that type:
 *   "integer"   int2, int4, int8, oid       -> JSON integer
 *   "number"    numeric, float4, float8     -> JSON number (NaN, Infinity:
 *                                              null)
 *   "boolean"   bool                        -> true / false
 *   "timestamp" date, time, timestamp(tz)   -> ISO 8601 text
 *                                              ("2026-03-15T10:00:00+00:00")
 *   "json"      json, jsonb                 -> the embedded JSON value
 *   "array"     any array type              -> JSON array (nested for more
 *                                              dimensions) of elements
 *                                              converted by the element type
 *   "text"      everything else             -> JSON string
 * SQL NULL is JSON null whatever the type. Timestamps are converted from
 * PostgreSQL's ISO DateStyle output (the default); run the session with
 * TimeZone UTC to get "+00:00" everywhere.
 */
#ifndef XC_PGJSON_H
#define XC_PGJSON_H

#include <jansson.h>

#include "pg.h"

enum pgjson_type {
    PGJSON_TEXT,
    PGJSON_INTEGER,
    PGJSON_NUMBER,
    PGJSON_BOOLEAN,
    PGJSON_TIMESTAMP,
    PGJSON_JSON,
    PGJSON_ARRAY,
};

/* The type class of column col of r. */
enum pgjson_type pgjson_col_type(const struct pg_result *r, int col);
/* Its name: "integer", "number", "boolean", "text", "timestamp", "json",
 * "array". Static. */
const char *pgjson_type_name(enum pgjson_type t);
/* The value at (row, col) as a new JSON value (a new reference; never
 * NULL: a value jansson refuses becomes JSON null). */
json_t *pgjson_value(const struct pg_result *r, int row, int col);
/* Row row as a new JSON object, keys in column order. */
json_t *pgjson_row(const struct pg_result *r, int row);
/* The columns as a new JSON array of {"name": ..., "type": ...}. */
json_t *pgjson_columns(const struct pg_result *r);
/* The first max rows (all if max < 0) as a new JSON array of objects. */
json_t *pgjson_rows(const struct pg_result *r, int max);
/* Converts one PostgreSQL ISO timestamp text to ISO 8601 into out (at
 * least 64 bytes): "2026-03-15 10:00:00+00" -> "2026-03-15T10:00:00+00:00".
 * Text it does not recognise is copied unchanged (truncated to 63 bytes). */
void pgjson_iso8601(const char *pg, char *out, size_t outsz);

#endif
