/*
 * XEP-0390 specifics beyond the vectors: byte layout of small inputs,
 * sorting including the trailing separator, implicit xml:lang, the error
 * cases of section 4.1 step 1, verification outcomes and hash nodes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "caps2.h"
#include "disco.h"
#include "hash.h"
#include "xalloc.h"

static void input_of(const char *xml, struct buf *out, enum caps2_error want)
{
    struct parse_err err;
    struct disco_info *info = disco_parse(xml, strlen(xml), NULL, &err);
    if (info == NULL)
        fail_msg("%s", err.msg);
    buf_reset(out);
    assert_int_equal(caps2_input(info, out), want);
    disco_info_free(info);
}

static void test_layout(void **state)
{
    struct buf b = BUF_INIT;
    input_of("<query xmlns='http://jabber.org/protocol/disco#info'/>", &b,
             CAPS2_ERR_NONE);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "\x1c\x1c\x1c", 3);

    /* "a" vs "a-b": with separators "a\x1f" sorts before "a-b\x1f"
     * ('\x1f' < '-'), while a plain string sort gives the same; "ab" vs
     * "a": "a\x1f" < "ab\x1f" */
    input_of("<iq xml:lang='fr'><query "
             "xmlns='http://jabber.org/protocol/disco#info'>"
             "<feature var='ab'/><feature var='a'/>"
             "<identity category='c' type='t' name='n'/>"
             "<identity category='c' type='t' xml:lang='en'/>"
             "</query></iq>",
             &b, CAPS2_ERR_NONE);
    static const char want[] = "a\x1f"
                               "ab\x1f\x1c"
                               "c\x1ft\x1f"
                               "en\x1f\x1f\x1e"
                               "c\x1ft\x1f"
                               "fr\x1fn\x1f\x1e\x1c\x1c";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);

    /* forms: FORM_TYPE is an ordinary field; values sorted; empty value */
    input_of("<query xmlns='http://jabber.org/protocol/disco#info'>"
             "<x xmlns='jabber:x:data' type='result'>"
             "<field var='z'><value>2</value><value>1</value></field>"
             "<field var='FORM_TYPE' type='hidden'><value>u</value></field>"
             "<field var='e'><value/></field>"
             "<field var='m'><media xmlns='urn:xmpp:media-element'/></field>"
             "</x></query>",
             &b, CAPS2_ERR_NONE);
    static const char want2[] = "\x1c\x1c"
                                "FORM_TYPE\x1fu\x1f\x1e"
                                "e\x1f\x1f\x1e"
                                "m\x1f\x1e"
                                "z\x1f"
                                "1\x1f"
                                "2\x1f\x1e\x1d\x1c";
    assert_int_equal(b.len, sizeof want2 - 1);
    assert_memory_equal(b.data, want2, sizeof want2 - 1);
    buf_free(&b);
}

static void test_errors(void **state)
{
    static const struct {
        const char *body;
        enum caps2_error e;
    } cases[] = {
        {"<item xmlns='http://jabber.org/protocol/disco#items'/>",
         CAPS2_ERR_FORBIDDEN},
        {"<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' "
         "type='hidden'><value>u</value></field><reported/></x>",
         CAPS2_ERR_FORM_REPORTED},
        {"<x xmlns='jabber:x:data' type='result'><field var='a'/></x>",
         CAPS2_ERR_FORM_TYPE},
        {"<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'>"
         "<value>u</value></field></x>",
         CAPS2_ERR_FORM_TYPE},
        {"<x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' "
         "type='hidden'><value>u</value></field></x>",
         CAPS2_ERR_FORM_TYPE},
        {"<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' "
         "type='hidden'><value>u</value><value>v</value></field></x>",
         CAPS2_ERR_FORM_TYPE},
    };
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *xml = xasprintf("<query xmlns='http://jabber.org/protocol/"
                              "disco#info'>%s</query>",
                              cases[i].body);
        input_of(xml, &b, cases[i].e);
        assert_int_equal(b.len, 0);
        assert_non_null(caps2_error_name(cases[i].e));
        free(xml);
    }
    buf_free(&b);
}

static void test_verify_and_nodes(void **state)
{
    struct disco_info *info = disco_info_new();
    disco_add_identity(info, "client", "pc", NULL, NULL);
    disco_add_feature(info, "http://jabber.org/protocol/disco#info");
    char h[HASH_B64_MAX];
    bool ok;
    assert_int_equal(caps2_hash(info, HASH_SHA256, h, &ok), CAPS2_ERR_NONE);
    assert_true(ok);
    enum caps2_error e;
    assert_int_equal(caps2_verify(info, "sha-256", h, &e), CAPS2_VALID);
    assert_int_equal(caps2_verify(info, "sha-512", h, &e), CAPS2_MISMATCH);
    assert_int_equal(caps2_verify(info, "sha-257", h, &e),
                     CAPS2_UNSUPPORTED_HASH);
    assert_int_equal(caps2_verify(NULL, "sha-256", h, &e), CAPS2_UNPARSABLE);
    for (int o = 0; o < CAPS2_OUTCOME__COUNT; o++) {
        enum caps2_outcome back;
        assert_true(caps2_outcome_parse(caps2_outcome_name(o), &back));
        assert_int_equal(back, o);
    }
    /* hash nodes split at the last dot */
    char *node = caps2_hash_node("sha3-256", h);
    const char *a, *b;
    size_t al, bl;
    assert_true(caps2_hash_node_parse(node, &a, &al, &b, &bl));
    assert_int_equal(al, 8);
    assert_memory_equal(a, "sha3-256", 8);
    assert_string_equal(b, h);
    free(node);
    assert_true(
        caps2_hash_node_parse("urn:xmpp:caps#x.y.z.QUJD", &a, &al, &b, &bl));
    assert_int_equal(al, 5);
    assert_string_equal(b, "QUJD");
    static const char *const bad[] = {
        "urn:xmpp:caps#sha-256",
        "urn:xmpp:caps#.abc",
        "urn:xmpp:caps#a.",
        "http://x#sha-256.abc",
        "",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_false(caps2_hash_node_parse(bad[i], &a, &al, &b, &bl));
    disco_info_free(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_verify_and_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
