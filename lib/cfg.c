/*
 * Table-driven YAML configuration loader. The YAML text is first turned
 * into a small bounded tree (from libyaml's event API, so that limits on
 * depth and node count apply while parsing, and aliases are refused before
 * they can expand), then the tree is walked against the program's table.
 * Defaults are YAML text in the table and go through the very same
 * conversion code, so a bad default is caught like a bad file.
 *
 * Not here: which keys a program has (its own table), reloading policy
 * beyond cfg_check_reload(), logging.
 */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "buf.h"
#include "xalloc.h"

#define CFG_STRING_MAX_DEFAULT 4096
#define CFG_MAXCOUNT_DEFAULT 64

static const char *const type_names[] = {
    [CFG_INT] = "int",
    [CFG_BOOL] = "bool",
    [CFG_STRING] = "string",
    [CFG_ENUM] = "enum",
    [CFG_DURATION] = "duration",
    [CFG_SIZE] = "size",
    [CFG_STRLIST] = "string list",
    [CFG_INTLIST] = "int list",
    [CFG_LIST] = "list of maps",
    [CFG_SECRET_ENV] = "secret env",
    [CFG_SECRET_FILE] = "secret file",
};
_Static_assert(ARRAY_LEN(type_names) == CFG__COUNT, "names table");

/* ------------------------------------------------------------------ */
/* Bounded YAML tree                                                   */

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

struct ynode {
    enum ynode_kind kind;
    int line; /* 1-based start mark */
    int col;
    char *text; /* YN_SCALAR: value (may contain NUL bytes), owned */
    size_t len;
    bool plain;          /* YN_SCALAR: unquoted */
    struct ynode **kids; /* YN_SEQ items; YN_MAP key, value, key, ... */
    size_t n;
    size_t cap;
};

struct ctx {
    const char *name;        /* file name for messages */
    struct cfg_errors *errs; /* where errors go */
    unsigned flags;          /* CFG_NO_SECRETS */
    const char *dir;         /* base for relative secret paths, or NULL */
    const char *data;        /* input text, for reader error positions */
    size_t len;
    size_t before; /* errors in errs when this load began */
};

/* Where the file set an option (line 0: not set). */
struct pos {
    int line;
    int col;
};

static void ynode_free(struct ynode *y)
{
    if (y == NULL)
        return;
    for (size_t i = 0; i < y->n; i++)
        ynode_free(y->kids[i]);
    free(y->kids);
    free(y->text);
    free(y);
}

static void ynode_add(struct ynode *parent, struct ynode *kid)
{
    if (parent->n == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 8;
        parent->kids =
            xreallocarray(parent->kids, parent->cap, sizeof(*parent->kids));
    }
    parent->kids[parent->n++] = kid;
}

static bool errs_full(const struct ctx *c)
{
    return c->errs->n >= CFG_MAX_ERRORS;
}

/* Records an error at line:col (0 = no position) about key (NULL = none). */
PRINTF_LIKE(5, 6)
static void err_at(struct ctx *c, int line, int col, const char *key,
                   const char *fmt, ...)
{
    if (errs_full(c)) {
        c->errs->dropped++;
        return;
    }
    struct buf b = BUF_INIT;
    buf_puts(&b, c->name);
    if (line > 0)
        buf_printf(&b, ":%d:%d", line, col);
    buf_puts(&b, ": ");
    if (key != NULL)
        buf_printf(&b, "key \"%s\": ", key);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    struct cfg_error *e = &c->errs->e[c->errs->n++];
    e->line = line;
    e->col = col;
    e->key = key ? xstrdup(key) : NULL;
    e->text = buf_steal(&b);
}

static void mark_of(const yaml_mark_t *m, int *line, int *col)
{
    *line = m->line < INT_MAX ? (int)m->line + 1 : INT_MAX;
    *col = m->column < INT_MAX ? (int)m->column + 1 : INT_MAX;
}

/* Position of byte offset off in the input (reader errors give offsets). */
static void offset_pos(const struct ctx *c, size_t off, int *line, int *col)
{
    int l = 1, k = 1;
    for (size_t i = 0; i < off && i < c->len; i++) {
        if (c->data[i] == '\n') {
            l++;
            k = 1;
        } else if (l < INT_MAX && k < INT_MAX) {
            k++;
        }
    }
    *line = l;
    *col = k;
}

static void parser_error(struct ctx *c, const yaml_parser_t *p)
{
    int line, col;
    const char *problem = p->problem ? p->problem : "unknown error";
    switch (p->error) {
    case YAML_READER_ERROR:
        offset_pos(c, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            err_at(c, line, col, NULL, "invalid YAML: %s (#%X)", problem,
                   (unsigned)p->problem_value);
        else
            err_at(c, line, col, NULL, "invalid YAML: %s", problem);
        break;
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
        mark_of(&p->problem_mark, &line, &col);
        if (p->context)
            err_at(c, line, col, NULL, "invalid YAML: %s (%s)", problem,
                   p->context);
        else
            err_at(c, line, col, NULL, "invalid YAML: %s", problem);
        break;
    default:
        err_at(c, 0, 0, NULL, "invalid YAML: %s", problem);
        break;
    }
}

/* Parses data into a tree. Returns true with *root set (NULL for an empty
 * document) or false with errors recorded. */
static bool tree_build(struct ctx *c, const char *data, size_t len,
                       struct ynode **root)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct ynode *stack[CFG_MAX_DEPTH + 1];
    size_t depth = 0, nodes = 0;
    int docs = 0;
    bool ok = true, done = false;

    *root = NULL;
    if (!yaml_parser_initialize(&p)) {
        err_at(c, 0, 0, NULL, "cannot initialize the YAML parser");
        return false;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    while (ok && !done) {
        if (!yaml_parser_parse(&p, &ev)) {
            parser_error(c, &p);
            ok = false;
            break;
        }
        int line, col;
        mark_of(&ev.start_mark, &line, &col);
        struct ynode *y = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                err_at(c, line, col, NULL, "only one YAML document is allowed");
                ok = false;
            }
            break;
        case YAML_ALIAS_EVENT:
            err_at(c, line, col, NULL,
                   "YAML aliases are not supported in configuration");
            ok = false;
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            const yaml_char_t *anchor = ev.type == YAML_SCALAR_EVENT
                                            ? ev.data.scalar.anchor
                                        : ev.type == YAML_SEQUENCE_START_EVENT
                                            ? ev.data.sequence_start.anchor
                                            : ev.data.mapping_start.anchor;
            const yaml_char_t *tag = ev.type == YAML_SCALAR_EVENT
                                         ? ev.data.scalar.tag
                                     : ev.type == YAML_SEQUENCE_START_EVENT
                                         ? ev.data.sequence_start.tag
                                         : ev.data.mapping_start.tag;
            if (anchor != NULL) {
                err_at(c, line, col, NULL,
                       "YAML anchors are not supported in configuration");
                ok = false;
                break;
            }
            if (tag != NULL) {
                err_at(c, line, col, NULL,
                       "YAML tags are not supported in configuration");
                ok = false;
                break;
            }
            if (++nodes > CFG_MAX_NODES) {
                err_at(c, line, col, NULL, "too many YAML nodes (limit %d)",
                       CFG_MAX_NODES);
                ok = false;
                break;
            }
            y = xcalloc(1, sizeof(*y));
            y->line = line;
            y->col = col;
            if (ev.type == YAML_SCALAR_EVENT) {
                y->kind = YN_SCALAR;
                y->len = ev.data.scalar.length;
                y->text = xmalloc(y->len + 1);
                memcpy(y->text, ev.data.scalar.value, y->len);
                y->text[y->len] = '\0';
                y->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            } else {
                y->kind =
                    ev.type == YAML_SEQUENCE_START_EVENT ? YN_SEQ : YN_MAP;
            }
            if (depth == 0) {
                ynode_free(*root);
                *root = y;
            } else {
                ynode_add(stack[depth - 1], y);
            }
            if (y->kind != YN_SCALAR) {
                if (depth >= CFG_MAX_DEPTH) {
                    err_at(c, line, col, NULL,
                           "YAML nested too deeply (limit %d levels)",
                           CFG_MAX_DEPTH);
                    ok = false;
                    break;
                }
                stack[depth++] = y;
            }
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (!ok) {
        ynode_free(*root);
        *root = NULL;
    }
    return ok;
}

/* ------------------------------------------------------------------ */
/* Scalar conversions                                                  */

static bool is_null(const struct ynode *y)
{
    if (y == NULL)
        return true;
    if (y->kind != YN_SCALAR || !y->plain)
        return false;
    return y->len == 0 || strcmp(y->text, "~") == 0 ||
           strcmp(y->text, "null") == 0 || strcmp(y->text, "Null") == 0 ||
           strcmp(y->text, "NULL") == 0;
}

static const char *kind_name(const struct ynode *y)
{
    if (is_null(y))
        return "nothing";
    switch (y->kind) {
    case YN_SEQ:
        return "a list";
    case YN_MAP:
        return "a mapping";
    default:
        return y->plain ? "a plain scalar" : "a quoted string";
    }
}

/* Parses an unsigned decimal prefix of s into *v; returns the rest or
 * NULL when there is no digit or on overflow. */
static const char *parse_digits(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return NULL;
        x = x * 10 + d;
        p++;
    }
    if (p == s)
        return NULL;
    *v = x;
    return p;
}

/* Decimal integer with optional sign. */
static bool parse_int(const char *s, int64_t *out)
{
    bool neg = false;
    uint64_t v;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    const char *rest = parse_digits(s, &v);
    if (rest == NULL || *rest != '\0')
        return false;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > INT64_MAX)
            return false;
        *out = (int64_t)v;
    }
    return true;
}

struct unit {
    const char *name;
    int64_t mult;
};

static const struct unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

static const struct unit size_units[] = {
    {"B", 1},
    {"k", 1024},
    {"K", 1024},
    {"KiB", 1024},
    {"M", 1024 * 1024},
    {"MiB", 1024 * 1024},
    {"G", INT64_C(1024) * 1024 * 1024},
    {"GiB", INT64_C(1024) * 1024 * 1024},
    {"T", INT64_C(1024) * 1024 * 1024 * 1024},
    {"TiB", INT64_C(1024) * 1024 * 1024 * 1024},
};

/* NUMBER[ ]UNIT or NUMBER (meaning units[def]); non-negative. */
static bool parse_with_unit(const char *s, const struct unit *units,
                            size_t nunits, int64_t plain_mult, int64_t *out)
{
    uint64_t v;
    const char *rest = parse_digits(s, &v);
    if (rest == NULL || v > INT64_MAX)
        return false;
    int64_t mult = plain_mult;
    if (*rest == ' ')
        rest++;
    if (*rest != '\0') {
        size_t i;
        for (i = 0; i < nunits; i++)
            if (strcmp(rest, units[i].name) == 0)
                break;
        if (i == nunits)
            return false;
        mult = units[i].mult;
    }
    if ((int64_t)v > INT64_MAX / mult)
        return false;
    *out = (int64_t)v * mult;
    return true;
}

static void format_with_unit(int64_t v, const struct unit *units, size_t nunits,
                             struct buf *b)
{
    /* largest unit that divides exactly; units listed smallest first,
     * aliases of one multiplier listed with the preferred name last */
    const struct unit *best = &units[0];
    for (size_t i = 0; i < nunits; i++)
        if (v != 0 && v % units[i].mult == 0 && units[i].mult >= best->mult)
            best = &units[i];
    if (v == 0 && units == size_units) {
        buf_puts(b, "0");
        return;
    }
    buf_printf(b, "%" PRId64 "%s", v / best->mult, best->name);
}

static void format_duration(int64_t ms, struct buf *b)
{
    if (ms == 0) {
        buf_puts(b, "0s");
        return;
    }
    format_with_unit(ms, duration_units, ARRAY_LEN(duration_units), b);
}

static void format_size(int64_t v, struct buf *b)
{
    format_with_unit(v, size_units, ARRAY_LEN(size_units), b);
}

static void format_range_value(enum cfg_type t, int64_t v, struct buf *b)
{
    if (t == CFG_DURATION)
        format_duration(v, b);
    else if (t == CFG_SIZE)
        format_size(v, b);
    else
        buf_printf(b, "%" PRId64, v);
}

static void check_range(struct ctx *c, const struct cfg_option *o,
                        const struct ynode *y, const char *key, int64_t v,
                        bool *ok)
{
    int64_t max = o->max ? o->max : INT64_MAX;
    if (v >= o->min && v <= max)
        return;
    struct buf lo = BUF_INIT, hi = BUF_INIT, val = BUF_INIT;
    format_range_value(o->type, v, &val);
    format_range_value(o->type, o->min, &lo);
    if (o->max)
        format_range_value(o->type, o->max, &hi);
    err_at(c, y->line, y->col, key, "value %s is out of range (%s..%s)",
           buf_str(&val), buf_str(&lo), o->max ? buf_str(&hi) : "");
    buf_free(&lo);
    buf_free(&hi);
    buf_free(&val);
    *ok = false;
}

static void *field(void *base, const struct cfg_option *o)
{
    return (char *)base + o->off;
}

static const void *cfield(const void *base, const struct cfg_option *o)
{
    return (const char *)base + o->off;
}

static bool need_scalar(struct ctx *c, const struct ynode *y, const char *key,
                        const char *what)
{
    if (y->kind == YN_SCALAR && !is_null(y))
        return true;
    err_at(c, y->line, y->col, key, "expected %s, got %s", what, kind_name(y));
    return false;
}

static bool has_nul(const struct ynode *y)
{
    return strlen(y->text) != y->len;
}

/* Checks a string scalar against the option's length bounds. */
static bool check_string(struct ctx *c, const struct cfg_option *o,
                         const struct ynode *y, const char *key)
{
    int64_t max = o->max ? o->max : CFG_STRING_MAX_DEFAULT;
    if (has_nul(y)) {
        err_at(c, y->line, y->col, key, "value must not contain NUL bytes");
        return false;
    }
    if ((int64_t)y->len < o->min) {
        if (y->len == 0)
            err_at(c, y->line, y->col, key, "value must not be empty");
        else
            err_at(c, y->line, y->col, key,
                   "value is too short (%zu bytes, at least %" PRId64 ")",
                   y->len, o->min);
        return false;
    }
    if ((int64_t)y->len > max) {
        err_at(c, y->line, y->col, key,
               "value is too long (%zu bytes, at most %" PRId64 ")", y->len,
               max);
        return false;
    }
    return true;
}

static bool scalar_int(struct ctx *c, const struct cfg_option *o,
                       const struct ynode *y, const char *key, int64_t *out)
{
    if (!need_scalar(c, y, key, "an integer"))
        return false;
    if (!y->plain) {
        err_at(c, y->line, y->col, key,
               "expected an integer, got a quoted string");
        return false;
    }
    if (!parse_int(y->text, out)) {
        err_at(c, y->line, y->col, key, "expected an integer, got \"%.40s\"",
               y->text);
        return false;
    }
    bool ok = true;
    check_range(c, o, y, key, *out, &ok);
    return ok;
}

static void strlist_free(struct cfg_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void secret_wipe(struct cfg_secret *s)
{
    free(s->env);
    free(s->file);
    if (s->value) {
        explicit_bzero(s->value, strlen(s->value));
        free(s->value);
    }
    memset(s, 0, sizeof(*s));
}

static bool valid_env_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static void walk_map(struct ctx *c, const struct cfg_table *t, void *base,
                     const struct ynode *map, const char *prefix,
                     const char *dprefix, struct pos *set);
static void finish_table(struct ctx *c, const struct cfg_table *t, void *base,
                         const struct pos *set, const char *dprefix, int line,
                         int col);
static bool apply_defaults(struct ctx *c, const struct cfg_table *t,
                           void *base);

/* Converts node y (NULL = null) into option o's field of base. Returns
 * false after recording an error; the field then keeps its old value. */
static bool convert(struct ctx *c, const struct cfg_option *o, void *base,
                    const struct ynode *y, const char *key)
{
    static const struct ynode null_node = {.kind = YN_SCALAR,
                                           .line = 1,
                                           .col = 1,
                                           .text = (char *)"",
                                           .plain = true};
    if (y == NULL)
        y = &null_node;
    void *f = field(base, o);
    switch (o->type) {
    case CFG_INT: {
        int64_t v;
        if (!scalar_int(c, o, y, key, &v))
            return false;
        *(int64_t *)f = v;
        return true;
    }
    case CFG_BOOL: {
        if (!need_scalar(c, y, key, "true or false"))
            return false;
        if (!y->plain) {
            err_at(c, y->line, y->col, key,
                   "expected true or false, got a quoted string");
            return false;
        }
        static const char *const t[] = {"true", "True", "TRUE"};
        static const char *const fl[] = {"false", "False", "FALSE"};
        for (size_t i = 0; i < ARRAY_LEN(t); i++) {
            if (strcmp(y->text, t[i]) == 0) {
                *(bool *)f = true;
                return true;
            }
            if (strcmp(y->text, fl[i]) == 0) {
                *(bool *)f = false;
                return true;
            }
        }
        err_at(c, y->line, y->col, key, "expected true or false, got \"%.40s\"",
               y->text);
        return false;
    }
    case CFG_STRING: {
        char **p = f;
        if (is_null(y)) {
            if (o->min > 0) {
                err_at(c, y->line, y->col, key, "value must not be empty");
                return false;
            }
            free(*p);
            *p = NULL;
            return true;
        }
        if (y->kind != YN_SCALAR) {
            err_at(c, y->line, y->col, key, "expected a string, got %s",
                   kind_name(y));
            return false;
        }
        if (!check_string(c, o, y, key))
            return false;
        free(*p);
        *p = y->len ? xstrndup(y->text, y->len) : NULL;
        return true;
    }
    case CFG_ENUM: {
        if (!need_scalar(c, y, key, "a word"))
            return false;
        for (int i = 0; o->words[i] != NULL; i++) {
            if (strcmp(y->text, o->words[i]) == 0 && !has_nul(y)) {
                *(int *)f = i;
                return true;
            }
        }
        struct buf w = BUF_INIT;
        for (int i = 0; o->words[i] != NULL; i++)
            buf_printf(&w, "%s%s", i ? ", " : "", o->words[i]);
        err_at(c, y->line, y->col, key,
               "unrecognized value \"%.40s\" (expected one of: %s)", y->text,
               buf_str(&w));
        buf_free(&w);
        return false;
    }
    case CFG_DURATION:
    case CFG_SIZE: {
        bool dur = o->type == CFG_DURATION;
        if (!need_scalar(c, y, key, dur ? "a duration" : "a size"))
            return false;
        int64_t v;
        bool parsed =
            !has_nul(y) &&
            (dur ? parse_with_unit(y->text, duration_units,
                                   ARRAY_LEN(duration_units), 1000, &v)
                 : parse_with_unit(y->text, size_units, ARRAY_LEN(size_units),
                                   1, &v));
        if (!parsed) {
            err_at(c, y->line, y->col, key,
                   dur ? "expected a duration such as 250ms, 30s, 5m, 1h or "
                         "2d, got \"%.40s\""
                       : "expected a size such as 4096, 64KiB, 16MiB or "
                         "1GiB, got \"%.40s\"",
                   y->text);
            return false;
        }
        bool ok = true;
        check_range(c, o, y, key, v, &ok);
        if (ok)
            *(int64_t *)f = v;
        return ok;
    }
    case CFG_STRLIST:
    case CFG_INTLIST: {
        size_t maxcount = o->maxcount ? o->maxcount : CFG_MAXCOUNT_DEFAULT;
        if (!is_null(y) && y->kind != YN_SEQ) {
            err_at(c, y->line, y->col, key, "expected a list, got %s",
                   kind_name(y));
            return false;
        }
        size_t n = is_null(y) ? 0 : y->n;
        if (n > maxcount) {
            err_at(c, y->line, y->col, key, "too many items (%zu, at most %zu)",
                   n, maxcount);
            return false;
        }
        bool ok = true;
        if (o->type == CFG_STRLIST) {
            struct cfg_strlist nl = {xcalloc(n ? n : 1, sizeof(char *)), 0};
            for (size_t i = 0; i < n; i++) {
                const struct ynode *it = y->kids[i];
                if (!need_scalar(c, it, key, "a string") ||
                    !check_string(c, o, it, key)) {
                    ok = false;
                    continue;
                }
                nl.v[nl.n++] = xstrndup(it->text, it->len);
            }
            if (ok) {
                strlist_free(f);
                *(struct cfg_strlist *)f = nl;
            } else {
                strlist_free(&nl);
            }
        } else {
            struct cfg_intlist nl = {xcalloc(n ? n : 1, sizeof(int64_t)), 0};
            for (size_t i = 0; i < n; i++) {
                int64_t v;
                if (scalar_int(c, o, y->kids[i], key, &v))
                    nl.v[nl.n++] = v;
                else
                    ok = false;
            }
            struct cfg_intlist *old = f;
            if (ok) {
                free(old->v);
                *old = nl;
            } else {
                free(nl.v);
            }
        }
        return ok;
    }
    case CFG_LIST: {
        size_t maxcount = o->maxcount ? o->maxcount : CFG_MAXCOUNT_DEFAULT;
        const struct cfg_table *sub = o->sub;
        struct cfg_list *l = f;
        if (!is_null(y) && y->kind != YN_SEQ) {
            err_at(c, y->line, y->col, key, "expected a list, got %s",
                   kind_name(y));
            return false;
        }
        size_t n = is_null(y) ? 0 : y->n;
        if (n > maxcount) {
            err_at(c, y->line, y->col, key, "too many items (%zu, at most %zu)",
                   n, maxcount);
            return false;
        }
        size_t before = c->errs->n + c->errs->dropped;
        char *items = xcalloc(n ? n : 1, sub->size);
        for (size_t i = 0; i < n; i++) {
            const struct ynode *it = y->kids[i];
            void *ib = items + i * sub->size;
            char *dk = xasprintf("%s[%zu]", key, i);
            char *lk = xasprintf("%s.", dk);
            if (!apply_defaults(c, sub, ib)) {
                /* bug in the sub-table, reported already */
            } else if (it->kind != YN_MAP) {
                err_at(c, it->line, it->col, dk, "expected a mapping, got %s",
                       kind_name(it));
            } else {
                struct pos *set = xcalloc(sub->n ? sub->n : 1, sizeof(*set));
                walk_map(c, sub, ib, it, "", lk, set);
                finish_table(c, sub, ib, set, lk, it->line, it->col);
                free(set);
            }
            free(dk);
            free(lk);
        }
        bool ok = c->errs->n + c->errs->dropped == before;
        struct cfg_list nl = {items, n};
        struct cfg_list *drop = ok ? l : &nl;
        for (size_t i = 0; i < drop->n; i++)
            cfg_free(sub, (char *)drop->items + i * sub->size);
        free(drop->items);
        if (ok)
            *l = nl;
        return ok;
    }
    case CFG_SECRET_ENV:
    case CFG_SECRET_FILE: {
        bool env = o->type == CFG_SECRET_ENV;
        struct cfg_secret *s = f;
        char **p = env ? &s->env : &s->file;
        if (is_null(y) || (y->kind == YN_SCALAR && y->len == 0)) {
            free(*p);
            *p = NULL;
            return true;
        }
        if (y->kind != YN_SCALAR) {
            err_at(c, y->line, y->col, key, "expected a string, got %s",
                   kind_name(y));
            return false;
        }
        if (has_nul(y) || y->len > 4096 || (env && !valid_env_name(y->text))) {
            err_at(c, y->line, y->col, key,
                   env ? "invalid environment variable name \"%.40s\""
                       : "invalid file name \"%.40s\"",
                   y->text);
            return false;
        }
        free(*p);
        *p = xstrndup(y->text, y->len);
        s->line = y->line;
        s->col = y->col;
        return true;
    }
    case CFG__COUNT:
        break;
    }
    DIE_BUG("bad option type %d", (int)o->type);
}

/* ------------------------------------------------------------------ */
/* Walking the document                                                */

/* The key with the leading prefix: "crawl." + "lease". */
static char *join(const char *prefix, const char *key)
{
    return xasprintf("%s%s", prefix, key);
}

/* Whether some key of t lies below section (a prefix ending before '.'). */
static bool is_section(const struct cfg_table *t, const char *section)
{
    size_t n = strlen(section);
    for (size_t i = 0; i < t->n; i++)
        if (strncmp(t->opts[i].key, section, n) == 0 &&
            t->opts[i].key[n] == '.')
            return true;
    return false;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = XC_MIN(sub, XC_MIN(del, ins));
        }
        memcpy(prev, cur, sizeof(prev));
    }
    return prev[lb];
}

/* The closest known word at this level (a key or a section name below
 * prefix) to word, or NULL when nothing is close. Returns a new string. */
static char *suggest(const struct cfg_table *t, const char *prefix,
                     const char *word)
{
    size_t pl = strlen(prefix), best = SIZE_MAX;
    char *found = NULL;
    for (size_t i = 0; i < t->n; i++) {
        const char *k = t->opts[i].key;
        if (strncmp(k, prefix, pl) != 0)
            continue;
        k += pl;
        size_t wl = strcspn(k, ".");
        char cand[65];
        if (wl >= sizeof(cand))
            continue;
        memcpy(cand, k, wl);
        cand[wl] = '\0';
        size_t d = edit_distance(word, cand);
        size_t limit = strlen(cand) >= 4 ? 2 : 1;
        if (d <= limit && d < best) {
            best = d;
            free(found);
            found = xstrdup(cand);
        }
    }
    return found;
}

/* Walks one mapping of the document against table t. prefix is the
 * lookup prefix within t ("crawl."), dprefix the prefix shown in
 * messages ("accounts[0]." for list items). set[i] records where each
 * option was given. */
static void walk_map(struct ctx *c, const struct cfg_table *t, void *base,
                     const struct ynode *map, const char *prefix,
                     const char *dprefix, struct pos *set)
{
    /* known keys already seen in this mapping, for duplicate detection;
     * unknown keys are errors anyway, so this stays small */
    const char **seen = xcalloc(map->n / 2 + 1, sizeof(char *));
    size_t nseen = 0;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct ynode *k = map->kids[i], *v = map->kids[i + 1];
        if (k->kind != YN_SCALAR || is_null(k) || has_nul(k)) {
            err_at(c, k->line, k->col, NULL,
                   "mapping keys must be words, got %s", kind_name(k));
            continue;
        }
        char *lkey = join(prefix, k->text);
        char *dkey = join(dprefix, k->text);
        const struct cfg_option *o = cfg_find(t, lkey);
        bool section = o == NULL && strchr(k->text, '.') == NULL &&
                       strchr(k->text, '[') == NULL && is_section(t, lkey);
        if (o != NULL && strchr(k->text, '.') != NULL)
            o = NULL; /* "crawl.lease:" flat: not the nested form */
        if (o != NULL || section) {
            bool dup = false;
            for (size_t j = 0; j < nseen && !dup; j++)
                dup = strcmp(seen[j], k->text) == 0;
            if (dup) {
                err_at(c, k->line, k->col, dkey,
                       "duplicate key (already given above)");
                goto next;
            }
            seen[nseen++] = k->text;
        }
        if (o != NULL) {
            set[o - t->opts] = (struct pos){v->line, v->col};
            convert(c, o, base, v, dkey);
        } else if (section) {
            if (is_null(v))
                goto next;
            if (v->kind != YN_MAP) {
                err_at(c, v->line, v->col, dkey,
                       "expected a mapping (section), got %s", kind_name(v));
                goto next;
            }
            char *lp = join(lkey, ".");
            char *dp = join(dkey, ".");
            walk_map(c, t, base, v, lp, dp, set);
            free(lp);
            free(dp);
        } else if (errs_full(c)) {
            c->errs->dropped++;
        } else {
            char *env = join(lkey, "_env");
            const struct cfg_option *so = cfg_find(t, env);
            if (so != NULL && so->type == CFG_SECRET_ENV) {
                err_at(c, k->line, k->col, dkey,
                       "secrets are not read from the configuration file; "
                       "use %s_env (an environment variable) or %s_file "
                       "(a file)",
                       k->text, k->text);
            } else if (strchr(k->text, '.') != NULL) {
                err_at(c, k->line, k->col, dkey,
                       "unrecognized key (write nested mappings, not dotted "
                       "keys)");
            } else {
                char *s = suggest(t, prefix, k->text);
                if (s)
                    err_at(c, k->line, k->col, dkey,
                           "unrecognized key; did you mean \"%s\"?", s);
                else
                    err_at(c, k->line, k->col, dkey, "unrecognized key");
                free(s);
            }
            free(env);
        }
    next:
        free(lkey);
        free(dkey);
    }
    free(seen);
}

/* Reads the first line of a secret file into a new string, or records an
 * error at the key that named it. */
static char *read_secret_file(struct ctx *c, const struct cfg_secret *s,
                              const char *key)
{
    char *path = (s->file[0] != '/' && c->dir != NULL)
                     ? xasprintf("%s/%s", c->dir, s->file)
                     : xstrdup(s->file);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    char *val = NULL;
    struct stat st;
    if (fd < 0) {
        err_at(c, s->line, s->col, key, "cannot read secret file \"%s\": %s",
               s->file, strerror(errno));
    } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err_at(c, s->line, s->col, key,
               "secret file \"%s\" is not a regular file", s->file);
    } else {
        char buf[CFG_MAX_SECRET_BYTES + 1];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof(buf) &&
               (r = read(fd, buf + got, sizeof(buf) - got)) > 0)
            got += (size_t)r;
        size_t n = 0;
        while (n < got && buf[n] != '\n')
            n++;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
        if (n > CFG_MAX_SECRET_BYTES)
            err_at(c, s->line, s->col, key,
                   "first line of secret file \"%s\" is too long (limit %d "
                   "bytes)",
                   s->file, CFG_MAX_SECRET_BYTES);
        else if (n == 0)
            err_at(c, s->line, s->col, key,
                   "first line of secret file \"%s\" is empty", s->file);
        else if (memchr(buf, '\0', n) != NULL)
            err_at(c, s->line, s->col, key,
                   "secret file \"%s\" contains a NUL byte", s->file);
        else
            val = xstrndup(buf, n);
        explicit_bzero(buf, sizeof(buf));
    }
    if (fd >= 0)
        close(fd);
    free(path);
    return val;
}

/* The last dotted component of key ("password_env" of "db.password_env"). */
static const char *last_part(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

/* After a table instance is walked: required keys, secret pairs. */
struct report_ctx {
    struct ctx *c;
    const struct cfg_table *t;
    const struct pos *set;
    const char *dprefix;
};

static void report(void *rctx, const char *key, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

/* cfg_report_cb of finish_table(): the error goes where key was set. */
static void report(void *rctx, const char *key, const char *fmt, ...)
{
    struct report_ctx *r = rctx;
    const struct cfg_option *o = cfg_find(r->t, key);
    ASSERT(o != NULL);
    struct pos p = r->set[o - r->t->opts];
    char *dkey = join(r->dprefix, key);
    struct buf msg = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    err_at(r->c, p.line, p.col, dkey, "%s", buf_str(&msg));
    buf_free(&msg);
    free(dkey);
}

static void finish_table(struct ctx *c, const struct cfg_table *t, void *base,
                         const struct pos *set, const char *dprefix, int line,
                         int col)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct cfg_option *o = &t->opts[i];
        char *dkey = join(dprefix, o->key);
        if (o->type == CFG_SECRET_ENV || o->type == CFG_SECRET_FILE) {
            /* the pair is handled once, on its _env row */
            struct cfg_secret *s = field(base, o);
            if (o->type == CFG_SECRET_ENV) {
                size_t kl = strlen(o->key);
                char *stem = xstrndup(o->key, kl > 4 ? kl - 4 : kl);
                char *fk = join(stem, "_file");
                const struct cfg_option *fo = cfg_find(t, fk);
                bool required = o->required || (fo && fo->required);
                char *dfk = join(dprefix, fk);
                if (s->env && s->file) {
                    err_at(c, s->line, s->col, dfk,
                           "give only one of %s and %s", last_part(o->key),
                           last_part(fk));
                } else if (!s->env && !s->file && required) {
                    err_at(c, line, col, dkey,
                           "a secret is required: set %s or %s",
                           last_part(o->key), last_part(fk));
                } else if (!(c->flags & CFG_NO_SECRETS) && s->env) {
                    const char *v = getenv(s->env);
                    if (v == NULL)
                        err_at(c, s->line, s->col, dkey,
                               "environment variable \"%s\" is not set",
                               s->env);
                    else if (*v == '\0')
                        err_at(c, s->line, s->col, dkey,
                               "environment variable \"%s\" is empty", s->env);
                    else if (strlen(v) > CFG_MAX_SECRET_BYTES)
                        err_at(c, s->line, s->col, dkey,
                               "environment variable \"%s\" is too long",
                               s->env);
                    else
                        s->value = xstrdup(v);
                } else if (!(c->flags & CFG_NO_SECRETS) && s->file) {
                    s->value = read_secret_file(c, s, dfk);
                }
                free(stem);
                free(fk);
                free(dfk);
            }
        } else if (o->required && set[i].line == 0) {
            err_at(c, line, col, dkey, "required key is missing");
        }
        free(dkey);
    }
    if (t->check != NULL && c->errs->n + c->errs->dropped == c->before) {
        struct report_ctx r = {c, t, set, dprefix};
        t->check(base, report, &r);
    }
}

/* Applies every default of t to base; false after recording an error. */
static bool apply_defaults(struct ctx *c, const struct cfg_table *t, void *base)
{
    size_t before = c->errs->n + c->errs->dropped;
    for (size_t i = 0; i < t->n; i++) {
        const struct cfg_option *o = &t->opts[i];
        if (o->def == NULL)
            continue;
        struct ctx dc = *c;
        dc.name = "(default)";
        dc.data = o->def;
        dc.len = strlen(o->def);
        struct ynode *root;
        if (tree_build(&dc, o->def, strlen(o->def), &root)) {
            convert(&dc, o, base, root, o->key);
            ynode_free(root);
        }
    }
    return c->errs->n + c->errs->dropped == before;
}

/* ------------------------------------------------------------------ */
/* Public entry points                                                 */

/* Frees the error texts; errs itself stays the caller's. */
void cfg_errors_free(struct cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++) {
        free(errs->e[i].key);
        free(errs->e[i].text);
    }
    memset(errs, 0, sizeof(*errs));
}

/* One line per error, then how many were not kept. */
void cfg_errors_print(const struct cfg_errors *errs, FILE *f)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(f, "%s\n", errs->e[i].text);
    if (errs->dropped)
        fprintf(f, "(%zu more errors not shown)\n", errs->dropped);
}

/* Linear search: tables are small and loads are rare. */
const struct cfg_option *cfg_find(const struct cfg_table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->opts[i].key, key) == 0)
            return &t->opts[i];
    return NULL;
}

/* Name of a type for users. */
const char *cfg_type_name(enum cfg_type type)
{
    return (unsigned)type < CFG__COUNT ? type_names[type] : "?";
}

/* Defaults only; a default that does not parse is reported, not fatal. */
bool cfg_defaults(const struct cfg_table *t, void *base,
                  struct cfg_errors *errs)
{
    struct ctx c = {.name = "(default)", .errs = errs};
    memset(base, 0, t->size);
    if (!apply_defaults(&c, t, base)) {
        cfg_free(t, base);
        return false;
    }
    return true;
}

static bool load(const struct cfg_table *t, void *base, const char *name,
                 const char *data, size_t len, unsigned flags, const char *dir,
                 struct cfg_errors *errs)
{
    struct ctx c = {.name = name,
                    .errs = errs,
                    .flags = flags,
                    .dir = dir,
                    .data = data,
                    .len = len,
                    .before = errs->n + errs->dropped};
    size_t before = c.before;
    memset(base, 0, t->size);
    if (len > CFG_MAX_FILE_BYTES) {
        err_at(&c, 0, 0, NULL, "file is too large (%zu bytes, limit %d)", len,
               CFG_MAX_FILE_BYTES);
        return false;
    }
    if (!apply_defaults(&c, t, base)) {
        cfg_free(t, base);
        return false;
    }
    struct ynode *root = NULL;
    if (!tree_build(&c, data, len, &root)) {
        cfg_free(t, base);
        return false;
    }
    struct pos *set = xcalloc(t->n ? t->n : 1, sizeof(*set));
    int line = 1, col = 1;
    if (root != NULL && !is_null(root)) {
        line = root->line;
        col = root->col;
        if (root->kind != YN_MAP)
            err_at(&c, root->line, root->col, NULL,
                   "the top level must be a mapping of sections, got %s",
                   kind_name(root));
        else
            walk_map(&c, t, base, root, "", "", set);
    }
    if (errs->n + errs->dropped == before)
        finish_table(&c, t, base, set, "", line, col);
    free(set);
    ynode_free(root);
    if (errs->n + errs->dropped != before) {
        cfg_free(t, base);
        return false;
    }
    return true;
}

/* Loads from memory; relative secret paths are relative to the cwd. */
bool cfg_load_buffer(const struct cfg_table *t, void *base, const char *name,
                     const char *data, size_t len, unsigned flags,
                     struct cfg_errors *errs)
{
    return load(t, base, name, data, len, flags, NULL, errs);
}

/* Loads a file of at most CFG_MAX_FILE_BYTES; relative secret paths are
 * relative to its directory. */
bool cfg_load_file(const struct cfg_table *t, void *base, const char *path,
                   unsigned flags, struct cfg_errors *errs)
{
    struct ctx c = {.name = path, .errs = errs};
    memset(base, 0, t->size);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        err_at(&c, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err_at(&c, 0, 0, NULL, "not a regular file");
        close(fd);
        return false;
    }
    /* read one byte past the limit so that a file that grew is caught */
    size_t cap = CFG_MAX_FILE_BYTES + 1, len = 0;
    char *data = xmalloc(cap);
    ssize_t r = 0;
    while (len < cap && (r = read(fd, data + len, cap - len)) > 0)
        len += (size_t)r;
    if (len < cap && r < 0) {
        err_at(&c, 0, 0, NULL, "cannot read: %s", strerror(errno));
        free(data);
        close(fd);
        return false;
    }
    close(fd);
    if (len >= cap)
        len = (size_t)st.st_size > len ? (size_t)st.st_size : len;
    char *dir = NULL;
    const char *slash = strrchr(path, '/');
    if (slash != NULL)
        dir = xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
    bool ok = load(t, base, path, data, len, flags, dir, errs);
    free(dir);
    free(data);
    return ok;
}

/* Frees what the table's rows own in base; secrets are wiped first. */
void cfg_free(const struct cfg_table *t, void *base)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct cfg_option *o = &t->opts[i];
        void *f = field(base, o);
        switch (o->type) {
        case CFG_STRING:
            free(*(char **)f);
            break;
        case CFG_STRLIST:
            strlist_free(f);
            break;
        case CFG_INTLIST:
            free(((struct cfg_intlist *)f)->v);
            break;
        case CFG_LIST: {
            struct cfg_list *l = f;
            for (size_t j = 0; j < l->n; j++)
                cfg_free(o->sub, (char *)l->items + j * o->sub->size);
            free(l->items);
            break;
        }
        case CFG_SECRET_ENV:
        case CFG_SECRET_FILE:
            secret_wipe(f);
            break;
        default:
            break;
        }
    }
    memset(base, 0, t->size);
}

/* ------------------------------------------------------------------ */
/* Output: values, YAML dump, key reference                             */

/* A double-quoted YAML scalar that loads back to the same bytes. Besides
 * the C0 controls and DEL, the YAML reader refuses the C1 controls
 * (U+0080..U+009F, which a "\x80" escape produces), U+FEFF and U+FFFE/F
 * written raw, and folds the line breaks U+0085, U+2028 and U+2029 into
 * spaces, so those become escapes too. Strings come from the YAML reader
 * and are valid UTF-8. */
static void quote(const char *s, struct buf *b)
{
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            buf_puts(b, "\\n");
        else if (*p == '\t')
            buf_puts(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            buf_printf(b, "\\x%02x", *p);
        else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            buf_printf(b, "\\x%02x", p[1]);
            p++;
        } else if (p[0] == 0xef && ((p[1] == 0xbb && p[2] == 0xbf) ||
                                    (p[1] == 0xbf && p[2] >= 0xbe))) {
            buf_printf(b, "\\u%04x",
                       ((p[1] & 0x3fu) << 6 | (p[2] & 0x3fu)) | 0xf000u);
            p += 2;
        } else if (p[0] == 0xe2 && p[1] == 0x80 &&
                   (p[2] == 0xa8 || p[2] == 0xa9)) {
            buf_printf(b, "\\u%04x", 0x2000u | (p[2] & 0x3fu));
            p += 2;
        } else
            buf_putc(b, (char)*p);
    }
    buf_putc(b, '"');
}

/* One value as YAML text; secrets as their source, never their value. */
void cfg_format_value(const struct cfg_option *o, const void *base,
                      struct buf *b)
{
    const void *f = cfield(base, o);
    switch (o->type) {
    case CFG_INT:
        buf_printf(b, "%" PRId64, *(const int64_t *)f);
        break;
    case CFG_BOOL:
        buf_puts(b, *(const bool *)f ? "true" : "false");
        break;
    case CFG_STRING:
        quote(*(char *const *)f, b);
        break;
    case CFG_ENUM:
        buf_puts(b, o->words[*(const int *)f]);
        break;
    case CFG_DURATION:
        format_duration(*(const int64_t *)f, b);
        break;
    case CFG_SIZE:
        format_size(*(const int64_t *)f, b);
        break;
    case CFG_STRLIST: {
        const struct cfg_strlist *l = f;
        buf_putc(b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i)
                buf_puts(b, ", ");
            quote(l->v[i], b);
        }
        buf_putc(b, ']');
        break;
    }
    case CFG_INTLIST: {
        const struct cfg_intlist *l = f;
        buf_putc(b, '[');
        for (size_t i = 0; i < l->n; i++)
            buf_printf(b, "%s%" PRId64, i ? ", " : "", l->v[i]);
        buf_putc(b, ']');
        break;
    }
    case CFG_LIST:
        buf_printf(b, "[%zu items]", ((const struct cfg_list *)f)->n);
        break;
    case CFG_SECRET_ENV:
        quote(((const struct cfg_secret *)f)->env, b);
        break;
    case CFG_SECRET_FILE:
        quote(((const struct cfg_secret *)f)->file, b);
        break;
    case CFG__COUNT:
        break;
    }
}

static void indent(struct buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_puts(b, "  ");
}

/* Number of leading dotted components two keys share. */
static size_t common_parts(const char *a, const char *b)
{
    size_t parts = 0;
    for (size_t i = 0;; i++) {
        if (a[i] == '.' && b[i] == '.')
            parts++;
        if (a[i] != b[i] || a[i] == '\0')
            return parts;
    }
}

static void dump_table(const struct cfg_table *t, const void *base,
                       size_t level, const char *first_prefix, struct buf *b)
{
    const char *prev = "";
    for (size_t i = 0; i < t->n; i++) {
        const struct cfg_option *o = &t->opts[i];
        size_t shared = common_parts(prev, o->key);
        /* open the sections this key needs beyond the shared ones */
        const char *p = o->key;
        size_t part = 0;
        while (strchr(p, '.') != NULL) {
            size_t wl = (size_t)(strchr(p, '.') - p);
            if (part >= shared) {
                if (first_prefix && i == 0 && part == 0)
                    buf_puts(b, first_prefix);
                else
                    indent(b, level + part);
                buf_printf(b, "%.*s:\n", (int)wl, p);
            }
            p += wl + 1;
            part++;
        }
        if (first_prefix && i == 0 && part == 0)
            buf_puts(b, first_prefix);
        else
            indent(b, level + part);
        buf_printf(b, "%s:", p);
        if (o->type == CFG_LIST) {
            const struct cfg_list *l = cfield(base, o);
            if (l->n == 0)
                buf_puts(b, " []\n");
            else
                buf_putc(b, '\n');
            for (size_t j = 0; j < l->n; j++) {
                indent(b, level + part + 1);
                dump_table(o->sub, (const char *)l->items + j * o->sub->size,
                           level + part + 2, "- ", b);
            }
        } else {
            buf_putc(b, ' ');
            cfg_format_value(o, base, b);
            if (o->type == CFG_SECRET_ENV || o->type == CFG_SECRET_FILE) {
                const struct cfg_secret *s = cfield(base, o);
                if (o->type == CFG_SECRET_ENV && s->env)
                    buf_printf(b, "  # secret (from env %s)", s->env);
                if (o->type == CFG_SECRET_FILE && s->file)
                    buf_printf(b, "  # secret (from file %s)", s->file);
            }
            buf_putc(b, '\n');
        }
        prev = o->key;
    }
}

/* The whole struct as a loadable YAML document. */
void cfg_dump_yaml(const struct cfg_table *t, const void *base, struct buf *b)
{
    dump_table(t, base, 0, NULL, b);
}

static void describe_range(const struct cfg_option *o, struct buf *b)
{
    switch (o->type) {
    case CFG_INT:
    case CFG_DURATION:
    case CFG_SIZE:
    case CFG_INTLIST:
        format_range_value(o->type, o->min, b);
        buf_puts(b, "..");
        if (o->max)
            format_range_value(o->type, o->max, b);
        break;
    case CFG_STRING:
        buf_printf(b, "length %" PRId64 "..%" PRId64, o->min,
                   o->max ? o->max : CFG_STRING_MAX_DEFAULT);
        break;
    case CFG_ENUM:
        for (int i = 0; o->words[i]; i++)
            buf_printf(b, "%s%s", i ? ", " : "one of: ", o->words[i]);
        break;
    case CFG_BOOL:
        buf_puts(b, "true or false");
        break;
    default:
        break;
    }
    if (o->type == CFG_STRLIST || o->type == CFG_INTLIST || o->type == CFG_LIST)
        buf_printf(b, "%sat most %zu items", b->len ? ", " : "",
                   o->maxcount ? o->maxcount : CFG_MAXCOUNT_DEFAULT);
}

static void describe_table(const struct cfg_table *t, const char *prefix,
                           bool md, struct buf *b)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct cfg_option *o = &t->opts[i];
        struct buf range = BUF_INIT;
        describe_range(o, &range);
        const char *def = o->def ? o->def : "";
        if (md) {
            buf_printf(b, "| `%s%s` | %s | %s%s%s | %s | %s | %s%s |\n", prefix,
                       o->key, cfg_type_name(o->type), *def ? "`" : "", def,
                       *def ? "`" : "", buf_str(&range),
                       o->reload ? "yes" : "no", o->help,
                       o->required ? " (required)" : "");
        } else {
            buf_printf(b, "%s%s (%s)%s\n", prefix, o->key,
                       cfg_type_name(o->type), o->required ? " required" : "");
            if (*def)
                buf_printf(b, "    default: %s\n", def);
            if (range.len)
                buf_printf(b, "    range: %s\n", buf_str(&range));
            buf_printf(b, "    reload: %s\n", o->reload ? "yes" : "no");
            buf_printf(b, "    %s\n", o->help);
        }
        buf_free(&range);
        if (o->type == CFG_LIST) {
            char *p = xasprintf("%s%s[].", prefix, o->key);
            describe_table(o->sub, p, md, b);
            free(p);
        }
    }
}

/* The key reference: plain text or a Markdown table. */
void cfg_describe(const struct cfg_table *t, bool markdown, struct buf *b)
{
    if (markdown)
        buf_puts(b, "| key | type | default | range | reload | description "
                    "|\n|---|---|---|---|---|---|\n");
    describe_table(t, "", markdown, b);
}

/* Compares the non-reloadable options of one table instance. */
static void check_reload(struct ctx *c, const struct cfg_table *t,
                         const void *old_base, const void *new_base,
                         const char *dprefix)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct cfg_option *o = &t->opts[i];
        char *dkey = join(dprefix, o->key);
        if (o->type == CFG_LIST) {
            /* items are compared key by key, so that a reloadable key of
             * an item (an account's send_rate) may change */
            const struct cfg_list *la = cfield(old_base, o),
                                  *lb = cfield(new_base, o);
            const struct cfg_table *sub = o->sub;
            if (la->n != lb->n && !o->reload)
                err_at(c, 0, 0, dkey,
                       "the number of items cannot be changed by a reload "
                       "(restart needed)");
            for (size_t j = 0; j < la->n && j < lb->n; j++) {
                char *ip = xasprintf("%s[%zu].", dkey, j);
                check_reload(c, sub, (const char *)la->items + j * sub->size,
                             (const char *)lb->items + j * sub->size, ip);
                free(ip);
            }
        } else if (!o->reload) {
            struct buf a = BUF_INIT, b = BUF_INIT;
            cfg_format_value(o, old_base, &a);
            cfg_format_value(o, new_base, &b);
            if (strcmp(buf_str(&a), buf_str(&b)) != 0)
                err_at(c, 0, 0, dkey,
                       "cannot be changed by a reload (restart needed)");
            buf_free(&a);
            buf_free(&b);
        }
        free(dkey);
    }
}

/* Which non-reloadable keys differ between two loads. */
bool cfg_check_reload(const struct cfg_table *t, const void *old_base,
                      const void *new_base, const char *name,
                      struct cfg_errors *errs)
{
    struct ctx c = {.name = name, .errs = errs};
    size_t before = errs->n + errs->dropped;
    check_reload(&c, t, old_base, new_base, "");
    return errs->n + errs->dropped == before;
}
