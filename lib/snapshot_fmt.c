/*
 * Snapshot file formats: the RFC 4180 checker, the CRLF conversion of
 * COPY's CSV output, SHA-256 and name rules (see
 * snapshot_fmt.h). Nothing here touches the database or the file system.
 */
#include "snapshot_fmt.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static const char *const scsv_state_names[] = {
    [SCSV_FIELD_START] = "field-start",
    [SCSV_UNQUOTED] = "unquoted",
    [SCSV_QUOTED] = "quoted",
    [SCSV_QUOTE] = "quote",
    [SCSV_CR] = "cr",
    [SCSV_ERROR] = "error",
};
_Static_assert(ARRAY_LEN(scsv_state_names) == SCSV__COUNT, "names table");

void snapshot_csv_init(struct snapshot_csv *c, size_t ncols)
{
    memset(c, 0, sizeof *c);
    c->state = SCSV_FIELD_START;
    c->ncols = ncols;
    c->line = 1;
    c->record_line = 1;
}

void snapshot_csv_free(struct snapshot_csv *c)
{
    buf_free(&c->header);
}

PRINTF_LIKE(2, 3)
static bool csv_fail(struct snapshot_csv *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
    va_end(ap);
    c->err.code = 1;
    c->err.line = c->record_line > INT32_MAX ? INT32_MAX : (int)c->record_line;
    c->state = SCSV_ERROR;
    return false;
}

/* A record ended (its CRLF consumed): check its field count. */
static bool csv_record_end(struct snapshot_csv *c)
{
    c->fields++;
    if (c->fields != c->ncols)
        return csv_fail(c, "record has %zu fields, expected %zu", c->fields,
                        c->ncols);
    c->records++;
    c->fields = 0;
    c->record_len = 0;
    c->record_line = c->line;
    c->state = SCSV_FIELD_START;
    return true;
}

bool snapshot_csv_feed(struct snapshot_csv *c, const char *p, size_t n)
{
    if (c->state == SCSV_ERROR)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\0')
            return csv_fail(c, "NUL byte in data");
        if (c->records == 0 && c->header.len < SNAPSHOT_HEADER_MAX)
            buf_putc(&c->header, ch);
        if (++c->record_len > SNAPSHOT_RECORD_MAX)
            return csv_fail(c, "record longer than %u bytes",
                            SNAPSHOT_RECORD_MAX);
        switch (c->state) {
        case SCSV_FIELD_START:
            if (ch == '"')
                c->state = SCSV_QUOTED;
            else if (ch == ',')
                c->fields++;
            else if (ch == '\r')
                c->state = SCSV_CR;
            else if (ch == '\n')
                return csv_fail(c, "record ends with LF, not CRLF");
            else
                c->state = SCSV_UNQUOTED;
            break;
        case SCSV_UNQUOTED:
            if (ch == ',') {
                c->fields++;
                c->state = SCSV_FIELD_START;
            } else if (ch == '\r') {
                c->state = SCSV_CR;
            } else if (ch == '\n') {
                return csv_fail(c, "record ends with LF, not CRLF");
            } else if (ch == '"') {
                return csv_fail(c, "quote inside an unquoted field");
            }
            break;
        case SCSV_QUOTED:
            if (ch == '"')
                c->state = SCSV_QUOTE;
            else if (ch == '\n')
                c->line++;
            break;
        case SCSV_QUOTE:
            if (ch == '"') {
                c->state = SCSV_QUOTED;
            } else if (ch == ',') {
                c->fields++;
                c->state = SCSV_FIELD_START;
            } else if (ch == '\r') {
                c->state = SCSV_CR;
            } else {
                return csv_fail(c, "character after a closing quote");
            }
            break;
        case SCSV_CR:
            if (ch != '\n')
                return csv_fail(c, "CR not followed by LF");
            c->line++;
            if (!csv_record_end(c))
                return false;
            if (c->records == 1 && c->header.len >= 2 &&
                c->header.len < SNAPSHOT_HEADER_MAX) {
                c->header.len -= 2; /* drop the CRLF */
                c->header.data[c->header.len] = '\0';
            }
            break;
        case SCSV_ERROR:
        case SCSV__COUNT:
            DIE_BUG("csv checker in state %s", scsv_state_names[c->state]);
        }
    }
    return true;
}

bool snapshot_csv_finish(struct snapshot_csv *c)
{
    if (c->state == SCSV_ERROR)
        return false;
    if (c->state == SCSV_QUOTED || c->state == SCSV_QUOTE)
        return csv_fail(c, "file ends inside a quoted field (truncated?)");
    if (c->state != SCSV_FIELD_START || c->fields != 0 || c->record_len != 0)
        return csv_fail(c, "file ends inside a record (truncated?)");
    if (c->records == 0)
        return csv_fail(c, "file is empty (no header)");
    return true;
}

void snapshot_csv_crlf(struct buf *out, const char *p, size_t n,
                       bool *in_quotes)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"') {
            *in_quotes = !*in_quotes; /* a doubled quote toggles twice */
        } else if (p[i] == '\n' && !*in_quotes) {
            buf_append(out, p + start, i - start);
            buf_append(out, "\r\n", 2);
            start = i + 1;
        }
    }
    buf_append(out, p + start, n - start);
}

bool snapshot_file_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

bool snapshot_ident_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

bool snapshot_sha256_hex_ok(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

void snapshot_yaml_quote(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            buf_printf(b, "\\x%02x", *p);
        else
            buf_putc(b, (char)*p);
    }
    buf_putc(b, '"');
}

struct snapshot_sha256 {
    EVP_MD_CTX *ctx;
};

struct snapshot_sha256 *snapshot_sha256_new(void)
{
    struct snapshot_sha256 *h = xmalloc(sizeof *h);
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        DIE_BUG("openssl cannot start a sha-256 digest");
    return h;
}

void snapshot_sha256_update(struct snapshot_sha256 *h, const void *p, size_t n)
{
    if (n && EVP_DigestUpdate(h->ctx, p, n) != 1)
        DIE_BUG("openssl sha-256 update failed");
}

void snapshot_sha256_final(struct snapshot_sha256 *h, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != 32)
        DIE_BUG("openssl sha-256 final failed");
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    snapshot_sha256_free(h);
}

void snapshot_sha256_free(struct snapshot_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}
