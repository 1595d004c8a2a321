/*
 * Schema migrations: compares what schema_migrations records with the
 * list compiled into the program and applies what is missing, one
 * transaction per file, under a session advisory lock so that several
 * `xcensus migrate` at once are safe (the second waits, then finds nothing
 * to do). Never edits or reverts an applied migration.
 */
#include "migrate.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "pg.h"
#include "xalloc.h"

static const char *const state_names[] = {
    [MIGRATE_CURRENT] = "current", [MIGRATE_PENDING] = "pending",
    [MIGRATE_NEWER] = "newer",     [MIGRATE_MODIFIED] = "modified",
    [MIGRATE_ERROR] = "error",
};
_Static_assert(ARRAY_LEN(state_names) == MIGRATE__COUNT, "names table");

static const char create_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " checksum text NOT NULL)";

const char *migrate_state_name(enum migrate_state s)
{
    ASSERT((unsigned)s < MIGRATE__COUNT);
    return state_names[s];
}

void migrate_checksum(const char *sql, char out[65])
{
    unsigned char d[HASH_MAX_LEN];
    if (!hash_digest(HASH_SHA256, sql, strlen(sql), d))
        DIE_BUG("sha-256 unavailable");
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static const struct sql_migration *find(const struct sql_migration *list,
                                        size_t n, int version)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].version == version)
            return &list[i];
    return NULL;
}

/* Reads schema_migrations (NULL result with *missing when the table does
 * not exist yet). */
static struct pg_result *read_applied(struct pg_conn *c, bool *missing,
                                      struct pg_err *err)
{
    bool found;
    *missing = false;
    char *reg =
        pg_query_value(c, "SELECT to_regclass('schema_migrations')::text", 0,
                       NULL, &found, err);
    if (!found) {
        free(reg);
        if (err->sqlstate[0] || err->msg[0])
            return NULL;
        *missing = true;
        return NULL;
    }
    free(reg);
    return pg_query(c,
                    "SELECT version, name, checksum, "
                    "to_char(applied_at, 'YYYY-MM-DD HH24:MI:SSOF') "
                    "FROM schema_migrations ORDER BY version",
                    0, NULL, err);
}

/* Compares the applied rows with list; fills rep. */
static enum migrate_state compare(struct pg_result *res,
                                  const struct sql_migration *list, size_t n,
                                  struct migrate_report *rep)
{
    size_t applied_known = 0;
    enum migrate_state st = MIGRATE_CURRENT;
    for (int i = 0; res && i < pg_nrows(res); i++) {
        int v = atoi(pg_value(res, i, 0));
        if (v > rep->db_version)
            rep->db_version = v;
        const struct sql_migration *m = find(list, n, v);
        if (!m) {
            if (st == MIGRATE_CURRENT || st == MIGRATE_PENDING) {
                st = MIGRATE_NEWER;
                rep->bad_version = v;
                snprintf(rep->msg, sizeof rep->msg,
                         "database has migration %d (\"%s\") which this "
                         "program does "
                         "not know: it was migrated by a newer xcensus (this "
                         "one knows "
                         "up to %d)",
                         v, pg_value(res, i, 1), rep->known_version);
            }
            continue;
        }
        applied_known++;
        char sum[65];
        migrate_checksum(m->sql, sum);
        if (strcmp(sum, pg_value(res, i, 2)) != 0 && st != MIGRATE_NEWER &&
            st != MIGRATE_MODIFIED) {
            st = MIGRATE_MODIFIED;
            rep->bad_version = v;
            snprintf(
                rep->msg, sizeof rep->msg,
                "migration %d (\"%s\") was changed after it was applied "
                "(checksum %.12s... in the database, %.12s... in this program)",
                v, m->name, pg_value(res, i, 2), sum);
        }
    }
    rep->pending = n - applied_known;
    if (st == MIGRATE_CURRENT && rep->pending > 0)
        st = MIGRATE_PENDING;
    return st;
}

static void init_report(struct migrate_report *rep,
                        const struct sql_migration *list, size_t n)
{
    memset(rep, 0, sizeof *rep);
    for (size_t i = 0; i < n; i++)
        if (list[i].version > rep->known_version)
            rep->known_version = list[i].version;
}

static enum migrate_state db_error(struct migrate_report *rep, const char *what,
                                   const struct pg_err *err)
{
    int n; /* a truncated message is acceptable */
    if (err->sqlstate[0])
        n = snprintf(rep->msg, sizeof rep->msg, "%s: %s (SQLSTATE %s)", what,
                     err->msg, err->sqlstate);
    else
        n = snprintf(rep->msg, sizeof rep->msg, "%s: %s", what, err->msg);
    if (n < 0)
        rep->msg[0] = '\0';
    return MIGRATE_ERROR;
}

enum migrate_state migrate_check(struct pg_conn *c,
                                 const struct sql_migration *list, size_t n,
                                 struct migrate_report *rep)
{
    struct pg_err err = {{0}, {0}};
    bool missing;
    init_report(rep, list, n);
    struct pg_result *res = read_applied(c, &missing, &err);
    if (!res && !missing)
        return db_error(rep, "cannot read schema_migrations", &err);
    enum migrate_state st = compare(res, list, n, rep);
    pg_clear(res);
    return st;
}

/* Applies one migration in its own transaction. */
static bool apply_one(struct pg_conn *c, const struct sql_migration *m,
                      struct migrate_report *rep)
{
    struct pg_err err = {{0}, {0}};
    char sum[65], ver[16];
    migrate_checksum(m->sql, sum);
    snprintf(ver, sizeof ver, "%d", m->version);
    const char *params[] = {ver, m->name, sum};

    if (!pg_exec(c, "BEGIN", &err))
        goto fail;
    if (!pg_exec(c, m->sql, &err))
        goto fail;
    struct pg_result *r =
        pg_query(c,
                 "INSERT INTO schema_migrations (version, name, checksum) "
                 "VALUES ($1::integer, $2, $3)",
                 3, params, &err);
    if (!r)
        goto fail;
    pg_clear(r);
    if (!pg_exec(c, "COMMIT", &err))
        goto fail;
    log_info("applied migration %s", m->name);
    return true;
fail:;
    char what[128];
    snprintf(what, sizeof what, "migration %s failed", m->name);
    db_error(rep, what, &err);
    struct pg_err ignore;
    if (!pg_exec(c, "ROLLBACK", &ignore))
        log_debug("rollback failed: %s", ignore.msg);
    return false;
}

enum migrate_state migrate_apply(struct pg_conn *c,
                                 const struct sql_migration *list, size_t n,
                                 struct migrate_report *rep)
{
    struct pg_err err = {{0}, {0}};
    init_report(rep, list, n);
    if (!pg_exec(c, "SET client_min_messages = warning", &err))
        return db_error(rep, "cannot configure session", &err);
    /* the lock is held until unlocked below or the session ends */
    if (!pg_exec(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", &err))
        return db_error(rep, "cannot take the migration lock", &err);

    enum migrate_state st = MIGRATE_ERROR;
    struct pg_result *res = NULL;
    if (!pg_exec(c, create_table_sql, &err)) {
        st = db_error(rep, "cannot create schema_migrations", &err);
        goto out;
    }
    bool missing;
    res = read_applied(c, &missing, &err);
    if (!res) {
        st = db_error(rep, "cannot read schema_migrations", &err);
        goto out;
    }
    st = compare(res, list, n, rep);
    if (st != MIGRATE_PENDING)
        goto out;
    for (size_t i = 0; i < n; i++) {
        bool done = false;
        for (int k = 0; k < pg_nrows(res); k++)
            if (atoi(pg_value(res, k, 0)) == list[i].version)
                done = true;
        if (done)
            continue;
        if (list[i].version < rep->db_version)
            log_warn("applying migration %s out of order (the database is "
                     "already at %d)",
                     list[i].name, rep->db_version);
        if (!apply_one(c, &list[i], rep)) {
            st = MIGRATE_ERROR;
            goto out;
        }
        rep->applied_now++;
        rep->pending--;
        if (list[i].version > rep->db_version)
            rep->db_version = list[i].version;
    }
    st = MIGRATE_CURRENT;
out:
    pg_clear(res);
    /* failing to unlock is harmless: the lock ends with the session */
    struct pg_err ignore;
    if (!pg_exec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", &ignore))
        log_debug("advisory unlock failed: %s", ignore.msg);
    return st;
}

enum migrate_state migrate_print_status(struct pg_conn *c,
                                        const struct sql_migration *list,
                                        size_t n, FILE *out)
{
    struct pg_err err = {{0}, {0}};
    struct migrate_report rep;
    bool missing;
    init_report(&rep, list, n);
    struct pg_result *res = read_applied(c, &missing, &err);
    if (!res && !missing) {
        db_error(&rep, "cannot read schema_migrations", &err);
        log_error("%s", rep.msg);
        return MIGRATE_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        const char *when = NULL;
        for (int k = 0; res && k < pg_nrows(res); k++)
            if (atoi(pg_value(res, k, 0)) == list[i].version)
                when = pg_value(res, k, 3);
        if (when)
            fprintf(out, "%04d  %-32s applied %s\n", list[i].version,
                    list[i].name, when);
        else
            fprintf(out, "%04d  %-32s pending\n", list[i].version,
                    list[i].name);
    }
    for (int k = 0; res && k < pg_nrows(res); k++) {
        int v = atoi(pg_value(res, k, 0));
        if (!find(list, n, v))
            fprintf(out, "%04d  %-32s applied %s, unknown to this program\n", v,
                    pg_value(res, k, 1), pg_value(res, k, 3));
    }
    enum migrate_state st = compare(res, list, n, &rep);
    pg_clear(res);
    fprintf(out, "schema: %s (database at %d, program knows %d)\n",
            migrate_state_name(st), rep.db_version, rep.known_version);
    if (rep.msg[0])
        fprintf(out, "%s\n", rep.msg);
    return st;
}

bool migrate_require_current(struct pg_conn *c)
{
    struct migrate_report rep;
    enum migrate_state st =
        migrate_check(c, sql_migrations, sql_migrations_count, &rep);
    switch (st) {
    case MIGRATE_CURRENT:
        return true;
    case MIGRATE_PENDING:
        log_error(
            "database schema is not up to date (%zu migration(s) pending): "
            "run \"xcensus migrate\" first",
            rep.pending);
        return false;
    default:
        log_error("%s", rep.msg);
        return false;
    }
}
