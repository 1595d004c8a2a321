/*
 * The OpenAPI 3.0 description of the HTTP API (docs/openapi.json) and the
 * Markdown list of queries in docs/API.md, both generated from the query
 * catalog so that they cannot drift from what the server answers; a test
 * compares the committed files with this output.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apicat.h"
#include "buf.h"
#include "srv.h"
#include "xalloc.h"

static json_t *param_schema(enum apicat_type t)
{
    switch (t) {
    case APICAT_INT:
        return json_pack("{s:s,s:s}", "type", "integer", "format", "int64");
    case APICAT_DATE:
        return json_pack("{s:s,s:s}", "type", "string", "format", "date");
    case APICAT_BOOL:
        return json_pack("{s:s}", "type", "boolean");
    default:
        return json_pack("{s:s,s:i}", "type", "string", "maxLength",
                         APICAT_ARG_MAX);
    }
}

static json_t *ref(const char *what)
{
    char *r = xasprintf("#/components/%s", what);
    json_t *j = json_pack("{s:s}", "$ref", r);
    free(r);
    return j;
}

static json_t *json_response(const char *desc, const char *schema)
{
    return json_pack("{s:s,s:{s:{s:o}}}", "description", desc, "content",
                     "application/json", "schema", ref(schema));
}

static json_t *error_responses(json_t *ok)
{
    return json_pack(
        "{s:o,s:o,s:o,s:o}", "200", ok, "400", ref("responses/BadRequest"),
        "404", ref("responses/NotFound"), "503", ref("responses/Unavailable"));
}

static json_t *query_path(const struct apicat_entry *e)
{
    json_t *params = json_array();
    for (size_t i = 0; i < e->nparams; i++) {
        const struct apicat_param *p = &e->params[i];
        json_array_append_new(
            params,
            json_pack("{s:s,s:s,s:b,s:s,s:o}", "name", p->name, "in", "query",
                      "required", p->required, "description",
                      p->help ? p->help : "", "schema", param_schema(p->type)));
    }
    json_array_append_new(params, ref("parameters/limit"));
    json_array_append_new(params, ref("parameters/offset"));
    char *op = xasprintf("query_%s", e->name);
    json_t *get = json_pack(
        "{s:[s],s:s,s:s,s:s,s:o,s:o}", "tags", "queries", "operationId", op,
        "summary", e->title, "description", e->help, "parameters", params,
        "responses",
        error_responses(json_response(
            "one page of rows, in a fixed total order", "schemas/Page")));
    free(op);
    /* what the query computes, for readers (and the API test) */
    json_object_set_new(get, "x-sql", json_string(e->sql));
    json_object_set_new(get, "x-order-by", json_string(e->order_by));
    return json_pack("{s:o}", "get", get);
}

static json_t *components(void)
{
    json_t *schemas = json_object();
    json_object_set_new(
        schemas, "Error",
        json_pack("{s:s,s:[s],s:{s:{s:s,s:[s,s],s:{s:{s:s},s:{s:s}}}}}", "type",
                  "object", "required", "error", "properties", "error", "type",
                  "object", "required", "status", "message", "properties",
                  "status", "type", "integer", "message", "type", "string"));
    json_object_set_new(
        schemas, "Column",
        json_pack("{s:s,s:[s,s],s:{s:{s:s},s:{s:s,s:[s,s,s,s,s,s,s]}}}", "type",
                  "object", "required", "name", "type", "properties", "name",
                  "type", "string", "type", "type", "string", "enum", "integer",
                  "number", "boolean", "text", "timestamp", "json", "array"));
    json_object_set_new(
        schemas, "Page",
        json_pack(
            "{s:s,s:[s,s,s,s,s,s,s],s:{s:{s:s},s:{s:s},s:{s:s,s:o},"
            "s:{s:s,s:{s:s,s:b},s:s},s:{s:s},s:{s:s},"
            "s:{s:s,s:b,s:s}}}",
            "type", "object", "required", "query", "title", "columns", "rows",
            "limit", "offset", "next", "properties", "query", "type", "string",
            "title", "type", "string", "columns", "type", "array", "items",
            ref("schemas/Column"), "rows", "type", "array", "items", "type",
            "object", "additionalProperties", true, "description",
            "one object per row, keyed by column name; values typed as the "
            "columns say (timestamps as ISO 8601 text, SQL NULL as null)",
            "limit", "type", "integer", "offset", "type", "integer", "next",
            "type", "string", "nullable", true, "description",
            "path and query of the next page, or null on the last page"));
    json_object_set_new(
        schemas, "Catalog",
        json_pack("{s:s,s:[s],s:{s:{s:s,s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s},"
                  "s:{s:s},s:{s:s,s:{s:s,s:{s:{s:s},s:{s:s,s:[s,s,s,s]},"
                  "s:{s:s},s:{s:s}}}}}}}}}",
                  "type", "object", "required", "queries", "properties",
                  "queries", "type", "array", "items", "type", "object",
                  "properties", "name", "type", "string", "title", "type",
                  "string", "help", "type", "string", "path", "type", "string",
                  "params", "type", "array", "items", "type", "object",
                  "properties", "name", "type", "string", "type", "type",
                  "string", "enum", "text", "integer", "date", "boolean",
                  "required", "type", "boolean", "help", "type", "string"));
    json_object_set_new(
        schemas, "Health",
        json_pack("{s:s,s:[s,s],s:{s:{s:s,s:[s,s]},s:{s:s},s:{s:s},"
                  "s:{s:s}}}",
                  "type", "object", "required", "status", "database",
                  "properties", "status", "type", "string", "enum", "ok",
                  "unavailable", "database", "type", "string", "schema_version",
                  "type", "integer", "message", "type", "string"));
    json_t *parameters = json_pack(
        "{s:{s:s,s:s,s:b,s:s,s:{s:s,s:i,s:i,s:i}},"
        "s:{s:s,s:s,s:b,s:s,s:{s:s,s:i,s:i,s:i}}}",
        "limit", "name", "limit", "in", "query", "required", false,
        "description",
        "rows per page (at most serve.page_size_max, by default 10000)",
        "schema", "type", "integer", "minimum", 1, "maximum", APICAT_LIMIT_MAX,
        "default", APICAT_LIMIT_DEFAULT, "offset", "name", "offset", "in",
        "query", "required", false, "description", "rows to skip", "schema",
        "type", "integer", "minimum", 0, "maximum", APICAT_OFFSET_MAX,
        "default", 0);
    json_t *responses = json_pack(
        "{s:o,s:o,s:o}", "BadRequest",
        json_response("bad arguments (unknown, repeated, missing or "
                      "mistyped)",
                      "schemas/Error"),
        "NotFound", json_response("no such query or path", "schemas/Error"),
        "Unavailable",
        json_response("the database is unavailable, too busy or too slow",
                      "schemas/Error"));
    return json_pack("{s:o,s:o,s:o}", "schemas", schemas, "parameters",
                     parameters, "responses", responses);
}

/* The OpenAPI document as indented JSON text. */
char *srv_openapi(void)
{
    json_t *paths = json_object();
    json_object_set_new(
        paths, "/api/v1/",
        json_pack("{s:{s:[s],s:s,s:s,s:{s:o}}}", "get", "tags", "queries",
                  "operationId", "list_queries", "summary",
                  "the query catalog: every query, its title, help and "
                  "parameters",
                  "responses", "200",
                  json_response("the catalog", "schemas/Catalog")));
    for (size_t i = 0; i < apicat_count(); i++) {
        const struct apicat_entry *e = apicat_at(i);
        char *p = xasprintf("/api/v1/%s", e->name);
        json_object_set_new(paths, p, query_path(e));
        free(p);
    }
    json_object_set_new(
        paths, "/healthz",
        json_pack(
            "{s:{s:[s],s:s,s:s,s:{s:o,s:o}}}", "get", "tags", "operations",
            "operationId", "healthz", "summary",
            "the database answers; the schema version", "responses", "200",
            json_response("healthy", "schemas/Health"), "503",
            json_response("the database is unavailable", "schemas/Health")));
    json_object_set_new(
        paths, "/metrics",
        json_pack("{s:{s:[s],s:s,s:s,s:{s:{s:s,s:{s:{s:{s:s}}}}}}}", "get",
                  "tags", "operations", "operationId", "metrics", "summary",
                  "Prometheus text format 0.0.4", "responses", "200",
                  "description", "the metrics", "content",
                  "text/plain; version=0.0.4", "schema", "type", "string"));
    json_t *doc = json_pack(
        "{s:s,s:{s:s,s:s,s:s},s:[{s:s}],s:o,s:o}", "openapi", "3.0.3", "info",
        "title", "xcensus API", "version", XC_VERSION, "description",
        "Read-only JSON API of xcensus, a census of the XMPP network: the "
        "named queries of its catalog, paginated. GET and HEAD only; errors "
        "are {\"error\":{\"status\":N,\"message\":\"...\"}}. See docs/API.md.",
        "servers", "url", "http://127.0.0.1:8080", "paths", paths, "components",
        components());
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    size_t n = strlen(text);
    text = xreallocarray(text, n + 2, 1);
    memcpy(text + n, "\n", 2);
    return text;
}

static void md_cell(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            buf_puts(b, "\\|");
        else if (*s == '\n')
            buf_putc(b, ' ');
        else
            buf_putc(b, *s);
    }
}

/* The Markdown list of queries for docs/API.md. */
char *srv_catalog_markdown(void)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "| path | title | parameters | what a row is |\n"
                 "|---|---|---|---|\n");
    for (size_t i = 0; i < apicat_count(); i++) {
        const struct apicat_entry *e = apicat_at(i);
        buf_printf(&b, "| `/api/v1/%s` | ", e->name);
        md_cell(&b, e->title);
        buf_puts(&b, " | ");
        for (size_t k = 0; k < e->nparams; k++) {
            const struct apicat_param *p = &e->params[k];
            buf_printf(&b, "%s`%s` (%s%s): ", k ? "<br>" : "", p->name,
                       apicat_type_name(p->type),
                       p->required ? ", required" : "");
            md_cell(&b, p->help ? p->help : "");
        }
        if (e->nparams == 0)
            buf_puts(&b, "none");
        buf_puts(&b, " | ");
        md_cell(&b, e->help);
        buf_puts(&b, " |\n");
    }
    return buf_steal(&b);
}
