/*
 * Logging sink: one line per message, "TIME LEVEL [tag] message".
 */
#include "log.h"

#include <string.h>
#include <time.h>

enum log_level log_max_level = LOG_INFO;
static FILE *log_stream;

static const char *const level_names[] = {
    [LOG_ERROR] = "error",
    [LOG_WARN] = "warn",
    [LOG_INFO] = "info",
    [LOG_DEBUG] = "debug",
};
_Static_assert(ARRAY_LEN(level_names) == LOG__COUNT, "names table");

bool log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

const char *log_level_name(enum log_level l)
{
    return (unsigned)l < LOG__COUNT ? level_names[l] : "?";
}

void log_set_stream(FILE *f)
{
    log_stream = f;
}

void log_vwrite(enum log_level l, const char *tag, const char *fmt, va_list ap)
{
    FILE *f = log_stream ? log_stream : stderr;
    struct timespec ts;
    struct tm tm;
    char when[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f, "%s.%03ldZ %s ", when, ts.tv_nsec / 1000000L, log_level_name(l));
    if (tag)
        fprintf(f, "[%s] ", tag);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
}

void log_write(enum log_level l, const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(l, tag, fmt, ap);
    va_end(ap);
}
