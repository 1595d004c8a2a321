/*
 * plan.json parsing with jansson into plain structs, and the behaviour
 * vocabulary. Every string is copied; JSON arrays of a profile are kept as
 * owned jansson references for content.c.
 */
#include "plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static const char *const bkind_names[] = {
    [POP_B_NORMAL] = "normal",
    [POP_B_POISON] = "poison",
    [POP_B_VARIANT] = "variant",
    [POP_B_LENIENT_DUPS] = "lenient-dups",
    [POP_B_NO_ANSWER] = "no-answer",
    [POP_B_ERROR_ANSWER] = "error-answer",
    [POP_B_SLOW_ANSWER] = "slow-answer",
    [POP_B_HUGE] = "huge",
    [POP_B_FLAP] = "flap",
    [POP_B_LEAVE_ON_QUERY] = "leave-on-query",
};
_Static_assert(ARRAY_LEN(bkind_names) == POP_B__COUNT, "names table");

const char *pop_bkind_name(enum pop_bkind k)
{
    return (unsigned)k < POP_B__COUNT ? bkind_names[k] : "?";
}

static void set_err(struct parse_err *err, const char *fmt, ...)
    PRINTF_LIKE(2, 3);
static void set_err(struct parse_err *err, const char *fmt, ...)
{
    va_list ap;
    err->code = 1;
    err->line = err->column = 0;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

static bool parse_uint(const char *s, unsigned long max, unsigned *out)
{
    char *end;
    unsigned long v;

    if (!*s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

bool pop_behaviour_parse(const char *s, struct pop_behaviour *out,
                         struct parse_err *err)
{
    const char *colon = strchr(s, ':');
    size_t klen = colon ? (size_t)(colon - s) : strlen(s);
    const char *arg = colon ? colon + 1 : NULL;

    memset(out, 0, sizeof *out);
    out->variant = CAPS_M_STRICT;
    for (size_t k = 0; k < POP_B__COUNT; k++) {
        if (strlen(bkind_names[k]) != klen ||
            memcmp(bkind_names[k], s, klen) != 0)
            continue;
        out->kind = (enum pop_bkind)k;
        switch (out->kind) {
        case POP_B_VARIANT:
            if (!arg || !caps_method_parse(arg, &out->variant) ||
                (out->variant != CAPS_M_ESCAPE_LT &&
                 out->variant != CAPS_M_ESCAPE_XML &&
                 out->variant != CAPS_M_FORMLESS_FORMS)) {
                set_err(err, "unrecognized variant in behaviour \"%s\"", s);
                return false;
            }
            return true;
        case POP_B_SLOW_ANSWER:
            if (!arg || !parse_uint(arg, 600000, &out->arg)) {
                set_err(err, "behaviour \"%s\" needs milliseconds (0..600000)",
                        s);
                return false;
            }
            return true;
        case POP_B_HUGE:
            if (!arg || !parse_uint(arg, 3000, &out->arg) || out->arg == 0) {
                set_err(err, "behaviour \"%s\" needs a count (1..3000)", s);
                return false;
            }
            return true;
        default:
            if (arg) {
                set_err(err, "behaviour \"%s\" takes no argument", s);
                return false;
            }
            return true;
        }
    }
    set_err(err, "unrecognized behaviour \"%s\"", s);
    return false;
}

bool pop_part_parse(const char *s, unsigned *i, unsigned *n)
{
    unsigned a, b;
    char tail;

    if (sscanf(s, "%u/%u%c", &a, &b, &tail) != 2)
        return false;
    if (a < 1 || b < 1 || a > b || b > 10000)
        return false;
    *i = a;
    *n = b;
    return true;
}

bool pop_in_part(const struct pop_plan *plan, size_t idx, unsigned i,
                 unsigned n)
{
    size_t len = plan->n_clients;

    if (idx >= len)
        return false;
    if (plan->clients[idx].part)
        return plan->clients[idx].part == i;
    return idx >= (size_t)(i - 1) * len / n && idx < (size_t)i * len / n;
}

const struct pop_create *pop_client_creates(const struct pop_client *cl,
                                            const char *room)
{
    for (size_t k = 0; k < cl->n_creates; k++)
        if (strcmp(cl->creates[k].room, room) == 0)
            return &cl->creates[k];
    return NULL;
}

static char *opt_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static void free_profile(struct pop_profile *p)
{
    free(p->id);
    free(p->software);
    free(p->version);
    free(p->node);
    json_decref(p->identities);
    json_decref(p->features);
    json_decref(p->forms);
}

static void free_client(struct pop_client *c)
{
    free(c->jid);
    free(c->password);
    free(c->host);
    free(c->resource);
    free(c->nick);
    free(c->os);
    free(c->os_version);
    free(c->sw);
    free(c->sw_version);
    free(c->behaviour_str);
    for (size_t k = 0; k < c->n_rooms; k++)
        free(c->rooms[k]);
    free(c->rooms);
    for (size_t k = 0; k < c->n_creates; k++) {
        free(c->creates[k].room);
        free(c->creates[k].password);
    }
    free(c->creates);
}

void pop_plan_free(struct pop_plan *plan)
{
    if (!plan)
        return;
    for (size_t k = 0; k < plan->n_profiles; k++)
        free_profile(&plan->profiles[k]);
    free(plan->profiles);
    for (size_t k = 0; k < plan->n_clients; k++)
        free_client(&plan->clients[k]);
    free(plan->clients);
    free(plan);
}

static json_t *array_or_empty(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_array(v) ? json_incref(v) : json_array();
}

static bool parse_client(struct pop_plan *plan, json_t *jc, size_t idx,
                         struct parse_err *err)
{
    struct pop_client *c = &plan->clients[idx];
    json_t *v;
    const char *prof;
    size_t k;

    v = json_object_get(jc, "id");
    c->id =
        json_is_integer(v) ? (unsigned)json_integer_value(v) : (unsigned)idx;
    c->jid = opt_str(jc, "jid");
    c->password = opt_str(jc, "password");
    c->host = opt_str(jc, "host");
    c->resource = opt_str(jc, "resource");
    c->nick = opt_str(jc, "nick");
    v = json_object_get(jc, "port");
    c->port = json_is_integer(v) ? (unsigned)json_integer_value(v) : 5222;
    v = json_object_get(jc, "part");
    c->part = json_is_integer(v) ? (unsigned)json_integer_value(v) : 0;
    if (!c->jid || !strchr(c->jid, '@') || !c->password || !c->host ||
        c->port == 0 || c->port > 65535) {
        set_err(err, "client %u: missing or bad jid, password, host or port",
                c->id);
        return false;
    }
    if (!c->resource)
        c->resource = xstrdup("xc");
    if (!c->nick)
        c->nick = xasprintf("n%u", c->id);
    prof = json_string_value(json_object_get(jc, "profile"));
    for (k = 0; prof && k < plan->n_profiles; k++)
        if (strcmp(plan->profiles[k].id, prof) == 0)
            c->profile = &plan->profiles[k];
    if (!c->profile) {
        set_err(err, "client %u: unrecognized profile \"%s\"", c->id,
                prof ? prof : "");
        return false;
    }
    v = json_object_get(jc, "softinfo");
    if (json_is_object(v)) {
        c->has_softinfo = true;
        c->os = opt_str(v, "os");
        c->os_version = opt_str(v, "os_version");
        c->sw = opt_str(v, "software");
        c->sw_version = opt_str(v, "software_version");
    }
    c->caps2 = json_is_true(json_object_get(jc, "caps2"));
    c->behaviour_str = opt_str(jc, "behaviour");
    if (!c->behaviour_str)
        c->behaviour_str = xstrdup("normal");
    if (!pop_behaviour_parse(c->behaviour_str, &c->behaviour, err)) {
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        snprintf(err->msg, sizeof err->msg, "client %u: %.120s", c->id, msg);
        return false;
    }
    v = json_object_get(jc, "rooms");
    if (json_is_array(v)) {
        c->rooms = xcalloc(json_array_size(v) + 1, sizeof *c->rooms);
        for (k = 0; k < json_array_size(v); k++) {
            const char *r = json_string_value(json_array_get(v, k));
            if (r && strchr(r, '@'))
                c->rooms[c->n_rooms++] = xstrdup(r);
        }
    }
    v = json_object_get(jc, "creates");
    if (json_is_array(v)) {
        c->creates = xcalloc(json_array_size(v) + 1, sizeof *c->creates);
        for (k = 0; k < json_array_size(v); k++) {
            json_t *e = json_array_get(v, k);
            char *room = opt_str(e, "room");
            if (!room || !strchr(room, '@')) {
                free(room);
                continue;
            }
            struct pop_create *cr = &c->creates[c->n_creates++];
            cr->room = room;
            cr->public_room = !json_is_false(json_object_get(e, "public"));
            cr->members_only = json_is_true(json_object_get(e, "members_only"));
            cr->password = opt_str(e, "password");
            /* a created room is also a room to be in */
            bool listed = false;
            for (size_t r = 0; r < c->n_rooms; r++)
                listed = listed || strcmp(c->rooms[r], room) == 0;
            if (!listed) {
                c->rooms =
                    xreallocarray(c->rooms, c->n_rooms + 1, sizeof *c->rooms);
                c->rooms[c->n_rooms++] = xstrdup(room);
            }
        }
    }
    return true;
}

struct pop_plan *pop_plan_parse(const char *text, size_t len,
                                struct parse_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    struct pop_plan *plan;
    json_t *profiles, *clients, *v;
    const char *key;

    memset(err, 0, sizeof *err);
    if (!root) {
        set_err(err, "invalid JSON: %s", jerr.text);
        err->line = jerr.line;
        err->column = jerr.column;
        return NULL;
    }
    plan = xcalloc(1, sizeof *plan);
    v = json_object_get(root, "seed");
    plan->seed = json_is_integer(v) ? (long)json_integer_value(v) : 0;
    v = json_object_get(root, "parts");
    plan->parts = json_is_integer(v) ? (unsigned)json_integer_value(v) : 0;
    profiles = json_object_get(root, "profiles");
    clients = json_object_get(root, "clients");
    if (!json_is_object(profiles) || !json_is_array(clients)) {
        set_err(err, "plan needs a \"profiles\" object and a \"clients\" "
                     "array");
        goto fail;
    }
    plan->profiles =
        xcalloc(json_object_size(profiles) + 1, sizeof *plan->profiles);
    json_object_foreach(profiles, key, v)
    {
        struct pop_profile *p = &plan->profiles[plan->n_profiles++];
        p->id = xstrdup(key);
        p->software = opt_str(v, "software");
        p->version = opt_str(v, "version");
        p->node = opt_str(v, "node");
        if (!p->node)
            p->node = xstrdup("https://xcensus.invalid/unknown");
        p->identities = array_or_empty(v, "identities");
        p->features = array_or_empty(v, "features");
        p->forms = array_or_empty(v, "forms");
    }
    plan->clients =
        xcalloc(json_array_size(clients) + 1, sizeof *plan->clients);
    for (size_t k = 0; k < json_array_size(clients); k++) {
        plan->n_clients++;
        if (!parse_client(plan, json_array_get(clients, k), k, err))
            goto fail;
    }
    json_decref(root);
    return plan;
fail:
    json_decref(root);
    pop_plan_free(plan);
    return NULL;
}

struct pop_plan *pop_plan_load(const char *path, struct parse_err *err)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t len = 0, cap = 0;
    struct pop_plan *plan;

    memset(err, 0, sizeof *err);
    if (!f) {
        set_err(err, "could not open \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            if (cap > (size_t)1 << 30) {
                set_err(err, "\"%s\" is too large", path);
                free(data);
                fclose(f);
                return NULL;
            }
            data = xreallocarray(data, cap, 1);
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    plan = pop_plan_parse(data, len, err);
    free(data);
    return plan;
}
