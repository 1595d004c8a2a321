/*
 * The xcensus option table: every key of the configuration file, its
 * type, default, range and help text, in the order the example file and
 * `xcensus config show` present them (grouped by section, which the YAML
 * dump relies on). Loading is lib/cfg.c; this file only describes.
 *
 * docs/CONFIGURATION.md's key reference is generated from this table
 * (`xcensus config keys --markdown`) and a unit test keeps it, and
 * config/xcensus.example.yaml, in step.
 */
#include "xc_config.h"

#include <arpa/inet.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

#define SEC(x) ((int64_t)(x)*1000)
#define MINUTE(x) (SEC(x) * 60)
#define HOUR(x) (MINUTE(x) * 60)
#define DAY(x) (HOUR(x) * 24)
#define KIB(x) ((int64_t)(x)*1024)
#define MIB(x) (KIB(x) * 1024)
#define GIB(x) (MIB(x) * 1024)

static const char *const scope_words[] = {
    [XC_SCOPE_SEEDS] = "seeds",
    [XC_SCOPE_DISCOVERED] = "discovered",
    [XC_SCOPE_OPT_IN] = "opt-in",
    NULL,
};
_Static_assert(ARRAY_LEN(scope_words) == XC_SCOPE__COUNT + 1, "names table");

static const char *const tls_words[] = {
    [XC_TLS_REQUIRED] = "required",
    [XC_TLS_PLAINTEXT_LOOPBACK] = "plaintext-loopback-only",
    NULL,
};
_Static_assert(ARRAY_LEN(tls_words) == XC_TLS__COUNT + 1, "names table");

static const char *const level_words[] = {
    [LOG_ERROR] = "error",
    [LOG_WARN] = "warn",
    [LOG_INFO] = "info",
    [LOG_DEBUG] = "debug",
    NULL,
};
_Static_assert(ARRAY_LEN(level_words) == LOG__COUNT + 1, "names table");

static const char *const progress_words[] = {
    [XC_PROGRESS_AUTO] = "auto",
    [XC_PROGRESS_ALWAYS] = "always",
    [XC_PROGRESS_NEVER] = "never",
    NULL,
};
_Static_assert(ARRAY_LEN(progress_words) == XC_PROGRESS__COUNT + 1,
               "names table");

#define A(f) offsetof(struct xc_account, f)

/* One row per key reads better than clang-format's layout. */
/* clang-format off */
static const struct cfg_option account_opts[] = {
    {.key = "jid", .type = CFG_STRING, .off = A(jid), .min = 3, .max = 3071,
     .required = true,
     .help = "bare JID of the account (localpart@domain)"},
    {.key = "password_env", .type = CFG_SECRET_ENV, .off = A(password),
     .required = true,
     .help = "environment variable holding the account password"},
    {.key = "password_file", .type = CFG_SECRET_FILE, .off = A(password),
     .help = "file whose first line is the account password (relative to "
             "the config file)"},
    {.key = "host", .type = CFG_STRING, .off = A(host), .max = 255,
     .help = "connect to this host instead of the SRV records of the JID's "
             "domain (empty = SRV)"},
    {.key = "port", .type = CFG_INT, .off = A(port), .min = 0, .max = 65535,
     .def = "0", .help = "port to connect to (0 = from SRV, else 5222)"},
    {.key = "tls", .type = CFG_ENUM, .off = A(tls), .words = tls_words,
     .def = "required",
     .help = "required: TLS with a verified certificate; "
             "plaintext-loopback-only: allow plaintext to loopback addresses "
             "(local test network)"},
    {.key = "send_rate", .type = CFG_INT, .off = A(send_rate), .min = 1,
     .max = 100000, .def = "40", .reload = true,
     .help = "stanzas per second this account sends (token bucket rate; "
             "server shapers cap one c2s account)"},
    {.key = "send_burst", .type = CFG_INT, .off = A(send_burst), .min = 1,
     .max = 100000, .def = "100", .reload = true,
     .help = "token bucket size: stanzas sent at once after a pause"},
    {.key = "max_inflight", .type = CFG_INT, .off = A(max_inflight),
     .min = 1, .max = 100000, .def = "256", .reload = true,
     .help = "iq queries awaiting an answer on this session at most"},
    {.key = "reconnect_max", .type = CFG_DURATION, .off = A(reconnect_max),
     .min = SEC(1), .max = HOUR(1), .def = "5m", .reload = true,
     .help = "longest wait between reconnection attempts (backoff cap)"},
};
/* clang-format on */

static void check_account(const void *base, cfg_report_cb report, void *rctx);

/* The keys of one accounts: item. */
const struct cfg_table xc_account_table = {
    .opts = account_opts,
    .n = ARRAY_LEN(account_opts),
    .size = sizeof(struct xc_account),
    .check = check_account,
};

#define O(f) offsetof(struct xc_config, f)

/* One row per key reads better than clang-format's layout. */
/* clang-format off */
static const struct cfg_option opts[] = {
    /* database */
    {.key = "database.conninfo", .type = CFG_STRING, .off = O(database.conninfo),
     .min = 1, .def = "dbname=xcensus",
     .help = "libpq connection string (keywords or URI) without the "
             "password"},
    {.key = "database.password_env", .type = CFG_SECRET_ENV,
     .off = O(database.password),
     .help = "environment variable holding the database password (empty = "
             "libpq's own: PGPASSWORD, ~/.pgpass, peer)"},
    {.key = "database.password_file", .type = CFG_SECRET_FILE,
     .off = O(database.password),
     .help = "file whose first line is the database password (relative to "
             "the config file)"},
    {.key = "database.pool_size", .type = CFG_INT, .off = O(database.pool_size),
     .min = 2, .max = 64, .def = "2",
     .help = "connections per process (one for results, the others for "
             "queue control)"},
    {.key = "database.batch_rows", .type = CFG_INT,
     .off = O(database.batch_rows), .min = 1, .max = 100000, .def = "2000",
     .reload = true, .help = "rows per COPY batch of the result writer"},
    {.key = "database.flush_interval", .type = CFG_DURATION,
     .off = O(database.flush_interval), .min = 10, .max = SEC(60),
     .def = "200ms", .reload = true,
     .help = "longest time a result waits for its batch to fill"},
    {.key = "database.connect_timeout", .type = CFG_DURATION,
     .off = O(database.connect_timeout), .min = SEC(1), .max = MINUTE(5),
     .def = "10s", .reload = true, .help = "time allowed to connect"},
    {.key = "database.reconnect_max", .type = CFG_DURATION,
     .off = O(database.reconnect_max), .min = SEC(1), .max = HOUR(1),
     .def = "30s", .reload = true,
     .help = "longest wait between reconnection attempts during an outage"},
    {.key = "database.max_memory", .type = CFG_SIZE,
     .off = O(database.max_memory), .min = MIB(1), .max = GIB(64),
     .def = "64MiB", .reload = true,
     .help = "unacknowledged results kept in memory before spilling to disk "
             "or pausing the crawl"},
    {.key = "database.spill_dir", .type = CFG_STRING,
     .off = O(database.spill_dir),
     .help = "directory for results beyond max_memory during an outage "
             "(empty = no spill, pause the crawl instead)"},
    {.key = "database.spill_max", .type = CFG_SIZE,
     .off = O(database.spill_max), .min = 0, .max = GIB(1024),
     .def = "1GiB", .reload = true, .help = "most bytes spilled to disk"},

    /* crawl */
    {.key = "crawl.name", .type = CFG_STRING, .off = O(crawl.name), .min = 1,
     .max = 63, .def = "default",
     .help = "name of the crawl this process works on (seed uses it too)"},
    {.key = "crawl.scope", .type = CFG_ENUM, .off = O(crawl.scope),
     .words = scope_words, .def = "seeds", .reload = true,
     .help = "seeds: only seeded domains; discovered: also domains found "
             "while crawling; opt-in: only domains advertising XEP-0485 "
             "serverinfo or seeded explicitly"},
    {.key = "crawl.recrawl_interval", .type = CFG_DURATION,
     .off = O(crawl.recrawl_interval), .min = MINUTE(1), .max = DAY(365),
     .def = "7d", .reload = true,
     .help = "a domain crawled successfully is crawled again after this"},
    {.key = "crawl.lease", .type = CFG_DURATION, .off = O(crawl.lease),
     .min = SEC(10), .max = HOUR(1), .def = "5m",
     .help = "how long a claimed job belongs to this process without a "
             "heartbeat"},
    {.key = "crawl.heartbeat_interval", .type = CFG_DURATION,
     .off = O(crawl.heartbeat_interval), .min = SEC(1), .max = MINUTE(10),
     .def = "30s", .help = "how often leases are renewed (well below lease)"},
    {.key = "crawl.max_attempts", .type = CFG_INT, .off = O(crawl.max_attempts),
     .min = 1, .max = 100, .def = "5", .reload = true,
     .help = "failed attempts before a job is given up until the next "
             "re-crawl"},
    {.key = "crawl.claim_batch", .type = CFG_INT, .off = O(crawl.claim_batch),
     .min = 1, .max = 1000, .def = "16", .reload = true,
     .help = "jobs claimed per queue statement; the crawler claims once "
             "this many slots are free (or a quarter of "
             "max_domains_in_flight, if less)"},
    {.key = "crawl.max_domains_in_flight", .type = CFG_INT,
     .off = O(crawl.max_domains_in_flight), .min = 1, .max = 100000,
     .def = "256", .reload = true,
     .help = "domains this process crawls at the same time"},
    {.key = "crawl.backoff.timeout", .type = CFG_DURATION,
     .off = O(crawl.backoff.timeout), .min = SEC(1), .max = DAY(365),
     .def = "10m", .reload = true,
     .help = "first retry delay after a timeout (doubles per attempt)"},
    {.key = "crawl.backoff.remote_server_not_found", .type = CFG_DURATION,
     .off = O(crawl.backoff.remote_server_not_found), .min = SEC(1),
     .max = DAY(365), .def = "1d", .reload = true,
     .help = "first retry delay after remote-server-not-found"},
    {.key = "crawl.backoff.service_unavailable", .type = CFG_DURATION,
     .off = O(crawl.backoff.service_unavailable), .min = SEC(1),
     .max = DAY(365), .def = "1h", .reload = true,
     .help = "first retry delay after service-unavailable"},
    {.key = "crawl.backoff.policy_violation", .type = CFG_DURATION,
     .off = O(crawl.backoff.policy_violation), .min = SEC(1), .max = DAY(365),
     .def = "7d", .reload = true,
     .help = "first retry delay after policy-violation"},
    {.key = "crawl.backoff.resource_constraint", .type = CFG_DURATION,
     .off = O(crawl.backoff.resource_constraint), .min = SEC(1),
     .max = DAY(365), .def = "30m", .reload = true,
     .help = "first retry delay after resource-constraint"},
    {.key = "crawl.backoff.other", .type = CFG_DURATION,
     .off = O(crawl.backoff.other), .min = SEC(1), .max = DAY(365),
     .def = "1h", .reload = true,
     .help = "first retry delay after any other error"},
    {.key = "crawl.backoff.max", .type = CFG_DURATION,
     .off = O(crawl.backoff.max), .min = SEC(1), .max = DAY(365),
     .def = "30d", .reload = true, .help = "longest retry delay"},

    /* accounts */
    {.key = "accounts", .type = CFG_LIST, .off = O(accounts),
     .sub = &xc_account_table, .maxcount = 64,
     .help = "XMPP accounts the crawler logs in with (at least one for "
             "crawl)"},

    /* politeness */
    {.key = "politeness.min_interval", .type = CFG_DURATION,
     .off = O(politeness.min_interval), .min = 0, .max = HOUR(1),
     .def = "1s", .reload = true,
     .help = "least time between two queries to the same domain"},
    {.key = "politeness.jitter", .type = CFG_DURATION,
     .off = O(politeness.jitter), .min = 0, .max = HOUR(1), .def = "500ms",
     .reload = true, .help = "random extra delay added, up to this"},
    {.key = "politeness.deny_file", .type = CFG_STRING,
     .off = O(politeness.deny_file), .reload = true,
     .help = "file of domains never to contact, one per line (empty = "
             "none; the database deny table applies as well)"},
    {.key = "politeness.identify.name", .type = CFG_STRING,
     .off = O(politeness.identify.name), .min = 1, .max = 255,
     .def = "xcensus", .reload = true,
     .help = "software name the crawler answers to XEP-0092 and disco#info"},
    {.key = "politeness.identify.version", .type = CFG_STRING,
     .off = O(politeness.identify.version), .max = 255, .reload = true,
     .help = "version it answers (empty = the program's version)"},
    {.key = "politeness.identify.policy_url", .type = CFG_STRING,
     .off = O(politeness.identify.policy_url), .max = 1024, .reload = true,
     .help = "URL of a page explaining the crawl and how to opt out, shown "
             "in the answers (empty = none)"},

    /* limits */
    {.key = "limits.iq_timeout", .type = CFG_DURATION,
     .off = O(limits.iq_timeout), .min = SEC(1), .max = MINUTE(10),
     .def = "30s", .reload = true,
     .help = "time allowed for an iq answer before it counts as a timeout"},
    {.key = "limits.connect_timeout", .type = CFG_DURATION,
     .off = O(limits.connect_timeout), .min = SEC(1), .max = MINUTE(10),
     .def = "30s", .reload = true,
     .help = "time allowed for an account session to come online"},
    {.key = "limits.stanza_max_bytes", .type = CFG_SIZE,
     .off = O(limits.stanza_max_bytes), .min = KIB(1), .max = MIB(64),
     .def = "1MiB", .reload = true,
     .help = "largest stanza accepted; a larger one ends the probe"},
    {.key = "limits.items_max", .type = CFG_INT, .off = O(limits.items_max),
     .min = 1, .max = 1000000, .def = "10000", .reload = true,
     .help = "disco#items kept per entity"},
    {.key = "limits.items_pages", .type = CFG_INT,
     .off = O(limits.items_pages), .min = 1, .max = 10000, .def = "100",
     .reload = true, .help = "RSM pages of disco#items fetched per entity"},

    /* census */
    {.key = "census.enabled", .type = CFG_BOOL, .off = O(census.enabled),
     .def = "true", .reload = true,
     .help = "join public rooms and count the caps of their occupants"},
    {.key = "census.rooms_per_service", .type = CFG_INT,
     .off = O(census.rooms_per_service), .min = 0, .max = 10000, .def = "20",
     .reload = true, .help = "rooms joined per MUC service at most"},
    {.key = "census.min_occupants", .type = CFG_INT,
     .off = O(census.min_occupants), .min = 1, .max = 100000, .def = "2",
     .reload = true, .help = "rooms with fewer occupants are not joined"},
    {.key = "census.join_duration", .type = CFG_DURATION,
     .off = O(census.join_duration), .min = SEC(1), .max = HOUR(1),
     .def = "60s", .reload = true, .help = "how long the crawler stays in a room"},
    {.key = "census.nick", .type = CFG_STRING, .off = O(census.nick),
     .min = 1, .max = 64, .def = "xcensus", .reload = true,
     .help = "nick the crawler joins rooms with"},
    {.key = "census.status", .type = CFG_STRING, .off = O(census.status),
     .max = 512,
     .def = "\"XMPP census crawler: counts client software, stores no "
            "nicks or messages\"",
     .reload = true, .help = "presence status text shown while joined"},
    {.key = "census.resolve_timeout", .type = CFG_DURATION,
     .off = O(census.resolve_timeout), .min = SEC(1), .max = MINUTE(10),
     .def = "15s", .reload = true,
     .help = "time allowed for a node#ver disco#info before trying another "
             "occupant"},
    {.key = "census.fallback_occupants", .type = CFG_INT,
     .off = O(census.fallback_occupants), .min = 0, .max = 20, .def = "2",
     .reload = true,
     .help = "other occupants asked when the first does not answer"},

    /* direct probe */
    /* DNS */
    {.key = "dns.servers", .type = CFG_STRING, .off = O(dns.servers),
     .max = 1024, .reload = false,
     .help = "DNS servers the crawler asks, \"IP[:PORT],...\" ([IPv6]:PORT "
             "with a port); unset: the system's resolv.conf"},

    {.key = "direct.enabled", .type = CFG_BOOL, .off = O(direct.enabled),
     .def = "true", .reload = true,
     .help = "probe each domain's streams and TLS directly (no login)"},
    {.key = "direct.concurrency", .type = CFG_INT,
     .off = O(direct.concurrency), .min = 1, .max = 100000, .def = "256",
     .reload = true, .help = "streams open at the same time at most"},
    {.key = "direct.targets_per_domain", .type = CFG_INT,
     .off = O(direct.targets_per_domain), .min = 1, .max = 64, .def = "4",
     .reload = true, .help = "SRV targets probed per domain and service"},
    {.key = "direct.dns_timeout", .type = CFG_DURATION,
     .off = O(direct.dns_timeout), .min = SEC(1), .max = MINUTE(5), .def = "5s",
     .reload = true, .help = "time allowed for each DNS query"},
    {.key = "direct.connect_timeout", .type = CFG_DURATION,
     .off = O(direct.connect_timeout), .min = SEC(1), .max = MINUTE(5),
     .def = "10s", .reload = true, .help = "time allowed for a TCP connect"},
    {.key = "direct.tls_timeout", .type = CFG_DURATION,
     .off = O(direct.tls_timeout), .min = SEC(1), .max = MINUTE(5),
     .def = "15s", .reload = true,
     .help = "time allowed for a TLS handshake"},
    {.key = "direct.read_timeout", .type = CFG_DURATION,
     .off = O(direct.read_timeout), .min = SEC(1), .max = MINUTE(5),
     .def = "15s", .reload = true,
     .help = "time allowed between stream start and the features"},
    {.key = "direct.max_bytes", .type = CFG_SIZE, .off = O(direct.max_bytes),
     .min = KIB(1), .max = MIB(16), .def = "256KiB", .reload = true,
     .help = "bytes read per stream at most"},

    /* analyzer */
    {.key = "analyzer.sources", .type = CFG_STRLIST,
     .off = O(analyzer.sources), .min = 1, .max = 255, .maxcount = 256,
     .def = "[]", .reload = true,
     .help = "crawl names and import sources to analyze (empty = all)"},
    {.key = "analyzer.cache_sizes", .type = CFG_INTLIST,
     .off = O(analyzer.cache_sizes), .min = 0, .max = 1000000000,
     .maxcount = 32, .def = "[1000, 10000, 0]", .reload = true,
     .help = "LRU cache sizes simulated for the hit rate (0 = unbounded)"},
    {.key = "analyzer.scale_max", .type = CFG_INT,
     .off = O(analyzer.scale_max), .min = 1000, .max = 100000000,
     .def = "10000000", .reload = true,
     .help = "largest synthetic cache population for lookup benchmarks"},
    {.key = "analyzer.report_dir", .type = CFG_STRING,
     .off = O(analyzer.report_dir), .min = 1, .def = "report", .reload = true,
     .help = "directory the report is written to"},

    /* serve */
    {.key = "serve.listen", .type = CFG_STRING, .off = O(serve.listen),
     .min = 1, .max = 255, .def = "127.0.0.1",
     .help = "address the HTTP server binds to (loopback unless you mean it)"},
    {.key = "serve.port", .type = CFG_INT, .off = O(serve.port), .min = 1,
     .max = 65535, .def = "8080", .help = "TCP port of the HTTP server"},
    {.key = "serve.static_dir", .type = CFG_STRING,
     .off = O(serve.static_dir),
     .help = "directory of the dashboard files served at / (empty = the "
             "installed ones, or the source tree's from a build tree)"},
    {.key = "serve.max_connections", .type = CFG_INT,
     .off = O(serve.max_connections), .min = 1, .max = 10000, .def = "256",
     .help = "HTTP connections open at the same time (more wait in the "
             "kernel's backlog)"},
    {.key = "serve.max_header_bytes", .type = CFG_SIZE,
     .off = O(serve.max_header_bytes), .min = KIB(1), .max = MIB(1),
     .def = "8KiB",
     .help = "largest request line and header block accepted (431 above)"},
    {.key = "serve.max_body_bytes", .type = CFG_SIZE,
     .off = O(serve.max_body_bytes), .min = 0, .max = MIB(1), .def = "1KiB",
     .help = "largest request body read before refusing it (413 above; "
             "GET and HEAD carry none)"},
    {.key = "serve.request_timeout", .type = CFG_DURATION,
     .off = O(serve.request_timeout), .min = SEC(1), .max = MINUTE(10),
     .def = "10s",
     .help = "time a connection has to send a complete request after "
             "opening or after its previous answer (also the keep-alive "
             "idle time), and the longest stall while reading or writing"},
    {.key = "serve.statement_timeout", .type = CFG_DURATION,
     .off = O(serve.statement_timeout), .min = 100, .max = MINUTE(10),
     .def = "5s",
     .help = "longest run of one API query in the database (503 above)"},
    {.key = "serve.db_connections", .type = CFG_INT,
     .off = O(serve.db_connections), .min = 1, .max = 64, .def = "4",
     .help = "PostgreSQL connections of the server (queries run "
             "concurrently up to this)"},
    {.key = "serve.max_pending", .type = CFG_INT,
     .off = O(serve.max_pending), .min = 1, .max = 100000, .def = "256",
     .help = "requests waiting for the database at most (503 above)"},
    {.key = "serve.page_size_max", .type = CFG_INT,
     .off = O(serve.page_size_max), .min = 1, .max = 10000, .def = "10000",
     .help = "largest limit= of an API page"},
    {.key = "serve.cache_ttl", .type = CFG_DURATION, .off = O(serve.cache_ttl),
     .min = 0, .max = MINUTE(60), .def = "5s",
     .help = "time an API page is answered from memory before the database "
             "is asked again (0 = always ask)"},
    {.key = "serve.cache_max_bytes", .type = CFG_SIZE,
     .off = O(serve.cache_max_bytes), .min = 0, .max = (int64_t)1 << 30,
     .def = "64MiB", .help = "memory for API pages kept (cache_ttl)"},

    /* log */
    {.key = "log.level", .type = CFG_ENUM, .off = O(log.level),
     .words = level_words, .def = "info", .reload = true,
     .help = "least severe messages logged (--log-level overrides it)"},
    {.key = "log.file", .type = CFG_STRING, .off = O(log.file),
     .help = "file log lines are appended to (empty = stderr)"},
    {.key = "log.progress", .type = CFG_ENUM, .off = O(log.progress),
     .words = progress_words, .def = "auto", .reload = true,
     .help = "live progress line: auto (when stderr is a terminal), always "
             "or never"},
};
/* clang-format on */

/* True if one "IP", "IP:PORT", "IPv6" or "[IPv6]:PORT" item of len bytes
 * is well-formed. */
static bool dns_server_ok(const char *s, size_t len)
{
    char host[64];
    const char *port = NULL;
    size_t hl;
    if (len == 0 || len >= sizeof host)
        return false;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close + 1 == s + len || close[1] != ':')
            return false;
        hl = (size_t)(close - s - 1);
        memcpy(host, s + 1, hl);
        port = close + 2;
    } else {
        const char *colon = memchr(s, ':', len);
        bool v6 = colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s));
        hl = (colon && !v6) ? (size_t)(colon - s) : len;
        memcpy(host, s, hl);
        port = (colon && !v6) ? colon + 1 : NULL;
    }
    host[hl] = '\0';
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) != 1 &&
        inet_pton(AF_INET6, host, addr) != 1)
        return false;
    if (port) {
        size_t pl = len - (size_t)(port - s);
        unsigned long v = 0;
        if (pl == 0 || pl > 5)
            return false;
        for (size_t i = 0; i < pl; i++) {
            if (port[i] < '0' || port[i] > '9')
                return false;
            v = v * 10 + (unsigned long)(port[i] - '0');
        }
        if (v == 0 || v > 65535)
            return false;
    }
    return true;
}

/* Rules between keys. */
static void check_config(const void *base, cfg_report_cb report, void *rctx)
{
    const struct xc_config *c = base;
    for (const char *p = c->dns.servers; p && *p;) {
        size_t n = strcspn(p, ",");
        if (!dns_server_ok(p, n)) {
            report(rctx, "dns.servers",
                   "must be a comma-separated list of IP addresses, each "
                   "with an optional :PORT ([IPv6]:PORT)");
            break;
        }
        p += n + (p[n] == ',');
    }
    if (c->crawl.heartbeat_interval * 2 > c->crawl.lease)
        report(rctx, "crawl.heartbeat_interval",
               "must be at most half of crawl.lease, so that a lease "
               "survives one lost heartbeat");
    if (c->census.resolve_timeout >= c->census.join_duration &&
        c->census.enabled)
        report(rctx, "census.resolve_timeout",
               "must be shorter than census.join_duration (caps are "
               "resolved while joined)");
}

/* Rules within one account. */
static void check_account(const void *base, cfg_report_cb report, void *rctx)
{
    const struct xc_account *a = base;
    const char *at = strchr(a->jid, '@');
    if (at == NULL || at == a->jid || at[1] == '\0' ||
        strchr(at + 1, '@') != NULL || strchr(a->jid, '/') != NULL)
        report(rctx, "jid", "\"%s\" is not a bare JID (localpart@domain)",
               a->jid);
    if (a->send_burst < a->send_rate / 10)
        report(rctx, "send_burst", "is less than a tenth of send_rate");
}

/* The keys of the whole file. */
const struct cfg_table xc_config_table = {
    .opts = opts,
    .n = ARRAY_LEN(opts),
    .size = sizeof(struct xc_config),
    .check = check_config,
};

/* The file at path, or the defaults when path is NULL. */
bool xc_config_load(const char *path, struct xc_config *cfg, unsigned flags,
                    struct cfg_errors *errs)
{
    if (path == NULL)
        return cfg_defaults(&xc_config_table, cfg, errs);
    return cfg_load_file(&xc_config_table, cfg, path, flags, errs);
}

/* From memory (tests, fuzzing); name appears in messages. */
bool xc_config_load_buffer(const char *name, const char *data, size_t len,
                           struct xc_config *cfg, unsigned flags,
                           struct cfg_errors *errs)
{
    return cfg_load_buffer(&xc_config_table, cfg, name, data, len, flags, errs);
}

/* The defaults; a bad default is a bug in the table above. */
void xc_config_defaults(struct xc_config *cfg)
{
    struct cfg_errors errs = {0};
    if (!cfg_defaults(&xc_config_table, cfg, &errs))
        DIE_BUG("bad default in the option table: %s", errs.e[0].text);
}

/* Frees and zeroes *cfg. */
void xc_config_free(struct xc_config *cfg)
{
    cfg_free(&xc_config_table, cfg);
}

/* Account i of the accounts list. */
const struct xc_account *xc_config_account(const struct xc_config *cfg,
                                           size_t i)
{
    ASSERT(i < cfg->accounts.n);
    return (const struct xc_account *)cfg->accounts.items + i;
}
