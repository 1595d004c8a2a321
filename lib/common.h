/*
 * Small macros every module uses. No functions, no state.
 */
#ifndef XC_COMMON_H
#define XC_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN __attribute__((noreturn))
#define XC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define XC_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Soft error of a parser of untrusted input: the caller decides whether it
 * is fatal or just an outcome (PostgreSQL's errsave style). */
struct parse_err {
    int code;      /* module-specific, 0 = no error */
    int line;      /* 1-based position of the error where known, else 0 */
    int column;
    char msg[160]; /* lower case, no trailing period */
};

/* Aborts with a message: an impossible state, never remote input. */
NORETURN void die_bug(const char *file, int line, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
#define DIE_BUG(...) die_bug(__FILE__, __LINE__, __VA_ARGS__)
#define ASSERT(c)                                                              \
    do {                                                                       \
        if (!(c))                                                              \
            die_bug(__FILE__, __LINE__, "assertion failed: %s", #c);           \
    } while (0)

#endif
