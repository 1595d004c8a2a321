/*
 * The one OpenSSL client context of the direct prober (DESIGN.md §5): one
 * SSL_CTX for every TLS connection of the process, with the CA store loaded
 * once, SSL_OP_IGNORE_UNEXPECTED_EOF (a server that drops the connection
 * without close_notify is an outcome, not an error) and small buffers
 * (SSL_MODE_RELEASE_BUFFERS). OpenSSL never aborts a handshake over the
 * certificate (SSL_VERIFY_NONE): a census wants to see what the server
 * offers, so verification is done by us per target, after the handshake,
 * and recorded as facts (chain and name, X509_check_host).
 *
 * The security level is 0 and TLS 1.0 is allowed: we only look, we send
 * nothing secret, and old servers are part of what we measure.
 */
#ifndef XC_TLSCTX_H
#define XC_TLSCTX_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "common.h"

#define TLSCTX_MAX_NAMES 16

struct tlsctx;

/* What a finished handshake showed. */
struct tlsctx_facts {
    char version[16];  /* "TLSv1.3" */
    char cipher[64];   /* "TLS_AES_256_GCM_SHA384" */
    bool has_cert;     /* the server sent a certificate */
    char subject[256]; /* RFC 2253 form, truncated */
    char issuer[256];
    size_t n_names; /* subjectAltName dNSName entries kept */
    char names[TLSCTX_MAX_NAMES][256];
    size_t names_dropped; /* dNSNames over the limit */
    char not_before[32];  /* "2026-01-31T12:00:00Z", "" if unreadable */
    char not_after[32];
    unsigned char sha256[32]; /* of the leaf certificate (DER) */
    bool verifies;            /* chain to a trusted CA and name valid */
    char verify_error[128];   /* OpenSSL's reason when !verifies */
    bool name_matches;        /* X509_check_host(leaf, domain) */
    int chain_len;            /* certificates the server sent */
};

/* Returns the context, or NULL with a message in err. ca_file: a PEM file
 * of trusted CAs, or NULL for the system's default store. Free with
 * tlsctx_free(). */
struct tlsctx *tlsctx_new(const char *ca_file, struct parse_err *err);
/* Frees ctx; accepts NULL. SSL objects made from it keep the SSL_CTX alive
 * (OpenSSL counts references). */
void tlsctx_free(struct tlsctx *ctx);
/* A new client SSL for one connection: SNI and the name to verify are
 * host. Caller owns it (or hands it to a bufferevent that frees it). */
SSL *tlsctx_ssl_new(struct tlsctx *ctx, const char *host);
/* Fills *out from ssl after its handshake; domain is the name the
 * certificate must be valid for. */
void tlsctx_facts(SSL *ssl, const char *domain, struct tlsctx_facts *out);

#endif
