/*
 * Hash functions named by the IANA "Hash Function Textual Names" registry
 * and XEP-0300, computed with OpenSSL EVP (each EVP_MD fetched once and
 * cached), plus RFC 4648 section 4 base64 (standard alphabet, padded, no
 * whitespace). This module knows nothing about caps; caps.c and caps2.c
 * build their input and call hash_b64(). Single-threaded: digests share
 * one cached OpenSSL context per algorithm.
 */
#ifndef XC_HASH_H
#define XC_HASH_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* Order is the display order of `xcensus caps verify`; names are stable. */
enum hash_algo {
    HASH_SHA1,        /* "sha-1" (XEP-0115 mandatory to implement) */
    HASH_MD5,         /* "md5" (legacy; 17 capsdb entries) */
    HASH_SHA224,      /* "sha-224" */
    HASH_SHA256,      /* "sha-256" */
    HASH_SHA384,      /* "sha-384" */
    HASH_SHA512,      /* "sha-512" */
    HASH_SHA3_256,    /* "sha3-256" */
    HASH_SHA3_512,    /* "sha3-512" */
    HASH_BLAKE2B_256, /* "blake2b-256" */
    HASH_BLAKE2B_512, /* "blake2b-512" */
    HASH_SHAKE128,    /* "shake128", 256-bit output (XEP-0300) */
    HASH_SHAKE256,    /* "shake256", 512-bit output (XEP-0300) */
    HASH__COUNT
};

#define HASH_MAX_LEN 64 /* longest digest, bytes */
#define HASH_B64_MAX 89 /* base64 of HASH_MAX_LEN bytes + NUL */

/* Returns the IANA/XEP-0300 textual name ("sha-1"); static string. */
const char *hash_algo_name(enum hash_algo a);
/* Parses a textual name exactly (case-sensitive, as on the wire). */
bool hash_algo_parse(const char *name, enum hash_algo *out) MUST_CHECK;
/* Digest length in bytes. */
size_t hash_algo_len(enum hash_algo a);
/* True if this OpenSSL provides the algorithm (fetched once, cached). */
bool hash_algo_available(enum hash_algo a);

/* Digests data into out (hash_algo_len(a) bytes). False if the algorithm
 * is unavailable or OpenSSL fails. */
bool hash_digest(enum hash_algo a, const void *data, size_t n,
                 unsigned char out[HASH_MAX_LEN]) MUST_CHECK;
/* Digests data and writes base64(digest) as a C string into out. */
bool hash_b64(enum hash_algo a, const void *data, size_t n,
              char out[HASH_B64_MAX]) MUST_CHECK;

/* RFC 7693 BLAKE2b (unkeyed) with an outlen-byte digest, 1..64; the
 * built-in implementation behind "blake2b-256" (OpenSSL 3.0 offers only
 * the 64-byte output). */
void hash_blake2b(const void *data, size_t n, unsigned char *out,
                  size_t outlen);

/* Bytes base64_encode() writes for n input bytes, NUL included. */
#define BASE64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)
/* RFC 4648 s4 encoding with padding; writes a C string into out (which
 * must hold BASE64_ENCODED_SIZE(n) bytes); returns its length. */
size_t base64_encode(const void *in, size_t n, char *out);
/* Strict RFC 4648 s4 decoding: length a multiple of 4, padding only at
 * the end, no whitespace, pad bits zero (so that one value has exactly
 * one spelling). Writes at most cap bytes to out and the length to
 * *outlen. False on any violation or if cap is too small. */
bool base64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
                   size_t *outlen) MUST_CHECK;

#endif
