/*
 * The test network's plan.json as read by xc-population (format in
 * /work/notes/testnet-contract.md): capability profiles, clients with
 * their login, rooms, rooms to create, XEP-0232 software info and
 * misbehaviour. Also the behaviour vocabulary ("poison",
 * "variant:escape-lt", "slow-answer:MS", "huge:N", ...) and "--part I/N"
 * selection. Pure: no network, no libstrophe.
 */
#ifndef XC_POP_PLAN_H
#define XC_POP_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "caps.h"
#include "common.h"

enum pop_bkind {
    POP_B_NORMAL,         /* "normal" */
    POP_B_POISON,         /* "poison": ver of content it does not serve */
    POP_B_VARIANT,        /* "variant:X": ver made with buggy variant X */
    POP_B_LENIENT_DUPS,   /* "lenient-dups": duplicate feature, kept */
    POP_B_NO_ANSWER,      /* "no-answer": disco#info ignored */
    POP_B_ERROR_ANSWER,   /* "error-answer": disco#info gets an error */
    POP_B_SLOW_ANSWER,    /* "slow-answer:MS" */
    POP_B_HUGE,           /* "huge:N": N extra features */
    POP_B_FLAP,           /* "flap": presence off/on every few seconds */
    POP_B_LEAVE_ON_QUERY, /* "leave-on-query": leaves rooms when queried */
    POP_B__COUNT
};

struct pop_behaviour {
    enum pop_bkind kind;
    enum caps_method variant; /* POP_B_VARIANT: escape-lt, escape-xml or
                                 formless-forms */
    unsigned arg;             /* slow-answer: ms (<= 600000); huge: N
                                 (1..3000) */
};

/* Stable name of a kind ("normal", "poison", "variant", ...). */
const char *pop_bkind_name(enum pop_bkind k);

/* Parses a behaviour string; false with err set when unrecognized or out
 * of range. */
bool pop_behaviour_parse(const char *s, struct pop_behaviour *out,
                         struct parse_err *err) MUST_CHECK;

/* A capability set: the same fields as the JSON files of tests/data/clients. */
struct pop_profile {
    char *id;
    char *software;     /* may be NULL */
    char *version;      /* may be NULL */
    char *node;         /* caps node; "https://xcensus.invalid/unknown" if
                           absent */
    json_t *identities; /* arrays kept as JSON (owned references) */
    json_t *features;
    json_t *forms;
};

struct pop_create {
    char *room; /* room@service */
    bool public_room;
    bool members_only;
    char *password; /* NULL = none */
};

struct pop_client {
    unsigned id;
    unsigned part; /* 1-based, 0 if the plan has none */
    char *jid;     /* bare */
    char *password;
    char *host;
    unsigned port;
    char *resource;
    char *nick;
    const struct pop_profile *profile; /* borrowed from the plan */
    bool has_softinfo;
    char *os, *os_version, *sw, *sw_version; /* softinfo (NULL if none) */
    bool caps2;
    char *behaviour_str;
    struct pop_behaviour behaviour;
    char **rooms; /* rooms to be in (creates included) */
    size_t n_rooms;
    struct pop_create *creates;
    size_t n_creates;
};

struct pop_plan {
    long seed;
    unsigned parts; /* "parts" if present, else 0 */
    struct pop_profile *profiles;
    size_t n_profiles;
    struct pop_client *clients;
    size_t n_clients;
};

/* Parses plan JSON text. Returns a new plan (caller frees with
 * pop_plan_free()) or NULL with err set (err->msg names the client or
 * profile at fault). */
struct pop_plan *pop_plan_parse(const char *text, size_t len,
                                struct parse_err *err);
/* Reads and parses a file; NULL with err set on failure. */
struct pop_plan *pop_plan_load(const char *path, struct parse_err *err);
void pop_plan_free(struct pop_plan *plan);

/* Parses "I/N" (1 <= I <= N <= 10000). */
bool pop_part_parse(const char *s, unsigned *i, unsigned *n) MUST_CHECK;

/* True if client index idx (0-based, in plan order) belongs to part i of
 * n: its "part" field when the plan has one, else the contiguous block
 * [floor((i-1)*len/n), floor(i*len/n)). */
bool pop_in_part(const struct pop_plan *plan, size_t idx, unsigned i,
                 unsigned n);

/* The create entry of client cl for room, or NULL; borrowed. */
const struct pop_create *pop_client_creates(const struct pop_client *cl,
                                            const char *room);

#endif
