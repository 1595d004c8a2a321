/*
 * Hash functions by IANA/XEP-0300 name over OpenSSL EVP, and RFC 4648
 * base64. Each EVP_MD is fetched once on first use and kept for the life
 * of the process (fetching per call costs more than hashing a caps S).
 * BLAKE2b-256 is computed by a small built-in RFC 7693 implementation
 * because OpenSSL 3.0 has only BLAKE2b-512. Not thread-safe (cached
 * EVP_MD and EVP_MD_CTX per algorithm); the programs hash from one thread.
 */
#include "hash.h"

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

struct algo_info {
    const char *name; /* IANA / XEP-0300 textual name */
    const char *ossl; /* OpenSSL fetch name */
    size_t len;       /* output bytes */
    bool xof;         /* extendable output: EVP_DigestFinalXOF */
};

static const struct algo_info algos[] = {
    [HASH_SHA1] = {"sha-1", "SHA1", 20, false},
    [HASH_MD5] = {"md5", "MD5", 16, false},
    [HASH_SHA224] = {"sha-224", "SHA2-224", 28, false},
    [HASH_SHA256] = {"sha-256", "SHA2-256", 32, false},
    [HASH_SHA384] = {"sha-384", "SHA2-384", 48, false},
    [HASH_SHA512] = {"sha-512", "SHA2-512", 64, false},
    [HASH_SHA3_256] = {"sha3-256", "SHA3-256", 32, false},
    [HASH_SHA3_512] = {"sha3-512", "SHA3-512", 64, false},
    [HASH_BLAKE2B_256] = {"blake2b-256", "BLAKE2B-512", 32, false},
    [HASH_BLAKE2B_512] = {"blake2b-512", "BLAKE2B-512", 64, false},
    [HASH_SHAKE128] = {"shake128", "SHAKE-128", 32, true},
    [HASH_SHAKE256] = {"shake256", "SHAKE-256", 64, true},
};
_Static_assert(ARRAY_LEN(algos) == HASH__COUNT, "hash algorithm table");

/* 0 = not fetched yet, 1 = available, -1 = unavailable */
static int fetched[HASH__COUNT];
static EVP_MD *mds[HASH__COUNT];

static EVP_MD *get_md(enum hash_algo a)
{
    if ((unsigned)a >= HASH__COUNT)
        return NULL;
    if (fetched[a] == 0) {
        mds[a] = EVP_MD_fetch(NULL, algos[a].ossl, NULL);
        fetched[a] = mds[a] ? 1 : -1;
    }
    return mds[a];
}

const char *hash_algo_name(enum hash_algo a)
{
    if ((unsigned)a >= HASH__COUNT)
        return "?";
    return algos[a].name;
}

bool hash_algo_parse(const char *name, enum hash_algo *out)
{
    if (name == NULL)
        return false;
    for (size_t i = 0; i < HASH__COUNT; i++) {
        if (strcmp(name, algos[i].name) == 0) {
            *out = (enum hash_algo)i;
            return true;
        }
    }
    return false;
}

size_t hash_algo_len(enum hash_algo a)
{
    if ((unsigned)a >= HASH__COUNT)
        return 0;
    return algos[a].len;
}

bool hash_algo_available(enum hash_algo a)
{
    if (a == HASH_BLAKE2B_256)
        return true; /* built in, see hash_blake2b() */
    return get_md(a) != NULL;
}

/* RFC 7693 BLAKE2b, unkeyed, any output length 1..64. OpenSSL 3.0 only
 * offers the 64-byte variant, and BLAKE2b-256 is not a truncation of it
 * (the output length is part of the parameter block). */
static const uint64_t b2_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t b2_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t rotr64(uint64_t x, unsigned n)
{
    return (x >> n) | (x << (64 - n));
}

#define B2_G(a, b, c, d, x, y)                                                 \
    do {                                                                       \
        v[a] = v[a] + v[b] + (x);                                              \
        v[d] = rotr64(v[d] ^ v[a], 32);                                        \
        v[c] = v[c] + v[d];                                                    \
        v[b] = rotr64(v[b] ^ v[c], 24);                                        \
        v[a] = v[a] + v[b] + (y);                                              \
        v[d] = rotr64(v[d] ^ v[a], 16);                                        \
        v[c] = v[c] + v[d];                                                    \
        v[b] = rotr64(v[b] ^ v[c], 63);                                        \
    } while (0)

static void b2_compress(uint64_t h[8], const unsigned char block[128],
                        uint64_t t, bool last)
{
    uint64_t v[16], m[16];
    for (int i = 0; i < 16; i++) {
        uint64_t w = 0;
        for (int j = 7; j >= 0; j--)
            w = w << 8 | block[i * 8 + j];
        m[i] = w;
    }
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = b2_iv[i];
    }
    v[12] ^= t; /* inputs are far below 2^64 bytes: high word stays 0 */
    if (last)
        v[14] = ~v[14];
    for (int r = 0; r < 12; r++) {
        const uint8_t *s = b2_sigma[r];
        B2_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        B2_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        B2_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        B2_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        B2_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        B2_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        B2_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        B2_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
}

void hash_blake2b(const void *data, size_t n, unsigned char *out, size_t outlen)
{
    ASSERT(outlen >= 1 && outlen <= 64);
    const unsigned char *p = data;
    uint64_t h[8];
    memcpy(h, b2_iv, sizeof h);
    h[0] ^= 0x01010000ULL ^ (uint64_t)outlen;
    uint64_t t = 0;
    /* Every full block but the last is compressed as not final. */
    while (n > 128) {
        t += 128;
        b2_compress(h, p, t, false);
        p += 128;
        n -= 128;
    }
    unsigned char block[128] = {0};
    memcpy(block, p, n);
    t += n;
    b2_compress(h, block, t, true);
    unsigned char full[64];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            full[i * 8 + j] = (unsigned char)(h[i] >> (8 * j));
    memcpy(out, full, outlen);
}

/* One reusable context per algorithm: EVP_Digest() would allocate and
 * free one per call. */
static EVP_MD_CTX *ctxs[HASH__COUNT];

bool hash_digest(enum hash_algo a, const void *data, size_t n,
                 unsigned char out[HASH_MAX_LEN])
{
    if (a == HASH_BLAKE2B_256) {
        hash_blake2b(data, n, out, 32);
        return true;
    }
    EVP_MD *md = get_md(a);
    if (md == NULL)
        return false;
    if (ctxs[a] == NULL && (ctxs[a] = EVP_MD_CTX_new()) == NULL)
        return false;
    EVP_MD_CTX *ctx = ctxs[a];
    if (EVP_DigestInit_ex2(ctx, md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, data, n) != 1)
        return false;
    if (algos[a].xof)
        return EVP_DigestFinalXOF(ctx, out, algos[a].len) == 1;
    unsigned int olen = 0;
    return EVP_DigestFinal_ex(ctx, out, &olen) == 1 && olen == algos[a].len;
}

bool hash_b64(enum hash_algo a, const void *data, size_t n,
              char out[HASH_B64_MAX])
{
    unsigned char d[HASH_MAX_LEN];
    if (!hash_digest(a, data, n, d)) {
        out[0] = '\0';
        return false;
    }
    base64_encode(d, algos[a].len, out);
    return true;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
        out[o++] = b64chars[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool base64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
                   size_t *outlen)
{
    if (n % 4 != 0)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        const unsigned char *q = (const unsigned char *)in + i;
        bool last = i + 4 == n;
        int v0 = b64val(q[0]), v1 = b64val(q[1]);
        if (v0 < 0 || v1 < 0)
            return false;
        int v2, v3;
        size_t nout;
        if (last && q[2] == '=' && q[3] == '=') {
            if (v1 & 15)
                return false; /* non-zero pad bits */
            v2 = v3 = 0;
            nout = 1;
        } else if (last && q[3] == '=') {
            v2 = b64val(q[2]);
            if (v2 < 0 || (v2 & 3))
                return false;
            v3 = 0;
            nout = 2;
        } else {
            v2 = b64val(q[2]);
            v3 = b64val(q[3]);
            if (v2 < 0 || v3 < 0)
                return false;
            nout = 3;
        }
        if (o + nout > cap)
            return false;
        unsigned v = (unsigned)v0 << 18 | (unsigned)v1 << 12 |
                     (unsigned)v2 << 6 | (unsigned)v3;
        out[o++] = (unsigned char)(v >> 16);
        if (nout > 1)
            out[o++] = (unsigned char)(v >> 8);
        if (nout > 2)
            out[o++] = (unsigned char)v;
    }
    *outlen = o;
    return true;
}
