/*
 * Content and ver of a population client. The profile is cleaned first
 * (duplicate identities, features and form types dropped, a profile
 * softwareinfo form replaced by the client's own), so that a "normal"
 * client is valid under the strict XEP-0115 rules; the misbehaviours then
 * change exactly one thing:
 *   poison          ver of the content plus a feature it does not serve
 *   variant:X       escape-lt: an identity name with '<' and '>';
 *                   escape-xml: one with '&' and '>' (no '<', so escape-lt
 *                   equals strict); formless-forms: an extra form without
 *                   FORM_TYPE; the ver is hashed with variant X
 *   lenient-dups    one feature listed twice, ver hashed with it kept
 *   huge:N          N extra distinct features
 */
#include "content.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps2.h"
#include "softinfo.h"

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool has_identity(const struct disco_info *info, const char *cat,
                         const char *type, const char *lang, const char *name)
{
    for (size_t k = 0; k < info->n_identities; k++) {
        const struct disco_identity *id = &info->identities[k];
        if (same(id->category, cat) && same(id->type, type) &&
            same(id->lang, lang) && same(id->name, name))
            return true;
    }
    return false;
}

static void add_identities(const struct pop_client *cl, struct disco_info *info)
{
    json_t *ids = cl->profile->identities;
    const struct pop_behaviour *b = &cl->behaviour;
    bool decorated = false;

    for (size_t k = 0; k < json_array_size(ids); k++) {
        json_t *id = json_array_get(ids, k);
        const char *cat = jstr(id, "category"), *type = jstr(id, "type");
        const char *lang = jstr(id, "lang"), *name = jstr(id, "name");
        char buf[512];

        if (!cat || !type)
            continue;
        if (b->kind == POP_B_VARIANT && !decorated &&
            (b->variant == CAPS_M_ESCAPE_LT ||
             b->variant == CAPS_M_ESCAPE_XML)) {
            /* XEP-0115 s5.1 hashes raw characters; the variants escape */
            snprintf(buf, sizeof buf, "%s%s", name ? name : "client",
                     b->variant == CAPS_M_ESCAPE_LT ? " <beta>" : " & co >");
            name = buf;
            decorated = true;
        }
        if (!has_identity(info, cat, type, lang, name))
            disco_add_identity(info, cat, type, lang, name);
    }
    if (info->n_identities == 0) {
        const char *name = "client";
        if (b->kind == POP_B_VARIANT && b->variant == CAPS_M_ESCAPE_LT)
            name = "client <beta>";
        else if (b->kind == POP_B_VARIANT && b->variant == CAPS_M_ESCAPE_XML)
            name = "client & co >";
        disco_add_identity(info, "client", "pc", NULL, name);
    }
}

static void add_features(const struct pop_client *cl, struct disco_info *info)
{
    json_t *fs = cl->profile->features;
    char var[64];

    for (size_t k = 0; k < json_array_size(fs); k++) {
        const char *f = json_string_value(json_array_get(fs, k));
        if (f && !disco_has_feature(info, f))
            disco_add_feature(info, f);
    }
    if (!disco_has_feature(info, DISCO_NS_INFO))
        disco_add_feature(info, DISCO_NS_INFO);
    if (cl->behaviour.kind == POP_B_HUGE) {
        for (unsigned k = 0; k < cl->behaviour.arg; k++) {
            snprintf(var, sizeof var, POP_HUGE_PREFIX "%04u", k);
            disco_add_feature(info, var);
        }
    }
    if (cl->behaviour.kind == POP_B_LENIENT_DUPS) {
        /* ill-formed per XEP-0115 s5.4 step 3.3; copied first because
         * adding may grow the array the pointer lives in */
        snprintf(var, sizeof var, "%s", info->features[0]);
        disco_add_feature(
            info, strlen(info->features[0]) < sizeof var ? var : DISCO_NS_INFO);
    }
}

static void add_field(struct disco_info *info, struct dataform *form,
                      const char *var, const char *type, const char *value)
{
    struct dataform_field *f = disco_form_add_field(info, form, var, type);
    if (value)
        disco_field_add_value(info, f, value);
}

static void add_forms(const struct pop_client *cl, struct disco_info *info)
{
    json_t *forms = cl->profile->forms;

    for (size_t k = 0; k < json_array_size(forms); k++) {
        json_t *jf = json_array_get(forms, k);
        const char *ft = jstr(jf, "form_type");
        json_t *fields = json_object_get(jf, "fields");
        bool has_ft = false;

        if (!ft || disco_find_form(info, ft))
            continue; /* formless or duplicate FORM_TYPE: dropped */
        if (cl->has_softinfo && strcmp(ft, SOFTINFO_FORM_TYPE) == 0)
            continue; /* the client's own softinfo replaces it */
        struct dataform *form = disco_add_form(info, "result");
        for (size_t j = 0; j < json_array_size(fields); j++) {
            const char *v = jstr(json_array_get(fields, j), "var");
            has_ft = has_ft || (v && strcmp(v, "FORM_TYPE") == 0);
        }
        if (!has_ft)
            add_field(info, form, "FORM_TYPE", "hidden", ft);
        for (size_t j = 0; j < json_array_size(fields); j++) {
            json_t *jfield = json_array_get(fields, j);
            const char *v = jstr(jfield, "var");
            json_t *vals = json_object_get(jfield, "values");
            if (!v)
                continue;
            struct dataform_field *f =
                disco_form_add_field(info, form, v, jstr(jfield, "type"));
            for (size_t i = 0; i < json_array_size(vals); i++) {
                const char *s = json_string_value(json_array_get(vals, i));
                if (s)
                    disco_field_add_value(info, f, s);
            }
        }
    }
    if (cl->has_softinfo) {
        /* XEP-0232: one hash per OS build, as seen in the wild */
        struct dataform *form = disco_add_typed_form(info, SOFTINFO_FORM_TYPE);
        add_field(info, form, "os", "text-single", cl->os);
        add_field(info, form, "os_version", "text-single", cl->os_version);
        add_field(info, form, "software", "text-single", cl->sw);
        add_field(info, form, "software_version", "text-single",
                  cl->sw_version);
    }
    if (cl->behaviour.kind == POP_B_VARIANT &&
        cl->behaviour.variant == CAPS_M_FORMLESS_FORMS) {
        struct dataform *form = disco_add_form(info, "result");
        add_field(info, form, "x-xnet-note", "text-single", "formless");
    }
}

static struct disco_info *build_served(const struct pop_client *cl)
{
    struct disco_info *info = disco_info_new();
    add_identities(cl, info);
    add_features(cl, info);
    add_forms(cl, info);
    return info;
}

bool pop_content_build(const struct pop_client *cl, struct pop_content *out,
                       struct parse_err *err)
{
    enum caps_method m = CAPS_M_STRICT;
    struct disco_info *hashed;
    bool ok = true;

    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    out->served = build_served(cl);
    out->query_xml = disco_info_to_xml(out->served);
    out->outcome = caps_outcome_name(CAPS_VALID);
    out->matched_by = caps_method_name(CAPS_M_STRICT);
    hashed = out->served;

    switch (cl->behaviour.kind) {
    case POP_B_POISON: {
        char var[64];
        hashed = build_served(cl);
        snprintf(var, sizeof var, POP_POISON_PREFIX "%u", cl->id);
        disco_add_feature(hashed, var);
        out->outcome = caps_outcome_name(CAPS_MISMATCH);
        out->matched_by = NULL;
        break;
    }
    case POP_B_VARIANT:
        m = cl->behaviour.variant;
        out->outcome = caps_outcome_name(CAPS_MISMATCH);
        out->matched_by = caps_method_name(m);
        break;
    case POP_B_LENIENT_DUPS:
        m = CAPS_M_LENIENT;
        out->outcome = caps_outcome_name(CAPS_ILL_FORMED);
        out->matched_by = caps_method_name(m);
        out->error = caps_error_name(CAPS_ERR_DUPLICATE_FEATURE);
        break;
    default:
        break;
    }
    if (!caps_ver_compute(hashed, HASH_SHA1, m, out->ver)) {
        snprintf(err->msg, sizeof err->msg, "client %u: sha-1 unavailable",
                 cl->id);
        ok = false;
    } else if (cl->caps2) {
        bool avail = false;
        enum caps2_error e =
            caps2_hash(hashed, HASH_SHA256, out->caps2, &avail);
        if (e != CAPS2_ERR_NONE || !avail)
            out->caps2[0] = '\0'; /* no valid input: advertise none */
    }
    if (hashed != out->served)
        disco_info_free(hashed);
    if (!ok) {
        err->code = 1;
        pop_content_free(out);
    }
    return ok;
}

void pop_content_free(struct pop_content *c)
{
    disco_info_free(c->served);
    free(c->query_xml);
    memset(c, 0, sizeof *c);
}
