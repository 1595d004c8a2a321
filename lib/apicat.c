/*
 * The query catalog (see apicat.h): the table of named queries and the
 * checks of their arguments.
 */
#include "apicat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct apicat_entry entries[] = {
    {"server_software", "Server software",
     "server software and version shares, from each server's latest "
     "XEP-0092 answer",
     "SELECT software, version, servers FROM v_server_software",
     "servers DESC, software, version", NULL, 0},
    {"server_features", "Server features",
     "features advertised by servers (latest disco#info), with their share",
     "SELECT feature, servers, percent FROM v_server_features",
     "servers DESC, feature", NULL, 0},
};

/* Number of catalog entries. */
size_t apicat_count(void)
{
    return ARRAY_LEN(entries);
}

/* Entry i of the catalog. */
const struct apicat_entry *apicat_at(size_t i)
{
    return i < ARRAY_LEN(entries) ? &entries[i] : NULL;
}

/* The entry called name or "v_" + name. */
const struct apicat_entry *apicat_find(const char *name)
{
    if (strncmp(name, "v_", 2) == 0)
        name += 2;
    for (size_t i = 0; i < ARRAY_LEN(entries); i++)
        if (strcmp(entries[i].name, name) == 0)
            return &entries[i];
    return NULL;
}

/* Index of parameter name in e. */
int apicat_param_index(const struct apicat_entry *e, const char *name)
{
    for (size_t i = 0; i < e->nparams; i++)
        if (strcmp(e->params[i].name, name) == 0)
            return (int)i;
    return -1;
}

static bool fail(struct parse_err *err, const struct apicat_param *p,
                 const char *what)
{
    err->code = 1;
    snprintf(err->msg, sizeof err->msg, "%s must be %s", p->name, what);
    return false;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Checks value against the parameter's type. */
bool apicat_check_value(const struct apicat_param *p, const char *value,
                        struct parse_err *err)
{
    size_t n = strlen(value);
    if (n > APICAT_ARG_MAX)
        return fail(err, p, "at most 1024 bytes");
    switch (p->type) {
    case APICAT_TEXT:
        return true;
    case APICAT_INT: {
        const char *d = value + (value[0] == '-');
        if (*d == '\0' || strlen(d) > 18 || !all_digits(d, strlen(d)))
            return fail(err, p, "an integer");
        return true;
    }
    case APICAT_DATE:
        if (n != 10 || value[4] != '-' || value[7] != '-' ||
            !all_digits(value, 4) || !all_digits(value + 5, 2) ||
            !all_digits(value + 8, 2))
            return fail(err, p, "a date YYYY-MM-DD");
        {
            int mo = atoi(value + 5), d = atoi(value + 8);
            if (mo < 1 || mo > 12 || d < 1 || d > 31)
                return fail(err, p, "a date YYYY-MM-DD");
        }
        return true;
    case APICAT_BOOL:
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            return fail(err, p, "true or false");
        return true;
    }
    return fail(err, p, "valid");
}
