/*
 * XEP-0390 Entity Capabilities 2.0 (ecaps2): the byte-exact hash function
 * input of section 4.1 (separators US 0x1f, RS 0x1e, GS 0x1d, FS 0x1c;
 * features, then identities with the implicit xml:lang, then extended
 * forms with FORM_TYPE as an ordinary field; i;octet sort of each string
 * including its trailing separator), its hashes, verification of a
 * published hash, and "urn:xmpp:caps#ALGO.B64" hash nodes.
 */
#ifndef XC_CAPS2_H
#define XC_CAPS2_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "common.h"
#include "disco.h"
#include "hash.h"

#define CAPS2_NS "urn:xmpp:caps"

/* Why no input can be built (s4.1 step 1). */
enum caps2_error {
    CAPS2_ERR_NONE,          /* NULL name */
    CAPS2_ERR_FORBIDDEN,     /* "forbidden-content": query holds other
                                elements than identity/feature/x */
    CAPS2_ERR_FORM_REPORTED, /* "form-reported": <reported/> or <item/> */
    CAPS2_ERR_FORM_TYPE,     /* "form-type": form breaks XEP-0068 rules
                                (no hidden FORM_TYPE with one value, or
                                not type="result") */
    CAPS2_ERR__COUNT
};

enum caps2_outcome {
    CAPS2_VALID,            /* "valid" */
    CAPS2_MISMATCH,         /* "mismatch" */
    CAPS2_ERROR,            /* "error": see enum caps2_error */
    CAPS2_UNSUPPORTED_HASH, /* "unsupported-hash" */
    CAPS2_UNPARSABLE,       /* "unparsable" */
    CAPS2_OUTCOME__COUNT
};

/* Stable names; caps2_error_name(CAPS2_ERR_NONE) is NULL.
 * caps2_error_text() is a sentence for humans. */
const char *caps2_error_name(enum caps2_error e);
const char *caps2_error_text(enum caps2_error e);
const char *caps2_outcome_name(enum caps2_outcome o);
bool caps2_outcome_parse(const char *s, enum caps2_outcome *out) MUST_CHECK;

/* Appends the s4.1 hash function input to out (not reset first); on an
 * error appends nothing and returns it. */
enum caps2_error caps2_input(const struct disco_info *info, struct buf *out);
/* base64(hash(input)) into out; returns the error (out "" then) or
 * CAPS2_ERR_NONE. *ok is false if the algorithm is unavailable. */
enum caps2_error caps2_hash(const struct disco_info *info, enum hash_algo a,
                            char out[HASH_B64_MAX], bool *ok);

/* Verifies a published (algo name, base64 value) against info. info NULL
 * means unparsable. *err (may be NULL) receives the input error. */
enum caps2_outcome caps2_verify(const struct disco_info *info, const char *algo,
                                const char *b64, enum caps2_error *err);

/* Returns a new "urn:xmpp:caps#ALGO.B64" string; caller frees with free(). */
char *caps2_hash_node(const char *algo, const char *b64);
/* Decomposes a hash node at its LAST '.' (algo names contain dots and
 * dashes). On success *algo / *b64 point into node with lengths
 * *algo_len / *b64_len. False if node is not of this form. */
bool caps2_hash_node_parse(const char *node, const char **algo,
                           size_t *algo_len, const char **b64,
                           size_t *b64_len) MUST_CHECK;

#endif
