/*
 * The pure parts of crawler/census: the join decision from a room's
 * disco#info (muc_* features and the muc#roominfo occupants field) and the
 * reading of XEP-0115 / XEP-0390 elements from a presence, with its bounds.
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

#include "census.h"
#include "disco.h"
#include "xc_config.h"

static enum census_decision decide(const char *features, const char *occ,
                                   unsigned min, struct census_room *r)
{
    char xml[4096];
    snprintf(xml, sizeof xml,
             "<query xmlns='" DISCO_NS_INFO "'>"
             "<identity category='conference' type='text' name='Room'/>%s"
             "<x xmlns='jabber:x:data' type='result'>"
             "<field var='FORM_TYPE' type='hidden'><value>"
             "http://jabber.org/protocol/muc#roominfo</value></field>%s</x>"
             "</query>",
             features, occ);
    struct parse_err err;
    struct disco_info *info = disco_parse(xml, strlen(xml), NULL, &err);
    assert_non_null(info);
    enum census_decision d = census_room_decide(info, min, r);
    disco_info_free(info);
    return d;
}

#define F(x) "<feature var='" x "'/>"
#define OPEN F("muc_public") F("muc_open") F("muc_unsecured")
#define OCC(n)                                                                 \
    "<field var='muc#roominfo_occupants'><value>" #n "</value></field>"

static void test_decisions(void **state)
{
    struct census_room r;
    assert_int_equal(decide(OPEN, OCC(3), 2, &r), CD_JOIN);
    assert_true(r.is_public);
    assert_false(r.members_only);
    assert_false(r.password);
    assert_int_equal(r.occupants, 3);
    assert_int_equal(decide(OPEN, OCC(3), 5, &r), CD_TOO_FEW);
    assert_int_equal(decide(OPEN, "", 1, &r), CD_TOO_FEW); /* unknown */
    assert_int_equal(r.occupants, -1);
    assert_int_equal(decide(F("muc_public") F("muc_membersonly")
                                F("muc_unsecured"),
                            OCC(9), 1, &r),
                     CD_MEMBERS_ONLY);
    assert_true(r.members_only);
    /* neither muc_open nor muc_membersonly: not known to be open */
    assert_int_equal(decide(F("muc_public") F("muc_unsecured"), OCC(9), 1, &r),
                     CD_MEMBERS_ONLY);
    assert_int_equal(decide(F("muc_public") F("muc_open")
                                F("muc_passwordprotected"),
                            OCC(9), 1, &r),
                     CD_PASSWORD);
    assert_true(r.password);
    assert_int_equal(decide(F("muc_public") F("muc_open"), OCC(9), 1, &r),
                     CD_PASSWORD);
    assert_int_equal(
        decide(F("muc_hidden") F("muc_open") F("muc_unsecured"), OCC(9), 1, &r),
        CD_HIDDEN);
    assert_int_equal(census_room_decide(NULL, 1, &r), CD_NO_INFO);

    const char *xml = "<query xmlns='" DISCO_NS_INFO "'>"
                      "<identity category='client' type='pc'/>" OPEN "</query>";
    struct parse_err err;
    struct disco_info *info = disco_parse(xml, strlen(xml), NULL, &err);
    assert_int_equal(census_room_decide(info, 1, &r), CD_NOT_A_ROOM);
    disco_info_free(info);
    assert_string_equal(census_decision_name(CD_PASSWORD),
                        "password-protected");
    assert_string_equal(census_join_name(CJ_CREATED), "created");
}

static xmpp_ctx_t *ctx;

static bool caps_of(const char *xml, struct census_caps *out)
{
    xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, xml);
    assert_non_null(st);
    bool r = census_presence_caps(st, out);
    xmpp_stanza_release(st);
    return r;
}

static void test_presence_caps(void **state)
{
    ctx = xmpp_ctx_new(NULL, NULL);
    struct census_caps c;
    assert_true(
        caps_of("<presence from='r@s/n'><x "
                "xmlns='http://jabber.org/protocol/muc#user'/>"
                "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                "node='https://gajim.org' ver='abc='/>"
                "<c xmlns='urn:xmpp:caps'><hash xmlns='urn:xmpp:hashes:2' "
                "algo='sha-256'>X1=</hash><hash xmlns='urn:xmpp:hashes:2' "
                "algo='sha3-256'>Y2=</hash><other/></c><status>hello</status>"
                "</presence>",
                &c));
    assert_true(c.caps1);
    assert_string_equal(c.algo, "sha-1");
    assert_string_equal(c.ver, "abc=");
    assert_string_equal(c.node, "https://gajim.org");
    assert_int_equal(c.n_caps2, 2);
    assert_string_equal(c.caps2[0].algo, "sha-256");
    assert_string_equal(c.caps2[0].value, "X1=");
    assert_string_equal(c.caps2[1].algo, "sha3-256");
    assert_int_equal(c.dropped, 0);

    /* legacy caps: no hash attribute */
    assert_true(caps_of("<presence><c xmlns='http://jabber.org/protocol/caps' "
                        "node='n' ver='1.0'/></presence>",
                        &c));
    assert_true(c.caps1);
    assert_string_equal(c.algo, "");
    /* no caps, wrong namespace, missing ver */
    assert_false(
        caps_of("<presence><c xmlns='urn:other' ver='x'/></presence>", &c));
    assert_false(caps_of("<presence><c xmlns='http://jabber.org/protocol/caps' "
                         "hash='sha-1' node='n'/></presence>",
                         &c));
    assert_int_equal(c.dropped, 1);

    /* bounds: an over-long ver is dropped, XEP-0390 hashes capped */
    char xml[8192];
    char longver[600];
    memset(longver, 'v', sizeof longver - 1);
    longver[sizeof longver - 1] = '\0';
    int n =
        snprintf(xml, sizeof xml,
                 "<presence><c xmlns='http://jabber.org/protocol/caps' "
                 "hash='sha-1' node='n' ver='%s'/><c xmlns='urn:xmpp:caps'>",
                 longver);
    for (int i = 0; i < CENSUS_CAPS2_MAX + 3; i++)
        n += snprintf(xml + n, sizeof xml - (size_t)n,
                      "<hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>H%d"
                      "</hash>",
                      i);
    snprintf(xml + n, sizeof xml - (size_t)n, "</c></presence>");
    assert_true(caps_of(xml, &c));
    assert_false(c.caps1);
    assert_int_equal(c.n_caps2, CENSUS_CAPS2_MAX);
    assert_int_equal(c.dropped, 1 + 3);
    xmpp_ctx_free(ctx);
}

static void test_params_from_config(void **state)
{
    struct xc_config cfg;
    xc_config_defaults(&cfg);
    struct census_params p;
    census_params_from_config(&cfg, &p);
    assert_string_equal(p.nick, "xcensus");
    assert_non_null(strstr(p.status, "stores no"));
    assert_int_equal(p.rooms_per_service, 20);
    assert_int_equal(p.min_occupants, 2);
    assert_int_equal(p.join_duration_ms, 60000);
    struct capscache_params cp;
    census_cache_params_from_config(&cfg, &cp);
    assert_int_equal(cp.timeout_ms, 15000);
    assert_int_equal(cp.max_attempts, 3);
    assert_null(cp.query);
    xc_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_presence_caps),
        cmocka_unit_test(test_params_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
