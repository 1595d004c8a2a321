/*
 * The monotonic clock in the units the program counts in. Deadlines,
 * durations and rates use it; wall-clock time (for storage) comes from the
 * database or time(3).
 */
#ifndef XC_CLOCK_H
#define XC_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC (arbitrary origin, never goes back). */
int64_t clock_now_ms(void);

#endif
