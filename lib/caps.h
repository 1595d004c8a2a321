/*
 * XEP-0115 Entity Capabilities: the section 5.1 verification string S,
 * its hash for every algorithm of hash.h, and the section 5.4 processing
 * of an advertised (hash, ver) against a disco#info result, with the
 * outcome vocabulary stored in the database. Besides the text of the
 * XEP ("strict") it reproduces what deployed software computes instead
 * ("lenient": duplicates kept, and named variants), so that a
 * mismatching ver can be attributed or flagged as possible poisoning.
 *
 * Variants (stable names, from SPECS.md "Escaping: what the text says"):
 *   escape-lt            '<' in a factor written as "&lt;"
 *                        (Conversations/Snikket, Monal, Dino)
 *   escape-xml           '&' '<' '>' as &amp; &lt; &gt;
 *                        (aioxmpp, xnyhps/capsdb verify.py)
 *   formless-forms       forms without FORM_TYPE hashed with an empty
 *                        FORM_TYPE factor (Conversations 2025)
 *   prosody-formless     forms without FORM_TYPE hashed without the
 *                        FORM_TYPE factor, hidden not checked (Prosody)
 *   non-hidden-form-type forms whose FORM_TYPE is not type="hidden", or
 *                        not of type result, hashed too (slixmpp,
 *                        Prosody)
 *   slixmpp-empty-field  a field without <value/> adds "var<<" (slixmpp)
 *   dino-empty-lang      identities always written with empty xml:lang
 *                        (Dino)
 *   string-identity-sort identities sorted as formatted "c/t/l/n"
 *                        strings instead of (category, type, lang)
 *                        (slixmpp, capsdb verify.py)
 *   utf16-order          sorting by UTF-16 code units (Java/JS: Smack,
 *                        Conversations, converse.js)
 *   dedup                duplicates dropped before hashing: features
 *                        and forms (same FORM_TYPE) once each, one
 *                        identity per (category, type, lang) whatever
 *                        the name (Smack TreeSet; Dino Set)
 * Every variant is the strict computation with one change, except that
 * duplicates are kept as received (as lenient does).
 */
#ifndef XC_CAPS_H
#define XC_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"
#include "disco.h"
#include "hash.h"

/* XEP-0115 s5.4 outcome; names are stored in the database. */
enum caps_outcome {
    CAPS_VALID,            /* "valid": well-formed, strict S hashes to ver */
    CAPS_ILL_FORMED,       /* "ill-formed": see enum caps_error */
    CAPS_MISMATCH,         /* "mismatch": well-formed, strict hash != ver */
    CAPS_UNSUPPORTED_HASH, /* "unsupported-hash": algorithm not available */
    CAPS_LEGACY,           /* "legacy": no hash attribute (pre-1.4 ver) */
    CAPS_UNPARSABLE,       /* "unparsable": the disco#info XML did not parse */
    CAPS_OUTCOME__COUNT
};

/* Why a result is ill-formed (XEP-0115 s5.4 step 3). */
enum caps_error {
    CAPS_ERR_NONE,                      /* NULL name */
    CAPS_ERR_DUPLICATE_IDENTITY,        /* "duplicate-identity" */
    CAPS_ERR_DUPLICATE_FEATURE,         /* "duplicate-feature" */
    CAPS_ERR_DUPLICATE_FORM_TYPE,       /* "duplicate-form-type" */
    CAPS_ERR_FORM_TYPE_MULTIPLE_VALUES, /* "form-type-multiple-values" */
    CAPS_ERR__COUNT
};

/* How S is computed; the name is what `matched_by` stores. */
enum caps_method {
    CAPS_M_STRICT,           /* "strict": XEP-0115 s5.1 text */
    CAPS_M_LENIENT,          /* "lenient": strict with duplicates kept */
    CAPS_M_ESCAPE_LT,        /* "escape-lt" */
    CAPS_M_ESCAPE_XML,       /* "escape-xml" */
    CAPS_M_FORMLESS_FORMS,   /* "formless-forms" */
    CAPS_M_PROSODY_FORMLESS, /* "prosody-formless" */
    CAPS_M_NONHIDDEN_FORMS,  /* "non-hidden-form-type" */
    CAPS_M_EMPTY_FIELD,      /* "slixmpp-empty-field" */
    CAPS_M_DINO_EMPTY_LANG,  /* "dino-empty-lang" */
    CAPS_M_STRING_SORT,      /* "string-identity-sort" */
    CAPS_M_UTF16_ORDER,      /* "utf16-order" */
    CAPS_M_DEDUP,            /* "dedup" */
    CAPS_M__COUNT
};
#define CAPS_M_FIRST_VARIANT CAPS_M_ESCAPE_LT

/* Stable names; caps_error_name(CAPS_ERR_NONE) is NULL. */
const char *caps_outcome_name(enum caps_outcome o);
const char *caps_error_name(enum caps_error e);
const char *caps_method_name(enum caps_method m);
/* Parse the names above back (exact match). */
bool caps_outcome_parse(const char *s, enum caps_outcome *out) MUST_CHECK;
bool caps_error_parse(const char *s, enum caps_error *out) MUST_CHECK;
bool caps_method_parse(const char *s, enum caps_method *out) MUST_CHECK;

/* Checks the s5.4 well-formedness rules on the forms that are not
 * ignored; returns the first violation found in the order identities,
 * features, forms (CAPS_ERR_NONE if well-formed). */
enum caps_error caps_check(const struct disco_info *info);

/* Appends S computed with method m to out (out is not reset first). If
 * notes is non-NULL, processing notes ("form ignored: no FORM_TYPE
 * field", ...) are appended to it, one per line, each ending in '\n'. */
void caps_build_s(const struct disco_info *info, enum caps_method m,
                  struct buf *out, struct buf *notes);
/* Computes base64(hash(S)) with method m into out. False if the algorithm
 * is unavailable. */
bool caps_ver_compute(const struct disco_info *info, enum hash_algo a,
                      enum caps_method m, char out[HASH_B64_MAX]) MUST_CHECK;

/* Flags for caps_verify(). */
enum {
    CAPS_VERIFY_KEEP_S = 1 << 0,       /* fill s_strict and s_lenient */
    CAPS_VERIFY_ALL_VARIANTS = 1 << 1, /* compute lenient and every
                                          variant even when strict matches */
};

/* Result of caps_verify(). Initialise with caps_result_init(); may be
 * reused for many calls (buffers are kept); free with caps_result_free(). */
struct caps_result {
    enum caps_outcome outcome;
    enum caps_error error;           /* CAPS_ERR_NONE unless ill-formed */
    enum hash_algo algo;             /* meaningful when the hash is supported */
    int matched_by;                  /* enum caps_method, or -1: none matched
                                        (possible poisoning / unknown generator) */
    char hash_strict[HASH_B64_MAX];  /* "" when not computed */
    char hash_lenient[HASH_B64_MAX]; /* "" when not computed */
    uint32_t variants_matched;       /* bit (1u << m) for each method m whose
                                        hash equals ver (strict/lenient too) */
    uint32_t variants_computed;      /* bit for each method computed */
    struct buf s_strict;             /* S strict (with KEEP_S), else empty */
    struct buf s_lenient;            /* S lenient (with KEEP_S), else empty */
    struct buf notes; /* processing notes, '\n'-terminated lines */
};

void caps_result_init(struct caps_result *r);
void caps_result_free(struct caps_result *r);
/* Returns caps_method_name(r->matched_by) or NULL when none matched. */
const char *caps_result_matched_by(const struct caps_result *r);

/* XEP-0115 s5.4 processing of an advertised hash/ver against info:
 *   hash NULL or ""          -> legacy (nothing computed)
 *   hash unknown/unavailable -> unsupported-hash
 *   info NULL                -> unparsable
 *   else ill-formed (error set), mismatch or valid, from the strict
 *   computation. Strict is computed first; lenient and the variants only
 *   when strict does not reproduce ver (or with CAPS_VERIFY_ALL_VARIANTS).
 *   matched_by is the first method in enum order whose hash equals ver
 *   (strict is skipped for ill-formed results).
 * ver may be NULL (nothing can match). Returns r->outcome. */
enum caps_outcome caps_verify(const struct disco_info *info, const char *hash,
                              const char *ver, unsigned flags,
                              struct caps_result *r);

/* Convenience for raw XML (e.g. a capsdb line): parses with lim (NULL =
 * default); on parse failure the outcome is unparsable and the parse
 * error is copied to *err when err is non-NULL. */
enum caps_outcome caps_verify_xml(const char *xml, size_t len,
                                  const struct disco_limits *lim,
                                  const char *hash, const char *ver,
                                  unsigned flags, struct caps_result *r,
                                  struct parse_err *err);

/* Splits a disco node "NODE#VER" at the last '#'. Returns false if there
 * is no '#'. *node_len receives the length of NODE, *ver points into s. */
bool caps_node_split(const char *s, size_t *node_len, const char **ver);

#endif
