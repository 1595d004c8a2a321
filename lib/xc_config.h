/*
 * The configuration of xcensus: struct xc_config and the option table
 * that describes it (one row per key; loading itself is lib/cfg.c).
 * Field names are the YAML keys: `crawl.lease` is cfg->crawl.lease, so
 * grep works both ways. Units: every duration field holds milliseconds,
 * every size field bytes (int64_t). Strings are NULL when empty. Enums
 * hold the index of the word in the table, spelled by the enums below.
 *
 * Secrets (database password, account passwords) are never in the YAML:
 * the file names an environment variable (password_env) or a file
 * (password_file) and the loader resolves it into .value.
 */
#ifndef XC_XC_CONFIG_H
#define XC_XC_CONFIG_H

#include <stdint.h>

#include "cfg.h"
#include "common.h"

/* crawl.scope */
enum xc_scope {
    XC_SCOPE_SEEDS,      /* only domains seeded explicitly */
    XC_SCOPE_DISCOVERED, /* also domains discovered while crawling */
    XC_SCOPE_OPT_IN,     /* only domains advertising XEP-0485 or listed */
    XC_SCOPE__COUNT
};

/* accounts[].tls */
enum xc_tls {
    XC_TLS_REQUIRED, /* STARTTLS or direct TLS, certificate verified */
    XC_TLS_PLAINTEXT_LOOPBACK, /* plaintext allowed, loopback addresses only */
    XC_TLS__COUNT
};

/* log.progress */
enum xc_progress {
    XC_PROGRESS_AUTO, /* live line when stderr is a terminal */
    XC_PROGRESS_ALWAYS,
    XC_PROGRESS_NEVER,
    XC_PROGRESS__COUNT
};

/* One XMPP account the crawler logs in with (accounts: list item). */
struct xc_account {
    char *jid;                  /* bare JID, required */
    struct cfg_secret password; /* password_env / password_file; .value */
    char *host;                 /* server host override (NULL = SRV lookup) */
    int64_t port;               /* 0 = from SRV or 5222 */
    int tls;                    /* enum xc_tls */
    int64_t send_rate;          /* stanzas per second (token bucket rate) */
    int64_t send_burst;         /* token bucket size */
    int64_t max_inflight;       /* iqs awaiting an answer on this session */
    int64_t reconnect_max;      /* ms, cap of the reconnect backoff */
};

struct xc_database_cfg {
    char *conninfo;             /* libpq connection string, no password */
    struct cfg_secret password; /* password_env / password_file */
    int64_t pool_size;          /* connections per process */
    int64_t batch_rows;         /* rows per COPY batch */
    int64_t flush_interval;     /* ms, longest a row waits for its batch */
    int64_t connect_timeout;    /* ms */
    int64_t reconnect_max;      /* ms, cap of the reconnect backoff */
    int64_t max_memory;         /* bytes of unacknowledged results in RAM */
    char *spill_dir;            /* NULL = no spill: pause the crawl */
    int64_t spill_max;          /* bytes on disk in spill_dir */
};

struct xc_backoff_cfg { /* ms each: first retry delay per class */
    int64_t timeout;
    int64_t remote_server_not_found;
    int64_t service_unavailable;
    int64_t policy_violation;
    int64_t resource_constraint;
    int64_t other;
    int64_t max; /* cap of the doubling */
};

struct xc_crawl_cfg {
    char *name;                 /* the named crawl this process works on */
    int scope;                  /* enum xc_scope */
    int64_t recrawl_interval;   /* ms */
    int64_t lease;              /* ms */
    int64_t heartbeat_interval; /* ms */
    int64_t max_attempts;
    int64_t claim_batch; /* jobs claimed per statement */
    int64_t max_domains_in_flight;
    struct xc_backoff_cfg backoff;
};

struct xc_identify_cfg {
    char *name;       /* XEP-0092 name and disco#info identity name */
    char *version;    /* NULL = the program's version */
    char *policy_url; /* NULL = none */
};

struct xc_politeness_cfg {
    int64_t min_interval; /* ms between two jobs on one domain */
    int64_t jitter;       /* ms, random extra delay up to this */
    char *deny_file;      /* NULL = none */
    struct xc_identify_cfg identify;
};

struct xc_limits_cfg {
    int64_t iq_timeout;       /* ms */
    int64_t connect_timeout;  /* ms */
    int64_t stanza_max_bytes; /* bytes */
    int64_t items_max;        /* disco#items per entity */
    int64_t items_pages;      /* RSM pages per entity */
};

struct xc_census_cfg {
    bool enabled;
    int64_t rooms_per_service;
    int64_t min_occupants;
    int64_t join_duration; /* ms */
    char *nick;
    char *status;
    int64_t resolve_timeout; /* ms */
    int64_t fallback_occupants;
};

struct xc_direct_cfg {
    bool enabled;
    int64_t concurrency;
    int64_t targets_per_domain;
    int64_t dns_timeout;     /* ms */
    int64_t connect_timeout; /* ms */
    int64_t tls_timeout;     /* ms */
    int64_t read_timeout;    /* ms */
    int64_t max_bytes;       /* bytes per stream */
};

struct xc_dns_cfg {
    char *servers; /* "IP[:PORT],..."; NULL = the system's resolv.conf */
};

struct xc_analyzer_cfg {
    struct cfg_strlist sources;     /* empty = every source */
    struct cfg_intlist cache_sizes; /* entries; 0 = unbounded */
    int64_t scale_max;              /* largest synthetic population */
    char *report_dir;
};

struct xc_serve_cfg {
    char *listen;
    int64_t port;
    char *static_dir; /* NULL = the installed dashboards */
    int64_t max_connections;
    int64_t max_header_bytes;  /* bytes */
    int64_t max_body_bytes;    /* bytes */
    int64_t request_timeout;   /* ms */
    int64_t statement_timeout; /* ms */
    int64_t db_connections;
    int64_t max_pending;
    int64_t page_size_max;
    int64_t cache_ttl;       /* ms */
    int64_t cache_max_bytes; /* bytes */
};

struct xc_log_cfg {
    int level;    /* enum log_level (lib/log.h) */
    char *file;   /* NULL = stderr */
    int progress; /* enum xc_progress */
};

/* The whole configuration. Owned by whoever loaded it; free with
 * xc_config_free(). */
struct xc_config {
    struct xc_database_cfg database;
    struct xc_crawl_cfg crawl;
    struct cfg_list accounts; /* of struct xc_account: xc_config_account() */
    struct xc_politeness_cfg politeness;
    struct xc_limits_cfg limits;
    struct xc_census_cfg census;
    struct xc_direct_cfg direct;
    struct xc_dns_cfg dns;
    struct xc_analyzer_cfg analyzer;
    struct xc_serve_cfg serve;
    struct xc_log_cfg log;
};

/* The option table (iterate xc_config_table.opts[0..n) for keys, docs,
 * tests). Accounts' keys are in xc_account_table. */
extern const struct cfg_table xc_config_table;
extern const struct cfg_table xc_account_table;

/* Loads the file at path into *cfg (defaults for what it does not set).
 * path NULL gives the defaults. On success returns true and *cfg owns new
 * memory (xc_config_free()); on failure returns false, *cfg holds
 * nothing, and errs lists the errors (cfg_errors_free()). flags:
 * CFG_NO_SECRETS to skip reading secrets, else 0. */
bool xc_config_load(const char *path, struct xc_config *cfg, unsigned flags,
                    struct cfg_errors *errs) MUST_CHECK;
/* The same from memory; name is used in messages. */
bool xc_config_load_buffer(const char *name, const char *data, size_t len,
                           struct xc_config *cfg, unsigned flags,
                           struct cfg_errors *errs) MUST_CHECK;
/* Fills *cfg with the defaults (a bad default is a bug: aborts). */
void xc_config_defaults(struct xc_config *cfg);
/* Frees what *cfg holds (secrets wiped) and zeroes it. */
void xc_config_free(struct xc_config *cfg);
/* Account i (< cfg->accounts.n); borrowed from cfg. */
const struct xc_account *xc_config_account(const struct xc_config *cfg,
                                           size_t i);

#endif
