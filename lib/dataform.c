/*
 * Read-only helpers over XEP-0004 forms held by a disco_info: FORM_TYPE
 * classification (XEP-0068) and field lookup.
 */
#include "dataform.h"

#include <string.h>

static const char *const dataform_ft_names[] = {
    [DATAFORM_FT_OK] = "ok",
    [DATAFORM_FT_REPEATED] = "repeated",
    [DATAFORM_FT_MISSING] = "missing",
    [DATAFORM_FT_NOT_HIDDEN] = "not-hidden",
    [DATAFORM_FT_MULTIPLE] = "multiple",
};
_Static_assert(ARRAY_LEN(dataform_ft_names) == DATAFORM_FT__COUNT,
               "names table");

const char *dataform_ft_name(enum dataform_ft s)
{
    if ((unsigned)s >= DATAFORM_FT__COUNT)
        return "?";
    return dataform_ft_names[s];
}

enum dataform_ft dataform_form_type(const struct dataform *f,
                                    const char **value)
{
    const char *first = NULL;
    size_t n = 0;
    bool hidden = true, differ = false;
    for (size_t i = 0; i < f->n_fields; i++) {
        const struct dataform_field *fl = f->fields[i];
        if (strcmp(fl->var, "FORM_TYPE") != 0)
            continue;
        if (strcmp(fl->type, "hidden") != 0)
            hidden = false;
        for (size_t j = 0; j < fl->n_values; j++) {
            if (first == NULL)
                first = fl->values[j];
            else if (strcmp(first, fl->values[j]) != 0)
                differ = true;
            n++;
        }
    }
    if (value)
        *value = first;
    if (first == NULL)
        return DATAFORM_FT_MISSING;
    if (!hidden)
        return DATAFORM_FT_NOT_HIDDEN;
    if (differ)
        return DATAFORM_FT_MULTIPLE;
    return n > 1 ? DATAFORM_FT_REPEATED : DATAFORM_FT_OK;
}

const struct dataform_field *dataform_field_find(const struct dataform *f,
                                                 const char *var)
{
    for (size_t i = 0; i < f->n_fields; i++)
        if (strcmp(f->fields[i]->var, var) == 0)
            return f->fields[i];
    return NULL;
}

const char *dataform_value(const struct dataform *f, const char *var)
{
    const struct dataform_field *fl = dataform_field_find(f, var);
    return fl && fl->n_values ? fl->values[0] : NULL;
}
