/*
 * Static files of the dashboard (serve.static_dir). The request path is
 * decoded strictly and refused (400) when it could mean something other
 * than a plain file below the directory: an encoded '.', '/' or '\', a
 * NUL or other control byte, an empty, "." or ".." segment (so "//" and
 * "/../" too), or a hidden name. The file found is resolved with
 * realpath() and must still lie inside the directory's own realpath, so a
 * symbolic link pointing out of it is refused (404) as if absent; only
 * regular files are served, with a content type fixed by the extension.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "srv_int.h"
#include "xalloc.h"

#define STATIC_FILE_MAX (64 * 1024 * 1024)
#define STATIC_PATH_MAX 1024

struct ctype {
    const char *ext;
    const char *type;
};

static const struct ctype ctypes[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/plain; charset=utf-8"},
};

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < ARRAY_LEN(ctypes); i++)
            if (strcasecmp(dot, ctypes[i].ext) == 0)
                return ctypes[i].type;
    return "application/octet-stream";
}

/* Resolves the static directory once. */
void srv_static_init(struct srv *s)
{
    s->static_root = NULL;
    if (!s->o.static_dir)
        return;
    char *rp = realpath(s->o.static_dir, NULL);
    struct stat st;
    if (!rp || stat(rp, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_warn("serve: static directory %s: %s; serving no static files",
                 s->o.static_dir, rp ? "not a directory" : strerror(errno));
        free(rp);
        return;
    }
    s->static_root = rp;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes raw into out (cap bytes) and checks every segment; false when
 * the path is refused. A trailing '/' names the directory's index.html. */
static bool clean_path(const char *raw, char *out, size_t cap)
{
    size_t o = 0;
    if (raw[0] != '/')
        return false;
    for (const char *p = raw + 1; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (unsigned char)(hi * 16 + lo);
            /* an encoded separator or dot is never needed for our files */
            if (c == '.' || c == '/' || c == '\\')
                return false;
            p += 2;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
        if (o + 1 >= cap)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (o == 0 || out[o - 1] == '/') {
        static const char idx[] = "index.html";
        if (o + sizeof idx > cap)
            return false;
        memcpy(out + o, idx, sizeof idx);
    }
    /* segments: none empty, none starting with '.' */
    const char *seg = out;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0 || seg[0] == '.')
            return false;
        if (!end)
            break;
        seg = end + 1;
    }
    return true;
}

/* GET/HEAD of a file below the static root. */
void srv_static(struct srv *s, struct evhttp_request *req, int64_t t0_us,
                const char *raw_path, bool head)
{
    char rel[STATIC_PATH_MAX];
    if (!clean_path(raw_path, rel, sizeof rel)) {
        srv_reply_error(s, req, SRV_C_STATIC, t0_us, 400, "bad path");
        return;
    }
    if (!s->static_root) {
        srv_reply_error(s, req, SRV_C_STATIC, t0_us, 404, "no such file");
        return;
    }
    char *full = xasprintf("%s/%s", s->static_root, rel);
    char *rp = realpath(full, NULL);
    free(full);
    size_t rl = strlen(s->static_root);
    if (!rp || strncmp(rp, s->static_root, rl) != 0 || rp[rl] != '/') {
        free(rp);
        srv_reply_error(s, req, SRV_C_STATIC, t0_us, 404, "no such file");
        return;
    }
    int fd = open(rp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > STATIC_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        free(rp);
        srv_reply_error(s, req, SRV_C_STATIC, t0_us, 404, "no such file");
        return;
    }
    const char *ctype = content_type(rp);
    const char *cache = strcmp(ctype, "text/html; charset=utf-8") == 0
                            ? "no-cache"
                            : "public, max-age=300";
    struct evbuffer *out = evbuffer_new();
    if (st.st_size > 0)
        evbuffer_add_file(out, fd, 0, st.st_size); /* takes fd */
    else
        close(fd);
    free(rp);
    srv_send(s, req, SRV_C_STATIC, t0_us, 200, ctype, cache, out);
    evbuffer_free(out);
    (void)head;
}
