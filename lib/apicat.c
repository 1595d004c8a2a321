/*
 * The query catalog (see apicat.h): the table of named queries and the
 * checks of their arguments.
 */
#include "apicat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Parameters, by entry. */
static const struct apicat_param p_server_versions[] = {
    {"software", APICAT_TEXT, false,
     "only this software (exact XEP-0092 name)"},
};
static const struct apicat_param p_feature_adoption[] = {
    {"feature", APICAT_TEXT, false,
     "only features containing this text (e.g. urn:xmpp:mam)"},
    {"since", APICAT_DATE, false, "only days on or after this date"},
};
static const struct apicat_param p_features[] = {
    {"q", APICAT_TEXT, false, "only features containing this text"},
};
static const struct apicat_param p_namespace_versions[] = {
    {"base", APICAT_TEXT, false,
     "the namespace without its version, e.g. urn:xmpp:mam (default: all)"},
};
static const struct apicat_param p_deprecation[] = {
    {"old", APICAT_TEXT, true,
     "the deprecated feature, e.g. jabber:iq:privacy"},
    {"new", APICAT_TEXT, true, "its successor, e.g. urn:xmpp:blocking"},
};
static const struct apicat_param p_drop_impact[] = {
    {"feature", APICAT_TEXT, true, "the feature to drop, e.g. urn:xmpp:mam:1"},
};
static const struct apicat_param p_run[] = {
    {"run", APICAT_INT, false, "analysis run id (default: the latest)"},
};
static const struct apicat_param p_probe_outcomes[] = {
    {"source", APICAT_TEXT, false,
     "only this source (crawl run name, see caps_stats or v_sources)"},
};
static const struct apicat_param p_domains[] = {
    {"q", APICAT_TEXT, false, "only domains containing this text"},
    {"state", APICAT_TEXT, false,
     "only this state (queued, leased, done, failed, cancelled, opted-out, "
     "denied, never-queued)"},
};
static const struct apicat_param p_domain[] = {
    {"domain", APICAT_TEXT, true, "the domain name, lower case"},
};

#define PARAMS(p) p, ARRAY_LEN(p)

static const struct apicat_entry entries[] = {
    {"overview", "Overview",
     "one row: domains known and crawled, servers answering, components, "
     "rooms, caps hashes and observations, client software (caps nodes), "
     "features, crawl runs, last crawl and last analysis",
     "SELECT domains, domains_crawled, servers_answering, components, rooms, "
     "caps_hashes, caps_observations, client_software, features, crawl_runs, "
     "last_crawl, last_analysis FROM v_overview",
     "domains", NULL, 0},
    {"server_software", "Server software",
     "one row per server software (latest XEP-0092 answer of each server "
     "that answered disco#info; \"(no answer)\" if it never answered one): "
     "servers, distinct versions, percent of the servers",
     "SELECT software, servers, versions, percent FROM "
     "v_server_software_shares",
     "servers DESC, software", NULL, 0},
    {"server_versions", "Server versions",
     "one row per server software and version (latest XEP-0092 answers): "
     "servers, percent of all servers",
     "SELECT software, version, servers, percent FROM v_server_versions "
     "WHERE ($1::text IS NULL OR software = $1::text)",
     "servers DESC, software, version", PARAMS(p_server_versions)},
    {"server_features", "Server features",
     "features advertised by servers (latest disco#info), with their share",
     "SELECT feature, servers, percent FROM v_server_features_latest",
     "servers DESC, feature", NULL, 0},
    {"component_software", "Component software",
     "one row per component identity (category/type of the first identity "
     "of its latest disco#info) and software (latest XEP-0092 answer): "
     "components, percent of all components",
     "SELECT category, type, software, components, percent FROM "
     "v_component_software",
     "components DESC, category, type, software", NULL, 0},
    {"client_software", "Client software",
     "one row per caps node: software (the XEP-0232 name its entries carry, "
     "else the node), hashes seen with the node, hashes with XEP-0232, "
     "presences observed (all sources) and their share in percent",
     "SELECT software, node, hashes, with_xep0232, observations, share FROM "
     "v_client_software",
     "observations DESC, hashes DESC, node", NULL, 0},
    {"feature_adoption", "Feature adoption over time",
     "one row per UTC day of disco#info snapshots and feature: server "
     "snapshots that day listing it, server snapshots that day, their "
     "percent, and snapshots of servers and components listing it (an "
     "entity probed twice in a day counts twice)",
     "SELECT day, feature, servers, servers_total, percent, entities FROM "
     "xc_feature_adoption($1::text) WHERE ($2::date IS NULL OR day >= "
     "$2::date)",
     "feature, day", PARAMS(p_feature_adoption)},
    {"features", "Features",
     "one row per feature: servers and components listing it in their "
     "latest disco#info, clients (caps entries) listing it, and the total",
     "SELECT feature, servers, components, clients, total FROM "
     "xc_features($1::text)",
     "total DESC, feature", PARAMS(p_features)},
    {"namespace_versions", "Namespace versions",
     "one row per versioned namespace (a feature ending in :N) of a base: "
     "servers, components and clients listing it, and those listing no "
     "other version of the base (_only)",
     "SELECT base, version, namespace, servers, servers_only, components, "
     "components_only, clients, clients_only FROM "
     "xc_namespace_versions($1::text)",
     "base, version, namespace", PARAMS(p_namespace_versions)},
    {"deprecation", "Deprecation",
     "one row per kind (server, component, client) and software among the "
     "entities listing the old feature: how many lack the new one "
     "(old_only), list both, in all, and the percent lacking it",
     "SELECT kind, software, old_only, old_and_new, old_total, "
     "percent_old_only FROM xc_deprecation($1::text, $2::text)",
     "old_only DESC, kind, software", PARAMS(p_deprecation)},
    {"drop_impact", "Drop impact",
     "one row per kind and software among the entities listing the feature: "
     "how many list it, and how many list no other version of its "
     "namespace (they break if it is dropped)",
     "SELECT kind, software, advertising, only_this, percent_only FROM "
     "xc_drop_impact($1::text)",
     "only_this DESC, advertising DESC, kind, software", PARAMS(p_drop_impact)},
    {"caps_stats", "Caps statistics",
     "one row per source with caps observations: caps entries (algo+ver), "
     "nodes, entries with XEP-0232, observations (sum of counts), room "
     "services, first and last seen",
     "SELECT source, kind, entries, nodes, with_xep0232, observations, "
     "services, first_seen, last_seen FROM v_caps_stats",
     "source", NULL, 0},
    {"analysis_runs", "Analysis runs",
     "one row per `xcensus analyze` run: sources, entries with and without "
     "XEP-0232, software nodes, observations, simulated presences",
     "SELECT id, created_at, xcensus_version, sources, entries, "
     "entries_with_xep0232, entries_without_xep0232, software_nodes, "
     "observations, presences, popularity FROM v_analysis_runs",
     "created_at DESC, id DESC", NULL, 0},
    {"analysis_latest", "Latest analysis",
     "the figures of the latest analysis run (or run=ID) as rows: metric, "
     "value with XEP-0232, value without, unit",
     "SELECT run, pos, metric, with_xep0232, without_xep0232, unit FROM "
     "xc_analysis_figures($1::bigint)",
     "pos", PARAMS(p_run)},
    {"hit_rates", "Caps cache hit rates",
     "one row per simulated caps cache of the latest analysis run (or "
     "run=ID): capacity, ttl, hit rate and disco queries per 1000 presences "
     "with and without XEP-0232, peak entries",
     "SELECT run, pos, cache, capacity, ttl_s, presences, hit_rate_with, "
     "hit_rate_without, queries_per_1000_with, queries_per_1000_without, "
     "peak_entries_with, peak_entries_without FROM xc_hit_rates($1::bigint)",
     "pos", PARAMS(p_run)},
    {"crawl_health", "Crawl health",
     "one row per crawl: runs, last run, jobs by state, retrying, expired "
     "leases, oldest lease expiry, last completion, probe outcomes of its "
     "runs in the last hour and day (all and ok), outcomes per minute",
     "SELECT crawl, runs, last_run_started, last_run_state, queued, leased, "
     "done, failed, cancelled, retrying, expired_leases, "
     "oldest_lease_expires, last_completion, outcomes_1h, ok_1h, "
     "outcomes_24h, ok_24h, outcomes_per_min FROM v_crawl_health",
     "crawl", NULL, 0},
    {"probe_outcomes", "Probe outcomes",
     "one row per probe kind and outcome: its class (ok, error-reply, "
     "timeout, dns, network, tls, protocol, local, other), count, percent "
     "of the probe kind, last seen",
     "SELECT probe, class, outcome, outcomes, percent, last_seen FROM "
     "xc_probe_outcomes($1::text)",
     "probe, outcomes DESC, outcome", PARAMS(p_probe_outcomes)},
    {"domains", "Domains",
     "one row per domain: first seen, last probe, last successful probe, "
     "state (of its newest job, or opted-out, denied), next crawl",
     "SELECT domain, first_seen, last_crawl, last_success, state, "
     "next_crawl, opt_out, denied FROM v_domains WHERE ($1::text IS NULL OR "
     "strpos(domain, $1::text) > 0) AND ($2::text IS NULL OR state = "
     "$2::text)",
     "domain", PARAMS(p_domains)},
    {"domain", "Domain diagnosis",
     "one row for the domain (none if unknown): state, opt-out and deny "
     "state, last crawl, last success, next crawl, the latest outcome of "
     "each probe (json), server software, and what is held: entities, "
     "features, identities, versions, snapshots, stream features, TLS "
     "facts, SRV records, probe outcomes",
     "SELECT domain, first_seen, state, opt_out, opt_out_at, opt_out_reason, "
     "denied, last_crawl, last_success, next_crawl, probes, server_software, "
     "server_version, entities, features, identities, versions, "
     "disco_snapshots, stream_features, tls_facts, srv_records, "
     "probe_outcomes FROM xc_domain($1::text)",
     "domain", PARAMS(p_domain)},
    {"domain_probes", "Domain probes",
     "one row per probe kind of the domain: its latest outcome, class, "
     "condition, detail, duration, time and source",
     "SELECT probe, outcome, class, condition, detail, duration_ms, "
     "observed_at, source FROM xc_domain_probes($1::text)",
     "probe", PARAMS(p_domain)},
};

/* Number of catalog entries. */
size_t apicat_count(void)
{
    return ARRAY_LEN(entries);
}

/* Entry i of the catalog. */
const struct apicat_entry *apicat_at(size_t i)
{
    return i < ARRAY_LEN(entries) ? &entries[i] : NULL;
}

/* The entry called name or "v_" + name. */
const struct apicat_entry *apicat_find(const char *name)
{
    if (strncmp(name, "v_", 2) == 0)
        name += 2;
    for (size_t i = 0; i < ARRAY_LEN(entries); i++)
        if (strcmp(entries[i].name, name) == 0)
            return &entries[i];
    return NULL;
}

/* Index of parameter name in e. */
int apicat_param_index(const struct apicat_entry *e, const char *name)
{
    for (size_t i = 0; i < e->nparams; i++)
        if (strcmp(e->params[i].name, name) == 0)
            return (int)i;
    return -1;
}

static bool fail(struct parse_err *err, const struct apicat_param *p,
                 const char *what)
{
    err->code = 1;
    snprintf(err->msg, sizeof err->msg, "%s must be %s", p->name, what);
    return false;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* True if s is well-formed UTF-8 (no overlongs, surrogates or code points
 * above U+10FFFF). */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        p += n + 1;
    }
    return true;
}

/* Checks value against the parameter's type. */
bool apicat_check_value(const struct apicat_param *p, const char *value,
                        struct parse_err *err)
{
    size_t n = strlen(value);
    if (n > APICAT_ARG_MAX)
        return fail(err, p, "at most 1024 bytes");
    switch (p->type) {
    case APICAT_TEXT:
        if (!utf8_ok(value))
            return fail(err, p, "valid UTF-8 text");
        return true;
    case APICAT_INT: {
        const char *d = value + (value[0] == '-');
        if (*d == '\0' || strlen(d) > 18 || !all_digits(d, strlen(d)))
            return fail(err, p, "an integer");
        return true;
    }
    case APICAT_DATE:
        if (n != 10 || value[4] != '-' || value[7] != '-' ||
            !all_digits(value, 4) || !all_digits(value + 5, 2) ||
            !all_digits(value + 8, 2))
            return fail(err, p, "a date YYYY-MM-DD");
        {
            static const int mdays[] = {31, 29, 31, 30, 31, 30,
                                        31, 31, 30, 31, 30, 31};
            int y = atoi(value), mo = atoi(value + 5), d = atoi(value + 8);
            bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
                (mo == 2 && d == 29 && !leap))
                return fail(err, p, "a date YYYY-MM-DD");
        }
        return true;
    case APICAT_BOOL:
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            return fail(err, p, "true or false");
        return true;
    }
    return fail(err, p, "valid");
}

/* Name of a parameter type. */
const char *apicat_type_name(enum apicat_type t)
{
    switch (t) {
    case APICAT_TEXT:
        return "text";
    case APICAT_INT:
        return "integer";
    case APICAT_DATE:
        return "date";
    case APICAT_BOOL:
        return "boolean";
    }
    return "text";
}

/* Binds names[i]=values[i] to the parameters of e. */
bool apicat_bind(const struct apicat_entry *e, size_t n,
                 const char *const *names, const char *const *values,
                 const char **out, struct parse_err *err)
{
    for (size_t k = 0; k < e->nparams; k++)
        out[k] = NULL;
    for (size_t i = 0; i < n; i++) {
        int k = apicat_param_index(e, names[i]);
        if (k < 0) {
            err->code = 1;
            snprintf(err->msg, sizeof err->msg, "unknown argument %.100s",
                     names[i]);
            return false;
        }
        if (out[k]) {
            err->code = 1;
            snprintf(err->msg, sizeof err->msg, "argument %s given twice",
                     e->params[k].name);
            return false;
        }
        if (!apicat_check_value(&e->params[k], values[i], err))
            return false;
        out[k] = values[i];
    }
    for (size_t k = 0; k < e->nparams; k++)
        if (e->params[k].required && !out[k]) {
            err->code = 1;
            snprintf(err->msg, sizeof err->msg, "missing argument %s",
                     e->params[k].name);
            return false;
        }
    return true;
}

static bool parse_range(const char *what, const char *s, long long lo,
                        long long hi, long long *out, struct parse_err *err)
{
    size_t n = strlen(s);
    long long v = 0;
    bool ok = n > 0 && n <= 10 && all_digits(s, n);
    if (ok) {
        v = strtoll(s, NULL, 10);
        ok = v >= lo && v <= hi;
    }
    if (!ok) {
        err->code = 1;
        snprintf(err->msg, sizeof err->msg,
                 "%s must be an integer between %lld and %lld", what, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

/* Parses a page size. */
bool apicat_parse_limit(const char *s, long long *out, struct parse_err *err)
{
    return parse_range("limit", s, 1, APICAT_LIMIT_MAX, out, err);
}

/* Parses a page offset. */
bool apicat_parse_offset(const char *s, long long *out, struct parse_err *err)
{
    return parse_range("offset", s, 0, APICAT_OFFSET_MAX, out, err);
}

/* The wrapped, paginated statement of e. */
char *apicat_sql(const struct apicat_entry *e)
{
    return xasprintf("SELECT * FROM (%s) q ORDER BY %s LIMIT $%zu OFFSET $%zu",
                     e->sql, e->order_by, e->nparams + 1, e->nparams + 2);
}
