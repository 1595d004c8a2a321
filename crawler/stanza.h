/*
 * From libstrophe stanzas to the protocol core's plain structs. Replies are
 * remote input: they are serialized and handed to the hardened, fuzzed
 * parsers of lib/ (disco_parse, softinfo_version_parse) with explicit
 * limits, rather than walked a second way here. disco#items are read
 * directly with a bound on the number of items.
 */
#ifndef XC_STANZA_H
#define XC_STANZA_H

#include <stdbool.h>
#include <stddef.h>

#include <strophe.h>

#include "common.h"
#include "disco.h"
#include "softinfo.h"

/* The first element child of stanza, or NULL. */
xmpp_stanza_t *stanza_first_element(xmpp_stanza_t *stanza);

/* The defined condition of an <iq type='error'/> (e.g.
 * "remote-server-not-found"), written into out; "undefined-condition" when
 * missing or malformed. */
void stanza_error_condition(xmpp_stanza_t *iq, char *out, size_t n);

/* Serializes the child of iq with namespace ns; returns a new string
 * (caller frees with free()) or NULL if there is no such child or it is
 * longer than max_bytes (then *too_large is set). */
char *stanza_child_text(xmpp_stanza_t *iq, const char *ns, size_t max_bytes,
                        bool *too_large);

/* Parses the disco#info <query/> of a result iq with lim. Returns a new
 * disco_info (caller frees) and, if xml_out is non-NULL, the query as text
 * (caller frees); NULL with err set otherwise. */
struct disco_info *stanza_disco_info(xmpp_stanza_t *iq,
                                     const struct disco_limits *lim,
                                     char **xml_out, struct parse_err *err);

/* Parses the jabber:iq:version <query/> of a result iq. */
bool stanza_version(xmpp_stanza_t *iq, const struct disco_limits *lim,
                    struct softinfo_version *v, struct parse_err *err) MUST_CHECK;

struct disco_item {
    char *jid;
    char *node; /* NULL if absent */
    char *name; /* NULL if absent */
};

struct disco_items {
    struct disco_item *items;
    size_t n;
    size_t dropped;  /* over the bound, or without a usable jid */
    char *rsm_last;  /* XEP-0059 <set><last/>, NULL if absent */
    long rsm_count;  /* <set><count/>, -1 if absent */
};

/* Appends the <item/>s of a disco#items result iq to out, keeping at most
 * max items in out in all, and replaces out's RSM fields with this page's
 * (initialize out to zero with rsm_count = -1). Returns false if the iq
 * holds no disco#items query. */
bool stanza_disco_items(xmpp_stanza_t *iq, size_t max, struct disco_items *out);
void disco_items_free(struct disco_items *d);

#endif
