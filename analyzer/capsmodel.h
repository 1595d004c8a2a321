/*
 * The caps cache as an in-memory model: one entry per (algorithm, ver),
 * with its node, software facts, an interned feature set and identity
 * set, observation counts, and the sizes its content takes in the
 * representations real software uses. Built from parsed disco#info results
 * (lib/disco.h), whatever their origin (a crawl, an import, a synthetic
 * population), and queried the way caches are: exact lookup by
 * (algorithm, ver) or by node#ver, and searches by feature, by linear scan
 * or through an inverted index.
 *
 * The XEP-0232 counterfactual is computed when an entry is added: its ver
 * is recomputed with the software-information form removed, so the model
 * can say how many entries would collapse into one without XEP-0232.
 *
 * Entries are never removed; all memory is freed by capsmodel_free().
 */
#ifndef XC_CAPSMODEL_H
#define XC_CAPSMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disco.h"
#include "hash.h"
#include "softinfo.h"
#include "strtab.h"

#define CM_NONE UINT32_MAX

enum {
    CM_SOFTINFO = 1 << 0, /* carries a XEP-0232 softwareinfo form */
    CM_VERIFIED = 1 << 1, /* the caller says the ver was verified */
};

struct cm_entry {
    uint32_t key;        /* id in the key table: "ALGO VER" */
    uint32_t node;       /* string id of the caps node, CM_NONE if unknown */
    uint32_t software;   /* string id: XEP-0232 software, else the first
                            identity name, CM_NONE if neither */
    uint32_t version;    /* string id: XEP-0232 software_version, CM_NONE */
    uint32_t os;         /* string id: "os os_version" from XEP-0232, CM_NONE */
    uint32_t fset;       /* feature set id (capsmodel_fset) */
    uint32_t idset;      /* identity set id (string id of the sorted,
                            joined identities) */
    uint32_t stripped;   /* id in the stripped-key table: "ALGO VER'" where
                            VER' is the hash without the XEP-0232 form;
                            equals the own ver's string when no form */
    uint8_t algo;        /* enum hash_algo */
    uint8_t flags;       /* CM_* */
    uint32_t xml_bytes;  /* size of the disco#info XML as received/stored */
    uint32_t s_bytes;    /* size of the XEP-0115 verification string */
    uint64_t observations;
};

struct cm_fset {
    uint32_t *features; /* sorted ascending, distinct */
    uint32_t n;
    uint32_t entries;   /* entries using this set */
};

/* What one entry is made of. */
struct cm_input {
    enum hash_algo algo;
    const char *ver;
    const char *node;        /* NULL: unknown */
    const struct disco_info *info;
    uint64_t observations;   /* added up when the key is seen again */
    size_t xml_bytes;        /* 0: measured by serializing info */
    bool verified;
};

struct softinfo;

/* One entry as the database stores it (sql/0001_init.sql): already
 * verified, its features as model string ids (capsmodel_intern()), and
 * the XEP-0232 counterfactual worked out by the caller (analyzer/load.c
 * hashes the stored strict S with the form's part cut out), so nothing is
 * parsed again. */
struct cm_stored {
    enum hash_algo algo;
    const char *ver;
    const char *node;          /* NULL: unknown */
    uint64_t observations;
    bool verified;
    size_t xml_bytes;          /* bytes of the stored disco#info XML */
    size_t s_bytes;            /* bytes of the strict S */
    const uint32_t *features;  /* model string ids, any order */
    size_t n_features;
    const struct disco_identity *identities; /* document order */
    size_t n_identities;
    const struct softinfo *si; /* NULL or !present: no XEP-0232 form */
    const char *stripped_ver;  /* the ver without the form(s); NULL: ver */
    size_t form_s_bytes;       /* bytes the form(s) take in S */
    size_t form_xml_bytes;     /* bytes the form(s) add to the XML */
};

struct capsmodel;

/* Returns a new, empty model; caller frees with capsmodel_free(). */
struct capsmodel *capsmodel_new(void);
void capsmodel_free(struct capsmodel *m);

/* Adds an entry, or adds observations to the existing entry with the same
 * (algorithm, ver). Returns the entry index. */
uint32_t capsmodel_add(struct capsmodel *m, const struct cm_input *in);

/* The same from a stored entry (the fast loader's path): gives the same
 * entry as capsmodel_add() on the stored XML. */
uint32_t capsmodel_add_stored(struct capsmodel *m, const struct cm_stored *in);
/* capsmodel_add_stored() on rows[0..n) in order, the work shared between
 * the calling thread and a second one: the same model as the calls one by
 * one. The rows' strings and arrays must stay valid until it returns. */
void capsmodel_add_stored_many(struct capsmodel *m, const struct cm_stored *rows, size_t n);
/* A stored row worked out from a parsed disco#info the way capsmodel_add()
 * does it (features interned, S, XEP-0232 facts, counterfactual ver), to
 * go with stored rows into capsmodel_add_stored_many(); row points into
 * the struct and into in's strings and info, which must outlive it.
 * Release with capsmodel_prepared_free(). */
struct cm_prepared {
    struct cm_stored row;
    uint32_t *features;
    struct softinfo si;
    char stripped[HASH_B64_MAX];
};
void capsmodel_prepare(struct capsmodel *m, const struct cm_input *in, struct cm_prepared *p);
void capsmodel_prepared_free(struct cm_prepared *p);
/* Interns s among the model's strings (features, names); returns its id. */
uint32_t capsmodel_intern(struct capsmodel *m, const char *s);

size_t capsmodel_count(const struct capsmodel *m);
/* Distinct node#ver keys seen (an entry may be advertised under several
 * nodes). */
size_t capsmodel_nodever_count(const struct capsmodel *m);
/* Distinct caps nodes seen (over every node#ver key). */
size_t capsmodel_node_count(const struct capsmodel *m);
/* Borrowed; valid until the next capsmodel_add(). */
const struct cm_entry *capsmodel_entry(const struct capsmodel *m, uint32_t i);
const struct cm_fset *capsmodel_fset(const struct capsmodel *m, uint32_t id);
size_t capsmodel_fset_count(const struct capsmodel *m);
/* The model's interned strings (features, nodes, names). */
const struct strtab *capsmodel_strings(const struct capsmodel *m);
/* Number of distinct stripped keys (entries that remain without XEP-0232). */
size_t capsmodel_stripped_count(const struct capsmodel *m);
/* Bytes of the XML and of S of the cache without XEP-0232: one entry per
 * stripped key (its first entry), the forms' bytes taken off. */
void capsmodel_stripped_sizes(const struct capsmodel *m, uint64_t *xml_bytes,
                              uint64_t *s_bytes);
/* "ALGO VER" of entry i, and its key without XEP-0232 ("ALGO VER'").
 * capsmodel_key() rebuilds the text from the stored digest into a buffer
 * of the calling thread: valid until the next call in that thread;
 * capsmodel_stripped_key()'s is valid until capsmodel_free(). */
const char *capsmodel_key(const struct capsmodel *m, uint32_t i);
const char *capsmodel_stripped_key(const struct capsmodel *m, uint32_t i);

/* Exact lookups: entry index or CM_NONE. */
uint32_t capsmodel_lookup(const struct capsmodel *m, enum hash_algo algo,
                          const char *ver);
uint32_t capsmodel_lookup_nodever(const struct capsmodel *m, const char *node,
                                  const char *ver);

/* Builds (or rebuilds) the inverted index feature -> entries. */
void capsmodel_index_build(struct capsmodel *m);

/* Entries advertising every feature of vars[0..n) (n >= 1); writes up to
 * cap entry indexes (ascending) into out and returns how many match in
 * all. _scan walks every entry; _index intersects posting lists (call
 * capsmodel_index_build() first). */
size_t capsmodel_search_scan(const struct capsmodel *m, const char *const *vars,
                             size_t n, uint32_t *out, size_t cap);
size_t capsmodel_search_index(const struct capsmodel *m,
                              const char *const *vars, size_t n, uint32_t *out,
                              size_t cap);

/* Over the entries carrying a XEP-0232 form: how many, the mean bytes the
 * form adds to a serialized disco#info, and the mean bytes of the same
 * facts as a XEP-0092 answer's name, version and os text. */
void capsmodel_softinfo_sizes(const struct capsmodel *m, size_t *entries,
                              double *form_bytes, double *version_text_bytes);

/* Memory the model itself uses (the compact interned representation):
 * entries, feature sets, strings, lookup tables. */
size_t capsmodel_memory(const struct capsmodel *m);

#endif
