/*
 * Unit tests for crawler/stanza: replies parsed from libstrophe stanzas keep
 * identity languages (libstrophe writes xml:lang back as "lang"), so the
 * XEP-0115 hash of a multi-language entity verifies; error conditions and
 * disco#items with RSM are read within bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "caps.h"
#include "stanza.h"

static xmpp_ctx_t *ctx;

static int setup(void **state)
{
    xmpp_initialize();
    ctx = xmpp_ctx_new(NULL, NULL);
    return ctx ? 0 : -1;
}

static int teardown(void **state)
{
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return 0;
}

/* The XEP-0115 section 5.3 example: two identities told apart by xml:lang. */
static void test_xml_lang_survives(void **state)
{
    xmpp_stanza_t *iq = xmpp_stanza_new_from_string(
        ctx,
        "<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info' "
        "node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>"
        "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
        "<identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>"
        "<feature var='http://jabber.org/protocol/caps'/>"
        "<feature var='http://jabber.org/protocol/disco#info'/>"
        "<feature var='http://jabber.org/protocol/disco#items'/>"
        "<feature var='http://jabber.org/protocol/muc'/>"
        "<x xmlns='jabber:x:data' type='result'>"
        "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
        "<field var='ip_version'><value>ipv4</value><value>ipv6</value></field>"
        "<field var='os'><value>Mac</value></field>"
        "<field var='os_version'><value>10.5.1</value></field>"
        "<field var='software'><value>Psi</value></field>"
        "<field var='software_version'><value>0.11</value></field>"
        "</x></query></iq>");
    assert_non_null(iq);
    struct parse_err err = {0};
    struct disco_info *info = stanza_disco_info(iq, NULL, NULL, &err);
    assert_non_null(info);
    assert_int_equal(info->n_identities, 2);
    assert_string_equal(info->identities[0].lang, "en");
    assert_string_equal(info->identities[1].lang, "el");
    struct caps_result r;
    caps_result_init(&r);
    assert_int_equal(caps_verify(info, "sha-1", "q07IKJEyjvHSyhy//CH0CxmKi8w=", 0, &r),
                     CAPS_VALID);
    caps_result_free(&r);
    disco_info_free(info);
    xmpp_stanza_release(iq);
}

static void test_error_condition_and_items(void **state)
{
    char cond[64];
    xmpp_stanza_t *e = xmpp_stanza_new_from_string(
        ctx, "<iq type='error'><error type='cancel'><text "
             "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>x</text>"
             "<remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
             "</error></iq>");
    stanza_error_condition(e, cond, sizeof cond);
    assert_string_equal(cond, "remote-server-not-found");
    xmpp_stanza_release(e);
    e = xmpp_stanza_new_from_string(ctx, "<iq type='error'/>");
    stanza_error_condition(e, cond, sizeof cond);
    assert_string_equal(cond, "undefined-condition");
    xmpp_stanza_release(e);

    xmpp_stanza_t *it = xmpp_stanza_new_from_string(
        ctx, "<iq type='result'><query xmlns='http://jabber.org/protocol/disco#items'>"
             "<item jid='a.example'/><item jid='b.example' node='n' name='B'/>"
             "<item/><item jid='c.example'/>"
             "<set xmlns='http://jabber.org/protocol/rsm'><last>c</last><count>9</count></set>"
             "</query></iq>");
    struct disco_items d = {0};
    d.rsm_count = -1;
    assert_true(stanza_disco_items(it, 2, &d));
    assert_int_equal(d.n, 2); /* bounded */
    assert_int_equal(d.dropped, 2); /* no jid, over the bound */
    assert_string_equal(d.items[1].node, "n");
    assert_string_equal(d.rsm_last, "c");
    assert_int_equal(d.rsm_count, 9);
    disco_items_free(&d);
    xmpp_stanza_release(it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_lang_survives),
        cmocka_unit_test(test_error_condition_and_items),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
