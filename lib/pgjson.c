/*
 * PostgreSQL results as JSON (see pgjson.h). Array literals are parsed
 * here (PostgreSQL's text output: {a,"b c",NULL,{1,2}}), bounded in depth;
 * anything unparsable becomes its text.
 */
#include "pgjson.h"

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Type OIDs from pg_type.dat; stable since PostgreSQL 7. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_OID = 26,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_DATE = 1082,
    OID_TIME = 1083,
    OID_TIMESTAMP = 1114,
    OID_TIMESTAMPTZ = 1184,
    OID_TIMETZ = 1266,
    OID_NUMERIC = 1700,
    OID_JSONB = 3802,
};

/* Array types and their element types. */
static const struct {
    Oid array, elem;
} array_oids[] = {
    {1000, OID_BOOL},
    {1005, OID_INT2},
    {1007, OID_INT4},
    {1016, OID_INT8},
    {1028, OID_OID},
    {1021, OID_FLOAT4},
    {1022, OID_FLOAT8},
    {1231, OID_NUMERIC},
    {1009, 25 /* text */},
    {1015, 1043},
    {1014, 1042},
    {1003, 19 /* name */},
    {1182, OID_DATE},
    {1115, OID_TIMESTAMP},
    {1185, OID_TIMESTAMPTZ},
    {1183, OID_TIME},
    {1270, OID_TIMETZ},
    {199, OID_JSON},
    {3807, OID_JSONB},
    {1041, 869 /* inet */},
    {1001, 17 /* bytea */},
    {2951, 2950 /* uuid */},
};

#define ARRAY_DEPTH_MAX 6

static enum pgjson_type type_of(Oid t)
{
    switch (t) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        return PGJSON_INTEGER;
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC:
        return PGJSON_NUMBER;
    case OID_BOOL:
        return PGJSON_BOOLEAN;
    case OID_DATE:
    case OID_TIME:
    case OID_TIMETZ:
    case OID_TIMESTAMP:
    case OID_TIMESTAMPTZ:
        return PGJSON_TIMESTAMP;
    case OID_JSON:
    case OID_JSONB:
        return PGJSON_JSON;
    default:
        for (size_t i = 0; i < ARRAY_LEN(array_oids); i++)
            if (array_oids[i].array == t)
                return PGJSON_ARRAY;
        return PGJSON_TEXT;
    }
}

static Oid elem_of(Oid t)
{
    for (size_t i = 0; i < ARRAY_LEN(array_oids); i++)
        if (array_oids[i].array == t)
            return array_oids[i].elem;
    return 25;
}

/* Type class of a column. */
enum pgjson_type pgjson_col_type(const struct pg_result *r, int col)
{
    return type_of(PQftype(r, col));
}

static const char *const type_names[] = {
    [PGJSON_TEXT] = "text",           [PGJSON_INTEGER] = "integer",
    [PGJSON_NUMBER] = "number",       [PGJSON_BOOLEAN] = "boolean",
    [PGJSON_TIMESTAMP] = "timestamp", [PGJSON_JSON] = "json",
    [PGJSON_ARRAY] = "array",
};
_Static_assert(ARRAY_LEN(type_names) == PGJSON_ARRAY + 1, "type names");

/* Name of a type class. */
const char *pgjson_type_name(enum pgjson_type t)
{
    return (size_t)t < ARRAY_LEN(type_names) ? type_names[t] : "text";
}

/* PostgreSQL ISO timestamp text to ISO 8601. */
void pgjson_iso8601(const char *pg, char *out, size_t outsz)
{
    size_t n = strlen(pg);
    if (outsz == 0)
        return;
    if (n >= outsz || n >= 48) {
        snprintf(out, outsz, "%s", pg);
        return;
    }
    memcpy(out, pg, n + 1);
    /* "YYYY-MM-DD HH:..." -> "YYYY-MM-DDTHH:..." */
    if (n > 11 && out[4] == '-' && out[7] == '-' && out[10] == ' ')
        out[10] = 'T';
    /* trailing "+HH" or "-HH" offset (after a time) -> "+HH:00" */
    if (n >= 3 && (out[n - 3] == '+' || out[n - 3] == '-') &&
        out[n - 2] >= '0' && out[n - 2] <= '9' && out[n - 1] >= '0' &&
        out[n - 1] <= '9' && strchr(out, ':') != NULL &&
        strchr(out, ':') < out + n - 3 && n + 3 < outsz) {
        memcpy(out + n, ":00", 4);
    }
}

/* A number as JSON: integers exactly, others as reals, non-finite null. */
static json_t *number(const char *s, bool integer)
{
    char *end;
    if (*s == '\0')
        return json_null();
    errno = 0;
    long long ll = strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0)
        return json_integer(ll);
    if (integer)
        return json_string(s); /* out of range: keep every digit */
    double d = strtod(s, &end);
    if (*end != '\0' || !isfinite(d))
        return json_null();
    json_t *j = json_real(d);
    return j ? j : json_null();
}

static json_t *scalar(Oid t, const char *v)
{
    json_t *j = NULL;
    switch (type_of(t)) {
    case PGJSON_INTEGER:
        j = number(v, true);
        break;
    case PGJSON_NUMBER:
        j = number(v, false);
        break;
    case PGJSON_BOOLEAN:
        j = json_boolean(strcmp(v, "t") == 0 || strcmp(v, "true") == 0);
        break;
    case PGJSON_TIMESTAMP: {
        char iso[64];
        pgjson_iso8601(v, iso, sizeof iso);
        j = json_string(iso);
        break;
    }
    case PGJSON_JSON:
        j = json_loads(v, JSON_DECODE_ANY, NULL);
        if (!j)
            j = json_string(v);
        break;
    case PGJSON_ARRAY:
    case PGJSON_TEXT:
        j = json_string(v);
        break;
    }
    return j ? j : json_null();
}

/* Parses one array literal level at *p (pointing at '{'); NULL on a syntax
 * error. Elements are converted as type elem. */
static json_t *parse_array(const char **p, Oid elem, int depth, struct buf *tmp)
{
    if (**p != '{' || depth > ARRAY_DEPTH_MAX)
        return NULL;
    (*p)++;
    json_t *arr = json_array();
    if (**p == '}') {
        (*p)++;
        return arr;
    }
    for (;;) {
        json_t *item;
        if (**p == '{') {
            item = parse_array(p, elem, depth + 1, tmp);
        } else if (**p == '"') {
            buf_reset(tmp);
            (*p)++;
            while (**p && **p != '"') {
                if (**p == '\\' && (*p)[1])
                    (*p)++;
                buf_append(tmp, *p, 1);
                (*p)++;
            }
            if (**p != '"') {
                item = NULL;
            } else {
                (*p)++;
                item = scalar(elem, buf_str(tmp));
            }
        } else {
            const char *s = *p;
            while (**p && **p != ',' && **p != '}')
                (*p)++;
            buf_reset(tmp);
            buf_append(tmp, s, (size_t)(*p - s));
            item = (*p - s == 4 && memcmp(s, "NULL", 4) == 0)
                       ? json_null()
                       : scalar(elem, buf_str(tmp));
        }
        if (!item) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, item);
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (**p == '}') {
            (*p)++;
            return arr;
        }
        json_decref(arr);
        return NULL;
    }
}

static json_t *array_value(Oid t, const char *v)
{
    const char *p = v;
    if (*p == '[') { /* explicit bounds "[0:1]={...}" */
        p = strchr(p, '=');
        if (!p)
            return json_string(v);
        p++;
    }
    struct buf tmp = BUF_INIT;
    json_t *j = parse_array(&p, elem_of(t), 0, &tmp);
    buf_free(&tmp);
    if (j && *p != '\0') {
        json_decref(j);
        j = NULL;
    }
    return j ? j : json_string(v);
}

/* Value (row, col) as JSON. */
json_t *pgjson_value(const struct pg_result *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    Oid t = PQftype(r, col);
    const char *v = PQgetvalue(r, row, col);
    json_t *j = type_of(t) == PGJSON_ARRAY ? array_value(t, v) : scalar(t, v);
    return j ? j : json_null();
}

/* Row as a JSON object. */
json_t *pgjson_row(const struct pg_result *r, int row)
{
    json_t *obj = json_object();
    for (int j = 0; j < PQnfields(r); j++)
        json_object_set_new(obj, PQfname(r, j), pgjson_value(r, row, j));
    return obj;
}

/* Column names and types. */
json_t *pgjson_columns(const struct pg_result *r)
{
    json_t *cols = json_array();
    for (int j = 0; j < PQnfields(r); j++)
        json_array_append_new(
            cols, json_pack("{s:s, s:s}", "name", PQfname(r, j), "type",
                            pgjson_type_name(pgjson_col_type(r, j))));
    return cols;
}

/* The first max rows as a JSON array. */
json_t *pgjson_rows(const struct pg_result *r, int max)
{
    int n = PQntuples(r);
    if (max >= 0 && max < n)
        n = max;
    json_t *rows = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(rows, pgjson_row(r, i));
    return rows;
}
