/*
 * `xcensus probe`: runs the direct prober (crawler/direct.c) on the domains
 * given and prints what it found: SRV records, the stream features before
 * and after TLS, the TLS facts and every connection's outcome. Nothing is
 * stored: this is the tool to look at one domain (or a test server) by
 * hand. Settings come from direct.* in the configuration (--config), then
 * the flags.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "commands.h"
#include "direct.h"
#include "log.h"
#include "resolve.h"
#include "tlsctx.h"
#include "xalloc.h"
#include "xc_config.h"

static void probe_usage(FILE *f)
{
    fprintf(f,
            "usage: xcensus probe [--json] [--dns SERVER] [--s2s-from NAME] "
            "[--timeout MS]\n"
            "                     [--ca FILE] [--connect IP:PORT [--service "
            "S]] DOMAIN...\n\n"
            "pre-login stream and TLS probe of each domain (nothing is "
            "stored)\n\n"
            "options:\n"
            "  -j, --json           one JSON object per line\n"
            "  -d, --dns SERVER     DNS server IP[:PORT] (default: "
            "dns.servers, else resolv.conf)\n"
            "  -f, --s2s-from NAME  'from' of the s2s stream (default: "
            "none)\n"
            "  -t, --timeout MS     connect, TLS and read deadline each\n"
            "  -a, --ca FILE        trusted CAs (PEM; default: the system's)\n"
            "  -C, --connect IP:PORT  no DNS: one stream to this address\n"
            "  -s, --service S      with --connect: xmpp-client (default), "
            "xmpps-client\n"
            "                       or xmpp-server\n"
            "  -n, --no-starttls    record STARTTLS but do not follow it\n"
            "  -h, --help           this text\n");
}

struct pctx {
    bool json;
    size_t running;
    size_t outcomes;
    size_t ok;
    struct event_base *base;
};

static void emit(struct pctx *p, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(o);
}

static json_t *target_json(const char *type, const struct direct_target *t)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:b}", "type", type,
                     "domain", t->domain, "service", t->service, "stream",
                     direct_stream_name(t->stream), "host", t->host, "ip",
                     t->ip, "port", (int)t->port, "direct_tls",
                     (int)t->direct_tls);
}

static json_t *strs_json(const char (*v)[48], size_t n, size_t width)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string((const char *)v + i * width));
    return a;
}

static void on_srv(void *arg, const char *domain, const char *service,
                   enum resolve_status status, const struct srv_target *t)
{
    struct pctx *p = arg;
    if (p->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "type", "srv", "domain",
                              domain, "service", service, "status",
                              resolve_status_name(status));
        if (t) {
            json_object_set_new(o, "target", json_string(t->host));
            json_object_set_new(o, "port", json_integer(t->port));
            json_object_set_new(o, "priority", json_integer(t->priority));
            json_object_set_new(o, "weight", json_integer(t->weight));
        }
        emit(p, o);
    } else if (t) {
        printf("%s srv %s %s:%u priority %u weight %u\n", domain, service,
               t->host, t->port, t->priority, t->weight);
    } else {
        printf("%s srv %s none (%s)\n", domain, service,
               resolve_status_name(status));
    }
}

static void print_list(const char *label, const char *base, size_t n,
                       size_t width)
{
    printf("    %s:", label);
    for (size_t i = 0; i < n; i++)
        printf(" %s", base + i * width);
    printf("%s\n", n ? "" : " -");
}

static void on_features(void *arg, const struct direct_target *t,
                        enum direct_phase phase,
                        const struct direct_features *f)
{
    struct pctx *p = arg;
    if (p->json) {
        json_t *o = target_json("features", t);
        json_object_set_new(o, "phase", json_string(direct_phase_name(phase)));
        json_object_set_new(o, "version", json_string(f->stream_version));
        json_object_set_new(o, "starttls",
                            json_string(direct_starttls_name(f->starttls)));
        json_object_set_new(
            o, "mechanisms",
            strs_json(f->mechanisms, f->n_mechanisms, sizeof f->mechanisms[0]));
        json_object_set_new(o, "sm", json_boolean(f->sm));
        json_object_set_new(o, "rosterver", json_boolean(f->rosterver));
        json_object_set_new(o, "bidi", json_boolean(f->bidi));
        json_object_set_new(o, "csi", json_boolean(f->csi));
        json_object_set_new(o, "ibr", json_boolean(f->ibr));
        json_object_set_new(o, "dialback", json_boolean(f->dialback));
        json_t *comp = json_array();
        for (size_t i = 0; i < f->n_compression; i++)
            json_array_append_new(comp, json_string(f->compression[i]));
        json_object_set_new(o, "compression", comp);
        if (f->has_caps)
            json_object_set_new(o, "caps",
                                json_pack("{s:s, s:s, s:s}", "node",
                                          f->caps_node, "ver", f->caps_ver,
                                          "hash", f->caps_hash));
        json_t *other = json_array();
        for (size_t i = 0; i < f->n_other; i++)
            json_array_append_new(other, json_string(f->other[i]));
        json_object_set_new(o, "other", other);
        json_object_set_new(o, "dropped", json_integer((json_int_t)f->dropped));
        emit(p, o);
        return;
    }
    printf("%s %s %s [%s]:%u%s features %s\n", t->domain, t->service, t->host,
           t->ip, t->port, t->direct_tls ? " (direct TLS)" : "",
           direct_phase_name(phase));
    printf("    starttls: %s\n", direct_starttls_name(f->starttls));
    print_list("mechanisms", f->mechanisms[0], f->n_mechanisms,
               sizeof f->mechanisms[0]);
    printf("    sm %s, rosterver %s, bidi %s, csi %s, ibr %s, dialback %s\n",
           f->sm ? "yes" : "no", f->rosterver ? "yes" : "no",
           f->bidi ? "yes" : "no", f->csi ? "yes" : "no", f->ibr ? "yes" : "no",
           f->dialback ? "yes" : "no");
    print_list("compression", f->compression[0], f->n_compression,
               sizeof f->compression[0]);
    if (f->has_caps)
        printf("    caps: node %s ver %s hash %s\n", f->caps_node, f->caps_ver,
               f->caps_hash);
    print_list("other", f->other[0], f->n_other, sizeof f->other[0]);
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void on_tls(void *arg, const struct direct_target *t,
                   const struct tlsctx_facts *f)
{
    struct pctx *p = arg;
    char sha[65] = "";
    if (f->has_cert)
        hex(f->sha256, sizeof f->sha256, sha);
    if (p->json) {
        json_t *o = target_json("tls", t);
        json_object_set_new(o, "version", json_string(f->version));
        json_object_set_new(o, "cipher", json_string(f->cipher));
        json_object_set_new(o, "subject", json_string(f->subject));
        json_object_set_new(o, "issuer", json_string(f->issuer));
        json_t *names = json_array();
        for (size_t i = 0; i < f->n_names; i++)
            json_array_append_new(names, json_string(f->names[i]));
        json_object_set_new(o, "names", names);
        json_object_set_new(o, "not_before", json_string(f->not_before));
        json_object_set_new(o, "not_after", json_string(f->not_after));
        json_object_set_new(o, "sha256", json_string(sha));
        json_object_set_new(o, "verifies", json_boolean(f->verifies));
        json_object_set_new(o, "verify_error", json_string(f->verify_error));
        json_object_set_new(o, "name_matches", json_boolean(f->name_matches));
        json_object_set_new(o, "chain_len", json_integer(f->chain_len));
        emit(p, o);
        return;
    }
    printf("%s %s %s [%s]:%u tls %s %s\n", t->domain, t->service, t->host,
           t->ip, t->port, f->version, f->cipher);
    printf("    subject: %s\n    issuer: %s\n", f->subject, f->issuer);
    printf("    names:");
    for (size_t i = 0; i < f->n_names; i++)
        printf(" %s", f->names[i]);
    printf("\n    valid: %s .. %s\n    sha256: %s\n", f->not_before,
           f->not_after, sha);
    printf("    verifies: %s%s%s%s\n", f->verifies ? "yes" : "no",
           f->verify_error[0] ? " (" : "", f->verify_error,
           f->verify_error[0] ? ")" : "");
}

static void on_outcome(void *arg, const struct direct_target *t,
                       enum direct_outcome o, const char *cond,
                       const char *detail, int ms)
{
    struct pctx *p = arg;
    p->outcomes++;
    if (o == DOUT_OK)
        p->ok++;
    if (p->json) {
        json_t *j = target_json("outcome", t);
        json_object_set_new(j, "outcome", json_string(direct_outcome_name(o)));
        if (cond)
            json_object_set_new(j, "condition", json_string(cond));
        if (detail)
            json_object_set_new(j, "detail", json_string(detail));
        json_object_set_new(j, "duration_ms", json_integer(ms));
        emit(p, j);
        return;
    }
    printf("%s %s %s [%s]:%u outcome %s%s%s (%d ms)%s%s\n", t->domain,
           t->service, t->host[0] ? t->host : "-", t->ip, t->port,
           direct_outcome_name(o), cond ? ":" : "", cond ? cond : "", ms,
           detail ? ": " : "", detail ? detail : "");
}

static void on_done(void *arg, const struct direct_domain_result *r)
{
    struct pctx *p = arg;
    if (!p->json)
        printf("%s done: %zu connections, %zu ok, %d ms\n", r->domain,
               r->connections, r->ok, r->duration_ms);
    if (--p->running == 0)
        event_base_loopbreak(p->base);
}

static bool split_hostport(const char *s, char *ip, size_t ipsz, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s)
        return false;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (*end || v < 1 || v > 65535 || hl >= ipsz)
        return false;
    memcpy(ip, h, hl);
    ip[hl] = '\0';
    *port = (uint16_t)v;
    return true;
}

/* The `probe` command: see probe_usage(). */
int cmd_probe(int argc, char **argv, const struct cli_globals *g)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"dns", required_argument, NULL, 'd'},
        {"s2s-from", required_argument, NULL, 'f'},
        {"timeout", required_argument, NULL, 't'},
        {"ca", required_argument, NULL, 'a'},
        {"connect", required_argument, NULL, 'C'},
        {"service", required_argument, NULL, 's'},
        {"no-starttls", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pctx p = {0};
    const char *dns = NULL, *from = NULL, *ca = NULL, *connect = NULL;
    const char *service = "xmpp-client";
    long timeout = 0;
    bool no_starttls = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jd:f:t:a:C:s:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            p.json = true;
            break;
        case 'd':
            dns = optarg;
            break;
        case 'f':
            from = optarg;
            break;
        case 't': {
            char *end;
            timeout = strtol(optarg, &end, 10);
            if (*end || timeout < 1 || timeout > 600000) {
                fprintf(stderr, "xcensus probe: bad --timeout \"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case 'a':
            ca = optarg;
            break;
        case 'C':
            connect = optarg;
            break;
        case 's':
            service = optarg;
            break;
        case 'n':
            no_starttls = true;
            break;
        case 'h':
            probe_usage(stdout);
            return 0;
        default:
            probe_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "xcensus probe: no domain given\n");
        probe_usage(stderr);
        return EXIT_USAGE;
    }
    char ip[64];
    uint16_t port = 0;
    if (connect && !split_hostport(connect, ip, sizeof ip, &port)) {
        fprintf(stderr, "xcensus probe: bad --connect \"%s\" (IP:PORT)\n",
                connect);
        return EXIT_USAGE;
    }
    if (from && !resolve_hostname_ok(from)) {
        fprintf(stderr, "xcensus probe: bad --s2s-from \"%s\"\n", from);
        return EXIT_USAGE;
    }

    struct xc_config cfg;
    struct cfg_errors errs = {0};
    if (!xc_config_load(g->config_path, &cfg, CFG_NO_SECRETS, &errs)) {
        cfg_errors_print(&errs, stderr);
        cfg_errors_free(&errs);
        return 1;
    }
    struct direct_limits lim;
    direct_limits_default(&lim);
    lim.concurrency = (size_t)cfg.direct.concurrency;
    lim.targets_per_domain = (size_t)cfg.direct.targets_per_domain;
    lim.connect_timeout_ms = (int)cfg.direct.connect_timeout;
    lim.tls_timeout_ms = (int)cfg.direct.tls_timeout;
    lim.read_timeout_ms = (int)cfg.direct.read_timeout;
    lim.reader.max_bytes = (size_t)cfg.direct.max_bytes;
    int dns_timeout = (int)cfg.direct.dns_timeout;
    char *dns_cfg = (!dns && cfg.dns.servers && *cfg.dns.servers) ? xstrdup(cfg.dns.servers) : NULL;
    if (dns_cfg)
        dns = dns_cfg;
    xc_config_free(&cfg);
    if (timeout > 0) {
        lim.connect_timeout_ms = lim.tls_timeout_ms = lim.read_timeout_ms =
            (int)timeout;
        dns_timeout = (int)timeout;
    }
    lim.s2s_from = from;
    lim.starttls = !no_starttls;

    signal(SIGPIPE, SIG_IGN); /* a peer gone while we write: an outcome */
    int rc = 1;
    struct parse_err err = {0};
    p.base = event_base_new();
    struct resolver *res = resolver_new(p.base, dns, dns_timeout, 2, &err);
    struct tlsctx *tls = res ? tlsctx_new(ca, &err) : NULL;
    if (res == NULL || tls == NULL) {
        log_error("%s", err.msg);
        goto out;
    }
    struct direct_sink sink = {.arg = &p,
                               .srv = on_srv,
                               .features = on_features,
                               .tls = on_tls,
                               .outcome = on_outcome};
    struct direct *d = direct_new(p.base, res, tls, &lim, &sink);
    rc = 0;
    for (int i = optind; i < argc; i++) {
        bool ok = connect ? direct_probe_addr(d, argv[i], service, ip, port,
                                              on_done, &p)
                          : direct_probe(d, argv[i], on_done, &p);
        if (ok) {
            p.running++;
        } else {
            fprintf(stderr,
                    "xcensus probe: cannot probe \"%s\" (bad name "
                    "or service)\n",
                    argv[i]);
            rc = EXIT_USAGE;
        }
    }
    if (p.running > 0)
        event_base_dispatch(p.base);
    direct_free(d);
    if (rc == 0 && p.ok == 0)
        rc = 1; /* no stream answered */
out:
    resolver_free(res);
    tlsctx_free(tls);
    event_base_free(p.base);
    free(dns_cfg);
    fflush(stdout);
    return rc;
}
