/*
 * Unit tests for the pure parts of crawler/direct: the stream reader and
 * its features (from stream:features text), the caps it enforces, and the
 * name tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "direct.h"
#include "xalloc.h"

#define HDR                                                                    \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "               \
    "xmlns:stream='http://etherx.jabber.org/streams' id='x1' "                 \
    "from='example.org' version='1.0' xml:lang='en'>"

static const struct direct_reader_limits lim = {
    .max_bytes = 64 * 1024, .max_depth = 16, .max_elements = 256};

static enum direct_outcome parse(const char *text, struct direct_features *f,
                                 struct parse_err *err)
{
    return direct_features_parse(text, strlen(text), &lim, f, err);
}

static const char prosody_pre[] =
    HDR "<stream:features>"
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
        "</starttls>"
        "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism>"
        "</mechanisms>"
        "<register xmlns='http://jabber.org/features/iq-register'/>"
        "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
        "node='http://prosody.im' ver='abc='/>"
        "<sm xmlns='urn:xmpp:sm:3'/><sm xmlns='urn:xmpp:sm:2'/>"
        "<ver xmlns='urn:xmpp:features:rosterver'/>"
        "<csi xmlns='urn:xmpp:csi:0'/>"
        "<compression xmlns='http://jabber.org/features/compress'>"
        "<method>zlib</method><method>lzw</method></compression>"
        "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
        "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
        "<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>10000"
        "</max-bytes></limits>"
        "</stream:features>";

static void test_features_all(void **state)
{
    struct direct_features f;
    struct parse_err err;
    assert_int_equal(parse(prosody_pre, &f, &err), DOUT_OK);
    assert_int_equal(err.code, 0);
    assert_string_equal(f.stream_version, "1.0");
    assert_string_equal(f.stream_from, "example.org");
    assert_int_equal(f.starttls, DSTARTTLS_REQUIRED);
    assert_int_equal(f.n_mechanisms, 2);
    assert_string_equal(f.mechanisms[0], "SCRAM-SHA-1");
    assert_string_equal(f.mechanisms[1], "PLAIN");
    assert_true(f.ibr);
    assert_true(f.sm);
    assert_true(f.rosterver);
    assert_true(f.csi);
    assert_false(f.bidi);
    assert_false(f.dialback);
    assert_true(f.has_caps);
    assert_string_equal(f.caps_node, "http://prosody.im");
    assert_string_equal(f.caps_ver, "abc=");
    assert_string_equal(f.caps_hash, "sha-1");
    assert_int_equal(f.n_compression, 2);
    assert_string_equal(f.compression[1], "lzw");
    /* namespaces without a column, each once */
    assert_int_equal(f.n_other, 2);
    assert_string_equal(f.other[0], "urn:ietf:params:xml:ns:xmpp-bind");
    assert_string_equal(f.other[1], "urn:xmpp:stream-limits:0");
    assert_int_equal(f.dropped, 0);
}

static void test_features_s2s(void **state)
{
    struct direct_features f;
    struct parse_err err;
    const char *t =
        "<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback'"
        " xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>"
        "<bidi xmlns='urn:xmpp:features:bidi'/></stream:features>";
    assert_int_equal(parse(t, &f, &err), DOUT_OK);
    assert_int_equal(f.starttls, DSTARTTLS_OPTIONAL);
    assert_true(f.dialback);
    assert_true(f.bidi);
    assert_int_equal(f.n_mechanisms, 0);
    assert_int_equal(f.n_other, 0);
}

/* Fed one byte at a time the reader sees exactly what it sees at once. */
static void test_incremental(void **state)
{
    struct direct_reader *r = direct_reader_new(&lim);
    struct direct_reader_state s;
    size_t n = strlen(prosody_pre);
    for (size_t i = 0; i < n; i++) {
        direct_reader_state(r, &s);
        assert_false(s.features);
        assert_true(direct_reader_feed(r, prosody_pre + i, 1));
    }
    direct_reader_state(r, &s);
    assert_true(s.header);
    assert_true(s.features);
    assert_int_equal(s.bytes, n);
    struct direct_features whole;
    struct parse_err err;
    parse(prosody_pre, &whole, &err);
    assert_memory_equal(s.f, &whole, sizeof whole);
    /* then <proceed/> on the same stream */
    const char *p = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    assert_true(direct_reader_feed(r, p, strlen(p)));
    direct_reader_state(r, &s);
    assert_true(s.proceed);
    assert_false(s.failure);
    direct_reader_free(r);

    /* or <failure/> */
    r = direct_reader_new(&lim);
    const char *fail = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    assert_true(direct_reader_feed(r, prosody_pre, n));
    assert_true(direct_reader_feed(r, fail, strlen(fail)));
    direct_reader_state(r, &s);
    assert_true(s.failure);
    assert_false(s.proceed);
    direct_reader_free(r);
}

static void test_stream_error(void **state)
{
    struct direct_features f;
    struct parse_err err;
    const char *t =
        HDR "<stream:error><host-unknown "
            "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
            "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no such\nhost</text>"
            "</stream:error></stream:stream>";
    assert_int_equal(parse(t, &f, &err), DOUT_STREAM_ERROR);
    assert_string_equal(err.msg, "host-unknown");

    struct direct_reader *r = direct_reader_new(&lim);
    direct_reader_feed(r, t, strlen(t));
    struct direct_reader_state s;
    direct_reader_state(r, &s);
    assert_true(s.stream_error);
    assert_true(s.ended);
    assert_string_equal(s.text, "no such host"); /* control chars blanked */
    direct_reader_free(r);
}

static void test_bad_input(void **state)
{
    struct direct_features f;
    struct parse_err err;
    /* DOCTYPE and entities refused */
    assert_int_equal(parse("<?xml version='1.0'?><!DOCTYPE s [<!ENTITY a "
                           "'b'>]>" HDR,
                           &f, &err),
                     DOUT_DOCTYPE);
    /* mismatched tag */
    assert_int_equal(parse(HDR "<stream:features></stream:featurez>", &f, &err),
                     DOUT_MALFORMED_XML);
    assert_true(err.line > 0);
    /* invalid UTF-8 */
    assert_int_equal(
        parse(HDR "<stream:features><x xmlns='y'>\xff\xfe</x>", &f, &err),
        DOUT_MALFORMED_XML);
    /* not a stream at all */
    assert_int_equal(parse("<html><body/></html>", &f, &err), DOUT_NOT_XMPP);
    /* a stream that ends early */
    assert_int_equal(parse(HDR "<stream:features><mechan", &f, &err),
                     DOUT_CLOSED);
    assert_int_equal(parse("", &f, &err), DOUT_CLOSED);
    /* pre-1.0 stream: no features will come */
    assert_int_equal(
        parse("<stream:stream xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' id='1'>",
              &f, &err),
        DOUT_NO_FEATURES);
}

static void test_caps_enforced(void **state)
{
    struct direct_features f;
    struct parse_err err;
    struct direct_reader_limits small = {
        .max_bytes = 300, .max_depth = 5, .max_elements = 20};

    /* bytes */
    char *big = xasprintf(HDR "<stream:features><x xmlns='y'>%0500d</x>", 7);
    assert_int_equal(direct_features_parse(big, strlen(big), &small, &f, &err),
                     DOUT_TOO_LARGE);
    free(big);
    /* depth */
    const char *deep = HDR "<stream:features><a xmlns='y'><b><c><d><e/></d>"
                           "</c></b></a></stream:features>";
    assert_int_equal(
        direct_features_parse(deep, strlen(deep), &small, &f, &err),
        DOUT_TOO_LARGE);
    assert_non_null(strstr(err.msg, "deeper"));
    /* elements */
    struct direct_reader_limits few = {
        .max_bytes = 65536, .max_depth = 16, .max_elements = 20};
    char many[4096];
    size_t n = (size_t)snprintf(many, sizeof many, "%s<stream:features>", HDR);
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "<x%d xmlns='u'/>", i);
    assert_int_equal(direct_features_parse(many, n, &few, &f, &err),
                     DOUT_TOO_LARGE);
    assert_non_null(strstr(err.msg, "elements"));
}

static void test_truncation(void **state)
{
    struct direct_features f;
    struct parse_err err;
    char t[8192];
    size_t n = (size_t)snprintf(t, sizeof t,
                                "%s<stream:features><mechanisms "
                                "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>",
                                HDR);
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(t + n, sizeof t - n, "<mechanism>M%d</mechanism>",
                              i);
    n += (size_t)snprintf(t + n, sizeof t - n,
                          "<mechanism>%0100d</mechanism></mechanisms>", 1);
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(t + n, sizeof t - n, "<f%d xmlns='urn:u:%d'/>", i,
                              i);
    n += (size_t)snprintf(t + n, sizeof t - n, "</stream:features>");
    assert_int_equal(direct_features_parse(t, n, &lim, &f, &err), DOUT_OK);
    assert_int_equal(f.n_mechanisms, DIRECT_MAX_MECHS);
    assert_string_equal(f.mechanisms[15], "M15");
    assert_int_equal(f.n_other, DIRECT_MAX_OTHER);
    /* 4 + 1 mechanisms and 4 namespaces over the limits */
    assert_int_equal(f.dropped, 9);
}

static void test_names(void **state)
{
    for (int i = 0; i < DOUT__COUNT; i++) {
        const char *n = direct_outcome_name((enum direct_outcome)i);
        assert_non_null(n);
        assert_string_not_equal(n, "?");
        enum direct_outcome back;
        assert_true(direct_outcome_parse(n, &back));
        assert_int_equal(back, i);
    }
    enum direct_outcome o;
    assert_false(direct_outcome_parse("nope", &o));
    assert_string_equal(direct_outcome_name(DOUT_OK), "ok");
    assert_string_equal(direct_outcome_name(DOUT_CONNECT_REFUSED),
                        "connect-refused");
    assert_string_equal(direct_outcome_name(DOUT__COUNT), "?");
    assert_string_equal(direct_stream_name(DSTREAM_S2S), "s2s");
    assert_string_equal(direct_phase_name(DPHASE_POST_TLS), "post-tls");
    assert_string_equal(direct_starttls_name(DSTARTTLS_REQUIRED), "required");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_all),
        cmocka_unit_test(test_features_s2s),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_stream_error),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_caps_enforced),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
