/*
 * Schema migrations: applies the numbered SQL files compiled into the
 * program (sql_embedded.h) in order, each in its own transaction together
 * with its schema_migrations row (version, name, applied_at, checksum =
 * hex SHA-256 of the file). A session advisory lock serialises concurrent
 * runs. Refuses a database that records a version this program does not
 * know (it is newer) or whose applied migration has another checksum.
 * Forward-only: there is no "down".
 */
#ifndef XC_MIGRATE_H
#define XC_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common.h"
#include "sql_embedded.h"

struct pg_conn;

/* The advisory lock key taken by migrate_apply() ("xcensus" in ASCII). */
#define MIGRATE_LOCK_KEY "33886284501185907"

enum migrate_state {
    MIGRATE_CURRENT,  /* every known migration applied, nothing unknown */
    MIGRATE_PENDING,  /* some known migrations not applied yet */
    MIGRATE_NEWER,    /* the database has a version this program lacks */
    MIGRATE_MODIFIED, /* an applied migration's checksum differs */
    MIGRATE_ERROR,    /* a database error (logged) */
    MIGRATE__COUNT
};

/* Stable name: "current", "pending", "newer", "modified", "error". */
const char *migrate_state_name(enum migrate_state s);

/* What migrate_apply() / migrate_check() found. */
struct migrate_report {
    int db_version;     /* highest applied version, 0 if none */
    int known_version;  /* highest version in the list */
    size_t applied_now; /* migrations applied by this call */
    size_t pending;     /* known migrations not applied (after the call) */
    int bad_version;    /* the newer or modified version, else 0 */
    char msg[512];      /* why it failed, "" on success */
};

/* Writes the hex SHA-256 of sql into out. */
void migrate_checksum(const char *sql, char out[65]);

/* Checks the database against list (sorted by version) without changing
 * it; an absent schema_migrations table means everything is pending. */
enum migrate_state migrate_check(struct pg_conn *c,
                                 const struct sql_migration *list, size_t n,
                                 struct migrate_report *rep);

/* Applies every pending migration of list, in order, under the advisory
 * lock; each in one transaction with its schema_migrations row. Returns
 * MIGRATE_CURRENT on success (including "nothing to do"), otherwise the
 * state that stopped it, with rep->msg explaining. */
enum migrate_state migrate_apply(struct pg_conn *c,
                                 const struct sql_migration *list, size_t n,
                                 struct migrate_report *rep);

/* Prints one line per migration (applied with its time, or pending) and
 * any unknown version found in the database; returns the state. */
enum migrate_state migrate_print_status(struct pg_conn *c,
                                        const struct sql_migration *list,
                                        size_t n, FILE *out);

/* For commands that need the schema: true if it is current; otherwise
 * logs one clear line ("run xcensus migrate" or "newer") and returns
 * false. */
bool migrate_require_current(struct pg_conn *c) MUST_CHECK;

#endif
