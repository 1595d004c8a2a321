/*
 * XEP-0004 data forms as carried in disco#info results (XEP-0128): the
 * form's `type`, its fields in received order (var, type, values in
 * order, whether a XEP-0221 <media/> child was present) and the XEP-0068
 * FORM_TYPE lookup. Read-only helpers; forms are built and owned by a
 * struct disco_info (see disco.h: disco_add_form() and friends), whose
 * memory holds every string here. Duplicates are kept as received.
 */
#ifndef XC_DATAFORM_H
#define XC_DATAFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

struct dataform_field {
    const char *var;     /* `var` attribute, "" if absent */
    const char *type;    /* `type` attribute, "" if absent */
    const char **values; /* <value/> character data, in received order */
    size_t n_values;
    bool has_media; /* a XEP-0221 <media/> child (XEP-0232 icon) */
    size_t n_other; /* other child elements (desc, option, ...) */
};

struct dataform {
    const char *type; /* <x type=...>, "" if absent ("result" expected) */
    struct dataform_field **fields; /* received order */
    size_t n_fields;
    bool has_reported; /* <reported/> or <item/> child (XEP-0390 error) */
    size_t n_other;    /* other child elements (title, instructions...) */
};

/* Where a form stands with respect to XEP-0068 FORM_TYPE rules. */
enum dataform_ft {
    DATAFORM_FT_OK,         /* one hidden FORM_TYPE with one value */
    DATAFORM_FT_REPEATED,   /* hidden, several values, all identical */
    DATAFORM_FT_MISSING,    /* no FORM_TYPE field (or it has no value) */
    DATAFORM_FT_NOT_HIDDEN, /* FORM_TYPE field not type="hidden" */
    DATAFORM_FT_MULTIPLE,   /* FORM_TYPE values that differ */
    DATAFORM_FT__COUNT
};

/* Returns a stable name ("ok", "repeated", "missing", "not-hidden",
 * "multiple"). */
const char *dataform_ft_name(enum dataform_ft s);

/* Classifies the form's FORM_TYPE. *value (may be NULL) receives the
 * first FORM_TYPE value (borrowed from the form) or NULL when missing.
 * Several FORM_TYPE fields count as one field with all their values;
 * "hidden" requires every FORM_TYPE field to be type="hidden". */
enum dataform_ft dataform_form_type(const struct dataform *f,
                                    const char **value);

/* Returns the first field with this var, or NULL; borrowed. */
const struct dataform_field *dataform_field_find(const struct dataform *f,
                                                 const char *var);
/* Returns the first value of field var, or NULL; borrowed. */
const char *dataform_value(const struct dataform *f, const char *var);

#endif
