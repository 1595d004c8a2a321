/*
 * What one population client serves and advertises: the disco#info
 * content built from its profile, XEP-0232 software info and misbehaviour,
 * the XEP-0115 ver it advertises (computed with the protocol core, with
 * the buggy variant when the behaviour asks for one), its XEP-0390
 * sha-256 hash, and the verification outcome a correct verifier must find
 * (contract vocabulary of lib/caps.h). Pure: no network, no libstrophe.
 */
#ifndef XC_POP_CONTENT_H
#define XC_POP_CONTENT_H

#include <stdbool.h>

#include "caps.h"
#include "disco.h"
#include "hash.h"
#include "plan.h"

#define POP_POISON_PREFIX "urn:xnet:poison:"
#define POP_HUGE_PREFIX "urn:xnet:huge:"

struct pop_content {
    struct disco_info *served; /* answered for node#ver, "" and the caps2
                                  node; owned */
    char *query_xml;           /* served as a <query/> without node; owned */
    char ver[HASH_B64_MAX];    /* advertised sha-1 ver */
    char caps2[HASH_B64_MAX];  /* advertised sha-256 (XEP-0390), "" if the
                                  client has none */
    const char *outcome;       /* expected caps_outcome name; static */
    const char *matched_by;    /* expected method name, NULL = none */
    const char *error;         /* expected caps_error name or NULL */
};

/* Builds the content of cl. Returns false with err set if a hash could not
 * be computed. On success the caller frees with pop_content_free(). */
bool pop_content_build(const struct pop_client *cl, struct pop_content *out,
                       struct parse_err *err) MUST_CHECK;
/* Frees what pop_content_build() allocated; accepts a zeroed struct. */
void pop_content_free(struct pop_content *c);

#endif
