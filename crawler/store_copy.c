/*
 * COPY text values and batch files of the storage writer: see
 * store_copy.h for the text policy and the file layout. Pure functions,
 * no I/O.
 */
#include "store_copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"
#include "xalloc.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the well-formed UTF-8 sequence at p (n bytes left), or 0 with
 * *skip set to the maximal ill-formed subpart to replace (Unicode 15
 * §3.9 "U+FFFD substitution of maximal subparts"); NUL is ill-formed
 * here because PostgreSQL text cannot hold it. */
static size_t utf8_seq(const unsigned char *p, size_t n, size_t *skip)
{
    unsigned char c = p[0];
    *skip = 1;
    if (c >= 0x01 && c <= 0x7F)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0; /* NUL, continuation byte, C0, C1, F5..FF */
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n)
            return 0;
        unsigned char b = p[i];
        unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h)
            return 0;
        *skip = i + 1;
    }
    return need;
}

bool store_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, skip;
    while (i < len) {
        if (p[i] >= 0x01 && p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, len - i, &skip);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* Appends the cleaned text of s to b; returns replacements. */
static size_t clean_into(struct buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, start = 0, n = 0, skip;
    while (i < len) {
        if (p[i] >= 0x01 && p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, len - i, &skip);
        if (k > 0) {
            i += k;
            continue;
        }
        buf_append(b, s + start, i - start);
        buf_append(b, replacement, 3);
        n++;
        i += skip;
        start = i;
    }
    buf_append(b, s + start, len - start);
    return n;
}

char *store_utf8_clean(const char *s, size_t len, size_t *replaced)
{
    struct buf b = BUF_INIT;
    size_t n = clean_into(&b, s, len);
    if (replaced)
        *replaced = n;
    return buf_steal(&b);
}

size_t store_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

size_t store_copy_text(struct buf *b, const char *s, size_t len)
{
    if (store_utf8_valid(s, len)) {
        pg_copy_escape(b, s, len);
        return 0;
    }
    struct buf c = BUF_INIT;
    size_t n = clean_into(&c, s, len);
    pg_copy_escape(b, c.data ? c.data : "", c.len);
    buf_free(&c);
    return n;
}

size_t store_copy_str(struct buf *b, const char *s)
{
    if (s == NULL) {
        buf_append(b, "\\N", 2);
        return 0;
    }
    return store_copy_text(b, s, strlen(s));
}

size_t store_copy_str_clip(struct buf *b, const char *s, size_t max_chars)
{
    if (s == NULL) {
        buf_append(b, "\\N", 2);
        return 0;
    }
    size_t n = 0;
    char *c = store_utf8_clean(s, strlen(s), &n);
    size_t len = strlen(c), chars = 0, i = 0;
    while (i < len) {
        if (((unsigned char)c[i] & 0xC0) != 0x80) {
            if (chars == max_chars)
                break;
            chars++;
        }
        i++;
    }
    pg_copy_escape(b, c, i);
    free(c);
    return n;
}

size_t store_copy_array(struct buf *b, const char *const *items, size_t n)
{
    struct buf lit = BUF_INIT;
    size_t rep = 0;
    bool first = true;
    buf_putc(&lit, '{');
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL)
            continue;
        if (!first)
            buf_putc(&lit, ',');
        first = false;
        size_t r = 0;
        char *c = store_utf8_clean(items[i], strlen(items[i]), &r);
        rep += r;
        buf_putc(&lit, '"');
        for (const char *p = c; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_putc(&lit, '\\');
            buf_putc(&lit, *p);
        }
        buf_putc(&lit, '"');
        free(c);
    }
    buf_putc(&lit, '}');
    pg_copy_escape(b, lit.data, lit.len);
    buf_free(&lit);
    return rep;
}

void store_time_format(int64_t us, char out[40])
{
    int64_t sec = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)frac);
    snprintf(out, 40, "%.39s", tmp);
}

/* --- folding rows by time ----------------------------------------------- */

/* True if v[0..n) looks like "YYYY-MM-DD HH:MM:SS.ffffff+00", so that two
 * such values compare as times when compared as bytes. */
static bool time_literal(const char *v, size_t n)
{
    static const char shape[] = "dddd-dd-dd dd:dd:dd.dddddd+00";
    if (n != sizeof shape - 1)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (shape[i] == 'd' ? (v[i] < '0' || v[i] > '9') : v[i] != shape[i])
            return false;
    }
    return true;
}

struct fold_row {
    const char *key; /* the row up to its last tab (excluded) */
    size_t klen;
    const char *lo, *hi; /* earliest and latest time (29 bytes each) */
    uint64_t hash;
};

size_t store_copy_fold_times(struct buf *out, const char *in, size_t len)
{
    size_t cap = 64, n = 0, dropped = 0;
    while (cap < 2 * (len / 48 + 1))
        cap *= 2;
    size_t *slot = xcalloc(cap, sizeof *slot); /* index + 1, 0 = empty */
    struct fold_row *rows = xmalloc(cap / 2 * sizeof *rows);
    size_t off = 0;
    while (off < len) {
        const char *line = in + off;
        const char *nl = memchr(line, '\n', len - off);
        if (nl == NULL) {
            buf_append(out, line, len - off); /* unterminated: as it is */
            break;
        }
        size_t llen = (size_t)(nl - line);
        off += llen + 1;
        const char *tab = NULL;
        for (size_t i = llen; i > 0; i--)
            if (line[i - 1] == '\t') {
                tab = line + i - 1;
                break;
            }
        const char *t = tab ? tab + 1 : NULL;
        if (t == NULL || !time_literal(t, (size_t)(nl - t)) ||
            n + 1 > cap / 2) {
            buf_append(out, line, llen + 1);
            continue;
        }
        size_t klen = (size_t)(tab - line);
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (size_t i = 0; i < klen; i++)
            h = (h ^ (unsigned char)line[i]) * 1099511628211ull;
        size_t i = (size_t)(h & (cap - 1));
        for (; slot[i]; i = (i + 1) & (cap - 1)) {
            struct fold_row *r = &rows[slot[i] - 1];
            if (r->hash == h && r->klen == klen &&
                memcmp(r->key, line, klen) == 0)
                break;
        }
        if (slot[i] == 0) {
            rows[n] = (struct fold_row){line, klen, t, t, h};
            slot[i] = ++n;
            continue;
        }
        struct fold_row *r = &rows[slot[i] - 1];
        if (memcmp(t, r->lo, 29) < 0)
            r->lo = t;
        if (memcmp(t, r->hi, 29) > 0)
            r->hi = t;
        dropped++;
    }
    size_t kept = 0;
    for (size_t k = 0; k < n; k++) {
        struct fold_row *r = &rows[k];
        buf_append(out, r->key, r->klen + 1); /* with its tab */
        buf_append(out, r->lo, 29);
        buf_append(out, "\n", 1);
        kept++;
        if (memcmp(r->lo, r->hi, 29) != 0) {
            buf_append(out, r->key, r->klen + 1);
            buf_append(out, r->hi, 29);
            buf_append(out, "\n", 1);
            kept++;
        }
    }
    dropped = dropped + n - kept; /* folded rows in, minus rows out */
    free(slot);
    free(rows);
    return dropped;
}

/* --- batch files --------------------------------------------------------- */

/* Appends s with newlines and carriage returns turned into spaces (a
 * header value is one line). */
static void put_line_value(struct buf *b, const char *s)
{
    for (; *s; s++)
        buf_putc(b, *s == '\n' || *s == '\r' ? ' ' : *s);
}

void store_file_header(struct buf *b, const char *id, const char *kind,
                       long long rows, const char *error)
{
    buf_puts(b, STORE_FILE_MAGIC "\nid ");
    put_line_value(b, id);
    buf_puts(b, "\nkind ");
    put_line_value(b, kind);
    buf_printf(b, "\nrows %lld\n", rows);
    if (error && *error) {
        buf_puts(b, "error ");
        put_line_value(b, error);
        buf_putc(b, '\n');
    }
}

void store_file_section(struct buf *b, const char *stage, const char *data,
                        size_t len)
{
    if (len == 0)
        return;
    buf_printf(b, "section %s %zu\n", stage, len);
    buf_append(b, data, len);
}

void store_file_end(struct buf *b)
{
    buf_puts(b, "end\n");
}

static bool ferr(struct parse_err *err, const char *msg)
{
    err->code = 1;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
    return false;
}

/* Reads the next line at *pos into line (without the newline); false at
 * the end of data or when the line does not fit. */
static bool next_line(const char *data, size_t len, size_t *pos, char *line,
                      size_t cap)
{
    const char *nl = memchr(data + *pos, '\n', len - *pos);
    if (nl == NULL)
        return false;
    size_t n = (size_t)(nl - (data + *pos));
    if (n >= cap)
        return false;
    memcpy(line, data + *pos, n);
    line[n] = '\0';
    *pos += n + 1;
    return true;
}

/* Copies the value after "key " into out if line starts with it and
 * the value fits. */
static bool keyval(const char *line, const char *key, char *out, size_t cap)
{
    size_t k = strlen(key);
    if (strncmp(line, key, k) != 0 || line[k] != ' ')
        return false;
    size_t n = strlen(line + k + 1);
    if (n >= cap)
        return false; /* never written by us: refuse rather than cut */
    memcpy(out, line + k + 1, n + 1);
    return true;
}

bool store_file_parse(const char *data, size_t len, struct store_file *f,
                      struct parse_err *err)
{
    memset(f, 0, sizeof *f);
    memset(err, 0, sizeof *err);
    char line[1024];
    size_t pos = 0;
    if (!next_line(data, len, &pos, line, sizeof line) ||
        strcmp(line, STORE_FILE_MAGIC) != 0)
        return ferr(err, "not a batch file");
    char rows[32] = "";
    if (!next_line(data, len, &pos, line, sizeof line) ||
        !keyval(line, "id", f->id, sizeof f->id) || f->id[0] == '\0')
        return ferr(err, "missing id");
    if (!next_line(data, len, &pos, line, sizeof line) ||
        !keyval(line, "kind", f->kind, sizeof f->kind))
        return ferr(err, "missing kind");
    if (!next_line(data, len, &pos, line, sizeof line) ||
        !keyval(line, "rows", rows, sizeof rows))
        return ferr(err, "missing rows");
    char *end;
    f->rows = strtoll(rows, &end, 10);
    if (*end != '\0' || end == rows || f->rows < 0)
        return ferr(err, "bad rows");
    for (;;) {
        if (!next_line(data, len, &pos, line, sizeof line))
            return ferr(err, "truncated file");
        if (strcmp(line, "end") == 0)
            break;
        if (keyval(line, "error", f->error, sizeof f->error))
            continue;
        char name[64];
        unsigned long long n;
        char extra;
        if (sscanf(line, "section %63s %llu%c", name, &n, &extra) != 2 ||
            strlen(name) >= sizeof f->sec[0].name)
            return ferr(err, "bad section line");
        if (f->nsec == STORE_FILE_MAX_SECTIONS)
            return ferr(err, "too many sections");
        if (n == 0 || n > len - pos)
            return ferr(err, "section longer than the file");
        struct store_file_section *s = &f->sec[f->nsec++];
        memcpy(s->name, name, strlen(name) + 1);
        s->data = data + pos;
        s->len = (size_t)n;
        pos += (size_t)n;
    }
    if (pos != len)
        return ferr(err, "data after end");
    return true;
}
