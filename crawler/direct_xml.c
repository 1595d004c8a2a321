/*
 * The pure half of the direct prober: the incremental reader of a server's
 * stream (header, <stream:features/>, <proceed/>, <stream:error/>) on the
 * hardened expat of lib/xml.c, the feature table, and the name tables.
 * Remote input: bytes, depth, element count and every kept string are
 * bounded; nothing here allocates in proportion to the input beyond expat's
 * own token buffer, which the byte cap bounds.
 */
#include <stdio.h>
#include <string.h>

#include "direct.h"
#include "xalloc.h"
#include "xml.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_STREAMS_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_COMPRESS "http://jabber.org/features/compress"
#define NS_CAPS "http://jabber.org/protocol/caps"

static const char *const outcome_names[] = {
    [DOUT_OK] = "ok",
    [DOUT_NXDOMAIN] = "nxdomain",
    [DOUT_NO_SERVICE] = "no-service",
    [DOUT_NO_ADDRESS] = "no-address",
    [DOUT_DNS_TIMEOUT] = "dns-timeout",
    [DOUT_DNS_ERROR] = "dns-error",
    [DOUT_BAD_NAME] = "bad-name",
    [DOUT_CONNECT_REFUSED] = "connect-refused",
    [DOUT_CONNECT_TIMEOUT] = "connect-timeout",
    [DOUT_CONNECT_FAILED] = "connect-failed",
    [DOUT_READ_TIMEOUT] = "read-timeout",
    [DOUT_CLOSED] = "closed",
    [DOUT_TLS_FAILED] = "tls-failed",
    [DOUT_TLS_TIMEOUT] = "tls-timeout",
    [DOUT_STARTTLS_FAILED] = "starttls-failed",
    [DOUT_STREAM_ERROR] = "stream-error",
    [DOUT_MALFORMED_XML] = "malformed-xml",
    [DOUT_DOCTYPE] = "doctype",
    [DOUT_TOO_LARGE] = "too-large",
    [DOUT_NOT_XMPP] = "not-xmpp",
    [DOUT_NO_FEATURES] = "no-features",
    [DOUT_LOCAL_ERROR] = "local-error",
    [DOUT_CANCELLED] = "cancelled",
};
_Static_assert(ARRAY_LEN(outcome_names) == DOUT__COUNT, "outcome names");

static const char *const stream_names[] = {
    [DSTREAM_C2S] = "c2s", [DSTREAM_S2S] = "s2s"};
_Static_assert(ARRAY_LEN(stream_names) == DSTREAM__COUNT, "stream names");

static const char *const phase_names[] = {
    [DPHASE_PRE_TLS] = "pre-tls", [DPHASE_POST_TLS] = "post-tls"};
_Static_assert(ARRAY_LEN(phase_names) == DPHASE__COUNT, "phase names");

const char *direct_outcome_name(enum direct_outcome o)
{
    return (unsigned)o < DOUT__COUNT ? outcome_names[o] : "?";
}

bool direct_outcome_parse(const char *name, enum direct_outcome *out)
{
    for (size_t i = 0; i < DOUT__COUNT; i++)
        if (strcmp(outcome_names[i], name) == 0) {
            *out = (enum direct_outcome)i;
            return true;
        }
    return false;
}

const char *direct_stream_name(enum direct_stream s)
{
    return (unsigned)s < DSTREAM__COUNT ? stream_names[s] : "?";
}

const char *direct_phase_name(enum direct_phase p)
{
    return (unsigned)p < DPHASE__COUNT ? phase_names[p] : "?";
}

const char *direct_starttls_name(enum direct_starttls s)
{
    switch (s) {
    case DSTARTTLS_NONE:
        return "none";
    case DSTARTTLS_OPTIONAL:
        return "optional";
    case DSTARTTLS_REQUIRED:
        return "required";
    }
    return "?";
}

/* What the element at depth 2 (a child of the root) is. */
enum top { TOP_NONE, TOP_FEATURES, TOP_ERROR, TOP_OTHER };
/* What a feature (depth 3) is, for its children. */
enum feat { FEAT_NONE, FEAT_STARTTLS, FEAT_MECHS, FEAT_COMPRESS, FEAT_OTHER };

/* Features with a column of their own, recognised by namespace and name. */
struct known_feature {
    const char *ns;
    const char *local;
    size_t flag_off; /* offset of the bool in struct direct_features, or 0 */
    enum feat kind;
};
#define FLAG(m) offsetof(struct direct_features, m)
static const struct known_feature known_features[] = {
    {NS_TLS, "starttls", 0, FEAT_STARTTLS},
    {NS_SASL, "mechanisms", 0, FEAT_MECHS},
    {NS_COMPRESS, "compression", 0, FEAT_COMPRESS},
    {"urn:xmpp:sm:3", "sm", FLAG(sm), FEAT_NONE},
    {"urn:xmpp:sm:2", "sm", FLAG(sm), FEAT_NONE},
    {"urn:xmpp:features:rosterver", "ver", FLAG(rosterver), FEAT_NONE},
    {"urn:xmpp:features:bidi", "bidi", FLAG(bidi), FEAT_NONE},
    {"urn:xmpp:csi:0", "csi", FLAG(csi), FEAT_NONE},
    {"http://jabber.org/features/iq-register", "register", FLAG(ibr),
     FEAT_NONE},
    {"urn:xmpp:features:dialback", "dialback", FLAG(dialback), FEAT_NONE},
};
#undef FLAG

struct direct_reader {
    struct xml_guard g; /* first: lib/xml.c finds the error through it */
    struct parse_err err;
    struct direct_reader_limits lim;
    size_t bytes;
    size_t depth;
    size_t elements;
    enum top top;
    enum feat feat;
    bool header, legacy, features, proceed, failure, stream_error, ended;
    char condition[64];
    char text[160];
    /* text capture: characters go to cap_buf (cap_size bytes) */
    char *cap_buf;
    size_t cap_size;
    size_t cap_len;
    struct direct_features f;
};

static void split_name(const char *name, char *ns, size_t nssz,
                       const char **local)
{
    const char *sep = strrchr(name, XML_NS_SEP);
    if (sep == NULL) {
        ns[0] = '\0';
        *local = name;
        return;
    }
    size_t n = XC_MIN((size_t)(sep - name), nssz - 1);
    memcpy(ns, name, n);
    ns[n] = '\0';
    *local = sep + 1;
}

static const char *attr(const char **atts, const char *name)
{
    for (size_t i = 0; atts[i]; i += 2)
        if (strcmp(atts[i], name) == 0)
            return atts[i + 1];
    return NULL;
}

/* Copies s into out (size outsz); counts a truncation as dropped. */
static void keep(struct direct_reader *r, char *out, size_t outsz,
                 const char *s)
{
    size_t n = strlen(s);
    if (n >= outsz) {
        r->f.dropped++;
        n = outsz - 1;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

static void capture(struct direct_reader *r, char *buf, size_t size)
{
    buf[0] = '\0';
    r->cap_buf = buf;
    r->cap_size = size;
    r->cap_len = 0;
}

static void add_other(struct direct_reader *r, const char *ns)
{
    const char *v = ns[0] ? ns : "(none)";
    for (size_t i = 0; i < r->f.n_other; i++)
        if (strncmp(r->f.other[i], v, sizeof r->f.other[0] - 1) == 0)
            return;
    if (r->f.n_other >= DIRECT_MAX_OTHER) {
        r->f.dropped++;
        return;
    }
    keep(r, r->f.other[r->f.n_other++], sizeof r->f.other[0], v);
}

static void start_root(struct direct_reader *r, const char *name,
                       const char **atts)
{
    if (strcmp(name, NS_STREAMS " stream") != 0) {
        xml_fail(&r->g, DOUT_NOT_XMPP, "root element is not a stream");
        return;
    }
    r->header = true;
    const char *v = attr(atts, "version");
    const char *from = attr(atts, "from");
    keep(r, r->f.stream_version, sizeof r->f.stream_version, v ? v : "");
    keep(r, r->f.stream_from, sizeof r->f.stream_from, from ? from : "");
    /* RFC 6120 §4.7.5: no version (or major < 1) means no features */
    r->legacy = v == NULL || v[0] < '1' || v[0] > '9';
}

static void start_top(struct direct_reader *r, const char *name)
{
    if (strcmp(name, NS_STREAMS " features") == 0) {
        r->top = TOP_FEATURES;
    } else if (strcmp(name, NS_STREAMS " error") == 0) {
        r->top = TOP_ERROR;
    } else if (strcmp(name, NS_TLS " proceed") == 0) {
        r->top = TOP_OTHER;
        r->proceed = true;
    } else if (strcmp(name, NS_TLS " failure") == 0) {
        r->top = TOP_OTHER;
        r->failure = true;
    } else {
        r->top = TOP_OTHER;
    }
}

static void start_feature(struct direct_reader *r, const char *name,
                          const char **atts)
{
    char ns[256];
    const char *local;
    split_name(name, ns, sizeof ns, &local);
    r->feat = FEAT_OTHER;
    for (size_t i = 0; i < ARRAY_LEN(known_features); i++) {
        const struct known_feature *k = &known_features[i];
        if (strcmp(ns, k->ns) != 0 || strcmp(local, k->local) != 0)
            continue;
        r->feat = k->kind;
        if (k->flag_off)
            *(bool *)((char *)&r->f + k->flag_off) = true;
        if (k->kind == FEAT_STARTTLS && r->f.starttls == DSTARTTLS_NONE)
            r->f.starttls = DSTARTTLS_OPTIONAL;
        return;
    }
    if (strcmp(ns, NS_CAPS) == 0 && strcmp(local, "c") == 0) {
        const char *node = attr(atts, "node"), *ver = attr(atts, "ver"),
                   *hash = attr(atts, "hash");
        r->f.has_caps = true;
        keep(r, r->f.caps_node, sizeof r->f.caps_node, node ? node : "");
        keep(r, r->f.caps_ver, sizeof r->f.caps_ver, ver ? ver : "");
        keep(r, r->f.caps_hash, sizeof r->f.caps_hash, hash ? hash : "");
        return;
    }
    add_other(r, ns);
}

static void start_feature_child(struct direct_reader *r, const char *name)
{
    if (r->feat == FEAT_STARTTLS && strcmp(name, NS_TLS " required") == 0) {
        r->f.starttls = DSTARTTLS_REQUIRED;
    } else if (r->feat == FEAT_MECHS &&
               strcmp(name, NS_SASL " mechanism") == 0) {
        if (r->f.n_mechanisms >= DIRECT_MAX_MECHS) {
            r->f.dropped++;
            return;
        }
        capture(r, r->f.mechanisms[r->f.n_mechanisms++],
                sizeof r->f.mechanisms[0]);
    } else if (r->feat == FEAT_COMPRESS &&
               strcmp(name, NS_COMPRESS " method") == 0) {
        if (r->f.n_compression >= DIRECT_MAX_COMPRESSION) {
            r->f.dropped++;
            return;
        }
        capture(r, r->f.compression[r->f.n_compression++],
                sizeof r->f.compression[0]);
    }
}

static void start_error_child(struct direct_reader *r, const char *name)
{
    char ns[64];
    const char *local;
    split_name(name, ns, sizeof ns, &local);
    if (strcmp(ns, NS_STREAMS_ERR) != 0)
        return;
    if (strcmp(local, "text") == 0)
        capture(r, r->text, sizeof r->text);
    else if (r->condition[0] == '\0')
        keep(r, r->condition, sizeof r->condition, local);
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
    struct direct_reader *r = ud;
    if (r->err.code != 0)
        return;
    if (++r->elements > r->lim.max_elements) {
        xml_fail(&r->g, DOUT_TOO_LARGE, "more than %zu elements",
                 r->lim.max_elements);
        return;
    }
    if (r->depth + 1 > r->lim.max_depth) {
        xml_fail(&r->g, DOUT_TOO_LARGE, "nested deeper than %zu",
                 r->lim.max_depth);
        return;
    }
    r->depth++;
    r->cap_buf = NULL; /* text is kept only for leaf elements */
    switch (r->depth) {
    case 1:
        start_root(r, name, atts);
        break;
    case 2:
        start_top(r, name);
        break;
    case 3:
        if (r->top == TOP_FEATURES)
            start_feature(r, name, atts);
        else if (r->top == TOP_ERROR)
            start_error_child(r, name);
        break;
    case 4:
        if (r->top == TOP_FEATURES)
            start_feature_child(r, name);
        break;
    default:
        break;
    }
}

static void XMLCALL on_end(void *ud, const char *name)
{
    struct direct_reader *r = ud;
    /* expat calls the end handler of an empty element even after the
     * start handler stopped the parser */
    if (r->err.code != 0)
        return;
    r->cap_buf = NULL;
    switch (r->depth) {
    case 1:
        r->ended = true;
        break;
    case 2:
        if (r->top == TOP_FEATURES)
            r->features = true;
        else if (r->top == TOP_ERROR)
            r->stream_error = true;
        r->top = TOP_NONE;
        break;
    case 3:
        r->feat = FEAT_NONE;
        break;
    default:
        break;
    }
    if (r->depth > 0)
        r->depth--;
}

static void XMLCALL on_text(void *ud, const char *s, int len)
{
    struct direct_reader *r = ud;
    if (r->cap_buf == NULL || len <= 0 || r->err.code != 0)
        return;
    size_t room = r->cap_size - 1 - r->cap_len;
    size_t n = XC_MIN(room, (size_t)len);
    if (n < (size_t)len && room > 0)
        r->f.dropped++;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        r->cap_buf[r->cap_len++] = c < 0x20 ? ' ' : (char)c;
    }
    r->cap_buf[r->cap_len] = '\0';
    if (n < (size_t)len)
        r->cap_buf = NULL; /* truncated once, counted once */
}

struct direct_reader *direct_reader_new(const struct direct_reader_limits *l)
{
    struct direct_reader *r = xcalloc(1, sizeof *r);
    r->lim = *l;
    if (r->lim.max_depth == 0)
        r->lim.max_depth = 16;
    if (r->lim.max_elements == 0)
        r->lim.max_elements = 1024;
    if (r->lim.max_bytes == 0)
        r->lim.max_bytes = 256 * 1024;
    r->g.err = &r->err;
    r->g.doctype_code = DOUT_DOCTYPE;
    XML_Parser p = xml_parser_new(&r->g);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    /* a server sends its features and waits: expat must not hold back a
     * complete end tag waiting for more input (reparse deferral: expat
     * 2.6, and Debian 12's 2.5.0-1+deb12u2 onwards); the byte cap bounds
     * the re-parsing it guards against */
    XML_SetReparseDeferralEnabled(p, XML_FALSE);
    return r;
}

void direct_reader_free(struct direct_reader *r)
{
    if (r == NULL)
        return;
    XML_ParserFree(r->g.p);
    free(r);
}

bool direct_reader_feed(struct direct_reader *r, const char *data, size_t len)
{
    if (r->err.code != 0)
        return false;
    bool over = false;
    if (len > r->lim.max_bytes - r->bytes) {
        len = r->lim.max_bytes - r->bytes;
        over = true;
    }
    r->bytes += len;
    if (len > 0 &&
        XML_Parse(r->g.p, data, (int)len, XML_FALSE) == XML_STATUS_ERROR) {
        xml_fail_expat(&r->g, DOUT_MALFORMED_XML);
        return false;
    }
    if (over && r->err.code == 0) {
        r->err.code = DOUT_TOO_LARGE;
        snprintf(r->err.msg, sizeof r->err.msg,
                 "more than %zu bytes in the stream", r->lim.max_bytes);
    }
    return r->err.code == 0;
}

const struct parse_err *direct_reader_error(const struct direct_reader *r)
{
    return &r->err;
}

void direct_reader_state(const struct direct_reader *r,
                         struct direct_reader_state *s)
{
    s->header = r->header;
    s->legacy = r->legacy;
    s->features = r->features;
    s->proceed = r->proceed;
    s->failure = r->failure;
    s->stream_error = r->stream_error;
    s->ended = r->ended;
    s->condition = r->condition;
    s->text = r->text;
    s->f = &r->f;
    s->bytes = r->bytes;
}

enum direct_outcome direct_features_parse(const char *text, size_t len,
                                          const struct direct_reader_limits *l,
                                          struct direct_features *out,
                                          struct parse_err *err)
{
    struct direct_reader *r = direct_reader_new(l);
    direct_reader_feed(r, text, len);
    enum direct_outcome o;
    *err = r->err;
    memset(out, 0, sizeof *out);
    if (r->features) {
        o = DOUT_OK;
        err->code = 0;
    } else if (r->stream_error) {
        o = DOUT_STREAM_ERROR;
        snprintf(err->msg, sizeof err->msg, "%s", r->condition);
    } else if (r->err.code != 0) {
        o = (enum direct_outcome)r->err.code;
    } else if (r->header && r->legacy) {
        o = DOUT_NO_FEATURES;
    } else {
        o = DOUT_CLOSED;
    }
    if (r->header)
        *out = r->f;
    direct_reader_free(r);
    return o;
}
