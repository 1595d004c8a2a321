/*
 * libstrophe stanzas to plain structs, bounded.
 */
#include "stanza.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define MAX_ATTR 3071 /* longest JID */

xmpp_stanza_t *stanza_first_element(xmpp_stanza_t *stanza)
{
    xmpp_stanza_t *c = xmpp_stanza_get_children(stanza);
    while (c && !xmpp_stanza_is_tag(c))
        c = xmpp_stanza_get_next(c);
    return c;
}

void stanza_error_condition(xmpp_stanza_t *iq, char *out, size_t n)
{
    snprintf(out, n, "undefined-condition");
    xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(iq, "error");
    if (e == NULL)
        return;
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(e); c;
         c = xmpp_stanza_get_next(c)) {
        const char *ns = xmpp_stanza_is_tag(c) ? xmpp_stanza_get_ns(c) : NULL;
        const char *name = xmpp_stanza_get_name(c);
        if (ns && name && strcmp(ns, NS_STANZAS) == 0 &&
            strcmp(name, "text") != 0 && strlen(name) < 64) {
            snprintf(out, n, "%s", name);
            return;
        }
    }
}

/* libstrophe 0.12 keeps xml:lang as an attribute named "lang" and writes
 * it back so, which would make every identity language vanish from the
 * text our parser reads (and the XEP-0115 hash of any entity with
 * xml:lang identities fail to verify). A plain "lang" attribute means
 * nothing in disco#info, so it is renamed back, on the element and its
 * descendants (bounded depth), before serializing. */
static void restore_xml_lang(xmpp_stanza_t *s, int depth)
{
    if (depth > 16 || !xmpp_stanza_is_tag(s))
        return;
    const char *lang = xmpp_stanza_get_attribute(s, "lang");
    if (lang && xmpp_stanza_get_attribute(s, "xml:lang") == NULL) {
        char *v = xstrdup(lang); /* the attribute is freed by the delete */
        xmpp_stanza_set_attribute(s, "xml:lang", v);
        xmpp_stanza_del_attribute(s, "lang");
        free(v);
    }
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(s); c; c = xmpp_stanza_get_next(c))
        restore_xml_lang(c, depth + 1);
}

char *stanza_child_text(xmpp_stanza_t *iq, const char *ns, size_t max_bytes,
                        bool *too_large)
{
    *too_large = false;
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_ns(iq, ns);
    if (q == NULL)
        return NULL;
    restore_xml_lang(q, 0);
    char *text = NULL;
    size_t len = 0;
    if (xmpp_stanza_to_text(q, &text, &len) != XMPP_EOK || text == NULL)
        return NULL;
    char *copy = NULL;
    if (len > max_bytes)
        *too_large = true;
    else
        copy = xstrndup(text, len);
    xmpp_free(xmpp_stanza_get_context(q), text);
    return copy;
}

struct disco_info *stanza_disco_info(xmpp_stanza_t *iq,
                                     const struct disco_limits *lim,
                                     char **xml_out, struct parse_err *err)
{
    if (lim == NULL)
        lim = &disco_limits_default;
    bool big;
    char *xml = stanza_child_text(iq, DISCO_NS_INFO, lim->max_input, &big);
    if (xml == NULL) {
        err->code = big ? DISCO_ERR_TOO_LARGE : DISCO_ERR_NO_QUERY;
        snprintf(err->msg, sizeof err->msg, "%s",
                 big ? "disco#info answer larger than the limit"
                     : "no disco#info query in the answer");
        return NULL;
    }
    struct disco_info *info = disco_parse(xml, strlen(xml), lim, err);
    if (info && xml_out)
        *xml_out = xml;
    else
        free(xml);
    return info;
}

bool stanza_version(xmpp_stanza_t *iq, const struct disco_limits *lim,
                    struct softinfo_version *v, struct parse_err *err)
{
    if (lim == NULL)
        lim = &disco_limits_default;
    bool big;
    char *xml = stanza_child_text(iq, "jabber:iq:version", lim->max_input, &big);
    if (xml == NULL) {
        memset(v, 0, sizeof *v);
        err->code = big ? DISCO_ERR_TOO_LARGE : DISCO_ERR_NO_QUERY;
        snprintf(err->msg, sizeof err->msg, "%s",
                 big ? "version answer larger than the limit"
                     : "no version query in the answer");
        return false;
    }
    bool ok = softinfo_version_parse(xml, strlen(xml), lim, v, err);
    free(xml);
    return ok;
}

static char *bounded_attr(xmpp_stanza_t *s, const char *name)
{
    const char *v = xmpp_stanza_get_attribute(s, name);
    if (v == NULL || strlen(v) > MAX_ATTR)
        return NULL;
    return xstrdup(v);
}

bool stanza_disco_items(xmpp_stanza_t *iq, size_t max, struct disco_items *out)
{
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_ns(iq, NS_ITEMS);
    if (q == NULL)
        return false;
    free(out->rsm_last);
    out->rsm_last = NULL;
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(q); c;
         c = xmpp_stanza_get_next(c)) {
        const char *name = xmpp_stanza_is_tag(c) ? xmpp_stanza_get_name(c) : NULL;
        if (name == NULL)
            continue;
        if (strcmp(name, "item") == 0) {
            char *jid = bounded_attr(c, "jid");
            if (jid == NULL || *jid == '\0' || out->n >= max) {
                free(jid);
                out->dropped++;
                continue;
            }
            out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
            struct disco_item *it = &out->items[out->n++];
            it->jid = jid;
            it->node = bounded_attr(c, "node");
            it->name = bounded_attr(c, "name");
        } else if (strcmp(name, "set") == 0 && xmpp_stanza_get_ns(c) &&
                   strcmp(xmpp_stanza_get_ns(c), NS_RSM) == 0) {
            xmpp_stanza_t *last = xmpp_stanza_get_child_by_name(c, "last");
            xmpp_stanza_t *count = xmpp_stanza_get_child_by_name(c, "count");
            char *t = last ? xmpp_stanza_get_text(last) : NULL;
            if (t && strlen(t) <= MAX_ATTR && *t)
                out->rsm_last = xstrdup(t);
            if (t)
                xmpp_free(xmpp_stanza_get_context(last), t);
            t = count ? xmpp_stanza_get_text(count) : NULL;
            if (t) {
                char *end;
                long v = strtol(t, &end, 10);
                out->rsm_count = (*end == '\0' && v >= 0) ? v : -1;
                xmpp_free(xmpp_stanza_get_context(count), t);
            }
        }
    }
    return true;
}

void disco_items_free(struct disco_items *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].jid);
        free(d->items[i].node);
        free(d->items[i].name);
    }
    free(d->items);
    free(d->rsm_last);
    memset(d, 0, sizeof *d);
}
