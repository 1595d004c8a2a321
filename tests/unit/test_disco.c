/*
 * disco#info parser and model (hostile input: each bad case must be a
 * clean parse error), serializer round trip, hashes and base64, and the
 * software-information extractors (XEP-0232, XEP-0157, muc#roominfo,
 * XEP-0092).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "caps.h"
#include "disco.h"
#include "hash.h"
#include "softinfo.h"
#include "xalloc.h"

#define Q_OPEN "<query xmlns='http://jabber.org/protocol/disco#info'>"
#define Q_CLOSE "</query>"

/* --- Parser: table of bad inputs --- */

static const struct {
    const char *name;
    const char *xml;
    enum disco_err code;
} bad_inputs[] = {
    {"empty", "", DISCO_ERR_XML},
    {"not xml", "hello", DISCO_ERR_XML},
    {"truncated", Q_OPEN "<identity category='client' type='pc'",
     DISCO_ERR_XML},
    {"unclosed", Q_OPEN "<feature var='a'/>", DISCO_ERR_XML},
    {"mismatched tags", Q_OPEN "</x>", DISCO_ERR_XML},
    {"doctype", "<!DOCTYPE query>" Q_OPEN Q_CLOSE, DISCO_ERR_DOCTYPE},
    {"billion laughs",
     "<?xml version='1.0'?><!DOCTYPE q [<!ENTITY a 'aaaaaaaaaa'>"
     "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]>" Q_OPEN
     "<feature var='&b;'/>" Q_CLOSE,
     DISCO_ERR_DOCTYPE},
    {"external entity",
     "<!DOCTYPE q [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" Q_OPEN
     "<feature var='&x;'/>" Q_CLOSE,
     DISCO_ERR_DOCTYPE},
    {"undefined entity", Q_OPEN "<feature var='&x;'/>" Q_CLOSE, DISCO_ERR_XML},
    {"invalid utf-8", Q_OPEN "<feature var='\xc3\x28'/>" Q_CLOSE,
     DISCO_ERR_XML},
    {"overlong utf-8", Q_OPEN "<feature var='\xc0\xaf'/>" Q_CLOSE,
     DISCO_ERR_XML},
    {"utf-8 surrogate", Q_OPEN "<feature var='\xed\xa0\x80'/>" Q_CLOSE,
     DISCO_ERR_XML},
    {"latin-1 declared",
     "<?xml version='1.0' encoding='ISO-8859-1'?>" Q_OPEN
     "<feature var='\xe9'/>" Q_CLOSE,
     DISCO_ERR_XML},
    {"control char", Q_OPEN "<feature var='\x01'/>" Q_CLOSE, DISCO_ERR_XML},
    {"wrong namespace", "<query xmlns='jabber:iq:version'/>",
     DISCO_ERR_NO_QUERY},
    {"other root", "<message/>", DISCO_ERR_NO_QUERY},
    {"iq without query", "<iq type='result'><x/></iq>", DISCO_ERR_NO_QUERY},
    {"two roots", Q_OPEN Q_CLOSE Q_OPEN Q_CLOSE, DISCO_ERR_XML},
};

static void test_bad_inputs(void **state)
{
    for (size_t i = 0; i < ARRAY_LEN(bad_inputs); i++) {
        struct parse_err err;
        struct disco_info *info = disco_parse(
            bad_inputs[i].xml, strlen(bad_inputs[i].xml), NULL, &err);
        if (info != NULL || err.code != (int)bad_inputs[i].code)
            fail_msg("%s: got %s (%s), want %s", bad_inputs[i].name,
                     info ? "success" : disco_err_name(err.code), err.msg,
                     disco_err_name(bad_inputs[i].code));
        assert_true(err.msg[0] != '\0');
    }
}

static void test_embedded_nul(void **state)
{
    static const char xml[] = Q_OPEN "<feature var='a\0b'/>" Q_CLOSE;
    struct parse_err err;
    assert_null(disco_parse(xml, sizeof xml - 1, NULL, &err));
    assert_int_equal(err.code, DISCO_ERR_XML);
}

static void test_oversized_input(void **state)
{
    struct disco_limits lim = disco_limits_default;
    lim.max_input = 64;
    struct buf b = BUF_INIT;
    buf_puts(&b, Q_OPEN);
    while (b.len < 100)
        buf_puts(&b, "<feature var='x'/>");
    buf_puts(&b, Q_CLOSE);
    struct parse_err err;
    assert_null(disco_parse(b.data, b.len, &lim, &err));
    assert_int_equal(err.code, DISCO_ERR_TOO_LARGE);
    /* a long string */
    lim = disco_limits_default;
    lim.max_string = 16;
    buf_reset(&b);
    buf_puts(&b, Q_OPEN "<feature var='0123456789abcdefX'/>" Q_CLOSE);
    assert_null(disco_parse(b.data, b.len, &lim, &err));
    assert_int_equal(err.code, DISCO_ERR_LIMIT);
    /* a long value, delivered by expat in several pieces */
    buf_reset(&b);
    buf_puts(&b, Q_OPEN "<x xmlns='jabber:x:data' type='result'>"
                        "<field var='v'><value>");
    for (int i = 0; i < 10; i++)
        buf_puts(&b, "ab&amp;cd");
    buf_puts(&b, "</value></field></x>" Q_CLOSE);
    assert_null(disco_parse(b.data, b.len, &lim, &err));
    assert_int_equal(err.code, DISCO_ERR_LIMIT);
    buf_free(&b);
}

static void test_deep_nesting(void **state)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, Q_OPEN);
    for (int i = 0; i < 100000; i++)
        buf_puts(&b, "<a>");
    struct parse_err err;
    assert_null(disco_parse(b.data, b.len, NULL, &err));
    assert_int_equal(err.code, DISCO_ERR_TOO_DEEP);
    buf_free(&b);
}

static void test_count_limits(void **state)
{
    struct disco_limits lim = disco_limits_default;
    lim.max_features = 10;
    lim.max_identities = 2;
    lim.max_forms = 1;
    lim.max_fields = 2;
    lim.max_values = 2;
    lim.max_other = 3;
    static const struct {
        const char *body;
    } cases[] = {
        {"<feature var='0'/><feature var='1'/><feature var='2'/>"
         "<feature var='3'/><feature var='4'/><feature var='5'/>"
         "<feature var='6'/><feature var='7'/><feature var='8'/>"
         "<feature var='9'/><feature var='10'/>"},
        {"<identity/><identity/><identity/>"},
        {"<x xmlns='jabber:x:data'/><x xmlns='jabber:x:data'/>"},
        {"<x xmlns='jabber:x:data'><field/><field/><field/></x>"},
        {"<x xmlns='jabber:x:data'><field><value/><value/><value/></field>"
         "</x>"},
        {"<a/><b/><c/><d/>"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *xml = xasprintf(Q_OPEN "%s" Q_CLOSE, cases[i].body);
        struct parse_err err;
        struct disco_info *info = disco_parse(xml, strlen(xml), &lim, &err);
        if (info != NULL || err.code != DISCO_ERR_LIMIT)
            fail_msg("case %zu: %s", i, info ? "accepted" : err.msg);
        free(xml);
    }
    /* the default limit on features */
    struct buf b = BUF_INIT;
    buf_puts(&b, Q_OPEN);
    for (int i = 0; i <= 4096; i++)
        buf_printf(&b, "<feature var='f%d'/>", i);
    buf_puts(&b, Q_CLOSE);
    struct parse_err err;
    assert_null(disco_parse(b.data, b.len, NULL, &err));
    assert_int_equal(err.code, DISCO_ERR_LIMIT);
    buf_free(&b);
}

/* Every prefix of a valid document is an error or a success, never a
 * crash (truncation at every byte). */
static void test_every_truncation(void **state)
{
    static const char xml[] =
        "<iq type='result' xml:lang='de'>" Q_OPEN
        "<identity category='client' type='pc' name='\xce\xa8'/>"
        "<feature var='a'/><x xmlns='jabber:x:data' type='result'>"
        "<field var='FORM_TYPE' type='hidden'><value>urn:x</value></field>"
        "</x>" Q_CLOSE "</iq>";
    for (size_t n = 0; n < sizeof xml - 1; n++) {
        struct parse_err err;
        struct disco_info *info = disco_parse(xml, n, NULL, &err);
        assert_null(info);
        assert_int_not_equal(err.code, 0);
    }
    struct disco_info *info = disco_parse(xml, sizeof xml - 1, NULL, NULL);
    assert_non_null(info);
    disco_info_free(info);
}

static void test_model(void **state)
{
    static const char xml[] =
        "<iq xmlns='jabber:client' type='result' xml:lang='de'>"
        "<query xmlns='http://jabber.org/protocol/disco#info' node='n#v'>"
        "<identity category='client' type='pc' name='A'/>"
        "<identity category='client' type='pc' xml:lang='en' name='B'/>"
        "<feature var='x'/><feature var='x'/>"
        "<unknown xmlns='urn:other'/>"
        "<x xmlns='jabber:x:data' type='result'><title>t</title>"
        "<field var='FORM_TYPE' type='hidden'><value>urn:f</value></field>"
        "<field var='icon'><media xmlns='urn:xmpp:media-element'>"
        "<uri type='image/png'>http://x</uri></media></field>"
        "<field var='m'><value>2</value><value></value><value>1</value>"
        "</field></x>"
        "</query><error/></iq>";
    struct parse_err err;
    struct disco_info *info = disco_parse(xml, sizeof xml - 1, NULL, &err);
    if (info == NULL)
        fail_msg("%s", err.msg);
    assert_string_equal(info->node, "n#v");
    assert_string_equal(info->lang, "de");
    assert_int_equal(info->n_identities, 2);
    assert_string_equal(info->identities[0].lang, "");
    assert_string_equal(info->identities[0].lang_eff, "de");
    assert_string_equal(info->identities[1].lang, "en");
    assert_string_equal(info->identities[1].lang_eff, "en");
    assert_int_equal(info->n_features, 2); /* duplicates kept */
    assert_int_equal(info->n_other, 1);
    assert_int_equal(info->n_forms, 1);
    const struct dataform *f = info->forms[0];
    assert_string_equal(f->type, "result");
    assert_int_equal(f->n_other, 1);
    assert_int_equal(f->n_fields, 3);
    assert_true(f->fields[1]->has_media);
    assert_int_equal(f->fields[1]->n_values, 0);
    assert_int_equal(f->fields[2]->n_values, 3);
    assert_string_equal(f->fields[2]->values[0], "2");
    assert_string_equal(f->fields[2]->values[1], "");
    const char *ft;
    assert_int_equal(dataform_form_type(f, &ft), DATAFORM_FT_OK);
    assert_string_equal(ft, "urn:f");
    assert_ptr_equal(disco_find_form(info, "urn:f"), f);
    assert_true(disco_has_feature(info, "x"));
    assert_int_equal(caps_check(info), CAPS_ERR_DUPLICATE_FEATURE);
    /* XEP-0115 uses explicit langs, XEP-0390 the implicit one */
    struct buf s = BUF_INIT;
    caps_build_s(info, CAPS_M_LENIENT, &s, NULL);
    assert_string_equal(buf_str(&s),
                        "client/pc//A<client/pc/en/B<x<x<urn:f<icon<m<<1<2<");
    buf_free(&s);
    disco_info_free(info);
}

static void test_serializer_roundtrip(void **state)
{
    struct disco_info *info = disco_info_new();
    disco_set_node(info, "http://x/'\"#ver");
    disco_add_identity(info, "client", "pc", "en", "a<b>&'\"c");
    disco_add_feature(info, "urn:a&b");
    struct dataform *f = disco_add_typed_form(info, "urn:f");
    disco_field_add_value(info, disco_form_add_field(info, f, "k", "text"),
                          "line1\nline2 <&>");
    char *xml = disco_info_to_xml(info);
    struct parse_err err;
    struct disco_info *back = disco_parse(xml, strlen(xml), NULL, &err);
    if (back == NULL)
        fail_msg("%s: %s", xml, err.msg);
    assert_string_equal(back->node, info->node);
    assert_string_equal(back->identities[0].name, "a<b>&'\"c");
    assert_string_equal(back->identities[0].lang, "en");
    assert_string_equal(back->features[0], "urn:a&b");
    assert_string_equal(back->forms[0]->fields[1]->values[0],
                        "line1\nline2 <&>");
    char h1[HASH_B64_MAX], h2[HASH_B64_MAX];
    assert_true(caps_ver_compute(info, HASH_SHA1, CAPS_M_STRICT, h1));
    assert_true(caps_ver_compute(back, HASH_SHA1, CAPS_M_STRICT, h2));
    assert_string_equal(h1, h2);
    char *xml2 = disco_info_to_xml(back);
    assert_string_equal(xml, xml2);
    free(xml);
    free(xml2);
    disco_info_free(back);
    disco_info_free(info);
}

/* --- hashes and base64 --- */

static void test_base64(void **state)
{
    static const struct {
        const char *in, *out;
    } rfc[] = {/* RFC 4648 section 10 */
               {"", ""},
               {"f", "Zg=="},
               {"fo", "Zm8="},
               {"foo", "Zm9v"},
               {"foob", "Zm9vYg=="},
               {"fooba", "Zm9vYmE="},
               {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < ARRAY_LEN(rfc); i++) {
        char out[32];
        size_t n = base64_encode(rfc[i].in, strlen(rfc[i].in), out);
        assert_string_equal(out, rfc[i].out);
        assert_int_equal(n, strlen(rfc[i].out));
        unsigned char back[32];
        size_t bl;
        assert_true(base64_decode(out, n, back, sizeof back, &bl));
        assert_int_equal(bl, strlen(rfc[i].in));
        assert_memory_equal(back, rfc[i].in, bl);
    }
    static const char *const bad[] = {
        "Zg=",      /* length */
        "Zh==",     /* non-zero pad bits */
        "Zm9=",     /* non-zero pad bits */
        "Z===",     /* too much padding */
        "Zg==Zg==", /* padding inside */
        "Zm 9v",    "Zm9v\n", "Zm9*", "=Zm9",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        unsigned char back[32];
        size_t bl;
        if (base64_decode(bad[i], strlen(bad[i]), back, sizeof back, &bl))
            fail_msg("accepted \"%s\"", bad[i]);
    }
    unsigned char small[2];
    size_t bl;
    assert_false(base64_decode("Zm9v", 4, small, sizeof small, &bl));
    /* all byte values survive */
    unsigned char all[256], back[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char enc[BASE64_ENCODED_SIZE(256)];
    size_t n = base64_encode(all, sizeof all, enc);
    assert_int_equal(n + 1, sizeof enc);
    assert_true(base64_decode(enc, n, back, sizeof back, &bl));
    assert_memory_equal(all, back, 256);
}

static void test_hash_algos(void **state)
{
    for (int a = 0; a < HASH__COUNT; a++) {
        enum hash_algo back;
        assert_true(hash_algo_parse(hash_algo_name(a), &back));
        assert_int_equal(back, a);
        assert_true(hash_algo_available(a));
    }
    enum hash_algo a;
    assert_false(hash_algo_parse("SHA-1", &a));
    assert_false(hash_algo_parse("sha1", &a));
    char out[HASH_B64_MAX];
    /* FIPS 180 "abc" */
    assert_true(hash_b64(HASH_SHA1, "abc", 3, out));
    assert_string_equal(out, "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
    assert_true(hash_b64(HASH_SHA256, "abc", 3, out));
    assert_string_equal(out, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    assert_true(hash_b64(HASH_MD5, "", 0, out));
    assert_string_equal(out, "1B2M2Y8AsgTpgAmY7PhCfg==");
    /* RFC 7693 appendix A: BLAKE2b-512("abc") starts BA 80 A5 3F */
    unsigned char d[64];
    hash_blake2b("abc", 3, d, 64);
    assert_int_equal(d[0], 0xba);
    assert_int_equal(d[1], 0x80);
    assert_int_equal(d[63], 0x23);
    /* the built-in BLAKE2b agrees with OpenSSL's BLAKE2b-512 (which is
     * what hash_digest() uses for "blake2b-512") at block boundaries */
    unsigned char msg[300];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 7);
    static const size_t lens[] = {0, 1, 127, 128, 129, 255, 256, 257, 300};
    for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
        unsigned char mine[64], ossl[64];
        hash_blake2b(msg, lens[i], mine, 64);
        assert_true(hash_digest(HASH_BLAKE2B_512, msg, lens[i], ossl));
        assert_memory_equal(mine, ossl, 64);
    }
    assert_int_equal(hash_algo_len(HASH_SHAKE256), 64);
    assert_true(hash_b64(HASH_SHAKE128, "", 0, out));
    /* SHAKE128("", 256 bits) = 7f9c2ba4e88f827d616045507605853e... */
    assert_true(hash_digest(HASH_SHAKE128, "", 0, d));
    assert_int_equal(d[0], 0x7f);
    assert_int_equal(d[1], 0x9c);
}

/* --- software information --- */

static void test_softinfo(void **state)
{
    static const char xml[] = Q_OPEN
        "<identity category='server' type='im' name='S'/>"
        "<x xmlns='jabber:x:data' type='result'>"
        "<field var='FORM_TYPE' type='hidden'>"
        "<value>urn:xmpp:dataforms:softwareinfo</value></field>"
        "<field var='icon'><media xmlns='urn:xmpp:media-element'/></field>"
        "<field var='os'><value>Linux</value></field>"
        "<field var='software'><value>Openfire</value></field>"
        "<field var='software_version'><value>5.0.0</value></field>"
        "</x>"
        "<x xmlns='jabber:x:data' type='result'>"
        "<field var='FORM_TYPE' type='hidden'>"
        "<value>http://jabber.org/network/serverinfo</value></field>"
        "<field var='abuse-addresses'><value>mailto:abuse@x</value>"
        "<value>xmpp:abuse@x</value></field>"
        "<field var='admin-addresses'><value></value></field>"
        "<field var='c2s_port'><value>5222</value></field>"
        "<field var='support-addresses'><value>https://x/s</value></field>"
        "</x>"
        "<x xmlns='jabber:x:data' type='result'>"
        "<field var='FORM_TYPE' type='hidden'>"
        "<value>http://jabber.org/protocol/muc#roominfo</value></field>"
        "<field var='muc#roominfo_occupants'><value>42</value></field>"
        "<field var='muc#roominfo_description'><value>d</value></field>"
        "</x>" Q_CLOSE;
    struct disco_info *info = disco_parse(xml, sizeof xml - 1, NULL, NULL);
    assert_non_null(info);
    struct softinfo si;
    assert_true(softinfo_extract(info, &si));
    assert_string_equal(si.software, "Openfire");
    assert_string_equal(si.software_version, "5.0.0");
    assert_string_equal(si.os, "Linux");
    assert_null(si.os_version);
    assert_true(si.has_icon);
    softinfo_free(&si);
    struct softinfo_contacts c;
    assert_int_equal(softinfo_contacts_extract(info, &c), 3);
    assert_string_equal(c.items[0].kind, "abuse");
    assert_string_equal(c.items[0].uri, "mailto:abuse@x");
    assert_string_equal(c.items[1].uri, "xmpp:abuse@x");
    assert_string_equal(c.items[2].kind, "support");
    softinfo_contacts_free(&c);
    struct softinfo_room r;
    assert_true(softinfo_room_extract(info, &r));
    assert_int_equal(r.occupants, 42);
    assert_string_equal(r.description, "d");
    assert_null(r.subject);
    softinfo_room_free(&r);
    disco_info_free(info);

    info = disco_info_new();
    assert_false(softinfo_extract(info, &si));
    assert_int_equal(softinfo_contacts_extract(info, &c), 0);
    assert_false(softinfo_room_extract(info, &r));
    assert_int_equal(r.occupants, -1);
    disco_info_free(info);
}

static void test_version(void **state)
{
    static const char ok[] =
        "<iq type='result' from='x' id='v1' xmlns='jabber:client'>"
        "<query xmlns='jabber:iq:version'><name>Conversations</name>"
        "<version>2.17.2</version><os>Android</os></query></iq>";
    struct softinfo_version v;
    struct parse_err err;
    assert_true(softinfo_version_parse(ok, sizeof ok - 1, NULL, &v, &err));
    assert_string_equal(v.name, "Conversations");
    assert_string_equal(v.version, "2.17.2");
    assert_string_equal(v.os, "Android");
    softinfo_version_free(&v);

    static const char bare[] =
        "<query xmlns='jabber:iq:version'><name>P</name><extra><name>Q</name>"
        "</extra><version/></query>";
    assert_true(softinfo_version_parse(bare, sizeof bare - 1, NULL, &v, &err));
    assert_string_equal(v.name, "P");
    assert_string_equal(v.version, "");
    assert_null(v.os);
    softinfo_version_free(&v);

    static const char *const bad[] = {
        "<query xmlns='jabber:iq:version'><name>",
        "<!DOCTYPE q><query xmlns='jabber:iq:version'/>",
        "<query xmlns='urn:other'/>",
        "<iq><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (softinfo_version_parse(bad[i], strlen(bad[i]), NULL, &v, &err))
            fail_msg("accepted %s", bad[i]);
        assert_null(v.name);
    }
    struct disco_limits lim = disco_limits_default;
    lim.max_string = 4;
    assert_false(softinfo_version_parse(ok, sizeof ok - 1, &lim, &v, &err));
    assert_int_equal(err.code, DISCO_ERR_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_oversized_input),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_count_limits),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_serializer_roundtrip),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_hash_algos),
        cmocka_unit_test(test_softinfo),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
