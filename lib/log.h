/*
 * Logging: levels, one sink (stderr or a file), an optional per-object
 * prefix. Messages follow PostgreSQL's style: lower case, no trailing
 * period. The level is checked before the arguments are evaluated.
 */
#ifndef XC_LOG_H
#define XC_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "common.h"

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG__COUNT };

extern enum log_level log_max_level; /* messages above it are dropped */

/* Parses "error", "warn", "info", "debug"; false if unrecognized. */
bool log_level_parse(const char *s, enum log_level *out) MUST_CHECK;
const char *log_level_name(enum log_level l);
/* Sends log lines to f (default stderr); f is borrowed. */
void log_set_stream(FILE *f);
void log_write(enum log_level l, const char *tag, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
void log_vwrite(enum log_level l, const char *tag, const char *fmt,
                va_list ap) PRINTF_LIKE(3, 0);

#define LOG_AT(lvl, tag, ...)                                                  \
    do {                                                                       \
        if ((lvl) <= log_max_level)                                            \
            log_write((lvl), (tag), __VA_ARGS__);                              \
    } while (0)
#define log_error(...) LOG_AT(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, NULL, __VA_ARGS__)

#endif
