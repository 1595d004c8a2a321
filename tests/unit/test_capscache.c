/*
 * crawler/capscache without a network: a fake transport records every
 * disco#info the cache sends and the test answers them by hand with
 * stanzas built from text. Covers in-flight de-duplication, fallback on
 * timeout and iq error, the attempts bound, preloaded hashes, forgotten and
 * withdrawn candidates, a mismatch answered by another occupant, the
 * XEP-0390 hash node, unsupported algorithms, and freeing the cache with a
 * query in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <strophe.h>

#include "caps.h"
#include "caps2.h"
#include "capscache.h"
#include "disco.h"
#include "xalloc.h"

#define NODE "https://client.example"
#define CONTENT                                                                \
    "<identity category='client' type='pc' name='Test'/>"                      \
    "<feature var='http://jabber.org/protocol/disco#info'/>"                   \
    "<feature var='urn:example:a'/>"
#define OTHER                                                                  \
    "<identity category='client' type='pc' name='Test'/>"                      \
    "<feature var='http://jabber.org/protocol/disco#info'/>"                   \
    "<feature var='urn:example:poison'/>"

struct sent {
    void *via;
    char to[64];
    char node[256];
    session_iq_cb cb;
    void *cbarg;
};

static struct sent sent[16];
static int n_sent;

static void fake_query(void *via, const char *to, const char *node,
                       int timeout_ms, session_iq_cb cb, void *cbarg)
{
    assert_true(n_sent < 16);
    struct sent *s = &sent[n_sent++];
    s->via = via;
    snprintf(s->to, sizeof s->to, "%s", to);
    snprintf(s->node, sizeof s->node, "%s", node);
    s->cb = cb;
    s->cbarg = cbarg;
    assert_int_equal(timeout_ms, 1000);
}

struct rec {
    int resolved, failed, attempts;
    char outcome[32], matched_by[32], node[128];
    unsigned res_attempts;
    enum capscache_attempt last[8];
};

static struct rec rec;

static void r_resolved(void *arg, const struct capscache_resolved *r)
{
    rec.resolved++;
    snprintf(rec.outcome, sizeof rec.outcome, "%s", r->outcome);
    snprintf(rec.matched_by, sizeof rec.matched_by, "%s",
             r->matched_by ? r->matched_by : "");
    snprintf(rec.node, sizeof rec.node, "%s", r->node ? r->node : "");
    rec.res_attempts = r->attempts;
    assert_non_null(r->xml);
    assert_non_null(r->info);
    if (r->kind == CAPSCACHE_CAPS1 && strcmp(r->outcome, "valid") == 0)
        assert_string_equal(r->computed, r->ver);
    /* no occupant address ever reaches the sink */
    assert_null(strstr(r->xml, "room@"));
}

static void r_attempt(void *arg, enum capscache_kind kind, const char *algo,
                      const char *ver, unsigned n, enum capscache_attempt o,
                      const char *cond, int ms)
{
    if (rec.attempts < 8)
        rec.last[rec.attempts] = o;
    rec.attempts++;
    assert_int_equal(n, rec.attempts);
    if (o == CCA_IQ_ERROR)
        assert_string_equal(cond, "item-not-found");
}

static void r_failed(void *arg, enum capscache_kind kind, const char *algo,
                     const char *ver, unsigned attempts)
{
    rec.failed++;
}

static xmpp_ctx_t *ctx;
static char ver[HASH_B64_MAX], ver2[HASH_B64_MAX];
static int via_a, via_b;
static int room1, room2;

static int setup(void **state)
{
    ctx = xmpp_ctx_new(NULL, NULL);
    struct parse_err err;
    const char *xml = "<query xmlns='" DISCO_NS_INFO "'>" CONTENT "</query>";
    struct disco_info *info = disco_parse(xml, strlen(xml), NULL, &err);
    assert_non_null(info);
    assert_true(caps_ver_compute(info, HASH_SHA1, CAPS_M_STRICT, ver));
    bool ok;
    assert_int_equal(caps2_hash(info, HASH_SHA256, ver2, &ok), CAPS2_ERR_NONE);
    assert_true(ok);
    disco_info_free(info);
    return 0;
}

static int teardown(void **state)
{
    xmpp_ctx_free(ctx);
    return 0;
}

static int reset(void **state)
{
    memset(&rec, 0, sizeof rec);
    memset(sent, 0, sizeof sent);
    n_sent = 0;
    return 0;
}

static struct capscache *new_cache(unsigned attempts)
{
    struct capscache_params p = {
        .timeout_ms = 1000, .max_attempts = attempts, .query = fake_query};
    struct capscache_sink k = {NULL, r_resolved, r_attempt, r_failed};
    return capscache_new(&p, &k);
}

static enum capscache_state offer(struct capscache *c, const char *to,
                                  const void *owner, void *via)
{
    struct capscache_offer o = {.kind = CAPSCACHE_CAPS1,
                                .algo = "sha-1",
                                .ver = ver,
                                .node = NODE,
                                .via = via,
                                .owner = owner,
                                .to = to};
    return capscache_offer(c, &o);
}

/* Answers query i with a result holding content. */
static void answer(int i, const char *content)
{
    char xml[2048];
    snprintf(xml, sizeof xml,
             "<iq type='result' id='x'><query xmlns='" DISCO_NS_INFO
             "' node='%s'>%s</query></iq>",
             sent[i].node, content);
    xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, xml);
    assert_non_null(st);
    sent[i].cb(sent[i].cbarg, IQT_RESULT, st);
    xmpp_stanza_release(st);
}

static void answer_error(int i)
{
    xmpp_stanza_t *st = xmpp_stanza_new_from_string(
        ctx, "<iq type='error' id='x'><error type='cancel'><item-not-found "
             "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    sent[i].cb(sent[i].cbarg, IQT_ERROR, st);
    xmpp_stanza_release(st);
}

static void test_dedup(void **state)
{
    struct capscache *c = new_cache(3);
    assert_int_equal(offer(c, "room@s/a", &room1, &via_a), CCS_PENDING);
    assert_int_equal(offer(c, "room@s/b", &room1, &via_a), CCS_PENDING);
    assert_int_equal(offer(c, "room@s/a", &room1, &via_a), CCS_PENDING);
    assert_int_equal(n_sent, 1);
    /* b waits; a, asked already, is not a fallback for itself */
    assert_int_equal(capscache_candidates(c), 1);
    assert_string_equal(sent[0].to, "room@s/a");
    char want[256];
    snprintf(want, sizeof want, NODE "#%s", ver);
    assert_string_equal(sent[0].node, want);
    assert_int_equal(capscache_inflight(c), 1);
    answer(0, CONTENT);
    assert_int_equal(rec.resolved, 1);
    assert_string_equal(rec.outcome, "valid");
    assert_string_equal(rec.matched_by, "strict");
    assert_string_equal(rec.node, NODE);
    assert_int_equal(rec.res_attempts, 1);
    assert_int_equal(capscache_inflight(c), 0);
    /* b's address was dropped with the resolution */
    assert_int_equal(capscache_candidates(c), 0);
    assert_int_equal(offer(c, "room@s/c", &room2, &via_b), CCS_RESOLVED);
    assert_int_equal(n_sent, 1); /* never asked again */
    const struct capscache_stats *st = capscache_stats(c);
    assert_int_equal(st->distinct, 1);
    assert_int_equal(st->queries, 1);
    assert_int_equal(st->waiting, 2);
    capscache_free(c);
}

static void test_fallback(void **state)
{
    struct capscache *c = new_cache(3);
    offer(c, "room@s/a", &room1, &via_a);
    offer(c, "room@s/b", &room1, &via_a);
    offer(c, "room2@s/c", &room2, &via_b);
    assert_int_equal(n_sent, 1);
    sent[0].cb(sent[0].cbarg, IQT_TIMEOUT, NULL);
    assert_int_equal(n_sent, 2);
    assert_string_equal(sent[1].to, "room@s/b");
    answer_error(1);
    assert_int_equal(n_sent, 3);
    assert_string_equal(sent[2].to, "room2@s/c");
    assert_ptr_equal(sent[2].via, &via_b);
    answer(2, CONTENT);
    assert_int_equal(rec.attempts, 3);
    assert_int_equal(rec.last[0], CCA_TIMEOUT);
    assert_int_equal(rec.last[1], CCA_IQ_ERROR);
    assert_int_equal(rec.last[2], CCA_OK);
    assert_int_equal(rec.resolved, 1);
    assert_int_equal(rec.res_attempts, 3);
    capscache_free(c);
}

static void test_attempts_bound(void **state)
{
    struct capscache *c = new_cache(2);
    offer(c, "room@s/a", &room1, &via_a);
    offer(c, "room@s/b", &room1, &via_a);
    offer(c, "room@s/c", &room1, &via_a); /* no attempt left for it */
    sent[0].cb(sent[0].cbarg, IQT_TIMEOUT, NULL);
    assert_int_equal(n_sent, 2);
    sent[1].cb(sent[1].cbarg, IQT_TIMEOUT, NULL);
    assert_int_equal(n_sent, 2);
    assert_int_equal(rec.failed, 1);
    assert_int_equal(rec.resolved, 0);
    assert_int_equal(capscache_state(c, CAPSCACHE_CAPS1, "sha-1", ver),
                     CCS_FAILED);
    assert_int_equal(offer(c, "room@s/d", &room1, &via_a), CCS_FAILED);
    assert_int_equal(n_sent, 2);
    capscache_free(c);
}

static void test_preload(void **state)
{
    struct capscache *c = new_cache(3);
    assert_true(capscache_preload(c, CAPSCACHE_CAPS1, "sha-1", ver));
    assert_false(capscache_preload(c, CAPSCACHE_CAPS1, "sha-1", ver));
    assert_int_equal(offer(c, "room@s/a", &room1, &via_a), CCS_KNOWN);
    assert_int_equal(n_sent, 0);
    /* the same value as XEP-0390 is another entry */
    assert_int_equal(capscache_state(c, CAPSCACHE_CAPS2, "sha-1", ver),
                     CCS_UNKNOWN);
    assert_int_equal(capscache_stats(c)->preloaded, 1);
    capscache_free(c);
}

static void test_forget_and_withdraw(void **state)
{
    struct capscache *c = new_cache(3);
    offer(c, "room@s/a", &room1, &via_a);
    offer(c, "room@s/b", &room1, &via_a);
    offer(c, "room2@s/c", &room2, &via_b);
    assert_int_equal(capscache_candidates(c), 2);
    capscache_forget(c, &room1, "room@s/b"); /* b left the room */
    assert_int_equal(capscache_candidates(c), 1);
    capscache_withdraw(c, &room2); /* we left room2 */
    assert_int_equal(capscache_candidates(c), 0);
    sent[0].cb(sent[0].cbarg, IQT_TIMEOUT, NULL);
    assert_int_equal(n_sent, 1); /* nobody left to ask */
    assert_int_equal(capscache_state(c, CAPSCACHE_CAPS1, "sha-1", ver),
                     CCS_PENDING);
    /* the occupant that did not answer is not asked again */
    offer(c, "room@s/a", &room1, &via_a);
    assert_int_equal(n_sent, 1);
    /* a later occupant with the hash resumes the resolution */
    offer(c, "room3@s/d", &room1, &via_a);
    assert_int_equal(n_sent, 2);
    assert_string_equal(sent[1].to, "room3@s/d");
    answer(1, CONTENT);
    assert_int_equal(rec.resolved, 1);
    assert_int_equal(rec.res_attempts, 2);
    /* a session going away: its candidates are dropped */
    capscache_free(c);
}

static void test_mismatch_then_other_occupant(void **state)
{
    struct capscache *c = new_cache(3);
    offer(c, "room@s/a", &room1, &via_a);
    offer(c, "room@s/b", &room1, &via_a);
    answer(0, OTHER); /* a poisoner claims the hash */
    assert_int_equal(rec.resolved, 0);
    assert_int_equal(rec.last[0], CCA_MISMATCH);
    assert_int_equal(n_sent, 2);
    answer(1, CONTENT);
    assert_int_equal(rec.resolved, 1);
    assert_string_equal(rec.outcome, "valid");
    unsigned poison, variant;
    capscache_node_mismatches(c, NODE, &poison, &variant);
    assert_int_equal(poison, 0);
    capscache_free(c);

    /* alone: the mismatch is the result, counted as possible poisoning */
    reset(NULL);
    c = new_cache(3);
    offer(c, "room@s/a", &room1, &via_a);
    answer(0, OTHER);
    assert_int_equal(rec.resolved, 1);
    assert_string_equal(rec.outcome, "mismatch");
    assert_string_equal(rec.matched_by, "");
    capscache_node_mismatches(c, NODE, &poison, &variant);
    assert_int_equal(poison, 1);
    assert_int_equal(variant, 0);
    assert_int_equal(capscache_stats(c)->mismatch_poison, 1);
    capscache_free(c);
}

static void test_caps2(void **state)
{
    struct capscache *c = new_cache(3);
    struct capscache_offer o = {.kind = CAPSCACHE_CAPS2,
                                .algo = "sha-256",
                                .ver = ver2,
                                .via = &via_a,
                                .owner = &room1,
                                .to = "room@s/a"};
    assert_int_equal(capscache_offer(c, &o), CCS_PENDING);
    assert_int_equal(n_sent, 1);
    char want[256];
    snprintf(want, sizeof want, "urn:xmpp:caps#sha-256.%s", ver2);
    assert_string_equal(sent[0].node, want);
    answer(0, CONTENT);
    assert_int_equal(rec.resolved, 1);
    assert_string_equal(rec.outcome, "valid");
    assert_string_equal(rec.node, "");
    capscache_free(c);
}

static void test_unsupported_and_bounds(void **state)
{
    struct capscache *c = new_cache(3);
    struct capscache_offer o = {.kind = CAPSCACHE_CAPS1,
                                .algo = "md4",
                                .ver = "abc",
                                .node = NODE,
                                .via = &via_a,
                                .owner = &room1,
                                .to = "room@s/a"};
    assert_int_equal(capscache_offer(c, &o), CCS_UNKNOWN);
    o.algo = "sha-1";
    o.ver = "";
    assert_int_equal(capscache_offer(c, &o), CCS_UNKNOWN);
    char longver[300];
    memset(longver, 'A', sizeof longver - 1);
    longver[sizeof longver - 1] = '\0';
    o.ver = longver;
    assert_int_equal(capscache_offer(c, &o), CCS_UNKNOWN);
    assert_int_equal(n_sent, 0);
    capscache_free(c);

    /* a bounded number of distinct hashes */
    struct capscache_params p = {.timeout_ms = 1000,
                                 .max_attempts = 1,
                                 .query = fake_query,
                                 .max_entries = 1};
    c = capscache_new(&p, NULL);
    assert_int_equal(offer(c, "room@s/a", &room1, &via_a), CCS_PENDING);
    o.ver = "other=";
    assert_int_equal(capscache_offer(c, &o), CCS_UNKNOWN);
    assert_int_equal(capscache_stats(c)->refused, 1);
    assert_int_equal(n_sent, 1);
    capscache_free(c);
    sent[0].cb(sent[0].cbarg, IQT_TIMEOUT, NULL);
}

static void test_free_in_flight_and_lost_session(void **state)
{
    struct capscache *c = new_cache(3);
    offer(c, "room@s/a", &room1, &via_a);
    offer(c, "room@s/b", &room1, &via_a); /* same session */
    offer(c, "room2@s/c", &room2, &via_b);
    /* session a is going away: its other candidate is not used */
    sent[0].cb(sent[0].cbarg, IQT_CANCELLED, NULL);
    assert_int_equal(n_sent, 2);
    assert_ptr_equal(sent[1].via, &via_b);
    capscache_free(c);
    /* the query outlives the cache: its callback only frees itself */
    sent[1].cb(sent[1].cbarg, IQT_TIMEOUT, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_dedup, reset),
        cmocka_unit_test_setup(test_fallback, reset),
        cmocka_unit_test_setup(test_attempts_bound, reset),
        cmocka_unit_test_setup(test_preload, reset),
        cmocka_unit_test_setup(test_forget_and_withdraw, reset),
        cmocka_unit_test_setup(test_mismatch_then_other_occupant, reset),
        cmocka_unit_test_setup(test_caps2, reset),
        cmocka_unit_test_setup(test_unsupported_and_bounds, reset),
        cmocka_unit_test_setup(test_free_in_flight_and_lost_session, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
