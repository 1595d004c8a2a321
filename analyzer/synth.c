/*
 * Synthetic caps population (see synth.h).
 */
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "dataform.h"
#include "hash.h"
#include "xalloc.h"

#define SOFTINFO "urn:xmpp:dataforms:softwareinfo"

struct synth {
    struct disco_info *const *seeds;
    const char *const *nodes;
    size_t n;
    uint64_t rng;
    uint64_t serial;        /* makes every version string unique */
    const char **pool;      /* every feature seen, for variants */
    size_t n_pool;
};

static uint64_t next_rand(struct synth *g)
{
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 2685821657736338717ULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct synth *synth_new(struct disco_info *const *seeds, const char *const *nodes,
                        size_t n, uint64_t seed)
{
    struct synth *g = xcalloc(1, sizeof *g);
    g->seeds = seeds;
    g->nodes = nodes;
    g->n = n;
    g->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += seeds[i]->n_features;
    g->pool = xcalloc(total ? total : 1, sizeof *g->pool);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < seeds[i]->n_features; k++)
            g->pool[g->n_pool++] = seeds[i]->features[k];
    qsort(g->pool, g->n_pool, sizeof *g->pool, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < g->n_pool; i++)
        if (u == 0 || strcmp(g->pool[u - 1], g->pool[i]) != 0)
            g->pool[u++] = g->pool[i];
    g->n_pool = u;
    return g;
}

void synth_free(struct synth *g)
{
    if (g == NULL)
        return;
    free(g->pool);
    free(g);
}

enum change { CH_RELEASE, CH_OS_BUILD, CH_FEATURE_ADD, CH_FEATURE_DROP };

struct disco_info *synth_next(struct synth *g, const char **node, char *ver)
{
    size_t pick = (size_t)(next_rand(g) % g->n);
    const struct disco_info *s = g->seeds[pick];
    *node = g->nodes[pick];
    const struct dataform *si = disco_find_form(s, SOFTINFO);
    uint64_t r = next_rand(g) % 100;
    /* shares: releases 45 %, OS builds 30 % (softinfo entries only, else a
     * release), feature variants 25 % */
    enum change ch = r < 45   ? CH_RELEASE
                     : r < 75 ? (si ? CH_OS_BUILD : CH_RELEASE)
                     : r < 88 ? CH_FEATURE_ADD
                              : CH_FEATURE_DROP;
    char tag[48];
    snprintf(tag, sizeof tag, "%llu", (unsigned long long)++g->serial);

    struct disco_info *d = disco_info_new();
    disco_set_node(d, s->node);
    disco_set_lang(d, s->lang);
    for (size_t i = 0; i < s->n_identities; i++) {
        const struct disco_identity *id = &s->identities[i];
        char *name = NULL;
        if (ch == CH_RELEASE && si == NULL)
            name = xasprintf("%s%s%s", id->name, *id->name ? " " : "", tag);
        disco_add_identity(d, id->category, id->type, id->lang,
                           name ? name : id->name);
        free(name);
    }
    size_t drop = ch == CH_FEATURE_DROP && s->n_features > 1
                      ? (size_t)(next_rand(g) % s->n_features)
                      : SIZE_MAX;
    for (size_t i = 0; i < s->n_features; i++)
        if (i != drop)
            disco_add_feature(d, s->features[i]);
    if (ch == CH_FEATURE_ADD || (ch == CH_FEATURE_DROP && drop == SIZE_MAX)) {
        /* a feature from the pool this entry lacks; or a new one */
        const char *f = g->pool[next_rand(g) % g->n_pool];
        if (disco_has_feature(s, f)) {
            char *nf = xasprintf("urn:xcensus:synthetic:%s", tag);
            disco_add_feature(d, nf);
            free(nf);
        } else {
            disco_add_feature(d, f);
        }
    }
    for (size_t i = 0; i < s->n_forms; i++) {
        const struct dataform *f = s->forms[i];
        struct dataform *cf = disco_add_form(d, f->type);
        for (size_t k = 0; k < f->n_fields; k++) {
            const struct dataform_field *fd = f->fields[k];
            struct dataform_field *cfd = disco_form_add_field(d, cf, fd->var, fd->type);
            bool bump = f == si &&
                        ((ch == CH_OS_BUILD && strcmp(fd->var, "os_version") == 0) ||
                         (ch == CH_RELEASE && strcmp(fd->var, "software_version") == 0));
            for (size_t v = 0; v < fd->n_values; v++) {
                if (bump) {
                    char *nv = xasprintf("%s.%s", fd->values[v], tag);
                    disco_field_add_value(d, cfd, nv);
                    free(nv);
                } else {
                    disco_field_add_value(d, cfd, fd->values[v]);
                }
            }
            if (bump && fd->n_values == 0)
                disco_field_add_value(d, cfd, tag);
        }
    }
    if (!caps_ver_compute(d, HASH_SHA1, CAPS_M_STRICT, ver))
        DIE_BUG("sha-1 unavailable");
    return d;
}
