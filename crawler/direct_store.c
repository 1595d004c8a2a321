/*
 * Direct prober -> storage writer. Probes in flight live on a short list
 * (the prober's concurrency bounds it) that maps a domain name to its id
 * and run.
 */
#include "direct_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "tlsctx.h"
#include "xalloc.h"

struct probe_ctx {
    struct direct_store *ds;
    char *domain;
    int64_t domain_id, source_id;
    direct_done_cb done;
    void *arg;
    LIST_ENTRY(probe_ctx) link;
};

struct direct_store {
    struct store *st;
    struct direct_sink sink;
    LIST_HEAD(, probe_ctx) probes;
};

static const struct probe_ctx *find(const struct direct_store *ds,
                                    const char *domain)
{
    const struct probe_ctx *p;
    LIST_FOREACH(p, &ds->probes, link)
        if (strcmp(p->domain, domain) == 0)
            return p;
    return NULL;
}

/* "2026-01-31T12:00:00Z" -> microseconds since the epoch, 0 if unreadable */
static int64_t iso_us(const char *s)
{
    struct tm tm = {0};
    const char *end = s && *s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    if (end == NULL || *end)
        return 0;
    return (int64_t)timegm(&tm) * 1000000;
}

static void on_srv(void *arg, const char *domain, const char *service,
                   enum resolve_status status, const struct srv_target *t)
{
    struct direct_store *ds = arg;
    const struct probe_ctx *p = find(ds, domain);
    if (p == NULL || t == NULL) /* no answer: the outcome says why */
        return;
    struct store_srv r = {
        .source_id = p->source_id,
        .domain_id = p->domain_id,
        .service = service,
        .target = t->host,
        .port = t->port,
        .priority = t->priority,
        .weight = t->weight,
    };
    store_put_srv(ds->st, &r);
}

static void on_features(void *arg, const struct direct_target *t,
                        enum direct_phase phase, const struct direct_features *f)
{
    struct direct_store *ds = arg;
    const struct probe_ctx *p = find(ds, t->domain);
    if (p == NULL)
        return;
    const char *mech[DIRECT_MAX_MECHS], *comp[DIRECT_MAX_COMPRESSION],
        *other[DIRECT_MAX_OTHER];
    for (size_t i = 0; i < f->n_mechanisms; i++)
        mech[i] = f->mechanisms[i];
    for (size_t i = 0; i < f->n_compression; i++)
        comp[i] = f->compression[i];
    for (size_t i = 0; i < f->n_other; i++)
        other[i] = f->other[i];
    struct store_stream r = {
        .source_id = p->source_id,
        .domain_id = p->domain_id,
        .stream = direct_stream_name(t->stream),
        .target = t->host,
        .ip = t->ip && *t->ip ? t->ip : NULL,
        .port = t->port,
        .direct_tls = t->direct_tls,
        .phase = direct_phase_name(phase),
        .starttls = direct_starttls_name(f->starttls),
        .mechanisms = mech,
        .n_mechanisms = f->n_mechanisms,
        .sm = f->sm,
        .rosterver = f->rosterver,
        .bidi = f->bidi,
        .csi = f->csi,
        .ibr = f->ibr,
        .dialback = f->dialback,
        .compression = comp,
        .n_compression = f->n_compression,
        .caps_node = f->has_caps ? f->caps_node : NULL,
        .caps_ver = f->has_caps ? f->caps_ver : NULL,
        .caps_algo = f->has_caps ? f->caps_hash : NULL,
        .other = other,
        .n_other = f->n_other,
    };
    store_put_stream(ds->st, &r);
}

static void on_tls(void *arg, const struct direct_target *t,
                   const struct tlsctx_facts *x)
{
    struct direct_store *ds = arg;
    const struct probe_ctx *p = find(ds, t->domain);
    if (p == NULL)
        return;
    const char *names[TLSCTX_MAX_NAMES];
    for (size_t i = 0; i < x->n_names; i++)
        names[i] = x->names[i];
    struct store_tls r = {
        .source_id = p->source_id,
        .domain_id = p->domain_id,
        .stream = direct_stream_name(t->stream),
        .target = t->host,
        .ip = t->ip && *t->ip ? t->ip : NULL,
        .port = t->port,
        .direct_tls = t->direct_tls,
        .tls_version = x->version,
        .cipher = x->cipher,
        .cert_subject = x->has_cert ? x->subject : NULL,
        .cert_issuer = x->has_cert ? x->issuer : NULL,
        .cert_names = names,
        .n_cert_names = x->n_names,
        .cert_not_before_us = iso_us(x->not_before),
        .cert_not_after_us = iso_us(x->not_after),
        .cert_sha256 = x->has_cert ? x->sha256 : NULL,
        .verifies = x->has_cert ? (x->verifies ? 1 : 0) : -1,
        .verify_error = x->verifies ? NULL : x->verify_error,
    };
    store_put_tls(ds->st, &r);
}

static void on_outcome(void *arg, const struct direct_target *t,
                       enum direct_outcome o, const char *condition,
                       const char *detail, int duration_ms)
{
    struct direct_store *ds = arg;
    const struct probe_ctx *p = find(ds, t->domain);
    if (p == NULL)
        return;
    /* which connection: "xmpp-client host:port ip: detail" */
    char full[1024];
    snprintf(full, sizeof full, "%s %s:%u%s%s%s%s", t->service,
             t->host && *t->host ? t->host : "-", (unsigned)t->port,
             t->ip && *t->ip ? " " : "", t->ip ? t->ip : "",
             detail && *detail ? ": " : "", detail ? detail : "");
    struct store_outcome r = {
        .source_id = p->source_id,
        .domain_id = p->domain_id,
        .entity = {t->domain, NULL, STORE_ENT_SERVER, p->domain_id},
        .probe = t->stream == DSTREAM_S2S ? "direct-s2s" : "direct-c2s",
        .outcome = direct_outcome_name(o),
        .condition = condition,
        .detail = full,
        .duration_ms = duration_ms,
    };
    store_put_outcome(ds->st, &r);
}

struct direct_store *direct_store_new(struct store *st)
{
    struct direct_store *ds = xcalloc(1, sizeof *ds);
    ds->st = st;
    ds->sink = (struct direct_sink){ds, on_srv, on_features, on_tls, on_outcome};
    LIST_INIT(&ds->probes);
    return ds;
}

void direct_store_free(struct direct_store *ds)
{
    if (ds == NULL)
        return;
    struct probe_ctx *p;
    while ((p = LIST_FIRST(&ds->probes)) != NULL) {
        LIST_REMOVE(p, link);
        free(p->domain);
        free(p);
    }
    free(ds);
}

const struct direct_sink *direct_store_sink(const struct direct_store *ds)
{
    return &ds->sink;
}

static void on_done(void *arg, const struct direct_domain_result *r)
{
    struct probe_ctx *p = arg;
    LIST_REMOVE(p, link);
    if (p->done)
        p->done(p->arg, r);
    free(p->domain);
    free(p);
}

bool direct_store_probe(struct direct_store *ds, struct direct *d,
                        const char *domain, int64_t domain_id,
                        int64_t source_id, direct_done_cb done, void *arg)
{
    struct probe_ctx *p = xcalloc(1, sizeof *p);
    p->ds = ds;
    p->domain = xstrdup(domain);
    p->domain_id = domain_id;
    p->source_id = source_id;
    p->done = done;
    p->arg = arg;
    LIST_INSERT_HEAD(&ds->probes, p, link);
    if (!direct_probe(d, domain, on_done, p)) {
        LIST_REMOVE(p, link);
        free(p->domain);
        free(p);
        return false;
    }
    return true;
}
