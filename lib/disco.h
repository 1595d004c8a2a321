/*
 * XEP-0030 disco#info results as plain C structs: identities (category,
 * type, xml:lang, name), features and XEP-0128 extended forms (see
 * dataform.h), kept as received, duplicates included, because caps
 * verification must see them. Built either by the bounded expat parser
 * (disco_parse(): hostile input gives a struct parse_err, never a crash
 * or unbounded memory; DOCTYPE and entity declarations are refused) or
 * from code (disco_info_new() + disco_add_*()), and serialized back with
 * disco_info_to_xml(). Knows nothing of libstrophe and of caps.
 *
 * Memory: a struct disco_info owns every string and array reachable from
 * it (one region freed by disco_info_free()); all `const char *` in the
 * structs are borrowed from it.
 */
#ifndef XC_DISCO_H
#define XC_DISCO_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "dataform.h"

#define DISCO_NS_INFO "http://jabber.org/protocol/disco#info"
#define DISCO_NS_DATA "jabber:x:data"
#define DISCO_NS_MEDIA "urn:xmpp:media-element"

struct disco_identity {
    const char *category; /* "" if absent */
    const char *type;     /* "" if absent */
    const char *lang;     /* explicit xml:lang attribute, "" if absent
                             (what XEP-0115 hashes) */
    const char *lang_eff; /* explicit or inherited xml:lang, "" if none
                             (what XEP-0390 hashes: implicit xml:lang) */
    const char *name;     /* "" if absent */
};

struct disco_info {
    const char *node; /* the query's `node` attribute, NULL if absent */
    const char *lang; /* xml:lang in scope at <query/> (from itself or
                         the enclosing <iq/>), "" if none */
    struct disco_identity *identities; /* received order */
    size_t n_identities;
    const char **features; /* `var` of each <feature/> */
    size_t n_features;
    struct dataform **forms; /* <x xmlns='jabber:x:data'/> */
    size_t n_forms;
    size_t n_other;           /* other child elements of <query/> (XEP-0390
                                 error; ignored by XEP-0115) */
    struct disco_region *mem; /* private: owns everything above */
    size_t cap_identities, cap_features, cap_forms; /* private */
};

/* Bounds on what disco_parse() accepts; exceeding one is a parse error. */
struct disco_limits {
    size_t max_input;   /* bytes of XML */
    unsigned max_depth; /* element nesting, <iq/> = 1 */
    unsigned max_identities;
    unsigned max_features;
    unsigned max_forms;
    unsigned max_fields; /* per form */
    unsigned max_values; /* per field */
    size_t max_string;   /* bytes of one attribute or value */
    size_t max_other;    /* unknown elements, in total */
};

/* 1 MiB, depth 16, 256 identities, 4096 features, 64 forms, 256 fields,
 * 256 values, 64 KiB strings, 4096 other elements. */
extern const struct disco_limits disco_limits_default;

enum disco_err {
    DISCO_OK,
    DISCO_ERR_XML,       /* not well-formed XML (incl. invalid UTF-8,
                            truncated input) */
    DISCO_ERR_DOCTYPE,   /* DOCTYPE / entity declaration refused */
    DISCO_ERR_TOO_LARGE, /* input longer than max_input */
    DISCO_ERR_TOO_DEEP,  /* nesting beyond max_depth */
    DISCO_ERR_LIMIT,     /* a count or string bound exceeded */
    DISCO_ERR_NO_QUERY,  /* no disco#info <query/> (root or in <iq/>) */
    DISCO_ERR__COUNT
};

/* Stable name of an error code ("xml", "doctype", "too-large",
 * "too-deep", "limit", "no-query"; "ok"). */
const char *disco_err_name(enum disco_err e);

/* Parses a <query xmlns='http://jabber.org/protocol/disco#info'/> or an
 * <iq/> whose child is one. lim NULL means disco_limits_default. Returns
 * a new disco_info (caller frees with disco_info_free()), or NULL with
 * err->code set to an enum disco_err and err->msg describing it. */
struct disco_info *disco_parse(const char *xml, size_t len,
                               const struct disco_limits *lim,
                               struct parse_err *err);

/* Returns a new empty disco_info; caller frees with disco_info_free(). */
struct disco_info *disco_info_new(void);
/* Frees info and everything it owns; accepts NULL. */
void disco_info_free(struct disco_info *info);

/* Builders: every string is copied into info; NULL means absent (""),
 * for node NULL removes it. Returned pointers are owned by info and stay
 * valid until disco_info_free(). */
void disco_set_node(struct disco_info *info, const char *node);
void disco_set_lang(struct disco_info *info, const char *lang);
/* Adds an identity; lang is the explicit xml:lang (lang_eff becomes lang,
 * or info->lang when lang is empty). */
void disco_add_identity(struct disco_info *info, const char *category,
                        const char *type, const char *lang, const char *name);
void disco_add_feature(struct disco_info *info, const char *var);
/* Adds a form of the given type ("result" normally). */
struct dataform *disco_add_form(struct disco_info *info, const char *type);
/* Adds a field (var, type may be NULL) to a form of info. */
struct dataform_field *disco_form_add_field(struct disco_info *info,
                                            struct dataform *form,
                                            const char *var, const char *type);
/* Appends one <value/> to a field of info. */
void disco_field_add_value(struct disco_info *info,
                           struct dataform_field *field, const char *value);
/* Convenience: adds a type="result" form with a hidden FORM_TYPE field
 * holding form_type; returns it for further fields. */
struct dataform *disco_add_typed_form(struct disco_info *info,
                                      const char *form_type);

/* Returns the first form whose first FORM_TYPE value is form_type (any
 * hiddenness), or NULL; borrowed from info. */
const struct dataform *disco_find_form(const struct disco_info *info,
                                       const char *form_type);
/* True if info lists feature var. */
bool disco_has_feature(const struct disco_info *info, const char *var);

/* Serializes info as a <query xmlns='http://jabber.org/protocol/disco#info'
 * [node='...']> element (identities, features, forms in stored order,
 * text and attributes escaped; media children are not reproduced).
 * Returns a new string; caller frees with free(). */
char *disco_info_to_xml(const struct disco_info *info);

#endif
