/*
 * Storage writer (see store.h and docs/STORE.md). Life of a batch:
 *
 *   OPEN (per kind, filled by puts) -seal-> MEM -submit-> INFLIGHT -> gone
 *                                            |  ^            | (transient
 *                                   (memory) v  | (replay)   |  SQL error)
 *                                           DISK <-----------+-> MEM
 *
 * Sealed batches wait in one FIFO (`queue`) whatever their place (memory,
 * spill file, or handed to pgasync), so replay keeps the order. At most
 * opts.inflight transactions are handed to the connection at once; all
 * else stays here, where it can be spilled. Consecutive batches that fit
 * together (joins()) go as one transaction, a single batch otherwise:
 *   INSERT INTO store_batches (their ids)     -- the idempotency keys
 *   CREATE TEMP TABLE IF NOT EXISTS st_...    -- stages, emptied at commit
 *   COPY st_... FROM STDIN                    -- one per non-empty stage
 *   INSERT ... SELECT ... ON CONFLICT ...     -- merges, in a fixed order
 * Interning (features, disco_contents, entities, caps entries) is done by
 * ON CONFLICT on the unique keys inside that transaction, never by reading
 * first, so several crawler processes may write at once; rows are inserted
 * in key order so that two writers lock in the same order.
 *
 * This file does no blocking I/O on the database; it does write spill
 * files synchronously (only during an outage, or on a drain that gives up).
 */
#include "store.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "caps.h"
#include "dataform.h"
#include "disco.h"
#include "hash.h"
#include "log.h"
#include "pgasync.h"
#include "softinfo.h"
#include "store_copy.h"
#include "xalloc.h"

/* --- names --------------------------------------------------------------- */

static const char *const kind_names[] = {
    [STORE_DISCO] = "disco",
    [STORE_ITEM] = "item",
    [STORE_VERSION] = "version",
    [STORE_OUTCOME] = "outcome",
    [STORE_CAPS_OBS] = "caps-obs",
    [STORE_CAPS_ENTRY] = "caps-entry",
    [STORE_CAPS2_OBS] = "caps2-obs",
    [STORE_CAPS2_ENTRY] = "caps2-entry",
    [STORE_SRV] = "srv",
    [STORE_STREAM] = "stream",
    [STORE_TLS] = "tls",
};
_Static_assert(ARRAY_LEN(kind_names) == STORE__KINDS, "names table");

const char *store_kind_name(enum store_kind k)
{
    return (unsigned)k < STORE__KINDS ? kind_names[k] : "?";
}

static const char *const entity_kind_names[] = {
    [STORE_ENT_UNKNOWN] = "unknown",     [STORE_ENT_SERVER] = "server",
    [STORE_ENT_COMPONENT] = "component", [STORE_ENT_MUC] = "muc",
    [STORE_ENT_ROOM] = "room",           [STORE_ENT_PUBSUB] = "pubsub",
    [STORE_ENT_UPLOAD] = "upload",       [STORE_ENT_PROXY] = "proxy",
    [STORE_ENT_GATEWAY] = "gateway",     [STORE_ENT_OTHER] = "other",
};
_Static_assert(ARRAY_LEN(entity_kind_names) == STORE_ENT__COUNT, "names table");

const char *store_entity_kind_name(enum store_entity_kind k)
{
    return (unsigned)k < STORE_ENT__COUNT ? entity_kind_names[k] : "?";
}

/* --- stage tables and merges --------------------------------------------- */

enum stage {
    ST_ENT,
    ST_CONT,
    ST_IDENT,
    ST_FEAT,
    ST_FORM,
    ST_FIELD,
    ST_VALUE,
    ST_SOFT,
    ST_CONTACT,
    ST_SNAP,
    ST_LINK,
    ST_VER,
    ST_OUT,
    ST_COBS,
    ST_CENT,
    ST_C2OBS,
    ST_C2ENT,
    ST_SRV,
    ST_STREAM,
    ST_TLS,
    ST__COUNT
};

static const struct {
    const char *name;
    const char *columns;
} stages[] = {
    [ST_ENT] = {"st_ent", "address text, node text, domain_id bigint, "
                          "kind text, seen timestamptz"},
    [ST_CONT] = {"st_cont", "digest text, xml text, identity_count int, "
                            "feature_count int, form_count int, "
                            "has_softinfo bool, parse_error text"},
    [ST_IDENT] = {"st_ident", "digest text, pos int, category text, "
                              "type text, lang text, name text"},
    [ST_FEAT] = {"st_feat", "digest text, var text, occurrences int"},
    [ST_FORM] = {"st_form", "digest text, pos int, form_type text, "
                            "type text, hidden bool"},
    [ST_FIELD] = {"st_field", "digest text, form_pos int, pos int, "
                              "var text, type text"},
    [ST_VALUE] = {"st_value", "digest text, form_pos int, field_pos int, "
                              "pos int, value text"},
    [ST_SOFT] = {"st_soft", "digest text, software text, "
                            "software_version text, os text, "
                            "os_version text, icon bool"},
    [ST_CONTACT] = {"st_contact", "digest text, kind text, pos int, "
                                  "address text"},
    [ST_SNAP] = {"st_snap", "source_id bigint, address text, node text, "
                            "digest text, observed_at timestamptz"},
    [ST_LINK] = {"st_link", "source_id bigint, parent_address text, "
                            "parent_node text, child_address text, "
                            "child_node text, name text, "
                            "observed_at timestamptz"},
    [ST_VER] = {"st_ver", "source_id bigint, address text, node text, "
                          "name text, version text, os text, "
                          "observed_at timestamptz"},
    [ST_OUT] = {"st_out", "source_id bigint, job_id bigint, "
                          "domain_id bigint, address text, node text, "
                          "probe text, outcome text, condition text, "
                          "detail text, duration_ms int, "
                          "observed_at timestamptz"},
    [ST_COBS] = {"st_cobs", "source_id bigint, service_address text, "
                            "service_node text, algo text, ver text, "
                            "node text, count bigint, seen timestamptz"},
    [ST_CENT] = {"st_cent", "source_id bigint, algo text, ver text, "
                            "node text, outcome text, error text, "
                            "matched_by text, s text, computed text, "
                            "digest text, has_softinfo bool, "
                            "mismatch bool, seen timestamptz"},
    [ST_C2OBS] = {"st_c2obs", "source_id bigint, service_address text, "
                              "service_node text, algo text, value text, "
                              "count bigint, seen timestamptz"},
    [ST_C2ENT] = {"st_c2ent", "algo text, value text, outcome text, "
                              "digest text, seen timestamptz"},
    [ST_SRV] = {"st_srv", "source_id bigint, domain_id bigint, "
                          "service text, target text, port int, "
                          "priority int, weight int, "
                          "observed_at timestamptz"},
    [ST_STREAM] = {"st_stream",
                   "source_id bigint, domain_id bigint, stream text, "
                   "target text, ip inet, port int, direct_tls bool, "
                   "phase text, starttls text, mechanisms text[], sm bool, "
                   "rosterver bool, bidi bool, csi bool, ibr bool, "
                   "dialback bool, compression text[], caps_node text, "
                   "caps_ver text, caps_algo text, other text[], "
                   "observed_at timestamptz"},
    [ST_TLS] = {"st_tls",
                "source_id bigint, domain_id bigint, stream text, "
                "target text, ip inet, port int, direct_tls bool, "
                "tls_version text, cipher text, cert_subject text, "
                "cert_issuer text, cert_names text[], "
                "cert_not_before timestamptz, cert_not_after timestamptz, "
                "cert_sha256 text, verifies bool, verify_error text, "
                "observed_at timestamptz"},
};
_Static_assert(ARRAY_LEN(stages) == ST__COUNT, "stage table");

/* An entity's id from its address and node in a stage row: a scalar
 * subquery, so always one probe of the unique index per row. A join let the
 * planner, which knows nothing of a stage table's size, hash the whole
 * entities table for every batch. */
#define ENTITY_ID(addr, node)                                                  \
    " (SELECT e.id FROM entities e WHERE e.address = " addr                    \
    " AND e.node = " node ")"
/* A content's id from its hex digest in a stage row, the same way. */
#define CONTENT_ID(digest)                                                     \
    " (SELECT c.id FROM disco_contents c WHERE c.digest = "                    \
    "decode(" digest ", 'hex'))"

/* The merges in the order they run; each runs when its stage has rows.
 * Later merges rely on earlier ones (entities, contents, caps entries). */
static const struct {
    enum stage stage;
    const char *table; /* what it writes, for error messages */
    const char *sql;
} merges[] = {
    {ST_ENT, "entities",
     "INSERT INTO entities (address, node, domain_id, kind, first_seen, "
     " last_seen) "
     "SELECT address, node, max(domain_id), "
     " coalesce((array_agg(kind ORDER BY seen DESC) "
     "  FILTER (WHERE kind <> 'unknown'))[1], 'unknown'), "
     " min(seen), max(seen) "
     "FROM st_ent GROUP BY address, node ORDER BY address, node "
     "ON CONFLICT (address, node) DO UPDATE SET "
     " first_seen = least(entities.first_seen, EXCLUDED.first_seen), "
     " last_seen = greatest(entities.last_seen, EXCLUDED.last_seen), "
     " kind = CASE WHEN EXCLUDED.kind <> 'unknown' AND "
     "  (entities.kind = 'unknown' OR EXCLUDED.last_seen >= "
     "   entities.last_seen) THEN EXCLUDED.kind ELSE entities.kind END, "
     " domain_id = coalesce(entities.domain_id, EXCLUDED.domain_id) "
     "WHERE EXCLUDED.last_seen > entities.last_seen "
     " OR EXCLUDED.first_seen < entities.first_seen "
     " OR (entities.kind = 'unknown' AND EXCLUDED.kind <> 'unknown') "
     " OR (entities.domain_id IS NULL AND EXCLUDED.domain_id IS NOT NULL)"},
    {ST_FEAT, "features",
     "INSERT INTO features (var) "
     "SELECT DISTINCT s.var FROM st_feat s "
     "WHERE NOT EXISTS (SELECT 1 FROM features f WHERE f.var = s.var) "
     "ORDER BY s.var ON CONFLICT (var) DO NOTHING"},
    {ST_CONT, "disco_contents",
     "WITH fa AS (SELECT s.digest, array_agg(f.id ORDER BY f.id) AS ids, "
     "  array_agg(f.id ORDER BY f.id) FILTER (WHERE s.occurrences > 1) "
     "  AS dups FROM st_feat s JOIN features f ON f.var = s.var "
     "  GROUP BY s.digest), "
     "ins AS (INSERT INTO disco_contents (digest, xml, identity_count, "
     " feature_count, form_count, feature_ids, duplicate_feature_ids, "
     " has_softinfo, parse_error) "
     " SELECT DISTINCT ON (s.digest) decode(s.digest, 'hex'), s.xml, "
     "  s.identity_count, s.feature_count, s.form_count, "
     "  coalesce(fa.ids, '{}'), coalesce(fa.dups, '{}'), s.has_softinfo, "
     "  s.parse_error FROM st_cont s LEFT JOIN fa USING (digest) "
     " WHERE NOT EXISTS (SELECT 1 FROM disco_contents c "
     "  WHERE c.digest = decode(s.digest, 'hex')) "
     " ORDER BY s.digest ON CONFLICT (digest) DO NOTHING "
     " RETURNING id, digest) "
     "INSERT INTO st_new SELECT id, encode(digest, 'hex') FROM ins"},
    {ST_IDENT, "disco_identities",
     "INSERT INTO disco_identities (content_id, pos, category, type, lang, "
     " name) SELECT n.id, s.pos, s.category, s.type, s.lang, s.name "
     "FROM st_ident s JOIN st_new n USING (digest)"},
    {ST_FORM, "disco_forms",
     "INSERT INTO disco_forms (content_id, pos, form_type, type, "
     " hidden_form_type) SELECT n.id, s.pos, s.form_type, s.type, s.hidden "
     "FROM st_form s JOIN st_new n USING (digest)"},
    {ST_FIELD, "disco_form_fields",
     "INSERT INTO disco_form_fields (content_id, form_pos, pos, var, type) "
     "SELECT n.id, s.form_pos, s.pos, s.var, s.type "
     "FROM st_field s JOIN st_new n USING (digest)"},
    {ST_VALUE, "disco_form_values",
     "INSERT INTO disco_form_values (content_id, form_pos, field_pos, pos, "
     " value) SELECT n.id, s.form_pos, s.field_pos, s.pos, s.value "
     "FROM st_value s JOIN st_new n USING (digest)"},
    {ST_SOFT, "softinfo",
     "INSERT INTO softinfo (content_id, software, software_version, os, "
     " os_version, icon) SELECT n.id, s.software, s.software_version, "
     " s.os, s.os_version, s.icon "
     "FROM st_soft s JOIN st_new n USING (digest)"},
    {ST_CONTACT, "contact_addresses",
     "INSERT INTO contact_addresses (content_id, kind, pos, address) "
     "SELECT n.id, s.kind, s.pos, s.address "
     "FROM st_contact s JOIN st_new n USING (digest)"},
    {ST_SNAP, "disco_snapshots",
     "INSERT INTO disco_snapshots (source_id, entity_id, content_id, "
     " observed_at) SELECT source_id, entity_id, content_id, observed_at "
     "FROM (SELECT s.source_id, " ENTITY_ID("s.address", "s.node")
     " AS entity_id, " CONTENT_ID("s.digest") " AS content_id, "
     " s.observed_at FROM st_snap s OFFSET 0) x "
     "WHERE entity_id IS NOT NULL AND content_id IS NOT NULL"},
    {ST_LINK, "disco_item_links",
     "INSERT INTO disco_item_links (source_id, parent_id, child_id, name, "
     " observed_at) "
     "SELECT DISTINCT ON (source_id, parent_id, child_id) source_id, "
     " parent_id, child_id, name, observed_at "
     "FROM (SELECT s.source_id, "
     ENTITY_ID("s.parent_address", "s.parent_node") " AS parent_id, "
     ENTITY_ID("s.child_address", "s.child_node") " AS child_id, "
     " s.name, s.observed_at FROM st_link s OFFSET 0) x "
     "WHERE parent_id IS NOT NULL AND child_id IS NOT NULL "
     "ORDER BY source_id, parent_id, child_id, observed_at DESC "
     "ON CONFLICT (source_id, parent_id, child_id) DO UPDATE SET "
     " name = EXCLUDED.name, observed_at = EXCLUDED.observed_at "
     "WHERE disco_item_links.observed_at < EXCLUDED.observed_at"},
    {ST_VER, "software_versions",
     "INSERT INTO software_versions (source_id, entity_id, name, version, "
     " os, observed_at) SELECT * FROM (SELECT s.source_id, "
     ENTITY_ID("s.address", "s.node") " AS entity_id, s.name, s.version, "
     " s.os, s.observed_at FROM st_ver s OFFSET 0) x "
     "WHERE entity_id IS NOT NULL"},
    {ST_OUT, "probe_outcomes",
     "INSERT INTO probe_outcomes (source_id, job_id, domain_id, entity_id, "
     " probe, outcome, condition, detail, duration_ms, observed_at) "
     "SELECT s.source_id, s.job_id, s.domain_id, "
     ENTITY_ID("s.address", "s.node") ", s.probe, s.outcome, "
     " s.condition, s.detail, s.duration_ms, s.observed_at FROM st_out s"},
    {ST_CENT, "caps_entries",
     "INSERT INTO caps_entries (algo, ver, outcome, error, matched_by, "
     " verification_string, computed_ver, content_id, has_softinfo, "
     " first_source_id, first_seen, last_seen) "
     "SELECT DISTINCT ON (s.algo, s.ver) s.algo, s.ver, s.outcome, s.error, "
     " s.matched_by, s.s, s.computed, " CONTENT_ID("s.digest")
     ", s.has_softinfo, s.source_id, s.seen, s.seen FROM st_cent s "
     "ORDER BY s.algo, s.ver, (s.outcome = 'valid') DESC, s.seen DESC "
     "ON CONFLICT (algo, ver) DO UPDATE SET outcome = EXCLUDED.outcome, "
     " error = EXCLUDED.error, matched_by = EXCLUDED.matched_by, "
     " verification_string = EXCLUDED.verification_string, "
     " computed_ver = EXCLUDED.computed_ver, "
     " content_id = coalesce(EXCLUDED.content_id, caps_entries.content_id), "
     " has_softinfo = EXCLUDED.has_softinfo, "
     " first_source_id = coalesce(caps_entries.first_source_id, "
     "  EXCLUDED.first_source_id), "
     " last_seen = EXCLUDED.last_seen "
     "WHERE EXCLUDED.last_seen > caps_entries.last_seen "
     " AND (caps_entries.outcome <> 'valid' OR EXCLUDED.outcome = 'valid')"},
    {ST_CENT, "caps_entry_nodes",
     "INSERT INTO caps_entry_nodes (entry_id, node, first_seen, last_seen, "
     " resolutions, mismatches) "
     "SELECT e.id, s.node, min(s.seen), max(s.seen), count(*), "
     " count(*) FILTER (WHERE s.mismatch) "
     "FROM st_cent s JOIN caps_entries e USING (algo, ver) "
     "WHERE s.node IS NOT NULL GROUP BY e.id, s.node ORDER BY e.id, s.node "
     "ON CONFLICT (entry_id, node) DO UPDATE SET "
     " first_seen = least(caps_entry_nodes.first_seen, EXCLUDED.first_seen), "
     " last_seen = greatest(caps_entry_nodes.last_seen, EXCLUDED.last_seen), "
     " resolutions = caps_entry_nodes.resolutions + EXCLUDED.resolutions, "
     " mismatches = caps_entry_nodes.mismatches + EXCLUDED.mismatches"},
    {ST_COBS, "caps_observations",
     "INSERT INTO caps_observations (source_id, service_id, algo, ver, node, "
     " count, first_seen, last_seen) "
     "SELECT s.source_id, "
     ENTITY_ID("s.service_address", "s.service_node")
     ", s.algo, s.ver, s.node, sum(s.count), "
     " min(s.seen), max(s.seen) FROM st_cobs s "
     "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5 "
     "ON CONFLICT (source_id, service_id, algo, ver, node) DO UPDATE SET "
     " count = caps_observations.count + EXCLUDED.count, "
     " first_seen = least(caps_observations.first_seen, "
     "  EXCLUDED.first_seen), "
     " last_seen = greatest(caps_observations.last_seen, EXCLUDED.last_seen)"},
    {ST_C2ENT, "caps2_entries",
     "INSERT INTO caps2_entries (algo, value, outcome, content_id, "
     " first_seen, last_seen) "
     "SELECT DISTINCT ON (s.algo, s.value) s.algo, s.value, s.outcome, "
     CONTENT_ID("s.digest") ", s.seen, s.seen FROM st_c2ent s "
     "ORDER BY s.algo, s.value, (s.outcome = 'valid') DESC, s.seen DESC "
     "ON CONFLICT (algo, value) DO UPDATE SET outcome = EXCLUDED.outcome, "
     " content_id = coalesce(EXCLUDED.content_id, caps2_entries.content_id), "
     " last_seen = EXCLUDED.last_seen "
     "WHERE EXCLUDED.last_seen > caps2_entries.last_seen "
     " AND (caps2_entries.outcome <> 'valid' OR EXCLUDED.outcome = 'valid')"},
    {ST_C2OBS, "caps2_observations",
     "INSERT INTO caps2_observations (source_id, service_id, algo, value, "
     " count, first_seen, last_seen) "
     "SELECT s.source_id, "
     ENTITY_ID("s.service_address", "s.service_node")
     ", s.algo, s.value, sum(s.count), min(s.seen), "
     " max(s.seen) FROM st_c2obs s "
     "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
     "ON CONFLICT (source_id, service_id, algo, value) DO UPDATE SET "
     " count = caps2_observations.count + EXCLUDED.count, "
     " first_seen = least(caps2_observations.first_seen, "
     "  EXCLUDED.first_seen), "
     " last_seen = greatest(caps2_observations.last_seen, "
     "  EXCLUDED.last_seen)"},
    {ST_SRV, "srv_records",
     "INSERT INTO srv_records (source_id, domain_id, service, target, port, "
     " priority, weight, observed_at) SELECT source_id, domain_id, service, "
     " target, port, priority, weight, observed_at FROM st_srv"},
    {ST_STREAM, "stream_features",
     "INSERT INTO stream_features (source_id, domain_id, stream, target, ip, "
     " port, direct_tls, phase, starttls, mechanisms, sm, rosterver, bidi, "
     " csi, ibr, dialback, compression, caps_node, caps_ver, caps_algo, "
     " other, observed_at) SELECT source_id, domain_id, stream, target, ip, "
     " port, direct_tls, phase, starttls, mechanisms, sm, rosterver, bidi, "
     " csi, ibr, dialback, compression, caps_node, caps_ver, caps_algo, "
     " other, observed_at FROM st_stream"},
    {ST_TLS, "tls_facts",
     "INSERT INTO tls_facts (source_id, domain_id, stream, target, ip, port, "
     " direct_tls, tls_version, cipher, cert_subject, cert_issuer, "
     " cert_names, cert_not_before, cert_not_after, cert_sha256, verifies, "
     " verify_error, observed_at) SELECT source_id, domain_id, stream, "
     " target, ip, port, direct_tls, tls_version, cipher, cert_subject, "
     " cert_issuer, cert_names, cert_not_before, cert_not_after, "
     " decode(cert_sha256, 'hex'), verifies, verify_error, observed_at "
     "FROM st_tls"},
};

#define MAX_STEPS (3 + ST__COUNT + ARRAY_LEN(merges))

/* --- batches ------------------------------------------------------------- */

/* Digests of the contents staged in one open batch (open addressing). */
struct dset {
    unsigned char (*keys)[32];
    size_t cap, n;
};

/* Adds d; true if it was not there yet. */
static bool dset_add(struct dset *s, const unsigned char d[32])
{
    if (2 * (s->n + 1) > s->cap) {
        struct dset bigger = {NULL, s->cap ? s->cap * 2 : 64, 0};
        bigger.keys = xcalloc(bigger.cap, 32);
        static const unsigned char zero[32];
        for (size_t i = 0; i < s->cap; i++)
            if (memcmp(s->keys[i], zero, 32) != 0)
                dset_add(&bigger, s->keys[i]);
        free(s->keys);
        *s = bigger;
    }
    uint64_t h;
    memcpy(&h, d, sizeof h);
    static const unsigned char zero[32];
    for (size_t i = (size_t)(h % s->cap);; i = (i + 1) % s->cap) {
        if (memcmp(s->keys[i], d, 32) == 0)
            return false;
        if (memcmp(s->keys[i], zero, 32) == 0) {
            memcpy(s->keys[i], d, 32);
            s->n++;
            return true;
        }
    }
}

enum batch_where {
    B_OPEN,     /* in s->open[kind], filled by puts */
    B_MEM,      /* in s->queue, data in memory */
    B_DISK,     /* in s->queue, data in b->path only */
    B_INFLIGHT, /* in s->queue, handed to pgasync (data also kept here) */
};

struct batch {
    struct store *s;
    uint64_t seq;
    char id[256];
    enum store_kind kind;
    enum batch_where where;
    struct buf sec[ST__COUNT];
    size_t bytes;       /* sum of sec[].len (also while on disk) */
    size_t file_bytes;  /* size of the spill file when path is set */
    long long rows;     /* records */
    uint64_t first_put; /* seq of its first put (for store_sync) */
    int64_t opened_us;
    char *path; /* spill file, NULL if none */
    struct dset digests;
    bool solo;    /* written in a transaction of its own (see pump()) */
    bool content; /* stages disco#info contents (known once sealed) */
    TAILQ_ENTRY(batch) link;
};

TAILQ_HEAD(batch_list, batch);

/* Sealed batches written in one transaction: what one group commit seals
 * (a batch per kind) goes as one, with one ledger insert, one upsert of
 * the entities they share and one commit. GROUP_MAX bounds the ledger
 * statement's parameters. */
#define GROUP_MAX 16

struct group {
    struct store *s;
    int n;
    struct batch *b[GROUP_MAX];
    size_t job_bytes;              /* copy handed to pgasync */
    const char *labels[MAX_STEPS]; /* what each step of its job writes */
};

struct waiter {
    uint64_t ticket;
    store_done_cb cb;
    void *arg;
    struct waiter *next;
};

struct store {
    struct event_base *base;
    struct store_opts o;
    char *conninfo, *owner, *spill_dir, *rejected_dir;
    struct pgasync *db;
    int lock_fd;
    struct batch *open[STORE__KINDS];
    struct event *kind_timer[STORE__KINDS];
    struct batch_list queue;
    int inflight;
    uint64_t seq, put_seq;
    struct event *retry_timer, *notify_ev, *drain_timer;
    bool retry_wait;
    int retry_ms;
    int64_t spill_fail_until;
    struct waiter *waiters;
    bool draining;
    store_done_cb drain_cb;
    void *drain_arg;
    store_pressure_cb pressure_cb;
    void *pressure_arg;
    size_t high, low;
    struct store_stats st;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void pump(struct store *s);
static void seal(struct store *s, enum store_kind k);
static void schedule_notify(struct store *s);
static void group_commit(struct store *s);

static void batch_free(struct batch *b)
{
    for (int i = 0; i < ST__COUNT; i++)
        buf_free(&b->sec[i]);
    free(b->digests.keys);
    free(b->path);
    free(b);
}

static void sections_free(struct batch *b)
{
    for (int i = 0; i < ST__COUNT; i++)
        buf_free(&b->sec[i]);
}

/* Pauses the producer when unacknowledged bytes reach the high mark, or
 * when memory exceeds max_memory by a quarter (no spill directory, spill
 * files failing or at spill_max); resumes at the low mark. */
static void check_pressure(struct store *s)
{
    size_t q = s->st.queued_bytes;
    bool mem_over = s->st.memory_bytes >= s->o.max_memory + s->o.max_memory / 4;
    if (!s->st.paused && (q >= s->high || mem_over)) {
        s->st.paused = true;
        s->st.pauses++;
        log_info("store: %zu bytes queued, pausing the producer", q);
        if (s->pressure_cb)
            s->pressure_cb(s->pressure_arg, true);
    } else if (s->st.paused && q <= s->low) {
        s->st.paused = false;
        s->st.resumes++;
        log_info("store: %zu bytes queued, resuming the producer", q);
        if (s->pressure_cb)
            s->pressure_cb(s->pressure_arg, false);
    }
}

static struct batch *open_batch(struct store *s, enum store_kind k)
{
    struct batch *b = s->open[k];
    if (b)
        return b;
    b = xcalloc(1, sizeof *b);
    b->s = s;
    b->seq = ++s->seq;
    b->kind = k;
    b->where = B_OPEN;
    b->first_put = s->put_seq + 1;
    b->opened_us = now_us();
    snprintf(b->id, sizeof b->id, "%s:%llu", s->owner,
             (unsigned long long)b->seq);
    s->open[k] = b;
    struct timeval tv = {s->o.flush_ms / 1000, (s->o.flush_ms % 1000) * 1000};
    evtimer_add(s->kind_timer[k], &tv);
    return b;
}

static size_t batch_len(const struct batch *b)
{
    size_t n = 0;
    for (int i = 0; i < ST__COUNT; i++)
        n += b->sec[i].len;
    return n;
}

/* --- spill files --------------------------------------------------------- */

/* Serializes b into a file image. */
static void batch_image(const struct batch *b, const char *error,
                        struct buf *out)
{
    store_file_header(out, b->id, kind_names[b->kind], b->rows, error);
    for (int i = 0; i < ST__COUNT; i++)
        store_file_section(out, stages[i].name, b->sec[i].data, b->sec[i].len);
    store_file_end(out);
}

/* Writes data to path atomically (temporary file, fsync, rename). */
static bool write_file(const char *path, const char *data, size_t len,
                       char *why, size_t whylen)
{
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        free(tmp);
        return false;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            snprintf(why, whylen, "%s", strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return false;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        unlink(tmp);
        free(tmp);
        return false;
    }
    if (rename(tmp, path) != 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        unlink(tmp);
        free(tmp);
        return false;
    }
    free(tmp);
    return true;
}

/* Reads a whole file (at most max bytes) into a new buffer. */
static char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct buf b = BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_append(&b, chunk, n);
        if (b.len > max)
            break;
    }
    bool bad = ferror(f) || b.len > max;
    fclose(f);
    if (bad) {
        buf_free(&b);
        return NULL;
    }
    *len = b.len;
    if (b.data == NULL)
        buf_append(&b, "", 0);
    return buf_steal(&b);
}

static char *spill_path(struct store *s, const struct batch *b)
{
    return xasprintf("%s/%016llx-%08llx.batch", s->spill_dir,
                     (unsigned long long)b->opened_us,
                     (unsigned long long)b->seq);
}

/* Moves b's data from memory to a spill file; false if it cannot. */
static bool spill(struct store *s, struct batch *b)
{
    if (s->spill_dir == NULL)
        return false;
    if (b->path)
        return true; /* read back from its file, which is still there */
    int64_t now = now_us();
    if (now < s->spill_fail_until)
        return false;
    struct buf img = BUF_INIT;
    batch_image(b, NULL, &img);
    char *path = spill_path(s, b);
    char why[256];
    bool ok = write_file(path, img.data, img.len, why, sizeof why);
    if (!ok) {
        log_error("store: could not write spill file \"%s\": %s", path, why);
        s->st.errors++;
        s->spill_fail_until = now + 5000000;
        free(path);
        buf_free(&img);
        return false;
    }
    b->path = path;
    b->file_bytes = img.len;
    s->st.spill_bytes += img.len;
    s->st.batches_spilled++;
    s->st.bytes_spilled += img.len;
    buf_free(&img);
    return true;
}

/* Keeps the memory bound: spills the newest batches that wait in memory
 * until memory is under max_memory (or spill_max is reached). */
static void enforce_memory(struct store *s)
{
    if (s->spill_dir == NULL || s->st.memory_bytes <= s->o.max_memory)
        return;
    struct batch *b = TAILQ_LAST(&s->queue, batch_list);
    while (b && s->st.memory_bytes > s->o.max_memory &&
           s->st.spill_bytes < s->o.spill_max) {
        struct batch *prev = TAILQ_PREV(b, batch_list, link);
        if (b->where == B_MEM) {
            if (!spill(s, b))
                return;
            log_debug("store: batch %s spilled to \"%s\"", b->id, b->path);
            sections_free(b);
            s->st.memory_bytes -= b->bytes;
            b->where = B_DISK;
        }
        b = prev;
    }
}

/* Loads a spilled batch back into memory; false if the file is bad (then
 * it is moved to rejected/ and b must be dropped). */
static bool unspill(struct store *s, struct batch *b)
{
    size_t len = 0;
    char *data = read_file(b->path, s->o.spill_max + (64u << 20), &len);
    struct store_file f;
    struct parse_err err = {0};
    if (data == NULL) {
        snprintf(err.msg, sizeof err.msg, "%s", strerror(errno));
    } else if (store_file_parse(data, len, &f, &err)) {
        for (size_t i = 0; i < f.nsec; i++) {
            int st = -1;
            for (int k = 0; k < ST__COUNT; k++)
                if (strcmp(stages[k].name, f.sec[i].name) == 0)
                    st = k;
            if (st < 0) {
                snprintf(err.msg, sizeof err.msg, "unrecognized stage \"%s\"",
                         f.sec[i].name);
                err.code = 1;
                break;
            }
            buf_append(&b->sec[st], f.sec[i].data, f.sec[i].len);
        }
        if (err.code == 0) {
            free(data);
            return true;
        }
    }
    free(data);
    log_error("store: cannot read spill file \"%s\": %s", b->path, err.msg);
    s->st.errors++;
    sections_free(b);
    if (s->rejected_dir) {
        const char *base = strrchr(b->path, '/');
        char *to = xasprintf("%s%s", s->rejected_dir, base ? base : "/bad");
        if (rename(b->path, to) != 0)
            log_error("store: could not move \"%s\" to \"%s\": %s", b->path, to,
                      strerror(errno));
        free(to);
    }
    return false;
}

/* --- the queue ----------------------------------------------------------- */

/* b leaves the queue (committed, duplicate or rejected). */
static void batch_retire(struct store *s, struct batch *b)
{
    TAILQ_REMOVE(&s->queue, b, link);
    s->st.batches_queued--;
    s->st.queued_bytes -= b->bytes;
    if (b->where != B_DISK)
        s->st.memory_bytes -= b->bytes;
    if (b->path) {
        if (unlink(b->path) != 0 && errno != ENOENT)
            log_warn("store: could not remove \"%s\": %s", b->path,
                     strerror(errno));
        s->st.spill_bytes -= b->file_bytes;
    }
    batch_free(b);
    check_pressure(s);
    schedule_notify(s);
}

static bool transient(const char *sqlstate)
{
    /* serialization failure, deadlock, lock not available, statement
     * cancelled or timed out, resources (disk full, out of memory, too
     * many connections), operator intervention, system errors */
    return strncmp(sqlstate, "40", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
           strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57", 2) == 0 ||
           strncmp(sqlstate, "58", 2) == 0 || strcmp(sqlstate, "55P03") == 0 ||
           sqlstate[0] == '\0';
}

static void reject(struct store *s, struct batch *b, const struct group *g,
                   const struct pga_result *r)
{
    const char *table = r->failed_step >= 0 &&
                                r->failed_step < (int)MAX_STEPS &&
                                g->labels[r->failed_step]
                            ? g->labels[r->failed_step]
                            : "?";
    char error[512];
    snprintf(error, sizeof error, "%s: SQLSTATE %s: %s", table, r->sqlstate,
             r->msg);
    char *kept = NULL;
    if (s->rejected_dir) {
        struct buf img = BUF_INIT;
        batch_image(b, error, &img);
        char *path = xasprintf("%s/%016llx-%08llx.batch", s->rejected_dir,
                               (unsigned long long)b->opened_us,
                               (unsigned long long)b->seq);
        char why[256];
        if (write_file(path, img.data, img.len, why, sizeof why)) {
            kept = path;
        } else {
            log_error("store: could not write \"%s\": %s", path, why);
            free(path);
            s->st.errors++;
        }
        buf_free(&img);
    } else {
        s->st.errors++;
    }
    log_error("store: batch %s (%s, %lld records) refused by the database "
              "writing %s: %s (SQLSTATE %s); %s%s",
              b->id, kind_names[b->kind], b->rows, table, r->msg, r->sqlstate,
              kept ? "rows kept in " : "rows lost (no spill directory)",
              kept ? kept : "");
    free(kept);
    s->st.batches_rejected++;
    s->st.rows_rejected += (uint64_t)b->rows;
    batch_retire(s, b);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct store *s = arg;
    s->retry_wait = false;
    pump(s);
}

static void job_done(void *arg, const struct pga_result *r)
{
    struct group *g = arg;
    struct store *s = g->s;
    s->inflight--;
    s->st.memory_bytes -= g->job_bytes;
    if (r->attempts > 1)
        s->st.batches_resent += (uint64_t)(r->attempts - 1);
    if (r->status == PGA_CANCELLED) {
        for (int i = 0; i < g->n; i++)
            g->b[i]->where = g->b[i]->path ? B_DISK : B_MEM;
        free(g);
        return;
    }
    bool dup = r->status == PGA_SQL_ERROR && r->failed_step == 0 &&
               strcmp(r->sqlstate, "23505") == 0;
    if (g->n > 1 && r->status == PGA_SQL_ERROR &&
        (dup || !transient(r->sqlstate))) {
        /* one of them was written already, or one is refused: each goes
         * again alone, so that only that one is skipped or set aside */
        log_info("store: %d batches written together failed (%s: %s), "
                 "sending each alone",
                 g->n, r->sqlstate, r->msg);
        s->st.groups_split++;
        for (int i = 0; i < g->n; i++) {
            g->b[i]->where = B_MEM;
            g->b[i]->solo = true;
        }
    } else if (r->status == PGA_OK || dup) {
        s->retry_ms = 0;
        for (int i = 0; i < g->n; i++) {
            struct batch *b = g->b[i];
            if (dup) {
                s->st.batches_duplicate++;
                log_info("store: batch %s was already written", b->id);
            } else {
                s->st.batches_written++;
            }
            s->st.rows_written[b->kind] += (uint64_t)b->rows;
            batch_retire(s, b);
        }
    } else if (r->status == PGA_SQL_ERROR && !transient(r->sqlstate)) {
        reject(s, g->b[0], g, r);
    } else {
        /* transient: the same batches again after a pause, order kept */
        for (int i = 0; i < g->n; i++)
            g->b[i]->where = B_MEM;
        s->st.batches_retried += (uint64_t)g->n;
        s->retry_ms =
            s->retry_ms ? XC_MIN(s->retry_ms * 2, s->o.retry_max_ms) : 500;
        log_warn("store: batch %s%s failed (%s: %s), retrying in %d ms",
                 g->b[0]->id, g->n > 1 ? " and the batches with it" : "",
                 r->sqlstate, r->msg, s->retry_ms);
        s->retry_wait = true;
        struct timeval tv = {s->retry_ms / 1000, (s->retry_ms % 1000) * 1000};
        evtimer_add(s->retry_timer, &tv);
    }
    free(g);
    pump(s);
    group_commit(s);
}

/* Sends the batches of g as one transaction (g is handed to the job). */
static void submit(struct store *s, struct group *g)
{
    struct pga_job *j = pga_job_new(PGA_RETRY, job_done, g);
    int step = 0;
    /* the ledger: every batch id, one row each */
    char rows[GROUP_MAX][32];
    const char *params[3 * GROUP_MAX];
    struct buf sql = BUF_INIT;
    buf_puts(&sql, "INSERT INTO store_batches (batch_id, kind, rows) VALUES ");
    for (int i = 0; i < g->n; i++) {
        snprintf(rows[i], sizeof rows[i], "%lld", g->b[i]->rows);
        params[3 * i] = g->b[i]->id;
        params[3 * i + 1] = kind_names[g->b[i]->kind];
        params[3 * i + 2] = rows[i];
        buf_printf(&sql, "%s($%d, $%d, $%d::int)", i ? ", " : "", 3 * i + 1,
                   3 * i + 2, 3 * i + 3);
    }
    pga_job_query(j, buf_str(&sql), 3 * g->n, params);
    buf_free(&sql);
    g->labels[step++] = "store_batches";
    size_t len[ST__COUNT] = {0};
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < ST__COUNT; k++)
            len[k] += g->b[i]->sec[k].len;
    /* the stages live as long as the connection and are emptied at each
     * commit: creating and dropping them in every batch cost the server
     * more than the merges (catalog rows written and vacuumed per batch) */
    struct buf ddl = BUF_INIT;
    buf_puts(&ddl, "SET LOCAL client_min_messages = warning; ");
    for (int i = 0; i < ST__COUNT; i++)
        if (len[i] || (i == ST_FEAT && len[ST_CONT]))
            buf_printf(&ddl,
                       "CREATE TEMP TABLE IF NOT EXISTS %s (%s) "
                       "ON COMMIT DELETE ROWS; ",
                       stages[i].name, stages[i].columns);
    if (len[ST_CONT])
        buf_puts(&ddl, "CREATE TEMP TABLE IF NOT EXISTS st_new (id bigint, "
                       "digest text) ON COMMIT DELETE ROWS; ");
    pga_job_query(j, buf_str(&ddl), 0, NULL);
    buf_free(&ddl);
    g->labels[step++] = "stage tables";
    size_t copied = 0;
    for (int k = 0; k < ST__COUNT; k++) {
        if (len[k] == 0)
            continue;
        char copy[64];
        snprintf(copy, sizeof copy, "COPY %s FROM STDIN", stages[k].name);
        char *data = xmalloc(len[k]);
        size_t off = 0;
        for (int i = 0; i < g->n; i++) {
            const struct buf *sec = &g->b[i]->sec[k];
            if (sec->len) {
                memcpy(data + off, sec->data, sec->len);
                off += sec->len;
            }
        }
        if (k == ST_ENT) {
            /* an entity is staged by each put that names it: its rows are
             * folded to its first and last sighting (what the merge takes
             * from them); a third fewer rows in bench/crawl.sh */
            struct buf folded = BUF_INIT;
            store_copy_fold_times(&folded, data, off);
            free(data);
            off = folded.len;
            data = buf_steal(&folded);
        }
        pga_job_copy(j, copy, data, off);
        copied += off;
        g->labels[step++] = stages[k].name;
    }
    for (size_t m = 0; m < ARRAY_LEN(merges); m++) {
        if (len[merges[m].stage] == 0)
            continue;
        pga_job_query(j, merges[m].sql, 0, NULL);
        g->labels[step++] = merges[m].table;
    }
    g->job_bytes = copied;
    s->st.memory_bytes += copied;
    for (int i = 0; i < g->n; i++)
        g->b[i]->where = B_INFLIGHT;
    s->inflight++;
    s->st.transactions++;
    pgasync_submit(s->db, j);
}

/* Whether b may join group g: batches are written together in queue order
 * up to GROUP_MAX and the size of one full batch; a batch that failed in
 * a group goes alone; at most one batch that stages disco#info contents
 * (its parts are inserted once per content staged: two batches could stage
 * the same content). */
static bool joins(const struct store *s, const struct group *g,
                  const struct batch *b)
{
    if (g->n == 0)
        return true;
    if (g->n >= GROUP_MAX || b->solo || g->b[0]->solo)
        return false;
    size_t bytes = b->bytes;
    long long rows = b->rows;
    for (int i = 0; i < g->n; i++) {
        bytes += g->b[i]->bytes;
        rows += g->b[i]->rows;
        if (b->content && g->b[i]->content)
            return false;
    }
    return bytes <= s->o.batch_bytes && rows <= s->o.batch_rows;
}

/* Loads b back from its spill file if it is on disk; false if it cannot
 * be read (then it has been moved to bad, to be retired). */
static bool ready(struct store *s, struct batch *b, struct batch_list *bad)
{
    if (b->where != B_DISK)
        return true;
    if (!unspill(s, b)) {
        /* unreadable: counted and moved aside, not retried */
        if (b->path) {
            s->st.spill_bytes -= b->file_bytes;
            free(b->path);
            b->path = NULL;
        }
        s->st.memory_bytes += b->bytes; /* batch_retire subtracts */
        b->where = B_MEM;
        TAILQ_REMOVE(&s->queue, b, link);
        TAILQ_INSERT_TAIL(bad, b, link);
        return false;
    }
    s->st.batches_replayed++;
    s->st.memory_bytes += b->bytes;
    b->where = B_MEM;
    return true;
}

/* Hands batches to the connection in queue order, up to the window; the
 * consecutive ones that fit together (joins()) go as one transaction. */
static void pump(struct store *s)
{
    if (s->retry_wait)
        return;
    struct batch *b = TAILQ_FIRST(&s->queue), *next;
    struct batch_list bad = TAILQ_HEAD_INITIALIZER(bad);
    while (b && s->inflight < s->o.inflight) {
        struct group *g = xcalloc(1, sizeof *g);
        g->s = s;
        for (; b; b = next) {
            next = TAILQ_NEXT(b, link);
            if (b->where == B_INFLIGHT) {
                if (g->n)
                    break;
                continue;
            }
            if (!joins(s, g, b))
                break;
            if (ready(s, b, &bad))
                g->b[g->n++] = b;
        }
        if (g->n == 0) {
            free(g);
            break;
        }
        submit(s, g);
    }
    /* retired after the walk: their callbacks may put and pump again */
    while ((b = TAILQ_FIRST(&bad)) != NULL) {
        TAILQ_REMOVE(&bad, b, link);
        TAILQ_INSERT_HEAD(&s->queue, b, link);
        batch_retire(s, b);
    }
    enforce_memory(s);
}

/* Closes the open batch of kind k into the queue, without sending it. */
static void seal_quiet(struct store *s, enum store_kind k)
{
    struct batch *b = s->open[k];
    if (b == NULL)
        return;
    s->open[k] = NULL;
    evtimer_del(s->kind_timer[k]);
    free(b->digests.keys);
    b->digests.keys = NULL;
    b->digests.cap = b->digests.n = 0;
    b->where = B_MEM;
    b->content = b->sec[ST_CONT].len > 0;
    TAILQ_INSERT_TAIL(&s->queue, b, link);
    s->st.batches_sealed++;
    s->st.batches_queued++;
}

static void seal(struct store *s, enum store_kind k)
{
    if (s->open[k] == NULL)
        return;
    seal_quiet(s, k);
    pump(s);
    enforce_memory(s);
}

static void on_kind_timer(evutil_socket_t fd, short what, void *arg)
{
    struct batch **slot = arg;
    struct batch *b = *slot;
    if (b)
        seal(b->s, b->kind);
}

void store_flush(struct store *s)
{
    for (int k = 0; k < STORE__KINDS; k++)
        seal_quiet(s, (enum store_kind)k);
    pump(s);
    enforce_memory(s);
}

/* --- sync and drain ------------------------------------------------------ */

/* Group commit: while someone waits in store_sync() for records that sit in
 * open batches, and the connection has a free slot with nothing queued in
 * front, those batches are sealed now instead of at their flush_ms timer.
 * Under load the batches then grow by themselves (records gather while the
 * slots are busy) and a job waits about one commit, not a flush window. */
static void group_commit(struct store *s)
{
    if (s->waiters == NULL || s->retry_wait || !pgasync_is_up(s->db) ||
        s->inflight >= s->o.inflight)
        return;
    struct batch *b;
    TAILQ_FOREACH(b, &s->queue, link)
    if (b->where != B_INFLIGHT)
        return; /* closed batches wait already: they go first */
    uint64_t newest = 0;
    for (struct waiter *w = s->waiters; w; w = w->next)
        newest = XC_MAX(newest, w->ticket);
    bool sealed = false;
    for (int k = 0; k < STORE__KINDS; k++)
        if (s->open[k] && s->open[k]->first_put < newest) {
            seal_quiet(s, (enum store_kind)k);
            sealed = true;
        }
    if (sealed) {
        pump(s); /* all of them at once: one transaction */
        enforce_memory(s);
    }
}

/* Lowest put sequence number not yet committed (UINT64_MAX: none). */
static uint64_t oldest_pending(const struct store *s)
{
    uint64_t m = UINT64_MAX;
    for (int k = 0; k < STORE__KINDS; k++)
        if (s->open[k] && s->open[k]->first_put < m)
            m = s->open[k]->first_put;
    struct batch *b;
    TAILQ_FOREACH(b, &s->queue, link)
    if (b->first_put < m)
        m = b->first_put;
    return m;
}

static bool all_written(const struct store *s)
{
    for (int k = 0; k < STORE__KINDS; k++)
        if (s->open[k])
            return false;
    return TAILQ_EMPTY(&s->queue);
}

static void schedule_notify(struct store *s)
{
    if (s->waiters || s->draining)
        event_active(s->notify_ev, EV_TIMEOUT, 0);
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    struct store *s = arg;
    uint64_t oldest = oldest_pending(s);
    struct waiter **pw = &s->waiters;
    while (*pw) {
        struct waiter *w = *pw;
        if (w->ticket < oldest) {
            *pw = w->next;
            w->cb(w->arg, true);
            free(w);
        } else {
            pw = &w->next;
        }
    }
    if (s->draining && all_written(s)) {
        s->draining = false;
        evtimer_del(s->drain_timer);
        log_info("store: drained, everything written");
        /* last: the callback may free s */
        s->drain_cb(s->drain_arg, true);
    }
}

void store_sync(struct store *s, store_done_cb cb, void *arg)
{
    struct waiter *w = xcalloc(1, sizeof *w);
    w->ticket = s->put_seq;
    w->cb = cb;
    w->arg = arg;
    w->next = s->waiters;
    s->waiters = w;
    group_commit(s);
    schedule_notify(s);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct store *s = arg;
    if (!s->draining)
        return;
    store_flush(s);
    size_t left = 0, lost = 0;
    long long lost_rows = 0;
    struct batch *b;
    TAILQ_FOREACH(b, &s->queue, link)
    {
        left++;
        if (b->where == B_DISK)
            continue;
        if (b->path == NULL && !spill(s, b)) {
            lost++;
            lost_rows += b->rows;
        }
    }
    if (lost)
        log_error("store: gave up draining: %zu batches (%lld records) "
                  "could not be kept and are lost",
                  lost, lost_rows);
    else
        log_warn("store: gave up draining: %zu batches left in \"%s\" for "
                 "the next run",
                 left, s->spill_dir ? s->spill_dir : "");
    s->st.errors += lost;
    s->draining = false;
    s->drain_cb(s->drain_arg, false);
}

void store_drain(struct store *s, int timeout_ms, store_done_cb cb, void *arg)
{
    s->draining = true;
    s->drain_cb = cb;
    s->drain_arg = arg;
    store_flush(s);
    if (timeout_ms > 0) {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(s->drain_timer, &tv);
    }
    schedule_notify(s);
}

/* --- life cycle ---------------------------------------------------------- */

void store_opts_default(struct store_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch_rows = 2000;
    o->batch_bytes = 4u << 20;
    o->flush_ms = 200;
    o->max_memory = 64u << 20;
    o->spill_max = (size_t)1 << 30;
    o->inflight = 2;
    o->reconnect_min_ms = 100;
    o->reconnect_max_ms = 5000;
    o->retry_max_ms = 30000;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Queues the batch files a previous process left in the spill directory. */
static void adopt_spill_files(struct store *s)
{
    DIR *d = opendir(s->spill_dir);
    if (d == NULL)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".batch"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xreallocarray(names, cap, sizeof *names);
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", s->spill_dir, names[i]);
        size_t len = 0;
        char *data = read_file(path, s->o.spill_max + (64u << 20), &len);
        struct store_file f;
        struct parse_err err = {0};
        int kind = -1;
        if (data && store_file_parse(data, len, &f, &err)) {
            for (int k = 0; k < STORE__KINDS; k++)
                if (strcmp(kind_names[k], f.kind) == 0)
                    kind = k;
        }
        if (kind < 0) {
            log_error("store: ignoring bad spill file \"%s\": %s", path,
                      data ? (err.msg[0] ? err.msg : "unrecognized kind")
                           : strerror(errno));
            s->st.errors++;
            char *to = xasprintf("%s/%s", s->rejected_dir, names[i]);
            if (rename(path, to) != 0)
                log_error("store: could not move \"%s\": %s", path,
                          strerror(errno));
            free(to);
        } else {
            struct batch *b = xcalloc(1, sizeof *b);
            b->s = s;
            b->seq = ++s->seq;
            b->kind = (enum store_kind)kind;
            b->where = B_DISK;
            snprintf(b->id, sizeof b->id, "%s", f.id);
            b->rows = f.rows;
            for (size_t k = 0; k < f.nsec; k++) {
                b->bytes += f.sec[k].len;
                if (strcmp(f.sec[k].name, stages[ST_CONT].name) == 0 &&
                    f.sec[k].len > 0)
                    b->content = true;
            }
            b->file_bytes = len;
            b->path = path;
            path = NULL;
            b->first_put = 0; /* before anything of this process */
            TAILQ_INSERT_TAIL(&s->queue, b, link);
            s->st.batches_queued++;
            s->st.queued_bytes += b->bytes;
            s->st.spill_bytes += len;
        }
        free(data);
        free(path);
        free(names[i]);
    }
    free(names);
    if (s->st.batches_queued)
        log_info("store: replaying %zu batches left in \"%s\"",
                 s->st.batches_queued, s->spill_dir);
}

static bool mkdir_p(const char *dir)
{
    char *p = xstrdup(dir);
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            free(p);
            return false;
        }
        *q = '/';
    }
    bool ok = mkdir(p, 0700) == 0 || errno == EEXIST;
    free(p);
    return ok;
}

static void on_db_state(void *arg, bool up, const char *why)
{
    struct store *s = arg;
    s->st.db_up = up;
}

struct store *store_new(struct event_base *base, const struct store_opts *o,
                        char *why, size_t whylen)
{
    struct store *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->o = *o;
    s->lock_fd = -1;
    struct store_opts def;
    store_opts_default(&def);
    if (s->o.batch_rows <= 0)
        s->o.batch_rows = def.batch_rows;
    if (s->o.batch_bytes == 0)
        s->o.batch_bytes = def.batch_bytes;
    if (s->o.flush_ms <= 0)
        s->o.flush_ms = def.flush_ms;
    if (s->o.max_memory == 0)
        s->o.max_memory = def.max_memory;
    if (s->o.spill_max == 0)
        s->o.spill_max = def.spill_max;
    if (s->o.inflight <= 0)
        s->o.inflight = def.inflight;
    if (s->o.reconnect_min_ms <= 0)
        s->o.reconnect_min_ms = def.reconnect_min_ms;
    if (s->o.reconnect_max_ms <= 0)
        s->o.reconnect_max_ms = def.reconnect_max_ms;
    if (s->o.retry_max_ms <= 0)
        s->o.retry_max_ms = def.retry_max_ms;
    s->conninfo = xstrdup(o->conninfo ? o->conninfo : "");
    s->o.conninfo = s->conninfo;
    if (o->owner && *o->owner) {
        s->owner = xstrndup(o->owner, 150);
    } else {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        s->owner = xasprintf("%s:%ld:%08lx", host, (long)getpid(),
                             (unsigned long)(random() ^ now_us()));
    }
    for (char *p = s->owner; *p; p++)
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
            *p = '_';
    s->o.owner = s->owner;
    TAILQ_INIT(&s->queue);
    for (int k = 0; k < STORE__KINDS; k++)
        s->kind_timer[k] = evtimer_new(base, on_kind_timer, &s->open[k]);
    s->retry_timer = evtimer_new(base, on_retry, s);
    s->drain_timer = evtimer_new(base, on_drain_timeout, s);
    s->notify_ev = event_new(base, -1, 0, on_notify, s);
    if (o->spill_dir && *o->spill_dir) {
        s->spill_dir = xstrdup(o->spill_dir);
        s->rejected_dir = xasprintf("%s/rejected", s->spill_dir);
        if (!mkdir_p(s->rejected_dir)) {
            snprintf(why, whylen, "cannot create spill directory \"%s\": %s",
                     s->rejected_dir, strerror(errno));
            store_free(s);
            return NULL;
        }
        char *lock = xasprintf("%s/.lock", s->spill_dir);
        s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        free(lock);
        if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            snprintf(why, whylen,
                     "spill directory \"%s\" is in use by another process",
                     s->spill_dir);
            store_free(s);
            return NULL;
        }
        adopt_spill_files(s);
    }
    s->o.spill_dir = s->spill_dir;
    s->high = o->high_water
                  ? o->high_water
                  : s->o.max_memory + (s->spill_dir ? s->o.spill_max / 2 : 0);
    s->low = o->low_water ? o->low_water : s->o.max_memory / 4;
    if (s->low > s->high)
        s->low = s->high;
    s->db = pgasync_new(base, s->conninfo, "store");
    pgasync_set_backoff(s->db, s->o.reconnect_min_ms, s->o.reconnect_max_ms);
    pgasync_set_state_cb(s->db, on_db_state, s);
    check_pressure(s);
    pump(s);
    return s;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    /* first the connection: its cancelled jobs call back into batches */
    pgasync_free(s->db);
    for (int k = 0; k < STORE__KINDS; k++) {
        if (s->open[k])
            batch_free(s->open[k]);
        if (s->kind_timer[k])
            event_free(s->kind_timer[k]);
    }
    struct batch *b;
    while ((b = TAILQ_FIRST(&s->queue)) != NULL) {
        TAILQ_REMOVE(&s->queue, b, link);
        batch_free(b); /* its spill file, if any, stays for the next run */
    }
    while (s->waiters) {
        struct waiter *w = s->waiters;
        s->waiters = w->next;
        w->cb(w->arg, false);
        free(w);
    }
    if (s->retry_timer)
        event_free(s->retry_timer);
    if (s->drain_timer)
        event_free(s->drain_timer);
    if (s->notify_ev)
        event_free(s->notify_ev);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->conninfo);
    free(s->owner);
    free(s->spill_dir);
    free(s->rejected_dir);
    free(s);
}

void store_set_pressure_cb(struct store *s, store_pressure_cb cb, void *arg)
{
    s->pressure_cb = cb;
    s->pressure_arg = arg;
    /* spill files adopted at start may already be above the high mark */
    if (cb && s->st.paused)
        cb(arg, true);
}

void store_get_stats(const struct store *s, struct store_stats *out)
{
    *out = s->st;
    out->db_up = s->db && pgasync_is_up(s->db);
}

/* --- rows ---------------------------------------------------------------- */

static void c_str(struct store *s, struct buf *b, const char *v)
{
    s->st.replaced_chars += store_copy_str(b, v);
    buf_putc(b, '\t');
}

static void c_clip(struct store *s, struct buf *b, const char *v, size_t max)
{
    s->st.replaced_chars += store_copy_str_clip(b, v, max);
    buf_putc(b, '\t');
}

static void c_int(struct buf *b, long long v)
{
    buf_printf(b, "%lld\t", v);
}

/* An id column: 0 means NULL. */
static void c_id(struct buf *b, int64_t v)
{
    if (v > 0)
        buf_printf(b, "%lld\t", (long long)v);
    else
        buf_puts(b, "\\N\t");
}

static void c_null(struct buf *b)
{
    buf_puts(b, "\\N\t");
}

static void c_bool(struct buf *b, bool v)
{
    buf_puts(b, v ? "t\t" : "f\t");
}

static void c_raw(struct buf *b, const char *v)
{
    buf_puts(b, v);
    buf_putc(b, '\t');
}

static void c_array(struct store *s, struct buf *b, const char *const *items,
                    size_t n)
{
    s->st.replaced_chars += store_copy_array(b, items, n);
    buf_putc(b, '\t');
}

static void row_end(struct buf *b)
{
    ASSERT(b->len > 0 && b->data[b->len - 1] == '\t');
    b->data[b->len - 1] = '\n';
}

static void stamp(int64_t us, char ts[40])
{
    store_time_format(us ? us : now_us(), ts);
}

static bool refuse(struct store *s, enum store_kind k, const char *why)
{
    s->st.refused[k]++;
    log_debug("store: %s record refused: %s", kind_names[k], why);
    return false;
}

/* Length of s is at most max bytes (NULL counts as fine). */
static bool fits(const char *v, size_t max)
{
    return v == NULL || strnlen(v, max + 1) <= max;
}

static bool one_of(const char *v, const char *const *set)
{
    if (v == NULL)
        return false;
    for (; *set; set++)
        if (strcmp(v, *set) == 0)
            return true;
    return false;
}

static const char *entity_problem(const struct store_entity *e)
{
    if (e->address == NULL || e->address[0] == '\0')
        return "empty entity address";
    if (strchr(e->address, '/'))
        return "entity address with a resource part";
    if (!fits(e->address, 3071))
        return "entity address too long";
    if (!fits(e->node, 1024))
        return "entity node too long";
    if ((unsigned)e->kind >= STORE_ENT__COUNT)
        return "bad entity kind";
    return NULL;
}

static void stage_entity(struct store *s, struct batch *b,
                         const struct store_entity *e, const char *ts)
{
    struct buf *o = &b->sec[ST_ENT];
    c_str(s, o, e->address);
    c_str(s, o, e->node ? e->node : "");
    c_id(o, e->domain_id);
    c_raw(o, entity_kind_names[e->kind]);
    c_raw(o, ts);
    row_end(o);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Stages the normalized content of info under hex (once per batch). */
static void stage_content_rows(struct store *s, struct batch *b,
                               const char *hex, const char *xml, size_t len,
                               const struct disco_info *info,
                               const char *parse_error)
{
    size_t distinct = 0;
    struct softinfo si = {0};
    if (info) {
        const char **fs =
            xcalloc(info->n_features ? info->n_features : 1, sizeof *fs);
        for (size_t i = 0; i < info->n_features; i++)
            fs[i] = info->features[i];
        qsort(fs, info->n_features, sizeof *fs, cmp_strp);
        struct buf *o = &b->sec[ST_FEAT];
        for (size_t i = 0; i < info->n_features;) {
            size_t j = i + 1;
            while (j < info->n_features && strcmp(fs[i], fs[j]) == 0)
                j++;
            c_raw(o, hex);
            c_str(s, o, fs[i]);
            c_int(o, (long long)(j - i));
            row_end(o);
            distinct++;
            i = j;
        }
        free(fs);
        softinfo_extract(info, &si);
    }
    struct buf *o = &b->sec[ST_CONT];
    c_raw(o, hex);
    s->st.replaced_chars += store_copy_text(o, xml, len);
    buf_putc(o, '\t');
    c_int(o, info ? (long long)info->n_identities : 0);
    c_int(o, (long long)distinct);
    c_int(o, info ? (long long)info->n_forms : 0);
    c_bool(o, si.present);
    c_str(s, o, parse_error);
    row_end(o);
    if (info == NULL)
        return;

    o = &b->sec[ST_IDENT];
    for (size_t i = 0; i < info->n_identities; i++) {
        const struct disco_identity *id = &info->identities[i];
        c_raw(o, hex);
        c_int(o, (long long)i);
        c_str(s, o, id->category);
        c_str(s, o, id->type);
        c_str(s, o, id->lang);
        c_str(s, o, id->name);
        row_end(o);
    }
    for (size_t f = 0; f < info->n_forms; f++) {
        const struct dataform *form = info->forms[f];
        const char *ft = NULL;
        enum dataform_ft fts = dataform_form_type(form, &ft);
        o = &b->sec[ST_FORM];
        c_raw(o, hex);
        c_int(o, (long long)f);
        c_str(s, o, ft);
        c_str(s, o, form->type);
        c_bool(o, fts == DATAFORM_FT_OK || fts == DATAFORM_FT_REPEATED);
        row_end(o);
        for (size_t k = 0; k < form->n_fields; k++) {
            const struct dataform_field *fld = form->fields[k];
            o = &b->sec[ST_FIELD];
            c_raw(o, hex);
            c_int(o, (long long)f);
            c_int(o, (long long)k);
            c_str(s, o, fld->var);
            c_str(s, o, fld->type[0] ? fld->type : NULL);
            row_end(o);
            o = &b->sec[ST_VALUE];
            for (size_t v = 0; v < fld->n_values; v++) {
                c_raw(o, hex);
                c_int(o, (long long)f);
                c_int(o, (long long)k);
                c_int(o, (long long)v);
                c_str(s, o, fld->values[v]);
                row_end(o);
            }
        }
    }
    if (si.present) {
        o = &b->sec[ST_SOFT];
        c_raw(o, hex);
        c_str(s, o, si.software);
        c_str(s, o, si.software_version);
        c_str(s, o, si.os);
        c_str(s, o, si.os_version);
        c_bool(o, si.has_icon);
        row_end(o);
    }
    softinfo_free(&si);
    struct softinfo_contacts contacts = {0};
    if (softinfo_contacts_extract(info, &contacts) > 0) {
        o = &b->sec[ST_CONTACT];
        for (size_t i = 0; i < contacts.n; i++) {
            c_raw(o, hex);
            c_str(s, o, contacts.items[i].kind);
            c_int(o, (long long)i);
            c_str(s, o, contacts.items[i].uri);
            row_end(o);
        }
    }
    softinfo_contacts_free(&contacts);
}

/* Stages a disco#info answer as content; writes its digest (hex) to hex
 * and whether it has XEP-0232 software info to *soft. False (hex "")
 * when there is no answer at all. */
static bool stage_content(struct store *s, struct batch *b, const char *xml,
                          size_t len, const struct disco_info *info,
                          const char *parse_error, char hex[65])
{
    hex[0] = '\0';
    if (xml == NULL && info == NULL)
        return false;
    char *own_xml = NULL;
    if (xml == NULL) {
        own_xml = disco_info_to_xml(info);
        xml = own_xml;
        len = strlen(own_xml);
    }
    struct disco_info *own_info = NULL;
    char perr_msg[256];
    if (info == NULL && parse_error == NULL) {
        struct parse_err err;
        memset(&err, 0, sizeof err);
        own_info = disco_parse(xml, len, NULL, &err);
        if (own_info == NULL) {
            snprintf(perr_msg, sizeof perr_msg, "%s: %s",
                     disco_err_name((enum disco_err)err.code), err.msg);
            parse_error = perr_msg;
        }
        info = own_info;
    }
    unsigned char d[HASH_MAX_LEN];
    if (!hash_digest(HASH_SHA256, xml, len, d))
        DIE_BUG("sha-256 unavailable");
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    if (dset_add(&b->digests, d))
        stage_content_rows(s, b, hex, xml, len, parse_error ? NULL : info,
                           parse_error);
    disco_info_free(own_info);
    free(own_xml);
    return true;
}

/* Ends a put: counts, accounts bytes, closes the batch at its bounds. */
static bool put_done(struct store *s, struct batch *b, size_t before)
{
    size_t after = batch_len(b);
    size_t delta = after - before;
    b->bytes = after;
    b->rows++;
    s->put_seq++;
    s->st.rows_queued[b->kind]++;
    s->st.queued_bytes += delta;
    s->st.memory_bytes += delta;
    if (b->rows >= s->o.batch_rows || b->bytes >= s->o.batch_bytes)
        seal(s, b->kind);
    check_pressure(s);
    return true;
}

bool store_put_disco(struct store *s, const struct store_disco *d)
{
    const char *why = entity_problem(&d->entity);
    if (d->source_id <= 0)
        why = "no source";
    else if (d->xml == NULL && d->info == NULL)
        why = "no answer";
    if (why)
        return refuse(s, STORE_DISCO, why);
    struct batch *b = open_batch(s, STORE_DISCO);
    size_t before = batch_len(b);
    char ts[40], hex[65];
    stamp(d->observed_us, ts);
    stage_entity(s, b, &d->entity, ts);
    stage_content(s, b, d->xml, d->xml_len, d->info, d->parse_error, hex);
    struct buf *o = &b->sec[ST_SNAP];
    c_int(o, (long long)d->source_id);
    c_str(s, o, d->entity.address);
    c_str(s, o, d->entity.node ? d->entity.node : "");
    c_raw(o, hex);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}

bool store_put_item(struct store *s, const struct store_item *it)
{
    const char *why = entity_problem(&it->parent);
    if (why == NULL)
        why = entity_problem(&it->child);
    if (it->source_id <= 0)
        why = "no source";
    if (why)
        return refuse(s, STORE_ITEM, why);
    struct batch *b = open_batch(s, STORE_ITEM);
    size_t before = batch_len(b);
    char ts[40];
    stamp(it->observed_us, ts);
    stage_entity(s, b, &it->parent, ts);
    stage_entity(s, b, &it->child, ts);
    struct buf *o = &b->sec[ST_LINK];
    c_int(o, (long long)it->source_id);
    c_str(s, o, it->parent.address);
    c_str(s, o, it->parent.node ? it->parent.node : "");
    c_str(s, o, it->child.address);
    c_str(s, o, it->child.node ? it->child.node : "");
    c_str(s, o, it->name);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}

bool store_put_version(struct store *s, const struct store_version *v)
{
    const char *why = entity_problem(&v->entity);
    if (v->source_id <= 0)
        why = "no source";
    if (why)
        return refuse(s, STORE_VERSION, why);
    struct batch *b = open_batch(s, STORE_VERSION);
    size_t before = batch_len(b);
    char ts[40];
    stamp(v->observed_us, ts);
    stage_entity(s, b, &v->entity, ts);
    struct buf *o = &b->sec[ST_VER];
    c_int(o, (long long)v->source_id);
    c_str(s, o, v->entity.address);
    c_str(s, o, v->entity.node ? v->entity.node : "");
    c_str(s, o, v->name);
    c_str(s, o, v->version);
    c_str(s, o, v->os);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}

bool store_put_outcome(struct store *s, const struct store_outcome *oc)
{
    const char *why = NULL;
    bool has_entity = oc->entity.address != NULL;
    if (has_entity)
        why = entity_problem(&oc->entity);
    if (oc->source_id <= 0)
        why = "no source";
    else if (oc->probe == NULL || oc->probe[0] == '\0' || !fits(oc->probe, 64))
        why = "bad probe name";
    else if (oc->outcome == NULL || oc->outcome[0] == '\0' ||
             !fits(oc->outcome, 64))
        why = "bad outcome name";
    if (why)
        return refuse(s, STORE_OUTCOME, why);
    struct batch *b = open_batch(s, STORE_OUTCOME);
    size_t before = batch_len(b);
    char ts[40];
    stamp(oc->observed_us, ts);
    if (has_entity)
        stage_entity(s, b, &oc->entity, ts);
    struct buf *o = &b->sec[ST_OUT];
    c_int(o, (long long)oc->source_id);
    c_id(o, oc->job_id);
    c_id(o, oc->domain_id);
    c_str(s, o, oc->entity.address);
    c_str(s, o, has_entity ? (oc->entity.node ? oc->entity.node : "") : NULL);
    c_str(s, o, oc->probe);
    c_str(s, o, oc->outcome);
    c_clip(s, o, oc->condition, 256); /* remote text: clipped, not refused */
    c_clip(s, o, oc->detail, 2000);
    if (oc->duration_ms >= 0)
        c_int(o, oc->duration_ms);
    else
        c_null(o);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}

static const char *service_problem(const struct store_entity *e)
{
    return e->address ? entity_problem(e) : NULL;
}

static void stage_service(struct store *s, struct batch *b, struct buf *o,
                          const struct store_entity *e, const char *ts)
{
    if (e->address) {
        stage_entity(s, b, e, ts);
        c_str(s, o, e->address);
        c_str(s, o, e->node ? e->node : "");
    } else {
        c_null(o);
        c_null(o);
    }
}

bool store_put_caps_obs(struct store *s, const struct store_caps_obs *c)
{
    const char *why = service_problem(&c->service);
    if (c->source_id <= 0)
        why = "no source";
    else if (c->algo == NULL || !fits(c->algo, 32))
        why = "bad algo";
    else if (c->ver == NULL || !fits(c->ver, 1024))
        why = "bad ver";
    else if (c->node == NULL || !fits(c->node, 1024))
        why = "bad node";
    else if (c->count < 1)
        why = "count below 1";
    if (why)
        return refuse(s, STORE_CAPS_OBS, why);
    struct batch *b = open_batch(s, STORE_CAPS_OBS);
    size_t before = batch_len(b);
    char ts[40];
    stamp(c->observed_us, ts);
    struct buf *o = &b->sec[ST_COBS];
    c_int(o, (long long)c->source_id);
    stage_service(s, b, o, &c->service, ts);
    c_str(s, o, c->algo);
    c_str(s, o, c->ver);
    c_str(s, o, c->node);
    c_int(o, (long long)c->count);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}

bool store_put_caps_entry(struct store *s, const struct store_caps_entry *e)
{
    enum caps_outcome oc;
    enum caps_error ce = CAPS_ERR_NONE;
    const char *why = NULL;
    if (e->source_id <= 0)
        why = "no source";
    else if (e->algo == NULL || !fits(e->algo, 32))
        why = "bad algo";
    else if (e->ver == NULL || !fits(e->ver, 1024))
        why = "bad ver";
    else if (!fits(e->node, 1024))
        why = "node too long";
    else if (!caps_outcome_parse(e->outcome ? e->outcome : "", &oc))
        why = "unrecognized outcome";
    else if (e->error && !caps_error_parse(e->error, &ce))
        why = "unrecognized error";
    else if (ce != CAPS_ERR_NONE && oc != CAPS_ILL_FORMED)
        why = "error without ill-formed outcome";
    else if (e->algo[0] == '\0' && oc != CAPS_LEGACY)
        why = "empty algo without legacy outcome";
    else if (e->matched_by &&
             (e->matched_by[0] == '\0' || !fits(e->matched_by, 64)))
        why = "bad matched_by";
    if (why)
        return refuse(s, STORE_CAPS_ENTRY, why);
    struct batch *b = open_batch(s, STORE_CAPS_ENTRY);
    size_t before = batch_len(b);
    char ts[40], hex[65];
    stamp(e->observed_us, ts);
    bool content =
        stage_content(s, b, e->xml, e->xml_len, e->info, e->parse_error, hex);
    struct buf *o = &b->sec[ST_CENT];
    c_int(o, (long long)e->source_id);
    c_str(s, o, e->algo);
    c_str(s, o, e->ver);
    c_str(s, o, e->node);
    c_raw(o, caps_outcome_name(oc));
    c_str(s, o, caps_error_name(ce));
    c_str(s, o, e->matched_by);
    c_str(s, o, e->verification_string);
    c_str(s, o, e->computed_ver);
    c_str(s, o, content ? hex : NULL);
    c_bool(o, e->has_softinfo);
    c_bool(o, oc == CAPS_MISMATCH);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}

bool store_put_caps2_obs(struct store *s, const struct store_caps2_obs *c)
{
    const char *why = service_problem(&c->service);
    if (c->source_id <= 0)
        why = "no source";
    else if (c->algo == NULL || !fits(c->algo, 32))
        why = "bad algo";
    else if (c->value == NULL || !fits(c->value, 1024))
        why = "bad value";
    else if (c->count < 1)
        why = "count below 1";
    if (why)
        return refuse(s, STORE_CAPS2_OBS, why);
    struct batch *b = open_batch(s, STORE_CAPS2_OBS);
    size_t before = batch_len(b);
    char ts[40];
    stamp(c->observed_us, ts);
    struct buf *o = &b->sec[ST_C2OBS];
    c_int(o, (long long)c->source_id);
    stage_service(s, b, o, &c->service, ts);
    c_str(s, o, c->algo);
    c_str(s, o, c->value);
    c_int(o, (long long)c->count);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}

static const char *const caps2_outcomes[] = {
    "valid", "ill-formed", "mismatch", "unsupported-hash", "unparsable", NULL};

bool store_put_caps2_entry(struct store *s, const struct store_caps2_entry *e)
{
    /* lib/caps2.h calls an ill-formed input "error" */
    const char *outcome = e->outcome && strcmp(e->outcome, "error") == 0
                              ? "ill-formed"
                              : e->outcome;
    const char *why = NULL;
    if (e->algo == NULL || e->algo[0] == '\0' || !fits(e->algo, 32))
        why = "bad algo";
    else if (e->value == NULL || !fits(e->value, 1024))
        why = "bad value";
    else if (!one_of(outcome, caps2_outcomes))
        why = "unrecognized outcome";
    if (why)
        return refuse(s, STORE_CAPS2_ENTRY, why);
    struct batch *b = open_batch(s, STORE_CAPS2_ENTRY);
    size_t before = batch_len(b);
    char ts[40], hex[65];
    stamp(e->observed_us, ts);
    bool content =
        stage_content(s, b, e->xml, e->xml_len, e->info, e->parse_error, hex);
    struct buf *o = &b->sec[ST_C2ENT];
    c_str(s, o, e->algo);
    c_str(s, o, e->value);
    c_raw(o, outcome);
    c_str(s, o, content ? hex : NULL);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}

static const char *const srv_services[] = {"xmpp-client", "xmpps-client",
                                           "xmpp-server", "xmpps-server", NULL};
static const char *const streams[] = {"c2s", "s2s", NULL};
static const char *const phases[] = {"pre-tls", "post-tls", NULL};
static const char *const starttls_modes[] = {"none", "optional", "required",
                                             NULL};

static bool ip_ok(const char *ip)
{
    unsigned char a[16];
    return ip == NULL || inet_pton(AF_INET, ip, a) == 1 ||
           inet_pton(AF_INET6, ip, a) == 1;
}

bool store_put_srv(struct store *s, const struct store_srv *r)
{
    const char *why = NULL;
    if (r->source_id <= 0 || r->domain_id <= 0)
        why = "no source or domain";
    else if (!one_of(r->service, srv_services))
        why = "unrecognized service";
    else if (r->target == NULL || !fits(r->target, 1024))
        why = "bad target";
    else if (r->port < 0 || r->port > 65535)
        why = "bad port";
    if (why)
        return refuse(s, STORE_SRV, why);
    struct batch *b = open_batch(s, STORE_SRV);
    size_t before = batch_len(b);
    char ts[40];
    stamp(r->observed_us, ts);
    struct buf *o = &b->sec[ST_SRV];
    c_int(o, (long long)r->source_id);
    c_int(o, (long long)r->domain_id);
    c_raw(o, r->service);
    c_str(s, o, r->target);
    c_int(o, r->port);
    if (r->priority >= 0)
        c_int(o, r->priority);
    else
        c_null(o);
    if (r->weight >= 0)
        c_int(o, r->weight);
    else
        c_null(o);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}

bool store_put_stream(struct store *s, const struct store_stream *f)
{
    const char *why = NULL;
    if (f->source_id <= 0 || f->domain_id <= 0)
        why = "no source or domain";
    else if (!one_of(f->stream, streams))
        why = "unrecognized stream";
    else if (f->target == NULL || !fits(f->target, 1024))
        why = "bad target";
    else if (!ip_ok(f->ip))
        why = "bad ip";
    else if (f->port < 0 || f->port > 65535)
        why = "bad port";
    else if (!one_of(f->phase, phases))
        why = "unrecognized phase";
    else if (f->starttls && !one_of(f->starttls, starttls_modes))
        why = "unrecognized starttls";
    if (why)
        return refuse(s, STORE_STREAM, why);
    struct batch *b = open_batch(s, STORE_STREAM);
    size_t before = batch_len(b);
    char ts[40];
    stamp(f->observed_us, ts);
    struct buf *o = &b->sec[ST_STREAM];
    c_int(o, (long long)f->source_id);
    c_int(o, (long long)f->domain_id);
    c_raw(o, f->stream);
    c_str(s, o, f->target);
    c_str(s, o, f->ip);
    c_int(o, f->port);
    c_bool(o, f->direct_tls);
    c_raw(o, f->phase);
    c_str(s, o, f->starttls);
    c_array(s, o, f->mechanisms, f->n_mechanisms);
    c_bool(o, f->sm);
    c_bool(o, f->rosterver);
    c_bool(o, f->bidi);
    c_bool(o, f->csi);
    c_bool(o, f->ibr);
    c_bool(o, f->dialback);
    c_array(s, o, f->compression, f->n_compression);
    c_str(s, o, f->caps_node);
    c_str(s, o, f->caps_ver);
    c_str(s, o, f->caps_algo);
    c_array(s, o, f->other, f->n_other);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}

bool store_put_tls(struct store *s, const struct store_tls *t)
{
    const char *why = NULL;
    if (t->source_id <= 0 || t->domain_id <= 0)
        why = "no source or domain";
    else if (!one_of(t->stream, streams))
        why = "unrecognized stream";
    else if (t->target == NULL || !fits(t->target, 1024))
        why = "bad target";
    else if (!ip_ok(t->ip))
        why = "bad ip";
    else if (t->port < 0 || t->port > 65535)
        why = "bad port";
    if (why)
        return refuse(s, STORE_TLS, why);
    struct batch *b = open_batch(s, STORE_TLS);
    size_t before = batch_len(b);
    char ts[40], t1[40], t2[40], hex[65];
    stamp(t->observed_us, ts);
    struct buf *o = &b->sec[ST_TLS];
    c_int(o, (long long)t->source_id);
    c_int(o, (long long)t->domain_id);
    c_raw(o, t->stream);
    c_str(s, o, t->target);
    c_str(s, o, t->ip);
    c_int(o, t->port);
    c_bool(o, t->direct_tls);
    c_str(s, o, t->tls_version);
    c_str(s, o, t->cipher);
    c_str(s, o, t->cert_subject);
    c_str(s, o, t->cert_issuer);
    c_array(s, o, t->cert_names, t->n_cert_names);
    if (t->cert_not_before_us) {
        store_time_format(t->cert_not_before_us, t1);
        c_raw(o, t1);
    } else {
        c_null(o);
    }
    if (t->cert_not_after_us) {
        store_time_format(t->cert_not_after_us, t2);
        c_raw(o, t2);
    } else {
        c_null(o);
    }
    if (t->cert_sha256) {
        for (size_t i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", t->cert_sha256[i]);
        c_raw(o, hex);
    } else {
        c_null(o);
    }
    if (t->verifies < 0)
        c_null(o);
    else
        c_bool(o, t->verifies > 0);
    c_str(s, o, t->verify_error);
    c_raw(o, ts);
    row_end(o);
    return put_done(s, b, before);
}
