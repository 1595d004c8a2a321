/*
 * The shared OpenSSL client context and certificate facts (see tlsctx.h).
 */
#include "tlsctx.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "xalloc.h"

struct tlsctx {
    SSL_CTX *ctx;
};

static void ssl_err_msg(struct parse_err *err, const char *what)
{
    char buf[120];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    err->code = 1;
    snprintf(err->msg, sizeof err->msg, "%s: %s", what, buf);
}

struct tlsctx *tlsctx_new(const char *ca_file, struct parse_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_err_msg(err, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET |
                                 SSL_OP_NO_COMPRESSION |
                                 SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        ssl_err_msg(err, ca_file ? "cannot load the CA file"
                                 : "cannot load the default CA store");
        SSL_CTX_free(ctx);
        return NULL;
    }
    struct tlsctx *t = xcalloc(1, sizeof *t);
    t->ctx = ctx;
    return t;
}

void tlsctx_free(struct tlsctx *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

SSL *tlsctx_ssl_new(struct tlsctx *t, const char *host)
{
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL)
        DIE_BUG("out of memory creating an SSL object");
    SSL_set_tlsext_host_name(ssl, host);
    /* the verification result includes the name; OpenSSL does not stop
     * the handshake over it (SSL_VERIFY_NONE) */
    SSL_set1_host(ssl, host);
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return ssl;
}

static void name_text(const X509_NAME *name, char *out, size_t outsz)
{
    out[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return;
    if (X509_NAME_print_ex(b, name, 0,
                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        int n = BIO_read(b, out, (int)outsz - 1);
        out[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

static void time_text(const ASN1_TIME *t, char *out, size_t outsz)
{
    struct tm tm;
    out[0] = '\0';
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return;
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Keeps printable ASCII only (names are remote input). */
static void copy_clean(char *out, size_t outsz, const unsigned char *s,
                       size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outsz; i++)
        out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    out[o] = '\0';
}

static void san_names(X509 *cert, struct tlsctx_facts *f)
{
    GENERAL_NAMES *gens =
        X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (gens == NULL)
        return;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        if (f->n_names >= TLSCTX_MAX_NAMES) {
            f->names_dropped++;
            continue;
        }
        const ASN1_IA5STRING *s = g->d.dNSName;
        copy_clean(f->names[f->n_names++], sizeof f->names[0],
                   ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
    }
    GENERAL_NAMES_free(gens);
}

void tlsctx_facts(SSL *ssl, const char *domain, struct tlsctx_facts *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->version, sizeof f->version, "%s", SSL_get_version(ssl));
    const char *c = SSL_get_cipher_name(ssl);
    snprintf(f->cipher, sizeof f->cipher, "%s", c ? c : "");
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    f->chain_len = chain ? sk_X509_num(chain) : 0;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL) {
        snprintf(f->verify_error, sizeof f->verify_error, "no certificate");
        return;
    }
    f->has_cert = true;
    name_text(X509_get_subject_name(cert), f->subject, sizeof f->subject);
    name_text(X509_get_issuer_name(cert), f->issuer, sizeof f->issuer);
    san_names(cert, f);
    time_text(X509_get0_notBefore(cert), f->not_before, sizeof f->not_before);
    time_text(X509_get0_notAfter(cert), f->not_after, sizeof f->not_after);
    unsigned int mdlen = 0;
    X509_digest(cert, EVP_sha256(), f->sha256, &mdlen);
    f->name_matches =
        X509_check_host(cert, domain, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                        NULL) == 1;
    long v = SSL_get_verify_result(ssl);
    f->verifies = v == X509_V_OK && f->name_matches;
    if (v != X509_V_OK)
        snprintf(f->verify_error, sizeof f->verify_error, "%s",
                 X509_verify_cert_error_string(v));
    else if (!f->name_matches)
        snprintf(f->verify_error, sizeof f->verify_error, "hostname mismatch");
}
