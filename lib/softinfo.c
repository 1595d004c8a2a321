/*
 * Software/service information: XEP-0232 softwareinfo, XEP-0157 contact
 * addresses, muc#roominfo and the XEP-0092 jabber:iq:version parser.
 * Extraction copies strings; it never keeps pointers into a disco_info.
 */
#include "softinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"
#include "xml.h"

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

bool softinfo_extract(const struct disco_info *info, struct softinfo *si)
{
    memset(si, 0, sizeof *si);
    const struct dataform *f = disco_find_form(info, SOFTINFO_FORM_TYPE);
    if (f == NULL)
        return false;
    si->present = true;
    si->software = dup_or_null(dataform_value(f, "software"));
    si->software_version = dup_or_null(dataform_value(f, "software_version"));
    si->os = dup_or_null(dataform_value(f, "os"));
    si->os_version = dup_or_null(dataform_value(f, "os_version"));
    si->has_icon = dataform_field_find(f, "icon") != NULL;
    return true;
}

void softinfo_free(struct softinfo *si)
{
    if (si == NULL)
        return;
    free(si->software);
    free(si->software_version);
    free(si->os);
    free(si->os_version);
    memset(si, 0, sizeof *si);
}

size_t softinfo_contacts_extract(const struct disco_info *info,
                                 struct softinfo_contacts *out)
{
    memset(out, 0, sizeof *out);
    const struct dataform *f = disco_find_form(info, SOFTINFO_SERVERINFO);
    if (f == NULL)
        return 0;
    static const char suffix[] = "-addresses";
    size_t slen = sizeof suffix - 1, cap = 0;
    for (size_t i = 0; i < f->n_fields; i++) {
        const struct dataform_field *fl = f->fields[i];
        size_t vlen = strlen(fl->var);
        if (vlen <= slen || strcmp(fl->var + vlen - slen, suffix) != 0)
            continue;
        for (size_t j = 0; j < fl->n_values; j++) {
            if (fl->values[j][0] == '\0')
                continue;
            if (out->n == cap) {
                cap = cap ? cap * 2 : 8;
                out->items = xreallocarray(out->items, cap, sizeof *out->items);
            }
            out->items[out->n].kind = xstrndup(fl->var, vlen - slen);
            out->items[out->n].uri = xstrdup(fl->values[j]);
            out->n++;
        }
    }
    return out->n;
}

void softinfo_contacts_free(struct softinfo_contacts *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].kind);
        free(c->items[i].uri);
    }
    free(c->items);
    memset(c, 0, sizeof *c);
}

bool softinfo_room_extract(const struct disco_info *info,
                           struct softinfo_room *r)
{
    memset(r, 0, sizeof *r);
    r->occupants = -1;
    const struct dataform *f = disco_find_form(info, SOFTINFO_ROOMINFO);
    if (f == NULL)
        return false;
    r->present = true;
    const char *occ = dataform_value(f, "muc#roominfo_occupants");
    if (occ && *occ) {
        char *end;
        errno = 0;
        long v = strtol(occ, &end, 10);
        if (errno == 0 && *end == '\0' && v >= 0)
            r->occupants = v;
    }
    r->description = dup_or_null(dataform_value(f, "muc#roominfo_description"));
    r->subject = dup_or_null(dataform_value(f, "muc#roominfo_subject"));
    r->lang = dup_or_null(dataform_value(f, "muc#roominfo_lang"));
    r->logs = dup_or_null(dataform_value(f, "muc#roominfo_logs"));
    r->contactjid = dup_or_null(dataform_value(f, "muc#roominfo_contactjid"));
    return true;
}

void softinfo_room_free(struct softinfo_room *r)
{
    if (r == NULL)
        return;
    free(r->description);
    free(r->subject);
    free(r->lang);
    free(r->logs);
    free(r->contactjid);
    memset(r, 0, sizeof *r);
    r->occupants = -1;
}

/* --- XEP-0092 --- */

#define Q_VERSION SOFTINFO_NS_VERSION " query"

struct vstate {
    struct xml_guard g; /* first: see xml.h */
    const struct disco_limits *lim;
    struct parse_err *err;
    struct softinfo_version *v;
    unsigned depth, query_depth;
    bool query_seen;
    char **target; /* field being collected, at query_depth + 1 */
    struct buf text;
    size_t n_elements;
};

static void XMLCALL v_start(void *ud, const char *name, const char **atts)
{
    struct vstate *st = ud;
    if (st->err->code)
        return;
    if (st->depth + 1 > st->lim->max_depth) {
        xml_fail(&st->g, DISCO_ERR_TOO_DEEP, "elements nested deeper than %u",
                 st->lim->max_depth);
        return;
    }
    if (++st->n_elements > st->lim->max_other) {
        xml_fail(&st->g, DISCO_ERR_LIMIT, "too many elements");
        return;
    }
    unsigned d = ++st->depth;
    if (d == 1) {
        if (strcmp(name, Q_VERSION) == 0)
            st->query_depth = 1;
        else if (strcmp(xml_local_name(name), "iq") != 0)
            xml_fail(&st->g, DISCO_ERR_NO_QUERY,
                     "root element is not <iq/> or a version <query/>");
    } else if (d == 2 && st->query_depth == 0 && !st->query_seen &&
               strcmp(name, Q_VERSION) == 0) {
        st->query_depth = 2;
    }
    if (st->query_depth && d == st->query_depth) {
        st->query_seen = true;
    } else if (st->query_depth && d == st->query_depth + 1) {
        const char *local = xml_local_name(name);
        bool ours = strncmp(name, SOFTINFO_NS_VERSION " ",
                            sizeof SOFTINFO_NS_VERSION) == 0;
        st->target = NULL;
        if (ours && strcmp(local, "name") == 0 && !st->v->name)
            st->target = &st->v->name;
        else if (ours && strcmp(local, "version") == 0 && !st->v->version)
            st->target = &st->v->version;
        else if (ours && strcmp(local, "os") == 0 && !st->v->os)
            st->target = &st->v->os;
        buf_reset(&st->text);
    }
}

static void XMLCALL v_end(void *ud, const char *name)
{
    struct vstate *st = ud;
    if (st->err->code)
        return;
    unsigned d = st->depth--;
    if (st->query_depth && d == st->query_depth + 1 && st->target) {
        *st->target =
            xstrndup(st->text.data ? st->text.data : "", st->text.len);
        st->target = NULL;
    } else if (st->query_depth && d == st->query_depth) {
        st->query_depth = 0;
    }
}

static void XMLCALL v_text(void *ud, const char *s, int len)
{
    struct vstate *st = ud;
    if (st->err->code || st->target == NULL || st->depth != st->query_depth + 1)
        return;
    if (st->text.len + (size_t)len > st->lim->max_string) {
        xml_fail(&st->g, DISCO_ERR_LIMIT, "field longer than %zu bytes",
                 st->lim->max_string);
        return;
    }
    buf_append(&st->text, s, (size_t)len);
}

bool softinfo_version_parse(const char *xml, size_t len,
                            const struct disco_limits *lim,
                            struct softinfo_version *v, struct parse_err *err)
{
    struct parse_err dummy;
    if (err == NULL)
        err = &dummy;
    memset(err, 0, sizeof *err);
    memset(v, 0, sizeof *v);
    if (lim == NULL)
        lim = &disco_limits_default;
    if (len > lim->max_input || len > (size_t)INT32_MAX) {
        err->code = DISCO_ERR_TOO_LARGE;
        snprintf(err->msg, sizeof err->msg, "input of %zu bytes exceeds %zu",
                 len, lim->max_input);
        return false;
    }
    struct vstate st = {0};
    st.lim = lim;
    st.err = err;
    st.v = v;
    st.g.err = err;
    st.g.doctype_code = DISCO_ERR_DOCTYPE;
    XML_Parser p = xml_parser_new(&st.g);
    XML_SetElementHandler(p, v_start, v_end);
    XML_SetCharacterDataHandler(p, v_text);
    if (XML_Parse(p, xml, (int)len, XML_TRUE) != XML_STATUS_OK)
        xml_fail_expat(&st.g, DISCO_ERR_XML);
    if (err->code == 0 && !st.query_seen) {
        err->code = DISCO_ERR_NO_QUERY;
        snprintf(err->msg, sizeof err->msg,
                 "no jabber:iq:version <query/> found");
    }
    XML_ParserFree(p);
    buf_free(&st.text);
    if (err->code != 0) {
        softinfo_version_free(v);
        return false;
    }
    return true;
}

void softinfo_version_free(struct softinfo_version *v)
{
    if (v == NULL)
        return;
    free(v->name);
    free(v->version);
    free(v->os);
    memset(v, 0, sizeof *v);
}
