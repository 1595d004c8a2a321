/*
 * The crawler's storage writer: typed put functions for everything a crawl
 * records, batched as COPY text into temporary stage tables and merged
 * with INSERT ... SELECT ... ON CONFLICT, on one non-blocking connection of
 * its own (crawler/pgasync) on the caller's event loop. It never blocks and
 * it loses nothing:
 *
 *  - every put copies its inputs at once (the caller frees its stanza and
 *    arena right after) and returns; invalid input (what a CHECK of the
 *    schema would refuse) is refused at the put, counted, never sent;
 *  - a batch closes at batch_rows records, batch_bytes bytes or flush_ms
 *    after its first record, and is sent as one transaction whose first
 *    statement records its id in store_batches: a batch sent twice (after
 *    a lost connection, from a spill file, by a restarted process) fails
 *    on that key and counts as already written, so nothing is duplicated;
 *  - while the database is away batches wait in memory up to max_memory,
 *    beyond it in files of spill_dir (one per batch, written atomically),
 *    and are replayed in order once it is back; a process started on a
 *    spill_dir replays what a previous process left there (a lock file
 *    keeps two live processes off one directory);
 *  - a batch the server refuses (an SQL error that is not transient) is
 *    logged with its table, kept in spill_dir/rejected/, counted, and the
 *    queue goes on;
 *  - back-pressure: a callback when unacknowledged bytes (memory and
 *    spill files) reach high_water (pause) and fall to low_water (resume);
 *  - store_sync() calls back once everything put so far is committed, so
 *    the caller can complete a job only when its results are safe;
 *    store_drain() flushes everything on shutdown.
 *
 * See docs/STORE.md. Callbacks run from the event loop; they may put and
 * sync but must not free the store, except the drain callback.
 */
#ifndef XC_STORE_H
#define XC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct event_base;
struct disco_info;
struct store;

struct store_opts {
    const char *conninfo;  /* libpq conninfo of the writer's connection */
    const char *owner;     /* prefix of batch ids, unique per process;
                              NULL: "host:pid:random" */
    int batch_rows;        /* records per batch (2000) */
    size_t batch_bytes;    /* COPY bytes per batch (4 MiB) */
    int flush_ms;          /* longest a record waits for its batch (200) */
    size_t max_memory;     /* unacknowledged bytes kept in RAM (64 MiB) */
    const char *spill_dir; /* NULL: no spilling (memory grows, the
                              pressure callback pauses the caller) */
    size_t spill_max;      /* bytes of spill files (1 GiB) */
    size_t high_water;     /* 0: max_memory (+ spill_max/2 with spill) */
    size_t low_water;      /* 0: max_memory / 4 */
    int inflight;          /* transactions handed to the connection at once
                              (2), each one batch or a group of them */
    int reconnect_min_ms;  /* backoff of the connection (100) */
    int reconnect_max_ms;  /* (5000) */
    int retry_max_ms;      /* cap of the delay after a transient SQL
                              error such as a deadlock (30000) */
};

/* Fills o with the defaults above. */
void store_opts_default(struct store_opts *o);

/* What a put writes; each kind has its own batch (a refused batch holds
 * one kind only). */
enum store_kind {
    STORE_DISCO,       /* disco#info snapshot with its normalized content */
    STORE_ITEM,        /* a disco#items link */
    STORE_VERSION,     /* XEP-0092 answer */
    STORE_OUTCOME,     /* outcome of a probe */
    STORE_CAPS_OBS,    /* XEP-0115 caps seen, counted per room service */
    STORE_CAPS_ENTRY,  /* one resolution of an XEP-0115 (algo, ver) */
    STORE_CAPS2_OBS,   /* XEP-0390 hash seen, counted per service */
    STORE_CAPS2_ENTRY, /* verdict on an XEP-0390 (algo, value) */
    STORE_SRV,         /* an SRV record */
    STORE_STREAM,      /* stream features of one stream */
    STORE_TLS,         /* TLS facts of one connection */
    STORE__KINDS
};

/* Stable name ("disco", "item", "version", "outcome", "caps-obs",
 * "caps-entry", "caps2-obs", "caps2-entry", "srv", "stream", "tls"). */
const char *store_kind_name(enum store_kind k);

/* entities.kind */
enum store_entity_kind {
    STORE_ENT_UNKNOWN, /* "unknown" (never overrides a known kind) */
    STORE_ENT_SERVER,
    STORE_ENT_COMPONENT,
    STORE_ENT_MUC,
    STORE_ENT_ROOM,
    STORE_ENT_PUBSUB,
    STORE_ENT_UPLOAD,
    STORE_ENT_PROXY,
    STORE_ENT_GATEWAY,
    STORE_ENT_OTHER,
    STORE_ENT__COUNT
};

const char *store_entity_kind_name(enum store_entity_kind k);

/* An entity (row of entities, created or updated by the put): a bare
 * address (no '/', not empty, <= 3071 bytes) and a disco node (NULL =
 * "", <= 1024 bytes). */
struct store_entity {
    const char *address;
    const char *node;
    enum store_entity_kind kind;
    int64_t domain_id; /* domains.id, 0 = unknown */
};

/* Every put: source_id (sources.id of the crawl run) > 0; observed_us =
 * microseconds since the epoch, 0 = now. Strings are borrowed for the
 * duration of the call only. A put returns true when the record is
 * queued and false when it is refused (bad input; counted in
 * store_stats.refused, logged at debug level). */

/* disco#info answer of an entity. Give the raw XML (xml, xml_len: what
 * the digest of disco_contents is computed on) and/or the parsed info;
 * without info the store parses xml itself; parse_error (NULL: parsed)
 * is stored with the content when the answer did not parse. */
struct store_disco {
    int64_t source_id;
    struct store_entity entity;
    const char *xml; /* NULL: info serialized */
    size_t xml_len;
    const struct disco_info *info;
    const char *parse_error;
    int64_t observed_us;
};
bool store_put_disco(struct store *s, const struct store_disco *d);

/* One disco#items link: parent listed child (with its name). */
struct store_item {
    int64_t source_id;
    struct store_entity parent, child;
    const char *name;
    int64_t observed_us;
};
bool store_put_item(struct store *s, const struct store_item *it);

/* XEP-0092 answer. */
struct store_version {
    int64_t source_id;
    struct store_entity entity;
    const char *name, *version, *os;
    int64_t observed_us;
};
bool store_put_version(struct store *s, const struct store_version *v);

/* The outcome of one probe (success, iq error, timeout ...). entity.address
 * NULL: a probe of the domain itself without an entity. */
struct store_outcome {
    int64_t source_id;
    int64_t job_id;    /* jobs.id, 0 = none */
    int64_t domain_id; /* 0 = none */
    struct store_entity entity;
    const char *probe;     /* "disco-info", "version", ... (<= 64 bytes) */
    const char *outcome;   /* the crawler's outcome class (<= 64 bytes) */
    const char *condition; /* XMPP error condition, TLS alert, NULL;
                              clipped to 256 characters */
    const char *detail;    /* NULL; clipped to 2000 characters */
    int duration_ms;       /* < 0: unknown */
    int64_t observed_us;
};
bool store_put_outcome(struct store *s, const struct store_outcome *o);

/* count XEP-0115 caps (algo, ver, node) seen on a room service (address
 * NULL: none); counts add up per (source, service, algo, ver, node). */
struct store_caps_obs {
    int64_t source_id;
    struct store_entity service;
    const char *algo; /* "" legacy, <= 32 bytes */
    const char *ver;  /* <= 1024 bytes */
    const char *node; /* <= 1024 bytes */
    int64_t count;    /* >= 1 */
    int64_t observed_us;
};
bool store_put_caps_obs(struct store *s, const struct store_caps_obs *o);

/* One resolution of an XEP-0115 (algo, ver) by disco#info node#ver, and
 * the protocol core's verdict (names of lib/caps.h): caps_entries is
 * created or updated (a later verdict replaces an earlier one, except
 * that "valid" is never replaced by anything else), caps_entry_nodes
 * counts the resolution under node (a mismatch too when outcome is
 * "mismatch"). The disco#info answer (xml and/or info) is optional. */
struct store_caps_entry {
    int64_t source_id;
    const char *algo, *ver, *node;
    const char *outcome;    /* valid ill-formed mismatch unsupported-hash
                               legacy unparsable */
    const char *error;      /* ill-formed reason or NULL */
    const char *matched_by; /* NULL: nothing reproduced ver */
    const char *verification_string, *computed_ver; /* NULL */
    bool has_softinfo;
    const char *xml;
    size_t xml_len;
    const struct disco_info *info;
    const char *parse_error;
    int64_t observed_us;
};
bool store_put_caps_entry(struct store *s, const struct store_caps_entry *e);

/* count XEP-0390 hashes (algo, value) seen on a service. */
struct store_caps2_obs {
    int64_t source_id;
    struct store_entity service;
    const char *algo, *value;
    int64_t count;
    int64_t observed_us;
};
bool store_put_caps2_obs(struct store *s, const struct store_caps2_obs *o);

/* Verdict on an XEP-0390 (algo, value); same replacement rule as caps
 * entries. outcome: valid ill-formed mismatch unsupported-hash unparsable. */
struct store_caps2_entry {
    const char *algo, *value, *outcome;
    const char *xml;
    size_t xml_len;
    const struct disco_info *info;
    const char *parse_error;
    int64_t observed_us;
};
bool store_put_caps2_entry(struct store *s, const struct store_caps2_entry *e);

/* An SRV record of a domain. service: xmpp-client xmpps-client
 * xmpp-server xmpps-server. */
struct store_srv {
    int64_t source_id, domain_id;
    const char *service, *target;
    int port, priority, weight; /* priority/weight < 0: NULL */
    int64_t observed_us;
};
bool store_put_srv(struct store *s, const struct store_srv *r);

/* Stream features of one stream. */
struct store_stream {
    int64_t source_id, domain_id;
    const char *stream; /* c2s s2s */
    const char *target; /* host name connected to */
    const char *ip;     /* NULL or an IPv4/IPv6 literal */
    int port;
    bool direct_tls;
    const char *phase;    /* pre-tls post-tls */
    const char *starttls; /* none optional required, NULL */
    const char *const *mechanisms;
    size_t n_mechanisms;
    bool sm, rosterver, bidi, csi, ibr, dialback;
    const char *const *compression;
    size_t n_compression;
    const char *caps_node, *caps_ver, *caps_algo;
    const char *const *other;
    size_t n_other;
    int64_t observed_us;
};
bool store_put_stream(struct store *s, const struct store_stream *f);

/* TLS facts of one connection. */
struct store_tls {
    int64_t source_id, domain_id;
    const char *stream, *target, *ip;
    int port;
    bool direct_tls;
    const char *tls_version, *cipher, *cert_subject, *cert_issuer;
    const char *const *cert_names;
    size_t n_cert_names;
    int64_t cert_not_before_us, cert_not_after_us; /* 0: NULL */
    const unsigned char *cert_sha256;              /* 32 bytes or NULL */
    int verifies; /* -1 NULL, 0 false, 1 true */
    const char *verify_error;
    int64_t observed_us;
};
bool store_put_tls(struct store *s, const struct store_tls *t);

/* Counters for metrics and tests (monotonic except the *_bytes gauges). */
struct store_stats {
    uint64_t rows_queued[STORE__KINDS];  /* records accepted by puts */
    uint64_t rows_written[STORE__KINDS]; /* records in committed batches */
    uint64_t refused[STORE__KINDS];      /* puts refused as invalid */
    uint64_t replaced_chars; /* invalid UTF-8/NUL replaced by U+FFFD */
    uint64_t batches_sealed;
    uint64_t batches_written;   /* committed */
    uint64_t batches_duplicate; /* already committed (replay hit the key) */
    uint64_t batches_resent;    /* sent again after a lost connection */
    uint64_t batches_retried;   /* sent again after a transient SQL error */
    uint64_t batches_spilled;   /* written to a spill file */
    uint64_t bytes_spilled;
    uint64_t batches_replayed; /* read back from a spill file */
    uint64_t batches_rejected; /* refused by the server, kept in rejected/ */
    uint64_t transactions;     /* sent, each one batch or a group of them */
    uint64_t groups_split;     /* groups sent again batch by batch */
    uint64_t rows_rejected;
    uint64_t errors;          /* file errors, lost batches */
    uint64_t pauses, resumes; /* back-pressure callbacks */
    size_t queued_bytes;      /* unacknowledged, memory + spill */
    size_t memory_bytes;      /* unacknowledged in memory */
    size_t spill_bytes;       /* in spill files */
    size_t batches_queued;    /* sealed, not yet committed */
    bool paused;
    bool db_up;
};

/* Starts the writer (connecting at once). Returns a new store, or NULL
 * with why[] set when the spill directory cannot be created or locked.
 * Batch files left in spill_dir by a previous process are queued first.
 * Caller frees with store_free(). */
struct store *store_new(struct event_base *base, const struct store_opts *o,
                        char *why, size_t whylen);
/* Frees s at once: unwritten batches still in memory are lost (call
 * store_drain() first); pending sync callbacks get ok=false. Accepts
 * NULL. */
void store_free(struct store *s);

/* pause=true when queued bytes reach high_water, false when they fall to
 * low_water again. If the store is already paused (spill files of a
 * previous run above the mark), cb is called with pause=true at once. */
typedef void (*store_pressure_cb)(void *arg, bool pause);
void store_set_pressure_cb(struct store *s, store_pressure_cb cb, void *arg);

/* ok: everything asked for is committed (drain: or gave up, see there). */
typedef void (*store_done_cb)(void *arg, bool ok);

/* Calls cb(arg, true) once every record put before this call is
 * committed (or was refused by the server and kept in rejected/). Does
 * not close batches early: they close by their own bounds. */
void store_sync(struct store *s, store_done_cb cb, void *arg);
/* Closes every open batch now (they are sent as soon as possible). */
void store_flush(struct store *s);
/* Flushes everything and calls cb(arg, true) once all is committed; after
 * timeout_ms (<= 0: wait forever) gives up: batches still unwritten are
 * written to spill files (replayed by the next process on spill_dir) and
 * cb(arg, false) is called (from the loop, never from inside a put, so it
 * may free the store). Puts remain possible while draining. */
void store_drain(struct store *s, int timeout_ms, store_done_cb cb, void *arg);

/* Copies the counters into out. */
void store_get_stats(const struct store *s, struct store_stats *out);

#endif
